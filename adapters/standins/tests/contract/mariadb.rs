//! The national-standard core on MariaDB/MySQL against the contract, plus its code-table,
//! bad-data and concurrency cases. Needs a server: HFX_TEST_MARIADB_URL (e.g.
//! mysql://root@127.0.0.1:3306). Unset: the tests say SKIPPED and pass (with `CI` set they
//! fail); set but unreachable: they fail.

use crate::server::{ServerCore, seeded};
use hfx_adapters::AdapterError;
use hfx_adapters::CoreSystem;
use hfx_adapters::mariadb::MariadbCore as Core;
use hfx_adapters::model::{AccountStatus, IdType};
use hfx_standins::seed::generate;
use hfx_standins::seeding::{portal_id_code, vendor_fixtures};

const CENTRE: &str = <Core as ServerCore>::CENTRE;

fn server_url() -> Option<String> {
    crate::server::server_url::<Core>()
}

#[tokio::test]
async fn mariadb_contract() {
    let Some(server) = server_url() else { return };
    crate::server::contract::<Core>(&server, crate::N + vendor_fixtures(CENTRE).len() as u64).await;
}

#[tokio::test]
async fn mariadb_portal_id_type_and_vendor_statuses_map_per_the_code_table() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded::<Core>(&server).await;
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
    let (_db, core) = seeded::<Core>(&server).await;
    let pool = core.pool();
    let g = |i| generate(CENTRE, &crate::opts(), i).member;
    let (m5, m6, m8) = (g(5), g(6), g(8));

    // An impossible date.
    sqlx::query("UPDATE GRZHXX SET KHRQ = '20210230' WHERE GRZH = ?")
        .bind(&m5.account_no)
        .execute(pool)
        .await
        .unwrap();
    let e = crate::server::bad_member(&core, &m5, "KHRQ").await;
    assert!(e.contains("20210230"), "{e}");

    // An unknown status code.
    sqlx::query("UPDATE GRZHXX SET GRZHZT = '42' WHERE GRZH = ?")
        .bind(&m6.account_no)
        .execute(pool)
        .await
        .unwrap();
    crate::server::unmapped_status(&core, &m6, "42").await;

    // A negative balance (DECIMAL allows it).
    sqlx::query("UPDATE GRZHXX SET GRZHYE = -12.5 WHERE GRZH = ?")
        .bind(&m8.account_no)
        .execute(pool)
        .await
        .unwrap();
    let e = crate::server::bad_member(&core, &m8, "GRZHYE").await;
    assert!(e.contains("negative"), "{e}");

    // Money is never credited onto a corrupt balance.
    crate::server::no_credit_onto(&core, &m8.account_no).await;

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
    let legacy = crate::server::legacy_ids(&core, "ZJHM").await;
    assert_eq!((legacy.balance_fen, legacy.closed_on), (10_050, None));

    // A posting with an unknown business type; a loan with an impossible issue date.
    let m7 = g(7);
    sqlx::query("UPDATE GRMX SET YWLX = 'ZZ' WHERE GRZH = ? ORDER BY ID DESC LIMIT 1")
        .bind(&m7.account_no)
        .execute(pool)
        .await
        .unwrap();
    crate::server::unmapped_business_type(&core, &m7, "ZZ").await;
    let rec = crate::server::first_borrower::<Core>();
    let contract = &rec.loans[0].loan.contract_no;
    sqlx::query("UPDATE DKXX SET DKFFRQ = '20231301' WHERE JKHTBH = ?")
        .bind(contract)
        .execute(pool)
        .await
        .unwrap();
    crate::server::bad_loan(&core, &rec, "DKFFRQ").await;

    // Other records are not poisoned.
    crate::server::others_not_poisoned(&core).await;
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
    crate::server::concurrent_writes_are_idempotent::<Core>(&server).await;
}

#[tokio::test]
async fn mariadb_factory_and_unreachable_server() {
    crate::server::factory_and_unreachable_server::<Core>().await;
}

#[tokio::test]
async fn mariadb_unknown_hold_state_is_refused() {
    let Some(server) = server_url() else { return };
    crate::server::unknown_hold_state_is_refused::<Core>(&server, async |core, h| {
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
    })
    .await;
}
