//! The sqlite core's statements for the hold/credit state machine ([`crate::hold`]).

use super::{SqliteCore, d, parse_money};
use crate::AdapterError;
use crate::hold::{AccountRow, HoldDialect, HoldRecord, Posting};
use crate::model::{AccountStatus, Deposit};
use crate::money::format_yuan;
use chrono::NaiveDate;
use sqlx::{Row, Sqlite};

type Tx = crate::hold::Tx<SqliteCore>;

/// The sqlite core's statements for the hold/credit state machine.
#[async_trait::async_trait]
impl HoldDialect for SqliteCore {
    type DB = Sqlite;
    const BEGIN: Option<&'static str> = Some("BEGIN IMMEDIATE");
    const BALANCE: &'static str = "grzhye";
    const STATUS_TABLE: &'static str = "个人账户状态";
    const SEALED: &'static str = "02";
    const NORMAL: &'static str = "01";
    const CASE_ACCOUNT: &'static str = "SELECT grzh FROM hfx_hold WHERE case_id = ?1";
    const LIVE_HOLD_ON: &'static str = "SELECT case_id, state FROM hfx_hold WHERE grzh = ?1 AND state NOT IN ('released', 'closed') LIMIT 1";
    const INSERT_HOLD: &'static str = "INSERT INTO hfx_hold (case_id, grzh, prev_zt, bj, lx, state) VALUES (?1, ?2, ?3, ?4, ?5, 'held') \
         ON CONFLICT (case_id) DO NOTHING";
    const SET_HOLD_STATE: &'static str = "UPDATE hfx_hold SET state = ?1 WHERE case_id = ?2";
    const SET_ACCOUNT_STATUS: &'static str = "UPDATE grxx SET grzhzt = ?1 WHERE grzh = ?2";
    const CREDITED_TO: &'static str = "SELECT grzh FROM hfx_credit WHERE case_id = ?1";
    const INSERT_CREDIT: &'static str = "INSERT INTO hfx_credit (case_id, grzh, je) VALUES (?1, ?2, ?3) ON CONFLICT (case_id) DO NOTHING";

    fn pool(&self) -> &sqlx::Pool<Sqlite> {
        &self.pool
    }

    fn account_status(raw: &str) -> Option<AccountStatus> {
        AccountStatus::from_code(raw)
    }

    async fn lock_account(
        &self,
        tx: &mut Tx,
        account_no: &str,
    ) -> Result<Option<AccountRow>, AdapterError> {
        let row = sqlx::query("SELECT grzhzt, grzhye FROM grxx WHERE grzh = ?1")
            .bind(account_no)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| {
            Ok(AccountRow {
                status: r.try_get("grzhzt")?,
                balance: r.try_get("grzhye")?,
            })
        })
        .transpose()
    }

    async fn hold(&self, tx: &mut Tx, case_id: &str) -> Result<Option<HoldRecord>, AdapterError> {
        let row =
            sqlx::query("SELECT grzh, prev_zt, bj, lx, state FROM hfx_hold WHERE case_id = ?1")
                .bind(case_id)
                .fetch_optional(&mut **tx)
                .await?;
        row.map(|r| {
            Ok(HoldRecord {
                account_no: r.try_get("grzh")?,
                prev_status: r.try_get("prev_zt")?,
                principal: r.try_get("bj")?,
                interest: r.try_get("lx")?,
                state: r.try_get("state")?,
            })
        })
        .transpose()
    }

    async fn close_account(
        &self,
        tx: &mut Tx,
        account_no: &str,
        date: NaiveDate,
    ) -> Result<(), AdapterError> {
        sqlx::query("UPDATE grxx SET grzhzt = '04', grzhye = '0.00', grzhsnjzye = '0.00', grzhdngjye = '0.00', xhrq = ?1, xhyy = '07' WHERE grzh = ?2")
            .bind(d(date))
            .bind(account_no)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn post(&self, tx: &mut Tx, p: &Posting<'_>) -> Result<(), AdapterError> {
        sqlx::query("INSERT INTO grmx (grzh, rq, ywlx, fse, lx, hjny, ajbh) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .bind(p.account_no)
            .bind(d(p.date))
            .bind(p.business_type)
            .bind(format_yuan(p.amount_fen))
            .bind(format_yuan(p.interest_fen))
            .bind(p.for_month.to_string())
            .bind(p.case_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn add_to_balance(
        &self,
        tx: &mut Tx,
        account_no: &str,
        amount_fen: i64,
    ) -> Result<(), AdapterError> {
        let row = sqlx::query("SELECT grzhye, grzhdngjye FROM grxx WHERE grzh = ?1")
            .bind(account_no)
            .fetch_one(&mut **tx)
            .await?;
        let bal = parse_money(account_no, "grzhye", &row.try_get::<String, _>("grzhye")?)?;
        let year = parse_money(
            account_no,
            "grzhdngjye",
            &row.try_get::<String, _>("grzhdngjye")?,
        )?;
        sqlx::query("UPDATE grxx SET grzhye = ?1, grzhdngjye = ?2 WHERE grzh = ?3")
            .bind(format_yuan(bal + amount_fen))
            .bind(format_yuan(year + amount_fen))
            .bind(account_no)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn post_history(
        &self,
        tx: &mut Tx,
        account_no: &str,
        case_id: &str,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        for h in history {
            // The carried postings keep their business type, so their months count here
            // (continuous deposits); ajbh names the case and the type they came as.
            sqlx::query("INSERT INTO grmx (grzh, rq, ywlx, fse, lx, hjny, ajbh) VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6)")
                .bind(account_no)
                .bind(d(h.date))
                .bind(format_yuan(h.amount_fen))
                .bind(format_yuan(h.interest_fen))
                .bind(h.for_month.to_string())
                .bind(format!("{case_id}:{}", h.business_type))
                .bind(h.business_type.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}
