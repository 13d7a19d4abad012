//! `hfx member query`: a clerk asks another centre about a member.

use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_adapters::purpose::Purpose;
use hfx_certs::Role;
use hfx_i18n::{Catalogue, pad};
use hfx_proto::v1 as pb;
use std::process::ExitCode;

#[allow(clippy::too_many_arguments)]
pub async fn member_query(
    conn: &Conn,
    centre: &str,
    id_type: &str,
    id_number: &str,
    name: &str,
    purpose: &str,
    message_id: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let t = hfx_adapters::model::IdType::from_code(id_type)
        .with_context(|| format!("--id-type: {id_type:?} is not 01, 02, 03, 04 or 99"))?;
    let p = parse_purpose("--purpose", purpose)?;
    let client = conn.client(Role::Clerk)?;
    let q = pb::LocalMemberQuery {
        centre: centre.to_string(),
        person: Some(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: id_number.to_string(),
            name: name.to_string(),
        }),
        purpose: p.wire as i32,
        message_id: message_id.unwrap_or_default(),
    };
    let r = client.query_member(q).await.map_err(status_error)?;
    let m = r.member.clone().unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "centre": m.centre, "purpose": p.name,
            "name_masked": m.name_masked, "id_number_masked": m.id_number_masked, "account_no": m.account_no,
            "live_account": m.live_account, "status": m.status, "opened_date": m.opened_date, "opened_month": m.opened_month,
            "paid_up_to_month": m.paid_up_to_month, "deposit_base_fen": m.deposit_base_fen, "employer_rate_bp": m.employer_rate_bp,
            "member_rate_bp": m.member_rate_bp, "monthly_amount_fen": m.monthly_amount_fen, "balance_fen": m.balance_fen,
            "continuous_start_month": m.continuous_start_month, "continuous_end_month": m.continuous_end_month,
            "has_loan": m.has_loan, "loan_count": m.loan_count, "total_borrowed_fen": m.total_borrowed_fen,
            "outstanding_fen": m.outstanding_fen, "employer_name": m.employer_name, "frozen": m.frozen,
            "six_consecutive_months": m.six_consecutive_months,
            "local_receipt": r.local_receipt.map(|x| serde_json::json!({"centre": x.centre, "log_index": x.log_index, "sequence": x.sequence})),
            "peer_receipt": r.peer_receipt.map(|x| serde_json::json!({"centre": x.centre, "log_index": x.log_index, "sequence": x.sequence})),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let cat = super::lang::cat();
        let centres = super::lang::Centres::load(conn);
        print!("{}", answer_text(cat, &centres, p.name, &r));
    }
    Ok(ExitCode::SUCCESS)
}

/// A purpose as a clerk types it: its name, with `-` accepted for `_` (`transfer-check`);
/// anything else is an error that lists both.
pub(crate) fn parse_purpose(flag: &str, s: &str) -> anyhow::Result<&'static Purpose> {
    Purpose::from_name(s).with_context(|| {
        format!(
            "{flag}: {s:?} is not a purpose: {} (or with - for _, e.g. transfer-check)",
            hfx_adapters::purpose::names()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The answer to a member query as a clerk reads it: the centre by name, the purpose, and
/// each field the answer carries, with codes by name, money and dates as people write them.
/// Personal data comes masked from the node and is shown as it came.
pub(crate) fn answer_text(
    cat: &Catalogue,
    centres: &super::lang::Centres,
    purpose: &str,
    r: &pb::LocalMemberReply,
) -> String {
    let m = r.member.clone().unwrap_or_default();
    let receipts = [
        (
            "query-our-receipt",
            r.local_receipt.as_ref().map(|x| {
                cat.text(
                    "query-receipt",
                    &[("index", x.log_index.to_string().into())],
                )
            }),
        ),
        (
            "query-their-receipt",
            r.peer_receipt.as_ref().map(|x| {
                cat.text(
                    "query-receipt-at",
                    &[
                        ("index", x.log_index.to_string().into()),
                        ("centre", centres.short(cat, &x.centre).into()),
                    ],
                )
            }),
        ),
    ];
    let rows: Vec<(String, String)> = hfx_i18n::views::member_rows(cat, &m)
        .into_iter()
        .chain(
            receipts
                .into_iter()
                .filter_map(|(id, v)| v.map(|v| (id, v))),
        )
        .map(|(id, v)| (cat.msg(id), v))
        .collect();
    let width = rows
        .iter()
        .map(|(k, _)| hfx_i18n::display_width(k))
        .max()
        .unwrap_or(0);
    let mut out = cat.text(
        "query-answered",
        &[
            ("centre", centres.full(cat, &m.centre).into()),
            ("purpose", cat.purpose_coded(purpose).into()),
        ],
    );
    out.push('\n');
    for (k, v) in rows {
        out.push_str(&format!("  {}  {v}\n", pad(&k, width)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_i18n::Lang;

    fn reply() -> pb::LocalMemberReply {
        pb::LocalMemberReply {
            member: Some(pb::MemberView {
                centre: "320700000000000".into(),
                name_masked: Some("张*".into()),
                id_number_masked: Some("320302********1234".into()),
                status: Some(pb::AccountStatus::Sealed as i32),
                opened_date: Some(20_190_305),
                paid_up_to_month: Some(202_611),
                balance_fen: Some(12_345_678),
                employer_rate_bp: Some(1200),
                member_rate_bp: Some(1250),
                live_account: Some(true),
                ..Default::default()
            }),
            local_receipt: Some(pb::Receipt {
                log_index: 7,
                ..Default::default()
            }),
            peer_receipt: Some(pb::Receipt {
                centre: "320700000000000".into(),
                log_index: 9,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn an_answer_names_codes_and_formats_money_and_dates_in_both_languages() {
        let centres = crate::commands::lang::test_centres();
        let zh = answer_text(
            &Catalogue::new(Lang::ZhCn),
            &centres,
            "transfer_check",
            &reply(),
        );
        assert!(
            zh.starts_with(
                "连云港 连云港市住房公积金管理中心 (320700000000000) 已答复（目的：转移接续核查 (transfer_check)）：\n"
            ),
            "{zh}"
        );
        for want in [
            "封存 (02)",
            "¥123,456.78",
            "2019年3月5日",
            "2026年11月",
            "12% / 12.5%",
            "连云港 (320700000000000) 日志序号 9",
        ] {
            assert!(zh.contains(want), "{want}: {zh}");
        }
        assert!(
            zh.lines()
                .any(|l| l.trim_start().starts_with("在用账户") && l.trim_end().ends_with(" 是")),
            "{zh}"
        );
        let en = answer_text(
            &Catalogue::new(Lang::En),
            &centres,
            "transfer_check",
            &reply(),
        );
        assert!(
            en.starts_with(
                "Lianyungang, 连云港市住房公积金管理中心 (320700000000000) answered for transfer check (transfer_check):\n"
            ),
            "{en}"
        );
        for want in [
            "sealed (02)",
            "¥123,456.78",
            "5 Mar 2019",
            "Nov 2026",
            "log index 9 at Lianyungang (320700000000000)",
        ] {
            assert!(en.contains(want), "{want}: {en}");
        }
        // Labels line up: every value starts in the same column.
        let cols: Vec<usize> = en
            .lines()
            .skip(1)
            .map(|l| {
                let gap = 2 + l[2..].find("  ").expect("a gap after the label");
                gap + l[gap..].len() - l[gap..].trim_start().len()
            })
            .collect();
        assert!(
            cols.len() > 5 && cols.windows(2).all(|w| w[0] == w[1]),
            "{cols:?}\n{en}"
        );
    }

    #[test]
    fn a_purpose_is_its_name_or_the_name_with_hyphens_and_the_error_lists_both() {
        assert_eq!(
            parse_purpose("--purpose", "transfer-check").unwrap().name,
            "transfer_check"
        );
        assert_eq!(
            parse_purpose("--purpose", "loan_check").unwrap().name,
            "loan_check"
        );
        let e = parse_purpose("--purpose", "transfer")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("identity_confirmation, duplicate_account_check, transfer_check, loan_application, loan_check")
                && e.contains("transfer-check"),
            "{e}"
        );
    }
}
