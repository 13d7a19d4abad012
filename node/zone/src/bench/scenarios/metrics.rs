//! metrics: what the operator port costs. The query scenario four times in one run, on fresh
//! two-centre zones alternately with and without `[ops] listen` (on, off, on, off, so a drift
//! of the machine's load hits both arms alike), and one scrape of the last metrics-on zone:
//! its size and how long it takes.

use super::super::report::round;
use super::super::store::Stores;
use super::super::{BenchOptions, Ui};
use super::query::run_query;
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Rounds of the query scenario, metrics on for the even ones.
const ROUNDS: usize = 4;

pub(crate) async fn run_metrics(
    work: &Path,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let mut rounds = Vec::new();
    let mut scrape = Value::Null;
    let mut errors = 0u64;
    for i in 0..ROUNDS {
        let on = i % 2 == 0;
        let arm = if on { "on" } else { "off" };
        let dir = work.join(format!("zone2-metrics-{i}-{arm}"));
        let mut spec = ZoneSpec::new(&dir, 2);
        spec.members_per_centre = opts.members;
        spec.ops = on;
        stores
            .for_zone(&mut spec, &format!("metrics{i}"), 2)
            .await?;
        ui.say(&format!(
            "metrics round {}/{ROUNDS}: operator port {arm}",
            i + 1
        ));
        let prepared = prepare(&spec, &|_| {})
            .await
            .context("preparing the zone")?;
        let (a, b) = (
            prepared.plans[0].code.clone(),
            prepared.plans[1].code.clone(),
        );
        let mut zone = Zone::from_prepared(dir.clone(), prepared, opts.binary.clone());
        zone.start_all().await.context("starting the zone")?;
        let res = run_query(&zone, &a, &b, &spec, stores, opts, ui).await;
        if on && i + 2 >= ROUNDS {
            scrape = scrape_once(&zone, &b)
                .await
                .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
        }
        zone.stop_all();
        let q = res?;
        errors += q["errors"].as_u64().unwrap_or(0);
        rounds.push(json!({
            "metrics": on,
            "throughput_per_s": q["throughput_per_s"],
            "latency_us": q["latency_us"],
            "cpu_us_per_query": q["cost"]["cpu_us_per_op"],
            "errors": q["errors"],
        }));
    }
    let mean = |on: bool| {
        let xs: Vec<f64> = rounds
            .iter()
            .filter(|r| r["metrics"] == json!(on))
            .filter_map(|r| r["throughput_per_s"].as_f64())
            .collect();
        xs.iter().sum::<f64>() / xs.len().max(1) as f64
    };
    let (with, without) = (mean(true), mean(false));
    let ratio = if without > 0.0 { with / without } else { 0.0 };
    let mut out = json!({
        "unit": "queries",
        "concurrency": opts.concurrency,
        "profile": super::super::profile(),
        "payload": "query, metrics on vs off",
        "throughput_per_s": round(with, 1),
        "throughput_without_metrics_per_s": round(without, 1),
        // The table's ratio column: metrics on / off, same run.
        "ratio_to_baseline": round(ratio, 3),
        "baseline": "the same query scenario with no operator port, alternated in this run",
        "rounds": rounds,
        "scrape": scrape,
        "errors": errors,
    });
    stores.label(&mut out, "one per node", "core systems: sqlite adapter");
    Ok(out)
}

/// One GET /metrics of `code`'s node: bytes, lines, milliseconds.
async fn scrape_once(zone: &Zone, code: &str) -> anyhow::Result<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = zone.ops_addr(code)?;
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to the operator port {addr}"))?;
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "the operator port answered {}",
        head.lines().next().unwrap_or("nothing")
    );
    Ok(json!({
        "bytes": body.len(),
        "lines": body.lines().count(),
        "ms": round(ms, 2),
    }))
}
