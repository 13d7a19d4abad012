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

/// The row insert; the writer binds the commitment entry's index as the last value.
const INSERT: &str = "INSERT INTO disclosures (at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, log_index, commit_index) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

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

    /// The row insert of a resolved record, naming its commitment entry.
    pub(super) fn insert(record: &DisclosureRecord, commit_index: u64) -> (&'static str, Vec<Val>) {
        let args = vec![
            Val::I64(record.at_ms),
            record.direction.clone().into(),
            record.peer.clone().into(),
            record.acting_person.clone().into(),
            record.purpose.clone().into(),
            record.legal_basis.clone().into(),
            record.outcome.clone().into(),
            record.message_id.clone().into(),
            record.subject_masked.clone().into(),
            match record.log_index {
                Some(i) => Val::I64(i as i64),
                None => Val::NullText,
            },
            Val::I64(commit_index as i64),
        ];
        (INSERT, args)
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
    /// The write that records it, to commit with the exchange it belongs to (the writer
    /// adds its commitment entry in the same transaction).
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
