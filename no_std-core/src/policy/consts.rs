//! The constant pool: byte strings (for string and bytes comparisons), sorted u64 sets (for
//! membership tests) and byte classes (for `str_class`), validated once at decode and then
//! read without re-checking.

use core::mem::offset_of;

use super::error::{ConstKind, PolicyError};
use super::format::{
    RawConst, RawTableHeader, SectionKind, CLASS_LEN, CONST_BYTES, CONST_CLASS, CONST_ENTRY_LEN, CONST_SET,
    MAX_CONST_BYTES, TABLE_HEADER_LEN,
};
use crate::wire::{nth, read};

/// A view of the constants section of a decoded policy.
#[derive(Clone, Copy, Debug)]
pub struct ConstPool<'a> {
    /// The whole section (offsets in records are relative to its start).
    section: &'a [u8],
    count: u16,
}

impl<'a> ConstPool<'a> {
    /// A pool without constants (policy without a constants section).
    pub(crate) const EMPTY: ConstPool<'static> = ConstPool { section: &[], count: 0 };

    /// Validates a constants section that starts at absolute blob offset `base`.
    pub(crate) fn parse(section: &'a [u8], base: usize) -> Result<Self, PolicyError> {
        let len32 = u32::try_from(section.len()).unwrap_or(u32::MAX);
        if section.len() < TABLE_HEADER_LEN {
            return Err(PolicyError::SectionTooShort { section: SectionKind::Constants, len: len32 });
        }
        let t: RawTableHeader =
            read(section, 0).ok_or(PolicyError::SectionTooShort { section: SectionKind::Constants, len: len32 })?;
        if t.reserved != 0 {
            return Err(PolicyError::ReservedNonZero { offset: base + offset_of!(RawTableHeader, reserved) });
        }
        let count = t.count;
        let count16 =
            u16::try_from(count).map_err(|_| PolicyError::TooManyEntries { section: SectionKind::Constants, count })?;
        let table_end = TABLE_HEADER_LEN as u64 + u64::from(count) * CONST_ENTRY_LEN as u64;
        if table_end > section.len() as u64 {
            return Err(PolicyError::TableSizeMismatch { section: SectionKind::Constants, count, len: len32 });
        }
        let pool = ConstPool { section, count: count16 };
        for index in 0..count16 {
            let rec_off = TABLE_HEADER_LEN + usize::from(index) * CONST_ENTRY_LEN;
            let c = pool.entry(index).ok_or(PolicyError::TableSizeMismatch {
                section: SectionKind::Constants,
                count,
                len: len32,
            })?;
            if c.reserved != [0; 3] {
                return Err(PolicyError::ReservedNonZero { offset: base + rec_off + offset_of!(RawConst, reserved) });
            }
            let byte_len = match c.kind {
                CONST_BYTES => {
                    if c.len as usize > MAX_CONST_BYTES {
                        return Err(PolicyError::ConstTooLong { index, len: c.len });
                    }
                    u64::from(c.len)
                }
                CONST_SET => {
                    if c.offset % 8 != 0 {
                        return Err(PolicyError::ConstMisaligned { index, offset: c.offset });
                    }
                    u64::from(c.len) * 8
                }
                CONST_CLASS => {
                    if c.len as usize != CLASS_LEN {
                        return Err(PolicyError::ClassBadLength { index, len: c.len });
                    }
                    u64::from(c.len)
                }
                kind => return Err(PolicyError::ConstBadKind { index, kind }),
            };
            // Data lives after the record table; sharing bytes between constants is harmless
            // (read-only), so only bounds are checked.
            if u64::from(c.offset) < table_end || u64::from(c.offset) + byte_len > section.len() as u64 {
                return Err(PolicyError::ConstOutOfBounds { index, offset: c.offset, len: c.len });
            }
            if c.kind == CONST_SET {
                let set =
                    pool.set(index).ok_or(PolicyError::ConstOutOfBounds { index, offset: c.offset, len: c.len })?;
                let mut prev: Option<u64> = None;
                for (position, v) in set.iter().enumerate() {
                    if prev.is_some_and(|p| p >= v) {
                        return Err(PolicyError::SetNotSorted { index, position: position as u32 });
                    }
                    prev = Some(v);
                }
            }
        }
        Ok(pool)
    }

    /// Re-creates a view of an already validated section.
    pub(crate) fn from_validated(section: &'a [u8], count: u16) -> Self {
        Self { section, count }
    }

    /// Number of constants.
    pub const fn len(&self) -> u16 {
        self.count
    }

    /// True if there are no constants.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[inline]
    fn entry(&self, index: u16) -> Option<RawConst> {
        if index >= self.count {
            return None;
        }
        let table = self.section.get(TABLE_HEADER_LEN..)?;
        nth::<RawConst>(table, usize::from(index))
    }

    #[inline]
    fn data(&self, c: &RawConst, byte_len: usize) -> Option<&'a [u8]> {
        let start = c.offset as usize;
        self.section.get(start..start.checked_add(byte_len)?)
    }

    /// Kind of constant `index`.
    pub fn kind(&self, index: u16) -> Option<ConstKind> {
        match self.entry(index)?.kind {
            CONST_BYTES => Some(ConstKind::Bytes),
            CONST_SET => Some(ConstKind::Set),
            CONST_CLASS => Some(ConstKind::Class),
            _ => None,
        }
    }

    /// Byte string `index`, if it is one.
    #[inline]
    pub fn bytes(&self, index: u16) -> Option<&'a [u8]> {
        let c = self.entry(index)?;
        if c.kind != CONST_BYTES {
            return None;
        }
        self.data(&c, c.len as usize)
    }

    /// Set `index`, if it is one.
    #[inline]
    pub fn set(&self, index: u16) -> Option<U64Set<'a>> {
        let c = self.entry(index)?;
        if c.kind != CONST_SET {
            return None;
        }
        Some(U64Set { data: self.data(&c, (c.len as usize).checked_mul(8)?)? })
    }

    /// Byte class `index`, if it is one.
    #[inline]
    pub fn class(&self, index: u16) -> Option<ByteClass<'a>> {
        let c = self.entry(index)?;
        if c.kind != CONST_CLASS {
            return None;
        }
        Some(ByteClass { bits: self.data(&c, CLASS_LEN)?.try_into().ok()? })
    }
}

/// A set of byte values stored as a 256-bit bitmap: bit `b % 8` of byte `b / 8` is set when
/// `b` is a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteClass<'a> {
    bits: &'a [u8; CLASS_LEN],
}

impl<'a> ByteClass<'a> {
    /// True if `b` is in the class.
    #[inline]
    pub fn contains(&self, b: u8) -> bool {
        self.bits.get(usize::from(b >> 3)).is_some_and(|&m| m & (1 << (b & 7)) != 0)
    }

    /// The bitmap.
    pub const fn bits(&self) -> &'a [u8; CLASS_LEN] {
        self.bits
    }
}

/// The bitmap of the class holding every byte of the inclusive ranges `ranges` (a range whose
/// start is above its end is empty).
pub fn class_bitmap(ranges: &[(u8, u8)]) -> [u8; CLASS_LEN] {
    let mut bits = [0u8; CLASS_LEN];
    for &(lo, hi) in ranges {
        for b in lo..=hi {
            if let Some(m) = bits.get_mut(usize::from(b >> 3)) {
                *m |= 1 << (b & 7);
            }
        }
    }
    bits
}

/// A strictly ascending set of u64 stored little-endian in the policy.
#[derive(Clone, Copy, Debug)]
pub struct U64Set<'a> {
    data: &'a [u8],
}

impl<'a> U64Set<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / 8
    }

    /// True if the set is empty.
    pub fn is_empty(&self) -> bool {
        self.data.len() < 8
    }

    /// Element `i` in ascending order.
    #[inline]
    pub fn get(&self, i: usize) -> Option<u64> {
        nth::<u64>(self.data, i)
    }

    /// Binary search (the set was checked sorted at decode): at most ⌈log2(n+1)⌉ probes.
    #[inline]
    pub fn contains(&self, v: u64) -> bool {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(x) if x < v => lo = mid + 1,
                Some(x) if x == v => return true,
                Some(_) => hi = mid,
                None => return false,
            }
        }
        false
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.data.chunks_exact(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Builds a constants section by hand: records then data as given.
    fn section(entries: &[(u8, u32, u32)], data: &[u8]) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        s.extend_from_slice(&0u32.to_le_bytes());
        for &(kind, off, len) in entries {
            s.push(kind);
            s.extend_from_slice(&[0, 0, 0]);
            s.extend_from_slice(&off.to_le_bytes());
            s.extend_from_slice(&len.to_le_bytes());
        }
        s.extend_from_slice(data);
        s
    }

    fn set_bytes(v: &[u64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn bytes_and_sets_round_trip() {
        // Header 8 + 2 records 24 = 32: set at 32 (aligned), bytes after it.
        let mut data = set_bytes(&[1, 5, 9, u64::MAX]);
        data.extend_from_slice(b"/etc/passwd");
        let s = section(&[(CONST_SET, 32, 4), (CONST_BYTES, 64, 11)], &data);
        let pool = ConstPool::parse(&s, 0).unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool.kind(0), Some(ConstKind::Set));
        assert_eq!(pool.kind(1), Some(ConstKind::Bytes));
        assert_eq!(pool.bytes(1), Some(&b"/etc/passwd"[..]));
        assert!(pool.bytes(0).is_none());
        assert!(pool.set(1).is_none());
        assert!(pool.set(2).is_none());
        let set = pool.set(0).unwrap();
        assert_eq!(set.len(), 4);
        for v in [1, 5, 9, u64::MAX] {
            assert!(set.contains(v));
        }
        for v in [0, 2, 4, 6, 10, u64::MAX - 1] {
            assert!(!set.contains(v));
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [1, 5, 9, u64::MAX]);
    }

    #[test]
    fn membership_matches_linear_search() {
        let elems: Vec<u64> = (0..100u64).map(|i| i * i * 7 + 3).collect();
        let s = section(&[(CONST_SET, 24, elems.len() as u32)], &{
            let mut d = Vec::from([0u8; 4]);
            d.extend(set_bytes(&elems));
            d
        });
        let pool = ConstPool::parse(&s, 0).unwrap();
        let set = pool.set(0).unwrap();
        for probe in 0..80_000u64 {
            assert_eq!(set.contains(probe), elems.contains(&probe), "{probe}");
        }
    }

    #[test]
    fn classes() {
        // Header 8 + 2 records 24 = 32; a class needs no alignment, so it may follow bytes.
        let bits = class_bitmap(&[(b'a', b'z'), (b'0', b'9'), (b'_', b'_'), (0xFF, 0xFF), (b'z', b'a')]);
        let mut data = b"x".to_vec();
        data.extend_from_slice(&bits);
        let s = section(&[(CONST_BYTES, 32, 1), (CONST_CLASS, 33, 32)], &data);
        let pool = ConstPool::parse(&s, 0).unwrap();
        assert_eq!(pool.kind(1), Some(ConstKind::Class));
        assert!(pool.class(0).is_none());
        assert!(pool.bytes(1).is_none() && pool.set(1).is_none());
        let class = pool.class(1).unwrap();
        assert_eq!(class.bits(), &bits);
        for b in 0..=255u8 {
            let want = b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == 0xFF;
            assert_eq!(class.contains(b), want, "{b:#x}");
        }
        assert_eq!(class_bitmap(&[]), [0; CLASS_LEN]);
        assert_eq!(class_bitmap(&[(0, 255)]), [0xFF; CLASS_LEN]);
    }

    #[test]
    fn empty_set_and_empty_bytes() {
        let s = section(&[(CONST_SET, 32, 0), (CONST_BYTES, 32, 0)], &[]);
        let pool = ConstPool::parse(&s, 0).unwrap();
        assert!(pool.set(0).unwrap().is_empty());
        assert!(!pool.set(0).unwrap().contains(0));
        assert_eq!(pool.bytes(1), Some(&b""[..]));
    }

    #[test]
    fn validation_errors() {
        let base = 0x100;
        let err = |s: &[u8]| ConstPool::parse(s, base).unwrap_err();
        assert!(matches!(err(&[0; 7]), PolicyError::SectionTooShort { .. }));
        let mut s = section(&[], &[]);
        s[4] = 1;
        assert_eq!(err(&s), PolicyError::ReservedNonZero { offset: base + 4 });
        let mut s = section(&[], &[]);
        s[..4].copy_from_slice(&70_000u32.to_le_bytes());
        assert!(matches!(err(&s), PolicyError::TooManyEntries { count: 70_000, .. }));
        let mut s = section(&[], &[]);
        s[0] = 1;
        assert!(matches!(err(&s), PolicyError::TableSizeMismatch { count: 1, .. }));
        let mut s = section(&[(CONST_BYTES, 20, 1)], b"x");
        s[9] = 7;
        assert_eq!(err(&s), PolicyError::ReservedNonZero { offset: base + 8 + 1 });
        assert_eq!(err(&section(&[(4, 20, 1)], &[0])), PolicyError::ConstBadKind { index: 0, kind: 4 });
        assert_eq!(
            err(&section(&[(CONST_CLASS, 20, 31)], &[0; 31])),
            PolicyError::ClassBadLength { index: 0, len: 31 }
        );
        assert_eq!(
            err(&section(&[(CONST_CLASS, 20, 33)], &[0; 33])),
            PolicyError::ClassBadLength { index: 0, len: 33 }
        );
        assert_eq!(
            err(&section(&[(CONST_CLASS, 20, 32)], &[0; 31])),
            PolicyError::ConstOutOfBounds { index: 0, offset: 20, len: 32 }
        );
        assert_eq!(
            err(&section(&[(CONST_BYTES, 20, 5000)], &[0; 5000])),
            PolicyError::ConstTooLong { index: 0, len: 5000 }
        );
        assert_eq!(
            err(&section(&[(CONST_SET, 20, 1)], &[0; 12])),
            PolicyError::ConstMisaligned { index: 0, offset: 20 }
        );
        assert_eq!(
            err(&section(&[(CONST_BYTES, 20, 2)], &[0])),
            PolicyError::ConstOutOfBounds { index: 0, offset: 20, len: 2 }
        );
        // Data may not alias the record table.
        assert_eq!(
            err(&section(&[(CONST_BYTES, 8, 2)], &[0])),
            PolicyError::ConstOutOfBounds { index: 0, offset: 8, len: 2 }
        );
        assert_eq!(
            err(&section(&[(CONST_SET, 24, u32::MAX)], &[0; 16])),
            PolicyError::ConstOutOfBounds { index: 0, offset: 24, len: u32::MAX }
        );
        let mut d = Vec::from([0u8; 4]);
        d.extend(set_bytes(&[1, 3, 3]));
        assert_eq!(err(&section(&[(CONST_SET, 24, 3)], &d)), PolicyError::SetNotSorted { index: 0, position: 2 });
        let mut d = Vec::from([0u8; 4]);
        d.extend(set_bytes(&[4, 2]));
        assert_eq!(err(&section(&[(CONST_SET, 24, 2)], &d)), PolicyError::SetNotSorted { index: 0, position: 1 });
    }
}
