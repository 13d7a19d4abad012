//! Who is asking, in which language: [`Ctx`], extracted for every page from the browser
//! connection's client certificate exactly as the local API authenticates (the person must
//! be of this node's centre; a certificate the CRL in force revokes is refused on every
//! request, not only at the handshake).

use crate::app::Console;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use hfx_certs::Role;
use hfx_i18n::{Catalogue, Lang};
use hfx_node::auth::Caller;
use hfx_node::tls::TlsConnectInfo;
use std::sync::Arc;

/// The cookie that remembers the language switch.
pub const LANG_COOKIE: &str = "hfx_lang";

/// The person asking, as their certificate says.
#[derive(Debug, Clone)]
pub struct Person {
    pub centre: String,
    pub role: Role,
    pub person_id: String,
}

/// One request's context: the console, the connection, the person, the language, the form
/// token, and the page's path.
pub struct Ctx {
    pub console: Arc<Console>,
    pub info: TlsConnectInfo,
    pub person: Person,
    pub lang: Lang,
    /// The `_csrf` value every form of this person carries ([`crate::csrf`]).
    pub csrf: String,
    /// The path asked for (never carries personal data: see the crate's rules).
    pub path: String,
}

impl Ctx {
    /// This language's catalogue (money, dates, codes, reasons).
    pub fn cat(&self) -> &Catalogue {
        self.console.catalogue(self.lang)
    }

    /// The console's own words: Chinese or English.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::ZhCn => zh,
            Lang::En => en,
        }
    }

    pub fn node(&self) -> &hfx_node::node::Node {
        &self.console.node
    }

    /// "centre/role/person", as the node's logs name callers.
    pub fn label(&self) -> String {
        format!(
            "{}/{}/{}",
            self.person.centre, self.person.role, self.person.person_id
        )
    }

    pub fn is(&self, role: Role) -> bool {
        self.person.role == role
    }

    /// The page is for `roles` only: anyone else gets this 403 page, recorded in the node's
    /// log with who asked for which page (reason ROLE_NOT_ALLOWED). None: go on.
    pub fn forbid_unless(&self, roles: &[Role]) -> Option<Response> {
        if roles.contains(&self.person.role) {
            return None;
        }
        tracing::warn!(
            reason = hfx_node::error::REASON_ROLE_NOT_ALLOWED,
            caller = %self.label(),
            page = %self.path,
            "console page refused"
        );
        Some(crate::page::error(
            self,
            StatusCode::FORBIDDEN,
            self.t("无权访问", "Not allowed"),
            &format!(
                "{} ({})",
                self.t(
                    "您的角色不能打开此页面。",
                    "Your role may not open this page."
                ),
                hfx_node::error::REASON_ROLE_NOT_ALLOWED
            ),
        ))
    }
}

/// The language a request asks for: the remembered switch, else Chinese.
pub fn lang_of(parts: &Parts) -> Lang {
    let cookies = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='));
    for (k, v) in cookies {
        if k == LANG_COOKIE {
            return Lang::from_flag(v).unwrap_or(Lang::ZhCn);
        }
    }
    Lang::ZhCn
}

fn refused(status: StatusCode, reason: &str, text: &str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::page::bare(status.as_str(), text, reason),
    )
        .into_response()
}

impl FromRequestParts<Arc<Console>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let Some(info) = parts.extensions.get::<TlsConnectInfo>().cloned() else {
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "需要证书。 / A certificate is required.",
            ));
        };
        if let Some(cert) = info.revoked_cert() {
            tracing::warn!(face = "console", reason = hfx_node::auth::REASON_CERTIFICATE_REVOKED, serial = %cert.serial_hex(), "console request refused: certificate revoked");
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                hfx_node::auth::REASON_CERTIFICATE_REVOKED,
                "您的证书已被吊销：请向本中心的管理员申请新证书。 / Your certificate is revoked: ask your centre's administrator for a new one.",
            ));
        }
        let mut probe = tonic::Request::new(());
        probe.extensions_mut().insert(info.clone());
        let person = match hfx_node::auth::authenticate_person(&console.node.centre, &probe) {
            Ok(Caller::Person {
                centre,
                role,
                person_id,
            }) => Person {
                centre,
                role,
                person_id,
            },
            Ok(Caller::Peer { .. }) | Err(_) => {
                let serial = info
                    .cert
                    .as_deref()
                    .map(|c| c.serial_hex())
                    .unwrap_or_default();
                tracing::warn!(face = "console", %serial, "console request refused: not a person of this centre");
                return Err(refused(
                    StatusCode::FORBIDDEN,
                    "PERMISSION_DENIED",
                    "此控制台只接受本中心人员的证书。 / This console admits only person certificates of its own centre.",
                ));
            }
        };
        let fingerprint = info
            .cert
            .as_deref()
            .map(|c| c.fingerprint.clone())
            .unwrap_or_default();
        Ok(Ctx {
            csrf: crate::csrf::token(&console.csrf_key, &fingerprint),
            console: console.clone(),
            lang: lang_of(parts),
            person,
            info,
            path: parts.uri.path().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(cookie: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri("/");
        if let Some(c) = cookie {
            b = b.header(http::header::COOKIE, c);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn chinese_unless_the_switch_was_set_to_english() {
        assert_eq!(lang_of(&parts(None)), Lang::ZhCn);
        assert_eq!(lang_of(&parts(Some("hfx_lang=en"))), Lang::En);
        assert_eq!(lang_of(&parts(Some("a=1; hfx_lang=en; b=2"))), Lang::En);
        assert_eq!(lang_of(&parts(Some("hfx_lang=zh-CN"))), Lang::ZhCn);
        assert_eq!(lang_of(&parts(Some("hfx_lang=klingon"))), Lang::ZhCn);
        assert_eq!(lang_of(&parts(Some("other_lang=en"))), Lang::ZhCn);
    }
}
