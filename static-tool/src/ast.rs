//! Syntax tree of an invariant source file, as the parser builds it (names not yet resolved).

use crate::diag::Span;
use semguard_core::syscall::Abi;

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A whole source file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `policy { … }`.
    Policy(Vec<PolicyOpt>),
    /// `const NAME = value;`.
    Const(ConstDef),
    /// `syscall … ;` / `syscall … { … }`.
    Rule(Rule),
    /// `trace INITIAL { … }`.
    Trace(Trace),
}

/// A policy-level option.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyOpt {
    /// `id N;`
    Id(Expr),
    /// `default allow|deny;`
    Default(bool, Span),
    /// `other_abis allow|deny;`
    OtherAbis(bool, Span),
    /// `single_writer;` — P is the only writer of its memory (see `LANGUAGE.md`).
    SingleWriter(Span),
}

/// `const NAME = expr;` or `const NAME = {…};`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstDef {
    /// The name.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

/// How a rule names a system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallId {
    /// By its Linux name.
    Name(String),
    /// By number.
    Number(u64),
}

/// A system call in a rule header or a trace transition: `[abi:]name` or `[abi:]number`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallName {
    /// The ABI (`x86_64` unless prefixed by `ia32:` or `x32:`).
    pub abi: Abi,
    /// Name or number.
    pub id: CallId,
    /// Where.
    pub span: Span,
}

/// `syscall CALLS [at SITES] BODY` or `syscall class NAME [at SITES] BODY`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The calls the rule is for (empty for a class rule).
    pub calls: Vec<CallName>,
    /// `class NAME`: the rule is for every member of a class of equivalent calls.
    pub class: Option<Ident>,
    /// Call sites (user RIPs) the rule is restricted to, if any: a constant or a set.
    pub site: Option<Expr>,
    /// What the rule says.
    pub body: RuleBody,
    /// The header.
    pub span: Span,
}

/// The body of a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleBody {
    /// `allow;` — allowed without checks.
    Allow,
    /// `deny;` — never allowed.
    Deny,
    /// `{ statements }`.
    Block(Vec<Stmt>),
}

/// A statement inside a rule block.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `assert [label:] expr;`
    Assert {
        /// Name reported in alerts.
        label: Option<Ident>,
        /// The condition.
        expr: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `from SITE, …;` — only from these call sites.
    From {
        /// Constants or sets.
        sites: Vec<Expr>,
        /// The whole statement.
        span: Span,
    },
}

/// `trace INITIAL { STATE: call -> STATE, …; … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Initial state.
    pub initial: Ident,
    /// One entry per `STATE: …;` line.
    pub states: Vec<(Ident, Vec<(CallName, Ident)>)>,
    /// The `trace` keyword.
    pub span: Span,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `~x`
    BitNot,
    /// `!x`
    Not,
    /// `*p`
    Deref,
    /// `&x`
    AddrOf,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    BitOr,
    BitXor,
    BitAnd,
    Shl,
    Shr,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    /// The operator as written.
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::BitAnd => "&",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
    /// True for `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

/// Base of a type name in casts and `sizeof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseType {
    /// `u8 u16 u32 u64 i8 i16 i32 i64`, `char` (= i8), `bool` (1 byte).
    Int {
        /// Bytes.
        size: u8,
        /// Signed.
        signed: bool,
    },
    /// `bool`.
    Bool,
    /// `void` (only behind `*`).
    Void,
    /// `struct NAME` / `union NAME` from P's DWARF.
    Record {
        /// `true` for `union`.
        union: bool,
        /// Tag name.
        name: String,
    },
}

/// A type name: a base and a number of `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeName {
    /// Base type.
    pub base: BaseType,
    /// Levels of pointer.
    pub pointers: u8,
    /// Where.
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What kind.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Expression kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal.
    Int(u64),
    /// `true` / `false`.
    Bool(bool),
    /// `"…"`.
    Str(Vec<u8>),
    /// `b"…"`.
    Bytes(Vec<u8>),
    /// A name: constant, P's variable, enumerator, built-in constant.
    Name(String),
    /// `func::name` — a static variable inside function `func`.
    Scoped(Ident, Ident),
    /// `$name`: register, `$rip`, `$nr`, `$abi`, `$argN`.
    Dollar(String),
    /// `e.field` (also `syscall.arg`).
    Field(Box<Expr>, Ident),
    /// `e->field`.
    Arrow(Box<Expr>, Ident),
    /// `e[i]`.
    Index(Box<Expr>, Box<Expr>),
    /// Unary operator.
    Unary(UnOp, Box<Expr>),
    /// Binary operator.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `e in SET`.
    In(Box<Expr>, Box<Expr>),
    /// `{a, b, …}`.
    Set(Vec<Expr>),
    /// `(T) e`.
    Cast(TypeName, Box<Expr>),
    /// `sizeof(T)`.
    SizeofType(TypeName),
    /// `name(args)`: the built-ins `len`, `startswith`, `sizeof`.
    Call(Ident, Vec<Expr>),
}
