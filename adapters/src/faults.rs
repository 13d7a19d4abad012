//! Fault injection for the transfer writes of any core system: a decorator, [`FaultyCore`], that
//! makes chosen writes fail the way a network or a core system fails them, so a caller's retry
//! logic can be tested against every kind (DESIGN.md §4.7: adapter calls are idempotent by case
//! id).
//!
//! Two faults, for the next N writes of one operation (reserve, release, close-out, credit-in):
//! - [`FaultWhen::Before`]: the call times out before the write reaches the core system; the
//!   inner adapter is not called and the answer is [`AdapterError::Unavailable`];
//! - [`FaultWhen::AfterApply`]: the write is applied by the inner adapter, then its reply is
//!   lost (the connection cut after the core system committed); the answer is
//!   [`AdapterError::Unavailable`] although the effect is stored.
//!
//! Reads pass through untouched. A plan can be written as a string, for a node started with it
//! from its configuration or environment ([`parse_faults`]):
//! ```text
//!   close_out:after_apply:1,credit_in:before:2
//! ```
//! Entries are `op:when[:times]` (times ≥ 1, default 1), op one of `reserve`, `release`,
//! `close_out`, `credit_in`, when one of `before`, `after_apply`. Several entries for one
//! operation queue up in order: `reserve:before:1,reserve:after_apply:1` fails the first reserve
//! before the write and the second after it.

use crate::model::{Deposit, IdType, Member, YearMonth};
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A transfer write of [`CoreSystem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteOp {
    Reserve,
    Release,
    CloseOut,
    CreditIn,
}

impl WriteOp {
    pub const ALL: [WriteOp; 4] = [
        WriteOp::Reserve,
        WriteOp::Release,
        WriteOp::CloseOut,
        WriteOp::CreditIn,
    ];

    /// The name a fault spec uses (the trait method's name).
    pub fn name(self) -> &'static str {
        match self {
            WriteOp::Reserve => "reserve",
            WriteOp::Release => "release",
            WriteOp::CloseOut => "close_out",
            WriteOp::CreditIn => "credit_in",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultWhen {
    /// Before the write: a timeout on the way there; nothing is applied.
    Before,
    /// After the write was applied: its reply is lost.
    AfterApply,
}

impl FaultWhen {
    pub const ALL: [FaultWhen; 2] = [FaultWhen::Before, FaultWhen::AfterApply];

    /// The name a fault spec uses.
    pub fn name(self) -> &'static str {
        match self {
            FaultWhen::Before => "before",
            FaultWhen::AfterApply => "after_apply",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// One entry of a plan: the next `times` writes of `op` fail `when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub op: WriteOp,
    pub when: FaultWhen,
    pub times: u32,
}

/// The faults a [`FaultyCore`] injects, in order per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub faults: Vec<Fault>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.faults.iter().all(|f| f.times == 0)
    }
}

/// The plan as a spec [`parse_faults`] reads back (`""` for none).
impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for x in self.faults.iter().filter(|x| x.times > 0) {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}:{}:{}", x.op.name(), x.when.name(), x.times)?;
        }
        Ok(())
    }
}

/// Read a fault spec (`close_out:after_apply:1,credit_in:before:2`; blank: no faults). The
/// error names the entry and what is wrong with it.
pub fn parse_faults(spec: &str) -> Result<FaultPlan, String> {
    let mut faults = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
        let (op, when, times) = match parts[..] {
            [op, when] => (op, when, None),
            [op, when, times] => (op, when, Some(times)),
            _ => {
                return Err(format!(
                    "fault {entry:?}: want op:when[:times], e.g. close_out:after_apply:1"
                ));
            }
        };
        let op = WriteOp::parse(op).ok_or_else(|| {
            format!(
                "fault {entry:?}: operation {op:?} is not one of {}",
                WriteOp::ALL.map(WriteOp::name).join(", ")
            )
        })?;
        let when = FaultWhen::parse(when).ok_or_else(|| {
            format!(
                "fault {entry:?}: {when:?} is not one of {}",
                FaultWhen::ALL.map(FaultWhen::name).join(", ")
            )
        })?;
        let times = match times {
            None => 1,
            Some(t) => t
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("fault {entry:?}: times {t:?} is not a number ≥ 1"))?,
        };
        faults.push(Fault { op, when, times });
    }
    Ok(FaultPlan { faults })
}

/// A core system whose transfer writes fail as planned (see the module docs); reads, the kind
/// and the self-test are the inner core's (the self-test adds a line naming the armed faults).
pub struct FaultyCore<C: CoreSystem + ?Sized = dyn CoreSystem> {
    inner: Arc<C>,
    queue: Mutex<HashMap<WriteOp, VecDeque<(FaultWhen, u32)>>>,
    fired: AtomicU64,
}

impl<C: CoreSystem + ?Sized> FaultyCore<C> {
    /// `inner` with the faults of `plan` armed.
    pub fn new(inner: Arc<C>, plan: FaultPlan) -> Self {
        let core = Self {
            inner,
            queue: Mutex::new(HashMap::new()),
            fired: AtomicU64::new(0),
        };
        for f in plan.faults {
            core.arm(f.op, f.when, f.times);
        }
        core
    }

    /// The core the writes go to.
    pub fn inner(&self) -> &Arc<C> {
        &self.inner
    }

    /// The next `times` writes of `op` (after those already armed for it) fail `when`.
    pub fn arm(&self, op: WriteOp, when: FaultWhen, times: u32) {
        if times == 0 {
            return;
        }
        self.queue().entry(op).or_default().push_back((when, times));
    }

    /// Faults injected so far.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }

    /// The faults still armed.
    pub fn pending(&self) -> FaultPlan {
        let q = self.queue();
        let mut faults = Vec::new();
        for op in WriteOp::ALL {
            for (when, times) in q.get(&op).into_iter().flatten() {
                faults.push(Fault {
                    op,
                    when: *when,
                    times: *times,
                });
            }
        }
        FaultPlan { faults }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, HashMap<WriteOp, VecDeque<(FaultWhen, u32)>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault the next write of `op` meets, if any (not yet spent).
    fn next(&self, op: WriteOp) -> Option<FaultWhen> {
        self.queue()
            .get(&op)
            .and_then(|q| q.front())
            .map(|(w, _)| *w)
    }

    /// Spend one fault of `op` that struck `when`.
    fn spend(&self, op: WriteOp, when: FaultWhen) {
        let mut q = self.queue();
        if let Some(ops) = q.get_mut(&op)
            && let Some(front) = ops.front_mut()
            && front.0 == when
        {
            front.1 -= 1;
            if front.1 == 0 {
                ops.pop_front();
            }
            self.fired.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Run write `op` (`apply`) with its planned fault. A fault after the write strikes only a
    /// write that succeeded (there is no reply to lose otherwise); an error of the inner core
    /// is returned as it is and leaves the fault armed.
    async fn write<T>(
        &self,
        op: WriteOp,
        case_id: &str,
        apply: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        match self.next(op) {
            Some(FaultWhen::Before) => {
                self.spend(op, FaultWhen::Before);
                tracing::info!(
                    op = op.name(),
                    case_id,
                    "injected fault: timeout before the write"
                );
                Err(AdapterError::unavailable(format!(
                    "{} core: {} of case {case_id} timed out before the write (injected fault; not applied)",
                    self.inner.kind(),
                    op.name()
                )))
            }
            Some(FaultWhen::AfterApply) => {
                let _applied = apply.await?;
                self.spend(op, FaultWhen::AfterApply);
                tracing::info!(
                    op = op.name(),
                    case_id,
                    "injected fault: reply lost after the write"
                );
                Err(AdapterError::unavailable(format!(
                    "{} core: the reply to {} of case {case_id} was lost (injected fault; the write was applied)",
                    self.inner.kind(),
                    op.name()
                )))
            }
            None => apply.await,
        }
    }
}

#[async_trait::async_trait]
impl<C: CoreSystem + ?Sized> CoreSystem for FaultyCore<C> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        self.inner.member_by_id(id_type, id_number).await
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        self.inner.deposits(account_no, from, to).await
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        self.inner.loans_of(id_type, id_number).await
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        self.write(
            WriteOp::Reserve,
            case_id,
            self.inner.reserve(case_id, account_no),
        )
        .await
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.write(WriteOp::Release, case_id, self.inner.release(case_id))
            .await
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.write(WriteOp::CloseOut, case_id, self.inner.close_out(case_id))
            .await
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        self.write(
            WriteOp::CreditIn,
            case_id,
            self.inner
                .credit_in(case_id, account_no, amount_fen, history),
        )
        .await
    }

    async fn live_ids(
        &self,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<crate::LivePage, AdapterError> {
        self.inner.live_ids(cursor, limit).await
    }

    async fn check(&self) -> Vec<CheckItem> {
        let mut items = self.inner.check().await;
        let pending = self.pending();
        items.push(CheckItem {
            name: "fault injection".into(),
            ok: true,
            detail: if pending.is_empty() {
                format!(
                    "this core is wrapped for fault injection; nothing armed ({} injected)",
                    self.fired()
                )
            } else {
                format!("armed: {pending} ({} injected so far)", self.fired())
            },
        });
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_render_back() {
        let p = parse_faults("close_out:after_apply:1, credit_in:before:2").expect("parses");
        assert_eq!(
            p.faults,
            vec![
                Fault {
                    op: WriteOp::CloseOut,
                    when: FaultWhen::AfterApply,
                    times: 1
                },
                Fault {
                    op: WriteOp::CreditIn,
                    when: FaultWhen::Before,
                    times: 2
                },
            ]
        );
        assert_eq!(p.to_string(), "close_out:after_apply:1,credit_in:before:2");
        assert_eq!(parse_faults(&p.to_string()), Ok(p));
        let d = parse_faults("reserve:before").expect("times default to 1");
        assert_eq!(d.faults[0].times, 1);
        assert!(parse_faults("").expect("blank").is_empty());
        assert!(parse_faults(" , ").expect("blank entries").is_empty());
    }

    #[test]
    fn bad_specs_name_the_entry_and_the_problem() {
        for (spec, want) in [
            ("close:before:1", "operation \"close\""),
            (
                "reserve:later:1",
                "\"later\" is not one of before, after_apply",
            ),
            ("reserve:before:0", "times \"0\""),
            ("reserve:before:x", "times \"x\""),
            ("reserve", "want op:when[:times]"),
            ("reserve:before:1:2", "want op:when[:times]"),
        ] {
            let e = parse_faults(spec).expect_err(spec);
            assert!(e.contains(want) && e.contains(spec), "{spec}: {e}");
        }
    }
}
