//! Source positions and error messages a person can act on: `file:line:col: error: …` followed
//! by the offending line and a caret under the spot.

use std::fmt;

/// A byte range of the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One compile error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Where in the invariant source.
    pub span: Span,
    /// What went wrong (and, where it helps, what to write instead).
    pub msg: String,
}

impl Diag {
    /// An error at `span`.
    pub fn new(span: Span, msg: impl Into<String>) -> Self {
        Self { span, msg: msg.into() }
    }
}

/// A source file with its name, for turning byte offsets into line and column.
#[derive(Clone, Debug)]
pub struct Source<'a> {
    /// Name shown in messages.
    pub name: &'a str,
    /// The text.
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// A named source text.
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self { name, text }
    }

    /// 1-based line and column (in characters) of byte offset `at` (clamped to the text).
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = floor_char_boundary(self.text, at.min(self.text.len()));
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..at].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col: error: msg`, the source line, and a caret line.
    pub fn render(&self, d: &Diag) -> String {
        let (line, col) = self.line_col(d.span.start);
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let width = {
            let start = floor_char_boundary(self.text, d.span.start.min(self.text.len()));
            let end = floor_char_boundary(self.text, d.span.end.min(self.text.len())).max(start);
            // Underline at most to the end of the first line.
            let seg = &self.text[start..end];
            seg.split('\n').next().map_or(1, |s| s.chars().count().max(1))
        };
        let pad: String = text.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        format!("{}:{}:{}: error: {}\n  | {}\n  | {}{}", self.name, line, col, d.msg, text, pad, "^".repeat(width))
    }

    /// Only the first line of [`Source::render`] (for tests and one-line logs).
    pub fn short(&self, d: &Diag) -> String {
        let (line, col) = self.line_col(d.span.start);
        format!("{}:{}:{}: {}", self.name, line, col, d.msg)
    }
}

fn floor_char_boundary(s: &str, mut at: usize) -> usize {
    while at > 0 && !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Errors of the tool's commands that are not tied to a source position (I/O, ELF/DWARF
/// trouble, encoder failures).
#[derive(Debug)]
pub struct ToolError(pub String);

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

impl From<String> for ToolError {
    fn from(s: String) -> Self {
        ToolError(s)
    }
}

impl From<&str> for ToolError {
    fn from(s: &str) -> Self {
        ToolError(s.to_string())
    }
}

/// `Err(ToolError(format!(…)))`.
#[macro_export]
macro_rules! tool_err {
    ($($t:tt)*) => { Err($crate::diag::ToolError(format!($($t)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = Source::new("p.sgi", "ab\ncdé f\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(3), (2, 1));
        // 'é' is two bytes; the column counts characters.
        assert_eq!(s.line_col(7), (2, 4));
        assert_eq!(s.line_col(1000), (3, 1));
        let d = Diag::new(Span::new(7, 8), "expected `;`");
        assert_eq!(s.short(&d), "p.sgi:2:4: expected `;`");
        assert_eq!(s.render(&d), "p.sgi:2:4: error: expected `;`\n  | cdé f\n  |    ^");
    }
}
