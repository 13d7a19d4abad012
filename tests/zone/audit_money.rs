//! The auditor sees money (DESIGN §4–5, issue 10 item 7), on real node processes and the
//! built `hfx` binary: after real transfers `hfx audit replay --config` finds every case in
//! the log, the store and the core system agreeing, and `hfx audit reconcile` finds no money
//! in flight; then real breaks (the core system's balance edited, the store's case row
//! edited, an origin stopped by a crash point while it holds the money, a destination
//! stopped just before it credits) are each named by the tool that sees them, with the
//! case, the kind or field, and an age; and when every case is done, all is clean again.

use crate::audit::export_of;
use crate::transfer::{
    Mover, core_of, member_now, mover, start_request, transfer_zone, wait_final,
};
use hfx_certs::Role;
use hfx_zone::launcher::Zone;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Run the built `hfx` with `args`; its exit status and stdout as JSON.
fn hfx_json(args: &[&str]) -> (bool, Value) {
    let out = crate::common::hfx()
        .args(args)
        .output()
        .expect("running hfx");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "hfx {}: {:?}\n--- stdout\n{stdout}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("hfx {}: stdout is not JSON: {e}", args.join(" ")));
    (out.status.success(), v)
}

/// Run the built `hfx` with `args` for its human output (it must fail: a break is shown).
fn hfx_text(args: &[&str]) -> String {
    let out = crate::common::hfx()
        .args(args)
        .output()
        .expect("running hfx");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("hfx {}: {:?}\n{text}", args.join(" "), out.status);
    assert!(
        !out.status.success(),
        "hfx {} reports a break",
        args.join(" ")
    );
    text
}

fn config(zone: &Zone, code: &str) -> PathBuf {
    zone.plan(code).expect("centre").config.clone()
}

/// Export a running node's log through its local API (auditor certificate).
async fn export_live(zone: &Zone, code: &str, dir: &Path, tag: &str) -> PathBuf {
    let (bytes, _) = export_of(zone, code).await;
    let path = dir.join(format!("{code}-{tag}.hfxlog"));
    std::fs::write(&path, bytes).expect("write export");
    path
}

/// Export both running nodes once every message sent has its other side logged too: a case
/// is final when its last message is sent, and the answer's log entry follows (or `secs`
/// pass: then the last exports, for the caller's assertions to name what is missing).
async fn quiet_exports(zone: &Zone, a: &str, b: &str, dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let fa = export_live(zone, a, dir, tag).await;
        let fb = export_live(zone, b, dir, tag).await;
        let exports = [&fa, &fb].map(|f| {
            hfx_tlog::audit::parse(
                &mut std::io::BufReader::new(std::fs::File::open(f).unwrap()),
                &|_, _| {},
            )
            .unwrap()
        });
        let quiet = hfx_tlog::audit::reconcile(&exports, hfx_node::now_ms())
            .breaks
            .is_empty();
        if quiet || std::time::Instant::now() > deadline {
            return (fa, fb);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Export a stopped node's log from its store (`hfx audit export --config`).
fn export_offline(zone: &Zone, code: &str, dir: &Path, tag: &str) -> PathBuf {
    let path = dir.join(format!("{code}-{tag}.hfxlog"));
    let out = crate::common::hfx()
        .args(["audit", "export", "--config"])
        .arg(config(zone, code))
        .arg("--out")
        .arg(&path)
        .output()
        .expect("running hfx audit export");
    assert!(
        out.status.success(),
        "offline export of {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn replay(export: &Path, zone: &Zone, code: &str) -> (bool, Value) {
    let cfg = config(zone, code);
    hfx_json(&[
        "audit",
        "replay",
        export.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--json",
    ])
}

fn reconcile(files: &[&Path], hold_deadline_secs: u64) -> (bool, Value) {
    let mut args = vec!["audit".to_string(), "reconcile".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "--hold-deadline-secs".into(),
        hold_deadline_secs.to_string(),
        "--json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hfx_json(&args)
}

/// The money findings of a replay as (kind, case, field, age).
fn findings(v: &Value) -> Vec<(String, String, String, i64)> {
    v["money"]["findings"]
        .as_array()
        .expect("money findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_string(),
                f["case_id"].as_str().unwrap_or("").to_string(),
                f["field"].as_str().unwrap_or("").to_string(),
                f["age_seconds"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn replayed_case<'a>(v: &'a Value, case_id: &str) -> &'a Value {
    v["money"]["cases"]
        .as_array()
        .expect("money cases")
        .iter()
        .find(|c| c["case_id"] == case_id)
        .unwrap_or_else(|| panic!("case {case_id} not rebuilt from the log: {v}"))
}

/// Run a transfer to its end (a negotiation settled by the destination's clerk).
async fn transfer_to_done(zone: &Zone, m: &Mover, dest: &str) -> String {
    let clerk = zone.client(dest, Role::Clerk).unwrap();
    let v = clerk.start_transfer(start_request(m)).await.unwrap();
    let mut d = wait_final(zone, dest, &v.case_id, 40).await;
    if d.state == "negotiating" {
        clerk.resolve_transfer(&v.case_id, "accept").await.unwrap();
        d = wait_final(zone, dest, &v.case_id, 40).await;
    }
    assert!(d.state.ends_with("done"), "destination ended {}", d.state);
    let o = wait_final(zone, &m.origin_centre, &v.case_id, 40).await;
    assert_eq!(o.state, d.state);
    v.case_id
}

fn set_crash_point(zone: &Zone, code: &str, point: Option<&str>) {
    let path = config(zone, code);
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

async fn sqlite(url_or_path: &str) -> sqlx::SqlitePool {
    let path = url_or_path.trim_start_matches("sqlite://");
    let path = path.split('?').next().unwrap_or(path);
    sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("open sqlite")
}

/// Seconds pass so that every age below is at least one.
async fn let_a_second_pass() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_and_reconcile_see_the_money_of_real_transfers_and_name_each_break() {
    let (tmp, mut zone) = transfer_zone(2).await;
    let dest = zone.centres[1].code.clone();
    let origin = zone.centres[0].code.clone();
    let out = tmp.path().join("exports");
    std::fs::create_dir_all(&out).unwrap();
    let movers = [mover(&dest, 0), mover(&dest, 1)];
    let mut cases = Vec::new();
    for m in &movers {
        assert_eq!(m.origin_centre, origin);
        cases.push(transfer_to_done(&zone, m, &dest).await);
    }
    // Two that move no money: refused (the origin account is frozen), and failed (the bank
    // declines the payout: the hold is released, the sealed account gets its money back).
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let frozen = mover(&dest, 3);
    let refused = clerk
        .start_transfer(start_request(&frozen))
        .await
        .unwrap()
        .case_id;
    let declined = mover(&dest, 2);
    let failed = uuid::Uuid::now_v7().hyphenated().to_string();
    zone.bank()
        .expect("the zone's bank")
        .set_fault(hfx_standins::bank::Fault::for_case(
            &failed,
            hfx_standins::bank::FaultMode::Decline,
        ))
        .expect("fault");
    let mut req = start_request(&declined);
    req.case_id = failed.clone();
    clerk.start_transfer(req).await.unwrap();
    for (id, want) in [(&refused, "refused"), (&failed, "failed")] {
        for code in [&dest, &origin] {
            assert_eq!(wait_final(&zone, code, id, 40).await.state, want, "{code}");
        }
    }

    // 1. Clean: every case in the log, the store and the core system agreeing; nothing in
    //    flight.
    let (o1, d1) = quiet_exports(&zone, &origin, &dest, &out, "1").await;
    for (file, code) in [(&o1, &origin), (&d1, &dest)] {
        let (ok, v) = replay(file, &zone, code);
        assert!(ok, "replay of {code} is clean: {v:#}");
        assert_eq!(findings(&v), vec![], "{code}");
        assert_eq!(v["money"]["compared_with_store_and_core"], true);
        for (m, id) in movers.iter().zip(&cases) {
            let c = replayed_case(&v, id);
            assert!(c["state"].as_str().unwrap().ends_with("done"), "{c}");
            assert_eq!(c["held_fen"], m.origin.balance_fen, "{c}");
            assert_eq!(c["paid_fen"], m.origin.balance_fen, "{c}");
            assert_eq!(c["credited_fen"], m.origin.balance_fen, "{c}");
        }
        assert_eq!(replayed_case(&v, &refused)["state"], "refused");
        let f = replayed_case(&v, &failed);
        assert_eq!(
            (f["state"].as_str(), f["released"].as_bool()),
            (Some("failed"), Some(true))
        );
        assert_eq!(f["held_fen"], declined.origin.balance_fen, "{f}");
    }
    let (ok, v) = reconcile(&[&o1, &d1], 600);
    let money = &v["money"];
    assert_eq!(money["breaks"], serde_json::json!([]), "{v:#}");
    assert_eq!(money["in_flight"]["total_fen"], 0, "{v:#}");
    assert_eq!(money["settled"], 2, "{v:#}");
    assert!(ok, "{v:#}");

    let_a_second_pass().await;

    // 2. The core system's balance edited: the origin's closed account shows money again.
    let ocfg = hfx_node::config::NodeConfig::load(&config(&zone, &origin)).unwrap();
    let core_path = ocfg.resolve(ocfg.adapter.path.as_ref().expect("sqlite core path"));
    let core_db = sqlite(core_path.to_str().unwrap()).await;
    let acct = &movers[0].origin.account_no;
    let before: String = sqlx::query_scalar("SELECT grzhye FROM grxx WHERE grzh = ?")
        .bind(acct)
        .fetch_one(&core_db)
        .await
        .unwrap();
    sqlx::query("UPDATE grxx SET grzhye = '12.34' WHERE grzh = ?")
        .bind(acct)
        .execute(&core_db)
        .await
        .unwrap();
    let (ok, v) = replay(&o1, &zone, &origin);
    assert!(!ok);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0.as_str(), f[0].1.as_str(), f[0].2.as_str()),
        ("core_differs", cases[0].as_str(), "balance_fen"),
        "{f:?}"
    );
    assert!(f[0].3 > 0, "{f:?}");
    let cfg = config(&zone, &origin);
    let text = hfx_text(&[
        "audit",
        "replay",
        o1.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(
        text.contains(&format!(
            "core_differs case {} (origin) balance_fen: expected 0, found 1234",
            cases[0]
        )),
        "{text}"
    );
    sqlx::query("UPDATE grxx SET grzhye = ? WHERE grzh = ?")
        .bind(&before)
        .bind(acct)
        .execute(&core_db)
        .await
        .unwrap();
    assert!(replay(&o1, &zone, &origin).0, "the balance restored");

    // 3. The store's case row edited: the destination's case says the bank paid 100 fen more.
    let dcfg = hfx_node::config::NodeConfig::load(&config(&zone, &dest)).unwrap();
    let store_db = sqlite(&dcfg.store_url()).await;
    let state: String = sqlx::query_scalar("SELECT state FROM transfer_case WHERE case_id = ?")
        .bind(&cases[1])
        .fetch_one(&store_db)
        .await
        .unwrap();
    let mut edited: Value = serde_json::from_str(&state).unwrap();
    let paid = edited["payment"]["amount_fen"].as_i64().unwrap();
    edited["payment"]["amount_fen"] = (paid + 100).into();
    sqlx::query("UPDATE transfer_case SET state = ? WHERE case_id = ?")
        .bind(edited.to_string())
        .bind(&cases[1])
        .execute(&store_db)
        .await
        .unwrap();
    let (ok, v) = replay(&d1, &zone, &dest);
    assert!(!ok);
    let f = findings(&v);
    let fields: Vec<(&str, &str, &str)> = f
        .iter()
        .map(|f| (f.0.as_str(), f.1.as_str(), f.2.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("store_differs", cases[1].as_str(), "paid_fen"),
            ("store_differs", cases[1].as_str(), "credited_fen")
        ]
    );
    assert!(f.iter().all(|f| f.3 > 0), "{f:?}");
    sqlx::query("UPDATE transfer_case SET state = ? WHERE case_id = ?")
        .bind(&state)
        .bind(&cases[1])
        .execute(&store_db)
        .await
        .unwrap();
    assert!(replay(&d1, &zone, &dest).0, "the row restored");

    // 4. The origin stops (a crash point) just after it sealed the account and held the
    //    money: the hold is in flight, and past its deadline a break.
    let m = mover(&dest, 4);
    let oc = core_of(&zone, &origin).await;
    let balance = member_now(oc.as_ref(), &m.origin).await.balance_fen;
    set_crash_point(&zone, &origin, Some("after_commit:origin:held"));
    restart(&mut zone, &origin).await;
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let held_case = clerk
        .start_transfer(start_request(&m))
        .await
        .unwrap()
        .case_id;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !has_exited(&zone, &origin) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        has_exited(&zone, &origin),
        "the origin reached its crash point"
    );
    set_crash_point(&zone, &origin, None);
    let o2 = export_offline(&zone, &origin, &out, "2");
    let d2 = export_live(&zone, &dest, &out, "2").await;
    let_a_second_pass().await;
    // The store and the core system agree that it is held: replay finds nothing wrong, and
    // shows the case held with its amount and age.
    let (ok, v) = replay(&o2, &zone, &origin);
    assert!(ok, "{v:#}");
    let c = replayed_case(&v, &held_case);
    assert_eq!(
        (c["state"].as_str(), c["held_fen"].as_i64()),
        (Some("held"), Some(balance))
    );
    assert!(c["age_seconds"].as_i64().unwrap() > 0, "{c}");
    let (ok, v) = reconcile(&[&o2, &d2], 1);
    assert!(!ok);
    let money = &v["money"];
    let breaks = money["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{v:#}");
    assert_eq!(breaks[0]["kind"], "held_past_deadline");
    assert_eq!(breaks[0]["case_id"], held_case.as_str());
    assert_eq!(breaks[0]["amount_fen"], balance);
    assert!(breaks[0]["age_seconds"].as_i64().unwrap() > 0, "{v:#}");
    assert_eq!(money["in_flight"]["held_at_origins_fen"], balance);
    assert_eq!(money["in_flight"]["total_fen"], balance);
    // Within its deadline the hold is money in flight, not a break.
    let (_, v) = reconcile(&[&o2, &d2], 3600);
    assert_eq!(v["money"]["breaks"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["money"]["in_flight"]["total_fen"], balance);

    // The same, as a person reads it.
    let text = hfx_text(&[
        "audit",
        "reconcile",
        o2.to_str().unwrap(),
        d2.to_str().unwrap(),
        "--hold-deadline-secs",
        "1",
    ]);
    assert!(
        text.contains(&format!("held_past_deadline case {held_case}"))
            && text.contains(&format!(
                "money in flight, as the logs show it: {balance} fen"
            )),
        "{text}"
    );

    // 5. The origin back: the held case finishes.
    zone.spawn(&origin).expect("spawn");
    zone.wait_ready(&origin, Duration::from_secs(30))
        .await
        .expect("ready");
    let d = wait_final(&zone, &dest, &held_case, 40).await;
    if d.state == "negotiating" {
        clerk.resolve_transfer(&held_case, "accept").await.unwrap();
    }
    wait_final(&zone, &dest, &held_case, 40).await;
    wait_final(&zone, &origin, &held_case, 40).await;

    // 6. The destination stops (a crash point) just before it credits: the origin has closed
    //    the account and the bank paid, nothing is credited: the money is in transit.
    let m = mover(&dest, 5);
    let amount = member_now(oc.as_ref(), &m.origin).await.balance_fen;
    set_crash_point(&zone, &dest, Some("before_action:credit"));
    restart(&mut zone, &dest).await;
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let transit_case = clerk
        .start_transfer(start_request(&m))
        .await
        .unwrap()
        .case_id;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !has_exited(&zone, &dest) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        has_exited(&zone, &dest),
        "the destination reached its crash point"
    );
    set_crash_point(&zone, &dest, None);
    let o4 = export_live(&zone, &origin, &out, "4").await;
    let d4 = export_offline(&zone, &dest, &out, "4");
    let_a_second_pass().await;
    let (ok, v) = reconcile(&[&o4, &d4], 600);
    assert!(!ok);
    let money = &v["money"];
    let breaks = money["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{v:#}");
    assert_eq!(breaks[0]["kind"], "closed_not_credited");
    assert_eq!(breaks[0]["case_id"], transit_case.as_str());
    assert_eq!(breaks[0]["amount_fen"], amount);
    assert!(breaks[0]["age_seconds"].as_i64().unwrap() > 0, "{v:#}");
    assert_eq!(money["in_flight"]["in_transit_fen"], amount);
    assert_eq!(money["in_flight"]["total_fen"], amount);
    // The destination's store and core agree: it is crediting, nothing credited yet.
    let (ok, v) = replay(&d4, &zone, &dest);
    assert!(ok, "{v:#}");
    assert_eq!(replayed_case(&v, &transit_case)["state"], "crediting");

    // 7. The destination back: every case done, nothing in flight, every tool clean.
    zone.spawn(&dest).expect("spawn");
    zone.wait_ready(&dest, Duration::from_secs(30))
        .await
        .expect("ready");
    wait_final(&zone, &dest, &transit_case, 40).await;
    wait_final(&zone, &origin, &transit_case, 40).await;
    let (o5, d5) = quiet_exports(&zone, &origin, &dest, &out, "5").await;
    let (_, v) = reconcile(&[&o5, &d5], 1);
    assert_eq!(v["money"]["breaks"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["money"]["in_flight"]["total_fen"], 0, "{v:#}");
    assert_eq!(v["money"]["settled"], 4, "{v:#}");
    assert_eq!(v["money"]["cases"], 6, "{v:#}");
    for (file, code) in [(&o5, &origin), (&d5, &dest)] {
        let (ok, v) = replay(file, &zone, code);
        assert!(ok, "{code}: {v:#}");
        assert_eq!(v["money"]["cases"].as_array().unwrap().len(), 6);
    }
    zone.shutdown().await;
}
