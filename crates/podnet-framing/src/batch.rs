//! Batches: the messages of one read, split and checked where they are read, but kept in
//! the buffer they arrived in, so that handing them to another thread costs one reference
//! count per batch instead of one per message.

use std::fmt;
use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FRAME_HEADER_LEN, RESERVE_STEP};
use crate::message::RawMessage;
use crate::scan::{Extent, scan_message};
use crate::{FramingConfig, FramingError};

/// Where one message of a batch is, as offsets into the batch's buffer.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The payload's first byte.
    start: usize,
    /// The payload's length; a frame's length is a u32 on the wire.
    len: u32,
    /// The action's bytes, relative to the payload.
    action_start: u32,
    action_len: u32,
}

/// Splits a byte stream into frames and checks each as a [`RawMessage`] (as
/// [`FrameCodec`](crate::FrameCodec) then [`RawMessage::parse`] do), but leaves the
/// messages where they are in the buffer: [`take`](Self::take) then splits everything
/// decoded off the buffer as one [`MessageBatch`].
///
/// This is the shape for a network thread that hands what it reads to another thread: the
/// checking happens on the network thread, while the per-message reference counting and
/// event building happen on the receiving one, which does not contend with the reader.
///
/// `src` must be the same buffer on every call until [`take`](Self::take), changed only by
/// appending to it (reading more into it).
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use podnet_framing::{BatchDecoder, Decoded, FramingConfig};
///
/// let config = FramingConfig::default();
/// let mut decoder = BatchDecoder::new(&config).with_reserved_prefix("podnet:");
/// let mut buf = BytesMut::new();
/// // {"action": "move"}, {"action": "podnet:ping"}, a frame that is not a message, and
/// // half of a frame.
/// buf.extend_from_slice(b"\0\0\0\x0d\x81\xa6action\xa4move");
/// buf.extend_from_slice(b"\0\0\0\x14\x81\xa6action\xabpodnet:ping");
/// buf.extend_from_slice(b"\0\0\0\x01\xc0");
/// buf.extend_from_slice(b"\0\0\0\x0d\x81\xa6act");
///
/// assert!(matches!(decoder.decode(&mut buf)?, Some(Decoded::Message)));
/// assert!(matches!(decoder.decode(&mut buf)?, Some(Decoded::Reserved(m)) if m.action() == "podnet:ping"));
/// assert!(matches!(decoder.decode(&mut buf)?, Some(Decoded::NotAMessage(_))));
/// assert!(decoder.decode(&mut buf)?.is_none()); // the rest has not arrived
///
/// let batch = decoder.take(&mut buf);
/// let actions: Vec<String> = batch.into_iter().map(|m| m.action().to_owned()).collect();
/// assert_eq!(actions, ["move"]);
/// assert_eq!(buf.len(), 4 + 5); // the unfinished frame stays
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
#[derive(Debug)]
pub struct BatchDecoder {
    max_frame_length: usize,
    max_depth: usize,
    reserved_prefix: &'static [u8],
    /// How much of the buffer has been decoded since the last `take`.
    pos: usize,
    slots: Vec<Slot>,
    /// The payload bytes of the messages in `slots`.
    bytes: usize,
}

/// What [`BatchDecoder::decode`] found in the next frame.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decoded {
    /// A message; it is now in the batch.
    Message,
    /// A message whose action starts with the decoder's
    /// [reserved prefix](BatchDecoder::with_reserved_prefix): handed out on its own (a
    /// copy of its bytes) instead of being batched.
    Reserved(RawMessage),
    /// A frame that is not a message; it was skipped, and the stream goes on (this error
    /// is never [fatal](FramingError::is_fatal)).
    NotAMessage(FramingError),
}

impl BatchDecoder {
    /// A decoder that enforces `config`'s frame length and depth limits.
    pub fn new(config: &FramingConfig) -> Self {
        Self {
            max_frame_length: config.max_frame_length,
            max_depth: config.max_depth,
            reserved_prefix: b"",
            pos: 0,
            slots: Vec::new(),
            bytes: 0,
        }
    }

    /// Hands out messages whose action starts with `prefix` as [`Decoded::Reserved`]
    /// instead of batching them: for a protocol's own control messages, which the reading
    /// side handles itself. An empty prefix (the default) reserves nothing.
    pub fn with_reserved_prefix(mut self, prefix: &'static str) -> Self {
        self.reserved_prefix = prefix.as_bytes();
        self
    }

    /// The next frame's claimed payload length, and how many bytes have arrived from its
    /// start; `None` until its header has.
    fn header(&self, src: &[u8]) -> Option<(u32, usize)> {
        let rest = src.get(self.pos..)?;
        let header = rest.first_chunk::<FRAME_HEADER_LEN>()?;
        Some((u32::from_be_bytes(*header), rest.len()))
    }

    /// The length of the next whole frame after those decoded, header included; `None` if
    /// it has not all arrived (reserving room for it, in steps, as
    /// [`FrameCodec`](crate::FrameCodec) does).
    fn next_frame(&self, src: &mut BytesMut) -> Result<Option<usize>, FramingError> {
        let Some((claimed, arrived)) = self.header(src) else {
            return Ok(None);
        };
        // Compare as u64: on 32-bit targets a claim may not fit in usize.
        if u64::from(claimed) > self.max_frame_length as u64 {
            return Err(FramingError::FrameTooLarge {
                len: claimed.into(),
                max: self.max_frame_length,
            });
        }
        let whole = FRAME_HEADER_LEN + claimed as usize;
        if arrived < whole {
            src.reserve((whole - arrived).min(RESERVE_STEP));
            return Ok(None);
        }
        Ok(Some(whole))
    }

    /// Whether a whole frame is waiting after those decoded: what the next
    /// [`decode`](Self::decode) would read.
    ///
    /// ```
    /// # use podnet_framing::{BatchDecoder, FramingConfig};
    /// let decoder = BatchDecoder::new(&FramingConfig::default());
    /// let buf = bytes::BytesMut::from(&b"\0\0\0\x02\x80"[..]);
    /// assert!(!decoder.has_frame(&buf));
    /// ```
    pub fn has_frame(&self, src: &BytesMut) -> bool {
        self.header(src).is_some_and(|(claimed, arrived)| {
            arrived as u64 >= FRAME_HEADER_LEN as u64 + u64::from(claimed)
        })
    }

    /// Decodes the next whole frame of `src` after those already decoded, and checks it.
    /// Returns `Ok(None)` when no whole frame is left.
    ///
    /// # Errors
    ///
    /// [`FramingError::FrameTooLarge`] if the next frame claims more than the maximum
    /// length: the stream cannot go on ([fatal](FramingError::is_fatal)).
    #[inline]
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Decoded>, FramingError> {
        let Some(whole) = self.next_frame(src)? else {
            return Ok(None);
        };
        let start = self.pos + FRAME_HEADER_LEN;
        let end = self.pos + whole;
        self.pos = end;
        let payload = &src[start..end];
        let action = match scan_message(payload, self.max_depth, Extent::Whole) {
            Ok(action) => action,
            Err(err) => return Ok(Some(Decoded::NotAMessage(err))),
        };
        if !self.reserved_prefix.is_empty()
            && payload[action.clone()].starts_with(self.reserved_prefix)
        {
            let copy = Bytes::copy_from_slice(payload);
            return Ok(Some(Decoded::Reserved(RawMessage::checked(
                copy,
                action,
                self.max_depth,
            ))));
        }
        // Each fits a u32: the frame's length did (it was checked against the header).
        self.slots.push(Slot {
            start,
            len: (end - start) as u32,
            action_start: action.start as u32,
            action_len: action.len() as u32,
        });
        self.bytes += end - start;
        Ok(Some(Decoded::Message))
    }

    /// Decodes whole frames while they are messages, batching them, until the batch holds
    /// `max_bytes` of payload or more: the loop of a reader that hands over batches, in
    /// one call instead of one [`decode`](Self::decode) each. Returns the first frame that
    /// is something else ([`Decoded::Reserved`], [`Decoded::NotAMessage`]), or `None` when
    /// no whole frame is left or the batch is full ([`batch_bytes`](Self::batch_bytes)).
    ///
    /// ```
    /// # use podnet_framing::{BatchDecoder, Decoded, FramingConfig};
    /// let mut decoder = BatchDecoder::new(&FramingConfig::default());
    /// let mut buf = bytes::BytesMut::new();
    /// for _ in 0..3 {
    ///     buf.extend_from_slice(b"\0\0\0\x0d\x81\xa6action\xa4move");
    /// }
    /// buf.extend_from_slice(b"\0\0\0\x01\xc0");
    /// assert!(matches!(decoder.decode_messages(&mut buf, 1 << 20)?, Some(Decoded::NotAMessage(_))));
    /// assert_eq!(decoder.len(), 3);
    /// assert!(decoder.decode_messages(&mut buf, 1 << 20)?.is_none());
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`decode`](Self::decode); the messages batched before the error stay batched.
    pub fn decode_messages(
        &mut self,
        src: &mut BytesMut,
        max_bytes: usize,
    ) -> Result<Option<Decoded>, FramingError> {
        while self.bytes < max_bytes {
            match self.decode(src)? {
                Some(Decoded::Message) => {}
                other => return Ok(other),
            }
        }
        Ok(None)
    }

    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The payload bytes of the messages the batch holds.
    pub fn batch_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `src` holds part of a frame beyond those decoded: a stream that ends now
    /// ends in the middle of a frame.
    pub fn is_mid_frame(&self, src: &BytesMut) -> bool {
        src.len() > self.pos
    }

    /// Splits everything decoded off the front of `src` and returns its messages as a
    /// batch; reserved messages and frames that were not messages are dropped with it.
    pub fn take(&mut self, src: &mut BytesMut) -> MessageBatch {
        self.split(src, |data| data)
    }

    /// As [`take`](Self::take), with `guard` kept alive until every message of the batch
    /// (and every copy of their payloads) is dropped: for example a share of a budget that
    /// bounds how much received data may wait. An empty batch drops it at once.
    pub fn take_with<G: Send + 'static>(&mut self, src: &mut BytesMut, guard: G) -> MessageBatch {
        self.split(src, |data| {
            Bytes::from_owner(Guarded {
                data,
                _guard: guard,
            })
        })
    }

    fn split(&mut self, src: &mut BytesMut, wrap: impl FnOnce(Bytes) -> Bytes) -> MessageBatch {
        let read = self.pos.min(src.len());
        self.pos = 0;
        self.bytes = 0;
        if self.slots.is_empty() {
            src.advance(read);
            return MessageBatch::default();
        }
        let data = wrap(src.split_to(read).freeze());
        // The next batch is likely the size of this one: allocate for it at once, up to a
        // bound, so that one burst does not leave an idle connection holding a big one.
        let next = Vec::with_capacity(self.slots.len().min(MAX_PREALLOCATED));
        MessageBatch {
            data,
            slots: std::mem::replace(&mut self.slots, next),
            max_depth: self.max_depth,
        }
    }
}

/// A batch's next slot vector is allocated for at most this many messages up front.
const MAX_PREALLOCATED: usize = 512;

/// A batch's bytes with what they keep alive.
struct Guarded<G> {
    data: Bytes,
    _guard: G,
}

impl<G> AsRef<[u8]> for Guarded<G> {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// The checked messages of one read, in one buffer: iterate it to get each as a
/// [`RawMessage`] (cheap: a reference to the shared buffer each). Made by
/// [`BatchDecoder::take`].
#[derive(Default)]
pub struct MessageBatch {
    data: Bytes,
    slots: Vec<Slot>,
    max_depth: usize,
}

impl MessageBatch {
    /// How many messages the batch holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The bytes the batch's frames took on the wire, headers included.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// Hands each message to `f`, in the order they arrived, by reference: lent from the
    /// batch's buffer, so no message takes a reference count of its own (iterating the
    /// batch by value takes one each). A message `f` keeps must be cloned, which shares the
    /// buffer, or decoded.
    ///
    /// ```
    /// # use podnet_framing::{BatchDecoder, FramingConfig};
    /// let mut decoder = BatchDecoder::new(&FramingConfig::default());
    /// let mut buf = bytes::BytesMut::new();
    /// for _ in 0..3 {
    ///     buf.extend_from_slice(b"\0\0\0\x0d\x81\xa6action\xa4move");
    /// }
    /// decoder.decode_messages(&mut buf, 1 << 20)?;
    /// let batch = decoder.take(&mut buf);
    ///
    /// let mut actions = Vec::new();
    /// batch.for_each(|msg| actions.push(msg.action().to_owned()));
    /// assert_eq!(actions, ["move", "move", "move"]);
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(&RawMessage)) {
        let mut msg = RawMessage::in_batch(self.data.clone(), self.max_depth);
        for slot in &self.slots {
            let end = slot.start + slot.len as usize;
            if end > self.data.len() {
                // Only a caller that changed the buffer between decode and take gets here.
                return;
            }
            let action_start = slot.action_start as usize;
            msg.lend(
                slot.start..end,
                action_start..action_start + slot.action_len as usize,
            );
            f(&msg);
        }
    }
}

impl fmt::Debug for MessageBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageBatch")
            .field("messages", &self.slots.len())
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl IntoIterator for MessageBatch {
    type Item = RawMessage;
    type IntoIter = IntoMessages;

    fn into_iter(self) -> IntoMessages {
        IntoMessages {
            data: self.data,
            slots: self.slots.into_iter(),
            max_depth: self.max_depth,
        }
    }
}

/// The messages of a [`MessageBatch`], in the order they arrived.
#[derive(Debug)]
pub struct IntoMessages {
    data: Bytes,
    slots: std::vec::IntoIter<Slot>,
    max_depth: usize,
}

impl IntoMessages {
    fn message(&self, payload: Bytes, slot: Slot) -> RawMessage {
        let action_start = slot.action_start as usize;
        let action: Range<usize> = action_start..action_start + slot.action_len as usize;
        RawMessage::checked(payload, action, self.max_depth)
    }
}

impl Iterator for IntoMessages {
    type Item = RawMessage;

    fn next(&mut self) -> Option<RawMessage> {
        let slot = self.slots.next()?;
        let end = slot.start + slot.len as usize;
        if end > self.data.len() {
            // Only a caller that changed the buffer between decode and take gets here.
            self.slots = Vec::new().into_iter();
            return None;
        }
        let payload = if self.slots.len() == 0 {
            // The last message takes the buffer itself: one reference count less.
            let mut data = std::mem::take(&mut self.data);
            data.truncate(end);
            data.advance(slot.start);
            data
        } else {
            self.data.slice(slot.start..end)
        };
        Some(self.message(payload, slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for IntoMessages {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use crate::encode_value;

    fn frame(action: &str, buf: &mut BytesMut) {
        let msg = Value::Map(vec![
            ("action".into(), action.into()),
            ("x".into(), 1.into()),
        ]);
        encode_value(&msg, buf, &FramingConfig::default()).unwrap();
    }

    /// Messages come out in order, with their payloads and actions, and a batch taken
    /// mid-stream leaves the unfinished frame for the next.
    #[test]
    fn batches_split_a_stream_in_order() {
        let config = FramingConfig::default();
        let mut decoder = BatchDecoder::new(&config);
        let mut wire = BytesMut::new();
        for action in ["a", "bb", "ccc"] {
            frame(action, &mut wire);
        }
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire[..wire.len() - 3]);
        while let Some(decoded) = decoder.decode(&mut buf).unwrap() {
            assert!(matches!(decoded, Decoded::Message));
        }
        assert_eq!(decoder.len(), 2);
        assert!(decoder.is_mid_frame(&buf));
        let first = decoder.take(&mut buf);
        buf.extend_from_slice(&wire[wire.len() - 3..]);
        assert!(matches!(
            decoder.decode(&mut buf).unwrap(),
            Some(Decoded::Message)
        ));
        assert!(decoder.decode(&mut buf).unwrap().is_none());
        assert_eq!(decoder.batch_bytes(), 15);
        let second = decoder.take(&mut buf);
        assert!(buf.is_empty() && !decoder.is_mid_frame(&buf));

        let messages: Vec<RawMessage> = first.into_iter().chain(second).collect();
        let actions: Vec<&str> = messages.iter().map(RawMessage::action).collect();
        assert_eq!(actions, ["a", "bb", "ccc"]);
        for msg in &messages {
            assert_eq!(
                msg,
                &RawMessage::parse(Bytes::copy_from_slice(msg.payload()), &config).unwrap()
            );
        }
    }

    /// A frame over the maximum is fatal; one that is not a message is skipped.
    #[test]
    fn errors() {
        let config = FramingConfig::default().with_max_frame_length(8);
        let mut decoder = BatchDecoder::new(&config);
        let mut buf = BytesMut::from(&b"\0\0\0\x01\xc0\0\0\0\x09"[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Decoded::NotAMessage(FramingError::NotAMap { .. })))
        ));
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(FramingError::FrameTooLarge { len: 9, max: 8 })
        ));
        assert!(decoder.take(&mut buf).is_empty());
        assert_eq!(buf.len(), 4);
    }

    /// The guard lives until the last message of the batch is dropped.
    #[test]
    fn guard_outlives_the_batch_until_its_last_message() {
        let config = FramingConfig::default();
        let mut decoder = BatchDecoder::new(&config);
        let mut buf = BytesMut::new();
        frame("a", &mut buf);
        frame("b", &mut buf);
        while decoder.decode(&mut buf).unwrap().is_some() {}
        let guard = std::sync::Arc::new(());
        let batch = decoder.take_with(&mut buf, guard.clone());
        let mut messages = batch.into_iter();
        let a = messages.next().unwrap();
        let b = messages.next().unwrap();
        drop(messages);
        assert_eq!(std::sync::Arc::strong_count(&guard), 2);
        drop(a);
        assert_eq!(std::sync::Arc::strong_count(&guard), 2);
        drop(b);
        assert_eq!(std::sync::Arc::strong_count(&guard), 1);
    }

    /// Lent messages are the batch's messages, in order; one kept (cloned) outlives the
    /// batch with its own payload, holding the guard until it is dropped.
    #[test]
    fn lent_messages_match_and_clones_outlive_the_batch() {
        let config = FramingConfig::default();
        let mut decoder = BatchDecoder::new(&config);
        let mut buf = BytesMut::new();
        for action in ["a", "bb", "a-much-longer-action-name", "a"] {
            frame(action, &mut buf);
        }
        while decoder.decode(&mut buf).unwrap().is_some() {}
        let guard = std::sync::Arc::new(());
        let batch = decoder.take_with(&mut buf, guard.clone());

        let mut lent = Vec::new();
        let mut kept = None;
        batch.for_each(|msg| {
            lent.push((msg.action().to_owned(), msg.payload().to_vec()));
            if msg.action() == "bb" {
                kept = Some(msg.clone());
            }
        });
        let owned: Vec<(String, Vec<u8>)> = batch
            .into_iter()
            .map(|msg| (msg.action().to_owned(), msg.payload().to_vec()))
            .collect();
        assert_eq!(lent, owned);
        assert_eq!(lent.len(), 4);

        let kept = kept.unwrap();
        assert_eq!(std::sync::Arc::strong_count(&guard), 2);
        assert_eq!(
            kept.decode::<Value>().unwrap()["action"].as_str(),
            Some("bb")
        );
        let payload = kept.into_payload();
        assert_eq!(&payload[..], &lent[1].1[..]);
        drop(payload);
        assert_eq!(std::sync::Arc::strong_count(&guard), 1);
    }
}
