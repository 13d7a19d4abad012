//! soak: a mixed load on a three-centre zone.

use super::super::load::{channels_for, drive, pick};
use super::super::procfs::{open_fds, rss_kb};
use super::super::report::round;
use super::super::store::Stores;
use super::super::{BenchOptions, DEFAULT_SOAK, TARGET_IDLE_RSS_MB, TARGET_SOAK_RSS_MB, Ui};
use super::{PURPOSES, QUERY_PURPOSE, live_members, log_size, member_query, status_err};
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) async fn run_soak(
    dir: &Path,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let mut spec = ZoneSpec::new(dir, 3);
    spec.members_per_centre = opts.members;
    stores.for_zone(&mut spec, "soak", 3).await?;
    ui.say(&format!(
        "soak: preparing a 3-centre zone ({} members each)",
        opts.members
    ));
    let prepared = prepare(&spec, &|_| {})
        .await
        .context("preparing the zone")?;
    let codes: Vec<String> = prepared.plans.iter().map(|p| p.code.clone()).collect();
    let mut zone = Zone::from_prepared(dir.to_path_buf(), prepared, opts.binary.clone());
    zone.start_all().await.context("starting the zone")?;
    let res = soak_load(&zone, &codes, &spec, opts, ui).await;
    zone.stop_all();
    let mut v = res?;
    stores.label(&mut v, "one per node", "");
    Ok(v)
}

pub(crate) async fn soak_load(
    zone: &Zone,
    codes: &[String],
    spec: &ZoneSpec,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let pids: Vec<u32> = codes
        .iter()
        .map(|c| zone.pid(c).with_context(|| format!("no process for {c}")))
        .collect::<anyhow::Result<_>>()?;
    // Idle: the nodes are up and have answered their readiness probes, nothing else.
    ui.status("soak: nodes idle for 2 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss: Vec<Option<u64>> = pids.iter().map(|&p| rss_kb(p)).collect();
    let fds_start: Vec<Option<u64>> = pids.iter().map(|&p| open_fds(p)).collect();
    let mut before = Vec::new();
    for c in codes {
        before.push(log_size(zone, c).await?);
    }
    // What each worker may ask: live members of every centre, every purpose, from every other
    // centre; one operation in ten is a status call.
    let n = codes.len();
    let members: Arc<Vec<Vec<pb::LocalMemberQuery>>> = Arc::new(
        codes
            .iter()
            .map(|c| {
                live_members(c, spec.seed, spec.members_per_centre)
                    .iter()
                    .map(|m| member_query(c, m, QUERY_PURPOSE))
                    .collect()
            })
            .collect(),
    );
    anyhow::ensure!(
        members.iter().all(|m| !m.is_empty()),
        "a centre has no live member seeded"
    );
    let per_centre = channels_for(opts.concurrency).div_ceil(2).max(1);
    let mut clerks = Vec::new();
    let mut operators = Vec::new();
    for c in codes {
        clerks.push(
            (0..per_centre)
                .map(|_| zone.client(c, Role::Clerk))
                .collect::<anyhow::Result<Vec<_>>>()?,
        );
        operators.push(zone.client(c, Role::Operator)?);
    }
    let clerks = Arc::new(clerks);
    let operators = Arc::new(operators);
    // Answered queries per (from, to), for the log check.
    let answered: Arc<Vec<AtomicU64>> = Arc::new((0..n * n).map(|_| AtomicU64::new(0)).collect());
    let by_purpose: Arc<Vec<AtomicU64>> = Arc::new((0..5).map(|_| AtomicU64::new(0)).collect());
    let statuses = Arc::new(AtomicU64::new(0));
    let measure = opts.duration.unwrap_or(DEFAULT_SOAK);
    ui.say(&format!(
        "soak: {} workers, queries of every purpose between {n} centres plus status calls, {} s",
        opts.concurrency,
        measure.as_secs_f64()
    ));
    // RSS of every node once a second.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let sample_pids = pids.clone();
    let sampler = tokio::spawn(async move {
        let t0 = Instant::now();
        let mut series: Vec<Value> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let rss: Vec<Option<u64>> = sample_pids.iter().map(|&p| rss_kb(p)).collect();
                    let fds: Vec<Option<u64>> = sample_pids.iter().map(|&p| open_fds(p)).collect();
                    series.push(json!({
                        "t_s": round(t0.elapsed().as_secs_f64(), 1),
                        "rss_kb": rss,
                        "fds": fds,
                    }));
                }
                _ = stop_rx.changed() => break,
            }
        }
        series
    });
    let (a2, p2, s2) = (answered.clone(), by_purpose.clone(), statuses.clone());
    let load = drive(
        "soak",
        opts.concurrency,
        Duration::ZERO,
        measure,
        ui,
        move |w, i| {
            let r = pick(w, i, 7);
            let op = r % 10;
            let from = ((r >> 8) % n as u64) as usize;
            let to = (from + 1 + ((r >> 16) % (n as u64 - 1)) as usize) % n;
            let purpose = ((r >> 24) % 5) as usize;
            let target = &members[to];
            let mut q = target[((r >> 32) % target.len() as u64) as usize].clone();
            q.purpose = PURPOSES[purpose] as i32;
            let clerk = clerks[from][w % clerks[from].len()].clone();
            let operator = operators[from].clone();
            let (a2, p2, s2) = (a2.clone(), p2.clone(), s2.clone());
            async move {
                if op == 0 {
                    operator.status().await.map_err(status_err)?;
                    s2.fetch_add(1, Ordering::Relaxed);
                } else {
                    let r = clerk.query_member(q).await.map_err(status_err)?;
                    if r.member.is_none() {
                        return Err("reply without a member view".into());
                    }
                    a2[from * n + to].fetch_add(1, Ordering::Relaxed);
                    p2[purpose].fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
        },
    )
    .await;
    let fds_end: Vec<Option<u64>> = pids.iter().map(|&p| open_fds(p)).collect();
    let end_rss: Vec<Option<u64>> = pids.iter().map(|&p| rss_kb(p)).collect();
    let _ = stop_tx.send(true);
    let series = sampler.await.unwrap_or_default();
    let mut after = Vec::new();
    for c in codes {
        after.push(log_size(zone, c).await?);
    }
    // Each answered query is three entries at the asking node and three at the answering one
    // (request, reply, and the commitment of the disclosure record).
    let mut log_ok = load.errors == 0;
    let mut nodes = serde_json::Map::new();
    let mut max_idle = 0u64;
    let mut max_load = 0u64;
    for (k, c) in codes.iter().enumerate() {
        let mut expected = 0u64;
        for j in 0..n {
            expected += 3 * answered[k * n + j].load(Ordering::Relaxed);
            expected += 3 * answered[j * n + k].load(Ordering::Relaxed);
        }
        let added = after[k].saturating_sub(before[k]);
        log_ok &= added == expected;
        let rss_series: Vec<Option<u64>> = series
            .iter()
            .map(|s| s["rss_kb"][k].as_u64())
            .collect::<Vec<_>>();
        let fds_series: Vec<Option<u64>> = series.iter().map(|s| s["fds"][k].as_u64()).collect();
        let peak = rss_series
            .iter()
            .flatten()
            .copied()
            .chain(end_rss[k])
            .max()
            .unwrap_or(0);
        max_idle = max_idle.max(idle_rss[k].unwrap_or(0));
        max_load = max_load.max(peak);
        nodes.insert(
            c.clone(),
            json!({
                "pid": pids[k],
                "idle_rss_kb": idle_rss[k],
                "max_rss_kb": peak,
                "end_rss_kb": end_rss[k],
                "rss_kb": rss_series,
                "fds_start": fds_start[k],
                "fds_end": fds_end[k],
                "fds": fds_series,
                "log_entries_added": added,
                "log_entries_expected": expected,
            }),
        );
    }
    let queries: u64 = answered.iter().map(|x| x.load(Ordering::Relaxed)).sum();
    let mut v = load.common_json(opts.concurrency);
    v["unit"] = json!("operations");
    v["payload"] = json!("mixed: 5 purposes + status");
    v["payload_bytes"] = json!("mixed");
    v["centres"] = json!(codes);
    v["mix"] = json!({
        "queries": queries,
        "status_calls": statuses.load(Ordering::Relaxed),
        "by_purpose": PURPOSES.iter().enumerate().map(|(i, p)| {
            (hfx_node::member::purpose_name(*p).to_string(), json!(by_purpose[i].load(Ordering::Relaxed)))
        }).collect::<serde_json::Map<_, _>>(),
    });
    v["rss_sample_interval_s"] = json!(1);
    v["fds_note"] = json!(
        "fds_start is before load (clients connect lazily); the per-second series shows whether descriptors plateau once every connection is open"
    );
    v["nodes"] = Value::Object(nodes);
    v["log_check"] = json!({ "ok": log_ok, "queries_answered": queries });
    v["target"] = json!({
        "idle_rss_mb": TARGET_IDLE_RSS_MB,
        "soak_rss_mb": TARGET_SOAK_RSS_MB,
        "max_idle_rss_mb": round(max_idle as f64 / 1024.0, 1),
        "max_soak_rss_mb": round(max_load as f64 / 1024.0, 1),
        "met": (max_idle as f64 / 1024.0) <= TARGET_IDLE_RSS_MB && (max_load as f64 / 1024.0) <= TARGET_SOAK_RSS_MB,
    });
    Ok(v)
}
