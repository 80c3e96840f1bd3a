//! The `semguard` command line end to end (through the same `run` the binary calls), and the
//! built binary itself once.

mod common;

use semguard_static_tool::cli::run;

#[test]
fn compile_then_show() {
    let app = common::app();
    let dir = common::tmp();
    let out = dir.join("cli-app.sgp");
    let _ = std::fs::remove_file(&out);
    let src = common::fixtures().join("app.sgi");
    let o = common::compile_policy(&app, &src, &out, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.ends_with("bytes, 25 rules, 23 invariants, policy id 0x5e6a4d\n"), "{}", o.stdout);
    let o = run(["semguard", "policy", "show", out.to_str().unwrap()]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("policy id 0x5e6a4d, format 1.1, "), "{}", o.stdout);
    assert!(o.stdout.contains("\nidentity: build-id "), "{}", o.stdout);
    assert!(o.stdout.contains("\nrules (25):\n"));
}

#[test]
fn compile_errors_are_rendered_and_nothing_is_written() {
    let app = common::app();
    let dir = common::tmp();
    let src = dir.join("bad.sgi");
    std::fs::write(&src, "syscall write {\n  assert write.count <= config.max_lne;\n}\n").unwrap();
    let out = dir.join("bad.sgp");
    let _ = std::fs::remove_file(&out);
    let o = common::compile_policy(&app, &src, &out, &[]);
    assert_eq!(o.code, 1);
    let want = format!(
        "{}:2:32: error: `struct config` has no member `max_lne`; did you mean `max_len`?\n  |   assert write.count <= config.max_lne;\n  |                                ^^^^^^^\n1 error(s); nothing written\n",
        src.display()
    );
    assert_eq!(o.stderr, want);
    assert!(!out.exists());
}

#[test]
fn command_line_errors() {
    let o = run(["semguard", "policy", "show", "/nonexistent.sgp"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "semguard: /nonexistent.sgp: No such file or directory (os error 2)\n")
    );
    let not_policy = common::fixtures().join("app.c");
    let o = run(["semguard", "policy", "show", not_policy.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not a valid policy: bad magic"), "{}", o.stderr);
    let o = run(["semguard", "policy", "compile", "x"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("required arguments were not provided"));
    let o = run(["semguard", "frobnicate"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("unrecognized subcommand 'frobnicate'"));
    let o = run(["semguard", "--help"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("policy") && o.stdout.contains("profile"));
    let o = run(["semguard", "policy", "compile", "/nonexistent", "/nonexistent.sgi", "-o", "/tmp/x"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "semguard: /nonexistent.sgi: No such file or directory (os error 2)\n")
    );
}

#[test]
fn the_binary_runs() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_semguard")).arg("--version").output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("semguard "));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_semguard"))
        .args(["policy", "show", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}
