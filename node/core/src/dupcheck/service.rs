//! The gRPC faces of the duplicate check: `DuplicateExchange` on the peer API (callers
//! authenticated by the peer interceptor), `Duplicates` on the local API (behind the role
//! gate: `ROLES` in [`crate::server::local`]).

use crate::auth::{caller, peer_centre};
use crate::error::HfxError;
use crate::node::Node;
use hfx_proto::v1 as pb;
use std::sync::Arc;
use tonic::{Request, Response, Status};

type R<T> = Result<Response<T>, Status>;

fn answer<T>(peer: &str, what: &str, r: Result<T, HfxError>) -> R<T> {
    r.map(Response::new).map_err(|e| {
        if !e.is_internal() {
            tracing::info!(%peer, reason = e.reason(), "{what} refused: {e}");
        }
        Status::from(e)
    })
}

/// The peer API's `DuplicateExchange`.
#[derive(Clone)]
pub struct DupPeerApi {
    node: Arc<Node>,
}

impl DupPeerApi {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

#[tonic::async_trait]
impl pb::duplicate_exchange_server::DuplicateExchange for DupPeerApi {
    async fn open_dup_session(&self, r: Request<pb::DupSessionOpen>) -> R<pb::DupSessionOpened> {
        let peer = peer_centre(&r)?;
        let out = super::responder::open(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "duplicate-check session", out)
    }
    async fn dup_population_page(&self, r: Request<pb::DupPageRequest>) -> R<pb::DupPoints> {
        let peer = peer_centre(&r)?;
        let out = super::responder::page(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "duplicate-check page", out)
    }
    async fn dup_reblind(&self, r: Request<pb::DupReblindRequest>) -> R<pb::DupPoints> {
        let peer = peer_centre(&r)?;
        let out = super::responder::reblind(&self.node, &peer, r.into_inner()).await;
        answer(&peer, "duplicate-check batch", out)
    }
}

/// The local API's `Duplicates`.
#[derive(Clone)]
pub struct DupLocalApi {
    node: Arc<Node>,
}

impl DupLocalApi {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

#[tonic::async_trait]
impl pb::duplicates_server::Duplicates for DupLocalApi {
    async fn check_live_account(
        &self,
        r: Request<pb::LiveAccountCheck>,
    ) -> R<pb::LiveAccountReport> {
        let who = caller(&r)?;
        let out = super::sweep::check_live(&self.node, &who, r.into_inner()).await;
        answer(&who.label(), "live-account check", out)
    }
    async fn sweep_step(&self, r: Request<pb::DupSweepStep>) -> R<pb::DupSweepProgress> {
        let who = caller(&r)?;
        let out = super::sweep::step(&self.node, &who, r.into_inner()).await;
        answer(&who.label(), "duplicate sweep step", out)
    }
}
