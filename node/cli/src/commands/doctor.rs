//! `hfx zone doctor` (operator): what is wrong between this node and its peers, one line of
//! advice per problem. The checks run inside the node (`Operator/Diagnose`, which has the
//! peer channels and trust); this prints its report. docs/doctor.md lists every check.

use super::{Conn, status_error};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit code when the report holds at least one problem (warnings alone exit 0; an error
/// reaching the node exits 1).
pub const EXIT_PROBLEMS: u8 = 2;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Only these peers (15-digit centre codes; repeatable). Default: every other centre of
    /// the directory in force at the node.
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// The report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client(Role::Operator)?;
    let mut op = pb::operator_client::OperatorClient::new(client.channel());
    // Progress only for a person at a terminal; scripts and --json get the report alone.
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(super::lang::cat().text(
            "doctor-checking",
            &[("centre", client.centre.as_str().into())],
        ));
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let report = op
        .diagnose(pb::DiagnoseRequest { centres: a.peers })
        .await
        .map_err(status_error);
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let report = report?.into_inner();
    if a.json {
        println!("{}", to_json(&report));
    } else {
        print!("{}", report_text(super::lang::cat(), &report));
    }
    let problems = report.findings.iter().any(|f| f.severity == "problem");
    Ok(if problems {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    })
}

fn finding_json(f: &pb::DoctorFinding) -> serde_json::Value {
    serde_json::json!({
        "centre": f.centre, "check": f.check, "severity": f.severity,
        "detail": f.detail, "advice": f.advice,
    })
}

fn peer_json(p: &pb::DoctorPeer) -> serde_json::Value {
    serde_json::json!({
        "centre": p.centre, "name": p.name, "endpoint": p.endpoint,
        "tcp_ok": p.tcp_ok, "tls_ok": p.tls_ok, "hello_ok": p.hello_ok,
        "cert_not_after_unix": p.cert_not_after_unix,
        "crl_next_update_unix": p.crl_next_update_unix,
        "directory_version": p.directory_version,
        "clock_skew_ms": p.clock_skew_ms, "rtt_ms": p.rtt_ms,
        "witness_lag_of_ours": p.witness_lag_of_ours,
        "witness_lag_of_theirs": p.witness_lag_of_theirs,
        "they_refuse": p.they_refuse, "we_refuse": p.we_refuse,
        "maintenance": p.maintenance, "health": p.health,
    })
}

/// The report as JSON: `ok` is false when any finding is a problem.
pub fn to_json(r: &pb::DiagnoseReport) -> serde_json::Value {
    serde_json::json!({
        "centre": r.centre,
        "at_unix_ms": r.at_unix_ms,
        "ok": !r.findings.iter().any(|f| f.severity == "problem"),
        "directory_version": r.directory_version,
        "directory_expires_unix": r.directory_expires_unix,
        "cert_not_after_unix": r.cert_not_after_unix,
        "crl_next_update_unix": r.crl_next_update_unix,
        "maintenance": r.maintenance,
        "log_size": r.log_size,
        "checkpoint_size": r.checkpoint_size,
        "peers": r.peers.iter().map(peer_json).collect::<Vec<_>>(),
        "findings": r.findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

/// The advice the node writes in fixed words (node/core/src/doctor), each with its message;
/// `{way}` is `ahead` or `behind`.
const ADVICE: &[(&str, &str)] = &[
    (
        "peer {centre} is down: nothing listens on {endpoint} — ask its operator to start its node (systemctl status hfx-node), or to publish its right endpoint in the directory",
        "advice-peer-down",
    ),
    (
        "peer {centre} is unreachable at {endpoint} ({error}): check the route and firewall from this host to that port, and ask its operator whether its node runs",
        "advice-peer-unreachable",
    ),
    (
        "peer {centre} is in maintenance mode: its calls get UNAVAILABLE (MAINTENANCE) until its operator ends it (hfx node maintenance off)",
        "advice-peer-maintenance",
    ),
    (
        "this node is in maintenance mode: peers get UNAVAILABLE (MAINTENANCE) — end it with hfx node maintenance off when the work is done",
        "advice-own-maintenance",
    ),
    (
        "this process is a standby (another holds the writer lease): run the doctor against the serving process for its view",
        "advice-own-standby",
    ),
    (
        "this node kept {n} pieces of evidence of a forked or rolled-back log: read them (hfx witness evidence) and tell the zone's operators now",
        "advice-witness-evidence",
    ),
    (
        "peer {centre} is {secs} s {way}: fix its NTP (chrony) — TLS and checkpoints need clocks within {limit} s",
        "advice-peer-clock-problem",
    ),
    (
        "peer {centre} is {secs} s {way}: check its NTP (chronyc tracking) — past {limit} s TLS and checkpoints fail",
        "advice-peer-clock-warning",
    ),
    (
        "this node's clock is about {secs} s {way} of the zone ({count} of {n} peers agree): fix this host's NTP (chrony) — TLS and checkpoints need clocks within {limit} s",
        "advice-own-clock",
    ),
    (
        "peer {centre} runs directory version {theirs}, ours is {ours}: its operator must install the newest signed directory and reload (hfx reload)",
        "advice-peer-directory-older",
    ),
    (
        "peer {centre} already runs directory version {theirs}, ours is {ours}: install the newest signed directory here and reload (hfx reload)",
        "advice-peer-directory-newer",
    ),
];

/// A finding's advice in the chosen language when the node wrote it in fixed words; other
/// advice as it came.
fn advice(cat: &hfx_i18n::Catalogue, text: &str) -> String {
    super::lang::from_template(cat, ADVICE, text, |name, value| match name {
        "way" => matches!(value, "ahead" | "behind").then(|| (name, value.to_string())),
        _ => Some((name, value.to_string())),
    })
}

/// The report as an operator reads it: the node, one row per peer, then each finding with
/// its severity and check in words and the node's advice as it came.
pub(crate) fn report_text(cat: &hfx_i18n::Catalogue, r: &pb::DiagnoseReport) -> String {
    let id = if r.maintenance {
        "doctor-head-maintenance"
    } else {
        "doctor-head"
    };
    let mut out = cat.text(
        id,
        &[
            ("centre", r.centre.as_str().into()),
            ("version", r.directory_version.into()),
            ("entries", r.log_size.into()),
            ("checkpoint", r.checkpoint_size.into()),
        ],
    );
    out.push('\n');
    let ok = cat.msg("doctor-ok");
    let yes = |b: bool| if b { ok.clone() } else { "--".to_string() };
    let mut rows: Vec<Vec<String>> = vec![
        [
            "doctor-col-peer",
            "doctor-col-tcp",
            "doctor-col-tls",
            "doctor-col-hello",
            "doctor-col-skew",
            "doctor-col-rtt",
            "doctor-col-dir",
            "doctor-col-health",
            "doctor-col-endpoint",
        ]
        .iter()
        .map(|id| cat.msg(id))
        .collect(),
    ];
    for p in &r.peers {
        let (skew, rtt, dir) = if p.hello_ok {
            (
                p.clock_skew_ms.to_string(),
                p.rtt_ms.to_string(),
                p.directory_version.to_string(),
            )
        } else {
            ("-".into(), "-".into(), "-".into())
        };
        rows.push(vec![
            p.centre.clone(),
            yes(p.tcp_ok),
            yes(p.tls_ok),
            yes(p.hello_ok),
            skew,
            rtt,
            dir,
            if p.health.is_empty() {
                "-".to_string()
            } else {
                p.health.clone()
            },
            p.endpoint.clone(),
        ]);
    }
    for l in hfx_i18n::columns(&rows).lines() {
        out.push_str(&format!("  {l}\n"));
    }
    if r.findings.is_empty() {
        out.push_str(&cat.msg("doctor-no-problems"));
        out.push('\n');
        return out;
    }
    let problems = r
        .findings
        .iter()
        .filter(|f| f.severity == "problem")
        .count();
    out.push_str(&cat.text(
        "doctor-summary",
        &[
            ("problems", problems.into()),
            ("warnings", (r.findings.len() - problems).into()),
        ],
    ));
    out.push('\n');
    for f in &r.findings {
        let severity = cat.msg_or(
            &format!("doctor-severity-{}", f.severity),
            &f.severity.to_uppercase(),
        );
        let check = cat.msg_or(&format!("doctor-check-{}", f.check), &f.check);
        out.push_str("  ");
        out.push_str(&cat.text(
            "doctor-finding",
            &[
                ("severity", severity.into()),
                ("check", check.into()),
                ("advice", advice(cat, &f.advice).into()),
            ],
        ));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> pb::DiagnoseReport {
        pb::DiagnoseReport {
            centre: "320300000000000".into(),
            directory_version: 3,
            log_size: 12,
            checkpoint_size: 10,
            peers: vec![pb::DoctorPeer {
                centre: "320700000000000".into(),
                endpoint: "127.0.0.1:7443".into(),
                tcp_ok: true,
                ..Default::default()
            }],
            findings: vec![pb::DoctorFinding {
                centre: "320700000000000".into(),
                check: "tls".into(),
                severity: "problem".into(),
                detail: "x".into(),
                advice: "renew its certificate".into(),
            }],
            ..Default::default()
        }
    }

    /// Each template filled with sample values: English gives back exactly what the node
    /// wrote (so nothing changes for an English reader), Chinese another text that keeps
    /// the values.
    #[test]
    fn fixed_advice_round_trips_in_english_and_reads_in_chinese() {
        let en = hfx_i18n::Catalogue::new(hfx_i18n::Lang::En);
        let zh = hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn);
        for (template, id) in ADVICE {
            for way in ["ahead", "behind"] {
                let text = template
                    .replace("{centre}", "320700000000000")
                    .replace("{endpoint}", "127.0.0.1:7443")
                    .replace("{error}", "connection reset")
                    .replace("{n}", "3")
                    .replace("{secs}", "612")
                    .replace("{way}", way)
                    .replace("{limit}", "5")
                    .replace("{count}", "2")
                    .replace("{theirs}", "4")
                    .replace("{ours}", "3");
                assert!(!text.contains('{'), "{id}: {text}");
                assert_eq!(advice(&en, &text), text, "{id}");
                let t = advice(&zh, &text);
                assert_ne!(t, text, "{id}");
                if template.contains("{centre}") {
                    assert!(t.contains("320700000000000"), "{id}: {t}");
                }
                if template.contains("{way}") {
                    assert!(t.contains(if way == "ahead" { "快" } else { "慢" }), "{t}");
                }
            }
        }
        assert_eq!(advice(&zh, "something new"), "something new");
    }

    #[test]
    fn the_report_reads_in_both_languages_with_the_advice_as_the_node_gave_it() {
        let en = hfx_i18n::Catalogue::new(hfx_i18n::Lang::En);
        let t = report_text(&en, &report());
        assert!(
            t.starts_with("320300000000000: directory v3, log 12 entries (checkpoint 10)\n"),
            "{t}"
        );
        assert!(t.contains("  peer             tcp  tls  hello"), "{t}");
        assert!(t.contains("1 problem(s), 0 warning(s):\n"), "{t}");
        assert!(
            t.ends_with("  PROBLEM [tls] renew its certificate\n"),
            "{t}"
        );
        let zh = hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn);
        let t = report_text(&zh, &report());
        assert!(t.contains("目录 v3，交换日志 12 条"), "{t}");
        assert!(t.contains("1 个问题，0 个警告："), "{t}");
        assert!(
            t.ends_with("  问题 [加密连接 tls] renew its certificate\n"),
            "{t}"
        );
        let mut fine = report();
        fine.findings.clear();
        assert!(report_text(&zh, &fine).ends_with("未发现问题\n"));
    }
}
