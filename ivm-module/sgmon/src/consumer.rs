//! What sgmon does with one request: select (latch, pgd, number), print, decide, build the
//! response. No I/O here, so the host tests drive it with requests built by semguard-core.

use crate::args::{CallSpec, Config, Mode, Select, Trigger};
use crate::domctl::{bitmap_set, bitmap_test, Filter};
use crate::policy::{Finder, Judge};
use semguard_core::alert::Action as CoreAction;
use semguard_core::decision::{resume_response, Decision, Enforcement, FailMode, Finding};
use semguard_core::process::FindError;
use semguard_core::regs::EntryKind;
use semguard_core::syscall::{decode, Decoded, KillCondition, Syscall};
use semguard_core::tracking::is_exit_group;
use semguard_core::tracking::PGD_MASK;
use semguard_core::xen_abi::{
    SyscallEvent, VmEventSt, MONITOR_SYSCALL_BITMAP_BYTES, MONITOR_SYSCALL_NR_IA32, VM_EVENT_SIZE,
};
use std::fmt::{self, Write as _};

/// Counters for the DONE line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Selected calls (EVENT lines).
    pub events: u64,
    /// Per entry (lstar, int80, sysenter, cstar).
    pub per_entry: [u64; 4],
    /// Calls rewritten to exit_group.
    pub killed: u64,
    /// Calls left unanswered.
    pub held: u64,
    /// Calls from another page-table base than the selected one (Xen's pgd filter failed).
    pub foreign: u64,
    /// Calls whose number is outside the bitmap (Xen always reports numbers from
    /// `MONITOR_SYSCALL_NR_IA32` up).
    pub outside: u64,
    /// Latch-number calls from other processes or with another marker argument.
    pub ignored: u64,
    /// Requests that are not valid syscall events.
    pub bad: u64,
    /// check/enforce: calls the policy allowed.
    pub allowed: u64,
    /// check/enforce: violations.
    pub violations: u64,
    /// check/enforce: calls the checker could not decide.
    pub unverifiable: u64,
}

/// What to do with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Put this response on the ring (`VmEventSt::response_bytes`: its head, or all of it
    /// when it carries registers).
    Answer(Box<VmEventSt>),
    /// Leave the vCPU waiting.
    Hold,
    /// Nothing to answer (the bytes do not even decode).
    Drop,
}

/// Result of [`Consumer::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Output lines (without newline), each starting with "SGMON ".
    pub lines: Vec<String>,
    /// Install this filter in Xen before answering (the latch).
    pub refilter: Option<Filter>,
    /// The response (or not).
    pub action: Action,
}

/// Consumer state.
pub struct Consumer {
    cfg: Config,
    filter: Filter,
    /// Latch still waiting for its marker.
    latching: Option<(CallSpec, Option<u64>)>,
    /// check/enforce: the Assertion Checker and how what it does not allow becomes an action.
    judge: Option<(Box<dyn Judge>, Enforcement)>,
    /// `--comm`: the task-list search, until it finds P.
    finder: Option<Box<dyn Finder>>,
    /// Last search error printed (printed once per distinct error).
    find_error: Option<FindError>,
    /// Ring index from which requests were reported under the current filter: ones before it
    /// (other vCPUs' calls queued while the latch replaced the filter) passed the old one.
    filter_from: Option<u32>,
    /// Counters.
    pub stats: Stats,
}

/// Name of an entry as EVENT lines print it.
pub fn entry_name(e: EntryKind) -> &'static str {
    match e {
        EntryKind::Syscall64 => "lstar",
        EntryKind::Int80 => "int80",
        EntryKind::Sysenter => "sysenter",
        EntryKind::CompatSyscall => "cstar",
    }
}

fn spec_of(entry: EntryKind, d: &Decoded) -> CallSpec {
    CallSpec { ia32: entry != EntryKind::Syscall64, nr: d.nr() }
}

impl Consumer {
    /// State for `cfg`; `judge` decides calls in check/enforce mode; `finder` looks for P by
    /// name (`--comm`).
    pub fn new(cfg: Config, judge: Option<Box<dyn Judge>>, finder: Option<Box<dyn Finder>>) -> Self {
        let (pgd_match, pgd_mask, bitmap, latching) = match cfg.select {
            Select::Any => (0, 0, cfg.bitmap, None),
            Select::Pgd(a) => (a & PGD_MASK, PGD_MASK, cfg.bitmap, None),
            Select::Latch(spec, arg) => {
                let mut bm = [0u8; MONITOR_SYSCALL_BITMAP_BYTES];
                bitmap_set(&mut bm, spec.bit());
                (0, 0, Some(bm), Some((spec, arg)))
            }
            // Every call of every process until P is found: any of them can trigger the search.
            Select::Comm => (0, 0, None, None),
        };
        let filter = Filter { pgd_match, pgd_mask, bitmap, fail_open: cfg.fail == FailMode::Open };
        let finder = if cfg.select == Select::Comm { finder } else { None };
        let judge = judge.zip(cfg.enforcement());
        Self { cfg, filter, latching, judge, finder, find_error: None, filter_from: None, stats: Stats::default() }
    }

    /// The filter to install now.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// After a refilter: Xen reported requests from ring index `req_prod` on (read after the
    /// filter domctl returned; Xen pauses the domain while it swaps the filter) under the new
    /// filter.
    pub fn filter_applied_from(&mut self, req_prod: u32) {
        self.filter_from = Some(req_prod);
    }

    /// One request from the ring, found at ring index `index`.
    pub fn handle(&mut self, raw: &[u8; VM_EVENT_SIZE], index: u32) -> Outcome {
        let mut out = Outcome { lines: Vec::new(), refilter: None, action: Action::Drop };
        let req = match VmEventSt::from_bytes(raw) {
            Ok(r) => r,
            Err(e) => {
                self.stats.bad += 1;
                out.lines.push(format!("SGMON BAD error={e:?}"));
                return out;
            }
        };
        let ev = match req.syscall_event() {
            Ok(ev) => ev,
            Err(e) => {
                self.stats.bad += 1;
                out.lines.push(format!("SGMON BAD v={} reason={} error={e:?}", req.vcpu_id, req.reason));
                // Answer it (semguard-core's resume_response, as semguard.ko does) so no vCPU
                // is left paused on our account; Xen drops a response that matches nothing
                // outstanding.
                out.action = encode(&resume_response(&req));
                return out;
            }
        };
        let d = decode(ev.entry, &ev.regs);
        let spec = spec_of(ev.entry, &d);
        let answer = |req: &VmEventSt| encode(&resume_response(req));

        if let Some((marker, arg)) = self.latching {
            if spec == marker && arg.is_none_or(|a| d.reg_arg(0) == Some(a)) {
                // P stays paused in this call until the new filter is in Xen: nothing it does
                // afterwards can be missed.
                self.latching = None;
                out.refilter = Some(self.narrow_to(ev.regs.cr3));
                out.lines.push(format!(
                    "SGMON LATCH pgd={:#x} v={} seq={} entry={} nr={}",
                    self.filter.pgd_match,
                    ev.vcpu_id,
                    ev.seq,
                    entry_name(ev.entry),
                    spec.nr
                ));
            } else {
                self.stats.ignored += 1;
            }
            out.action = answer(&req);
            return out;
        }

        if let Some(f) = self.finder.as_mut() {
            match f.find(ev.regs.cr3) {
                Ok(Some((pgd, tgid))) => {
                    // The caller is paused: the new filter is in place before anything after
                    // this call runs.
                    self.finder = None;
                    out.refilter = Some(self.narrow_to(pgd));
                    out.lines.push(format!(
                        "SGMON LATCH pgd={:#x} comm={} pid={tgid} v={} seq={} at_nr={} own={}",
                        self.filter.pgd_match,
                        self.cfg.comm.as_deref().unwrap_or("?"),
                        ev.vcpu_id,
                        ev.seq,
                        spec.nr,
                        u8::from(self.filter.pgd_selects(ev.regs.cr3))
                    ));
                    // This call is counted below only if it is P's and selected by number.
                }
                Ok(None) => {
                    self.stats.ignored += 1;
                    out.action = answer(&req);
                    return out;
                }
                Err(e) => {
                    self.stats.ignored += 1;
                    if self.find_error != Some(e) {
                        out.lines.push(format!("SGMON FIND error={e:?}"));
                        self.find_error = Some(e);
                    }
                    out.action = answer(&req);
                    return out;
                }
            }
            // The call that triggered the search counts only if it is P's and selected by
            // number (the filter it was reported under selected everything).
            if !self.filter.pgd_selects(ev.regs.cr3) || !self.number_selected(ev.regs.rax, spec) {
                self.stats.ignored += 1;
                out.action = answer(&req);
                return out;
            }
        }
        if let Some(from) = self.filter_from {
            // Wrapping comparison of free-running ring indices.
            if (index.wrapping_sub(from) as i32) < 0 {
                self.stats.ignored += 1;
                out.action = answer(&req);
                return out;
            }
        }
        if !self.filter.pgd_selects(ev.regs.cr3) {
            self.stats.foreign += 1;
            out.lines
                .push(format!("SGMON FOREIGN v={} seq={} cr3={:#x} nr={}", ev.vcpu_id, ev.seq, ev.regs.cr3, spec.nr));
            out.action = answer(&req);
            return out;
        }
        if !self.number_selected(ev.regs.rax, spec) {
            self.stats.outside += 1;
            out.lines.push(format!(
                "SGMON OUTSIDE v={} seq={} entry={} rax={:#x}",
                ev.vcpu_id,
                ev.seq,
                entry_name(ev.entry),
                ev.regs.rax
            ));
            out.action = answer(&req);
            return out;
        }

        self.stats.events += 1;
        if let Some(c) = self.stats.per_entry.get_mut(ev.entry as usize) {
            *c += 1;
        }
        let n = self.stats.events;
        if matches!(self.cfg.mode, Mode::Watch | Mode::Kill | Mode::Hold) {
            out.lines.push(event_line(n, &ev, &d));
        }
        let killed_before = self.stats.killed;
        let triggered = match self.cfg.trigger {
            Some(Trigger::At(k)) => k == n,
            Some(Trigger::Nr(s)) => s == spec,
            None => false,
        };
        // The decision on this call, if any: semguard-core's (decode, check, the operator's
        // enforcement → action) in check/enforce, a kill for kill mode's trigger.
        let mut decision = None;
        if let Some((j, enforcement)) = self.judge.as_mut() {
            let decided = j.judge(&ev, *enforcement);
            match &decided.finding {
                None => self.stats.allowed += 1,
                Some(f) => {
                    if f.is_unverifiable() {
                        self.stats.unverifiable += 1;
                    } else {
                        self.stats.violations += 1;
                    }
                    out.lines.push(format!(
                        "SGMON VERDICT n={n} entry={} nr={} name={} verdict={} detail={}",
                        entry_name(ev.entry),
                        d.nr(),
                        d.name().unwrap_or("?"),
                        verdict_word(f),
                        Detail(f)
                    ));
                }
            }
            decision = Some(decided);
        } else if self.cfg.mode == Mode::Kill && triggered {
            decision = Some(trigger_kill(&d));
        }
        out.action = if self.cfg.mode == Mode::Hold && triggered {
            self.stats.held += 1;
            out.lines.push(format!("SGMON HOLD n={n} v={} seq={} nr={}", ev.vcpu_id, ev.seq, spec.nr));
            Action::Hold
        } else if let Some(decision) = decision {
            // semguard-core's answer to the decision: resume, or the call rewritten to
            // exit_group(--status). Enforce kills what the core's mapping kills (violations;
            // undecided calls unless failing open), check never, kill mode's trigger always.
            let (rsp, cond) = decision.response_with_status(&req, self.cfg.status);
            if let Some(cond) = cond {
                self.stats.killed += 1;
                let cond = match cond {
                    KillCondition::Certain => "certain".to_string(),
                    KillCondition::NeedsReadableStack { va } => format!("needs-stack@{:#x}", va.0),
                };
                out.lines.push(format!(
                    "SGMON KILL n={n} v={} seq={} entry={} nr={} status={} cond={cond}",
                    ev.vcpu_id,
                    ev.seq,
                    entry_name(ev.entry),
                    spec.nr,
                    self.cfg.status
                ));
            }
            encode(&rsp)
        } else {
            answer(&req)
        };
        // P ends in this call (its exit_group, or the one we made of it): its page-table frame
        // goes back to the guest's allocator and the next process may get it at once. Select
        // nothing from now on, before P is resumed, rather than watch (or kill) a stranger.
        let ends_p = matches!(out.action, Action::Answer(_))
            && (is_exit_group(d.abi(), d.nr()) || self.stats.killed > killed_before);
        if ends_p && !matches!(self.cfg.select, Select::Any) {
            let pgd = self.filter.pgd_match;
            self.filter.pgd_match = 0; // frame 0 is never a guest's page table
            self.filter.pgd_mask = PGD_MASK;
            out.refilter = Some(self.filter.clone());
            out.lines.push(format!("SGMON UNLATCH pgd={pgd:#x} reason=exit"));
        }
        out
    }

    /// The filter for P once found: its page-table base, the configured numbers.
    fn narrow_to(&mut self, pgd: u64) -> Filter {
        self.filter.pgd_match = pgd & PGD_MASK;
        self.filter.pgd_mask = PGD_MASK;
        self.filter.bitmap = self.cfg.bitmap;
        self.filter.clone()
    }

    /// Does the number filter select this call (as Xen tests it: numbers from
    /// `MONITOR_SYSCALL_NR_IA32` up never are)?
    fn number_selected(&self, rax: u64, spec: CallSpec) -> bool {
        match &self.filter.bitmap {
            None => true,
            Some(bm) => rax < MONITOR_SYSCALL_NR_IA32 as u64 && bitmap_test(bm, spec.bit()),
        }
    }

    /// The DONE line.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "SGMON DONE events={} lstar={} int80={} sysenter={} cstar={} killed={} held={} foreign={} outside={} ignored={} bad={} allowed={} violations={} unverifiable={} latched={} pgd={:#x}",
            s.events,
            s.per_entry[0],
            s.per_entry[1],
            s.per_entry[2],
            s.per_entry[3],
            s.killed,
            s.held,
            s.foreign,
            s.outside,
            s.ignored,
            s.bad,
            s.allowed,
            s.violations,
            s.unverifiable,
            u8::from(match self.cfg.select {
                Select::Latch(..) => self.latching.is_none(),
                Select::Comm => self.finder.is_none(),
                Select::Any | Select::Pgd(_) => false,
            }),
            self.filter.pgd_match
        )
    }
}

/// Kill mode's trigger as a decision: kill the call (no finding: the operator chose it). The
/// 6th argument of an ia32 fast entry lives in P's memory and is not read (0): the kill does
/// not need it.
fn trigger_kill(d: &Decoded) -> Decision {
    let call = Syscall {
        abi: d.abi(),
        nr: d.nr(),
        args: std::array::from_fn(|i| d.reg_arg(i).unwrap_or(0)),
        user_rip: d.user_rip(),
    };
    Decision { call, finding: None, action: Some(CoreAction::Killed), retry: None }
}

fn encode(rsp: &VmEventSt) -> Action {
    Action::Answer(Box::new(*rsp))
}

/// The `verdict=` word of a VERDICT line.
pub fn verdict_word(f: &Finding) -> &'static str {
    if f.is_unverifiable() {
        "unverifiable"
    } else {
        "violation"
    }
}

/// The `detail=` of a VERDICT line (display only): the checker's verdict as its Debug, or the
/// unreadable 6th argument of an ia32 fast entry.
pub struct Detail<'a>(pub &'a Finding);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Finding::Verdict(v) => write!(f, "{v:?}"),
            Finding::StackUnreadable { va, error } => write!(f, "6th argument unreadable at {:#x}: {error:?}", va.0),
            Finding::NoPolicy => f.write_str("no policy"),
        }
    }
}

/// `SGMON EVENT n=.. v=.. seq=.. entry=.. nr=.. name=.. args=a,b,c,d,e,f rip=.. rsp=.. cr3=..`
/// (`?` for an argument only guest memory holds).
pub fn event_line(n: u64, ev: &SyscallEvent, d: &Decoded) -> String {
    let mut args = String::new();
    for i in 0..6 {
        if i > 0 {
            args.push(',');
        }
        match d.reg_arg(i) {
            Some(v) => {
                let _ = write!(args, "{v:#x}");
            }
            None => args.push('?'),
        }
    }
    format!(
        "SGMON EVENT n={n} v={} seq={} entry={} nr={} name={} args={args} rip={:#x} rsp={:#x} cr3={:#x}",
        ev.vcpu_id,
        ev.seq,
        entry_name(ev.entry),
        d.nr(),
        d.name().unwrap_or("?"),
        ev.regs.rip,
        ev.regs.rsp,
        ev.regs.cr3
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use semguard_core::addr::GuestVirtAddr;
    use semguard_core::eval::{Values, Verdict, ViolationKind};
    use semguard_core::mem::MemError;
    use semguard_core::regs::Registers;
    use semguard_core::xen_abi::{VmEventSyscall, VmEventU, VM_EVENT_FLAG_SET_REGISTERS, VM_EVENT_FLAG_VCPU_PAUSED};

    fn cfg(s: &str) -> Config {
        parse(s.split_whitespace().map(String::from)).unwrap()
    }

    fn req(seq: u32, entry: EntryKind, rax: u64, rdi: u64, cr3: u64) -> [u8; VM_EVENT_SIZE] {
        let regs = Registers { rax, rdi, rbx: rdi, cr3, rip: 0x40_1000, rsp: 0x7ffe_0000, ..Default::default() };
        let mut r = VmEventSt::syscall_request(0, entry, &regs);
        r.u = VmEventU::from_syscall(VmEventSyscall { entry: entry as u32, seq, user_pgd: cr3 + 0x1000, ..VmEventSyscall::default() });
        let mut b = [0; VM_EVENT_SIZE];
        r.to_bytes(&mut b).unwrap();
        b
    }

    fn rsp(a: &Action) -> VmEventSt {
        match a {
            Action::Answer(b) => **b,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn latch_then_pgd_and_numbers() {
        let mut c = Consumer::new(cfg("1 --latch 24:0x5347 --nr 110,1 watch"), None, None);
        let f = c.filter().clone();
        assert_eq!((f.pgd_mask, f.bitmap.map(|b| bitmap_test(&b, 24))), (0, Some(true)));
        assert!(!bitmap_test(&f.bitmap.unwrap(), 110), "only the marker while latching");
        // Another process's sched_yield with another argument: answered, ignored.
        let o = c.handle(&req(1, EntryKind::Syscall64, 24, 0, 0x5000), 0);
        assert!(o.refilter.is_none() && o.lines.is_empty());
        assert_eq!(rsp(&o.action).u.syscall().seq, 1);
        // The marker: new filter for its pgd, then answered.
        let o = c.handle(&req(2, EntryKind::Syscall64, 24, 0x5347, 0x3ead_1000), 0);
        let nf = o.refilter.unwrap();
        assert_eq!((nf.pgd_match, nf.pgd_mask), (0x3ead_1000, PGD_MASK));
        assert!(bitmap_test(&nf.bitmap.unwrap(), 110) && !bitmap_test(&nf.bitmap.unwrap(), 24));
        assert!(o.lines[0].starts_with("SGMON LATCH pgd=0x3ead1000 "));
        assert_eq!(rsp(&o.action).flags & VM_EVENT_FLAG_SET_REGISTERS, 0);
        // P's getppid: an EVENT.
        let o = c.handle(&req(3, EntryKind::Syscall64, 110, 0, 0x3ead_1000), 0);
        assert!(
            o.lines[0].starts_with("SGMON EVENT n=1 v=0 seq=3 entry=lstar nr=110 name=getppid args=0x0,"),
            "{}",
            o.lines[0]
        );
        // Someone else's (Xen should have filtered it): FOREIGN, answered.
        let o = c.handle(&req(4, EntryKind::Syscall64, 110, 0, 0x4000_0000), 0);
        assert!(o.lines[0].starts_with("SGMON FOREIGN"));
        assert!(matches!(o.action, Action::Answer(_)));
        // A number not in the bitmap: OUTSIDE.
        let o = c.handle(&req(5, EntryKind::Syscall64, 39, 0, 0x3ead_1000), 0);
        assert!(o.lines[0].starts_with("SGMON OUTSIDE"));
        let s = c.stats;
        assert_eq!((s.events, s.ignored, s.foreign, s.outside, s.per_entry[0]), (1, 1, 1, 1, 1));
        assert!(c.summary().contains("latched=1 pgd=0x3ead1000"));
    }

    #[test]
    fn exit_of_the_selected_process_selects_nothing_more() {
        let mut c = Consumer::new(cfg("1 --latch 24:0x5347 watch"), None, None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 24, 0x5347, 0x3ead1000), 0);
        assert!(o.refilter.is_some(), "latched");
        let o = c.handle(&req(2, EntryKind::Syscall64, 110, 0, 0x3ead1000), 1);
        assert!(o.refilter.is_none(), "an ordinary call changes nothing");
        let o = c.handle(&req(3, EntryKind::Syscall64, 231, 0, 0x3ead1000), 2);
        let f = o.refilter.expect("exit_group unlatches");
        assert_eq!((f.pgd_match, f.pgd_mask), (0, PGD_MASK));
        assert!(matches!(o.action, Action::Answer(_)), "P's exit_group still runs");
        assert!(o.lines.iter().any(|l| l == "SGMON UNLATCH pgd=0x3ead1000 reason=exit"));
        // A kill ends P too; with --any nothing is narrowed.
        let mut c = Consumer::new(cfg("1 --pgd 0x7000 --at 1 --status 9 kill"), None, None);
        assert!(c.handle(&req(1, EntryKind::Syscall64, 110, 0, 0x7000), 0).refilter.is_some());
        let mut c = Consumer::new(cfg("1 watch"), None, None);
        assert!(c.handle(&req(1, EntryKind::Syscall64, 231, 0, 0x7000), 0).refilter.is_none());
    }

    #[test]
    fn kill_at_k_per_abi() {
        let mut c = Consumer::new(cfg("1 --at 2 --status 42 kill"), None, None);
        let o = c.handle(&req(7, EntryKind::Syscall64, 110, 5, 0x1000), 0);
        assert_eq!(rsp(&o.action).flags & VM_EVENT_FLAG_SET_REGISTERS, 0);
        let o = c.handle(&req(8, EntryKind::Syscall64, 110, 5, 0x1000), 0);
        let r = rsp(&o.action);
        assert_ne!(r.flags & VM_EVENT_FLAG_SET_REGISTERS, 0);
        assert_eq!((r.data.rax, r.data.rdi, r.u.syscall().seq), (231, 42, 8));
        assert!(o.lines.iter().any(|l| l.starts_with("SGMON KILL n=2 ") && l.contains("status=42 cond=certain")));
        // ia32 kill by number: exit_group 252 with the status in ebx.
        let mut c = Consumer::new(cfg("1 --on-nr32 64 --status 9 kill"), None, None);
        let r = rsp(&c.handle(&req(1, EntryKind::Int80, 64, 0, 0x1000), 0).action);
        assert_eq!((r.data.rax, r.data.rbx), (252, 9));
        let r = rsp(&c.handle(&req(2, EntryKind::Syscall64, 64, 0, 0x1000), 0).action);
        assert_eq!(r.flags & VM_EVENT_FLAG_SET_REGISTERS, 0, "64-bit 64 is uname's neighbour, not the trigger");
        // SYSENTER: the core's kill says it needs P's stack to be readable.
        let o = c.handle(&req(3, EntryKind::Sysenter, 64, 0, 0x1000), 0);
        assert_eq!(rsp(&o.action).data.rax, 252);
        assert!(
            o.lines.iter().any(|l| l.ends_with("entry=sysenter nr=64 status=9 cond=needs-stack@0x0")),
            "{:?}",
            o.lines
        );
        assert_eq!(c.stats.killed, 2);
    }

    #[test]
    fn hold_and_count() {
        let mut c = Consumer::new(cfg("1 --on-nr 110 hold"), None, None);
        assert!(matches!(c.handle(&req(1, EntryKind::Syscall64, 1, 1, 0), 0).action, Action::Answer(_)));
        let o = c.handle(&req(2, EntryKind::Syscall64, 110, 0, 0), 0);
        assert_eq!(o.action, Action::Hold);
        assert!(o.lines.iter().any(|l| l.starts_with("SGMON HOLD n=2 v=0 seq=2 nr=110")));
        let mut c = Consumer::new(cfg("1 count"), None, None);
        let o = c.handle(&req(1, EntryKind::CompatSyscall, 64, 0, 0), 0);
        assert!(o.lines.is_empty());
        assert_eq!(c.stats.per_entry[3], 1);
    }

    #[test]
    fn fast_ia32_sixth_argument_is_not_guessed() {
        let mut c = Consumer::new(cfg("1 watch"), None, None);
        let o = c.handle(&req(1, EntryKind::Sysenter, 64, 0, 0), 0);
        assert!(o.lines[0].contains("entry=sysenter nr=64 name=getppid args=0x0,0x0,0x0,0x0,0x0,? "), "{}", o.lines[0]);
    }

    /// Judges by the first argument: 0 allow, 1 violation, else unverifiable (an unreadable
    /// stack); the action is semguard-core's mapping.
    struct ByArg;
    impl Judge for ByArg {
        fn judge(&mut self, ev: &SyscallEvent, enforcement: Enforcement) -> Decision {
            let bad = Verdict::Violation { invariant: None, kind: ViolationKind::Denied, values: Values::new() };
            let finding = match ev.regs.rdi {
                0 => None,
                1 => Some(Finding::Verdict(bad)),
                _ => Some(Finding::StackUnreadable { va: GuestVirtAddr(0x7ffe_0000), error: MemError::Overflow }),
            };
            let d = decode(ev.entry, &ev.regs);
            let call = Syscall { abi: d.abi(), nr: d.nr(), args: [0; 6], user_rip: d.user_rip() };
            Decision { call, finding, action: finding.map(|f| enforcement.action(f.is_unverifiable())), retry: None }
        }
    }

    #[test]
    fn check_reports_and_enforce_kills_what_is_not_allowed() {
        let mut c = Consumer::new(cfg("1 --policy p.sgp check"), Some(Box::new(ByArg)), None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 1, 0, 0), 0);
        assert!(o.lines.is_empty(), "allowed calls are only counted");
        let o = c.handle(&req(2, EntryKind::Syscall64, 1, 1, 0), 0);
        assert!(o.lines[0]
            .starts_with("SGMON VERDICT n=2 entry=lstar nr=1 name=write verdict=violation detail=Violation {"));
        assert_eq!(rsp(&o.action).flags & VM_EVENT_FLAG_SET_REGISTERS, 0, "check mode only reports");
        let mut c = Consumer::new(cfg("1 --policy p.sgp --status 137 enforce"), Some(Box::new(ByArg)), None);
        assert_eq!(
            rsp(&c.handle(&req(1, EntryKind::Syscall64, 1, 0, 0), 0).action).flags & VM_EVENT_FLAG_SET_REGISTERS,
            0
        );
        let r = rsp(&c.handle(&req(2, EntryKind::Syscall64, 1, 1, 0), 0).action);
        assert_eq!((r.data.rax, r.data.rdi), (231, 137));
        let r = rsp(&c.handle(&req(3, EntryKind::Int80, 4, 7, 0), 0).action);
        assert_eq!((r.data.rax, r.data.rbx), (252, 137), "unverifiable: fail closed");
        let s = c.stats;
        assert_eq!((s.allowed, s.violations, s.unverifiable, s.killed), (1, 1, 1, 2));
        assert!(c.summary().contains("allowed=1 violations=1 unverifiable=1"));
    }

    #[test]
    fn enforce_fails_closed_or_open_on_undecided_calls() {
        // Closed (the default): killed like a violation, the VERDICT line says why.
        let mut c = Consumer::new(cfg("1 --policy p.sgp --status 137 enforce"), Some(Box::new(ByArg)), None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 1, 7, 0), 0);
        assert_eq!(
            o.lines[0],
            "SGMON VERDICT n=1 entry=lstar nr=1 name=write verdict=unverifiable \
             detail=6th argument unreadable at 0x7ffe0000: Overflow"
        );
        assert!(o.lines[1].starts_with("SGMON KILL n=1 "));
        assert_eq!(rsp(&o.action).data.rax, 231);
        // Open: reported, counted, and the call runs; a violation is still killed.
        let mut c = Consumer::new(cfg("1 --policy p.sgp --fail open enforce"), Some(Box::new(ByArg)), None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 1, 7, 0), 0);
        assert!(o.lines[0].contains(" verdict=unverifiable ") && o.lines.len() == 1, "{:?}", o.lines);
        assert_eq!(rsp(&o.action).flags & VM_EVENT_FLAG_SET_REGISTERS, 0, "failed open");
        let r = rsp(&c.handle(&req(2, EntryKind::Syscall64, 1, 1, 0), 0).action);
        assert_eq!(r.data.rax, 231);
        let s = c.stats;
        assert_eq!((s.violations, s.unverifiable, s.killed), (1, 1, 1));
        assert!(c.filter().fail_open, "--fail open is Xen's filter flag too");
        // Check mode never kills, whatever the fail mode.
        let mut c = Consumer::new(cfg("1 --policy p.sgp check"), Some(Box::new(ByArg)), None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 1, 7, 0), 0);
        assert_eq!((o.lines.len(), rsp(&o.action).flags & VM_EVENT_FLAG_SET_REGISTERS), (1, 0));
        assert_eq!(c.stats.unverifiable, 1);
    }

    #[test]
    fn verdict_detail_is_the_checkers_verdict() {
        let v = Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Values::new() };
        assert_eq!(Detail(&Finding::Verdict(v)).to_string(), format!("{v:?}"));
        assert_eq!(verdict_word(&Finding::Verdict(v)), "violation");
    }

    /// Finds P (pgd 0x7000, tgid 42) once the caller's cr3 is 0x9000 (the task exists then).
    struct FindAt9000;
    impl Finder for FindAt9000 {
        fn find(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, FindError> {
            match cr3 {
                0x9000 => Ok(Some((0x7000, 42))),
                0x6000 => Err(FindError::Cycle { at: GuestVirtAddr(0xffff_8880_0001_0000), visited: 3 }),
                _ => Ok(None),
            }
        }
    }

    #[test]
    fn comm_search_then_pgd() {
        let mut c = Consumer::new(cfg("1 --comm sysseq --nr 110 watch"), None, Some(Box::new(FindAt9000)));
        assert_eq!((c.filter().pgd_mask, c.filter().bitmap), (0, None), "everything while searching");
        let o = c.handle(&req(1, EntryKind::Syscall64, 0, 0, 0x5000), 0);
        assert!(o.lines.is_empty() && o.refilter.is_none());
        let o = c.handle(&req(2, EntryKind::Syscall64, 0, 0, 0x6000), 0);
        assert_eq!(o.lines.len(), 1);
        assert!(o.lines[0].starts_with("SGMON FIND error=Cycle "), "{}", o.lines[0]);
        assert!(c.handle(&req(3, EntryKind::Syscall64, 0, 0, 0x6000), 0).lines.is_empty(), "each error once");
        // Found from another process's call: new filter, that call is not P's.
        let o = c.handle(&req(4, EntryKind::Syscall64, 1, 0, 0x9000), 0);
        let f = o.refilter.unwrap();
        assert_eq!((f.pgd_match, f.pgd_mask), (0x7000, PGD_MASK));
        assert!(bitmap_test(&f.bitmap.unwrap(), 110));
        assert!(o.lines[0].starts_with("SGMON LATCH pgd=0x7000 comm=sysseq pid=42 "), "{}", o.lines[0]);
        assert!(matches!(o.action, Action::Answer(_)));
        let o = c.handle(&req(5, EntryKind::Syscall64, 110, 0, 0x7000), 0);
        assert!(o.lines[0].starts_with("SGMON EVENT n=1 "));
        assert!(c.summary().contains("latched=1 pgd=0x7000"));
        // Found from P's own call, which is counted when its number is selected.
        let mut c = Consumer::new(cfg("1 --comm p count"), None, Some(Box::new(FindAt9000)));
        let o = c.handle(&req(1, EntryKind::Syscall64, 12, 0, 0x9000), 0);
        assert!(o.lines[0].contains(" own=0"));
        let mut c = Consumer::new(cfg("1 --comm p count"), None, Some(Box::new(FindSelf)));
        let o = c.handle(&req(1, EntryKind::Syscall64, 12, 0, 0x7000), 0);
        assert!(o.lines[0].contains(" own=1"));
        assert_eq!(c.stats.events, 1);
    }

    struct FindSelf;
    impl Finder for FindSelf {
        fn find(&mut self, _cr3: u64) -> Result<Option<(u64, u32)>, FindError> {
            Ok(Some((0x7000, 1)))
        }
    }

    #[test]
    fn requests_queued_before_a_refilter_are_not_blamed_on_xen() {
        let mut c = Consumer::new(cfg("1 --latch 24 --nr 110 watch"), None, None);
        let o = c.handle(&req(1, EntryKind::Syscall64, 24, 0, 0x3000), 10);
        assert!(o.refilter.is_some());
        c.filter_applied_from(12);
        // Index 11: another vCPU's marker-number call queued under the old filter.
        assert!(c.handle(&req(1, EntryKind::Syscall64, 24, 0, 0x5000), 11).lines.is_empty());
        let o = c.handle(&req(2, EntryKind::Syscall64, 110, 0, 0x5000), 12);
        assert!(o.lines[0].starts_with("SGMON FOREIGN"), "after the boundary it is Xen's filter");
        let o = c.handle(&req(3, EntryKind::Syscall64, 110, 0, 0x3000), 13);
        assert!(o.lines[0].starts_with("SGMON EVENT n=1 "));
        assert_eq!((c.stats.ignored, c.stats.foreign), (1, 1));
        // Free-running indices wrap.
        c.filter_applied_from(2);
        assert!(c.handle(&req(4, EntryKind::Syscall64, 110, 0, 0x5000), u32::MAX).lines.is_empty());
    }

    #[test]
    fn invalid_requests_are_echoed() {
        let mut c = Consumer::new(cfg("1 watch"), None, None);
        let mut b = req(9, EntryKind::Syscall64, 1, 0, 0);
        b[24] = 7; // entry 7 does not exist
        let o = c.handle(&b, 0);
        let r = rsp(&o.action);
        assert_eq!((r.flags, r.u.syscall().seq, r.data.rax), (VM_EVENT_FLAG_VCPU_PAUSED, 9, 1));
        assert!(o.lines[0].starts_with("SGMON BAD v=0 reason=31 error=BadEntryKind"));
        assert_eq!(r, resume_response(&VmEventSt::from_bytes(&b).unwrap()), "the core's answer to a bad request");
        assert_eq!((c.stats.bad, c.stats.events), (1, 0));
    }
}
