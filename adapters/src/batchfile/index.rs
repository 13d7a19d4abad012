//! The adapter's on-disk index of a base export (`index/export.idx`, see the module docs): sorted
//! `(key hash → byte offset, length, line)` entries, searched with `pread`, so the adapter's
//! memory does not grow with the number of members.

use super::format::*;
use crate::model::LoanRole;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub const INDEX_DIR: &str = "index";
pub const INDEX_FILE: &str = "export.idx";
const MAGIC: &[u8; 8] = b"HFXBIDX1";
const VERSION: u32 = 1;
const HEADER: usize = 512;
const FILES_AT: usize = 24;
const FILE_SLOT: usize = 64;
const SECTIONS_AT: usize = FILES_AT + 3 * FILE_SLOT;
const CHECKSUM_AT: usize = SECTIONS_AT + SECTIONS * 16;
const ENTRY: usize = 24;
/// In a [`Section::LoanPerson`] entry's length: the person is the co-borrower.
const CO_BORROWER: u32 = 1 << 31;
/// How often a long build logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The index's sections, each sorted by `(key, line)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// members.dat records by person (id type code, id number).
    Person = 0,
    /// members.dat records by account number (GRZH).
    Account = 1,
    /// Runs of consecutive postings.dat records of one account, by account number.
    PostingRuns = 2,
    /// loans.dat records by borrower and co-borrower.
    LoanPerson = 3,
    /// loans.dat records by contract number.
    LoanContract = 4,
    /// Records that do not decode; the key is the file (0 members, 1 postings, 2 loans).
    Bad = 5,
}
const SECTIONS: usize = 6;

/// One index entry: a key hash and where the record (or run of records) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub key: u64,
    pub offset: u64,
    pub len: u32,
    /// 1-based line of the (first) record.
    pub line: u32,
}

impl Entry {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.line.to_le_bytes());
    }
    fn read(b: &[u8]) -> Self {
        Entry {
            key: u64_at(b, 0),
            offset: u64_at(b, 8),
            len: u32_at(b, 16),
            line: u32_at(b, 20),
        }
    }
    /// A loan entry's byte length and the person's role.
    pub fn loan_role(&self) -> (u32, LoanRole) {
        if self.len & CO_BORROWER != 0 {
            (self.len & !CO_BORROWER, LoanRole::CoBorrower)
        } else {
            (self.len, LoanRole::Borrower)
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// FNV-1a, 64 bits: stable across builds and platforms (the index is persisted).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

pub fn person_hash(key: &(String, String)) -> u64 {
    fnv(&[key.0.as_bytes(), key.1.as_bytes()])
}
pub fn text_hash(s: &str) -> u64 {
    fnv(&[s.as_bytes()])
}

/// A data file's size and modification time: the index is reused only for the very files it was
/// built from (their checksums are not recomputed then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub len: u64,
    pub mtime: Option<(i64, u32)>,
}

impl FileMeta {
    pub fn of(m: &std::fs::Metadata) -> Self {
        let mtime = m.modified().ok().and_then(|t| {
            t.duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| (d.as_secs() as i64, d.subsec_nanos()))
        });
        FileMeta {
            len: m.len(),
            mtime,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding one record (shared by the index build, lookups and deltas)
// ---------------------------------------------------------------------------------------------

pub type FileName = Cow<'static, str>;

pub struct MemberSlot {
    pub grzh: Option<String>,
    pub person: Option<(String, String)>,
    pub res: Result<crate::model::Member, BadExportRecord>,
}

pub fn decode_member(file: &FileName, line: usize, bytes: &[u8]) -> MemberSlot {
    match shaped(MEMBERS_FILE, line, bytes, MEMBER_LAYOUT, "GRZH") {
        Ok(r) => {
            let grzh = r.ascii("GRZH").ok().map(str::to_string);
            let person = match (r.ascii("ZJLX"), r.ascii("ZJHM")) {
                (Ok(t), Ok(n)) => Some(person_key(t, n)),
                _ => None,
            };
            let res = parse_member(&r).map_err(|problem| BadExportRecord {
                file: file.clone(),
                line,
                key: grzh.as_ref().map(|k| format!("account {k}")),
                problem,
            });
            MemberSlot { grzh, person, res }
        }
        Err(mut b) => {
            b.file = file.clone();
            MemberSlot {
                grzh: None,
                person: None,
                res: Err(b),
            }
        }
    }
}

pub struct PostingSlot {
    /// `None` when the record's shape is wrong (it belongs to no account).
    pub acct: Option<String>,
    pub res: Result<crate::model::Deposit, (Option<crate::model::YearMonth>, BadExportRecord)>,
}

pub fn decode_posting(file: &FileName, line: usize, bytes: &[u8]) -> PostingSlot {
    match shaped(POSTINGS_FILE, line, bytes, POSTING_LAYOUT, "GRZH") {
        Ok(r) => {
            let acct = r.ascii("GRZH").ok().map(str::to_string);
            let res = parse_posting(&r).map_err(|problem| {
                let b = BadExportRecord {
                    file: file.clone(),
                    line,
                    key: acct.as_ref().map(|a| format!("account {a}")),
                    problem,
                };
                (r.month("HJNY").ok(), b)
            });
            PostingSlot { acct, res }
        }
        Err(mut b) => {
            b.file = file.clone();
            PostingSlot {
                acct: None,
                res: Err((None, b)),
            }
        }
    }
}

pub struct LoanSlot {
    pub contract: Option<String>,
    pub persons: Vec<((String, String), LoanRole)>,
    pub res: Result<crate::model::LoanRecord, BadExportRecord>,
}

pub fn decode_loan(file: &FileName, line: usize, bytes: &[u8]) -> LoanSlot {
    match shaped(LOANS_FILE, line, bytes, LOAN_LAYOUT, "JKHTBH") {
        Ok(r) => {
            let contract = r.ascii("JKHTBH").ok().map(str::to_string);
            let mut persons = Vec::new();
            for (t, n, role) in [
                ("JKRZJLX", "JKRZJHM", LoanRole::Borrower),
                ("GJRZJLX", "GJRZJHM", LoanRole::CoBorrower),
            ] {
                if let (Ok(t), Ok(n)) = (r.ascii(t), r.ascii(n))
                    && !t.is_empty()
                {
                    persons.push((person_key(t, n), role));
                }
            }
            let res = parse_loan(&r).map_err(|problem| BadExportRecord {
                file: file.clone(),
                line,
                key: contract.as_ref().map(|k| format!("contract {k}")),
                problem,
            });
            LoanSlot {
                contract,
                persons,
                res,
            }
        }
        Err(mut b) => {
            b.file = file.clone();
            LoanSlot {
                contract: None,
                persons: Vec::new(),
                res: Err(b),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The index file
// ---------------------------------------------------------------------------------------------

/// Why an index on disk cannot be used.
#[derive(Debug, Clone)]
pub enum Unusable {
    Missing,
    Stale(String),
    Corrupt(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => write!(f, "no index yet"),
            Unusable::Stale(w) => write!(f, "stale index ({w})"),
            Unusable::Corrupt(w) => write!(f, "corrupt index ({w})"),
        }
    }
}

/// An open index: its file and where its sections are.
pub struct Index {
    file: File,
    sections: [(u64, u64); SECTIONS],
    pub base_seq: u64,
}

fn header_bytes(
    base_seq: u64,
    entries: &[ControlEntry; 3],
    metas: &[FileMeta; 3],
    sections: &[(u64, u64); SECTIONS],
) -> Vec<u8> {
    let mut h = vec![0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&base_seq.to_le_bytes());
    for (i, (e, m)) in entries.iter().zip(metas).enumerate() {
        let at = FILES_AT + i * FILE_SLOT;
        h[at..at + 8].copy_from_slice(&(e.records as u64).to_le_bytes());
        h[at + 8..at + 16].copy_from_slice(&e.bytes.to_le_bytes());
        let sha = hex_to_32(&e.sha256);
        h[at + 16..at + 48].copy_from_slice(&sha);
        let (s, n, has) = m.mtime.map_or((0, 0, 0u32), |(s, n)| (s, n, 1));
        h[at + 48..at + 56].copy_from_slice(&s.to_le_bytes());
        h[at + 56..at + 60].copy_from_slice(&n.to_le_bytes());
        h[at + 60..at + 64].copy_from_slice(&has.to_le_bytes());
    }
    for (i, (off, count)) in sections.iter().enumerate() {
        let at = SECTIONS_AT + i * 16;
        h[at..at + 8].copy_from_slice(&off.to_le_bytes());
        h[at + 8..at + 16].copy_from_slice(&count.to_le_bytes());
    }
    h
}

fn hex_to_32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = s
            .get(2 * i..2 * i + 2)
            .and_then(|b| u8::from_str_radix(b, 16).ok())
            .unwrap_or(0);
    }
    out
}

impl Index {
    /// Open `path` if it was built for exactly these base files; otherwise say why not. The
    /// whole file is read once to check its checksum.
    pub fn open(
        path: &Path,
        entries: &[ControlEntry; 3],
        metas: &[FileMeta; 3],
    ) -> Result<Index, Unusable> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unusable::Missing),
            Err(e) => return Err(Unusable::Corrupt(format!("cannot open: {e}"))),
        };
        let corrupt = |w: String| Unusable::Corrupt(w);
        let mut h = vec![0u8; HEADER];
        file.read_exact(&mut h)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        if &h[..8] != MAGIC {
            return Err(corrupt("not an hfx export index".into()));
        }
        if u32_at(&h, 8) != VERSION {
            return Err(Unusable::Stale(format!("index version {}", u32_at(&h, 8))));
        }
        let base_seq = u64_at(&h, 16);
        let mut sections = [(0u64, 0u64); SECTIONS];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = SECTIONS_AT + i * 16;
            *s = (u64_at(&h, at), u64_at(&h, at + 8));
        }
        // The whole file hashes to the checksum in the header (computed with that field zero).
        let mut want = [0u8; 32];
        want.copy_from_slice(&h[CHECKSUM_AT..CHECKSUM_AT + 32]);
        h[CHECKSUM_AT..CHECKSUM_AT + 32].fill(0);
        if header_bytes(base_seq, entries, metas, &sections) != h {
            return Err(Unusable::Stale(
                "built for other export files than control.txt names, or they changed since".into(),
            ));
        }
        let mut hasher = Sha256::new();
        hasher.update(&h);
        let mut buf = vec![0u8; 1 << 20];
        let mut body = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| corrupt(format!("reading: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            body += n as u64;
        }
        if hasher.finalize()[..] != want[..] {
            return Err(corrupt("its checksum disagrees with its contents".into()));
        }
        let mut at = HEADER as u64;
        for (off, count) in sections {
            if off != at {
                return Err(corrupt("section table does not match the file".into()));
            }
            at += count * ENTRY as u64;
        }
        if at != HEADER as u64 + body {
            return Err(corrupt("section table does not match the file size".into()));
        }
        Ok(Index {
            file,
            sections,
            base_seq,
        })
    }

    fn entry(&self, s: Section, i: u64) -> std::io::Result<Entry> {
        let mut b = [0u8; ENTRY];
        self.file
            .read_exact_at(&mut b, self.sections[s as usize].0 + i * ENTRY as u64)?;
        Ok(Entry::read(&b))
    }

    /// The entries of `key` in section `s`, in file order: a binary search by `pread`.
    pub fn find(&self, s: Section, key: u64) -> std::io::Result<Vec<Entry>> {
        let count = self.sections[s as usize].1;
        let (mut lo, mut hi) = (0u64, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut k = [0u8; 8];
            self.file
                .read_exact_at(&mut k, self.sections[s as usize].0 + mid * ENTRY as u64)?;
            if u64::from_le_bytes(k) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < count {
            let e = self.entry(s, lo)?;
            if e.key != key {
                break;
            }
            out.push(e);
            lo += 1;
        }
        Ok(out)
    }

    /// Every entry of section `s`, in order.
    pub fn all(&self, s: Section) -> std::io::Result<Vec<Entry>> {
        let (off, count) = self.sections[s as usize];
        let mut b = vec![0u8; (count as usize) * ENTRY];
        self.file.read_exact_at(&mut b, off)?;
        Ok(b.chunks_exact(ENTRY).map(Entry::read).collect())
    }
}

/// Streams one data file line by line, hashing it, calling `each(line, offset, bytes)`.
fn scan(
    file: &File,
    name: &str,
    total: u64,
    each: impl FnMut(usize, u64, &[u8]),
) -> std::io::Result<ControlEntry> {
    scan_by(file, name, total, 1 << 20, each)
}

fn scan_by(
    file: &File,
    name: &str,
    total: u64,
    chunk: usize,
    mut each: impl FnMut(usize, u64, &[u8]),
) -> std::io::Result<ControlEntry> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; chunk];
    let mut carry: Vec<u8> = Vec::new();
    let (mut at, mut line_start, mut line, mut bytes) = (0u64, 0u64, 0usize, 0u64);
    let mut last_log = Instant::now();
    let mut reader = file;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
        let mut rest = &buf[..n];
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = (&rest[..pos], &rest[pos + 1..]);
            line += 1;
            let rec: &[u8] = if carry.is_empty() {
                head
            } else {
                carry.extend_from_slice(head);
                &carry
            };
            each(line, line_start, rec.strip_suffix(b"\r").unwrap_or(rec));
            carry.clear();
            at += (pos + 1) as u64;
            line_start = at;
            rest = tail;
        }
        at += rest.len() as u64;
        carry.extend_from_slice(rest);
        if last_log.elapsed() >= PROGRESS_EVERY {
            last_log = Instant::now();
            tracing::info!(
                file = name,
                done_mb = bytes >> 20,
                total_mb = total >> 20,
                "indexing the batch core's export"
            );
        }
    }
    if !carry.is_empty() {
        line += 1;
        each(
            line,
            line_start,
            carry.strip_suffix(b"\r").unwrap_or(&carry),
        );
    }
    Ok(ControlEntry {
        records: line,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// At most this many entries are reserved up front from the control file's counts.
fn reserve(records: usize) -> usize {
    records.min(50_000_000)
}

/// Build the index of the base files (`files`: members, postings, loans, opened by the caller),
/// verifying them against `control` as it goes. `Ok(Err(why))`: the files disagree with the
/// control file (nothing is written). The index is written to `dir/export.idx` (a temporary
/// name, fsynced, renamed).
pub fn build(
    dir: &Path,
    files: &[File; 3],
    metas: &[FileMeta; 3],
    control: &Control,
) -> std::io::Result<Result<Index, Vec<String>>> {
    let started = Instant::now();
    let want = |f: &str| control.files.get(f).cloned();
    let n = |f: &str| want(f).map_or(0, |e| e.records);
    let mut person = Vec::with_capacity(reserve(n(MEMBERS_FILE)));
    let mut account = Vec::with_capacity(reserve(n(MEMBERS_FILE)));
    let mut runs: Vec<Entry> = Vec::new();
    let mut loan_person = Vec::new();
    let mut loan_contract = Vec::new();
    let mut bad = Vec::new();
    let members_name: FileName = MEMBERS_FILE.into();
    let postings_name: FileName = POSTINGS_FILE.into();
    let loans_name: FileName = LOANS_FILE.into();
    let total = |i: usize| metas[i].len;

    let m = scan(&files[0], MEMBERS_FILE, total(0), |line, offset, bytes| {
        let e = |key| Entry {
            key,
            offset,
            len: bytes.len() as u32,
            line: line as u32,
        };
        let slot = decode_member(&members_name, line, bytes);
        if let Some(p) = &slot.person {
            person.push(e(person_hash(p)));
        }
        if let Some(g) = &slot.grzh {
            account.push(e(text_hash(g)));
        }
        if slot.res.is_err() {
            bad.push(e(0));
        }
    })?;

    // A run: consecutive records of one account (the file is grouped by account).
    let mut run: Option<(String, Entry)> = None;
    let p = scan(&files[1], POSTINGS_FILE, total(1), |line, offset, bytes| {
        let slot = decode_posting(&postings_name, line, bytes);
        if slot.res.is_err() {
            bad.push(Entry {
                key: 1,
                offset,
                len: bytes.len() as u32,
                line: line as u32,
            });
        }
        let end = offset + bytes.len() as u64;
        match (&mut run, slot.acct) {
            (Some((a, e)), Some(acct)) if *a == acct => {
                e.len = (end - e.offset) as u32;
            }
            (cur, acct) => {
                if let Some((_, e)) = cur.take() {
                    runs.push(e);
                }
                *cur = acct.map(|a| {
                    let e = Entry {
                        key: text_hash(&a),
                        offset,
                        len: bytes.len() as u32,
                        line: line as u32,
                    };
                    (a, e)
                });
            }
        }
    })?;
    if let Some((_, e)) = run.take() {
        runs.push(e);
    }

    let l = scan(&files[2], LOANS_FILE, total(2), |line, offset, bytes| {
        let len = bytes.len() as u32;
        let e = |key, len| Entry {
            key,
            offset,
            len,
            line: line as u32,
        };
        let slot = decode_loan(&loans_name, line, bytes);
        for (p, role) in &slot.persons {
            let flag = if *role == LoanRole::CoBorrower {
                CO_BORROWER
            } else {
                0
            };
            loan_person.push(e(person_hash(p), len | flag));
        }
        if let Some(c) = &slot.contract {
            loan_contract.push(e(text_hash(c), len));
        }
        if slot.res.is_err() {
            bad.push(e(2, len));
        }
    })?;
    let read = [m, p, l];

    let mut problems = Vec::new();
    for (f, got) in DATA_FILES.iter().zip(&read) {
        let Some(want) = want(f) else {
            problems.push(format!("control.txt does not list {f}"));
            continue;
        };
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
        return Ok(Err(problems));
    }

    let mut sections = [person, account, runs, loan_person, loan_contract, bad];
    for s in &mut sections {
        s.sort_unstable_by_key(|e| (e.key, e.line));
    }
    let mut table = [(0u64, 0u64); SECTIONS];
    let mut at = HEADER as u64;
    for (t, s) in table.iter_mut().zip(&sections) {
        *t = (at, s.len() as u64);
        at += (s.len() * ENTRY) as u64;
    }
    let mut header = header_bytes(control.seq, &read, metas, &table);
    let mut hasher = Sha256::new();
    hasher.update(&header);

    std::fs::create_dir_all(dir)?;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{INDEX_FILE}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let res = (|| -> std::io::Result<File> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &file);
        w.write_all(&header)?;
        let mut chunk = Vec::with_capacity(ENTRY * 4096);
        for s in &sections {
            for part in s.chunks(4096) {
                chunk.clear();
                for e in part {
                    e.write(&mut chunk);
                }
                hasher.update(&chunk);
                w.write_all(&chunk)?;
            }
        }
        w.flush()?;
        drop(w);
        let sum = hasher.finalize();
        header[CHECKSUM_AT..CHECKSUM_AT + 32].copy_from_slice(&sum);
        file.write_all_at(&header[CHECKSUM_AT..CHECKSUM_AT + 32], CHECKSUM_AT as u64)?;
        file.sync_all()?;
        std::fs::rename(&tmp, dir.join(INDEX_FILE))?;
        sync_dir(dir)?;
        Ok(file)
    })();
    let file = match res {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    tracing::info!(
        seq = control.seq,
        members = read[0].records,
        postings = read[1].records,
        loans = read[2].records,
        ms = started.elapsed().as_millis() as u64,
        "indexed the batch core's export"
    );
    Ok(Ok(Index {
        file,
        sections: table,
        base_seq: control.seq,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn hashes_are_stable() {
        // The index is persisted: the hash must never change between builds.
        assert_eq!(text_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(text_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            person_hash(&("01".into(), "2".into())),
            person_hash(&("0".into(), "12".into()))
        );
    }

    #[test]
    fn scan_gives_offsets_lines_and_the_control_entry() {
        let dir = tempfile_dir();
        let path = dir.join("f.dat");
        std::fs::write(&path, b"ab\r\ncde\nf").unwrap();
        // lines across read boundaries too
        for chunk in [1, 2, 3, 5, 1 << 20] {
            let f = File::open(&path).unwrap();
            let mut seen = Vec::new();
            let e = scan_by(&f, "f.dat", 9, chunk, |l, o, b| {
                seen.push((l, o, b.to_vec()))
            })
            .unwrap();
            assert_eq!(
                seen,
                vec![
                    (1, 0, b"ab".to_vec()),
                    (2, 4, b"cde".to_vec()),
                    (3, 8, b"f".to_vec())
                ],
                "chunk {chunk}"
            );
            assert_eq!(e, entry_of(b"ab\r\ncde\nf"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hfx-index-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
