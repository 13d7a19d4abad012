//! The store's side of backup and restore (docs/backup.md): an online SQLite copy with
//! `VACUUM INTO` (a consistent snapshot taken in one read transaction, while the writer
//! goes on), the checks a backup must pass before it replaces a store, and whether other
//! sessions use a PostgreSQL database. `pg_dump`/`pg_restore` themselves run in
//! [`crate::backup`].

use super::{Store, StoreError, connect, log_rows};
use sqlx::AnyPool;

/// What a store (or a backup of one) holds, as checked by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Log entries; the tree was rebuilt from them and every leaf hash matched.
    pub log_size: u64,
    /// Newest signed checkpoint (size, note), which the rebuilt tree extends.
    pub checkpoint: Option<(u64, String)>,
}

impl Store {
    /// Copy this SQLite store into `path` (which must not exist) as one consistent snapshot,
    /// online: the copy runs in a read transaction, so the node's writer is not stopped and
    /// the copy holds exactly the commits before it began.
    pub async fn vacuum_into(&self, path: &str) -> Result<(), StoreError> {
        if self.kind != super::StoreKind::Sqlite {
            return Err(StoreError::Corrupt(
                "VACUUM INTO is for SQLite stores; PostgreSQL is backed up with pg_dump".into(),
            ));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Other sessions connected to this PostgreSQL database (a running node keeps some open);
    /// None on SQLite, where the server cannot tell.
    pub async fn other_sessions(&self) -> Result<Option<u64>, StoreError> {
        if self.kind != super::StoreKind::Postgres {
            return Ok(None);
        }
        // Sessions of this process's own pools are not others, even when the pool has
        // opened a second connection (sqlx returns a released one in the background).
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM $1",
        )
        .bind(super::own_session_name())
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(n as u64))
    }
}

/// Open the store at `url` read only in spirit (no migration, no writer work), check it is
/// whole and its log rebuilds (no gap, every leaf hash matches its entry, the tree extends
/// the newest signed checkpoint), and say what it holds. SQLite files also pass
/// `PRAGMA integrity_check` first.
pub async fn inspect(url: &str) -> Result<Inspected, StoreError> {
    let (pool, kind) = connect(url, 2).await?;
    let out = inspect_pool(&pool, kind).await;
    pool.close().await;
    out
}

async fn inspect_pool(pool: &AnyPool, kind: super::StoreKind) -> Result<Inspected, StoreError> {
    if kind == super::StoreKind::Sqlite {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(pool)
            .await?;
        if rows.len() != 1 || rows[0] != "ok" {
            return Err(StoreError::Corrupt(format!(
                "integrity_check: {}",
                rows.join("; ")
            )));
        }
    }
    // The full pass (every entry rehashed, every tile compared); a store whose schema
    // predates the tiles (v8) gets them when a node first opens it.
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM hfx_schema")
        .fetch_one(pool)
        .await?;
    let tiles = if version.unwrap_or(0) >= 8 {
        log_rows::TileCheck::Compare
    } else {
        log_rows::TileCheck::Ignore
    };
    let log = log_rows::check_log(pool, kind, tiles, &|_, _| {}).await?;
    let checkpoint = sqlx::query_as::<_, (i64, String)>(
        "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?
    .map(|(s, n)| (s as u64, n));
    Ok(Inspected {
        log_size: log.size(),
        checkpoint,
    })
}
