//! `hfx loan check`: a clerk asks every centre of the zone at once for a person's loans, as
//! borrower or co-borrower, under one deadline (docs/loan_check.md). The answer names every
//! centre asked and how its part ended: a centre that did not answer is never "no loans".

use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_adapters::ids::{mask_id, mask_name};
use hfx_adapters::money::format_yuan;
use hfx_certs::Role;
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
    /// Ask only this centre (15 digits); repeat for several. Default: every centre.
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
        print_human(&r, &a.name, &a.id_number);
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

fn role(l: &pb::Loan) -> &'static str {
    match l.role() {
        pb::LoanRole::Borrower => "borrower",
        pb::LoanRole::CoBorrower => "co_borrower",
        pb::LoanRole::Unspecified => "unspecified",
    }
}

fn status(l: &pb::Loan) -> &'static str {
    match l.status() {
        pb::LoanStatus::Normal => "normal",
        pb::LoanStatus::Overdue => "overdue",
        pb::LoanStatus::Settled => "settled",
        pb::LoanStatus::WrittenOff => "written_off",
        pb::LoanStatus::Unspecified => "unspecified",
    }
}

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

fn print_human(r: &pb::LocalLoanCheckReply, name: &str, id: &str) {
    let answered = r
        .centres
        .iter()
        .filter(|c| c.outcome() == pb::LoanCheckOutcome::Answered)
        .count();
    println!(
        "loan check for {} {}: {answered} of {} centres answered in {} ms (deadline {} ms)",
        mask_name(name),
        mask_id(id),
        r.centres.len(),
        r.elapsed_ms,
        r.deadline_ms
    );
    for c in &r.centres {
        let own = if c.own { " (this centre)" } else { "" };
        let what = match c.outcome() {
            pb::LoanCheckOutcome::Answered => format!("answered: {} loan(s)", c.loans.len()),
            _ => format!(
                "{}: {} ({}) — loans unknown",
                outcome(c).to_uppercase(),
                c.detail,
                c.reason
            ),
        };
        let hedged = if c.hedged { ", hedged" } else { "" };
        println!(
            "  {} {}{own}  {what}  [{} ms{hedged}]",
            c.centre, c.name, c.elapsed_ms
        );
        for l in &c.loans {
            let settled = l
                .settled_date
                .map(|d| format!(", settled {d}"))
                .unwrap_or_default();
            println!(
                "      {} {:<11} issued {} amount ¥{} outstanding ¥{} overdue {} period(s) ¥{} {}{settled}",
                l.contract_no,
                role(l),
                l.issued_date,
                format_yuan(l.contract_amount_fen),
                format_yuan(l.outstanding_fen),
                l.overdue_periods,
                format_yuan(l.overdue_principal_fen),
                status(l),
            );
        }
    }
    if !r.complete {
        println!("incomplete: the centres above that did not answer may hold loans of this person");
    }
}
