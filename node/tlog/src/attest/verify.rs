//! The verifier's checks, in order, each with its own error (docs/attestation.md §Checks):
//! format → algorithm → issuer → key → signature → key in force at issue → issue time →
//! expiry. The signature is checked before any claim is believed, so a tampered field shows
//! as `signature` whatever the field.

use super::{CLOCK_SKEW_SECS, Certificate, KeyHistory, decode_sign1, key_id};
use coset::{Algorithm, iana};
use ring::signature::{ED25519, UnparsedPublicKey};

/// Which check refused a certificate. [`VerifyError::check`] names it (stable, for scripts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("format: {0}")]
    Format(String),
    #[error("algorithm: the protected header's alg is {0}, not EdDSA (-8)")]
    Algorithm(String),
    #[error("issuer: centre {0} is in no directory of the history")]
    IssuerUnknown(String),
    #[error("key: no directory lists key id {kid} for centre {issuer}")]
    UnknownKey { issuer: String, kid: String },
    #[error("signature: the Ed25519 signature does not verify (the certificate was altered)")]
    BadSignature,
    #[error("key_in_force: no directory of the history was in force at the issue time {0}")]
    NoDirectoryAtIssue(i64),
    #[error(
        "key_in_force: directory version {version}, in force at the issue time, does not list centre {issuer}"
    )]
    IssuerAbsentAtIssue { issuer: String, version: u64 },
    #[error(
        "key_in_force: key id {kid} was not centre {issuer}'s key at the issue time (directory version {version} lists another): issued after its rotation or revocation"
    )]
    KeyNotInForce {
        issuer: String,
        kid: String,
        version: u64,
    },
    #[error("issue_time: issued at {issued_at}, after now ({now}) beyond the allowed clock skew")]
    NotYetValid { issued_at: i64, now: i64 },
    #[error("expiry: expired at {expires_at} (now {now})")]
    Expired { expires_at: i64, now: i64 },
}

impl VerifyError {
    /// The failed check's stable name.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::Format(_) => "format",
            VerifyError::Algorithm(_) => "algorithm",
            VerifyError::IssuerUnknown(_) => "issuer",
            VerifyError::UnknownKey { .. } => "key",
            VerifyError::BadSignature => "signature",
            VerifyError::NoDirectoryAtIssue(_)
            | VerifyError::IssuerAbsentAtIssue { .. }
            | VerifyError::KeyNotInForce { .. } => "key_in_force",
            VerifyError::NotYetValid { .. } => "issue_time",
            VerifyError::Expired { .. } => "expiry",
        }
    }
}

/// A certificate that passed every check, with the key id and directory version it was
/// checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub certificate: Certificate,
    pub key_id: [u8; 8],
    pub directory_version: u64,
}

/// Decode without checking anything but the format: for showing a certificate. Returns the
/// certificate and the key id of its protected header.
pub fn parse(cose: &[u8]) -> Result<(Certificate, Vec<u8>), VerifyError> {
    let sign1 = decode_sign1(cose)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| VerifyError::Format("no payload".into()))?;
    let cert =
        Certificate::from_payload(payload).map_err(|e| VerifyError::Format(e.to_string()))?;
    Ok((cert, sign1.protected.header.key_id.clone()))
}

/// Verify COSE bytes offline against the directory history at `now_unix`.
pub fn verify(cose: &[u8], history: &KeyHistory, now_unix: i64) -> Result<Verified, VerifyError> {
    let sign1 = decode_sign1(cose)?;
    match &sign1.protected.header.alg {
        Some(Algorithm::Assigned(iana::Algorithm::EdDSA)) => {}
        other => return Err(VerifyError::Algorithm(format!("{other:?}"))),
    }
    // The unprotected header must not carry what the protected one decides.
    if sign1.unprotected.alg.is_some() || !sign1.unprotected.key_id.is_empty() {
        return Err(VerifyError::Format(
            "alg and kid belong in the protected header only".into(),
        ));
    }
    let (cert, kid) = parse(cose)?;
    if !history.knows(&cert.issuer) {
        return Err(VerifyError::IssuerUnknown(cert.issuer));
    }
    let key = history
        .keys_of(&cert.issuer)
        .into_iter()
        .find(|k| key_id(k).as_slice() == kid.as_slice())
        .ok_or_else(|| VerifyError::UnknownKey {
            issuer: cert.issuer.clone(),
            kid: hex::encode(&kid),
        })?;
    sign1
        .verify_signature(b"", |sig, tbs| {
            UnparsedPublicKey::new(&ED25519, key).verify(tbs, sig)
        })
        .map_err(|_| VerifyError::BadSignature)?;
    let at = cert.issued_at_unix;
    let dir = history
        .in_force_at(at)
        .ok_or(VerifyError::NoDirectoryAtIssue(at))?;
    match dir.key_of(&cert.issuer) {
        None => {
            return Err(VerifyError::IssuerAbsentAtIssue {
                issuer: cert.issuer,
                version: dir.version,
            });
        }
        Some(k) if *k != key => {
            return Err(VerifyError::KeyNotInForce {
                issuer: cert.issuer,
                kid: hex::encode(&kid),
                version: dir.version,
            });
        }
        Some(_) => {}
    }
    if at > now_unix + CLOCK_SKEW_SECS {
        return Err(VerifyError::NotYetValid {
            issued_at: at,
            now: now_unix,
        });
    }
    if cert.expires_at_unix <= now_unix {
        return Err(VerifyError::Expired {
            expires_at: cert.expires_at_unix,
            now: now_unix,
        });
    }
    Ok(Verified {
        key_id: key_id(&key),
        directory_version: dir.version,
        certificate: cert,
    })
}
