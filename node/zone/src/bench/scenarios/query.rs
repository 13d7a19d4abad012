//! query: clerk → node A → node B → adapter → back.

use super::super::load::{channels_for, drive, pick, warmup_for};
use super::super::procfs::usage;
use super::super::report::{cost_json, round};
use super::super::store::Stores;
use super::super::{BenchOptions, DEFAULT_DURATION, Ui};
use super::{QUERY_PURPOSE, live_members, log_size, member_query, status_err};
use crate::launcher::{Zone, ZoneSpec};
use anyhow::Context;
use hfx_certs::Role;
use hfx_node::client::LocalClient;
use hfx_node::log::{RECV, SENT};
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) async fn run_query(
    zone: &Zone,
    a: &str,
    b: &str,
    spec: &ZoneSpec,
    stores: &Stores,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let members = live_members(b, spec.seed, spec.members_per_centre);
    anyhow::ensure!(!members.is_empty(), "no live member seeded at {b}");
    let queries: Arc<Vec<pb::LocalMemberQuery>> = Arc::new(
        members
            .iter()
            .map(|m| member_query(b, m, QUERY_PURPOSE))
            .collect(),
    );
    let request_bytes = queries
        .iter()
        .map(|q| prost::Message::encoded_len(q) as f64)
        .sum::<f64>()
        / queries.len() as f64;
    let n_channels = channels_for(opts.concurrency);
    let clients = Arc::new(
        (0..n_channels)
            .map(|_| zone.client(a, Role::Clerk))
            .collect::<anyhow::Result<Vec<LocalClient>>>()?,
    );
    let before = (log_size(zone, a).await?, log_size(zone, b).await?);
    let pids = (
        zone.pid(a).context("node A has no process")?,
        zone.pid(b).context("node B has no process")?,
        std::process::id(),
    );
    let usage_before = (usage(pids.0), usage(pids.1), usage(pids.2));
    let server = stores.server_mark().await;
    let reply_bytes = Arc::new(AtomicU64::new(0));
    let replies = Arc::new(AtomicU64::new(0));
    let measure = opts.duration.unwrap_or(DEFAULT_DURATION);
    ui.say(&format!(
        "query: {} → {} ({}), {} workers on {} connection(s), {} s",
        a,
        b,
        hfx_node::member::purpose_name(QUERY_PURPOSE),
        opts.concurrency,
        n_channels,
        measure.as_secs_f64()
    ));
    let (rb, rn) = (reply_bytes.clone(), replies.clone());
    let load = drive(
        "query",
        opts.concurrency,
        warmup_for(measure),
        measure,
        ui,
        move |w, i| {
            let client = clients[w % clients.len()].clone();
            let q = queries[(pick(w, i, 1) % queries.len() as u64) as usize].clone();
            let (rb, rn) = (rb.clone(), rn.clone());
            async move {
                let r = client.query_member(q).await.map_err(status_err)?;
                if r.member.is_none() || r.local_receipt.is_none() || r.peer_receipt.is_none() {
                    return Err("reply without member view or receipts".into());
                }
                rb.fetch_add(prost::Message::encoded_len(&r) as u64, Ordering::Relaxed);
                rn.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        },
    )
    .await;
    let used = (
        usage(pids.0).since(usage_before.0),
        usage(pids.1).since(usage_before.1),
        usage(pids.2).since(usage_before.2),
    );
    let server_work = stores.server_since(&server).await;
    let after = (log_size(zone, a).await?, log_size(zone, b).await?);
    let n = replies.load(Ordering::Relaxed).max(1);
    let reply_avg = reply_bytes.load(Ordering::Relaxed) as f64 / n as f64;
    let mut v = load.common_json(opts.concurrency);
    v["unit"] = json!("queries");
    v["channels"] = json!(n_channels);
    v["payload_bytes"] = json!({
        "request": round(request_bytes, 1),
        "reply": round(reply_avg, 1),
    });
    v["payload"] = json!(format!("{request_bytes:.0} B / {reply_avg:.0} B"));
    stores.label(&mut v, "one per node", "core systems: sqlite adapter");
    v["purpose"] = json!(hfx_node::member::purpose_name(QUERY_PURPOSE));
    v["centres"] = json!([a, b]);
    v["members_per_centre"] = json!(spec.members_per_centre);
    v["node_log_level"] = json!(spec.log_level);
    v["cost"] = cost_json(
        &[
            ("node A", used.0),
            ("node B", used.1),
            ("bench process (clerk client)", used.2),
        ],
        load.ok_total,
    );
    super::super::store::server_json(&mut v, &server_work, load.ok_total);
    v["log_check"] = json!({
        "queries_answered": load.ok_total,
        "expected_entries_per_node": 3 * load.ok_total,
        "live": {
            a: after.0.saturating_sub(before.0),
            b: after.1.saturating_sub(before.1),
        },
    });
    Ok(v)
}

/// After the nodes stopped: count the query entries each store holds on disk. Each answered
/// query is a sent request and a received reply at A, a received request and a sent reply at B
/// (and, on each, the commitment entry of its disclosure record: three live entries per node).
pub(crate) async fn check_query_logs(
    spec: &ZoneSpec,
    a: &str,
    b: &str,
    v: &mut Value,
) -> anyhow::Result<()> {
    let answered = v["log_check"]["queries_answered"].as_u64().unwrap_or(0);
    let errors = v["errors"].as_u64().unwrap_or(0);
    let mut ok = errors == 0;
    for code in [a, b] {
        let (sent, recv) = stored_query_entries(&node_store_url(spec, code))
            .await
            .with_context(|| format!("reading {code}'s store"))?;
        let live = v["log_check"]["live"][code].as_u64().unwrap_or(0);
        ok &= sent == answered && recv == answered && live == 3 * answered;
        v["log_check"]["stored"][code] = json!({ "sent": sent, "recv": recv });
    }
    v["log_check"]["ok"] = json!(ok);
    Ok(())
}

/// The store of `code`'s node: the one the spec gives it, else the launcher's default file.
pub(crate) fn node_store_url(spec: &ZoneSpec, code: &str) -> String {
    match spec.store_urls.get(code) {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            spec.dir.join("nodes").join(code).join("node.db").display()
        ),
    }
}

/// Query entries (sent, received) in the store at `url`, read beside (after) its node. A
/// SQLite file is opened read-only.
pub(crate) async fn stored_query_entries(url: &str) -> anyhow::Result<(u64, u64)> {
    let url = if url.starts_with("sqlite:") && !url.contains('?') {
        format!("{url}?mode=ro")
    } else {
        url.to_string()
    };
    let store = hfx_node::store::Store::open_offline(&url).await?;
    let rows = store
        .entry_counts_by_dir("MemberExchange/QueryMember#")
        .await;
    store.close().await;
    let rows = rows?;
    let get = |d: &str| {
        rows.iter()
            .find(|(x, _)| x == d)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    Ok((get(SENT), get(RECV)))
}
