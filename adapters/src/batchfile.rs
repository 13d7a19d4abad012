//! The legacy batch core: a core fund system that only exchanges files.
//!
//! # Folder layout (under `adapter.path`)
//! ```text
//! export/   members.dat postings.dat loans.dat control.txt   nightly export, written by the core
//! inbox/    <case>.<op>.req                                   transfer instructions, written by hfx
//! outbox/   <case>.<op>.res                                   results, written by the core's batch run
//! core/     master.db                                         the stand-in core's own data (private)
//! ```
//!
//! # Export files
//! Fixed-width records in GB18030, one record a line (`\n`, a trailing `\r` is tolerated). Widths
//! are **bytes** (a Chinese character takes 2 bytes in GB18030): see [`MEMBER_LAYOUT`],
//! [`POSTING_LAYOUT`], [`LOAN_LAYOUT`]. Text is left-aligned and padded with spaces; integers are
//! zero-padded; money is signed decimal yuan `+000000001234.56` (16 bytes, never floating point);
//! dates are `YYYYMMDD`, months `YYYYMM`, blank when absent. Codes are the standard's (证件类型,
//! 账户状态, 业务类型), sex `1`/`2`, loan status the core's own `1` 正常 `2` 逾期 `3` 结清 `4` 核销.
//!
//! `control.txt` is written last and names every data file with its record count, byte size and
//! SHA-256; while the core exports it removes `control.txt` first. The adapter refuses an export
//! whose counts, sizes or checksums disagree with the control file (and keeps serving the last
//! good export); a single record that does not decode is remembered as a bad record (file + line)
//! and answered as a typed error for that record only, while the others are served.
//!
//! # Instructions and results
//! A write (reserve / release / close-out / credit-in) becomes `inbox/<case>.<op>.req` (written to
//! a temporary name, fsynced and renamed, so the core never sees half a file). The core's batch run
//! ([`BatchRunner`]) applies it to its master data, re-exports, and then writes
//! `outbox/<case>.<op>.res`. The adapter waits (bounded by `adapter.timeout_ms`) for the result;
//! a result already in the outbox is returned again, so every write is idempotent by case id.
//! Request and result files are `KEY|value` lines in GB18030, framed by a header and `END`.

use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRecord, LoanRole, LoanStatus, Member, Sex,
    YearMonth, business_type,
};
use crate::money::parse_yuan;
use crate::seed::SeedOptions;
use crate::sqlite::SqliteCore;
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use chrono::NaiveDate;
use encoding_rs::GB18030;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;

pub const MEMBERS_FILE: &str = "members.dat";
pub const POSTINGS_FILE: &str = "postings.dat";
pub const LOANS_FILE: &str = "loans.dat";
pub const CONTROL_FILE: &str = "control.txt";
const DATA_FILES: [&str; 3] = [MEMBERS_FILE, POSTINGS_FILE, LOANS_FILE];

/// A record layout: field names and widths in bytes of GB18030.
pub type Layout = &'static [(&'static str, usize)];

/// 个人信息 + 个人账户 + the employer, one record per account (416 bytes).
pub const MEMBER_LAYOUT: Layout = &[
    ("GRZH", 20),
    ("XINGMING", 60),
    ("ZJLX", 2),
    ("ZJHM", 20),
    ("XINGBIE", 1),
    ("CSRQ", 8),
    ("SJHM", 15),
    ("DWZH", 20),
    ("DWMC", 120),
    ("TYSHXYDM", 18),
    ("DWJCBL", 5),
    ("GRJCBL", 5),
    ("GRJCJS", 16),
    ("GRYJCE", 16),
    ("DWYJCE", 16),
    ("GRZHYE", 16),
    ("GRZHSNJZYE", 16),
    ("GRZHDNGJYE", 16),
    ("GRZHZT", 2),
    ("KHRQ", 8),
    ("XHRQ", 8),
    ("XHYY", 2),
    ("JZNY", 6),
];

/// 个人业务明细, grouped by account, oldest first within an account (68 bytes).
pub const POSTING_LAYOUT: Layout = &[
    ("GRZH", 20),
    ("RQ", 8),
    ("YWLX", 2),
    ("FSE", 16),
    ("LX", 16),
    ("HJNY", 6),
];

/// 贷款 (173 bytes).
pub const LOAN_LAYOUT: Layout = &[
    ("JKHTBH", 30),
    ("DKZH", 30),
    ("JKRZJLX", 2),
    ("JKRZJHM", 20),
    ("GJRZJLX", 2),
    ("GJRZJHM", 20),
    ("HTDKJE", 16),
    ("DKFFRQ", 8),
    ("DKYE", 16),
    ("YQBJZE", 16),
    ("LJYQQS", 4),
    ("DKJQRQ", 8),
    ("DKZT", 1),
];

const MONEY_WIDTH: usize = 16;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often reads look at `control.txt` for a new export.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How often a waiting write looks for its result.
const RESULT_POLL: Duration = Duration::from_millis(20);
/// Longest case id the file protocol takes (file names stay short).
const MAX_CASE_ID: usize = 64;

/// Bytes of one record of `layout` (without the line end).
pub fn record_width(layout: Layout) -> usize {
    layout.iter().map(|(_, w)| w).sum()
}

/// Byte range of field `name` inside a record of `layout`.
pub fn field_range(layout: Layout, name: &str) -> Option<Range<usize>> {
    let mut at = 0;
    for (n, w) in layout {
        if *n == name {
            return Some(at..at + w);
        }
        at += w;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Encoding fields
// ---------------------------------------------------------------------------------------------

/// Append `value` left-aligned and space-padded to `width` bytes of GB18030. Too long a value is
/// cut at a character boundary (never inside a multi-byte character); returns whether it was cut.
fn put_text(out: &mut Vec<u8>, value: &str, width: usize) -> bool {
    // Plain printable ASCII (ids, codes, amounts) is the same bytes in GB18030.
    if value.len() <= width && value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        out.extend_from_slice(value.as_bytes());
        out.resize(out.len() + width - value.len(), b' ');
        return false;
    }
    let clean: std::borrow::Cow<'_, str> = if value.chars().any(char::is_control) {
        value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        value.into()
    };
    let (bytes, _, _) = GB18030.encode(&clean);
    if bytes.len() <= width {
        out.extend_from_slice(&bytes);
        out.resize(out.len() + width - bytes.len(), b' ');
        return false;
    }
    let mut used = 0;
    for ch in clean.chars() {
        let mut buf = [0u8; 4];
        let (b, _, _) = GB18030.encode(ch.encode_utf8(&mut buf));
        if used + b.len() > width {
            break;
        }
        out.extend_from_slice(&b);
        used += b.len();
    }
    out.resize(out.len() + width - used, b' ');
    true
}

/// Zero-padded number; a number too wide for the field is written as `*`s (as a COBOL edited
/// field does), which the reader reports as a bad record.
fn put_num(out: &mut Vec<u8>, v: i64, width: usize) {
    let s = format!("{v:0width$}");
    if s.len() == width {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.resize(out.len() + width, b'*');
    }
}

/// `+000000001234.56`: sign, 12 integer digits, point, 2 decimals.
fn fixed_money(fen: i64) -> Option<String> {
    let sign = if fen < 0 { '-' } else { '+' };
    let a = fen.unsigned_abs();
    let s = format!("{sign}{:012}.{:02}", a / 100, a % 100);
    (s.len() == MONEY_WIDTH).then_some(s)
}

fn put_money(out: &mut Vec<u8>, fen: i64) {
    match fixed_money(fen) {
        Some(s) => out.extend_from_slice(s.as_bytes()),
        None => out.resize(out.len() + MONEY_WIDTH, b'*'),
    }
}

/// Money as the master holds it (TEXT yuan); what does not parse is written as found, so the
/// export shows the core's bad data instead of hiding it.
fn put_money_text(out: &mut Vec<u8>, yuan: &str) {
    match parse_yuan(yuan) {
        Some(fen) => put_money(out, fen),
        None => {
            put_text(out, yuan, MONEY_WIDTH);
        }
    }
}

/// A master date `YYYY-MM-DD` (or absent) as `YYYYMMDD` (or blank).
fn put_date_text(out: &mut Vec<u8>, date: Option<&str>) {
    let s: String = date.unwrap_or("").chars().filter(|c| *c != '-').collect();
    put_text(out, &s, 8);
}

// ---------------------------------------------------------------------------------------------
// Decoding records
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Problem {
    Bad(String),
    Unknown { table: &'static str, code: String },
}

/// A record of the export that could not be read. It names the file and line (1-based) and, when
/// that much could be read, the record's key (account or contract number).
#[derive(Debug, Clone)]
pub struct BadExportRecord {
    pub file: &'static str,
    pub line: usize,
    pub key: Option<String>,
    problem: Problem,
}

impl BadExportRecord {
    /// `members.dat line 6 (account 3406000000000005)`
    pub fn record(&self) -> String {
        match &self.key {
            Some(k) => format!("{} line {} ({k})", self.file, self.line),
            None => format!("{} line {}", self.file, self.line),
        }
    }
    pub fn to_error(&self) -> AdapterError {
        match &self.problem {
            Problem::Bad(d) => AdapterError::BadRecord {
                record: self.record(),
                detail: d.clone(),
            },
            Problem::Unknown { table, code } => AdapterError::UnknownCode {
                table,
                code: code.clone(),
                record: self.record(),
            },
        }
    }
}

impl std::fmt::Display for BadExportRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_error())
    }
}

/// One line of an export file, split by a layout.
struct Rec<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> Rec<'a> {
    fn raw(&self, name: &str) -> &'a [u8] {
        field_range(self.layout, name)
            .and_then(|r| self.bytes.get(r))
            .unwrap_or(&[])
    }
    /// An ASCII field, trailing spaces trimmed.
    fn ascii(&self, name: &str) -> Result<&'a str, Problem> {
        let raw = self.raw(name);
        if let Some(pos) = raw
            .iter()
            .position(|b| !b.is_ascii() || b.is_ascii_control())
        {
            return Err(Problem::Bad(format!(
                "{name} holds byte {:#04x} at offset {pos}; the field is plain ASCII",
                raw[pos]
            )));
        }
        std::str::from_utf8(raw)
            .map(str::trim_end)
            .map_err(|e| Problem::Bad(format!("{name}: {e}")))
    }
    /// A GB18030 text field, trailing spaces trimmed.
    fn text(&self, name: &str) -> Result<String, Problem> {
        let raw = self.raw(name);
        match GB18030.decode_without_bom_handling_and_without_replacement(raw) {
            Some(s) => Ok(s.trim_end().to_string()),
            None => Err(Problem::Bad(format!(
                "{name} is not valid GB18030 (bytes {})",
                hex::encode(raw)
            ))),
        }
    }
    fn money(&self, name: &str) -> Result<i64, Problem> {
        let s = self.ascii(name)?;
        let ok_shape = s.len() == MONEY_WIDTH
            && matches!(s.as_bytes()[0], b'+' | b'-')
            && s.as_bytes()[13] == b'.'
            && s.bytes()
                .enumerate()
                .all(|(i, b)| i == 0 || i == 13 || b.is_ascii_digit());
        if !ok_shape {
            return Err(Problem::Bad(format!(
                "{name} {s:?} is not a signed fixed-point yuan amount"
            )));
        }
        let unsigned = s.trim_start_matches('+');
        parse_yuan(unsigned)
            .ok_or_else(|| Problem::Bad(format!("{name} {s:?} is not a yuan amount")))
    }
    fn date(&self, name: &str) -> Result<NaiveDate, Problem> {
        let s = self.ascii(name)?;
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
            .flatten()
            .ok_or_else(|| Problem::Bad(format!("{name} {s:?} is not a real date")))
    }
    fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, Problem> {
        if self.ascii(name)?.is_empty() {
            Ok(None)
        } else {
            self.date(name).map(Some)
        }
    }
    fn month(&self, name: &str) -> Result<YearMonth, Problem> {
        let s = self.ascii(name)?;
        (s.len() == 6)
            .then(|| s.parse::<u32>().ok().and_then(YearMonth::from_yyyymm))
            .flatten()
            .ok_or_else(|| Problem::Bad(format!("{name} {s:?} is not a YYYYMM month")))
    }
    fn num(&self, name: &str) -> Result<u32, Problem> {
        let s = self.ascii(name)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::Bad(format!("{name} {s:?} is not a number")));
        }
        s.parse()
            .map_err(|_| Problem::Bad(format!("{name} {s:?} is out of range")))
    }
}

// Code tables of the batch core.
fn id_type_of(code: &str) -> Result<IdType, Problem> {
    IdType::from_code(code).ok_or_else(|| Problem::Unknown {
        table: "证件类型 ZJLX",
        code: code.into(),
    })
}
fn status_of(code: &str) -> Result<AccountStatus, Problem> {
    AccountStatus::from_code(code).ok_or_else(|| Problem::Unknown {
        table: "个人账户状态 GRZHZT",
        code: code.into(),
    })
}
fn sex_of(code: &str) -> Result<Sex, Problem> {
    match code {
        "1" => Ok(Sex::Male),
        "2" => Ok(Sex::Female),
        other => Err(Problem::Unknown {
            table: "性别 XINGBIE",
            code: other.into(),
        }),
    }
}
fn loan_status_of(code: &str) -> Result<LoanStatus, Problem> {
    match code {
        "1" => Ok(LoanStatus::Normal),
        "2" => Ok(LoanStatus::Overdue),
        "3" => Ok(LoanStatus::Settled),
        "4" => Ok(LoanStatus::WrittenOff),
        other => Err(Problem::Unknown {
            table: "贷款状态 DKZT",
            code: other.into(),
        }),
    }
}
fn business_type_of(code: &str) -> Result<String, Problem> {
    if business_type::ALL.contains(&code) {
        Ok(code.to_string())
    } else {
        Err(Problem::Unknown {
            table: "业务类型 YWLX",
            code: code.into(),
        })
    }
}

/// The person key used by the indexes: canonical id type code and normalised id number. Works on
/// raw fields too, so a bad record can still be found (and reported) by its person.
fn person_key(zjlx: &str, zjhm: &str) -> (String, String) {
    let t = IdType::from_code(zjlx);
    let id = match t {
        Some(IdType::ResidentId) => crate::ids::validate_resident_id("ZJHM", zjhm)
            .unwrap_or_else(|_| zjhm.trim().to_uppercase()),
        _ => zjhm.trim().to_string(),
    };
    (
        t.map_or_else(|| zjlx.to_string(), |t| t.code().to_string()),
        id,
    )
}

fn parse_member(r: &Rec<'_>) -> Result<Member, Problem> {
    let id_type = id_type_of(r.ascii("ZJLX")?)?;
    let zjhm = r.ascii("ZJHM")?;
    let id_number = if id_type == IdType::ResidentId {
        crate::ids::validate_resident_id("ZJHM", zjhm).map_err(|e| Problem::Bad(e.to_string()))?
    } else {
        zjhm.to_string()
    };
    let xhyy = r.ascii("XHYY")?;
    let name = r.text("XINGMING")?;
    if name.is_empty() {
        return Err(Problem::Bad("XINGMING is blank".into()));
    }
    Ok(Member {
        account_no: r.ascii("GRZH")?.to_string(),
        name,
        id_type,
        id_number,
        sex: sex_of(r.ascii("XINGBIE")?)?,
        birth_date: r.date("CSRQ")?,
        phone: r.ascii("SJHM")?.to_string(),
        employer: Employer {
            account_no: r.ascii("DWZH")?.to_string(),
            name: r.text("DWMC")?,
            uscc: r.ascii("TYSHXYDM")?.to_string(),
            employer_rate_bp: r.num("DWJCBL")?,
            member_rate_bp: r.num("GRJCBL")?,
        },
        deposit_base_fen: r.money("GRJCJS")?,
        member_monthly_fen: r.money("GRYJCE")?,
        employer_monthly_fen: r.money("DWYJCE")?,
        balance_fen: r.money("GRZHYE")?,
        carried_over_fen: r.money("GRZHSNJZYE")?,
        this_year_fen: r.money("GRZHDNGJYE")?,
        status: status_of(r.ascii("GRZHZT")?)?,
        opened_on: r.date("KHRQ")?,
        closed_on: r.opt_date("XHRQ")?,
        close_reason: (!xhyy.is_empty()).then(|| xhyy.to_string()),
        paid_up_to: r.month("JZNY")?,
    })
}

fn parse_posting(r: &Rec<'_>) -> Result<Deposit, Problem> {
    Ok(Deposit {
        date: r.date("RQ")?,
        business_type: business_type_of(r.ascii("YWLX")?)?,
        amount_fen: r.money("FSE")?,
        interest_fen: r.money("LX")?,
        for_month: r.month("HJNY")?,
    })
}

fn parse_loan(r: &Rec<'_>) -> Result<LoanRecord, Problem> {
    let jkr = (id_type_of(r.ascii("JKRZJLX")?)?, r.ascii("JKRZJHM")?);
    let gjr_type = r.ascii("GJRZJLX")?;
    let co_borrower = if gjr_type.is_empty() {
        None
    } else {
        let (_, id) = person_key(gjr_type, r.ascii("GJRZJHM")?);
        Some((id_type_of(gjr_type)?, id))
    };
    let (_, borrower_id) = person_key(jkr.0.code(), jkr.1);
    Ok(LoanRecord {
        loan: Loan {
            contract_no: r.ascii("JKHTBH")?.to_string(),
            loan_account: r.ascii("DKZH")?.to_string(),
            role: LoanRole::Borrower,
            contract_amount_fen: r.money("HTDKJE")?,
            issued_on: r.date("DKFFRQ")?,
            outstanding_fen: r.money("DKYE")?,
            overdue_principal_fen: r.money("YQBJZE")?,
            overdue_periods: r.num("LJYQQS")?,
            settled_on: r.opt_date("DKJQRQ")?,
            status: loan_status_of(r.ascii("DKZT")?)?,
        },
        borrower: (jkr.0, borrower_id),
        co_borrower,
    })
}

/// Split an export file into its records: `(line number, bytes)`, a trailing `\r` dropped. A last
/// line without `\n` is a record too (a truncated one, usually).
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let empty = data.is_empty();
    body.split(|b| *b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

fn count_records(data: &[u8]) -> usize {
    if data.is_empty() {
        return 0;
    }
    let n = data.iter().filter(|b| **b == b'\n').count();
    if data.last() == Some(&b'\n') {
        n
    } else {
        n + 1
    }
}

/// Check a line's width; on failure name the record by whatever key is readable.
fn shaped<'a>(
    file: &'static str,
    line: usize,
    bytes: &'a [u8],
    layout: Layout,
    key: &str,
) -> Result<Rec<'a>, BadExportRecord> {
    let rec = Rec { bytes, layout };
    let want = record_width(layout);
    if bytes.len() != want {
        return Err(BadExportRecord {
            file,
            line,
            key: rec
                .ascii(key)
                .ok()
                .filter(|k| !k.is_empty())
                .map(str::to_string),
            problem: Problem::Bad(format!(
                "record is {} bytes, the layout is {want}",
                bytes.len()
            )),
        });
    }
    Ok(rec)
}

// ---------------------------------------------------------------------------------------------
// The control file
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct ControlEntry {
    records: usize,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Clone)]
struct Control {
    seq: u64,
    time: String,
    files: HashMap<String, ControlEntry>,
}

const CONTROL_HEADER: &str = "HFXCTL|1";

fn render_control(seq: u64, time: &str, files: &[(&str, ControlEntry)]) -> String {
    let mut s = format!("{CONTROL_HEADER}\nSEQ|{seq}\nTIME|{time}\n");
    for (name, e) in files {
        s.push_str(&format!(
            "FILE|{name}|{}|{}|{}\n",
            e.records, e.bytes, e.sha256
        ));
    }
    s.push_str("END\n");
    s
}

fn parse_control(text: &[u8]) -> Result<Control, String> {
    let text = std::str::from_utf8(text).map_err(|_| "control.txt is not ASCII".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(CONTROL_HEADER) {
        return Err(format!("control.txt does not start with {CONTROL_HEADER}"));
    }
    let (mut seq, mut time, mut files, mut ended) = (None, String::new(), HashMap::new(), false);
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let parts: Vec<&str> = line.split('|').collect();
        match parts.as_slice() {
            ["SEQ", v] => {
                seq = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("control.txt line {n}: SEQ {v:?} is not a number"))?,
                )
            }
            ["TIME", v] => time = v.to_string(),
            ["FILE", name, records, bytes, sha] => {
                let records = records.parse().map_err(|_| {
                    format!("control.txt line {n}: record count {records:?} is not a number")
                })?;
                let bytes = bytes.parse().map_err(|_| {
                    format!("control.txt line {n}: byte size {bytes:?} is not a number")
                })?;
                if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("control.txt line {n}: {sha:?} is not a SHA-256"));
                }
                files.insert(
                    name.to_string(),
                    ControlEntry {
                        records,
                        bytes,
                        sha256: sha.to_ascii_lowercase(),
                    },
                );
            }
            ["END"] => {
                ended = true;
                break;
            }
            _ => return Err(format!("control.txt line {n}: cannot read {line:?}")),
        }
    }
    if !ended {
        return Err("control.txt has no END line (truncated?)".into());
    }
    let seq = seq.ok_or("control.txt has no SEQ line")?;
    for f in DATA_FILES {
        if !files.contains_key(f) {
            return Err(format!("control.txt does not list {f}"));
        }
    }
    Ok(Control { seq, time, files })
}

fn entry_of(data: &[u8]) -> ControlEntry {
    ControlEntry {
        records: count_records(data),
        bytes: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

// ---------------------------------------------------------------------------------------------
// The loaded export
// ---------------------------------------------------------------------------------------------

/// What identifies one export on disk: the control file and the data files' sizes and times.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    control: Vec<u8>,
    files: Vec<(u64, Option<SystemTime>)>,
}

fn fingerprint(dir: &Path) -> std::io::Result<Option<Fingerprint>> {
    let control = match std::fs::read(dir.join(CONTROL_FILE)) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for f in DATA_FILES {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => files.push((m.len(), m.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => files.push((0, None)),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Fingerprint { control, files }))
}

type PostingSlot = Result<Deposit, (Option<YearMonth>, BadExportRecord)>;

struct Export {
    fingerprint: Fingerprint,
    seq: u64,
    time: String,
    members: Vec<Result<Member, BadExportRecord>>,
    /// (id type code, id number) -> indexes into `members`.
    by_person: HashMap<(String, String), Vec<usize>>,
    postings: HashMap<String, Vec<PostingSlot>>,
    posting_count: usize,
    loans: Vec<Result<LoanRecord, BadExportRecord>>,
    /// (id type code, id number) -> (index into `loans`, role).
    loans_by_person: HashMap<(String, String), Vec<(usize, LoanRole)>>,
    bad: Vec<BadExportRecord>,
}

enum LoadError {
    /// No control file: no export yet, or the core is exporting right now.
    Missing,
    /// The files changed while being read; try again.
    Unstable,
    /// The export as a whole is not acceptable.
    Refused(Fingerprint, String),
    Io(String),
}

fn read_export(dir: &Path) -> Result<Export, LoadError> {
    let io = |e: std::io::Error| LoadError::Io(format!("{}: {e}", dir.display()));
    let Some(before) = fingerprint(dir).map_err(io)? else {
        return Err(LoadError::Missing);
    };
    let mut data = Vec::with_capacity(3);
    for f in DATA_FILES {
        match std::fs::read(dir.join(f)) {
            Ok(d) => data.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => data.push(Vec::new()),
            Err(e) => return Err(io(e)),
        }
    }
    let after = fingerprint(dir).map_err(io)?;
    if after.as_ref() != Some(&before) {
        return Err(LoadError::Unstable);
    }
    let refuse = |msg: String| LoadError::Refused(before.clone(), msg);
    let control = parse_control(&before.control).map_err(refuse)?;
    let mut problems = Vec::new();
    for (f, d) in DATA_FILES.iter().zip(&data) {
        let want = &control.files[*f];
        let got = entry_of(d);
        if got.records != want.records {
            problems.push(format!(
                "{f} has {} records, control.txt says {}",
                got.records, want.records
            ));
        }
        if got.bytes != want.bytes {
            problems.push(format!(
                "{f} is {} bytes, control.txt says {}",
                got.bytes, want.bytes
            ));
        }
        if got.sha256 != want.sha256 {
            problems.push(format!(
                "{f} SHA-256 {} does not match control.txt {}",
                got.sha256, want.sha256
            ));
        }
    }
    if !problems.is_empty() {
        return Err(refuse(format!(
            "export seq {} refused: {}",
            control.seq,
            problems.join("; ")
        )));
    }
    Ok(index_export(before, control, &data[0], &data[1], &data[2]))
}

fn index_export(
    fingerprint: Fingerprint,
    control: Control,
    members: &[u8],
    postings: &[u8],
    loans: &[u8],
) -> Export {
    let mut ex = Export {
        fingerprint,
        seq: control.seq,
        time: control.time,
        members: Vec::new(),
        by_person: HashMap::new(),
        postings: HashMap::new(),
        posting_count: 0,
        loans: Vec::new(),
        loans_by_person: HashMap::new(),
        bad: Vec::new(),
    };
    for (line, bytes) in lines(members) {
        let parsed = shaped(MEMBERS_FILE, line, bytes, MEMBER_LAYOUT, "GRZH").map(|r| {
            let key = r.ascii("GRZH").ok().map(|k| format!("account {k}"));
            let person = match (r.ascii("ZJLX"), r.ascii("ZJHM")) {
                (Ok(t), Ok(n)) => Some(person_key(t, n)),
                _ => None,
            };
            let res = parse_member(&r).map_err(|problem| BadExportRecord {
                file: MEMBERS_FILE,
                line,
                key,
                problem,
            });
            (person, res)
        });
        let idx = ex.members.len();
        match parsed {
            Ok((person, res)) => {
                if let Err(b) = &res {
                    ex.bad.push(b.clone());
                }
                if let Some(p) = person {
                    ex.by_person.entry(p).or_default().push(idx);
                }
                ex.members.push(res);
            }
            Err(b) => {
                ex.bad.push(b.clone());
                ex.members.push(Err(b));
            }
        }
    }
    for (line, bytes) in lines(postings) {
        ex.posting_count += 1;
        match shaped(POSTINGS_FILE, line, bytes, POSTING_LAYOUT, "GRZH") {
            Ok(r) => {
                let acct = r.ascii("GRZH").ok().map(str::to_string);
                let res = parse_posting(&r).map_err(|problem| {
                    let b = BadExportRecord {
                        file: POSTINGS_FILE,
                        line,
                        key: acct.as_ref().map(|a| format!("account {a}")),
                        problem,
                    };
                    (r.month("HJNY").ok(), b)
                });
                if let Err((_, b)) = &res {
                    ex.bad.push(b.clone());
                }
                if let Some(a) = acct {
                    ex.postings.entry(a).or_default().push(res);
                }
            }
            Err(b) => ex.bad.push(b),
        }
    }
    for (line, bytes) in lines(loans) {
        let idx = ex.loans.len();
        match shaped(LOANS_FILE, line, bytes, LOAN_LAYOUT, "JKHTBH") {
            Ok(r) => {
                let key = r.ascii("JKHTBH").ok().map(|k| format!("contract {k}"));
                for (t, n, role) in [
                    ("JKRZJLX", "JKRZJHM", LoanRole::Borrower),
                    ("GJRZJLX", "GJRZJHM", LoanRole::CoBorrower),
                ] {
                    if let (Ok(t), Ok(n)) = (r.ascii(t), r.ascii(n))
                        && !t.is_empty()
                    {
                        ex.loans_by_person
                            .entry(person_key(t, n))
                            .or_default()
                            .push((idx, role));
                    }
                }
                let res = parse_loan(&r).map_err(|problem| BadExportRecord {
                    file: LOANS_FILE,
                    line,
                    key,
                    problem,
                });
                if let Err(b) = &res {
                    ex.bad.push(b.clone());
                }
                ex.loans.push(res);
            }
            Err(b) => {
                ex.bad.push(b.clone());
                ex.loans.push(Err(b));
            }
        }
    }
    ex
}

// ---------------------------------------------------------------------------------------------
// Request / result files
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Reserve,
    Release,
    Close,
    Credit,
}

impl Op {
    fn code(self) -> &'static str {
        match self {
            Op::Reserve => "RESERVE",
            Op::Release => "RELEASE",
            Op::Close => "CLOSE",
            Op::Credit => "CREDIT",
        }
    }
    fn suffix(self) -> &'static str {
        match self {
            Op::Reserve => "reserve",
            Op::Release => "release",
            Op::Close => "close",
            Op::Credit => "credit",
        }
    }
    fn from_code(s: &str) -> Option<Self> {
        [Op::Reserve, Op::Release, Op::Close, Op::Credit]
            .into_iter()
            .find(|o| o.code() == s)
    }
}

/// Result codes (JG) of the batch core.
mod jg {
    pub const OK: &str = "0000";
    pub const NO_ACCOUNT: &str = "1001";
    pub const NO_RESERVATION: &str = "1002";
    pub const CONFLICT: &str = "2001";
    pub const BAD_DATA: &str = "3001";
    pub const MALFORMED: &str = "8001";
    pub const OTHER: &str = "9999";
}

const REQ_HEADER: &str = "HFXREQ|1";
const RES_HEADER: &str = "HFXRES|1";

/// File stem for a case id: `[A-Za-z0-9-]` kept, every other byte as `_XX` (so distinct case ids
/// give distinct names and no name holds a dot or a slash).
fn case_stem(case_id: &str) -> Result<String, AdapterError> {
    if case_id.is_empty() || case_id.len() > MAX_CASE_ID || case_id.chars().any(char::is_control) {
        return Err(AdapterError::Other(format!(
            "case id {case_id:?} cannot be sent to the batch core (1..={MAX_CASE_ID} bytes, no control characters)"
        )));
    }
    let mut s = String::with_capacity(case_id.len());
    for b in case_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("_{b:02X}"));
        }
    }
    Ok(s)
}

/// Key/value lines of a request or result file, plus its fixed-width `MX` records.
#[derive(Debug, Default)]
struct KvFile {
    fields: HashMap<String, String>,
    records: Vec<Vec<u8>>,
}

fn render_kv(header: &str, fields: &[(&str, String)], records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(header.as_bytes());
    out.push(b'\n');
    for (k, v) in fields {
        out.extend_from_slice(k.as_bytes());
        out.push(b'|');
        let clean: String = v
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.extend_from_slice(&GB18030.encode(&clean).0);
        out.push(b'\n');
    }
    for r in records {
        out.extend_from_slice(b"MX|");
        out.extend_from_slice(r);
        out.push(b'\n');
    }
    out.extend_from_slice(b"END\n");
    out
}

fn parse_kv(header: &str, data: &[u8]) -> Result<KvFile, String> {
    let mut it = data.split(|b| *b == b'\n');
    if it.next() != Some(header.as_bytes()) {
        return Err(format!("does not start with {header}"));
    }
    let mut out = KvFile::default();
    for line in it {
        if line == b"END" {
            return Ok(out);
        }
        if let Some(rec) = line.strip_prefix(b"MX|") {
            out.records.push(rec.to_vec());
            continue;
        }
        let text = GB18030
            .decode_without_bom_handling_and_without_replacement(line)
            .ok_or_else(|| format!("line {:?} is not valid GB18030", hex::encode(line)))?;
        let (k, v) = text
            .split_once('|')
            .ok_or_else(|| format!("cannot read line {text:?}"))?;
        out.fields.insert(k.to_string(), v.to_string());
    }
    Err("has no END line".into())
}

impl KvFile {
    fn get(&self, k: &str) -> Result<&str, String> {
        self.fields
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("has no {k}"))
    }
}

fn posting_record(account_no: &str, d: &Deposit) -> Vec<u8> {
    let mut r = Vec::with_capacity(record_width(POSTING_LAYOUT));
    put_text(&mut r, account_no, 20);
    put_text(&mut r, &d.date.format("%Y%m%d").to_string(), 8);
    put_text(&mut r, &d.business_type, 2);
    put_money(&mut r, d.amount_fen);
    put_money(&mut r, d.interest_fen);
    put_text(&mut r, &d.for_month.to_string(), 6);
    r
}

/// Write `bytes` to `dir/name` atomically: a temporary file, fsync, rename, fsync of the folder.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AdapterError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AdapterError::Other(format!("file task failed: {e}")))
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct LoadState {
    current: Option<Arc<Export>>,
    /// The last export refused as a whole, with the reason.
    refused: Option<(Fingerprint, String)>,
    /// The last time the control file was looked at.
    polled: Option<Instant>,
    /// Why no export is loaded, when none is.
    note: Option<String>,
}

/// The batch core's adapter: reads from the loaded export, writes through inbox / outbox files.
pub struct BatchfileCore {
    root: PathBuf,
    timeout: Duration,
    state: Mutex<LoadState>,
    load_lock: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BatchfileCore {
    /// Open the exchange folder `root` (which must exist; its sub-folders are created when
    /// missing) and load the export if there is one. A missing or refused export is not an error
    /// here: reads say why, and [`CoreSystem::check`] lists it.
    pub async fn open(root: &Path, timeout: Option<Duration>) -> Result<Self, AdapterError> {
        let root = root.to_path_buf();
        let r = root.clone();
        blocking(move || -> Result<(), AdapterError> {
            if !r.is_dir() {
                return Err(AdapterError::Unavailable(format!(
                    "adapter.path {} is not a folder",
                    r.display()
                )));
            }
            for sub in ["export", "inbox", "outbox"] {
                std::fs::create_dir_all(r.join(sub)).map_err(|e| {
                    AdapterError::Unavailable(format!("{}: {e}", r.join(sub).display()))
                })?;
            }
            Ok(())
        })
        .await??;
        let core = Self {
            root,
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            state: Mutex::new(LoadState::default()),
            load_lock: tokio::sync::Mutex::new(()),
        };
        core.refresh(true).await;
        Ok(core)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    fn export_dir(&self) -> PathBuf {
        self.root.join("export")
    }

    /// Seed members `start..start+count` of the deterministic population into the stand-in
    /// core's master data and export it. Idempotent like [`SqliteCore::seed`].
    pub async fn seed(
        &self,
        centre: &str,
        opts: &SeedOptions,
        start: u64,
        count: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), AdapterError> {
        let runner = BatchRunner::open(&self.root).await?;
        runner
            .master()
            .seed(centre, opts, start, count, progress)
            .await?;
        runner.export().await?;
        self.refresh(true).await;
        Ok(())
    }

    /// Members in the loaded export (bad records included).
    pub async fn member_count(&self) -> Result<u64, AdapterError> {
        Ok(self.export().await?.members.len() as u64)
    }

    /// Re-read the export now (an operator's "reload"); returns why it was refused, if it was.
    pub async fn reload(&self) -> Result<(), AdapterError> {
        self.refresh(true).await;
        let st = lock(&self.state);
        match &st.refused {
            Some((_, why)) => Err(AdapterError::BadRecord {
                record: format!("{}/export", self.root.display()),
                detail: why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Bad records of the loaded export (each names its file and line).
    pub fn bad_records(&self) -> Vec<BadExportRecord> {
        lock(&self.state)
            .current
            .as_ref()
            .map(|e| e.bad.clone())
            .unwrap_or_default()
    }

    /// Look for a new export (at most every [`POLL_EVERY`] unless `force`) and load it.
    async fn refresh(&self, force: bool) {
        {
            let mut st = lock(&self.state);
            if !force && st.polled.is_some_and(|t| t.elapsed() < POLL_EVERY) {
                return;
            }
            st.polled = Some(Instant::now());
        }
        let _guard = self.load_lock.lock().await;
        let dir = self.export_dir();
        for attempt in 0..20 {
            let d = dir.clone();
            let fp = match blocking(move || fingerprint(&d)).await {
                Ok(Ok(fp)) => fp,
                Ok(Err(e)) => {
                    lock(&self.state).note = Some(format!("{}: {e}", dir.display()));
                    return;
                }
                Err(e) => {
                    lock(&self.state).note = Some(e.to_string());
                    return;
                }
            };
            {
                let st = lock(&self.state);
                let Some(fp) = &fp else {
                    drop(st);
                    lock(&self.state).note = Some(format!(
                        "no {CONTROL_FILE} in {} (no export yet, or the core is exporting)",
                        dir.display()
                    ));
                    return;
                };
                if st.current.as_ref().is_some_and(|e| &e.fingerprint == fp)
                    || st.refused.as_ref().is_some_and(|(r, _)| r == fp)
                {
                    return;
                }
            }
            let d = dir.clone();
            match blocking(move || read_export(&d)).await {
                Ok(Ok(ex)) => {
                    let mut st = lock(&self.state);
                    if !ex.bad.is_empty() {
                        tracing::warn!(
                            seq = ex.seq,
                            bad = ex.bad.len(),
                            "batch core export has bad records"
                        );
                    }
                    st.current = Some(Arc::new(ex));
                    st.refused = None;
                    st.note = None;
                    return;
                }
                Ok(Err(LoadError::Refused(fp, why))) => {
                    tracing::warn!(%why, "batch core export refused; serving the last good export");
                    lock(&self.state).refused = Some((fp, why));
                    return;
                }
                Ok(Err(LoadError::Missing)) => return,
                Ok(Err(LoadError::Io(e))) => {
                    lock(&self.state).note = Some(e);
                    return;
                }
                Ok(Err(LoadError::Unstable)) => {
                    // The core is writing the export right now.
                    tokio::time::sleep(Duration::from_millis(25 + 5 * attempt)).await;
                }
                Err(e) => {
                    lock(&self.state).note = Some(e.to_string());
                    return;
                }
            }
        }
    }

    async fn export(&self) -> Result<Arc<Export>, AdapterError> {
        self.refresh(false).await;
        let st = lock(&self.state);
        match (&st.current, &st.refused, &st.note) {
            (Some(e), _, _) => Ok(e.clone()),
            (None, Some((_, why)), _) => Err(AdapterError::BadRecord {
                record: format!("{}/export", self.root.display()),
                detail: why.clone(),
            }),
            (None, None, note) => Err(AdapterError::Unavailable(
                note.clone()
                    .unwrap_or_else(|| format!("no export loaded from {}", self.root.display())),
            )),
        }
    }

    /// Send one instruction and wait for its result (or return the result already there).
    async fn instruct(
        &self,
        op: Op,
        case_id: &str,
        fields: Vec<(&str, String)>,
        records: Vec<Vec<u8>>,
    ) -> Result<KvFile, AdapterError> {
        let stem = format!("{}.{}", case_stem(case_id)?, op.suffix());
        let res_name = format!("{stem}.res");
        let res_path = self.root.join("outbox").join(&res_name);
        if let Some(res) = self.read_result(&res_path, &res_name).await? {
            return Ok(res);
        }
        let mut all = vec![("AJBH", case_id.to_string()), ("CZ", op.code().to_string())];
        all.extend(fields);
        let body = render_kv(REQ_HEADER, &all, &records);
        let inbox = self.root.join("inbox");
        let req_name = format!("{stem}.req");
        let rn = req_name.clone();
        blocking(move || write_atomic(&inbox, &rn, &body))
            .await?
            .map_err(|e| {
                AdapterError::Unavailable(format!("cannot write inbox/{req_name}: {e}"))
            })?;
        let deadline = Instant::now() + self.timeout;
        loop {
            tokio::time::sleep(RESULT_POLL).await;
            if let Some(res) = self.read_result(&res_path, &res_name).await? {
                // The core exports before it answers: load that export so reads see the write.
                self.catch_up(&res, deadline).await;
                return Ok(res);
            }
            if Instant::now() >= deadline {
                return Err(AdapterError::Unavailable(format!(
                    "the batch core has not answered inbox/{req_name} within {:?} (is its batch run running?); the instruction stays in the inbox",
                    self.timeout
                )));
            }
        }
    }

    /// Load the export named by a result's `DCSEQ` (or a later one), waiting while the core
    /// is still writing an export, until `deadline`.
    async fn catch_up(&self, res: &KvFile, deadline: Instant) {
        let want = res.fields.get("DCSEQ").and_then(|s| s.parse::<u64>().ok());
        loop {
            self.refresh(true).await;
            let have = lock(&self.state).current.as_ref().map(|e| e.seq);
            match (want, have) {
                (None, _) => return,
                (Some(w), Some(h)) if h >= w => return,
                _ if Instant::now() >= deadline => {
                    tracing::warn!(
                        want,
                        have,
                        "the batch core's export after a write was not loaded in time"
                    );
                    return;
                }
                _ => tokio::time::sleep(RESULT_POLL).await,
            }
        }
    }

    async fn read_result(&self, path: &Path, name: &str) -> Result<Option<KvFile>, AdapterError> {
        let data = match tokio::fs::read(path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AdapterError::Unavailable(format!("outbox/{name}: {e}"))),
        };
        parse_kv(RES_HEADER, &data)
            .map(Some)
            .map_err(|d| AdapterError::BadRecord {
                record: format!("outbox/{name}"),
                detail: d,
            })
    }

    /// Map a result's JG code onto the adapter's errors.
    fn outcome(case_id: &str, op: Op, res: &KvFile) -> Result<(), AdapterError> {
        let record = format!("outbox result of {} for case {case_id}", op.code());
        let code = res.get("JG").map_err(|d| AdapterError::BadRecord {
            record: record.clone(),
            detail: d,
        })?;
        let msg = res.fields.get("XX").cloned().unwrap_or_default();
        match code {
            jg::OK => Ok(()),
            jg::NO_ACCOUNT | jg::NO_RESERVATION => Err(AdapterError::NotFound(msg)),
            jg::CONFLICT => Err(AdapterError::Conflict(msg)),
            jg::BAD_DATA => Err(AdapterError::BadRecord {
                record: format!("core master data for case {case_id}"),
                detail: msg,
            }),
            jg::MALFORMED | jg::OTHER => Err(AdapterError::Other(format!("batch core: {msg}"))),
            other => Err(AdapterError::UnknownCode {
                table: "批处理结果码 JG",
                code: other.into(),
                record,
            }),
        }
    }
}

fn res_money(res: &KvFile, key: &str, case_id: &str) -> Result<i64, AdapterError> {
    let rec = || format!("outbox result for case {case_id}");
    let s = res.get(key).map_err(|d| AdapterError::BadRecord {
        record: rec(),
        detail: d,
    })?;
    parse_yuan(s.trim_start_matches('+')).ok_or_else(|| AdapterError::BadRecord {
        record: rec(),
        detail: format!("{key} {s:?} is not a yuan amount"),
    })
}

#[async_trait::async_trait]
impl CoreSystem for BatchfileCore {
    fn kind(&self) -> &'static str {
        "batchfile"
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        let ex = self.export().await?;
        let Some(idxs) = ex
            .by_person
            .get(&(id_type.code().to_string(), id_number.to_string()))
        else {
            return Ok(None);
        };
        let mut best: Option<&Member> = None;
        for i in idxs {
            match &ex.members[*i] {
                Err(b) => return Err(b.to_error()),
                Ok(m) => {
                    if best.is_none_or(|b| m.status.code() < b.status.code()) {
                        best = Some(m);
                    }
                }
            }
        }
        Ok(best.cloned())
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let ex = self.export().await?;
        let mut out = Vec::new();
        for slot in ex
            .postings
            .get(account_no)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            match slot {
                Ok(d) if d.for_month >= from && d.for_month <= to => out.push(d.clone()),
                Ok(_) => {}
                Err((Some(m), _)) if *m < from || *m > to => {}
                Err((_, b)) => return Err(b.to_error()),
            }
        }
        out.sort_by_key(|d| (d.for_month, d.date));
        Ok(out)
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let ex = self.export().await?;
        let mut out = Vec::new();
        for (i, role) in ex
            .loans_by_person
            .get(&(id_type.code().to_string(), id_number.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            match &ex.loans[*i] {
                Err(b) => return Err(b.to_error()),
                Ok(l) => {
                    let mut loan = l.loan.clone();
                    loan.role = *role;
                    out.push(PersonLoan { role: *role, loan });
                }
            }
        }
        out.sort_by_key(|l| l.loan.issued_on);
        Ok(out)
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        let res = self
            .instruct(
                Op::Reserve,
                case_id,
                vec![("GRZH", account_no.to_string())],
                vec![],
            )
            .await?;
        Self::outcome(case_id, Op::Reserve, &res)?;
        let grzh = res.get("GRZH").map_err(|d| AdapterError::BadRecord {
            record: format!("outbox result for case {case_id}"),
            detail: d,
        })?;
        if grzh != account_no {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} already holds account {grzh}"
            )));
        }
        Ok(Reservation {
            case_id: case_id.into(),
            account_no: grzh.to_string(),
            principal_fen: res_money(&res, "BJ", case_id)?,
            interest_fen: res_money(&res, "LX", case_id)?,
        })
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        let res = self.instruct(Op::Release, case_id, vec![], vec![]).await?;
        Self::outcome(case_id, Op::Release, &res)
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        let res = self.instruct(Op::Close, case_id, vec![], vec![]).await?;
        Self::outcome(case_id, Op::Close, &res)
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        if amount_fen < 0 {
            return Err(AdapterError::Conflict(format!(
                "credit of {amount_fen} fen is negative"
            )));
        }
        let je = fixed_money(amount_fen).ok_or_else(|| {
            AdapterError::Conflict(format!(
                "credit of {amount_fen} fen does not fit the batch core's amount field"
            ))
        })?;
        let records = history
            .iter()
            .map(|d| posting_record(account_no, d))
            .collect();
        let res = self
            .instruct(
                Op::Credit,
                case_id,
                vec![("GRZH", account_no.to_string()), ("JE", je)],
                records,
            )
            .await?;
        Self::outcome(case_id, Op::Credit, &res)?;
        let grzh = res.get("GRZH").unwrap_or_default();
        if grzh != account_no || res_money(&res, "JE", case_id)? != amount_fen {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} was credited to {grzh} with {}",
                res.get("JE").unwrap_or_default()
            )));
        }
        Ok(())
    }

    async fn check(&self) -> Vec<CheckItem> {
        let mut out = Vec::new();
        let missing: Vec<String> = ["export", "inbox", "outbox"]
            .iter()
            .filter(|s| !self.root.join(s).is_dir())
            .map(|s| self.root.join(s).display().to_string())
            .collect();
        out.push(CheckItem {
            name: "folders".into(),
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!(
                    "export/, inbox/, outbox/ present in {}",
                    self.root.display()
                )
            } else {
                format!("missing {missing:?}")
            },
        });
        self.refresh(true).await;
        let (current, refused, note) = {
            let st = lock(&self.state);
            (st.current.clone(), st.refused.clone(), st.note.clone())
        };
        let serving = current.as_ref().map(|e| {
            format!(
                "export seq {} ({}): {} members, {} postings, {} loans",
                e.seq,
                e.time,
                e.members.len(),
                e.posting_count,
                e.loans.len()
            )
        });
        out.push(match (&serving, &refused) {
            (Some(s), None) => CheckItem {
                name: "export".into(),
                ok: true,
                detail: format!("{s}; control counts and SHA-256 match"),
            },
            (s, Some((_, why))) => CheckItem {
                name: "export".into(),
                ok: false,
                detail: format!(
                    "{why}; {}",
                    s.as_ref()
                        .map_or("no good export to serve".to_string(), |s| format!(
                            "still serving {s}"
                        ))
                ),
            },
            (None, None) => CheckItem {
                name: "export".into(),
                ok: false,
                detail: note.unwrap_or_else(|| "no export loaded".into()),
            },
        });
        if let Some(e) = &current {
            const SHOW: usize = 20;
            let mut detail: Vec<String> = e.bad.iter().take(SHOW).map(|b| b.to_string()).collect();
            if e.bad.len() > SHOW {
                detail.push(format!("… and {} more", e.bad.len() - SHOW));
            }
            out.push(CheckItem {
                name: "records".into(),
                ok: e.bad.is_empty(),
                detail: if e.bad.is_empty() {
                    "every record decodes and every code is mapped".into()
                } else {
                    format!(
                        "{} bad records (the others are served): {}",
                        e.bad.len(),
                        detail.join("; ")
                    )
                },
            });
            let sample = e.members.iter().find_map(|m| m.as_ref().ok());
            out.push(CheckItem {
                name: "sample read".into(),
                ok: sample.is_some() || e.members.is_empty(),
                detail: match sample {
                    Some(m) => format!("account {} read and mapped", m.account_no),
                    None if e.members.is_empty() => "no members yet".into(),
                    None => "no member record could be read".into(),
                },
            });
        }
        let inbox = self.root.join("inbox");
        let timeout = self.timeout;
        let pending = blocking(move || -> std::io::Result<(usize, Option<Duration>)> {
            let mut n = 0;
            let mut oldest: Option<Duration> = None;
            for e in std::fs::read_dir(&inbox)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') || !name.ends_with(".req") {
                    continue;
                }
                n += 1;
                let age = e.metadata()?.modified()?.elapsed().unwrap_or_default();
                oldest = Some(oldest.map_or(age, |o| o.max(age)));
            }
            Ok((n, oldest))
        })
        .await;
        out.push(match pending {
            Ok(Ok((0, _))) => CheckItem {
                name: "batch run".into(),
                ok: true,
                detail: "no instruction waiting in inbox/".into(),
            },
            Ok(Ok((n, oldest))) => {
                let age = oldest.unwrap_or_default();
                CheckItem {
                    name: "batch run".into(),
                    ok: age <= timeout,
                    detail: format!(
                        "{n} instructions waiting in inbox/, the oldest for {}s",
                        age.as_secs()
                    ),
                }
            }
            Ok(Err(e)) => CheckItem {
                name: "batch run".into(),
                ok: false,
                detail: format!("inbox/: {e}"),
            },
            Err(e) => CheckItem {
                name: "batch run".into(),
                ok: false,
                detail: e.to_string(),
            },
        });
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The stand-in core's batch run
// ---------------------------------------------------------------------------------------------

/// One export at a time per exchange folder (in this process).
fn export_lock(root: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let key = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    lock(LOCKS.get_or_init(Default::default))
        .entry(key)
        .or_default()
        .clone()
}

/// What one batch run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Instructions answered (a result written to outbox/).
    pub answered: usize,
    /// Instructions left in inbox/ for the next run (the master data was unavailable).
    pub deferred: usize,
    /// Whether the export was written.
    pub exported: bool,
}

/// The stand-in for the legacy core's batch run: applies inbox/ instructions to the core's master
/// data (`core/master.db`, private to the stand-in), re-exports, then writes outbox/ results.
pub struct BatchRunner {
    root: PathBuf,
    master: SqliteCore,
}

/// A batch run in the background; stops when dropped.
pub struct RunnerTask(tokio::task::JoinHandle<()>);

impl Drop for RunnerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl BatchRunner {
    /// Open the stand-in core at `root` (creating its folders and master database).
    pub async fn open(root: &Path) -> Result<Self, AdapterError> {
        for sub in ["export", "inbox", "outbox", "core"] {
            tokio::fs::create_dir_all(root.join(sub))
                .await
                .map_err(|e| {
                    AdapterError::Unavailable(format!("{}: {e}", root.join(sub).display()))
                })?;
        }
        let master = SqliteCore::open(&root.join("core").join("master.db")).await?;
        Ok(Self {
            root: root.to_path_buf(),
            master,
        })
    }

    /// The core's master data.
    pub fn master(&self) -> &SqliteCore {
        &self.master
    }

    /// Run `run_once` every `interval` in the background.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> RunnerTask {
        RunnerTask(tokio::spawn(async move {
            loop {
                if let Err(e) = self.run_once().await {
                    tracing::warn!(error = %e, "batch core run failed");
                }
                tokio::time::sleep(interval).await;
            }
        }))
    }

    /// One batch run: answer every instruction in inbox/, export if anything changed (or there
    /// is no export yet), then write the results and remove the answered instructions.
    pub async fn run_once(&self) -> Result<RunReport, AdapterError> {
        let inbox = self.root.join("inbox");
        let ib = inbox.clone();
        let mut reqs = blocking(move || -> std::io::Result<Vec<(SystemTime, String)>> {
            let mut v = Vec::new();
            for e in std::fs::read_dir(&ib)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') || !name.ends_with(".req") {
                    continue;
                }
                v.push((e.metadata()?.modified()?, name));
            }
            Ok(v)
        })
        .await?
        .map_err(|e| AdapterError::Unavailable(format!("{}: {e}", inbox.display())))?;
        reqs.sort();
        let mut report = RunReport::default();
        let mut results = Vec::new();
        for (_, name) in reqs {
            let data = match tokio::fs::read(inbox.join(&name)).await {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AdapterError::Unavailable(format!("inbox/{name}: {e}"))),
            };
            match self.apply(&data).await {
                Some(fields) => results.push((name, fields)),
                None => report.deferred += 1,
            }
        }
        let no_export = !tokio::fs::try_exists(self.root.join("export").join(CONTROL_FILE))
            .await
            .unwrap_or(false);
        let mut seq = None;
        if !results.is_empty() || no_export {
            seq = Some(self.export().await?);
            report.exported = true;
        }
        let outbox = self.root.join("outbox");
        for (name, mut fields) in results {
            // The export that holds this result's effect (the adapter waits to have loaded it).
            if let Some(seq) = seq {
                fields.push(("DCSEQ", seq.to_string()));
            }
            let res_name = format!("{}.res", name.trim_end_matches(".req"));
            let body = render_kv(
                RES_HEADER,
                &fields
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect::<Vec<_>>(),
                &[],
            );
            let (ob, ib, rn, n) = (
                outbox.clone(),
                inbox.clone(),
                res_name.clone(),
                name.clone(),
            );
            blocking(move || -> std::io::Result<()> {
                write_atomic(&ob, &rn, &body)?;
                std::fs::remove_file(ib.join(&n))
            })
            .await?
            .map_err(|e| AdapterError::Unavailable(format!("outbox/{res_name}: {e}")))?;
            report.answered += 1;
        }
        Ok(report)
    }

    /// Apply one instruction to the master data; `None` leaves it for the next run.
    async fn apply(&self, data: &[u8]) -> Option<Vec<(&'static str, String)>> {
        let req = match parse_kv(REQ_HEADER, data) {
            Ok(r) => r,
            Err(e) => {
                return Some(vec![
                    ("JG", jg::MALFORMED.into()),
                    ("XX", format!("malformed instruction: {e}")),
                ]);
            }
        };
        let case = req.fields.get("AJBH").cloned().unwrap_or_default();
        let op = req.fields.get("CZ").and_then(|c| Op::from_code(c));
        let mut out = vec![
            ("AJBH", case.clone()),
            ("CZ", req.fields.get("CZ").cloned().unwrap_or_default()),
        ];
        let grzh = req.fields.get("GRZH").cloned().unwrap_or_default();
        let result = match op {
            None => Err(AdapterError::Other(format!(
                "unknown operation {:?}",
                req.fields.get("CZ")
            ))),
            Some(_) if case.is_empty() => {
                Err(AdapterError::Other("instruction has no AJBH".into()))
            }
            Some(Op::Reserve) => self.master.reserve(&case, &grzh).await.map(|r| {
                out.push(("GRZH", r.account_no));
                out.push(("BJ", fixed_money(r.principal_fen).unwrap_or_default()));
                out.push(("LX", fixed_money(r.interest_fen).unwrap_or_default()));
            }),
            Some(Op::Release) => self.master.release(&case).await,
            Some(Op::Close) => self.master.close_out(&case).await,
            Some(Op::Credit) => {
                let je = req.get("JE").map_err(AdapterError::Other).and_then(|s| {
                    parse_yuan(s.trim_start_matches('+'))
                        .ok_or_else(|| AdapterError::Other(format!("JE {s:?} is not an amount")))
                });
                let history: Result<Vec<Deposit>, AdapterError> = req
                    .records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let rec = Rec {
                            bytes: r,
                            layout: POSTING_LAYOUT,
                        };
                        if r.len() != record_width(POSTING_LAYOUT) {
                            return Err(AdapterError::Other(format!(
                                "MX record {} is {} bytes",
                                i + 1,
                                r.len()
                            )));
                        }
                        parse_posting(&rec)
                            .map_err(|p| AdapterError::Other(format!("MX record {}: {p:?}", i + 1)))
                    })
                    .collect();
                match (je, history) {
                    (Ok(je), Ok(h)) => {
                        self.master.credit_in(&case, &grzh, je, &h).await.map(|()| {
                            out.push(("GRZH", grzh.clone()));
                            out.push(("JE", fixed_money(je).unwrap_or_default()));
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
        };
        let (code, msg) = match result {
            Ok(()) => (jg::OK, "OK".to_string()),
            Err(AdapterError::Unavailable(e)) => {
                tracing::warn!(case, error = %e, "batch core master data unavailable; instruction deferred");
                return None;
            }
            Err(AdapterError::NotFound(m)) if m.starts_with("reservation") => {
                (jg::NO_RESERVATION, m)
            }
            Err(AdapterError::NotFound(m)) => (jg::NO_ACCOUNT, m),
            Err(AdapterError::Conflict(m)) => (jg::CONFLICT, m),
            Err(e @ (AdapterError::BadRecord { .. } | AdapterError::UnknownCode { .. })) => {
                (jg::BAD_DATA, e.to_string())
            }
            Err(AdapterError::Other(m)) => (jg::OTHER, m),
        };
        out.push(("JG", code.into()));
        out.push(("XX", msg));
        Some(out)
    }

    /// Export the master data: remove control.txt, write the three data files (each atomically),
    /// then write control.txt with their counts and checksums. Returns the export's sequence
    /// number.
    pub async fn export(&self) -> Result<u64, AdapterError> {
        let lock = export_lock(&self.root);
        let _guard = lock.lock().await;
        let dir = self.root.join("export");
        let io = |what: &str, e: std::io::Error| {
            AdapterError::Unavailable(format!("{}/{what}: {e}", dir.display()))
        };
        let prev_seq = tokio::fs::read(dir.join(CONTROL_FILE))
            .await
            .ok()
            .and_then(|c| parse_control(&c).ok())
            .map(|c| c.seq);
        let seq = match prev_seq {
            Some(s) => s + 1,
            None => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(1),
        };
        match tokio::fs::remove_file(dir.join(CONTROL_FILE)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(CONTROL_FILE, e)),
        }
        let pool = self.master.pool();
        let mut entries = Vec::new();

        let mut w = ExportWriter::create(&dir, MEMBERS_FILE)
            .await
            .map_err(|e| io(MEMBERS_FILE, e))?;
        let mut rows = sqlx::query(
            "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh ORDER BY g.grzh",
        )
        .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let s = |c: &str| {
                row.try_get::<Option<String>, _>(c)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let n = |c: &str| row.try_get::<Option<i64>, _>(c).ok().flatten().unwrap_or(0);
            let r = w.record();
            put_text(r, &s("grzh"), 20);
            put_text(r, &s("xingming"), 60);
            put_text(r, &s("zjlx"), 2);
            put_text(r, &s("zjhm"), 20);
            put_text(r, &s("xingbie"), 1);
            put_date_text(r, Some(&s("csrq")));
            put_text(r, &s("sjhm"), 15);
            put_text(r, &s("dwzh"), 20);
            put_text(r, &s("dwmc"), 120);
            put_text(r, &s("tyshxydm"), 18);
            put_num(r, n("dwjcbl"), 5);
            put_num(r, n("grjcbl"), 5);
            for c in [
                "grjcjs",
                "gryjce",
                "dwyjce",
                "grzhye",
                "grzhsnjzye",
                "grzhdngjye",
            ] {
                put_money_text(r, &s(c));
            }
            put_text(r, &s("grzhzt"), 2);
            put_date_text(r, Some(&s("khrq")));
            put_date_text(r, Some(&s("xhrq")));
            put_text(r, &s("xhyy"), 2);
            put_text(r, &s("jzny"), 6);
            w.end_record().await.map_err(|e| io(MEMBERS_FILE, e))?;
        }
        drop(rows);
        entries.push((
            MEMBERS_FILE,
            w.finish().await.map_err(|e| io(MEMBERS_FILE, e))?,
        ));

        let mut w = ExportWriter::create(&dir, POSTINGS_FILE)
            .await
            .map_err(|e| io(POSTINGS_FILE, e))?;
        let mut rows = sqlx::query(
            "SELECT grzh, rq, ywlx, fse, lx, hjny FROM grmx ORDER BY grzh, hjny, rq, rowid",
        )
        .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let s = |c: &str| {
                row.try_get::<Option<String>, _>(c)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let r = w.record();
            put_text(r, &s("grzh"), 20);
            put_date_text(r, Some(&s("rq")));
            put_text(r, &s("ywlx"), 2);
            put_money_text(r, &s("fse"));
            put_money_text(r, &s("lx"));
            put_text(r, &s("hjny"), 6);
            w.end_record().await.map_err(|e| io(POSTINGS_FILE, e))?;
        }
        drop(rows);
        entries.push((
            POSTINGS_FILE,
            w.finish().await.map_err(|e| io(POSTINGS_FILE, e))?,
        ));

        let mut w = ExportWriter::create(&dir, LOANS_FILE)
            .await
            .map_err(|e| io(LOANS_FILE, e))?;
        let mut rows = sqlx::query("SELECT * FROM dkxx ORDER BY jkhtbh").fetch(pool);
        while let Some(row) = rows.try_next().await? {
            let s = |c: &str| {
                row.try_get::<Option<String>, _>(c)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let r = w.record();
            put_text(r, &s("jkhtbh"), 30);
            put_text(r, &s("dkzh"), 30);
            put_text(r, &s("jkr_zjlx"), 2);
            put_text(r, &s("jkr_zjhm"), 20);
            put_text(r, &s("gjr_zjlx"), 2);
            put_text(r, &s("gjr_zjhm"), 20);
            put_money_text(r, &s("htdkje"));
            put_date_text(r, Some(&s("dkffrq")));
            put_money_text(r, &s("dkye"));
            put_money_text(r, &s("yqbjze"));
            put_num(
                r,
                row.try_get::<Option<i64>, _>("ljyqqs")
                    .ok()
                    .flatten()
                    .unwrap_or(0),
                4,
            );
            put_date_text(r, Some(&s("dkjqrq")));
            put_text(r, &s("dkzt"), 1);
            w.end_record().await.map_err(|e| io(LOANS_FILE, e))?;
        }
        drop(rows);
        entries.push((LOANS_FILE, w.finish().await.map_err(|e| io(LOANS_FILE, e))?));

        let time = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        let control = render_control(seq, &time, &entries);
        let d = dir.clone();
        blocking(move || write_atomic(&d, CONTROL_FILE, control.as_bytes()))
            .await?
            .map_err(|e| io(CONTROL_FILE, e))?;
        Ok(seq)
    }
}

/// Re-seal the export at `root` as the core's export step does last: write control.txt from the
/// data files as they are now. (Tests use it to play a core that exported a bad record itself.)
pub async fn seal_export(root: &Path) -> Result<(), AdapterError> {
    let dir = root.join("export");
    let lock = export_lock(root);
    let _guard = lock.lock().await;
    blocking(move || -> std::io::Result<()> {
        let prev = std::fs::read(dir.join(CONTROL_FILE))
            .ok()
            .and_then(|c| parse_control(&c).ok())
            .map_or(0, |c| c.seq);
        let mut entries = Vec::new();
        for f in DATA_FILES {
            let data = std::fs::read(dir.join(f))?;
            entries.push((f, entry_of(&data)));
        }
        let time = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        write_atomic(
            &dir,
            CONTROL_FILE,
            render_control(prev + 1, &time, &entries).as_bytes(),
        )
    })
    .await?
    .map_err(|e| AdapterError::Unavailable(format!("{}: {e}", root.display())))
}

/// Streams one export file to a temporary name, hashing as it goes, and renames it into place.
struct ExportWriter {
    dir: PathBuf,
    name: &'static str,
    tmp: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: Sha256,
    line: Vec<u8>,
    records: usize,
    bytes: u64,
}

impl ExportWriter {
    async fn create(dir: &Path, name: &'static str) -> std::io::Result<Self> {
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            tmp,
            file: tokio::io::BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            line: Vec::with_capacity(512),
            records: 0,
            bytes: 0,
        })
    }
    fn record(&mut self) -> &mut Vec<u8> {
        self.line.clear();
        &mut self.line
    }
    async fn end_record(&mut self) -> std::io::Result<()> {
        self.line.push(b'\n');
        self.hasher.update(&self.line);
        self.file.write_all(&self.line).await?;
        self.records += 1;
        self.bytes += self.line.len() as u64;
        Ok(())
    }
    async fn finish(mut self) -> std::io::Result<ControlEntry> {
        self.file.flush().await?;
        self.file.get_ref().sync_all().await?;
        tokio::fs::rename(&self.tmp, self.dir.join(self.name)).await?;
        Ok(ControlEntry {
            records: self.records,
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_documented_widths() {
        assert_eq!(record_width(MEMBER_LAYOUT), 416);
        assert_eq!(record_width(POSTING_LAYOUT), 68);
        assert_eq!(record_width(LOAN_LAYOUT), 173);
        assert_eq!(field_range(MEMBER_LAYOUT, "XINGMING"), Some(20..80));
    }

    #[test]
    fn text_pads_by_gb18030_bytes_and_never_splits_a_character() {
        let mut out = Vec::new();
        assert!(!put_text(&mut out, "张三", 6));
        assert_eq!(out, [0xd5, 0xc5, 0xc8, 0xfd, b' ', b' ']);
        let mut out = Vec::new();
        assert!(put_text(&mut out, "张三丰", 5));
        assert_eq!(out.len(), 5);
        assert_eq!(&out[4..], b" ");
        let rec = Rec {
            bytes: &out,
            layout: &[("X", 5)],
        };
        assert_eq!(rec.text("X").ok().as_deref(), Some("张三"));
    }

    #[test]
    fn money_is_fixed_width_signed_yuan() {
        assert_eq!(fixed_money(123_456).as_deref(), Some("+000000001234.56"));
        assert_eq!(fixed_money(-5).as_deref(), Some("-000000000000.05"));
        let mut out = Vec::new();
        put_money(&mut out, -123_456);
        let rec = Rec {
            bytes: &out,
            layout: &[("M", 16)],
        };
        assert_eq!(rec.money("M").ok(), Some(-123_456));
        let rec = Rec {
            bytes: b"+00000000123.456",
            layout: &[("M", 16)],
        };
        assert!(rec.money("M").is_err());
    }

    #[test]
    fn case_stems_are_distinct_and_safe() {
        assert_eq!(case_stem("case-a").ok().as_deref(), Some("case-a"));
        assert_eq!(case_stem("a.b/c_d").ok().as_deref(), Some("a_2Eb_2Fc_5Fd"));
        assert!(case_stem("").is_err());
        assert!(case_stem(&"x".repeat(65)).is_err());
    }

    #[test]
    fn control_round_trips_and_rejects_truncation() {
        let e = entry_of(b"abc\n");
        let text = render_control(
            7,
            "20261015010203",
            &[
                (MEMBERS_FILE, e.clone()),
                (POSTINGS_FILE, e.clone()),
                (LOANS_FILE, e),
            ],
        );
        let c = parse_control(text.as_bytes()).unwrap();
        assert_eq!(c.seq, 7);
        assert_eq!(c.files[MEMBERS_FILE].records, 1);
        assert!(parse_control(&text.as_bytes()[..text.len() - 4]).is_err());
    }

    #[test]
    fn lines_count_a_truncated_last_record() {
        assert_eq!(count_records(b""), 0);
        assert_eq!(count_records(b"a\nb\n"), 2);
        assert_eq!(count_records(b"a\nb"), 2);
        assert_eq!(
            lines(b"a\r\nbb\n")
                .map(|(n, l)| (n, l.len()))
                .collect::<Vec<_>>(),
            vec![(1, 1), (2, 2)]
        );
    }
}
