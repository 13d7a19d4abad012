use hfx_adapters::vendorapi::VendorApiCore;
use hfx_adapters::{AdapterError, CoreSystem};
use hfx_standins::seeding::Seed;
use hfx_standins::vendor::{Faults, StandIn, spawn_standin};
use std::time::Duration;

const CENTRE: &str = "320500000000000";

async fn standin(faults: Faults) -> (tempfile::TempDir, StandIn) {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = spawn_standin(listener, &dir.path().join("vendor"), faults)
        .await
        .unwrap();
    (dir, s)
}

async fn seeded(faults: Faults) -> (tempfile::TempDir, StandIn, VendorApiCore) {
    let (dir, s) = standin(faults).await;
    let core = s.core(Some(Duration::from_secs(10))).unwrap();
    core.seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    (dir, s, core)
}

#[tokio::test]
async fn vendorapi_contract() {
    let (_d, s, core) = seeded(Faults::default()).await;
    assert_eq!(
        hfx_standins::vendor::member_count(&core).await.unwrap(),
        crate::N
    );
    hfx_standins::contract::run_all(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    // through the factory too
    let via = hfx_adapters::open::open(&s.settings()).await.unwrap();
    assert_eq!(via.kind(), "vendorapi");
    let checks = via.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

#[tokio::test]
async fn vendorapi_contract_survives_a_flaky_small_paged_api() {
    // every 7th request fails with 503, pages hold 3 items, and the token lives 1 minute
    let faults = Faults {
        fail_every: Some(7),
        max_page_size: 3,
        ..Faults::default()
    };
    let (_d, s, core) = seeded(faults).await;
    hfx_standins::contract::run_all(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    let st = s.server.stats();
    assert!(st.injected_5xx > 0 && st.transaction_pages > 0, "{st:?}");
}

#[tokio::test]
async fn vendorapi_5xx_burst_is_retried() {
    let (_d, s, core) = seeded(Faults::default()).await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 4).member;
    let before = s.server.stats();
    s.server.fail_next(3);
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, m);
    let after = s.server.stats();
    assert_eq!(after.injected_5xx - before.injected_5xx, 3);
    assert_eq!(after.requests - before.requests, 4);
}

#[tokio::test]
async fn vendorapi_persistent_5xx_and_timeouts_are_unavailable() {
    let (_d, s, _core) = seeded(Faults::default()).await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 4).member;
    let core = s.core(Some(Duration::from_secs(30))).unwrap();
    s.server.set_fail_every(1);
    match core.member_by_id(m.id_type, &m.id_number).await {
        Err(AdapterError::Unavailable { what, .. }) => assert!(
            what.contains("gave up after 6 attempts") && what.contains("E5030"),
            "{what}"
        ),
        other => panic!("want Unavailable, got {other:?}"),
    }
    s.server.set_fail_every(0);
    core.member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    // a server slower than the call's deadline
    let impatient = s.core(Some(Duration::from_millis(300))).unwrap();
    s.server.set_delay(Duration::from_secs(5));
    match impatient.reserve("case-slow", &m.account_no).await {
        Err(AdapterError::Unavailable { what, .. }) => {
            assert!(what.contains("no answer within"), "{what}")
        }
        other => panic!("want Unavailable, got {other:?}"),
    }
    s.server.set_delay(Duration::ZERO);
    let checks = impatient.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
}

#[tokio::test]
async fn vendorapi_429_retry_after_is_honoured() {
    let (_d, s, core) = seeded(Faults::default()).await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 2).member;
    s.server.throttle_next(1);
    let got = core.loans_of(m.id_type, &m.id_number).await.unwrap();
    assert_eq!(
        got.len(),
        hfx_standins::seed::loans_of(CENTRE, &crate::opts(), 2).len()
    );
    assert_eq!(s.server.stats().throttled, 1);
    // a Retry-After longer than the call may wait is Unavailable at once
    let short = s.core(Some(Duration::from_secs(2))).unwrap();
    s.server.set_retry_after(120);
    s.server.throttle_next(1);
    match short.member_by_id(m.id_type, &m.id_number).await {
        Err(AdapterError::Unavailable { what, .. }) => {
            assert!(what.contains("Retry-After 120s"), "{what}")
        }
        other => panic!("want Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn vendorapi_rate_limit_window_is_respected() {
    let faults = Faults {
        rate_limit_per_sec: Some(3),
        ..Faults::default()
    };
    let (_d, s, core) = seeded(faults).await;
    for i in 0..8u64 {
        let p = hfx_standins::seed::generate(CENTRE, &crate::opts(), i).member;
        assert!(
            core.member_by_id(p.id_type, &p.id_number)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert!(s.server.stats().throttled > 0);
}

#[tokio::test]
async fn vendorapi_unknown_status_code_names_the_record() {
    let (_d, s, core) = seeded(Faults::default()).await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 5).member;
    // the vendor's core gives the account its "dormant" status, which the adapter has no mapping for
    sqlx::query("UPDATE grxx SET grzhzt = '07' WHERE grzh = ?1")
        .bind(&m.account_no)
        .execute(s.server.store().pool())
        .await
        .unwrap();
    match core.member_by_id(m.id_type, &m.id_number).await {
        Err(AdapterError::UnknownCode {
            table,
            code,
            record,
        }) => {
            assert_eq!(code, "DORM");
            assert!(table.contains("acctStatus"), "{table}");
            assert!(record.contains(&m.account_no), "{record}");
        }
        other => panic!("want UnknownCode, got {other:?}"),
    }
    // a broken amount in another record is a BadRecord naming it; the rest are served
    let other = hfx_standins::seed::generate(CENTRE, &crate::opts(), 6).member;
    sqlx::query("UPDATE grxx SET grzhye = '12,5' WHERE grzh = ?1")
        .bind(&other.account_no)
        .execute(s.server.store().pool())
        .await
        .unwrap();
    let e = core
        .member_by_id(other.id_type, &other.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&other.account_no) && e.contains("balance"),
        "{e}"
    );
    let fine = hfx_standins::seed::generate(CENTRE, &crate::opts(), 7).member;
    assert_eq!(
        core.member_by_id(fine.id_type, &fine.id_number)
            .await
            .unwrap(),
        Some(fine)
    );
    let checks = core.check().await;
    let codes = checks.iter().find(|c| c.name == "code tables").unwrap();
    assert!(
        !codes.ok && codes.detail.contains("acctStatus \"DORM\""),
        "{checks:?}"
    );
}

#[tokio::test]
async fn vendorapi_pagination_is_followed_to_the_end() {
    let faults = Faults {
        max_page_size: 4,
        ..Faults::default()
    };
    let (_d, s, core) = seeded(faults).await;
    let rec = hfx_standins::seed::generate(CENTRE, &crate::opts(), 1);
    let m = &rec.member;
    assert!(
        rec.deposits.len() > 8,
        "want a member with several pages of history"
    );
    let before = s.server.stats().transaction_pages;
    let got = core
        .deposits(&m.account_no, m.paid_up_to.add_months(-240), m.paid_up_to)
        .await
        .unwrap();
    assert_eq!(got, rec.deposits);
    assert_eq!(
        s.server.stats().transaction_pages - before,
        rec.deposits.len().div_ceil(4) as u64
    );
}

#[tokio::test]
async fn vendorapi_token_is_refreshed_on_401_and_bad_credentials_are_named() {
    let (_d, s, core) = seeded(Faults::default()).await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 3).member;
    let issued = s.server.stats().tokens_issued;
    s.server.revoke_tokens();
    assert!(
        core.member_by_id(m.id_type, &m.id_number)
            .await
            .unwrap()
            .is_some()
    );
    let st = s.server.stats();
    assert_eq!(st.tokens_issued, issued + 1);
    assert!(st.unauthorized >= 1);
    let wrong = VendorApiCore::open(&hfx_adapters::open::AdapterSettings {
        client_secret: Some("not-the-secret".into()),
        ..s.settings()
    })
    .unwrap();
    let e = wrong
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("adapter.client_secret") && e.contains("E1002"),
        "{e}"
    );
    let checks = wrong.check().await;
    assert!(
        checks.iter().any(|c| c.name == "auth" && !c.ok),
        "{checks:?}"
    );
}

#[tokio::test]
async fn vendorapi_factory_names_missing_keys() {
    for (s, key) in [
        (
            hfx_adapters::open::AdapterSettings {
                kind: "vendorapi".into(),
                ..Default::default()
            },
            "adapter.url",
        ),
        (
            hfx_adapters::open::AdapterSettings {
                kind: "vendorapi".into(),
                url: Some("http://127.0.0.1:1".into()),
                ..Default::default()
            },
            "adapter.client_id",
        ),
        (
            hfx_adapters::open::AdapterSettings {
                kind: "vendorapi".into(),
                url: Some("http://127.0.0.1:1".into()),
                client_id: Some("x".into()),
                ..Default::default()
            },
            "adapter.client_secret",
        ),
        (
            hfx_adapters::open::AdapterSettings {
                kind: "vendorapi".into(),
                url: Some("not a url".into()),
                client_id: Some("x".into()),
                client_secret: Some("y".into()),
                ..Default::default()
            },
            "adapter.url",
        ),
    ] {
        let e = hfx_adapters::open::open(&s)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[tokio::test]
async fn vendorapi_unknown_hold_state_is_refused() {
    let (_d, s, core) = seeded(Faults::default()).await;
    // The hold records live in the vendor core's own store.
    let h = hfx_standins::contract::planted_hold(CENTRE, &crate::opts(), crate::N);
    hfx_standins::contract::plant_in_sqlite(s.server.store().pool(), &h)
        .await
        .unwrap();
    hfx_standins::contract::unknown_hold_state_is_refused(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
}
