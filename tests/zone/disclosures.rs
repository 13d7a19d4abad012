//! Disclosure records are part of what the log commits to: an edit of any field of a stored
//! record, made straight in a real node's SQLite store by someone with database access (who
//! first drops the append-only triggers), is reported by `verify` and by `replay`, naming the
//! record.

use crate::audit::{export_of, settle, trusted_key};
use crate::common::{member, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::audit;
use sqlx::Connection;

/// Each column of a disclosure row, and an edit of it (SQL expression).
const EDITS: &[(&str, &str)] = &[
    ("at_ms", "at_ms + 1"),
    ("direction", "'refused'"),
    ("peer", "'999999999999999'"),
    ("acting_person", "acting_person || 'x'"),
    ("purpose", "'loan_application'"),
    ("legal_basis", "legal_basis || 'x'"),
    ("outcome", "'not found'"),
    ("message_id", "message_id || 'x'"),
    ("subject_masked", "'李*'"),
    ("subject_key", "subject_key || 'x'"),
    ("log_index", "COALESCE(log_index, 0) + 1"),
    ("commit_index", "NULL"),
];

/// `hfx audit verify` (against the zone's directory) and `hfx audit replay` fail on the
/// export in `bytes`, naming the record.
fn cli_reports(file: &std::path::Path, bytes: &[u8], zone: &hfx_zone::launcher::Zone, name: &str) {
    std::fs::write(file, bytes).unwrap();
    let zd = zone.zone_dir();
    let (dir, root) = (zd.directory_path(), zd.root_cert_path());
    let verify = crate::common::hfx()
        .args(["audit", "verify", "--directory"])
        .arg(&dir)
        .arg("--root")
        .arg(&root)
        .arg(file)
        .output()
        .unwrap();
    let replay = crate::common::hfx()
        .args(["audit", "replay"])
        .arg(file)
        .output()
        .unwrap();
    for (what, out) in [("verify", verify), ("replay", replay)] {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && text.contains(name),
            "hfx audit {what}: {:?}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_any_field_of_a_stored_disclosure_is_caught_by_verify_and_replay() {
    let (tmp, zone) = zone(2).await;
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let clerk = zone.client(&a, Role::Clerk).unwrap();
    for purpose in [
        pb::Purpose::IdentityConfirmation,
        pb::Purpose::TransferCheck,
        pb::Purpose::IdentityConfirmation,
    ] {
        clerk.query_member(query(&b, &m, purpose)).await.unwrap();
    }
    settle(&zone).await;

    // Both sides' records are committed, and the clean exports agree.
    for code in [&a, &b] {
        let (_, e) = export_of(&zone, code).await;
        assert_eq!(e.disclosures.len(), 3, "{code}");
        assert!(
            e.disclosures
                .iter()
                .all(|d| d.commit_index.is_some() && d.id.is_some()),
            "{code}: {:?}",
            e.disclosures
        );
        let v = audit::verify(&e, Some(&trusted_key(&zone, code)), 1, &|_, _| {});
        assert!(v.problems.is_empty(), "{code}: {:?}", v.problems);
        assert_eq!((v.disclosures_committed, v.disclosures_uncommitted), (3, 0));
        let r = audit::replay(&e);
        assert!(r.differences.is_empty(), "{code}: {:?}", r.differences);
        assert_eq!(r.compared, 3);
    }

    // The answering side's store: its "sent" records point at their request entries.
    let db = tmp.path().join("nodes").join(&b).join("node.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM disclosures")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // The store refuses the edit until its triggers are gone.
    assert!(
        sqlx::query("UPDATE disclosures SET outcome = 'x'")
            .execute(&mut conn)
            .await
            .is_err(),
        "disclosures are append-only"
    );
    for t in ["disclosures_no_update", "disclosures_no_delete"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER {t}")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query("CREATE TABLE orig AS SELECT * FROM disclosures WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let name = format!("disclosure #{id} ");
    let key = trusted_key(&zone, &b);
    for (col, expr) in EDITS {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE disclosures SET {col} = {expr} WHERE id = $1"
        )))
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
        let (bytes, e) = export_of(&zone, &b).await;
        if *col == "outcome" {
            cli_reports(&tmp.path().join("edited.hfxlog"), &bytes, &zone, &name);
        }
        let v = audit::verify(&e, Some(&key), 1, &|_, _| {});
        assert!(
            v.problems.iter().any(|p| p.detail.contains(&name)),
            "{col}: verify does not name the record: {:?}",
            v.problems
        );
        let r = audit::replay(&e);
        assert!(
            r.differences.iter().any(|p| p.detail.contains(&name)),
            "{col}: replay does not name the record: {:?}",
            r.differences
        );
        // Where the record still points at its commitment, replay names the field.
        if *col != "commit_index" {
            assert!(
                r.differences
                    .iter()
                    .any(|p| p.kind == "field_differs" && p.detail.contains(&format!(": {col}: "))),
                "{col}: replay does not name the field: {:?}",
                r.differences
            );
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE disclosures SET {col} = (SELECT {col} FROM orig) WHERE id = $1"
        )))
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    }

    // Restored, it verifies again; deleted, its commitment entry is left unclaimed.
    let (_, e) = export_of(&zone, &b).await;
    assert!(
        audit::verify(&e, Some(&key), 1, &|_, _| {})
            .problems
            .is_empty()
    );
    assert!(audit::replay(&e).differences.is_empty());
    sqlx::query("DELETE FROM disclosures WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, e) = export_of(&zone, &b).await;
    let v = audit::verify(&e, Some(&key), 1, &|_, _| {});
    assert!(
        v.problems.iter().any(|p| p.kind == "disclosure_missing"),
        "{:?}",
        v.problems
    );
    assert!(
        audit::replay(&e)
            .differences
            .iter()
            .any(|p| p.kind == "missing_in_store"),
    );

    // Reconciling the two centres ignores the commitment entries: no breaks.
    let (_, ea) = export_of(&zone, &a).await;
    let rep = audit::reconcile(&[ea, e], hfx_tlog::now_ms());
    assert!(rep.breaks.is_empty(), "{:?}", rep.breaks);
    assert_eq!(rep.matched, 6, "3 requests and 3 replies");
}

/// A store with records from before the commitment (inserted without it, as schema 2 wrote
/// them), then committed ones: the export says which are which, verify and replay accept the
/// old ones as "uncommitted (written before schema 3)", and an uncommitted record after the
/// committed ones is reported.
async fn old_records_are_reported_not_failed(url: &str) {
    use hfx_node::log::{Envelope, LogState, RECV};
    use hfx_node::store::disclosures::{LogLink, NewDisclosure};
    use hfx_node::store::{Store, Val, WriteOp};
    let store = Store::open(url, LogState::new()).await.unwrap();
    let peer = "320700000000000";
    let request = |mid: &str| WriteOp::LogAppend {
        envelope: Envelope::draft(RECV, peer, mid, "", "T#request", mid.as_bytes()),
        payload: mid.as_bytes().to_vec(),
    };
    // As a store before schema 3 wrote them: no commitment entry, no commit_index.
    const OLD: &str = "INSERT INTO disclosures (at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, log_index) VALUES ($1, 'sent', $2, 'p', 'x', 'l', 'o', $3, 's', NULL)";
    let old = |i: i64, mid: &str| WriteOp::Sql {
        sql: OLD,
        args: vec![Val::I64(i), peer.into(), mid.into()],
    };
    for i in 0..2 {
        let mid = format!("old{i}");
        store
            .write(vec![request(&mid), old(i, &mid)])
            .await
            .unwrap();
    }
    for i in 0..3 {
        let mid = format!("new{i}");
        let d = NewDisclosure {
            direction: "sent",
            peer,
            acting_person: "320700000000000/clerk/c1",
            purpose: "identity_confirmation",
            legal_basis: "basis",
            outcome: "disclosed",
            message_id: &mid,
            subject_masked: "张* 320102****0011",
            log_index: LogLink::At(0),
        };
        store.write(vec![request(&mid), d.op()]).await.unwrap();
    }
    let export = |store: Store| async move {
        let header = hfx_tlog::audit::ExportHeader {
            centre: "320300000000000".into(),
            origin: "o".into(),
            vkey: String::new(),
        };
        let mut buf = Vec::new();
        store
            .export(&header, true, &mut buf, &|_, _| {})
            .await
            .unwrap();
        audit::parse(&mut std::io::Cursor::new(&buf), &|_, _| {}).unwrap()
    };
    let e = export(store.clone()).await;
    let committed: Vec<_> = e
        .disclosures
        .iter()
        .map(|d| d.commit_index.is_some())
        .collect();
    assert_eq!(committed, [false, false, true, true, true]);
    assert!(e.disclosures[2..].iter().all(|d| d.log_index == Some(0)));
    let c = audit::check_disclosures(&e);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!((c.committed, c.uncommitted_before_schema), (3, 2));
    assert!(
        c.summary().ends_with(
            "3 disclosure records committed to the log, 2 uncommitted (written before schema 3)"
        ),
        "{}",
        c.summary()
    );
    let r = audit::replay(&e);
    assert_eq!((r.compared, r.uncommitted_before_schema), (3, 2));
    assert!(
        r.differences.iter().all(|p| p.kind == "missing_in_log"),
        "only the test's made-up exchanges differ: {:?}",
        r.differences
    );
    // New records are always committed: one written without its commitment now is caught.
    store
        .write(vec![request("late"), old(9, "late")])
        .await
        .unwrap();
    let e = export(store.clone()).await;
    let c = audit::check_disclosures(&e);
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert_eq!(c.problems[0].kind, "disclosure_uncommitted");
    assert!(
        c.problems[0].detail.contains("disclosure #6 "),
        "{:?}",
        c.problems
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disclosures_from_before_the_commitment_are_reported_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    old_records_are_reported_not_failed(&format!(
        "sqlite://{}",
        tmp.path().join("node.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn disclosures_from_before_the_commitment_are_reported_on_postgres() {
    let Some(server) = crate::common::db_url("HFX_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let name = format!("hfx_disclosures_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
    old_records_are_reported_not_failed(&format!("{base}/{name}")).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}
