//! A core built to the national data standard (JGJ/T 320-2014) on MariaDB / MySQL: pinyin-initial
//! table and column names, the standard's appendix-A codes plus this vendor's extensions, dates
//! as CHAR(8) `YYYYMMDD`, months as CHAR(6) `YYYYMM`, money as DECIMAL(18,2) yuan.
//!
//! # Schema
//! - `DWXX` 单位信息: DWZH, DWMC, TYSHXYDM, DWJCBL / GRJCBL (DECIMAL(5,2) percent: 12.00 = 12%).
//! - `GRXX` 个人信息: GRZH, XingMing, ZJLX, ZJHM (indexed), XingBie, CSNY (the standard's 出生年月,
//!   which this vendor fills with the whole date, CHAR(8)), SJHM.
//! - `GRZHXX` 个人账户: GRZH, DWZH, GRJCJS, GRYJCE, DWYJCE, GRZHYE, GRZHSNJZYE, GRZHDNGJYE, GRZHZT,
//!   KHRQ, XHRQ, XHYY, JZNY.
//! - `GRMX` 个人业务明细: ID, GRZH, JZRQ 记账日期, YWLX, FSE 发生额, FSLXE 发生利息额, HBJNY
//!   汇补缴年月, YWLSH 业务流水号 (the case id for rows hfx wrote), BZ 备注.
//! - `DKXX` 贷款: JKHTBH, DKZH, JKRZJLX / JKRZJHM (borrower), HTDKJE, DKFFRQ, DKYE, YQBJZE, LJYQQS,
//!   DKJQRQ, DKZT; `DKGTJKR` 共同借款人: JKHTBH, GTJKRZJLX, GTJKRZJHM.
//! - `hfx_hold` / `hfx_credit`: the exchange's own tables that make transfer writes idempotent by
//!   case id.
//!
//! # Code tables ([`codes`])
//! - 证件类型 ZJLX: A.1 (01, 02, 03, 04, 99) plus the government-service portal's `111` 居民身份证,
//!   which rows imported from the portal carry: it maps to 01. A lookup of a resident id finds
//!   rows stored with either code.
//! - 个人账户状态 GRZHZT: A.6 (01-06, 99) plus two vendor extensions: `07` 预封存 (sealing
//!   requested: the employer has stopped depositing, the seal is not yet booked) maps to *sealed*;
//!   `09` 挂起待核 (suspended pending a review of the record) maps to *other*. Writes store only
//!   standard codes; a release restores whatever raw code the account had.
//! - 贷款状态 DKZT (no national code): 01 normal, 02 overdue, 03 settled, 04 written off.
//! - Any code outside these tables is [`AdapterError::UnknownCode`] naming the code and record.
//!
//! # Writes
//! Sessions run at READ COMMITTED; every transfer write is one transaction that locks the
//! account row (`SELECT ... FOR UPDATE`) before it looks at the case row, so concurrent calls
//! for one case or one account serialise.

use crate::model::{Deposit, Employer, IdType, LoanRole, Member, YearMonth, business_type};
use crate::sql_common::{
    self, SqlCore, amount_col, bad, id_candidates, money_col, opt_text, rate_col, text, unknown,
};
use crate::{AdapterError, CheckItem, PersonLoan};
use chrono::NaiveDate;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::{MySql, MySqlPool, QueryBuilder, Row};
use std::str::FromStr;
use std::time::Duration;

/// Deadline of one call when the settings give none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

mod dialect;

const SCHEMA: [&str; 8] = [
    "CREATE TABLE IF NOT EXISTS DWXX (
  DWZH VARCHAR(20) NOT NULL PRIMARY KEY,
  DWMC VARCHAR(255) NOT NULL,
  TYSHXYDM CHAR(18) NOT NULL,
  DWJCBL DECIMAL(5,2) NOT NULL,
  GRJCBL DECIMAL(5,2) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS GRXX (
  GRZH VARCHAR(20) NOT NULL PRIMARY KEY,
  XingMing VARCHAR(100) NOT NULL,
  ZJLX VARCHAR(3) NOT NULL,
  ZJHM VARCHAR(32) NOT NULL,
  XingBie CHAR(1) NOT NULL,
  CSNY CHAR(8) NOT NULL,
  SJHM VARCHAR(20) NOT NULL,
  KEY GRXX_ZJHM (ZJHM)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS GRZHXX (
  GRZH VARCHAR(20) NOT NULL PRIMARY KEY,
  DWZH VARCHAR(20) NOT NULL,
  GRJCJS DECIMAL(18,2) NOT NULL,
  GRYJCE DECIMAL(18,2) NOT NULL,
  DWYJCE DECIMAL(18,2) NOT NULL,
  GRZHYE DECIMAL(18,2) NOT NULL,
  GRZHSNJZYE DECIMAL(18,2) NOT NULL,
  GRZHDNGJYE DECIMAL(18,2) NOT NULL,
  GRZHZT CHAR(2) NOT NULL,
  KHRQ CHAR(8) NOT NULL,
  XHRQ CHAR(8) NULL,
  XHYY CHAR(2) NULL,
  JZNY CHAR(6) NOT NULL,
  KEY GRZHXX_DWZH (DWZH)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS GRMX (
  ID BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  GRZH VARCHAR(20) NOT NULL,
  JZRQ CHAR(8) NOT NULL,
  YWLX CHAR(2) NOT NULL,
  FSE DECIMAL(18,2) NOT NULL,
  FSLXE DECIMAL(18,2) NOT NULL,
  HBJNY CHAR(6) NOT NULL,
  YWLSH VARCHAR(64) NULL,
  BZ VARCHAR(64) NULL,
  KEY GRMX_GRZH_HBJNY (GRZH, HBJNY)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS DKXX (
  JKHTBH VARCHAR(32) NOT NULL PRIMARY KEY,
  DKZH VARCHAR(32) NOT NULL,
  JKRZJLX VARCHAR(3) NOT NULL,
  JKRZJHM VARCHAR(32) NOT NULL,
  HTDKJE DECIMAL(18,2) NOT NULL,
  DKFFRQ CHAR(8) NOT NULL,
  DKYE DECIMAL(18,2) NOT NULL,
  YQBJZE DECIMAL(18,2) NOT NULL,
  LJYQQS INT NOT NULL,
  DKJQRQ CHAR(8) NULL,
  DKZT CHAR(2) NOT NULL,
  KEY DKXX_JKRZJHM (JKRZJHM)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS DKGTJKR (
  JKHTBH VARCHAR(32) NOT NULL,
  GTJKRZJLX VARCHAR(3) NOT NULL,
  GTJKRZJHM VARCHAR(32) NOT NULL,
  PRIMARY KEY (JKHTBH, GTJKRZJHM),
  KEY DKGTJKR_ZJHM (GTJKRZJHM)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS hfx_hold (
  case_id VARCHAR(128) NOT NULL PRIMARY KEY,
  GRZH VARCHAR(20) NOT NULL,
  prev_zt VARCHAR(3) NOT NULL,
  principal DECIMAL(18,2) NOT NULL,
  interest DECIMAL(18,2) NOT NULL,
  state VARCHAR(10) NOT NULL,
  held_grzh VARCHAR(20) GENERATED ALWAYS AS (CASE WHEN state = 'held' THEN GRZH END) STORED,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY hfx_hold_one_per_account (held_grzh),
  KEY hfx_hold_grzh (GRZH)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS hfx_credit (
  case_id VARCHAR(128) NOT NULL PRIMARY KEY,
  GRZH VARCHAR(20) NOT NULL,
  amount DECIMAL(18,2) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
];

const TABLES: [&str; 8] = [
    "DWXX",
    "GRXX",
    "GRZHXX",
    "GRMX",
    "DKXX",
    "DKGTJKR",
    "hfx_hold",
    "hfx_credit",
];

/// The code tables: this vendor's codes onto the canonical ones (third column: what the code
/// means in the vendor's documentation).
pub mod codes {
    use crate::model::{AccountStatus, IdType, LoanStatus, Sex};

    /// 证件类型 ZJLX. `111` is the government-service portal's code for 居民身份证.
    pub const ZJLX: [(&str, IdType, &str); 6] = [
        ("01", IdType::ResidentId, "身份证"),
        ("02", IdType::OfficerId, "军官证"),
        ("03", IdType::Passport, "护照"),
        ("04", IdType::ForeignPermanent, "外国人永久居留证"),
        ("99", IdType::Other, "其他"),
        ("111", IdType::ResidentId, "居民身份证 (政务服务平台代码)"),
    ];
    /// 个人账户状态 GRZHZT, with the vendor's extensions 07 and 09 (listed last: the first code
    /// of a canonical status is the one this core writes).
    pub const GRZHZT: [(&str, AccountStatus, &str); 9] = [
        ("01", AccountStatus::Normal, "正常"),
        ("02", AccountStatus::Sealed, "封存"),
        ("03", AccountStatus::ClosedMerged, "合并销户"),
        ("04", AccountStatus::ClosedTransferred, "外部转出销户"),
        ("05", AccountStatus::ClosedWithdrawn, "提取销户"),
        ("06", AccountStatus::Frozen, "冻结"),
        ("99", AccountStatus::Other, "其他"),
        (
            "07",
            AccountStatus::Sealed,
            "预封存 (vendor extension): sealing requested, treated as sealed",
        ),
        (
            "09",
            AccountStatus::Other,
            "挂起待核 (vendor extension): suspended pending review, treated as other",
        ),
    ];
    /// 贷款状态 DKZT (no national code).
    pub const DKZT: [(&str, LoanStatus, &str); 4] = [
        ("01", LoanStatus::Normal, "正常"),
        ("02", LoanStatus::Overdue, "逾期"),
        ("03", LoanStatus::Settled, "结清"),
        ("04", LoanStatus::WrittenOff, "核销"),
    ];
    /// 性别 XingBie (GB/T 2261.1).
    pub const XINGBIE: [(&str, Sex, &str); 2] = [("1", Sex::Male, "男"), ("2", Sex::Female, "女")];

    pub fn lookup<T: Copy>(table: &[(&'static str, T, &'static str)], code: &str) -> Option<T> {
        table
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, v, _)| *v)
    }
    /// The standard code this core writes for a canonical value (the first entry).
    pub fn code_of<T: Copy + PartialEq>(
        table: &[(&'static str, T, &'static str)],
        v: T,
    ) -> &'static str {
        table
            .iter()
            .find(|(_, x, _)| *x == v)
            .map(|(c, _, _)| *c)
            .unwrap_or("99")
    }
    /// Every stored code that means `v`.
    pub fn codes_for<T: Copy + PartialEq>(
        table: &[(&'static str, T, &'static str)],
        v: T,
    ) -> Vec<&'static str> {
        table
            .iter()
            .filter(|(_, x, _)| *x == v)
            .map(|(c, _, _)| *c)
            .collect()
    }
}

/// The adapter for the MariaDB / MySQL core.
pub struct MariadbCore {
    pool: MySqlPool,
    timeout: Duration,
}

/// CHAR(8) `YYYYMMDD`, a real date from 1900 on.
fn parse_date(record: &str, field: &str, s: &str) -> Result<NaiveDate, AdapterError> {
    let t = s.trim();
    let ok = t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit());
    let date = ok
        .then(|| t.parse::<u32>().ok().and_then(crate::model::date_from_u32))
        .flatten()
        .filter(|d| *d >= NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN));
    date.ok_or_else(|| bad(record, format!("{field} {s:?} is not a real date")))
}

fn date_col(row: &MySqlRow, record: &str, col: &str) -> Result<NaiveDate, AdapterError> {
    parse_date(record, col, &text(row, record, col)?)
}

/// An optional date: NULL, blank and the legacy `00000000` mean none.
fn opt_date_col(
    row: &MySqlRow,
    record: &str,
    col: &str,
) -> Result<Option<NaiveDate>, AdapterError> {
    match opt_text(row, record, col)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() || s.trim() == "00000000" => Ok(None),
        Some(s) => parse_date(record, col, &s).map(Some),
    }
}

fn month_col(row: &MySqlRow, record: &str, col: &str) -> Result<YearMonth, AdapterError> {
    let s = text(row, record, col)?;
    let t = s.trim();
    (t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse::<u32>().ok().and_then(YearMonth::from_yyyymm))
        .flatten()
        .ok_or_else(|| bad(record, format!("{col} {s:?} is not a YYYYMM month")))
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// `col IN (?, ...)` with binds.
fn push_in(qb: &mut QueryBuilder<MySql>, col: &str, values: &[String]) {
    qb.push(col);
    qb.push(" IN (");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    qb.push(")");
}

fn id_where(
    qb: &mut QueryBuilder<MySql>,
    num_col: &str,
    type_col: &str,
    id_type: IdType,
    id_number: &str,
) {
    push_in(qb, num_col, &id_candidates(id_type, id_number));
    qb.push(" AND ");
    let types: Vec<String> = codes::codes_for(&codes::ZJLX, id_type)
        .into_iter()
        .map(String::from)
        .collect();
    push_in(qb, type_col, &types);
}

const MEMBER_SELECT: &str = "SELECT i.GRZH, i.XingMing, i.ZJLX, i.ZJHM, i.XingBie, i.CSNY, i.SJHM, z.DWZH, w.DWMC, \
     w.TYSHXYDM, CAST(w.DWJCBL AS CHAR) AS DWJCBL, CAST(w.GRJCBL AS CHAR) AS GRJCBL, \
     CAST(z.GRJCJS AS CHAR) AS GRJCJS, CAST(z.GRYJCE AS CHAR) AS GRYJCE, CAST(z.DWYJCE AS CHAR) AS DWYJCE, \
     CAST(z.GRZHYE AS CHAR) AS GRZHYE, CAST(z.GRZHSNJZYE AS CHAR) AS GRZHSNJZYE, \
     CAST(z.GRZHDNGJYE AS CHAR) AS GRZHDNGJYE, z.GRZHZT, z.KHRQ, z.XHRQ, z.XHYY, z.JZNY \
     FROM GRXX i JOIN GRZHXX z ON z.GRZH = i.GRZH LEFT JOIN DWXX w ON w.DWZH = z.DWZH";

const LOAN_COLUMNS: &str = "d.JKHTBH, d.DKZH, CAST(d.HTDKJE AS CHAR) AS HTDKJE, d.DKFFRQ, CAST(d.DKYE AS CHAR) AS DKYE, \
     CAST(d.YQBJZE AS CHAR) AS YQBJZE, d.LJYQQS, d.DKJQRQ, d.DKZT";

/// Where this core's loan query puts each field.
const LOAN_ROW: sql_common::LoanColumns = sql_common::LoanColumns {
    loan_account: "DKZH",
    contract_amount: "HTDKJE",
    issued_on: "DKFFRQ",
    outstanding: "DKYE",
    overdue_principal: "YQBJZE",
    overdue_periods: "LJYQQS",
    settled_on: "DKJQRQ",
};

impl MariadbCore {
    /// Connect to the core at `url`, creating the schema if it is missing. `timeout` bounds
    /// every call (default [`DEFAULT_TIMEOUT`]).
    pub async fn open(url: &str, timeout: Option<Duration>) -> Result<Self, AdapterError> {
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let opts = MySqlConnectOptions::from_str(url)
            .map_err(|e| AdapterError::other_from("adapter.url is not a MySQL/MariaDB URL", e))?;
        let connect = MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(timeout)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts);
        let pool = match tokio::time::timeout(timeout, connect).await {
            Ok(pool) => pool?,
            Err(_) => {
                return Err(AdapterError::unavailable(format!(
                    "mariadb core: no connection within {timeout:?}"
                )));
            }
        };
        let core = Self { pool, timeout };
        crate::sql_common::timed(&core, "create schema", async {
            for stmt in SCHEMA {
                sqlx::query(stmt).execute(&core.pool).await?;
            }
            Ok(())
        })
        .await?;
        Ok(core)
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Number of member accounts (the population plus the vendor fixtures).
    pub async fn member_count(&self) -> Result<u64, AdapterError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM GRZHXX")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    fn member_from_row(row: &MySqlRow) -> Result<Member, AdapterError> {
        let grzh: String = row.try_get("GRZH").map_err(|e| bad("GRXX (no GRZH)", e))?;
        let r = grzh.as_str();
        let zjlx = text(row, r, "ZJLX")?;
        let id_type = codes::lookup(&codes::ZJLX, zjlx.trim())
            .ok_or_else(|| unknown("证件类型 ZJLX", &zjlx, r))?;
        let zt = text(row, r, "GRZHZT")?;
        let status = codes::lookup(&codes::GRZHZT, zt.trim())
            .ok_or_else(|| unknown("个人账户状态 GRZHZT", &zt, r))?;
        let zjhm = text(row, r, "ZJHM")?;
        let id_number = if id_type == IdType::ResidentId {
            crate::ids::validate_resident_id("ZJHM", &zjhm).map_err(|e| bad(r, e))?
        } else {
            zjhm.trim().to_string()
        };
        let xb = text(row, r, "XingBie")?;
        let sex = codes::lookup(&codes::XINGBIE, xb.trim())
            .ok_or_else(|| unknown("性别 XingBie", &xb, r))?;
        let xhyy = opt_text(row, r, "XHYY")?.filter(|s| !s.trim().is_empty());
        Ok(Member {
            account_no: grzh.clone(),
            name: text(row, r, "XingMing")?,
            id_type,
            id_number,
            sex,
            birth_date: date_col(row, r, "CSNY")?,
            phone: text(row, r, "SJHM")?,
            employer: Employer {
                account_no: text(row, r, "DWZH")?,
                name: opt_text(row, r, "DWMC")?.unwrap_or_default(),
                uscc: opt_text(row, r, "TYSHXYDM")?.unwrap_or_default(),
                employer_rate_bp: rate_col(row, r, "DWJCBL")?,
                member_rate_bp: rate_col(row, r, "GRJCBL")?,
            },
            deposit_base_fen: amount_col(row, r, "GRJCJS")?,
            member_monthly_fen: amount_col(row, r, "GRYJCE")?,
            employer_monthly_fen: amount_col(row, r, "DWYJCE")?,
            balance_fen: amount_col(row, r, "GRZHYE")?,
            carried_over_fen: amount_col(row, r, "GRZHSNJZYE")?,
            this_year_fen: amount_col(row, r, "GRZHDNGJYE")?,
            status,
            opened_on: date_col(row, r, "KHRQ")?,
            closed_on: opt_date_col(row, r, "XHRQ")?,
            close_reason: xhyy,
            paid_up_to: month_col(row, r, "JZNY")?,
        })
    }
}

#[async_trait::async_trait]
impl SqlCore for MariadbCore {
    const KIND: &'static str = "mariadb";

    fn deadline(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    async fn member_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new(MEMBER_SELECT);
        qb.push(" WHERE ");
        id_where(&mut qb, "i.ZJHM", "i.ZJLX", id_type, id_number);
        qb.push(" ORDER BY z.GRZHZT IN ('03', '04', '05'), z.KHRQ DESC, z.GRZH LIMIT 1");
        let row = qb.build().fetch_optional(&self.pool).await?;
        row.as_ref().map(Self::member_from_row).transpose()
    }

    async fn deposits_inner(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let rows = sqlx::query(
            "SELECT ID, JZRQ, YWLX, CAST(FSE AS CHAR) AS FSE, CAST(FSLXE AS CHAR) AS FSLXE, HBJNY FROM GRMX \
             WHERE GRZH = ? AND HBJNY >= ? AND HBJNY <= ? ORDER BY HBJNY, JZRQ, ID",
        )
        .bind(account_no)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row
                .try_get("ID")
                .map_err(|e| bad(&format!("GRMX of {account_no}"), e))?;
            let rec = format!("GRMX {id} of {account_no}");
            let r = rec.as_str();
            let ywlx = text(&row, r, "YWLX")?.trim().to_string();
            if !business_type::ALL.contains(&ywlx.as_str()) {
                return Err(unknown("业务类型 YWLX", &ywlx, r));
            }
            out.push(Deposit {
                date: date_col(&row, r, "JZRQ")?,
                business_type: ywlx,
                amount_fen: money_col(&row, r, "FSE")?,
                interest_fen: money_col(&row, r, "FSLXE")?,
                for_month: month_col(&row, r, "HBJNY")?,
            });
        }
        Ok(out)
    }

    async fn loans_inner(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("SELECT 'B' AS JS, ");
        qb.push(LOAN_COLUMNS).push(" FROM DKXX d WHERE ");
        id_where(&mut qb, "d.JKRZJHM", "d.JKRZJLX", id_type, id_number);
        qb.push(" UNION ALL SELECT 'C' AS JS, ").push(LOAN_COLUMNS);
        qb.push(" FROM DKGTJKR g JOIN DKXX d ON d.JKHTBH = g.JKHTBH WHERE ");
        id_where(&mut qb, "g.GTJKRZJHM", "g.GTJKRZJLX", id_type, id_number);
        qb.push(" ORDER BY DKFFRQ, JKHTBH");
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let no: String = row
                .try_get("JKHTBH")
                .map_err(|e| bad("DKXX (no JKHTBH)", e))?;
            let r = no.as_str();
            let zt = text(&row, r, "DKZT")?;
            let status = codes::lookup(&codes::DKZT, zt.trim())
                .ok_or_else(|| unknown("贷款状态 DKZT", &zt, r))?;
            let role = if text(&row, r, "JS")? == "B" {
                LoanRole::Borrower
            } else {
                LoanRole::CoBorrower
            };
            out.push(sql_common::person_loan(
                &row,
                r,
                (role, status),
                &LOAN_ROW,
                date_col,
                opt_date_col,
            )?);
        }
        Ok(out)
    }

    async fn live_ids_inner(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<crate::LivePage, AdapterError> {
        // One row per account, keyed by its account number: the cursor is the last one.
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT i.GRZH, i.ZJLX, i.ZJHM, z.GRZHZT FROM GRXX i JOIN GRZHXX z ON z.GRZH = i.GRZH \
             WHERE i.GRZH > ? ORDER BY i.GRZH LIMIT ?",
        )
        .bind(cursor.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let next = (rows.len() >= limit as usize)
            .then(|| rows.last().map(|r| r.0.clone()))
            .flatten();
        let mut ids = Vec::new();
        for (grzh, t, n, zt) in rows {
            let status = codes::lookup(&codes::GRZHZT, zt.trim()).ok_or_else(|| {
                AdapterError::UnknownCode {
                    table: "个人账户状态 GRZHZT",
                    code: zt.clone(),
                    record: grzh.clone(),
                }
            })?;
            if status.is_closed() {
                continue;
            }
            let id_type =
                codes::lookup(&codes::ZJLX, t.trim()).ok_or(AdapterError::UnknownCode {
                    table: "证件类型 ZJLX",
                    code: t,
                    record: grzh,
                })?;
            ids.push((id_type, n.trim().to_string()));
        }
        Ok(crate::LivePage { ids, next })
    }

    async fn check_inner(&self) -> Vec<CheckItem> {
        let mut out = Vec::new();
        let conn = sqlx::query_scalar::<_, String>("SELECT VERSION()")
            .fetch_one(&self.pool)
            .await;
        let reachable = conn.is_ok();
        out.push(sql_common::connectivity(
            conn.map(|v| format!("server {v}")),
        ));
        if !reachable {
            return out;
        }
        let present: Result<Vec<String>, _> = sqlx::query_scalar(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
        .fetch_all(&self.pool)
        .await;
        let missing: Vec<&str> = match &present {
            Ok(p) => TABLES
                .iter()
                .copied()
                .filter(|t| !p.iter().any(|x| x == t))
                .collect(),
            Err(_) => TABLES.to_vec(),
        };
        out.push(CheckItem {
            name: "schema".into(),
            ok: missing.is_empty(),
            detail: match present {
                Err(e) => e.to_string(),
                Ok(_) if missing.is_empty() => format!("tables {TABLES:?} present"),
                Ok(_) => format!("missing tables {missing:?}"),
            },
        });
        if !missing.is_empty() {
            return out;
        }
        let distinct =
            async |sql: &'static str| sqlx::query_scalar(sql).fetch_all(&self.pool).await;
        /// A stored code the table maps (blank-padded CHAR codes trimmed).
        fn known<T: Copy>(table: &[(&'static str, T, &'static str)], c: &str) -> bool {
            codes::lookup(table, c.trim()).is_some()
        }
        let mut tables = sql_common::CodeTables::default();
        tables.column(
            "GRZHXX.GRZHZT",
            distinct("SELECT DISTINCT GRZHZT FROM GRZHXX").await,
            |c| known(&codes::GRZHZT, c),
        );
        tables.column(
            "GRXX.ZJLX",
            distinct("SELECT DISTINCT ZJLX FROM GRXX").await,
            |c| known(&codes::ZJLX, c),
        );
        tables.column(
            "GRXX.XingBie",
            distinct("SELECT DISTINCT XingBie FROM GRXX").await,
            |c| known(&codes::XINGBIE, c),
        );
        tables.column(
            "DKXX.DKZT",
            distinct("SELECT DISTINCT DKZT FROM DKXX").await,
            |c| known(&codes::DKZT, c),
        );
        tables.column(
            "DKXX.JKRZJLX",
            distinct("SELECT DISTINCT JKRZJLX FROM DKXX").await,
            |c| known(&codes::ZJLX, c),
        );
        tables.column(
            "DKGTJKR.GTJKRZJLX",
            distinct("SELECT DISTINCT GTJKRZJLX FROM DKGTJKR").await,
            |c| known(&codes::ZJLX, c),
        );
        out.push(tables.item());
        let sample = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} ORDER BY i.GRZH LIMIT 1"
        )))
        .fetch_optional(&self.pool)
        .await;
        out.push(sql_common::sample_read(sample, Self::member_from_row));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AccountStatus;

    #[test]
    fn code_tables() {
        assert_eq!(codes::lookup(&codes::ZJLX, "111"), Some(IdType::ResidentId));
        assert_eq!(
            codes::codes_for(&codes::ZJLX, IdType::ResidentId),
            vec!["01", "111"]
        );
        assert_eq!(
            codes::lookup(&codes::GRZHZT, "07"),
            Some(AccountStatus::Sealed)
        );
        assert_eq!(
            codes::lookup(&codes::GRZHZT, "09"),
            Some(AccountStatus::Other)
        );
        assert_eq!(codes::lookup(&codes::GRZHZT, "08"), None);
        for s in AccountStatus::ALL {
            assert_eq!(codes::code_of(&codes::GRZHZT, s), s.code());
        }
        for t in [
            IdType::ResidentId,
            IdType::OfficerId,
            IdType::Passport,
            IdType::ForeignPermanent,
            IdType::Other,
        ] {
            assert_eq!(codes::code_of(&codes::ZJLX, t), t.code());
        }
    }

    #[test]
    fn char8_dates() {
        assert_eq!(
            parse_date("r", "KHRQ", "20240229").ok(),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "20210230",
            "2021023",
            "2021-02-03",
            "00000000",
            "18991231",
            "2021023x",
        ] {
            assert!(parse_date("r", "KHRQ", bad).is_err(), "{bad}");
        }
    }
}
