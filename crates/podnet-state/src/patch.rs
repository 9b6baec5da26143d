//! The operations of a patch, and applying them to a state as a msgpack tree: sans-IO,
//! as a client does.
//!
//! A state is serialized with its fields named (a struct is a map from field name to
//! value), so that a patch can name where a change is: a *path* of map keys (strings or
//! integers) and list indices. Three operations are enough:
//!
//! | op | wire | meaning |
//! |---|---|---|
//! | merge | `[3, path, changes]` | the map at `path` changes as the map `changes` says: for each of its entries, a value that is the *removed* mark (msgpack ext type 80) removes the entry; a map, where the entry is a map too, is merged into it the same way; any other value replaces the entry or adds it |
//! | set | `[1, path, value]` | the value at `path` is now `value` (a list item appended at the end, a replaced value) |
//! | truncate | `[2, path, len]` | the list at `path` keeps its first `len` items |
//!
//! A merge says all the changes of a map and of the maps inside it in one op, each key
//! once: a player who moved is `{"players": {12: {"x": 3.5, "y": 7.0}}}`.

use rmpv::Value;

use crate::StateError;

/// One operation of a patch.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The value at `path` is `value`.
    Set {
        /// Where.
        path: Vec<Value>,
        /// What is there now.
        value: Value,
    },
    /// The map at `path` changes as `changes` says (see the module's table).
    Merge {
        /// Where.
        path: Vec<Value>,
        /// The changes: a map.
        changes: Value,
    },
    /// The list at `path` keeps its first `len` items.
    Truncate {
        /// Where.
        path: Vec<Value>,
        /// How many.
        len: usize,
    },
}

const SET: u8 = 1;
const TRUNCATE: u8 = 2;
const MERGE: u8 = 3;

/// The ext type of the *removed* mark in a merge.
pub const REMOVED_EXT: i8 = crate::raw::REMOVED_EXT;

fn is_removed(value: &Value) -> bool {
    matches!(value, Value::Ext(REMOVED_EXT, _))
}

impl Op {
    /// The op as it goes on the wire.
    pub fn to_value(&self) -> Value {
        match self {
            Op::Merge { path, changes } => Value::Array(vec![
                MERGE.into(),
                Value::Array(path.clone()),
                changes.clone(),
            ]),
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
            (MERGE, Some(changes @ Value::Map(_)), 3) => Ok(Op::Merge {
                path,
                changes: changes.clone(),
            }),
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

/// Whether `changes` is a merge map a replica can apply: a map with keys a path can name,
/// its nested maps too, not deeper than [`MAX_DEPTH`].
fn mergeable(changes: &Value, depth: usize) -> bool {
    match changes {
        Value::Map(entries) => {
            depth < MAX_DEPTH
                && entries.iter().all(|(k, v)| {
                    key(k).is_some() && (!matches!(v, Value::Map(_)) || mergeable(v, depth + 1))
                })
        }
        _ => false,
    }
}

fn merge_into(
    target: &mut Vec<(Value, Value)>,
    changes: &[(Value, Value)],
    path: &mut Vec<Value>,
    out: &mut Vec<Change>,
) {
    for (k, v) in changes {
        let at = key(k).and_then(|k| {
            target
                .iter()
                .position(|(tk, _)| key(tk).as_ref() == Some(&k))
        });
        path.push(k.clone());
        if is_removed(v) {
            if let Some(at) = at {
                target.remove(at);
                out.push(Change {
                    path: path.clone(),
                    kind: ChangeKind::Removed,
                });
            }
        } else if let (Some(at), Value::Map(nested)) = (at, v) {
            match &mut target[at].1 {
                Value::Map(inner) => merge_into(inner, nested, path, out),
                other => {
                    *other = v.clone();
                    out.push(Change {
                        path: path.clone(),
                        kind: ChangeKind::Changed(v.clone()),
                    });
                }
            }
        } else if let Some(at) = at {
            target[at].1 = v.clone();
            out.push(Change {
                path: path.clone(),
                kind: ChangeKind::Changed(v.clone()),
            });
        } else {
            target.push((k.clone(), v.clone()));
            out.push(Change {
                path: path.clone(),
                kind: ChangeKind::Added(v.clone()),
            });
        }
        path.pop();
    }
}

/// Applies `op` to `tree`; returns what changed (a merge reports each entry it removed,
/// replaced or added, at its full path).
///
/// # Errors
///
/// [`StateError::BadMessage`] if the op does not fit the tree (a path that leads nowhere,
/// a list index past the end, a merge that is not a map of nameable keys or whose place
/// is not a map): the tree is left as it was.
pub fn apply(tree: &mut Value, op: &Op, changes: &mut Vec<Change>) -> Result<(), StateError> {
    let path = match op {
        Op::Set { path, .. } | Op::Merge { path, .. } | Op::Truncate { path, .. } => path,
    };
    let bad = |why: &str| StateError::BadMessage(format!("{why} at {path:?}"));
    if path.len() > MAX_DEPTH {
        return Err(bad("a path too deep"));
    }
    match op {
        Op::Truncate { len, .. } => {
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
            Ok(())
        }
        Op::Merge { changes: merge, .. } => {
            if !mergeable(merge, path.len()) {
                return Err(bad("a merge that is not one"));
            }
            let mut node = &mut *tree;
            for step in path {
                node = child(node, step).ok_or_else(|| bad("no such place"))?;
            }
            let (Value::Map(target), Value::Map(merge)) = (node, merge) else {
                return Err(bad("not a map"));
            };
            merge_into(target, merge, &mut path.clone(), changes);
            Ok(())
        }
        Op::Set { value, .. } => {
            let Some((last, parent_path)) = path.split_last() else {
                *tree = value.clone();
                changes.push(Change {
                    path: Vec::new(),
                    kind: ChangeKind::Changed(value.clone()),
                });
                return Ok(());
            };
            let mut node = &mut *tree;
            for step in parent_path {
                node = child(node, step).ok_or_else(|| bad("no such place"))?;
            }
            let kind = match node {
                Value::Map(entries) => {
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
                Value::Array(items) => {
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
    }
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
    fn a_merge_reports_each_entry_at_its_path() {
        let mut tree = map(&[
            ("a", 1.into()),
            ("c", map(&[("x", "y".into()), ("q", 1.into())])),
        ]);
        let changes = map(&[
            ("a", Value::Ext(REMOVED_EXT, vec![0])),
            ("c", map(&[("x", "z".into()), ("w", true.into())])),
            ("d", map(&[("new", 1.into())])),
        ]);
        let op = Op::from_value(
            &Op::Merge {
                path: vec![],
                changes,
            }
            .to_value(),
        )
        .unwrap();
        let mut got = Vec::new();
        apply(&mut tree, &op, &mut got).unwrap();
        assert_eq!(
            tree,
            map(&[
                (
                    "c",
                    map(&[("x", "z".into()), ("q", 1.into()), ("w", true.into())])
                ),
                ("d", map(&[("new", 1.into())])),
            ])
        );
        let kinds: Vec<(Vec<Value>, ChangeKind)> =
            got.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            kinds,
            [
                (vec!["a".into()], ChangeKind::Removed),
                (
                    vec!["c".into(), "x".into()],
                    ChangeKind::Changed("z".into())
                ),
                (vec!["c".into(), "w".into()], ChangeKind::Added(true.into())),
                (
                    vec!["d".into()],
                    ChangeKind::Added(map(&[("new", 1.into())]))
                ),
            ]
        );
    }

    #[test]
    fn ops_that_do_not_fit_are_refused_and_change_nothing() {
        let tree = map(&[("a", Value::Array(vec![1.into()]))]);
        for op in [
            Op::Set {
                path: vec!["a".into(), 5u64.into()],
                value: 1.into(),
            },
            Op::Merge {
                path: vec!["a".into()],
                changes: map(&[("x", 1.into())]),
            },
            Op::Merge {
                path: vec![],
                changes: Value::Map(vec![(Value::F32(1.0), 1.into())]),
            },
            Op::Truncate {
                path: vec!["nope".into()],
                len: 0,
            },
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
            Value::Array(vec![3.into(), Value::Array(vec![]), 1.into()]),
            Value::Array(vec![2.into(), Value::Array(vec![]), (-1).into()]),
        ] {
            assert!(Op::from_value(&bad).is_err(), "{bad}");
        }
    }
}
