//! Requests on the game port's HTTP front, whole and in pieces. See `podnet_fuzz::http`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::http(data));
