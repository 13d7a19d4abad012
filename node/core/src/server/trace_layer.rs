//! The server side of trace propagation (docs/tracing.md): a tower layer on both servers
//! (applied by `super::builder`) that opens an `rpc.server` span for every call, as a child of
//! the W3C trace context the caller sent in its metadata (`traceparent`), so the handler's
//! spans (adapter calls, store commits, calls on to further centres) join the caller's trace.
//!
//! The span has the method, this centre and the gRPC status when it is in the response
//! headers; it never has the request's contents. It closes when the response headers are
//! ready, which for a unary call is when the handler has returned.

use crate::telemetry::client::{header_status, split_path};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tracing::Instrument;

/// Traces every call; see the module.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Traced<S>;
    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Traced<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let span = tracing::info_span!(
            "rpc.server",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            centre = %crate::telemetry::centre(),
        );
        crate::telemetry::adopt(&span, req.headers());
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
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
