//! The mariadb core's statements for the hold/credit state machine ([`crate::hold`]).

use super::{MariadbCore, codes, text, ymd};
use crate::AdapterError;
use crate::hold::{AccountRow, HoldDialect, HoldRecord, Posting};
use crate::model::{AccountStatus, Deposit};
use crate::money::format_yuan;
use chrono::NaiveDate;
use sqlx::{MySql, QueryBuilder};

type Tx = crate::hold::Tx<MariadbCore>;

#[async_trait::async_trait]
impl HoldDialect for MariadbCore {
    type DB = MySql;
    const BALANCE: &'static str = "GRZHYE";
    const STATUS_TABLE: &'static str = "个人账户状态 GRZHZT";
    const SEALED: &'static str = "02";
    const NORMAL: &'static str = "01";
    const CASE_ACCOUNT: &'static str = "SELECT GRZH FROM hfx_hold WHERE case_id = ?";
    const LIVE_HOLD_ON: &'static str = "SELECT case_id, state FROM hfx_hold WHERE GRZH = ? AND state NOT IN ('released', 'closed') LIMIT 1";
    // A second hold of the case, or a second held case of the account, is a unique-key
    // violation (hfx_hold_one_per_account on the generated held_grzh).
    const INSERT_HOLD: &'static str = "INSERT INTO hfx_hold (case_id, GRZH, prev_zt, principal, interest, state) VALUES (?, ?, ?, ?, ?, 'held')";
    const SET_HOLD_STATE: &'static str = "UPDATE hfx_hold SET state = ? WHERE case_id = ?";
    const SET_ACCOUNT_STATUS: &'static str = "UPDATE GRZHXX SET GRZHZT = ? WHERE GRZH = ?";
    const CREDITED_TO: &'static str = "SELECT GRZH FROM hfx_credit WHERE case_id = ?";
    const INSERT_CREDIT: &'static str =
        "INSERT INTO hfx_credit (case_id, GRZH, amount) VALUES (?, ?, ?)";

    fn pool(&self) -> &sqlx::Pool<MySql> {
        &self.pool
    }

    fn account_status(raw: &str) -> Option<AccountStatus> {
        codes::lookup(&codes::GRZHZT, raw)
    }

    async fn lock_account(
        &self,
        tx: &mut Tx,
        account_no: &str,
    ) -> Result<Option<AccountRow>, AdapterError> {
        let row = sqlx::query(
            "SELECT GRZHZT, CAST(GRZHYE AS CHAR) AS GRZHYE FROM GRZHXX WHERE GRZH = ? FOR UPDATE",
        )
        .bind(account_no)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(AccountRow {
                status: text(&r, account_no, "GRZHZT")?.trim().to_string(),
                balance: text(&r, account_no, "GRZHYE")?,
            })
        })
        .transpose()
    }

    async fn hold(&self, tx: &mut Tx, case_id: &str) -> Result<Option<HoldRecord>, AdapterError> {
        let row = sqlx::query(
            "SELECT GRZH, prev_zt, CAST(principal AS CHAR) AS principal, CAST(interest AS CHAR) AS interest, state \
             FROM hfx_hold WHERE case_id = ? FOR UPDATE",
        )
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(HoldRecord {
                account_no: text(&r, case_id, "GRZH")?,
                prev_status: text(&r, case_id, "prev_zt")?,
                principal: text(&r, case_id, "principal")?,
                interest: text(&r, case_id, "interest")?,
                state: text(&r, case_id, "state")?,
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
        sqlx::query(
            "UPDATE GRZHXX SET GRZHZT = '04', GRZHYE = 0, GRZHSNJZYE = 0, GRZHDNGJYE = 0, XHRQ = ?, XHYY = '07' WHERE GRZH = ?",
        )
        .bind(ymd(date))
        .bind(account_no)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn post(&self, tx: &mut Tx, p: &Posting<'_>) -> Result<(), AdapterError> {
        sqlx::query("INSERT INTO GRMX (GRZH, JZRQ, YWLX, FSE, FSLXE, HBJNY, YWLSH) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(p.account_no)
            .bind(ymd(p.date))
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
        sqlx::query(
            "UPDATE GRZHXX SET GRZHYE = GRZHYE + CAST(? AS DECIMAL(18,2)), GRZHDNGJYE = GRZHDNGJYE + CAST(? AS DECIMAL(18,2)) \
             WHERE GRZH = ?",
        )
        .bind(format_yuan(amount_fen))
        .bind(format_yuan(amount_fen))
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
        for chunk in history.chunks(1_000) {
            let mut qb: QueryBuilder<MySql> = QueryBuilder::new(
                "INSERT INTO GRMX (GRZH, JZRQ, YWLX, FSE, FSLXE, HBJNY, YWLSH, BZ) ",
            );
            qb.push_values(chunk, |mut b, h| {
                b.push_bind(account_no.to_string())
                    .push_bind(ymd(h.date))
                    // The carried postings keep their business type, so their months count
                    // here (continuous deposits); BZ says they were carried.
                    .push_bind(h.business_type.clone())
                    .push_bind(format_yuan(h.amount_fen))
                    .push_bind(format_yuan(h.interest_fen))
                    .push_bind(h.for_month.to_string())
                    .push_bind(case_id.to_string())
                    .push_bind(format!("转入历史 {}", h.business_type));
            });
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}
