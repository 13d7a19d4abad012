//! The vendor core's client: token handling, retries, paging, and the CoreSystem calls.

use super::tls::{Connector, Transport};
use super::wire::*;
use crate::ids::mask_id;
use crate::model::{Deposit, IdType, Member, YearMonth};
use crate::money::format_yuan;
use crate::settings::AdapterSettings;
use crate::{AdapterError, CheckItem, CoreSystem, PersonLoan, Reservation};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1_600);
/// The longest `Retry-After` honoured; a longer one makes the call Unavailable at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const PAGE_SIZE: u32 = 100;
const MAX_PAGES: u32 = 100_000;
const MAX_BODY: usize = 32 << 20;

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

struct Token {
    value: String,
    good_until: Instant,
}

enum Attempt {
    Answer(StatusCode, HeaderMap, Bytes),
    /// The request did not get an answer: `what` failed, caused by `source`.
    Transport {
        what: &'static str,
        source: crate::BoxError,
    },
    TimedOut,
    /// TLS refused the connection in a way a retry will not change (the server's certificate,
    /// ours, or a server that does not speak TLS): `reason` names the setting to look at.
    Refused {
        reason: String,
        source: crate::BoxError,
    },
}

/// The vendor core's adapter: the vendor's HTTP/JSON API, mapped onto the canonical model.
pub struct VendorApiCore {
    base: String,
    client_id: String,
    client_secret: String,
    timeout: Duration,
    transport: Transport,
    http: Client<Connector, Full<Bytes>>,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl VendorApiCore {
    /// A client for the API the `[adapter]` settings name: `url` (https, with `ca_file` and
    /// optionally `client_cert_file` / `client_key_file`; http only with `allow_plain_http`),
    /// `client_id`, `client_secret`, `timeout_ms`. Nothing is sent until the first call, so a
    /// node starts while the vendor is down; [`CoreSystem::check`] tells. The CA and client
    /// certificate files are read here: a missing or bad file is an error naming its setting.
    pub fn open(s: &AdapterSettings) -> Result<Self, AdapterError> {
        let base_url = s.need(&s.url, "url")?;
        let client_id = s.need(&s.client_id, "client_id")?;
        let client_secret = s.need(&s.client_secret, "client_secret")?;
        let base = base_url.trim_end_matches('/').to_string();
        let uri: http::Uri = base.parse().map_err(|e| {
            AdapterError::other_from(format!("adapter.url {base_url:?} is not a URL"), e)
        })?;
        if uri.host().is_none() {
            return Err(AdapterError::other(format!(
                "adapter.url {base_url:?} has no host"
            )));
        }
        if client_id.is_empty() || client_secret.is_empty() {
            return Err(AdapterError::other(
                "adapter.client_id and adapter.client_secret must not be empty",
            ));
        }
        let transport = Transport::from_settings(s, &uri)?;
        if let Transport::Plain = transport {
            tracing::warn!(
                url = %base,
                "vendor API over plain http (adapter.allow_plain_http = true): personal data crosses the network in clear"
            );
        }
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(transport.connector());
        Ok(Self {
            base,
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            timeout: s.timeout().unwrap_or(DEFAULT_TIMEOUT),
            transport,
            http,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// One authenticated JSON request to the API, with the client's retries, bounded by
    /// `timeout` (tooling beside the exchange uses it, e.g. the stand-in's admin endpoints).
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, AdapterError> {
        let what = format!("{method} {}", shown(path));
        let bytes = self
            .send(
                method,
                path,
                body.map(|b| b.to_string().into_bytes()),
                true,
                timeout,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| bad(&what, format!("answer is not JSON: {e}")))
    }

    /// The per-call deadline of this client.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, AdapterError> {
        self.request_json(method, path, body, self.timeout).await
    }

    /// GET every page of `path?query`, in order.
    async fn all_pages(
        &self,
        path: &str,
        q: &[(&str, String)],
    ) -> Result<Vec<Value>, AdapterError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let mut pq = q.to_vec();
            pq.push(("page", page.to_string()));
            pq.push(("pageSize", PAGE_SIZE.to_string()));
            let v = self
                .json(Method::GET, &format!("{path}?{}", query(&pq)), None)
                .await?;
            let p: PageDto = serde_json::from_value(v)
                .map_err(|e| bad(&format!("GET {} page {page}", shown(path)), e))?;
            if p.page != page {
                return Err(bad(
                    &format!("GET {} page {page}", shown(path)),
                    format!("the API answered page {}", p.page),
                ));
            }
            let empty = p.items.is_empty();
            out.extend(p.items);
            if empty || page >= p.total_pages {
                return Ok(out);
            }
            page += 1;
            if page > MAX_PAGES {
                return Err(bad(
                    &format!("GET {}", shown(path)),
                    format!("more than {MAX_PAGES} pages"),
                ));
            }
        }
    }

    async fn bearer(&self, deadline: Instant) -> Result<String, AdapterError> {
        let mut t = self.token.lock().await;
        if let Some(tok) = t.as_ref()
            && Instant::now() < tok.good_until
        {
            return Ok(tok.value.clone());
        }
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            enc(&self.client_id),
            enc(&self.client_secret)
        );
        let left = deadline.saturating_duration_since(Instant::now());
        let bytes = Box::pin(self.send(
            Method::POST,
            "/oauth/token",
            Some(form.into_bytes()),
            false,
            left,
        ))
        .await?;
        let tok: TokenDto =
            serde_json::from_slice(&bytes).map_err(|e| bad("POST /oauth/token", e))?;
        let life = Duration::from_secs(tok.expires_in);
        let skew = (life / 10).min(Duration::from_secs(30));
        *t = Some(Token {
            value: tok.access_token.clone(),
            good_until: Instant::now() + life - skew,
        });
        Ok(tok.access_token)
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: &Option<Vec<u8>>,
        auth: Option<&str>,
        limit: Duration,
    ) -> Attempt {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        req = req.header(header::ACCEPT, "application/json");
        if body.is_some() {
            let ct = if auth.is_none() {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(tok) = auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {tok}"));
        }
        let req = match req.body(Full::new(Bytes::from(body.clone().unwrap_or_default()))) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Transport {
                    what: "cannot build request",
                    source: Box::new(e),
                };
            }
        };
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| ("sending the request", crate::BoxError::from(e)))?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| ("reading the answer", e))?
                .to_bytes();
            Ok::<_, (&'static str, crate::BoxError)>((parts.status, parts.headers, bytes))
        };
        match tokio::time::timeout(limit, fut).await {
            Err(_) => Attempt::TimedOut,
            Ok(Err((what, source))) => match self.transport.refusal(&*source) {
                Some(reason) => Attempt::Refused { reason, source },
                None => Attempt::Transport { what, source },
            },
            Ok(Ok((s, h, b))) => Attempt::Answer(s, h, b),
        }
    }

    /// One API request with token handling, retries and the deadline. `auth == false` is the
    /// token request itself (form body, no bearer).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: bool,
        timeout: Duration,
    ) -> Result<Bytes, AdapterError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let deadline = Instant::now() + timeout;
        let mut attempts = 0;
        let mut refreshed = false;
        let mut backoff = BASE_BACKOFF;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AdapterError::unavailable(format!(
                    "{what}: no answer within {timeout:?}"
                )));
            }
            let token = if auth {
                Some(self.bearer(deadline).await?)
            } else {
                None
            };
            let left = deadline.saturating_duration_since(Instant::now());
            // Why this attempt failed; a transport failure keeps its error as the source.
            let (reason, wait, cause) = match self
                .attempt(&method, path, &body, token.as_deref(), left)
                .await
            {
                Attempt::TimedOut => {
                    return Err(AdapterError::unavailable(format!(
                        "{what}: no answer within {timeout:?} (attempt {attempts})"
                    )));
                }
                Attempt::Refused { reason, source } => {
                    return Err(AdapterError::Other {
                        what: format!("{what}: {reason}"),
                        source: Some(source),
                    });
                }
                Attempt::Transport { what, source } => {
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (format!("transport error {what}"), w, Some(source))
                }
                Attempt::Answer(status, headers, bytes) => {
                    if status.is_success() {
                        return Ok(bytes);
                    }
                    let env: Option<ErrorDto> = serde_json::from_slice(&bytes).ok();
                    let code = env
                        .as_ref()
                        .map_or_else(|| status.as_u16().to_string(), |e| e.code.clone());
                    let msg = env
                        .as_ref()
                        .and_then(|e| e.message.clone())
                        .unwrap_or_default();
                    if status == StatusCode::UNAUTHORIZED {
                        if !auth {
                            return Err(AdapterError::other(format!(
                                "the vendor API refused adapter.client_id / adapter.client_secret: {code} {msg}"
                            )));
                        }
                        if !refreshed {
                            refreshed = true;
                            *self.token.lock().await = None;
                            attempts -= 1;
                            continue;
                        }
                        return Err(AdapterError::other(format!(
                            "{what}: the vendor API refused a fresh token: {code} {msg}"
                        )));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let ra = headers
                            .get(header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map_or(Duration::from_secs(1), Duration::from_secs);
                        if ra > MAX_RETRY_AFTER || Instant::now() + ra > deadline {
                            return Err(AdapterError::unavailable(format!(
                                "{what}: rate limited by the vendor API ({code}); Retry-After {}s is past the call's deadline",
                                ra.as_secs()
                            )));
                        }
                        (format!("429 {code} {msg}"), ra, None)
                    } else if status.is_server_error() {
                        let w = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        (format!("{} {code} {msg}", status.as_u16()), w, None)
                    } else {
                        return Err(vendor_error(&what, status, &code, &msg, env.as_ref()));
                    }
                }
            };
            let give_up = if attempts >= MAX_ATTEMPTS {
                Some(format!(
                    "{what}: gave up after {attempts} attempts; last: {reason}"
                ))
            } else if Instant::now() + wait > deadline {
                Some(format!(
                    "{what}: no answer within {timeout:?}; last: {reason}"
                ))
            } else {
                None
            };
            if let Some(what) = give_up {
                return Err(AdapterError::Unavailable {
                    what,
                    source: cause,
                });
            }
            let cause = cause.map(|c| crate::chain(&*c));
            tracing::debug!(%what, attempts, %reason, cause, wait_ms = wait.as_millis() as u64, "vendor API retry");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A vendor error (4xx other than 401 / 429) as an adapter error.
fn vendor_error(
    what: &str,
    status: StatusCode,
    code: &str,
    msg: &str,
    env: Option<&ErrorDto>,
) -> AdapterError {
    match code {
        "E3005" => AdapterError::UnknownHoldState {
            case_id: env.and_then(|e| e.case_id.clone()).unwrap_or_default(),
            state: env.and_then(|e| e.state.clone()).unwrap_or_default(),
        },
        "E2001" | "E3004" => AdapterError::NotFound(msg.to_string()),
        "E3001" | "E3002" | "E3003" => AdapterError::Conflict(msg.to_string()),
        "E4001" => AdapterError::BadRecord {
            record: what.to_string(),
            detail: format!("vendor E4001: {msg}"),
        },
        "E2002" => AdapterError::other(format!(
            "{what}: the vendor API rejected the request (E2002): {msg}"
        )),
        other => AdapterError::other(format!(
            "{what}: vendor error {other} (HTTP {}): {msg}",
            status.as_u16()
        )),
    }
}

#[async_trait::async_trait]
impl CoreSystem for VendorApiCore {
    fn kind(&self) -> &'static str {
        "vendorapi"
    }

    async fn member_by_id(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Option<Member>, AdapterError> {
        let q = [
            ("idType", vendor_code_of(&ID_TYPES, id_type).to_string()),
            ("idNo", id_number.to_string()),
        ];
        let items = self.all_pages("/api/v2/members", &q).await?;
        match items.into_iter().next() {
            None => Ok(None),
            Some(v) => member_of(item(v, "member account", "acctNo")?).map(Some),
        }
    }

    async fn deposits(
        &self,
        account_no: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Deposit>, AdapterError> {
        let path = format!("/api/v2/accounts/{}/transactions", enc(account_no));
        let items = self
            .all_pages(&path, &[("from", month_dash(from)), ("to", month_dash(to))])
            .await?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.into_iter().enumerate() {
            let record = format!("transaction {} of account {}", i + 1, mask_id(account_no));
            let d: TxnDto = serde_json::from_value(v).map_err(|e| bad(&record, e))?;
            out.push(deposit_of(d, &record)?);
        }
        Ok(out)
    }

    async fn loans_of(
        &self,
        id_type: IdType,
        id_number: &str,
    ) -> Result<Vec<PersonLoan>, AdapterError> {
        let q = [
            ("idType", vendor_code_of(&ID_TYPES, id_type).to_string()),
            ("idNo", id_number.to_string()),
        ];
        let items = self.all_pages("/api/v2/loans", &q).await?;
        items
            .into_iter()
            .map(|v| item::<LoanDto>(v, "loan contract", "contractNo").and_then(loan_of))
            .collect()
    }

    async fn reserve(&self, case_id: &str, account_no: &str) -> Result<Reservation, AdapterError> {
        let v = self
            .json(
                Method::POST,
                &format!("/api/v2/transfers/{}/reserve", enc(case_id)),
                Some(json!({ "acctNo": account_no })),
            )
            .await?;
        let r = format!("reservation of case {case_id}");
        let d: ReservationDto = serde_json::from_value(v).map_err(|e| bad(&r, e))?;
        if d.case_id != case_id {
            return Err(bad(
                &r,
                format!("the API answered for case {:?}", d.case_id),
            ));
        }
        if d.acct_no != account_no {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} already holds account {}",
                d.acct_no
            )));
        }
        Ok(Reservation {
            case_id: case_id.into(),
            account_no: d.acct_no,
            principal_fen: w_money(&r, "heldPrincipal", &d.held_principal)?,
            interest_fen: w_money(&r, "heldInterest", &d.held_interest)?,
        })
    }

    async fn release(&self, case_id: &str) -> Result<(), AdapterError> {
        self.json(
            Method::POST,
            &format!("/api/v2/transfers/{}/release", enc(case_id)),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    async fn close_out(&self, case_id: &str) -> Result<(), AdapterError> {
        self.json(
            Method::POST,
            &format!("/api/v2/transfers/{}/close", enc(case_id)),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    async fn credit_in(
        &self,
        case_id: &str,
        account_no: &str,
        amount_fen: i64,
        history: &[Deposit],
    ) -> Result<(), AdapterError> {
        crate::hold::check_credit(amount_fen)?;
        let body = json!({
            "acctNo": account_no,
            "amount": format_yuan(amount_fen),
            "history": history.iter().map(txn_json).collect::<Vec<_>>(),
        });
        let v = self
            .json(
                Method::POST,
                &format!("/api/v2/transfers/{}/credit", enc(case_id)),
                Some(body),
            )
            .await?;
        let r = format!("credit of case {case_id}");
        let d: CreditDto = serde_json::from_value(v).map_err(|e| bad(&r, e))?;
        if d.acct_no != account_no || w_money(&r, "amount", &d.amount)? != amount_fen {
            return Err(AdapterError::Conflict(format!(
                "case {case_id} was credited to {} with {}",
                d.acct_no, d.amount
            )));
        }
        Ok(())
    }

    async fn check(&self) -> Vec<CheckItem> {
        let mut out = vec![CheckItem {
            name: "transport".into(),
            ok: true,
            detail: self.transport.describe(),
        }];
        let health = self
            .send(Method::GET, "/api/v2/health", None, false, self.timeout)
            .await;
        out.push(
            match health.as_ref().map(|b| serde_json::from_slice::<Value>(b)) {
                Ok(Ok(v)) => CheckItem {
                    name: "connectivity".into(),
                    ok: v.get("status").and_then(Value::as_str) == Some("UP"),
                    detail: format!("{} answered {v}", self.base),
                },
                Ok(Err(e)) => CheckItem {
                    name: "connectivity".into(),
                    ok: false,
                    detail: format!("health answer is not JSON: {e}"),
                },
                Err(e) => CheckItem {
                    name: "connectivity".into(),
                    ok: false,
                    detail: e.detail(),
                },
            },
        );
        let deadline = Instant::now() + self.timeout;
        let auth = self.bearer(deadline).await;
        out.push(CheckItem {
            name: "auth".into(),
            ok: auth.is_ok(),
            detail: match &auth {
                Ok(_) => format!("token issued to client {}", self.client_id),
                Err(e) => e.detail(),
            },
        });
        match self.json(Method::GET, "/api/v2/codes", None).await {
            Ok(v) => {
                let mut unknown = Vec::new();
                let mut seen = 0;
                let tables: [(&str, Vec<&str>); 4] = [
                    ("idType", ID_TYPES.iter().map(|(c, _)| *c).collect()),
                    (
                        "acctStatus",
                        ACCOUNT_STATUSES.iter().map(|(c, _)| *c).collect(),
                    ),
                    ("txnType", TXN_TYPES.iter().map(|(c, _)| *c).collect()),
                    (
                        "loanStatus",
                        LOAN_STATUSES.iter().map(|(c, _)| *c).collect(),
                    ),
                ];
                for (table, known) in &tables {
                    for code in v
                        .get(table)
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        let c = code.as_str().unwrap_or_default();
                        seen += 1;
                        if !known.contains(&c) {
                            unknown.push(format!("{table} {c:?}"));
                        }
                    }
                }
                out.push(CheckItem {
                    name: "code tables".into(),
                    ok: unknown.is_empty(),
                    detail: if unknown.is_empty() {
                        format!("all {seen} vendor codes are mapped")
                    } else {
                        format!("vendor codes with no mapping: {}", unknown.join(", "))
                    },
                });
            }
            Err(e) => out.push(CheckItem {
                name: "code tables".into(),
                ok: false,
                detail: e.detail(),
            }),
        }
        let sample = self
            .json(Method::GET, "/api/v2/members?page=1&pageSize=1", None)
            .await
            .and_then(|v| {
                let p: PageDto =
                    serde_json::from_value(v).map_err(|e| bad("GET /api/v2/members", e))?;
                p.items
                    .into_iter()
                    .next()
                    .map(|v| item(v, "member account", "acctNo").and_then(member_of))
                    .transpose()
            });
        out.push(match sample {
            Ok(Some(m)) => CheckItem {
                name: "sample read".into(),
                ok: true,
                detail: format!("account {} read and mapped", m.account_no),
            },
            Ok(None) => CheckItem {
                name: "sample read".into(),
                ok: false,
                detail: crate::EMPTY_CORE.into(),
            },
            Err(e) => CheckItem {
                name: "sample read".into(),
                ok: false,
                detail: e.detail(),
            },
        });
        out
    }
}

/// A request path as errors and logs show it: no query string (it may carry an id number), and
/// account numbers in the path masked like ids (first 6 + last 4).
fn shown(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if seg.len() >= 8 && seg.chars().any(|c| c.is_ascii_digit()) {
                mask_id(seg)
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod shown_tests {
    #[test]
    fn paths_in_errors_hide_the_query_and_mask_account_numbers() {
        assert_eq!(
            super::shown("/api/v2/accounts/320301200012345678/transactions?from=2024-01"),
            "/api/v2/accounts/320301********5678/transactions"
        );
        assert_eq!(super::shown("/api/v2/members?idNo=1"), "/api/v2/members");
    }
}
