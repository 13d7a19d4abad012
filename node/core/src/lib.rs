//! hfx node: the peer and local gRPC APIs over mutual TLS, the store, the exchange log's
//! state, member queries, witnessing and the trust in force.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod log;
pub mod member;
pub mod node;
pub mod peers;
pub mod services;
pub mod store;
pub mod tls;
pub mod trust;
pub mod witness;

pub use hfx_tlog::now_ms;
