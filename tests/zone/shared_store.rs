//! Two node processes of one centre on one PostgreSQL store (DESIGN §4, issue 10's
//! "Concurrency"): both run their relay and driver over the same outbox and cases while many
//! transfers go to and from the centre at once. Each message takes effect once: every outbox
//! message is answered and the answer recorded once, the receiver applied it once (one RECV
//! entry per message id in its log, one stored reply), no account is credited or closed twice,
//! the money is conserved, every case is final and both sides agree.
//!
//! PostgreSQL comes from HFX_TEST_POSTGRES_URL (a database of its own, dropped afterwards);
//! without it the test says so and is skipped, and under CI it fails.

use crate::common::{PgDb, db_url, init};
use crate::transfer::{Mover, core_of, member_now, mover, start_request, wait_final};
use crate::transfer_faults::{bank, ledger_when, timeline, transfer_in_postings};
use hfx_adapters::model::{AccountStatus, Member};
use hfx_certs::Role;
use hfx_standins::bank::CaseState;
use hfx_zone::launcher::{SHIPPED_ZONE, Zone, ZoneSpec, prepare};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

/// Members per centre: one mover in 50, so 30 movers a centre.
const MEMBERS: u64 = 1500;
/// Movers per destination whose transfer is started (mover k mod 4 = 3 is refused: frozen).
const MOVERS: u64 = 30;

/// A read-only look at a node's store (SQLite file or PostgreSQL database) by its config.
async fn store_pool(zone: &Zone, code: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let plan = zone.plan(code).expect("centre");
    let cfg = hfx_node::config::NodeConfig::load(&plan.config).expect("node config");
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(&cfg.store.url)
        .await
        .expect("open the node's store")
}

/// An outbox message as the sender keeps it.
struct Sent {
    peer: String,
    message_id: String,
    kind: String,
    claimed_by: String,
    done: bool,
}

async fn outbox(pool: &sqlx::AnyPool) -> Vec<Sent> {
    sqlx::query("SELECT peer, message_id, kind, claimed_by, done FROM transfer_outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("outbox")
        .iter()
        .map(|r| Sent {
            peer: r.get("peer"),
            message_id: r.get("message_id"),
            kind: r.get("kind"),
            claimed_by: r.get("claimed_by"),
            done: r.get::<i64, _>("done") != 0,
        })
        .collect()
}

/// How many log entries of `dir` with `peer` each message id has, for types ending in `suffix`.
async fn log_counts(
    pool: &sqlx::AnyPool,
    dir: &str,
    peer: &str,
    suffix: &str,
) -> BTreeMap<String, i64> {
    sqlx::query(
        "SELECT message_id, msg_type FROM log_entries WHERE dir = $1 AND peer = $2 AND case_id <> ''",
    )
    .bind(dir)
    .bind(peer)
    .fetch_all(pool)
    .await
    .expect("log entries")
    .iter()
    .filter(|r| r.get::<String, _>("msg_type").ends_with(suffix))
    .fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.get::<String, _>("message_id")).or_insert(0) += 1;
        m
    })
}

/// Stored replies per message id from `peer` (the receiver's dedupe records).
async fn inbox_counts(pool: &sqlx::AnyPool, peer: &str) -> BTreeMap<String, i64> {
    sqlx::query("SELECT message_id FROM inbox WHERE peer = $1")
        .bind(peer)
        .fetch_all(pool)
        .await
        .expect("inbox")
        .iter()
        .fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.get::<String, _>("message_id")).or_insert(0) += 1;
            m
        })
}

/// Every message `from` sent (its outbox) reached `to` and took effect there once, and its
/// answer was recorded once at `from`. Returns the problems found.
async fn messages_once(
    from: &str,
    from_pool: &sqlx::AnyPool,
    to: &str,
    to_pool: &sqlx::AnyPool,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let sent: Vec<Sent> = outbox(from_pool)
        .await
        .into_iter()
        .filter(|s| s.peer == to)
        .collect();
    let requests_sent = log_counts(from_pool, "sent", to, "#request").await;
    let replies_recorded = log_counts(from_pool, "recv", to, "#reply").await;
    let requests_taken = log_counts(to_pool, "recv", from, "#request").await;
    let replies_given = log_counts(to_pool, "sent", from, "#reply").await;
    let stored = inbox_counts(to_pool, from).await;
    for s in &sent {
        let n = |m: &BTreeMap<String, i64>| m.get(&s.message_id).copied().unwrap_or(0);
        let counts = [
            ("SENT at the sender", n(&requests_sent)),
            ("answer recorded at the sender", n(&replies_recorded)),
            ("RECV at the receiver", n(&requests_taken)),
            ("answer given by the receiver", n(&replies_given)),
            ("stored reply at the receiver", n(&stored)),
        ];
        let off: Vec<String> = counts
            .iter()
            .filter(|(_, c)| *c != 1)
            .map(|(what, c)| format!("{what} ×{c}"))
            .collect();
        if !s.done || !off.is_empty() {
            wrong.push(format!(
                "{from} → {to} {} {}: done {}, {}",
                s.kind,
                s.message_id,
                s.done,
                off.join(", ")
            ));
        }
    }
    if sent.is_empty() {
        wrong.push(format!("{from} sent nothing to {to}"));
    }
    wrong
}

struct Run {
    m: Mover,
    dest: String,
    case_id: String,
    origin_before: Member,
    dest_before: i64,
}

/// Poll a case at `code` until it is final or waits for a clerk's settlement (or 120 s pass:
/// then the last view).
async fn wait_settled(zone: &Zone, code: &str, case_id: &str) -> hfx_proto::v1::TransferView {
    let clerk = zone.client(code, Role::Clerk).expect("clerk");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(v) = clerk.get_transfer(case_id).await
            && (v.is_final || v.state == "negotiating" || std::time::Instant::now() > deadline)
        {
            return v;
        }
        if std::time::Instant::now() > deadline {
            return wait_final(zone, code, case_id, 0).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The centre of the shipped zone at `i` (file order, as `prepare` takes them).
fn centre_code(i: usize) -> String {
    hfx_certs::ZoneConfig::parse(SHIPPED_ZONE)
        .expect("shipped zone")
        .centres[i]
        .code
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_postgres_store_take_each_message_once() {
    let Some(server) = db_url("HFX_TEST_POSTGRES_URL", "shared PostgreSQL store") else {
        return;
    };
    init();
    let db = PgDb::create(&server, "shared").await;
    // Centre 1 is the destination of centre 0's movers and the origin of centre 2's (the
    // seed's ring), so its two processes send and receive every kind of message.
    let shared = centre_code(1);
    let tmp = tempfile::Builder::new()
        .prefix("hfx-shared-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), 3);
    spec.members_per_centre = MEMBERS;
    spec.log_level = "info".into();
    spec.store_urls.insert(shared.clone(), db.url.clone());
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    zone.start_all().await.expect("start zone");
    zone.spawn_twin(&shared).expect("second process");
    zone.wait_twin_ready(&shared, Duration::from_secs(60))
        .await
        .expect("second process ready");

    // A panic in the checks still stops the processes and drops the database.
    let run =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(exercise(&zone, &shared)))
            .await;
    let mut failures = match &run {
        Ok(f) => f.clone(),
        Err(_) => vec!["the checks panicked (above)".into()],
    };
    if !failures.is_empty() {
        failures.push(problems_logged(&zone, &shared));
    }
    zone.shutdown().await;
    db.drop_db().await;
    if let Err(panic) = run {
        eprintln!("{}", failures.join("\n\n"));
        std::panic::resume_unwind(panic);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The first warnings and errors the shared centre's two processes logged.
fn problems_logged(zone: &Zone, code: &str) -> String {
    let plan = zone.plan(code).expect("centre");
    let mut out = String::new();
    for name in ["node.log", "node.twin.log"] {
        let text = std::fs::read_to_string(plan.config.with_file_name(name)).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
            .take(8)
            .collect();
        out.push_str(&format!("{code} {name}:\n{}\n", lines.join("\n")));
    }
    out
}

/// The transfers and every check; returns what is wrong.
async fn exercise(zone: &Zone, shared: &str) -> Vec<String> {
    let [c0, c2] = [0, 2].map(|i| zone.centres[i].code.clone());
    let mut runs = Vec::new();
    for dest in [shared, c2.as_str()] {
        for k in 0..MOVERS {
            let m = mover(dest, k);
            let (oc, dc) = (
                core_of(zone, &m.origin_centre).await,
                core_of(zone, dest).await,
            );
            runs.push(Run {
                origin_before: member_now(oc.as_ref(), &m.origin).await,
                dest_before: member_now(dc.as_ref(), &m.dest).await.balance_fen,
                dest: dest.to_string(),
                case_id: uuid::Uuid::now_v7().to_string(),
                m,
            });
        }
    }
    let transit_before = bank(zone).ledger().await.transit_fen;
    let money_before: i64 = runs
        .iter()
        .map(|r| r.origin_before.balance_fen + r.dest_before)
        .sum::<i64>()
        + transit_before;

    // All at once; the shared centre's clerks use both of its processes in turn.
    let starts = runs.iter().enumerate().map(|(i, r)| {
        let clerk = if r.dest == shared && i % 2 == 1 {
            zone.twin_client(shared, Role::Clerk)
        } else {
            zone.client(&r.dest, Role::Clerk)
        }
        .expect("clerk");
        let mut req = start_request(&r.m);
        req.case_id = r.case_id.clone();
        async move { clerk.start_transfer(req).await }
    });
    let mut failures = Vec::new();
    for (r, v) in runs.iter().zip(futures::future::join_all(starts).await) {
        if let Err(e) = v {
            failures.push(format!("{}: start: {e:?}", r.case_id));
        }
    }
    let finals = runs.iter().map(|r| async move {
        let mut d = wait_settled(zone, &r.dest, &r.case_id).await;
        if d.state == "negotiating" {
            // The origin reports an unsettled loan: the destination's clerk settles it.
            let clerk = zone.client(&r.dest, Role::Clerk).expect("clerk");
            if let Err(e) = clerk.resolve_transfer(&r.case_id, "accept").await {
                eprintln!("{}: resolve: {e:?}", r.case_id);
            }
            d = wait_final(zone, &r.dest, &r.case_id, 120).await;
        }
        let o = wait_final(zone, &r.m.origin_centre, &r.case_id, 120).await;
        (d, o)
    });
    let finals = futures::future::join_all(finals).await;
    // Deliveries follow the destination's `done`: wait until none is in transit.
    let ledger = ledger_when(zone, 60, |l| {
        runs.iter().all(|r| {
            l.case(&r.case_id)
                .is_none_or(|c| c.state != CaseState::Paid)
        })
    })
    .await;

    let mut money_after = ledger.transit_fen;
    let mut done = 0;
    for (r, (d, o)) in runs.iter().zip(&finals) {
        let (oc, dc) = (
            core_of(zone, &r.m.origin_centre).await,
            core_of(zone, &r.dest).await,
        );
        let origin_now = member_now(oc.as_ref(), &r.m.origin).await;
        let dest_now = member_now(dc.as_ref(), &r.m.dest).await.balance_fen;
        money_after += origin_now.balance_fen + dest_now;
        let credits = transfer_in_postings(dc.as_ref(), &r.m).await;
        let entries: Vec<_> = ledger
            .cases
            .iter()
            .filter(|c| c.case_id == r.case_id)
            .collect();
        let amount = r.origin_before.balance_fen;
        let mut wrong = Vec::new();
        if !(d.is_final && o.is_final && d.state == o.state) {
            wrong.push(format!(
                "destination {} (final {}) / origin {} (final {})",
                d.state, d.is_final, o.state, o.is_final
            ));
        }
        match d.state.as_str() {
            "done" | "negotiated_done" => {
                done += 1;
                if (origin_now.status, origin_now.balance_fen)
                    != (AccountStatus::ClosedTransferred, 0)
                {
                    wrong.push(format!(
                        "origin account {:?} {} fen, want closed-transferred 0",
                        origin_now.status, origin_now.balance_fen
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
            "refused" => {
                if origin_now != r.origin_before {
                    wrong.push("the refused case changed the origin account".into());
                }
                if dest_now != r.dest_before || !credits.is_empty() || !entries.is_empty() {
                    wrong.push(format!(
                        "the refused case moved money: destination {dest_now} (was {}), 08 postings {credits:?}, ledger {entries:?}",
                        r.dest_before
                    ));
                }
            }
            other => wrong.push(format!("ended {other}")),
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "case {} ({} → {}): {}\ndestination:\n{}\norigin:\n{}",
                r.case_id,
                r.m.origin_centre,
                r.dest,
                wrong.join("; "),
                timeline(d),
                timeline(o)
            ));
        }
    }
    eprintln!(
        "{} transfers: {done} done, the rest refused (frozen origin accounts)",
        runs.len()
    );
    if done < runs.len() / 2 {
        failures.push(format!("only {done} of {} transfers done", runs.len()));
    }
    if ledger.transit_fen != 0 {
        failures.push(format!("money left in transit: {ledger:?}"));
    }
    if money_after != money_before {
        failures.push(format!(
            "zone money {money_after} fen after, {money_before} before"
        ));
    }

    // Every message between the shared centre and its peers took effect once, both ways.
    let pools: BTreeMap<&str, sqlx::AnyPool> = [
        (c0.as_str(), store_pool(zone, &c0).await),
        (shared, store_pool(zone, shared).await),
        (c2.as_str(), store_pool(zone, &c2).await),
    ]
    .into_iter()
    .collect();
    for (from, to) in [
        (shared, &c0),
        (c0.as_str(), &shared.to_string()),
        (shared, &c2),
        (c2.as_str(), &shared.to_string()),
    ] {
        failures.extend(messages_once(from, &pools[from], to, &pools[to.as_str()]).await);
    }

    // Both processes relayed: the shared outbox's rows were last claimed by each of them.
    let pids = [zone.pid(shared), zone.twin_pid(shared)];
    let rows = outbox(&pools[shared]).await;
    for pid in pids {
        let Some(pid) = pid else {
            failures.push(format!("a process of {shared} is gone"));
            continue;
        };
        let mine = rows
            .iter()
            .filter(|s| s.claimed_by.split('/').nth(1) == Some(pid.to_string().as_str()))
            .count();
        eprintln!(
            "process {pid} of {shared}: last claimer of {mine} of {} outbox messages",
            rows.len()
        );
        if mine == 0 {
            failures.push(format!(
                "process {pid} of {shared} relayed none of the {} messages",
                rows.len()
            ));
        }
    }
    for pool in pools.values() {
        pool.close().await;
    }
    failures
}
