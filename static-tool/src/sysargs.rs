//! System-call argument names and C types (for `open.flags`, `write.count`), as Linux 6.12
//! declares them in `include/linux/syscalls.h` (x86-64 names; ia32 calls of the same name take
//! the same arguments), and the built-in constants of the invariant language.

/// The C type of a system-call argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgTy {
    /// An integer of `size` bytes (`int`, `unsigned int`, `size_t`, `umode_t`…); `long` is 8
    /// bytes for x86-64 and 4 for ia32.
    Int {
        /// Bytes on x86-64.
        size: u8,
        /// Signed.
        signed: bool,
        /// `long`/`unsigned long`/`size_t`: word-sized (4 bytes on ia32).
        word: bool,
    },
    /// `char *` (buffers and strings declared as `char *` that name nothing).
    CharPtr,
    /// `const char *` naming a file or another kernel object by a NUL-terminated string (a
    /// path, a host or module name): a `char *` the dry run also shows as text.
    Path,
    /// `void *` and pointers to kernel structures P's DWARF may not know.
    VoidPtr,
    /// Pointer to `struct NAME` (typed if P's DWARF has that struct, else `void *`).
    StructPtr(&'static str),
    /// Pointer to an integer (`int *`, `u32 *`).
    IntPtr {
        /// Bytes.
        size: u8,
        /// Signed.
        signed: bool,
    },
}

use ArgTy::*;

const INT: ArgTy = Int { size: 4, signed: true, word: false };
const UINT: ArgTy = Int { size: 4, signed: false, word: false };
const LONG: ArgTy = Int { size: 8, signed: true, word: true };
const ULONG: ArgTy = Int { size: 8, signed: false, word: true };
/// `size_t`, `unsigned long`.
const SIZE: ArgTy = ULONG;
/// `loff_t` (always 64-bit).
const LOFF: ArgTy = Int { size: 8, signed: true, word: false };
/// `umode_t` (unsigned short in the kernel, passed in a register).
const MODE: ArgTy = Int { size: 2, signed: false, word: false };
const STR: ArgTy = CharPtr;
const PATH: ArgTy = Path;
const PTR: ArgTy = VoidPtr;
const PINT: ArgTy = IntPtr { size: 4, signed: true };
const PU32: ArgTy = IntPtr { size: 4, signed: false };
const SOCKADDR: ArgTy = StructPtr("sockaddr");

type Table = &'static [(&'static str, &'static [(&'static str, ArgTy)])];

/// Argument names and types by system-call name.
#[rustfmt::skip]
static ARGS: Table = &[
    ("read", &[("fd", UINT), ("buf", STR), ("count", SIZE)]),
    ("write", &[("fd", UINT), ("buf", STR), ("count", SIZE)]),
    ("open", &[("filename", PATH), ("flags", INT), ("mode", MODE)]),
    ("close", &[("fd", UINT)]),
    ("stat", &[("filename", PATH), ("statbuf", StructPtr("stat"))]),
    ("fstat", &[("fd", UINT), ("statbuf", StructPtr("stat"))]),
    ("lstat", &[("filename", PATH), ("statbuf", StructPtr("stat"))]),
    ("poll", &[("ufds", StructPtr("pollfd")), ("nfds", UINT), ("timeout_msecs", INT)]),
    ("lseek", &[("fd", UINT), ("offset", LONG), ("whence", UINT)]),
    ("mmap", &[("addr", ULONG), ("len", ULONG), ("prot", ULONG), ("flags", ULONG), ("fd", ULONG), ("off", ULONG)]),
    ("mprotect", &[("start", ULONG), ("len", SIZE), ("prot", ULONG)]),
    ("munmap", &[("addr", ULONG), ("len", SIZE)]),
    ("brk", &[("brk", ULONG)]),
    ("rt_sigaction", &[("sig", INT), ("act", StructPtr("sigaction")), ("oact", StructPtr("sigaction")), ("sigsetsize", SIZE)]),
    ("rt_sigprocmask", &[("how", INT), ("nset", PTR), ("oset", PTR), ("sigsetsize", SIZE)]),
    ("rt_sigreturn", &[]),
    ("ioctl", &[("fd", UINT), ("cmd", UINT), ("arg", ULONG)]),
    ("pread64", &[("fd", UINT), ("buf", STR), ("count", SIZE), ("pos", LOFF)]),
    ("pwrite64", &[("fd", UINT), ("buf", STR), ("count", SIZE), ("pos", LOFF)]),
    ("readv", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG)]),
    ("writev", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG)]),
    ("access", &[("filename", PATH), ("mode", INT)]),
    ("pipe", &[("fildes", PINT)]),
    ("select", &[("n", INT), ("inp", PTR), ("outp", PTR), ("exp", PTR), ("tvp", StructPtr("timeval"))]),
    ("sched_yield", &[]),
    ("mremap", &[("addr", ULONG), ("old_len", ULONG), ("new_len", ULONG), ("flags", ULONG), ("new_addr", ULONG)]),
    ("msync", &[("start", ULONG), ("len", SIZE), ("flags", INT)]),
    ("madvise", &[("start", ULONG), ("len_in", SIZE), ("behavior", INT)]),
    ("dup", &[("fildes", UINT)]),
    ("dup2", &[("oldfd", UINT), ("newfd", UINT)]),
    ("pause", &[]),
    ("nanosleep", &[("rqtp", StructPtr("timespec")), ("rmtp", StructPtr("timespec"))]),
    ("alarm", &[("seconds", UINT)]),
    ("getpid", &[]),
    ("sendfile", &[("out_fd", INT), ("in_fd", INT), ("offset", IntPtr { size: 8, signed: true }), ("count", SIZE)]),
    ("socket", &[("family", INT), ("type", INT), ("protocol", INT)]),
    ("connect", &[("fd", INT), ("uservaddr", SOCKADDR), ("addrlen", INT)]),
    ("accept", &[("fd", INT), ("upeer_sockaddr", SOCKADDR), ("upeer_addrlen", PINT)]),
    ("sendto", &[("fd", INT), ("buff", PTR), ("len", SIZE), ("flags", UINT), ("addr", SOCKADDR), ("addr_len", INT)]),
    ("recvfrom", &[("fd", INT), ("ubuf", PTR), ("size", SIZE), ("flags", UINT), ("addr", SOCKADDR), ("addr_len", PINT)]),
    ("sendmsg", &[("fd", INT), ("msg", StructPtr("msghdr")), ("flags", UINT)]),
    ("recvmsg", &[("fd", INT), ("msg", StructPtr("msghdr")), ("flags", UINT)]),
    ("shutdown", &[("fd", INT), ("how", INT)]),
    ("bind", &[("fd", INT), ("umyaddr", SOCKADDR), ("addrlen", INT)]),
    ("listen", &[("fd", INT), ("backlog", INT)]),
    ("getsockname", &[("fd", INT), ("usockaddr", SOCKADDR), ("usockaddr_len", PINT)]),
    ("getpeername", &[("fd", INT), ("usockaddr", SOCKADDR), ("usockaddr_len", PINT)]),
    ("socketpair", &[("family", INT), ("type", INT), ("protocol", INT), ("usockvec", PINT)]),
    ("setsockopt", &[("fd", INT), ("level", INT), ("optname", INT), ("optval", STR), ("optlen", INT)]),
    ("getsockopt", &[("fd", INT), ("level", INT), ("optname", INT), ("optval", STR), ("optlen", PINT)]),
    ("clone", &[("clone_flags", ULONG), ("newsp", ULONG), ("parent_tidptr", PINT), ("child_tidptr", PINT), ("tls", ULONG)]),
    ("fork", &[]),
    ("vfork", &[]),
    ("execve", &[("filename", PATH), ("argv", PTR), ("envp", PTR)]),
    ("exit", &[("error_code", INT)]),
    ("wait4", &[("upid", INT), ("stat_addr", PINT), ("options", INT), ("ru", StructPtr("rusage"))]),
    ("kill", &[("pid", INT), ("sig", INT)]),
    ("uname", &[("name", StructPtr("utsname"))]),
    ("fcntl", &[("fd", UINT), ("cmd", UINT), ("arg", ULONG)]),
    ("flock", &[("fd", UINT), ("cmd", UINT)]),
    ("fsync", &[("fd", UINT)]),
    ("fdatasync", &[("fd", UINT)]),
    ("truncate", &[("path", PATH), ("length", LONG)]),
    ("ftruncate", &[("fd", UINT), ("length", LONG)]),
    ("getdents", &[("fd", UINT), ("dirent", PTR), ("count", UINT)]),
    ("getcwd", &[("buf", STR), ("size", ULONG)]),
    ("chdir", &[("filename", PATH)]),
    ("fchdir", &[("fd", UINT)]),
    ("rename", &[("oldname", PATH), ("newname", PATH)]),
    ("mkdir", &[("pathname", PATH), ("mode", MODE)]),
    ("rmdir", &[("pathname", PATH)]),
    ("creat", &[("pathname", PATH), ("mode", MODE)]),
    ("link", &[("oldname", PATH), ("newname", PATH)]),
    ("unlink", &[("pathname", PATH)]),
    ("symlink", &[("oldname", PATH), ("newname", PATH)]),
    ("readlink", &[("path", PATH), ("buf", STR), ("bufsiz", INT)]),
    ("chmod", &[("filename", PATH), ("mode", MODE)]),
    ("fchmod", &[("fd", UINT), ("mode", MODE)]),
    ("chown", &[("filename", PATH), ("user", UINT), ("group", UINT)]),
    ("fchown", &[("fd", UINT), ("user", UINT), ("group", UINT)]),
    ("lchown", &[("filename", PATH), ("user", UINT), ("group", UINT)]),
    ("umask", &[("mask", INT)]),
    ("gettimeofday", &[("tv", StructPtr("timeval")), ("tz", StructPtr("timezone"))]),
    ("getrlimit", &[("resource", UINT), ("rlim", StructPtr("rlimit"))]),
    ("getrusage", &[("who", INT), ("ru", StructPtr("rusage"))]),
    ("sysinfo", &[("info", StructPtr("sysinfo"))]),
    ("times", &[("tbuf", StructPtr("tms"))]),
    ("ptrace", &[("request", LONG), ("pid", LONG), ("addr", ULONG), ("data", ULONG)]),
    ("getuid", &[]),
    ("syslog", &[("type", INT), ("buf", STR), ("len", INT)]),
    ("getgid", &[]),
    ("setuid", &[("uid", UINT)]),
    ("setgid", &[("gid", UINT)]),
    ("geteuid", &[]),
    ("getegid", &[]),
    ("setpgid", &[("pid", INT), ("pgid", INT)]),
    ("getppid", &[]),
    ("getpgrp", &[]),
    ("setsid", &[]),
    ("setreuid", &[("ruid", UINT), ("euid", UINT)]),
    ("setregid", &[("rgid", UINT), ("egid", UINT)]),
    ("getgroups", &[("gidsetsize", INT), ("grouplist", PU32)]),
    ("setgroups", &[("gidsetsize", INT), ("grouplist", PU32)]),
    ("setresuid", &[("ruid", UINT), ("euid", UINT), ("suid", UINT)]),
    ("getresuid", &[("ruidp", PU32), ("euidp", PU32), ("suidp", PU32)]),
    ("setresgid", &[("rgid", UINT), ("egid", UINT), ("sgid", UINT)]),
    ("getresgid", &[("rgidp", PU32), ("egidp", PU32), ("sgidp", PU32)]),
    ("getpgid", &[("pid", INT)]),
    ("getsid", &[("pid", INT)]),
    ("capget", &[("header", PTR), ("dataptr", PTR)]),
    ("capset", &[("header", PTR), ("data", PTR)]),
    ("sigaltstack", &[("uss", PTR), ("uoss", PTR)]),
    ("mknod", &[("filename", PATH), ("mode", MODE), ("dev", UINT)]),
    ("personality", &[("personality", UINT)]),
    ("statfs", &[("pathname", PATH), ("buf", StructPtr("statfs"))]),
    ("fstatfs", &[("fd", UINT), ("buf", StructPtr("statfs"))]),
    ("prctl", &[("option", INT), ("arg2", ULONG), ("arg3", ULONG), ("arg4", ULONG), ("arg5", ULONG)]),
    ("arch_prctl", &[("option", INT), ("arg2", ULONG)]),
    ("setrlimit", &[("resource", UINT), ("rlim", StructPtr("rlimit"))]),
    ("chroot", &[("filename", PATH)]),
    ("sync", &[]),
    ("mount", &[("dev_name", PATH), ("dir_name", PATH), ("type", STR), ("flags", ULONG), ("data", PTR)]),
    ("umount2", &[("name", PATH), ("flags", INT)]),
    ("reboot", &[("magic1", INT), ("magic2", INT), ("cmd", UINT), ("arg", PTR)]),
    ("sethostname", &[("name", PATH), ("len", INT)]),
    ("init_module", &[("umod", PTR), ("len", ULONG), ("uargs", STR)]),
    ("delete_module", &[("name_user", PATH), ("flags", UINT)]),
    ("gettid", &[]),
    ("tkill", &[("pid", INT), ("sig", INT)]),
    ("time", &[("tloc", IntPtr { size: 8, signed: true })]),
    ("futex", &[("uaddr", PU32), ("op", INT), ("val", UINT), ("utime", StructPtr("timespec")), ("uaddr2", PU32), ("val3", UINT)]),
    ("sched_setaffinity", &[("pid", INT), ("len", UINT), ("user_mask_ptr", PTR)]),
    ("sched_getaffinity", &[("pid", INT), ("len", UINT), ("user_mask_ptr", PTR)]),
    ("set_tid_address", &[("tidptr", PINT)]),
    ("getdents64", &[("fd", UINT), ("dirent", PTR), ("count", UINT)]),
    ("fadvise64", &[("fd", INT), ("offset", LOFF), ("len", SIZE), ("advice", INT)]),
    ("clock_gettime", &[("which_clock", INT), ("tp", StructPtr("timespec"))]),
    ("clock_getres", &[("which_clock", INT), ("tp", StructPtr("timespec"))]),
    ("clock_nanosleep", &[("which_clock", INT), ("flags", INT), ("rqtp", StructPtr("timespec")), ("rmtp", StructPtr("timespec"))]),
    ("exit_group", &[("error_code", INT)]),
    ("epoll_wait", &[("epfd", INT), ("events", PTR), ("maxevents", INT), ("timeout", INT)]),
    ("epoll_ctl", &[("epfd", INT), ("op", INT), ("fd", INT), ("event", PTR)]),
    ("tgkill", &[("tgid", INT), ("pid", INT), ("sig", INT)]),
    ("openat", &[("dfd", INT), ("filename", PATH), ("flags", INT), ("mode", MODE)]),
    ("mkdirat", &[("dfd", INT), ("pathname", PATH), ("mode", MODE)]),
    ("fchownat", &[("dfd", INT), ("filename", PATH), ("user", UINT), ("group", UINT), ("flag", INT)]),
    ("newfstatat", &[("dfd", INT), ("filename", PATH), ("statbuf", StructPtr("stat")), ("flag", INT)]),
    ("unlinkat", &[("dfd", INT), ("pathname", PATH), ("flag", INT)]),
    ("renameat", &[("olddfd", INT), ("oldname", PATH), ("newdfd", INT), ("newname", PATH)]),
    ("linkat", &[("olddfd", INT), ("oldname", PATH), ("newdfd", INT), ("newname", PATH), ("flags", INT)]),
    ("symlinkat", &[("oldname", PATH), ("newdfd", INT), ("newname", PATH)]),
    ("readlinkat", &[("dfd", INT), ("pathname", PATH), ("buf", STR), ("bufsiz", INT)]),
    ("fchmodat", &[("dfd", INT), ("filename", PATH), ("mode", MODE)]),
    ("faccessat", &[("dfd", INT), ("filename", PATH), ("mode", INT)]),
    ("pselect6", &[("n", INT), ("inp", PTR), ("outp", PTR), ("exp", PTR), ("tsp", StructPtr("timespec")), ("sig", PTR)]),
    ("ppoll", &[("ufds", StructPtr("pollfd")), ("nfds", UINT), ("tsp", StructPtr("timespec")), ("sigmask", PTR), ("sigsetsize", SIZE)]),
    ("set_robust_list", &[("head", PTR), ("len", SIZE)]),
    ("get_robust_list", &[("pid", INT), ("head_ptr", PTR), ("len_ptr", PTR)]),
    ("accept4", &[("fd", INT), ("upeer_sockaddr", SOCKADDR), ("upeer_addrlen", PINT), ("flags", INT)]),
    ("epoll_create1", &[("flags", INT)]),
    ("dup3", &[("oldfd", UINT), ("newfd", UINT), ("flags", INT)]),
    ("pipe2", &[("fildes", PINT), ("flags", INT)]),
    ("prlimit64", &[("pid", INT), ("resource", UINT), ("new_rlim", PTR), ("old_rlim", PTR)]),
    ("renameat2", &[("olddfd", INT), ("oldname", PATH), ("newdfd", INT), ("newname", PATH), ("flags", UINT)]),
    ("getrandom", &[("ubuf", STR), ("len", SIZE), ("flags", UINT)]),
    ("memfd_create", &[("uname", PATH), ("flags", UINT)]),
    ("execveat", &[("fd", INT), ("filename", PATH), ("argv", PTR), ("envp", PTR), ("flags", INT)]),
    ("statx", &[("dfd", INT), ("filename", PATH), ("flags", UINT), ("mask", UINT), ("buffer", PTR)]),
    ("rseq", &[("rseq", PTR), ("rseq_len", UINT), ("flags", INT), ("sig", UINT)]),
    ("pidfd_open", &[("pid", INT), ("flags", UINT)]),
    ("clone3", &[("uargs", PTR), ("size", SIZE)]),
    ("close_range", &[("fd", UINT), ("max_fd", UINT), ("flags", UINT)]),
    ("openat2", &[("dfd", INT), ("filename", PATH), ("how", PTR), ("usize", SIZE)]),
    ("faccessat2", &[("dfd", INT), ("filename", PATH), ("mode", INT), ("flags", INT)]),
    // Members of the classes (src/classes.rs) and the calls `single_writer` constrains.
    ("shmat", &[("shmid", INT), ("shmaddr", PTR), ("shmflg", INT)]),
    ("io_setup", &[("nr_events", UINT), ("ctxp", PTR)]),
    ("io_submit", &[("ctx_id", ULONG), ("nr", LONG), ("iocbpp", PTR)]),
    ("splice", &[("fd_in", INT), ("off_in", PTR), ("fd_out", INT), ("off_out", PTR), ("len", SIZE), ("flags", UINT)]),
    ("tee", &[("fdin", INT), ("fdout", INT), ("len", SIZE), ("flags", UINT)]),
    ("vmsplice", &[("fd", INT), ("uiov", StructPtr("iovec")), ("nr_segs", ULONG), ("flags", UINT)]),
    ("preadv", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG), ("pos_l", ULONG), ("pos_h", ULONG)]),
    ("pwritev", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG), ("pos_l", ULONG), ("pos_h", ULONG)]),
    ("sendmmsg", &[("fd", INT), ("mmsg", PTR), ("vlen", UINT), ("flags", UINT)]),
    ("process_vm_writev", &[("pid", INT), ("lvec", StructPtr("iovec")), ("liovcnt", ULONG), ("rvec", StructPtr("iovec")), ("riovcnt", ULONG), ("flags", ULONG)]),
    ("userfaultfd", &[("flags", INT)]),
    ("copy_file_range", &[("fd_in", INT), ("off_in", PTR), ("fd_out", INT), ("off_out", PTR), ("len", SIZE), ("flags", UINT)]),
    ("preadv2", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG), ("pos_l", ULONG), ("pos_h", ULONG), ("flags", INT)]),
    ("pwritev2", &[("fd", ULONG), ("vec", StructPtr("iovec")), ("vlen", ULONG), ("pos_l", ULONG), ("pos_h", ULONG), ("flags", INT)]),
    ("io_uring_setup", &[("entries", UINT), ("params", PTR)]),
    ("io_uring_enter", &[("fd", UINT), ("to_submit", UINT), ("min_complete", UINT), ("flags", UINT), ("argp", PTR), ("argsz", SIZE)]),
    ("io_uring_register", &[("fd", UINT), ("opcode", UINT), ("arg", PTR), ("nr_args", UINT)]),
];

/// Arguments of system call `name`, if the table has it.
pub fn args(name: &str) -> Option<&'static [(&'static str, ArgTy)]> {
    ARGS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// Names of the system calls the table describes.
pub fn described() -> impl Iterator<Item = &'static str> {
    ARGS.iter().map(|(n, _)| *n)
}

/// Built-in constants (Linux x86-64 values), used when P has no variable, enumerator or
/// `const` of the same name.
#[rustfmt::skip]
static CONSTANTS: &[(&str, i64)] = &[
    ("O_RDONLY", 0), ("O_WRONLY", 1), ("O_RDWR", 2), ("O_ACCMODE", 3), ("O_CREAT", 0o100),
    ("O_EXCL", 0o200), ("O_NOCTTY", 0o400), ("O_TRUNC", 0o1000), ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000), ("O_DSYNC", 0o10000), ("O_DIRECT", 0o40000), ("O_LARGEFILE", 0o100000),
    ("O_DIRECTORY", 0o200000), ("O_NOFOLLOW", 0o400000), ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000), ("O_SYNC", 0o4010000), ("O_PATH", 0o10000000), ("O_TMPFILE", 0o20200000),
    ("AT_FDCWD", -100), ("AT_SYMLINK_NOFOLLOW", 0x100), ("AT_REMOVEDIR", 0x200), ("AT_EMPTY_PATH", 0x1000),
    ("PROT_NONE", 0), ("PROT_READ", 1), ("PROT_WRITE", 2), ("PROT_EXEC", 4),
    ("MAP_SHARED", 1), ("MAP_PRIVATE", 2), ("MAP_SHARED_VALIDATE", 3), ("MAP_TYPE", 0x0f), ("MAP_FIXED", 0x10), ("MAP_ANONYMOUS", 0x20),
    ("MAP_GROWSDOWN", 0x100), ("MAP_STACK", 0x20000), ("MAP_FIXED_NOREPLACE", 0x100000),
    ("AF_UNIX", 1), ("AF_INET", 2), ("AF_INET6", 10), ("AF_NETLINK", 16), ("AF_PACKET", 17),
    ("SOCK_STREAM", 1), ("SOCK_DGRAM", 2), ("SOCK_RAW", 3), ("SOCK_NONBLOCK", 0o4000), ("SOCK_CLOEXEC", 0o2000000),
    ("STDIN_FILENO", 0), ("STDOUT_FILENO", 1), ("STDERR_FILENO", 2),
    ("SIGHUP", 1), ("SIGINT", 2), ("SIGQUIT", 3), ("SIGABRT", 6), ("SIGKILL", 9), ("SIGSEGV", 11),
    ("SIGPIPE", 13), ("SIGALRM", 14), ("SIGTERM", 15), ("SIGCHLD", 17), ("SIGSTOP", 19),
    ("CLONE_VM", 0x100), ("CLONE_FS", 0x200), ("CLONE_FILES", 0x400), ("CLONE_SIGHAND", 0x800),
    ("CLONE_VFORK", 0x4000), ("CLONE_THREAD", 0x10000), ("CLONE_NEWNS", 0x20000),
    ("CLONE_SETTLS", 0x80000), ("CLONE_PARENT_SETTID", 0x100000), ("CLONE_CHILD_CLEARTID", 0x200000),
    ("CLONE_CHILD_SETTID", 0x1000000), ("CLONE_NEWUSER", 0x10000000), ("CLONE_NEWPID", 0x20000000),
    ("F_DUPFD", 0), ("F_GETFD", 1), ("F_SETFD", 2), ("F_GETFL", 3), ("F_SETFL", 4), ("F_DUPFD_CLOEXEC", 1030),
    ("SEEK_SET", 0), ("SEEK_CUR", 1), ("SEEK_END", 2),
    ("R_OK", 4), ("W_OK", 2), ("X_OK", 1), ("F_OK", 0),
    ("S_IRWXU", 0o700), ("S_IRUSR", 0o400), ("S_IWUSR", 0o200), ("S_IXUSR", 0o100), ("S_IRWXG", 0o70),
    ("S_IRWXO", 0o7), ("S_ISUID", 0o4000), ("S_ISGID", 0o2000),
];

/// Value of built-in constant `name`.
pub fn constant(name: &str) -> Option<i64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use semguard_core::syscall::Abi;
    use semguard_core::syscall_names;

    #[test]
    fn every_described_call_exists_and_has_at_most_six_distinct_arguments() {
        for (name, args) in ARGS {
            assert!(syscall_names::number(Abi::X86_64, name).is_some(), "{name} is not an x86-64 system call");
            assert!(args.len() <= 6, "{name}");
            for (i, (a, _)) in args.iter().enumerate() {
                assert!(args[..i].iter().all(|(b, _)| b != a), "{name}.{a} twice");
            }
        }
        assert_eq!(args("write").map(|a| a[2].0), Some("count"));
        assert_eq!(args("open").map(|a| a[1]), Some(("flags", INT)));
        assert!(args("no_such_call").is_none());
        // Paths and names are typed as such (the dry run shows them), buffers are not.
        assert_eq!(args("openat").map(|a| a[1]), Some(("filename", PATH)));
        assert_eq!(args("rename").map(|a| (a[0].1, a[1].1)), Some((PATH, PATH)));
        assert_eq!(args("write").map(|a| a[1]), Some(("buf", STR)));
        assert_eq!(constant("AT_FDCWD"), Some(-100));
        assert_eq!(constant("O_CLOEXEC"), Some(0x80000));
    }
}
