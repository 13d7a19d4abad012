//! Channels to other centres' nodes, built from the directory (endpoint, pinned certificate
//! fingerprint) and rebuilt when the directory or our certificates change.

use crate::error::HfxError;
use crate::trust::Trust;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

mod failover;

/// A channel to a peer centre: over each of its endpoints in turn ([`failover`]), each call
/// traced, with W3C trace context (crate::telemetry::client).
/// Counted and timed as one call however many endpoints it tried (crate::ops::client).
pub type PeerChannel = crate::ops::client::Metered<failover::FailoverChannel>;

pub struct Peers {
    trust: Arc<Trust>,
    timeout: Duration,
    cache: Mutex<HashMap<String, (u64, failover::Endpoints)>>,
    metrics: crate::ops::client::ClientMetrics,
}

impl Peers {
    pub fn new(trust: Arc<Trust>, timeout: Duration) -> Self {
        Self {
            trust,
            timeout,
            cache: Mutex::new(HashMap::new()),
            metrics: Default::default(),
        }
    }

    /// Count and time every call on channels handed out from now on in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::ops::client::ClientMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    fn metered(&self, ch: failover::FailoverChannel, centre: &str) -> PeerChannel {
        crate::ops::client::Metered::new(ch, centre, &self.metrics)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A channel to `centre`, which must be in the directory.
    pub fn channel(&self, centre: &str) -> Result<PeerChannel, HfxError> {
        let generation = self.trust.generation();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, eps)) = cache.get(centre)
            && *g == generation
        {
            return Ok(self.metered(
                failover::FailoverChannel::new(eps, centre, self.timeout),
                centre,
            ));
        }
        let dir = self.trust.directory();
        let entry = crate::directory::lookup(&dir, centre)?;
        // One lazily connecting channel per endpoint of the centre, the first one first.
        let mut channels: Vec<Channel> = Vec::new();
        for addr in entry.all_endpoints() {
            channels.push(
                crate::tls::channel(
                    self.trust.client_config(),
                    addr,
                    hfx_certs::node_dns_name(centre),
                    Some(entry.tls_fingerprint.clone()),
                    self.timeout,
                )
                .map_err(|e| HfxError::internal_from(format!("channel to {centre}"), e))?,
            );
        }
        let eps = failover::Endpoints::new(channels);
        let ch = self.metered(
            failover::FailoverChannel::new(&eps, centre, self.timeout),
            centre,
        );
        cache.insert(centre.to_string(), (generation, eps));
        Ok(ch)
    }
}
