//! Replay's money check: every case the log rebuilds ([`CaseLog`]) against the node's store
//! (its `transfer_case` rows) and against the core system (the accounts as the adapter
//! reports them). Nothing here does I/O: the caller reads the store and the core system and
//! hands over what it found ([`StoreCase`], [`CoreFacts`]).
//!
//! What is compared, per case (each mismatch a [`MoneyFinding`] naming the case and field):
//! - `case`: a case in the log and not in the store, or the other way round;
//! - `status`: the store's state must be the log's or one reachable from it by steps that send
//!   nothing (see [`silent_successors`]); the row's `status` column must be its state's;
//! - `held_fen`, `paid_fen`, `bank_ref`, `payout`, `credited_fen`: the amounts the log's
//!   messages carry against the store's record and payment;
//! - core, origin (from the log's state, widened by the store's silent step): held ⇒ the
//!   account sealed (02) with the held balance; closed, negotiating, done ⇒ closed (04),
//!   balance 0, close reason 07; failed ⇒ not closed, the held amount back;
//! - core, destination: done ⇒ the account's business-type 08 credits since the case began
//!   include the credited amount once (credits of equal amount to one account are counted
//!   together: as many as the cases that credited it, no fewer, no more).

use super::money::CaseLog;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A case as the node's store has it (read by the caller from `transfer_case`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreCase {
    pub case_id: String,
    pub role: String,
    /// The row's `status` column.
    pub row_status: String,
    /// The status inside the row's case state (JSON).
    pub status: String,
    /// The transfer-out record's amount.
    pub held_fen: Option<i64>,
    /// The payment: (paid, amount, bank reference).
    pub payment: Option<(bool, i64, String)>,
    /// The origin's account (origin) or the member's account here (destination).
    pub account_no: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An account as the core system reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoreAccount {
    pub account_no: String,
    /// Account status code (01 normal, 02 sealed, 04 closed-transferred, ...).
    pub status: String,
    pub balance_fen: i64,
    pub close_reason: Option<String>,
}

/// What the core system says, as read by the caller.
#[derive(Debug, Clone, Default)]
pub struct CoreFacts {
    /// Origin cases: the person's account (None: the core has no such member).
    pub origin: BTreeMap<String, Option<CoreAccount>>,
    /// Destination accounts: the amounts of their business-type 08 postings since the
    /// earliest case on the account began.
    pub credits: BTreeMap<String, Vec<i64>>,
    /// Cases the core system could not be asked about, with why.
    pub unreadable: BTreeMap<String, String>,
}

/// One money mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyFinding {
    /// `store_differs`, `core_differs`, `missing_in_store`, `missing_in_log`.
    pub kind: String,
    pub case_id: String,
    pub role: String,
    pub field: String,
    /// What the log (or, for the core, the case) says.
    pub expected: String,
    /// What the store or the core system says.
    pub found: String,
    /// Seconds since the case's last logged step (or its store row's last change).
    pub age_seconds: i64,
}

/// States the store may be in when the log proves `log_state`: itself and those reached from
/// it by steps that send no message.
pub fn silent_successors(role: &str, log_state: &str) -> &'static [&'static str] {
    match (role, log_state) {
        ("origin", "letter_received") => &["letter_received", "accepted", "releasing"],
        ("origin", "held") => &["held", "paid", "releasing"],
        ("origin", "closed") => &["closed"],
        ("destination", "negotiating") => &["negotiating", "crediting"],
        (_, s) => match s {
            "letter_sent" => &["letter_sent"],
            "letter_received" => &["letter_received"],
            "accepted" => &["accepted"],
            "out_received" => &["out_received"],
            "crediting" => &["crediting"],
            "negotiating" => &["negotiating"],
            "done" => &["done"],
            "negotiated_done" => &["negotiated_done"],
            "refused" => &["refused"],
            "cancelled" => &["cancelled"],
            "failed" => &["failed"],
            "expired" => &["expired"],
            _ => &[],
        },
    }
}

fn show(v: Option<i64>) -> String {
    v.map(|v| format!("{v} fen"))
        .unwrap_or_else(|| "none".into())
}

struct Ctx<'a> {
    out: &'a mut Vec<MoneyFinding>,
    now_ms: i64,
}

impl Ctx<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &str,
        case_id: &str,
        role: &str,
        field: &str,
        expected: String,
        found: String,
        since_ms: i64,
    ) {
        self.out.push(MoneyFinding {
            kind: kind.into(),
            case_id: case_id.into(),
            role: role.into(),
            field: field.into(),
            expected,
            found,
            age_seconds: (self.now_ms - since_ms).max(0) / 1000,
        });
    }
}

/// Compare the log's cases of one centre with its store's.
pub fn check_store(logs: &[CaseLog], store: &[StoreCase], now_ms: i64) -> Vec<MoneyFinding> {
    let mut out = Vec::new();
    let mut cx = Ctx {
        out: &mut out,
        now_ms,
    };
    let by_id: BTreeMap<&str, &StoreCase> = store.iter().map(|s| (s.case_id.as_str(), s)).collect();
    let logged: BTreeSet<&str> = logs.iter().map(|l| l.case_id.as_str()).collect();
    for l in logs {
        let Some(s) = by_id.get(l.case_id.as_str()) else {
            if !l.exists {
                continue; // only a status query about a case this side never had
            }
            cx.push(
                "missing_in_store",
                &l.case_id,
                &l.role,
                "case",
                format!("a {} case, {}", l.role, l.state()),
                "no transfer_case row".into(),
                l.last_ms,
            );
            continue;
        };
        compare_case(&mut cx, l, s);
    }
    for s in store {
        if !logged.contains(s.case_id.as_str()) {
            cx.push(
                "missing_in_log",
                &s.case_id,
                &s.role,
                "case",
                "no transfer entry in the log".into(),
                format!("a {} case, {}", s.role, s.status),
                s.updated_ms,
            );
        }
    }
    out
}

fn compare_case(cx: &mut Ctx<'_>, l: &CaseLog, s: &StoreCase) {
    let id = l.case_id.as_str();
    let at = l.last_ms;
    let d = |cx: &mut Ctx<'_>, field: &str, expected: String, found: String| {
        cx.push("store_differs", id, &l.role, field, expected, found, at);
    };
    if s.role != l.role {
        d(cx, "role", l.role.clone(), s.role.clone());
        return;
    }
    if s.row_status != s.status {
        d(
            cx,
            "status",
            format!("the row's status column to be its state's ({})", s.status),
            s.row_status.clone(),
        );
    }
    // A purged (or undecodable) payload hides which step a message was: neither the state
    // nor the amounts can be checked, only counted (`CaseLog::unreadable`).
    let readable = l.unreadable == 0;
    let allowed = silent_successors(&l.role, l.state());
    if readable && !allowed.contains(&s.status.as_str()) {
        d(
            cx,
            "status",
            format!("{} (or {})", l.state(), allowed.join(", ")),
            s.status.clone(),
        );
    }
    let held = l.held.as_ref().map(|e| e.amount_fen);
    if readable && held != s.held_fen {
        d(cx, "held_fen", show(held), show(s.held_fen));
    }
    match (&l.paid, &l.released, &s.payment) {
        (Some(p), _, Some((true, amount, reference))) => {
            if p.amount_fen != *amount {
                d(
                    cx,
                    "paid_fen",
                    show(Some(p.amount_fen)),
                    show(Some(*amount)),
                );
            }
            if p.reference != *reference {
                d(cx, "bank_ref", p.reference.clone(), reference.clone());
            }
        }
        (Some(p), _, other) => d(
            cx,
            "payout",
            format!("paid {} fen", p.amount_fen),
            match other {
                Some(_) => "the payout failed".into(),
                None => "no payment".into(),
            },
        ),
        (None, Some(_), Some((false, _, _))) => {}
        (None, Some(_), other) => d(
            cx,
            "payout",
            "the payout failed".into(),
            match other {
                Some((_, a, _)) => format!("paid {a} fen"),
                None => "no payment".into(),
            },
        ),
        // A payment the log does not show yet: only an origin between the bank's answer and
        // its close-out or release (which send the notice) may have one.
        (None, None, Some((paid, amount, _))) if readable => {
            let silent = l.is_origin() && matches!(s.status.as_str(), "paid" | "releasing");
            if !silent {
                d(
                    cx,
                    if *paid { "paid_fen" } else { "payout" },
                    "none".into(),
                    if *paid {
                        format!("{amount} fen")
                    } else {
                        "the payout failed".into()
                    },
                );
            }
        }
        _ => {}
    }
    // A credit is the payment's amount: the destination credits what the bank paid.
    if let Some(c) = &l.credited {
        let stored = s.payment.as_ref().filter(|p| p.0).map(|p| p.1);
        if stored != Some(c.amount_fen) {
            d(cx, "credited_fen", show(Some(c.amount_fen)), show(stored));
        }
    }
}

/// The destination cases that must have credited an amount to an account, and those that may
/// have (crediting: the credit may be made, its result not yet recorded).
type Credits<'a> = (Vec<&'a CaseLog>, Vec<&'a CaseLog>);

/// Compare each case (its state from the log, widened by the store's silent step; its
/// amounts from the log, or the store's where the log's payload is purged) with the core
/// system.
pub fn check_core(
    logs: &[CaseLog],
    store: &[StoreCase],
    core: &CoreFacts,
    now_ms: i64,
) -> Vec<MoneyFinding> {
    let mut out = Vec::new();
    let mut cx = Ctx {
        out: &mut out,
        now_ms,
    };
    let by_id: BTreeMap<&str, &StoreCase> = store.iter().map(|s| (s.case_id.as_str(), s)).collect();
    // Destination credits: (account, amount) -> (cases that must have credited it, cases
    // that may have).
    let mut groups: BTreeMap<(&str, i64), Credits<'_>> = BTreeMap::new();
    for l in logs {
        let Some(s) = by_id.get(l.case_id.as_str()) else {
            continue;
        };
        if core.unreadable.contains_key(&l.case_id) {
            continue;
        }
        let held = l
            .held
            .as_ref()
            .map(|e| e.amount_fen)
            .or(s.held_fen)
            .unwrap_or(0);
        if l.is_origin() {
            origin_case(&mut cx, l, s, core, held);
            continue;
        }
        let amount = l.credited.as_ref().map(|e| e.amount_fen).or(s
            .payment
            .as_ref()
            .filter(|p| p.0)
            .map(|p| p.1));
        let Some(amount) = amount else { continue };
        let g = groups.entry((s.account_no.as_str(), amount)).or_default();
        match (l.state(), s.status.as_str()) {
            ("done" | "negotiated_done", _) => g.0.push(l),
            (_, "crediting") => g.1.push(l),
            _ => {}
        }
    }
    for ((account, amount), (must, may)) in groups {
        let found = core
            .credits
            .get(account)
            .map(|c| c.iter().filter(|a| **a == amount).count())
            .unwrap_or(0);
        let name = |l: &CaseLog| l.case_id.clone();
        if found < must.len() {
            for l in must.iter().skip(found) {
                cx.push(
                    "core_differs",
                    &l.case_id,
                    &l.role,
                    "credit_08",
                    format!(
                        "a business-type 08 credit of {amount} fen on account {account} ({} case(s) credited it: {})",
                        must.len(),
                        must.iter().map(|l| name(l)).collect::<Vec<_>>().join(", ")
                    ),
                    format!("{found} such credit(s)"),
                    l.last_ms,
                );
            }
        } else if found > must.len() + may.len()
            && let Some(l) = must.iter().chain(may.iter()).next()
        {
            cx.push(
                "core_differs",
                &l.case_id,
                &l.role,
                "credit_08",
                format!(
                    "{} business-type 08 credit(s) of {amount} fen on account {account}",
                    must.len() + may.len()
                ),
                format!("{found}: credited more than once"),
                l.last_ms,
            );
        }
    }
    out
}

fn origin_case(cx: &mut Ctx<'_>, l: &CaseLog, s: &StoreCase, core: &CoreFacts, held: i64) {
    let id = l.case_id.as_str();
    // What the core must show: the log's state, or what the store's silent step allows.
    let closing = matches!(s.status.as_str(), "paid");
    let releasing = matches!(s.status.as_str(), "releasing");
    let state = l.state();
    let (closed, sealed, reopened) = match state {
        "closed" | "negotiating" | "done" | "negotiated_done" => (true, false, false),
        "held" if !closing && !releasing => (false, true, false),
        "failed" => (false, false, true),
        _ => return,
    };
    let Some(acct) = core.origin.get(id) else {
        return;
    };
    let mut d = |field: &str, expected: String, found: String| {
        cx.push(
            "core_differs",
            id,
            &l.role,
            field,
            expected,
            found,
            l.last_ms,
        );
    };
    let Some(a) = acct else {
        d(
            "account",
            format!("account {} of the case's person", s.account_no),
            "the core system has no such member".into(),
        );
        return;
    };
    if a.account_no != s.account_no {
        d("account", s.account_no.clone(), a.account_no.clone());
        return;
    }
    if closed {
        if a.status != "04" {
            d(
                "account_status",
                format!("04 (closed-transferred: the case is {state})"),
                a.status.clone(),
            );
        }
        if a.balance_fen != 0 {
            d("balance_fen", "0".into(), a.balance_fen.to_string());
        }
        if let Some(r) = &a.close_reason
            && r != "07"
        {
            d("close_reason", "07".into(), r.clone());
        }
    }
    if sealed {
        if a.status != "02" {
            d(
                "account_status",
                "02 (sealed: the case holds it)".into(),
                a.status.clone(),
            );
        }
        if a.balance_fen != held {
            d(
                "balance_fen",
                format!("{held} (held)"),
                a.balance_fen.to_string(),
            );
        }
    }
    if reopened {
        if a.status == "04" {
            d(
                "account_status",
                "not closed (the payout failed and the hold was released)".into(),
                a.status.clone(),
            );
        }
        if a.balance_fen != held {
            d(
                "balance_fen",
                format!("{held} (the money returned)"),
                a.balance_fen.to_string(),
            );
        }
    }
}
