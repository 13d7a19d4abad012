//! Open a core system from its settings (the node config's `[adapter]` table).

use crate::{AdapterError, CoreSystem};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a core system lives. Which fields a kind needs is checked by [`open`], with an
/// error naming the `adapter.*` key.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    /// postgres, mariadb, sqlite, batchfile or vendorapi.
    pub kind: String,
    /// sqlite: the database file; batchfile: the exchange folder (export/, inbox/, outbox/).
    pub path: Option<PathBuf>,
    /// postgres / mariadb: connection URL; vendorapi: base URL of the vendor's API.
    pub url: Option<String>,
    /// vendorapi: API client id / secret for token auth.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Deadline of one call to the core system, milliseconds.
    pub timeout_ms: Option<u64>,
}

pub const KINDS: [&str; 5] = ["postgres", "mariadb", "sqlite", "batchfile", "vendorapi"];

fn need<'a, T>(v: &'a Option<T>, key: &str, kind: &str) -> Result<&'a T, AdapterError> {
    v.as_ref().ok_or_else(|| {
        AdapterError::Other(format!("adapter.{key} is required for adapter kind {kind}"))
    })
}

/// Open the core system the settings name.
pub async fn open(s: &AdapterSettings) -> Result<Arc<dyn CoreSystem>, AdapterError> {
    match s.kind.as_str() {
        "sqlite" => Ok(Arc::new(
            crate::sqlite::SqliteCore::open(need(&s.path, "path", "sqlite")?).await?,
        )),
        "postgres" => Ok(Arc::new(
            crate::postgres::PostgresCore::open(
                need(&s.url, "url", "postgres")?,
                s.timeout_ms.map(std::time::Duration::from_millis),
            )
            .await?,
        )),
        "mariadb" => Ok(Arc::new(
            crate::mariadb::MariadbCore::open(
                need(&s.url, "url", "mariadb")?,
                s.timeout_ms.map(std::time::Duration::from_millis),
            )
            .await?,
        )),
        "batchfile" => Ok(Arc::new(
            crate::batchfile::BatchfileCore::open(
                need(&s.path, "path", "batchfile")?,
                s.timeout_ms.map(std::time::Duration::from_millis),
            )
            .await?,
        )),
        "vendorapi" => Ok(Arc::new(crate::vendorapi::VendorApiCore::open(
            need(&s.url, "url", "vendorapi")?,
            need(&s.client_id, "client_id", "vendorapi")?,
            need(&s.client_secret, "client_secret", "vendorapi")?,
            s.timeout_ms.map(std::time::Duration::from_millis),
        )?)),
        other if KINDS.contains(&other) => Err(AdapterError::Other(format!(
            "adapter.kind {other:?} is not available in this build"
        ))),
        other => Err(AdapterError::Other(format!(
            "adapter.kind {other:?} is not one of {KINDS:?}"
        ))),
    }
}

/// Seed members `start..start+count` of the deterministic population into the core system
/// the settings name (each kind in its own schema, encoding and quirks).
pub async fn seed(
    s: &AdapterSettings,
    centre: &str,
    opts: &crate::seed::SeedOptions,
    start: u64,
    count: u64,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(), AdapterError> {
    let timeout = s.timeout_ms.map(std::time::Duration::from_millis);
    match s.kind.as_str() {
        "sqlite" => {
            crate::sqlite::SqliteCore::open(need(&s.path, "path", "sqlite")?)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "postgres" => {
            crate::postgres::PostgresCore::open(need(&s.url, "url", "postgres")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "mariadb" => {
            crate::mariadb::MariadbCore::open(need(&s.url, "url", "mariadb")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "batchfile" => {
            crate::batchfile::BatchfileCore::open(need(&s.path, "path", "batchfile")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "vendorapi" => {
            crate::vendorapi::VendorApiCore::open(
                need(&s.url, "url", "vendorapi")?,
                need(&s.client_id, "client_id", "vendorapi")?,
                need(&s.client_secret, "client_secret", "vendorapi")?,
                timeout,
            )?
            .seed(centre, opts, start, count, progress)
            .await
        }
        other => Err(AdapterError::Other(format!(
            "adapter.kind {other:?} is not one of {KINDS:?}"
        ))),
    }
}
