//! The responder's side of the duplicate sweep (docs/duplicates.md): a session per asking
//! peer with a fresh secret and a snapshot of the live population, pages of that population
//! blinded, and re-blinding of the asker's batches. Each call is one batch: admitted by the
//! policy (purpose `duplicate_account_check`, its rate), logged (request and reply, by
//! message id, a retry answered from the inbox) and recorded as a disclosure that says what
//! was asked and how many points, never whose.
//!
//! Sessions live in this process's memory only: a restart forgets them (the requester opens
//! a new one, with new secrets on both sides). One session per peer: opening another ends
//! the first. An idle session ends after [`IDLE`].

use super::{MAX_BATCH, Secret, Wire, canonical_id, session_order};
use crate::error::{HfxError, HfxResult};
use crate::log::{Envelope, RECV};
use crate::member::{check_message_id, foreign_acting_person};
use crate::node::Node;
use crate::store::WriteOp;
use crate::store::disclosures::{LogLink, NewDisclosure};
use hfx_adapters::ids::validate_person_id;
use hfx_model::purpose::{legal_basis, purpose_name};
use hfx_proto::v1 as pb;
use prost::Message;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// The policy purpose every call of the sweep is admitted under.
pub const PURPOSE: pb::Purpose = pb::Purpose::DuplicateAccountCheck;

/// Method names in the exchange log (`<method>#request`, `<method>#reply`).
pub use hfx_tlog::methods::{
    METHOD_DUP_OPEN as METHOD_OPEN, METHOD_DUP_PAGE as METHOD_PAGE,
    METHOD_DUP_REBLIND as METHOD_REBLIND,
};

/// The stable reason of a call naming a session this node does not hold (expired, replaced,
/// or the node restarted): the requester opens a new one.
pub const DUP_SESSION_UNKNOWN: &str = "DUP_SESSION_UNKNOWN";

/// An idle session ends after this long.
pub const IDLE: Duration = Duration::from_secs(30 * 60);

/// How many ids one read of the core system lists.
const LIST_PAGE: u32 = 10_000;

struct Session {
    id: String,
    secret: Arc<Secret>,
    /// Canonical ids of the live population, in the session's order.
    order: Arc<Vec<String>>,
    touched: Instant,
}

/// (own centre, peer) -> the peer's session. Keyed by the own centre too, so nodes sharing
/// a process (tests) never see each other's.
static SESSIONS: LazyLock<Mutex<HashMap<(String, String), Session>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn sessions() -> std::sync::MutexGuard<'static, HashMap<(String, String), Session>> {
    // A poisoned lock only means a panic elsewhere mid-update; the map is still whole.
    SESSIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The live population of `node`'s core system as canonical ids, normalised and without
/// repeats; ids the validation refuses are left out (and counted in the log).
pub async fn live_population(node: &Node) -> HfxResult<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor = None;
    let mut refused = 0u64;
    loop {
        let page = node.core.live_ids(cursor, LIST_PAGE).await?;
        for (t, n) in &page.ids {
            match validate_person_id("id_number", *t, n) {
                Ok(n) => out.push(canonical_id(*t, &n)),
                Err(_) => refused += 1,
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if refused > 0 {
        tracing::warn!(
            refused,
            "duplicate sweep: ids the validation refuses were left out"
        );
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// What an admitted call knows about itself.
struct Admitted {
    message_id: String,
    acting: String,
    case_id: String,
}

/// Header, acting person and policy: the checks of every call, the refusal recorded.
async fn admit(
    node: &Node,
    peer: &str,
    method: &str,
    header: Option<&pb::RequestHeader>,
    request_bytes: &[u8],
) -> HfxResult<Admitted> {
    let header = header.ok_or_else(|| HfxError::invalid("header", "is required"))?;
    let message_id = check_message_id("header.message_id", &header.message_id)?;
    let refusal = if let Some(e) = foreign_acting_person(peer, &header.acting_person) {
        Some(e)
    } else if header.purpose != PURPOSE as i32 {
        Some(HfxError::invalid(
            "header.purpose",
            "must be duplicate_account_check",
        ))
    } else {
        node.admit(peer, purpose_name(PURPOSE)).err()
    };
    if let Some(e) = refusal {
        let outcome = format!("refused: {}", e.reason());
        let ops = vec![
            WriteOp::LogAppend {
                envelope: Envelope::draft(
                    RECV,
                    peer,
                    &message_id,
                    &header.case_id,
                    &format!("{method}#request"),
                    request_bytes,
                ),
                payload: request_bytes.to_vec(),
            },
            disclosure(
                "refused",
                peer,
                &header.acting_person,
                &outcome,
                &message_id,
                "-",
            ),
        ];
        if let Err(w) = node.store.write(ops).await {
            tracing::error!(error = %w, "could not record a refused duplicate-check batch");
        }
        return Err(e);
    }
    Ok(Admitted {
        message_id,
        acting: header.acting_person.clone(),
        case_id: header.case_id.clone(),
    })
}

/// The disclosure-like record of one batch: what was asked and how many points, no person.
fn disclosure(
    direction: &str,
    peer: &str,
    acting: &str,
    outcome: &str,
    message_id: &str,
    what: &str,
) -> WriteOp {
    NewDisclosure {
        direction,
        peer,
        acting_person: acting,
        purpose: purpose_name(PURPOSE),
        legal_basis: legal_basis(PURPOSE),
        outcome,
        message_id,
        subject_masked: what,
        log_index: LogLink::None,
    }
    .op_for(String::new())
}

/// Log request and reply, keep the reply for retries and record the batch, in one commit.
#[allow(clippy::too_many_arguments)]
async fn answer<R: Message + Default + Clone + 'static>(
    node: &Node,
    peer: &str,
    method: &str,
    a: &Admitted,
    request_bytes: Vec<u8>,
    reply: R,
    set_receipt: fn(&mut R, pb::Receipt),
    outcome: &str,
    what: &str,
) -> HfxResult<R> {
    let (own, mid) = (node.centre.clone(), a.message_id.clone());
    let req = WriteOp::LogAppend {
        envelope: Envelope::draft(
            RECV,
            peer,
            &a.message_id,
            &a.case_id,
            &format!("{method}#request"),
            &request_bytes,
        ),
        payload: request_bytes,
    };
    let bytes = node
        .store
        .write_exchange(
            req,
            peer,
            &a.message_id,
            &a.case_id,
            method,
            move |ap| {
                let mut r = reply.clone();
                set_receipt(
                    &mut r,
                    pb::Receipt {
                        centre: own.clone(),
                        log_index: ap.index,
                        sequence: ap.seq,
                        message_id: mid.clone(),
                    },
                );
                r.encode_to_vec()
            },
            vec![disclosure(
                "sent",
                peer,
                &a.acting,
                outcome,
                &a.message_id,
                what,
            )],
        )
        .await?;
    R::decode(bytes.as_slice()).map_err(|e| HfxError::internal_from("reply", e))
}

/// A retry of a message already answered: its stored reply.
async fn stored<R: Message + Default>(
    node: &Node,
    peer: &str,
    header: Option<&pb::RequestHeader>,
) -> HfxResult<Option<R>> {
    let Some(h) = header else { return Ok(None) };
    let Ok(mid) = check_message_id("header.message_id", &h.message_id) else {
        return Ok(None);
    };
    match node.store.inbox_get(peer, &mid).await? {
        Some((_, bytes)) => R::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| HfxError::internal_from("stored reply", e)),
        None => Ok(None),
    }
}

fn session_of(node: &Node, peer: &str, id: &str) -> HfxResult<(Arc<Secret>, Arc<Vec<String>>)> {
    let mut all = sessions();
    let key = (node.centre.clone(), peer.to_string());
    let now = Instant::now();
    match all.get_mut(&key) {
        Some(s) if s.id == id && now.duration_since(s.touched) < IDLE => {
            s.touched = now;
            Ok((s.secret.clone(), s.order.clone()))
        }
        _ => Err(HfxError::refused(
            tonic::Code::FailedPrecondition,
            DUP_SESSION_UNKNOWN,
            "session_id: no such duplicate-check session here (ended, replaced or the node \
             restarted); open a new one",
        )),
    }
}

/// OpenDupSession: a fresh secret, a snapshot of the live population in a keyed order.
pub async fn open(
    node: &Node,
    peer: &str,
    req: pb::DupSessionOpen,
) -> HfxResult<pb::DupSessionOpened> {
    if let Some(r) = stored(node, peer, req.header.as_ref()).await? {
        return Ok(r);
    }
    let request_bytes = req.encode_to_vec();
    let a = admit(node, peer, METHOD_OPEN, req.header.as_ref(), &request_bytes).await?;
    let secret = Secret::random().map_err(|_| HfxError::internal("no random source"))?;
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| HfxError::internal("no random source"))?;
    let population = live_population(node).await?;
    let order = tokio::task::spawn_blocking(move || {
        let mut keyed: Vec<([u8; 32], String)> = population
            .into_iter()
            .map(|c| (session_order(&key, &c), c))
            .collect();
        keyed.sort_unstable_by_key(|x| x.0);
        keyed.into_iter().map(|(_, c)| c).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| HfxError::internal_from("ordering the population", e))?;
    let n = order.len() as u64;
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    sessions().insert(
        (node.centre.clone(), peer.to_string()),
        Session {
            id: id.clone(),
            secret: Arc::new(secret),
            order: Arc::new(order),
            touched: Instant::now(),
        },
    );
    let reply = pb::DupSessionOpened {
        receipt: None,
        session_id: id,
        population: n,
        max_batch: MAX_BATCH as u32,
    };
    let r = answer(
        node,
        peer,
        METHOD_OPEN,
        &a,
        request_bytes,
        reply,
        |r, rc| r.receipt = Some(rc),
        &format!("session opened: population {n}"),
        "duplicate sweep: session",
    )
    .await?;
    tracing::info!(%peer, population = n, "duplicate-check session opened");
    Ok(r)
}

/// DupPopulationPage: points `offset..offset+limit` of the session's population, blinded.
pub async fn page(node: &Node, peer: &str, req: pb::DupPageRequest) -> HfxResult<pb::DupPoints> {
    if let Some(r) = stored(node, peer, req.header.as_ref()).await? {
        return Ok(r);
    }
    let request_bytes = req.encode_to_vec();
    let a = admit(node, peer, METHOD_PAGE, req.header.as_ref(), &request_bytes).await?;
    if req.limit == 0 || req.limit as usize > MAX_BATCH {
        return Err(HfxError::invalid(
            "limit",
            format!("must be 1..={MAX_BATCH}"),
        ));
    }
    let (secret, order) = session_of(node, peer, &req.session_id)?;
    let from = usize::try_from(req.offset)
        .unwrap_or(usize::MAX)
        .min(order.len());
    let to = from.saturating_add(req.limit as usize).min(order.len());
    let points: Vec<Wire> = tokio::task::spawn_blocking(move || secret.blind_ids(&order[from..to]))
        .await
        .map_err(|e| HfxError::internal_from("blinding", e))?;
    let n = points.len();
    let reply = pb::DupPoints {
        receipt: None,
        points: points.iter().map(|p| p.to_vec()).collect(),
    };
    answer(
        node,
        peer,
        METHOD_PAGE,
        &a,
        request_bytes,
        reply,
        |r, rc| r.receipt = Some(rc),
        &format!("population page: {n} blinded points"),
        "duplicate sweep: own population page",
    )
    .await
}

/// DupReblind: the asker's points, blinded again with the session's secret, in order.
pub async fn reblind(
    node: &Node,
    peer: &str,
    req: pb::DupReblindRequest,
) -> HfxResult<pb::DupPoints> {
    if let Some(r) = stored(node, peer, req.header.as_ref()).await? {
        return Ok(r);
    }
    let request_bytes = req.encode_to_vec();
    let a = admit(
        node,
        peer,
        METHOD_REBLIND,
        req.header.as_ref(),
        &request_bytes,
    )
    .await?;
    if req.points.is_empty() || req.points.len() > MAX_BATCH {
        return Err(HfxError::invalid(
            "points",
            format!("must hold 1..={MAX_BATCH} points"),
        ));
    }
    let (secret, _) = session_of(node, peer, &req.session_id)?;
    let points = req.points;
    let n = points.len();
    let back = tokio::task::spawn_blocking(move || secret.reblind_all_par(&points))
        .await
        .map_err(|e| HfxError::internal_from("re-blinding", e))?
        .map_err(|e| HfxError::invalid("points", e.to_string()))?;
    let reply = pb::DupPoints {
        receipt: None,
        points: back.iter().map(|p| p.to_vec()).collect(),
    };
    answer(
        node,
        peer,
        METHOD_REBLIND,
        &a,
        request_bytes,
        reply,
        |r, rc| r.receipt = Some(rc),
        &format!("re-blinded {n} points"),
        &format!("duplicate sweep: batch of {n} blinded ids"),
    )
    .await
}
