#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulwark_fuzzing::gateway_path(data));
