//! Runs every fuzz-target body (semguard_core::fuzzing) over random and structured inputs, so
//! the targets stay buildable and panic-free on every `cargo test`, not only under libFuzzer.

use proptest::prelude::*;
use semguard_core::fuzzing;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn vm_event_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        fuzzing::vm_event(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn walker_never_panics(data in proptest::collection::vec(any::<u8>(), 0..(32 + 3 * 4096))) {
        fuzzing::walker(&data);
    }

    #[test]
    fn profile_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::profile(&data);
    }

    #[test]
    fn vma_never_panics(data in proptest::collection::vec(any::<u8>(), 0..(8 + 4 * 4096))) {
        fuzzing::vma(&data);
    }

    #[test]
    fn process_never_panics(data in proptest::collection::vec(any::<u8>(), 0..(32 + 2 * 4096))) {
        fuzzing::process(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn policy_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::policy_decode(&data);
    }

    #[test]
    fn policy_mutated_never_panics(data in proptest::collection::vec(any::<u8>(), 0..49)) {
        fuzzing::policy_mutated(&data);
    }

    #[test]
    fn evaluator_never_panics(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
        fuzzing::evaluator(&data);
    }
}
