//! Seed a big population into a fresh core system of any kind and time member lookups.
//!
//! ```text
//! cargo run --release -p hfx-standins --example core_bench -- sqlite /tmp/corebench 1000000 2000
//! cargo run --release -p hfx-standins --example core_bench -- batchfile /tmp/corebench 1000000 2000
//! cargo run --release -p hfx-standins --example core_bench -- vendorapi /tmp/corebench 1000000 2000
//! cargo run --release -p hfx-standins --example core_bench -- postgres postgres://postgres@127.0.0.1:5432/postgres 1000000 2000
//! cargo run --release -p hfx-standins --example core_bench -- mariadb mysql://root@127.0.0.1:3306 1000000 2000
//! ```
//! Arguments: kind, server URL (a scratch folder for sqlite, batchfile, vendorapi), members, lookups (default 2000), then `--keep` to keep the
//! database. Prints the seeding rate and p50 / p99 / max latency of `member_by_id`, `loans_of`
//! and `deposits` (one client, sequential calls, random members).
//!
//! A batch-file centre at scale, the adapter measured on its own:
//! ```text
//! cargo run --release -p hfx-standins --example core_bench -- batchfile-scale /tmp/corebench 1000000 10000 [--keep]
//! ```
//! seeds the stand-in core (in a child process, so the seeding's memory is not counted; a kept
//! folder `hfx_bench_batchfile_scale_<members>` is reused), then in this process: opens the
//! adapter (index built), opens it again (index reused), times random lookups, and runs one
//! batch run that credits 100 accounts, timing the core's run (a delta export) and the adapter's
//! load of it. Prints the adapter's RSS (VmRSS / VmHWM from /proc/self/status) and the bytes it
//! read (rchar from /proc/self/io) at each step.
//!
//! The CPU of the SQLite core's member lookup under concurrency:
//! ```text
//! cargo run --release -p hfx-standins --example core_bench -- sqlite-cpu /tmp/corebench 100000 20000 [--tasks=32] [--keep]
//! ```
//! seeds a SQLite core (a kept folder `hfx_bench_sqlite_cpu_<members>` is reused), then runs
//! the lookups (`member_by_id` of random members) from that many concurrent tasks and prints
//! the wall time, lookups/s and the process's CPU (user + system, all threads, from
//! /proc/self/stat) per lookup.

use hfx_adapters::CoreSystem;
use hfx_standins::seed::{SeedOptions, generate};
use hfx_standins::seeding::Seed;
use std::time::{Duration, Instant};

const CENTRE: &str = "320300000000000";

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what:<14} n={:<6} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        v.len(),
        pct(&v, 0.50).as_secs_f64() * 1e3,
        pct(&v, 0.99).as_secs_f64() * 1e3,
        v.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(server)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: core_bench postgres|mariadb|sqlite|batchfile|vendorapi SERVER_URL_OR_DIR [MEMBERS] [LOOKUPS] [--keep]"
        );
        std::process::exit(2);
    };
    let n: u64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let lookups: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let keep = args.iter().any(|a| a == "--keep");
    if kind == "batchfile-seed" {
        return batchfile_seed(std::path::Path::new(server), n).await;
    }
    if kind == "batchfile-scale" {
        return batchfile_scale(std::path::Path::new(server), n, lookups, keep).await;
    }
    if kind == "sqlite-cpu" {
        let tasks = args
            .iter()
            .find_map(|a| a.strip_prefix("--tasks="))
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(32);
        return sqlite_cpu(std::path::Path::new(server), n, lookups, tasks, keep).await;
    }
    let opts = SeedOptions {
        seed: 1,
        ..SeedOptions::default()
    };
    let name = format!("hfx_bench_{kind}_{}", std::process::id());
    let progress = |done: u64| {
        if done.is_multiple_of(100_000) {
            eprintln!("  seeded {done}");
        }
    };

    let t = Instant::now();
    let (core, seed_time): (Box<dyn CoreSystem>, Duration) = match kind.as_str() {
        "postgres" => {
            let url = hfx_standins::db::postgres::create_database(server, &name).await?;
            let core =
                hfx_adapters::postgres::PostgresCore::open(&url, Some(Duration::from_secs(30)))
                    .await?;
            let t = Instant::now();
            core.seed(CENTRE, &opts, 0, n, &progress).await?;
            let d = t.elapsed();
            println!("members in core: {}", core.member_count().await?);
            (Box::new(core), d)
        }
        "mariadb" => {
            let url = hfx_standins::db::mariadb::create_database(server, &name).await?;
            let core =
                hfx_adapters::mariadb::MariadbCore::open(&url, Some(Duration::from_secs(30)))
                    .await?;
            let t = Instant::now();
            core.seed(CENTRE, &opts, 0, n, &progress).await?;
            let d = t.elapsed();
            println!("members in core: {}", core.member_count().await?);
            (Box::new(core), d)
        }
        "sqlite" | "batchfile" | "vendorapi" => {
            let dir = std::path::Path::new(server).join(&name);
            std::fs::create_dir_all(&dir)?;
            let t = Instant::now();
            let core: Box<dyn CoreSystem> = match kind.as_str() {
                "sqlite" => {
                    let core = hfx_adapters::sqlite::SqliteCore::open(&dir.join("core.db")).await?;
                    core.seed(CENTRE, &opts, 0, n, &progress).await?;
                    Box::new(core)
                }
                "batchfile" => {
                    let core = hfx_adapters::batchfile::BatchfileCore::open(
                        &dir,
                        Some(Duration::from_secs(600)),
                    )
                    .await?;
                    core.seed(CENTRE, &opts, 0, n, &progress).await?;
                    Box::new(core)
                }
                _ => {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    let standin = hfx_standins::vendor::spawn_standin(
                        listener,
                        &dir,
                        hfx_standins::vendor::Faults::default(),
                    )
                    .await?;
                    let core = standin.core(Some(Duration::from_secs(600)))?;
                    core.seed(CENTRE, &opts, 0, n, &progress).await?;
                    // The stand-in must outlive the lookups.
                    Box::leak(Box::new(standin));
                    Box::new(core)
                }
            };
            (core, t.elapsed())
        }
        other => return Err(format!("unknown kind {other}").into()),
    };
    println!(
        "seeded {n} members ({} months of history, {} employers) in {:.1} s: {:.0} members/s (setup {:.1} s)",
        opts.history_months,
        opts.employers,
        seed_time.as_secs_f64(),
        n as f64 / seed_time.as_secs_f64(),
        (t.elapsed() - seed_time).as_secs_f64()
    );

    // Random members (a fixed LCG, so runs are comparable).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut pick = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 17) % n
    };
    let (mut by_id, mut loans, mut deps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..lookups {
        let m = generate(CENTRE, &opts, pick()).member;
        let t = Instant::now();
        let got = core.member_by_id(m.id_type, &m.id_number).await?;
        by_id.push(t.elapsed());
        if got.as_ref().map(|g| &g.account_no) != Some(&m.account_no) {
            return Err(format!("member {} not found", m.account_no).into());
        }
        let t = Instant::now();
        core.loans_of(m.id_type, &m.id_number).await?;
        loans.push(t.elapsed());
        let t = Instant::now();
        core.deposits(&m.account_no, m.paid_up_to.add_months(-11), m.paid_up_to)
            .await?;
        deps.push(t.elapsed());
    }
    report("member_by_id", by_id);
    report("loans_of", loans);
    report("deposits(12m)", deps);
    let t = Instant::now();
    let checks = core.check().await;
    println!(
        "check() in {:.0} ms: {}",
        t.elapsed().as_secs_f64() * 1e3,
        checks.iter().all(|c| c.ok)
    );
    drop(core);
    if !keep {
        match kind.as_str() {
            "postgres" => hfx_standins::db::postgres::drop_database(server, &name).await?,
            "mariadb" => hfx_standins::db::mariadb::drop_database(server, &name).await?,
            _ => std::fs::remove_dir_all(std::path::Path::new(server).join(&name))?,
        }
    } else {
        println!("kept database {name}");
    }
    Ok(())
}

/// A line of /proc/self/status (`VmRSS`, `VmHWM`) in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Bytes this process has read so far (rchar of /proc/self/io).
fn rchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("rchar:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mem(what: &str) {
    println!(
        "  rss after {what}: VmRSS {:.1} MB, VmHWM {:.1} MB",
        status_mb("VmRSS:"),
        status_mb("VmHWM:")
    );
}

fn scale_opts() -> SeedOptions {
    SeedOptions {
        seed: 1,
        ..SeedOptions::default()
    }
}

/// The child of `batchfile-scale`: seed the stand-in core's master data and export it.
async fn batchfile_seed(dir: &std::path::Path, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let runner = hfx_standins::batch::BatchRunner::open(dir).await?;
    runner
        .master()
        .seed(CENTRE, &scale_opts(), 0, n, &|done: u64| {
            if done.is_multiple_of(100_000) {
                eprintln!("  seeded {done}");
            }
        })
        .await?;
    let seeded = t.elapsed();
    let t = Instant::now();
    runner.export().await?;
    println!(
        "seeded {n} members in {:.1} s, full export in {:.1} s",
        seeded.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn batchfile_scale(
    scratch: &std::path::Path,
    n: u64,
    lookups: u64,
    keep: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    use hfx_adapters::batchfile::BatchfileCore;
    use hfx_adapters::batchfile::format::{REQ_HEADER, render_kv, write_atomic};
    let dir = scratch.join(format!("hfx_bench_batchfile_scale_{n}"));
    std::fs::create_dir_all(&dir)?;
    if !dir.join("export").join("control.txt").exists() {
        let status = std::process::Command::new(std::env::current_exe()?)
            .arg("batchfile-seed")
            .arg(&dir)
            .arg(n.to_string())
            .status()?;
        if !status.success() {
            return Err(format!("seeding failed: {status}").into());
        }
    }
    let size: u64 = ["members.dat", "postings.dat", "loans.dat"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join("export").join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "batch-file centre of {n} members: export {:.0} MB",
        size as f64 / 1e6
    );
    mem("start");
    let _ = std::fs::remove_dir_all(dir.join("index"));
    let timeout = Some(Duration::from_secs(600));

    let (r0, t) = (rchar(), Instant::now());
    let core = BatchfileCore::open(&dir, timeout).await?;
    println!(
        "open, index built: {:.1} s, read {:.0} MB; {} members",
        t.elapsed().as_secs_f64(),
        (rchar() - r0) as f64 / 1e6,
        core.member_count().await?
    );
    mem("the index build");
    drop(core);
    let (r0, t) = (rchar(), Instant::now());
    let core = BatchfileCore::open(&dir, timeout).await?;
    println!(
        "open again, index reused: {:.2} s, read {:.0} MB ({})",
        t.elapsed().as_secs_f64(),
        (rchar() - r0) as f64 / 1e6,
        core.index_note().unwrap_or_default()
    );
    mem("the reopen");

    let opts = scale_opts();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut pick = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 17) % n
    };
    let (mut by_id, mut loans, mut deps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..lookups {
        let m = generate(CENTRE, &opts, pick()).member;
        let t = Instant::now();
        let got = core.member_by_id(m.id_type, &m.id_number).await?;
        by_id.push(t.elapsed());
        if got.as_ref().map(|g| &g.account_no) != Some(&m.account_no) {
            return Err(format!("member {} not found", m.account_no).into());
        }
        let t = Instant::now();
        core.loans_of(m.id_type, &m.id_number).await?;
        loans.push(t.elapsed());
        let t = Instant::now();
        core.deposits(&m.account_no, m.paid_up_to.add_months(-11), m.paid_up_to)
            .await?;
        deps.push(t.elapsed());
    }
    report("member_by_id", by_id);
    report("loans_of", loans);
    report("deposits(12m)", deps);
    mem("the lookups");

    // A batch run that credits 100 accounts: the instructions go straight into inbox/.
    let run = std::process::id();
    let mut credited = Vec::new();
    let mut i = 0;
    while credited.len() < 100 && i < n {
        let m = generate(CENTRE, &opts, i).member;
        if m.status == hfx_adapters::model::AccountStatus::Normal {
            let case = format!("bench-{run}-{i}");
            let body = render_kv(
                REQ_HEADER,
                &[
                    ("AJBH", case.clone()),
                    ("CZ", "CREDIT".into()),
                    ("GRZH", m.account_no.clone()),
                    ("JE", "+000000000100.00".into()),
                ],
                &[],
            );
            write_atomic(&dir.join("inbox"), &format!("{case}.credit.req"), &body)?;
            credited.push(m);
        }
        i += 1;
    }
    let Some(m) = credited.first() else {
        return Err("no member of status Normal to credit".into());
    };
    let before = core
        .member_by_id(m.id_type, &m.id_number)
        .await?
        .map_or(0, |g| g.balance_fen);
    let runner = hfx_standins::batch::BatchRunner::open(&dir).await?;
    let t = Instant::now();
    let rep = runner.run_once().await?;
    println!(
        "batch run of {} credits (core side: apply + {} export): {:.0} ms",
        rep.answered,
        if rep.delta { "delta" } else { "full" },
        t.elapsed().as_secs_f64() * 1e3
    );
    let (r0, t) = (rchar(), Instant::now());
    core.reload().await?;
    println!(
        "adapter loads the batch run's export: {:.1} ms, read {:.1} KB",
        t.elapsed().as_secs_f64() * 1e3,
        (rchar() - r0) as f64 / 1e3
    );
    let got = core.member_by_id(m.id_type, &m.id_number).await?;
    let want = before + 10_000;
    if got.as_ref().map(|g| g.balance_fen) != Some(want) {
        return Err(format!("credited balance not visible: {got:?}").into());
    }
    println!(
        "credited balance visible: account {} now {want} fen",
        m.account_no
    );
    mem("the batch run (the core's runner now runs in this process too)");
    let checks = core.check().await;
    for c in &checks {
        if c.name == "export" || c.name == "index" {
            println!("check {}: {} {}", c.name, c.ok, c.detail);
        }
    }
    drop(core);
    if !keep {
        std::fs::remove_dir_all(&dir)?;
    } else {
        println!("kept {}", dir.display());
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, all its threads, from /proc/self/stat.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux (`getconf CLK_TCK`).
    Duration::from_millis(ticks * 10)
}

/// `sqlite-cpu`: `lookups` member lookups on a seeded SQLite core from `tasks` concurrent
/// tasks; wall time, lookups/s and CPU per lookup.
async fn sqlite_cpu(
    scratch: &std::path::Path,
    n: u64,
    lookups: u64,
    tasks: usize,
    keep: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let opts = scale_opts();
    let dir = scratch.join(format!("hfx_bench_sqlite_cpu_{n}"));
    let path = dir.join("core.db");
    if !path.is_file() {
        std::fs::create_dir_all(&dir)?;
        let core = hfx_adapters::sqlite::SqliteCore::open(&path).await?;
        let t = Instant::now();
        core.seed(CENTRE, &opts, 0, n, &|_| {}).await?;
        println!("seeded {n} members in {:.1} s", t.elapsed().as_secs_f64());
    }
    let core = Arc::new(hfx_adapters::sqlite::SqliteCore::open_existing(&path).await?);
    // Random members (a fixed LCG, so runs are comparable), generated before the clock starts.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let ids: Arc<Vec<_>> = Arc::new(
        (0..lookups)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let m = generate(CENTRE, &opts, (x >> 17) % n).member;
                (m.id_type, m.id_number, m.account_no)
            })
            .collect(),
    );
    let run = |count: usize| {
        let (core, ids) = (core.clone(), ids.clone());
        async move {
            let next = Arc::new(AtomicUsize::new(0));
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..tasks {
                let (core, ids, next) = (core.clone(), ids.clone(), next.clone());
                set.spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok::<(), String>(());
                        }
                        let (t, num, acct) = &ids[i % ids.len()];
                        match core.member_by_id(*t, num).await {
                            Ok(Some(m)) if &m.account_no == acct => {}
                            Ok(_) => return Err(format!("member {acct} not found")),
                            Err(e) => return Err(e.detail()),
                        }
                    }
                });
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| e.to_string())??;
            }
            Ok::<(), String>(())
        }
    };
    // Warm up: the pools' connections and their statement caches.
    run(ids.len().min(2_000)).await?;
    let (wall, cpu) = (Instant::now(), process_cpu());
    run(ids.len()).await?;
    let (wall, cpu) = (wall.elapsed(), process_cpu().saturating_sub(cpu));
    println!(
        "sqlite member_by_id: {lookups} lookups from {tasks} tasks on {n} members in {:.3} s: \
         {:.0} lookups/s, CPU {:.3} s = {:.1} us per lookup",
        wall.as_secs_f64(),
        lookups as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / lookups as f64
    );
    drop(core);
    if !keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
