// SPDX-License-Identifier: GPL-2.0

//! The monitor of one load of the module: its state, and its life — attaching to Xen, finding
//! the instances of P already running, the housekeeping poll, replacing the policy, detaching.
//! The per-call path is event.rs; the functions C calls are exports.rs.
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
//! # Who P is
//!
//! Xen follows P's lineage itself (xen-patches 0009): the filter this file sets asks for the
//! calls of P's address spaces and the execs of every other process, and adopts the instances of
//! P running at load. semguard-core's `lineage::Lineage` (in [`Shared`]) keeps each member's
//! state; the event path feeds it. The only task-list searches of the whole list run here, in
//! process context: at load, and in the poll (which drops the members that ended and fills in
//! pids the event path did not find among the newest tasks).

use core::cell::UnsafeCell;

use kernel::prelude::*;
use semguard_core::addr::Machine;
use semguard_core::checker::Checker;
use semguard_core::decision::Enforcement;
use semguard_core::lineage::Lineage;
use semguard_core::profile::Profile;
use semguard_core::ring::BackRing;
use semguard_core::tcache::TranslationCache;
use semguard_core::tracking::Filter;
use semguard_core::walker::{PagingConfig, PagingMode};
use semguard_core::xen_abi::{ring_pages_for, ring_slots, RING_MAX_PAGES};

use crate::alerts::AlertRing;
use crate::config::Config;
use crate::counters::{Counter, COUNTERS, PROFILE};
use crate::fmap::{ForeignFrames, SLOTS};
use crate::guest::GuestView;
use crate::policy::{LoadedPolicy, Summary};
use crate::xen::{self, EvtchnBinding, FramePool, RingPage};

/// Period of the housekeeping poll.
pub(crate) const POLL_MS: u32 = 1000;
/// How long the last teardown (rmmod, a failed load) waits for Xen to let go of a ring page it
/// kept mapped for a dying domain before leaking the page.
const HELD_WAIT_MS: u32 = 30_000;
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
    /// The monitored domain's handle (UUID) at load: a later domain with the same id is not it.
    pub(crate) handle: [u8; 16],
    pub(crate) enforcement: Enforcement,
    pub(crate) policy: LoadedPolicy,
    pub(crate) profile: Profile,
    pub(crate) paging: PagingConfig,
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
    /// P's address spaces and their Assertion Checker states (here, not in [`Monitor`]: it is
    /// large, and a `Monitor` is built on the stack).
    pub(crate) lineage: Lineage,
    /// When the last drain that answered something ended (ns, 0: none yet), for `Stage::Idle`.
    pub(crate) last_drain_end: u64,
    /// The ring page of a detach at which Xen still mapped it (here, not in [`Monitor`]: it
    /// outlives the monitor until Xen lets go).
    pub(crate) held: Option<HeldRing>,
}

/// Our ring page after a detach at which Xen did not give it back: on a dying domain a Xen
/// without the dying-domain fix (xen-patches, "Consumer teardown") ignores
/// `XEN_VM_EVENT_DISABLE` and unmaps the ring only when the domain is dead. Kept until then
/// ([`settle_held_ring`]); freeing it earlier would hand dom0 a page Xen maps writable.
pub(crate) struct HeldRing {
    domid: u16,
    handle: [u8; 16],
    page: RingPage,
    since_ns: u64,
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
    lineage: Lineage::new(),
    last_drain_end: 0,
    held: None,
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
    /// The filter for the policy in force.
    fn filter(&self) -> Result<Filter> {
        let p = self.policy.policy().ok_or(EINVAL)?;
        Ok(Filter::lineage(&p, self.enforcement.fail))
    }

    /// Tells Xen the filter (the lineage set stays as it is).
    fn apply_filter(&self) -> Result {
        xen::monitor_enable(self.config.domid, &self.filter()?)
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
    let p = policy.policy().ok_or(fail("policy", EINVAL))?;
    if p.identity().is_none() && config.process.is_none() {
        // Nothing would tell P from any other process.
        return Err(fail("a policy without P's build-id (format 1.0) needs process=NAME", EINVAL));
    }
    let info = xen::domain_info(domid).map_err(|e| fail("querying the domain", e))?;
    let handle = info.handle;
    let pool = FramePool::new(SLOTS as u32).map_err(|e| fail("allocating the foreign-mapping pool", e))?;
    PROFILE.calibrate();
    let enforcement = config.enforcement();
    with_shared(|s| {
        s.frames.attach(pool, domid);
        s.alerts = AlertRing::new();
        s.lineage.clear();
        s.monitor = Some(Monitor {
            config,
            handle,
            enforcement,
            policy,
            profile,
            paging,
            xen: Attachment::default(),
            log: LogLimit::default(),
            stopped: None,
            ring_corrupt: false,
        });
    });
    let r = attach_xen(domid, info.vcpus);
    if r.is_err() {
        detach("attach failed");
        release();
    }
    r
}

fn attach_xen(domid: u16, vcpus: u32) -> Result<(), AttachError> {
    let fail = |step, err| AttachError { step, err };
    // Each vCPU waiting in a reported call holds a slot until its answer is read: a ring
    // with a slot per vCPU (Xen refuses the monitor on a smaller one).
    let Some(pages) = ring_pages_for(vcpus as usize) else {
        pr_err!(
            "domain {} has {} vCPUs; a monitor ring holds at most {} waiting calls\n",
            domid,
            vcpus,
            ring_slots(RING_MAX_PAGES)
        );
        return Err(fail("sizing the monitor ring", E2BIG));
    };
    let page = RingPage::alloc(pages).map_err(|e| fail("allocating the ring pages", e))?;
    pr_info!(
        "domain {}: monitor ring of {} page(s), {} slots for {} vCPU(s)\n",
        domid,
        pages,
        ring_slots(pages),
        vcpus
    );
    let port = match xen::vm_event_enable(domid, &page) {
        Err(e) if e == EBUSY => {
            // A ring of an earlier consumer that did not clean up: replace it.
            pr_info!("domain {} has a stale monitor ring: disabling it\n", domid);
            xen::vm_event_disable(domid).map_err(|e| fail("disabling a stale monitor ring", e))?;
            xen::vm_event_enable(domid, &page)
        }
        r => r,
    }
    .map_err(|e| fail("enabling the monitor ring (XEN_VM_EVENT_ENABLE_FRAME)", e))
    .and_then(|port| match port {
        // Xen answers every vm_event op on a dying domain with 0 and does nothing; port 0 is
        // never a real one (reserved in every domain). Nothing was mapped.
        0 => Err(fail("enabling the monitor ring (ignored: the domain is dying)", ESRCH)),
        port => Ok(port),
    });
    let enabled = port.is_ok();
    with_shared(|s| {
        if let Some(m) = s.monitor.as_mut() {
            m.xen.ring = Some(Ring { back: BackRing::new(page.pages()), page });
            m.xen.vm_event = enabled;
        }
    });
    let evtchn = EvtchnBinding::bind(domid, port?).map_err(|e| fail("binding the event channel", e))?;
    // The filter first, then the search: an instance that starts meanwhile is seen at its exec.
    with_shared(|s| -> Result<(), AttachError> {
        let Some(m) = s.monitor.as_mut() else { return Err(fail("state", EINVAL)) };
        m.xen.evtchn = Some(evtchn);
        m.apply_filter().map_err(|e| fail("enabling the system-call monitor", e))?;
        m.xen.monitor = true;
        Ok(())
    })?;
    // P's instances running now: through the guest kernel's page tables (vCPU 0's; any
    // address space maps the kernel).
    let cr3 = xen::guest_kernel_cr3(domid, 0).map_err(|e| fail("reading vCPU 0's page-table base", e))?;
    with_shared(|s| -> Result<(), AttachError> {
        let Shared { monitor: Some(m), frames, tcache, lineage, .. } = s else { return Err(fail("state", EINVAL)) };
        let Some(p) = m.policy.policy() else { return Err(fail("policy", EINVAL)) };
        let hint = m.config.process.as_ref().map(|n| n.as_str().as_bytes());
        let mut view = GuestView {
            frames,
            tcache,
            paging: m.paging,
            profile: &m.profile,
            identity: p.identity(),
            hint,
            recent: None,
        };
        let mut found = 0usize;
        let mut adopted = 0usize;
        let searched = view.instances(cr3, |pgd, pid, base| {
            found += 1;
            // Xen follows it (and everything it creates) from now on; a full set is logged.
            match m.filter().and_then(|f| xen::monitor_enable(m.config.domid, &f.adopting(pgd))) {
                Ok(()) => {
                    adopted += 1;
                    let mut state = Checker::new(p).new_process();
                    state.set_base(base);
                    if lineage.adopt(pgd, pid, state).is_some() {
                        COUNTERS.inc(Counter::Evicted);
                    }
                    pr_info!(
                        "{} runs in domain {}: pid {} pgd {:#x} image base {:#x}\n",
                        m.config.label(),
                        domid,
                        pid,
                        pgd,
                        base
                    );
                    COUNTERS.set(Counter::Pid, u64::from(pid));
                    COUNTERS.inc(Counter::Attaches);
                }
                Err(e) => pr_err!("following pid {} (pgd {:#x}) failed: error {}\n", pid, pgd, e.to_errno()),
            }
        });
        searched.map_err(|_| fail("walking the guest's task list (wrong guest-kernel profile?)", EINVAL))?;
        COUNTERS.set(Counter::Members, lineage.len() as u64);
        if found == 0 {
            pr_info!("{} is not running in domain {}: waiting for its exec\n", m.config.label(), domid);
        } else if adopted < found {
            return Err(fail("following the instances of P found running", ENOSPC));
        }
        Ok(())
    })
}

/// Tears down everything [`attach`] set up that is still up, in the order of
/// xen-patches/README.md ("Consumer teardown"): no new reports; answer what is on the ring;
/// disable the ring (Xen answers what still waits); unbind; only then free the ring page — if
/// Xen has let go of it ([`ring_release`]); otherwise it is kept in [`Shared::held`] until the
/// domain is dead ([`settle_held_ring`]). Then unmap and return the pool. Idempotent. Process
/// context.
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
        Some((m.config.domid, m.handle, core::mem::take(&mut m.xen)))
    });
    let Some((domid, handle, xen_state)) = taken else { return };
    let Attachment { ring, vm_event, evtchn, .. } = xen_state;
    let release = if vm_event { ring_release(domid, &handle) } else { RingRelease::LetGo };
    // Waits for a running handler; the lock is not held.
    drop(evtchn);
    match ring {
        Some(r) if release != RingRelease::LetGo => {
            match release {
                RingRelease::Failed(e) => pr_err!(
                    "disabling domain {}'s monitor ring failed (error {}): keeping the ring page until \
                     the domain is dead or gone\n",
                    domid,
                    e.to_errno()
                ),
                _ => pr_info!(
                    "domain {} is dying and Xen did not take its monitor ring back (a Xen without the \
                     dying-domain fix ignores XEN_VM_EVENT_DISABLE then): keeping the ring page until \
                     the domain is dead\n",
                    domid
                ),
            }
            let held = HeldRing { domid, handle, page: r.page, since_ns: xen::now_ns() };
            if let Some(old) = with_shared(|s| s.held.replace(held)) {
                // One monitor per load, so there is never an older one; should there be, it is
                // not freed blindly.
                pr_err!("domain {}'s ring page was still held: leaking it (4 KiB)\n", old.domid);
                old.page.leak();
            }
        }
        // Freed, if Xen confirms it holds no reference to the page (RingPage's drop).
        r => drop(r),
    }
    let pool = with_shared(|s| {
        s.lineage.clear();
        COUNTERS.set(Counter::Pid, 0);
        COUNTERS.set(Counter::Members, 0);
        s.frames.detach()
    });
    match pool {
        // Returning the pages may sleep: outside the lock.
        Ok(pool) => drop(pool),
        Err(failed) => pr_err!("{} foreign mappings could not be removed: keeping the pool's pages\n", failed),
    }
}

/// What became of our ring in Xen at [`detach`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum RingRelease {
    /// Xen has let go of the page.
    LetGo,
    /// Xen ignored `XEN_VM_EVENT_DISABLE`: the domain is dying, the ring still mapped.
    Ignored,
    /// `XEN_VM_EVENT_DISABLE` failed with this error.
    Failed(Error),
}

/// Disables the monitor ring of `domid` (the domain `handle`): has Xen let go of our page?
/// - `EINVAL`: Xen has no monitor ring for the domain (a dead domain's was unmapped at its
///   death; a Xen with the dying-domain fix says so for a ring already gone); `ESRCH`: the
///   domain is gone, and its ring with it.
/// - `Ok`: done — on a live domain, or on a dying one by a Xen with the dying-domain fix. A Xen
///   without it answers `Ok` on a dying domain without doing anything, so ask again: a ring
///   that is gone now answers `EINVAL`; `Ok` again means Xen ignored both (the domain is dying,
///   our ring still mapped).
/// Otherwise, and when Xen ignored the disable, only a dead or vanished domain
/// ([`dead_or_gone`]) proves the ring unmapped.
fn ring_release(domid: u16, handle: &[u8; 16]) -> RingRelease {
    let no_ring = |r: Result| matches!(r, Err(e) if e == EINVAL || e == ESRCH);
    let disabled = xen::vm_event_disable(domid);
    if no_ring(disabled) || (disabled.is_ok() && no_ring(xen::vm_event_disable(domid))) {
        return RingRelease::LetGo;
    }
    if dead_or_gone(domid, handle) {
        return RingRelease::LetGo;
    }
    match disabled {
        Err(e) => RingRelease::Failed(e),
        Ok(()) => RingRelease::Ignored,
    }
}

/// The domain `handle` is dead (`XEN_DOMINF_dying`: Xen unmapped its rings before it set the
/// flag, under the same domctl lock) or gone (no domain `domid`, or another one by now).
fn dead_or_gone(domid: u16, handle: &[u8; 16]) -> bool {
    match xen::domain_info(domid) {
        Ok(info) => info.dead || info.handle != *handle,
        Err(e) => e == ESRCH,
    }
}

/// Frees the ring page kept by [`detach`] once its domain is dead or gone. True while a page is
/// still kept. Process context.
fn settle_held_ring() -> bool {
    let Some((domid, handle, since)) = with_shared(|s| s.held.as_ref().map(|h| (h.domid, h.handle, h.since_ns))) else {
        return false;
    };
    if !dead_or_gone(domid, &handle) {
        return true;
    }
    if let Some(held) = with_shared(|s| s.held.take()) {
        let ms = xen::now_ns().wrapping_sub(since) / 1_000_000;
        pr_info!("domain {} is dead: Xen let go of its ring page after {} ms\n", domid, ms);
        // Freed outside the lock (RingPage's drop asks Xen first).
        drop(held.page);
    }
    false
}

/// The last word on a kept ring page (rmmod, a failed load: nothing polls after this): waits up
/// to [`HELD_WAIT_MS`] for the domain to die, then leaks the page — a leaked page is better
/// than one Xen maps in dom0's allocator. Process context.
fn settle_or_leak_held_ring() {
    if !settle_held_ring() {
        return;
    }
    pr_info!("waiting up to {} s for Xen to let go of a dying domain's ring page\n", HELD_WAIT_MS / 1000);
    let mut waited = 0;
    while settle_held_ring() {
        if waited >= HELD_WAIT_MS {
            if let Some(held) = with_shared(|s| s.held.take()) {
                pr_warn!(
                    "domain {} is still dying after {} s: leaking its ring page (4 KiB)\n",
                    held.domid,
                    HELD_WAIT_MS / 1000
                );
                held.page.leak();
            }
            return;
        }
        xen::sleep_ms(100);
        waited += 100;
    }
}

/// The id of the policy in force (0 without a monitor).
pub(crate) fn policy_id() -> u32 {
    with_shared(|s| s.monitor.as_ref().and_then(|m| m.policy.policy()).map_or(0, |p| p.policy_id()))
}

/// Drops the monitor (after [`detach`]) and settles a ring page Xen still held at the detach
/// ([`settle_or_leak_held_ring`]: the poll no longer runs). Process context.
pub(crate) fn release() {
    let m = with_shared(|s| s.monitor.take());
    drop(m);
    settle_or_leak_held_ring();
}

/// Why monitoring of the domain `handle` ends, if it does: the domain is dead or gone, or shut
/// down. A shut-down domain (power-off, reboot, crash, watchdog; suspend; soft reset) is about
/// to be destroyed or saved by the toolstack, and the monitor ends with it: one that resumes
/// instead (a suspend that is cancelled or checkpointed, a soft reset: the same domain runs on)
/// runs unmonitored until the module is loaded for it again — the line says so. Logs it.
fn domain_ended(domid: u16, handle: &[u8; 16]) -> Option<&'static str> {
    match xen::domain_info(domid) {
        Ok(info) if info.handle == *handle && !info.dead && !info.shut_down => None,
        Ok(info) if info.handle == *handle && !info.dead => {
            pr_info!(
                "domain {} shut down (reason {}): monitoring ends; if it resumes (cancelled suspend, \
                 checkpoint, soft reset) it runs unmonitored until semguard.ko is loaded for it again\n",
                domid,
                info.reason_name()
            );
            Some("domain shut down")
        }
        Ok(info) if info.handle == *handle => {
            pr_info!("domain {} was destroyed: monitoring ends\n", domid);
            Some("domain destroyed")
        }
        Ok(_) => {
            pr_info!("domain {} was destroyed (another domain has its id now): monitoring ends\n", domid);
            Some("domain destroyed")
        }
        Err(e) if e == ESRCH => {
            pr_info!("domain {} was destroyed: monitoring ends\n", domid);
            Some("domain destroyed")
        }
        Err(e) => {
            pr_info!("domain {} cannot be queried (error {}): monitoring ends\n", domid, e.to_errno());
            Some("domain unreachable")
        }
    }
}

/// The periodic housekeeping (process context): frees a ring page kept for a dying domain once
/// it is dead; notices the end of the domain (tears down); and sweeps the lineage against the
/// task list: drops the members that ended (Xen stopped following them at their unpin; this
/// frees their state) and fills in the pids the event path did not find among the newest
/// tasks. The one search of the whole list, at most once per period, only while P has members.
/// Returns false to stop polling (nothing monitored, no ring page kept).
pub(crate) fn poll() -> bool {
    let holding = settle_held_ring();
    let Some((domid, handle, attached, corrupt)) =
        with_shared(|s| s.monitor.as_ref().map(|m| (m.config.domid, m.handle, m.xen.evtchn.is_some(), m.ring_corrupt)))
    else {
        return holding;
    };
    if !attached {
        return holding;
    }
    if corrupt {
        detach("monitor ring corrupt");
        return with_shared(|s| s.held.is_some());
    }
    if let Some(why) = domain_ended(domid, &handle) {
        detach(why);
        return with_shared(|s| s.held.is_some());
    }
    if with_shared(|s| s.lineage.is_empty()) {
        return true;
    }
    let Ok(cr3) = xen::guest_kernel_cr3(domid, 0) else { return true };
    with_shared(|s| {
        let Shared { monitor: Some(m), frames, tcache, lineage, .. } = s else { return };
        let identity = m.policy.policy().and_then(|p| p.identity());
        let hint = m.config.process.as_ref().map(|n| n.as_str().as_bytes());
        let mut view =
            GuestView { frames, tcache, paging: m.paging, profile: &m.profile, identity, hint, recent: None };
        lineage.begin_sweep();
        let t0 = xen::now_ns();
        let walked = view.processes(cr3, |pgd, pid, mm| lineage.mark(pgd, pid, mm));
        let ns = xen::now_ns().wrapping_sub(t0);
        if ns > COUNTERS.get(Counter::SweepMaxNs) {
            COUNTERS.set(Counter::SweepMaxNs, ns);
            COUNTERS.set(Counter::SweepTasks, walked.as_ref().map_or(0, |&n| n as u64));
        }
        match walked {
            Ok(_) => {
                let dropped = lineage.end_sweep();
                if dropped > 0 && m.log.allow() {
                    pr_info!("{} lineage: {} address spaces ended\n", m.config.label(), dropped);
                }
            }
            // A list changing under the walk: nothing dropped this time.
            Err(e) => pr_warn!("walking the guest's task list failed: {:?}\n", e),
        }
        COUNTERS.set(Counter::Members, lineage.len() as u64);
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
        let Shared { monitor: Some(m), lineage, .. } = s else { return (Err(ENODEV), Some(new)) };
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
        // The old policy's automaton states mean nothing to the new one: every member starts
        // afresh (Xen's set, and so who P is, does not change).
        if let Some(p) = m.policy.policy() {
            let fresh = Checker::new(p).new_process();
            for slot in 0..lineage.len() {
                if let Some(member) = lineage.member_mut(slot) {
                    member.state = fresh;
                }
            }
        }
        (Ok(()), Some(old))
    });
    drop(unused);
    result
}

/// The `counters/state` line: `phase=tracking` with the pid and base of the member that called
/// last while P has members, `phase=waiting` otherwise.
pub(crate) fn state_line(w: &mut impl core::fmt::Write) {
    with_shared(|s| {
        let Some(m) = s.monitor.as_ref() else {
            let _ = w.write_str("detached\n");
            return;
        };
        let _ = match s.lineage.latest() {
            None => write!(w, "phase=waiting members=0"),
            Some(p) => write!(w, "phase=tracking pid={} pgd={:#x} members={}", p.pid, p.pgd, s.lineage.len()),
        };
        let _ = write!(
            w,
            " domid={} process={} attached={} policy={:#x} maps={} map_errors={} flushes_all={}",
            m.config.domid,
            m.config.label(),
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
