//! hfx node: the peer and local gRPC APIs over mutual TLS, the store, the exchange log's
//! state, member queries, witnessing and the trust in force.
//!
//! Arrows run one way: `server` (the gRPC faces and the loops) -> the business rooms
//! (`member`, `witness`, `transfer`, `attest`, `loan_check`) -> `node` (a node's state) ->
//! `store` (the only SQL) -> `log`; beside them `directory`, `trust`, `tls`, `auth`,
//! `peers`, `error`, `config`.
#![forbid(unsafe_code)]

pub mod attest;
pub mod auth;
pub mod backup;
pub mod client;
pub mod config;
pub mod directory;
pub mod disclosures;
pub mod doctor;
pub mod dupcheck;
pub mod error;
pub mod loan_check;
pub mod log;
pub mod member;
pub mod node;
pub mod ops;
pub mod peers;
pub mod policy;
pub mod server;
pub mod serving;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod transfer;
pub mod trust;
pub mod witness;

pub use hfx_tlog::now_ms;
pub use server::{Bound, run, run_with_listeners};
