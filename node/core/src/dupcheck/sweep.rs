//! The requester's side (docs/duplicates.md): the operator's sweep of the own population
//! against one peer, one batch per step, and the clerk's live-account check of one person.
//!
//! A sweep session holds this node's secret for the peer, a snapshot of the own live
//! population (sorted canonical ids) and the peer's population blinded by both secrets. The
//! CLI repeats [`step`] and keeps `next_after` (and the found members) in its state file, so
//! a sweep broken off resumes where it stopped; a session this process no longer holds is
//! opened anew (fresh secrets on both sides) and the comparison goes on after `after`.
//!
//! Every batch this node sends to a peer is paced at the `[duplicates]` rate for that peer,
//! and backs off when the peer answers RESOURCE_EXHAUSTED (its `[policy]` rate).

use super::responder::{METHOD_OPEN, METHOD_PAGE, METHOD_REBLIND, PURPOSE, live_population};
use super::{MAX_BATCH, Secret, Wire, decode_point, matches};
use crate::auth::Caller;
use crate::error::{HfxError, HfxResult};
use crate::log::{Envelope, RECV, SENT};
use crate::member::{id_type_to_pb, peer_status_to_error, validate_person};
use crate::node::Node;
use crate::peers::PeerChannel;
use crate::store::WriteOp;
use crate::store::disclosures::{LogLink, NewDisclosure};
use hfx_adapters::ids::validate_centre_code;
use hfx_adapters::model::IdType;
use hfx_model::purpose::{legal_basis, purpose_name};
use hfx_proto::v1 as pb;
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

type DupClient = pb::duplicate_exchange_client::DuplicateExchangeClient<PeerChannel>;

/// An idle sweep session ends after this long.
const IDLE: Duration = Duration::from_secs(30 * 60);

/// Tries of one batch the peer refuses as over its rate, before the step fails.
const RATE_TRIES: u32 = 8;

struct SweepSession {
    peer: String,
    peer_session: String,
    secret: Arc<Secret>,
    own: Arc<Vec<String>>,
    peer_total: u64,
    max_batch: usize,
    peer_set: HashSet<Wire>,
    received: u64,
    touched: Instant,
}

/// (own centre, session id) -> session. Taken out of the map for a step, put back after.
static SWEEPS: LazyLock<Mutex<HashMap<(String, String), SweepSession>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// (own centre, peer) -> the earliest time the next batch may leave.
static PACE: LazyLock<Mutex<HashMap<(String, String), Instant>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wait for `peer`'s next slot at `rate` batches per second.
async fn pace(node: &Node, peer: &str, rate: f64) {
    let gap = Duration::from_secs_f64(1.0 / rate);
    let at = {
        let mut all = lock(&PACE);
        let now = Instant::now();
        let slot = all
            .entry((node.centre.clone(), peer.to_string()))
            .or_insert(now);
        let at = (*slot).max(now);
        *slot = at + gap;
        at
    };
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// A request header for one batch, minted once and reused on retry.
async fn header(node: &Node, caller: &Caller) -> pb::RequestHeader {
    pb::RequestHeader {
        message_id: uuid::Uuid::now_v7().hyphenated().to_string(),
        case_id: String::new(),
        purpose: PURPOSE as i32,
        acting_person: caller.label(),
        sender_checkpoint_size: node.store.log().lock().await.size(),
        sent_at_unix_ms: crate::now_ms(),
    }
}

/// What one step exchanged with the peer.
#[derive(Default)]
struct Traffic {
    messages: u32,
    bytes: u64,
}

/// Send one batch: paced, retried with the same message id when the peer is unreachable
/// once or over its rate (backing off), logged on both ends of our side and recorded.
#[allow(clippy::too_many_arguments)]
async fn call<Q, R, F, Fut>(
    node: &Node,
    caller: &Caller,
    peer: &str,
    method: &str,
    req: Q,
    message_id: &str,
    what: &str,
    traffic: &mut Traffic,
    send: F,
) -> HfxResult<R>
where
    Q: Message + Clone,
    R: Message,
    F: Fn(DupClient, Q) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let rate = node.cfg.duplicates.rate_for(peer);
    let channel = node.peers.channel(peer)?;
    let request_bytes = req.encode_to_vec();
    let mut backoff = Duration::from_millis(250);
    let mut unreachable_once = false;
    let mut tries = 0;
    let outcome = loop {
        pace(node, peer, rate).await;
        tries += 1;
        traffic.messages += 1;
        traffic.bytes += request_bytes.len() as u64;
        match send(DupClient::new(channel.clone()), req.clone()).await {
            Ok(r) => break Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::ResourceExhausted && tries < RATE_TRIES => {
                tracing::info!(%peer, wait_ms = backoff.as_millis() as u64, "duplicate sweep: peer over its rate; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(8));
            }
            Err(s)
                if !unreachable_once
                    && (s.code() == tonic::Code::Unavailable
                        || crate::member::is_transport_failure(&s)) =>
            {
                unreachable_once = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => break Err(s),
        }
    };
    let sent = WriteOp::LogAppend {
        envelope: Envelope::draft(
            SENT,
            peer,
            message_id,
            "",
            &format!("{method}#request"),
            &request_bytes,
        ),
        payload: request_bytes.clone(),
    };
    let record = |outcome: &str| {
        NewDisclosure {
            direction: "received",
            peer,
            acting_person: &caller.label(),
            purpose: purpose_name(PURPOSE),
            legal_basis: legal_basis(PURPOSE),
            outcome,
            message_id,
            subject_masked: what,
            log_index: LogLink::None,
        }
        .op_for(String::new())
    };
    match outcome {
        Ok(reply) => {
            let reply_bytes = reply.encode_to_vec();
            traffic.bytes += reply_bytes.len() as u64;
            let ops = vec![
                sent,
                WriteOp::LogAppend {
                    envelope: Envelope::draft(
                        RECV,
                        peer,
                        message_id,
                        "",
                        &format!("{method}#reply"),
                        &reply_bytes,
                    ),
                    payload: reply_bytes,
                },
                record("received"),
            ];
            node.store.write(ops).await?;
            Ok(reply)
        }
        Err(status) => {
            let reason =
                crate::error::reason_of(&status).unwrap_or_else(|| format!("{:?}", status.code()));
            let ops = vec![sent, record(&format!("failed: {reason}"))];
            if let Err(e) = node.store.write(ops).await {
                tracing::error!(error = %e, "could not record a failed duplicate-check batch");
            }
            Err(peer_status_to_error(peer, status))
        }
    }
}

/// Open a session with `peer`: fresh own secret, own snapshot, the peer's session.
async fn open(
    node: &Node,
    caller: &Caller,
    peer: &str,
    traffic: &mut Traffic,
) -> HfxResult<SweepSession> {
    let secret = Secret::random().map_err(|_| HfxError::internal("no random source"))?;
    let own = live_population(node).await?;
    let h = header(node, caller).await;
    let mid = h.message_id.clone();
    let req = pb::DupSessionOpen { header: Some(h) };
    let opened: pb::DupSessionOpened = call(
        node,
        caller,
        peer,
        METHOD_OPEN,
        req,
        &mid,
        "duplicate sweep: session",
        traffic,
        |mut c, r| async move { c.open_dup_session(r).await },
    )
    .await?;
    let max_batch = (opened.max_batch as usize).clamp(1, MAX_BATCH);
    Ok(SweepSession {
        peer: peer.to_string(),
        peer_session: opened.session_id,
        secret: Arc::new(secret),
        own: Arc::new(own),
        peer_total: opened.population,
        max_batch,
        peer_set: HashSet::new(),
        received: 0,
        touched: Instant::now(),
    })
}

/// One step of the sweep against one peer: open, or fetch one page of the peer's
/// population, or compare one batch of own members.
pub async fn step(
    node: &Node,
    caller: &Caller,
    req: pb::DupSweepStep,
) -> HfxResult<pb::DupSweepProgress> {
    let peer = validate_centre_code("peer", &req.peer)?;
    if peer == node.centre {
        return Err(HfxError::invalid("peer", "is this centre"));
    }
    crate::directory::lookup(&node.trust.directory(), &peer)?;
    let batch = match req.batch_size {
        0 => MAX_BATCH,
        n if n as usize > MAX_BATCH => {
            return Err(HfxError::invalid(
                "batch_size",
                format!("must be 1..={MAX_BATCH}"),
            ));
        }
        n => n as usize,
    };
    let mut traffic = Traffic::default();
    let key = |id: &str| (node.centre.clone(), id.to_string());
    let held = if req.session_id.is_empty() {
        None
    } else {
        let mut all = lock(&SWEEPS);
        all.retain(|_, s| s.touched.elapsed() < IDLE);
        all.remove(&key(&req.session_id)).filter(|s| s.peer == peer)
    };
    let Some(mut s) = held else {
        // A new session (or the old one is gone): fresh secrets on both sides.
        let s = open(node, caller, &peer, &mut traffic).await?;
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let progress = progress_of(&id, &s, &req.after, 0, &traffic);
        lock(&SWEEPS).insert(key(&id), s);
        return Ok(progress);
    };
    let id = req.session_id.clone();
    let result = advance(node, caller, &mut s, &req.after, batch, &mut traffic).await;
    s.touched = Instant::now();
    match result {
        Ok((compared, found, next_after)) => {
            let mut p = progress_of(&id, &s, &next_after, compared, &traffic);
            p.found = found;
            lock(&SWEEPS).insert(key(&id), s);
            Ok(p)
        }
        Err(HfxError::FromPeer { reason, .. })
            if reason == super::responder::DUP_SESSION_UNKNOWN =>
        {
            // The peer no longer holds its side (it restarted, or the session idled out):
            // this session is over; a new one, with fresh secrets on both sides, goes on
            // after the same place.
            tracing::info!(%peer, "duplicate sweep: the peer ended the session; opening a new one");
            let s = open(node, caller, &peer, &mut traffic).await?;
            let id = uuid::Uuid::now_v7().hyphenated().to_string();
            let progress = progress_of(&id, &s, &req.after, 0, &traffic);
            lock(&SWEEPS).insert(key(&id), s);
            Ok(progress)
        }
        Err(e) => {
            lock(&SWEEPS).insert(key(&id), s);
            Err(e)
        }
    }
}

/// Position of `after` in the sorted own snapshot: the first id strictly after it.
fn position(own: &[String], after: &str) -> usize {
    if after.is_empty() {
        0
    } else {
        own.partition_point(|c| c.as_str() <= after)
    }
}

fn progress_of(
    id: &str,
    s: &SweepSession,
    next_after: &str,
    compared: u32,
    t: &Traffic,
) -> pb::DupSweepProgress {
    let pos = position(&s.own, next_after);
    let ready = s.received >= s.peer_total;
    pb::DupSweepProgress {
        session_id: id.to_string(),
        peer_received: s.received,
        peer_total: s.peer_total,
        own_total: s.own.len() as u64,
        compared,
        next_after: next_after.to_string(),
        done: ready && pos >= s.own.len(),
        found: Vec::new(),
        own_position: pos as u64,
        messages: t.messages,
        bytes: t.bytes,
    }
}

/// Fetch a page of the peer's population, or compare a batch: (compared, found, next after).
async fn advance(
    node: &Node,
    caller: &Caller,
    s: &mut SweepSession,
    after: &str,
    batch: usize,
    traffic: &mut Traffic,
) -> HfxResult<(u32, Vec<pb::DupFound>, String)> {
    let peer = s.peer.clone();
    if s.received < s.peer_total {
        let limit = batch
            .min(s.max_batch)
            .min((s.peer_total - s.received) as usize);
        let h = header(node, caller).await;
        let mid = h.message_id.clone();
        let req = pb::DupPageRequest {
            header: Some(h),
            session_id: s.peer_session.clone(),
            offset: s.received,
            limit: limit as u32,
        };
        let page: pb::DupPoints = call(
            node,
            caller,
            &peer,
            METHOD_PAGE,
            req,
            &mid,
            &format!("duplicate sweep: page of {limit} of the peer's points"),
            traffic,
            |mut c, r| async move { c.dup_population_page(r).await },
        )
        .await?;
        if page.points.is_empty() || page.points.len() > limit {
            return Err(HfxError::FromPeer {
                centre: peer,
                code: tonic::Code::Internal,
                reason: "PEER_ERROR".into(),
                message: format!("asked for {limit} points, got {}", page.points.len()),
            });
        }
        let secret = s.secret.clone();
        let n = page.points.len() as u64;
        let doubled = tokio::task::spawn_blocking(move || secret.reblind_all_par(&page.points))
            .await
            .map_err(|e| HfxError::internal_from("re-blinding", e))?
            .map_err(|e| bad_peer_point(&peer, e))?;
        s.peer_set.extend(doubled);
        s.received += n;
        return Ok((0, Vec::new(), after.to_string()));
    }
    let from = position(&s.own, after);
    let to = (from + batch.min(s.max_batch)).min(s.own.len());
    if from >= to {
        return Ok((0, Vec::new(), after.to_string()));
    }
    let (secret, own) = (s.secret.clone(), s.own.clone());
    let blinded: Vec<Wire> = tokio::task::spawn_blocking(move || secret.blind_ids(&own[from..to]))
        .await
        .map_err(|e| HfxError::internal_from("blinding", e))?;
    let n = blinded.len();
    let h = header(node, caller).await;
    let mid = h.message_id.clone();
    let req = pb::DupReblindRequest {
        header: Some(h),
        session_id: s.peer_session.clone(),
        points: blinded.iter().map(|p| p.to_vec()).collect(),
    };
    let back: pb::DupPoints = call(
        node,
        caller,
        &peer,
        METHOD_REBLIND,
        req,
        &mid,
        &format!("duplicate sweep: batch of {n} blinded ids"),
        traffic,
        |mut c, r| async move { c.dup_reblind(r).await },
    )
    .await?;
    if back.points.len() != n {
        return Err(HfxError::FromPeer {
            centre: peer,
            code: tonic::Code::Internal,
            reason: "PEER_ERROR".into(),
            message: format!("sent {n} points, got {} back", back.points.len()),
        });
    }
    let mut doubled = Vec::with_capacity(n);
    for (i, p) in back.points.iter().enumerate() {
        let pt = decode_point(i, p).map_err(|e| bad_peer_point(&peer, e))?;
        doubled.push(pt.compress().to_bytes());
    }
    let mut found = Vec::new();
    for i in matches(&doubled, &s.peer_set) {
        found.push(found_member(node, &s.own[from + i]).await?);
    }
    Ok((n as u32, found, s.own[to - 1].clone()))
}

fn bad_peer_point(peer: &str, e: super::BadPoint) -> HfxError {
    HfxError::FromPeer {
        centre: peer.to_string(),
        code: tonic::Code::Internal,
        reason: "PEER_ERROR".into(),
        message: format!("the peer sent a bad point: {e}"),
    }
}

/// An own member the sweep found, as the operator sees it (own data, local API only).
async fn found_member(node: &Node, canonical: &str) -> HfxResult<pb::DupFound> {
    let (t, n) = canonical
        .split_once('|')
        .ok_or_else(|| HfxError::internal("canonical id without a bar"))?;
    let id_type = IdType::from_code(t).ok_or_else(|| HfxError::internal("canonical id type"))?;
    let name = node
        .core
        .member_by_id(id_type, n)
        .await?
        .map(|m| m.name)
        .unwrap_or_default();
    Ok(pb::DupFound {
        person: Some(pb::PersonKey {
            id_type: id_type_to_pb(id_type) as i32,
            id_number: n.to_string(),
            name,
        }),
    })
}

/// The clerk's check before opening an account: a minimised member query (purpose
/// `duplicate_account_check`: live or not, status, open month) to every other centre at
/// once. Not the set intersection: for one person it would cost each peer its whole
/// population per question (docs/duplicates.md says why this is the right trade).
pub async fn check_live(
    node: &Node,
    caller: &Caller,
    req: pb::LiveAccountCheck,
) -> HfxResult<pb::LiveAccountReport> {
    let person = validate_person(req.person.as_ref())?;
    let centres: Vec<String> = if req.centres.is_empty() {
        node.trust
            .directory()
            .centres
            .iter()
            .map(|c| c.code.clone())
            .filter(|c| *c != node.centre)
            .collect()
    } else {
        req.centres
            .iter()
            .enumerate()
            .map(|(i, c)| validate_centre_code(&format!("centres[{i}]"), c))
            .collect::<Result<_, _>>()?
    };
    let asks = centres.iter().map(|c| {
        let q = pb::LocalMemberQuery {
            centre: c.clone(),
            person: Some(pb::PersonKey {
                id_type: id_type_to_pb(person.id_type) as i32,
                id_number: person.id_number.clone(),
                name: person.name.clone(),
            }),
            purpose: PURPOSE as i32,
            message_id: String::new(),
        };
        crate::member::ask(node, caller, q)
    });
    let results = futures::future::join_all(asks).await;
    let mut report = pb::LiveAccountReport::default();
    for (centre, r) in centres.into_iter().zip(results) {
        let mut a = pb::LiveAccountAnswer {
            centre,
            ..Default::default()
        };
        match r {
            Ok(reply) => {
                let m = reply.member.unwrap_or_default();
                let live = m.live_account.unwrap_or(false);
                a.outcome = if live { "live" } else { "closed" }.into();
                a.status = m.status.unwrap_or_default();
                a.opened_month = m.opened_month.unwrap_or_default();
                report.live_elsewhere |= live;
            }
            Err(HfxError::MemberNotFound) => a.outcome = "none".into(),
            Err(HfxError::NameMismatch) => a.outcome = "name_mismatch".into(),
            Err(e) => {
                a.outcome = if e.reason() == "PEER_UNAVAILABLE" {
                    "unavailable"
                } else {
                    "refused"
                }
                .into();
                a.reason = e.reason().into();
                report.incomplete = true;
            }
        }
        report.answers.push(a);
    }
    tracing::info!(subject = %person.masked(), live_elsewhere = report.live_elsewhere, "live-account check");
    Ok(report)
}
