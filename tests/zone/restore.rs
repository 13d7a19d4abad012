//! Backup and restore (docs/backup.md): an online backup, more traffic, the old backup
//! restored → the node refuses to start, naming the size its witnesses cosigned and its
//! own; the newest restored → it serves and its log verifies.

use crate::audit::{export_of, trusted_key};
use crate::common::{PgDb, db_url, member, node_log, peer_channel, query, zone, zone_with};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_zone::launcher::Zone;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Member queries from `a` (and, with `answers`, to it; both sides log each); returns how
/// many were answered.
async fn traffic(zone: &Zone, a: &str, rounds: usize, answers: bool) -> usize {
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    let mut n = 0;
    for _ in 0..rounds {
        for other in codes.iter().filter(|c| c.as_str() != a) {
            let pairs = [(a, other.as_str()), (other.as_str(), a)];
            for (from, to) in pairs.into_iter().take(if answers { 2 } else { 1 }) {
                let m = member(to, AccountStatus::Normal);
                zone.client(from, Role::Clerk)
                    .unwrap()
                    .query_member(query(to, &m, pb::Purpose::IdentityConfirmation))
                    .await
                    .unwrap();
                n += 1;
            }
        }
    }
    n
}

/// Wait until `code` has signed its whole log and a quorum cosigned it; its log size.
async fn witnessed(zone: &Zone, code: &str) -> u64 {
    for _ in 0..600 {
        let st = zone
            .client(code, Role::Operator)
            .unwrap()
            .status()
            .await
            .unwrap();
        if st.log_size > 0
            && st.checkpoint_size == st.log_size
            && st.witnessed_size == st.checkpoint_size
        {
            return st.log_size;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{code}: the log was not cosigned by a quorum of witnesses");
}

/// What witness `w` holds for `centre` (asked as `centre`'s node, as a starting node does).
async fn held_by(zone: &Zone, w: &str, centre: &str) -> u64 {
    let mut c = pb::log_exchange_client::LogExchangeClient::new(peer_channel(zone, centre, w));
    let note = c
        .get_witnessed(pb::WitnessedRequest {
            header: None,
            centre: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .note;
    let note = String::from_utf8(note).unwrap();
    // Checkpoint note: origin, size, root.
    note.lines().nth(1).unwrap().parse().unwrap()
}

fn hfx(args: &[&std::ffi::OsStr]) -> Output {
    crate::common::hfx()
        .args(args)
        .env("HFX_LOG", "error")
        .output()
        .expect("run hfx")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `hfx store backup --config CONFIG --out DIR --json`: the file and its log size.
fn backup(config: &Path, out: &Path) -> (PathBuf, u64) {
    let o = hfx(&[
        "store".as_ref(),
        "backup".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(o.status.success(), "backup: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file = PathBuf::from(v["file"].as_str().unwrap());
    assert!(file.is_file() && v["bytes"].as_u64().unwrap() > 0, "{v}");
    (file, v["log_size"].as_u64().unwrap())
}

fn restore(config: &Path, from: &Path, force: bool) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "store".as_ref(),
        "restore".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--from".as_ref(),
        from.as_os_str(),
        "--json".as_ref(),
    ];
    if force {
        args.push("--force".as_ref());
    }
    hfx(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_backup_is_refused_at_start_and_the_newest_serves_and_verifies() {
    let (tmp, mut zone) = zone(3).await;
    stale_then_newest(&mut zone, tmp.path(), "sqlite", true).await;
    zone.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_store_backs_up_with_pg_dump_and_restores_with_the_same_checks() {
    let Some(server) = db_url("HFX_TEST_POSTGRES_URL", "PostgreSQL backup round trip") else {
        return;
    };
    let db = PgDb::create(&server, "restore").await;
    let a = hfx_certs::ZoneConfig::parse(hfx_zone::launcher::SHIPPED_ZONE)
        .unwrap()
        .centres[0]
        .code
        .clone();
    let url = db.url.clone();
    let (tmp, mut zone) = zone_with(3, move |s| {
        s.store_urls.insert(a, url);
    })
    .await;
    // A panic in the checks still stops the processes and drops the database.
    let run = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(stale_then_newest(
        &mut zone,
        tmp.path(),
        "pgdump",
        // A PostgreSQL store answering member queries fails today (0x00 in a text column,
        // not this test's subject): the node under test only asks.
        false,
    )))
    .await;
    if run.is_err() {
        for c in &zone.centres {
            let log =
                std::fs::read_to_string(c.config.with_file_name("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(12).collect();
            eprintln!(
                "{} node.log (last lines, newest first):\n{}",
                c.code,
                tail.join("\n")
            );
        }
    }
    zone.shutdown().await;
    db.drop_db().await;
    if let Err(panic) = run {
        std::panic::resume_unwind(panic);
    }
}

/// Centre 0 of `zone`: an online backup, more traffic, the old backup restored → refused
/// at start with the sizes; the newest restored → it serves and its log verifies.
async fn stale_then_newest(zone: &mut Zone, tmp: &Path, kind: &str, answers: bool) {
    let zone_ref = &*zone;
    let [a, b, c] = [0, 1, 2].map(|i| zone_ref.centres[i].code.clone());
    let config = zone.plan(&a).unwrap().config.clone();
    let backups = tmp.join("backups");
    std::fs::create_dir_all(&backups).unwrap();

    traffic(zone, &a, 2, answers).await;
    witnessed(zone, &a).await;
    // Online: the node keeps running while the store is copied.
    let (old, old_size) = backup(&config, &backups);
    assert!(old_size > 0);
    assert!(
        old.display().to_string().ends_with(kind),
        "{}",
        old.display()
    );
    // A restore while the node runs is refused.
    let o = restore(&config, &old, true);
    assert!(
        !o.status.success() && text(&o).contains("in use"),
        "{}",
        text(&o)
    );

    traffic(zone, &a, 2, answers).await;
    let size = witnessed(zone, &a).await;
    assert!(size > old_size);
    zone.stop(&a, Duration::from_secs(10)).unwrap();
    let (newest, newest_size) = backup(&config, &backups);
    assert!(newest_size >= size);
    let known = held_by(zone, &b, &a).await.max(held_by(zone, &c, &a).await);
    assert!(
        known > old_size,
        "witnesses hold {known}, old backup {old_size}"
    );

    // Another centre's backup is not this centre's log: refused before anything is replaced.
    if kind == "sqlite" {
        let (theirs, _) = backup(&zone.plan(&b).unwrap().config.clone(), &backups);
        let o = restore(&config, &theirs, true);
        assert!(
            !o.status.success() && text(&o).contains(&format!("not signed by {a}")),
            "{}",
            text(&o)
        );
    }
    // Never over a store without --force.
    let o = restore(&config, &old, false);
    assert!(
        !o.status.success() && text(&o).contains("--force"),
        "{}",
        text(&o)
    );
    let o = restore(&config, &old, true);
    assert!(o.status.success(), "{}", text(&o));

    // The stale store: the node refuses to serve, saying what the zone knows and what it has.
    zone.spawn(&a).unwrap();
    let status = zone
        .wait_exit(&a, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a node on a stale store must not keep running");
    assert!(!status.success(), "{status}");
    let log = node_log(zone, &a);
    let refusal = log
        .lines()
        .rev()
        .find(|l| l.contains("refusing to serve"))
        .unwrap_or_else(|| panic!("no refusal in {a}'s log:\n{log}"));
    eprintln!("{a} refused: {refusal}");
    for want in [
        format!("log of size {known}"),
        format!("this store's log has size {old_size}"),
        "restore a newer backup".to_string(),
    ] {
        assert!(refusal.contains(&want), "{want:?} not in {refusal}");
    }
    assert!(
        refusal.contains(&b) || refusal.contains(&c),
        "no witness named: {refusal}"
    );

    // The newest backup: it serves, and its log verifies with its cosignatures.
    let o = restore(&config, &newest, true);
    assert!(o.status.success(), "{}", text(&o));
    zone.spawn(&a).unwrap();
    zone.wait_ready(&a, Duration::from_secs(60)).await.unwrap();
    traffic(zone, &a, 1, answers).await;
    let after = witnessed(zone, &a).await;
    assert!(after > newest_size);
    let (_, export) = export_of(zone, &a).await;
    let rep = hfx_tlog::audit::verify(&export, Some(&trusted_key(zone, &a)), 2, &|_, _| {});
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(
        rep.entries >= after && rep.cosignatures_verified > 0,
        "{rep:?}"
    );
}

/// `hfx store check`: the full pass over a node's log passes on a store as the node left it,
/// and names what is wrong when a stored tile no longer matches the entries; a node then
/// refuses to start on it (the newest checkpoint's root, recomputed from the tiles, differs).
#[tokio::test(flavor = "multi_thread")]
async fn store_check_passes_a_whole_log_and_names_a_tampered_tile() {
    let (_tmp, mut zone) = zone(2).await;
    let a = zone.centres[0].code.clone();
    let config = zone.plan(&a).unwrap().config.clone();
    // More than one full tile (256 entries) in A's log.
    let mut size = 0;
    while size < 300 {
        traffic(&zone, &a, 10, true).await;
        size = witnessed(&zone, &a).await;
    }
    zone.stop(&a, Duration::from_secs(10)).unwrap();
    let check = |config: &Path| {
        hfx(&[
            "store".as_ref(),
            "check".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
            "--json".as_ref(),
        ])
    };
    let o = check(&config);
    assert!(o.status.success(), "check: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["log_size"].as_u64(), Some(size), "{v}");
    assert_eq!(v["checkpoint_size"].as_u64(), Some(size), "{v}");

    // Tamper with the first tile (its rows are append-only: the trigger goes first).
    let url = hfx_node::config::NodeConfig::load(&config)
        .unwrap()
        .store_url();
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "DROP TRIGGER log_tiles_no_update; UPDATE log_tiles SET hashes = zeroblob(8192) WHERE level = 0 AND idx = 0",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let o = check(&config);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("tile 0/0"),
        "the error names the tile: {v}"
    );
    zone.spawn(&a).unwrap();
    let status = zone
        .wait_exit(&a, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a node on a log whose tiles do not match its checkpoint refuses to start");
    assert!(!status.success());
    assert!(
        node_log(&zone, &a).contains("does not extend the last signed checkpoint"),
        "{}",
        node_log(&zone, &a)
    );
}
