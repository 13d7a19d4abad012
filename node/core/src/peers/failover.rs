//! Calls to a centre with several endpoints (docs/failover.md): the directory may list a
//! centre's standby processes beside its first endpoint, as X-Road clients choose among a
//! provider's security servers. A call goes to the endpoint that last answered; when that one
//! cannot be reached or refuses with UNAVAILABLE (a standby's NOT_WRITER, MAINTENANCE, a
//! process shutting down), the same request goes to the next one. Peer calls are idempotent
//! by message id (the receiver answers a repeat from its inbox), so sending one again is safe.
//!
//! While a standby says NOT_WRITER and no endpoint answered otherwise, the lease is changing
//! hands: the call keeps going round the endpoints for a few seconds (within the caller's own
//! deadline) instead of failing a call the new holder will answer in a moment.

use crate::telemetry::client::{TracedChannel, header_status};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::body::Body;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

/// Longest a call waits for a standby to take the lease over (and at most the peer timeout).
const TAKEOVER_WAIT: Duration = Duration::from_secs(6);
/// Pause between two rounds over the endpoints while the lease changes hands.
const ROUND_PAUSE: Duration = Duration::from_millis(150);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The channels to one centre's endpoints and which one answered last (shared by every
/// call to the centre until the directory changes).
#[derive(Clone)]
pub struct Endpoints {
    channels: Arc<[Channel]>,
    preferred: Arc<AtomicUsize>,
}

impl Endpoints {
    pub fn new(channels: Vec<Channel>) -> Self {
        Self {
            channels: channels.into(),
            preferred: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// A gRPC channel to one centre over all its endpoints (see the module).
#[derive(Clone)]
pub struct FailoverChannel {
    endpoints: Arc<[TracedChannel]>,
    preferred: Arc<AtomicUsize>,
    wait: Duration,
}

impl std::fmt::Debug for FailoverChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailoverChannel")
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl FailoverChannel {
    pub fn new(eps: &Endpoints, centre: &str, timeout: Duration) -> Self {
        Self {
            endpoints: eps
                .channels
                .iter()
                .map(|c| TracedChannel::new(c.clone(), centre))
                .collect(),
            preferred: eps.preferred.clone(),
            wait: TAKEOVER_WAIT.min(timeout),
        }
    }
}

/// How an attempt ended, worst first; a failed call returns the most telling failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Not reached (connect failure, reset, timeout).
    Unreached,
    /// A standby: another process holds the lease.
    NotWriter,
    /// Another UNAVAILABLE (maintenance, the core system down, shutting down): the centre
    /// itself answered.
    Unavailable,
}

/// Whether a response is an UNAVAILABLE refusal (trailers-only, so in the headers), and of
/// which kind; None for anything else (an answer, or a refusal to pass on as it is).
fn refusal(headers: &http::HeaderMap) -> Option<Outcome> {
    if header_status(headers) != Some(tonic::Code::Unavailable as i32) {
        return None;
    }
    let reason = headers
        .get(crate::error::REASON_KEY)
        .and_then(|v| v.to_str().ok());
    Some(if reason == Some(crate::error::REASON_NOT_WRITER) {
        Outcome::NotWriter
    } else {
        Outcome::Unavailable
    })
}

/// A copy of a request whose body is already read.
fn rebuild(parts: &http::request::Parts, body: &bytes::Bytes) -> http::Request<Body> {
    let mut req = http::Request::new(Body::new(http_body_util::Full::new(body.clone())));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}

async fn attempt(
    ch: &TracedChannel,
    req: http::Request<Body>,
) -> Result<http::Response<Body>, tonic::transport::Error> {
    let mut ch = ch.clone();
    ch.ready().await?;
    ch.call(req).await
}

impl Service<http::Request<Body>> for FailoverChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each attempt waits for its own endpoint's readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let n = this.endpoints.len();
            if n <= 1 {
                // One endpoint: nothing to fail over to, the request goes as it is.
                let ch = this
                    .endpoints
                    .first()
                    .ok_or("a centre without an endpoint")?;
                return Ok(attempt(ch, req).await?);
            }
            let (parts, body) = req.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map_err(|s| -> BoxError { Box::new(s) })?
                .to_bytes();
            let started = Instant::now();
            loop {
                let first = this.preferred.load(Ordering::Relaxed) % n;
                let mut best: Option<(Outcome, Result<http::Response<Body>, BoxError>)> = None;
                for k in 0..n {
                    let i = (first + k) % n;
                    let (outcome, res) =
                        match attempt(&this.endpoints[i], rebuild(&parts, &body)).await {
                            Ok(resp) => match refusal(resp.headers()) {
                                None => {
                                    if i != first {
                                        this.preferred.store(i, Ordering::Relaxed);
                                        tracing::info!(
                                            endpoint = i,
                                            "peer call answered by another endpoint of the centre"
                                        );
                                    }
                                    return Ok(resp);
                                }
                                Some(o) => (o, Ok(resp)),
                            },
                            Err(e) => (Outcome::Unreached, Err(Box::new(e) as BoxError)),
                        };
                    if best.as_ref().is_none_or(|(b, _)| outcome > *b) {
                        best = Some((outcome, res));
                    }
                }
                let Some((outcome, res)) = best else {
                    return Err("a centre without an endpoint".into());
                };
                // Only a standby answered, the holder could not be reached: the lease is
                // changing hands; go round again for a while.
                if outcome != Outcome::NotWriter || started.elapsed() + ROUND_PAUSE > this.wait {
                    return res;
                }
                tokio::time::sleep(ROUND_PAUSE).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_refusals_are_told_apart() {
        let mut h = http::HeaderMap::new();
        assert_eq!(refusal(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("14"));
        assert_eq!(refusal(&h), Some(Outcome::Unavailable));
        h.insert(
            crate::error::REASON_KEY,
            http::HeaderValue::from_static("NOT_WRITER"),
        );
        assert_eq!(refusal(&h), Some(Outcome::NotWriter));
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(refusal(&h), None);
        assert!(Outcome::Unavailable > Outcome::NotWriter);
        assert!(Outcome::NotWriter > Outcome::Unreached);
    }
}
