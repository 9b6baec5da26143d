//! podnet's sans-IO connection on both roles, driven through any sequence of inputs. See
//! `podnet_fuzz::connection`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::connection(data));
