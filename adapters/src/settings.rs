//! Where a core system lives: the node config's `[adapter]` table. Plain data; [`crate::open`]
//! turns it into an adapter, and the stand-ins (hfx-standins) produce it for the systems they host.

use crate::AdapterError;
use std::path::PathBuf;

/// Where a core system lives. Which fields a kind needs is checked by [`crate::open::open`], with
/// an error naming the `adapter.*` key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    /// postgres, mariadb, sqlite, batchfile or vendorapi.
    pub kind: String,
    /// sqlite: the database file; batchfile: the exchange folder (export/, inbox/, outbox/).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// postgres / mariadb: connection URL; vendorapi: base URL of the vendor's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// vendorapi: API client id / secret for token auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// vendorapi over https: the PEM file of the CA that issued the vendor API's server
    /// certificate (the only CA trusted; the URL's host must be in the certificate's names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// vendorapi over https: a client certificate (PEM chain) and its key, when the vendor's
    /// API asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// vendorapi: accept an `http://` URL. Off by default: personal data would cross the
    /// network in clear, so plain http is refused unless this says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
    /// sqlite: create an empty core database at `path` when there is none. Off by default: a
    /// missing file is an error naming `adapter.path` (a typo must not start a centre on an
    /// empty core). `hfx seed` creates the file itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create: bool,
    /// Deadline of one call to the core system, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Test hook: every read (member, deposits, loans) waits this long first, as a slow core
    /// system does ([`crate::latency::SlowReads`]). Never set in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_delay_ms: Option<u64>,
}

pub const KINDS: [&str; 5] = ["postgres", "mariadb", "sqlite", "batchfile", "vendorapi"];

impl AdapterSettings {
    /// The per-call deadline, if the settings give one.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout_ms.map(std::time::Duration::from_millis)
    }

    /// Field `key` of this kind, or an error naming `adapter.<key>`.
    pub fn need<'a, T>(&self, v: &'a Option<T>, key: &str) -> Result<&'a T, AdapterError> {
        v.as_ref().ok_or_else(|| {
            AdapterError::other(format!(
                "adapter.{key} is required for adapter kind {}",
                self.kind
            ))
        })
    }

    /// The error for a kind that is not one of [`KINDS`].
    pub fn unknown_kind(&self) -> AdapterError {
        AdapterError::other(format!(
            "adapter.kind {:?} is not one of {KINDS:?}",
            self.kind
        ))
    }
}
