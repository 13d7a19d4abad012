//! The refusals gRPC itself makes before a handler sees the request, put into this node's
//! error contract: the code the gRPC spec gives the condition, and a stable `hfx-reason`
//! (crate::error) as every other refusal has. A tower layer on both servers ([`WireErrorsLayer`],
//! applied by `super::builder`), so it sees every method of both APIs.
//!
//! - A request message over the decoding limit (tonic's default, 4 MiB: no API sets another):
//!   tonic answers OUT_OF_RANGE; the spec's code is RESOURCE_EXHAUSTED, reason
//!   `MESSAGE_TOO_LARGE`.
//! - Bytes that are not a message of the method's type (garbage, invalid UTF-8 in a string
//!   field, a message cut short): tonic answers INTERNAL, but the fault is the caller's:
//!   INVALID_ARGUMENT, reason `UNDECODABLE_MESSAGE`, with prost's description (which names
//!   the field and never holds the caller's bytes).
//! - An invalid compression flag: INTERNAL as the spec requires, reason `PROTOCOL_ERROR`.
//! - A method the API does not have (or an unsupported `grpc-encoding`): UNIMPLEMENTED, reason
//!   `UNIMPLEMENTED`.
//!
//! Why a layer and not a codec: tonic checks a frame's length before any codec sees its bytes,
//! so the size refusal can only be caught on the response; doing the decode errors in the same
//! place keeps the generated code (hfx-proto) on tonic-prost's codec.
//!
//! Only a status without an `hfx-reason` is looked at: every status this node's code makes goes
//! through crate::error and carries one, so a real internal error is never rewritten. Among
//! those, only tonic's and prost's exact messages match. Refusals before decoding are
//! trailers-only (the status in the response headers); a status in the trailers of a streamed
//! response is looked at the same way.

use crate::error::{
    REASON_KEY, REASON_MESSAGE_TOO_LARGE, REASON_PROTOCOL_ERROR, REASON_UNDECODABLE_MESSAGE,
    REASON_UNIMPLEMENTED,
};
use http::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// tonic (codec/decode.rs): a frame longer than the decoding limit.
const TOO_LARGE: &str = "Error, decoded message length too large: ";
/// tonic (codec/decode.rs): a compressed frame past the limit once decompressed.
const TOO_LARGE_DECOMPRESSED: &str = "Error decompressing: size limit, of ";
/// tonic-prost: any `prost::DecodeError` (its Display starts so).
const UNDECODABLE: &str = "failed to decode Protobuf message: ";
/// tonic (codec/decode.rs): the request body ended inside a frame.
const CUT_SHORT: &str = "Unexpected EOF decoding stream.";
/// tonic (codec/decode.rs): a compression flag other than 0 and 1, or 1 without an encoding.
const BAD_FLAG: &str = "protocol error: received message with ";

/// Gives gRPC's own refusals their spec code and an `hfx-reason`; see the module.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireErrorsLayer;

impl<S> tower::Layer<S> for WireErrorsLayer {
    type Service = WireErrors<S>;
    fn layer(&self, inner: S) -> WireErrors<S> {
        WireErrors { inner }
    }
}

/// The service [`WireErrorsLayer`] makes.
#[derive(Debug, Clone)]
pub struct WireErrors<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for WireErrors<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<WireBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path: Arc<str> = req.uri().path().into();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            // Trailers-only: the status is in the headers.
            rewrite(res.headers_mut(), &path);
            Ok(res.map(|inner| WireBody { inner, path }))
        })
    }
}

/// A response body whose trailers get the same treatment as a trailers-only response's
/// headers.
#[derive(Debug)]
pub struct WireBody<B> {
    inner: B,
    path: Arc<str>,
}

impl<B> http_body::Body for WireBody<B>
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
        if let Poll::Ready(Some(Ok(frame))) = polled {
            let mut frame = frame;
            if let Some(trailers) = frame.trailers_mut() {
                rewrite(trailers, &this.path);
            }
            return Poll::Ready(Some(Ok(frame)));
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

/// Rewrite the status in `headers` (response headers or trailers) if it is one of gRPC's own
/// refusals without an `hfx-reason`.
fn rewrite(headers: &mut HeaderMap, path: &str) {
    if headers.contains_key(REASON_KEY) {
        return;
    }
    let Some(code) = headers.get(Status::GRPC_STATUS) else {
        return;
    };
    // Read only the code and message (a status's other headers stay as they are).
    let mut only = HeaderMap::with_capacity(2);
    only.insert(Status::GRPC_STATUS, code.clone());
    if let Some(m) = headers.get(Status::GRPC_MESSAGE) {
        only.insert(Status::GRPC_MESSAGE, m.clone());
    }
    let Some(status) = Status::from_header_map(&only) else {
        return;
    };
    let Some((code, reason, message)) = classify(status.code(), status.message(), path) else {
        return;
    };
    tracing::info!(path, reason, code = ?code, "request refused before its handler");
    let mut mapped = Status::new(code, message);
    mapped
        .metadata_mut()
        .insert(REASON_KEY, MetadataValue::from_static(reason));
    headers.remove(Status::GRPC_MESSAGE);
    if let Err(e) = mapped.add_header(headers) {
        // Only a message that cannot be a header value fails; the code and reason are set.
        tracing::warn!(error = %e, path, "refusal message not set");
    }
}

/// The code, reason and message for gRPC's own refusal `code`/`message` on method `path`, or
/// `None` if it is not one.
fn classify(code: Code, message: &str, path: &str) -> Option<(Code, &'static str, String)> {
    match code {
        Code::OutOfRange => {
            let rest = message.strip_prefix(TOO_LARGE)?;
            Some((
                Code::ResourceExhausted,
                REASON_MESSAGE_TOO_LARGE,
                format!("{REASON_MESSAGE_TOO_LARGE}: the request message is too large: {rest}"),
            ))
        }
        Code::ResourceExhausted if message.starts_with(TOO_LARGE_DECOMPRESSED) => Some((
            Code::ResourceExhausted,
            REASON_MESSAGE_TOO_LARGE,
            format!("{REASON_MESSAGE_TOO_LARGE}: {message}"),
        )),
        Code::Internal => {
            if let Some(rest) = message.strip_prefix(UNDECODABLE) {
                Some((
                    Code::InvalidArgument,
                    REASON_UNDECODABLE_MESSAGE,
                    format!(
                        "{REASON_UNDECODABLE_MESSAGE}: the request is not a valid message for {path}: {rest}"
                    ),
                ))
            } else if message == CUT_SHORT {
                Some((
                    Code::InvalidArgument,
                    REASON_UNDECODABLE_MESSAGE,
                    format!(
                        "{REASON_UNDECODABLE_MESSAGE}: the request ended inside a message for {path}"
                    ),
                ))
            } else if message.starts_with(BAD_FLAG) {
                Some((
                    Code::Internal,
                    REASON_PROTOCOL_ERROR,
                    format!("{REASON_PROTOCOL_ERROR}: {message}"),
                ))
            } else {
                None
            }
        }
        Code::Unimplemented => Some((
            Code::Unimplemented,
            REASON_UNIMPLEMENTED,
            if message.is_empty() {
                format!("{REASON_UNIMPLEMENTED}: {path} is not a method of this API")
            } else {
                format!("{REASON_UNIMPLEMENTED}: {message}")
            },
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HfxError;

    const PATH: &str = "/hfx.v1.MemberExchange/QueryMember";

    #[test]
    fn prost_errors_start_as_matched() {
        // tonic-prost turns a prost::DecodeError into Status::internal(e.to_string()).
        let e = <hfx_proto::v1::PersonKey as prost::Message>::decode(&[0xffu8, 0xff][..])
            .expect_err("garbage");
        let (code, reason, msg) = classify(Code::Internal, &e.to_string(), PATH).unwrap();
        assert_eq!(
            (code, reason),
            (Code::InvalidArgument, "UNDECODABLE_MESSAGE")
        );
        assert!(msg.starts_with("UNDECODABLE_MESSAGE: "), "{msg}");
        assert!(!msg.contains("failed to decode"), "{msg}");
    }

    #[test]
    fn the_size_refusal_becomes_resource_exhausted() {
        let m = "Error, decoded message length too large: found 20971520 bytes, the limit is: 4194304 bytes";
        let (code, reason, msg) = classify(Code::OutOfRange, m, PATH).unwrap();
        assert_eq!(
            (code, reason),
            (Code::ResourceExhausted, "MESSAGE_TOO_LARGE")
        );
        assert!(msg.ends_with("found 20971520 bytes, the limit is: 4194304 bytes"));
    }

    #[test]
    fn other_statuses_are_left_alone() {
        assert!(classify(Code::Internal, "INTERNAL: internal error: x", PATH).is_none());
        assert!(classify(Code::OutOfRange, "page past the end", PATH).is_none());
        assert!(classify(Code::InvalidArgument, UNDECODABLE, PATH).is_none());
        assert!(classify(Code::Ok, "", PATH).is_none());
    }

    #[test]
    fn a_status_with_a_reason_is_never_rewritten() {
        let mut h = HeaderMap::new();
        let s: Status = HfxError::internal("failed to decode Protobuf message: x").into();
        s.add_header(&mut h).unwrap();
        let before = h.clone();
        rewrite(&mut h, PATH);
        assert_eq!(h, before);
    }

    /// A body of one trailers frame.
    struct Trailers(Option<HeaderMap>);

    impl http_body::Body for Trailers {
        type Data = tonic::codegen::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.take().map(|t| Ok(http_body::Frame::trailers(t))))
        }
    }

    #[test]
    fn a_status_in_the_trailers_is_rewritten_too() {
        let mut t = HeaderMap::new();
        Status::internal(format!("{UNDECODABLE}invalid varint"))
            .add_header(&mut t)
            .unwrap();
        let mut body = WireBody {
            inner: Trailers(Some(t)),
            path: PATH.into(),
        };
        let waker = std::task::Waker::noop();
        let frame =
            match http_body::Body::poll_frame(Pin::new(&mut body), &mut Context::from_waker(waker))
            {
                Poll::Ready(Some(Ok(f))) => f,
                _ => panic!("one frame"),
            };
        let s = Status::from_header_map(frame.trailers_ref().unwrap()).unwrap();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            crate::error::reason_of(&s).as_deref(),
            Some("UNDECODABLE_MESSAGE")
        );
        assert!(s.message().ends_with(": invalid varint"), "{}", s.message());
    }

    #[test]
    fn headers_are_rewritten_in_place() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/grpc".parse().unwrap());
        Status::out_of_range(format!("{TOO_LARGE}found 9 bytes, the limit is: 8 bytes"))
            .add_header(&mut h)
            .unwrap();
        rewrite(&mut h, PATH);
        let s = Status::from_header_map(&h).unwrap();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            crate::error::reason_of(&s).as_deref(),
            Some("MESSAGE_TOO_LARGE")
        );
        assert_eq!(h["content-type"], "application/grpc");
    }
}
