//! podnet's async layer: a tokio server and client that speak the repod wire format.
//!
//! **Status: being built** (the transport issue). This crate will hold the accept loop
//! with its connection cap and backoff, one task pair per connection with bounded inbound
//! and outbound queues, encode-once broadcast, close with a reason, graceful shutdown and
//! liveness checks, reporting `connected`, message, `disconnected` and `error` events.
//!
//! It is for applications that already run tokio. **Most games want the `podnet`
//! crate**, whose `pump()` needs no async code; the wire format itself is in
//! [`podnet_framing`], re-exported here.

#[doc(inline)]
pub use podnet_framing;
