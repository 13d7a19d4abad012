//! The adapter contract: the same cases, run against every core system kind
//! (`adapters/standins/tests/contract/`). A core system under test must hold the deterministic
//! population `0..n` of [`crate::seed`] for `centre` with `opts` (n ≥ 200).
//!
//! The transfer writes of every kind run through the one hold/credit state machine
//! (`hfx_adapters::hold`): directly for sqlite, postgres and mariadb, in the stand-in's sqlite
//! master data behind the batch files and the vendor API.

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
