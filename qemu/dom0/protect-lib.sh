# dom0 helpers for the protect-* scenarios (and scripts/demo): semguard.ko protecting the
# guest-stub programs notesd and cmdgate (and lineage, for the lineage-* scenarios) with their
# hand-written policies. The host side calls protect_payload; the dom0 side sources
# "$PAYLOAD/bin/protect-lib.sh" after scenario-lib.sh.
#
#   protect_payload [POLICY...]     (host) guest, semguard.ko, policies (notesd, cmdgate, lineage
#                                   and the POLICYs named: guest-stub/policies/POLICY.sgi, with
#                                   POLICY.compile, what `semguard policy compile` said), the
#                                   semguard tool
#   sg_load PROG MODE [POLICY] [PARAM=V…]  insmod semguard.ko for PROG in domain $D
#                                   (enforce|audit) with policies/POLICY.sgp (default PROG.sgp)
#                                   and more module parameters (e.g. fail=open)
#   sg_unload                       rmmod; fails unless it is gone
#   sg_counter NAME                 /sys/module/semguard/counters/NAME
#   sg_alerts PROG                  `semguard alerts --json --policy PROG.sgp` (one JSON a line)
#   sg_show PROG                    the alerts as a table and `semguard status`, for the log
#   guest_count NAME ERE            how many console lines of domU NAME match ERE
#   guest_wait_count NAME ERE N SECS  waits until at least N lines match (fails the phase if not)

protect_payload() {
    local p
    payload_guest
    payload_add "$(artefact module "$SEMGUARD_ROOT/ivm-module/semguard-ko")" modules/semguard.ko
    payload_add "$(artefact policies)/semguard" bin/semguard
    payload_add "$SEMGUARD_ROOT/qemu/dom0/protect-lib.sh" bin/protect-lib.sh
    for p in notesd cmdgate lineage "$@"; do
        payload_add "$(artefact policies)/$p.sgp" policies/$p.sgp
        payload_add "$(artefact policies)/$p.sgi" policies/$p.sgi
        payload_add "$(artefact policies)/$p.compile" policies/$p.compile
    done
}

sg_load() {
    local prog=$1 mode=$2 policy=$1
    shift 2
    # A policy name has no '='; what follows are module parameters.
    if [ $# -gt 0 ] && [ "${1#*=}" = "$1" ]; then
        policy=$1
        shift
    fi
    mkdir -p /lib/firmware/semguard
    cp "$PAYLOAD/policies/$policy.sgp" /lib/firmware/semguard/
    dmesg -C
    insmod "$PAYLOAD/modules/semguard.ko" domid="$D" process="$prog" policy="semguard/$policy.sgp" mode="$mode" "$@"
    dmesg | grep 'semguard' | sed 's/^/kmsg| /'
    dmesg | grep -q "semguard: monitoring domain $D\$" || fail "no 'monitoring domain $D' line after insmod"
}

sg_unload() {
    rmmod semguard
    ! grep -q '^semguard ' /proc/modules || fail "semguard still loaded after rmmod"
}

sg_counter() { cat "/sys/module/semguard/counters/$1"; }

sg_alerts() { "$PAYLOAD/bin/semguard" alerts --json --policy "$PAYLOAD/policies/$1.sgp"; }

sg_show() {
    "$PAYLOAD/bin/semguard" alerts --policy "$PAYLOAD/policies/$1.sgp" | sed 's/^/alerts| /'
    "$PAYLOAD/bin/semguard" status | sed 's/^/status| /'
}

guest_count() { tr -d '\r' < "$(guest_log "$1")" | grep -cE -- "$2" || true; }

guest_wait_count() {
    local name=$1 ere=$2 n=$3 secs=$4 t=0
    while [ "$(guest_count "$name" "$ere")" -lt "$n" ]; do
        [ "$t" -lt "$secs" ] || fail "fewer than $n lines '$ere' from $name within ${secs}s"
        sleep 1
        t=$((t + 1))
    done
}
