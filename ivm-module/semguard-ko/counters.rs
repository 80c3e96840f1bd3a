// SPDX-License-Identifier: GPL-2.0

//! The module's counters, read by user space in /sys/module/semguard/counters/ (the files
//! are shim.c's; the values live here). They count only what the event path really did.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::c_str;
use kernel::str::CStr;

/// One counter: its index is its place in [`Counter::ALL`], which is also the order of shim.c's
/// sysfs files (it asks for their count and names: nothing about them is repeated in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Requests Xen put on the ring (every reported call, P's or not).
    Events,
    /// P's calls that were checked and allowed.
    Allowed,
    /// P's calls that broke the policy.
    Violations,
    /// P's calls that could not be checked (unreadable guest memory, undecodable call).
    Unverifiable,
    /// Times P was killed (a call rewritten to exit_group).
    Kills,
    /// P's calls run through the Assertion Checker.
    Checked,
    /// Mean time of one check (decode + walk + evaluate), ns.
    EvalMeanNs,
    /// Longest check, ns.
    EvalMaxNs,
    /// Reported calls of other processes (their execs, and the first call of a new image that
    /// is not P's program).
    Other,
    /// Requests that were not valid syscall events (answered without a decision).
    BadRequests,
    /// Alert records written.
    Alerts,
    /// The pid of the instance of P found last (a value published for user space; the module
    /// keeps each member's pid in its lineage table).
    Pid,
    /// Instances of P found: running at load, or started later (a new image with P's build-id).
    Attaches,
    /// Mean time to answer one request (validate, phase logic, check if P's, response), ns.
    EventMeanNs,
    /// Longest time to answer one request, ns.
    EventMaxNs,
    /// Tasks with P's name whose image's build-id note could not be read at load (not taken as
    /// P: nothing proves them), and new images released after `UNDECIDED_CALLS` calls without a
    /// readable note.
    IdentityUnproven,
    /// Calls of new images whose note was not readable yet (let go unchecked, asked again).
    Undecided,
    /// Descendants of P seen (fork children, new images of P's processes): their first call.
    Births,
    /// Address spaces of P's lineage the module keeps state for now.
    Members,
    /// New images of other processes that are not P's program (released from Xen's set).
    Released,
    /// Exec calls of other processes answered with a watch (their new image is identified).
    Watches,
    /// Members dropped to make room in the lineage table (their next call starts afresh).
    Evicted,
    /// Most tasks one task-list search in IRQ context visited (a new member's pid: bounded by
    /// `guest::RECENT_TASKS`); the whole-list searches run in process context.
    IrqTasksMax,
    /// Longest sweep of the whole task list by the poll (process context, but under the
    /// monitor lock: a request arriving meanwhile waits for it), ns.
    SweepMaxNs,
    /// Tasks the longest sweep visited.
    SweepTasks,
    /// P's calls retried after a page fault P was made to take: a page the check needed was
    /// not present (reclaimed, never touched) but mapped.
    PageIns,
    /// P's calls answered EFAULT without running: a page the check needed, where an argument
    /// points, is mapped by nothing (the guest kernel would fail the call the same way).
    Efaults,
}

const COUNT: usize = Counter::ALL.len();

impl Counter {
    /// Every counter, in index order.
    pub(crate) const ALL: [Counter; 27] = [
        Counter::Events,
        Counter::Allowed,
        Counter::Violations,
        Counter::Unverifiable,
        Counter::Kills,
        Counter::Checked,
        Counter::EvalMeanNs,
        Counter::EvalMaxNs,
        Counter::Other,
        Counter::BadRequests,
        Counter::Alerts,
        Counter::Pid,
        Counter::Attaches,
        Counter::EventMeanNs,
        Counter::EventMaxNs,
        Counter::IdentityUnproven,
        Counter::Undecided,
        Counter::Births,
        Counter::Members,
        Counter::Released,
        Counter::Watches,
        Counter::Evicted,
        Counter::IrqTasksMax,
        Counter::SweepMaxNs,
        Counter::SweepTasks,
        Counter::PageIns,
        Counter::Efaults,
    ];

    /// Its sysfs file in /sys/module/semguard/counters/.
    pub(crate) fn file_name(self) -> &'static CStr {
        match self {
            Counter::Events => c_str!("events"),
            Counter::Allowed => c_str!("allowed"),
            Counter::Violations => c_str!("violations"),
            Counter::Unverifiable => c_str!("unverifiable"),
            Counter::Kills => c_str!("kills"),
            Counter::Checked => c_str!("checked"),
            Counter::EvalMeanNs => c_str!("eval_mean_ns"),
            Counter::EvalMaxNs => c_str!("eval_max_ns"),
            Counter::Other => c_str!("other"),
            Counter::BadRequests => c_str!("bad_requests"),
            Counter::Alerts => c_str!("alerts"),
            Counter::Pid => c_str!("pid"),
            Counter::Attaches => c_str!("attaches"),
            Counter::EventMeanNs => c_str!("event_mean_ns"),
            Counter::EventMaxNs => c_str!("event_max_ns"),
            Counter::IdentityUnproven => c_str!("identity_unproven"),
            Counter::Undecided => c_str!("undecided"),
            Counter::Births => c_str!("births"),
            Counter::Members => c_str!("members"),
            Counter::Released => c_str!("released"),
            Counter::Watches => c_str!("watches"),
            Counter::Evicted => c_str!("evicted"),
            Counter::IrqTasksMax => c_str!("irq_tasks_max"),
            Counter::SweepMaxNs => c_str!("sweep_max_ns"),
            Counter::SweepTasks => c_str!("sweep_tasks"),
            Counter::PageIns => c_str!("page_ins"),
            Counter::Efaults => c_str!("efaults"),
        }
    }
}

/// All counters. Relaxed atomics: each is an independent statistic (they are written under
/// the monitor's lock, read by sysfs without it).
pub(crate) struct Counters {
    cells: [AtomicU64; COUNT],
    /// Sum of check times, for the mean.
    eval_total_ns: AtomicU64,
    /// Sum of request times, for the mean.
    event_total_ns: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Self { cells: [ZERO; COUNT], eval_total_ns: AtomicU64::new(0), event_total_ns: AtomicU64::new(0) }
    }

    fn cell(&self, c: Counter) -> Option<&AtomicU64> {
        self.cells.get(c as usize)
    }

    /// The current value of `c`.
    pub(crate) fn get(&self, c: Counter) -> u64 {
        if c == Counter::EvalMeanNs {
            let n = self.get(Counter::Checked);
            return self.eval_total_ns.load(Ordering::Relaxed).checked_div(n).unwrap_or(0);
        }
        if c == Counter::EventMeanNs {
            let n = self.get(Counter::Events);
            return self.event_total_ns.load(Ordering::Relaxed).checked_div(n).unwrap_or(0);
        }
        self.cell(c).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Adds one to `c` (wrapping: a statistic must never oops the kernel).
    pub(crate) fn inc(&self, c: Counter) {
        if let Some(a) = self.cell(c) {
            a.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets a value counter.
    pub(crate) fn set(&self, c: Counter, v: u64) {
        if let Some(a) = self.cell(c) {
            a.store(v, Ordering::Relaxed);
        }
    }

    /// Records one check that took `ns` (counts it in `Checked`).
    pub(crate) fn record_check(&self, ns: u64) {
        self.inc(Counter::Checked);
        // fetch_add wraps; after 584 years of checking the mean is wrong, not the kernel.
        self.eval_total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max(Counter::EvalMaxNs, ns);
    }

    /// Raises a maximum counter to `v`.
    pub(crate) fn max(&self, c: Counter, v: u64) {
        if let Some(a) = self.cell(c) {
            a.fetch_max(v, Ordering::Relaxed);
        }
    }

    /// Records the time one request took to answer (counted in `Events` by the handler).
    pub(crate) fn record_event(&self, ns: u64) {
        self.event_total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max(Counter::EventMaxNs, ns);
    }
}

/// The counters of this module instance (statics are fresh on every load).
pub(crate) static COUNTERS: Counters = Counters::new();

/// A stage of the event path, timed separately (sysfs `counters/profile`). The stages of one
/// request do not overlap: the foreign-frame reads are taken out of the stages they happen in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Stage {
    /// Copying the request off the ring, parsing and validating it.
    Ring = 0,
    /// semguard-core's `check_event`: decode (+ the ia32 6th argument), translation-cache
    /// lookups, page-table walk logic, invariant evaluation, trace automaton, the action —
    /// without the frame reads.
    Check = 1,
    /// Frame reads whose frame was already mapped (slot lookup + copy): counted only, their
    /// time is part of the stage they happen in.
    FrameHit = 2,
    /// Frame reads that had to map the frame (`update_va_mapping_otherdomain` + TLB flush + copy).
    FrameMiss = 3,
    /// The decision's consequences (counters, alert, kill edit, phase change) and writing the
    /// response.
    Response = 4,
    /// Publishing the responses and notifying Xen (once per pass over the ring).
    Notify = 5,
    /// In the IRQ handler, for a call that is not a known member's: the lineage's routing,
    /// reading a new image's build-id note and a new member's pid (a bounded search of the
    /// newest tasks), without frame reads.
    Find = 6,
    /// One request from ring to response (everything above but the notify).
    Request = 7,
    /// One run of the IRQ handler's drain (all its requests + notify).
    Drain = 8,
    /// From the end of one drain to the start of the next: the guest running until its next
    /// reported call, Xen's trap and request, the event channel and dom0's IRQ entry. Only
    /// drains less than a second apart count (the rest are pauses of P, not event latency).
    Idle = 9,
}

const STAGES: usize = 10;
const STAGE_NAMES: [&str; STAGES] =
    ["ring", "check", "frame_hit", "frame_miss", "response", "notify", "find", "request", "drain", "idle"];

/// Histogram buckets: 4 per power of two (≤ 19 % wide), enough for any u64.
const BUCKETS: usize = 252;

/// The bucket of `ns`: exact below 4, else 4 sub-buckets per octave.
fn bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros() as usize; // 2..=63
    let m = ((ns >> (e - 2)) & 3) as usize;
    4 + (e - 2) * 4 + m
}

/// The smallest value in bucket `b` (inverse of [`bucket`]).
fn bucket_floor(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let e = (b - 4) / 4 + 2;
    let m = ((b - 4) % 4) as u64;
    (4 + m) << (e - 2)
}

/// count / total / min / max and a histogram (for the median) of one stage.
struct StageStat {
    count: AtomicU64,
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    hist: [AtomicU64; BUCKETS],
}

impl StageStat {
    /// Lower bound of the bucket holding the median (within 19 % of it).
    fn median_ns(&self) -> u64 {
        let n = self.count.load(Ordering::Relaxed);
        let mut seen = 0u64;
        for (b, c) in self.hist.iter().enumerate() {
            seen = seen.saturating_add(c.load(Ordering::Relaxed));
            if seen.saturating_mul(2) >= n && seen > 0 {
                return bucket_floor(b);
            }
        }
        0
    }
}

/// The per-stage profile of the event path. Written under the monitor lock only (one writer
/// at a time, so plain load/store, no locked read-modify-write), read by sysfs without it.
pub(crate) struct StageProfile {
    stages: [StageStat; STAGES],
    /// Translations asked of the translation cache by checks, and how many needed a walk.
    translations: AtomicU64,
    walks: AtomicU64,
    /// Requests answered in the same IRQ after a notification (they came during it).
    late: AtomicU64,
    /// Cost of one clock reading (`sg_now_ns`), measured at attach.
    clock_ns: AtomicU64,
}

impl StageProfile {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const Z: StageStat = StageStat {
            count: ZERO,
            total_ns: ZERO,
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: ZERO,
            hist: [ZERO; BUCKETS],
        };
        Self {
            stages: [Z; STAGES],
            translations: AtomicU64::new(0),
            walks: AtomicU64::new(0),
            late: ZERO,
            clock_ns: AtomicU64::new(0),
        }
    }

    /// Adds one occurrence of `s` that took `ns`. Caller holds the monitor lock.
    pub(crate) fn add(&self, s: Stage, ns: u64) {
        let Some(st) = self.stages.get(s as usize) else { return };
        bump(&st.count, 1);
        bump(&st.total_ns, ns);
        if ns > st.max_ns.load(Ordering::Relaxed) {
            st.max_ns.store(ns, Ordering::Relaxed);
        }
        if ns < st.min_ns.load(Ordering::Relaxed) {
            st.min_ns.store(ns, Ordering::Relaxed);
        }
        if let Some(h) = st.hist.get(bucket(ns)) {
            bump(h, 1);
        }
    }

    /// Counts one occurrence of `s` without a time (frame hits: timing them would cost more
    /// than they do). Caller holds the monitor lock.
    pub(crate) fn count(&self, s: Stage) {
        if let Some(st) = self.stages.get(s as usize) {
            bump(&st.count, 1);
        }
    }

    /// Counts `n` requests answered after a notification in the same IRQ. Caller holds the
    /// monitor lock.
    pub(crate) fn add_late(&self, n: u64) {
        bump(&self.late, n);
    }

    /// Adds one check's translation-cache lookups and walks. Caller holds the monitor lock.
    pub(crate) fn add_translations(&self, lookups: u64, walks: u64) {
        bump(&self.translations, lookups);
        bump(&self.walks, walks);
    }

    /// Measures what one clock reading costs (mean of 64 back-to-back readings).
    pub(crate) fn calibrate(&self) {
        let t0 = crate::xen::now_ns();
        let mut last = t0;
        for _ in 0..64 {
            last = crate::xen::now_ns();
        }
        self.clock_ns.store(last.wrapping_sub(t0) / 64, Ordering::Relaxed);
    }

    /// Writes the profile as text: one line per stage, then the translation counts.
    pub(crate) fn write(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(w, "clock_ns={} (one ktime reading; one per stage boundary)", self.clock_ns.load(Ordering::Relaxed))?;
        writeln!(w, "median_ns: lower bound of the histogram bucket (4 per power of two) holding the median")?;
        for (st, name) in self.stages.iter().zip(STAGE_NAMES) {
            let n = st.count.load(Ordering::Relaxed);
            if name == "frame_hit" {
                writeln!(w, "{name} count={n} (not timed: inside check/find)")?;
                continue;
            }
            let total = st.total_ns.load(Ordering::Relaxed);
            let min = if n == 0 { 0 } else { st.min_ns.load(Ordering::Relaxed) };
            writeln!(
                w,
                "{name} count={n} min_ns={min} median_ns={} mean_ns={} max_ns={} total_ns={total}",
                st.median_ns(),
                total.checked_div(n).unwrap_or(0),
                st.max_ns.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            w,
            "translations={} walks={} answered_after_notify={}",
            self.translations.load(Ordering::Relaxed),
            self.walks.load(Ordering::Relaxed),
            self.late.load(Ordering::Relaxed)
        )
    }
}

/// `a += v`, wrapping, for a cell with a single writer (the monitor lock's holder).
fn bump(a: &AtomicU64, v: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
}

/// The event path's stage profile (fresh on every load).
pub(crate) static PROFILE: StageProfile = StageProfile::new();

/// Times consecutive stages with one clock reading per boundary, leaving out the time the
/// frame reads inside a stage took (they are recorded as their own stages).
pub(crate) struct Stopwatch {
    start: u64,
    last: u64,
    /// `ForeignFrames::read_ns` at the last lap.
    last_read_ns: u64,
}

impl Stopwatch {
    /// Starts now; `read_ns` is the foreign frames' current `read_ns`.
    pub(crate) fn start(read_ns: u64) -> Self {
        let now = crate::xen::now_ns();
        Self { start: now, last: now, last_read_ns: read_ns }
    }

    /// Records the time since the previous lap (or the start) as `s`, less the frame reads
    /// in it (`read_ns`: the foreign frames' `read_ns` now). Returns the lap's whole time.
    pub(crate) fn lap(&mut self, s: Stage, read_ns: u64) -> u64 {
        let now = crate::xen::now_ns();
        let d = now.wrapping_sub(self.last);
        let inner = read_ns.wrapping_sub(self.last_read_ns);
        PROFILE.add(s, d.saturating_sub(inner));
        self.last = now;
        self.last_read_ns = read_ns;
        d
    }

    /// When the last lap ended.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// Time from the start to the last lap.
    pub(crate) fn total(&self) -> u64 {
        self.last.wrapping_sub(self.start)
    }
}
