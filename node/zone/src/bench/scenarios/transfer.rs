//! transfer: account transfers between two centres, start to "done", at a fixed concurrency.
//!
//! A fresh two-centre zone (launcher, real node processes, durable SQLite or PostgreSQL stores
//! per `--store`, the zone's
//! settlement-bank stand-in answering at once). The destination clerk (centre B) starts a
//! transfer for each of N seeded movers whose old account is at centre A, then polls
//! `get_transfer` until the case is final. A case counts once it is final in state `done`;
//! anything else (refused, failed, parked for a clerk, not final in time, an RPC error) is a
//! failure and is reported with its case id and state.

use super::super::procfs::usage;
use super::super::report::{cost_json, round};
use super::super::store::Stores;
use super::super::{BenchOptions, Ui, load::Load};
use super::status_err;
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_adapters::model::IdType;
use hfx_certs::Role;
use hfx_node::client::LocalClient;
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate, loans_of, mover_index, mover_origin};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Default number of transfers.
pub const DEFAULT_TRANSFERS: usize = 500;
/// How often a worker asks about its case.
const POLL: Duration = Duration::from_millis(15);
/// A case not final this long after it started is a failure.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the origin side may take to record the completion after the destination is done.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One transfer to make: the request and where the old account is.
struct Planned {
    request: pb::StartTransferRequest,
}

/// Movers of `dest` whose old account is at `origin`, transferable without a clerk: not a
/// frozen origin account (k mod 4 = 3, refused) and no outstanding loan at the origin (the case
/// would stop at "negotiating"). Returns the requests and the members each centre must hold.
fn plan(dest: &str, origin: &str, seed: u64, n: usize) -> anyhow::Result<(Vec<Planned>, u64)> {
    let opts = SeedOptions {
        seed,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(n);
    let mut need = 0u64;
    let mut k = 0u64;
    while out.len() < n {
        anyhow::ensure!(
            k < 1_000_000,
            "fewer than {n} transferable movers of {dest} from {origin}"
        );
        let this = k;
        k += 1;
        if this % 4 == 3 {
            continue;
        }
        let Some(index) = mover_index(dest, &opts, this) else {
            anyhow::bail!("{dest} has no movers (not one of the seeded cities)");
        };
        let Some((from, at)) = mover_origin(dest, &opts, index) else {
            continue;
        };
        if from != origin {
            anyhow::bail!("movers of {dest} come from {from}, not {origin}");
        }
        if loans_of(&from, &opts, at)
            .iter()
            .any(|l| l.loan.outstanding_fen > 0)
        {
            continue;
        }
        let m = generate(dest, &opts, index).member;
        need = need.max(index + 1).max(at + 1);
        out.push(Planned {
            request: pb::StartTransferRequest {
                origin_centre: from,
                person: Some(pb::PersonKey {
                    id_type: match m.id_type {
                        IdType::Passport => pb::IdType::Passport as i32,
                        _ => pb::IdType::ResidentId as i32,
                    },
                    id_number: m.id_number.clone(),
                    name: m.name.clone(),
                }),
                destination_account_no: m.account_no.clone(),
                case_id: String::new(),
            },
        });
    }
    Ok((out, need))
}

/// What one transfer came to.
enum Outcome {
    Done { case_id: String, latency: Duration },
    Failed(String),
}

async fn one(client: &LocalClient, p: &Planned) -> Outcome {
    let t0 = Instant::now();
    let v = match client.start_transfer(p.request.clone()).await {
        Ok(v) => v,
        Err(s) => return Outcome::Failed(format!("start: {}", status_err(s))),
    };
    let case_id = v.case_id.clone();
    let mut last = v;
    loop {
        if last.is_final {
            return if last.state == "done" {
                Outcome::Done {
                    case_id,
                    latency: t0.elapsed(),
                }
            } else {
                Outcome::Failed(format!(
                    "case {case_id} ended {} (national code {:?}, refusal {:?}, {})",
                    last.state, last.national_code, last.refusal_code, last.status_detail
                ))
            };
        }
        if !last.stuck_reason.is_empty() {
            return Outcome::Failed(format!(
                "case {case_id} parked at {}: {}",
                last.state, last.stuck_reason
            ));
        }
        if t0.elapsed() > CASE_TIMEOUT {
            return Outcome::Failed(format!(
                "case {case_id} not final after {} s (state {}, waiting for {:?})",
                CASE_TIMEOUT.as_secs(),
                last.state,
                last.waiting_for
            ));
        }
        tokio::time::sleep(POLL).await;
        match client.get_transfer(&case_id).await {
            Ok(v) => last = v,
            Err(s) => {
                return Outcome::Failed(format!("get {case_id}: {}", status_err(s)));
            }
        }
    }
}

/// Prepare and start the zone, run `n` transfers at `opts.concurrency`, stop the zone.
pub(crate) async fn run_transfer(
    dir: &Path,
    n: usize,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    anyhow::ensure!(n >= 1, "give at least one transfer");
    let mut spec = ZoneSpec::new(dir, 2);
    // Who is in the zone decides who can move: plan against the launcher's first two centres.
    let shipped = hfx_certs::zone::ZoneConfig::parse(crate::launcher::SHIPPED_ZONE)
        .context("shipped zone.toml")?;
    anyhow::ensure!(
        shipped.centres.len() >= 2,
        "the shipped zone has < 2 centres"
    );
    let (a, b) = (
        shipped.centres[0].code.clone(),
        shipped.centres[1].code.clone(),
    );
    let (planned, need) = plan(&b, &a, spec.seed, n)?;
    spec.members_per_centre = opts.members.max(need);
    stores.for_zone(&mut spec, "transfer", 2).await?;
    ui.say(&format!(
        "transfer: preparing a 2-centre zone ({} members each, {} transferable movers {} → {})",
        spec.members_per_centre,
        planned.len(),
        a,
        b
    ));
    let prepared = prepare(&spec, &|_| {})
        .await
        .context("preparing the transfer zone")?;
    anyhow::ensure!(
        prepared.plans[0].code == a && prepared.plans[1].code == b,
        "the zone's centres are not the ones planned for"
    );
    let mut zone = Zone::from_prepared(dir.to_path_buf(), prepared, opts.binary.clone());
    ui.say("starting 2 node processes");
    zone.start_all().await.context("starting the zone")?;
    let res = drive_transfers(&zone, &a, &b, planned, stores, opts, ui).await;
    zone.stop_all();
    let mut v = res?;
    stores.label(
        &mut v,
        "one per node",
        "core systems: sqlite adapter; bank: the zone's stand-in, answering at once",
    );
    v["members_per_centre"] = json!(spec.members_per_centre);
    v["node_log_level"] = json!(spec.log_level);
    Ok(v)
}

async fn drive_transfers(
    zone: &Zone,
    a: &str,
    b: &str,
    planned: Vec<Planned>,
    stores: &Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let n = planned.len();
    let request_bytes = planned
        .iter()
        .map(|p| prost::Message::encoded_len(&p.request) as f64)
        .sum::<f64>()
        / n.max(1) as f64;
    let planned = Arc::new(planned);
    let n_channels = super::super::load::channels_for(opts.concurrency);
    let clients = (0..n_channels)
        .map(|_| zone.client(b, Role::Clerk))
        .collect::<anyhow::Result<Vec<LocalClient>>>()?;
    let pids = (
        zone.pid(a).context("node A has no process")?,
        zone.pid(b).context("node B has no process")?,
        std::process::id(),
    );
    let usage_before = (usage(pids.0), usage(pids.1), usage(pids.2));
    let server = stores.server_mark().await;
    let workers = opts.concurrency.min(n);
    ui.say(&format!(
        "transfer: {n} transfers {a} → {b}, {workers} concurrent on {n_channels} connection(s)"
    ));
    let next = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let client = clients[w % clients.len()].clone();
        let (planned, next, finished) = (planned.clone(), next.clone(), finished.clone());
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let mut failed = Vec::new();
            let mut last_end = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = planned.get(i) else { break };
                match one(&client, p).await {
                    Outcome::Done { case_id, latency } => done.push((case_id, latency)),
                    Outcome::Failed(e) => failed.push(e),
                }
                last_end = Some(Instant::now());
                finished.fetch_add(1, Ordering::Relaxed);
            }
            (done, failed, last_end)
        }));
    }
    let joined = async {
        let mut all = Vec::with_capacity(handles.len());
        for h in handles {
            all.push(h.await);
        }
        all
    };
    let mut joined = std::pin::pin!(joined);
    let results = loop {
        ui.status(&format!(
            "transfer: {}/{n} final, {:.0} s",
            finished.load(Ordering::Relaxed),
            t0.elapsed().as_secs_f64()
        ));
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(250), &mut joined).await {
            break r;
        }
    };
    let mut done: Vec<(String, Duration)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut last_end: Option<Instant> = None;
    for r in results {
        match r {
            Ok((d, f, e)) => {
                done.extend(d);
                failed.extend(f);
                last_end = last_end.max(e);
            }
            Err(e) => failed.push(format!("worker failed: {e}")),
        }
    }
    let elapsed = last_end.map_or(t0.elapsed(), |e| e.duration_since(t0));
    let used = (
        usage(pids.0).since(usage_before.0),
        usage(pids.1).since(usage_before.1),
        usage(pids.2).since(usage_before.2),
    );

    let server_work = stores.server_since(&server).await;

    // The origin must agree: every case the destination finished is done there too.
    ui.status("transfer: checking the origin's side");
    let origin = zone.client(a, Role::Clerk)?;
    let mut origin_done = 0u64;
    let mut origin_mismatch = Vec::new();
    for (case_id, _) in &done {
        let deadline = Instant::now() + ORIGIN_TIMEOUT;
        loop {
            match origin.get_transfer(case_id).await {
                Ok(v) if v.is_final && v.state == "done" => {
                    origin_done += 1;
                    break;
                }
                Ok(v) if v.is_final || Instant::now() > deadline => {
                    origin_mismatch.push(format!("origin: case {case_id} is {}", v.state));
                    break;
                }
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(s) => {
                    origin_mismatch.push(format!("origin: case {case_id}: {}", status_err(s)));
                    break;
                }
            }
        }
    }

    let mut lat_us: Vec<u32> = done
        .iter()
        .map(|(_, d)| u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
        .collect();
    lat_us.sort_unstable();
    let ok = done.len() as u64;
    let load = Load {
        ok_total: ok,
        ok,
        errors: failed.len() as u64,
        error_samples: failed.iter().take(5).cloned().collect(),
        lat_us,
        elapsed,
    };
    let mut v = load.common_json(workers);
    v["unit"] = json!("transfers");
    v["transfers_started"] = json!(n);
    v["transfers_done"] = json!(ok);
    v["failures"] = json!(failed);
    v["channels"] = json!(n_channels);
    v["poll_interval_ms"] = json!(POLL.as_millis() as u64);
    v["payload_bytes"] = json!({ "request": round(request_bytes, 1) });
    v["payload"] = json!(format!("{request_bytes:.0} B start + polls"));
    v["centres"] = json!({ "origin": a, "destination": b });
    v["cost"] = cost_json(
        &[
            ("node A (origin)", used.0),
            ("node B (destination)", used.1),
            ("bench process (clerk client + bank stand-in)", used.2),
        ],
        ok,
    );
    super::super::store::server_json(&mut v, &server_work, ok);
    v["origin_check"] = json!({
        "done_at_destination": ok,
        "done_at_origin": origin_done,
        "mismatches": origin_mismatch.iter().take(5).collect::<Vec<_>>(),
        "ok": origin_mismatch.is_empty() && origin_done == ok,
    });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::plan;
    use hfx_standins::seed::{SeedOptions, loans_of, mover_origin};

    #[test]
    fn the_plan_picks_transferable_movers_inside_the_seeded_members() {
        let (a, b) = ("320300000000000", "320700000000000");
        let (planned, need) = plan(b, a, 1, 40).expect("plan");
        assert_eq!(planned.len(), 40);
        let opts = SeedOptions {
            seed: 1,
            ..Default::default()
        };
        let mut ids = std::collections::BTreeSet::new();
        for p in &planned {
            assert_eq!(p.request.origin_centre, a);
            let person = p.request.person.as_ref().expect("person");
            assert!(ids.insert(person.id_number.clone()), "one case per person");
            assert!(!p.request.destination_account_no.is_empty());
        }
        // Every planned mover's old account is one the origin refuses neither for a freeze nor
        // parks for a loan, and lies below `need`, so seeding `need` members holds them all.
        let mut k = 0;
        let mut seen = 0;
        while seen < planned.len() {
            let index = hfx_standins::seed::mover_index(b, &opts, k).expect("mover");
            let (_, at) = mover_origin(b, &opts, index).expect("origin");
            let eligible = k % 4 != 3
                && !loans_of(a, &opts, at)
                    .iter()
                    .any(|l| l.loan.outstanding_fen > 0);
            if eligible {
                assert!(index < need && at < need, "mover {k} beyond {need}");
                seen += 1;
            }
            k += 1;
        }
        // About one mover in 50 members, and not all of them: the frozen quarter is skipped.
        assert!(need > 40 * 50, "{need}");
    }
}
