//! `semguard policy compile` against a real gcc-built fixture: golden disassembly, the
//! compiled invariants' verdicts under the Assertion Checker on P's real memory image, and
//! every compile-error message with its position.

mod common;

use common::{app, golden, normalise, ElfImage};
use semguard_core::checker::Checker;
use semguard_core::eval::{Verdict, ViolationKind};
use semguard_core::policy::Policy;
use semguard_core::regs::Registers;
use semguard_core::syscall::{Abi, Syscall};
use semguard_static_tool::compile::{compile, load_program};
use semguard_static_tool::diag::Source;
use semguard_static_tool::show::show;

fn app_source() -> String {
    std::fs::read_to_string(common::fixtures().join("app.sgi")).unwrap()
}

fn compile_app(src: &str) -> Vec<u8> {
    let p = app();
    let mut prog = load_program(p.to_str().unwrap()).unwrap();
    match compile(src, &mut prog, None) {
        Ok(c) => c.blob,
        Err(d) => panic!("{}", semguard_static_tool::compile::render("app.sgi", src, &d)),
    }
}

#[test]
fn app_policy_disassembly_is_golden() {
    let src = app_source();
    let blob = compile_app(&src);
    let elf = semguard_static_tool::elf::Elf::read(app().to_str().unwrap()).unwrap();
    golden("app.show", &normalise(&show(&blob).unwrap(), &elf, false));
}

fn sym(name: &str) -> u64 {
    let elf = semguard_static_tool::elf::Elf::read(app().to_str().unwrap()).unwrap();
    elf.symbols.get(name).unwrap_or_else(|| panic!("no symbol {name}")).addr
}

/// A string placed in P's stack area of the image.
const STR_AT: u64 = 0x7ffd_0000;

fn call(nr: u32, args: [u64; 6], rip: u64) -> Syscall {
    Syscall { abi: Abi::X86_64, nr, args, user_rip: rip }
}

fn regs() -> Registers {
    Registers { rsp: 0x7ffd_1000, ..Registers::default() }
}

fn check(blob: &[u8], mem: &mut ElfImage, sc: Syscall) -> Verdict {
    let c = Checker::new(Policy::decode(blob).unwrap());
    c.check_rules(&sc, &regs(), mem)
}

fn failed_name(blob: &[u8], v: &Verdict) -> Option<String> {
    let p = Policy::decode(blob).unwrap();
    match v {
        Verdict::Violation { invariant: Some(r), .. } => p.invariant(r.index).and_then(|i| i.name().map(String::from)),
        _ => None,
    }
}

#[test]
fn compiled_invariants_decide_as_written_on_the_real_memory_image() {
    let blob = compile_app(&app_source());
    let mut mem = ElfImage::load(&app());
    let buf = sym("buf");
    let rip = 0x40_1234;

    // write: count <= config.max_len (4096), fd in {1, 2}, arithmetic over nested members.
    assert_eq!(check(&blob, &mut mem, call(1, [1, buf, 100, 0, 0, 0], rip)), Verdict::Allow);
    let v = check(&blob, &mut mem, call(1, [1, buf, 5000, 0, 0, 0], rip));
    assert_eq!(failed_name(&blob, &v).as_deref(), Some("write: count_ok"));
    match v {
        Verdict::Violation { kind: ViolationKind::InvariantFalse, values, .. } => {
            assert_eq!(values.as_slice(), &[5000, 4096])
        }
        other => panic!("{other:?}"),
    }
    let v = check(&blob, &mut mem, call(1, [7, buf, 10, 0, 0, 0], rip));
    assert_eq!(failed_name(&blob, &v).as_deref(), Some("write: write.fd in {STDOUT_FILENO, STDERR_FILENO}"));
    // fd is `unsigned int`: the upper half of the register is ignored.
    assert_eq!(check(&blob, &mut mem, call(1, [0xdead_0000_0000_0002, buf, 10, 0, 0, 0], rip)), Verdict::Allow);
    // Changing P's memory changes the verdict: lower config.max_len.
    let max_len = sym("config") + 16;
    mem.write(max_len, &50u32.to_le_bytes());
    assert!(!check(&blob, &mut mem, call(1, [1, buf, 100, 0, 0, 0], rip)).is_allow());
    mem.write(max_len, &4096u32.to_le_bytes());

    // openat: the path constant, the /tmp/ prefix, flags.
    let at_fdcwd = (-100i64) as u64;
    for (path, flags, ok) in [
        (&b"/etc/app.conf\0"[..], 0u64, true),
        (b"/tmp/x\0", 0, true),
        (b"/etc/shadow\0", 0, false),
        (b"/etc/app.conf\0", 2, false),
        (b"/etc/app.conf.bak\0", 0, false),
    ] {
        mem.write(STR_AT, path);
        let v = check(&blob, &mut mem, call(257, [at_fdcwd, STR_AT, flags, 0, 0, 0], rip));
        assert_eq!(v.is_allow(), ok, "{:?} {flags}: {v:?}", String::from_utf8_lossy(path));
    }
    // A path longer than the `len` bound is unverifiable (fail-closed), not allowed.
    let long = vec![b'a'; 300];
    mem.write(STR_AT, &long);
    mem.write(STR_AT + 300, &[0]);
    mem.write(STR_AT, b"/tmp/");
    assert!(!check(&blob, &mut mem, call(257, [at_fdcwd, STR_AT, 0, 0, 0, 0], rip)).is_allow());

    // read: pointers, arrays, enums, unions, statics, registers, casts — all hold on the image.
    let v = check(&blob, &mut mem, call(0, [0, buf, 1, 0, 0, 0], rip));
    assert_eq!(v, Verdict::Allow, "{:?}", failed_name(&blob, &v));
    // Point `current` elsewhere: `current->max_len == MAX` fails.
    let current = sym("current");
    mem.write(current, &buf.to_le_bytes());
    let v = check(&blob, &mut mem, call(0, [0, buf, 1, 0, 0, 0], rip));
    assert_eq!(failed_name(&blob, &v).as_deref(), Some("read: current->max_len == MAX && (*current).level == -3"));
    mem.write(current, &sym("config").to_le_bytes());
    // table[1][2] is at config + 48 + (1*3 + 2)*4.
    mem.write(sym("config") + 48 + 20, &7i32.to_le_bytes());
    let v = check(&blob, &mut mem, call(0, [0, buf, 1, 0, 0, 0], rip));
    assert_eq!(failed_name(&blob, &v).as_deref(), Some("read: config.table[1][2] == 6 && buf[0] == 'h'"));
    mem.write(sym("config") + 48 + 20, &6i32.to_le_bytes());

    // Call sites: close only from the two sites; at 0x401000 the site rule replaces the
    // any-site rule and checks fd > 2.
    let v = check(&blob, &mut mem, call(3, [5, 0, 0, 0, 0, 0], 0x40_3000));
    assert!(matches!(v, Verdict::Violation { kind: ViolationKind::WrongCallSite, .. }), "{v:?}");
    assert_eq!(check(&blob, &mut mem, call(3, [5, 0, 0, 0, 0, 0], 0x40_2000)), Verdict::Allow);
    assert_eq!(check(&blob, &mut mem, call(3, [5, 0, 0, 0, 0, 0], 0x40_1000)), Verdict::Allow);
    assert!(!check(&blob, &mut mem, call(3, [1, 0, 0, 0, 0, 0], 0x40_1000)).is_allow());

    // allow / deny / ia32 / other ABIs.
    assert_eq!(check(&blob, &mut mem, call(39, [0; 6], rip)), Verdict::Allow);
    assert!(matches!(
        check(&blob, &mut mem, call(59, [0; 6], rip)),
        Verdict::Violation { kind: ViolationKind::Denied, .. }
    ));
    let ia32_open = Syscall { abi: Abi::Ia32, nr: 5, args: [0; 6], user_rip: rip };
    assert!(matches!(check(&blob, &mut mem, ia32_open), Verdict::Violation { kind: ViolationKind::Denied, .. }));
    let x32 = Syscall { abi: Abi::X32, nr: 1, args: [0; 6], user_rip: rip };
    assert!(matches!(check(&blob, &mut mem, x32), Verdict::Violation { kind: ViolationKind::OtherAbi, .. }));
    // No rule, default allow.
    assert_eq!(check(&blob, &mut mem, call(60, [0; 6], rip)), Verdict::Allow);
}

#[test]
fn trace_automaton_orders_calls() {
    let blob = compile_app("syscall getpid allow; trace s { s: openat -> r; r: read -> r, close -> s; }");
    let c = Checker::new(Policy::decode(&blob).unwrap());
    let mut mem = ElfImage::load(&app());
    let mut st = c.new_process();
    for (nr, ok) in [(257, true), (0, true), (0, true), (3, true), (0, false)] {
        let v = c.check(&mut st, &call(nr, [0; 6], 0x40_1000), &regs(), &mut mem);
        assert_eq!(v.is_allow(), ok, "{nr}: {v:?}");
    }
}

/// Compiles `src`; returns the first error as `line:col: message`.
fn first_error(src: &str) -> String {
    let p = app();
    let mut prog = load_program(p.to_str().unwrap()).unwrap();
    match compile(src, &mut prog, None) {
        Ok(_) => panic!("compiled: {src}"),
        Err(d) => {
            let s = Source::new("t", src);
            s.short(&d[0]).trim_start_matches("t:").to_string()
        }
    }
}

/// `syscall write { assert EXPR; }` → the error.
fn expr_error(expr: &str) -> String {
    first_error(&format!("syscall write {{ assert {expr}; }}"))
}

#[test]
fn every_checker_error_names_the_place_and_the_problem() {
    let mut bad: Vec<String> = Vec::new();
    let mut ck = |actual: String, expected: String| {
        if actual != expected {
            bad.push(format!("  actual:   {actual}\n  expected: {expected}"));
        }
    };
    // Unknown names (with suggestions), scopes, locals, TLS, ambiguity, no debug info.
    ck(expr_error("confg.max_len == 1"), String::from("1:24: unknown variable `confg`; did you mean `config`?"));
    ck(expr_error("counter == 1"), "1:24: `counter` is ambiguous: P has file-static variables of that name in tests/fixtures/app.c, tests/fixtures/app2.c".replace("tests/fixtures/", &format!("{}/", common::fixtures().display())));
    ck(expr_error("scratch == 1"), String::from("1:24: unsupported: `scratch` is a local variable of `main` — only global and static variables have a fixed address"));
    ck(
        expr_error("calls == 1"),
        String::from("1:24: `calls` is a static variable of `bump`, `other`: write `bump::calls`"),
    );
    ck(expr_error("tls_var == 1"), String::from("1:24: unsupported: `tls_var` is a thread-local variable"));
    ck(expr_error("nope::calls == 1"), String::from("1:24: unknown function `nope`"));
    ck(expr_error("bump::nope == 1"), String::from("1:30: function `bump` has no static variable `nope`"));
    ck(
        expr_error("main::scratch == 1"),
        String::from(
            "1:24: unsupported: `scratch` is a local variable of `main` — only static variables have a fixed address",
        ),
    );
    ck(expr_error("_nl_C_locobj == 1"), String::from("1:24: `_nl_C_locobj` has no debug information (compile P with -g), only a symbol: use `&_nl_C_locobj` with a cast, e.g. `*(u32 *)&_nl_C_locobj`"));
    // Members, pointers, arrays.
    ck(
        expr_error("config.max_lenn == 1"),
        String::from("1:31: `struct config` has no member `max_lenn`; did you mean `max_len`?"),
    );
    ck(expr_error("config.bits == 1"), String::from("1:31: unsupported: `bits` is a bit-field"));
    ck(expr_error("current.max_len == 1"), String::from("1:24: this is a pointer to a struct: write `->max_len`"));
    ck(
        expr_error("config->max_len == 1"),
        String::from("1:24: `->` needs a pointer to a struct, found `struct config`: write `.max_len`"),
    );
    ck(
        expr_error("config.max_len.x == 1"),
        "1:24: `.x` needs a struct or union, found `uint32_t`".replace("uint32_t", "unsigned int"),
    );
    ck(expr_error("config == 1"), String::from("1:24: `config` is a struct; name one of its members (name, max_len, level, mode, lim, path, table, bits, raw, half, enabled, next, ratio, huge)"));
    ck(
        expr_error("config.name[16] == 1"),
        String::from("1:36: index 16 is out of bounds for `config.name` (16 elements)"),
    );
    ck(
        expr_error("config.max_len[0] == 1"),
        String::from("1:24: only arrays and pointers can be indexed, found `unsigned int`"),
    );
    ck(expr_error("buf[config.path] == 1"), String::from("1:28: an index must be an integer, found `char *`"));
    ck(expr_error("*config.max_len == 1"), String::from("1:25: `*` needs a pointer, found `unsigned int`"));
    ck(
        expr_error("*write.buf == 1 && *(void *)buf == 1"),
        String::from("1:44: cannot dereference a `void *`: cast it first, e.g. `*(u8 *)p`"),
    );
    ck(expr_error("*hook == 0"), String::from("1:25: cannot dereference a function pointer"));
    ck(
        expr_error("&1 == 0"),
        String::from("1:25: `&` needs a variable, a member, an element or a symbol, found an integer constant"),
    );
    ck(expr_error("config.ratio > 0"), String::from("1:24: unsupported: `config.ratio` is floating-point"));
    ck(expr_error("config.huge > 0"), String::from("1:24: unsupported: `config.huge` is a 16-byte integer"));
    // Types of operators.
    ck(
        expr_error("write.count"),
        String::from(
            "1:24: expected a condition (a comparison, `in`, `&&`, …), found `u64`; for an integer write `x != 0`",
        ),
    );
    ck(expr_error("write.count == 1 && 2"), String::from("1:44: expected a condition (a comparison, `in`, `&&`, …), found an integer constant; for an integer write `x != 0`"));
    ck(
        expr_error("!write.count"),
        String::from("1:25: `!` needs a condition, found `u64`; for an integer write `x == 0`"),
    );
    ck(expr_error("-config.path == 0"), String::from("1:25: `-` needs an integer, found `char *`"));
    ck(
        expr_error("write.count < config.level"),
        "1:24: `<` mixes signed and unsigned operands (`u64` and `int32_t`); cast one side, e.g. `(i64)x` or `(u64)x`"
            .replace("int32_t", "int"),
    );
    ck(expr_error("write.count > -1"), String::from("1:38: negative constant -1 used with an unsigned operand"));
    ck(
        expr_error("config.level < 0xffffffffffffffff"),
        String::from("1:39: constant 18446744073709551615 does not fit a signed operand"),
    );
    ck(expr_error("write.count * config.path > 0"), String::from("1:38: `*` needs an integer, found `char *`"));
    ck(expr_error("write.count / 0 == 1"), String::from("1:38: division by zero"));
    ck(expr_error("1 / 0 == 1"), String::from("1:28: division by zero"));
    ck(expr_error("1 << 64 == 1"), String::from("1:29: shift count must be 0..63"));
    ck(expr_error("0xffffffffffffffff + 1 == 0"), String::from("1:24: constant overflows 64 bits"));
    ck(expr_error("config.enabled < true"), String::from("1:24: cannot compare `_Bool` with a condition using `<`"));
    ck(
        expr_error("write.count in 5"),
        String::from("1:39: `in` needs a set `{…}` or a set constant, found an integer constant"),
    );
    ck(
        expr_error("write.count in {-1}"),
        String::from("1:39: negative constant -1 in a set tested against an unsigned value"),
    );
    ck(
        expr_error("config.level in {0xffffffffffffffff}"),
        String::from("1:40: constant 18446744073709551615 in a set does not fit a signed value"),
    );
    ck(expr_error("config in {1}"), String::from("1:24: `config` is a struct; name one of its members (name, max_len, level, mode, lim, path, table, bits, raw, half, enabled, next, ratio, huge)"));
    ck(
        expr_error("write.count in {config.path}"),
        String::from("1:40: set elements must be integer constants, found `char *`"),
    );
    // Strings.
    ck(
        expr_error("write.count == \"x\""),
        String::from("1:24: a string comparison needs a `char *` or `char` array, found `u64`"),
    );
    ck(
        expr_error("config.table == \"x\""),
        String::from("1:24: a string comparison needs a `char *` or `char` array, found `int [4] [3]`"),
    );
    ck(
        expr_error("config.path < \"x\""),
        String::from("1:24: strings can only be compared with `==` and `!=`, not `<`"),
    );
    ck(
        expr_error("\"a\" == \"a\""),
        String::from("1:24: comparing two string constants: one side must be in P's memory"),
    );
    ck(
        expr_error("config.path == \"a\\0b\""),
        String::from("1:39: string constant contains a NUL byte; compare binary data with a byte string `b\"…\"`"),
    );
    ck(
        expr_error("config.max_len == b\"ab\""),
        String::from("1:24: a byte-string comparison needs a pointer, an array or a struct, found `unsigned int`"),
    );
    ck(
        expr_error("\"x\" + 1 == 1"),
        String::from(
            "1:24: a string can only be compared (`==`, `!=`) or used in `startswith`, `endswith`, `contains`, `charset`"
        ),
    );
    ck(expr_error("{1} == 1"), String::from("1:24: a set can only be used after `in`"));
    ck(
        expr_error("len(config.max_len) == 1"),
        String::from("1:28: a string comparison needs a `char *` or `char` array, found `unsigned int`"),
    );
    ck(expr_error("len(buf, 0) == 1"), String::from("1:33: the bound of `len` must be 1..=4096"));
    ck(expr_error("len() == 1"), String::from("1:24: `len` takes 1 or 2 argument(s), found 0"));
    ck(
        expr_error("startswith(buf, 1)"),
        String::from("1:40: `startswith` needs a string constant as its second argument"),
    );
    ck(expr_error("startswith(buf, \"a\\0\")"), String::from("1:40: string constant contains a NUL byte"));
    ck(expr_error("sizeof(1) == 1"), String::from("1:31: `sizeof` needs a variable or a typed value"));
    ck(
        expr_error("strlen(buf) == 1"),
        String::from(
            "1:24: unknown function `strlen`: the built-ins are `len`, `startswith`, `endswith`, `contains`, `charset` and \
             `sizeof`"
        ),
    );
    // Casts and type names.
    ck(expr_error("(struct nope *)buf == 0"), String::from("1:25: P's DWARF has no `struct nope`"));
    ck(
        expr_error("(struct config)buf == 0"),
        String::from("1:25: cannot cast to a struct or union; cast to a pointer, e.g. `(struct s *)p`"),
    );
    ck(expr_error("(void)buf == 0"), String::from("1:25: cannot cast to `void`"));
    ck(expr_error("(u8 *)config == 0"), String::from("1:30: `config` is a struct; name one of its members (name, max_len, level, mode, lim, path, table, bits, raw, half, enabled, next, ratio, huge)"));
    ck(expr_error("(u8 *)true == 0"), String::from("1:30: cannot cast a condition to a pointer"));
    ck(expr_error("sizeof(struct nope) == 0"), String::from("1:31: P's DWARF has no `struct nope`"));
    ck(expr_error("sizeof(void) == 0"), String::from("1:31: this type has no size"));
    // Registers and arguments.
    ck(expr_error("$rxx == 0"), String::from("1:24: unknown `$rxx`: expected a register (`$rax` … `$r15`, `$rflags`, `$cr3`), `$rip`, `$base`, `$nr`, `$abi` or `$arg0` … `$arg5`"));
    ck(expr_error("$arg6 == 0"), String::from("1:24: unknown `$arg6`: expected a register (`$rax` … `$r15`, `$rflags`, `$cr3`), `$rip`, `$base`, `$nr`, `$abi` or `$arg0` … `$arg5`"));
    ck(
        expr_error("write.cnt == 0"),
        String::from("1:30: `write` has no argument `cnt`; its arguments are: fd, buf, count"),
    );
    ck(
        expr_error("open.flags == 0"),
        String::from("1:24: `open.flags` names an argument of `open`, but this rule is for `write`"),
    );
    ck(
        first_error("syscall getpid { assert getpid.x == 0; }"),
        String::from("1:32: `getpid` has no argument `x`; its arguments are: none"),
    );
    ck(
        first_error("syscall read, write { assert write.count == 0; }"),
        String::from("1:30: `write.count`: this rule is for several calls; name arguments as `$arg0` … `$arg5`"),
    );
    ck(
        first_error("syscall kexec_load { assert kexec_load.flags == 0; }"),
        String::from("1:29: no argument names are known for `kexec_load`; use `$arg0` … `$arg5`"),
    );
    ck(
        first_error("const X = write.count;"),
        String::from("1:11: `write.count`: system-call arguments can only be used inside a `syscall` rule"),
    );
    ck(first_error("const X = $rax;"), String::from("1:11: `$rax` can only be used inside a `syscall` rule"));
    // Items.
    ck(
        first_error("syscall wirte allow;"),
        String::from("1:9: unknown system call `wirte` for x86_64; did you mean `write`?"),
    );
    ck(
        first_error("syscall 4294967296 allow;"),
        String::from("1:9: system-call number 4294967296 does not fit in 32 bits"),
    );
    ck(first_error("syscall write at {} allow;"), String::from("1:18: `at` needs at least one call site"));
    ck(
        first_error("syscall write at \"x\" allow;"),
        String::from("1:18: expected a call-site address: a constant, `&function + offset` or a set of them"),
    );
    ck(first_error("syscall write { from {-1}; }"), String::from("1:22: call site -1 is not an address"));
    ck(first_error("const A = 1; const A = 2;"), String::from("1:20: constant `A` defined twice"));
    ck(
        first_error("const A = buf[0];"),
        String::from(
            "1:11: a constant must be computable at compile time (literals, `sizeof`, `&variable`, other constants)",
        ),
    );
    ck(first_error("policy { id -1; }"), String::from("1:13: expected a non-negative constant"));
    ck(first_error("policy { id 0x100000000; }"), String::from("1:13: policy id 4294967296 does not fit in 32 bits"));
    ck(
        first_error("policy { default deny; default allow; }"),
        String::from("1:32: policy option `default` given twice"),
    );
    ck(first_error("policy { } policy { default deny; }"), String::from("1:29: only one `policy` block is allowed"));
    ck(first_error(""), String::from("1:1: no rule names a x86_64 system call, so `other_abis deny` (the default) would deny every x86_64 call; add rules or write `policy { other_abis allow; }`"));
    ck(first_error("syscall read allow; trace a { a: ia32:read -> a; }"), String::from("1:1: no rule names a ia32 system call, so `other_abis deny` (the default) would deny every ia32 call; add rules or write `policy { other_abis allow; }`"));
    ck(
        first_error("trace a { a: read -> a; } trace b { }"),
        String::from("1:27: only one `trace` automaton is allowed"),
    );
    ck(
        first_error("trace a { a: read -> a, read -> b; }"),
        String::from("1:25: the trace is not deterministic: state `a` already goes to `a` on this call"),
    );
    // Encoder limits reported at the assert.
    let deep = format!("1 == {}write.count{}", "write.count + (".repeat(31), ")".repeat(31));
    ck(expr_error(&deep), String::from("1:17: this assert needs 33 evaluation-stack slots, the limit is 32; split it"));
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn several_errors_are_reported_together_and_rendered_with_the_line() {
    let p = app();
    let mut prog = load_program(p.to_str().unwrap()).unwrap();
    let src = "syscall write {\n    assert nope == 1;\n    assert write.count == \"x\";\n}\n";
    let errs = compile(src, &mut prog, None).unwrap_err();
    assert_eq!(errs.len(), 2);
    let text = semguard_static_tool::compile::render("p.sgi", src, &errs);
    assert!(text.starts_with("p.sgi:2:12: error: unknown variable `nope`"), "{text}");
    assert!(text.contains("\n  |     assert nope == 1;\n  |            ^^^^\n"), "{text}");
    assert!(text.contains("p.sgi:3:12: error: a string comparison needs"), "{text}");
}

#[test]
fn program_loading_errors_are_typed() {
    use semguard_static_tool::diag::{ElfProblem, ToolError};
    // A position-independent file without an entry point (a shared library): no load base.
    let lib = common::build("app-lib.so", &["app2.c"], &["-g", "-O0", "-fpic", "-shared", "-nostartfiles"]);
    let e = load_program(lib.to_str().unwrap()).err().unwrap();
    assert!(matches!(&e, ToolError::Elf { problem: ElfProblem::PositionIndependent, .. }), "{e:?}");
    let e = load_program("/nonexistent/p").err().unwrap();
    assert!(
        matches!(&e, ToolError::Io { path, error } if path == "/nonexistent/p" && error.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    let e = load_program(common::fixtures().join("app.c").to_str().unwrap()).err().unwrap();
    assert!(matches!(&e, ToolError::Elf { problem: ElfProblem::NotElf(_), .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some(), "the parser's reason is kept: {e:?}");
}

#[test]
fn program_loading_errors() {
    let lib = common::build("app-lib.so", &["app2.c"], &["-g", "-O0", "-fpic", "-shared", "-nostartfiles"]);
    let e = load_program(lib.to_str().unwrap()).err().unwrap();
    assert!(e.to_string().contains("has no entry point (a shared library, not a program)"), "{e}");
    let e = load_program("/nonexistent/p").err().unwrap();
    assert_eq!(e.to_string(), "/nonexistent/p: No such file or directory (os error 2)");
    let not_elf = common::fixtures().join("app.c");
    let e = load_program(not_elf.to_str().unwrap()).err().unwrap();
    assert!(e.to_string().contains("not an ELF file"), "{e}");
    // Without -g: names are unknown, with a hint.
    let nodebug = common::build("app-nodebug", &["app.c", "app2.c"], &["-O0", "-static"]);
    let mut prog = load_program(nodebug.to_str().unwrap()).unwrap();
    let errs = compile("syscall write { assert total == 1; }", &mut prog, None).unwrap_err();
    assert_eq!(errs[0].msg, "`total` has no debug information (compile P with -g), only a symbol: use `&total` with a cast, e.g. `*(u32 *)&total`");
    let errs = compile("syscall write { assert totl == 1; }", &mut prog, None).unwrap_err();
    assert_eq!(errs[0].msg, "unknown variable `totl` (P has no DWARF: compile it with -g)");
    // Symbols still work without DWARF.
    assert!(compile("syscall write { assert *(i64 *)&total == -7; from &main + 4; }", &mut prog, None).is_ok());
}

#[test]
fn the_example_in_language_md_compiles() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LANGUAGE.md")).unwrap();
    let start = doc.find("```\n# app.sgi").expect("example block") + 4;
    let end = start + doc[start..].find("```").unwrap();
    let src = &doc[start..end];
    let blob = compile_app(src);
    let p = Policy::decode(&blob).unwrap();
    assert_eq!(p.policy_id(), 0x5e6a4d);
    assert!(p.automaton().is_some());
}

/// `contains`, `endswith` and `charset` (issue 16): compiled for the fixture and decided by the
/// Assertion Checker on P's memory image, shown by `policy show`, and their errors.
#[test]
fn string_predicates_validate_input_on_the_memory_image() {
    let src = "syscall openat {\n\
                   assert no_dotdot: !contains(openat.filename, \"../\", 255);\n\
                   assert not_so: !endswith(openat.filename, \".so\", 255);\n\
                   assert safe: charset(openat.filename, \"[a-z0-9/._-]\", 64);\n\
               }\n\
               syscall write {\n\
                   assert charset(config.name, \"[a-z]\") && contains(log_path, \"/log/\");\n\
                   assert endswith(config.path, \".conf\") && !charset(buf, \"[^a-z]\", 63);\n\
               }\n";
    let blob = compile_app(src);
    let mut mem = ElfImage::load(&app());
    let rip = 0x40_1234;
    let at_fdcwd = (-100i64) as u64;
    let openat = |path: &[u8], mem: &mut ElfImage| {
        mem.write(STR_AT, path);
        let v = check(&blob, mem, call(257, [at_fdcwd, STR_AT, 0, 0, 0, 0], rip));
        match v {
            Verdict::Allow => Ok(()),
            Verdict::Violation { .. } => Err(failed_name(&blob, &v).unwrap_or_default()),
            other => Err(format!("{other:?}")),
        }
    };
    assert_eq!(openat(b"/srv/app/data-1.txt\0", &mut mem), Ok(()));
    assert_eq!(openat(b"/srv/app/../etc/x\0", &mut mem), Err("openat: no_dotdot".into()));
    assert_eq!(openat(b"/usr/lib/evil.so\0", &mut mem), Err("openat: not_so".into()));
    assert_eq!(openat(b"/usr/lib/evil.so.1\0", &mut mem), Ok(()));
    assert_eq!(openat(b"/srv/App\0", &mut mem), Err("openat: safe".into()));
    assert_eq!(openat(b"/srv/a b\0", &mut mem), Err("openat: safe".into()));
    // Longer than charset's 64 but within contains' 255: the class refuses it.
    let mut long = vec![b'a'; 100];
    long.push(0);
    assert_eq!(openat(&long, &mut mem), Err("openat: safe".into()));
    // Longer than contains' bound without an occurrence: unverifiable, never allowed.
    let mut longer = vec![b'a'; 300];
    longer.push(0);
    let v = {
        mem.write(STR_AT, &longer);
        check(&blob, &mut mem, call(257, [at_fdcwd, STR_AT, 0, 0, 0, 0], rip))
    };
    assert!(
        matches!(
            v,
            Verdict::Unverifiable { reason: semguard_core::eval::EvalFault::StringTooLong { max: 255, .. }, .. }
        ),
        "{v:?}"
    );
    // Globals: `config.name` ("app", char[16]: bound 16), `log_path`, `config.path`, `buf`.
    let buf = sym("buf");
    assert_eq!(check(&blob, &mut mem, call(1, [1, buf, 1, 0, 0, 0], rip)), Verdict::Allow);
    mem.write(sym("config"), b"App\0");
    assert!(!check(&blob, &mut mem, call(1, [1, buf, 1, 0, 0, 0], rip)).is_allow());
    mem.write(sym("config"), b"app\0");
    // `!charset(buf, "[^a-z]", 63)`: buf has some lowercase letter.
    mem.write(buf, b"!?\0");
    assert!(!check(&blob, &mut mem, call(1, [1, buf, 1, 0, 0, 0], rip)).is_allow());
    mem.write(buf, b"!a\0");
    assert_eq!(check(&blob, &mut mem, call(1, [1, buf, 1, 0, 0, 0], rip)), Verdict::Allow);

    // `policy show`: the instructions with their bounds, the constants as the source writes them.
    let text = show(&blob).unwrap();
    for want in [
        "str_contains c0, 255    ; \"../\"",
        "str_suffix c1, 255    ; \".so\"",
        // -./0-9 are consecutive bytes: one range.
        "str_class c2, 64    ; \"[\\\\--9_a-z]\"",
        "str_class c3, 16    ; \"[a-z]\"",
        "str_class c6, 63    ; \"[^a-z]\"",
        "str_contains c4, 4096    ; \"/log/\"",
        "c2 class \"[\\\\--9_a-z]\"",
    ] {
        assert!(text.contains(want), "no `{want}` in:\n{text}");
    }
}

#[test]
fn string_predicate_errors_name_the_place_and_the_problem() {
    let long = "x".repeat(40);
    let longer = "x".repeat(257);
    let mut bad = Vec::new();
    for (expr, want) in [
        ("contains(buf)", "1:24: `contains` takes 2 or 3 argument(s), found 1".to_string()),
        ("endswith(buf, 1)", "1:38: `endswith` needs a string constant as its second argument".into()),
        ("contains(buf, \"a\\0\")", "1:38: string constant contains a NUL byte".into()),
        (
            "endswith(config.max_len, \"a\")",
            "1:33: a string comparison needs a `char *` or `char` array, found `unsigned int`".into(),
        ),
        ("contains(buf, \"a\", 0)", "1:43: the bound of `contains` must be 1..=4096".into()),
        ("charset(buf, \"[a]\", 4097)", "1:44: the bound of `charset` must be 1..=4096".into()),
        (
            &format!("contains(write.buf, \"{long}\")"),
            "1:24: `contains` of a 40-byte string scanning up to 4096 bytes costs 167977, above the limit of 131072; \
             give a bound of at most 3194"
                .into(),
        ),
        (
            &format!("contains(buf, \"{longer}\", 8)"),
            "1:38: `contains` takes a string of at most 256 bytes, not 257".into(),
        ),
        ("charset(buf, b\"[a]\")", "1:37: `charset` needs a class in a string constant, e.g. \"[a-z0-9_]\"".into()),
        ("charset(buf, \"a-z\")", "1:38: a class is written in brackets, e.g. \"[a-z0-9_]\"".into()),
        ("charset(buf, \"[z-a]\")", "1:39: range z-a is reversed: write a-z".into()),
        (
            "charset(buf, \"[a-z\\\\q]\")",
            r"1:42: unknown escape in a class: expected one of \\- \\] \\\\ \\^ \\xHH".into(),
        ),
        (
            "charset(buf, \"[a-c-e]\")",
            r"1:42: a `-` inside a class is a range: write `\\-` for a `-` (or put it first or last)".into(),
        ),
        ("charset(buf, \"[]\")", r"1:38: empty class: a class needs at least one byte (write `\\]` for a `]`)".into()),
        ("charset(buf, \"[a-z\")", "1:41: unterminated class: expected `]`".into()),
        ("charset(buf, \"[a]b\")", "1:41: text after the class's closing `]`".into()),
        ("charset(buf, \"[\\\\x00]\")", "1:39: NUL cannot be in a class: it ends the string".into()),
        ("charset(buf, \"[é]\")", r"1:39: write byte 0xc3 as `\\xc3` in a class (a class is over bytes)".into()),
        ("charset(buf, \"[a]\", 1) + 1 == 2", "1:24: `+` needs an integer, found a condition".into()),
    ] {
        let got = expr_error(expr);
        if got != want {
            bad.push(format!("{expr}\n  got:  {got}\n  want: {want}"));
        }
    }
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    // At the default bound (4096) `contains` takes 30 bytes; a 31st needs a smaller bound.
    let fits = "x".repeat(30);
    compile_app(&format!("syscall write {{ assert contains(write.buf, \"{fits}\"); }}"));
    assert_eq!(
        expr_error(&format!("contains(write.buf, \"{fits}y\")")),
        "1:24: `contains` of a 31-byte string scanning up to 4096 bytes costs 131104, above the limit of 131072; \
         give a bound of at most 4094"
    );
    compile_app(&format!("syscall write {{ assert contains(write.buf, \"{fits}y\", 4094); }}"));
    // A class from a `const` is reported at the name that uses it.
    assert_eq!(
        first_error("const C = \"[z-a]\";\nsyscall write { assert charset(buf, C); }"),
        "2:37: range z-a is reversed: write a-z"
    );
    // A malformed class underlines exactly its bytes.
    let p = app();
    let mut prog = load_program(p.to_str().unwrap()).unwrap();
    let src = "syscall write { assert charset(buf, \"[a-z\\\\q]\"); }\n";
    let errs = compile(src, &mut prog, None).unwrap_err();
    let text = semguard_static_tool::compile::render("p.sgi", src, &errs);
    assert!(text.ends_with("\n  |                                          ^^^"), "{text}");
}
