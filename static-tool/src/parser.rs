//! Recursive-descent parser of the invariant language (grammar in `LANGUAGE.md`).
//!
//! Recursion is bounded: parentheses, unary operators, indexes and call arguments nest at most
//! [`MAX_NESTING`] deep, and one expression has at most [`MAX_OPERATORS`] operators, so every
//! later pass (which recurses over the tree) is bounded too.

use crate::ast::*;
use crate::diag::{Diag, Span};
use crate::lexer::{lex, Tok, Token};
use semguard_core::syscall::Abi;

/// Deepest nesting of parentheses, unary operators, indexes and calls in one expression.
pub const MAX_NESTING: usize = 32;
/// Most operators in one expression.
pub const MAX_OPERATORS: usize = 256;

/// Parses a whole source file.
pub fn parse(src: &str) -> Result<File, Diag> {
    let toks = lex(src)?;
    let mut p = Parser { toks, pos: 0, nesting: 0, ops: 0 };
    p.file()
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    nesting: usize,
    ops: usize,
}

const TYPE_WORDS: [&str; 13] =
    ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "char", "bool", "void", "struct", "union"];

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof and `pos` never passes it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == w)
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expected(&self, what: &str) -> Diag {
        let t = self.peek();
        Diag::new(t.span, format!("expected {what}, found {}", t.tok.describe()))
    }
    fn expect_punct(&mut self, p: &str) -> Result<Span, Diag> {
        if self.is_punct(p) {
            Ok(self.bump().span)
        } else {
            Err(self.expected(&format!("`{p}`")))
        }
    }
    fn ident(&mut self, what: &str) -> Result<Ident, Diag> {
        match &self.peek().tok {
            Tok::Ident(s) => {
                let name = s.clone();
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            _ => Err(self.expected(what)),
        }
    }
    fn allow_deny(&mut self) -> Result<(bool, Span), Diag> {
        if self.is_word("allow") || self.is_word("deny") {
            let t = self.bump();
            Ok((t.tok == Tok::Ident("allow".into()), t.span))
        } else {
            Err(self.expected("`allow` or `deny`"))
        }
    }

    fn file(&mut self) -> Result<File, Diag> {
        let mut items = Vec::new();
        while self.peek().tok != Tok::Eof {
            items.push(self.item()?);
        }
        Ok(File { items })
    }

    fn item(&mut self) -> Result<Item, Diag> {
        if self.eat_word("policy") {
            self.expect_punct("{")?;
            let mut opts = Vec::new();
            while !self.eat_punct("}") {
                opts.push(self.policy_opt()?);
            }
            return Ok(Item::Policy(opts));
        }
        if self.eat_word("const") {
            let name = self.ident("a constant name")?;
            self.expect_punct("=")?;
            let value = self.top_expr()?;
            self.expect_punct(";")?;
            return Ok(Item::Const(ConstDef { name, value }));
        }
        if self.is_word("syscall") {
            return Ok(Item::Rule(self.rule()?));
        }
        if self.is_word("trace") {
            return Ok(Item::Trace(self.trace()?));
        }
        Err(self.expected("`policy`, `const`, `syscall` or `trace`"))
    }

    fn policy_opt(&mut self) -> Result<PolicyOpt, Diag> {
        let opt = if self.eat_word("id") {
            PolicyOpt::Id(self.top_expr()?)
        } else if self.eat_word("default") {
            let (a, s) = self.allow_deny()?;
            PolicyOpt::Default(a, s)
        } else if self.eat_word("other_abis") {
            let (a, s) = self.allow_deny()?;
            PolicyOpt::OtherAbis(a, s)
        } else if self.is_word("single_writer") {
            PolicyOpt::SingleWriter(self.bump().span)
        } else {
            return Err(self.expected("a policy option (`id`, `default`, `other_abis`, `single_writer`) or `}`"));
        };
        self.expect_punct(";")?;
        Ok(opt)
    }

    fn call_name(&mut self) -> Result<CallName, Diag> {
        let start = self.peek().span;
        let mut abi = Abi::X86_64;
        if let (Tok::Ident(w), Tok::Punct(":")) = (&self.peek().tok, self.peek_at(1)) {
            abi = match w.as_str() {
                "x86_64" => Abi::X86_64,
                "ia32" => Abi::Ia32,
                "x32" => Abi::X32,
                _ => return Err(Diag::new(start, format!("unknown ABI `{w}`: expected `x86_64`, `ia32` or `x32`"))),
            };
            self.bump();
            self.bump();
        }
        let t = self.bump();
        let id = match t.tok {
            Tok::Ident(s) => CallId::Name(s),
            Tok::Int(v) => CallId::Number(v),
            other => {
                return Err(Diag::new(
                    t.span,
                    format!("expected a system call name or number, found {}", other.describe()),
                ))
            }
        };
        Ok(CallName { abi, id, span: start.to(t.span) })
    }

    fn rule(&mut self) -> Result<Rule, Diag> {
        let kw = self.bump().span;
        // `class NAME`: `class` is not a system call, so it is a keyword only here.
        let class_name_next =
            matches!(self.peek_at(1), Tok::Ident(w) if !matches!(w.as_str(), "allow" | "deny" | "at"));
        let (calls, class) = if self.is_word("class") && class_name_next {
            self.bump();
            (Vec::new(), Some(self.ident("a class name")?))
        } else {
            let mut calls = vec![self.call_name()?];
            while self.eat_punct(",") {
                calls.push(self.call_name()?);
            }
            (calls, None)
        };
        let site = if self.eat_word("at") { Some(self.top_expr()?) } else { None };
        let span = kw.to(self.toks[self.pos.saturating_sub(1)].span);
        let body = if self.eat_word("allow") {
            self.expect_punct(";")?;
            RuleBody::Allow
        } else if self.eat_word("deny") {
            self.expect_punct(";")?;
            RuleBody::Deny
        } else if self.eat_punct("{") {
            let mut stmts = Vec::new();
            while !self.eat_punct("}") {
                stmts.push(self.stmt()?);
            }
            RuleBody::Block(stmts)
        } else {
            return Err(self.expected("`allow;`, `deny;`, `at` or `{`"));
        };
        Ok(Rule { calls, class, site, body, span })
    }

    fn stmt(&mut self) -> Result<Stmt, Diag> {
        let start = self.peek().span;
        if self.eat_word("assert") {
            let label = match (&self.peek().tok, self.peek_at(1)) {
                (Tok::Ident(s), Tok::Punct(":")) => Some(Ident { name: s.clone(), span: self.peek().span }),
                (Tok::Str(s), Tok::Punct(":")) => {
                    let name =
                        String::from_utf8(s.clone()).ok().filter(|n| !n.chars().any(char::is_control)).ok_or_else(
                            || Diag::new(self.peek().span, "an assert label must be text without control characters"),
                        )?;
                    Some(Ident { name, span: self.peek().span })
                }
                _ => None,
            };
            if label.is_some() {
                self.bump();
                self.bump();
            }
            let expr = self.top_expr()?;
            let end = self.expect_punct(";")?;
            return Ok(Stmt::Assert { label, expr, span: start.to(end) });
        }
        if self.eat_word("from") {
            let mut sites = vec![self.top_expr()?];
            while self.eat_punct(",") {
                sites.push(self.top_expr()?);
            }
            let end = self.expect_punct(";")?;
            return Ok(Stmt::From { sites, span: start.to(end) });
        }
        Err(self.expected("`assert`, `from` or `}`"))
    }

    fn trace(&mut self) -> Result<Trace, Diag> {
        let span = self.bump().span;
        let initial = self.ident("the initial state's name")?;
        self.expect_punct("{")?;
        let mut states = Vec::new();
        while !self.eat_punct("}") {
            let state = self.ident("a state name or `}`")?;
            self.expect_punct(":")?;
            let mut ts = Vec::new();
            loop {
                let call = self.call_name()?;
                self.expect_punct("->")?;
                let to = self.ident("the target state's name")?;
                ts.push((call, to));
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(";")?;
            states.push((state, ts));
        }
        Ok(Trace { initial, states, span })
    }

    // ---- expressions ----

    fn top_expr(&mut self) -> Result<Expr, Diag> {
        self.ops = 0;
        self.nesting = 0;
        self.expr()
    }

    fn count_op(&mut self, span: Span) -> Result<(), Diag> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            return Err(Diag::new(
                span,
                format!("expression has more than {MAX_OPERATORS} operators; split it into several asserts"),
            ));
        }
        Ok(())
    }

    fn nest<T>(&mut self, span: Span, f: impl FnOnce(&mut Self) -> Result<T, Diag>) -> Result<T, Diag> {
        if self.nesting >= MAX_NESTING {
            return Err(Diag::new(span, format!("expression nested too deeply (limit {MAX_NESTING})")));
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn expr(&mut self) -> Result<Expr, Diag> {
        let span = self.peek().span;
        self.nest(span, |p| p.or())
    }

    fn binary_level(
        &mut self,
        ops: &[(&'static str, BinOp)],
        next: fn(&mut Self) -> Result<Expr, Diag>,
    ) -> Result<Expr, Diag> {
        let mut lhs = next(self)?;
        loop {
            let Some(&(_, op)) = ops.iter().find(|(t, _)| self.is_punct(t)) else { return Ok(lhs) };
            let at = self.bump().span;
            self.count_op(at)?;
            let rhs = next(self)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
    }

    fn or(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("||", BinOp::Or)], Self::and)
    }
    fn and(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("&&", BinOp::And)], Self::cmp)
    }
    fn cmp(&mut self) -> Result<Expr, Diag> {
        const OPS: [(&str, BinOp); 6] = [
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ];
        let lhs = self.bitor()?;
        let result = if let Some(&(_, op)) = OPS.iter().find(|(t, _)| self.is_punct(t)) {
            let at = self.bump().span;
            self.count_op(at)?;
            let rhs = self.bitor()?;
            let span = lhs.span.to(rhs.span);
            Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span }
        } else if self.is_word("in") {
            let at = self.bump().span;
            self.count_op(at)?;
            let rhs = self.bitor()?;
            let span = lhs.span.to(rhs.span);
            Expr { kind: ExprKind::In(Box::new(lhs), Box::new(rhs)), span }
        } else {
            return Ok(lhs);
        };
        if OPS.iter().any(|(t, _)| self.is_punct(t)) || self.is_word("in") {
            return Err(Diag::new(self.peek().span, "comparisons cannot be chained: write `a < b && b < c`"));
        }
        Ok(result)
    }
    fn bitor(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("|", BinOp::BitOr)], Self::bitxor)
    }
    fn bitxor(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("^", BinOp::BitXor)], Self::bitand)
    }
    fn bitand(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("&", BinOp::BitAnd)], Self::shift)
    }
    fn shift(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("<<", BinOp::Shl), (">>", BinOp::Shr)], Self::add)
    }
    fn add(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("+", BinOp::Add), ("-", BinOp::Sub)], Self::mul)
    }
    fn mul(&mut self) -> Result<Expr, Diag> {
        self.binary_level(&[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, Diag> {
        let t = self.peek().clone();
        let op = match &t.tok {
            Tok::Punct("-") => Some(UnOp::Neg),
            Tok::Punct("~") => Some(UnOp::BitNot),
            Tok::Punct("!") => Some(UnOp::Not),
            Tok::Punct("*") => Some(UnOp::Deref),
            Tok::Punct("&") => Some(UnOp::AddrOf),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            self.count_op(t.span)?;
            let e = self.nest(t.span, |p| p.unary())?;
            let span = t.span.to(e.span);
            return Ok(Expr { kind: ExprKind::Unary(op, Box::new(e)), span });
        }
        if t.tok == Tok::Punct("(") && self.type_word_at(1) {
            self.bump();
            let ty = self.type_name()?;
            self.expect_punct(")")?;
            self.count_op(t.span)?;
            let e = self.nest(t.span, |p| p.unary())?;
            let span = t.span.to(e.span);
            return Ok(Expr { kind: ExprKind::Cast(ty, Box::new(e)), span });
        }
        self.postfix()
    }

    fn type_word_at(&self, n: usize) -> bool {
        matches!(self.peek_at(n), Tok::Ident(w) if TYPE_WORDS.contains(&w.as_str()))
    }

    fn type_name(&mut self) -> Result<TypeName, Diag> {
        let w = self.ident("a type")?;
        let base = match w.name.as_str() {
            "u8" => BaseType::Int { size: 1, signed: false },
            "u16" => BaseType::Int { size: 2, signed: false },
            "u32" => BaseType::Int { size: 4, signed: false },
            "u64" => BaseType::Int { size: 8, signed: false },
            "i8" | "char" => BaseType::Int { size: 1, signed: true },
            "i16" => BaseType::Int { size: 2, signed: true },
            "i32" => BaseType::Int { size: 4, signed: true },
            "i64" => BaseType::Int { size: 8, signed: true },
            "bool" => BaseType::Bool,
            "void" => BaseType::Void,
            "struct" | "union" => {
                let tag = self.ident("a struct or union name")?;
                BaseType::Record { union: w.name == "union", name: tag.name }
            }
            _ => return Err(Diag::new(w.span, format!("expected a type, found `{}`", w.name))),
        };
        let mut pointers = 0u8;
        let mut span = w.span;
        while self.is_punct("*") {
            span = span.to(self.bump().span);
            pointers = pointers.saturating_add(1);
            if usize::from(pointers) > MAX_NESTING {
                return Err(Diag::new(span, format!("type nested too deeply (limit {MAX_NESTING})")));
            }
        }
        Ok(TypeName { base, pointers, span: w.span.to(span) })
    }

    fn postfix(&mut self) -> Result<Expr, Diag> {
        let mut e = self.primary()?;
        loop {
            if self.is_punct(".") || self.is_punct("->") {
                let t = self.bump();
                self.count_op(t.span)?;
                let field = self.ident("a field name")?;
                let span = e.span.to(field.span);
                let kind = if t.tok == Tok::Punct(".") {
                    ExprKind::Field(Box::new(e), field)
                } else {
                    ExprKind::Arrow(Box::new(e), field)
                };
                e = Expr { kind, span };
            } else if self.is_punct("[") {
                let t = self.bump();
                self.count_op(t.span)?;
                let idx = self.nest(t.span, |p| p.or())?;
                let end = self.expect_punct("]")?;
                let span = e.span.to(end);
                e = Expr { kind: ExprKind::Index(Box::new(e), Box::new(idx)), span };
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, Diag> {
        let t = self.peek().clone();
        let simple = |kind| Ok(Expr { kind, span: t.span });
        match &t.tok {
            Tok::Int(v) => {
                self.bump();
                simple(ExprKind::Int(*v))
            }
            Tok::Str(s) => {
                self.bump();
                simple(ExprKind::Str(s.clone()))
            }
            Tok::Bytes(s) => {
                self.bump();
                simple(ExprKind::Bytes(s.clone()))
            }
            Tok::Dollar(s) => {
                self.bump();
                simple(ExprKind::Dollar(s.clone()))
            }
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.bump();
                simple(ExprKind::Bool(w == "true"))
            }
            Tok::Ident(w) => {
                let name = Ident { name: w.clone(), span: t.span };
                self.bump();
                if self.is_punct("::") {
                    self.bump();
                    let inner = self.ident("a variable name after `::`")?;
                    let span = t.span.to(inner.span);
                    return Ok(Expr { kind: ExprKind::Scoped(name, inner), span });
                }
                if self.is_punct("(") {
                    return self.call(name);
                }
                simple(ExprKind::Name(name.name))
            }
            Tok::Punct("(") => {
                self.bump();
                let e = self.nest(t.span, |p| p.or())?;
                let end = self.expect_punct(")")?;
                Ok(Expr { kind: e.kind, span: t.span.to(end) })
            }
            Tok::Punct("{") => {
                self.bump();
                let mut elems = Vec::new();
                if !self.is_punct("}") {
                    loop {
                        elems.push(self.nest(t.span, |p| p.or())?);
                        if !self.eat_punct(",") || self.is_punct("}") {
                            break;
                        }
                    }
                }
                let end = self.expect_punct("}")?;
                Ok(Expr { kind: ExprKind::Set(elems), span: t.span.to(end) })
            }
            _ => Err(self.expected("an expression")),
        }
    }

    fn call(&mut self, name: Ident) -> Result<Expr, Diag> {
        let open = self.expect_punct("(")?;
        if name.name == "sizeof" && self.type_word_at(0) {
            let ty = self.type_name()?;
            let end = self.expect_punct(")")?;
            return Ok(Expr { kind: ExprKind::SizeofType(ty), span: name.span.to(end) });
        }
        let mut args = Vec::new();
        if !self.is_punct(")") {
            loop {
                args.push(self.nest(open, |p| p.or())?);
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let end = self.expect_punct(")")?;
        let span = name.span.to(end);
        Ok(Expr { kind: ExprKind::Call(name, args), span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(src: &str) -> Expr {
        let f = parse(&format!("const X = {src};")).unwrap();
        match f.items.into_iter().next() {
            Some(Item::Const(c)) => c.value,
            other => panic!("{other:?}"),
        }
    }

    /// Prints an expression fully parenthesised, to check precedence.
    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
            ExprKind::Bytes(s) => format!("b{:?}", s),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Scoped(a, b) => format!("{}::{}", a.name, b.name),
            ExprKind::Dollar(n) => format!("${n}"),
            ExprKind::Field(e, f) => format!("{}.{}", show(e), f.name),
            ExprKind::Arrow(e, f) => format!("{}->{}", show(e), f.name),
            ExprKind::Index(a, i) => format!("{}[{}]", show(a), show(i)),
            ExprKind::Unary(op, e) => format!("({op:?} {})", show(e)),
            ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.text(), show(b)),
            ExprKind::In(a, b) => format!("({} in {})", show(a), show(b)),
            ExprKind::Set(v) => format!("{{{}}}", v.iter().map(show).collect::<Vec<_>>().join(", ")),
            ExprKind::Cast(t, e) => format!("(({:?}*{}) {})", t.base, t.pointers, show(e)),
            ExprKind::SizeofType(t) => format!("sizeof({:?}*{})", t.base, t.pointers),
            ExprKind::Call(n, a) => format!("{}({})", n.name, a.iter().map(show).collect::<Vec<_>>().join(", ")),
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(show(&expr("a || b && c == 1")), "(a || (b && (c == 1)))");
        assert_eq!(show(&expr("f & 3 != 0")), "((f & 3) != 0)");
        assert_eq!(show(&expr("1 + 2 * 3 - 4")), "((1 + (2 * 3)) - 4)");
        assert_eq!(show(&expr("a | b ^ c & d << 1")), "(a | (b ^ (c & (d << 1))))");
        assert_eq!(show(&expr("-*p->q[2].r")), "(Neg (Deref p->q[2].r))");
        assert_eq!(show(&expr("x in {1, 2,}")), "(x in {1, 2})");
        assert_eq!(show(&expr("(u32 *)p")), "((Int { size: 4, signed: false }*1) p)");
        assert_eq!(show(&expr("(a + b) * c")), "((a + b) * c)");
        assert_eq!(show(&expr("main::n + $rax")), "(main::n + $rax)");
        assert_eq!(
            show(&expr("sizeof(struct cfg) + sizeof(x) + len(p, 8)")),
            "((sizeof(Record { union: false, name: \"cfg\" }*0) + sizeof(x)) + len(p, 8))"
        );
        assert_eq!(show(&expr("!true")), "(Not true)");
    }

    #[test]
    fn items() {
        let f = parse(
            "policy { id 7; default deny; other_abis allow; }\n\
             syscall read, ia32:3 allow;\n\
             syscall execve deny;\n\
             syscall write at 0x401000 { from 1, SITES; assert ok: write.count < 10; assert \"x y\": true; }\n\
             trace s { s: openat -> t, x32:0 -> s; t: read -> t; }",
        )
        .unwrap();
        assert_eq!(f.items.len(), 5);
        let Item::Rule(r) = &f.items[1] else { panic!() };
        assert_eq!(r.calls[1], CallName { abi: Abi::Ia32, id: CallId::Number(3), span: Span::new(63, 69) });
        let Item::Rule(r) = &f.items[3] else { panic!() };
        let RuleBody::Block(stmts) = &r.body else { panic!() };
        assert_eq!(stmts.len(), 3);
        assert!(matches!(&stmts[1], Stmt::Assert { label: Some(l), .. } if l.name == "ok"));
        assert!(matches!(&stmts[2], Stmt::Assert { label: Some(l), .. } if l.name == "x y"));
        let Item::Trace(t) = &f.items[4] else { panic!() };
        assert_eq!(t.states.len(), 2);
        assert_eq!(t.states[0].1[1].0.abi, Abi::X32);
    }

    #[test]
    fn classes_and_single_writer() {
        let f = parse(
            "policy { single_writer; }\n\
             syscall class file_open at 0x401000 { assert file_open.path == \"/x\"; }\n\
             syscall class exec deny;",
        )
        .unwrap();
        let Item::Policy(opts) = &f.items[0] else { panic!() };
        assert!(matches!(opts[..], [PolicyOpt::SingleWriter(s)] if s == Span::new(9, 22)));
        let Item::Rule(r) = &f.items[1] else { panic!() };
        assert!(r.calls.is_empty() && r.site.is_some());
        assert_eq!(r.class.as_ref().map(|c| c.name.as_str()), Some("file_open"));
        let Item::Rule(r) = &f.items[2] else { panic!() };
        assert_eq!((r.class.as_ref().map(|c| c.name.as_str()), &r.body), (Some("exec"), &RuleBody::Deny));
        // `class` followed by something else is a call name (the checker says it is unknown).
        let f = parse("syscall class allow;").unwrap();
        let Item::Rule(r) = &f.items[0] else { panic!() };
        assert!(r.class.is_none());
        assert_eq!(err("syscall class 1 allow;"), "expected `allow;`, `deny;`, `at` or `{`, found number `1`");
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().msg
    }

    #[test]
    fn every_parser_error() {
        assert_eq!(err("foo"), "expected `policy`, `const`, `syscall` or `trace`, found `foo`");
        assert_eq!(
            err("policy { bar 1; }"),
            "expected a policy option (`id`, `default`, `other_abis`, `single_writer`) or `}`, found `bar`"
        );
        assert_eq!(err("policy { default maybe; }"), "expected `allow` or `deny`, found `maybe`");
        assert_eq!(err("const = 1;"), "expected a constant name, found `=`");
        assert_eq!(err("const X 1;"), "expected `=`, found number `1`");
        assert_eq!(err("const X = 1"), "expected `;`, found end of file");
        assert_eq!(err("syscall arm:read allow;"), "unknown ABI `arm`: expected `x86_64`, `ia32` or `x32`");
        assert_eq!(err("syscall \"read\" allow;"), "expected a system call name or number, found a string");
        assert_eq!(err("syscall read maybe;"), "expected `allow;`, `deny;`, `at` or `{`, found `maybe`");
        assert_eq!(err("syscall read { check x; }"), "expected `assert`, `from` or `}`, found `check`");
        assert_eq!(err("syscall read { assert \"a\nb\": x; }"), "unterminated string: expected `\"`");
        assert_eq!(
            err("syscall read { assert \"a\\tb\": x; }"),
            "an assert label must be text without control characters"
        );
        assert_eq!(err("trace { }"), "expected the initial state's name, found `{`");
        assert_eq!(err("trace s { 1: read -> s; }"), "expected a state name or `}`, found number `1`");
        assert_eq!(err("trace s { s: read s; }"), "expected `->`, found `s`");
        assert_eq!(err("trace s { s: read -> 2; }"), "expected the target state's name, found number `2`");
        assert_eq!(err("const X = a < b < c;"), "comparisons cannot be chained: write `a < b && b < c`");
        assert_eq!(err("const X = a == b in c;"), "comparisons cannot be chained: write `a < b && b < c`");
        assert_eq!(err("const X = ;"), "expected an expression, found `;`");
        assert_eq!(err("const X = a.;"), "expected a field name, found `;`");
        assert_eq!(err("const X = f::1;"), "expected a variable name after `::`, found number `1`");
        assert_eq!(err("const X = (struct 1 *)p;"), "expected a struct or union name, found number `1`");
        assert_eq!(err("const X = (a;"), "expected `)`, found `;`");
        assert_eq!(err("const X = a[1;"), "expected `]`, found `;`");
        assert_eq!(err("const X = {1 2};"), "expected `}`, found number `2`");
        let deep = format!("const X = {}1{};", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert_eq!(err(&deep), format!("expression nested too deeply (limit {MAX_NESTING})"));
        let many = format!("const X = 1{};", " + 1".repeat(MAX_OPERATORS + 1));
        assert_eq!(
            err(&many),
            format!("expression has more than {MAX_OPERATORS} operators; split it into several asserts")
        );
        let stars = format!("const X = (u8 {})p;", "*".repeat(MAX_NESTING + 1));
        assert_eq!(err(&stars), format!("type nested too deeply (limit {MAX_NESTING})"));
        // Positions point at the offending token.
        assert_eq!(parse("const X = 1").unwrap_err().span, Span::new(11, 11));
    }

    #[test]
    fn bounds_hold_for_hostile_input() {
        // Deep unary chains, casts and indexes are all bounded.
        for src in
            ["-".repeat(10_000), "*".repeat(10_000), "(u8)".repeat(10_000), "a".to_string() + &"[a".repeat(10_000)]
        {
            assert!(parse(&format!("const X = {src}1;")).is_err());
        }
        // Many sequential items are fine.
        let many = "syscall read allow;\n".repeat(5000);
        assert_eq!(parse(&many).unwrap().items.len(), 5000);
    }
}
