//! The adapter contract: the same cases, run against every core system kind
//! (`adapters/standins/tests/contract/`). A core system under test must hold the deterministic
//! population `0..n` of [`crate::seed`] for `centre` with `opts` (n ≥ 200).
//!
//! The transfer writes of every kind run through the one hold/credit state machine
//! (`hfx_adapters::hold`): directly for sqlite, postgres and mariadb, in the stand-in's sqlite
//! master data behind the batch files and the vendor API.
//!
//! The fault cases ([`run_faults`], DESIGN.md §4.7) run through a [`FaultHarness`]: a reply lost
//! after the core applied a write, a timeout before the write, a restart of the core system
//! between reserve and close-out, a credit-in repeated across a restart; each effect happens
//! once (status, balance, postings, and the hold and credit records in the core's own store).
//! Faults come from a [`FaultyCore`] around any kind, or from a stand-in's own controls
//! ([`FaultSwitch`] for the vendor API server and the batch run).

use crate::model::{AccountStatus, IdType, YearMonth};
use crate::seed::{SeedOptions, generate, loans_of};
use hfx_adapters::{AdapterError, CoreSystem};

fn fail(case: &str, detail: impl std::fmt::Display) -> String {
    format!("contract case `{case}`: {detail}")
}

/// Index of the first seeded member with a status matching `want` (resident id only).
pub fn find_index(
    centre: &str,
    opts: &SeedOptions,
    n: u64,
    want: impl Fn(AccountStatus) -> bool,
) -> Option<u64> {
    (0..n).find(|i| {
        let m = generate(centre, opts, *i).member;
        want(m.status) && m.id_type == IdType::ResidentId
    })
}

/// Run every case; returns the first failure.
pub async fn run_all(
    core: &dyn CoreSystem,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    reads(core, centre, opts, n).await?;
    transfer_writes(core, centre, opts, n).await?;
    let checks = core.check().await;
    for c in &checks {
        if !c.ok {
            return Err(fail("check", format!("{}: {}", c.name, c.detail)));
        }
    }
    Ok(())
}

/// Reads: member by id, unknown id, deposit history for a month range, loans as borrower and
/// co-borrower.
pub async fn reads(
    core: &dyn CoreSystem,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    for i in [0, 1, 2, 3, 7, 42, n - 1] {
        let want = generate(centre, opts, i);
        let got = core
            .member_by_id(want.member.id_type, &want.member.id_number)
            .await
            .map_err(|e| fail("member_by_id", e))?
            .ok_or_else(|| fail("member_by_id", format!("member {i} not found")))?;
        if got.account_no != want.member.account_no
            || got.name != want.member.name
            || got.status != want.member.status
            || got.balance_fen != want.member.balance_fen
            || got.opened_on != want.member.opened_on
            || got.paid_up_to != want.member.paid_up_to
            || got.deposit_base_fen != want.member.deposit_base_fen
            || got.employer.account_no != want.member.employer.account_no
        {
            return Err(fail(
                "member_by_id",
                format!(
                    "member {i} differs:\n got  {got:?}\n want {:?}",
                    want.member
                ),
            ));
        }
        let from = want.member.paid_up_to.add_months(-5);
        let to = want.member.paid_up_to;
        let deposits = core
            .deposits(&want.member.account_no, from, to)
            .await
            .map_err(|e| fail("deposits", e))?;
        let expected: Vec<_> = want
            .deposits
            .iter()
            .filter(|d| d.for_month >= from && d.for_month <= to)
            .collect();
        if deposits.len() != expected.len()
            || deposits.iter().zip(expected.iter()).any(|(a, b)| {
                a.amount_fen != b.amount_fen
                    || a.for_month != b.for_month
                    || a.business_type != b.business_type
            })
        {
            return Err(fail(
                "deposits",
                format!(
                    "member {i}: got {} postings, want {}",
                    deposits.len(),
                    expected.len()
                ),
            ));
        }
    }
    let none = core
        .member_by_id(IdType::ResidentId, "11010519491231002X")
        .await
        .map_err(|e| fail("unknown id", e))?;
    if none.is_some() {
        return Err(fail("unknown id", "an id outside the population was found"));
    }
    let mut seen_co = false;
    for i in 0..n.min(400) {
        let want = loans_of(centre, opts, i);
        if want.is_empty() {
            continue;
        }
        // The co-borrower of the last index may lie outside the population.
        if want.iter().any(|l| l.co_borrower.is_some()) && i + 1 >= n {
            continue;
        }
        let m = generate(centre, opts, i).member;
        let got = core
            .loans_of(m.id_type, &m.id_number)
            .await
            .map_err(|e| fail("loans_of", e))?;
        let mut got_nos: Vec<_> = got
            .iter()
            .map(|l| (l.loan.contract_no.clone(), l.role))
            .collect();
        let mut want_nos: Vec<_> = want
            .iter()
            .map(|l| (l.loan.contract_no.clone(), l.loan.role))
            .collect();
        got_nos.sort_by(|a, b| a.0.cmp(&b.0));
        want_nos.sort_by(|a, b| a.0.cmp(&b.0));
        if got_nos != want_nos {
            return Err(fail(
                "loans_of",
                format!("member {i}: got {got_nos:?}, want {want_nos:?}"),
            ));
        }
        for (g, w) in got.iter().zip(want.iter()) {
            if g.loan.outstanding_fen != w.loan.outstanding_fen && got.len() == 1 {
                return Err(fail(
                    "loans_of",
                    format!(
                        "member {i}: outstanding {} != {}",
                        g.loan.outstanding_fen, w.loan.outstanding_fen
                    ),
                ));
            }
        }
        seen_co |= got
            .iter()
            .any(|l| l.role == crate::model::LoanRole::CoBorrower);
    }
    if !seen_co {
        return Err(fail(
            "loans_of",
            "no co-borrower loan found in the first 400 members",
        ));
    }
    Ok(())
}

/// Transfer writes: reserve / release / close-out / credit-in, each idempotent by case id.
pub async fn transfer_writes(
    core: &dyn CoreSystem,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let normal: Vec<u64> = (0..n)
        .filter(|i| {
            let m = generate(centre, opts, *i).member;
            m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId
        })
        .take(3)
        .collect();
    let [a, b, c] = normal[..] else {
        return Err(fail("setup", "fewer than 3 normal accounts seeded"));
    };
    let ma = generate(centre, opts, a).member;
    let mb = generate(centre, opts, b).member;
    let mc = generate(centre, opts, c).member;
    let status_of = |id: String, t: IdType| async move {
        core.member_by_id(t, &id)
            .await
            .map(|m| m.map(|m| (m.status, m.balance_fen)))
    };

    // reserve is idempotent and seals
    let r1 = core
        .reserve("case-a", &ma.account_no)
        .await
        .map_err(|e| fail("reserve", e))?;
    let r2 = core
        .reserve("case-a", &ma.account_no)
        .await
        .map_err(|e| fail("reserve twice", e))?;
    if r1 != r2 || r1.principal_fen != ma.balance_fen {
        return Err(fail(
            "reserve",
            format!("{r1:?} vs {r2:?}, balance {}", ma.balance_fen),
        ));
    }
    let (st, _) = status_of(ma.id_number.clone(), ma.id_type)
        .await
        .map_err(|e| fail("reserve", e))?
        .ok_or("gone")?;
    if st != AccountStatus::Sealed {
        return Err(fail(
            "reserve",
            format!("status after reserve is {st:?}, want Sealed"),
        ));
    }
    match core.reserve("case-a2", &ma.account_no).await {
        Err(AdapterError::Conflict(_)) => {}
        other => {
            return Err(fail(
                "second case on a held account",
                format!("want Conflict, got {other:?}"),
            ));
        }
    }
    // release restores, is idempotent, and forbids close-out afterwards
    core.release("case-a")
        .await
        .map_err(|e| fail("release", e))?;
    core.release("case-a")
        .await
        .map_err(|e| fail("release twice", e))?;
    let (st, bal) = status_of(ma.id_number.clone(), ma.id_type)
        .await
        .map_err(|e| fail("release", e))?
        .ok_or("gone")?;
    if st != ma.status || bal != ma.balance_fen {
        return Err(fail(
            "release",
            format!(
                "after release {st:?} {bal}, want {:?} {}",
                ma.status, ma.balance_fen
            ),
        ));
    }
    match core.close_out("case-a").await {
        Err(AdapterError::Conflict(_)) => {}
        other => {
            return Err(fail(
                "close-out after release",
                format!("want Conflict, got {other:?}"),
            ));
        }
    }
    // close-out: status 04, balance 0, idempotent
    core.reserve("case-b", &mb.account_no)
        .await
        .map_err(|e| fail("reserve b", e))?;
    core.close_out("case-b")
        .await
        .map_err(|e| fail("close_out", e))?;
    core.close_out("case-b")
        .await
        .map_err(|e| fail("close_out twice", e))?;
    let got = core
        .member_by_id(mb.id_type, &mb.id_number)
        .await
        .map_err(|e| fail("close_out", e))?
        .ok_or("gone")?;
    if got.status != AccountStatus::ClosedTransferred
        || got.balance_fen != 0
        || got.close_reason.as_deref() != Some("07")
    {
        return Err(fail(
            "close_out",
            format!(
                "after close-out {:?} {} {:?}",
                got.status, got.balance_fen, got.close_reason
            ),
        ));
    }
    match core.release("case-b").await {
        Err(AdapterError::Conflict(_)) => {}
        other => {
            return Err(fail(
                "release after close-out",
                format!("want Conflict, got {other:?}"),
            ));
        }
    }
    // credit-in is idempotent by case id
    let history = generate(centre, opts, b).deposits;
    core.credit_in("case-c", &mc.account_no, 123_456, &history)
        .await
        .map_err(|e| fail("credit_in", e))?;
    core.credit_in("case-c", &mc.account_no, 123_456, &history)
        .await
        .map_err(|e| fail("credit_in twice", e))?;
    let got = core
        .member_by_id(mc.id_type, &mc.id_number)
        .await
        .map_err(|e| fail("credit_in", e))?
        .ok_or("gone")?;
    if got.balance_fen != mc.balance_fen + 123_456 {
        return Err(fail(
            "credit_in",
            format!(
                "balance {} want {}",
                got.balance_fen,
                mc.balance_fen + 123_456
            ),
        ));
    }
    let now = YearMonth::of(chrono::Local::now().date_naive());
    let postings = core
        .deposits(&mc.account_no, now, now)
        .await
        .map_err(|e| fail("credit_in posting", e))?;
    if postings
        .iter()
        .filter(|d| {
            d.business_type == crate::model::business_type::TRANSFER_IN && d.amount_fen == 123_456
        })
        .count()
        != 1
    {
        return Err(fail(
            "credit_in",
            format!("want exactly one 08 posting of 123456 fen this month, got {postings:?}"),
        ));
    }
    // frozen and closed accounts cannot be reserved
    for (what, want) in [
        ("frozen", AccountStatus::Frozen),
        ("closed", AccountStatus::ClosedWithdrawn),
    ] {
        if let Some(i) = find_index(centre, opts, n, |s| s == want) {
            let m = generate(centre, opts, i).member;
            match core.reserve(&format!("case-{what}"), &m.account_no).await {
                Err(AdapterError::Conflict(_)) => {}
                other => {
                    return Err(fail(
                        &format!("reserve {what}"),
                        format!("want Conflict, got {other:?}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The URL of the database server a test needs, from environment variable `var`. Unset (or
/// empty): the test prints `SKIPPED: <why>` and is to pass, unless `CI` is set (to anything but
/// `""`, `0` or `false`): then a missing URL fails the test, so a CI run without the databases
/// cannot go green.
pub fn database_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
            assert!(
                !ci,
                "{var} is not set, and CI is: this test needs its database server in CI"
            );
            eprintln!("SKIPPED: {var} not set");
            None
        }
    }
}

/// A hold record in a state the state machine does not know, planted in a core system by a test
/// (as a migration or a hand edit might leave it).
#[derive(Debug, Clone)]
pub struct PlantedHold {
    pub case_id: String,
    pub account_no: String,
    pub state: String,
    /// The account's balance, yuan text, as the hold's principal.
    pub principal: String,
}

/// The hold the unknown-state case plants: on the fourth normal resident-id account (the
/// transfer cases use the first three), state `suspended`.
pub fn planted_hold(centre: &str, opts: &SeedOptions, n: u64) -> PlantedHold {
    let m = (0..n)
        .map(|i| generate(centre, opts, i).member)
        .filter(|m| m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId)
        .nth(3)
        .expect("at least four normal accounts seeded");
    PlantedHold {
        case_id: "case-odd".into(),
        account_no: m.account_no,
        state: "suspended".into(),
        principal: crate::money::format_yuan(m.balance_fen),
    }
}

/// Plant `h` in a sqlite core's `hfx_hold` (the sqlite kind, and the stand-ins' master data).
pub async fn plant_in_sqlite(pool: &sqlx::SqlitePool, h: &PlantedHold) -> Result<(), String> {
    sqlx::query(
        "INSERT INTO hfx_hold (case_id, grzh, prev_zt, bj, lx, state) VALUES (?1, ?2, '01', ?3, '0.00', ?4)",
    )
    .bind(&h.case_id)
    .bind(&h.account_no)
    .bind(&h.principal)
    .bind(&h.state)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(|e| fail("plant hold", e))
}

/// With [`planted_hold`] planted in the core's hold records: reserve, release, close-out and
/// credit-in of the case, and a reserve of the account by another case, are each refused with
/// [`AdapterError::UnknownHoldState`] naming the case and the state; the account is untouched.
pub async fn unknown_hold_state_is_refused(
    core: &dyn CoreSystem,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let h = planted_hold(centre, opts, n);
    let m = (0..n)
        .map(|i| generate(centre, opts, i).member)
        .find(|m| m.account_no == h.account_no)
        .ok_or_else(|| fail("setup", "planted account not in the population"))?;
    let refused = |what: &str, r: Result<(), AdapterError>| -> Result<(), String> {
        match r {
            Err(AdapterError::UnknownHoldState { case_id, state })
                if case_id == h.case_id && state == h.state =>
            {
                Ok(())
            }
            other => Err(fail(
                &format!("{what} with a hold in unknown state"),
                format!(
                    "want UnknownHoldState {{ case_id: {:?}, state: {:?} }}, got {other:?}",
                    h.case_id, h.state
                ),
            )),
        }
    };
    refused(
        "reserve",
        core.reserve(&h.case_id, &h.account_no).await.map(|_| ()),
    )?;
    refused("release", core.release(&h.case_id).await)?;
    refused("close_out", core.close_out(&h.case_id).await)?;
    refused(
        "credit_in",
        core.credit_in(&h.case_id, &h.account_no, 100, &[]).await,
    )?;
    refused(
        "reserve by another case",
        core.reserve("case-odd-2", &h.account_no).await.map(|_| ()),
    )?;
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .map_err(|e| fail("unknown hold state", e))?
        .ok_or_else(|| fail("unknown hold state", "member gone"))?;
    if (got.status, got.balance_fen) != (m.status, m.balance_fen) {
        return Err(fail(
            "unknown hold state",
            format!(
                "the account changed: {:?} {} (was {:?} {})",
                got.status, got.balance_fen, m.status, m.balance_fen
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Faults: reply lost after the write, timeout before it, a restart between two writes
// ---------------------------------------------------------------------------------------------

pub use hfx_adapters::faults::{FaultWhen, FaultyCore, WriteOp};

/// What the fault cases arm faults with: a [`FaultyCore`] around any kind, or a stand-in's own
/// fault controls (the vendor API server, the batch run).
pub trait FaultSwitch: Send + Sync {
    /// The next `times` writes of `op` fail `when`.
    fn arm(&self, op: WriteOp, when: FaultWhen, times: u32);
    /// Faults injected so far.
    fn fired(&self) -> u64;
}

impl<C: CoreSystem + ?Sized> FaultSwitch for FaultyCore<C> {
    fn arm(&self, op: WriteOp, when: FaultWhen, times: u32) {
        FaultyCore::arm(self, op, when, times);
    }
    fn fired(&self) -> u64 {
        FaultyCore::fired(self)
    }
}

/// The vendor API server's own faults: 503 before the write, or the write applied and then a
/// 503 (the adapter's own retries meet them first).
impl FaultSwitch for crate::vendor::VendorApiServer {
    fn arm(&self, op: WriteOp, when: FaultWhen, times: u32) {
        let f = match when {
            FaultWhen::Before => crate::vendor::WriteFault::Before5xx,
            FaultWhen::AfterApply => crate::vendor::WriteFault::After5xx,
        };
        self.fail_write(op, f, u64::from(times));
    }
    fn fired(&self) -> u64 {
        let s = self.stats();
        s.failed_before_apply + s.failed_after_apply
    }
}

/// The batch run's own faults: the instruction lost before it is applied, or applied with its
/// result lost (the adapter's wait runs out either way).
impl FaultSwitch for crate::batch::BatchRunner {
    fn arm(&self, op: WriteOp, when: FaultWhen, times: u32) {
        let f = match when {
            FaultWhen::Before => crate::batch::BatchFault::LoseInstruction,
            FaultWhen::AfterApply => crate::batch::BatchFault::LoseResult,
        };
        self.fail_write(op, f, u64::from(times));
    }
    fn fired(&self) -> u64 {
        self.lost_instructions() + self.lost_results()
    }
}

/// A core system under the fault cases, and what they need beside its [`CoreSystem`] face.
#[async_trait::async_trait]
pub trait FaultHarness: Send + Sync {
    /// The adapter the cases call (after [`FaultHarness::restart`], the one that is current).
    fn core(&self) -> &dyn CoreSystem;
    /// Where the cases arm faults.
    fn faults(&self) -> &dyn FaultSwitch;
    /// Restart the core system between two calls: end its connections (a database server's
    /// sessions), stop and start its stand-in, or drop and reopen the adapter.
    async fn restart(&mut self) -> Result<(), String>;
    /// The case's hold record in the core's own store: (account, raw state).
    async fn hold_of(&self, case_id: &str) -> Result<Option<(String, String)>, String>;
    /// The account the case's credit record in the core's own store names.
    async fn credit_of(&self, case_id: &str) -> Result<Option<String>, String>;
}

/// [`FaultHarness::hold_of`] for a sqlite store (the sqlite kind, the stand-ins' master data).
pub async fn sqlite_hold_of(
    pool: &sqlx::SqlitePool,
    case_id: &str,
) -> Result<Option<(String, String)>, String> {
    sqlx::query_as("SELECT grzh, state FROM hfx_hold WHERE case_id = ?1")
        .bind(case_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| fail("hold record", e))
}

/// [`FaultHarness::credit_of`] for a sqlite store.
pub async fn sqlite_credit_of(
    pool: &sqlx::SqlitePool,
    case_id: &str,
) -> Result<Option<String>, String> {
    sqlx::query_scalar("SELECT grzh FROM hfx_credit WHERE case_id = ?1")
        .bind(case_id)
        .fetch_optional(pool)
        .await
        .map_err(|e| fail("credit record", e))
}

/// How often a case calls again after [`AdapterError::Unavailable`] (a caller's retries).
const RETRIES: usize = 8;

/// Call `call` until it answers something other than Unavailable, at most [`RETRIES`] more
/// times; the answer.
async fn retried<T, F, Fut>(case: &str, mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AdapterError>>,
{
    let mut last = None;
    for _ in 0..=RETRIES {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_unavailable() => last = Some(e),
            Err(e) => return Err(fail(case, format!("retry: {e:?}"))),
        }
    }
    Err(fail(
        case,
        format!("still unavailable after {RETRIES} retries: {last:?}"),
    ))
}

/// The member of a seeded account, as the core reads it now.
async fn now_member(
    core: &dyn CoreSystem,
    case: &str,
    m: &crate::model::Member,
) -> Result<crate::model::Member, String> {
    retried(case, || core.member_by_id(m.id_type, &m.id_number))
        .await?
        .ok_or_else(|| fail(case, format!("account {} is gone", m.account_no)))
}

/// This month's postings of business type `bt` on the account.
async fn postings_now(
    core: &dyn CoreSystem,
    case: &str,
    account_no: &str,
    bt: &str,
) -> Result<Vec<crate::model::Deposit>, String> {
    let now = YearMonth::of(chrono::Local::now().date_naive());
    Ok(retried(case, || core.deposits(account_no, now, now))
        .await?
        .into_iter()
        .filter(|d| d.business_type == bt)
        .collect())
}

/// One write of a fault case, as a value.
#[derive(Clone, Copy)]
enum Write<'a> {
    Reserve(&'a str, &'a str),
    Release(&'a str),
    CloseOut(&'a str),
    CreditIn(&'a str, &'a str, i64),
}

impl Write<'_> {
    fn op(self) -> WriteOp {
        match self {
            Write::Reserve(..) => WriteOp::Reserve,
            Write::Release(..) => WriteOp::Release,
            Write::CloseOut(..) => WriteOp::CloseOut,
            Write::CreditIn(..) => WriteOp::CreditIn,
        }
    }

    fn case_id(self) -> String {
        match self {
            Write::Reserve(c, _)
            | Write::Release(c)
            | Write::CloseOut(c)
            | Write::CreditIn(c, ..) => c.to_string(),
        }
    }

    async fn call(self, core: &dyn CoreSystem) -> Result<(), AdapterError> {
        match self {
            Write::Reserve(c, a) => core.reserve(c, a).await.map(|_| ()),
            Write::Release(c) => core.release(c).await,
            Write::CloseOut(c) => core.close_out(c).await,
            Write::CreditIn(c, a, fen) => core.credit_in(c, a, fen, &[]).await,
        }
    }

    /// Whether the write's effect is in the core's own store.
    async fn applied(self, h: &dyn FaultHarness) -> Result<bool, String> {
        let c = self.case_id();
        let state = |want: &'static str| async move {
            Ok::<_, String>(h.hold_of(&c).await?.is_some_and(|(_, s)| s == want))
        };
        match self {
            Write::Reserve(c, _) => Ok(h.hold_of(c).await?.is_some()),
            Write::Release(_) => state("released").await,
            Write::CloseOut(_) => state("closed").await,
            Write::CreditIn(c, ..) => Ok(h.credit_of(c).await?.is_some()),
        }
    }
}

/// Run `w` with one fault `when` armed for it, as a caller does: on Unavailable it looks at
/// the core's store (the effect is there after an after-apply fault, absent after a
/// before-write one) and calls again until answered. The fault must have struck.
async fn faulted_write(
    h: &dyn FaultHarness,
    case: &str,
    w: Write<'_>,
    when: FaultWhen,
) -> Result<(), String> {
    let fired = h.faults().fired();
    h.faults().arm(w.op(), when, 1);
    match w.call(h.core()).await {
        // The adapter retried by itself (the vendor API client after a 503).
        Ok(()) => {}
        Err(e) if e.is_unavailable() => {
            let applied = w.applied(h).await?;
            if applied != (when == FaultWhen::AfterApply) {
                return Err(fail(
                    case,
                    format!(
                        "after {} failed ({e}), its effect is {}in the core's store",
                        w.op().name(),
                        if applied { "" } else { "not " }
                    ),
                ));
            }
            retried(case, || w.call(h.core())).await?;
        }
        Err(e) => return Err(fail(case, format!("{}: {e:?}", w.op().name()))),
    }
    let now = h.faults().fired();
    if now != fired + 1 {
        return Err(fail(
            case,
            format!(
                "{} {} fault armed, {} injected",
                w.op().name(),
                when.name(),
                now - fired
            ),
        ));
    }
    if !w.applied(h).await? {
        return Err(fail(
            case,
            format!("{} answered but not applied", w.op().name()),
        ));
    }
    Ok(())
}

/// The account is held by the case once: sealed, balance untouched, one `held` hold record,
/// and reserving again answers the same reservation.
async fn held_once(
    h: &dyn FaultHarness,
    case: &str,
    case_id: &str,
    m: &crate::model::Member,
) -> Result<(), String> {
    let got = now_member(h.core(), case, m).await?;
    if (got.status, got.balance_fen) != (AccountStatus::Sealed, m.balance_fen) {
        return Err(fail(
            case,
            format!(
                "after reserve {:?} {} fen, want Sealed {} fen",
                got.status, got.balance_fen, m.balance_fen
            ),
        ));
    }
    let hold = h.hold_of(case_id).await?;
    if hold != Some((m.account_no.clone(), "held".into())) {
        return Err(fail(
            case,
            format!("hold record {hold:?}, want held on {}", m.account_no),
        ));
    }
    let r = retried(case, || h.core().reserve(case_id, &m.account_no)).await?;
    if r.principal_fen != m.balance_fen || r.account_no != m.account_no {
        return Err(fail(case, format!("reserve again answered {r:?}")));
    }
    Ok(())
}

/// The case closed the account once: closed-transferred, balance 0, reason 07, one 07 posting
/// of the whole balance this month, the hold record `closed`.
async fn closed_once(
    h: &dyn FaultHarness,
    case: &str,
    case_id: &str,
    m: &crate::model::Member,
) -> Result<(), String> {
    let got = now_member(h.core(), case, m).await?;
    if got.status != AccountStatus::ClosedTransferred
        || got.balance_fen != 0
        || got.close_reason.as_deref() != Some("07")
    {
        return Err(fail(
            case,
            format!(
                "after close-out {:?} {} fen reason {:?}",
                got.status, got.balance_fen, got.close_reason
            ),
        ));
    }
    let out = postings_now(
        h.core(),
        case,
        &m.account_no,
        crate::model::business_type::TRANSFER_OUT,
    )
    .await?;
    if out.len() != 1 || out[0].amount_fen != -m.balance_fen {
        return Err(fail(
            case,
            format!(
                "want one 07 posting of {} fen this month, got {out:?}",
                -m.balance_fen
            ),
        ));
    }
    let hold = h.hold_of(case_id).await?;
    if hold != Some((m.account_no.clone(), "closed".into())) {
        return Err(fail(
            case,
            format!("hold record {hold:?}, want closed on {}", m.account_no),
        ));
    }
    Ok(())
}

/// The case released the account once: back to its status, balance untouched, the hold record
/// `released`, no 07 posting.
async fn released_once(
    h: &dyn FaultHarness,
    case: &str,
    case_id: &str,
    m: &crate::model::Member,
) -> Result<(), String> {
    let got = now_member(h.core(), case, m).await?;
    if (got.status, got.balance_fen) != (m.status, m.balance_fen) {
        return Err(fail(
            case,
            format!(
                "after release {:?} {} fen, want {:?} {} fen",
                got.status, got.balance_fen, m.status, m.balance_fen
            ),
        ));
    }
    let hold = h.hold_of(case_id).await?;
    if hold != Some((m.account_no.clone(), "released".into())) {
        return Err(fail(
            case,
            format!("hold record {hold:?}, want released on {}", m.account_no),
        ));
    }
    let out = postings_now(
        h.core(),
        case,
        &m.account_no,
        crate::model::business_type::TRANSFER_OUT,
    )
    .await?;
    if !out.is_empty() {
        return Err(fail(case, format!("released, yet 07 postings {out:?}")));
    }
    Ok(())
}

/// The case credited the account once: balance + amount, one 08 posting of the amount this
/// month, one credit record naming the account.
async fn credited_once(
    h: &dyn FaultHarness,
    case: &str,
    case_id: &str,
    m: &crate::model::Member,
    fen: i64,
) -> Result<(), String> {
    let got = now_member(h.core(), case, m).await?;
    if got.balance_fen != m.balance_fen + fen {
        return Err(fail(
            case,
            format!(
                "after credit {} fen, want {} fen",
                got.balance_fen,
                m.balance_fen + fen
            ),
        ));
    }
    let ins = postings_now(
        h.core(),
        case,
        &m.account_no,
        crate::model::business_type::TRANSFER_IN,
    )
    .await?;
    if ins.iter().filter(|d| d.amount_fen == fen).count() != 1 {
        return Err(fail(
            case,
            format!("want one 08 posting of {fen} fen this month, got {ins:?}"),
        ));
    }
    let credit = h.credit_of(case_id).await?;
    if credit.as_deref() != Some(m.account_no.as_str()) {
        return Err(fail(
            case,
            format!("credit record {credit:?}, want {}", m.account_no),
        ));
    }
    Ok(())
}

/// The normal resident-id accounts the fault cases use: the 5th to the 12th (the transfer cases
/// use the first three, the unknown-state case the fourth).
fn fault_accounts(
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<Vec<crate::model::Member>, String> {
    let v: Vec<_> = (0..n)
        .map(|i| generate(centre, opts, i).member)
        .filter(|m| m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId)
        .skip(4)
        .take(8)
        .collect();
    if v.len() < 8 {
        return Err(fail("setup", "fewer than 12 normal accounts seeded"));
    }
    Ok(v)
}

/// Every write meets one fault `when` and is retried by the caller: reserve then close-out of
/// one account, reserve then release of another, a credit of a third. Each takes effect once
/// (status, balance, postings, the hold and credit records). `accounts`: three members.
async fn writes_with_fault(
    h: &dyn FaultHarness,
    when: FaultWhen,
    accounts: &[crate::model::Member],
) -> Result<(), String> {
    let [x, y, z] = accounts else {
        return Err(fail("setup", "want three accounts"));
    };
    let tag = when.name();
    let case = format!("{tag}: reserve, then close-out");
    let cx = format!("fault-{tag}-x");
    faulted_write(h, &case, Write::Reserve(&cx, &x.account_no), when).await?;
    held_once(h, &case, &cx, x).await?;
    faulted_write(h, &case, Write::CloseOut(&cx), when).await?;
    closed_once(h, &case, &cx, x).await?;
    retried(&case, || h.core().close_out(&cx)).await?;
    closed_once(h, &case, &cx, x).await?;

    let case = format!("{tag}: reserve, then release");
    let cy = format!("fault-{tag}-y");
    faulted_write(h, &case, Write::Reserve(&cy, &y.account_no), when).await?;
    held_once(h, &case, &cy, y).await?;
    faulted_write(h, &case, Write::Release(&cy), when).await?;
    released_once(h, &case, &cy, y).await?;

    let case = format!("{tag}: credit-in");
    let cz = format!("fault-{tag}-z");
    faulted_write(h, &case, Write::CreditIn(&cz, &z.account_no, 77_700), when).await?;
    credited_once(h, &case, &cz, z, 77_700).await?;
    retried(&case, || {
        h.core().credit_in(&cz, &z.account_no, 77_700, &[])
    })
    .await?;
    credited_once(h, &case, &cz, z, 77_700).await
}

/// The reply of every write is lost after the core applied it, and the caller retries: the
/// effect happens once.
pub async fn reply_lost_after_apply(
    h: &dyn FaultHarness,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let a = fault_accounts(centre, opts, n)?;
    writes_with_fault(h, FaultWhen::AfterApply, &a[0..3]).await
}

/// Every write times out before it reaches the core, and the caller retries: the effect
/// happens once.
pub async fn timeout_before_write(
    h: &dyn FaultHarness,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let a = fault_accounts(centre, opts, n)?;
    writes_with_fault(h, FaultWhen::Before, &a[3..6]).await
}

/// The core system restarts between reserve and close-out: close-out succeeds (the adapter
/// reconnects) and closes once; a second close-out changes nothing.
pub async fn restart_between_reserve_and_close_out(
    h: &mut dyn FaultHarness,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let a = fault_accounts(centre, opts, n)?;
    let m = &a[6];
    let case = "restart between reserve and close-out";
    let id = "fault-restart-close";
    retried(case, || h.core().reserve(id, &m.account_no)).await?;
    held_once(&*h, case, id, m).await?;
    h.restart().await.map_err(|e| fail(case, e))?;
    // The first call after the restart succeeds: the adapter reconnects by itself.
    h.core()
        .close_out(id)
        .await
        .map_err(|e| fail(case, format!("close-out after the restart: {e:?}")))?;
    closed_once(&*h, case, id, m).await?;
    retried(case, || h.core().close_out(id)).await?;
    closed_once(&*h, case, id, m).await
}

/// A credit-in, the core system restarted, the same credit-in again: credited once.
pub async fn credit_twice_across_a_restart(
    h: &mut dyn FaultHarness,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    let a = fault_accounts(centre, opts, n)?;
    let m = &a[7];
    let case = "credit-in twice across a restart";
    let id = "fault-restart-credit";
    let history = generate(centre, opts, 0).deposits;
    retried(case, || {
        h.core().credit_in(id, &m.account_no, 45_600, &history)
    })
    .await?;
    credited_once(&*h, case, id, m, 45_600).await?;
    h.restart().await.map_err(|e| fail(case, e))?;
    h.core()
        .credit_in(id, &m.account_no, 45_600, &history)
        .await
        .map_err(|e| fail(case, format!("credit-in after the restart: {e:?}")))?;
    credited_once(&*h, case, id, m, 45_600).await
}

/// Every fault case, in order; the first failure.
pub async fn run_faults(
    h: &mut dyn FaultHarness,
    centre: &str,
    opts: &SeedOptions,
    n: u64,
) -> Result<(), String> {
    reply_lost_after_apply(&*h, centre, opts, n).await?;
    timeout_before_write(&*h, centre, opts, n).await?;
    restart_between_reserve_and_close_out(h, centre, opts, n).await?;
    credit_twice_across_a_restart(h, centre, opts, n).await
}
