//! The one error type of this crate.

/// What can go wrong when configuring the protocol.
///
/// ```
/// use podnet_proto::ProtoError;
///
/// let err = ProtoError::AlreadyRegistered { name: "info".into() };
/// assert_eq!(
///     err.to_string(),
///     "the connection type \"info\" is already registered; choose another name"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A connection type was registered twice (peng3dnet's `AlreadyRegisteredError`).
    #[error("the connection type {name:?} is already registered; choose another name")]
    AlreadyRegistered {
        /// The name.
        name: String,
    },
    /// A connection type name that a hello could not carry.
    #[error(
        "{name:?} is not a valid connection type name: use 1 to 64 ASCII letters, digits, \
         '-', '_' or '.'"
    )]
    InvalidTypeName {
        /// The name.
        name: String,
    },
}
