//! The signed zone directory in force: which centres exist, where they are, which TLS
//! certificate and checkpoint key each has, and the witness quorum. The directory is signed
//! by the zone root; a new one replaces the one in force only if it is a valid successor, and
//! the last good one is kept on disk so a node restarts on it when the file offered is older,
//! tampered with or expired. Lookups that peers, authentication and witnessing make go
//! through here, so "not in the directory" reads the same everywhere.

use crate::error::{HfxError, HfxResult};
use crate::log::note::NoteVerifier;
use base64::Engine;
use hfx_certs::{CentreEntry, Directory, SignedDirectory};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The directory in force and the files it comes from.
pub struct DirectoryInForce {
    path: PathBuf,
    last_good_path: PathBuf,
    current: RwLock<Arc<Directory>>,
}

/// Read and verify a signed directory file against the zone root's key.
fn load_file(path: &Path, root_key: &[u8]) -> Result<(Directory, String), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let signed = SignedDirectory::from_json(&text).map_err(|e| e.to_string())?;
    let dir = signed
        .verify(root_key, hfx_certs::zonedir::now_unix())
        .map_err(|e| e.to_string())?;
    Ok((dir, text))
}

impl DirectoryInForce {
    /// The directory at `path`, or the last good one (kept at `last_good_path`) when the
    /// file is refused or is not a successor of it. `Err` names why neither can be used.
    pub fn load(path: PathBuf, last_good_path: PathBuf, root_key: &[u8]) -> Result<Self, String> {
        let last_good = load_file(&last_good_path, root_key).ok().map(|(d, _)| d);
        let directory = match (load_file(&path, root_key), last_good) {
            (Ok((d, _)), Some(good)) if good.check_successor(&d).is_err() && good != d => {
                tracing::warn!(path = %path.display(), offered = d.version, version = good.version, "directory file is not newer than the last good one; serving on the last good one");
                good
            }
            (Ok((d, text)), _) => {
                let _ = hfx_certs::zonedir::write_atomic(&last_good_path, text.as_bytes());
                d
            }
            (Err(e), Some(good)) => {
                tracing::warn!(path = %path.display(), error = %e, version = good.version, "directory refused; serving on the last good one");
                good
            }
            (Err(e), None) => return Err(e),
        };
        Ok(Self {
            path,
            last_good_path,
            current: RwLock::new(Arc::new(directory)),
        })
    }

    /// Where the directory file is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory in force.
    pub fn current(&self) -> Arc<Directory> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-read the file; a valid successor replaces the directory in force (and becomes the
    /// last good one). Returns the version in force, or why the file was refused.
    pub fn reload(&self, root_key: &[u8]) -> Result<u64, String> {
        let (next, text) = load_file(&self.path, root_key)?;
        let current = self.current();
        if next == *current {
            return Ok(current.version);
        }
        current.check_successor(&next).map_err(|e| e.to_string())?;
        let v = next.version;
        let _ = hfx_certs::zonedir::write_atomic(&self.last_good_path, text.as_bytes());
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(next);
        }
        Ok(v)
    }
}

/// The entry of `centre`, which must be in `dir`.
pub fn lookup<'d>(dir: &'d Directory, centre: &str) -> HfxResult<&'d CentreEntry> {
    dir.centre(centre).ok_or_else(|| {
        HfxError::NotFound(format!(
            "centre {centre} is not in directory version {}",
            dir.version
        ))
    })
}

/// The checkpoint-signing key `dir` lists for `centre`.
pub fn checkpoint_verifier(dir: &Directory, centre: &str) -> HfxResult<NoteVerifier> {
    let entry = lookup(dir, centre)?;
    let pk = base64::engine::general_purpose::STANDARD
        .decode(&entry.signing_key)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| HfxError::internal(format!("directory: bad signing key for {centre}")))?;
    NoteVerifier::new(&crate::log::origin(&dir.zone, centre), pk)
        .map_err(|e| HfxError::internal_from(format!("directory: signing key for {centre}"), e))
}
