//! `hfx status` and `hfx reload`: the operator's view of the own node.

use super::{Conn, init_cli_logging, status_error};
use hfx_certs::Role;
use std::process::ExitCode;

pub async fn status(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let s = client.status().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": s.centre, "name": s.name, "directory_version": s.directory_version, "directory_expires_unix": s.directory_expires_unix, "log_size": s.log_size, "adapter": s.adapter, "store": s.store, "uptime_seconds": s.uptime_seconds, "version": s.version, "checkpoint_size": s.checkpoint_size, "witnessed_size": s.witnessed_size, "witness_evidence": s.witness_evidence, "maintenance": s.maintenance, "lease": s.lease})
        );
    } else {
        println!("{} {} (hfx {})", s.centre, s.name, s.version);
        println!(
            "  directory version {} (expires at unix {})",
            s.directory_version, s.directory_expires_unix
        );
        println!(
            "  exchange log {} entries; store {}; core system {}; up {} s",
            s.log_size, s.store, s.adapter, s.uptime_seconds
        );
        println!(
            "  last checkpoint {}; witnessed (quorum) up to {}; witness evidence kept: {}",
            s.checkpoint_size, s.witnessed_size, s.witness_evidence
        );
        println!(
            "  lease {}; maintenance mode {}",
            s.lease,
            if s.maintenance {
                "ON (peers refused)"
            } else {
                "off"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn reload(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let r = client.reload().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"directory_ok": r.directory_ok, "tls_ok": r.tls_ok, "directory_version": r.directory_version, "detail": r.detail})
        );
    } else {
        println!(
            "directory: {} (version {} in force)",
            if r.directory_ok { "ok" } else { "refused" },
            r.directory_version
        );
        println!("tls: {}", if r.tls_ok { "ok" } else { "refused" });
        if !r.detail.is_empty() {
            println!("{}", r.detail);
        }
    }
    Ok(if r.directory_ok && r.tls_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
