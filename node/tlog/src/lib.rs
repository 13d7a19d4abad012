//! The exchange log as a library with no I/O (DESIGN.md §5): the RFC 6962 Merkle tree and its
//! proofs (`merkle`), C2SP signed notes, checkpoints and cosignatures (`note`), and the log
//! envelope (`envelope`). Nodes, the auditor's tools and attestation verifiers share it; it
//! pulls in neither tokio nor sqlx.
#![forbid(unsafe_code)]

pub mod envelope;
pub mod merkle;
pub mod note;

pub use envelope::{Envelope, RECV, SENT, now_ms, origin};
