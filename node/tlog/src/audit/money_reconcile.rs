//! Reconcile's money: every case across the centres' exports, both sides joined by case id,
//! its money placed (held at the origin, in transit at the bank, credited), and the breaks
//! listed with their age.
//!
//! Each side's own log is the word on its own acts: the origin's on the hold, the close and
//! the release; the destination's on the credit. When a side's export is not in the set, the
//! other side's received messages stand in for it.
//!
//! The zone's money in flight (what the logs show, not the bank's ledger):
//! - held at origins: the origin sent the transfer-out record (sealed, held) and no payment
//!   notice yet; this includes a payout the bank has made whose close-out the origin has not
//!   yet recorded (the notice is sent with the close-out);
//! - in transit: the origin closed the account (a paid notice) and the destination has not
//!   credited it: the money is at the bank (or awaiting a clerk's negotiation);
//! - credited, not closed: the destination credited a case whose origin has not closed the
//!   account: money that exists twice until the origin closes (always a break).

use super::money::{CaseLog, by_case};
use serde::Serialize;

/// A money break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyBreak {
    /// `credited_not_closed`, `closed_not_credited`, `held_past_deadline`, `amount_differs`.
    pub kind: String,
    pub case_id: String,
    pub origin: String,
    pub destination: String,
    pub amount_fen: i64,
    /// Seconds since the step the break waits after (the credit, the close, the hold).
    pub age_seconds: i64,
    pub detail: String,
}

/// The zone's money in flight, by where the logs place it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub held_at_origins_fen: i64,
    pub held_cases: u64,
    pub in_transit_fen: i64,
    pub in_transit_cases: u64,
    pub credited_not_closed_fen: i64,
    pub credited_not_closed_cases: u64,
    pub total_fen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MoneyReport {
    /// Cases seen in any export.
    pub cases: u64,
    /// Cases whose other side's export is not in the set.
    pub one_sided: u64,
    /// Cases done on every side exported.
    pub settled: u64,
    pub in_flight: InFlight,
    pub breaks: Vec<MoneyBreak>,
    /// Held longer than this is a break (seconds).
    pub hold_deadline_secs: u64,
}

/// Place every case's money and list the breaks; a hold older than `hold_deadline_secs`
/// (with neither close nor release) is a break.
pub fn reconcile_money(cases: &[CaseLog], now_ms: i64, hold_deadline_secs: u64) -> MoneyReport {
    let mut rep = MoneyReport {
        hold_deadline_secs,
        ..Default::default()
    };
    let age = |at: i64| (now_ms - at).max(0) / 1000;
    for (id, sides) in by_case(cases) {
        rep.cases += 1;
        let o = sides.iter().copied().find(|c| c.is_origin());
        let d = sides.iter().copied().find(|c| !c.is_origin());
        if o.is_none() || d.is_none() {
            rep.one_sided += 1;
        }
        let (origin, destination) = match (o, d) {
            (Some(o), _) => (o.centre.clone(), o.peer.clone()),
            (None, Some(d)) => (d.peer.clone(), d.centre.clone()),
            (None, None) => continue,
        };
        // Each side's own word, else the other side's receipt.
        let own_or_peer = |f: fn(&CaseLog) -> Option<&super::money::Evidence>,
                           own: Option<&CaseLog>,
                           other: Option<&CaseLog>| {
            match own {
                Some(c) => f(c).cloned(),
                None => other.and_then(f).cloned(),
            }
        };
        let held = own_or_peer(|c| c.held.as_ref(), o, d);
        let closed = own_or_peer(|c| c.paid.as_ref(), o, d);
        let released = own_or_peer(|c| c.released.as_ref(), o, d);
        let credited = own_or_peer(|c| c.credited.as_ref(), d, o);
        let negotiating = d
            .and_then(|d| d.negotiating)
            .or(o.and_then(|o| o.negotiating));
        let brk = |kind: &str, amount_fen: i64, at: i64, detail: String| MoneyBreak {
            kind: kind.into(),
            case_id: id.to_string(),
            origin: origin.clone(),
            destination: destination.clone(),
            amount_fen,
            age_seconds: age(at),
            detail,
        };
        match (&credited, &closed) {
            (Some(c), None) => {
                rep.in_flight.credited_not_closed_fen += c.amount_fen;
                rep.in_flight.credited_not_closed_cases += 1;
                rep.breaks.push(brk(
                    "credited_not_closed",
                    c.amount_fen,
                    c.at_ms,
                    if released.is_some() {
                        format!(
                            "{destination} credited {} fen, but {origin} released the hold and reopened the account",
                            c.amount_fen
                        )
                    } else {
                        format!(
                            "{destination} credited {} fen; {origin}'s log shows no close-out (no paid notice)",
                            c.amount_fen
                        )
                    },
                ));
            }
            (None, Some(p)) => {
                rep.in_flight.in_transit_fen += p.amount_fen;
                rep.in_flight.in_transit_cases += 1;
                rep.breaks.push(brk(
                    "closed_not_credited",
                    p.amount_fen,
                    p.at_ms,
                    match negotiating {
                        Some(_) => format!(
                            "{origin} closed the account and the bank paid {} fen; {destination} has not credited it: in negotiation, waiting for a clerk",
                            p.amount_fen
                        ),
                        None => format!(
                            "{origin} closed the account and the bank paid {} fen (ref {}); {destination} has not credited it",
                            p.amount_fen, p.reference
                        ),
                    },
                ));
            }
            (Some(c), Some(p)) => {
                if c.amount_fen != p.amount_fen {
                    rep.breaks.push(brk(
                        "amount_differs",
                        c.amount_fen - p.amount_fen,
                        c.at_ms,
                        format!(
                            "{origin} paid out {} fen, {destination} credited {} fen",
                            p.amount_fen, c.amount_fen
                        ),
                    ));
                } else if o.is_some_and(|o| o.state().ends_with("done"))
                    || d.is_some_and(|d| d.state().ends_with("done"))
                {
                    rep.settled += 1;
                }
            }
            (None, None) => {
                if let Some(h) = &held
                    && released.is_none()
                {
                    rep.in_flight.held_at_origins_fen += h.amount_fen;
                    rep.in_flight.held_cases += 1;
                    let deadline = h.at_ms + (hold_deadline_secs as i64).saturating_mul(1000);
                    if now_ms > deadline {
                        rep.breaks.push(brk(
                            "held_past_deadline",
                            h.amount_fen,
                            h.at_ms,
                            format!(
                                "{origin} holds {} fen since the transfer-out record, neither paid out and closed nor released, past its deadline ({hold_deadline_secs} s) by {} s",
                                h.amount_fen,
                                (now_ms - deadline) / 1000
                            ),
                        ));
                    }
                }
            }
        }
    }
    let f = &mut rep.in_flight;
    f.total_fen = f.held_at_origins_fen + f.in_transit_fen + f.credited_not_closed_fen;
    rep.breaks.sort_by(|a, b| {
        b.age_seconds
            .cmp(&a.age_seconds)
            .then_with(|| a.case_id.cmp(&b.case_id))
            .then_with(|| a.kind.cmp(&b.kind))
    });
    rep
}
