//! The batch core's adapter: reads from the loaded export, writes through inbox / outbox files.

use super::format::*;
use super::index::{
    Entry, FileMeta, FileName, INDEX_DIR, INDEX_FILE, Index, LoanSlot, MemberSlot, PostingSlot,
    Section, Unusable, build, decode_loan, decode_member, decode_posting, person_hash, text_hash,
};
use crate::model::{Deposit, IdType, LoanRole, Member, YearMonth};
use crate::money::parse_yuan;
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufRead;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often reads look at `control.txt` for a new export.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// How often a waiting write looks for its result.
const RESULT_POLL: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// The loaded export
// ---------------------------------------------------------------------------------------------

/// What identifies one export on disk: the control file and the data files' sizes and times (the
/// base's, then each delta's).
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
    // The base files, then those of the deltas the control file names.
    let deltas = parse_control(&control)
        .map(|c| c.deltas)
        .unwrap_or_default();
    let names = DATA_FILES.iter().map(|f| f.to_string()).chain(
        deltas
            .iter()
            .flat_map(|d| DATA_FILES.iter().map(move |f| format!("{}/{f}", d.dir()))),
    );
    for f in names {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => files.push((m.len(), m.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => files.push((0, None)),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Fingerprint { control, files }))
}

/// The base export as indexed: its open data files and their index.
struct Base {
    entries: [ControlEntry; 3],
    files: [File; 3],
    index: Index,
}

const FILE_NAMES: [FileName; 3] = [
    Cow::Borrowed(MEMBERS_FILE),
    Cow::Borrowed(POSTINGS_FILE),
    Cow::Borrowed(LOANS_FILE),
];

fn read_error(file: &str, e: std::io::Error) -> AdapterError {
    AdapterError::unavailable_from(format!("reading export/{file} at an indexed offset"), e)
}

impl Base {
    /// The bytes an entry points at (in file `f`: 0 members, 1 postings, 2 loans).
    fn read(&self, f: usize, offset: u64, len: u32) -> Result<Vec<u8>, AdapterError> {
        let mut b = vec![0u8; len as usize];
        self.files[f]
            .read_exact_at(&mut b, offset)
            .map_err(|e| read_error(DATA_FILES[f], e))?;
        Ok(b)
    }

    fn find(&self, s: Section, key: u64) -> Result<Vec<Entry>, AdapterError> {
        self.index
            .find(s, key)
            .map_err(|e| AdapterError::unavailable_from("reading index/export.idx", e))
    }

    fn has_account(&self, grzh: &str) -> Result<bool, AdapterError> {
        for e in self.find(Section::Account, text_hash(grzh))? {
            let b = self.read(0, e.offset, e.len)?;
            if decode_member(&FILE_NAMES[0], e.line as usize, &b)
                .grzh
                .as_deref()
                == Some(grzh)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn has_contract(&self, contract: &str) -> Result<bool, AdapterError> {
        for e in self.find(Section::LoanContract, text_hash(contract))? {
            let b = self.read(2, e.offset, e.len)?;
            if decode_loan(&FILE_NAMES[2], e.line as usize, &b)
                .contract
                .as_deref()
                == Some(contract)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The base's postings of `acct`, in file order.
    fn postings(&self, acct: &str) -> Result<Vec<PostingSlot>, AdapterError> {
        let mut out = Vec::new();
        for e in self.find(Section::PostingRuns, text_hash(acct))? {
            let b = self.read(1, e.offset, e.len)?;
            for (i, l) in lines(&b) {
                let slot = decode_posting(&FILE_NAMES[1], e.line as usize + i - 1, l);
                if slot.acct.as_deref() == Some(acct) {
                    out.push(slot);
                }
            }
        }
        Ok(out)
    }
}

/// One record of a delta export, kept in memory (deltas are small).
#[derive(Clone)]
struct DeltaRec {
    file: FileName,
    line: usize,
    bytes: Arc<[u8]>,
}

/// The deltas applied on top of the base: records by key, the latest delta's winning.
#[derive(Clone, Default)]
struct Overlay {
    deltas: Vec<DeltaControl>,
    /// Member records by account number (they replace the base's of that account).
    members: HashMap<String, DeltaRec>,
    by_person: HashMap<(String, String), Vec<String>>,
    /// The complete posting list of each account a delta touched.
    postings: HashMap<String, Vec<DeltaRec>>,
    /// Loan records by contract number.
    loans: HashMap<String, DeltaRec>,
    loans_by_person: HashMap<(String, String), Vec<(String, LoanRole)>>,
    /// Delta records that name no key (their shape is wrong): listed as bad, served nowhere.
    unkeyed: Vec<BadExportRecord>,
    new_members: usize,
    new_loans: usize,
    /// Base postings hidden by the accounts' lists in the deltas.
    hidden_postings: usize,
    delta_postings: usize,
}

impl Overlay {
    /// Apply one verified delta's files.
    fn apply(
        &mut self,
        base: &Base,
        d: &DeltaControl,
        data: &[Vec<u8>],
    ) -> Result<(), AdapterError> {
        let name = |f: &str| -> FileName { Cow::Owned(format!("{}/{f}", d.dir())) };
        let (mf, pf, lf) = (name(MEMBERS_FILE), name(POSTINGS_FILE), name(LOANS_FILE));
        let mut touched: HashSet<String> = HashSet::new();
        for (line, bytes) in lines(&data[0]) {
            let slot = decode_member(&mf, line, bytes);
            match (slot.grzh, slot.res) {
                (Some(g), _) => {
                    if !self.members.contains_key(&g) && !base.has_account(&g)? {
                        self.new_members += 1;
                    }
                    let rec = DeltaRec {
                        file: mf.clone(),
                        line,
                        bytes: bytes.into(),
                    };
                    self.members.insert(g.clone(), rec);
                    touched.insert(g);
                }
                (None, Err(b)) => self.unkeyed.push(b),
                (None, Ok(_)) => {}
            }
        }
        let mut lists: HashMap<String, Vec<DeltaRec>> = HashMap::new();
        for (line, bytes) in lines(&data[1]) {
            let slot = decode_posting(&pf, line, bytes);
            match (slot.acct, slot.res) {
                (Some(a), _) => lists.entry(a).or_default().push(DeltaRec {
                    file: pf.clone(),
                    line,
                    bytes: bytes.into(),
                }),
                (None, Err((_, b))) => self.unkeyed.push(b),
                (None, Ok(_)) => {}
            }
        }
        touched.extend(lists.keys().cloned());
        for acct in touched {
            let list = lists.remove(&acct).unwrap_or_default();
            match self.postings.get(&acct) {
                Some(old) => self.delta_postings -= old.len(),
                None => self.hidden_postings += base.postings(&acct)?.len(),
            }
            self.delta_postings += list.len();
            self.postings.insert(acct, list);
        }
        for (line, bytes) in lines(&data[2]) {
            let slot = decode_loan(&lf, line, bytes);
            match (slot.contract, slot.res) {
                (Some(c), _) => {
                    if !self.loans.contains_key(&c) && !base.has_contract(&c)? {
                        self.new_loans += 1;
                    }
                    let rec = DeltaRec {
                        file: lf.clone(),
                        line,
                        bytes: bytes.into(),
                    };
                    self.loans.insert(c, rec);
                }
                (None, Err(b)) => self.unkeyed.push(b),
                (None, Ok(_)) => {}
            }
        }
        self.deltas.push(d.clone());
        self.reindex();
        Ok(())
    }

    fn reindex(&mut self) {
        self.by_person.clear();
        for (g, r) in &self.members {
            if let Some(p) = decode_member(&r.file, r.line, &r.bytes).person {
                self.by_person.entry(p).or_default().push(g.clone());
            }
        }
        for v in self.by_person.values_mut() {
            v.sort_by_key(|g| (self.members[g].file.clone(), self.members[g].line));
        }
        self.loans_by_person.clear();
        for (c, r) in &self.loans {
            for (p, role) in decode_loan(&r.file, r.line, &r.bytes).persons {
                self.loans_by_person
                    .entry(p)
                    .or_default()
                    .push((c.clone(), role));
            }
        }
    }
}

/// What the adapter serves: the indexed base export with the deltas on top.
struct Export {
    fingerprint: Fingerprint,
    seq: u64,
    time: String,
    base: Arc<Base>,
    overlay: Overlay,
}

impl Export {
    fn member_count(&self) -> usize {
        self.base.entries[0].records + self.overlay.new_members
    }
    fn posting_count(&self) -> usize {
        self.base.entries[1].records + self.overlay.delta_postings - self.overlay.hidden_postings
            + self
                .overlay
                .unkeyed
                .iter()
                .filter(|b| b.file.ends_with(POSTINGS_FILE))
                .count()
    }
    fn loan_count(&self) -> usize {
        self.base.entries[2].records + self.overlay.new_loans
    }

    fn member_by_person(&self, key: &(String, String)) -> Result<Option<Member>, AdapterError> {
        let mut best: Option<Member> = None;
        let mut consider = |slot: MemberSlot| -> Result<(), AdapterError> {
            match slot.res {
                Err(b) => Err(b.to_error()),
                Ok(m) => {
                    if best
                        .as_ref()
                        .is_none_or(|b| m.status.code() < b.status.code())
                    {
                        best = Some(m);
                    }
                    Ok(())
                }
            }
        };
        for e in self.base.find(Section::Person, person_hash(key))? {
            let b = self.base.read(0, e.offset, e.len)?;
            let slot = decode_member(&FILE_NAMES[0], e.line as usize, &b);
            if slot.person.as_ref() != Some(key)
                || slot
                    .grzh
                    .as_ref()
                    .is_some_and(|g| self.overlay.members.contains_key(g))
            {
                continue;
            }
            consider(slot)?;
        }
        for g in self.overlay.by_person.get(key).into_iter().flatten() {
            let r = &self.overlay.members[g];
            consider(decode_member(&r.file, r.line, &r.bytes))?;
        }
        Ok(best)
    }

    fn postings(&self, acct: &str) -> Result<Vec<PostingSlot>, AdapterError> {
        match self.overlay.postings.get(acct) {
            Some(list) => Ok(list
                .iter()
                .map(|r| decode_posting(&r.file, r.line, &r.bytes))
                .collect()),
            None => self.base.postings(acct),
        }
    }

    fn loans_of(&self, key: &(String, String)) -> Result<Vec<PersonLoan>, AdapterError> {
        let mut out = Vec::new();
        let mut take = |slot: LoanSlot, role: LoanRole| -> Result<(), AdapterError> {
            let l = slot.res.map_err(|b| b.to_error())?;
            let mut loan = l.loan;
            loan.role = role;
            out.push(PersonLoan { role, loan });
            Ok(())
        };
        for e in self.base.find(Section::LoanPerson, person_hash(key))? {
            let (len, role) = e.loan_role();
            let b = self.base.read(2, e.offset, len)?;
            let slot = decode_loan(&FILE_NAMES[2], e.line as usize, &b);
            if !slot.persons.iter().any(|(p, r)| p == key && *r == role)
                || slot
                    .contract
                    .as_ref()
                    .is_some_and(|c| self.overlay.loans.contains_key(c))
            {
                continue;
            }
            take(slot, role)?;
        }
        for (c, role) in self.overlay.loans_by_person.get(key).into_iter().flatten() {
            let r = &self.overlay.loans[c];
            take(decode_loan(&r.file, r.line, &r.bytes), *role)?;
        }
        out.sort_by_key(|l| l.loan.issued_on);
        Ok(out)
    }

    /// Every record that does not decode: the base's (read again from the places the index
    /// lists, those a delta replaced left out) and the deltas'.
    fn bad(&self) -> Result<Vec<BadExportRecord>, AdapterError> {
        let mut out = Vec::new();
        let entries = self
            .base
            .index
            .all(Section::Bad)
            .map_err(|e| AdapterError::unavailable_from("reading index/export.idx", e))?;
        let ov = &self.overlay;
        for e in entries {
            let f = e.key as usize;
            let line = e.line as usize;
            let Some(name) = FILE_NAMES.get(f) else {
                continue;
            };
            let b = self.base.read(f, e.offset, e.len)?;
            let bad = match f {
                0 => {
                    let s = decode_member(name, line, &b);
                    let hidden = s.grzh.is_some_and(|g| ov.members.contains_key(&g));
                    s.res.err().filter(|_| !hidden)
                }
                1 => {
                    let s = decode_posting(name, line, &b);
                    let hidden = s.acct.is_some_and(|a| ov.postings.contains_key(&a));
                    s.res.err().map(|(_, b)| b).filter(|_| !hidden)
                }
                _ => {
                    let s = decode_loan(name, line, &b);
                    let hidden = s.contract.is_some_and(|c| ov.loans.contains_key(&c));
                    s.res.err().filter(|_| !hidden)
                }
            };
            out.extend(bad);
        }
        let mut delta = Vec::new();
        for r in ov.members.values() {
            delta.extend(decode_member(&r.file, r.line, &r.bytes).res.err());
        }
        for r in ov.postings.values().flatten() {
            delta.extend(
                decode_posting(&r.file, r.line, &r.bytes)
                    .res
                    .err()
                    .map(|(_, b)| b),
            );
        }
        for r in ov.loans.values() {
            delta.extend(decode_loan(&r.file, r.line, &r.bytes).res.err());
        }
        delta.extend(ov.unkeyed.iter().cloned());
        delta.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        out.extend(delta);
        Ok(out)
    }

    /// A member record that reads: the first of the base (or of the deltas).
    fn sample(&self) -> Result<Option<Member>, AdapterError> {
        let mut r = std::io::BufReader::with_capacity(1 << 16, &self.base.files[0]);
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            let n = r
                .read_until(b'\n', &mut buf)
                .map_err(|e| read_error(MEMBERS_FILE, e))?;
            if n == 0 {
                break;
            }
            line += 1;
            let l = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let s = decode_member(&FILE_NAMES[0], line, l);
            if s.grzh
                .as_ref()
                .is_some_and(|g| self.overlay.members.contains_key(g))
            {
                continue;
            }
            if let Ok(m) = s.res {
                return Ok(Some(m));
            }
        }
        Ok(self
            .overlay
            .members
            .values()
            .find_map(|r| decode_member(&r.file, r.line, &r.bytes).res.ok()))
    }
}

enum LoadError {
    /// No control file: no export yet, or the core is exporting right now.
    Missing,
    /// The files changed while being read; try again.
    Unstable,
    /// The export as a whole is not acceptable.
    Refused(Fingerprint, String),
    Io(Note),
}

fn compare(name: &str, got: &ControlEntry, want: &ControlEntry, problems: &mut Vec<String>) {
    if got.records != want.records {
        problems.push(format!(
            "{name} has {} records, control.txt says {}",
            got.records, want.records
        ));
    }
    if got.bytes != want.bytes {
        problems.push(format!(
            "{name} is {} bytes, control.txt says {}",
            got.bytes, want.bytes
        ));
    }
    if got.sha256 != want.sha256 {
        problems.push(format!(
            "{name} SHA-256 {} does not match control.txt {}",
            got.sha256, want.sha256
        ));
    }
}

/// Load the export: only the new deltas when `current` is the same base with a prefix of the
/// deltas, else the base (its index reused or rebuilt) and every delta. Returns what was done
/// with the index, when the base was (re)opened.
fn load_export(
    root: &Path,
    current: Option<Arc<Export>>,
) -> Result<(Export, Option<String>), LoadError> {
    let dir = root.join("export");
    let io = |e: std::io::Error| LoadError::Io(Note::caused_by(dir.display().to_string(), e));
    let Some(before) = fingerprint(&dir).map_err(io)? else {
        return Err(LoadError::Missing);
    };
    // A refusal stands only if the files did not change meanwhile (else: try again).
    let refuse = |msg: String| -> LoadError {
        match fingerprint(&dir) {
            Ok(Some(now)) if now == before => LoadError::Refused(before.clone(), msg),
            _ => LoadError::Unstable,
        }
    };
    let control = parse_control(&before.control).map_err(refuse)?;
    let refused = |problems: Vec<String>| {
        refuse(format!(
            "export seq {} refused: {}",
            control.seq,
            problems.join("; ")
        ))
    };
    let mut entries = Vec::with_capacity(3);
    for f in DATA_FILES {
        match control.files.get(f) {
            Some(e) => entries.push(e.clone()),
            None => return Err(refused(vec![format!("control.txt does not list {f}")])),
        }
    }
    let entries: [ControlEntry; 3] = [entries[0].clone(), entries[1].clone(), entries[2].clone()];

    if let Some(cur) = &current
        && cur.base.entries == entries
        && before.files.starts_with(&cur.fingerprint.files)
        && control.deltas.starts_with(&cur.overlay.deltas)
    {
        let mut ov = cur.overlay.clone();
        let new = &control.deltas[cur.overlay.deltas.len()..];
        apply_deltas(&dir, &cur.base, &mut ov, new, &refused)?;
        if fingerprint(&dir).map_err(io)?.as_ref() != Some(&before) {
            return Err(LoadError::Unstable);
        }
        if !new.is_empty() {
            tracing::info!(
                seq = control.seq,
                deltas = new.len(),
                "loaded the batch core's delta export"
            );
        }
        return Ok((
            Export {
                fingerprint: before,
                seq: control.seq,
                time: control.time.clone(),
                base: cur.base.clone(),
                overlay: ov,
            },
            None,
        ));
    }

    let mut problems = Vec::new();
    let mut files = Vec::with_capacity(3);
    let mut metas = Vec::with_capacity(3);
    for (f, want) in DATA_FILES.iter().zip(&entries) {
        let file = match File::open(dir.join(f)) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{f} is missing"));
                continue;
            }
            Err(e) => return Err(io(e)),
        };
        let meta = FileMeta::of(&file.metadata().map_err(io)?);
        if meta.len != want.bytes {
            problems.push(format!(
                "{f} is {} bytes, control.txt says {}",
                meta.len, want.bytes
            ));
        }
        files.push(file);
        metas.push(meta);
    }
    if !problems.is_empty() {
        return Err(refused(problems));
    }
    let (Ok(files), Ok(metas)) = (
        <[File; 3]>::try_from(files),
        <[FileMeta; 3]>::try_from(metas),
    ) else {
        return Err(refused(vec!["a data file is missing".into()]));
    };
    let idx_dir = root.join(INDEX_DIR);
    let (index, note) = match Index::open(&idx_dir.join(INDEX_FILE), &entries, &metas) {
        Ok(i) => {
            tracing::info!(
                seq = control.seq,
                base_seq = i.base_seq,
                "reusing the export index index/export.idx"
            );
            let note = format!(
                "index/export.idx reused (built for export seq {})",
                i.base_seq
            );
            (i, note)
        }
        Err(why) => {
            match &why {
                Unusable::Missing => {
                    tracing::info!(seq = control.seq, %why, "building the export index index/export.idx")
                }
                _ => {
                    tracing::warn!(seq = control.seq, %why, "rebuilding the export index index/export.idx")
                }
            }
            match build(&idx_dir, &files, &metas, &control).map_err(|e| {
                LoadError::Io(Note::caused_by(
                    format!("building {}", idx_dir.join(INDEX_FILE).display()),
                    e,
                ))
            })? {
                Ok(i) => (i, format!("index/export.idx rebuilt: {why}")),
                Err(problems) => return Err(refused(problems)),
            }
        }
    };
    let base = Arc::new(Base {
        entries,
        files,
        index,
    });
    let mut ov = Overlay::default();
    apply_deltas(&dir, &base, &mut ov, &control.deltas, &refused)?;
    if fingerprint(&dir).map_err(io)?.as_ref() != Some(&before) {
        return Err(LoadError::Unstable);
    }
    Ok((
        Export {
            fingerprint: before,
            seq: control.seq,
            time: control.time.clone(),
            base,
            overlay: ov,
        },
        Some(note),
    ))
}

/// Read, verify and apply `deltas` (only their own files are read).
fn apply_deltas(
    dir: &Path,
    base: &Base,
    ov: &mut Overlay,
    deltas: &[DeltaControl],
    refused: &dyn Fn(Vec<String>) -> LoadError,
) -> Result<(), LoadError> {
    for d in deltas {
        let mut data = Vec::with_capacity(3);
        let mut problems = Vec::new();
        for f in DATA_FILES {
            let name = format!("{}/{f}", d.dir());
            let got = match std::fs::read(dir.join(&name)) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    problems.push(format!("{name} is missing"));
                    Vec::new()
                }
                Err(e) => {
                    return Err(LoadError::Io(Note::caused_by(
                        dir.join(&name).display().to_string(),
                        e,
                    )));
                }
            };
            if let Some(want) = d.files.get(f) {
                compare(&name, &entry_of(&got), want, &mut problems);
            }
            data.push(got);
        }
        if !problems.is_empty() {
            return Err(refused(problems));
        }
        ov.apply(base, d, &data)
            .map_err(|e| LoadError::Io(Note::caused_by(format!("applying {}", d.dir()), e)))?;
    }
    Ok(())
}

/// Why no export is loaded: what was being done, and the error that stopped it (shared, as
/// every read that finds no export answers with it).
#[derive(Clone)]
struct Note {
    what: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Note {
    fn new(what: impl Into<String>) -> Self {
        Note {
            what: what.into(),
            source: None,
        }
    }

    fn caused_by(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Note {
            what: what.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The Unavailable error a read answers with, the cause kept as its source.
    fn error(&self) -> AdapterError {
        AdapterError::Unavailable {
            what: self.what.clone(),
            source: self
                .source
                .clone()
                .map(|s| -> crate::BoxError { Box::new(s) }),
        }
    }

    /// The note with its causes, for the self-test.
    fn detail(&self) -> String {
        match &self.source {
            Some(s) => format!("{}: {}", self.what, crate::chain(&**s)),
            None => self.what.clone(),
        }
    }
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
    note: Option<Note>,
    /// What the last load of a base export did with its index.
    index: Option<String>,
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
                return Err(AdapterError::unavailable(format!(
                    "adapter.path {} is not a folder",
                    r.display()
                )));
            }
            for sub in ["export", "inbox", "outbox", INDEX_DIR] {
                std::fs::create_dir_all(r.join(sub)).map_err(|e| {
                    AdapterError::unavailable_from(r.join(sub).display().to_string(), e)
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

    /// Members in the loaded export (bad records included).
    pub async fn member_count(&self) -> Result<u64, AdapterError> {
        Ok(self.export().await?.member_count() as u64)
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
    /// (Read again from the export files, at the places the index lists.)
    pub fn bad_records(&self) -> Vec<BadExportRecord> {
        let current = lock(&self.state).current.clone();
        current.and_then(|e| e.bad().ok()).unwrap_or_default()
    }

    /// What the last load of a base export did with its on-disk index (reused, or rebuilt and
    /// why), if one was loaded.
    pub fn index_note(&self) -> Option<String> {
        lock(&self.state).index.clone()
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
        // While a big export loads, reads keep being served from the last one.
        let serving = lock(&self.state).current.is_some();
        let _guard = if force || !serving {
            self.load_lock.lock().await
        } else {
            match self.load_lock.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            }
        };
        let dir = self.export_dir();
        for attempt in 0..20 {
            let d = dir.clone();
            let fp = match blocking(move || fingerprint(&d)).await {
                Ok(Ok(fp)) => fp,
                Ok(Err(e)) => {
                    lock(&self.state).note = Some(Note::caused_by(dir.display().to_string(), e));
                    return;
                }
                Err(e) => {
                    lock(&self.state).note = Some(Note::caused_by("looking for an export", e));
                    return;
                }
            };
            {
                let st = lock(&self.state);
                let Some(fp) = &fp else {
                    drop(st);
                    lock(&self.state).note = Some(Note::new(format!(
                        "no {CONTROL_FILE} in {} (no export yet, or the core is exporting)",
                        dir.display()
                    )));
                    return;
                };
                if st.current.as_ref().is_some_and(|e| &e.fingerprint == fp)
                    || st.refused.as_ref().is_some_and(|(r, _)| r == fp)
                {
                    return;
                }
            }
            let root = self.root.clone();
            let current = lock(&self.state).current.clone();
            match blocking(move || load_export(&root, current)).await {
                Ok(Ok((ex, index))) => {
                    let ex = Arc::new(ex);
                    let e = ex.clone();
                    if let Ok(Ok(bad)) = blocking(move || e.bad()).await
                        && !bad.is_empty()
                    {
                        tracing::warn!(
                            seq = ex.seq,
                            bad = bad.len(),
                            "batch core export has bad records"
                        );
                    }
                    let mut st = lock(&self.state);
                    st.current = Some(ex);
                    st.refused = None;
                    st.note = None;
                    if index.is_some() {
                        st.index = index;
                    }
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
                    lock(&self.state).note = Some(Note::caused_by("reading the export", e));
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
            (None, None, Some(note)) => Err(note.error()),
            (None, None, None) => Err(AdapterError::unavailable(format!(
                "no export loaded from {}",
                self.root.display()
            ))),
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
            // A result the core wrote after an earlier call gave up waiting (a retry after a
            // lost or late result): its export may not be loaded yet either.
            self.catch_up(&res, Instant::now() + self.timeout).await;
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
                AdapterError::unavailable_from(format!("cannot write inbox/{req_name}"), e)
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
                return Err(AdapterError::unavailable(format!(
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
            Err(e) => return Err(AdapterError::unavailable_from(format!("outbox/{name}"), e)),
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
            jg::UNKNOWN_HOLD_STATE => Err(AdapterError::UnknownHoldState {
                case_id: res
                    .fields
                    .get("YLAJBH")
                    .cloned()
                    .unwrap_or_else(|| case_id.to_string()),
                state: res.fields.get("ZT").cloned().unwrap_or_default(),
            }),
            jg::MALFORMED | jg::OTHER => Err(AdapterError::other(format!("batch core: {msg}"))),
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
        let key = (id_type.code().to_string(), id_number.to_string());
        blocking(move || ex.member_by_person(&key)).await?
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let ex = self.export().await?;
        let acct = account_no.to_string();
        let slots = blocking(move || ex.postings(&acct)).await??;
        let mut out = Vec::new();
        for slot in slots {
            match slot.res {
                Ok(d) if d.for_month >= from && d.for_month <= to => out.push(d),
                Ok(_) => {}
                Err((Some(m), _)) if m < from || m > to => {}
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
        let key = (id_type.code().to_string(), id_number.to_string());
        blocking(move || ex.loans_of(&key)).await?
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
        crate::hold::check_credit(amount_fen)?;
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
        let (current, refused, note, index) = {
            let st = lock(&self.state);
            (
                st.current.clone(),
                st.refused.clone(),
                st.note.clone(),
                st.index.clone(),
            )
        };
        let serving = current.as_ref().map(|e| {
            let deltas = match e.overlay.deltas.len() {
                0 => String::new(),
                n => format!(" (base export + {n} deltas)"),
            };
            format!(
                "export seq {} ({}){deltas}: {} members, {} postings, {} loans",
                e.seq,
                e.time,
                e.member_count(),
                e.posting_count(),
                e.loan_count()
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
                detail: note.map_or_else(|| "no export loaded".into(), |n| n.detail()),
            },
        });
        if let Some(e) = &current {
            out.push(CheckItem {
                name: "index".into(),
                ok: true,
                detail: index.unwrap_or_else(|| "index/export.idx in use".into()),
            });
            const SHOW: usize = 20;
            let ex = e.clone();
            let bad = blocking(move || ex.bad()).await.and_then(|r| r);
            out.push(match bad {
                Ok(bad) => {
                    let mut detail: Vec<String> =
                        bad.iter().take(SHOW).map(|b| b.to_string()).collect();
                    if bad.len() > SHOW {
                        detail.push(format!("… and {} more", bad.len() - SHOW));
                    }
                    CheckItem {
                        name: "records".into(),
                        ok: bad.is_empty(),
                        detail: if bad.is_empty() {
                            "every record decodes and every code is mapped".into()
                        } else {
                            format!(
                                "{} bad records (the others are served): {}",
                                bad.len(),
                                detail.join("; ")
                            )
                        },
                    }
                }
                Err(err) => CheckItem {
                    name: "records".into(),
                    ok: false,
                    detail: err.detail(),
                },
            });
            let ex = e.clone();
            let sample = blocking(move || ex.sample()).await.and_then(|r| r);
            out.push(CheckItem {
                name: "sample read".into(),
                ok: matches!(sample, Ok(Some(_))),
                detail: match sample {
                    Ok(Some(m)) => format!("account {} read and mapped", m.account_no),
                    Ok(None) if e.member_count() == 0 => crate::EMPTY_CORE.into(),
                    Ok(None) => "no member record could be read".into(),
                    Err(err) => err.detail(),
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
                detail: e.detail(),
            },
        });
        out
    }
}
