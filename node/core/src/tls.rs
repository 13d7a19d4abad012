//! The one module that touches rustls: provider installation, TLS 1.3-only mutual-TLS
//! configurations, the reloadable acceptor and the client connector.
//!
//! Every accepted socket gets TCP_NODELAY (with a custom acceptor tonic no longer sets it, and
//! without it mutual-TLS gRPC throughput drops several-fold). Certificates and CRLs are
//! re-read on reload and swapped in for new connections. Revocation reaches live connections
//! too: each connection knows its certificate's issuer and serial ([`ConnCert`]); the
//! [`Revocation`] in force (revoked serials per issuer, precomputed at reload) is checked on
//! every call (see `crate::auth`), and a reload wakes every connection, which closes itself
//! when its certificate is revoked or no longer admitted.

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
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
    server_config_for(files, "tls")
}

/// [`server_config`] for the listener `face` ("peer", "local"), which names it in the
/// warning a refused client certificate leaves in the log.
pub fn server_config_for(files: &TlsFiles, face: &'static str) -> Result<ServerConfig, TlsError> {
    let m = load_material(files)?;
    let inner = WebPkiClientVerifier::builder_with_provider(m.roots, provider())
        .with_crls(m.crls)
        .build()
        .map_err(config_err)?;
    let verifier = Arc::new(LoggingClientVerifier { inner, face });
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(m.chain, m.key)
        .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// The web console's listener (hfx-console): [`server_config_for`] "console", the same client
/// certificate check, spoken to browsers over HTTP/1.1.
pub fn console_server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let mut cfg = server_config_for(files, "console")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The stable word a log line gives a refused client certificate, by rustls' reason.
fn refusal_reason(e: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Revoked) => crate::error::REASON_CERTIFICATE_REVOKED,
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "CERTIFICATE_EXPIRED"
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "CERTIFICATE_NOT_YET_VALID"
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => "CERTIFICATE_UNKNOWN_ISSUER",
        _ => "CERTIFICATE_INVALID",
    }
}

/// The zone's client-certificate check (webpki against the root and CRL), which also logs
/// every certificate it refuses at warn with the certificate's serial and why, never its
/// subject: a revoked or expired person certificate is refused at the handshake, before any
/// handler could log it, and the operator must still see the refusal.
#[derive(Debug)]
struct LoggingClientVerifier {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    face: &'static str,
}

impl rustls::server::danger::ClientCertVerifier for LoggingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|e| {
                let serial = ConnCert::of(end_entity)
                    .map(|c| c.serial_hex())
                    .unwrap_or_else(|| "unparsable".into());
                tracing::warn!(
                    face = self.face,
                    reason = refusal_reason(e),
                    %serial,
                    error = %e,
                    "handshake refused: client certificate not accepted"
                );
            })
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The alerts about a certificate a peer may end a handshake with, by the name rustls gives
/// them in its message (`received fatal alert: CertificateRevoked`).
const CERT_ALERTS: [rustls::AlertDescription; 6] = [
    rustls::AlertDescription::CertificateRevoked,
    rustls::AlertDescription::CertificateExpired,
    rustls::AlertDescription::BadCertificate,
    rustls::AlertDescription::UnsupportedCertificate,
    rustls::AlertDescription::CertificateUnknown,
    rustls::AlertDescription::UnknownCA,
];

/// The TLS alert a server sent when it ended a connection, found in a failed call's error
/// and its sources (through the `std::io::Error`s that carry it: their `source()` skips the
/// error they wrap, so each is opened with `get_ref`). The stream that meets the alert hands
/// it on as an `io::Error` holding only rustls' text, so a certificate alert is also read
/// from that text.
pub fn alert_in(e: &(dyn std::error::Error + 'static)) -> Option<rustls::AlertDescription> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(rustls::Error::AlertReceived(a)) = e.downcast_ref::<rustls::Error>() {
            return Some(*a);
        }
        if let Some(name) = e
            .to_string()
            .split("received fatal alert: ")
            .nth(1)
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap_or("")
            })
            .map(str::to_string)
            && let Some(a) = CERT_ALERTS.into_iter().find(|a| format!("{a:?}") == name)
        {
            return Some(a);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(a) = alert_in(inner)
        {
            return Some(a);
        }
        cur = e.source();
    }
    None
}

/// A certificate file as its holder sees it: serial, validity and whether a CRL revokes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertStanding {
    /// The serial in hex (as `hfx certs person` printed it and node logs name it).
    pub serial: String,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Whether the CRL file given revokes it.
    pub revoked: bool,
}

impl CertStanding {
    /// Read the first certificate of `cert` and look it up in the CRL file `crl`.
    pub fn read(cert: &Path, crl: &Path) -> Result<Self, TlsError> {
        let der = load_certs(cert)?.swap_remove(0);
        let (_, parsed) =
            x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| file_err(cert, e))?;
        let conn = ConnCert::of(der.as_ref()).ok_or_else(|| TlsError::NoCertificate {
            path: cert.to_path_buf(),
        })?;
        let revoked = RevokedSerials::load(crl)?.contains(&conn);
        Ok(Self {
            serial: conn.serial_hex(),
            not_before: parsed.validity().not_before.timestamp(),
            not_after: parsed.validity().not_after.timestamp(),
            revoked,
        })
    }

    /// Whether `now_unix` is past its end.
    pub fn expired_at(&self, now_unix: i64) -> bool {
        now_unix > self.not_after
    }

    /// Whether `now_unix` is before its start.
    pub fn not_yet_valid_at(&self, now_unix: i64) -> bool {
        now_unix < self.not_before
    }
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

/// A DER INTEGER's content without leading zero bytes, so one serial compares equal however
/// it was padded.
fn normal_serial(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    raw[start..].to_vec()
}

/// A connection's end-entity certificate as revocation sees it: issuer, serial, fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnCert {
    /// The issuer's distinguished name, DER.
    pub issuer: Vec<u8>,
    /// The serial number, big-endian without leading zeros.
    pub serial: Vec<u8>,
    /// SHA-256 of the certificate, as the directory pins it.
    pub fingerprint: String,
}

impl ConnCert {
    /// `None` when the certificate cannot be parsed (the handshake would not have admitted it).
    pub fn of(der: &[u8]) -> Option<Self> {
        let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(Self {
            issuer: c.issuer().as_raw().to_vec(),
            serial: normal_serial(c.raw_serial()),
            fingerprint: hfx_certs::cert_fingerprint(der),
        })
    }

    /// The serial in hex: identifies the certificate in logs without naming its holder.
    pub fn serial_hex(&self) -> String {
        hex::encode(&self.serial)
    }
}

/// The serials a set of CRLs revokes, per issuer.
#[derive(Debug, Clone, Default)]
pub struct RevokedSerials {
    by_issuer: HashMap<Vec<u8>, HashSet<Vec<u8>>>,
}

impl RevokedSerials {
    pub fn from_crls(
        crls: &[CertificateRevocationListDer<'_>],
    ) -> Result<Self, x509_parser::nom::Err<x509_parser::error::X509Error>> {
        let mut by_issuer: HashMap<Vec<u8>, HashSet<Vec<u8>>> = HashMap::new();
        for der in crls {
            let (_, crl) = x509_parser::parse_x509_crl(der.as_ref())?;
            let set = by_issuer.entry(crl.issuer().as_raw().to_vec()).or_default();
            set.extend(
                crl.iter_revoked_certificates()
                    .map(|r| normal_serial(r.raw_serial())),
            );
        }
        Ok(Self { by_issuer })
    }

    /// Read and index the CRL file `path`.
    pub fn load(path: &Path) -> Result<Self, TlsError> {
        Self::from_crls(&load_crls(path)?).map_err(|e| file_err(path, e))
    }

    pub fn contains(&self, cert: &ConnCert) -> bool {
        self.by_issuer
            .get(&cert.issuer)
            .is_some_and(|s| s.contains(&cert.serial))
    }

    /// How many serials are revoked in all.
    pub fn len(&self) -> usize {
        self.by_issuer.values().map(HashSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Default)]
struct RevocationState {
    revoked: RevokedSerials,
    /// When set, only these certificate fingerprints are admitted (the peer API: the
    /// directory's pinned node certificates).
    admitted: Option<HashSet<String>>,
}

/// What a listener refuses on live connections: the CRL in force and, for the peer API, the
/// certificates the directory admits. Set at reload, then [`Revocation::notify`] wakes every
/// live connection to look again.
#[derive(Clone)]
pub struct Revocation {
    state: Arc<RwLock<Arc<RevocationState>>>,
    reloads: Arc<watch::Sender<u64>>,
}

impl Default for Revocation {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            reloads: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.current();
        f.debug_struct("Revocation")
            .field("revoked", &s.revoked.len())
            .field("admitted", &s.admitted.as_ref().map(HashSet::len))
            .finish()
    }
}

impl Revocation {
    fn current(&self) -> Arc<RevocationState> {
        self.state
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn update(&self, f: impl FnOnce(&mut RevocationState)) {
        let mut g = self.state.write().unwrap_or_else(|p| p.into_inner());
        let mut next = RevocationState {
            revoked: g.revoked.clone(),
            admitted: g.admitted.clone(),
        };
        f(&mut next);
        *g = Arc::new(next);
    }

    /// The CRL in force from now on (calls are checked against it at once).
    pub fn set_revoked(&self, revoked: RevokedSerials) {
        self.update(|s| s.revoked = revoked);
    }

    /// Admit only these fingerprints on live connections (`None`: any the CRL does not revoke).
    pub fn set_admitted(&self, admitted: Option<HashSet<String>>) {
        self.update(|s| s.admitted = admitted);
    }

    /// Wake every live connection to check its certificate against what is now in force.
    pub fn notify(&self) {
        self.reloads.send_modify(|g| *g += 1);
    }

    /// Whether the CRL in force revokes `cert` (the per-call check: one hash lookup).
    pub fn is_revoked(&self, cert: &ConnCert) -> bool {
        self.current().revoked.contains(cert)
    }

    /// Why a live connection presenting `cert` must close, if it must.
    fn refuses(&self, cert: &ConnCert) -> Option<&'static str> {
        let s = self.current();
        if s.revoked.contains(cert) {
            Some("certificate revoked")
        } else if s
            .admitted
            .as_ref()
            .is_some_and(|a| !a.contains(&cert.fingerprint))
        {
            Some("certificate no longer in the directory")
        } else {
            None
        }
    }
}

/// Information about an accepted connection, put into every request's extensions.
#[derive(Debug, Clone)]
pub struct TlsConnectInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The client's certificate chain, end entity first.
    pub peer_certs: Arc<Vec<CertificateDer<'static>>>,
    /// The end-entity certificate's issuer, serial and fingerprint, read once at accept.
    pub cert: Option<Arc<ConnCert>>,
    /// What the listener refuses right now.
    pub revocation: Revocation,
}

impl TlsConnectInfo {
    /// The connection's certificate when the CRL in force revokes it (checked on every call).
    pub fn revoked_cert(&self) -> Option<&ConnCert> {
        self.cert
            .as_deref()
            .filter(|c| self.revocation.is_revoked(c))
    }
}

type ReloadWait = Pin<Box<dyn Future<Output = Option<watch::Receiver<u64>>> + Send>>;

fn wait_reload(mut rx: watch::Receiver<u64>) -> ReloadWait {
    Box::pin(async move { rx.changed().await.ok().map(|_| rx) })
}

/// A live connection's watch on reloads: woken by [`Revocation::notify`], it closes the
/// connection when its certificate is refused by what is now in force.
struct ConnWatch {
    wait: Option<ReloadWait>,
    refused: Option<&'static str>,
}

impl ConnWatch {
    fn new(rx: watch::Receiver<u64>) -> Self {
        Self {
            wait: Some(wait_reload(rx)),
            refused: None,
        }
    }

    /// An error when the connection must close. Polled from reads, so an idle connection
    /// (hyper always has a read pending) is woken and closed by the reload itself.
    fn check(
        &mut self,
        cx: &mut Context<'_>,
        info: &TlsConnectInfo,
        face: &str,
    ) -> Option<std::io::Error> {
        if self.refused.is_none() {
            while let Some(wait) = self.wait.as_mut() {
                let Poll::Ready(rx) = wait.as_mut().poll(cx) else {
                    break;
                };
                self.wait = rx.map(wait_reload);
                let Some(cert) = info.cert.as_deref() else {
                    continue;
                };
                if let Some(why) = info.revocation.refuses(cert) {
                    tracing::warn!(face, serial = %cert.serial_hex(), remote = ?info.remote_addr, "closing a live connection: {why}");
                    self.refused = Some(why);
                    self.wait = None;
                }
            }
        }
        self.refused
            .map(|why| std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why))
    }
}

/// A server-side TLS connection as tonic sees it. It holds its listener's connection permit
/// until it is dropped, so the cap counts live connections, not handshakes.
pub struct TlsConn {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    info: TlsConnectInfo,
    watch: ConnWatch,
    face: &'static str,
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
        let this = &mut *self;
        if let Some(e) = this.watch.check(cx, &this.info, this.face) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if let Some(e) = this.watch.check(cx, &this.info, this.face) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
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

/// The server configuration new connections use, swapped on reload, and what live
/// connections are refused ([`Revocation`]; empty until set).
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<RwLock<Arc<ServerConfig>>>,
    revocation: Revocation,
}

impl ServerTls {
    pub fn new(cfg: ServerConfig) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(cfg))),
            revocation: Revocation::default(),
        }
    }
    pub fn revocation(&self) -> &Revocation {
        &self.revocation
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
            // Subscribed before the handshake, so a reload landing during it is seen.
            let watch = ConnWatch::new(tls.revocation.reloads.subscribe());
            let revocation = tls.revocation.clone();
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
                    cert: certs.first().and_then(|c| ConnCert::of(c)).map(Arc::new),
                    peer_certs: Arc::new(certs),
                    revocation,
                };
                // The connection carries its permit: it is released when the connection closes.
                let _ = tx
                    .send(Ok(TlsConn {
                        inner: stream,
                        info,
                        watch,
                        face,
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

#[cfg(test)]
mod tests;
