//! The `semguard` command (static tool).

use std::io::Write;

fn main() {
    let out = semguard_static_tool::cli::run(std::env::args_os());
    // Nothing useful can be done if the terminal is gone.
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    std::process::exit(out.code);
}
