//! gRPC server metrics (`grpc_server_handled_total`, `grpc_server_handling_seconds`, the labels
//! of go-grpc-prometheus) as a tower layer on both servers, applied by `crate::server`'s
//! builder outside the wire-error rewriting, so the code counted is the one the caller got.
//!
//! A call is counted once, when it ends: a trailers-only response (a refusal) when its
//! headers are ready, a reply when its trailers have gone, a call the client abandoned
//! (body dropped before its end) as `Canceled`. Labels are bounded: `grpc_method` is one of
//! the methods the APIs have (anything else is `unknown`), `peer` the calling centre whose
//! certificate the directory pins (`unknown` otherwise), `local` on the local API.

use crate::trust::Trust;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A family of histograms made by a plain function (the buckets are fixed).
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets of calls: 0.5 ms doubling to ~16 s, the same on every node so that
/// replicas and centres aggregate.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandledLabels {
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
    pub grpc_type: &'static str,
    pub grpc_code: &'static str,
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlingLabels {
    pub grpc_service: &'static str,
    pub grpc_method: &'static str,
    pub grpc_type: &'static str,
    pub peer: String,
}

/// The server-side families (registered by [`super::Metrics::new`]).
#[derive(Clone)]
pub struct ServerMetrics {
    pub handled: Family<HandledLabels, Counter>,
    pub handling: HistogramFamily<HandlingLabels>,
    /// Off on a node without an operator port: its layers only pass calls on.
    pub(crate) on: bool,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self {
            handled: Family::default(),
            handling: Family::new_with_constructor(latency_histogram),
            on: false,
        }
    }
}

impl ServerMetrics {
    /// The layer of the peer API: `peer` is the caller's centre, found by its certificate's
    /// fingerprint in the directory in force (as authentication finds it).
    pub fn peer_layer(&self, trust: Arc<Trust>) -> ServerMetricsLayer {
        ServerMetricsLayer {
            metrics: self.clone(),
            trust: Some(trust),
        }
    }

    /// The layer of the local API: `peer="local"`.
    pub fn local_layer(&self) -> ServerMetricsLayer {
        ServerMetricsLayer {
            metrics: self.clone(),
            trust: None,
        }
    }

    fn record(&self, m: Method, peer: String, code: Option<i32>, took: Duration) {
        self.handling
            .get_or_create(&HandlingLabels {
                grpc_service: m.service,
                grpc_method: m.method,
                grpc_type: m.kind,
                peer: peer.clone(),
            })
            .observe(took.as_secs_f64());
        self.handled
            .get_or_create(&HandledLabels {
                grpc_service: m.service,
                grpc_method: m.method,
                grpc_type: m.kind,
                grpc_code: code.map_or("Canceled", code_name),
                peer,
            })
            .inc();
    }
}

/// A method of the APIs: service (`hfx.v1.Clerk`), method (`QueryMember`) and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub service: &'static str,
    pub method: &'static str,
    /// `unary`, `client_stream`, `server_stream` or `bidi_stream`.
    pub kind: &'static str,
}

/// What a path no API has is counted as (the path is the caller's: never a label).
pub const UNKNOWN: Method = Method {
    service: "unknown",
    method: "unknown",
    kind: "unary",
};

/// Every method of the peer and local APIs, health and reflection, by full path; read once
/// from the descriptor sets the servers are built from, so a new method is counted without
/// a list to keep in step.
static METHODS: LazyLock<HashMap<&'static str, Method>> = LazyLock::new(|| {
    use prost::Message;
    let mut out = HashMap::new();
    for set in [
        hfx_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            tracing::warn!("a descriptor set did not decode: its methods count as unknown");
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for svc in file.service {
                let service: &'static str = format!("{package}.{}", svc.name()).leak();
                for m in svc.method {
                    let kind = match (m.client_streaming(), m.server_streaming()) {
                        (false, false) => "unary",
                        (true, false) => "client_stream",
                        (false, true) => "server_stream",
                        (true, true) => "bidi_stream",
                    };
                    let method: &'static str = m.name().to_string().leak();
                    let path: &'static str = format!("/{service}/{method}").leak();
                    out.insert(
                        path,
                        Method {
                            service,
                            method,
                            kind,
                        },
                    );
                }
            }
        }
    }
    out.insert(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        Method {
            service: "grpc.reflection.v1.ServerReflection",
            method: "ServerReflectionInfo",
            kind: "bidi_stream",
        },
    );
    out
});

/// The method at `path`, or [`UNKNOWN`].
pub fn method(path: &str) -> Method {
    METHODS.get(path).copied().unwrap_or(UNKNOWN)
}

/// gRPC code names as go-grpc-prometheus writes them (`OK`, `InvalidArgument`, ...), so
/// the usual dashboards and alert rules apply unchanged.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "Canceled",
        3 => "InvalidArgument",
        4 => "DeadlineExceeded",
        5 => "NotFound",
        6 => "AlreadyExists",
        7 => "PermissionDenied",
        8 => "ResourceExhausted",
        9 => "FailedPrecondition",
        10 => "Aborted",
        11 => "OutOfRange",
        12 => "Unimplemented",
        13 => "Internal",
        14 => "Unavailable",
        15 => "DataLoss",
        16 => "Unauthenticated",
        _ => "Unknown",
    }
}

/// The gRPC status code in `headers` (response headers or trailers), if any.
pub(crate) fn status_code(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Called once with the call's code (`None`: it ended without one, abandoned); dropping it
/// unfinished counts as abandoned.
pub struct Finish(Option<Box<dyn FnOnce(Option<i32>) + Send>>);

impl Finish {
    pub(crate) fn new(f: impl FnOnce(Option<i32>) + Send + 'static) -> Self {
        Self(Some(Box::new(f)))
    }

    pub(crate) fn done(&mut self, code: Option<i32>) {
        if let Some(f) = self.0.take() {
            f(code);
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.done(None);
    }
}

/// A response body that finishes its call's count at the trailers (or at its end).
pub struct Observed<B> {
    pub(crate) inner: B,
    pub(crate) finish: Finish,
}

impl<B> http_body::Body for Observed<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(t) = frame.trailers_ref() {
                    this.finish.done(Some(status_code(t).unwrap_or(2)));
                }
            }
            // A body that fails or ends without a status: UNKNOWN, as a gRPC client reads it.
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => this.finish.done(Some(2)),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts and times every call of a server; see the module.
#[derive(Clone)]
pub struct ServerMetricsLayer {
    metrics: ServerMetrics,
    /// The peer API's trust (the caller's centre by fingerprint); None on the local API.
    trust: Option<Arc<Trust>>,
}

impl<S> tower::Layer<S> for ServerMetricsLayer {
    type Service = MeteredServer<S>;
    fn layer(&self, inner: S) -> MeteredServer<S> {
        MeteredServer {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ServerMetricsLayer`] makes.
#[derive(Clone)]
pub struct MeteredServer<S> {
    inner: S,
    layer: ServerMetricsLayer,
}

impl ServerMetricsLayer {
    /// The `peer` label of a call: the centre whose pinned certificate the connection
    /// presented, `unknown` for any other; `local` on the local API.
    fn peer(&self, ext: &http::Extensions) -> String {
        let Some(trust) = &self.trust else {
            return "local".into();
        };
        let fingerprint = ext
            .get::<crate::tls::TlsConnectInfo>()
            .and_then(|i| i.cert.as_deref())
            .map(|c| c.fingerprint.as_str());
        fingerprint
            .and_then(|fp| {
                trust
                    .directory()
                    .centres
                    .iter()
                    .find(|c| c.tls_fingerprint == fp)
                    .map(|c| c.code.clone())
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for MeteredServer<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body + Unpin + Send + 'static,
{
    type Response = http::Response<Observed<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let mut finish = if self.layer.metrics.on {
            let m = method(req.uri().path());
            let peer = self.layer.peer(req.extensions());
            let metrics = self.layer.metrics.clone();
            let started = Instant::now();
            Finish::new(move |code| metrics.record(m, peer, code, started.elapsed()))
        } else {
            Finish(None)
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(res) => {
                    // Trailers-only (a refusal): the status is in the headers.
                    if let Some(code) = status_code(res.headers()) {
                        finish.done(Some(code));
                    }
                    Ok(res.map(|inner| Observed { inner, finish }))
                }
                Err(e) => {
                    finish.done(Some(2));
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
    fn methods_come_from_the_descriptors() {
        let m = method("/hfx.v1.MemberExchange/QueryMember");
        assert_eq!(
            (m.service, m.method, m.kind),
            ("hfx.v1.MemberExchange", "QueryMember", "unary")
        );
        assert_eq!(method("/hfx.v1.Audit/ExportLog").kind, "server_stream");
        assert_eq!(method("/grpc.health.v1.Health/Check").method, "Check");
        assert_eq!(method("/hfx.v1.Clerk/No such method"), UNKNOWN);
        assert_eq!(method("/../etc/passwd"), UNKNOWN);
    }

    #[test]
    fn codes_have_the_usual_names() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(14), "Unavailable");
        assert_eq!(code_name(2), "Unknown");
        assert_eq!(code_name(99), "Unknown");
    }

    #[test]
    fn a_call_is_counted_once() {
        let m = ServerMetrics::default();
        let m2 = m.clone();
        let mut f =
            Finish::new(move |c| m2.record(UNKNOWN, "local".into(), c, Duration::from_millis(1)));
        f.done(Some(0));
        drop(f);
        let labels = HandledLabels {
            grpc_service: "unknown",
            grpc_method: "unknown",
            grpc_type: "unary",
            grpc_code: "OK",
            peer: "local".into(),
        };
        assert_eq!(m.handled.get_or_create(&labels).get(), 1);
        let canceled = HandledLabels {
            grpc_code: "Canceled",
            ..labels
        };
        assert_eq!(m.handled.get_or_create(&canceled).get(), 0);
    }
}
