//! The module's parameter checks (ivm-module/semguard-ko/config.rs, compiled here from the same file the
//! kernel module builds) on the host: every rule, and the messages insmod users see.

#[allow(dead_code)]
#[path = "../../config.rs"]
mod config;

use config::{Config, FailMode, Mode, ParamError, RawParams, DOMID_MAX, POLICY_NAME_MAX, PROCESS_MAX};

/// What `insmod semguard.ko domid=1 process=x policy=semguard/typical.pol` leaves, plus the
/// C defaults for mode and fail.
fn good() -> RawParams<'static> {
    RawParams {
        domid: 1,
        process: Some(b"x"),
        policy: Some(b"semguard/typical.pol"),
        mode: Some(b"enforce"),
        fail: Some(b"closed"),
    }
}

fn err(raw: RawParams<'_>) -> String {
    match Config::from_raw(&raw) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_and_a_full_set_are_accepted() {
    let c = Config::from_raw(&good()).expect("valid");
    assert_eq!(c.domid, 1);
    assert_eq!(c.process.map(|n| n.as_str().to_owned()), Some("x".to_owned()));
    assert_eq!(c.label(), "x");
    assert_eq!(c.policy.as_str(), "semguard/typical.pol");
    assert_eq!(c.policy.as_bytes_with_nul(), b"semguard/typical.pol\0");
    assert_eq!((c.mode, c.fail), (Mode::Enforce, FailMode::Closed));

    let raw = RawParams { domid: DOMID_MAX, mode: Some(b"audit"), fail: Some(b"open"), ..good() };
    let c = Config::from_raw(&raw).expect("valid");
    assert_eq!((c.domid, c.mode.name(), c.fail.name()), (0x7fef, "audit", "open"));
}

#[test]
fn domid_must_be_given_and_in_range() {
    assert_eq!(err(RawParams { domid: -1, ..good() }), "domid: missing (required)");
    assert_eq!(err(RawParams { domid: -7, ..good() }), "domid=-7: not a domain id (0..=32751)");
    assert_eq!(err(RawParams { domid: DOMID_MAX + 1, ..good() }), "domid=32752: not a domain id (0..=32751)");
    assert_eq!(err(RawParams { domid: i32::MAX, ..good() }), "domid=2147483647: not a domain id (0..=32751)");
    assert_eq!(
        err(RawParams { domid: 0, ..good() }),
        "domid=0: that is dom0, where semguard runs; give the monitored domU's id"
    );
}

#[test]
fn process_is_a_comm() {
    // Only a hint: without it every process is searched, and the log calls P "P".
    let c = Config::from_raw(&RawParams { process: None, ..good() }).expect("optional");
    assert_eq!((c.process.is_none(), c.label()), (true, "P"));
    assert_eq!(err(RawParams { process: Some(b""), ..good() }), "process: empty");
    let long = [b'p'; PROCESS_MAX + 1];
    assert_eq!(err(RawParams { process: Some(&long), ..good() }), "process=pppppppppppppppp: 16 bytes, at most 15");
    let max = [b'p'; PROCESS_MAX];
    assert_eq!(
        Config::from_raw(&RawParams { process: Some(&max), ..good() }).expect("15 bytes").label().len(),
        15
    );
    // A comm may contain a space; control bytes are quoted back, never printed raw.
    assert!(Config::from_raw(&RawParams { process: Some(b"kworker 1"), ..good() }).is_ok());
    assert_eq!(
        err(RawParams { process: Some(b"a\x1b[2Jb"), ..good() }),
        "process=a\\x1b[2Jb: only printable ASCII is accepted"
    );
    assert_eq!(
        err(RawParams { process: Some("é".as_bytes()), ..good() }),
        "process=\\xc3\\xa9: only printable ASCII is accepted"
    );
}

#[test]
fn policy_stays_inside_lib_firmware() {
    assert_eq!(err(RawParams { policy: None, ..good() }), "policy: missing (required)");
    assert_eq!(err(RawParams { policy: Some(b""), ..good() }), "policy: empty");
    assert_eq!(
        err(RawParams { policy: Some(b"/etc/p.pol"), ..good() }),
        "policy=/etc/p.pol: must be relative to /lib/firmware"
    );
    assert_eq!(
        err(RawParams { policy: Some(b"../etc/shadow"), ..good() }),
        "policy=../etc/shadow: '.' and '..' are not allowed"
    );
    assert_eq!(err(RawParams { policy: Some(b"a/./b"), ..good() }), "policy=a/./b: '.' and '..' are not allowed");
    assert_eq!(err(RawParams { policy: Some(b"a//b"), ..good() }), "policy=a//b: empty path component");
    assert_eq!(err(RawParams { policy: Some(b"dir/"), ..good() }), "policy=dir/: empty path component");
    assert_eq!(
        err(RawParams { policy: Some(b"my policy"), ..good() }),
        "policy=my policy: only printable ASCII is accepted"
    );
    assert!(Config::from_raw(&RawParams { policy: Some(b"..hidden/p.pol"), ..good() }).is_ok());
    let long = vec![b'a'; POLICY_NAME_MAX + 1];
    let msg = err(RawParams { policy: Some(&long), ..good() });
    assert!(msg.ends_with("...: 201 bytes, at most 200"), "{msg}");
    assert!(msg.len() < 100, "a long value is cut in the message: {msg}");
    let max = vec![b'a'; POLICY_NAME_MAX];
    assert!(Config::from_raw(&RawParams { policy: Some(&max), ..good() }).is_ok());
}

#[test]
fn mode_and_fail_are_words() {
    assert_eq!(err(RawParams { mode: Some(b"bogus"), ..good() }), "mode=bogus: expected enforce or audit");
    assert_eq!(err(RawParams { mode: Some(b"Enforce"), ..good() }), "mode=Enforce: expected enforce or audit");
    assert_eq!(err(RawParams { mode: Some(b""), ..good() }), "mode: empty");
    assert_eq!(err(RawParams { mode: None, ..good() }), "mode: missing (required)");
    assert_eq!(err(RawParams { fail: Some(b"closed "), ..good() }), "fail=closed : expected closed or open");
    assert_eq!(err(RawParams { fail: Some(b"shut"), ..good() }), "fail=shut: expected closed or open");
}

#[test]
fn the_first_bad_parameter_is_named() {
    let raw = RawParams { domid: -1, process: None, policy: None, mode: Some(b"x"), fail: Some(b"y") };
    assert_eq!(Config::from_raw(&raw).map(|_| ()), Err(ParamError::Missing("domid")));
    let raw = RawParams { mode: Some(b"x"), fail: Some(b"y"), ..good() };
    assert!(err(raw).starts_with("mode=x"));
}
