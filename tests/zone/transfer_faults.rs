//! Account transfers under faults, on real node processes: the settlement bank misbehaving in
//! each of its ways, two clerks starting the same person's transfer at once, a case parked
//! while its origin is down (and the clerk moves on it), and a payment notice forged by a third
//! centre. Every case ends final with both sides agreeing, and the money moves once or not at
//! all.

use crate::common::{peer_channel, reason};
use crate::transfer::{
    Mover, core_of, member_now, mover, start_request, transfer_zone, wait_final,
};
use hfx_adapters::CoreSystem;
use hfx_adapters::model::{AccountStatus, YearMonth, business_type};
use hfx_certs::Role;
use hfx_node::transfer::clerk::{MOVE_NOT_ALLOWED, TRANSFER_IN_FLIGHT};
use hfx_node::transfer::peer::CASE_NOT_YOURS;
use hfx_proto::v1 as pb;
use hfx_standins::bank::{CaseState, Fault, FaultMode, Ledger};
use hfx_zone::launcher::Zone;
use std::time::Duration;

pub(crate) fn timeline(v: &pb::TransferView) -> String {
    v.steps
        .iter()
        .map(|s| {
            format!(
                "{} {} {:>2} {}",
                s.centre, s.status, s.national_code, s.note
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rewrite the `[transfer]` section of a node's configuration (the node reads it at start).
pub(crate) fn edit_transfer_cfg(
    zone: &Zone,
    code: &str,
    edit: impl FnOnce(&mut hfx_node::config::TransferCfg),
) {
    let path = zone.plan(code).expect("centre").config.clone();
    let mut cfg = hfx_node::config::NodeConfig::load(&path).expect("config");
    edit(&mut cfg.transfer);
    hfx_zone::launcher::write_node_config(&path, &cfg).expect("write config");
}

async fn restart(zone: &mut Zone, code: &str) {
    zone.stop(code, Duration::from_secs(5)).expect("stop");
    zone.spawn(code).expect("spawn");
    zone.wait_ready(code, Duration::from_secs(30))
        .await
        .expect("ready");
}

pub(crate) fn bank(zone: &Zone) -> &hfx_standins::bank::BankHandle {
    zone.bank().expect("the zone hosts a settlement bank")
}

/// Poll the bank until `done` says the ledger is as wanted (or `secs` pass: then the last
/// ledger, for the caller's assertions to name).
pub(crate) async fn ledger_when(zone: &Zone, secs: u64, done: impl Fn(&Ledger) -> bool) -> Ledger {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let l = bank(zone).ledger().await;
        if done(&l) || std::time::Instant::now() > deadline {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The destination's 08 (transfer-in) postings on the mover's account.
pub(crate) async fn transfer_in_postings(dc: &dyn CoreSystem, m: &Mover) -> Vec<i64> {
    let month = |ym: u32| YearMonth::from_yyyymm(ym).expect("month");
    dc.deposits(&m.dest.account_no, month(199001), month(209912))
        .await
        .expect("deposits")
        .iter()
        .filter(|p| p.business_type == business_type::TRANSFER_IN)
        .map(|p| p.amount_fen)
        .collect()
}

/// The mover's two balances (origin, destination).
pub(crate) async fn balances(oc: &dyn CoreSystem, dc: &dyn CoreSystem, m: &Mover) -> (i64, i64) {
    (
        member_now(oc, &m.origin).await.balance_fen,
        member_now(dc, &m.dest).await.balance_fen,
    )
}

fn new_case_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Every mode of the bank's misbehaviour, one mover each, all at once in one zone: a decline
/// fails the case on both sides and gives the origin its account back; every other fault
/// (the bank slow before or after applying, its answer lost, a refusal before applying) ends
/// `done` with the money paid, delivered and credited exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn bank_faults_end_final_with_the_money_moved_once_or_not_at_all() {
    let (_tmp, mut zone) = transfer_zone(3).await;
    let dest = zone.centres[2].code.clone();
    let origin = zone.centres[1].code.clone();
    // Over the node's bank timeout (3 s), so the node's call is in doubt.
    let slow = Duration::from_millis(3_600);
    // (mover, mode, how many payouts it acts on)
    let modes = [
        // The sealed origin account (mover 2) must come back sealed.
        (2, FaultMode::Decline, 1),
        (0, FaultMode::TimeoutBeforeApply, 1),
        (1, FaultMode::Late, 1),
        (4, FaultMode::ReplyLost, 1),
        (5, FaultMode::Flaky, 3),
    ];
    let (oc, dc) = (core_of(&zone, &origin).await, core_of(&zone, &dest).await);
    let transit_before = bank(&zone).ledger().await.transit_fen;
    struct Run {
        name: String,
        m: Mover,
        case_id: String,
        origin_before: hfx_adapters::model::Member,
        dest_before: i64,
    }
    let mut runs = Vec::new();
    for (k, mode, times) in modes {
        let m = mover(&dest, k);
        assert_eq!(m.origin_centre, origin, "mover {k}'s origin");
        let want = if k % 4 == 2 {
            AccountStatus::Sealed
        } else {
            AccountStatus::Normal
        };
        assert_eq!(m.origin.status, want, "mover {k}");
        let case_id = new_case_id();
        bank(&zone)
            .set_fault(
                Fault::for_case(&case_id, mode)
                    .with_delay(slow)
                    .times(times),
            )
            .expect("fault");
        runs.push(Run {
            name: format!("{mode:?}"),
            origin_before: member_now(oc.as_ref(), &m.origin).await,
            dest_before: member_now(dc.as_ref(), &m.dest).await.balance_fen,
            m,
            case_id,
        });
    }
    let money_before: i64 = runs
        .iter()
        .map(|r| r.origin_before.balance_fen + r.dest_before)
        .sum::<i64>()
        + transit_before;

    // The test holds no connection to the core systems while the nodes work.
    drop((oc, dc));

    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let starts = runs.iter().map(|r| {
        let mut req = start_request(&r.m);
        req.case_id = r.case_id.clone();
        let clerk = clerk.clone();
        async move { clerk.start_transfer(req).await }
    });
    for (r, v) in runs.iter().zip(futures::future::join_all(starts).await) {
        let v = v.unwrap_or_else(|e| panic!("{}: start: {e:?}", r.name));
        assert_eq!(v.case_id, r.case_id, "{}: the case id chosen", r.name);
    }
    let finals = runs.iter().map(|r| async {
        (
            wait_final(&zone, &dest, &r.case_id, 60).await,
            wait_final(&zone, &origin, &r.case_id, 60).await,
        )
    });
    let finals = futures::future::join_all(finals).await;
    // Deliveries follow the destination's `done`: wait until none of these is in transit.
    let ledger = ledger_when(&zone, 30, |l| {
        runs.iter().all(|r| {
            l.case(&r.case_id)
                .is_none_or(|c| c.state != CaseState::Paid)
        })
    })
    .await;

    let (oc, dc) = (core_of(&zone, &origin).await, core_of(&zone, &dest).await);
    let mut failures = Vec::new();
    let mut money_after = ledger.transit_fen;
    for (r, (d, o)) in runs.iter().zip(&finals) {
        let (origin_now, dest_now) = (
            member_now(oc.as_ref(), &r.m.origin).await,
            member_now(dc.as_ref(), &r.m.dest).await.balance_fen,
        );
        money_after += origin_now.balance_fen + dest_now;
        let entries: Vec<_> = ledger
            .cases
            .iter()
            .filter(|c| c.case_id == r.case_id)
            .collect();
        let credits = transfer_in_postings(dc.as_ref(), &r.m).await;
        let amount = r.origin_before.balance_fen;
        let mut wrong = Vec::new();
        if r.name == "Decline" {
            if (d.state.as_str(), o.state.as_str()) != ("failed", "failed") {
                wrong.push(format!("states {} / {}, want failed", d.state, o.state));
            }
            if (origin_now.status, origin_now.balance_fen)
                != (r.origin_before.status, r.origin_before.balance_fen)
            {
                wrong.push(format!(
                    "origin account {:?} {} fen, was {:?} {} fen",
                    origin_now.status,
                    origin_now.balance_fen,
                    r.origin_before.status,
                    r.origin_before.balance_fen
                ));
            }
            if dest_now != r.dest_before || !credits.is_empty() {
                wrong.push(format!(
                    "destination {dest_now} fen (was {}), 08 postings {credits:?}",
                    r.dest_before
                ));
            }
            if entries.len() != 1 || entries[0].state != CaseState::Declined {
                wrong.push(format!("ledger {entries:?}, want one declined"));
            }
        } else {
            if (d.state.as_str(), o.state.as_str()) != ("done", "done") {
                wrong.push(format!("states {} / {}, want done", d.state, o.state));
            }
            if (origin_now.status, origin_now.balance_fen) != (AccountStatus::ClosedTransferred, 0)
            {
                wrong.push(format!(
                    "origin account {:?} {} fen, want closed-transferred 0",
                    origin_now.status, origin_now.balance_fen
                ));
            }
            if d.amount_fen != amount || o.amount_fen != amount {
                wrong.push(format!(
                    "amounts {} / {}, want {amount}",
                    d.amount_fen, o.amount_fen
                ));
            }
            if dest_now != r.dest_before + amount || credits != [amount] {
                wrong.push(format!(
                    "destination {dest_now} fen, want {} + {amount}; 08 postings {credits:?}",
                    r.dest_before
                ));
            }
            if entries.len() != 1
                || entries[0].state != CaseState::Delivered
                || entries[0].amount_fen != amount
            {
                wrong.push(format!(
                    "ledger {entries:?}, want one delivered of {amount}"
                ));
            }
        }
        if !wrong.is_empty() {
            let log: Vec<String> = crate::common::node_log(&zone, &origin)
                .lines()
                .filter(|l| l.contains(&r.case_id))
                .map(str::to_string)
                .collect();
            failures.push(format!(
                "{} (case {}): {}\ndestination:\n{}\norigin:\n{}\norigin's log:\n{}",
                r.name,
                r.case_id,
                wrong.join("; "),
                timeline(d),
                timeline(o),
                log.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(ledger.transit_fen, 0, "nothing left in transit: {ledger:?}");
    assert_eq!(money_after, money_before, "zone money conserved");
    assert!(
        bank(&zone).faults().is_empty(),
        "every fault was met: {:?}",
        bank(&zone).faults()
    );
    zone.shutdown().await;
}

/// Two clerks start the same person's transfer at the same moment: one case, the other clerk
/// told which.
#[tokio::test(flavor = "multi_thread")]
async fn two_clerks_at_once_for_one_person_make_one_case() {
    let (_tmp, mut zone) = transfer_zone(3).await;
    let dest = zone.centres[2].code.clone();
    let (c1, c2) = (
        zone.client(&dest, Role::Clerk).unwrap(),
        zone.client(&dest, Role::Clerk).unwrap(),
    );
    // A few people, so the race is run more than once.
    for k in [6, 8, 9] {
        let m = mover(&dest, k);
        let (a, b) = tokio::join!(
            c1.start_transfer(start_request(&m)),
            c2.start_transfer(start_request(&m))
        );
        let (won, lost) = match (a, b) {
            (Ok(v), Err(e)) | (Err(e), Ok(v)) => (v, e),
            (a, b) => panic!("mover {k}: want one start and one refusal, got {a:?} and {b:?}"),
        };
        assert_eq!(
            (lost.code(), reason(&lost).as_str()),
            (tonic::Code::AlreadyExists, TRANSFER_IN_FLIGHT),
            "mover {k}: {lost:?}"
        );
        assert!(
            lost.message().contains(&won.case_id),
            "mover {k}: the refusal names case {}: {lost:?}",
            won.case_id
        );
        let d = wait_final(&zone, &dest, &won.case_id, 40).await;
        assert_eq!(d.state, "done", "mover {k}:\n{}", timeline(&d));
        let cases: Vec<_> = c1
            .list_transfers(pb::ListTransfersRequest {
                include_final: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|v| v.destination_account_no == m.dest.account_no)
            .collect();
        assert_eq!(
            cases.iter().map(|v| v.case_id.as_str()).collect::<Vec<_>>(),
            [won.case_id.as_str()],
            "mover {k}: one case for the person"
        );
    }
    zone.shutdown().await;
}

/// With the origin down, a letter's relay fails until the case is parked with its reason; a
/// cancel is only requested (the letter goes first, so the origin may accept before the cancel
/// reaches it); `resolve accept` is refused on a case not negotiating. The origin back, both
/// sides end final and agree, and the money is where it should be.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_case_shows_why_and_clerk_moves_follow_the_rules() {
    let (_tmp, mut zone) = transfer_zone(3).await;
    let dest = zone.centres[2].code.clone();
    let origin = zone.centres[1].code.clone();
    let m = mover(&dest, 10);
    assert_eq!(m.origin_centre, origin);
    // Short backoff at the destination so the relay reaches its 8 tries quickly.
    edit_transfer_cfg(&zone, &dest, |t| t.relay_backoff_max_ms = 200);
    restart(&mut zone, &dest).await;
    let (oc, dc) = (core_of(&zone, &origin).await, core_of(&zone, &dest).await);
    let before = balances(oc.as_ref(), dc.as_ref(), &m).await;
    zone.stop(&origin, Duration::from_secs(5)).unwrap();

    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let v = clerk.start_transfer(start_request(&m)).await.unwrap();
    assert_eq!(v.state, "letter_sent");
    let c = clerk
        .cancel_transfer(&v.case_id, "the member changed their mind")
        .await
        .unwrap();
    assert_eq!(c.state, "letter_sent", "a cancel is only requested");
    assert!(!c.is_final);
    assert!(
        c.status_detail.starts_with("cancel requested"),
        "{}",
        timeline(&c)
    );

    // Parked once the letter has failed to reach the origin 8 times.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let parked = loop {
        let stuck = clerk
            .list_transfers(pb::ListTransfersRequest {
                stuck_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(p) = stuck.into_iter().find(|s| s.case_id == v.case_id) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "case {} never parked: {}",
            v.case_id,
            timeline(&clerk.get_transfer(&v.case_id).await.unwrap())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!parked.stuck_reason.is_empty(), "{parked:?}");
    assert!(
        parked.stuck_reason.contains(&origin),
        "the reason names the origin: {}",
        parked.stuck_reason
    );
    assert_eq!(parked.state, "letter_sent");

    // Accepting is for a negotiation only.
    let e = clerk
        .resolve_transfer(&v.case_id, "accept")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::FailedPrecondition, MOVE_NOT_ALLOWED),
        "{e:?}"
    );

    zone.spawn(&origin).unwrap();
    zone.wait_ready(&origin, Duration::from_secs(30))
        .await
        .unwrap();
    let d = wait_final(&zone, &dest, &v.case_id, 60).await;
    let o = wait_final(&zone, &origin, &v.case_id, 60).await;
    assert!(
        d.is_final && o.is_final && d.state == o.state,
        "destination {} / origin {}\n{}\n{}",
        d.state,
        o.state,
        timeline(&d),
        timeline(&o)
    );
    let ledger = ledger_when(&zone, 30, |l| {
        l.case(&v.case_id)
            .is_none_or(|c| c.state != CaseState::Paid)
    })
    .await;
    let after = balances(oc.as_ref(), dc.as_ref(), &m).await;
    eprintln!("the cancelled-while-parked case ended {}", d.state);
    match d.state.as_str() {
        "cancelled" => {
            assert_eq!(after, before, "nothing moved");
            assert!(ledger.case(&v.case_id).is_none(), "{ledger:?}");
        }
        "done" => {
            assert_eq!(after, (0, before.1 + before.0), "moved once");
            assert_eq!(
                ledger.case(&v.case_id).map(|c| (c.state, c.amount_fen)),
                Some((CaseState::Delivered, before.0))
            );
        }
        other => panic!("want cancelled or done, got {other}\n{}", timeline(&d)),
    }
    assert_eq!(after.0 + after.1 + ledger.transit_fen, before.0 + before.1);
    // A final case takes no move either.
    let e = clerk
        .resolve_transfer(&v.case_id, "accept")
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::FailedPrecondition, MOVE_NOT_ALLOWED),
        "{e:?}"
    );
    zone.shutdown().await;
}

/// A third centre cannot send a payment notice for a case the destination keeps with its
/// origin: refused, and the case goes on as if it had never been sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_notice_from_another_centre_is_refused() {
    let (_tmp, mut zone) = transfer_zone(3).await;
    let [third, origin, dest] = [0, 1, 2].map(|i| zone.centres[i].code.clone());
    let m = mover(&dest, 12);
    assert_eq!(m.origin_centre, origin);
    let (oc, dc) = (core_of(&zone, &origin).await, core_of(&zone, &dest).await);
    let before = balances(oc.as_ref(), dc.as_ref(), &m).await;
    // The origin down: the case waits at letter_sent while the forgery arrives.
    zone.stop(&origin, Duration::from_secs(5)).unwrap();
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let v = clerk.start_transfer(start_request(&m)).await.unwrap();
    let seen = clerk.get_transfer(&v.case_id).await.unwrap();

    let mut to_dest = pb::transfer_exchange_client::TransferExchangeClient::new(peer_channel(
        &zone, &third, &dest,
    ));
    let forged = pb::PaymentNotice {
        header: Some(pb::RequestHeader {
            message_id: new_case_id(),
            case_id: v.case_id.clone(),
            purpose: pb::Purpose::TransferCheck as i32,
            acting_person: format!("{third}/node/transfer"),
            ..Default::default()
        }),
        paid: true,
        bank_reference: "BK9999999999".into(),
        amount_fen: 99_999_999,
        reason: String::new(),
    };
    let e = to_dest.send_payment(forged).await.unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::PermissionDenied, CASE_NOT_YOURS),
        "{e:?}"
    );
    let now = clerk.get_transfer(&v.case_id).await.unwrap();
    assert_eq!(
        (now.state.as_str(), now.amount_fen, now.steps.len()),
        (seen.state.as_str(), seen.amount_fen, seen.steps.len()),
        "the case is unaffected:\n{}",
        timeline(&now)
    );

    zone.spawn(&origin).unwrap();
    zone.wait_ready(&origin, Duration::from_secs(30))
        .await
        .unwrap();
    let d = wait_final(&zone, &dest, &v.case_id, 40).await;
    assert_eq!(d.state, "done", "{}", timeline(&d));
    assert_eq!(
        d.amount_fen, before.0,
        "the origin's amount, not the forged one"
    );
    assert_ne!(d.bank_reference, "BK9999999999");
    let credits = transfer_in_postings(dc.as_ref(), &m).await;
    assert_eq!(credits, [before.0], "credited once, the real amount");
    let after = balances(oc.as_ref(), dc.as_ref(), &m).await;
    assert_eq!(after, (0, before.1 + before.0));
    zone.shutdown().await;
}
