//! Classes of equivalent system calls (`syscall class file_open { … }`) and the calls
//! `policy { single_writer; }` constrains.
//!
//! A class names calls that do the same thing for a policy's purpose — `open`, `openat`,
//! `openat2` and `creat` all open a file — and maps each class argument (`file_open.path`) to
//! where each member has it: a register argument, a constant (`creat`'s flags), or a field
//! of a structure in P's memory (`openat2`'s `how->flags`). The type checker checks a class
//! rule's statements once per member with that member's mapping, so one rule cannot leave a
//! member out. `LANGUAGE.md` ("Classes of equivalent calls") documents the same table.

use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

/// The type of a class argument (every member's value is read as this type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// An integer of `size` bytes.
    Int {
        /// Bytes (4 or 8).
        size: u8,
        /// Signed.
        signed: bool,
    },
    /// A path: `char *` (compare with `==`, `startswith`, `len`).
    Path,
    /// A NULL-terminated array of strings (`argv`, `envp`): `char **` for x86-64 members,
    /// `u32 *` for ia32 and x32 ones (their pointers are 4 bytes); `(char *)exec.argv[1]`
    /// is the string for every ABI.
    StrArray,
}

/// Where a member has a class argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// Register argument `index`; integers keep its low `width` bytes (0: all).
    Arg {
        /// 0-based argument index.
        index: u8,
        /// Bytes of the C type (0 for pointers: the whole register).
        width: u8,
    },
    /// A constant: what the member always means (`creat`'s flags, `open`'s `AT_FDCWD`).
    Const(u64),
    /// `width` bytes at `offset` in the structure argument `index` points to (in P's memory).
    Mem {
        /// 0-based argument index of the pointer.
        index: u8,
        /// Byte offset of the field.
        offset: u8,
        /// Bytes of the field.
        width: u8,
    },
}

/// ABIs a member exists in (bit set).
pub const X86_64: u8 = 1;
/// ia32 (`int $0x80`, `sysenter`, compat `syscall`).
pub const IA32: u8 = 2;
/// x32.
pub const X32: u8 = 4;
const ALL: u8 = X86_64 | IA32 | X32;

/// One member of a class.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    /// The call's name (looked up in each ABI's table).
    pub call: &'static str,
    /// The ABIs it is a member for.
    pub abis: u8,
    /// Where it has each class argument, in the order of [`Class::args`].
    pub srcs: &'static [Src],
}

/// A class of equivalent calls.
#[derive(Clone, Copy, Debug)]
pub struct Class {
    /// Its name (`file_open`).
    pub name: &'static str,
    /// Its arguments.
    pub args: &'static [(&'static str, ArgKind)],
    /// Its members.
    pub members: &'static [Member],
}

const fn arg(index: u8, width: u8) -> Src {
    Src::Arg { index, width }
}
const fn ptr(index: u8) -> Src {
    Src::Arg { index, width: 0 }
}
const AT_FDCWD: Src = Src::Const((-100i64) as u64);
/// `creat(p, m)` is `open(p, O_CREAT | O_WRONLY | O_TRUNC, m)`.
const CREAT_FLAGS: Src = Src::Const(0o100 | 0o1 | 0o1000);

const I32: ArgKind = ArgKind::Int { size: 4, signed: true };
const U32: ArgKind = ArgKind::Int { size: 4, signed: false };
const U64: ArgKind = ArgKind::Int { size: 8, signed: false };

/// A member whose only argument is a descriptor in argument `i` (`int`/`unsigned int`).
macro_rules! fd_member {
    ($call:expr, $abis:expr, $i:expr) => {
        Member { call: $call, abis: $abis, srcs: &[arg($i, 4)] }
    };
}

/// Every class.
#[rustfmt::skip]
pub static CLASSES: &[Class] = &[
    Class {
        name: "file_open",
        args: &[("path", ArgKind::Path), ("flags", U64), ("mode", U64), ("dfd", I32), ("resolve", U64)],
        members: &[
            // path, flags, mode, dfd, resolve
            Member { call: "open", abis: ALL, srcs: &[ptr(0), arg(1, 4), arg(2, 2), AT_FDCWD, Src::Const(0)] },
            Member { call: "openat", abis: ALL, srcs: &[ptr(1), arg(2, 4), arg(3, 2), arg(0, 4), Src::Const(0)] },
            // struct open_how { u64 flags; u64 mode; u64 resolve; } in P's memory.
            Member {
                call: "openat2",
                abis: ALL,
                srcs: &[
                    ptr(1),
                    Src::Mem { index: 2, offset: 0, width: 8 },
                    Src::Mem { index: 2, offset: 8, width: 8 },
                    arg(0, 4),
                    Src::Mem { index: 2, offset: 16, width: 8 },
                ],
            },
            Member { call: "creat", abis: ALL, srcs: &[ptr(0), CREAT_FLAGS, arg(1, 2), AT_FDCWD, Src::Const(0)] },
        ],
    },
    Class {
        name: "file_write",
        args: &[("fd", I32)],
        members: &[
            fd_member!("write", ALL, 0),
            fd_member!("pwrite64", ALL, 0),
            fd_member!("writev", ALL, 0),
            fd_member!("pwritev", ALL, 0),
            fd_member!("pwritev2", ALL, 0),
            fd_member!("sendfile", ALL, 0),
            fd_member!("sendfile64", IA32, 0),
            fd_member!("splice", ALL, 2),
            fd_member!("tee", ALL, 1),
            fd_member!("copy_file_range", ALL, 2),
            fd_member!("vmsplice", ALL, 0),
        ],
    },
    Class {
        name: "file_read",
        args: &[("fd", I32)],
        members: &[
            fd_member!("read", ALL, 0),
            fd_member!("pread64", ALL, 0),
            fd_member!("readv", ALL, 0),
            fd_member!("preadv", ALL, 0),
            fd_member!("preadv2", ALL, 0),
            fd_member!("sendfile", ALL, 1),
            fd_member!("sendfile64", IA32, 1),
            fd_member!("splice", ALL, 0),
            fd_member!("tee", ALL, 0),
            fd_member!("copy_file_range", ALL, 0),
        ],
    },
    Class {
        name: "exec",
        args: &[("path", ArgKind::Path), ("argv", ArgKind::StrArray), ("envp", ArgKind::StrArray), ("dfd", I32), ("flags", I32)],
        members: &[
            Member { call: "execve", abis: ALL, srcs: &[ptr(0), ptr(1), ptr(2), AT_FDCWD, Src::Const(0)] },
            Member { call: "execveat", abis: ALL, srcs: &[ptr(1), ptr(2), ptr(3), arg(0, 4), arg(4, 4)] },
        ],
    },
    Class {
        name: "socket_send",
        args: &[("fd", I32), ("flags", U32)],
        members: &[
            Member { call: "sendto", abis: ALL, srcs: &[arg(0, 4), arg(3, 4)] },
            Member { call: "sendmsg", abis: ALL, srcs: &[arg(0, 4), arg(2, 4)] },
            Member { call: "sendmmsg", abis: ALL, srcs: &[arg(0, 4), arg(3, 4)] },
        ],
    },
];

/// The class called `name`.
pub fn find(name: &str) -> Option<&'static Class> {
    CLASSES.iter().find(|c| c.name == name)
}

fn abi_bit(abi: Abi) -> u8 {
    match abi {
        Abi::X86_64 => X86_64,
        Abi::Ia32 => IA32,
        Abi::X32 => X32,
    }
}

/// The members of `class` in `abi`, with their numbers.
pub fn members(class: &'static Class, abi: Abi) -> impl Iterator<Item = (u32, &'static Member)> {
    class
        .members
        .iter()
        .filter(move |m| m.abis & abi_bit(abi) != 0)
        .filter_map(move |m| Some((syscall_names::number(abi, m.call)?, m)))
}

/// The io_uring and AIO calls: they read and write P's memory without a system call per
/// operation, so a `default allow` policy should deny them.
pub const ASYNC_IO: [&str; 5] = ["io_uring_setup", "io_uring_enter", "io_uring_register", "io_setup", "io_submit"];

/// What `single_writer` does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwRule {
    /// Denied (the reason is the invariant's name).
    Deny(&'static str),
    /// `($argN & mask) == 0` must hold.
    MaskClear {
        /// Argument index.
        arg: u8,
        /// Bits that must be clear.
        mask: u64,
        /// Name of the invariant.
        name: &'static str,
    },
    /// mmap flags: the mapping type (`flags & MAP_TYPE`) is not `MAP_SHARED` (1) or
    /// `MAP_SHARED_VALIDATE` (3).
    NotSharedMap {
        /// Argument index of the flags.
        arg: u8,
    },
    /// ia32 `ipc(call, …)`: the call (low 16 bits of argument 0) is not `SHMAT` (21).
    NotShmat,
}

/// `CLONE_VM | CLONE_THREAD`.
pub const CLONE_SHARES_MEMORY: u64 = 0x100 | 0x10000;

/// The calls `single_writer` constrains in `abi`: (call name, what it requires).
pub fn single_writer_rules(abi: Abi) -> Vec<(&'static str, SwRule)> {
    let mut v = vec![
        (
            "clone",
            SwRule::MaskClear {
                arg: 0,
                mask: CLONE_SHARES_MEMORY,
                name: "single_writer: clone without CLONE_VM or CLONE_THREAD",
            },
        ),
        ("clone3", SwRule::Deny("single_writer: clone3 denied (its flags are in memory)")),
        ("vfork", SwRule::Deny("single_writer: vfork denied (the child shares P's memory)")),
        ("ptrace", SwRule::Deny("single_writer: ptrace denied")),
        ("shmat", SwRule::Deny("single_writer: shmat denied (shared memory)")),
        ("io_uring_setup", SwRule::Deny("single_writer: io_uring_setup denied")),
        ("io_setup", SwRule::Deny("single_writer: io_setup denied (AIO writes P's memory asynchronously)")),
        ("process_vm_writev", SwRule::Deny("single_writer: process_vm_writev denied")),
        ("userfaultfd", SwRule::Deny("single_writer: userfaultfd denied")),
    ];
    match abi {
        Abi::Ia32 => {
            // ia32 `mmap` (90) is old_mmap: its arguments are a structure in P's memory.
            v.push(("mmap", SwRule::Deny("single_writer: ia32 old mmap denied (its arguments are in memory)")));
            v.push(("mmap2", SwRule::NotSharedMap { arg: 3 }));
            v.push(("ipc", SwRule::NotShmat));
        }
        _ => v.push(("mmap", SwRule::NotSharedMap { arg: 3 })),
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysargs;

    #[test]
    fn every_member_exists_and_maps_every_argument() {
        for c in CLASSES {
            assert!(sysargs::args(c.name).is_none() && syscall_names::number(Abi::X86_64, c.name).is_none());
            for m in c.members {
                assert_eq!(m.srcs.len(), c.args.len(), "{}.{}", c.name, m.call);
                for (abi, bit) in [(Abi::X86_64, X86_64), (Abi::Ia32, IA32), (Abi::X32, X32)] {
                    if m.abis & bit != 0 {
                        assert!(syscall_names::number(abi, m.call).is_some(), "{:?} {}", abi, m.call);
                    }
                }
            }
        }
        // Register arguments name the call's own argument of that role (include/linux/syscalls.h).
        let role = |class: &str, arg: &str, names: &[&str]| {
            let c = find(class).unwrap();
            let k = c.args.iter().position(|a| a.0 == arg).unwrap();
            for m in c.members.iter().filter(|m| m.abis & X86_64 != 0) {
                let Src::Arg { index, .. } = m.srcs[k] else { continue };
                let own = sysargs::args(m.call).unwrap_or_else(|| panic!("{} not in sysargs", m.call));
                assert!(names.contains(&own[usize::from(index)].0), "{class}.{arg} of {}: {:?}", m.call, own);
            }
        };
        role("file_write", "fd", &["fd", "out_fd", "fd_out", "fdout"]);
        role("file_read", "fd", &["fd", "in_fd", "fd_in", "fdin"]);
        role("file_open", "path", &["filename", "pathname"]);
        role("file_open", "flags", &["flags"]);
        role("file_open", "mode", &["mode"]);
        role("file_open", "dfd", &["dfd"]);
        role("exec", "path", &["filename"]);
        role("exec", "argv", &["argv"]);
        role("exec", "envp", &["envp"]);
        role("exec", "dfd", &["fd"]);
        role("exec", "flags", &["flags"]);
        role("socket_send", "fd", &["fd"]);
        role("socket_send", "flags", &["flags"]);
        let names = |abi| members(find("file_open").unwrap(), abi).map(|(nr, _)| nr).collect::<Vec<_>>();
        assert_eq!(names(Abi::X86_64), [2, 257, 437, 85]);
        assert_eq!(names(Abi::Ia32), [5, 295, 437, 8]);
        for abi in [Abi::X86_64, Abi::Ia32, Abi::X32] {
            for (call, _) in single_writer_rules(abi) {
                assert!(syscall_names::number(abi, call).is_some(), "{abi:?} {call}");
            }
        }
    }
}
