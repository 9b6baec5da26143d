//! Handler tables keyed by action name: the Rust form of repod's `Network_<action>`
//! methods.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use podnet_framing::{Message, RawMessage, Value};
use serde::de::DeserializeOwned;

use crate::Error;

/// A multiply-rotate hash (the scheme of rustc's `FxHasher`), for the facade's small
/// tables keyed by action names and connection ids: a word per multiply, where SipHash
/// (or FNV, a byte per multiply) costs several times as much on every message. Flooding
/// is no concern: the keys are handlers registered at start-up and ids the server assigns,
/// so a peer's action can only miss, never grow a bucket.
#[derive(Default)]
pub(crate) struct Fx(u64);

/// The multiplier of rustc-hash 2.
const FX_SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = self.0.wrapping_add(word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for Fx {
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves its best bits at the top; the table indexes with the bottom.
        self.0.rotate_left(26)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(ShortKey::word(chunk));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(ShortKey::word(rest));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A `HashMap` hashing with [`Fx`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// An action of at most 16 bytes as plain integers, so that finding its handler compares
/// two words instead of calling `memcmp`: most actions are short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortKey {
    len: u8,
    head: u64,
    tail: u64,
}

impl ShortKey {
    /// The longest action with a short key.
    const MAX: usize = 16;

    /// For a given length, the first and the last (overlapping) words cover every byte,
    /// so equal keys mean equal actions.
    #[inline]
    fn new(bytes: &[u8]) -> Option<ShortKey> {
        let len = bytes.len();
        if len > Self::MAX {
            return None;
        }
        let (head, tail) = if len > 8 {
            (Self::word(&bytes[..8]), Self::word(&bytes[len - 8..]))
        } else {
            (Self::word(bytes), 0)
        };
        Some(ShortKey {
            len: len as u8,
            head,
            tail,
        })
    }

    /// Up to 8 bytes as one word, read without a byte-by-byte copy: two overlapping reads
    /// cover every byte, and together with the length they say which bytes they were.
    #[inline]
    fn word(bytes: &[u8]) -> u64 {
        let len = bytes.len();
        if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32
        } else if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
            u64::from(first) | u64::from(bytes[len / 2]) << 8 | u64::from(last) << 16
        } else {
            0
        }
    }
}

/// The table shared by both sides: one handler per action, found in one hash lookup.
/// Keyed by the action's bytes, so a lookup needs no UTF-8 check of the action.
pub(crate) struct Table<H> {
    /// Actions of up to 16 bytes.
    short: FxMap<ShortKey, (H, &'static str)>,
    /// Longer ones.
    long: FxMap<Box<[u8]>, (H, &'static str)>,
}

impl<H> Default for Table<H> {
    fn default() -> Self {
        Self {
            short: FxMap::default(),
            long: FxMap::default(),
        }
    }
}

impl<H> Table<H> {
    #[track_caller]
    pub(crate) fn insert(&mut self, action: &str, what: &'static str, handler: H) {
        assert!(
            !action.starts_with(podnet_transport::RESERVED_PREFIX),
            "podnet: cannot register a handler for {action:?} ({what}): actions starting with \
             `podnet:` are podnet's own control messages"
        );
        if let Some((_, existing)) = self.entry(action.as_bytes()) {
            panic!(
                "podnet: two handlers for the action {action:?} ({existing} and {what}); each \
                 action has exactly one handler"
            );
        }
        match ShortKey::new(action.as_bytes()) {
            Some(key) => self.short.insert(key, (handler, what)),
            None => self.long.insert(action.as_bytes().into(), (handler, what)),
        };
    }

    #[inline]
    fn entry(&self, action: &[u8]) -> Option<&(H, &'static str)> {
        match ShortKey::new(action) {
            Some(key) => self.short.get(&key),
            None => self.long.get(action),
        }
    }

    #[inline]
    pub(crate) fn get(&self, action: &[u8]) -> Option<&H> {
        self.entry(action).map(|(handler, _)| handler)
    }

    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }
}

/// Decodes `msg` as the message type `M` a handler takes; a message that does not fit is an
/// [`Error::Handler`] naming both.
pub(crate) fn decode<M: Message + DeserializeOwned>(msg: &RawMessage) -> Result<M, Error> {
    msg.decode::<M>().map_err(|source| Error::Handler {
        action: msg.action().to_owned(),
        message_type: std::any::type_name::<M>(),
        source,
    })
}

/// Reads `msg` as a dynamic value, for value handlers and the fallback; a payload that
/// cannot be read is an [`Error::Fallback`].
pub(crate) fn to_value(msg: &RawMessage) -> Result<Value, Error> {
    msg.to_value().map_err(|source| Error::Fallback {
        action: msg.action().to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action finds its own handler and no other's, whatever its length: the short
    /// keys' overlapping words must never make two actions equal.
    #[test]
    fn table_tells_actions_apart() {
        let mut actions: Vec<String> = Vec::new();
        for len in 0..=20 {
            actions.push("a".repeat(len));
            actions.push(format!("{}b", "a".repeat(len)));
            actions.push(format!("b{}", "a".repeat(len)));
            if len >= 2 {
                let mut middle = "a".repeat(len).into_bytes();
                middle[len / 2] = b'c';
                actions.push(String::from_utf8(middle).unwrap());
            }
        }
        actions.sort();
        actions.dedup();
        let mut table = Table::default();
        for (i, action) in actions.iter().enumerate() {
            table.insert(action, "test", i);
        }
        assert_eq!(table.len(), actions.len());
        for (i, action) in actions.iter().enumerate() {
            assert_eq!(table.get(action.as_bytes()), Some(&i), "{action:?}");
        }
        assert_eq!(table.get(b"zz"), None);
        assert_eq!(table.get("x".repeat(40).as_bytes()), None);
    }
}
