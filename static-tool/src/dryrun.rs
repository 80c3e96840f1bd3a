//! `semguard policy check P.sgp -- P ARGS…`: the Assertion Checker dry run on the host.
//!
//! Runs P under ptrace and stops it at every system-call entry, the same point where Xen stops
//! it in the Mon-VM. There the call goes through the decision semguard.ko and `sgmon` make,
//! semguard-core's [`check_event`]: decoded from P's registers, checked with the core's
//! [`Checker`] (reading P's variables through `/proc/PID/mem`, [`ProcMem`]) and mapped through
//! the operator's [`Enforcement`] to an action. A call that is not to resume kills P before it
//! runs with the core's [`kill_edit`] — the call becomes `exit_group` — as semguard.ko does. A
//! policy can so be proven against P's benign and exploit inputs before the kernel module and
//! the Xen test bed are involved.
//!
//! What differs from the Mon-VM: the host kernel instead of the guest's (the same static P
//! makes the same calls, but a kernel may answer differently), `cr3` is 0 (no guest page
//! tables), and P's forked children are not followed (P's threads are: they share its
//! address space, so the module sees their calls too). After an `execve` into another program P is no
//! longer the program the policy describes: the dry run stops checking and lets it run.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::process::Command;

use semguard_core::addr::GuestVirtAddr;
use semguard_core::alert::{Action, AlertRecord};
use semguard_core::checker::Checker;
use semguard_core::decision::{check_event, Enforcement, FailMode, Finding as CoreFinding};
use semguard_core::eval::{EvalFault, Verdict, ViolationKind};
use semguard_core::mem::{MemError, VirtMemory};
use semguard_core::policy::Policy;
use semguard_core::regs::{EntryKind, Registers};
use semguard_core::syscall::{kill_edit, Syscall};
use semguard_core::walker::{WalkError, WalkErrorKind};
use semguard_core::xen_abi::SyscallEvent;

use crate::diag::ToolError;
use crate::show::call_name;
use crate::sysargs::{self, ArgTy};

/// `AUDIT_ARCH_X86_64` (include/uapi/linux/audit.h): the call used the 64-bit ABI (x32 too).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`: an ia32 call (`int $0x80`, `sysenter`, compat `syscall`).
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Exit status of a P killed by the dry run: the module's (semguard-core's one definition).
pub use semguard_core::syscall::KILL_STATUS;
/// Longest path argument shown in a violation line.
const SHOW_PATH: usize = 96;

/// One call that did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// 1-based number of the checked call.
    pub event: u64,
    /// The call.
    pub call: Syscall,
    /// The Assertion Checker's verdict.
    pub verdict: Verdict,
    /// What the dry run did with the call (semguard-core's mapping of the operator's
    /// [`Enforcement`]): killed P, audited it, or let it run failed open.
    pub action: Action,
    /// The invariant's name from the policy (`openat: notes_file`), if it has one.
    pub invariant_name: Option<String>,
    /// One readable line.
    pub text: String,
    /// The alert record semguard.ko would write for it (domid and vcpu 0, P's host pid).
    pub record: AlertRecord,
}

/// How P ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// P exited with this status by itself (or, once checks stopped, its new program did).
    Exited(i32),
    /// A signal ended P.
    Signaled(i32),
    /// The dry run killed P before the call of this finding ran (P exited with [`KILL_STATUS`]).
    Killed {
        /// Index in [`Report::findings`].
        finding: usize,
    },
}

/// What one dry run saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// System-call entries checked.
    pub events: u64,
    /// Calls the policy allowed.
    pub allowed: u64,
    /// Violations (including unverifiable ones in fail-closed mode).
    pub violations: u64,
    /// Invariants that could not be decided.
    pub unverifiable: u64,
    /// Every call that did not pass, in order.
    pub findings: Vec<Finding>,
    /// P `execve`d another program at this event; checks stopped there.
    pub left_program: Option<(u64, String)>,
    /// The program run is not the one the policy was compiled for (its build-id differs from
    /// the policy's identity): why, for a warning. The run is checked all the same.
    pub identity_mismatch: Option<String>,
    /// How P ended.
    pub ending: Ending,
}

impl Report {
    /// The summary and one line per finding.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(why) = &self.identity_mismatch {
            let _ = writeln!(s, "warning: {why}");
        }
        for f in &self.findings {
            let _ = writeln!(s, "{}", f.text);
        }
        if let Some((ev, exe)) = &self.left_program {
            let _ = writeln!(s, "note: after event {ev} P runs another program ({exe}): not checked further");
        }
        let end = match self.ending {
            Ending::Exited(c) => format!("P exited with status {c}"),
            Ending::Signaled(sig) => format!("P was ended by signal {sig}"),
            Ending::Killed { finding } => match self.findings.get(finding) {
                Some(f) => format!(
                    "P killed before event {} ({} at {:#x}) ran: exit_group({KILL_STATUS})",
                    f.event,
                    call_name(f.call.abi, f.call.nr),
                    f.call.user_rip
                ),
                None => "P killed".to_string(),
            },
        };
        let _ = writeln!(
            s,
            "semguard check: {} events, {} allowed, {} violations, {} unverifiable; {end}",
            self.events, self.allowed, self.violations, self.unverifiable
        );
        s
    }
}

/// Why `prog` is not the program `policy` records as P (build-ids differ, or `prog` has
/// none); `None` if it is, or if the policy records no identity.
pub fn identity_mismatch(policy: &Policy<'_>, prog: &std::path::Path) -> Result<Option<String>, ToolError> {
    let Some(want) = policy.identity() else { return Ok(None) };
    let want_hex = crate::elf::hex(want.build_id());
    let have = crate::elf::read_build_id(prog)?;
    Ok(match have {
        Some(b) if b.bytes == want.build_id() => None,
        Some(b) => Some(format!(
            "{} has build-id {}, the policy was compiled for build-id {want_hex}: this is not the program the policy describes (semguard.ko will not take it for P once it identifies P by build-id)",
            prog.display(),
            b.hex()
        )),
        None => Some(format!(
            "{} has no build-id, the policy was compiled for build-id {want_hex}: this is not the program the policy describes (semguard.ko will not take it for P once it identifies P by build-id)",
            prog.display()
        )),
    })
}

/// P's memory through `/proc/PID/mem`: the host counterpart of the guest page-table walk.
pub struct ProcMem {
    file: File,
}

impl ProcMem {
    /// Opens the memory of process `pid` (the caller traces it).
    pub fn open(pid: i32) -> std::io::Result<ProcMem> {
        Ok(ProcMem { file: File::open(format!("/proc/{pid}/mem"))? })
    }
}

impl VirtMemory for ProcMem {
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
        let len = buf.len() as u64;
        let end = va.0.checked_add(len).ok_or(MemError::Overflow)?;
        // /proc/PID/mem takes an off_t: the upper half (the kernel's, non-canonical for user
        // space) cannot be named, and P cannot map it either.
        if end > i64::MAX as u64 {
            return Err(MemError::Walk { va, error: WalkError { level: 4, kind: WalkErrorKind::NonCanonical } });
        }
        let mut done = 0usize;
        // Page by page, so a failure names the first page P has not mapped.
        while done < buf.len() {
            let a = va.0 + done as u64;
            let n = ((0x1000 - (a & 0xfff)) as usize).min(buf.len() - done);
            let chunk = buf.get_mut(done..done + n).ok_or(MemError::BufferTooSmall)?;
            if self.file.read_exact_at(chunk, a).is_err() {
                // The kernel refuses unmapped addresses: what the walker reports as a page
                // that is not present (the level is not known here).
                return Err(MemError::Walk {
                    va: GuestVirtAddr(a),
                    error: WalkError { level: 1, kind: WalkErrorKind::NotPresent },
                });
            }
            done += n;
        }
        Ok(())
    }
}

fn errno(what: &str) -> ToolError {
    ToolError::Os { what: what.to_string(), error: std::io::Error::last_os_error() }
}

/// ptrace(2); the error is errno.
fn ptrace_raw(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> Result<libc::c_long, std::io::Error> {
    // SAFETY: the requests used here take an integer or a pointer to a live, correctly sized
    // buffer of ours in `data` (checked at each call site).
    let r = unsafe { libc::ptrace(req, pid, addr as *mut libc::c_void, data as *mut libc::c_void) };
    if r == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

fn ptrace(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> Result<libc::c_long, ToolError> {
    ptrace_raw(req, pid, addr, data).map_err(|error| ToolError::Ptrace { request: req, pid, error })
}

fn get_regs(pid: i32) -> Result<libc::user_regs_struct, ToolError> {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETREGS, pid, 0, &mut r as *mut _ as usize)?;
    Ok(r)
}

fn syscall_info(pid: i32) -> Result<libc::ptrace_syscall_info, ToolError> {
    // SAFETY: ptrace_syscall_info is plain integers; all-zero is a valid value.
    let mut info: libc::ptrace_syscall_info = unsafe { std::mem::zeroed() };
    // The kernel writes at most `addr` bytes.
    ptrace(libc::PTRACE_GET_SYSCALL_INFO, pid, std::mem::size_of_val(&info), &mut info as *mut _ as usize)?;
    Ok(info)
}

/// The registers as Xen reports them at the trap: the number in rax (ptrace shows it in
/// orig_rax; rax already holds -ENOSYS), rip after the trapping instruction.
fn core_regs(r: &libc::user_regs_struct) -> Registers {
    Registers {
        rax: r.orig_rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rbp: r.rbp,
        rsp: r.rsp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        rflags: r.eflags,
        cr3: 0,
    }
}

/// `filename="/tmp/x"` for the path (and name) arguments of `sc` ([`ArgTy::Path`]).
fn path_args(sc: &Syscall, mem: &mut ProcMem) -> String {
    let Some(args) = sc.name().and_then(sysargs::args) else { return String::new() };
    let mut s = String::new();
    for (i, (name, ty)) in args.iter().enumerate() {
        if *ty != ArgTy::Path {
            continue;
        }
        let Some(&ptr) = sc.args.get(i) else { continue };
        let mut buf = [0u8; SHOW_PATH];
        let mut n = 0;
        // Byte by byte up to the NUL, so a string at the end of a mapping is still shown.
        while n < SHOW_PATH {
            match mem.read_u8(GuestVirtAddr(ptr.wrapping_add(n as u64))) {
                Ok(0) => break,
                Ok(b) => buf[n] = b,
                Err(_) => break,
            }
            n += 1;
        }
        let _ = write!(s, " {name}={}", crate::show::quote(&buf[..n]));
    }
    s
}

fn describe(event: u64, sc: &Syscall, v: &Verdict, policy: &Policy<'_>, mem: &mut ProcMem) -> (String, Option<String>) {
    let inv_name = |index: u16| policy.invariant(index).and_then(|i| i.name().map(String::from));
    let mut s = format!("event {event}: {} at {:#x}", call_name(sc.abi, sc.nr), sc.user_rip);
    let name = match v {
        Verdict::Allow => None,
        Verdict::Violation { invariant, kind, values } => {
            let what = match kind {
                ViolationKind::InvariantFalse => "invariant false".to_string(),
                ViolationKind::Denied => "denied".to_string(),
                ViolationKind::WrongCallSite => "wrong call site".to_string(),
                ViolationKind::DefaultDeny => "no rule (default deny)".to_string(),
                ViolationKind::OtherAbi => "ABI the policy has no rules for".to_string(),
                ViolationKind::Trace { state } => format!("no trace transition from state {state}"),
            };
            let name = invariant.and_then(|i| inv_name(i.index));
            let _ = write!(s, ": VIOLATION {what}");
            if let Some(i) = invariant {
                let _ = write!(s, ", invariant id {} {:?}", i.id, name.as_deref().unwrap_or("?"));
            }
            if !values.as_slice().is_empty() {
                let vals: Vec<String> = values.as_slice().iter().map(|v| format!("{v:#x}")).collect();
                let _ = write!(s, ", values [{}]", vals.join(", "));
            }
            name
        }
        Verdict::Unverifiable { invariant, at, reason } => {
            let name = inv_name(invariant.index);
            let why = match reason {
                EvalFault::Memory { addr, .. } => format!("P's memory at {addr:#x} is unreadable"),
                EvalFault::DivideByZero => "division by zero".to_string(),
                EvalFault::StringTooLong { addr, max } => format!("no NUL within {max} bytes at {addr:#x}"),
                EvalFault::Malformed => "malformed invariant".to_string(),
            };
            let _ = write!(
                s,
                ": UNVERIFIABLE invariant id {} {:?} at +{at:#x}: {why}",
                invariant.id,
                name.as_deref().unwrap_or("?")
            );
            name
        }
    };
    let args: Vec<String> = sc.args.iter().map(|a| format!("{a:#x}")).collect();
    let _ = write!(s, "; args [{}]{}", args.join(", "), path_args(sc, mem));
    (s, name)
}

/// Runs `command` (P and its arguments; stdin/stdout/stderr are inherited) under ptrace and
/// checks every system call against `policy`.
///
/// `stdin`: P's standard input (`None`: inherited). P's threads are waited for with
/// `waitpid(-1)`, so the calling process should have no other children meanwhile (the
/// `semguard` command has none).
/// Where process `pid`'s image is loaded, for a policy whose identity is relative (0
/// otherwise): `AT_ENTRY` from `/proc/PID/auxv` − P's entry point — what semguard.ko reads
/// from the kernel's copy of the same vector. 0 when that is not a placement of P (then the
/// identity warning says why, and the checks fail rather than pass).
fn load_base(pid: i32, policy: &Policy<'_>) -> u64 {
    const AT_ENTRY: u64 = 9;
    let Some(id) = policy.identity().filter(|id| id.relative()) else { return 0 };
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).unwrap_or_default();
    let word = |c: &[u8]| c.try_into().map(u64::from_le_bytes).unwrap_or(0);
    auxv.chunks_exact(16)
        .find(|kv| word(&kv[..8]) == AT_ENTRY)
        .and_then(|kv| id.load_base(word(&kv[8..])))
        .unwrap_or(0)
}

pub fn run(
    policy_blob: &[u8],
    command: &[OsString],
    enforcement: Enforcement,
    stdin: Option<std::fs::File>,
) -> Result<Report, ToolError> {
    let policy = Policy::decode(policy_blob)?;
    let checker = Checker::new(policy);
    let Some((prog, args)) = command.split_first() else {
        return Err(ToolError::Usage("no program to run"));
    };
    let p_meta = std::fs::metadata(prog).map_err(|e| ToolError::io(prog.to_string_lossy(), e))?;
    let identity_mismatch = identity_mismatch(&policy, std::path::Path::new(prog))?;

    let mut cmd = Command::new(prog);
    cmd.args(args);
    if let Some(f) = stdin {
        cmd.stdin(f);
    }
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe ptrace system call.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            ) == -1
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| ToolError::io(prog.to_string_lossy(), e))?;
    let pid = child.id() as i32;

    // The first stop: only the child can be waited for yet.
    let wait = |status: &mut i32| -> Result<(), ToolError> {
        loop {
            // SAFETY: `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, status, libc::__WALL) };
            if r == pid {
                return Ok(());
            }
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(errno("waitpid"));
        }
    };

    // The child stops with SIGTRAP once its execve of P succeeded (PTRACE_TRACEME).
    let mut status = 0;
    wait(&mut status)?;
    if !libc::WIFSTOPPED(status) {
        return Err(ToolError::NotStarted { program: prog.to_string_lossy().into_owned(), status });
    }
    // P's threads share its address space, so Xen reports their calls too: follow them
    // (TRACECLONE), but not forked children, which have their own (the module watches one).
    let opts =
        libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_TRACECLONE | libc::PTRACE_O_EXITKILL;
    ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as usize)?;
    // Alerts name P by its comm (what the module's `process=` matches).
    let comm: Vec<u8> = std::fs::read(format!("/proc/{pid}/comm"))
        .map(|c| c.into_iter().filter(|&b| b != b'\n').collect())
        .unwrap_or_default();
    // Threads share one address space: the leader's /proc/PID/mem reads it.
    let mut mem = ProcMem::open(pid).map_err(|e| ToolError::io(format!("/proc/{pid}/mem"), e))?;

    let mut report = Report {
        events: 0,
        allowed: 0,
        violations: 0,
        unverifiable: 0,
        findings: Vec::new(),
        left_program: None,
        identity_mismatch,
        ending: Ending::Exited(0),
    };
    // One automaton state per process, as the module keeps one per monitored address space,
    // with where its image is loaded (a position-independent P).
    let mut state = checker.new_process();
    state.set_base(load_base(pid, &policy));
    let mut killed: Option<usize> = None;
    let mut checking = true;
    let mut threads: std::collections::HashSet<i32> = [pid].into_iter().collect();
    let resume = |tid: i32, sig: i32, checking: bool| -> Result<(), ToolError> {
        let req = if checking { libc::PTRACE_SYSCALL } else { libc::PTRACE_CONT };
        match ptrace_raw(req, tid, 0, sig as usize) {
            Ok(_) => Ok(()),
            // The thread is gone (killed with its group); its exit is reported next.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(error) => Err(ToolError::Os { what: format!("resuming thread {tid}"), error }),
        }
    };
    resume(pid, 0, checking)?;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let tid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if tid == -1 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(errno("waitpid"));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            threads.remove(&tid);
            if tid != pid {
                continue;
            }
            // The leader's end is reported after every other thread's: P is gone.
            report.ending = if libc::WIFSIGNALED(status) {
                Ending::Signaled(libc::WTERMSIG(status))
            } else {
                let code = libc::WEXITSTATUS(status);
                match killed {
                    Some(finding) if code == KILL_STATUS => Ending::Killed { finding },
                    _ => Ending::Exited(code),
                }
            };
            break;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        if threads.insert(tid) {
            // A new thread's first stop (its initial SIGSTOP): run it.
            resume(tid, 0, checking)?;
            continue;
        }
        let sig = libc::WSTOPSIG(status);
        match status >> 16 {
            libc::PTRACE_EVENT_CLONE => {
                resume(tid, 0, checking)?;
                continue;
            }
            libc::PTRACE_EVENT_EXEC => {
                // P replaced its program (the exec'ing thread now has the leader's id; the
                // other threads are gone). The same program again starts from its beginning;
                // another one is not what the policy describes.
                threads.clear();
                threads.insert(pid);
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
                let still_p = std::fs::metadata(format!("/proc/{pid}/exe"))
                    .is_ok_and(|m| m.dev() == p_meta.dev() && m.ino() == p_meta.ino());
                mem = ProcMem::open(pid).map_err(|e| ToolError::io(format!("/proc/{pid}/mem"), e))?;
                if still_p {
                    state.reset(&checker);
                    state.set_base(load_base(pid, &policy));
                } else if checking {
                    report.left_program = Some((report.events, exe.display().to_string()));
                    checking = false;
                }
                resume(pid, 0, checking)?;
                continue;
            }
            _ => {}
        }
        if sig != (libc::SIGTRAP | 0x80) {
            // A stop signal without siginfo is a group-stop, not a signal to deliver
            // (re-injecting it would stop the thread again and again).
            let group_stop = matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU) && {
                // SAFETY: siginfo_t is plain data; all-zero is a valid value.
                let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
                ptrace_raw(libc::PTRACE_GETSIGINFO, tid, 0, &mut si as *mut _ as usize).is_err()
            };
            resume(tid, if group_stop { 0 } else { sig }, checking)?;
            continue;
        }
        let info = syscall_info(tid)?;
        if info.op != libc::PTRACE_SYSCALL_INFO_ENTRY || !checking {
            resume(tid, 0, checking)?;
            continue;
        }
        let regs = get_regs(tid)?;
        let entry = match info.arch {
            AUDIT_ARCH_X86_64 => EntryKind::Syscall64,
            // Under ptrace every ia32 entry shows all six arguments in registers (the kernel
            // has already fetched a fast entry's sixth), as int $0x80 has them.
            AUDIT_ARCH_I386 => EntryKind::Int80,
            other => return Err(ToolError::UnknownArch(other)),
        };
        report.events += 1;
        // No guest page tables (cr3 and user_pgd 0) and one vCPU; the event number as seq.
        let ev = SyscallEvent { vcpu_id: 0, entry, seq: report.events as u32, user_pgd: 0, parent_pgd: 0, set_flags: 0, regs: core_regs(&regs) };
        // The module's decision: decode, check, the operator's enforcement → action.
        let decision = check_event(&checker, &mut state, &ev, &mut mem, enforcement);
        let verdict = match decision.finding {
            None => None,
            Some(CoreFinding::Verdict(v)) => Some(v),
            // Both entries above decode with all six arguments in registers, so the decoder
            // reads nothing from P's memory.
            Some(CoreFinding::StackUnreadable { .. }) => {
                return Err(ToolError::Unexpected("an ia32 call with an argument in memory"))
            }
            // check_event always has the policy.
            Some(CoreFinding::NoPolicy) => return Err(ToolError::Unexpected("a call checked without a policy")),
        };
        // The counts: an unverifiable call is a violation when failing closed and allowed when
        // failing open, in enforce and audit mode alike.
        match decision.finding {
            None => report.allowed += 1,
            Some(f) if f.is_unverifiable() => {
                report.unverifiable += 1;
                match enforcement.fail {
                    FailMode::Open => report.allowed += 1,
                    FailMode::Closed => report.violations += 1,
                }
            }
            Some(_) => report.violations += 1,
        }
        if let (Some(v), Some(action)) = (verdict, decision.action) {
            let sc = decision.call;
            let (mut text, invariant_name) = describe(report.events, &sc, &v, checker.policy(), &mut mem);
            if tid != pid {
                let _ = write!(text, " (thread {tid})");
            }
            let policy_id = checker.policy().policy_id();
            let Some(mut record) = decision.alert(&ev, policy_id, 0, pid as u32, &comm) else {
                return Err(ToolError::Unexpected("no alert record for a non-allow verdict"));
            };
            record.seq = report.findings.len() as u64;
            record.time_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            report.findings.push(Finding {
                event: report.events,
                call: sc,
                verdict: v,
                action,
                invariant_name,
                text,
                record,
            });
        }
        if !decision.resumes() {
            // The module's edit: the call becomes exit_group(KILL_STATUS), which ends every
            // thread of P. ptrace runs the number in orig_rax.
            let mut r = ev.regs;
            kill_edit(entry, &mut r, KILL_STATUS);
            let mut w = regs;
            w.orig_rax = r.rax;
            w.rax = r.rax;
            w.rdi = r.rdi;
            w.rbx = r.rbx;
            ptrace(libc::PTRACE_SETREGS, tid, 0, &w as *const _ as usize)?;
            killed = report.findings.len().checked_sub(1);
        }
        resume(tid, 0, checking)?;
    }
    Ok(report)
}
