//! Gauges of the node's state, read when the operator port is scraped ([`update`]): the log,
//! checkpoints and witnesses, the outbox, transfer cases, certificates, CRL and directory,
//! and whether this process serves. A read that fails leaves the gauge as it was (logged at
//! debug: a scrape must not fail because a count could not be read).

use crate::node::Node;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use super::client::PeerLabel;

type F64Gauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabel {
    /// `node` (this node's TLS certificate) or `root` (the zone root).
    pub certificate: &'static str,
}

/// The gauges (registered by [`super::Metrics::new`] through [`Gauges::register`]).
#[derive(Default)]
pub struct Gauges {
    log_size: Gauge,
    checkpoint_age: F64Gauge,
    witness_lag: Family<PeerLabel, Gauge>,
    evidence: Gauge,
    outbox_depth: Gauge,
    outbox_oldest: F64Gauge,
    cases: Family<StateLabel, Gauge>,
    stuck: Gauge,
    certificate_expiry: Family<CertificateLabel, Gauge>,
    crl_expiry: Gauge,
    directory_expiry: Gauge,
    writer: Gauge,
    maintenance: Gauge,
}

impl Gauges {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "hfx_log_size",
            "Entries in this node's exchange log",
            self.log_size.clone(),
        );
        r.register_with_unit(
            "hfx_checkpoint_age",
            "0 when the newest signed checkpoint covers the whole log; else seconds since the \
             oldest entry it does not cover was appended",
            Unit::Seconds,
            self.checkpoint_age.clone(),
        );
        r.register(
            "hfx_witness_lag_entries",
            "Our log size minus the size the peer last cosigned as our witness",
            self.witness_lag.clone(),
        );
        r.register(
            "hfx_witness_evidence",
            "Evidence records of peers' misbehaving logs held by this node as a witness",
            self.evidence.clone(),
        );
        r.register(
            "hfx_outbox_depth",
            "Transfer messages waiting to be delivered to peers",
            self.outbox_depth.clone(),
        );
        r.register_with_unit(
            "hfx_outbox_oldest_age",
            "Age of the oldest undelivered transfer message (0 when the outbox is empty)",
            Unit::Seconds,
            self.outbox_oldest.clone(),
        );
        r.register("hfx_cases", "Transfer cases by state", self.cases.clone());
        r.register(
            "hfx_cases_stuck",
            "Transfer cases not final that are parked for a clerk or made no progress past \
             the step deadline",
            self.stuck.clone(),
        );
        r.register_with_unit(
            "hfx_certificate_expiry",
            "Seconds until the certificate's notAfter (node: this node's; root: the zone root)",
            Unit::Seconds,
            self.certificate_expiry.clone(),
        );
        r.register_with_unit(
            "hfx_crl_expiry",
            "Seconds until the CRL in force's nextUpdate",
            Unit::Seconds,
            self.crl_expiry.clone(),
        );
        r.register_with_unit(
            "hfx_directory_expiry",
            "Seconds until the signed directory in force expires",
            Unit::Seconds,
            self.directory_expiry.clone(),
        );
        r.register(
            "hfx_node_writer",
            "1 if this process holds its centre's writer lease",
            self.writer.clone(),
        );
        r.register(
            "hfx_node_maintenance",
            "1 if this node is in maintenance mode",
            self.maintenance.clone(),
        );
    }
}

fn secs(ms: i64) -> f64 {
    (ms.max(0) as f64) / 1000.0
}

/// Read every gauge from the node's state now.
pub async fn update(node: &Node) {
    let g = &node.metrics.gauges;
    let store = &node.store;
    let now_ms = crate::now_ms();
    let quiet = |what: &str, e: crate::store::StoreError| {
        tracing::debug!(error = %e, what, "metrics: a gauge was not read");
    };

    let log_size = node.store.log().lock().await.size();
    g.log_size.set(log_size as i64);
    match store.newest_checkpoint_time().await {
        Ok(cp) => {
            let covered = cp.map_or(0, |(size, _)| size);
            let age = if covered >= log_size {
                0.0
            } else {
                match store.entry_time(covered).await {
                    Ok(Some(at)) => secs(now_ms - at),
                    Ok(None) => 0.0,
                    Err(e) => {
                        quiet("checkpoint age", e);
                        g.checkpoint_age.get()
                    }
                }
            };
            g.checkpoint_age.set(age);
        }
        Err(e) => quiet("checkpoint", e),
    }

    let dir = node.trust.directory();
    match store.cosigned_sizes().await {
        Ok(sizes) => {
            for c in dir.centres.iter().filter(|c| c.code != node.centre) {
                let origin = crate::log::origin(&dir.zone, &c.code);
                let have = sizes
                    .iter()
                    .find(|(w, _)| *w == origin)
                    .map_or(0, |(_, s)| *s);
                g.witness_lag
                    .get_or_create(&PeerLabel {
                        peer: c.code.clone(),
                    })
                    .set(log_size.saturating_sub(have) as i64);
            }
        }
        Err(e) => quiet("witness lag", e),
    }
    match store.evidence_count().await {
        Ok(n) => {
            g.evidence.set(n as i64);
        }
        Err(e) => quiet("evidence", e),
    }
    match store.outbox_backlog().await {
        Ok((n, oldest)) => {
            g.outbox_depth.set(n as i64);
            g.outbox_oldest
                .set(oldest.map_or(0.0, |at| secs(now_ms - at)));
        }
        Err(e) => quiet("outbox", e),
    }
    let step_ms = i64::try_from(node.cfg.transfer.step_deadline_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    match store.case_counts(now_ms.saturating_sub(step_ms)).await {
        Ok(counts) => {
            // A state no case is in any more is dropped (scrapes are one at a time).
            g.cases.clear();
            for (state, n) in counts.by_status {
                g.cases.get_or_create(&StateLabel { state }).set(n as i64);
            }
            g.stuck.set(counts.stuck as i64);
        }
        Err(e) => quiet("cases", e),
    }

    let now = now_ms / 1000;
    let files = node.cfg.tls_files();
    for (certificate, path) in [("node", &files.cert), ("root", &files.root)] {
        let not_after = crate::doctor::cert_not_after(path);
        if not_after > 0 {
            g.certificate_expiry
                .get_or_create(&CertificateLabel { certificate })
                .set(not_after - now);
        }
    }
    let next_update = crate::doctor::crl_next_update(&files.crl);
    if next_update > 0 {
        g.crl_expiry.set(next_update - now);
    }
    g.directory_expiry.set(dir.expires_at_unix - now);
    g.writer.set(i64::from(node.serving.is_writer()));
    g.maintenance.set(i64::from(node.serving.maintenance()));
}
