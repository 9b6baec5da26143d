//! What arrives from Redis, as each kind of node envelope. See `podnet_fuzz::envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::envelope(data));
