//! A running node: its parts, and `run`, which serves the peer and local APIs until shutdown.

use crate::config::NodeConfig;
use crate::log::LogState;
use crate::log::note::{Checkpoint, NoteSigner};
use crate::peers::Peers;
use crate::store::Store;
use crate::trust::Trust;
use anyhow::Context;
use hfx_adapters::CoreSystem;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub struct Node {
    pub centre: String,
    pub cfg: NodeConfig,
    pub trust: Arc<Trust>,
    pub store: Store,
    pub core: Arc<dyn CoreSystem>,
    pub peers: Peers,
    pub signer: NoteSigner,
    pub started: Instant,
    pub collector: crate::witness::Collector,
    /// Serialises the witness's check-and-store against gossip, so a contradicting checkpoint
    /// arriving by both paths at once is always compared with the other.
    pub witness_lock: tokio::sync::Mutex<()>,
}

/// Open the core system an adapter config names (relative paths from the config's folder).
pub async fn open_core(cfg: &NodeConfig) -> anyhow::Result<Arc<dyn CoreSystem>> {
    let mut settings = cfg.adapter.clone();
    settings.path = settings.path.map(|p| cfg.resolve(&p));
    hfx_adapters::open::open(&settings)
        .await
        .with_context(|| format!("adapter ({}): opening the core system", settings.kind))
}

/// Addresses a started node listens on.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

impl Node {
    pub async fn open(cfg: NodeConfig) -> anyhow::Result<Arc<Node>> {
        let trust =
            Arc::new(Trust::load(&cfg).context("loading trust (certificates, CRL, directory)")?);
        let dir = trust.directory();
        let sk_path = cfg.resolve(&cfg.signing.key);
        let sk_pem = std::fs::read_to_string(&sk_path)
            .with_context(|| format!("signing.key: {}", sk_path.display()))?;
        let sk = hfx_certs::SigningKeyPair::from_pem(&sk_pem)
            .with_context(|| format!("signing.key: {}", sk_path.display()))?;
        let signer =
            NoteSigner::from_pkcs8(&crate::log::origin(&dir.zone, &cfg.centre), sk.pkcs8())
                .map_err(|e| anyhow::anyhow!("signing.key: {e}"))?;
        let store = Store::open(&cfg.store_url(), LogState::new())
            .await
            .context("opening the store")?;
        let core = open_core(&cfg).await?;
        let peers = Peers::new(
            trust.clone(),
            Duration::from_millis(cfg.limits.peer_timeout_ms),
        );
        Ok(Arc::new(Node {
            centre: cfg.centre.clone(),
            cfg,
            trust,
            store,
            core,
            peers,
            signer,
            started: Instant::now(),
            collector: crate::witness::Collector::default(),
            witness_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Sign a checkpoint of the current tree if it grew since the last one.
    pub async fn sign_checkpoint(&self) -> anyhow::Result<Option<u64>> {
        let log = self.store.log().lock().await;
        let size = log.size();
        let last = sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT size, root FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.store.pool())
        .await?;
        if let Some((last_size, last_root)) = &last {
            if *last_size as u64 >= size {
                return Ok(None);
            }
            // Never sign a checkpoint that does not extend the last one.
            let at = log.tree().root_at(*last_size as u64);
            if at.map(|r| r.to_vec()) != Some(last_root.clone()) {
                tracing::error!(
                    last_size,
                    "log does not extend the last signed checkpoint; refusing to sign"
                );
                anyhow::bail!("log does not extend the last signed checkpoint");
            }
        }
        if size == 0 {
            return Ok(None);
        }
        let root = log.tree().root();
        drop(log);
        let cp = Checkpoint::new(self.signer.name(), size, root);
        let note = cp
            .sign(&[&self.signer])
            .map_err(|e| anyhow::anyhow!("signing checkpoint: {e}"))?;
        sqlx::query(
            "INSERT INTO log_checkpoints (size, root, note, at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(size as i64)
        .bind(root.to_vec())
        .bind(note)
        .bind(crate::now_ms())
        .execute(self.store.pool())
        .await?;
        Ok(Some(size))
    }

    /// The newest signed checkpoint note, if any.
    pub async fn latest_checkpoint(&self) -> anyhow::Result<Option<(u64, String)>> {
        let row = sqlx::query_as::<_, (i64, String)>(
            "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.map(|(s, n)| (s as u64, n)))
    }
}

/// Start a node and serve until `shutdown` resolves. `on_ready` is told the bound addresses.
pub async fn run(
    cfg: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let peer_addr = cfg.listen.peer.clone();
    let local_addr = cfg.listen.local.clone();
    let node = Node::open(cfg).await?;
    let peer_listener = TcpListener::bind(&peer_addr)
        .await
        .with_context(|| format!("listen.peer: binding {peer_addr}"))?;
    let local_listener = TcpListener::bind(&local_addr)
        .await
        .with_context(|| format!("listen.local: binding {local_addr}"))?;
    let bound = Bound {
        peer: peer_listener.local_addr()?,
        local: local_listener.local_addr()?,
    };

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

    let peer_srv = crate::services::peer_server(node.clone());
    let local_srv = crate::services::local_server(node.clone());
    let peer_incoming = crate::tls::incoming(peer_listener, node.trust.peer_tls.clone(), "peer");
    let local_incoming =
        crate::tls::incoming(local_listener, node.trust.local_tls.clone(), "local");
    let dir = node.trust.directory();
    tracing::info!(
        centre = %node.centre,
        peer = %bound.peer,
        local = %bound.local,
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
        tracing::warn!(error = %e, "final checkpoint not signed");
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
                if let Err(e) = node.sign_checkpoint().await {
                    tracing::error!(error = %e, "checkpoint signing failed");
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
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {
                if let Err(e) = node.collector.collect(&node, every).await {
                    tracing::debug!(error = %e, "cosignature collection incomplete");
                }
            }
        }
    }
}
