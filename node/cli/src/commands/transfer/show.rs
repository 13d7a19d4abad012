//! How `hfx transfer` shows a case to a clerk: steps, amounts, states with their national
//! codes, tables and JSON. Times are China Standard Time.

use crate::commands::lang::Centres;
use chrono::Offset as _;
use hfx_i18n::Catalogue;
use hfx_proto::v1 as pb;

/// The spinner's one line: `case …: balance held (02), waiting for payout`.
pub(super) fn progress_line(cat: &Catalogue, v: &pb::TransferView) -> String {
    let state = state_code(cat, &v.state, &v.national_code);
    if v.waiting_for.is_empty() {
        cat.text(
            "transfer-progress",
            &[("case", v.case_id.as_str().into()), ("state", state.into())],
        )
    } else {
        cat.text(
            "transfer-progress-waiting",
            &[
                ("case", v.case_id.as_str().into()),
                ("state", state.into()),
                ("what", cat.transfer_wait(&v.waiting_for).into()),
            ],
        )
    }
}

/// China Standard Time (UTC+8), where the centres are.
pub(crate) fn cst() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// Fen as `¥1,234.56`.
pub(super) fn yuan(fen: i64) -> String {
    hfx_i18n::money(fen)
}

pub(super) fn or_dash(s: &str) -> &str {
    if s.is_empty() { "--" } else { s }
}

/// A state in words with its national code: `balance held (02)`, `letter sent (--)`.
pub(super) fn state_code(cat: &Catalogue, state: &str, code: &str) -> String {
    cat.text(
        "transfer-state-code",
        &[
            ("state", cat.transfer_state(state).into()),
            ("code", or_dash(code).into()),
        ],
    )
}

/// A timeline note in the chosen language when the node wrote it in fixed words (amounts
/// as yuan); free text as it came.
pub(super) fn step_note(cat: &Catalogue, note: &str) -> String {
    hfx_i18n::templates::transfer_note(cat, note)
}

/// The timeline's rows: local time, centre by name, national code, state in words, note.
pub(super) fn step_rows(cat: &Catalogue, centres: &Centres, steps: &[pb::TransferStep]) -> String {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                cat.date_time_bare_ms(s.at_unix_ms),
                centres.short(cat, &s.centre),
                or_dash(&s.national_code).to_string(),
                cat.transfer_state(&s.status),
                step_note(cat, &s.note),
            ]
        })
        .collect();
    hfx_i18n::columns(&rows)
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
pub(super) fn amount_text(cat: &Catalogue, v: &pb::TransferView) -> String {
    if v.amount_fen == 0 && v.principal_fen == 0 && v.interest_fen == 0 {
        return cat.msg("transfer-amount-unknown");
    }
    if v.principal_fen != 0 || v.interest_fen != 0 {
        return cat.text(
            "transfer-amount-parts",
            &[
                ("amount", yuan(v.amount_fen).into()),
                ("principal", yuan(v.principal_fen).into()),
                ("interest", yuan(v.interest_fen).into()),
            ],
        );
    }
    yuan(v.amount_fen)
}

/// `hfx transfer status`: the case, then its timeline, in the chosen language: states and
/// national codes by name with the code, centres by name, times in China Standard Time.
pub(super) fn status_text(cat: &Catalogue, centres: &Centres, v: &pb::TransferView) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut line = |id: &str, val: String| {
        if !val.is_empty() {
            rows.push((cat.msg(id), val));
        }
    };
    line("transfer-case", v.case_id.clone());
    line("transfer-letter-no", or_dash(&v.letter_no).to_string());
    line("transfer-role", cat.transfer_role(&v.role));
    line(
        "transfer-route",
        format!(
            "{} → {}",
            centres.short(cat, &v.origin_centre),
            centres.short(cat, &v.destination_centre)
        ),
    );
    line("transfer-person", v.person_masked.clone());
    let mut state = cat.transfer_state(&v.state);
    if v.is_final {
        state = cat.text("transfer-state-final", &[("state", state.into())]);
    }
    line("transfer-state", state);
    line("transfer-national", cat.national_status(&v.national_code));
    line("transfer-amount", amount_text(cat, v));
    if v.history_months > 0 {
        line(
            "transfer-history",
            cat.text(
                "transfer-history-months",
                &[("months", v.history_months.into())],
            ),
        );
    }
    line("transfer-account-here", v.destination_account_no.clone());
    line("transfer-bank-ref", v.bank_reference.clone());
    line("transfer-refusal-code", v.refusal_code.clone());
    line("transfer-negotiation", v.negotiation.clone());
    line("transfer-stuck", v.stuck_reason.clone());
    if !v.waiting_for.is_empty() {
        line("transfer-waiting-for", cat.transfer_wait(&v.waiting_for));
    }
    line("transfer-created", cat.date_time_ms(v.created_unix_ms));
    line("transfer-updated", cat.date_time_ms(v.updated_unix_ms));
    let width = rows
        .iter()
        .map(|(k, _)| hfx_i18n::display_width(k))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, val) in rows {
        out.push_str(&format!("  {}  {val}\n", hfx_i18n::pad(&k, width)));
    }
    out.push_str(&format!("  {}\n", cat.msg("transfer-timeline")));
    if v.steps.is_empty() {
        out.push_str("    --\n");
    }
    for l in step_rows(cat, centres, &v.steps).lines() {
        out.push_str(&format!("    {l}\n"));
    }
    out
}

/// The one-line summary of a case: `cancelled (05); waiting for …; stuck: …`.
pub(super) fn brief(cat: &Catalogue, v: &pb::TransferView) -> String {
    let mut s = state_code(cat, &v.state, &v.national_code);
    if v.amount_fen != 0 {
        s.push_str(&format!(", {}", yuan(v.amount_fen)));
    }
    let mut parts = vec![s];
    if !v.waiting_for.is_empty() {
        parts.push(cat.text(
            "transfer-brief-waiting",
            &[("what", cat.transfer_wait(&v.waiting_for).into())],
        ));
    }
    if !v.stuck_reason.is_empty() {
        parts.push(cat.text(
            "transfer-brief-stuck",
            &[("why", v.stuck_reason.as_str().into())],
        ));
    }
    if !v.status_detail.is_empty() {
        parts.push(step_note(cat, &v.status_detail));
    }
    parts.join(&cat.msg("transfer-separator"))
}

pub(super) fn print_brief(cat: &Catalogue, v: &pb::TransferView, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&view_json(v))
    } else {
        println!("{}", brief_line(cat, v));
        Ok(())
    }
}

/// `hfx transfer cancel|resolve`'s line: `case … (letter …): cancelled (05)`.
pub(super) fn brief_line(cat: &Catalogue, v: &pb::TransferView) -> String {
    cat.text(
        "transfer-brief",
        &[
            ("case", v.case_id.as_str().into()),
            ("letter", or_dash(&v.letter_no).into()),
            ("brief", brief(cat, v).into()),
        ],
    )
}

/// `hfx transfer list`: one row per case, states and national codes by name.
pub(super) fn list_table(cat: &Catalogue, centres: &Centres, cases: &[pb::TransferView]) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        [
            "transfer-col-case",
            "transfer-col-letter",
            "transfer-col-role",
            "transfer-col-peer",
            "transfer-col-state",
            "transfer-col-national",
            "transfer-col-amount",
            "transfer-col-updated",
            "transfer-col-stuck",
        ]
        .iter()
        .map(|id| cat.msg(id))
        .collect(),
    ];
    for v in cases {
        let amount = if v.amount_fen == 0 {
            "--".to_string()
        } else {
            yuan(v.amount_fen)
        };
        rows.push(vec![
            v.case_id.clone(),
            or_dash(&v.letter_no).to_string(),
            cat.transfer_role(&v.role),
            centres.short(cat, peer_centre(v)),
            cat.transfer_state(&v.state),
            cat.national_status(&v.national_code),
            amount,
            cat.date_time_bare_ms(v.updated_unix_ms),
            truncate(&v.stuck_reason, 40),
        ]);
    }
    hfx_i18n::columns(&rows)
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
