//! C types of P as the resolver reads them from DWARF (typedefs and qualifiers already
//! stripped), in an arena; plus the synthetic types the type checker needs for syscall
//! arguments and casts.

use std::collections::HashMap;

/// Index into a [`TypeArena`].
pub type TypeId = usize;

/// Whether a record is a struct or a union.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `struct`.
    Struct,
    /// `union`.
    Union,
}

impl RecordKind {
    /// C keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
        }
    }
}

/// A struct or union member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Name; `None` for an anonymous struct/union member (C11), whose members are found
    /// through it.
    pub name: Option<String>,
    /// Byte offset in the record.
    pub offset: u64,
    /// Type.
    pub ty: TypeId,
    /// For bit-fields: (bit offset from `offset`, bit size).
    pub bits: Option<(u64, u64)>,
}

/// A C type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CType {
    /// `void`.
    Void,
    /// An integer, character or boolean type.
    Int {
        /// C name (`unsigned int`, `char`, …).
        name: String,
        /// Bytes.
        size: u64,
        /// Signed.
        signed: bool,
        /// `_Bool`.
        boolean: bool,
    },
    /// `float`, `double`, … (not supported in invariants).
    Float {
        /// C name.
        name: String,
        /// Bytes.
        size: u64,
    },
    /// An enum: compared as an integer; its enumerators are constants.
    Enum {
        /// Tag, if any.
        name: Option<String>,
        /// Bytes.
        size: u64,
        /// Signed underlying type.
        signed: bool,
    },
    /// A pointer.
    Pointer {
        /// Pointee.
        target: TypeId,
    },
    /// An array (multi-dimensional arrays are arrays of arrays).
    Array {
        /// Element type.
        elem: TypeId,
        /// Element count, if known.
        count: Option<u64>,
    },
    /// A struct or union.
    Record {
        /// Struct or union.
        kind: RecordKind,
        /// Tag, if any.
        name: Option<String>,
        /// Size in bytes (`None` for a declaration without definition).
        size: Option<u64>,
        /// Members in declaration order.
        members: Vec<Member>,
    },
    /// A function type (only its address can be used).
    Function,
    /// A type the resolver could not read (its name for messages).
    Unknown(String),
}

/// All types of one compilation; DWARF types and synthetic ones share it.
#[derive(Clone, Debug, Default)]
pub struct TypeArena {
    types: Vec<CType>,
    interned: HashMap<CType, TypeId>,
}

impl std::hash::Hash for CType {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Only scalar synthetic types are interned; hashing the discriminant and a few
        // fields is enough for that map.
        std::mem::discriminant(self).hash(state);
        match self {
            CType::Int { size, signed, .. } | CType::Enum { size, signed, .. } => (size, signed).hash(state),
            CType::Pointer { target } => target.hash(state),
            CType::Array { elem, count } => (elem, count).hash(state),
            _ => {}
        }
    }
}

/// How deep [`TypeArena::name`] goes through pointers and arrays.
const NAME_DEPTH: usize = 16;

impl TypeArena {
    /// An arena holding `void` as type 0.
    pub fn new() -> Self {
        let mut a = Self::default();
        a.push(CType::Void);
        a
    }

    /// `void`.
    pub const VOID: TypeId = 0;

    /// Adds a type.
    pub fn push(&mut self, t: CType) -> TypeId {
        self.types.push(t);
        self.types.len() - 1
    }

    /// Replaces a placeholder (for recursive types).
    pub fn set(&mut self, id: TypeId, t: CType) {
        if let Some(slot) = self.types.get_mut(id) {
            *slot = t;
        }
    }

    /// Adds `t` unless an equal synthetic type exists.
    pub fn intern(&mut self, t: CType) -> TypeId {
        if let Some(&id) = self.interned.get(&t) {
            return id;
        }
        let id = self.push(t.clone());
        self.interned.insert(t, id);
        id
    }

    /// The type `id` (`Unknown` for a bad id, which the arena never hands out).
    pub fn get(&self, id: TypeId) -> &CType {
        static BAD: CType = CType::Void;
        self.types.get(id).unwrap_or(&BAD)
    }

    /// A fixed-size integer type with a C-like name.
    pub fn int(&mut self, size: u64, signed: bool) -> TypeId {
        let name = format!("{}{}", if signed { "i" } else { "u" }, size * 8);
        self.intern(CType::Int { name, size, signed, boolean: false })
    }

    /// `char` (signed on x86-64).
    pub fn char(&mut self) -> TypeId {
        self.intern(CType::Int { name: "char".into(), size: 1, signed: true, boolean: false })
    }

    /// `bool`.
    pub fn boolean(&mut self) -> TypeId {
        self.intern(CType::Int { name: "bool".into(), size: 1, signed: false, boolean: true })
    }

    /// Pointer to `target`.
    pub fn pointer(&mut self, target: TypeId) -> TypeId {
        self.intern(CType::Pointer { target })
    }

    /// Size of `id` in bytes, if it has one.
    pub fn size(&self, id: TypeId) -> Option<u64> {
        self.size_at(id, 0)
    }

    fn size_at(&self, id: TypeId, depth: usize) -> Option<u64> {
        if depth > NAME_DEPTH {
            return None;
        }
        match self.get(id) {
            CType::Void | CType::Function | CType::Unknown(_) => None,
            CType::Int { size, .. } | CType::Float { size, .. } | CType::Enum { size, .. } => Some(*size),
            CType::Pointer { .. } => Some(8),
            CType::Array { elem, count } => self.size_at(*elem, depth + 1)?.checked_mul((*count)?),
            CType::Record { size, .. } => *size,
        }
    }

    /// C-like spelling for messages (`struct config`, `char *`, `int [16]`).
    pub fn name(&self, id: TypeId) -> String {
        let (base, suffix) = self.name_parts(id, 0);
        format!("{base}{suffix}")
    }

    fn name_parts(&self, id: TypeId, depth: usize) -> (String, String) {
        if depth > NAME_DEPTH {
            return ("…".into(), String::new());
        }
        match self.get(id) {
            CType::Void => ("void".into(), String::new()),
            CType::Int { name, .. } | CType::Float { name, .. } => (name.clone(), String::new()),
            CType::Enum { name, .. } => (format!("enum {}", name.as_deref().unwrap_or("<anonymous>")), String::new()),
            CType::Record { kind, name, .. } => {
                (format!("{} {}", kind.keyword(), name.as_deref().unwrap_or("<anonymous>")), String::new())
            }
            CType::Function => ("function".into(), String::new()),
            CType::Unknown(n) => (n.clone(), String::new()),
            CType::Pointer { target } => {
                let (b, s) = self.name_parts(*target, depth + 1);
                if s.is_empty() {
                    (format!("{b} *"), String::new())
                } else {
                    (format!("{b} (*"), format!("){s}"))
                }
            }
            CType::Array { elem, count } => {
                let (b, s) = self.name_parts(*elem, depth + 1);
                let n = count.map_or(String::new(), |c| c.to_string());
                (b, format!(" [{n}]{s}"))
            }
        }
    }

    /// The member called `name` of record `id`, looking through anonymous members; returns
    /// its absolute offset in the record and the member. Bounded by `NAME_DEPTH` levels.
    pub fn member(&self, id: TypeId, name: &str) -> Option<(u64, Member)> {
        self.member_at(id, name, 0)
    }

    fn member_at(&self, id: TypeId, name: &str, depth: usize) -> Option<(u64, Member)> {
        if depth > NAME_DEPTH {
            return None;
        }
        let CType::Record { members, .. } = self.get(id) else { return None };
        for m in members {
            match &m.name {
                Some(n) if n == name => return Some((m.offset, m.clone())),
                None => {
                    if let Some((off, inner)) = self.member_at(m.ty, name, depth + 1) {
                        return Some((m.offset + off, inner));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Names of the members of record `id` (anonymous members expanded), for suggestions.
    pub fn member_names(&self, id: TypeId) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_names(id, 0, &mut out);
        out
    }

    fn collect_names(&self, id: TypeId, depth: usize, out: &mut Vec<String>) {
        if depth > NAME_DEPTH {
            return;
        }
        if let CType::Record { members, .. } = self.get(id) {
            for m in members {
                match &m.name {
                    Some(n) => out.push(n.clone()),
                    None => self.collect_names(m.ty, depth + 1, out),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sizes_members() {
        let mut a = TypeArena::new();
        let c = a.char();
        let arr = a.push(CType::Array { elem: c, count: Some(16) });
        let p = a.pointer(arr);
        assert_eq!(a.name(arr), "char [16]");
        assert_eq!(a.name(p), "char (*) [16]");
        assert_eq!(a.size(arr), Some(16));
        let u32_ = a.int(4, false);
        assert_eq!(a.int(4, false), u32_);
        let inner = a.push(CType::Record {
            kind: RecordKind::Union,
            name: None,
            size: Some(4),
            members: vec![Member { name: Some("x".into()), offset: 0, ty: u32_, bits: None }],
        });
        let s = a.push(CType::Record {
            kind: RecordKind::Struct,
            name: Some("s".into()),
            size: Some(24),
            members: vec![
                Member { name: Some("name".into()), offset: 0, ty: arr, bits: None },
                Member { name: None, offset: 16, ty: inner, bits: None },
            ],
        });
        assert_eq!(a.member(s, "x").map(|(o, m)| (o, m.ty)), Some((16, u32_)));
        assert_eq!(a.member(s, "name").map(|(o, _)| o), Some(0));
        assert!(a.member(s, "y").is_none());
        assert_eq!(a.member_names(s), vec!["name", "x"]);
        assert_eq!(a.name(s), "struct s");
        assert_eq!(a.size(TypeArena::VOID), None);
    }
}
