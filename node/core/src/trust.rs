//! What a node trusts right now: the signed zone directory (last good one kept; see
//! [`crate::directory`]), its TLS configurations, and the CRL. Reloaded on SIGHUP, on the
//! operator's `Reload` call, and when the files change. A reload also sets what live
//! connections are refused ([`crate::tls::Revocation`]: the CRL's serials on both faces, the
//! directory's pinned node certificates on the peer face) and wakes them to look again.

use crate::config::NodeConfig;
use crate::directory::DirectoryInForce;
use crate::tls::{
    RevokedSerials, ServerTls, TlsFiles, client_config, console_server_config, server_config_for,
};
use hfx_certs::Directory;
use rustls::ClientConfig;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("directory {path}: {detail}")]
    Directory { path: PathBuf, detail: String },
}

pub struct Trust {
    files: TlsFiles,
    root_key: RwLock<Vec<u8>>,
    directory: DirectoryInForce,
    client: RwLock<Arc<ClientConfig>>,
    /// Bumped whenever the client configuration or directory changes: peer channels rebuild.
    generation: std::sync::atomic::AtomicU64,
    pub peer_tls: ServerTls,
    pub local_tls: ServerTls,
    /// The web console's listener (hfx-console): person certificates, as on the local face.
    pub console_tls: ServerTls,
    stamps: std::sync::Mutex<Vec<Option<SystemTime>>>,
}

/// Outcome of one reload.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub directory: Result<u64, String>,
    pub tls: Result<(), String>,
}

fn read_root_key(files: &TlsFiles) -> Result<Vec<u8>, TrustError> {
    let file_err = |source: crate::error::BoxError| crate::tls::TlsError::File {
        path: files.root.clone(),
        source,
    };
    let pem = std::fs::read_to_string(&files.root).map_err(|e| file_err(Box::new(e)))?;
    hfx_certs::pki::root_public_key(&pem)
        .map_err(|e| file_err(e.into()))
        .map_err(TrustError::from)
}

impl Trust {
    pub fn load(cfg: &NodeConfig) -> Result<Self, TrustError> {
        let files = cfg.tls_files();
        let root_key = read_root_key(&files)?;
        let directory_path = cfg.resolve(&cfg.directory.path);
        let last_good_path = cfg
            .base
            .join(format!("directory.last-good.{}.json", cfg.centre));
        let directory = DirectoryInForce::load(directory_path.clone(), last_good_path, &root_key)
            .map_err(|detail| TrustError::Directory {
            path: directory_path.clone(),
            detail,
        })?;
        if directory.current().centre(&cfg.centre).is_none() {
            return Err(TrustError::Directory {
                path: directory_path,
                detail: format!("centre {} is not in the directory", cfg.centre),
            });
        }
        let trust = Self {
            peer_tls: ServerTls::new(server_config_for(&files, "peer")?),
            local_tls: ServerTls::new(server_config_for(&files, "local")?),
            console_tls: ServerTls::new(console_server_config(&files)?),
            client: RwLock::new(Arc::new(client_config(&files)?)),
            root_key: RwLock::new(root_key),
            directory,
            generation: 0.into(),
            stamps: std::sync::Mutex::new(Vec::new()),
            files,
        };
        trust.set_revoked(RevokedSerials::load(&trust.files.crl)?);
        trust.set_admitted();
        trust.changed();
        Ok(trust)
    }

    /// The CRL in force for calls on live connections of both faces.
    fn set_revoked(&self, revoked: RevokedSerials) {
        self.peer_tls.revocation().set_revoked(revoked.clone());
        self.local_tls.revocation().set_revoked(revoked.clone());
        self.console_tls.revocation().set_revoked(revoked);
    }

    /// The peer face admits, on live connections, only the node certificates the directory
    /// in force pins.
    fn set_admitted(&self) {
        let pinned: HashSet<String> = self
            .directory()
            .centres
            .iter()
            .map(|c| c.tls_fingerprint.clone())
            .collect();
        self.peer_tls.revocation().set_admitted(Some(pinned));
    }

    /// The directory in force.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.current()
    }

    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.client
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn watched(&self) -> [&Path; 5] {
        [
            &self.files.root,
            &self.files.crl,
            &self.files.cert,
            &self.files.key,
            self.directory.path(),
        ]
    }

    /// True when any watched file's modification time differs from the last look.
    pub fn changed(&self) -> bool {
        let now: Vec<_> = self
            .watched()
            .iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect();
        let mut g = match self.stamps.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if *g != now {
            *g = now;
            true
        } else {
            false
        }
    }

    /// Re-read certificates, CRL and directory. A bad directory is refused and the last good
    /// one kept; bad TLS files leave the current TLS configuration in place.
    pub fn reload(&self) -> ReloadReport {
        let tls = (|| -> Result<(), String> {
            let text = |e: &dyn std::error::Error| crate::error::chain(e);
            let root_key = read_root_key(&self.files).map_err(|e| text(&e))?;
            let peer = server_config_for(&self.files, "peer").map_err(|e| text(&e))?;
            let local = server_config_for(&self.files, "local").map_err(|e| text(&e))?;
            let console = console_server_config(&self.files).map_err(|e| text(&e))?;
            let client = client_config(&self.files).map_err(|e| text(&e))?;
            let revoked = RevokedSerials::load(&self.files.crl).map_err(|e| text(&e))?;
            self.set_revoked(revoked);
            self.peer_tls.swap(peer);
            self.local_tls.swap(local);
            self.console_tls.swap(console);
            if let Ok(mut g) = self.client.write() {
                *g = Arc::new(client);
            }
            if let Ok(mut g) = self.root_key.write() {
                *g = root_key;
            }
            Ok(())
        })();
        let root_key = self.root_key.read().map(|g| g.clone()).unwrap_or_default();
        let directory = self.directory.reload(&root_key);
        self.set_admitted();
        // Live connections whose certificate is now revoked or unpinned close themselves.
        self.peer_tls.revocation().notify();
        self.local_tls.revocation().notify();
        self.console_tls.revocation().notify();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        match &directory {
            Ok(v) => tracing::info!(version = v, "directory in force"),
            Err(e) => {
                tracing::warn!(error = %e, version = self.directory().version, "directory refused; keeping the last good one")
            }
        }
        match &tls {
            Ok(()) => tracing::info!("tls certificates and crl reloaded"),
            Err(e) => {
                tracing::warn!(error = %e, "tls reload failed; keeping the current configuration")
            }
        }
        ReloadReport { directory, tls }
    }
}
