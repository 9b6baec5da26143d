//! The frame codec fed a hostile byte stream in hostile pieces; every frame it yields
//! goes through the payload checks. See `podnet_fuzz::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::frames(data));
