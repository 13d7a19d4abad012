//! Issuing: the zone root, node and person certificates, CRLs and Ed25519 signing keys.

use crate::identity::{Identity, Role, cert_fingerprint, node_dns_name};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("key error: {0}")]
    Key(String),
}

fn invalid(what: &str, detail: impl ToString) -> PkiError {
    PkiError::Invalid {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

/// A certificate's validity window.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// `days` days from an hour ago (clock skew): the whole window is `days` days long, so
    /// `days(825)` is within the 825-day limit scanners check (not 825 days and an hour).
    pub fn days(days: i64) -> Self {
        let not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        Self {
            not_before,
            not_after: not_before + Duration::days(days),
        }
    }
    /// A window that ended in the past (for tests of expiry refusal).
    pub fn expired() -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            not_before: now - Duration::days(30),
            not_after: now - Duration::days(1),
        }
    }
}

/// A freshly issued certificate with its private key (PEM) and serial (hex).
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: String,
    pub fingerprint: String,
}

/// One revoked certificate, as the zone keeps it to re-issue CRLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial, lower-case hex.
    pub serial: String,
    pub revoked_at_unix: i64,
    pub reason: String,
}

fn random_serial() -> Result<(SerialNumber, String), PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Key("system random failed".into()))?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte: DER keeps all 16 bytes, so hex round-trips
    Ok((SerialNumber::from_slice(&bytes), hex::encode(bytes)))
}

/// The zone root of trust. Its Ed25519 key signs certificates, CRLs and the zone directory.
pub struct ZoneRoot {
    cert_pem: String,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
}

impl ZoneRoot {
    /// Generate a new root for `zone` valid for `days`.
    pub fn generate(zone: &str, days: i64) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("hfx zone root {zone}"));
        params
            .distinguished_name
            .push(DnType::OrganizationName, "hfx zone");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.key_identifier_method = KeyIdMethod::Sha256;
        let v = Validity::days(days);
        params.not_before = v.not_before;
        params.not_after = v.not_after;
        params.serial_number = Some(random_serial()?.0);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        })
    }

    /// Load from PEM text.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| invalid("zone root key", e))?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| invalid("zone root certificate", e))?;
        Ok(Self {
            cert_pem: cert_pem.to_string(),
            key,
            cert_der,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Ok(Issuer::from_ca_cert_der(&self.cert_der, &self.key)?)
    }

    fn issue(&self, identity: &Identity, validity: Validity) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let uri = identity.uri();
        params
            .subject_alt_names
            .push(SanType::URI(uri.as_str().try_into()?));
        match identity {
            Identity::Node { centre } => {
                params
                    .subject_alt_names
                    .push(SanType::DnsName(node_dns_name(centre).try_into()?));
                params
                    .distinguished_name
                    .push(DnType::CommonName, format!("hfx node {centre}"));
                params.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ];
            }
            Identity::Person {
                centre,
                role,
                person_id,
            } => {
                params.distinguished_name.push(
                    DnType::CommonName,
                    format!("{person_id} ({role}, {centre})"),
                );
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.use_authority_key_identifier_extension = true;
        let (serial, serial_hex) = random_serial()?;
        params.serial_number = Some(serial);
        let cert = params.signed_by(&key, &self.issuer()?)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial_hex,
            fingerprint: cert_fingerprint(cert.der()),
        })
    }

    /// A node certificate for a centre: URI SAN + DNS SAN, EKU server and client.
    pub fn issue_node(&self, centre: &str, validity: Validity) -> Result<IssuedCert, PkiError> {
        check_centre(centre)?;
        self.issue(
            &Identity::Node {
                centre: centre.to_string(),
            },
            validity,
        )
    }

    /// A person certificate for the local API: centre + role + person id, EKU client.
    pub fn issue_person(
        &self,
        centre: &str,
        role: Role,
        person_id: &str,
        validity: Validity,
    ) -> Result<IssuedCert, PkiError> {
        check_centre(centre)?;
        let id = Identity::Person {
            centre: centre.to_string(),
            role,
            person_id: person_id.to_string(),
        };
        if crate::identity::parse_identity_uri(&id.uri()).is_none() {
            return Err(invalid(
                "person id",
                format!("{person_id:?} must be 1-32 of A-Z a-z 0-9 - _"),
            ));
        }
        self.issue(&id, validity)
    }

    /// A CRL listing `revoked`, valid for `days`.
    pub fn issue_crl(
        &self,
        crl_number: u64,
        revoked: &[RevokedEntry],
        days: i64,
    ) -> Result<String, PkiError> {
        let now = OffsetDateTime::now_utc();
        let mut certs = Vec::with_capacity(revoked.len());
        for r in revoked {
            let bytes = hex::decode(&r.serial).map_err(|e| invalid("revoked serial", e))?;
            certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: OffsetDateTime::from_unix_timestamp(r.revoked_at_unix)
                    .map_err(|e| invalid("revocation time", e))?,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(days),
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer()?)?.pem()?)
    }

    /// Ed25519 signature by the root key over `data`.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, PkiError> {
        let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.key.serialize_der())
            .map_err(|e| PkiError::Key(format!("zone root key is not Ed25519: {e}")))?;
        Ok(kp.sign(data).as_ref().to_vec())
    }

    /// The root's raw Ed25519 public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key_raw().to_vec()
    }
}

/// The raw Ed25519 public key of a zone root certificate (PEM).
pub fn root_public_key(cert_pem: &str) -> Result<Vec<u8>, PkiError> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| invalid("zone root certificate", e))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| invalid("zone root certificate", e))?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

fn check_centre(centre: &str) -> Result<(), PkiError> {
    if centre.len() == 15 && centre.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid(
            "centre",
            format!("{centre:?} is not a 15-digit centre code"),
        ))
    }
}

/// A node's Ed25519 signing key (log checkpoints, cosignatures, attestations).
pub struct SigningKeyPair {
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
}

impl SigningKeyPair {
    pub fn generate() -> Result<Self, PkiError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| PkiError::Key("Ed25519 key generation failed".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| PkiError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(Self {
            pkcs8: der.to_vec(),
            pair,
        })
    }
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| PkiError::Key(format!("signing key PEM: {e}")))?;
        Self::from_pkcs8(der.secret_pkcs8_der())
    }
    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.pkcs8);
        let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END PRIVATE KEY-----\n");
        out
    }
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.pair.sign(data).as_ref().to_vec()
    }
}

/// Verify an Ed25519 signature.
pub fn verify_ed25519(public_key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(data, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::parse_identity;

    #[test]
    fn issues_node_and_person_certs_that_name_their_identity() {
        let root = ZoneRoot::generate("test", 30).unwrap();
        let node = root
            .issue_node("320300000000000", Validity::days(10))
            .unwrap();
        let der = CertificateDer::from_pem_slice(node.cert_pem.as_bytes()).unwrap();
        assert_eq!(
            parse_identity(&der).unwrap(),
            Identity::Node {
                centre: "320300000000000".into()
            }
        );
        assert_eq!(node.fingerprint, cert_fingerprint(&der));
        let p = root
            .issue_person("320300000000000", Role::Clerk, "P0001", Validity::days(10))
            .unwrap();
        let der = CertificateDer::from_pem_slice(p.cert_pem.as_bytes()).unwrap();
        assert!(matches!(
            parse_identity(&der).unwrap(),
            Identity::Person {
                role: Role::Clerk,
                ..
            }
        ));
        assert!(root.issue_node("32030", Validity::days(1)).is_err());
        assert!(
            root.issue_person(
                "320300000000000",
                Role::Clerk,
                "bad id/x",
                Validity::days(1)
            )
            .is_err()
        );
        let crl = root
            .issue_crl(
                1,
                &[RevokedEntry {
                    serial: node.serial.clone(),
                    revoked_at_unix: 1_700_000_000,
                    reason: "test".into(),
                }],
                7,
            )
            .unwrap();
        assert!(crl.contains("BEGIN X509 CRL"));
    }

    #[test]
    fn root_signatures_verify_with_the_certificate_key() {
        let root = ZoneRoot::generate("test", 30).unwrap();
        let reloaded = ZoneRoot::from_pem(root.cert_pem(), &root.key_pem()).unwrap();
        let sig = reloaded.sign(b"hello").unwrap();
        let pk = root_public_key(root.cert_pem()).unwrap();
        assert!(verify_ed25519(&pk, b"hello", &sig));
        assert!(!verify_ed25519(&pk, b"hellO", &sig));
        let k = SigningKeyPair::generate().unwrap();
        let k2 = SigningKeyPair::from_pem(&k.to_pem()).unwrap();
        assert_eq!(k.public_key(), k2.public_key());
    }
}
