//! The local API: what the centre's own people call (clerks, auditors, operators), each
//! admitted by role. Who may call what is [`ROLES`], one table (docs/roles.md says it in
//! words; tests/zone/roles.rs holds the two together and tries every cell on a real node).
//! It is consulted before anything else answers: the [`Gate`] refuses a method the table does
//! not name, whoever calls, and hands the method's grant to the interceptor, which
//! authenticates the person and checks the role ([`crate::auth::role_check`]). Handlers only
//! read the caller.

use super::{R, builder, health_and_reflection};
use crate::auth::{Grant, caller, local_interceptor, role_check};
use crate::error::HfxError;
use crate::node::Node;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

use Role::{Auditor, Clerk, Operator};

/// Every method of the local API (local.proto) by its full gRPC path, and the roles that may
/// call it. A method not here is refused to everyone. Keep docs/roles.md in step: a test
/// compares the two.
pub const ROLES: &[(&str, &[Role])] = &[
    ("/hfx.v1.Clerk/QueryMember", &[Clerk]),
    ("/hfx.v1.Clerk/LoanCheck", &[Clerk]),
    ("/hfx.v1.Clerk/StartTransfer", &[Clerk]),
    ("/hfx.v1.Clerk/GetTransfer", &[Clerk]),
    ("/hfx.v1.Clerk/ListTransfers", &[Clerk]),
    ("/hfx.v1.Clerk/CancelTransfer", &[Clerk]),
    ("/hfx.v1.Clerk/ResolveTransfer", &[Clerk]),
    ("/hfx.v1.Clerk/RequestCertificate", &[Clerk]),
    ("/hfx.v1.Clerk/CertificateStatus", &[Clerk, Auditor]),
    ("/hfx.v1.Clerk/RevokeCertificate", &[Clerk]),
    ("/hfx.v1.Audit/ExportLog", &[Auditor]),
    ("/hfx.v1.Audit/ProveInclusion", &[Auditor]),
    ("/hfx.v1.Audit/ListDisclosures", &[Auditor]),
    ("/hfx.v1.Audit/ListEvidence", &[Auditor, Operator]),
    ("/hfx.v1.Operator/Status", &[Operator, Auditor]),
    ("/hfx.v1.Operator/Reload", &[Operator]),
    ("/hfx.v1.Operator/Diagnose", &[Operator]),
    ("/hfx.v1.Operator/SetMaintenance", &[Operator]),
    ("/hfx.v1.Duplicates/CheckLiveAccount", &[Clerk]),
    ("/hfx.v1.Duplicates/SweepStep", &[Operator]),
];

/// Standard gRPC services served beside the local API without a role check (any client the
/// TLS layer admits): health and reflection carry no data of the centre.
pub const OPEN: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
];

/// The grant of `method` (a full gRPC path) in [`ROLES`].
pub fn grant(method: &str) -> Option<Grant> {
    ROLES
        .iter()
        .find(|(m, _)| *m == method)
        .map(|&(method, roles)| Grant { method, roles })
}

/// The local API's router: its services behind the [`Gate`].
pub type LocalRouter = Router<tower::layer::util::Stack<GateLayer, super::ServerLayers>>;

pub fn server(node: Arc<Node>) -> LocalRouter {
    let (health, reflection) = health_and_reflection(&node);
    let mut routes = tonic::service::Routes::new(health);
    if let Some(reflection) = reflection {
        routes = routes.add_service(reflection);
    }
    builder(node.metrics.server.local_layer())
        .layer(GateLayer)
        .add_routes(api_routes(node, routes))
}

/// The local API served in-process, for the web console (hfx-console): the same [`Gate`],
/// role table, revocation check and authentication as on the network, with the browser's
/// connection information put into each request by the caller. No health or reflection.
pub fn in_process(node: Arc<Node>) -> Gate<tonic::service::Routes> {
    use tower::Layer;
    let routes = api_routes(node, tonic::service::Routes::default());
    GateLayer.layer(routes.prepare())
}

/// `routes` with the local API's four services, each behind the authenticating interceptor.
fn api_routes(node: Arc<Node>, routes: tonic::service::Routes) -> tonic::service::Routes {
    let mut authenticate = local_interceptor(node.centre.clone());
    let icpt = super::lease::local_gate(node.clone(), move |req: Request<()>| {
        role_check(authenticate(req)?)
    });
    let dup = crate::dupcheck::service::DupLocalApi::new(node.clone());
    let api = LocalApi { node };
    routes
        .add_service(InterceptedService::new(
            pb::clerk_server::ClerkServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::audit_server::AuditServer::new(api.clone()),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::duplicates_server::DuplicatesServer::new(dup),
            icpt.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::operator_server::OperatorServer::new(api),
            icpt,
        ))
}

/// Puts [`Gate`] in front of the local API's routes.
#[derive(Debug, Clone, Copy)]
pub struct GateLayer;

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate { inner }
    }
}

/// Before routing: a call to a method in neither [`ROLES`] nor [`OPEN`] is refused here
/// (PERMISSION_DENIED, logged once), so an unknown method or service never reaches a handler
/// or tonic's UNIMPLEMENTED; a listed method goes on carrying its [`Grant`].
#[derive(Debug, Clone)]
pub struct Gate<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Gate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        futures::future::Either<std::future::Ready<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let path = req.uri().path();
        if OPEN.contains(&path) {
            return futures::future::Either::Right(self.inner.call(req));
        }
        match grant(path) {
            Some(g) => {
                req.extensions_mut().insert(g);
                futures::future::Either::Right(self.inner.call(req))
            }
            None => {
                // The path is the caller's: cut, so a long one cannot flood the log.
                let shown: String = path.chars().take(120).collect();
                let e = HfxError::refused(
                    tonic::Code::PermissionDenied,
                    crate::error::REASON_ROLE_NOT_ALLOWED,
                    format!("{shown} is not a method of the local API's role table"),
                );
                tracing::warn!(reason = e.reason(), method = %shown, "local call refused");
                futures::future::Either::Left(std::future::ready(Ok(Status::from(e).into_http())))
            }
        }
    }
}

#[derive(Clone)]
pub struct LocalApi {
    node: Arc<Node>,
}

#[tonic::async_trait]
impl pb::clerk_server::Clerk for LocalApi {
    async fn query_member(&self, req: Request<pb::LocalMemberQuery>) -> R<pb::LocalMemberReply> {
        let person = caller(&req)?;
        let reply = crate::member::ask(&self.node, &person, req.into_inner()).await?;
        Ok(Response::new(reply))
    }
    async fn loan_check(&self, r: Request<pb::LocalLoanCheck>) -> R<pb::LocalLoanCheckReply> {
        let person = caller(&r)?;
        let reply = crate::loan_check::check(&self.node, &person, r.into_inner()).await?;
        Ok(Response::new(reply))
    }
    async fn start_transfer(&self, r: Request<pb::StartTransferRequest>) -> R<pb::TransferView> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::transfer::clerk::start(&self.node, &person, r.into_inner()).await?,
        ))
    }
    async fn get_transfer(&self, r: Request<pb::GetTransferRequest>) -> R<pb::TransferView> {
        Ok(Response::new(
            crate::transfer::clerk::get(&self.node, r.into_inner()).await?,
        ))
    }
    async fn list_transfers(&self, r: Request<pb::ListTransfersRequest>) -> R<pb::TransferList> {
        Ok(Response::new(
            crate::transfer::clerk::list(&self.node, r.into_inner()).await?,
        ))
    }
    async fn cancel_transfer(&self, r: Request<pb::CancelTransferRequest>) -> R<pb::TransferView> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::transfer::clerk::cancel(&self.node, &person, r.into_inner()).await?,
        ))
    }
    async fn resolve_transfer(
        &self,
        r: Request<pb::ResolveTransferRequest>,
    ) -> R<pb::TransferView> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::transfer::clerk::resolve(&self.node, &person, r.into_inner()).await?,
        ))
    }
    async fn request_certificate(
        &self,
        r: Request<pb::LocalCertificateRequest>,
    ) -> R<pb::LocalCertificateReply> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::attest::issue::request(&self.node, &person, r.into_inner()).await?,
        ))
    }
    async fn certificate_status(
        &self,
        r: Request<pb::LocalCertificateStatusRequest>,
    ) -> R<pb::CertificateStatusReply> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::attest::status::ask(&self.node, &person, r.into_inner()).await?,
        ))
    }
    async fn revoke_certificate(
        &self,
        r: Request<pb::RevokeCertificateRequest>,
    ) -> R<pb::CertificateStatusReply> {
        let person = caller(&r)?;
        Ok(Response::new(
            crate::attest::status::revoke(&self.node, &person, r.into_inner()).await?,
        ))
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

/// A failed export as the auditor sees it: the stable reason and a fixed text. The store's
/// or the disk's detail goes to the node's log, once (crate::error), never to the caller.
fn export_failed(e: crate::store::audit::ExportError) -> Status {
    HfxError::internal_from("log export", e).into()
}

#[tonic::async_trait]
impl pb::audit_server::Audit for LocalApi {
    type ExportLogStream = ChunkStream;

    async fn export_log(&self, req: Request<pb::ExportRequest>) -> R<Self::ExportLogStream> {
        let auditor = caller(&req)?;
        tracing::info!(auditor = %auditor.label(), "log export");
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
                // The auditor went away: nobody to tell, and nothing for a human to do.
                Err(_) if tx.is_closed() => {
                    tracing::info!(centre = %node.centre, "log export abandoned by the auditor");
                }
                Err(e) => {
                    let _ = tx.send(Err(export_failed(e))).await;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
    async fn prove_inclusion(&self, req: Request<pb::InclusionRequest>) -> R<pb::InclusionProof> {
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
        let proof = self
            .node
            .store
            .inclusion_proof(r.index, size)
            .await
            .map_err(HfxError::from)?
            .map_err(|e| HfxError::invalid("index", e.to_string()))?;
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
        let filter = crate::disclosures::filter(&self.node, req.into_inner())?;
        let rows = self
            .node
            .store
            .disclosures_where(&filter)
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
    async fn status(&self, _req: Request<pb::StatusRequest>) -> R<pb::NodeStatus> {
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
            maintenance: self.node.serving.maintenance(),
            lease: super::lease::role(&self.node).into(),
        }))
    }
    async fn set_maintenance(&self, req: Request<pb::MaintenanceRequest>) -> R<pb::NodeStatus> {
        let who = caller(&req).map(|c| c.label()).unwrap_or_default();
        let on = req.get_ref().on;
        self.node.serving.set_maintenance(on);
        tracing::info!(operator = %who, on, "maintenance mode set");
        self.status(Request::new(pb::StatusRequest {})).await
    }
    async fn reload(&self, _req: Request<pb::ReloadRequest>) -> R<pb::ReloadReply> {
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
    async fn diagnose(&self, req: Request<pb::DiagnoseRequest>) -> R<pb::DiagnoseReport> {
        Ok(Response::new(
            crate::doctor::diagnose(&self.node, req.into_inner()).await,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_failure_shows_the_reason_not_the_detail() {
        let e = crate::store::audit::ExportError::Write(std::io::Error::other(
            "disk full at /var/lib/hfx/store.db",
        ));
        let s = export_failed(e);
        assert_eq!(s.code(), tonic::Code::Internal);
        assert_eq!(crate::error::reason_of(&s).as_deref(), Some("INTERNAL"));
        assert!(!s.message().contains("disk full"), "{}", s.message());
        assert!(!s.message().contains("/var/lib"), "{}", s.message());
    }

    #[test]
    fn the_role_table_names_each_method_once_and_grants_someone() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, roles) in ROLES {
            assert!(seen.insert(*method), "{method} twice");
            assert!(method.starts_with("/hfx.v1."), "{method}");
            assert!(!roles.is_empty(), "{method}: nobody may call it");
            assert!(!OPEN.contains(method), "{method}");
        }
        assert_eq!(
            grant("/hfx.v1.Audit/ListDisclosures").map(|g| g.roles),
            Some(&[Role::Auditor][..])
        );
        assert!(grant("/hfx.v1.Clerk/Nope").is_none());
    }
}
