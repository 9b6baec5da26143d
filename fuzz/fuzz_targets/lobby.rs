//! The sans-IO lobby fed any players' events and messages. See `podnet_fuzz::lobby`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::lobby(data));
