//! The monitored vCPU's registers as captured by Xen at the system-call trap.

/// How the system call entered Xen. P may pick any of them, so all four are trapped and each
/// has its own register convention (see [`crate::syscall`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// 64-bit `SYSCALL` (MSR_LSTAR path).
    Syscall64 = 0,
    /// `int $0x80` (ia32 ABI).
    Int80 = 1,
    /// `SYSENTER` (ia32 ABI).
    Sysenter = 2,
    /// `SYSCALL` from a 32-bit code segment (MSR_CSTAR path, ia32 ABI).
    CompatSyscall = 3,
}

impl EntryKind {
    /// Decodes the wire value used in the Xen ABI.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Syscall64),
            1 => Some(Self::Int80),
            2 => Some(Self::Sysenter),
            3 => Some(Self::CompatSyscall),
            _ => None,
        }
    }
}

/// A general-purpose or special register, numbered as the policy bytecode names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Reg {
    Rax = 0,
    Rbx = 1,
    Rcx = 2,
    Rdx = 3,
    Rsi = 4,
    Rdi = 5,
    Rbp = 6,
    Rsp = 7,
    R8 = 8,
    R9 = 9,
    R10 = 10,
    R11 = 11,
    R12 = 12,
    R13 = 13,
    R14 = 14,
    R15 = 15,
    Rip = 16,
    Rflags = 17,
    Cr3 = 18,
}

impl Reg {
    /// Number of registers a policy can name.
    pub const COUNT: u8 = 19;

    /// Decodes a register number; `None` if out of range.
    pub const fn from_u8(v: u8) -> Option<Self> {
        use Reg::*;
        Some(match v {
            0 => Rax,
            1 => Rbx,
            2 => Rcx,
            3 => Rdx,
            4 => Rsi,
            5 => Rdi,
            6 => Rbp,
            7 => Rsp,
            8 => R8,
            9 => R9,
            10 => R10,
            11 => R11,
            12 => R12,
            13 => R13,
            14 => R14,
            15 => R15,
            16 => Rip,
            17 => Rflags,
            18 => Cr3,
            _ => return None,
        })
    }

    /// Lower-case name as used in the invariant language (`rax`, `r10`, `rip`, …).
    pub const fn name(self) -> &'static str {
        use Reg::*;
        match self {
            Rax => "rax",
            Rbx => "rbx",
            Rcx => "rcx",
            Rdx => "rdx",
            Rsi => "rsi",
            Rdi => "rdi",
            Rbp => "rbp",
            Rsp => "rsp",
            R8 => "r8",
            R9 => "r9",
            R10 => "r10",
            R11 => "r11",
            R12 => "r12",
            R13 => "r13",
            R14 => "r14",
            R15 => "r15",
            Rip => "rip",
            Rflags => "rflags",
            Cr3 => "cr3",
        }
    }
}

/// Register state of the trapped vCPU. `rip` is the user address the call returns to (the
/// instruction after `syscall`/`int $0x80`); `cr3` is the page-table base as the guest's page
/// tables name it (an MFN-based address for PV, a GFN-based one for HVM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    pub cr3: u64,
}

impl Registers {
    /// Value of register `r`.
    pub const fn get(&self, r: Reg) -> u64 {
        use Reg::*;
        match r {
            Rax => self.rax,
            Rbx => self.rbx,
            Rcx => self.rcx,
            Rdx => self.rdx,
            Rsi => self.rsi,
            Rdi => self.rdi,
            Rbp => self.rbp,
            Rsp => self.rsp,
            R8 => self.r8,
            R9 => self.r9,
            R10 => self.r10,
            R11 => self.r11,
            R12 => self.r12,
            R13 => self.r13,
            R14 => self.r14,
            R15 => self.r15,
            Rip => self.rip,
            Rflags => self.rflags,
            Cr3 => self.cr3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_numbering_round_trips() {
        for i in 0..Reg::COUNT {
            let r = Reg::from_u8(i).unwrap();
            assert_eq!(r as u8, i);
        }
        assert_eq!(Reg::from_u8(Reg::COUNT), None);
    }

    #[test]
    fn get_reads_each_field() {
        let mut regs = Registers::default();
        regs.r10 = 10;
        regs.cr3 = 0x1000;
        regs.rip = 0x401000;
        assert_eq!(regs.get(Reg::R10), 10);
        assert_eq!(regs.get(Reg::Cr3), 0x1000);
        assert_eq!(regs.get(Reg::Rip), 0x401000);
        assert_eq!(regs.get(Reg::Rax), 0);
    }

    #[test]
    fn entry_kind_wire_values() {
        for k in [EntryKind::Syscall64, EntryKind::Int80, EntryKind::Sysenter, EntryKind::CompatSyscall] {
            assert_eq!(EntryKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(EntryKind::from_u8(4), None);
    }
}
