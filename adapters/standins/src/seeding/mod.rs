//! Writing the synthetic population ([`crate::seed`]) into a core system of each kind, in that
//! kind's own schema, encoding and quirks. Every kind's seeding is idempotent: members already
//! present are kept as they are.

mod mariadb;
mod postgres;
mod sqlite;

pub use mariadb::{portal_id_code, vendor_fixtures};

use crate::seed::SeedOptions;
use hfx_adapters::AdapterError;
use hfx_adapters::batchfile::BatchfileCore;
use hfx_adapters::mariadb::MariadbCore;
use hfx_adapters::postgres::PostgresCore;
use hfx_adapters::settings::AdapterSettings;
use hfx_adapters::sqlite::SqliteCore;
use hfx_adapters::vendorapi::VendorApiCore;
use std::time::Duration;

/// Progress callback: members written so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// Seed members `start..start+count` of the deterministic population of `centre`; calls
/// `progress(done)` after each batch.
#[async_trait::async_trait]
pub trait Seed {
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError>;
}

#[async_trait::async_trait]
impl Seed for SqliteCore {
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError> {
        sqlite::seed(self, centre, opts, start, count, progress).await
    }
}

#[async_trait::async_trait]
impl Seed for PostgresCore {
    /// Person, account, postings and loans with COPY, in transactions of a few thousand
    /// members.
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError> {
        postgres::seed(self, centre, opts, start, count, progress).await
    }
}

#[async_trait::async_trait]
impl Seed for MariadbCore {
    /// Multi-row INSERTs; every tenth resident-id member is stored with the portal id type `111`
    /// ([`portal_id_code`]); when `start` is 0 the [`vendor_fixtures`] (GRZHZT 07 / 09) are
    /// written too.
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError> {
        mariadb::seed(self, centre, opts, start, count, progress).await
    }
}

#[async_trait::async_trait]
impl Seed for BatchfileCore {
    /// Into the batch core's master data (the stand-in's `core/master.db`), then export it and
    /// load the export.
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError> {
        let runner = crate::batch::BatchRunner::open(self.root()).await?;
        runner
            .master()
            .seed(centre, opts, start, count, progress)
            .await?;
        runner.export().await?;
        self.reload().await
    }
}

/// Members per request to the vendor stand-in's bulk endpoint.
const VENDOR_CHUNK: u64 = 5_000;

#[async_trait::async_trait]
impl Seed for VendorApiCore {
    /// Through the vendor stand-in's bulk endpoint (`POST /admin/seed`), in chunks.
    async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: Progress<'_>,
    ) -> Result<(), AdapterError> {
        let timeout = self.timeout().max(Duration::from_secs(600));
        let mut done = 0;
        while done < count {
            let n = VENDOR_CHUNK.min(count - done);
            let body = serde_json::json!({
                "centre": centre, "seed": opts.seed, "historyMonths": opts.history_months,
                "employers": opts.employers, "start": start + done, "count": n,
            });
            self.request_json(http::Method::POST, "/admin/seed", Some(body), timeout)
                .await?;
            done += n;
            progress(done);
        }
        Ok(())
    }
}

/// Seed members `start..start+count` into the core system the settings name (`hfx seed`).
pub async fn seed(
    s: &AdapterSettings,
    centre: &str,
    opts: &SeedOptions,
    start: u64,
    count: u64,
    progress: Progress<'_>,
) -> Result<(), AdapterError> {
    let timeout = s.timeout();
    match s.kind.as_str() {
        "sqlite" => {
            SqliteCore::open(s.need(&s.path, "path")?)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "postgres" => {
            PostgresCore::open(s.need(&s.url, "url")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "mariadb" => {
            MariadbCore::open(s.need(&s.url, "url")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "batchfile" => {
            BatchfileCore::open(s.need(&s.path, "path")?, timeout)
                .await?
                .seed(centre, opts, start, count, progress)
                .await
        }
        "vendorapi" => {
            VendorApiCore::open(s)?
                .seed(centre, opts, start, count, progress)
                .await
        }
        _ => Err(s.unknown_kind()),
    }
}
