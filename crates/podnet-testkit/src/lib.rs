//! Test parts shared by podnet's crates, the TypeScript client's tests and the
//! benchmarks. Not published.
//!
//! [`Proxy`] is a fault-injecting TCP proxy on loopback: it forwards bytes both ways in
//! chunks of random sizes (so frames are split across writes) and, when told, cuts every
//! connection through it at whatever point the bytes are, mid-frame included. It runs on
//! a thread of its own, so synchronous tests (`pump()` loops) and async ones use it alike.
//! The `cut-proxy` binary serves the same to programs in other languages.
//!
//! [`RedisServer`] is a real `redis-server` on a free loopback port, persistence off, for
//! the cluster's tests; [`Process`] a program (a server, a cluster node) started for a test
//! or a demo, killed when dropped; [`http_get`] asks a monitoring endpoint.

mod http;
mod process;
mod proxy;
mod redis;

pub use http::http_get;
pub use process::Process;
pub use proxy::{Cut, Proxy, Rng};
pub use redis::{RedisServer, redis_server_program};
