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
pub mod lang;
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
use hfx_node::tls::{CertStanding, TlsFiles};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How the CLI reaches its own node's local API.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Zone folder as `hfx certs init --dir` left it (or a centre's copy: trust/, people/) or
    /// as `hfx demo --dir` did: root, CRL and the person certificate come from it
    /// (people/<node>/<role>-<person>.crt.pem), each unless given below.
    #[arg(long, env = "HFX_DIR")]
    pub dir: Option<PathBuf>,
    /// Own centre (15 digits): whose node to talk to.
    #[arg(long = "node", env = "HFX_NODE")]
    pub node: Option<String>,
    /// Person id of the certificate to use (default: clerk1 / auditor1 / operator1 by role, or
    /// the only certificate of the role the command needs in people/<node>/).
    #[arg(long, env = "HFX_PERSON")]
    pub person: Option<String>,
    /// The node's local endpoint host:port (its `[listen] local`). With --dir: default
    /// nodes/<node>/node.toml's in a folder `hfx demo` made, else 127.0.0.1:7444.
    #[arg(long, env = "HFX_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Explicit person certificate file, PEM (with --endpoint, instead of --dir).
    #[arg(long, env = "HFX_CERT")]
    pub cert: Option<PathBuf>,
    /// The person certificate's private key file, PEM (with --endpoint).
    #[arg(long, env = "HFX_KEY")]
    pub key: Option<PathBuf>,
    /// The zone root certificate file, PEM, that the node's certificate chains to (with
    /// --endpoint).
    #[arg(long, env = "HFX_ROOT")]
    pub root: Option<PathBuf>,
    /// The zone's CRL file, PEM (with --endpoint).
    #[arg(long, env = "HFX_CRL")]
    pub crl: Option<PathBuf>,
}

impl Conn {
    pub fn client(&self, role: Role) -> anyhow::Result<LocalClient> {
        let node = self
            .node
            .clone()
            .context("which node? give --node CENTRE or set HFX_NODE")?;
        let default_person = match role {
            Role::Clerk => hfx_zone::launcher::CLERK,
            Role::Auditor => hfx_zone::launcher::AUDITOR,
            Role::Operator => hfx_zone::launcher::OPERATOR,
        };
        let over = hfx_node::client::Overrides {
            endpoint: self.endpoint.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            root: self.root.clone(),
            crl: self.crl.clone(),
        };
        match &self.dir {
            Some(dir) => LocalClient::for_zone_with(
                dir,
                &node,
                role,
                self.person.as_deref(),
                default_person,
                &over,
            )
            .map(remember_own_cert),
            None => Self::explicit(&node, &over),
        }
    }

    /// Without --dir: every file and the endpoint given.
    fn explicit(node: &str, over: &hfx_node::client::Overrides) -> anyhow::Result<LocalClient> {
        let need = |v: &Option<PathBuf>, flag: &str| {
            v.clone().with_context(|| {
                format!("{flag} is required without --dir (or give --dir ZONE_DIR / HFX_DIR)")
            })
        };
        let endpoint = over
            .endpoint
            .clone()
            .context("give --dir ZONE_DIR (or HFX_DIR), or --endpoint with certificate files")?;
        let files = TlsFiles {
            root: need(&over.root, "--root")?,
            crl: need(&over.crl, "--crl")?,
            cert: need(&over.cert, "--cert")?,
            key: need(&over.key, "--key")?,
        };
        LocalClient::connect(&files, node, &endpoint, Duration::from_secs(30))
            .map(remember_own_cert)
    }
}

/// The certificate this process presents to its node (one person per CLI process), kept so
/// that a refused call can say which certificate was refused and why ([`status_error`]).
static OWN_CERT: Mutex<Option<TlsFiles>> = Mutex::new(None);

fn remember_own_cert(client: LocalClient) -> LocalClient {
    let mut own = OWN_CERT.lock().unwrap_or_else(|p| p.into_inner());
    *own = Some(client.tls_files().clone());
    client
}

pub(crate) fn init_cli_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HFX_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(hfx_node::telemetry::colour(std::io::stderr().is_terminal()))
        .try_init();
}

pub(crate) fn status_error(s: tonic::Status) -> anyhow::Error {
    let cat = lang::cat();
    let own = OWN_CERT.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(files) = own {
        let standing = CertStanding::read(&files.cert, &files.crl).ok();
        if let Some(text) = refused_cert(cat, &s, &files.cert, standing.as_ref(), now_unix()) {
            return anyhow::anyhow!(text);
        }
    }
    anyhow::anyhow!(explain_status(cat, &s))
}

/// A refusal as a person reads it: what happened and what to do, from the catalogue, then the
/// gRPC code, the stable reason and the node's text as they came (`Code: REASON: text`, which
/// scripts grep). A reason the catalogue does not know is shown as the node sent it.
pub(crate) fn explain_status(cat: &hfx_i18n::Catalogue, s: &tonic::Status) -> String {
    // The message already starts with the stable reason.
    let raw = format!("{:?}: {}", s.code(), s.message());
    let reason = hfx_node::error::reason_of(s).or_else(|| {
        // A reason passed on in the text only (a relay that kept the message, not the key).
        let (head, _) = s.message().split_once(':')?;
        let stable = !head.is_empty()
            && head
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
        stable.then(|| head.to_string())
    });
    let advice = match reason.as_deref().and_then(|r| cat.reason_advice(r)) {
        Some(a) => Some(a),
        // No handler answered: the connection itself.
        None if reason.is_none() => match s.code() {
            tonic::Code::Unavailable => Some(cat.msg("code-unavailable")),
            tonic::Code::Unknown
                if s.message().contains("transport error")
                    || std::error::Error::source(s).is_some() =>
            {
                Some(cat.msg("code-unavailable"))
            }
            tonic::Code::DeadlineExceeded => Some(cat.msg("code-deadline")),
            _ => None,
        },
        None => None,
    };
    match advice {
        Some(a) => cat.explained(&a, &raw),
        None => raw,
    }
}

/// An error and its causes as one line, each said once: a cause whose text the line already
/// ends with (an error that prints its source and also keeps it as `source`, or a context
/// that repeats what it wraps) is left out, so no command prints a message twice.
pub(crate) fn error_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn utc(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// When a call failed because the node refused this CLI's own certificate `cert`, what to
/// tell the person: which file, its serial, why (revoked, expired, not yet valid) and what to
/// do. Under TLS 1.3 the node checks the client's certificate after the client considers the
/// handshake done, so the refusal shows on the first call as a transport error carrying the
/// node's alert; the per-call check of a connection opened before the revocation answers
/// CERTIFICATE_REVOKED instead. Either is confirmed or explained by the certificate's own
/// standing (`standing`: its validity and the zone CRL), when it could be read. `None`: the
/// failure is not about the certificate.
fn refused_cert(
    cat: &hfx_i18n::Catalogue,
    s: &tonic::Status,
    cert: &Path,
    standing: Option<&CertStanding>,
    now: i64,
) -> Option<String> {
    use rustls::AlertDescription as A;
    let reason = hfx_node::error::reason_of(s);
    let alert = std::error::Error::source(s).and_then(hfx_node::tls::alert_in);
    // A failure no handler answered (no stable reason): the connection itself.
    let transport = reason.is_none()
        && matches!(
            s.code(),
            tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::Cancelled
        );
    let revoked = alert == Some(A::CertificateRevoked)
        || reason.as_deref() == Some(hfx_node::error::REASON_CERTIFICATE_REVOKED)
        || (transport && standing.is_some_and(|c| c.revoked));
    let expired = alert == Some(A::CertificateExpired)
        || (transport && standing.is_some_and(|c| c.expired_at(now) || c.not_yet_valid_at(now)));
    let other_alert = alert.filter(|a| {
        matches!(
            a,
            A::BadCertificate | A::UnsupportedCertificate | A::CertificateUnknown | A::UnknownCA
        )
    });
    let file = cert.display().to_string();
    let serial = standing.map_or_else(String::new, |c| {
        cat.text("error-cert-serial", &[("serial", c.serial.as_str().into())])
    });
    let fix = cat.msg("error-cert-fix");
    let status = format!("{:?}: {}", s.code(), s.message());
    // English keeps the moment in UTC as before; Chinese reads it in Beijing time.
    let when = |unix: i64| match cat.lang() {
        hfx_i18n::Lang::En => utc(unix),
        hfx_i18n::Lang::ZhCn => cat.date_time_unix(unix),
    };
    let mut args: Vec<hfx_i18n::Arg<'_>> = vec![
        ("file", file.into()),
        ("serial", serial.into()),
        ("fix", fix.into()),
        ("status", status.into()),
    ];
    let id = if revoked {
        "error-cert-revoked"
    } else if expired {
        match standing {
            Some(c) if c.not_yet_valid_at(now) => {
                args.push(("date", when(c.not_before).into()));
                "error-cert-not-yet-valid"
            }
            Some(c) => {
                args.push(("date", when(c.not_after).into()));
                "error-cert-expired"
            }
            None => "error-cert-expired-unknown",
        }
    } else if let Some(a) = other_alert {
        args.push(("alert", format!("{a:?}").into()));
        "error-cert-not-accepted"
    } else {
        return None;
    };
    Some(cat.text(id, &args))
}

/// A progress bar on stderr when stderr is a terminal; otherwise a hidden one, so a log or a
/// pipe never receives bar frames.
pub(crate) fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests;
