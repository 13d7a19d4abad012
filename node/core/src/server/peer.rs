//! The peer API: what other centres' nodes call (member queries, transfers, verification,
//! the log exchange). Callers are authenticated against the directory by the interceptor.

use super::{R, Router, builder, health_and_reflection, later};
use crate::auth::{peer_centre, peer_interceptor};
use crate::error::HfxError;
use crate::node::Node;
use hfx_proto::v1 as pb;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

pub fn server(node: Arc<Node>) -> Router {
    let (health, reflection) = health_and_reflection();
    let icpt = peer_interceptor(node.trust.clone());
    let api = PeerApi { node };
    builder()
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
    async fn loan_check(&self, _req: Request<pb::PeerLoanCheck>) -> R<pb::PeerLoanCheckReply> {
        Err(later("MemberExchange/LoanCheck"))
    }
}

#[tonic::async_trait]
impl pb::transfer_exchange_server::TransferExchange for PeerApi {
    async fn send_contact_letter(&self, _r: Request<pb::ContactLetter>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/SendContactLetter"))
    }
    async fn cancel_letter(&self, _r: Request<pb::CaseMessage>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/CancelLetter"))
    }
    async fn send_transfer_out(&self, _r: Request<pb::TransferOut>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/SendTransferOut"))
    }
    async fn send_refusal(&self, _r: Request<pb::Refusal>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/SendRefusal"))
    }
    async fn send_payment(&self, _r: Request<pb::PaymentNotice>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/SendPayment"))
    }
    async fn send_completion(&self, _r: Request<pb::Completion>) -> R<pb::TransferAck> {
        Err(later("TransferExchange/SendCompletion"))
    }
    async fn query_case(&self, _r: Request<pb::CaseMessage>) -> R<pb::CaseState> {
        Err(later("TransferExchange/QueryCase"))
    }
}

#[tonic::async_trait]
impl pb::verification_exchange_server::VerificationExchange for PeerApi {
    async fn issue_deposit_certificate(
        &self,
        _r: Request<pb::CertificateRequest>,
    ) -> R<pb::DepositCertificate> {
        Err(later("VerificationExchange/IssueDepositCertificate"))
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
        let log = self.node.store.log().lock().await;
        let proof = log
            .tree()
            .consistency_proof(r.old_size, r.new_size)
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
}
