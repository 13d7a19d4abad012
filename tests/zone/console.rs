//! The web console in a real browser (issue 13, docs/console.md): Debian's chromium driven
//! by playwright-core (tests/console/run.mjs) through every spec of tests/console/specs/,
//! against a zone of three centres started by the zone launcher, each node serving its
//! console. The fixture the runner reads names each centre's console address and person
//! certificates and lists the seeded members and movers, so specs search, move and certify
//! real members. Screenshots of every page (zh-CN) land in the folder this test prints.
//!
//! Needs `chromium` (Debian's package) and `npm ci` in tests/console; .ci/run installs both.
//! Without them the test says it was skipped, and fails under CI.

use crate::common::{in_ci, init};
use hfx_standins::seed::{SeedOptions, generate, mover_index, mover_origin};
use hfx_zone::launcher::{Zone, ZoneSpec, prepare};
use std::path::{Path, PathBuf};

/// Members per centre: one mover in 50 (hfx_standins::seed::mover_index).
const MEMBERS: u64 = 1500;
const CENTRES: [&str; 3] = ["320300000000000", "320700000000000", "321300000000000"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> PathBuf {
    std::env::var_os("HFX_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run a browser, if anything.
fn missing() -> Option<String> {
    let mut out = Vec::new();
    if !chromium().exists() {
        out.push(format!(
            "{} (apt-get install -y chromium)",
            chromium().display()
        ));
    }
    let pw = workspace().join("tests/console/node_modules/playwright-core");
    if !pw.exists() {
        out.push("playwright-core (cd tests/console && npm ci)".to_string());
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        out.push("node (Node.js 20)".to_string());
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// The fixture of tests/console/run.mjs.
fn fixture(dir: &Path, zone: &Zone, shots: &Path) -> serde_json::Value {
    let opts = SeedOptions {
        seed: 1,
        ..Default::default()
    };
    let zd = hfx_certs::ZoneDir::open(dir);
    let people = |code: &str| {
        let mut m = serde_json::Map::new();
        for (role, person) in [
            (hfx_certs::Role::Clerk, "clerk1"),
            (hfx_certs::Role::Auditor, "auditor1"),
            (hfx_certs::Role::Operator, "operator1"),
        ] {
            let (cert, key) = zd.person_paths(code, role, person);
            m.insert(
                role.as_str().to_string(),
                serde_json::json!({ "cert": cert, "key": key }),
            );
        }
        serde_json::Value::Object(m)
    };
    let centres: Vec<_> = CENTRES
        .iter()
        .map(|code| {
            serde_json::json!({
                "code": code,
                "console": zone.console_addr(code).expect("console address"),
                "people": people(code),
            })
        })
        .collect();
    let mut members = serde_json::Map::new();
    let mut movers = serde_json::Map::new();
    for code in CENTRES {
        let list: Vec<_> = (0..MEMBERS)
            .map(|i| {
                let r = generate(code, &opts, i);
                let mut v = serde_json::to_value(&r.member).expect("member as JSON");
                v["index"] = i.into();
                v["loans"] = r.loans.len().into();
                v
            })
            .collect();
        members.insert(code.to_string(), list.into());
        let moved: Vec<_> = (0..30)
            .filter_map(|k| {
                let index = mover_index(code, &opts, k)?;
                let (origin_centre, at) = mover_origin(code, &opts, index)?;
                if !CENTRES.contains(&origin_centre.as_str()) {
                    return None;
                }
                Some(serde_json::json!({
                    "k": k,
                    "dest": serde_json::to_value(generate(code, &opts, index).member).ok()?,
                    "origin_centre": origin_centre,
                    "origin": serde_json::to_value(generate(&origin_centre, &opts, at).member).ok()?,
                }))
            })
            .collect();
        movers.insert(code.to_string(), moved.into());
    }
    serde_json::json!({
        "zone_dir": dir,
        "shots_dir": shots,
        "centres": centres,
        "members": members,
        "movers": movers,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser_for_every_role() {
    if let Some(what) = missing() {
        assert!(
            !in_ci(),
            "the browser tests need {what}; .ci/run installs them"
        );
        eprintln!("SKIPPED (console browser tests): {what} missing");
        return;
    }
    init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-console-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), CENTRES.len());
    spec.members_per_centre = MEMBERS;
    spec.log_level = "info".into();
    spec.console = true;
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    zone.start_all().await.expect("start zone");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let fx = tmp.path().join("console-fixture.json");
    std::fs::write(
        &fx,
        serde_json::to_vec(&fixture(tmp.path(), &zone, &shots)).expect("fixture"),
    )
    .expect("write the fixture");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new("node")
        .arg(workspace().join("tests/console/run.mjs"))
        .env("HFX_CONSOLE_FIXTURE", &fx)
        .env("HFX_CHROMIUM", chromium())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    println!(
        "browser specs took {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    if !out.status.success() {
        for code in CENTRES {
            let log = crate::common::node_log(&zone, code);
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            println!("--- node {code}, last lines ---");
            for l in tail.into_iter().rev() {
                println!("{l}");
            }
        }
    }
    zone.stop_all();
    assert!(out.status.success(), "browser specs failed:\n{text}");
}
