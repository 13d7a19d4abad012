//! The node's own database (sqlx, `Any` driver): SQLite in WAL mode by default, PostgreSQL by
//! URL. The only module with SQL; its pool is private. One writer task applies every write;
//! concurrent requests share one transaction (group commit), each inside its own savepoint
//! so one failing request does not take the others with it. A request's business effect and
//! its log entries commit together.
//!
//! Tables are grouped by concern, one file each: [`log_rows`] (log entries, payloads,
//! checkpoints, cosignatures), [`inbox`] (stored replies for retries), [`disclosures`],
//! [`witness`] (what we cosigned for peers, what others were shown, evidence). The schema is
//! in `schema.rs`, the group-commit writer in `writer.rs`.

pub mod attest;
pub mod audit;
pub mod backup;
pub mod cases;
pub mod disclosures;
pub mod inbox;
pub mod log_rows;
pub mod metrics;
mod reader;
mod schema;
pub mod witness;
mod writer;

pub use crate::log::Appended;
use crate::log::{Envelope, LogState};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use writer::{Job, JobOut, Work};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store url {0:?} is neither sqlite:// nor postgres://")]
    BadUrl(String),
    #[error("store: {0}")]
    Log(#[from] crate::log::LoadError),
    /// The group commit this job was part of failed; the cause is shared by its jobs.
    #[error("store: commit failed")]
    CommitFailed(#[source] Arc<StoreError>),
    #[error("store writer has stopped")]
    WriterStopped,
    #[error("store writer dropped the job")]
    JobDropped,
    #[error("store: exchange request is not a log append")]
    NotAnAppend,
    #[error("store: exchange produced no reply")]
    NoReply,
    /// A compare-and-swap ([`WriteOp::Cas`]) found the row changed by someone else first.
    #[error("store: a concurrent write changed the row first")]
    Conflict,
    #[error("store: an offline handle does not append to the exchange log")]
    Offline,
    /// Something the store keeps is not what it must be (e.g. a secret of the wrong size).
    #[error("store: {0}")]
    Corrupt(String),
    /// The store was migrated by a newer release than this one.
    #[error(
        "store: its schema is version {found}, written by a newer hfx release (this one knows up to {known}); run that release or a newer one"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("store: stored {what} is malformed")]
    Malformed {
        what: &'static str,
        #[source]
        source: crate::log::merkle::ProofError,
    },
}

/// A bound SQL value.
#[derive(Debug, Clone)]
pub enum Val {
    I64(i64),
    Text(String),
    Bytes(Vec<u8>),
    NullText,
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::I64(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Bytes(v)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map(Val::Text).unwrap_or(Val::NullText)
    }
}

/// One write, described as data so the writer can batch it.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Append an envelope to the exchange log; the payload is stored beside it by hash.
    LogAppend {
        envelope: Envelope,
        payload: Vec<u8>,
    },
    /// Any statement (placeholders `$1..`, valid in SQLite and PostgreSQL).
    Sql { sql: &'static str, args: Vec<Val> },
    /// A compare-and-swap: a statement that must change exactly one row; otherwise the job
    /// fails with [`StoreError::Conflict`] and none of its writes stay.
    Cas { sql: &'static str, args: Vec<Val> },
    /// A disclosure record: the writer appends its commitment entry to the log and inserts
    /// the row naming that entry, in the same transaction.
    Disclosure(Box<disclosures::DisclosureWrite>),
}

/// Builds a reply once the request's log position (the receipt) is known.
pub type ReplyBuilder = Box<dyn Fn(Appended) -> Vec<u8> + Send + Sync>;

/// A received request answered in one commit: the request is appended, the reply built
/// with its receipt, appended, and stored for retries; then the extra ops run.
pub struct Exchange {
    pub request: WriteOp,
    pub peer: String,
    pub message_id: String,
    pub case_id: String,
    pub method: String,
    pub make_reply: ReplyBuilder,
    pub extra: Vec<WriteOp>,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    writer: mpsc::Sender<Job>,
    log: Arc<Mutex<LogState>>,
    /// An offline handle (export, purge, counts beside a node) never appends to the log.
    offline: bool,
    /// The key of disclosures' subject hashes ([`Store::subject_key`]); None on an offline
    /// handle.
    subject_secret: Option<Arc<ring::hmac::Key>>,
    /// The writer's commit latency, batch size and disclosures (crate::ops).
    commit_metrics: metrics::CommitMetrics,
    /// Inline point reads of a SQLite file ([`reader`]); None on PostgreSQL and in memory.
    readers: Option<Arc<reader::Readers>>,
}

/// The PRAGMAs of every SQLite connection: the pool's and the writer's own.
const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
    // Group commits write hundreds of rows: a 16 MB page cache (default 2 MB) keeps them from
    // spilling mid-transaction, and checkpointing every 8,192 pages (default 1,000) copies hot
    // pages once instead of many times. Durability is unchanged.
    "PRAGMA cache_size = -16384",
    "PRAGMA wal_autocheckpoint = 8192",
];

/// The `application_name` of this process's PostgreSQL sessions (digits only besides the
/// prefix), so a count of the database's other sessions can leave out every connection of
/// its own pools, whichever the pool happened to open.
fn own_session_name() -> String {
    format!("hfx-store-{}", std::process::id())
}

async fn connect(url: &str, max: u32) -> Result<(AnyPool, StoreKind), StoreError> {
    sqlx::any::install_default_drivers();
    let kind = if url.starts_with("sqlite:") {
        StoreKind::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        StoreKind::Postgres
    } else {
        return Err(StoreError::BadUrl(url.to_string()));
    };
    let url = match kind {
        StoreKind::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
        _ => url.to_string(),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(if kind == StoreKind::Sqlite {
            max.min(4)
        } else {
            max
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                match kind {
                    StoreKind::Sqlite => {
                        for pragma in SQLITE_PRAGMAS {
                            conn.execute(*pragma).await?;
                        }
                    }
                    StoreKind::Postgres => {
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "SET application_name = '{}'",
                            own_session_name()
                        )))
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    Ok((pool, kind))
}

impl Store {
    /// Open the store at `url` (`sqlite://PATH` or `postgres://...`), run migrations, load the
    /// exchange log's tree (whatever `log` held is replaced) and start the writer.
    pub async fn open(url: &str, log: LogState) -> Result<Self, StoreError> {
        drop(log);
        let (pool, kind) = connect(url, 8).await?;
        schema::migrate(&pool, kind).await?;
        let log = log_rows::load_tree(&pool, kind).await?;
        let secret = disclosures::load_subject_secret(&pool).await?;
        let mut store = Self::start(pool, kind, log, false).await?;
        store.subject_secret = Some(Arc::new(secret));
        Ok(store)
    }

    /// Create a store's schema as it was at migration `version` and go no further: upgrade
    /// tests build an old store with it, then [`Store::open`] upgrades it in place.
    pub async fn create_schema_at(url: &str, version: i64) -> Result<(), StoreError> {
        let (pool, kind) = connect(url, 1).await?;
        schema::migrate_to(&pool, kind, version).await?;
        pool.close().await;
        Ok(())
    }

    /// Open an existing store beside (or without) its node, for offline work: export, purge,
    /// counts. Runs no migration and loads no tree; its writes still go through a writer of
    /// its own, and it refuses log appends.
    pub async fn open_offline(url: &str) -> Result<Self, StoreError> {
        let (pool, kind) = connect(url, 2).await?;
        schema::check_not_newer(&pool).await?;
        Self::start(pool, kind, LogState::new(), true).await
    }

    async fn start(
        pool: AnyPool,
        kind: StoreKind,
        log: LogState,
        offline: bool,
    ) -> Result<Self, StoreError> {
        let log = Arc::new(Mutex::new(log));
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let commit_metrics = metrics::CommitMetrics::default();
        let stats = commit_metrics.clone();
        // The SQLite file the writer opened is the one the readers read.
        let readers = writer::spawn(&pool, kind, rx, log.clone(), stats)
            .await?
            .map(|path| Arc::new(reader::Readers::new(&path)));
        Ok(Self {
            pool,
            kind,
            writer: tx,
            log,
            offline,
            subject_secret: None,
            commit_metrics,
            readers,
        })
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }
    pub fn log(&self) -> &Arc<Mutex<LogState>> {
        &self.log
    }

    /// Close the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Apply `ops` atomically (group-committed with other concurrent writes). Returns the
    /// log positions assigned to the job's appends, in order.
    #[tracing::instrument(name = "store.commit", skip_all, fields(centre = %crate::telemetry::centre(), store = self.kind().as_str(), ops = ops.len()))]
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<Vec<Appended>, StoreError> {
        Ok(self.submit(Work::Ops(ops)).await?.appended)
    }

    async fn submit(&self, work: Work) -> Result<JobOut, StoreError> {
        if self.offline && work.appends() {
            return Err(StoreError::Offline);
        }
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job { work, reply: tx })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        rx.await.map_err(|_| StoreError::JobDropped)?
    }

    /// Answer a received request in one commit (see [`Exchange`]); returns the reply bytes.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(name = "store.commit", skip_all, fields(centre = %crate::telemetry::centre(), store = self.kind().as_str(), case_id = %case_id, rpc.method = %method, peer = %peer))]
    pub async fn write_exchange(
        &self,
        request: WriteOp,
        peer: &str,
        message_id: &str,
        case_id: &str,
        method: &str,
        make_reply: impl Fn(Appended) -> Vec<u8> + Send + Sync + 'static,
        extra: Vec<WriteOp>,
    ) -> Result<Vec<u8>, StoreError> {
        let out = self
            .submit(Work::Exchange(Box::new(Exchange {
                request,
                peer: peer.to_string(),
                message_id: message_id.to_string(),
                case_id: case_id.to_string(),
                method: method.to_string(),
                make_reply: Box::new(make_reply),
                extra,
            })))
            .await;
        match out {
            Ok(o) => o.reply.ok_or(StoreError::NoReply),
            // A concurrent duplicate of the same message won the race: answer with its reply.
            Err(e) => match self.inbox_get(peer, message_id).await? {
                Some((_, bytes)) => Ok(bytes),
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests;
