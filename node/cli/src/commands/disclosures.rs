//! `hfx disclosures`: the node's disclosure records, filtered (by member, peer, purpose,
//! direction, outcome, time), and with `--member` the report a member may ask for under
//! PIPL art. 45: which centres saw which of their data, when, why and on what basis.
//!
//! The records are the auditor's (docs/roles.md), so this runs with an auditor certificate.

use super::lang::Centres;
use super::{Conn, init_cli_logging, status_error};
use hfx_certs::Role;
use hfx_i18n::Catalogue;
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
    /// Only exchanges with this centre: its 15-digit code, its city (连云港) or the city's
    /// pinyin (lianyungang).
    #[arg(long, value_name = "CENTRE")]
    pub peer: Option<String>,
    /// Only this purpose: identity_confirmation, duplicate_account_check, transfer_check,
    /// loan_application or loan_check (- is accepted for _, e.g. transfer-check).
    #[arg(long)]
    pub purpose: Option<String>,
    /// Only records of this direction: sent (we disclosed), received (we asked: told, or,
    /// shown as "asked, no answer", refused or failed), refused (we refused a peer's request).
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
        Some(name) => super::member::parse_purpose("--purpose", name)?.wire as i32,
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

/// What a record means for the member, in a sentence. The asking side keeps `received`
/// for every request it sent; one that got no answer says so, never "was told".
fn meaning(cat: &Catalogue, centres: &Centres, d: &pb::Disclosure, own: &str) -> String {
    let name = purpose_of(d).map(|p| p.name).unwrap_or("?");
    let fields = cat.purpose_fields(name);
    let peer = centres.short(cat, &d.peer_centre);
    let id = match d.direction.as_str() {
        "sent" => "disclosures-meaning-sent",
        "received" if Catalogue::asked_unanswered(&d.direction, &d.outcome) => {
            "disclosures-meaning-asked"
        }
        "received" => "disclosures-meaning-received",
        "refused" => "disclosures-meaning-refused",
        _ => "disclosures-meaning-other",
    };
    cat.text(
        id,
        &[
            ("peer", peer.into()),
            ("own", own.into()),
            ("fields", fields.into()),
            ("outcome", cat.outcome(&d.outcome).into()),
            ("direction", d.direction.as_str().into()),
        ],
    )
}

/// The member's report (`--member`): what each record means for them, with purpose, legal
/// basis, outcome and the person who acted.
pub(crate) fn report_text(
    cat: &Catalogue,
    centres: &Centres,
    own_code: Option<&str>,
    member_id: &str,
    list: &[pb::Disclosure],
) -> String {
    let own = own_code.map_or_else(|| cat.msg("this-centre"), |c| centres.short(cat, c));
    let mut out = String::new();
    out.push_str(
        &cat.text(
            "disclosures-report-head",
            &[
                ("member", hfx_adapters::ids::mask_id(member_id).into()),
                (
                    "centre",
                    own_code
                        .map_or_else(|| own.clone(), |c| centres.full(cat, c))
                        .into(),
                ),
            ],
        ),
    );
    out.push('\n');
    out.push_str(&cat.text("disclosures-report-count", &[("count", list.len().into())]));
    out.push_str("\n\n");
    for d in list {
        let p = purpose_of(d).map(|p| p.name).unwrap_or("?");
        out.push_str(&format!(
            "{}  {}\n    {}\n",
            cat.date_time_ms(d.at_unix_ms),
            meaning(cat, centres, d, &own),
            cat.text(
                "disclosures-detail",
                &[
                    ("purpose", cat.purpose_coded(p).into()),
                    ("basis", d.legal_basis.as_str().into()),
                    ("outcome", cat.outcome(&d.outcome).into()),
                    ("person", d.acting_person.as_str().into()),
                ],
            )
        ));
    }
    if list.is_empty() {
        out.push_str(&cat.msg("disclosures-report-empty"));
        out.push('\n');
    }
    out
}

/// Records as a table, newest first: time, direction, the other centre by name, purpose,
/// acting person, outcome, the masked subject; the legal basis under each.
pub(crate) fn list_text(cat: &Catalogue, centres: &Centres, list: &[pb::Disclosure]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                cat.date_time_ms(d.at_unix_ms),
                cat.direction(&d.direction, &d.outcome),
                centres.short(cat, &d.peer_centre),
                cat.purpose(purpose_of(d).map(|p| p.name).unwrap_or("?")),
                d.acting_person.clone(),
                cat.outcome(&d.outcome),
                format!("[{}]", d.subject_masked),
            ]
        })
        .collect();
    let table = hfx_i18n::columns(&rows);
    let mut out = String::new();
    for (line, d) in table.lines().zip(list) {
        out.push_str(line);
        out.push('\n');
        out.push_str("    ");
        out.push_str(&cat.text(
            "disclosures-basis",
            &[("basis", d.legal_basis.as_str().into())],
        ));
        out.push('\n');
    }
    out
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
    let cat = super::lang::cat();
    let centres = Centres::load(&a.conn);
    if let Some(id) = &a.member {
        print!(
            "{}",
            report_text(cat, &centres, a.conn.node.as_deref(), id, &list)
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", list_text(cat, &centres, &list));
    if list.is_empty() {
        eprintln!("{}", cat.msg("disclosures-none"));
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

    fn record(direction: &str, outcome: &str) -> pb::Disclosure {
        pb::Disclosure {
            at_unix_ms: 1_796_140_800_000,
            direction: direction.into(),
            peer_centre: "320700000000000".into(),
            acting_person: "320300000000000/clerk/clerk1".into(),
            purpose: pb::Purpose::IdentityConfirmation as i32,
            legal_basis: "住房公积金管理条例 / 信息互认".into(),
            outcome: outcome.into(),
            message_id: "m".into(),
            subject_masked: "张* 320302********1234".into(),
        }
    }

    #[test]
    fn records_name_the_centre_purpose_basis_and_a_failed_query_is_no_received() {
        use hfx_i18n::Lang;
        let centres = crate::commands::lang::test_centres();
        let list = [
            record("received", "received"),
            record("received", "failed: MEMBER_NOT_FOUND"),
            record("sent", "disclosed"),
        ];
        let en = list_text(&Catalogue::new(Lang::En), &centres, &list);
        let lines: Vec<&str> = en.lines().collect();
        assert_eq!(lines.len(), 6, "{en}");
        assert!(
            lines[0].starts_with("2 Dec 2026 00:00:00 (UTC+8)  received "),
            "{en}"
        );
        assert!(lines[0].contains("Lianyungang (320700000000000)"), "{en}");
        assert!(lines[0].contains("identity confirmation"), "{en}");
        assert!(
            lines[1].contains("legal basis: 住房公积金管理条例 / 信息互认"),
            "{en}"
        );
        assert!(
            lines[2].contains("asked, no answer") && !lines[2].contains(" received "),
            "{en}"
        );
        assert!(lines[2].contains("failed: MEMBER_NOT_FOUND"), "{en}");
        assert!(
            lines[4].contains("  sent  ") || lines[4].contains(" sent "),
            "{en}"
        );
        let zh = list_text(&Catalogue::new(Lang::ZhCn), &centres, &list);
        assert!(zh.contains("2026年12月2日 00:00:00（北京时间）"), "{zh}");
        assert!(
            zh.contains("已查询，未获答复") && zh.contains("失败：MEMBER_NOT_FOUND"),
            "{zh}"
        );
        assert!(
            zh.contains("连云港 (320700000000000)") && zh.contains("身份核验"),
            "{zh}"
        );
        assert!(
            zh.contains("法律依据：住房公积金管理条例 / 信息互认"),
            "{zh}"
        );

        let report = report_text(
            &Catalogue::new(Lang::En),
            &centres,
            Some("320300000000000"),
            "320302199001011234",
            &list,
        );
        assert!(report.contains("3 records, newest first"), "{report}");
        assert!(!report.contains("320302199001011234"), "{report}");
        assert!(
            report.contains("Xuzhou (320300000000000) asked Lianyungang (320700000000000) and was told nothing (failed: MEMBER_NOT_FOUND)"),
            "{report}"
        );
        assert!(
            report.contains(
                "Xuzhou (320300000000000) asked Lianyungang (320700000000000) and was told: yes/no"
            ),
            "{report}"
        );
        assert!(
            report.contains("legal basis 住房公积金管理条例 / 信息互认"),
            "{report}"
        );
        let zh = report_text(
            &Catalogue::new(Lang::ZhCn),
            &centres,
            Some("320300000000000"),
            "320302199001011234",
            &list[..1],
        );
        assert!(zh.contains("共 1 条记录"), "{zh}");
        assert!(
            zh.contains("徐州 (320300000000000) 查询了 连云港 (320700000000000)，获得："),
            "{zh}"
        );
    }
}
