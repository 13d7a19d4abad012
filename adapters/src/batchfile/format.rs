//! The batch core's file formats, shared by both sides of the exchange folder (the adapter here,
//! the core's batch run in hfx-standins): fixed-width export records in GB18030, the control
//! file, and the `KEY|value` instruction / result files.

use crate::AdapterError;
use crate::model::{
    AccountStatus, Deposit, Employer, IdType, Loan, LoanRecord, LoanRole, LoanStatus, Member, Sex,
    YearMonth, business_type,
};
use crate::money::parse_yuan;
use chrono::NaiveDate;
use encoding_rs::GB18030;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

pub const MEMBERS_FILE: &str = "members.dat";
pub const POSTINGS_FILE: &str = "postings.dat";
pub const LOANS_FILE: &str = "loans.dat";
pub const CONTROL_FILE: &str = "control.txt";
pub const DATA_FILES: [&str; 3] = [MEMBERS_FILE, POSTINGS_FILE, LOANS_FILE];

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

pub const MONEY_WIDTH: usize = 16;
/// Longest case id the file protocol takes (file names stay short).
pub const MAX_CASE_ID: usize = 64;

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
pub fn put_text(out: &mut Vec<u8>, value: &str, width: usize) -> bool {
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
pub fn put_num(out: &mut Vec<u8>, v: i64, width: usize) {
    let s = format!("{v:0width$}");
    if s.len() == width {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.resize(out.len() + width, b'*');
    }
}

/// `+000000001234.56`: sign, 12 integer digits, point, 2 decimals.
pub fn fixed_money(fen: i64) -> Option<String> {
    let sign = if fen < 0 { '-' } else { '+' };
    let a = fen.unsigned_abs();
    let s = format!("{sign}{:012}.{:02}", a / 100, a % 100);
    (s.len() == MONEY_WIDTH).then_some(s)
}

pub fn put_money(out: &mut Vec<u8>, fen: i64) {
    match fixed_money(fen) {
        Some(s) => out.extend_from_slice(s.as_bytes()),
        None => out.resize(out.len() + MONEY_WIDTH, b'*'),
    }
}

/// Money as the master holds it (TEXT yuan); what does not parse is written as found, so the
/// export shows the core's bad data instead of hiding it.
pub fn put_money_text(out: &mut Vec<u8>, yuan: &str) {
    match parse_yuan(yuan) {
        Some(fen) => put_money(out, fen),
        None => {
            put_text(out, yuan, MONEY_WIDTH);
        }
    }
}

/// A master date `YYYY-MM-DD` (or absent) as `YYYYMMDD` (or blank).
pub fn put_date_text(out: &mut Vec<u8>, date: Option<&str>) {
    let s: String = date.unwrap_or("").chars().filter(|c| *c != '-').collect();
    put_text(out, &s, 8);
}

// ---------------------------------------------------------------------------------------------
// Decoding records
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub enum Problem {
    Bad(String),
    Unknown { table: &'static str, code: String },
}

/// A record of the export that could not be read. It names the file and line (1-based) and, when
/// that much could be read, the record's key (account or contract number).
#[derive(Debug, Clone)]
pub struct BadExportRecord {
    /// `members.dat`, or `delta-<seq>/members.dat` for a record of a delta export.
    pub file: std::borrow::Cow<'static, str>,
    pub line: usize,
    pub key: Option<String>,
    pub problem: Problem,
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
pub struct Rec<'a> {
    pub bytes: &'a [u8],
    pub layout: Layout,
}

impl<'a> Rec<'a> {
    pub fn raw(&self, name: &str) -> &'a [u8] {
        field_range(self.layout, name)
            .and_then(|r| self.bytes.get(r))
            .unwrap_or(&[])
    }
    /// An ASCII field, trailing spaces trimmed.
    pub fn ascii(&self, name: &str) -> Result<&'a str, Problem> {
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
    pub fn text(&self, name: &str) -> Result<String, Problem> {
        let raw = self.raw(name);
        match GB18030.decode_without_bom_handling_and_without_replacement(raw) {
            Some(s) => Ok(s.trim_end().to_string()),
            None => Err(Problem::Bad(format!(
                "{name} is not valid GB18030 (bytes {})",
                hex::encode(raw)
            ))),
        }
    }
    pub fn money(&self, name: &str) -> Result<i64, Problem> {
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
    pub fn date(&self, name: &str) -> Result<NaiveDate, Problem> {
        let s = self.ascii(name)?;
        (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| NaiveDate::parse_from_str(s, "%Y%m%d").ok())
            .flatten()
            .ok_or_else(|| Problem::Bad(format!("{name} {s:?} is not a real date")))
    }
    pub fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, Problem> {
        if self.ascii(name)?.is_empty() {
            Ok(None)
        } else {
            self.date(name).map(Some)
        }
    }
    pub fn month(&self, name: &str) -> Result<YearMonth, Problem> {
        let s = self.ascii(name)?;
        (s.len() == 6)
            .then(|| s.parse::<u32>().ok().and_then(YearMonth::from_yyyymm))
            .flatten()
            .ok_or_else(|| Problem::Bad(format!("{name} {s:?} is not a YYYYMM month")))
    }
    pub fn num(&self, name: &str) -> Result<u32, Problem> {
        let s = self.ascii(name)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::Bad(format!("{name} {s:?} is not a number")));
        }
        s.parse()
            .map_err(|_| Problem::Bad(format!("{name} {s:?} is out of range")))
    }
}

// Code tables of the batch core.
pub fn id_type_of(code: &str) -> Result<IdType, Problem> {
    IdType::from_code(code).ok_or_else(|| Problem::Unknown {
        table: "证件类型 ZJLX",
        code: code.into(),
    })
}
pub fn status_of(code: &str) -> Result<AccountStatus, Problem> {
    AccountStatus::from_code(code).ok_or_else(|| Problem::Unknown {
        table: "个人账户状态 GRZHZT",
        code: code.into(),
    })
}
pub fn sex_of(code: &str) -> Result<Sex, Problem> {
    match code {
        "1" => Ok(Sex::Male),
        "2" => Ok(Sex::Female),
        other => Err(Problem::Unknown {
            table: "性别 XINGBIE",
            code: other.into(),
        }),
    }
}
pub fn loan_status_of(code: &str) -> Result<LoanStatus, Problem> {
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
pub fn business_type_of(code: &str) -> Result<String, Problem> {
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
pub fn person_key(zjlx: &str, zjhm: &str) -> (String, String) {
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

pub fn parse_member(r: &Rec<'_>) -> Result<Member, Problem> {
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

pub fn parse_posting(r: &Rec<'_>) -> Result<Deposit, Problem> {
    Ok(Deposit {
        date: r.date("RQ")?,
        business_type: business_type_of(r.ascii("YWLX")?)?,
        amount_fen: r.money("FSE")?,
        interest_fen: r.money("LX")?,
        for_month: r.month("HJNY")?,
    })
}

pub fn parse_loan(r: &Rec<'_>) -> Result<LoanRecord, Problem> {
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
pub fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let empty = data.is_empty();
    body.split(|b| *b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

pub fn count_records(data: &[u8]) -> usize {
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
pub fn shaped<'a>(
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
            file: file.into(),
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
pub struct ControlEntry {
    pub records: usize,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Control {
    /// The sequence number of the export as a whole: the base's, or the last delta's.
    pub seq: u64,
    pub time: String,
    /// The base (full) export's files.
    pub files: HashMap<String, ControlEntry>,
    /// Delta exports on top of the base, oldest first (`DELTA|` lines).
    pub deltas: Vec<DeltaControl>,
}

/// One delta export: `export/delta-<seq>/` holding the three data files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaControl {
    pub seq: u64,
    pub files: HashMap<String, ControlEntry>,
}

impl DeltaControl {
    /// The delta's folder under `export/`.
    pub fn dir(&self) -> String {
        delta_dir(self.seq)
    }
}

/// `delta-<seq>`: the folder of delta export `seq` under `export/`.
pub fn delta_dir(seq: u64) -> String {
    format!("delta-{seq}")
}

pub const CONTROL_HEADER: &str = "HFXCTL|1";

pub fn render_control(seq: u64, time: &str, files: &[(&str, ControlEntry)]) -> String {
    render_control_with_deltas(seq, time, files, &[])
}

/// A control file naming the base files and, after them, each delta's files.
pub fn render_control_with_deltas(
    seq: u64,
    time: &str,
    files: &[(&str, ControlEntry)],
    deltas: &[DeltaControl],
) -> String {
    let mut s = format!("{CONTROL_HEADER}\nSEQ|{seq}\nTIME|{time}\n");
    for (name, e) in files {
        s.push_str(&format!(
            "FILE|{name}|{}|{}|{}\n",
            e.records, e.bytes, e.sha256
        ));
    }
    for d in deltas {
        for name in DATA_FILES {
            if let Some(e) = d.files.get(name) {
                s.push_str(&format!(
                    "DELTA|{}|{name}|{}|{}|{}\n",
                    d.seq, e.records, e.bytes, e.sha256
                ));
            }
        }
    }
    s.push_str("END\n");
    s
}

fn control_entry(n: usize, records: &str, bytes: &str, sha: &str) -> Result<ControlEntry, String> {
    let records = records
        .parse()
        .map_err(|_| format!("control.txt line {n}: record count {records:?} is not a number"))?;
    let bytes = bytes
        .parse()
        .map_err(|_| format!("control.txt line {n}: byte size {bytes:?} is not a number"))?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("control.txt line {n}: {sha:?} is not a SHA-256"));
    }
    Ok(ControlEntry {
        records,
        bytes,
        sha256: sha.to_ascii_lowercase(),
    })
}

pub fn parse_control(text: &[u8]) -> Result<Control, String> {
    let text = std::str::from_utf8(text).map_err(|_| "control.txt is not ASCII".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(CONTROL_HEADER) {
        return Err(format!("control.txt does not start with {CONTROL_HEADER}"));
    }
    let (mut seq, mut time, mut files, mut ended) = (None, String::new(), HashMap::new(), false);
    let mut deltas: Vec<DeltaControl> = Vec::new();
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
                files.insert(name.to_string(), control_entry(n, records, bytes, sha)?);
            }
            ["DELTA", dseq, name, records, bytes, sha] => {
                let dseq = dseq.parse::<u64>().map_err(|_| {
                    format!("control.txt line {n}: delta SEQ {dseq:?} is not a number")
                })?;
                if !DATA_FILES.contains(name) {
                    return Err(format!("control.txt line {n}: unknown delta file {name:?}"));
                }
                let entry = control_entry(n, records, bytes, sha)?;
                match deltas.last_mut() {
                    Some(d) if d.seq == dseq => {
                        d.files.insert(name.to_string(), entry);
                    }
                    Some(d) if d.seq > dseq => {
                        return Err(format!(
                            "control.txt line {n}: delta {dseq} listed after delta {}",
                            d.seq
                        ));
                    }
                    _ => deltas.push(DeltaControl {
                        seq: dseq,
                        files: HashMap::from([(name.to_string(), entry)]),
                    }),
                }
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
        if let Some(d) = deltas.iter().find(|d| !d.files.contains_key(f)) {
            return Err(format!("control.txt does not list {f} of delta {}", d.seq));
        }
    }
    if let Some(d) = deltas.last()
        && d.seq > seq
    {
        return Err(format!("control.txt: delta {} is past SEQ {seq}", d.seq));
    }
    Ok(Control {
        seq,
        time,
        files,
        deltas,
    })
}

pub fn entry_of(data: &[u8]) -> ControlEntry {
    ControlEntry {
        records: count_records(data),
        bytes: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

// ---------------------------------------------------------------------------------------------
// Request / result files
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Reserve,
    Release,
    Close,
    Credit,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Reserve => "RESERVE",
            Op::Release => "RELEASE",
            Op::Close => "CLOSE",
            Op::Credit => "CREDIT",
        }
    }
    pub fn suffix(self) -> &'static str {
        match self {
            Op::Reserve => "reserve",
            Op::Release => "release",
            Op::Close => "close",
            Op::Credit => "credit",
        }
    }
    pub fn from_code(s: &str) -> Option<Self> {
        [Op::Reserve, Op::Release, Op::Close, Op::Credit]
            .into_iter()
            .find(|o| o.code() == s)
    }
}

/// Result codes (JG) of the batch core.
pub mod jg {
    pub const OK: &str = "0000";
    pub const NO_ACCOUNT: &str = "1001";
    pub const NO_RESERVATION: &str = "1002";
    pub const CONFLICT: &str = "2001";
    pub const BAD_DATA: &str = "3001";
    /// A hold record in the master data is in a state nobody knows (fields `YLAJBH`: the hold's
    /// case, `ZT`: its state).
    pub const UNKNOWN_HOLD_STATE: &str = "3002";
    pub const MALFORMED: &str = "8001";
    pub const OTHER: &str = "9999";
}

pub const REQ_HEADER: &str = "HFXREQ|1";
pub const RES_HEADER: &str = "HFXRES|1";

/// File stem for a case id: `[A-Za-z0-9-]` kept, every other byte as `_XX` (so distinct case ids
/// give distinct names and no name holds a dot or a slash).
pub fn case_stem(case_id: &str) -> Result<String, AdapterError> {
    if case_id.is_empty() || case_id.len() > MAX_CASE_ID || case_id.chars().any(char::is_control) {
        return Err(AdapterError::other(format!(
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
pub struct KvFile {
    pub fields: HashMap<String, String>,
    pub records: Vec<Vec<u8>>,
}

pub fn render_kv(header: &str, fields: &[(&str, String)], records: &[Vec<u8>]) -> Vec<u8> {
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

pub fn parse_kv(header: &str, data: &[u8]) -> Result<KvFile, String> {
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
    pub fn get(&self, k: &str) -> Result<&str, String> {
        self.fields
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("has no {k}"))
    }
}

pub fn posting_record(account_no: &str, d: &Deposit) -> Vec<u8> {
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
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
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

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AdapterError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AdapterError::other_from("file task failed", e))
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
    fn control_lists_deltas_in_order_each_with_every_file() {
        let e = entry_of(b"abc\n");
        let base = [
            (MEMBERS_FILE, e.clone()),
            (POSTINGS_FILE, e.clone()),
            (LOANS_FILE, e.clone()),
        ];
        let delta = |seq| DeltaControl {
            seq,
            files: DATA_FILES
                .iter()
                .map(|f| (f.to_string(), e.clone()))
                .collect(),
        };
        let text = render_control_with_deltas(9, "t", &base, &[delta(8), delta(9)]);
        let c = parse_control(text.as_bytes()).unwrap();
        assert_eq!((c.seq, c.deltas), (9, vec![delta(8), delta(9)]));
        let without = |needle: &str| -> String {
            text.lines()
                .filter(|l| !l.starts_with(needle))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let e = parse_control(without("DELTA|8|loans.dat").as_bytes()).unwrap_err();
        assert!(e.contains("loans.dat of delta 8"), "{e}");
        assert!(parse_control(text.replace("SEQ|9", "SEQ|8").as_bytes()).is_err());
        let swapped = text
            .replace("DELTA|8|", "DELTA|X|")
            .replace("DELTA|9|", "DELTA|8|");
        assert!(parse_control(swapped.replace("DELTA|X|", "DELTA|9|").as_bytes()).is_err());
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
