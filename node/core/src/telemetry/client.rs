//! The client side of trace propagation: every call to another centre's node goes through a
//! [`TracedChannel`] (made by `crate::peers::Peers::channel`), which opens an `rpc.client`
//! span for the call and puts the span's W3C trace context into the request's metadata.
//!
//! A tower service around tonic's `Channel` rather than a tonic interceptor: an interceptor
//! only sees the request, so it could not hold a span open until the reply has come.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::transport::Channel;
use tracing::Instrument;

/// A channel to one peer centre that traces and propagates every call (see the module).
/// Cheap to clone, as `Channel` is.
#[derive(Debug, Clone)]
pub struct TracedChannel {
    inner: Channel,
    /// The peer's centre code, put on each client span.
    peer: Arc<str>,
}

impl TracedChannel {
    pub fn new(inner: Channel, peer: &str) -> Self {
        Self {
            inner,
            peer: peer.into(),
        }
    }
}

/// `/hfx.v1.MemberExchange/QueryMember` → (`hfx.v1.MemberExchange`, `QueryMember`).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    let p = path.strip_prefix('/').unwrap_or(path);
    p.split_once('/').unwrap_or((p, ""))
}

/// The gRPC status of a response when it is in the headers (a trailers-only refusal); a
/// normal reply carries it in the trailers, which the span does not wait for.
pub(crate) fn header_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl tower::Service<http::Request<tonic::body::Body>> for TracedChannel {
    type Response = http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let span = tracing::info_span!(
            "rpc.client",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            centre = %super::centre(),
            peer = %self.peer,
        );
        super::inject(&span, req.headers_mut());
        let fut = self.inner.call(req);
        let record = span.clone();
        Box::pin(
            async move {
                let res = fut.await;
                match &res {
                    Ok(r) => {
                        if let Some(code) = header_status(r.headers()) {
                            record.record("rpc.grpc.status_code", code);
                            if code != 0 {
                                record.record("otel.status_code", "ERROR");
                            }
                        }
                    }
                    Err(_) => {
                        record.record("otel.status_code", "ERROR");
                    }
                }
                res
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/hfx.v1.MemberExchange/QueryMember"),
            ("hfx.v1.MemberExchange", "QueryMember")
        );
        assert_eq!(split_path("/odd"), ("odd", ""));
    }

    #[test]
    fn status_in_headers_is_read() {
        let mut h = http::HeaderMap::new();
        assert_eq!(header_status(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("14"));
        assert_eq!(header_status(&h), Some(14));
    }
}
