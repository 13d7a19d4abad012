//! What each `hfx` subcommand does, one file per command group (the binary only parses
//! arguments), and what the groups share: how the CLI reaches its own node, logging, errors,
//! progress bars.

pub mod adapter;
pub mod attest;
pub mod audit;
pub mod bench;
pub mod certs;
pub mod disclosures;
pub mod doctor;
pub mod duplicates;
pub mod loan;
pub mod maintenance;
pub mod member;
pub mod node;
pub mod seed;
pub mod status;
pub mod store;
pub mod transfer;
pub mod witness;
pub mod zone;

use anyhow::Context;
use hfx_certs::Role;
use hfx_node::client::LocalClient;
use hfx_node::tls::TlsFiles;
use std::path::PathBuf;
use std::time::Duration;

/// How the CLI reaches its own node's local API.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Zone folder as `hfx demo --dir` or `hfx certs init` left it.
    #[arg(long, env = "HFX_DIR")]
    pub dir: Option<PathBuf>,
    /// Own centre (15 digits): whose node to talk to.
    #[arg(long = "node", env = "HFX_NODE")]
    pub node: Option<String>,
    /// Person id of the certificate to use (default: clerk1 / auditor1 / operator1 by role).
    #[arg(long, env = "HFX_PERSON")]
    pub person: Option<String>,
    /// Explicit local endpoint host:port (instead of --dir).
    #[arg(long, env = "HFX_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Explicit person certificate / key / zone root / CRL files (instead of --dir).
    #[arg(long, env = "HFX_CERT")]
    pub cert: Option<PathBuf>,
    #[arg(long, env = "HFX_KEY")]
    pub key: Option<PathBuf>,
    #[arg(long, env = "HFX_ROOT")]
    pub root: Option<PathBuf>,
    #[arg(long, env = "HFX_CRL")]
    pub crl: Option<PathBuf>,
}

impl Conn {
    pub fn client(&self, role: Role) -> anyhow::Result<LocalClient> {
        let node = self
            .node
            .clone()
            .context("which node? give --node CENTRE or set HFX_NODE")?;
        if let Some(endpoint) = &self.endpoint {
            let files = TlsFiles {
                root: self
                    .root
                    .clone()
                    .context("--root is required with --endpoint")?,
                crl: self
                    .crl
                    .clone()
                    .context("--crl is required with --endpoint")?,
                cert: self
                    .cert
                    .clone()
                    .context("--cert is required with --endpoint")?,
                key: self
                    .key
                    .clone()
                    .context("--key is required with --endpoint")?,
            };
            return LocalClient::connect(&files, &node, endpoint, Duration::from_secs(30));
        }
        let dir = self
            .dir
            .clone()
            .context("give --dir ZONE_DIR (or HFX_DIR), or --endpoint with certificate files")?;
        let person = self.person.clone().unwrap_or_else(|| {
            match role {
                Role::Clerk => hfx_zone::launcher::CLERK,
                Role::Auditor => hfx_zone::launcher::AUDITOR,
                Role::Operator => hfx_zone::launcher::OPERATOR,
            }
            .to_string()
        });
        LocalClient::for_zone(&dir, &node, role, &person)
    }
}

pub(crate) fn init_cli_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HFX_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn status_error(s: tonic::Status) -> anyhow::Error {
    // The message already starts with the stable reason.
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

pub(crate) fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
