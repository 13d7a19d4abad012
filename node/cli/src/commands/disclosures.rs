//! `hfx disclosures`: the node's disclosure records, filtered (by member, peer, purpose,
//! direction, outcome, time), and with `--member` the report a member may ask for under
//! PIPL art. 45: which centres saw which of their data, when, why and on what basis.
//!
//! The records are the auditor's (docs/roles.md), so this runs with an auditor certificate.

use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DisclosuresArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The member's id number: list only the records about this member, as the member's
    /// report (PIPL art. 45).
    #[arg(long, value_name = "ID")]
    pub member: Option<String>,
    /// The member's id type (01 resident id, 02 officer, 03 passport, 04 foreign permanent, 99 other).
    #[arg(long, default_value = "01", requires = "member")]
    pub id_type: String,
    /// Only exchanges with this centre (15 digits).
    #[arg(long, value_name = "CENTRE")]
    pub peer: Option<String>,
    /// Only this purpose (identity_confirmation, duplicate_account_check, transfer_check,
    /// loan_application, loan_check).
    #[arg(long)]
    pub purpose: Option<String>,
    /// Only records of this direction: sent (we disclosed), received (we were told), refused
    /// (we refused a peer's request).
    #[arg(long, value_parser = ["sent", "received", "refused"])]
    pub direction: Option<String>,
    /// Only outcomes beginning with this (disclosed, received, refused, failed, not found).
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this time on: YYYY-MM-DD (China Standard Time midnight) or RFC 3339.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Before this time: YYYY-MM-DD (China Standard Time midnight) or RFC 3339.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// Print {"disclosures": [...]} as JSON (times in unix ms).
    #[arg(long)]
    pub json: bool,
}

use super::transfer::cst;

/// A time bound in unix ms: a date (midnight in China Standard Time) or an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is neither YYYY-MM-DD nor an RFC 3339 time"))?;
    let midnight = d
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(cst()).single())
        .ok_or_else(|| format!("{s:?}: no such midnight"))?;
    Ok(midnight.timestamp_millis())
}

fn id_type_of(code: &str) -> anyhow::Result<pb::IdType> {
    Ok(match code {
        "01" => pb::IdType::ResidentId,
        "02" => pb::IdType::OfficerId,
        "03" => pb::IdType::Passport,
        "04" => pb::IdType::ForeignPermanent,
        "99" => pb::IdType::Other,
        other => anyhow::bail!("--id-type: {other:?} is not 01, 02, 03, 04 or 99"),
    })
}

/// The query the arguments ask for.
pub fn query(a: &DisclosuresArgs) -> anyhow::Result<pb::DisclosureQuery> {
    let purpose = match &a.purpose {
        Some(name) => hfx_node::member::purpose_from_name(name)
            .with_context(|| format!("--purpose: {name:?} is not a purpose"))?
            as i32,
        None => 0,
    };
    let (member_id_type, member_id_number) = match &a.member {
        Some(id) => (id_type_of(&a.id_type)? as i32, id.trim().to_string()),
        None => (0, String::new()),
    };
    Ok(pb::DisclosureQuery {
        limit: a.limit,
        member_id_type,
        member_id_number,
        peer_centre: a.peer.clone().unwrap_or_default(),
        purpose,
        direction: a.direction.clone().unwrap_or_default(),
        outcome_prefix: a.outcome.clone().unwrap_or_default(),
        since_unix_ms: a.since.unwrap_or(0),
        until_unix_ms: a.until.unwrap_or(0),
    })
}

fn purpose_of(d: &pb::Disclosure) -> Option<&'static hfx_adapters::purpose::Purpose> {
    pb::Purpose::try_from(d.purpose)
        .ok()
        .and_then(hfx_adapters::purpose::Purpose::from_wire)
}

fn json_of(d: &pb::Disclosure) -> serde_json::Value {
    let p = purpose_of(d);
    serde_json::json!({
        "at_unix_ms": d.at_unix_ms,
        "direction": d.direction,
        "peer": d.peer_centre,
        "acting_person": d.acting_person,
        "purpose": p.map(|p| p.name).unwrap_or("?"),
        "fields": p.map(|p| p.fields).unwrap_or(""),
        "legal_basis": d.legal_basis,
        "outcome": d.outcome,
        "message_id": d.message_id,
        "subject": d.subject_masked,
    })
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&cst())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// What a record means for the member, in a sentence.
fn meaning(d: &pb::Disclosure, own: &str) -> String {
    let p = purpose_of(d).map(|p| p.fields).unwrap_or("?");
    match d.direction.as_str() {
        "sent" => format!("centre {} was told: {p}", d.peer_centre),
        "received" => format!("{own} asked centre {} and was told: {p}", d.peer_centre),
        "refused" => format!(
            "centre {} asked; {own} refused and told nothing",
            d.peer_centre
        ),
        other => format!("{other} with centre {}", d.peer_centre),
    }
}

pub async fn run(a: DisclosuresArgs) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let q = query(&a)?;
    let client = a.conn.client(Role::Auditor)?;
    let list = client.disclosures_where(q).await.map_err(status_error)?;
    if a.json {
        let rows: Vec<_> = list.iter().map(json_of).collect();
        println!("{}", serde_json::json!({ "disclosures": rows }));
        return Ok(ExitCode::SUCCESS);
    }
    let own = a.conn.node.clone().unwrap_or_else(|| "this centre".into());
    if let Some(id) = &a.member {
        println!(
            "Disclosure report for the member {} at {own} (个人信息处理记录, PIPL art. 45)",
            hfx_adapters::ids::mask_id(id)
        );
        println!(
            "{} record(s), newest first; times China Standard Time.\n",
            list.len()
        );
        for d in &list {
            let p = purpose_of(d);
            println!("{}  {}", when(d.at_unix_ms), meaning(d, &own));
            println!(
                "    purpose {} · basis {} · outcome {} · by {}",
                p.map(|p| p.name).unwrap_or("?"),
                d.legal_basis,
                d.outcome,
                d.acting_person
            );
        }
        if list.is_empty() {
            println!("No centre was told anything about this member, and none asked.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for d in &list {
        println!(
            "{} {:<8} {} {:<24} {:<28} {} [{}]",
            when(d.at_unix_ms),
            d.direction,
            d.peer_centre,
            purpose_of(d).map(|p| p.name).unwrap_or("?"),
            d.acting_person,
            d.outcome,
            d.subject_masked
        );
    }
    if list.is_empty() {
        eprintln!("no disclosure records match");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_china_midnight_and_rfc3339_is_exact() {
        assert_eq!(parse_time("2026-12-02").unwrap(), 1_796_140_800_000);
        assert_eq!(
            parse_time("2026-12-02T00:00:00+08:00").unwrap(),
            1_796_140_800_000
        );
        assert!(parse_time("02/12/2026").unwrap_err().contains("YYYY-MM-DD"));
    }
}
