use hfx_adapters::model::{AccountStatus, IdType, Member};
use hfx_adapters::seed::{SeedOptions, generate};
use hfx_proto::v1 as pb;
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

/// Run a zone on the core systems deploy/zone.toml names; the database-backed ones use the
/// servers in HFX_TEST_POSTGRES_URL / HFX_TEST_MARIADB_URL (without them those centres fall
/// back to sqlite, and the caller is told which parts were skipped).
pub async fn zone_on_zone_core_systems(n: usize) -> (tempfile::TempDir, Zone, Vec<&'static str>) {
    let mut skipped = Vec::new();
    let pg = std::env::var("HFX_TEST_POSTGRES_URL").ok();
    let my = std::env::var("HFX_TEST_MARIADB_URL").ok();
    if pg.is_none() {
        eprintln!("SKIPPED (postgres core system part): HFX_TEST_POSTGRES_URL not set");
        skipped.push("postgres");
    }
    if my.is_none() {
        eprintln!("SKIPPED (mariadb core system part): HFX_TEST_MARIADB_URL not set");
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
