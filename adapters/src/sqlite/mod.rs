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
use crate::sql_common::{self, SqlCore, TextRow, bad, opt_text, text};
use crate::{AdapterError, CheckItem, PersonLoan};
use chrono::NaiveDate;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

mod dialect;
mod read;

pub use read::sqlx_error;

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

/// How long a statement waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteCore {
    /// The writes, the self-test and the seeding.
    pool: SqlitePool,
    /// The lookups ([`read`]).
    reads: Arc<read::ReadPool>,
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
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        // The reads open the file the pool opened (as SQLite resolved `path`).
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await?;
        if file.is_empty() {
            return Err(AdapterError::unavailable(format!(
                "sqlite core {}: not a database file",
                path.display()
            )));
        }
        let reads = read::ReadPool::new(file.into(), BUSY_TIMEOUT);
        // One read connection now: a file the reads cannot open fails the open, not a lookup.
        reads.read("open", |_| Ok(())).await?;
        Ok(Self { pool, reads })
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

    /// A member row of [`MEMBER_SELECT`], read by the lookups (rusqlite) or the self-test
    /// (sqlx).
    fn member_from_row(row: &impl TextRow) -> Result<Member, AdapterError> {
        let grzh = text(row, "grxx", "grzh")?;
        let r = grzh.as_str();
        let s = |c: &str| text(row, r, c);
        let opt_int = |c: &str| row.opt_int_col(c).map_err(|e| bad(r, format!("{c}: {e}")));
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
        let xhrq = opt_text(row, r, "xhrq")?;
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
                name: opt_text(row, r, "dwmc")?.unwrap_or_default(),
                uscc: opt_text(row, r, "tyshxydm")?.unwrap_or_default(),
                employer_rate_bp: opt_int("dwjcbl")?.unwrap_or(0) as u32,
                member_rate_bp: opt_int("grjcbl")?.unwrap_or(0) as u32,
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
            close_reason: opt_text(row, r, "xhyy")?,
            paid_up_to: parse_month(r, "jzny", &s("jzny")?)?,
        })
    }

    /// A posting row of account record `rec` (`grmx <account>`).
    fn deposit_from_row(row: &impl TextRow, rec: &str) -> Result<Deposit, AdapterError> {
        let s = |c: &str| text(row, rec, c);
        let ywlx = s("ywlx")?;
        if !business_type::ALL.contains(&ywlx.as_str()) {
            return Err(AdapterError::UnknownCode {
                table: "业务类型",
                code: ywlx,
                record: rec.to_string(),
            });
        }
        Ok(Deposit {
            date: parse_date(rec, "rq", &s("rq")?)?,
            business_type: ywlx,
            amount_fen: parse_money(rec, "fse", &s("fse")?)?,
            interest_fen: parse_money(rec, "lx", &s("lx")?)?,
            for_month: parse_month(rec, "hjny", &s("hjny")?)?,
        })
    }

    /// A loan row, with the asked-about person's `role` (`B` borrower, else co-borrower).
    fn loan_from_row(row: &impl TextRow) -> Result<PersonLoan, AdapterError> {
        let no = text(row, "dkxx", "jkhtbh")?;
        let r = no.as_str();
        let s = |c: &str| text(row, r, c);
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
        let settled = opt_text(row, r, "dkjqrq")?;
        let role = if s("role")? == "B" {
            LoanRole::Borrower
        } else {
            LoanRole::CoBorrower
        };
        let periods = row
            .opt_int_col("ljyqqs")
            .map_err(|e| bad(r, format!("ljyqqs: {e}")))?
            .ok_or_else(|| bad(r, "ljyqqs is missing"))?;
        Ok(PersonLoan {
            role,
            loan: Loan {
                contract_no: no.clone(),
                loan_account: s("dkzh")?,
                role,
                contract_amount_fen: parse_money(r, "htdkje", &s("htdkje")?)?,
                issued_on: parse_date(r, "dkffrq", &s("dkffrq")?)?,
                outstanding_fen: parse_money(r, "dkye", &s("dkye")?)?,
                overdue_principal_fen: parse_money(r, "yqbjze", &s("yqbjze")?)?,
                overdue_periods: periods.max(0) as u32,
                settled_on: match settled {
                    Some(x) => Some(parse_date(r, "dkjqrq", &x)?),
                    None => None,
                },
                status,
            },
        })
    }
}

/// A member row: the account with its employer's columns.
macro_rules! member_select {
    () => {
        "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh"
    };
}
const MEMBER_SELECT: &str = member_select!();
/// The member with an id (`?1` number, `?2` type code), the lowest status code first.
const MEMBER_BY_ID: &str = concat!(
    member_select!(),
    " WHERE g.zjhm = ?1 AND g.zjlx = ?2 ORDER BY g.grzhzt LIMIT 1"
);

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
        let id_number = id_number.to_string();
        self.reads
            .read("member lookup", move |conn| {
                let mut stmt = conn
                    .prepare_cached(MEMBER_BY_ID)
                    .map_err(read::read_error)?;
                let mut rows = stmt
                    .query((id_number.as_str(), id_type.code()))
                    .map_err(read::read_error)?;
                match rows.next().map_err(read::read_error)? {
                    Some(row) => Self::member_from_row(&read::ReadRow(row)).map(Some),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn deposits_inner(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let account_no = account_no.to_string();
        self.reads
            .read("deposits", move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT rq, ywlx, fse, lx, hjny FROM grmx WHERE grzh = ?1 AND hjny >= ?2 AND hjny <= ?3 ORDER BY hjny, rq, rowid",
                    )
                    .map_err(read::read_error)?;
                let mut rows = stmt
                    .query((account_no.as_str(), from.to_string(), to.to_string()))
                    .map_err(read::read_error)?;
                let rec = format!("grmx {account_no}");
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(read::read_error)? {
                    out.push(Self::deposit_from_row(&read::ReadRow(row), &rec)?);
                }
                Ok(out)
            })
            .await
    }

    async fn loans_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let id_number = id_number.to_string();
        self.reads
            .read("loans", move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT *, CASE WHEN jkr_zjhm = ?1 AND jkr_zjlx = ?2 THEN 'B' ELSE 'C' END AS role FROM dkxx \
                         WHERE (jkr_zjhm = ?1 AND jkr_zjlx = ?2) OR (gjr_zjhm = ?1 AND gjr_zjlx = ?2) ORDER BY dkffrq",
                    )
                    .map_err(read::read_error)?;
                let mut rows = stmt
                    .query((id_number.as_str(), id_type.code()))
                    .map_err(read::read_error)?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(read::read_error)? {
                    out.push(Self::loan_from_row(&read::ReadRow(row))?);
                }
                Ok(out)
            })
            .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoreSystem;

    /// A fresh folder under the system's temp dir.
    fn scratch(what: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "hfx-sqlite-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A core holding one member, passport `P1234567`, account `A1`, phone `sjhm`.
    async fn one_member(path: &std::path::Path, sjhm: &str) -> SqliteCore {
        let core = SqliteCore::open(path).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dwxx VALUES ('D1', '某单位', '91320300MA1XXXXX0X', 1200, 1200);
             INSERT INTO grxx VALUES ('A1', '张三', '03', 'P1234567', '1', '1990-01-02', {sjhm},
               'D1', '5000.00', '600.00', '600.00', '12345.67', '10000.00', '2345.67', '01',
               '2015-03-01', NULL, NULL, '202510');
             INSERT INTO grmx VALUES ('A1', '2025-10-15', '01', '1200.00', '0.00', '202510', NULL);
             INSERT INTO dkxx VALUES ('H1', 'L1', '03', 'P1234567', NULL, NULL, '500000.00',
               '2020-06-01', '350000.00', '0.00', 0, NULL, '1');"
        )))
        .execute(core.pool())
        .await
        .unwrap();
        core
    }

    #[tokio::test]
    async fn the_reads_map_the_member_its_postings_and_loans() {
        let dir = scratch("lookup");
        let core = one_member(&dir.join("core.db"), "'13800000000'").await;
        let m = core
            .member_by_id(IdType::Passport, "P1234567")
            .await
            .unwrap()
            .expect("found");
        assert_eq!(m.account_no, "A1");
        assert_eq!(m.phone, "13800000000");
        assert_eq!(m.employer.name, "某单位");
        assert_eq!(m.employer.employer_rate_bp, 1200);
        assert_eq!(m.balance_fen, 1_234_567);
        assert_eq!(m.closed_on, None);
        let month = YearMonth::new(2025, 10).unwrap();
        let deps = core.deposits("A1", month, month).await.unwrap();
        assert_eq!(deps.len(), 1);
        assert_eq!((deps[0].amount_fen, deps[0].for_month), (120_000, month));
        let loans = core.loans_of(IdType::Passport, "P1234567").await.unwrap();
        assert_eq!(loans.len(), 1);
        assert_eq!(loans[0].role, LoanRole::Borrower);
        assert_eq!(loans[0].loan.outstanding_fen, 35_000_000);
        assert!(
            core.member_by_id(IdType::ResidentId, "P1234567")
                .await
                .unwrap()
                .is_none()
        );
        // The self-test's sample read (sqlx) maps the same row the same way.
        let checks = core.check().await;
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Give `core` reads that wait up to `busy_timeout` for a lock, close its pool (so that no
    /// other connection is open) and take the file's lock whole on a connection of the test's
    /// own, in a write transaction left open: the returned connection holds it until COMMIT.
    async fn lock_whole_file(
        core: &mut SqliteCore,
        path: &std::path::Path,
        busy_timeout: Duration,
    ) -> rusqlite::Connection {
        core.reads = read::ReadPool::new(path.to_path_buf(), busy_timeout);
        core.pool.close().await;
        let locker = rusqlite::Connection::open(path).unwrap();
        locker
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; \
                 UPDATE grxx SET sjhm = sjhm;",
            )
            .unwrap();
        locker
    }

    /// Another connection holds the file's lock past the busy timeout: the lookup is a
    /// retryable Unavailable whose source is SQLite's busy code, not a panic or a wrong record;
    /// once the lock is gone the same core finds the member.
    #[tokio::test]
    async fn a_lookup_while_another_connection_holds_the_lock_is_unavailable() {
        let dir = scratch("busy");
        let path = dir.join("core.db");
        let mut core = one_member(&path, "'13800000000'").await;
        // A short wait for the lock.
        let locker = lock_whole_file(&mut core, &path, Duration::from_millis(50)).await;
        let e = core
            .member_by_id(IdType::Passport, "P1234567")
            .await
            .unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        let source = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<sqlx::Error>())
            .unwrap_or_else(|| panic!("an sqlx error as the source: {e:?}"));
        assert!(sql_common::connection_lost(source), "{source:?}");
        assert!(e.detail().contains("database is locked"), "{}", e.detail());
        locker.execute_batch("COMMIT").unwrap();
        drop(locker);
        let m = core
            .member_by_id(IdType::Passport, "P1234567")
            .await
            .unwrap()
            .expect("found once the lock is gone");
        assert_eq!(m.account_no, "A1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A read finds the file locked (a batch run writing): the inline attempt does not wait,
    /// the read goes to a connection that waits for the lock, and it finds the member once
    /// the lock is gone, within the busy timeout.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_lookup_waits_for_a_lock_held_briefly_instead_of_failing() {
        let dir = scratch("brief");
        let path = dir.join("core.db");
        let mut core = one_member(&path, "'13800000000'").await;
        let locker = lock_whole_file(&mut core, &path, Duration::from_secs(5)).await;
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            locker.execute_batch("COMMIT").unwrap();
            drop(locker);
        });
        let started = std::time::Instant::now();
        let m = core
            .member_by_id(IdType::Passport, "P1234567")
            .await
            .unwrap()
            .expect("found once the lock is gone");
        assert_eq!(m.account_no, "A1");
        assert!(started.elapsed() >= Duration::from_millis(250), "it waited");
        release.await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A field that does not read as text (a blob in `sjhm`) is a bad record naming the account
    /// and the field, from the lookup (rusqlite) and the self-test's sample read (sqlx) alike.
    #[tokio::test]
    async fn a_field_that_does_not_read_is_a_bad_record_naming_it() {
        let dir = scratch("bad");
        let core = one_member(&dir.join("core.db"), "X'FF00'").await;
        let e = core
            .member_by_id(IdType::Passport, "P1234567")
            .await
            .unwrap_err();
        match &e {
            AdapterError::BadRecord { record, detail } => {
                assert_eq!(record, "A1");
                assert!(detail.starts_with("sjhm"), "{detail}");
            }
            other => panic!("a bad record: {other:?}"),
        }
        // The connection that read it stays usable.
        for _ in 0..3 {
            assert!(matches!(
                core.member_by_id(IdType::Passport, "P1234567").await,
                Err(AdapterError::BadRecord { .. })
            ));
        }
        let checks = core.check().await;
        let sample = checks.iter().find(|c| c.name == "sample read").unwrap();
        assert!(
            !sample.ok && sample.detail.contains("A1") && sample.detail.contains("sjhm"),
            "{sample:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A read that panics is an error of the call, not a panic of the caller; the pool goes on.
    #[tokio::test]
    async fn a_read_that_panics_is_an_error() {
        let dir = scratch("panic");
        let core = one_member(&dir.join("core.db"), "'13800000000'").await;
        let e = core
            .reads
            .read("test", |_| -> Result<(), AdapterError> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(
            matches!(e, AdapterError::Other { .. }) && e.to_string().contains("panicked"),
            "{e:?}"
        );
        assert!(
            core.member_by_id(IdType::Passport, "P1234567")
                .await
                .unwrap()
                .is_some()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
