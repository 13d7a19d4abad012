//! Deposit-use certificates as signed attestations (docs/attestation.md): a COSE_Sign1
//! (RFC 9052) over a CWT claims set (RFC 8392), signed EdDSA (alg -8) with the issuing
//! centre's Ed25519 key from the zone directory; the compact form is `HFX1:` + Base45
//! (RFC 9285) of the tagged COSE bytes, small enough for one QR code.
//!
//! Issuing needs the centre's signing key ([`AttestSigner`]); verifying needs only the
//! certificate, the directory history ([`KeyHistory`]) and the time ([`verify`]). No node,
//! no network: a bank's verifier links this crate alone, or any COSE library.

pub mod base45;
pub mod example;
pub mod fields;
pub mod history;
mod verify;

#[cfg(test)]
mod tests;

pub use fields::{Certificate, DepositFields, FIELD_LABELS, FieldError};
pub use history::{DirectorySnapshot, HistoryError, KeyHistory};
pub use verify::{Verified, VerifyError, parse, verify};

use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

/// The method names the exchange log records for certificates (`<method>#request`, ...).
pub const METHOD_ISSUE: &str = "VerificationExchange/IssueDepositCertificate";
pub const METHOD_STATUS: &str = "VerificationExchange/CertificateStatus";

/// The compact form's prefix (version 1: no compression).
pub const COMPACT_PREFIX: &str = "HFX1:";
/// The largest compact form an issuer produces, so it fits one QR code.
pub const COMPACT_MAX_BYTES: usize = 1000;
/// Clock skew a verifier allows for an issue time in its future.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The COSE key id of an Ed25519 public key: the first 8 bytes of SHA-256 over its 32 raw
/// bytes (as the directory lists them, base64-decoded).
pub fn key_id(public_key: &[u8; 32]) -> [u8; 8] {
    let h = Sha256::digest(public_key);
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&h[..8]);
    kid
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing key is not an Ed25519 PKCS#8 key")]
    BadKey,
    #[error("COSE encoding: {0}")]
    Encoding(String),
    #[error("the compact form is {0} bytes, more than {COMPACT_MAX_BYTES}")]
    TooLarge(usize),
}

/// A centre's attestation signer: its Ed25519 key (the one the directory lists).
pub struct AttestSigner {
    key_pair: Ed25519KeyPair,
    public_key: [u8; 32],
}

impl std::fmt::Debug for AttestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestSigner")
            .field("kid", &hex::encode(self.key_id()))
            .finish_non_exhaustive()
    }
}

impl AttestSigner {
    /// From an Ed25519 PKCS#8 key (v1 or v2).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let key_pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| SignError::BadKey)?;
        let public_key =
            <[u8; 32]>::try_from(key_pair.public_key().as_ref()).map_err(|_| SignError::BadKey)?;
        Ok(Self {
            key_pair,
            public_key,
        })
    }

    /// From a raw 32-byte Ed25519 seed (tests and the worked example of the docs).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, SignError> {
        let key_pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| SignError::BadKey)?;
        let public_key =
            <[u8; 32]>::try_from(key_pair.public_key().as_ref()).map_err(|_| SignError::BadKey)?;
        Ok(Self {
            key_pair,
            public_key,
        })
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    pub fn key_id(&self) -> [u8; 8] {
        key_id(&self.public_key)
    }

    /// Sign `cert`: the tagged COSE_Sign1 bytes. Refuses a certificate whose compact form
    /// would not fit one QR code.
    pub fn sign(&self, cert: &Certificate) -> Result<Vec<u8>, SignError> {
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .key_id(self.key_id().to_vec())
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(cert.to_payload())
            .create_signature(b"", |tbs| self.key_pair.sign(tbs).as_ref().to_vec())
            .build();
        let bytes = sign1
            .to_tagged_vec()
            .map_err(|e| SignError::Encoding(e.to_string()))?;
        let compact = to_compact(&bytes);
        if compact.len() > COMPACT_MAX_BYTES {
            return Err(SignError::TooLarge(compact.len()));
        }
        Ok(bytes)
    }
}

/// The compact form: `HFX1:` + Base45 of the COSE bytes (QR alphanumeric mode).
pub fn to_compact(cose: &[u8]) -> String {
    format!("{COMPACT_PREFIX}{}", base45::encode(cose))
}

/// The COSE bytes of a compact form.
pub fn from_compact(text: &str) -> Result<Vec<u8>, VerifyError> {
    let body = text
        .trim()
        .strip_prefix(COMPACT_PREFIX)
        .ok_or_else(|| VerifyError::Format(format!("does not start with {COMPACT_PREFIX}")))?;
    base45::decode(body).map_err(|e| VerifyError::Format(e.to_string()))
}

/// A certificate as a file or a scan gives it: the compact text, or the COSE bytes.
pub fn read_any(input: &[u8]) -> Result<Vec<u8>, VerifyError> {
    match std::str::from_utf8(input) {
        Ok(text) if text.trim_start().starts_with(COMPACT_PREFIX) => from_compact(text),
        _ => Ok(input.to_vec()),
    }
}

/// Untagged COSE_Sign1 bytes are accepted too (some libraries write them).
pub(crate) fn decode_sign1(bytes: &[u8]) -> Result<coset::CoseSign1, VerifyError> {
    coset::CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| coset::CoseSign1::from_slice(bytes))
        .map_err(|e| VerifyError::Format(format!("not a COSE_Sign1: {e}")))
}
