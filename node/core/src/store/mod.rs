//! The node's own database (sqlx, `Any` driver): SQLite in WAL mode by default, PostgreSQL by
//! URL. One writer task applies every write; concurrent requests share one transaction
//! (group commit), each inside its own savepoint so one failing request does not take the
//! others with it. A request's business effect and its log entries commit together.

use crate::log::{Envelope, LogState};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

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
    Other(String),
}

/// A bound SQL value.
#[derive(Debug, Clone)]
pub enum Val {
    I64(i64),
    Text(String),
    Bytes(Vec<u8>),
    NullText,
    /// In an exchange's extra ops: the log index of the exchange's request entry.
    RequestIndex,
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
}

/// What a job's log appends were assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub index: u64,
    pub seq: u64,
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

enum Work {
    Ops(Vec<WriteOp>),
    Exchange(Box<Exchange>),
}

/// What a job produced.
#[derive(Debug, Default)]
struct JobOut {
    appended: Vec<Appended>,
    reply: Option<Vec<u8>>,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<JobOut, StoreError>>,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    writer: mpsc::Sender<Job>,
    log: Arc<Mutex<LogState>>,
}

/// Migrations: (version, SQLite text, PostgreSQL text). Append only; never edit a shipped one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        r#"
CREATE TABLE disclosures (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms BIGINT NOT NULL, direction TEXT NOT NULL,
  peer TEXT NOT NULL, acting_person TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
  outcome TEXT NOT NULL, message_id TEXT NOT NULL, subject_masked TEXT NOT NULL, log_index BIGINT);
CREATE TABLE inbox (
  peer TEXT NOT NULL, message_id TEXT NOT NULL, method TEXT NOT NULL, reply BLOB NOT NULL,
  created_ms BIGINT NOT NULL, PRIMARY KEY (peer, message_id));
CREATE TABLE log_entries (
  idx BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL, peer TEXT NOT NULL, seq BIGINT NOT NULL,
  message_id TEXT NOT NULL, case_id TEXT NOT NULL, msg_type TEXT NOT NULL, leaf_hash BLOB NOT NULL,
  entry BLOB NOT NULL, payload_hash BLOB NOT NULL);
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (hash BLOB PRIMARY KEY, data BLOB, purged_at_ms BIGINT);
CREATE TABLE log_checkpoints (size BIGINT PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"#,
        r#"
CREATE TABLE disclosures (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, direction TEXT NOT NULL,
  peer TEXT NOT NULL, acting_person TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
  outcome TEXT NOT NULL, message_id TEXT NOT NULL, subject_masked TEXT NOT NULL, log_index BIGINT);
CREATE TABLE inbox (
  peer TEXT NOT NULL, message_id TEXT NOT NULL, method TEXT NOT NULL, reply BYTEA NOT NULL,
  created_ms BIGINT NOT NULL, PRIMARY KEY (peer, message_id));
CREATE TABLE log_entries (
  idx BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL, peer TEXT NOT NULL, seq BIGINT NOT NULL,
  message_id TEXT NOT NULL, case_id TEXT NOT NULL, msg_type TEXT NOT NULL, leaf_hash BYTEA NOT NULL,
  entry BYTEA NOT NULL, payload_hash BYTEA NOT NULL);
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (hash BYTEA PRIMARY KEY, data BYTEA, purged_at_ms BIGINT);
CREATE TABLE log_checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE FUNCTION hfx_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
    (
        2,
        r#"
CREATE TABLE log_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, witness_key TEXT NOT NULL, line TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (size, witness));
CREATE TABLE witness_state (centre TEXT PRIMARY KEY, size BIGINT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE witness_seen (centre TEXT NOT NULL, size BIGINT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, reporter TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (centre, size, root));
CREATE TABLE witness_evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms BIGINT NOT NULL, centre TEXT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL, old_note TEXT NOT NULL, new_note TEXT NOT NULL, proof BLOB NOT NULL, reported_by TEXT NOT NULL);
CREATE TRIGGER witness_evidence_no_update BEFORE UPDATE ON witness_evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
CREATE TRIGGER witness_evidence_no_delete BEFORE DELETE ON witness_evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
"#,
        r#"
CREATE TABLE log_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, witness_key TEXT NOT NULL, line TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (size, witness));
CREATE TABLE witness_state (centre TEXT PRIMARY KEY, size BIGINT NOT NULL, root BYTEA NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE witness_seen (centre TEXT NOT NULL, size BIGINT NOT NULL, root BYTEA NOT NULL, note TEXT NOT NULL, reporter TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (centre, size, root));
CREATE TABLE witness_evidence (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, centre TEXT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL, old_note TEXT NOT NULL, new_note TEXT NOT NULL, proof BYTEA NOT NULL, reported_by TEXT NOT NULL);
CREATE TRIGGER witness_evidence_append_only BEFORE UPDATE OR DELETE ON witness_evidence FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
];

/// Most jobs one group commit takes.
const MAX_BATCH: usize = 1024;

impl Store {
    /// Open the store at `url` (`sqlite://PATH` or `postgres://...`), run migrations, load the
    /// exchange log's tree and start the writer.
    pub async fn open(url: &str, log: LogState) -> Result<Self, StoreError> {
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
            .max_connections(if kind == StoreKind::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == StoreKind::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // Group commits write hundreds of rows with random index pages (payload
                        // hashes): a 16 MB page cache (default 2 MB) keeps them from spilling
                        // mid-transaction, and checkpointing every 8,192 pages (default 1,000)
                        // copies hot pages once instead of many times. Durability is unchanged.
                        conn.execute("PRAGMA cache_size = -16384").await?;
                        conn.execute("PRAGMA wal_autocheckpoint = 8192").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrate(&pool, kind).await?;
        let mut log = log;
        log.load(&pool).await.map_err(StoreError::Other)?;
        let log = Arc::new(Mutex::new(log));
        let (tx, rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(writer(pool.clone(), kind, rx, log.clone()));
        Ok(Self {
            pool,
            kind,
            writer: tx,
            log,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
    pub fn kind(&self) -> StoreKind {
        self.kind
    }
    pub fn log(&self) -> &Arc<Mutex<LogState>> {
        &self.log
    }

    /// Apply `ops` atomically (group-committed with other concurrent writes). Returns the
    /// log positions assigned to the job's appends, in order.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<Vec<Appended>, StoreError> {
        Ok(self.submit(Work::Ops(ops)).await?.appended)
    }

    async fn submit(&self, work: Work) -> Result<JobOut, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .send(Job { work, reply: tx })
            .await
            .map_err(|_| StoreError::Other("store writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Other("store writer dropped the job".into()))?
    }

    /// Answer a received request in one commit (see [`Exchange`]); returns the reply bytes.
    #[allow(clippy::too_many_arguments)]
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
            Ok(o) => o
                .reply
                .ok_or_else(|| StoreError::Other("exchange produced no reply".into())),
            // A concurrent duplicate of the same message won the race: answer with its reply.
            Err(e) => match self.inbox_get(peer, message_id).await? {
                Some((_, bytes)) => Ok(bytes),
                None => Err(e),
            },
        }
    }

    /// A stored reply to (peer, message id), if this message was answered before.
    pub async fn inbox_get(
        &self,
        peer: &str,
        message_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row =
            sqlx::query("SELECT method, reply FROM inbox WHERE peer = $1 AND message_id = $2")
                .bind(peer)
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("method")?, r.try_get("reply")?))),
            None => Ok(None),
        }
    }

    pub async fn fetch_all(
        &self,
        sql: &'static str,
        args: Vec<Val>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut q = sqlx::query(sql);
        for a in args {
            q = bind(q, a);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }
}

fn bind<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    v: Val,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match v {
        Val::I64(x) => q.bind(x),
        Val::Text(x) => q.bind(x),
        Val::Bytes(x) => q.bind(x),
        Val::NullText => q.bind(Option::<String>::None),
        Val::RequestIndex => q.bind(Option::<i64>::None),
    }
}

async fn migrate(pool: &AnyPool, kind: StoreKind) -> Result<(), StoreError> {
    pool.execute("CREATE TABLE IF NOT EXISTS hfx_schema (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)")
        .await?;
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM hfx_schema")
        .fetch_all(pool)
        .await?;
    for (version, lite, pg) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        let mut tx = pool.begin().await?;
        let text = if kind == StoreKind::Sqlite { lite } else { pg };
        sqlx::raw_sql(sqlx::AssertSqlSafe(*text))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO hfx_schema (version, applied_ms) VALUES ($1, $2)")
            .bind(*version)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, store = kind.as_str(), "store migrated");
    }
    Ok(())
}

async fn writer(
    pool: AnyPool,
    kind: StoreKind,
    mut rx: mpsc::Receiver<Job>,
    log: Arc<Mutex<LogState>>,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // The writer is the only task that changes the log state, so it locks it only to stage
        // and to commit: readers (a query reading the size for its header, status, checkpoint
        // signing) see the last committed state instead of waiting for this batch's fsync.
        let (staged, seqs) = {
            let log = log.lock().await;
            (log.stage(), log.seqs().clone())
        };
        let results = apply_batch(&pool, kind, staged, &seqs, &jobs).await;
        match results {
            Ok((per_job, staged)) => {
                log.lock().await.commit_staged(staged);
                for (job, res) in jobs.into_iter().zip(per_job) {
                    let _ = job.reply.send(res);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = jobs.len(), "group commit failed");
                let msg = e.to_string();
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Other(format!("commit failed: {msg}"))));
                }
            }
        }
    }
}

type BatchResult = (Vec<Result<JobOut, StoreError>>, crate::log::Staged);

async fn apply_batch(
    pool: &AnyPool,
    kind: StoreKind,
    mut staged: crate::log::Staged,
    seqs: &Seqs,
    jobs: &[Job],
) -> Result<BatchResult, StoreError> {
    let mut tx = pool.begin().await?;
    let mut pending = PendingRows::default();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A job made of log appends only runs no statement until the batch's flush, so it
        // needs no savepoint (each savepoint costs two round trips to the database).
        let savepoint = job.work.runs_sql();
        if savepoint {
            tx.execute("SAVEPOINT job").await?;
        }
        let mark = staged.mark();
        let pending_mark = pending.mark();
        match apply_work(&mut tx, &mut staged, &mut pending, seqs, &job.work).await {
            Ok(appended) => {
                if savepoint {
                    tx.execute("RELEASE SAVEPOINT job").await?;
                }
                out.push(Ok(appended));
            }
            Err(e) => {
                staged.rollback(mark);
                pending.rollback(pending_mark);
                if savepoint {
                    tx.execute("ROLLBACK TO SAVEPOINT job").await?;
                    tx.execute("RELEASE SAVEPOINT job").await?;
                }
                out.push(Err(e));
            }
        }
    }
    pending.flush(&mut tx, kind).await?;
    tx.commit().await?;
    Ok((out, staged))
}

impl Work {
    /// Whether applying this work executes statements of its own (besides log appends).
    fn runs_sql(&self) -> bool {
        match self {
            Work::Ops(ops) => ops.iter().any(|op| matches!(op, WriteOp::Sql { .. })),
            Work::Exchange(_) => true,
        }
    }
}

/// Log rows of one group commit, inserted together just before it commits: a few multi-row
/// INSERTs instead of two statements per append. The indexes are assigned in memory
/// ([`crate::log::Staged`]), so nothing in a job depends on the rows being in the table yet.
#[derive(Default)]
struct PendingRows {
    payloads: Vec<(crate::log::merkle::Hash, Vec<u8>)>,
    entries: Vec<(Appended, crate::log::StagedRow)>,
}

/// Rows per multi-row INSERT, largest first; a batch is cut into these sizes so each
/// connection's statement cache holds a handful of statements. 256 rows × 11 values stays
/// under SQLite's 32,766 bound values and PostgreSQL's 65,535.
const INSERT_CHUNKS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

impl PendingRows {
    fn mark(&self) -> (usize, usize) {
        (self.payloads.len(), self.entries.len())
    }

    fn rollback(&mut self, (payloads, entries): (usize, usize)) {
        self.payloads.truncate(payloads);
        self.entries.truncate(entries);
    }

    async fn flush(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        kind: StoreKind,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        self.payloads.retain(|(h, _)| seen.insert(*h));
        let mut rest: &[(crate::log::merkle::Hash, Vec<u8>)] = &self.payloads;
        while !rest.is_empty() {
            let n = chunk_len(rest.len());
            let (chunk, tail) = rest.split_at(n);
            let sql = values_sql(kind, "INSERT INTO log_payloads (hash, data) VALUES ", 2, n)
                + " ON CONFLICT (hash) DO NOTHING";
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (hash, data) in chunk {
                q = q.bind(hash.to_vec()).bind(data.clone());
            }
            q.execute(&mut **tx).await?;
            rest = tail;
        }
        let mut rest: &[(Appended, crate::log::StagedRow)] = &self.entries;
        while !rest.is_empty() {
            let n = chunk_len(rest.len());
            let (chunk, tail) = rest.split_at(n);
            let sql = values_sql(
                kind,
                "INSERT INTO log_entries (idx, at_ms, dir, peer, seq, message_id, case_id, msg_type, leaf_hash, entry, payload_hash) VALUES ",
                11,
                n,
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (a, row) in chunk {
                q = q
                    .bind(a.index as i64)
                    .bind(row.envelope.at_ms)
                    .bind(row.envelope.dir.clone())
                    .bind(row.envelope.peer.clone())
                    .bind(a.seq as i64)
                    .bind(row.envelope.message_id.clone())
                    .bind(row.envelope.case_id.clone())
                    .bind(row.envelope.msg_type.clone())
                    .bind(row.leaf_hash.to_vec())
                    .bind(row.entry_bytes.clone())
                    .bind(row.payload_hash.to_vec());
            }
            q.execute(&mut **tx).await?;
            rest = tail;
        }
        Ok(())
    }
}

fn chunk_len(remaining: usize) -> usize {
    INSERT_CHUNKS
        .into_iter()
        .find(|&c| c <= remaining)
        .unwrap_or(1)
}

/// `head ($1, $2), ($3, $4)…` for `rows` rows of `cols` values. SQLite gets anonymous `?`
/// placeholders: looking up a numbered one (`sqlite3_bind_parameter_name`) scans the
/// statement's parameter list, which makes binding a 2,816-value statement quadratic.
fn values_sql(kind: StoreKind, head: &str, cols: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * cols * 6);
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            match kind {
                StoreKind::Sqlite => sql.push('?'),
                StoreKind::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

type Seqs = std::collections::HashMap<(String, String), u64>;

async fn apply_work(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    staged: &mut crate::log::Staged,
    pending: &mut PendingRows,
    base_seqs: &Seqs,
    work: &Work,
) -> Result<JobOut, StoreError> {
    match work {
        Work::Ops(ops) => Ok(JobOut {
            appended: apply_ops(tx, staged, pending, base_seqs, ops, None).await?,
            reply: None,
        }),
        Work::Exchange(x) => {
            let mut appended = apply_ops(
                tx,
                staged,
                pending,
                base_seqs,
                std::slice::from_ref(&x.request),
                None,
            )
            .await?;
            let req = *appended
                .first()
                .ok_or_else(|| StoreError::Other("exchange request is not a log append".into()))?;
            let reply = (x.make_reply)(req);
            let envelope = Envelope::draft(
                crate::log::SENT,
                &x.peer,
                &x.message_id,
                &x.case_id,
                &format!("{}#reply", x.method),
                &reply,
            );
            let reply_op = WriteOp::LogAppend {
                envelope,
                payload: reply.clone(),
            };
            let inbox = WriteOp::Sql {
                sql: "INSERT INTO inbox (peer, message_id, method, reply, created_ms) VALUES ($1, $2, $3, $4, $5)",
                args: vec![
                    x.peer.clone().into(),
                    x.message_id.clone().into(),
                    x.method.clone().into(),
                    Val::Bytes(reply.clone()),
                    Val::I64(crate::now_ms()),
                ],
            };
            appended
                .extend(apply_ops(tx, staged, pending, base_seqs, &[reply_op, inbox], None).await?);
            apply_ops(tx, staged, pending, base_seqs, &x.extra, Some(req.index)).await?;
            Ok(JobOut {
                appended,
                reply: Some(reply),
            })
        }
    }
}

async fn apply_ops(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    staged: &mut crate::log::Staged,
    pending: &mut PendingRows,
    base_seqs: &Seqs,
    ops: &[WriteOp],
    request_index: Option<u64>,
) -> Result<Vec<Appended>, StoreError> {
    let mut appended = Vec::new();
    for op in ops {
        match op {
            WriteOp::Sql { sql, args } => {
                let mut q = sqlx::query(*sql);
                for a in args.iter().cloned() {
                    let a = match (a, request_index) {
                        (Val::RequestIndex, Some(i)) => Val::I64(i as i64),
                        (a, _) => a,
                    };
                    q = bind(q, a);
                }
                q.execute(&mut **tx).await?;
            }
            WriteOp::LogAppend { envelope, payload } => {
                let (a, row) = staged.append(envelope.clone(), payload, base_seqs);
                pending.payloads.push((row.payload_hash, payload.clone()));
                pending.entries.push((a, row));
                appended.push(a);
            }
        }
    }
    Ok(appended)
}
