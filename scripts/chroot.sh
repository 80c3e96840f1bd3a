# Runs commands inside the trixie toolchain chroot. Source it (after lib.sh); do not run it.
#
#   chroot_run ROOT CMD [ARG...]
#
# The command sees /proc, /dev, and $SEMGUARD_ROOT and $SEMGUARD_CACHE at the same absolute
# paths as outside, so a kernel tree built inside is usable as KDIR from both sides and the
# paths written into it stay valid.
#
# Every call gets its own private mount namespace (unshare --mount). The mounts exist only in
# that namespace and vanish with its last process, so:
# - nothing is left mounted after an error, Ctrl-C or even SIGKILL;
# - two scripts using the same chroot at once cannot unmount each other's /proc or /dev;
# - the host never sees a bind mount under the chroot, so `rm -rf` of a chroot (or of the
#   cache) can never walk into the repository or the host's /dev through one.
#
# The environment is reset (env -i) to a small known set, so host settings (cargo/rustup paths,
# pyenv shims) cannot leak into the chroot's toolchain. The working directory is kept when it
# is under $SEMGUARD_ROOT or $SEMGUARD_CACHE (visible inside), otherwise it is /.

chroot_run() {
    local root="$1"; shift
    [ -x "$root/bin/sh" ] || die "chroot_run: $root is not a chroot"
    [ $# -gt 0 ] || die "chroot_run: no command"
    local cwd=/
    case "$PWD/" in
        "$SEMGUARD_ROOT"/*|"$SEMGUARD_CACHE"/*) cwd="$PWD" ;;
    esac
    unshare --mount --propagation private -- /bin/bash -euc '
        root=$1 cwd=$2; shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        for d in "$SEMGUARD_ROOT" "$SEMGUARD_CACHE"; do
            mkdir -p "$root$d"
            mount --bind "$d" "$root$d"
        done
        exec chroot "$root" /usr/bin/env -i -C "$cwd" \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive \
            SEMGUARD_ROOT="$SEMGUARD_ROOT" SEMGUARD_CACHE="$SEMGUARD_CACHE" "$@"
    ' chroot_run "$root" "$cwd" "$@"
}
