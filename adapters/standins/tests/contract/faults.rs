//! The fault cases (hfx_standins::contract::run_faults) against every kind: through a
//! FaultyCore around each adapter, and through the stand-ins' own faults (the vendor API server
//! answering 503 or cutting the connection after it applied a write; the batch run losing an
//! instruction, or applying it and losing its result). The restart between two writes is the
//! real one for each kind: sqlite drops and reopens the adapter, PostgreSQL terminates the
//! adapter's sessions (`pg_terminate_backend`), MariaDB `KILL`s them, the vendor API and batch
//! stand-ins stop and start again on their data.

use crate::server::{ServerCore, TestDb, seeded, server_url};
use hfx_adapters::batchfile::BatchfileCore;
use hfx_adapters::faults::{FaultPlan, FaultWhen, FaultyCore, WriteOp, parse_faults};
use hfx_adapters::mariadb::MariadbCore;
use hfx_adapters::postgres::PostgresCore;
use hfx_adapters::sqlite::SqliteCore;
use hfx_adapters::{AdapterError, CoreSystem};
use hfx_standins::batch::{BatchFault, BatchRunner, RunnerTask};
use hfx_standins::contract::{
    FaultHarness, FaultSwitch, run_faults, sqlite_credit_of, sqlite_hold_of,
};
use hfx_standins::seeding::Seed;
use hfx_standins::vendor::{Faults, StandIn, WriteFault, spawn_standin};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const SQLITE_CENTRE: &str = "340600000000000";
const VENDOR_CENTRE: &str = "320500000000000";
const BATCH_CENTRE: &str = "320300000000000";
/// A batch adapter's wait for a result in the fault cases: a lost result costs this much.
const BATCH_WAIT: Duration = Duration::from_secs(5);

/// The core system behind a harness, and how it restarts.
enum Backend {
    Sqlite {
        path: PathBuf,
        core: Arc<SqliteCore>,
    },
    Postgres {
        _db: TestDb<PostgresCore>,
        core: Arc<PostgresCore>,
    },
    Mariadb {
        _db: TestDb<MariadbCore>,
        core: Arc<MariadbCore>,
    },
    Vendor {
        standin: StandIn,
        core: Arc<hfx_adapters::vendorapi::VendorApiCore>,
        /// After-apply faults cut the connection (else: 503).
        cut: bool,
    },
    Batch {
        root: PathBuf,
        runner: Arc<BatchRunner>,
        task: Option<RunnerTask>,
        core: Arc<BatchfileCore>,
    },
}

struct Harness {
    _dir: Option<tempfile::TempDir>,
    backend: Backend,
    /// The FaultyCore the cases call and arm, or `None`: the stand-in's own faults.
    faulty: Option<FaultyCore>,
    /// Faults the stand-in injected before its restarts (its counters start again).
    fired_before: u64,
    restarts: u32,
}

impl Harness {
    fn new(dir: Option<tempfile::TempDir>, backend: Backend, faulty: bool) -> Self {
        let mut h = Self {
            _dir: dir,
            backend,
            faulty: None,
            fired_before: 0,
            restarts: 0,
        };
        if faulty {
            h.faulty = Some(FaultyCore::new(h.inner(), FaultPlan::default()));
        }
        h
    }

    fn inner(&self) -> Arc<dyn CoreSystem> {
        match &self.backend {
            Backend::Sqlite { core, .. } => core.clone(),
            Backend::Postgres { core, .. } => core.clone(),
            Backend::Mariadb { core, .. } => core.clone(),
            Backend::Vendor { core, .. } => core.clone(),
            Backend::Batch { core, .. } => core.clone(),
        }
    }

    fn native_fired(&self) -> u64 {
        match &self.backend {
            Backend::Vendor { standin, .. } => FaultSwitch::fired(&standin.server),
            Backend::Batch { runner, .. } => FaultSwitch::fired(&**runner),
            _ => 0,
        }
    }
}

/// The stand-ins' own faults (a harness without a FaultyCore).
impl FaultSwitch for Harness {
    fn arm(&self, op: WriteOp, when: FaultWhen, times: u32) {
        match &self.backend {
            Backend::Vendor {
                standin, cut: true, ..
            } if when == FaultWhen::AfterApply => {
                standin
                    .server
                    .fail_write(op, WriteFault::AfterCut, u64::from(times));
            }
            Backend::Vendor { standin, .. } => standin.server.arm(op, when, times),
            Backend::Batch { runner, .. } => runner.arm(op, when, times),
            _ => panic!("this kind has no faults of its own: use a FaultyCore"),
        }
    }
    fn fired(&self) -> u64 {
        self.fired_before + self.native_fired()
    }
}

#[async_trait::async_trait]
impl FaultHarness for Harness {
    fn core(&self) -> &dyn CoreSystem {
        match (&self.faulty, &self.backend) {
            (Some(f), _) => f,
            (None, Backend::Sqlite { core, .. }) => &**core,
            (None, Backend::Postgres { core, .. }) => &**core,
            (None, Backend::Mariadb { core, .. }) => &**core,
            (None, Backend::Vendor { core, .. }) => &**core,
            (None, Backend::Batch { core, .. }) => &**core,
        }
    }

    fn faults(&self) -> &dyn FaultSwitch {
        match &self.faulty {
            Some(f) => f,
            None => self,
        }
    }

    async fn restart(&mut self) -> Result<(), String> {
        self.fired_before += self.native_fired();
        self.restarts += 1;
        match &mut self.backend {
            Backend::Sqlite { path, core } => {
                core.pool().close().await;
                *core = Arc::new(SqliteCore::open(path).await.map_err(|e| e.detail())?);
            }
            Backend::Postgres { core, .. } => {
                let ended = end_postgres_sessions(core).await?;
                if ended == 0 {
                    return Err("no adapter session to terminate".into());
                }
            }
            Backend::Mariadb { core, .. } => {
                let ended = end_mariadb_sessions(core).await?;
                if ended == 0 {
                    return Err("no adapter connection to kill".into());
                }
            }
            Backend::Vendor { standin, .. } => {
                standin.restart().await.map_err(|e| e.detail())?;
            }
            Backend::Batch {
                root, runner, task, ..
            } => {
                drop(task.take());
                runner.master().pool().close().await;
                let fresh = Arc::new(BatchRunner::open(root).await.map_err(|e| e.detail())?);
                *task = Some(fresh.clone().spawn(Duration::from_millis(30)));
                *runner = fresh;
            }
        }
        if self.faulty.is_some() {
            // The same adapter (it reconnects), or, for sqlite, the reopened one.
            self.faulty = Some(FaultyCore::new(self.inner(), FaultPlan::default()));
        }
        Ok(())
    }

    async fn hold_of(&self, case_id: &str) -> Result<Option<(String, String)>, String> {
        let e = |e: sqlx::Error| e.to_string();
        match &self.backend {
            Backend::Sqlite { core, .. } => sqlite_hold_of(core.pool(), case_id).await,
            Backend::Vendor { standin, .. } => {
                sqlite_hold_of(standin.server.store().pool(), case_id).await
            }
            Backend::Batch { runner, .. } => sqlite_hold_of(runner.master().pool(), case_id).await,
            Backend::Postgres { core, .. } => {
                sqlx::query_as("SELECT account_no, state FROM hfx_hold WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_optional(core.pool())
                    .await
                    .map_err(e)
            }
            Backend::Mariadb { core, .. } => {
                sqlx::query_as("SELECT GRZH, state FROM hfx_hold WHERE case_id = ?")
                    .bind(case_id)
                    .fetch_optional(core.pool())
                    .await
                    .map_err(e)
            }
        }
    }

    async fn credit_of(&self, case_id: &str) -> Result<Option<String>, String> {
        let e = |e: sqlx::Error| e.to_string();
        match &self.backend {
            Backend::Sqlite { core, .. } => sqlite_credit_of(core.pool(), case_id).await,
            Backend::Vendor { standin, .. } => {
                sqlite_credit_of(standin.server.store().pool(), case_id).await
            }
            Backend::Batch { runner, .. } => {
                sqlite_credit_of(runner.master().pool(), case_id).await
            }
            Backend::Postgres { core, .. } => {
                sqlx::query_scalar("SELECT account_no FROM hfx_credit WHERE case_id = $1")
                    .bind(case_id)
                    .fetch_optional(core.pool())
                    .await
                    .map_err(e)
            }
            Backend::Mariadb { core, .. } => {
                sqlx::query_scalar("SELECT GRZH FROM hfx_credit WHERE case_id = ?")
                    .bind(case_id)
                    .fetch_optional(core.pool())
                    .await
                    .map_err(e)
            }
        }
    }
}

/// Terminate the adapter's sessions on the test database (as a server restart ends them);
/// how many. The harness's own reads open fresh ones afterwards.
async fn end_postgres_sessions(core: &PostgresCore) -> Result<u64, String> {
    use sqlx::{Connection, PgConnection};
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(core.pool())
        .await
        .map_err(|e| e.to_string())?;
    let opts = core.pool().connect_options().as_ref().clone();
    let mut admin = PgConnection::connect_with(&opts.application_name("hfx-test-admin"))
        .await
        .map_err(|e| e.to_string())?;
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'hfx-adapter' AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .fetch_all(&mut admin)
    .await
    .map_err(|e| e.to_string())?;
    let _ = admin.close().await;
    Ok(ended.into_iter().filter(|t| *t).count() as u64)
}

/// `KILL` the adapter's connections to the test database; how many.
async fn end_mariadb_sessions(core: &MariadbCore) -> Result<u64, String> {
    use sqlx::{Connection, MySqlConnection};
    let opts = core.pool().connect_options().as_ref().clone();
    let mut admin = MySqlConnection::connect_with(&opts)
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
    )
    .fetch_all(&mut admin)
    .await
    .map_err(|e| e.to_string())?;
    for id in &ids {
        sqlx::query(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}")))
            .execute(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
    }
    let _ = admin.close().await;
    Ok(ids.len() as u64)
}

async fn sqlite_harness(faulty: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.db");
    let core = SqliteCore::open(&path).await.unwrap();
    core.seed(SQLITE_CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    let backend = Backend::Sqlite {
        path,
        core: Arc::new(core),
    };
    Harness::new(Some(dir), backend, faulty)
}

async fn vendor_harness(faulty: bool, cut: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standin = spawn_standin(listener, &dir.path().join("vendor"), Faults::default())
        .await
        .unwrap();
    let core = standin.core(Some(Duration::from_secs(10))).unwrap();
    core.seed(VENDOR_CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    let backend = Backend::Vendor {
        standin,
        core: Arc::new(core),
        cut,
    };
    Harness::new(Some(dir), backend, faulty)
}

async fn batch_harness(faulty: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let core = BatchfileCore::open(&root, Some(BATCH_WAIT)).await.unwrap();
    core.seed(BATCH_CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    let runner = Arc::new(BatchRunner::open(&root).await.unwrap());
    let task = Some(runner.clone().spawn(Duration::from_millis(30)));
    let backend = Backend::Batch {
        root,
        runner,
        task,
        core: Arc::new(core),
    };
    Harness::new(Some(dir), backend, faulty)
}

async fn run(mut h: Harness, centre: &str) {
    run_faults(&mut h, centre, &crate::opts(), crate::N)
        .await
        .unwrap();
    assert_eq!(h.restarts, 2);
}

#[tokio::test]
async fn sqlite_faults_via_faulty_core() {
    run(sqlite_harness(true).await, SQLITE_CENTRE).await;
}

#[tokio::test]
async fn postgres_faults_via_faulty_core_and_terminated_sessions() {
    let Some(server) = server_url::<PostgresCore>() else {
        return;
    };
    let (db, core) = seeded::<PostgresCore>(&server).await;
    let backend = Backend::Postgres {
        _db: db,
        core: Arc::new(core),
    };
    run(
        Harness::new(None, backend, true),
        <PostgresCore as ServerCore>::CENTRE,
    )
    .await;
}

#[tokio::test]
async fn mariadb_faults_via_faulty_core_and_killed_connections() {
    let Some(server) = server_url::<MariadbCore>() else {
        return;
    };
    let (db, core) = seeded::<MariadbCore>(&server).await;
    let backend = Backend::Mariadb {
        _db: db,
        core: Arc::new(core),
    };
    run(
        Harness::new(None, backend, true),
        <MariadbCore as ServerCore>::CENTRE,
    )
    .await;
}

#[tokio::test]
async fn vendorapi_faults_via_faulty_core() {
    run(vendor_harness(true, false).await, VENDOR_CENTRE).await;
}

#[tokio::test]
async fn vendorapi_faults_of_the_standin_503_after_apply() {
    run(vendor_harness(false, false).await, VENDOR_CENTRE).await;
}

#[tokio::test]
async fn vendorapi_faults_of_the_standin_connection_cut_after_apply() {
    run(vendor_harness(false, true).await, VENDOR_CENTRE).await;
}

#[tokio::test]
async fn batchfile_faults_via_faulty_core() {
    run(batch_harness(true).await, BATCH_CENTRE).await;
}

#[tokio::test]
async fn batchfile_faults_of_the_batch_run_lost_instruction_and_lost_result() {
    run(batch_harness(false).await, BATCH_CENTRE).await;
}

/// The vendor API server cuts the connection after it committed a close-out on every attempt
/// the adapter makes: the call is Unavailable, yet the account is closed; the caller's retry,
/// once the cuts stop, answers OK and nothing is posted twice.
#[tokio::test]
async fn vendorapi_reply_lost_on_every_attempt_is_unavailable_and_the_retry_finds_it_done() {
    let h = vendor_harness(false, true).await;
    let Backend::Vendor { standin, core, .. } = &h.backend else {
        unreachable!()
    };
    let m = first_normal(VENDOR_CENTRE);
    core.reserve("cut-all", &m.account_no).await.unwrap();
    // the adapter tries a call 6 times
    standin
        .server
        .fail_write(WriteOp::CloseOut, WriteFault::AfterCut, 6);
    let e = core.close_out("cut-all").await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.to_string().contains("gave up after 6 attempts"), "{e}");
    assert_eq!(standin.server.stats().failed_after_apply, 6);
    assert_eq!(
        h.hold_of("cut-all").await.unwrap(),
        Some((m.account_no.clone(), "closed".into()))
    );
    core.close_out("cut-all").await.unwrap();
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.status, got.balance_fen),
        (hfx_adapters::model::AccountStatus::ClosedTransferred, 0)
    );
    assert_eq!(transfer_outs(core.as_ref(), &m.account_no).await, 1);
}

fn first_normal(centre: &str) -> hfx_adapters::model::Member {
    let i = hfx_standins::contract::find_index(centre, &crate::opts(), crate::N, |s| {
        s == hfx_adapters::model::AccountStatus::Normal
    })
    .unwrap();
    hfx_standins::seed::generate(centre, &crate::opts(), i).member
}

/// This month's 07 postings of the account.
async fn transfer_outs(core: &dyn CoreSystem, account_no: &str) -> usize {
    let now = hfx_adapters::model::YearMonth::of(chrono::Local::now().date_naive());
    core.deposits(account_no, now, now)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.business_type == hfx_adapters::model::business_type::TRANSFER_OUT)
        .count()
}

/// A slow vendor: the call's deadline passes before the server has answered (it may or may not
/// have applied the write by then); a retry once the server is quick again credits once.
#[tokio::test]
async fn vendorapi_timeout_then_retry_credits_once() {
    let h = vendor_harness(false, false).await;
    let Backend::Vendor { standin, .. } = &h.backend else {
        unreachable!()
    };
    let m = first_normal(VENDOR_CENTRE);
    let impatient = standin.core(Some(Duration::from_millis(300))).unwrap();
    // a token first, so the slow request is the credit itself
    impatient
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap();
    standin.server.set_delay(Duration::from_secs(2));
    match impatient
        .credit_in("slow-credit", &m.account_no, 10_000, &[])
        .await
    {
        Err(AdapterError::Unavailable { what, .. }) => {
            assert!(what.contains("no answer within"), "{what}")
        }
        other => panic!("want Unavailable, got {other:?}"),
    }
    standin.server.set_delay(Duration::ZERO);
    let patient = standin.core(Some(Duration::from_secs(10))).unwrap();
    patient
        .credit_in("slow-credit", &m.account_no, 10_000, &[])
        .await
        .unwrap();
    patient
        .credit_in("slow-credit", &m.account_no, 10_000, &[])
        .await
        .unwrap();
    let got = patient
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, m.balance_fen + 10_000);
    assert_eq!(
        h.credit_of("slow-credit").await.unwrap(),
        Some(m.account_no.clone())
    );
}

/// The batch run does not run in time: the write is Unavailable, its instruction waits in the
/// inbox. The run resumes and applies it while nobody waits (a late result); the caller's
/// retry returns that result, and reads see the write. Applied once.
#[tokio::test]
async fn batchfile_batch_run_late_then_retry_applies_once() {
    let h = batch_harness(false).await;
    let Backend::Batch { runner, core, .. } = &h.backend else {
        unreachable!()
    };
    let m = first_normal(BATCH_CENTRE);
    runner.pause(true);
    let e = core
        .credit_in("late-credit", &m.account_no, 20_000, &[])
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        e.to_string().contains("inbox/late-credit.credit.req"),
        "{e}"
    );
    assert_eq!(h.credit_of("late-credit").await.unwrap(), None);
    // The run comes back, late, and answers the instruction left in the inbox.
    let report = runner.run_once().await.unwrap();
    assert_eq!(report.answered, 1, "{report:?}");
    runner.pause(false);
    core.credit_in("late-credit", &m.account_no, 20_000, &[])
        .await
        .unwrap();
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, m.balance_fen + 20_000);
    core.credit_in("late-credit", &m.account_no, 20_000, &[])
        .await
        .unwrap();
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, m.balance_fen + 20_000);
}

/// A batch run that applies a close-out and loses its result: the adapter's wait runs out
/// (Unavailable) although the master data has it; the retry's instruction is applied again by
/// the state machine, which answers OK without a second effect.
#[tokio::test]
async fn batchfile_result_lost_then_retry_closes_once() {
    let h = batch_harness(false).await;
    let Backend::Batch { runner, core, .. } = &h.backend else {
        unreachable!()
    };
    let m = first_normal(BATCH_CENTRE);
    core.reserve("lost-close", &m.account_no).await.unwrap();
    runner.fail_write(WriteOp::CloseOut, BatchFault::LoseResult, 1);
    let e = core.close_out("lost-close").await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(runner.lost_results(), 1);
    assert_eq!(
        h.hold_of("lost-close").await.unwrap(),
        Some((m.account_no.clone(), "closed".into()))
    );
    core.close_out("lost-close").await.unwrap();
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.status, got.balance_fen),
        (hfx_adapters::model::AccountStatus::ClosedTransferred, 0)
    );
    assert_eq!(transfer_outs(core.as_ref(), &m.account_no).await, 1);
}

/// A plan from a string arms a FaultyCore as the cases arm it by hand.
#[tokio::test]
async fn a_fault_spec_arms_a_faulty_core() {
    let h = sqlite_harness(false).await;
    let plan = parse_faults("credit_in:before:1,credit_in:after_apply:1").unwrap();
    let core = FaultyCore::new(h.inner(), plan);
    let m = first_normal(SQLITE_CENTRE);
    let call = || core.credit_in("spec-credit", &m.account_no, 300, &[]);
    assert!(call().await.unwrap_err().is_unavailable());
    assert_eq!(h.credit_of("spec-credit").await.unwrap(), None);
    assert!(call().await.unwrap_err().is_unavailable());
    assert_eq!(
        h.credit_of("spec-credit").await.unwrap(),
        Some(m.account_no.clone())
    );
    call().await.unwrap();
    assert_eq!(core.fired(), 2);
    assert!(core.pending().is_empty());
    let got = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, m.balance_fen + 300);
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(
        checks.iter().any(|c| c.name == "fault injection"),
        "{checks:?}"
    );
}
