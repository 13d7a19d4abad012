//! `hfx loan check`: a clerk asks every centre of the zone at once for a person's loans, as
//! borrower or co-borrower, under one deadline (docs/loan_check.md). The answer names every
//! centre asked and how its part ended: a centre that did not answer is never "no loans".

use super::lang::Centres;
use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_adapters::ids::{mask_id, mask_name};
use hfx_certs::Role;
use hfx_i18n::{Catalogue, money};
use hfx_node::loan_check::outcome_name;
use hfx_proto::v1 as pb;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum LoanCmd {
    /// Loans of a person at every centre of the zone (贷款核查), as borrower or co-borrower.
    ///
    /// Exit status 0 when every centre asked answered, 3 when some did not (their loans are
    /// unknown, not none), 1 on an error.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The person's id number.
    #[arg(long = "id", value_name = "ID")]
    pub id_number: String,
    /// The person's name, as on the id.
    #[arg(long)]
    pub name: String,
    /// 01 身份证, 02 军官证, 03 护照, 04 外国人永久居留证, 99 其他.
    #[arg(long, default_value = "01")]
    pub id_type: String,
    /// Ask only this centre (its 15-digit code, its city or the city's pinyin); repeat for
    /// several. Default: every centre.
    #[arg(long = "centre", value_name = "CENTRE")]
    pub centres: Vec<String>,
    /// One deadline for the whole check, milliseconds (at most the node's
    /// limits.peer_timeout_ms).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(50..=120_000))]
    pub deadline_ms: u32,
    /// Send a second copy to a centre that has not answered by half the deadline.
    #[arg(long)]
    pub hedge: bool,
    /// Reuse a message id (UUIDv7) when retrying.
    #[arg(long)]
    pub message_id: Option<String>,
    /// Print the answer as JSON (amounts in fen, dates YYYYMMDD).
    #[arg(long)]
    pub json: bool,
}

/// Exit status when some centre did not answer.
const INCOMPLETE: u8 = 3;

pub async fn run(cmd: LoanCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LoanCmd::Check(a) => check(a).await,
    }
}

async fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let t = hfx_adapters::model::IdType::from_code(&a.id_type)
        .with_context(|| format!("--id-type: {:?} is not 01, 02, 03, 04 or 99", a.id_type))?;
    let client = a.conn.client(Role::Clerk)?;
    let req = pb::LocalLoanCheck {
        person: Some(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: a.id_number.clone(),
            name: a.name.clone(),
        }),
        centres: a.centres.clone(),
        deadline_ms: a.deadline_ms,
        message_id: a.message_id.clone().unwrap_or_default(),
        hedge: a.hedge,
    };
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!(
            "asking the zone's centres (deadline {} ms)",
            a.deadline_ms
        ));
        s.enable_steady_tick(std::time::Duration::from_millis(100));
        s
    });
    let mut clerk = pb::clerk_client::ClerkClient::new(client.channel());
    let r = clerk.loan_check(req).await;
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let r = r.map_err(status_error)?.into_inner();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&r))?);
    } else {
        let centres = super::lang::Centres::load(&a.conn);
        print!(
            "{}",
            human_text(super::lang::cat(), &centres, &r, &a.name, &a.id_number)
        );
    }
    Ok(if r.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INCOMPLETE)
    })
}

fn outcome(c: &pb::CentreLoans) -> &'static str {
    outcome_name(c.outcome())
}

use hfx_i18n::views::{loan_role as role, loan_status as status};

fn to_json(r: &pb::LocalLoanCheckReply) -> serde_json::Value {
    let centres: Vec<_> = r
        .centres
        .iter()
        .map(|c| {
            let loans: Vec<_> = c
                .loans
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "contract_no": l.contract_no, "role": role(l),
                        "contract_amount_fen": l.contract_amount_fen, "issued_date": l.issued_date,
                        "outstanding_fen": l.outstanding_fen,
                        "overdue_principal_fen": l.overdue_principal_fen,
                        "overdue_periods": l.overdue_periods, "settled_date": l.settled_date,
                        "status": status(l),
                    })
                })
                .collect();
            serde_json::json!({
                "centre": c.centre, "name": c.name, "own": c.own, "outcome": outcome(c),
                "reason": (!c.reason.is_empty()).then_some(&c.reason),
                "detail": (!c.detail.is_empty()).then_some(&c.detail),
                "elapsed_ms": c.elapsed_ms, "hedged": c.hedged,
                "loans": (c.outcome() == pb::LoanCheckOutcome::Answered).then_some(loans),
                "peer_receipt": c.peer_receipt.as_ref().map(|x| serde_json::json!({
                    "centre": x.centre, "log_index": x.log_index, "sequence": x.sequence})),
            })
        })
        .collect();
    serde_json::json!({
        "message_id": r.message_id, "deadline_ms": r.deadline_ms, "elapsed_ms": r.elapsed_ms,
        "complete": r.complete, "centres": centres,
    })
}

/// The check as a clerk reads it: every centre asked by name, how its part ended, and its
/// loans with roles and statuses in words, dates and money as people write them.
fn human_text(
    cat: &Catalogue,
    centres: &Centres,
    r: &pb::LocalLoanCheckReply,
    name: &str,
    id: &str,
) -> String {
    let answered = r
        .centres
        .iter()
        .filter(|c| c.outcome() == pb::LoanCheckOutcome::Answered)
        .count();
    let mut out = cat.text(
        "loan-check-head",
        &[
            ("name", mask_name(name).into()),
            ("id", mask_id(id).into()),
            ("answered", answered.into()),
            ("total", r.centres.len().into()),
            ("elapsed", r.elapsed_ms.to_string().into()),
            ("deadline", r.deadline_ms.to_string().into()),
        ],
    );
    out.push('\n');
    for c in &r.centres {
        let mut who = centres.short(cat, &c.centre);
        if who == c.centre && !c.name.is_empty() {
            who = format!("{} {}", c.centre, c.name);
        }
        if c.own {
            who = format!("{who} {}", cat.msg("loan-check-own"));
        }
        let what = match c.outcome() {
            pb::LoanCheckOutcome::Answered => {
                cat.text("loan-check-answered", &[("count", c.loans.len().into())])
            }
            _ => cat.text(
                "loan-check-unanswered",
                &[
                    ("outcome", cat.loan_outcome(outcome(c)).into()),
                    ("detail", c.detail.as_str().into()),
                    ("reason", c.reason.as_str().into()),
                ],
            ),
        };
        let mut timing = format!("{} ms", c.elapsed_ms);
        if c.hedged {
            timing = format!("{timing}, {}", cat.msg("loan-check-hedged"));
        }
        out.push_str(&format!("  {who}  {what}  [{timing}]\n"));
        for l in &c.loans {
            let mut status = cat.loan_status(status(l));
            if let Some(d) = l.settled_date {
                status = format!(
                    "{status}, {}",
                    cat.text(
                        "loan-check-settled",
                        &[("date", cat.date_yyyymmdd(d).into())]
                    )
                );
            }
            let line = cat.text(
                "loan-check-loan",
                &[
                    ("contract", l.contract_no.as_str().into()),
                    ("role", cat.loan_role(role(l)).into()),
                    ("issued", cat.date_yyyymmdd(l.issued_date).into()),
                    ("amount", money(l.contract_amount_fen).into()),
                    ("outstanding", money(l.outstanding_fen).into()),
                    ("periods", l.overdue_periods.to_string().into()),
                    ("overdue", money(l.overdue_principal_fen).into()),
                    ("status", status.into()),
                ],
            );
            out.push_str(&format!("      {line}\n"));
        }
    }
    if !r.complete {
        out.push_str(&cat.msg("loan-check-incomplete"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_i18n::Lang;

    #[test]
    fn every_centre_by_name_and_loans_in_words() {
        let r = pb::LocalLoanCheckReply {
            centres: vec![
                pb::CentreLoans {
                    centre: "320700000000000".into(),
                    outcome: pb::LoanCheckOutcome::Answered as i32,
                    loans: vec![pb::Loan {
                        contract_no: "JK001".into(),
                        role: pb::LoanRole::CoBorrower as i32,
                        contract_amount_fen: 80_000_000,
                        issued_date: 20_210_615,
                        outstanding_fen: 65_432_100,
                        status: pb::LoanStatus::Normal as i32,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                pb::CentreLoans {
                    centre: "411400000000000".into(),
                    outcome: pb::LoanCheckOutcome::Slow as i32,
                    reason: "DEADLINE_PASSED".into(),
                    detail: "no answer within 300 ms".into(),
                    ..Default::default()
                },
            ],
            deadline_ms: 300,
            elapsed_ms: 301,
            complete: false,
            ..Default::default()
        };
        let centres = crate::commands::lang::test_centres();
        let zh = human_text(
            &Catalogue::new(Lang::ZhCn),
            &centres,
            &r,
            "张三丰",
            "320302199001011234",
        );
        assert!(zh.contains("张** 320302********1234"), "{zh}");
        assert!(
            !zh.contains("张三丰") && !zh.contains("320302199001011234"),
            "{zh}"
        );
        assert!(
            zh.contains("连云港 (320700000000000)  已答复：1 笔贷款"),
            "{zh}"
        );
        assert!(
            zh.contains("共同借款人") && zh.contains("2021年6月15日"),
            "{zh}"
        );
        assert!(
            zh.contains("¥800,000.00") && zh.contains("¥654,321.00"),
            "{zh}"
        );
        assert!(zh.contains("商丘 (411400000000000)  超时未答复"), "{zh}");
        assert!(zh.contains("核查不完整"), "{zh}");
        let en = human_text(
            &Catalogue::new(Lang::En),
            &centres,
            &r,
            "张三丰",
            "320302199001011234",
        );
        assert!(
            en.contains("Lianyungang (320700000000000)  answered: 1 loan  [0 ms]"),
            "{en}"
        );
        assert!(en.contains("co-borrower, issued 15 Jun 2021"), "{en}");
        assert!(
            en.contains("slow (no answer in time): no answer within 300 ms (DEADLINE_PASSED)"),
            "{en}"
        );
    }
}
