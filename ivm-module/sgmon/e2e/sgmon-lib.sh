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
    grep -E '^SGMON (EVENT|LATCH|KILL|HOLD|FOREIGN|OUTSIDE|BAD|MONITOR|MONITOR-DISABLE|RING-DISABLE|DONE|ERROR)' "$log" | tail -n 60 || true
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
