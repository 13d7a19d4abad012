//! `hfx transfer`: a clerk's account transfers between centres (DOMAIN §4.1): request one
//! at this node (the destination), follow it, list the cases, cancel a letter, resolve a
//! parked case. The node does the work; this file parses, calls the local API and prints.

use super::lang::Centres;
use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use hfx_certs::Role;
use hfx_i18n::Catalogue;
use hfx_proto::v1 as pb;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// The exit code of `request --wait` when the case did not end done: refused, cancelled,
/// failed, expired, parked for a clerk, or still moving at the timeout.
const EXIT_NOT_DONE: u8 = 2;

#[derive(clap::Subcommand, Debug)]
pub enum TransferCmd {
    /// Start a transfer into this centre (the destination): send a contact letter to the origin.
    ///
    /// The member must already have an open, depositing account here. One case in flight per
    /// person. With --wait, follow the case: exit 0 when it is done (or done after a
    /// negotiation), 2 when it ended otherwise, is parked for a clerk, or the wait timed out.
    Request(RequestArgs),
    /// Show one case: its state and national code, the amounts, why it waits, and the timeline.
    ///
    /// Times are China Standard Time (UTC+8). Personal data is shown masked, as the node gives it.
    Status {
        #[command(flatten)]
        conn: Conn,
        /// The case id (UUIDv7), as `request` or `list` printed it.
        case_id: String,
        /// Print the view as JSON (money in integer fen, times in unix ms).
        #[arg(long)]
        json: bool,
    },
    /// List this centre's transfer cases, both roles (default: only cases in flight).
    List {
        #[command(flatten)]
        conn: Conn,
        /// Only cases parked for a clerk (past a step deadline, or waiting for a clerk's move).
        #[arg(long)]
        stuck: bool,
        /// Final cases too (done, refused, cancelled, failed, expired).
        #[arg(long)]
        all: bool,
        /// At most this many cases.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Print the views as JSON, {"cases": [...]} (money in integer fen, times in unix ms).
        #[arg(long)]
        json: bool,
    },
    /// Cancel a case: only at the destination, and only before the origin accepts the letter.
    ///
    /// Once the origin has accepted, the case runs to its end (done, negotiation or failure).
    Cancel {
        #[command(flatten)]
        conn: Conn,
        /// The case id (UUIDv7).
        case_id: String,
        /// Why (sent to the origin, at most 200 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Print the view as JSON (money in integer fen, times in unix ms).
        #[arg(long)]
        json: bool,
    },
    /// Settle a parked case: accept a negotiation (credit the amount paid) or retry the waiting step.
    ///
    /// accept: only a case in negotiation at the destination; credits the amount the origin paid,
    /// and the case ends negotiated_done (national code 20).
    ///
    /// retry: try the step the case waits for now, instead of at its next backoff; not for a final
    /// case.
    Resolve {
        #[command(flatten)]
        conn: Conn,
        /// The case id (UUIDv7).
        case_id: String,
        /// accept: settle the negotiation with the amount paid; retry: run the waiting step now.
        #[arg(value_enum)]
        action: ResolveAction,
        /// Print the view as JSON (money in integer fen, times in unix ms).
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    #[command(flatten)]
    conn: Conn,
    /// The origin centre, where the member's account is now: its 15-digit code, its city
    /// (连云港) or the city's pinyin (lianyungang).
    #[arg(long)]
    origin: String,
    /// 01 身份证, 02 军官证, 03 护照, 04 外国人永久居留证, 99 其他.
    #[arg(long, default_value = "01")]
    id_type: String,
    /// The id number (resident ids are checked: GB 11643).
    #[arg(long)]
    id_number: String,
    /// The member's name (姓名), as both centres hold it.
    #[arg(long)]
    name: String,
    /// The member's open account number at this centre (checked against the core system).
    #[arg(long)]
    account: Option<String>,
    /// Reuse a case id (UUIDv7) when retrying: a second request with it answers the same case.
    #[arg(long)]
    case_id: Option<String>,
    /// Follow the case until it ends, is parked for a clerk, or the timeout passes.
    #[arg(long)]
    wait: bool,
    /// How long --wait follows the case, in seconds.
    #[arg(long, requires = "wait", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout_secs: u64,
    /// Print the view as JSON (money in integer fen, times in unix ms).
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveAction {
    /// Settle a negotiation by crediting the amount paid.
    Accept,
    /// Try the waiting step now.
    Retry,
}

impl ResolveAction {
    fn as_str(self) -> &'static str {
        match self {
            ResolveAction::Accept => "accept",
            ResolveAction::Retry => "retry",
        }
    }
}

pub async fn run(cmd: TransferCmd) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    match cmd {
        TransferCmd::Request(a) => request(a).await,
        TransferCmd::Status {
            conn,
            case_id,
            json,
        } => {
            let id = check_case_id("CASE_ID", &case_id)?;
            let mut c = clerk(&conn)?;
            let v = c
                .get_transfer(pb::GetTransferRequest { case_id: id })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                print_json(&view_json(&v))?;
            } else {
                let centres = Centres::load(&conn);
                print!("{}", status_text(super::lang::cat(), &centres, &v));
            }
            Ok(ExitCode::SUCCESS)
        }
        TransferCmd::List {
            conn,
            stuck,
            all,
            limit,
            json,
        } => {
            let mut c = clerk(&conn)?;
            let l = c
                .list_transfers(pb::ListTransfersRequest {
                    stuck_only: stuck,
                    include_final: all,
                    limit,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                let cases: Vec<_> = l.cases.iter().map(view_json).collect();
                print_json(&serde_json::json!({ "cases": cases }))?;
            } else if l.cases.is_empty() {
                let what = match (stuck, all) {
                    (true, _) => "transfer-none-stuck",
                    (false, true) => "transfer-none-all",
                    (false, false) => "transfer-none-in-flight",
                };
                println!("{}", super::lang::cat().msg(what));
            } else {
                let centres = Centres::load(&conn);
                print!("{}", list_table(super::lang::cat(), &centres, &l.cases));
            }
            Ok(ExitCode::SUCCESS)
        }
        TransferCmd::Cancel {
            conn,
            case_id,
            reason,
            json,
        } => {
            let id = check_case_id("CASE_ID", &case_id)?;
            let mut c = clerk(&conn)?;
            let v = c
                .cancel_transfer(pb::CancelTransferRequest {
                    case_id: id,
                    reason: reason.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_brief(super::lang::cat(), &v, json)?;
            Ok(ExitCode::SUCCESS)
        }
        TransferCmd::Resolve {
            conn,
            case_id,
            action,
            json,
        } => {
            let id = check_case_id("CASE_ID", &case_id)?;
            let mut c = clerk(&conn)?;
            let v = c
                .resolve_transfer(pb::ResolveTransferRequest {
                    case_id: id,
                    action: action.as_str().to_string(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_brief(super::lang::cat(), &v, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

type ClerkClient = pb::clerk_client::ClerkClient<tonic::transport::Channel>;

fn clerk(conn: &Conn) -> anyhow::Result<ClerkClient> {
    Ok(ClerkClient::new(conn.client(Role::Clerk)?.channel()))
}

/// A case id as the node takes it: a UUIDv7, hyphenated.
fn check_case_id(flag: &str, s: &str) -> anyhow::Result<String> {
    let id = uuid::Uuid::parse_str(s.trim())
        .ok()
        .with_context(|| format!("{flag}: {s:?} is not a case id (a UUID)"))?;
    anyhow::ensure!(
        id.get_version_num() == 7,
        "{flag}: {s:?} is not a case id (it must be a UUIDv7)"
    );
    Ok(id.hyphenated().to_string())
}

async fn request(a: RequestArgs) -> anyhow::Result<ExitCode> {
    let t = hfx_adapters::model::IdType::from_code(&a.id_type)
        .with_context(|| format!("--id-type: {:?} is not 01, 02, 03, 04 or 99", a.id_type))?;
    // The node resolves a code, city or pinyin against the directory in force.
    let origin = a.origin.trim().to_string();
    anyhow::ensure!(
        !origin.is_empty(),
        "--origin: give the origin centre's code, city or pinyin"
    );
    let case_id = a
        .case_id
        .as_deref()
        .map(|s| check_case_id("--case-id", s))
        .transpose()?
        .unwrap_or_default();
    let mut c = clerk(&a.conn)?;
    let v = c
        .start_transfer(pb::StartTransferRequest {
            origin_centre: origin,
            person: Some(pb::PersonKey {
                id_type: hfx_node::member::id_type_to_pb(t) as i32,
                id_number: a.id_number.trim().to_string(),
                name: a.name.trim().to_string(),
            }),
            destination_account_no: a
                .account
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_string(),
            case_id,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if !a.wait {
        if a.json {
            print_json(&view_json(&v))?;
        } else {
            let centres = Centres::load(&a.conn);
            print!("{}", started_text(super::lang::cat(), &centres, &v));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (v, timed_out) = follow(&mut c, v, Duration::from_secs(a.timeout_secs)).await?;
    if a.json {
        print_json(&view_json(&v))?;
    } else {
        let centres = Centres::load(&a.conn);
        print!("{}", status_text(super::lang::cat(), &centres, &v));
    }
    let o = outcome(&v);
    if o == Outcome::Done {
        return Ok(ExitCode::SUCCESS);
    }
    let cat = super::lang::cat();
    let why = if timed_out && o == Outcome::Moving {
        cat.text(
            "transfer-timed-out",
            &[
                ("case", v.case_id.as_str().into()),
                ("state", state_code(cat, &v.state, &v.national_code).into()),
                ("secs", a.timeout_secs.into()),
                ("what", cat.transfer_wait(or_dash(&v.waiting_for)).into()),
            ],
        )
    } else {
        why_not_done(cat, &v, o)
    };
    eprintln!("{why}");
    Ok(ExitCode::from(EXIT_NOT_DONE))
}

/// Poll the case until it is final, parked or the timeout passes; the bool says it timed out.
async fn follow(
    c: &mut ClerkClient,
    first: pb::TransferView,
    timeout: Duration,
) -> anyhow::Result<(pb::TransferView, bool)> {
    let deadline = tokio::time::Instant::now() + timeout;
    // A spinner on a terminal only: nothing extra when the output goes to a file or a pipe.
    let bar = if std::io::stdout().is_terminal() {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut v = first;
    let mut pause = Duration::from_millis(300);
    let timed_out = loop {
        bar.set_message(progress_line(super::lang::cat(), &v));
        if outcome(&v) != Outcome::Moving {
            break false;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break true;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 3 / 2).min(Duration::from_secs(2));
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let call = c.get_transfer(pb::GetTransferRequest {
            case_id: v.case_id.clone(),
        });
        match tokio::time::timeout(left.max(Duration::from_millis(500)), call).await {
            Ok(Ok(r)) => v = r.into_inner(),
            // The node restarting or a slow answer: keep following until the deadline.
            Ok(Err(s))
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
                ) => {}
            Ok(Err(s)) => {
                bar.finish_and_clear();
                return Err(status_error(s));
            }
            Err(_) => {}
        }
    };
    bar.finish_and_clear();
    Ok((v, timed_out))
}

/// Where a case stands for `request --wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Final: done, or done after a negotiation.
    Done,
    /// Final otherwise: refused, cancelled, failed, expired.
    Ended,
    /// Waiting for a clerk: a stuck reason, or a negotiation to settle here.
    Parked,
    Moving,
}

fn outcome(v: &pb::TransferView) -> Outcome {
    if v.is_final {
        if matches!(v.state.as_str(), "done" | "negotiated_done") {
            Outcome::Done
        } else {
            Outcome::Ended
        }
    } else if !v.stuck_reason.is_empty() || (v.state == "negotiating" && v.role == "destination") {
        Outcome::Parked
    } else {
        Outcome::Moving
    }
}

/// `hfx transfer request`'s answer without --wait: the case, its letter, how to follow it.
fn started_text(cat: &Catalogue, centres: &Centres, v: &pb::TransferView) -> String {
    let case = v.case_id.as_str();
    format!(
        "{}\n  {}\n  {}\n",
        cat.text(
            "transfer-started",
            &[
                ("case", case.into()),
                ("letter", or_dash(&v.letter_no).into()),
                ("origin", centres.short(cat, &v.origin_centre).into()),
            ],
        ),
        brief(cat, v),
        cat.text("transfer-follow", &[("case", case.into())]),
    )
}

/// Why `request --wait` exits 2, for a case that ended or is parked.
fn why_not_done(cat: &Catalogue, v: &pb::TransferView, o: Outcome) -> String {
    let sc = state_code(cat, &v.state, &v.national_code);
    let case = v.case_id.as_str();
    match o {
        Outcome::Ended => {
            let mut s = cat.text(
                "transfer-ended",
                &[("case", case.into()), ("state", sc.into())],
            );
            if !v.refusal_code.is_empty() {
                s.push_str(&cat.msg("transfer-separator"));
                s.push_str(&cat.text(
                    "transfer-ended-refusal",
                    &[("code", v.refusal_code.as_str().into())],
                ));
            }
            if !v.status_detail.is_empty() {
                s = cat.text(
                    "transfer-ended-detail",
                    &[
                        ("text", s.into()),
                        ("detail", step_note(cat, &v.status_detail).into()),
                    ],
                );
            }
            s
        }
        Outcome::Parked => {
            let reason = if !v.stuck_reason.is_empty() {
                v.stuck_reason.clone()
            } else if !v.negotiation.is_empty() {
                v.negotiation.clone()
            } else {
                cat.msg("transfer-parked-negotiation")
            };
            cat.text(
                "transfer-parked",
                &[
                    ("case", case.into()),
                    ("state", sc.into()),
                    ("reason", reason.into()),
                    ("what", cat.transfer_wait(or_dash(&v.waiting_for)).into()),
                ],
            )
        }
        Outcome::Done | Outcome::Moving => cat.text(
            "transfer-is",
            &[("case", case.into()), ("state", sc.into())],
        ),
    }
}

mod show;
#[cfg(test)]
mod tests;

pub(crate) use show::cst;
use show::*;
