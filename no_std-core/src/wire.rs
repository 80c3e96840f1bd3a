//! Fixed-size little-endian records, each layout stated once.
//!
//! [`le_record!`] takes a record as a list of fields with their byte offsets and generates,
//! from that one list:
//! - the `#[repr(C)]` struct;
//! - compile-time checks: every offset equals the struct's C offset, the field sizes add up to
//!   the stated size and so does `size_of` (no padding, no gaps, no overlaps: every field is
//!   naturally aligned, as in C);
//! - its [`Le`] codec: a read and a write at those offsets, used alike by the decoder, the
//!   per-syscall lookups and the encoder;
//! - under `cfg(test)`, `FIELDS` (name, offset, size), which tests compare with the tables
//!   in the format documentation (`doc_table`) or, for the Xen ABI, with the C headers.
//!
//! Reads and writes are plain `from_le_bytes`/`to_le_bytes` at constant offsets of a slice
//! whose length the caller checked once ([`read`], [`write()`], [`nth`]); after inlining the
//! compiler drops the per-field bounds checks. Nothing here panics or needs `unsafe`, and
//! it is `no_std` without proc macros, so it builds unchanged inside the kernel module.
//!
//! The policy format ([`crate::policy::format`]), the alert record ([`crate::alert`]), the
//! guest-kernel profile ([`crate::profile`]) and the Xen vm_event ABI ([`crate::xen_abi`],
//! whose `abi_struct!` adds the C alignment and name to a `le_record!`) use it.

/// A value with a fixed little-endian encoding of [`Le::SIZE`] bytes.
pub(crate) trait Le: Copy {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decodes `b[at..at + SIZE]`. Callers check the range first ([`read`]); record fields
    /// are in range by construction. Out of range reads zeros instead of panicking.
    fn read_le(b: &[u8], at: usize) -> Self;
    /// Encodes into `b[at..at + SIZE]` (range checked by the caller, see [`write()`]); out of
    /// range writes nothing.
    fn write_le(self, b: &mut [u8], at: usize);
    /// Decodes the first `SIZE` bytes of `b`; `None` if `b` is shorter.
    #[inline(always)]
    fn read_prefix(b: &[u8]) -> Option<Self> {
        Some(Self::read_le(b.get(..Self::SIZE)?, 0))
    }
}

macro_rules! le_int {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            #[inline(always)]
            fn read_le(b: &[u8], at: usize) -> Self {
                match b.get(at..).and_then(|s| s.first_chunk::<{ core::mem::size_of::<$t>() }>()) {
                    Some(a) => <$t>::from_le_bytes(*a),
                    None => 0,
                }
            }
            #[inline(always)]
            fn write_le(self, b: &mut [u8], at: usize) {
                if let Some(d) = b.get_mut(at..).and_then(|s| s.first_chunk_mut::<{ core::mem::size_of::<$t>() }>()) {
                    *d = self.to_le_bytes();
                }
            }
        }
    )*};
}
le_int!(u8, u16, u32, u64);

impl<T: Le, const N: usize> Le for [T; N] {
    const SIZE: usize = T::SIZE * N;
    #[inline(always)]
    fn read_le(b: &[u8], at: usize) -> Self {
        core::array::from_fn(|i| T::read_le(b, at.saturating_add(i * T::SIZE)))
    }
    #[inline(always)]
    fn write_le(self, b: &mut [u8], at: usize) {
        for (i, v) in self.into_iter().enumerate() {
            v.write_le(b, at.saturating_add(i * T::SIZE));
        }
    }
}

/// The `T` at `b[at..]`; `None` if it does not fit.
#[inline(always)]
pub(crate) fn read<T: Le>(b: &[u8], at: usize) -> Option<T> {
    T::read_prefix(b.get(at..)?)
}

/// Record `index` of a table of `T`s that starts at `table[0]`; `None` past the end.
#[inline(always)]
pub(crate) fn nth<T: Le>(table: &[u8], index: usize) -> Option<T> {
    read(table, index.checked_mul(T::SIZE)?)
}

/// Writes `v` at `b[at..]`; `None` (and nothing written) if it does not fit.
#[inline]
pub(crate) fn write<T: Le>(b: &mut [u8], at: usize, v: T) -> Option<()> {
    let s = b.get_mut(at..at.checked_add(T::SIZE)?)?;
    v.write_le(s, 0);
    Some(())
}

/// Declares a fixed little-endian record: the struct, its layout checks and its [`Le`]
/// codec, from one list of `field: type = offset` (see the module docs).
///
/// ```ignore
/// le_record! {
///     /// One rule record.
///     pub(crate) struct RawRule, size 16 {
///         pub abi: u8 = 0,
///         pub flags: u8 = 1,
///         pub invariant: u16 = 2,
///         pub nr: u32 = 4,
///         pub site: u64 = 8,
///     }
/// }
/// ```
macro_rules! le_record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident, size $size:literal {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty = $off:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty, )*
        }

        const _: () = assert!(core::mem::size_of::<$name>() == $size);
        const _: () = assert!(0 $( + <$ty as $crate::wire::Le>::SIZE )* == $size);
        $( const _: () = assert!(core::mem::offset_of!($name, $field) == $off); )*
        $( const _: () = assert!(<$ty as $crate::wire::Le>::SIZE == core::mem::size_of::<$ty>()); )*

        impl $crate::wire::Le for $name {
            const SIZE: usize = $size;
            #[inline(always)]
            fn read_le(b: &[u8], at: usize) -> Self {
                Self { $( $field: $crate::wire::Le::read_le(b, at.saturating_add($off)), )* }
            }
            #[inline(always)]
            fn write_le(self, b: &mut [u8], at: usize) {
                $( $crate::wire::Le::write_le(self.$field, b, at.saturating_add($off)); )*
            }
            /// The hot-path read: one length check, then fields at constant offsets of a
            /// fixed-size array (no per-field checks left after inlining).
            #[inline(always)]
            fn read_prefix(b: &[u8]) -> Option<Self> {
                let r: &[u8; $size] = b.get(..$size)?.try_into().ok()?;
                Some(Self { $( $field: $crate::wire::Le::read_le(r, $off), )* })
            }
        }

        #[cfg(test)]
        impl $name {
            /// (name, offset, size) of every field, in order.
            pub(crate) const FIELDS: &'static [(&'static str, usize, usize)] =
                &[ $( (stringify!($field), $off, <$ty as $crate::wire::Le>::SIZE) ),* ];
        }
    };
}
pub(crate) use le_record;

/// The `| off | size | field | …` table that follows the line `heading` in `//!` docs of
/// `src`, as (field, offset, size); the field is the third column without backticks. Empty
/// if the heading is missing. For tests that hold the docs to the declared layouts.
#[cfg(test)]
pub(crate) fn doc_table(src: &str, heading: &str) -> std::vec::Vec<(std::string::String, usize, usize)> {
    use std::string::ToString;
    let mut rows = std::vec::Vec::new();
    let mut lines = src.lines().map(|l| l.trim_start().trim_start_matches("//!").trim());
    if !lines.any(|l| l == heading) {
        return rows;
    }
    let mut in_table = false;
    for l in lines {
        if !l.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cols: std::vec::Vec<&str> = l.split('|').map(str::trim).collect();
        let (Some(off), Some(size), Some(field)) = (cols.get(1), cols.get(2), cols.get(3)) else { continue };
        let (Ok(off), Ok(size)) = (off.parse::<usize>(), size.parse::<usize>()) else { continue };
        rows.push((field.trim_matches('`').to_string(), off, size));
    }
    rows
}

/// Asserts that the docs table under `heading` lists exactly `fields`.
#[cfg(test)]
pub(crate) fn assert_documented(src: &str, heading: &str, fields: &[(&str, usize, usize)]) {
    let doc = doc_table(src, heading);
    let want: std::vec::Vec<(std::string::String, usize, usize)> =
        fields.iter().map(|&(n, o, s)| (std::string::ToString::to_string(n), o, s)).collect();
    assert_eq!(doc, want, "the table under {heading:?} does not match the declared layout");
}

#[cfg(test)]
mod tests {
    use super::*;

    le_record! {
        /// A record with every kind of field.
        struct Sample, size 24 {
            a: u8 = 0,
            pad: [u8; 3] = 1,
            b: u32 = 4,
            c: u64 = 8,
            d: [u16; 4] = 16,
        }
    }

    #[test]
    fn fields_land_at_their_offsets_little_endian() {
        let s = Sample {
            a: 1,
            pad: [2, 3, 4],
            b: 0x0807_0605,
            c: 0x100f_0e0d_0c0b_0a09,
            d: [0x1211, 0x1413, 0x1615, 0x1817],
        };
        let mut buf = [0u8; 26];
        assert_eq!(write(&mut buf, 1, s), Some(()));
        let want: std::vec::Vec<u8> = (0..=0x18).collect();
        assert_eq!(&buf[1..25], &want[1..25]);
        assert_eq!((buf[0], buf[25]), (0, 0));
        assert_eq!(read::<Sample>(&buf, 1), Some(s));
        assert_eq!(Sample::FIELDS, &[("a", 0, 1), ("pad", 1, 3), ("b", 4, 4), ("c", 8, 8), ("d", 16, 8)]);
    }

    #[test]
    fn out_of_range_is_none_not_a_panic() {
        let mut buf = [0u8; 24];
        assert!(read::<Sample>(&buf, 1).is_none());
        assert!(read::<Sample>(&buf, usize::MAX).is_none());
        assert!(write(&mut buf, 1, Sample::read_le(&[], 0)).is_none());
        assert_eq!(buf, [0u8; 24]);
        assert_eq!(nth::<u32>(&buf, 5), Some(0));
        assert_eq!(nth::<u32>(&buf, 6), None);
        assert_eq!(nth::<u32>(&buf, usize::MAX), None);
        // The raw codec reads zeros out of range instead of panicking.
        assert_eq!(u64::read_le(&[1, 2, 3], 0), 0);
        assert_eq!(u16::read_le(&[1, 2, 3], usize::MAX), 0);
        u32::write_le(7, &mut buf[..3], 0);
        assert_eq!(buf, [0u8; 24]);
    }

    #[test]
    fn doc_tables_are_parsed() {
        let src = "//! ## R (8 bytes)\n//!\n//! | off | size | field | meaning |\n//! |--:|--:|---|---|\n\
                   //! | 0 | 4 | `a` | x |\n//! | 4 | 4 | b | y |\n//!\n//! | 9 | 9 | other | table |\n";
        assert_eq!(doc_table(src, "## R (8 bytes)"), [("a".into(), 0, 4), ("b".into(), 4, 4)]);
        assert!(doc_table(src, "## S").is_empty());
        assert_documented(src, "## R (8 bytes)", &[("a", 0, 4), ("b", 4, 4)]);
    }
}
