//! Finding a handler by action name in one hash lookup, without comparing strings.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

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

/// The short action last found in an [`ActionMap`], and its value.
pub(crate) struct Recent<'m, V> {
    last: Option<(ShortKey, &'m V)>,
}

impl<V> Default for Recent<'_, V> {
    fn default() -> Self {
        Self { last: None }
    }
}

/// A map from action names to `V`, hashed with rustc's Fx hash (the `rustc-hash` crate):
/// a multiply per word, where SipHash costs several times as much on every message.
/// Flooding is no concern: the keys are handlers registered at start-up, so a peer's
/// action can only miss, never grow a bucket.
pub(crate) struct ActionMap<V> {
    /// Actions of up to 16 bytes.
    short: HashMap<ShortKey, V, FxBuildHasher>,
    /// Longer ones.
    long: HashMap<Box<[u8]>, V, FxBuildHasher>,
}

impl<V> Default for ActionMap<V> {
    fn default() -> Self {
        Self {
            short: HashMap::default(),
            long: HashMap::default(),
        }
    }
}

impl<V> ActionMap<V> {
    /// Adds `action`; returns the value it replaced.
    pub(crate) fn insert(&mut self, action: &[u8], value: V) -> Option<V> {
        match ShortKey::new(action) {
            Some(key) => self.short.insert(key, value),
            None => self.long.insert(action.into(), value),
        }
    }

    #[inline]
    pub(crate) fn get(&self, action: &[u8]) -> Option<&V> {
        match ShortKey::new(action) {
            Some(key) => self.short.get(&key),
            None => self.long.get(action),
        }
    }

    /// As [`get`](Self::get), first comparing `action` with the one `recent` remembers:
    /// a run of messages with one action (a burst of moves) hashes it once.
    #[inline]
    pub(crate) fn get_recent<'m>(
        &'m self,
        action: &[u8],
        recent: &mut Recent<'m, V>,
    ) -> Option<&'m V> {
        let Some(key) = ShortKey::new(action) else {
            return self.long.get(action);
        };
        if let Some((last, value)) = recent.last {
            if last == key {
                return Some(value);
            }
        }
        let value = self.short.get(&key)?;
        recent.last = Some((key, value));
        Some(value)
    }

    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.short.values().chain(self.long.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action finds its own value and no other's, whatever its length: the short
    /// keys' overlapping words must never make two actions equal.
    #[test]
    fn map_tells_actions_apart() {
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
        let mut map = ActionMap::default();
        for (i, action) in actions.iter().enumerate() {
            assert!(map.insert(action.as_bytes(), i).is_none(), "{action:?}");
        }
        assert_eq!(map.len(), actions.len());
        for (i, action) in actions.iter().enumerate() {
            assert_eq!(map.get(action.as_bytes()), Some(&i), "{action:?}");
        }
        assert_eq!(map.get(b"zz"), None);
        assert_eq!(map.get("x".repeat(40).as_bytes()), None);
    }
}
