//! State as a msgpack tree, the difference between two trees as a list of operations, and
//! applying them: sans-IO, the same on both sides of the wire.
//!
//! A state is serialized with its fields named (a struct is a map from field name to
//! value), so that a patch can name where a change is: a *path* of map keys (strings or
//! integers) and list indices. Three operations are enough:
//!
//! | op | wire | meaning |
//! |---|---|---|
//! | set | `[1, path, value]` | the value at `path` is now `value` (a new map entry, a list item appended at the end, or a replaced value) |
//! | remove | `[0, path]` | the map entry at `path` is gone |
//! | truncate | `[2, path, len]` | the list at `path` keeps its first `len` items |

use std::collections::HashMap;

use rmpv::Value;
use serde::Serialize;

use crate::StateError;

/// Serializes `state` to a tree, with struct fields named.
///
/// # Errors
///
/// [`StateError::Serialize`] if it does not serialize to msgpack.
pub fn tree<S: Serialize + ?Sized>(state: &S) -> Result<Value, StateError> {
    let bytes = rmp_serde::to_vec_named(state).map_err(|e| StateError::Serialize(e.to_string()))?;
    rmpv::decode::read_value(&mut bytes.as_slice())
        .map_err(|e| StateError::Serialize(e.to_string()))
}

/// One change between two trees.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The value at `path` is `value`.
    Set {
        /// Where.
        path: Vec<Value>,
        /// What is there now.
        value: Value,
    },
    /// The map entry at `path` is gone.
    Remove {
        /// Where.
        path: Vec<Value>,
    },
    /// The list at `path` keeps its first `len` items.
    Truncate {
        /// Where.
        path: Vec<Value>,
        /// How many.
        len: usize,
    },
}

const REMOVE: u8 = 0;
const SET: u8 = 1;
const TRUNCATE: u8 = 2;

impl Op {
    /// The op as it goes on the wire.
    pub fn to_value(&self) -> Value {
        match self {
            Op::Remove { path } => Value::Array(vec![REMOVE.into(), Value::Array(path.clone())]),
            Op::Set { path, value } => {
                Value::Array(vec![SET.into(), Value::Array(path.clone()), value.clone()])
            }
            Op::Truncate { path, len } => Value::Array(vec![
                TRUNCATE.into(),
                Value::Array(path.clone()),
                (*len as u64).into(),
            ]),
        }
    }

    /// Reads an op off the wire.
    ///
    /// # Errors
    ///
    /// [`StateError::BadMessage`] for anything else.
    pub fn from_value(value: &Value) -> Result<Op, StateError> {
        let bad = || StateError::BadMessage(format!("not a patch operation: {value}"));
        let Value::Array(parts) = value else {
            return Err(bad());
        };
        let (Some(kind), Some(Value::Array(path))) =
            (parts.first().and_then(Value::as_u64), parts.get(1))
        else {
            return Err(bad());
        };
        let path = path.clone();
        match (
            u8::try_from(kind).map_err(|_| bad())?,
            parts.get(2),
            parts.len(),
        ) {
            (REMOVE, None, 2) => Ok(Op::Remove { path }),
            (SET, Some(value), 3) => Ok(Op::Set {
                path,
                value: value.clone(),
            }),
            (TRUNCATE, Some(len), 3) => Ok(Op::Truncate {
                path,
                len: len
                    .as_u64()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

/// A map key a patch can name: a string or an integer.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key<'a> {
    Str(&'a str),
    Int(i128),
}

fn key(value: &Value) -> Option<Key<'_>> {
    match value {
        Value::String(s) => s.as_str().map(Key::Str),
        Value::Integer(i) => i
            .as_i64()
            .map(i128::from)
            .or_else(|| i.as_u64().map(i128::from))
            .map(Key::Int),
        _ => None,
    }
}

/// Whether every key of a map is one a patch can name, each once.
fn keyed(map: &[(Value, Value)]) -> bool {
    map.iter().all(|(k, _)| key(k).is_some())
}

/// The ops that turn `old` into `new`, appended to `ops` (`path` is where both are).
pub fn diff(old: &Value, new: &Value, path: &mut Vec<Value>, ops: &mut Vec<Op>) {
    match (old, new) {
        (Value::Map(a), Value::Map(b)) if keyed(a) && keyed(b) => {
            // Small maps (a struct's fields) are searched; large ones (entities by id)
            // indexed.
            let index: Option<HashMap<Key<'_>, &Value>> =
                (a.len() > 16).then(|| a.iter().filter_map(|(k, v)| Some((key(k)?, v))).collect());
            let find = |k: &Value| -> Option<&Value> {
                match &index {
                    Some(index) => index.get(&key(k)?).copied(),
                    None => a.iter().find(|(ak, _)| key(ak) == key(k)).map(|(_, v)| v),
                }
            };
            for (k, vb) in b {
                path.push(k.clone());
                match find(k) {
                    Some(va) if va == vb => {}
                    Some(va) => diff(va, vb, path, ops),
                    None => ops.push(Op::Set {
                        path: path.clone(),
                        value: vb.clone(),
                    }),
                }
                path.pop();
            }
            let in_b: Option<std::collections::HashSet<Key<'_>>> =
                (b.len() > 16).then(|| b.iter().filter_map(|(k, _)| key(k)).collect());
            for (k, _) in a {
                let kept = match &in_b {
                    Some(in_b) => key(k).is_some_and(|k| in_b.contains(&k)),
                    None => b.iter().any(|(bk, _)| key(bk) == key(k)),
                };
                if !kept {
                    path.push(k.clone());
                    ops.push(Op::Remove { path: path.clone() });
                    path.pop();
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                if va != vb {
                    path.push(Value::from(i as u64));
                    diff(va, vb, path, ops);
                    path.pop();
                }
            }
            if b.len() < a.len() {
                ops.push(Op::Truncate {
                    path: path.clone(),
                    len: b.len(),
                });
            }
            for (i, vb) in b.iter().enumerate().skip(a.len()) {
                path.push(Value::from(i as u64));
                ops.push(Op::Set {
                    path: path.clone(),
                    value: vb.clone(),
                });
                path.pop();
            }
        }
        _ if old != new => ops.push(Op::Set {
            path: path.clone(),
            value: new.clone(),
        }),
        _ => {}
    }
}

/// What a patch changed, for a replica's callbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Where.
    pub path: Vec<Value>,
    /// What happened there.
    pub kind: ChangeKind,
}

/// What happened at a [`Change`]'s path.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    /// A new map entry or list item, with its value.
    Added(Value),
    /// A value replaced: the new one.
    Changed(Value),
    /// A map entry or list item gone (a list item for each index past a truncation).
    Removed,
}

/// The deepest path a patch may name: deeper trees are replaced whole.
pub const MAX_DEPTH: usize = 64;

fn child<'v>(node: &'v mut Value, step: &Value) -> Option<&'v mut Value> {
    match node {
        Value::Map(entries) => {
            let step = key(step)?;
            entries
                .iter_mut()
                .find(|(k, _)| key(k).as_ref() == Some(&step))
                .map(|(_, v)| v)
        }
        Value::Array(items) => items.get_mut(usize::try_from(step.as_u64()?).ok()?),
        _ => None,
    }
}

/// Applies `op` to `tree`; returns what changed.
///
/// # Errors
///
/// [`StateError::BadMessage`] if the op does not fit the tree (a path that leads nowhere,
/// a list index past the end): the tree is left as it was.
pub fn apply(tree: &mut Value, op: &Op, changes: &mut Vec<Change>) -> Result<(), StateError> {
    let path = match op {
        Op::Set { path, .. } | Op::Remove { path } | Op::Truncate { path, .. } => path,
    };
    let bad = |why: &str| StateError::BadMessage(format!("{why} at {path:?}"));
    if path.len() > MAX_DEPTH {
        return Err(bad("a path too deep"));
    }
    if let Op::Truncate { len, .. } = op {
        let mut node = &mut *tree;
        for step in path {
            node = child(node, step).ok_or_else(|| bad("no such place"))?;
        }
        let Value::Array(items) = node else {
            return Err(bad("not a list"));
        };
        for i in *len..items.len() {
            let mut at = path.clone();
            at.push(Value::from(i as u64));
            changes.push(Change {
                path: at,
                kind: ChangeKind::Removed,
            });
        }
        items.truncate(*len);
        return Ok(());
    }
    let Some((last, parent_path)) = path.split_last() else {
        // The whole tree.
        return match op {
            Op::Set { value, .. } => {
                *tree = value.clone();
                changes.push(Change {
                    path: Vec::new(),
                    kind: ChangeKind::Changed(value.clone()),
                });
                Ok(())
            }
            _ => Err(bad("the root cannot be removed")),
        };
    };
    let mut node = &mut *tree;
    for step in parent_path {
        node = child(node, step).ok_or_else(|| bad("no such place"))?;
    }
    let kind = match (node, op) {
        (Value::Map(entries), Op::Set { value, .. }) => {
            let k = key(last).ok_or_else(|| bad("not a key"))?;
            match entries
                .iter_mut()
                .find(|(ek, _)| key(ek).as_ref() == Some(&k))
            {
                Some((_, v)) => {
                    *v = value.clone();
                    ChangeKind::Changed(value.clone())
                }
                None => {
                    entries.push((last.clone(), value.clone()));
                    ChangeKind::Added(value.clone())
                }
            }
        }
        (Value::Map(entries), Op::Remove { .. }) => {
            let k = key(last).ok_or_else(|| bad("not a key"))?;
            let at = entries
                .iter()
                .position(|(ek, _)| key(ek).as_ref() == Some(&k))
                .ok_or_else(|| bad("no such entry"))?;
            entries.remove(at);
            ChangeKind::Removed
        }
        (Value::Array(items), Op::Set { value, .. }) => {
            let i = last
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| bad("not an index"))?;
            match i.cmp(&items.len()) {
                std::cmp::Ordering::Less => {
                    items[i] = value.clone();
                    ChangeKind::Changed(value.clone())
                }
                std::cmp::Ordering::Equal => {
                    items.push(value.clone());
                    ChangeKind::Added(value.clone())
                }
                std::cmp::Ordering::Greater => return Err(bad("an index past the end")),
            }
        }
        _ => return Err(bad("no such place")),
    };
    changes.push(Change {
        path: path.clone(),
        kind,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_diff_applied_gives_the_new_tree() {
        let old = map(&[
            ("a", 1.into()),
            ("b", Value::Array(vec![1.into(), 2.into(), 3.into()])),
            ("c", map(&[("x", "y".into())])),
        ]);
        let new = map(&[
            ("b", Value::Array(vec![1.into(), 5.into()])),
            ("c", map(&[("x", "z".into()), ("w", true.into())])),
            ("d", Value::Nil),
        ]);
        let mut ops = Vec::new();
        diff(&old, &new, &mut Vec::new(), &mut ops);
        let mut tree = old.clone();
        let mut changes = Vec::new();
        for op in &ops {
            let op = Op::from_value(&op.to_value()).unwrap();
            apply(&mut tree, &op, &mut changes).unwrap();
        }
        let mut ops_again = Vec::new();
        diff(&tree, &new, &mut Vec::new(), &mut ops_again);
        assert!(ops_again.is_empty(), "{ops_again:?}");
        assert!(changes.contains(&Change {
            path: vec!["a".into()],
            kind: ChangeKind::Removed
        }));
        assert!(changes.contains(&Change {
            path: vec!["b".into(), 2u64.into()],
            kind: ChangeKind::Removed
        }));
        assert!(changes.contains(&Change {
            path: vec!["c".into(), "w".into()],
            kind: ChangeKind::Added(true.into())
        }));
    }

    #[test]
    fn ops_that_do_not_fit_are_refused_and_change_nothing() {
        let tree = map(&[("a", Value::Array(vec![1.into()]))]);
        for op in [
            Op::Set {
                path: vec!["a".into(), 5u64.into()],
                value: 1.into(),
            },
            Op::Remove {
                path: vec!["nope".into()],
            },
            Op::Truncate {
                path: vec!["nope".into()],
                len: 0,
            },
            Op::Remove { path: vec![] },
            Op::Set {
                path: vec![Value::from(1.5); MAX_DEPTH + 1],
                value: 1.into(),
            },
        ] {
            let mut t = tree.clone();
            assert!(apply(&mut t, &op, &mut Vec::new()).is_err(), "{op:?}");
            assert_eq!(t, tree);
        }
        for bad in [
            Value::Nil,
            Value::Array(vec![9.into(), Value::Array(vec![])]),
            Value::Array(vec![1.into(), Value::Array(vec![])]),
            Value::Array(vec![2.into(), Value::Array(vec![]), (-1).into()]),
        ] {
            assert!(Op::from_value(&bad).is_err(), "{bad}");
        }
    }
}
