//! The key history a verifier needs: which Ed25519 key the zone directory listed for each
//! centre, version by version. Keys rotate and are revoked by publishing a new directory, so
//! a certificate is checked against the directory in force when it was issued, not today's.
//!
//! A verifier gets the history as the signed directories themselves (the files the zone
//! root publishes, one per version, e.g. a folder of them), each checked here against the
//! zone root's Ed25519 key: no one but the root can add a key to the history.

use base64::Engine;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::Deserialize;

/// Domain separation of directory signatures (the same bytes `hfx_certs` signs with).
const DIRECTORY_CONTEXT: &[u8] = b"hfx-directory-v1\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("directory {which}: {why}")]
    Malformed { which: String, why: String },
    #[error("directory {which}: the signature does not verify with the zone root key")]
    BadSignature { which: String },
    #[error("directories of two zones ({0:?} and {1:?}) in one history")]
    MixedZones(String, String),
    #[error("directory version {0} appears twice with different contents")]
    Conflicting(u64),
    #[error("the history holds no directory")]
    Empty,
}

/// One directory version: when it was issued, until when, and each centre's signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySnapshot {
    pub zone: String,
    pub version: u64,
    pub issued_at_unix: i64,
    pub expires_at_unix: i64,
    /// (centre code, Ed25519 public key).
    pub keys: Vec<(String, [u8; 32])>,
}

#[derive(Deserialize)]
struct SignedFile {
    payload: String,
    signature: String,
}

#[derive(Deserialize)]
struct Payload {
    zone: String,
    version: u64,
    issued_at_unix: i64,
    expires_at_unix: i64,
    centres: Vec<PayloadCentre>,
}

#[derive(Deserialize)]
struct PayloadCentre {
    code: String,
    signing_key: String,
}

impl DirectorySnapshot {
    /// A signed directory file (`{"payload": ..., "signature": ...}`), its signature checked
    /// with the zone root's key. `which` names it in errors (a file name). Expiry is not
    /// checked: a past directory is expired by now and still says what was in force then.
    pub fn from_signed_json(
        which: &str,
        text: &str,
        root_public_key: &[u8],
    ) -> Result<Self, HistoryError> {
        let malformed = |why: String| HistoryError::Malformed {
            which: which.to_string(),
            why,
        };
        let file: SignedFile = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&file.signature)
            .map_err(|_| HistoryError::BadSignature {
                which: which.to_string(),
            })?;
        let mut msg = DIRECTORY_CONTEXT.to_vec();
        msg.extend_from_slice(file.payload.as_bytes());
        UnparsedPublicKey::new(&ED25519, root_public_key)
            .verify(&msg, &sig)
            .map_err(|_| HistoryError::BadSignature {
                which: which.to_string(),
            })?;
        let p: Payload =
            serde_json::from_str(&file.payload).map_err(|e| malformed(e.to_string()))?;
        let mut keys = Vec::with_capacity(p.centres.len());
        for c in p.centres {
            let key = base64::engine::general_purpose::STANDARD
                .decode(&c.signing_key)
                .ok()
                .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
                .ok_or_else(|| {
                    malformed(format!(
                        "centre {}: signing_key is not a 32-byte key",
                        c.code
                    ))
                })?;
            keys.push((c.code, key));
        }
        Ok(Self {
            zone: p.zone,
            version: p.version,
            issued_at_unix: p.issued_at_unix,
            expires_at_unix: p.expires_at_unix,
            keys,
        })
    }

    /// The key this directory lists for `centre`.
    pub fn key_of(&self, centre: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(c, _)| c == centre).map(|(_, k)| k)
    }
}

/// Directory versions of one zone, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHistory {
    snapshots: Vec<DirectorySnapshot>,
}

impl KeyHistory {
    /// A history from snapshots in any order; the same version twice must be the same.
    pub fn new(mut snapshots: Vec<DirectorySnapshot>) -> Result<Self, HistoryError> {
        snapshots.sort_by_key(|s| s.version);
        let first = snapshots.first().ok_or(HistoryError::Empty)?;
        if let Some(other) = snapshots.iter().find(|s| s.zone != first.zone) {
            return Err(HistoryError::MixedZones(
                first.zone.clone(),
                other.zone.clone(),
            ));
        }
        let mut out: Vec<DirectorySnapshot> = Vec::with_capacity(snapshots.len());
        for s in snapshots {
            match out.last() {
                Some(last) if last.version == s.version => {
                    if *last != s {
                        return Err(HistoryError::Conflicting(s.version));
                    }
                }
                _ => out.push(s),
            }
        }
        Ok(Self { snapshots: out })
    }

    pub fn snapshots(&self) -> &[DirectorySnapshot] {
        &self.snapshots
    }

    /// The directory in force at `t`: the newest version issued at or before `t`, if `t`
    /// is before its expiry.
    pub fn in_force_at(&self, t: i64) -> Option<&DirectorySnapshot> {
        self.snapshots
            .iter()
            .filter(|s| s.issued_at_unix <= t)
            .max_by_key(|s| s.version)
            .filter(|s| t < s.expires_at_unix)
    }

    /// Whether any version lists `centre`.
    pub fn knows(&self, centre: &str) -> bool {
        self.snapshots.iter().any(|s| s.key_of(centre).is_some())
    }

    /// Every distinct key any version lists for `centre`.
    pub fn keys_of(&self, centre: &str) -> Vec<[u8; 32]> {
        let mut keys: Vec<[u8; 32]> = Vec::new();
        for k in self.snapshots.iter().filter_map(|s| s.key_of(centre)) {
            if !keys.contains(k) {
                keys.push(*k);
            }
        }
        keys
    }
}
