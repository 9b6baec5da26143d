//! One hostile payload, checked against rmpv as a reference. See `podnet_fuzz::payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::payload(data));
