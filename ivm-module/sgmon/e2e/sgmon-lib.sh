# dom0 helpers for the syscall-* scenarios (qemu/scenarios/syscall-*): run sgmon, read its
# output. The host side adds this file and the binary with `sgmon_payload`; the dom0 side
# sources "$PAYLOAD/bin/sgmon-lib.sh" (after scenario-lib.sh, whose phase/ok/fail it uses).
#
#   sg_start LOG ARGS...   sgmon ARGS in the background (pid in SGPID), output to LOG; waits
#                          for its READY line, fails the phase on an ERROR line or timeout
#   sg_stop LOG            SIGTERM, waits for it (fails unless it exits 0), shows its last lines
#   sg_done LOG KEY        value of KEY= in the DONE line
#   sg_events LOG          the EVENT lines as "entry nr name", one a line
#   sg_expect LOG LINE...  fails the phase unless sg_events LOG is exactly LINE... in order
#   sg_guest_rc NAME PROG  exit status init reported for PROG's last run in domU NAME
#   sg_int80, sg_ia32 WORD the two phases of syscall-abis (also run by syscall-sysenter), on
#                          domU "sg" (domain $D) running guest-stub's syscall-abis scenario
# Programs inside the guest announce themselves with the marker call sched_yield(0x5347)
# (sgmon --latch 24:0x5347, or --latch32 158:0x5347 for 32-bit ones).

SGMON=$PAYLOAD/bin/sgmon
SG_LATCH="--latch 24:0x5347"
SG_LATCH32="--latch32 158:0x5347"

sg_start() {
    local log=$1; shift
    "$SGMON" "$@" > "$log" 2>&1 &
    SGPID=$!
    wait_until 60 grep -qE '^SGMON (READY|ERROR)' "$log" || { cat "$log"; fail "sgmon $* not ready"; }
    if grep -q '^SGMON ERROR' "$log"; then
        cat "$log"
        fail "sgmon: $(grep -m1 '^SGMON ERROR' "$log" | cut -d' ' -f3-)"
    fi
    grep '^SGMON READY' "$log"
}

sg_stop() {
    local log=$1 rc=0
    kill -TERM "$SGPID"
    wait "$SGPID" || rc=$?
    grep -E '^SGMON (POLICY|EVENT|VERDICT|LATCH|KILL|HOLD|FOREIGN|OUTSIDE|BAD|MONITOR|MONITOR-DISABLE|RING-DISABLE|DONE|ERROR)' "$log" | tail -n 60 || true
    [ "$rc" = 0 ] || fail "sgmon exited with status $rc"
}

sg_done() {
    sed -n "s/^SGMON DONE .*\\<$2=\\([^ ]*\\).*/\\1/p" "$1"
}

sg_events() {
    sed -n 's/^SGMON EVENT .* entry=\([a-z0-9]*\) nr=\([0-9]*\) name=\([^ ]*\) .*/\1 \2 \3/p' "$1"
}

sg_expect() {
    local log=$1 got want; shift
    got=$(sg_events "$log")
    want=$(printf '%s\n' "$@")
    if [ "$got" != "$want" ]; then
        echo "--- expected events:"; echo "$want"
        echo "--- sgmon saw:"; grep -E '^SGMON (EVENT|LATCH|FOREIGN|OUTSIDE)' "$log" || true
        fail "event sequence differs"
    fi
}

sg_guest_rc() {
    grep -a "SEMGUARD-GUEST phase=$2 rc=" "$(guest_log "$1")" | tail -n1 | sed 's/.* rc=\([0-9]*\).*/\1/'
}

# int80x64 3 5 after `guest_send sg a`: int $0x80 from 64-bit code.
sg_int80() {
    local log=/tmp/int80.log
    sg_start $log "$D" $SG_LATCH --nr32 64,4,252 watch
    guest_send sg a
    guest_wait sg 'SEMGUARD-GUEST phase=int80x64 rc=' 240
    sg_stop $log
    [ "$(sg_guest_rc sg int80x64)" = 5 ] || fail "int80x64 exited $(sg_guest_rc sg int80x64), expected 5"
    guest_wait sg 'SEMGUARD-PROG name=int80x64 n=3 .*status=ok' 5
    sg_expect $log "int80 64 getppid" "int80 64 getppid" "int80 64 getppid" "int80 4 write" "int80 252 exit_group"
    grep -q '^SGMON EVENT .* name=exit_group args=0x5,' $log || fail "exit_group status is not 5"
    [ "$(sg_done $log events)/$(sg_done $log foreign)/$(sg_done $log outside)" = 5/0/0 ] || fail "DONE line: $(grep '^SGMON DONE' $log)"
    ok "int80=$(sg_done $log int80) status=5"
}

# sg_ia32 WORD — sysseq32 3 6 after `guest_send sg WORD`; the vDSO's entry follows the vendor.
sg_ia32() {
    local log=/tmp/ia32.log fast vendor
    vendor=$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -n1)
    case "$vendor" in
        AuthenticAMD) fast=cstar ;;
        GenuineIntel) fast=sysenter ;;
        *) fail "unexpected CPU vendor '$vendor'" ;;
    esac
    sg_start $log "$D" $SG_LATCH32 --nr32 64,4,252 watch
    guest_send sg "$1"
    guest_wait sg 'SEMGUARD-GUEST phase=sysseq32 rc=' 240
    sg_stop $log
    [ "$(sg_guest_rc sg sysseq32)" = 6 ] || fail "sysseq32 exited $(sg_guest_rc sg sysseq32), expected 6"
    guest_wait sg 'SEMGUARD-PROG name=sysseq32 n=3 .*status=ok' 5
    sg_expect $log "$fast 64 getppid" "$fast 64 getppid" "$fast 64 getppid" \
        "int80 64 getppid" "int80 64 getppid" "int80 64 getppid" "$fast 4 write" "$fast 252 exit_group"
    grep -q '^SGMON EVENT .* name=exit_group args=0x6,' $log || fail "exit_group status is not 6"
    if [ "$fast" = sysenter ]; then
        # SYSENTER saves no return address: Xen reports rip = rsp = 0.
        ! grep "^SGMON EVENT .* entry=sysenter " $log | grep -v ' rip=0x0 rsp=0x0 ' || fail "sysenter event with a rip"
    fi
    [ "$(sg_done $log events)/$(sg_done $log foreign)/$(sg_done $log outside)" = 8/0/0 ] || fail "DONE line: $(grep '^SGMON DONE' $log)"
    ok "vendor=$vendor $fast=$(sg_done $log $fast) int80=$(sg_done $log int80) status=6"
}
