//! What a node trusts right now: the signed zone directory (last good one kept), its TLS
//! configurations, and the CRL. Reloaded on SIGHUP, on the operator's `Reload` call, and when
//! the files change.

use crate::config::NodeConfig;
use crate::tls::{ServerTls, TlsFiles, client_config, server_config};
use hfx_certs::{Directory, SignedDirectory};
use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("directory {path}: {detail}")]
    Directory { path: PathBuf, detail: String },
}

pub struct Trust {
    files: TlsFiles,
    directory_path: PathBuf,
    last_good_path: PathBuf,
    root_key: RwLock<Vec<u8>>,
    directory: RwLock<Arc<Directory>>,
    client: RwLock<Arc<ClientConfig>>,
    /// Bumped whenever the client configuration or directory changes: peer channels rebuild.
    generation: std::sync::atomic::AtomicU64,
    pub peer_tls: ServerTls,
    pub local_tls: ServerTls,
    stamps: std::sync::Mutex<Vec<Option<SystemTime>>>,
}

/// Outcome of one reload.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub directory: Result<u64, String>,
    pub tls: Result<(), String>,
}

fn read_root_key(files: &TlsFiles) -> Result<Vec<u8>, TrustError> {
    let pem = std::fs::read_to_string(&files.root).map_err(|e| crate::tls::TlsError::File {
        path: files.root.clone(),
        detail: e.to_string(),
    })?;
    hfx_certs::pki::root_public_key(&pem)
        .map_err(|e| crate::tls::TlsError::File {
            path: files.root.clone(),
            detail: e.to_string(),
        })
        .map_err(TrustError::from)
}

fn load_directory(path: &PathBuf, root_key: &[u8]) -> Result<(Directory, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let signed = SignedDirectory::from_json(&text).map_err(|e| e.to_string())?;
    let dir = signed
        .verify(root_key, hfx_certs::zonedir::now_unix())
        .map_err(|e| e.to_string())?;
    Ok((dir, text))
}

impl Trust {
    pub fn load(cfg: &NodeConfig) -> Result<Self, TrustError> {
        let files = cfg.tls_files();
        let root_key = read_root_key(&files)?;
        let directory_path = cfg.resolve(&cfg.directory.path);
        let last_good_path = cfg
            .base
            .join(format!("directory.last-good.{}.json", cfg.centre));
        let last_good = load_directory(&last_good_path, &root_key)
            .ok()
            .map(|(d, _)| d);
        let directory = match (load_directory(&directory_path, &root_key), last_good) {
            (Ok((d, _)), Some(good)) if good.check_successor(&d).is_err() && good != d => {
                tracing::warn!(path = %directory_path.display(), offered = d.version, version = good.version, "directory file is not newer than the last good one; serving on the last good one");
                good
            }
            (Ok((d, text)), _) => {
                let _ = hfx_certs::zonedir::write_atomic(&last_good_path, text.as_bytes());
                d
            }
            (Err(e), Some(good)) => {
                tracing::warn!(path = %directory_path.display(), error = %e, version = good.version, "directory refused; serving on the last good one");
                good
            }
            (Err(e), None) => {
                return Err(TrustError::Directory {
                    path: directory_path,
                    detail: e,
                });
            }
        };
        if directory.centre(&cfg.centre).is_none() {
            return Err(TrustError::Directory {
                path: directory_path,
                detail: format!("centre {} is not in the directory", cfg.centre),
            });
        }
        let trust = Self {
            peer_tls: ServerTls::new(server_config(&files)?),
            local_tls: ServerTls::new(server_config(&files)?),
            client: RwLock::new(Arc::new(client_config(&files)?)),
            root_key: RwLock::new(root_key),
            directory: RwLock::new(Arc::new(directory)),
            generation: 0.into(),
            stamps: std::sync::Mutex::new(Vec::new()),
            files,
            directory_path,
            last_good_path,
        };
        trust.changed();
        Ok(trust)
    }

    pub fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
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

    fn watched(&self) -> [&PathBuf; 5] {
        [
            &self.files.root,
            &self.files.crl,
            &self.files.cert,
            &self.files.key,
            &self.directory_path,
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
            let root_key = read_root_key(&self.files).map_err(|e| e.to_string())?;
            let peer = server_config(&self.files).map_err(|e| e.to_string())?;
            let local = server_config(&self.files).map_err(|e| e.to_string())?;
            let client = client_config(&self.files).map_err(|e| e.to_string())?;
            self.peer_tls.swap(peer);
            self.local_tls.swap(local);
            if let Ok(mut g) = self.client.write() {
                *g = Arc::new(client);
            }
            if let Ok(mut g) = self.root_key.write() {
                *g = root_key;
            }
            Ok(())
        })();
        let root_key = self.root_key.read().map(|g| g.clone()).unwrap_or_default();
        let directory = match load_directory(&self.directory_path, &root_key) {
            Err(e) => Err(e),
            Ok((next, text)) => {
                let current = self.directory();
                if next == *current {
                    Ok(current.version)
                } else {
                    match current.check_successor(&next) {
                        Err(e) => Err(e.to_string()),
                        Ok(()) => {
                            let v = next.version;
                            let _ = hfx_certs::zonedir::write_atomic(
                                &self.last_good_path,
                                text.as_bytes(),
                            );
                            if let Ok(mut g) = self.directory.write() {
                                *g = Arc::new(next);
                            }
                            Ok(v)
                        }
                    }
                }
            }
        };
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
