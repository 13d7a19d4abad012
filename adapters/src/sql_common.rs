//! What the three SQL cores (sqlite, postgres, mariadb) share: the [`CoreSystem`] face, written
//! once over [`SqlCore`]. A core supplies its reads, its self-test and its deadline; the writes
//! are the one hold/credit state machine ([`crate::hold`]) over the core's [`hold::HoldDialect`].

use crate::hold::{self, HoldStore};
use crate::model::{Deposit, IdType, Loan, LoanRole, LoanStatus, Member, YearMonth};
use crate::money::{format_yuan, parse_yuan};
use crate::{AdapterError, CheckItem, CoreSystem, LivePage, PersonLoan, Reservation};
use chrono::NaiveDate;
use std::future::Future;
use std::time::Duration;

/// A SQL core system: its reads and self-test; [`CoreSystem`] follows from them.
#[async_trait::async_trait]
pub trait SqlCore: HoldStore + Sized + 'static {
    /// The system kind ([`CoreSystem::kind`]).
    const KIND: &'static str;

    /// The deadline of one call; `None`: calls run without one.
    fn deadline(&self) -> Option<Duration>;

    /// [`CoreSystem::member_by_id`], without the deadline.
    async fn member_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError>;

    /// [`CoreSystem::deposits`], without the deadline.
    async fn deposits_inner(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError>;

    /// [`CoreSystem::loans_of`], without the deadline.
    async fn loans_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError>;

    /// [`CoreSystem::check`], without the deadline.
    async fn check_inner(&self) -> Vec<CheckItem>;

    /// [`CoreSystem::live_ids`], without the deadline; by default not supported.
    async fn live_ids_inner(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<LivePage, AdapterError> {
        let _ = (cursor, limit);
        Err(AdapterError::other(format!(
            "the {} adapter cannot list its live population (duplicate sweep)",
            Self::KIND
        )))
    }
}

/// Run one call of `core` under its deadline, if it has one.
pub(crate) async fn timed<C: SqlCore, T>(
    core: &C,
    what: &str,
    f: impl Future<Output = Result<T, AdapterError>>,
) -> Result<T, AdapterError> {
    match core.deadline() {
        Some(limit) => crate::timing::timed(C::KIND, what, limit, f).await,
        None => f.await,
    }
}

/// How often one call is tried again after its database connection was lost.
const RECONNECTS: u32 = 2;

/// Whether `e` says the database connection was lost (the socket, or the server ending the
/// session: PostgreSQL SQLSTATE class 08 or 57P01-57P03 on a restart or
/// `pg_terminate_backend`; MariaDB 70100 on `KILL`, 08S01 on shutdown). Whatever the call was
/// doing, the server either committed it or rolled it back.
pub fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| {
                c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "70100")
            }) || transient_lock(d.as_ref())
        }
        _ => false,
    }
}

/// A lock the database could not take now (SQLite busy or locked; PostgreSQL serialization
/// failure, deadlock or lock not available; MariaDB deadlock or lock wait timeout): the
/// transaction was rolled back whole, and the same call may succeed a moment later.
fn transient_lock(d: &dyn sqlx::error::DatabaseError) -> bool {
    let code = d.code();
    matches!(
        code.as_deref(),
        Some("5" | "6" | "261" | "517" | "40001" | "40P01" | "55P03")
    ) || d.message().contains("Lock wait timeout exceeded")
        || d.message().contains("database is locked")
}

/// Whether `e`'s sqlx source says the connection was lost; if so, `e` becomes (or stays)
/// [`AdapterError::Unavailable`] (the session ended; a retry may help), the sqlx error kept as
/// its source.
fn as_connection_lost(e: &mut AdapterError) -> bool {
    let lost = std::error::Error::source(&*e)
        .and_then(|s| s.downcast_ref::<sqlx::Error>())
        .is_some_and(connection_lost);
    if lost && let AdapterError::Other { source, .. } = e {
        *e = AdapterError::Unavailable {
            what: "database connection lost".into(),
            source: source.take(),
        };
    }
    lost
}

/// Run call `f` of `core` under its deadline; a call whose connection was lost (the server
/// restarted, or ended the session) is run again on a fresh connection from the pool, at most
/// [`RECONNECTS`] times. That is safe for every call: reads change nothing, and every write is
/// idempotent by case id, committed or rolled back as a whole. Still lost: Unavailable.
pub(crate) async fn reconnecting<C: SqlCore, T, F, Fut>(
    core: &C,
    what: &str,
    f: F,
) -> Result<T, AdapterError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, AdapterError>>,
{
    timed(core, what, async {
        let mut tries = 0;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(mut e) => {
                    if as_connection_lost(&mut e) && tries < RECONNECTS {
                        tries += 1;
                        tracing::info!(kind = C::KIND, what, tries, error = %e.detail(), "database connection lost; calling again");
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    })
    .await
}

#[async_trait::async_trait]
impl<C: SqlCore> CoreSystem for C {
    fn kind(&self) -> &'static str {
        C::KIND
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        reconnecting(self, "member_by_id", || {
            self.member_inner(id_type, id_number)
        })
        .await
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        reconnecting(self, "deposits", || {
            self.deposits_inner(account_no, from, to)
        })
        .await
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        reconnecting(self, "loans_of", || self.loans_inner(id_type, id_number)).await
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        reconnecting(self, "reserve", || hold::reserve(self, case_id, account_no)).await
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        reconnecting(self, "release", || hold::release(self, case_id)).await
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        reconnecting(self, "close_out", || hold::close_out(self, case_id)).await
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        let credit = || hold::credit_in(self, case_id, account_no, amount_fen, history);
        reconnecting(self, "credit_in", credit).await
    }

    async fn live_ids(&self, cursor: Option<String>, limit: u32) -> Result<LivePage, AdapterError> {
        reconnecting(self, "live_ids", || {
            self.live_ids_inner(cursor.clone(), limit)
        })
        .await
    }

    async fn check(&self) -> Vec<CheckItem> {
        // The self-test makes several round trips: three calls' time.
        match self.deadline() {
            Some(limit) => crate::timing::timed_check(limit * 3, self.check_inner()).await,
            None => self.check_inner().await,
        }
    }
}

/// The self-test's connectivity item: `detail` is what the server answered.
pub(crate) fn connectivity(answer: Result<String, sqlx::Error>) -> CheckItem {
    CheckItem {
        name: "connectivity".into(),
        ok: answer.is_ok(),
        detail: match answer {
            Ok(v) => v,
            Err(e) => e.to_string(),
        },
    }
}

/// The self-test's code-tables item, built up one enum column at a time.
#[derive(Default)]
pub(crate) struct CodeTables {
    details: Vec<String>,
    unmapped: Vec<String>,
    failed: Option<String>,
}

impl CodeTables {
    /// Column `name`'s distinct values as read (NULL as `"NULL"`); `known` says which map.
    pub(crate) fn column(
        &mut self,
        name: &str,
        found: Result<Vec<Option<String>>, sqlx::Error>,
        known: impl Fn(&str) -> bool,
    ) {
        match found {
            Ok(found) => {
                let found: Vec<String> = found
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|| "NULL".into()))
                    .collect();
                self.details.push(format!("{name} {found:?}"));
                self.unmapped.extend(
                    found
                        .iter()
                        .filter(|c| !known(c))
                        .map(|c| format!("{name} {c:?}")),
                );
            }
            Err(e) => self.failed = Some(format!("{name}: {e}")),
        }
    }

    pub(crate) fn item(self) -> CheckItem {
        match self.failed {
            Some(e) => CheckItem {
                name: "code tables".into(),
                ok: false,
                detail: e,
            },
            None if self.unmapped.is_empty() => CheckItem {
                name: "code tables".into(),
                ok: true,
                detail: format!("all mapped: {}", self.details.join("; ")),
            },
            None => CheckItem {
                name: "code tables".into(),
                ok: false,
                detail: format!("unmapped codes: {}", self.unmapped.join(", ")),
            },
        }
    }
}

/// The self-test's sample-read item: one member row read and mapped by `map`; an empty core
/// fails it ([`crate::EMPTY_CORE`]).
pub(crate) fn sample_read<R>(
    sample: Result<Option<R>, sqlx::Error>,
    map: impl Fn(&R) -> Result<Member, AdapterError>,
) -> CheckItem {
    let (ok, detail) = match sample {
        Ok(Some(row)) => match map(&row) {
            Ok(m) => (true, format!("account {} read and mapped", m.account_no)),
            Err(e) => (false, e.detail()),
        },
        Ok(None) => (false, crate::EMPTY_CORE.into()),
        Err(e) => (false, e.to_string()),
    };
    CheckItem {
        name: "sample read".into(),
        ok,
        detail,
    }
}

/// A record the core holds that cannot be read: names the record and what is wrong.
pub(crate) fn bad(record: &str, detail: impl ToString) -> AdapterError {
    AdapterError::BadRecord {
        record: record.to_string(),
        detail: detail.to_string(),
    }
}

/// A code in `table` with no mapping, in `record`.
pub(crate) fn unknown(table: &'static str, code: &str, record: &str) -> AdapterError {
    AdapterError::UnknownCode {
        table,
        code: code.to_string(),
        record: record.to_string(),
    }
}

/// A row whose columns read as text (money and dates are selected as text): an sqlx row, or
/// the sqlite core's rusqlite row.
pub(crate) trait TextRow {
    /// The driver's error reading a column.
    type Error: std::fmt::Display;
    fn text_col(&self, col: &str) -> Result<Option<String>, Self::Error>;
    fn int_col(&self, col: &str) -> Result<i32, Self::Error>;
    /// An integer column that may be NULL.
    fn opt_int_col(&self, col: &str) -> Result<Option<i64>, Self::Error>;
}

impl<R: sqlx::Row> TextRow for R
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    type Error = sqlx::Error;
    fn text_col(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get::<Option<String>, _>(col)
    }
    fn int_col(&self, col: &str) -> Result<i32, sqlx::Error> {
        self.try_get::<i32, _>(col)
    }
    fn opt_int_col(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get::<Option<i64>, _>(col)
    }
}

/// A text column that may be NULL.
pub(crate) fn opt_text(
    row: &impl TextRow,
    record: &str,
    col: &str,
) -> Result<Option<String>, AdapterError> {
    row.text_col(col)
        .map_err(|e| bad(record, format!("{col}: {e}")))
}

/// A text column that must be present.
pub(crate) fn text(row: &impl TextRow, record: &str, col: &str) -> Result<String, AdapterError> {
    opt_text(row, record, col)?.ok_or_else(|| bad(record, format!("{col} is missing")))
}

/// A yuan amount, any sign.
pub(crate) fn money_col(row: &impl TextRow, record: &str, col: &str) -> Result<i64, AdapterError> {
    let s = text(row, record, col)?;
    parse_yuan(&s).ok_or_else(|| bad(record, format!("{col} {s:?} is not a yuan amount")))
}

/// A yuan amount that cannot be negative (balances, bases, loan amounts).
pub(crate) fn amount_col(row: &impl TextRow, record: &str, col: &str) -> Result<i64, AdapterError> {
    let v = money_col(row, record, col)?;
    if v < 0 {
        return Err(bad(record, format!("{col} {} is negative", format_yuan(v))));
    }
    Ok(v)
}

/// A percent DECIMAL(5,2) as basis points (12.00 -> 1200); NULL is 0.
pub(crate) fn rate_col(row: &impl TextRow, record: &str, col: &str) -> Result<u32, AdapterError> {
    match opt_text(row, record, col)? {
        None => Ok(0),
        Some(s) => parse_yuan(&s)
            .filter(|bp| (0..=10_000).contains(bp))
            .map(|bp| bp as u32)
            .ok_or_else(|| bad(record, format!("{col} {s:?} is not a percentage"))),
    }
}

/// The stored forms an id number may have: as given, with a lower-case check character, and a
/// legacy 15-digit resident id (born 19xx) that was never upgraded.
pub(crate) fn id_candidates(id_type: IdType, id_number: &str) -> Vec<String> {
    let mut out = vec![id_number.to_string()];
    let lower = id_number.to_ascii_lowercase();
    if lower != id_number {
        out.push(lower);
    }
    if id_type == IdType::ResidentId
        && id_number.len() == 18
        && id_number.is_ascii()
        && &id_number[6..8] == "19"
    {
        out.push(format!("{}{}", &id_number[..6], &id_number[8..17]));
    }
    out
}

/// Where a core's loan row keeps each field.
pub(crate) struct LoanColumns {
    pub loan_account: &'static str,
    pub contract_amount: &'static str,
    pub issued_on: &'static str,
    pub outstanding: &'static str,
    pub overdue_principal: &'static str,
    pub overdue_periods: &'static str,
    pub settled_on: &'static str,
}

/// Loan `no`'s row, whose role and status are already mapped; `date` and `opt_date` read the
/// core's dates.
pub(crate) fn person_loan<R: TextRow>(
    row: &R,
    no: &str,
    (role, status): (LoanRole, LoanStatus),
    c: &LoanColumns,
    date: impl Fn(&R, &str, &str) -> Result<NaiveDate, AdapterError>,
    opt_date: impl Fn(&R, &str, &str) -> Result<Option<NaiveDate>, AdapterError>,
) -> Result<PersonLoan, AdapterError> {
    let col = c.overdue_periods;
    let periods = row
        .int_col(col)
        .map_err(|e| bad(no, format!("{col}: {e}")))?;
    let overdue_periods =
        u32::try_from(periods).map_err(|_| bad(no, format!("{col} {periods} is negative")))?;
    Ok(PersonLoan {
        role,
        loan: Loan {
            contract_no: no.to_string(),
            loan_account: text(row, no, c.loan_account)?,
            role,
            contract_amount_fen: amount_col(row, no, c.contract_amount)?,
            issued_on: date(row, no, c.issued_on)?,
            outstanding_fen: amount_col(row, no, c.outstanding)?,
            overdue_principal_fen: amount_col(row, no, c.overdue_principal)?,
            overdue_periods,
            settled_on: opt_date(row, no, c.settled_on)?,
            status,
        },
    })
}

#[cfg(test)]
mod connection_tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable_and_other_errors_are_kept() {
        let mut e = AdapterError::from(sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(as_connection_lost(&mut e) && e.is_unavailable(), "{e:?}");
        let mut e = AdapterError::from(sqlx::Error::RowNotFound);
        assert!(!as_connection_lost(&mut e));
        assert!(matches!(e, AdapterError::Other { .. }), "{e:?}");
        let mut e = AdapterError::Conflict("held".into());
        assert!(!as_connection_lost(&mut e));
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
    }
}
