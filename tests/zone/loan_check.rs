//! Loan checks across a real zone (docs/loan_check.md): five centres, one stopped, one whose
//! core system is slowed far past the deadline (the `[adapter]` test hook `read_delay_ms`),
//! one whose policy refuses the purpose. The answer names every centre with how its part
//! ended, finds the loans the person co-borrows, and both sides record what crossed.

use crate::common::{MEMBERS, init, reason};
use hfx_adapters::model::{IdType, LoanRole};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate, loans_of, person_key};
use hfx_zone::launcher::{Zone, ZoneSpec, prepare};
use pb::LoanCheckOutcome as Outcome;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The check's one deadline: generous, so that a loaded machine does not make the centres
/// that should answer miss it.
const DEADLINE_MS: u32 = 4_000;
/// How long each read of the slowed centre's core system takes: thirty times the deadline,
/// so an answer that waited for it could not be mistaken for one that did not.
const SLOW_READ_MS: u64 = 120_000;

fn opts() -> SeedOptions {
    SeedOptions {
        seed: 1,
        ..Default::default()
    }
}

/// (contract no., role) of every loan the seeded core system of `centre` holds for `id`.
fn expected_loans(centre: &str, id: &str) -> BTreeSet<(String, i32)> {
    let o = opts();
    (0..MEMBERS)
        .filter(|&i| person_key(centre, &o, i).1 == id)
        .flat_map(|i| loans_of(centre, &o, i))
        .map(|l| {
            let role = match l.loan.role {
                LoanRole::Borrower => pb::LoanRole::Borrower,
                LoanRole::CoBorrower => pb::LoanRole::CoBorrower,
            };
            (l.loan.contract_no, role as i32)
        })
        .collect()
}

fn got_loans(c: &pb::CentreLoans) -> BTreeSet<(String, i32)> {
    c.loans
        .iter()
        .map(|l| (l.contract_no.clone(), l.role))
        .collect()
}

/// A member of `centre` (resident id) who co-borrows a loan there.
fn co_borrower(centre: &str) -> (String, String) {
    let o = opts();
    (0..MEMBERS - 1)
        .step_by(2)
        .find_map(|j| {
            let m = generate(centre, &o, j).member;
            let co = loans_of(centre, &o, j)
                .iter()
                .any(|l| l.loan.role == LoanRole::CoBorrower);
            (co && m.id_type == IdType::ResidentId).then_some((m.id_number, m.name))
        })
        .expect("a co-borrower among the seeded members")
}

fn by_centre(r: &pb::LocalLoanCheckReply) -> BTreeMap<String, pb::CentreLoans> {
    r.centres
        .iter()
        .map(|c| (c.centre.clone(), c.clone()))
        .collect()
}

fn check_req(id: &str, name: &str, hedge: bool, message_id: &str) -> pb::LocalLoanCheck {
    pb::LocalLoanCheck {
        person: Some(pb::PersonKey {
            id_type: pb::IdType::ResidentId as i32,
            id_number: id.to_string(),
            name: name.to_string(),
        }),
        centres: Vec::new(),
        deadline_ms: DEADLINE_MS,
        message_id: message_id.to_string(),
        hedge,
    }
}

/// Five centres: `slow`'s core system answers each read after [`SLOW_READ_MS`]; `refusing`
/// lets `asker` ask every purpose but loan_check.
async fn loan_zone() -> (tempfile::TempDir, Zone, [String; 5]) {
    init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), 5);
    spec.members_per_centre = MEMBERS;
    spec.log_level = "info".into();
    // Above the deadline: the node caps a check's deadline at its peer timeout.
    spec.peer_timeout_ms = 10_000;
    let codes = {
        let shipped = hfx_certs::zone::ZoneConfig::parse(hfx_zone::launcher::SHIPPED_ZONE)
            .expect("shipped zone");
        let c: Vec<String> = shipped
            .centres
            .iter()
            .take(5)
            .map(|c| c.code.clone())
            .collect();
        [0, 1, 2, 3, 4].map(|i| c[i].clone())
    };
    let [asker, _, refusing, _, _] = &codes;
    let others: Vec<String> = hfx_node::config::PURPOSES
        .iter()
        .filter(|p| **p != "loan_check")
        .map(|p| p.to_string())
        .collect();
    spec.policies
        .insert(refusing.clone(), BTreeMap::from([(asker.clone(), others)]));
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    let slow = &codes[4];
    let plan = prepared
        .plans
        .iter()
        .find(|p| &p.code == slow)
        .expect("slow centre's plan");
    let mut cfg = hfx_node::config::NodeConfig::load(&plan.config).expect("slow node's config");
    cfg.adapter.read_delay_ms = Some(SLOW_READ_MS);
    hfx_zone::launcher::write_node_config(&plan.config, &cfg).expect("write config");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    zone.start_all().await.expect("start zone");
    (tmp, zone, codes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loan_check_names_every_centre_finds_co_borrowed_loans_and_never_waits_for_the_slow() {
    let (_tmp, mut zone, codes) = loan_zone().await;
    let [asker, lender, refusing, down, slow] = codes.clone();
    zone.stop(&down, Duration::from_secs(5)).unwrap();
    let (id, name) = co_borrower(&lender);
    let clerk = zone.client(&asker, Role::Clerk).unwrap();
    let mut c = pb::clerk_client::ClerkClient::new(clerk.channel());

    let message_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let r = c
        .loan_check(check_req(&id, &name, false, &message_id))
        .await
        .unwrap()
        .into_inner();
    let got = by_centre(&r);
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        codes.iter().cloned().collect(),
        "every centre is named: {r:?}"
    );
    assert_eq!(r.deadline_ms, DEADLINE_MS);
    assert!(!r.complete, "two centres did not answer: {r:?}");
    let outcome = |c: &str| got[c].outcome();
    assert_eq!(outcome(&asker), Outcome::Answered, "{:?}", got[&asker]);
    assert!(got[&asker].own);
    assert_eq!(outcome(&lender), Outcome::Answered, "{:?}", got[&lender]);
    assert_eq!(outcome(&refusing), Outcome::Refused, "{:?}", got[&refusing]);
    assert_eq!(got[&refusing].reason, "PURPOSE_NOT_ALLOWED");
    assert_eq!(outcome(&down), Outcome::Down, "{:?}", got[&down]);
    assert_eq!(got[&down].reason, "PEER_UNAVAILABLE");
    assert_eq!(outcome(&slow), Outcome::Slow, "{:?}", got[&slow]);
    // A centre that did not answer carries no loans: unknown, not none.
    for c in [&refusing, &down, &slow] {
        assert!(got[c].loans.is_empty(), "{:?}", got[c]);
    }
    // The answer did not wait for the slowed core system (each of its reads takes thirty
    // deadlines): it came on the deadline, and says so.
    assert!(
        u64::from(r.elapsed_ms) < SLOW_READ_MS,
        "waited {} ms for the slow centre",
        r.elapsed_ms
    );

    // The lender's loans: exactly what its core system holds for the person, one of them
    // as co-borrower.
    let want = expected_loans(&lender, &id);
    assert!(
        want.iter()
            .any(|(_, role)| *role == pb::LoanRole::CoBorrower as i32)
    );
    assert_eq!(got_loans(&got[&lender]), want);
    assert!(
        got[&lender]
            .loans
            .iter()
            .all(|l| l.centre == lender && l.issued_date > 19_000_000 && l.outstanding_fen >= 0)
    );
    assert_eq!(got_loans(&got[&asker]), expected_loans(&asker, &id));
    let receipt = got[&lender]
        .peer_receipt
        .clone()
        .expect("the lender's receipt");
    assert_eq!(receipt.centre, lender);

    // The slowed peer gave up at the deadline it was sent, and recorded that it did (its
    // record is written before its refusal leaves, so it is there by now or very soon).
    let slow_auditor = zone.client(&slow, Role::Auditor).unwrap();
    let mut gave_up = None;
    for _ in 0..100 {
        let ds = slow_auditor.disclosures(50).await.unwrap();
        gave_up = ds.into_iter().find(|d| d.message_id == message_id);
        if gave_up.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gave_up = gave_up.expect("the slow centre recorded the check");
    assert_eq!(gave_up.direction, "refused");
    assert_eq!(gave_up.outcome, "failed: DEADLINE_PASSED");
    assert_eq!(gave_up.purpose, pb::Purpose::LoanCheck as i32);

    // Disclosures on both sides, with the purpose.
    let theirs = zone
        .client(&lender, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert!(
        theirs.iter().any(|d| d.direction == "sent"
            && d.peer_centre == asker
            && d.message_id == message_id
            && d.purpose == pb::Purpose::LoanCheck as i32
            && d.outcome == "disclosed"),
        "{theirs:?}"
    );
    let refused = zone
        .client(&refusing, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert!(
        refused
            .iter()
            .any(|d| d.direction == "refused" && d.message_id == message_id),
        "{refused:?}"
    );
    let ours = zone
        .client(&asker, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    let ours: BTreeMap<String, pb::Disclosure> = ours
        .into_iter()
        .filter(|d| d.message_id == message_id)
        .map(|d| (d.peer_centre.clone(), d))
        .collect();
    assert_eq!(ours[&lender].outcome, "received");
    // The peer's own refusal when it reached us in time, else our giving up on it.
    assert!(
        ["failed: DEADLINE_PASSED", "failed: DEADLINE_EXCEEDED"]
            .contains(&ours[&slow].outcome.as_str()),
        "{:?}",
        ours[&slow]
    );
    assert_eq!(ours[&down].outcome, "failed: PEER_UNAVAILABLE");
    assert_eq!(ours[&refusing].outcome, "failed: PURPOSE_NOT_ALLOWED");
    assert!(
        !ours.contains_key(&asker),
        "our own centre is not a disclosure"
    );
    for d in ours.values().chain(theirs.iter()) {
        assert_eq!(d.purpose, pb::Purpose::LoanCheck as i32, "{d:?}");
        assert!(!d.subject_masked.contains(&id) && !d.subject_masked.contains(&name));
    }

    // The same check again (same message id): the lender answers from its inbox, with the
    // same receipt; hedged, the slow centre gets a second copy and is still named slow.
    let again = c
        .loan_check(check_req(&id, &name, true, &message_id))
        .await
        .unwrap()
        .into_inner();
    let again = by_centre(&again);
    assert_eq!(again[&lender].peer_receipt, Some(receipt));
    assert_eq!(got_loans(&again[&lender]), want);
    assert_eq!(again[&slow].outcome(), Outcome::Slow);
    assert!(again[&slow].hedged, "{:?}", again[&slow]);
    assert!(!again[&lender].hedged, "{:?}", again[&lender]);

    // A refusal before anything is asked names the field.
    let mut bad = check_req(&id, &name, false, "");
    bad.deadline_ms = 10;
    let e = c.loan_check(bad).await.unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::InvalidArgument, "INVALID_FIELD")
    );
    assert!(e.message().contains("deadline_ms"), "{}", e.message());

    // The CLI: JSON with each centre's outcome, exit status 3 (incomplete); the human form
    // masks the person.
    let dir = zone.dir.to_string_lossy().into_owned();
    let cli = |json: bool| {
        let mut args = vec![
            "loan".to_string(),
            "check".into(),
            "--dir".into(),
            dir.clone(),
            "--node".into(),
            asker.clone(),
            "--id".into(),
            id.clone(),
            "--name".into(),
            name.clone(),
            "--deadline-ms".into(),
            DEADLINE_MS.to_string(),
        ];
        if json {
            args.push("--json".into());
        }
        tokio::process::Command::from(crate::common::hfx())
            .args(args)
            .output()
    };
    let out = cli(true).await.expect("running hfx loan check --json");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let outcomes: BTreeMap<String, String> = v["centres"]
        .as_array()
        .expect("centres")
        .iter()
        .map(|c| {
            (
                c["centre"].as_str().unwrap_or_default().to_string(),
                c["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes[&lender], "answered");
    assert_eq!(outcomes[&down], "down");
    assert_eq!(outcomes[&slow], "slow");
    assert_eq!(outcomes[&refusing], "refused");
    let lender_json = v["centres"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["centre"] == lender.as_str())
        .unwrap();
    assert!(
        lender_json["loans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["role"] == "co_borrower")
    );
    assert!(
        v["centres"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] == "answered" || c["loans"].is_null())
    );
    let out = cli(false).await.expect("running hfx loan check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("slow (no answer in time)") && text.contains("down (not reachable)"),
        "{text}"
    );
    assert!(
        !text.contains(&id) && !text.contains(&name),
        "the person is masked: {text}"
    );

    // Every disclosure the checks recorded is rebuilt from each answering node's log.
    let up: Vec<String> = zone
        .centres
        .iter()
        .map(|c| c.code.clone())
        .filter(|c| *c != down)
        .collect();
    crate::audit::assert_replay_clean(&zone, &up).await;

    // No node's log holds the full id or name.
    zone.stop_all();
    for p in &zone.centres {
        if p.code == down {
            continue;
        }
        let log = crate::common::node_log(&zone, &p.code);
        assert!(!log.contains(&id), "full id in {}'s log", p.code);
        assert!(!log.contains(&name), "full name in {}'s log", p.code);
    }
}
