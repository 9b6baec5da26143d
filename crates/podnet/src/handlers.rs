//! Handler tables keyed by action name: the Rust form of repod's `Network_<action>`
//! methods.

use std::collections::HashMap;

use podnet_framing::{Message, RawMessage};
use serde::de::DeserializeOwned;

use crate::Error;

/// The table shared by both sides: one handler per action, found in one hash lookup.
pub(crate) struct Table<H> {
    entries: HashMap<Box<str>, (H, &'static str)>,
}

impl<H> Default for Table<H> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
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
        if let Some((_, existing)) = self.entries.get(action) {
            panic!(
                "podnet: two handlers for the action {action:?} ({existing} and {what}); each \
                 action has exactly one handler"
            );
        }
        self.entries.insert(action.into(), (handler, what));
    }

    pub(crate) fn get(&self, action: &str) -> Option<&H> {
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
