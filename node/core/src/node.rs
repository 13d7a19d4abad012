//! A node's state: its parts (trust, store, core system, peers, signer), opened from a
//! configuration, and what it does to its own log (sign checkpoints). No serving here: the
//! gRPC faces and the loops that run a node are in [`crate::server`].

use crate::config::NodeConfig;
use crate::log::LogState;
use crate::log::note::{Checkpoint, NoteSigner};
use crate::peers::Peers;
use crate::store::{Store, StoreError};
use crate::trust::Trust;
use anyhow::Context;
use hfx_adapters::CoreSystem;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Node {
    pub centre: String,
    pub cfg: NodeConfig,
    pub trust: Arc<Trust>,
    pub store: Store,
    pub core: Arc<dyn CoreSystem>,
    pub peers: Peers,
    pub signer: NoteSigner,
    pub started: Instant,
    /// Serialises the witness's check-and-store against gossip, so a contradicting checkpoint
    /// arriving by both paths at once is always compared with the other.
    pub witness_lock: tokio::sync::Mutex<()>,
    /// The settlement bank transfers pay out through (None: this node takes no transfers).
    pub bank: Option<Arc<dyn hfx_adapters::bank::SettlementBank>>,
    /// Transfer cases: per-case locks, the relay's and driver's wake-ups.
    pub transfers: crate::transfer::Transfers,
    /// Which peers may ask which purposes, how often: the `[policy]` and its rate buckets.
    pub admission: crate::policy::Admission,
    /// Writer lease and maintenance mode: whether this process serves.
    pub serving: crate::serving::Serving,
    /// The metrics the operator port serves.
    pub metrics: crate::ops::Metrics,
}

impl Node {
    /// Admit a peer's request for `purpose` (a policy purpose name) by the `[policy]`: its
    /// purpose list and its rate ([`crate::policy`]).
    pub fn admit(&self, peer: &str, purpose: &str) -> Result<(), crate::error::HfxError> {
        self.admission.admit(&self.cfg.policy, peer, purpose)
    }
}

/// The `[adapter]` settings with every file path (core file, vendor CA, client certificate
/// and key) resolved from the config's folder.
pub fn adapter_settings(cfg: &NodeConfig) -> hfx_adapters::open::AdapterSettings {
    let mut settings = cfg.adapter.clone();
    for p in [
        &mut settings.path,
        &mut settings.ca_file,
        &mut settings.client_cert_file,
        &mut settings.client_key_file,
    ] {
        *p = p.take().map(|p| cfg.resolve(&p));
    }
    settings
}

/// Open the core system an adapter config names (relative paths from the config's folder).
pub async fn open_core(cfg: &NodeConfig) -> anyhow::Result<Arc<dyn CoreSystem>> {
    let settings = adapter_settings(cfg);
    hfx_adapters::open::open(&settings)
        .await
        .with_context(|| format!("adapter ({}): opening the core system", settings.kind))
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
                .with_context(|| format!("signing.key: {}", sk_path.display()))?;
        let store = Store::open(&cfg.store_url(), LogState::new())
            .await
            .context("opening the store")?;
        let metrics = crate::ops::Metrics::new(store.commit_metrics(), cfg.ops.listen.is_some());
        // Every adapter call gets a span (docs/tracing.md).
        let core = crate::telemetry::adapter::traced(open_core(&cfg).await?);
        // ... and is timed and counted (docs/metrics.md).
        let core = crate::ops::core::MeteredCore::wrap(core, &metrics.adapter);
        let peers = Peers::new(
            trust.clone(),
            Duration::from_millis(cfg.limits.peer_timeout_ms),
        )
        .with_metrics(metrics.client.clone());
        let bank: Option<Arc<dyn hfx_adapters::bank::SettlementBank>> = match &cfg.transfer.bank_url
        {
            Some(url) => Some(Arc::new(
                hfx_adapters::bank::HttpBank::new(
                    url,
                    Duration::from_millis(cfg.transfer.bank_timeout_ms),
                )
                .with_context(|| format!("transfer.bank_url: {url}"))?,
            )),
            None => None,
        };
        let crash_at = cfg.transfer.crash_point();
        let transfers = crate::transfer::Transfers::new(&cfg.centre, crash_at);
        Ok(Arc::new(Node {
            bank,
            transfers,
            centre: cfg.centre.clone(),
            cfg,
            trust,
            store,
            core,
            peers,
            signer,
            started: Instant::now(),
            witness_lock: tokio::sync::Mutex::new(()),
            admission: crate::policy::Admission::default(),
            serving: crate::serving::Serving::default(),
            metrics,
        }))
    }

    /// Sign a checkpoint of the current tree if it grew since the last one.
    pub async fn sign_checkpoint(&self) -> anyhow::Result<Option<u64>> {
        // One right edge for the size, the root and the check (the log may grow meanwhile).
        let tree = self.store.log().lock().await.tree().clone();
        let size = tree.size();
        let last = self.store.last_checkpoint_root().await?;
        if let Some((last_size, last_root)) = &last {
            if *last_size >= size {
                return Ok(None);
            }
            // Never sign a checkpoint that does not extend the last one.
            let at = self.store.root_at_in(&tree, *last_size).await?;
            if at.map(|r| r.to_vec()).as_ref() != Some(last_root) {
                anyhow::bail!(
                    "log does not extend the last signed checkpoint (size {last_size}); refusing to sign"
                );
            }
        }
        if size == 0 {
            return Ok(None);
        }
        let root = tree.root();
        let cp = Checkpoint::new(self.signer.name(), size, root);
        let note = cp.sign(&[&self.signer]).context("signing checkpoint")?;
        self.store.add_checkpoint(size, &root, &note).await?;
        Ok(Some(size))
    }

    /// The newest signed checkpoint: (size, note), if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.store.latest_checkpoint().await
    }
}
