//! Account transfers between real node processes (DOMAIN §4.1, DESIGN §4): a member's
//! account, its money and its month-by-month history move from the origin to the
//! destination; refusals, bank faults and crashes leave every case final, both sides agreeing,
//! and the zone's money where it was.

use crate::common::{init, reason};
use hfx_adapters::CoreSystem;
use hfx_adapters::model::{AccountStatus, IdType, Member, business_type};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate, mover_index, mover_origin};
use hfx_zone::launcher::{Zone, ZoneSpec, prepare};
use std::sync::Arc;
use std::time::Duration;

/// Members per centre: one mover in 50 (see hfx_standins::seed::mover_index).
const MEMBERS: u64 = 1500;

pub async fn transfer_zone(n: usize) -> (tempfile::TempDir, Zone) {
    init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-transfer-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), n);
    spec.members_per_centre = MEMBERS;
    spec.log_level = "info".into();
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    zone.start_all().await.expect("start zone");
    (tmp, zone)
}

/// A mover at `dest` (seed index `index`): their account here and their old one at the origin.
pub struct Mover {
    pub dest: Member,
    pub origin_centre: String,
    pub origin: Member,
}

/// Mover `k` of `dest` (k mod 4 = 2: the origin account is sealed; 3: frozen).
pub fn mover(dest: &str, k: u64) -> Mover {
    let opts = SeedOptions {
        seed: 1,
        ..Default::default()
    };
    let index = mover_index(dest, &opts, k).expect("a mover");
    let (origin_centre, at) = mover_origin(dest, &opts, index).expect("a mover index");
    Mover {
        dest: generate(dest, &opts, index).member,
        origin: generate(&origin_centre, &opts, at).member,
        origin_centre,
    }
}

pub fn start_request(m: &Mover) -> pb::StartTransferRequest {
    pb::StartTransferRequest {
        origin_centre: m.origin_centre.clone(),
        person: Some(pb::PersonKey {
            id_type: match m.dest.id_type {
                IdType::Passport => pb::IdType::Passport as i32,
                _ => pb::IdType::ResidentId as i32,
            },
            id_number: m.dest.id_number.clone(),
            name: m.dest.name.clone(),
        }),
        destination_account_no: m.dest.account_no.clone(),
        case_id: String::new(),
    }
}

/// The core system of a centre, opened from its node's configuration.
pub async fn core_of(zone: &Zone, code: &str) -> Arc<dyn CoreSystem> {
    let plan = zone.plan(code).expect("centre");
    let cfg = hfx_node::config::NodeConfig::load(&plan.config).expect("node config");
    hfx_node::node::open_core(&cfg).await.expect("open core")
}

pub async fn member_now(core: &dyn CoreSystem, m: &Member) -> Member {
    core.member_by_id(m.id_type, &m.id_number)
        .await
        .expect("read member")
        .expect("member exists")
}

/// Poll a case at `code` until it is final (or `secs` pass: then the last view).
pub async fn wait_final(zone: &Zone, code: &str, case_id: &str, secs: u64) -> pb::TransferView {
    let clerk = zone.client(code, Role::Clerk).expect("clerk");
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let v = clerk.get_transfer(case_id).await;
        if let Ok(v) = &v
            && v.is_final
        {
            return v.clone();
        }
        if std::time::Instant::now() > deadline {
            return v.unwrap_or_else(|e| panic!("{code}: case {case_id}: {e:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn timeline(v: &pb::TransferView) -> String {
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

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_moves_the_money_and_the_history_and_both_sides_agree() {
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let m = mover(&dest, 0);
    assert_eq!(m.origin_centre, zone.centres[0].code);
    assert_eq!(m.origin.status, AccountStatus::Normal);
    let (oc, dc) = (
        core_of(&zone, &m.origin_centre).await,
        core_of(&zone, &dest).await,
    );
    let before = (
        member_now(oc.as_ref(), &m.origin).await,
        member_now(dc.as_ref(), &m.dest).await,
    );

    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let v = clerk.start_transfer(start_request(&m)).await.unwrap();
    assert_eq!(
        (v.role.as_str(), v.state.as_str()),
        ("destination", "letter_sent")
    );
    assert!(
        v.letter_no.starts_with(&dest[..6]) && v.letter_no.len() == 16,
        "{}",
        v.letter_no
    );

    let d = wait_final(&zone, &dest, &v.case_id, 30).await;
    assert_eq!(d.state, "done", "destination timeline:\n{}", timeline(&d));
    assert_eq!(d.national_code, "00");
    let o = wait_final(&zone, &m.origin_centre, &v.case_id, 30).await;
    assert_eq!(
        (o.role.as_str(), o.state.as_str()),
        ("origin", "done"),
        "origin timeline:\n{}",
        timeline(&o)
    );
    assert_eq!(o.amount_fen, before.0.balance_fen);
    assert_eq!(d.amount_fen, before.0.balance_fen);
    assert!(d.history_months > 0);

    // The money moved once; the origin account is closed-transferred with balance 0.
    let after = (
        member_now(oc.as_ref(), &m.origin).await,
        member_now(dc.as_ref(), &m.dest).await,
    );
    assert_eq!(after.0.status, AccountStatus::ClosedTransferred);
    assert_eq!(after.0.balance_fen, 0);
    assert_eq!(
        after.1.balance_fen,
        before.1.balance_fen + before.0.balance_fen
    );
    assert_eq!(
        after.0.balance_fen + after.1.balance_fen,
        before.0.balance_fen + before.1.balance_fen,
        "zone money conserved"
    );
    // The history travelled: the destination now holds the origin's postings and the 08 credit.
    let all = |ym: u32| hfx_adapters::model::YearMonth::from_yyyymm(ym).expect("month");
    let postings = dc
        .deposits(&m.dest.account_no, all(199001), all(209912))
        .await
        .unwrap();
    let credit: Vec<_> = postings
        .iter()
        .filter(|p| p.business_type == business_type::TRANSFER_IN)
        .collect();
    assert_eq!(credit.len(), 1, "one 08 credit");
    assert_eq!(credit[0].amount_fen, before.0.balance_fen);
    let origin_history = oc
        .deposits(&m.origin.account_no, all(199001), all(209912))
        .await
        .unwrap();
    let carried = origin_history
        .iter()
        .filter(|h| h.business_type == business_type::REMITTANCE)
        .filter(|h| {
            postings
                .iter()
                .any(|p| p.for_month == h.for_month && p.amount_fen == h.amount_fen)
        })
        .count();
    assert!(
        carried > 0,
        "the origin's remittances are in the destination's history"
    );

    // M6: a loan application at the destination now counts the months paid at the origin.
    let asker = zone.client(&m.origin_centre, Role::Clerk).unwrap();
    let q = |centre: &str, mm: &Member| pb::LocalMemberQuery {
        centre: centre.to_string(),
        person: start_request(&Mover {
            dest: mm.clone(),
            origin_centre: String::new(),
            origin: mm.clone(),
        })
        .person,
        purpose: pb::Purpose::LoanApplication as i32,
        message_id: String::new(),
    };
    let view = asker
        .query_member(q(&dest, &m.dest))
        .await
        .unwrap()
        .member
        .unwrap();
    let start_after = view.continuous_start_month.expect("continuous deposits");
    let own_start = hfx_adapters::model::YearMonth::of(before.1.opened_on).yyyymm();
    assert!(
        start_after < own_start || origin_history.is_empty(),
        "continuous deposits start {start_after}, the destination account opened {own_start}: the origin's months must count"
    );

    // Both sides recorded the personal data that crossed (the letter, the record).
    let auditor = zone.client(&dest, Role::Auditor).unwrap();
    let disclosures = auditor.disclosures(100).await.unwrap();
    assert!(
        disclosures
            .iter()
            .any(|x| x.message_id.len() == 36 && x.outcome.contains("letter")),
        "{disclosures:?}"
    );
    // The auditors' tools take the transfer's exchanges: both logs verify, replay finds no
    // difference, and reconciling the two sides finds every message on both, no break.
    crate::audit::settle(&zone).await;
    let mut exports = Vec::new();
    for code in [&m.origin_centre, &dest] {
        let (_, e) = crate::audit::export_of(&zone, code).await;
        let rep = hfx_tlog::audit::verify(
            &e,
            Some(&crate::audit::trusted_key(&zone, code)),
            1,
            &|_, _| {},
        );
        assert!(rep.problems.is_empty(), "{code}: {:?}", rep.problems);
        let replay = hfx_tlog::audit::replay(&e);
        assert!(
            replay.differences.is_empty(),
            "{code}: {:?}",
            replay.differences
        );
        exports.push(e);
    }
    let rep = hfx_tlog::audit::reconcile(&exports, hfx_node::now_ms());
    assert!(rep.breaks.is_empty(), "{:?}", rep.breaks);
    assert!(
        rep.matched >= 10,
        "letter, record, payment, completion and answers: {}",
        rep.matched
    );
    zone.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_naming_the_field_or_the_case_and_write_nothing() {
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let m = mover(&dest, 1);
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let field = |e: &tonic::Status| e.message().to_string();

    let mut bad = start_request(&m);
    bad.person
        .as_mut()
        .unwrap()
        .id_number
        .replace_range(17..18, "0");
    let e = clerk.start_transfer(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(field(&e).contains("person.id_number"), "{e:?}");

    let mut bad = start_request(&m);
    bad.origin_centre = "999900000000000".into();
    let e = clerk.start_transfer(bad).await.unwrap_err();
    assert!(field(&e).contains("origin_centre"), "{e:?}");

    let mut bad = start_request(&m);
    bad.origin_centre = dest.clone();
    let e = clerk.start_transfer(bad).await.unwrap_err();
    assert!(field(&e).contains("origin_centre"), "{e:?}");

    // A member of the origin who never moved has no account at the destination.
    let opts = SeedOptions {
        seed: 1,
        ..Default::default()
    };
    let local = generate(&m.origin_centre, &opts, 0).member;
    let stranger = Mover {
        dest: local.clone(),
        origin_centre: m.origin_centre.clone(),
        origin: local,
    };
    let e = clerk
        .start_transfer(start_request(&stranger))
        .await
        .unwrap_err();
    assert!(field(&e).contains("person"), "{e:?}");

    assert!(
        clerk
            .list_transfers(pb::ListTransfersRequest {
                include_final: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty(),
        "a refused request writes no case"
    );

    // A second request for a person with a case in flight names that case. The origin is
    // down, so the first stays in flight.
    zone.stop(&m.origin_centre, Duration::from_secs(5)).unwrap();
    let first = clerk.start_transfer(start_request(&m)).await.unwrap();
    let e = clerk.start_transfer(start_request(&m)).await.unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::AlreadyExists, "TRANSFER_IN_FLIGHT")
    );
    assert!(field(&e).contains(&first.case_id), "{e:?}");

    // A retried start with the same case id answers the same case.
    let mut again = start_request(&m);
    again.case_id = first.case_id.clone();
    assert_eq!(
        clerk.start_transfer(again).await.unwrap().case_id,
        first.case_id
    );

    // The origin comes back: the relay delivers the letter it kept, and the case finishes.
    zone.spawn(&m.origin_centre).unwrap();
    zone.wait_ready(&m.origin_centre, Duration::from_secs(30))
        .await
        .unwrap();
    let d = wait_final(&zone, &dest, &first.case_id, 40).await;
    assert_eq!(d.state, "done", "{}", timeline(&d));
    zone.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_origin_account_is_refused_and_nothing_moves() {
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let m = mover(&dest, 3);
    assert_eq!(m.origin.status, AccountStatus::Frozen);
    let oc = core_of(&zone, &m.origin_centre).await;
    let before = member_now(oc.as_ref(), &m.origin).await;
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let v = clerk.start_transfer(start_request(&m)).await.unwrap();
    let d = wait_final(&zone, &dest, &v.case_id, 30).await;
    assert_eq!(
        (d.state.as_str(), d.national_code.as_str()),
        ("refused", "13"),
        "{}",
        timeline(&d)
    );
    assert_eq!(d.refusal_code, "ORIGIN_ACCOUNT_FROZEN");
    let o = wait_final(&zone, &m.origin_centre, &v.case_id, 30).await;
    assert_eq!(o.state, "refused");
    assert_eq!(
        member_now(oc.as_ref(), &m.origin).await,
        before,
        "the origin account is untouched"
    );
    zone.shutdown().await;
}

/// Whether the node process of `code` has ended (a zombie not yet reaped, or gone).
fn has_exited(zone: &Zone, code: &str) -> bool {
    match zone.pid(code) {
        None => true,
        Some(pid) => match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            Err(_) => true,
        },
    }
}

/// Set (or clear) a node's crash point in its configuration file.
fn set_crash_point(zone: &Zone, code: &str, point: Option<&str>) {
    let path = zone.plan(code).expect("centre").config.clone();
    let mut cfg = hfx_node::config::NodeConfig::load(&path).expect("config");
    cfg.transfer.crash_at = point.map(str::to_string);
    hfx_zone::launcher::write_node_config(&path, &cfg).expect("write config");
}

async fn restart(zone: &mut Zone, code: &str) {
    zone.kill(code);
    zone.spawn(code).expect("spawn");
    zone.wait_ready(code, Duration::from_secs(30))
        .await
        .expect("ready");
}

/// kill -9 (abort) at every step boundary of the flow, on either side; after the restart
/// every case finishes, both sides agree, and the money moved exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_every_step_boundary_converges_with_the_money_moved_once() {
    const ORIGIN: &[&str] = &[
        "after_commit:origin:letter_received",
        "after_commit:origin:accepted",
        "after_action:reserve",
        "after_commit:origin:held",
        "after_send:transfer_out",
        "after_action:payout",
        "after_commit:origin:paid",
        "after_action:close_out",
        "after_send:payment",
        "after_commit:origin:done",
    ];
    const DESTINATION: &[&str] = &[
        "after_send:letter",
        "after_commit:destination:letter_received",
        "after_commit:destination:out_received",
        "after_commit:destination:crediting",
        "after_action:credit",
        "after_commit:destination:done",
        "after_send:completion",
        "after_action:deliver",
    ];
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    // Movers whose origin account is normal or sealed (k mod 4 != 3); 0 and 1 are other tests'.
    let mut movers = (4..MEMBERS / 50 - 1)
        .filter(|k| k % 4 != 3)
        .map(|k| mover(&dest, k));
    let points = ORIGIN
        .iter()
        .map(|p| (true, *p))
        .chain(DESTINATION.iter().map(|p| (false, *p)));
    let mut failures = Vec::new();
    for (at_origin, point) in points {
        let m = movers.next().expect("enough movers: raise MEMBERS");
        let origin = m.origin_centre.clone();
        let victim = if at_origin {
            origin.clone()
        } else {
            dest.clone()
        };
        let (oc, dc) = (core_of(&zone, &origin).await, core_of(&zone, &dest).await);
        let before = member_now(oc.as_ref(), &m.origin).await.balance_fen
            + member_now(dc.as_ref(), &m.dest).await.balance_fen;
        set_crash_point(&zone, &victim, Some(point));
        restart(&mut zone, &victim).await;
        let clerk = zone.client(&dest, Role::Clerk).unwrap();
        let v = clerk.start_transfer(start_request(&m)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !has_exited(&zone, &victim) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let crashed = has_exited(&zone, &victim);
        set_crash_point(&zone, &victim, None);
        restart(&mut zone, &victim).await;
        let mut d = wait_final(&zone, &dest, &v.case_id, 40).await;
        if d.state == "negotiating" {
            // The origin reports an unsettled loan: the destination's clerk settles it.
            clerk.resolve_transfer(&v.case_id, "accept").await.unwrap();
            d = wait_final(&zone, &dest, &v.case_id, 40).await;
        }
        let o = wait_final(&zone, &origin, &v.case_id, 40).await;
        let after = member_now(oc.as_ref(), &m.origin).await;
        let credited = member_now(dc.as_ref(), &m.dest).await;
        let ok = crashed
            && d.is_final
            && d.state == o.state
            && (d.state == "done" || d.state == "negotiated_done")
            && after.status == AccountStatus::ClosedTransferred
            && after.balance_fen + credited.balance_fen == before;
        if !ok {
            failures.push(format!(
                "{point} at {}: crashed {crashed}, destination {} / origin {}, money before {before} after {}\n{}\n{}",
                if at_origin { "origin" } else { "destination" },
                d.state,
                o.state,
                after.balance_fen + credited.balance_fen,
                timeline(&d),
                timeline(&o)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    zone.shutdown().await;
}

/// An origin asked about a case it never saw, past the letter's deadline, writes a signed
/// expiry tombstone; the letter arriving afterwards is answered "expired", never accepted.
#[tokio::test(flavor = "multi_thread")]
async fn a_letter_never_seen_by_its_deadline_meets_a_signed_tombstone() {
    let (_tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let m = mover(&dest, 5);
    let origin = m.origin_centre.clone();
    let ch = crate::common::peer_channel(&zone, &dest, &origin);
    let mut peer = pb::transfer_exchange_client::TransferExchangeClient::new(ch);
    let case_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let header = |mid: String| {
        Some(pb::RequestHeader {
            message_id: mid,
            case_id: case_id.clone(),
            purpose: pb::Purpose::TransferCheck as i32,
            acting_person: format!("{dest}/node/transfer"),
            sender_checkpoint_size: 0,
            sent_at_unix_ms: hfx_node::now_ms(),
        })
    };
    let mid = || uuid::Uuid::now_v7().hyphenated().to_string();
    // Before the deadline: not known, no tombstone.
    let early = peer
        .query_case(pb::CaseMessage {
            header: header(mid()),
            reason: String::new(),
            deadline_unix_ms: hfx_node::now_ms() + 60_000,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !early.known && early.tombstone_signature.is_empty(),
        "{early:?}"
    );
    // Past it: the tombstone, signed by the origin's key over this case.
    let late = peer
        .query_case(pb::CaseMessage {
            header: header(mid()),
            reason: String::new(),
            deadline_unix_ms: hfx_node::now_ms() - 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(late.state, "expired");
    let note = String::from_utf8(late.tombstone_signature.clone()).unwrap();
    assert!(
        note.starts_with(&format!("hfx-tombstone/v1\n{origin}\n{case_id}\n")),
        "{note}"
    );
    // The letter arrives late: answered with the tombstone's state, and the origin never
    // checks or holds anything for it.
    let letter = pb::ContactLetter {
        header: header(mid()),
        letter_no: format!("{}2612020001", &dest[..6]),
        person: start_request(&m).person,
        destination_account_no: m.dest.account_no.clone(),
        destination_centre: dest.clone(),
        origin_centre: origin.clone(),
        applied_date: 20261202,
        deadline_unix_ms: hfx_node::now_ms() - 1,
    };
    let ack = peer.send_contact_letter(letter).await.unwrap().into_inner();
    assert_eq!(ack.state, "expired");
    let o = zone
        .client(&origin, Role::Clerk)
        .unwrap()
        .get_transfer(&case_id)
        .await
        .unwrap();
    assert_eq!((o.state.as_str(), o.is_final), ("expired", true));
    let oc = core_of(&zone, &origin).await;
    assert_eq!(
        member_now(oc.as_ref(), &m.origin).await.status,
        m.origin.status
    );
    zone.shutdown().await;
}
