//! The CLI speaks its users' language (issue 15): the same member query in Simplified Chinese
//! (by `--lang zh-CN` and by `LANG=zh_CN.UTF-8`) and in English, with statuses, purposes and
//! centres by name, personal data masked and money as people write it; and the disclosure
//! records of the asking side, in Chinese, name a failed query as one, never as `received`.

use crate::common::{member, zone};
use hfx_adapters::model::AccountStatus;
use std::process::Command;

/// Run the built `hfx` with `args`, the locale variables as given (the test's own are not
/// passed on); stdout and stderr, and whether it succeeded.
fn hfx(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hfx"));
    cmd.args(args)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running hfx");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_query_reads_in_chinese_and_english_with_names_masking_and_money() {
    let (_tmp, mut zone) = zone(2).await;
    let (a, b) = (zone.centres[0].clone(), zone.centres[1].clone());
    let pinyin = hfx_node::directory::city_pinyin(&b.city)
        .expect("the zone's second city has a pinyin")
        .to_string();
    let m = member(&b.code, AccountStatus::Normal);
    assert!(
        m.deposit_base_fen >= 100_000 && m.balance_fen > 0,
        "a member whose money shows thousands: {m:?}"
    );
    let dir = zone.dir.to_str().unwrap().to_string();
    let query = |centre: &str, extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "member",
            "query",
            "--dir",
            &dir,
            "--node",
            &a.code,
            "--centre",
            centre,
            "--id-number",
            &m.id_number,
            "--name",
            &m.name,
            "--purpose",
            "loan_application",
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = hfx(&args, env);
        assert!(ok, "hfx {args:?}: {out}{err}");
        // Each query gets its own receipts (log indexes); the rest must read the same.
        let receipts = ["日志序号", "log index"];
        let answer: String = out
            .lines()
            .filter(|l| !receipts.iter().any(|r| l.contains(r)))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(out.lines().count(), answer.lines().count() + 2, "{out}");
        answer
    };

    let zh = query(&b.code, &["--lang", "zh-CN"], &[]);
    let zh_by_locale = query(&b.code, &[], &[("LANG", "zh_CN.UTF-8")]);
    assert_eq!(
        zh, zh_by_locale,
        "--lang zh-CN and LANG=zh_CN.UTF-8 read the same"
    );
    let en = query(&b.code, &["--lang", "en"], &[("LANG", "zh_CN.UTF-8")]);
    let en_by_locale = query(&b.code, &[], &[("LANG", "C")]);
    assert_eq!(en, en_by_locale, "--lang en beats LANG; LANG=C is English");
    eprintln!("{zh}\n{en}");

    // Names, not bare codes: the centre by city and name, the status and purpose by name.
    let zh_centre = format!("{} {} ({})", b.city, b.name, b.code);
    assert!(zh.starts_with(&zh_centre), "{zh}");
    assert!(zh.contains("正常 (01)"), "{zh}");
    assert!(
        zh.contains("异地贷款缴存使用证明 (loan_application)"),
        "{zh}"
    );
    assert!(zh.contains("账户余额") && zh.contains("缴存基数"), "{zh}");
    let en_city = {
        let mut c = pinyin.chars();
        let first = c.next().unwrap().to_uppercase().to_string();
        first + c.as_str()
    };
    assert!(
        en.starts_with(&format!("{en_city}, {} ({})", b.name, b.code)),
        "{en}"
    );
    assert!(en.contains("normal (01)"), "{en}");
    assert!(en.contains("loan application (loan_application)"), "{en}");
    for text in [&zh, &en] {
        assert!(
            !text.lines().any(|l| l.trim_end().ends_with(" 01")),
            "no bare status code: {text}"
        );
        // Masking: 张* for the name, the id's first 6 and last 4 only.
        let masked_name = hfx_adapters::ids::mask_name(&m.name);
        assert!(masked_name.contains('*'), "{masked_name}");
        assert!(text.contains(&masked_name), "{text}");
        assert!(!text.contains(&m.name), "the full name leaked: {text}");
        let id = &m.id_number;
        assert!(
            text.contains(&format!("{}********{}", &id[..6], &id[id.len() - 4..])),
            "{text}"
        );
        assert!(!text.contains(id.as_str()), "the full id leaked: {text}");
        // Money with ¥ and thousands separators, from fen.
        let base = hfx_i18n::money(m.deposit_base_fen);
        assert!(base.starts_with('¥') && base.contains(','), "{base}");
        assert!(text.contains(&base), "{base}: {text}");
        assert!(text.contains(&hfx_i18n::money(m.balance_fen)), "{text}");
    }

    // The centre by code, city or pinyin: the same answer, word for word.
    for named in [b.city.as_str(), pinyin.as_str()] {
        assert_eq!(
            query(named, &["--lang", "zh-CN"], &[]),
            zh,
            "--centre {named}"
        );
    }
    assert_eq!(query(&pinyin, &["--lang", "en"], &[]), en);

    // A failed query (the name does not match), then the asking side's records in Chinese:
    // the failed one is "asked, no answer", never "received", and the legal basis is shown.
    let (ok, _, err) = hfx(
        &[
            "member",
            "query",
            "--dir",
            &dir,
            "--node",
            &a.code,
            "--centre",
            &pinyin,
            "--id-number",
            &m.id_number,
            "--name",
            "冒名顶替",
            "--purpose",
            "identity-confirmation",
        ],
        &[],
    );
    assert!(!ok && err.contains("NAME_MISMATCH"), "{err}");
    let (ok, records, err) = hfx(
        &[
            "disclosures",
            "--dir",
            &dir,
            "--node",
            &a.code,
            "--lang",
            "zh-CN",
        ],
        &[],
    );
    assert!(ok, "{records}{err}");
    eprintln!("{records}");
    let lines: Vec<&str> = records.lines().collect();
    let failed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("NAME_MISMATCH"))
        .collect();
    assert_eq!(failed.len(), 1, "{records}");
    assert!(
        failed[0].contains("已查询，未获答复") && !failed[0].contains("已获答复"),
        "{records}"
    );
    assert!(failed[0].contains("身份核验"), "{records}");
    let answered: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("异地贷款缴存使用证明"))
        .collect();
    assert_eq!(answered.len(), 7, "seven answered queries: {records}");
    assert!(
        answered
            .iter()
            .all(|l| l.contains("已获答复") && l.contains(&format!("{} ({})", b.city, b.code))),
        "{records}"
    );
    assert!(
        records.contains("法律依据：住房公积金管理条例 第二十六条 / 异地贷款"),
        "{records}"
    );
    assert!(!records.contains(&m.id_number), "{records}");
    // The auditor's view says the same in English.
    let (ok, audit, err) = hfx(
        &[
            "audit",
            "disclosures",
            "--dir",
            &dir,
            "--node",
            &a.code,
            "--lang",
            "en",
        ],
        &[],
    );
    assert!(ok, "{audit}{err}");
    let failed: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("NAME_MISMATCH"))
        .collect();
    assert!(
        failed.len() == 1
            && failed[0].contains("asked, no answer")
            && !failed[0].contains(" received "),
        "{audit}"
    );
    assert!(audit.contains("legal basis: "), "{audit}");

    // hfx status: the directory's expiry as a date, not a unix time.
    let (ok, json, err) = hfx(&["status", "--dir", &dir, "--node", &a.code, "--json"], &[]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    let expires = v["directory_expires_unix"].as_i64().expect("expiry");
    let (ok, status, err) = hfx(
        &[
            "status", "--dir", &dir, "--node", &a.code, "--lang", "zh-CN",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        status.contains("有效期至") && status.contains("（北京时间）"),
        "{status}"
    );
    assert!(!status.contains(&expires.to_string()), "{status}");
    assert!(
        status.starts_with(&format!("{} {}", a.city, a.name)),
        "{status}"
    );
    zone.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_reads_in_chinese_with_states_and_national_codes_by_name() {
    let (_tmp, mut zone) = crate::transfer::transfer_zone(2).await;
    let (origin, dest) = (zone.centres[0].clone(), zone.centres[1].clone());
    let m = crate::transfer::mover(&dest.code, 0);
    assert_eq!(m.origin_centre, origin.code);
    let dir = zone.dir.to_str().unwrap().to_string();
    // The clerk names the origin by its city, as they would say it.
    let (ok, json, err) = hfx(
        &[
            "transfer",
            "request",
            "--dir",
            &dir,
            "--node",
            &dest.code,
            "--origin",
            &origin.city,
            "--id-number",
            &m.dest.id_number,
            "--name",
            &m.dest.name,
            "--account",
            &m.dest.account_no,
            "--wait",
            "--timeout-secs",
            "60",
            "--json",
        ],
        &[],
    );
    assert!(ok, "{json}{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
    assert_eq!(v["state"], "done", "{json}");
    let case_id = v["case_id"].as_str().expect("case id").to_string();
    let amount = v["amount_fen"].as_i64().expect("amount");
    assert!(amount > 0, "{json}");
    crate::transfer::wait_final(&zone, &origin.code, &case_id, 30).await;

    let (ok, text, err) = hfx(
        &[
            "transfer", "status", &case_id, "--dir", &dir, "--node", &dest.code, "--lang", "zh-CN",
        ],
        &[],
    );
    assert!(ok, "{text}{err}");
    eprintln!("{text}");
    let label = |c: &hfx_zone::launcher::CentrePlan| format!("{} ({})", c.city, c.code);
    for want in [
        "已办结，已终结".to_string(),
        "转移完成 (00)".into(),
        "转入地".into(),
        format!("{} → {}", label(&origin), label(&dest)),
        hfx_i18n::money(amount),
        "时间线（北京时间）：".into(),
        "联系函已发出".into(),
        "（北京时间）".into(),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }
    assert!(
        !text.contains(&m.dest.id_number),
        "the full id leaked: {text}"
    );
    assert!(!text.contains(&m.dest.name), "the full name leaked: {text}");

    let (ok, list, err) = hfx(
        &[
            "transfer", "list", "--all", "--dir", &dir, "--node", &dest.code, "--lang", "zh-CN",
        ],
        &[],
    );
    assert!(ok, "{list}{err}");
    eprintln!("{list}");
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("业务编号") && lines[0].contains("全国平台状态"),
        "{list}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with(&case_id))
        .unwrap_or_else(|| panic!("{case_id} listed: {list}"));
    assert!(
        row.contains("已办结") && row.contains("转移完成 (00)") && row.contains(&label(&origin)),
        "{row}"
    );
    // The origin's side, in English: its role, the destination by pinyin.
    let (ok, list, err) = hfx(
        &[
            "transfer",
            "list",
            "--all",
            "--dir",
            &dir,
            "--node",
            &origin.code,
            "--lang",
            "en",
        ],
        &[],
    );
    assert!(ok, "{list}{err}");
    let pinyin = hfx_node::directory::city_pinyin(&dest.city).expect("pinyin");
    let row = list
        .lines()
        .find(|l| l.starts_with(&case_id))
        .unwrap_or_else(|| panic!("{case_id} listed: {list}"));
    assert!(
        row.contains("origin (转出地)")
            && row.contains("done (00)")
            && row
                .to_lowercase()
                .contains(&format!("{pinyin} ({})", dest.code)),
        "{row}"
    );

    // Cancelling the finished case is refused: what to do first, in Chinese and English,
    // the reason code kept.
    let cancel = [
        "transfer", "cancel", &case_id, "--dir", &dir, "--node", &dest.code,
    ];
    let (ok, _, err) = hfx_in("zh-CN", &cancel);
    assert!(
        !ok && err.starts_with("错误：业务当前状态不允许此操作")
            && err.contains("MOVE_NOT_ALLOWED"),
        "{err}"
    );
    let (ok, _, err) = hfx_in("en", &cancel);
    assert!(
        !ok && err.starts_with("error: The case's state does not allow this now")
            && err.contains("FailedPrecondition: MOVE_NOT_ALLOWED: "),
        "{err}"
    );

    // A second person's request, not waited for: the one-line answer in Chinese, the
    // origin by name.
    let other = crate::transfer::mover(&dest.code, 1);
    let other_origin = zone
        .centres
        .iter()
        .find(|c| c.code == other.origin_centre)
        .expect("the second mover's origin is in the zone")
        .clone();
    let (ok, out, err) = hfx_in(
        "zh-CN",
        &[
            "transfer",
            "request",
            "--dir",
            &dir,
            "--node",
            &dest.code,
            "--origin",
            &other_origin.code,
            "--id-number",
            &other.dest.id_number,
            "--name",
            &other.dest.name,
            "--account",
            &other.dest.account_no,
        ],
    );
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("已发起业务 ")
            && lines[0].ends_with(&format!("已发往 {}", label(&other_origin))),
        "{out}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("  跟进进度：hfx transfer status ")),
        "{out}"
    );
    assert!(!out.contains(&other.dest.id_number), "{out}");
    zone.shutdown().await;
}

/// `hfx` with `args` in `lang` (`--lang`), the locale variables removed.
fn hfx_in(lang: &str, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--lang", lang]);
    hfx(&all, &[])
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_and_the_operators_and_auditors_commands_read_in_chinese_and_english() {
    let (tmp, mut zone) = zone(2).await;
    let (a, b) = (zone.centres[0].clone(), zone.centres[1].clone());
    let dir = zone.dir.to_str().unwrap().to_string();
    let conn = ["--dir", dir.as_str(), "--node", a.code.as_str()];
    let with = |cmd: &[&'static str]| -> Vec<String> {
        cmd.iter()
            .map(|s| s.to_string())
            .chain(conn.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |lang: &str, args: &[String]| {
        let v: Vec<&str> = args.iter().map(String::as_str).collect();
        hfx_in(lang, &v)
    };

    // An unknown member: what happened and what to do first, the reason code kept, once.
    let stranger = member(&a.code, AccountStatus::Normal);
    let mut ask = with(&["member", "query"]);
    ask.extend(
        [
            "--centre",
            &b.code,
            "--id-number",
            &stranger.id_number,
            "--name",
            &stranger.name,
            "--purpose",
            "identity_confirmation",
        ]
        .map(String::from),
    );
    let (ok, _, err) = run("zh-CN", &ask);
    assert!(!ok, "{err}");
    assert!(
        err.starts_with("错误：该中心没有此证件号码的缴存职工"),
        "{err}"
    );
    assert!(err.contains("NotFound: MEMBER_NOT_FOUND: "), "{err}");
    assert_eq!(
        err.matches("MEMBER_NOT_FOUND").count(),
        1,
        "said once: {err}"
    );
    let (ok, _, err) = run("en", &ask);
    assert!(!ok, "{err}");
    assert!(
        err.starts_with("error: That centre has no member with this id number"),
        "{err}"
    );
    assert!(err.contains("(NotFound: MEMBER_NOT_FOUND: "), "{err}");
    assert!(
        !err.contains(&stranger.id_number) && !err.contains(&stranger.name),
        "{err}"
    );

    // hfx reload.
    let (ok, out, err) = run("zh-CN", &with(&["reload"]));
    assert!(ok, "{err}");
    assert!(
        out.contains("目录：正常（生效版本 ") && out.contains("证书与吊销列表：正常"),
        "{out}"
    );
    let (ok, out, err) = run("en", &with(&["reload"]));
    assert!(
        ok && out.contains("tls: ok") && out.contains(" in force)"),
        "{out}{err}"
    );

    // hfx node maintenance on (Chinese), off (English): the centre by name.
    let (ok, out, err) = run("zh-CN", &with(&["node", "maintenance", "on"]));
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("{} ({})：维护模式已开启", a.city, a.code)),
        "{out}"
    );
    let (ok, out, err) = run("en", &with(&["node", "maintenance", "off"]));
    assert!(ok, "{err}");
    assert!(out.contains("): maintenance mode off: serving ("), "{out}");

    // hfx witness evidence: nothing kept in a healthy zone.
    let (ok, out, err) = run("zh-CN", &with(&["witness", "evidence"]));
    assert!(ok && out.trim() == "没有保存任何违规证据", "{out}{err}");
    let (ok, out, err) = run("en", &with(&["witness", "evidence"]));
    assert!(
        ok && out.trim() == "no evidence of misbehaviour kept",
        "{out}{err}"
    );

    // hfx zone doctor: the frame in words, the peer listed.
    let (_, out, err) = run("zh-CN", &with(&["zone", "doctor"]));
    assert!(
        out.starts_with(&format!("{}：目录 v", a.code)) && out.contains("交换日志"),
        "{out}{err}"
    );
    assert!(out.contains("对方中心") && out.contains(&b.code), "{out}");
    assert!(
        out.contains("未发现问题") || out.contains(" 个问题，"),
        "{out}"
    );
    let (_, out, err) = run("en", &with(&["zone", "doctor"]));
    assert!(
        out.starts_with(&format!("{}: directory v", a.code)),
        "{out}{err}"
    );
    assert!(
        out.contains("no problems found") || out.contains(" problem(s), "),
        "{out}"
    );

    // hfx zone live-check: a person with a live account at the other centre.
    let mover = member(&b.code, AccountStatus::Normal);
    let mut live = with(&["zone", "live-check"]);
    live.extend(["--id-number", &mover.id_number, "--name", &mover.name].map(String::from));
    let (_, out, err) = run("zh-CN", &live);
    assert!(out.contains("的在用账户核查："), "{out}{err}");
    assert!(
        out.contains(&format!("{} ({})：有在用账户（开户于 ", b.city, b.code)),
        "{out}"
    );
    assert!(out.contains("此人在其他中心有在用账户"), "{out}");
    assert!(!out.contains(&mover.name), "{out}");
    let (_, out, err) = run("en", &live);
    assert!(
        out.contains(": live (opened ") && out.contains("holds a live account elsewhere"),
        "{out}{err}"
    );

    // hfx adapter check, offline against the node's own configuration.
    let cfg = zone
        .dir
        .join("nodes")
        .join(&a.code)
        .join("node.toml")
        .display()
        .to_string();
    let check = ["adapter", "check", "--config", cfg.as_str()].map(String::from);
    let (ok, out, err) = run("zh-CN", &check);
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with(&format!("中心 {} 的核心系统适配器 ", a.code))
            && out.trim_end().ends_with("全部检查通过"),
        "{out}"
    );
    let (ok, out, err) = run("en", &check);
    assert!(
        ok && out.trim_end().ends_with("all checks passed"),
        "{out}{err}"
    );

    // hfx audit verify, replay, reconcile on the two centres' exports.
    let mut files = Vec::new();
    for c in [&a, &b] {
        let f = tmp.path().join(format!("{}.hfxlog", c.code));
        let args = [
            "audit",
            "export",
            "--dir",
            &dir,
            "--node",
            &c.code,
            "--out",
            f.to_str().unwrap(),
        ]
        .map(String::from);
        let (ok, out, err) = run("en", &args);
        assert!(ok, "{out}{err}");
        files.push(f.to_str().unwrap().to_string());
    }
    let zd = zone.zone_dir();
    let mut verify = [
        "audit",
        "verify",
        "--directory",
        zd.directory_path().to_str().unwrap(),
        "--root",
        zd.root_cert_path().to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    verify.push(files[0].clone());
    let (ok, out, err) = run("zh-CN", &verify);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("：中心 {}，", a.code))
            && out.contains("个检查点")
            && out.trim_end().ends_with("通过"),
        "{out}"
    );
    let (ok, out, err) = run("en", &verify);
    assert!(ok && out.trim_end().ends_with("OK"), "{out}{err}");
    let replay = ["audit".to_string(), "replay".into(), files[0].clone()];
    let (ok, out, err) = run("zh-CN", &replay);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("从日志重建披露记录") && out.trim_end().ends_with("日志与数据库一致"),
        "{out}"
    );
    let (ok, out, err) = run("en", &replay);
    assert!(
        ok && out.trim_end().ends_with("log and store agree"),
        "{out}{err}"
    );
    let mut reconcile = vec!["audit".to_string(), "reconcile".into()];
    reconcile.extend(files.iter().cloned());
    let (ok, out, err) = run("zh-CN", &reconcile);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("消息断点 0 处") && out.contains("在途资金（按日志）：¥0.00（0 分）"),
        "{out}"
    );
    let (ok, out, err) = run("en", &reconcile);
    assert!(
        ok && out.contains("0 message break(s)")
            && out.contains("money in flight, as the logs show it: 0 fen (¥0.00)"),
        "{out}{err}"
    );
    zone.shutdown().await;
}
