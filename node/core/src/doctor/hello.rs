//! The peer API's `ZoneExchange/Hello`: what this node tells a peer's doctor about itself and
//! about its policy toward that peer. Nothing in it is personal data or secret to a peer of
//! the zone (the directory already lists endpoints and certificates; policy is agreed between
//! centres). A node in maintenance or a standby refuses it like every peer call
//! (UNAVAILABLE, MAINTENANCE / NOT_WRITER, `crate::server::lease`): at once, never a
//! timeout, and the doctor reports that reason.

use super::{cert_not_after, crl_next_update, now_ms};
use crate::auth::peer_centre;
use crate::node::Node;
use hfx_proto::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct HelloApi {
    node: Arc<Node>,
}

impl HelloApi {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// The reply to `peer`.
pub async fn reply(node: &Node, peer: &str) -> pb::HelloReply {
    let dir = node.trust.directory();
    let files = node.cfg.tls_files();
    let allowed_purposes = crate::config::PURPOSES
        .iter()
        .filter(|p| node.cfg.policy.allows(peer, p))
        .map(|p| p.to_string())
        .collect();
    let log_size = node.store.log().lock().await.size();
    let checkpoint_size = node
        .latest_checkpoint()
        .await
        .ok()
        .flatten()
        .map(|c| c.0)
        .unwrap_or(0);
    let cosigned_of_caller = node
        .store
        .witness_held(peer)
        .await
        .ok()
        .flatten()
        .map(|h| h.size)
        .unwrap_or(0);
    pb::HelloReply {
        // Read last, closest to the moment the reply leaves.
        unix_ms: 0,
        directory_version: dir.version,
        directory_expires_unix: dir.expires_at_unix,
        allowed_purposes,
        cert_not_after_unix: cert_not_after(&files.cert),
        crl_next_update_unix: crl_next_update(&files.crl),
        maintenance: node.serving.maintenance(),
        log_size,
        checkpoint_size,
        cosigned_of_caller,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[tonic::async_trait]
impl pb::zone_exchange_server::ZoneExchange for HelloApi {
    async fn hello(
        &self,
        r: Request<pb::HelloRequest>,
    ) -> Result<Response<pb::HelloReply>, Status> {
        let peer = peer_centre(&r)?;
        let mut out = reply(&self.node, &peer).await;
        out.unix_ms = now_ms();
        Ok(Response::new(out))
    }
}
