//! The group commit's pending rows on both stores: SQLite (the writer's own connection) and
//! PostgreSQL from HFX_TEST_POSTGRES_URL (a database of its own, dropped afterwards; without
//! the variable that part is skipped and says so, and under CI it fails).

use super::sqlite::{SqliteBackend, file_of};
use super::*;
use crate::log::{Envelope, RECV};
use crate::store::Store;
use crate::store::disclosures::{LogLink, NewDisclosure};

mod indexes;

const PEER: &str = "320300000000000";

/// A store to test on, and what to remove afterwards.
struct TestStore {
    store: Store,
    /// Where it is, to open it again.
    url: String,
    _tmp: Option<tempfile::TempDir>,
    /// (server URL, database name) of a PostgreSQL database of the test's own.
    pg: Option<(String, String)>,
}

impl TestStore {
    async fn sqlite() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("node.db").display());
        let store = Store::open(&url, LogState::new()).await.unwrap();
        TestStore {
            store,
            url,
            _tmp: Some(tmp),
            pg: None,
        }
    }

    async fn postgres() -> Option<Self> {
        let server = match std::env::var("HFX_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                let ci = std::env::var("CI")
                    .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
                assert!(
                    !ci,
                    "HFX_TEST_POSTGRES_URL is not set but CI is: the PostgreSQL part cannot be skipped"
                );
                eprintln!("SKIPPED (PostgreSQL part): HFX_TEST_POSTGRES_URL not set");
                return None;
            }
        };
        use sqlx::Connection;
        let name = format!("hfx_writer_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .expect("HFX_TEST_POSTGRES_URL set but PostgreSQL unreachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = server
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(server.clone());
        let url = format!("{base}/{name}");
        let store = Store::open(&url, LogState::new()).await.unwrap();
        Some(TestStore {
            store,
            url,
            _tmp: None,
            pg: Some((server, name)),
        })
    }

    async fn all() -> Vec<Self> {
        let mut v = vec![Self::sqlite().await];
        v.extend(Self::postgres().await);
        v
    }

    async fn done(self) {
        self.store.close().await;
        if let Some((server, name)) = self.pg {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.store.pool)
            .await
            .unwrap()
    }

    /// Run `works` as one group commit, on the backend the store's writer uses, and take the
    /// committed batch into the store's log state (as the writer does).
    async fn batch(&self, works: Vec<Work>) -> Vec<Result<JobOut, StoreError>> {
        let jobs: Vec<Job> = works
            .into_iter()
            .map(|work| Job {
                work,
                reply: oneshot::channel().0,
            })
            .collect();
        let log = self.store.log();
        let (out, staged) = match self.store.kind {
            StoreKind::Sqlite => {
                let path = file_of(&self.store.pool).await.unwrap().unwrap();
                let mut db = SqliteBackend::open(&path).unwrap();
                apply_batch(&mut db, log, &jobs).await.unwrap()
            }
            StoreKind::Postgres => {
                let mut db = SqlxBackend {
                    pool: self.store.pool.clone(),
                    kind: StoreKind::Postgres,
                };
                apply_batch(&mut db, log, &jobs).await.unwrap()
            }
        };
        log.lock().await.commit_staged(staged);
        out
    }
}

fn request(mid: &str) -> WriteOp {
    let payload = format!("request {mid}").into_bytes();
    WriteOp::LogAppend {
        envelope: Envelope::draft(RECV, PEER, mid, "", "T/x#request", &payload),
        payload,
    }
}

/// A `sent` disclosure of message `mid` with `outcome`, linked by `link`.
fn new_disclosure<'a>(mid: &'a str, outcome: &'a str, link: LogLink) -> NewDisclosure<'a> {
    NewDisclosure {
        direction: "sent",
        peer: PEER,
        acting_person: "p",
        purpose: "identity_confirmation",
        legal_basis: "l",
        outcome,
        message_id: mid,
        subject_masked: "s",
        log_index: link,
    }
}

fn disclosure(mid: &str, link: LogLink) -> WriteOp {
    new_disclosure(mid, "disclosed", link).op()
}

/// Put entry `env` (numbered already) in at `index` behind the writer's back, its bytes in
/// full and its leaf hash right, as a writer before entries were stored once did; its bytes.
async fn insert_full_row(
    conn: &mut sqlx::AnyConnection,
    index: u64,
    env: &Envelope,
    payload: &[u8],
) -> Vec<u8> {
    let entry = env.entry_bytes();
    let payload_hash: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(payload).into()
    };
    sqlx::query("INSERT INTO log_entries (idx, at_ms, dir, peer, seq, message_id, case_id, msg_type, leaf_hash, entry, payload_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(index as i64)
        .bind(env.at_ms)
        .bind(env.dir.clone())
        .bind(env.peer.clone())
        .bind(env.seq as i64)
        .bind(env.message_id.clone())
        .bind(env.case_id.clone())
        .bind(env.msg_type.clone())
        .bind(crate::log::merkle::leaf_hash(&entry).to_vec())
        .bind(entry.clone())
        .bind(payload_hash.to_vec())
        .execute(&mut *conn)
        .await
        .unwrap();
    entry
}

fn exchange(mid: &str, reply: &'static [u8], extra: Vec<WriteOp>) -> Work {
    Work::Exchange(Box::new(Exchange {
        request: request(mid),
        peer: PEER.into(),
        message_id: mid.into(),
        case_id: String::new(),
        method: "T/x".into(),
        make_reply: Box::new(move |_| reply.to_vec()),
        extra,
    }))
}

/// A compare-and-swap that finds no row: its job fails with a conflict.
fn lost_swap() -> WriteOp {
    WriteOp::Cas {
        sql: "UPDATE witness_state SET size = $1 WHERE centre = $2",
        args: vec![Val::I64(1), "nobody".into()],
    }
}

fn reply(r: &Result<JobOut, StoreError>) -> Option<&[u8]> {
    r.as_ref().ok().and_then(|o| o.reply.as_deref())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answered_message_is_not_answered_again_in_its_commit_or_a_later_one() {
    for t in TestStore::all().await {
        let out = t
            .batch(vec![
                exchange(
                    "m1",
                    b"first",
                    vec![disclosure("m1", LogLink::ExchangeRequest)],
                ),
                exchange(
                    "m1",
                    b"second",
                    vec![disclosure("m1", LogLink::ExchangeRequest)],
                ),
                exchange("m2", b"other", vec![]),
            ])
            .await;
        assert_eq!(reply(&out[0]), Some(&b"first"[..]));
        assert!(matches!(out[1], Err(StoreError::Conflict)), "{:?}", out[1]);
        assert_eq!(reply(&out[2]), Some(&b"other"[..]));
        // m1: request, reply, disclosure commitment; m2: request, reply.
        assert_eq!(t.count("log_entries").await, 5);
        assert_eq!(t.count("log_payloads").await, 5);
        assert_eq!(t.count("inbox").await, 2);
        assert_eq!(t.count("disclosures").await, 1);
        assert_eq!(t.store.log().lock().await.size(), 5);

        // A later commit answers the duplicate with the stored reply, and logs nothing.
        let again = t
            .store
            .write_exchange(
                request("m1"),
                PEER,
                "m1",
                "",
                "T/x",
                |_| b"third".to_vec(),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(again, b"first");
        assert_eq!(t.count("log_entries").await, 5);
        assert_eq!(
            t.store.inbox_get(PEER, "m1").await.unwrap(),
            Some(("T/x".to_string(), b"first".to_vec()))
        );
        // On a SQLite file the lookup ran inline on a reader connection, not through the pool.
        if t.store.kind() == StoreKind::Sqlite {
            let readers = t.store.readers.as_ref().expect("a SQLite file has readers");
            assert_eq!(readers.idle_count(), 1);
        }
        t.done().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_leaves_none_of_its_rows_and_the_others_commit() {
    for t in TestStore::all().await {
        let out = t
            .batch(vec![
                // Fails at its last op: its row insert, disclosure, inbox row and log entries
                // go; so does the savepointed statement before the failure.
                exchange(
                    "m1",
                    b"r1",
                    vec![
                        WriteOp::Sql {
                            sql: "INSERT INTO node_secret (name, value) VALUES ($1, $2)",
                            args: vec!["t1".into(), Val::Bytes(vec![1])],
                        },
                        disclosure("m1", LogLink::ExchangeRequest),
                        lost_swap(),
                    ],
                ),
                Work::Ops(vec![request("m3"), disclosure("m3", LogLink::None)]),
                exchange(
                    "m2",
                    b"r2",
                    vec![disclosure("m2", LogLink::ExchangeRequest)],
                ),
                // Fails without a savepoint (it runs no statement of its own): an exchange
                // whose request is no log append. Its disclosure's rows go all the same.
                Work::Exchange(Box::new(Exchange {
                    request: disclosure("m4", LogLink::None),
                    peer: PEER.into(),
                    message_id: "m4".into(),
                    case_id: String::new(),
                    method: "T/x".into(),
                    make_reply: Box::new(|_| b"r4".to_vec()),
                    extra: vec![],
                })),
            ])
            .await;
        assert!(matches!(out[0], Err(StoreError::Conflict)), "{:?}", out[0]);
        assert!(out[1].is_ok() && out[2].is_ok(), "{out:?}");
        assert!(
            matches!(out[3], Err(StoreError::NotAnAppend)),
            "{:?}",
            out[3]
        );
        assert_eq!(t.count("node_secret WHERE name = 't1'").await, 0);
        assert_eq!(t.count("inbox").await, 1);
        assert_eq!(t.count("disclosures").await, 2);
        // m3: request + commitment (0, 1); m2: request, reply, commitment (2, 3, 4).
        assert_eq!(t.count("log_entries").await, 5);
        assert_eq!(t.store.log().lock().await.size(), 5);
        let (log_index, commit_index): (Option<i64>, i64) = sqlx::query_as(
            "SELECT log_index, commit_index FROM disclosures WHERE message_id = 'm2'",
        )
        .fetch_one(&t.store.pool)
        .await
        .unwrap();
        assert_eq!((log_index, commit_index), (Some(2), 4));
        let got = t.store.inbox_get(PEER, "m1").await.unwrap();
        assert_eq!(got, None, "the failed exchange's reply is not kept");
        t.done().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_bind_by_placeholder_number_and_keep_their_error_kinds() {
    for t in TestStore::all().await {
        let insert = || WriteOp::Sql {
            sql: "INSERT INTO node_secret (value, name) VALUES ($2, $1)",
            args: vec!["n".into(), Val::Bytes(vec![9, 9])],
        };
        t.store.write(vec![insert()]).await.unwrap();
        let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM node_secret WHERE name = 'n'")
            .fetch_one(&t.store.pool)
            .await
            .unwrap();
        assert_eq!(value, vec![9, 9]);
        let e = t.store.write(vec![insert()]).await.unwrap_err();
        assert!(
            crate::transfer::is_unique_violation(&crate::error::HfxError::Store(e)),
            "a primary-key refusal is a unique violation"
        );
        t.done().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tiles_ride_the_batch_and_roll_back_with_their_job() {
    for t in TestStore::all().await {
        let log = t.store.log();
        let tile = |b: u8| vec![b; 32 * 256];
        let mut pending = PendingRows::default();
        pending.push_tile(0, 0, tile(1));
        let mark = pending.mark();
        pending.push_tile(0, 1, tile(2));
        pending.rollback(mark);
        pending.push_tile(1, 0, tile(3));
        match t.store.kind {
            StoreKind::Sqlite => {
                let path = file_of(&t.store.pool).await.unwrap().unwrap();
                let mut db = SqliteBackend::open(&path).unwrap();
                let mut tx = db.begin(log).await.unwrap();
                pending.flush(&mut tx).await.unwrap();
                tx.commit().await.unwrap();
            }
            StoreKind::Postgres => {
                let mut db = SqlxBackend {
                    pool: t.store.pool.clone(),
                    kind: StoreKind::Postgres,
                };
                let mut tx = db.begin(log).await.unwrap();
                pending.flush(&mut tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
        let rows: Vec<(i64, i64, Vec<u8>)> =
            sqlx::query_as("SELECT level, idx, hashes FROM log_tiles ORDER BY level, idx")
                .fetch_all(&t.store.pool)
                .await
                .unwrap();
        assert_eq!(rows, vec![(0, 0, tile(1)), (1, 0, tile(3))]);
        t.done().await;
    }
}

#[test]
fn sqlite_flush_statements_fail_without_a_statement_journal() {
    // SQLite: `OR FAIL` (no statement journal; a failure fails the whole batch anyway).
    assert_eq!(
        values_sql(StoreKind::Sqlite, &TILES, 2),
        "INSERT OR FAIL INTO log_tiles (level, idx, hashes) VALUES (?, ?, ?), (?, ?, ?)"
    );
    // PostgreSQL has no `OR FAIL`: its statements stay as written, numbered.
    assert_eq!(
        values_sql(StoreKind::Postgres, &PAYLOADS_POSTGRES, 2),
        "INSERT INTO log_payloads (hash, data) VALUES ($1, $2), ($3, $4) ON CONFLICT (hash) DO NOTHING"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_refused_mid_statement_leaves_nothing_of_the_batch() {
    for t in TestStore::all().await {
        let log = t.store.log();
        let tile = |b: u8| vec![b; 32 * 256];
        // (0, 1) is there already: the flush's one INSERT of three tiles is refused at its
        // second row, after its first went in.
        sqlx::query("INSERT INTO log_tiles (level, idx, hashes) VALUES (0, 1, $1)")
            .bind(tile(9))
            .execute(&t.store.pool)
            .await
            .unwrap();
        let mut pending = PendingRows::default();
        for i in 0..3u8 {
            pending.push_tile(0, u64::from(i), tile(i));
        }
        let failed = match t.store.kind {
            StoreKind::Sqlite => {
                let path = file_of(&t.store.pool).await.unwrap().unwrap();
                let mut db = SqliteBackend::open(&path).unwrap();
                {
                    let mut tx = db.begin(log).await.unwrap();
                    let failed = pending.flush(&mut tx).await;
                    drop(tx);
                    // The writer's connection goes on after the refused batch.
                    let mut tx = db.begin(log).await.unwrap();
                    tx.exec("SELECT 1", &[]).await.unwrap();
                    tx.commit().await.unwrap();
                    failed
                }
            }
            StoreKind::Postgres => {
                let mut db = SqlxBackend {
                    pool: t.store.pool.clone(),
                    kind: StoreKind::Postgres,
                };
                let mut tx = db.begin(log).await.unwrap();
                pending.flush(&mut tx).await
            }
        };
        let Err(StoreError::Db(e)) = failed else {
            panic!("a refused row must fail the flush: {failed:?}");
        };
        assert!(
            e.as_database_error()
                .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation),
            "{e}"
        );
        let rows: Vec<(i64, i64, Vec<u8>)> =
            sqlx::query_as("SELECT level, idx, hashes FROM log_tiles ORDER BY level, idx")
                .fetch_all(&t.store.pool)
                .await
                .unwrap();
        assert_eq!(rows, vec![(0, 1, tile(9))], "{:?}", t.store.kind);
        t.done().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_commit_rolls_the_whole_batch_back_and_the_writer_goes_on() {
    // SQLite only: the writer's own connection must be usable after a failed batch.
    let t = TestStore::sqlite().await;
    let path = file_of(&t.store.pool).await.unwrap().unwrap();
    let mut db = SqliteBackend::open(&path).unwrap();
    {
        let mut tx = db.begin(t.store.log()).await.unwrap();
        tx.exec(
            "INSERT INTO node_secret (name, value) VALUES ($1, $2)",
            &["gone".into(), Val::Bytes(vec![1])],
        )
        .await
        .unwrap();
        // Dropped without commit: rolled back.
    }
    let mut tx = db.begin(t.store.log()).await.unwrap();
    assert!(
        !tx.exists(
            "SELECT 1 FROM node_secret WHERE name = $1",
            &["gone".into()]
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(t.count("node_secret WHERE name = 'gone'").await, 0);
    t.done().await;
}

/// The `entry` column of every row, in index order, as stored.
async fn raw_entries(store: &Store) -> Vec<Vec<u8>> {
    sqlx::query_scalar("SELECT entry FROM log_entries ORDER BY idx")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

/// The entry lines of the store's export.
async fn exported(store: &Store) -> Vec<Vec<u8>> {
    let header = hfx_tlog::audit::ExportHeader {
        centre: "320100000000000".into(),
        origin: "test.hfx/320100000000000".into(),
        vkey: "k".into(),
    };
    let mut out = Vec::new();
    store
        .export(&header, false, &mut out, &|_, _| {})
        .await
        .unwrap();
    hfx_tlog::audit::parse(&mut out.as_slice(), &|_, _| {})
        .unwrap()
        .entries
}

/// Every way the store gives an entry back gives `expected` (the bytes hashed into the tree,
/// index by index): the single-entry read, the export, the full check, and a restart (same
/// size and root, proofs that verify against `expected`). Returns the reopened store.
async fn reads_back(t: &TestStore, expected: &[Vec<u8>]) -> Store {
    use crate::log::merkle;
    let n = expected.len() as u64;
    for (i, want) in expected.iter().enumerate() {
        let got = t.store.entry_at(i as u64).await.unwrap();
        assert_eq!(got.as_deref(), Some(want.as_slice()), "entry {i}");
    }
    assert_eq!(t.store.entry_at(n).await.unwrap(), None);
    assert_eq!(exported(&t.store).await, expected, "the export's entries");
    assert_eq!(t.store.check_log(&|_, _| {}).await.unwrap(), n);
    let leaves: Vec<_> = expected.iter().map(|e| merkle::leaf_hash(e)).collect();
    let root = merkle::root_of_leaves(&leaves);
    assert_eq!(t.store.log().lock().await.root(), root);
    t.store.close().await;
    let again = Store::open(&t.url, LogState::new()).await.unwrap();
    assert_eq!(again.log().lock().await.size(), n, "size after a restart");
    assert_eq!(
        again.log().lock().await.root(),
        root,
        "root after a restart"
    );
    for index in [0, n / 2, n - 1] {
        let proof = again.inclusion_proof(index, n).await.unwrap().unwrap();
        merkle::verify_inclusion(&leaves[index as usize], index, n, &proof, &root)
            .unwrap_or_else(|e| panic!("inclusion of {index}: {e}"));
    }
    again
}

/// An append whose entry is the canonical encoding of its columns, or (`!canonical`) one whose
/// envelope names its payload's hash in upper-case hex, which the writer takes as it is: its
/// entry is then not the encoding of its row (whose `payload_hash` is the payload's).
fn drafted(i: usize, canonical: bool) -> (Envelope, Vec<u8>) {
    let payload = format!("payload {i}").into_bytes();
    let mut envelope = Envelope::draft(
        crate::log::SENT,
        if i.is_multiple_of(2) {
            PEER
        } else {
            "320700000000000"
        },
        &format!("m{i}"),
        "case-1",
        "T/x#request",
        &payload,
    );
    if !canonical {
        envelope.payload_sha256 = envelope.payload_sha256.to_uppercase();
    }
    (envelope, payload)
}

/// Append `envelopes` in one job; the entries the log hashed, in order.
async fn append_all(store: &Store, envelopes: Vec<(Envelope, Vec<u8>)>) -> Vec<Vec<u8>> {
    let ops = envelopes
        .iter()
        .cloned()
        .map(|(envelope, payload)| WriteOp::LogAppend { envelope, payload })
        .collect();
    let appended = store.write(ops).await.unwrap();
    envelopes
        .into_iter()
        .zip(appended)
        .map(|((envelope, _), a)| {
            Envelope {
                seq: a.seq,
                ..envelope
            }
            .entry_bytes()
        })
        .collect()
}

/// The encoding an empty `entry` stands for is a storage format: rows stored since issue 14
/// are rebuilt with it. If this changes, those rows no longer match their leaf hashes.
#[test]
fn the_canonical_encoding_of_a_row_is_fixed() {
    let columns = Envelope {
        dir: "sent".into(),
        peer: PEER.into(),
        seq: 7,
        message_id: "m\"1".into(),
        case_id: "c".into(),
        msg_type: "T/x#request".into(),
        at_ms: 1_700_000_000_000,
        payload_sha256: hex::encode([0xab; 32]),
    };
    assert_eq!(
        String::from_utf8(columns.entry_bytes()).unwrap(),
        format!(
            r#"{{"dir":"sent","peer":"{PEER}","seq":7,"message_id":"m\"1","case_id":"c","msg_type":"T/x#request","at_ms":1700000000000,"payload_sha256":"{}"}}"#,
            "ab".repeat(32)
        )
    );
    assert!(crate::store::log_rows::entry_to_store(&columns, columns.entry_bytes()).is_empty());
    let mut other = columns.entry_bytes();
    other.push(b' ');
    assert_eq!(
        crate::store::log_rows::entry_to_store(&columns, other.clone()),
        other
    );
}

/// Appends are stored with an empty `entry` (their bytes are their columns), except one whose
/// bytes are not the encoding of its row, kept in full; every read gives back exactly the
/// bytes the tree hashed, before and after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn an_entry_is_stored_once_and_read_back_byte_for_byte() {
    for mut t in TestStore::all().await {
        let mut expected = Vec::new();
        for round in 0..3 {
            let batch = (round * 100..round * 100 + 100)
                .map(|i| drafted(i, i % 10 != 3))
                .collect();
            expected.extend(append_all(&t.store, batch).await);
        }
        // A disclosure's commitment entry (built by the writer) is stored once too.
        t.store
            .write(vec![disclosure("m-d", LogLink::None)])
            .await
            .unwrap();
        let raw = raw_entries(&t.store).await;
        assert_eq!(raw.len(), 301);
        for (i, stored) in raw[..300].iter().enumerate() {
            if i % 10 == 3 {
                assert_eq!(stored, &expected[i], "entry {i} is kept in full");
            } else {
                assert!(stored.is_empty(), "entry {i} is stored as its columns");
            }
        }
        assert!(raw[300].is_empty(), "the disclosure's commitment entry");
        let commitment = t.store.entry_at(300).await.unwrap().unwrap();
        let leaf: Vec<u8> = sqlx::query_scalar("SELECT leaf_hash FROM log_entries WHERE idx = 300")
            .fetch_one(&t.store.pool)
            .await
            .unwrap();
        assert_eq!(crate::log::merkle::leaf_hash(&commitment).to_vec(), leaf);
        expected.push(commitment);
        t.store = reads_back(&t, &expected).await;
        t.done().await;
    }
}

/// A log written before entries were stored once (every `entry` in full) loads, is checked
/// and exported as it was, and takes appends stored once beside its old rows.
#[tokio::test(flavor = "multi_thread")]
async fn rows_stored_in_full_before_read_back_beside_rows_stored_once() {
    use sqlx::Connection;
    for mut t in TestStore::all().await {
        // 300 rows as the previous writer stored them (more than a tile, none stored: the
        // open builds them from a full pass over the old rows).
        t.store.close().await;
        let mut expected = Vec::new();
        {
            let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
            let mut seqs = std::collections::HashMap::new();
            for i in 0..300 {
                let (mut e, payload) = drafted(i, true);
                let seq = seqs.entry(e.peer.clone()).or_insert(0u64);
                *seq += 1;
                e.seq = *seq;
                let entry = insert_full_row(&mut conn, i as u64, &e, &payload).await;
                expected.push(entry);
            }
            if t.store.kind == StoreKind::Sqlite {
                // And the writer's counters, as it kept them (schema v9).
                sqlx::query("INSERT INTO log_seqs (peer, dir, seq) SELECT peer, dir, MAX(seq) FROM log_entries GROUP BY peer, dir")
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            conn.close().await.unwrap();
        }
        t.store = Store::open(&t.url, LogState::new()).await.unwrap();
        assert_eq!(t.store.log().lock().await.size(), 300);
        let batch = (300..320).map(|i| drafted(i, true)).collect();
        expected.extend(append_all(&t.store, batch).await);
        let raw = raw_entries(&t.store).await;
        assert_eq!(&raw[..300], &expected[..300], "old rows stay as they were");
        assert!(
            raw[300..].iter().all(|e| e.is_empty()),
            "new rows are stored once"
        );
        t.store = reads_back(&t, &expected).await;
        t.done().await;
    }
}

/// A changed column of a row stored once changes the entry rebuilt from it: the full check
/// and the start refuse it as a leaf mismatch, as they refuse a changed `entry`.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_column_of_a_row_stored_once_is_a_leaf_mismatch() {
    use crate::log::LoadError;
    for t in TestStore::all().await {
        let batch = (0..6).map(|i| drafted(i, true)).collect();
        append_all(&t.store, batch).await;
        let drop_trigger = match t.store.kind {
            StoreKind::Sqlite => "DROP TRIGGER log_entries_no_update",
            StoreKind::Postgres => "DROP TRIGGER log_entries_append_only ON log_entries",
        };
        sqlx::query(drop_trigger)
            .execute(&t.store.pool)
            .await
            .unwrap();
        // From the last row back: each check stops at the first mismatch, the newest change.
        let tampers = [
            ("UPDATE log_entries SET at_ms = at_ms + 1 WHERE idx = 5", 5),
            ("UPDATE log_entries SET seq = seq + 100 WHERE idx = 4", 4),
            (
                "UPDATE log_entries SET payload_hash = leaf_hash WHERE idx = 3",
                3,
            ),
            (
                "UPDATE log_entries SET peer = '321300000000000' WHERE idx = 2",
                2,
            ),
        ];
        for (tamper, index) in tampers {
            assert_eq!(t.store.check_log(&|_, _| {}).await.is_ok(), index == 5);
            sqlx::query(tamper).execute(&t.store.pool).await.unwrap();
            let e = t.store.check_log(&|_, _| {}).await.unwrap_err();
            assert!(
                matches!(e, StoreError::Log(LoadError::LeafMismatch(i)) if i == index),
                "{tamper}: {e}"
            );
            let e = Store::open(&t.url, LogState::new()).await.err().unwrap();
            assert!(
                matches!(e, StoreError::Log(LoadError::LeafMismatch(i)) if i == index),
                "{tamper}, at start: {e}"
            );
        }
        t.done().await;
    }
}

/// A restore refuses while other sessions use the database; this process's own pool is not
/// one of them, however many connections it happened to open.
#[tokio::test(flavor = "multi_thread")]
async fn other_sessions_are_other_processes_not_this_ones_pools() {
    let Some(t) = TestStore::postgres().await else {
        return;
    };
    let both = (
        t.store.pool.acquire().await.unwrap(),
        t.store.pool.acquire().await.unwrap(),
    );
    drop(both);
    assert_eq!(t.store.other_sessions().await.unwrap(), Some(0));
    use sqlx::Connection;
    let other = sqlx::PgConnection::connect(&t.url).await.unwrap();
    assert_eq!(t.store.other_sessions().await.unwrap(), Some(1));
    other.close().await.unwrap();
    t.done().await;
}
