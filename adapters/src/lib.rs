//! The canonical member model, identifier checks, the adapter trait every core fund system is
//! reached through (DESIGN.md §6), and the adapters themselves: sqlite, postgres, mariadb (the
//! SQL cores, sharing the one hold/credit state machine in [`hold`]), batchfile and vendorapi.
//! No seeding and no stand-in servers live here: those are dev and test tools (hfx-standins).
//!
//! An adapter never panics on bad data from its core system: it returns an [`AdapterError`]
//! naming the record, and the exchange answers the peer with a clear status.
#![forbid(unsafe_code)]

pub use hfx_model::{ids, model, money, purpose};

pub mod bank;
pub mod batchfile;
pub mod faults;
pub mod hold;
pub mod latency;
pub mod mariadb;
pub mod open;
pub mod postgres;
pub mod settings;
pub mod sql_common;
pub mod sqlite;
mod timing;
pub mod vendorapi;

use model::{Deposit, IdType, Loan, LoanRole, Member, YearMonth};

/// Any lower error kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong talking to a core system.
///
/// A variant that wraps a lower error (a database driver's, an HTTP client's, the file
/// system's) keeps it as its [`source`](std::error::Error::source): its own text (`what`) says
/// what was being done, never carries a secret, and does not repeat the source's text. The
/// source may carry a database's message: log it ([`AdapterError::detail`]), never send it to a
/// peer.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The core system could not be reached (connection, timeout, 5xx). Retrying may help.
    #[error("core system unreachable: {what}")]
    Unavailable {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
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
    /// Any other failure: a database error, a refused configuration, a vendor error.
    #[error("core system error: {what}")]
    Other {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl AdapterError {
    /// [`AdapterError::Unavailable`] with our own text only.
    pub fn unavailable(what: impl Into<String>) -> Self {
        AdapterError::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    /// [`AdapterError::Unavailable`] caused by `source`; `what` says what was being done.
    pub fn unavailable_from(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        AdapterError::Unavailable {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// [`AdapterError::Other`] with our own text only.
    pub fn other(what: impl Into<String>) -> Self {
        AdapterError::Other {
            what: what.into(),
            source: None,
        }
    }

    /// [`AdapterError::Other`] caused by `source`; `what` says what was being done.
    pub fn other_from(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        AdapterError::Other {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, AdapterError::Unavailable { .. })
    }

    /// This error and its sources (`a: b: c`), for an operator's log or self-test. Never for a
    /// peer: a source may carry a database's text.
    pub fn detail(&self) -> String {
        chain(self)
    }
}

/// An error's message followed by its sources' (`a: b: c`). A source whose text its error
/// already ends with (sqlx prints its I/O error, for one) is said once.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut last = out.clone();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !last.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        cur = s.source();
    }
    out
}

impl From<sqlx::Error> for AdapterError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => AdapterError::unavailable_from("database connection", e),
            other => AdapterError::other_from("database", other),
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

/// The self-test's "sample read" detail when the core holds no member: a failure, since a
/// centre that answers peers from an empty core says "not found" to everyone.
pub const EMPTY_CORE: &str = "no members: the core system is empty (a live core has members; \
     in a test zone fill it with `hfx seed --config NODE.toml`)";

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

    /// One page of the ids holding a live (not closed) account, as stored, after `cursor`
    /// (None: from the start; else the `next` of the page before), at most `limit` rows: the
    /// population a duplicate sweep compares (docs/duplicates.md). The caller normalises each
    /// id and drops repeats. An adapter that cannot list its population says so.
    async fn live_ids(&self, cursor: Option<String>, limit: u32) -> Result<LivePage, AdapterError> {
        let _ = (cursor, limit);
        Err(AdapterError::other(format!(
            "the {} adapter cannot list its live population (duplicate sweep)",
            self.kind()
        )))
    }
}

/// A page of [`CoreSystem::live_ids`]: the ids, and where the next page starts (None: this
/// was the last).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivePage {
    pub ids: Vec<(IdType, String)>,
    pub next: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlx_error_is_kept_as_the_source() {
        let e = AdapterError::from(sqlx::Error::PoolTimedOut);
        assert!(e.is_unavailable(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "core system unreachable: database connection"
        );
        let source = std::error::Error::source(&e).expect("a source");
        assert!(matches!(
            source.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ));
        let e = AdapterError::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, AdapterError::Other { .. }), "{e:?}");
        assert!(matches!(
            std::error::Error::source(&e).and_then(|s| s.downcast_ref::<sqlx::Error>()),
            Some(sqlx::Error::RowNotFound)
        ));
    }

    #[test]
    fn detail_says_each_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let e = AdapterError::unavailable_from("outbox/x.res", io);
        assert_eq!(e.to_string(), "core system unreachable: outbox/x.res");
        assert_eq!(
            e.detail(),
            "core system unreachable: outbox/x.res: disk on fire"
        );
        // sqlx prints its I/O error in its own text: said once
        let e = AdapterError::from(sqlx::Error::Io(std::io::Error::other("connection reset")));
        assert_eq!(
            e.detail(),
            "core system unreachable: database connection: error communicating with database: connection reset"
        );
        assert_eq!(
            AdapterError::other("no AJBH").detail(),
            "core system error: no AJBH"
        );
    }
}
