//! The bank stand-in's ledger file (sqlite): one row per case, written before the bank
//! answers.

use super::{BankStandInError, CaseState, LedgerCase};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;

pub(super) struct Store {
    pub(super) pool: sqlx::SqlitePool,
}

fn db(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BankStandInError {
    let what = what.into();
    move |source| BankStandInError::Store { what, source }
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bank_case (
    case_id        TEXT PRIMARY KEY,
    from_centre    TEXT NOT NULL,
    to_centre      TEXT NOT NULL,
    amount_fen     INTEGER NOT NULL,
    state          TEXT NOT NULL,
    bank_ref       TEXT,
    decline_code   TEXT,
    decline_reason TEXT,
    decided_at     TEXT NOT NULL,
    delivered_at   TEXT
)";

impl Store {
    pub(super) async fn open(path: &Path) -> Result<Self, BankStandInError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| BankStandInError::Io {
                    what: format!("creating {}", dir.display()),
                    source,
                })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(db(format!("opening {}", path.display())))?;
        sqlx::query(SCHEMA)
            .execute(&pool)
            .await
            .map_err(db("creating the table"))?;
        Ok(Self { pool })
    }

    pub(super) async fn load(&self) -> Result<Vec<LedgerCase>, BankStandInError> {
        let rows = sqlx::query(
            "SELECT case_id, from_centre, to_centre, amount_fen, state, bank_ref, decline_code,
                    decline_reason, decided_at, delivered_at
             FROM bank_case ORDER BY case_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the cases"))?;
        rows.iter()
            .map(|r| {
                let case_id: String = r.try_get("case_id").map_err(db("reading case_id"))?;
                let bad = |detail: String| BankStandInError::BadRow {
                    case_id: case_id.clone(),
                    detail,
                };
                let get = |c: &str| -> Result<String, BankStandInError> {
                    r.try_get::<String, _>(c)
                        .map_err(|e| bad(format!("column {c}: {e}")))
                };
                let opt = |c: &str| -> Result<Option<String>, BankStandInError> {
                    r.try_get::<Option<String>, _>(c)
                        .map_err(|e| bad(format!("column {c}: {e}")))
                };
                let raw = get("state")?;
                let state =
                    CaseState::parse(&raw).ok_or_else(|| bad(format!("unknown state {raw:?}")))?;
                let case = LedgerCase {
                    case_id: case_id.clone(),
                    from_centre: get("from_centre")?,
                    to_centre: get("to_centre")?,
                    amount_fen: r
                        .try_get::<i64, _>("amount_fen")
                        .map_err(|e| bad(format!("column amount_fen: {e}")))?,
                    state,
                    bank_ref: opt("bank_ref")?,
                    decline_code: opt("decline_code")?,
                    decline_reason: opt("decline_reason")?,
                    decided_at: get("decided_at")?,
                    delivered_at: opt("delivered_at")?,
                };
                if state != CaseState::Declined && case.bank_ref.is_none() {
                    return Err(bad(format!("{raw} without a bank_ref")));
                }
                Ok(case)
            })
            .collect()
    }

    pub(super) async fn insert(&self, c: &LedgerCase) -> Result<(), BankStandInError> {
        sqlx::query(
            "INSERT INTO bank_case (case_id, from_centre, to_centre, amount_fen, state, bank_ref,
                 decline_code, decline_reason, decided_at, delivered_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.case_id)
        .bind(&c.from_centre)
        .bind(&c.to_centre)
        .bind(c.amount_fen)
        .bind(c.state.as_str())
        .bind(&c.bank_ref)
        .bind(&c.decline_code)
        .bind(&c.decline_reason)
        .bind(&c.decided_at)
        .bind(&c.delivered_at)
        .execute(&self.pool)
        .await
        .map_err(db(format!("writing case {}", c.case_id)))?;
        Ok(())
    }

    pub(super) async fn deliver(&self, case_id: &str, at: &str) -> Result<(), BankStandInError> {
        let done = sqlx::query(
            "UPDATE bank_case SET state = 'delivered', delivered_at = ?
             WHERE case_id = ? AND state = 'paid'",
        )
        .bind(at)
        .bind(case_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("delivering case {case_id}")))?;
        if done.rows_affected() != 1 {
            return Err(BankStandInError::BadRow {
                case_id: case_id.into(),
                detail: "not a paid case in the ledger file".into(),
            });
        }
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}
