//! The batch core's adapter: reads from the loaded export, writes through inbox / outbox files.

use super::format::*;
use crate::model::{Deposit, IdType, LoanRecord, LoanRole, Member, YearMonth};
use crate::money::parse_yuan;
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use std::collections::HashMap;
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
    Io(Note),
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

fn read_export(dir: &Path) -> Result<Export, LoadError> {
    let io = |e: std::io::Error| LoadError::Io(Note::caused_by(dir.display().to_string(), e));
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
            for sub in ["export", "inbox", "outbox"] {
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
                detail: note.map_or_else(|| "no export loaded".into(), |n| n.detail()),
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
                ok: sample.is_some(),
                detail: match sample {
                    Some(m) => format!("account {} read and mapped", m.account_no),
                    None if e.members.is_empty() => crate::EMPTY_CORE.into(),
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
                detail: e.detail(),
            },
        });
        out
    }
}
