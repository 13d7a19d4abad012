//! The zone directory: a versioned, expiring list of centres signed by the zone root.
//!
//! A node refuses a directory whose signature, version order or expiry is wrong and keeps
//! serving on the last good one ([`Directory::check_successor`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Domain separation for directory signatures.
const CONTEXT: &[u8] = b"hfx-directory-v1\n";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    #[error("directory is malformed: {0}")]
    Malformed(String),
    #[error("directory signature does not verify with the zone root key")]
    BadSignature,
    #[error("directory version {version} expired at {expires_at_unix} (now {now_unix})")]
    Expired {
        version: u64,
        expires_at_unix: i64,
        now_unix: i64,
    },
    #[error("directory version {offered} is not newer than the current version {current}")]
    NotNewer { offered: u64, current: u64 },
    #[error("directory is for zone {offered:?}, this node serves zone {current:?}")]
    WrongZone { offered: String, current: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CentreEntry {
    /// 15-digit centre code.
    pub code: String,
    pub name: String,
    pub city: String,
    pub province: String,
    /// Peer API endpoint, host:port.
    pub endpoint: String,
    /// Further endpoints of the same centre (its standby processes, docs/failover.md), tried
    /// in order after `endpoint` when it refuses (UNAVAILABLE) or cannot be reached. Absent
    /// in older directories, and left out of the JSON when empty, so they read unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// SHA-256 (hex) of the node's current TLS certificate.
    pub tls_fingerprint: String,
    /// The node's Ed25519 signing public key, base64.
    pub signing_key: String,
    /// Core fund system kind (postgres, mariadb, sqlite, batchfile, vendorapi).
    pub core_system: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub zone: String,
    pub version: u64,
    pub issued_at_unix: i64,
    pub expires_at_unix: i64,
    /// Peer cosignatures a checkpoint needs (DESIGN.md §5).
    #[serde(default)]
    pub witness_quorum: u32,
    pub centres: Vec<CentreEntry>,
}

impl Directory {
    pub fn centre(&self, code: &str) -> Option<&CentreEntry> {
        self.centres.iter().find(|c| c.code == code)
    }
}

impl CentreEntry {
    /// Every endpoint of the centre, `endpoint` first, each once.
    pub fn all_endpoints(&self) -> Vec<String> {
        let mut out = vec![self.endpoint.clone()];
        for e in &self.endpoints {
            if !out.contains(e) {
                out.push(e.clone());
            }
        }
        out
    }
}

impl Directory {
    /// May `next` replace `self`? Same zone, strictly newer version.
    pub fn check_successor(&self, next: &Directory) -> Result<(), DirectoryError> {
        if next.zone != self.zone {
            return Err(DirectoryError::WrongZone {
                offered: next.zone.clone(),
                current: self.zone.clone(),
            });
        }
        if next.version <= self.version {
            return Err(DirectoryError::NotNewer {
                offered: next.version,
                current: self.version,
            });
        }
        Ok(())
    }

    /// Sign with the zone root's signing function.
    pub fn sign(
        &self,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, crate::PkiError>,
    ) -> Result<SignedDirectory, crate::PkiError> {
        let payload = serde_json::to_string_pretty(self).map_err(|e| crate::PkiError::Invalid {
            what: "directory".into(),
            detail: e.to_string(),
        })?;
        let mut msg = CONTEXT.to_vec();
        msg.extend_from_slice(payload.as_bytes());
        let sig = sign(&msg)?;
        Ok(SignedDirectory {
            payload,
            signature: B64.encode(sig),
        })
    }
}

/// A directory as distributed: the exact JSON payload and the root's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDirectory {
    pub payload: String,
    pub signature: String,
}

impl SignedDirectory {
    pub fn from_json(text: &str) -> Result<Self, DirectoryError> {
        serde_json::from_str(text).map_err(|e| DirectoryError::Malformed(e.to_string()))
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Check the signature with the zone root's public key and the expiry against `now_unix`.
    pub fn verify(
        &self,
        root_public_key: &[u8],
        now_unix: i64,
    ) -> Result<Directory, DirectoryError> {
        let sig = B64
            .decode(&self.signature)
            .map_err(|_| DirectoryError::BadSignature)?;
        let mut msg = CONTEXT.to_vec();
        msg.extend_from_slice(self.payload.as_bytes());
        if !crate::pki::verify_ed25519(root_public_key, &msg, &sig) {
            return Err(DirectoryError::BadSignature);
        }
        let dir: Directory = serde_json::from_str(&self.payload)
            .map_err(|e| DirectoryError::Malformed(e.to_string()))?;
        if dir.expires_at_unix <= now_unix {
            return Err(DirectoryError::Expired {
                version: dir.version,
                expires_at_unix: dir.expires_at_unix,
                now_unix,
            });
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZoneRoot;

    fn dir(version: u64, expires: i64) -> Directory {
        Directory {
            zone: "z".into(),
            version,
            issued_at_unix: 0,
            expires_at_unix: expires,
            witness_quorum: 1,
            centres: vec![],
        }
    }

    #[test]
    fn signed_directory_verifies_and_refuses_tampering_expiry_and_rollback() {
        let root = ZoneRoot::generate("z", 10).unwrap();
        let pk = root.public_key();
        let signed = dir(2, 1000).sign(|m| root.sign(m)).unwrap();
        let ok = signed.verify(&pk, 10).unwrap();
        assert_eq!(ok.version, 2);
        let mut tampered = signed.clone();
        tampered.payload = tampered.payload.replace("\"version\": 2", "\"version\": 3");
        assert_eq!(tampered.verify(&pk, 10), Err(DirectoryError::BadSignature));
        assert!(matches!(
            signed.verify(&pk, 1000),
            Err(DirectoryError::Expired { .. })
        ));
        let other = ZoneRoot::generate("z", 10).unwrap();
        assert_eq!(
            signed.verify(&other.public_key(), 10),
            Err(DirectoryError::BadSignature)
        );
        assert!(ok.check_successor(&dir(3, 1000)).is_ok());
        assert!(matches!(
            ok.check_successor(&dir(2, 1000)),
            Err(DirectoryError::NotNewer { .. })
        ));
        assert!(matches!(
            ok.check_successor(&dir(1, 1000)),
            Err(DirectoryError::NotNewer { .. })
        ));
    }

    #[test]
    fn further_endpoints_are_optional_and_left_out_when_empty() {
        let old = r#"{"code":"1","name":"n","city":"c","province":"p","endpoint":"a:1","tls_fingerprint":"f","signing_key":"k","core_system":"sqlite"}"#;
        let mut e: CentreEntry = serde_json::from_str(old).unwrap();
        assert!(e.endpoints.is_empty());
        assert!(!serde_json::to_string(&e).unwrap().contains("endpoints"));
        e.endpoints = vec!["b:2".into(), "a:1".into()];
        assert_eq!(e.all_endpoints(), ["a:1", "b:2"]);
        let back: CentreEntry = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
