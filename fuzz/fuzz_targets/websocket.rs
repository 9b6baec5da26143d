//! A WebSocket client's bytes, hostile, in hostile pieces, through the decoder that turns
//! them into repod frames. See `podnet_fuzz::websocket`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| podnet_fuzz::websocket(data));
