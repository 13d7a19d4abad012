//! `hfx witness evidence`.

use super::{Conn, init_cli_logging, status_error};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::process::ExitCode;

pub async fn witness_evidence(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Auditor)?;
    let mut c = pb::audit_client::AuditClient::new(client.channel());
    let list = c
        .list_evidence(pb::EvidenceQuery { limit: 100 })
        .await
        .map_err(status_error)?
        .into_inner()
        .evidence;
    let cat = super::lang::cat();
    let centres = super::lang::Centres::load(conn);
    if list.is_empty() && !json {
        println!("{}", cat.msg("witness-none"));
    }
    for e in &list {
        if json {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD;
            println!(
                "{}",
                serde_json::json!({"at_unix_ms": e.at_unix_ms, "centre": e.centre, "kind": e.kind, "detail": e.detail, "reported_by": e.reported_by, "old_note": b.encode(&e.old_note), "new_note": b.encode(&e.new_note), "proof": e.proof.iter().map(hex::encode).collect::<Vec<_>>()})
            );
        } else {
            println!("{}", evidence_line(cat, &centres, e));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One piece of evidence: when (China Standard Time), what kind, whose, the detail, by whom.
pub(crate) fn evidence_line(
    cat: &hfx_i18n::Catalogue,
    centres: &super::lang::Centres,
    e: &pb::Evidence,
) -> String {
    cat.text(
        "witness-evidence",
        &[
            ("at", cat.date_time_ms(e.at_unix_ms).into()),
            ("kind", e.kind.as_str().into()),
            ("centre", centres.short(cat, &e.centre).into()),
            ("detail", e.detail.as_str().into()),
            ("by", centres.short(cat, &e.reported_by).into()),
        ],
    )
}
