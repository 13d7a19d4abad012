//! What the fuzz targets share: fixed keys (so the checked-in seeds, signed with the same keys
//! by `make-seeds`, get past signature checks), a scratch folder per process for the decoders
//! that read files, and small helpers.
#![forbid(unsafe_code)]

use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Progress callbacks of the audit readers: ignored.
pub fn quiet(_: u64, _: u64) {}

/// An Ed25519 key from a fixed label: seed = SHA-256(label). `make-seeds` derives the same.
pub fn key(label: &str) -> Ed25519KeyPair {
    let seed = Sha256::digest(label.as_bytes());
    match Ed25519KeyPair::from_seed_unchecked(&seed) {
        Ok(k) => k,
        Err(_) => panic!("a 32-byte seed is always a valid Ed25519 seed"),
    }
}

pub fn public_key(k: &Ed25519KeyPair) -> [u8; 32] {
    let mut pk = [0u8; 32];
    pk.copy_from_slice(k.public_key().as_ref());
    pk
}

/// The zone root the seed directories are signed with.
pub const ROOT_LABEL: &str = "hfx-fuzz zone root";
/// The witness that cosigned the seed checkpoints.
pub const WITNESS_LABEL: &str = "hfx-fuzz witness";
pub const WITNESS_NAME: &str = "witness.hfx-fuzz.example";
/// The centre whose checkpoints the seeds carry (its key is in the seed directories).
pub const CENTRE_LABEL: &str = "hfx-fuzz centre";
pub const ZONE: &str = "huaihai";
pub const CENTRE: &str = "320300000000000";
pub const PEER: &str = "320100000000000";

/// The zone root's key pair, made once.
pub fn root() -> &'static Ed25519KeyPair {
    static K: OnceLock<Ed25519KeyPair> = OnceLock::new();
    K.get_or_init(|| key(ROOT_LABEL))
}

/// Domain separation of directory signatures (certs/src/directory.rs `CONTEXT`).
pub const DIRECTORY_CONTEXT: &[u8] = b"hfx-directory-v1\n";

/// A folder of this process's own under the system temp folder, made once.
pub fn scratch() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hfx-fuzz-{}", std::process::id()));
        if std::fs::create_dir_all(&d).is_err() {
            panic!("cannot create the scratch folder {}", d.display());
        }
        d
    })
}

/// Cut `data` at the first `sep` byte: (before, after). Lets one input feed two parameters.
pub fn split2(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
