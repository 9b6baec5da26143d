//! podnet's benchmark tools (not published): a plain tokio server speaking the bench
//! protocol without podnet, the baseline every podnet figure is compared with, and a load
//! generator that drives any bench-protocol server the same way. `cargo xtask bench` runs
//! them; see docs/performance.md.

pub mod ws;

use bytes::{Bytes, BytesMut};
use podnet_framing::{FramingConfig, Value, encode_value};

/// Encodes `{"action": action, ..fields}` as one complete frame.
pub fn frame(action: &str, fields: Vec<(&str, Value)>) -> Bytes {
    let mut entries = vec![(Value::from("action"), Value::from(action))];
    entries.extend(fields.into_iter().map(|(k, v)| (Value::from(k), v)));
    let mut buf = BytesMut::new();
    encode_value(&Value::Map(entries), &mut buf, &FramingConfig::default())
        .unwrap_or_else(|e| panic!("bench message {action} does not encode: {e}"));
    buf.freeze()
}

/// The action of a payload whose first entry is `"action"` (as every bench client and
/// repod writes it), read without decoding anything else: the cheapest way there is,
/// which is what the baseline server should do.
pub fn first_action(payload: &[u8]) -> Option<&[u8]> {
    let rest = match payload.first()? {
        0x80..=0x8f => &payload[1..],
        0xde => payload.get(3..)?,
        0xdf => payload.get(5..)?,
        _ => return None,
    };
    let rest = rest.strip_prefix(b"\xa6action")?;
    let (len, start) = match *rest.first()? {
        b @ 0xa0..=0xbf => (usize::from(b & 0x1f), 1),
        0xd9 => (usize::from(*rest.get(1)?), 2),
        _ => return None,
    };
    rest.get(start..start + len)
}

/// The median of some figures.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The baseline's action reader agrees with podnet's on bench messages.
    #[test]
    fn first_action_reads_bench_messages() {
        for action in ["ping", "move", "report", "broadcast"] {
            let f = frame(action, vec![("seq", Value::from(7))]);
            assert_eq!(first_action(&f[4..]), Some(action.as_bytes()));
        }
        assert_eq!(first_action(b"\x81\xa1x\x01"), None);
    }
}
