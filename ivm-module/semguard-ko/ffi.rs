// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers around shim.c (declared in shim.h; the `#[repr(C)]` layouts here must match).

use core::ffi::c_void;

use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;

use crate::config::RawParams;

#[repr(C)]
struct SemguardParams {
    domid: c_int,
    process: *const c_char,
    policy: *const c_char,
    mode: *const c_char,
    fail: *const c_char,
}

#[repr(C)]
struct SemguardBlob {
    handle: *const c_void,
    data: *const u8,
    size: usize,
}

extern "C" {
    fn semguard_shim_params(out: *mut SemguardParams);
    fn semguard_shim_policy_load(name: *const c_char, max: usize, out: *mut SemguardBlob) -> c_int;
    fn semguard_shim_policy_release(blob: *mut SemguardBlob);
    fn semguard_shim_sysfs_add() -> c_int;
    fn semguard_shim_sysfs_remove();
    fn semguard_shim_dev_register(read_max: usize, policy_max: usize) -> c_int;
    fn semguard_shim_dev_unregister();
}

/// The bytes of a `charp` parameter, `None` if it is NULL.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`.
unsafe fn param_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL, NUL-terminated and valid for 'a (the caller's promise).
    Some(unsafe { CStr::from_char_ptr(p) }.as_bytes())
}

/// The module parameters.
///
/// `'static` because the values outlive every use the module can make of them: the parameters
/// are read-only (0444), so only the loader wrote them, before init; the loader frees `charp`
/// values only in free_module, after the module's exit function has run.
pub(crate) fn params() -> RawParams<'static> {
    let mut p = SemguardParams {
        domid: -1,
        process: core::ptr::null(),
        policy: core::ptr::null(),
        mode: core::ptr::null(),
        fail: core::ptr::null(),
    };
    // SAFETY: `p` is a valid, writable `struct semguard_params` (same layout, #[repr(C)]).
    unsafe { semguard_shim_params(&mut p) };
    // SAFETY: a `charp` parameter, NULL or a NUL-terminated string that lives, unchanged, as
    // long as the module (see above).
    let process = unsafe { param_bytes(p.process) };
    // SAFETY: as for `process`.
    let policy = unsafe { param_bytes(p.policy) };
    // SAFETY: as for `process`.
    let mode = unsafe { param_bytes(p.mode) };
    // SAFETY: as for `process`.
    let fail = unsafe { param_bytes(p.fail) };
    RawParams { domid: p.domid, process, policy, mode, fail }
}

/// A policy file read from /lib/firmware, released on drop.
pub(crate) struct FirmwareFile {
    blob: SemguardBlob,
}

impl FirmwareFile {
    /// Reads /lib/firmware/`name` if it has at most `max` bytes (`EFBIG` otherwise).
    pub(crate) fn load(name: &CStr, max: usize) -> Result<Self> {
        let mut blob = SemguardBlob { handle: core::ptr::null(), data: core::ptr::null(), size: 0 };
        // SAFETY: `name` is NUL-terminated and lives across the call; `blob` is a valid,
        // writable `struct semguard_blob`.
        let err = unsafe { semguard_shim_policy_load(name.as_char_ptr(), max, &mut blob) };
        if err != 0 {
            return Err(Error::from_errno(err));
        }
        Ok(Self { blob })
    }

    /// The file's contents.
    pub(crate) fn bytes(&self) -> &[u8] {
        if self.blob.data.is_null() || self.blob.size == 0 {
            return &[];
        }
        // SAFETY: on success the shim set `data`/`size` to the file's bytes, which stay valid
        // and unchanged until `semguard_shim_policy_release` (our drop); the borrow of `self`
        // ends before that.
        unsafe { core::slice::from_raw_parts(self.blob.data, self.blob.size) }
    }
}

impl Drop for FirmwareFile {
    fn drop(&mut self) {
        // SAFETY: `blob` came from a successful `semguard_shim_policy_load` and is released
        // exactly once, here.
        unsafe { semguard_shim_policy_release(&mut self.blob) };
    }
}

/// The sysfs counters group, /sys/module/semguard/counters/, removed on drop.
pub(crate) struct SysfsCounters {
    // Only `register` makes one, so every value stands for an added group.
    _private: (),
}

impl SysfsCounters {
    /// Creates the group.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: called from module init, after the loader made the module's kobject and
        // before anything removes it; the group is added once (this type is not Clone).
        let err = unsafe { semguard_shim_sysfs_add() };
        if err != 0 {
            return Err(Error::from_errno(err));
        }
        Ok(Self { _private: () })
    }
}

impl Drop for SysfsCounters {
    fn drop(&mut self) {
        // SAFETY: the group was added by `register` and is removed exactly once, here, while
        // the module's kobject still exists (drop runs in module exit at the latest).
        unsafe { semguard_shim_sysfs_remove() };
    }
}

/// Most bytes one read of /dev/semguard copies: every record the alert ring keeps.
const READ_MAX: usize = crate::alerts::ALERT_SLOTS * semguard_core::alert::RECORD_SIZE;

/// The control device /dev/semguard (shim.c), removed on drop.
pub(crate) struct ControlDevice {
    // Only `register` makes one.
    _private: (),
}

impl ControlDevice {
    /// Registers the misc device; from now on its reads and writes reach monitor.rs.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: module init, once (not Clone); the Rust callbacks are ready (the monitor is
        // attached before this).
        let err = unsafe { semguard_shim_dev_register(READ_MAX, crate::policy::POLICY_MAX) };
        if err != 0 {
            return Err(Error::from_errno(err));
        }
        Ok(Self { _private: () })
    }
}

impl Drop for ControlDevice {
    fn drop(&mut self) {
        // SAFETY: registered by `register`, removed once; misc_deregister waits for nothing,
        // but the module's refcount keeps open files from outliving the module's code.
        unsafe { semguard_shim_dev_unregister() };
    }
}
