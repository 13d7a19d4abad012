//! hfx node: the peer and local gRPC APIs over mutual TLS, the store, the exchange log, the
//! zone launcher that `hfx demo`, the tests and the benchmarks share, and the CLI's logic.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod error;
pub mod launcher;
pub mod log;
pub mod member;
pub mod node;
pub mod peers;
pub mod services;
pub mod store;
pub mod tls;
pub mod trust;
pub mod witness;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
