//! The frame layer: a 4-byte big-endian length, then that many bytes of payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{FramingConfig, FramingError};

/// The size of a frame's length prefix, in bytes.
pub const FRAME_HEADER_LEN: usize = 4;

/// The most the decoder reserves ahead of bytes that have actually arrived. A length
/// prefix is a claim, not data: reserving the whole claimed frame up front would let a peer
/// that sends 4 bytes make this side allocate `max_frame_length`. Reserving in steps of at
/// most this size keeps memory proportional to what was received, while a large frame still
/// needs only a few reallocations.
pub(crate) const RESERVE_STEP: usize = 64 * 1024;

/// Splits a byte stream into frame payloads, and frames payloads for writing.
///
/// The decoder yields each payload as [`Bytes`] without copying it (the header is
/// stripped). Use it with tokio-util's `FramedRead`, or call it directly on a [`BytesMut`]
/// as the tests do: it is pure and needs no runtime.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use podnet_framing::{FrameCodec, FramingConfig};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = FrameCodec::new(&FramingConfig::default());
/// let mut wire = BytesMut::new();
/// codec.encode(&b"hello"[..], &mut wire)?;
/// assert_eq!(&wire[..], b"\0\0\0\x05hello");
///
/// let payload = codec.decode(&mut wire)?.expect("one whole frame");
/// assert_eq!(&payload[..], b"hello");
/// assert!(wire.is_empty());
/// # Ok::<(), podnet_framing::FramingError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_length: usize,
    /// The payload length of the frame being read, once its header has been consumed.
    pending: Option<usize>,
}

impl FrameCodec {
    /// A codec that enforces `config.max_frame_length` in both directions.
    pub fn new(config: &FramingConfig) -> Self {
        Self {
            max_frame_length: config.max_frame_length,
            pending: None,
        }
    }

    /// The largest payload this codec accepts or writes.
    ///
    /// ```
    /// use podnet_framing::{FrameCodec, FramingConfig};
    ///
    /// let codec = FrameCodec::new(&FramingConfig::default().with_max_frame_length(100));
    /// assert_eq!(codec.max_frame_length(), 100);
    /// ```
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Whether the header of a frame has been read but not yet all of its body: a stream
    /// that ends now ends in the middle of a frame.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use podnet_framing::{FrameCodec, FramingConfig};
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = FrameCodec::new(&FramingConfig::default());
    /// let mut buf = BytesMut::from(&[0, 0, 0, 5, b'h'][..]);
    /// assert_eq!(codec.decode(&mut buf)?, None);
    /// assert!(codec.is_mid_frame());
    /// # Ok::<(), podnet_framing::FramingError>(())
    /// ```
    pub fn is_mid_frame(&self) -> bool {
        self.pending.is_some()
    }

    fn check_len(&self, len: usize) -> Result<(), FramingError> {
        if len > self.max_frame_length {
            return Err(FramingError::MessageTooLarge {
                len,
                max: self.max_frame_length,
            });
        }
        Ok(())
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                if src.len() < FRAME_HEADER_LEN {
                    return Ok(None);
                }
                let claimed = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
                // Compare as u64: on 32-bit targets a claim may not fit in usize.
                if u64::from(claimed) > self.max_frame_length as u64 {
                    return Err(FramingError::FrameTooLarge {
                        len: claimed.into(),
                        max: self.max_frame_length,
                    });
                }
                src.advance(FRAME_HEADER_LEN);
                let len = claimed as usize;
                self.pending = Some(len);
                len
            }
        };
        if src.len() < len {
            src.reserve((len - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.pending {
            None if src.is_empty() => Ok(None),
            None => Err(FramingError::TruncatedStream {
                buffered: src.len(),
            }),
            Some(_) => Err(FramingError::TruncatedStream {
                buffered: FRAME_HEADER_LEN + src.len(),
            }),
        }
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FramingError;

    /// Writes the length prefix and the payload. Fails with
    /// [`FramingError::MessageTooLarge`] if the payload is over the maximum.
    fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FramingError> {
        self.check_len(payload.len())?;
        dst.reserve(FRAME_HEADER_LEN + payload.len());
        // check_len bounds the length by max_frame_length; frames over u32::MAX do not
        // exist on this wire.
        let len = u32::try_from(payload.len()).map_err(|_| FramingError::MessageTooLarge {
            len: payload.len(),
            max: u32::MAX as usize,
        })?;
        dst.put_u32(len);
        dst.put_slice(payload);
        Ok(())
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FramingError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FramingError> {
        self.encode(&payload[..], dst)
    }
}
