//! The national-standard core on MariaDB/MySQL against the contract, plus its code-table,
//! bad-data and concurrency cases. Needs a server: HFX_TEST_MARIADB_URL (e.g.
//! mysql://root@127.0.0.1:3306). Unset: the tests say SKIPPED and pass (with `CI` set they
//! fail); set but unreachable: they fail.

use hfx_adapters::mariadb::MariadbCore;
use hfx_adapters::model::{AccountStatus, IdType};
use hfx_adapters::{AdapterError, CoreSystem};
use hfx_standins::db::mariadb::{create_database, drop_database};
use hfx_standins::seed::generate;
use hfx_standins::seeding::{Seed, portal_id_code, vendor_fixtures};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const CENTRE: &str = "370800000000000";
const VAR: &str = "HFX_TEST_MARIADB_URL";

fn server_url() -> Option<String> {
    hfx_standins::contract::database_url(VAR)
}

/// A database of its own for one test, dropped at the end (also when the test fails).
struct TestDb {
    server: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create(server: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "hfx_test_my_{}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst),
            nanos
        );
        let url = create_database(server, &name)
            .await
            .unwrap_or_else(|e| panic!("{VAR}={server} is set but the server cannot be used: {e}"));
        Self {
            server: server.to_string(),
            name,
            url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                && let Err(e) = rt.block_on(drop_database(&server, &name))
            {
                eprintln!("could not drop test database {name}: {e}");
            }
        })
        .join();
    }
}

async fn seeded(server: &str) -> (TestDb, MariadbCore) {
    let db = TestDb::create(server).await;
    let core = MariadbCore::open(&db.url, None)
        .await
        .expect("open the test database");
    core.seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .expect("seed");
    (db, core)
}

#[tokio::test]
async fn mariadb_contract() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded(&server).await;
    let fixtures = vendor_fixtures(CENTRE).len() as u64;
    assert_eq!(core.member_count().await.unwrap(), crate::N + fixtures);
    hfx_standins::contract::run_all(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    core.seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    assert_eq!(core.member_count().await.unwrap(), crate::N + fixtures);
    core.close().await;
}

#[tokio::test]
async fn mariadb_portal_id_type_and_vendor_statuses_map_per_the_code_table() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded(&server).await;
    let opts = crate::opts();

    // Member 0 (and every tenth resident-id member) is stored with ZJLX 111 and reads as 01.
    let portal: Vec<u64> = (0..crate::N)
        .filter(|i| portal_id_code(*i, generate(CENTRE, &opts, *i).member.id_type))
        .collect();
    assert!(portal.len() >= 20, "{portal:?}");
    for i in portal.iter().take(5) {
        let m = generate(CENTRE, &opts, *i).member;
        let raw: String = sqlx::query_scalar("SELECT ZJLX FROM GRXX WHERE GRZH = ?")
            .bind(&m.account_no)
            .fetch_one(core.pool())
            .await
            .unwrap();
        assert_eq!(raw, "111");
        let got = core
            .member_by_id(IdType::ResidentId, &m.id_number)
            .await
            .unwrap()
            .expect("found by 01");
        assert_eq!(got, m);
    }
    let raw_01: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM GRXX WHERE ZJLX = '01'")
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert!(raw_01 > 150, "{raw_01}");
    // A 111 borrower's loans are found too.
    if let Some(i) = portal
        .iter()
        .copied()
        .find(|i| !generate(CENTRE, &opts, *i).loans.is_empty())
    {
        let m = generate(CENTRE, &opts, i).member;
        assert!(
            !core
                .loans_of(IdType::ResidentId, &m.id_number)
                .await
                .unwrap()
                .is_empty()
        );
    }

    // Only the fixtures carry the vendor extensions: the population is written in standard codes.
    let ext: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM GRZHXX WHERE GRZHZT IN ('07', '09')")
        .fetch_one(core.pool())
        .await
        .unwrap();
    assert_eq!(ext, 2);

    // The vendor fixtures: 07 reads as sealed, 09 as other; a reserve/release keeps the raw code.
    for (k, zt) in vendor_fixtures(CENTRE) {
        let m = generate(CENTRE, &opts, k).member;
        let got = core
            .member_by_id(m.id_type, &m.id_number)
            .await
            .unwrap()
            .expect("fixture");
        let want = if zt == "07" {
            AccountStatus::Sealed
        } else {
            AccountStatus::Other
        };
        assert_eq!(got.status, want, "GRZHZT {zt}");
        assert_eq!(got.account_no, m.account_no);
        if zt == "07" {
            core.reserve("case-07", &m.account_no).await.unwrap();
            core.release("case-07").await.unwrap();
            let raw: String = sqlx::query_scalar("SELECT GRZHZT FROM GRZHXX WHERE GRZH = ?")
                .bind(&m.account_no)
                .fetch_one(core.pool())
                .await
                .unwrap();
            assert_eq!(raw, "07");
        } else {
            match core.reserve("case-09", &m.account_no).await {
                Err(AdapterError::Conflict(_)) => {}
                other => panic!("an account in status 09 cannot be reserved: {other:?}"),
            }
        }
    }
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    core.close().await;
}

#[tokio::test]
async fn mariadb_bad_rows_give_typed_errors_naming_the_record() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded(&server).await;
    let pool = core.pool();
    let g = |i| generate(CENTRE, &crate::opts(), i).member;
    let (m5, m6, m8) = (g(5), g(6), g(8));

    // An impossible date.
    sqlx::query("UPDATE GRZHXX SET KHRQ = '20210230' WHERE GRZH = ?")
        .bind(&m5.account_no)
        .execute(pool)
        .await
        .unwrap();
    let e = core
        .member_by_id(m5.id_type, &m5.id_number)
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::BadRecord { .. }), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains(&m5.account_no) && e.contains("KHRQ") && e.contains("20210230"),
        "{e}"
    );

    // An unknown status code.
    sqlx::query("UPDATE GRZHXX SET GRZHZT = '42' WHERE GRZH = ?")
        .bind(&m6.account_no)
        .execute(pool)
        .await
        .unwrap();
    match core.member_by_id(m6.id_type, &m6.id_number).await {
        Err(AdapterError::UnknownCode { code, record, .. }) => {
            assert!(code == "42" && record == m6.account_no)
        }
        other => panic!("want UnknownCode, got {other:?}"),
    }

    // A negative balance (DECIMAL allows it).
    sqlx::query("UPDATE GRZHXX SET GRZHYE = -12.5 WHERE GRZH = ?")
        .bind(&m8.account_no)
        .execute(pool)
        .await
        .unwrap();
    let e = core
        .member_by_id(m8.id_type, &m8.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&m8.account_no) && e.contains("GRZHYE") && e.contains("negative"),
        "{e}"
    );

    // Money is never credited onto a corrupt balance.
    match core
        .credit_in("case-bad-balance", &m8.account_no, 100, &[])
        .await
    {
        Err(AdapterError::BadRecord { record, .. }) => assert_eq!(record, m8.account_no),
        other => panic!("want BadRecord, got {other:?}"),
    }

    // Legacy rows: an invalid 15-digit id (30 February), and a valid one found by its upgrade.
    for (grzh, zjlx, zjhm) in [
        ("LEGACY0000000001", "01", "320311850230123"),
        ("LEGACY0000000002", "111", "110105491231002"),
    ] {
        sqlx::query("INSERT INTO GRXX (GRZH, XingMing, ZJLX, ZJHM, XingBie, CSNY, SJHM) VALUES (?, '王五', ?, ?, '1', '19491231', '13800000000')")
            .bind(grzh)
            .bind(zjlx)
            .bind(zjhm)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO GRZHXX (GRZH, DWZH, GRJCJS, GRYJCE, DWYJCE, GRZHYE, GRZHSNJZYE, GRZHDNGJYE, GRZHZT, KHRQ, XHRQ, XHYY, JZNY) \
             VALUES (?, 'NODWZH', 3000, 360, 360, 100.5, 100.5, 0, '01', '19950701', '', NULL, '202610')",
        )
        .bind(grzh)
        .execute(pool)
        .await
        .unwrap();
    }
    let e = core
        .member_by_id(IdType::ResidentId, "320311850230123")
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::BadRecord { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("LEGACY0000000001") && e.contains("ZJHM"), "{e}");
    let legacy = core
        .member_by_id(IdType::ResidentId, "11010519491231002X")
        .await
        .unwrap()
        .expect("legacy row");
    assert_eq!(
        (legacy.account_no.as_str(), legacy.id_number.as_str()),
        ("LEGACY0000000002", "11010519491231002X")
    );
    assert_eq!((legacy.balance_fen, legacy.closed_on), (10_050, None));

    // A posting with an unknown business type; a loan with an impossible issue date.
    let m7 = g(7);
    sqlx::query("UPDATE GRMX SET YWLX = 'ZZ' WHERE GRZH = ? ORDER BY ID DESC LIMIT 1")
        .bind(&m7.account_no)
        .execute(pool)
        .await
        .unwrap();
    match core
        .deposits(&m7.account_no, m7.paid_up_to.add_months(-24), m7.paid_up_to)
        .await
    {
        Err(AdapterError::UnknownCode { code, record, .. }) => {
            assert!(code == "ZZ" && record.contains(&m7.account_no), "{record}")
        }
        other => panic!("want UnknownCode, got {other:?}"),
    }
    let borrower = (0..crate::N)
        .find(|i| !generate(CENTRE, &crate::opts(), *i).loans.is_empty())
        .unwrap();
    let rec = generate(CENTRE, &crate::opts(), borrower);
    let contract = &rec.loans[0].loan.contract_no;
    sqlx::query("UPDATE DKXX SET DKFFRQ = '20231301' WHERE JKHTBH = ?")
        .bind(contract)
        .execute(pool)
        .await
        .unwrap();
    let e = core
        .loans_of(rec.member.id_type, &rec.member.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(contract.as_str()) && e.contains("DKFFRQ"), "{e}");

    // Other records are not poisoned.
    let passport = (0..crate::N).find(|i| g(*i).id_type == IdType::Passport);
    for i in [0, 1, 2, 3, 42].into_iter().chain(passport) {
        let m = g(i);
        let got = core
            .member_by_id(m.id_type, &m.id_number)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(got, m);
    }
    // check() flags the unmapped status and an unmapped id type.
    sqlx::query("UPDATE GRXX SET ZJLX = '777' WHERE GRZH = ?")
        .bind(&g(9).account_no)
        .execute(pool)
        .await
        .unwrap();
    let checks = core.check().await;
    let codes = checks
        .iter()
        .find(|c| c.name == "code tables")
        .expect("code tables item");
    assert!(
        !codes.ok && codes.detail.contains("\"42\"") && codes.detail.contains("\"777\""),
        "{checks:?}"
    );
    core.close().await;
}

#[tokio::test]
async fn mariadb_concurrent_writes_are_idempotent() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded(&server).await;
    let core = Arc::new(core);
    let opts = crate::opts();
    let normal: Vec<_> = (0..crate::N)
        .map(|i| generate(CENTRE, &opts, i).member)
        .filter(|m| m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId)
        .take(3)
        .collect();
    let (a, b, c) = (&normal[0], &normal[1], &normal[2]);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (core, acct) = (core.clone(), a.account_no.clone());
            tokio::spawn(async move { core.reserve("race-a", &acct).await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }
    assert!(
        got.windows(2).all(|w| w[0] == w[1]) && got[0].principal_fen == a.balance_fen,
        "{got:?}"
    );

    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let (core, acct) = (core.clone(), b.account_no.clone());
            tokio::spawn(async move { core.reserve(&format!("race-b{k}"), &acct).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(AdapterError::Conflict(_)) => {}
            Err(e) => panic!("want Conflict, got {e:?}"),
        }
    }
    assert_eq!(wins, 1);

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (core, acct) = (core.clone(), c.account_no.clone());
            tokio::spawn(async move { core.credit_in("race-c", &acct, 50_000, &[]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = core
        .member_by_id(c.id_type, &c.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.balance_fen, c.balance_fen + 50_000);
    core.close().await;
}

#[tokio::test]
async fn mariadb_factory_and_unreachable_server() {
    use hfx_adapters::open::{AdapterSettings, open};
    let e = open(&AdapterSettings {
        kind: "mariadb".into(),
        ..Default::default()
    })
    .await
    .err()
    .expect("error");
    assert!(e.to_string().contains("adapter.url"), "{e}");
    let s = AdapterSettings {
        kind: "mariadb".into(),
        url: Some("mysql://root@127.0.0.1:1/nothing".into()),
        timeout_ms: Some(2_000),
        ..Default::default()
    };
    let e = open(&s).await.err().expect("error");
    assert!(e.is_unavailable(), "{e:?}");

    let Some(server) = server_url() else { return };
    let db = TestDb::create(&server).await;
    let s = AdapterSettings {
        kind: "mariadb".into(),
        url: Some(db.url.clone()),
        ..Default::default()
    };
    let core = open(&s).await.unwrap();
    assert_eq!(core.kind(), "mariadb");
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

#[tokio::test]
async fn mariadb_unknown_hold_state_is_refused() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded(&server).await;
    let h = hfx_standins::contract::planted_hold(CENTRE, &crate::opts(), crate::N);
    sqlx::query(
        "INSERT INTO hfx_hold (case_id, GRZH, prev_zt, principal, interest, state) VALUES (?, ?, '01', ?, 0, ?)",
    )
    .bind(&h.case_id)
    .bind(&h.account_no)
    .bind(&h.principal)
    .bind(&h.state)
    .execute(core.pool())
    .await
    .unwrap();
    hfx_standins::contract::unknown_hold_state_is_refused(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    core.close().await;
}
