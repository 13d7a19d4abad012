//! What the doctor found, and the one line that says what to do about each finding. The
//! wording is the operator's interface: docs/doctor.md quotes it, tests match on it.

use super::{
    CERT_EXPIRY_PROBLEM_SECS, CLOCK_SKEW_PROBLEM_MS, CLOCK_SKEW_WARNING_MS,
    PUBLICATION_PROBLEM_SECS, PUBLICATION_WARNING_SECS, WITNESS_LAG_PROBLEM_ENTRIES,
    WITNESS_LAG_WARNING_ENTRIES,
};
use crate::node::Node;
use hfx_proto::v1 as pb;

/// How bad a finding is: a problem makes `hfx zone doctor` exit non-zero, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Problem,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Problem => "problem",
            Severity::Warning => "warning",
        }
    }
}

/// One thing found wrong.
#[derive(Debug, Clone)]
pub struct Finding {
    pub centre: String,
    pub check: &'static str,
    pub severity: Severity,
    pub detail: String,
    pub advice: String,
}

impl Finding {
    pub fn problem(centre: &str, check: &'static str, detail: String, advice: String) -> Self {
        Self {
            centre: centre.to_string(),
            check,
            severity: Severity::Problem,
            detail,
            advice,
        }
    }

    pub fn warning(centre: &str, check: &'static str, detail: String, advice: String) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::problem(centre, check, detail, advice)
        }
    }

    pub fn into_pb(self) -> pb::DoctorFinding {
        pb::DoctorFinding {
            centre: self.centre,
            check: self.check.to_string(),
            severity: self.severity.as_str().to_string(),
            detail: self.detail,
            advice: self.advice,
        }
    }
}

/// Whole days (rounded down) in `secs`, for messages.
fn days(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

/// The node certificate of `centre` (ours when `ours`) expiring at `not_after`.
pub fn cert_expiry(centre: &str, ours: bool, not_after: i64, now: i64) -> Option<Finding> {
    if not_after == 0 {
        return None;
    }
    let left = not_after - now;
    let whose = if ours {
        format!("our node certificate ({centre})")
    } else {
        format!("peer {centre}'s node certificate")
    };
    let rotate = format!("hfx certs rotate --dir ZONE --centre {centre}");
    if left <= 0 {
        return Some(Finding::problem(
            centre,
            "certificate",
            format!("{whose} expired {} days ago", days(-left)),
            format!(
                "{whose} has expired: peers refuse it — rotate it now ({rotate}), publish the directory and reload the node"
            ),
        ));
    }
    if left < CERT_EXPIRY_PROBLEM_SECS {
        let who = if ours {
            "rotate it".to_string()
        } else {
            format!("ask {centre}'s operator to rotate it")
        };
        return Some(Finding::problem(
            centre,
            "certificate",
            format!("{whose} expires in {} days (unix {not_after})", days(left)),
            format!(
                "{whose} expires in {} days: {who} before then ({rotate}; the directory is re-published and nodes reload within seconds)",
                days(left)
            ),
        ));
    }
    None
}

/// A CRL or directory of `centre` that lapses at `at` (what: "CRL" or "directory").
pub fn publication(centre: &str, what: &str, at: i64, now: i64, fix: &str) -> Option<Finding> {
    if at == 0 {
        return None;
    }
    let left = at - now;
    let detail = if left <= 0 {
        format!(
            "{what} of {centre} lapsed {} days ago (unix {at})",
            days(-left)
        )
    } else {
        format!(
            "{what} of {centre} lapses in {} days (unix {at})",
            days(left)
        )
    };
    let advice = format!("{detail}: {fix}");
    if left < PUBLICATION_PROBLEM_SECS {
        Some(Finding::problem(
            centre,
            publication_check(what),
            detail,
            advice,
        ))
    } else if left < PUBLICATION_WARNING_SECS {
        Some(Finding::warning(
            centre,
            publication_check(what),
            detail,
            advice,
        ))
    } else {
        None
    }
}

fn publication_check(what: &str) -> &'static str {
    if what == "CRL" { "crl" } else { "directory" }
}

const CRL_FIX: &str = "the zone operator must issue a fresh CRL (hfx certs revoke or hfx certs rotate re-issue it) and copy it to every node";
const DIRECTORY_FIX: &str = "the zone operator must publish the directory again (hfx certs publish) and copy it to every node (they reload it)";

/// This node's own checks: its certificate, CRL, directory, maintenance, witness evidence.
pub async fn own(node: &Node, r: &pb::DiagnoseReport, now: i64) -> Vec<Finding> {
    let me = &node.centre;
    let mut out = Vec::new();
    out.extend(cert_expiry(me, true, r.cert_not_after_unix, now));
    out.extend(publication(me, "CRL", r.crl_next_update_unix, now, CRL_FIX));
    out.extend(publication(
        me,
        "directory",
        r.directory_expires_unix,
        now,
        DIRECTORY_FIX,
    ));
    if r.maintenance {
        out.push(Finding::warning(
            me,
            "health",
            "this node is in maintenance mode".into(),
            "this node is in maintenance mode: peers get UNAVAILABLE (MAINTENANCE) — end it with hfx node maintenance off when the work is done".into(),
        ));
    }
    if !node.serving.is_writer() {
        out.push(Finding::warning(
            me,
            "health",
            "this process does not hold the writer lease (standby)".into(),
            "this process is a standby (another holds the writer lease): run the doctor against the serving process for its view".into(),
        ));
    }
    if let Ok(n) = node.store.evidence_count().await
        && n > 0
    {
        out.push(Finding::problem(
            me,
            "witness",
            format!("{n} pieces of witness evidence kept"),
            format!(
                "this node kept {n} pieces of evidence of a forked or rolled-back log: read them (hfx witness evidence) and tell the zone's operators now"
            ),
        ));
    }
    out
}

/// A peer's clock `skew_ms` ahead of ours (negative: behind), `rtt_ms` the round trip.
pub fn peer_clock(centre: &str, skew_ms: i64, rtt_ms: u32) -> Option<Finding> {
    let secs = skew_ms.abs() / 1000;
    let way = if skew_ms > 0 { "ahead" } else { "behind" };
    let detail = format!("peer clock {secs} s {way} of ours (round trip {rtt_ms} ms)");
    if skew_ms.abs() > CLOCK_SKEW_PROBLEM_MS {
        Some(Finding::problem(
            centre,
            "clock",
            detail,
            format!(
                "peer {centre} is {secs} s {way}: fix its NTP (chrony) — TLS and checkpoints need clocks within {} s",
                CLOCK_SKEW_PROBLEM_MS / 1000
            ),
        ))
    } else if skew_ms.abs() > CLOCK_SKEW_WARNING_MS {
        Some(Finding::warning(
            centre,
            "clock",
            detail,
            format!(
                "peer {centre} is {secs} s {way}: check its NTP (chronyc tracking) — past {} s TLS and checkpoints fail",
                CLOCK_SKEW_PROBLEM_MS / 1000
            ),
        ))
    } else {
        None
    }
}

/// Clock findings over every peer that answered: when most of them (at least two) are off
/// the same way by more than the problem threshold, the odd clock is ours — one finding for
/// this node instead of one per peer; otherwise one per peer that is off.
pub fn clock(own: &str, skews: &[(String, i64, u32)]) -> Vec<Finding> {
    let ahead = skews.iter().filter(|s| s.1 > CLOCK_SKEW_PROBLEM_MS).count();
    let behind = skews
        .iter()
        .filter(|s| s.1 < -CLOCK_SKEW_PROBLEM_MS)
        .count();
    let n = skews.len();
    for (count, peers_are) in [(ahead, "ahead of"), (behind, "behind")] {
        if n >= 2 && count * 2 > n {
            let mut off: Vec<i64> = skews.iter().map(|s| s.1).collect();
            off.sort_unstable();
            let median = off[off.len() / 2].abs() / 1000;
            let we_are = if peers_are == "behind" {
                "ahead"
            } else {
                "behind"
            };
            return vec![Finding::problem(
                own,
                "clock",
                format!(
                    "{count} of {n} peers' clocks are {peers_are} ours by more than {} s",
                    CLOCK_SKEW_PROBLEM_MS / 1000
                ),
                format!(
                    "this node's clock is about {median} s {we_are} of the zone ({count} of {n} peers agree): fix this host's NTP (chrony) — TLS and checkpoints need clocks within {} s",
                    CLOCK_SKEW_PROBLEM_MS / 1000
                ),
            )];
        }
    }
    skews
        .iter()
        .filter_map(|(c, skew, rtt)| peer_clock(c, *skew, *rtt))
        .collect()
}

/// A witness `lag` entries behind a log's newest checkpoint of `size`. `ours`: the peer
/// witnessing our log; otherwise us witnessing the peer's.
pub fn witness_lag(
    centre: &str,
    ours: bool,
    lag: u64,
    cosigned: u64,
    size: u64,
) -> Option<Finding> {
    let (detail, advice_text) = if ours {
        (
            format!(
                "peer {centre} cosigned our log up to {cosigned} of {size} entries ({lag} behind)"
            ),
            format!(
                "peer {centre} is {lag} entries behind in cosigning our log: check that our cosign requests reach it (our node log, \"cosignature collection\") and that its witness accepts them (its node log)"
            ),
        )
    } else {
        (
            format!(
                "we cosigned peer {centre}'s log up to {cosigned} of {size} entries ({lag} behind)"
            ),
            format!(
                "we are {lag} entries behind in cosigning peer {centre}'s log: its node must send us its checkpoints — ask its operator to read its node log for cosignature errors towards us"
            ),
        )
    };
    if lag > WITNESS_LAG_PROBLEM_ENTRIES {
        Some(Finding::problem(centre, "witness", detail, advice_text))
    } else if lag > WITNESS_LAG_WARNING_ENTRIES {
        Some(Finding::warning(centre, "witness", detail, advice_text))
    } else {
        None
    }
}

/// Policy mismatches with `centre`: `they_refuse` (we let them ask, they do not let us) and
/// `we_refuse` (the reverse).
pub fn policy(
    own: &str,
    centre: &str,
    they_refuse: &[String],
    we_refuse: &[String],
) -> Vec<Finding> {
    let mut out = Vec::new();
    if !they_refuse.is_empty() {
        let list = they_refuse.join(", ");
        out.push(Finding::problem(
            centre,
            "policy",
            format!("peer {centre} refuses us purposes our [policy] lets it ask of us: {list}"),
            format!(
                "peer {centre} refuses our {list} requests while our [policy] lets it ask them of us: agree the purposes with its operator (their [policy] peers.\"{own}\"), or drop them from ours"
            ),
        ));
    }
    if !we_refuse.is_empty() {
        let list = we_refuse.join(", ");
        out.push(Finding::problem(
            centre,
            "policy",
            format!("peer {centre} lets us ask purposes our [policy] refuses it: {list}"),
            format!(
                "peer {centre} lets us ask {list} but our [policy] refuses it those: add them to our [policy] peers.\"{centre}\" if the agreement covers them, or ask its operator to drop them"
            ),
        ));
    }
    out
}

/// The directory version a peer runs against ours.
pub fn directory(centre: &str, theirs: u64, ours: u64) -> Option<Finding> {
    if theirs == ours {
        return None;
    }
    let detail = format!("peer {centre} runs directory version {theirs}, we run {ours}");
    let advice_text = if theirs < ours {
        format!(
            "peer {centre} runs directory version {theirs}, ours is {ours}: its operator must install the newest signed directory and reload (hfx reload)"
        )
    } else {
        format!(
            "peer {centre} already runs directory version {theirs}, ours is {ours}: install the newest signed directory here and reload (hfx reload)"
        )
    };
    Some(Finding::problem(centre, "directory", detail, advice_text))
}
