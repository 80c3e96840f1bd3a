// SPDX-License-Identifier: GPL-2.0

//! The functions the C part calls (declared in shim.h): the IRQ handler's and the poll's
//! entries, /dev/semguard's read and write, the sysfs files. Each checks the pointers C hands
//! it and calls into the Rust side; no logic of its own.

use core::fmt::{self, Write};
use kernel::ffi::{c_char, c_int, c_long, c_uint};

use kernel::prelude::*;

use crate::counters::{Counter, COUNTERS, PROFILE};
use crate::monitor::{self, with_shared};

/// The IRQ handler's entry (xen.c `sg_irq_handler`).
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_event() {
    with_shared(crate::event::drain);
}

/// The periodic housekeeping (xen.c's delayed work, process context); false stops it.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_poll() -> bool {
    monitor::poll()
}

/// `/dev/semguard` read: alert records from `*cursor` on.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_alerts_read(cursor: *mut u64, buf: *mut u8, len: usize) -> c_long {
    if cursor.is_null() || buf.is_null() || len < semguard_core::alert::RECORD_SIZE {
        return EINVAL.to_errno() as c_long;
    }
    // SAFETY: shim.c passes a valid cursor and a kernel buffer of `len` writable bytes that
    // nothing else uses during the call.
    let (cursor, out) = unsafe { (&mut *cursor, core::slice::from_raw_parts_mut(buf, len)) };
    let n = with_shared(|s| s.alerts.read(cursor, out));
    n as c_long
}

/// `/dev/semguard` write: a new policy.
#[no_mangle]
pub(crate) extern "C" fn semguard_rust_policy_write(data: *const u8, len: usize) -> c_int {
    if data.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: shim.c passes its kernel copy of the written bytes, valid for the call.
    let bytes = unsafe { core::slice::from_raw_parts(data, len) };
    match monitor::replace_policy(bytes) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// For shim.c's sysfs group: the number of counter files.
#[no_mangle]
pub(crate) extern "C" fn semguard_counter_count() -> c_uint {
    Counter::ALL.len() as c_uint
}

/// For shim.c's sysfs group: counter `which`'s file name (NUL-terminated, static), NULL past
/// the last.
#[no_mangle]
pub(crate) extern "C" fn semguard_counter_name(which: c_uint) -> *const c_char {
    Counter::ALL.get(which as usize).map_or(core::ptr::null(), |c| c.file_name().as_char_ptr())
}

/// For shim.c's sysfs `show`: the value of counter `which`, 0 for a number it does not name.
#[no_mangle]
pub(crate) extern "C" fn semguard_counter_read(which: c_uint) -> u64 {
    Counter::ALL.get(which as usize).map_or(0, |&c| COUNTERS.get(c))
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
    sysfs_show(buf, len, |w| monitor::state_line(w))
}
