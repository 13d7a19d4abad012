//! The PostgreSQL core against the contract, plus its bad-data and concurrency cases. Needs a
//! server: HFX_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres). Unset: the
//! tests say SKIPPED and pass (with `CI` set they fail); set but unreachable: they fail.

use crate::server::{ServerCore, TestDb, seeded};
use hfx_adapters::AdapterError;
use hfx_adapters::CoreSystem;
use hfx_adapters::postgres::PostgresCore as Core;
use hfx_standins::seed::generate;
use hfx_standins::seeding::Seed;

const CENTRE: &str = <Core as ServerCore>::CENTRE;

fn server_url() -> Option<String> {
    crate::server::server_url::<Core>()
}

#[tokio::test]
async fn postgres_contract() {
    let Some(server) = server_url() else { return };
    crate::server::contract::<Core>(&server, crate::N).await;
}

#[tokio::test]
async fn postgres_seeds_out_of_order_chunks() {
    let Some(server) = server_url() else { return };
    let db = TestDb::<Core>::create(&server).await;
    let core = Core::open(&db.url, None).await.unwrap();
    // An odd start: the first member's co-borrower (index start - 1) is written ahead of it.
    core.seed(CENTRE, &crate::opts(), 101, 139, &|_| {})
        .await
        .unwrap();
    core.seed(CENTRE, &crate::opts(), 0, 101, &|_| {})
        .await
        .unwrap();
    assert_eq!(core.member_count().await.unwrap(), 240);
    hfx_standins::contract::reads(&core, CENTRE, &crate::opts(), 240)
        .await
        .unwrap();
    core.close().await;
}

#[tokio::test]
async fn postgres_bad_rows_give_typed_errors_naming_the_record() {
    let Some(server) = server_url() else { return };
    let (_db, core) = seeded::<Core>(&server).await;
    let pool = core.pool();
    let g = |i| generate(CENTRE, &crate::opts(), i).member;
    let (m5, m6, m8, m9) = (g(5), g(6), g(8), g(9));

    // An impossible date: a migration's 'infinity' sentinel.
    sqlx::query("UPDATE account SET opened_at = 'infinity' WHERE account_no = $1")
        .bind(&m5.account_no)
        .execute(pool)
        .await
        .unwrap();
    crate::server::bad_member(&core, &m5, "opened_at").await;

    // An unknown status text.
    sqlx::query("UPDATE account SET status = 'dormant' WHERE account_no = $1")
        .bind(&m6.account_no)
        .execute(pool)
        .await
        .unwrap();
    crate::server::unmapped_status(&core, &m6, "dormant").await;
    match core.reserve("case-dormant", &m6.account_no).await {
        Err(AdapterError::UnknownCode { code, .. }) => assert_eq!(code, "dormant"),
        other => panic!("want UnknownCode, got {other:?}"),
    }

    // Garbage and negative money: NUMERIC allows NaN, and the schema allows a negative balance.
    sqlx::query("UPDATE account SET balance = 'NaN' WHERE account_no = $1")
        .bind(&m8.account_no)
        .execute(pool)
        .await
        .unwrap();
    let e = crate::server::bad_member(&core, &m8, "balance").await;
    assert!(e.contains("NaN"), "{e}");
    sqlx::query("UPDATE account SET balance = -5 WHERE account_no = $1")
        .bind(&m9.account_no)
        .execute(pool)
        .await
        .unwrap();
    crate::server::bad_member(&core, &m9, "negative").await;

    // Money is never credited onto a corrupt balance.
    crate::server::no_credit_onto(&core, &m9.account_no).await;

    // Legacy rows: an invalid 15-digit id (30 February), and a valid one found by its upgrade.
    for (pid, id, acct) in [
        (900_001i64, "320311850230123", "LEGACY0000000001"),
        (900_002, "110105491231002", "LEGACY0000000002"),
    ] {
        sqlx::query(
            "INSERT INTO person (person_id, id_type, id_number, full_name, sex, birth_date, mobile) \
             VALUES ($1, 'resident_id', $2, '王五', 'male', '1949-12-31', '13800000000')",
        )
        .bind(pid)
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO account (account_no, person_id, employer_id, deposit_base, member_monthly, employer_monthly, balance, \
             carried_over, this_year, status, opened_at, paid_up_to) \
             VALUES ($1, $2, 1, 3000, 360, 360, 100.5, 100.5, 0, 'normal', '1995-07-01 09:00+08', '2026-10-01')",
        )
        .bind(acct)
        .bind(pid)
        .execute(pool)
        .await
        .unwrap();
    }
    let legacy = crate::server::legacy_ids(&core, "id_number").await;
    assert_eq!(legacy.balance_fen, 10_050);
    assert_eq!(
        legacy.opened_on,
        chrono::NaiveDate::from_ymd_opt(1995, 7, 1).unwrap()
    );

    // A posting with an unknown business type names the posting; a loan with NaN names the loan.
    let m7 = g(7);
    sqlx::query(
        "UPDATE account_posting SET business_type = 'bonus' WHERE posting_id = \
         (SELECT max(posting_id) FROM account_posting WHERE account_no = $1)",
    )
    .bind(&m7.account_no)
    .execute(pool)
    .await
    .unwrap();
    crate::server::unmapped_business_type(&core, &m7, "bonus").await;
    let rec = crate::server::first_borrower::<Core>();
    let contract = &rec.loans[0].loan.contract_no;
    sqlx::query("UPDATE loan SET outstanding = 'NaN' WHERE contract_no = $1")
        .bind(contract)
        .execute(pool)
        .await
        .unwrap();
    crate::server::bad_loan(&core, &rec, "outstanding").await;

    // Other records are not poisoned.
    crate::server::others_not_poisoned(&core).await;
    let checks = core.check().await;
    let codes = checks
        .iter()
        .find(|c| c.name == "code tables")
        .expect("code tables item");
    assert!(!codes.ok && codes.detail.contains("dormant"), "{checks:?}");
    let sample = checks
        .iter()
        .find(|c| c.name == "sample read")
        .expect("sample read item");
    assert!(
        checks
            .iter()
            .filter(|c| c.name != "code tables" && c.name != "sample read")
            .all(|c| c.ok),
        "{checks:?}"
    );
    assert!(!sample.detail.is_empty());
    core.close().await;
}

#[tokio::test]
async fn postgres_concurrent_writes_are_idempotent() {
    let Some(server) = server_url() else { return };
    crate::server::concurrent_writes_are_idempotent::<Core>(&server).await;
}

#[tokio::test]
async fn postgres_factory_and_unreachable_server() {
    crate::server::factory_and_unreachable_server::<Core>().await;
}

#[tokio::test]
async fn postgres_unknown_hold_state_is_refused() {
    let Some(server) = server_url() else { return };
    crate::server::unknown_hold_state_is_refused::<Core>(&server, async |core, h| {
        sqlx::query(
            "INSERT INTO hfx_hold (case_id, account_no, prev_status, principal, interest, state) \
             VALUES ($1, $2, 'normal', $3::numeric, 0, $4)",
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
