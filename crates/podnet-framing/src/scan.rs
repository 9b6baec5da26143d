//! An iterative msgpack scanner: checks the structure of a payload (every value complete,
//! nesting bounded, nothing trailing) and finds its `"action"`, without recursion and
//! without allocating for payloads nested up to [`INLINE_LEVELS`] deep.
//!
//! Every payload a peer sends passes through here before a recursive decoder (rmp-serde,
//! rmpv) sees it, so those decoders only ever meet well-formed input within the depth
//! limit.

use std::ops::Range;

use crate::FramingError;

/// Nesting levels tracked on the stack before the scanner spills to the heap. Game
/// messages rarely nest more than a handful of levels, so scanning them never allocates;
/// deeper payloads (up to `FramingConfig::max_depth`) allocate one small `Vec`.
const INLINE_LEVELS: usize = 32;

/// The msgpack types, named as error messages show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    Str,
    Bin,
    Ext,
    Array,
    Map,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Nil => "nil",
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::Bin => "bin",
            Kind::Ext => "ext",
            Kind::Array => "array",
            Kind::Map => "map",
        }
    }
}

/// What one marker (and its length fields) introduced.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Head {
    /// A value without children; for strings, `body` is where its bytes are.
    Leaf { kind: Kind, body: Range<usize> },
    /// An array or map with this many child values (a map of `n` pairs has `2n`).
    Container { kind: Kind, children: u64 },
}

/// The whole size of the value at `pos` if it is a leaf of a common, fixed shape (fixints,
/// nil, bools, fixstr, sized ints and floats) that lies entirely within `buf`; `None`
/// otherwise, and the general path ([`Cursor::head`]) takes over, errors included. A fast
/// path only: every value it sizes, `head` sizes the same.
#[inline]
fn leaf_len(buf: &[u8], pos: usize) -> Option<usize> {
    let marker = *buf.get(pos)?;
    let len = match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 1,
        0xa0..=0xbf => 1 + usize::from(marker & 0x1f),
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xca | 0xce | 0xd2 => 5,
        0xcb | 0xcf | 0xd3 => 9,
        _ => return None,
    };
    (buf.len() - pos >= len).then_some(len)
}

/// A read position in a payload.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes, or fails if the payload ends first.
    fn take(&mut self, n: usize) -> Result<&'a [u8], FramingError> {
        if self.remaining() < n {
            return Err(FramingError::Truncated);
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    /// Reads a big-endian unsigned integer of `width` bytes (1, 2 or 4).
    fn uint(&mut self, width: usize) -> Result<usize, FramingError> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
    }

    /// Skips `n` bytes of a value's body, returning where they were.
    fn body(&mut self, n: usize) -> Result<Range<usize>, FramingError> {
        let start = self.pos;
        self.take(n)?;
        Ok(start..self.pos)
    }

    /// Reads one marker and its length fields, and skips the body of a leaf value.
    fn head(&mut self) -> Result<Head, FramingError> {
        let offset = self.pos;
        let marker = self.take(1)?[0];
        let leaf = |kind, body| Ok(Head::Leaf { kind, body });
        match marker {
            0x00..=0x7f | 0xe0..=0xff => leaf(Kind::Int, self.pos..self.pos),
            0x80..=0x8f => self.container(Kind::Map, usize::from(marker & 0x0f)),
            0x90..=0x9f => self.container(Kind::Array, usize::from(marker & 0x0f)),
            0xa0..=0xbf => leaf(Kind::Str, self.body(usize::from(marker & 0x1f))?),
            0xc0 => leaf(Kind::Nil, self.pos..self.pos),
            0xc1 => Err(FramingError::InvalidMarker {
                byte: marker,
                offset,
            }),
            0xc2 | 0xc3 => leaf(Kind::Bool, self.pos..self.pos),
            // bin 8/16/32
            0xc4..=0xc6 => {
                let len = self.uint(1 << (marker - 0xc4))?;
                leaf(Kind::Bin, self.body(len)?)
            }
            // ext 8/16/32: length, then a type byte, then the data
            0xc7..=0xc9 => {
                let len = self.uint(1 << (marker - 0xc7))?;
                leaf(Kind::Ext, self.body(len + 1)?)
            }
            0xca => leaf(Kind::Float, self.body(4)?),
            0xcb => leaf(Kind::Float, self.body(8)?),
            // uint 8/16/32/64 and int 8/16/32/64
            0xcc..=0xcf => leaf(Kind::Int, self.body(1 << (marker - 0xcc))?),
            0xd0..=0xd3 => leaf(Kind::Int, self.body(1 << (marker - 0xd0))?),
            // fixext 1/2/4/8/16: a type byte, then the data
            0xd4..=0xd8 => leaf(Kind::Ext, self.body(1 + (1 << (marker - 0xd4)))?),
            // str 8/16/32
            0xd9..=0xdb => {
                let len = self.uint(1 << (marker - 0xd9))?;
                leaf(Kind::Str, self.body(len)?)
            }
            0xdc => {
                let n = self.uint(2)?;
                self.container(Kind::Array, n)
            }
            0xdd => {
                let n = self.uint(4)?;
                self.container(Kind::Array, n)
            }
            0xde => {
                let n = self.uint(2)?;
                self.container(Kind::Map, n)
            }
            0xdf => {
                let n = self.uint(4)?;
                self.container(Kind::Map, n)
            }
        }
    }

    fn container(&self, kind: Kind, entries: usize) -> Result<Head, FramingError> {
        let children = if kind == Kind::Map {
            2 * entries as u64
        } else {
            entries as u64
        };
        // Every child takes at least one byte: a count the rest of the payload cannot
        // hold is truncated, whatever the children turn out to be.
        if children > self.remaining() as u64 {
            return Err(FramingError::Truncated);
        }
        Ok(Head::Container { kind, children })
    }

    /// Skips the children of `head`, which sits at nesting level `level` (the message map
    /// is level 1). Iterative: the depth of the payload costs memory bounded by
    /// `max_depth`, never stack.
    fn skip_children(
        &mut self,
        head: Head,
        level: usize,
        max_depth: usize,
    ) -> Result<(), FramingError> {
        let Head::Container { children, .. } = head else {
            return Ok(());
        };
        if level > max_depth {
            return Err(FramingError::TooDeep { max_depth });
        }
        // `pending` counts the values still to read at the innermost open level; the
        // stack holds the counts of the levels around it.
        let mut pending = children;
        let mut outer = LevelStack::default();
        loop {
            if pending == 0 {
                match outer.pop() {
                    Some(count) => {
                        pending = count;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            pending -= 1;
            if let Some(len) = leaf_len(self.buf, self.pos) {
                self.pos += len;
                continue;
            }
            if let Head::Container { children, .. } = self.head()? {
                // This container sits one level below the innermost open one.
                if level + outer.len() + 1 > max_depth {
                    return Err(FramingError::TooDeep { max_depth });
                }
                if children > 0 {
                    outer.push(pending);
                    pending = children;
                }
            }
        }
    }
}

/// The pending-value counts of the open nesting levels: inline up to [`INLINE_LEVELS`],
/// then on the heap (bounded by `max_depth`, which the caller checks before pushing).
#[derive(Default)]
struct LevelStack {
    inline: [u64; INLINE_LEVELS],
    len: usize,
    spill: Vec<u64>,
}

impl LevelStack {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, count: u64) {
        if self.len < INLINE_LEVELS {
            self.inline[self.len] = count;
        } else {
            self.spill.push(count);
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u64> {
        self.len = self.len.checked_sub(1)?;
        if self.len < INLINE_LEVELS {
            Some(self.inline[self.len])
        } else {
            self.spill.pop()
        }
    }
}

/// How much of a payload [`scan_message`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// Stop at the `"action"` value: the rest of the payload is not read.
    UntilAction,
    /// Check the whole payload: every value, the depth limit, trailing bytes, and that
    /// `"action"` appears exactly once.
    Whole,
}

/// Reads the value of an `"action"` key: a UTF-8 string, whose bytes' range it returns.
#[inline]
fn action_value(cur: &mut Cursor<'_>) -> Result<Range<usize>, FramingError> {
    let body = match cur.buf.get(cur.pos) {
        // A fixstr, the common case.
        Some(&marker @ 0xa0..=0xbf) => {
            cur.pos += 1;
            cur.body(usize::from(marker & 0x1f))?
        }
        _ => match cur.head()? {
            Head::Leaf {
                kind: Kind::Str,
                body,
            } => body,
            Head::Leaf { kind, .. } | Head::Container { kind, .. } => {
                return Err(FramingError::ActionNotString { found: kind.name() });
            }
        },
    };
    let text = &cur.buf[body.clone()];
    if !text.is_ascii() && std::str::from_utf8(text).is_err() {
        return Err(FramingError::ActionNotUtf8);
    }
    Ok(body)
}

/// Checks that `payload` is a message (a map with one string `"action"`) and returns
/// where the action's bytes are. The returned range is valid UTF-8.
pub(crate) fn scan_message(
    payload: &[u8],
    max_depth: usize,
    extent: Extent,
) -> Result<Range<usize>, FramingError> {
    if payload.is_empty() {
        return Err(FramingError::EmptyPayload);
    }
    let mut cur = Cursor {
        buf: payload,
        pos: 0,
    };
    let entries = match cur.head()? {
        Head::Container {
            kind: Kind::Map,
            children,
        } => children / 2,
        Head::Container { kind, .. } | Head::Leaf { kind, .. } => {
            return Err(FramingError::NotAMap { found: kind.name() });
        }
    };
    if max_depth == 0 {
        return Err(FramingError::TooDeep { max_depth });
    }
    let mut action = None;
    for _ in 0..entries {
        // Keys and values of the message map are at level 2. Most keys are short strings
        // and most values fixed-size leaves: step over them without building heads.
        let key_at = cur.pos;
        let is_action = match leaf_len(payload, key_at) {
            Some(7) if &payload[key_at..key_at + 7] == b"\xa6action" => {
                cur.pos += 7;
                true
            }
            Some(len) => {
                cur.pos += len;
                false
            }
            // Any other form of key: "action" as a longer string, or a container.
            None => match cur.head()? {
                Head::Leaf {
                    kind: Kind::Str,
                    body,
                } => &payload[body] == b"action",
                key => {
                    cur.skip_children(key, 2, max_depth)?;
                    false
                }
            },
        };
        if is_action {
            let body = action_value(&mut cur)?;
            if action.replace(body.clone()).is_some() {
                return Err(FramingError::DuplicateAction);
            }
            if extent == Extent::UntilAction {
                return Ok(body);
            }
            continue;
        }
        match leaf_len(payload, cur.pos) {
            Some(len) => cur.pos += len,
            None => {
                let value = cur.head()?;
                cur.skip_children(value, 2, max_depth)?;
            }
        }
    }
    let Some(action) = action else {
        return Err(FramingError::MissingAction);
    };
    if cur.remaining() > 0 {
        return Err(FramingError::TrailingBytes {
            count: cur.remaining(),
        });
    }
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(payload: &[u8]) -> Result<Range<usize>, FramingError> {
        scan_message(payload, 128, Extent::Whole)
    }

    /// Every fixed-width marker is skipped by exactly its width.
    #[test]
    fn skips_every_marker_kind() {
        // {"a": <value>, "action": "x"} for one value of every msgpack format.
        let values: &[&[u8]] = &[
            &[0x05],                                                    // positive fixint
            &[0xff],                                                    // negative fixint
            &[0xc0],                                                    // nil
            &[0xc2],                                                    // false
            &[0xc3],                                                    // true
            &[0xcc, 1],                                                 // uint8
            &[0xcd, 1, 2],                                              // uint16
            &[0xce, 1, 2, 3, 4],                                        // uint32
            &[0xcf, 1, 2, 3, 4, 5, 6, 7, 8],                            // uint64
            &[0xd0, 1],                                                 // int8
            &[0xd1, 1, 2],                                              // int16
            &[0xd2, 1, 2, 3, 4],                                        // int32
            &[0xd3, 1, 2, 3, 4, 5, 6, 7, 8],                            // int64
            &[0xca, 1, 2, 3, 4],                                        // float32
            &[0xcb, 1, 2, 3, 4, 5, 6, 7, 8],                            // float64
            &[0xa2, b'h', b'i'],                                        // fixstr
            &[0xd9, 2, b'h', b'i'],                                     // str8
            &[0xda, 0, 2, b'h', b'i'],                                  // str16
            &[0xdb, 0, 0, 0, 2, b'h', b'i'],                            // str32
            &[0xc4, 2, 0, 1],                                           // bin8
            &[0xc5, 0, 2, 0, 1],                                        // bin16
            &[0xc6, 0, 0, 0, 2, 0, 1],                                  // bin32
            &[0xd4, 1, 9],                                              // fixext1
            &[0xd5, 1, 9, 9],                                           // fixext2
            &[0xd6, 1, 9, 9, 9, 9],                                     // fixext4
            &[0xd7, 1, 9, 9, 9, 9, 9, 9, 9, 9],                         // fixext8
            &[0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // fixext16
            &[0xc7, 2, 1, 9, 9],                                        // ext8
            &[0xc8, 0, 2, 1, 9, 9],                                     // ext16
            &[0xc9, 0, 0, 0, 2, 1, 9, 9],                               // ext32
            &[0x92, 0x01, 0x02],                                        // fixarray
            &[0xdc, 0, 1, 0x01],                                        // array16
            &[0xdd, 0, 0, 0, 1, 0x01],                                  // array32
            &[0x81, 0xa1, b'k', 0x01],                                  // fixmap
            &[0xde, 0, 1, 0xa1, b'k', 0x01],                            // map16
            &[0xdf, 0, 0, 0, 1, 0xa1, b'k', 0x01],                      // map32
        ];
        for value in values {
            let mut payload = vec![0x82, 0xa1, b'a'];
            payload.extend_from_slice(value);
            payload.extend_from_slice(&[0xa6, b'a', b'c', b't', b'i', b'o', b'n', 0xa1, b'x']);
            let action = scan(&payload).unwrap_or_else(|e| panic!("{value:x?}: {e}"));
            assert_eq!(&payload[action], b"x", "{value:x?}");
            // Cut anywhere inside the value: always truncated, never a panic.
            for cut in 3..3 + value.len() {
                assert!(
                    matches!(scan(&payload[..cut]), Err(FramingError::Truncated)),
                    "{value:x?} cut at {cut}"
                );
            }
        }
    }

    /// A container count larger than the bytes left is truncated before it is walked.
    #[test]
    fn huge_counts_are_truncated_at_once() {
        let payload = [0x81, 0xa1, b'a', 0xdd, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(scan(&payload), Err(FramingError::Truncated)));
        let payload = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(scan(&payload), Err(FramingError::Truncated)));
    }

    /// Depth counts the message map as level 1; the limit is inclusive.
    #[test]
    fn depth_limit_is_inclusive() {
        // {"action": "x", "a": [[...]]} with `arrays` nested arrays: depth 1 + arrays.
        let nested = |arrays: usize| {
            let mut p = vec![0x82, 0xa6, b'a', b'c', b't', b'i', b'o', b'n', 0xa1, b'x'];
            p.extend_from_slice(&[0xa1, b'a']);
            p.extend(std::iter::repeat_n(0x91, arrays - 1));
            p.push(0x90);
            p
        };
        for max in [1usize, 2, 5, 31, 32, 33, 40] {
            for arrays in 1..max + 3 {
                let result = scan_message(&nested(arrays), max, Extent::Whole);
                if arrays < max {
                    assert!(result.is_ok(), "max {max} arrays {arrays}: {result:?}");
                } else {
                    assert!(
                        matches!(result, Err(FramingError::TooDeep { max_depth }) if max_depth == max),
                        "max {max} arrays {arrays}: {result:?}"
                    );
                }
            }
        }
    }

    /// Stopping at the action does not read what follows it.
    #[test]
    fn until_action_ignores_the_rest() {
        let payload = [
            0x82, 0xa6, b'a', b'c', b't', b'i', b'o', b'n', 0xa1, b'x', 0xc1,
        ];
        assert!(scan_message(&payload, 128, Extent::UntilAction).is_ok());
        assert!(matches!(
            scan(&payload),
            Err(FramingError::InvalidMarker {
                byte: 0xc1,
                offset: 10
            })
        ));
    }

    /// Non-string keys are skipped, even containers.
    #[test]
    fn container_keys_are_skipped() {
        let payload = [
            0x82, 0x91, 0x01, 0x02, 0xa6, b'a', b'c', b't', b'i', b'o', b'n', 0xa1, b'x',
        ];
        assert!(scan(&payload).is_ok());
    }
}
