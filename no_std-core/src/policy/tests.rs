//! Decoder tests on hand-damaged blobs (the full per-variant enumeration lives in
//! `tests/policy_errors.rs`).
