//! The auditor's side of the log tables: the export (read from the store, written in the
//! format `hfx_tlog::audit` defines, so the format lives in one place) and the retention purge
//! of old payloads. Parsing, verifying, proving, replaying and reconciling an export need no
//! store and live in `hfx_tlog::audit`.

use super::{Store, StoreError, Val, WriteOp};
use hfx_tlog::audit::{self as format, DisclosureRecord, ExportHeader};
use sqlx::Row;
use std::io::Write;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store has a gap in the log at index {0}")]
    Gap(u64),
    #[error("writing the export")]
    Write(#[from] std::io::Error),
}

impl From<sqlx::Error> for ExportError {
    fn from(e: sqlx::Error) -> Self {
        ExportError::Store(StoreError::Db(e))
    }
}

/// Entries read per query.
const PAGE: i64 = 50_000;

impl Store {
    /// Write the export of this store's log (entries, checkpoints, cosignatures, disclosure
    /// records and, if `with_payloads`, the payloads) to `out`, calling `progress(done,
    /// total)` after each page of entries. Returns the number of entries exported.
    pub async fn export(
        &self,
        header: &ExportHeader,
        with_payloads: bool,
        out: &mut (dyn Write + Send),
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, ExportError> {
        let pool = &self.pool;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_entries")
            .fetch_one(pool)
            .await?;
        format::write_header(out, header, hfx_tlog::now_ms(), total as u64)?;
        let entries_sql = format!(
            "SELECT idx, {} FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            super::log_rows::ENTRY_COLUMNS
        );
        let mut next: i64 = 0;
        while next < total {
            let rows = sqlx::query(sqlx::AssertSqlSafe(entries_sql.as_str()))
                .bind(next)
                .bind(next + PAGE)
                .fetch_all(pool)
                .await?;
            for r in rows {
                let idx: i64 = r.try_get("idx")?;
                if idx != next {
                    return Err(ExportError::Gap(next as u64));
                }
                format::write_entry(out, &super::log_rows::entry_of(&r)?)?;
                next += 1;
            }
            progress(next as u64, total as u64);
        }
        let cps = sqlx::query("SELECT note FROM log_checkpoints WHERE size <= $1 ORDER BY size")
            .bind(total)
            .fetch_all(pool)
            .await?;
        format::write_count(out, "checkpoints", cps.len() as u64)?;
        for r in &cps {
            let note: String = r.try_get("note")?;
            format::write_checkpoint(out, &note)?;
        }
        let cos = sqlx::query(
            "SELECT size, witness, witness_key, line FROM log_cosignatures WHERE size <= $1 ORDER BY size, witness",
        )
        .bind(total)
        .fetch_all(pool)
        .await?;
        format::write_count(out, "cosignatures", cos.len() as u64)?;
        for r in &cos {
            let size: i64 = r.try_get("size")?;
            let witness: String = r.try_get("witness")?;
            let key: String = r.try_get("witness_key")?;
            let line: String = r.try_get("line")?;
            format::write_cosignature(out, size, &witness, &key, &line)?;
        }
        // Every column, so the auditor can check each record against its commitment entry
        // (rows from before schema 3 have no `commit_index`: the record says so).
        let dis = sqlx::query(
            "SELECT id, at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, subject_key, log_index, commit_index FROM disclosures ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        format::write_count(out, "disclosures", dis.len() as u64)?;
        for r in &dis {
            let index = |col: &str| -> Result<Option<u64>, sqlx::Error> {
                Ok(r.try_get::<Option<i64>, _>(col)?.map(|i| i as u64))
            };
            let d = DisclosureRecord {
                id: Some(r.try_get("id")?),
                direction: r.try_get("direction")?,
                peer: r.try_get("peer")?,
                acting_person: r.try_get("acting_person")?,
                purpose: r.try_get("purpose")?,
                legal_basis: r.try_get("legal_basis")?,
                message_id: r.try_get("message_id")?,
                outcome: r.try_get("outcome")?,
                subject_masked: r.try_get("subject_masked")?,
                subject_key: r.try_get("subject_key")?,
                at_ms: r.try_get("at_ms")?,
                log_index: index("log_index")?,
                commit_index: index("commit_index")?,
            };
            format::write_disclosure(out, &d)?;
        }
        if with_payloads {
            // One payload per hash: SQLite keeps a row per entry (schema v8), so entries with
            // the same bytes share one exported payload, kept if any of their rows still
            // holds it.
            let (count_sql, rows_sql) = match self.kind {
                super::StoreKind::Sqlite => (
                    "SELECT COUNT(DISTINCT hash) FROM log_payloads",
                    "SELECT hash, MAX(data) AS data FROM log_payloads GROUP BY hash ORDER BY hash",
                ),
                super::StoreKind::Postgres => (
                    "SELECT COUNT(*) FROM log_payloads",
                    "SELECT hash, data FROM log_payloads ORDER BY hash",
                ),
            };
            let n: i64 = sqlx::query_scalar(count_sql).fetch_one(pool).await?;
            format::write_count(out, "payloads", n as u64)?;
            let rows = sqlx::query(rows_sql).fetch_all(pool).await?;
            for r in rows {
                let hash: Vec<u8> = r.try_get("hash")?;
                let data: Option<Vec<u8>> = r.try_get("data")?;
                format::write_payload(out, &hash, data.as_deref())?;
            }
        } else {
            format::write_count(out, "payloads", 0)?;
        }
        format::write_end(out)?;
        Ok(total as u64)
    }

    /// Purge the payloads of entries older than `before_ms` (retention): the tree keeps their
    /// hashes, so verification still passes. Returns how many payloads were purged.
    ///
    /// The purge goes through the writer like every write. The writer reports no row counts,
    /// so the payloads are counted first, and count and purge are both bounded to the entries
    /// that exist at that moment (entries appended in between are not touched). SQLite keeps
    /// a payload row per entry (schema v8) and counts those; PostgreSQL keeps a payload once
    /// per hash and never stores a purged one again (appends insert payloads `ON CONFLICT DO
    /// NOTHING`). Either way the count is exact unless two purges of the same store run at
    /// the same time.
    pub async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM log_entries")
            .fetch_one(&self.pool)
            .await?;
        let Some(last) = last else { return Ok(0) };
        let (count_sql, purge_sql) = match self.kind {
            super::StoreKind::Sqlite => (
                "SELECT COUNT(*) FROM log_payloads WHERE data IS NOT NULL AND idx IN (SELECT idx FROM log_entries WHERE at_ms < $1 AND idx <= $2)",
                "UPDATE log_payloads SET data = NULL, purged_at_ms = $1 WHERE data IS NOT NULL AND idx IN (SELECT idx FROM log_entries WHERE at_ms < $2 AND idx <= $3)",
            ),
            super::StoreKind::Postgres => (
                "SELECT COUNT(*) FROM log_payloads WHERE data IS NOT NULL AND hash IN (SELECT payload_hash FROM log_entries WHERE at_ms < $1 AND idx <= $2)",
                "UPDATE log_payloads SET data = NULL, purged_at_ms = $1 WHERE data IS NOT NULL AND hash IN (SELECT payload_hash FROM log_entries WHERE at_ms < $2 AND idx <= $3)",
            ),
        };
        let n: i64 = sqlx::query_scalar(count_sql)
            .bind(before_ms)
            .bind(last)
            .fetch_one(&self.pool)
            .await?;
        if n == 0 {
            return Ok(0);
        }
        self.write(vec![WriteOp::Sql {
            sql: purge_sql,
            args: vec![
                Val::I64(hfx_tlog::now_ms()),
                Val::I64(before_ms),
                Val::I64(last),
            ],
        }])
        .await?;
        Ok(n as u64)
    }
}
