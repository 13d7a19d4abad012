//! The writer's SQLite connection: rusqlite over the same libsqlite3 as sqlx's (rusqlite 0.39
//! and sqlx 0.9 both link libsqlite3-sys 0.37), owned by the writer's thread. Its statements
//! run on that thread, prepared once and cached; the pool's connections keep serving reads.
//! Same PRAGMAs as the pool's (WAL, `synchronous = FULL`, ...), so durability is the same.

use super::{Backend, BatchTx};
use crate::log::LogState;
use crate::store::{StoreError, Val};
use rusqlite::{Connection, OpenFlags, Statement};
use std::path::{Path, PathBuf};
use tokio::sync::Mutex;

/// The file of a SQLite pool's main database; None for an in-memory database.
pub(super) async fn file_of(pool: &sqlx::AnyPool) -> Result<Option<PathBuf>, StoreError> {
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await?;
    Ok((!file.is_empty()).then(|| PathBuf::from(file)))
}

/// Statements the writer runs (an exchange's: inbox lookup, a few multi-row inserts, the
/// jobs' own) stay prepared; rusqlite keeps 16 by default.
const STATEMENT_CACHE: usize = 256;

pub(super) struct SqliteBackend {
    conn: Connection,
}

impl SqliteBackend {
    /// Open the store's file (created and migrated by then) with the store's PRAGMAs.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_error)?;
        for pragma in crate::store::SQLITE_PRAGMAS {
            run(&conn, pragma, &[], false)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self { conn })
    }
}

impl Backend for SqliteBackend {
    type Tx<'a> = SqliteTx<'a>;

    async fn begin(&mut self, _log: &Mutex<LogState>) -> Result<SqliteTx<'_>, StoreError> {
        // IMMEDIATE: the write lock from the start (waiting up to busy_timeout for another
        // writer), so a batch whose first statement is a read (an exchange's inbox lookup)
        // cannot find its snapshot stale when it comes to write.
        run(&self.conn, "BEGIN IMMEDIATE", &[], false)?;
        Ok(SqliteTx { conn: &self.conn })
    }
}

pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        // Not committed (a statement or the commit failed): nothing of the batch stays.
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rolling back a failed group commit");
        }
    }
}

impl BatchTx for SqliteTx<'_> {
    fn kind(&self) -> crate::store::StoreKind {
        crate::store::StoreKind::Sqlite
    }

    async fn exec(&mut self, sql: &'static str, args: &[Val]) -> Result<u64, StoreError> {
        run(self.conn, sql, args, true)
    }

    async fn exec_values(&mut self, sql: &str, args: Vec<Val>) -> Result<(), StoreError> {
        run(self.conn, sql, &args, false).map(drop)
    }

    async fn exists(&mut self, sql: &'static str, args: &[Val]) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_error)?;
        bind(&mut stmt, args, true)?;
        let mut rows = stmt.raw_query();
        Ok(rows.next().map_err(db_error)?.is_some())
    }

    async fn int_pair(&mut self, sql: &'static str) -> Result<(i64, i64), StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_error)?;
        stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_error)
    }

    async fn commit(self) -> Result<(), StoreError> {
        run(self.conn, "COMMIT", &[], false).map(drop)
    }
}

/// Run one statement (prepared once, then from the cache) with `args` bound; the rows it
/// changed. `numbered`: its placeholders are `$n`/`?n` (taken by number, as sqlx does),
/// otherwise anonymous `?` taken in order.
fn run(conn: &Connection, sql: &str, args: &[Val], numbered: bool) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    bind(&mut stmt, args, numbered)?;
    if stmt.column_count() == 0 {
        return Ok(stmt.raw_execute().map_err(db_error)? as u64);
    }
    // A statement that returns rows (a PRAGMA, `... RETURNING`): run it to the end.
    let readonly = stmt.readonly();
    let mut rows = stmt.raw_query();
    while rows.next().map_err(db_error)?.is_some() {}
    drop(rows);
    Ok(if readonly { 0 } else { conn.changes() })
}

fn bind(stmt: &mut Statement<'_>, args: &[Val], numbered: bool) -> Result<(), StoreError> {
    let count = stmt.parameter_count();
    if !numbered && count != args.len() {
        return Err(db_error(rusqlite::Error::InvalidParameterCount(
            args.len(),
            count,
        )));
    }
    for i in 1..=count {
        let arg = if numbered {
            match stmt.parameter_name(i) {
                // `$3` / `?3`: the third value, wherever it stands.
                Some(name) => name
                    .get(1..)
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| args.get(n)),
                None => args.get(i - 1),
            }
        } else {
            args.get(i - 1)
        };
        let Some(arg) = arg else {
            return Err(db_error(rusqlite::Error::InvalidParameterCount(
                args.len(),
                count,
            )));
        };
        match arg {
            Val::I64(x) => stmt.raw_bind_parameter(i, *x),
            Val::Text(s) => stmt.raw_bind_parameter(i, s.as_str()),
            Val::Bytes(b) => stmt.raw_bind_parameter(i, b.as_slice()),
            Val::NullText => stmt.raw_bind_parameter(i, rusqlite::types::Null),
        }
        .map_err(db_error)?;
    }
    Ok(())
}

/// A rusqlite error as the store reports database errors: the `sqlx::Error::Database` the
/// adapters' rusqlite reads give too (SQLite's extended code and message, sqlx's kinds).
fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Db(hfx_adapters::sqlite::sqlx_error(e))
}
