//! System-call ABI (Introspection Library): decoding a trapped call from registers into one
//! normalised form, and the register edit that turns it into `exit_group` (how P is killed).

use crate::regs::{EntryKind, Registers};

/// Which Linux system-call ABI a trapped call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Abi {
    /// 64-bit `SYSCALL`, native numbers (`syscall_64.tbl`, common/64 entries).
    X86_64 = 0,
    /// ia32: `int $0x80`, `SYSENTER`, compat `SYSCALL` (`syscall_32.tbl`).
    Ia32 = 1,
    /// x32: 64-bit `SYSCALL` with `nr | 0x40000000` (`syscall_64.tbl`, common/x32 entries).
    X32 = 2,
}

/// A trapped system call in normalised form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// The ABI the call was made with.
    pub abi: Abi,
    /// The call number within that ABI (for x32: with the x32 bit cleared).
    pub nr: u32,
    /// The six arguments in ABI order, zero-extended to 64 bits for ia32.
    pub args: [u64; 6],
    /// User RIP the call returns to (the instruction after the trapping one).
    pub user_rip: u64,
}
