//! Small safe wrappers over dom0's Xen devices: /dev/xen/privcmd (hypercalls, foreign and own
//! page mappings), /dev/xen/hypercall (a page Xen can always copy from and to), /dev/xen/evtchn.
//! Every `unsafe` is here; the ioctl numbers and structs are Linux's uapi `xen/privcmd.h` and
//! `xen/evtchn.h` (not installed on the build host), computed with `_IOC` below.

use crate::domctl::{Domctl, DOMCTL_SIZE, HYPERVISOR_DOMCTL};
use semguard_core::ring::{SharedPage, PAGE_SIZE};
use semguard_core::xen_abi::{MONITOR_SYSCALL_BITMAP_BYTES, RING_MAX_PAGES};
use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// `_IOC(_IOC_NONE, ty, nr, size)`: direction bits 0.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> libc::c_ulong {
    ((size as libc::c_ulong) << 16) | ((ty as libc::c_ulong) << 8) | nr as libc::c_ulong
}

/// `struct privcmd_hypercall`.
#[repr(C)]
struct PrivcmdHypercall {
    op: u64,
    arg: [u64; 5],
}
/// `struct privcmd_mmapbatch_v2`.
#[repr(C)]
struct PrivcmdMmapbatchV2 {
    num: libc::c_uint,
    dom: u16,
    addr: u64,
    arr: *const u64,
    err: *mut libc::c_int,
}
/// `struct ioctl_evtchn_bind_interdomain`.
#[repr(C)]
struct EvtchnBindInterdomain {
    remote_domain: libc::c_uint,
    remote_port: libc::c_uint,
}
/// `struct ioctl_evtchn_notify`.
#[repr(C)]
struct EvtchnNotify {
    port: libc::c_uint,
}

const IOCTL_PRIVCMD_HYPERCALL: libc::c_ulong = ioc_none(b'P', 0, std::mem::size_of::<PrivcmdHypercall>());
const IOCTL_PRIVCMD_MMAPBATCH_V2: libc::c_ulong = ioc_none(b'P', 4, std::mem::size_of::<PrivcmdMmapbatchV2>());
const IOCTL_EVTCHN_BIND_INTERDOMAIN: libc::c_ulong = ioc_none(b'E', 1, std::mem::size_of::<EvtchnBindInterdomain>());
const IOCTL_EVTCHN_NOTIFY: libc::c_ulong = ioc_none(b'E', 4, std::mem::size_of::<EvtchnNotify>());

/// An errno with its symbolic name, as the error lines print it.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOTCONN => "ENOTCONN",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// The errno of an io::Error, 0 if it has none.
pub fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A shared mapping of whole pages (`mmap` of a device), unmapped on drop.
pub struct Mapping {
    ptr: NonNull<u8>,
    /// Bytes mapped: a multiple of [`PAGE_SIZE`].
    len: usize,
}

impl Mapping {
    /// `pages` pages (at least 1) of `fd`.
    fn new(fd: &File, prot: libc::c_int, pages: usize) -> io::Result<Self> {
        let len = pages.max(1).checked_mul(PAGE_SIZE).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping of `len` bytes chosen by the kernel; no existing
        // memory is affected and the result is checked before use.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast::<u8>())
            .map(|ptr| Self { ptr, len })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EFAULT))
    }

    fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    fn check(&self, off: usize, len: usize) {
        // Callers pass offsets derived from constants and the ring's slot count; an access past
        // the mapping is a bug here.
        assert!(in_bounds(off, len, self.len), "access past the mapping");
    }
}

/// Does `[off, off + len)` lie within `size` bytes?
fn in_bounds(off: usize, len: usize, size: usize) -> bool {
    off.checked_add(len).is_some_and(|end| end <= size)
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the pages `new` mapped; no reference into them outlives
        // `self` (all accessors copy).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl SharedPage for Mapping {
    fn load_u32(&self, off: usize) -> u32 {
        self.check(off, 4);
        assert!(off % 4 == 0);
        // SAFETY: in bounds and 4-aligned (page-aligned base) per the checks; volatile because
        // Xen writes the pages concurrently.
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().read_volatile() }
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        self.check(off, 4);
        assert!(off % 4 == 0);
        // SAFETY: as in load_u32; a single aligned 32-bit store cannot tear.
        unsafe { self.ptr.as_ptr().add(off).cast::<u32>().write_volatile(v) }
    }
    fn read(&self, off: usize, out: &mut [u8]) {
        self.check(off, out.len());
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: off + i < self.len per the check above.
            *b = unsafe { self.ptr.as_ptr().add(off + i).read_volatile() };
        }
    }
    fn write(&mut self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        for (i, b) in data.iter().enumerate() {
            // SAFETY: off + i < self.len per the check above.
            unsafe { self.ptr.as_ptr().add(off + i).write_volatile(*b) };
        }
    }
}

/// /dev/xen/privcmd + a /dev/xen/hypercall page holding the domctl (offset 0), the ring's frames
/// (offset [`FRAMES_OFFSET`]) and the number bitmap (offset [`BITMAP_OFFSET`]).
pub struct Privcmd {
    privcmd: File,
    _hypercall: File,
    buf: Mapping,
}

/// Where the bitmap lies in the hypercall page (after the 144-byte domctl).
pub const BITMAP_OFFSET: usize = 2048;
/// Where `ENABLE_FRAME`'s frames array lies in the hypercall page (Xen writes the frames of a
/// ring of several pages there during the hypercall: memory the kernel has locked for it).
pub const FRAMES_OFFSET: usize = 1024;
const FRAMES_BYTES: usize = RING_MAX_PAGES * 8;
const _: () = assert!(DOMCTL_SIZE <= FRAMES_OFFSET && FRAMES_OFFSET + FRAMES_BYTES <= BITMAP_OFFSET);
const _: () = assert!(BITMAP_OFFSET + MONITOR_SYSCALL_BITMAP_BYTES <= PAGE_SIZE);

fn open_rw(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

impl Privcmd {
    /// Opens the devices and maps the hypercall buffer.
    pub fn open() -> io::Result<Self> {
        let privcmd = open_rw("/dev/xen/privcmd")?;
        let hypercall = open_rw("/dev/xen/hypercall")?;
        let buf = Mapping::new(&hypercall, RW, 1)?;
        Ok(Self { privcmd, _hypercall: hypercall, buf })
    }

    /// Issues `dc` (with `bitmap` placed in the hypercall page when given); returns the domctl
    /// as Xen left it (OUT fields).
    pub fn domctl(&mut self, dc: &Domctl, bitmap: Option<&[u8; MONITOR_SYSCALL_BITMAP_BYTES]>) -> io::Result<Domctl> {
        if let Some(bm) = bitmap {
            self.buf.write(BITMAP_OFFSET, bm);
        }
        self.issue(dc)
    }

    /// Issues `dc`, whose frames array is [`Privcmd::frames_va`], with `frames` as its IN
    /// value; `frames` then holds its OUT value (Xen's `XEN_VM_EVENT_FRAME_ALLOCATE` answer).
    pub fn domctl_frames(&mut self, dc: &Domctl, frames: &mut [u64]) -> io::Result<Domctl> {
        assert!(frames.len() <= RING_MAX_PAGES, "{} frames", frames.len());
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.to_le_bytes()).collect();
        self.buf.write(FRAMES_OFFSET, &bytes);
        let out = self.issue(dc)?;
        let mut bytes = vec![0u8; frames.len() * 8];
        self.buf.read(FRAMES_OFFSET, &mut bytes);
        for (f, b) in frames.iter_mut().zip(bytes.chunks_exact(8)) {
            *f = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        Ok(out)
    }

    fn issue(&mut self, dc: &Domctl) -> io::Result<Domctl> {
        self.buf.write(0, &dc.0);
        let h = PrivcmdHypercall { op: HYPERVISOR_DOMCTL, arg: [self.buf.addr(), 0, 0, 0, 0] };
        // SAFETY: the ioctl reads `h` (a live local of the uapi layout); the hypercall reads and
        // writes the domctl (and what it points to, all in our hypercall page), which stays
        // mapped for the call.
        cvt(unsafe { libc::ioctl(self.privcmd.as_raw_fd(), IOCTL_PRIVCMD_HYPERCALL, &h) })?;
        let mut out = Domctl([0; DOMCTL_SIZE]);
        self.buf.read(0, &mut out.0);
        Ok(out)
    }

    /// The bitmap's guest-handle value (its address in the hypercall page).
    pub fn bitmap_va(&self) -> u64 {
        self.buf.addr() + BITMAP_OFFSET as u64
    }

    /// The frames array's guest-handle value (its address in the hypercall page).
    pub fn frames_va(&self) -> u64 {
        self.buf.addr() + FRAMES_OFFSET as u64
    }

    /// Maps machine frames `mfns` of domain `dom` (`DOMID_SELF` for our own ring pages) in
    /// this order, contiguous: one mapping of `mfns.len()` pages.
    pub fn map_frames(&self, dom: u16, mfns: &[u64]) -> io::Result<Mapping> {
        mmapbatch(&self.privcmd, dom, mfns, RW)
    }
}

/// A read-only foreign mapping: only [`crate::policy::PageBytes`], no way to write.
pub struct ForeignPage(Mapping);

impl crate::policy::PageBytes for ForeignPage {
    fn copy_out(&self, off: usize, out: &mut [u8]) {
        self.0.read(off, out);
    }
}

/// Maps frames of a guest (privcmd foreign mappings, MMAPBATCH_V2 with the guest's domid; for
/// a PV guest the frame is the MFN as its page tables hold it).
pub struct ForeignMapper {
    privcmd: File,
    domid: u16,
}

impl ForeignMapper {
    /// Opens its own /dev/xen/privcmd for `domid`.
    pub fn open(domid: u16) -> io::Result<Self> {
        Ok(Self { privcmd: open_rw("/dev/xen/privcmd")?, domid })
    }
}

impl crate::policy::MapFrame for ForeignMapper {
    type Page = ForeignPage;
    fn map(&mut self, mfn: u64) -> io::Result<ForeignPage> {
        // Read-only: Xen refuses writable mappings of a PV guest's page-table frames (their
        // page type), and introspection never writes.
        mmapbatch(&self.privcmd, self.domid, &[mfn], libc::PROT_READ).map(ForeignPage)
    }
}

const RW: libc::c_int = libc::PROT_READ | libc::PROT_WRITE;

/// `dom`'s frames `mfns`, mapped in that order into one mapping with MMAPBATCH_V2 and
/// protection `prot`.
fn mmapbatch(privcmd: &File, dom: u16, mfns: &[u64], prot: libc::c_int) -> io::Result<Mapping> {
    let num = libc::c_uint::try_from(mfns.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    if num == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let map = Mapping::new(privcmd, prot, mfns.len())?;
    let mut err: Vec<libc::c_int> = vec![0; mfns.len()];
    let m = PrivcmdMmapbatchV2 { num, dom, addr: map.addr(), arr: mfns.as_ptr(), err: err.as_mut_ptr() };
    // SAFETY: `m` points at `mfns` and `err`, both of `num` entries and live for the duration
    // of the call; the kernel replaces the pages of `map`, a privcmd mapping of `num` pages we
    // own.
    cvt(unsafe { libc::ioctl(privcmd.as_raw_fd(), IOCTL_PRIVCMD_MMAPBATCH_V2, &m) })?;
    if let Some(&e) = err.iter().find(|&&e| e != 0) {
        return Err(io::Error::from_raw_os_error(e.checked_neg().unwrap_or(libc::EINVAL)));
    }
    Ok(map)
}

/// /dev/xen/evtchn with one interdomain port bound.
pub struct Evtchn {
    file: File,
    /// Our end of the channel.
    pub local_port: u32,
}

impl Evtchn {
    /// Opens /dev/xen/evtchn and binds to `remote_port` of `domid`.
    pub fn bind(domid: u16, remote_port: u32) -> io::Result<Self> {
        let file = open_rw("/dev/xen/evtchn")?;
        let b = EvtchnBindInterdomain { remote_domain: domid.into(), remote_port };
        // SAFETY: the ioctl reads `b`, a live local of the uapi layout.
        let port = cvt(unsafe { libc::ioctl(file.as_raw_fd(), IOCTL_EVTCHN_BIND_INTERDOMAIN, &b) })?;
        Ok(Self { file, local_port: port as u32 })
    }

    /// Blocks until the port fires or one of [`signals`]' signals arrives
    /// (`ErrorKind::Interrupted`), then unmasks the port. The signals are blocked everywhere
    /// else and unblocked only inside `ppoll`, so one that arrives just before the wait still
    /// interrupts it (no lost wake-up).
    pub fn wait(&self) -> io::Result<()> {
        let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it.
        let mut open: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `open` is a live, writable sigset_t.
        unsafe { libc::sigemptyset(&mut open) };
        // SAFETY: one live pollfd, no timeout, a valid signal mask for the duration of the call.
        cvt(unsafe { libc::ppoll(&mut pfd, 1, std::ptr::null(), &open) })?;
        let mut p = [0u8; 4];
        // SAFETY: reads at most 4 bytes into the live local buffer.
        let n = unsafe { libc::read(self.file.as_raw_fd(), p.as_mut_ptr().cast(), p.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n != 4 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read from /dev/xen/evtchn"));
        }
        // SAFETY: writes the 4 bytes just read (the port) back: that unmasks it.
        let w = unsafe { libc::write(self.file.as_raw_fd(), p.as_ptr().cast(), p.len()) };
        if w != 4 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Kicks Xen (`EVTCHNOP_send`): it consumes our responses in that hypercall.
    pub fn notify(&self) -> io::Result<()> {
        let n = EvtchnNotify { port: self.local_port };
        // SAFETY: the ioctl reads `n`, a live local of the uapi layout.
        cvt(unsafe { libc::ioctl(self.file.as_raw_fd(), IOCTL_EVTCHN_NOTIFY, &n) })?;
        Ok(())
    }
}

/// Flags set by the signal handler, read by the event loop.
pub mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// SIGTERM/SIGINT: tear down and exit.
    pub static STOP: AtomicBool = AtomicBool::new(false);
    /// SIGUSR1: disable the monitor (keep ring and channel).
    pub static MONITOR_OFF: AtomicBool = AtomicBool::new(false);
    /// SIGUSR2: enable it again.
    pub static MONITOR_ON: AtomicBool = AtomicBool::new(false);

    extern "C" fn handler(sig: libc::c_int) {
        // Only atomic stores: async-signal-safe.
        match sig {
            libc::SIGUSR1 => MONITOR_OFF.store(true, Ordering::SeqCst),
            libc::SIGUSR2 => MONITOR_ON.store(true, Ordering::SeqCst),
            _ => STOP.store(true, Ordering::SeqCst),
        }
    }

    const SIGNALS: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGUSR2];

    /// Installs the handler and blocks the signals: they are delivered only inside
    /// [`super::Evtchn::wait`]'s `ppoll`, which then returns EINTR.
    pub fn install() -> std::io::Result<()> {
        // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it.
        let mut block: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `block` is a live, writable sigset_t.
        unsafe { libc::sigemptyset(&mut block) };
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
            // only stores to atomics; `block` is initialised.
            let rc = unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaddset(&mut block, sig);
                libc::sigaction(sig, &sa, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        // SAFETY: `block` is an initialised set; the old mask is not needed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &block, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }
}

/// Does /dev/xen/privcmd exist (dom0 with xenfs/privcmd)? For a clearer first error.
pub fn have_privcmd() -> bool {
    let p: &CStr = c"/dev/xen/privcmd";
    // SAFETY: access() reads the NUL-terminated path only.
    unsafe { libc::access(p.as_ptr(), libc::F_OK) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux_uapi() {
        // _IOC(_IOC_NONE, 'P', 0, 48), _IOC(_IOC_NONE, 'P', 4, 32), _IOC(_IOC_NONE, 'E', 1, 8),
        // _IOC(_IOC_NONE, 'E', 4, 4) from include/uapi/xen/{privcmd,evtchn}.h on x86-64.
        assert_eq!(IOCTL_PRIVCMD_HYPERCALL, 0x0030_5000);
        assert_eq!(IOCTL_PRIVCMD_MMAPBATCH_V2, 0x0020_5004);
        assert_eq!(IOCTL_EVTCHN_BIND_INTERDOMAIN, 0x0008_4501);
        assert_eq!(IOCTL_EVTCHN_NOTIFY, 0x0004_4504);
        assert_eq!(std::mem::offset_of!(PrivcmdMmapbatchV2, dom), 4);
        assert_eq!(std::mem::offset_of!(PrivcmdMmapbatchV2, addr), 8);
        assert_eq!(std::mem::offset_of!(PrivcmdMmapbatchV2, err), 24);
    }

    #[test]
    fn bounds() {
        assert!(in_bounds(0, PAGE_SIZE, PAGE_SIZE));
        assert!(in_bounds(PAGE_SIZE - 4, 4, PAGE_SIZE));
        assert!(!in_bounds(PAGE_SIZE - 3, 4, PAGE_SIZE));
        assert!(in_bounds(PAGE_SIZE, 400, 2 * PAGE_SIZE), "a slot in the second page");
        assert!(!in_bounds(2 * PAGE_SIZE - 399, 400, 2 * PAGE_SIZE));
        assert!(!in_bounds(usize::MAX, 1, PAGE_SIZE), "no overflow");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_name(libc::ENOTCONN), "ENOTCONN");
        assert_eq!(errno_name(9999), "errno 9999");
    }
}
