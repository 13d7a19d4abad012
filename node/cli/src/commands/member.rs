//! `hfx member query`: a clerk asks another centre about a member.

use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_certs::Role;
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
    let p = hfx_node::member::purpose_from_name(purpose).with_context(|| {
        format!(
            "--purpose: {purpose:?} is not one of {:?}",
            hfx_node::config::PURPOSES
        )
    })?;
    let client = conn.client(Role::Clerk)?;
    let q = pb::LocalMemberQuery {
        centre: centre.to_string(),
        person: Some(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: id_number.to_string(),
            name: name.to_string(),
        }),
        purpose: p as i32,
        message_id: message_id.unwrap_or_default(),
    };
    let r = client.query_member(q).await.map_err(status_error)?;
    let m = r.member.unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "centre": m.centre, "purpose": purpose,
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
        println!("centre {} answered for purpose {purpose}:", m.centre);
        let yuan = hfx_adapters::money::format_yuan;
        let line = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                println!("  {k:<24} {v}");
            }
        };
        line("name", m.name_masked.clone());
        line("id number", m.id_number_masked.clone());
        line(
            "live account",
            m.live_account
                .map(|b| if b { "yes".into() } else { "no".into() }),
        );
        line("account status", m.status.map(|s| format!("{s:02}")));
        line("account no.", m.account_no.clone());
        line(
            "opened",
            m.opened_date
                .map(|d| d.to_string())
                .or(m.opened_month.map(|d| d.to_string())),
        );
        line("paid up to", m.paid_up_to_month.map(|d| d.to_string()));
        line(
            "deposit base",
            m.deposit_base_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line(
            "rates (employer/member)",
            m.employer_rate_bp
                .zip(m.member_rate_bp)
                .map(|(a, b)| format!("{:.2}% / {:.2}%", a as f64 / 100.0, b as f64 / 100.0)),
        );
        line(
            "monthly amount",
            m.monthly_amount_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line("balance", m.balance_fen.map(|f| format!("¥{}", yuan(f))));
        line(
            "continuous deposits",
            m.continuous_start_month
                .zip(m.continuous_end_month)
                .map(|(a, b)| format!("{a}–{b}")),
        );
        line(
            "6 consecutive months",
            m.six_consecutive_months
                .map(|b| if b { "yes".into() } else { "no".into() }),
        );
        line("loans", m.loan_count.map(|n| n.to_string()));
        line(
            "total borrowed",
            m.total_borrowed_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line(
            "outstanding",
            m.outstanding_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line("employer", m.employer_name.clone());
        line(
            "our receipt",
            r.local_receipt
                .map(|x| format!("log index {}", x.log_index)),
        );
        line(
            "their receipt",
            r.peer_receipt
                .map(|x| format!("log index {} at {}", x.log_index, x.centre)),
        );
    }
    Ok(ExitCode::SUCCESS)
}
