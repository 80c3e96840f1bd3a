// SPDX-License-Identifier: GPL-2.0

//! The event path: Xen's monitor ring, P's system calls through the Assertion Checker, the
//! verdict back to Xen — and finding P from outside, following it across execve.
//!
//! # Locking
//!
//! Everything the event path touches lives in [`SHARED`], guarded by one IRQ-safe spinlock
//! (xen.c; [`xen::LockGuard`]). The event handler runs in hard-IRQ context (no thread wake-up
//! per event) and holds the lock while it drains the ring; control paths (load, rmmod, policy
//! replacement, the periodic poll) hold it for their state changes and the domctls that change
//! the filter. Nothing under the lock sleeps or allocates; the steps that sleep (unbinding the
//! IRQ, returning pages) run without it, after the state says "detached".
//!
//! # Phases (see README.md, "Waiting for P")
//!
//! - `Waiting`: P is not running. Xen reports `execve`/`execveat` of every process. An exec
//!   whose file's base name is `process` (or cannot be read) switches to `Switching`.
//! - `Switching`: every call of every process is reported until the task list shows a task
//!   named `process` whose pgd is the calling one: that call is P's first, and is checked.
//! - `Tracking`: only P's pgd (and, where the policy allows, only the numbers it has rules
//!   for) is reported; each call is checked. P's exec → `Switching`; its `exit_group` or its
//!   kill → `Waiting`.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use kernel::prelude::*;
use semguard_core::addr::{GuestVirtAddr, Machine};
use semguard_core::alert::{Action, AlertRecord};
use semguard_core::checker::{Checker, ProcessState};
use semguard_core::eval::Verdict;
use semguard_core::process::{find_first, FindError, ProcessInfo, Select};
use semguard_core::profile::Profile;
use semguard_core::syscall::{self, DecodeError, Syscall, KILL_STATUS};
use semguard_core::tcache::TranslationCache;
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::{PagingConfig, PagingMode};
use semguard_core::xen_abi::{
    build_response, kill_response, SyscallEvent, VmEventSt, RING_SLOTS, VM_EVENT_FLAG_VCPU_PAUSED, VM_EVENT_SIZE,
};

use crate::alerts::AlertRing;
use crate::config::{Config, FailMode, Mode};
use crate::counters::{Counter, Stage, Stopwatch, COUNTERS, PROFILE};
use crate::filter::{comm_of_path, exec_path_arg, is_exit_group, tracking_bitmap, waiting_bitmap, BITMAP_BYTES};
use crate::fmap::{ForeignFrames, SLOTS};
use crate::policy::{LoadedPolicy, Summary};
use crate::xen::{self, FAIL_OPEN, NR_FILTER};

/// Most tasks the finder visits (the list is guest data: bounded).
const TASK_LIMIT: usize = 8192;
/// Most vCPU ids accepted in a request (Xen's PV limit is far lower).
const MAX_VCPUS: u32 = 4096;
/// Longest exec path read to predict the new comm.
const EXEC_PATH_MAX: usize = 256;
/// Events in `Switching` without finding P before giving up (back to `Waiting`; the poll
/// still finds a P that started meanwhile).
const SWITCH_BUDGET: u32 = 20_000;
/// Most ring passes per IRQ: the first, and looks for requests that came during a notification.
const DRAIN_ROUNDS: usize = 4;
/// Period of the housekeeping poll.
pub(crate) const POLL_MS: u32 = 1000;
/// Kernel log lines per violation: at most this many per [`LOG_WINDOW_NS`].
const LOG_BURST: u32 = 10;
const LOG_WINDOW_NS: u64 = 5_000_000_000;

/// Where the monitor is in following P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// P not running: only exec calls are reported.
    Waiting,
    /// An exec may have started P: every call is reported until P is found.
    Switching {
        /// The pgd (machine address) and pid of the exec'ing process, when it was P itself:
        /// calls from that pgd mean P goes on there (its exec failed, or it was a vfork child's).
        from_p: Option<(u64, u32)>,
        /// Events seen in this phase.
        events: u32,
    },
    /// P found: its calls are checked.
    Tracking {
        /// P's pgd, machine address (what Xen compares with `guest_table`).
        pgd: u64,
        /// P's pid (tgid).
        pid: u32,
    },
}

/// Which Xen resources are set up (torn down in reverse, see [`detach`]).
#[derive(Clone, Copy, Default)]
struct XenState {
    fmap: bool,
    ring: Option<u64>,
    vm_event: bool,
    bound: bool,
    monitor: bool,
}

/// The monitor of one load of the module.
pub(crate) struct Monitor {
    config: Config,
    policy: LoadedPolicy,
    profile: Profile,
    paging: PagingConfig,
    phase: Phase,
    pstate: ProcessState,
    xen: XenState,
    /// Ring indices (the private back ring).
    req_cons: u32,
    rsp_prod_pvt: u32,
    log_window: u64,
    log_count: u32,
    log_suppressed: u32,
    /// Why the monitor stopped, if it did.
    stopped: Option<&'static str>,
}

/// Everything the event path uses; large parts are statics so nothing big is on the stack.
pub(crate) struct Shared {
    monitor: Option<Monitor>,
    frames: ForeignFrames,
    tcache: TranslationCache<Machine>,
    alerts: AlertRing,
    /// When the last drain that answered something ended (ns, 0: none yet), for `Stage::Idle`.
    last_drain_end: u64,
}

/// [`Shared`] behind the monitor lock.
pub(crate) struct Global(UnsafeCell<Shared>);

// SAFETY: the contents are only reached through `with_shared`, which holds the IRQ-safe
// spinlock for the whole access, so at most one context uses them at a time.
unsafe impl Sync for Global {}

static SHARED: Global = Global(UnsafeCell::new(Shared {
    monitor: None,
    frames: ForeignFrames::new(),
    tcache: TranslationCache::new(),
    alerts: AlertRing::new(),
    last_drain_end: 0,
}));

/// Runs `f` on the shared state with the monitor lock held. `f` must not call `with_shared`
/// (the lock is not recursive) nor sleep.
fn with_shared<R>(f: impl FnOnce(&mut Shared) -> R) -> R {
    let _guard = xen::LockGuard::lock();
    // SAFETY: the lock is held until `_guard` drops, after `f` returned; no other reference
    // to the contents exists outside this function (see `Global`).
    let shared = unsafe { &mut *SHARED.0.get() };
    f(shared)
}

impl Monitor {
    fn process(&self) -> &[u8] {
        self.config.process.as_str().as_bytes()
    }

    /// Tells Xen the filter of the current phase.
    fn apply_filter(&self) -> Result {
        let domid = self.config.domid;
        match self.phase {
            Phase::Waiting => xen::monitor_enable(domid, NR_FILTER | FAIL_OPEN, 0, 0, &waiting_bitmap()),
            // Other processes are never killed for a call semguard cannot take: fail open.
            Phase::Switching { .. } => xen::monitor_enable(domid, FAIL_OPEN, 0, 0, &[0; BITMAP_BYTES]),
            Phase::Tracking { pgd, .. } => {
                let p = self.policy.policy().ok_or(EINVAL)?;
                let fail = match self.config.fail {
                    FailMode::Open => FAIL_OPEN,
                    FailMode::Closed => 0,
                };
                match tracking_bitmap(&p) {
                    Some(b) => xen::monitor_enable(domid, NR_FILTER | fail, pgd, !0xfff, &b),
                    None => xen::monitor_enable(domid, fail, pgd, !0xfff, &[0; BITMAP_BYTES]),
                }
            }
        }
    }

    /// Moves to `phase` and tells Xen; a failing domctl is logged (the old filter stays,
    /// which reports a superset or the guest is gone).
    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        match phase {
            Phase::Tracking { pid, .. } => {
                COUNTERS.set(Counter::Pid, u64::from(pid));
                COUNTERS.inc(Counter::Attaches);
                if let Some(p) = self.policy.policy() {
                    self.pstate = Checker::new(p).new_process();
                }
            }
            _ => COUNTERS.set(Counter::Pid, 0),
        }
        if self.xen.monitor {
            if let Err(e) = self.apply_filter() {
                pr_warn!("domain {}: changing the monitor filter failed: error {}\n", self.config.domid, e.to_errno());
            }
        }
    }

    fn log_allowed(&mut self) -> bool {
        let now = xen::now_ns();
        if now.wrapping_sub(self.log_window) > LOG_WINDOW_NS {
            if self.log_suppressed > 0 {
                pr_info!("{} violation lines suppressed\n", self.log_suppressed);
            }
            self.log_window = now;
            self.log_count = 0;
            self.log_suppressed = 0;
        }
        if self.log_count < LOG_BURST {
            self.log_count += 1;
            true
        } else {
            self.log_suppressed = self.log_suppressed.saturating_add(1);
            false
        }
    }
}

impl Shared {
    /// Finds P by name through the address space `cr3` (any process's pgd maps the guest
    /// kernel). `Ok(None)` if no task has that name.
    fn find_p(&mut self, cr3: u64) -> Result<Option<ProcessInfo<Machine>>, FindError> {
        let Some(m) = self.monitor.as_ref() else { return Ok(None) };
        let root = m.paging.root_from_cr3::<Machine>(cr3);
        self.tcache.new_epoch();
        let mut mem = GuestMemory::new(&mut self.frames, &mut self.tcache, root, m.paging);
        match find_first(&mut mem, &m.profile, Select::Comm(m.process()), TASK_LIMIT) {
            Ok(p) => Ok(Some(p)),
            Err(FindError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether an exec at this event may start P: the path's base name is `process`, or the
    /// path cannot be read (execveat of an fd, a hostile pointer): then assume it may.
    fn exec_may_start_p(&mut self, ev: &SyscallEvent, path_va: Option<u64>) -> bool {
        let Some(m) = self.monitor.as_ref() else { return false };
        let Some(va) = path_va else { return true };
        let root = m.paging.root_from_cr3::<Machine>(ev.regs.cr3);
        self.tcache.new_epoch();
        let mut mem = GuestMemory::new(&mut self.frames, &mut self.tcache, root, m.paging);
        let mut path = [0u8; EXEC_PATH_MAX];
        use semguard_core::mem::VirtMemory;
        match mem.read_cstr(GuestVirtAddr(va), &mut path) {
            Ok(n) if n > 0 => path.get(..n).map_or(true, |p| comm_of_path(p) == m.process()),
            _ => true,
        }
    }

    /// Drains the ring: every request gets exactly one response; one notification per pass.
    /// Bounded: [`DRAIN_ROUNDS`] passes of at most the ring size (Xen notifies again for later
    /// requests).
    fn drain(&mut self) {
        let Some(m) = self.monitor.as_mut() else { return };
        if !m.xen.bound || m.xen.ring.is_none() {
            return;
        }
        let drain_t0 = xen::now_ns();
        let mut sw = Stopwatch::start(self.frames.read_ns);
        let mut total = 0usize;
        // After a notification Xen resumes the vCPU, which may trap again before this handler
        // returns: look again and answer that request now, instead of leaving the IRQ and
        // taking it again (Xen's RING_FINAL_CHECK_FOR_REQUESTS). Bounded: its event stays
        // pending and brings the handler back for anything left.
        for round in 0..DRAIN_ROUNDS {
            let rp = xen::ring_req_prod();
            let mut answered = 0usize;
            while answered < RING_SLOTS {
                let Some(m) = self.monitor.as_mut() else { break };
                if m.req_cons == rp {
                    break;
                }
                sw = Stopwatch::start(self.frames.read_ns);
                let mut buf = [0u8; VM_EVENT_SIZE];
                xen::ring_get(m.req_cons, &mut buf);
                m.req_cons = m.req_cons.wrapping_add(1);
                let rsp = self.handle(&buf, &mut sw);
                let Some(m) = self.monitor.as_mut() else { break };
                let mut out = [0u8; VM_EVENT_SIZE];
                if rsp.to_bytes(&mut out).is_ok() {
                    xen::ring_put(m.rsp_prod_pvt, &out);
                    m.rsp_prod_pvt = m.rsp_prod_pvt.wrapping_add(1);
                }
                sw.lap(Stage::Response, self.frames.read_ns);
                PROFILE.add(Stage::Request, sw.total());
                COUNTERS.record_event(sw.total());
                answered += 1;
            }
            if answered == 0 {
                break;
            }
            if round > 0 {
                PROFILE.add_late(answered as u64);
            }
            total += answered;
            let Some(m) = self.monitor.as_ref() else { break };
            xen::ring_push_responses(m.rsp_prod_pvt);
            xen::notify();
            sw.lap(Stage::Notify, self.frames.read_ns);
        }
        if total > 0 {
            // Only drains that answered something: an IRQ whose requests an earlier pass took
            // is not the end of an idle period.
            let idle = drain_t0.wrapping_sub(self.last_drain_end);
            if self.last_drain_end != 0 && idle < 1_000_000_000 {
                PROFILE.add(Stage::Idle, idle);
            }
            PROFILE.add(Stage::Drain, sw.last().wrapping_sub(drain_t0));
            self.last_drain_end = sw.last();
        }
    }

    /// One request → its response.
    fn handle(&mut self, buf: &[u8; VM_EVENT_SIZE], sw: &mut Stopwatch) -> VmEventSt {
        COUNTERS.inc(Counter::Events);
        // 400 bytes always decode; the fields are validated next.
        let req = VmEventSt::from_bytes(buf).unwrap_or_default();
        let ev = req.syscall_event();
        sw.lap(Stage::Ring, self.frames.read_ns);
        let ev = match ev {
            Ok(ev) if ev.vcpu_id < MAX_VCPUS => ev,
            other => {
                COUNTERS.inc(Counter::BadRequests);
                pr_warn!("bad request on the ring (vcpu {}): {:?}\n", req.vcpu_id, other.err());
                // Answer anyway so that a paused vCPU is not left waiting; Xen drops a
                // response that matches nothing outstanding.
                return VmEventSt { flags: VM_EVENT_FLAG_VCPU_PAUSED, ..req };
            }
        };
        let allow = || build_response(&req, None).unwrap_or(VmEventSt { flags: VM_EVENT_FLAG_VCPU_PAUSED, ..req });
        let Some(m) = self.monitor.as_mut() else { return allow() };
        let cr3 = ev.regs.cr3 & !0xfff;
        match m.phase {
            Phase::Tracking { pgd, .. } if pgd == cr3 => self.check(&req, &ev, sw),
            Phase::Tracking { .. } => {
                // Reported under a filter that was just replaced.
                COUNTERS.inc(Counter::Other);
                allow()
            }
            Phase::Waiting => {
                COUNTERS.inc(Counter::Other);
                let d = syscall::decode(ev.entry, &ev.regs);
                if let Some(arg) = exec_path_arg(d.abi(), d.nr()) {
                    let may = self.exec_may_start_p(&ev, d.reg_arg(arg));
                    sw.lap(Stage::Find, self.frames.read_ns);
                    if may {
                        if let Some(m) = self.monitor.as_mut() {
                            m.enter(Phase::Switching { from_p: None, events: 0 });
                        }
                    }
                }
                allow()
            }
            Phase::Switching { from_p, events } => {
                if let Some((old, pid)) = from_p {
                    if old == cr3 {
                        // P's exec failed (it goes on in its old address space): keep tracking it.
                        m.enter(Phase::Tracking { pgd: cr3, pid });
                        return self.check(&req, &ev, sw);
                    }
                }
                let old_pgd = from_p.map(|(old, _)| old);
                let found = self.find_p(ev.regs.cr3);
                sw.lap(Stage::Find, self.frames.read_ns);
                match found {
                    // P still in its old address space: its exec is under way.
                    Ok(Some(p)) if Some(p.pgd.base()) == old_pgd => {}
                    Ok(Some(p)) => {
                        let pgd = p.pgd.base();
                        if let Some(m) = self.monitor.as_mut() {
                            pr_info!(
                                "found {} in domain {}: pid {} pgd {:#x}\n",
                                m.config.process,
                                m.config.domid,
                                p.tgid,
                                pgd
                            );
                            m.enter(Phase::Tracking { pgd, pid: p.tgid });
                        }
                        if pgd == cr3 {
                            // P's first call of its new program.
                            return self.check(&req, &ev, sw);
                        }
                    }
                    Ok(None) if from_p.is_some() => {
                        // No task is named `process` any more: P's exec gave it another name.
                        if let Some(m) = self.monitor.as_mut() {
                            pr_info!("{} exec'd another program: waiting for it again\n", m.config.process);
                            m.enter(Phase::Waiting);
                        }
                        COUNTERS.inc(Counter::Other);
                        return allow();
                    }
                    Ok(None) | Err(_) => {}
                }
                COUNTERS.inc(Counter::Other);
                if let Some(m) = self.monitor.as_mut() {
                    if let Phase::Switching { from_p, .. } = m.phase {
                        let events = events.saturating_add(1);
                        if events >= SWITCH_BUDGET {
                            pr_info!("no {} after {} calls since an exec: waiting again\n", m.config.process, events);
                            m.enter(Phase::Waiting);
                        } else {
                            m.phase = Phase::Switching { from_p, events };
                        }
                    }
                }
                allow()
            }
        }
    }

    /// Checks one of P's calls and builds the response (the kill in enforce mode).
    fn check(&mut self, req: &VmEventSt, ev: &SyscallEvent, sw: &mut Stopwatch) -> VmEventSt {
        let allow = || build_response(req, None).unwrap_or(VmEventSt { flags: VM_EVENT_FLAG_VCPU_PAUSED, ..*req });
        let Some(m) = self.monitor.as_mut() else { return allow() };
        let Some(policy) = m.policy.policy() else {
            // Cannot happen (the layout was made from these bytes); never let it allow a call
            // the policy might forbid: fail as configured.
            COUNTERS.inc(Counter::Unverifiable);
            let kill = m.config.mode == Mode::Enforce && m.config.fail == FailMode::Closed;
            return match kill.then(|| kill_response(req, KILL_STATUS)) {
                Some(Ok((rsp, _))) => {
                    COUNTERS.inc(Counter::Kills);
                    rsp
                }
                _ => allow(),
            };
        };
        let root = m.paging.root_from_cr3::<Machine>(ev.regs.cr3);
        // Translations are only reused within this event.
        self.tcache.new_epoch();
        let before = self.tcache.stats();
        let mut mem = GuestMemory::new(&mut self.frames, &mut self.tcache, root, m.paging);
        let decoded = syscall::decode(ev.entry, &ev.regs);
        let completed = decoded.complete(&mut mem);
        let decode_ns = sw.lap(Stage::Decode, mem.reader_mut().read_ns);
        let (sc, verdict, undecodable) = match completed {
            Ok(sc) => {
                let v = Checker::new(policy).check(&mut m.pstate, &sc, &ev.regs, &mut mem);
                (sc, v, None)
            }
            Err(DecodeError::StackUnreadable { va, .. }) => {
                // The call as far as the registers say; its 6th argument is unreadable.
                let sc = Syscall { abi: decoded.abi(), nr: decoded.nr(), args: [0; 6], user_rip: decoded.user_rip() };
                (sc, Verdict::Allow, Some(va.0))
            }
        };
        let eval_ns = sw.lap(Stage::Eval, mem.reader_mut().read_ns);
        COUNTERS.record_check(decode_ns.wrapping_add(eval_ns));
        let after = self.tcache.stats();
        PROFILE.add_translations(
            (after.hits.wrapping_add(after.misses)).wrapping_sub(before.hits.wrapping_add(before.misses)),
            after.misses.wrapping_sub(before.misses),
        );

        let unverifiable = undecodable.is_some() || matches!(verdict, Verdict::Unverifiable { .. });
        if verdict.is_allow() && undecodable.is_none() {
            COUNTERS.inc(Counter::Allowed);
            if exec_path_arg(sc.abi, sc.nr).is_some() {
                // P execs: find it again in its new address space (or, if the exec fails,
                // keep tracking the old one).
                let pgd = ev.regs.cr3 & !0xfff;
                let pid = COUNTERS.get(Counter::Pid) as u32;
                m.enter(Phase::Switching { from_p: Some((pgd, pid)), events: 0 });
            } else if is_exit_group(&sc) {
                pr_info!("{} (pid {}) exits: waiting for it again\n", m.config.process, COUNTERS.get(Counter::Pid));
                m.enter(Phase::Waiting);
            }
            return allow();
        }
        let action = match (m.config.mode, unverifiable, m.config.fail) {
            (Mode::Audit, _, _) => Action::Audited,
            (Mode::Enforce, true, FailMode::Open) => Action::FailedOpen,
            (Mode::Enforce, _, _) => Action::Killed,
        };
        if unverifiable {
            COUNTERS.inc(Counter::Unverifiable);
        } else {
            COUNTERS.inc(Counter::Violations);
        }
        let pid = COUNTERS.get(Counter::Pid) as u32;
        let comm = m.config.process;
        let rec = match undecodable {
            Some(addr) => Some(AlertRecord::undecodable(
                &sc,
                ev.entry,
                action,
                addr,
                policy.policy_id(),
                m.config.domid,
                ev.vcpu_id,
                pid,
                comm.as_str().as_bytes(),
            )),
            None => AlertRecord::from_verdict(
                &verdict,
                &sc,
                ev.entry,
                action,
                policy.policy_id(),
                m.config.domid,
                ev.vcpu_id,
                pid,
                comm.as_str().as_bytes(),
            ),
        };
        if let Some(mut rec) = rec {
            rec.time_ns = xen::realtime_ns();
            self.alerts.push(&mut rec);
            COUNTERS.inc(Counter::Alerts);
            if m.log_allowed() {
                pr_warn!("violation: {}\n", rec);
            }
        }
        if action != Action::Killed {
            return allow();
        }
        match kill_response(req, KILL_STATUS) {
            Ok((rsp, cond)) => {
                COUNTERS.inc(Counter::Kills);
                if cond == syscall::KillCondition::Certain {
                    m.enter(Phase::Waiting);
                }
                rsp
            }
            Err(_) => allow(),
        }
    }
}

/// The IRQ handler's entry (xen.c `sg_irq_handler`).
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_event() {
    with_shared(|s| s.drain());
}

/// Why attaching to the domain failed, for the load error line.
pub(crate) struct AttachError {
    pub(crate) step: &'static str,
    pub(crate) err: Error,
}

/// Sets up monitoring of `config.domid` with `policy`: foreign-mapping pool, P's first
/// search, ring, event channel, filter. On error everything set up is torn down again.
pub(crate) fn attach(config: Config, policy: LoadedPolicy, profile: Profile) -> Result<(), AttachError> {
    let fail = |step, err| AttachError { step, err };
    let domid = config.domid;
    let bits = xen::phys_bits().clamp(32, 52);
    let paging = PagingConfig::new(PagingMode::Level4, bits).map_err(|_| fail("paging configuration", EINVAL))?;
    let pstate = policy.policy().map(|p| Checker::new(p).new_process()).ok_or(fail("policy", EINVAL))?;
    xen::fmap_init(SLOTS as u32).map_err(|e| fail("allocating the foreign-mapping pool", e))?;
    PROFILE.calibrate();
    with_shared(|s| {
        s.frames.set_ready(domid);
        s.alerts = AlertRing::new();
        s.monitor = Some(Monitor {
            config,
            policy,
            profile,
            paging,
            phase: Phase::Waiting,
            pstate,
            xen: XenState { fmap: true, ..XenState::default() },
            req_cons: 0,
            rsp_prod_pvt: 0,
            log_window: 0,
            log_count: 0,
            log_suppressed: 0,
            stopped: None,
        });
    });
    let r = attach_xen(domid);
    if r.is_err() {
        detach("attach failed");
        release();
    }
    r
}

fn attach_xen(domid: u16) -> Result<(), AttachError> {
    let fail = |step, err| AttachError { step, err };
    // P, if it runs: through the guest kernel's page tables (vCPU 0's; any pgd maps the kernel).
    let cr3 = xen::guest_kernel_cr3(domid, 0).map_err(|e| fail("reading vCPU 0's page-table base", e))?;
    let found = with_shared(|s| s.find_p(cr3));
    match found {
        Ok(Some(p)) => with_shared(|s| {
            if let Some(m) = s.monitor.as_mut() {
                pr_info!("{} runs in domain {}: pid {} pgd {:#x}\n", m.config.process, domid, p.tgid, p.pgd.base());
                m.enter(Phase::Tracking { pgd: p.pgd.base(), pid: p.tgid });
            }
        }),
        Ok(None) => with_shared(|s| {
            if let Some(m) = s.monitor.as_ref() {
                pr_info!("{} is not running in domain {}: waiting for its exec\n", m.config.process, domid);
            }
        }),
        Err(e) => {
            pr_err!("walking domain {}'s task list failed: {:?}\n", domid, e);
            return Err(fail("walking the guest's task list (wrong guest-kernel profile?)", EINVAL));
        }
    }
    let mfn = xen::ring_alloc().map_err(|e| fail("allocating the ring page", e))?;
    with_shared(|s| s.monitor.as_mut().map(|m| m.xen.ring = Some(mfn)));
    let port = match xen::vm_event_enable(domid, mfn) {
        Err(e) if e == EBUSY => {
            // A ring of an earlier consumer that did not clean up: replace it.
            pr_info!("domain {} has a stale monitor ring: disabling it\n", domid);
            xen::vm_event_disable(domid).map_err(|e| fail("disabling a stale monitor ring", e))?;
            xen::vm_event_enable(domid, mfn)
        }
        r => r,
    }
    .map_err(|e| fail("enabling the monitor ring (XEN_VM_EVENT_ENABLE_FRAME)", e))?;
    with_shared(|s| s.monitor.as_mut().map(|m| m.xen.vm_event = true));
    xen::evtchn_bind(domid, port).map_err(|e| fail("binding the event channel", e))?;
    with_shared(|s| -> Result<(), AttachError> {
        let Some(m) = s.monitor.as_mut() else { return Err(fail("state", EINVAL)) };
        m.xen.bound = true;
        m.apply_filter().map_err(|e| fail("enabling the system-call monitor", e))?;
        m.xen.monitor = true;
        Ok(())
    })
}

/// Tears down everything [`attach`] set up that is still up, in the order xen-series.md 4.A
/// step 8 gives: no new reports; answer what is on the ring; disable the ring (Xen answers
/// what still waits); unbind; only then free the ring page; unmap and return the pool.
/// Idempotent. Process context.
pub(crate) fn detach(reason: &'static str) {
    let (domid, st) = with_shared(|s| {
        let Some(m) = s.monitor.as_mut() else { return (0, XenState::default()) };
        if m.xen.monitor {
            // Errors: the domain is gone, or nothing was enabled; either way no new reports.
            let _ = xen::monitor_disable(m.config.domid);
            m.xen.monitor = false;
        }
        let domid = m.config.domid;
        // Requests already on the ring get their answer now, so that rmmod kills nobody.
        s.drain();
        let Some(m) = s.monitor.as_mut() else { return (domid, XenState::default()) };
        if m.stopped.is_none() {
            m.stopped = Some(reason);
        }
        let st = m.xen;
        // From here the IRQ handler leaves the ring alone.
        m.xen.bound = false;
        (domid, st)
    });
    let mut ring_released = true;
    if st.vm_event {
        match xen::vm_event_disable(domid) {
            Ok(()) => {}
            Err(e) if e == ESRCH => {} // domain gone: Xen dropped the ring with it
            Err(e) => {
                ring_released = false;
                pr_err!(
                    "disabling domain {}'s monitor ring failed (error {}): keeping its page\n",
                    domid,
                    e.to_errno()
                );
            }
        }
    }
    if st.bound {
        xen::evtchn_unbind();
    }
    if st.ring.is_some() && ring_released {
        xen::ring_free();
    }
    let unmap_failed = with_shared(|s| {
        if let Some(m) = s.monitor.as_mut() {
            m.xen = XenState::default();
            m.phase = Phase::Waiting;
        }
        COUNTERS.set(Counter::Pid, 0);
        s.frames.unmap_all()
    });
    if st.fmap {
        if unmap_failed == 0 {
            xen::fmap_fini();
        } else {
            pr_err!("{} foreign mappings could not be removed: keeping the pool's pages\n", unmap_failed);
        }
    }
}

/// The id of the policy in force (0 without a monitor).
pub(crate) fn policy_id() -> u32 {
    with_shared(|s| s.monitor.as_ref().and_then(|m| m.policy.policy()).map_or(0, |p| p.policy_id()))
}

/// Drops the monitor (after [`detach`]).
pub(crate) fn release() {
    let m = with_shared(|s| s.monitor.take());
    drop(m);
}

/// The periodic housekeeping (process context): notices a destroyed guest (tears down) and a
/// P that started or ended without the exec/exit calls the monitor follows (e.g. killed by a
/// signal). Returns false to stop polling.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_poll() -> bool {
    let Some((domid, attached)) = with_shared(|s| s.monitor.as_ref().map(|m| (m.config.domid, m.xen.bound))) else {
        return false;
    };
    if !attached {
        return false;
    }
    if let Err(e) = xen::domain_alive(domid) {
        pr_info!("domain {} is gone (error {}): monitoring stops\n", domid, e.to_errno());
        detach("domain destroyed");
        return false;
    }
    let Ok(cr3) = xen::guest_kernel_cr3(domid, 0) else { return true };
    with_shared(|s| {
        let Some(phase) = s.monitor.as_ref().map(|m| m.phase) else { return };
        let found = s.find_p(cr3);
        let Some(m) = s.monitor.as_mut() else { return };
        if !m.xen.monitor {
            return;
        }
        match (phase, found) {
            (Phase::Waiting, Ok(Some(p))) => {
                pr_info!(
                    "found {} in domain {} by polling: pid {} pgd {:#x}\n",
                    m.config.process,
                    domid,
                    p.tgid,
                    p.pgd.base()
                );
                m.enter(Phase::Tracking { pgd: p.pgd.base(), pid: p.tgid });
            }
            (Phase::Tracking { pgd, pid }, Ok(None)) => {
                pr_info!("{} (pid {}) is gone: waiting for it again\n", m.config.process, pid);
                let _ = pgd;
                m.enter(Phase::Waiting);
            }
            (Phase::Tracking { pgd, .. }, Ok(Some(p))) if p.pgd.base() != pgd => {
                // A different P (the tracked one ended without exit_group and another started).
                pr_info!("{} now has pid {} pgd {:#x}\n", m.config.process, p.tgid, p.pgd.base());
                m.enter(Phase::Tracking { pgd: p.pgd.base(), pid: p.tgid });
            }
            _ => {}
        }
    });
    true
}

/// Replaces the policy with `data` (validated exactly like at load); nothing changes on error.
pub(crate) fn replace_policy(data: &[u8]) -> Result {
    let new = LoadedPolicy::from_bytes(data).map_err(|e| {
        pr_err!("policy from /dev/semguard: {}\n", e);
        e.errno()
    })?;
    let p = new.policy().ok_or(EINVAL)?;
    let profile = crate::policy::profile_of(&p).map_err(|e| {
        pr_err!("policy from /dev/semguard: {}\n", e);
        EINVAL
    })?;
    pr_info!("policy from /dev/semguard: {}\n", Summary(&p));
    // Whichever blob loses is returned and freed here, outside the lock.
    let (result, unused) = with_shared(|s| -> (Result, Option<LoadedPolicy>) {
        let Some(m) = s.monitor.as_mut() else { return (Err(ENODEV), Some(new)) };
        let old = core::mem::replace(&mut m.policy, new);
        let old_profile = core::mem::replace(&mut m.profile, profile);
        if m.xen.monitor {
            if let Err(e) = m.apply_filter() {
                // Put everything back (and the old filter, which Xen still has or gets again).
                let new = core::mem::replace(&mut m.policy, old);
                m.profile = old_profile;
                let _ = m.apply_filter();
                return (Err(e), Some(new));
            }
        }
        if let Some(p) = m.policy.policy() {
            m.pstate = Checker::new(p).new_process();
        }
        (Ok(()), Some(old))
    });
    drop(unused);
    result
}

/// `/dev/semguard` read: alert records from `*cursor` on.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_alerts_read(cursor: *mut u64, buf: *mut u8, len: usize) -> core::ffi::c_long {
    if cursor.is_null() || buf.is_null() {
        return EINVAL.to_errno() as core::ffi::c_long;
    }
    // SAFETY: shim.c passes a valid cursor and a kernel buffer of `len` writable bytes that
    // nothing else uses during the call.
    let (cursor, out) = unsafe { (&mut *cursor, core::slice::from_raw_parts_mut(buf, len)) };
    if len < semguard_core::alert::RECORD_SIZE {
        return EINVAL.to_errno() as core::ffi::c_long;
    }
    let n = with_shared(|s| s.alerts.read(cursor, out));
    n as core::ffi::c_long
}

/// `/dev/semguard` write: a new policy.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_policy_write(data: *const u8, len: usize) -> core::ffi::c_int {
    if data.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: shim.c passes its kernel copy of the written bytes, valid for the call.
    let bytes = unsafe { core::slice::from_raw_parts(data, len) };
    match replace_policy(bytes) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A `fmt::Write` into a byte buffer that truncates.
struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// A sysfs `show`: `f` writes into sysfs's buffer (`buf`, `len` bytes), truncated; the
/// number of bytes written.
fn sysfs_show(buf: *mut u8, len: usize, f: impl FnOnce(&mut BufWriter<'_>)) -> usize {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: shim.c passes sysfs's buffer of `len` bytes, ours for the call.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut w = BufWriter { buf: out, len: 0 };
    f(&mut w);
    w.len
}

/// sysfs `counters/profile`: the event path's time per stage (counters.rs `StageProfile`).
#[no_mangle]
pub(crate) extern "C" fn semguard_profile_show(buf: *mut u8, len: usize) -> usize {
    sysfs_show(buf, len, |w| {
        let _ = PROFILE.write(w);
    })
}

/// sysfs `counters/state`: one line about the monitor.
#[no_mangle]
pub(crate) extern "C" fn semguard_state_show(buf: *mut u8, len: usize) -> usize {
    sysfs_show(buf, len, |w| state_line(w))
}

/// The `counters/state` line.
fn state_line(w: &mut BufWriter<'_>) {
    with_shared(|s| {
        let Some(m) = s.monitor.as_ref() else {
            let _ = w.write_str("detached\n");
            return;
        };
        let _ = match m.phase {
            Phase::Waiting => write!(w, "phase=waiting"),
            Phase::Switching { events, .. } => write!(w, "phase=switching events={events}"),
            Phase::Tracking { pgd, pid } => write!(w, "phase=tracking pid={pid} pgd={pgd:#x}"),
        };
        let _ = write!(
            w,
            " domid={} process={} attached={} policy={:#x} maps={} map_errors={} flushes_all={}",
            m.config.domid,
            m.config.process,
            u8::from(m.xen.monitor),
            m.policy.policy().map_or(0, |p| p.policy_id()),
            s.frames.maps,
            s.frames.map_errors,
            s.frames.global_flushes,
        );
        if let Some(r) = m.stopped {
            let _ = write!(w, " stopped=\"{r}\"");
        }
        let _ = w.write_str("\n");
    });
}
