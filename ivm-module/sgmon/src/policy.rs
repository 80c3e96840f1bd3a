//! `check`/`enforce` modes: semguard-core's decision (`decision::check_event`: decode, the
//! Assertion Checker, the one verdict → action mapping) on every selected call, reading P's
//! memory the way semguard.ko does — a page-table walk from the event's CR3 over machine
//! frames (`FrameReader<Machine>`), a translation cache that lives for one event
//! (`new_epoch()` per event) — but through privcmd foreign mappings of the guest's frames
//! instead of the kernel's. The user-space baseline for the module's per-event cost.
//!
//! One address space is followed (the latched or `--pgd` one): an `execve` gives P a new
//! page-table base, which the filter no longer matches (semguard.ko follows execs; sgmon
//! does not).

use semguard_core::addr::{Frame, Machine, PAGE_SIZE};
use semguard_core::checker::{Checker, ProcessState};
use semguard_core::decision::{check_event, Decision, Enforcement};
use semguard_core::mem::{FrameError, FrameReader};
use semguard_core::policy::Policy;
use semguard_core::process::{find_first, FindError, Select as FindSelect, TASK_LIMIT};
use semguard_core::profile::Profile;
use semguard_core::tcache::TranslationCache;
use semguard_core::vmem::GuestMemory;
use semguard_core::walker::{ConfigError, PagingConfig, PagingMode};
use semguard_core::xen_abi::SyscallEvent;

/// Decides calls against a policy; implemented by [`PolicyJudge`] (tests can use any reader).
pub trait Judge {
    /// Decides one of P's calls, `enforcement` mapping what does not pass to an action
    /// (semguard-core's [`check_event`] and [`Enforcement::action`]).
    fn judge(&mut self, ev: &SyscallEvent, enforcement: Enforcement) -> Decision;
}

/// The Assertion Checker over guest memory read through `R`.
pub struct PolicyJudge<'p, R: FrameReader<Machine>> {
    checker: Checker<'p>,
    state: ProcessState,
    paging: PagingConfig,
    tcache: TranslationCache<Machine>,
    reader: R,
}

impl<'p, R: FrameReader<Machine>> PolicyJudge<'p, R> {
    /// A judge for `policy`; `phys_bits` is the host's MAXPHYADDR (machine addresses in PV
    /// page tables are host-physical).
    pub fn new(policy: Policy<'p>, phys_bits: u8, reader: R) -> Result<Self, ConfigError> {
        let paging = PagingConfig::new(PagingMode::Level4, phys_bits.clamp(32, 52))?;
        let checker = Checker::new(policy);
        Ok(Self { state: checker.new_process(), checker, paging, tcache: TranslationCache::default(), reader })
    }
}

impl<R: FrameReader<Machine>> Judge for PolicyJudge<'_, R> {
    fn judge(&mut self, ev: &SyscallEvent, enforcement: Enforcement) -> Decision {
        let root = self.paging.root_from_cr3::<Machine>(ev.regs.cr3);
        // Guest page tables change between events: translations are reused within one only.
        self.tcache.new_epoch();
        let mut mem = GuestMemory::new(&mut self.reader, &mut self.tcache, root, self.paging);
        check_event(&self.checker, &mut self.state, ev, &mut mem, enforcement)
    }
}

/// Finds P's page-table base by name (`--comm`).
pub trait Finder {
    /// Looks for the process in the task list as seen through page-table base `cr3` (any
    /// process's tables map the guest kernel). `Ok(Some((pgd, tgid)))` when found, `Ok(None)`
    /// when the list has no such process (yet).
    fn find(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, FindError>;
}

/// semguard-core's task-list walk (`process::find_first`) over guest memory read through `R`.
pub struct CommFinder<R: FrameReader<Machine>> {
    name: Vec<u8>,
    profile: Profile,
    paging: PagingConfig,
    tcache: TranslationCache<Machine>,
    reader: R,
}

impl<R: FrameReader<Machine>> CommFinder<R> {
    /// A finder for process `name` with the guest-kernel `profile`.
    pub fn new(name: &str, profile: Profile, phys_bits: u8, reader: R) -> Result<Self, ConfigError> {
        let paging = PagingConfig::new(PagingMode::Level4, phys_bits.clamp(32, 52))?;
        Ok(Self { name: name.as_bytes().to_vec(), profile, paging, tcache: TranslationCache::default(), reader })
    }
}

impl<R: FrameReader<Machine>> Finder for CommFinder<R> {
    fn find(&mut self, cr3: u64) -> Result<Option<(u64, u32)>, FindError> {
        let root = self.paging.root_from_cr3::<Machine>(cr3);
        self.tcache.new_epoch();
        let mut mem = GuestMemory::new(&mut self.reader, &mut self.tcache, root, self.paging);
        match find_first(&mut mem, &self.profile, FindSelect::Comm(&self.name), TASK_LIMIT) {
            Ok(p) => Ok(Some((p.pgd.base(), p.tgid))),
            Err(FindError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Host MAXPHYADDR from /proc/cpuinfo ("address sizes : 40 bits physical, ..."), what the
/// dom0 kernel reports and semguard.ko uses.
pub fn phys_bits() -> Option<u8> {
    let s = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    parse_phys_bits(&s)
}

fn parse_phys_bits(cpuinfo: &str) -> Option<u8> {
    let line = cpuinfo.lines().find(|l| l.starts_with("address sizes"))?;
    let (_, rest) = line.split_once(':')?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Maps one guest frame into sgmon (privcmd foreign mapping); see `xen::ForeignMapper`.
pub trait MapFrame {
    /// The mapped page.
    type Page: PageBytes;
    /// Maps machine frame `mfn` of the guest.
    fn map(&mut self, mfn: u64) -> std::io::Result<Self::Page>;
}

/// Reads bytes out of a mapped page.
pub trait PageBytes {
    /// Copies `out.len()` bytes at `off` (`off + out.len() <= 4096`).
    fn copy_out(&self, off: usize, out: &mut [u8]);
}

/// `FrameReader<Machine>` over foreign mappings with a small cache (most events touch a few
/// frames: the four table levels and the variables' pages). Round-robin replacement.
pub struct CachedFrames<M: MapFrame> {
    mapper: M,
    slots: Vec<(u64, M::Page)>,
    next: usize,
    /// Mappings made (cache misses).
    pub maps: u64,
    /// Reads served.
    pub reads: u64,
}

/// Mappings kept.
pub const FRAME_CACHE: usize = 32;

impl<M: MapFrame> CachedFrames<M> {
    /// An empty cache over `mapper`.
    pub fn new(mapper: M) -> Self {
        Self { mapper, slots: Vec::with_capacity(FRAME_CACHE), next: 0, maps: 0, reads: 0 }
    }
}

impl<M: MapFrame> FrameReader<Machine> for CachedFrames<M> {
    fn read_frame(&mut self, frame: Frame<Machine>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError> {
        if offset.checked_add(buf.len()).is_none_or(|end| end > PAGE_SIZE as usize) {
            return Err(FrameError::OutOfBounds);
        }
        let mfn = frame.raw();
        self.reads += 1;
        let i = match self.slots.iter().position(|(m, _)| *m == mfn) {
            Some(i) => i,
            None => {
                let page = self.mapper.map(mfn).map_err(|_| FrameError::NotMapped { frame: mfn })?;
                self.maps += 1;
                if self.slots.len() < FRAME_CACHE {
                    self.slots.push((mfn, page));
                    self.slots.len() - 1
                } else {
                    let i = self.next % FRAME_CACHE;
                    self.next = self.next.wrapping_add(1);
                    // Dropping the old entry unmaps it.
                    self.slots[i] = (mfn, page);
                    i
                }
            }
        };
        self.slots[i].1.copy_out(offset, buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semguard_core::alert::Action;
    use semguard_core::decision::{FailMode, Finding, Mode};
    use semguard_core::eval::{EvalFault, Verdict};
    use semguard_core::policy::examples::{self, nr};
    use semguard_core::regs::{EntryKind, Registers};
    use std::collections::HashMap;

    /// Guest memory as machine frames, for the mapper.
    #[derive(Default)]
    struct Frames(HashMap<u64, Box<[u8; 4096]>>);

    struct Mapper<'a>(&'a Frames);
    struct Page(Box<[u8; 4096]>);
    impl PageBytes for Page {
        fn copy_out(&self, off: usize, out: &mut [u8]) {
            out.copy_from_slice(&self.0[off..off + out.len()]);
        }
    }
    impl MapFrame for Mapper<'_> {
        type Page = Page;
        fn map(&mut self, mfn: u64) -> std::io::Result<Page> {
            self.0 .0.get(&mfn).map(|p| Page(p.clone())).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EFAULT))
        }
    }

    const PTE: u64 = 0x7; // present, writable, user

    impl Frames {
        fn set_u64(&mut self, mfn: u64, index: u64, v: u64) {
            let p = self.0.entry(mfn).or_insert_with(|| Box::new([0; 4096]));
            let o = (index * 8) as usize;
            p[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        /// Maps `va`'s page to `data` under root `pml4` (tables at fixed MFNs per level).
        fn map(&mut self, pml4: u64, va: u64, data: u64) {
            let idx = |l: u32| (va >> (12 + 9 * l)) & 0x1ff;
            let (pdpt, pd, pt) = (pml4 + 1, pml4 + 2, pml4 + 3);
            self.set_u64(pml4, idx(3), (pdpt << 12) | PTE);
            self.set_u64(pdpt, idx(2), (pd << 12) | PTE);
            self.set_u64(pd, idx(1), (pt << 12) | PTE);
            self.set_u64(pt, idx(0), (data << 12) | PTE);
        }
    }

    fn write_event(count: u64, cr3: u64) -> SyscallEvent {
        let regs = Registers { rax: u64::from(nr::WRITE), rdi: 1, rsi: 0x1000, rdx: count, cr3, ..Default::default() };
        SyscallEvent { vcpu_id: 0, entry: EntryKind::Syscall64, seq: 1, user_pgd: 0, parent_pgd: 0, set_flags: 0, regs }
    }

    #[test]
    fn checker_reads_p_through_its_page_tables() {
        // config.max_len = 4096 at CONFIG_ADDR + MAX_LEN_OFFSET, in machine frame 0x500.
        let addr = examples::CONFIG_ADDR + examples::MAX_LEN_OFFSET;
        let mut frames = Frames::default();
        frames.map(0x100, addr, 0x500);
        frames.set_u64(0x500, (addr & 0xfff) / 8, examples::MAX_LEN);
        let mut blob = [0u8; 1024];
        let n = examples::write_count_le_config(&mut blob, addr).unwrap();
        let policy = Policy::decode(&blob[..n]).unwrap();
        let mut j = PolicyJudge::new(policy, 40, CachedFrames::new(Mapper(&frames))).unwrap();

        let e = Enforcement::DEFAULT;
        assert_eq!(j.judge(&write_event(10, 0x100 << 12), e).finding, None);
        let d = j.judge(&write_event(5000, 0x100 << 12), e);
        assert!(matches!(d.finding, Some(Finding::Verdict(Verdict::Violation { .. }))), "{d:?}");
        assert_eq!(d.action, Some(Action::Killed));
        // Another address space without the variable mapped: cannot decide, never "allow".
        frames_missing(&mut j);
        // 4 table frames + the data frame, each mapped once across the events (frame 0x900
        // does not exist: its mapping fails).
        assert_eq!(j.reader.maps, 5);
    }

    fn frames_missing<R: FrameReader<Machine>>(j: &mut PolicyJudge<'_, R>) {
        let d = j.judge(&write_event(10, 0x900 << 12), Enforcement::DEFAULT);
        match d.finding {
            Some(Finding::Verdict(Verdict::Unverifiable { reason: EvalFault::Memory { .. }, .. })) => {}
            other => panic!("expected unverifiable, got {other:?}"),
        }
        // The core's one mapping: fail closed kills it, fail open lets it run.
        assert_eq!(d.action, Some(Action::Killed));
        let open = Enforcement { mode: Mode::Enforce, fail: FailMode::Open };
        assert_eq!(j.judge(&write_event(10, 0x900 << 12), open).action, Some(Action::FailedOpen));
    }

    #[test]
    fn frame_cache_bounds_and_replacement() {
        let mut frames = Frames::default();
        for m in 0..(FRAME_CACHE as u64 + 5) {
            frames.set_u64(m, 0, m);
        }
        let mut c = CachedFrames::new(Mapper(&frames));
        let mut b = [0u8; 8];
        for m in 0..(FRAME_CACHE as u64 + 5) {
            c.read_frame(Frame::new(m), 0, &mut b).unwrap();
            assert_eq!(u64::from_le_bytes(b), m);
        }
        assert_eq!(c.slots.len(), FRAME_CACHE);
        c.read_frame(Frame::new(FRAME_CACHE as u64 + 4), 0, &mut b).unwrap();
        assert_eq!(c.maps, FRAME_CACHE as u64 + 5, "a cached frame is not mapped again");
        assert_eq!(c.read_frame(Frame::new(1), 4090, &mut b), Err(FrameError::OutOfBounds));
        assert_eq!(c.read_frame(Frame::new(0xdead), 0, &mut b), Err(FrameError::NotMapped { frame: 0xdead }));
    }

    #[test]
    fn phys_bits_from_cpuinfo() {
        let s = "processor\t: 0\naddress sizes\t: 40 bits physical, 48 bits virtual\n";
        assert_eq!(parse_phys_bits(s), Some(40));
        assert_eq!(parse_phys_bits("processor : 0\n"), None);
    }
}
