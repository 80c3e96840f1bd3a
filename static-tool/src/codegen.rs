//! Code generator: checked policy → bytecode (semguard-core's [`CodeWriter`]) → policy blob
//! ([`PolicyBuilder`]), then a decode of the blob with [`Policy::decode`] as a self-check.
//! The kernel only decodes and validates this blob; it never sees the source.

use std::collections::HashMap;

use crate::diag::{Diag, Span};
use crate::ir::{InvBody, Ir, PolicyIr, RuleAct};
use semguard_core::policy::format::{CLASS_LEN, POLICY_DENY_OTHER_ABIS};
use semguard_core::policy::op::MAX_STACK;
use semguard_core::policy::{
    AsmError, AutomatonSpec, CodeWriter, ConstId, ConstSpec, DefaultAction, EncodeError, IdentitySpec, InvariantSpec,
    Policy, PolicyBuilder, PolicyError, RuleAction, RuleSpec, TransitionSpec,
};

/// Most `&&`/`||` in one invariant (labels of one [`CodeWriter`]).
pub const MAX_SHORT_CIRCUITS: usize = semguard_core::policy::encode::MAX_LABELS;
/// Most values noted for an alert (the evaluator keeps four).
const MAX_NOTES: usize = semguard_core::eval::MAX_VALUES;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Const {
    Bytes(Vec<u8>),
    Set(Vec<u64>),
    Class([u8; CLASS_LEN]),
}

#[derive(Default)]
struct Pool {
    items: Vec<Const>,
    index: HashMap<Const, u16>,
}

impl Pool {
    fn add(&mut self, c: Const) -> Result<ConstId, String> {
        if let Some(&i) = self.index.get(&c) {
            return Ok(ConstId(i));
        }
        let i = u16::try_from(self.items.len()).ok().filter(|&i| i < u16::MAX).ok_or("more than 65535 constants")?;
        self.items.push(c.clone());
        self.index.insert(c, i);
        Ok(ConstId(i))
    }
}

/// Folds constant sub-expressions bottom-up.
pub fn fold(ir: Ir) -> Ir {
    let b = |e: Box<Ir>| Box::new(fold(*e));
    match ir {
        Ir::Load { addr, width, signed } => Ir::Load { addr: b(addr), width, signed },
        Ir::Bin(op, x, y) => {
            let (x, y) = (fold(*x), fold(*y));
            match (x.as_const(), y.as_const()) {
                (Some(a), Some(c)) => match op.apply(a, c) {
                    Some(v) => Ir::Const(v),
                    None => Ir::Bin(op, Box::new(x), Box::new(y)),
                },
                _ => Ir::Bin(op, Box::new(x), Box::new(y)),
            }
        }
        Ir::Neg(e) => match fold(*e) {
            Ir::Const(v) => Ir::Const(v.wrapping_neg()),
            e => Ir::Neg(Box::new(e)),
        },
        Ir::Inv(e) => match fold(*e) {
            Ir::Const(v) => Ir::Const(!v),
            e => Ir::Inv(Box::new(e)),
        },
        Ir::LNot(e) => match fold(*e) {
            Ir::Const(v) => Ir::Const(u64::from(v == 0)),
            e => Ir::LNot(Box::new(e)),
        },
        Ir::Ext { signed, width, e } => match fold(*e) {
            Ir::Const(v) => Ir::Const(if signed { width.sext(v) } else { width.zext(v) }),
            e => Ir::Ext { signed, width, e: Box::new(e) },
        },
        // `and_then` keeps a zero left operand and otherwise yields the right one; `or_else`
        // keeps a non-zero left operand.
        Ir::And(x, y) => match (fold(*x), fold(*y)) {
            (Ir::Const(0), _) => Ir::Const(0),
            (Ir::Const(_), y) => y,
            (x, y) => Ir::And(Box::new(x), Box::new(y)),
        },
        Ir::Or(x, y) => match (fold(*x), fold(*y)) {
            (Ir::Const(0), y) => y,
            (Ir::Const(v), _) => Ir::Const(v),
            (x, y) => Ir::Or(Box::new(x), Box::new(y)),
        },
        Ir::StrEq(a, s) => Ir::StrEq(b(a), s),
        Ir::StrPrefix(a, s) => Ir::StrPrefix(b(a), s),
        Ir::BytesEq(a, s) => Ir::BytesEq(b(a), s),
        Ir::Strlen(a, m) => Ir::Strlen(b(a), m),
        Ir::StrContains(a, s, m) => Ir::StrContains(b(a), s, m),
        Ir::StrSuffix(a, s, m) => Ir::StrSuffix(b(a), s, m),
        Ir::StrClass(a, c, m) => Ir::StrClass(b(a), c, m),
        Ir::InSet(e, set) => match fold(*e) {
            Ir::Const(v) => Ir::Const(u64::from(set.binary_search(&v).is_ok())),
            e => Ir::InSet(Box::new(e), set),
        },
        leaf => leaf,
    }
}

/// Evaluation-stack slots `ir` needs.
pub fn stack_depth(ir: &Ir) -> usize {
    match ir {
        Ir::Const(_) | Ir::Nr | Ir::Abi | Ir::Rip | Ir::Reg(_) | Ir::Arg(_) => 1,
        Ir::ImageAddr(_) => 2,
        Ir::Load { addr: e, .. }
        | Ir::Neg(e)
        | Ir::Inv(e)
        | Ir::LNot(e)
        | Ir::Ext { e, .. }
        | Ir::StrEq(e, _)
        | Ir::StrPrefix(e, _)
        | Ir::BytesEq(e, _)
        | Ir::Strlen(e, _)
        | Ir::StrContains(e, ..)
        | Ir::StrSuffix(e, ..)
        | Ir::StrClass(e, ..)
        | Ir::InSet(e, _) => stack_depth(e),
        Ir::Bin(_, a, b) => stack_depth(a).max(stack_depth(b) + 1),
        Ir::And(a, b) | Ir::Or(a, b) => stack_depth(a).max(stack_depth(b)),
    }
}

fn short_circuits(ir: &Ir) -> usize {
    match ir {
        Ir::Const(_) | Ir::ImageAddr(_) | Ir::Nr | Ir::Abi | Ir::Rip | Ir::Reg(_) | Ir::Arg(_) => 0,
        Ir::Load { addr: e, .. }
        | Ir::Neg(e)
        | Ir::Inv(e)
        | Ir::LNot(e)
        | Ir::Ext { e, .. }
        | Ir::StrEq(e, _)
        | Ir::StrPrefix(e, _)
        | Ir::BytesEq(e, _)
        | Ir::Strlen(e, _)
        | Ir::StrContains(e, ..)
        | Ir::StrSuffix(e, ..)
        | Ir::StrClass(e, ..)
        | Ir::InSet(e, _) => short_circuits(e),
        Ir::Bin(_, a, b) => short_circuits(a) + short_circuits(b),
        Ir::And(a, b) | Ir::Or(a, b) => 1 + short_circuits(a) + short_circuits(b),
    }
}

fn emit(w: &mut CodeWriter<'_>, ir: &Ir, pool: &mut Pool) -> Result<(), String> {
    match ir {
        Ir::Const(v) => {
            w.push(*v);
        }
        Ir::ImageAddr(v) => {
            w.push(*v).emit(semguard_core::policy::Insn::ImageBase).bin(semguard_core::policy::BinOp::Add);
        }
        Ir::Nr => {
            w.nr();
        }
        Ir::Abi => {
            w.emit(semguard_core::policy::Insn::Abi);
        }
        Ir::Rip => {
            w.rip();
        }
        Ir::Reg(r) => {
            w.reg(*r);
        }
        Ir::Arg(i) => {
            w.arg(*i);
        }
        Ir::Load { addr, width, signed } => {
            emit(w, addr, pool)?;
            w.load(*width, *signed);
        }
        Ir::Bin(op, a, b) => {
            emit(w, a, pool)?;
            emit(w, b, pool)?;
            w.bin(*op);
        }
        Ir::Neg(e) => {
            emit(w, e, pool)?;
            w.emit(semguard_core::policy::Insn::Neg);
        }
        Ir::Inv(e) => {
            emit(w, e, pool)?;
            w.emit(semguard_core::policy::Insn::Inv);
        }
        Ir::LNot(e) => {
            emit(w, e, pool)?;
            w.lnot();
        }
        Ir::Ext { signed, width, e } => {
            emit(w, e, pool)?;
            if *signed {
                w.emit(semguard_core::policy::Insn::Sext(*width));
            } else {
                w.emit(semguard_core::policy::Insn::Zext(*width));
            }
        }
        Ir::And(a, b) | Ir::Or(a, b) => {
            let l = w.label();
            emit(w, a, pool)?;
            if matches!(ir, Ir::And(..)) {
                w.and_then(l);
            } else {
                w.or_else(l);
            }
            emit(w, b, pool)?;
            w.bind(l);
        }
        Ir::StrEq(a, s) => {
            let c = pool.add(Const::Bytes(s.clone()))?;
            emit(w, a, pool)?;
            w.str_eq(c);
        }
        Ir::StrPrefix(a, s) => {
            let c = pool.add(Const::Bytes(s.clone()))?;
            emit(w, a, pool)?;
            w.str_prefix(c);
        }
        Ir::BytesEq(a, s) => {
            let c = pool.add(Const::Bytes(s.clone()))?;
            emit(w, a, pool)?;
            w.bytes_eq(c);
        }
        Ir::Strlen(a, m) => {
            emit(w, a, pool)?;
            w.strlen(*m);
        }
        Ir::StrContains(a, s, m) => {
            let c = pool.add(Const::Bytes(s.clone()))?;
            emit(w, a, pool)?;
            w.str_contains(c, *m);
        }
        Ir::StrSuffix(a, s, m) => {
            let c = pool.add(Const::Bytes(s.clone()))?;
            emit(w, a, pool)?;
            w.str_suffix(c, *m);
        }
        Ir::StrClass(a, bits, m) => {
            let c = pool.add(Const::Class(*bits))?;
            emit(w, a, pool)?;
            w.str_class(c, *m);
        }
        Ir::InSet(e, set) => {
            let c = pool.add(Const::Set(set.clone()))?;
            emit(w, e, pool)?;
            w.in_set(c);
        }
    }
    Ok(())
}

/// Emits `v` and notes it for the alert unless it is a constant.
fn emit_noted(w: &mut CodeWriter<'_>, v: &Ir, pool: &mut Pool, notes: &mut usize) -> Result<(), String> {
    emit(w, v, pool)?;
    if v.as_const().is_none() && *notes < MAX_NOTES {
        w.note();
        *notes += 1;
    }
    Ok(())
}

/// The top level of an assert: the operands of a comparison and the value tested by `in`
/// are noted, so an alert shows the values that broke the invariant.
fn emit_top(w: &mut CodeWriter<'_>, ir: &Ir, pool: &mut Pool) -> Result<(), String> {
    let mut notes = 0;
    match ir {
        Ir::Bin(op, a, b) if is_cmp(*op) => {
            emit_noted(w, a, pool, &mut notes)?;
            emit_noted(w, b, pool, &mut notes)?;
            w.bin(*op);
            Ok(())
        }
        Ir::InSet(e, set) => {
            let c = pool.add(Const::Set(set.clone()))?;
            emit_noted(w, e, pool, &mut notes)?;
            w.in_set(c);
            Ok(())
        }
        _ => emit(w, ir, pool),
    }
}

fn is_cmp(op: semguard_core::policy::BinOp) -> bool {
    use semguard_core::policy::BinOp::*;
    matches!(op, Eq | Ne | LtU | LeU | GtU | GeU | LtS | LeS | GtS | GeS)
}

fn asm_message(e: AsmError) -> String {
    match e {
        AsmError::TooManyLabels | AsmError::TooManyFixups => {
            format!("too many `&&`/`||` in one assert (limit {MAX_SHORT_CIRCUITS}); split it into several asserts")
        }
        AsmError::BufferFull | AsmError::CodeTooLong => "the assert's code is longer than 65535 bytes".to_string(),
        other => format!("internal assembler error: {other:?}"),
    }
}

/// The invariant an encoder error is about, if any.
fn invariant_of(e: &PolicyError) -> Option<u16> {
    use PolicyError::*;
    match *e {
        EmptyCode { invariant }
        | NameOutOfRange { invariant, .. }
        | NameNotText { invariant }
        | DeclaredStackTooDeep { invariant, .. }
        | StackDeeperThanDeclared { invariant, .. }
        | InvariantTooCostly { invariant, .. }
        | BadOpcode { invariant, .. }
        | TruncatedInstruction { invariant, .. }
        | BadArgIndex { invariant, .. }
        | BadRegister { invariant, .. }
        | BadExtendWidth { invariant, .. }
        | BadStrlenBound { invariant, .. }
        | JumpOutOfRange { invariant, .. }
        | JumpNotOnBoundary { invariant, .. }
        | StackUnderflow { invariant, .. }
        | StackOverflow { invariant, .. }
        | StackMismatch { invariant, .. }
        | UnreachableCode { invariant, .. }
        | BadEndDepth { invariant, .. }
        | TooManyPendingJumps { invariant, .. }
        | ConstIndexOutOfRange { invariant, .. }
        | ConstKindMismatch { invariant, .. }
        | StringConstHasNul { invariant, .. }
        | MatchConstTooLong { invariant, .. } => Some(invariant),
        _ => None,
    }
}

fn policy_error_message(e: &PolicyError) -> String {
    match e {
        PolicyError::InvariantTooCostly { cost, .. } => format!(
            "this assert may read too much guest memory (cost {cost}, limit {}); lower the bounds of `len`, \
             `contains`, `endswith`, `charset` or split it",
            semguard_core::policy::verify::MAX_INVARIANT_COST
        ),
        PolicyError::TooManyPendingJumps { .. } => {
            "too deeply nested `&&`/`||`; split the assert into several asserts".to_string()
        }
        other => format!("the policy encoder rejected this: {other}"),
    }
}

/// Encodes a checked policy (optionally with a guest-kernel profile section and P's identity)
/// and decodes the result again. Errors point at the invariant they are about when there is
/// one.
pub fn encode(
    p: &PolicyIr,
    kernel_profile: Option<&[u8]>,
    identity: Option<IdentitySpec<'_>>,
) -> Result<Vec<u8>, Diag> {
    let mut pool = Pool::default();
    let mut codes: Vec<Vec<u8>> = Vec::with_capacity(p.invariants.len());
    let mut buf = vec![0u8; usize::from(u16::MAX) + 16];
    for inv in &p.invariants {
        let mut w = CodeWriter::new(&mut buf);
        match &inv.body {
            InvBody::Deny => {
                w.deny();
            }
            InvBody::Sites(sites) => {
                let c = pool.add(Const::Set(sites.clone())).map_err(|m| Diag::new(inv.span, m))?;
                w.require_site(c).push(1);
            }
            InvBody::Expr(ir) => {
                let ir = fold(ir.clone());
                let depth = stack_depth(&ir);
                if depth > MAX_STACK {
                    return Err(Diag::new(
                        inv.span,
                        format!("this assert needs {depth} evaluation-stack slots, the limit is {MAX_STACK}; split it"),
                    ));
                }
                if short_circuits(&ir) > MAX_SHORT_CIRCUITS {
                    return Err(Diag::new(inv.span, asm_message(AsmError::TooManyLabels)));
                }
                emit_top(&mut w, &ir, &mut pool).map_err(|m| Diag::new(inv.span, m))?;
            }
        }
        let n = w.finish().map_err(|e| Diag::new(inv.span, asm_message(e)))?;
        codes.push(buf[..n].to_vec());
    }
    if p.invariants.len() >= usize::from(u16::MAX) {
        return Err(Diag::new(Span::default(), format!("{} invariants; the limit is 65534", p.invariants.len())));
    }
    let rules: Vec<RuleSpec> = p
        .rules
        .iter()
        .map(|r| RuleSpec {
            abi: r.abi,
            nr: r.nr,
            site: r.site,
            action: match r.act {
                RuleAct::Allow => RuleAction::Allow,
                RuleAct::Check(i) => RuleAction::Check(i as u16),
            },
        })
        .collect();
    let invs: Vec<InvariantSpec<'_>> = p
        .invariants
        .iter()
        .zip(&codes)
        .map(|(inv, code)| InvariantSpec { id: inv.id, name: &inv.name, code })
        .collect();
    let consts: Vec<ConstSpec<'_>> = pool
        .items
        .iter()
        .map(|c| match c {
            Const::Bytes(b) => ConstSpec::Bytes(b),
            Const::Set(s) => ConstSpec::Set(s),
            Const::Class(c) => ConstSpec::Class(c),
        })
        .collect();
    let transitions: Vec<TransitionSpec> = p
        .automaton
        .iter()
        .flat_map(|a| a.transitions.iter())
        .map(|&(from, abi, nr, to)| TransitionSpec { from, abi, nr, to })
        .collect();
    let automaton = p.automaton.as_ref().map(|a| AutomatonSpec {
        states: a.states.len() as u32,
        initial: a.initial,
        transitions: &transitions,
    });
    let builder = PolicyBuilder {
        policy_id: p.id,
        default_action: if p.default_deny { DefaultAction::Deny } else { DefaultAction::Allow },
        flags: if p.deny_other_abis { POLICY_DENY_OTHER_ABIS } else { 0 },
        rules: &rules,
        invariants: &invs,
        constants: &consts,
        automaton,
        kernel_profile,
        identity,
    };
    let fail = |e: EncodeError| -> Diag {
        match e {
            EncodeError::Invalid(pe) => {
                let span = invariant_of(&pe)
                    .and_then(|i| p.invariants.get(usize::from(i)))
                    .map_or(Span::default(), |inv| inv.span);
                Diag::new(span, policy_error_message(&pe))
            }
            EncodeError::Asm(a) => Diag::new(Span::default(), asm_message(a)),
            EncodeError::TooLarge => Diag::new(Span::default(), "the policy is too large for the format"),
            EncodeError::BufferTooSmall { needed } => {
                Diag::new(Span::default(), format!("internal: encoder wanted {needed} bytes"))
            }
        }
    };
    let len = builder.encoded_len().map_err(fail)?;
    let mut out = vec![0u8; len];
    let n = builder.encode(&mut out).map_err(fail)?;
    out.truncate(n);
    // Self-check: the kernel runs exactly this decoder.
    Policy::decode(&out)
        .map_err(|e| Diag::new(Span::default(), format!("internal: emitted policy does not decode: {e}")))?;
    Ok(out)
}
