//! Open a core system from its settings (the node config's `[adapter]` table).

use crate::AdapterError;
use crate::CoreSystem;
use std::sync::Arc;

pub use crate::settings::{AdapterSettings, KINDS};

/// Open the core system the settings name (slowed by the `read_delay_ms` test hook when set).
pub async fn open(s: &AdapterSettings) -> Result<Arc<dyn CoreSystem>, AdapterError> {
    let core = open_kind(s).await?;
    Ok(match s.read_delay_ms.filter(|ms| *ms > 0) {
        Some(ms) => Arc::new(crate::latency::SlowReads::new(
            core,
            std::time::Duration::from_millis(ms),
        )),
        None => core,
    })
}

async fn open_kind(s: &AdapterSettings) -> Result<Arc<dyn CoreSystem>, AdapterError> {
    let timeout = s.timeout();
    match s.kind.as_str() {
        "sqlite" => {
            let path = s.need(&s.path, "path")?;
            Ok(Arc::new(if s.create {
                crate::sqlite::SqliteCore::open(path).await?
            } else {
                crate::sqlite::SqliteCore::open_existing(path).await?
            }))
        }
        "postgres" => Ok(Arc::new(
            crate::postgres::PostgresCore::open(s.need(&s.url, "url")?, timeout)
                .await
                .map_err(|e| naming("adapter.url", e))?,
        )),
        "mariadb" => Ok(Arc::new(
            crate::mariadb::MariadbCore::open(s.need(&s.url, "url")?, timeout)
                .await
                .map_err(|e| naming("adapter.url", e))?,
        )),
        "batchfile" => Ok(Arc::new(
            crate::batchfile::BatchfileCore::open(s.need(&s.path, "path")?, timeout).await?,
        )),
        "vendorapi" => Ok(Arc::new(crate::vendorapi::VendorApiCore::open(s)?)),
        other if KINDS.contains(&other) => Err(AdapterError::other(format!(
            "adapter.kind {other:?} is not available in this build"
        ))),
        _ => Err(s.unknown_kind()),
    }
}

/// An error opening the core system, its text prefixed with the setting that points at it (a
/// database that does not exist, a server that does not answer: `adapter.url: …`). The variant
/// and the source stay as they were.
fn naming(key: &str, e: AdapterError) -> AdapterError {
    match e {
        AdapterError::Unavailable { what, source } => AdapterError::Unavailable {
            what: format!("{key}: {what}"),
            source,
        },
        AdapterError::Other { what, source } => AdapterError::Other {
            what: format!("{key}: {what}"),
            source,
        },
        other => other,
    }
}
