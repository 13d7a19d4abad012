//! What the cases against a database server (postgres, mariadb) share: a scratch database per
//! test, the seeded core, and the cases whose bodies are the same for both kinds.

use hfx_adapters::mariadb::MariadbCore;
use hfx_adapters::model::{AccountStatus, IdType};
use hfx_adapters::postgres::PostgresCore;
use hfx_adapters::{AdapterError, CoreSystem};
use hfx_standins::db;
use hfx_standins::seed::generate;
use hfx_standins::seeding::Seed;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A core system kind that lives on a database server.
pub(crate) trait ServerCore: CoreSystem + Seed + Sized {
    /// The adapter kind ([`CoreSystem::kind`], `adapter.kind`).
    const KIND: &'static str;
    /// The environment variable with the server's URL.
    const VAR: &'static str;
    /// The centre the population is seeded for.
    const CENTRE: &'static str;
    /// What the names of its scratch databases start with.
    const DB_PREFIX: &'static str;
    /// A URL of the kind where no server listens.
    const UNREACHABLE: &'static str;

    async fn create_database(server: &str, name: &str) -> Result<String, AdapterError>;
    async fn drop_database(server: &str, name: &str) -> Result<(), AdapterError>;
    async fn open(url: &str) -> Result<Self, AdapterError>;
    async fn close(&self);
    async fn member_count(&self) -> Result<u64, AdapterError>;
}

impl ServerCore for PostgresCore {
    const KIND: &'static str = "postgres";
    const VAR: &'static str = "HFX_TEST_POSTGRES_URL";
    const CENTRE: &'static str = "320300000000000";
    const DB_PREFIX: &'static str = "hfx_test_pg";
    const UNREACHABLE: &'static str = "postgres://postgres@127.0.0.1:1/nothing";

    async fn create_database(server: &str, name: &str) -> Result<String, AdapterError> {
        db::postgres::create_database(server, name).await
    }
    async fn drop_database(server: &str, name: &str) -> Result<(), AdapterError> {
        db::postgres::drop_database(server, name).await
    }
    async fn open(url: &str) -> Result<Self, AdapterError> {
        PostgresCore::open(url, None).await
    }
    async fn close(&self) {
        PostgresCore::close(self).await
    }
    async fn member_count(&self) -> Result<u64, AdapterError> {
        PostgresCore::member_count(self).await
    }
}

impl ServerCore for MariadbCore {
    const KIND: &'static str = "mariadb";
    const VAR: &'static str = "HFX_TEST_MARIADB_URL";
    const CENTRE: &'static str = "370800000000000";
    const DB_PREFIX: &'static str = "hfx_test_my";
    const UNREACHABLE: &'static str = "mysql://root@127.0.0.1:1/nothing";

    async fn create_database(server: &str, name: &str) -> Result<String, AdapterError> {
        db::mariadb::create_database(server, name).await
    }
    async fn drop_database(server: &str, name: &str) -> Result<(), AdapterError> {
        db::mariadb::drop_database(server, name).await
    }
    async fn open(url: &str) -> Result<Self, AdapterError> {
        MariadbCore::open(url, None).await
    }
    async fn close(&self) {
        MariadbCore::close(self).await
    }
    async fn member_count(&self) -> Result<u64, AdapterError> {
        MariadbCore::member_count(self).await
    }
}

/// The server's URL, or `None` (the test says SKIPPED) where the variable is unset.
pub(crate) fn server_url<C: ServerCore>() -> Option<String> {
    hfx_standins::contract::database_url(C::VAR)
}

/// A database of its own for one test, dropped at the end (also when the test fails).
pub(crate) struct TestDb<C: ServerCore + 'static> {
    server: String,
    name: String,
    pub url: String,
    kind: PhantomData<fn() -> C>,
}

impl<C: ServerCore + 'static> TestDb<C> {
    pub async fn create(server: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{}_{}_{}_{}",
            C::DB_PREFIX,
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst),
            nanos
        );
        let url = C::create_database(server, &name).await.unwrap_or_else(|e| {
            panic!(
                "{}={server} is set but the server cannot be used: {e}",
                C::VAR
            )
        });
        Self {
            server: server.to_string(),
            name,
            url,
            kind: PhantomData,
        }
    }
}

impl<C: ServerCore + 'static> Drop for TestDb<C> {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                && let Err(e) = rt.block_on(C::drop_database(&server, &name))
            {
                eprintln!("could not drop test database {name}: {e}");
            }
        })
        .join();
    }
}

/// A scratch database seeded with the population of [`crate::N`] members.
pub(crate) async fn seeded<C: ServerCore + 'static>(server: &str) -> (TestDb<C>, C) {
    let db = TestDb::<C>::create(server).await;
    let core = C::open(&db.url).await.expect("open the test database");
    core.seed(C::CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .expect("seed");
    (db, core)
}

/// The contract, and seeding again keeps every row as it is: `members` accounts before and after.
pub(crate) async fn contract<C: ServerCore + 'static>(server: &str, members: u64) {
    let (_db, core) = seeded::<C>(server).await;
    let core = &core;
    assert_eq!(core.member_count().await.unwrap(), members);
    hfx_standins::contract::run_all(core, C::CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    core.seed(C::CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    assert_eq!(core.member_count().await.unwrap(), members);
    core.close().await;
}

/// Members 0-3, 42 and the first passport holder read as generated: bad rows planted elsewhere
/// poison no other record.
pub(crate) async fn others_not_poisoned<C: ServerCore>(core: &C) {
    let g = |i| generate(C::CENTRE, &crate::opts(), i).member;
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
}

/// Racing reserves of one case agree, racing cases for one account leave one winner, racing
/// credits of one case credit once.
pub(crate) async fn concurrent_writes_are_idempotent<C: ServerCore + 'static>(server: &str) {
    let (_db, core) = seeded::<C>(server).await;
    let core = Arc::new(core);
    let opts = crate::opts();
    let normal: Vec<_> = (0..crate::N)
        .map(|i| generate(C::CENTRE, &opts, i).member)
        .filter(|m| m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId)
        .take(3)
        .collect();
    let (a, b, c) = (&normal[0], &normal[1], &normal[2]);

    // Eight racing reserves of one case: all get the same reservation.
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

    // Eight different cases race for one account: exactly one wins, the rest conflict.
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

    // Eight racing credits of one case: credited once.
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

/// The factory: a missing URL names the key, a closed port is Unavailable (no server needed);
/// with a server, it opens the kind and the self-test passes.
pub(crate) async fn factory_and_unreachable_server<C: ServerCore + 'static>() {
    use hfx_adapters::open::{AdapterSettings, open};
    let e = open(&AdapterSettings {
        kind: C::KIND.into(),
        ..Default::default()
    })
    .await
    .err()
    .expect("error");
    assert!(e.to_string().contains("adapter.url"), "{e}");
    let s = AdapterSettings {
        kind: C::KIND.into(),
        url: Some(C::UNREACHABLE.into()),
        timeout_ms: Some(2_000),
        ..Default::default()
    };
    let e = open(&s).await.err().expect("error");
    assert!(e.is_unavailable(), "{e:?}");

    let Some(server) = server_url::<C>() else {
        return;
    };
    let db = TestDb::<C>::create(&server).await;
    let s = AdapterSettings {
        kind: C::KIND.into(),
        url: Some(db.url.clone()),
        ..Default::default()
    };
    let core = open(&s).await.unwrap();
    assert_eq!(core.kind(), C::KIND);
    // A fresh database holds no member: only the sample read fails, and says so.
    let checks = core.check().await;
    assert!(
        checks.iter().all(|c| c.ok == (c.name != "sample read")),
        "{checks:?}"
    );
    assert!(
        checks.iter().any(|c| c.detail == hfx_adapters::EMPTY_CORE),
        "{checks:?}"
    );
}

/// With `plant` having written [`hfx_standins::contract::planted_hold`] into the core's
/// `hfx_hold`, every write of the case is refused.
pub(crate) async fn unknown_hold_state_is_refused<C: ServerCore + 'static>(
    server: &str,
    plant: impl AsyncFn(&C, &hfx_standins::contract::PlantedHold),
) {
    let (_db, core) = seeded::<C>(server).await;
    let h = hfx_standins::contract::planted_hold(C::CENTRE, &crate::opts(), crate::N);
    plant(&core, &h).await;
    hfx_standins::contract::unknown_hold_state_is_refused(
        &core,
        C::CENTRE,
        &crate::opts(),
        crate::N,
    )
    .await
    .unwrap();
    core.close().await;
}

/// The first member of the population with a loan.
pub(crate) fn first_borrower<C: ServerCore>() -> hfx_standins::seed::SeedRecord {
    (0..crate::N)
        .map(|i| generate(C::CENTRE, &crate::opts(), i))
        .find(|r| !r.loans.is_empty())
        .unwrap()
}

/// Reading `m` fails with a bad record that names the account and `col`; the error's text.
pub(crate) async fn bad_member(
    core: &impl CoreSystem,
    m: &hfx_adapters::model::Member,
    col: &str,
) -> String {
    let e = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::BadRecord { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains(&m.account_no) && e.contains(col), "{e}");
    e
}

/// Reading `m` fails naming the unmapped status `code` and the account.
pub(crate) async fn unmapped_status(
    core: &impl CoreSystem,
    m: &hfx_adapters::model::Member,
    code: &str,
) {
    match core.member_by_id(m.id_type, &m.id_number).await {
        Err(AdapterError::UnknownCode {
            code: got, record, ..
        }) => {
            assert!(got == code && record == m.account_no)
        }
        other => panic!("want UnknownCode, got {other:?}"),
    }
}

/// Money is never credited onto a corrupt balance.
pub(crate) async fn no_credit_onto(core: &impl CoreSystem, account_no: &str) {
    match core
        .credit_in("case-bad-balance", account_no, 100, &[])
        .await
    {
        Err(AdapterError::BadRecord { record, .. }) => assert_eq!(record, account_no),
        other => panic!("want BadRecord, got {other:?}"),
    }
}

/// With the two legacy rows planted (LEGACY0000000001: an invalid 15-digit id, 30 February;
/// LEGACY0000000002: 110105491231002): the first is a bad record naming `id_col`, the second is
/// found by its 18-digit upgrade. The second, as read.
pub(crate) async fn legacy_ids(
    core: &impl CoreSystem,
    id_col: &str,
) -> hfx_adapters::model::Member {
    let e = core
        .member_by_id(IdType::ResidentId, "320311850230123")
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::BadRecord { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("LEGACY0000000001") && e.contains(id_col), "{e}");
    let legacy = core
        .member_by_id(IdType::ResidentId, "11010519491231002X")
        .await
        .unwrap()
        .expect("legacy 15-digit row");
    assert_eq!(
        (legacy.account_no.as_str(), legacy.id_number.as_str()),
        ("LEGACY0000000002", "11010519491231002X")
    );
    legacy
}

/// `m`'s postings within two years fail naming the unmapped business type `code` and the account.
pub(crate) async fn unmapped_business_type(
    core: &impl CoreSystem,
    m: &hfx_adapters::model::Member,
    code: &str,
) {
    match core
        .deposits(&m.account_no, m.paid_up_to.add_months(-24), m.paid_up_to)
        .await
    {
        Err(AdapterError::UnknownCode {
            code: got, record, ..
        }) => assert!(got == code && record.contains(&m.account_no), "{record}"),
        other => panic!("want UnknownCode, got {other:?}"),
    }
}

/// `rec`'s loans fail naming its first contract and `col`.
pub(crate) async fn bad_loan(
    core: &impl CoreSystem,
    rec: &hfx_standins::seed::SeedRecord,
    col: &str,
) {
    let contract = &rec.loans[0].loan.contract_no;
    let e = core
        .loans_of(rec.member.id_type, &rec.member.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(contract.as_str()) && e.contains(col), "{e}");
}
