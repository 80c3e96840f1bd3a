//! sgmon: user-space consumer of semguard's PV system-call monitor (xen-patches 0001–0008), run
//! in a PV dom0. It follows the user-space hypercall sequence of the series ("sequence B"):
//! privcmd domctls through a /dev/xen/hypercall buffer, a ring of as many pages as the domain's
//! vCPUs need (or `--ring-pages`; xen-patches 0017) that Xen allocates for us, mapped together
//! with MMAPBATCH_V2 + DOMID_SELF, an interdomain event channel through /dev/xen/evtchn.
//! Request/response layout and ring constants: semguard-core's `xen_abi`; decoding and the kill
//! edit: semguard-core's `syscall`. A debugging tool and the user-space baseline for the
//! performance comparison with semguard.ko. `sgmon --help` for the command line.

mod args;
mod consumer;
mod domctl;
mod policy;
mod xen;

use args::{Config, Mode};
use consumer::{Action, Consumer};
use domctl::*;
use semguard_core::ring::BackRing;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use xen::{errno_name, errno_of, signals, Evtchn, ForeignMapper, Mapping, Privcmd};

/// An error that ends the run: "SGMON ERROR <step>: <ERRNO> (<hint>)".
struct Failure(String);

fn hint(step: &str, errno: i32) -> &'static str {
    match (step, errno) {
        (_, libc::EPERM) | (_, libc::EACCES) => "not privileged: run as root in dom0",
        ("open", libc::ENOENT) => "no /dev/xen devices: not a Xen dom0, or xenfs/privcmd missing",
        ("monitor enable", libc::ENOENT) => "no ring",
        ("monitor enable", libc::ENOTCONN) => "event channel not bound",
        ("monitor enable", libc::EOPNOTSUPP) => "hypervisor without the system-call monitor",
        ("monitor enable", libc::ENOSPC) => "the ring has fewer slots than the domain has vCPUs: --ring-pages",
        ("ring enable", libc::EBUSY) => "a ring exists: another consumer is running",
        ("ring enable", libc::EOPNOTSUPP) => "hypervisor without XEN_VM_EVENT_ENABLE_FRAME",
        ("ring disable", libc::EINVAL) => "no ring",
        (_, libc::ESRCH) => "no such domain",
        _ => "",
    }
}

fn failure(step: &str, e: &io::Error) -> Failure {
    let errno = errno_of(e);
    let h = hint(step, errno);
    let what = if errno != 0 { errno_name(errno) } else { e.to_string() };
    Failure(if h.is_empty() { format!("{step}: {what}") } else { format!("{step}: {what} ({h})") })
}

/// "ok" or the errno name, for status lines.
fn rc_str(r: &io::Result<Domctl>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(errno_of(e)),
    }
}

fn out(line: &str) {
    // stdout is line-buffered; a closed stdout must not kill the consumer (and P with it).
    let _ = writeln!(io::stdout(), "{line}");
}

/// The ring, the channel and the monitor of one run; torn down in the order the series wants:
/// monitor off, ring off (Xen answers what still waits), then unmap and close.
struct Session {
    pc: Privcmd,
    domid: u16,
    /// Xen has our ring (enabled, whether mapped here yet or not).
    ring_enabled: bool,
    /// Its pages, mapped contiguously.
    ring: Option<Mapping>,
    evtchn: Option<Evtchn>,
    monitor_on: bool,
}

impl Session {
    /// vCPUs of the domain (`max_vcpu_id + 1`: Xen compares the ring's slots with that).
    fn vcpus(&mut self) -> io::Result<u32> {
        let dc = self.pc.domctl(&Domctl::getdomaininfo(self.domid), None)?;
        match dc.domaininfo_vcpus() {
            // Xen answered for the next domain: ours does not exist.
            (d, _) if d != self.domid => Err(io::Error::from_raw_os_error(libc::ESRCH)),
            (_, n) => Ok(n),
        }
    }

    /// `ENABLE_FRAME` of a ring of `pages` pages that Xen allocates: its port and frames, in
    /// ring order.
    fn ring_enable(&mut self, pages: usize) -> io::Result<(u32, Vec<u64>)> {
        let mut frames = vec![0u64; pages];
        let dc = Domctl::enable_frame(self.domid, pages, self.pc.frames_va());
        let dc = self.pc.domctl_frames(&dc, &mut frames)?;
        self.ring_enabled = true;
        if pages == 1 {
            frames[0] = dc.enable_frame_frame();
        }
        if frames.contains(&0) || frames[0] != dc.enable_frame_frame() {
            // Not what the ABI promises: no mapping of Xen's answer.
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("Xen returned frames {frames:#x?}")));
        }
        Ok((dc.enable_frame_port(), frames))
    }

    fn vm_event(&mut self, op: u32, frame: u64) -> io::Result<Domctl> {
        self.pc.domctl(&Domctl::vm_event_op(self.domid, op, frame), None)
    }

    fn monitor(&mut self, op: u32, f: &Filter) -> io::Result<Domctl> {
        let va = self.pc.bitmap_va();
        self.pc.domctl(&Domctl::monitor_syscall(self.domid, op, f, va), f.bitmap.as_ref())
    }

    fn teardown(&mut self) {
        if self.monitor_on {
            let off = Filter { pgd_match: 0, pgd_mask: 0, bitmap: None, fail_open: false };
            let r = self.monitor(XEN_DOMCTL_MONITOR_OP_DISABLE, &off);
            out(&format!("SGMON MONITOR-DISABLE rc={}", rc_str(&r)));
            self.monitor_on = false;
        }
        if self.ring_enabled {
            let r = self.vm_event(XEN_VM_EVENT_DISABLE, 0);
            out(&format!("SGMON RING-DISABLE rc={}", rc_str(&r)));
            self.ring_enabled = false;
        }
        self.ring = None; // munmap
        self.evtchn = None; // close: unbinds our port
    }
}

fn run(cfg: Config) -> Result<(), Failure> {
    if !xen::have_privcmd() {
        return Err(Failure("open: /dev/xen/privcmd missing (not a Xen dom0, or xenfs/privcmd not available)".into()));
    }
    // Before anything exists to tear down: a TERM during setup then waits for the event loop,
    // which tears down cleanly.
    signals::install().map_err(|e| failure("sigaction", &e))?;
    let pc = Privcmd::open().map_err(|e| failure("open", &e))?;
    let mut s = Session { pc, domid: cfg.domid, ring_enabled: false, ring: None, evtchn: None, monitor_on: false };

    // A killed predecessor leaves its ring (and a monitor that kills P at its next selected call)
    // until someone disables it; EINVAL = there was none.
    let r = s.vm_event(XEN_VM_EVENT_DISABLE, 0);
    out(&format!("SGMON STALE-DISABLE rc={}", rc_str(&r)));
    if cfg.mode == Mode::Off {
        return match r {
            Ok(_) => Ok(()),
            Err(e) if errno_of(&e) == libc::EINVAL => Ok(()),
            Err(e) => Err(failure("ring disable", &e)),
        };
    }
    let pol = load_policy(&cfg)?;
    let finder = make_finder(&cfg, pol.as_ref())?;
    let judge = make_judge(&cfg, pol)?;
    let mut consumer = None;
    let result = monitor_loop(&cfg, &mut s, &mut consumer, judge, finder);
    s.teardown();
    if let Some(c) = consumer {
        out(&c.summary());
    }
    result
}

/// The policy file (check/enforce), decoded once; the blob lives as long as the program.
fn load_policy(cfg: &Config) -> Result<Option<semguard_core::policy::Policy<'static>>, Failure> {
    let Some(path) = cfg.policy.as_deref() else { return Ok(None) };
    let blob = std::fs::read(path).map_err(|e| Failure(format!("policy {path}: {e}")))?;
    let blob: &'static [u8] = Box::leak(blob.into_boxed_slice());
    let pol = semguard_core::policy::Policy::decode(blob).map_err(|e| Failure(format!("policy {path}: {e:?}")))?;
    // sgmon follows one page-table base and never reads P's mm_struct: it cannot place a
    // position-independent P, whose checks would then all fail. Say so instead.
    if pol.identity().is_some_and(|id| id.relative()) {
        return Err(Failure(format!(
            "policy {path}: P is position-independent (a PIE); sgmon cannot find its load base — use semguard.ko"
        )));
    }
    out(&format!("SGMON POLICY file={path} bytes={}", blob.len()));
    Ok(Some(pol))
}

fn host_phys_bits() -> Result<u8, Failure> {
    policy::phys_bits().ok_or_else(|| Failure("no 'address sizes' in /proc/cpuinfo".into()))
}

/// The Assertion Checker for check/enforce: guest memory through foreign mappings of the
/// target domain.
fn make_judge(
    cfg: &Config,
    pol: Option<semguard_core::policy::Policy<'static>>,
) -> Result<Option<Box<dyn policy::Judge>>, Failure> {
    let Some(pol) = pol else { return Ok(None) };
    let mapper = ForeignMapper::open(cfg.domid).map_err(|e| failure("open", &e))?;
    let judge = policy::PolicyJudge::new(pol, host_phys_bits()?, policy::CachedFrames::new(mapper))
        .map_err(|e| Failure(format!("paging configuration: {e:?}")))?;
    Ok(Some(Box::new(judge)))
}

/// The task-list search for `--comm`, with the profile from `--profile` or the policy.
fn make_finder(
    cfg: &Config,
    pol: Option<&semguard_core::policy::Policy<'static>>,
) -> Result<Option<Box<dyn policy::Finder>>, Failure> {
    let Some(name) = cfg.comm.as_deref() else { return Ok(None) };
    let bytes = match (&cfg.profile, pol.and_then(|p| p.kernel_profile())) {
        (Some(path), _) => std::fs::read(path).map_err(|e| Failure(format!("profile {path}: {e}")))?,
        (None, Some(b)) => b.to_vec(),
        (None, None) => {
            return Err(Failure("--comm needs --profile FILE or a policy with a guest-kernel profile".into()))
        }
    };
    let profile = semguard_core::profile::Profile::decode(&bytes).map_err(|e| Failure(format!("profile: {e:?}")))?;
    let mapper = ForeignMapper::open(cfg.domid).map_err(|e| failure("open", &e))?;
    let f = policy::CommFinder::new(name, profile, host_phys_bits()?, policy::CachedFrames::new(mapper))
        .map_err(|e| Failure(format!("paging configuration: {e:?}")))?;
    Ok(Some(Box::new(f)))
}

fn monitor_loop(
    cfg: &Config,
    s: &mut Session,
    consumer: &mut Option<Consumer>,
    judge: Option<Box<dyn policy::Judge>>,
    finder: Option<Box<dyn policy::Finder>>,
) -> Result<(), Failure> {
    let vcpus = s.vcpus().map_err(|e| failure("domain info", &e))?;
    let pages = cfg.ring_pages(vcpus).map_err(|e| Failure(format!("ring size: {e}")))?;
    // From a successful enable on the ring exists: teardown disables it whatever happens next.
    let (port, frames) = s.ring_enable(pages).map_err(|e| match errno_of(&e) {
        libc::EINVAL if pages > 1 => Failure(format!(
            "ring enable: EINVAL (a ring of {pages} pages: a hypervisor without xen-patches 0017 takes only --ring-pages 1)"
        )),
        _ => failure("ring enable", &e),
    })?;
    let frame = frames[0];
    s.ring = Some(s.pc.map_frames(DOMID_SELF, &frames).map_err(|e| failure("ring map", &e))?);
    let ev = Evtchn::bind(cfg.domid, port).map_err(|e| failure("evtchn bind", &e))?;
    let lport = ev.local_port;
    s.evtchn = Some(ev);
    let c = consumer.insert(Consumer::new(cfg.clone(), judge, finder));
    let f = c.filter().clone();
    s.monitor(XEN_DOMCTL_MONITOR_OP_ENABLE, &f).map_err(|e| match errno_of(&e) {
        libc::ENOSPC => Failure(format!("monitor enable: ENOSPC ({})", args::enospc_hint(pages, vcpus))),
        _ => failure("monitor enable", &e),
    })?;
    s.monitor_on = true;
    let mut back = BackRing::new(pages);
    out(&format!(
        "SGMON READY domid={} port={port} lport={lport} frame={frame:#x} pages={pages} slots={} vcpus={vcpus} pgd_match={:#x} pgd_mask={:#x} nr_filter={}",
        cfg.domid,
        back.slots(),
        f.pgd_match,
        f.pgd_mask,
        u8::from(f.bitmap.is_some())
    ));

    while !signals::STOP.load(Ordering::SeqCst) {
        if signals::MONITOR_OFF.swap(false, Ordering::SeqCst) {
            let r = s.monitor(XEN_DOMCTL_MONITOR_OP_DISABLE, c.filter());
            s.monitor_on = r.is_err() && s.monitor_on;
            out(&format!("SGMON MONITOR off rc={}", rc_str(&r)));
        }
        if signals::MONITOR_ON.swap(false, Ordering::SeqCst) {
            let f = c.filter().clone();
            let r = s.monitor(XEN_DOMCTL_MONITOR_OP_ENABLE, &f);
            s.monitor_on = r.is_ok() || s.monitor_on;
            out(&format!("SGMON MONITOR on rc={}", rc_str(&r)));
        }
        let (Some(evc), Some(page)) = (s.evtchn.as_ref(), s.ring.as_mut()) else { break };
        match evc.wait() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failure("evtchn read", &e)),
        }
        let mut answered = false;
        loop {
            let n = back.unconsumed(page).map_err(|rc| {
                Failure(format!("ring: req_prod {} inconsistent with req_cons {}", rc.req_prod, rc.req_cons))
            })?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let index = back.req_cons;
                let raw = back.take_request(page);
                let o = c.handle(&raw, index);
                for l in &o.lines {
                    out(l);
                }
                if let Some(nf) = &o.refilter {
                    // Before the answer: the marker's caller is still paused.
                    let va = s.pc.bitmap_va();
                    s.pc.domctl(
                        &Domctl::monitor_syscall(cfg.domid, XEN_DOMCTL_MONITOR_OP_ENABLE, nf, va),
                        nf.bitmap.as_ref(),
                    )
                    .map_err(|e| failure("monitor refilter", &e))?;
                    c.filter_applied_from(back.req_prod(page));
                }
                if let Action::Answer(rsp) = &o.action {
                    let mut out = [0u8; semguard_core::xen_abi::VM_EVENT_SIZE];
                    back.put_response(page, rsp.response_bytes(&mut out));
                    answered = true;
                }
            }
        }
        if answered {
            back.push_responses(page);
            evc.notify().map_err(|e| failure("evtchn notify", &e))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cfg = match args::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(args::ArgError::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sgmon: {e}\n{}", args::USAGE);
            out(&format!("SGMON ERROR args: {e}"));
            return ExitCode::from(2);
        }
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            out(&format!("SGMON ERROR {msg}"));
            eprintln!("sgmon: {msg}");
            ExitCode::FAILURE
        }
    }
}
