//! `hfx bench`: the zone room runs the scenarios; this only carries the flags over.

use anyhow::Context;
use hfx_zone::bench::{BenchOptions, Scenario, StoreChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The flags of `hfx bench`.
pub struct BenchArgs {
    pub scenarios: Vec<Scenario>,
    pub duration: Option<Duration>,
    pub concurrency: usize,
    pub log_writers: usize,
    pub json: Option<PathBuf>,
    pub members: u64,
    pub transfers: usize,
    pub entries: u64,
    pub dir: Option<PathBuf>,
    pub store: StoreChoice,
    pub store_url: String,
}

pub async fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut opts = BenchOptions::new(std::env::current_exe().context("locating hfx")?);
    opts.scenarios = a.scenarios;
    opts.duration = a.duration;
    opts.concurrency = a.concurrency;
    opts.log_writers = a.log_writers;
    opts.json = a.json;
    opts.members = a.members;
    opts.transfers = a.transfers;
    opts.entries = a.entries;
    opts.dir = a.dir;
    opts.store = a.store;
    opts.store_url = a.store_url;
    hfx_zone::bench::command(opts).await
}
