//! Entry points for podnet's fuzz targets (`fuzz/`), with the `fuzzing` feature: the
//! decoders of what arrives from Redis, which are not public API. Not for applications.
//! A check here fails by panicking: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::panic)]

use podnet_framing::FramingConfig;

use crate::envelope::{Direct, MAX_NAME, To, ack, direct, from_node, read_direct, read_from_node};

/// Decodes `data` as each kind of envelope another node (or anyone who can publish to
/// Redis) may send, with messages limited to `max_frame_length`, and checks what must
/// hold whatever it is: what decodes is within the limit and is a message, and encoding
/// it again gives an envelope that decodes the same.
pub fn envelopes(data: &[u8], max_frame_length: usize) {
    let config = FramingConfig::default().with_max_frame_length(max_frame_length);
    match read_direct(data, &config) {
        Ok(Direct::Message(to, msg)) => {
            assert!(
                msg.payload().len() <= max_frame_length,
                "a message over the limit"
            );
            if let To::Name(name) | To::Node { from: name, .. } = &to {
                assert!(name.len() <= MAX_NAME, "a name over the header's limit");
            }
            let again = direct(&to, msg.payload());
            assert_eq!(
                again, data,
                "a direct envelope did not encode back the same"
            );
            let back = read_direct(&again, &config).expect("encoded again");
            assert_eq!(back, Direct::Message(to, msg));
        }
        Ok(Direct::Ack {
            from,
            epoch,
            upto,
            resend,
        }) => {
            assert!(from.len() <= MAX_NAME, "a name over the header's limit");
            let again = ack(&from, epoch, upto, resend);
            assert_eq!(
                again, data,
                "an acknowledgement did not encode back the same"
            );
        }
        Err(_) => {}
    }
    if let Ok((origin, msg)) = read_from_node(data, &config) {
        assert!(
            msg.payload().len() <= max_frame_length,
            "a message over the limit"
        );
        let origin = String::from_utf8_lossy(origin).into_owned();
        let again = from_node(&origin, msg.payload());
        let (origin_again, msg_again) = read_from_node(&again, &config).expect("encoded again");
        assert_eq!(
            origin_again,
            origin.as_bytes()[..origin.len().min(MAX_NAME)].to_vec()
        );
        assert_eq!(msg_again, msg);
    }
}
