//! The web console of the centre's own people (docs/console.md): clerks, auditors and
//! operators in a browser, in Simplified Chinese by default and English by a switch.
//!
//! Served by the node on its own port (`[console] listen`) over HTTPS with the person's client
//! certificate required, checked by the same zone root and CRL as the local API
//! ([`hfx_node::tls::console_server_config`]). Who the person is and what their role may do
//! come from that certificate exactly as on the local API: every action the console takes is a
//! call into the local API *in-process* ([`hfx_node::server::local::in_process`]), carrying the
//! browser connection's certificate, so the same gate, role table, revocation check and
//! handlers answer it. No passwords, no sessions, no new trust path.
//!
//! Pages are rendered on the server (maud), with a little progressive JavaScript; the assets
//! are compiled into the binary ([`assets`]): no CDN, no external fonts. Every response carries
//! a strict Content-Security-Policy ([`app::security_headers`]); every form carries a token
//! bound to the person's certificate, and a POST without it is refused ([`csrf`]). Personal data
//! never travels in a URL: forms that carry an id number are POSTed.

pub mod app;
pub mod assets;
pub mod csrf;
pub mod ctx;
pub mod page;
pub mod pages;
pub mod rpc;
pub mod serve;

use anyhow::Context as _;
use hfx_node::node::Node;
use hfx_node::server::{Face, Stop};
use std::net::SocketAddr;
use std::sync::Arc;

/// The console as a face of the node ([`hfx_node::server::run_with_faces`]): off unless the
/// configuration's `[console] listen` names an address.
pub fn face() -> Face {
    Box::new(|node, stop| Box::pin(start(node, stop)))
}

/// Bind `[console] listen`, write `[console] addr_file`, and serve until `stop` resolves.
pub async fn start(node: Arc<Node>, stop: Stop) -> anyhow::Result<Option<SocketAddr>> {
    let Some(addr) = node.cfg.console.listen.clone() else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("console.listen: binding {addr}"))?;
    let bound = listener.local_addr()?;
    if let Some(file) = &node.cfg.console.addr_file {
        let file = node.cfg.resolve(file);
        hfx_certs::zonedir::write_atomic(&file, format!("{bound}\n").as_bytes())
            .with_context(|| format!("console.addr_file: writing {}", file.display()))?;
    }
    let console = Arc::new(app::Console::new(node)?);
    tokio::spawn(serve::serve(listener, console, stop));
    Ok(Some(bound))
}
