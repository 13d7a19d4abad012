//! Channels to other centres' nodes, built from the directory (endpoint, pinned certificate
//! fingerprint) and rebuilt when the directory or our certificates change.

use crate::error::HfxError;
use crate::trust::Trust;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

pub struct Peers {
    trust: Arc<Trust>,
    timeout: Duration,
    cache: Mutex<HashMap<String, (u64, Channel)>>,
}

impl Peers {
    pub fn new(trust: Arc<Trust>, timeout: Duration) -> Self {
        Self {
            trust,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A channel to `centre`, which must be in the directory.
    pub fn channel(&self, centre: &str) -> Result<Channel, HfxError> {
        let generation = self.trust.generation();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, ch)) = cache.get(centre)
            && *g == generation
        {
            return Ok(ch.clone());
        }
        let dir = self.trust.directory();
        let entry = crate::directory::lookup(&dir, centre)?;
        let ch = crate::tls::channel(
            self.trust.client_config(),
            entry.endpoint.clone(),
            hfx_certs::node_dns_name(centre),
            Some(entry.tls_fingerprint.clone()),
            self.timeout,
        )
        .map_err(|e| HfxError::internal_from(format!("channel to {centre}"), e))?;
        cache.insert(centre.to_string(), (generation, ch.clone()));
        Ok(ch)
    }
}
