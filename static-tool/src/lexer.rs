//! Lexer of the invariant language: turns source text into tokens with byte spans.
//!
//! Comments: `#` or `//` to the end of the line, `/* … */`. Integers: decimal, `0x`, `0o`,
//! `0b`, `_` between digits, character literals `'a'`. Strings `"…"` (C-string constants) and
//! byte strings `b"…"`, with the escapes `\n \t \r \0 \\ \" \' \xHH`. `$name` is one token
//! (registers and call properties). Keywords are contextual: the parser decides.

use crate::diag::{Diag, Span};

/// Longest string literal (the policy format's constant limit).
pub const MAX_STRING: usize = semguard_core::policy::format::MAX_CONST_BYTES;

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// Identifier or keyword.
    Ident(String),
    /// `$name`.
    Dollar(String),
    /// Integer literal.
    Int(u64),
    /// `"…"`.
    Str(Vec<u8>),
    /// `b"…"`.
    Bytes(Vec<u8>),
    /// Punctuation and operators, as written.
    Punct(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Dollar(s) => format!("`${s}`"),
            Tok::Int(v) => format!("number `{v}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Bytes(_) => "a byte string".to_string(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its bytes in the source.
    pub span: Span,
}

/// Longest operators first, so `<<` wins over `<`.
const PUNCTS: [&str; 34] = [
    "::", "->", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "..", "(", ")", "{", "}", "[", "]", ",", ";", ":", ".",
    "+", "-", "*", "/", "%", "&", "|", "^", "~", "!", "<", ">", "=",
];

/// Splits `src` into tokens; the last one is [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, Diag> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        // Whitespace and comments.
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            loop {
                if i + 1 >= b.len() {
                    return Err(Diag::new(Span::new(start, start + 2), "unterminated comment: expected `*/`"));
                }
                if b[i] == b'*' && b[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        let start = i;
        // Byte string.
        if c == b'b' && b.get(i + 1) == Some(&b'"') {
            let (bytes, end) = string(src, i + 1)?;
            out.push(Token { tok: Tok::Bytes(bytes), span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(src[start..i].to_string()), span: Span::new(start, i) });
            continue;
        }
        if c == b'$' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            if i == start + 1 {
                return Err(Diag::new(Span::new(start, start + 1), "expected a name after `$` (e.g. `$rax`, `$rip`)"));
            }
            out.push(Token { tok: Tok::Dollar(src[start + 1..i].to_string()), span: Span::new(start, i) });
            continue;
        }
        if c.is_ascii_digit() {
            let (v, end) = number(src, i)?;
            out.push(Token { tok: Tok::Int(v), span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'\'' {
            let (v, end) = char_lit(src, i)?;
            out.push(Token { tok: Tok::Int(v), span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'"' {
            let (bytes, end) = string(src, i)?;
            out.push(Token { tok: Tok::Str(bytes), span: Span::new(start, end) });
            i = end;
            continue;
        }
        match PUNCTS.iter().find(|p| b[i..].starts_with(p.as_bytes())) {
            Some(p) => {
                i += p.len();
                out.push(Token { tok: Tok::Punct(p), span: Span::new(start, i) });
            }
            None => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(Diag::new(Span::new(start, start + ch.len_utf8()), format!("unexpected character `{ch}`")));
            }
        }
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(b.len(), b.len()) });
    Ok(out)
}

fn number(src: &str, start: usize) -> Result<(u64, usize), Diag> {
    let b = src.as_bytes();
    let (radix, mut i) = match (b[start], b.get(start + 1).map(|c| c.to_ascii_lowercase())) {
        (b'0', Some(b'x')) => (16, start + 2),
        (b'0', Some(b'o')) => (8, start + 2),
        (b'0', Some(b'b')) => (2, start + 2),
        _ => (10, start),
    };
    let digits_start = i;
    let mut v: u64 = 0;
    let mut any = false;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        if b[i] == b'_' {
            i += 1;
            continue;
        }
        let d = (b[i] as char).to_digit(radix).ok_or_else(|| {
            Diag::new(Span::new(i, i + 1), format!("`{}` is not a digit of a base-{radix} number", b[i] as char))
        })?;
        v = v
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or_else(|| Diag::new(Span::new(start, i + 1), "number does not fit in 64 bits"))?;
        any = true;
        i += 1;
    }
    if !any {
        return Err(Diag::new(Span::new(start, i.max(digits_start)), "expected digits after the number prefix"));
    }
    Ok((v, i))
}

/// One escape or character starting at `i` (inside a quoted literal); returns its bytes and
/// the next offset.
fn escape(src: &str, i: usize) -> Result<(Vec<u8>, usize), Diag> {
    let b = src.as_bytes();
    if b[i] != b'\\' {
        let ch = src[i..].chars().next().unwrap_or('\0');
        let mut buf = [0u8; 4];
        return Ok((ch.encode_utf8(&mut buf).as_bytes().to_vec(), i + ch.len_utf8()));
    }
    let bad = |len: usize| {
        Diag::new(
            Span::new(i, (i + len).min(b.len())),
            "unknown escape: expected one of \\n \\t \\r \\0 \\\\ \\\" \\' \\xHH",
        )
    };
    let e = *b.get(i + 1).ok_or_else(|| bad(1))?;
    let v = match e {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'0' => 0,
        b'\\' => b'\\',
        b'"' => b'"',
        b'\'' => b'\'',
        b'x' => {
            let hex =
                src.get(i + 2..i + 4).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit())).ok_or_else(|| bad(4))?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| bad(4))?;
            return Ok((vec![v], i + 4));
        }
        _ => return Err(bad(2)),
    };
    Ok((vec![v], i + 2))
}

/// The source span of each byte of the value of the string literal whose `"` is at `open`
/// (every byte of an escape or a multi-byte character gets the span of all of it), so that an
/// error about part of a string's value (a character class) can point at it. `None` if no
/// well-formed string literal starts there.
pub fn string_byte_spans(src: &str, open: usize) -> Option<Vec<Span>> {
    let b = src.as_bytes();
    if b.get(open) != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        match b.get(i) {
            None | Some(b'\n') => return None,
            Some(b'"') => return Some(out),
            Some(_) => {
                let (bytes, next) = escape(src, i).ok()?;
                out.extend(bytes.iter().map(|_| Span::new(i, next)));
                i = next;
            }
        }
    }
}

fn string(src: &str, open: usize) -> Result<(Vec<u8>, usize), Diag> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = open + 1;
    loop {
        match b.get(i) {
            None | Some(b'\n') => {
                return Err(Diag::new(Span::new(open, open + 1), "unterminated string: expected `\"`"));
            }
            Some(b'"') => break,
            Some(_) => {
                let (bytes, next) = escape(src, i)?;
                out.extend_from_slice(&bytes);
                i = next;
            }
        }
    }
    if out.len() > MAX_STRING {
        return Err(Diag::new(
            Span::new(open, i + 1),
            format!("string is {} bytes; the limit is {MAX_STRING}", out.len()),
        ));
    }
    Ok((out, i + 1))
}

fn char_lit(src: &str, open: usize) -> Result<(u64, usize), Diag> {
    let b = src.as_bytes();
    let err = || {
        Diag::new(Span::new(open, open + 1), "bad character literal: expected one character between `'`, e.g. `'a'`")
    };
    if matches!(b.get(open + 1), None | Some(b'\'') | Some(b'\n')) {
        return Err(err());
    }
    let (bytes, next) = escape(src, open + 1)?;
    if b.get(next) != Some(&b'\'') || bytes.len() != 1 {
        return Err(err());
    }
    Ok((u64::from(bytes[0]), next + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_comments() {
        assert_eq!(
            toks("a.b->c # x\n $rax 0x1_0 'A' \"s\\n\" b\"\\x00\" /* c */ <<= :: .."),
            vec![
                Tok::Ident("a".into()),
                Tok::Punct("."),
                Tok::Ident("b".into()),
                Tok::Punct("->"),
                Tok::Ident("c".into()),
                Tok::Dollar("rax".into()),
                Tok::Int(16),
                Tok::Int(65),
                Tok::Str(b"s\n".to_vec()),
                Tok::Bytes(vec![0]),
                Tok::Punct("<<"),
                Tok::Punct("="),
                Tok::Punct("::"),
                Tok::Punct(".."),
                Tok::Eof
            ]
        );
        assert_eq!(toks("0o17 0b101 // x"), vec![Tok::Int(15), Tok::Int(5), Tok::Eof]);
        assert_eq!(toks("\"é\""), vec![Tok::Str("é".as_bytes().to_vec()), Tok::Eof]);
    }

    #[test]
    fn every_lexer_error() {
        let err = |s: &str| lex(s).unwrap_err();
        assert_eq!(err("/* x").msg, "unterminated comment: expected `*/`");
        assert_eq!(err("$ x").msg, "expected a name after `$` (e.g. `$rax`, `$rip`)");
        assert_eq!(err("0x").msg, "expected digits after the number prefix");
        assert_eq!(err("0b102").msg, "`2` is not a digit of a base-2 number");
        assert_eq!(err("18446744073709551616").msg, "number does not fit in 64 bits");
        assert_eq!(err("\"abc").msg, "unterminated string: expected `\"`");
        assert_eq!(err("\"\\q\"").msg, "unknown escape: expected one of \\n \\t \\r \\0 \\\\ \\\" \\' \\xHH");
        let spans = |src: &str, open| {
            string_byte_spans(src, open).map(|v| v.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>())
        };
        assert_eq!(spans("x \"a\\\\b\\x41é\"", 2), Some(vec![(3, 4), (4, 6), (6, 7), (7, 11), (11, 13), (11, 13)]));
        assert_eq!(spans("\"ab", 0), None);
        assert_eq!(spans("ab", 0), None);
        assert_eq!(err("\"\\xZZ\"").span, Span::new(1, 5));
        assert_eq!(err("''").msg, "bad character literal: expected one character between `'`, e.g. `'a'`");
        assert_eq!(err("'ab'").msg, "bad character literal: expected one character between `'`, e.g. `'a'`");
        assert_eq!(err("a @ b").msg, "unexpected character `@`");
        assert_eq!(err("a @ b").span, Span::new(2, 3));
        let long = format!("\"{}\"", "a".repeat(MAX_STRING + 1));
        assert_eq!(err(&long).msg, format!("string is {} bytes; the limit is {MAX_STRING}", MAX_STRING + 1));
        assert_eq!(
            u64::MAX,
            match toks("18446744073709551615")[0] {
                Tok::Int(v) => v,
                _ => 0,
            }
        );
    }
}
