//! Typed guest addresses and frame numbers.
//!
//! A PV guest's page tables hold machine frame numbers (MFNs); an HVM/PVH guest's hold guest
//! frame numbers (GFNs). Mixing them up reads the wrong memory, so a frame number carries its
//! kind as a type parameter and the two cannot be confused at compile time.

use core::fmt;
use core::marker::PhantomData;

/// Size of a base page on x86-64.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// A guest virtual address (in the address space selected by some page-table root).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct GuestVirtAddr(pub u64);

impl GuestVirtAddr {
    /// Offset inside its 4 KiB page.
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
    /// Address `n` bytes further, or `None` on overflow.
    pub const fn checked_add(self, n: u64) -> Option<Self> {
        match self.0.checked_add(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for GuestVirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gva:{:#x}", self.0)
    }
}

/// Marker for the kind of frame numbers the guest's page tables contain.
pub trait FrameKind: Copy + Clone + fmt::Debug + PartialEq + Eq + 'static {
    /// Short name used in debug output ("mfn" / "gfn").
    const NAME: &'static str;
}

/// Machine frames: what a PV guest's page tables hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Machine {}
impl FrameKind for Machine {
    const NAME: &'static str = "mfn";
}

/// Guest (pseudo-physical) frames: what an HVM/PVH guest's page tables hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Guest {}
impl FrameKind for Guest {
    const NAME: &'static str = "gfn";
}

/// A 4 KiB frame number of kind `K`.
#[repr(transparent)]
pub struct Frame<K: FrameKind>(u64, PhantomData<K>);

/// A machine frame number (PV page tables).
pub type Mfn = Frame<Machine>;
/// A guest frame number (HVM/PVH page tables).
pub type Gfn = Frame<Guest>;

impl<K: FrameKind> Frame<K> {
    /// Wraps a raw frame number.
    pub const fn new(raw: u64) -> Self {
        Self(raw, PhantomData)
    }
    /// The raw frame number.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// Byte address of the frame's first byte in its (machine or guest-physical) space.
    pub const fn base(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
}

impl<K: FrameKind> Clone for Frame<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: FrameKind> Copy for Frame<K> {}
impl<K: FrameKind> PartialEq for Frame<K> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<K: FrameKind> Eq for Frame<K> {}
impl<K: FrameKind> PartialOrd for Frame<K> {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<K: FrameKind> Ord for Frame<K> {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}
impl<K: FrameKind> core::hash::Hash for Frame<K> {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl<K: FrameKind> fmt::Debug for Frame<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:#x}", K::NAME, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_base_and_debug() {
        let m = Mfn::new(0x1234);
        assert_eq!(m.base(), 0x1234000);
        assert_eq!(std::format!("{:?}", m), "mfn:0x1234");
        assert_eq!(std::format!("{:?}", Gfn::new(1)), "gfn:0x1");
    }

    #[test]
    fn gva_helpers() {
        let a = GuestVirtAddr(0x7fff_0000_0123);
        assert_eq!(a.page_offset(), 0x123);
        assert_eq!(GuestVirtAddr(u64::MAX).checked_add(1), None);
        assert_eq!(a.checked_add(1), Some(GuestVirtAddr(0x7fff_0000_0124)));
    }
}
