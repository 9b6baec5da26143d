//! What can go wrong with replicated state.

/// An error of replicated state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The state (or a view of it) does not serialize to msgpack.
    #[error("the state does not serialize ({0}): its fields must be serde types")]
    Serialize(String),
    /// A `state:` message that is not one podnet sends (or that this replica cannot
    /// apply: a patch of a state it never got whole).
    #[error("a bad state message: {0}")]
    BadMessage(String),
    /// A replica's state does not deserialize into the type asked for.
    #[error("the replicated state is not a {ty} ({why}): do server and client share the type?")]
    Deserialize {
        /// The type asked for.
        ty: &'static str,
        /// Why.
        why: String,
    },
    /// A message does not encode (a state over the frame size limit).
    #[error(
        "a state message does not encode ({0}); raise FramingConfig::max_frame_length or send less"
    )]
    Encode(#[from] podnet_framing::FramingError),
}
