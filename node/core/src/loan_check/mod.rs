//! Loan checks (贷款核查, DOMAIN.md §4.2, docs/loan_check.md): for one person, every centre's
//! loans where the person is borrower or co-borrower, asked of all centres at once.
//!
//! - [`ask`]: the clerk's side (`Clerk/LoanCheck`). The node asks every other centre of the
//!   directory at once under one deadline; each peer call inherits what is left of it (the
//!   `grpc-timeout` header and the request's `remaining_ms`). The combined answer names, for
//!   every centre, whether it answered and, if not, why (down, slow, refused, failed): a
//!   centre that did not answer is never "no loans".
//! - [`answer`]: a peer's side (`MemberExchange/LoanCheck`). Admitted, validated, logged and
//!   recorded as a member query is (the same code, [`crate::member`]), under the asker's
//!   deadline ([`deadline`]): past it the peer gives up and records that it did.

pub mod answer;
pub mod ask;
pub mod deadline;

pub use answer::answer;
pub use ask::check;

use hfx_adapters::PersonLoan;
use hfx_adapters::model::{LoanRole, LoanStatus, date_to_u32};
use hfx_proto::v1 as pb;

/// The method the exchange log names for a loan check (`<method>#request`, `#reply`).
pub use hfx_tlog::methods::METHOD_LOAN_CHECK;

/// The deadline of a check whose request gives none, milliseconds.
pub const DEFAULT_DEADLINE_MS: u32 = 3_000;
/// The shortest deadline a clerk may ask for, milliseconds.
pub const MIN_DEADLINE_MS: u32 = 50;

/// One loan as the loan check's answer carries it: the person's role in it, contract,
/// amounts in fen, dates `YYYYMMDD`, overdue state. Not the loan account number.
pub fn loan_to_pb(centre: &str, l: &PersonLoan) -> pb::Loan {
    let role = match l.role {
        LoanRole::Borrower => pb::LoanRole::Borrower,
        LoanRole::CoBorrower => pb::LoanRole::CoBorrower,
    };
    let status = match l.loan.status {
        LoanStatus::Normal => pb::LoanStatus::Normal,
        LoanStatus::Overdue => pb::LoanStatus::Overdue,
        LoanStatus::Settled => pb::LoanStatus::Settled,
        LoanStatus::WrittenOff => pb::LoanStatus::WrittenOff,
    };
    pb::Loan {
        centre: centre.to_string(),
        contract_no: l.loan.contract_no.clone(),
        role: role as i32,
        contract_amount_fen: l.loan.contract_amount_fen,
        issued_date: date_to_u32(l.loan.issued_on),
        outstanding_fen: l.loan.outstanding_fen,
        overdue_principal_fen: l.loan.overdue_principal_fen,
        overdue_periods: l.loan.overdue_periods,
        settled_date: l.loan.settled_on.map(date_to_u32),
        status: status as i32,
    }
}

/// The words of an outcome, for logs and the CLI.
pub fn outcome_name(o: pb::LoanCheckOutcome) -> &'static str {
    match o {
        pb::LoanCheckOutcome::Answered => "answered",
        pb::LoanCheckOutcome::Down => "down",
        pb::LoanCheckOutcome::Slow => "slow",
        pb::LoanCheckOutcome::Refused => "refused",
        pb::LoanCheckOutcome::Failed => "failed",
        pb::LoanCheckOutcome::Unspecified => "unspecified",
    }
}
