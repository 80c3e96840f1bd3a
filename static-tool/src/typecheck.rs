//! Type checker: resolves every name of an invariant source (constants, P's variables through
//! the resolver, system-call arguments, registers), checks types, folds constants and produces
//! the checked policy ([`PolicyIr`]).
//!
//! Values are 64-bit in the bytecode. A C value narrower than that is extended by its C type
//! when it is read, so after that only three things matter: signed or unsigned integer, pointer
//! (with its pointee, for `*`, `->`, `[]` and pointer arithmetic) or boolean. Untyped literals
//! take the signedness of the other operand. Mixing signed and unsigned non-literals in a
//! comparison, division or shift is an error (cast one side); arithmetic wraps at 64 bits.

use std::collections::{BTreeSet, HashMap};

use crate::ast::{self, BaseType, CallId, CallName, Expr, ExprKind, Item, PolicyOpt, RuleBody, Stmt, TypeName, UnOp};
use crate::charclass;
use crate::classes::{self, ArgKind, Class, Member, Src, SwRule};
use crate::ctype::{CType, RecordKind, TypeArena, TypeId};
use crate::diag::{Diag, Span};
use crate::dwarf::{Program, VarLookup};
use crate::ir::{AutomatonIr, InvBody, InvariantIr, Ir, PolicyIr, RuleAct, RuleIr};
use crate::lexer;
use crate::sysargs::{self, ArgTy};
use semguard_core::policy::format::CLASS_LEN;
use semguard_core::policy::op::{Width, MAX_MATCH_LEN, MAX_STRLEN};
use semguard_core::policy::verify::MAX_INVARIANT_COST;
use semguard_core::policy::BinOp as Op;
use semguard_core::regs::Reg;
use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

/// Longest invariant name kept (longer source text is cut).
pub const MAX_NAME: usize = 120;

/// Scalar kind of an rvalue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sc {
    Int { signed: bool },
    Bool,
    Ptr(TypeId),
}

/// A checked sub-expression.
#[derive(Clone, Debug)]
enum Val {
    /// An untyped integer constant.
    Lit(i128),
    /// A runtime (or typed constant) value.
    R { ir: Ir, sc: Sc, ty: Option<TypeId> },
    /// An object in P's memory.
    L { addr: Ir, ty: TypeId, what: String },
    /// `"…"`.
    Str(Vec<u8>),
    /// `b"…"`.
    Bytes(Vec<u8>),
    /// `{…}` of constants.
    Set(Vec<i128>),
}

/// A value as code: its IR, scalar kind (`None` for an untyped literal), C type if known,
/// and the literal's value if it is one.
type RValue = (Ir, Option<Sc>, Option<TypeId>, Option<i128>);

/// The rule an expression is checked in.
struct RuleCtx {
    calls: Vec<(Abi, u32, Option<&'static str>)>,
    /// In a class rule: the class and the member the statement is being checked for.
    class: Option<(&'static Class, &'static Member, Abi)>,
}

struct Checker<'p> {
    prog: &'p mut Program,
    src: &'p str,
    consts: HashMap<String, Val>,
    errors: Vec<Diag>,
    warnings: Vec<Diag>,
    /// ABIs whose calls the policy does not refuse wholesale through `other_abis deny`:
    /// x86-64, and ia32/x32 when the policy has rules for them or `other_abis allow`. Class
    /// rules and `single_writer` expand to these ABIs' numbers.
    live: Vec<Abi>,
    /// `single_writer;` was given (where).
    single_writer: Option<Span>,
    /// `default allow|deny` (where), for the lints' positions.
    default_span: Option<Span>,
    /// Calls a rule other than a class rule constrains (assert, from, deny): where first.
    constrained: Vec<(Abi, u32, Span)>,
    /// Site rules naming one call that are not a deny, for [`crate::deny_final`].
    explicit_sites: Vec<crate::deny_final::ExplicitSiteRule>,
}

/// A checked policy and the warnings found on the way (the policy is still written).
#[derive(Debug)]
pub struct Checked {
    /// The policy.
    pub policy: PolicyIr,
    /// Lints: `file:line:col: warning: …`.
    pub warnings: Vec<Diag>,
}

type Res<T> = Result<T, Diag>;

fn err<T>(span: Span, msg: impl Into<String>) -> Res<T> {
    Err(Diag::new(span, msg))
}

/// Checks `file` against P's program; returns the checked policy with its warnings, or every
/// error found (at most one per statement).
pub fn check<'p>(file: &ast::File, src: &'p str, prog: &'p mut Program) -> Result<Checked, Vec<Diag>> {
    let mut c = Checker {
        prog,
        src,
        consts: HashMap::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        live: vec![Abi::X86_64],
        single_writer: None,
        default_span: None,
        constrained: Vec::new(),
        explicit_sites: Vec::new(),
    };
    let out = c.file(file, src);
    if c.errors.is_empty() {
        Ok(Checked { policy: out, warnings: c.warnings })
    } else {
        Err(c.errors)
    }
}

/// True if `ir` reads P's memory (a load, a string or bytes comparison, a length, a string
/// scan).
pub fn reads_memory(ir: &Ir) -> bool {
    match ir {
        Ir::Load { .. }
        | Ir::StrEq(..)
        | Ir::StrPrefix(..)
        | Ir::BytesEq(..)
        | Ir::Strlen(..)
        | Ir::StrContains(..)
        | Ir::StrSuffix(..)
        | Ir::StrClass(..) => true,
        Ir::Const(_) | Ir::ImageAddr(_) | Ir::Nr | Ir::Abi | Ir::Rip | Ir::Reg(_) | Ir::Arg(_) => false,
        Ir::Neg(e) | Ir::Inv(e) | Ir::LNot(e) | Ir::Ext { e, .. } | Ir::InSet(e, _) => reads_memory(e),
        Ir::Bin(_, a, b) | Ir::And(a, b) | Ir::Or(a, b) => reads_memory(a) || reads_memory(b),
    }
}

/// True if `ir` uses argument `i`.
fn uses_arg(ir: &Ir, i: u8) -> bool {
    match ir {
        Ir::Arg(j) => *j == i,
        Ir::Const(_) | Ir::ImageAddr(_) | Ir::Nr | Ir::Abi | Ir::Rip | Ir::Reg(_) => false,
        Ir::Load { addr: e, .. }
        | Ir::StrEq(e, _)
        | Ir::StrPrefix(e, _)
        | Ir::BytesEq(e, _)
        | Ir::Strlen(e, _)
        | Ir::StrContains(e, ..)
        | Ir::StrSuffix(e, ..)
        | Ir::StrClass(e, ..)
        | Ir::Neg(e)
        | Ir::Inv(e)
        | Ir::LNot(e)
        | Ir::Ext { e, .. }
        | Ir::InSet(e, _) => uses_arg(e, i),
        Ir::Bin(_, a, b) | Ir::And(a, b) | Ir::Or(a, b) => uses_arg(a, i) || uses_arg(b, i),
    }
}

/// The invariants of `p` whose check reads P's memory, so another writer could change what
/// they saw before the kernel reads it: loads, strings, and (ia32 rules) `$arg5`, which a
/// `sysenter` call passes on P's stack.
pub fn memory_invariants(p: &PolicyIr) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for (i, inv) in p.invariants.iter().enumerate() {
        let InvBody::Expr(ir) = &inv.body else { continue };
        let ia32 = p.rules.iter().any(|r| r.abi == Abi::Ia32 && r.act == RuleAct::Check(i));
        if reads_memory(ir) || (ia32 && uses_arg(ir, 5)) {
            out.push(i);
        }
    }
    out
}

/// FNV-1a 32 of the source: the default policy id (stable for the same source).
pub fn default_policy_id(src: &str) -> u32 {
    src.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

fn lit_to_u64(v: i128) -> u64 {
    if v < 0 {
        (v as i64) as u64
    } else {
        v as u64
    }
}

fn in_range(v: i128) -> bool {
    v >= i128::from(i64::MIN) && v <= i128::from(u64::MAX)
}

fn width_of(size: u64) -> Option<Width> {
    Some(match size {
        1 => Width::W8,
        2 => Width::W16,
        4 => Width::W32,
        8 => Width::W64,
        _ => return None,
    })
}

/// Edit distance, for "did you mean" (inputs are short names).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let v = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let best = candidates.map(|c| (distance(name, c), c)).filter(|(d, _)| *d <= 2.max(name.len() / 3)).min();
    match best {
        Some((_, c)) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// The source text of an expression with whitespace collapsed, cut to [`MAX_NAME`].
fn text_of(src: &str, span: Span) -> String {
    let raw = src.get(span.start..span.end).unwrap_or("");
    let mut s: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    s.retain(|c| !c.is_control());
    if s.chars().count() > MAX_NAME {
        s = s.chars().take(MAX_NAME - 1).collect::<String>() + "…";
    }
    s
}

impl Checker<'_> {
    fn file(&mut self, file: &ast::File, src: &str) -> PolicyIr {
        let mut out = PolicyIr {
            id: default_policy_id(src),
            default_deny: false,
            deny_other_abis: true,
            invariants: Vec::new(),
            rules: Vec::new(),
            automaton: None,
        };
        let mut seen_policy = false;
        let mut seen_trace = false;
        let other_abis_allow = file.items.iter().any(|i| match i {
            Item::Policy(opts) => opts.iter().any(|o| matches!(o, PolicyOpt::OtherAbis(true, _))),
            _ => false,
        });
        for abi in [Abi::Ia32, Abi::X32] {
            let named = file.items.iter().any(|i| match i {
                Item::Rule(r) => r.calls.iter().any(|c| c.abi == abi),
                _ => false,
            });
            if named || other_abis_allow {
                self.live.push(abi);
            }
        }
        for item in &file.items {
            let r = match item {
                Item::Policy(opts) => {
                    let first = !seen_policy;
                    seen_policy = true;
                    self.policy(opts, first, &mut out)
                }
                Item::Const(c) => self.const_def(c),
                Item::Rule(r) => self.rule(r, src, &mut out),
                Item::Trace(t) => {
                    if seen_trace {
                        err(t.span, "only one `trace` automaton is allowed")
                    } else {
                        seen_trace = true;
                        self.trace(t).map(|a| out.automaton = Some(a))
                    }
                }
            };
            if let Err(e) = r {
                self.errors.push(e);
            }
        }
        if out.deny_other_abis && self.errors.is_empty() {
            for abi in [Abi::X86_64, Abi::Ia32, Abi::X32] {
                let in_trace = out.automaton.as_ref().is_some_and(|a| a.transitions.iter().any(|t| t.1 == abi));
                if out.rules.iter().any(|r| r.abi == abi) || !(in_trace || (abi == Abi::X86_64 && out.rules.is_empty()))
                {
                    continue;
                }
                self.errors.push(Diag::new(
                    Span::default(),
                    format!(
                        "no rule names a {} system call, so `other_abis deny` (the default) would deny every {} call; add rules or write `policy {{ other_abis allow; }}`",
                        abi_name(abi),
                        abi_name(abi)
                    ),
                ));
            }
        }
        if self.errors.is_empty() {
            if self.single_writer.is_some() {
                self.expand_single_writer(&mut out);
            }
            // After single_writer: its denies are final too.
            let w = crate::deny_final::apply(&mut out, &self.explicit_sites);
            self.warnings.extend(w);
            if !out.default_deny {
                self.lint_default_allow(&out);
            }
        }
        out
    }

    /// `policy { single_writer; }`: the rules of [`classes::single_writer_rules`] for every
    /// live ABI. They must hold wherever the call is allowed: an `at SITE` rule replaces the
    /// any-site rules at that site, so the invariant is added to every site rule of the call
    /// too. It is added to the any-site rules when the call has some, or when `default
    /// allow` would let it through; with `default deny` and no any-site rule, calls from
    /// other sites are already refused and an any-site rule would only let them in.
    fn expand_single_writer(&mut self, out: &mut PolicyIr) {
        let span = self.single_writer.unwrap_or_default();
        for abi in self.live.clone() {
            for (call, rule) in classes::single_writer_rules(abi) {
                let Some(nr) = syscall_names::number(abi, call) else { continue };
                let (name, body) = match rule {
                    SwRule::Deny(name) => (name.to_string(), InvBody::Deny),
                    SwRule::MaskClear { arg, mask, name } => {
                        let masked = Ir::Bin(Op::And, Box::new(Ir::Arg(arg)), Box::new(Ir::Const(mask)));
                        (name.to_string(), InvBody::Expr(Ir::Bin(Op::Eq, Box::new(masked), Box::new(Ir::Const(0)))))
                    }
                    SwRule::NotSharedMap { arg } => {
                        // The mapping type, `flags & MAP_TYPE`, is not MAP_SHARED (1) or
                        // MAP_SHARED_VALIDATE (3).
                        let ty = Box::new(Ir::Bin(Op::And, Box::new(Ir::Arg(arg)), Box::new(Ir::Const(0xf))));
                        (
                            format!("single_writer: {call} without MAP_SHARED or MAP_SHARED_VALIDATE"),
                            InvBody::Expr(Ir::LNot(Box::new(Ir::InSet(ty, vec![1, 3])))),
                        )
                    }
                    SwRule::NotShmat => {
                        let call_no = Box::new(Ir::Bin(Op::And, Box::new(Ir::Arg(0)), Box::new(Ir::Const(0xffff))));
                        (
                            "single_writer: ipc without SHMAT".to_string(),
                            InvBody::Expr(Ir::Bin(Op::Ne, call_no, Box::new(Ir::Const(21)))),
                        )
                    }
                };
                let mut slots: BTreeSet<Option<u64>> =
                    out.rules.iter().filter(|r| r.abi == abi && r.nr == nr).map(|r| r.site).collect();
                if !out.default_deny || matches!(body, InvBody::Deny) {
                    slots.insert(None);
                }
                if slots.is_empty() {
                    continue;
                }
                let inv = self.add_inv(out, name, body, span);
                for site in slots {
                    out.rules.push(RuleIr { abi, nr, site, act: RuleAct::Check(inv) });
                }
            }
        }
    }

    /// Warnings for `default allow` policies: a class member constrained while another is
    /// left to the default; io_uring and AIO not denied.
    fn lint_default_allow(&mut self, out: &PolicyIr) {
        let at = self.default_span.unwrap_or_default();
        let ruled = |abi: Abi, nr: u32| out.rules.iter().any(|r| r.abi == abi && r.nr == nr);
        for class in classes::CLASSES {
            for abi in self.live.clone() {
                let members: Vec<(u32, &str)> = classes::members(class, abi).map(|(nr, m)| (nr, m.call)).collect();
                let Some(&(_, _, span)) =
                    self.constrained.iter().find(|c| c.0 == abi && members.iter().any(|m| m.0 == c.1))
                else {
                    continue;
                };
                let mut seen = BTreeSet::new();
                let constrained: Vec<String> = members
                    .iter()
                    .filter(|m| self.constrained.iter().any(|c| c.0 == abi && c.1 == m.0))
                    .filter(|m| seen.insert(m.1))
                    .map(|m| crate::infer::emit::call_text(abi, nr_of(abi, m.1)))
                    .collect();
                let uncovered: Vec<String> = members
                    .iter()
                    .filter(|m| !ruled(abi, m.0))
                    .filter(|m| seen.insert(m.1))
                    .map(|m| crate::infer::emit::call_text(abi, nr_of(abi, m.1)))
                    .collect();
                if uncovered.is_empty() {
                    continue;
                }
                let verb = if constrained.len() == 1 { "is" } else { "are" };
                self.warnings.push(Diag::new(
                    span,
                    format!(
                        "{} {verb} constrained but {} {} not (default allow lets them through); use `syscall class {}`",
                        constrained.join(", "),
                        uncovered.join(", "),
                        if uncovered.len() == 1 { "is" } else { "are" },
                        class.name
                    ),
                ));
            }
        }
        for abi in self.live.clone() {
            let open: Vec<String> = classes::ASYNC_IO
                .iter()
                .filter_map(|c| Some((syscall_names::number(abi, c)?, *c)))
                .filter(|&(nr, _)| {
                    !out.rules.iter().any(|r| {
                        r.abi == abi
                            && r.nr == nr
                            && r.site.is_none()
                            && matches!(r.act, RuleAct::Check(i) if out.invariants[i].body == InvBody::Deny)
                    })
                })
                .map(|(nr, _)| crate::infer::emit::call_text(abi, nr))
                .collect();
            if !open.is_empty() {
                self.warnings.push(Diag::new(
                    at,
                    format!(
                        "io_uring and AIO perform reads and writes without a system call per operation; a default-allow policy should deny them: `syscall {} deny;`",
                        open.join(", ")
                    ),
                ));
            }
        }
    }

    fn policy(&mut self, opts: &[PolicyOpt], first: bool, out: &mut PolicyIr) -> Res<()> {
        let mut seen = [false; 4];
        for opt in opts {
            let (slot, span, name) = match opt {
                PolicyOpt::Id(e) => (0, e.span, "id"),
                PolicyOpt::Default(_, s) => (1, *s, "default"),
                PolicyOpt::OtherAbis(_, s) => (2, *s, "other_abis"),
                PolicyOpt::SingleWriter(s) => (3, *s, "single_writer"),
            };
            if !first {
                return err(span, "only one `policy` block is allowed");
            }
            if std::mem::replace(&mut seen[slot], true) {
                return err(span, format!("policy option `{name}` given twice"));
            }
            match opt {
                PolicyOpt::Id(e) => {
                    let v = self.const_int(e)?;
                    out.id = u32::try_from(v)
                        .map_err(|_| Diag::new(e.span, format!("policy id {v} does not fit in 32 bits")))?;
                }
                PolicyOpt::Default(allow, s) => {
                    out.default_deny = !allow;
                    self.default_span = Some(*s);
                }
                PolicyOpt::OtherAbis(allow, _) => out.deny_other_abis = !allow,
                PolicyOpt::SingleWriter(s) => self.single_writer = Some(*s),
            }
        }
        Ok(())
    }

    fn const_def(&mut self, c: &ast::ConstDef) -> Res<()> {
        if self.consts.contains_key(&c.name.name) {
            return err(c.name.span, format!("constant `{}` defined twice", c.name.name));
        }
        let v = self.expr(&c.value, None)?;
        let ok = match &v {
            Val::Lit(_) | Val::Str(_) | Val::Bytes(_) | Val::Set(_) => true,
            Val::R { ir, .. } => ir.as_const().is_some(),
            Val::L { .. } => false,
        };
        if !ok {
            return err(
                c.value.span,
                "a constant must be computable at compile time (literals, `sizeof`, `&variable`, other constants)",
            );
        }
        self.consts.insert(c.name.name.clone(), v);
        Ok(())
    }

    /// The address `a` of something in P's image, as linked: a constant, or for a
    /// position-independent P an offset the load base is added to at run time.
    fn image_addr(&self, a: u64) -> Ir {
        if self.prog.elf.position_independent {
            Ir::ImageAddr(a)
        } else {
            Ir::Const(a)
        }
    }

    fn const_int(&mut self, e: &Expr) -> Res<u64> {
        match self.expr(e, None)? {
            Val::Lit(v) if v >= 0 => Ok(v as u64),
            Val::R { ir: Ir::Const(v), sc: Sc::Ptr(_) | Sc::Int { signed: false }, .. } => Ok(v),
            _ => err(e.span, "expected a non-negative constant"),
        }
    }

    /// Constant sites: a number, a pointer constant (`&func + 4`) or a set.
    fn sites(&mut self, e: &Expr, out: &mut Vec<u64>) -> Res<()> {
        match self.expr(e, None)? {
            Val::Set(vs) => {
                for v in vs {
                    if !(0..=i128::from(u64::MAX)).contains(&v) {
                        return err(e.span, format!("call site {v} is not an address"));
                    }
                    out.push(v as u64);
                }
                Ok(())
            }
            Val::Lit(v) if (0..=i128::from(u64::MAX)).contains(&v) => {
                out.push(v as u64);
                Ok(())
            }
            // A position-independent P's sites are offsets from its load base, as linked.
            Val::R { ir: Ir::Const(v) | Ir::ImageAddr(v), sc: Sc::Ptr(_) | Sc::Int { signed: false }, .. } => {
                out.push(v);
                Ok(())
            }
            _ => err(e.span, "expected a call-site address: a constant, `&function + offset` or a set of them"),
        }
    }

    fn call_name(&mut self, c: &CallName) -> Res<(Abi, u32, Option<&'static str>)> {
        match &c.id {
            CallId::Name(n) => match syscall_names::number(c.abi, n) {
                Some(nr) => Ok((c.abi, nr, syscall_names::name(c.abi, nr))),
                None => {
                    let cands: Vec<&str> = syscall_names::entries(c.abi).map(|(_, n)| n).collect();
                    err(
                        c.span,
                        format!("unknown system call `{n}` for {}{}", abi_name(c.abi), suggest(n, cands.into_iter())),
                    )
                }
            },
            CallId::Number(v) => {
                let nr = u32::try_from(*v)
                    .map_err(|_| Diag::new(c.span, format!("system-call number {v} does not fit in 32 bits")))?;
                Ok((c.abi, nr, syscall_names::name(c.abi, nr)))
            }
        }
    }

    fn rule(&mut self, r: &ast::Rule, src: &str, out: &mut PolicyIr) -> Res<()> {
        if let Some(class) = &r.class {
            return self.class_rule(r, class, src, out);
        }
        let mut calls = Vec::new();
        for c in &r.calls {
            calls.push(self.call_name(c)?);
        }
        let sites = self.rule_sites(r.site.as_ref())?;
        let prefix = r.calls.iter().map(|c| text_of(src, c.span)).collect::<Vec<_>>().join(",");
        if let ([(abi, nr, _)], Some(_), false) = (calls.as_slice(), &r.site, matches!(r.body, RuleBody::Deny)) {
            self.explicit_sites.push(crate::deny_final::ExplicitSiteRule {
                abi: *abi,
                nr: *nr,
                span: r.span,
                call: prefix.clone(),
            });
        }
        let ctx = RuleCtx { calls: calls.clone(), class: None };
        let mut inv_indexes: Vec<Option<usize>> = Vec::new();
        match &r.body {
            RuleBody::Allow => inv_indexes.push(None),
            RuleBody::Deny => {
                inv_indexes.push(Some(self.add_inv(out, format!("{prefix}: deny"), InvBody::Deny, r.span)));
            }
            RuleBody::Block(stmts) if stmts.is_empty() => inv_indexes.push(None),
            RuleBody::Block(stmts) => {
                for st in stmts {
                    match self.stmt(st, &ctx, src, &prefix) {
                        Ok((name, body, span)) => inv_indexes.push(Some(self.add_inv(out, name, body, span))),
                        Err(e) => self.errors.push(e),
                    }
                }
            }
        }
        if inv_indexes.iter().any(Option::is_some) {
            for &(abi, nr, _) in &calls {
                if !self.constrained.iter().any(|c| (c.0, c.1) == (abi, nr)) {
                    self.constrained.push((abi, nr, r.span));
                }
            }
        }
        for &(abi, nr, _) in &calls {
            for &site in &sites {
                for inv in &inv_indexes {
                    let act = match inv {
                        Some(i) => RuleAct::Check(*i),
                        None => RuleAct::Allow,
                    };
                    out.rules.push(RuleIr { abi, nr, site, act });
                }
            }
        }
        Ok(())
    }

    /// The sites of an `at` clause (`[None]` without one).
    fn rule_sites(&mut self, site: Option<&Expr>) -> Res<Vec<Option<u64>>> {
        let Some(s) = site else { return Ok(vec![None]) };
        let mut v = Vec::new();
        self.sites(s, &mut v)?;
        v.sort_unstable();
        v.dedup();
        if v.is_empty() {
            return err(s.span, "`at` needs at least one call site");
        }
        Ok(v.into_iter().map(Some).collect())
    }

    /// `syscall class NAME [at SITES] BODY`: the body for every member of the class in every
    /// live ABI. An assert is checked once per member (class arguments map to the member's
    /// own arguments); members whose code comes out the same share one invariant. Every
    /// invariant is named `NAME: …`.
    fn class_rule(&mut self, r: &ast::Rule, name: &ast::Ident, src: &str, out: &mut PolicyIr) -> Res<()> {
        let Some(class) = classes::find(&name.name) else {
            let names = classes::CLASSES.iter().map(|c| c.name);
            return err(
                name.span,
                format!(
                    "unknown system-call class `{}`{}; the classes are {}",
                    name.name,
                    suggest(&name.name, names.clone()),
                    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            );
        };
        let sites = self.rule_sites(r.site.as_ref())?;
        let members: Vec<(Abi, u32, &'static Member)> = self
            .live
            .clone()
            .into_iter()
            .flat_map(|abi| classes::members(class, abi).map(move |(nr, m)| (abi, nr, m)))
            .collect();
        // Per member, the invariants its rules check (`None`: allowed).
        let mut per_member: Vec<Vec<Option<usize>>> = vec![Vec::new(); members.len()];
        let prefix = class.name;
        match &r.body {
            RuleBody::Allow => per_member.iter_mut().for_each(|v| v.push(None)),
            RuleBody::Block(stmts) if stmts.is_empty() => per_member.iter_mut().for_each(|v| v.push(None)),
            RuleBody::Deny => {
                let i = self.add_inv(out, format!("{prefix}: deny"), InvBody::Deny, r.span);
                per_member.iter_mut().for_each(|v| v.push(Some(i)));
            }
            RuleBody::Block(stmts) => {
                for st in stmts {
                    if let Stmt::From { .. } = st {
                        // The same for every member.
                        let ctx = RuleCtx { calls: Vec::new(), class: None };
                        match self.stmt(st, &ctx, src, prefix) {
                            Ok((n, body, span)) => {
                                let i = self.add_inv(out, n, body, span);
                                per_member.iter_mut().for_each(|v| v.push(Some(i)));
                            }
                            Err(e) => self.errors.push(e),
                        }
                        continue;
                    }
                    let mut done: Vec<(InvBody, usize)> = Vec::new();
                    for (k, &(abi, nr, m)) in members.iter().enumerate() {
                        let ctx = RuleCtx {
                            calls: vec![(abi, nr, syscall_names::name(abi, nr))],
                            class: Some((class, m, abi)),
                        };
                        match self.stmt(st, &ctx, src, prefix) {
                            Ok((n, body, span)) => {
                                let i = match done.iter().find(|d| d.0 == body) {
                                    Some(d) => d.1,
                                    None => {
                                        let i = self.add_inv(out, n, body.clone(), span);
                                        done.push((body, i));
                                        i
                                    }
                                };
                                per_member[k].push(Some(i));
                            }
                            Err(mut e) => {
                                if k > 0 {
                                    e.msg = format!(
                                        "for `{}` (member of class `{}`): {}",
                                        crate::infer::emit::call_text(abi, nr),
                                        class.name,
                                        e.msg
                                    );
                                }
                                self.errors.push(e);
                                break;
                            }
                        }
                    }
                }
            }
        }
        for (k, &(abi, nr, _)) in members.iter().enumerate() {
            for &site in &sites {
                for inv in &per_member[k] {
                    let act = match inv {
                        Some(i) => RuleAct::Check(*i),
                        None => RuleAct::Allow,
                    };
                    out.rules.push(RuleIr { abi, nr, site, act });
                }
            }
        }
        Ok(())
    }

    fn add_inv(&mut self, out: &mut PolicyIr, name: String, body: InvBody, span: Span) -> usize {
        let id = out.invariants.len() as u32 + 1;
        out.invariants.push(InvariantIr { id, name, body, span });
        out.invariants.len() - 1
    }

    fn stmt(&mut self, st: &Stmt, ctx: &RuleCtx, src: &str, prefix: &str) -> Res<(String, InvBody, Span)> {
        match st {
            Stmt::From { sites, span } => {
                let mut v = Vec::new();
                for s in sites {
                    self.sites(s, &mut v)?;
                }
                v.sort_unstable();
                v.dedup();
                Ok((format!("{prefix}: from"), InvBody::Sites(v), *span))
            }
            Stmt::Assert { label, expr, span } => {
                let v = self.expr(expr, Some(ctx))?;
                let ir = self.condition(v, expr.span)?;
                let what = match label {
                    Some(l) => l.name.clone(),
                    None => text_of(src, expr.span),
                };
                let mut name = format!("{prefix}: {what}");
                if name.chars().count() > MAX_NAME {
                    name = name.chars().take(MAX_NAME - 1).collect::<String>() + "…";
                }
                Ok((name, InvBody::Expr(ir), *span))
            }
        }
    }

    fn trace(&mut self, t: &ast::Trace) -> Res<AutomatonIr> {
        let mut states: Vec<String> = vec![t.initial.name.clone()];
        let index = |n: &str, states: &mut Vec<String>| -> u32 {
            match states.iter().position(|s| s == n) {
                Some(i) => i as u32,
                None => {
                    states.push(n.to_string());
                    (states.len() - 1) as u32
                }
            }
        };
        let mut transitions: Vec<(u32, Abi, u32, u32)> = Vec::new();
        for (from, ts) in &t.states {
            let f = index(&from.name, &mut states);
            for (call, to) in ts {
                let (abi, nr, _) = self.call_name(call)?;
                let target = index(&to.name, &mut states);
                if let Some(&(_, _, _, other)) = transitions.iter().find(|&&(a, b, c, _)| (a, b, c) == (f, abi, nr)) {
                    if other != target {
                        return err(
                            call.span,
                            format!(
                                "the trace is not deterministic: state `{}` already goes to `{}` on this call",
                                from.name, states[other as usize]
                            ),
                        );
                    }
                    continue;
                }
                transitions.push((f, abi, nr, target));
            }
        }
        Ok(AutomatonIr { states, initial: 0, transitions })
    }

    // ------------------------------------------------------------------------------------
    // Expressions
    // ------------------------------------------------------------------------------------

    /// A boolean condition for `assert`.
    fn condition(&mut self, v: Val, span: Span) -> Res<Ir> {
        if let Val::L { .. } = v {
            if let (ir, Some(Sc::Bool), _, _) = self.rvalue(v.clone(), span)? {
                return Ok(ir);
            }
        }
        match v {
            Val::R { ir, sc: Sc::Bool, .. } => Ok(ir),
            other => {
                let d = self.describe(&other);
                err(
                    span,
                    format!(
                        "expected a condition (a comparison, `in`, `&&`, …), found {d}; for an integer write `x != 0`"
                    ),
                )
            }
        }
    }

    fn describe(&mut self, v: &Val) -> String {
        match v {
            Val::Lit(_) => "an integer constant".into(),
            Val::R { sc: Sc::Bool, .. } => "a condition".into(),
            Val::R { ty: Some(t), .. } => format!("`{}`", self.prog.type_name(*t)),
            Val::R { sc: Sc::Int { signed: true }, .. } => "a signed integer".into(),
            Val::R { sc: Sc::Int { signed: false }, .. } => "an unsigned integer".into(),
            Val::R { sc: Sc::Ptr(t), .. } => format!("`{} *`", self.prog.type_name(*t)),
            Val::L { ty, .. } => format!("`{}`", self.prog.type_name(*ty)),
            Val::Str(_) => "a string".into(),
            Val::Bytes(_) => "a byte string".into(),
            Val::Set(_) => "a set".into(),
        }
    }

    fn expr(&mut self, e: &Expr, ctx: Option<&RuleCtx>) -> Res<Val> {
        Ok(match self.expr_inner(e, ctx)? {
            // Name objects in memory by their source text for messages.
            Val::L { addr, ty, .. } => Val::L { addr, ty, what: format!("`{}`", text_of(self.src, e.span)) },
            other => other,
        })
    }

    fn expr_inner(&mut self, e: &Expr, ctx: Option<&RuleCtx>) -> Res<Val> {
        let span = e.span;
        match &e.kind {
            ExprKind::Int(v) => Ok(Val::Lit(i128::from(*v))),
            ExprKind::Bool(b) => Ok(Val::R { ir: Ir::Const(u64::from(*b)), sc: Sc::Bool, ty: None }),
            ExprKind::Str(s) => Ok(Val::Str(s.clone())),
            ExprKind::Bytes(s) => Ok(Val::Bytes(s.clone())),
            ExprKind::Name(n) => self.name(n, span),
            ExprKind::Scoped(f, n) => self.scoped(f, n),
            ExprKind::Dollar(n) => self.dollar(n, span, ctx),
            ExprKind::Set(elems) => {
                let mut out = Vec::new();
                for el in elems {
                    match self.expr(el, ctx)? {
                        Val::Lit(v) => out.push(v),
                        Val::R { ir: Ir::Const(v), sc: Sc::Ptr(_) | Sc::Int { signed: false }, .. } => {
                            out.push(i128::from(v))
                        }
                        Val::Set(vs) => out.extend(vs),
                        other => {
                            let d = self.describe(&other);
                            return err(el.span, format!("set elements must be integer constants, found {d}"));
                        }
                    }
                }
                Ok(Val::Set(out))
            }
            ExprKind::Field(base, field) => {
                if let ExprKind::Name(sys) = &base.kind {
                    if let Some(v) = self.class_arg(sys, field, base.span, ctx)? {
                        return Ok(v);
                    }
                    if let Some(v) = self.syscall_arg(sys, field, base.span, ctx)? {
                        return Ok(v);
                    }
                }
                let b = self.expr(base, ctx)?;
                self.field(b, field, base.span, false)
            }
            ExprKind::Arrow(base, field) => {
                let b = self.expr(base, ctx)?;
                self.field(b, field, base.span, true)
            }
            ExprKind::Index(base, idx) => {
                let b = self.expr(base, ctx)?;
                let i = self.expr(idx, ctx)?;
                self.index(b, i, base.span, idx.span)
            }
            ExprKind::Unary(op, inner) => {
                if *op == UnOp::AddrOf {
                    return self.addr_of(inner, ctx);
                }
                let v = self.expr(inner, ctx)?;
                self.unary(*op, v, inner.span, span)
            }
            ExprKind::Binary(op, a, b) => {
                let va = self.expr(a, ctx)?;
                let vb = self.expr(b, ctx)?;
                self.binary(*op, va, vb, a.span, b.span, span)
            }
            ExprKind::In(a, set) => {
                let va = self.expr(a, ctx)?;
                let vs = self.expr(set, ctx)?;
                self.in_set(va, vs, a.span, set.span)
            }
            ExprKind::Cast(t, inner) => {
                let v = self.expr(inner, ctx)?;
                self.cast(t, v, inner.span)
            }
            ExprKind::SizeofType(t) => {
                let ty = self.type_name(t)?;
                let size = self.prog.size_of(ty).ok_or_else(|| Diag::new(t.span, "this type has no size"))?;
                let u = self.prog.types.int(8, false);
                Ok(Val::R { ir: Ir::Const(size), sc: Sc::Int { signed: false }, ty: Some(u) })
            }
            ExprKind::Call(f, args) => self.call(f, args, span, ctx),
        }
    }

    fn name(&mut self, n: &str, span: Span) -> Res<Val> {
        if let Some(v) = self.consts.get(n) {
            return Ok(v.clone());
        }
        match self.prog.global(n) {
            VarLookup::Found(g) => return Ok(Val::L { addr: self.image_addr(g.addr), ty: g.ty, what: format!("`{n}`") }),
            VarLookup::Ambiguous(cus) => {
                return err(span, format!("`{n}` is ambiguous: P has file-static variables of that name in {}", cus.join(", ")))
            }
            VarLookup::Local(funcs) => {
                let mut statics: Vec<&String> =
                    funcs.iter().filter(|f| matches!(self.prog.static_in(f, n), VarLookup::Found(_))).collect();
                statics.sort();
                statics.dedup();
                return match statics.first() {
                    Some(f) => err(
                        span,
                        format!(
                            "`{n}` is a static variable of {}: write `{f}::{n}`",
                            statics.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                        ),
                    ),
                    None => err(
                        span,
                        format!(
                            "unsupported: `{n}` is a local variable of {} — only global and static variables have a fixed address",
                            funcs.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                        ),
                    ),
                };
            }
            VarLookup::ThreadLocal => return err(span, format!("unsupported: `{n}` is a thread-local variable")),
            VarLookup::SymbolOnly(_) => {
                return err(
                    span,
                    format!("`{n}` has no debug information (compile P with -g), only a symbol: use `&{n}` with a cast, e.g. `*(u32 *)&{n}`"),
                )
            }
            VarLookup::NotFound => {}
        }
        if let Some(v) = self.prog.enumerator(n) {
            return Ok(Val::Lit(v));
        }
        if let Some(v) = sysargs::constant(n) {
            return Ok(Val::Lit(i128::from(v)));
        }
        let hint = if self.prog.has_dwarf() {
            let names: Vec<String> =
                self.prog.global_names().map(String::from).chain(self.consts.keys().cloned()).collect();
            suggest(n, names.iter().map(String::as_str))
        } else {
            " (P has no DWARF: compile it with -g)".to_string()
        };
        err(span, format!("unknown variable `{n}`{hint}"))
    }

    fn scoped(&mut self, f: &ast::Ident, n: &ast::Ident) -> Res<Val> {
        let span = f.span.to(n.span);
        match self.prog.static_in(&f.name, &n.name) {
            VarLookup::Found(g) => {
                Ok(Val::L { addr: self.image_addr(g.addr), ty: g.ty, what: format!("`{}::{}`", f.name, n.name) })
            }
            VarLookup::Ambiguous(cus) => {
                err(span, format!("`{}::{}` is ambiguous: {}", f.name, n.name, cus.join(", ")))
            }
            VarLookup::Local(_) => err(
                span,
                format!(
                    "unsupported: `{}` is a local variable of `{}` — only static variables have a fixed address",
                    n.name, f.name
                ),
            ),
            _ if !self.prog.is_function(&f.name) => err(f.span, format!("unknown function `{}`", f.name)),
            _ => err(n.span, format!("function `{}` has no static variable `{}`", f.name, n.name)),
        }
    }

    fn dollar(&mut self, n: &str, span: Span, ctx: Option<&RuleCtx>) -> Res<Val> {
        if ctx.is_none() {
            return err(span, format!("`${n}` can only be used inside a `syscall` rule"));
        }
        let u = Sc::Int { signed: false };
        let ir = match n {
            "rip" => Ir::Rip,
            // P's load base: 0 for a program linked at fixed addresses.
            "base" => self.image_addr(0),
            "nr" => Ir::Nr,
            "abi" => Ir::Abi,
            _ => {
                if let Some(i) =
                    n.strip_prefix("arg").and_then(|d| d.parse::<u8>().ok()).filter(|&i| i < 6 && n.len() == 4)
                {
                    Ir::Arg(i)
                } else if let Some(r) =
                    (0..Reg::COUNT).filter_map(Reg::from_u8).find(|r| r.name() == n && *r != Reg::Rip)
                {
                    Ir::Reg(r)
                } else {
                    return err(
                        span,
                        format!("unknown `${n}`: expected a register (`$rax` … `$r15`, `$rflags`, `$cr3`), `$rip`, `$base`, `$nr`, `$abi` or `$arg0` … `$arg5`"),
                    );
                }
            }
        };
        Ok(Val::R { ir, sc: u, ty: None })
    }

    /// `class.arg` if `class` names a class of system calls and P has no variable of that
    /// name: the member's value of that argument (see [`classes`]).
    fn class_arg(&mut self, cls: &str, field: &ast::Ident, cls_span: Span, ctx: Option<&RuleCtx>) -> Res<Option<Val>> {
        let Some(class) = classes::find(cls) else { return Ok(None) };
        if self.consts.contains_key(cls) || !matches!(self.prog.global(cls), VarLookup::NotFound) {
            return Ok(None);
        }
        let span = cls_span.to(field.span);
        let Some((c, member, abi)) = ctx.and_then(|x| x.class).filter(|(c, _, _)| c.name == class.name) else {
            return err(
                span,
                format!(
                    "`{cls}.{}` names an argument of the class `{cls}`: use it inside `syscall class {cls} {{ … }}`",
                    field.name
                ),
            );
        };
        let Some(k) = c.args.iter().position(|(n, _)| *n == field.name) else {
            let names = c.args.iter().map(|(n, _)| *n).collect::<Vec<_>>();
            return err(
                field.span,
                format!(
                    "class `{cls}` has no argument `{}`{}; its arguments are: {}",
                    field.name,
                    suggest(&field.name, names.iter().copied()),
                    names.join(", ")
                ),
            );
        };
        let kind = c.args[k].1;
        let ir = match member.srcs[k] {
            Src::Arg { index, width } => match (kind, width_of(u64::from(width))) {
                (ArgKind::Int { signed, .. }, Some(w)) if w != Width::W64 => {
                    Ir::Ext { signed, width: w, e: Box::new(Ir::Arg(index)) }
                }
                _ => Ir::Arg(index),
            },
            Src::Const(v) => Ir::Const(v),
            Src::Mem { index, offset, width } => Ir::Load {
                addr: Box::new(add_const(Ir::Arg(index), u64::from(offset))),
                width: width_of(u64::from(width)).unwrap_or(Width::W64),
                signed: false,
            },
        };
        let v = match kind {
            ArgKind::Int { size, signed } => {
                let t = self.prog.types.int(u64::from(size), signed);
                Val::R { ir, sc: Sc::Int { signed }, ty: Some(t) }
            }
            ArgKind::Path => {
                let ch = self.prog.types.char();
                let p = self.prog.types.pointer(ch);
                Val::R { ir, sc: Sc::Ptr(ch), ty: Some(p) }
            }
            // 8-byte pointers in the array only for x86-64 members.
            ArgKind::StrArray if abi == Abi::X86_64 => {
                let ch = self.prog.types.char();
                let p = self.prog.types.pointer(ch);
                let pp = self.prog.types.pointer(p);
                Val::R { ir, sc: Sc::Ptr(p), ty: Some(pp) }
            }
            // ia32 and x32: an array of 4-byte pointers, `u32 *`; `(char *)exec.argv[1]`
            // reads a string for every ABI.
            ArgKind::StrArray => {
                let u = self.prog.types.int(4, false);
                let p = self.prog.types.pointer(u);
                Val::R { ir, sc: Sc::Ptr(u), ty: Some(p) }
            }
        };
        Ok(Some(v))
    }

    /// `sys.arg` if `sys` names a system call and P has no variable of that name.
    fn syscall_arg(
        &mut self,
        sys: &str,
        field: &ast::Ident,
        sys_span: Span,
        ctx: Option<&RuleCtx>,
    ) -> Res<Option<Val>> {
        let named =
            syscall_names::number(Abi::X86_64, sys).is_some() || syscall_names::number(Abi::Ia32, sys).is_some();
        if !named || self.consts.contains_key(sys) || !matches!(self.prog.global(sys), VarLookup::NotFound) {
            return Ok(None);
        }
        let span = sys_span.to(field.span);
        let Some(ctx) = ctx else {
            return err(
                span,
                format!("`{sys}.{}`: system-call arguments can only be used inside a `syscall` rule", field.name),
            );
        };
        if let Some((class, _, _)) = ctx.class {
            let args = class.args.iter().map(|(n, _)| format!("`{}.{n}`", class.name)).collect::<Vec<_>>();
            return err(
                span,
                format!(
                    "`{sys}.{}`: a class rule is checked for every member of `{}`; name the class's arguments: {}",
                    field.name,
                    class.name,
                    args.join(", ")
                ),
            );
        }
        let this: Vec<&str> = ctx.calls.iter().filter_map(|c| c.2).collect();
        if !this.contains(&sys) {
            return err(
                span,
                format!(
                    "`{sys}.{}` names an argument of `{sys}`, but this rule is for {}",
                    field.name,
                    this.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if ctx.calls.len() > 1 {
            return err(
                span,
                format!("`{sys}.{}`: this rule is for several calls; name arguments as `$arg0` … `$arg5`", field.name),
            );
        }
        let abi = ctx.calls[0].0;
        let Some(args) = sysargs::args(sys) else {
            return err(span, format!("no argument names are known for `{sys}`; use `$arg0` … `$arg5`"));
        };
        let Some((i, (_, ty))) = args.iter().enumerate().find(|(_, (n, _))| *n == field.name) else {
            let names = args.iter().map(|(n, _)| *n).collect::<Vec<_>>();
            let list = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            return err(field.span, format!("`{sys}` has no argument `{}`; its arguments are: {list}", field.name));
        };
        let arg = Ir::Arg(i as u8);
        let v = match *ty {
            ArgTy::Int { size, signed, word } => {
                let size = if word && abi == Abi::Ia32 { 4 } else { u64::from(size) };
                let t = self.prog.types.int(size, signed);
                let ir = match width_of(size) {
                    Some(Width::W64) | None => arg,
                    Some(w) => Ir::Ext { signed, width: w, e: Box::new(arg) },
                };
                Val::R { ir, sc: Sc::Int { signed }, ty: Some(t) }
            }
            ArgTy::CharPtr | ArgTy::Path => {
                let c = self.prog.types.char();
                let p = self.prog.types.pointer(c);
                Val::R { ir: arg, sc: Sc::Ptr(c), ty: Some(p) }
            }
            ArgTy::VoidPtr => {
                let p = self.prog.types.pointer(TypeArena::VOID);
                Val::R { ir: arg, sc: Sc::Ptr(TypeArena::VOID), ty: Some(p) }
            }
            ArgTy::IntPtr { size, signed } => {
                let t = self.prog.types.int(u64::from(size), signed);
                let p = self.prog.types.pointer(t);
                Val::R { ir: arg, sc: Sc::Ptr(t), ty: Some(p) }
            }
            ArgTy::StructPtr(tag) => {
                let t = self.prog.record(RecordKind::Struct, tag).unwrap_or(TypeArena::VOID);
                let p = self.prog.types.pointer(t);
                Val::R { ir: arg, sc: Sc::Ptr(t), ty: Some(p) }
            }
        };
        Ok(Some(v))
    }

    /// Converts to a value: loads scalars, decays arrays, rejects what has no value.
    fn rvalue(&mut self, v: Val, span: Span) -> Res<RValue> {
        match v {
            Val::Lit(x) => Ok((Ir::Const(lit_to_u64(x)), None, None, Some(x))),
            Val::R { ir, sc, ty } => Ok((ir, Some(sc), ty, None)),
            Val::L { addr, ty, what } => {
                let t = self.prog.ty(ty);
                match t {
                    CType::Int { size, signed, boolean, .. } => {
                        let width = width_of(size)
                            .ok_or_else(|| Diag::new(span, format!("unsupported: {what} is a {size}-byte integer")))?;
                        let ir = Ir::Load { addr: Box::new(addr), width, signed };
                        let sc = if boolean { Sc::Bool } else { Sc::Int { signed } };
                        Ok((ir, Some(sc), Some(ty), None))
                    }
                    CType::Enum { size, signed, .. } => {
                        let width = width_of(size)
                            .ok_or_else(|| Diag::new(span, format!("unsupported: {what} is a {size}-byte enum")))?;
                        Ok((Ir::Load { addr: Box::new(addr), width, signed }, Some(Sc::Int { signed }), Some(ty), None))
                    }
                    CType::Pointer { target } => Ok((
                        Ir::Load { addr: Box::new(addr), width: Width::W64, signed: false },
                        Some(Sc::Ptr(target)),
                        Some(ty),
                        None,
                    )),
                    CType::Array { elem, .. } => {
                        let p = self.prog.types.pointer(elem);
                        Ok((addr, Some(Sc::Ptr(elem)), Some(p), None))
                    }
                    CType::Function => {
                        let p = self.prog.types.pointer(ty);
                        Ok((addr, Some(Sc::Ptr(ty)), Some(p), None))
                    }
                    CType::Record { kind, .. } => {
                        let names = self.prog.member_names(ty);
                        err(
                            span,
                            format!(
                                "{what} is a {}; name one of its members ({})",
                                kind.keyword(),
                                if names.is_empty() { "it has none".to_string() } else { names.join(", ") }
                            ),
                        )
                    }
                    CType::Float { .. } => err(span, format!("unsupported: {what} is floating-point")),
                    CType::Void => err(span, format!("{what} has no type information")),
                    CType::Unknown(n) => err(span, format!("unsupported: {what} has type `{n}`")),
                }
            }
            Val::Str(_) | Val::Bytes(_) => err(
                span,
                "a string can only be compared (`==`, `!=`) or used in `startswith`, `endswith`, `contains`, `charset`",
            ),
            Val::Set(_) => err(span, "a set can only be used after `in`"),
        }
    }

    fn field(&mut self, b: Val, field: &ast::Ident, base_span: Span, arrow: bool) -> Res<Val> {
        let (addr, rec, what) = if arrow {
            if let Val::L { ty, .. } = &b {
                if matches!(self.prog.ty(*ty), CType::Record { .. }) {
                    let d = self.describe(&b);
                    return err(
                        base_span,
                        format!("`->` needs a pointer to a struct, found {d}: write `.{}`", field.name),
                    );
                }
            }
            let (ir, sc, _, _) = self.rvalue(b.clone(), base_span)?;
            match sc {
                Some(Sc::Ptr(t)) => (ir, t, String::new()),
                _ => {
                    let d = self.describe(&b);
                    return err(base_span, format!("`->` needs a pointer to a struct, found {d}"));
                }
            }
        } else {
            match b {
                Val::L { ty, .. } if matches!(self.prog.ty(ty), CType::Pointer { target } if matches!(self.prog.ty(target), CType::Record { .. })) =>
                {
                    return err(base_span, format!("this is a pointer to a struct: write `->{}`", field.name));
                }
                Val::L { addr, ty, what } => (addr, ty, what),
                Val::R { sc: Sc::Ptr(t), .. } if matches!(self.prog.ty(t), CType::Record { .. }) => {
                    return err(base_span, format!("this is a pointer to a struct: write `->{}`", field.name));
                }
                other => {
                    let d = self.describe(&other);
                    return err(base_span, format!("`.{}` needs a struct or union, found {d}", field.name));
                }
            }
        };
        match self.prog.ty(rec) {
            CType::Record { size: None, kind, name, .. } => {
                return err(
                    base_span,
                    format!(
                        "`{} {}` is only declared in P's DWARF, not defined",
                        kind.keyword(),
                        name.unwrap_or_default()
                    ),
                )
            }
            CType::Record { .. } => {}
            _ => {
                let d = self.prog.type_name(rec);
                return err(base_span, format!("`.{}` needs a struct or union, found `{d}`", field.name));
            }
        }
        let Some((off, m)) = self.prog.member(rec, &field.name) else {
            let names = self.prog.member_names(rec);
            let tn = self.prog.type_name(rec);
            return err(
                field.span,
                format!(
                    "`{tn}` has no member `{}`{}",
                    field.name,
                    suggest(&field.name, names.iter().map(String::as_str))
                ),
            );
        };
        if m.bits.is_some() {
            return err(field.span, format!("unsupported: `{}` is a bit-field", field.name));
        }
        let addr = add_const(addr, off);
        Ok(Val::L { addr, ty: m.ty, what })
    }

    fn index(&mut self, b: Val, i: Val, bspan: Span, ispan: Span) -> Res<Val> {
        let (base, elem, count, what) = match &b {
            Val::L { addr, ty, what } => match self.prog.ty(*ty) {
                CType::Array { elem, count } => (addr.clone(), elem, count, what.clone()),
                _ => {
                    let (ir, sc, _, _) = self.rvalue(b.clone(), bspan)?;
                    match sc {
                        Some(Sc::Ptr(t)) => (ir, t, None, what.clone()),
                        _ => {
                            let d = self.describe(&b);
                            return err(bspan, format!("only arrays and pointers can be indexed, found {d}"));
                        }
                    }
                }
            },
            _ => {
                let (ir, sc, _, _) = self.rvalue(b.clone(), bspan)?;
                match sc {
                    Some(Sc::Ptr(t)) => (ir, t, None, "pointer".to_string()),
                    _ => {
                        let d = self.describe(&b);
                        return err(bspan, format!("only arrays and pointers can be indexed, found {d}"));
                    }
                }
            }
        };
        let size = self.prog.size_of(elem).ok_or_else(|| {
            let n = self.prog.type_name(elem);
            Diag::new(bspan, format!("cannot index: the element type `{n}` has no size"))
        })?;
        let (iir, isc, _, ilit) = self.rvalue(i.clone(), ispan)?;
        if let Some(v) = ilit {
            if let Some(c) = count {
                if v < 0 || v >= i128::from(c) {
                    return err(ispan, format!("index {v} is out of bounds for {what} ({c} elements)"));
                }
            }
        } else if !matches!(isc, Some(Sc::Int { .. })) {
            let d = self.describe(&i);
            return err(ispan, format!("an index must be an integer, found {d}"));
        }
        let off = mul_const(iir, size);
        let addr = add(base, off);
        Ok(Val::L { addr, ty: elem, what: format!("{what}[…]") })
    }

    fn addr_of(&mut self, inner: &Expr, ctx: Option<&RuleCtx>) -> Res<Val> {
        if let ExprKind::Name(n) = &inner.kind {
            if !self.consts.contains_key(n) {
                match self.prog.global(n) {
                    VarLookup::Found(_) => {}
                    _ => {
                        if let Some(a) = self.prog.symbol(n) {
                            let p = self.prog.types.pointer(TypeArena::VOID);
                            return Ok(Val::R { ir: self.image_addr(a), sc: Sc::Ptr(TypeArena::VOID), ty: Some(p) });
                        }
                    }
                }
            }
        }
        match self.expr(inner, ctx)? {
            Val::L { addr, ty, .. } => {
                let p = self.prog.types.pointer(ty);
                Ok(Val::R { ir: addr, sc: Sc::Ptr(ty), ty: Some(p) })
            }
            other => {
                let d = self.describe(&other);
                err(inner.span, format!("`&` needs a variable, a member, an element or a symbol, found {d}"))
            }
        }
    }

    fn unary(&mut self, op: UnOp, v: Val, ispan: Span, span: Span) -> Res<Val> {
        match op {
            UnOp::Deref => {
                let (ir, sc, _, _) = self.rvalue(v.clone(), ispan)?;
                match sc {
                    Some(Sc::Ptr(t)) => match self.prog.ty(t) {
                        CType::Void => err(ispan, "cannot dereference a `void *`: cast it first, e.g. `*(u8 *)p`"),
                        CType::Function => err(ispan, "cannot dereference a function pointer"),
                        _ => Ok(Val::L { addr: ir, ty: t, what: "`*…`".into() }),
                    },
                    _ => {
                        let d = self.describe(&v);
                        err(ispan, format!("`*` needs a pointer, found {d}"))
                    }
                }
            }
            UnOp::Not => {
                let (ir, sc, _, _) = self.rvalue(v.clone(), ispan)?;
                if sc == Some(Sc::Bool) {
                    Ok(Val::R { ir: Ir::LNot(Box::new(ir)), sc: Sc::Bool, ty: None })
                } else {
                    let d = self.describe(&v);
                    err(ispan, format!("`!` needs a condition, found {d}; for an integer write `x == 0`"))
                }
            }
            UnOp::Neg | UnOp::BitNot => {
                if let Val::Lit(x) = v {
                    let r = if op == UnOp::Neg { -x } else { -x - 1 };
                    return lit_checked(r, span);
                }
                let (ir, sc, ty, _) = self.rvalue(v.clone(), ispan)?;
                match sc {
                    Some(Sc::Int { signed }) => {
                        let ir = if op == UnOp::Neg { Ir::Neg(Box::new(ir)) } else { Ir::Inv(Box::new(ir)) };
                        Ok(Val::R { ir, sc: Sc::Int { signed }, ty })
                    }
                    _ => {
                        let d = self.describe(&v);
                        err(ispan, format!("`{}` needs an integer, found {d}", if op == UnOp::Neg { "-" } else { "~" }))
                    }
                }
            }
            UnOp::AddrOf => err(span, "internal: `&` is handled before evaluation"),
        }
    }

    fn binary(&mut self, op: ast::BinOp, a: Val, b: Val, sa: Span, sb: Span, span: Span) -> Res<Val> {
        use ast::BinOp as B;
        match op {
            B::And | B::Or => {
                let ia = self.condition(a, sa)?;
                let ib = self.condition(b, sb)?;
                let ir =
                    if op == B::And { Ir::And(Box::new(ia), Box::new(ib)) } else { Ir::Or(Box::new(ia), Box::new(ib)) };
                Ok(Val::R { ir, sc: Sc::Bool, ty: None })
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => self.compare(op, a, b, sa, sb, span),
            _ => self.arith(op, a, b, sa, sb, span),
        }
    }

    fn arith(&mut self, op: ast::BinOp, a: Val, b: Val, sa: Span, sb: Span, span: Span) -> Res<Val> {
        use ast::BinOp as B;
        if let (Val::Lit(x), Val::Lit(y)) = (&a, &b) {
            let (x, y) = (*x, *y);
            let r = match op {
                B::Add => x + y,
                B::Sub => x - y,
                B::Mul => x.checked_mul(y).ok_or_else(|| Diag::new(span, "constant overflows 64 bits"))?,
                B::Div | B::Rem if y == 0 => return err(sb, "division by zero"),
                B::Div => x / y,
                B::Rem => x % y,
                B::BitAnd | B::BitOr | B::BitXor => {
                    let (ux, uy) = (lit_to_u64(x), lit_to_u64(y));
                    let r = match op {
                        B::BitAnd => ux & uy,
                        B::BitOr => ux | uy,
                        _ => ux ^ uy,
                    };
                    // Negative in, negative out (two's complement view).
                    if (x < 0 || y < 0) && (r as i64) < 0 {
                        i128::from(r as i64)
                    } else {
                        i128::from(r)
                    }
                }
                B::Shl | B::Shr => {
                    if !(0..64).contains(&y) {
                        return err(sb, "shift count must be 0..63");
                    }
                    if op == B::Shl {
                        x.checked_shl(y as u32)
                            .filter(|r| in_range(*r))
                            .ok_or_else(|| Diag::new(span, "constant overflows 64 bits"))?
                    } else {
                        x >> y
                    }
                }
                _ => return err(span, "internal: not an arithmetic operator"),
            };
            return lit_checked(r, span);
        }
        let (ia, sca, tya, la) = self.rvalue(a.clone(), sa)?;
        let (ib, scb, tyb, lb) = self.rvalue(b.clone(), sb)?;
        // Pointer arithmetic: ptr ± int scales by the pointee size; ptr - ptr gives elements.
        if let Some(Sc::Ptr(t)) = sca {
            if matches!(op, B::Add | B::Sub) {
                if let Some(Sc::Ptr(t2)) = scb {
                    if op == B::Sub {
                        let size = self.elem_size(t, sa)?;
                        if self.prog.types.size(t2) != Some(size) {
                            return err(span, "subtracted pointers must point to types of the same size");
                        }
                        let diff = Ir::Bin(Op::Sub, Box::new(ia), Box::new(ib));
                        let ir =
                            if size == 1 { diff } else { Ir::Bin(Op::DivS, Box::new(diff), Box::new(Ir::Const(size))) };
                        let i64t = self.prog.types.int(8, true);
                        return Ok(Val::R { ir, sc: Sc::Int { signed: true }, ty: Some(i64t) });
                    }
                }
                if matches!(scb, Some(Sc::Int { .. })) || lb.is_some() {
                    let size = self.elem_size(t, sa)?;
                    let off = mul_const(ib, size);
                    let ir = if op == B::Add { add(ia, off) } else { Ir::Bin(Op::Sub, Box::new(ia), Box::new(off)) };
                    return Ok(Val::R { ir, sc: Sc::Ptr(t), ty: tya });
                }
            }
        }
        if op == B::Add {
            if let (Some(Sc::Ptr(t)), true) = (scb, matches!(sca, Some(Sc::Int { .. })) || la.is_some()) {
                let size = self.elem_size(t, sb)?;
                return Ok(Val::R { ir: add(ib, mul_const(ia, size)), sc: Sc::Ptr(t), ty: tyb });
            }
        }
        let signed = self.int_signedness(op.text(), &a, &b, sca, scb, la, lb, sa, sb, true)?;
        if matches!(op, B::Div | B::Rem) && ib.as_const() == Some(0) {
            return err(sb, "division by zero");
        }
        let o = match op {
            B::Add => Op::Add,
            B::Sub => Op::Sub,
            B::Mul => Op::Mul,
            B::Div if signed => Op::DivS,
            B::Div => Op::DivU,
            B::Rem if signed => Op::RemS,
            B::Rem => Op::RemU,
            B::BitAnd => Op::And,
            B::BitOr => Op::Or,
            B::BitXor => Op::Xor,
            B::Shl => Op::Shl,
            B::Shr if signed => Op::Sar,
            B::Shr => Op::Shr,
            _ => return err(span, "internal: not an arithmetic operator"),
        };
        let ty = self.prog.types.int(8, signed);
        Ok(Val::R { ir: Ir::Bin(o, Box::new(ia), Box::new(ib)), sc: Sc::Int { signed }, ty: Some(ty) })
    }

    fn elem_size(&mut self, t: TypeId, span: Span) -> Res<u64> {
        match self.prog.ty(t) {
            CType::Void => Ok(1),
            _ => self.prog.size_of(t).ok_or_else(|| {
                let n = self.prog.type_name(t);
                Diag::new(span, format!("pointer arithmetic needs a sized pointee, `{n}` has no size"))
            }),
        }
    }

    /// Signedness of an integer operation on two operands (literals adapt).
    #[allow(clippy::too_many_arguments)]
    fn int_signedness(
        &mut self,
        op: &str,
        a: &Val,
        b: &Val,
        sca: Option<Sc>,
        scb: Option<Sc>,
        la: Option<i128>,
        lb: Option<i128>,
        sa: Span,
        sb: Span,
        arith: bool,
    ) -> Res<bool> {
        let kind = |sc: Option<Sc>| match sc {
            None => Some(None),
            Some(Sc::Int { signed }) => Some(Some(signed)),
            Some(Sc::Ptr(_)) if !arith => Some(Some(false)),
            _ => None,
        };
        let (Some(ka), Some(kb)) = (kind(sca), kind(scb)) else {
            let (bad, span) = if kind(sca).is_none() { (a, sa) } else { (b, sb) };
            let d = self.describe(bad);
            let what = if arith { "an integer" } else { "an integer or a pointer" };
            return err(span, format!("`{op}` needs {what}, found {d}"));
        };
        let signed = match (ka, kb) {
            (Some(x), Some(y)) if x != y => {
                let (da, db) = (self.describe(a), self.describe(b));
                return err(
                    sa.to(sb),
                    format!("`{op}` mixes signed and unsigned operands ({da} and {db}); cast one side, e.g. `(i64)x` or `(u64)x`"),
                );
            }
            (Some(x), _) | (None, Some(x)) => x,
            (None, None) => true,
        };
        if !signed {
            for (l, span) in [(la, sa), (lb, sb)] {
                if let Some(v) = l {
                    if v < 0 {
                        return err(span, format!("negative constant {v} used with an unsigned operand"));
                    }
                }
            }
        } else {
            for (l, span) in [(la, sa), (lb, sb)] {
                if let Some(v) = l {
                    if v > i128::from(i64::MAX) {
                        return err(span, format!("constant {v} does not fit a signed operand"));
                    }
                }
            }
        }
        Ok(signed)
    }

    fn compare(&mut self, op: ast::BinOp, a: Val, b: Val, sa: Span, sb: Span, span: Span) -> Res<Val> {
        use ast::BinOp as B;
        // Strings: `x == "…"`, `x != b"…"`.
        let (obj, s, bytes, sobj, sstr) = match (&a, &b) {
            (Val::Str(s), _) => (b.clone(), s.clone(), false, sb, sa),
            (Val::Bytes(s), _) => (b.clone(), s.clone(), true, sb, sa),
            (_, Val::Str(s)) => (a.clone(), s.clone(), false, sa, sb),
            (_, Val::Bytes(s)) => (a.clone(), s.clone(), true, sa, sb),
            _ => return self.compare_values(op, a, b, sa, sb, span),
        };
        if !matches!(op, B::Eq | B::Ne) {
            return err(span, format!("strings can only be compared with `==` and `!=`, not `{}`", op.text()));
        }
        if matches!(obj, Val::Str(_) | Val::Bytes(_)) {
            return err(span, "comparing two string constants: one side must be in P's memory");
        }
        let addr = if bytes { self.bytes_address(obj, sobj)? } else { self.string_address(obj, sobj)? };
        let ir = if bytes {
            Ir::BytesEq(Box::new(addr), s)
        } else {
            if s.contains(&0) {
                return err(
                    sstr,
                    "string constant contains a NUL byte; compare binary data with a byte string `b\"…\"`",
                );
            }
            Ir::StrEq(Box::new(addr), s)
        };
        let ir = if op == B::Ne { Ir::LNot(Box::new(ir)) } else { ir };
        Ok(Val::R { ir, sc: Sc::Bool, ty: None })
    }

    /// Address of a C string: a pointer to a 1-byte type or `void`, or a 1-byte array.
    /// The address of the C string `e` and, for a `char` array, the array's length (the
    /// default bound of the string built-ins).
    fn string_arg(&mut self, e: &Expr, ctx: Option<&RuleCtx>) -> Res<(Ir, Option<u64>)> {
        let v = self.expr(e, ctx)?;
        let array_len = match &v {
            Val::L { ty, .. } => match self.prog.ty(*ty) {
                CType::Array { count, .. } => count,
                _ => None,
            },
            _ => None,
        };
        Ok((self.string_address(v, e.span)?, array_len))
    }

    /// The bound of string built-in `f`: the constant given, else the array's size, else
    /// [`MAX_STRLEN`].
    fn string_bound(&mut self, f: &str, bound: Option<&Expr>, array_len: Option<u64>) -> Res<u16> {
        match bound {
            Some(m) => {
                let v = self.const_int(m)?;
                if v == 0 || v > u64::from(MAX_STRLEN) {
                    return err(m.span, format!("the bound of `{f}` must be 1..={MAX_STRLEN}"));
                }
                Ok(v as u16)
            }
            None => Ok(array_len.filter(|&c| c > 0).map_or(MAX_STRLEN, |c| c.min(u64::from(MAX_STRLEN)) as u16)),
        }
    }

    /// The byte class `e` writes (`"[a-z0-9_]"`), as its bitmap; a malformed class is reported
    /// at the bytes of the literal it is about.
    fn class(&mut self, e: &Expr, ctx: Option<&RuleCtx>) -> Res<[u8; CLASS_LEN]> {
        let Val::Str(text) = self.expr(e, ctx)? else {
            return err(e.span, "`charset` needs a class in a string constant, e.g. \"[a-z0-9_]\"");
        };
        charclass::parse(&text).map_err(|c| {
            // Only a literal written right here maps back to source bytes (not a `const`).
            let spans = match e.kind {
                ExprKind::Str(_) => lexer::string_byte_spans(self.src, e.span.start),
                _ => None,
            };
            let span =
                spans.and_then(|s| Some(s.get(c.at)?.to(*s.get(c.at + c.len - 1).or(s.last())?))).unwrap_or(e.span);
            Diag::new(span, c.msg)
        })
    }

    fn string_address(&mut self, v: Val, span: Span) -> Res<Ir> {
        let (ir, sc, _, _) = self.rvalue(v.clone(), span)?;
        if let Some(Sc::Ptr(t)) = sc {
            match self.prog.ty(t) {
                CType::Void => return Ok(ir),
                CType::Int { size: 1, .. } => return Ok(ir),
                _ => {}
            }
        }
        let d = self.describe(&v);
        err(span, format!("a string comparison needs a `char *` or `char` array, found {d}"))
    }

    /// Address of bytes to compare: any pointer or any object in memory.
    fn bytes_address(&mut self, v: Val, span: Span) -> Res<Ir> {
        if let Val::L { addr, ty, .. } = &v {
            if matches!(self.prog.ty(*ty), CType::Record { .. } | CType::Array { .. }) {
                return Ok(addr.clone());
            }
        }
        let (ir, sc, _, _) = self.rvalue(v.clone(), span)?;
        if let Some(Sc::Ptr(_)) = sc {
            return Ok(ir);
        }
        let d = self.describe(&v);
        err(span, format!("a byte-string comparison needs a pointer, an array or a struct, found {d}"))
    }

    fn compare_values(&mut self, op: ast::BinOp, a: Val, b: Val, sa: Span, sb: Span, span: Span) -> Res<Val> {
        use ast::BinOp as B;
        if let (Val::Lit(x), Val::Lit(y)) = (&a, &b) {
            let r = match op {
                B::Eq => x == y,
                B::Ne => x != y,
                B::Lt => x < y,
                B::Le => x <= y,
                B::Gt => x > y,
                _ => x >= y,
            };
            return Ok(Val::R { ir: Ir::Const(u64::from(r)), sc: Sc::Bool, ty: None });
        }
        let (ia, sca, _, la) = self.rvalue(a.clone(), sa)?;
        let (ib, scb, _, lb) = self.rvalue(b.clone(), sb)?;
        if sca == Some(Sc::Bool) || scb == Some(Sc::Bool) {
            if sca == scb && matches!(op, B::Eq | B::Ne) {
                let o = if op == B::Eq { Op::Eq } else { Op::Ne };
                return Ok(Val::R { ir: Ir::Bin(o, Box::new(ia), Box::new(ib)), sc: Sc::Bool, ty: None });
            }
            let (da, db) = (self.describe(&a), self.describe(&b));
            return err(span, format!("cannot compare {da} with {db} using `{}`", op.text()));
        }
        let signed = self.int_signedness(op.text(), &a, &b, sca, scb, la, lb, sa, sb, false)?;
        let o = match (op, signed) {
            (B::Eq, _) => Op::Eq,
            (B::Ne, _) => Op::Ne,
            (B::Lt, false) => Op::LtU,
            (B::Le, false) => Op::LeU,
            (B::Gt, false) => Op::GtU,
            (B::Ge, false) => Op::GeU,
            (B::Lt, true) => Op::LtS,
            (B::Le, true) => Op::LeS,
            (B::Gt, true) => Op::GtS,
            _ => Op::GeS,
        };
        Ok(Val::R { ir: Ir::Bin(o, Box::new(ia), Box::new(ib)), sc: Sc::Bool, ty: None })
    }

    fn in_set(&mut self, v: Val, set: Val, sv: Span, sset: Span) -> Res<Val> {
        let Val::Set(elems) = set else {
            let d = self.describe(&set);
            return err(sset, format!("`in` needs a set `{{…}}` or a set constant, found {d}"));
        };
        if let Val::Lit(x) = v {
            let r = elems.contains(&x);
            return Ok(Val::R { ir: Ir::Const(u64::from(r)), sc: Sc::Bool, ty: None });
        }
        let (ir, sc, _, _) = self.rvalue(v.clone(), sv)?;
        let signed = match sc {
            Some(Sc::Int { signed }) => signed,
            Some(Sc::Ptr(_)) => false,
            _ => {
                let d = self.describe(&v);
                return err(sv, format!("`in` needs an integer or a pointer, found {d}"));
            }
        };
        let mut out = Vec::with_capacity(elems.len());
        for x in elems {
            if !signed && x < 0 {
                return err(sset, format!("negative constant {x} in a set tested against an unsigned value"));
            }
            if signed && x > i128::from(i64::MAX) {
                return err(sset, format!("constant {x} in a set does not fit a signed value"));
            }
            out.push(lit_to_u64(x));
        }
        out.sort_unstable();
        out.dedup();
        Ok(Val::R { ir: Ir::InSet(Box::new(ir), out), sc: Sc::Bool, ty: None })
    }

    fn type_name(&mut self, t: &TypeName) -> Res<TypeId> {
        let mut id = match &t.base {
            BaseType::Int { size, signed } => {
                if *size == 1 && *signed {
                    self.prog.types.char()
                } else {
                    self.prog.types.int(u64::from(*size), *signed)
                }
            }
            BaseType::Bool => self.prog.types.boolean(),
            BaseType::Void => TypeArena::VOID,
            BaseType::Record { union, name } => {
                let kind = if *union { RecordKind::Union } else { RecordKind::Struct };
                self.prog
                    .record(kind, name)
                    .ok_or_else(|| Diag::new(t.span, format!("P's DWARF has no `{} {name}`", kind.keyword())))?
            }
        };
        for _ in 0..t.pointers {
            id = self.prog.types.pointer(id);
        }
        Ok(id)
    }

    fn cast(&mut self, t: &TypeName, v: Val, span: Span) -> Res<Val> {
        let target = self.type_name(t)?;
        if t.pointers > 0 {
            let (ir, sc, _, lit) = self.rvalue(v.clone(), span)?;
            if !(matches!(sc, Some(Sc::Ptr(_)) | Some(Sc::Int { .. })) || lit.is_some()) {
                let d = self.describe(&v);
                return err(span, format!("cannot cast {d} to a pointer"));
            }
            let pointee = match self.prog.types.get(target) {
                CType::Pointer { target } => *target,
                _ => TypeArena::VOID,
            };
            return Ok(Val::R { ir, sc: Sc::Ptr(pointee), ty: Some(target) });
        }
        match (&t.base, self.prog.types.get(target).clone()) {
            (BaseType::Bool, _) => {
                let (ir, sc, _, _) = self.rvalue(v.clone(), span)?;
                match sc {
                    Some(Sc::Bool) => Ok(Val::R { ir, sc: Sc::Bool, ty: None }),
                    _ => {
                        Ok(Val::R { ir: Ir::Bin(Op::Ne, Box::new(ir), Box::new(Ir::Const(0))), sc: Sc::Bool, ty: None })
                    }
                }
            }
            (BaseType::Int { .. }, CType::Int { size, signed, .. }) => {
                let (ir, sc, _, _) = self.rvalue(v.clone(), span)?;
                if sc == Some(Sc::Bool) {
                    return Ok(Val::R { ir, sc: Sc::Int { signed }, ty: Some(target) });
                }
                let ir = match width_of(size) {
                    Some(Width::W64) | None => ir,
                    Some(w) => Ir::Ext { signed, width: w, e: Box::new(ir) },
                };
                Ok(Val::R { ir: fold(ir), sc: Sc::Int { signed }, ty: Some(target) })
            }
            (BaseType::Void, _) => err(t.span, "cannot cast to `void`"),
            _ => err(t.span, "cannot cast to a struct or union; cast to a pointer, e.g. `(struct s *)p`"),
        }
    }

    fn call(&mut self, f: &ast::Ident, args: &[Expr], span: Span, ctx: Option<&RuleCtx>) -> Res<Val> {
        let argc = |n: std::ops::RangeInclusive<usize>| -> Res<()> {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                let want =
                    if n.start() == n.end() { n.start().to_string() } else { format!("{} or {}", n.start(), n.end()) };
                err(span, format!("`{}` takes {want} argument(s), found {}", f.name, args.len()))
            }
        };
        match f.name.as_str() {
            "len" => {
                argc(1..=2)?;
                let (addr, array_len) = self.string_arg(&args[0], ctx)?;
                let max = self.string_bound(&f.name, args.get(1), array_len)?;
                let u = self.prog.types.int(8, false);
                Ok(Val::R { ir: Ir::Strlen(Box::new(addr), max), sc: Sc::Int { signed: false }, ty: Some(u) })
            }
            "contains" | "endswith" => {
                argc(2..=3)?;
                let (addr, array_len) = self.string_arg(&args[0], ctx)?;
                let lit = match self.expr(&args[1], ctx)? {
                    Val::Str(s) if s.contains(&0) => return err(args[1].span, "string constant contains a NUL byte"),
                    Val::Str(s) => s,
                    _ => {
                        return err(
                            args[1].span,
                            format!("`{}` needs a string constant as its second argument", f.name),
                        )
                    }
                };
                // The evaluator compares against a window of this many recent guest bytes.
                if lit.len() > MAX_MATCH_LEN {
                    return err(
                        args[1].span,
                        format!("`{}` takes a string of at most {MAX_MATCH_LEN} bytes, not {}", f.name, lit.len()),
                    );
                }
                let max = self.string_bound(&f.name, args.get(2), array_len)?;
                let ir = if f.name == "contains" {
                    // Every byte read is compared against the whole string: say which bound fits
                    // here rather than let the whole assert fail the cost limit.
                    let per_byte = lit.len() as u64 + 1;
                    let cost = (u64::from(max) + 1) * per_byte;
                    if cost > u64::from(MAX_INVARIANT_COST) {
                        let fits = (u64::from(MAX_INVARIANT_COST) / per_byte).saturating_sub(2);
                        return err(
                            span,
                            format!(
                                "`contains` of a {}-byte string scanning up to {max} bytes costs {cost}, above the \
                                 limit of {MAX_INVARIANT_COST}; give a bound of at most {fits}",
                                lit.len()
                            ),
                        );
                    }
                    Ir::StrContains(Box::new(addr), lit, max)
                } else {
                    Ir::StrSuffix(Box::new(addr), lit, max)
                };
                Ok(Val::R { ir, sc: Sc::Bool, ty: None })
            }
            "charset" => {
                argc(2..=3)?;
                let (addr, array_len) = self.string_arg(&args[0], ctx)?;
                let bits = self.class(&args[1], ctx)?;
                let max = self.string_bound(&f.name, args.get(2), array_len)?;
                Ok(Val::R { ir: Ir::StrClass(Box::new(addr), bits, max), sc: Sc::Bool, ty: None })
            }
            "startswith" => {
                argc(2..=2)?;
                let v = self.expr(&args[0], ctx)?;
                let addr = self.string_address(v, args[0].span)?;
                match self.expr(&args[1], ctx)? {
                    Val::Str(s) if !s.contains(&0) => {
                        Ok(Val::R { ir: Ir::StrPrefix(Box::new(addr), s), sc: Sc::Bool, ty: None })
                    }
                    Val::Str(_) => err(args[1].span, "string constant contains a NUL byte"),
                    _ => err(args[1].span, "`startswith` needs a string constant as its second argument"),
                }
            }
            "sizeof" => {
                argc(1..=1)?;
                let v = self.expr(&args[0], ctx)?;
                let ty = match &v {
                    Val::L { ty, .. } => Some(*ty),
                    Val::R { ty, .. } => *ty,
                    _ => None,
                };
                let size = ty
                    .and_then(|t| self.prog.size_of(t))
                    .ok_or_else(|| Diag::new(args[0].span, "`sizeof` needs a variable or a typed value"))?;
                let u = self.prog.types.int(8, false);
                Ok(Val::R { ir: Ir::Const(size), sc: Sc::Int { signed: false }, ty: Some(u) })
            }
            other => {
                let names = "`len`, `startswith`, `endswith`, `contains`, `charset` and `sizeof`";
                err(f.span, format!("unknown function `{other}`: the built-ins are {names}"))
            }
        }
    }
}

fn nr_of(abi: Abi, name: &str) -> u32 {
    syscall_names::number(abi, name).unwrap_or(u32::MAX)
}

fn abi_name(abi: Abi) -> &'static str {
    match abi {
        Abi::X86_64 => "x86_64",
        Abi::Ia32 => "ia32",
        Abi::X32 => "x32",
    }
}

fn lit_checked(v: i128, span: Span) -> Res<Val> {
    if in_range(v) {
        Ok(Val::Lit(v))
    } else {
        err(span, "constant overflows 64 bits")
    }
}

/// `a + c` with constant folding.
fn add_const(a: Ir, c: u64) -> Ir {
    if c == 0 {
        return a;
    }
    add(a, Ir::Const(c))
}

fn add(a: Ir, b: Ir) -> Ir {
    match (&a, &b) {
        (Ir::Const(x), Ir::Const(y)) => Ir::Const(x.wrapping_add(*y)),
        // An address in a position-independent image plus a constant stays one (`&f + 4`).
        (Ir::ImageAddr(x), Ir::Const(y)) | (Ir::Const(y), Ir::ImageAddr(x)) => Ir::ImageAddr(x.wrapping_add(*y)),
        (_, Ir::Const(0)) => a,
        (Ir::Const(0), _) => b,
        // (x + c1) + c2 → x + (c1 + c2): keeps member chains short.
        (Ir::Bin(Op::Add, x, c1), Ir::Const(c2)) if c1.as_const().is_some() => {
            Ir::Bin(Op::Add, x.clone(), Box::new(Ir::Const(c1.as_const().unwrap_or(0).wrapping_add(*c2))))
        }
        _ => Ir::Bin(Op::Add, Box::new(a), Box::new(b)),
    }
}

fn mul_const(a: Ir, c: u64) -> Ir {
    match a {
        Ir::Const(x) => Ir::Const(x.wrapping_mul(c)),
        _ if c == 1 => a,
        _ => Ir::Bin(Op::Mul, Box::new(a), Box::new(Ir::Const(c))),
    }
}

/// Folds constant operations (the code generator folds again after all rewriting).
pub fn fold(ir: Ir) -> Ir {
    match ir {
        Ir::Ext { signed, width, e } => match *e {
            Ir::Const(v) => Ir::Const(if signed { width.sext(v) } else { width.zext(v) }),
            other => Ir::Ext { signed, width, e: Box::new(other) },
        },
        other => other,
    }
}
