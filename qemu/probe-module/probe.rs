// SPDX-License-Identifier: GPL-2.0

//! semguard_probe: the smallest module with the build shape of `semguard.ko`.
//!
//! A Rust object and a C object (`params.c`, which declares the module parameters) in one
//! `.ko`. On load it prints its parameters from Rust; on unload it says so. The test bed's
//! `module` scenario checks both lines and `/sys/module/semguard_probe/parameters/`.

use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::str::CStr;

module! {
    type: Probe,
    name: "semguard_probe",
    author: "semguard",
    description: "semguard test-bed probe: Rust module with parameters declared in C",
    license: "GPL",
}

extern "C" {
    fn semguard_probe_count() -> c_int;
    fn semguard_probe_name() -> *const c_char;
}

struct Probe;

impl kernel::Module for Probe {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: plain read of an `int` owned by params.c; the module loader set it before
        // calling init, and with permission 0444 nothing writes it afterwards.
        let count = unsafe { semguard_probe_count() };
        // SAFETY: as above; a `charp` parameter is either NULL or a NUL-terminated string.
        let name = unsafe { semguard_probe_name() };
        if name.is_null() {
            pr_info!("loaded count={} name=(null)\n", count);
        } else {
            // SAFETY: `name` is non-NULL, NUL-terminated, and stays allocated until the module
            // is freed (the loader frees `charp` values only after `cleanup_module`); the
            // borrow ends within this function.
            let name = unsafe { CStr::from_char_ptr(name) };
            pr_info!("loaded count={} name={}\n", count, name);
        }
        Ok(Probe)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
