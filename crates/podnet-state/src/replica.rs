//! The player's side: a replica of the state, kept up to date by the server's messages.

use podnet_framing::RawMessage;
use rmpv::Value;
use serde::de::DeserializeOwned;

use crate::patch::{Change, ChangeKind, Op, apply};
use crate::{FULL, PATCH, StateError};

/// A replica of a server's [`Replicated`](crate::Replicated) state: hand it the state
/// messages ([`apply`](Self::apply)), read it typed ([`get`](Self::get)) or as a tree,
/// and act on what changed.
#[derive(Debug, Clone)]
pub struct Replica {
    name: String,
    tree: Option<Value>,
}

impl Replica {
    /// A replica of the state called `name` (the server's `StateConfig::name`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tree: None,
        }
    }

    /// Whether `msg` is a message of this state (`state:full` or `state:patch` with its
    /// name).
    pub fn is_mine(&self, msg: &RawMessage) -> bool {
        let action = msg.action();
        (action == FULL || action == PATCH)
            && msg
                .to_value()
                .ok()
                .is_some_and(|v| v["name"].as_str() == Some(self.name.as_str()))
    }

    /// Applies a state message; returns what changed (empty for a message of another
    /// state, or of something else). A whole state reports itself as one change at the
    /// root.
    ///
    /// # Errors
    ///
    /// [`StateError::BadMessage`] for a state message that does not fit: a patch before
    /// the whole state, an op that leads nowhere. The replica keeps what it had up to
    /// the op that did not fit.
    pub fn apply(&mut self, msg: &RawMessage) -> Result<Vec<Change>, StateError> {
        let action = msg.action();
        if action != FULL && action != PATCH {
            return Ok(Vec::new());
        }
        let value = msg
            .to_value()
            .map_err(|e| StateError::BadMessage(e.to_string()))?;
        if value["name"].as_str() != Some(self.name.as_str()) {
            return Ok(Vec::new());
        }
        let mut changes = Vec::new();
        if action == FULL {
            let state = value["state"].clone();
            changes.push(Change {
                path: Vec::new(),
                kind: ChangeKind::Changed(state.clone()),
            });
            self.tree = Some(state);
            return Ok(changes);
        }
        let tree = self
            .tree
            .as_mut()
            .ok_or_else(|| StateError::BadMessage("a patch before the whole state".to_owned()))?;
        let Value::Array(ops) = &value["ops"] else {
            return Err(StateError::BadMessage("a patch without ops".to_owned()));
        };
        for op in ops {
            apply(tree, &Op::from_value(op)?, &mut changes)?;
        }
        Ok(changes)
    }

    /// The state as a tree (`None` before the whole state arrived).
    pub fn tree(&self) -> Option<&Value> {
        self.tree.as_ref()
    }

    /// The state, typed.
    ///
    /// # Errors
    ///
    /// [`StateError::Deserialize`] if it is not a `T` (or has not arrived yet).
    pub fn get<T: DeserializeOwned>(&self) -> Result<T, StateError> {
        let err = |why: String| StateError::Deserialize {
            ty: std::any::type_name::<T>(),
            why,
        };
        let tree = self
            .tree
            .as_ref()
            .ok_or_else(|| err("nothing arrived yet".to_owned()))?;
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, tree).map_err(|e| err(e.to_string()))?;
        rmp_serde::from_slice(&bytes).map_err(|e| err(e.to_string()))
    }
}
