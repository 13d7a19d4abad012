//! Calls this node makes to peer centres: `hfx_peer_client_requests_total{peer,method,code}`,
//! `hfx_peer_client_seconds{peer,method}` and `hfx_peer_up{peer}`, from a tower service
//! around every peer channel (`crate::peers::Peers::channel` hands out [`Metered`] ones), so
//! every room's calls count without a line in the room.
//!
//! The code is the one the call ended with: the server's status, `Unavailable` when no
//! connection was made, `DeadlineExceeded` when the channel's timeout ran out (tonic reports
//! that one as CANCELLED; it is the deadline), `Canceled` when the caller abandoned the call
//! (e.g. the loan check's overall deadline). `hfx_peer_up` follows the last call that ended
//! with a code: 0 after `Unavailable` or `DeadlineExceeded`, 1 after anything else.

use super::grpc::{Finish, HistogramFamily, Observed, latency_histogram, method, status_code};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub peer: String,
    pub method: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub peer: String,
    pub method: &'static str,
}

/// A centre code (or `local`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

/// The client-side families (registered by [`super::Metrics::new`]).
#[derive(Clone)]
pub struct ClientMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub seconds: HistogramFamily<MethodLabels>,
    pub up: Family<PeerLabel, Gauge>,
    /// Off on a node without an operator port: channels only pass calls on.
    pub(crate) on: bool,
}

impl Default for ClientMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            seconds: Family::new_with_constructor(latency_histogram),
            up: Family::default(),
            on: false,
        }
    }
}

impl ClientMetrics {
    fn record(&self, peer: &str, method: &'static str, code: Option<i32>, took: Duration) {
        self.seconds
            .get_or_create(&MethodLabels {
                peer: peer.to_string(),
                method,
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                peer: peer.to_string(),
                method,
                code: code.map_or("Canceled", super::grpc::code_name),
            })
            .inc();
        if let Some(code) = code {
            let reached = !matches!(code, 4 | 14);
            self.up
                .get_or_create(&PeerLabel {
                    peer: peer.to_string(),
                })
                .set(i64::from(reached));
        }
    }
}

/// A peer channel that counts and times its calls; see the module. Cheap to clone.
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    peer: Arc<str>,
    metrics: ClientMetrics,
}

impl<S> Metered<S> {
    pub fn new(inner: S, peer: &str, metrics: &ClientMetrics) -> Self {
        Self {
            inner,
            peer: peer.into(),
            metrics: metrics.clone(),
        }
    }
}

/// The code of a call that got no response: `DeadlineExceeded` when the channel's timeout
/// ran out, `Unavailable` otherwise (no connection, connection lost).
fn transport_code(e: &(dyn std::error::Error + 'static)) -> i32 {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return 4;
        }
        source = err.source();
    }
    14
}

/// An error a channel fails a call with, looked into for its cause.
pub trait CallError {
    fn as_error(&self) -> &(dyn std::error::Error + 'static);
}

impl CallError for tonic::transport::Error {
    fn as_error(&self) -> &(dyn std::error::Error + 'static) {
        self
    }
}

impl CallError for Box<dyn std::error::Error + Send + Sync> {
    fn as_error(&self) -> &(dyn std::error::Error + 'static) {
        &**self
    }
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for Metered<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        >,
    S::Error: CallError,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if !self.metrics.on {
            return Box::pin(self.inner.call(req));
        }
        let m = method(req.uri().path()).method;
        let peer = self.peer.clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let mut finish = Finish::new(move |code| metrics.record(&peer, m, code, started.elapsed()));
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(res) => {
                    if let Some(code) = status_code(res.headers()) {
                        finish.done(Some(code));
                    }
                    Ok(res.map(|inner| tonic::body::Body::new(Observed { inner, finish })))
                }
                Err(e) => {
                    finish.done(Some(transport_code(e.as_error())));
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_follows_the_last_coded_call() {
        let m = ClientMetrics::default();
        let peer = "320300000000000";
        let up = |m: &ClientMetrics| m.up.get_or_create(&PeerLabel { peer: peer.into() }).get();
        m.record(peer, "QueryMember", Some(0), Duration::from_millis(2));
        assert_eq!(up(&m), 1);
        m.record(peer, "QueryMember", Some(14), Duration::from_millis(2));
        assert_eq!(up(&m), 0);
        // An abandoned call says nothing about the peer.
        m.record(peer, "QueryMember", None, Duration::from_millis(2));
        assert_eq!(up(&m), 0);
        m.record(peer, "QueryMember", Some(5), Duration::from_millis(2));
        assert_eq!(up(&m), 1);
        let canceled = RequestLabels {
            peer: peer.into(),
            method: "QueryMember",
            code: "Canceled",
        };
        assert_eq!(m.requests.get_or_create(&canceled).get(), 1);
    }

    #[test]
    fn a_timeout_is_the_deadline() {
        let e = tonic::TimeoutExpired(());
        assert_eq!(transport_code(&e), 4);
        let io = std::io::Error::other("refused");
        assert_eq!(transport_code(&io), 14);
    }
}
