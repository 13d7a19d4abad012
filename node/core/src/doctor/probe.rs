//! One peer, step by step: TCP, TLS (the certificate it presents), Hello, health. A step that
//! fails is the peer's one finding for reachability; the checks after it are skipped.

use super::advice::{self, Finding};
use super::{CONNECT_TIMEOUT, der_not_after, now_ms};
use crate::node::Node;
use hfx_certs::directory::CentreEntry;
use hfx_proto::v1 as pb;
use rustls::pki_types::ServerName;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Probe `entry`; `our_checkpoint` is the size of our newest signed checkpoint.
pub async fn peer(
    node: &Node,
    entry: &CentreEntry,
    our_checkpoint: u64,
) -> (pb::DoctorPeer, Vec<Finding>) {
    let c = entry.code.as_str();
    let mut p = pb::DoctorPeer {
        centre: entry.code.clone(),
        name: entry.name.clone(),
        endpoint: entry.endpoint.clone(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let now = now_ms() / 1000;

    // TCP.
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&entry.endpoint)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let advice_text = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                format!(
                    "peer {c} is down: nothing listens on {} — ask its operator to start its node (systemctl status hfx-node), or to publish its right endpoint in the directory",
                    entry.endpoint
                )
            } else {
                format!(
                    "peer {c} is unreachable at {} ({e}): check the route and firewall from this host to that port, and ask its operator whether its node runs",
                    entry.endpoint
                )
            };
            out.push(Finding::problem(
                c,
                "tcp",
                format!("no TCP connection to {}: {e}", entry.endpoint),
                advice_text,
            ));
            return (p, out);
        }
        Err(_) => {
            out.push(Finding::problem(
                c,
                "tcp",
                format!(
                    "no TCP connection to {} within {} s",
                    entry.endpoint,
                    CONNECT_TIMEOUT.as_secs()
                ),
                format!(
                    "peer {c} does not answer at {} within {} s: a firewall or route drops the traffic, or its host is down — check the path from this host to that port",
                    entry.endpoint,
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
            return (p, out);
        }
    };
    p.tcp_ok = true;
    let _ = tcp.set_nodelay(true);

    // TLS: the zone root and CRL verify the peer's certificate; the directory pins it.
    let name = match ServerName::try_from(hfx_certs::node_dns_name(c)) {
        Ok(n) => n,
        Err(e) => {
            out.push(Finding::problem(
                c,
                "tls",
                format!("centre code {c} makes no TLS name: {e}"),
                format!(
                    "the directory lists centre {c} under a code that is no DNS name: correct the zone file"
                ),
            ));
            return (p, out);
        }
    };
    let connector = TlsConnector::from(node.trust.client_config());
    let tls = match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            out.push(tls_failure(c, &e.to_string()));
            return (p, out);
        }
        Err(_) => {
            out.push(Finding::problem(
                c,
                "tls",
                format!("no TLS handshake within {} s", CONNECT_TIMEOUT.as_secs()),
                format!(
                    "peer {c} accepts TCP but completes no TLS handshake within {} s: something other than an hfx node listens on {} (a proxy?), or it is overloaded — ask its operator",
                    CONNECT_TIMEOUT.as_secs(),
                    entry.endpoint
                ),
            ));
            return (p, out);
        }
    };
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|d| d.as_ref().to_vec());
    drop(tls);
    p.tls_ok = true;
    if let Some(der) = &presented {
        p.cert_not_after_unix = der_not_after(der);
        let fp = hfx_certs::cert_fingerprint(der);
        if fp != entry.tls_fingerprint {
            out.push(Finding::problem(
                c,
                "tls",
                format!(
                    "peer {c} presents certificate {fp}, the directory pins {}",
                    entry.tls_fingerprint
                ),
                format!(
                    "peer {c} presents a certificate the directory does not pin: if it was rotated, the zone operator must publish the directory (hfx certs publish) and every node reload it; otherwise {} is not {c}'s node",
                    entry.endpoint
                ),
            ));
            p.tls_ok = false;
            return (p, out);
        }
        out.extend(advice::cert_expiry(c, false, p.cert_not_after_unix, now));
    }

    // Hello: the peer's clock, directory, policy toward us, maintenance, witness state.
    let channel = match node.peers.channel(c) {
        Ok(ch) => ch,
        Err(e) => {
            out.push(Finding::problem(
                c,
                "tls",
                format!("no channel to {c}: {}", e.detail()),
                format!("no gRPC channel to {c} could be built: read this node's log"),
            ));
            return (p, out);
        }
    };
    let mut hello = pb::zone_exchange_client::ZoneExchangeClient::new(channel.clone());
    let req = pb::HelloRequest {
        header: Some(pb::RequestHeader {
            sent_at_unix_ms: now_ms(),
            ..Default::default()
        }),
    };
    let sent_ms = now_ms();
    let started = Instant::now();
    let reply = hello.hello(req).await;
    let rtt = started.elapsed();
    let received_ms = now_ms();
    let reply = match reply {
        Ok(r) => r.into_inner(),
        Err(s) => {
            out.push(hello_failure(c, &s));
            return (p, out);
        }
    };
    p.hello_ok = true;
    p.rtt_ms = u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX);
    // The peer read its clock somewhere between our send and our receive: the midpoint is
    // off by at most half the round trip.
    p.clock_skew_ms = reply.unix_ms - (sent_ms + received_ms) / 2;
    p.directory_version = reply.directory_version;
    p.crl_next_update_unix = reply.crl_next_update_unix;
    p.maintenance = reply.maintenance;
    if p.cert_not_after_unix == 0 {
        p.cert_not_after_unix = reply.cert_not_after_unix;
        out.extend(advice::cert_expiry(c, false, p.cert_not_after_unix, now));
    }
    let ours = node.trust.directory().version;
    out.extend(advice::directory(c, reply.directory_version, ours));
    out.extend(advice::publication(
        c,
        "CRL",
        reply.crl_next_update_unix,
        now,
        &format!("ask {c}'s operator to install the zone's newest CRL on its node"),
    ));

    // Policy, both ways, over every purpose a policy may name.
    for purpose in crate::config::PURPOSES {
        let we_allow = node.cfg.policy.allows(c, purpose);
        let they_allow = reply.allowed_purposes.iter().any(|p| p == purpose);
        if we_allow && !they_allow {
            p.they_refuse.push(purpose.to_string());
        } else if they_allow && !we_allow {
            p.we_refuse.push(purpose.to_string());
        }
    }
    out.extend(advice::policy(
        &node.centre,
        c,
        &p.they_refuse,
        &p.we_refuse,
    ));

    // Witness lag, both ways: its cosignature of our log (what our store kept, or what it
    // says it cosigned, whichever is newer), and ours of its log.
    let kept = node.store.cosigned_size(c).await.unwrap_or(0);
    let cosigned_ours = kept.max(reply.cosigned_of_caller);
    p.witness_lag_of_ours = our_checkpoint.saturating_sub(cosigned_ours);
    out.extend(advice::witness_lag(
        c,
        true,
        p.witness_lag_of_ours,
        cosigned_ours,
        our_checkpoint,
    ));
    let held = node
        .store
        .witness_held(c)
        .await
        .ok()
        .flatten()
        .map(|h| h.size)
        .unwrap_or(0);
    p.witness_lag_of_theirs = reply.checkpoint_size.saturating_sub(held);
    out.extend(advice::witness_lag(
        c,
        false,
        p.witness_lag_of_theirs,
        held,
        reply.checkpoint_size,
    ));

    // Health, as a load balancer or a failing-over caller sees it.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await;
    use tonic_health::pb::health_check_response::ServingStatus;
    p.health = match &serving {
        Ok(r) => r.get_ref().status().as_str_name().to_string(),
        Err(s) => format!("error: {}", s.code()),
    };
    let not_serving = !matches!(&serving, Ok(r) if r.get_ref().status() == ServingStatus::Serving);
    if p.maintenance {
        out.push(Finding::warning(
            c,
            "health",
            format!("peer {c} is in maintenance mode (health {})", p.health),
            format!(
                "peer {c} is in maintenance mode: its calls get UNAVAILABLE (MAINTENANCE) until its operator ends it (hfx node maintenance off)"
            ),
        ));
    } else if not_serving {
        out.push(Finding::problem(
            c,
            "health",
            format!("peer {c} reports health {}", p.health),
            format!(
                "peer {c} reports {} on gRPC health without maintenance mode: it may be a standby without a writer lease — ask its operator to check its node log and store",
                p.health
            ),
        ));
    }
    (p, out)
}

/// A peer whose checks did not end within [`super::PEER_BUDGET`].
pub fn too_slow(entry: &CentreEntry) -> (pb::DoctorPeer, Vec<Finding>) {
    let c = entry.code.as_str();
    let secs = super::PEER_BUDGET.as_secs();
    let p = pb::DoctorPeer {
        centre: entry.code.clone(),
        name: entry.name.clone(),
        endpoint: entry.endpoint.clone(),
        ..Default::default()
    };
    let f = Finding::problem(
        c,
        "tcp",
        format!("the checks of peer {c} did not end within {secs} s"),
        format!(
            "peer {c} connects but answers too slowly (all checks over {secs} s): it is overloaded or its network is lossy — ask its operator to look at its load and node log"
        ),
    );
    (p, vec![f])
}

/// A failed TLS handshake, said by what rustls gave as the reason.
fn tls_failure(c: &str, e: &str) -> Finding {
    let advice_text = if e.contains("Expired") {
        format!(
            "peer {c}'s TLS certificate has expired (or our clock is ahead): its operator must rotate it (hfx certs rotate --dir ZONE --centre {c}) and publish the directory"
        )
    } else if e.contains("NotValidYet") {
        format!(
            "peer {c}'s TLS certificate is not valid yet by our clock: check this host's NTP and its issue time"
        )
    } else if e.contains("Revoked") {
        format!(
            "peer {c} presents a revoked certificate: its operator must install its rotated certificate and reload (hfx reload)"
        )
    } else if e.contains("UnknownIssuer") || e.contains("BadSignature") {
        format!(
            "peer {c}'s certificate is not from this zone's root: compare both nodes' tls.root files with the zone's root/root.crt.pem"
        )
    } else if e.contains("alert") {
        format!(
            "peer {c} refused our certificate ({e}): check that ours is valid, not revoked and from the zone's root — hfx reload after fixing"
        )
    } else {
        format!(
            "TLS handshake with peer {c} failed ({e}): compare both nodes' zone root and CRL, and read its node log"
        )
    };
    Finding::problem(c, "tls", format!("TLS handshake failed: {e}"), advice_text)
}

/// Hello refused or failed after a good handshake.
fn hello_failure(c: &str, s: &tonic::Status) -> Finding {
    let reason = crate::error::reason_of(s).unwrap_or_default();
    if reason == crate::error::REASON_MAINTENANCE {
        return Finding::warning(
            c,
            "health",
            format!("peer {c} answers UNAVAILABLE (MAINTENANCE)"),
            format!(
                "peer {c} is in maintenance mode: its calls get UNAVAILABLE (MAINTENANCE) until its operator ends it (hfx node maintenance off)"
            ),
        );
    }
    if reason == crate::error::REASON_NOT_WRITER {
        return Finding::problem(
            c,
            "health",
            format!("peer {c} answers UNAVAILABLE (NOT_WRITER)"),
            format!(
                "peer {c}'s process at its directory endpoint is a standby (another holds the writer lease): ask its operator to list every process of the centre in the directory, or to check why the lease holder is down"
            ),
        );
    }
    if s.code() == tonic::Code::Unimplemented {
        return Finding::warning(
            c,
            "health",
            format!("peer {c} has no ZoneExchange/Hello"),
            format!(
                "peer {c} runs an hfx without Hello: its clock, directory, policy and witness state are unknown — ask its operator to upgrade"
            ),
        );
    }
    let shown: String = s.message().chars().take(200).collect();
    let advice_text = if shown.contains("certificate") || shown.contains("alert") {
        format!(
            "peer {c} refused our certificate ({shown}): check ours (hfx zone doctor on this node lists its expiry), that the peer has the newest CRL and directory, and reload"
        )
    } else if s.code() == tonic::Code::PermissionDenied || s.code() == tonic::Code::Unauthenticated
    {
        format!(
            "peer {c} does not admit us ({reason}): it may run an older directory without our current certificate — ask its operator to install the newest directory and reload"
        )
    } else {
        format!(
            "peer {c} failed our Hello ({:?}: {shown}): ask its operator to read its node log",
            s.code()
        )
    };
    Finding::problem(
        c,
        "tls",
        format!("Hello failed: {:?} {reason}: {shown}", s.code()),
        advice_text,
    )
}
