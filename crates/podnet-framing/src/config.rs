//! Limits that bound what a peer can make this side allocate or recurse into.

/// Limits for reading and writing frames.
///
/// Both peers of a connection should agree on [`max_frame_length`](Self::max_frame_length):
/// a frame that one side is allowed to send but the other may not receive closes the
/// connection.
///
/// # Example
///
/// ```
/// use podnet_framing::FramingConfig;
///
/// // Defaults suit most games: 1 MiB frames, nesting up to 128 levels.
/// let config = FramingConfig::default();
/// assert_eq!(config.max_frame_length, 1024 * 1024);
///
/// // A game that ships whole level files in one message raises the frame limit.
/// let big = FramingConfig::default().with_max_frame_length(16 * 1024 * 1024);
/// assert_eq!(big.max_frame_length, 16 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FramingConfig {
    /// The largest payload, in bytes, that a frame may carry (the 4-byte length prefix is
    /// not counted).
    ///
    /// Default: **1 MiB** (1,048,576 bytes). Game messages are small (a move is ~20 bytes,
    /// a full state snapshot a few KiB); the limit is what one connection can make the reader
    /// buffer, so it multiplies by the number of connections. A length prefix over the
    /// limit is rejected as soon as its 4 bytes arrive, before anything is allocated for
    /// it, and encoding a message larger than the limit fails locally instead of being
    /// rejected by the peer.
    pub max_frame_length: usize,

    /// The deepest nesting of arrays and maps a payload may contain. The message map
    /// itself is depth 1, so `{"action": "a", "xs": [1, 2]}` has depth 2.
    ///
    /// Default: **128**, as `serde_json`. Payloads are checked by an iterative scanner
    /// before any recursive decoder sees them, so a hostile payload of 100,000 nested
    /// arrays is an error, never a stack overflow. Raising this raises the recursion
    /// depth of decoding accordingly.
    pub max_depth: usize,
}

impl FramingConfig {
    /// The default [`max_frame_length`](Self::max_frame_length): 1 MiB.
    pub const DEFAULT_MAX_FRAME_LENGTH: usize = 1024 * 1024;
    /// The default [`max_depth`](Self::max_depth): 128.
    pub const DEFAULT_MAX_DEPTH: usize = 128;

    /// Returns this config with [`max_frame_length`](Self::max_frame_length) set.
    ///
    /// ```
    /// let config = podnet_framing::FramingConfig::default().with_max_frame_length(4096);
    /// assert_eq!(config.max_frame_length, 4096);
    /// ```
    #[must_use]
    pub fn with_max_frame_length(mut self, bytes: usize) -> Self {
        self.max_frame_length = bytes;
        self
    }

    /// Returns this config with [`max_depth`](Self::max_depth) set.
    ///
    /// ```
    /// let config = podnet_framing::FramingConfig::default().with_max_depth(16);
    /// assert_eq!(config.max_depth, 16);
    /// ```
    #[must_use]
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            max_frame_length: Self::DEFAULT_MAX_FRAME_LENGTH,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}
