//! Byte classes of `charset(p, "[…]", N)`: the class text (the value of the string literal)
//! parsed into the 256-bit bitmap the policy stores ([`semguard_core::policy::ByteClass`]),
//! and the bitmap printed back as class text for `policy show`.
//!
//! ```text
//! class = "[" ["^"] item+ "]"
//! item  = atom ["-" atom]                 a byte, or an inclusive range of bytes
//! atom  = printable ASCII except \ ] and an inner -
//!       | "\-" | "\]" | "\\" | "\^" | "\xHH"
//! ```
//!
//! A `-` first or last in the class is a literal `-` (`[._-]`); a `^` right after `[` negates
//! the class; bytes above 0x7f are written `\xHH` (a class is over bytes, not characters).
//! NUL can be in no class: it ends the string.
//!
//! The class is the value of a string literal, so in the source each of its backslashes is
//! itself escaped: `"[a\\-z]"`. Messages show what to write in the source.

use semguard_core::policy::format::CLASS_LEN;

/// Why class text is malformed: the message, and which bytes of the text it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassError {
    /// First byte of the text the error is about.
    pub at: usize,
    /// How many bytes (≥ 1).
    pub len: usize,
    /// What is wrong and what to write instead.
    pub msg: String,
}

fn error<T>(at: usize, len: usize, msg: impl Into<String>) -> Result<T, ClassError> {
    Err(ClassError { at, len: len.max(1), msg: msg.into() })
}

/// One atom at `i`: its byte, whether it was escaped, and the offset after it.
fn atom(t: &[u8], i: usize) -> Result<(u8, bool, usize), ClassError> {
    let Some(&c) = t.get(i) else {
        return error(t.len().saturating_sub(1), 1, "unterminated class: expected `]`");
    };
    if c != b'\\' {
        if c == 0 {
            return error(i, 1, "NUL cannot be in a class: it ends the string");
        }
        if !(0x20..0x7f).contains(&c) && c != b'\t' {
            return error(i, 1, format!("write byte {c:#04x} as `\\\\x{c:02x}` in a class (a class is over bytes)"));
        }
        return Ok((c, false, i + 1));
    }
    match t.get(i + 1) {
        Some(&e @ (b'-' | b']' | b'\\' | b'^')) => Ok((e, true, i + 2)),
        Some(b'x') => {
            let hex = t.get(i + 2..i + 4).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
            let Some(v) = hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) else {
                return error(i, 4.min(t.len() - i), "`\\\\x` in a class needs two hex digits, e.g. `\\\\x7f`");
            };
            if v == 0 {
                return error(i, 4, "NUL cannot be in a class: it ends the string");
            }
            Ok((v, true, i + 4))
        }
        _ => error(
            i,
            2.min(t.len() - i),
            "unknown escape in a class: expected one of \\\\- \\\\] \\\\\\\\ \\\\^ \\\\xHH",
        ),
    }
}

/// Parses class text into its bitmap (NUL's bit always clear).
pub fn parse(t: &[u8]) -> Result<[u8; CLASS_LEN], ClassError> {
    if t.first() != Some(&b'[') {
        return error(0, t.len(), "a class is written in brackets, e.g. \"[a-z0-9_]\"");
    }
    let mut i = 1;
    let negate = t.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let first = i;
    let mut ranges: Vec<(u8, u8)> = Vec::new();
    loop {
        match t.get(i) {
            None => return error(t.len() - 1, 1, "unterminated class: expected `]`"),
            Some(b']') => break,
            Some(_) => {}
        }
        let start = i;
        // A `-` first or last stands for itself.
        let lone_dash = t.get(i) == Some(&b'-') && (i == first || t.get(i + 1).is_none_or(|&c| c == b']'));
        let (lo, escaped, next) = if lone_dash { (b'-', true, i + 1) } else { atom(t, i)? };
        if lo == b'-' && !escaped {
            return error(i, 1, "a `-` inside a class is a range: write `\\\\-` for a `-` (or put it first or last)");
        }
        i = next;
        // `lo-hi`, unless the `-` is the last item.
        if t.get(i) == Some(&b'-') && t.get(i + 1).is_some_and(|&c| c != b']') {
            let (hi, escaped, next) = atom(t, i + 1)?;
            if hi == b'-' && !escaped {
                return error(i + 1, 1, "a range cannot end at an unescaped `-`: write `\\\\-`");
            }
            if hi < lo {
                return error(
                    start,
                    next - start,
                    format!("range {} is reversed: write {}-{}", show_span(t, start, next), show(hi), show(lo)),
                );
            }
            ranges.push((lo, hi));
            i = next;
        } else {
            ranges.push((lo, lo));
        }
    }
    if i == first {
        return error(0, i + 1, "empty class: a class needs at least one byte (write `\\\\]` for a `]`)");
    }
    if i + 1 != t.len() {
        return error(i + 1, t.len() - i - 1, "text after the class's closing `]`");
    }
    let mut bits = semguard_core::policy::class_bitmap(&ranges);
    if negate {
        for b in bits.iter_mut() {
            *b = !*b;
        }
    }
    // The string ends at NUL: it is in no class.
    bits[0] &= !1;
    if bits.iter().all(|&b| b == 0) {
        return error(0, t.len(), "the class matches no byte");
    }
    Ok(bits)
}

fn has(bits: &[u8; CLASS_LEN], b: u8) -> bool {
    bits[usize::from(b >> 3)] & (1 << (b & 7)) != 0
}

/// One byte as a class atom.
fn show(b: u8) -> String {
    match b {
        b'-' | b']' | b'\\' | b'^' => format!("\\{}", b as char),
        0x21..=0x7e => (b as char).to_string(),
        _ => format!("\\x{b:02x}"),
    }
}

fn show_span(t: &[u8], from: usize, to: usize) -> String {
    String::from_utf8_lossy(t.get(from..to).unwrap_or(&[])).into_owned()
}

/// The members (NUL excluded) as class items.
fn items(member: impl Fn(u8) -> bool) -> String {
    let mut out = String::new();
    let mut b = 1u16;
    while b <= 255 {
        if !member(b as u8) {
            b += 1;
            continue;
        }
        let lo = b as u8;
        while b < 255 && member((b + 1) as u8) {
            b += 1;
        }
        let hi = b as u8;
        match hi - lo {
            0 => out.push_str(&show(lo)),
            1 => {
                out.push_str(&show(lo));
                out.push_str(&show(hi));
            }
            _ => out.push_str(&format!("{}-{}", show(lo), show(hi))),
        }
        b += 1;
    }
    out
}

/// Class text for a bitmap (the shorter of the class and its negation); [`parse`] reads it
/// back to the same bitmap, NUL's bit aside.
pub fn render(bits: &[u8; CLASS_LEN]) -> String {
    let plain = items(|b| has(bits, b));
    let negated = items(|b| !has(bits, b));
    if plain.is_empty() || (!negated.is_empty() && negated.len() < plain.len()) {
        format!("[^{negated}]")
    } else {
        format!("[{plain}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(t: &str) -> Vec<u8> {
        let bits = parse(t.as_bytes()).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        (0..=255u8).filter(|&b| has(&bits, b)).collect()
    }

    fn err(t: &str) -> (usize, usize, String) {
        let e = parse(t.as_bytes()).unwrap_err();
        (e.at, e.len, e.msg)
    }

    #[test]
    fn classes() {
        assert_eq!(members("[a-c]"), b"abc");
        assert_eq!(
            members("[a-c0-2_]"),
            b"012_abc".iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>()
        );
        assert_eq!(members("[._-]"), b"-._");
        assert_eq!(members("[-a]"), b"-a");
        assert_eq!(members("[a\\-c]"), b"-ac");
        assert_eq!(members("[\\]\\\\\\^]"), b"\\]^");
        assert_eq!(members("[a^]"), b"^a");
        assert_eq!(members("[\\x41-\\x43]"), b"ABC");
        assert_eq!(members("[\\x80-\\xff]"), (0x80..=0xff).collect::<Vec<u8>>());
        assert_eq!(members("[ \t]"), b"\t ");
        assert_eq!(members("[-]"), b"-");
        assert_eq!(members("[a-a]"), b"a");
        // Negation never brings in NUL.
        assert_eq!(members("[^\\x02-\\xff]"), [1]);
        assert_eq!(members("[^/]").len(), 254);
    }

    #[test]
    fn malformed_classes() {
        assert_eq!(err("a-z"), (0, 3, "a class is written in brackets, e.g. \"[a-z0-9_]\"".into()));
        assert_eq!(err(""), (0, 1, "a class is written in brackets, e.g. \"[a-z0-9_]\"".into()));
        assert_eq!(err("[]").0, 0);
        assert!(err("[]").2.starts_with("empty class"));
        assert!(err("[^]").2.starts_with("empty class"));
        assert_eq!(err("[a-z").2, "unterminated class: expected `]`");
        assert_eq!(err("[a-"), (2, 1, "unterminated class: expected `]`".into()));
        assert_eq!(err("[z-a]"), (1, 3, "range z-a is reversed: write a-z".into()));
        assert_eq!(err("[a-c-e]").0, 4);
        assert_eq!(err("[a--]").0, 3);
        assert_eq!(err("[a]x"), (3, 1, "text after the class's closing `]`".into()));
        let escape = r"unknown escape in a class: expected one of \\- \\] \\\\ \\^ \\xHH";
        assert_eq!(err("[\\q]"), (1, 2, escape.into()));
        assert_eq!(err("[\\x4]").0, 1);
        assert_eq!(err("[\\x0g]").2, r"`\\x` in a class needs two hex digits, e.g. `\\x7f`");
        assert_eq!(err("[\\x00]").2, "NUL cannot be in a class: it ends the string");
        assert_eq!(err("[a\0]"), (2, 1, "NUL cannot be in a class: it ends the string".into()));
        assert_eq!(err("[\u{e9}]").0, 1);
        assert_eq!(err("[^\\x01-\\xff]"), (0, 12, "the class matches no byte".into()));
        assert_eq!(err("[\\"), (1, 1, escape.into()));
        assert_eq!(err("[\u{e9}]").2, r"write byte 0xc3 as `\\xc3` in a class (a class is over bytes)");
        assert_eq!(
            err("[a-c-e]").2,
            r"a `-` inside a class is a range: write `\\-` for a `-` (or put it first or last)"
        );
    }

    #[test]
    fn render_reads_back() {
        for t in ["[a-z0-9._-]", "[^/]", "[\\x80-\\xff]", "[-]", "[\\]\\\\^]", "[ab]", "[\\x01]", "[^a]", "[ -~]"] {
            let bits = parse(t.as_bytes()).unwrap();
            let shown = render(&bits);
            assert_eq!(parse(shown.as_bytes()).unwrap(), bits, "{t} → {shown}");
        }
        assert_eq!(render(&parse(b"[a-z0-9._-]").unwrap()), "[\\-.0-9_a-z]");
        assert_eq!(render(&parse(b"[^/]").unwrap()), "[^/]");
        assert_eq!(render(&parse(b"[ab]").unwrap()), "[ab]");
        // Bitmaps the compiler never writes still render (NUL's bit is not shown).
        assert_eq!(render(&[0xFF; CLASS_LEN]), "[\\x01-\\xff]");
        assert_eq!(render(&[0; CLASS_LEN]), "[^\\x01-\\xff]");
    }
}
