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
        "sqlite" => Ok(Arc::new(
            crate::sqlite::SqliteCore::open(s.need(&s.path, "path")?).await?,
        )),
        "postgres" => Ok(Arc::new(
            crate::postgres::PostgresCore::open(s.need(&s.url, "url")?, timeout).await?,
        )),
        "mariadb" => Ok(Arc::new(
            crate::mariadb::MariadbCore::open(s.need(&s.url, "url")?, timeout).await?,
        )),
        "batchfile" => Ok(Arc::new(
            crate::batchfile::BatchfileCore::open(s.need(&s.path, "path")?, timeout).await?,
        )),
        "vendorapi" => Ok(Arc::new(crate::vendorapi::VendorApiCore::open(
            s.need(&s.url, "url")?,
            s.need(&s.client_id, "client_id")?,
            s.need(&s.client_secret, "client_secret")?,
            timeout,
        )?)),
        other if KINDS.contains(&other) => Err(AdapterError::other(format!(
            "adapter.kind {other:?} is not available in this build"
        ))),
        _ => Err(s.unknown_kind()),
    }
}
