//! The postgres core's statements for the hold/credit state machine ([`crate::hold`]).

use super::{PostgresCore, codes, text};
use crate::AdapterError;
use crate::hold::{AccountRow, HoldDialect, HoldRecord, Posting};
use crate::model::{AccountStatus, Deposit};
use crate::money::format_yuan;
use chrono::NaiveDate;
use sqlx::{Postgres, QueryBuilder};

type Tx = crate::hold::Tx<PostgresCore>;

/// The PostgreSQL core's statements for the hold/credit state machine.
#[async_trait::async_trait]
impl HoldDialect for PostgresCore {
    type DB = Postgres;
    const BALANCE: &'static str = "balance";
    const STATUS_TABLE: &'static str = "account_status";
    const SEALED: &'static str = "sealed";
    const NORMAL: &'static str = "normal";
    const CASE_ACCOUNT: &'static str = "SELECT account_no FROM hfx_hold WHERE case_id = $1";
    const LIVE_HOLD_ON: &'static str = "SELECT case_id, state FROM hfx_hold WHERE account_no = $1 AND state NOT IN ('released', 'closed') LIMIT 1";
    const INSERT_HOLD: &'static str = "INSERT INTO hfx_hold (case_id, account_no, prev_status, principal, interest, state) \
         VALUES ($1, $2, $3, $4::numeric, $5::numeric, 'held') ON CONFLICT (case_id) DO NOTHING";
    const SET_HOLD_STATE: &'static str =
        "UPDATE hfx_hold SET state = $1, updated_at = now() WHERE case_id = $2";
    const SET_ACCOUNT_STATUS: &'static str = "UPDATE account SET status = $1 WHERE account_no = $2";
    const CREDITED_TO: &'static str = "SELECT account_no FROM hfx_credit WHERE case_id = $1";
    const INSERT_CREDIT: &'static str = "INSERT INTO hfx_credit (case_id, account_no, amount) VALUES ($1, $2, $3::numeric) ON CONFLICT (case_id) DO NOTHING";

    fn pool(&self) -> &sqlx::Pool<Postgres> {
        &self.pool
    }

    fn account_status(raw: &str) -> Option<AccountStatus> {
        codes::lookup(&codes::ACCOUNT_STATUS, raw)
    }

    async fn lock_account(
        &self,
        tx: &mut Tx,
        account_no: &str,
    ) -> Result<Option<AccountRow>, AdapterError> {
        let row = sqlx::query(
            "SELECT status, balance::text AS balance FROM account WHERE account_no = $1 FOR UPDATE",
        )
        .bind(account_no)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(AccountRow {
                status: text(&r, account_no, "status")?,
                balance: text(&r, account_no, "balance")?,
            })
        })
        .transpose()
    }

    async fn hold(&self, tx: &mut Tx, case_id: &str) -> Result<Option<HoldRecord>, AdapterError> {
        let row = sqlx::query(
            "SELECT account_no, prev_status, principal::text AS principal, interest::text AS interest, state \
             FROM hfx_hold WHERE case_id = $1 FOR UPDATE",
        )
        .bind(case_id)
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| {
            Ok(HoldRecord {
                account_no: text(&r, case_id, "account_no")?,
                prev_status: text(&r, case_id, "prev_status")?,
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
        _date: NaiveDate,
    ) -> Result<(), AdapterError> {
        sqlx::query(
            "UPDATE account SET status = 'closed_transferred', balance = 0, carried_over = 0, this_year = 0, \
             closed_at = now(), close_reason = '07' WHERE account_no = $1",
        )
        .bind(account_no)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn post(&self, tx: &mut Tx, p: &Posting<'_>) -> Result<(), AdapterError> {
        let bt = codes::BUSINESS_TYPE
            .iter()
            .find(|(_, c)| *c == p.business_type)
            .map_or("other", |(t, _)| *t);
        sqlx::query(
            "INSERT INTO account_posting (account_no, posted_on, business_type, amount, interest, for_month, case_id) \
             VALUES ($1, $2, $3, $4::numeric, $5::numeric, $6, $7)",
        )
        .bind(p.account_no)
        .bind(p.date)
        .bind(bt)
        .bind(format_yuan(p.amount_fen))
        .bind(format_yuan(p.interest_fen))
        .bind(p.for_month.first_day())
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
        sqlx::query("UPDATE account SET balance = balance + $1::numeric, this_year = this_year + $1::numeric WHERE account_no = $2")
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
            let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(
                "INSERT INTO account_posting (account_no, posted_on, business_type, amount, interest, for_month, case_id, memo) ",
            );
            qb.push_values(chunk, |mut b, h| {
                b.push_bind(account_no.to_string())
                    .push_bind(h.date)
                    // The carried postings keep their business type, so their months count
                    // here (continuous deposits); the memo says they were carried.
                    .push_bind(
                        super::codes::BUSINESS_TYPE
                            .iter()
                            .find(|(_, code)| *code == h.business_type)
                            .map_or("other", |(name, _)| name),
                    )
                    .push_bind(format_yuan(h.amount_fen))
                    .push_unseparated("::numeric")
                    .push_bind(format_yuan(h.interest_fen))
                    .push_unseparated("::numeric")
                    .push_bind(h.for_month.first_day())
                    .push_bind(case_id.to_string())
                    .push_bind(format!(
                        "carried history, business type {}",
                        h.business_type
                    ));
            });
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}
