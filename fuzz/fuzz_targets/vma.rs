#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| semguard_core::fuzzing::vma(data));
