//! The CLI's side of the local API: a person certificate, the own node's local endpoint, and
//! typed calls. Finds everything from a zone directory (`--dir`, as `hfx demo` leaves it) or
//! from explicit files.

use crate::tls::{TlsFiles, channel, client_config};
use anyhow::Context;
use hfx_certs::{Role, ZoneDir};
use hfx_proto::v1 as pb;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

#[derive(Clone)]
pub struct LocalClient {
    pub centre: String,
    channel: Channel,
}

impl LocalClient {
    /// Connect as `person` (role `role`) of centre `code`, using the zone directory `dir`.
    pub fn for_zone(dir: &Path, code: &str, role: Role, person: &str) -> anyhow::Result<Self> {
        let zd = ZoneDir::open(dir);
        let (cert, key) = zd.person_paths(code, role, person);
        anyhow::ensure!(
            cert.exists(),
            "no certificate for {role} {person} of {code} at {}",
            cert.display()
        );
        let node_cfg = dir.join("nodes").join(code).join("node.toml");
        let text = std::fs::read_to_string(&node_cfg)
            .with_context(|| format!("reading {}", node_cfg.display()))?;
        let value: toml::Value =
            toml::from_str(&text).with_context(|| format!("parsing {}", node_cfg.display()))?;
        let local = value
            .get("listen")
            .and_then(|l| l.get("local"))
            .and_then(|v| v.as_str())
            .with_context(|| format!("{}: no listen.local", node_cfg.display()))?
            .to_string();
        let files = TlsFiles {
            root: zd.root_cert_path(),
            crl: zd.crl_path(),
            cert,
            key,
        };
        Self::connect(&files, code, &local, Duration::from_secs(30))
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
        })
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
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
