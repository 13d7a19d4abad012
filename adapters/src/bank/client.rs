//! The settlement bank's HTTP/JSON client: one request per call, no retries (the node's driver
//! retries with backoff, reusing the case id).

use super::{BankError, ErrorBody, Payout, PayoutOutcome, SettlementBank, UNKNOWN_CASE};
use crate::vendorapi::wire::enc;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The largest answer read from the bank.
const MAX_BODY: usize = 1 << 20;

/// The settlement bank reached over HTTP (`http://host:port`).
pub struct HttpBank {
    base: String,
    timeout: Duration,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for HttpBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBank")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpBank {
    /// A client for the bank at `base_url`; every call is bounded by `timeout`. Nothing is sent
    /// until the first call, so a node starts while the bank is down.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, BankError> {
        let rejected = |detail: String| BankError::Rejected { detail };
        let base = base_url.trim_end_matches('/').to_string();
        let uri: http::Uri = base
            .parse()
            .map_err(|e| rejected(format!("bank url {base_url:?} is not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(rejected(format!(
                    "bank url {base_url:?}: https is not supported by this build's bank client (put a TLS-terminating proxy on the loopback)"
                )));
            }
            _ => {
                return Err(rejected(format!(
                    "bank url {base_url:?} must start with http://"
                )));
            }
        }
        if uri.host().is_none() {
            return Err(rejected(format!("bank url {base_url:?} has no host")));
        }
        if timeout.is_zero() {
            return Err(rejected("the bank timeout must not be zero".into()));
        }
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.enforce_http(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Ok(Self {
            base,
            timeout,
            http,
        })
    }

    /// The bank's base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One request; an answer of any status comes back, everything else is Unavailable.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<(StatusCode, Bytes), BankError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| BankError::Rejected {
                detail: format!("{what}: cannot build the request: {e}"),
            })?;
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| ("sending the request", Box::new(e) as crate::BoxError))?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| ("reading the answer", e))?
                .to_bytes();
            Ok::<_, (&'static str, crate::BoxError)>((parts.status, bytes))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Err(elapsed) => Err(BankError::Unavailable {
                detail: format!("{what}: no answer within {:?}", self.timeout),
                source: Some(Box::new(elapsed)),
            }),
            Ok(Err((doing, source))) => Err(BankError::Unavailable {
                detail: format!("{what}: {doing} failed"),
                source: Some(source),
            }),
            Ok(Ok(answer)) => Ok(answer),
        }
    }

    /// Request and decode a success; a non-success is mapped by [`refusal`].
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<Result<T, (StatusCode, Option<ErrorBody>)>, BankError> {
        let (status, bytes) = self.send(method, path, body, what).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map(Ok)
                .map_err(|e| BankError::Rejected {
                    detail: format!("{what}: the answer is not the bank's: {e}"),
                });
        }
        let env: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(BankError::Unavailable {
                detail: format!("{what}: {}", answer_text(status, env.as_ref())),
                source: None,
            });
        }
        Ok(Err((status, env)))
    }
}

fn answer_text(status: StatusCode, env: Option<&ErrorBody>) -> String {
    match env {
        Some(e) if e.message.is_empty() => format!("HTTP {} {}", status.as_u16(), e.code),
        Some(e) => format!("HTTP {} {}: {}", status.as_u16(), e.code, e.message),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A 4xx (other than 429) as the bank's refusal of the request.
fn refusal(what: &str, status: StatusCode, env: Option<&ErrorBody>) -> BankError {
    BankError::Rejected {
        detail: format!("{what}: {}", answer_text(status, env)),
    }
}

#[derive(serde::Deserialize)]
struct Delivered {
    case_id: String,
    state: String,
}

#[async_trait::async_trait]
impl SettlementBank for HttpBank {
    async fn payout(&self, p: &Payout) -> Result<PayoutOutcome, BankError> {
        let what = format!("POST /payout (case {})", p.case_id);
        let body = serde_json::to_vec(p).map_err(|e| BankError::Rejected {
            detail: format!("{what}: cannot encode the request: {e}"),
        })?;
        match self
            .call::<PayoutOutcome>(Method::POST, "/payout", Some(body), &what)
            .await?
        {
            Ok(PayoutOutcome::Paid { amount_fen, .. }) if amount_fen != p.amount_fen => {
                Err(BankError::Rejected {
                    detail: format!(
                        "{what}: the bank paid {amount_fen} fen for a payout of {} fen",
                        p.amount_fen
                    ),
                })
            }
            Ok(outcome) => Ok(outcome),
            Err((status, env)) => Err(refusal(&what, status, env.as_ref())),
        }
    }

    async fn status(&self, case_id: &str) -> Result<Option<PayoutOutcome>, BankError> {
        let what = format!("GET /payout (case {case_id})");
        let path = format!("/payout/{}", enc(case_id));
        match self
            .call::<PayoutOutcome>(Method::GET, &path, None, &what)
            .await?
        {
            Ok(outcome) => Ok(Some(outcome)),
            Err((StatusCode::NOT_FOUND, Some(env))) if env.code == UNKNOWN_CASE => Ok(None),
            Err((status, env)) => Err(refusal(&what, status, env.as_ref())),
        }
    }

    async fn deliver(&self, case_id: &str) -> Result<(), BankError> {
        let what = format!("POST /deliver (case {case_id})");
        let path = format!("/deliver/{}", enc(case_id));
        match self
            .call::<Delivered>(Method::POST, &path, Some(b"{}".to_vec()), &what)
            .await?
        {
            Ok(d) if d.case_id == case_id && d.state == "delivered" => Ok(()),
            Ok(d) => Err(BankError::Rejected {
                detail: format!(
                    "{what}: the bank answered case {:?} in state {:?}",
                    d.case_id, d.state
                ),
            }),
            Err((status, env)) => Err(refusal(&what, status, env.as_ref())),
        }
    }
}
