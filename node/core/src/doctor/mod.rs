//! `hfx zone doctor`: what is wrong between this node and its peers, and what to do.
//!
//! The doctor runs inside the node because only the node has what the checks need: its peer
//! channels, its trust (zone root, CRL, directory in force), its policy and its witness
//! state. The CLI calls [`diagnose`] through the local `Operator/Diagnose` method and prints
//! the report. For every peer of the directory it tries, in order, a TCP connection, a TLS
//! handshake (reading the certificate the peer presents), the peer's `ZoneExchange/Hello`
//! ([`hello`]: clock, directory, policy toward us, maintenance, witness state) and gRPC
//! health; a step that fails stops that peer's checks (the later ones could only repeat the
//! failure). Each problem becomes one [`Finding`] with one line of advice ([`advice`]).
//! docs/doctor.md lists every check, threshold and advice.

pub mod advice;
pub mod hello;
mod probe;

use crate::node::Node;
use advice::Finding;
use hfx_proto::v1 as pb;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A peer clock this far from ours (either way) is a problem: rustls refuses certificates
/// outside their validity and witnesses compare checkpoint times, so past a minute calls
/// start failing in ways that look unrelated to time.
pub const CLOCK_SKEW_PROBLEM_MS: i64 = 60_000;
/// A peer clock this far off is a warning: NTP should keep centres within a second or two.
pub const CLOCK_SKEW_WARNING_MS: i64 = 5_000;
/// A node certificate expiring within this many seconds (14 days) is a problem: rotation
/// needs the zone operator (`hfx certs rotate`) and a directory publication.
pub const CERT_EXPIRY_PROBLEM_SECS: i64 = 14 * 86_400;
/// A CRL or directory whose next update or expiry is this close (3 days) is a problem: past
/// it, nodes refuse the CRL or keep running on a directory that is about to lapse.
pub const PUBLICATION_PROBLEM_SECS: i64 = 3 * 86_400;
/// Within 7 days it is a warning (the zone publishes both well before they lapse).
pub const PUBLICATION_WARNING_SECS: i64 = 7 * 86_400;
/// A witness this many entries behind a log's newest checkpoint is a problem: the log runs
/// with that much unwitnessed history, which a fork could hide.
pub const WITNESS_LAG_PROBLEM_ENTRIES: u64 = 10_000;
/// This many entries behind is a warning (a busy node's witness is a few hundred behind).
pub const WITNESS_LAG_WARNING_ENTRIES: u64 = 1_000;
/// How long the TCP connection and the TLS handshake to one peer may take each.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long all checks of one peer may take together (Hello and health each also end at the
/// node's `limits.peer_timeout_ms`); the CLI waits 30 s for the whole report.
pub const PEER_BUDGET: Duration = Duration::from_secs(20);

/// Wall clock, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The notAfter of the first certificate in a PEM file, unix seconds (0: unreadable).
pub(crate) fn cert_not_after(path: &std::path::Path) -> i64 {
    crate::tls::load_certs(path)
        .ok()
        .and_then(|c| c.first().map(|c| der_not_after(c.as_ref())))
        .unwrap_or(0)
}

/// The notAfter of a DER certificate, unix seconds (0: unparsable).
pub(crate) fn der_not_after(der: &[u8]) -> i64 {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.validity().not_after.timestamp())
        .unwrap_or(0)
}

/// The earliest nextUpdate of the CRLs in a PEM file, unix seconds (0: none or unreadable).
pub(crate) fn crl_next_update(path: &std::path::Path) -> i64 {
    let Ok(crls) = crate::tls::load_crls(path) else {
        return 0;
    };
    crls.iter()
        .filter_map(|der| {
            let (_, crl) = x509_parser::parse_x509_crl(der.as_ref()).ok()?;
            crl.next_update().map(|t| t.timestamp())
        })
        .min()
        .unwrap_or(0)
}

/// Check this node and every peer of the directory (or the `centres` asked for).
pub async fn diagnose(node: &Node, req: pb::DiagnoseRequest) -> pb::DiagnoseReport {
    let dir = node.trust.directory();
    let files = node.cfg.tls_files();
    let now = now_ms() / 1000;
    let log_size = node.store.log().lock().await.size();
    let checkpoint_size = node
        .latest_checkpoint()
        .await
        .ok()
        .flatten()
        .map(|c| c.0)
        .unwrap_or(0);
    let mut report = pb::DiagnoseReport {
        centre: node.centre.clone(),
        at_unix_ms: now_ms(),
        directory_version: dir.version,
        directory_expires_unix: dir.expires_at_unix,
        cert_not_after_unix: cert_not_after(&files.cert),
        crl_next_update_unix: crl_next_update(&files.crl),
        maintenance: node.serving.maintenance(),
        log_size,
        checkpoint_size,
        ..Default::default()
    };
    let mut findings = advice::own(node, &report, now).await;

    let peers: Vec<_> = dir
        .centres
        .iter()
        .filter(|c| c.code != node.centre)
        .filter(|c| req.centres.is_empty() || req.centres.contains(&c.code))
        .cloned()
        .collect();
    let probes = peers.iter().map(|entry| async move {
        match tokio::time::timeout(PEER_BUDGET, probe::peer(node, entry, checkpoint_size)).await {
            Ok(done) => done,
            Err(_) => probe::too_slow(entry),
        }
    });
    let results = futures::future::join_all(probes).await;
    let mut skews = Vec::new();
    for (peer, mut found) in results {
        if peer.hello_ok {
            skews.push((peer.centre.clone(), peer.clock_skew_ms, peer.rtt_ms));
        }
        report.peers.push(peer);
        findings.append(&mut found);
    }
    findings.extend(advice::clock(&node.centre, &skews));
    // This node's findings first, then by peer in directory order (stable: each centre's
    // findings keep the order of the checks).
    let rank = |c: &str| {
        if c == node.centre {
            0
        } else {
            1 + dir
                .centres
                .iter()
                .position(|e| e.code == c)
                .unwrap_or(usize::MAX - 1)
        }
    };
    findings.sort_by_key(|f| rank(&f.centre));
    report.findings = findings.into_iter().map(Finding::into_pb).collect();
    report
}

#[cfg(test)]
mod tests;
