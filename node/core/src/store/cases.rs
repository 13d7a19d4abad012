//! Transfer cases and their outbox (DESIGN §4): the case row (its state as JSON, with the
//! columns a query needs), the outbox row of every message a transition sends, and the daily
//! letter-number sequence.
//!
//! - A case row's `version` is the compare-and-swap key: every transition updates it with
//!   [`case_update_op`] (a [`WriteOp::Cas`]), so two writers of one case (two node processes
//!   on one PostgreSQL store) never both win.
//! - `in_flight` is 1 while the case holds its person: the partial unique index on
//!   (role, person_hash) makes "one in-flight case per person per business type" a fact of
//!   the store, not of a check that can race.
//! - Outbox rows are written in the transition's transaction, next to the log's SENT entry;
//!   the relay claims them ([`Store::outbox_claim`]: `FOR UPDATE SKIP LOCKED` on PostgreSQL,
//!   plus a lease) one per case at a time, oldest first, so a case's messages leave in order.

use super::{Store, StoreError, StoreKind, Val, WriteOp};
use sqlx::Row;

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub case_id: String,
    pub role: String,
    pub peer: String,
    pub letter_no: Option<String>,
    pub status: String,
    /// SHA-256 (hex) of "id_type|id_number"; None for a tombstone.
    pub person_hash: Option<String>,
    pub in_flight: bool,
    pub is_final: bool,
    pub version: i64,
    /// The case (hfx_case::Case) as JSON.
    pub state: String,
    pub stuck_reason: Option<String>,
    /// An origin's signed expiry tombstone (a C2SP signed note), for a case it never saw.
    pub tombstone: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The W3C traceparent of the call that made the case (the clerk's start, or the
    /// contact letter's arrival at the origin): the relay's and driver's spans for the case
    /// are its children. Set at insert, never changed; None when traces were off.
    pub trace_parent: Option<String>,
}

/// An outbox message as the relay sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub case_id: String,
    pub peer: String,
    pub kind: String,
    pub message_id: String,
    pub body: Vec<u8>,
    pub attempts: i64,
    /// The case's [`CaseRow::trace_parent`], for the send's span.
    pub trace_parent: Option<String>,
}

fn opt_text(v: &Option<String>) -> Val {
    v.clone().into()
}

/// Insert a new case (fails on a second in-flight case for the person: the unique index).
pub fn case_insert_op(c: &CaseRow) -> WriteOp {
    WriteOp::Sql {
        sql: "INSERT INTO transfer_case (case_id, role, peer, letter_no, status, person_hash, in_flight, is_final, version, state, stuck_reason, tombstone, created_ms, updated_ms, trace_parent) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        args: vec![
            c.case_id.clone().into(),
            c.role.clone().into(),
            c.peer.clone().into(),
            opt_text(&c.letter_no),
            c.status.clone().into(),
            opt_text(&c.person_hash),
            Val::I64(c.in_flight as i64),
            Val::I64(c.is_final as i64),
            Val::I64(c.version),
            c.state.clone().into(),
            opt_text(&c.stuck_reason),
            opt_text(&c.tombstone),
            Val::I64(c.created_ms),
            Val::I64(c.updated_ms),
            opt_text(&c.trace_parent),
        ],
    }
}

/// Replace a case whose stored version is `expected_version` (else the job fails with
/// [`StoreError::Conflict`]). A transition clears the stuck reason: the case moved.
pub fn case_update_op(c: &CaseRow, expected_version: i64) -> WriteOp {
    WriteOp::Cas {
        sql: "UPDATE transfer_case SET status = $1, in_flight = $2, is_final = $3, version = $4, state = $5, stuck_reason = NULL, updated_ms = $6 \
              WHERE case_id = $7 AND version = $8",
        args: vec![
            c.status.clone().into(),
            Val::I64(c.in_flight as i64),
            Val::I64(c.is_final as i64),
            Val::I64(c.version),
            c.state.clone().into(),
            Val::I64(c.updated_ms),
            c.case_id.clone().into(),
            Val::I64(expected_version),
        ],
    }
}

/// An outbox message, written with the transition that sends it.
pub fn outbox_insert_op(
    case_id: &str,
    peer: &str,
    kind: &str,
    message_id: &str,
    body: &[u8],
    now_ms: i64,
) -> WriteOp {
    WriteOp::Sql {
        sql: "INSERT INTO transfer_outbox (case_id, peer, kind, message_id, body, created_ms, attempts, next_attempt_ms, claimed_by, claimed_until_ms, done, last_error) \
              VALUES ($1, $2, $3, $4, $5, $6, 0, $6, '', 0, 0, NULL)",
        args: vec![
            case_id.into(),
            peer.into(),
            kind.into(),
            message_id.into(),
            Val::Bytes(body.to_vec()),
            Val::I64(now_ms),
        ],
    }
}

/// Mark an outbox message answered (committed with the answer's effect on the case). A
/// compare-and-swap on `done`: when the message was sent twice (a lease ran out while its
/// first sender still worked, or two processes sharing the store both had it), only the
/// first answer is recorded; the other's whole job fails with [`StoreError::Conflict`].
pub fn outbox_done_op(id: i64) -> WriteOp {
    WriteOp::Cas {
        sql: "UPDATE transfer_outbox SET done = 1, claimed_until_ms = 0 WHERE id = $1 AND done = 0",
        args: vec![Val::I64(id)],
    }
}

const CASE_COLS: &str = "case_id, role, peer, letter_no, status, person_hash, in_flight, is_final, version, state, stuck_reason, tombstone, created_ms, updated_ms, trace_parent";

fn case_from(r: &sqlx::any::AnyRow) -> Result<CaseRow, StoreError> {
    Ok(CaseRow {
        case_id: r.try_get("case_id")?,
        role: r.try_get("role")?,
        peer: r.try_get("peer")?,
        letter_no: r.try_get("letter_no")?,
        status: r.try_get("status")?,
        person_hash: r.try_get("person_hash")?,
        in_flight: r.try_get::<i64, _>("in_flight")? != 0,
        is_final: r.try_get::<i64, _>("is_final")? != 0,
        version: r.try_get("version")?,
        state: r.try_get("state")?,
        stuck_reason: r.try_get("stuck_reason")?,
        tombstone: r.try_get("tombstone")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        trace_parent: r.try_get("trace_parent")?,
    })
}

/// Which cases a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaseFilter {
    pub include_final: bool,
    pub stuck_only: bool,
    pub limit: i64,
}

impl Store {
    pub async fn case_get(&self, case_id: &str) -> Result<Option<CaseRow>, StoreError> {
        let sql = format!("SELECT {CASE_COLS} FROM transfer_case WHERE case_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(case_from).transpose()
    }

    /// The in-flight case of `role` holding this person, if any.
    pub async fn case_in_flight(
        &self,
        role: &str,
        person_hash: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT case_id FROM transfer_case WHERE role = $1 AND person_hash = $2 AND in_flight = 1",
        )
        .bind(role)
        .bind(person_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Cases, newest first.
    pub async fn cases(&self, f: CaseFilter) -> Result<Vec<CaseRow>, StoreError> {
        let mut sql = format!("SELECT {CASE_COLS} FROM transfer_case WHERE 1 = 1");
        if !f.include_final {
            sql.push_str(" AND is_final = 0");
        }
        if f.stuck_only {
            sql.push_str(" AND stuck_reason IS NOT NULL");
        }
        sql.push_str(" ORDER BY created_ms DESC, case_id DESC LIMIT $1");
        let limit = if f.limit > 0 { f.limit } else { 1000 };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from).collect()
    }

    /// Every case that is not final (the driver's work at start).
    pub async fn cases_open(&self) -> Result<Vec<CaseRow>, StoreError> {
        let sql =
            format!("SELECT {CASE_COLS} FROM transfer_case WHERE is_final = 0 ORDER BY created_ms");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from).collect()
    }

    /// Park a case for a clerk (or clear it with None); not a transition: the version stays.
    pub async fn case_set_stuck(
        &self,
        case_id: &str,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE transfer_case SET stuck_reason = $1 WHERE case_id = $2")
            .bind(reason.map(str::to_string))
            .bind(case_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The next letter sequence number of `prefix` on `day` (YYMMDD), from 1. Gaps are
    /// possible (a number taken by a start that then failed), repeats are not.
    pub async fn letter_next(&self, prefix: &str, day: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO transfer_letter_seq (prefix, day, last) VALUES ($1, $2, 1) \
             ON CONFLICT (prefix, day) DO UPDATE SET last = transfer_letter_seq.last + 1 RETURNING last",
        )
        .bind(prefix)
        .bind(day)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Claim up to `limit` due outbox messages for `claimer` for `lease_ms`: the oldest
    /// unanswered message of each case only, so a case's messages leave in order. On
    /// PostgreSQL rows are locked with `FOR UPDATE SKIP LOCKED`, so relays sharing the store
    /// never claim the same row; the lease keeps it theirs while they send.
    pub async fn outbox_claim(
        &self,
        claimer: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let lock = if self.kind == StoreKind::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        // One statement: on SQLite it takes the write lock at once (a read-then-write
        // transaction beside the writer task would fail with SQLITE_BUSY), on PostgreSQL the
        // rows it picks are locked, skipping rows another relay holds.
        let sql = format!(
            "UPDATE transfer_outbox SET claimed_by = $1, claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT o.id FROM transfer_outbox o \
               WHERE o.done = 0 AND o.next_attempt_ms <= $3 AND o.claimed_until_ms <= $3 \
               AND NOT EXISTS (SELECT 1 FROM transfer_outbox e WHERE e.case_id = o.case_id AND e.done = 0 AND e.id < o.id) \
               ORDER BY o.id LIMIT $4{lock}) \
             AND done = 0 AND claimed_until_ms <= $3 \
             RETURNING id, case_id, peer, kind, message_id, body, attempts, \
               (SELECT c.trace_parent FROM transfer_case c WHERE c.case_id = transfer_outbox.case_id) AS trace_parent"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(claimer)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(OutboxRow {
                id: r.try_get("id")?,
                case_id: r.try_get("case_id")?,
                peer: r.try_get("peer")?,
                kind: r.try_get("kind")?,
                message_id: r.try_get("message_id")?,
                body: r.try_get("body")?,
                // Tries before this one.
                attempts: r.try_get::<i64, _>("attempts")? - 1,
                trace_parent: r.try_get("trace_parent")?,
            });
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    /// A send that got no final answer: try again at `next_ms`.
    pub async fn outbox_retry_at(
        &self,
        id: i64,
        next_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE transfer_outbox SET next_attempt_ms = $1, claimed_until_ms = 0, last_error = $2 WHERE id = $3 AND done = 0",
        )
        .bind(next_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Make a case's unanswered messages due now (a clerk's "retry").
    pub async fn outbox_due_now(&self, case_id: &str, now_ms: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE transfer_outbox SET next_attempt_ms = $1 WHERE case_id = $2 AND done = 0",
        )
        .bind(now_ms)
        .bind(case_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Unanswered outbox messages (for status and tests).
    pub async fn outbox_pending(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM transfer_outbox WHERE done = 0")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The earliest time an unanswered message is due (None: nothing waits).
    pub async fn outbox_next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN next_attempt_ms > claimed_until_ms THEN next_attempt_ms ELSE claimed_until_ms END) FROM transfer_outbox WHERE done = 0",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case_id: &str, trace_parent: Option<&str>) -> CaseRow {
        CaseRow {
            case_id: case_id.into(),
            role: "destination".into(),
            peer: "320300000000000".into(),
            letter_no: None,
            status: "letter_sent".into(),
            person_hash: None,
            in_flight: false,
            is_final: false,
            version: 1,
            state: "{}".into(),
            stuck_reason: None,
            tombstone: None,
            created_ms: 1,
            updated_ms: 1,
            trace_parent: trace_parent.map(str::to_string),
        }
    }

    /// The traceparent written with a new case stays through its transitions and reaches
    /// the relay with each of its outbox rows (migration 7).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_case_keeps_its_traceparent_for_the_relay() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("node.db").display());
        let store = Store::open(&url, crate::log::LogState::new())
            .await
            .unwrap();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        store
            .write(vec![
                case_insert_op(&row("c1", Some(tp))),
                case_insert_op(&row("c2", None)),
                outbox_insert_op("c1", "320300000000000", "letter", "m1", b"x", 1),
                outbox_insert_op("c2", "320300000000000", "letter", "m2", b"y", 1),
            ])
            .await
            .unwrap();
        // A transition rewrites the case but not its traceparent.
        let mut moved = row("c1", None);
        moved.version = 2;
        store.write(vec![case_update_op(&moved, 1)]).await.unwrap();
        let got = store.case_get("c1").await.unwrap().unwrap();
        assert_eq!((got.version, got.trace_parent.as_deref()), (2, Some(tp)));
        let none = store.case_get("c2").await.unwrap().unwrap();
        assert_eq!(none.trace_parent, None);
        let claimed = store.outbox_claim("me", 10, 1000, 10).await.unwrap();
        let tps: Vec<_> = claimed
            .iter()
            .map(|r| (r.case_id.as_str(), r.trace_parent.as_deref()))
            .collect();
        assert_eq!(tps, vec![("c1", Some(tp)), ("c2", None)]);
    }
}
