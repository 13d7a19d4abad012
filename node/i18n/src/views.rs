//! What a person reads of the node's answers (hfx-proto messages), the same in the CLI and
//! the web console: which fields, in which order, formatted how.

use crate::{Catalogue, percent_bp};
use hfx_proto::v1 as pb;

/// Each field of a member answer the purpose returned: (catalogue label id, value). Fields the
/// answer does not carry are left out; personal data is shown as the node masked it.
pub fn member_rows(cat: &Catalogue, m: &pb::MemberView) -> Vec<(&'static str, String)> {
    let money = |f: Option<i64>| f.map(|f| cat.money(f));
    let month = |v: Option<u32>| v.map(|v| cat.month_yyyymm(v));
    let rows: Vec<(&'static str, Option<String>)> = vec![
        ("query-name", m.name_masked.clone()),
        ("query-id-number", m.id_number_masked.clone()),
        ("query-live-account", m.live_account.map(|b| cat.yes_no(b))),
        (
            "query-status",
            m.status.map(|s| cat.account_status(&format!("{s:02}"))),
        ),
        ("query-account-no", m.account_no.clone()),
        (
            "query-opened",
            m.opened_date
                .map(|d| cat.date_yyyymmdd(d))
                .or(month(m.opened_month)),
        ),
        ("query-paid-up-to", month(m.paid_up_to_month)),
        ("query-deposit-base", money(m.deposit_base_fen)),
        (
            "query-rates",
            m.employer_rate_bp
                .zip(m.member_rate_bp)
                .map(|(a, b)| format!("{} / {}", percent_bp(a), percent_bp(b))),
        ),
        ("query-monthly", money(m.monthly_amount_fen)),
        ("query-balance", money(m.balance_fen)),
        (
            "query-continuous",
            m.continuous_start_month
                .zip(m.continuous_end_month)
                .map(|(a, b)| cat.range(&cat.month_yyyymm(a), &cat.month_yyyymm(b))),
        ),
        (
            "query-six-months",
            m.six_consecutive_months.map(|b| cat.yes_no(b)),
        ),
        ("query-frozen", m.frozen.map(|b| cat.yes_no(b))),
        ("query-has-loan", m.has_loan.map(|b| cat.yes_no(b))),
        ("query-loans", m.loan_count.map(|n| n.to_string())),
        ("query-borrowed", money(m.total_borrowed_fen)),
        ("query-outstanding", money(m.outstanding_fen)),
        ("query-employer", m.employer_name.clone()),
    ];
    rows.into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
        .collect()
}

/// A loan's role as the catalogue names it (`cat.loan_role`).
pub fn loan_role(l: &pb::Loan) -> &'static str {
    match l.role() {
        pb::LoanRole::Borrower => "borrower",
        pb::LoanRole::CoBorrower => "co_borrower",
        pb::LoanRole::Unspecified => "unspecified",
    }
}

/// A loan's status as the catalogue names it (`cat.loan_status`).
pub fn loan_status(l: &pb::Loan) -> &'static str {
    match l.status() {
        pb::LoanStatus::Normal => "normal",
        pb::LoanStatus::Overdue => "overdue",
        pb::LoanStatus::Settled => "settled",
        pb::LoanStatus::WrittenOff => "written_off",
        pb::LoanStatus::Unspecified => "unspecified",
    }
}
