//! The peer API: what other centres' nodes call (member queries, transfers, verification,
//! the log exchange). Callers are authenticated against the directory by the interceptor.

use super::{R, Router, builder, health_and_reflection};
use crate::auth::{peer_centre, peer_interceptor};
use crate::error::HfxError;
use crate::node::Node;
use crate::transfer::peer::receive;
use crate::transfer::wire;
use hfx_case::{Msg, MsgKind};
use hfx_proto::v1 as pb;
use prost::Message;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

pub fn server(node: Arc<Node>) -> Router {
    let (health, reflection) = health_and_reflection(&node);
    let icpt = super::lease::peer_gate(node.clone(), peer_interceptor(node.trust.clone()));
    let api = PeerApi { node };
    builder(api.node.metrics.server.peer_layer(api.node.trust.clone()))
        .add_service(health)
        .add_optional_service(reflection)
        .add_service(InterceptedService::new(
            pb::member_exchange_server::MemberExchangeServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::transfer_exchange_server::TransferExchangeServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::verification_exchange_server::VerificationExchangeServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::duplicate_exchange_server::DuplicateExchangeServer::new(
                crate::dupcheck::service::DupPeerApi::new(api.node.clone()),
            ),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::zone_exchange_server::ZoneExchangeServer::new(crate::doctor::hello::HelloApi::new(
                api.node.clone(),
            )),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::log_exchange_server::LogExchangeServer::new(api),
            icpt,
        ))
}

#[derive(Clone)]
pub struct PeerApi {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl pb::member_exchange_server::MemberExchange for PeerApi {
    async fn query_member(&self, req: Request<pb::PeerMemberQuery>) -> R<pb::PeerMemberReply> {
        let peer = peer_centre(&req)?;
        let reply = crate::member::answer_query(&self.node, &peer, req.into_inner())
            .await
            .map_err(|e| {
                // Internal failures are logged once, with their detail, by the Status mapping.
                if !e.is_internal() {
                    tracing::info!(%peer, reason = e.reason(), "member query refused");
                }
                Status::from(e)
            })?;
        Ok(Response::new(reply))
    }
    async fn loan_check(&self, req: Request<pb::PeerLoanCheck>) -> R<pb::PeerLoanCheckReply> {
        let peer = peer_centre(&req)?;
        let left = crate::loan_check::deadline::from_metadata(req.metadata());
        let reply = crate::loan_check::answer(&self.node, &peer, left, req.into_inner()).await;
        answer(&peer, "loan check", reply)
    }
}

#[tonic::async_trait]
impl pb::transfer_exchange_server::TransferExchange for PeerApi {
    async fn send_contact_letter(&self, r: Request<pb::ContactLetter>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let own = self.node.centre.clone();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::Letter,
            m.header.as_ref(),
            m.encode_to_vec(),
            || Ok(Msg::Letter(wire::letter_from(&m, &own, &peer)?)),
        )
        .await;
        answer(&peer, "contact letter", ack)
    }
    async fn cancel_letter(&self, r: Request<pb::CaseMessage>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::Cancel,
            m.header.as_ref(),
            m.encode_to_vec(),
            || {
                Ok(Msg::Cancel {
                    reason: m.reason.chars().take(200).collect(),
                })
            },
        )
        .await;
        answer(&peer, "cancel", ack)
    }
    async fn send_transfer_out(&self, r: Request<pb::TransferOut>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::TransferOut,
            m.header.as_ref(),
            m.encode_to_vec(),
            || Ok(Msg::TransferOut(wire::record_from(&m)?)),
        )
        .await;
        answer(&peer, "transfer-out record", ack)
    }
    async fn send_refusal(&self, r: Request<pb::Refusal>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::Refusal,
            m.header.as_ref(),
            m.encode_to_vec(),
            || Ok(Msg::Refusal(wire::refusal_from(&m)?)),
        )
        .await;
        answer(&peer, "refusal", ack)
    }
    async fn send_payment(&self, r: Request<pb::PaymentNotice>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::Payment,
            m.header.as_ref(),
            m.encode_to_vec(),
            || Ok(Msg::Payment(wire::payment_from(&m)?)),
        )
        .await;
        answer(&peer, "payment notice", ack)
    }
    async fn send_completion(&self, r: Request<pb::Completion>) -> R<pb::TransferAck> {
        let peer = peer_centre(&r)?;
        let m = r.into_inner();
        let ack = receive(
            &self.node,
            &peer,
            MsgKind::Completion,
            m.header.as_ref(),
            m.encode_to_vec(),
            || wire::completion_from(&m),
        )
        .await;
        answer(&peer, "completion", ack)
    }
    async fn query_case(&self, r: Request<pb::CaseMessage>) -> R<pb::CaseState> {
        let peer = peer_centre(&r)?;
        let st = crate::transfer::peer::query_case(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "case query", st)
    }
}

/// A transfer message's answer; refusals are logged once (internal ones by the Status mapping).
fn answer<T>(peer: &str, what: &str, r: Result<T, HfxError>) -> R<T> {
    r.map(Response::new).map_err(|e| {
        if !e.is_internal() {
            tracing::info!(%peer, reason = e.reason(), "{what} refused: {e}");
        }
        Status::from(e)
    })
}

#[tonic::async_trait]
impl pb::verification_exchange_server::VerificationExchange for PeerApi {
    async fn issue_deposit_certificate(
        &self,
        r: Request<pb::CertificateRequest>,
    ) -> R<pb::DepositCertificate> {
        let peer = peer_centre(&r)?;
        let reply = crate::attest::issue::answer(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "deposit certificate", reply)
    }
    async fn certificate_status(
        &self,
        r: Request<pb::CertificateStatusRequest>,
    ) -> R<pb::CertificateStatusReply> {
        let peer = peer_centre(&r)?;
        let reply = crate::attest::status::answer(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "certificate status", reply)
    }
}

#[tonic::async_trait]
impl pb::log_exchange_server::LogExchange for PeerApi {
    async fn get_checkpoint(&self, _r: Request<pb::CheckpointRequest>) -> R<pb::SignedCheckpoint> {
        let cp = self
            .node
            .latest_checkpoint()
            .await
            .map_err(HfxError::from)?;
        let (_, note) =
            cp.ok_or_else(|| Status::from(HfxError::NotFound("no checkpoint signed yet".into())))?;
        Ok(Response::new(pb::SignedCheckpoint {
            note: note.into_bytes(),
        }))
    }
    async fn get_consistency_proof(
        &self,
        r: Request<pb::ConsistencyRequest>,
    ) -> R<pb::ConsistencyProof> {
        let r = r.into_inner();
        let proof = self
            .node
            .store
            .consistency_proof(r.old_size, r.new_size)
            .await
            .map_err(HfxError::from)?
            .map_err(|e| HfxError::invalid("old_size/new_size", e.to_string()))?;
        Ok(Response::new(pb::ConsistencyProof {
            hashes: proof.iter().map(|h| h.to_vec()).collect(),
        }))
    }
    async fn cosign(&self, r: Request<pb::CosignRequest>) -> R<pb::Cosignature> {
        let peer = peer_centre(&r)?;
        Ok(Response::new(
            crate::witness::cosign(&self.node, &peer, r.into_inner()).await?,
        ))
    }
    async fn gossip(&self, r: Request<pb::GossipRequest>) -> R<pb::GossipReply> {
        let peer = peer_centre(&r)?;
        Ok(Response::new(
            crate::witness::gossip_in(&self.node, &peer, r.into_inner()).await?,
        ))
    }
    async fn get_witnessed(&self, r: Request<pb::WitnessedRequest>) -> R<pb::SignedCheckpoint> {
        let peer = peer_centre(&r)?;
        Ok(Response::new(
            crate::backup::witnessed_for(&self.node, &peer, r.into_inner()).await?,
        ))
    }
}
