//! The one hold/credit state machine every SQL core system runs (sqlite, postgres, mariadb; the
//! batch and vendor stand-ins keep their hold records in a sqlite core, so they run it too).
//!
//! A transfer case's hold lives in the core's `hfx_hold` table, one row per case id:
//! ```text
//!   reserve ──► held ──release──► released      (account back to its previous status)
//!                 └────close_out──► closed        (status closed-transferred, balance 0, 07 posting)
//! ```
//! - `reserve` is idempotent by case id: a case that already holds the account answers the same
//!   reservation; a case holding another account, or an account held by another case, conflicts.
//!   Only a normal or sealed account can be reserved; its whole balance is held.
//! - `release` of a released hold and `close_out` of a closed one succeed again; release after
//!   close-out and close-out after release conflict.
//! - `credit_in` is idempotent by case id (`hfx_credit`): a second credit of the case to the same
//!   account succeeds without crediting again; to another account it conflicts. Only a normal
//!   account with a sound balance is credited; the amount must not be negative.
//! - A hold record in a state other than `held`, `released` or `closed` is refused by every
//!   operation that meets it, with [`AdapterError::UnknownHoldState`] naming the case.
//!
//! Every write is one transaction that locks the account row first, then reads the case's rows,
//! so concurrent calls for one case or one account serialise. A dialect supplies only its
//! statements ([`HoldDialect`]); [`HoldStore`] runs them.

use crate::model::{AccountStatus, Deposit, YearMonth, business_type};
use crate::money::{format_yuan, parse_yuan};
use crate::{AdapterError, Reservation};
use chrono::NaiveDate;

/// The state of a hold record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    Held,
    Released,
    Closed,
}

impl HoldState {
    pub const ALL: [HoldState; 3] = [HoldState::Held, HoldState::Released, HoldState::Closed];

    /// The text a hold record stores.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Held => "held",
            HoldState::Released => "released",
            HoldState::Closed => "closed",
        }
    }

    /// The state of case `case_id`'s hold record; any other text is refused, naming the case.
    pub fn parse(case_id: &str, raw: &str) -> Result<Self, AdapterError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| AdapterError::UnknownHoldState {
                case_id: case_id.to_string(),
                state: raw.to_string(),
            })
    }
}

/// An account row as the state machine needs it: the raw status code and balance text.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub status: String,
    pub balance: String,
}

/// A hold record as stored: amounts as yuan text, the state as found.
#[derive(Debug, Clone)]
pub struct HoldRecord {
    pub account_no: String,
    /// The account's raw status code before the hold.
    pub prev_status: String,
    pub principal: String,
    pub interest: String,
    pub state: String,
}

/// A hold to write (state `held`).
#[derive(Debug, Clone)]
pub struct NewHold<'a> {
    pub case_id: &'a str,
    pub account_no: &'a str,
    pub prev_status: &'a str,
    pub principal_fen: i64,
    pub interest_fen: i64,
}

/// A posting the state machine writes: transfer-out (07) at close-out, transfer-in (08) at credit.
#[derive(Debug, Clone)]
pub struct Posting<'a> {
    pub account_no: &'a str,
    pub date: NaiveDate,
    /// [`business_type::TRANSFER_OUT`] or [`business_type::TRANSFER_IN`].
    pub business_type: &'static str,
    pub amount_fen: i64,
    pub interest_fen: i64,
    pub for_month: YearMonth,
    pub case_id: &'a str,
}

/// A transaction of dialect `D`.
pub type Tx<D> = sqlx::Transaction<'static, <D as HoldDialect>::DB>;

/// What one SQL dialect supplies to the state machine: its pool, its code table, the statements
/// that differ only in their text (consts), and the ones whose binds or conversions differ
/// (methods). Every statement but [`HoldDialect::CASE_ACCOUNT`] runs inside the transaction
/// [`HoldStore::begin`] opened. [`HoldStore`] runs the statements, for every dialect at once.
#[async_trait::async_trait]
pub trait HoldDialect: Send + Sync {
    type DB: sqlx::Database;
    /// The balance column, for messages about a corrupt balance.
    const BALANCE: &'static str;
    /// The account status code table, for [`AdapterError::UnknownCode`].
    const STATUS_TABLE: &'static str;
    /// The raw status a reserve writes (sealed).
    const SEALED: &'static str;
    /// The raw status of a normal account (named when a credit is refused).
    const NORMAL: &'static str;

    /// The account a case holds: binds the case id; selects the account number.
    const CASE_ACCOUNT: &'static str;
    /// A hold on an account that is neither released nor closed: binds the account number;
    /// selects the case id and the raw state.
    const LIVE_HOLD_ON: &'static str;
    /// Insert a `held` record, affecting no row when the case already has one: binds case id,
    /// account number, previous raw status, principal and interest (yuan text).
    const INSERT_HOLD: &'static str;
    /// Binds the state's text and the case id.
    const SET_HOLD_STATE: &'static str;
    /// Binds the raw status and the account number.
    const SET_ACCOUNT_STATUS: &'static str;
    /// The account the case was credited to: binds the case id.
    const CREDITED_TO: &'static str;
    /// Record the case's credit, affecting no row when the case already has one: binds case id,
    /// account number and amount (yuan text).
    const INSERT_CREDIT: &'static str;

    /// The statement that opens a write transaction, when the dialect needs its own: SQLite
    /// takes the write lock at the start (`BEGIN IMMEDIATE`), so a concurrent writer waits its
    /// busy timeout instead of failing at once with "database is locked" when the transaction
    /// turns from reading the account to writing it.
    const BEGIN: Option<&'static str> = None;

    /// The canonical status of a raw status code; `None` for a code the table lacks.
    fn account_status(raw: &str) -> Option<AccountStatus>;

    fn pool(&self) -> &sqlx::Pool<Self::DB>;

    /// Lock the account row (where the dialect can) and read it.
    async fn lock_account(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
    ) -> Result<Option<AccountRow>, AdapterError>;
    /// The case's hold record, locked where the dialect can.
    async fn hold(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
    ) -> Result<Option<HoldRecord>, AdapterError>;
    /// Status closed-transferred, every balance 0, closed on `date`, close reason 07.
    async fn close_account(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
        date: NaiveDate,
    ) -> Result<(), AdapterError>;
    async fn post(&self, tx: &mut Tx<Self>, p: &Posting<'_>) -> Result<(), AdapterError>;
    /// Add to the balance and to this year's deposits.
    async fn add_to_balance(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
        amount_fen: i64,
    ) -> Result<(), AdapterError>;
    /// The carried history as postings of the case (their months count here; the amounts are
    /// informational, the money arrived as the 08 posting).
    async fn post_history(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
        case_id: &str,
        history: &[Deposit],
    ) -> Result<(), AdapterError>;
}

/// The statements of [`HoldDialect`] run, written once for every dialect.
#[async_trait::async_trait]
pub trait HoldStore: HoldDialect {
    async fn begin(&self) -> Result<Tx<Self>, AdapterError>;
    async fn commit(&self, tx: Tx<Self>) -> Result<(), AdapterError>;
    /// [`HoldDialect::CASE_ACCOUNT`], outside any transaction: the account is locked next.
    async fn case_account(&self, case_id: &str) -> Result<Option<String>, AdapterError>;
    /// [`HoldDialect::LIVE_HOLD_ON`]: `(case id, raw state)`.
    async fn live_hold_on(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
    ) -> Result<Option<(String, String)>, AdapterError>;
    /// [`HoldDialect::INSERT_HOLD`]; `Ok(false)` when the case already has one.
    async fn insert_hold(&self, tx: &mut Tx<Self>, h: &NewHold<'_>) -> Result<bool, sqlx::Error>;
    async fn set_hold_state(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
        state: HoldState,
    ) -> Result<(), AdapterError>;
    async fn set_account_status(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
        raw_status: &str,
    ) -> Result<(), AdapterError>;
    async fn credited_to(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
    ) -> Result<Option<String>, AdapterError>;
    /// [`HoldDialect::INSERT_CREDIT`]; `Ok(false)` when the case already has one.
    async fn insert_credit(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
    ) -> Result<bool, sqlx::Error>;
}

#[async_trait::async_trait]
impl<D: HoldDialect> HoldStore for D
where
    for<'c> &'c mut <D::DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = D::DB>,
    <D::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<D::DB>,
    for<'q> &'q str: sqlx::Encode<'q, D::DB> + sqlx::Type<D::DB>,
    for<'q> String: sqlx::Encode<'q, D::DB> + sqlx::Type<D::DB>,
    for<'r> (String,): sqlx::FromRow<'r, <D::DB as sqlx::Database>::Row>,
    for<'r> (String, String): sqlx::FromRow<'r, <D::DB as sqlx::Database>::Row>,
    <D::DB as sqlx::Database>::QueryResult: HasRowsAffected,
{
    async fn begin(&self) -> Result<Tx<Self>, AdapterError> {
        Ok(match D::BEGIN {
            Some(sql) => self.pool().begin_with(sqlx::AssertSqlSafe(sql)).await?,
            None => self.pool().begin().await?,
        })
    }

    async fn commit(&self, tx: Tx<Self>) -> Result<(), AdapterError> {
        Ok(tx.commit().await?)
    }

    async fn case_account(&self, case_id: &str) -> Result<Option<String>, AdapterError> {
        Ok(sqlx::query_scalar(D::CASE_ACCOUNT)
            .bind(case_id)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn live_hold_on(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
    ) -> Result<Option<(String, String)>, AdapterError> {
        Ok(sqlx::query_as(D::LIVE_HOLD_ON)
            .bind(account_no)
            .fetch_optional(&mut **tx)
            .await?)
    }

    async fn insert_hold(&self, tx: &mut Tx<Self>, h: &NewHold<'_>) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(D::INSERT_HOLD)
            .bind(h.case_id)
            .bind(h.account_no)
            .bind(h.prev_status)
            .bind(format_yuan(h.principal_fen))
            .bind(format_yuan(h.interest_fen))
            .execute(&mut **tx)
            .await?;
        Ok(r.rows() == 1)
    }

    async fn set_hold_state(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
        state: HoldState,
    ) -> Result<(), AdapterError> {
        sqlx::query(D::SET_HOLD_STATE)
            .bind(state.as_str())
            .bind(case_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn set_account_status(
        &self,
        tx: &mut Tx<Self>,
        account_no: &str,
        raw_status: &str,
    ) -> Result<(), AdapterError> {
        sqlx::query(D::SET_ACCOUNT_STATUS)
            .bind(raw_status)
            .bind(account_no)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn credited_to(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
    ) -> Result<Option<String>, AdapterError> {
        Ok(sqlx::query_scalar(D::CREDITED_TO)
            .bind(case_id)
            .fetch_optional(&mut **tx)
            .await?)
    }

    async fn insert_credit(
        &self,
        tx: &mut Tx<Self>,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(D::INSERT_CREDIT)
            .bind(case_id)
            .bind(account_no)
            .bind(format_yuan(amount_fen))
            .execute(&mut **tx)
            .await?;
        Ok(r.rows() == 1)
    }
}

/// The rows a statement affected, for each driver's result type.
pub trait HasRowsAffected {
    fn rows(&self) -> u64;
}

impl HasRowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl HasRowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl HasRowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// The check every adapter makes before a credit is sent anywhere: the amount is not negative.
pub fn check_credit(amount_fen: i64) -> Result<(), AdapterError> {
    if amount_fen < 0 {
        return Err(AdapterError::Conflict(format!(
            "credit of {amount_fen} fen is negative"
        )));
    }
    Ok(())
}

/// Whether a database error is a unique-key violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn no_account(account_no: &str) -> AdapterError {
    AdapterError::NotFound(format!("account {account_no}"))
}

fn no_reservation(case_id: &str) -> AdapterError {
    AdapterError::NotFound(format!("reservation for case {case_id}"))
}

fn hold_money(case_id: &str, field: &str, s: &str) -> Result<i64, AdapterError> {
    parse_yuan(s).ok_or_else(|| AdapterError::BadRecord {
        record: format!("hfx_hold {case_id}"),
        detail: format!("{field} {s:?} is not a yuan amount"),
    })
}

fn status_of<D: HoldDialect>(account_no: &str, raw: &str) -> Result<AccountStatus, AdapterError> {
    D::account_status(raw).ok_or_else(|| AdapterError::UnknownCode {
        table: D::STATUS_TABLE,
        code: raw.to_string(),
        record: account_no.to_string(),
    })
}

/// A balance the core may hold money against: a yuan amount, not negative.
fn sound_balance<D: HoldDialect>(account_no: &str, raw: &str) -> Result<i64, AdapterError> {
    parse_yuan(raw)
        .filter(|v| *v >= 0)
        .ok_or_else(|| AdapterError::BadRecord {
            record: account_no.to_string(),
            detail: format!("{} {raw:?} is not a non-negative yuan amount", D::BALANCE),
        })
}

/// Seal the account and hold its whole balance for the case.
pub async fn reserve<D: HoldStore>(
    d: &D,
    case_id: &str,
    account_no: &str,
) -> Result<Reservation, AdapterError> {
    let mut tx = d.begin().await?;
    let acct = d
        .lock_account(&mut tx, account_no)
        .await?
        .ok_or_else(|| no_account(account_no))?;
    if let Some(h) = d.hold(&mut tx, case_id).await? {
        HoldState::parse(case_id, &h.state)?;
        if h.account_no != account_no {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} already holds account {}",
                h.account_no
            )));
        }
        return Ok(Reservation {
            case_id: case_id.into(),
            principal_fen: hold_money(case_id, "principal", &h.principal)?,
            interest_fen: hold_money(case_id, "interest", &h.interest)?,
            account_no: h.account_no,
        });
    }
    let status = status_of::<D>(account_no, &acct.status)?;
    if !matches!(status, AccountStatus::Normal | AccountStatus::Sealed) {
        return Err(AdapterError::Conflict(format!(
            "account {account_no} has status {}; cannot reserve",
            acct.status
        )));
    }
    let principal = sound_balance::<D>(account_no, &acct.balance)?;
    if let Some((other, state)) = d.live_hold_on(&mut tx, account_no).await? {
        HoldState::parse(&other, &state)?;
        return Err(AdapterError::Conflict(format!(
            "account {account_no} is already held by case {other}"
        )));
    }
    let interest = 0;
    let hold = NewHold {
        case_id,
        account_no,
        prev_status: &acct.status,
        principal_fen: principal,
        interest_fen: interest,
    };
    match d.insert_hold(&mut tx, &hold).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} is holding another account"
            )));
        }
        Err(e) if is_unique_violation(&e) => {
            return Err(AdapterError::Conflict(format!(
                "account {account_no} is already held by another case"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    d.set_account_status(&mut tx, account_no, D::SEALED).await?;
    d.commit(tx).await?;
    Ok(Reservation {
        case_id: case_id.into(),
        account_no: account_no.into(),
        principal_fen: principal,
        interest_fen: interest,
    })
}

/// The case's hold record with the account locked first.
async fn locked_hold<D: HoldStore>(
    d: &D,
    case_id: &str,
) -> Result<(Tx<D>, HoldRecord, HoldState), AdapterError> {
    let account_no = d
        .case_account(case_id)
        .await?
        .ok_or_else(|| no_reservation(case_id))?;
    let mut tx = d.begin().await?;
    d.lock_account(&mut tx, &account_no)
        .await?
        .ok_or_else(|| no_account(&account_no))?;
    let h = d
        .hold(&mut tx, case_id)
        .await?
        .ok_or_else(|| no_reservation(case_id))?;
    let state = HoldState::parse(case_id, &h.state)?;
    Ok((tx, h, state))
}

/// Undo a reservation: the account returns to its previous status, balance untouched.
pub async fn release<D: HoldStore>(d: &D, case_id: &str) -> Result<(), AdapterError> {
    let (mut tx, h, state) = locked_hold(d, case_id).await?;
    match state {
        HoldState::Released => return Ok(()),
        HoldState::Closed => {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} is already closed out"
            )));
        }
        HoldState::Held => {}
    }
    d.set_account_status(&mut tx, &h.account_no, &h.prev_status)
        .await?;
    d.set_hold_state(&mut tx, case_id, HoldState::Released)
        .await?;
    d.commit(tx).await
}

/// After payment is confirmed: closed-transferred, balance 0, close reason 07, a 07 posting.
pub async fn close_out<D: HoldStore>(d: &D, case_id: &str) -> Result<(), AdapterError> {
    let (mut tx, h, state) = locked_hold(d, case_id).await?;
    match state {
        HoldState::Closed => return Ok(()),
        HoldState::Released => {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} was released; cannot close out"
            )));
        }
        HoldState::Held => {}
    }
    let principal = hold_money(case_id, "principal", &h.principal)?;
    let interest = hold_money(case_id, "interest", &h.interest)?;
    let today = chrono::Local::now().date_naive();
    d.close_account(&mut tx, &h.account_no, today).await?;
    d.post(
        &mut tx,
        &Posting {
            account_no: &h.account_no,
            date: today,
            business_type: business_type::TRANSFER_OUT,
            amount_fen: -principal,
            interest_fen: interest,
            for_month: YearMonth::of(today),
            case_id,
        },
    )
    .await?;
    d.set_hold_state(&mut tx, case_id, HoldState::Closed)
        .await?;
    d.commit(tx).await
}

/// Credit a transferred-in amount (business type 08) with the carried history, once per case.
pub async fn credit_in<D: HoldStore>(
    d: &D,
    case_id: &str,
    account_no: &str,
    amount_fen: i64,
    history: &[Deposit],
) -> Result<(), AdapterError> {
    check_credit(amount_fen)?;
    let mut tx = d.begin().await?;
    let acct = d
        .lock_account(&mut tx, account_no)
        .await?
        .ok_or_else(|| no_account(account_no))?;
    // A hold of this case in a state nobody knows means the core's records of the case cannot
    // be trusted: no money moves.
    if let Some(h) = d.hold(&mut tx, case_id).await? {
        HoldState::parse(case_id, &h.state)?;
    }
    if let Some(g) = d.credited_to(&mut tx, case_id).await? {
        if g != account_no {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} was credited to {g}"
            )));
        }
        return Ok(());
    }
    let status = status_of::<D>(account_no, &acct.status)?;
    sound_balance::<D>(account_no, &acct.balance)?;
    if status != AccountStatus::Normal {
        return Err(AdapterError::Conflict(format!(
            "account {account_no} has status {}; credit needs {}",
            acct.status,
            D::NORMAL
        )));
    }
    match d
        .insert_credit(&mut tx, case_id, account_no, amount_fen)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} is being credited to another account"
            )));
        }
        Err(e) if is_unique_violation(&e) => {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} is being credited to another account"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let today = chrono::Local::now().date_naive();
    d.add_to_balance(&mut tx, account_no, amount_fen).await?;
    d.post(
        &mut tx,
        &Posting {
            account_no,
            date: today,
            business_type: business_type::TRANSFER_IN,
            amount_fen,
            interest_fen: 0,
            for_month: YearMonth::of(today),
            case_id,
        },
    )
    .await?;
    d.post_history(&mut tx, account_no, case_id, history)
        .await?;
    d.commit(tx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_ones_name_the_case() {
        for s in HoldState::ALL {
            assert_eq!(HoldState::parse("c", s.as_str()).ok(), Some(s));
        }
        match HoldState::parse("case-9", "HELD") {
            Err(AdapterError::UnknownHoldState { case_id, state }) => {
                assert_eq!((case_id.as_str(), state.as_str()), ("case-9", "HELD"))
            }
            other => panic!("want UnknownHoldState, got {other:?}"),
        }
        assert!(check_credit(0).is_ok());
        assert!(matches!(check_credit(-1), Err(AdapterError::Conflict(_))));
    }
}
