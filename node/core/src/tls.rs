//! The one module that touches rustls: provider installation, TLS 1.3-only mutual-TLS
//! configurations, the reloadable acceptor and the client connector.
//!
//! Every accepted socket gets TCP_NODELAY (with a custom acceptor tonic no longer sets it, and
//! without it mutual-TLS gRPC throughput drops several-fold). Certificates and CRLs are
//! re-read on reload and swapped in for new connections; live connections keep their session.

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Install the process-wide rustls crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}")]
    File {
        path: PathBuf,
        #[source]
        source: crate::error::BoxError,
    },
    #[error("{path}: no certificate in file")]
    NoCertificate { path: PathBuf },
    #[error("tls configuration")]
    Config(#[source] crate::error::BoxError),
}

fn file_err(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        source: Box::new(source),
    }
}

fn config_err(source: impl std::error::Error + Send + Sync + 'static) -> TlsError {
    TlsError::Config(Box::new(source))
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_err(path, e))
}

pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, e))
}

/// The files a TLS identity is built from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub root: PathBuf,
    pub crl: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

struct Material {
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn load_material(files: &TlsFiles) -> Result<Material, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(&files.root)? {
        roots.add(c).map_err(|e| file_err(&files.root, e))?;
    }
    Ok(Material {
        roots: Arc::new(roots),
        crls: load_crls(&files.crl)?,
        chain: load_certs(&files.cert)?,
        key: load_key(&files.key)?,
    })
}

/// TLS 1.3 only, client certificate required and checked against the zone root and CRL.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let m = load_material(files)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(m.roots, provider())
        .with_crls(m.crls)
        .build()
        .map_err(config_err)?;
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.chain, m.key)
        .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// TLS 1.3 only; presents our certificate; verifies the server against the zone root and CRL.
pub fn client_config(files: &TlsFiles) -> Result<ClientConfig, TlsError> {
    let m = load_material(files)?;
    client_config_from(m.roots, m.crls, m.chain, m.key, &[&rustls::version::TLS13])
}

/// Lower-level constructor (tests use it to offer other protocol versions).
pub fn client_config_from(
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<ClientConfig, TlsError> {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .with_crls(crls)
        .build()
        .map_err(config_err)?;
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(config_err)?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// Information about an accepted connection, put into every request's extensions.
#[derive(Debug, Clone)]
pub struct TlsConnectInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The client's certificate chain, end entity first.
    pub peer_certs: Arc<Vec<CertificateDer<'static>>>,
}

/// A server-side TLS connection as tonic sees it. It holds its listener's connection permit
/// until it is dropped, so the cap counts live connections, not handshakes.
pub struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    info: TlsConnectInfo,
    _permit: OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = TlsConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The server configuration new connections use; swapped on reload.
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl ServerTls {
    pub fn new(cfg: ServerConfig) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
        }
    }
    pub fn swap(&self, cfg: ServerConfig) {
        if let Ok(mut g) = self.current.write() {
            *g = Arc::new(cfg);
        }
    }
    fn get(&self) -> Option<Arc<ServerConfig>> {
        self.current.read().ok().map(|g| g.clone())
    }
}

/// Most connections a listener holds at once (handshaking or live); the accept loop waits
/// for a permit before it accepts another.
pub const MAX_CONNECTIONS: usize = 4096;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accept TCP connections, set TCP_NODELAY, and complete TLS handshakes off the accept loop.
/// Failed handshakes are logged at debug and dropped: a refused client sees its call fail.
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
    face: &'static str,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(128);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let permit = match permits.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            };
            let (tcp, remote) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(face, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            let _ = tcp.set_nodelay(true);
            let Some(cfg) = tls.get() else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                let acceptor = TlsAcceptor::from(cfg);
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(face, %remote, error = %e, "tls handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(face, %remote, "tls handshake timed out");
                            return;
                        }
                    };
                let certs = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| c.to_vec())
                    .unwrap_or_default();
                let info = TlsConnectInfo {
                    remote_addr: Some(remote),
                    peer_certs: Arc::new(certs),
                };
                // The connection carries its permit: it is released when the connection closes.
                let _ = tx
                    .send(Ok(TlsConn {
                        inner: stream,
                        info,
                        _permit: permit,
                    }))
                    .await;
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Connect to `addr`, TLS handshake naming `server_name`, and (when given) pin the server's
/// certificate to the SHA-256 fingerprint the directory lists.
pub async fn connect(
    cfg: Arc<ClientConfig>,
    addr: &str,
    server_name: &str,
    pinned_fingerprint: Option<&str>,
) -> std::io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = TlsConnector::from(cfg).connect(name, tcp).await?;
    if let Some(expected) = pinned_fingerprint {
        let got = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| hfx_certs::cert_fingerprint(c));
        if got.as_deref() != Some(expected) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{server_name} presented a certificate that is not the directory's (fingerprint {got:?})"
                ),
            ));
        }
    }
    Ok(TokioIo::new(tls))
}

/// A lazily connecting gRPC channel over our TLS client configuration.
pub fn channel(
    cfg: Arc<ClientConfig>,
    addr: String,
    server_name: String,
    pinned_fingerprint: Option<String>,
    request_timeout: Duration,
) -> Result<tonic::transport::Channel, TlsError> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{server_name}"))
        .map_err(config_err)?
        .connect_timeout(Duration::from_secs(3))
        .timeout(request_timeout)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let svc = tower::service_fn(move |_uri: http::Uri| {
        let cfg = cfg.clone();
        let addr = addr.clone();
        let name = server_name.clone();
        let pin = pinned_fingerprint.clone();
        async move { connect(cfg, &addr, &name, pin.as_deref()).await }
    });
    Ok(endpoint.connect_with_connector_lazy(svc))
}
