//! The settlement bank: money of a transfer case leaves the origin centre through it (DESIGN.md
//! §4.4), never by a message. The node pays out through [`SettlementBank`]; [`HttpBank`] reaches
//! the bank's HTTP/JSON API (in dev and tests, the stand-in in `hfx-standins::bank`).
//!
//! # The bank's API
//! ```text
//! POST /payout               {"case_id","from_centre","to_centre","amount_fen"}
//!                            -> 200 {"outcome":"paid","bank_ref","amount_fen"}
//!                             | 200 {"outcome":"declined","code","reason"}
//!                            idempotent by case_id: a second call answers the first outcome
//!                            and moves no money; the same case id with other centres or
//!                            another amount is 409 CASE_MISMATCH
//! GET  /payout/{case_id}     -> 200 the outcome | 404 UNKNOWN_CASE
//! POST /deliver/{case_id}    -> 200 {"case_id","state":"delivered"}   idempotent;
//!                               404 UNKNOWN_CASE, 409 NOT_PAID (a declined case)
//! ```
//! Errors are `{"code","message"}` ([`ErrorBody`]). 5xx and 429 are "in doubt, ask again";
//! any other 4xx is a refusal of the request itself.
//!
//! # Client behaviour
//! [`HttpBank`] never retries: the node's driver does, with backoff, reusing the case id. A
//! timeout, a connection failure, a 5xx or a 429 is [`BankError::Unavailable`] (the money may
//! or may not have moved: ask [`SettlementBank::status`] or pay out again with the same case
//! id); a 4xx or an answer that is not the API's is [`BankError::Rejected`].

mod client;

pub use client::HttpBank;

use crate::BoxError;

/// Error codes of the bank's API.
pub const UNKNOWN_CASE: &str = "UNKNOWN_CASE";
pub const CASE_MISMATCH: &str = "CASE_MISMATCH";
pub const NOT_PAID: &str = "NOT_PAID";
pub const BAD_REQUEST: &str = "BAD_REQUEST";
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// One payout: a transfer case's amount, from the origin centre's settlement account into
/// transit to the destination centre.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Payout {
    pub case_id: String,
    pub from_centre: String,
    pub to_centre: String,
    pub amount_fen: i64,
}

/// The bank's final answer to a payout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PayoutOutcome {
    /// The money left the origin's settlement account and is in transit to the destination.
    Paid { bank_ref: String, amount_fen: i64 },
    /// The bank refused the payout for good (no money moved): release the hold.
    Declined { code: String, reason: String },
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// What went wrong talking to the bank.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// In doubt: timeout, connection failure, 5xx (or 429). The money may have moved; the caller
    /// asks again with the same case id.
    #[error("settlement bank unavailable: {detail}")]
    Unavailable {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The bank refused the request itself (4xx other than 429, malformed answer): not
    /// retryable.
    #[error("settlement bank refused the request: {detail}")]
    Rejected { detail: String },
}

impl BankError {
    /// Asking again (same case id) may help.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BankError::Unavailable { .. })
    }

    /// This error and its sources (`a: b: c`), for an operator's log.
    pub fn detail(&self) -> String {
        crate::chain(self)
    }
}

/// The settlement bank as the node sees it.
#[async_trait::async_trait]
pub trait SettlementBank: Send + Sync + 'static {
    /// Pay out `amount_fen` from the origin centre's settlement account into transit to the
    /// destination, idempotent by case id: a second call for the same case answers the first
    /// outcome and moves no money.
    async fn payout(&self, p: &Payout) -> Result<PayoutOutcome, BankError>;
    /// What the bank knows of a case's payout (None: never seen).
    async fn status(&self, case_id: &str) -> Result<Option<PayoutOutcome>, BankError>;
    /// The destination has credited the member: transit for the case is delivered to the
    /// destination. Idempotent.
    async fn deliver(&self, case_id: &str) -> Result<(), BankError>;
}

#[cfg(test)]
mod tests;
