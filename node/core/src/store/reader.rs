//! Point reads on a SQLite store's file without a hand-off: a few rusqlite connections of the
//! store's own, used inline by the task that asks. A key lookup on pages the writer has just
//! touched costs a few microseconds; through sqlx's SQLite driver it is a round trip to a
//! worker thread per step of the statement, which dominated a peer-facing node's reads
//! (issue 14: the inbox check of every received request).
//!
//! These connections never wait: their busy timeout is zero, so a lock held elsewhere (a
//! restore, WAL recovery after a crash) makes the read return `None` at once and the caller
//! asks the pool, whose connections wait on their own threads. Any other failure does the
//! same (logged at debug): the pool then gives the real answer or the real error. They are
//! `query_only`, so nothing written here could bypass the writer.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept for reuse; more may be open at once under load (each is closed when
/// returned to a full pool).
const KEEP: usize = 4;

/// Page cache of a reader connection: a point read touches a handful of pages, and SQLite
/// drops a reader's cache whenever the writer has committed since its last read.
const READER_CACHE: &str = "PRAGMA cache_size = -512";

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Self {
        Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Run `read` on a connection of the store's file, inline. `None`: the database was busy
    /// or the read failed; the caller reads through the pool instead.
    pub(super) fn try_read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let conn = match self.take() {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "store reader: could not open a connection");
                return None;
            }
        };
        let out = read(&conn);
        let reusable = conn.is_autocommit();
        if reusable
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        match out {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "store reader: read failed; asking the pool");
                None
            }
        }
    }

    /// Connections waiting for reuse (a test's proof that reads went this way).
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(c) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.execute_batch(READER_CACHE)?;
        conn.execute_batch("PRAGMA query_only = ON")?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path) -> PathBuf {
        let path = dir.join("r.db");
        let c = Connection::open(&path).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB); \
             INSERT INTO t VALUES ('a', x'01');",
        )
        .expect("schema");
        path
    }

    #[test]
    fn reads_inline_and_reuses_its_connections() {
        let dir = tempfile::tempdir().expect("tempdir");
        let readers = Readers::new(&file(dir.path()));
        for _ in 0..3 {
            let v: Option<Vec<u8>> = readers
                .try_read(|c| c.query_row("SELECT v FROM t WHERE k = ?1", ["a"], |r| r.get(0)));
            assert_eq!(v, Some(vec![1]));
        }
        assert_eq!(readers.idle_count(), 1);
    }

    #[test]
    fn a_lock_held_elsewhere_gives_none_at_once_and_writes_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(dir.path());
        let readers = Readers::new(&path);
        // An exclusive lock (as a restore or a rollback-journal writer holds) blocks even WAL
        // readers: the reader must not wait for it.
        let other = Connection::open(&path).expect("open");
        other
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
            .expect("lock");
        let started = std::time::Instant::now();
        let v: Option<i64> =
            readers.try_read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)));
        assert_eq!(v, None, "a busy database is left to the pool");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        other.execute_batch("COMMIT").expect("commit");
        drop(other);
        let wrote: Option<usize> =
            readers.try_read(|c| c.execute("INSERT INTO t VALUES ('b', x'02')", []));
        assert_eq!(wrote, None, "reader connections are query-only");
        let n: Option<i64> =
            readers.try_read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)));
        assert_eq!(n, Some(1));
    }
}
