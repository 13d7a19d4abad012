//! Graceful shutdown (issue 12 part 8): SIGTERM stops a node with transfers in flight; the
//! outbox and the cases are kept in its store, and the node started again resumes them: every
//! case reaches a final state on both sides, agreeing, with the zone's money where it was.

use crate::transfer::{core_of, member_now, mover, start_request, transfer_zone, wait_final};
use crate::transfer_faults::{bank, ledger_when, timeline};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::bank::CaseState;
use hfx_zone::launcher::Zone;
use std::time::Duration;

/// Transfers started just before the SIGTERM.
const CASES: u64 = 12;

/// A case at its destination `dest` once final; one the origin parks for a negotiation (an
/// unsettled loan) is settled by the destination's clerk first, as the rules say.
pub(crate) async fn settled_final(zone: &Zone, dest: &str, case_id: &str) -> pb::TransferView {
    let clerk = zone.client(dest, Role::Clerk).expect("clerk");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(v) = clerk.get_transfer(case_id).await {
            if v.is_final {
                return v;
            }
            if v.state == "negotiating" {
                if let Err(e) = clerk.resolve_transfer(case_id, "accept").await {
                    eprintln!("{case_id}: resolve: {e:?}");
                }
                return wait_final(zone, dest, case_id, 120).await;
            }
        }
        if std::time::Instant::now() > deadline {
            return wait_final(zone, dest, case_id, 0).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_flight_keeps_the_cases_and_a_restart_finishes_them() {
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let clerk = zone.client(&dest, Role::Clerk).expect("clerk");
    let transit_before = bank(&zone).ledger().await.transit_fen;
    let mut runs = Vec::new();
    let mut money_before = transit_before;
    for k in 0..CASES {
        let m = mover(&dest, k);
        let (oc, dc) = (
            core_of(&zone, &m.origin_centre).await,
            core_of(&zone, &dest).await,
        );
        money_before += member_now(oc.as_ref(), &m.origin).await.balance_fen
            + member_now(dc.as_ref(), &m.dest).await.balance_fen;
        let case_id = uuid::Uuid::now_v7().to_string();
        let mut req = start_request(&m);
        req.case_id = case_id.clone();
        clerk.start_transfer(req).await.expect("start transfer");
        runs.push((m, case_id));
    }
    // Mid-flight: how many cases are not final as the destination (which drives them and
    // holds their outbox) is told to stop.
    let mut in_flight = 0;
    for (_, case_id) in &runs {
        if let Ok(v) = clerk.get_transfer(case_id).await
            && !v.is_final
        {
            in_flight += 1;
        }
    }
    zone.stop(&dest, Duration::from_secs(20))
        .expect("SIGTERM the destination");
    eprintln!("SIGTERM with {in_flight} of {CASES} cases in flight");
    assert!(
        in_flight > 0,
        "every case was final before the SIGTERM: nothing was in flight"
    );
    let log = std::fs::read_to_string(
        zone.plan(&dest)
            .expect("centre")
            .config
            .with_file_name("node.log"),
    )
    .expect("node log");
    assert!(
        log.contains("node stopped"),
        "the node did not stop cleanly on SIGTERM"
    );

    // A while down (the origin's calls to it fail and are retried), then started again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    zone.spawn(&dest).expect("restart");
    zone.wait_ready(&dest, Duration::from_secs(60))
        .await
        .expect("restarted node ready");

    let mut failures = Vec::new();
    for (m, case_id) in &runs {
        let d = settled_final(&zone, &dest, case_id).await;
        let o = wait_final(&zone, &m.origin_centre, case_id, 120).await;
        if !(d.is_final && o.is_final && d.state == o.state) {
            failures.push(format!(
                "case {case_id}: destination {} / origin {}\n{}\n{}",
                d.state,
                o.state,
                timeline(&d),
                timeline(&o)
            ));
        }
    }
    let ledger = ledger_when(&zone, 60, |l| {
        runs.iter()
            .all(|(_, c)| l.case(c).is_none_or(|c| c.state != CaseState::Paid))
    })
    .await;
    let mut money_after = ledger.transit_fen;
    for (m, _) in &runs {
        let (oc, dc) = (
            core_of(&zone, &m.origin_centre).await,
            core_of(&zone, &dest).await,
        );
        money_after += member_now(oc.as_ref(), &m.origin).await.balance_fen
            + member_now(dc.as_ref(), &m.dest).await.balance_fen;
    }
    zone.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(ledger.transit_fen, 0, "money left in transit: {ledger:?}");
    assert_eq!(money_after, money_before, "the zone's money changed");
}
