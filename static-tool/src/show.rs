//! `semguard policy show`: decodes a policy blob (with the kernel's own decoder) and prints
//! its header, rules, invariants (names and disassembled bytecode), constants, automaton and
//! embedded guest-kernel profile.

use std::fmt::Write;

use semguard_core::policy::op::Disassembler;
use semguard_core::policy::{ConstKind, DefaultAction, Insn, Policy, PolicyError, RuleAction};
use semguard_core::profile::Profile;
use semguard_core::syscall::Abi;
use semguard_core::syscall_names;

/// How many set elements are printed before `…`.
const SET_PREVIEW: usize = 16;

/// `x86_64 write(1)`.
pub fn call_name(abi: Abi, nr: u32) -> String {
    let a = match abi {
        Abi::X86_64 => "x86_64",
        Abi::Ia32 => "ia32",
        Abi::X32 => "x32",
    };
    match syscall_names::name(abi, nr) {
        Some(n) => format!("{a} {n}({nr})"),
        None => format!("{a} #{nr}"),
    }
}

/// Bytes as a quoted string with escapes.
pub fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0 => s.push_str("\\0"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn const_summary(p: &Policy<'_>, index: u16) -> String {
    let pool = p.constants();
    match pool.kind(index) {
        Some(ConstKind::Bytes) => pool.bytes(index).map_or("?".into(), quote),
        // As the source writes it: the class text in a string literal.
        Some(ConstKind::Class) => {
            pool.class(index).map_or("?".into(), |c| quote(crate::charclass::render(c.bits()).as_bytes()))
        }
        Some(ConstKind::Set) => match pool.set(index) {
            Some(set) => {
                let mut items: Vec<String> = set.iter().take(SET_PREVIEW).map(|v| format!("{v:#x}")).collect();
                if set.len() > SET_PREVIEW {
                    items.push(format!("… {} more", set.len() - SET_PREVIEW));
                }
                format!("{{{}}}", items.join(", "))
            }
            None => "?".into(),
        },
        None => "?".into(),
    }
}

/// `identity: build-id <hex> at <vaddr>`: which program the policy was compiled for.
pub fn identity_line(p: &Policy<'_>) -> String {
    match p.identity() {
        Some(id) if id.relative() => format!(
            "identity: build-id {} at base+{:#x} (position-independent, entry base+{:#x})",
            crate::elf::hex(id.build_id()),
            id.note_vaddr(),
            id.entry()
        ),
        Some(id) => format!("identity: build-id {} at {:#x}", crate::elf::hex(id.build_id()), id.note_vaddr()),
        None => "identity: none (a format 1.0 policy: P is known only by the name given to the module)".to_string(),
    }
}

/// The disassembly of `blob`, or why it does not decode.
pub fn show(blob: &[u8]) -> Result<String, PolicyError> {
    let p = Policy::decode(blob)?;
    let mut o = String::new();
    let (major, minor) = p.version();
    let _ = writeln!(
        o,
        "policy id {:#x}, format {major}.{minor}, {} bytes, crc32 {:#010x}",
        p.policy_id(),
        blob.len(),
        p.checksum()
    );
    let _ = writeln!(o, "{}", identity_line(&p));
    let _ = writeln!(
        o,
        "default: {}; other ABIs: {}",
        match p.default_action() {
            DefaultAction::Allow => "allow",
            DefaultAction::Deny => "deny",
        },
        if p.deny_other_abis() { "deny" } else { "allow" }
    );
    let _ = writeln!(o, "\nrules ({}):", p.rule_count());
    for i in 0..p.rule_count() {
        let Some(r) = p.rule(i) else { continue };
        let site = match r.site {
            Some(s) => format!("at {s:#x}"),
            None => "any site".into(),
        };
        let act = match r.action {
            RuleAction::Allow => "allow".to_string(),
            RuleAction::Check(k) => match p.invariant(k) {
                Some(inv) => format!("check #{k} {}", quote(inv.name().unwrap_or("").as_bytes())),
                None => format!("check #{k}"),
            },
        };
        let _ = writeln!(o, "  {:<24} {:<18} {act}", call_name(r.abi, r.nr), site);
    }
    let _ = writeln!(o, "\ninvariants ({}):", p.invariant_count());
    for k in 0..p.invariant_count() {
        let Some(inv) = p.invariant(k) else { continue };
        let _ = writeln!(
            o,
            "  #{k} id {} {} (stack {}, {} bytes)",
            inv.id(),
            quote(inv.name().unwrap_or("").as_bytes()),
            inv.max_stack(),
            inv.code().len()
        );
        for item in Disassembler::new(inv.code()) {
            match item {
                Ok((at, insn)) => {
                    let comment = match insn {
                        Insn::StrEq(c)
                        | Insn::StrPrefix(c)
                        | Insn::StrContains(c, _)
                        | Insn::StrSuffix(c, _)
                        | Insn::StrClass(c, _)
                        | Insn::BytesEq(c)
                        | Insn::InSet(c)
                        | Insn::RequireSite(c) => {
                            format!("    ; {}", const_summary(&p, c.0))
                        }
                        _ => String::new(),
                    };
                    let _ = writeln!(o, "      {at:04x}  {insn}{comment}");
                }
                Err((at, e)) => {
                    let _ = writeln!(o, "      {at:04x}  <{e:?}>");
                }
            }
        }
    }
    let pool = p.constants();
    let _ = writeln!(o, "\nconstants ({}):", pool.len());
    for c in 0..pool.len() {
        let kind = match pool.kind(c) {
            Some(ConstKind::Bytes) => format!("bytes[{}]", pool.bytes(c).map_or(0, <[u8]>::len)),
            Some(ConstKind::Set) => format!("set[{}]", pool.set(c).map_or(0, |s| s.len())),
            Some(ConstKind::Class) => "class".to_string(),
            None => "?".into(),
        };
        let _ = writeln!(o, "  c{c} {kind} {}", const_summary(&p, c));
    }
    match p.automaton() {
        Some(a) => {
            let _ = writeln!(
                o,
                "\nautomaton: {} states, initial {}, {} transitions",
                a.states(),
                a.initial(),
                a.transition_count()
            );
            for t in 0..a.transition_count() {
                if let Some(t) = a.transition(t) {
                    let _ = writeln!(o, "  {} -> {} on {}", t.from, t.to, call_name(t.abi, t.nr));
                }
            }
        }
        None => {
            let _ = writeln!(o, "\nautomaton: none");
        }
    }
    if let Some(k) = p.kernel_profile() {
        let _ = writeln!(o, "\nkernel profile: {} bytes", k.len());
        match Profile::decode(k) {
            Ok(pr) => {
                let _ = writeln!(o, "{}", crate::profile::describe(&pr));
            }
            Err(e) => {
                let _ = writeln!(o, "  (does not decode: {e:?})");
            }
        }
    }
    Ok(o)
}
