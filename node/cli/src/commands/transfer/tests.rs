//! Unit tests of the CLI's transfer output and argument checks.
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
    match T::try_parse_from(["transfer", "list", "--stuck", "--all", "--limit", "5"]).map(|t| t.cmd)
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
