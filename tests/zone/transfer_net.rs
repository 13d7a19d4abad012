//! Account transfers between two real node processes through fault-injecting TCP proxies
//! (`hfx_zone::faultproxy`): one proxy in front of each centre's peer port (the directory lists
//! the proxy), so every message either way crosses one. Dropped, delayed and duplicated
//! deliveries (a reply lost after the receiver acted), reordering (a stale copy delivered after
//! later messages) and a partition that heals: every case ends final, both nodes agree, no case
//! is credited twice, no account is closed without its credit, and the zone's money (every
//! account of both core systems plus the bank's transit) is what it was. Each test also shows
//! that its faults happened: the proxies' counts, and transfer messages sent more than once.

use crate::common::init;
use crate::transfer::{Mover, core_of, member_now, mover, start_request};
use crate::transfer_faults::{
    bank, edit_transfer_cfg, ledger_when, timeline, transfer_in_postings,
};
use hfx_adapters::model::{AccountStatus, Member};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::bank::CaseState;
use hfx_standins::seed::{SeedOptions, generate};
use hfx_zone::faultproxy::{FaultProxy, Faults, Partition, Stats};
use hfx_zone::launcher::{SHIPPED_ZONE, Zone, ZoneSpec, prepare};
use std::time::Duration;

/// Members per centre: movers 0..=6 (one in 50 is a mover).
const MEMBERS: u64 = 360;

/// A two-centre zone whose nodes reach each other only through the proxies.
struct Net {
    _tmp: tempfile::TempDir,
    zone: Zone,
    origin: String,
    dest: String,
    /// (centre, the proxy in front of its peer port)
    proxies: Vec<(String, FaultProxy)>,
}

impl Net {
    fn set(&self, f: &Faults) {
        for (_, p) in &self.proxies {
            p.set_faults(f.clone());
        }
    }

    fn each(&self, act: impl Fn(&FaultProxy)) {
        for (_, p) in &self.proxies {
            act(p);
        }
    }

    /// Each proxy's counts, by the centre it fronts.
    fn stats(&self) -> Vec<(String, Stats)> {
        self.proxies
            .iter()
            .map(|(c, p)| (c.clone(), p.stats()))
            .collect()
    }
}

/// Bind a proxy per centre, list it in the directory as the centre's endpoint, point it at the
/// node's own peer listener, and start the nodes with short relay backoffs.
async fn net_zone(seed: u64) -> Net {
    init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-net-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), 2);
    spec.members_per_centre = MEMBERS;
    spec.peer_timeout_ms = 2_000;
    spec.log_level = "info".into();
    let shipped = hfx_certs::zone::ZoneConfig::parse(SHIPPED_ZONE).expect("shipped zone");
    let mut proxies = Vec::new();
    for (i, c) in shipped.centres.iter().take(2).enumerate() {
        let p = FaultProxy::bind(seed * 100 + i as u64)
            .await
            .expect("proxy");
        spec.peer_endpoints
            .insert(c.code.clone(), p.addr().to_string());
        proxies.push((c.code.clone(), p));
    }
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    for plan in &prepared.plans {
        let (_, p) = proxies
            .iter()
            .find(|(c, _)| *c == plan.code)
            .expect("a proxy per centre");
        p.set_upstream(plan.peer_addr.clone());
    }
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    for (code, _) in &proxies {
        edit_transfer_cfg(&zone, code, |t| {
            t.relay_backoff_min_ms = 30;
            t.relay_backoff_max_ms = 300;
        });
    }
    zone.start_all().await.expect("start zone");
    let (origin, dest) = (zone.centres[0].code.clone(), zone.centres[1].code.clone());
    Net {
        _tmp: tmp,
        zone,
        origin,
        dest,
        proxies,
    }
}

/// Every seeded member of a centre.
fn seeded(centre: &str) -> Vec<Member> {
    let opts = SeedOptions {
        seed: 1,
        ..Default::default()
    };
    (0..MEMBERS)
        .map(|i| generate(centre, &opts, i).member)
        .collect()
}

/// The zone's money: every seeded account of both core systems, plus the bank's transit.
/// (Read when no case holds money: a held balance is still in its account.)
async fn zone_money(net: &Net) -> i64 {
    let mut total = bank(&net.zone).ledger().await.transit_fen;
    for code in [&net.origin, &net.dest] {
        let core = core_of(&net.zone, code).await;
        for m in seeded(code) {
            total += member_now(core.as_ref(), &m).await.balance_fen;
        }
    }
    total
}

/// A transfer under test.
struct Run {
    k: u64,
    m: Mover,
    case_id: String,
    origin_before: Member,
    dest_before: i64,
}

/// Movers `ks` of the destination, with their accounts as they are now.
async fn runs_for(net: &Net, ks: &[u64]) -> Vec<Run> {
    let (oc, dc) = (
        core_of(&net.zone, &net.origin).await,
        core_of(&net.zone, &net.dest).await,
    );
    let mut runs = Vec::new();
    for &k in ks {
        let m = mover(&net.dest, k);
        assert_eq!(m.origin_centre, net.origin, "mover {k}'s origin");
        runs.push(Run {
            k,
            origin_before: member_now(oc.as_ref(), &m.origin).await,
            dest_before: member_now(dc.as_ref(), &m.dest).await.balance_fen,
            m,
            case_id: String::new(),
        });
    }
    runs
}

/// The destination's clerk requests every transfer at once.
async fn start_all(net: &Net, runs: &mut [Run]) {
    let clerk = net.zone.client(&net.dest, Role::Clerk).expect("clerk");
    let starts: Vec<_> = runs
        .iter()
        .map(|r| {
            let clerk = clerk.clone();
            let req = start_request(&r.m);
            async move { clerk.start_transfer(req).await }
        })
        .collect();
    for (r, v) in runs.iter_mut().zip(futures::future::join_all(starts).await) {
        let v = v.unwrap_or_else(|e| panic!("mover {}: start: {e:?}", r.k));
        assert_eq!(v.state, "letter_sent", "mover {}", r.k);
        r.case_id = v.case_id;
    }
}

/// Poll a case at `code` until it is final, the destination's clerk settling a negotiation
/// (accept) on the way; after `secs`, the last view.
async fn final_view(net: &Net, code: &str, case_id: &str, secs: u64) -> pb::TransferView {
    let clerk = net.zone.client(code, Role::Clerk).expect("clerk");
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let v = clerk.get_transfer(case_id).await;
        match &v {
            Ok(v) if v.is_final => return v.clone(),
            Ok(v) if v.state == "negotiating" && *code == *net.dest => {
                // The origin reports an unsettled loan: the clerk accepts.
                clerk
                    .resolve_transfer(case_id, "accept")
                    .await
                    .unwrap_or_else(|e| panic!("case {case_id}: resolve: {e:?}"));
            }
            _ => {}
        }
        if std::time::Instant::now() > deadline {
            return v.unwrap_or_else(|e| panic!("{code}: case {case_id}: {e:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until every case is final on both sides; returns (destination, origin) views.
async fn finish_all(net: &Net, runs: &[Run]) -> Vec<(pb::TransferView, pb::TransferView)> {
    let waits = runs.iter().map(|r| async move {
        let d = final_view(net, &net.dest, &r.case_id, 60).await;
        let o = final_view(net, &net.origin, &r.case_id, 60).await;
        (d, o)
    });
    futures::future::join_all(waits).await
}

/// A read-only pool on `code`'s node database (the node keeps writing it).
async fn node_db(net: &Net, code: &str) -> sqlx::SqlitePool {
    let path = net
        .zone
        .plan(code)
        .expect("centre")
        .config
        .with_file_name("node.db");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true);
    sqlx::SqlitePool::connect_with(opts)
        .await
        .unwrap_or_else(|e| panic!("{code}: open {}: {e}", path.display()))
}

/// Wait until neither node has an unanswered outbox message. A case is final on its sender
/// as soon as its last message is queued (the destination's `done` queues the completion),
/// so a lost reply is still being re-sent after both sides read final; until the sender logs
/// the reply, the auditors' reconcile rightly shows the message as sent and not received.
async fn outboxes_drained(net: &Net) {
    for _ in 0..300 {
        let mut pending = 0i64;
        for code in [&net.origin, &net.dest] {
            let pool = node_db(net, code).await;
            pending +=
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM transfer_outbox WHERE done = 0")
                    .fetch_one(&pool)
                    .await
                    .expect("outbox");
            pool.close().await;
        }
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("outbox messages still unanswered after 30 s");
}

/// Outbox messages of these cases, on both nodes, sent more than once (the relay re-sent them:
/// no answer came back the first time).
async fn resent(net: &Net, runs: &[Run]) -> Vec<String> {
    let mut out = Vec::new();
    for code in [&net.origin, &net.dest] {
        let pool = node_db(net, code).await;
        let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT case_id, kind, attempts, last_error FROM transfer_outbox WHERE attempts > 1",
        )
        .fetch_all(&pool)
        .await
        .expect("outbox");
        pool.close().await;
        out.extend(
            rows.into_iter()
                .filter(|(case, ..)| runs.iter().any(|r| &r.case_id == case))
                .map(|(case, kind, n, why)| {
                    format!("{code} {kind} of {case}: {n} tries (last failure: {why:?})")
                }),
        );
    }
    out
}

/// The invariants, across both centres and the bank, once every case should be final: each
/// case final and the same on both sides (refused for a frozen origin account, done
/// otherwise); a done case credited once with the origin's whole balance, its origin account
/// closed and the bank's payout delivered once; a refused one moved nothing; one case per
/// request on each side; the zone's money unchanged; the auditors' reconcile finds no break.
async fn check(
    net: &Net,
    runs: &[Run],
    finals: &[(pb::TransferView, pb::TransferView)],
    money_before: i64,
) {
    // Payouts are delivered after the destination's `done`: wait until none is in transit.
    let ledger = ledger_when(&net.zone, 30, |l| {
        runs.iter().all(|r| {
            l.case(&r.case_id)
                .is_none_or(|c| c.state != CaseState::Paid)
        })
    })
    .await;
    let (oc, dc) = (
        core_of(&net.zone, &net.origin).await,
        core_of(&net.zone, &net.dest).await,
    );
    let mut failures = Vec::new();
    for (r, (d, o)) in runs.iter().zip(finals) {
        let origin_now = member_now(oc.as_ref(), &r.m.origin).await;
        let dest_now = member_now(dc.as_ref(), &r.m.dest).await.balance_fen;
        let credits = transfer_in_postings(dc.as_ref(), &r.m).await;
        let entries: Vec<_> = ledger
            .cases
            .iter()
            .filter(|c| c.case_id == r.case_id)
            .collect();
        let amount = r.origin_before.balance_fen;
        let mut wrong = Vec::new();
        if !(d.is_final && o.is_final) || d.state != o.state {
            wrong.push(format!(
                "destination {} (final {}) / origin {} (final {})",
                d.state, d.is_final, o.state, o.is_final
            ));
        }
        if r.m.origin.status == AccountStatus::Frozen {
            if d.state != "refused" {
                wrong.push(format!("a frozen origin account ended {}", d.state));
            }
            if origin_now != r.origin_before || dest_now != r.dest_before || !credits.is_empty() {
                wrong.push(format!(
                    "refused, yet origin {:?} {} fen (was {:?} {}), destination {dest_now} fen (was {}), 08 postings {credits:?}",
                    origin_now.status,
                    origin_now.balance_fen,
                    r.origin_before.status,
                    r.origin_before.balance_fen,
                    r.dest_before
                ));
            }
            if !entries.is_empty() {
                wrong.push(format!("refused, yet the bank has {entries:?}"));
            }
        } else {
            if d.state != "done" && d.state != "negotiated_done" {
                wrong.push(format!("ended {}, want done", d.state));
            }
            if (origin_now.status, origin_now.balance_fen) != (AccountStatus::ClosedTransferred, 0)
            {
                wrong.push(format!(
                    "origin account {:?} {} fen, want closed-transferred 0",
                    origin_now.status, origin_now.balance_fen
                ));
            }
            if credits != [amount] || dest_now != r.dest_before + amount {
                wrong.push(format!(
                    "08 postings {credits:?} (want one of {amount}), destination {dest_now} fen (want {} + {amount})",
                    r.dest_before
                ));
            }
            if (d.amount_fen, o.amount_fen) != (amount, amount) {
                wrong.push(format!(
                    "amounts {} / {}, want {amount}",
                    d.amount_fen, o.amount_fen
                ));
            }
            if entries.len() != 1
                || entries[0].state != CaseState::Delivered
                || entries[0].amount_fen != amount
            {
                wrong.push(format!(
                    "bank ledger {entries:?}, want one delivered of {amount}"
                ));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "mover {} (case {}): {}\ndestination:\n{}\norigin:\n{}",
                r.k,
                r.case_id,
                wrong.join("; "),
                timeline(d),
                timeline(o)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // One case per request on each side: a duplicated letter never opened a second one.
    for code in [&net.origin, &net.dest] {
        let mut ids: Vec<String> = net
            .zone
            .client(code, Role::Clerk)
            .expect("clerk")
            .list_transfers(pb::ListTransfersRequest {
                include_final: true,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_iter()
            .map(|v| v.case_id)
            .collect();
        ids.sort();
        let mut want: Vec<String> = runs.iter().map(|r| r.case_id.clone()).collect();
        want.sort();
        assert_eq!(ids, want, "{code}: the cases it keeps");
    }
    assert_eq!(ledger.transit_fen, 0, "nothing left in transit: {ledger:?}");
    drop((oc, dc));
    assert_eq!(zone_money(net).await, money_before, "zone money conserved");
    // Both logs verify and replay clean, and reconciling the two sides finds no break, once
    // every message has had its answer.
    outboxes_drained(net).await;
    crate::audit::settle(&net.zone).await;
    let mut exports = Vec::new();
    for code in [&net.origin, &net.dest] {
        let (_, e) = crate::audit::export_of(&net.zone, code).await;
        let rep = hfx_tlog::audit::verify(
            &e,
            Some(&crate::audit::trusted_key(&net.zone, code)),
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
}

/// One scenario: movers `ks` transfer while `faults` are in force on both proxies, until
/// every case is final; then the proxies pass everything, the last stale copies land, and the
/// invariants are checked. Returns what the proxies did and which transfer messages were
/// re-sent.
async fn scenario(net: &Net, ks: &[u64], faults: &Faults) -> (Vec<(String, Stats)>, Vec<String>) {
    let money_before = zone_money(net).await;
    let mut runs = runs_for(net, ks).await;
    net.set(faults);
    start_all(net, &mut runs).await;
    let finals = finish_all(net, &runs).await;
    net.set(&Faults::pass());
    let stats = quiet(net).await;
    check(net, &runs, &finals, money_before).await;
    (stats, resent(net, &runs).await)
}

/// Wait until no held-back request is still on its way to a node (a stale copy may land after
/// every case is final; the checks come after it); returns the proxies' counts then.
async fn quiet(net: &Net) -> Vec<(String, Stats)> {
    for _ in 0..100 {
        let st = net.stats();
        if st.iter().all(|(_, s)| s.late_closed == s.held_back) {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("held-back requests still on their way: {:?}", net.stats());
}

/// Sum of one count over both proxies.
fn total(stats: &[(String, Stats)], f: impl Fn(&Stats) -> u64) -> u64 {
    stats.iter().map(|(_, s)| f(s)).sum()
}

/// Both proxies carried the nodes' traffic, both ways.
fn both_carried(stats: &[(String, Stats)]) {
    for (code, s) in stats {
        assert!(
            s.connections > 0 && s.bytes_up > 0 && s.bytes_down > 0,
            "the proxy in front of {code} carried nothing: {s:?}"
        );
    }
}

/// Connections reset as they open, and request bytes dropped mid-connection: messages lost
/// before they arrive, sent again until they do.
#[tokio::test(flavor = "multi_thread")]
async fn transfers_converge_through_dropped_deliveries() {
    let mut net = net_zone(1).await;
    let faults = Faults {
        drop_connection: 0.3,
        cut_request: 0.15,
        jitter_ms: 5,
        ..Faults::default()
    };
    let (stats, resent) = scenario(&net, &[0, 1, 2, 3, 4, 5], &faults).await;
    both_carried(&stats);
    assert!(
        total(&stats, |s| s.request_cuts) > 0 && total(&stats, |s| s.dropped) > 0,
        "the proxies dropped nothing: {stats:?}"
    );
    assert!(!resent.is_empty(), "no transfer message was sent twice");
    eprintln!("drops: {stats:?}\nre-sent:\n{}", resent.join("\n"));
    net.zone.shutdown().await;
}

/// Every chunk both ways waits 40..=160 ms (seeded jitter): slow, still in order.
#[tokio::test(flavor = "multi_thread")]
async fn transfers_converge_through_delay_and_jitter() {
    let mut net = net_zone(2).await;
    let faults = Faults {
        delay_ms: 40,
        jitter_ms: 120,
        ..Faults::default()
    };
    let (stats, resent) = scenario(&net, &[0, 1, 3, 4], &faults).await;
    both_carried(&stats);
    for (code, s) in &stats {
        assert!(
            s.delayed_chunks > 0,
            "the proxy in front of {code} delayed nothing: {s:?}"
        );
    }
    eprintln!("delays: {stats:?}\nre-sent:\n{}", resent.join("\n"));
    net.zone.shutdown().await;
}

/// Replies lost after the receiver acted: the connection is cut once the request is in and
/// the node has answered, so the sender sends the same message again and the receiver must
/// answer the duplicate from what it stored, without acting twice.
#[tokio::test(flavor = "multi_thread")]
async fn transfers_converge_when_replies_are_lost_and_messages_duplicated() {
    let mut net = net_zone(3).await;
    let faults = Faults {
        cut_reply: 0.35,
        cut_hold_ms: 150,
        ..Faults::default()
    };
    let (stats, resent) = scenario(&net, &[0, 1, 2, 3, 4, 5], &faults).await;
    both_carried(&stats);
    assert!(
        total(&stats, |s| s.reply_cuts) > 0 && total(&stats, |s| s.reply_bytes_lost) > 0,
        "no reply was lost: {stats:?}"
    );
    assert!(!resent.is_empty(), "no transfer message was sent twice");
    eprintln!("lost replies: {stats:?}\nre-sent:\n{}", resent.join("\n"));
    net.zone.shutdown().await;
}

/// Reordering: a new connection's request is held back, the sender cut and moved on over
/// another connection, and the old copy reaches the node 0.3..1.2 s later, after messages
/// sent after it. Lost replies force new connections often.
#[tokio::test(flavor = "multi_thread")]
async fn transfers_converge_when_stale_copies_arrive_after_later_messages() {
    let mut net = net_zone(4).await;
    let faults = Faults {
        reorder: 0.6,
        reorder_min_ms: 300,
        reorder_max_ms: 1_200,
        // A run may open only three connections: the first is held back whatever the dice.
        reorder_first: 1,
        cut_reply: 0.3,
        jitter_ms: 30,
        ..Faults::default()
    };
    let (stats, resent) = scenario(&net, &[0, 1, 2, 3, 4, 5], &faults).await;
    both_carried(&stats);
    assert!(
        total(&stats, |s| s.released_late) > 0 && total(&stats, |s| s.late_bytes) > 0,
        "no request was delivered late: {stats:?}"
    );
    assert!(!resent.is_empty(), "no transfer message was sent twice");
    eprintln!("reordering: {stats:?}\nre-sent:\n{}", resent.join("\n"));
    net.zone.shutdown().await;
}

/// A partition between the two nodes, begun before the requests: first every connection is
/// held (nothing flows either way, calls time out), then refused (live connections cut, new
/// ones reset). No case gets past its letter while it lasts; once healed, every case finishes.
#[tokio::test(flavor = "multi_thread")]
async fn transfers_converge_after_a_partition_heals() {
    let mut net = net_zone(5).await;
    let money_before = zone_money(&net).await;
    let mut runs = runs_for(&net, &[0, 1, 3, 4]).await;
    net.each(|p| p.partition(Partition::Hold));
    start_all(&net, &mut runs).await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    net.each(|p| p.partition(Partition::Refuse));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // While partitioned no letter reached the origin: every case still waits for it.
    let clerk = net.zone.client(&net.dest, Role::Clerk).expect("clerk");
    for r in &runs {
        let v = clerk.get_transfer(&r.case_id).await.expect("status");
        assert_eq!(
            v.state,
            "letter_sent",
            "mover {}: a case moved while partitioned\n{}",
            r.k,
            timeline(&v)
        );
    }
    let during = net.stats();
    net.each(FaultProxy::heal);
    let finals = finish_all(&net, &runs).await;
    both_carried(&quiet(&net).await);
    check(&net, &runs, &finals, money_before).await;
    assert!(
        total(&during, |s| s.partition_waits) > 0,
        "nothing waited through the held partition: {during:?}"
    );
    assert!(
        total(&during, |s| s.refused + s.cut_live) > 0,
        "the refusing partition cut or refused nothing: {during:?}"
    );
    let resent = resent(&net, &runs).await;
    assert!(!resent.is_empty(), "no letter was sent twice");
    eprintln!("partition: {during:?}\nre-sent:\n{}", resent.join("\n"));
    net.zone.shutdown().await;
}
