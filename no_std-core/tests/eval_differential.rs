//! Differential test of the evaluator: random expression trees are compiled to bytecode
//! (through the public assembler and encoder, so they also pass the verifier) and their
//! verdict is compared with a direct recursive interpretation of the tree — same value,
//! same fault, same fault address, same noted values.

mod policy_support;

use policy_support::Mem;
use proptest::prelude::*;
use semguard_core::eval::{evaluate_with_stats, EvalFault, EvalStats, Verdict, ViolationKind};
use semguard_core::policy::{
    class_bitmap, BinOp, CodeWriter, ConstId, ConstSpec, DefaultAction, Insn, InvariantSpec, Policy, PolicyBuilder,
    Width,
};
use semguard_core::regs::{Reg, Registers};
use semguard_core::syscall::{Abi, Syscall};

const STR: &[u8] = b"ab";
const RAW: &[u8] = b"a\0b";
const SET: [u64; 5] = [0, 1, 0x1000, 0x3000, u64::MAX];
/// The class of `str_class` (constant 3): lowercase letters.
const CLASS: (u8, u8) = (b'a', b'z');

#[derive(Clone, Debug)]
enum Un {
    Neg,
    Inv,
    LNot,
    Sext(Width),
    Zext(Width),
}

#[derive(Clone, Debug)]
enum E {
    Imm(u64),
    Arg(u8),
    Nr,
    Abi,
    Rip,
    Reg(u8),
    Load(Width, bool, Box<E>),
    Un(Un, Box<E>),
    Bin(BinOp, Box<E>, Box<E>),
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
    If(Box<E>, Box<E>, Box<E>),
    Strlen(Box<E>, u16),
    StrEq(Box<E>),
    StrPrefix(Box<E>),
    BytesEq(Box<E>),
    InSet(Box<E>),
    Contains(Box<E>, u16),
    Suffix(Box<E>, u16),
    Class(Box<E>, u16),
    Square(Box<E>),
    SwapSub(Box<E>, Box<E>),
    Note(Box<E>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Div,
    Mem(u64),
    TooLong(u64, u16),
}

struct Ctx<'a> {
    sc: &'a Syscall,
    regs: &'a Registers,
    mem: &'a Mem,
    notes: Vec<u64>,
}

fn byte(mem: &Mem, a: u64) -> Option<u8> {
    mem.byte(a)
}

/// Compares guest bytes with `want` byte by byte; faults at the first unmapped byte before a
/// difference (pages are all-or-nothing, so this is what any chunking must observe).
fn cmp_bytes(mem: &Mem, addr: u64, want: &[u8]) -> Result<bool, Fault> {
    for (i, &w) in want.iter().enumerate() {
        let a = addr.checked_add(i as u64).ok_or(Fault::Mem(addr))?;
        match byte(mem, a) {
            None => return Err(Fault::Mem(a)),
            Some(b) if b != w => return Ok(false),
            Some(_) => {}
        }
    }
    Ok(true)
}

fn reference(e: &E, c: &mut Ctx) -> Result<u64, Fault> {
    Ok(match e {
        E::Imm(v) => *v,
        E::Arg(i) => c.sc.args[*i as usize],
        E::Nr => u64::from(c.sc.nr),
        E::Abi => c.sc.abi as u64,
        E::Rip => c.sc.user_rip,
        E::Reg(r) => c.regs.get(Reg::from_u8(*r).unwrap()),
        E::Load(w, signed, a) => {
            let addr = reference(a, c)?;
            let mut v = 0u64;
            for i in 0..w.bytes() {
                let at = addr.checked_add(i as u64).ok_or(Fault::Mem(addr))?;
                v |= u64::from(byte(c.mem, at).ok_or(Fault::Mem(addr))?) << (8 * i);
            }
            if *signed { w.sext(v) } else { v }
        }
        E::Un(op, a) => {
            let v = reference(a, c)?;
            match op {
                Un::Neg => v.wrapping_neg(),
                Un::Inv => !v,
                Un::LNot => u64::from(v == 0),
                Un::Sext(w) => w.sext(v),
                Un::Zext(w) => w.zext(v),
            }
        }
        E::Bin(op, a, b) => {
            let x = reference(a, c)?;
            let y = reference(b, c)?;
            op.apply(x, y).ok_or(Fault::Div)?
        }
        E::And(a, b) => {
            let x = reference(a, c)?;
            if x == 0 { 0 } else { reference(b, c)? }
        }
        E::Or(a, b) => {
            let x = reference(a, c)?;
            if x != 0 { x } else { reference(b, c)? }
        }
        E::If(k, a, b) => {
            if reference(k, c)? != 0 { reference(a, c)? } else { reference(b, c)? }
        }
        E::Strlen(a, max) => {
            let addr = reference(a, c)?;
            for i in 0..=u64::from(*max) {
                let at = addr.checked_add(i).ok_or(Fault::Mem(addr))?;
                match byte(c.mem, at) {
                    None => return Err(Fault::Mem(at)),
                    Some(0) => return Ok(i),
                    Some(_) => {}
                }
            }
            return Err(Fault::TooLong(addr, *max));
        }
        E::StrEq(a) => {
            let addr = reference(a, c)?;
            let mut want = STR.to_vec();
            want.push(0);
            u64::from(cmp_bytes(c.mem, addr, &want)?)
        }
        E::StrPrefix(a) => {
            let addr = reference(a, c)?;
            u64::from(cmp_bytes(c.mem, addr, STR)?)
        }
        E::BytesEq(a) => {
            let addr = reference(a, c)?;
            u64::from(cmp_bytes(c.mem, addr, RAW)?)
        }
        E::InSet(a) => u64::from(SET.contains(&reference(a, c)?)),
        // Byte by byte, stopping where the answer is known: the first unmapped byte before
        // that is the fault.
        E::Contains(a, max) | E::Suffix(a, max) | E::Class(a, max) => {
            let addr = reference(a, c)?;
            let mut seen = Vec::new();
            for i in 0..=u64::from(*max) {
                let at = addr.checked_add(i).ok_or(Fault::Mem(addr))?;
                let b = byte(c.mem, at).ok_or(Fault::Mem(at))?;
                match e {
                    E::Contains(..) if b == 0 => return Ok(0),
                    E::Suffix(..) if b == 0 => return Ok(u64::from(seen.ends_with(STR))),
                    E::Class(..) if b == 0 => return Ok(1),
                    E::Class(..) if !(CLASS.0..=CLASS.1).contains(&b) => return Ok(0),
                    _ => {}
                }
                seen.push(b);
                if matches!(e, E::Contains(..)) && seen.ends_with(STR) {
                    return Ok(1);
                }
            }
            return match e {
                E::Class(..) => Ok(0),
                _ => Err(Fault::TooLong(addr, *max)),
            };
        }
        E::Square(a) => {
            let v = reference(a, c)?;
            v.wrapping_mul(v)
        }
        E::SwapSub(a, b) => {
            let x = reference(a, c)?;
            let y = reference(b, c)?;
            y.wrapping_sub(x)
        }
        E::Note(a) => {
            let v = reference(a, c)?;
            c.notes.push(v);
            v
        }
    })
}

fn emit(e: &E, w: &mut CodeWriter) {
    match e {
        E::Imm(v) => {
            w.push(*v);
        }
        E::Arg(i) => {
            w.arg(*i);
        }
        E::Nr => {
            w.nr();
        }
        E::Abi => {
            w.emit(Insn::Abi);
        }
        E::Rip => {
            w.rip();
        }
        E::Reg(r) => {
            w.reg(Reg::from_u8(*r).unwrap());
        }
        E::Load(width, signed, a) => {
            emit(a, w);
            w.load(*width, *signed);
        }
        E::Un(op, a) => {
            emit(a, w);
            w.emit(match op {
                Un::Neg => Insn::Neg,
                Un::Inv => Insn::Inv,
                Un::LNot => Insn::LNot,
                Un::Sext(x) => Insn::Sext(*x),
                Un::Zext(x) => Insn::Zext(*x),
            });
        }
        E::Bin(op, a, b) => {
            emit(a, w);
            emit(b, w);
            w.bin(*op);
        }
        E::And(a, b) | E::Or(a, b) => {
            let l = w.label();
            emit(a, w);
            if matches!(e, E::And(..)) { w.and_then(l) } else { w.or_else(l) };
            emit(b, w);
            w.bind(l);
        }
        E::If(k, a, b) => {
            let (other, end) = (w.label(), w.label());
            emit(k, w);
            w.jz(other);
            emit(a, w);
            w.jmp(end).bind(other);
            emit(b, w);
            w.bind(end);
        }
        E::Strlen(a, max) => {
            emit(a, w);
            w.strlen(*max);
        }
        E::StrEq(a) => {
            emit(a, w);
            w.str_eq(ConstId(0));
        }
        E::StrPrefix(a) => {
            emit(a, w);
            w.str_prefix(ConstId(0));
        }
        E::BytesEq(a) => {
            emit(a, w);
            w.bytes_eq(ConstId(2));
        }
        E::InSet(a) => {
            emit(a, w);
            w.in_set(ConstId(1));
        }
        E::Contains(a, max) => {
            emit(a, w);
            w.str_contains(ConstId(0), *max);
        }
        E::Suffix(a, max) => {
            emit(a, w);
            w.str_suffix(ConstId(0), *max);
        }
        E::Class(a, max) => {
            emit(a, w);
            w.str_class(ConstId(3), *max);
        }
        E::Square(a) => {
            emit(a, w);
            w.emit(Insn::Dup).bin(BinOp::Mul);
        }
        E::SwapSub(a, b) => {
            emit(a, w);
            emit(b, w);
            w.emit(Insn::Swap).bin(BinOp::Sub);
        }
        E::Note(a) => {
            emit(a, w);
            w.note();
        }
    }
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W8), Just(Width::W16), Just(Width::W32), Just(Width::W64)]
}

fn ext_width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W8), Just(Width::W16), Just(Width::W32)]
}

fn addr_like() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0x1000u64),
        Just(0x1010),
        Just(0x1020),
        Just(0x1ffe),
        Just(0x1ffc),
        Just(0x3000),
        Just(0x3ff9),
        Just(0x2000),
        Just(u64::MAX - 1),
        0x1000u64..0x2010,
        0x2ff0u64..0x4010,
    ]
}

fn leaf() -> impl Strategy<Value = E> {
    prop_oneof![
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(2),
            Just(63),
            Just(64),
            Just(u64::MAX),
            Just(i64::MIN as u64),
            Just(0x8000_0000),
            any::<u64>()
        ]
        .prop_map(E::Imm),
        addr_like().prop_map(E::Imm),
        (0u8..6).prop_map(E::Arg),
        Just(E::Nr),
        Just(E::Abi),
        Just(E::Rip),
        (0u8..Reg::COUNT).prop_map(E::Reg),
    ]
}

fn expr() -> impl Strategy<Value = E> {
    leaf().prop_recursive(5, 40, 3, |inner| {
        let b = |e| Box::new(e);
        prop_oneof![
            (width(), any::<bool>(), inner.clone()).prop_map(move |(w, s, a)| E::Load(w, s, b(a))),
            (
                prop_oneof![
                    Just(Un::Neg),
                    Just(Un::Inv),
                    Just(Un::LNot),
                    ext_width().prop_map(Un::Sext),
                    ext_width().prop_map(Un::Zext)
                ],
                inner.clone()
            )
                .prop_map(move |(op, a)| E::Un(op, b(a))),
            (proptest::sample::select(BinOp::ALL.to_vec()), inner.clone(), inner.clone())
                .prop_map(move |(op, x, y)| E::Bin(op, b(x), b(y))),
            (inner.clone(), inner.clone()).prop_map(move |(x, y)| E::And(b(x), b(y))),
            (inner.clone(), inner.clone()).prop_map(move |(x, y)| E::Or(b(x), b(y))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(move |(k, x, y)| E::If(b(k), b(x), b(y))),
            (inner.clone(), 1u16..300).prop_map(move |(a, m)| E::Strlen(b(a), m)),
            inner.clone().prop_map(move |a| E::StrEq(b(a))),
            inner.clone().prop_map(move |a| E::StrPrefix(b(a))),
            inner.clone().prop_map(move |a| E::BytesEq(b(a))),
            inner.clone().prop_map(move |a| E::InSet(b(a))),
            (inner.clone(), 1u16..300).prop_map(move |(a, m)| E::Contains(b(a), m)),
            (inner.clone(), 1u16..300).prop_map(move |(a, m)| E::Suffix(b(a), m)),
            (inner.clone(), 1u16..300).prop_map(move |(a, m)| E::Class(b(a), m)),
            inner.clone().prop_map(move |a| E::Square(b(a))),
            (inner.clone(), inner.clone()).prop_map(move |(x, y)| E::SwapSub(b(x), b(y))),
            inner.prop_map(move |a| E::Note(b(a))),
        ]
    })
}

fn memory(fill: &[u8]) -> Mem {
    let mut m = Mem::default();
    // Pseudo-random background with many NULs, then the interesting strings.
    for page in [0x1000u64, 0x3000] {
        for (i, b) in m.page_mut(page).iter_mut().enumerate() {
            let f = fill[i % fill.len()];
            *b = if f % 3 == 0 { 0 } else { f };
        }
    }
    m.write(0x1000, b"ab\0");
    m.write(0x1010, b"abc\0");
    m.write(0x1020, b"a\0b");
    m.write(0x1ffe, b"ab"); // the NUL would be at 0x2000, unmapped
    m.write(0x3ff9, b"a\0b");
    m
}

fn compile(e: &E) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 8192];
    let mut w = CodeWriter::new(&mut buf);
    emit(e, &mut w);
    // Trees with more labels than one writer hands out are skipped, not failures.
    let n = w.finish().ok()?;
    buf.truncate(n);
    Some(buf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2500, ..ProptestConfig::default() })]

    #[test]
    fn evaluator_matches_reference(
        e in expr(),
        args in proptest::array::uniform6(prop_oneof![any::<u64>(), addr_like()]),
        nr in 0u32..400,
        rip in prop_oneof![Just(0x1000u64), any::<u64>()],
        rsi in prop_oneof![any::<u64>(), addr_like()],
        fill in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let Some(code) = compile(&e) else { return Ok(()); };
        let invs = [InvariantSpec { id: 9, name: "expr", code: &code }];
        let class = class_bitmap(&[CLASS]);
        let consts = [ConstSpec::Bytes(STR), ConstSpec::Set(&SET), ConstSpec::Bytes(RAW), ConstSpec::Class(&class)];
        let b = PolicyBuilder { invariants: &invs, constants: &consts, ..PolicyBuilder::new(1, DefaultAction::Allow) };
        let mut blob = vec![0u8; b.encoded_len().unwrap()];
        match b.encode(&mut blob) {
            Ok(_) => {}
            // Too deep or too costly for the verifier: rejected up front, which is the point.
            Err(semguard_core::policy::EncodeError::Invalid(
                semguard_core::policy::PolicyError::StackOverflow { .. }
                | semguard_core::policy::PolicyError::TooManyPendingJumps { .. }
                | semguard_core::policy::PolicyError::InvariantTooCostly { .. },
            )) => return Ok(()),
            Err(other) => panic!("compiled tree rejected: {other:?} for {e:?}"),
        }
        let p = Policy::decode(&blob).unwrap();
        let inv = p.invariant(0).unwrap();
        let sc = Syscall { abi: Abi::X86_64, nr, args, user_rip: rip };
        let regs = Registers { rsi, r15: 0x1010, ..Registers::default() };
        let mut mem = memory(&fill);
        let mut ctx = Ctx { sc: &sc, regs: &regs, mem: &mem.clone(), notes: Vec::new() };
        let want = reference(&e, &mut ctx);
        let mut stats = EvalStats::default();
        let got = evaluate_with_stats(&inv, &sc, &regs, 0, &mut mem, &mut stats);
        prop_assert!(stats.steps as usize <= code.len());
        let notes: Vec<u64> = ctx.notes.iter().copied().take(4).collect();
        match (want, got) {
            (Ok(v), Verdict::Allow) => prop_assert!(v != 0),
            (Ok(0), Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. }) => {
                prop_assert_eq!(values.as_slice(), &notes[..]);
            }
            (Err(Fault::Div), Verdict::Unverifiable { reason: EvalFault::DivideByZero, .. }) => {}
            (Err(Fault::Mem(a)), Verdict::Unverifiable { reason: EvalFault::Memory { addr, .. }, .. }) => {
                prop_assert_eq!(a, addr);
            }
            (Err(Fault::TooLong(a, m)), Verdict::Unverifiable { reason: EvalFault::StringTooLong { addr, max }, .. }) => {
                prop_assert_eq!((a, m), (addr, max));
            }
            (want, got) => prop_assert!(false, "reference {:?}, evaluator {:?}, tree {:?}", want, got, e),
        }
    }
}

#[test]
fn reference_sanity() {
    // The reference itself on fixed inputs (guards against a vacuous comparison).
    let mem = memory(&[1]);
    let sc = Syscall { abi: Abi::X86_64, nr: 3, args: [0x1000, 0, 0, 0, 0, 0], user_rip: 0 };
    let regs = Registers::default();
    let mut c = Ctx { sc: &sc, regs: &regs, mem: &mem, notes: vec![] };
    assert_eq!(reference(&E::StrEq(Box::new(E::Arg(0))), &mut c), Ok(1));
    assert_eq!(reference(&E::StrEq(Box::new(E::Imm(0x1ffe))), &mut c), Err(Fault::Mem(0x2000)));
    assert_eq!(reference(&E::StrPrefix(Box::new(E::Imm(0x1ffe))), &mut c), Ok(1));
    assert_eq!(reference(&E::Strlen(Box::new(E::Imm(0x1010)), 3), &mut c), Ok(3));
    assert_eq!(reference(&E::Strlen(Box::new(E::Imm(0x1010)), 2), &mut c), Err(Fault::TooLong(0x1010, 2)));
    assert_eq!(reference(&E::Bin(BinOp::DivU, Box::new(E::Nr), Box::new(E::Imm(0))), &mut c), Err(Fault::Div));
    assert_eq!(reference(&E::Contains(Box::new(E::Imm(0x1010)), 3), &mut c), Ok(1));
    assert_eq!(reference(&E::Contains(Box::new(E::Imm(0x1ffe)), 3), &mut c), Ok(1));
    assert_eq!(reference(&E::Suffix(Box::new(E::Imm(0x1000)), 2), &mut c), Ok(1));
    assert_eq!(reference(&E::Suffix(Box::new(E::Imm(0x1010)), 3), &mut c), Ok(0));
    assert_eq!(reference(&E::Suffix(Box::new(E::Imm(0x1010)), 2), &mut c), Err(Fault::TooLong(0x1010, 2)));
    assert_eq!(reference(&E::Suffix(Box::new(E::Imm(0x1ffe)), 9), &mut c), Err(Fault::Mem(0x2000)));
    assert_eq!(reference(&E::Class(Box::new(E::Imm(0x1010)), 3), &mut c), Ok(1));
    assert_eq!(reference(&E::Class(Box::new(E::Imm(0x1010)), 2), &mut c), Ok(0));
}
