//! Parse and verify rates of `hfx audit verify` on one export file, one thread.
//!
//! `cargo run --release -p hfx-tlog --example parse_bench [ENTRIES] [DIR] [MODE]` writes
//! (once, then reuses) a synthetic export of ENTRIES entries (default 1,000,000) with
//! `audit::synthesize` and times, on this one thread, from the file:
//! - `parse`: the streaming verifier's reading and parsing alone (no hashing);
//! - `stream`: `audit::verify_stream`, the whole verification as `hfx audit verify` runs it;
//! - `memory`: the in-memory path it replaces, `read_for_verify` then `verify_read`;
//! - `entry-pass`: `audit::bench_verify`, the verifier's entry pass over 2M entries in memory.
//!
//! MODE is one of those or `all` (the default). Run one mode under `/usr/bin/time -v` for
//! its peak RSS.

use hfx_tlog::audit;
use std::io::BufReader;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let arg_n = args.next();
    let n: u64 = arg_n.map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let dir = args
        .next()
        .filter(|a| !a.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hfx-parse-bench-{n}")));
    let mode = args.next().unwrap_or_else(|| "all".into());
    let run = |m: &str| mode == "all" || mode == m;
    let centres = ["320300000000000".to_string(), "320700000000000".to_string()];
    let file = dir.join(format!("{}.hfxlog", centres[0]));
    if !file.exists() {
        let t = Instant::now();
        // Each exchange puts three entries in each of the two files.
        audit::synthesize(&dir, "bench", &centres, n.div_ceil(3), 65_536, &|_, _| {})?;
        eprintln!(
            "wrote {} in {:.1} s",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let size = std::fs::metadata(&file)?.len();
    let open = || -> anyhow::Result<BufReader<std::fs::File>> {
        Ok(BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&file)?,
        ))
    };
    let rate = |k: u64, s: f64| format!("{:.2}M entries/s", k as f64 / s / 1e6);
    println!("{}: {size} bytes", file.display());

    if run("parse") {
        let t = Instant::now();
        let entries = audit::parse_stream_only(&mut open()?)?
            .ok_or_else(|| anyhow::anyhow!("the export does not stream"))?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "parse (streaming, no hashing): {entries} entries in {s:.3} s = {}",
            rate(entries, s)
        );
    }
    if run("stream") {
        let t = Instant::now();
        let rep = audit::verify_stream(&mut open()?, &mut |_| Ok((None, 1)), &|_, _| {})?;
        let s = t.elapsed().as_secs_f64();
        anyhow::ensure!(rep.problems.is_empty(), "{:?}", rep.problems);
        println!(
            "verify_stream: {} entries in {s:.3} s = {} (entries section {:.3} s = {}, payloads section {:.3} s)",
            rep.entries,
            rate(rep.entries, s),
            rep.entries_seconds,
            rate(rep.entries, rep.entries_seconds),
            rep.payloads_seconds,
        );
    }
    if run("memory") {
        let t = Instant::now();
        let read = audit::read_for_verify(&mut open()?, &|_, _| {})?;
        let parse_s = t.elapsed().as_secs_f64();
        let entries = read.export.entries.len() as u64;
        let t = Instant::now();
        let rep = audit::verify_read(&read, None, 1, &|_, _| {});
        let verify_s = t.elapsed().as_secs_f64();
        anyhow::ensure!(rep.problems.is_empty(), "{:?}", rep.problems);
        drop(read);
        println!(
            "in-memory: read_for_verify {parse_s:.3} s ({}); verify_read {verify_s:.3} s (entry pass {:.3} s = {}, payloads {:.3} s); whole {:.3} s = {}",
            rate(entries, parse_s),
            rep.entries_seconds,
            rate(entries, rep.entries_seconds),
            rep.payloads_seconds,
            parse_s + verify_s,
            rate(entries, parse_s + verify_s),
        );
    }
    if run("entry-pass") {
        let best = (0..3)
            .map(|_| audit::bench_verify(2_000_000))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .min_by_key(|r| r.1)
            .ok_or_else(|| anyhow::anyhow!("no run"))?;
        println!(
            "entry pass (bench_verify, in memory, fastest of 3): {} entries in {:.3} s = {}",
            best.0,
            best.1.as_secs_f64(),
            rate(best.0, best.1.as_secs_f64())
        );
    }
    Ok(())
}
