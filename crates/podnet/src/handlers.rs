//! Handler tables keyed by action name: the Rust form of repod's `Network_<action>`
//! methods.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use podnet_framing::{Message, RawMessage, Value};
use serde::de::DeserializeOwned;

use crate::Error;

/// FNV-1a, for the facade's small tables keyed by action names and connection ids: a
/// fraction of SipHash's cost on keys this short. Flooding is no concern: the keys are
/// handlers registered at start-up and ids the server assigns, so a peer's action can only
/// miss, never grow a bucket.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A `HashMap` hashing with [`Fnv`].
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The table shared by both sides: one handler per action, found in one hash lookup.
pub(crate) struct Table<H> {
    /// Keyed by the action's bytes, so a lookup needs no UTF-8 check of the action.
    entries: FnvMap<Box<[u8]>, (H, &'static str)>,
}

impl<H> Default for Table<H> {
    fn default() -> Self {
        Self {
            entries: FnvMap::default(),
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
        if let Some((_, existing)) = self.entries.get(action.as_bytes()) {
            panic!(
                "podnet: two handlers for the action {action:?} ({existing} and {what}); each \
                 action has exactly one handler"
            );
        }
        self.entries
            .insert(action.as_bytes().into(), (handler, what));
    }

    pub(crate) fn get(&self, action: &[u8]) -> Option<&H> {
        self.entries.get(action).map(|(handler, _)| handler)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
