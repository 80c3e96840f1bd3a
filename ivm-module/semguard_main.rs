// SPDX-License-Identifier: GPL-2.0

//! semguard.ko: the Assertion Checker in the I-VM (dom0).
//!
//! Loading the module validates its parameters, reads the policy blob from /lib/firmware and
//! has semguard-core decode and validate it; any failure makes insmod fail with one kernel log
//! line saying what is wrong, and nothing stays registered. A loaded module owns the validated
//! policy and shows its counters in /sys/module/semguard/counters/.
//!
//! The C part (shim.c) only does what Linux 6.12's Rust bindings cannot: module parameters,
//! request_firmware without a device, a sysfs group. The Xen event path (event channel, ring,
//! guest memory mapping) comes with the Xen patch series.

use kernel::prelude::*;

mod config;
mod counters;
mod ffi;
mod policy;

use config::Config;
use counters::{Counter, COUNTERS};
use ffi::SysfsCounters;
use policy::{LoadedPolicy, Summary};

module! {
    type: Semguard,
    name: "semguard",
    author: "semguard",
    description: "semguard: checks a Xen guest process's system calls against invariants on its memory",
    license: "GPL",
}

struct Semguard {
    // Dropped first (fields drop in order): the counters' files go before anything else.
    _sysfs: SysfsCounters,
    config: Config,
    policy: LoadedPolicy,
}

impl kernel::Module for Semguard {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let config = Config::from_raw(&ffi::params()).map_err(|e| {
            pr_err!("bad parameter {}\n", e);
            EINVAL
        })?;
        // Config keeps the name with its NUL and only printable ASCII, so this cannot fail.
        let name = CStr::from_bytes_with_nul(config.policy.as_bytes_with_nul()).map_err(|_| EINVAL)?;
        let policy = LoadedPolicy::load(name).map_err(|e| {
            pr_err!("policy {}: {}\n", config.policy, e);
            e.errno()
        })?;
        let Some(p) = policy.policy() else {
            // The layout was made from these very bytes a moment ago.
            pr_err!("policy {}: lost its layout\n", config.policy);
            return Err(EINVAL);
        };
        // Registered last: on any earlier error nothing is visible outside the module.
        let sysfs = SysfsCounters::register().map_err(|e| {
            pr_err!("cannot create /sys/module/semguard/counters: error {}\n", e.to_errno());
            e
        })?;
        pr_info!(
            "loaded policy {}: {}; domid={} process={} mode={} fail={}\n",
            config.policy,
            Summary(&p),
            config.domid,
            config.process,
            config.mode.as_str(),
            config.fail.as_str(),
        );
        pr_info!("the Xen syscall monitor is not in this build: no events are checked yet\n");
        Ok(Semguard { _sysfs: sysfs, config, policy })
    }
}

impl Drop for Semguard {
    fn drop(&mut self) {
        let id = self.policy.policy().map_or(0, |p| p.policy_id());
        pr_info!(
            "unloaded (policy {} id={:#x}, domid={}): events={} violations={} kills={}\n",
            self.config.policy,
            id,
            self.config.domid,
            COUNTERS.get(Counter::Events),
            COUNTERS.get(Counter::Violations),
            COUNTERS.get(Counter::Kills),
        );
    }
}
