//! Transfers of a member's account between centres (DOMAIN §4.1, DESIGN §4).
//!
//! The case itself is the pure state machine of `hfx-case`; this module gives it durability
//! and a network:
//! - [`commit`]: every transition is one store transaction: the case row (compare-and-swap on
//!   its version), and for every message the transition sends, the log's SENT entry with the
//!   exact bytes, the outbox row, and the disclosure record when the message carries personal
//!   data. A state and what it must tell the peer are never apart.
//! - [`peer`]: the peer faces. A received message, its effect on the case, the stored answer
//!   (inbox, by peer and message id) and the log entries commit together; a duplicate gets
//!   the stored answer byte for byte.
//! - [`relay`]: sends each outbox row, the same bytes every time, with backoff, until the peer
//!   answers; the answer is committed with its effect on the case.
//! - [`driver`]: the outside calls a case waits for (core system, settlement bank, the peer's
//!   view when in doubt), all idempotent by case id: after a crash it makes them again.
//! - [`clerk`]: the local faces (start, status, list, cancel, resolve).

pub mod clerk;
pub mod driver;
pub mod peer;
pub mod relay;
pub mod wire;

use crate::error::{HfxError, HfxResult};
use crate::log::{Envelope, SENT};
use crate::member::{legal_basis, purpose_name};
use crate::node::Node;
use crate::store::cases::{CaseRow, case_insert_op, case_update_op, outbox_insert_op};
use crate::store::disclosures::{LogLink, NewDisclosure};
use crate::store::{StoreError, WriteOp};
use hfx_adapters::ids::{mask_id, mask_name};
use hfx_case::{Case, Msg, MsgKind, Role, Status, Transition};
use hfx_proto::v1 as pb;
use sha2::Digest;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The purpose every transfer message is sent under.
pub const PURPOSE: pb::Purpose = pb::Purpose::TransferCheck;

/// A case row's person key: SHA-256 of "id_type|id_number", so the unique index holds no id.
pub fn person_hash(id_type: &str, id_number: &str) -> String {
    hex::encode(sha2::Sha256::digest(
        format!("{id_type}|{id_number}").as_bytes(),
    ))
}

/// Whether a case in this state holds its person (one in-flight case per person and role).
/// The destination holds from the start; the origin from acceptance (a second letter for a
/// person it already transfers is received, then refused).
fn holds_person(c: &Case) -> bool {
    match c.role {
        Role::Destination => !c.status.is_final(),
        Role::Origin => !c.status.is_final() && c.status != Status::LetterReceived,
    }
}

/// The subject of a case's disclosure records: its person masked, and keyed for the
/// member's report.
pub fn case_subject(node: &Node, c: &Case) -> crate::member::Subject {
    crate::member::Subject {
        masked: masked_person(c),
        key: c
            .person()
            .map(|p| node.store.subject_key(&p.id_type, &p.id_number))
            .unwrap_or_default(),
    }
}

/// The person of a case, masked for logs and records.
pub fn masked_person(c: &Case) -> String {
    c.person()
        .map(|p| format!("{} {}", mask_name(&p.name), mask_id(&p.id_number)))
        .unwrap_or_else(|| "-".into())
}

/// The row of a case.
pub fn row_of(c: &Case, tombstone: Option<String>) -> HfxResult<CaseRow> {
    let state = serde_json::to_string(c).map_err(|e| HfxError::internal_from("case state", e))?;
    Ok(CaseRow {
        case_id: c.case_id.clone(),
        role: c.role.as_str().to_string(),
        peer: c.peer.clone(),
        letter_no: c.letter.as_ref().map(|l| l.letter_no.clone()),
        status: c.status.as_str().to_string(),
        person_hash: c.person().map(|p| person_hash(&p.id_type, &p.id_number)),
        in_flight: holds_person(c),
        is_final: c.is_final(),
        version: c.version as i64,
        state,
        stuck_reason: None,
        tombstone,
        created_ms: c.created_ms,
        updated_ms: c.updated_ms,
        trace_parent: None,
    })
}

/// The case a row stores.
pub fn case_of(row: &CaseRow) -> HfxResult<Case> {
    serde_json::from_str(&row.state).map_err(|e| HfxError::internal_from("stored case state", e))
}

/// Who a message is sent on behalf of: the clerk who moved the case, or the node itself.
pub fn node_actor(node: &Node) -> String {
    format!("{}/node/transfer", node.centre)
}

/// Whether a message carries personal data (a disclosure on both sides).
fn discloses(kind: MsgKind) -> bool {
    matches!(kind, MsgKind::Letter | MsgKind::TransferOut)
}

/// The disclosure record of a transfer message.
pub fn disclosure(
    direction: &str,
    peer: &str,
    acting: &str,
    outcome: &str,
    message_id: &str,
    subject: &crate::member::Subject,
) -> WriteOp {
    NewDisclosure {
        direction,
        peer,
        acting_person: acting,
        purpose: purpose_name(PURPOSE),
        legal_basis: legal_basis(PURPOSE),
        outcome,
        message_id,
        subject_masked: &subject.masked,
        log_index: LogLink::None,
    }
    .op_for(subject.key.clone())
}

/// The writes of a transition: the case row (insert, or compare-and-swap from
/// `prev_version`), then per message sent its SENT log entry, outbox row and disclosure.
pub async fn transition_ops(
    node: &Node,
    prev_version: Option<i64>,
    t: &Transition,
    acting: &str,
    tombstone: Option<String>,
) -> HfxResult<Vec<WriteOp>> {
    let mut ops = Vec::new();
    if !t.changed && prev_version.is_some() {
        return Ok(ops);
    }
    let mut row = row_of(&t.case, tombstone)?;
    ops.push(match prev_version {
        // A new case keeps the trace of the call that makes it (docs/tracing.md).
        None => {
            row.trace_parent = crate::telemetry::traceparent(&tracing::Span::current());
            case_insert_op(&row)
        }
        Some(v) => case_update_op(&row, v),
    });
    let checkpoint_size = node.store.log().lock().await.size();
    let now = crate::now_ms();
    for msg in &t.send {
        let kind = msg.kind();
        let message_id = uuid::Uuid::now_v7().hyphenated().to_string();
        let header = pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: t.case.case_id.clone(),
            purpose: PURPOSE as i32,
            acting_person: acting.to_string(),
            sender_checkpoint_size: checkpoint_size,
            sent_at_unix_ms: now,
        };
        let bytes = wire::encode(msg, header);
        ops.push(WriteOp::LogAppend {
            envelope: Envelope::draft(
                SENT,
                &t.case.peer,
                &message_id,
                &t.case.case_id,
                &format!("{}#request", wire::method(kind)),
                &bytes,
            ),
            payload: bytes.clone(),
        });
        ops.push(outbox_insert_op(
            &t.case.case_id,
            &t.case.peer,
            kind.as_str(),
            &message_id,
            &bytes,
            now,
        ));
        if discloses(kind) {
            ops.push(disclosure(
                "sent",
                &t.case.peer,
                acting,
                &format!("disclosed: {}", kind.as_str()),
                &message_id,
                &case_subject(node, &t.case),
            ));
        }
    }
    Ok(ops)
}

/// Commit a transition (with `extra` writes in the same transaction) and wake the relay and
/// the driver. A lost compare-and-swap is [`StoreError::Conflict`] (the caller reloads).
pub async fn commit(
    node: &Node,
    prev_version: Option<i64>,
    t: &Transition,
    acting: &str,
    extra: Vec<WriteOp>,
) -> HfxResult<()> {
    let mut ops = extra;
    ops.extend(transition_ops(node, prev_version, t, acting, None).await?);
    if ops.is_empty() {
        return Ok(());
    }
    node.store.write(ops).await?;
    after_commit(node, t);
    Ok(())
}

/// After a transition is durable: wake the relay for its messages, the driver for its next
/// step, and log it (masked).
pub fn after_commit(node: &Node, t: &Transition) {
    if !t.changed {
        return;
    }
    let c = &t.case;
    tracing::info!(
        case = %c.case_id,
        role = c.role.as_str(),
        peer = %c.peer,
        status = c.status.as_str(),
        national = c.status.national_code().unwrap_or("--"),
        subject = %masked_person(c),
        "transfer case moved"
    );
    crash_point(
        node,
        &format!("after_commit:{}:{}", c.role.as_str(), c.status.as_str()),
    );
    if !t.send.is_empty() {
        node.transfers.relay_wake.notify_one();
    }
    node.transfers.kick(&c.case_id);
}

/// What [`apply_stored`] did.
#[derive(Debug)]
pub enum Applied {
    /// The event moved the case (committed with the extra writes).
    Moved,
    /// Nothing to change in the case; the extra writes (if any) are committed.
    Unchanged,
    /// The case does not take the event; nothing was written.
    NotTaken(hfx_case::CaseError),
    /// No such case; nothing was written.
    NoCase,
}

/// Apply `ev` (None: no event, only `extra`) to the stored case under its lock and commit the
/// transition with `extra` in one transaction. A lost compare-and-swap (another writer moved
/// the case first) reloads the case and tries again.
pub async fn apply_stored(
    node: &Node,
    case_id: &str,
    ev: Option<hfx_case::Event>,
    acting: &str,
    extra: Vec<WriteOp>,
) -> HfxResult<Applied> {
    let _guard = node.transfers.lock(case_id).await;
    for _ in 0..4 {
        let Some(r) = node.store.case_get(case_id).await? else {
            return Ok(Applied::NoCase);
        };
        let c = case_of(&r)?;
        let mut t = match ev.clone().map(|ev| c.apply(ev, crate::now_ms())) {
            Some(Ok(t)) if t.changed => Some(t),
            Some(Err(e)) => return Ok(Applied::NotTaken(e)),
            _ => None,
        };
        // A clerk's move: the steps it adds name the clerk (the node's own steps do not).
        if let Some(t) = &mut t
            && acting.split('/').nth(1) == Some("clerk")
        {
            t.case.mark_acting(c.steps.len(), acting);
        }
        let mut ops = extra.clone();
        if let Some(t) = &t {
            ops.extend(transition_ops(node, Some(r.version), t, acting, None).await?);
        }
        if !ops.is_empty()
            && let Err(e) = node.store.write(ops).await
        {
            let e = HfxError::from(e);
            // A lost compare-and-swap is worth another try; a unique-index refusal is not.
            if is_conflict(&e) && !is_unique_violation(&e) {
                continue;
            }
            return Err(e);
        }
        return Ok(match t {
            Some(t) => {
                after_commit(node, &t);
                Applied::Moved
            }
            None => Applied::Unchanged,
        });
    }
    Err(HfxError::refused(
        tonic::Code::Aborted,
        "CASE_BUSY",
        "the case kept changing; try again",
    ))
}

/// Test hook (DESIGN's "crash at every step boundary"): `[transfer] crash_at` or
/// `HFX_CRASH_AT` names a point; reaching it aborts the process like `kill -9`.
pub fn crash_point(node: &Node, point: &str) {
    if node.transfers.crash_at.as_deref() == Some(point) {
        eprintln!("hfx: crash point {point} reached: aborting (test hook)");
        std::process::abort();
    }
}

/// Whether a store error is a lost compare-and-swap or a unique-index refusal: the caller
/// reloads the case and tries again (or reports the conflicting case).
pub fn is_conflict(e: &HfxError) -> bool {
    match e {
        HfxError::Store(StoreError::Conflict) => true,
        HfxError::Store(StoreError::CommitFailed(inner)) => {
            matches!(inner.as_ref(), StoreError::Conflict) || unique_violation(inner)
        }
        HfxError::Store(s) => unique_violation(s),
        _ => false,
    }
}

/// Whether a store error is a unique-index refusal (another case holds the person, the
/// letter number is taken, the case exists).
pub fn is_unique_violation(e: &HfxError) -> bool {
    match e {
        HfxError::Store(s) => unique_violation(s),
        _ => false,
    }
}

fn unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => {
            d.is_unique_violation() || d.message().contains("UNIQUE")
        }
        StoreError::CommitFailed(inner) => unique_violation(inner),
        _ => false,
    }
}

/// The node's transfer machinery: per-case locks, the relay's and driver's wake-ups.
pub struct Transfers {
    locks: Vec<Arc<Mutex<()>>>,
    pub relay_wake: tokio::sync::Notify,
    kicks: tokio::sync::mpsc::UnboundedSender<String>,
    kicked: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    pub crash_at: Option<String>,
    /// This process's name as an outbox claimer.
    pub claimer: String,
}

impl Transfers {
    pub fn new(centre: &str, crash_at: Option<String>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            locks: (0..64).map(|_| Arc::new(Mutex::new(()))).collect(),
            relay_wake: tokio::sync::Notify::new(),
            kicks: tx,
            kicked: std::sync::Mutex::new(Some(rx)),
            crash_at,
            claimer: format!("{centre}/{}/{}", std::process::id(), uuid::Uuid::now_v7()),
        }
    }

    /// Serialise work on one case within this process (the store's compare-and-swap guards
    /// across processes).
    pub async fn lock(&self, case_id: &str) -> OwnedMutexGuard<()> {
        let h = case_id
            .bytes()
            .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
        self.locks[h % self.locks.len()].clone().lock_owned().await
    }

    /// Ask the driver to look at a case.
    pub fn kick(&self, case_id: &str) {
        let _ = self.kicks.send(case_id.to_string());
    }

    pub(crate) fn take_kicks(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<String>> {
        self.kicked.lock().ok()?.take()
    }
}

/// Start the relay and the driver of a node.
pub fn spawn(node: Arc<Node>) {
    tokio::spawn(relay::run(node.clone()));
    tokio::spawn(driver::run(node));
}

/// A transfer case as the local API shows it.
pub fn view(c: &Case, row: Option<&CaseRow>) -> pb::TransferView {
    let letter = c.letter.as_ref();
    let record = c.record.as_ref();
    pb::TransferView {
        case_id: c.case_id.clone(),
        letter_no: letter.map(|l| l.letter_no.clone()).unwrap_or_default(),
        origin_centre: match c.role {
            Role::Origin => c.centre.clone(),
            Role::Destination => c.peer.clone(),
        },
        destination_centre: match c.role {
            Role::Origin => c.peer.clone(),
            Role::Destination => c.centre.clone(),
        },
        status: wire::status_to_pb(c.status) as i32,
        amount_fen: c
            .payment
            .as_ref()
            .filter(|p| p.paid)
            .map(|p| p.amount_fen)
            .or(record.map(|r| r.amount_fen))
            .unwrap_or(0),
        status_detail: c.steps.last().map(|s| s.note.clone()).unwrap_or_default(),
        role: c.role.as_str().into(),
        state: c.status.as_str().into(),
        national_code: c.status.national_code().unwrap_or("").into(),
        person_masked: masked_person(c),
        is_final: c.is_final(),
        stuck_reason: row.and_then(|r| r.stuck_reason.clone()).unwrap_or_default(),
        waiting_for: c
            .next_action(crate::now_ms())
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| match (c.status, c.cancel_requested) {
                (_, true) => "the origin's answer to the cancel".into(),
                (Status::Negotiating, _) if c.role == Role::Destination => {
                    "a clerk: resolve accept".into()
                }
                (s, _) if s.is_final() => String::new(),
                _ => "the other centre".into(),
            }),
        steps: c
            .steps
            .iter()
            .map(|s| pb::TransferStep {
                at_unix_ms: s.at_ms,
                status: s.status.as_str().into(),
                national_code: s.status.national_code().unwrap_or("").into(),
                centre: s.centre.clone(),
                note: s.note.clone(),
                acting_person: s.acting.clone(),
            })
            .collect(),
        principal_fen: record.map(|r| r.principal_fen).unwrap_or(0),
        interest_fen: record.map(|r| r.interest_fen).unwrap_or(0),
        history_months: record
            .map(|r| {
                r.history
                    .iter()
                    .map(|p| p.for_month)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u32
            })
            .unwrap_or(0),
        bank_reference: c
            .payment
            .as_ref()
            .map(|p| p.bank_ref.clone())
            .unwrap_or_default(),
        negotiation: c.negotiation.clone().unwrap_or_default(),
        refusal_code: c
            .refusal
            .as_ref()
            .map(|r| r.code.clone())
            .unwrap_or_default(),
        created_unix_ms: c.created_ms,
        updated_unix_ms: c.updated_ms,
        destination_account_no: letter
            .map(|l| l.destination_account_no.clone())
            .unwrap_or_default(),
    }
}

/// Messages a case may receive, for the peer faces.
pub fn is_for(role: Role, m: &Msg) -> bool {
    matches!(
        (role, m.kind()),
        (
            Role::Origin,
            MsgKind::Letter | MsgKind::Cancel | MsgKind::Completion
        ) | (
            Role::Destination,
            MsgKind::TransferOut | MsgKind::Refusal | MsgKind::Payment
        )
    )
}
