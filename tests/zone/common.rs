use hfx_adapters::model::{AccountStatus, IdType, Member};
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate};
use hfx_zone::launcher::{Zone, ZoneSpec, prepare};
use std::sync::Once;

static INIT: Once = Once::new();

pub fn init() {
    INIT.call_once(hfx_node::tls::install_crypto_provider);
}

pub const MEMBERS: u64 = 120;

/// Prepare and start a zone of `n` centres in a fresh temporary folder.
pub async fn zone(n: usize) -> (tempfile::TempDir, Zone) {
    zone_with(n, |_| {}).await
}

pub async fn zone_with(n: usize, tweak: impl FnOnce(&mut ZoneSpec)) -> (tempfile::TempDir, Zone) {
    init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), n);
    spec.members_per_centre = MEMBERS;
    spec.log_level = "warn".into();
    tweak(&mut spec);
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    zone.start_all().await.expect("start zone");
    (tmp, zone)
}

pub fn member(centre: &str, want: AccountStatus) -> Member {
    let opts = SeedOptions {
        seed: 1,
        ..Default::default()
    };
    (0..MEMBERS)
        .map(|i| generate(centre, &opts, i).member)
        .find(|m| m.status == want && m.id_type == IdType::ResidentId)
        .expect("seeded member with that status")
}

pub fn query(target: &str, m: &Member, purpose: pb::Purpose) -> pb::LocalMemberQuery {
    pb::LocalMemberQuery {
        centre: target.to_string(),
        person: Some(pb::PersonKey {
            id_type: pb::IdType::ResidentId as i32,
            id_number: m.id_number.clone(),
            name: m.name.clone(),
        }),
        purpose: purpose as i32,
        message_id: String::new(),
    }
}

pub fn reason(s: &tonic::Status) -> String {
    hfx_node::error::reason_of(s).unwrap_or_default()
}

/// Whether this run is CI's (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// A database server URL from `var`. Missing, the part that needs it is skipped and says so on
/// stderr (which .config/nextest.toml shows for these tests), except under CI, where a missing
/// URL fails the test: a CI run must never go green without the databases.
pub fn db_url(var: &str, part: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "{var} is not set but CI is: the {part} part cannot be skipped in CI (.ci/run sets it)"
            );
            eprintln!("SKIPPED ({part} part): {var} not set");
            None
        }
    }
}

/// Run a zone on the core systems deploy/zone.toml names; the database-backed ones use the
/// servers in HFX_TEST_POSTGRES_URL / HFX_TEST_MARIADB_URL (without them those centres fall
/// back to sqlite, and the caller is told which parts were skipped; under CI a missing URL
/// fails instead).
pub async fn zone_on_zone_core_systems(n: usize) -> (tempfile::TempDir, Zone, Vec<&'static str>) {
    let mut skipped = Vec::new();
    let pg = db_url("HFX_TEST_POSTGRES_URL", "postgres core system");
    let my = db_url("HFX_TEST_MARIADB_URL", "mariadb core system");
    if pg.is_none() {
        skipped.push("postgres");
    }
    if my.is_none() {
        skipped.push("mariadb");
    }
    let (tmp, zone) = zone_with(n, |s| {
        s.zone_core_systems = true;
        s.members_per_centre = 80;
        // Port 1 on loopback: nothing listens, so a missing server is a fast, visible fallback.
        s.postgres_url = pg.unwrap_or_else(|| "postgres://postgres@127.0.0.1:1/postgres".into());
        s.mariadb_url = my.unwrap_or_else(|| "mysql://root@127.0.0.1:1".into());
    })
    .await;
    (tmp, zone, skipped)
}

/// A node's log file, which must exist and hold something: a check that reads a node's log
/// must never pass on a file that was not written.
pub fn node_log(zone: &Zone, code: &str) -> String {
    let path = zone
        .plan(code)
        .unwrap_or_else(|| panic!("no centre {code}"))
        .config
        .with_file_name("node.log");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{code}: cannot read {}: {e}", path.display()));
    assert!(
        !text.trim().is_empty(),
        "{code}: {} is empty",
        path.display()
    );
    text
}

/// A channel to `to`'s peer API presenting `as_centre`'s own node certificate, so `to` takes
/// the calls as that centre's.
pub fn peer_channel(zone: &Zone, as_centre: &str, to: &str) -> tonic::transport::Channel {
    let zd = zone.zone_dir();
    let files = hfx_node::tls::TlsFiles {
        root: zd.root_cert_path(),
        crl: zd.crl_path(),
        cert: zd.node_cert_path(as_centre),
        key: zd.node_key_path(as_centre),
    };
    let cfg = std::sync::Arc::new(hfx_node::tls::client_config(&files).expect("client config"));
    hfx_node::tls::channel(
        cfg,
        zone.plan(to).expect("centre").peer_addr.clone(),
        hfx_certs::node_dns_name(to),
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("peer channel")
}

/// A database of its own on the server at `server`, dropped by [`PgDb::drop_db`].
pub struct PgDb {
    server: String,
    name: String,
    pub url: String,
}

impl PgDb {
    /// A fresh database named `hfx_{what}_<uuid>`.
    pub async fn create(server: &str, what: &str) -> Self {
        use sqlx::Connection;
        let name = format!("hfx_{what}_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("HFX_TEST_POSTGRES_URL set but PostgreSQL unreachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            server: server.to_string(),
            name,
        }
    }

    pub async fn drop_db(&self) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.server)
            .await
            .expect("connect to drop");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .expect("drop database");
    }
}

/// The `hfx` CLI as a test runs it: English whatever the machine's locale (`LANG=zh_CN…` makes
/// its human output Chinese; tests that read that output in Chinese set the locale themselves,
/// see `language.rs`).
pub fn hfx() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hfx"));
    cmd.env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG");
    cmd
}

/// The environment variables through which the CLI finds a zone, a node and a person: a test
/// that runs commands as written clears them, so the machine's own settings cannot leak in.
pub const HFX_ENV: [&str; 9] = [
    "HFX_DIR",
    "HFX_NODE",
    "HFX_PERSON",
    "HFX_ENDPOINT",
    "HFX_CERT",
    "HFX_KEY",
    "HFX_ROOT",
    "HFX_CRL",
    "HFX_CONFIG",
];

/// A node configuration in `dir` for `centre` whose `[adapter]` table is `adapter_toml`, for
/// commands that open only the adapter (`hfx adapter check`, `hfx seed --config`): the other
/// files exist, as the config's checks want, but are empty and never read.
pub fn adapter_only_config(
    dir: &std::path::Path,
    centre: &str,
    adapter_toml: &str,
) -> std::path::PathBuf {
    for f in [
        "root.pem",
        "crl.pem",
        "node.pem",
        "key.pem",
        "directory.json",
        "signing.pem",
    ] {
        std::fs::write(dir.join(f), "").expect("write an empty trust file");
    }
    let p = dir.join("node.toml");
    std::fs::write(
        &p,
        format!(
            "centre = \"{centre}\"\n[listen]\npeer = \"127.0.0.1:7443\"\nlocal = \"127.0.0.1:7444\"\n\
             [tls]\nroot = \"root.pem\"\ncrl = \"crl.pem\"\ncert = \"node.pem\"\nkey = \"key.pem\"\n\
             [directory]\npath = \"directory.json\"\n[signing]\nkey = \"signing.pem\"\n\
             [store]\nurl = \"sqlite://node.db\"\n{adapter_toml}"
        ),
    )
    .expect("write node.toml");
    p
}

/// A finished command's exit code and everything it printed (stdout, then stderr).
pub fn code_and_text(out: &std::process::Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
