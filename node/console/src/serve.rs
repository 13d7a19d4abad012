//! The console's listener: TLS connections from the node's own acceptor (client certificate
//! required, CRL in force, live connections closed when a reload revokes their certificate),
//! each served as HTTP/1.1 with its connection information in every request.

use crate::app::{Console, router};
use futures::StreamExt as _;
use hfx_node::server::Stop;
use hfx_node::tls::TlsConnectInfo;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use tonic::transport::server::Connected as _;
use tower::ServiceExt as _;

/// Insert the connection's information into each of its requests.
fn with_info<B>(info: TlsConnectInfo) -> impl Fn(http::Request<B>) -> http::Request<B> + Clone {
    move |mut req| {
        req.extensions_mut().insert(info.clone());
        req
    }
}

pub async fn serve(listener: tokio::net::TcpListener, console: Arc<Console>, mut stop: Stop) {
    let tls = console.node.trust.console_tls.clone();
    let app = router(console);
    let mut incoming = hfx_node::tls::incoming(listener, tls, "console");
    loop {
        let conn = tokio::select! {
            _ = &mut stop => break,
            conn = incoming.next() => conn,
        };
        let conn = match conn {
            Some(Ok(conn)) => conn,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "console connection failed");
                continue;
            }
            None => break,
        };
        let info = conn.connect_info();
        let svc = TowerToHyperService::new(app.clone().map_request(with_info(info)));
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), svc)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "console connection ended");
            }
        });
    }
    tracing::info!("console stopped");
}
