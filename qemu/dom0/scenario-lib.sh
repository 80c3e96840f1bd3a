# Helpers for the dom0 side of a scenario (the `dom0` function in qemu/scenarios/NAME).
# scripts/e2e copies this file into the payload; dom0's init runs /payload/scenario.sh, which
# sources it, sources the scenario file and calls `dom0`. Runs under bash with errexit: a
# failing command ends the scenario with a fail marker for the current phase.
#
#   phase NAME             starts a phase (markers name it)
#   ok [KEY=VALUE...]      SEMGUARD-MARK phase=NAME status=ok KEY=VALUE...
#   fail REASON            SEMGUARD-MARK phase=NAME status=fail reason=REASON; exits
#   wait_until SECS CMD... polls CMD every second until it succeeds (1 if SECS pass)
#   guest_start NAME GUEST_SCENARIO [MEMORY_MB] [VCPUS]   xl create a PV domU from the payload's
#                          guest/bzImage + guest/initrd.img running guest-stub's GUEST_SCENARIO,
#                          with VCPUS virtual CPUs (default 4, so that every scenario runs P on
#                          a multi-vCPU guest, as a user's guest would; Xen has 2 CPUs in qemu/run);
#                          GUEST_ON_POWEROFF=preserve keeps it shut down after a power-off
#                          (default destroy)
#   guest_wait NAME ERE [SECS]  waits for a line of the domU's console matching ERE (fails
#                          the phase after SECS, default 120); prints it
#   guest_send NAME LINE   writes LINE to the domU's console (guest-stub's `await LINE`)
#   guest_show NAME        prints the domU's console so far, each line prefixed "guest|NAME| "
#   guest_destroy NAME     xl destroy and wait until the domain is gone
# Files: the payload is $PAYLOAD (/payload); guest consoles are
# $CONSOLE_LOGS/guest-NAME.log (xenconsoled --log=guest).

set -eE -o pipefail
: "${PAYLOAD:=/payload}" "${CONSOLE_LOGS:=/var/log/xen/console}"
PHASE=start

mark() { echo "SEMGUARD-MARK phase=$1 status=$2 t=$(cut -d' ' -f1 /proc/uptime)${3:+ $3}"; }
phase() { PHASE=$1; echo "--- phase $PHASE"; }
ok() { mark "$PHASE" ok "$*"; }
fail() {
    trap - ERR
    local log
    for log in "$CONSOLE_LOGS"/guest-*.log; do # what the domUs said last, for the driver's log tail
        [ -f "$log" ] || continue
        echo "--- last lines of $(basename "$log"):"
        tail -n 30 "$log" | tr -d '\r'
    done
    mark "$PHASE" fail "reason=$(printf '%s' "$*" | tr ' ' '_')"
    exit 1
}
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

wait_until() {
    local secs=$1 i=0; shift
    until "$@"; do
        i=$((i + 1))
        [ "$i" -lt "$secs" ] || return 1
        sleep 1
    done
}

guest_log() { echo "$CONSOLE_LOGS/guest-$1.log"; }
guest_domid() { xl domid "$1" 2>/dev/null; }

guest_start() {
    local name=$1 scenario=$2 mem=${3:-128} vcpus=${4:-4}
    local cfg="/tmp/$name.cfg"
    [ -f "$PAYLOAD/guest/bzImage" ] && [ -f "$PAYLOAD/guest/initrd.img" ] ||
        fail "payload has no guest/bzImage + guest/initrd.img (payload_guest on the host side)"
    cat > "$cfg" <<CFG
name = "$name"
type = "pv"
memory = $mem
vcpus = $vcpus
kernel = "$PAYLOAD/guest/bzImage"
ramdisk = "$PAYLOAD/guest/initrd.img"
extra = "console=hvc0 semguard.guest=$scenario"
on_poweroff = "${GUEST_ON_POWEROFF:-destroy}"
on_reboot = "destroy"
on_crash = "destroy"
CFG
    timeout 120 xl create "$cfg" || fail "xl create $name failed"
    echo "domU $name is domain $(guest_domid "$name") ($vcpus vCPU$([ "$vcpus" = 1 ] || echo s))"
}

guest_wait() {
    local name=$1 ere=$2 secs=${3:-120} log
    log=$(guest_log "$name")
    wait_until "$secs" grep -qaE -- "$ere" "$log" 2>/dev/null || fail "no '$ere' from $name within ${secs}s"
    echo "guest|$name| $(grep -aE -m1 -- "$ere" "$log" | tr -d '\r')"
}

guest_send() {
    local name=$1 line=$2 domid tty
    domid=$(guest_domid "$name") || fail "no domain $name"
    tty=$(timeout 10 xenstore-read "/local/domain/$domid/console/tty")
    printf '%s\n' "$line" > "$tty"
}

guest_show() {
    local log
    log=$(guest_log "$1")
    [ -f "$log" ] && tr -d '\r' < "$log" | sed "s/^/guest|$1| /" || echo "guest|$1| (no console log)"
}

guest_destroy() {
    local name=$1
    if guest_domid "$name" >/dev/null; then
        timeout 60 xl destroy "$name"
    fi
    wait_until 30 sh -c "! xl domid '$name' >/dev/null 2>&1"
}
