//! The difference between two states, found on their msgpack bytes: no tree is built,
//! equal parts are skipped with one comparison of their bytes, and a changed value goes
//! into its op as the bytes it already has.

use rmpv::Value;

use crate::StateError;

/// How deep the comparison goes: deeper values are replaced whole.
const MAX_DEPTH: usize = 64;

/// The length of the msgpack value at the start of `b`, if it is whole.
pub(crate) fn skip(b: &[u8]) -> Option<usize> {
    skip_at(b, 0)
}

fn be(b: &[u8], at: usize, n: usize) -> Option<usize> {
    let bytes = b.get(at..at + n)?;
    Some(
        bytes
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x)),
    )
}

fn skip_at(b: &[u8], depth: usize) -> Option<usize> {
    if depth > 1000 {
        return None;
    }
    let marker = *b.first()?;
    let sized = |header: usize, len: usize| {
        let end = header.checked_add(len)?;
        (end <= b.len()).then_some(end)
    };
    match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(1),
        0x80..=0x8f => seq(b, 1, usize::from(marker & 0x0f) * 2, depth),
        0x90..=0x9f => seq(b, 1, usize::from(marker & 0x0f), depth),
        0xa0..=0xbf => sized(1, usize::from(marker & 0x1f)),
        0xc4 | 0xd9 => sized(2, be(b, 1, 1)?),
        0xc5 | 0xda => sized(3, be(b, 1, 2)?),
        0xc6 | 0xdb => sized(5, be(b, 1, 4)?),
        0xc7 => sized(3, be(b, 1, 1)?),
        0xc8 => sized(4, be(b, 1, 2)?),
        0xc9 => sized(6, be(b, 1, 4)?),
        0xca => sized(1, 4),
        0xcb => sized(1, 8),
        0xcc | 0xd0 => sized(1, 1),
        0xcd | 0xd1 => sized(1, 2),
        0xce | 0xd2 => sized(1, 4),
        0xcf | 0xd3 => sized(1, 8),
        0xd4 => sized(2, 1),
        0xd5 => sized(2, 2),
        0xd6 => sized(2, 4),
        0xd7 => sized(2, 8),
        0xd8 => sized(2, 16),
        0xdc => seq(b, 3, be(b, 1, 2)?, depth),
        0xdd => seq(b, 5, be(b, 1, 4)?, depth),
        0xde => seq(b, 3, be(b, 1, 2)?.checked_mul(2)?, depth),
        0xdf => seq(b, 5, be(b, 1, 4)?.checked_mul(2)?, depth),
        0xc1 => None,
    }
}

/// `n` values one after the other from `at`: where they end.
fn seq(b: &[u8], mut at: usize, n: usize, depth: usize) -> Option<usize> {
    for _ in 0..n {
        at += skip_at(b.get(at..)?, depth + 1)?;
    }
    Some(at)
}

/// A map's entries (key bytes, value bytes), or `None` if `b` is not a map.
fn entries(b: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let marker = *b.first()?;
    let (header, n) = match marker {
        0x80..=0x8f => (1, usize::from(marker & 0x0f)),
        0xde => (3, be(b, 1, 2)?),
        0xdf => (5, be(b, 1, 4)?),
        _ => return None,
    };
    let mut out = Vec::with_capacity(n.min(1024));
    let mut at = header;
    for _ in 0..n {
        let k = skip(b.get(at..)?)?;
        let key = &b[at..at + k];
        at += k;
        let v = skip(b.get(at..)?)?;
        out.push((key, &b[at..at + v]));
        at += v;
    }
    Some(out)
}

/// A list's items, or `None` if `b` is not a list.
fn items(b: &[u8]) -> Option<Vec<&[u8]>> {
    let marker = *b.first()?;
    let (header, n) = match marker {
        0x90..=0x9f => (1, usize::from(marker & 0x0f)),
        0xdc => (3, be(b, 1, 2)?),
        0xdd => (5, be(b, 1, 4)?),
        _ => return None,
    };
    let mut out = Vec::with_capacity(n.min(1024));
    let mut at = header;
    for _ in 0..n {
        let v = skip(b.get(at..)?)?;
        out.push(&b[at..at + v]);
        at += v;
    }
    Some(out)
}

/// Whether a key's bytes are a string or an integer (a key a path can name).
fn nameable(key: &[u8]) -> bool {
    matches!(
        key.first(),
        Some(0x00..=0x7f | 0xe0..=0xff | 0xa0..=0xbf | 0xcc..=0xd3 | 0xd9..=0xdb)
    )
}

/// One change, its value still the bytes it had in the new state.
pub(crate) enum RawOp<'a> {
    Set(Vec<Value>, &'a [u8]),
    Truncate(Vec<Value>, usize),
    /// The changes to the map at the path, as a merge map (see the `patch` module).
    Merge(Vec<Value>, Vec<u8>),
}

/// The ext type that marks a removed entry in a merge.
pub(crate) const REMOVED_EXT: i8 = 80;
/// [`REMOVED_EXT`], encoded (a fixext 1 with a zero byte).
const REMOVED: [u8; 3] = [0xd4, REMOVED_EXT as u8, 0];

/// A step of a path while the comparison walks: a map key's bytes or a list index,
/// decoded only for the path of an op.
#[derive(Clone, Copy)]
pub(crate) enum Step<'a> {
    Key(&'a [u8]),
    Index(usize),
}

/// `path` as an op names it.
fn decode(path: &[Step<'_>]) -> Result<Vec<Value>, StateError> {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => rmpv::decode::read_value(&mut &key[..])
                .map_err(|e| StateError::Serialize(e.to_string())),
            Step::Index(i) => Ok(Value::from(*i as u64)),
        })
        .collect()
}

/// A map whose keys a path can all name.
fn nameable_map(b: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    entries(b).filter(|e| e.iter().all(|(k, _)| nameable(k)))
}

/// The ops that turn `old` into `new` (both whole msgpack values), appended to `ops`.
pub(crate) fn diff<'a>(
    old: &'a [u8],
    new: &'a [u8],
    path: &mut Vec<Step<'a>>,
    ops: &mut Vec<RawOp<'a>>,
) -> Result<(), StateError> {
    if old == new {
        return Ok(());
    }
    if path.len() < MAX_DEPTH {
        if let (Some(a), Some(b)) = (nameable_map(old), nameable_map(new)) {
            let mut later = Vec::new();
            let merge = merge(&a, &b, path, &mut later)?;
            if let Some(merge) = merge {
                ops.push(RawOp::Merge(decode(path)?, merge));
            }
            ops.append(&mut later);
            return Ok(());
        }
        if let (Some(a), Some(b)) = (items(old), items(new)) {
            for (i, (va, vb)) in a.iter().zip(&b).enumerate() {
                if va != vb {
                    path.push(Step::Index(i));
                    diff(va, vb, path, ops)?;
                    path.pop();
                }
            }
            if b.len() < a.len() {
                ops.push(RawOp::Truncate(decode(path)?, b.len()));
            }
            for (i, vb) in b.iter().enumerate().skip(a.len()) {
                path.push(Step::Index(i));
                ops.push(RawOp::Set(decode(path)?, vb));
                path.pop();
            }
            return Ok(());
        }
    }
    ops.push(RawOp::Set(decode(path)?, new));
    Ok(())
}

/// The merge map that turns map `a` into map `b` (both at `path`), or `None` if nothing
/// changed in them but their lists; changes of lists (which a merge map cannot say) and
/// maps replaced by maps of other keys go into `later`, to apply after it.
fn merge<'a>(
    a: &[(&'a [u8], &'a [u8])],
    b: &[(&'a [u8], &'a [u8])],
    path: &mut Vec<Step<'a>>,
    later: &mut Vec<RawOp<'a>>,
) -> Result<Option<Vec<u8>>, StateError> {
    // Keys of one serializer compare by their bytes; large maps are indexed.
    let index: Option<std::collections::HashMap<&[u8], &'a [u8]>> =
        (a.len() > 16).then(|| a.iter().copied().collect());
    let find = |k: &[u8]| -> Option<&'a [u8]> {
        match &index {
            Some(index) => index.get(k).copied(),
            None => a.iter().find(|(ak, _)| *ak == k).map(|(_, v)| *v),
        }
    };
    let mut body = Vec::new();
    let mut n = 0;
    for (k, vb) in b {
        let Some(va) = find(k) else {
            body.extend_from_slice(k);
            body.extend_from_slice(vb);
            n += 1;
            continue;
        };
        if va == *vb {
            continue;
        }
        if path.len() + 1 < MAX_DEPTH {
            if let (Some(ma), Some(mb)) = (nameable_map(va), nameable_map(vb)) {
                path.push(Step::Key(k));
                let nested = merge(&ma, &mb, path, later)?;
                path.pop();
                if let Some(nested) = nested {
                    body.extend_from_slice(k);
                    body.extend_from_slice(&nested);
                    n += 1;
                }
                continue;
            }
            if items(va).is_some() && items(vb).is_some() {
                path.push(Step::Key(k));
                diff(va, vb, path, later)?;
                path.pop();
                continue;
            }
        }
        if entries(va).is_some() && entries(vb).is_some() {
            // A map replaced by one a merge cannot describe: replaced whole, after it.
            path.push(Step::Key(k));
            later.push(RawOp::Set(decode(path)?, vb));
            path.pop();
            continue;
        }
        body.extend_from_slice(k);
        body.extend_from_slice(vb);
        n += 1;
    }
    let kept: Option<std::collections::HashSet<&[u8]>> =
        (b.len() > 16).then(|| b.iter().map(|(k, _)| *k).collect());
    for (k, _) in a {
        let still = match &kept {
            Some(kept) => kept.contains(k),
            None => b.iter().any(|(bk, _)| bk == k),
        };
        if !still {
            body.extend_from_slice(k);
            body.extend_from_slice(&REMOVED);
            n += 1;
        }
    }
    if n == 0 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(body.len() + 5);
    map_len(&mut out, n);
    out.extend_from_slice(&body);
    Ok(Some(out))
}

/// Appends a msgpack map header for `n` entries.
fn map_len(out: &mut Vec<u8>, n: usize) {
    match n {
        0..=15 => out.push(0x80 | n as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

/// Appends a msgpack array header for `n` items.
pub(crate) fn array_len(out: &mut Vec<u8>, n: usize) {
    match n {
        0..=15 => out.push(0x90 | n as u8),
        16..=0xffff => {
            out.push(0xdc);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdd);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

/// Appends `v` encoded.
pub(crate) fn value(out: &mut Vec<u8>, v: &Value) {
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(out, v);
}

/// Appends the ops, as the wire has them (see the `patch` module): each a list of its
/// kind, its path and its value.
pub(crate) fn write_ops(out: &mut Vec<u8>, ops: &[RawOp<'_>]) {
    array_len(out, ops.len());
    for op in ops {
        let (kind, path) = match op {
            RawOp::Set(path, _) => (1, path),
            RawOp::Truncate(path, _) => (2, path),
            RawOp::Merge(path, _) => (3, path),
        };
        array_len(out, 3);
        out.push(kind);
        array_len(out, path.len());
        path.iter().for_each(|p| value(out, p));
        match op {
            RawOp::Set(_, raw) => out.extend_from_slice(raw),
            RawOp::Merge(_, merge) => out.extend_from_slice(merge),
            RawOp::Truncate(_, len) => value(out, &Value::from(*len as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::{Op, apply};

    fn bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        value(&mut out, v);
        out
    }

    #[test]
    fn skip_measures_every_kind_and_refuses_what_is_cut() {
        let all = Value::Map(vec![
            ("s".into(), "x".repeat(40).into()),
            ("i".into(), Value::from(-70_000)),
            ("u".into(), Value::from(u64::MAX)),
            ("f".into(), Value::F32(1.5)),
            ("d".into(), Value::F64(2.5)),
            ("b".into(), Value::Binary(vec![1; 300])),
            ("e".into(), Value::Ext(3, vec![1, 2, 3, 4])),
            ("a".into(), Value::Array((0..20).map(Value::from).collect())),
            ("n".into(), Value::Nil),
        ]);
        let b = bytes(&all);
        assert_eq!(skip(&b), Some(b.len()));
        for cut in 0..b.len() {
            assert_eq!(skip(&b[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn the_byte_diff_applied_gives_the_new_state() {
        let old = Value::Map(vec![
            ("a".into(), 1.into()),
            ("b".into(), Value::Array(vec![1.into(), 2.into(), 3.into()])),
            ("c".into(), Value::Map(vec![("x".into(), "y".into())])),
        ]);
        let new = Value::Map(vec![
            ("b".into(), Value::Array(vec![1.into(), 5.into()])),
            (
                "c".into(),
                Value::Map(vec![("x".into(), "z".into()), ("w".into(), true.into())]),
            ),
            ("d".into(), Value::Nil),
        ]);
        let (ob, nb) = (bytes(&old), bytes(&new));
        let mut ops = Vec::new();
        diff(&ob, &nb, &mut Vec::new(), &mut ops).unwrap();
        let mut wire = Vec::new();
        write_ops(&mut wire, &ops);
        let Value::Array(decoded) = rmpv::decode::read_value(&mut &wire[..]).unwrap() else {
            panic!("not a list of ops");
        };
        let mut tree = old;
        for op in &decoded {
            apply(&mut tree, &Op::from_value(op).unwrap(), &mut Vec::new()).unwrap();
        }
        assert_eq!(bytes(&tree), nb);
    }
}
