//! How a WebSocket connection closes: the codes podnet sends, and the violations that make
//! it close.

use std::fmt;

/// The close codes podnet sends (RFC 6455, 7.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: a close with a reason, from either side.
    Normal,
    /// 1002: the peer broke the WebSocket protocol.
    Protocol,
    /// 1003: the peer sent a kind of data podnet does not take (text).
    Unsupported,
    /// 1007: data that should be UTF-8 was not.
    InvalidData,
    /// 1009: a message over the limit.
    TooBig,
}

impl CloseCode {
    /// The code's number.
    pub const fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::Protocol => 1002,
            Self::Unsupported => 1003,
            Self::InvalidData => 1007,
            Self::TooBig => 1009,
        }
    }

    /// Whether a peer may put `code` in a close frame: 1000-1003, 1007-1014, and the
    /// ranges for libraries (3000-3999) and applications (4000-4999).
    pub fn may_be_sent(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The peer broke the WebSocket protocol or one of the server's limits: the connection
/// closes with this code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The close code to send.
    pub code: CloseCode,
    /// What was wrong, for the close frame and the logs.
    pub reason: String,
}

impl Violation {
    /// A violation closing with `code`, saying `reason`.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl std::error::Error for Violation {}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "websocket: {}", self.reason)
    }
}

/// The payload of a close frame: the code, then the reason cut to fit the 123 bytes a
/// control frame leaves (at a character boundary).
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_at_a_character() {
        let payload = close_payload(1000, &"é".repeat(100));
        assert_eq!(payload.len(), 2 + 122);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }

    #[test]
    fn violations_say_they_are_websocket_ones() {
        let violation = Violation::new(CloseCode::TooBig, "big");
        assert_eq!(violation.to_string(), "websocket: big");
    }
}
