//! How `hfx transfer` shows a case to a clerk: steps, amounts, states with their national
//! codes, tables and JSON. Times are China Standard Time.

use chrono::Offset as _;
use hfx_adapters::money::format_yuan;
use hfx_proto::v1 as pb;

pub(super) fn progress_line(v: &pb::TransferView) -> String {
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
pub(super) fn local_time(ms: i64) -> String {
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
pub(super) fn yuan(fen: i64) -> String {
    format!("¥{}", format_yuan(fen))
}

pub(super) fn or_dash(s: &str) -> &str {
    if s.is_empty() { "--" } else { s }
}

/// `held (02)`, `letter_sent (--)`.
pub(super) fn state_code(state: &str, code: &str) -> String {
    format!("{} ({})", or_dash(state), or_dash(code))
}

/// One line of the timeline: local time, centre, national code, state, note.
pub(super) fn step_line(s: &pb::TransferStep) -> String {
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
pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The other centre of the case, seen from this node.
pub(super) fn peer_centre(v: &pb::TransferView) -> &str {
    if v.role == "origin" {
        &v.destination_centre
    } else {
        &v.origin_centre
    }
}

/// The amount line: `¥… (principal ¥…, interest ¥…)`, or not known before the transfer-out.
pub(super) fn amount_text(v: &pb::TransferView) -> String {
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
pub(super) fn status_text(v: &pb::TransferView) -> String {
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
pub(super) fn brief(v: &pb::TransferView) -> String {
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

pub(super) fn print_brief(v: &pb::TransferView, json: bool) -> anyhow::Result<()> {
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
pub(super) fn list_table(cases: &[pb::TransferView]) -> String {
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

pub(super) fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A view as JSON: the proto's field names, money as integer fen, times as unix ms.
pub(super) fn view_json(v: &pb::TransferView) -> serde_json::Value {
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
