use hfx_adapters::CoreSystem;
use hfx_adapters::sqlite::SqliteCore;
use hfx_standins::seeding::Seed;

const CENTRE: &str = "340600000000000";

async fn seeded() -> (tempfile::TempDir, SqliteCore) {
    let dir = tempfile::tempdir().unwrap();
    let core = SqliteCore::open(&dir.path().join("core.db")).await.unwrap();
    core.seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    (dir, core)
}

#[tokio::test]
async fn sqlite_contract() {
    let (_d, core) = seeded().await;
    hfx_standins::contract::run_all(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_bad_rows_give_typed_errors_naming_the_record() {
    let (_d, core) = seeded().await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 5).member;
    let other = hfx_standins::seed::generate(CENTRE, &crate::opts(), 6).member;
    // an impossible date, an unknown status code, an invalid legacy id
    sqlx::query("UPDATE grxx SET khrq = '2021-02-30' WHERE grzh = ?1")
        .bind(&m.account_no)
        .execute(core.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE grxx SET grzhzt = '42' WHERE grzh = ?1")
        .bind(&other.account_no)
        .execute(core.pool())
        .await
        .unwrap();
    let e = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&m.account_no) && e.contains("khrq"), "{e}");
    let e = core
        .member_by_id(other.id_type, &other.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("42") && e.contains(&other.account_no), "{e}");
    // other records are not poisoned
    let fine = hfx_standins::seed::generate(CENTRE, &crate::opts(), 7).member;
    assert!(
        core.member_by_id(fine.id_type, &fine.id_number)
            .await
            .unwrap()
            .is_some()
    );
    let checks = core.check().await;
    assert!(
        checks.iter().any(|c| c.name == "code tables" && !c.ok),
        "{checks:?}"
    );
}

#[tokio::test]
async fn sqlite_unknown_hold_state_is_refused() {
    let (_d, core) = seeded().await;
    let h = hfx_standins::contract::planted_hold(CENTRE, &crate::opts(), crate::N);
    hfx_standins::contract::plant_in_sqlite(core.pool(), &h)
        .await
        .unwrap();
    hfx_standins::contract::unknown_hold_state_is_refused(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_database_failure_keeps_the_sqlx_error_as_its_source() {
    let (_d, core) = seeded().await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 5).member;
    sqlx::query("DROP TABLE grxx")
        .execute(core.pool())
        .await
        .unwrap();
    let e = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(
        matches!(e, hfx_adapters::AdapterError::Other { .. }),
        "{e:?}"
    );
    assert!(!e.is_unavailable(), "{e:?}");
    // The database's own failure is the source, the sqlx error itself, not its text.
    let source = std::error::Error::source(&e).expect("a source");
    let sqlx_err = source
        .downcast_ref::<sqlx::Error>()
        .unwrap_or_else(|| panic!("the source is a sqlx::Error: {source:?}"));
    assert!(matches!(sqlx_err, sqlx::Error::Database(_)), "{sqlx_err:?}");
    assert!(sqlx_err.to_string().contains("no such table"), "{sqlx_err}");
    // The error's own text is ours; the database's text is in the chain only.
    assert!(!e.to_string().contains("no such table"), "{e}");
    assert!(e.detail().contains("no such table: grxx"), "{}", e.detail());
}

/// The factory (what a node and `hfx adapter check` open): a missing core database is an error
/// naming `adapter.path`, and no file is left behind; `create = true` makes an empty one, whose
/// self-test fails on the empty core; `hfx seed`'s path creates and fills it.
#[tokio::test]
async fn sqlite_missing_core_file_is_an_error_unless_asked_to_create_it() {
    use hfx_adapters::open::{AdapterSettings, open};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.db");
    let mut s = AdapterSettings {
        kind: "sqlite".into(),
        path: Some(path.clone()),
        ..Default::default()
    };
    let e = open(&s).await.err().expect("refused").to_string();
    assert!(e.contains("adapter.path") && e.contains("core.db"), "{e}");
    assert!(
        e.contains("hfx seed") && e.contains("adapter.create"),
        "{e}"
    );
    assert!(!path.exists(), "a refused open leaves no file");

    s.create = true;
    let core = open(&s).await.unwrap();
    assert!(path.is_file());
    let checks = core.check().await;
    let sample = checks.iter().find(|c| c.name == "sample read").unwrap();
    assert!(!sample.ok, "{checks:?}");
    assert_eq!(sample.detail, hfx_adapters::EMPTY_CORE);
    assert!(
        checks
            .iter()
            .filter(|c| c.name != "sample read")
            .all(|c| c.ok),
        "{checks:?}"
    );

    // Seeding fills it; opened again without `create`, the file is there and passes.
    hfx_standins::seeding::seed(&s, CENTRE, &crate::opts(), 0, 5, &|_| {})
        .await
        .unwrap();
    s.create = false;
    let core = open(&s).await.unwrap();
    assert!(core.check().await.iter().all(|c| c.ok));
}

/// `hfx seed` creates the file it fills.
#[tokio::test]
async fn seeding_creates_a_missing_sqlite_core() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("core.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let s = hfx_adapters::open::AdapterSettings {
        kind: "sqlite".into(),
        path: Some(path.clone()),
        ..Default::default()
    };
    hfx_standins::seeding::seed(&s, CENTRE, &crate::opts(), 0, 3, &|_| {})
        .await
        .unwrap();
    let core = SqliteCore::open_existing(&path).await.unwrap();
    assert_eq!(core.member_count().await.unwrap(), 3);
}
