//! Golden bytes for the on-disk layouts declared in the core: policy blobs, alert records and
//! guest-kernel profiles.
//!
//! The fixtures in `tests/fixtures/golden/` were written by the encoders as they were before
//! the layouts were declared once (`le_record!`; for `profiles.bin`, by the scroll-based
//! profile encoder); these tests keep the formats from drifting: today's encoder must produce
//! exactly those bytes, and today's decoder must read from them exactly what the old decoder
//! read (the `.txt` dumps; for profiles, the fields they were encoded from).
//!
//! To re-bless after a deliberate format change (a new format version, never silently):
//!     SEMGUARD_BLESS_GOLDEN=1 cargo test -p semguard-core --test golden_layouts

mod policy_support;

use std::fmt::Write as _;
use std::path::PathBuf;

use semguard_core::alert::{decode_all, Action, AlertRecord};
use semguard_core::eval::{EvalFault, InvariantRef, Values, Verdict, ViolationKind};
use semguard_core::policy::{examples, ConstKind, Policy};
use semguard_core::profile::{Profile, ProfileFields, ENCODED_LEN};
use semguard_core::regs::EntryKind;
use semguard_core::syscall::{Abi, Syscall};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn bless() -> bool {
    std::env::var_os("SEMGUARD_BLESS_GOLDEN").is_some()
}

/// Compares `got` with the fixture `name` (or writes it when blessing).
fn golden(name: &str, got: &[u8]) {
    let path = dir().join(name);
    if bless() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if want != got {
        let at = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
        panic!("{name}: bytes differ from the golden fixture at offset {at} (lengths {} / {})", want.len(), got.len());
    }
}

fn golden_text(name: &str, got: &str) {
    let path = dir().join(name);
    if bless() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(want, got, "{name}: decoded content differs from the golden dump");
}

fn encode(f: impl FnOnce(&mut [u8]) -> Result<usize, semguard_core::policy::EncodeError>) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = f(&mut buf).expect("example encodes");
    buf.truncate(n);
    buf
}

/// The example policies, by fixture name: together they use every section, every record
/// kind, site-specific and allow rules, both constant kinds and an automaton.
fn policies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("policy-typical.sgp", encode(examples::typical)),
        ("policy-trace.sgp", encode(examples::trace)),
        ("policy-deny-execve.sgp", encode(examples::deny_execve)),
        ("policy-open-path.sgp", encode(|o| examples::open_path_equals(o, examples::GOOD_PATH))),
        ("policy-write-count.sgp", encode(|o| examples::write_count_le_config(o, examples::CONFIG_ADDR))),
        ("policy-sites.sgp", encode(|o| examples::only_from_rips(o, 1, &[0x40_1000, 0x40_2000, 0x40_3000]))),
        ("policy-full.sgp", policy_support::full_policy()),
    ]
}

/// Everything the public API reads from a decoded policy, as text.
fn dump(p: &Policy<'_>) -> String {
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "layout {:?}", p.layout()).unwrap();
    writeln!(
        w,
        "id {:#x} version {:?} crc {:#010x} flags {:#x} default {:?} deny_other_abis {}",
        p.policy_id(),
        p.version(),
        p.checksum(),
        p.flags(),
        p.default_action(),
        p.deny_other_abis()
    )
    .unwrap();
    for abi in [Abi::X86_64, Abi::Ia32, Abi::X32] {
        writeln!(w, "has_rules_for {abi:?} {}", p.has_rules_for(abi)).unwrap();
    }
    for i in 0..p.rule_count() {
        writeln!(w, "rule {i} {:?}", p.rule(i)).unwrap();
    }
    for i in 0..p.invariant_count() {
        let inv = p.invariant(i).unwrap();
        writeln!(
            w,
            "invariant {} id {} name {:?} max_stack {} code {:02x?}",
            inv.index(),
            inv.id(),
            inv.name(),
            inv.max_stack(),
            inv.code()
        )
        .unwrap();
    }
    let pool = p.constants();
    for i in 0..pool.len() {
        match pool.kind(i) {
            Some(ConstKind::Bytes) => writeln!(w, "const {i} bytes {:02x?}", pool.bytes(i).unwrap()).unwrap(),
            Some(ConstKind::Set) => {
                writeln!(w, "const {i} set {:x?}", pool.set(i).unwrap().iter().collect::<Vec<_>>()).unwrap()
            }
            Some(ConstKind::Class) => writeln!(w, "const {i} class {:02x?}", pool.class(i).unwrap().bits()).unwrap(),
            None => writeln!(w, "const {i} none").unwrap(),
        }
    }
    if let Some(a) = p.automaton() {
        writeln!(w, "automaton states {} initial {} transitions {}", a.states(), a.initial(), a.transition_count())
            .unwrap();
        for i in 0..a.transition_count() {
            writeln!(w, "transition {i} {:?}", a.transition(i)).unwrap();
        }
    }
    writeln!(w, "kernel_profile {:02x?}", p.kernel_profile()).unwrap();
    s
}

#[test]
fn policy_blobs_encode_and_decode_as_before() {
    let mut text = String::new();
    for (name, blob) in policies() {
        golden(name, &blob);
        // Decode the committed bytes, not only today's encoding of them.
        let stored = if bless() { blob.clone() } else { std::fs::read(dir().join(name)).unwrap() };
        let p = Policy::decode(&stored).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        writeln!(text, "## {name}").unwrap();
        text.push_str(&dump(&p));
    }
    golden_text("policies-decoded.txt", &text);
}

fn call() -> Syscall {
    Syscall { abi: Abi::X86_64, nr: 257, args: [0xffff_ff9c, 0x0040_2000, 0x241, 0o644, 5, 6], user_rip: 0x40_1234 }
}

/// Records of every kind, fault and action, with values and a full-length comm.
fn alerts() -> Vec<AlertRecord> {
    let inv = InvariantRef { index: 2, id: 0x77 };
    let mut values = Values::new();
    for v in [0x0040_2000, 7, u64::MAX, 0x8000_0000_0000_0001] {
        values.push(v);
    }
    let verdicts = [
        Verdict::Violation { invariant: Some(inv), kind: ViolationKind::InvariantFalse, values },
        Verdict::Violation { invariant: None, kind: ViolationKind::DefaultDeny, values: Values::new() },
        Verdict::Violation { invariant: None, kind: ViolationKind::OtherAbi, values: Values::new() },
        Verdict::Violation {
            invariant: None,
            kind: ViolationKind::Trace { state: 0xdead_beef },
            values: Values::new(),
        },
        Verdict::Violation { invariant: Some(inv), kind: ViolationKind::Denied, values: Values::new() },
        Verdict::Violation { invariant: Some(inv), kind: ViolationKind::WrongCallSite, values: Values::new() },
        Verdict::Unverifiable { invariant: inv, at: 0x1234, reason: EvalFault::DivideByZero },
        Verdict::Unverifiable { invariant: inv, at: 6, reason: EvalFault::StringTooLong { addr: 0x1000, max: 8 } },
        Verdict::Unverifiable { invariant: inv, at: 9, reason: EvalFault::Malformed },
    ];
    let entries = [EntryKind::Syscall64, EntryKind::Int80, EntryKind::Sysenter, EntryKind::CompatSyscall];
    let actions = [Action::Killed, Action::Audited, Action::FailedOpen];
    let mut out = Vec::new();
    for (i, v) in verdicts.iter().enumerate() {
        let mut sc = call();
        sc.abi = [Abi::X86_64, Abi::Ia32, Abi::X32][i % 3];
        let comm: &[u8] = if i % 2 == 0 { b"sgloop" } else { b"abcdefghijklmnopqrstuvwxyz" };
        let mut r = AlertRecord::from_verdict(
            v,
            &sc,
            entries[i % 4],
            actions[i % 3],
            0x5e6a4d + i as u32,
            1 + i as u16,
            i as u32,
            42 + i as u32,
            comm,
        )
        .unwrap();
        r.seq = 3 + i as u64;
        r.time_ns = 1_700_000_000_123_456_789 + i as u64;
        out.push(r);
    }
    let mut u =
        AlertRecord::undecodable(&call(), EntryKind::Int80, Action::Killed, 0xffff_d000, 9, 0x7fff, 3, 4, b"notesd");
    u.seq = u64::MAX;
    u.time_ns = u64::MAX - 1;
    out.push(u);
    out
}

#[test]
fn alert_records_encode_and_decode_as_before() {
    let records = alerts();
    let bytes: Vec<u8> = records.iter().flat_map(|r| r.encode()).collect();
    golden("alerts.bin", &bytes);
    let stored = if bless() { bytes } else { std::fs::read(dir().join("alerts.bin")).unwrap() };
    let mut text = String::new();
    for (i, r) in decode_all(&stored).enumerate() {
        let r = r.unwrap();
        assert_eq!(r, records[i]);
        // Field by field (not `Debug`, which would also pin other modules' internals).
        writeln!(
            text,
            "seq {} time_ns {} policy {:#x} domid {} abi {:?} entry {:?} vcpu {} pid {} nr {} kind {:?} \
             action {:?} fault {:?} invariant {:#x}#{} at {} state {:#x} rip {:#x} fault_addr {:#x} args {:x?} \
             values {:x?} comm {:02x?}\n{r}",
            r.seq,
            r.time_ns,
            r.policy_id,
            r.domid,
            r.abi,
            r.entry,
            r.vcpu,
            r.pid,
            r.nr,
            r.kind,
            r.action,
            r.fault,
            r.invariant_id,
            r.invariant_index,
            r.at,
            r.trace_state,
            r.user_rip,
            r.fault_addr,
            r.args,
            r.values.as_slice(),
            r.comm
        )
        .unwrap();
    }
    golden_text("alerts-decoded.txt", &text);
}

/// The profiles the core's tests, fuzzers and host tools build, plus the edges of what
/// validates (largest structures, shortest comm, a 5-level `init_task`, fields at the end).
fn profiles() -> Vec<ProfileFields> {
    // profile.rs's unit tests: a Debian 6.1 x86-64 kernel, roughly.
    let debian = ProfileFields {
        init_task: 0xffff_ffff_8201_3940,
        task_struct_size: 9792,
        task_tasks: 2192,
        task_comm: 3000,
        task_pid: 2464,
        task_tgid: 2468,
        task_mm: 2272,
        task_real_parent: Some(2480),
        mm_struct_size: 1152,
        mm_pgd: 80,
        comm_len: 16,
    };
    // process.rs's unit tests.
    let process = ProfileFields {
        init_task: 0xffff_ffff_8200_0000,
        task_struct_size: 256,
        task_tasks: 16,
        task_comm: 64,
        task_pid: 32,
        task_tgid: 36,
        task_mm: 48,
        task_real_parent: Some(56),
        mm_struct_size: 64,
        mm_pgd: 8,
        comm_len: 16,
    };
    // fuzzing::process (with a zero head).
    let fuzz = ProfileFields {
        init_task: 0xffff_8000_0000_0000,
        task_struct_size: 512,
        task_tasks: 8,
        task_comm: 64,
        task_pid: 32,
        task_tgid: 36,
        task_mm: 48,
        task_real_parent: Some(56),
        mm_struct_size: 128,
        mm_pgd: 16,
        comm_len: 16,
    };
    // ivm-module/semguard-ko/host's (semguard-mkpolicy): a plausible 6.12 build, frozen here.
    let host = ProfileFields {
        init_task: 0xffff_ffff_8260_0940,
        task_struct_size: 9792,
        task_tasks: 2336,
        task_comm: 3048,
        task_pid: 2504,
        task_tgid: 2508,
        task_mm: 2392,
        task_real_parent: Some(2520),
        mm_struct_size: 1344,
        mm_pgd: 80,
        comm_len: 16,
    };
    let edges = ProfileFields {
        init_task: 0xff11_0000_0000_0000,
        task_struct_size: 64 * 1024,
        task_tasks: 64 * 1024 - 16,
        task_comm: 0,
        task_pid: 0x1_0000 - 24,
        task_tgid: 0x1_0000 - 20,
        task_mm: 16,
        task_real_parent: Some(0x1_0000 - 32),
        mm_struct_size: 64 * 1024,
        mm_pgd: 64 * 1024 - 8,
        comm_len: 2,
    };
    vec![
        debian,
        ProfileFields { task_real_parent: None, ..debian },
        process,
        ProfileFields { task_real_parent: None, ..process },
        fuzz,
        host,
        edges,
        ProfileFields { task_real_parent: None, comm_len: 15, ..edges },
    ]
}

#[test]
fn profiles_encode_and_decode_as_before() {
    let fields = profiles();
    let mut bytes = Vec::new();
    for f in &fields {
        let p = Profile::new(*f).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
        // A longer buffer: the encoder writes exactly ENCODED_LEN bytes and nothing after.
        let mut out = [0xa5u8; ENCODED_LEN + 8];
        assert_eq!(p.encode(&mut out), Ok(ENCODED_LEN));
        assert_eq!(out[ENCODED_LEN..], [0xa5; 8]);
        bytes.extend_from_slice(&out[..ENCODED_LEN]);
    }
    golden("profiles.bin", &bytes);
    let stored = if bless() { bytes } else { std::fs::read(dir().join("profiles.bin")).unwrap() };
    assert_eq!(stored.len(), fields.len() * ENCODED_LEN);
    for (i, (chunk, f)) in stored.chunks(ENCODED_LEN).zip(&fields).enumerate() {
        let p = Profile::decode(chunk).unwrap_or_else(|e| panic!("profile {i}: {e:?}"));
        assert_eq!(p.fields(), f, "profile {i}");
    }
}
