use super::*;
use crate::log::{Envelope, SENT};
use crate::store::disclosures::{LogLink, NewDisclosure};

async fn temp_store() -> (tempfile::TempDir, Store, String) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("node.db").display());
    let store = Store::open(&url, LogState::new()).await.unwrap();
    (tmp, store, url)
}

fn append(i: usize) -> WriteOp {
    let payload = format!("payload {i}").into_bytes();
    WriteOp::LogAppend {
        envelope: Envelope::draft(
            SENT,
            "320300000000000",
            &format!("m{i}"),
            "",
            "T/x",
            &payload,
        ),
        payload,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn witness_state_is_replaced_only_by_compare_and_swap() {
    let (_tmp, store, _) = temp_store().await;
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let c = "320700000000000";
    store.witness_swap(c, None, 5, &a, "n5").await.unwrap();
    // Someone stored first: an insert expecting nothing conflicts.
    assert!(matches!(
        store.witness_swap(c, None, 6, &b, "n6").await,
        Err(StoreError::Conflict)
    ));
    // Expecting the wrong prior state conflicts, and changes nothing.
    assert!(matches!(
        store.witness_swap(c, Some((5, &b)), 6, &b, "n6").await,
        Err(StoreError::Conflict)
    ));
    let held = store.witness_held(c).await.unwrap().unwrap();
    assert_eq!((held.size, held.root, held.note.as_str()), (5, a, "n5"));
    store
        .witness_swap(c, Some((5, &a)), 6, &b, "n6")
        .await
        .unwrap();
    let held = store.witness_held(c).await.unwrap().unwrap();
    assert_eq!((held.size, held.root), (6, b));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disclosure_in_an_exchange_points_at_its_request_entry() {
    let (_tmp, store, _) = temp_store().await;
    store.write(vec![append(0)]).await.unwrap();
    let d = NewDisclosure {
        direction: "sent",
        peer: "320300000000000",
        acting_person: "p",
        purpose: "transfer_check",
        legal_basis: "l",
        outcome: "disclosed",
        message_id: "m1",
        subject_masked: "s",
        log_index: LogLink::ExchangeRequest,
    };
    store
        .write_exchange(
            append(1),
            "320300000000000",
            "m1",
            "",
            "T/x",
            |_| b"r".to_vec(),
            vec![d.op()],
        )
        .await
        .unwrap();
    let idx: Option<i64> = sqlx::query_scalar("SELECT log_index FROM disclosures")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(idx, Some(1), "the request entry's index, not a placeholder");
    assert_eq!(store.disclosure_count().await.unwrap(), 1);
    assert_eq!(store.disclosures(10).await.unwrap()[0].outcome, "disclosed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_handle_reads_but_never_appends() {
    let (_tmp, store, url) = temp_store().await;
    store.write(vec![append(0), append(1)]).await.unwrap();
    let off = Store::open_offline(&url).await.unwrap();
    assert_eq!(off.entry_count().await.unwrap(), 2);
    assert_eq!(
        off.entry_counts_by_dir("T/").await.unwrap(),
        vec![(SENT.to_string(), 2)]
    );
    assert!(
        off.entry_counts_by_dir("T_").await.unwrap().is_empty(),
        "_ is no wildcard"
    );
    assert!(matches!(
        off.write(vec![append(2)]).await,
        Err(StoreError::Offline)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_error_does_not_reach_the_caller() {
    let (_tmp, store, _) = temp_store().await;
    let e = store
        .write(vec![WriteOp::Sql {
            sql: "INSERT INTO no_such_table VALUES (1)",
            args: vec![],
        }])
        .await
        .unwrap_err();
    let e = crate::error::HfxError::from(e);
    assert!(e.detail().contains("no_such_table"), "{}", e.detail());
    let status = tonic::Status::from(e);
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(status.message(), "STORE_ERROR: store error");
}

/// Proofs served from the stored tiles equal the in-memory tree's, at every kind of size,
/// for a log written through group commits with failing jobs among them, and again after a
/// restart restores the right edge from disk.
#[tokio::test(flavor = "multi_thread")]
async fn proofs_from_the_stored_tiles_match_the_whole_tree() {
    use crate::log::merkle::{self, Tree};
    let (_tmp, store, url) = temp_store().await;
    let mut n = 0usize;
    let mut step = 1usize;
    while n < 1_400 {
        // Concurrent jobs share commits; every third batch carries a job that fails alone.
        let mut jobs = Vec::new();
        for j in 0..step.min(40) {
            let s = store.clone();
            let ops: Vec<WriteOp> = (0..(j % 7 + 1))
                .map(|k| append(n * 10 + j * 8 + k))
                .collect();
            let fail = j == 0 && step.is_multiple_of(3);
            jobs.push(tokio::spawn(async move {
                let mut ops = ops;
                if fail {
                    ops.push(WriteOp::Cas {
                        sql: "UPDATE witness_state SET size = 0 WHERE centre = 'nobody'",
                        args: vec![],
                    });
                }
                (fail, s.write(ops).await)
            }));
        }
        for j in jobs {
            let (fail, r) = j.await.unwrap();
            assert_eq!(r.is_err(), fail);
        }
        n = store.log().lock().await.size() as usize;
        step += 1;
    }
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT leaf_hash FROM log_entries ORDER BY idx")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), n, "failed jobs left no entries");
    let tree = Tree::from_leaves(rows.iter().map(|r| merkle::hash_from_slice(r).unwrap()));
    assert_eq!(store.log().lock().await.root(), tree.root());
    let check = |store: Store, tree: Tree| async move {
        let n = tree.size();
        for size in [1, 255, 256, 257, 511, 512, 513, 1024, n - 1, n] {
            assert_eq!(store.root_at(size).await.unwrap(), tree.root_at(size));
            for index in [0, size / 2, size - 1] {
                assert_eq!(
                    store.inclusion_proof(index, size).await.unwrap().unwrap(),
                    tree.inclusion_proof(index, size).unwrap(),
                    "inclusion of {index} in {size}"
                );
            }
            for old in [1, 200, 256, 300, 768] {
                if old <= size {
                    assert_eq!(
                        store.consistency_proof(old, size).await.unwrap().unwrap(),
                        tree.consistency_proof(old, size).unwrap(),
                        "consistency {old} → {size}"
                    );
                }
            }
        }
        assert!(
            store.inclusion_proof(n, n).await.unwrap().is_err(),
            "index beyond the tree"
        );
        assert!(store.root_at(n + 1).await.unwrap().is_none());
    };
    check(store.clone(), tree.clone()).await;
    store.close().await;
    drop(store);
    let again = Store::open(&url, LogState::new()).await.unwrap();
    assert_eq!(again.log().lock().await.size() as usize, n);
    check(again, tree).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_migrated_by_a_newer_release_is_refused_naming_both_versions() {
    let (_tmp, store, url) = temp_store().await;
    store.write(vec![append(0)]).await.unwrap();
    let newer = schema::newest_known() + 1;
    sqlx::query("INSERT INTO hfx_schema (version, applied_ms) VALUES ($1, 0)")
        .bind(newer)
        .execute(&store.pool)
        .await
        .unwrap();
    store.close().await;
    let known = schema::newest_known();
    for (how, got) in [
        ("open", Store::open(&url, LogState::new()).await.err()),
        ("open_offline", Store::open_offline(&url).await.err()),
    ] {
        match got {
            Some(StoreError::NewerSchema { found, known: k }) => {
                assert_eq!((found, k), (newer, known), "{how}");
            }
            other => panic!("{how}: {other:?}"),
        }
    }
    let text = StoreError::NewerSchema {
        found: newer,
        known,
    }
    .to_string();
    assert!(
        text.contains(&format!("version {newer}")) && text.contains(&format!("up to {known}")),
        "{text}"
    );
    // A store this release knows opens as before.
    sqlx::query("DELETE FROM hfx_schema WHERE version = $1")
        .bind(newer)
        .execute(&connect(&url, 1).await.unwrap().0)
        .await
        .unwrap();
    let store = Store::open(&url, LogState::new()).await.unwrap();
    assert_eq!(store.log().lock().await.size(), 1);
}
