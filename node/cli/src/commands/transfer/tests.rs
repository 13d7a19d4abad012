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
        acting_person: String::new(),
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

fn en() -> hfx_i18n::Catalogue {
    hfx_i18n::Catalogue::new(hfx_i18n::Lang::En)
}

fn zh() -> hfx_i18n::Catalogue {
    hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn)
}

#[test]
fn timeline_rows_show_time_centre_code_state_note() {
    let centres = crate::commands::lang::test_centres();
    let steps = [
        step(
            1_796_140_800_000,
            "letter_received",
            "02",
            "411400000000000",
            "letter 3203002612020001",
        ),
        // No national code yet, no note: dashes, no trailing blanks.
        step(1_796_140_800_000, "letter_sent", "", "320300000000000", ""),
    ];
    assert_eq!(
        step_rows(&en(), &centres, &steps),
        "2 Dec 2026 00:00:00  Shangqiu (411400000000000)  02  letter received  letter 3203002612020001\n\
         2 Dec 2026 00:00:00  Xuzhou (320300000000000)    --  letter sent\n"
    );
    let t = step_rows(&zh(), &centres, &steps[..1]);
    assert_eq!(
        t,
        "2026年12月2日 00:00:00  商丘 (411400000000000)  02  联系函已送达  letter 3203002612020001\n"
    );
}

#[test]
fn yuan_from_fen() {
    assert_eq!(yuan(1_234_567), "¥12,345.67");
    assert_eq!(yuan(5), "¥0.05");
    assert_eq!(yuan(-120), "-¥1.20");
    let mut v = view("out_received", false);
    assert_eq!(amount_text(&en(), &v), "not known yet");
    v.amount_fen = 1_050_000;
    v.principal_fen = 1_000_000;
    v.interest_fen = 50_000;
    assert_eq!(
        amount_text(&en(), &v),
        "¥10,500.00 (principal ¥10,000.00, interest ¥500.00)"
    );
    assert_eq!(
        amount_text(&zh(), &v),
        "¥10,500.00（本金 ¥10,000.00，利息 ¥500.00）"
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
        why_not_done(&en(), &v, Outcome::Ended),
        format!("case {CASE} ended refused (13); refusal code FROZEN: the account is frozen")
    );
    assert_eq!(
        why_not_done(&zh(), &v, Outcome::Ended),
        format!("业务 {CASE} 已终结：已拒绝 (13)；拒绝代码 FROZEN：the account is frozen")
    );
}

#[test]
fn status_text_has_the_case_and_every_step() {
    let centres = crate::commands::lang::test_centres();
    let mut v = view("held", false);
    v.origin_centre = "411400000000000".into();
    v.national_code = "08".into();
    v.person_masked = "张* 320302********1234".into();
    v.waiting_for = "payout".into();
    v.steps = vec![
        step(1_796_140_800_000, "letter_sent", "", "320300000000000", ""),
        step(
            1_796_140_860_000,
            "held",
            "08",
            "411400000000000",
            "reserved",
        ),
    ];
    let t = status_text(&en(), &centres, &v);
    assert!(
        t.contains("  route            Shangqiu (411400000000000) → Xuzhou (320300000000000)\n"),
        "{t}"
    );
    assert!(t.contains("  state            balance held\n"), "{t}");
    assert!(
        t.contains("  national status  account info checked (08)\n"),
        "{t}"
    );
    assert!(
        t.contains("  person           张* 320302********1234\n"),
        "{t}"
    );
    assert!(
        t.contains("  role             destination (转入地)\n"),
        "{t}"
    );
    assert!(t.contains("  waiting for      payout\n"), "{t}");
    assert!(t.contains("  amount           not known yet\n"), "{t}");
    assert!(!t.contains("stuck"), "{t}");
    assert!(
        t.ends_with(
            "  timeline (UTC+8):\n    \
             2 Dec 2026 00:00:00  Xuzhou (320300000000000)    --  letter sent\n    \
             2 Dec 2026 00:01:00  Shangqiu (411400000000000)  08  balance held  reserved\n"
        ),
        "{t}"
    );
    let t = status_text(&zh(), &centres, &v);
    assert!(t.contains("状态") && t.contains("余额已冻结\n"), "{t}");
    assert!(t.contains("账户信息已核对 (08)"), "{t}");
    assert!(
        t.contains("商丘 (411400000000000) → 徐州 (320300000000000)"),
        "{t}"
    );
    assert!(t.contains("时间线（北京时间）："), "{t}");
}

#[test]
fn list_shows_the_peer_and_a_cut_stuck_reason() {
    let centres = crate::commands::lang::test_centres();
    let mut v = view("held", false);
    v.role = "origin".into();
    v.origin_centre = "320300000000000".into();
    v.destination_centre = "411400000000000".into();
    v.national_code = "08".into();
    v.stuck_reason = "x".repeat(60);
    v.amount_fen = 100;
    let t = list_table(&en(), &centres, std::slice::from_ref(&v));
    let lines: Vec<_> = t.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("case id"));
    assert!(lines[1].contains("  Shangqiu (411400000000000)  "), "{t}");
    assert!(lines[1].contains("  account info checked (08)  "), "{t}");
    assert!(lines[1].contains("¥1.00"), "{t}");
    assert!(lines[1].ends_with(&format!("{}…", "x".repeat(39))), "{t}");
    let t = list_table(&zh(), &centres, &[v]);
    assert!(t.starts_with("业务编号"), "{t}");
    assert!(
        t.contains("商丘 (411400000000000)") && t.contains("转出地"),
        "{t}"
    );
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

#[test]
fn one_line_results_and_the_spinner_read_in_both_languages() {
    let mut v = view("held", false);
    v.national_code = "08".into();
    v.amount_fen = 123_456;
    v.waiting_for = "payout".into();
    assert_eq!(
        brief_line(&en(), &v),
        format!(
            "case {CASE} (letter 3203002612020001): balance held (08), ¥1,234.56; waiting for payout"
        )
    );
    assert_eq!(
        brief_line(&zh(), &v),
        format!("业务 {CASE}（联系函 3203002612020001）：余额已冻结 (08), ¥1,234.56；等待划款")
    );
    assert_eq!(
        progress_line(&en(), &v),
        format!("case {CASE}: balance held (08), waiting for payout")
    );
    assert_eq!(
        progress_line(&zh(), &v),
        format!("业务 {CASE}：余额已冻结 (08)，等待划款")
    );
    let centres = crate::commands::lang::test_centres();
    let mut started = view("letter_sent", false);
    started.origin_centre = "411400000000000".into();
    let t = started_text(&zh(), &centres, &started);
    assert!(
        t.starts_with(&format!(
            "已发起业务 {CASE}：联系函 3203002612020001 已发往 商丘 (411400000000000)\n"
        )),
        "{t}"
    );
    assert!(
        t.ends_with(&format!("  跟进进度：hfx transfer status {CASE}\n")),
        "{t}"
    );
    let t = started_text(&en(), &centres, &started);
    assert!(t.contains("letter sent (--)"), "{t}");
    assert!(
        t.ends_with(&format!("  follow it with: hfx transfer status {CASE}\n")),
        "{t}"
    );
    let mut parked = view("negotiating", false);
    parked.waiting_for = "credit".into();
    let t = why_not_done(&zh(), &parked, Outcome::Parked);
    assert!(
        t.contains("待经办人处理") && t.contains("有待处理的协商"),
        "{t}"
    );
    assert!(
        t.contains(&format!("hfx transfer resolve {CASE} accept|retry")),
        "{t}"
    );
    let t = why_not_done(&en(), &parked, Outcome::Parked);
    assert!(
        t.contains(
            "is parked for a clerk (negotiating (--)): a negotiation to settle; waiting for credit"
        ),
        "{t}"
    );
}

#[test]
fn fixed_timeline_notes_are_translated_and_free_text_kept() {
    assert_eq!(
        step_note(&zh(), "letter checked and accepted"),
        "联系函已审核并接受"
    );
    assert_eq!(
        step_note(&en(), "letter checked and accepted"),
        "letter checked and accepted"
    );
    // Amounts in fen read as yuan.
    assert_eq!(
        step_note(&zh(), "bank paid 123456 fen (ref B-77)"),
        "银行已划款 ¥1,234.56（流水号 B-77）"
    );
    assert_eq!(
        step_note(
            &en(),
            "account sealed, 5000 fen held; transfer-out record sent"
        ),
        "account sealed, ¥50.00 held; transfer-out record sent"
    );
    assert_eq!(
        step_note(&en(), "negotiation settled; destination credited 100 fen"),
        "negotiation settled; destination credited ¥1.00"
    );
    // The free text of a note is kept as the node wrote it.
    assert_eq!(
        step_note(
            &zh(),
            "origin refused: account frozen (ORIGIN_ACCOUNT_FROZEN)"
        ),
        "转出地拒绝：account frozen (ORIGIN_ACCOUNT_FROZEN)"
    );
    assert_eq!(
        step_note(
            &zh(),
            "hold refused: frozen (X); releasing any hold of the case"
        ),
        "冻结被拒：frozen (X)；正在解除该业务的冻结"
    );
    // Not a number where fen should be, or not a note of the node: as it came.
    assert_eq!(
        step_note(&zh(), "bank paid lots fen (ref B)"),
        "bank paid lots fen (ref B)"
    );
    assert_eq!(
        step_note(&zh(), "letter 3203002612020001"),
        "letter 3203002612020001"
    );
    assert_eq!(step_note(&zh(), ""), "");
}

/// Every note template filled in: English reads it as the node wrote it (amounts as yuan),
/// Chinese in its own words with the values kept.
#[test]
fn every_fixed_note_reads_in_both_languages() {
    for (template, id) in hfx_i18n::templates::TRANSFER_NOTES {
        let text = template
            .replace("{fen}", "250")
            .replace("{ref}", "B-1")
            .replace("{text}", "why");
        let want = template
            .replace("{fen} fen", "¥2.50")
            .replace("{ref}", "B-1")
            .replace("{text}", "why");
        assert_eq!(step_note(&en(), &text), want, "{id}");
        let zh = step_note(&zh(), &text);
        assert_ne!(zh, text, "{id}");
        for kept in ["¥2.50", "B-1", "why"] {
            if want.contains(kept) {
                assert!(zh.contains(kept), "{id}: {zh}");
            }
        }
    }
}
