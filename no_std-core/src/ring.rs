//! The consumer's half of the vm_event ring (Xen's `BACK_RING_*` macros) over a shared page
//! whose layout comes from [`xen_abi`](crate::xen_abi) (header offsets, slot count, slot size).
//! semguard.ko and sgmon both drive it; each implements [`SharedPage`] over its own mapping.
//!
//! Xen produces requests (`req_prod`) and consumes responses (`rsp_prod`); we keep the private
//! `req_cons` and `rsp_prod_pvt`. Indices are free-running `u32`s (wrapping), slot = index %
//! the ring's slots ([`ring_slots`] of its pages: a ring may span several pages, patch 0017,
//! so that it holds a request of every vCPU). Xen is trusted, but a bad `req_prod` must not make us loop or index out of
//! range: the count of unconsumed requests is clamped exactly as `RING_HAS_UNCONSUMED_REQUESTS`
//! does, and reported as an error when it exceeds the ring.

use crate::xen_abi::{ring_slots, RING_HEADER_SIZE, RING_MAX_PAGES, RING_REQ_PROD, RING_RSP_PROD, VM_EVENT_SIZE};

/// Size of a ring page.
pub const PAGE_SIZE: usize = 4096;
const _: () = assert!(RING_HEADER_SIZE + ring_slots(RING_MAX_PAGES) * VM_EVENT_SIZE <= RING_MAX_PAGES * PAGE_SIZE);

/// Access to the shared ring pages, contiguous from offset 0 (the real ones are mapped from
/// Xen; tests use plain memory). Reads
/// and writes of the producer indices must be single, untorn 32-bit accesses.
pub trait SharedPage {
    /// Reads the u32 at byte `off`.
    fn load_u32(&self, off: usize) -> u32;
    /// Writes the u32 at byte `off`.
    fn store_u32(&mut self, off: usize, v: u32);
    /// Copies `out.len()` bytes from `off`.
    fn read(&self, off: usize, out: &mut [u8]);
    /// Copies `data` to `off`.
    fn write(&mut self, off: usize, data: &[u8]);
    /// Full memory barrier (`xen_mb()`): orders index accesses against slot accesses.
    fn barrier(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
}

/// Private back-ring state (`vm_event_back_ring_t` without the `sring` pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackRing {
    /// Next request to consume.
    pub req_cons: u32,
    /// Next response slot to fill (published by [`BackRing::push_responses`]).
    pub rsp_prod_pvt: u32,
    /// Slots of the ring (`nr_ents`): a power of two, at least 1.
    slots: u32,
}

/// Xen's request producer index is not consistent with our state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingCorrupt {
    /// `req_prod` as read.
    pub req_prod: u32,
    /// Our `req_cons`.
    pub req_cons: u32,
}

impl BackRing {
    /// `BACK_RING_INIT` for a ring of `pages` pages (1 to [`RING_MAX_PAGES`]; clamped into
    /// that range): Xen initialised the shared header; our indices start at 0.
    pub fn new(pages: usize) -> Self {
        let slots = ring_slots(pages.clamp(1, RING_MAX_PAGES)) as u32;
        Self { req_cons: 0, rsp_prod_pvt: 0, slots }
    }

    /// Slots of the ring: how many requests it holds.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Byte offset of slot `index % slots` (a mask: `slots` is a power of two, and the
    /// kernel build must have no division that could panic).
    pub fn slot_offset(&self, index: u32) -> usize {
        RING_HEADER_SIZE + (index & self.slots.wrapping_sub(1)) as usize * VM_EVENT_SIZE
    }

    /// Requests waiting to be consumed (`RING_HAS_UNCONSUMED_REQUESTS`): at most the free
    /// response slots, so a consumer that holds requests unanswered never overwrites a slot
    /// Xen has not read.
    pub fn unconsumed<P: SharedPage>(&self, page: &P) -> Result<u32, RingCorrupt> {
        let req_prod = page.load_u32(RING_REQ_PROD);
        page.barrier(); // rmb: slot contents after the index
        let waiting = req_prod.wrapping_sub(self.req_cons);
        let slots = self.slots;
        if waiting > slots {
            return Err(RingCorrupt { req_prod, req_cons: self.req_cons });
        }
        let free_rsp = slots - self.req_cons.wrapping_sub(self.rsp_prod_pvt).min(slots);
        Ok(waiting.min(free_rsp))
    }

    /// Xen's request producer index as it is now.
    pub fn req_prod<P: SharedPage>(&self, page: &P) -> u32 {
        page.load_u32(RING_REQ_PROD)
    }

    /// Copies the next request out of the ring (so Xen cannot change it while we look at it)
    /// and consumes it. Call only while [`BackRing::unconsumed`] is positive.
    pub fn take_request<P: SharedPage>(&mut self, page: &P) -> [u8; VM_EVENT_SIZE] {
        let mut req = [0u8; VM_EVENT_SIZE];
        page.read(self.slot_offset(self.req_cons), &mut req);
        self.req_cons = self.req_cons.wrapping_add(1);
        req
    }

    /// Writes a response into the next response slot (not yet visible to Xen): `rsp` from
    /// the slot's start, at most [`VM_EVENT_SIZE`] bytes (a response without registers needs
    /// only its head: `VmEventSt::response_bytes`).
    pub fn put_response<P: SharedPage>(&mut self, page: &mut P, rsp: &[u8]) {
        let rsp = rsp.get(..VM_EVENT_SIZE).unwrap_or(rsp);
        page.write(self.slot_offset(self.rsp_prod_pvt), rsp);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
    }

    /// `RING_PUSH_RESPONSES`: publishes the responses written so far.
    pub fn push_responses<P: SharedPage>(&self, page: &mut P) {
        page.barrier(); // wmb: slot contents before the index
        page.store_u32(RING_RSP_PROD, self.rsp_prod_pvt);
    }
}

/// Ring pages in ordinary memory (tests; also documents the semantics the mapped pages
/// follow): `N` bytes, one page by default.
#[cfg(any(test, feature = "testing"))]
pub struct PlainPage<const N: usize = PAGE_SIZE>(pub [u8; N]);

#[cfg(any(test, feature = "testing"))]
impl<const N: usize> SharedPage for PlainPage<N> {
    fn load_u32(&self, off: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_le_bytes(b)
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn read(&self, off: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.0[off..off + out.len()]);
    }
    fn write(&mut self, off: usize, data: &[u8]) {
        self.0[off..off + data.len()].copy_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen_abi::RING_SLOTS;

    /// Xen's side: puts request `tag` at req_prod and advances it (a ring of `N / 4096` pages).
    fn produce<const N: usize>(page: &mut PlainPage<N>, tag: u8) {
        let prod = page.load_u32(RING_REQ_PROD);
        let at = BackRing::new(N / PAGE_SIZE).slot_offset(prod);
        page.write(at, &[tag; VM_EVENT_SIZE]);
        page.store_u32(RING_REQ_PROD, prod.wrapping_add(1));
    }

    #[test]
    fn slots_fit_the_page() {
        let r = BackRing::new(1);
        assert_eq!(r.slots(), 8);
        assert_eq!(r.slot_offset(0), 64);
        assert_eq!(r.slot_offset(7) + VM_EVENT_SIZE, 64 + 8 * 400);
        assert!(r.slot_offset(u32::MAX) + VM_EVENT_SIZE <= PAGE_SIZE);
        assert_eq!(r.slot_offset(8), r.slot_offset(0));
    }

    #[test]
    fn slots_of_larger_rings_fit_their_pages() {
        for pages in 1..=RING_MAX_PAGES {
            let r = BackRing::new(pages);
            assert!(r.slots().is_power_of_two());
            assert!(r.slot_offset(r.slots() - 1) + VM_EVENT_SIZE <= pages * PAGE_SIZE, "{pages} pages");
            assert_eq!(r.slot_offset(r.slots()), r.slot_offset(0));
        }
        assert_eq!(BackRing::new(2).slots(), 16);
        // Out-of-range page counts are clamped, never a ring of 0 slots.
        assert_eq!(BackRing::new(0).slots(), 8);
        assert_eq!(BackRing::new(1000).slots(), 128);
    }

    #[test]
    fn consume_answer_publish() {
        let mut page = PlainPage([0; PAGE_SIZE]);
        let mut r = BackRing::new(1);
        assert_eq!(r.unconsumed(&page), Ok(0));
        produce(&mut page, 0xa1);
        produce(&mut page, 0xa2);
        assert_eq!(r.unconsumed(&page), Ok(2));
        assert_eq!(r.take_request(&page)[0], 0xa1);
        assert_eq!(r.take_request(&page)[399], 0xa2);
        assert_eq!(r.unconsumed(&page), Ok(0));
        r.put_response(&mut page, &[0x51; VM_EVENT_SIZE]);
        assert_eq!(page.load_u32(RING_RSP_PROD), 0, "not visible before push");
        r.push_responses(&mut page);
        assert_eq!(page.load_u32(RING_RSP_PROD), 1);
        assert_eq!(page.0[r.slot_offset(0)], 0x51);
    }

    #[test]
    fn a_two_page_ring_holds_sixteen_requests() {
        let mut page = PlainPage([0; 2 * PAGE_SIZE]);
        let mut r = BackRing::new(2);
        for i in 0..16u8 {
            produce(&mut page, i);
        }
        assert_eq!(r.unconsumed(&page), Ok(16));
        for i in 0..16u8 {
            let req = r.take_request(&page);
            assert_eq!((req[0], req[399]), (i, i));
        }
        // The 16th slot lies in the second page.
        assert!(r.slot_offset(15) >= PAGE_SIZE);
        produce(&mut page, 0xee);
        assert_eq!(r.take_request(&page)[0], 0xee, "slot 16 wraps to slot 0");
    }

    #[test]
    fn indices_wrap() {
        let mut page = PlainPage([0; PAGE_SIZE]);
        let start = u32::MAX - 2;
        page.store_u32(RING_REQ_PROD, start);
        let mut r = BackRing { req_cons: start, rsp_prod_pvt: start, ..BackRing::new(1) };
        for i in 0..6u8 {
            produce(&mut page, i);
        }
        assert_eq!(r.unconsumed(&page), Ok(6));
        for i in 0..6u8 {
            assert_eq!(r.take_request(&page)[0], i);
            r.put_response(&mut page, &[i; VM_EVENT_SIZE]);
        }
        r.push_responses(&mut page);
        assert_eq!(page.load_u32(RING_RSP_PROD), start.wrapping_add(6));
        assert_eq!(r.unconsumed(&page), Ok(0));
    }

    #[test]
    fn held_requests_limit_what_can_be_consumed() {
        let mut page = PlainPage([0; PAGE_SIZE]);
        let mut r = BackRing::new(1);
        // One request held unanswered, then Xen fills the rest of the ring.
        produce(&mut page, 1);
        let _ = r.take_request(&page);
        for i in 0..RING_SLOTS as u8 {
            produce(&mut page, i);
        }
        // req_prod - req_cons = 8, but only 7 response slots are free.
        assert_eq!(r.unconsumed(&page), Ok(RING_SLOTS as u32 - 1));
    }

    #[test]
    fn bogus_producer_is_an_error() {
        let mut page = PlainPage([0; PAGE_SIZE]);
        let r = BackRing::new(1);
        page.store_u32(RING_REQ_PROD, 9);
        assert_eq!(r.unconsumed(&page), Err(RingCorrupt { req_prod: 9, req_cons: 0 }));
        page.store_u32(RING_REQ_PROD, u32::MAX);
        assert!(r.unconsumed(&page).is_err());
        // 9 is fine for a two-page ring, 17 is not.
        let mut two = PlainPage([0; 2 * PAGE_SIZE]);
        two.store_u32(RING_REQ_PROD, 9);
        assert_eq!(BackRing::new(2).unconsumed(&two), Ok(9));
        two.store_u32(RING_REQ_PROD, 17);
        assert!(BackRing::new(2).unconsumed(&two).is_err());
    }
}
