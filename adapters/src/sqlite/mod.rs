//! The small-centre core system on SQLite (the stand-in for centres that run a small vendor's
//! system): lower-case pinyin columns, money as TEXT decimal yuan, dates as TEXT YYYY-MM-DD.
//!
//! Tables: `dwxx` employers, `grxx` members (person + account), `grmx` postings, `dkxx`
//! loans; `hfx_hold` and `hfx_credit` make the transfer writes idempotent by case id.

use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRole, LoanStatus, Member, Sex, YearMonth,
    business_type,
};
use crate::money::parse_yuan;
use crate::sql_common::{self, SqlCore, bad};
use crate::{AdapterError, CheckItem, PersonLoan};
use chrono::NaiveDate;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;

mod dialect;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS dwxx (
  dwzh TEXT PRIMARY KEY, dwmc TEXT NOT NULL, tyshxydm TEXT NOT NULL,
  dwjcbl INTEGER NOT NULL, grjcbl INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS grxx (
  grzh TEXT PRIMARY KEY, xingming TEXT NOT NULL, zjlx TEXT NOT NULL, zjhm TEXT NOT NULL,
  xingbie TEXT NOT NULL, csrq TEXT NOT NULL, sjhm TEXT NOT NULL, dwzh TEXT NOT NULL,
  grjcjs TEXT NOT NULL, gryjce TEXT NOT NULL, dwyjce TEXT NOT NULL,
  grzhye TEXT NOT NULL, grzhsnjzye TEXT NOT NULL, grzhdngjye TEXT NOT NULL,
  grzhzt TEXT NOT NULL, khrq TEXT NOT NULL, xhrq TEXT, xhyy TEXT, jzny TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS grxx_zj ON grxx (zjhm, zjlx);
CREATE TABLE IF NOT EXISTS grmx (
  grzh TEXT NOT NULL, rq TEXT NOT NULL, ywlx TEXT NOT NULL, fse TEXT NOT NULL, lx TEXT NOT NULL,
  hjny TEXT NOT NULL, ajbh TEXT
);
CREATE INDEX IF NOT EXISTS grmx_zh ON grmx (grzh, hjny);
CREATE TABLE IF NOT EXISTS dkxx (
  jkhtbh TEXT PRIMARY KEY, dkzh TEXT NOT NULL, jkr_zjlx TEXT NOT NULL, jkr_zjhm TEXT NOT NULL,
  gjr_zjlx TEXT, gjr_zjhm TEXT, htdkje TEXT NOT NULL, dkffrq TEXT NOT NULL, dkye TEXT NOT NULL,
  yqbjze TEXT NOT NULL, ljyqqs INTEGER NOT NULL, dkjqrq TEXT, dkzt TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dkxx_jkr ON dkxx (jkr_zjhm);
CREATE INDEX IF NOT EXISTS dkxx_gjr ON dkxx (gjr_zjhm);
CREATE TABLE IF NOT EXISTS hfx_hold (
  case_id TEXT PRIMARY KEY, grzh TEXT NOT NULL, prev_zt TEXT NOT NULL, bj TEXT NOT NULL, lx TEXT NOT NULL,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hfx_credit (
  case_id TEXT PRIMARY KEY, grzh TEXT NOT NULL, je TEXT NOT NULL
);
"#;

pub struct SqliteCore {
    pool: SqlitePool,
}

fn d(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn parse_date(record: &str, field: &str, s: &str) -> Result<NaiveDate, AdapterError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| bad(record, format!("{field} {s:?} is not a real date")))
}

fn parse_money(record: &str, field: &str, s: &str) -> Result<i64, AdapterError> {
    parse_yuan(s).ok_or_else(|| bad(record, format!("{field} {s:?} is not a yuan amount")))
}

fn parse_month(record: &str, field: &str, s: &str) -> Result<YearMonth, AdapterError> {
    s.parse::<u32>()
        .ok()
        .and_then(YearMonth::from_yyyymm)
        .ok_or_else(|| bad(record, format!("{field} {s:?} is not a YYYYMM month")))
}

/// The core's own loan status codes (`dkxx.dkzt`).
pub fn loan_status_code(s: LoanStatus) -> &'static str {
    match s {
        LoanStatus::Normal => "1",
        LoanStatus::Overdue => "2",
        LoanStatus::Settled => "3",
        LoanStatus::WrittenOff => "4",
    }
}

/// A date as the core stores it (`YYYY-MM-DD`).
pub fn date_text(date: NaiveDate) -> String {
    d(date)
}

impl SqliteCore {
    /// Open (creating if needed) the core database at `path`: the stand-ins, seeding, and a
    /// node whose `[adapter]` says `create = true`.
    pub async fn open(path: &std::path::Path) -> Result<Self, AdapterError> {
        Self::open_with(path, true).await
    }

    /// Open the core database at `path`, which must exist: what a node opens unless its
    /// `[adapter]` says `create = true`. A missing file is an error naming `adapter.path`.
    pub async fn open_existing(path: &std::path::Path) -> Result<Self, AdapterError> {
        if !path.is_file() {
            return Err(AdapterError::unavailable(format!(
                "adapter.path: no sqlite core database at {}; point adapter.path at the \
                 centre's core database, or, in a test zone, create and fill it with \
                 `hfx seed --config NODE.toml` (or set adapter.create = true for an empty one)",
                path.display()
            )));
        }
        Self::open_with(path, false).await
    }

    async fn open_with(path: &std::path::Path, create: bool) -> Result<Self, AdapterError> {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| {
                AdapterError::unavailable_from(format!("sqlite core {}", path.display()), e)
            })?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn member_count(&self) -> Result<u64, AdapterError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grxx")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    fn member_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Member, AdapterError> {
        let grzh: String = row.try_get("grzh")?;
        let r = grzh.as_str();
        let s = |c: &str| -> Result<String, AdapterError> {
            row.try_get::<String, _>(c).map_err(|e| bad(r, e))
        };
        let zjlx = s("zjlx")?;
        let id_type = IdType::from_code(&zjlx).ok_or_else(|| AdapterError::UnknownCode {
            table: "证件类型",
            code: zjlx.clone(),
            record: grzh.clone(),
        })?;
        let zt = s("grzhzt")?;
        let status = AccountStatus::from_code(&zt).ok_or_else(|| AdapterError::UnknownCode {
            table: "个人账户状态",
            code: zt.clone(),
            record: grzh.clone(),
        })?;
        let id_number = s("zjhm")?;
        let id_number = if id_type == IdType::ResidentId {
            crate::ids::validate_resident_id("zjhm", &id_number).map_err(|e| bad(r, e))?
        } else {
            id_number
        };
        let xb = s("xingbie")?;
        let sex = match xb.as_str() {
            "1" => Sex::Male,
            "2" => Sex::Female,
            other => {
                return Err(AdapterError::UnknownCode {
                    table: "性别",
                    code: other.into(),
                    record: grzh.clone(),
                });
            }
        };
        let xhrq: Option<String> = row.try_get("xhrq").map_err(|e| bad(r, e))?;
        Ok(Member {
            account_no: grzh.clone(),
            name: s("xingming")?,
            id_type,
            id_number,
            sex,
            birth_date: parse_date(r, "csrq", &s("csrq")?)?,
            phone: s("sjhm")?,
            employer: Employer {
                account_no: s("dwzh")?,
                name: row
                    .try_get::<Option<String>, _>("dwmc")
                    .map_err(|e| bad(r, e))?
                    .unwrap_or_default(),
                uscc: row
                    .try_get::<Option<String>, _>("tyshxydm")
                    .map_err(|e| bad(r, e))?
                    .unwrap_or_default(),
                employer_rate_bp: row
                    .try_get::<Option<i64>, _>("dwjcbl")
                    .map_err(|e| bad(r, e))?
                    .unwrap_or(0) as u32,
                member_rate_bp: row
                    .try_get::<Option<i64>, _>("grjcbl")
                    .map_err(|e| bad(r, e))?
                    .unwrap_or(0) as u32,
            },
            deposit_base_fen: parse_money(r, "grjcjs", &s("grjcjs")?)?,
            member_monthly_fen: parse_money(r, "gryjce", &s("gryjce")?)?,
            employer_monthly_fen: parse_money(r, "dwyjce", &s("dwyjce")?)?,
            balance_fen: parse_money(r, "grzhye", &s("grzhye")?)?,
            carried_over_fen: parse_money(r, "grzhsnjzye", &s("grzhsnjzye")?)?,
            this_year_fen: parse_money(r, "grzhdngjye", &s("grzhdngjye")?)?,
            status,
            opened_on: parse_date(r, "khrq", &s("khrq")?)?,
            closed_on: match xhrq {
                Some(x) => Some(parse_date(r, "xhrq", &x)?),
                None => None,
            },
            close_reason: row.try_get("xhyy").map_err(|e| bad(r, e))?,
            paid_up_to: parse_month(r, "jzny", &s("jzny")?)?,
        })
    }
}

const MEMBER_SELECT: &str = "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh";

#[async_trait::async_trait]
impl SqlCore for SqliteCore {
    const KIND: &'static str = "sqlite";

    /// The sqlite core is a local file: its calls run without a deadline.
    fn deadline(&self) -> Option<std::time::Duration> {
        None
    }

    async fn member_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE g.zjhm = ?1 AND g.zjlx = ?2 ORDER BY g.grzhzt LIMIT 1"
        )))
        .bind(id_number)
        .bind(id_type.code())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::member_from_row).transpose()
    }

    async fn deposits_inner(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let rows = sqlx::query(
            "SELECT rq, ywlx, fse, lx, hjny FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3 ORDER BY hjny, rq, rowid",
        )
        .bind(account_no)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let rec = format!("grmx {account_no}");
            let s = |c: &str| -> Result<String, AdapterError> {
                row.try_get::<String, _>(c).map_err(|e| bad(&rec, e))
            };
            let ywlx = s("ywlx")?;
            if !business_type::ALL.contains(&ywlx.as_str()) {
                return Err(AdapterError::UnknownCode {
                    table: "业务类型",
                    code: ywlx,
                    record: rec.clone(),
                });
            }
            out.push(Deposit {
                date: parse_date(&rec, "rq", &s("rq")?)?,
                business_type: ywlx,
                amount_fen: parse_money(&rec, "fse", &s("fse")?)?,
                interest_fen: parse_money(&rec, "lx", &s("lx")?)?,
                for_month: parse_month(&rec, "hjny", &s("hjny")?)?,
            });
        }
        Ok(out)
    }

    async fn loans_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let rows = sqlx::query(
            "SELECT *, CASE WHEN jkr_zjhm = ?1 AND jkr_zjlx = ?2 THEN 'B' ELSE 'C' END AS role FROM dkxx \
             WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2) ORDER BY dkffrq",
        )
        .bind(id_number)
        .bind(id_type.code())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let no: String = row.try_get("jkhtbh")?;
            let r = no.as_str();
            let s = |c: &str| -> Result<String, AdapterError> {
                row.try_get::<String, _>(c).map_err(|e| bad(r, e))
            };
            let zt = s("dkzt")?;
            let status = match zt.as_str() {
                "1" => LoanStatus::Normal,
                "2" => LoanStatus::Overdue,
                "3" => LoanStatus::Settled,
                "4" => LoanStatus::WrittenOff,
                other => {
                    return Err(AdapterError::UnknownCode {
                        table: "贷款状态",
                        code: other.into(),
                        record: no.clone(),
                    });
                }
            };
            let settled: Option<String> = row.try_get("dkjqrq").map_err(|e| bad(r, e))?;
            let role = if s("role")? == "B" {
                LoanRole::Borrower
            } else {
                LoanRole::CoBorrower
            };
            out.push(PersonLoan {
                role,
                loan: Loan {
                    contract_no: no.clone(),
                    loan_account: s("dkzh")?,
                    role,
                    contract_amount_fen: parse_money(r, "htdkje", &s("htdkje")?)?,
                    issued_on: parse_date(r, "dkffrq", &s("dkffrq")?)?,
                    outstanding_fen: parse_money(r, "dkye", &s("dkye")?)?,
                    overdue_principal_fen: parse_money(r, "yqbjze", &s("yqbjze")?)?,
                    overdue_periods: row
                        .try_get::<i64, _>("ljyqqs")
                        .map_err(|e| bad(r, e))?
                        .max(0) as u32,
                    settled_on: match settled {
                        Some(x) => Some(parse_date(r, "dkjqrq", &x)?),
                        None => None,
                    },
                    status,
                },
            });
        }
        Ok(out)
    }

    async fn live_ids_inner(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<crate::LivePage, AdapterError> {
        // One row per account, keyed by its account number: the cursor is the last one.
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT grzh, zjlx, zjhm FROM grxx WHERE grzhzt NOT IN ('03', '04', '05') \
             AND grzh > ?1 ORDER BY grzh LIMIT ?2",
        )
        .bind(cursor.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let next = (rows.len() >= limit as usize)
            .then(|| rows.last().map(|r| r.0.clone()))
            .flatten();
        let ids = rows
            .into_iter()
            .map(|(grzh, t, n)| {
                IdType::from_code(&t)
                    .map(|id_type| (id_type, n))
                    .ok_or(AdapterError::UnknownCode {
                        table: "证件类型",
                        code: t,
                        record: grzh,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(crate::LivePage { ids, next })
    }

    async fn check_inner(&self) -> Vec<CheckItem> {
        let mut out = Vec::new();
        let conn = sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.pool)
            .await;
        out.push(sql_common::connectivity(
            conn.map(|_| "SELECT 1 answered".to_string()),
        ));
        let mut schema_ok = true;
        let mut missing = Vec::new();
        for t in ["dwxx", "grxx", "grmx", "dkxx", "hfx_hold", "hfx_credit"] {
            let n: Result<i64, _> = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            )
            .bind(t)
            .fetch_one(&self.pool)
            .await;
            if !matches!(n, Ok(1)) {
                schema_ok = false;
                missing.push(t);
            }
        }
        out.push(CheckItem {
            name: "schema".into(),
            ok: schema_ok,
            detail: if schema_ok {
                "all tables present".into()
            } else {
                format!("missing tables {missing:?}")
            },
        });
        let codes: Result<Vec<String>, _> = sqlx::query_scalar("SELECT DISTINCT grzhzt FROM grxx")
            .fetch_all(&self.pool)
            .await;
        match codes {
            Ok(codes) => {
                let unknown: Vec<_> = codes
                    .iter()
                    .filter(|c| AccountStatus::from_code(c).is_none())
                    .cloned()
                    .collect();
                out.push(CheckItem {
                    name: "code tables".into(),
                    ok: unknown.is_empty(),
                    detail: if unknown.is_empty() {
                        format!("account status codes {codes:?} all mapped")
                    } else {
                        format!("unmapped account status codes {unknown:?}")
                    },
                });
            }
            Err(e) => out.push(CheckItem {
                name: "code tables".into(),
                ok: false,
                detail: e.to_string(),
            }),
        }
        let sample = sqlx::query(sqlx::AssertSqlSafe(format!("{MEMBER_SELECT} LIMIT 1")))
            .fetch_optional(&self.pool)
            .await;
        out.push(sql_common::sample_read(sample, Self::member_from_row));
        out
    }
}
