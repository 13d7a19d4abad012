//! hfx PKI: the zone root of trust, node and person certificates, CRLs, Ed25519 signing keys,
//! and the signed zone directory (DESIGN.md §2).
//!
//! The zone root key is Ed25519. It signs certificates, CRLs and the directory, so a node
//! needs nothing but the root certificate to check all three. Node and person TLS keys are
//! ECDSA P-256 (fast handshakes). Log-signing keys are separate Ed25519 keys so evidence
//! outlives TLS keys and certificate rotation.
#![forbid(unsafe_code)]

pub mod directory;
pub mod identity;
pub mod pki;
pub mod zone;
pub mod zonedir;

pub use directory::{CentreEntry, Directory, DirectoryError, SignedDirectory};
pub use identity::{Identity, Role, cert_fingerprint, node_dns_name, parse_identity};
pub use pki::{IssuedCert, PkiError, RevokedEntry, SigningKeyPair, Validity, ZoneRoot};
pub use zone::{ZoneCentre, ZoneConfig, ZoneConfigError};
pub use zonedir::ZoneDir;
