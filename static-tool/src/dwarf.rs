//! Resolver: binds names in invariants to P's variables through P's DWARF (gimli). Indexes
//! globals, function-static variables, struct/union tags and enumerators in one pass; reads
//! types lazily (a type is converted when the type checker first looks at it), so a large
//! program costs only what the policy touches.

use std::collections::HashMap;
use std::rc::Rc;

use gimli::{AttributeValue, EndianRcSlice, RunTimeEndian, UnitOffset};

use crate::ctype::{CType, Member, RecordKind, TypeArena, TypeId};
use crate::diag::ToolError;
use crate::elf::{Elf, SymKind};

type R = EndianRcSlice<RunTimeEndian>;

/// Longest chain of typedefs/qualifiers followed.
const MAX_TYPE_CHAIN: usize = 64;
/// Deepest nesting of anonymous members or arrays the resolver forces.
const MAX_FORCE_DEPTH: usize = 16;

/// Where a variable lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loc {
    Addr(u64),
    Tls,
    Other,
}

#[derive(Clone, Debug)]
struct VarDie {
    unit: usize,
    ty: Option<UnitOffset>,
    addr: u64,
    cu: String,
}

/// A variable of P with a fixed address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    /// Address in P.
    pub addr: u64,
    /// Type.
    pub ty: TypeId,
}

/// What a name lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarLookup {
    /// Exactly one variable.
    Found(Global),
    /// Several file-static variables of that name (their compilation units).
    Ambiguous(Vec<String>),
    /// Only local (stack or register) variables of that name, in these functions.
    Local(Vec<String>),
    /// A thread-local variable.
    ThreadLocal,
    /// No debug information, but an ELF data symbol of that name at this address.
    SymbolOnly(u64),
    /// Nothing of that name.
    NotFound,
}

/// P's program: ELF symbols plus the DWARF index and its types.
pub struct Program {
    /// The ELF file.
    pub elf: Elf,
    dwarf: Option<gimli::Dwarf<R>>,
    units: Vec<gimli::Unit<R>>,
    /// Types read so far, and synthetic ones.
    pub types: TypeArena,
    memo: HashMap<(usize, UnitOffset), TypeId>,
    lazy: HashMap<TypeId, (usize, UnitOffset)>,
    globals: HashMap<String, Vec<VarDie>>,
    statics: HashMap<(String, String), Vec<VarDie>>,
    locals: HashMap<String, Vec<String>>,
    tls: HashMap<String, ()>,
    records: HashMap<(RecordKind, String), (usize, UnitOffset)>,
    enumerators: HashMap<String, i128>,
}

fn gerr(path: &str) -> impl Fn(gimli::Error) -> ToolError + '_ {
    move |error| ToolError::Dwarf { path: path.to_string(), error }
}

impl Program {
    /// Loads `elf`'s DWARF (if any) and indexes it.
    pub fn new(elf: Elf) -> Result<Program, ToolError> {
        let mut p = Self::without_dwarf(elf);
        if p.elf.has_dwarf() {
            p.load_dwarf()?;
        }
        Ok(p)
    }

    /// `elf` with its symbols only (its DWARF, if any, ignored).
    pub fn without_dwarf(elf: Elf) -> Program {
        Program {
            dwarf: None,
            units: Vec::new(),
            types: TypeArena::new(),
            memo: HashMap::new(),
            lazy: HashMap::new(),
            globals: HashMap::new(),
            statics: HashMap::new(),
            locals: HashMap::new(),
            tls: HashMap::new(),
            records: HashMap::new(),
            enumerators: HashMap::new(),
            elf,
        }
    }

    fn load_dwarf(&mut self) -> Result<(), ToolError> {
        let p = self;
        {
            let debug = &p.elf.debug;
            let load = |id: gimli::SectionId| -> Result<R, gimli::Error> {
                let data = debug.get(id.name()).cloned().unwrap_or_else(|| Rc::from(&[][..]));
                Ok(EndianRcSlice::new(data, RunTimeEndian::Little))
            };
            let dwarf = gimli::Dwarf::load(load).map_err(gerr(&p.elf.path))?;
            let mut headers = dwarf.units();
            while let Some(h) = headers.next().map_err(gerr(&p.elf.path))? {
                p.units.push(dwarf.unit(h).map_err(gerr(&p.elf.path))?);
            }
            p.dwarf = Some(dwarf);
            p.index()?;
        }
        Ok(())
    }

    /// True if P has DWARF.
    pub fn has_dwarf(&self) -> bool {
        !self.units.is_empty()
    }

    fn attr_str(&self, unit: usize, v: AttributeValue<R>) -> Option<String> {
        let d = self.dwarf.as_ref()?;
        let u = self.units.get(unit)?;
        let s = d.attr_string(u, v).ok()?;
        Some(String::from_utf8_lossy(s.bytes()).into_owned())
    }

    fn die_name(&self, unit: usize, die: &gimli::DebuggingInformationEntry<R>) -> Option<String> {
        self.attr_str(unit, die.attr_value(gimli::DW_AT_name)?)
    }

    /// Name and type of a DIE, following `DW_AT_specification` / `DW_AT_abstract_origin`
    /// (bounded) within the unit.
    fn name_and_type(
        &self,
        unit: usize,
        die: &gimli::DebuggingInformationEntry<R>,
    ) -> (Option<String>, Option<UnitOffset>) {
        let mut name = self.die_name(unit, die);
        let mut ty = unit_ref(die.attr_value(gimli::DW_AT_type));
        let mut next = unit_ref(die.attr_value(gimli::DW_AT_specification))
            .or_else(|| unit_ref(die.attr_value(gimli::DW_AT_abstract_origin)));
        let mut hops = 0;
        while let (Some(off), true) = (next, hops < 8) {
            hops += 1;
            let Some(d) = self.units.get(unit).and_then(|u| u.entry(off).ok()) else { break };
            if name.is_none() {
                name = self.die_name(unit, &d);
            }
            if ty.is_none() {
                ty = unit_ref(d.attr_value(gimli::DW_AT_type));
            }
            next = unit_ref(d.attr_value(gimli::DW_AT_specification))
                .or_else(|| unit_ref(d.attr_value(gimli::DW_AT_abstract_origin)));
        }
        (name, ty)
    }

    fn location(&self, unit: usize, die: &gimli::DebuggingInformationEntry<R>) -> Option<Loc> {
        let AttributeValue::Exprloc(expr) = die.attr_value(gimli::DW_AT_location)? else {
            return Some(Loc::Other);
        };
        let u = self.units.get(unit)?;
        let d = self.dwarf.as_ref()?;
        let mut ops = expr.operations(u.encoding());
        let mut addr = None;
        let mut count = 0;
        let mut tls = false;
        while let Ok(Some(op)) = ops.next() {
            count += 1;
            match op {
                gimli::Operation::Address { address } => addr = Some(address),
                gimli::Operation::AddressIndex { index } => addr = d.address(u, index).ok(),
                gimli::Operation::TLS => tls = true,
                _ => {}
            }
            if count > 16 {
                break;
            }
        }
        Some(match (tls, addr, count) {
            (true, _, _) => Loc::Tls,
            (false, Some(a), 1) => Loc::Addr(a),
            _ => Loc::Other,
        })
    }

    /// One pass over every DIE of every unit.
    fn index(&mut self) -> Result<(), ToolError> {
        for unit in 0..self.units.len() {
            let cu = {
                let u = &self.units[unit];
                let mut c = u.entries();
                match c.next_dfs() {
                    Ok(Some(root)) => self.die_name(unit, &root.clone()).unwrap_or_else(|| "?".into()),
                    _ => "?".into(),
                }
            };
            // (depth, function name) of the enclosing subprograms.
            let mut scopes: Vec<(isize, String)> = Vec::new();
            let mut cursor = self.units[unit].entries();
            let mut found: Vec<(gimli::DebuggingInformationEntry<R>, Option<String>)> = Vec::new();
            while let Some(die) = cursor.next_dfs().map_err(gerr(&self.elf.path))? {
                let depth = die.depth();
                while scopes.last().is_some_and(|(d, _)| *d >= depth) {
                    scopes.pop();
                }
                let tag = die.tag();
                if tag == gimli::DW_TAG_subprogram {
                    let fname = self.name_and_type(unit, die).0.unwrap_or_else(|| "?".into());
                    scopes.push((depth, fname));
                    continue;
                }
                if matches!(
                    tag,
                    gimli::DW_TAG_variable
                        | gimli::DW_TAG_structure_type
                        | gimli::DW_TAG_union_type
                        | gimli::DW_TAG_enumerator
                ) {
                    found.push((die.clone(), scopes.last().map(|(_, f)| f.clone())));
                }
            }
            for (die, func) in found {
                self.index_die(unit, &cu, &die, func)?;
            }
        }
        Ok(())
    }

    fn index_die(
        &mut self,
        unit: usize,
        cu: &str,
        die: &gimli::DebuggingInformationEntry<R>,
        func: Option<String>,
    ) -> Result<(), ToolError> {
        let tag = die.tag();
        if tag == gimli::DW_TAG_structure_type || tag == gimli::DW_TAG_union_type {
            if die.attr_value(gimli::DW_AT_declaration).is_some() {
                return Ok(());
            }
            if let Some(name) = self.die_name(unit, die) {
                let kind = if tag == gimli::DW_TAG_union_type { RecordKind::Union } else { RecordKind::Struct };
                self.records.entry((kind, name)).or_insert((unit, die.offset()));
            }
            return Ok(());
        }
        if tag == gimli::DW_TAG_enumerator {
            if let (Some(name), Some(v)) = (self.die_name(unit, die), die.attr(gimli::DW_AT_const_value)) {
                let value = match v.value() {
                    AttributeValue::Sdata(s) => i128::from(s),
                    AttributeValue::Udata(u) => i128::from(u),
                    other => match (other.sdata_value(), other.udata_value()) {
                        (_, Some(u)) => i128::from(u),
                        (Some(s), None) => i128::from(s),
                        _ => return Ok(()),
                    },
                };
                self.enumerators.entry(name).or_insert(value);
            }
            return Ok(());
        }
        // Variables.
        if die.attr_value(gimli::DW_AT_declaration).is_some() {
            return Ok(());
        }
        let (Some(name), ty) = self.name_and_type(unit, die) else { return Ok(()) };
        let loc = self.location(unit, die);
        match (loc, func) {
            (Some(Loc::Addr(addr)), None) => {
                let v = VarDie { unit, ty, addr, cu: cu.to_string() };
                let list = self.globals.entry(name).or_default();
                if !list.iter().any(|o| o.addr == addr) {
                    list.push(v);
                }
            }
            (Some(Loc::Addr(addr)), Some(f)) => {
                let v = VarDie { unit, ty, addr, cu: cu.to_string() };
                let list = self.statics.entry((f, name)).or_default();
                if !list.iter().any(|o| o.addr == addr) {
                    list.push(v);
                }
            }
            (Some(Loc::Tls), _) => {
                self.tls.insert(name, ());
            }
            (_, Some(f)) => {
                let list = self.locals.entry(name).or_default();
                if !list.contains(&f) {
                    list.push(f);
                }
            }
            (_, None) => {}
        }
        Ok(())
    }

    fn var(&mut self, v: &VarDie) -> Global {
        let ty = match v.ty {
            Some(off) => self.type_ref(v.unit, off),
            None => TypeArena::VOID,
        };
        Global { addr: v.addr, ty }
    }

    /// Looks up a global or file-static variable.
    pub fn global(&mut self, name: &str) -> VarLookup {
        if let Some(list) = self.globals.get(name).cloned() {
            return match list.as_slice() {
                [one] => VarLookup::Found(self.var(one)),
                many => VarLookup::Ambiguous(many.iter().map(|v| v.cu.clone()).collect()),
            };
        }
        if self.tls.contains_key(name) {
            return VarLookup::ThreadLocal;
        }
        if let Some(fs) = self.locals.get(name) {
            return VarLookup::Local(fs.clone());
        }
        let mut statics: Vec<String> = self.statics.keys().filter(|(_, n)| n == name).map(|(f, _)| f.clone()).collect();
        statics.sort();
        if !statics.is_empty() {
            return VarLookup::Local(statics);
        }
        match self.elf.symbols.get(name) {
            Some(s) if matches!(s.kind, SymKind::Data | SymKind::Other) && s.addr != 0 => VarLookup::SymbolOnly(s.addr),
            Some(s) if s.kind == SymKind::Tls => VarLookup::ThreadLocal,
            _ => VarLookup::NotFound,
        }
    }

    /// Looks up the static variable `name` declared inside function `func`.
    pub fn static_in(&mut self, func: &str, name: &str) -> VarLookup {
        match self.statics.get(&(func.to_string(), name.to_string())).cloned() {
            Some(list) => match list.as_slice() {
                [one] => VarLookup::Found(self.var(one)),
                many => VarLookup::Ambiguous(many.iter().map(|v| v.cu.clone()).collect()),
            },
            None => match self.locals.get(name) {
                Some(fs) if fs.iter().any(|f| f == func) => VarLookup::Local(vec![func.to_string()]),
                _ => VarLookup::NotFound,
            },
        }
    }

    /// True if `func` is a function P's DWARF or symbol table knows.
    pub fn is_function(&self, func: &str) -> bool {
        self.elf.symbols.get(func).is_some_and(|s| s.kind == SymKind::Text)
            || self.statics.keys().any(|(f, _)| f == func)
            || self.locals.values().any(|fs| fs.iter().any(|f| f == func))
    }

    /// The struct or union called `name`.
    pub fn record(&mut self, kind: RecordKind, name: &str) -> Option<TypeId> {
        let (unit, off) = *self.records.get(&(kind, name.to_string()))?;
        Some(self.type_ref(unit, off))
    }

    /// Value of the C enumerator `name`.
    pub fn enumerator(&self, name: &str) -> Option<i128> {
        self.enumerators.get(name).copied()
    }

    /// Address of ELF symbol `name`.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.elf.symbols.get(name).map(|s| s.addr)
    }

    /// Names of all globals (for suggestions).
    pub fn global_names(&self) -> impl Iterator<Item = &str> {
        self.globals.keys().map(String::as_str)
    }

    /// The arena id for the type DIE at `off` (read lazily).
    fn type_ref(&mut self, unit: usize, off: UnitOffset) -> TypeId {
        if let Some(&id) = self.memo.get(&(unit, off)) {
            return id;
        }
        let id = self.types.push(CType::Unknown("<unresolved>".into()));
        self.memo.insert((unit, off), id);
        self.lazy.insert(id, (unit, off));
        id
    }

    /// Makes sure `id` is converted from DWARF; returns its type.
    pub fn ty(&mut self, id: TypeId) -> CType {
        if let Some((unit, off)) = self.lazy.remove(&id) {
            let t = self.convert(unit, off);
            self.types.set(id, t);
        }
        self.types.get(id).clone()
    }

    /// Forces `id` and everything reachable through arrays, pointers (one level) and
    /// anonymous members up to a bounded depth, so arena queries see real types.
    fn force_deep(&mut self, id: TypeId, depth: usize) {
        if depth > MAX_FORCE_DEPTH {
            return;
        }
        match self.ty(id) {
            CType::Array { elem, .. } => self.force_deep(elem, depth + 1),
            CType::Pointer { target } => {
                self.ty(target);
            }
            CType::Record { members, .. } => {
                for m in members {
                    if m.name.is_none() {
                        self.force_deep(m.ty, depth + 1);
                    } else {
                        self.ty(m.ty);
                    }
                }
            }
            _ => {}
        }
    }

    /// Size of `id` in bytes.
    pub fn size_of(&mut self, id: TypeId) -> Option<u64> {
        self.force_deep(id, 0);
        self.types.size(id)
    }

    /// C-like name of `id`.
    pub fn type_name(&mut self, id: TypeId) -> String {
        let mut cur = id;
        for _ in 0..MAX_FORCE_DEPTH {
            match self.ty(cur) {
                CType::Pointer { target } => cur = target,
                CType::Array { elem, .. } => cur = elem,
                _ => break,
            }
        }
        self.types.name(id)
    }

    /// Member `name` of record `rec` (through anonymous members): absolute offset and member.
    pub fn member(&mut self, rec: TypeId, name: &str) -> Option<(u64, Member)> {
        self.force_deep(rec, 0);
        self.types.member(rec, name)
    }

    /// Member names of `rec`, for suggestions.
    pub fn member_names(&mut self, rec: TypeId) -> Vec<String> {
        self.force_deep(rec, 0);
        self.types.member_names(rec)
    }

    /// Converts one type DIE (following typedefs and qualifiers iteratively).
    fn convert(&mut self, unit: usize, start: UnitOffset) -> CType {
        let mut off = start;
        let mut alias: Option<String> = None;
        for _ in 0..MAX_TYPE_CHAIN {
            let Some(die) = self.units.get(unit).and_then(|u| u.entry(off).ok()) else {
                return CType::Unknown("<bad DWARF reference>".into());
            };
            let name = self.die_name(unit, &die);
            let size = die.attr(gimli::DW_AT_byte_size).and_then(|a| a.udata_value());
            let target = unit_ref(die.attr_value(gimli::DW_AT_type));
            match die.tag() {
                gimli::DW_TAG_typedef
                | gimli::DW_TAG_const_type
                | gimli::DW_TAG_volatile_type
                | gimli::DW_TAG_restrict_type
                | gimli::DW_TAG_atomic_type => {
                    if die.tag() == gimli::DW_TAG_typedef && alias.is_none() {
                        alias = name;
                    }
                    match target {
                        Some(t) => off = t,
                        None => return CType::Void,
                    }
                }
                gimli::DW_TAG_base_type => {
                    let enc = match die.attr_value(gimli::DW_AT_encoding) {
                        Some(AttributeValue::Encoding(e)) => e,
                        _ => gimli::DW_ATE_signed,
                    };
                    let name = name.unwrap_or_else(|| "?".into());
                    let size = size.unwrap_or(0);
                    return match enc {
                        gimli::DW_ATE_float | gimli::DW_ATE_complex_float => CType::Float { name, size },
                        gimli::DW_ATE_boolean => CType::Int { name, size, signed: false, boolean: true },
                        gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => {
                            CType::Int { name, size, signed: true, boolean: false }
                        }
                        gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char | gimli::DW_ATE_UTF => {
                            CType::Int { name, size, signed: false, boolean: false }
                        }
                        _ => CType::Unknown(name),
                    };
                }
                gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => {
                    let target = match target {
                        Some(t) => self.type_ref(unit, t),
                        None => TypeArena::VOID,
                    };
                    return CType::Pointer { target };
                }
                gimli::DW_TAG_enumeration_type => {
                    let signed = target.is_some_and(|t| self.underlying_signed(unit, t));
                    return CType::Enum { name: name.or(alias), size: size.unwrap_or(4), signed };
                }
                gimli::DW_TAG_subroutine_type => return CType::Function,
                gimli::DW_TAG_array_type => return self.convert_array(unit, &die, target),
                gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type | gimli::DW_TAG_class_type => {
                    let kind =
                        if die.tag() == gimli::DW_TAG_union_type { RecordKind::Union } else { RecordKind::Struct };
                    let declaration = die.attr_value(gimli::DW_AT_declaration).is_some();
                    // A declaration: use the definition of the same tag if P has one.
                    if declaration {
                        if let Some(n) = &name {
                            if let Some(&(u2, o2)) = self.records.get(&(kind, n.clone())) {
                                if (u2, o2) != (unit, off) {
                                    return self.convert(u2, o2);
                                }
                            }
                        }
                        return CType::Record { kind, name: name.or(alias), size: None, members: Vec::new() };
                    }
                    let members = self.convert_members(unit, off);
                    return CType::Record { kind, name: name.or(alias), size, members };
                }
                _ => return CType::Unknown(name.unwrap_or_else(|| format!("<{}>", die.tag()))),
            }
        }
        CType::Unknown("<typedef chain too long>".into())
    }

    /// Signedness of an enum's underlying type: follows typedefs and qualifiers to a base
    /// type without recursing.
    fn underlying_signed(&self, unit: usize, mut off: UnitOffset) -> bool {
        for _ in 0..MAX_TYPE_CHAIN {
            let Some(die) = self.units.get(unit).and_then(|u| u.entry(off).ok()) else { return false };
            if die.tag() == gimli::DW_TAG_base_type {
                return matches!(
                    die.attr_value(gimli::DW_AT_encoding),
                    Some(AttributeValue::Encoding(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char))
                );
            }
            match unit_ref(die.attr_value(gimli::DW_AT_type)) {
                Some(t) => off = t,
                None => return false,
            }
        }
        false
    }

    fn convert_array(
        &mut self,
        unit: usize,
        die: &gimli::DebuggingInformationEntry<R>,
        target: Option<UnitOffset>,
    ) -> CType {
        let elem = match target {
            Some(t) => self.type_ref(unit, t),
            None => return CType::Unknown("<array without element type>".into()),
        };
        // One count per subrange child; `int a[2][3]` is an array of 2 arrays of 3.
        let mut counts: Vec<Option<u64>> = Vec::new();
        if let Some(u) = self.units.get(unit) {
            if let Ok(mut tree) = u.entries_tree(Some(die.offset())) {
                if let Ok(root) = tree.root() {
                    let mut children = root.children();
                    while let Ok(Some(child)) = children.next() {
                        let e = child.entry();
                        if e.tag() != gimli::DW_TAG_subrange_type {
                            continue;
                        }
                        let count = if let Some(c) = e.attr(gimli::DW_AT_count).and_then(|a| a.udata_value()) {
                            Some(c)
                        } else {
                            e.attr(gimli::DW_AT_upper_bound).and_then(|a| a.udata_value()).map(|ub| ub.wrapping_add(1))
                        };
                        counts.push(count);
                        if counts.len() > MAX_FORCE_DEPTH {
                            break;
                        }
                    }
                }
            }
        }
        if counts.is_empty() {
            counts.push(None);
        }
        // Build inner dimensions as synthetic arrays, outermost returned.
        let mut inner = elem;
        for &c in counts.iter().skip(1).rev() {
            inner = self.types.push(CType::Array { elem: inner, count: c });
        }
        CType::Array { elem: inner, count: counts[0] }
    }

    fn convert_members(&mut self, unit: usize, off: UnitOffset) -> Vec<Member> {
        let mut out = Vec::new();
        let mut raw: Vec<gimli::DebuggingInformationEntry<R>> = Vec::new();
        if let Some(u) = self.units.get(unit) {
            if let Ok(mut tree) = u.entries_tree(Some(off)) {
                if let Ok(root) = tree.root() {
                    let mut children = root.children();
                    while let Ok(Some(child)) = children.next() {
                        if child.entry().tag() == gimli::DW_TAG_member {
                            raw.push(child.entry().clone());
                        }
                    }
                }
            }
        }
        for m in raw {
            let name = self.die_name(unit, &m);
            let ty = match unit_ref(m.attr_value(gimli::DW_AT_type)) {
                Some(t) => self.type_ref(unit, t),
                None => TypeArena::VOID,
            };
            let offset = match m.attr_value(gimli::DW_AT_data_member_location) {
                Some(v) => member_offset(&v).unwrap_or(0),
                None => 0,
            };
            let bit_size = m.attr(gimli::DW_AT_bit_size).and_then(|a| a.udata_value());
            let bits = bit_size.map(|size| {
                let data_bit = m.attr(gimli::DW_AT_data_bit_offset).and_then(|a| a.udata_value()).unwrap_or(0);
                (data_bit, size)
            });
            // DWARF 4+ bit-fields give DW_AT_data_bit_offset from the start of the struct.
            let (offset, bits) = match bits {
                Some((data_bit, size)) if m.attr_value(gimli::DW_AT_data_member_location).is_none() => {
                    (data_bit / 8, Some((data_bit % 8, size)))
                }
                other => (offset, other),
            };
            out.push(Member { name, offset, ty, bits });
        }
        out
    }
}

fn unit_ref(v: Option<AttributeValue<R>>) -> Option<UnitOffset> {
    match v? {
        AttributeValue::UnitRef(o) => Some(o),
        _ => None,
    }
}

fn member_offset(v: &AttributeValue<R>) -> Option<u64> {
    if let Some(u) = v.udata_value() {
        return Some(u);
    }
    // DWARF 2 style: DW_OP_plus_uconst N.
    if let AttributeValue::Exprloc(e) = v {
        let mut ops =
            e.clone().operations(gimli::Encoding { format: gimli::Format::Dwarf32, version: 2, address_size: 8 });
        if let Ok(Some(gimli::Operation::PlusConstant { value })) = ops.next() {
            return Some(value);
        }
    }
    None
}
