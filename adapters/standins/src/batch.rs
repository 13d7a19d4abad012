//! The legacy batch core's batch run, as a stand-in: it applies the inbox/ instructions to the
//! core's master data (`core/master.db`, a sqlite core, so the holds run the shared state
//! machine), re-exports, then writes the outbox/ results. The adapter side is
//! `hfx_adapters::batchfile`; both speak `hfx_adapters::batchfile::format`.
//!
//! Faults on command, per operation ([`BatchRunner::fail_write`]): an instruction lost before the
//! run applies it (removed unread; the adapter's wait runs out), or applied and exported but its
//! result lost (never written). A runner can be paused ([`BatchRunner::pause`]): the batch run
//! does not run in time, its instructions wait in the inbox.

use crate::model::Deposit;
use crate::money::parse_yuan;
use futures::TryStreamExt;
use hfx_adapters::batchfile::format::{
    CONTROL_FILE, Control, ControlEntry, DATA_FILES, DeltaControl, LOANS_FILE, MEMBERS_FILE, Op,
    POSTING_LAYOUT, POSTINGS_FILE, REQ_HEADER, RES_HEADER, Rec, blocking, delta_dir, entry_of,
    fixed_money, jg, parse_control, parse_kv, parse_posting, put_date_text, put_money_text,
    put_num, put_text, record_width, render_control, render_control_with_deltas, render_kv,
    sync_dir, write_atomic,
};
use hfx_adapters::faults::WriteOp;
use hfx_adapters::sqlite::SqliteCore;
use hfx_adapters::{AdapterError, CoreSystem};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

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
    /// Whether that export was a delta (only the accounts the run changed), not a full one.
    pub delta: bool,
    /// Instructions lost on command (removed unread, or applied with their result lost).
    pub lost: usize,
}

/// How an instruction fails on command ([`BatchRunner::fail_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFault {
    /// The instruction is removed from inbox/ unread: never applied, never answered.
    LoseInstruction,
    /// The instruction is applied and exported, but its result is never written to outbox/.
    LoseResult,
}

/// What the batch run did with one instruction.
enum Outcome {
    Answer(Vec<(&'static str, String)>),
    /// Left in inbox/ for the next run.
    Defer,
    /// Removed from inbox/ without a result; `applied`: its effect is in the master data.
    Lost {
        applied: bool,
    },
}

/// The stand-in for the legacy core's batch run: applies inbox/ instructions to the core's master
/// data (`core/master.db`, private to the stand-in), re-exports, then writes outbox/ results.
pub struct BatchRunner {
    root: PathBuf,
    master: SqliteCore,
    paused: AtomicBool,
    /// Armed faults, in order per operation: (fault, instructions left).
    faults: Mutex<HashMap<WriteOp, VecDeque<(BatchFault, u64)>>>,
    lost_instructions: AtomicU64,
    lost_results: AtomicU64,
}

/// A delta export once this many deltas are on top of the base is a full export instead.
pub const MAX_DELTAS: usize = 32;
/// ... and so is one once the deltas hold this many member records.
pub const MAX_DELTA_MEMBERS: usize = 20_000;

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
                    AdapterError::unavailable_from(root.join(sub).display().to_string(), e)
                })?;
        }
        let master = SqliteCore::open(&root.join("core").join("master.db")).await?;
        Ok(Self {
            root: root.to_path_buf(),
            master,
            paused: AtomicBool::new(false),
            faults: Mutex::new(HashMap::new()),
            lost_instructions: AtomicU64::new(0),
            lost_results: AtomicU64::new(0),
        })
    }

    /// The next `times` instructions of `op` (after the faults already armed for it) fail with
    /// `fault`. A lost result strikes only an instruction the master data applied; one it
    /// refuses is answered and leaves the fault armed.
    pub fn fail_write(&self, op: WriteOp, fault: BatchFault, times: u64) {
        if times == 0 {
            return;
        }
        lock(&self.faults)
            .entry(op)
            .or_default()
            .push_back((fault, times));
    }

    /// Pause (or resume) the background batch run ([`BatchRunner::spawn`]): while paused it
    /// does not run, and instructions wait in inbox/. [`BatchRunner::run_once`] still runs.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Instructions removed unread on command so far.
    pub fn lost_instructions(&self) -> u64 {
        self.lost_instructions.load(Ordering::SeqCst)
    }

    /// Instructions applied whose result was lost on command so far.
    pub fn lost_results(&self) -> u64 {
        self.lost_results.load(Ordering::SeqCst)
    }

    /// The armed fault the next instruction of `op` meets, spent, if it is `fault`.
    fn take_fault(&self, op: WriteOp, fault: BatchFault) -> bool {
        let mut all = lock(&self.faults);
        let Some(q) = all.get_mut(&op) else {
            return false;
        };
        let Some(front) = q.front_mut() else {
            return false;
        };
        if front.0 != fault {
            return false;
        }
        front.1 -= 1;
        if front.1 == 0 {
            q.pop_front();
        }
        let c = match fault {
            BatchFault::LoseInstruction => &self.lost_instructions,
            BatchFault::LoseResult => &self.lost_results,
        };
        c.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// The core's master data.
    pub fn master(&self) -> &SqliteCore {
        &self.master
    }

    /// Run `run_once` every `interval` in the background.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> RunnerTask {
        RunnerTask(tokio::spawn(async move {
            loop {
                if !self.paused.load(Ordering::SeqCst)
                    && let Err(e) = self.run_once().await
                {
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
        .map_err(|e| AdapterError::unavailable_from(inbox.display().to_string(), e))?;
        reqs.sort();
        let mut report = RunReport::default();
        let mut results = Vec::new();
        let mut changed = false;
        // The accounts the run may have changed (those its instructions name).
        let mut touched = BTreeSet::new();
        for (_, name) in reqs {
            let data = match tokio::fs::read(inbox.join(&name)).await {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(AdapterError::unavailable_from(format!("inbox/{name}"), e)),
            };
            match self.apply(&data).await {
                Outcome::Answer(fields) => {
                    touched.extend(self.accounts_of(&data).await?);
                    results.push((name, fields))
                }
                Outcome::Defer => report.deferred += 1,
                Outcome::Lost { applied } => {
                    if applied {
                        touched.extend(self.accounts_of(&data).await?);
                    }
                    changed |= applied;
                    report.lost += 1;
                    match tokio::fs::remove_file(inbox.join(&name)).await {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(AdapterError::unavailable_from(format!("inbox/{name}"), e));
                        }
                    }
                }
            }
        }
        let no_export = !tokio::fs::try_exists(self.root.join("export").join(CONTROL_FILE))
            .await
            .unwrap_or(false);
        let mut seq = None;
        if no_export {
            seq = Some(self.export().await?);
            report.exported = true;
        } else if !results.is_empty() || changed {
            let (s, delta) = self.export_delta(&touched).await?;
            seq = Some(s);
            report.exported = true;
            report.delta = delta;
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
            .map_err(|e| AdapterError::unavailable_from(format!("outbox/{res_name}"), e))?;
            report.answered += 1;
        }
        Ok(report)
    }

    /// The accounts an instruction names: its GRZH, and those its case holds or credited.
    async fn accounts_of(&self, data: &[u8]) -> Result<Vec<String>, AdapterError> {
        let Ok(req) = parse_kv(REQ_HEADER, data) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<String> = req.fields.get("GRZH").cloned().into_iter().collect();
        if let Some(case) = req.fields.get("AJBH") {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT grzh FROM hfx_hold WHERE case_id = ?1 UNION SELECT grzh FROM hfx_credit WHERE case_id = ?1",
            )
            .bind(case)
            .fetch_all(self.master.pool())
            .await?;
            out.extend(rows.into_iter().map(|(g,)| g));
        }
        Ok(out)
    }

    /// Apply one instruction to the master data, with the faults armed for its operation.
    async fn apply(&self, data: &[u8]) -> Outcome {
        let op = parse_kv(REQ_HEADER, data)
            .ok()
            .and_then(|r| r.fields.get("CZ").and_then(|c| Op::from_code(c)))
            .map(|op| match op {
                Op::Reserve => WriteOp::Reserve,
                Op::Release => WriteOp::Release,
                Op::Close => WriteOp::CloseOut,
                Op::Credit => WriteOp::CreditIn,
            });
        if let Some(op) = op
            && self.take_fault(op, BatchFault::LoseInstruction)
        {
            tracing::info!(
                op = op.name(),
                "batch stand-in: instruction lost on command"
            );
            return Outcome::Lost { applied: false };
        }
        match self.apply_now(data).await {
            None => Outcome::Defer,
            Some(fields) => {
                let ok = fields.iter().any(|(k, v)| *k == "JG" && v == jg::OK);
                if ok
                    && let Some(op) = op
                    && self.take_fault(op, BatchFault::LoseResult)
                {
                    tracing::info!(
                        op = op.name(),
                        "batch stand-in: applied, result lost on command"
                    );
                    return Outcome::Lost { applied: true };
                }
                Outcome::Answer(fields)
            }
        }
    }

    /// Apply one instruction to the master data; `None` leaves it for the next run.
    async fn apply_now(&self, data: &[u8]) -> Option<Vec<(&'static str, String)>> {
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
            None => Err(AdapterError::other(format!(
                "unknown operation {:?}",
                req.fields.get("CZ")
            ))),
            Some(_) if case.is_empty() => Err(AdapterError::other("instruction has no AJBH")),
            Some(Op::Reserve) => self.master.reserve(&case, &grzh).await.map(|r| {
                out.push(("GRZH", r.account_no));
                out.push(("BJ", fixed_money(r.principal_fen).unwrap_or_default()));
                out.push(("LX", fixed_money(r.interest_fen).unwrap_or_default()));
            }),
            Some(Op::Release) => self.master.release(&case).await,
            Some(Op::Close) => self.master.close_out(&case).await,
            Some(Op::Credit) => {
                let je = req.get("JE").map_err(AdapterError::other).and_then(|s| {
                    parse_yuan(s.trim_start_matches('+'))
                        .ok_or_else(|| AdapterError::other(format!("JE {s:?} is not an amount")))
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
                            return Err(AdapterError::other(format!(
                                "MX record {} is {} bytes",
                                i + 1,
                                r.len()
                            )));
                        }
                        parse_posting(&rec)
                            .map_err(|p| AdapterError::other(format!("MX record {}: {p:?}", i + 1)))
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
            Err(
                ref e @ AdapterError::UnknownHoldState {
                    ref case_id,
                    ref state,
                },
            ) => {
                out.push(("YLAJBH", case_id.clone()));
                out.push(("ZT", state.clone()));
                (jg::UNKNOWN_HOLD_STATE, e.to_string())
            }
            Err(e @ AdapterError::Unavailable { .. }) => {
                tracing::warn!(case, error = %e.detail(), "batch core master data unavailable; instruction deferred");
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
            // The stand-in core answers with its own failure's text, causes included.
            Err(AdapterError::Other { what, source }) => {
                (jg::OTHER, crate::with_causes(what, source))
            }
        };
        out.push(("JG", code.into()));
        out.push(("XX", msg));
        Some(out)
    }

    /// Export the master data: remove control.txt, write the three data files (each atomically),
    /// then write control.txt with their counts and checksums, then remove the old deltas.
    /// Returns the export's sequence number.
    pub async fn export(&self) -> Result<u64, AdapterError> {
        let lock = export_lock(&self.root);
        let _guard = lock.lock().await;
        let prev = self.read_control().await;
        self.export_full(prev.as_ref().map(|c| c.seq)).await
    }

    /// Export only `accounts` (their member records and all their postings) as a delta on top
    /// of the current export: `export/delta-<seq>/`, then control.txt naming it. A full export
    /// instead when there is no readable export yet or the deltas have grown past
    /// [`MAX_DELTAS`] / [`MAX_DELTA_MEMBERS`]. Returns the sequence number and whether it was a
    /// delta.
    pub async fn export_delta(
        &self,
        accounts: &BTreeSet<String>,
    ) -> Result<(u64, bool), AdapterError> {
        let lock = export_lock(&self.root);
        let _guard = lock.lock().await;
        let Some(prev) = self.read_control().await else {
            return Ok((self.export_full(None).await?, false));
        };
        let delta_members: usize = prev
            .deltas
            .iter()
            .filter_map(|d| d.files.get(MEMBERS_FILE))
            .map(|e| e.records)
            .sum();
        if prev.deltas.len() >= MAX_DELTAS || delta_members + accounts.len() > MAX_DELTA_MEMBERS {
            return Ok((self.export_full(Some(prev.seq)).await?, false));
        }
        let seq = prev.seq + 1;
        let dir = self.root.join("export").join(delta_dir(seq));
        let io = |what: &str, e: std::io::Error| {
            AdapterError::unavailable_from(format!("{}/{what}", dir.display()), e)
        };
        // A folder left by a run that failed half-way is written over.
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("", e)),
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("", e))?;
        let pool = self.master.pool();
        let mut files = HashMap::new();

        let mut w = ExportWriter::create(&dir, MEMBERS_FILE)
            .await
            .map_err(|e| io(MEMBERS_FILE, e))?;
        for a in accounts {
            let row = sqlx::query(MEMBER_ONE).bind(a).fetch_optional(pool).await?;
            if let Some(row) = row {
                member_record(w.record(), &row);
                w.end_record().await.map_err(|e| io(MEMBERS_FILE, e))?;
            }
        }
        files.insert(
            MEMBERS_FILE.to_string(),
            w.finish().await.map_err(|e| io(MEMBERS_FILE, e))?,
        );
        let mut w = ExportWriter::create(&dir, POSTINGS_FILE)
            .await
            .map_err(|e| io(POSTINGS_FILE, e))?;
        for a in accounts {
            let rows = sqlx::query(POSTINGS_OF_ONE).bind(a).fetch_all(pool).await?;
            for row in rows {
                posting_record(w.record(), &row);
                w.end_record().await.map_err(|e| io(POSTINGS_FILE, e))?;
            }
        }
        files.insert(
            POSTINGS_FILE.to_string(),
            w.finish().await.map_err(|e| io(POSTINGS_FILE, e))?,
        );
        // A batch run changes no loan.
        let w = ExportWriter::create(&dir, LOANS_FILE)
            .await
            .map_err(|e| io(LOANS_FILE, e))?;
        files.insert(
            LOANS_FILE.to_string(),
            w.finish().await.map_err(|e| io(LOANS_FILE, e))?,
        );
        let d = dir.clone();
        blocking(move || sync_dir(&d))
            .await?
            .map_err(|e| io("", e))?;

        let mut deltas = prev.deltas.clone();
        deltas.push(DeltaControl { seq, files });
        let base: Vec<(&str, ControlEntry)> = DATA_FILES
            .iter()
            .filter_map(|f| prev.files.get(*f).map(|e| (*f, e.clone())))
            .collect();
        let time = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        let control = render_control_with_deltas(seq, &time, &base, &deltas);
        let export = self.root.join("export");
        blocking(move || write_atomic(&export, CONTROL_FILE, control.as_bytes()))
            .await?
            .map_err(|e| io(CONTROL_FILE, e))?;
        Ok((seq, true))
    }

    async fn read_control(&self) -> Option<Control> {
        tokio::fs::read(self.root.join("export").join(CONTROL_FILE))
            .await
            .ok()
            .and_then(|c| parse_control(&c).ok())
    }

    /// The full export, with the export lock held.
    async fn export_full(&self, prev_seq: Option<u64>) -> Result<u64, AdapterError> {
        let dir = self.root.join("export");
        let io = |what: &str, e: std::io::Error| {
            AdapterError::unavailable_from(format!("{}/{what}", dir.display()), e)
        };
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
        let mut rows = sqlx::query(MEMBERS_ALL).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            member_record(w.record(), &row);
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
        let mut rows = sqlx::query(POSTINGS_ALL).fetch(pool);
        while let Some(row) = rows.try_next().await? {
            posting_record(w.record(), &row);
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
            loan_record(w.record(), &row);
            w.end_record().await.map_err(|e| io(LOANS_FILE, e))?;
        }
        drop(rows);
        entries.push((LOANS_FILE, w.finish().await.map_err(|e| io(LOANS_FILE, e))?));

        let time = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        let control = render_control(seq, &time, &entries);
        let d = dir.clone();
        blocking(move || -> std::io::Result<()> {
            write_atomic(&d, CONTROL_FILE, control.as_bytes())?;
            // The deltas are in the new base now.
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                if e.file_name().to_string_lossy().starts_with("delta-") && e.path().is_dir() {
                    std::fs::remove_dir_all(e.path())?;
                }
            }
            Ok(())
        })
        .await?
        .map_err(|e| io(CONTROL_FILE, e))?;
        Ok(seq)
    }
}

const MEMBERS_ALL: &str = "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh ORDER BY g.grzh";
const MEMBER_ONE: &str = "SELECT g.*, w.dwmc, w.tyshxydm, w.dwjcbl, w.grjcbl FROM grxx g LEFT JOIN dwxx w ON w.dwzh = g.dwzh WHERE g.grzh = ?";
const POSTINGS_ALL: &str =
    "SELECT grzh, rq, ywlx, fse, lx, hjny FROM grmx ORDER BY grzh, hjny, rq, rowid";
/// Within one account, the full export's order.
const POSTINGS_OF_ONE: &str =
    "SELECT grzh, rq, ywlx, fse, lx, hjny FROM grmx WHERE grzh = ? ORDER BY hjny, rq, rowid";

fn text_of(row: &SqliteRow, c: &str) -> String {
    row.try_get::<Option<String>, _>(c)
        .ok()
        .flatten()
        .unwrap_or_default()
}
fn int_of(row: &SqliteRow, c: &str) -> i64 {
    row.try_get::<Option<i64>, _>(c).ok().flatten().unwrap_or(0)
}

fn member_record(r: &mut Vec<u8>, row: &SqliteRow) {
    let s = |c: &str| text_of(row, c);
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
    put_num(r, int_of(row, "dwjcbl"), 5);
    put_num(r, int_of(row, "grjcbl"), 5);
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
}

fn posting_record(r: &mut Vec<u8>, row: &SqliteRow) {
    let s = |c: &str| text_of(row, c);
    put_text(r, &s("grzh"), 20);
    put_date_text(r, Some(&s("rq")));
    put_text(r, &s("ywlx"), 2);
    put_money_text(r, &s("fse"));
    put_money_text(r, &s("lx"));
    put_text(r, &s("hjny"), 6);
}

fn loan_record(r: &mut Vec<u8>, row: &SqliteRow) {
    let s = |c: &str| text_of(row, c);
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
    put_num(r, int_of(row, "ljyqqs"), 4);
    put_date_text(r, Some(&s("dkjqrq")));
    put_text(r, &s("dkzt"), 1);
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
            .and_then(|c| parse_control(&c).ok());
        let mut entries = Vec::new();
        for f in DATA_FILES {
            let data = std::fs::read(dir.join(f))?;
            entries.push((f, entry_of(&data)));
        }
        // The deltas stay, re-sealed as they are now too.
        let mut deltas = prev.as_ref().map(|c| c.deltas.clone()).unwrap_or_default();
        for d in &mut deltas {
            for f in DATA_FILES {
                let data = std::fs::read(dir.join(d.dir()).join(f))?;
                d.files.insert(f.to_string(), entry_of(&data));
            }
        }
        let seq = prev.map_or(0, |c| c.seq) + 1;
        let time = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
        write_atomic(
            &dir,
            CONTROL_FILE,
            render_control_with_deltas(seq, &time, &entries, &deltas).as_bytes(),
        )
    })
    .await?
    .map_err(|e| AdapterError::unavailable_from(root.display().to_string(), e))
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
