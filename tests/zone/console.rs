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

/// `HFX_CONSOLE_ZONE=demo`: run the specs on the demo's zone (ten centres, each on the core
/// system deploy/zone.toml names, SQLite where a database server is not reachable) instead of
/// three SQLite centres. How the first-paint figures of docs/console.md are measured.
fn demo_zone() -> bool {
    std::env::var("HFX_CONSOLE_ZONE").is_ok_and(|v| v == "demo")
}

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
    // Every centre of the zone (the three of CENTRES first), so specs count peers right also
    // on the demo's zone; members and movers of the three the specs use.
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    assert_eq!(codes[..CENTRES.len()], CENTRES, "the zone's first centres");
    let centres: Vec<_> = codes
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
                if !codes.contains(&origin_centre) {
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
    let mut spec = ZoneSpec::new(tmp.path(), if demo_zone() { 10 } else { CENTRES.len() });
    spec.members_per_centre = MEMBERS;
    spec.log_level = "info".into();
    spec.console = true;
    spec.zone_core_systems = demo_zone();
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    // HFX_CONSOLE_HFX=target/release/hfx: the nodes run that binary (how first paint is
    // measured on a release build); the test's own build otherwise.
    let binary = std::env::var_os("HFX_CONSOLE_HFX")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_hfx").into());
    let mut zone = Zone::from_prepared(tmp.path().to_path_buf(), prepared, binary);
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

/// One HTTPS request to a console as the holder of `cert`/`key`: the status code, or why no
/// answer came (a refused handshake shows as an error on the first read).
async fn console_get(
    zd: &hfx_certs::ZoneDir,
    addr: &str,
    code: &str,
    cert: &Path,
    key: &Path,
    path: &str,
) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let files = hfx_node::tls::TlsFiles {
        root: zd.root_cert_path(),
        crl: zd.crl_path(),
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    };
    let mut cfg = hfx_node::tls::client_config(&files).map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from(hfx_certs::node_dns_name(code))
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "no HTTP status in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    Ok((status, text))
}

/// The console's trust without a browser (runs everywhere): the person certificate is the
/// login, of this centre only, by role; a node certificate is not a person; the CRL in force
/// refuses a revoked clerk once reloaded.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_admits_people_of_its_centre_by_role_and_applies_the_crl() {
    let (_tmp, zone) = crate::common::zone(2).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let addr = zone.console_addr(&a).expect("console address");
    let person = |c: &str, role, p: &str| zd.person_paths(c, role, p);
    use hfx_certs::Role;

    let (crt, key) = person(&a, Role::Clerk, "clerk1");
    let (status, page) = console_get(&zd, &addr, &a, &crt, &key, "/")
        .await
        .expect("the clerk's start page");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("工作台"), "Chinese by default: {page}");
    for header in [
        "content-security-policy: default-src 'none'",
        "x-frame-options: DENY",
        "cache-control: no-store",
    ] {
        assert!(
            page.to_ascii_lowercase()
                .contains(&header.to_ascii_lowercase()),
            "{header} missing: {page}"
        );
    }
    let (status, _) = console_get(&zd, &addr, &a, &crt, &key, "/ops")
        .await
        .unwrap();
    assert_eq!(status, 403, "a clerk on the operator's page");
    let (o_crt, o_key) = person(&a, Role::Operator, "operator1");
    let (status, _) = console_get(&zd, &addr, &a, &o_crt, &o_key, "/ops")
        .await
        .unwrap();
    assert_eq!(status, 200, "the operator's page");
    assert!(
        crate::common::node_log(&zone, &a).contains("console page refused"),
        "the refused page is recorded in the node's log"
    );

    // Every cell of the console's role table (docs/roles.md) on this node: a route answers
    // the roles it names (a page, or 405 for a form's target) and refuses the others (403).
    for role in [Role::Clerk, Role::Auditor, Role::Operator] {
        let who = match role {
            Role::Clerk => "clerk1",
            Role::Auditor => "auditor1",
            Role::Operator => "operator1",
        };
        let (c, k) = person(&a, role, who);
        for (path, roles) in hfx_console::pages::ROLES {
            let path = path
                .replace("{case_id}", "01900000-0000-7000-8000-000000000000")
                .replace("{id}", "01900000-0000-7000-8000-000000000000");
            let (status, text) = console_get(&zd, &addr, &a, &c, &k, &path)
                .await
                .unwrap_or_else(|e| panic!("{role} GET {path}: {e}"));
            if roles.contains(&role) {
                assert_ne!(status, 403, "{role} GET {path}: {text}");
                assert!(status < 500, "{role} GET {path}: {text}");
            } else {
                assert_eq!(status, 403, "{role} GET {path}: {text}");
            }
        }
    }

    // Another centre's clerk, and a node certificate: not people of this centre.
    let (b_crt, b_key) = person(&b, Role::Clerk, "clerk1");
    let (status, _) = console_get(&zd, &addr, &a, &b_crt, &b_key, "/")
        .await
        .unwrap();
    assert_eq!(status, 403, "a clerk of {b} at {a}'s console");
    let (status, _) = console_get(
        &zd,
        &addr,
        &a,
        &zd.node_cert_path(&a),
        &zd.node_key_path(&a),
        "/",
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "a node certificate at the console");

    // Revoked and reloaded: refused (at the handshake, or 401 on the request).
    let (leaver, leaver_key, _) = zd
        .issue_person(
            &a,
            Role::Clerk,
            "leaver",
            hfx_certs::pki::Validity::days(10),
        )
        .unwrap();
    let (status, _) = console_get(&zd, &addr, &a, &leaver, &leaver_key, "/")
        .await
        .expect("valid before revocation");
    assert_eq!(status, 200);
    zd.revoke_cert_file(&leaver, "left the centre").unwrap();
    let r = zone
        .client(&a, Role::Operator)
        .unwrap()
        .reload()
        .await
        .unwrap();
    assert!(r.tls_ok, "{r:?}");
    match console_get(&zd, &addr, &a, &leaver, &leaver_key, "/").await {
        Ok((status, text)) => assert_eq!(status, 401, "a revoked clerk: {text}"),
        Err(e) => assert!(
            e.contains("handshake") || e.contains("read"),
            "a revoked clerk: {e}"
        ),
    }
    // Others are unaffected.
    let (status, _) = console_get(&zd, &addr, &a, &crt, &key, "/").await.unwrap();
    assert_eq!(status, 200);
}
