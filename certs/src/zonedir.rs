//! A zone's PKI on disk, as `hfx certs` and the zone launcher manage it.
//!
//! ```text
//! DIR/root/root.crt.pem, root.key.pem   the zone root (keep offline in production)
//! DIR/root/state.json                    serials issued, revocations, CRL number, directory version
//! DIR/zone.toml                          the zone configuration the directory is built from
//! DIR/trust/root.crt.pem, crl.pem, directory.json   the trust bundle every node reads
//! DIR/trust/directories/v000001.json …   every signed directory ever published: the history a
//!                                        certificate verifier needs (keys rotate)
//! DIR/centres/<code>/node.crt.pem, node.key.pem, signing.key.pem
//! DIR/people/<code>/<role>-<person>.crt.pem, .key.pem
//! ```
//! Every file is written to a temporary name and renamed, so a reader never sees half a file.

use crate::directory::{CentreEntry, Directory};
use crate::identity::Role;
use crate::pki::{IssuedCert, PkiError, RevokedEntry, SigningKeyPair, Validity, ZoneRoot};
use crate::zone::ZoneConfig;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    crl_number: u64,
    directory_version: u64,
    revoked: Vec<RevokedEntry>,
    /// serial -> what it was issued to
    issued: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ZoneDirError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The cause is in the message, not also a `source`: `{:#}` printed it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ZoneDirError + '_ {
    move |error| ZoneDirError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Write atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ZoneDirError> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

fn read(path: &Path) -> Result<String, ZoneDirError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

pub struct ZoneDir {
    pub dir: PathBuf,
}

impl ZoneDir {
    pub fn open(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn root_cert_path(&self) -> PathBuf {
        self.dir.join("trust/root.crt.pem")
    }
    pub fn crl_path(&self) -> PathBuf {
        self.dir.join("trust/crl.pem")
    }
    pub fn directory_path(&self) -> PathBuf {
        self.dir.join("trust/directory.json")
    }
    /// The folder of every directory version published, one signed file each
    /// (`v000001.json`, …): what `hfx attest verify --directory` takes as the history.
    pub fn directory_history_path(&self) -> PathBuf {
        self.dir.join("trust/directories")
    }
    pub fn centre_dir(&self, code: &str) -> PathBuf {
        self.dir.join("centres").join(code)
    }
    pub fn node_cert_path(&self, code: &str) -> PathBuf {
        self.centre_dir(code).join("node.crt.pem")
    }
    pub fn node_key_path(&self, code: &str) -> PathBuf {
        self.centre_dir(code).join("node.key.pem")
    }
    pub fn signing_key_path(&self, code: &str) -> PathBuf {
        self.centre_dir(code).join("signing.key.pem")
    }
    pub fn person_paths(&self, centre: &str, role: Role, person: &str) -> (PathBuf, PathBuf) {
        let base = self.dir.join("people").join(centre);
        (
            base.join(format!("{role}-{person}.crt.pem")),
            base.join(format!("{role}-{person}.key.pem")),
        )
    }

    pub fn is_initialised(&self) -> bool {
        self.dir.join("root/root.crt.pem").exists()
    }

    /// Refuse a folder that holds no zone root, saying what a zone folder holds.
    fn expect_zone_root(&self) -> Result<(), ZoneDirError> {
        let missing: Vec<&str> = ["root/root.crt.pem", "root/root.key.pem"]
            .into_iter()
            .filter(|f| !self.dir.join(f).is_file())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let what = if self.dir.is_dir() {
            "is not a zone operator's folder"
        } else {
            "does not exist, so it is not a zone operator's folder"
        };
        Err(ZoneDirError::Other(format!(
            "{} {what}: expected the zone root root/root.crt.pem and root/root.key.pem \
             (missing: {}), beside zone.toml, trust/ and centres/, as `hfx certs init --dir` \
             leaves them",
            self.dir.display(),
            missing.join(", ")
        )))
    }

    fn state(&self) -> Result<State, ZoneDirError> {
        let p = self.dir.join("root/state.json");
        if !p.exists() {
            return Ok(State::default());
        }
        serde_json::from_str(&read(&p)?)
            .map_err(|e| ZoneDirError::Other(format!("{}: {e}", p.display())))
    }
    fn save_state(&self, s: &State) -> Result<(), ZoneDirError> {
        let text =
            serde_json::to_string_pretty(s).map_err(|e| ZoneDirError::Other(e.to_string()))?;
        write_atomic(&self.dir.join("root/state.json"), text.as_bytes())
    }

    pub fn root(&self) -> Result<ZoneRoot, ZoneDirError> {
        self.expect_zone_root()?;
        let cert = read(&self.dir.join("root/root.crt.pem"))?;
        let key = read(&self.dir.join("root/root.key.pem"))?;
        Ok(ZoneRoot::from_pem(&cert, &key)?)
    }

    pub fn zone_config(&self) -> Result<ZoneConfig, ZoneDirError> {
        ZoneConfig::parse(&read(&self.dir.join("zone.toml"))?)
            .map_err(|e| ZoneDirError::Other(e.to_string()))
    }

    /// Create the root, every centre's node certificate and signing key, an empty CRL and the
    /// first directory. Refuses to overwrite an existing zone.
    pub fn init(&self, zone_toml: &str, root_days: i64) -> Result<(), ZoneDirError> {
        if self.is_initialised() {
            return Err(ZoneDirError::Other(format!(
                "{} already holds a zone root",
                self.dir.display()
            )));
        }
        let cfg = ZoneConfig::parse(zone_toml).map_err(|e| ZoneDirError::Other(e.to_string()))?;
        let root = ZoneRoot::generate(&cfg.zone, root_days)?;
        write_atomic(
            &self.dir.join("root/root.key.pem"),
            root.key_pem().as_bytes(),
        )?;
        set_private(&self.dir.join("root/root.key.pem"));
        write_atomic(
            &self.dir.join("root/root.crt.pem"),
            root.cert_pem().as_bytes(),
        )?;
        write_atomic(&self.root_cert_path(), root.cert_pem().as_bytes())?;
        write_atomic(&self.dir.join("zone.toml"), zone_toml.as_bytes())?;
        let mut state = State::default();
        for c in &cfg.centres {
            self.write_node(
                &root,
                &mut state,
                &c.code,
                Validity::days(root_days.min(825)),
            )?;
            let sk = SigningKeyPair::generate()?;
            write_atomic(&self.signing_key_path(&c.code), sk.to_pem().as_bytes())?;
            set_private(&self.signing_key_path(&c.code));
        }
        self.save_state(&state)?;
        self.publish_crl()?;
        self.publish_directory()?;
        Ok(())
    }

    fn write_node(
        &self,
        root: &ZoneRoot,
        state: &mut State,
        code: &str,
        v: Validity,
    ) -> Result<IssuedCert, ZoneDirError> {
        let issued = root.issue_node(code, v)?;
        write_atomic(&self.node_key_path(code), issued.key_pem.as_bytes())?;
        set_private(&self.node_key_path(code));
        write_atomic(&self.node_cert_path(code), issued.cert_pem.as_bytes())?;
        state
            .issued
            .push((issued.serial.clone(), format!("node {code}")));
        Ok(issued)
    }

    /// Issue a person certificate for the local API; returns (cert path, key path, serial).
    pub fn issue_person(
        &self,
        centre: &str,
        role: Role,
        person: &str,
        validity: Validity,
    ) -> Result<(PathBuf, PathBuf, String), ZoneDirError> {
        let root = self.root()?;
        let issued = root.issue_person(centre, role, person, validity)?;
        let (crt, key) = self.person_paths(centre, role, person);
        write_atomic(&key, issued.key_pem.as_bytes())?;
        set_private(&key);
        write_atomic(&crt, issued.cert_pem.as_bytes())?;
        let mut state = self.state()?;
        state.issued.push((
            issued.serial.clone(),
            format!("{role} {person} of {centre}"),
        ));
        self.save_state(&state)?;
        Ok((crt, key, issued.serial))
    }

    /// Rotate a node's TLS certificate: new key and certificate, the old one revoked, the
    /// directory re-signed with the new fingerprint. Returns the new serial.
    pub fn rotate_node(&self, code: &str) -> Result<String, ZoneDirError> {
        self.rotate_node_valid(code, Validity::days(825))
    }

    /// [`Self::rotate_node`] with the new certificate valid for `validity` (a short one shows
    /// what `hfx zone doctor` says before a node certificate expires).
    pub fn rotate_node_valid(
        &self,
        code: &str,
        validity: Validity,
    ) -> Result<String, ZoneDirError> {
        let root = self.root()?;
        let old = read(&self.node_cert_path(code))?;
        let old_serial = serial_of_pem(&old)?;
        let mut state = self.state()?;
        let issued = self.write_node(&root, &mut state, code, validity)?;
        state.revoked.push(RevokedEntry {
            serial: old_serial,
            revoked_at_unix: now_unix(),
            reason: "superseded".into(),
        });
        self.save_state(&state)?;
        self.publish_crl()?;
        self.publish_directory()?;
        Ok(issued.serial)
    }

    /// Revoke a certificate by serial (hex) and publish a new CRL.
    pub fn revoke(&self, serial: &str, reason: &str) -> Result<(), ZoneDirError> {
        let serial = serial.trim().to_ascii_lowercase();
        if hex::decode(&serial).is_err() || serial.is_empty() {
            return Err(ZoneDirError::Other(format!("serial {serial:?} is not hex")));
        }
        let mut state = self.state()?;
        if !state.revoked.iter().any(|r| r.serial == serial) {
            state.revoked.push(RevokedEntry {
                serial,
                revoked_at_unix: now_unix(),
                reason: reason.to_string(),
            });
        }
        self.save_state(&state)?;
        self.publish_crl()
    }

    /// Revoke the certificate in a PEM file.
    pub fn revoke_cert_file(&self, path: &Path, reason: &str) -> Result<String, ZoneDirError> {
        let serial = serial_of_pem(&read(path)?)?;
        self.revoke(&serial, reason)?;
        Ok(serial)
    }

    pub fn publish_crl(&self) -> Result<(), ZoneDirError> {
        let root = self.root()?;
        let mut state = self.state()?;
        state.crl_number += 1;
        let crl = root.issue_crl(state.crl_number, &state.revoked, 30)?;
        self.save_state(&state)?;
        write_atomic(&self.crl_path(), crl.as_bytes())
    }

    /// Build the directory from zone.toml and the centres' current certificates and signing
    /// keys, with the next version number, and sign it.
    pub fn publish_directory(&self) -> Result<Directory, ZoneDirError> {
        let root = self.root()?;
        let cfg = self.zone_config()?;
        let mut state = self.state()?;
        state.directory_version += 1;
        let now = now_unix();
        let mut centres = Vec::new();
        for c in &cfg.centres {
            let cert = read(&self.node_cert_path(&c.code))?;
            let der = pem_to_der(&cert)?;
            let sk = SigningKeyPair::from_pem(&read(&self.signing_key_path(&c.code))?)?;
            centres.push(CentreEntry {
                code: c.code.clone(),
                name: c.name.clone(),
                city: c.city.clone(),
                province: c.province.clone(),
                endpoint: c.endpoint.clone(),
                endpoints: c.endpoints.clone(),
                tls_fingerprint: crate::identity::cert_fingerprint(&der),
                signing_key: base64::engine::general_purpose::STANDARD.encode(sk.public_key()),
                core_system: c.core_system.clone(),
            });
        }
        let dir = Directory {
            zone: cfg.zone.clone(),
            version: state.directory_version,
            issued_at_unix: now,
            expires_at_unix: now + cfg.directory_validity_days * 86_400,
            witness_quorum: cfg.witness_quorum,
            centres,
        };
        let signed = dir.sign(|m| root.sign(m))?;
        self.save_state(&state)?;
        // The archived copy first: a version in force is always in the history.
        write_atomic(
            &self
                .directory_history_path()
                .join(format!("v{:06}.json", dir.version)),
            signed.to_json().as_bytes(),
        )?;
        write_atomic(&self.directory_path(), signed.to_json().as_bytes())?;
        Ok(dir)
    }

    /// Replace zone.toml (e.g. new endpoints) and publish a new directory.
    pub fn update_zone(&self, zone_toml: &str) -> Result<Directory, ZoneDirError> {
        ZoneConfig::parse(zone_toml).map_err(|e| ZoneDirError::Other(e.to_string()))?;
        write_atomic(&self.dir.join("zone.toml"), zone_toml.as_bytes())?;
        self.publish_directory()
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn pem_to_der(pem: &str) -> Result<Vec<u8>, ZoneDirError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|d| d.to_vec())
        .map_err(|e| ZoneDirError::Other(format!("not a PEM certificate: {e}")))
}

/// Serial (hex) of a PEM certificate.
pub fn serial_of_pem(pem: &str) -> Result<String, ZoneDirError> {
    let der = pem_to_der(pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| ZoneDirError::Other(format!("certificate: {e}")))?;
    Ok(hex::encode(cert.raw_serial()))
}

fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_rotate_revoke() {
        let tmp = tempfile::tempdir().unwrap();
        let z = ZoneDir::open(tmp.path());
        z.init(include_str!("../../deploy/zone.toml"), 365).unwrap();
        assert!(z.init(include_str!("../../deploy/zone.toml"), 365).is_err());
        let root_pk = crate::pki::root_public_key(&read(&z.root_cert_path()).unwrap()).unwrap();
        let signed =
            crate::SignedDirectory::from_json(&read(&z.directory_path()).unwrap()).unwrap();
        let d1 = signed.verify(&root_pk, now_unix()).unwrap();
        assert_eq!(d1.centres.len(), 10);
        let code = "320300000000000";
        let before = d1.centre(code).unwrap().tls_fingerprint.clone();
        let old_serial = serial_of_pem(&read(&z.node_cert_path(code)).unwrap()).unwrap();
        z.rotate_node(code).unwrap();
        let d2 = crate::SignedDirectory::from_json(&read(&z.directory_path()).unwrap())
            .unwrap()
            .verify(&root_pk, now_unix())
            .unwrap();
        assert!(d1.check_successor(&d2).is_ok());
        assert_ne!(d2.centre(code).unwrap().tls_fingerprint, before);
        let st = z.state().unwrap();
        assert!(st.revoked.iter().any(|r| r.serial == old_serial));
        let (crt, _, serial) = z
            .issue_person(code, Role::Clerk, "P1", Validity::days(1))
            .unwrap();
        assert_eq!(z.revoke_cert_file(&crt, "test").unwrap(), serial);
        assert_eq!(z.state().unwrap().crl_number, 3);
    }

    #[test]
    fn a_folder_that_is_not_a_zone_says_what_it_expected() {
        let tmp = tempfile::tempdir().unwrap();
        let e = ZoneDir::open(tmp.path())
            .issue_person("320300000000000", Role::Clerk, "P1", Validity::days(1))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("is not a zone operator's folder"), "{e}");
        assert!(
            e.contains("root/root.crt.pem") && e.contains("hfx certs init"),
            "{e}"
        );
        let e = ZoneDir::open(tmp.path().join("nowhere"))
            .rotate_node("320300000000000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn an_unreadable_file_is_named_once() {
        let tmp = tempfile::tempdir().unwrap();
        let z = ZoneDir::open(tmp.path());
        z.init(include_str!("../../deploy/zone.toml"), 365).unwrap();
        let e = anyhow_like(
            &z.revoke_cert_file(&tmp.path().join("gone.pem"), "x")
                .unwrap_err(),
        );
        assert_eq!(e.matches("No such file").count(), 1, "{e}");
    }

    /// What `{:#}` of an anyhow error prints: the message and every source.
    fn anyhow_like(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            out.push_str(&format!(": {s}"));
            src = s.source();
        }
        out
    }

    #[test]
    fn every_published_directory_is_kept_in_the_history_and_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let zd = ZoneDir::open(tmp.path());
        zd.init(include_str!("../../deploy/zone.toml"), 3650)
            .unwrap();
        zd.rotate_node(&zd.zone_config().unwrap().centres[0].code)
            .unwrap();
        let root = crate::pki::root_public_key(&read(&zd.root_cert_path()).unwrap()).unwrap();
        let mut versions = Vec::new();
        for e in std::fs::read_dir(zd.directory_history_path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let d = crate::directory::SignedDirectory::from_json(&text)
                .unwrap()
                .verify(&root, now_unix())
                .unwrap();
            versions.push(d.version);
        }
        versions.sort();
        assert_eq!(versions, [1, 2], "init and rotate each published one");
        // The current directory is the newest archived one, byte for byte.
        assert_eq!(
            read(&zd.directory_path()).unwrap(),
            read(&zd.directory_history_path().join("v000002.json")).unwrap()
        );
    }
}
