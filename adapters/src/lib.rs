//! The canonical member model, identifier checks, the adapter trait every core fund system is
//! reached through (DESIGN.md §6), and the adapters themselves: sqlite, postgres, mariadb (the
//! SQL cores, sharing the one hold/credit state machine in [`hold`]), batchfile and vendorapi.
//! No seeding and no stand-in servers live here: those are dev and test tools (hfx-standins).
//!
//! An adapter never panics on bad data from its core system: it returns an [`AdapterError`]
//! naming the record, and the exchange answers the peer with a clear status.
#![forbid(unsafe_code)]

pub use hfx_model::{ids, model, money};

pub mod batchfile;
pub mod hold;
pub mod mariadb;
pub mod open;
pub mod postgres;
pub mod settings;
pub mod sqlite;
mod timing;
pub mod vendorapi;

use model::{Deposit, IdType, Loan, LoanRole, Member, YearMonth};

/// What went wrong talking to a core system.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The core system could not be reached (connection, timeout, 5xx). Retrying may help.
    #[error("core system unreachable: {0}")]
    Unavailable(String),
    /// A record in the core system is not valid: names the record and what is wrong.
    #[error("bad record {record}: {detail}")]
    BadRecord { record: String, detail: String },
    /// A vendor code with no mapping onto the canonical code tables.
    #[error("unknown {table} code {code:?} in record {record}")]
    UnknownCode {
        table: &'static str,
        code: String,
        record: String,
    },
    /// The requested write conflicts with the account's state (e.g. reserve on a frozen account).
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A transfer case's hold record is in a state the hold state machine does not know
    /// (neither held, released nor closed): every write of the case is refused.
    #[error("the hold of case {case_id} is in unknown state {state:?}")]
    UnknownHoldState { case_id: String, state: String },
    #[error("core system error: {0}")]
    Other(String),
}

impl AdapterError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AdapterError::Unavailable(_))
    }
}

impl From<sqlx::Error> for AdapterError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => AdapterError::Unavailable(e.to_string()),
            other => AdapterError::Other(other.to_string()),
        }
    }
}

/// A loan with the role the asked-about person plays in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonLoan {
    pub role: LoanRole,
    pub loan: Loan,
}

/// The balance a transfer case has sealed in the origin's core system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub case_id: String,
    pub account_no: String,
    pub principal_fen: i64,
    pub interest_fen: i64,
}

impl Reservation {
    pub fn amount_fen(&self) -> i64 {
        self.principal_fen + self.interest_fen
    }
}

/// One line of an operator's adapter self-test.
#[derive(Debug, Clone)]
pub struct CheckItem {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// The only code that touches a centre's core fund system. Writes are idempotent by case id:
/// calling `credit_in` twice for one case credits once.
#[async_trait::async_trait]
pub trait CoreSystem: Send + Sync + 'static {
    /// The system kind (postgres, mariadb, sqlite, batchfile, vendorapi).
    fn kind(&self) -> &'static str;

    /// The member with this id (type + number), if any. The number is already validated and
    /// normalised (upper-case, 18 chars for resident ids).
    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError>;

    /// Postings of an account for months `from..=to`, oldest first.
    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError>;

    /// Loans where the person is borrower or co-borrower.
    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError>;

    /// Seal the account and hold its whole balance for a transfer case.
    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError>;
    /// Undo a reservation: the account returns to its previous status, balance untouched.
    async fn release(&self, case_id: &str) -> Result<(), AdapterError>;
    /// After payment is confirmed: status 04, balance 0, close reason 07.
    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError>;
    /// Credit a transferred-in amount (business type 08) with the carried history.
    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError>;

    /// Operator self-test: connectivity, schema, code tables, a sample read.
    async fn check(&self) -> Vec<CheckItem>;
}

/// Find a member by id and check the name (DOMAIN.md §4.1: id type + number + name).
pub async fn find_member(
    core: &dyn CoreSystem,
    id_type: IdType,
    id_number: &str,
    name: &str,
) -> Result<MemberMatch, AdapterError> {
    match core.member_by_id(id_type, id_number).await? {
        None => Ok(MemberMatch::NotFound),
        Some(m) if m.name.trim() != name.trim() => Ok(MemberMatch::NameMismatch),
        Some(m) => Ok(MemberMatch::Found(Box::new(m))),
    }
}

#[derive(Debug)]
pub enum MemberMatch {
    Found(Box<Member>),
    NotFound,
    NameMismatch,
}
