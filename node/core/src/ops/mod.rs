//! The operator port: Prometheus/OpenMetrics metrics on plain HTTP (docs/metrics.md).
//!
//! [`Metrics`] is the node's registry. Counters and histograms are moved where things
//! happen: [`grpc`] (a tower layer on both servers), [`client`] (every call to a peer),
//! [`core`] (a decorator around the core system), the store's writer (commit latency, batch
//! size, disclosures: `crate::store::metrics`). Gauges of state (log, checkpoints, witnesses,
//! outbox, cases, certificates) are read when scraped ([`gauges`]), so they cost nothing
//! between scrapes and are never stale.
//!
//! No label carries personal data: `peer` is a centre code (or `local`), `grpc_method` one
//! of the methods the API has, `purpose`/`outcome`/`direction` short fixed words.

pub mod client;
pub mod core;
pub mod gauges;
pub mod grpc;

use crate::node::Node;
use crate::store::metrics::CommitMetrics;
use prometheus_client::registry::{Registry, Unit};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The content type of an OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The node's registry and families (see the module).
pub struct Metrics {
    registry: Registry,
    pub server: grpc::ServerMetrics,
    pub client: client::ClientMetrics,
    pub adapter: core::AdapterMetrics,
    pub gauges: gauges::Gauges,
    /// One scrape at a time: gauges are set, then encoded, as one picture.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&CommitMetrics::default(), false)
    }
}

impl Metrics {
    /// A registry with every family of docs/metrics.md; `commit` is the store writer's. `on`:
    /// whether calls are counted at all (a node without an operator port has nobody to tell:
    /// its gRPC layers, peer channels and core system then run without the metrics' work).
    pub fn new(commit: &CommitMetrics, on: bool) -> Self {
        let mut registry = Registry::default();
        let server = grpc::ServerMetrics {
            on,
            ..Default::default()
        };
        let client = client::ClientMetrics {
            on,
            ..Default::default()
        };
        let adapter = core::AdapterMetrics {
            on,
            ..Default::default()
        };
        let gauges = gauges::Gauges::default();
        let r = &mut registry;
        r.register(
            "grpc_server_handled",
            "RPCs completed on this node's servers, by method, code and calling centre",
            server.handled.clone(),
        );
        r.register_with_unit(
            "grpc_server_handling",
            "Time from request to the end of the response on this node's servers",
            Unit::Seconds,
            server.handling.clone(),
        );
        r.register(
            "hfx_peer_client_requests",
            "Calls this node made to peer centres, by peer, method and code",
            client.requests.clone(),
        );
        r.register_with_unit(
            "hfx_peer_client",
            "Time of calls this node made to peer centres",
            Unit::Seconds,
            client.seconds.clone(),
        );
        r.register(
            "hfx_peer_up",
            "1 if the last call to the peer reached it (not UNAVAILABLE, not past its deadline)",
            client.up.clone(),
        );
        r.register_with_unit(
            "hfx_store_commit",
            "Time of one group commit of the store writer",
            Unit::Seconds,
            commit.seconds.clone(),
        );
        r.register(
            "hfx_store_commit_batch_size",
            "Jobs (requests' writes) in one group commit",
            commit.batch_size.clone(),
        );
        r.register(
            "hfx_disclosures",
            "Disclosure records committed, by purpose, outcome and direction",
            commit.disclosures.clone(),
        );
        r.register_with_unit(
            "hfx_adapter",
            "Time of calls to the centre's core system, by operation",
            Unit::Seconds,
            adapter.seconds.clone(),
        );
        r.register(
            "hfx_adapter_errors",
            "Calls to the centre's core system that failed, by operation",
            adapter.errors.clone(),
        );
        gauges.register(r);
        Self {
            registry,
            server,
            client,
            adapter,
            gauges,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// The OpenMetrics text of the registry as it is now (no gauge read).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String cannot fail; a label that cannot be encoded would.
            tracing::warn!(error = %e, "metrics not encoded");
        }
        out
    }
}

/// One scrape: the gauges read from the store, the log and trust, then everything encoded.
pub async fn scrape(node: &Node) -> String {
    let _one = node.metrics.scrape.lock().await;
    gauges::update(node).await;
    node.metrics.encode()
}

/// Serve GET /metrics on `listener` until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    async fn metrics(
        axum::extract::State(node): axum::extract::State<Arc<Node>>,
    ) -> impl IntoResponse {
        let body = scrape(&node).await;
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
    }
    async fn not_found() -> impl IntoResponse {
        (
            StatusCode::NOT_FOUND,
            "the operator port serves GET /metrics\n",
        )
    }
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .fallback(not_found)
        .with_state(node);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
}

/// Bind the operator port `[ops] listen` names, if any, and serve it until `stop` resolves.
/// Returns the bound address (the node logs it in "node ready": with port 0, that is where
/// the launcher learns it).
pub async fn start(
    node: &Arc<Node>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    use anyhow::Context;
    let Some(addr) = &node.cfg.ops.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("ops.listen: binding {addr}"))?;
    let bound = listener.local_addr()?;
    if let Some(file) = &node.cfg.ops.addr_file {
        let file = node.cfg.resolve(file);
        hfx_certs::zonedir::write_atomic(&file, format!("{bound}\n").as_bytes())
            .with_context(|| format!("ops.addr_file: writing {}", file.display()))?;
    }
    let node = node.clone();
    tokio::spawn(async move {
        if let Err(e) = serve(listener, node, stop).await {
            tracing::error!(error = %e, "operator port stopped");
        }
    });
    Ok(Some(bound))
}
