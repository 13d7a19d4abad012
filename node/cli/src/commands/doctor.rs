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
        s.set_message(format!("{} is checking its peers…", client.centre));
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
        print_text(&report);
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

fn yes(b: bool) -> &'static str {
    if b { "ok" } else { "--" }
}

fn print_text(r: &pb::DiagnoseReport) {
    println!(
        "{}: directory v{}, log {} entries (checkpoint {}){}",
        r.centre,
        r.directory_version,
        r.log_size,
        r.checkpoint_size,
        if r.maintenance { ", MAINTENANCE" } else { "" }
    );
    println!(
        "  {:<15}  {:<3} {:<3} {:<5}  {:>9} {:>6}  {:>4}  {:<11}  endpoint",
        "peer", "tcp", "tls", "hello", "skew ms", "rtt", "dir", "health"
    );
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
        println!(
            "  {:<15}  {:<3} {:<3} {:<5}  {:>9} {:>6}  {:>4}  {:<11}  {}",
            p.centre,
            yes(p.tcp_ok),
            yes(p.tls_ok),
            yes(p.hello_ok),
            skew,
            rtt,
            dir,
            if p.health.is_empty() { "-" } else { &p.health },
            p.endpoint
        );
    }
    if r.findings.is_empty() {
        println!("no problems found");
        return;
    }
    let problems = r
        .findings
        .iter()
        .filter(|f| f.severity == "problem")
        .count();
    println!(
        "{problems} problem(s), {} warning(s):",
        r.findings.len() - problems
    );
    for f in &r.findings {
        println!("  {} [{}] {}", f.severity.to_uppercase(), f.check, f.advice);
    }
}
