//! The vendor core: a core fund system reachable only through its vendor's HTTP/JSON API.
//!
//! # The vendor's API (v2), as the stand-in [`VendorApiServer`] serves it
//! ```text
//! POST /oauth/token                                   form: grant_type=client_credentials, client_id, client_secret
//!                                                     -> {"access_token","token_type":"Bearer","expires_in"}
//! GET  /api/v2/health                                 -> {"status":"UP","version"}            (no token)
//! GET  /api/v2/codes                                  -> the vendor's code lists (and codes in use)
//! GET  /api/v2/members?idType=&idNo=&page=&pageSize=  -> page of members
//! GET  /api/v2/accounts/{acctNo}/transactions?from=YYYY-MM&to=YYYY-MM&page=&pageSize=
//! GET  /api/v2/loans?idType=&idNo=&page=&pageSize=    -> page of loans (borrower or co-borrower)
//! POST /api/v2/transfers/{caseId}/reserve|release|close|credit   idempotent by caseId
//! POST /admin/seed, GET /admin/stats                  the stand-in's bulk load and counts
//! ```
//! A page is `{"items":[…],"page":1,"pageSize":20,"total":57,"totalPages":3}`. Money is a decimal
//! string of yuan (`"1234.56"`, never a JSON number); dates `YYYY-MM-DD`, months `YYYY-MM`; rates
//! are percent strings (`"12.00"`). Errors are `{"code":"E3001","message":"…"}` with the vendor's
//! codes ([`VENDOR_ERRORS`]); 429 carries `Retry-After` (seconds); 5xx happens.
//!
//! # Code tables (vendor → canonical)
//! id type [`ID_TYPES`] (the government-service portal codes: 111 居民身份证 …), account status
//! [`ACCOUNT_STATUSES`] (`ACTV`, `SEAL`, …), transaction type [`TXN_TYPES`], loan status
//! [`LOAN_STATUSES`], gender `M`/`F`, loan role `PRIMARY`/`CO`. A code missing from a table is an
//! [`AdapterError::UnknownCode`] naming the record.
//!
//! # Client behaviour
//! A bearer token is fetched on first use and again when it expires or the API answers 401. 5xx
//! and transport errors are retried with exponential backoff, 429 after its `Retry-After`; all of
//! it bounded by `adapter.timeout_ms` per API request and [`MAX_ATTEMPTS`], after which the call is
//! [`AdapterError::Unavailable`]. Pages are followed to the end.

use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRole, LoanStatus, Member, Sex, YearMonth,
    business_type,
};
use crate::money::{format_yuan, parse_yuan};
use crate::open::AdapterSettings;
use crate::seed::SeedOptions;
use crate::sqlite::SqliteCore;
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
pub const VENDOR_ERRORS: [(&str, u16, &str); 12] = [
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
    ("E4001", 422, "record in the core is invalid"),
    ("E4290", 429, "too many requests"),
    ("E5000", 500, "internal error"),
    ("E5030", 503, "service temporarily unavailable"),
];

/// Attempts per API request (the first and the retries).
pub const MAX_ATTEMPTS: u32 = 6;
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1_600);
/// The longest `Retry-After` honoured; a longer one makes the call Unavailable at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const PAGE_SIZE: u32 = 100;
const MAX_PAGES: u32 = 100_000;
const MAX_BODY: usize = 32 << 20;
const SEED_CHUNK: u64 = 5_000;

pub const STANDIN_CLIENT_ID: &str = "hfx-exchange";
pub const STANDIN_CLIENT_SECRET: &str = "standin-secret";

// ---------------------------------------------------------------------------------------------
// Small helpers shared by client and server
// ---------------------------------------------------------------------------------------------

/// Percent-encode everything but RFC 3986 unreserved characters.
fn enc(s: &str) -> String {
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

fn query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn month_dash(m: YearMonth) -> String {
    format!("{:04}-{:02}", m.year, m.month)
}

fn lookup<T: Copy>(table: &[(&'static str, T)], code: &str) -> Option<T> {
    table.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

fn vendor_code_of<T: PartialEq + Copy>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|(_, t)| *t == v).map_or("", |(c, _)| c)
}

// ---------------------------------------------------------------------------------------------
// The client: wire types
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageDto {
    items: Vec<Value>,
    page: u32,
    total_pages: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmployerDto {
    unit_acct_no: String,
    unit_name: Option<String>,
    credit_code: Option<String>,
    unit_rate_pct: Option<String>,
    personal_rate_pct: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberDto {
    acct_no: String,
    cust_name: String,
    id_type: String,
    id_no: String,
    gender: String,
    birth_date: String,
    mobile: Option<String>,
    employer: EmployerDto,
    deposit_base: String,
    personal_monthly: String,
    unit_monthly: String,
    balance: String,
    prior_year_balance: String,
    current_year_deposits: String,
    acct_status: String,
    open_date: String,
    close_date: Option<String>,
    close_reason_code: Option<String>,
    paid_through: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TxnDto {
    txn_date: String,
    txn_type: String,
    amount: String,
    interest: String,
    period: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoanDto {
    contract_no: String,
    loan_acct_no: String,
    role: String,
    contract_amount: String,
    disburse_date: String,
    principal_balance: String,
    overdue_principal: String,
    overdue_terms: u32,
    payoff_date: Option<String>,
    loan_status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationDto {
    case_id: String,
    acct_no: String,
    held_principal: String,
    held_interest: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreditDto {
    acct_no: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
struct TokenDto {
    access_token: String,
    expires_in: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorDto {
    code: String,
    message: Option<String>,
}

fn bad(record: &str, detail: impl ToString) -> AdapterError {
    AdapterError::BadRecord {
        record: record.to_string(),
        detail: detail.to_string(),
    }
}

fn w_money(record: &str, field: &str, s: &str) -> Result<i64, AdapterError> {
    parse_yuan(s).ok_or_else(|| bad(record, format!("{field} {s:?} is not a yuan amount")))
}

fn w_date(record: &str, field: &str, s: &str) -> Result<NaiveDate, AdapterError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| bad(record, format!("{field} {s:?} is not a real date")))
}

fn w_month(record: &str, field: &str, s: &str) -> Result<YearMonth, AdapterError> {
    let parsed = s
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .and_then(|(y, m)| YearMonth::new(y, m));
    parsed.ok_or_else(|| bad(record, format!("{field} {s:?} is not a YYYY-MM month")))
}

fn w_rate(record: &str, field: &str, s: Option<&str>) -> Result<u32, AdapterError> {
    match s {
        None => Ok(0),
        Some(s) => parse_yuan(s)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad(record, format!("{field} {s:?} is not a percent rate"))),
    }
}

/// Decode one item of a page, naming the record by `key` (read from the raw JSON) on failure.
fn item<T: for<'de> Deserialize<'de>>(v: Value, what: &str, key: &str) -> Result<T, AdapterError> {
    let name = match v.get(key).and_then(Value::as_str) {
        Some(k) => format!("{what} {k}"),
        None => format!("{what} (no {key})"),
    };
    serde_json::from_value(v).map_err(|e| bad(&name, e))
}

fn member_of(d: MemberDto) -> Result<Member, AdapterError> {
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

fn deposit_of(d: TxnDto, record: &str) -> Result<Deposit, AdapterError> {
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

fn loan_of(d: LoanDto) -> Result<PersonLoan, AdapterError> {
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

fn txn_json(d: &Deposit) -> Value {
    json!({
        "txnDate": d.date.format("%Y-%m-%d").to_string(),
        "txnType": TXN_TYPES.iter().find(|(_, c)| *c == d.business_type).map_or("OTHER", |(v, _)| v),
        "amount": format_yuan(d.amount_fen),
        "interest": format_yuan(d.interest_fen),
        "period": month_dash(d.for_month),
    })
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

struct Token {
    value: String,
    good_until: Instant,
}

enum Attempt {
    Answer(StatusCode, HeaderMap, Bytes),
    Transport(String),
    TimedOut,
}

/// The vendor core's adapter: the vendor's HTTP/JSON API, mapped onto the canonical model.
pub struct VendorApiCore {
    base: String,
    client_id: String,
    client_secret: String,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl VendorApiCore {
    /// A client for the API at `base_url` (`http://host:port`). Nothing is sent until the first
    /// call, so a node starts while the vendor is down; [`CoreSystem::check`] tells.
    pub fn open(
        base_url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Option<Duration>,
    ) -> Result<Self, AdapterError> {
        let base = base_url.trim_end_matches('/').to_string();
        let uri: axum::http::Uri = base.parse().map_err(|e| {
            AdapterError::Other(format!("adapter.url {base_url:?} is not a URL: {e}"))
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(AdapterError::Other(format!(
                    "adapter.url {base_url:?}: https is not supported by this build's vendor API client (put a TLS-terminating proxy on the loopback)"
                )));
            }
            _ => {
                return Err(AdapterError::Other(format!(
                    "adapter.url {base_url:?} must start with http://"
                )));
            }
        }
        if uri.host().is_none() {
            return Err(AdapterError::Other(format!(
                "adapter.url {base_url:?} has no host"
            )));
        }
        if client_id.is_empty() || client_secret.is_empty() {
            return Err(AdapterError::Other(
                "adapter.client_id and adapter.client_secret must not be empty".into(),
            ));
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.enforce_http(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Ok(Self {
            base,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            http,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Seed members `start..start+count` of the deterministic population through the API's
    /// bulk endpoint, in chunks; `progress(done)` after each.
    pub async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), AdapterError> {
        let timeout = self.timeout.max(Duration::from_secs(600));
        let mut done = 0;
        while done < count {
            let n = SEED_CHUNK.min(count - done);
            let body = json!({
                "centre": centre, "seed": opts.seed, "historyMonths": opts.history_months,
                "employers": opts.employers, "start": start + done, "count": n,
            });
            self.send(
                Method::POST,
                "/admin/seed",
                Some(body.to_string().into_bytes()),
                true,
                timeout,
            )
            .await?;
            done += n;
            progress(done);
        }
        Ok(())
    }

    /// Members the vendor's core holds.
    pub async fn member_count(&self) -> Result<u64, AdapterError> {
        let v = self.json(Method::GET, "/admin/stats", None).await?;
        v.get("members")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("GET /admin/stats", "no members count"))
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AdapterError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let bytes = self
            .send(
                method,
                path,
                body.map(|b| b.to_string().into_bytes()),
                true,
                self.timeout,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad(&what, format!("answer is not JSON: {e}")))
    }

    /// GET every page of `path?query`, in order.
    async fn all_pages(
        &self,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<Vec<Value>, AdapterError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let mut pq = q.to_vec();
            pq.push(("page", page.to_string()));
            pq.push(("pageSize", PAGE_SIZE.to_string()));
            let v = self
                .json(Method::GET, &format!("{path}?{}", query(&pq)), None)
                .await?;
            let p: PageDto = serde_json::from_value(v)
                .map_err(|e| bad(&format!("GET {path} page {page}"), e))?;
            if p.page != page {
                return Err(bad(
                    &format!("GET {path} page {page}"),
                    format!("the API answered page {}", p.page),
                ));
            }
            let empty = p.items.is_empty();
            out.extend(p.items);
            if empty || page >= p.total_pages {
                return Ok(out);
            }
            page += 1;
            if page > MAX_PAGES {
                return Err(bad(
                    &format!("GET {path}"),
                    format!("more than {MAX_PAGES} pages"),
                ));
            }
        }
    }

    async fn bearer(&self, deadline: Instant) -> Result<String, AdapterError> {
        let mut t = self.token.lock().await;
        if let Some(tok) = t.as_ref()
            && Instant::now() < tok.good_until
        {
            return Ok(tok.value.clone());
        }
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            enc(&self.client_id),
            enc(&self.client_secret)
        );
        let left = deadline.saturating_duration_since(Instant::now());
        let bytes = Box::pin(self.send(
            Method::POST,
            "/oauth/token",
            Some(form.into_bytes()),
            false,
            left,
        ))
        .await?;
        let tok: TokenDto =
            serde_json::from_slice(&bytes).map_err(|e| bad("POST /oauth/token", e))?;
        let life = Duration::from_secs(tok.expires_in);
        let skew = (life / 10).min(Duration::from_secs(30));
        *t = Some(Token {
            value: tok.access_token.clone(),
            good_until: Instant::now() + life - skew,
        });
        Ok(tok.access_token)
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: &Option<Vec<u8>>,
        auth: Option<&str>,
        limit: Duration,
    ) -> Attempt {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        req = req.header(header::ACCEPT, "application/json");
        if body.is_some() {
            let ct = if auth.is_none() {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(tok) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {tok}"));
        }
        let req = match req.body(Full::new(Bytes::from(body.clone().unwrap_or_default()))) {
            Ok(r) => r,
            Err(e) => return Attempt::Transport(format!("cannot build request: {e}")),
        };
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| format!("{e}"))?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((parts.status, parts.headers, bytes))
        };
        match tokio::time::timeout(limit, fut).await {
            Err(_) => Attempt::TimedOut,
            Ok(Err(e)) => Attempt::Transport(e),
            Ok(Ok((s, h, b))) => Attempt::Answer(s, h, b),
        }
    }

    /// One API request with token handling, retries and the deadline. `auth == false` is the
    /// token request itself (form body, no bearer).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: bool,
        timeout: Duration,
    ) -> Result<Bytes, AdapterError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let deadline = Instant::now() + timeout;
        let mut attempts = 0;
        let mut refreshed = false;
        let mut backoff = BASE_BACKOFF;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AdapterError::Unavailable(format!(
                    "{what}: no answer within {timeout:?}"
                )));
            }
            let token = if auth {
                Some(self.bearer(deadline).await?)
            } else {
                None
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let (reason, wait) = match self
                .attempt(&method, path, &body, token.as_deref(), left)
                .await
            {
                Attempt::TimedOut => {
                    return Err(AdapterError::Unavailable(format!(
                        "{what}: no answer within {timeout:?} (attempt {attempts})"
                    )));
                }
                Attempt::Transport(e) => {
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (format!("transport error: {e}"), w)
                }
                Attempt::Answer(status, headers, bytes) => {
                    if status.is_success() {
                        return Ok(bytes);
                    }
                    let env: Option<ErrorDto> = serde_json::from_slice(&bytes).ok();
                    let code = env
                        .as_ref()
                        .map_or_else(|| status.as_u16().to_string(), |e| e.code.clone());
                    let msg = env
                        .as_ref()
                        .and_then(|e| e.message.clone())
                        .unwrap_or_default();
                    if status == StatusCode::UNAUTHORIZED {
                        if !auth {
                            return Err(AdapterError::Other(format!(
                                "the vendor API refused adapter.client_id / adapter.client_secret: {code} {msg}"
                            )));
                        }
                        if !refreshed {
                            refreshed = true;
                            *self.token.lock().await = None;
                            attempts -= 1;
                            continue;
                        }
                        return Err(AdapterError::Other(format!(
                            "{what}: the vendor API refused a fresh token: {code} {msg}"
                        )));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let ra = headers
                            .get(header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map_or(Duration::from_secs(1), Duration::from_secs);
                        if ra > MAX_RETRY_AFTER || Instant::now() + ra > deadline {
                            return Err(AdapterError::Unavailable(format!(
                                "{what}: rate limited by the vendor API ({code}); Retry-After {}s is past the call's deadline",
                                ra.as_secs()
                            )));
                        }
                        (format!("429 {code} {msg}"), ra)
                    } else if status.is_server_error() {
                        let w = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        (format!("{} {code} {msg}", status.as_u16()), w)
                    } else {
                        return Err(vendor_error(&what, status, &code, &msg));
                    }
                }
            };
            if attempts >= MAX_ATTEMPTS {
                return Err(AdapterError::Unavailable(format!(
                    "{what}: gave up after {attempts} attempts; last: {reason}"
                )));
            }
            if Instant::now() + wait > deadline {
                return Err(AdapterError::Unavailable(format!(
                    "{what}: no answer within {timeout:?}; last: {reason}"
                )));
            }
            tracing::debug!(%what, attempts, %reason, wait_ms = wait.as_millis() as u64, "vendor API retry");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A vendor error (4xx other than 401 / 429) as an adapter error.
fn vendor_error(what: &str, status: StatusCode, code: &str, msg: &str) -> AdapterError {
    match code {
        "E2001" | "E3004" => AdapterError::NotFound(msg.to_string()),
        "E3001" | "E3002" | "E3003" => AdapterError::Conflict(msg.to_string()),
        "E4001" => AdapterError::BadRecord {
            record: what.to_string(),
            detail: format!("vendor E4001: {msg}"),
        },
        "E2002" => AdapterError::Other(format!(
            "{what}: the vendor API rejected the request (E2002): {msg}"
        )),
        other => AdapterError::Other(format!(
            "{what}: vendor error {other} (HTTP {}): {msg}",
            status.as_u16()
        )),
    }
}

#[async_trait::async_trait]
impl CoreSystem for VendorApiCore {
    fn kind(&self) -> &'static str {
        "vendorapi"
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        let q = [
            ("idType", vendor_code_of(&ID_TYPES, id_type).to_string()),
            ("idNo", id_number.to_string()),
        ];
        let items = self.all_pages("/api/v2/members", &q).await?;
        match items.into_iter().next() {
            None => Ok(None),
            Some(v) => member_of(item(v, "member account", "acctNo")?).map(Some),
        }
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let path = format!("/api/v2/accounts/{}/transactions", enc(account_no));
        let items = self
            .all_pages(&path, &[("from", month_dash(from)), ("to", month_dash(to))])
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.into_iter().enumerate() {
            let record = format!("transaction {} of account {account_no}", i + 1);
            let d: TxnDto = serde_json::from_value(v).map_err(|e| bad(&record, e))?;
            out.push(deposit_of(d, &record)?);
        }
        Ok(out)
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let q = [
            ("idType", vendor_code_of(&ID_TYPES, id_type).to_string()),
            ("idNo", id_number.to_string()),
        ];
        let items = self.all_pages("/api/v2/loans", &q).await?;
        items
            .into_iter()
            .map(|v| item::<LoanDto>(v, "loan contract", "contractNo").and_then(loan_of))
            .collect()
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        let v = self
            .json(
                Method::POST,
                &format!("/api/v2/transfers/{}/reserve", enc(case_id)),
                Some(json!({ "acctNo": account_no })),
            )
            .await?;
        let r = format!("reservation of case {case_id}");
        let d: ReservationDto = serde_json::from_value(v).map_err(|e| bad(&r, e))?;
        if d.case_id != case_id {
            return Err(bad(
                &r,
                format!("the API answered for case {:?}", d.case_id),
            ));
        }
        if d.acct_no != account_no {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} already holds account {}",
                d.acct_no
            )));
        }
        Ok(Reservation {
            case_id: case_id.into(),
            account_no: d.acct_no,
            principal_fen: w_money(&r, "heldPrincipal", &d.held_principal)?,
            interest_fen: w_money(&r, "heldInterest", &d.held_interest)?,
        })
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.json(
            Method::POST,
            &format!("/api/v2/transfers/{}/release", enc(case_id)),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.json(
            Method::POST,
            &format!("/api/v2/transfers/{}/close", enc(case_id)),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        if amount_fen < 0 {
            return Err(AdapterError::Conflict(format!(
                "credit of {amount_fen} fen is negative"
            )));
        }
        let body = json!({
            "acctNo": account_no,
            "amount": format_yuan(amount_fen),
            "history": history.iter().map(txn_json).collect::<Vec<_>>(),
        });
        let v = self
            .json(
                Method::POST,
                &format!("/api/v2/transfers/{}/credit", enc(case_id)),
                Some(body),
            )
            .await?;
        let r = format!("credit of case {case_id}");
        let d: CreditDto = serde_json::from_value(v).map_err(|e| bad(&r, e))?;
        if d.acct_no != account_no || w_money(&r, "amount", &d.amount)? != amount_fen {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} was credited to {} with {}",
                d.acct_no, d.amount
            )));
        }
        Ok(())
    }

    async fn check(&self) -> Vec<CheckItem> {
        let mut out = Vec::new();
        let health = self
            .send(Method::GET, "/api/v2/health", None, false, self.timeout)
            .await;
        out.push(
            match health.as_ref().map(|b| serde_json::from_slice::<Value>(b)) {
                Ok(Ok(v)) => CheckItem {
                    name: "connectivity".into(),
                    ok: v.get("status").and_then(Value::as_str) == Some("UP"),
                    detail: format!("{} answered {v}", self.base),
                },
                Ok(Err(e)) => CheckItem {
                    name: "connectivity".into(),
                    ok: false,
                    detail: format!("health answer is not JSON: {e}"),
                },
                Err(e) => CheckItem {
                    name: "connectivity".into(),
                    ok: false,
                    detail: e.to_string(),
                },
            },
        );
        let deadline = Instant::now() + self.timeout;
        let auth = self.bearer(deadline).await;
        out.push(CheckItem {
            name: "auth".into(),
            ok: auth.is_ok(),
            detail: match &auth {
                Ok(_) => format!("token issued to client {}", self.client_id),
                Err(e) => e.to_string(),
            },
        });
        match self.json(Method::GET, "/api/v2/codes", None).await {
            Ok(v) => {
                let mut unknown = Vec::new();
                let mut seen = 0;
                let tables: [(&str, Vec<&str>); 4] = [
                    ("idType", ID_TYPES.iter().map(|(c, _)| *c).collect()),
                    (
                        "acctStatus",
                        ACCOUNT_STATUSES.iter().map(|(c, _)| *c).collect(),
                    ),
                    ("txnType", TXN_TYPES.iter().map(|(c, _)| *c).collect()),
                    (
                        "loanStatus",
                        LOAN_STATUSES.iter().map(|(c, _)| *c).collect(),
                    ),
                ];
                for (table, known) in &tables {
                    for code in v
                        .get(table)
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        let c = code.as_str().unwrap_or_default();
                        seen += 1;
                        if !known.contains(&c) {
                            unknown.push(format!("{table} {c:?}"));
                        }
                    }
                }
                out.push(CheckItem {
                    name: "code tables".into(),
                    ok: unknown.is_empty(),
                    detail: if unknown.is_empty() {
                        format!("all {seen} vendor codes are mapped")
                    } else {
                        format!("vendor codes with no mapping: {}", unknown.join(", "))
                    },
                });
            }
            Err(e) => out.push(CheckItem {
                name: "code tables".into(),
                ok: false,
                detail: e.to_string(),
            }),
        }
        let sample = self
            .json(Method::GET, "/api/v2/members?page=1&pageSize=1", None)
            .await
            .and_then(|v| {
                let p: PageDto =
                    serde_json::from_value(v).map_err(|e| bad("GET /api/v2/members", e))?;
                p.items
                    .into_iter()
                    .next()
                    .map(|v| item(v, "member account", "acctNo").and_then(member_of))
                    .transpose()
            });
        out.push(match sample {
            Ok(Some(m)) => CheckItem {
                name: "sample read".into(),
                ok: true,
                detail: format!("account {} read and mapped", m.account_no),
            },
            Ok(None) => CheckItem {
                name: "sample read".into(),
                ok: true,
                detail: "no members yet".into(),
            },
            Err(e) => CheckItem {
                name: "sample read".into(),
                ok: false,
                detail: e.to_string(),
            },
        });
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The stand-in server
// ---------------------------------------------------------------------------------------------

/// How the stand-in misbehaves (tests and demo). Everything but `token_ttl` can be changed while
/// it runs through [`VendorApiServer`]'s methods.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Every Nth request (counting all requests, from 1) answers 503 E5030.
    pub fail_every: Option<u64>,
    /// Wait this long before answering any request.
    pub delay: Duration,
    /// At most this many requests per one-second window; beyond it 429 E4290 with Retry-After.
    pub rate_limit_per_sec: Option<u32>,
    /// The Retry-After (seconds) a 429 carries.
    pub retry_after_secs: u64,
    /// Largest page handed out (a larger pageSize is cut down to it).
    pub max_page_size: u32,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_every: None,
            delay: Duration::ZERO,
            rate_limit_per_sec: None,
            retry_after_secs: 1,
            max_page_size: 200,
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// What the stand-in has seen and done (for tests and the demo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub injected_5xx: u64,
    pub throttled: u64,
    pub unauthorized: u64,
    pub tokens_issued: u64,
    pub member_pages: u64,
    pub transaction_pages: u64,
    pub loan_pages: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    injected_5xx: AtomicU64,
    throttled: AtomicU64,
    unauthorized: AtomicU64,
    tokens_issued: AtomicU64,
    member_pages: AtomicU64,
    transaction_pages: AtomicU64,
    loan_pages: AtomicU64,
}

struct ServerState {
    store: SqliteCore,
    client_id: String,
    client_secret: String,
    token_ttl: Duration,
    tokens: std::sync::Mutex<HashMap<String, Instant>>,
    fail_every: AtomicU64,
    fail_next: AtomicU64,
    throttle_next: AtomicU64,
    delay_ms: AtomicU64,
    rate_limit: AtomicU32,
    retry_after: AtomicU64,
    max_page: AtomicU32,
    window: std::sync::Mutex<(Instant, u32)>,
    counters: Counters,
}

/// The stand-in of the vendor's API server, with its own store (`vendor.db` in its data folder,
/// private to it).
#[derive(Clone)]
pub struct VendorApiServer {
    st: Arc<ServerState>,
}

/// A running server; stops when dropped.
pub struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct VErr {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

fn verr(code: &'static str, message: impl Into<String>) -> VErr {
    let status = VENDOR_ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .and_then(|(_, s, _)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    VErr {
        status,
        code,
        message: message.into(),
        retry_after: None,
    }
}

impl IntoResponse for VErr {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

fn store_err(e: AdapterError) -> VErr {
    match e {
        AdapterError::Conflict(m) => verr("E3001", m),
        AdapterError::NotFound(m) if m.starts_with("reservation") => verr("E3004", m),
        AdapterError::NotFound(m) => verr("E2001", m),
        e @ (AdapterError::BadRecord { .. } | AdapterError::UnknownCode { .. }) => {
            verr("E4001", e.to_string())
        }
        AdapterError::Unavailable(m) | AdapterError::Other(m) => verr("E5000", m),
    }
}

fn db_err(e: sqlx::Error) -> VErr {
    verr("E5000", format!("store: {e}"))
}

type Reply = Result<Json<Value>, VErr>;
type Params = Query<HashMap<String, String>>;

// The stand-in's own code tables: its store's (standard) codes -> the vendor's strings. A code
// the table lacks goes out as it is.
const OUT_STATUS: [(&str, &str); 8] = [
    ("01", "ACTV"),
    ("02", "SEAL"),
    ("03", "CLMG"),
    ("04", "CLTO"),
    ("05", "CLWD"),
    ("06", "FRZN"),
    ("07", "DORM"),
    ("99", "OTHR"),
];
const OUT_ID: [(&str, &str); 5] = [
    ("01", "111"),
    ("02", "114"),
    ("03", "414"),
    ("04", "553"),
    ("99", "990"),
];
const OUT_LOAN: [(&str, &str); 4] = [
    ("1", "CURRENT"),
    ("2", "DELINQUENT"),
    ("3", "PAID_OFF"),
    ("4", "WRITTEN_OFF"),
];

fn out_code(table: &[(&'static str, &'static str)], raw: &str) -> String {
    table
        .iter()
        .find(|(s, _)| *s == raw)
        .map_or_else(|| raw.to_string(), |(_, v)| v.to_string())
}
fn in_code<'a>(table: &[(&'a str, &'a str)], vendor: &str) -> Option<&'a str> {
    table.iter().find(|(_, v)| *v == vendor).map(|(s, _)| *s)
}
fn out_txn(raw: &str) -> String {
    TXN_TYPES
        .iter()
        .find(|(_, c)| *c == raw)
        .map_or_else(|| raw.to_string(), |(v, _)| v.to_string())
}
fn out_month(raw: &str) -> String {
    if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}", &raw[..4], &raw[4..])
    } else {
        raw.to_string()
    }
}

impl VendorApiServer {
    /// Open (creating) the stand-in's store in `data_dir`.
    pub async fn open(data_dir: &Path, faults: Faults) -> Result<Self, AdapterError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| AdapterError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let store = SqliteCore::open(&data_dir.join("vendor.db")).await?;
        Ok(Self {
            st: Arc::new(ServerState {
                store,
                client_id: STANDIN_CLIENT_ID.into(),
                client_secret: STANDIN_CLIENT_SECRET.into(),
                token_ttl: faults.token_ttl,
                tokens: Default::default(),
                fail_every: AtomicU64::new(faults.fail_every.unwrap_or(0)),
                fail_next: AtomicU64::new(0),
                throttle_next: AtomicU64::new(0),
                delay_ms: AtomicU64::new(faults.delay.as_millis() as u64),
                rate_limit: AtomicU32::new(faults.rate_limit_per_sec.unwrap_or(0)),
                retry_after: AtomicU64::new(faults.retry_after_secs),
                max_page: AtomicU32::new(faults.max_page_size.max(1)),
                window: std::sync::Mutex::new((Instant::now(), 0)),
                counters: Counters::default(),
            }),
        })
    }

    /// The stand-in's private store (tests put bad data in it, as a vendor's core may hold).
    pub fn store(&self) -> &SqliteCore {
        &self.st.store
    }

    /// The next `n` requests answer 503.
    pub fn fail_next(&self, n: u64) {
        self.st.fail_next.store(n, Ordering::SeqCst);
    }
    /// Every `n`th request answers 503 (0: never).
    pub fn set_fail_every(&self, n: u64) {
        self.st.fail_every.store(n, Ordering::SeqCst);
    }
    /// The next `n` requests answer 429 with the configured Retry-After.
    pub fn throttle_next(&self, n: u64) {
        self.st.throttle_next.store(n, Ordering::SeqCst);
    }
    pub fn set_delay(&self, d: Duration) {
        self.st
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
    /// At most `n` requests per one-second window (0: no limit).
    pub fn set_rate_limit(&self, n: u32) {
        self.st.rate_limit.store(n, Ordering::SeqCst);
    }
    pub fn set_retry_after(&self, secs: u64) {
        self.st.retry_after.store(secs, Ordering::SeqCst);
    }
    pub fn set_max_page_size(&self, n: u32) {
        self.st.max_page.store(n.max(1), Ordering::SeqCst);
    }
    /// Forget every issued token (the next API call answers 401 E1001).
    pub fn revoke_tokens(&self) {
        self.st
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
    pub fn stats(&self) -> Stats {
        let c = &self.st.counters;
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Stats {
            requests: g(&c.requests),
            injected_5xx: g(&c.injected_5xx),
            throttled: g(&c.throttled),
            unauthorized: g(&c.unauthorized),
            tokens_issued: g(&c.tokens_issued),
            member_pages: g(&c.member_pages),
            transaction_pages: g(&c.transaction_pages),
            loan_pages: g(&c.loan_pages),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth/token", post(token))
            .route("/api/v2/health", get(health))
            .route("/api/v2/codes", get(codes))
            .route("/api/v2/members", get(members))
            .route("/api/v2/accounts/{acct}/transactions", get(transactions))
            .route("/api/v2/loans", get(loans))
            .route("/api/v2/transfers/{case_id}/{op}", post(transfer))
            .route("/admin/seed", post(admin_seed))
            .route("/admin/stats", get(admin_stats))
            .fallback(|| async { verr("E2002", "no such endpoint") })
            .with_state(self.st.clone())
    }

    /// Serve on `listener` in the background until the returned task is dropped.
    pub fn start(&self, listener: tokio::net::TcpListener) -> ServerTask {
        let app = self.router();
        ServerTask(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "vendor API stand-in stopped");
            }
        }))
    }
}

impl ServerState {
    /// What a gateway in front of the vendor's API does to every request: delays, injected
    /// faults, rate limiting, and (for the API) the bearer token.
    async fn gate(&self, headers: &HeaderMap, auth: bool) -> Result<(), VErr> {
        let n = self.counters.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let every = self.fail_every.load(Ordering::SeqCst);
        let burst = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok();
        if burst || (every > 0 && n.is_multiple_of(every)) {
            self.counters.injected_5xx.fetch_add(1, Ordering::SeqCst);
            return Err(verr("E5030", "service temporarily unavailable, try again"));
        }
        let throttled = self
            .throttle_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok();
        let limit = self.rate_limit.load(Ordering::SeqCst);
        let over = limit > 0 && {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if w.0.elapsed() >= Duration::from_secs(1) {
                *w = (Instant::now(), 0);
            }
            w.1 += 1;
            w.1 > limit
        };
        if throttled || over {
            self.counters.throttled.fetch_add(1, Ordering::SeqCst);
            let mut e = verr("E4290", "too many requests");
            e.retry_after = Some(self.retry_after.load(Ordering::SeqCst));
            return Err(e);
        }
        if auth {
            let tok = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let ok = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(tok)
                .is_some_and(|until| Instant::now() < *until);
            if !ok {
                self.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
                return Err(verr("E1001", "access token missing, invalid or expired"));
            }
        }
        Ok(())
    }

    fn paging(&self, q: &HashMap<String, String>) -> Result<(u32, u32), VErr> {
        let num =
            |k: &str, default: u32| -> Result<u32, VErr> {
                match q.get(k) {
                    None => Ok(default),
                    Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        verr("E2002", format!("{k} {v:?} is not a positive number"))
                    }),
                }
            };
        let page = num("page", 1)?;
        let size = num("pageSize", 20)?.min(self.max_page.load(Ordering::SeqCst));
        Ok((page, size))
    }
}

fn page_json(items: Vec<Value>, page: u32, size: u32, total: i64) -> Value {
    let total = total.max(0) as u64;
    let pages = total.div_ceil(u64::from(size));
    json!({ "items": items, "page": page, "pageSize": size, "total": total, "totalPages": pages })
}

fn id_param(q: &HashMap<String, String>) -> Result<Option<(String, String)>, VErr> {
    match (q.get("idType"), q.get("idNo")) {
        (None, None) => Ok(None),
        (Some(t), Some(n)) => {
            let t = in_code(&OUT_ID, t).ok_or_else(|| {
                verr(
                    "E2002",
                    format!("idType {t:?} is not one of the vendor's id types"),
                )
            })?;
            Ok(Some((t.to_string(), n.clone())))
        }
        _ => Err(verr("E2002", "idType and idNo go together")),
    }
}

async fn token(State(st): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Reply {
    st.gate(&headers, false).await?;
    let form = parse_form(&body)?;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(verr("E2002", "grant_type must be client_credentials"));
    }
    if form.get("client_id") != Some(&st.client_id)
        || form.get("client_secret") != Some(&st.client_secret)
    {
        return Err(verr("E1002", "invalid client credentials"));
    }
    let n = st.counters.tokens_issued.fetch_add(1, Ordering::SeqCst);
    let value = format!("vt-{n}-{:032x}", rand::random::<u128>());
    st.tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(value.clone(), Instant::now() + st.token_ttl);
    Ok(Json(
        json!({ "access_token": value, "token_type": "Bearer", "expires_in": st.token_ttl.as_secs() }),
    ))
}

/// Parse an `application/x-www-form-urlencoded` body.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, VErr> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{}", String::from_utf8_lossy(body))
            .parse()
            .map_err(|_| verr("E2002", "malformed form body"))?,
    )
    .map(|q| q.0)
    .map_err(|e| verr("E2002", format!("malformed form body: {e}")))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "UP", "version": "2.3.1-standin" }))
}

async fn codes(State(st): State<Arc<ServerState>>, headers: HeaderMap) -> Reply {
    st.gate(&headers, true).await?;
    let pool = st.store.pool();
    let in_use = |sql: &'static str| async move {
        sqlx::query_scalar::<_, String>(sql)
            .fetch_all(pool)
            .await
            .map_err(db_err)
    };
    let mut status: Vec<String> = OUT_STATUS
        .iter()
        .filter(|(s, _)| *s != "07")
        .map(|(_, v)| v.to_string())
        .collect();
    for raw in in_use("SELECT DISTINCT grzhzt FROM grxx").await? {
        let v = out_code(&OUT_STATUS, &raw);
        if !status.contains(&v) {
            status.push(v);
        }
    }
    let mut txn: Vec<String> = TXN_TYPES.iter().map(|(v, _)| v.to_string()).collect();
    for raw in in_use("SELECT DISTINCT ywlx FROM grmx").await? {
        let v = out_txn(&raw);
        if !txn.contains(&v) {
            txn.push(v);
        }
    }
    Ok(Json(json!({
        "idType": OUT_ID.iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "acctStatus": status,
        "txnType": txn,
        "loanStatus": OUT_LOAN.iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}

fn member_json(row: &sqlx::sqlite::SqliteRow) -> Value {
    let s = |c: &str| row.try_get::<Option<String>, _>(c).ok().flatten();
    let n = |c: &str| row.try_get::<Option<i64>, _>(c).ok().flatten();
    let pct = |v: Option<i64>| v.map(format_yuan);
    json!({
        "acctNo": s("grzh"),
        "custName": s("xingming"),
        "idType": s("zjlx").map(|c| out_code(&OUT_ID, &c)),
        "idNo": s("zjhm"),
        "gender": s("xingbie").map(|g| match g.as_str() { "1" => "M".to_string(), "2" => "F".to_string(), other => other.to_string() }),
        "birthDate": s("csrq"),
        "mobile": s("sjhm"),
        "employer": {
            "unitAcctNo": s("dwzh"),
            "unitName": s("dwmc"),
            "creditCode": s("tyshxydm"),
            "unitRatePct": pct(n("dwjcbl")),
            "personalRatePct": pct(n("grjcbl")),
        },
        "depositBase": s("grjcjs"),
        "personalMonthly": s("gryjce"),
        "unitMonthly": s("dwyjce"),
        "balance": s("grzhye"),
        "priorYearBalance": s("grzhsnjzye"),
        "currentYearDeposits": s("grzhdngjye"),
        "acctStatus": s("grzhzt").map(|c| out_code(&OUT_STATUS, &c)),
        "openDate": s("khrq"),
        "closeDate": s("xhrq"),
        "closeReasonCode": s("xhyy"),
        "paidThrough": s("jzny").map(|m| out_month(&m)),
    })
}

async fn members(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    Query(q): Params,
) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.member_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let offset = i64::from(page - 1) * i64::from(size);
    let pool = st.store.pool();
    let select = "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh";
    let (rows, total) = match id_param(&q)? {
        Some((t, n)) => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{select} WHERE g.zjhm = ?1 AND g.zjlx = ?2 ORDER BY g.grzhzt, g.grzh LIMIT ?3 OFFSET ?4"
            )))
            .bind(&n)
            .bind(&t)
            .bind(i64::from(size))
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM grxx WHERE zjhm = ?1 AND zjlx = ?2")
                    .bind(&n)
                    .bind(&t)
                    .fetch_one(pool)
                    .await
                    .map_err(db_err)?;
            (rows, total)
        }
        None => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{select} ORDER BY g.grzh LIMIT ?1 OFFSET ?2"
            )))
            .bind(i64::from(size))
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grxx")
                .fetch_one(pool)
                .await
                .map_err(db_err)?;
            (rows, total)
        }
    };
    Ok(Json(page_json(
        rows.iter().map(member_json).collect(),
        page,
        size,
        total,
    )))
}

fn vendor_month_param(q: &HashMap<String, String>, k: &str, default: &str) -> Result<String, VErr> {
    match q.get(k) {
        None => Ok(default.to_string()),
        Some(v) => {
            let ok = v.len() == 7
                && v.as_bytes()[4] == b'-'
                && v.bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_digit());
            if ok {
                Ok(v.replace('-', ""))
            } else {
                Err(verr("E2002", format!("{k} {v:?} is not YYYY-MM")))
            }
        }
    }
}

async fn transactions(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    UrlPath(acct): UrlPath<String>,
    Query(q): Params,
) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.transaction_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let from = vendor_month_param(&q, "from", "000000")?;
    let to = vendor_month_param(&q, "to", "999999")?;
    let pool = st.store.pool();
    let rows = sqlx::query(
        "SELECT rq, ywlx, fse, lx, hjny FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3 ORDER BY hjny, rq, rowid LIMIT ?4 OFFSET ?5",
    )
    .bind(&acct)
    .bind(&from)
    .bind(&to)
    .bind(i64::from(size))
    .bind(i64::from(page - 1) * i64::from(size))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3",
    )
    .bind(&acct)
    .bind(&from)
    .bind(&to)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let items = rows
        .iter()
        .map(|r| {
            let s = |c: &str| {
                r.try_get::<Option<String>, _>(c)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            json!({
                "txnDate": s("rq"),
                "txnType": out_txn(&s("ywlx")),
                "amount": s("fse"),
                "interest": s("lx"),
                "period": out_month(&s("hjny")),
            })
        })
        .collect();
    Ok(Json(page_json(items, page, size, total)))
}

async fn loans(State(st): State<Arc<ServerState>>, headers: HeaderMap, Query(q): Params) -> Reply {
    st.gate(&headers, true).await?;
    st.counters.loan_pages.fetch_add(1, Ordering::SeqCst);
    let (page, size) = st.paging(&q)?;
    let Some((t, n)) = id_param(&q)? else {
        return Err(verr("E2002", "idType and idNo are required"));
    };
    let pool = st.store.pool();
    let rows = sqlx::query(
        "SELECT *, CASE WHEN jkr_zjhm = ?1 AND jkr_zjlx = ?2 THEN 'PRIMARY' ELSE 'CO' END AS role FROM dkxx \
         WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2) ORDER BY dkffrq, jkhtbh LIMIT ?3 OFFSET ?4",
    )
    .bind(&n)
    .bind(&t)
    .bind(i64::from(size))
    .bind(i64::from(page - 1) * i64::from(size))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM dkxx WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2)",
    )
    .bind(&n)
    .bind(&t)
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let items = rows
        .iter()
        .map(|r| {
            let s = |c: &str| r.try_get::<Option<String>, _>(c).ok().flatten();
            json!({
                "contractNo": s("jkhtbh"),
                "loanAcctNo": s("dkzh"),
                "role": s("role"),
                "contractAmount": s("htdkje"),
                "disburseDate": s("dkffrq"),
                "principalBalance": s("dkye"),
                "overduePrincipal": s("yqbjze"),
                "overdueTerms": r.try_get::<Option<i64>, _>("ljyqqs").ok().flatten().unwrap_or(0),
                "payoffDate": s("dkjqrq"),
                "loanStatus": s("dkzt").map(|c| out_code(&OUT_LOAN, &c)),
            })
        })
        .collect();
    Ok(Json(page_json(items, page, size, total)))
}

fn body_json(body: &Bytes) -> Result<Value, VErr> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| verr("E2002", format!("body is not JSON: {e}")))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Result<&'a str, VErr> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| verr("E2002", format!("{k} is required (a string)")))
}

async fn transfer(
    State(st): State<Arc<ServerState>>,
    headers: HeaderMap,
    UrlPath((case_id, op)): UrlPath<(String, String)>,
    body: Bytes,
) -> Reply {
    st.gate(&headers, true).await?;
    let v = body_json(&body)?;
    match op.as_str() {
        "reserve" => {
            let acct = str_field(&v, "acctNo")?;
            let r = st.store.reserve(&case_id, acct).await.map_err(store_err)?;
            Ok(Json(json!({
                "caseId": r.case_id, "acctNo": r.account_no, "heldPrincipal": format_yuan(r.principal_fen),
                "heldInterest": format_yuan(r.interest_fen), "state": "HELD",
            })))
        }
        "release" => {
            st.store.release(&case_id).await.map_err(store_err)?;
            Ok(Json(json!({ "caseId": case_id, "state": "RELEASED" })))
        }
        "close" => {
            st.store.close_out(&case_id).await.map_err(store_err)?;
            Ok(Json(json!({ "caseId": case_id, "state": "CLOSED" })))
        }
        "credit" => {
            let acct = str_field(&v, "acctNo")?;
            let amount = str_field(&v, "amount")?;
            let fen = parse_yuan(amount)
                .ok_or_else(|| verr("E2002", format!("amount {amount:?} is not a yuan amount")))?;
            let mut history = Vec::new();
            for (i, t) in v
                .get("history")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                let d: TxnDto = serde_json::from_value(t.clone())
                    .map_err(|e| verr("E2002", format!("history[{i}]: {e}")))?;
                history.push(
                    deposit_of(d, &format!("history[{i}]"))
                        .map_err(|e| verr("E2002", e.to_string()))?,
                );
            }
            st.store
                .credit_in(&case_id, acct, fen, &history)
                .await
                .map_err(store_err)?;
            Ok(Json(
                json!({ "caseId": case_id, "acctNo": acct, "amount": format_yuan(fen), "state": "CREDITED" }),
            ))
        }
        other => Err(verr(
            "E2002",
            format!("unknown transfer operation {other:?}"),
        )),
    }
}

async fn admin_seed(State(st): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Reply {
    st.gate(&headers, true).await?;
    let v = body_json(&body)?;
    let num = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| verr("E2002", format!("{k} is required (a number)")))
    };
    let centre = str_field(&v, "centre")?;
    let opts = SeedOptions {
        seed: num("seed")?,
        history_months: u32::try_from(num("historyMonths")?)
            .map_err(|_| verr("E2002", "historyMonths is too large"))?,
        employers: u32::try_from(num("employers")?)
            .map_err(|_| verr("E2002", "employers is too large"))?,
    };
    let (start, count) = (num("start")?, num("count")?);
    st.store
        .seed(centre, &opts, start, count, &|_| {})
        .await
        .map_err(store_err)?;
    Ok(Json(json!({ "seeded": count })))
}

async fn admin_stats(State(st): State<Arc<ServerState>>, headers: HeaderMap) -> Reply {
    st.gate(&headers, true).await?;
    let n = st.store.member_count().await.map_err(store_err)?;
    Ok(Json(json!({ "members": n })))
}

/// A running stand-in: its URL and credentials, the server (fault controls, stats, store).
pub struct StandIn {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    pub server: VendorApiServer,
    _task: ServerTask,
}

impl StandIn {
    /// Adapter settings that reach this stand-in.
    pub fn settings(&self) -> AdapterSettings {
        AdapterSettings {
            kind: "vendorapi".into(),
            url: Some(self.url.clone()),
            client_id: Some(self.client_id.clone()),
            client_secret: Some(self.client_secret.clone()),
            ..Default::default()
        }
    }

    /// An adapter for this stand-in.
    pub fn core(&self, timeout: Option<Duration>) -> Result<VendorApiCore, AdapterError> {
        VendorApiCore::open(&self.url, &self.client_id, &self.client_secret, timeout)
    }
}

/// Start the vendor API stand-in on `listener` with its store in `data_dir`.
pub async fn spawn_standin(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    faults: Faults,
) -> Result<StandIn, AdapterError> {
    let addr = listener
        .local_addr()
        .map_err(|e| AdapterError::Unavailable(format!("listener: {e}")))?;
    let server = VendorApiServer::open(data_dir, faults).await?;
    let task = server.start(listener);
    Ok(StandIn {
        url: format!("http://{addr}"),
        client_id: STANDIN_CLIENT_ID.into(),
        client_secret: STANDIN_CLIENT_SECRET.into(),
        server,
        _task: task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_tables_are_two_way() {
        for (raw, v) in OUT_STATUS {
            if raw != "07" {
                assert_eq!(
                    lookup(&ACCOUNT_STATUSES, v).map(AccountStatus::code),
                    Some(raw)
                );
            }
        }
        for (raw, v) in OUT_ID {
            assert_eq!(lookup(&ID_TYPES, v).map(IdType::code), Some(raw));
        }
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
        assert_eq!(out_month("202610"), "2026-10");
    }
}
