//! The gRPC faces of a node: the peer API and the local API, with health and reflection.
//! Handlers only authenticate, call the business module, and map errors (crate::error).

use crate::auth::{local_interceptor, peer_centre, peer_interceptor, require_role};
use crate::error::HfxError;
use crate::node::Node;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::pin::Pin;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

fn later(what: &str) -> Status {
    HfxError::Unimplemented(format!(
        "{what} is part of the wire contract but not served by this release"
    ))
    .into()
}

fn health_and_reflection() -> (
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    Option<
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
    >,
) {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hfx_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::warn!(error = %e, "reflection unavailable"))
        .ok();
    (health, reflection)
}

fn builder() -> Server {
    Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .concurrency_limit_per_connection(256)
}

pub fn peer_server(node: Arc<Node>) -> Router {
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

pub fn local_server(node: Arc<Node>) -> Router {
    let (health, reflection) = health_and_reflection();
    let icpt = local_interceptor(node.centre.clone());
    let api = LocalApi { node };
    builder()
        .add_service(health)
        .add_optional_service(reflection)
        .add_service(InterceptedService::new(
            pb::clerk_server::ClerkServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::audit_server::AuditServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::operator_server::OperatorServer::new(api),
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
                tracing::info!(%peer, reason = e.reason(), "member query refused");
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
            .map_err(|e| Status::from(HfxError::Store(e.to_string())))?;
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
            .map_err(|e| Status::from(HfxError::invalid("old_size/new_size", e.to_string())))?;
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

#[derive(Clone)]
pub struct LocalApi {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl pb::clerk_server::Clerk for LocalApi {
    async fn query_member(&self, req: Request<pb::LocalMemberQuery>) -> R<pb::LocalMemberReply> {
        let (caller, _) = require_role(&req, &[Role::Clerk])?;
        let reply = crate::member::ask(&self.node, &caller, req.into_inner()).await?;
        Ok(Response::new(reply))
    }
    async fn loan_check(&self, _r: Request<pb::LocalLoanCheck>) -> R<pb::LocalLoanCheckReply> {
        Err(later("Clerk/LoanCheck"))
    }
    async fn start_transfer(&self, _r: Request<pb::StartTransferRequest>) -> R<pb::TransferView> {
        Err(later("Clerk/StartTransfer"))
    }
    async fn get_transfer(&self, _r: Request<pb::GetTransferRequest>) -> R<pb::TransferView> {
        Err(later("Clerk/GetTransfer"))
    }
    async fn request_certificate(
        &self,
        _r: Request<pb::LocalCertificateRequest>,
    ) -> R<pb::LocalCertificateReply> {
        Err(later("Clerk/RequestCertificate"))
    }
}

type ChunkStream = Pin<Box<dyn futures::Stream<Item = Result<pb::LogChunk, Status>> + Send>>;

const CHUNK: usize = 1 << 20;

/// Turns the exporter's writes into stream chunks (blocking send: the exporter runs in its
/// own task and the channel is bounded, so a slow auditor slows the export, not the node).
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<pb::LogChunk, Status>>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            let tx = self.tx.clone();
            tokio::task::block_in_place(|| tx.blocking_send(Ok(pb::LogChunk { jsonl: chunk })))
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "auditor went away")
                })?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for LocalApi {
    type ExportLogStream = ChunkStream;

    async fn export_log(&self, req: Request<pb::ExportRequest>) -> R<Self::ExportLogStream> {
        let (caller, _) = require_role(&req, &[Role::Auditor])?;
        tracing::info!(auditor = %caller.label(), "log export");
        let node = self.node.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::LogChunk, Status>>(8);
        tokio::spawn(async move {
            let mut w = ChunkWriter {
                buf: Vec::with_capacity(CHUNK),
                tx: tx.clone(),
            };
            let header = crate::audit::ExportHeader {
                centre: node.centre.clone(),
                origin: node.signer.name().to_string(),
                vkey: node.signer.verifier_key(),
            };
            let res =
                crate::audit::export(node.store.pool(), &header, true, &mut w, &|_, _| {}).await;
            match res {
                Ok(_) => {
                    let rest = std::mem::take(&mut w.buf);
                    if !rest.is_empty() {
                        let _ = tx.send(Ok(pb::LogChunk { jsonl: rest })).await;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(HfxError::Store(e.to_string()).into())).await;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
    async fn prove_inclusion(&self, req: Request<pb::InclusionRequest>) -> R<pb::InclusionProof> {
        require_role(&req, &[Role::Auditor])?;
        let r = req.into_inner();
        let (size, note) = self
            .node
            .latest_checkpoint()
            .await
            .map_err(|e| Status::from(HfxError::Store(e.to_string())))?
            .ok_or_else(|| Status::from(HfxError::NotFound("no checkpoint signed yet".into())))?;
        let size = if r.tree_size == 0 {
            size
        } else {
            r.tree_size.min(size)
        };
        let log = self.node.store.log().lock().await;
        let proof = log
            .tree()
            .inclusion_proof(r.index, size)
            .map_err(|e| Status::from(HfxError::invalid("index", e.to_string())))?;
        drop(log);
        let leaf: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT entry FROM log_entries WHERE idx = $1")
                .bind(r.index as i64)
                .fetch_optional(self.node.store.pool())
                .await
                .map_err(|e| Status::from(HfxError::from(e)))?;
        let note = if size == r.tree_size || r.tree_size == 0 {
            note
        } else {
            String::new()
        };
        Ok(Response::new(pb::InclusionProof {
            index: r.index,
            tree_size: size,
            leaf: leaf.unwrap_or_default(),
            hashes: proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint_note: note.into_bytes(),
        }))
    }
    async fn list_evidence(&self, req: Request<pb::EvidenceQuery>) -> R<pb::EvidenceList> {
        require_role(&req, &[Role::Auditor, Role::Operator])?;
        let limit = req.into_inner().limit.clamp(1, 1000) as i64;
        let rows = self
            .node
            .store
            .fetch_all(
                "SELECT at_ms, centre, kind, detail, old_note, new_note, proof, reported_by FROM witness_evidence ORDER BY id DESC LIMIT $1",
                vec![limit.into()],
            )
            .await
            .map_err(|e| Status::from(HfxError::Store(e.to_string())))?;
        let mut out = Vec::new();
        for r in rows {
            use sqlx::Row;
            let proof: Vec<u8> = r.try_get("proof").unwrap_or_default();
            out.push(pb::Evidence {
                at_unix_ms: r.try_get("at_ms").unwrap_or_default(),
                centre: r.try_get("centre").unwrap_or_default(),
                kind: r.try_get("kind").unwrap_or_default(),
                detail: r.try_get("detail").unwrap_or_default(),
                old_note: r
                    .try_get::<String, _>("old_note")
                    .unwrap_or_default()
                    .into_bytes(),
                new_note: r
                    .try_get::<String, _>("new_note")
                    .unwrap_or_default()
                    .into_bytes(),
                proof: proof.chunks(32).map(|c| c.to_vec()).collect(),
                reported_by: r.try_get("reported_by").unwrap_or_default(),
            });
        }
        Ok(Response::new(pb::EvidenceList { evidence: out }))
    }
    async fn list_disclosures(&self, req: Request<pb::DisclosureQuery>) -> R<pb::DisclosureList> {
        require_role(&req, &[Role::Auditor, Role::Operator])?;
        let limit = req.into_inner().limit.clamp(1, 10_000) as i64;
        let rows = self
            .node
            .store
            .fetch_all(
                "SELECT at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked FROM disclosures ORDER BY id DESC LIMIT $1",
                vec![limit.into()],
            )
            .await
            .map_err(|e| Status::from(HfxError::Store(e.to_string())))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            use sqlx::Row;
            let get = |c: &str| r.try_get::<String, _>(c).unwrap_or_default();
            out.push(pb::Disclosure {
                at_unix_ms: r.try_get::<i64, _>("at_ms").unwrap_or_default(),
                direction: get("direction"),
                peer_centre: get("peer"),
                acting_person: get("acting_person"),
                purpose: crate::member::purpose_from_name(&get("purpose"))
                    .map(|p| p as i32)
                    .unwrap_or(0),
                legal_basis: get("legal_basis"),
                outcome: get("outcome"),
                message_id: get("message_id"),
                subject_masked: get("subject_masked"),
            });
        }
        Ok(Response::new(pb::DisclosureList { disclosures: out }))
    }
}

#[tonic::async_trait]
impl pb::operator_server::Operator for LocalApi {
    async fn status(&self, req: Request<pb::StatusRequest>) -> R<pb::NodeStatus> {
        require_role(&req, &[Role::Operator, Role::Auditor, Role::Clerk])?;
        let dir = self.node.trust.directory();
        let name = dir
            .centre(&self.node.centre)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        Ok(Response::new(pb::NodeStatus {
            centre: self.node.centre.clone(),
            name,
            directory_version: dir.version,
            directory_expires_unix: dir.expires_at_unix,
            log_size: self.node.store.log().lock().await.size(),
            adapter: self.node.core.kind().to_string(),
            store: self.node.store.kind().as_str().to_string(),
            uptime_seconds: self.node.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            witnessed_size: crate::witness::witnessed_size(&self.node, dir.witness_quorum)
                .await
                .unwrap_or(0),
            checkpoint_size: self
                .node
                .latest_checkpoint()
                .await
                .ok()
                .flatten()
                .map(|c| c.0)
                .unwrap_or(0),
            witness_evidence: sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM witness_evidence")
                .fetch_one(self.node.store.pool())
                .await
                .unwrap_or(0) as u64,
        }))
    }
    async fn reload(&self, req: Request<pb::ReloadRequest>) -> R<pb::ReloadReply> {
        require_role(&req, &[Role::Operator])?;
        self.node.trust.changed();
        let rep = self.node.trust.reload();
        let dir = self.node.trust.directory();
        let mut detail = Vec::new();
        if let Err(e) = &rep.directory {
            detail.push(format!("directory refused: {e}"));
        }
        if let Err(e) = &rep.tls {
            detail.push(format!("tls refused: {e}"));
        }
        Ok(Response::new(pb::ReloadReply {
            directory_ok: rep.directory.is_ok(),
            tls_ok: rep.tls.is_ok(),
            detail: detail.join("; "),
            directory_version: dir.version,
        }))
    }
}
