//! Stand-ins for development and tests: never part of a node built for a centre (hfx-node does not
//! depend on this crate).
//!
//! - [`seed`]: the deterministic synthetic population;
//! - [`seeding`]: writing it into a core system of each kind ([`seeding::Seed`]);
//! - [`batch`]: the legacy batch core's batch run (applies inbox/ instructions, re-exports);
//! - [`vendor`]: the vendor API server (HTTP/JSON, with injectable faults);
//! - [`db`]: scratch PostgreSQL / MariaDB databases;
//! - [`host`]: host a zone's core system of any kind (create, seed, run its stand-in);
//! - [`contract`]: the adapter contract suite every kind must pass.
#![forbid(unsafe_code)]

pub(crate) use hfx_adapters::{ids, model, money};

pub mod bank;
pub mod batch;
pub mod contract;
pub mod db;
pub mod host;
pub mod seed;
pub mod seeding;
pub mod vendor;

pub use host::{HostSpec, HostedCore, host};

/// An adapter error's own text followed by its causes' (`what: cause: …`), without the
/// variant's prefix: what a stand-in core system answers with when it fails.
pub(crate) fn with_causes(what: String, source: Option<hfx_adapters::BoxError>) -> String {
    match source {
        Some(s) => format!("{what}: {}", hfx_adapters::chain(&*s)),
        None => what,
    }
}
