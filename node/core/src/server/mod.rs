//! Running a node: the gRPC faces ([`peer`]: other centres' nodes; [`local`]: the centre's
//! own people) and the loops beside them (trust reload, checkpoint signing, cosignature
//! collection). Handlers only authenticate, call a business room, and map errors
//! (crate::error). Servers take already-bound listeners ([`run_with_listeners`]); [`run`]
//! binds them from the configuration.

pub mod lease;
pub mod local;
pub mod peer;
pub mod trace_layer;
pub mod wire_errors;

use crate::config::NodeConfig;
use crate::node::Node;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::Server;

/// Addresses a started node listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// A face served beside the gRPC ones, started once the node is open (the web console,
/// hfx-console, which hfx-node cannot name): given the node and a future that resolves at
/// shutdown, it binds what its configuration names and returns the address, or None when
/// the configuration leaves it off.
pub type Face =
    Box<dyn FnOnce(Arc<Node>, Stop) -> BoxFuture<anyhow::Result<Option<SocketAddr>>> + Send>;
/// Resolves when the node shuts down.
pub type Stop = BoxFuture<()>;
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

/// Bind the peer and local listeners the configuration names.
pub async fn bind(cfg: &NodeConfig) -> anyhow::Result<(TcpListener, TcpListener)> {
    let peer_addr = &cfg.listen.peer;
    let local_addr = &cfg.listen.local;
    let peer = TcpListener::bind(peer_addr)
        .await
        .with_context(|| format!("listen.peer: binding {peer_addr}"))?;
    let local = TcpListener::bind(local_addr)
        .await
        .with_context(|| format!("listen.local: binding {local_addr}"))?;
    Ok((peer, local))
}

/// Start a node on the addresses its configuration names and serve until `shutdown`
/// resolves. `on_ready` is told the bound addresses.
pub async fn run(
    cfg: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let (peer, local) = bind(&cfg).await?;
    run_with_listeners(cfg, peer, local, shutdown, on_ready).await
}

/// Start a node on already-bound listeners (the configuration's `listen` addresses are not
/// bound again) and serve until `shutdown` resolves. `on_ready` is told the bound addresses.
pub async fn run_with_listeners(
    cfg: NodeConfig,
    peer_listener: TcpListener,
    local_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    run_with_faces(
        cfg,
        peer_listener,
        local_listener,
        Vec::new(),
        shutdown,
        on_ready,
    )
    .await
}

/// [`run_with_listeners`] with more [`Face`]s served beside the gRPC ones.
pub async fn run_with_faces(
    cfg: NodeConfig,
    peer_listener: TcpListener,
    local_listener: TcpListener,
    faces: Vec<Face>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let bound = Bound {
        peer: peer_listener.local_addr()?,
        local: local_listener.local_addr()?,
    };
    let node = Node::open(cfg).await?;
    // Never serve (or sign) on a store behind what the witnesses cosigned (docs/backup.md).
    crate::backup::check_witnesses(&node).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    tokio::spawn(reload_loop(node.clone(), stop_rx.clone()));
    tokio::spawn(checkpoint_loop(node.clone(), stop_rx.clone()));
    tokio::spawn(witness_loop(node.clone(), stop_rx.clone()));
    // The transfer relay and driver: now, or once this process holds the writer lease.
    lease::start(node.clone(), stop_rx.clone());

    // The operator port (docs/metrics.md), if `[ops] listen` names one.
    let ops = crate::ops::start(&node, stopped(stop_rx.clone())).await?;
    let mut console = None;
    for face in faces {
        if let Some(addr) = face(node.clone(), Box::pin(stopped(stop_rx.clone()))).await? {
            console = Some(addr);
        }
    }
    let peer_srv = peer::server(node.clone());
    let local_srv = local::server(node.clone());
    let peer_incoming = crate::tls::incoming(peer_listener, node.trust.peer_tls.clone(), "peer");
    let local_incoming =
        crate::tls::incoming(local_listener, node.trust.local_tls.clone(), "local");
    let dir = node.trust.directory();
    tracing::info!(
        centre = %node.centre,
        peer = %bound.peer,
        local = %bound.local,
        ops = %ops.map_or_else(|| "off".to_string(), |a| a.to_string()),
        console = %console.map_or_else(|| "off".to_string(), |a| a.to_string()),
        directory_version = dir.version,
        adapter = node.core.kind(),
        store = node.store.kind().as_str(),
        log_size = node.store.log().lock().await.size(),
        "node ready"
    );
    on_ready(bound);
    let a = tokio::spawn(
        peer_srv.serve_with_incoming_shutdown(peer_incoming, stopped(stop_rx.clone())),
    );
    let b = tokio::spawn(
        local_srv.serve_with_incoming_shutdown(local_incoming, stopped(stop_rx.clone())),
    );
    let (ra, rb) = tokio::join!(a, b);
    ra.context("peer server task")?.context("peer server")?;
    rb.context("local server task")?.context("local server")?;
    // Sign what was appended during the last moments, so the final state is covered.
    if let Err(e) = node.sign_checkpoint().await {
        tracing::warn!(error = %format!("{e:#}"), "final checkpoint not signed");
    }
    tracing::info!(centre = %node.centre, "node stopped");
    Ok(())
}

async fn reload_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "no SIGHUP handler; reload by file watch only");
            None
        }
    };
    let poll = node.cfg.limits.reload_poll_secs;
    let mut tick = tokio::time::interval(Duration::from_secs(poll.max(1)));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending::<()>().await } } => {
                tracing::info!("SIGHUP: reloading");
                node.trust.changed();
                node.trust.reload();
            }
            _ = tick.tick(), if poll > 0 => {
                if node.trust.changed() {
                    tracing::info!("trust files changed: reloading");
                    node.trust.reload();
                }
            }
        }
    }
}

async fn checkpoint_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        node.cfg.limits.checkpoint_interval_ms.max(50),
    ));
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                // A standby signs nothing: the lease holder keeps the log.
                if !node.serving.is_writer() {
                    continue;
                }
                if let Err(e) = node.sign_checkpoint().await {
                    tracing::error!(error = %format!("{e:#}"), "checkpoint signing failed");
                }
            }
        }
    }
}

/// Ask the peers to cosign our newest checkpoint; a slow or down witness delays only this
/// loop, never checkpoint signing.
async fn witness_loop(node: Arc<Node>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = Duration::from_millis(node.cfg.limits.witness_interval_ms.max(50));
    let mut tick = tokio::time::interval(Duration::from_millis(
        node.cfg.limits.checkpoint_interval_ms.max(50),
    ));
    let collector = crate::witness::Collector::default();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                if !node.serving.is_writer() {
                    continue;
                }
                if let Err(e) = collector.collect(&node, every).await {
                    tracing::debug!(error = %e.detail(), "cosignature collection incomplete");
                }
            }
        }
    }
}

type R<T> = Result<tonic::Response<T>, Status>;

fn health_and_reflection(
    node: &Arc<Node>,
) -> (
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    Option<
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
    >,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    // Health follows the writer lease and maintenance mode (NOT_SERVING on a standby).
    lease::drive_health(node.clone(), reporter);
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hfx_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::warn!(error = %e, "reflection unavailable"))
        .ok();
    (health, reflection)
}

/// The layers both servers have ([`builder`]); a server may add its own on top.
pub type ServerLayers = tower::layer::util::Stack<
    wire_errors::WireErrorsLayer,
    tower::layer::util::Stack<
        crate::ops::grpc::ServerMetricsLayer,
        tower::layer::util::Stack<trace_layer::TraceLayer, tower::layer::util::Identity>,
    >,
>;
/// A router made from [`builder`].
pub type Router<L = ServerLayers> = tonic::transport::server::Router<L>;

/// Both servers' settings, with gRPC's own refusals given their codes and reasons
/// ([`wire_errors`]), and counted by `metrics` (outside the rewriting, so the code counted is
/// the one the caller gets; docs/metrics.md).
fn builder(metrics: crate::ops::grpc::ServerMetricsLayer) -> Server<ServerLayers> {
    Server::builder()
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .concurrency_limit_per_connection(256)
        // Outermost, so the span covers every refusal below it too (docs/tracing.md).
        .layer(trace_layer::TraceLayer)
        .layer(metrics)
        .layer(wire_errors::WireErrorsLayer)
}
