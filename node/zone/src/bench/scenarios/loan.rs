//! loan: loan checks across a ten-centre zone (clerk → node A → nine peers at once → their
//! core systems → back, under one deadline), beside single-peer member queries A → B in the
//! same zone and run, at the same concurrency. The target: the loan check's p99 at
//! most twice the single-peer query's.
//!
//! A loan check that does not come back complete (every centre answered) counts as an error:
//! on an idle loopback zone every centre should answer within the deadline.

use super::super::load::{channels_for, drive, pick, warmup_for};
use super::super::procfs::{Usage, usage};
use super::super::report::{cost_json, round};
use super::super::store::Stores;
use super::super::{BenchOptions, DEFAULT_DURATION, Ui};
use super::{QUERY_PURPOSE, live_members, log_size, member_query, status_err};
use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_certs::Role;
use hfx_node::client::LocalClient;
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// Centres of the zone: the asking one and nine peers.
pub(crate) const LOAN_CENTRES: usize = 10;
/// Most concurrent checks (each is nine peer calls at once).
pub(crate) const LOAN_MAX_CONCURRENCY: usize = 8;
/// The deadline of every check, milliseconds.
pub(crate) const LOAN_DEADLINE_MS: u32 = 3_000;
/// Target: loan check p99 ≤ this × the single-peer query p99.
pub(crate) const TARGET_LOAN_P99_RATIO: f64 = 2.0;

pub(crate) async fn run_loan(
    dir: &Path,
    stores: &mut Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let mut spec = ZoneSpec::new(dir, LOAN_CENTRES);
    spec.members_per_centre = opts.members;
    stores.for_zone(&mut spec, "loan", LOAN_CENTRES).await?;
    ui.say(&format!(
        "loan: preparing a {LOAN_CENTRES}-centre zone ({} members each)",
        opts.members
    ));
    let prepared = prepare(&spec, &|_| {})
        .await
        .context("preparing the zone")?;
    let codes: Vec<String> = prepared.plans.iter().map(|p| p.code.clone()).collect();
    let mut zone = Zone::from_prepared(dir.to_path_buf(), prepared, opts.binary.clone());
    ui.say(&format!("starting {LOAN_CENTRES} node processes"));
    zone.start_all().await.context("starting the zone")?;
    let res = loan_load(&zone, &codes, &spec, opts, ui).await;
    zone.stop_all();
    let mut v = res?;
    stores.label(&mut v, "one per node", "core systems: sqlite adapter");
    Ok(v)
}

async fn loan_load(
    zone: &Zone,
    codes: &[String],
    spec: &ZoneSpec,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let (a, b) = (codes[0].clone(), codes[1].clone());
    let concurrency = opts.concurrency.clamp(1, LOAN_MAX_CONCURRENCY);
    let measure = opts.duration.unwrap_or(DEFAULT_DURATION);
    let n_channels = channels_for(concurrency);
    let clients = Arc::new(
        (0..n_channels)
            .map(|_| zone.client(&a, Role::Clerk))
            .collect::<anyhow::Result<Vec<LocalClient>>>()?,
    );

    let pids: Vec<u32> = codes
        .iter()
        .map(|c| zone.pid(c).with_context(|| format!("no process for {c}")))
        .collect::<anyhow::Result<_>>()?;
    // CPU of the asking node and of the others together, from `before` on.
    let cpu = |before: &[Usage]| {
        let used: Vec<Usage> = pids
            .iter()
            .zip(before)
            .map(|(&p, &b)| usage(p).since(b))
            .collect();
        let others = used[1..].iter().fold(Usage::default(), |acc, u| Usage {
            cpu_ticks: acc.cpu_ticks + u.cpu_ticks,
            ctx_switches: acc.ctx_switches + u.ctx_switches,
            wchar: acc.wchar + u.wchar,
            write_bytes: acc.write_bytes + u.write_bytes,
        });
        (used[0], others)
    };
    let snapshot = || pids.iter().map(|&p| usage(p)).collect::<Vec<Usage>>();

    // The single-peer query, first: A → B.
    let usage_query = snapshot();
    let queries: Arc<Vec<pb::LocalMemberQuery>> = Arc::new(
        live_members(&b, spec.seed, spec.members_per_centre)
            .iter()
            .map(|m| member_query(&b, m, QUERY_PURPOSE))
            .collect(),
    );
    anyhow::ensure!(!queries.is_empty(), "no live member seeded at {b}");
    ui.say(&format!(
        "loan: single-peer queries {a} → {b}, {concurrency} workers, {} s",
        measure.as_secs_f64()
    ));
    let cl = clients.clone();
    let q = queries.clone();
    let query = drive(
        "loan (single-peer query)",
        concurrency,
        warmup_for(measure),
        measure,
        ui,
        move |w, i| {
            let client = cl[w % cl.len()].clone();
            let q = q[(pick(w, i, 7) % q.len() as u64) as usize].clone();
            async move {
                let r = client.query_member(q).await.map_err(status_err)?;
                if r.member.is_none() || r.peer_receipt.is_none() {
                    return Err("reply without member view or receipt".into());
                }
                Ok(())
            }
        },
    )
    .await;

    let (query_a, query_others) = cpu(&usage_query);

    // Loan checks of members of every centre, each asked of all ten.
    let people: Arc<Vec<pb::PersonKey>> = Arc::new(
        codes
            .iter()
            .flat_map(|c| live_members(c, spec.seed, spec.members_per_centre.min(400)))
            .map(|m| pb::PersonKey {
                id_type: pb::IdType::ResidentId as i32,
                id_number: m.id_number.clone(),
                name: m.name.clone(),
            })
            .collect(),
    );
    anyhow::ensure!(!people.is_empty(), "no live member seeded");
    let before = log_size(zone, &a).await?;
    let usage_checks = snapshot();
    ui.say(&format!(
        "loan: loan checks from {a} across {} peers, {concurrency} workers, deadline {LOAN_DEADLINE_MS} ms, {} s",
        codes.len() - 1,
        measure.as_secs_f64()
    ));
    let cl = clients.clone();
    let p = people.clone();
    let peers = codes.len() - 1;
    let checks = drive(
        "loan",
        concurrency,
        warmup_for(measure),
        measure,
        ui,
        move |w, i| {
            let mut clerk = pb::clerk_client::ClerkClient::new(cl[w % cl.len()].channel());
            let person = p[(pick(w, i, 11) % p.len() as u64) as usize].clone();
            async move {
                let r = clerk
                    .loan_check(pb::LocalLoanCheck {
                        person: Some(person),
                        centres: Vec::new(),
                        deadline_ms: LOAN_DEADLINE_MS,
                        message_id: String::new(),
                        hedge: false,
                    })
                    .await
                    .map_err(status_err)?
                    .into_inner();
                let asked = r.centres.iter().filter(|c| !c.own).count();
                if !r.complete || asked != peers {
                    let missing: Vec<String> = r
                        .centres
                        .iter()
                        .filter(|c| c.outcome() != pb::LoanCheckOutcome::Answered)
                        .map(|c| format!("{} {} {}", c.centre, c.reason, c.detail))
                        .collect();
                    return Err(format!(
                        "incomplete ({asked} peers asked): {}",
                        missing.join("; ")
                    ));
                }
                Ok(())
            }
        },
    )
    .await;
    let after = log_size(zone, &a).await?;
    let (checks_a, checks_others) = cpu(&usage_checks);

    let q99 = query.percentile(0.99);
    let l99 = checks.percentile(0.99);
    let ratio = if q99 > 0 {
        f64::from(l99) / f64::from(q99)
    } else {
        0.0
    };
    let mut v = checks.common_json(concurrency);
    v["unit"] = json!("checks");
    v["channels"] = json!(n_channels);
    v["payload"] = json!(format!("{peers} peers"));
    v["peers"] = json!(peers);
    v["deadline_ms"] = json!(LOAN_DEADLINE_MS);
    v["centres"] = json!(codes);
    v["members_per_centre"] = json!(spec.members_per_centre);
    v["single_peer_query"] = query.common_json(concurrency);
    v["single_peer_query"]["purpose"] = json!(hfx_node::member::purpose_name(QUERY_PURPOSE));
    v["single_peer_query"]["centres"] = json!([a, b]);
    // What each costs the zone (the nodes' own work and their witnessing of each other's
    // logs, which grow with every exchange).
    v["cost"] = cost_json(
        &[
            ("node A (asking)", checks_a),
            ("the nine other nodes", checks_others),
        ],
        checks.ok_total,
    );
    v["single_peer_query"]["cost"] = cost_json(
        &[
            ("node A (asking)", query_a),
            ("the nine other nodes", query_others),
        ],
        query.ok_total,
    );
    // The run's figures beside each other: the ratio the issue sets its target on.
    v["p99_ratio_to_single_peer_query"] = json!(round(ratio, 3));
    v["target"] = json!({
        "p99_ratio_to_single_peer_query": TARGET_LOAN_P99_RATIO,
        "met": ratio > 0.0 && ratio <= TARGET_LOAN_P99_RATIO,
    });
    // Each answered check is two entries per peer at A (request sent, reply received) and
    // one disclosure commitment per peer; the query phase's entries came before `before`.
    v["log_growth_at_asker"] = json!({
        "entries": after.saturating_sub(before),
        "checks_answered": checks.ok_total,
        "per_check": if checks.ok_total > 0 {
            round(after.saturating_sub(before) as f64 / checks.ok_total as f64, 2)
        } else { 0.0 },
    });
    Ok(v)
}
