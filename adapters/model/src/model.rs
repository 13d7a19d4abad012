//! The canonical member model (after JGJ/T 320-2014). Adapters map each vendor's columns and
//! codes onto these types. Money is integer fen; dates are real dates; months are [`YearMonth`].

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A calendar month, YYYYMM on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12
    pub month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        if (1..=12).contains(&month) && (1900..=9999).contains(&year) {
            Some(Self { year, month })
        } else {
            None
        }
    }
    /// Parse `YYYYMM` as a number (e.g. 202403).
    pub fn from_yyyymm(v: u32) -> Option<Self> {
        Self::new((v / 100) as i32, v % 100)
    }
    pub fn yyyymm(self) -> u32 {
        self.year as u32 * 100 + self.month
    }
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }
    /// The month `n` months later (negative: earlier).
    pub fn add_months(self, n: i32) -> Self {
        let idx = self.year * 12 + (self.month as i32 - 1) + n;
        Self {
            year: idx.div_euclid(12),
            month: (idx.rem_euclid(12) + 1) as u32,
        }
    }
    /// Number of months from `self` to `other` (other - self).
    pub fn months_until(self, other: YearMonth) -> i32 {
        (other.year * 12 + other.month as i32) - (self.year * 12 + self.month as i32)
    }
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}", self.year, self.month)
    }
}

/// Date as the wire's YYYYMMDD number.
pub fn date_to_u32(d: NaiveDate) -> u32 {
    d.year() as u32 * 10_000 + d.month() * 100 + d.day()
}

/// Parse a YYYYMMDD number into a real date.
pub fn date_from_u32(v: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt((v / 10_000) as i32, (v / 100) % 100, v % 100)
}

/// A.1 证件类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdType {
    ResidentId,
    OfficerId,
    Passport,
    ForeignPermanent,
    Other,
}

impl IdType {
    /// The standard's two-digit code.
    pub fn code(self) -> &'static str {
        match self {
            IdType::ResidentId => "01",
            IdType::OfficerId => "02",
            IdType::Passport => "03",
            IdType::ForeignPermanent => "04",
            IdType::Other => "99",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "01" | "1" => IdType::ResidentId,
            "02" | "2" => IdType::OfficerId,
            "03" | "3" => IdType::Passport,
            "04" | "4" => IdType::ForeignPermanent,
            "99" => IdType::Other,
            _ => return None,
        })
    }
}

/// A.6 个人账户状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountStatus {
    Normal,
    Sealed,
    ClosedMerged,
    ClosedTransferred,
    ClosedWithdrawn,
    Frozen,
    Other,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 7] = [
        AccountStatus::Normal,
        AccountStatus::Sealed,
        AccountStatus::ClosedMerged,
        AccountStatus::ClosedTransferred,
        AccountStatus::ClosedWithdrawn,
        AccountStatus::Frozen,
        AccountStatus::Other,
    ];
    pub fn code(self) -> &'static str {
        match self {
            AccountStatus::Normal => "01",
            AccountStatus::Sealed => "02",
            AccountStatus::ClosedMerged => "03",
            AccountStatus::ClosedTransferred => "04",
            AccountStatus::ClosedWithdrawn => "05",
            AccountStatus::Frozen => "06",
            AccountStatus::Other => "99",
        }
    }
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "01" => AccountStatus::Normal,
            "02" => AccountStatus::Sealed,
            "03" => AccountStatus::ClosedMerged,
            "04" => AccountStatus::ClosedTransferred,
            "05" => AccountStatus::ClosedWithdrawn,
            "06" => AccountStatus::Frozen,
            "99" => AccountStatus::Other,
            _ => return None,
        })
    }
    /// Closed = 03, 04, 05.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            AccountStatus::ClosedMerged
                | AccountStatus::ClosedTransferred
                | AccountStatus::ClosedWithdrawn
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
}

/// The employer (单位), as far as a member record needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employer {
    /// DWZH 单位账号
    pub account_no: String,
    /// DWMC 单位名称
    pub name: String,
    /// Unified social credit code (GB 32100).
    pub uscc: String,
    /// DWJCBL in basis points (1200 = 12%).
    pub employer_rate_bp: u32,
    /// GRJCBL in basis points.
    pub member_rate_bp: u32,
}

/// 个人信息 + 个人账户.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// GRZH 个人账号, issued by the centre; never a cross-city key.
    pub account_no: String,
    pub name: String,
    pub id_type: IdType,
    /// Upper-case, 18 chars for resident ids.
    pub id_number: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub phone: String,
    pub employer: Employer,
    /// GRJCJS
    pub deposit_base_fen: i64,
    /// GRYJCE
    pub member_monthly_fen: i64,
    /// DWYJCE
    pub employer_monthly_fen: i64,
    /// GRZHYE
    pub balance_fen: i64,
    /// GRZHSNJZYE
    pub carried_over_fen: i64,
    /// GRZHDNGJYE
    pub this_year_fen: i64,
    pub status: AccountStatus,
    /// KHRQ
    pub opened_on: NaiveDate,
    /// XHRQ
    pub closed_on: Option<NaiveDate>,
    /// XHYY
    pub close_reason: Option<String>,
    /// JZNY 缴至年月
    pub paid_up_to: YearMonth,
}

/// Business type codes (归集和提取业务类型).
pub mod business_type {
    pub const REMITTANCE: &str = "01";
    pub const BACK_PAYMENT: &str = "02";
    pub const OPEN: &str = "03";
    pub const UNSEAL: &str = "04";
    pub const SEAL: &str = "05";
    pub const INTERNAL_TRANSFER: &str = "06";
    pub const TRANSFER_OUT: &str = "07";
    pub const TRANSFER_IN: &str = "08";
    pub const INTEREST: &str = "09";
    pub const BASE_ADJUST: &str = "10";
    pub const PARTIAL_WITHDRAWAL: &str = "11";
    pub const CLOSING_WITHDRAWAL: &str = "12";
    pub const DEFERRAL: &str = "13";
    pub const FREEZE: &str = "14";
    pub const UNFREEZE: &str = "15";
    pub const OTHER: &str = "99";
    pub const ALL: [&str; 16] = [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
        "99",
    ];
}

/// One posting of 个人业务明细.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    pub date: NaiveDate,
    /// Two-digit business type code, see [`business_type`].
    pub business_type: String,
    pub amount_fen: i64,
    pub interest_fen: i64,
    /// The month paid for.
    pub for_month: YearMonth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoanRole {
    Borrower,
    CoBorrower,
}

/// Loan status, normalised (no national code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoanStatus {
    Normal,
    Overdue,
    Settled,
    WrittenOff,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    /// JKHTBH
    pub contract_no: String,
    /// DKZH
    pub loan_account: String,
    pub role: LoanRole,
    /// HTDKJE
    pub contract_amount_fen: i64,
    /// DKFFRQ
    pub issued_on: NaiveDate,
    /// DKYE
    pub outstanding_fen: i64,
    /// YQBJZE
    pub overdue_principal_fen: i64,
    /// LJYQQS
    pub overdue_periods: u32,
    /// DKJQRQ
    pub settled_on: Option<NaiveDate>,
    pub status: LoanStatus,
}

/// A loan with its people, as the generator and the core systems hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanRecord {
    pub loan: Loan,
    /// (id type, id number) of the borrower.
    pub borrower: (IdType, String),
    pub co_borrower: Option<(IdType, String)>,
}
