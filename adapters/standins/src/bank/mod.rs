//! The settlement bank stand-in: the bank's HTTP/JSON API (see `hfx_adapters::bank`) with its
//! own ledger and faults on command.
//!
//! The ledger holds one row per case (`from_centre`, `to_centre`, `amount_fen`, state
//! `paid | declined | delivered`, `bank_ref`, times); money in transit is the sum of the paid
//! cases not yet delivered. It is kept in a sqlite file when [`BankStandIn::start`] is given a
//! path (a restarted bank keeps it), in memory otherwise.
//!
//! Endpoints beside the bank's own (`POST /payout`, `GET /payout/{case_id}`,
//! `POST /deliver/{case_id}`):
//! ```text
//! GET    /ledger    -> Ledger: every case, transit_fen, per-centre paid-out / delivered totals
//! POST   /faults    Fault (or a list of them) -> {"faults":[…]} the faults still pending
//! GET    /faults    -> {"faults":[…]}
//! DELETE /faults    clear them
//! ```
//! Faults ([`FaultMode`]) act on the next `count` payouts (or deliveries, [`FaultOp`]), of one
//! case if `case_id` is given (those first): `decline` (a new case is refused for good with a
//! code), `timeout_before_apply` (hang `delay_ms`, apply nothing, then 503), `late` (apply,
//! answer only after `delay_ms`), `reply_lost` (apply, answer 503: the retry gets the stored
//! outcome), `flaky` (503 before applying). `delay_ms` must exceed the client's timeout.

use hfx_adapters::bank::{BankError, HttpBank, Payout, PayoutOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod routes;
mod store;
#[cfg(test)]
mod tests;

/// The delay of `timeout_before_apply` and `late` unless a fault says otherwise: longer than
/// any client timeout the zone uses (a node's `bank_timeout_ms` is 3000 by default).
pub const DEFAULT_FAULT_DELAY_MS: u64 = 10_000;
/// The code of a `decline` fault unless it says otherwise.
pub const DEFAULT_DECLINE_CODE: &str = "DECLINED_BY_BANK";

/// What can go wrong starting or running the stand-in.
#[derive(Debug, thiserror::Error)]
pub enum BankStandInError {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bank ledger {what}")]
    Store {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    /// A ledger row the stand-in cannot read (it refuses to start on it).
    #[error("bank ledger row {case_id}: {detail}")]
    BadRow { case_id: String, detail: String },
    /// A fault that makes no sense (count 0, decline of a delivery).
    #[error("fault refused: {0}")]
    BadFault(String),
}

/// The state of a case in the bank's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Paid out of the origin's settlement account, in transit.
    Paid,
    /// Refused for good; no money moved.
    Declined,
    /// Paid and delivered to the destination.
    Delivered,
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Paid => "paid",
            CaseState::Declined => "declined",
            CaseState::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "paid" => Some(CaseState::Paid),
            "declined" => Some(CaseState::Declined),
            "delivered" => Some(CaseState::Delivered),
            _ => None,
        }
    }
}

/// One case in the bank's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCase {
    pub case_id: String,
    pub from_centre: String,
    pub to_centre: String,
    pub amount_fen: i64,
    pub state: CaseState,
    /// Set when paid (kept when delivered).
    pub bank_ref: Option<String>,
    /// Set when declined.
    pub decline_code: Option<String>,
    pub decline_reason: Option<String>,
    /// RFC 3339, UTC: when the payout was decided (paid or declined).
    pub decided_at: String,
    /// RFC 3339, UTC: when it was delivered.
    pub delivered_at: Option<String>,
}

impl LedgerCase {
    /// The outcome the bank answers for this case.
    pub fn outcome(&self) -> PayoutOutcome {
        match self.state {
            CaseState::Paid | CaseState::Delivered => PayoutOutcome::Paid {
                bank_ref: self.bank_ref.clone().unwrap_or_default(),
                amount_fen: self.amount_fen,
            },
            CaseState::Declined => PayoutOutcome::Declined {
                code: self.decline_code.clone().unwrap_or_default(),
                reason: self.decline_reason.clone().unwrap_or_default(),
            },
        }
    }
}

/// A centre's totals in the bank's ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CentreTotals {
    /// Paid out of this centre's settlement account (cases paid or delivered, from it).
    pub paid_out_fen: i64,
    /// Delivered to this centre (cases delivered, to it).
    pub delivered_fen: i64,
}

/// The whole ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Every case, by case id.
    pub cases: Vec<LedgerCase>,
    /// Σ amount of the cases paid and not delivered.
    pub transit_fen: i64,
    /// Per centre code.
    pub centres: BTreeMap<String, CentreTotals>,
}

impl Ledger {
    fn of(cases: Vec<LedgerCase>) -> Self {
        let mut transit_fen = 0;
        let mut centres: BTreeMap<String, CentreTotals> = BTreeMap::new();
        for c in &cases {
            match c.state {
                CaseState::Declined => {}
                CaseState::Paid => {
                    transit_fen += c.amount_fen;
                    centres
                        .entry(c.from_centre.clone())
                        .or_default()
                        .paid_out_fen += c.amount_fen;
                }
                CaseState::Delivered => {
                    centres
                        .entry(c.from_centre.clone())
                        .or_default()
                        .paid_out_fen += c.amount_fen;
                    centres
                        .entry(c.to_centre.clone())
                        .or_default()
                        .delivered_fen += c.amount_fen;
                }
            }
        }
        Self {
            cases,
            transit_fen,
            centres,
        }
    }

    pub fn case(&self, case_id: &str) -> Option<&LedgerCase> {
        self.cases.iter().find(|c| c.case_id == case_id)
    }
}

/// How the bank misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// A new case is declined for good with the fault's `code` and `reason`.
    Decline,
    /// Hang `delay_ms`, apply nothing, then answer 503.
    TimeoutBeforeApply,
    /// Apply, then answer only after `delay_ms`.
    Late,
    /// Apply, then answer 503 (the retry answers the stored outcome).
    ReplyLost,
    /// Answer 503 before applying.
    Flaky,
}

/// Which call a fault acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOp {
    #[default]
    Payout,
    Deliver,
}

/// A fault on command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub mode: FaultMode,
    /// Only calls for this case (otherwise any case).
    #[serde(default)]
    pub case_id: Option<String>,
    /// How many calls it acts on.
    #[serde(default = "one")]
    pub count: u32,
    /// `timeout_before_apply` and `late`: how long the answer waits.
    #[serde(default = "d_delay")]
    pub delay_ms: u64,
    #[serde(default)]
    pub op: FaultOp,
    /// `decline`: the code and reason of the refusal.
    #[serde(default = "d_code")]
    pub code: String,
    #[serde(default = "d_reason")]
    pub reason: String,
}

fn one() -> u32 {
    1
}
fn d_delay() -> u64 {
    DEFAULT_FAULT_DELAY_MS
}
fn d_code() -> String {
    DEFAULT_DECLINE_CODE.into()
}
fn d_reason() -> String {
    "the bank declined the payout".into()
}

impl Fault {
    /// `mode` for the next `n` payouts of any case.
    pub fn next(n: u32, mode: FaultMode) -> Self {
        Self {
            mode,
            case_id: None,
            count: n,
            delay_ms: d_delay(),
            op: FaultOp::Payout,
            code: d_code(),
            reason: d_reason(),
        }
    }

    /// `mode` for the next payout of `case_id`.
    pub fn for_case(case_id: &str, mode: FaultMode) -> Self {
        Self {
            case_id: Some(case_id.into()),
            ..Self::next(1, mode)
        }
    }

    /// A decline with this code and reason.
    pub fn declining(mut self, code: &str, reason: &str) -> Self {
        self.code = code.into();
        self.reason = reason.into();
        self
    }

    /// The delay of `timeout_before_apply` / `late`.
    pub fn with_delay(mut self, d: Duration) -> Self {
        self.delay_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Act on deliveries instead of payouts.
    pub fn on(mut self, op: FaultOp) -> Self {
        self.op = op;
        self
    }

    /// As many calls again.
    pub fn times(mut self, n: u32) -> Self {
        self.count = n;
        self
    }

    fn check(&self) -> Result<(), BankStandInError> {
        if self.count == 0 {
            return Err(BankStandInError::BadFault(
                "count must be at least 1".into(),
            ));
        }
        if self.op == FaultOp::Deliver && self.mode == FaultMode::Decline {
            return Err(BankStandInError::BadFault(
                "a delivery cannot be declined (only a payout)".into(),
            ));
        }
        Ok(())
    }
}

/// How many calls the bank answered, per endpoint (faults included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    pub payout: u64,
    pub status: u64,
    pub deliver: u64,
}

struct Book {
    cases: BTreeMap<String, LedgerCase>,
}

pub(crate) struct BankState {
    book: tokio::sync::Mutex<Book>,
    faults: std::sync::Mutex<Vec<Fault>>,
    store: Option<store::Store>,
    payouts: AtomicU64,
    statuses: AtomicU64,
    deliveries: AtomicU64,
}

/// Why an apply did not give an outcome.
pub(crate) enum Refusal {
    UnknownCase,
    Mismatch(String),
    NotPaid,
    Store(BankStandInError),
}

impl BankState {
    fn set_fault(&self, f: Fault) -> Result<(), BankStandInError> {
        f.check()?;
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f);
        Ok(())
    }

    fn pending_faults(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Take one use of the first pending fault for this call that `wanted` accepts: a fault for
    /// the case before one for any case.
    fn take_fault(
        &self,
        op: FaultOp,
        case_id: &str,
        wanted: impl Fn(FaultMode) -> bool,
    ) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let fits = |f: &Fault, own: bool| {
            f.op == op
                && wanted(f.mode)
                && if own {
                    f.case_id.as_deref() == Some(case_id)
                } else {
                    f.case_id.is_none()
                }
        };
        let i = faults
            .iter()
            .position(|f| fits(f, true))
            .or_else(|| faults.iter().position(|f| fits(f, false)))?;
        let f = faults[i].clone();
        faults[i].count -= 1;
        if faults[i].count == 0 {
            faults.remove(i);
        }
        Some(f)
    }

    /// Decide a payout once: the stored outcome for a known case, otherwise paid (or declined
    /// by a pending `decline` fault), written to the ledger before it answers.
    async fn apply_payout(&self, p: &Payout) -> Result<PayoutOutcome, Refusal> {
        let mut book = self.book.lock().await;
        if let Some(c) = book.cases.get(&p.case_id) {
            if c.from_centre != p.from_centre
                || c.to_centre != p.to_centre
                || c.amount_fen != p.amount_fen
            {
                return Err(Refusal::Mismatch(format!(
                    "case {} was paid out as {} fen from {} to {}",
                    c.case_id, c.amount_fen, c.from_centre, c.to_centre
                )));
            }
            return Ok(c.outcome());
        }
        let decline = self.take_fault(FaultOp::Payout, &p.case_id, |m| m == FaultMode::Decline);
        let n = book.cases.len() + 1;
        let case = LedgerCase {
            case_id: p.case_id.clone(),
            from_centre: p.from_centre.clone(),
            to_centre: p.to_centre.clone(),
            amount_fen: p.amount_fen,
            state: if decline.is_some() {
                CaseState::Declined
            } else {
                CaseState::Paid
            },
            bank_ref: decline.is_none().then(|| format!("BK{n:010}")),
            decline_code: decline.as_ref().map(|f| f.code.clone()),
            decline_reason: decline.as_ref().map(|f| f.reason.clone()),
            decided_at: now(),
            delivered_at: None,
        };
        if let Some(s) = &self.store {
            s.insert(&case).await.map_err(Refusal::Store)?;
        }
        let out = case.outcome();
        tracing::debug!(case_id = %case.case_id, state = case.state.as_str(), amount_fen = case.amount_fen, "bank stand-in payout");
        book.cases.insert(case.case_id.clone(), case);
        Ok(out)
    }

    async fn apply_deliver(&self, case_id: &str) -> Result<(), Refusal> {
        let mut book = self.book.lock().await;
        let Some(c) = book.cases.get(case_id) else {
            return Err(Refusal::UnknownCase);
        };
        match c.state {
            CaseState::Delivered => Ok(()),
            CaseState::Declined => Err(Refusal::NotPaid),
            CaseState::Paid => {
                let at = now();
                if let Some(s) = &self.store {
                    s.deliver(case_id, &at).await.map_err(Refusal::Store)?;
                }
                if let Some(c) = book.cases.get_mut(case_id) {
                    c.state = CaseState::Delivered;
                    c.delivered_at = Some(at);
                }
                Ok(())
            }
        }
    }

    async fn outcome_of(&self, case_id: &str) -> Option<PayoutOutcome> {
        self.book
            .lock()
            .await
            .cases
            .get(case_id)
            .map(LedgerCase::outcome)
    }

    async fn ledger(&self) -> Ledger {
        let book = self.book.lock().await;
        Ledger::of(book.cases.values().cloned().collect())
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The stand-in's entry points.
pub struct BankStandIn;

impl BankStandIn {
    /// Start the bank on 127.0.0.1 (a port the kernel picks), its ledger in the sqlite file
    /// `path` (created if missing, with its folder) or in memory.
    pub async fn start(path: Option<&Path>) -> Result<BankHandle, BankStandInError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| BankStandInError::Io {
                what: "binding the bank stand-in on 127.0.0.1".into(),
                source,
            })?;
        Self::start_on(listener, path).await
    }

    /// Start the bank on `listener`.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        path: Option<&Path>,
    ) -> Result<BankHandle, BankStandInError> {
        let addr = listener
            .local_addr()
            .map_err(|source| BankStandInError::Io {
                what: "the bank stand-in's listener".into(),
                source,
            })?;
        let (store, cases) = match path {
            None => (None, BTreeMap::new()),
            Some(p) => {
                let s = store::Store::open(p).await?;
                let cases = s
                    .load()
                    .await?
                    .into_iter()
                    .map(|c| (c.case_id.clone(), c))
                    .collect();
                (Some(s), cases)
            }
        };
        let st = Arc::new(BankState {
            book: tokio::sync::Mutex::new(Book { cases }),
            faults: Default::default(),
            store,
            payouts: AtomicU64::new(0),
            statuses: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
        });
        let app = routes::router(st.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "bank stand-in stopped");
            }
        });
        Ok(BankHandle {
            url: format!("http://{addr}"),
            path: path.map(Path::to_path_buf),
            st,
            task: Some(task),
        })
    }
}

/// A running bank stand-in; it stops when dropped (or [`BankHandle::shutdown`]).
pub struct BankHandle {
    url: String,
    path: Option<PathBuf>,
    st: Arc<BankState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for BankHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankHandle")
            .field("url", &self.url)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BankHandle {
    /// `http://127.0.0.1:PORT`, the node config's `transfer.bank_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The ledger file, if the ledger is kept in one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Add a fault (after those pending).
    pub fn set_fault(&self, f: Fault) -> Result<(), BankStandInError> {
        self.st.set_fault(f)
    }

    /// The faults still pending, with the uses they have left.
    pub fn faults(&self) -> Vec<Fault> {
        self.st.pending_faults()
    }

    pub fn clear_faults(&self) {
        self.st.clear_faults()
    }

    /// The ledger as it is now.
    pub async fn ledger(&self) -> Ledger {
        self.st.ledger().await
    }

    /// Calls answered so far.
    pub fn calls(&self) -> Calls {
        Calls {
            payout: self.st.payouts.load(Ordering::SeqCst),
            status: self.st.statuses.load(Ordering::SeqCst),
            deliver: self.st.deliveries.load(Ordering::SeqCst),
        }
    }

    /// A client of this bank.
    pub fn client(&self, timeout: Duration) -> Result<HttpBank, BankError> {
        HttpBank::new(&self.url, timeout)
    }

    /// Stop serving and close the ledger file (a bank started again on the same file finds
    /// the ledger as it was). Answers still waiting on a fault's delay are dropped.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        if let Some(s) = &self.st.store {
            s.close().await;
        }
    }
}

impl Drop for BankHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Host the zone's settlement bank: its ledger in `dir/ledger.db`, for as long as the handle
/// lives (the zone launcher's, as it hosts the vendor API stand-in).
pub async fn host_bank(dir: &Path) -> Result<BankHandle, BankStandInError> {
    BankStandIn::start(Some(&dir.join("ledger.db"))).await
}
