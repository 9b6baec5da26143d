//! podnet's thread-backed bridge: the network runs on a background thread, and the game
//! loop calls `pump()` once per frame to handle what arrived, on its own thread.
//!
//! **Status: being built** (the sync issue). This crate will hold the blocking `Server`
//! and `Client` handles over [`podnet_transport`]: `start_background()`, `launch()`,
//! `connect()`, a `pump()` that never blocks, `send()` from any thread and `close()`.
//!
//! **Most games want the `podnet` crate**, which adds handlers keyed by action name on
//! top of this.

#[doc(inline)]
pub use podnet_transport;
