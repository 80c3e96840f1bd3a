//! Bytecode verifier: everything the evaluator relies on, checked once at decode.
//!
//! Control flow only moves forward, so one pass in address order is an exact abstract
//! interpretation of the stack depth: when the pass reaches an offset, every jump that can
//! land there has already been seen. Pending forward jumps are kept in a small fixed table
//! (no allocation); paths that merge must agree on the depth. Checked here: opcodes and
//! operands, jump targets (inside the code, on an instruction boundary), stack underflow and
//! overflow, unreachable code, depth 1 at the end, constant references (present, right kind,
//! no NUL in C-string constants, at most [`MAX_MATCH_LEN`] bytes for `str_contains` and
//! `str_suffix`) and a worst-case cost bound.

use super::consts::ConstPool;
use super::error::{ConstKind, PolicyError};
use super::op::{decode_insn, Insn, InsnError, MAX_MATCH_LEN, MAX_STACK};

/// Most distinct forward-jump targets that may be pending at one point of the code. Nested
/// short-circuit expressions need one per nesting level.
pub const MAX_PENDING_JUMPS: usize = 32;

/// Upper bound on an invariant's worst-case work: one unit per instruction plus one per guest
/// byte it may read (each instruction executes at most once), plus the comparisons of
/// `str_contains` (the constant's length per byte read) and `str_suffix` (the constant's
/// length, once).
pub const MAX_INVARIANT_COST: u32 = 1 << 17;

/// What the verifier learned about an invariant's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// Deepest stack any path reaches.
    pub max_depth: u8,
    /// Worst-case cost (see [`MAX_INVARIANT_COST`]).
    pub cost: u32,
}

#[derive(Clone, Copy, Default)]
struct Pending {
    target: u32,
    depth: u8,
    from: u16,
}

/// Verifies the code of invariant number `invariant` against the policy's constant pool.
pub fn verify_code(code: &[u8], consts: &ConstPool<'_>, invariant: u16) -> Result<CodeInfo, PolicyError> {
    let len = code.len();
    if len == 0 {
        return Err(PolicyError::EmptyCode { invariant });
    }
    if len > usize::from(u16::MAX) {
        return Err(PolicyError::CodeOutOfRange { invariant, offset: 0, len: u16::MAX });
    }
    let mut pending = [Pending::default(); MAX_PENDING_JUMPS];
    let mut npending = 0usize;
    let mut depth: Option<u8> = Some(0);
    let mut max_depth = 0u8;
    let mut cost = 0u32;
    let mut pc = 0usize;
    loop {
        // Merge the jumps that land here; any pending target we passed was inside the
        // previous instruction.
        let mut i = 0;
        while i < npending {
            let p = pending.get(i).copied().unwrap_or_default();
            if p.target as usize == pc {
                depth = match depth {
                    Some(d) if d != p.depth => {
                        return Err(PolicyError::StackMismatch {
                            invariant,
                            at: pc as u16,
                            expected: p.depth,
                            found: d,
                        })
                    }
                    _ => Some(p.depth),
                };
                npending -= 1;
                let last = pending.get(npending).copied().unwrap_or_default();
                if let Some(slot) = pending.get_mut(i) {
                    *slot = last;
                }
            } else if (p.target as usize) < pc {
                return Err(PolicyError::JumpNotOnBoundary { invariant, at: p.from, target: p.target });
            } else {
                i += 1;
            }
        }
        if pc >= len {
            break;
        }
        let at = pc as u16;
        let d = depth.ok_or(PolicyError::UnreachableCode { invariant, at })?;
        let (insn, next) = decode_insn(code, pc).map_err(|e| insn_error(e, invariant, at))?;
        let extra = check_operands(&insn, consts, invariant, at)?;
        let (pops, pushes) = insn.stack_effect();
        if d < pops {
            return Err(PolicyError::StackUnderflow { invariant, at });
        }
        let after = d - pops + pushes;
        if usize::from(after) > MAX_STACK {
            return Err(PolicyError::StackOverflow { invariant, at });
        }
        max_depth = max_depth.max(after);
        cost = cost.saturating_add(1).saturating_add(extra);
        if let Some(off) = insn.jump_offset() {
            let target = next as u32 + u32::from(off);
            if target as usize > len {
                return Err(PolicyError::JumpOutOfRange { invariant, at, target });
            }
            // `and_then`/`or_else` keep their operand on the taken edge.
            let edge = match insn {
                Insn::AndThen(_) | Insn::OrElse(_) | Insn::Jmp(_) => d,
                _ => after,
            };
            if let Some(p) = pending.iter().take(npending).find(|p| p.target == target) {
                if p.depth != edge {
                    return Err(PolicyError::StackMismatch {
                        invariant,
                        at: target as u16,
                        expected: p.depth,
                        found: edge,
                    });
                }
            } else {
                let slot = pending.get_mut(npending).ok_or(PolicyError::TooManyPendingJumps { invariant, at })?;
                *slot = Pending { target, depth: edge, from: at };
                npending += 1;
            }
        }
        depth = if insn.ends_path() { None } else { Some(after) };
        pc = next;
    }
    if let Some(d) = depth {
        if d != 1 {
            return Err(PolicyError::BadEndDepth { invariant, depth: d });
        }
    }
    if cost > MAX_INVARIANT_COST {
        return Err(PolicyError::InvariantTooCostly { invariant, cost });
    }
    Ok(CodeInfo { max_depth, cost })
}

fn insn_error(e: InsnError, invariant: u16, at: u16) -> PolicyError {
    match e {
        InsnError::BadOpcode(opcode) => PolicyError::BadOpcode { invariant, at, opcode },
        InsnError::Truncated => PolicyError::TruncatedInstruction { invariant, at },
        InsnError::BadArgIndex(index) => PolicyError::BadArgIndex { invariant, at, index },
        InsnError::BadRegister(reg) => PolicyError::BadRegister { invariant, at, reg },
        InsnError::BadExtendWidth(bits) => PolicyError::BadExtendWidth { invariant, at, bits },
        InsnError::BadStrlenBound(max) => PolicyError::BadStrlenBound { invariant, at, max },
    }
}

/// Checks constant references; returns the instruction's cost beyond its one unit: the guest
/// bytes it may read, and for `str_contains`/`str_suffix` the byte comparisons (see
/// [`MAX_INVARIANT_COST`]).
fn check_operands(insn: &Insn, consts: &ConstPool<'_>, invariant: u16, at: u16) -> Result<u32, PolicyError> {
    let need = |index: u16, expected: ConstKind| -> Result<(), PolicyError> {
        match consts.kind(index) {
            None => Err(PolicyError::ConstIndexOutOfRange { invariant, at, index }),
            Some(k) if k != expected => Err(PolicyError::ConstKindMismatch { invariant, at, index, expected }),
            Some(_) => Ok(()),
        }
    };
    // A byte string usable as a C string: no NUL inside (it could never match).
    let c_string = |index: u16| -> Result<&[u8], PolicyError> {
        need(index, ConstKind::Bytes)?;
        let s = consts.bytes(index).ok_or(PolicyError::ConstIndexOutOfRange { invariant, at, index })?;
        if s.contains(&0) {
            return Err(PolicyError::StringConstHasNul { invariant, at, index });
        }
        Ok(s)
    };
    Ok(match *insn {
        Insn::StrEq(c) | Insn::StrPrefix(c) => {
            let s = c_string(c.0)?;
            s.len() as u32 + u32::from(matches!(insn, Insn::StrEq(_)))
        }
        Insn::StrContains(c, max) | Insn::StrSuffix(c, max) => {
            let s = c_string(c.0)?;
            let len = s.len() as u32;
            if s.len() > MAX_MATCH_LEN {
                return Err(PolicyError::MatchConstTooLong { invariant, at, index: c.0, len });
            }
            let bytes = u32::from(max) + 1;
            if matches!(insn, Insn::StrContains(..)) {
                // Each byte read ends a window compared against the whole constant.
                bytes.saturating_mul(len + 1)
            } else {
                // One comparison, at the NUL.
                bytes + len
            }
        }
        Insn::StrClass(c, max) => {
            need(c.0, ConstKind::Class)?;
            u32::from(max) + 1
        }
        Insn::BytesEq(c) => {
            need(c.0, ConstKind::Bytes)?;
            consts.bytes(c.0).map_or(0, |s| s.len() as u32)
        }
        Insn::InSet(c) | Insn::RequireSite(c) => {
            need(c.0, ConstKind::Set)?;
            0
        }
        Insn::Strlen(max) => u32::from(max) + 1,
        Insn::Load { width, .. } => width.bytes() as u32,
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::op::{opcode as o, BinOp, Width};
    use std::vec::Vec;

    const INV: u16 = 3;

    fn pool_section() -> Vec<u8> {
        // c0 = bytes "ab", c1 = set {1, 2}, c2 = bytes "a\0b", c3 = class [a-z], c4 = 257 ×
        // "x", c5 = 256 × "x". Records end at 80; the set sits at 80 (8-aligned), the rest
        // after it.
        let mut s = Vec::new();
        s.extend_from_slice(&6u32.to_le_bytes());
        s.extend_from_slice(&0u32.to_le_bytes());
        for (kind, off, len) in [(1u8, 96u32, 2u32), (2, 80, 2), (1, 98, 3), (3, 101, 32), (1, 133, 257), (1, 133, 256)]
        {
            s.push(kind);
            s.extend_from_slice(&[0, 0, 0]);
            s.extend_from_slice(&off.to_le_bytes());
            s.extend_from_slice(&len.to_le_bytes());
        }
        assert_eq!(s.len(), 80);
        s.extend_from_slice(&1u64.to_le_bytes());
        s.extend_from_slice(&2u64.to_le_bytes());
        s.extend_from_slice(b"ab");
        s.extend_from_slice(b"a\0b");
        s.extend_from_slice(&crate::policy::class_bitmap(&[(b'a', b'z')]));
        s.extend_from_slice(&[b'x'; 257]);
        s
    }

    fn check(code: &[u8]) -> Result<CodeInfo, PolicyError> {
        let s = pool_section();
        let pool = ConstPool::parse(&s, 0).unwrap();
        verify_code(code, &pool, INV)
    }

    fn asm(insns: &[Insn]) -> Vec<u8> {
        let mut v = Vec::new();
        for i in insns {
            let mut b = [0u8; 9];
            let n = i.encode(&mut b).unwrap();
            v.extend_from_slice(&b[..n]);
        }
        v
    }

    #[test]
    fn straight_line_depth_and_cost() {
        let code = asm(&[
            Insn::Arg(2),
            Insn::Push(0x600000),
            Insn::Load { width: Width::W32, signed: false },
            Insn::Bin(BinOp::LeU),
        ]);
        let info = check(&code).unwrap();
        assert_eq!(info.max_depth, 2);
        assert_eq!(info.cost, 4 + 4);
    }

    #[test]
    fn short_circuit_merges_agree() {
        // a && b || c
        let code = [
            o::ARG,
            0,
            o::AND_THEN,
            2,
            0,
            o::ARG,
            1, // L1 at 7
            o::OR_ELSE,
            2,
            0,
            o::ARG,
            2, // L2 at 12
        ];
        let info = check(&code).unwrap();
        assert_eq!(info.max_depth, 1);
        // Jump straight to the end with the value kept.
        assert!(check(&[o::PUSH8, 1, o::JMP, 0, 0]).is_ok());
        // Deny-only invariant: no path reaches the end, depth 0 throughout.
        assert_eq!(check(&[o::DENY]).unwrap().max_depth, 0);
        // if (c) deny; push 1
        assert!(check(&[o::ARG, 0, o::JZ, 1, 0, o::DENY, o::PUSH8, 1]).is_ok());
    }

    #[test]
    fn every_bytecode_error() {
        use PolicyError::*;
        let cases: &[(&[u8], PolicyError)] = &[
            (&[], EmptyCode { invariant: INV }),
            (&[0xEE], BadOpcode { invariant: INV, at: 0, opcode: 0xEE }),
            (&[o::PUSH8, 1, o::PUSH64, 1], TruncatedInstruction { invariant: INV, at: 2 }),
            (&[o::ARG, 6], BadArgIndex { invariant: INV, at: 0, index: 6 }),
            (&[o::REG, 19], BadRegister { invariant: INV, at: 0, reg: 19 }),
            (&[o::PUSH8, 1, o::SEXT, 12], BadExtendWidth { invariant: INV, at: 2, bits: 12 }),
            (&[o::ARG, 0, o::STRLEN, 0x01, 0x10], BadStrlenBound { invariant: INV, at: 2, max: 0x1001 }),
            (&[o::PUSH8, 1, o::JMP, 1, 0], JumpOutOfRange { invariant: INV, at: 2, target: 6 }),
            (&[o::PUSH8, 1, o::JNZ, 1, 0, o::PUSH8, 1], JumpNotOnBoundary { invariant: INV, at: 2, target: 6 }),
            (&[o::BIN_FIRST], StackUnderflow { invariant: INV, at: 0 }),
            (&[o::ARG, 0, o::JZ, 0, 0], BadEndDepth { invariant: INV, depth: 0 }),
            (&[o::PUSH8, 1, o::PUSH8, 2], BadEndDepth { invariant: INV, depth: 2 }),
            (&[o::PUSH8, 1, o::DENY, o::PUSH8, 1], UnreachableCode { invariant: INV, at: 3 }),
            // jz keeps depth 0 on the taken edge, falls through with a push → 1 vs 0.
            (&[o::ARG, 0, o::JZ, 2, 0, o::PUSH8, 1], StackMismatch { invariant: INV, at: 7, expected: 0, found: 1 }),
            (&[o::ARG, 0, o::STR_EQ, 9, 0], ConstIndexOutOfRange { invariant: INV, at: 2, index: 9 }),
            (
                &[o::ARG, 0, o::STR_EQ, 1, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 1, expected: ConstKind::Bytes },
            ),
            (
                &[o::ARG, 0, o::IN_SET, 0, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 0, expected: ConstKind::Set },
            ),
            (
                &[o::REQUIRE_SITE, 0, 0, o::PUSH8, 1],
                ConstKindMismatch { invariant: INV, at: 0, index: 0, expected: ConstKind::Set },
            ),
            (&[o::ARG, 0, o::STR_PREFIX, 2, 0], StringConstHasNul { invariant: INV, at: 2, index: 2 }),
            (&[o::ARG, 0, o::STR_CONTAINS, 2, 0, 8, 0], StringConstHasNul { invariant: INV, at: 2, index: 2 }),
            (&[o::ARG, 0, o::STR_SUFFIX, 2, 0, 8, 0], StringConstHasNul { invariant: INV, at: 2, index: 2 }),
            (&[o::ARG, 0, o::STR_CONTAINS, 9, 0, 8, 0], ConstIndexOutOfRange { invariant: INV, at: 2, index: 9 }),
            (&[o::ARG, 0, o::STR_CLASS, 9, 0, 8, 0], ConstIndexOutOfRange { invariant: INV, at: 2, index: 9 }),
            (
                &[o::ARG, 0, o::STR_SUFFIX, 3, 0, 8, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 3, expected: ConstKind::Bytes },
            ),
            (
                &[o::ARG, 0, o::STR_CLASS, 0, 0, 8, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 0, expected: ConstKind::Class },
            ),
            (
                &[o::ARG, 0, o::STR_CLASS, 1, 0, 8, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 1, expected: ConstKind::Class },
            ),
            (
                &[o::ARG, 0, o::IN_SET, 3, 0],
                ConstKindMismatch { invariant: INV, at: 2, index: 3, expected: ConstKind::Set },
            ),
            (
                &[o::ARG, 0, o::STR_CONTAINS, 4, 0, 8, 0],
                MatchConstTooLong { invariant: INV, at: 2, index: 4, len: 257 },
            ),
            (&[o::ARG, 0, o::STR_SUFFIX, 4, 0, 8, 0], MatchConstTooLong { invariant: INV, at: 2, index: 4, len: 257 }),
            (&[o::ARG, 0, o::STR_CLASS, 3, 0, 0, 0], BadStrlenBound { invariant: INV, at: 2, max: 0 }),
            (&[o::ARG, 0, o::STR_SUFFIX, 0, 0, 0xFF, 0xFF], BadStrlenBound { invariant: INV, at: 2, max: 0xFFFF }),
            (&[o::ARG, 0, o::STR_CONTAINS, 0, 0, 8], TruncatedInstruction { invariant: INV, at: 2 }),
        ];
        for (code, want) in cases {
            assert_eq!(check(code), Err(*want), "{code:x?}");
        }
        // bytes_eq may compare NULs.
        assert!(check(&[o::ARG, 0, o::BYTES_EQ, 2, 0]).is_ok());
        assert!(check(&[o::ARG, 0, o::STR_EQ, 0, 0]).is_ok());
        assert!(check(&[o::REQUIRE_SITE, 1, 0, o::PUSH8, 1]).is_ok());
    }

    #[test]
    fn two_jumps_to_one_target_must_agree() {
        // push 1; jnz L (edge depth 0); push 1; push 2; jmp L (edge depth 2) → mismatch at L.
        let code = [o::PUSH8, 1, o::JNZ, 7, 0, o::PUSH8, 1, o::PUSH8, 2, o::JMP, 0, 0];
        assert_eq!(check(&code), Err(PolicyError::StackMismatch { invariant: INV, at: 12, expected: 0, found: 2 }));
    }

    #[test]
    fn stack_limit() {
        let mut code = Vec::new();
        for _ in 0..MAX_STACK {
            code.extend_from_slice(&[o::PUSH8, 1]);
        }
        code.resize(code.len() + MAX_STACK - 1, o::BIN_FIRST);
        assert_eq!(check(&code).unwrap().max_depth as usize, MAX_STACK);
        let mut over = std::vec![o::PUSH8, 1];
        over.extend_from_slice(&code);
        assert_eq!(check(&over), Err(PolicyError::StackOverflow { invariant: INV, at: (2 * MAX_STACK) as u16 }));
    }

    /// Nested `a && (a && (… && a))`: level i is `arg 0; and_then L_i` (5 bytes); after the
    /// innermost `arg 0` come one `note` per level and L_i sits before the (i+1)-th last
    /// one, so every level has its own pending target.
    fn nested(levels: usize) -> Vec<u8> {
        let mut code = Vec::new();
        for i in 0..levels {
            code.extend_from_slice(&[o::ARG, 0, o::AND_THEN]);
            // label_i = 5·levels + 2 + (levels-1-i); next_i = 5·(i+1).
            let off = (levels - 1 - i) * 5 + 2 + (levels - 1 - i);
            code.extend_from_slice(&(off as u16).to_le_bytes());
        }
        code.extend_from_slice(&[o::ARG, 0]);
        code.extend(core::iter::repeat_n(o::NOTE, levels));
        code
    }

    #[test]
    fn pending_jump_limit() {
        assert_eq!(check(&nested(MAX_PENDING_JUMPS)).unwrap().max_depth, 1);
        assert_eq!(
            check(&nested(MAX_PENDING_JUMPS + 1)),
            Err(PolicyError::TooManyPendingJumps { invariant: INV, at: (MAX_PENDING_JUMPS * 5 + 2) as u16 })
        );
    }

    #[test]
    fn cost_bound() {
        // 40 × strlen 4096 ≈ 164k > 131072.
        let mut code = std::vec![o::ARG, 0];
        for _ in 0..40 {
            code.extend_from_slice(&[o::STRLEN, 0x00, 0x10]);
        }
        assert!(matches!(check(&code), Err(PolicyError::InvariantTooCostly { invariant: INV, .. })));
        let ok = &code[..2 + 3 * 20];
        assert_eq!(check(ok).unwrap().cost, 21 + 20 * 4097);
    }

    #[test]
    fn string_scan_costs() {
        // arg (1) + the scan (1 + its extra).
        let cost = |code: &[u8]| check(code).map(|i| i.cost);
        // contains: (bound + 1) bytes, each compared against the 2-byte constant.
        assert_eq!(cost(&[o::ARG, 0, o::STR_CONTAINS, 0, 0, 10, 0]), Ok(2 + 11 * 3));
        // suffix: (bound + 1) bytes and one 2-byte comparison.
        assert_eq!(cost(&[o::ARG, 0, o::STR_SUFFIX, 0, 0, 10, 0]), Ok(2 + 11 + 2));
        assert_eq!(cost(&[o::ARG, 0, o::STR_CLASS, 3, 0, 10, 0]), Ok(2 + 11));
        assert_eq!(cost(&[o::ARG, 0, o::STR_CLASS, 3, 0, 0x00, 0x10]), Ok(2 + 4097));
        // The longest match constant: fine at a small bound, too costly at the largest.
        assert_eq!(cost(&[o::ARG, 0, o::STR_CONTAINS, 5, 0, 100, 0]), Ok(2 + 101 * 257));
        assert_eq!(cost(&[o::ARG, 0, o::STR_SUFFIX, 5, 0, 0x00, 0x10]), Ok(2 + 4097 + 256));
        assert_eq!(
            cost(&[o::ARG, 0, o::STR_CONTAINS, 5, 0, 0x00, 0x10]),
            Err(PolicyError::InvariantTooCostly { invariant: INV, cost: 2 + 4097 * 257 })
        );
        // Stack effect: one address in, one truth value out.
        assert_eq!(check(&[o::ARG, 0, o::STR_CLASS, 3, 0, 8, 0]).unwrap().max_depth, 1);
        assert_eq!(check(&[o::STR_CLASS, 3, 0, 8, 0]), Err(PolicyError::StackUnderflow { invariant: INV, at: 0 }));
    }

    #[test]
    fn too_long_code() {
        let code = std::vec![o::NR; 70_000];
        assert!(matches!(check(&code), Err(PolicyError::CodeOutOfRange { .. })));
    }
}
