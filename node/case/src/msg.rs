//! What the two sides of a case tell each other (the node maps these onto the wire contract,
//! `hfx.v1.TransferExchange`), and the events a case reacts to.

use crate::status::Status;
use serde::{Deserialize, Serialize};

/// A person as the letter names them: id type code (A.1, e.g. "01"), id number, name. Kept
/// in the node's own store with the case; never logged unmasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id_type: String,
    pub id_number: String,
    pub name: String,
}

/// The contact letter (联系函), as the destination sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    /// Destination's 6-digit prefix + YYMMDD + 4-digit sequence.
    pub letter_no: String,
    pub person: Person,
    pub destination_account_no: String,
    pub destination_centre: String,
    pub origin_centre: String,
    /// YYYYMMDD.
    pub applied_date: u32,
    /// Unix ms by which the origin must have the letter; past it, an origin that never saw
    /// the case writes a tombstone when asked (DESIGN §4 rule 4).
    pub deadline_ms: i64,
}

/// One posting of the carried deposit history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// YYYYMMDD.
    pub date: u32,
    pub business_type: String,
    pub amount_fen: i64,
    pub interest_fen: i64,
    /// YYYYMM.
    pub for_month: u32,
}

/// The transfer-out record (DOMAIN §4.1 step 3), with the month-by-month history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub amount_fen: i64,
    pub principal_fen: i64,
    pub interest_fen: i64,
    pub opened_month: u32,
    pub paid_up_to_month: u32,
    pub six_consecutive_months: bool,
    pub loans_used: u32,
    pub unsettled_loan: bool,
    pub fraud_flag: bool,
    pub history: Vec<Posting>,
}

/// A refusal: a stable code and words for the clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub reason: String,
}

impl Refusal {
    pub fn new(code: &str, reason: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            reason: reason.into(),
        }
    }
}

/// The origin's refusal codes.
pub mod refusal {
    /// No account for this id type and number.
    pub const NO_ACCOUNT: &str = "ORIGIN_NO_ACCOUNT";
    /// The name does not match the account's.
    pub const NAME_MISMATCH: &str = "ORIGIN_NAME_MISMATCH";
    /// The account is closed (03, 04, 05).
    pub const ACCOUNT_CLOSED: &str = "ORIGIN_ACCOUNT_CLOSED";
    /// The account is frozen (06).
    pub const ACCOUNT_FROZEN: &str = "ORIGIN_ACCOUNT_FROZEN";
    /// Another case for this person and business type is in flight here.
    pub const CASE_IN_FLIGHT: &str = "ORIGIN_CASE_IN_FLIGHT";
    /// The core system would not hold the balance.
    pub const HOLD_REFUSED: &str = "ORIGIN_HOLD_REFUSED";
    /// The letter is malformed (names another centre, bad id).
    pub const BAD_LETTER: &str = "ORIGIN_BAD_LETTER";
}

/// A payment notice: the bank paid (reference, amount), or the payout failed (reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub paid: bool,
    pub bank_ref: String,
    pub amount_fen: i64,
    pub reason: String,
}

/// A message between the two sides of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// D → O.
    Letter(Letter),
    /// D → O: cancel a letter the origin has not accepted.
    Cancel { reason: String },
    /// O → D.
    TransferOut(TransferRecord),
    /// O → D.
    Refusal(Refusal),
    /// O → D.
    Payment(Payment),
    /// D → O: credited (办结), or a negotiation opened (credited false, with its reason).
    Completion {
        credited: bool,
        /// The credit settled a negotiation (status 20, not 00).
        negotiated: bool,
        negotiation_reason: String,
        credited_fen: i64,
    },
}

/// The kind of a message, as an outbox row and an answer name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsgKind {
    Letter,
    Cancel,
    TransferOut,
    Refusal,
    Payment,
    Completion,
}

impl MsgKind {
    pub const ALL: [MsgKind; 6] = [
        MsgKind::Letter,
        MsgKind::Cancel,
        MsgKind::TransferOut,
        MsgKind::Refusal,
        MsgKind::Payment,
        MsgKind::Completion,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MsgKind::Letter => "letter",
            MsgKind::Cancel => "cancel",
            MsgKind::TransferOut => "transfer_out",
            MsgKind::Refusal => "refusal",
            MsgKind::Payment => "payment",
            MsgKind::Completion => "completion",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl Msg {
    pub fn kind(&self) -> MsgKind {
        match self {
            Msg::Letter(_) => MsgKind::Letter,
            Msg::Cancel { .. } => MsgKind::Cancel,
            Msg::TransferOut(_) => MsgKind::TransferOut,
            Msg::Refusal(_) => MsgKind::Refusal,
            Msg::Payment(_) => MsgKind::Payment,
            Msg::Completion { .. } => MsgKind::Completion,
        }
    }
}

/// What the bank answered a payout (the node maps its bank client's outcome onto this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankAnswer {
    Paid { bank_ref: String, amount_fen: i64 },
    Declined { code: String, reason: String },
}

/// What the origin's check found: the account the letter names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFound {
    pub account_no: String,
}

/// Everything a case reacts to. Results of actions ([`crate::Action`]) come back as events;
/// an action that failed in doubt (timeout, core system or bank unreachable) produces no
/// event: the driver retries the same action, which is idempotent by case id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The other side's message.
    Received(Msg),
    /// The other side's answer to one of our messages: its status after handling it.
    Acked { kind: MsgKind, status: Status },
    /// O: the check of the letter.
    Checked(Result<AccountFound, Refusal>),
    /// O: the core system holds the balance; the record is what will be sent.
    Reserved(TransferRecord),
    /// O: the core system refused the hold (the account changed since the check).
    HoldRefused(Refusal),
    /// O: the bank's final answer to the payout.
    Bank(BankAnswer),
    /// O: the account is closed out.
    ClosedOut,
    /// O: the hold is released, the account reopened.
    Released,
    /// D: the member's account is credited (business type 08, with the history).
    Credited,
    /// D: the bank delivered the transit to this centre.
    Delivered,
    /// D: the origin's answer to `QueryCase`. `known` false never comes back: an origin
    /// past the deadline answers with a tombstone (`Expired`), before it, "not yet".
    PeerState { status: Status },
    /// D's clerk: cancel (allowed only before the origin accepts).
    ClerkCancel { reason: String },
    /// D's clerk: settle a negotiation by accepting the amount paid.
    ClerkAccept,
}
