//! The catalogues are complete and alike, and the helpers say what a person reads.
use super::*;
use std::collections::BTreeSet;

/// Every message id of an .ftl source, parsed with Fluent's own parser (which must not
/// complain), each once.
fn ids(lang: Lang) -> BTreeSet<String> {
    let ast = fluent_syntax::parser::parse(lang.source())
        .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", lang.tag()));
    let mut seen = BTreeSet::new();
    for entry in &ast.body {
        match entry {
            fluent_syntax::ast::Entry::Message(m) => {
                assert!(
                    seen.insert(m.id.name.to_string()),
                    "{}: {} twice",
                    lang.tag(),
                    m.id.name
                );
            }
            fluent_syntax::ast::Entry::Junk { content } => {
                panic!("{}: junk {content:?}", lang.tag())
            }
            _ => {}
        }
    }
    seen
}

#[test]
fn every_message_id_is_in_both_catalogues() {
    let (zh, en) = (ids(Lang::ZhCn), ids(Lang::En));
    assert!(zh.len() > 100, "{}", zh.len());
    let only_zh: Vec<_> = zh.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&zh).collect();
    assert!(
        only_zh.is_empty() && only_en.is_empty(),
        "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
    );
    // Every one loads into its bundle and formats without leaving its id behind.
    for lang in Lang::ALL {
        let c = Catalogue::new(lang);
        for id in &zh {
            assert!(c.has(id), "{}: {id}", lang.tag());
        }
    }
}

#[test]
fn every_code_of_the_data_standard_has_a_name_in_both() {
    for lang in Lang::ALL {
        let c = Catalogue::new(lang);
        for s in hfx_model::model::AccountStatus::ALL {
            assert!(c.has(&format!("account-status-{}", s.code())), "{s:?}");
        }
        for code in hfx_model::model::business_type::ALL {
            assert!(c.has(&format!("business-type-{code}")), "{code}");
        }
        for name in hfx_model::purpose::names() {
            assert!(c.has(&format!("purpose-{name}")), "{name}");
            assert!(c.has(&format!("purpose-fields-{name}")), "{name}");
        }
    }
}

#[test]
fn money_is_yuan_with_thousands_separators_from_fen() {
    assert_eq!(money(123_456), "¥1,234.56");
    assert_eq!(money(0), "¥0.00");
    assert_eq!(money(5), "¥0.05");
    assert_eq!(money(-5), "-¥0.05");
    assert_eq!(money(-123_456_789), "-¥1,234,567.89");
    assert_eq!(money(100_000), "¥1,000.00");
    assert_eq!(money(99_999), "¥999.99");
    assert_eq!(money(i64::MAX), "¥92,233,720,368,547,758.07");
    assert_eq!(money(i64::MIN), "-¥92,233,720,368,547,758.08");
    assert_eq!(percent_bp(1200), "12%");
    assert_eq!(percent_bp(1250), "12.5%");
    assert_eq!(percent_bp(5), "0.05%");
    assert_eq!(percent_bp(0), "0%");
}

#[test]
fn dates_months_and_times_read_as_each_language_writes_them() {
    let zh = Catalogue::new(Lang::ZhCn);
    let en = Catalogue::new(Lang::En);
    let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    assert_eq!(zh.date(d), "2026年12月2日");
    assert_eq!(en.date(d), "2 Dec 2026");
    assert_eq!(en.date_yyyymmdd(20_260_105), "5 Jan 2026");
    assert_eq!(zh.date_yyyymmdd(20_260_105), "2026年1月5日");
    // Not a date: shown as it came.
    assert_eq!(en.date_yyyymmdd(20_261_341), "20261341");
    assert_eq!(zh.month_yyyymm(202_611), "2026年11月");
    assert_eq!(en.month_yyyymm(202_611), "Nov 2026");
    assert_eq!(en.month_yyyymm(202_613), "202613");
    // 2026-12-01 16:00:00 UTC is midnight of the 2nd in China.
    assert_eq!(
        zh.date_time_ms(1_796_140_800_000),
        "2026年12月2日 00:00:00（北京时间）"
    );
    assert_eq!(
        en.date_time_ms(1_796_140_800_000),
        "2 Dec 2026 00:00:00 (UTC+8)"
    );
    assert_eq!(
        en.date_time_unix(1_796_140_799),
        "1 Dec 2026 23:59:59 (UTC+8)"
    );
    assert_eq!(
        en.date_time_bare_ms(1_796_140_800_000),
        "2 Dec 2026 00:00:00"
    );
    assert_eq!(zh.date_time_bare_ms(-1), "--");
    assert_eq!(en.date_time_ms(0), "--");
    assert_eq!(en.date_time_ms(i64::MAX), "--");
    assert_eq!(en.duration(93_784), "1 d 2 h 3 min 4 s");
    assert_eq!(zh.duration(93_784), "1天2小时3分4秒");
    assert_eq!(en.duration(65), "1 min 5 s");
    assert_eq!(en.duration(0), "0 s");
    assert_eq!(zh.range("a", "b"), "a 至 b");
}

#[test]
fn codes_are_shown_by_name_with_the_code() {
    let zh = Catalogue::new(Lang::ZhCn);
    let en = Catalogue::new(Lang::En);
    assert_eq!(zh.account_status("01"), "正常 (01)");
    assert_eq!(en.account_status("01"), "normal (01)");
    assert_eq!(zh.account_status("02"), "封存 (02)");
    assert_eq!(en.account_status("02"), "sealed (02)");
    assert_eq!(en.account_status("05"), "closed (withdrawn) (05)");
    // A vendor's extra code is named unknown, with the code kept.
    assert_eq!(zh.account_status("07"), "未知状态 (07)");
    assert_eq!(zh.business_type("08"), "外部转入 (08)");
    assert_eq!(en.business_type("09"), "year-end interest (09)");
    assert_eq!(en.business_type("42"), "unknown business type (42)");
    assert_eq!(zh.purpose("identity_confirmation"), "身份核验");
    assert_eq!(en.purpose("transfer-check"), "transfer check");
    assert_eq!(zh.purpose_coded("loan_check"), "贷款核查 (loan_check)");
    assert_eq!(en.purpose("nonsense"), "unknown purpose (nonsense)");
    assert_eq!(zh.national_status("08"), "账户信息已核对 (08)");
    assert_eq!(en.national_status("13"), "origin refused (13)");
    assert_eq!(en.national_status(""), "no national code yet");
    assert_eq!(zh.transfer_state("held"), "余额已冻结");
    assert_eq!(en.transfer_state("something_new"), "something_new");
    assert_eq!(zh.transfer_role("origin"), "转出地");
    assert_eq!(en.transfer_wait("payout"), "payout");
    assert_eq!(en.transfer_wait("the other centre"), "the other centre");
    assert_eq!(zh.loan_role("co_borrower"), "共同借款人");
    assert_eq!(en.loan_status("written_off"), "written off");
    assert_eq!(zh.loan_outcome("slow"), "超时未答复");
    assert_eq!(zh.yes_no(true), "是");
    assert_eq!(en.yes_no(false), "no");
}

#[test]
fn outcomes_and_directions_say_what_happened() {
    let zh = Catalogue::new(Lang::ZhCn);
    let en = Catalogue::new(Lang::En);
    assert_eq!(en.outcome("disclosed"), "disclosed");
    assert_eq!(en.outcome("received"), "answered");
    assert_eq!(
        en.outcome("refused: purpose not allowed"),
        "refused: purpose not allowed"
    );
    assert_eq!(
        zh.outcome("failed: PEER_UNAVAILABLE"),
        "失败：PEER_UNAVAILABLE"
    );
    assert_eq!(zh.outcome("not found"), "查无此人");
    assert_eq!(en.outcome("something else"), "something else");
    // The asking side keeps `received` for a request that failed: that is no answer.
    assert_eq!(en.direction("received", "received"), "received");
    assert_eq!(
        en.direction("received", "failed: MEMBER_NOT_FOUND"),
        "asked, no answer"
    );
    assert_eq!(
        zh.direction("received", "failed: NAME_MISMATCH"),
        "已查询，未获答复"
    );
    assert_eq!(en.direction("sent", "disclosed"), "sent");
    assert_eq!(zh.direction("refused", "refused: x"), "已拒绝");
    assert!(Catalogue::asked_unanswered("received", "failed: X"));
    assert!(!Catalogue::asked_unanswered("received", "received"));
    assert!(!Catalogue::asked_unanswered("sent", "disclosed"));
}

#[test]
fn centres_by_city_and_name_with_the_code() {
    let zh = Catalogue::new(Lang::ZhCn);
    let en = Catalogue::new(Lang::En);
    let c = CentreName {
        code: "320700000000000",
        city: "连云港",
        name: "连云港市住房公积金管理中心",
        pinyin: Some("lianyungang"),
    };
    assert_eq!(zh.centre_short(&c), "连云港 (320700000000000)");
    assert_eq!(en.centre_short(&c), "Lianyungang (320700000000000)");
    assert_eq!(
        zh.centre_full(&c),
        "连云港 连云港市住房公积金管理中心 (320700000000000)"
    );
    assert_eq!(
        en.centre_full(&c),
        "Lianyungang, 连云港市住房公积金管理中心 (320700000000000)"
    );
    // A city without pinyin keeps its Chinese name in English too.
    let c = CentreName { pinyin: None, ..c };
    assert_eq!(en.centre_short(&c), "连云港 (320700000000000)");
}

#[test]
fn the_language_comes_from_the_flag_then_lc_all_lc_messages_lang() {
    assert_eq!(Lang::from_flag("zh-CN"), Ok(Lang::ZhCn));
    assert_eq!(Lang::from_flag("zh_cn"), Ok(Lang::ZhCn));
    assert_eq!(Lang::from_flag("EN"), Ok(Lang::En));
    assert!(Lang::from_flag("fr").unwrap_err().contains("zh-CN or en"));
    let v = Lang::from_locale_vars;
    assert_eq!(v(None, None, Some("zh_CN.UTF-8")), Lang::ZhCn);
    assert_eq!(v(None, None, Some("zh_TW.UTF-8")), Lang::ZhCn);
    assert_eq!(v(None, None, Some("en_US.UTF-8")), Lang::En);
    assert_eq!(v(None, None, Some("C")), Lang::En);
    assert_eq!(v(None, None, Some("POSIX")), Lang::En);
    assert_eq!(v(None, None, None), Lang::En);
    // LC_ALL overrides LC_MESSAGES overrides LANG; an empty one does not count.
    assert_eq!(v(Some("C"), Some("zh_CN"), Some("zh_CN")), Lang::En);
    assert_eq!(v(None, Some("zh_CN.UTF-8"), Some("C")), Lang::ZhCn);
    assert_eq!(v(Some(""), Some(""), Some("zh_CN")), Lang::ZhCn);
    assert_eq!(Lang::choose(Some(Lang::ZhCn)), Lang::ZhCn);
}

#[test]
fn padding_counts_terminal_columns() {
    assert_eq!(display_width("abc"), 3);
    assert_eq!(display_width("连云港"), 6);
    assert_eq!(display_width("¥1,234.56"), 9);
    assert_eq!(pad("连云港", 8), "连云港  ");
    assert_eq!(pad("abcdef", 3), "abcdef");
    let t = columns(&[
        vec!["城市".into(), "code".into(), "".into()],
        vec!["Xuzhou".into(), "1".into(), "".into()],
    ]);
    assert_eq!(t, "城市    code\nXuzhou  1\n");
}

#[test]
fn a_catalogue_is_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Catalogue>();
    let c = std::sync::Arc::new(Catalogue::new(Lang::ZhCn));
    let c2 = c.clone();
    let t = std::thread::spawn(move || c2.account_status("06"));
    assert_eq!(t.join().unwrap(), "冻结 (06)");
    assert_eq!(c.text("no-such-message", &[]), "no-such-message");
}

#[test]
fn a_refusal_says_what_happened_and_keeps_its_reason_code() {
    let zh = Catalogue::new(Lang::ZhCn);
    let en = Catalogue::new(Lang::En);
    let advice = zh.reason_advice("MEMBER_NOT_FOUND").expect("known reason");
    assert!(advice.contains("证件号码"), "{advice}");
    let line = zh.explained(
        &advice,
        "NotFound: MEMBER_NOT_FOUND: no member matches this id",
    );
    assert!(line.starts_with(&advice), "{line}");
    assert!(
        line.ends_with("（NotFound: MEMBER_NOT_FOUND: no member matches this id）"),
        "{line}"
    );
    let advice = en.reason_advice(" RATE_LIMITED ").expect("known reason");
    assert!(advice.contains("try again"), "{advice}");
    assert_eq!(
        en.explained("Wait.", "ResourceExhausted: RATE_LIMITED: x"),
        "Wait. (ResourceExhausted: RATE_LIMITED: x)"
    );
    // A reason the catalogue does not know is left to the node's own text.
    assert_eq!(en.reason_advice("SOMETHING_NEW"), None);
    assert_eq!(zh.reason_advice(""), None);
}
