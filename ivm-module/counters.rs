// SPDX-License-Identifier: GPL-2.0

//! The module's counters, read by user space in /sys/module/semguard/counters/ (the files
//! are shim.c's; the values live here). They count only what the event path really did: until
//! the Xen event path is in, nothing increments them and they read 0.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::ffi::c_uint;

/// One counter; the numbers are shim.h's `SEMGUARD_COUNTER_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Counter {
    /// System calls of P reported by Xen.
    Events = 0,
    /// Calls that were checked and allowed.
    Allowed = 1,
    /// Calls that broke an invariant.
    Violations = 2,
    /// Calls that could not be checked (unreadable guest memory, bad state).
    Unverifiable = 3,
    /// Times P was killed.
    Kills = 4,
}

impl Counter {
    /// The counter with shim.h's number `which`.
    const fn from_index(which: u32) -> Option<Counter> {
        Some(match which {
            0 => Counter::Events,
            1 => Counter::Allowed,
            2 => Counter::Violations,
            3 => Counter::Unverifiable,
            4 => Counter::Kills,
            _ => return None,
        })
    }
}

/// All counters. Relaxed atomics: each is an independent statistic.
pub(crate) struct Counters {
    events: AtomicU64,
    allowed: AtomicU64,
    violations: AtomicU64,
    unverifiable: AtomicU64,
    kills: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            events: AtomicU64::new(0),
            allowed: AtomicU64::new(0),
            violations: AtomicU64::new(0),
            unverifiable: AtomicU64::new(0),
            kills: AtomicU64::new(0),
        }
    }

    fn cell(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Events => &self.events,
            Counter::Allowed => &self.allowed,
            Counter::Violations => &self.violations,
            Counter::Unverifiable => &self.unverifiable,
            Counter::Kills => &self.kills,
        }
    }

    /// The current value of `c`.
    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.cell(c).load(Ordering::Relaxed)
    }
}

/// The counters of this module instance (statics are fresh on every load).
pub(crate) static COUNTERS: Counters = Counters::new();

/// For shim.c's sysfs `show`: the value of counter `which`, 0 for a number it does not name.
#[no_mangle]
pub(crate) extern "C" fn semguard_counter_read(which: c_uint) -> u64 {
    Counter::from_index(which).map_or(0, |c| COUNTERS.get(c))
}
