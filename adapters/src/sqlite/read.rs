//! The sqlite core's reads without sqlx's worker threads: a small pool of read-only rusqlite
//! connections (rusqlite 0.39 links the libsqlite3-sys that sqlx links: the one bundled SQLite)
//! on the file the sqlx pool created and migrated, their statements prepared once and cached.
//! A read first runs inline, on a connection that never waits for a lock (busy timeout zero):
//! a point read of a local file costs microseconds, less than the two thread switches of a
//! hand-off. Only when the file is locked (a batch run writing, WAL recovery) or cannot be
//! read does it go to tokio's blocking pool, on a connection that waits up to the busy
//! timeout. The writes (the hold/credit state machine) stay on the sqlx pool.

use crate::AdapterError;
use crate::sql_common::TextRow;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Reads that run at once, each on its own connection, like the sqlx pool's
/// `max_connections`: a read past them waits (on the runtime, not on a thread) for one to end,
/// so that the connections stay open and their statements prepared.
const CONNECTIONS: usize = 8;

/// The sqlite core's read-only connections.
pub(super) struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    /// One permit a running read.
    running: Arc<Semaphore>,
    /// At most [`CONNECTIONS`].
    idle: Mutex<Vec<Connection>>,
    /// Connections of the inline reads (busy timeout zero), at most [`CONNECTIONS`] kept.
    inline_idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    /// Connections to the database file at `path` (created and migrated by then), each waiting
    /// up to `busy_timeout` for a lock, as the sqlx pool's do.
    pub(super) fn new(path: PathBuf, busy_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            path,
            busy_timeout,
            running: Arc::new(Semaphore::new(CONNECTIONS)),
            idle: Mutex::new(Vec::new()),
            inline_idle: Mutex::new(Vec::new()),
        })
    }

    fn open(&self, busy_timeout: Duration) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        Ok(conn)
    }

    /// An idle connection of `idle`, or a new one waiting up to `busy_timeout` when none is.
    fn take(
        &self,
        idle: &Mutex<Vec<Connection>>,
        busy_timeout: Duration,
    ) -> Result<Connection, rusqlite::Error> {
        // The lock guards a push or a pop only: a poisoned one still holds a sound Vec.
        let conn = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match conn {
            Some(conn) => Ok(conn),
            None => self.open(busy_timeout),
        }
    }

    fn give_back(idle: &Mutex<Vec<Connection>>, conn: Connection) {
        let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < CONNECTIONS {
            idle.push(conn);
        }
    }

    /// Run `f` on `conn`; a panic in it is an error of the read. The connection goes back
    /// to `idle` unless the read failed in the database.
    fn run_on<T, F>(
        idle: &Mutex<Vec<Connection>>,
        conn: Connection,
        what: &str,
        f: &F,
    ) -> Result<T, AdapterError>
    where
        F: Fn(&Connection) -> Result<T, AdapterError>,
    {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| {
                Err(AdapterError::other(format!(
                    "sqlite core {what}: the read panicked"
                )))
            });
        if matches!(
            out,
            Ok(_) | Err(AdapterError::BadRecord { .. } | AdapterError::UnknownCode { .. })
        ) {
            Self::give_back(idle, conn);
        }
        out
    }

    /// Run read `f` (`what`, for its errors): inline when the file is not locked, else on a
    /// pooled connection on tokio's blocking pool once fewer than [`CONNECTIONS`] such reads
    /// run. That future awaits the blocking task: a caller's deadline bounds its wait (a read
    /// given up on runs to its end and gives its connection back). A connection whose read
    /// failed in the database is closed, not given back; one that read a bad record is kept.
    pub(super) async fn read<T, F>(self: &Arc<Self>, what: &str, f: F) -> Result<T, AdapterError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, AdapterError> + Send + Sync + 'static,
    {
        // Inline, never waiting: busy (or unreadable) sends the read to the waiting path,
        // which gives the real answer or the real error.
        if let Ok(conn) = self.take(&self.inline_idle, Duration::ZERO) {
            match Self::run_on(&self.inline_idle, conn, what, &f) {
                Err(AdapterError::Unavailable { .. }) => {}
                done => return done,
            }
        }
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| AdapterError::unavailable_from(format!("sqlite core {what}"), e))?;
        let pool = Arc::clone(self);
        let what_owned = what.to_string();
        let job = tokio::task::spawn_blocking(move || {
            let _running = permit;
            let conn = pool
                .take(&pool.idle, pool.busy_timeout)
                .map_err(read_error)?;
            Self::run_on(&pool.idle, conn, &what_owned, &f)
        });
        match job.await {
            Ok(out) => out,
            Err(e) if e.is_panic() => Err(AdapterError::other_from(
                format!("sqlite core {what}: the read panicked"),
                e,
            )),
            Err(e) => Err(AdapterError::unavailable_from(
                format!("sqlite core {what}: the read was cancelled"),
                e,
            )),
        }
    }
}

/// A rusqlite error as this adapter reports sqlx's: the source is a `sqlx::Error::Database`
/// with SQLite's extended code and message, as sqlx's own SQLite driver gives them. A busy or
/// locked database (another connection holds its lock past the busy timeout) is
/// [`AdapterError::Unavailable`], and [`crate::sql_common`]'s retry takes it for a transient
/// lock, as it does sqlx's; so is a file that cannot be opened or read (I/O). Anything else
/// (a missing table, a corrupt file) is [`AdapterError::Other`], as `From<sqlx::Error>` makes it.
pub(super) fn read_error(e: rusqlite::Error) -> AdapterError {
    let unavailable = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Some("database busy"),
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => Some("database file"),
        _ => None,
    };
    let e = sqlx_error(e);
    match unavailable {
        Some(what) => AdapterError::unavailable_from(what, e),
        None => AdapterError::from(e),
    }
}

/// A rusqlite error as sqlx reports a database error: `sqlx::Error::Database` with SQLite's
/// extended code and message, said as sqlx's SQLite driver says it, and sqlx's kinds (a
/// unique violation stays one, for the callers that tell it apart). What every rusqlite
/// connection of the project reports through: these reads, and the node store's writer.
pub fn sqlx_error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Database(Box::new(SqliteError::from(e)))
}

/// A rusqlite error in sqlx's form (sqlx's SQLite error cannot be made outside sqlx).
#[derive(Debug)]
struct SqliteError {
    /// SQLite's extended result code; None for an error of rusqlite's own (e.g. a
    /// parameter count).
    code: Option<i32>,
    message: String,
}

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(f, msg) => SqliteError {
                code: Some(f.extended_code),
                message: msg.unwrap_or_else(|| f.to_string()),
            },
            other => SqliteError {
                code: None,
                message: other.to_string(),
            },
        }
    }
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As sqlx's SQLite error says it.
        match self.code {
            Some(code) => write!(f, "(code: {code}) {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// A rusqlite row, read as [`TextRow`] like an sqlx row.
pub(super) struct ReadRow<'a, 'r>(pub &'a rusqlite::Row<'r>);

impl TextRow for ReadRow<'_, '_> {
    type Error = rusqlite::Error;

    fn text_col(&self, col: &str) -> Result<Option<String>, rusqlite::Error> {
        self.0.get(col)
    }

    fn int_col(&self, col: &str) -> Result<i32, rusqlite::Error> {
        self.0.get(col)
    }

    fn opt_int_col(&self, col: &str) -> Result<Option<i64>, rusqlite::Error> {
        self.0.get(col)
    }
}
