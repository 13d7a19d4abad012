//! Cross-site request forgery. A browser presents the person's client certificate to any page
//! that asks, so another site could make it POST to the console. Every form therefore carries
//! `_csrf`, a token the console derives from the person's certificate with a key of this
//! process ([`token`]), and [`check`] refuses, before any handler runs, every request that
//! changes something (not GET/HEAD) without the right token, or that a browser says comes from
//! another site (`Sec-Fetch-Site`, `Origin`). Refusals are 403 with reason `CSRF_REFUSED`,
//! logged once with the certificate's serial.

use crate::app::Console;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hfx_node::tls::TlsConnectInfo;
use std::sync::Arc;

/// The name of the form field (and of the multipart part) carrying the token.
pub const FIELD: &str = "_csrf";
/// The most a form post may carry (uploads of exports to reconcile included).
pub const BODY_LIMIT: usize = 64 << 20;
/// The stable reason of a refused post.
pub const REASON: &str = "CSRF_REFUSED";

pub fn new_key() -> anyhow::Result<ring::hmac::Key> {
    let rng = ring::rand::SystemRandom::new();
    ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
        .map_err(|_| anyhow::anyhow!("console: no randomness for the form key"))
}

fn message(fingerprint: &str) -> Vec<u8> {
    [b"hfx-console-form\0".as_slice(), fingerprint.as_bytes()].concat()
}

/// The token of the person whose certificate has `fingerprint`.
pub fn token(key: &ring::hmac::Key, fingerprint: &str) -> String {
    hex::encode(ring::hmac::sign(key, &message(fingerprint)).as_ref())
}

/// Whether `given` is the token of `fingerprint` (compared in constant time).
pub fn valid(key: &ring::hmac::Key, fingerprint: &str, given: &str) -> bool {
    let Ok(tag) = hex::decode(given.trim()) else {
        return false;
    };
    ring::hmac::verify(key, &message(fingerprint), &tag).is_ok()
}

/// The `_csrf` value of a urlencoded or multipart body, if any.
async fn token_in(content_type: &str, body: &bytes::Bytes) -> Option<String> {
    let ct = content_type.to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
        return pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v);
    }
    if ct.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(content_type).ok()?;
        let data = body.clone();
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(data) });
        let mut parts = multer::Multipart::new(stream, boundary);
        while let Ok(Some(field)) = parts.next_field().await {
            if field.name() == Some(FIELD) {
                return field.text().await.ok();
            }
        }
    }
    None
}

fn refuse(info: Option<&TlsConnectInfo>, why: &str) -> Response {
    let serial = info
        .and_then(|i| i.cert.as_deref())
        .map(|c| c.serial_hex())
        .unwrap_or_default();
    tracing::warn!(reason = REASON, %serial, why, "console post refused");
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::page::bare(
            "403",
            "表单已过期或来自别处：请返回页面后重试。 / The form is stale or came from elsewhere: go back to the page and try again.",
            REASON,
        ),
    )
        .into_response()
}

/// The middleware: see the module.
pub async fn check(State(console): State<Arc<Console>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let info = req.extensions().get::<TlsConnectInfo>().cloned();
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return refuse(info.as_ref(), &format!("Sec-Fetch-Site: {site}"));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if origin != format!("https://{host}") {
            return refuse(
                info.as_ref(),
                &format!("origin {origin:?} is not https://{host}"),
            );
        }
    }
    let Some(fingerprint) = info
        .as_ref()
        .and_then(|i| i.cert.as_deref())
        .map(|c| c.fingerprint.clone())
    else {
        return refuse(info.as_ref(), "no certificate");
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::page::bare(
                "413",
                "提交的内容太大。 / What was sent is too large.",
                "TOO_LARGE",
            ),
        )
            .into_response();
    };
    match token_in(&content_type, &bytes).await {
        Some(t) if valid(&console.csrf_key, &fingerprint, &t) => {}
        Some(_) => return refuse(info.as_ref(), "wrong token"),
        None => return refuse(info.as_ref(), "no token"),
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_certificate_and_key() {
        let key = new_key().unwrap();
        let t = token(&key, "ab12");
        assert!(valid(&key, "ab12", &t));
        assert!(!valid(&key, "ab13", &t), "another certificate");
        assert!(!valid(&new_key().unwrap(), "ab12", &t), "another process");
        assert!(!valid(&key, "ab12", ""), "empty");
        assert!(!valid(&key, "ab12", "zz"), "not hex");
    }

    #[tokio::test]
    async fn the_token_is_found_in_either_kind_of_form() {
        let url = bytes::Bytes::from_static(b"a=1&_csrf=abc&b=2");
        assert_eq!(
            token_in("application/x-www-form-urlencoded", &url)
                .await
                .as_deref(),
            Some("abc")
        );
        let mp = bytes::Bytes::from_static(
            b"--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n{}\r\n--X\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ndef\r\n--X--\r\n",
        );
        assert_eq!(
            token_in("multipart/form-data; boundary=X", &mp)
                .await
                .as_deref(),
            Some("def")
        );
        assert_eq!(token_in("text/plain", &url).await, None);
        let none = bytes::Bytes::from_static(b"a=1");
        assert_eq!(
            token_in("application/x-www-form-urlencoded", &none).await,
            None
        );
    }
}
