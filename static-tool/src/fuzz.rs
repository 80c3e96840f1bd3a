//! Fuzz target bodies (wired to cargo-fuzz from `fuzz/`; host tests run them too).

use crate::compile;
use crate::dwarf::Program;
use crate::elf::Elf;

/// The invariant-language front end on arbitrary bytes: lex, parse, type-check against a
/// program without DWARF, encode, and render any errors. Must never panic; a policy it
/// accepts must decode (the encoder's self-check).
pub fn fuzz_parse(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let _ = crate::parser::parse(src);
    let mut prog = Program::without_binary();
    match compile::compile(src, &mut prog, None) {
        Ok(c) => {
            if let Err(e) = semguard_core::policy::Policy::decode(&c.blob) {
                panic!("accepted source produced an undecodable policy: {e}");
            }
        }
        Err(diags) => {
            let _ = compile::render("fuzz.sgi", src, &diags);
        }
    }
}

impl Program {
    /// A program with no symbols and no DWARF (for fuzzing the language front end).
    pub fn without_binary() -> Program {
        let elf = Elf::empty("<none>");
        Program::without_dwarf(elf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic mutations of a policy that uses every construct: byte flips, deletions,
    /// duplications and splices of keywords.
    #[test]
    fn mutated_sources_never_panic() {
        let seed = "policy { id 7; default deny; other_abis allow; }\n\
            const S = {1, 2, 0x10};\n\
            syscall write at {0x401000, 0x402000} { from S; assert ok: write.count <= 4096 && write.fd in S; }\n\
            syscall openat { assert openat.filename == \"/etc/x\" || startswith(openat.filename, \"/tmp\"); assert len(openat.filename, 64) < 10; }\n\
            syscall read { assert (u32)$arg2 + sizeof(u64) * 2 >> 1 != ~0xffff + 0x10000 && ~(i32)1 == -2 && !($rip == 0) && -$rax < 5 && *(u8 *)$rsi == 'a' && ((i64 *)$rdi)[2] == -3; }\n\
            syscall close { assert !contains((char *)$rdi, \"/../\", 64) && endswith((char *)$rdi, \".so\") || charset((char *)$rsi, \"[^a-z\\\\-\\\\x80]\", 8); }\n\
            syscall ia32:open, execve deny; syscall getpid allow;\n\
            trace s { s: read -> t, write -> s; t: x32:0 -> s; }\n";
        let words: [&[u8]; 15] = [
            b"(",
            b")",
            b"{",
            b"}",
            b"&&",
            b"assert ",
            b"syscall ",
            b"\"",
            b"0x",
            b"->",
            b";",
            b"$arg9",
            b"[",
            b"]",
            b"\\\\",
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut prog = Program::without_binary();
        if let Err(d) = compile::compile(seed, &mut prog, None) {
            panic!("{}", compile::render("seed", seed, &d));
        }
        for _ in 0..3000 {
            let mut v = seed.as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % v.len().max(1);
                match next() % 4 {
                    0 => v[at] = next() as u8,
                    1 => {
                        let end = (at + (next() as usize % 8)).min(v.len());
                        v.drain(at..end);
                    }
                    2 => {
                        let w = words[(next() as usize) % words.len()];
                        v.splice(at..at, w.iter().copied());
                    }
                    _ => {
                        let end = (at + (next() as usize % 40)).min(v.len());
                        let chunk = v[at..end].to_vec();
                        v.splice(at..at, chunk);
                    }
                }
                if v.is_empty() {
                    break;
                }
            }
            fuzz_parse(&v);
        }
    }
}
