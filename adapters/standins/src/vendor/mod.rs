//! The vendor API stand-in: an HTTP/JSON server in the vendor's API v2 (see
//! `hfx_adapters::vendorapi`), with its own store (a sqlite core, so transfer holds run the
//! shared state machine) and injectable faults (5xx, 429, delays, small pages, token expiry).
//!
//! It serves https ([`spawn_standin`]: a vendor CA generated for it, a server certificate for
//! `127.0.0.1` and `localhost`, a client certificate required), https with a given identity, or
//! plain http ([`spawn_standin_with`], [`Transport`]); [`StandIn::settings`] are the adapter
//! settings that reach it either way.
//!
//! Transfer writes can also fail on command, per operation ([`VendorApiServer::fail_write`]):
//! before the write is applied (503, nothing stored), or after it was applied: a 503, or the
//! connection cut before the answer is complete ([`WriteFault`]). A stand-in can be restarted on
//! its port with its data ([`StandIn::restart`]).

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hfx_adapters::AdapterError;
use hfx_adapters::faults::WriteOp;
use hfx_adapters::settings::AdapterSettings;
use hfx_adapters::sqlite::SqliteCore;
use hfx_adapters::vendorapi::VendorApiCore;
use hfx_adapters::vendorapi::wire::{TXN_TYPES, VENDOR_ERRORS};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod routes;
pub mod tls;

pub use tls::{ClientFiles, ServerTls, VendorCa};

use routes::{
    admin_seed, admin_stats, codes, health, loans, members, token, transactions, transfer,
};

pub const STANDIN_CLIENT_ID: &str = "hfx-exchange";
pub const STANDIN_CLIENT_SECRET: &str = "standin-secret";

/// How the stand-in misbehaves (tests and demo). Everything but `token_ttl` can be changed while
/// it runs through [`VendorApiServer`]'s methods.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Every Nth request (counting all requests, from 1) answers 503 E5030.
    pub fail_every: Option<u64>,
    /// Wait this long before answering any request.
    pub delay: Duration,
    /// At most this many requests per one-second window; beyond it 429 E4290 with Retry-After.
    pub rate_limit_per_sec: Option<u32>,
    /// The Retry-After (seconds) a 429 carries.
    pub retry_after_secs: u64,
    /// Largest page handed out (a larger pageSize is cut down to it).
    pub max_page_size: u32,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_every: None,
            delay: Duration::ZERO,
            rate_limit_per_sec: None,
            retry_after_secs: 1,
            max_page_size: 200,
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// What the stand-in has seen and done (for tests and the demo).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub injected_5xx: u64,
    pub throttled: u64,
    pub unauthorized: u64,
    pub tokens_issued: u64,
    pub member_pages: u64,
    pub transaction_pages: u64,
    pub loan_pages: u64,
    /// Transfer writes failed on command before they were applied.
    pub failed_before_apply: u64,
    /// Transfer writes applied, then failed on command (503 or a cut connection).
    pub failed_after_apply: u64,
}

/// How a transfer write fails on command ([`VendorApiServer::fail_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFault {
    /// 503 E5030 before the write: nothing is applied.
    Before5xx,
    /// The write is applied and committed, then the answer is 503 E5030.
    After5xx,
    /// The write is applied and committed, then the connection is cut before the answer is
    /// complete.
    AfterCut,
}

impl WriteFault {
    fn before(self) -> bool {
        self == WriteFault::Before5xx
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    injected_5xx: AtomicU64,
    throttled: AtomicU64,
    unauthorized: AtomicU64,
    tokens_issued: AtomicU64,
    member_pages: AtomicU64,
    transaction_pages: AtomicU64,
    loan_pages: AtomicU64,
    failed_before_apply: AtomicU64,
    failed_after_apply: AtomicU64,
}

struct ServerState {
    store: SqliteCore,
    client_id: String,
    client_secret: String,
    token_ttl: Duration,
    tokens: std::sync::Mutex<HashMap<String, Instant>>,
    fail_every: AtomicU64,
    fail_next: AtomicU64,
    throttle_next: AtomicU64,
    delay_ms: AtomicU64,
    rate_limit: AtomicU32,
    retry_after: AtomicU64,
    max_page: AtomicU32,
    window: std::sync::Mutex<(Instant, u32)>,
    /// Armed transfer-write faults, in order per operation: (fault, writes left).
    write_faults: std::sync::Mutex<HashMap<WriteOp, VecDeque<(WriteFault, u64)>>>,
    counters: Counters,
}

/// The stand-in of the vendor's API server, with its own store (`vendor.db` in its data folder,
/// private to it).
#[derive(Clone)]
pub struct VendorApiServer {
    st: Arc<ServerState>,
}

/// A running server; stops when dropped (at once), or with [`ServerTask::stop`] (gracefully).
pub struct ServerTask {
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ServerTask {
    /// Stop accepting, close idle connections, let requests in flight finish, and return once
    /// the listener is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct VErr {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    /// Fields beside code and message (E3005: caseId, state).
    extra: Option<(String, String)>,
}

fn verr(code: &'static str, message: impl Into<String>) -> VErr {
    let status = VENDOR_ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .and_then(|(_, s, _)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    VErr {
        status,
        code,
        message: message.into(),
        retry_after: None,
        extra: None,
    }
}

impl IntoResponse for VErr {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(match &self.extra {
                None => json!({ "code": self.code, "message": self.message }),
                Some((case_id, state)) => json!({
                    "code": self.code, "message": self.message, "caseId": case_id, "state": state,
                }),
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

fn store_err(e: AdapterError) -> VErr {
    match e {
        AdapterError::UnknownHoldState { case_id, state } => {
            let mut v = verr(
                "E3005",
                format!("the hold of case {case_id} is in unknown state {state:?}"),
            );
            v.extra = Some((case_id, state));
            v
        }
        AdapterError::Conflict(m) => verr("E3001", m),
        AdapterError::NotFound(m) if m.starts_with("reservation") => verr("E3004", m),
        AdapterError::NotFound(m) => verr("E2001", m),
        e @ (AdapterError::BadRecord { .. } | AdapterError::UnknownCode { .. }) => {
            verr("E4001", e.to_string())
        }
        // The stand-in vendor answers with its own failure's text, causes included.
        AdapterError::Unavailable { what, source } | AdapterError::Other { what, source } => {
            verr("E5000", crate::with_causes(what, source))
        }
    }
}

fn db_err(e: sqlx::Error) -> VErr {
    verr("E5000", format!("store: {e}"))
}

type Reply = Result<Json<Value>, VErr>;
type Params = Query<HashMap<String, String>>;

// The stand-in's own code tables: its store's (standard) codes -> the vendor's strings. A code
// the table lacks goes out as it is.
const OUT_STATUS: [(&str, &str); 8] = [
    ("01", "ACTV"),
    ("02", "SEAL"),
    ("03", "CLMG"),
    ("04", "CLTO"),
    ("05", "CLWD"),
    ("06", "FRZN"),
    ("07", "DORM"),
    ("99", "OTHR"),
];
const OUT_ID: [(&str, &str); 5] = [
    ("01", "111"),
    ("02", "114"),
    ("03", "414"),
    ("04", "553"),
    ("99", "990"),
];
const OUT_LOAN: [(&str, &str); 4] = [
    ("1", "CURRENT"),
    ("2", "DELINQUENT"),
    ("3", "PAID_OFF"),
    ("4", "WRITTEN_OFF"),
];

fn out_code(table: &[(&'static str, &'static str)], raw: &str) -> String {
    table
        .iter()
        .find(|(s, _)| *s == raw)
        .map_or_else(|| raw.to_string(), |(_, v)| v.to_string())
}
fn in_code<'a>(table: &[(&'a str, &'a str)], vendor: &str) -> Option<&'a str> {
    table.iter().find(|(_, v)| *v == vendor).map(|(s, _)| *s)
}
fn out_txn(raw: &str) -> String {
    TXN_TYPES
        .iter()
        .find(|(_, c)| *c == raw)
        .map_or_else(|| raw.to_string(), |(v, _)| v.to_string())
}
fn out_month(raw: &str) -> String {
    if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}", &raw[..4], &raw[4..])
    } else {
        raw.to_string()
    }
}

impl VendorApiServer {
    /// Open (creating) the stand-in's store in `data_dir`.
    pub async fn open(data_dir: &Path, faults: Faults) -> Result<Self, AdapterError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| AdapterError::unavailable_from(data_dir.display().to_string(), e))?;
        let store = SqliteCore::open(&data_dir.join("vendor.db")).await?;
        Ok(Self {
            st: Arc::new(ServerState {
                store,
                client_id: STANDIN_CLIENT_ID.into(),
                client_secret: STANDIN_CLIENT_SECRET.into(),
                token_ttl: faults.token_ttl,
                tokens: Default::default(),
                fail_every: AtomicU64::new(faults.fail_every.unwrap_or(0)),
                fail_next: AtomicU64::new(0),
                throttle_next: AtomicU64::new(0),
                delay_ms: AtomicU64::new(faults.delay.as_millis() as u64),
                rate_limit: AtomicU32::new(faults.rate_limit_per_sec.unwrap_or(0)),
                retry_after: AtomicU64::new(faults.retry_after_secs),
                max_page: AtomicU32::new(faults.max_page_size.max(1)),
                window: std::sync::Mutex::new((Instant::now(), 0)),
                write_faults: Default::default(),
                counters: Counters::default(),
            }),
        })
    }

    /// The stand-in's private store (tests put bad data in it, as a vendor's core may hold).
    pub fn store(&self) -> &SqliteCore {
        &self.st.store
    }

    /// The next `n` requests answer 503.
    pub fn fail_next(&self, n: u64) {
        self.st.fail_next.store(n, Ordering::SeqCst);
    }
    /// Every `n`th request answers 503 (0: never).
    pub fn set_fail_every(&self, n: u64) {
        self.st.fail_every.store(n, Ordering::SeqCst);
    }
    /// The next `n` requests answer 429 with the configured Retry-After.
    pub fn throttle_next(&self, n: u64) {
        self.st.throttle_next.store(n, Ordering::SeqCst);
    }
    pub fn set_delay(&self, d: Duration) {
        self.st
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
    /// At most `n` requests per one-second window (0: no limit).
    pub fn set_rate_limit(&self, n: u32) {
        self.st.rate_limit.store(n, Ordering::SeqCst);
    }
    pub fn set_retry_after(&self, secs: u64) {
        self.st.retry_after.store(secs, Ordering::SeqCst);
    }
    pub fn set_max_page_size(&self, n: u32) {
        self.st.max_page.store(n.max(1), Ordering::SeqCst);
    }
    /// The next `times` transfer writes of `op` (after the faults already armed for it) fail
    /// with `fault`. A fault after the write strikes only a write the store applied; a write the
    /// store refuses answers its error and leaves the fault armed.
    pub fn fail_write(&self, op: WriteOp, fault: WriteFault, times: u64) {
        if times == 0 {
            return;
        }
        self.st
            .write_faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(op)
            .or_default()
            .push_back((fault, times));
    }
    /// Forget every issued token (the next API call answers 401 E1001).
    pub fn revoke_tokens(&self) {
        self.st
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
    pub fn stats(&self) -> Stats {
        let c = &self.st.counters;
        let g = |a: &AtomicU64| a.load(Ordering::SeqCst);
        Stats {
            requests: g(&c.requests),
            injected_5xx: g(&c.injected_5xx),
            throttled: g(&c.throttled),
            unauthorized: g(&c.unauthorized),
            tokens_issued: g(&c.tokens_issued),
            member_pages: g(&c.member_pages),
            transaction_pages: g(&c.transaction_pages),
            loan_pages: g(&c.loan_pages),
            failed_before_apply: g(&c.failed_before_apply),
            failed_after_apply: g(&c.failed_after_apply),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth/token", post(token))
            .route("/api/v2/health", get(health))
            .route("/api/v2/codes", get(codes))
            .route("/api/v2/members", get(members))
            .route("/api/v2/accounts/{acct}/transactions", get(transactions))
            .route("/api/v2/loans", get(loans))
            .route("/api/v2/transfers/{case_id}/{op}", post(transfer))
            .route("/admin/seed", post(admin_seed))
            .route("/admin/stats", get(admin_stats))
            .fallback(|| async { verr("E2002", "no such endpoint") })
            .with_state(self.st.clone())
    }

    /// Serve plain http on `listener` in the background until the returned task is dropped or
    /// stopped.
    pub fn start(&self, listener: tokio::net::TcpListener) -> ServerTask {
        let app = self.router();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "vendor API stand-in stopped");
            }
        });
        ServerTask {
            task,
            stop: Some(stop),
        }
    }

    /// Serve https with `tls` on `listener`, as [`VendorApiServer::start`] does http.
    pub fn start_tls(
        &self,
        listener: tokio::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<ServerTask, AdapterError> {
        let listener = tls::TlsListener::new(listener, tls)
            .map_err(|e| AdapterError::unavailable_from("vendor API stand-in listener", e))?;
        let app = self.router();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "vendor API stand-in stopped");
            }
        });
        Ok(ServerTask {
            task,
            stop: Some(stop),
        })
    }

    fn serve(
        &self,
        listener: tokio::net::TcpListener,
        tls: Option<&Arc<rustls::ServerConfig>>,
    ) -> Result<ServerTask, AdapterError> {
        match tls {
            None => Ok(self.start(listener)),
            Some(cfg) => self.start_tls(listener, cfg.clone()),
        }
    }
}

impl ServerState {
    /// The armed fault the next write of `op` meets, spent, if it strikes `before` (or after)
    /// the write.
    fn take_write_fault(&self, op: WriteOp, before: bool) -> Option<WriteFault> {
        let mut all = self.write_faults.lock().unwrap_or_else(|p| p.into_inner());
        let q = all.get_mut(&op)?;
        let front = q.front_mut()?;
        if front.0.before() != before {
            return None;
        }
        let fault = front.0;
        front.1 -= 1;
        if front.1 == 0 {
            q.pop_front();
        }
        let c = if before {
            &self.counters.failed_before_apply
        } else {
            &self.counters.failed_after_apply
        };
        c.fetch_add(1, Ordering::SeqCst);
        Some(fault)
    }

    /// What a gateway in front of the vendor's API does to every request: delays, injected
    /// faults, rate limiting, and (for the API) the bearer token.
    async fn gate(&self, headers: &HeaderMap, auth: bool) -> Result<(), VErr> {
        let n = self.counters.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let every = self.fail_every.load(Ordering::SeqCst);
        let burst = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok();
        if burst || (every > 0 && n.is_multiple_of(every)) {
            self.counters.injected_5xx.fetch_add(1, Ordering::SeqCst);
            return Err(verr("E5030", "service temporarily unavailable, try again"));
        }
        let throttled = self
            .throttle_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok();
        let limit = self.rate_limit.load(Ordering::SeqCst);
        let over = limit > 0 && {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if w.0.elapsed() >= Duration::from_secs(1) {
                *w = (Instant::now(), 0);
            }
            w.1 += 1;
            w.1 > limit
        };
        if throttled || over {
            self.counters.throttled.fetch_add(1, Ordering::SeqCst);
            let mut e = verr("E4290", "too many requests");
            e.retry_after = Some(self.retry_after.load(Ordering::SeqCst));
            return Err(e);
        }
        if auth {
            let tok = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let ok = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(tok)
                .is_some_and(|until| Instant::now() < *until);
            if !ok {
                self.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
                return Err(verr("E1001", "access token missing, invalid or expired"));
            }
        }
        Ok(())
    }

    fn paging(&self, q: &HashMap<String, String>) -> Result<(u32, u32), VErr> {
        let num =
            |k: &str, default: u32| -> Result<u32, VErr> {
                match q.get(k) {
                    None => Ok(default),
                    Some(v) => v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                        verr("E2002", format!("{k} {v:?} is not a positive number"))
                    }),
                }
            };
        let page = num("page", 1)?;
        let size = num("pageSize", 20)?.min(self.max_page.load(Ordering::SeqCst));
        Ok((page, size))
    }
}

/// How a stand-in serves ([`spawn_standin_with`]).
#[derive(Clone)]
pub enum Transport {
    /// Plain http; its settings carry `allow_plain_http = true`.
    Plain,
    /// https with a vendor CA generated into the data folder (as [`spawn_standin`]).
    Generated,
    /// https with this identity; its settings carry no CA (the test that made it knows which
    /// CA a client should trust, and sets `ca_file` itself).
    Tls(ServerTls),
}

/// How a stand-in over https serves, kept for its restarts.
struct Served {
    config: Arc<rustls::ServerConfig>,
    files: Option<ClientFiles>,
}

/// A running stand-in: its URL and credentials, the server (fault controls, stats, store).
pub struct StandIn {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
    pub server: VendorApiServer,
    /// https: the server's configuration, and the client's files when the CA was generated.
    tls: Option<Arc<Served>>,
    addr: SocketAddr,
    data_dir: PathBuf,
    faults: Faults,
    task: Option<ServerTask>,
}

impl StandIn {
    /// Adapter settings that reach this stand-in (https: its CA and client certificate files;
    /// plain http: `allow_plain_http = true`).
    pub fn settings(&self) -> AdapterSettings {
        let files = self.client_files().cloned();
        AdapterSettings {
            kind: "vendorapi".into(),
            url: Some(self.url.clone()),
            client_id: Some(self.client_id.clone()),
            client_secret: Some(self.client_secret.clone()),
            ca_file: files.as_ref().map(|f| f.ca_file.clone()),
            client_cert_file: files.as_ref().and_then(|f| f.client_cert_file.clone()),
            client_key_file: files.and_then(|f| f.client_key_file),
            allow_plain_http: self.tls.is_none(),
            ..Default::default()
        }
    }

    /// The files a client trusts and presents (a generated CA); `None` for plain http or a
    /// given identity.
    pub fn client_files(&self) -> Option<&ClientFiles> {
        self.tls.as_ref().and_then(|t| t.files.as_ref())
    }

    /// An adapter for this stand-in ([`StandIn::settings`], with this per-call deadline).
    pub fn core(&self, timeout: Option<Duration>) -> Result<VendorApiCore, AdapterError> {
        VendorApiCore::open(&AdapterSettings {
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
            ..self.settings()
        })
    }

    /// Stop the server (gracefully: requests in flight finish) and start it again on the same
    /// port with the same data, as a vendor's restart does: tokens, counters, and faults set
    /// while it ran are forgotten; it starts from its [`Faults`].
    pub async fn restart(&mut self) -> Result<(), AdapterError> {
        if let Some(t) = self.task.take() {
            t.stop().await;
        }
        self.server.store().pool().close().await;
        let server = VendorApiServer::open(&self.data_dir, self.faults.clone()).await?;
        // The old listener is closed; its port may take a moment to be free again.
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(AdapterError::unavailable_from(
                        format!("vendor API stand-in: binding {} again", self.addr),
                        e,
                    ));
                }
            }
        };
        self.task = Some(server.serve(listener, self.tls.as_ref().map(|t| &t.config))?);
        self.server = server;
        Ok(())
    }
}

/// Start the vendor API stand-in on `listener` with its store in `data_dir`, over https with a
/// vendor CA generated into `data_dir` and a client certificate required
/// ([`Transport::Generated`]).
pub async fn spawn_standin(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    faults: Faults,
) -> Result<StandIn, AdapterError> {
    spawn_standin_with(listener, data_dir, faults, Transport::Generated).await
}

/// [`spawn_standin`] over the given transport.
pub async fn spawn_standin_with(
    listener: tokio::net::TcpListener,
    data_dir: &Path,
    faults: Faults,
    transport: Transport,
) -> Result<StandIn, AdapterError> {
    let addr = listener
        .local_addr()
        .map_err(|e| AdapterError::unavailable_from("listener", e))?;
    let server = VendorApiServer::open(data_dir, faults.clone()).await?;
    let tls = match transport {
        Transport::Plain => None,
        Transport::Generated => {
            let (identity, files) = tls::generated(data_dir)?;
            Some(Arc::new(Served {
                config: identity.config()?,
                files: Some(files),
            }))
        }
        Transport::Tls(identity) => Some(Arc::new(Served {
            config: identity.config()?,
            files: None,
        })),
    };
    let task = server.serve(listener, tls.as_ref().map(|t| &t.config))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    Ok(StandIn {
        url: format!("{scheme}://{addr}"),
        client_id: STANDIN_CLIENT_ID.into(),
        client_secret: STANDIN_CLIENT_SECRET.into(),
        server,
        tls,
        addr,
        data_dir: data_dir.to_path_buf(),
        faults,
        task: Some(task),
    })
}

/// Members the vendor stand-in's core holds (`GET /admin/stats`, a stand-in endpoint).
pub async fn member_count(core: &VendorApiCore) -> Result<u64, AdapterError> {
    let v = core
        .request_json(http::Method::GET, "/admin/stats", None, core.timeout())
        .await?;
    v.get("members")
        .and_then(Value::as_u64)
        .ok_or_else(|| AdapterError::BadRecord {
            record: "GET /admin/stats".into(),
            detail: "no members count".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountStatus, IdType};
    use hfx_adapters::vendorapi::{ACCOUNT_STATUSES, ID_TYPES};

    fn lookup<T: Copy>(table: &[(&'static str, T)], code: &str) -> Option<T> {
        table.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
    }

    #[test]
    fn code_tables_are_two_way() {
        for (raw, v) in OUT_STATUS {
            if raw != "07" {
                assert_eq!(
                    lookup(&ACCOUNT_STATUSES, v).map(AccountStatus::code),
                    Some(raw)
                );
            }
        }
        for (raw, v) in OUT_ID {
            assert_eq!(lookup(&ID_TYPES, v).map(IdType::code), Some(raw));
        }
    }

    #[test]
    fn months() {
        assert_eq!(out_month("202610"), "2026-10");
    }
}
