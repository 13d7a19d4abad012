//! Disclosures: the record both sides keep of every member query (who asked, for what
//! purpose and legal basis, the outcome, the masked subject).
//!
//! Every record is committed to the exchange log in the transaction that writes it: the
//! writer appends an entry (dir `local`, type `Disclosure#record`, the record's peer and
//! message id) whose payload is the record's canonical bytes
//! ([`hfx_tlog::audit::DisclosureRecord::canonical_bytes`]), and stores that entry's index
//! in the row's `commit_index`. An edit of any column then no longer hashes to the entry the
//! signed, witnessed tree commits to, which `hfx audit verify` and `replay` report.

use super::{Store, StoreError, StoreKind, Val, WriteOp};
use crate::log::Envelope;
use hfx_tlog::audit::{COMMIT_DIR, DISCLOSURE_RECORD, DisclosureRecord};
use sqlx::Row;

/// A disclosure as the writer records it ([`WriteOp::Disclosure`]): the record (its
/// `log_index` filled in by the writer from `link`) and the entry it points at.
#[derive(Debug, Clone)]
pub struct DisclosureWrite {
    pub(super) record: DisclosureRecord,
    pub(super) link: LogLink,
}

impl DisclosureWrite {
    /// The record with its link resolved (`request_index`: the exchange's request entry,
    /// inside [`Store::write_exchange`]'s extra ops).
    pub(super) fn resolved(&self, request_index: Option<u64>) -> DisclosureRecord {
        let mut record = self.record.clone();
        record.log_index = match self.link {
            LogLink::None => None,
            LogLink::ExchangeRequest => request_index,
            LogLink::At(i) => Some(i),
        };
        record
    }

    /// The commitment entry of a resolved record: its canonical bytes as the payload.
    pub(super) fn commitment(record: &DisclosureRecord) -> (Envelope, Vec<u8>) {
        let payload = record.canonical_bytes();
        let envelope = Envelope::draft(
            COMMIT_DIR,
            &record.peer,
            &record.message_id,
            "",
            DISCLOSURE_RECORD,
            &payload,
        );
        (envelope, payload)
    }

    /// The multi-row insert's head and one row's placeholders (the writer numbers them for
    /// PostgreSQL); the writer inserts a group commit's records together.
    pub(super) const INSERT_HEAD: &'static str = "INSERT INTO disclosures (at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, subject_key, log_index, commit_index) VALUES ";
    pub(super) const INSERT_ROW: &'static str =
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?)";
    pub(super) const COLUMNS: usize = 12;

    /// The row of a resolved record, naming its commitment entry, in [`Self::INSERT_ROW`]'s
    /// order.
    pub(super) fn row(record: DisclosureRecord, commit_index: u64) -> [Val; Self::COLUMNS] {
        [
            Val::I64(record.at_ms),
            record.direction.into(),
            record.peer.into(),
            record.acting_person.into(),
            record.purpose.into(),
            record.legal_basis.into(),
            record.outcome.into(),
            record.message_id.into(),
            record.subject_masked.into(),
            record.subject_key.into(),
            // Always text (CAST in the statement): PostgreSQL prepares a parameter with the
            // type of its first use, so an integer after a NULL-as-text would arrive as raw
            // bytes.
            match record.log_index {
                Some(i) => Val::Text(i.to_string()),
                None => Val::NullText,
            },
            Val::I64(commit_index as i64),
        ]
    }
}

/// Which log entry a disclosure points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLink {
    /// None (a refusal, or a query we sent: its entries are found by message id).
    None,
    /// The request entry of the exchange the disclosure is written in (only inside
    /// [`Store::write_exchange`]'s extra ops).
    ExchangeRequest,
    /// A known index.
    At(u64),
}

/// A disclosure to record.
#[derive(Debug, Clone)]
pub struct NewDisclosure<'a> {
    pub direction: &'a str,
    pub peer: &'a str,
    pub acting_person: &'a str,
    pub purpose: &'a str,
    pub legal_basis: &'a str,
    pub outcome: &'a str,
    pub message_id: &'a str,
    pub subject_masked: &'a str,
    pub log_index: LogLink,
}

impl NewDisclosure<'_> {
    /// The write that records it, naming its subject by `subject_key`
    /// ([`Store::subject_key`]) so the member's report finds it.
    pub fn op_for(&self, subject_key: String) -> WriteOp {
        let mut op = self.op();
        if let WriteOp::Disclosure(w) = &mut op {
            w.record.subject_key = subject_key;
        }
        op
    }

    /// The write that records it, to commit with the exchange it belongs to (the writer
    /// adds its commitment entry in the same transaction). Prefer [`Self::op_for`] when the
    /// subject is known.
    pub fn op(&self) -> WriteOp {
        WriteOp::Disclosure(Box::new(DisclosureWrite {
            record: DisclosureRecord {
                at_ms: crate::now_ms(),
                direction: self.direction.to_string(),
                peer: self.peer.to_string(),
                acting_person: self.acting_person.to_string(),
                purpose: self.purpose.to_string(),
                legal_basis: self.legal_basis.to_string(),
                outcome: self.outcome.to_string(),
                message_id: self.message_id.to_string(),
                subject_masked: self.subject_masked.to_string(),
                ..Default::default()
            },
            link: self.log_index,
        }))
    }
}

/// A recorded disclosure, as listed for auditors and operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    pub at_ms: i64,
    pub direction: String,
    pub peer: String,
    pub acting_person: String,
    pub purpose: String,
    pub legal_basis: String,
    pub outcome: String,
    pub message_id: String,
    pub subject_masked: String,
}

impl Store {
    /// The newest `limit` disclosures, newest first.
    pub async fn disclosures(&self, limit: i64) -> Result<Vec<Disclosure>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked FROM disclosures ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_disclosure).collect()
    }

    /// How many disclosures are recorded.
    pub async fn disclosure_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM disclosures")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}

/// The name of the subject-key secret in `node_secret`.
const SUBJECT_SECRET: &str = "disclosure_subject_key";

/// The store's subject-key secret, made on first use (32 random bytes) and kept in the store,
/// so every process on one store, and every restart, computes the same keys.
pub(super) async fn load_subject_secret(
    pool: &sqlx::AnyPool,
) -> Result<ring::hmac::Key, StoreError> {
    let mut fresh = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh)
        .map_err(|_| StoreError::Corrupt("no system randomness for the subject key".into()))?;
    // Two processes may start at once: the first insert wins, both read the winner.
    sqlx::query(
        "INSERT INTO node_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(SUBJECT_SECRET)
    .bind(fresh.to_vec())
    .execute(pool)
    .await?;
    let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM node_secret WHERE name = $1")
        .bind(SUBJECT_SECRET)
        .fetch_one(pool)
        .await?;
    if value.len() != 32 {
        return Err(StoreError::Corrupt(format!(
            "node_secret {SUBJECT_SECRET} has {} bytes, not 32",
            value.len()
        )));
    }
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &value))
}

/// Which disclosures to list ([`Store::disclosures_where`]); empty fields match all.
#[derive(Debug, Clone, Default)]
pub struct DisclosureFilter {
    pub limit: i64,
    /// [`Store::subject_key`] of the member.
    pub subject_key: Option<String>,
    pub peer: Option<String>,
    pub purpose: Option<String>,
    /// "sent" or "received".
    pub direction: Option<String>,
    /// The outcome begins with this ("disclosed", "refused", "not found", ...).
    pub outcome_prefix: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Store {
    /// The key naming a disclosure's subject: HMAC-SHA-256 under the store's secret of
    /// "id_type|id_number", first 16 bytes in hex. Without the secret (an offline handle),
    /// empty.
    pub fn subject_key(&self, id_type: &str, id_number: &str) -> String {
        match &self.subject_secret {
            Some(k) => {
                let tag = ring::hmac::sign(k, format!("{id_type}|{id_number}").as_bytes());
                hex::encode(&tag.as_ref()[..16])
            }
            None => String::new(),
        }
    }

    /// Disclosures matching `f`, newest first, at most `f.limit`.
    pub async fn disclosures_where(
        &self,
        f: &DisclosureFilter,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let mut sql = String::from(
            "SELECT at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked FROM disclosures WHERE 1 = 1",
        );
        let mut texts: Vec<String> = Vec::new();
        if let Some(v) = &f.subject_key {
            texts.push(v.clone());
            sql.push_str(match self.kind {
                // SQLite (schema v10): the runs of the subject index, and the disclosures
                // not yet in one (fewer than the writer's `SUBJECT_RUN`, found by rowid).
                // One seek per run (CROSS JOIN keeps the runs the outer loop) and a rowid range;
                // an OR of the two would scan the table.
                StoreKind::Sqlite => {
                    " AND id IN (SELECT s.id FROM disclosure_subject_runs r CROSS JOIN disclosure_subjects s ON s.run = r.upto AND s.subject_key = $1 \
                     UNION ALL SELECT id FROM disclosures WHERE id > (SELECT COALESCE(MAX(upto), 0) FROM disclosure_subject_runs) AND subject_key = $1)"
                }
                StoreKind::Postgres => " AND subject_key = $1",
            });
        }
        let mut add = |sql: &mut String, cond: &str, v: String| {
            texts.push(v);
            sql.push_str(&format!(" AND {cond} ${}", texts.len()));
        };
        if let Some(v) = &f.peer {
            add(&mut sql, "peer =", v.clone());
        }
        if let Some(v) = &f.purpose {
            add(&mut sql, "purpose =", v.clone());
        }
        if let Some(v) = &f.direction {
            add(&mut sql, "direction =", v.clone());
        }
        if let Some(v) = &f.outcome_prefix {
            // A prefix match without LIKE's wildcards: compare the leading characters.
            add(
                &mut sql,
                &format!("SUBSTR(outcome, 1, {}) =", v.chars().count()),
                v.clone(),
            );
        }
        let mut n = texts.len();
        let mut ints: Vec<i64> = Vec::new();
        for (cond, v) in [(">=", f.since_ms), ("<", f.until_ms)] {
            if let Some(v) = v {
                n += 1;
                ints.push(v);
                sql.push_str(&format!(" AND at_ms {cond} ${n}"));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for t in texts {
            q = q.bind(t);
        }
        for i in ints {
            q = q.bind(i);
        }
        let rows = q.bind(f.limit).fetch_all(&self.pool).await?;
        rows.iter().map(read_disclosure).collect()
    }
}

fn read_disclosure(r: &sqlx::any::AnyRow) -> Result<Disclosure, StoreError> {
    Ok(Disclosure {
        at_ms: r.try_get("at_ms")?,
        direction: r.try_get("direction")?,
        peer: r.try_get("peer")?,
        acting_person: r.try_get("acting_person")?,
        purpose: r.try_get("purpose")?,
        legal_basis: r.try_get("legal_basis")?,
        outcome: r.try_get("outcome")?,
        message_id: r.try_get("message_id")?,
        subject_masked: r.try_get("subject_masked")?,
    })
}
