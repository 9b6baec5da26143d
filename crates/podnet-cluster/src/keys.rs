//! Where things are in Redis: every key and channel the cluster uses, in one place.
//!
//! | key | type | what | TTL |
//! |---|---|---|---|
//! | `{prefix}:node:{id}` | hash | a live node: `players`, `sessions`, `started` (unix ms) | `ttl`, refreshed every `heartbeat` |
//! | `{prefix}:name:{name}` | string | a claimed player name (lowercase): the node id holding it | `ttl`, refreshed by its node |
//! | `{prefix}:names:{id}` | set | the names node `id` holds, for refreshing and releasing them | `ttl`, refreshed with the node |
//! | `{prefix}:queue:{queue}` | list | players waiting for a group, `{node}\n{connection}\n{ticket}\n{name}`, in arrival order | none: a dead node's entries are dropped when they reach the head |
//! | `{prefix}:taken:{queue}:{entry}` | string | an entry taken into a group: not queued again | 12 `ttl`s |

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn node(&self, id: &str) -> String {
        format!("{}:node:{id}", self.prefix)
    }

    /// What `SCAN ... MATCH` finds every node key with.
    pub(crate) fn node_pattern(&self) -> String {
        format!("{}:node:*", self.prefix)
    }

    /// The node id in a node key.
    pub(crate) fn node_id<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?.strip_prefix(":node:")
    }

    /// A name's key: names compare ignoring case.
    pub(crate) fn name(&self, name: &str) -> String {
        format!("{}:name:{}", self.prefix, name.to_lowercase())
    }

    /// The mark of an entry of `queue` taken into a group.
    pub(crate) fn taken(&self, queue: &str, entry: &str) -> String {
        format!("{}:taken:{queue}:{entry}", self.prefix)
    }

    pub(crate) fn names_of(&self, id: &str) -> String {
        format!("{}:names:{id}", self.prefix)
    }

    pub(crate) fn queue(&self, queue: &str) -> String {
        format!("{}:queue:{queue}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_names_ignore_case() {
        let keys = Keys::new("game");
        assert_eq!(keys.node("a1"), "game:node:a1");
        assert_eq!(keys.node_id("game:node:a1"), Some("a1"));
        assert_eq!(keys.node_id("other:node:a1"), None);
        assert_eq!(keys.name("Ada"), keys.name("ADA"));
        assert_eq!(keys.names_of("a1"), "game:names:a1");
    }
}
