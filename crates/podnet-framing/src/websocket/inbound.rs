//! Reading a WebSocket, sans IO: the client's frames in, repod frames out. (One file,
//! past 500 lines with its tests: the frame rules of RFC 6455 read best in one place.)
//!
//! Each binary message becomes one repod frame (a 4-byte big-endian length, then the
//! message), so everything above (the batch decoder, the budget, the state machine) reads
//! a WebSocket peer exactly as it reads a TCP one. Unfragmented messages, the usual case,
//! are unmasked in place and copied straight out; fragmented ones are gathered first,
//! within the same limit as a whole message. Everything a peer controls is bounded:
//! message size, fragment count, control frame size.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::close::{CloseCode, Violation};

/// Where the payload of the frame being read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Straight out: the payload of a whole binary message.
    Out,
    /// Into the message being gathered from fragments.
    Gather { last: bool },
    /// Into the control frame being read.
    Control(Control),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Payload {
        left: usize,
        mask: [u8; 4],
        /// Bytes of this payload unmasked so far (where the mask stands).
        done: usize,
        target: Target,
    },
    /// The peer sent a close frame: nothing more is read.
    Closed,
}

/// What decoding stopped at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Everything in the input was decoded: read more.
    NeedInput,
    /// The output has no room left: hand it over, then call again.
    OutputFull,
    /// The peer pinged: answer with a pong carrying this payload.
    Ping(Bytes),
    /// The peer closed, with this code and reason if it gave them. Nothing follows.
    Closed(Option<(u16, String)>),
}

/// The decoder of one connection's inbound WebSocket stream.
#[derive(Debug)]
pub(crate) struct Inbound {
    max_message: usize,
    max_fragments: usize,
    state: State,
    /// Output that did not fit yet: a length prefix, or a message gathered from fragments.
    pending: BytesMut,
    /// The message being gathered from fragments, and how many arrived.
    gathering: Option<(BytesMut, usize)>,
    /// The payload of the control frame being read (at most 125 bytes).
    control: BytesMut,
}

impl Inbound {
    /// A decoder that refuses messages over `max_message` bytes and messages in more than
    /// `max_fragments` fragments.
    pub(crate) fn new(max_message: usize, max_fragments: usize) -> Self {
        Self {
            max_message,
            max_fragments: max_fragments.max(1),
            state: State::Header,
            pending: BytesMut::new(),
            gathering: None,
            control: BytesMut::new(),
        }
    }

    /// Decodes what `raw` holds into `out`, as repod frames, consuming what it decoded.
    ///
    /// # Errors
    ///
    /// A [`Violation`] when the peer broke the protocol or a limit: the connection should
    /// close with its code and reason.
    pub(crate) fn decode<B: BufMut>(
        &mut self,
        raw: &mut BytesMut,
        out: &mut B,
    ) -> Result<Step, Violation> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(out.remaining_mut());
                out.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                if !self.pending.is_empty() {
                    return Ok(Step::OutputFull);
                }
            }
            match self.state {
                State::Closed => return Ok(Step::Closed(None)),
                State::Header => {
                    if self.whole_message(raw, out) {
                        continue;
                    }
                    let mut cursor = std::io::Cursor::new(&raw[..]);
                    let parsed = FrameHeader::parse(&mut cursor).map_err(|err| {
                        Violation::new(CloseCode::Protocol, format!("bad frame header: {err}"))
                    })?;
                    let Some((header, length)) = parsed else {
                        return Ok(Step::NeedInput);
                    };
                    let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
                    raw.advance(used);
                    self.start_frame(&header, length)?;
                }
                State::Payload {
                    left,
                    mask,
                    done,
                    target,
                } => {
                    let mut n = left.min(raw.len());
                    if target == Target::Out {
                        n = n.min(out.remaining_mut());
                    }
                    if n == 0 && left > 0 {
                        return Ok(if raw.is_empty() {
                            Step::NeedInput
                        } else {
                            Step::OutputFull
                        });
                    }
                    unmask(&mut raw[..n], mask, done);
                    match target {
                        Target::Out => out.put_slice(&raw[..n]),
                        Target::Gather { .. } => {
                            if let Some((message, _)) = &mut self.gathering {
                                message.extend_from_slice(&raw[..n]);
                            }
                        }
                        Target::Control(_) => self.control.extend_from_slice(&raw[..n]),
                    }
                    raw.advance(n);
                    if left > n {
                        self.state = State::Payload {
                            left: left - n,
                            mask,
                            done: done + n,
                            target,
                        };
                        continue;
                    }
                    self.state = State::Header;
                    if let Some(step) = self.end_frame(target)? {
                        return Ok(step);
                    }
                }
            }
        }
    }

    /// The usual case, in one step: a whole, unfragmented binary message under 64 KiB,
    /// all of it in `raw`, with room for it in `out`. Returns false, having done nothing,
    /// for anything else (the general path then checks it).
    fn whole_message<B: BufMut>(&mut self, raw: &mut BytesMut, out: &mut B) -> bool {
        // FIN and binary, no reserved bits; masked.
        if self.gathering.is_some() || raw.len() < 6 || raw[0] != 0x82 || raw[1] & 0x80 == 0 {
            return false;
        }
        let (length, header) = match raw[1] & 0x7f {
            short @ 0..=125 => (usize::from(short), 6),
            126 if raw.len() >= 8 => (usize::from(u16::from_be_bytes([raw[2], raw[3]])), 8),
            _ => return false,
        };
        if length > self.max_message
            || raw.len() < header + length
            || out.remaining_mut() < 4 + length
        {
            return false;
        }
        let mask = [
            raw[header - 4],
            raw[header - 3],
            raw[header - 2],
            raw[header - 1],
        ];
        let payload = &mut raw[header..header + length];
        unmask(payload, mask, 0);
        // Within max_message, so within u32.
        out.put_u32(length as u32);
        out.put_slice(payload);
        raw.advance(header + length);
        true
    }

    /// Checks a frame's header and sets up the reading of its payload.
    fn start_frame(&mut self, header: &FrameHeader, length: u64) -> Result<(), Violation> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(Violation::new(
                CloseCode::Protocol,
                "reserved bits set, but no extension was agreed",
            ));
        }
        let Some(mask) = header.mask else {
            return Err(Violation::new(
                CloseCode::Protocol,
                "a client's frames must be masked (RFC 6455, 5.1)",
            ));
        };
        let too_big = || {
            Violation::new(
                CloseCode::TooBig,
                format!(
                    "message over the server's limit of {} bytes",
                    self.max_message
                ),
            )
        };
        let length = usize::try_from(length).map_err(|_| too_big())?;
        let target = match header.opcode {
            OpCode::Data(Data::Text) => {
                return Err(Violation::new(
                    CloseCode::Unsupported,
                    "text frames are not podnet messages: send each message as one binary \
                     message holding a msgpack map",
                ));
            }
            OpCode::Data(Data::Binary) => {
                if self.gathering.is_some() {
                    return Err(Violation::new(
                        CloseCode::Protocol,
                        "a new message began before the fragmented one ended",
                    ));
                }
                if length > self.max_message {
                    return Err(too_big());
                }
                if header.is_final {
                    self.pending
                        .put_u32(u32::try_from(length).map_err(|_| too_big())?);
                    Target::Out
                } else {
                    self.gathering = Some((BytesMut::with_capacity(length), 1));
                    Target::Gather { last: false }
                }
            }
            OpCode::Data(Data::Continue) => {
                let Some((message, fragments)) = &mut self.gathering else {
                    return Err(Violation::new(
                        CloseCode::Protocol,
                        "a continuation frame with no message to continue",
                    ));
                };
                *fragments += 1;
                if *fragments > self.max_fragments {
                    return Err(Violation::new(
                        CloseCode::TooBig,
                        format!(
                            "message split into more than {} fragments",
                            self.max_fragments
                        ),
                    ));
                }
                if length > self.max_message.saturating_sub(message.len()) {
                    return Err(too_big());
                }
                Target::Gather {
                    last: header.is_final,
                }
            }
            OpCode::Data(Data::Reserved(code)) | OpCode::Control(Control::Reserved(code)) => {
                return Err(Violation::new(
                    CloseCode::Protocol,
                    format!("unknown opcode {code}"),
                ));
            }
            OpCode::Control(control) => {
                if !header.is_final || length > 125 {
                    return Err(Violation::new(
                        CloseCode::Protocol,
                        "control frames may not be fragmented or longer than 125 bytes",
                    ));
                }
                self.control.clear();
                Target::Control(control)
            }
        };
        self.state = State::Payload {
            left: length,
            mask,
            done: 0,
            target,
        };
        Ok(())
    }

    /// Finishes a frame whose payload was read in full.
    fn end_frame(&mut self, target: Target) -> Result<Option<Step>, Violation> {
        match target {
            Target::Out | Target::Gather { last: false } => Ok(None),
            Target::Gather { last: true } => {
                if let Some((message, _)) = self.gathering.take() {
                    // Within `max_message`, checked frame by frame, so within u32.
                    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
                    self.pending.put_u32(length);
                    self.pending.extend_from_slice(&message);
                }
                Ok(None)
            }
            Target::Control(Control::Ping) => Ok(Some(Step::Ping(self.control.split().freeze()))),
            Target::Control(Control::Pong) => Ok(None),
            Target::Control(Control::Close) => {
                self.state = State::Closed;
                let payload = self.control.split();
                Ok(Some(Step::Closed(parse_close(&payload)?)))
            }
            Target::Control(Control::Reserved(_)) => Ok(None),
        }
    }
}

/// The code and reason of a close frame's payload (empty: none given).
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::new(
            CloseCode::Protocol,
            "a close frame's payload must hold a 2-byte code",
        )),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::may_be_sent(code) {
                return Err(Violation::new(
                    CloseCode::Protocol,
                    format!("close code {code} may not be sent"),
                ));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| {
                Violation::new(CloseCode::InvalidData, "a close reason must be UTF-8")
            })?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

/// XORs `data` with `mask`, `done` bytes into the payload it belongs to.
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4], done: usize) {
    let mut mask = mask;
    mask.rotate_left(done % 4);
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame as a real client writes it: masked.
    fn client_frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let header = FrameHeader {
            is_final,
            opcode,
            mask: Some(mask),
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn binary(payload: &[u8]) -> Vec<u8> {
        client_frame(OpCode::Data(Data::Binary), true, payload)
    }

    fn repod(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn decode_all(input: &[u8]) -> (Vec<u8>, Result<Step, Violation>) {
        let mut decoder = Inbound::new(1024, 4);
        let mut raw = BytesMut::from(input);
        let mut out = Vec::new();
        let step = decoder.decode(&mut raw, &mut out);
        (out, step)
    }

    #[test]
    fn binary_messages_become_repod_frames() {
        let mut input = binary(b"hello");
        input.extend(binary(&[7u8; 300]));
        let (out, step) = decode_all(&input);
        let mut expected = repod(b"hello");
        expected.extend(repod(&[7u8; 300]));
        assert_eq!(out, expected);
        assert_eq!(step, Ok(Step::NeedInput));
    }

    /// The input arrives a byte at a time and the output has room for three bytes at a
    /// time: the same frames come out.
    #[test]
    fn any_split_of_input_and_output_gives_the_same_frames() {
        let mut input = binary(b"first message");
        input.extend(client_frame(OpCode::Data(Data::Binary), false, b"sec"));
        input.extend(client_frame(OpCode::Control(Control::Ping), true, b"p"));
        input.extend(client_frame(OpCode::Data(Data::Continue), true, b"ond"));
        let mut decoder = Inbound::new(1024, 4);
        let mut raw = BytesMut::new();
        let mut out = Vec::new();
        let mut pings = 0;
        for byte in input {
            raw.put_u8(byte);
            loop {
                let mut room = [0u8; 3];
                let mut window = &mut room[..];
                let step = decoder.decode(&mut raw, &mut window).unwrap();
                let used = 3 - window.len();
                out.extend_from_slice(&room[..used]);
                match step {
                    Step::NeedInput => break,
                    Step::OutputFull => {}
                    Step::Ping(payload) => {
                        assert_eq!(&payload[..], b"p");
                        pings += 1;
                    }
                    Step::Closed(_) => panic!("no close was sent"),
                }
            }
        }
        let mut expected = repod(b"first message");
        expected.extend(repod(b"second"));
        assert_eq!(out, expected);
        assert_eq!(pings, 1);
    }

    #[test]
    fn hostile_frames_are_refused_with_a_code() {
        let cases: Vec<(Vec<u8>, CloseCode)> = vec![
            (
                client_frame(OpCode::Data(Data::Text), true, b"hi"),
                CloseCode::Unsupported,
            ),
            (binary(&[0u8; 1025]), CloseCode::TooBig),
            // Unmasked.
            (vec![0x82, 0x01, 0x00], CloseCode::Protocol),
            // RSV1 without an extension.
            (vec![0xc2, 0x81, 0, 0, 0, 0, 0], CloseCode::Protocol),
            // A continuation with nothing to continue.
            (
                client_frame(OpCode::Data(Data::Continue), true, b"x"),
                CloseCode::Protocol,
            ),
            // A fragmented ping.
            (
                client_frame(OpCode::Control(Control::Ping), false, b"x"),
                CloseCode::Protocol,
            ),
            // Opcode 3 is reserved.
            (vec![0x83, 0x80, 0, 0, 0, 0], CloseCode::Protocol),
            // A 64-bit length no machine could hold.
            (
                vec![
                    0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
                ],
                CloseCode::TooBig,
            ),
            // A close frame with half a code.
            (
                client_frame(OpCode::Control(Control::Close), true, b"x"),
                CloseCode::Protocol,
            ),
        ];
        for (input, code) in cases {
            let (_, step) = decode_all(&input);
            let violation = step.expect_err("refused");
            assert_eq!(violation.code, code, "{violation}");
        }
    }

    /// Fragments that never end are cut off at the fragment limit, even empty ones.
    #[test]
    fn endless_fragments_are_refused() {
        let mut input = client_frame(OpCode::Data(Data::Binary), false, b"");
        for _ in 0..10 {
            input.extend(client_frame(OpCode::Data(Data::Continue), false, b""));
        }
        let (out, step) = decode_all(&input);
        assert!(out.is_empty());
        assert_eq!(step.expect_err("refused").code, CloseCode::TooBig);
    }

    /// Fragments whose sum is over the limit are refused before they are gathered.
    #[test]
    fn fragments_over_the_limit_are_refused() {
        let mut input = client_frame(OpCode::Data(Data::Binary), false, &[1u8; 600]);
        input.extend(client_frame(
            OpCode::Data(Data::Continue),
            true,
            &[1u8; 600],
        ));
        let (_, step) = decode_all(&input);
        assert_eq!(step.expect_err("refused").code, CloseCode::TooBig);
    }

    #[test]
    fn a_close_ends_the_stream() {
        let mut payload = 1001u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"tab closed");
        let mut input = binary(b"last");
        input.extend(client_frame(
            OpCode::Control(Control::Close),
            true,
            &payload,
        ));
        input.extend(binary(b"after the close"));
        let (out, step) = decode_all(&input);
        assert_eq!(out, repod(b"last"));
        assert_eq!(
            step,
            Ok(Step::Closed(Some((1001, "tab closed".to_owned()))))
        );
    }

    #[test]
    fn unmask_matches_bytewise_at_any_offset() {
        let mask = [1, 2, 3, 4];
        for done in 0..4 {
            let mut data: Vec<u8> = (0u8..37).collect();
            unmask(&mut data, mask, done);
            for (i, byte) in data.iter().enumerate() {
                assert_eq!(*byte, i as u8 ^ mask[(i + done) % 4]);
            }
        }
    }
}
