//! The domctls a syscall-monitor consumer issues (`XEN_DOMCTL_getdomaininfo` for the number of
//! vCPUs, `XEN_DOMCTL_vm_event_op`, `XEN_DOMCTL_monitor_op`), encoded at the byte offsets of the
//! patched `xen/include/public/domctl.h`.
//!
//! semguard-core's `xen_abi` owns the vm_event request/response, the ring layout and the
//! monitor filter's constants (`MONITOR_SYSCALL_*`) and the largest ring (`RING_MAX_PAGES`,
//! `XEN_VM_EVENT_RING_MAX_FRAMES`), which sgmon uses as they are. The domctl
//! byte offsets live here because sgmon is the only Rust encoder of a domctl (semguard.ko's C
//! shim fills Xen's own struct). The test `layout_matches_xen_headers` is the one check of the
//! domctl layout: it compiles every offset and constant below, and the core's filter
//! constants, as `_Static_assert`s against the patched header.

use semguard_core::xen_abi::{
    MONITOR_SYSCALL_BITMAP_BYTES, MONITOR_SYSCALL_FAIL_OPEN, MONITOR_SYSCALL_NR_FILTER, RING_MAX_PAGES,
};

/// `__HYPERVISOR_domctl`.
pub const HYPERVISOR_DOMCTL: u64 = 36;
/// `XEN_DOMCTL_INTERFACE_VERSION` (unchanged by the series).
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x15;
/// `XEN_DOMCTL_getdomaininfo`.
pub const XEN_DOMCTL_GETDOMAININFO: u32 = 5;
/// `XEN_DOMCTL_vm_event_op`.
pub const XEN_DOMCTL_VM_EVENT_OP: u32 = 56;
/// `XEN_DOMCTL_monitor_op`.
pub const XEN_DOMCTL_MONITOR_OP: u32 = 77;
/// `XEN_VM_EVENT_DISABLE`.
pub const XEN_VM_EVENT_DISABLE: u32 = 1;
/// `XEN_VM_EVENT_ENABLE_FRAME` (the series' consumer-provided ring).
pub const XEN_VM_EVENT_ENABLE_FRAME: u32 = 31;
/// `XEN_VM_EVENT_FRAME_ALLOCATE`: Xen allocates the ring page for a PV caller.
pub const XEN_VM_EVENT_FRAME_ALLOCATE: u64 = !0;
/// `XEN_DOMCTL_VM_EVENT_OP_MONITOR`.
pub const XEN_DOMCTL_VM_EVENT_OP_MONITOR: u32 = 2;
/// `XEN_DOMCTL_MONITOR_OP_ENABLE`.
pub const XEN_DOMCTL_MONITOR_OP_ENABLE: u32 = 0;
/// `XEN_DOMCTL_MONITOR_OP_DISABLE`.
pub const XEN_DOMCTL_MONITOR_OP_DISABLE: u32 = 1;
/// `XEN_DOMCTL_MONITOR_EVENT_SYSCALL`.
pub const XEN_DOMCTL_MONITOR_EVENT_SYSCALL: u32 = 31;
/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// `sizeof(struct xen_domctl)`.
pub const DOMCTL_SIZE: usize = 144;
/// Offsets in `struct xen_domctl`.
const OFF_CMD: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_DOMAIN: usize = 8;
const OFF_U: usize = 16;
/// `u.getdomaininfo`: domain (OUT: the domain found, the first from `domain` on), max_vcpu_id.
const OFF_GDI_DOMAIN: usize = OFF_U;
const OFF_GDI_MAX_VCPU_ID: usize = OFF_U + 68;
/// `u.vm_event_op`: op, mode, `u.enable_frame.{port, nr_frames, frame, frames}` (xen-patches
/// 0017: `nr_frames` was `pad`, which Xen before 0017 requires to be 0).
const OFF_VMEV_OP: usize = OFF_U;
const OFF_VMEV_MODE: usize = OFF_U + 4;
const OFF_VMEV_PORT: usize = OFF_U + 8;
const OFF_VMEV_NR_FRAMES: usize = OFF_U + 12;
const OFF_VMEV_FRAME: usize = OFF_U + 16;
const OFF_VMEV_FRAMES: usize = OFF_U + 24;
/// `u.monitor_op`: op, event, `u.syscall.{flags, pad, pgd_match, pgd_mask, nr_bitmap}`.
const OFF_MON_OP: usize = OFF_U;
const OFF_MON_EVENT: usize = OFF_U + 4;
const OFF_MON_FLAGS: usize = OFF_U + 8;
const OFF_MON_PGD_MATCH: usize = OFF_U + 16;
const OFF_MON_PGD_MASK: usize = OFF_U + 24;
const OFF_MON_NR_BITMAP: usize = OFF_U + 32;
/// Lineage mode's second bitmap: sgmon does not use the lineage set, so it stays null (zero).
#[cfg(test)]
const OFF_MON_OTHER_BITMAP: usize = OFF_U + 40;

/// A `struct xen_domctl` as bytes (what goes into the hypercall buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domctl(pub [u8; DOMCTL_SIZE]);

impl Domctl {
    fn new(cmd: u32, domain: u16) -> Self {
        let mut d = Self([0; DOMCTL_SIZE]);
        d.put_u32(OFF_CMD, cmd);
        d.put_u32(OFF_VERSION, XEN_DOMCTL_INTERFACE_VERSION);
        d.put_u16(OFF_DOMAIN, domain);
        d
    }

    /// `getdomaininfo` for `domain`.
    pub fn getdomaininfo(domain: u16) -> Self {
        Self::new(XEN_DOMCTL_GETDOMAININFO, domain)
    }

    /// OUT of `getdomaininfo`: `(domain, max_vcpu_id + 1)`. Xen 4.17 answers for the first
    /// domain whose id is at least the one asked for: the caller compares `domain`.
    pub fn domaininfo_vcpus(&self) -> (u16, u32) {
        (self.get_u16(OFF_GDI_DOMAIN), self.get_u32(OFF_GDI_MAX_VCPU_ID).saturating_add(1))
    }

    /// `vm_event_op { op, mode = MONITOR, u.enable_frame.frame = frame }` for `domain`.
    pub fn vm_event_op(domain: u16, op: u32, frame: u64) -> Self {
        let mut d = Self::new(XEN_DOMCTL_VM_EVENT_OP, domain);
        d.put_u32(OFF_VMEV_OP, op);
        d.put_u32(OFF_VMEV_MODE, XEN_DOMCTL_VM_EVENT_OP_MONITOR);
        d.put_u64(OFF_VMEV_FRAME, frame);
        d
    }

    /// `ENABLE_FRAME` of a ring of `pages` pages (1 to [`RING_MAX_PAGES`]) that Xen allocates
    /// (`XEN_VM_EVENT_FRAME_ALLOCATE`). One page is `nr_frames` 0, as before xen-patches 0017
    /// (a Xen without it refuses anything else); more pages give `nr_frames` and `frames_va`,
    /// the address of a `u64` array of `pages` entries in memory Xen can write during the
    /// hypercall: Xen returns the frames there, in ring order.
    pub fn enable_frame(domain: u16, pages: usize, frames_va: u64) -> Self {
        assert!((1..=RING_MAX_PAGES).contains(&pages), "a ring of {pages} pages");
        let mut d = Self::vm_event_op(domain, XEN_VM_EVENT_ENABLE_FRAME, XEN_VM_EVENT_FRAME_ALLOCATE);
        if pages > 1 {
            d.put_u32(OFF_VMEV_NR_FRAMES, pages as u32);
            d.put_u64(OFF_VMEV_FRAMES, frames_va);
        }
        d
    }

    /// `monitor_op { op, event = SYSCALL, u.syscall = {...} }` for `domain`; `bitmap_va` is the
    /// address of the number bitmap ([`MONITOR_SYSCALL_BITMAP_BYTES`]) in memory Xen can copy
    /// from.
    pub fn monitor_syscall(domain: u16, op: u32, filter: &Filter, bitmap_va: u64) -> Self {
        let mut d = Self::new(XEN_DOMCTL_MONITOR_OP, domain);
        d.put_u32(OFF_MON_OP, op);
        d.put_u32(OFF_MON_EVENT, XEN_DOMCTL_MONITOR_EVENT_SYSCALL);
        d.put_u32(OFF_MON_FLAGS, filter.flags());
        d.put_u64(OFF_MON_PGD_MATCH, filter.pgd_match);
        d.put_u64(OFF_MON_PGD_MASK, filter.pgd_mask);
        d.put_u64(OFF_MON_NR_BITMAP, if filter.bitmap.is_some() { bitmap_va } else { 0 });
        d
    }

    /// OUT of `ENABLE_FRAME`: the Xen-side event channel port.
    pub fn enable_frame_port(&self) -> u32 {
        self.get_u32(OFF_VMEV_PORT)
    }

    /// OUT of `ENABLE_FRAME`: the ring page's MFN (of several pages, the first).
    pub fn enable_frame_frame(&self) -> u64 {
        self.get_u64(OFF_VMEV_FRAME)
    }

    fn put_u16(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn get_u16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.0[off], self.0[off + 1]])
    }
    fn get_u32(&self, off: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_le_bytes(b)
    }
    fn get_u64(&self, off: usize) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[off..off + 8]);
        u64::from_le_bytes(b)
    }
}

/// The in-Xen filter of `XEN_DOMCTL_MONITOR_EVENT_SYSCALL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Page-table base the caller's CR3 must equal under `pgd_mask`.
    pub pgd_match: u64,
    /// 0 = every process.
    pub pgd_mask: u64,
    /// `None` = every number (no `NR_FILTER` flag).
    pub bitmap: Option<[u8; MONITOR_SYSCALL_BITMAP_BYTES]>,
    /// Resume instead of kill when a call cannot be reported.
    pub fail_open: bool,
}

impl Filter {
    /// Flags word of `u.syscall`.
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.bitmap.is_some() {
            f |= MONITOR_SYSCALL_NR_FILTER;
        }
        if self.fail_open {
            f |= MONITOR_SYSCALL_FAIL_OPEN;
        }
        f
    }

    /// Does a call from page-table base `cr3` pass the pgd part (as Xen tests it)?
    pub fn pgd_selects(&self, cr3: u64) -> bool {
        cr3 & self.pgd_mask == self.pgd_match
    }
}

/// Sets bit `bit` of a number bitmap (bit n is bit n % 8 of byte n / 8); false if out of range.
pub fn bitmap_set(bitmap: &mut [u8; MONITOR_SYSCALL_BITMAP_BYTES], bit: usize) -> bool {
    match bitmap.get_mut(bit / 8) {
        Some(b) => {
            *b |= 1 << (bit % 8);
            true
        }
        None => false,
    }
}

/// Is bit `bit` set?
pub fn bitmap_test(bitmap: &[u8; MONITOR_SYSCALL_BITMAP_BYTES], bit: usize) -> bool {
    bitmap.get(bit / 8).is_some_and(|b| b & (1 << (bit % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use semguard_core::tracking::PGD_MASK;
    use semguard_core::xen_abi::{MONITOR_SYSCALL_NR_BITS, MONITOR_SYSCALL_NR_IA32};
    use std::fmt::Write as _;
    use std::path::PathBuf;
    use std::process::Command;

    #[test]
    fn vm_event_op_bytes() {
        let d = Domctl::vm_event_op(3, XEN_VM_EVENT_ENABLE_FRAME, XEN_VM_EVENT_FRAME_ALLOCATE);
        assert_eq!(d.0[0..4], 56u32.to_le_bytes());
        assert_eq!(d.0[4..8], 0x15u32.to_le_bytes());
        assert_eq!(d.0[8..10], 3u16.to_le_bytes());
        assert_eq!(d.0[16..20], 31u32.to_le_bytes());
        assert_eq!(d.0[20..24], 2u32.to_le_bytes());
        assert_eq!(d.0[24..32], [0; 8], "port OUT, pad must be 0");
        assert_eq!(d.0[32..40], [0xff; 8]);
        let mut out = d;
        out.0[24..28].copy_from_slice(&5u32.to_le_bytes());
        out.0[32..40].copy_from_slice(&0x3ead1u64.to_le_bytes());
        assert_eq!((out.enable_frame_port(), out.enable_frame_frame()), (5, 0x3ead1));
    }

    #[test]
    fn enable_frame_bytes() {
        // One page: nr_frames 0 and no frames array, byte for byte the request of a Xen before
        // xen-patches 0017 (which wants the former pad to be 0).
        let one = Domctl::enable_frame(3, 1, 0x7f00_0000_0400);
        assert_eq!(one, Domctl::vm_event_op(3, XEN_VM_EVENT_ENABLE_FRAME, XEN_VM_EVENT_FRAME_ALLOCATE));
        assert_eq!(one.0[28..32], [0; 4], "nr_frames 0 = one page");
        assert_eq!(one.0[40..48], [0; 8], "no frames array");
        for pages in [2, 4, RING_MAX_PAGES] {
            let d = Domctl::enable_frame(3, pages, 0x7f00_0000_0400);
            assert_eq!(d.0[16..20], 31u32.to_le_bytes());
            assert_eq!(d.0[20..24], 2u32.to_le_bytes());
            assert_eq!(d.0[24..28], [0; 4], "port is OUT");
            assert_eq!(d.0[28..32], (pages as u32).to_le_bytes());
            assert_eq!(d.0[32..40], [0xff; 8], "XEN_VM_EVENT_FRAME_ALLOCATE");
            assert_eq!(d.0[40..48], 0x7f00_0000_0400u64.to_le_bytes());
            assert!(d.0[48..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    #[should_panic(expected = "a ring of 17 pages")]
    fn enable_frame_bounded() {
        let _ = Domctl::enable_frame(3, RING_MAX_PAGES + 1, 0);
    }

    #[test]
    fn getdomaininfo_bytes() {
        let d = Domctl::getdomaininfo(7);
        assert_eq!(d.0[0..4], 5u32.to_le_bytes());
        assert_eq!(d.0[4..8], 0x15u32.to_le_bytes());
        assert_eq!(d.0[8..10], 7u16.to_le_bytes());
        assert!(d.0[10..].iter().all(|&b| b == 0));
        let mut out = d;
        out.0[16..18].copy_from_slice(&9u16.to_le_bytes());
        out.0[84..88].copy_from_slice(&11u32.to_le_bytes());
        assert_eq!(out.domaininfo_vcpus(), (9, 12), "the domain found, max_vcpu_id + 1");
    }

    #[test]
    fn monitor_op_bytes_and_flags() {
        let mut bm = [0u8; MONITOR_SYSCALL_BITMAP_BYTES];
        assert!(bitmap_set(&mut bm, 110));
        assert!(bitmap_set(&mut bm, MONITOR_SYSCALL_NR_IA32 + 64));
        assert!(!bitmap_set(&mut bm, MONITOR_SYSCALL_NR_BITS));
        assert_eq!(bm[13], 1 << 6);
        assert_eq!(bm[72], 1);
        assert!(bitmap_test(&bm, 110) && !bitmap_test(&bm, 111) && !bitmap_test(&bm, 5000));
        let f = Filter { pgd_match: 0x3ead_1000, pgd_mask: PGD_MASK, bitmap: Some(bm), fail_open: true };
        let d = Domctl::monitor_syscall(1, XEN_DOMCTL_MONITOR_OP_ENABLE, &f, 0x7f00_0000_0800);
        assert_eq!(d.0[0..4], 77u32.to_le_bytes());
        assert_eq!(d.0[16..20], 0u32.to_le_bytes());
        assert_eq!(d.0[20..24], 31u32.to_le_bytes());
        assert_eq!(d.0[24..28], 3u32.to_le_bytes());
        assert_eq!(d.0[28..32], [0; 4]);
        assert_eq!(d.0[32..40], 0x3ead_1000u64.to_le_bytes());
        assert_eq!(d.0[40..48], (!0xfffu64).to_le_bytes());
        assert_eq!(d.0[48..56], 0x7f00_0000_0800u64.to_le_bytes());
        assert_eq!(d.0[OFF_MON_OTHER_BITMAP..OFF_MON_OTHER_BITMAP + 8], [0; 8], "no lineage set");
        assert!(f.pgd_selects(0x3ead_1000) && f.pgd_selects(0x3ead_1fff) && !f.pgd_selects(0x3ead_2000));
        let any = Filter { pgd_match: 0, pgd_mask: 0, bitmap: None, fail_open: false };
        assert_eq!(any.flags(), 0);
        assert!(any.pgd_selects(0x1234_5000));
        let d = Domctl::monitor_syscall(1, XEN_DOMCTL_MONITOR_OP_DISABLE, &any, 0x7f00_0000_0800);
        assert_eq!(d.0[48..56], [0; 8], "no bitmap pointer without NR_FILTER");
    }

    /// Directories of patched public headers: `SEMGUARD_XEN_PUBLIC`, or scripts/build-xen's
    /// artefacts in the cache.
    fn patched_header_dirs() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(d) = std::env::var_os("SEMGUARD_XEN_PUBLIC") {
            dirs.push(PathBuf::from(d));
        } else {
            // The newest build in the cache (scripts/test sets SEMGUARD_XEN_PUBLIC to the current
            // series' build; older ones may predate a change of the series).
            let cache = std::env::var_os("SEMGUARD_CACHE").unwrap_or_else(|| "/var/cache/semguard".into());
            let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
            if let Ok(rd) = std::fs::read_dir(cache) {
                for e in rd.flatten() {
                    let p = e.path().join("include/public");
                    let name = e.file_name();
                    let done = std::fs::metadata(e.path().join(".done")).and_then(|m| m.modified());
                    if let (true, Ok(t), true) = (name.to_string_lossy().starts_with("xen-"), done, p.is_dir()) {
                        if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                            newest = Some((t, p));
                        }
                    }
                }
            }
            dirs.extend(newest.map(|(_, p)| p));
        }
        dirs.retain(|d| {
            std::fs::read_to_string(d.join("domctl.h")).is_ok_and(|s| s.contains("XEN_DOMCTL_MONITOR_EVENT_SYSCALL"))
        });
        dirs
    }

    #[test]
    fn layout_matches_xen_headers() {
        let dirs = patched_header_dirs();
        if dirs.is_empty() {
            eprintln!("SKIPPED layout_matches_xen_headers: no patched Xen public headers (SEMGUARD_XEN_PUBLIC or scripts/build-xen)");
            return;
        }
        let mut c = String::from("#define __XEN_TOOLS__ 1\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/xen.h>\n#include <xen/domctl.h>\n");
        let mut chk = |expr: String| writeln!(c, "_Static_assert({expr}, \"{}\");", expr.replace('"', "'")).unwrap();
        chk(format!("sizeof(struct xen_domctl) == {DOMCTL_SIZE}"));
        for (field, off) in [
            ("cmd", OFF_CMD),
            ("interface_version", OFF_VERSION),
            ("domain", OFF_DOMAIN),
            ("u.vm_event_op.op", OFF_VMEV_OP),
            ("u.vm_event_op.mode", OFF_VMEV_MODE),
            ("u.getdomaininfo.domain", OFF_GDI_DOMAIN),
            ("u.getdomaininfo.max_vcpu_id", OFF_GDI_MAX_VCPU_ID),
            ("u.vm_event_op.u.enable_frame.port", OFF_VMEV_PORT),
            ("u.vm_event_op.u.enable_frame.nr_frames", OFF_VMEV_NR_FRAMES),
            ("u.vm_event_op.u.enable_frame.frame", OFF_VMEV_FRAME),
            ("u.vm_event_op.u.enable_frame.frames", OFF_VMEV_FRAMES),
            ("u.monitor_op.op", OFF_MON_OP),
            ("u.monitor_op.event", OFF_MON_EVENT),
            ("u.monitor_op.u.syscall.flags", OFF_MON_FLAGS),
            ("u.monitor_op.u.syscall.pgd_match", OFF_MON_PGD_MATCH),
            ("u.monitor_op.u.syscall.pgd_mask", OFF_MON_PGD_MASK),
            ("u.monitor_op.u.syscall.nr_bitmap", OFF_MON_NR_BITMAP),
            ("u.monitor_op.u.syscall.other_bitmap", OFF_MON_OTHER_BITMAP),
        ] {
            chk(format!("offsetof(struct xen_domctl, {field}) == {off}"));
        }
        chk("sizeof(((struct xen_domctl *)0)->u.monitor_op.u.syscall.nr_bitmap) == 8".into());
        chk("sizeof(((struct xen_domctl *)0)->u.getdomaininfo.domain) == 2".into());
        chk("sizeof(((struct xen_domctl *)0)->u.getdomaininfo.max_vcpu_id) == 4".into());
        chk("sizeof(((struct xen_domctl *)0)->u.vm_event_op.u.enable_frame.nr_frames) == 4".into());
        chk("sizeof(((struct xen_domctl *)0)->u.vm_event_op.u.enable_frame.frames) == 8".into());
        for (name, v) in [
            ("__HYPERVISOR_domctl", HYPERVISOR_DOMCTL),
            ("XEN_DOMCTL_INTERFACE_VERSION", u64::from(XEN_DOMCTL_INTERFACE_VERSION)),
            ("XEN_DOMCTL_getdomaininfo", u64::from(XEN_DOMCTL_GETDOMAININFO)),
            ("XEN_DOMCTL_vm_event_op", u64::from(XEN_DOMCTL_VM_EVENT_OP)),
            ("XEN_DOMCTL_monitor_op", u64::from(XEN_DOMCTL_MONITOR_OP)),
            ("XEN_VM_EVENT_DISABLE", u64::from(XEN_VM_EVENT_DISABLE)),
            ("XEN_VM_EVENT_ENABLE_FRAME", u64::from(XEN_VM_EVENT_ENABLE_FRAME)),
            ("XEN_VM_EVENT_FRAME_ALLOCATE", XEN_VM_EVENT_FRAME_ALLOCATE),
            // semguard-core's largest ring (xen_abi::RING_MAX_PAGES; its own header test checks
            // the slots of each size against __RING_SIZE).
            ("XEN_VM_EVENT_RING_MAX_FRAMES", RING_MAX_PAGES as u64),
            ("XEN_DOMCTL_VM_EVENT_OP_MONITOR", u64::from(XEN_DOMCTL_VM_EVENT_OP_MONITOR)),
            ("XEN_DOMCTL_MONITOR_OP_ENABLE", u64::from(XEN_DOMCTL_MONITOR_OP_ENABLE)),
            ("XEN_DOMCTL_MONITOR_OP_DISABLE", u64::from(XEN_DOMCTL_MONITOR_OP_DISABLE)),
            ("XEN_DOMCTL_MONITOR_EVENT_SYSCALL", u64::from(XEN_DOMCTL_MONITOR_EVENT_SYSCALL)),
            ("DOMID_SELF", u64::from(DOMID_SELF)),
            // semguard-core's filter constants (xen_abi::MONITOR_SYSCALL_*), shared with
            // semguard.ko: checked against the header here, where the domctl is.
            ("XEN_DOMCTL_MONITOR_SYSCALL_NR_FILTER", u64::from(MONITOR_SYSCALL_NR_FILTER)),
            ("XEN_DOMCTL_MONITOR_SYSCALL_FAIL_OPEN", u64::from(MONITOR_SYSCALL_FAIL_OPEN)),
            ("XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS", MONITOR_SYSCALL_NR_BITS as u64),
            ("XEN_DOMCTL_MONITOR_SYSCALL_NR_IA32", MONITOR_SYSCALL_NR_IA32 as u64),
            ("XEN_DOMCTL_MONITOR_SYSCALL_NR_BITS / 8", MONITOR_SYSCALL_BITMAP_BYTES as u64),
            ("XEN_DOMCTL_MONITOR_SYSCALL_LINEAGE", u64::from(semguard_core::xen_abi::MONITOR_SYSCALL_LINEAGE)),
            ("XEN_DOMCTL_MONITOR_SYSCALL_ADOPT", u64::from(semguard_core::xen_abi::MONITOR_SYSCALL_ADOPT)),
            ("XEN_DOMCTL_MONITOR_SYSCALL_MEMBERS", semguard_core::xen_abi::MONITOR_SYSCALL_MEMBERS as u64),
            // Xen's fail-closed kill and semguard's kills report the same status.
            ("XEN_DOMCTL_MONITOR_SYSCALL_KILL_STATUS", semguard_core::syscall::KILL_STATUS as u64),
        ] {
            chk(format!("(unsigned long long)({name}) == {v}ULL"));
        }
        let work = std::env::temp_dir().join(format!("sgmon-domctl-{}", std::process::id()));
        std::fs::create_dir_all(work.join("xen")).unwrap();
        let src = work.join("check.c");
        std::fs::write(&src, &c).unwrap();
        for dir in &dirs {
            // The headers include each other as <xen/...> or "..."; link the directory as xen/.
            let link = work.join("inc");
            let _ = std::fs::remove_dir_all(&link);
            std::fs::create_dir_all(&link).unwrap();
            std::os::unix::fs::symlink(dir, link.join("xen")).unwrap();
            let out = Command::new("gcc")
                .args(["-fsyntax-only", "-std=gnu11", "-I"])
                .arg(&link)
                .arg(&src)
                .output()
                .expect("gcc runs");
            assert!(
                out.status.success(),
                "domctl layout differs from {}:\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            println!("checked {}/domctl.h", dir.display());
        }
        let _ = std::fs::remove_dir_all(&work);
    }
}
