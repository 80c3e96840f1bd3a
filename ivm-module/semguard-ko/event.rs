// SPDX-License-Identifier: GPL-2.0

//! The event path, in the event channel's IRQ handler: each request on Xen's ring → the
//! lineage (is it a call of one of P's address spaces, a new one, or another process's exec?) →
//! semguard-core's `decision::check_event` with that member's state → the response, the
//! counters, the alert. Every decision is the core's; this file is the glue. Nothing here walks
//! more than [`crate::guest::RECENT_TASKS`] tasks.

use semguard_core::addr::Machine;
use semguard_core::checker::Checker;
use semguard_core::decision::{check_event, resolve_missing_page, resume_response, unchecked, Decision, Retry};
use semguard_core::lineage::{Birth, Image, Lineage, Route, Routed};
use semguard_core::syscall::KillCondition;
use semguard_core::tcache::TranslationCache;
use semguard_core::vmem::GuestMemory;
use semguard_core::xen_abi::{SyscallEvent, VmEventSt, VM_EVENT_SIZE};

use crate::alerts::AlertRing;
use crate::counters::{Counter, Stage, Stopwatch, COUNTERS, PROFILE};
use crate::fmap::ForeignFrames;
use crate::guest::{GuestView, MemoryMap};
use crate::monitor::{Monitor, Shared};
use kernel::prelude::*;

/// Most vCPU ids accepted in a request (Xen's PV limit is far lower).
const MAX_VCPUS: u32 = 4096;
/// Most ring passes per IRQ: the first, and looks for requests that came during a notification.
const DRAIN_ROUNDS: usize = 4;

/// Drains the ring: every request gets exactly one response; one notification per pass.
/// Bounded: [`DRAIN_ROUNDS`] passes of at most the ring size (Xen notifies again for later
/// requests). A corrupt `req_prod` stops the drain for good (logged once); the poll detaches,
/// and Xen's ring disable answers what waits (fail closed).
/// disables the ring, which answers them).
pub(crate) fn drain(s: &mut Shared) {
    let Shared { monitor: Some(m), frames, tcache, alerts, lineage, last_drain_end, .. } = s else { return };
    if m.xen.evtchn.is_none() || m.xen.ring.is_none() {
        return;
    }
    let drain_t0 = crate::xen::now_ns();
    let mut sw = Stopwatch::start(frames.read_ns);
    let mut total = 0usize;
    // After a notification Xen resumes the vCPU, which may trap again before this handler
    // returns: look again and answer that request now, instead of leaving the IRQ and taking
    // it again (Xen's RING_FINAL_CHECK_FOR_REQUESTS). Bounded: its event stays pending and
    // brings the handler back for anything left.
    for round in 0..DRAIN_ROUNDS {
        let Some(ring) = m.xen.ring.as_ref() else { break };
        let slots = ring.back.slots() as usize;
        let waiting = match ring.back.unconsumed(&ring.page) {
            Ok(n) => n as usize,
            Err(e) => {
                // Nothing on it can be trusted: stop draining and let the poll detach (Xen then
                // answers every waiting vCPU, fail closed) rather than leave them paused.
                if !m.ring_corrupt {
                    COUNTERS.inc(Counter::BadRequests);
                    pr_err!("monitor ring corrupt (req_prod {} req_cons {}): detaching\n", e.req_prod, e.req_cons);
                }
                m.ring_corrupt = true;
                break;
            }
        };
        let mut answered = 0usize;
        while answered < waiting.min(slots) {
            sw = Stopwatch::start(frames.read_ns);
            let Some(ring) = m.xen.ring.as_mut() else { break };
            let bytes = ring.back.take_request(&ring.page);
            // 400 bytes always decode; the fields are validated next.
            let req = VmEventSt::from_bytes(&bytes).unwrap_or_default();
            let rsp = handle(m, frames, tcache, alerts, lineage, &req, &mut sw);
            let mut out = [0u8; VM_EVENT_SIZE];
            let Some(ring) = m.xen.ring.as_mut() else { break };
            ring.back.put_response(&mut ring.page, rsp.response_bytes(&mut out));
            sw.lap(Stage::Response, frames.read_ns);
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
        let (Some(ring), Some(evtchn)) = (m.xen.ring.as_mut(), m.xen.evtchn.as_ref()) else { break };
        ring.back.push_responses(&mut ring.page);
        evtchn.notify();
        sw.lap(Stage::Notify, frames.read_ns);
    }
    if total > 0 {
        // Only drains that answered something: an IRQ whose requests an earlier pass took is
        // not the end of an idle period.
        let idle = drain_t0.wrapping_sub(*last_drain_end);
        if *last_drain_end != 0 && idle < 1_000_000_000 {
            PROFILE.add(Stage::Idle, idle);
        }
        PROFILE.add(Stage::Drain, sw.last().wrapping_sub(drain_t0));
        *last_drain_end = sw.last();
    }
}

/// One request → its response.
fn handle(
    m: &mut Monitor,
    frames: &mut ForeignFrames,
    tcache: &mut TranslationCache<Machine>,
    alerts: &mut AlertRing,
    lineage: &mut Lineage,
    req: &VmEventSt,
    sw: &mut Stopwatch,
) -> VmEventSt {
    COUNTERS.inc(Counter::Events);
    let ev = req.syscall_event();
    sw.lap(Stage::Ring, frames.read_ns);
    let ev = match ev {
        Ok(ev) if ev.vcpu_id < MAX_VCPUS => ev,
        other => {
            COUNTERS.inc(Counter::BadRequests);
            pr_warn!("bad request on the ring (vcpu {}): {:?}\n", req.vcpu_id, other.err());
            return resume_response(req);
        }
    };
    let Some(policy) = m.policy.policy() else {
        // Cannot happen (the layout was made from these bytes); never let it allow a call the
        // policy might forbid: fail as configured.
        return unchecked(&ev, m.enforcement).response(req).0;
    };
    let checker = Checker::new(policy);
    // A known member's call: the hot path, nothing to read from the guest to route it.
    let routed = match lineage.known(&ev) {
        Some(slot) => Routed { route: Route::Check(slot), rsp_flags: 0, birth: None, evicted: None },
        None => {
            let identity = policy.identity();
            let hint = m.config.process.as_ref().map(|n| n.as_str().as_bytes());
            let mut view = GuestView {
                frames: &mut *frames,
                tcache: &mut *tcache,
                paging: m.paging,
                profile: &m.profile,
                identity,
                hint,
                recent: None,
            };
            let routed = lineage.route(&ev, &checker, &mut view);
            sw.lap(Stage::Find, frames.read_ns);
            routed
        }
    };
    // The policy is decoded once per event: the route, the check and the lineage's bookkeeping
    // share `checker`; what needs the monitor mutably (log, alert) comes after its last use.
    let checked = match routed.route {
        Route::Pass => None,
        Route::Check(slot) => Some(check(&checker, m, frames, tcache, lineage, slot, req, &ev, sw)),
    };
    let policy_id = policy.policy_id();
    if let Some(b) = routed.birth {
        note_birth(m, &b);
    }
    if routed.evicted.is_some() {
        COUNTERS.inc(Counter::Evicted);
    }
    let rsp = match checked {
        None => {
            COUNTERS.inc(Counter::Other);
            resume_response(req)
        }
        Some(c) => {
            account(m, alerts, &ev, &c.decision, policy_id, c.pid);
            c.rsp
        }
    };
    COUNTERS.set(Counter::Members, lineage.len() as u64);
    if routed.rsp_flags == 0 {
        rsp
    } else {
        rsp.with_set_flags(routed.rsp_flags)
    }
}

/// Counters and log line for an address space the lineage learnt of.
fn note_birth(m: &mut Monitor, b: &Birth) {
    let (label, domid) = (m.config.label(), m.config.domid);
    match *b {
        Birth::Instance { pgd, pid, image_base } => {
            pr_info!("found {} in domain {}: pid {} pgd {:#x} image base {:#x}\n", label, domid, pid, pgd, image_base);
            COUNTERS.inc(Counter::Attaches);
            COUNTERS.set(Counter::Pid, u64::from(pid));
        }
        Birth::Descendant { pgd, parent, pid, image } => {
            COUNTERS.inc(Counter::Births);
            if m.log.allow() {
                let runs = match image {
                    Image::P => "P's program",
                    Image::Other => "another program, checked under P's policy",
                    Image::Unknown => "an image not readable yet",
                };
                pr_info!(
                    "{} lineage: address space {:#x} of pid {} from {:#x} runs {}\n",
                    label,
                    pgd,
                    pid,
                    parent,
                    runs
                );
            }
        }
        Birth::Released { pgd, unreadable } => {
            COUNTERS.inc(Counter::Released);
            if unreadable {
                COUNTERS.inc(Counter::IdentityUnproven);
                if m.log.allow() {
                    pr_info!("new image {:#x} maps P's note address but never showed it: released as not P\n", pgd);
                }
            }
        }
        Birth::ExecdAway { pgd, parent } => {
            COUNTERS.inc(Counter::Released);
            if m.log.allow() {
                pr_info!(
                    "{} lineage: {:#x} exec'd another program the policy allows (from {:#x}): let go\n",
                    label,
                    pgd,
                    parent
                );
            }
        }
        Birth::Undecided { .. } => COUNTERS.inc(Counter::Undecided),
        Birth::Watched => COUNTERS.inc(Counter::Watches),
    }
}

/// A checked call: its response, the decision (for the alert) and the caller's pid.
struct Checked {
    rsp: VmEventSt,
    decision: Decision,
    pid: u32,
}

/// Checks a call of the member in `slot` (semguard-core's `check_event` with its state) and
/// builds its answer; the member's bookkeeping follows the decision.
#[allow(clippy::too_many_arguments)]
fn check(
    checker: &Checker<'_>,
    m: &Monitor,
    frames: &mut ForeignFrames,
    tcache: &mut TranslationCache<Machine>,
    lineage: &mut Lineage,
    slot: usize,
    req: &VmEventSt,
    ev: &SyscallEvent,
    sw: &mut Stopwatch,
) -> Checked {
    let root = m.paging.root_from_cr3::<Machine>(ev.regs.cr3);
    // Translations are only reused within this event.
    tcache.new_epoch();
    let before = tcache.stats();
    let (decision, pid) = match lineage.member_mut(slot) {
        Some(member) => {
            let mut mem = GuestMemory::new(&mut *frames, &mut *tcache, root, m.paging);
            let d = check_event(checker, &mut member.state, ev, &mut mem, m.enforcement);
            // Undecided only for want of a page: a fault of P's may bring it in (P's VMAs say;
            // read only then).
            let mut map = MemoryMap {
                frames: &mut *frames,
                tcache: &mut *tcache,
                paging: m.paging,
                profile: &m.profile,
                cr3: ev.regs.cr3,
                mm: member.mm,
            };
            let d = resolve_missing_page(d, ev.entry, member.page_ins, &mut map);
            member.mm = map.mm;
            (d, member.pid)
        }
        // Cannot happen (the slot was just routed to); never let it allow a call the policy
        // might forbid: fail as configured.
        None => (unchecked(ev, m.enforcement), 0),
    };
    let check_ns = sw.lap(Stage::Check, frames.read_ns);
    COUNTERS.record_check(check_ns);
    let after = tcache.stats();
    PROFILE.add_translations(
        (after.hits.wrapping_add(after.misses)).wrapping_sub(before.hits.wrapping_add(before.misses)),
        after.misses.wrapping_sub(before.misses),
    );
    let (rsp, kill) = decision.response(req);
    lineage.after_check(slot, checker, &decision, kill == Some(KillCondition::Certain));
    if kill.is_some() {
        COUNTERS.inc(Counter::Kills);
    }
    Checked { rsp, decision, pid }
}

/// Counters, alert record and log line for one checked call.
fn account(m: &mut Monitor, alerts: &mut AlertRing, ev: &SyscallEvent, d: &Decision, policy_id: u32, pid: u32) {
    match d.retry {
        Some(Retry::PageIn { .. }) => return COUNTERS.inc(Counter::PageIns),
        Some(Retry::Efault { .. }) => return COUNTERS.inc(Counter::Efaults),
        None => {}
    }
    let Some(finding) = d.finding else {
        COUNTERS.inc(Counter::Allowed);
        return;
    };
    COUNTERS.inc(if finding.is_unverifiable() { Counter::Unverifiable } else { Counter::Violations });
    if let Some(mut rec) = d.alert(ev, policy_id, m.config.domid, pid, m.config.label().as_bytes()) {
        rec.time_ns = crate::xen::realtime_ns();
        alerts.push(&mut rec);
        COUNTERS.inc(Counter::Alerts);
        if m.log.allow() {
            pr_warn!("violation: {}\n", rec);
        }
    }
}
