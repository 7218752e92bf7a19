#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulwark_fuzzing::dn(data));
