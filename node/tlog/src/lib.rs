//! The exchange log as a library with no I/O (DESIGN.md §5): the RFC 6962 Merkle tree and its
//! proofs (`merkle`), C2SP signed notes, checkpoints and cosignatures (`note`), and the log
//! envelope (`envelope`), and the auditor's tools over an export of it (`audit`: the export
//! format, verify, prove, replay, reconcile). Nodes, the auditor's tools and attestation
//! verifiers share it; it pulls in neither tokio nor sqlx nor the node.
#![forbid(unsafe_code)]

pub mod attest;
pub mod audit;
pub mod envelope;
pub mod merkle;
pub mod methods;
pub mod note;
pub mod tiles;

pub use envelope::{Envelope, RECV, SENT, now_ms, origin};
