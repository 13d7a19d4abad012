//! The vendor API's wire: its code tables, the JSON shapes of its answers (DTOs) and their mapping
//! onto the canonical model. Both the client here and the stand-in server (hfx-standins) use it.

use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRole, LoanStatus, Member, Sex, YearMonth,
    business_type,
};
use crate::money::{format_yuan, parse_yuan};
use crate::{AdapterError, PersonLoan};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

/// Vendor id type codes (the portals' GB/T-style codes) and the canonical A.1 type.
pub const ID_TYPES: [(&str, IdType); 5] = [
    ("111", IdType::ResidentId),
    ("114", IdType::OfficerId),
    ("414", IdType::Passport),
    ("553", IdType::ForeignPermanent),
    ("990", IdType::Other),
];

/// Vendor account status codes and the canonical A.6 status.
pub const ACCOUNT_STATUSES: [(&str, AccountStatus); 7] = [
    ("ACTV", AccountStatus::Normal),
    ("SEAL", AccountStatus::Sealed),
    ("CLMG", AccountStatus::ClosedMerged),
    ("CLTO", AccountStatus::ClosedTransferred),
    ("CLWD", AccountStatus::ClosedWithdrawn),
    ("FRZN", AccountStatus::Frozen),
    ("OTHR", AccountStatus::Other),
];

/// Vendor transaction types and the canonical business type code.
pub const TXN_TYPES: [(&str, &str); 16] = [
    ("REMIT", business_type::REMITTANCE),
    ("BACKPAY", business_type::BACK_PAYMENT),
    ("OPEN", business_type::OPEN),
    ("UNSEAL", business_type::UNSEAL),
    ("SEAL", business_type::SEAL),
    ("INTRA_TRF", business_type::INTERNAL_TRANSFER),
    ("TRF_OUT", business_type::TRANSFER_OUT),
    ("TRF_IN", business_type::TRANSFER_IN),
    ("INTEREST", business_type::INTEREST),
    ("BASE_ADJ", business_type::BASE_ADJUST),
    ("PART_WDL", business_type::PARTIAL_WITHDRAWAL),
    ("CLOSE_WDL", business_type::CLOSING_WITHDRAWAL),
    ("DEFER", business_type::DEFERRAL),
    ("FREEZE", business_type::FREEZE),
    ("UNFREEZE", business_type::UNFREEZE),
    ("OTHER", business_type::OTHER),
];

/// Vendor loan status codes, normalised.
pub const LOAN_STATUSES: [(&str, LoanStatus); 4] = [
    ("CURRENT", LoanStatus::Normal),
    ("DELINQUENT", LoanStatus::Overdue),
    ("PAID_OFF", LoanStatus::Settled),
    ("WRITTEN_OFF", LoanStatus::WrittenOff),
];

/// The vendor's error codes, their HTTP status and meaning.
pub const VENDOR_ERRORS: [(&str, u16, &str); 13] = [
    ("E1001", 401, "access token missing, invalid or expired"),
    ("E1002", 401, "invalid client credentials"),
    ("E2001", 404, "account or member not found"),
    ("E2002", 400, "invalid request parameter"),
    ("E3001", 409, "account status does not allow the operation"),
    ("E3002", 409, "account already held by another case"),
    (
        "E3003",
        409,
        "case is in a state that does not allow the operation",
    ),
    ("E3004", 404, "no reservation for the case"),
    (
        "E3005",
        409,
        "the case's hold is in a state the core does not know (the error carries caseId and state)",
    ),
    ("E4001", 422, "record in the core is invalid"),
    ("E4290", 429, "too many requests"),
    ("E5000", 500, "internal error"),
    ("E5030", 503, "service temporarily unavailable"),
];

/// Attempts per API request (the first and the retries).
pub const MAX_ATTEMPTS: u32 = 6;

// ---------------------------------------------------------------------------------------------
// Small helpers shared by client and server
// ---------------------------------------------------------------------------------------------

/// Percent-encode everything but RFC 3986 unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn month_dash(m: YearMonth) -> String {
    format!("{:04}-{:02}", m.year, m.month)
}

pub fn lookup<T: Copy>(table: &[(&'static str, T)], code: &str) -> Option<T> {
    table.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

pub fn vendor_code_of<T: PartialEq + Copy>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, t)| *t == v).map_or("", |(c, _)| c)
}

// ---------------------------------------------------------------------------------------------
// The client: wire types
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDto {
    pub items: Vec<Value>,
    pub page: u32,
    pub total_pages: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployerDto {
    pub unit_acct_no: String,
    pub unit_name: Option<String>,
    pub credit_code: Option<String>,
    pub unit_rate_pct: Option<String>,
    pub personal_rate_pct: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    pub acct_no: String,
    pub cust_name: String,
    pub id_type: String,
    pub id_no: String,
    pub gender: String,
    pub birth_date: String,
    pub mobile: Option<String>,
    pub employer: EmployerDto,
    pub deposit_base: String,
    pub personal_monthly: String,
    pub unit_monthly: String,
    pub balance: String,
    pub prior_year_balance: String,
    pub current_year_deposits: String,
    pub acct_status: String,
    pub open_date: String,
    pub close_date: Option<String>,
    pub close_reason_code: Option<String>,
    pub paid_through: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxnDto {
    pub txn_date: String,
    pub txn_type: String,
    pub amount: String,
    pub interest: String,
    pub period: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoanDto {
    pub contract_no: String,
    pub loan_acct_no: String,
    pub role: String,
    pub contract_amount: String,
    pub disburse_date: String,
    pub principal_balance: String,
    pub overdue_principal: String,
    pub overdue_terms: u32,
    pub payoff_date: Option<String>,
    pub loan_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDto {
    pub case_id: String,
    pub acct_no: String,
    pub held_principal: String,
    pub held_interest: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditDto {
    pub acct_no: String,
    pub amount: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenDto {
    pub access_token: String,
    pub expires_in: u64,
}

#[derive(Debug, Deserialize)]
pub struct ErrorDto {
    pub code: String,
    pub message: Option<String>,
    /// E3005: the case and the hold state the core found.
    #[serde(rename = "caseId", default)]
    pub case_id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

pub fn bad(record: &str, detail: impl ToString) -> AdapterError {
    AdapterError::BadRecord {
        record: record.to_string(),
        detail: detail.to_string(),
    }
}

pub fn w_money(record: &str, field: &str, s: &str) -> Result<i64, AdapterError> {
    parse_yuan(s).ok_or_else(|| bad(record, format!("{field} {s:?} is not a yuan amount")))
}

pub fn w_date(record: &str, field: &str, s: &str) -> Result<NaiveDate, AdapterError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| bad(record, format!("{field} {s:?} is not a real date")))
}

pub fn w_month(record: &str, field: &str, s: &str) -> Result<YearMonth, AdapterError> {
    let parsed = s
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .and_then(|(y, m)| YearMonth::new(y, m));
    parsed.ok_or_else(|| bad(record, format!("{field} {s:?} is not a YYYY-MM month")))
}

pub fn w_rate(record: &str, field: &str, s: Option<&str>) -> Result<u32, AdapterError> {
    match s {
        None => Ok(0),
        Some(s) => parse_yuan(s)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad(record, format!("{field} {s:?} is not a percent rate"))),
    }
}

/// Decode one item of a page, naming the record by `key` (read from the raw JSON) on failure.
pub fn item<T: for<'de> Deserialize<'de>>(
    v: Value,
    what: &str,
    key: &str,
) -> Result<T, AdapterError> {
    let name = match v.get(key).and_then(Value::as_str) {
        Some(k) => format!("{what} {k}"),
        None => format!("{what} (no {key})"),
    };
    serde_json::from_value(v).map_err(|e| bad(&name, e))
}

pub fn member_of(d: MemberDto) -> Result<Member, AdapterError> {
    let r = format!("member account {}", d.acct_no);
    let r = r.as_str();
    let unknown = |table: &'static str, code: &str| AdapterError::UnknownCode {
        table,
        code: code.into(),
        record: r.into(),
    };
    let id_type =
        lookup(&ID_TYPES, &d.id_type).ok_or_else(|| unknown("vendor idType", &d.id_type))?;
    let status = lookup(&ACCOUNT_STATUSES, &d.acct_status)
        .ok_or_else(|| unknown("vendor acctStatus", &d.acct_status))?;
    let sex = match d.gender.as_str() {
        "M" => Sex::Male,
        "F" => Sex::Female,
        other => return Err(unknown("vendor gender", other)),
    };
    let id_number = if id_type == IdType::ResidentId {
        crate::ids::validate_resident_id("idNo", &d.id_no).map_err(|e| bad(r, e))?
    } else {
        d.id_no.clone()
    };
    Ok(Member {
        account_no: d.acct_no.clone(),
        name: d.cust_name,
        id_type,
        id_number,
        sex,
        birth_date: w_date(r, "birthDate", &d.birth_date)?,
        phone: d.mobile.unwrap_or_default(),
        employer: Employer {
            account_no: d.employer.unit_acct_no,
            name: d.employer.unit_name.unwrap_or_default(),
            uscc: d.employer.credit_code.unwrap_or_default(),
            employer_rate_bp: w_rate(r, "unitRatePct", d.employer.unit_rate_pct.as_deref())?,
            member_rate_bp: w_rate(
                r,
                "personalRatePct",
                d.employer.personal_rate_pct.as_deref(),
            )?,
        },
        deposit_base_fen: w_money(r, "depositBase", &d.deposit_base)?,
        member_monthly_fen: w_money(r, "personalMonthly", &d.personal_monthly)?,
        employer_monthly_fen: w_money(r, "unitMonthly", &d.unit_monthly)?,
        balance_fen: w_money(r, "balance", &d.balance)?,
        carried_over_fen: w_money(r, "priorYearBalance", &d.prior_year_balance)?,
        this_year_fen: w_money(r, "currentYearDeposits", &d.current_year_deposits)?,
        status,
        opened_on: w_date(r, "openDate", &d.open_date)?,
        closed_on: d
            .close_date
            .as_deref()
            .map(|s| w_date(r, "closeDate", s))
            .transpose()?,
        close_reason: d.close_reason_code.filter(|s| !s.is_empty()),
        paid_up_to: w_month(r, "paidThrough", &d.paid_through)?,
    })
}

pub fn deposit_of(d: TxnDto, record: &str) -> Result<Deposit, AdapterError> {
    let ty = lookup(&TXN_TYPES, &d.txn_type).ok_or_else(|| AdapterError::UnknownCode {
        table: "vendor txnType",
        code: d.txn_type.clone(),
        record: record.into(),
    })?;
    Ok(Deposit {
        date: w_date(record, "txnDate", &d.txn_date)?,
        business_type: ty.to_string(),
        amount_fen: w_money(record, "amount", &d.amount)?,
        interest_fen: w_money(record, "interest", &d.interest)?,
        for_month: w_month(record, "period", &d.period)?,
    })
}

pub fn loan_of(d: LoanDto) -> Result<PersonLoan, AdapterError> {
    let r = format!("loan contract {}", d.contract_no);
    let r = r.as_str();
    let role = match d.role.as_str() {
        "PRIMARY" => LoanRole::Borrower,
        "CO" => LoanRole::CoBorrower,
        other => {
            return Err(AdapterError::UnknownCode {
                table: "vendor loan role",
                code: other.into(),
                record: r.into(),
            });
        }
    };
    let status =
        lookup(&LOAN_STATUSES, &d.loan_status).ok_or_else(|| AdapterError::UnknownCode {
            table: "vendor loanStatus",
            code: d.loan_status.clone(),
            record: r.into(),
        })?;
    Ok(PersonLoan {
        role,
        loan: Loan {
            contract_no: d.contract_no.clone(),
            loan_account: d.loan_acct_no,
            role,
            contract_amount_fen: w_money(r, "contractAmount", &d.contract_amount)?,
            issued_on: w_date(r, "disburseDate", &d.disburse_date)?,
            outstanding_fen: w_money(r, "principalBalance", &d.principal_balance)?,
            overdue_principal_fen: w_money(r, "overduePrincipal", &d.overdue_principal)?,
            overdue_periods: d.overdue_terms,
            settled_on: d
                .payoff_date
                .as_deref()
                .map(|s| w_date(r, "payoffDate", s))
                .transpose()?,
            status,
        },
    })
}

pub fn txn_json(d: &Deposit) -> Value {
    json!({
        "txnDate": d.date.format("%Y-%m-%d").to_string(),
        "txnType": TXN_TYPES.iter().find(|(_, c)| *c == d.business_type).map_or("OTHER", |(v, _)| v),
        "amount": format_yuan(d.amount_fen),
        "interest": format_yuan(d.interest_fen),
        "period": month_dash(d.for_month),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_tables_cover_the_canonical_ones() {
        for s in AccountStatus::ALL {
            assert!(!vendor_code_of(&ACCOUNT_STATUSES, s).is_empty());
        }
        assert_eq!(business_type::ALL.len(), TXN_TYPES.len());
    }

    #[test]
    fn months_and_encoding() {
        assert_eq!(w_month("r", "m", "2026-10").ok(), YearMonth::new(2026, 10));
        assert!(w_month("r", "m", "202610").is_err());
        assert_eq!(enc("a b/é"), "a%20b%2F%C3%A9");
    }
}
