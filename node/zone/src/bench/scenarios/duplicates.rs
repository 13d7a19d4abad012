//! duplicates: the one-person-one-account sweep (docs/duplicates.md) of one centre's whole
//! live population against the two other centres of a three-centre zone, by private set
//! intersection, through the operator's local API exactly as `hfx zone duplicates` drives it
//! (batches of 4096 at the node's default pace). It reports, per peer and in all: time,
//! messages, bytes, ids compared and found, and the rate in ids (own + peer's) per second;
//! from that rate, the estimate for a 1,000,000-member centre against nine peers of the same
//! size on this machine (the target: 10 minutes).
//!
//! All nodes share this machine's cores, so the estimate counts every side's arithmetic on
//! the same cores, as a zone on one machine would.

use super::super::report::round;
use super::super::store::Stores;
use super::super::{BenchOptions, Ui};
use super::status_err;
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Centres of the zone: the sweeping one and two peers.
const CENTRES: usize = 3;
/// Own members per batch (the protocol's largest).
const BATCH: u32 = hfx_node::dupcheck::MAX_BATCH as u32;
/// The target for a 1,000,000-member centre against the zone, seconds.
pub(crate) const TARGET_SWEEP_SECONDS: f64 = 600.0;
/// The zone of the estimate: a centre of this many members and this many peers of the same size.
const ESTIMATE_MEMBERS: f64 = 1_000_000.0;
const ESTIMATE_PEERS: f64 = 9.0;

pub(crate) async fn run_duplicates(
    dir: &Path,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let mut spec = ZoneSpec::new(dir, CENTRES);
    spec.members_per_centre = opts.members;
    stores.for_zone(&mut spec, "duplicates", CENTRES).await?;
    ui.say(&format!(
        "duplicates: preparing a {CENTRES}-centre zone ({} members each)",
        opts.members
    ));
    let prepared = prepare(&spec, &|_| {})
        .await
        .context("preparing the zone")?;
    let codes: Vec<String> = prepared.plans.iter().map(|p| p.code.clone()).collect();
    let mut zone = Zone::from_prepared(dir.to_path_buf(), prepared, opts.binary.clone());
    zone.start_all().await.context("starting the zone")?;
    let res = sweep_all(&zone, &codes, ui).await;
    zone.stop_all();
    let mut v = res?;
    stores.label(&mut v, "one per node", "core systems: sqlite adapter");
    Ok(v)
}

async fn sweep_all(zone: &Zone, codes: &[String], ui: &Ui) -> anyhow::Result<Value> {
    let own = &codes[0];
    let client = zone.client(own, Role::Operator)?;
    let mut svc = pb::duplicates_client::DuplicatesClient::new(client.channel());
    let mut peers = Vec::new();
    let (mut total_s, mut messages, mut bytes, mut elements, mut errors) =
        (0.0, 0u64, 0u64, 0u64, 0u64);
    let mut samples: Vec<String> = Vec::new();
    for peer in &codes[1..] {
        ui.status(&format!("duplicates: sweeping {own} against {peer}"));
        let t0 = Instant::now();
        let (mut session, mut after) = (String::new(), String::new());
        let (mut m, mut b, mut found, mut compared) = (0u64, 0u64, 0u64, 0u64);
        let (mut own_total, mut peer_total) = (0u64, 0u64);
        loop {
            let step = pb::DupSweepStep {
                peer: peer.clone(),
                session_id: session.clone(),
                after: after.clone(),
                batch_size: BATCH,
            };
            let p = match svc.sweep_step(step).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    errors += 1;
                    samples.push(status_err(s));
                    break;
                }
            };
            session = p.session_id;
            after = p.next_after;
            m += u64::from(p.messages);
            b += p.bytes;
            found += p.found.len() as u64;
            compared += u64::from(p.compared);
            own_total = p.own_total;
            peer_total = p.peer_total;
            if p.done {
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let n = own_total + peer_total;
        total_s += secs;
        messages += m;
        bytes += b;
        elements += n;
        ui.say(&format!(
            "duplicates: {own} against {peer}: {compared} own ids against {peer_total} of theirs, \
             {found} found, {m} messages, {:.1} MB, {secs:.1} s",
            b as f64 / 1e6
        ));
        peers.push(json!({
            "peer": peer, "own_total": own_total, "peer_population": peer_total,
            "compared": compared, "found": found, "messages": m, "bytes": b,
            "seconds": round(secs, 2),
        }));
    }
    let rate = elements as f64 / total_s.max(1e-9);
    // A sweep of one peer handles own + peer's ids: 2 × 10^6 per peer of the estimate.
    let estimate = ESTIMATE_PEERS * 2.0 * ESTIMATE_MEMBERS / rate.max(1e-9);
    let bytes_per_id = bytes as f64 / (elements as f64).max(1.0);
    Ok(json!({
        "concurrency": 1,
        "payload": format!("{BATCH} points per message"),
        "unit": "ids",
        "throughput_per_s": round(rate, 0),
        "seconds": round(total_s, 2),
        "messages": messages,
        "bytes": bytes,
        "peers": peers,
        "errors": errors,
        "error_samples": samples,
        "estimate_1m_members_9_peers": {
            "seconds": round(estimate, 0),
            "messages": (ESTIMATE_PEERS * 2.0 * (ESTIMATE_MEMBERS / f64::from(BATCH)).ceil()) as u64,
            "bytes": (ESTIMATE_PEERS * 2.0 * ESTIMATE_MEMBERS * bytes_per_id) as u64,
            "target_seconds": TARGET_SWEEP_SECONDS,
            "meets_target": estimate <= TARGET_SWEEP_SECONDS,
            "how": "ids (own + peer's) per second measured here, scaled linearly to 9 peers × 2 × 10^6 ids",
        },
    }))
}
