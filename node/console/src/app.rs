//! The console's state and routes. Each page module adds its own routes ([`router`]).

use crate::pages;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hfx_i18n::{Catalogue, Lang};
use hfx_node::node::Node;
use hfx_node::server::local::Gate;
use std::sync::Arc;

/// The local API in-process ([`hfx_node::server::local::in_process`]): what every console
/// action calls.
pub type Api = Gate<tonic::service::Routes>;

pub struct Console {
    pub node: Arc<Node>,
    pub api: Api,
    /// The key form tokens are derived with ([`crate::csrf`]); new at every start.
    pub csrf_key: ring::hmac::Key,
    zh: Catalogue,
    en: Catalogue,
}

impl Console {
    pub fn new(node: Arc<Node>) -> anyhow::Result<Self> {
        let api = hfx_node::server::local::in_process(node.clone());
        Ok(Self {
            node,
            api,
            csrf_key: crate::csrf::new_key()?,
            zh: Catalogue::new(Lang::ZhCn),
            en: Catalogue::new(Lang::En),
        })
    }

    pub fn catalogue(&self, lang: Lang) -> &Catalogue {
        match lang {
            Lang::ZhCn => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// Every route of the console: the pages behind the role table ([`pages::gate`]), all behind
/// the CSRF check and the security headers.
pub fn router(console: Arc<Console>) -> Router {
    let pages = pages::routes()
        .route_layer(axum::middleware::from_fn_with_state(
            console.clone(),
            pages::gate,
        ))
        .route(
            "/assets/console.css",
            axum::routing::get(crate::assets::css),
        )
        .route("/assets/console.js", axum::routing::get(crate::assets::js))
        .fallback(pages::home::not_found);
    pages
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            crate::csrf::check,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// The Content-Security-Policy of every response: nothing from anywhere but the console
/// itself, no inline script, no framing, forms only to the console.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every response carries: the CSP, no sniffing, no referrer to other sites (a
/// browser sends no Origin on a form post under `no-referrer`, so `same-origin`),
/// no framing, and no caching of pages that may show personal data.
pub async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000; includeSubDomains",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}
