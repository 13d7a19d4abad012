//! The driver: makes the outside call a case waits for ([`hfx_case::Action`]) and commits
//! its result as the case's next event. Every call is idempotent by case id (the core
//! system's holds and credits, the bank's payouts), so a call cut short by a crash, or made
//! twice by two node processes sharing a store, takes effect once. A call that fails in doubt
//! (unreachable, timeout) gives no event: it is made again later, with backoff; a case whose
//! step does not finish by the step deadline is parked for a clerk with the reason.

use super::{Applied, apply_stored, case_of, is_unique_violation, wire};
use crate::error::HfxResult;
use crate::log::{Envelope, RECV, SENT};
use crate::node::Node;
use crate::store::WriteOp;
use hfx_adapters::model::{
    AccountStatus, Deposit, IdType, YearMonth, business_type, date_from_u32, date_to_u32,
};
use hfx_adapters::{AdapterError, MemberMatch, find_member};
use hfx_case::{
    AccountFound, Action, BankAnswer, Case, Event, Posting, Refusal, Role, TransferRecord, refusal,
};
use hfx_proto::v1 as pb;
use hfx_tlog::methods::METHOD_QUERY_CASE;
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

#[derive(Default)]
struct Book {
    running: HashSet<String>,
    /// case id → (failed attempts, next try unix ms)
    retry: HashMap<String, (u32, i64)>,
}

type Shared = Arc<Mutex<Book>>;

fn book(b: &Shared) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn run(node: Arc<Node>) {
    let Some(mut kicks) = node.transfers.take_kicks() else {
        return;
    };
    let shared: Shared = Arc::default();
    match node.store.cases_open().await {
        Ok(rows) => {
            if !rows.is_empty() {
                tracing::info!(
                    open = rows.len(),
                    "transfer cases open at start: resuming them"
                );
            }
            for r in rows {
                node.transfers.kick(&r.case_id);
            }
        }
        Err(e) => {
            tracing::error!(error = %crate::error::chain(&e), "listing open transfer cases failed")
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            k = kicks.recv() => match k {
                Some(id) => start(&node, &shared, id),
                None => return,
            },
            _ = tick.tick() => {
                ticks += 1;
                let now = crate::now_ms();
                let due: Vec<String> = book(&shared)
                    .retry
                    .iter()
                    .filter(|(_, (_, at))| *at <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in due {
                    start(&node, &shared, id);
                }
                if ticks.is_multiple_of(4) {
                    sweep(&node, &shared).await;
                }
            }
        }
    }
}

fn start(node: &Arc<Node>, shared: &Shared, case_id: String) {
    {
        let mut b = book(shared);
        if let Some((_, at)) = b.retry.get(&case_id)
            && *at > crate::now_ms()
        {
            return;
        }
        if !b.running.insert(case_id.clone()) {
            return;
        }
    }
    let (node, shared) = (node.clone(), shared.clone());
    tokio::spawn(async move {
        drive(&node, &shared, &case_id).await;
        book(&shared).running.remove(&case_id);
    });
}

/// Every few seconds: letters past their deadline (QueryPeer), and parking of cases that
/// have not moved for the step deadline.
async fn sweep(node: &Arc<Node>, shared: &Shared) {
    let Ok(rows) = node.store.cases_open().await else {
        return;
    };
    let now = crate::now_ms();
    let deadline = node.cfg.transfer.step_deadline_secs as i64 * 1000;
    for r in rows {
        let Ok(c) = case_of(&r) else { continue };
        if c.next_action(now).is_some() {
            start(node, shared, r.case_id.clone());
        }
        if r.stuck_reason.is_some() {
            continue;
        }
        let reason = if c.role == Role::Destination && c.status == hfx_case::Status::Negotiating {
            Some(format!(
                "negotiation: {}; a clerk settles it (hfx transfer resolve {} accept)",
                c.negotiation.clone().unwrap_or_default(),
                c.case_id
            ))
        } else if now - c.updated_ms > deadline {
            Some(format!(
                "no progress for {} s in {} (waiting for {})",
                (now - c.updated_ms) / 1000,
                c.status,
                c.next_action(now)
                    .map(|a| a.as_str())
                    .unwrap_or("the other centre")
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            tracing::warn!(case = %c.case_id, %reason, "transfer case parked for a clerk");
            let _ = node.store.case_set_stuck(&c.case_id, Some(&reason)).await;
        }
    }
}

async fn drive(node: &Arc<Node>, shared: &Shared, case_id: &str) {
    loop {
        let row = match node.store.case_get(case_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(case = %case_id, error = %crate::error::chain(&e), "driver: reading the case failed");
                return retry(node, shared, case_id, None, "store read failed").await;
            }
        };
        let Ok(c) = case_of(&row) else { return };
        let Some(action) = c.next_action(crate::now_ms()) else {
            book(shared).retry.remove(case_id);
            return;
        };
        super::crash_point(node, &format!("before_action:{}", action.as_str()));
        // The step (its outside call and the commit of its result) is a child of the call
        // that made the case, by the case's stored traceparent: one trace per transfer.
        let step = tracing::info_span!(
            "transfer.step",
            centre = %node.centre,
            case_id = %c.case_id,
            action = ?action,
        );
        crate::telemetry::adopt_traceparent(&step, row.trace_parent.as_deref());
        match perform(node, &c, action).instrument(step.clone()).await {
            Ok(Some(ev)) => {
                super::crash_point(node, &format!("after_action:{}", action.as_str()));
                if let Err(e) = apply(node, case_id, ev).instrument(step).await {
                    tracing::warn!(case = %case_id, action = action.as_str(), error = %crate::error::chain(&e), "driver: committing the result failed; the step runs again");
                    return retry(node, shared, case_id, Some(&c), &e.to_string()).await;
                }
                book(shared).retry.remove(case_id);
            }
            Ok(None) => {
                return retry(
                    node,
                    shared,
                    case_id,
                    Some(&c),
                    "waiting for the other centre",
                )
                .await;
            }
            Err(why) => {
                tracing::info!(case = %case_id, action = action.as_str(), %why, "driver: step in doubt; trying again later");
                return retry(node, shared, case_id, Some(&c), &why).await;
            }
        }
    }
}

async fn retry(node: &Node, shared: &Shared, case_id: &str, c: Option<&Case>, why: &str) {
    let attempts = {
        let mut b = book(shared);
        let e = b.retry.entry(case_id.to_string()).or_insert((0, 0));
        e.0 += 1;
        let cfg = &node.cfg.transfer;
        let wait = (cfg.relay_backoff_min_ms.max(1) * (1u64 << e.0.min(16)))
            .min(cfg.relay_backoff_max_ms.max(1));
        e.1 = crate::now_ms() + wait as i64;
        e.0
    };
    let deadline = node.cfg.transfer.step_deadline_secs as i64 * 1000;
    if let Some(c) = c
        && (attempts >= 10 || crate::now_ms() - c.updated_ms > deadline)
    {
        let reason = format!(
            "{} has not succeeded after {attempts} attempts: {why}; still trying",
            c.next_action(crate::now_ms())
                .map(|a| a.as_str())
                .unwrap_or("the step")
        );
        let _ = node.store.case_set_stuck(case_id, Some(&reason)).await;
    }
}

/// Commit an action's result as the case's event (reloading on a lost compare-and-swap).
pub async fn apply(node: &Node, case_id: &str, ev: Event) -> HfxResult<()> {
    let actor = super::node_actor(node);
    match apply_stored(node, case_id, Some(ev.clone()), &actor, vec![]).await {
        Ok(Applied::NotTaken(e)) => {
            tracing::warn!(case = %case_id, error = %e, "driver: the case does not take the result");
            Ok(())
        }
        Ok(_) => Ok(()),
        // A unique-index refusal on acceptance: another case holds the person.
        Err(e) if is_unique_violation(&e) && matches!(ev, Event::Checked(Ok(_))) => {
            apply_stored(node, case_id, Some(in_flight_refusal()), &actor, vec![])
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    }
}

fn in_flight_refusal() -> Event {
    Event::Checked(Err(Refusal::new(
        refusal::CASE_IN_FLIGHT,
        "another transfer for this person is in flight at the origin",
    )))
}

/// The outside call of `action`. `Ok(None)`: nothing yet (ask again later); `Err`: in doubt.
async fn perform(node: &Node, c: &Case, action: Action) -> Result<Option<Event>, String> {
    let doubt = |e: AdapterError| format!("core system: {}", e.detail());
    match action {
        Action::Check => check(node, c).await.map(Some),
        Action::Reserve => reserve(node, c).await.map(Some),
        Action::Payout => {
            let bank = node
                .bank
                .as_ref()
                .ok_or("no settlement bank is configured ([transfer] bank_url)")?;
            let amount = c
                .record
                .as_ref()
                .map(|r| r.amount_fen)
                .ok_or("no record to pay")?;
            let p = hfx_adapters::bank::Payout {
                case_id: c.case_id.clone(),
                from_centre: c.centre.clone(),
                to_centre: c.peer.clone(),
                amount_fen: amount,
            };
            match bank.payout(&p).await {
                Ok(hfx_adapters::bank::PayoutOutcome::Paid {
                    bank_ref,
                    amount_fen,
                }) => Ok(Some(Event::Bank(BankAnswer::Paid {
                    bank_ref,
                    amount_fen,
                }))),
                Ok(hfx_adapters::bank::PayoutOutcome::Declined { code, reason }) => {
                    Ok(Some(Event::Bank(BankAnswer::Declined { code, reason })))
                }
                // A refused request is not a refused payout: the money's place is unknown
                // until the bank says so. The case waits (and is parked for a clerk).
                Err(e) => Err(format!("bank: {}", crate::error::chain(&e))),
            }
        }
        Action::CloseOut => node
            .core
            .close_out(&c.case_id)
            .await
            .map(|_| Some(Event::ClosedOut))
            .map_err(doubt),
        Action::Release => match node.core.release(&c.case_id).await {
            Ok(()) => Ok(Some(Event::Released)),
            // A hold refused before it was ever taken: nothing to release.
            Err(AdapterError::NotFound(_)) => Ok(Some(Event::Released)),
            Err(e) => Err(doubt(e)),
        },
        Action::Credit => {
            let letter = c.letter.as_ref().ok_or("no letter")?;
            let amount = c
                .payment
                .as_ref()
                .map(|p| p.amount_fen)
                .ok_or("no payment")?;
            let history: Vec<Deposit> = c
                .record
                .as_ref()
                .map(|r| r.history.iter().filter_map(deposit_of).collect())
                .unwrap_or_default();
            node.core
                .credit_in(&c.case_id, &letter.destination_account_no, amount, &history)
                .await
                .map(|_| Some(Event::Credited))
                .map_err(doubt)
        }
        Action::Deliver => {
            let bank = node
                .bank
                .as_ref()
                .ok_or("no settlement bank is configured ([transfer] bank_url)")?;
            bank.deliver(&c.case_id)
                .await
                .map(|_| Some(Event::Delivered))
                .map_err(|e| format!("bank: {}", crate::error::chain(&e)))
        }
        Action::QueryPeer => query_peer(node, c).await,
    }
}

fn deposit_of(p: &Posting) -> Option<Deposit> {
    Some(Deposit {
        date: date_from_u32(p.date)?,
        business_type: p.business_type.clone(),
        amount_fen: p.amount_fen,
        interest_fen: p.interest_fen,
        for_month: YearMonth::from_yyyymm(p.for_month)?,
    })
}

fn refuse(code: &str, reason: impl Into<String>) -> Event {
    Event::Checked(Err(Refusal::new(code, reason)))
}

/// O: the letter against the core system (DOMAIN §4.1 step 2).
async fn check(node: &Node, c: &Case) -> Result<Event, String> {
    let Some(letter) = c.letter.as_ref() else {
        return Ok(refuse(refusal::BAD_LETTER, "the case has no letter"));
    };
    let p = &letter.person;
    let Some(id_type) = IdType::from_code(&p.id_type) else {
        return Ok(refuse(
            refusal::BAD_LETTER,
            format!("id type {:?} is unknown", p.id_type),
        ));
    };
    let found = match find_member(node.core.as_ref(), id_type, &p.id_number, &p.name).await {
        Ok(f) => f,
        Err(e) if e.is_unavailable() => return Err(format!("core system: {}", e.detail())),
        Err(e) => {
            return Ok(refuse(
                "ORIGIN_RECORD_UNREADABLE",
                format!("the member's record cannot be read: {}", e.detail()),
            ));
        }
    };
    let m = match found {
        MemberMatch::Found(m) => m,
        MemberMatch::NotFound => {
            return Ok(refuse(
                refusal::NO_ACCOUNT,
                "no account for this id type and number",
            ));
        }
        MemberMatch::NameMismatch => {
            return Ok(refuse(
                refusal::NAME_MISMATCH,
                "the name does not match the account",
            ));
        }
    };
    if m.status.is_closed() {
        return Ok(refuse(
            refusal::ACCOUNT_CLOSED,
            format!("the account is closed (status {})", m.status.code()),
        ));
    }
    if m.status == AccountStatus::Frozen {
        return Ok(refuse(
            refusal::ACCOUNT_FROZEN,
            "the account is frozen (06)",
        ));
    }
    let hash = super::person_hash(&p.id_type, &p.id_number);
    match node.store.case_in_flight("origin", &hash).await {
        Ok(Some(other)) if other != c.case_id => {
            return Ok(refuse(
                refusal::CASE_IN_FLIGHT,
                format!("case {other} for this person is in flight here"),
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(format!("store: {e}")),
    }
    Ok(Event::Checked(Ok(AccountFound {
        account_no: m.account_no,
    })))
}

/// O: hold the balance and build the transfer-out record with the whole deposit history.
async fn reserve(node: &Node, c: &Case) -> Result<Event, String> {
    let doubt = |e: AdapterError| format!("core system: {}", e.detail());
    let (Some(letter), Some(account)) = (c.letter.as_ref(), c.origin_account_no.as_ref()) else {
        return Ok(Event::HoldRefused(Refusal::new(
            refusal::HOLD_REFUSED,
            "no account was found by the check",
        )));
    };
    let r = match node.core.reserve(&c.case_id, account).await {
        Ok(r) => r,
        Err(e) if e.is_unavailable() => return Err(doubt(e)),
        Err(e) => {
            return Ok(Event::HoldRefused(Refusal::new(
                refusal::HOLD_REFUSED,
                format!("the core system would not hold the balance: {}", e.detail()),
            )));
        }
    };
    let id_type = IdType::from_code(&letter.person.id_type).ok_or("bad id type")?;
    let m = node
        .core
        .member_by_id(id_type, &letter.person.id_number)
        .await
        .map_err(doubt)?
        .ok_or("the member is gone from the core system")?;
    let opened = YearMonth::of(m.opened_on);
    let deposits = node
        .core
        .deposits(&m.account_no, opened, m.paid_up_to)
        .await
        .map_err(doubt)?;
    let loans = node
        .core
        .loans_of(id_type, &letter.person.id_number)
        .await
        .map_err(doubt)?;
    let paid_months: HashSet<YearMonth> = deposits
        .iter()
        .filter(|d| {
            d.business_type == business_type::REMITTANCE
                || d.business_type == business_type::BACK_PAYMENT
        })
        .map(|d| d.for_month)
        .collect();
    let six = (0..6).all(|i| paid_months.contains(&m.paid_up_to.add_months(-i)));
    Ok(Event::Reserved(TransferRecord {
        amount_fen: r.amount_fen(),
        principal_fen: r.principal_fen,
        interest_fen: r.interest_fen,
        opened_month: opened.yyyymm(),
        paid_up_to_month: m.paid_up_to.yyyymm(),
        six_consecutive_months: six,
        loans_used: loans.len() as u32,
        unsettled_loan: loans.iter().any(|l| l.loan.outstanding_fen > 0),
        // No core system here keeps a fraud mark; the flag is carried for the national format.
        fraud_flag: false,
        history: deposits
            .iter()
            .map(|d| Posting {
                date: date_to_u32(d.date),
                business_type: d.business_type.clone(),
                amount_fen: d.amount_fen,
                interest_fen: d.interest_fen,
                for_month: d.for_month.yyyymm(),
            })
            .collect(),
    }))
}

/// D: the letter's deadline passed unconfirmed: the origin's view (a tombstone if it never
/// saw the case). The exchange is logged like any other.
async fn query_peer(node: &Node, c: &Case) -> Result<Option<Event>, String> {
    let deadline = c.letter.as_ref().map(|l| l.deadline_ms).unwrap_or(0);
    let message_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let checkpoint_size = node.store.log().lock().await.size();
    let req = pb::CaseMessage {
        header: Some(pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: c.case_id.clone(),
            purpose: super::PURPOSE as i32,
            acting_person: super::node_actor(node),
            sender_checkpoint_size: checkpoint_size,
            sent_at_unix_ms: crate::now_ms(),
        }),
        reason: "letter unconfirmed past its deadline".into(),
        deadline_unix_ms: deadline,
    };
    let req_bytes = req.encode_to_vec();
    let channel = node.peers.channel(&c.peer).map_err(|e| e.to_string())?;
    let mut client = pb::transfer_exchange_client::TransferExchangeClient::new(channel);
    let answer = client
        .query_case(req)
        .await
        .map_err(|s| format!("QueryCase to {}: {:?} {}", c.peer, s.code(), s.message()))?
        .into_inner();
    let answer_bytes = answer.encode_to_vec();
    let ops = vec![
        WriteOp::LogAppend {
            envelope: Envelope::draft(
                SENT,
                &c.peer,
                &message_id,
                &c.case_id,
                &format!("{METHOD_QUERY_CASE}#request"),
                &req_bytes,
            ),
            payload: req_bytes,
        },
        WriteOp::LogAppend {
            envelope: Envelope::draft(
                RECV,
                &c.peer,
                &message_id,
                &c.case_id,
                &format!("{METHOD_QUERY_CASE}#reply"),
                &answer_bytes,
            ),
            payload: answer_bytes,
        },
    ];
    node.store.write(ops).await.map_err(|e| e.to_string())?;
    let status = wire::status_from_answer(&answer.state, answer.status);
    if status == Some(hfx_case::Status::Expired) {
        check_tombstone(node, c, &answer)?;
    }
    Ok(status.map(|status| Event::PeerState { status }))
}

/// An origin's expiry tombstone ends the case only if the origin's own key signed it, for
/// this case: a forged or misplaced tombstone would let a destination give up a case the
/// origin may still pay out.
fn check_tombstone(node: &Node, c: &Case, answer: &pb::CaseState) -> Result<(), String> {
    let note = std::str::from_utf8(&answer.tombstone_signature)
        .map_err(|_| "the tombstone is not text".to_string())?;
    let verifier = crate::witness::verifier_for(node, &c.peer).map_err(|e| e.to_string())?;
    let opened = hfx_tlog::note::open_note(note, std::slice::from_ref(&verifier))
        .map_err(|e| format!("the tombstone's signature does not verify: {e}"))?;
    let want = super::peer::tombstone_text(&c.peer, &c.case_id, answer.tombstone_at_unix_ms);
    if !opened.is_signed_by(&verifier) || opened.text != want {
        return Err(format!(
            "the tombstone from {} is not for case {} (signed text {:?})",
            c.peer, c.case_id, opened.text
        ));
    }
    Ok(())
}
