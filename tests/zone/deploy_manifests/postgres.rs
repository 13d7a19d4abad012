//! deploy/postgres/setup.sh on a real server: the node starts on the runtime role, and after
//! the script's second run that role can no longer truncate, rewrite or unlock the log.

use super::deploy;
use hfx_node::log::LogState;
use hfx_node::store::Store;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::process::Command;
use std::str::FromStr;

struct Names {
    centre: String,
    db: String,
    owner: String,
    app: String,
    audit: String,
}

fn setup_sh(server: &str, centre: &str, pw: &str) {
    let out = Command::new("sh")
        .arg(deploy("postgres/setup.sh"))
        .args([centre, server])
        .env("HFX_OWNER_PASSWORD", pw)
        .env("HFX_APP_PASSWORD", pw)
        .env("HFX_AUDIT_PASSWORD", pw)
        .output()
        .expect("running setup.sh");
    assert!(
        out.status.success(),
        "setup.sh: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `server` with another user, password and database.
fn url_as(server: &str, user: &str, pw: &str, db: &str) -> String {
    let o = PgConnectOptions::from_str(server).expect("HFX_TEST_POSTGRES_URL");
    format!(
        "postgres://{user}:{pw}@{}:{}/{db}",
        o.get_host(),
        o.get_port()
    )
}

async fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
    {
        Ok(_) => panic!("{sql}: allowed, must be refused"),
        Err(e) => e.to_string(),
    }
}

async fn allowed(conn: &mut PgConnection, sql: &str) {
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
    {
        panic!("{sql}: {e}");
    }
}

#[tokio::test]
async fn setup_sql_leaves_the_node_only_dml() {
    let Some(server) = crate::common::db_url("HFX_TEST_POSTGRES_URL", "postgres roles") else {
        return;
    };
    if Command::new("psql").arg("--version").output().is_err() {
        assert!(
            !crate::common::in_ci(),
            "psql is missing under CI (postgresql-client)"
        );
        eprintln!("SKIPPED (postgres roles part): psql is not installed");
        return;
    }
    // Roles are cluster-wide: a code of our own (99 is no region) so parallel runs never meet.
    let n = uuid::Uuid::now_v7().as_u128() % 10u128.pow(13);
    let centre = format!("99{n:013}");
    let names = Names {
        db: format!("hfx_{centre}"),
        owner: format!("hfx_{centre}_owner"),
        app: format!("hfx_{centre}_app"),
        audit: format!("hfx_{centre}_audit"),
        centre,
    };
    let pw = uuid::Uuid::now_v7().simple().to_string();
    let result = tokio::spawn(check(server.clone(), pw.clone(), names.centre.clone())).await;
    // Clean up whatever happened, then report.
    let mut admin = PgConnection::connect(&server).await.expect("connect");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        names.db
    )))
    .execute(&mut admin)
    .await;
    let nobody = format!("hfx_{}_nobody", names.centre);
    for r in [&names.owner, &names.app, &names.audit, &nobody] {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {r}")))
            .execute(&mut admin)
            .await;
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn check(server: String, pw: String, centre: String) {
    let db = format!("hfx_{centre}");
    let owner = format!("hfx_{centre}_owner");
    let app_url = url_as(&server, &format!("hfx_{centre}_app"), &pw, &db);
    let audit_url = url_as(&server, &format!("hfx_{centre}_audit"), &pw, &db);
    sqlx::any::install_default_drivers();

    setup_sh(&server, &centre, &pw);
    // The node's first start, as the runtime role: it migrates (and so owns what it made).
    let store = Store::open(&app_url, LogState::new())
        .await
        .expect("first start on the runtime role");
    drop(store);
    // The script again: everything goes to the owner, the grants narrow.
    setup_sh(&server, &centre, &pw);
    let mut admin = PgConnection::connect_with(
        &PgConnectOptions::from_str(&server)
            .expect("HFX_TEST_POSTGRES_URL")
            .database(&db),
    )
    .await
    .expect("connect as the test's superuser");
    let (tables, foreign): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE tableowner <> $1) FROM pg_tables WHERE schemaname = 'hfx'",
    )
    .bind(&owner)
    .fetch_one(&mut admin)
    .await
    .expect("count tables");
    assert!(tables >= 10, "only {tables} tables in schema hfx");
    assert_eq!(foreign, 0, "tables not owned by {owner} after setup.sh");

    // Every later start, still as the runtime role.
    let store = Store::open(&app_url, LogState::new())
        .await
        .expect("a later start on the runtime role");
    drop(store);

    let mut app = PgConnection::connect(&app_url).await.expect("app connects");
    allowed(&mut app, "SELECT count(*) FROM log_entries").await;
    allowed(
        &mut app,
        "UPDATE log_payloads SET purged_at_ms = purged_at_ms WHERE false",
    )
    .await;
    allowed(
        &mut app,
        "SELECT pg_advisory_lock(42), pg_advisory_unlock(42)",
    )
    .await;
    for sql in [
        "TRUNCATE log_entries",
        "ALTER TABLE log_entries DISABLE TRIGGER ALL",
        "DROP TRIGGER log_entries_append_only ON log_entries",
        "UPDATE log_entries SET seq = seq WHERE false",
        "DELETE FROM disclosures WHERE false",
        "DELETE FROM log_checkpoints WHERE false",
        "DROP TABLE witness_evidence",
    ] {
        let e = refused(&mut app, sql).await;
        assert!(
            e.contains("permission denied") || e.contains("must be owner"),
            "{sql}: {e}"
        );
    }
    let mut audit = PgConnection::connect(&audit_url)
        .await
        .expect("audit connects");
    allowed(&mut audit, "SELECT count(*) FROM log_entries").await;
    for sql in [
        "INSERT INTO hfx_schema (version, applied_ms) VALUES (-1, 0)",
        "CREATE TABLE hfx_audit_was_here (x int)",
    ] {
        let e = refused(&mut audit, sql).await;
        assert!(
            e.contains("permission denied") || e.contains("read-only"),
            "{sql}: {e}"
        );
    }
    // The database is closed to roles not named in the script.
    let other = format!("hfx_{centre}_nobody");
    allowed(
        &mut admin,
        &format!("CREATE ROLE {other} LOGIN PASSWORD '{pw}'"),
    )
    .await;
    let denied = PgConnection::connect(&url_as(&server, &other, &pw, &db)).await;
    allowed(&mut admin, &format!("DROP ROLE {other}")).await;
    let Err(e) = denied else {
        panic!("a role the script did not name connected");
    };
    assert!(e.to_string().contains("permission denied"), "{e}");
}
