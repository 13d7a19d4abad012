//! The report of `hfx bench`: typed, serialised to the JSON `--json` writes (keys sorted, as
//! the tests and BENCHMARKS.md read them), and the table printed from that JSON.

use super::procfs::{Machine, TICK_US, Usage};
use super::{
    Scenario, TARGET_IDLE_RSS_MB, TARGET_LOG_APPENDS, TARGET_QUERY_RATIO, TARGET_SOAK_RSS_MB,
    TARGET_TRANSFER_P99_US, TARGET_TRANSFERS_PER_S, TARGET_VERIFY_PER_CORE, VERIFY_PASSES,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The whole report: the machine and build, then one object per scenario that ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub profile: &'static str,
    pub hfx_version: &'static str,
    pub started_unix_ms: i64,
    /// The stores every scenario wrote to (`--store`), and how they were run.
    pub store: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loan: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Value>,
    pub total_seconds: f64,
    /// `null` where /proc/loadavg cannot be read.
    pub load_average_end: Option<Vec<f64>>,
}

impl Report {
    pub fn new(machine: Machine, started_unix_ms: i64) -> Self {
        Self {
            machine,
            profile: super::profile(),
            hfx_version: env!("CARGO_PKG_VERSION"),
            started_unix_ms,
            store: Value::Null,
            baseline: None,
            query: None,
            log: None,
            verify: None,
            soak: None,
            transfer: None,
            loan: None,
            duplicates: None,
            metrics: None,
            start: None,
            total_seconds: 0.0,
            load_average_end: None,
        }
    }
}

/// What every throughput scenario reports of its load; each adds its own fields beside these.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    pub concurrency: usize,
    pub profile: &'static str,
    pub duration_s: f64,
    pub operations: u64,
    pub operations_with_warmup: u64,
    pub throughput_per_s: f64,
    pub latency_us: Latency,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

/// Latencies of the measured operations, microseconds (nearest rank).
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
    pub mean: f64,
}

/// Per-operation cost of each named process (and their total, when more than one).
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub cpu_us_per_op: BTreeMap<String, f64>,
    pub context_switches_per_op: BTreeMap<String, f64>,
}

impl Cost {
    /// The cost of each named process over a run of `ops` operations.
    pub(crate) fn of(parts: &[(&str, Usage)], ops: u64) -> Self {
        let ops = ops.max(1) as f64;
        let mut cpu = BTreeMap::new();
        let mut ctx = BTreeMap::new();
        let (mut cpu_total, mut ctx_total) = (0u64, 0u64);
        for (name, u) in parts {
            cpu.insert(
                name.to_string(),
                round((u.cpu_ticks * TICK_US) as f64 / ops, 1),
            );
            ctx.insert(name.to_string(), round(u.ctx_switches as f64 / ops, 2));
            cpu_total += u.cpu_ticks;
            ctx_total += u.ctx_switches;
        }
        if parts.len() > 1 {
            cpu.insert("total".into(), round((cpu_total * TICK_US) as f64 / ops, 1));
            ctx.insert("total".into(), round(ctx_total as f64 / ops, 2));
        }
        Self {
            cpu_us_per_op: cpu,
            context_switches_per_op: ctx,
        }
    }
}

/// [`Cost::of`] as the JSON object a scenario may add to.
pub(crate) fn cost_json(parts: &[(&str, Usage)], ops: u64) -> Value {
    serde_json::to_value(Cost::of(parts, ops)).unwrap_or(Value::Null)
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn fmt_rate(x: f64) -> String {
    if x >= 1_000_000.0 {
        format!("{:.2}M", x / 1_000_000.0)
    } else if x >= 10_000.0 {
        format!("{:.1}k", x / 1000.0)
    } else {
        format!("{x:.0}")
    }
}

fn fmt_ms(us: Option<u64>) -> String {
    match us {
        Some(u) => format!("{:.2}", u as f64 / 1000.0),
        None => "-".into(),
    }
}

/// The table `hfx bench` prints.
pub fn table(r: &Value) -> String {
    let mut rows: Vec<[String; 11]> = vec![[
        "scenario".into(),
        "conc".into(),
        "payload (req / reply)".into(),
        "store".into(),
        "profile".into(),
        "throughput".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "p999 ms".into(),
        "ratio".into(),
        "errors".into(),
    ]];
    // `start` runs only when named, so it is not in ALL.
    for s in Scenario::ALL.into_iter().chain([Scenario::Start]) {
        let Some(v) = r.get(s.name()) else { continue };
        let lat = |k: &str| v["latency_us"][k].as_u64();
        rows.push([
            s.name().into(),
            if s == Scenario::Verify {
                "1 thread".into()
            } else {
                v["concurrency"].to_string()
            },
            v["payload"].as_str().unwrap_or("-").into(),
            v["store"].as_str().unwrap_or("-").into(),
            v["profile"].as_str().unwrap_or("-").into(),
            format!(
                "{} {}/s",
                fmt_rate(v["throughput_per_s"].as_f64().unwrap_or(0.0)),
                v["unit"].as_str().unwrap_or("")
            ),
            fmt_ms(lat("p50")),
            fmt_ms(lat("p99")),
            fmt_ms(lat("p999")),
            v["ratio_to_baseline"]
                .as_f64()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
            v["errors"].as_u64().unwrap_or(0).to_string(),
        ]);
    }
    let mut widths = [0usize; 11];
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::from("\n");
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i >= 5 {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    if let Some(kind) = r["store"]["kind"].as_str() {
        out.push_str(&format!(
            "stores: {kind} ({})\n",
            r["store"]["detail"].as_str().unwrap_or("?")
        ));
    }
    let m = &r["machine"];
    out.push_str(&format!(
        "machine: {} ({} cores, {} MB), load average at start {}\n",
        m["cpu_model"].as_str().unwrap_or("?"),
        m["cores"],
        m["memory_mb"],
        m["load_average_start"]
    ));
    if r["profile"] == json!("debug") {
        out.push_str(
            "note: a debug build; figures are not representative (cargo build --release)\n",
        );
    }
    if let Some(q) = r.get("query") {
        out.push_str(&format!(
            "query: {} → {}, purpose {}, {} workers on {} connections; target ratio ≥ {} ({}); log check: {} answered, {} entries per node expected, {}\n",
            q["centres"][0].as_str().unwrap_or("?"),
            q["centres"][1].as_str().unwrap_or("?"),
            q["purpose"].as_str().unwrap_or("?"),
            q["concurrency"],
            q["channels"],
            TARGET_QUERY_RATIO,
            met(&q["target"]),
            q["log_check"]["queries_answered"],
            q["log_check"]["expected_entries_per_node"],
            if q["log_check"]["ok"] == json!(true) { "all stored durably in both nodes" } else { "MISMATCH" },
        ));
        let qc = &q["cost"]["cpu_us_per_op"];
        let bc = r["baseline"]["cost"]["cpu_us_per_op"]
            .as_object()
            .and_then(|o| o.values().next().cloned())
            .unwrap_or(Value::Null);
        out.push_str(&format!(
            "  CPU per query {} µs (node A {}, node B {}, clerk client {}) vs {} µs per echo call; context switches per query {}\n",
            qc["total"],
            qc["node A"],
            qc["node B"],
            qc["bench process (clerk client)"],
            bc,
            q["cost"]["context_switches_per_op"]["total"],
        ));
        out.push_str(&server_line(q, "query"));
    }
    if let Some(l) = r.get("log") {
        out.push_str(&format!(
            "log: {} writers; target ≥ {} appends/s ({}); {} appends acknowledged, {} stored; {}\n",
            l["concurrency"],
            TARGET_LOG_APPENDS,
            met(&l["target"]),
            l["log_check"]["appends_acknowledged"],
            l["log_check"]["rows_stored"],
            match l.get("postgres_server") {
                Some(p) => format!(
                    "{} B of WAL per append (server-wide)",
                    p["wal_bytes_per_op"]
                ),
                None => format!("{} B written per append", l["cost"]["bytes_written_per_op"]),
            },
        ));
        if let Some(c) = l.get("commits") {
            out.push_str(&format!(
                "  {} appends per group commit, {} ms per commit\n",
                c["appends_per_commit"], c["mean_commit_ms"],
            ));
        }
        if let Some(a) = l.get("at_concurrency") {
            out.push_str(&format!(
                "  at {} writers: {} appends/s, p50 {} ms, p99 {} ms, {} appends per commit, {} B written per append\n",
                a["concurrency"],
                fmt_rate(a["throughput_per_s"].as_f64().unwrap_or(0.0)),
                fmt_ms(a["latency_us"]["p50"].as_u64()),
                fmt_ms(a["latency_us"]["p99"].as_u64()),
                a["commits"]["appends_per_commit"],
                a["cost"]["bytes_written_per_op"],
            ));
        }
    }
    if let Some(v) = r.get("verify") {
        out.push_str(&format!(
            "verify: {} entries in {} s (fastest of {}; {}), target ≥ {} per core ({})\n",
            v["entries"],
            v["duration_s"],
            VERIFY_PASSES,
            v["method"].as_str().unwrap_or("?"),
            TARGET_VERIFY_PER_CORE,
            met(&v["target"]),
        ));
    }
    if let Some(s) = r.get("soak") {
        out.push_str(&format!(
            "soak: {} queries + {} status calls, {} errors; log check {}\n",
            s["mix"]["queries"],
            s["mix"]["status_calls"],
            s["errors"],
            if s["log_check"]["ok"] == json!(true) {
                "ok"
            } else {
                "MISMATCH"
            },
        ));
        if let Some(nodes) = s["nodes"].as_object() {
            for (code, n) in nodes {
                let mb = |k: &str| {
                    n[k].as_u64()
                        .map(|x| format!("{:.1}", x as f64 / 1024.0))
                        .unwrap_or_else(|| "?".into())
                };
                let fds: Vec<u64> = n["fds"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  node {code}: RSS idle {} MB, peak {} MB, end {} MB; fds {} before load, {}..{} during, {} at end\n",
                    mb("idle_rss_kb"),
                    mb("max_rss_kb"),
                    mb("end_rss_kb"),
                    n["fds_start"],
                    fds.iter().min().map(|x| x.to_string()).unwrap_or_else(|| "?".into()),
                    fds.iter().max().map(|x| x.to_string()).unwrap_or_else(|| "?".into()),
                    n["fds_end"],
                ));
            }
        }
        out.push_str(&format!(
            "  targets: idle ≤ {TARGET_IDLE_RSS_MB} MB, soak ≤ {TARGET_SOAK_RSS_MB} MB ({})\n",
            met(&s["target"])
        ));
    }
    if let Some(t) = r.get("transfer") {
        out.push_str(&format!(
            "transfer: {} → {}, {} started, {} done, {} failed, {} concurrent, poll every {} ms; origin agrees: {}; target ≥ {} transfers/s and p99 ≤ {} ms ({})\n",
            t["centres"]["origin"].as_str().unwrap_or("?"),
            t["centres"]["destination"].as_str().unwrap_or("?"),
            t["transfers_started"],
            t["transfers_done"],
            t["errors"],
            t["concurrency"],
            t["poll_interval_ms"],
            if t["origin_check"]["ok"] == json!(true) { "yes" } else { "NO" },
            TARGET_TRANSFERS_PER_S,
            TARGET_TRANSFER_P99_US / 1000,
            met(&t["target"]),
        ));
        let c = &t["cost"]["cpu_us_per_op"];
        out.push_str(&format!(
            "  CPU per transfer {} µs (origin {}, destination {}, bench process {}); context switches per transfer {}\n",
            c["total"],
            c["node A (origin)"],
            c["node B (destination)"],
            c["bench process (clerk client + bank stand-in)"],
            t["cost"]["context_switches_per_op"]["total"],
        ));
        out.push_str(&server_line(t, "transfer"));
        if let Some(f) = t["failures"].as_array() {
            for e in f.iter().take(5) {
                out.push_str(&format!("  failed: {}\n", e.as_str().unwrap_or("?")));
            }
        }
    }
    if let Some(s) = r.get("start") {
        out.push_str(&super::scenarios::start::describe(s));
    }
    out
}

/// The PostgreSQL server's share of a scenario's work, when its stores were PostgreSQL.
fn server_line(v: &Value, per: &str) -> String {
    match v.get("postgres_server") {
        Some(p) => format!(
            "  PostgreSQL server (server-wide) per {per}: CPU {} µs, {} B of WAL\n",
            p["cpu_us_per_op"], p["wal_bytes_per_op"]
        ),
        None => String::new(),
    }
}

fn met(target: &Value) -> &'static str {
    if target["met"] == json!(true) {
        "met"
    } else {
        "not met"
    }
}
