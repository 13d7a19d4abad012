//! The relay: sends outbox messages, the same bytes every time, with backoff, until the peer
//! answers (DESIGN §4 rule 2). A case's messages leave one at a time, oldest first. The
//! answer, the row's end and the answer's effect on the case commit together.

use super::{Applied, apply_stored, wire};
use crate::error::{HfxError, HfxResult, reason_of};
use crate::log::{Envelope, RECV};
use crate::node::Node;
use crate::store::WriteOp;
use crate::store::cases::{OutboxRow, outbox_done_op};
use hfx_case::{Event, Msg, MsgKind, Refusal};
use hfx_proto::v1 as pb;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;
use tracing::Instrument;

/// Attempts after which an undelivered message parks its case for a clerk (it is still sent).
const PARK_AFTER: i64 = 8;

pub async fn run(node: Arc<Node>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(64));
    let lease = node.peers.timeout().as_millis() as i64 + 5_000;
    loop {
        let now = crate::now_ms();
        let free = permits.available_permits().max(1) as i64;
        match node
            .store
            .outbox_claim(&node.transfers.claimer, now, lease, free)
            .await
        {
            Ok(rows) if !rows.is_empty() => {
                for row in rows {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        return;
                    };
                    let node = node.clone();
                    tokio::spawn(async move {
                        send(&node, row).await;
                        drop(permit);
                        node.transfers.relay_wake.notify_one();
                    });
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "relay: claiming the outbox failed")
            }
        }
        let wait = match node.store.outbox_next_due().await {
            Ok(Some(due)) => (due - crate::now_ms()).clamp(5, 1_000),
            _ => 1_000,
        };
        tokio::select! {
            _ = node.transfers.relay_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}

async fn call(
    node: &Node,
    row: &OutboxRow,
    kind: MsgKind,
) -> Result<pb::TransferAck, tonic::Status> {
    let bad =
        |e: prost::DecodeError| tonic::Status::internal(format!("outbox row {}: {e}", row.id));
    let channel = node.peers.channel(&row.peer).map_err(tonic::Status::from)?;
    let mut client = pb::transfer_exchange_client::TransferExchangeClient::new(channel);
    let body = row.body.as_slice();
    let ack = match kind {
        MsgKind::Letter => {
            client
                .send_contact_letter(pb::ContactLetter::decode(body).map_err(bad)?)
                .await
        }
        MsgKind::Cancel => {
            client
                .cancel_letter(pb::CaseMessage::decode(body).map_err(bad)?)
                .await
        }
        MsgKind::TransferOut => {
            client
                .send_transfer_out(pb::TransferOut::decode(body).map_err(bad)?)
                .await
        }
        MsgKind::Refusal => {
            client
                .send_refusal(pb::Refusal::decode(body).map_err(bad)?)
                .await
        }
        MsgKind::Payment => {
            client
                .send_payment(pb::PaymentNotice::decode(body).map_err(bad)?)
                .await
        }
        MsgKind::Completion => {
            client
                .send_completion(pb::Completion::decode(body).map_err(bad)?)
                .await
        }
    }?;
    Ok(ack.into_inner())
}

/// Whether an answer is no answer: the peer could not be reached, or asks us to come again.
fn retryable(s: &tonic::Status) -> bool {
    if crate::member::is_transport_failure(s) {
        return true;
    }
    let reason = reason_of(s);
    matches!(
        reason.as_deref(),
        Some(super::peer::OUT_OF_ORDER | "CASE_BUSY" | "PEER_UNAVAILABLE")
    ) || matches!(
        s.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
    ) || (s.code() == Code::Internal && reason.is_none())
}

fn backoff(node: &Node, attempts: i64, salt: &str) -> i64 {
    let cfg = &node.cfg.transfer;
    let min = cfg.relay_backoff_min_ms.max(1) as i64;
    let max = cfg.relay_backoff_max_ms.max(cfg.relay_backoff_min_ms) as i64;
    let exp = min.saturating_mul(1i64 << attempts.clamp(0, 20));
    let jitter = salt.bytes().fold(0i64, |a, b| (a * 31 + b as i64) % 997) * min / 997;
    exp.min(max) + jitter
}

/// One send, in a `transfer.relay` span that is a child of the call that made the case (its
/// stored traceparent), so the send and the peer's handling of it join that call's trace.
async fn send(node: &Node, row: OutboxRow) {
    let span = tracing::info_span!(
        "transfer.relay",
        centre = %node.centre,
        case_id = %row.case_id,
        peer = %row.peer,
        kind = %row.kind,
        attempt = row.attempts,
    );
    crate::telemetry::adopt_traceparent(&span, row.trace_parent.as_deref());
    send_once(node, row).instrument(span).await
}

async fn send_once(node: &Node, row: OutboxRow) {
    let Some(kind) = MsgKind::parse(&row.kind) else {
        tracing::error!(row = row.id, kind = %row.kind, "outbox row of an unknown kind");
        return;
    };
    let outcome = call(node, &row, kind).await;
    super::crash_point(node, &format!("after_send:{}", kind.as_str()));
    let result = match outcome {
        Ok(ack) => answered(node, &row, kind, ack).await,
        Err(s) if retryable(&s) => later(node, &row, kind, &s).await,
        Err(s) => refused(node, &row, kind, s).await,
    };
    if let Err(e) = result {
        tracing::warn!(case = %row.case_id, kind = kind.as_str(), error = %crate::error::chain(&e), "relay: recording the answer failed; the message will be sent again");
        let next = crate::now_ms() + backoff(node, row.attempts, &row.message_id);
        let _ = node
            .store
            .outbox_retry_at(row.id, next, &e.to_string())
            .await;
    }
}

/// The peer answered: its status goes to the case, with the answer's log entry.
async fn answered(
    node: &Node,
    row: &OutboxRow,
    kind: MsgKind,
    ack: pb::TransferAck,
) -> HfxResult<()> {
    let ack_bytes = ack.encode_to_vec();
    let ev = wire::status_from_answer(&ack.state, ack.status)
        .map(|status| Event::Acked { kind, status });
    let extra = vec![
        WriteOp::LogAppend {
            envelope: Envelope::draft(
                RECV,
                &row.peer,
                &row.message_id,
                &row.case_id,
                &format!("{}#reply", wire::method(kind)),
                &ack_bytes,
            ),
            payload: ack_bytes.clone(),
        },
        outbox_done_op(row.id),
    ];
    let actor = super::node_actor(node);
    let mut done = apply_stored(node, &row.case_id, ev, &actor, extra.clone()).await?;
    if let Applied::NotTaken(_) = done {
        // The answer changes nothing in the case: it is still logged and ends the row.
        done = apply_stored(node, &row.case_id, None, &actor, extra).await?;
    }
    if let Applied::NoCase = done {
        return Err(HfxError::internal(format!(
            "outbox row {} names no case",
            row.id
        )));
    }
    node.transfers.kick(&row.case_id);
    Ok(())
}

/// No answer: send again later; park the case for a clerk after many tries.
async fn later(node: &Node, row: &OutboxRow, kind: MsgKind, s: &tonic::Status) -> HfxResult<()> {
    let why = format!(
        "{}: {}",
        reason_of(s).unwrap_or_else(|| format!("{:?}", s.code())),
        s.message()
    );
    let next = crate::now_ms() + backoff(node, row.attempts, &row.message_id);
    node.store.outbox_retry_at(row.id, next, &why).await?;
    tracing::debug!(case = %row.case_id, kind = kind.as_str(), attempts = row.attempts, %why, "relay: no answer yet");
    if row.attempts >= PARK_AFTER {
        node.store
            .case_set_stuck(
                &row.case_id,
                Some(&format!(
                    "the {} has not reached centre {} after {} attempts (last: {why}); still trying",
                    kind.as_str(),
                    row.peer,
                    row.attempts
                )),
            )
            .await?;
    }
    Ok(())
}

/// A final refusal of the message itself. A refused letter refuses the case; any other
/// refused message parks the case for a clerk, and is still offered at the longest backoff.
async fn refused(node: &Node, row: &OutboxRow, kind: MsgKind, s: tonic::Status) -> HfxResult<()> {
    let reason = reason_of(&s).unwrap_or_else(|| format!("{:?}", s.code()));
    tracing::warn!(case = %row.case_id, kind = kind.as_str(), peer = %row.peer, %reason, "relay: the peer refused the message");
    if kind == MsgKind::Letter {
        let refusal = Refusal::new(
            &reason,
            format!("the origin refused the letter: {}", s.message()),
        );
        let ev = Event::Received(Msg::Refusal(refusal));
        let actor = super::node_actor(node);
        apply_stored(
            node,
            &row.case_id,
            Some(ev),
            &actor,
            vec![outbox_done_op(row.id)],
        )
        .await?;
        return Ok(());
    }
    let next = crate::now_ms() + node.cfg.transfer.relay_backoff_max_ms as i64;
    node.store
        .outbox_retry_at(row.id, next, &format!("{reason}: {}", s.message()))
        .await?;
    node.store
        .case_set_stuck(
            &row.case_id,
            Some(&format!(
                "centre {} refuses the {}: {reason}: {}",
                row.peer,
                kind.as_str(),
                s.message()
            )),
        )
        .await?;
    Ok(())
}
