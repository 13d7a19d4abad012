//! `hfx bench` end to end, briefly: baseline + query through real node processes. Checks the
//! report's shape, zero errors and that every answered query sits in both nodes' logs; never
//! speed (no timed assertions).

use crate::common;
use hfx_zone::bench::{BenchOptions, Scenario, run};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn bench_baseline_and_query_report_their_shape() {
    common::init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-bench-")
        .tempdir()
        .expect("tempdir");
    let json_path = tmp.path().join("bench.json");
    let mut opts = BenchOptions::new(env!("CARGO_BIN_EXE_hfx"));
    opts.scenarios = vec![Scenario::Query];
    opts.duration = Some(Duration::from_secs(1));
    opts.concurrency = 4;
    opts.members = common::MEMBERS;
    opts.dir = Some(tmp.path().join("work"));
    opts.json = Some(json_path.clone());
    opts.print = false;
    let out = run(opts).await.expect("bench runs");
    assert!(out.failures.is_empty(), "failures: {:?}", out.failures);

    let text = std::fs::read_to_string(&json_path).expect("json written");
    let r: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(r, out.report);
    assert!(r["machine"]["cores"].as_u64().unwrap_or(0) >= 1);
    assert!(r["profile"] == "debug" || r["profile"] == "release");
    // `query` brings its baseline along; the other scenarios were not asked for.
    for absent in ["log", "verify", "soak"] {
        assert!(r.get(absent).is_none(), "{absent} ran unasked");
    }
    for name in ["baseline", "query"] {
        let s = &r[name];
        assert!(s.is_object(), "{name} missing: {r}");
        assert_eq!(s["concurrency"], 4, "{name}");
        assert_eq!(s["errors"], 0, "{name}: {}", s["error_samples"]);
        assert!(s["payload"].is_string() && s["store"].is_string(), "{name}");
        assert_eq!(s["profile"], r["profile"], "{name}");
        assert!(
            s["throughput_per_s"].as_f64().unwrap_or(0.0) > 0.0,
            "{name}"
        );
        assert!(s["operations"].as_u64().unwrap_or(0) > 0, "{name}");
        let lat = &s["latency_us"];
        for k in ["p50", "p99", "p999"] {
            assert!(lat[k].is_u64(), "{name}.latency_us.{k}");
        }
        assert!(lat["p50"].as_u64() <= lat["p99"].as_u64());
        assert!(lat["p99"].as_u64() <= lat["p999"].as_u64());
    }
    let q = &r["query"];
    assert!(q["ratio_to_baseline"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(q["store"], "sqlite");
    // Every exchange durably in both nodes' logs: request + reply on each side, and the
    // commitment entry of each side's disclosure record.
    let check = &q["log_check"];
    assert_eq!(check["ok"], true, "{check}");
    let answered = check["queries_answered"].as_u64().expect("answered");
    assert!(answered >= q["operations"].as_u64().unwrap_or(u64::MAX));
    for code in q["centres"].as_array().expect("centres") {
        let code = code.as_str().expect("code");
        assert_eq!(check["stored"][code]["sent"], answered, "{code}");
        assert_eq!(check["stored"][code]["recv"], answered, "{code}");
        assert_eq!(check["live"][code], 3 * answered, "{code}");
    }
}

/// `hfx bench start --entries 2000`: centre A's store filled offline, A started again on it;
/// the report holds the start figures, A's log holds exactly the zone's entries plus the
/// 2,000 filled, and every proof asked for is served and verifies. Never speed.
#[tokio::test(flavor = "multi_thread")]
async fn bench_start_fills_the_log_and_starts_on_it() {
    common::init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-bench-start-")
        .tempdir()
        .expect("tempdir");
    let json_path = tmp.path().join("bench.json");
    let mut opts = BenchOptions::new(env!("CARGO_BIN_EXE_hfx"));
    opts.scenarios = vec![Scenario::Start];
    opts.entries = 2000;
    opts.members = common::MEMBERS;
    opts.dir = Some(tmp.path().join("work"));
    opts.json = Some(json_path.clone());
    opts.print = false;
    let out = run(opts).await.expect("bench runs");
    assert!(out.failures.is_empty(), "failures: {:?}", out.failures);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid json");
    assert_eq!(r, out.report);
    for absent in ["baseline", "query", "log", "soak"] {
        assert!(r.get(absent).is_none(), "{absent} ran unasked");
    }
    let s = &r["start"];
    assert!(s.is_object(), "start missing: {r}");
    assert_eq!(s["entries"], 2000, "{s}");
    let before = s["entries_before"].as_u64().expect("entries_before");
    assert_eq!(s["log_size"].as_u64(), Some(before + 2000), "{s}");
    assert_eq!(s["log_check"]["ok"], true, "{s}");
    assert_eq!(s["errors"], 0, "{}", s["error_samples"]);
    assert_eq!(s["proofs"]["verified"], s["proofs"]["asked"], "{s}");
    assert_eq!(s["store"], "sqlite");
    for k in [
        "start_seconds",
        "start_seconds_small_log",
        "rss_idle_mb",
        "rss_idle_small_log_mb",
        "rss_after_proofs_mb",
        "throughput_per_s",
    ] {
        assert!(s[k].as_f64().is_some_and(|x| x > 0.0), "start.{k}: {s}");
    }
    assert!(s["fill"]["disk_bytes"].as_u64().unwrap_or(0) > 0, "{s}");
    for k in ["start_met", "rss_met", "met"] {
        assert!(s["target"][k].is_boolean(), "start.target.{k}: {s}");
    }
    assert!(s["latency_us"]["p50"].is_u64(), "{s}");
    assert!(hfx_zone::bench::table(&r).contains("start: 2000 entries"));
}

/// `hfx bench --store postgres` as a person runs it: `query`, `log` and `transfer` on fresh
/// PostgreSQL databases (HFX_TEST_POSTGRES_URL's server; skipped without it, failing under
/// CI), the report saying which store and that commits are synchronous, and every database
/// the run made dropped afterwards. Never speed.
#[test]
fn bench_on_postgres_runs_query_log_and_transfer_and_drops_its_databases() {
    let Some(server) = common::db_url("HFX_TEST_POSTGRES_URL", "bench --store postgres") else {
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-bench-pg-")
        .tempdir()
        .expect("tempdir");
    let json_path = tmp.path().join("bench.json");
    let out = crate::common::hfx()
        .args(["bench", "query", "log", "transfer", "--store", "postgres"])
        .args(["--store-url", &server])
        .args([
            "--duration",
            "1",
            "--concurrency",
            "4",
            "--log-writers",
            "8",
        ])
        .args(["--members", "120", "--transfers", "6"])
        .arg("--dir")
        .arg(tmp.path().join("work"))
        .arg("--json")
        .arg(&json_path)
        .env_remove("HFX_BENCH_STORE_URL")
        .output()
        .expect("run hfx bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hfx bench failed: {stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid json");
    let store = &r["store"];
    assert_eq!(store["kind"], "postgres", "{store}");
    assert_eq!(store["durability"]["synchronous_commit"], "on", "{store}");
    for name in ["query", "log", "transfer"] {
        let s = &r[name];
        assert_eq!(s["store"], "postgres", "{name}: {s}");
        assert_eq!(s["errors"], 0, "{name}: {}", s["error_samples"]);
        assert!(s["operations"].as_u64().unwrap_or(0) > 0, "{name}");
    }
    assert_eq!(
        r["query"]["log_check"]["ok"], true,
        "{}",
        r["query"]["log_check"]
    );
    assert_eq!(
        r["log"]["log_check"]["ok"], true,
        "{}",
        r["log"]["log_check"]
    );
    // The writer's group commits: every append in one, none larger than the writers.
    let commits = &r["log"]["commits"];
    let per_commit = commits["appends_per_commit"].as_f64().unwrap_or(0.0);
    assert!(
        commits["count"].as_u64().unwrap_or(0) > 0 && per_commit >= 1.0,
        "{commits}"
    );
    assert!(
        per_commit <= r["log"]["concurrency"].as_f64().unwrap_or(0.0),
        "{commits}"
    );
    assert_eq!(r["transfer"]["transfers_done"], 6, "{}", r["transfer"]);
    assert_eq!(r["transfer"]["origin_check"]["ok"], true);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("postgres"),
        "the table names the store:\n{table}"
    );

    // Two nodes for query and for transfer, two log points: six databases, all gone now.
    let made: Vec<String> = store["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| d.as_str().expect("name").to_string())
        .collect();
    assert_eq!(made.len(), 6, "{made:?}");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let left: Vec<String> = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&server).await.expect("connect");
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'hfx_bench_%'")
            .fetch_all(&mut conn)
            .await
            .expect("list databases")
    });
    let still: Vec<&String> = made.iter().filter(|d| left.contains(d)).collect();
    assert!(still.is_empty(), "not dropped: {still:?}");
}
