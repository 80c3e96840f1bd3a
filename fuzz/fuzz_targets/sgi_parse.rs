#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| semguard_static_tool::fuzz::fuzz_parse(data));
