//! The one writer: a task that takes every write, batches concurrent jobs into one
//! transaction (group commit), gives each job its own savepoint so one failing job does not
//! take the others with it, and inserts the batch's log rows together just before it commits.

use super::disclosures::DisclosureWrite;
use super::{Appended, Exchange, StoreError, StoreKind, Val, WriteOp};
use crate::log::{Envelope, LogState};
use sqlx::{AnyPool, Executor};
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

pub(super) async fn writer(
    pool: AnyPool,
    kind: StoreKind,
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
        let results = apply_batch(&pool, kind, &log, &jobs).await;
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

/// The advisory lock that serialises log appends of node processes sharing one PostgreSQL
/// store ("hfxlog" in ASCII).
const PG_LOG_LOCK: i64 = 0x6866_786c_6f67;

async fn apply_batch(
    pool: &AnyPool,
    kind: StoreKind,
    log: &Mutex<LogState>,
    jobs: &[Job],
) -> Result<BatchResult, StoreError> {
    let mut tx = pool.begin().await?;
    if kind == StoreKind::Postgres {
        // Two node processes may share a PostgreSQL store: their appends take turns (a lock
        // held until this transaction ends), and each first takes in what the other appended.
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

/// Log entries from index `from` on, as another process sharing the store appended them.
async fn entries_from(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    from: u64,
) -> Result<Vec<crate::log::StoredEntry>, StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT idx, peer, dir, seq, leaf_hash, entry FROM log_entries WHERE idx >= $1 ORDER BY idx",
    )
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
            entry: row.try_get("entry")?,
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

    /// Whether applying this work executes statements of its own (besides log appends).
    fn runs_sql(&self) -> bool {
        match self {
            Work::Ops(ops) => ops
                .iter()
                .any(|op| !matches!(op, WriteOp::LogAppend { .. })),
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
            let inbox = super::inbox::insert_op(&x.peer, &x.message_id, &x.method, &reply);
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
            WriteOp::Disclosure(d) => {
                // Committed to the log in the same transaction: its entry is staged first,
                // and the row names the entry's index.
                let record = d.resolved(request_index);
                let (envelope, payload) = DisclosureWrite::commitment(&record);
                let (a, row) = staged.append(envelope, &payload, base_seqs);
                pending.payloads.push((row.payload_hash, payload));
                pending.entries.push((a, row));
                let (sql, args) = DisclosureWrite::insert(&record, a.index);
                statement(sql, &args).execute(&mut **tx).await?;
            }
            WriteOp::Sql { sql, args } => {
                statement(sql, args).execute(&mut **tx).await?;
            }
            WriteOp::Cas { sql, args } => {
                let done = statement(sql, args).execute(&mut **tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict);
                }
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
