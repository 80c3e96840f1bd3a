//! Guest-kernel profile (Introspection Library): the symbol address and structure offsets the
//! process finder ([`crate::process`]) needs to read the guest kernel's task list.
//!
//! Offsets differ between kernel builds, so the static tool extracts them from the guest
//! kernel's BTF/DWARF and System.map and writes them in the small binary encoding below; the
//! kernel module only decodes and validates it. A [`Profile`] can only be obtained validated:
//! every field lies inside its structure, is naturally aligned, and no two `task_struct` fields
//! overlap — a profile for the wrong kernel usually fails one of these.
//!
//! # Encoding, version 1 (little-endian, 64 bytes)
//!
//! | off | size | field | meaning |
//! |--:|--:|---|---|
//! | 0 | 4 | magic | `"SGKP"` |
//! | 4 | 2 | version | 1 |
//! | 6 | 2 | flags | bit 0 = `task_struct.real_parent` present; other bits must be 0 |
//! | 8 | 4 | length | total length = 64 |
//! | 12 | 4 | checksum | FNV-1a 32 of all 64 bytes with this field read as 0 |
//! | 16 | 8 | init_task | `init_task` address (kernel virtual) |
//! | 24 | 4 | task_struct_size | `sizeof(struct task_struct)` |
//! | 28 | 4 | task_tasks | `offsetof(task_struct, tasks)` (`struct list_head`) |
//! | 32 | 4 | task_comm | `offsetof(task_struct, comm)` |
//! | 36 | 4 | task_pid | `offsetof(task_struct, pid)` (`pid_t`, 4 bytes) |
//! | 40 | 4 | task_tgid | `offsetof(task_struct, tgid)` (`pid_t`) |
//! | 44 | 4 | task_mm | `offsetof(task_struct, mm)` (pointer) |
//! | 48 | 4 | task_real_parent | `offsetof(task_struct, real_parent)` (pointer), 0 if flag bit 0 is clear |
//! | 52 | 4 | mm_struct_size | `sizeof(struct mm_struct)` |
//! | 56 | 4 | mm_pgd | `offsetof(mm_struct, pgd)` (pointer) |
//! | 60 | 2 | comm_len | `TASK_COMM_LEN` (2..=16) |
//! | 62 | 2 | reserved | 0 |
//!
//! The layout is declared once, as `RawProfile` below; a unit test holds this table to it.

use core::mem::offset_of;

use crate::wire::{self, le_record, Le};

/// Magic bytes at the start of an encoded profile.
pub const MAGIC: [u8; 4] = *b"SGKP";
/// The encoding version this code reads and writes.
pub const VERSION: u16 = 1;
/// Length of an encoded version-1 profile.
pub const ENCODED_LEN: usize = RawProfile::SIZE;
/// Largest structure size accepted (Linux's `task_struct` is ≈ 10 KiB).
pub const MAX_STRUCT_SIZE: u32 = 64 * 1024;
/// Largest `TASK_COMM_LEN` accepted (Linux's is 16).
pub const MAX_COMM_LEN: u16 = 16;

const FLAG_REAL_PARENT: u16 = 1 << 0;
const CHECKSUM_AT: usize = offset_of!(RawProfile, checksum);

le_record! {
    /// An encoded profile as stored (see the module docs for what each field means).
    struct RawProfile, size 64 {
        magic: [u8; 4] = 0,
        version: u16 = 4,
        flags: u16 = 6,
        length: u32 = 8,
        checksum: u32 = 12,
        init_task: u64 = 16,
        task_struct_size: u32 = 24,
        task_tasks: u32 = 28,
        task_comm: u32 = 32,
        task_pid: u32 = 36,
        task_tgid: u32 = 40,
        task_mm: u32 = 44,
        task_real_parent: u32 = 48,
        mm_struct_size: u32 = 52,
        mm_pgd: u32 = 56,
        comm_len: u16 = 60,
        reserved: u16 = 62,
    }
}

/// A structure field named by the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `task_struct.tasks` (`struct list_head`, 16 bytes).
    TaskTasks,
    /// `task_struct.comm` (`char[TASK_COMM_LEN]`).
    TaskComm,
    /// `task_struct.pid` (`pid_t`).
    TaskPid,
    /// `task_struct.tgid` (`pid_t`).
    TaskTgid,
    /// `task_struct.mm` (`struct mm_struct *`).
    TaskMm,
    /// `task_struct.real_parent` (`struct task_struct *`).
    TaskRealParent,
    /// `mm_struct.pgd` (`pgd_t *`).
    MmPgd,
}

impl Field {
    /// Size in bytes of the field, given `TASK_COMM_LEN`.
    pub const fn size(self, comm_len: u16) -> u32 {
        match self {
            Self::TaskTasks => 16,
            Self::TaskComm => comm_len as u32,
            Self::TaskPid | Self::TaskTgid => 4,
            Self::TaskMm | Self::TaskRealParent | Self::MmPgd => 8,
        }
    }
    /// Required alignment of the field's offset.
    pub const fn align(self) -> u32 {
        match self {
            Self::TaskComm => 1,
            Self::TaskPid | Self::TaskTgid => 4,
            Self::TaskTasks | Self::TaskMm | Self::TaskRealParent | Self::MmPgd => 8,
        }
    }
}

/// Which structure a size refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Struct {
    /// `struct task_struct`.
    TaskStruct,
    /// `struct mm_struct`.
    MmStruct,
}

/// Why a profile was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileError {
    /// The input is shorter than a profile.
    TooShort {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The magic is not `"SGKP"`.
    BadMagic,
    /// An encoding version this code does not read.
    UnsupportedVersion(u16),
    /// Flag bits this version does not define.
    UnknownFlags(u16),
    /// The declared length differs from the version's length or from the input's length.
    Length {
        /// Length field of the encoding.
        declared: u32,
        /// Length of the input.
        actual: usize,
    },
    /// The checksum does not match the content.
    Checksum {
        /// Checksum stored in the encoding.
        stored: u32,
        /// Checksum of the content.
        computed: u32,
    },
    /// The reserved field is not zero.
    Reserved,
    /// `real_parent`'s offset is non-zero but its flag is clear.
    AbsentFieldSet,
    /// `init_task` is not a canonical kernel-half address.
    InitTask(u64),
    /// A structure size is 0 or above [`MAX_STRUCT_SIZE`].
    StructSize {
        /// Which structure.
        which: Struct,
        /// The size given.
        size: u32,
    },
    /// `TASK_COMM_LEN` is outside 2..=[`MAX_COMM_LEN`].
    CommLen(u16),
    /// A field does not fit inside its structure.
    FieldOutOfStruct {
        /// The field.
        field: Field,
        /// Its offset.
        offset: u32,
        /// Its size.
        size: u32,
        /// The structure's size.
        struct_size: u32,
    },
    /// A field's offset is not a multiple of its natural alignment.
    Misaligned {
        /// The field.
        field: Field,
        /// Its offset.
        offset: u32,
    },
    /// Two `task_struct` fields overlap.
    Overlap {
        /// One field.
        a: Field,
        /// The other.
        b: Field,
    },
    /// The output buffer is too small for the encoding.
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
    },
}

/// The raw values of a profile, as the static tool fills them in. Turned into a [`Profile`]
/// by [`Profile::new`], which validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileFields {
    /// Address of `init_task` (head of the task list), from System.map.
    pub init_task: u64,
    /// `sizeof(struct task_struct)`.
    pub task_struct_size: u32,
    /// `offsetof(task_struct, tasks)`.
    pub task_tasks: u32,
    /// `offsetof(task_struct, comm)`.
    pub task_comm: u32,
    /// `offsetof(task_struct, pid)`.
    pub task_pid: u32,
    /// `offsetof(task_struct, tgid)`.
    pub task_tgid: u32,
    /// `offsetof(task_struct, mm)`.
    pub task_mm: u32,
    /// `offsetof(task_struct, real_parent)`, if known.
    pub task_real_parent: Option<u32>,
    /// `sizeof(struct mm_struct)`.
    pub mm_struct_size: u32,
    /// `offsetof(mm_struct, pgd)`.
    pub mm_pgd: u32,
    /// `TASK_COMM_LEN` (the size of `comm`, NUL included).
    pub comm_len: u16,
}

/// A validated guest-kernel profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    f: ProfileFields,
}

/// FNV-1a 32 over `bytes`, with the checksum field read as zero.
fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if (CHECKSUM_AT..CHECKSUM_AT + 4).contains(&i) { 0 } else { b };
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h
}

impl Profile {
    /// Validates `f`.
    pub fn new(f: ProfileFields) -> Result<Self, ProfileError> {
        // Kernel half: bit 63 set and canonical under 5-level paging (which includes every
        // 4-level kernel address).
        let ia = f.init_task;
        if ia >> 63 == 0 || ((ia << 7) as i64 >> 7) as u64 != ia {
            return Err(ProfileError::InitTask(ia));
        }
        for (which, size) in [(Struct::TaskStruct, f.task_struct_size), (Struct::MmStruct, f.mm_struct_size)] {
            if size == 0 || size > MAX_STRUCT_SIZE {
                return Err(ProfileError::StructSize { which, size });
            }
        }
        if f.comm_len < 2 || f.comm_len > MAX_COMM_LEN {
            return Err(ProfileError::CommLen(f.comm_len));
        }
        let p = Self { f };
        let mut task_fields = [(Field::TaskTasks, 0u32); 6];
        let mut n = 0;
        for field in
            [Field::TaskTasks, Field::TaskComm, Field::TaskPid, Field::TaskTgid, Field::TaskMm, Field::TaskRealParent]
        {
            if let Some(off) = p.offset(field) {
                p.check_field(field, off, f.task_struct_size)?;
                if let Some(slot) = task_fields.get_mut(n) {
                    *slot = (field, off);
                    n += 1;
                }
            }
        }
        p.check_field(Field::MmPgd, f.mm_pgd, f.mm_struct_size)?;
        // Pairwise overlap among at most six fields.
        let present = task_fields.get(..n).unwrap_or(&[]);
        for (i, &(a, oa)) in present.iter().enumerate() {
            for &(b, ob) in present.iter().skip(i + 1) {
                // Both ranges lie inside the struct (checked above), so no overflow.
                if oa < ob + b.size(f.comm_len) && ob < oa + a.size(f.comm_len) {
                    return Err(ProfileError::Overlap { a, b });
                }
            }
        }
        Ok(p)
    }

    fn check_field(&self, field: Field, offset: u32, struct_size: u32) -> Result<(), ProfileError> {
        let size = field.size(self.f.comm_len);
        match offset.checked_add(size) {
            Some(end) if end <= struct_size => {}
            _ => return Err(ProfileError::FieldOutOfStruct { field, offset, size, struct_size }),
        }
        if offset % field.align() != 0 {
            return Err(ProfileError::Misaligned { field, offset });
        }
        Ok(())
    }

    /// The validated values.
    pub fn fields(&self) -> &ProfileFields {
        &self.f
    }
    /// Address of `init_task`.
    pub fn init_task(&self) -> u64 {
        self.f.init_task
    }
    /// `TASK_COMM_LEN` (2..=16).
    pub fn comm_len(&self) -> usize {
        self.f.comm_len as usize
    }
    /// Offset of `field` in its structure, `None` for an absent optional field.
    pub fn offset(&self, field: Field) -> Option<u32> {
        match field {
            Field::TaskTasks => Some(self.f.task_tasks),
            Field::TaskComm => Some(self.f.task_comm),
            Field::TaskPid => Some(self.f.task_pid),
            Field::TaskTgid => Some(self.f.task_tgid),
            Field::TaskMm => Some(self.f.task_mm),
            Field::TaskRealParent => self.f.task_real_parent,
            Field::MmPgd => Some(self.f.mm_pgd),
        }
    }

    /// Decodes and validates an encoded profile; `bytes` must be exactly one profile.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        let Some(r) = RawProfile::read_prefix(bytes) else {
            return Err(ProfileError::TooShort { need: ENCODED_LEN, have: bytes.len() });
        };
        if r.magic != MAGIC {
            return Err(ProfileError::BadMagic);
        }
        if r.version != VERSION {
            return Err(ProfileError::UnsupportedVersion(r.version));
        }
        if r.flags & !FLAG_REAL_PARENT != 0 {
            return Err(ProfileError::UnknownFlags(r.flags & !FLAG_REAL_PARENT));
        }
        if r.length as usize != ENCODED_LEN || bytes.len() != ENCODED_LEN {
            return Err(ProfileError::Length { declared: r.length, actual: bytes.len() });
        }
        let computed = checksum(bytes);
        if r.checksum != computed {
            return Err(ProfileError::Checksum { stored: r.checksum, computed });
        }
        if r.reserved != 0 {
            return Err(ProfileError::Reserved);
        }
        let task_real_parent = if r.flags & FLAG_REAL_PARENT != 0 {
            Some(r.task_real_parent)
        } else if r.task_real_parent != 0 {
            return Err(ProfileError::AbsentFieldSet);
        } else {
            None
        };
        Self::new(ProfileFields {
            init_task: r.init_task,
            task_struct_size: r.task_struct_size,
            task_tasks: r.task_tasks,
            task_comm: r.task_comm,
            task_pid: r.task_pid,
            task_tgid: r.task_tgid,
            task_mm: r.task_mm,
            task_real_parent,
            mm_struct_size: r.mm_struct_size,
            mm_pgd: r.mm_pgd,
            comm_len: r.comm_len,
        })
    }

    /// Encodes into `out` and returns the number of bytes written ([`ENCODED_LEN`]).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProfileError> {
        let full = ProfileError::BufferTooSmall { need: ENCODED_LEN };
        let out = out.get_mut(..ENCODED_LEN).ok_or(full)?;
        let f = &self.f;
        let mut r = RawProfile {
            magic: MAGIC,
            version: VERSION,
            flags: if f.task_real_parent.is_some() { FLAG_REAL_PARENT } else { 0 },
            length: ENCODED_LEN as u32,
            checksum: 0,
            init_task: f.init_task,
            task_struct_size: f.task_struct_size,
            task_tasks: f.task_tasks,
            task_comm: f.task_comm,
            task_pid: f.task_pid,
            task_tgid: f.task_tgid,
            task_mm: f.task_mm,
            task_real_parent: f.task_real_parent.unwrap_or(0),
            mm_struct_size: f.mm_struct_size,
            mm_pgd: f.mm_pgd,
            comm_len: f.comm_len,
            reserved: 0,
        };
        wire::write(out, 0, r).ok_or(full)?;
        r.checksum = checksum(out);
        wire::write(out, CHECKSUM_AT, r.checksum).ok_or(full)?;
        Ok(ENCODED_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Offsets of a Debian 6.1 x86-64 kernel, roughly (the real values come from BTF).
    fn sample() -> ProfileFields {
        ProfileFields {
            init_task: 0xffff_ffff_8201_3940,
            task_struct_size: 9792,
            task_tasks: 2192,
            task_comm: 3000,
            task_pid: 2464,
            task_tgid: 2468,
            task_mm: 2272,
            task_real_parent: Some(2480),
            mm_struct_size: 1152,
            mm_pgd: 80,
            comm_len: 16,
        }
    }

    fn encoded(f: ProfileFields) -> [u8; ENCODED_LEN] {
        let mut b = [0u8; ENCODED_LEN];
        assert_eq!(Profile::new(f).unwrap().encode(&mut b), Ok(ENCODED_LEN));
        b
    }

    /// Re-seals a tampered encoding so that the checksum is not what rejects it.
    fn reseal(b: &mut [u8]) {
        let s = checksum(b);
        b[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&s.to_le_bytes());
    }

    #[test]
    fn round_trip_and_layout() {
        let b = encoded(sample());
        assert_eq!(&b[..4], b"SGKP");
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 1);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 0xffff_ffff_8201_3940);
        assert_eq!(u16::from_le_bytes([b[60], b[61]]), 16);
        let p = Profile::decode(&b).unwrap();
        assert_eq!(*p.fields(), sample());
        assert_eq!(p.offset(Field::TaskRealParent), Some(2480));
        assert_eq!(p.comm_len(), 16);
        let mut no_parent = sample();
        no_parent.task_real_parent = None;
        let p = Profile::decode(&encoded(no_parent)).unwrap();
        assert_eq!(p.offset(Field::TaskRealParent), None);
    }

    #[test]
    fn decode_errors_are_precise() {
        let good = encoded(sample());
        assert_eq!(Profile::decode(&good[..63]), Err(ProfileError::TooShort { need: 64, have: 63 }));
        let mut long = [0u8; 65];
        long[..64].copy_from_slice(&good);
        assert_eq!(Profile::decode(&long), Err(ProfileError::Length { declared: 64, actual: 65 }));
        let mut b = good;
        b[0] = b'X';
        assert_eq!(Profile::decode(&b), Err(ProfileError::BadMagic));
        let mut b = good;
        b[4] = 2;
        assert_eq!(Profile::decode(&b), Err(ProfileError::UnsupportedVersion(2)));
        let mut b = good;
        b[6] = 0x81;
        assert_eq!(Profile::decode(&b), Err(ProfileError::UnknownFlags(0x80)));
        let mut b = good;
        b[8] = 65;
        assert_eq!(Profile::decode(&b), Err(ProfileError::Length { declared: 65, actual: 64 }));
        let mut b = good;
        b[30] ^= 1;
        assert!(matches!(Profile::decode(&b), Err(ProfileError::Checksum { .. })));
        let mut b = good;
        b[62] = 1;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::Reserved));
        let mut b = good;
        b[6] = 0;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::AbsentFieldSet));
        let mut b = good;
        b[60] = 17;
        reseal(&mut b);
        assert_eq!(Profile::decode(&b), Err(ProfileError::CommLen(17)));
        assert_eq!(
            Profile::new(sample()).unwrap().encode(&mut [0u8; 63]),
            Err(ProfileError::BufferTooSmall { need: 64 })
        );
    }

    #[test]
    fn validation_errors_are_precise() {
        let check = |edit: fn(&mut ProfileFields), want: ProfileError| {
            let mut f = sample();
            edit(&mut f);
            assert_eq!(Profile::new(f), Err(want));
        };
        check(|f| f.init_task = 0x0000_7fff_0000_0000, ProfileError::InitTask(0x0000_7fff_0000_0000));
        check(|f| f.init_task = 0x8000_0000_0000_0000, ProfileError::InitTask(0x8000_0000_0000_0000));
        check(|f| f.task_struct_size = 0, ProfileError::StructSize { which: Struct::TaskStruct, size: 0 });
        check(
            |f| f.mm_struct_size = MAX_STRUCT_SIZE + 1,
            ProfileError::StructSize { which: Struct::MmStruct, size: MAX_STRUCT_SIZE + 1 },
        );
        check(|f| f.comm_len = 1, ProfileError::CommLen(1));
        check(
            |f| f.task_comm = 9792 - 15,
            ProfileError::FieldOutOfStruct { field: Field::TaskComm, offset: 9777, size: 16, struct_size: 9792 },
        );
        check(
            |f| f.task_mm = u32::MAX - 3,
            ProfileError::FieldOutOfStruct { field: Field::TaskMm, offset: u32::MAX - 3, size: 8, struct_size: 9792 },
        );
        check(
            |f| f.mm_pgd = 1152,
            ProfileError::FieldOutOfStruct { field: Field::MmPgd, offset: 1152, size: 8, struct_size: 1152 },
        );
        check(|f| f.task_pid = 2466, ProfileError::Misaligned { field: Field::TaskPid, offset: 2466 });
        check(|f| f.task_tgid = 2464, ProfileError::Overlap { a: Field::TaskPid, b: Field::TaskTgid });
        check(|f| f.task_comm = 2200, ProfileError::Overlap { a: Field::TaskTasks, b: Field::TaskComm });
        check(
            |f| f.task_real_parent = Some(2272),
            ProfileError::Overlap { a: Field::TaskMm, b: Field::TaskRealParent },
        );
        // Adjacent is fine.
        let mut f = sample();
        f.task_comm = 2192 + 16;
        assert!(Profile::new(f).is_ok());
        // A 5-level kernel address is accepted.
        f.init_task = 0xff11_0000_0000_0000;
        assert!(Profile::new(f).is_ok());
    }

    #[test]
    fn format_docs_match_the_layout() {
        crate::wire::assert_documented(
            include_str!("profile.rs"),
            "# Encoding, version 1 (little-endian, 64 bytes)",
            RawProfile::FIELDS,
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Profile::decode(&bytes);
        }

        #[test]
        fn valid_fields_round_trip(
            tasks in 0u32..64, comm in 0u32..64, pid in 0u32..64, tgid in 0u32..64, mm in 0u32..64,
            parent in proptest::option::of(0u32..64), pgd in 0u32..16, comm_len in 2u16..=16,
        ) {
            let f = ProfileFields {
                init_task: 0xffff_ffff_8000_0000,
                task_struct_size: 1024,
                task_tasks: tasks * 16,
                task_comm: comm * 16,
                task_pid: pid * 16,
                task_tgid: tgid * 16 + 4,
                task_mm: mm * 16 + 8,
                task_real_parent: parent.map(|p| p * 16 + 8),
                mm_struct_size: 128,
                mm_pgd: pgd * 8,
                comm_len,
            };
            match Profile::new(f) {
                Ok(p) => {
                    let mut b = [0u8; ENCODED_LEN];
                    prop_assert_eq!(p.encode(&mut b), Ok(ENCODED_LEN));
                    prop_assert_eq!(Profile::decode(&b), Ok(p));
                    // Any single-bit flip is detected by some check.
                    for bit in 0..ENCODED_LEN * 8 {
                        let mut t = b;
                        t[bit / 8] ^= 1 << (bit % 8);
                        prop_assert!(Profile::decode(&t).is_err());
                    }
                }
                Err(e) => prop_assert!(matches!(e, ProfileError::Overlap { .. }), "unexpected {:?}", e),
            }
        }
    }
}
