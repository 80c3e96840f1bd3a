//! System-call ABI (Introspection Library): decoding a trapped call from registers into one
//! normalised form, and the register edit that turns it into `exit_group` (how P is killed).
//!
//! # Where the number and the arguments are
//!
//! Registers as Xen 4.17's entry frame (`struct cpu_user_regs`, reported in the vm_event
//! request) holds them when the call traps, checked against Linux 6.12's
//! `arch/x86/entry/entry_64_compat.S`, `common.c`, `vdso/vdso32/system_call.S`, `xen/xen-asm.S`
//! and Xen's `arch/x86/x86_64/entry.S`:
//!
//! | [`EntryKind`] | Xen entry | nr | arg1 | arg2 | arg3 | arg4 | arg5 | arg6 | `rip` in Xen's frame |
//! |---|---|---|---|---|---|---|---|---|---|
//! | `Syscall64` | `lstar_enter` | eax | rdi | rsi | rdx | r10 | r8 | r9 | rcx: after `syscall` |
//! | `Int80` | `int80_direct_trap` | eax | ebx | ecx | edx | esi | edi | ebp | after `int $0x80` |
//! | `Sysenter` | `sysenter_entry` | eax | ebx | ecx | edx | esi | edi | **u32 at ebp** | **0** |
//! | `CompatSyscall` | `cstar_enter` | eax | ebx | **ebp** | edx | esi | edi | **u32 at esp** | rcx: after `syscall` |
//!
//! - ia32 (the last three rows): Linux zero-extends the number (`movl %eax,%eax`,
//!   `regs->ax & GENMASK(31, 0)`) and its `__ia32_sys_*` wrappers read `(unsigned int)regs->bx`
//!   and so on, so every value is the low 32 bits, zero-extended — also for `int $0x80` made by
//!   a 64-bit process, which is an ia32 call (the classic filter bypass; the entry, not the
//!   process, decides the ABI).
//! - The fast ia32 entries follow the vDSO's `__kernel_vsyscall` convention: it pushes ecx, edx,
//!   ebp, then does `movl %esp,%ebp; sysenter` or `movl %ecx,%ebp; syscall`. `SYSENTER` saves no
//!   user RIP and no RSP, so Xen's `sysenter_entry` pushes a null rip and rsp: **`rip` and `rsp`
//!   are 0** and the user stack pointer is in ebp (Linux: `regs->sp = regs->bp`). `SYSCALL`
//!   overwrites ecx with the return address, so arg2 travels in ebp. In both cases the 6th
//!   argument is the 32-bit word at the user stack pointer (Linux's `__do_fast_syscall_32`
//!   reads it with `__get_user` at `(u32)regs->sp`): it is **not in any register**, and
//!   [`decode`] reports where it is ([`Decoded::memory_arg`]); [`Decoded::complete`] reads it
//!   through a [`VirtMemory`]. If that read faults the kernel answers -EFAULT without running
//!   the call.
//! - Without reading guest memory one also cannot know, for the fast ia32 entries, where the
//!   call came from: Linux returns to the vDSO's `int80_landing_pad` whatever the entry
//!   address was, and the caller of `__kernel_vsyscall` is the return address 12 bytes up the
//!   user stack ([`Decoded::vdso32_return_address`]).
//!
//! # The number
//!
//! Linux 6.12 does `movslq %eax, %rsi` and then `do_syscall_64(regs, int nr)`: the upper 32 bits
//! of rax are ignored, and so they are here (the full rax stays visible to invariants through
//! [`Registers`]). A number in `0x4000_0000..0x8000_0000` (bit 30, `__X32_SYSCALL_BIT`, set and
//! the `int` not negative) is [`Abi::X32`] with the bit cleared — exactly Linux's unsigned
//! `nr - __X32_SYSCALL_BIT`, and the only numbers that x32 dispatch can reach. Everything else,
//! negative `int`s included (bit 31 set, e.g. -1), is [`Abi::X86_64`] with the `u32` of the same
//! bits in [`Syscall::nr`], so -1 reads as `0xffff_ffff` whatever bit 30 says. Every
//! number outside the kernel's table — negative ones, holes, numbers past the end, and x32 ones
//! when the guest kernel has x32 disabled (Debian's default, `syscall.x32=y` enables it) — is
//! answered with -ENOSYS by the kernel, but the Assertion Checker still sees it and its policy
//! decides. [`Syscall::name`] is `None` for numbers the 6.12 tables do not name.
//!
//! # Killing P
//!
//! [`kill_edit`] rewrites the trapped call into `exit_group(status)`: the guest kernel then runs
//! that instead (it reads the number from the registers Xen writes back on resume).

use crate::addr::GuestVirtAddr;
use crate::mem::{MemError, VirtMemory};
use crate::regs::{EntryKind, Registers};
use crate::syscall_names;

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

/// `__X32_SYSCALL_BIT`: set in the 64-bit number of an x32 call.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `exit_group` in the x86-64 table; a `common` entry, so also x32's (with the x32 bit).
pub const NR_EXIT_GROUP_X86_64: u32 = 231;
/// `exit_group` in the ia32 table.
pub const NR_EXIT_GROUP_IA32: u32 = 252;

impl Syscall {
    /// The call's name in the Linux 6.12 table of its ABI, `None` if the table has no such
    /// number (the guest kernel answers -ENOSYS).
    pub fn name(&self) -> Option<&'static str> {
        syscall_names::name(self.abi, self.nr)
    }

    /// The number as the program put it in eax (x32 bit included). `as i32` gives Linux's
    /// `int nr`.
    pub const fn raw_nr(&self) -> u32 {
        match self.abi {
            Abi::X32 => self.nr | X32_SYSCALL_BIT,
            Abi::X86_64 | Abi::Ia32 => self.nr,
        }
    }
}

/// An argument that no register holds: it lives in P's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryArg {
    /// Argument index (0-based; the ia32 fast entries' 6th argument is index 5).
    pub index: usize,
    /// Guest virtual address of the 32-bit little-endian word that holds it.
    pub va: GuestVirtAddr,
}

/// Why a decoded call could not be completed from guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// P's user stack could not be read at `va` (for an ia32 fast entry's 6th argument: the
    /// guest kernel will also fail to read it and answer -EFAULT without running the call).
    StackUnreadable {
        /// The address whose read failed.
        va: GuestVirtAddr,
        /// Why.
        error: MemError,
    },
}

/// A trapped call decoded from registers alone. For `Sysenter` and `CompatSyscall` the 6th
/// argument is in P's memory; this type keeps that explicit, so nobody evaluates a placeholder
/// by mistake: [`Decoded::registers_only`] is `None` then, and [`Decoded::complete`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// `args[5]` is 0 while `user_stack` is `Some`.
    call: Syscall,
    /// ia32 fast entries: the user stack pointer (a 32-bit address) Linux reads arg 6 from.
    user_stack: Option<GuestVirtAddr>,
    /// `Sysenter`: the call site is the vDSO's return address on the stack, not `rip`.
    site_on_stack: bool,
}

/// Low 32 bits, zero-extended: how the ia32 ABI sees a register.
const fn lo32(v: u64) -> u64 {
    v & 0xffff_ffff
}

/// Decodes the call trapped at `entry` with register state `regs` (see the module doc for the
/// convention of each entry). Never fails: every register value is some call, possibly one the
/// kernel rejects.
pub fn decode(entry: EntryKind, regs: &Registers) -> Decoded {
    let eax = (regs.rax & 0xffff_ffff) as u32;
    match entry {
        EntryKind::Syscall64 => {
            // Bit 30 set, bit 31 clear: the range x32 dispatch can reach.
            let (abi, nr) = if eax & 0xc000_0000 == X32_SYSCALL_BIT {
                (Abi::X32, eax & !X32_SYSCALL_BIT)
            } else {
                (Abi::X86_64, eax)
            };
            Decoded {
                call: Syscall {
                    abi,
                    nr,
                    args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
                    user_rip: regs.rip,
                },
                user_stack: None,
                site_on_stack: false,
            }
        }
        EntryKind::Int80 => Decoded {
            call: Syscall {
                abi: Abi::Ia32,
                nr: eax,
                args: [lo32(regs.rbx), lo32(regs.rcx), lo32(regs.rdx), lo32(regs.rsi), lo32(regs.rdi), lo32(regs.rbp)],
                user_rip: regs.rip,
            },
            user_stack: None,
            site_on_stack: false,
        },
        EntryKind::Sysenter => Decoded {
            call: Syscall {
                abi: Abi::Ia32,
                nr: eax,
                args: [lo32(regs.rbx), lo32(regs.rcx), lo32(regs.rdx), lo32(regs.rsi), lo32(regs.rdi), 0],
                user_rip: regs.rip,
            },
            user_stack: Some(GuestVirtAddr(lo32(regs.rbp))),
            site_on_stack: true,
        },
        EntryKind::CompatSyscall => Decoded {
            call: Syscall {
                abi: Abi::Ia32,
                nr: eax,
                args: [lo32(regs.rbx), lo32(regs.rbp), lo32(regs.rdx), lo32(regs.rsi), lo32(regs.rdi), 0],
                user_rip: regs.rip,
            },
            user_stack: Some(GuestVirtAddr(lo32(regs.rsp))),
            site_on_stack: false,
        },
    }
}

/// Index of the argument the ia32 fast entries take from the user stack.
const STACK_ARG_INDEX: usize = 5;
/// Offset of the caller's return address on the user stack at a fast ia32 entry made through
/// `__kernel_vsyscall` (which pushed ecx, edx, ebp after the call pushed the return address).
const VDSO32_RETURN_OFFSET: u64 = 12;

impl Decoded {
    /// The call's ABI.
    pub const fn abi(&self) -> Abi {
        self.call.abi
    }
    /// The call number within its ABI (see [`Syscall::nr`]).
    pub const fn nr(&self) -> u32 {
        self.call.nr
    }
    /// `rip` from Xen's frame (0 for `Sysenter`, see the module doc).
    pub const fn user_rip(&self) -> u64 {
        self.call.user_rip
    }
    /// The call's name in the Linux 6.12 table of its ABI.
    pub fn name(&self) -> Option<&'static str> {
        self.call.name()
    }

    /// Argument `index` (0-based) if a register holds it; `None` if `index >= 6` or the
    /// argument lives in P's memory ([`Decoded::memory_arg`]).
    pub fn reg_arg(&self, index: usize) -> Option<u64> {
        if self.user_stack.is_some() && index == STACK_ARG_INDEX {
            return None;
        }
        self.call.args.get(index).copied()
    }

    /// The argument that only a read of P's memory can give, if any.
    pub fn memory_arg(&self) -> Option<MemoryArg> {
        self.user_stack.map(|va| MemoryArg { index: STACK_ARG_INDEX, va })
    }

    /// The whole call if every argument is in a register.
    pub fn registers_only(&self) -> Option<Syscall> {
        match self.user_stack {
            None => Some(self.call),
            Some(_) => None,
        }
    }

    /// The whole call, reading the argument that lives in P's memory (if any) through `mem`,
    /// which must translate in P's address space. For `Sysenter`, whose `rip` Xen reports as 0
    /// (the instruction saves none), the call site becomes the address the vDSO returns to
    /// ([`Decoded::vdso32_return_address`]: the instruction after P's call of
    /// `__kernel_vsyscall`, as for the other entries the instruction after the trap), so that
    /// `from SITES` rules and `$rip` work for 32-bit P. It is read from P's stack: a hint P
    /// could forge, not proof (LANGUAGE.md).
    pub fn complete<M: VirtMemory + ?Sized>(&self, mem: &mut M) -> Result<Syscall, DecodeError> {
        let mut call = self.call;
        if let Some(va) = self.user_stack {
            let word = mem.read_u32(va).map_err(|error| DecodeError::StackUnreadable { va, error })?;
            call.args[STACK_ARG_INDEX] = u64::from(word);
        }
        if self.site_on_stack {
            if let Some(ret) = self.vdso32_return_address(mem)? {
                call.user_rip = ret.0;
            }
        }
        Ok(call)
    }

    /// For `Sysenter` and `CompatSyscall`: the return address into the code that called the
    /// vDSO's `__kernel_vsyscall` — the real call site, since `rip` is 0 or inside the vDSO.
    /// `Ok(None)` for the other entries (their `rip` is the call site). Only meaningful when the
    /// entry instruction was the vDSO's (the only supported way); otherwise it is whatever P's
    /// stack holds there, so treat it as a hint, never as proof.
    pub fn vdso32_return_address<M: VirtMemory + ?Sized>(
        &self,
        mem: &mut M,
    ) -> Result<Option<GuestVirtAddr>, DecodeError> {
        let Some(sp) = self.user_stack else {
            return Ok(None);
        };
        // sp < 2^32, so the sum cannot overflow.
        let va = GuestVirtAddr(sp.0 + VDSO32_RETURN_OFFSET);
        let ret = mem.read_u32(va).map_err(|error| DecodeError::StackUnreadable { va, error })?;
        Ok(Some(GuestVirtAddr(u64::from(ret))))
    }
}

/// What the guest kernel still needs for an edited call to run as `exit_group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillCondition {
    /// The edited call runs as `exit_group` (unless something inside the guest — a ptrace
    /// tracer or P's own seccomp filter — intercepts it).
    Certain,
    /// ia32 fast entries: the guest kernel first reads the 32-bit word at `va` (the 6th
    /// argument). If that read faults it answers -EFAULT and runs nothing — neither
    /// `exit_group` nor the original call, which would have faulted the same way — so P lives
    /// on: kill it again at its next trap.
    NeedsReadableStack {
        /// The user-stack address the guest kernel reads.
        va: GuestVirtAddr,
    },
}

/// exit_group status of a process semguard kills: 128 + SIGKILL, as a shell reports it. The
/// same status Xen's fail-closed teardown uses (`XEN_DOMCTL_MONITOR_SYSCALL_KILL_STATUS` in the
/// patched domctl.h; sgmon's header test checks they agree), so a guest sees one status whoever
/// killed P. Used by semguard.ko, the static tool's dry run and sgmon's default.
pub const KILL_STATUS: i32 = 137;

/// Rewrites the call trapped at `entry` into `exit_group(status)`, in place.
///
/// - `Syscall64`: rax = 231, rdi = `status` sign-extended. This holds for x32 calls too:
///   `exit_group` is a `common` entry, so 231 runs the same `sys_exit_group` as x32's
///   `231 | 0x40000000` — but the x32 number returns -ENOSYS when the guest kernel has x32
///   disabled (Debian's default), which would let P live. 231 kills in both cases.
/// - ia32 entries: rax = 252, rbx = `status` as a 32-bit value, zero-extended.
///
/// The whole rax is written, so garbage in its upper half cannot change the call.
pub fn kill_edit(entry: EntryKind, regs: &mut Registers, status: i32) -> KillCondition {
    match entry {
        EntryKind::Syscall64 => {
            regs.rax = u64::from(NR_EXIT_GROUP_X86_64);
            regs.rdi = i64::from(status) as u64;
            KillCondition::Certain
        }
        EntryKind::Int80 | EntryKind::Sysenter | EntryKind::CompatSyscall => {
            regs.rax = u64::from(NR_EXIT_GROUP_IA32);
            regs.rbx = u64::from(status as u32);
            match decode(entry, regs).memory_arg() {
                Some(m) => KillCondition::NeedsReadableStack { va: m.va },
                None => KillCondition::Certain,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::flat::FlatMemory;
    use crate::syscall_names::{entries, name, number, table_len};
    use proptest::prelude::*;

    /// Registers with a distinct, recognisable value in every field, upper halves set.
    fn marked() -> Registers {
        Registers {
            rax: 0,
            rbx: 0xaaaa_aaaa_0000_0b0b,
            rcx: 0xaaaa_aaaa_0000_0c0c,
            rdx: 0xaaaa_aaaa_0000_0d0d,
            rsi: 0xaaaa_aaaa_0000_050e,
            rdi: 0xaaaa_aaaa_0000_0d1d,
            rbp: 0xaaaa_aaaa_0000_0b9b,
            rsp: 0xaaaa_aaaa_0000_059f,
            r8: 0x0808,
            r9: 0x0909,
            r10: 0x1010,
            r11: 0x1111,
            r12: 0x1212,
            r13: 0x1313,
            r14: 0x1414,
            r15: 0x1515,
            rip: 0x40_1000,
            rflags: 0x246,
            cr3: 0x1234_5000,
        }
    }

    #[test]
    fn syscall64_maps_registers_in_abi_order() {
        let mut r = marked();
        r.rax = 1; // write
        let d = decode(EntryKind::Syscall64, &r);
        let c = d.registers_only().unwrap();
        assert_eq!(c.abi, Abi::X86_64);
        assert_eq!(c.nr, 1);
        assert_eq!(c.args, [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
        assert_eq!(c.user_rip, 0x40_1000);
        assert_eq!(c.name(), Some("write"));
        assert_eq!(d.memory_arg(), None);
        assert_eq!(d.reg_arg(5), Some(0x0909));
        assert_eq!(d.reg_arg(6), None);
        // Nothing to read: complete does not touch memory.
        let mut empty = FlatMemory::<1>::new();
        assert_eq!(d.complete(&mut empty), Ok(c));
    }

    #[test]
    fn syscall64_ignores_upper_half_of_rax() {
        let mut r = marked();
        r.rax = 0xdead_beef_0000_00e7;
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::X86_64, 231, Some("exit_group")));
    }

    #[test]
    fn x32_bit_selects_x32_and_is_cleared() {
        let mut r = marked();
        r.rax = u64::from(X32_SYSCALL_BIT | 512);
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::X32, 512, Some("rt_sigaction")));
        assert_eq!(c.raw_nr(), 0x4000_0200);
        // x32 args are the 64-bit registers (x32 code runs in 64-bit mode).
        assert_eq!(c.args[0], r.rdi);
        // A common entry through x32.
        r.rax = u64::from(X32_SYSCALL_BIT);
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::X32, 0, Some("read")));
        // A 64-only number through x32 is a hole in the x32 table (-ENOSYS).
        r.rax = u64::from(X32_SYSCALL_BIT | 13);
        assert_eq!(decode(EntryKind::Syscall64, &r).name(), None);
    }

    #[test]
    fn negative_and_out_of_range_numbers_are_reported_not_dropped() {
        let mut r = marked();
        r.rax = 0xffff_ffff_ffff_ffff; // -1
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::X86_64, u32::MAX, None));
        assert_eq!(c.raw_nr() as i32, -1);
        // Negative with bit 30 set: neither table can take it (Linux's unsigned nr - 0x40000000
        // is 0x80000001); it stays a 64-bit number, raw.
        r.rax = 0xc000_0001;
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::X86_64, 0xc000_0001, None));
        assert_eq!(c.raw_nr(), 0xc000_0001);
        // The largest x32 number.
        r.rax = 0x7fff_ffff;
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.raw_nr()), (Abi::X32, 0x3fff_ffff, 0x7fff_ffff));
        // Just past the end of each table.
        r.rax = u64::from(table_len(Abi::X86_64));
        assert_eq!(decode(EntryKind::Syscall64, &r).name(), None);
        r.rax = u64::from(table_len(Abi::Ia32));
        assert_eq!(decode(EntryKind::Int80, &r).name(), None);
        // x32-only numbers are not 64-bit calls.
        r.rax = 512;
        assert_eq!(decode(EntryKind::Syscall64, &r).name(), None);
    }

    #[test]
    fn int80_is_ia32_with_zero_extended_args() {
        let mut r = marked();
        r.rax = 0xffff_ffff_0000_000b; // execve (ia32), garbage above
        let d = decode(EntryKind::Int80, &r);
        let c = d.registers_only().unwrap();
        assert_eq!((c.abi, c.nr, c.name()), (Abi::Ia32, 11, Some("execve")));
        assert_eq!(c.args, [0x0b0b, 0x0c0c, 0x0d0d, 0x050e, 0x0d1d, 0x0b9b]);
        assert_eq!(c.user_rip, r.rip);
        assert_eq!(d.memory_arg(), None);
    }

    #[test]
    fn sysenter_takes_arg6_from_the_stack_at_ebp() {
        let mut r = marked();
        r.rax = 192; // mmap2: six arguments
        r.rip = 0; // what Xen's sysenter_entry reports
        r.rsp = 0;
        r.rbp = 0xffff_ffff_0000_2ffc; // user esp, upper garbage
        let d = decode(EntryKind::Sysenter, &r);
        assert_eq!((d.abi(), d.nr(), d.name()), (Abi::Ia32, 192, Some("mmap2")));
        assert_eq!(d.registers_only(), None);
        assert_eq!(d.memory_arg(), Some(MemoryArg { index: 5, va: GuestVirtAddr(0x2ffc) }));
        assert_eq!(d.reg_arg(1), Some(0x0c0c)); // ecx is arg2 for sysenter
        assert_eq!(d.reg_arg(5), None);
        assert_eq!(d.user_rip(), 0);

        let mut m = FlatMemory::<2>::new();
        // __kernel_vsyscall's frame: ebp (arg6), edx, ecx, return address.
        assert!(m.write(0x2ffc, &0x1234_5678u32.to_le_bytes()));
        assert!(m.write(0x3000, &0x0d0du32.to_le_bytes()));
        assert!(m.write(0x3004, &0x0c0cu32.to_le_bytes()));
        assert!(m.write(0x3008, &0x0804_9abcu32.to_le_bytes()));
        let c = d.complete(&mut m).unwrap();
        assert_eq!(c.args, [0x0b0b, 0x0c0c, 0x0d0d, 0x050e, 0x0d1d, 0x1234_5678]);
        assert_eq!(d.vdso32_return_address(&mut m), Ok(Some(GuestVirtAddr(0x0804_9abc))));
        // The call site of a SYSENTER call: where __kernel_vsyscall returns to, not rip = 0.
        assert_eq!(c.user_rip, 0x0804_9abc);
    }

    #[test]
    fn compat_syscall_takes_arg2_from_ebp_and_arg6_from_esp() {
        let mut r = marked();
        r.rax = 5; // open (ia32)
        r.rcx = r.rip; // SYSCALL's return address, not an argument
        let d = decode(EntryKind::CompatSyscall, &r);
        assert_eq!(d.reg_arg(1), Some(0x0b9b));
        assert_eq!(d.memory_arg(), Some(MemoryArg { index: 5, va: GuestVirtAddr(0x059f) }));
        assert_eq!(d.user_rip(), r.rip);
        let mut m = FlatMemory::<1>::new();
        assert!(m.write(0x059f, &[0xef, 0xbe, 0xad, 0xde]));
        let c = d.complete(&mut m).unwrap();
        assert_eq!(c.args, [0x0b0b, 0x0b9b, 0x0d0d, 0x050e, 0x0d1d, 0xdead_beef]);
        assert_eq!(c.name(), Some("open"));
    }

    #[test]
    fn unreadable_stack_is_an_error_value() {
        let mut r = marked();
        r.rbp = 0x7000;
        let d = decode(EntryKind::Sysenter, &r);
        let mut m = FlatMemory::<1>::new();
        match d.complete(&mut m) {
            Err(DecodeError::StackUnreadable { va, error: MemError::Walk { .. } }) => {
                assert_eq!(va, GuestVirtAddr(0x7000))
            }
            other => panic!("unexpected {other:?}"),
        }
        match d.vdso32_return_address(&mut m) {
            Err(DecodeError::StackUnreadable { va, .. }) => assert_eq!(va, GuestVirtAddr(0x700c)),
            other => panic!("unexpected {other:?}"),
        }
        // Other entries have no stack-based call site.
        assert_eq!(decode(EntryKind::Int80, &r).vdso32_return_address(&mut m), Ok(None));
        // A stack pointer at the top of the 32-bit space: the word crosses 4 GiB, no wrap.
        r.rbp = 0xffff_fffe;
        let d = decode(EntryKind::Sysenter, &r);
        assert!(matches!(d.complete(&mut m), Err(DecodeError::StackUnreadable { .. })));
    }

    #[test]
    fn kill_syscall64() {
        let mut r = marked();
        r.rax = 0xffff_0000_0000_003b; // execve with upper garbage
        let before = r;
        assert_eq!(kill_edit(EntryKind::Syscall64, &mut r, -9), KillCondition::Certain);
        assert_eq!(r.rax, 231);
        assert_eq!(r.rdi, (-9i64) as u64);
        // Nothing else changes.
        assert_eq!(Registers { rax: before.rax, rdi: before.rdi, ..r }, before);
        let c = decode(EntryKind::Syscall64, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.name(), c.args[0] as i32), (Abi::X86_64, Some("exit_group"), -9));
    }

    #[test]
    fn kill_x32_uses_the_common_number() {
        // exit_group is a common entry: the same number names it in both 64-bit tables.
        assert_eq!(number(Abi::X32, "exit_group"), Some(NR_EXIT_GROUP_X86_64));
        assert_eq!(number(Abi::X86_64, "exit_group"), Some(NR_EXIT_GROUP_X86_64));
        let mut r = marked();
        r.rax = u64::from(X32_SYSCALL_BIT | 2); // x32 open
        assert_eq!(decode(EntryKind::Syscall64, &r).abi(), Abi::X32);
        assert_eq!(kill_edit(EntryKind::Syscall64, &mut r, 1), KillCondition::Certain);
        assert_eq!((r.rax, r.rdi), (231, 1));
        assert_eq!(decode(EntryKind::Syscall64, &r).name(), Some("exit_group"));
    }

    #[test]
    fn kill_int80() {
        let mut r = marked();
        r.rax = 11;
        let before = r;
        assert_eq!(kill_edit(EntryKind::Int80, &mut r, 137), KillCondition::Certain);
        assert_eq!((r.rax, r.rbx), (252, 137));
        assert_eq!(Registers { rax: before.rax, rbx: before.rbx, ..r }, before);
        let c = decode(EntryKind::Int80, &r).registers_only().unwrap();
        assert_eq!((c.abi, c.name(), c.args[0]), (Abi::Ia32, Some("exit_group"), 137));
        // A negative status is the 32-bit pattern, zero-extended.
        kill_edit(EntryKind::Int80, &mut r, -1);
        assert_eq!(r.rbx, 0xffff_ffff);
    }

    #[test]
    fn kill_fast_ia32_entries_report_the_stack_read() {
        for (entry, sp) in [(EntryKind::Sysenter, 0x0b9b), (EntryKind::CompatSyscall, 0x059f)] {
            let mut r = marked();
            r.rax = 5;
            let cond = kill_edit(entry, &mut r, 0);
            assert_eq!((r.rax, r.rbx), (252, 0));
            assert_eq!(cond, KillCondition::NeedsReadableStack { va: GuestVirtAddr(sp) });
            assert_eq!(decode(entry, &r).name(), Some("exit_group"));
        }
    }

    #[test]
    fn name_tables_match_linux_6_12() {
        assert_eq!(syscall_names::LINUX_VERSION.get(..5), Some("6.12."));
        assert_eq!(table_len(Abi::X86_64), 463);
        assert_eq!(table_len(Abi::X32), 548);
        assert_eq!(table_len(Abi::Ia32), 463);
        assert_eq!(name(Abi::X86_64, 0), Some("read"));
        assert_eq!(name(Abi::X86_64, 59), Some("execve"));
        assert_eq!(name(Abi::X86_64, 60), Some("exit"));
        assert_eq!(name(Abi::X86_64, 62), Some("kill"));
        assert_eq!(name(Abi::X86_64, 462), Some("mseal"));
        assert_eq!(name(Abi::X86_64, 183), Some("afs_syscall")); // no entry point, still named
        assert_eq!(name(Abi::Ia32, 0), Some("restart_syscall"));
        assert_eq!(name(Abi::Ia32, 1), Some("exit"));
        assert_eq!(name(Abi::Ia32, NR_EXIT_GROUP_IA32), Some("exit_group"));
        assert_eq!(name(Abi::Ia32, 222), None); // hole
        assert_eq!(name(Abi::X32, 59), None); // 64-only execve ...
        assert_eq!(number(Abi::X32, "execve"), Some(520)); // ... x32 has its own
        assert_eq!(name(Abi::X32, 547), Some("pwritev2"));
        assert_eq!(name(Abi::X32, 548), None);
        assert_eq!(name(Abi::X86_64, u32::MAX), None);
        assert_eq!(number(Abi::X86_64, "rt_sigaction"), Some(13));
        assert_eq!(number(Abi::X32, "rt_sigaction"), Some(512));
        assert_eq!(number(Abi::Ia32, "socketcall"), Some(102));
        assert_eq!(number(Abi::X86_64, "socketcall"), None);
        assert_eq!(number(Abi::X86_64, ""), None);
        assert_eq!(number(Abi::X86_64, "no_such_call"), None);
    }

    #[test]
    fn name_tables_round_trip_and_are_unique() {
        for abi in [Abi::X86_64, Abi::X32, Abi::Ia32] {
            let mut count = 0;
            for (nr, n) in entries(abi) {
                assert!(nr < table_len(abi));
                assert_eq!(name(abi, nr), Some(n));
                assert_eq!(number(abi, n), Some(nr), "{abi:?} {n} is not unique");
                count += 1;
            }
            let expected = match abi {
                Abi::X86_64 => 328 + 47,
                Abi::X32 => 328 + 36,
                Abi::Ia32 => 452,
            };
            assert_eq!(count, expected, "{abi:?}");
        }
    }

    fn any_regs() -> impl Strategy<Value = Registers> {
        (proptest::array::uniform16(any::<u64>()), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
            |(g, rip, rflags, cr3)| Registers {
                rax: g[0],
                rbx: g[1],
                rcx: g[2],
                rdx: g[3],
                rsi: g[4],
                rdi: g[5],
                rbp: g[6],
                rsp: g[7],
                r8: g[8],
                r9: g[9],
                r10: g[10],
                r11: g[11],
                r12: g[12],
                r13: g[13],
                r14: g[14],
                r15: g[15],
                rip,
                rflags,
                cr3,
            },
        )
    }

    fn any_entry() -> impl Strategy<Value = EntryKind> {
        (0u8..4).prop_map(|v| EntryKind::from_u8(v).unwrap_or(EntryKind::Syscall64))
    }

    proptest! {
        #[test]
        fn decode_invariants(entry in any_entry(), r in any_regs()) {
            let d = decode(entry, &r);
            prop_assert_eq!(d.user_rip(), r.rip);
            match entry {
                EntryKind::Syscall64 => {
                    let x32 = (r.rax as u32 as i32) >= 0 && r.rax & u64::from(X32_SYSCALL_BIT) != 0;
                    prop_assert_eq!(d.abi(), if x32 { Abi::X32 } else { Abi::X86_64 });
                    prop_assert_eq!(d.registers_only().map(|c| c.raw_nr()), Some(r.rax as u32));
                }
                _ => {
                    prop_assert_eq!(d.abi(), Abi::Ia32);
                    prop_assert_eq!(u64::from(d.nr()), r.rax & 0xffff_ffff);
                    for i in 0..6 {
                        prop_assert!(d.reg_arg(i).is_none_or(|v| v <= 0xffff_ffff));
                    }
                    let fast = entry != EntryKind::Int80;
                    prop_assert_eq!(d.memory_arg().is_some(), fast);
                    if let Some(m) = d.memory_arg() {
                        prop_assert!(m.va.0 <= 0xffff_ffff);
                    }
                }
            }
        }

        #[test]
        fn kill_always_decodes_as_exit_group(entry in any_entry(), r in any_regs(), status in any::<i32>()) {
            let mut r2 = r;
            let cond = kill_edit(entry, &mut r2, status);
            let d = decode(entry, &r2);
            prop_assert_eq!(d.name(), Some("exit_group"));
            prop_assert_eq!(d.reg_arg(0).map(|v| v as i32), Some(status));
            prop_assert_eq!(cond == KillCondition::Certain, d.memory_arg().is_none());
            // Only the number and the first argument changed.
            prop_assert_eq!(Registers { rax: r.rax, rbx: r.rbx, rdi: r.rdi, ..r2 }, r);
        }
    }
}
