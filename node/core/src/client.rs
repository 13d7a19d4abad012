//! The CLI's side of the local API: a person certificate, the own node's local endpoint, and
//! typed calls. Finds everything from a zone folder (`--dir`) or from explicit files.
//!
//! A zone folder is what `hfx certs init --dir` leaves (or a centre's copy of it: `trust/`,
//! `centres/<code>/`, `people/<code>/`), or what `hfx demo --dir` leaves (the same, plus
//! `nodes/<code>/node.toml`, from which the local endpoint is read). In the first layout the
//! local endpoint is `--endpoint`, else [`DEFAULT_LOCAL`] (`[listen] local` of
//! deploy/node.example.toml).

use crate::tls::{TlsFiles, channel, client_config};
use anyhow::Context;
use hfx_certs::{Role, ZoneDir};
use hfx_proto::v1 as pb;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// The local endpoint a zone folder without `nodes/` implies: deploy/node.example.toml's
/// `[listen] local`.
pub const DEFAULT_LOCAL: &str = "127.0.0.1:7444";

/// What a zone folder holds, as an error says it: the trust bundle and the person certificates.
const ZONE_FOLDER: &str = "trust/root.crt.pem and trust/crl.pem (the trust bundle) and \
     people/<centre>/<role>-<person>.crt.pem (person certificates), as `hfx certs init --dir` \
     or `hfx demo --dir` leave them (`hfx demo` adds nodes/<centre>/node.toml)";

/// Files and endpoint given beside a zone folder; each one given wins over the folder's.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub endpoint: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub root: Option<PathBuf>,
    pub crl: Option<PathBuf>,
}

/// A zone folder resolved for one person of one centre: the TLS files and the local endpoint.
#[derive(Debug, Clone)]
pub struct ZoneTarget {
    pub files: TlsFiles,
    pub endpoint: String,
    /// The person whose certificate is used.
    pub person: String,
}

impl ZoneTarget {
    /// Resolve `dir` for `role` of centre `code`. `person` is the `--person` given; without
    /// one, `default_person` if the folder holds that certificate, else the only certificate
    /// of the role there. Every error says what the folder was expected to hold.
    pub fn resolve(
        dir: &Path,
        code: &str,
        role: Role,
        person: Option<&str>,
        default_person: &str,
        over: &Overrides,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            dir.is_dir(),
            "{}: no such folder; --dir takes a zone folder holding {ZONE_FOLDER}",
            dir.display()
        );
        let zd = ZoneDir::open(dir);
        let mut missing = Vec::new();
        for (given, path, name) in [
            (&over.root, zd.root_cert_path(), "trust/root.crt.pem"),
            (&over.crl, zd.crl_path(), "trust/crl.pem"),
        ] {
            if given.is_none() && !path.is_file() {
                missing.push(name);
            }
        }
        let people = dir.join("people").join(code);
        anyhow::ensure!(
            missing.is_empty(),
            "{} is not a zone folder: expected {ZONE_FOLDER}; missing: {}",
            dir.display(),
            missing.join(", ")
        );
        let endpoint = match &over.endpoint {
            Some(e) => e.clone(),
            None => demo_local_endpoint(dir, code)?.unwrap_or_else(|| DEFAULT_LOCAL.to_string()),
        };
        let (cert, key, person) = match (&over.cert, &over.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), person.unwrap_or("").to_string()),
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("give both --cert and --key, or neither (to use the zone folder's)")
            }
            (None, None) => {
                let person = pick_person(&zd, &people, code, role, person, default_person)?;
                let (c, k) = zd.person_paths(code, role, &person);
                anyhow::ensure!(
                    k.is_file(),
                    "{}: the key of {role} {person} is missing beside its certificate",
                    k.display()
                );
                (c, k, person)
            }
        };
        Ok(Self {
            files: TlsFiles {
                root: over.root.clone().unwrap_or_else(|| zd.root_cert_path()),
                crl: over.crl.clone().unwrap_or_else(|| zd.crl_path()),
                cert,
                key,
            },
            endpoint,
            person,
        })
    }
}

/// The person of `role` whose certificate to use from `people/<code>/`.
fn pick_person(
    zd: &ZoneDir,
    people: &Path,
    code: &str,
    role: Role,
    person: Option<&str>,
    default_person: &str,
) -> anyhow::Result<String> {
    let issue = format!(
        "issue one with `hfx certs person --dir ZONE --centre {code} --role {role} --id ID` \
         and copy people/{code}/ here"
    );
    let prefix = format!("{role}-");
    let found: Vec<String> = std::fs::read_dir(people)
        .map(|rd| {
            let mut v: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter_map(|n| {
                    n.strip_prefix(&prefix)
                        .and_then(|p| p.strip_suffix(".crt.pem"))
                        .map(str::to_string)
                })
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let listed = if found.is_empty() {
        format!("{} holds no {role} certificate", people.display())
    } else {
        format!("{role} certificates there: {}", found.join(", "))
    };
    match person {
        Some(p) => {
            let (cert, _) = zd.person_paths(code, role, p);
            anyhow::ensure!(
                cert.is_file(),
                "no certificate for {role} {p} of {code}: {} is missing ({listed}); {issue}",
                cert.display()
            );
            Ok(p.to_string())
        }
        None if zd.person_paths(code, role, default_person).0.is_file() => {
            Ok(default_person.to_string())
        }
        None => match found.as_slice() {
            [only] => Ok(only.clone()),
            [] => anyhow::bail!(
                "this command needs a certificate of role {role} of centre {code}: {listed}; {issue}"
            ),
            _ => anyhow::bail!("which {role}? give --person ({listed})"),
        },
    }
}

/// `listen.local` of `nodes/<code>/node.toml` in a folder `hfx demo` made; `None` in one
/// without `nodes/`.
fn demo_local_endpoint(dir: &Path, code: &str) -> anyhow::Result<Option<String>> {
    let nodes = dir.join("nodes");
    if !nodes.is_dir() {
        return Ok(None);
    }
    let node_cfg = nodes.join(code).join("node.toml");
    if !node_cfg.is_file() {
        let mut here: Vec<String> = std::fs::read_dir(&nodes)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("node.toml").is_file())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        here.sort();
        anyhow::bail!(
            "{} is a zone folder as `hfx demo --dir` leaves it, but has no nodes/{code}/node.toml \
             (nodes here: {}); give another --node, or --endpoint HOST:PORT",
            dir.display(),
            if here.is_empty() {
                "none".to_string()
            } else {
                here.join(", ")
            }
        );
    }
    let text = std::fs::read_to_string(&node_cfg)
        .with_context(|| format!("reading {}", node_cfg.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", node_cfg.display()))?;
    let local = value
        .get("listen")
        .and_then(|l| l.get("local"))
        .and_then(|v| v.as_str())
        .with_context(|| format!("{}: no listen.local", node_cfg.display()))?;
    Ok(Some(local.to_string()))
}

#[derive(Clone)]
pub struct LocalClient {
    pub centre: String,
    channel: Channel,
    /// The files it presents and trusts: a refused call names the certificate.
    files: TlsFiles,
}

impl LocalClient {
    /// Connect as `person` (role `role`) of centre `code`, using the zone folder `dir`.
    pub fn for_zone(dir: &Path, code: &str, role: Role, person: &str) -> anyhow::Result<Self> {
        Self::for_zone_with(dir, code, role, Some(person), person, &Overrides::default())
    }

    /// Connect through the zone folder `dir` ([`ZoneTarget::resolve`]), files or endpoint
    /// given in `over` winning over the folder's.
    pub fn for_zone_with(
        dir: &Path,
        code: &str,
        role: Role,
        person: Option<&str>,
        default_person: &str,
        over: &Overrides,
    ) -> anyhow::Result<Self> {
        let t = ZoneTarget::resolve(dir, code, role, person, default_person, over)?;
        Self::connect(&t.files, code, &t.endpoint, Duration::from_secs(30))
    }

    /// Connect with explicit files to the node of `code` at `addr`.
    pub fn connect(
        files: &TlsFiles,
        code: &str,
        addr: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let cfg = Arc::new(client_config(files)?);
        let channel = channel(
            cfg,
            addr.to_string(),
            hfx_certs::node_dns_name(code),
            None,
            timeout,
        )?;
        Ok(Self {
            centre: code.to_string(),
            channel,
            files: files.clone(),
        })
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The files this client presents and trusts (its person certificate among them).
    pub fn tls_files(&self) -> &TlsFiles {
        &self.files
    }

    pub async fn status(&self) -> Result<pb::NodeStatus, tonic::Status> {
        let mut c = pb::operator_client::OperatorClient::new(self.channel.clone());
        Ok(c.status(pb::StatusRequest {}).await?.into_inner())
    }

    pub async fn reload(&self) -> Result<pb::ReloadReply, tonic::Status> {
        let mut c = pb::operator_client::OperatorClient::new(self.channel.clone());
        Ok(c.reload(pb::ReloadRequest {}).await?.into_inner())
    }

    pub async fn query_member(
        &self,
        q: pb::LocalMemberQuery,
    ) -> Result<pb::LocalMemberReply, tonic::Status> {
        let mut c = pb::clerk_client::ClerkClient::new(self.channel.clone());
        Ok(c.query_member(q).await?.into_inner())
    }

    pub async fn disclosures(&self, limit: u32) -> Result<Vec<pb::Disclosure>, tonic::Status> {
        self.disclosures_where(pb::DisclosureQuery {
            limit,
            ..Default::default()
        })
        .await
    }

    pub async fn disclosures_where(
        &self,
        q: pb::DisclosureQuery,
    ) -> Result<Vec<pb::Disclosure>, tonic::Status> {
        let mut c = pb::audit_client::AuditClient::new(self.channel.clone());
        Ok(c.list_disclosures(q).await?.into_inner().disclosures)
    }

    fn clerk(&self) -> pb::clerk_client::ClerkClient<Channel> {
        pb::clerk_client::ClerkClient::new(self.channel.clone())
    }

    pub async fn start_transfer(
        &self,
        r: pb::StartTransferRequest,
    ) -> Result<pb::TransferView, tonic::Status> {
        Ok(self.clerk().start_transfer(r).await?.into_inner())
    }

    pub async fn get_transfer(&self, case_id: &str) -> Result<pb::TransferView, tonic::Status> {
        let r = pb::GetTransferRequest {
            case_id: case_id.to_string(),
        };
        Ok(self.clerk().get_transfer(r).await?.into_inner())
    }

    pub async fn list_transfers(
        &self,
        r: pb::ListTransfersRequest,
    ) -> Result<Vec<pb::TransferView>, tonic::Status> {
        Ok(self.clerk().list_transfers(r).await?.into_inner().cases)
    }

    pub async fn cancel_transfer(
        &self,
        case_id: &str,
        reason: &str,
    ) -> Result<pb::TransferView, tonic::Status> {
        let r = pb::CancelTransferRequest {
            case_id: case_id.to_string(),
            reason: reason.to_string(),
        };
        Ok(self.clerk().cancel_transfer(r).await?.into_inner())
    }

    pub async fn resolve_transfer(
        &self,
        case_id: &str,
        action: &str,
    ) -> Result<pb::TransferView, tonic::Status> {
        let r = pb::ResolveTransferRequest {
            case_id: case_id.to_string(),
            action: action.to_string(),
        };
        Ok(self.clerk().resolve_transfer(r).await?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_certs::Validity;

    const CODE: &str = "320300000000000";

    fn certs_init_folder() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let zd = ZoneDir::open(tmp.path());
        zd.init(include_str!("../../../deploy/zone.toml"), 30)
            .unwrap();
        zd.issue_person(CODE, Role::Operator, "op01", Validity::days(1))
            .unwrap();
        tmp
    }

    fn resolve(dir: &Path, role: Role, person: Option<&str>) -> anyhow::Result<ZoneTarget> {
        ZoneTarget::resolve(dir, CODE, role, person, "operator1", &Overrides::default())
    }

    #[test]
    fn a_certs_init_folder_serves_as_dir() {
        let tmp = certs_init_folder();
        let t = resolve(tmp.path(), Role::Operator, None).unwrap();
        assert_eq!(t.person, "op01", "the only operator certificate");
        assert_eq!(t.endpoint, DEFAULT_LOCAL);
        assert!(
            t.files
                .cert
                .ends_with("people/320300000000000/operator-op01.crt.pem")
        );
        assert!(t.files.root.ends_with("trust/root.crt.pem"));
        let over = Overrides {
            endpoint: Some("127.0.0.1:9".into()),
            ..Default::default()
        };
        let t = ZoneTarget::resolve(tmp.path(), CODE, Role::Operator, Some("op01"), "x", &over)
            .unwrap();
        assert_eq!(t.endpoint, "127.0.0.1:9");
        // A role with no certificate says how to issue one; an unknown person lists the others.
        let e = resolve(tmp.path(), Role::Auditor, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a certificate of role auditor"), "{e}");
        assert!(
            e.contains("hfx certs person") && e.contains("--role auditor"),
            "{e}"
        );
        let e = resolve(tmp.path(), Role::Operator, Some("op02"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("operator-op02.crt.pem") && e.contains("op01"),
            "{e}"
        );
        ZoneDir::open(tmp.path())
            .issue_person(CODE, Role::Operator, "op02", Validity::days(1))
            .unwrap();
        let e = resolve(tmp.path(), Role::Operator, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("give --person") && e.contains("op01, op02"),
            "{e}"
        );
    }

    #[test]
    fn a_demo_folder_gives_the_node_endpoint() {
        let tmp = certs_init_folder();
        let node = tmp.path().join("nodes").join(CODE);
        std::fs::create_dir_all(&node).unwrap();
        std::fs::write(
            node.join("node.toml"),
            "[listen]\nlocal = \"127.0.0.1:17444\"\n",
        )
        .unwrap();
        let t = resolve(tmp.path(), Role::Operator, Some("op01")).unwrap();
        assert_eq!(t.endpoint, "127.0.0.1:17444");
        let e = ZoneTarget::resolve(
            tmp.path(),
            "320700000000000",
            Role::Operator,
            None,
            "operator1",
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("nodes/320700000000000/node.toml") && e.contains(CODE),
            "{e}"
        );
    }

    #[test]
    fn a_folder_that_is_not_a_zone_says_what_it_expected() {
        let tmp = tempfile::tempdir().unwrap();
        let e = resolve(tmp.path(), Role::Clerk, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a zone folder"), "{e}");
        for want in [
            "trust/root.crt.pem",
            "trust/crl.pem",
            "people/",
            "hfx certs init",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        let e = resolve(&tmp.path().join("nowhere"), Role::Clerk, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no such folder") && e.contains("trust/root.crt.pem"),
            "{e}"
        );
    }
}
