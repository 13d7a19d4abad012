//! `hfx demo`: a ten-centre zone on loopback, a scripted session of cross-centre queries
//! (including refused ones), and a readable account of what happened.

use crate::launcher::{Zone, ZoneSpec, prepare};
use anyhow::Context;
use hfx_adapters::ids::{mask_id, mask_name};
use hfx_adapters::model::{AccountStatus, IdType};
use hfx_adapters::money::format_yuan;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod transfers;

pub struct DemoOptions {
    pub dir: Option<PathBuf>,
    pub keep_running: bool,
    pub members: u64,
    pub centres: usize,
}

/// One scripted step and what came of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepResult {
    pub title: String,
    pub from: String,
    pub to: String,
    pub purpose: String,
    pub expected: String,
    pub outcome: String,
    pub ok: bool,
    pub millis: u128,
}

fn status_text(s: &tonic::Status) -> String {
    format!("{:?} — {}", s.code(), s.message())
}

fn describe(v: &pb::MemberView) -> String {
    let mut parts = Vec::new();
    if let Some(x) = &v.name_masked {
        parts.push(format!("name {x}"));
    }
    if let Some(x) = &v.id_number_masked {
        parts.push(format!("id {x}"));
    }
    if let Some(x) = v.live_account {
        parts.push(format!("live account: {}", if x { "yes" } else { "no" }));
    }
    if let Some(x) = v.status {
        parts.push(format!("status {:02}", x));
    }
    if let Some(x) = &v.account_no {
        parts.push(format!("account {x}"));
    }
    if let Some(x) = v.balance_fen {
        parts.push(format!("balance ¥{}", format_yuan(x)));
    }
    if let Some(x) = v.monthly_amount_fen {
        parts.push(format!("monthly ¥{}", format_yuan(x)));
    }
    if let (Some(a), Some(b)) = (v.continuous_start_month, v.continuous_end_month) {
        parts.push(format!("continuous {a}–{b}"));
    }
    if let Some(x) = v.loan_count {
        parts.push(format!("loans {x}"));
    }
    if let Some(x) = v.outstanding_fen {
        parts.push(format!("outstanding ¥{}", format_yuan(x)));
    }
    if let Some(x) = v.six_consecutive_months {
        parts.push(format!(
            "6 consecutive months: {}",
            if x { "yes" } else { "no" }
        ));
    }
    parts.join(", ")
}

pub async fn run(opts: DemoOptions, binary: PathBuf) -> anyhow::Result<bool> {
    let started = Instant::now();
    let (dir, _tmp) = match &opts.dir {
        Some(d) => {
            anyhow::ensure!(
                !d.join("root").exists(),
                "{} already holds a zone; give an empty or new folder",
                d.display()
            );
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("hfx-demo-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    println!(
        "hfx demo: a {}-centre zone on loopback in {}",
        opts.centres,
        dir.display()
    );
    let shipped = hfx_certs::ZoneConfig::parse(crate::launcher::SHIPPED_ZONE)?;
    let code = |i: usize| shipped.centres[i.min(opts.centres - 1)].code.clone();
    let (xuzhou, lianyungang, suqian, huaibei, shangqiu, zaozhuang, linyi) = (
        code(0),
        code(1),
        code(2),
        code(3),
        code(5),
        code(6),
        code(8),
    );
    let mut spec = ZoneSpec::new(&dir, opts.centres);
    spec.members_per_centre = opts.members;
    spec.peer_timeout_ms = 2_000;
    // 临沂 lets 商丘 confirm identities only: the demo shows a purpose refused by policy.
    spec.policies.insert(
        linyi.clone(),
        BTreeMap::from([(shangqiu.clone(), vec!["identity_confirmation".to_string()])]),
    );
    let say = |s: &str| println!("  · {s}");
    spec.zone_core_systems = true;
    let prepared = prepare(&spec, &say).await?;
    let mut zone = Zone::from_prepared(dir.clone(), prepared, binary);
    let t = Instant::now();
    zone.start_all().await.context("starting the zone")?;
    say(&format!(
        "{} nodes up (mutual TLS 1.3, peer + local API each) in {} ms",
        zone.centres.len(),
        t.elapsed().as_millis()
    ));
    let systems: Vec<String> = zone
        .centres
        .iter()
        .map(|c| {
            let cfg = hfx_node::config::NodeConfig::load(&c.config)
                .map(|n| n.adapter.kind)
                .unwrap_or_default();
            format!("{} {cfg}", c.city)
        })
        .collect();
    say(&format!("core systems: {}", systems.join(", ")));

    let seed = SeedOptions {
        seed: spec.seed,
        ..Default::default()
    };
    // Pick members of the target's population by status.
    let pick = |centre: &str, want: &dyn Fn(AccountStatus) -> bool| {
        (0..opts.members)
            .map(|i| generate(centre, &seed, i).member)
            .find(|m| want(m.status) && m.id_type == IdType::ResidentId)
    };
    let live =
        pick(&lianyungang, &|s| s == AccountStatus::Normal).context("no live member seeded")?;
    let live2 = pick(&suqian, &|s| s == AccountStatus::Normal).context("no live member seeded")?;
    let closed = pick(&huaibei, &AccountStatus::is_closed).context("no closed member seeded")?;
    let live_linyi =
        pick(&linyi, &|s| s == AccountStatus::Normal).context("no live member seeded")?;
    let live_zz =
        pick(&zaozhuang, &|s| s == AccountStatus::Normal).context("no live member seeded")?;

    let cities: BTreeMap<String, String> = zone
        .centres
        .iter()
        .map(|c| (c.code.clone(), c.city.clone()))
        .collect();
    let name_of = |c: &str| cities.get(c).cloned().unwrap_or_default();
    let q = |target: &str, id: &str, name: &str, purpose: pb::Purpose| pb::LocalMemberQuery {
        centre: target.to_string(),
        person: Some(pb::PersonKey {
            id_type: pb::IdType::ResidentId as i32,
            id_number: id.to_string(),
            name: name.to_string(),
        }),
        purpose: purpose as i32,
        message_id: String::new(),
    };
    let mut bad_check = live.id_number.clone();
    let last = bad_check.pop().unwrap_or('0');
    bad_check.push(if last == '1' { '2' } else { '1' });

    struct Step {
        title: &'static str,
        from: String,
        query: pb::LocalMemberQuery,
        expect_ok: bool,
        expected: &'static str,
        stop_first: Option<String>,
    }
    let steps = vec![
        Step {
            title: "deposit-use certificate data for an off-site loan",
            from: xuzhou.clone(),
            query: q(
                &lianyungang,
                &live.id_number,
                &live.name,
                pb::Purpose::LoanApplication,
            ),
            expect_ok: true,
            expected: "answered, minimised to the loan-application field set",
            stop_first: None,
        },
        Step {
            title: "identity confirmation (yes/no only)",
            from: xuzhou.clone(),
            query: q(
                &suqian,
                &live2.id_number,
                &live2.name,
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: true,
            expected: "answered with yes/no and a masked name",
            stop_first: None,
        },
        Step {
            title: "transfer check before an account moves",
            from: suqian.clone(),
            query: q(
                &lianyungang,
                &live.id_number,
                &live.name,
                pb::Purpose::TransferCheck,
            ),
            expect_ok: true,
            expected: "answered with balance and continuity",
            stop_first: None,
        },
        Step {
            title: "loan check",
            from: xuzhou.clone(),
            query: q(
                &linyi,
                &live_linyi.id_number,
                &live_linyi.name,
                pb::Purpose::LoanCheck,
            ),
            expect_ok: true,
            expected: "answered with loan count and outstanding only",
            stop_first: None,
        },
        Step {
            title: "id number with a wrong check digit",
            from: xuzhou.clone(),
            query: q(
                &lianyungang,
                &bad_check,
                &live.name,
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: false,
            expected: "INVALID_ARGUMENT naming person.id_number, refused at the clerk's own node",
            stop_first: None,
        },
        Step {
            title: "impossible birth date",
            from: xuzhou.clone(),
            query: q(
                &lianyungang,
                "320302199102300014",
                &live.name,
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: false,
            expected: "INVALID_ARGUMENT naming person.id_number",
            stop_first: None,
        },
        Step {
            title: "name that does not match the id",
            from: xuzhou.clone(),
            query: q(
                &lianyungang,
                &live.id_number,
                "王不对",
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: false,
            expected: "FAILED_PRECONDITION NAME_MISMATCH",
            stop_first: None,
        },
        Step {
            title: "member unknown at that centre",
            from: xuzhou.clone(),
            query: q(
                &suqian,
                &live.id_number,
                &live.name,
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: false,
            expected: "NOT_FOUND MEMBER_NOT_FOUND",
            stop_first: None,
        },
        Step {
            title: "loan certificate for a closed account",
            from: xuzhou.clone(),
            query: q(
                &huaibei,
                &closed.id_number,
                &closed.name,
                pb::Purpose::LoanApplication,
            ),
            expect_ok: false,
            expected: "FAILED_PRECONDITION ACCOUNT_CLOSED: refused for closed accounts",
            stop_first: None,
        },
        Step {
            title: "purpose the target's policy does not allow this peer",
            from: shangqiu.clone(),
            query: q(
                &linyi,
                &live_linyi.id_number,
                &live_linyi.name,
                pb::Purpose::TransferCheck,
            ),
            expect_ok: false,
            expected: "PERMISSION_DENIED PURPOSE_NOT_ALLOWED",
            stop_first: None,
        },
        Step {
            title: "peer node down",
            from: xuzhou.clone(),
            query: q(
                &zaozhuang,
                &live_zz.id_number,
                &live_zz.name,
                pb::Purpose::IdentityConfirmation,
            ),
            expect_ok: false,
            expected: "UNAVAILABLE within the deadline, never a hang",
            stop_first: Some(zaozhuang.clone()),
        },
    ];
    println!();
    println!("Scripted session ({} queries):", steps.len());
    let mut results = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        if let Some(c) = &step.stop_first {
            zone.stop(c, Duration::from_secs(5))?;
            say(&format!(
                "stopped the {} node to show a peer that is down",
                name_of(c)
            ));
        }
        let client = zone.client(&step.from, Role::Clerk)?;
        let target = step.query.centre.clone();
        let purpose = pb::Purpose::try_from(step.query.purpose)
            .map(hfx_node::member::purpose_name)
            .unwrap_or("?");
        let subject = step
            .query
            .person
            .as_ref()
            .map(|p| format!("{} {}", mask_name(&p.name), mask_id(&p.id_number)))
            .unwrap_or_default();
        let t = Instant::now();
        let res = client.query_member(step.query).await;
        let ms = t.elapsed().as_millis();
        let (ok, outcome) = match &res {
            Ok(r) => (
                step.expect_ok,
                format!(
                    "{} [receipts: ours #{}, theirs #{}]",
                    r.member.as_ref().map(describe).unwrap_or_default(),
                    r.local_receipt
                        .as_ref()
                        .map(|x| x.log_index)
                        .unwrap_or_default(),
                    r.peer_receipt
                        .as_ref()
                        .map(|x| x.log_index)
                        .unwrap_or_default()
                ),
            ),
            Err(s) => (!step.expect_ok, status_text(s)),
        };
        println!(
            "{:>2}. {} {} → {} ({}; {}): {}",
            i + 1,
            if ok { "✓" } else { "✗" },
            name_of(&step.from),
            name_of(&target),
            purpose,
            subject,
            step.title
        );
        println!("      {outcome}  ({ms} ms)");
        if !ok {
            println!("      expected: {}", step.expected);
        }
        results.push(StepResult {
            title: step.title.into(),
            from: step.from,
            to: target,
            purpose: purpose.into(),
            expected: step.expected.into(),
            outcome,
            ok,
            millis: ms,
        });
    }
    // What the centres recorded.
    println!();
    println!("Disclosure records (PIPL: who, when, purpose, legal basis, outcome):");
    for c in [&lianyungang, &xuzhou] {
        let auditor = zone.client(c, Role::Auditor)?;
        let list = auditor.disclosures(100).await?;
        println!("  {} keeps {} record(s); newest:", name_of(c), list.len());
        for d in list.iter().take(3) {
            println!(
                "    {} {} {} by {} — {} [{}]",
                d.direction,
                d.peer_centre,
                pb::Purpose::try_from(d.purpose)
                    .map(hfx_node::member::purpose_name)
                    .unwrap_or("?"),
                d.acting_person,
                d.outcome,
                d.subject_masked
            );
        }
        let st = zone.client(c, Role::Operator)?.status().await?;
        println!("    exchange log: {} entries", st.log_size);
    }
    let transfers_ok = transfers::run(&mut zone, &seed, opts.members).await?;
    let passed = results.iter().filter(|r| r.ok).count();
    println!();
    println!(
        "{passed} of {} steps behaved as expected; demo took {:.1} s.",
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if opts.keep_running {
        let _keep = _tmp.map(|t| t.keep());
        if let Some(c) = zone
            .centres
            .iter()
            .find(|c| !zone.running().contains(&c.code))
            .map(|c| c.code.clone())
        {
            zone.spawn(&c)?;
            zone.wait_ready(&c, Duration::from_secs(30)).await?;
        }
        println!();
        println!("The zone stays up. In another terminal:");
        println!("  export HFX_DIR={} HFX_NODE={xuzhou}", dir.display());
        println!(
            "  hfx member query --centre {lianyungang} --id-type 01 --id-number {} --name {} --purpose identity_confirmation",
            live.id_number, live.name
        );
        println!("  hfx status; hfx audit disclosures");
        if let Ok(addr) = zone.console_addr(&xuzhou) {
            let (cert, key) =
                hfx_certs::ZoneDir::open(&dir).person_paths(&xuzhou, Role::Clerk, "clerk1");
            println!(
                "Web console of the first centre: https://{addr}/ (docs/console.md), with the clerk's"
            );
            println!("  certificate {} and key {}", cert.display(), key.display());
            println!(
                "  e.g. curl -k --cert {} --key {} https://{addr}/",
                cert.display(),
                key.display()
            );
        }
        println!("Press Ctrl-C to stop the zone.");
        tokio::signal::ctrl_c().await?;
    }
    zone.shutdown().await;
    Ok(passed == results.len() && transfers_ok)
}
