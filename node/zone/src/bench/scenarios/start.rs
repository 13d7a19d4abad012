//! start: a node whose log holds `--entries` entries (default 10,000,000) starts within
//! 5 s and stays within 64 MB RSS idle (issue 14, item 3).
//!
//! A two-centre zone through the launcher; centre A is stopped, its own store filled offline
//! through the store's batch writer (8 tasks, 1,000 appends per `Store::write`, 200 B
//! payloads) and a checkpoint signed over it with A's signing key, as
//! `node/core/examples/fill_store.rs` does. Then A is started again: the time from spawn
//! until it answers Operator.Status (polled every 20 ms), its RSS after 2 s idle, its log
//! size, inclusion proofs at entries spread over the whole log (each verified against the
//! signed root), its RSS after them. Not in the default run: filling 10M entries takes
//! minutes and gigabytes.

use super::super::procfs::rss_kb;
use super::super::report::{Latency, round};
use super::super::store::{StoreChoice, Stores};
use super::super::{BenchOptions, TARGET_IDLE_RSS_MB, TARGET_START_S, Ui};
use super::{log_size, status_err};
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_certs::Role;
use hfx_node::log::merkle::{Hash, hash_from_slice, leaf_hash, root_from_inclusion_proof};
use hfx_node::log::note::{Checkpoint, NoteSigner};
use hfx_node::log::{Envelope, LogState, SENT};
use hfx_node::store::{Store, WriteOp};
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Concurrent fill tasks and appends per `Store::write` call.
const FILL_WRITERS: usize = 8;
const FILL_BATCH: u64 = 1_000;
/// Bytes of each synthetic entry's payload.
const PAYLOAD_BYTES: usize = 200;
/// What an entry costs a SQLite store on disk (entry row, payload row, indexes, tiles), for
/// the estimate printed before the fill (885 B measured at 10,000,000 entries); the report
/// gives the measured figure.
const SQLITE_BYTES_PER_ENTRY: u64 = 900;
/// How often the start is polled, and how long one status call may wait.
const POLL: Duration = Duration::from_millis(20);
const CALL_WAIT: Duration = Duration::from_secs(2);
/// Longest a start may take before the scenario gives up.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// Idle time before RSS is read.
const IDLE: Duration = Duration::from_secs(2);
/// Inclusion proofs asked for after the start.
const PROOFS: u64 = 200;

pub(crate) async fn run_start(
    dir: &Path,
    entries: u64,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    anyhow::ensure!(entries >= 1, "--entries must be at least 1");
    let mut spec = ZoneSpec::new(dir, 2);
    spec.members_per_centre = opts.members;
    stores.for_zone(&mut spec, "start", 2).await?;
    ui.say(&format!(
        "start: preparing a 2-centre zone ({} members each)",
        opts.members
    ));
    let prepared = prepare(&spec, &|_| {})
        .await
        .context("preparing the zone")?;
    let a = prepared.plans[0].code.clone();
    let config = prepared.plans[0].config.clone();
    let mut zone = Zone::from_prepared(dir.to_path_buf(), prepared, opts.binary.clone());
    zone.start_all().await.context("starting the zone")?;
    let res = measure(&mut zone, &a, &config, entries, stores, ui).await;
    zone.stop_all();
    let mut v = res?;
    stores.label(
        &mut v,
        "centre A's own store, filled offline through Store::write",
        &format!("{FILL_WRITERS} fill tasks, {FILL_BATCH} appends per write"),
    );
    Ok(v)
}

async fn measure(
    zone: &mut Zone,
    a: &str,
    config: &Path,
    entries: u64,
    stores: &Stores,
    ui: &Ui,
) -> anyhow::Result<Value> {
    // The small log first: what a start and an idle node cost before the fill.
    tokio::time::sleep(IDLE).await;
    let small_rss = zone.pid(a).and_then(rss_kb);
    zone.stop(a, Duration::from_secs(10))?;
    let small_start = timed_start(zone, a).await?;
    let before = log_size(zone, a).await?;
    zone.stop(a, Duration::from_secs(10))?;

    let cfg = hfx_node::config::NodeConfig::load(config)
        .with_context(|| format!("reading {}", config.display()))?;
    let url = cfg.store_url();
    let place = match stores.choice() {
        StoreChoice::Sqlite => sqlite_path(&url)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| url.clone()),
        StoreChoice::Postgres => "its PostgreSQL database".to_string(),
    };
    if stores.choice() == StoreChoice::Sqlite {
        let need = entries.saturating_mul(SQLITE_BYTES_PER_ENTRY);
        let free = sqlite_path(&url)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .and_then(|d| free_bytes(&d));
        ui.say(&format!(
            "start: filling {a}'s store with {entries} entries of {PAYLOAD_BYTES} B: expect ~{} on disk ({}), in this run's folder",
            gb(need),
            free.map(|f| format!("{} free", gb(f)))
                .unwrap_or_else(|| "free space unknown".into()),
        ));
        if let Some(free) = free {
            anyhow::ensure!(
                free > need + need / 5,
                "filling {entries} entries needs ~{} and {place}'s disk has {} free; give fewer --entries",
                gb(need),
                gb(free)
            );
        }
    } else {
        ui.say(&format!(
            "start: filling {a}'s store ({place}) with {entries} entries of {PAYLOAD_BYTES} B: expect ~{} on the server",
            gb(entries.saturating_mul(SQLITE_BYTES_PER_ENTRY))
        ));
    }
    let fill = fill(&cfg, &url, entries, ui).await?;
    let disk = match stores.choice() {
        StoreChoice::Sqlite => sqlite_path(&url).map(|p| sqlite_bytes(&p)),
        StoreChoice::Postgres => pg_database_bytes(&url).await,
    };
    ui.say(&format!(
        "start: filled {entries} entries in {:.1} s ({:.0} appends/s){}; log size {}, checkpoint signed",
        fill.seconds,
        entries as f64 / fill.seconds.max(1e-9),
        disk.map(|d| format!(", {} on disk", gb(d))).unwrap_or_default(),
        fill.size,
    ));

    ui.say(&format!("start: starting {a} on its {} entries", fill.size));
    let big_start = timed_start(zone, a).await?;
    let pid = zone.pid(a).context("node A has no process")?;
    tokio::time::sleep(IDLE).await;
    let rss_idle = rss_kb(pid);
    let size_now = log_size(zone, a).await?;
    ui.status(&format!("start: {PROOFS} inclusion proofs from {a}"));
    let proofs = prove(zone, a, fill.size, &fill.root).await?;
    let rss_after = rss_kb(pid);
    let rss_peak = hwm_kb(pid);

    let mb = |k: Option<u64>| k.map(|k| round(k as f64 / 1024.0, 1));
    let start_met = big_start.seconds <= TARGET_START_S;
    let rss_met = rss_idle.is_some_and(|k| k as f64 / 1024.0 <= TARGET_IDLE_RSS_MB);
    let rate = entries as f64 / fill.seconds.max(1e-9);
    let mut lat = proofs.lat_us.clone();
    lat.sort_unstable();
    let expected = before + entries;
    Ok(json!({
        "unit": "appends",
        "concurrency": FILL_WRITERS,
        "profile": super::super::profile(),
        "payload": format!("{PAYLOAD_BYTES} B + {} B entry", fill.entry_bytes),
        "payload_bytes": { "payload": PAYLOAD_BYTES, "entry": fill.entry_bytes },
        "centre": a,
        "entries": entries,
        "entries_before": before,
        "log_size": size_now,
        // The table's throughput column: how fast the log was filled.
        "throughput_per_s": round(rate, 1),
        "fill": {
            "entries": entries,
            "writers": FILL_WRITERS,
            "batch": FILL_BATCH,
            "seconds": round(fill.seconds, 1),
            "appends_per_s": round(rate, 1),
            "disk_bytes": disk,
            "disk_bytes_per_entry": disk.map(|d| d / expected.max(1)),
        },
        "start_seconds": round(big_start.seconds, 3),
        "start_seconds_small_log": round(small_start.seconds, 3),
        "start_poll_ms": POLL.as_millis() as u64,
        "start_attempts": big_start.attempts,
        "rss_idle_mb": mb(rss_idle),
        "rss_idle_small_log_mb": mb(small_rss),
        "rss_after_proofs_mb": mb(rss_after),
        "rss_peak_mb": mb(rss_peak),
        "proofs": {
            "asked": PROOFS,
            "verified": proofs.verified,
            "tree_size": fill.size,
        },
        "latency_us": latency(&lat),
        "errors": proofs.errors.len(),
        "error_samples": proofs.errors.iter().take(5).collect::<Vec<_>>(),
        "log_check": {
            "expected": expected,
            "log_size": size_now,
            "ok": size_now == expected && fill.size == expected,
        },
        "target": {
            "start_seconds": TARGET_START_S,
            "rss_idle_mb": TARGET_IDLE_RSS_MB,
            "start_met": start_met,
            "rss_met": rss_met,
            "met": start_met && rss_met,
        },
    }))
}

/// The printed line under the table.
pub(crate) fn describe(s: &Value) -> String {
    let met = |k: &str| {
        if s["target"][k] == json!(true) {
            "met"
        } else {
            "not met"
        }
    };
    format!(
        "start: {} entries (log size {}, {}); ready {} s after spawn (target ≤ {} s, {}; {} s on the small log); RSS idle {} MB (target ≤ {} MB, {}; {} MB on the small log), {} MB after {} proofs ({} verified), peak {} MB; filled at {} appends/s, {} B on disk per entry\n",
        s["entries"],
        s["log_size"],
        if s["log_check"]["ok"] == json!(true) {
            "as expected"
        } else {
            "MISMATCH"
        },
        s["start_seconds"],
        TARGET_START_S,
        met("start_met"),
        s["start_seconds_small_log"],
        s["rss_idle_mb"],
        TARGET_IDLE_RSS_MB,
        met("rss_met"),
        s["rss_idle_small_log_mb"],
        s["rss_after_proofs_mb"],
        s["proofs"]["asked"],
        s["proofs"]["verified"],
        s["rss_peak_mb"],
        s["fill"]["appends_per_s"],
        s["fill"]["disk_bytes_per_entry"],
    )
}

struct Started {
    seconds: f64,
    attempts: u64,
}

/// Spawn `code`'s node and poll its Operator.Status every [`POLL`] until it answers: the
/// seconds from spawn to the first answer.
async fn timed_start(zone: &mut Zone, code: &str) -> anyhow::Result<Started> {
    let t0 = Instant::now();
    zone.spawn(code)?;
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        if let Some(status) = zone.wait_exit(code, Duration::ZERO).await? {
            let log = zone
                .plan(code)
                .map(|p| p.config.with_file_name("node.log"))
                .unwrap_or_default();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            anyhow::bail!(
                "node {code} exited with {status} during start; last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let client = zone.client(code, Role::Operator)?;
        if let Ok(Ok(_)) = tokio::time::timeout(CALL_WAIT, client.status()).await {
            return Ok(Started {
                seconds: t0.elapsed().as_secs_f64(),
                attempts,
            });
        }
        anyhow::ensure!(
            t0.elapsed() < START_TIMEOUT,
            "node {code} not ready after {START_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

struct Filled {
    seconds: f64,
    size: u64,
    root: Hash,
    entry_bytes: u64,
}

/// Append `n` synthetic entries to the (stopped) node's store and sign a checkpoint over the
/// whole log with the node's key.
async fn fill(
    cfg: &hfx_node::config::NodeConfig,
    url: &str,
    n: u64,
    ui: &Ui,
) -> anyhow::Result<Filled> {
    let trust = hfx_node::trust::Trust::load(cfg).context("loading node A's trust")?;
    let dir = trust.directory();
    let key_path = cfg.resolve(&cfg.signing.key);
    let pem = std::fs::read_to_string(&key_path)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let sk = hfx_certs::SigningKeyPair::from_pem(&pem).context("node A's signing key")?;
    let signer = NoteSigner::from_pkcs8(&hfx_node::log::origin(&dir.zone, &cfg.centre), sk.pkcs8())
        .context("node A's note signer")?;
    let peers: Arc<Vec<String>> = Arc::new(
        dir.centres
            .iter()
            .map(|c| c.code.clone())
            .filter(|c| *c != cfg.centre)
            .collect(),
    );
    anyhow::ensure!(!peers.is_empty(), "the directory lists no other centre");
    let store = Store::open(url, LogState::new())
        .await
        .context("opening node A's store")?;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let entry_bytes = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..FILL_WRITERS {
        let (store, next, done, peers, eb) = (
            store.clone(),
            next.clone(),
            done.clone(),
            peers.clone(),
            entry_bytes.clone(),
        );
        tasks.spawn(async move {
            loop {
                let from = next.fetch_add(FILL_BATCH, Ordering::Relaxed);
                if from >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let k = FILL_BATCH.min(n - from);
                let ops = (from..from + k)
                    .map(|j| {
                        let mut payload = vec![0x33u8; PAYLOAD_BYTES];
                        payload[..8].copy_from_slice(&j.to_le_bytes());
                        let id = uuid::Uuid::now_v7().hyphenated().to_string();
                        let envelope = Envelope::draft(
                            SENT,
                            &peers[(j as usize) % peers.len()],
                            &id,
                            "",
                            "MemberExchange/QueryMember#request",
                            &payload,
                        );
                        if j == 0 {
                            eb.store(envelope.entry_bytes().len() as u64, Ordering::Relaxed);
                        }
                        WriteOp::LogAppend { envelope, payload }
                    })
                    .collect();
                store
                    .write(ops)
                    .await
                    .context("appending to node A's log")?;
                done.fetch_add(k, Ordering::Relaxed);
            }
        });
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut said = 0u64;
    let mut failed = None;
    while !tasks.is_empty() {
        tokio::select! {
            joined = tasks.join_next() => {
                let res = match joined {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => Err(anyhow::anyhow!("a fill task failed: {e}")),
                    None => Ok(()),
                };
                if let Err(e) = res {
                    failed = Some(e);
                    tasks.abort_all();
                }
            }
            _ = tick.tick() => {
                let d = done.load(Ordering::Relaxed);
                let s = t0.elapsed().as_secs_f64();
                let rate = d as f64 / s.max(1e-9);
                let eta = if rate > 0.0 { (n - d) as f64 / rate } else { 0.0 };
                let line = format!(
                    "start: filled {d}/{n} entries ({:.0}%), {:.0} appends/s, ~{:.0} s left",
                    100.0 * d as f64 / n as f64,
                    rate,
                    eta
                );
                // A line per tenth on the terminal, the spinner in between.
                if d * 10 / n > said {
                    said = d * 10 / n;
                    ui.say(&line);
                } else {
                    ui.status(&line);
                }
            }
        }
    }
    if let Some(e) = failed {
        store.close().await;
        return Err(e);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (size, root) = {
        let log = store.log().lock().await;
        (log.size(), log.root())
    };
    let note = Checkpoint::new(signer.name(), size, root)
        .sign(&[&signer])
        .context("signing the checkpoint")?;
    store
        .add_checkpoint(size, &root, &note)
        .await
        .context("storing the checkpoint")?;
    store.close().await;
    drop(store);
    Ok(Filled {
        seconds,
        size,
        root,
        entry_bytes: entry_bytes.load(Ordering::Relaxed),
    })
}

struct Proofs {
    lat_us: Vec<u32>,
    verified: u64,
    errors: Vec<String>,
}

/// [`PROOFS`] inclusion proofs at entries spread over the log (first and last among them),
/// each checked against the root signed over `size` entries.
async fn prove(zone: &Zone, code: &str, size: u64, root: &Hash) -> anyhow::Result<Proofs> {
    let client = zone.client(code, Role::Auditor)?;
    let mut audit = pb::audit_client::AuditClient::new(client.channel());
    let mut out = Proofs {
        lat_us: Vec::new(),
        verified: 0,
        errors: Vec::new(),
    };
    for i in 0..PROOFS {
        // The first, the last, and between them a golden-ratio walk over the log.
        let index = match i {
            0 => 0,
            1 => size - 1,
            _ => ((i as f64 * 0.618_033_988_75).fract() * size as f64) as u64 % size,
        };
        let t = Instant::now();
        let res = audit
            .prove_inclusion(pb::InclusionRequest {
                index,
                tree_size: size,
            })
            .await;
        out.lat_us
            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        match res {
            Ok(p) => match check_proof(&p.into_inner(), index, size, root) {
                Ok(()) => out.verified += 1,
                Err(e) => out.errors.push(format!("entry {index}: {e}")),
            },
            Err(s) => out.errors.push(format!("entry {index}: {}", status_err(s))),
        }
    }
    Ok(out)
}

fn check_proof(p: &pb::InclusionProof, index: u64, size: u64, root: &Hash) -> anyhow::Result<()> {
    anyhow::ensure!(
        p.index == index && p.tree_size == size,
        "a proof for entry {} of {} instead",
        p.index,
        p.tree_size
    );
    anyhow::ensure!(!p.leaf.is_empty(), "no entry bytes");
    let hashes = p
        .hashes
        .iter()
        .map(|h| hash_from_slice(h))
        .collect::<Result<Vec<_>, _>>()?;
    let got = root_from_inclusion_proof(&leaf_hash(&p.leaf), index, size, &hashes)?;
    anyhow::ensure!(got == *root, "the proof leads to another root");
    Ok(())
}

fn latency(sorted: &[u32]) -> Latency {
    let at = |q: f64| {
        if sorted.is_empty() {
            return 0;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    };
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().map(|&x| x as f64).sum::<f64>() / sorted.len() as f64
    };
    Latency {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: sorted.last().copied().unwrap_or(0),
        mean: round(mean, 1),
    }
}

/// The file of a `sqlite://PATH[?…]` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// The SQLite file with its WAL and shared-memory files.
fn sqlite_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(PathBuf::from(p)).ok().map(|m| m.len())
        })
        .sum()
}

async fn pg_database_bytes(url: &str) -> Option<u64> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.ok()?;
    let n: Option<i64> = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut c)
        .await
        .ok();
    let _ = c.close().await;
    n.and_then(|n| u64::try_from(n).ok())
}

/// Bytes free to an unprivileged user on `dir`'s file system (`df -Pk`).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The peak resident set of `pid` (VmHWM), kB.
fn hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn gb(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.0} MB", bytes as f64 / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::{describe, gb, latency, sqlite_path};
    use serde_json::json;

    #[test]
    fn sizes_and_paths_read_as_a_person_reads_them() {
        assert_eq!(gb(8_000_000_000), "7.5 GB");
        assert_eq!(gb(3 << 20), "3 MB");
        assert_eq!(
            sqlite_path("sqlite:///x/node.db?mode=rwc").unwrap(),
            std::path::PathBuf::from("/x/node.db")
        );
        assert!(sqlite_path("postgres://h/db").is_none());
        let l = latency(&[1, 2, 3, 4]);
        assert_eq!((l.p50, l.p99, l.max), (2, 4, 4));
    }

    #[test]
    fn the_line_says_which_target_is_missed() {
        let s = json!({
            "entries": 10, "log_size": 12, "start_seconds": 6.5,
            "log_check": { "ok": true },
            "target": { "start_met": false, "rss_met": true },
        });
        let line = describe(&s);
        assert!(
            line.contains("ready 6.5 s after spawn (target ≤ 5 s, not met"),
            "{line}"
        );
        assert!(line.contains("target ≤ 64 MB, met"), "{line}");
        assert!(line.contains("as expected"), "{line}");
    }
}
