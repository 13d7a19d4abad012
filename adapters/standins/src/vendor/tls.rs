//! The vendor stand-in over https: a vendor CA made on the spot ([`VendorCa`]), the server's
//! rustls configuration (optionally requiring a client certificate from a given CA), and the
//! listener that hands axum connections whose TLS handshake succeeded.

use hfx_adapters::AdapterError;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A handshake slower than this is dropped (it must not hold a connection slot forever).
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);

fn pki_err(what: &str) -> impl FnOnce(rcgen::Error) -> AdapterError + '_ {
    move |e| AdapterError::other_from(format!("vendor stand-in certificates: {what}"), e)
}

/// A CA of the kind a vendor runs for its API: it issues the server's certificate and, when the
/// API asks for one, the client certificate of the fund centre.
pub struct VendorCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl VendorCa {
    /// A new CA named `name` (its common name).
    pub fn generate(name: &str) -> Result<Self, AdapterError> {
        let key = KeyPair::generate().map_err(pki_err("CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(pki_err("CA certificate"))?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA's certificate, PEM (what `adapter.ca_file` holds).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses): (certificate PEM, key PEM).
    pub fn server_cert(&self, names: &[&str]) -> Result<(String, String), AdapterError> {
        self.issue(names, "vendor API", ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with common name `cn`: (certificate PEM, key PEM).
    pub fn client_cert(&self, cn: &str) -> Result<(String, String), AdapterError> {
        self.issue(&[], cn, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        names: &[&str],
        cn: &str,
        purpose: ExtendedKeyUsagePurpose,
    ) -> Result<(String, String), AdapterError> {
        let key = KeyPair::generate().map_err(pki_err("key"))?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(pki_err("certificate names"))?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki_err("certificate"))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// How the stand-in serves https: its certificate chain and key (PEM), and the CA a client
/// certificate must chain to (`None`: no client certificate asked for).
#[derive(Clone)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: Option<String>,
}

fn bad_pem(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> AdapterError {
    AdapterError::other_from(format!("vendor stand-in TLS: {what}"), e)
}

impl ServerTls {
    /// The rustls server configuration (TLS 1.2 and 1.3, the ring provider named explicitly).
    pub fn config(&self) -> Result<Arc<ServerConfig>, AdapterError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_pem("certificate", e))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| bad_pem("key", e))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| bad_pem("protocol versions", e))?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots
                        .add(c.map_err(|e| bad_pem("client CA", e))?)
                        .map_err(|e| bad_pem("client CA", e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| bad_pem("client CA", e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let cfg = builder
            .with_single_cert(chain, key)
            .map_err(|e| bad_pem("certificate and key", e))?;
        Ok(Arc::new(cfg))
    }
}

/// The files a client of a stand-in with a generated CA needs (the adapter settings point at
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    pub ca_file: PathBuf,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// A vendor CA for a stand-in on loopback: a server certificate for `127.0.0.1` and
/// `localhost`, a client certificate the server requires, and the client's files written to
/// `dir` (`vendor-ca.crt.pem`, `client.crt.pem`, `client.key.pem`; absolute paths).
pub fn generated(dir: &Path) -> Result<(ServerTls, ClientFiles), AdapterError> {
    let ca = VendorCa::generate("hfx vendor API stand-in CA")?;
    let (cert_pem, key_pem) = ca.server_cert(&["127.0.0.1", "localhost"])?;
    let (client_cert, client_key) = ca.client_cert("hfx exchange node")?;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| AdapterError::unavailable_from(dir.display().to_string(), e))?;
    let files = ClientFiles {
        ca_file: dir.join("vendor-ca.crt.pem"),
        client_cert_file: Some(dir.join("client.crt.pem")),
        client_key_file: Some(dir.join("client.key.pem")),
    };
    write(&files.ca_file, ca.cert_pem(), false)?;
    write(&dir.join("client.crt.pem"), &client_cert, false)?;
    write(&dir.join("client.key.pem"), &client_key, true)?;
    Ok((
        ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: Some(ca.cert_pem().to_string()),
        },
        files,
    ))
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), AdapterError> {
    let err = |e| AdapterError::unavailable_from(path.display().to_string(), e);
    std::fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// A listener handing axum the connections whose TLS handshake succeeded. Handshakes run
/// concurrently (a slow or refused one does not hold up the others); stops accepting when
/// dropped.
pub(super) struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(super) fn new(listener: TcpListener, cfg: Arc<ServerConfig>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let acceptor = TlsAcceptor::from(cfg);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "vendor API stand-in: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "vendor API stand-in: TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "vendor API stand-in: TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self { rx, addr, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop is gone (the runtime is shutting down): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
