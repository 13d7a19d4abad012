//! How the vendor client reaches the API: https with the vendor's CA from `adapter.ca_file`
//! (and a client certificate when `adapter.client_cert_file` / `adapter.client_key_file` are
//! set), the URL's host checked against the server certificate's names; plain http only when
//! `adapter.allow_plain_http = true` says so.
//!
//! The rustls configuration names its crypto provider (ring) itself, so the client works in a
//! process that installed no default provider.

use crate::settings::AdapterSettings;
use crate::{AdapterError, BoxError};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The transport the settings ask for.
#[derive(Clone)]
pub(super) enum Transport {
    /// `http://` with `adapter.allow_plain_http = true`.
    Plain,
    Tls {
        config: Arc<ClientConfig>,
        ca_file: PathBuf,
        client_cert: Option<PathBuf>,
    },
}

impl Transport {
    /// The settings' transport for `uri` (already parsed from `adapter.url`).
    pub(super) fn from_settings(
        s: &AdapterSettings,
        uri: &http::Uri,
    ) -> Result<Self, AdapterError> {
        let url = s.url.as_deref().unwrap_or_default();
        let client = match (&s.client_cert_file, &s.client_key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(AdapterError::other(
                    "adapter.client_cert_file is set but adapter.client_key_file is not",
                ));
            }
            (None, Some(_)) => {
                return Err(AdapterError::other(
                    "adapter.client_key_file is set but adapter.client_cert_file is not",
                ));
            }
        };
        match uri.scheme_str() {
            Some("https") => {
                let ca_file = s.ca_file.clone().ok_or_else(|| {
                    AdapterError::other(format!(
                        "adapter.ca_file is required for an https adapter.url ({url:?}): the \
                         PEM file of the CA that issued the vendor API's server certificate"
                    ))
                })?;
                let config = client_config(&ca_file, client.as_ref())?;
                Ok(Transport::Tls {
                    config: Arc::new(config),
                    ca_file,
                    client_cert: client.map(|(c, _)| c),
                })
            }
            Some("http") => {
                if !s.allow_plain_http {
                    return Err(AdapterError::other(format!(
                        "adapter.url {url:?} is plain http: personal data would cross the \
                         network in clear. Use https:// with adapter.ca_file, or set \
                         adapter.allow_plain_http = true to accept it"
                    )));
                }
                let stray = [
                    ("ca_file", s.ca_file.is_some()),
                    ("client_cert_file", client.is_some()),
                ];
                if let Some((k, _)) = stray.iter().find(|(_, set)| *set) {
                    return Err(AdapterError::other(format!(
                        "adapter.{k} is set but adapter.url {url:?} is plain http: use https://"
                    )));
                }
                Ok(Transport::Plain)
            }
            _ => Err(AdapterError::other(format!(
                "adapter.url {url:?} must start with https:// (or http:// with \
                 adapter.allow_plain_http = true)"
            ))),
        }
    }

    /// What `hfx adapter check` says about it.
    pub(super) fn describe(&self) -> String {
        match self {
            Transport::Plain => "plain http (allow_plain_http = true): personal data crosses the \
                                 network in clear"
                .into(),
            Transport::Tls {
                ca_file,
                client_cert,
                ..
            } => format!(
                "https, server certificate verified against {}, {}",
                ca_file.display(),
                match client_cert {
                    Some(c) => format!("client certificate {}", c.display()),
                    None => "no client certificate".into(),
                }
            ),
        }
    }

    pub(super) fn connector(&self) -> Connector {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        Connector {
            http,
            tls: match self {
                Transport::Plain => None,
                Transport::Tls { config, .. } => Some(TlsConnector::from(config.clone())),
            },
        }
    }

    /// Why a failed request will not succeed on a retry, if TLS says so: the server's
    /// certificate was refused (another CA, another name, expired), the server refused ours, or
    /// the server does not speak TLS. Names the setting to look at.
    pub(super) fn refusal(&self, e: &(dyn std::error::Error + 'static)) -> Option<String> {
        let Transport::Tls {
            ca_file,
            client_cert,
            ..
        } = self
        else {
            return None;
        };
        let tls = rustls_error(e)?;
        use rustls::AlertDescription as A;
        use rustls::CertificateError as C;
        use rustls::Error as E;
        Some(match tls {
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                "the vendor API's server certificate is not valid for the host of adapter.url"
                    .to_string()
            }
            E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
                "the vendor API's server certificate is not issued by the CA in adapter.ca_file \
                 ({})",
                ca_file.display()
            ),
            E::InvalidCertificate(_) => {
                "the vendor API's server certificate was refused".to_string()
            }
            E::AlertReceived(
                A::CertificateRequired
                | A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::UnsupportedCertificate
                | A::AccessDenied,
            ) => format!(
                "the vendor API refused our client certificate ({})",
                match client_cert {
                    Some(c) => format!("adapter.client_cert_file {}", c.display()),
                    None => "adapter.client_cert_file is not set".into(),
                }
            ),
            E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
                "TLS with the vendor API failed (does adapter.url's server speak https?)"
                    .to_string()
            }
            _ => "TLS with the vendor API failed".to_string(),
        })
    }
}

/// The rustls error somewhere in `e`'s chain (an io::Error carries it as its payload).
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(r) = x.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = x.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r);
        }
        cur = x.source();
    }
    None
}

fn file_err(key: &str, path: &Path, e: impl std::fmt::Display) -> AdapterError {
    AdapterError::other(format!("adapter.{key} {}: {e}", path.display()))
}

fn certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, AdapterError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(key, path, e))?;
    if certs.is_empty() {
        return Err(file_err(key, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// TLS 1.2 or 1.3 (a vendor's gateway may not have 1.3), ring as the provider, the server
/// verified against `ca_file` only (no system roots: the vendor's CA is the one trusted) with
/// its name checked by webpki.
fn client_config(
    ca_file: &Path,
    client: Option<&(PathBuf, PathBuf)>,
) -> Result<ClientConfig, AdapterError> {
    let mut roots = RootCertStore::empty();
    for c in certs("ca_file", ca_file)? {
        roots.add(c).map_err(|e| file_err("ca_file", ca_file, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| file_err("ca_file", ca_file, e))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AdapterError::other_from("vendor API TLS configuration", e))?
        .with_webpki_verifier(verifier);
    let mut cfg = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs("client_cert_file", cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| file_err("client_key_file", key, e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| file_err("client_key_file", key, e))?
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The client's connector: TCP, then TLS when the transport is https.
#[derive(Clone)]
pub(super) struct Connector {
    http: HttpConnector,
    tls: Option<TlsConnector>,
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<VendorStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        tower::Service::<http::Uri>::poll_ready(&mut self.http, cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let https = uri.scheme_str() == Some("https");
            let name = match (&tls, https) {
                (Some(_), true) => Some(server_name(&uri)?),
                (None, false) => None,
                _ => {
                    return Err(BoxError::from(format!(
                        "{} is not the scheme the vendor client was configured for",
                        uri.scheme_str().unwrap_or("(none)")
                    )));
                }
            };
            let tcp = tower::Service::call(&mut http, uri).await?.into_inner();
            Ok(TokioIo::new(match (tls, name) {
                (Some(tls), Some(name)) => {
                    VendorStream::Tls(Box::new(tls.connect(name, tcp).await?))
                }
                _ => VendorStream::Plain(tcp),
            }))
        })
    }
}

/// The name the server certificate must carry: the URL's host (a DNS name or an IP address).
fn server_name(uri: &http::Uri) -> Result<ServerName<'static>, BoxError> {
    let host = uri.host().ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(ServerName::try_from(host.to_string())?)
}

/// One connection to the vendor API.
pub(super) enum VendorStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for VendorStream {
    fn connected(&self) -> Connected {
        match self {
            VendorStream::Plain(s) => s.connected(),
            VendorStream::Tls(s) => s.get_ref().0.connected(),
        }
    }
}

impl AsyncRead for VendorStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            VendorStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            VendorStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for VendorStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            VendorStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            VendorStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            VendorStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            VendorStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            VendorStream::Plain(s) => s.is_write_vectored(),
            VendorStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            VendorStream::Plain(s) => Pin::new(s).poll_flush(cx),
            VendorStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            VendorStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            VendorStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
