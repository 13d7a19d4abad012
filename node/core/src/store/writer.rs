//! The one writer: takes every write, batches concurrent jobs into one transaction (group
//! commit), gives each job that runs statements of its own a savepoint so one failing job
//! does not take the others with it, and inserts the batch's rows (log entries and payloads,
//! tiles, inbox replies, disclosure records) together just before it commits. A log entry's
//! bytes are stored once: as its row's columns, `entry` left empty, when they are the
//! canonical encoding of those columns (see `log_rows`).
//!
//! The batch logic is written once, over [`Backend`] and [`BatchTx`]. On a SQLite file it
//! runs on a thread of its own that owns a connection of its own ([`sqlite`]), so a group
//! commit's statements run without a thread hand-off each (sqlx runs each SQLite connection
//! on a worker thread and every statement is a round trip to it); the thread drives the same
//! async code, whose awaits complete at once there. On PostgreSQL it is a tokio task over sqlx.

mod sqlite;
#[cfg(test)]
mod tests;

use super::disclosures::DisclosureWrite;
use super::inbox::InboxRow;
use super::{Appended, Exchange, StoreError, StoreKind, Val, WriteOp};
use crate::log::{Envelope, LogState};
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most jobs one group commit takes.
const MAX_BATCH: usize = 1024;

pub(super) enum Work {
    Ops(Vec<WriteOp>),
    Exchange(Box<Exchange>),
}

/// What a job produced.
#[derive(Debug, Default)]
pub(super) struct JobOut {
    pub(super) appended: Vec<Appended>,
    pub(super) reply: Option<Vec<u8>>,
}

pub(super) struct Job {
    pub(super) work: Work,
    pub(super) reply: oneshot::Sender<Result<JobOut, StoreError>>,
}

/// Start the writer of a store whose pool is `pool`: on a SQLite file, a thread owning a
/// connection of its own; otherwise (PostgreSQL, an in-memory SQLite database) a task over
/// the pool. Returns the SQLite file the writer's thread opened, if any.
pub(super) async fn spawn(
    pool: &AnyPool,
    kind: StoreKind,
    rx: mpsc::Receiver<Job>,
    log: Arc<Mutex<LogState>>,
    stats: super::metrics::CommitMetrics,
) -> Result<Option<std::path::PathBuf>, StoreError> {
    if kind == StoreKind::Sqlite
        && let Some(path) = sqlite::file_of(pool).await?
    {
        let db = sqlite::SqliteBackend::open(&path)?;
        std::thread::Builder::new()
            .name("hfx-store-writer".into())
            .spawn(move || futures::executor::block_on(writer(db, rx, log, stats)))
            .map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        Ok(Some(path))
    } else {
        let db = SqlxBackend {
            pool: pool.clone(),
            kind,
        };
        tokio::spawn(writer(db, rx, log, stats));
        Ok(None)
    }
}

/// A database the writer runs group commits on: one transaction per batch.
pub(super) trait Backend {
    type Tx<'a>: BatchTx
    where
        Self: 'a;
    /// Begin a batch's transaction. On a PostgreSQL store shared by two node processes this
    /// also takes the log's turn and takes in what the other process appended to `log`.
    async fn begin(&mut self, log: &Mutex<LogState>) -> Result<Self::Tx<'_>, StoreError>;
}

/// A batch's transaction. Dropped without [`BatchTx::commit`], it rolls back.
pub(super) trait BatchTx {
    fn kind(&self) -> StoreKind;
    /// Run a statement (placeholders `$1..`); the rows it changed.
    async fn exec(&mut self, sql: &'static str, args: &[Val]) -> Result<u64, StoreError>;
    /// Run a generated statement whose placeholders take `args` in order (a multi-row insert:
    /// anonymous `?` on SQLite, `$1..` on PostgreSQL).
    async fn exec_values(&mut self, sql: &str, args: Vec<Val>) -> Result<(), StoreError>;
    /// Whether a query (placeholders `$1..`) returns a row.
    async fn exists(&mut self, sql: &'static str, args: &[Val]) -> Result<bool, StoreError>;
    /// The two integers of the one row a query without placeholders returns.
    async fn int_pair(&mut self, sql: &'static str) -> Result<(i64, i64), StoreError>;
    async fn commit(self) -> Result<(), StoreError>;
}

pub(super) async fn writer<B: Backend>(
    mut db: B,
    mut rx: mpsc::Receiver<Job>,
    log: Arc<Mutex<LogState>>,
    stats: super::metrics::CommitMetrics,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let results = apply_batch(&mut db, &log, &jobs).await;
        match results {
            Ok((per_job, staged)) => {
                stats.committed(started.elapsed(), &jobs, Some(&per_job));
                log.lock().await.commit_staged(staged);
                for (job, res) in jobs.into_iter().zip(per_job) {
                    let _ = job.reply.send(res);
                }
            }
            Err(e) => {
                // Logged here, once; each job's caller gets the cause as its error's source.
                tracing::error!(error = %e, jobs = jobs.len(), "group commit failed");
                stats.committed(started.elapsed(), &jobs, None);
                let cause = Arc::new(e);
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::CommitFailed(cause.clone())));
                }
            }
        }
    }
}

type BatchResult = (Vec<Result<JobOut, StoreError>>, crate::log::Staged);

async fn apply_batch<B: Backend>(
    db: &mut B,
    log: &Mutex<LogState>,
    jobs: &[Job],
) -> Result<BatchResult, StoreError> {
    let mut tx = db.begin(log).await?;
    // The writer is the only task that changes the log state, so it locks it only to stage
    // and to commit: readers (a query reading the size for its header, status, checkpoint
    // signing) see the last committed state instead of waiting for this batch's fsync.
    let (mut staged, seqs) = {
        let log = log.lock().await;
        (log.stage(), log.seqs().clone())
    };
    let seqs = &seqs;
    let mut pending = PendingRows::default();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A job whose rows all wait for the batch's flush (log appends, disclosures, an
        // exchange's inbox row) changes nothing before it, so it needs no savepoint (each
        // savepoint costs two statements).
        let savepoint = job.work.runs_sql();
        if savepoint {
            tx.exec("SAVEPOINT job", &[]).await?;
        }
        let mark = staged.mark();
        let pending_mark = pending.mark();
        match apply_work(&mut tx, &mut staged, &mut pending, seqs, &job.work).await {
            Ok(appended) => {
                if savepoint {
                    tx.exec("RELEASE SAVEPOINT job", &[]).await?;
                }
                out.push(Ok(appended));
            }
            Err(e) => {
                staged.rollback(mark);
                pending.rollback(pending_mark);
                if savepoint {
                    tx.exec("ROLLBACK TO SAVEPOINT job", &[]).await?;
                    tx.exec("RELEASE SAVEPOINT job", &[]).await?;
                }
                out.push(Err(e));
            }
        }
    }
    // The full tiles the batch's surviving appends complete commit with them.
    for (id, hashes) in staged.seal() {
        pending.push_tile(
            id.level,
            id.index,
            crate::log::tiles::tile_to_bytes(&hashes),
        );
    }
    if tx.kind() == StoreKind::Sqlite {
        pending.counters = staged
            .newest_seqs()
            .iter()
            .map(|(key, &newest)| SeqCounter {
                key: key.clone(),
                from: seqs.get(key).copied().unwrap_or(0),
                to: newest,
            })
            .collect();
    }
    pending.flush(&mut tx).await?;
    tx.commit().await?;
    Ok((out, staged))
}

/// The writer over sqlx: PostgreSQL, and an in-memory SQLite database (which no second
/// connection could open).
struct SqlxBackend {
    pool: AnyPool,
    kind: StoreKind,
}

struct SqlxTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    kind: StoreKind,
}

/// The advisory lock that serialises log appends of node processes sharing one PostgreSQL
/// store ("hfxlog" in ASCII).
const PG_LOG_LOCK: i64 = 0x6866_786c_6f67;

impl Backend for SqlxBackend {
    type Tx<'a> = SqlxTx;

    async fn begin(&mut self, log: &Mutex<LogState>) -> Result<SqlxTx, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.kind == StoreKind::Postgres {
            // Two node processes may share a PostgreSQL store: their appends take turns (a
            // lock held until this transaction ends), and each first takes in what the other
            // appended.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOG_LOCK)
                .execute(&mut *tx)
                .await?;
            let size = log.lock().await.size();
            let newer = entries_from(&mut tx, size).await?;
            if !newer.is_empty() {
                log.lock().await.absorb(newer)?;
            }
        }
        Ok(SqlxTx {
            tx,
            kind: self.kind,
        })
    }
}

impl BatchTx for SqlxTx {
    fn kind(&self) -> StoreKind {
        self.kind
    }

    async fn exec(&mut self, sql: &'static str, args: &[Val]) -> Result<u64, StoreError> {
        Ok(statement(sql, args)
            .execute(&mut *self.tx)
            .await?
            .rows_affected())
    }

    async fn exec_values(&mut self, sql: &str, args: Vec<Val>) -> Result<(), StoreError> {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        args.into_iter()
            .fold(q, bind)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn exists(&mut self, sql: &'static str, args: &[Val]) -> Result<bool, StoreError> {
        Ok(statement(sql, args)
            .fetch_optional(&mut *self.tx)
            .await?
            .is_some())
    }

    async fn int_pair(&mut self, sql: &'static str) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(sql).fetch_one(&mut *self.tx).await?)
    }

    async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// Log entries from index `from` on, as another process sharing the store appended them.
async fn entries_from(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    from: u64,
) -> Result<Vec<crate::log::StoredEntry>, StoreError> {
    use super::log_rows::{ENTRY_COLUMNS, entry_of};
    use sqlx::Row;
    // ENTRY_COLUMNS include peer, dir and seq.
    let sql = format!(
        "SELECT idx, leaf_hash, {ENTRY_COLUMNS} FROM log_entries WHERE idx >= $1 ORDER BY idx"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from as i64)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(crate::log::StoredEntry {
            index: row.try_get::<i64, _>("idx")? as u64,
            peer: row.try_get("peer")?,
            dir: row.try_get("dir")?,
            seq: row.try_get::<i64, _>("seq")? as u64,
            leaf_hash: row.try_get("leaf_hash")?,
            entry: entry_of(&row)?,
        });
    }
    Ok(out)
}

impl Work {
    /// Whether this work appends to the exchange log.
    pub(super) fn appends(&self) -> bool {
        match self {
            Work::Ops(ops) => ops.iter().any(|op| match op {
                WriteOp::LogAppend { .. } | WriteOp::Disclosure(_) => true,
                WriteOp::Sql { .. } | WriteOp::Cas { .. } => false,
            }),
            Work::Exchange(_) => true,
        }
    }

    /// Whether applying this work changes rows before the batch's flush (runs a statement
    /// of its own); log appends, disclosures and an exchange's inbox row wait for the flush.
    fn runs_sql(&self) -> bool {
        let sql = |ops: &[WriteOp]| {
            ops.iter()
                .any(|op| matches!(op, WriteOp::Sql { .. } | WriteOp::Cas { .. }))
        };
        match self {
            Work::Ops(ops) => sql(ops),
            Work::Exchange(x) => sql(std::slice::from_ref(&x.request)) || sql(&x.extra),
        }
    }
}

/// The rows of one group commit, inserted together just before it commits: a few multi-row
/// INSERTs instead of statements per job. Log indexes are assigned in memory
/// ([`crate::log::Staged`]) and nothing in a job reads these tables back, so nothing in a job
/// depends on the rows being in the table yet. A failed job's rows are dropped with it
/// ([`PendingRows::rollback`]).
#[derive(Default)]
pub(super) struct PendingRows {
    /// (entry index, payload hash, payload bytes).
    payloads: Vec<(u64, crate::log::merkle::Hash, Vec<u8>)>,
    entries: Vec<(Appended, crate::log::StagedRow)>,
    /// Full tiles of the Merkle tree: (level, index, hashes).
    tiles: Vec<(u8, u64, Vec<u8>)>,
    /// Exchanges' stored replies; `inbox_keys` holds their (peer, message id).
    inbox: Vec<InboxRow>,
    inbox_keys: std::collections::HashSet<(String, String)>,
    /// Disclosure rows ([`DisclosureWrite::row`]), [`DisclosureWrite::COLUMNS`] values each.
    disclosures: Vec<Val>,
    /// SQLite: the sequence counters the batch advances (`log_seqs`, schema v9), set once
    /// the batch's jobs are done.
    counters: Vec<SeqCounter>,
}

/// A (peer, direction)'s sequence counter, from the number the batch began at to the newest
/// it gave.
pub(super) struct SeqCounter {
    key: (String, String),
    from: u64,
    to: u64,
}

/// Advance one counter, only from where the batch began: a store whose counter is elsewhere
/// (a second writer, a changed row) refuses the batch rather than give a number twice. A
/// counter not yet there is made (its batch began at 0; if the row existed at another
/// number, nothing changes and the batch is refused too).
const SEQ_ADVANCE: &str = "INSERT INTO log_seqs (peer, dir, seq) VALUES ($1, $2, $3) ON CONFLICT (peer, dir) DO UPDATE SET seq = excluded.seq WHERE log_seqs.seq = $4";

/// Where a job's pending rows start ([`PendingRows::mark`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingMark {
    payloads: usize,
    entries: usize,
    tiles: usize,
    inbox: usize,
    disclosures: usize,
}

/// Rows per multi-row INSERT, largest first; a batch is cut into these sizes so each
/// connection's statement cache holds a handful of statements. 256 rows × 12 values stays
/// under SQLite's 32,766 bound values and PostgreSQL's 65,535.
const INSERT_CHUNKS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// A table the flush inserts into: the statement's head, one row's placeholders (`?`, turned
/// into `$n` on PostgreSQL), what follows the rows, and the values per row.
struct RowsInsert {
    head: &'static str,
    row: &'static str,
    tail: &'static str,
    cols: usize,
}

const PAYLOADS_SQLITE: RowsInsert = RowsInsert {
    head: "INSERT INTO log_payloads (idx, hash, data) VALUES ",
    row: "(?, ?, ?)",
    tail: "",
    cols: 3,
};
const PAYLOADS_POSTGRES: RowsInsert = RowsInsert {
    head: "INSERT INTO log_payloads (hash, data) VALUES ",
    row: "(?, ?)",
    tail: " ON CONFLICT (hash) DO NOTHING",
    cols: 2,
};
const ENTRIES: RowsInsert = RowsInsert {
    head: "INSERT INTO log_entries (idx, at_ms, dir, peer, seq, message_id, case_id, msg_type, leaf_hash, entry, payload_hash) VALUES ",
    row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    tail: "",
    cols: 11,
};
const TILES: RowsInsert = RowsInsert {
    head: "INSERT INTO log_tiles (level, idx, hashes) VALUES ",
    row: "(?, ?, ?)",
    tail: "",
    cols: 3,
};
const INBOX: RowsInsert = RowsInsert {
    head: super::inbox::INSERT_HEAD,
    row: super::inbox::INSERT_ROW,
    tail: "",
    cols: InboxRow::COLUMNS,
};
const DISCLOSURES: RowsInsert = RowsInsert {
    head: DisclosureWrite::INSERT_HEAD,
    row: DisclosureWrite::INSERT_ROW,
    tail: "",
    cols: DisclosureWrite::COLUMNS,
};

impl PendingRows {
    pub(super) fn mark(&self) -> PendingMark {
        PendingMark {
            payloads: self.payloads.len(),
            entries: self.entries.len(),
            tiles: self.tiles.len(),
            inbox: self.inbox.len(),
            disclosures: self.disclosures.len(),
        }
    }

    pub(super) fn rollback(&mut self, m: PendingMark) {
        self.payloads.truncate(m.payloads);
        self.entries.truncate(m.entries);
        self.tiles.truncate(m.tiles);
        for row in self.inbox.drain(m.inbox..) {
            self.inbox_keys.remove(&(row.peer, row.message_id));
        }
        self.disclosures.truncate(m.disclosures);
    }

    /// A full tile of the Merkle tree to store with this batch: `hashes` are its 32-byte
    /// hashes concatenated.
    pub(super) fn push_tile(&mut self, level: u8, index: u64, hashes: Vec<u8>) {
        self.tiles.push((level, index, hashes));
    }

    /// Whether this batch already answers (peer, message id).
    fn answers(&self, peer: &str, message_id: &str) -> bool {
        // The set is keyed by owned strings; a batch holds few exchanges per peer, so the
        // allocation of a probe key is noise next to the statement it replaces.
        self.inbox_keys
            .contains(&(peer.to_string(), message_id.to_string()))
    }

    fn push_inbox(&mut self, row: InboxRow) {
        self.inbox_keys
            .insert((row.peer.clone(), row.message_id.clone()));
        self.inbox.push(row);
    }

    async fn flush(&mut self, tx: &mut impl BatchTx) -> Result<(), StoreError> {
        let kind = tx.kind();
        // SQLite keys payloads by their entry's index (schema v8: appends touch only the
        // B-tree's right edge); PostgreSQL keeps them by hash, each stored once.
        let payloads = std::mem::take(&mut self.payloads);
        match kind {
            StoreKind::Sqlite => {
                let mut values = Vec::with_capacity(payloads.len() * 3);
                for (index, hash, data) in payloads {
                    values.extend([Val::I64(index as i64), hash.to_vec().into(), data.into()]);
                }
                insert_rows(tx, &PAYLOADS_SQLITE, values).await?;
            }
            StoreKind::Postgres => {
                let mut seen = std::collections::HashSet::new();
                let mut values = Vec::with_capacity(payloads.len() * 2);
                for (_, hash, data) in payloads {
                    if seen.insert(hash) {
                        values.extend([hash.to_vec().into(), data.into()]);
                    }
                }
                insert_rows(tx, &PAYLOADS_POSTGRES, values).await?;
            }
        }
        // An entry is stored once: as the row's columns, with `entry` left empty, when its
        // bytes are the canonical encoding of those columns (checked by rebuilding them); in
        // full otherwise (`log_rows::entry_of` reads either).
        let mut values = Vec::with_capacity(self.entries.len() * ENTRIES.cols);
        for (a, row) in std::mem::take(&mut self.entries) {
            // The envelope of the values bound below, as `log_rows` rebuilds it from the row.
            let columns = Envelope {
                seq: a.seq,
                payload_sha256: hex::encode(row.payload_hash),
                ..row.envelope
            };
            let entry = super::log_rows::entry_to_store(&columns, row.entry_bytes);
            values.extend([
                Val::I64(a.index as i64),
                Val::I64(columns.at_ms),
                columns.dir.into(),
                columns.peer.into(),
                Val::I64(columns.seq as i64),
                columns.message_id.into(),
                columns.case_id.into(),
                columns.msg_type.into(),
                row.leaf_hash.to_vec().into(),
                entry.into(),
                row.payload_hash.to_vec().into(),
            ]);
        }
        insert_rows(tx, &ENTRIES, values).await?;
        let mut values = Vec::with_capacity(self.tiles.len() * TILES.cols);
        for (level, index, hashes) in std::mem::take(&mut self.tiles) {
            values.extend([
                Val::I64(i64::from(level)),
                Val::I64(index as i64),
                hashes.into(),
            ]);
        }
        insert_rows(tx, &TILES, values).await?;
        self.inbox_keys.clear();
        let mut values = Vec::with_capacity(self.inbox.len() * INBOX.cols);
        for row in std::mem::take(&mut self.inbox) {
            values.extend(row.values());
        }
        insert_rows(tx, &INBOX, values).await?;
        let disclosed = !self.disclosures.is_empty();
        insert_rows(tx, &DISCLOSURES, std::mem::take(&mut self.disclosures)).await?;
        if disclosed && kind == StoreKind::Sqlite {
            index_subjects(tx).await?;
        }
        for c in std::mem::take(&mut self.counters) {
            let args = [
                c.key.0.as_str().into(),
                c.key.1.as_str().into(),
                Val::I64(c.to as i64),
                Val::I64(c.from as i64),
            ];
            if tx.exec(SEQ_ADVANCE, &args).await? != 1 {
                let (peer, dir) = c.key;
                return Err(crate::log::LoadError::SeqOutOfStep {
                    peer,
                    dir,
                    from: c.from,
                }
                .into());
            }
        }
        Ok(())
    }
}

/// Disclosures a run of the subject index takes (SQLite, schema v10): a run's rows go in
/// sorted, so writing one touches each of its pages once; a report reads one seek per run
/// and scans at most this many rows not yet in one.
pub(super) const SUBJECT_RUN: i64 = 4096;

/// The newest disclosure id a run has indexed (0: none yet), and the newest there is.
const SUBJECTS_WAITING: &str = "SELECT COALESCE((SELECT MAX(upto) FROM disclosure_subject_runs), 0), COALESCE((SELECT MAX(id) FROM disclosures), 0)";
const SUBJECTS_RUN: &str = "INSERT OR FAIL INTO disclosure_subjects (run, subject_key, id) SELECT $1, subject_key, id FROM disclosures WHERE id > $2 AND id <= $1 ORDER BY subject_key, id";
const SUBJECTS_RUN_DONE: &str = "INSERT OR FAIL INTO disclosure_subject_runs (upto) VALUES ($1)";

/// SQLite: once [`SUBJECT_RUN`] disclosures wait for the subject index, write them as one
/// run, in the group commit that made the last of them.
async fn index_subjects(tx: &mut impl BatchTx) -> Result<(), StoreError> {
    let (indexed, newest) = tx.int_pair(SUBJECTS_WAITING).await?;
    if newest - indexed < SUBJECT_RUN {
        return Ok(());
    }
    tx.exec(SUBJECTS_RUN, &[Val::I64(newest), Val::I64(indexed)])
        .await?;
    tx.exec(SUBJECTS_RUN_DONE, &[Val::I64(newest)]).await?;
    Ok(())
}

/// Insert `values` (whole rows of `t.cols` values, in order) as multi-row INSERTs of the
/// [`INSERT_CHUNKS`] sizes.
async fn insert_rows(
    tx: &mut impl BatchTx,
    t: &RowsInsert,
    values: Vec<Val>,
) -> Result<(), StoreError> {
    debug_assert_eq!(values.len() % t.cols, 0);
    let kind = tx.kind();
    let mut rows = values.len() / t.cols;
    let mut values = values.into_iter();
    while rows > 0 {
        let n = chunk_len(rows);
        let chunk: Vec<Val> = values.by_ref().take(n * t.cols).collect();
        tx.exec_values(&values_sql(kind, t, n), chunk).await?;
        rows -= n;
    }
    Ok(())
}

fn chunk_len(remaining: usize) -> usize {
    INSERT_CHUNKS
        .into_iter()
        .find(|&c| c <= remaining)
        .unwrap_or(1)
}

/// `head (?, ?), (?, ?)… tail` for `rows` rows. SQLite gets anonymous `?` placeholders:
/// looking up a numbered one (`sqlite3_bind_parameter_name`) scans the statement's parameter
/// list, which makes binding a 2,816-value statement quadratic. PostgreSQL gets `$1..`.
fn values_sql(kind: StoreKind, t: &RowsInsert, rows: usize) -> String {
    let mut sql = String::with_capacity(t.head.len() + rows * (t.row.len() + t.cols * 4) + 40);
    match (kind, t.head.strip_prefix("INSERT INTO ")) {
        // A failing row fails the whole group commit (the transaction is rolled back), so
        // the statement need not undo its own earlier rows: `OR FAIL` spares SQLite the
        // statement journal, a copy of every page the statement touches, which spills to a
        // temporary file past 64 KB (as many bytes again as the commit writes).
        (StoreKind::Sqlite, Some(rest)) => {
            sql.push_str("INSERT OR FAIL INTO ");
            sql.push_str(rest);
        }
        _ => sql.push_str(t.head),
    }
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        match kind {
            StoreKind::Sqlite => sql.push_str(t.row),
            StoreKind::Postgres => {
                for c in t.row.chars() {
                    if c == '?' {
                        n += 1;
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    } else {
                        sql.push(c);
                    }
                }
            }
        }
    }
    sql.push_str(t.tail);
    sql
}

type Seqs = std::collections::HashMap<(String, String), u64>;

async fn apply_work(
    tx: &mut impl BatchTx,
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
            // A message answered before, in an earlier commit or earlier in this one, is
            // not answered again: the job fails before it stages anything, and
            // `write_exchange` answers with the stored reply (the inbox's primary key would
            // refuse the row anyway, but at the flush, taking the whole batch with it).
            if pending.answers(&x.peer, &x.message_id)
                || tx
                    .exists(
                        super::inbox::EXISTS,
                        &[x.peer.as_str().into(), x.message_id.as_str().into()],
                    )
                    .await?
            {
                return Err(StoreError::Conflict);
            }
            let mut appended = apply_ops(
                tx,
                staged,
                pending,
                base_seqs,
                std::slice::from_ref(&x.request),
                None,
            )
            .await?;
            let req = *appended.first().ok_or(StoreError::NotAnAppend)?;
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
            appended.extend(apply_ops(tx, staged, pending, base_seqs, &[reply_op], None).await?);
            pending.push_inbox(InboxRow::new(&x.peer, &x.message_id, &x.method, &reply));
            apply_ops(tx, staged, pending, base_seqs, &x.extra, Some(req.index)).await?;
            Ok(JobOut {
                appended,
                reply: Some(reply),
            })
        }
    }
}

async fn apply_ops(
    tx: &mut impl BatchTx,
    staged: &mut crate::log::Staged,
    pending: &mut PendingRows,
    base_seqs: &Seqs,
    ops: &[WriteOp],
    request_index: Option<u64>,
) -> Result<Vec<Appended>, StoreError> {
    let mut appended = Vec::new();
    for op in ops {
        match op {
            WriteOp::Disclosure(d) => {
                // Committed to the log in the same transaction: its entry is staged first,
                // and the row (inserted at the flush) names the entry's index.
                let record = d.resolved(request_index);
                let (envelope, payload) = DisclosureWrite::commitment(&record);
                let (a, row) = staged.append(envelope, &payload, base_seqs);
                pending.payloads.push((a.index, row.payload_hash, payload));
                pending.entries.push((a, row));
                pending
                    .disclosures
                    .extend(DisclosureWrite::row(record, a.index));
            }
            WriteOp::Sql { sql, args } => {
                tx.exec(sql, args).await?;
            }
            WriteOp::Cas { sql, args } => {
                if tx.exec(sql, args).await? != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            WriteOp::LogAppend { envelope, payload } => {
                let (a, row) = staged.append(envelope.clone(), payload, base_seqs);
                pending
                    .payloads
                    .push((a.index, row.payload_hash, payload.clone()));
                pending.entries.push((a, row));
                appended.push(a);
            }
        }
    }
    Ok(appended)
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// A statement with its values bound.
fn statement<'q>(sql: &'static str, args: &[Val]) -> AnyQuery<'q> {
    args.iter().cloned().fold(sqlx::query(sql), bind)
}

pub(super) fn bind<'q>(q: AnyQuery<'q>, v: Val) -> AnyQuery<'q> {
    match v {
        Val::I64(x) => q.bind(x),
        Val::Text(x) => q.bind(x),
        Val::Bytes(x) => q.bind(x),
        Val::NullText => q.bind(Option::<String>::None),
    }
}
