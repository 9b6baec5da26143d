//! Unique names: the initiator's registry, and [`Player`], which holds one.
//!
//! A [`Player`] owns its name: the name is freed when the `Player` is dropped, wherever in
//! the pipeline that happens. Since a `Player` cannot be cloned, and is moved from stage to
//! stage (initiator → lobby → group → session → lobby), no stage can hold a player another
//! stage has, and none can forget to free a name: nine43's rule "what you send you no
//! longer own", checked by the compiler.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use podnet_proto::ConnectionId;

/// The names in use, by key (the name in lower case).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names(Arc<Mutex<HashSet<String>>>);

impl Names {
    fn taken(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // Inserts and removes only: a poisoned set is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `name` if it is valid and free.
    pub(crate) fn claim(&self, name: &str, max_len: usize) -> Result<Name, String> {
        if name.trim().is_empty() {
            return Err("the name is empty".into());
        }
        if name.chars().count() > max_len {
            return Err(format!("the name is longer than {max_len} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("the name has control characters".into());
        }
        let key = name.to_lowercase();
        if !self.taken().insert(key.clone()) {
            return Err("the name is taken".into());
        }
        Ok(Name {
            name: name.to_owned(),
            key,
            names: Some(self.clone()),
        })
    }

    /// How many names are held.
    pub(crate) fn len(&self) -> usize {
        self.taken().len()
    }
}

/// A name in use. Dropping it frees the name.
pub struct Name {
    name: String,
    key: String,
    /// The registry it is held in; `None` for a visitor's name, held by its home node.
    names: Option<Names>,
}

impl Name {
    /// The name as the player wrote it.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        if let Some(names) = &self.names {
            names.taken().remove(&self.key);
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.name, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A logged-in player: a connection and the name it holds. Not `Clone`: each player is
/// in exactly one place, and dropping it frees the name.
#[derive(Debug)]
pub struct Player {
    id: ConnectionId,
    name: Name,
}

impl Player {
    pub(crate) fn new(id: ConnectionId, name: Name) -> Self {
        Self { id, name }
    }

    /// A player of another node taking part in a session here (cluster lobby): `id` is
    /// the visitor's id on this node, and the name is held by the player's own node.
    pub(crate) fn visitor(id: ConnectionId, name: String) -> Self {
        Self {
            id,
            name: Name {
                key: String::new(),
                name,
                names: None,
            },
        }
    }

    /// The player's connection.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// The player's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_ignoring_case_and_freed_on_drop() {
        let names = Names::default();
        let alice = names.claim("Alice", 16).unwrap();
        assert_eq!(names.claim("alice", 16).unwrap_err(), "the name is taken");
        let player = Player::new(ConnectionId::from_raw(1), alice);
        assert_eq!(player.name(), "Alice");
        drop(player);
        assert_eq!(names.len(), 0);
        assert!(names.claim("alice", 16).is_ok());
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        let names = Names::default();
        assert_eq!(names.claim("", 16).unwrap_err(), "the name is empty");
        assert_eq!(names.claim("   ", 16).unwrap_err(), "the name is empty");
        assert!(
            names
                .claim(&"x".repeat(17), 16)
                .unwrap_err()
                .contains("longer than 16")
        );
        let long = names.claim(&"é".repeat(16), 16);
        assert!(long.is_ok(), "characters, not bytes");
        assert!(names.claim("a\nb", 16).unwrap_err().contains("control"));
        assert_eq!(names.len(), 1);
    }
}
