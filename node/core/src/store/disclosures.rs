//! Disclosures: the record both sides keep of every member query (who asked, for what
//! purpose and legal basis, the outcome, the masked subject).
//!
//! Every record is committed to the exchange log in the transaction that writes it: the
//! writer appends an entry (dir `local`, type `Disclosure#record`, the record's peer and
//! message id) whose payload is the record's canonical bytes
//! ([`hfx_tlog::audit::DisclosureRecord::canonical_bytes`]), and stores that entry's index
//! in the row's `commit_index`. An edit of any column then no longer hashes to the entry the
//! signed, witnessed tree commits to, which `hfx audit verify` and `replay` report.

use super::{Store, StoreError, Val, WriteOp};
use crate::log::Envelope;
use hfx_tlog::audit::{COMMIT_DIR, DISCLOSURE_RECORD, DisclosureRecord};
use sqlx::Row;

/// The statement [`NewDisclosure::op`] builds. The writer recognises it: it appends the
/// record's commitment entry first and binds that entry's index as the last value.
pub(super) const INSERT: &str = "INSERT INTO disclosures (at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, log_index, commit_index) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Whether a statement is a disclosure insert to commit to the log.
pub(super) fn commits(sql: &str) -> bool {
    sql == INSERT
}

fn text(v: Option<&Val>) -> String {
    match v {
        Some(Val::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

/// The commitment entry of a disclosure insert's values (as [`NewDisclosure::op`] lays them
/// out), with [`Val::RequestIndex`] resolved to the exchange's request index.
pub(super) fn commitment(args: &[Val], request_index: Option<u64>) -> (Envelope, Vec<u8>) {
    let record = DisclosureRecord {
        at_ms: match args.first() {
            Some(Val::I64(t)) => *t,
            _ => 0,
        },
        direction: text(args.get(1)),
        peer: text(args.get(2)),
        acting_person: text(args.get(3)),
        purpose: text(args.get(4)),
        legal_basis: text(args.get(5)),
        outcome: text(args.get(6)),
        message_id: text(args.get(7)),
        subject_masked: text(args.get(8)),
        log_index: match args.get(9) {
            Some(Val::I64(i)) => Some(*i as u64),
            Some(Val::RequestIndex) => request_index,
            _ => None,
        },
        ..Default::default()
    };
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
    /// The write that records it, to commit with the exchange it belongs to (the writer
    /// adds its commitment entry in the same transaction).
    pub fn op(&self) -> WriteOp {
        WriteOp::Sql {
            sql: INSERT,
            args: vec![
                Val::I64(crate::now_ms()),
                self.direction.into(),
                self.peer.into(),
                self.acting_person.into(),
                self.purpose.into(),
                self.legal_basis.into(),
                self.outcome.into(),
                self.message_id.into(),
                self.subject_masked.into(),
                match self.log_index {
                    LogLink::ExchangeRequest => Val::RequestIndex,
                    LogLink::At(i) => Val::I64(i as i64),
                    LogLink::None => Val::NullText,
                },
            ],
        }
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
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Disclosure {
                at_ms: r.try_get("at_ms")?,
                direction: r.try_get("direction")?,
                peer: r.try_get("peer")?,
                acting_person: r.try_get("acting_person")?,
                purpose: r.try_get("purpose")?,
                legal_basis: r.try_get("legal_basis")?,
                outcome: r.try_get("outcome")?,
                message_id: r.try_get("message_id")?,
                subject_masked: r.try_get("subject_masked")?,
            });
        }
        Ok(out)
    }

    /// How many disclosures are recorded.
    pub async fn disclosure_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM disclosures")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}
