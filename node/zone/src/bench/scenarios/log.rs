//! log: durable appends through the store's group-commit writer.

use super::super::load::{drive, warmup_for};
use super::super::procfs::usage;
use super::super::report::{cost_json, round};
use super::super::store::{StoreChoice, Stores};
use super::super::{BenchOptions, DEFAULT_DURATION, TARGET_LOG_APPENDS, Ui};
use super::LOG_PEERS;
use anyhow::Context;
use hfx_node::log::{Envelope, LogState, SENT};
use hfx_node::store::{Store, WriteOp};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `log` scenario: appends at `--concurrency` writers and at `log_writers` (the group
/// commit's capacity: a busy node's writer sees every in-flight request of every peer). The
/// top-level figures are the larger point's; the other sits under `at_concurrency`.
pub(crate) async fn run_log(
    dir: &Path,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let mut points = vec![opts.concurrency, opts.log_writers.max(1)];
    points.sort_unstable();
    points.dedup();
    let mut results = Vec::new();
    for writers in points {
        results.push(log_point(dir, writers, stores, opts, ui).await?);
    }
    let mut top = results.pop().context("no log point")?;
    if let Some(small) = results.pop() {
        top["at_concurrency"] = small;
    }
    Ok(top)
}

pub(crate) async fn log_point(
    dir: &Path,
    writers: usize,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    // A fresh store per point, so neither inherits the other's table sizes.
    let db = dir.join(format!("log-{writers}.db"));
    let url = stores.fresh(&db, &format!("log_{writers}")).await?;
    let place = match stores.choice() {
        StoreChoice::Sqlite => db.display().to_string(),
        StoreChoice::Postgres => format!("a fresh PostgreSQL database (log_{writers})"),
    };
    let store = Store::open(&url, LogState::new())
        .await
        .context("opening the bench store")?;
    let measure = opts.duration.unwrap_or(DEFAULT_DURATION);
    let payload_bytes = opts.payload_bytes.max(16);
    ui.say(&format!(
        "log: {writers} writers appending {payload_bytes} B payloads to {place}, {} s",
        measure.as_secs_f64()
    ));
    let entry_bytes = Arc::new(AtomicU64::new(0));
    let (st, eb) = (store.clone(), entry_bytes.clone());
    let me = std::process::id();
    let commits = store.commit_metrics().clone();
    let commits_before = commits.totals();
    let usage_before = usage(me);
    let server = stores.server_mark().await;
    let load = drive(
        "log",
        writers,
        warmup_for(measure),
        measure,
        ui,
        move |w, i| {
            let store = st.clone();
            let eb = eb.clone();
            async move {
                let mut payload = vec![0x33u8; payload_bytes];
                payload[..8].copy_from_slice(&(w as u64).to_le_bytes());
                payload[8..16].copy_from_slice(&i.to_le_bytes());
                let message_id = uuid::Uuid::now_v7().hyphenated().to_string();
                let envelope = Envelope::draft(
                    SENT,
                    LOG_PEERS[w % LOG_PEERS.len()],
                    &message_id,
                    "",
                    "MemberExchange/QueryMember#request",
                    &payload,
                );
                if i == 0 {
                    eb.store(envelope.entry_bytes().len() as u64, Ordering::Relaxed);
                }
                store
                    .write(vec![WriteOp::LogAppend { envelope, payload }])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        },
    )
    .await;
    let used = usage(me).since(usage_before);
    let commits_after = commits.totals();
    let server_work = stores.server_since(&server).await;
    let size = store.log().lock().await.size();
    let stored = store.entry_count().await?;
    store.close().await;
    let mut v = load.common_json(writers);
    v["unit"] = json!("appends");
    v["payload_bytes"] = json!({
        "payload": payload_bytes,
        "entry": entry_bytes.load(Ordering::Relaxed),
    });
    v["payload"] = json!(format!(
        "{payload_bytes} B + {} B entry",
        entry_bytes.load(Ordering::Relaxed)
    ));
    stores.label(
        &mut v,
        "in the bench process through Store::write",
        "one writer task, group commit; each append = a payload row and an entry row",
    );
    // Warm-up and measured commits alike (the totals have no window of their own).
    let c = commits_after.since(commits_before);
    if c.commits > 0 {
        v["commits"] = json!({
            "count": c.commits,
            "appends_per_commit": round(c.jobs as f64 / c.commits as f64, 1),
            "mean_commit_ms": round(c.micros as f64 / 1000.0 / c.commits as f64, 2),
        });
    }
    let ops = load.ok_total.max(1) as f64;
    v["cost"] = cost_json(&[("bench process (writers + store)", used)], load.ok_total);
    if stores.choice() == StoreChoice::Sqlite {
        v["cost"]["bytes_written_per_op"] = json!(round(used.wchar as f64 / ops, 0));
        v["cost"]["storage_bytes_per_op"] = json!(round(used.write_bytes as f64 / ops, 0));
    }
    super::super::store::server_json(&mut v, &server_work, load.ok_total);
    v["log_check"] = json!({
        "appends_acknowledged": load.ok_total,
        "tree_size": size,
        "rows_stored": stored,
        "ok": load.errors == 0 && size == load.ok_total && stored == load.ok_total,
    });
    let tp = load.throughput();
    v["target"] = json!({ "appends_per_s": TARGET_LOG_APPENDS, "met": tp >= TARGET_LOG_APPENDS });
    Ok(v)
}
