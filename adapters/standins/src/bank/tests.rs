//! The bank client (hfx_adapters::bank::HttpBank) against the stand-in, fault by fault.

use super::*;
use hfx_adapters::bank::{BankError, SettlementBank};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const XZ: &str = "320300000000000";
const HB: &str = "340600000000000";
const LY: &str = "371300000000000";

fn payout(case_id: &str, amount_fen: i64) -> Payout {
    Payout {
        case_id: case_id.into(),
        from_centre: XZ.into(),
        to_centre: HB.into(),
        amount_fen,
    }
}

/// A client whose timeout every delayed fault (10 s by default) outlasts.
fn client(b: &BankHandle) -> HttpBank {
    b.client(Duration::from_millis(500)).unwrap()
}

fn paid(out: &PayoutOutcome) -> (String, i64) {
    match out {
        PayoutOutcome::Paid {
            bank_ref,
            amount_fen,
        } => (bank_ref.clone(), *amount_fen),
        other => panic!("not paid: {other:?}"),
    }
}

/// Wait (no deadline of our own: the test runner's) until `cond` holds of the ledger.
async fn until(b: &BankHandle, cond: impl Fn(&Ledger) -> bool) -> Ledger {
    loop {
        let l = b.ledger().await;
        if cond(&l) {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until every pending fault has been used.
async fn faults_used(b: &BankHandle) {
    while !b.faults().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_payouts_for_one_case_move_money_once() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    assert_eq!(c.status("TC-1").await.unwrap(), None);
    let first = c.payout(&payout("TC-1", 10_000)).await.unwrap();
    let (bank_ref, amount) = paid(&first);
    assert_eq!(amount, 10_000);
    assert!(bank_ref.starts_with("BK"), "{bank_ref}");
    let second = c.payout(&payout("TC-1", 10_000)).await.unwrap();
    assert_eq!(second, first, "the second call answers the first outcome");
    assert_eq!(c.status("TC-1").await.unwrap(), Some(first));
    let l = b.ledger().await;
    assert_eq!(l.cases.len(), 1);
    assert_eq!(l.transit_fen, 10_000);
    assert_eq!(l.centres[XZ].paid_out_fen, 10_000);
    assert_eq!(l.case("TC-1").unwrap().state, CaseState::Paid);
    assert_eq!(b.calls().payout, 2);
}

#[tokio::test]
async fn concurrent_payouts_for_one_case_move_money_once() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = Arc::new(client(&b));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.payout(&payout("TC-C", 700)).await })
        })
        .collect();
    let mut outs = Vec::new();
    for t in calls {
        outs.push(t.await.unwrap().unwrap());
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]), "{outs:?}");
    let l = b.ledger().await;
    assert_eq!((l.cases.len(), l.transit_fen), (1, 700));
}

#[tokio::test]
async fn the_same_case_with_another_amount_is_rejected() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    c.payout(&payout("TC-1", 100)).await.unwrap();
    let e = c.payout(&payout("TC-1", 101)).await.unwrap_err();
    assert!(matches!(e, BankError::Rejected { .. }), "{e:?}");
    assert!(e.to_string().contains("CASE_MISMATCH"), "{e}");
    let mut other_way = payout("TC-1", 100);
    other_way.to_centre = LY.into();
    assert!(matches!(
        c.payout(&other_way).await.unwrap_err(),
        BankError::Rejected { .. }
    ));
    for bad in [payout("", 1), payout("TC-2", 0), payout("TC-2", -5)] {
        let e = c.payout(&bad).await.unwrap_err();
        assert!(e.to_string().contains("BAD_REQUEST"), "{e}");
    }
    assert_eq!(b.ledger().await.transit_fen, 100);
}

#[tokio::test]
async fn reply_lost_then_the_retry_gets_the_stored_outcome() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    b.set_fault(Fault::next(1, FaultMode::ReplyLost)).unwrap();
    let e = c.payout(&payout("TC-1", 5_000)).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    // The money moved although the answer was lost.
    let l = b.ledger().await;
    assert_eq!((l.cases.len(), l.transit_fen), (1, 5_000));
    let stored = l.case("TC-1").unwrap().outcome();
    // The double answer: the retry answers the same outcome again and moves no money.
    let again = c.payout(&payout("TC-1", 5_000)).await.unwrap();
    assert_eq!(again, stored);
    let l = b.ledger().await;
    assert_eq!((l.cases.len(), l.transit_fen), (1, 5_000));
}

#[tokio::test]
async fn late_leaves_the_client_in_doubt_while_the_money_moved() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    b.set_fault(Fault::next(1, FaultMode::Late).with_delay(Duration::from_secs(20)))
        .unwrap();
    let e = c.payout(&payout("TC-1", 4_200)).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        std::error::Error::source(&e).is_some(),
        "a timeout keeps its source"
    );
    until(&b, |l| l.case("TC-1").is_some()).await;
    let status = c
        .status("TC-1")
        .await
        .unwrap()
        .expect("the bank knows the case");
    assert_eq!(paid(&status).1, 4_200);
    // Paying again answers that outcome; still one movement.
    assert_eq!(c.payout(&payout("TC-1", 4_200)).await.unwrap(), status);
    let l = b.ledger().await;
    assert_eq!((l.cases.len(), l.transit_fen), (1, 4_200));
}

#[tokio::test]
async fn timeout_before_apply_moves_nothing() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    b.set_fault(Fault::next(1, FaultMode::TimeoutBeforeApply).with_delay(Duration::from_secs(20)))
        .unwrap();
    let e = c.payout(&payout("TC-1", 300)).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    faults_used(&b).await;
    assert_eq!(c.status("TC-1").await.unwrap(), None);
    assert!(b.ledger().await.cases.is_empty());
    let out = c.payout(&payout("TC-1", 300)).await.unwrap();
    assert_eq!(paid(&out).1, 300);
    assert_eq!(b.ledger().await.transit_fen, 300);
}

#[tokio::test]
async fn flaky_fails_before_applying() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    b.set_fault(Fault::next(2, FaultMode::Flaky)).unwrap();
    for _ in 0..2 {
        let e = c.payout(&payout("TC-1", 900)).await.unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(e.to_string().contains("503"), "{e}");
        assert_eq!(c.status("TC-1").await.unwrap(), None);
    }
    assert!(b.faults().is_empty());
    paid(&c.payout(&payout("TC-1", 900)).await.unwrap());
    assert_eq!(b.ledger().await.cases.len(), 1);
}

#[tokio::test]
async fn a_decline_is_final_and_moves_nothing() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    b.set_fault(
        Fault::for_case("TC-D", FaultMode::Decline)
            .declining("ACCOUNT_FROZEN", "settlement account frozen"),
    )
    .unwrap();
    // A decline for one case leaves the others alone.
    paid(&c.payout(&payout("TC-A", 100)).await.unwrap());
    let declined = PayoutOutcome::Declined {
        code: "ACCOUNT_FROZEN".into(),
        reason: "settlement account frozen".into(),
    };
    assert_eq!(c.payout(&payout("TC-D", 200)).await.unwrap(), declined);
    assert_eq!(
        c.payout(&payout("TC-D", 200)).await.unwrap(),
        declined,
        "a retry answers the decline again"
    );
    assert_eq!(c.status("TC-D").await.unwrap(), Some(declined));
    let e = c.deliver("TC-D").await.unwrap_err();
    assert!(e.to_string().contains("NOT_PAID"), "{e}");
    let l = b.ledger().await;
    assert_eq!(l.transit_fen, 100);
    assert_eq!(l.centres[XZ].paid_out_fen, 100);
    assert_eq!(l.case("TC-D").unwrap().bank_ref, None);
}

#[tokio::test]
async fn a_decline_for_the_next_payout_skips_known_cases() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    let first = c.payout(&payout("TC-1", 100)).await.unwrap();
    b.set_fault(Fault::next(1, FaultMode::Decline)).unwrap();
    assert_eq!(
        c.payout(&payout("TC-1", 100)).await.unwrap(),
        first,
        "a known case keeps its outcome"
    );
    assert!(matches!(
        c.payout(&payout("TC-2", 100)).await.unwrap(),
        PayoutOutcome::Declined { ref code, .. } if code == DEFAULT_DECLINE_CODE
    ));
}

#[tokio::test]
async fn delivering_twice_moves_transit_once() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    c.payout(&payout("TC-1", 1_000)).await.unwrap();
    c.payout(&payout("TC-2", 2_000)).await.unwrap();
    assert_eq!(b.ledger().await.transit_fen, 3_000);
    c.deliver("TC-1").await.unwrap();
    c.deliver("TC-1").await.unwrap();
    let l = b.ledger().await;
    assert_eq!(l.transit_fen, 2_000);
    assert_eq!(l.centres[XZ].paid_out_fen, 3_000);
    assert_eq!(l.centres[HB].delivered_fen, 1_000);
    let case = l.case("TC-1").unwrap();
    assert_eq!(case.state, CaseState::Delivered);
    assert!(case.delivered_at.is_some());
    // Still paid, as far as the origin is concerned.
    assert_eq!(paid(&c.status("TC-1").await.unwrap().unwrap()).1, 1_000);
    let e = c.deliver("TC-NEVER").await.unwrap_err();
    assert!(e.to_string().contains("UNKNOWN_CASE"), "{e}");
}

#[tokio::test]
async fn a_lost_delivery_reply_is_delivered_once() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    c.payout(&payout("TC-1", 1_000)).await.unwrap();
    b.set_fault(Fault::for_case("TC-1", FaultMode::ReplyLost).on(FaultOp::Deliver))
        .unwrap();
    assert!(c.deliver("TC-1").await.unwrap_err().is_unavailable());
    assert_eq!(b.ledger().await.transit_fen, 0);
    c.deliver("TC-1").await.unwrap();
    let l = b.ledger().await;
    assert_eq!((l.transit_fen, l.centres[HB].delivered_fen), (0, 1_000));
}

#[tokio::test]
async fn a_restarted_bank_keeps_its_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bank").join("ledger.db");
    let b = BankStandIn::start(Some(&path)).await.unwrap();
    let c = client(&b);
    let one = c.payout(&payout("TC-1", 1_000)).await.unwrap();
    c.payout(&payout("TC-2", 2_000)).await.unwrap();
    b.set_fault(Fault::next(1, FaultMode::Decline)).unwrap();
    c.payout(&payout("TC-3", 3_000)).await.unwrap();
    c.deliver("TC-2").await.unwrap();
    let before = b.ledger().await;
    b.shutdown().await;

    let b = BankStandIn::start(Some(&path)).await.unwrap();
    assert_eq!(b.path(), Some(path.as_path()));
    let c = client(&b);
    assert_eq!(b.ledger().await, before);
    assert_eq!(before.transit_fen, 1_000);
    // The restarted bank answers the stored outcome and moves no money.
    assert_eq!(c.payout(&payout("TC-1", 1_000)).await.unwrap(), one);
    let four = c.payout(&payout("TC-4", 4_000)).await.unwrap();
    assert_ne!(paid(&four).0, paid(&one).0, "bank refs stay unique");
    c.deliver("TC-2").await.unwrap();
    let l = b.ledger().await;
    assert_eq!((l.cases.len(), l.transit_fen), (4, 5_000));
}

#[tokio::test]
async fn a_ledger_file_with_an_unknown_state_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ledger.db");
    let b = BankStandIn::start(Some(&path)).await.unwrap();
    client(&b).payout(&payout("TC-1", 10)).await.unwrap();
    b.shutdown().await;
    let s = store::Store::open(&path).await.unwrap();
    sqlx::query("UPDATE bank_case SET state = 'lost'")
        .execute(&s.pool)
        .await
        .unwrap();
    s.close().await;
    let e = BankStandIn::start(Some(&path)).await.unwrap_err();
    assert!(e.to_string().contains("unknown state"), "{e}");
}

#[tokio::test]
async fn faults_that_make_no_sense_are_refused() {
    let b = BankStandIn::start(None).await.unwrap();
    assert!(b.set_fault(Fault::next(0, FaultMode::Flaky)).is_err());
    assert!(
        b.set_fault(Fault::next(1, FaultMode::Decline).on(FaultOp::Deliver))
            .is_err()
    );
    assert!(b.faults().is_empty());
}

/// One HTTP/1.1 request to the stand-in: (status, body).
async fn raw(b: &BankHandle, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let addr = b.url().trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn faults_and_the_ledger_over_http() {
    let b = BankStandIn::start(None).await.unwrap();
    let c = client(&b);
    let (s, v) = raw(
        &b,
        "POST",
        "/faults",
        r#"[{"mode":"flaky","case_id":"TC-F"},{"mode":"decline","code":"NO_FUNDS","count":2}]"#,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faults"].as_array().unwrap().len(), 2);
    assert_eq!(b.faults()[1].count, 2);
    let (s, v) = raw(&b, "POST", "/faults", r#"{"mode":"sideways"}"#).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("BAD_REQUEST")));
    assert!(
        c.payout(&payout("TC-F", 1))
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert!(matches!(
        c.payout(&payout("TC-X", 1)).await.unwrap(),
        PayoutOutcome::Declined { ref code, .. } if code == "NO_FUNDS"
    ));
    let (s, v) = raw(&b, "DELETE", "/faults", "").await;
    assert_eq!((s, v["faults"].as_array().unwrap().len()), (200, 0));
    c.payout(&payout("TC-F", 1)).await.unwrap();
    let (s, v) = raw(&b, "GET", "/ledger", "").await;
    assert_eq!(s, 200);
    let l: Ledger = serde_json::from_value(v).unwrap();
    assert_eq!(l, b.ledger().await);
    assert_eq!((l.cases.len(), l.transit_fen), (2, 1));
    let (s, v) = raw(&b, "GET", "/nowhere", "").await;
    assert_eq!((s, v["code"].as_str()), (404, Some("NO_SUCH_ENDPOINT")));
}
