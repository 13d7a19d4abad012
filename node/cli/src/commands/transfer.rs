//! `hfx transfer`: a clerk's account transfers between centres (DOMAIN §4.1): request one
//! at this node (the destination), follow it, list the cases, cancel a letter, resolve a
//! parked case. The node does the work; this file parses, calls the local API and prints.

use super::{Conn, init_cli_logging, status_error};
use anyhow::Context;
use chrono::Offset as _;
use hfx_adapters::money::format_yuan;
use hfx_certs::Role;
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
    /// The origin centre (15 digits): where the member's account is now.
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
                print!("{}", status_text(&v));
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
                    (true, _) => "no case is parked for a clerk",
                    (false, true) => "no transfer cases at this centre",
                    (false, false) => "no transfer in flight (--all lists final cases too)",
                };
                println!("{what}");
            } else {
                print!("{}", list_table(&l.cases));
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
            print_brief(&v, json)?;
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
            print_brief(&v, json)?;
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
    let origin = hfx_adapters::ids::validate_centre_code("--origin", &a.origin)?;
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
            println!(
                "case {} started: letter {} to {}",
                v.case_id,
                or_dash(&v.letter_no),
                v.origin_centre
            );
            println!("  {}", brief(&v));
            println!("  follow it with: hfx transfer status {}", v.case_id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (v, timed_out) = follow(&mut c, v, Duration::from_secs(a.timeout_secs)).await?;
    if a.json {
        print_json(&view_json(&v))?;
    } else {
        print!("{}", status_text(&v));
    }
    let o = outcome(&v);
    if o == Outcome::Done {
        return Ok(ExitCode::SUCCESS);
    }
    let why = if timed_out && o == Outcome::Moving {
        format!(
            "case {} is still {} after {} s, waiting for {}; follow it with `hfx transfer status {}`",
            v.case_id,
            state_code(&v.state, &v.national_code),
            a.timeout_secs,
            or_dash(&v.waiting_for),
            v.case_id
        )
    } else {
        why_not_done(&v, o)
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
        bar.set_message(progress_line(&v));
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

/// Why `request --wait` exits 2, for a case that ended or is parked.
fn why_not_done(v: &pb::TransferView, o: Outcome) -> String {
    let sc = state_code(&v.state, &v.national_code);
    match o {
        Outcome::Ended => {
            let mut s = format!("case {} ended {sc}", v.case_id);
            if !v.refusal_code.is_empty() {
                s.push_str(&format!("; refusal code {}", v.refusal_code));
            }
            if !v.status_detail.is_empty() {
                s.push_str(&format!(": {}", v.status_detail));
            }
            s
        }
        Outcome::Parked => {
            let reason = if !v.stuck_reason.is_empty() {
                v.stuck_reason.as_str()
            } else if !v.negotiation.is_empty() {
                v.negotiation.as_str()
            } else {
                "a negotiation to settle"
            };
            format!(
                "case {} is parked for a clerk ({sc}): {reason}; waiting for {}. \
                 See `hfx transfer status {id}`, then `hfx transfer resolve {id} accept|retry`",
                v.case_id,
                or_dash(&v.waiting_for),
                id = v.case_id
            )
        }
        Outcome::Done | Outcome::Moving => format!("case {} is {sc}", v.case_id),
    }
}

/// The spinner's one line.
fn progress_line(v: &pb::TransferView) -> String {
    let mut s = format!(
        "case {}: {}",
        v.case_id,
        state_code(&v.state, &v.national_code)
    );
    if !v.waiting_for.is_empty() {
        s.push_str(&format!(", waiting for {}", v.waiting_for));
    }
    s
}

/// China Standard Time (UTC+8), where the centres are.
pub(crate) fn cst() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS` in UTC+8; `--` when unset (0) or out of range.
fn local_time(ms: i64) -> String {
    if ms <= 0 {
        return "--".into();
    }
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t
            .with_timezone(&cst())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => "--".into(),
    }
}

/// Fen as `¥1234.56`.
fn yuan(fen: i64) -> String {
    format!("¥{}", format_yuan(fen))
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "--" } else { s }
}

/// `held (02)`, `letter_sent (--)`.
fn state_code(state: &str, code: &str) -> String {
    format!("{} ({})", or_dash(state), or_dash(code))
}

/// One line of the timeline: local time, centre, national code, state, note.
fn step_line(s: &pb::TransferStep) -> String {
    let line = format!(
        "{}  {:<15}  {:<2}  {:<16}  {}",
        local_time(s.at_unix_ms),
        or_dash(&s.centre),
        or_dash(&s.national_code),
        or_dash(&s.status),
        s.note
    );
    line.trim_end().to_string()
}

/// At most `n` characters, with `…` when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The other centre of the case, seen from this node.
fn peer_centre(v: &pb::TransferView) -> &str {
    if v.role == "origin" {
        &v.destination_centre
    } else {
        &v.origin_centre
    }
}

/// The amount line: `¥… (principal ¥…, interest ¥…)`, or not known before the transfer-out.
fn amount_text(v: &pb::TransferView) -> String {
    if v.amount_fen == 0 && v.principal_fen == 0 && v.interest_fen == 0 {
        return "not known yet".into();
    }
    let mut s = yuan(v.amount_fen);
    if v.principal_fen != 0 || v.interest_fen != 0 {
        s.push_str(&format!(
            " (principal {}, interest {})",
            yuan(v.principal_fen),
            yuan(v.interest_fen)
        ));
    }
    s
}

/// `hfx transfer status`: the case, then its timeline.
fn status_text(v: &pb::TransferView) -> String {
    let mut out = String::new();
    let mut line = |k: &str, val: &str| {
        if !val.is_empty() {
            out.push_str(&format!("  {k:<14} {val}\n"));
        }
    };
    line("case", &v.case_id);
    line("letter no.", or_dash(&v.letter_no));
    line("role", &v.role);
    line(
        "route",
        &format!(
            "{} → {}",
            or_dash(&v.origin_centre),
            or_dash(&v.destination_centre)
        ),
    );
    line("person", &v.person_masked);
    line(
        "state",
        &format!(
            "{}{}",
            state_code(&v.state, &v.national_code),
            if v.is_final { ", final" } else { "" }
        ),
    );
    line("amount", &amount_text(v));
    if v.history_months > 0 {
        line(
            "history",
            &format!("{} months of deposits carried", v.history_months),
        );
    }
    line("account here", &v.destination_account_no);
    line("bank ref.", &v.bank_reference);
    line("refusal code", &v.refusal_code);
    line("negotiation", &v.negotiation);
    line("stuck", &v.stuck_reason);
    line("waiting for", &v.waiting_for);
    line("created", &local_time(v.created_unix_ms));
    line("updated", &local_time(v.updated_unix_ms));
    out.push_str("  timeline (UTC+8):\n");
    if v.steps.is_empty() {
        out.push_str("    --\n");
    }
    for s in &v.steps {
        out.push_str(&format!("    {}\n", step_line(s)));
    }
    out
}

/// The one-line summary of a case: `cancelled (05); waiting for …; stuck: …`.
fn brief(v: &pb::TransferView) -> String {
    let mut s = state_code(&v.state, &v.national_code);
    if v.amount_fen != 0 {
        s.push_str(&format!(", {}", yuan(v.amount_fen)));
    }
    if !v.waiting_for.is_empty() {
        s.push_str(&format!("; waiting for {}", v.waiting_for));
    }
    if !v.stuck_reason.is_empty() {
        s.push_str(&format!("; stuck: {}", v.stuck_reason));
    }
    if !v.status_detail.is_empty() {
        s.push_str(&format!("; {}", v.status_detail));
    }
    s
}

fn print_brief(v: &pb::TransferView, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&view_json(v))
    } else {
        println!(
            "case {} (letter {}): {}",
            v.case_id,
            or_dash(&v.letter_no),
            brief(v)
        );
        Ok(())
    }
}

/// `hfx transfer list`: one row per case.
fn list_table(cases: &[pb::TransferView]) -> String {
    let row = |cols: [&str; 9]| {
        format!(
            "{:<36}  {:<16}  {:<11}  {:<15}  {:<16}  {:<4}  {:>14}  {:<19}  {}",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8]
        )
        .trim_end()
        .to_string()
    };
    let mut out = row([
        "case id",
        "letter no.",
        "role",
        "peer centre",
        "state",
        "code",
        "amount",
        "updated",
        "stuck",
    ]);
    out.push('\n');
    for v in cases {
        let amount = if v.amount_fen == 0 {
            "--".to_string()
        } else {
            yuan(v.amount_fen)
        };
        out.push_str(&row([
            &v.case_id,
            or_dash(&v.letter_no),
            &v.role,
            or_dash(peer_centre(v)),
            or_dash(&v.state),
            or_dash(&v.national_code),
            &amount,
            &local_time(v.updated_unix_ms),
            &truncate(&v.stuck_reason, 40),
        ]));
        out.push('\n');
    }
    out
}

fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A view as JSON: the proto's field names, money as integer fen, times as unix ms.
fn view_json(v: &pb::TransferView) -> serde_json::Value {
    let status = pb::CaseStatus::try_from(v.status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| v.status.to_string());
    let steps: Vec<_> = v
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "at_unix_ms": s.at_unix_ms, "status": s.status, "national_code": s.national_code,
                "centre": s.centre, "note": s.note,
            })
        })
        .collect();
    serde_json::json!({
        "case_id": v.case_id, "letter_no": v.letter_no, "role": v.role,
        "origin_centre": v.origin_centre, "destination_centre": v.destination_centre,
        "destination_account_no": v.destination_account_no, "person_masked": v.person_masked,
        "state": v.state, "national_code": v.national_code, "status": status,
        "status_detail": v.status_detail, "is_final": v.is_final,
        "amount_fen": v.amount_fen, "principal_fen": v.principal_fen, "interest_fen": v.interest_fen,
        "history_months": v.history_months, "bank_reference": v.bank_reference,
        "negotiation": v.negotiation, "refusal_code": v.refusal_code,
        "stuck_reason": v.stuck_reason, "waiting_for": v.waiting_for,
        "created_unix_ms": v.created_unix_ms, "updated_unix_ms": v.updated_unix_ms,
        "steps": steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    const CASE: &str = "0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";

    fn step(at: i64, status: &str, code: &str, centre: &str, note: &str) -> pb::TransferStep {
        pb::TransferStep {
            at_unix_ms: at,
            status: status.into(),
            national_code: code.into(),
            centre: centre.into(),
            note: note.into(),
        }
    }

    fn view(state: &str, is_final: bool) -> pb::TransferView {
        pb::TransferView {
            case_id: CASE.into(),
            letter_no: "3203002612020001".into(),
            origin_centre: "410100000000000".into(),
            destination_centre: "320300000000000".into(),
            role: "destination".into(),
            state: state.into(),
            is_final,
            ..Default::default()
        }
    }

    #[test]
    fn local_time_is_china_standard_time() {
        // 2026-12-01 16:00:00 UTC is midnight of the 2nd in UTC+8.
        assert_eq!(local_time(1_796_140_800_000), "2026-12-02 00:00:00");
        assert_eq!(local_time(1_796_140_800_999), "2026-12-02 00:00:00");
        assert_eq!(local_time(1_796_140_799_000), "2026-12-01 23:59:59");
        assert_eq!(local_time(0), "--");
        assert_eq!(local_time(-5), "--");
        assert_eq!(local_time(i64::MAX), "--");
    }

    #[test]
    fn timeline_line_shows_time_centre_code_state_note() {
        let s = step(
            1_796_140_800_000,
            "letter_received",
            "02",
            "410100000000000",
            "letter 3203002612020001",
        );
        assert_eq!(
            step_line(&s),
            "2026-12-02 00:00:00  410100000000000  02  letter_received   letter 3203002612020001"
        );
        // No national code yet, no note: dashes, no trailing blanks.
        let s = step(1_796_140_800_000, "letter_sent", "", "320300000000000", "");
        assert_eq!(
            step_line(&s),
            "2026-12-02 00:00:00  320300000000000  --  letter_sent"
        );
    }

    #[test]
    fn yuan_from_fen() {
        assert_eq!(yuan(1_234_567), "¥12345.67");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(-120), "¥-1.20");
        let mut v = view("out_received", false);
        assert_eq!(amount_text(&v), "not known yet");
        v.amount_fen = 1_050_000;
        v.principal_fen = 1_000_000;
        v.interest_fen = 50_000;
        assert_eq!(
            amount_text(&v),
            "¥10500.00 (principal ¥10000.00, interest ¥500.00)"
        );
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("short", 40), "short");
        assert_eq!(truncate("核对账户超过期限", 5), "核对账户…");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
    }

    #[test]
    fn outcome_of_a_case() {
        assert_eq!(outcome(&view("done", true)), Outcome::Done);
        assert_eq!(outcome(&view("negotiated_done", true)), Outcome::Done);
        for s in ["refused", "cancelled", "failed", "expired"] {
            assert_eq!(outcome(&view(s, true)), Outcome::Ended, "{s}");
        }
        assert_eq!(outcome(&view("held", false)), Outcome::Moving);
        let mut v = view("held", false);
        v.stuck_reason = "payout past its deadline".into();
        assert_eq!(outcome(&v), Outcome::Parked);
        assert_eq!(outcome(&view("negotiating", false)), Outcome::Parked);
        let mut v = view("refused", true);
        v.national_code = "13".into();
        v.refusal_code = "FROZEN".into();
        v.status_detail = "the account is frozen".into();
        assert_eq!(
            why_not_done(&v, Outcome::Ended),
            format!("case {CASE} ended refused (13); refusal code FROZEN: the account is frozen")
        );
    }

    #[test]
    fn status_text_has_the_case_and_every_step() {
        let mut v = view("held", false);
        v.national_code = "08".into();
        v.person_masked = "张* 320302********1234".into();
        v.waiting_for = "payout".into();
        v.steps = vec![
            step(1_796_140_800_000, "letter_sent", "", "320300000000000", ""),
            step(
                1_796_140_860_000,
                "held",
                "08",
                "410100000000000",
                "reserved",
            ),
        ];
        let t = status_text(&v);
        assert!(
            t.contains("  route          410100000000000 → 320300000000000\n"),
            "{t}"
        );
        assert!(t.contains("  state          held (08)\n"), "{t}");
        assert!(
            t.contains("  person         张* 320302********1234\n"),
            "{t}"
        );
        assert!(t.contains("  waiting for    payout\n"), "{t}");
        assert!(t.contains("  amount         not known yet\n"), "{t}");
        assert!(!t.contains("stuck"), "{t}");
        assert!(
            t.ends_with(
                "    2026-12-02 00:00:00  320300000000000  --  letter_sent\n    \
             2026-12-02 00:01:00  410100000000000  08  held              reserved\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn list_shows_the_peer_and_a_cut_stuck_reason() {
        let mut v = view("held", false);
        v.role = "origin".into();
        v.origin_centre = "320300000000000".into();
        v.destination_centre = "410100000000000".into();
        v.stuck_reason = "x".repeat(60);
        v.amount_fen = 100;
        let t = list_table(&[v]);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("case id"));
        assert!(lines[1].contains("  410100000000000  "), "{t}");
        assert!(lines[1].contains("¥1.00"), "{t}");
        assert!(lines[1].ends_with(&format!("{}…", "x".repeat(39))), "{t}");
    }

    #[test]
    fn json_keeps_fen_and_unix_ms() {
        let mut v = view("done", true);
        v.amount_fen = 1_050_000;
        v.status = pb::CaseStatus::Done as i32;
        v.updated_unix_ms = 1_796_140_800_000;
        v.steps = vec![step(1_796_140_800_000, "done", "00", "320300000000000", "")];
        let j = view_json(&v);
        assert_eq!(j["amount_fen"], 1_050_000);
        assert_eq!(j["updated_unix_ms"], 1_796_140_800_000_i64);
        assert_eq!(j["status"], "CASE_STATUS_DONE");
        assert_eq!(j["is_final"], true);
        assert_eq!(j["steps"][0]["at_unix_ms"], 1_796_140_800_000_i64);
        assert_eq!(j["steps"][0]["national_code"], "00");
    }

    #[test]
    fn case_ids_must_be_uuidv7() {
        assert_eq!(check_case_id("CASE_ID", CASE).ok().as_deref(), Some(CASE));
        let e = check_case_id("--case-id", "nope")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("--case-id: \"nope\" is not a case id (a UUID)")
        );
        // A v4 UUID is refused.
        assert!(check_case_id("CASE_ID", "9b2f1a52-1c3e-4d5a-8b7c-6d5e4f3a2b1c").is_err());
    }

    /// The subcommand as `hfx transfer …` parses it.
    #[derive(clap::Parser, Debug)]
    struct T {
        #[command(subcommand)]
        cmd: TransferCmd,
    }

    #[test]
    fn command_line_syntax() {
        let r = T::try_parse_from([
            "transfer",
            "request",
            "--origin",
            "410100000000000",
            "--id-number",
            "X",
            "--name",
            "张三",
            "--wait",
            "--timeout-secs",
            "5",
        ]);
        match r.map(|t| t.cmd) {
            Ok(TransferCmd::Request(a)) => {
                assert_eq!(a.id_type, "01");
                assert!(a.wait);
                assert_eq!(a.timeout_secs, 5);
            }
            other => panic!("{other:?}"),
        }
        // Without --wait the default timeout is no error; --timeout-secs only with --wait.
        assert!(
            T::try_parse_from([
                "transfer",
                "request",
                "--origin",
                "1",
                "--id-number",
                "X",
                "--name",
                "n",
            ])
            .is_ok()
        );
        assert!(
            T::try_parse_from([
                "transfer",
                "request",
                "--origin",
                "1",
                "--id-number",
                "X",
                "--name",
                "n",
                "--timeout-secs",
                "5",
            ])
            .is_err()
        );
        match T::try_parse_from(["transfer", "resolve", CASE, "accept", "--json"]).map(|t| t.cmd) {
            Ok(TransferCmd::Resolve { action, json, .. }) => {
                assert_eq!(action, ResolveAction::Accept);
                assert!(json);
            }
            other => panic!("{other:?}"),
        }
        assert!(T::try_parse_from(["transfer", "resolve", CASE, "reject"]).is_err());
        match T::try_parse_from(["transfer", "list", "--stuck", "--all", "--limit", "5"])
            .map(|t| t.cmd)
        {
            Ok(TransferCmd::List {
                stuck, all, limit, ..
            }) => assert!(stuck && all && limit == 5),
            other => panic!("{other:?}"),
        }
        assert!(T::try_parse_from(["transfer", "list", "--limit", "0"]).is_err());
        match T::try_parse_from(["transfer", "cancel", CASE, "--reason", "member withdrew"])
            .map(|t| t.cmd)
        {
            Ok(TransferCmd::Cancel { reason, .. }) => {
                assert_eq!(reason.as_deref(), Some("member withdrew"))
            }
            other => panic!("{other:?}"),
        }
    }
}
