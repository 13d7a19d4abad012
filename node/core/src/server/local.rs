//! The local API: what the centre's own people call (clerks, auditors, operators), each
//! admitted by role.

use super::{R, builder, health_and_reflection, later};
use crate::auth::{local_interceptor, require_role};
use crate::error::HfxError;
use crate::node::Node;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::pin::Pin;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

pub fn server(node: Arc<Node>) -> Router {
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
            let header = hfx_tlog::audit::ExportHeader {
                centre: node.centre.clone(),
                origin: node.signer.name().to_string(),
                vkey: node.signer.verifier_key(),
            };
            let res = node.store.export(&header, true, &mut w, &|_, _| {}).await;
            match res {
                Ok(_) => {
                    let rest = std::mem::take(&mut w.buf);
                    if !rest.is_empty() {
                        let _ = tx.send(Ok(pb::LogChunk { jsonl: rest })).await;
                    }
                }
                Err(e) => {
                    let e = HfxError::internal_from("log export", e);
                    let _ = tx.send(Err(e.into())).await;
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
            .map_err(HfxError::from)?
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
            .map_err(|e| HfxError::invalid("index", e.to_string()))?;
        drop(log);
        let leaf = self
            .node
            .store
            .entry_at(r.index)
            .await
            .map_err(HfxError::from)?;
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
            .evidence(limit)
            .await
            .map_err(HfxError::from)?;
        let out = rows
            .into_iter()
            .map(|r| pb::Evidence {
                at_unix_ms: r.at_ms,
                centre: r.centre,
                kind: r.kind,
                detail: r.detail,
                old_note: r.old_note.into_bytes(),
                new_note: r.new_note.into_bytes(),
                proof: r.proof.chunks(32).map(|c| c.to_vec()).collect(),
                reported_by: r.reported_by,
            })
            .collect();
        Ok(Response::new(pb::EvidenceList { evidence: out }))
    }
    async fn list_disclosures(&self, req: Request<pb::DisclosureQuery>) -> R<pb::DisclosureList> {
        require_role(&req, &[Role::Auditor, Role::Operator])?;
        let limit = req.into_inner().limit.clamp(1, 10_000) as i64;
        let rows = self
            .node
            .store
            .disclosures(limit)
            .await
            .map_err(HfxError::from)?;
        let out = rows
            .into_iter()
            .map(|r| pb::Disclosure {
                at_unix_ms: r.at_ms,
                purpose: hfx_model::purpose::Purpose::from_name(&r.purpose)
                    .map(|p| p.wire as i32)
                    .unwrap_or(0),
                direction: r.direction,
                peer_centre: r.peer,
                acting_person: r.acting_person,
                legal_basis: r.legal_basis,
                outcome: r.outcome,
                message_id: r.message_id,
                subject_masked: r.subject_masked,
            })
            .collect();
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
            witnessed_size: self
                .node
                .store
                .witnessed_size(dir.witness_quorum)
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
            witness_evidence: self.node.store.evidence_count().await.unwrap_or(0),
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
