// SPDX-License-Identifier: GPL-2.0

//! The monitor of one load of the module: its state, and its life — attaching to Xen,
//! following P from outside (the poll), replacing the policy, detaching. The per-call path is
//! event.rs; the functions C calls are exports.rs.
//!
//! # Locking
//!
//! Everything the event path touches lives in [`SHARED`], guarded by one IRQ-safe spinlock
//! (xen.c; [`xen::LockGuard`]). The event handler runs in hard-IRQ context (no thread wake-up
//! per event) and holds the lock while it drains the ring; control paths (load, rmmod, policy
//! replacement, the periodic poll) hold it for their state changes and the domctls that change
//! the filter. Nothing under the lock sleeps or allocates: the resources whose release sleeps
//! (the event channel, the frame pool) are taken out of the state under the lock and dropped
//! after it.
//!
//! # Following P
//!
//! semguard-core's `tracking::Tracker` holds the phase (waiting, switching, tracking); this
//! file applies what it decides: the filter Xen gets, the log line, a fresh Assertion Checker
//! state for a new P.

use core::cell::UnsafeCell;

use kernel::prelude::*;
use semguard_core::addr::Machine;
use semguard_core::checker::{Checker, ProcessState};
use semguard_core::decision::Enforcement;
use semguard_core::profile::Profile;
use semguard_core::ring::BackRing;
use semguard_core::tcache::TranslationCache;
use semguard_core::tracking::{Finder, Phase, Tracker, Transition};
use semguard_core::walker::{PagingConfig, PagingMode};

use crate::alerts::AlertRing;
use crate::config::Config;
use crate::counters::{Counter, COUNTERS, PROFILE};
use crate::fmap::{ForeignFrames, SLOTS};
use crate::guest::GuestView;
use crate::policy::{LoadedPolicy, Summary};
use crate::xen::{self, EvtchnBinding, FramePool, RingPage};

/// Period of the housekeeping poll.
pub(crate) const POLL_MS: u32 = 1000;
/// Kernel log lines per violation: at most this many per [`LOG_WINDOW_NS`].
const LOG_BURST: u32 = 10;
const LOG_WINDOW_NS: u64 = 5_000_000_000;

/// The monitor ring: our page and our half of its indices.
pub(crate) struct Ring {
    pub(crate) page: RingPage,
    pub(crate) back: BackRing,
}

/// What is set up in Xen (torn down in reverse by [`detach`]). The memory resources are
/// handles that release themselves; the two flags are Xen-side states of the domain.
#[derive(Default)]
pub(crate) struct Attachment {
    /// Our ring page (and whether Xen has it: `vm_event`).
    pub(crate) ring: Option<Ring>,
    /// `XEN_VM_EVENT_ENABLE_FRAME` succeeded and no disable yet.
    pub(crate) vm_event: bool,
    /// The event channel; the event path runs while it is bound.
    pub(crate) evtchn: Option<EvtchnBinding>,
    /// The system-call monitor is on in Xen.
    pub(crate) monitor: bool,
}

/// Rate limit of the violation lines in the kernel log.
#[derive(Default)]
pub(crate) struct LogLimit {
    window: u64,
    count: u32,
    suppressed: u32,
}

impl LogLimit {
    /// Whether one more line may be logged now.
    pub(crate) fn allow(&mut self) -> bool {
        let now = xen::now_ns();
        if now.wrapping_sub(self.window) > LOG_WINDOW_NS {
            if self.suppressed > 0 {
                pr_info!("{} violation lines suppressed\n", self.suppressed);
            }
            *self = Self { window: now, count: 0, suppressed: 0 };
        }
        if self.count < LOG_BURST {
            self.count += 1;
            true
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            false
        }
    }
}

/// The monitor of one load of the module.
pub(crate) struct Monitor {
    pub(crate) config: Config,
    pub(crate) enforcement: Enforcement,
    pub(crate) policy: LoadedPolicy,
    pub(crate) profile: Profile,
    pub(crate) paging: PagingConfig,
    pub(crate) tracker: Tracker,
    /// P's Assertion Checker state (its automaton).
    pub(crate) pstate: ProcessState,
    pub(crate) xen: Attachment,
    pub(crate) log: LogLimit,
    /// Why the monitor stopped, if it did.
    pub(crate) stopped: Option<&'static str>,
    /// The ring's `req_prod` made no sense: the event path stopped draining and the poll
    /// detaches (process context).
    pub(crate) ring_corrupt: bool,
}

/// Everything the event path uses; large parts are statics so nothing big is on the stack.
pub(crate) struct Shared {
    pub(crate) monitor: Option<Monitor>,
    pub(crate) frames: ForeignFrames,
    pub(crate) tcache: TranslationCache<Machine>,
    pub(crate) alerts: AlertRing,
    /// When the last drain that answered something ended (ns, 0: none yet), for `Stage::Idle`.
    pub(crate) last_drain_end: u64,
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
pub(crate) fn with_shared<R>(f: impl FnOnce(&mut Shared) -> R) -> R {
    let _guard = xen::LockGuard::lock();
    // SAFETY: the lock is held until `_guard` drops, after `f` returned; no other reference
    // to the contents exists outside this function (see `Global`).
    let shared = unsafe { &mut *SHARED.0.get() };
    f(shared)
}

impl Monitor {
    /// Tells Xen the filter of the current phase.
    fn apply_filter(&self) -> Result {
        let p = self.policy.policy().ok_or(EINVAL)?;
        xen::monitor_enable(self.config.domid, &self.tracker.phase().filter(&p, self.enforcement.fail))
    }

    /// Applies a phase change: the log line, P's pid for sysfs, a fresh checker state for a
    /// new P, and the filter (a failing domctl is logged; the old filter stays, which reports
    /// a superset, or the guest is gone).
    pub(crate) fn on_transition(&mut self, t: Transition, how: &str) {
        let (name, domid) = (self.config.process, self.config.domid);
        match t {
            Transition::Found { pgd, pid } => {
                pr_info!("found {} in domain {}{}: pid {} pgd {:#x}\n", name, domid, how, pid, pgd);
                COUNTERS.inc(Counter::Attaches);
                if let Some(p) = self.policy.policy() {
                    self.pstate = Checker::new(p).new_process();
                }
            }
            Transition::ExecdAway => pr_info!("{} exec'd another program: waiting for it again\n", name),
            Transition::SwitchGaveUp { events } => {
                pr_info!("no {} after {} calls since an exec: waiting again\n", name, events)
            }
            Transition::Exits { pid } => pr_info!("{} (pid {}) exits: waiting for it again\n", name, pid),
            Transition::Killed { pid } => pr_info!("{} (pid {}) killed: waiting for it again\n", name, pid),
            Transition::Gone { pid } => pr_info!("{} (pid {}) is gone: waiting for it again\n", name, pid),
            Transition::ExecSeen | Transition::Execs { .. } | Transition::ExecFailed { .. } => {}
        }
        COUNTERS.set(Counter::Pid, u64::from(self.tracker.phase().pid().unwrap_or(0)));
        if self.xen.monitor {
            if let Err(e) = self.apply_filter() {
                pr_warn!("domain {}: changing the monitor filter failed: error {}\n", domid, e.to_errno());
            }
        }
    }
}

impl Shared {
    /// The monitor and a view of the guest through the page-table base `cr3` tables, for a
    /// search outside the event path.
    fn search(&mut self, cr3: u64) -> Option<(&mut Monitor, Result<Option<(u64, u32)>, ()>)> {
        let Shared { monitor: Some(m), frames, tcache, .. } = self else { return None };
        let mut view = GuestView::new(
            frames,
            tcache,
            m.paging,
            &m.profile,
            m.config.process.as_str().as_bytes(),
            &m.policy,
            m.tracker.phase().tracked_pgd(),
        );
        let found = view.find_p(cr3).map_err(|e| pr_err!("walking the guest's task list failed: {:?}\n", e));
        Some((m, found))
    }
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
    let pool = FramePool::new(SLOTS as u32).map_err(|e| fail("allocating the foreign-mapping pool", e))?;
    PROFILE.calibrate();
    let enforcement = config.enforcement();
    with_shared(|s| {
        s.frames.attach(pool, domid);
        s.alerts = AlertRing::new();
        s.monitor = Some(Monitor {
            config,
            enforcement,
            policy,
            profile,
            paging,
            tracker: Tracker::new(),
            pstate,
            xen: Attachment::default(),
            log: LogLimit::default(),
            stopped: None,
            ring_corrupt: false,
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
    with_shared(|s| -> Result<(), AttachError> {
        let Some((m, found)) = s.search(cr3) else { return Err(fail("state", EINVAL)) };
        let found = found.map_err(|()| fail("walking the guest's task list (wrong guest-kernel profile?)", EINVAL))?;
        match m.tracker.on_search(found) {
            Some(Transition::Found { pgd, pid }) => {
                pr_info!("{} runs in domain {}: pid {} pgd {:#x}\n", m.config.process, domid, pid, pgd);
                COUNTERS.set(Counter::Pid, u64::from(pid));
                COUNTERS.inc(Counter::Attaches);
            }
            _ => pr_info!("{} is not running in domain {}: waiting for its exec\n", m.config.process, domid),
        }
        Ok(())
    })?;
    let page = RingPage::alloc().map_err(|e| fail("allocating the ring page", e))?;
    let port = match xen::vm_event_enable(domid, &page) {
        Err(e) if e == EBUSY => {
            // A ring of an earlier consumer that did not clean up: replace it.
            pr_info!("domain {} has a stale monitor ring: disabling it\n", domid);
            xen::vm_event_disable(domid).map_err(|e| fail("disabling a stale monitor ring", e))?;
            xen::vm_event_enable(domid, &page)
        }
        r => r,
    }
    .map_err(|e| fail("enabling the monitor ring (XEN_VM_EVENT_ENABLE_FRAME)", e));
    let enabled = port.is_ok();
    with_shared(|s| {
        if let Some(m) = s.monitor.as_mut() {
            m.xen.ring = Some(Ring { page, back: BackRing::new() });
            m.xen.vm_event = enabled;
        }
    });
    let evtchn = EvtchnBinding::bind(domid, port?).map_err(|e| fail("binding the event channel", e))?;
    with_shared(|s| -> Result<(), AttachError> {
        let Some(m) = s.monitor.as_mut() else { return Err(fail("state", EINVAL)) };
        m.xen.evtchn = Some(evtchn);
        m.apply_filter().map_err(|e| fail("enabling the system-call monitor", e))?;
        m.xen.monitor = true;
        Ok(())
    })
}

/// Tears down everything [`attach`] set up that is still up, in the order of
/// xen-patches/README.md ("Consumer teardown"): no new reports; answer what is on the ring;
/// disable the ring (Xen answers what still waits); unbind; only then free the ring page;
/// unmap and return the pool. Idempotent. Process context.
pub(crate) fn detach(reason: &'static str) {
    let taken = with_shared(|s| {
        let m = s.monitor.as_mut()?;
        if m.xen.monitor {
            // Errors: the domain is gone, or nothing was enabled; either way no new reports.
            let _ = xen::monitor_disable(m.config.domid);
            m.xen.monitor = false;
        }
        // Requests already on the ring get their answer now, so that rmmod kills nobody.
        crate::event::drain(s);
        let m = s.monitor.as_mut()?;
        if m.stopped.is_none() {
            m.stopped = Some(reason);
        }
        // From here the IRQ handler leaves the ring alone (it needs the binding to answer).
        Some((m.config.domid, core::mem::take(&mut m.xen)))
    });
    let Some((domid, xen_state)) = taken else { return };
    let Attachment { ring, vm_event, evtchn, .. } = xen_state;
    let mut ring_released = true;
    if vm_event {
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
    // Waits for a running handler; the lock is not held.
    drop(evtchn);
    match ring {
        Some(r) if !ring_released => r.page.leak(),
        r => drop(r),
    }
    let pool = with_shared(|s| {
        if let Some(m) = s.monitor.as_mut() {
            m.tracker.reset();
        }
        COUNTERS.set(Counter::Pid, 0);
        s.frames.detach()
    });
    match pool {
        // Returning the pages may sleep: outside the lock.
        Ok(pool) => drop(pool),
        Err(failed) => pr_err!("{} foreign mappings could not be removed: keeping the pool's pages\n", failed),
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
pub(crate) fn poll() -> bool {
    let Some((domid, attached, corrupt)) =
        with_shared(|s| s.monitor.as_ref().map(|m| (m.config.domid, m.xen.evtchn.is_some(), m.ring_corrupt)))
    else {
        return false;
    };
    if !attached {
        return false;
    }
    if corrupt {
        detach("monitor ring corrupt");
        return false;
    }
    if let Err(e) = xen::domain_alive(domid) {
        pr_info!("domain {} is gone (error {}): monitoring stops\n", domid, e.to_errno());
        detach("domain destroyed");
        return false;
    }
    let Ok(cr3) = xen::guest_kernel_cr3(domid, 0) else { return true };
    with_shared(|s| {
        let Some((m, Ok(found))) = s.search(cr3) else { return };
        if !m.xen.monitor {
            return;
        }
        if let Some(t) = m.tracker.on_search(found) {
            m.on_transition(t, " by polling");
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

/// The `counters/state` line.
pub(crate) fn state_line(w: &mut impl core::fmt::Write) {
    with_shared(|s| {
        let Some(m) = s.monitor.as_ref() else {
            let _ = w.write_str("detached\n");
            return;
        };
        let _ = match m.tracker.phase() {
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
