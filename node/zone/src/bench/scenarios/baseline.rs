//! baseline: a bare echo over the nodes' TLS configuration.

use super::super::load::{channels_for, drive, warmup_for};
use super::super::procfs::usage;
use super::super::report::cost_json;
use super::super::{BenchOptions, DEFAULT_DURATION, Ui};
use hfx_certs::ZoneDir;
use hfx_node::tls::{ServerTls, TlsFiles};
use hfx_proto::v1 as pb;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

pub(crate) struct EchoService;

#[tonic::async_trait]
impl pb::echo_server::Echo for EchoService {
    async fn echo(
        &self,
        req: tonic::Request<pb::EchoRequest>,
    ) -> Result<tonic::Response<pb::EchoReply>, tonic::Status> {
        Ok(tonic::Response::new(pb::EchoReply {
            payload: req.into_inner().payload,
        }))
    }
}

pub(crate) fn node_files(zd: &ZoneDir, code: &str) -> TlsFiles {
    let dir = zd.centre_dir(code);
    TlsFiles {
        root: zd.root_cert_path(),
        crl: zd.crl_path(),
        cert: dir.join("node.crt.pem"),
        key: dir.join("node.key.pem"),
    }
}

/// Serve `Echo` with node `server`'s identity; call it as node `client`, the way one node
/// calls another (TLS 1.3, client certificate, CRL, pinned server fingerprint, TCP_NODELAY).
pub(crate) async fn run_baseline(
    zd: &ZoneDir,
    server: &str,
    client: &str,
    opts: &BenchOptions,
    ui: &Ui,
) -> anyhow::Result<Value> {
    let sfiles = node_files(zd, server);
    let server_tls = ServerTls::new(hfx_node::tls::server_config(&sfiles)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = hfx_node::tls::incoming(listener, server_tls, "bench");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The same server settings as the nodes' (services.rs).
    let serving = tokio::spawn(
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .concurrency_limit_per_connection(256)
            .add_service(pb::echo_server::EchoServer::new(EchoService))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_rx.await;
            }),
    );
    let fingerprint = {
        let certs = hfx_node::tls::load_certs(&sfiles.cert)?;
        hfx_certs::cert_fingerprint(certs[0].as_ref())
    };
    let cfg = Arc::new(hfx_node::tls::client_config(&node_files(zd, client))?);
    let n_channels = channels_for(opts.concurrency);
    let channels = (0..n_channels)
        .map(|_| {
            hfx_node::tls::channel(
                cfg.clone(),
                addr.to_string(),
                hfx_certs::node_dns_name(server),
                Some(fingerprint.clone()),
                Duration::from_secs(30),
            )
        })
        .collect::<Result<Vec<Channel>, _>>()?;
    let channels = Arc::new(channels);
    let payload = Arc::new(vec![0x5au8; opts.payload_bytes]);
    let measure = opts.duration.unwrap_or(DEFAULT_DURATION);
    let me = std::process::id();
    let usage_before = usage(me);
    ui.say(&format!(
        "baseline: echo over mutual TLS 1.3, {} workers on {} connection(s), {} s",
        opts.concurrency,
        n_channels,
        measure.as_secs_f64()
    ));
    let load = drive(
        "baseline",
        opts.concurrency,
        warmup_for(measure),
        measure,
        ui,
        move |w, _| {
            let ch = channels[w % channels.len()].clone();
            let payload = payload.clone();
            async move {
                let mut c = pb::echo_client::EchoClient::new(ch);
                let r = c
                    .echo(pb::EchoRequest {
                        payload: payload.as_ref().clone(),
                    })
                    .await
                    .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?;
                if r.get_ref().payload.len() != payload.len() {
                    return Err("echo returned a different payload".into());
                }
                Ok(())
            }
        },
    )
    .await;
    let used = usage(me).since(usage_before);
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    let mut v = load.common_json(opts.concurrency);
    v["unit"] = json!("calls");
    v["channels"] = json!(n_channels);
    v["payload_bytes"] = json!({ "request": opts.payload_bytes, "reply": opts.payload_bytes });
    v["payload"] = json!(format!("{0} B / {0} B", opts.payload_bytes));
    v["store"] = json!("none");
    v["cost"] = cost_json(&[("bench process (client + server)", used)], load.ok_total);
    v["what"] = json!(
        "tonic unary echo in the bench process; server: tls::server_config + tls::incoming with a node certificate and the nodes' server settings; client: tls::client_config + tls::channel with another node's certificate and the pinned fingerprint"
    );
    Ok(v)
}
