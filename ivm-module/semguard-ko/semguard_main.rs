// SPDX-License-Identifier: GPL-2.0

//! semguard.ko: the Assertion Checker in the I-VM (dom0).
//!
//! Loading the module validates its parameters, reads the policy blob from /lib/firmware and
//! has semguard-core decode and validate it, then attaches to the monitored domain: finds P in
//! the guest's task list, sets up Xen's monitor ring and event channel and enables the
//! system-call monitor (monitor.rs). Any failure makes insmod fail with one kernel log line
//! saying what is wrong, and nothing stays registered or enabled. A loaded module checks P's
//! calls in the event channel's IRQ handler, shows counters in /sys/module/semguard/counters/
//! and alerts (and policy replacement) through /dev/semguard.
//!
//! The C part (shim.c, xen.c, xenabi.c) only does what Linux 6.12's Rust bindings cannot:
//! module parameters, request_firmware without a device, a sysfs group, a misc device, Xen
//! hypercalls, the event-channel IRQ, foreign mappings and an IRQ-safe lock.

use kernel::prelude::*;

mod alerts;
mod config;
mod counters;
mod event;
mod exports;
mod ffi;
mod fmap;
mod guest;
mod monitor;
mod policy;
mod xen;

use config::Config;
use counters::{Counter, COUNTERS};
use ffi::{ControlDevice, SysfsCounters};
use policy::{LoadedPolicy, Summary};

module! {
    type: Semguard,
    name: "semguard",
    author: "semguard",
    description: "semguard: checks a Xen guest process's system calls against invariants on its memory",
    license: "GPL",
}

struct Semguard {
    // Drop for Semguard stops the poll and detaches first; then the fields drop in order:
    // user space loses the device and the counters' files.
    poll: Option<xen::Poll>,
    _dev: ControlDevice,
    _sysfs: SysfsCounters,
    config: Config,
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
        let profile = policy::profile_of(&p).map_err(|e| {
            pr_err!("policy {}: {}\n", config.policy, e);
            EINVAL
        })?;
        if p.identity().is_none() {
            pr_warn!("policy {}: no identity (build-id): P is chosen by its name alone\n", config.policy);
        }
        if !xen::pv_dom0() {
            pr_err!("not running in a Xen PV dom0: semguard needs one\n");
            return Err(ENODEV);
        }
        match xen::domain_info(config.domid) {
            Ok(info) if !info.dead && !info.shut_down => {}
            Ok(info) if info.dead => {
                pr_err!("domain {}: no such running domain (it was destroyed)\n", config.domid);
                return Err(ESRCH);
            }
            Ok(info) => {
                pr_err!("domain {}: no such running domain (shut down, reason {})\n", config.domid, info.reason_name());
                return Err(ESRCH);
            }
            Err(e) => {
                pr_err!("domain {}: no such running domain (error {})\n", config.domid, e.to_errno());
                return Err(ESRCH);
            }
        }
        pr_info!(
            "loaded policy {}: {}; domid={} process={} mode={} fail={}\n",
            config.policy,
            Summary(&p),
            config.domid,
            config.label(),
            config.mode.name(),
            config.fail.name(),
        );
        monitor::attach(config, policy, profile).map_err(|e| {
            pr_err!("domain {}: {} failed: error {}\n", config.domid, e.step, e.err.to_errno());
            e.err
        })?;
        // Registered last: on any earlier error nothing is visible outside the module.
        let undo = |e: Error, what: &str| {
            pr_err!("cannot create {}: error {}\n", what, e.to_errno());
            monitor::detach("load failed");
            monitor::release();
            e
        };
        let sysfs = SysfsCounters::register().map_err(|e| undo(e, "/sys/module/semguard/counters"))?;
        let dev = match ControlDevice::register() {
            Ok(d) => d,
            Err(e) => {
                drop(sysfs);
                return Err(undo(e, "/dev/semguard"));
            }
        };
        let poll = Some(xen::Poll::start(monitor::POLL_MS));
        pr_info!("monitoring domain {}\n", config.domid);
        Ok(Semguard { poll, _dev: dev, _sysfs: sysfs, config })
    }
}

impl Drop for Semguard {
    fn drop(&mut self) {
        // No housekeeping during the teardown (waits for a running poll).
        drop(self.poll.take());
        monitor::detach("rmmod");
        let id = monitor::policy_id();
        monitor::release();
        pr_info!(
            "unloaded (policy {} id={:#x}, domid={}): events={} checked={} violations={} kills={}\n",
            self.config.policy,
            id,
            self.config.domid,
            COUNTERS.get(Counter::Events),
            COUNTERS.get(Counter::Checked),
            COUNTERS.get(Counter::Violations),
            COUNTERS.get(Counter::Kills),
        );
    }
}
