// SPDX-License-Identifier: GPL-2.0

//! The module's counters, read by user space in /sys/module/semguard/counters/ (the files
//! are shim.c's; the values live here). They count only what the event path really did.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::ffi::c_uint;

/// One counter; the numbers are shim.h's `SEMGUARD_COUNTER_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Counter {
    /// Requests Xen put on the ring (every reported call, P's or not).
    Events = 0,
    /// P's calls that were checked and allowed.
    Allowed = 1,
    /// P's calls that broke the policy.
    Violations = 2,
    /// P's calls that could not be checked (unreadable guest memory, undecodable call).
    Unverifiable = 3,
    /// Times P was killed (a call rewritten to exit_group).
    Kills = 4,
    /// P's calls run through the Assertion Checker.
    Checked = 5,
    /// Mean time of one check (decode + walk + evaluate), ns.
    EvalMeanNs = 6,
    /// Longest check, ns.
    EvalMaxNs = 7,
    /// Reported calls of other processes (waiting for P, switching after an execve).
    Other = 8,
    /// Requests that were not valid syscall events (answered without a decision).
    BadRequests = 9,
    /// Alert records written.
    Alerts = 10,
    /// P's pid while it is monitored, 0 otherwise (a value, not a count).
    Pid = 11,
    /// Times the monitor was attached to a process named `process`.
    Attaches = 12,
    /// Mean time to answer one request (validate, phase logic, check if P's, response), ns.
    EventMeanNs = 13,
    /// Longest time to answer one request, ns.
    EventMaxNs = 14,
}

const COUNT: usize = 15;

impl Counter {
    /// The counter with shim.h's number `which`.
    const fn from_index(which: u32) -> Option<Counter> {
        Some(match which {
            0 => Counter::Events,
            1 => Counter::Allowed,
            2 => Counter::Violations,
            3 => Counter::Unverifiable,
            4 => Counter::Kills,
            5 => Counter::Checked,
            6 => Counter::EvalMeanNs,
            7 => Counter::EvalMaxNs,
            8 => Counter::Other,
            9 => Counter::BadRequests,
            10 => Counter::Alerts,
            11 => Counter::Pid,
            12 => Counter::Attaches,
            13 => Counter::EventMeanNs,
            14 => Counter::EventMaxNs,
            _ => return None,
        })
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
        if let Some(max) = self.cell(Counter::EvalMaxNs) {
            max.fetch_max(ns, Ordering::Relaxed);
        }
    }

    /// Records the time one request took to answer (counted in `Events` by the handler).
    pub(crate) fn record_event(&self, ns: u64) {
        self.event_total_ns.fetch_add(ns, Ordering::Relaxed);
        if let Some(max) = self.cell(Counter::EventMaxNs) {
            max.fetch_max(ns, Ordering::Relaxed);
        }
    }
}

/// The counters of this module instance (statics are fresh on every load).
pub(crate) static COUNTERS: Counters = Counters::new();

/// For shim.c's sysfs `show`: the value of counter `which`, 0 for a number it does not name.
#[no_mangle]
pub(crate) extern "C" fn semguard_counter_read(which: c_uint) -> u64 {
    Counter::from_index(which).map_or(0, |c| COUNTERS.get(c))
}
