//! The peer faces of a case: a message from the other side, validated, applied to the case,
//! and answered. The request's RECV entry, the answer's SENT entry, the stored answer (for a
//! duplicate), the case's new row and whatever it sends commit in one transaction.

use super::{PURPOSE, after_commit, case_of, is_conflict, transition_ops, wire};
use crate::error::{HfxError, HfxResult};
use crate::log::{Envelope, RECV};
use crate::member::{check_message_id, foreign_acting_person, purpose_name};
use crate::node::Node;
use crate::store::WriteOp;
use hfx_case::{Case, CaseError, Event, Msg, MsgKind, Status, Transition};
use hfx_proto::v1 as pb;
use hfx_tlog::methods::METHOD_QUERY_CASE;
use prost::Message;
use tonic::Code;

/// The refusal of a message that depends on one not yet received: send it again later.
pub const OUT_OF_ORDER: &str = "OUT_OF_ORDER";
/// A message for a case this node does not know.
pub const CASE_UNKNOWN: &str = "CASE_UNKNOWN";
/// A message about a case kept with another centre.
pub const CASE_NOT_YOURS: &str = "CASE_NOT_YOURS";
/// A message this side of the case never takes.
pub const WRONG_SIDE: &str = "WRONG_SIDE";

struct Checked {
    message_id: String,
    case_id: String,
    acting: String,
}

fn check_header(peer: &str, h: Option<&pb::RequestHeader>) -> HfxResult<Checked> {
    let h = h.ok_or_else(|| HfxError::invalid("header", "is required"))?;
    let message_id = check_message_id("header.message_id", &h.message_id)?;
    let case_id = check_message_id("header.case_id", &h.case_id)?;
    if let Some(e) = foreign_acting_person(peer, &h.acting_person) {
        return Err(e);
    }
    Ok(Checked {
        message_id,
        case_id,
        acting: h.acting_person.clone(),
    })
}

fn case_error(e: CaseError) -> HfxError {
    match e {
        CaseError::NotYet { .. } => {
            HfxError::refused(Code::Unavailable, OUT_OF_ORDER, e.to_string())
        }
        CaseError::WrongSide { .. } => {
            HfxError::refused(Code::InvalidArgument, WRONG_SIDE, e.to_string())
        }
        CaseError::NotAllowed { .. } => HfxError::FailedPrecondition(e.to_string()),
    }
}

/// Receive one case message from `peer`. `parse` validates the body into the case's terms.
pub async fn receive(
    node: &Node,
    peer: &str,
    kind: MsgKind,
    header: Option<&pb::RequestHeader>,
    request_bytes: Vec<u8>,
    parse: impl FnOnce() -> HfxResult<Msg>,
) -> HfxResult<pb::TransferAck> {
    let h = check_header(peer, header)?;
    if let Some(ack) = stored_ack(node, peer, &h.message_id).await? {
        return Ok(ack);
    }
    if !node.cfg.policy.allows(peer, purpose_name(PURPOSE)) {
        return Err(HfxError::PurposeNotAllowed {
            purpose: purpose_name(PURPOSE).into(),
            centre: peer.into(),
        });
    }
    let msg = parse()?;
    let _guard = node.transfers.lock(&h.case_id).await;
    for _ in 0..4 {
        if let Some(ack) = stored_ack(node, peer, &h.message_id).await? {
            return Ok(ack);
        }
        let row = node.store.case_get(&h.case_id).await?;
        let now = crate::now_ms();
        let (prev, t) = match &row {
            None => match &msg {
                Msg::Letter(l) => {
                    let c = Case::from_letter(&h.case_id, l.clone(), now);
                    (
                        None,
                        Transition {
                            case: c,
                            send: vec![],
                            changed: true,
                        },
                    )
                }
                _ => {
                    return Err(HfxError::refused(
                        Code::FailedPrecondition,
                        CASE_UNKNOWN,
                        format!("case {} is not known here", h.case_id),
                    ));
                }
            },
            Some(r) => {
                if r.peer != peer {
                    return Err(HfxError::refused(
                        Code::PermissionDenied,
                        CASE_NOT_YOURS,
                        format!("case {} is not kept with centre {peer}", h.case_id),
                    ));
                }
                let c = case_of(r)?;
                if !super::is_for(c.role, &msg) {
                    return Err(HfxError::refused(
                        Code::InvalidArgument,
                        WRONG_SIDE,
                        format!(
                            "a {} case does not take a {}",
                            c.role.as_str(),
                            kind.as_str()
                        ),
                    ));
                }
                let t = c
                    .apply(Event::Received(msg.clone()), now)
                    .map_err(case_error)?;
                (Some(r.version), t)
            }
        };
        let mut extra = transition_ops(node, prev, &t, &super::node_actor(node), None).await?;
        if matches!(kind, MsgKind::Letter | MsgKind::TransferOut) {
            extra.push(super::disclosure(
                "received",
                peer,
                &h.acting,
                &format!("received: {}", kind.as_str()),
                &h.message_id,
                &super::case_subject(node, &t.case),
            ));
        }
        let status = t.case.status;
        let method = wire::method(kind);
        match exchange(node, peer, &h, method, request_bytes.clone(), status, extra).await {
            Ok(ack) => {
                after_commit(node, &t);
                return Ok(ack);
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(HfxError::refused(
        Code::Aborted,
        "CASE_BUSY",
        "the case kept changing under this message; send it again",
    ))
}

async fn stored_ack(
    node: &Node,
    peer: &str,
    message_id: &str,
) -> HfxResult<Option<pb::TransferAck>> {
    match node.store.inbox_get(peer, message_id).await? {
        Some((_, bytes)) => Ok(Some(
            pb::TransferAck::decode(bytes.as_slice())
                .map_err(|e| HfxError::internal_from("stored answer", e))?,
        )),
        None => Ok(None),
    }
}

/// Commit the exchange: request, answer (with its receipt), inbox, and `extra`.
async fn exchange(
    node: &Node,
    peer: &str,
    h: &Checked,
    method: &str,
    request_bytes: Vec<u8>,
    status: Status,
    extra: Vec<WriteOp>,
) -> HfxResult<pb::TransferAck> {
    let request = WriteOp::LogAppend {
        envelope: Envelope::draft(
            RECV,
            peer,
            &h.message_id,
            &h.case_id,
            &format!("{method}#request"),
            &request_bytes,
        ),
        payload: request_bytes,
    };
    let (own, mid) = (node.centre.clone(), h.message_id.clone());
    let bytes = node
        .store
        .write_exchange(
            request,
            peer,
            &h.message_id,
            &h.case_id,
            method,
            move |a| {
                pb::TransferAck {
                    receipt: Some(pb::Receipt {
                        centre: own.clone(),
                        log_index: a.index,
                        sequence: a.seq,
                        message_id: mid.clone(),
                    }),
                    status: wire::status_to_pb(status) as i32,
                    state: status.as_str().into(),
                }
                .encode_to_vec()
            },
            extra,
        )
        .await?;
    pb::TransferAck::decode(bytes.as_slice()).map_err(|e| HfxError::internal_from("answer", e))
}

/// The text an expiry tombstone signs.
pub fn tombstone_text(centre: &str, case_id: &str, at_ms: i64) -> String {
    format!("hfx-tombstone/v1\n{centre}\n{case_id}\n{at_ms}\n")
}

/// `QueryCase`: our view of a case. A case never seen, asked about past the deadline the
/// asker states, gets a signed expiry tombstone first: from then on its letter is refused.
pub async fn query_case(node: &Node, peer: &str, req: pb::CaseMessage) -> HfxResult<pb::CaseState> {
    let h = check_header(peer, req.header.as_ref())?;
    if let Some((_, bytes)) = node.store.inbox_get(peer, &h.message_id).await? {
        return pb::CaseState::decode(bytes.as_slice())
            .map_err(|e| HfxError::internal_from("stored answer", e));
    }
    let request_bytes = req.encode_to_vec();
    let _guard = node.transfers.lock(&h.case_id).await;
    let row = node.store.case_get(&h.case_id).await?;
    let now = crate::now_ms();
    let mut extra = Vec::new();
    let mut made: Option<Transition> = None;
    let answer = match &row {
        Some(r) if r.peer != peer => {
            return Err(HfxError::refused(
                Code::PermissionDenied,
                CASE_NOT_YOURS,
                format!("case {} is not kept with centre {peer}", h.case_id),
            ));
        }
        Some(r) => {
            let c = case_of(r)?;
            pb::CaseState {
                receipt: None,
                status: wire::status_to_pb(c.status) as i32,
                known: true,
                tombstone_signature: r.tombstone.clone().unwrap_or_default().into_bytes(),
                tombstone_at_unix_ms: if r.tombstone.is_some() {
                    r.created_ms
                } else {
                    0
                },
                state: c.status.as_str().into(),
            }
        }
        None if req.deadline_unix_ms > 0 && now >= req.deadline_unix_ms => {
            let c = Case::tombstone(&h.case_id, &node.centre, peer, now);
            let note = hfx_tlog::note::sign_note(
                &tombstone_text(&node.centre, &h.case_id, now),
                &[&node.signer],
            )
            .map_err(|e| HfxError::internal_from("signing the tombstone", e))?;
            let t = Transition {
                case: c,
                send: vec![],
                changed: true,
            };
            extra = transition_ops(node, None, &t, &super::node_actor(node), Some(note.clone()))
                .await?;
            made = Some(t);
            pb::CaseState {
                receipt: None,
                status: wire::status_to_pb(Status::Expired) as i32,
                known: false,
                tombstone_signature: note.into_bytes(),
                tombstone_at_unix_ms: now,
                state: Status::Expired.as_str().into(),
            }
        }
        None => pb::CaseState {
            receipt: None,
            status: pb::CaseStatus::Unspecified as i32,
            known: false,
            tombstone_signature: vec![],
            tombstone_at_unix_ms: 0,
            state: String::new(),
        },
    };
    let request = WriteOp::LogAppend {
        envelope: Envelope::draft(
            RECV,
            peer,
            &h.message_id,
            &h.case_id,
            &format!("{METHOD_QUERY_CASE}#request"),
            &request_bytes,
        ),
        payload: request_bytes,
    };
    let (own, mid) = (node.centre.clone(), h.message_id.clone());
    let bytes = node
        .store
        .write_exchange(
            request,
            peer,
            &h.message_id,
            &h.case_id,
            METHOD_QUERY_CASE,
            move |a| {
                let mut s = answer.clone();
                s.receipt = Some(pb::Receipt {
                    centre: own.clone(),
                    log_index: a.index,
                    sequence: a.seq,
                    message_id: mid.clone(),
                });
                s.encode_to_vec()
            },
            extra,
        )
        .await?;
    if let Some(t) = &made {
        tracing::warn!(case = %h.case_id, %peer, "expiry tombstone written for a case never received");
        after_commit(node, t);
    }
    pb::CaseState::decode(bytes.as_slice()).map_err(|e| HfxError::internal_from("answer", e))
}
