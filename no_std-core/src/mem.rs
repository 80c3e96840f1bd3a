//! Guest memory reads (Introspection Library): bytes, integers, pointers, bounded C strings and
//! arrays at guest virtual addresses, crossing page boundaries.
//!
//! Two traits separate what the caller provides from what the core does:
//! - [`FrameReader`]: the caller (semguard.ko, a test, a fuzzer) copies bytes out of one 4 KiB
//!   frame of the monitored guest, named by a typed frame number.
//! - [`VirtMemory`]: reads at guest virtual addresses; implemented over a [`FrameReader`] by the
//!   page-table walker ([`crate::walker`]), or by a flat mock in tests. All helpers here are
//!   provided methods, so every implementation gets the same bounded behaviour.

use crate::addr::{Frame, FrameKind, GuestVirtAddr, PAGE_SIZE};
use crate::walker::WalkError;

/// Why a frame could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The frame does not belong to the guest or could not be mapped.
    NotMapped {
        /// Raw frame number that failed.
        frame: u64,
    },
    /// `offset + len` exceeds the frame.
    OutOfBounds,
}

/// Copies bytes out of one frame of the monitored guest.
pub trait FrameReader<K: FrameKind> {
    /// Copies `buf.len()` bytes from `frame` at `offset`. Callers guarantee
    /// `offset + buf.len() <= 4096`; implementations must still check and return
    /// [`FrameError::OutOfBounds`] rather than panic.
    fn read_frame(&mut self, frame: Frame<K>, offset: usize, buf: &mut [u8]) -> Result<(), FrameError>;
}

/// Why a guest virtual read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// Translating the address failed (not present, reserved bits, frame unreadable, …).
    Walk {
        /// The virtual address whose translation failed.
        va: GuestVirtAddr,
        /// Which level and why.
        error: WalkError,
    },
    /// The range wraps around the 64-bit address space.
    Overflow,
    /// A C string had no NUL within the allowed length.
    Unterminated {
        /// The bound that was reached.
        max: usize,
    },
    /// The caller's buffer is too small for the requested element count.
    BufferTooSmall,
}

/// Reads guest virtual memory in one address space.
pub trait VirtMemory {
    /// Fills `buf` from guest virtual address `va`; may cross pages. Either the whole buffer is
    /// filled or an error is returned (the buffer content is then unspecified).
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError>;

    /// Reads a little-endian `u8`.
    fn read_u8(&mut self, va: GuestVirtAddr) -> Result<u8, MemError> {
        let mut b = [0u8; 1];
        self.read_bytes(va, &mut b)?;
        Ok(b[0])
    }
    /// Reads a little-endian `u16`.
    fn read_u16(&mut self, va: GuestVirtAddr) -> Result<u16, MemError> {
        let mut b = [0u8; 2];
        self.read_bytes(va, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    /// Reads a little-endian `u32`.
    fn read_u32(&mut self, va: GuestVirtAddr) -> Result<u32, MemError> {
        let mut b = [0u8; 4];
        self.read_bytes(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Reads a little-endian `u64`.
    fn read_u64(&mut self, va: GuestVirtAddr) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read_bytes(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads a 64-bit guest pointer.
    fn read_ptr(&mut self, va: GuestVirtAddr) -> Result<GuestVirtAddr, MemError> {
        self.read_u64(va).map(GuestVirtAddr)
    }
    /// Reads an unsigned little-endian integer of `size` ∈ {1, 2, 4, 8} bytes, zero-extended.
    /// Any other size reads 8 bytes' worth of nothing and is a caller bug reported as
    /// [`MemError::BufferTooSmall`].
    fn read_uint(&mut self, va: GuestVirtAddr, size: usize) -> Result<u64, MemError> {
        match size {
            1 => self.read_u8(va).map(u64::from),
            2 => self.read_u16(va).map(u64::from),
            4 => self.read_u32(va).map(u64::from),
            8 => self.read_u64(va),
            _ => Err(MemError::BufferTooSmall),
        }
    }

    /// Reads a NUL-terminated string of at most `buf.len()` bytes (NUL excluded) into `buf` and
    /// returns its length. Reads page by page so that a short string at the end of a mapped
    /// page does not fail because the next page is unmapped. At most `buf.len() + 1` bytes are
    /// examined.
    fn read_cstr(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<usize, MemError> {
        let max = buf.len();
        let mut done = 0usize;
        // Bounded: each iteration consumes ≥ 1 byte of `max + 1`.
        while done <= max {
            let here = va.checked_add(done as u64).ok_or(MemError::Overflow)?;
            let in_page = (PAGE_SIZE - here.page_offset()) as usize;
            let want = core::cmp::min(in_page, max + 1 - done);
            let mut chunk = [0u8; 64];
            let want = core::cmp::min(want, chunk.len());
            self.read_bytes(here, &mut chunk[..want])?;
            for (i, &c) in chunk[..want].iter().enumerate() {
                if c == 0 {
                    return Ok(done + i);
                }
                if done + i < max {
                    buf[done + i] = c;
                }
            }
            done += want;
        }
        Err(MemError::Unterminated { max })
    }

    /// Reads `out.len()` consecutive little-endian elements of `elem_size` ∈ {1, 2, 4, 8} bytes
    /// starting at `va` (an array in P's memory), zero-extended to `u64`.
    fn read_array(&mut self, va: GuestVirtAddr, elem_size: usize, out: &mut [u64]) -> Result<(), MemError> {
        for (i, slot) in out.iter_mut().enumerate() {
            let off = (i as u64).checked_mul(elem_size as u64).ok_or(MemError::Overflow)?;
            let at = va.checked_add(off).ok_or(MemError::Overflow)?;
            *slot = self.read_uint(at, elem_size)?;
        }
        Ok(())
    }
}

impl<T: VirtMemory + ?Sized> VirtMemory for &mut T {
    fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
        (**self).read_bytes(va, buf)
    }
}

/// A flat, sparse test memory: pages present at chosen addresses, everything else unmapped.
/// Used by unit tests, fuzz targets and benches that do not need real page tables.
#[cfg(any(test, feature = "testing"))]
pub mod flat {
    use super::*;
    use crate::walker::{WalkError, WalkErrorKind};

    /// Up to `N` present pages, each 4 KiB, keyed by page-aligned virtual address.
    pub struct FlatMemory<const N: usize> {
        pages: [(u64, [u8; 4096]); N],
        used: usize,
    }

    impl<const N: usize> Default for FlatMemory<N> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<const N: usize> FlatMemory<N> {
        /// Empty memory: every read fails as not present.
        pub fn new() -> Self {
            Self { pages: [(0, [0u8; 4096]); N], used: 0 }
        }
        /// Makes the page containing `va` present (zero-filled) and returns it.
        pub fn page_mut(&mut self, va: u64) -> Option<&mut [u8; 4096]> {
            let base = va & !(PAGE_SIZE - 1);
            let idx = match self.pages[..self.used].iter().position(|(b, _)| *b == base) {
                Some(i) => i,
                None => {
                    if self.used == N {
                        return None;
                    }
                    self.pages[self.used].0 = base;
                    self.used += 1;
                    self.used - 1
                }
            };
            Some(&mut self.pages[idx].1)
        }
        /// Writes `data` at `va`, making pages present as needed. Returns false if out of pages.
        pub fn write(&mut self, va: u64, data: &[u8]) -> bool {
            for (i, &b) in data.iter().enumerate() {
                let a = va.wrapping_add(i as u64);
                match self.page_mut(a) {
                    Some(p) => p[(a & (PAGE_SIZE - 1)) as usize] = b,
                    None => return false,
                }
            }
            true
        }
    }

    impl<const N: usize> VirtMemory for FlatMemory<N> {
        fn read_bytes(&mut self, va: GuestVirtAddr, buf: &mut [u8]) -> Result<(), MemError> {
            va.checked_add(buf.len() as u64).ok_or(MemError::Overflow)?;
            for (i, slot) in buf.iter_mut().enumerate() {
                let a = va.0 + i as u64;
                let base = a & !(PAGE_SIZE - 1);
                let page = self.pages[..self.used].iter().find(|(b, _)| *b == base).ok_or(MemError::Walk {
                    va: GuestVirtAddr(a),
                    error: WalkError { level: 1, kind: WalkErrorKind::NotPresent },
                })?;
                *slot = page.1[(a & (PAGE_SIZE - 1)) as usize];
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::flat::FlatMemory;
    use super::*;

    #[test]
    fn integers_are_little_endian_and_cross_pages() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1ffc, &0x1122_3344_5566_7788u64.to_le_bytes()));
        let va = GuestVirtAddr(0x1ffc);
        assert_eq!(m.read_u64(va).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.read_u32(va).unwrap(), 0x5566_7788);
        assert_eq!(m.read_u16(va).unwrap(), 0x7788);
        assert_eq!(m.read_u8(va).unwrap(), 0x88);
        assert_eq!(m.read_ptr(va).unwrap(), GuestVirtAddr(0x1122_3344_5566_7788));
        assert_eq!(m.read_uint(va, 3), Err(MemError::BufferTooSmall));
    }

    #[test]
    fn unmapped_read_reports_the_failing_address() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1ff8, &[1; 8]));
        let e = m.read_u64(GuestVirtAddr(0x1ffc)).unwrap_err();
        match e {
            MemError::Walk { va, .. } => assert_eq!(va, GuestVirtAddr(0x2000)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cstr_short_string_before_unmapped_page() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1ffd, b"ab\0"));
        let mut buf = [0u8; 256];
        assert_eq!(m.read_cstr(GuestVirtAddr(0x1ffd), &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn cstr_crossing_pages_and_bounds() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1ffe, b"/etc/passwd\0"));
        let mut buf = [0u8; 64];
        let n = m.read_cstr(GuestVirtAddr(0x1ffe), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"/etc/passwd");
        // Exactly max bytes then NUL is fine; one more is unterminated.
        let mut small = [0u8; 11];
        assert_eq!(m.read_cstr(GuestVirtAddr(0x1ffe), &mut small).unwrap(), 11);
        let mut smaller = [0u8; 10];
        assert_eq!(m.read_cstr(GuestVirtAddr(0x1ffe), &mut smaller), Err(MemError::Unterminated { max: 10 }));
        // Empty buffer: only an immediate NUL succeeds.
        assert!(m.write(0x3000, b"\0"));
        assert_eq!(m.read_cstr(GuestVirtAddr(0x3000), &mut []).unwrap(), 0);
    }

    #[test]
    fn cstr_long_unterminated_string_crosses_into_unmapped_page() {
        let mut m = FlatMemory::<4>::new();
        assert!(m.write(0x1000, &[b'x'; 4096]));
        let mut buf = [0u8; 8192];
        assert!(matches!(m.read_cstr(GuestVirtAddr(0x1000), &mut buf), Err(MemError::Walk { .. })));
    }

    #[test]
    fn arrays_and_overflow() {
        let mut m = FlatMemory::<4>::new();
        let data: [u16; 4] = [1, 2, 0xffff, 4];
        for (i, v) in data.iter().enumerate() {
            assert!(m.write(0x1ffa + 2 * i as u64, &v.to_le_bytes()));
        }
        let mut out = [0u64; 4];
        m.read_array(GuestVirtAddr(0x1ffa), 2, &mut out).unwrap();
        assert_eq!(out, [1, 2, 0xffff, 4]);
        assert_eq!(m.read_u64(GuestVirtAddr(u64::MAX - 3)), Err(MemError::Overflow));
        assert_eq!(m.read_array(GuestVirtAddr(u64::MAX - 1), 8, &mut out), Err(MemError::Overflow));
    }
}
