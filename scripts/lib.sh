# Shared helpers for semguard's build and test scripts. Source it; do not run it.
#
# Conventions:
# - Every heavy artefact lives under $SEMGUARD_CACHE/<name>-<hash>/ where <hash> covers all of
#   its inputs (files in this repo, versions, the hashes of artefacts it is built from). A
#   directory is only valid once it contains the file `.done`; builds happen in a temporary
#   sibling and are renamed into place, so an interrupted build never looks finished.
# - `step NAME` / `step_done` print progress with wall time per step.
# - SEMGUARD_REBUILD=1 (or a list of artefact names, e.g. "kernel xen") forces rebuilds.

set -euo pipefail

SEMGUARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${SEMGUARD_CACHE:=/var/cache/semguard}"
: "${SEMGUARD_LOGS:=$SEMGUARD_CACHE/logs}"
export SEMGUARD_ROOT SEMGUARD_CACHE SEMGUARD_LOGS
mkdir -p "$SEMGUARD_CACHE" "$SEMGUARD_LOGS"

# Pinned versions (one place).
XEN_DEB_VERSION="4.17.5+72-g01140da4e8-1"   # source package, bookworm main
XEN_UTILS_VERSION="4.17.5+72-g01140da4e8-1" # toolstack in dom0 must match the hypervisor
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

_step_name=""
_step_start=0
log() { printf '[semguard %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
step() {
    _step_name="$1"
    _step_start=$(date +%s)
    log "==> $_step_name"
}
step_done() {
    log "<== $_step_name done in $(( $(date +%s) - _step_start ))s"
}

# hash_inputs ARG... — stable hash of files (content + relative path), directories
# (recursively, sorted) and literal strings prefixed with "str:".
hash_inputs() {
    local a
    for a in "$@"; do
        case "$a" in
            str:*) printf 'str %s\n' "${a#str:}" ;;
            *)
                if [ -d "$a" ]; then
                    (cd "$a" && find . -type f -not -path '*/target/*' -print0 | LC_ALL=C sort -z |
                        xargs -0 -r sha256sum) | sed "s|  \./|  $(basename "$a")/|"
                elif [ -f "$a" ]; then
                    printf '%s  %s\n' "$(sha256sum < "$a" | cut -d' ' -f1)" "$(basename "$a")"
                else
                    die "hash_inputs: no such input: $a"
                fi ;;
        esac
    done | sha256sum | cut -c1-16
}

# wants_rebuild NAME — true if the user asked to rebuild artefact NAME.
wants_rebuild() {
    case " ${SEMGUARD_REBUILD:-} " in
        *" 1 "*|*" all "*|*" $1 "*) return 0 ;;
    esac
    return 1
}

# cached NAME HASH — prints the artefact directory; returns 0 if it is complete and no rebuild
# was requested.
cached() {
    local dir="$SEMGUARD_CACHE/$1-$2"
    echo "$dir"
    [ -f "$dir/.done" ] && ! wants_rebuild "$1"
}

# begin_build DIR — prepares DIR.tmp for a fresh build and prints it.
begin_build() {
    remove_tree "$1.tmp"
    mkdir -p "$1.tmp"
    echo "$1.tmp"
}

# finish_build DIR — marks DIR.tmp complete and moves it into place.
finish_build() {
    date -u +%FT%TZ > "$1.tmp/.done"
    remove_tree "$1"
    mv "$1.tmp" "$1"
}

# remove_tree DIR — rm -rf, but refuses if anything is mounted at or below DIR (a chroot with
# a bind mount of the repository or /dev must never be deleted through it).
remove_tree() {
    [ -e "$1" ] || return 0
    local abs; abs="$(realpath -m "$1")"
    if awk -v d="$abs" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' \
        /proc/self/mountinfo; then
        die "refusing to delete $abs: something is mounted below it"
    fi
    rm -rf --one-file-system "$abs"
}

# lock_artefact NAME — takes an exclusive lock for building artefact NAME, held until the
# calling script exits; waits (saying so) while another script holds it. Callers check the
# cache again after taking it: the other script may just have built the same thing.
lock_artefact() {
    mkdir -p "$SEMGUARD_CACHE/.locks"
    local fd
    exec {fd}>"$SEMGUARD_CACHE/.locks/$1.lock"
    if ! flock -n "$fd"; then
        log "waiting for another build of $1 to finish"
        flock "$fd"
    fi
}

# run_logged LOG CMD... — runs CMD with its output in LOG and, for long builds, says once a
# minute that it is still going (with the log's last line). On failure shows the log's tail;
# returns CMD's status.
run_logged() {
    local logf="$1"; shift
    "$@" > "$logf" 2>&1 &
    local pid=$! rc=0 start=$SECONDS next=60
    while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        if (( SECONDS - start >= next )); then
            log "  ... $(( SECONDS - start ))s: $(tail -n1 "$logf" | cut -c1-110)"
            next=$(( next + 60 ))
        fi
    done
    wait "$pid" || rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 40 "$logf" >&2
        log "failed (status $rc); full log: $logf"
    fi
    return "$rc"
}

# need_host_pkgs PKG... — apt-get install the missing ones (bookworm host).
need_host_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing host packages: ${missing[*]}"
    if [ ! -f /var/lib/apt/lists/.semguard-updated ] || [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ]; then
        apt-get update -qq && touch /var/lib/apt/lists/.semguard-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# private_apt DIR SUITE [deb-src] — apt-get with a private sources list for SUITE, state in
# DIR. The host's /etc/apt stays bookworm-only. Usage: private_apt DIR trixie -- download foo
private_apt() {
    local dir="$1" suite="$2"; shift 2
    local types="deb"
    if [ "${1:-}" = "deb-src" ]; then types="deb deb-src"; shift; fi
    [ "${1:-}" = "--" ] && shift
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    local t
    : > "$dir/sources.list"
    for t in $types; do
        echo "$t [trusted=yes] $DEBIAN_MIRROR $suite main" >> "$dir/sources.list"
    done
    # Dir::Cache keeps apt's binary package caches private too: otherwise they would be written
    # to the host's /var/cache/apt with this suite's contents.
    apt-get -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
        -o Dir::Cache::archives="$dir/cache/archives" \
        -o APT::Get::List-Cleanup=0 "$@"
}

# private_apt_ready DIR SUITE [deb-src] — runs `update` for that private configuration unless
# its lists are already there (versions are pinned, so old lists are fine).
private_apt_ready() {
    if ! ls "$1"/lists/*_InRelease >/dev/null 2>&1 ||
       { [ "${3:-}" = deb-src ] && ! ls "$1"/lists/*_source_Sources* >/dev/null 2>&1; }; then
        private_apt "$@" -- update -qq >&2
    fi
}
