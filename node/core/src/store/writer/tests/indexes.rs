//! What replaced two indexes every append wrote on SQLite: the writer's sequence counters
//! (schema v9) and the runs of the disclosure subject index (schema v10).

use super::*;

/// SQLite keeps each (peer, direction)'s newest sequence number as a counter the writer
/// advances in the batch's transaction. A counter that is not where the writer's batch began
/// (changed behind its back) refuses the batch, whole; the full check names a counter that
/// is not its entries' newest, and an entry whose number does not rise.
#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_counter_out_of_step_refuses_the_batch_and_fails_the_check() {
    use crate::log::LoadError;
    let t = TestStore::sqlite().await;
    let batch = (0..6).map(|i| drafted(i, true)).collect();
    append_all(&t.store, batch).await;
    let counters = || async {
        sqlx::query_as::<_, (String, String, i64)>(
            "SELECT peer, dir, seq FROM log_seqs ORDER BY peer, dir",
        )
        .fetch_all(&t.store.pool)
        .await
        .unwrap()
    };
    let before = counters().await;
    assert!(!before.is_empty());
    let newest = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT peer, dir, MAX(seq) FROM log_entries GROUP BY peer, dir ORDER BY peer, dir",
    )
    .fetch_all(&t.store.pool)
    .await
    .unwrap();
    assert_eq!(before, newest, "the counters are the entries' newest");
    assert_eq!(t.store.check_log(&|_, _| {}).await.unwrap(), 6);

    let (peer, dir, seq) = before[0].clone();
    let set = |v: i64| {
        let (peer, dir) = (peer.clone(), dir.clone());
        let pool = t.store.pool.clone();
        async move {
            sqlx::query("UPDATE log_seqs SET seq = $1 WHERE peer = $2 AND dir = $3")
                .bind(v)
                .bind(peer)
                .bind(dir)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    set(seq + 5).await;
    let size = t.store.log().lock().await.size();
    let (env, payload) = drafted(6, true);
    let env = Envelope {
        peer: peer.clone(),
        dir: dir.clone(),
        ..env
    };
    let refused = t
        .store
        .write(vec![WriteOp::LogAppend {
            envelope: env.clone(),
            payload: payload.clone(),
        }])
        .await;
    let Err(StoreError::CommitFailed(cause)) = &refused else {
        panic!("an out-of-step counter must refuse the batch: {refused:?}");
    };
    assert!(
        matches!(&**cause, StoreError::Log(LoadError::SeqOutOfStep { from, .. }) if *from == seq as u64),
        "{cause}"
    );
    assert_eq!(t.store.log().lock().await.size(), size, "nothing appended");
    assert_eq!(t.count("log_entries").await, 6);
    assert!(matches!(
        t.store.check_log(&|_, _| {}).await,
        Err(StoreError::Log(LoadError::SeqCounter { stored, entries, .. })) if stored == seq as u64 + 5 && entries == seq as u64
    ));

    // Put back, the writer goes on numbering from it.
    set(seq).await;
    let appended = t
        .store
        .write(vec![WriteOp::LogAppend {
            envelope: env,
            payload,
        }])
        .await
        .unwrap();
    assert_eq!(appended[0].seq, seq as u64 + 1);
    assert_eq!(t.store.check_log(&|_, _| {}).await.unwrap(), 7);

    // A number given twice (a row put in behind the writer's back, its leaf hash right)
    // fails the check at that row.
    let (dup, payload) = drafted(7, true);
    let dup = Envelope {
        peer: peer.clone(),
        dir: dir.clone(),
        seq: seq as u64 + 1,
        ..dup
    };
    insert_full_row(
        &mut t.store.pool.acquire().await.unwrap(),
        7,
        &dup,
        &payload,
    )
    .await;
    let check = t.store.check_log(&|_, _| {}).await;
    assert!(
        matches!(
            check,
            Err(StoreError::Log(LoadError::SeqNotRising { index: 7, seq: s })) if s == seq as u64 + 1
        ),
        "{check:?}"
    );
    t.done().await;
}

/// Message ids of the disclosures `f` finds, newest first, and of those a scan of the whole
/// table finds for the same subject (and outcome), for comparison.
async fn found_and_scanned(
    t: &TestStore,
    f: &crate::store::disclosures::DisclosureFilter,
) -> (Vec<String>, Vec<String>) {
    let found = t
        .store
        .disclosures_where(f)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.message_id)
        .collect();
    let scanned = sqlx::query_scalar(
        "SELECT message_id FROM disclosures WHERE subject_key = $1 AND ($2 = '' OR SUBSTR(outcome, 1, LENGTH($2)) = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(f.subject_key.clone().unwrap())
    .bind(f.outcome_prefix.clone().unwrap_or_default())
    .bind(f.limit)
    .fetch_all(&t.store.pool)
    .await
    .unwrap();
    (found, scanned)
}

/// A member's report finds the same disclosures whether they are in runs of the subject
/// index (SQLite since v10), still waiting for one, or (PostgreSQL) under its index: each
/// subject's, newest first, with the other filters and the limit applied.
#[tokio::test(flavor = "multi_thread")]
async fn a_subjects_disclosures_are_found_in_runs_and_waiting_rows_alike() {
    use crate::store::disclosures::DisclosureFilter;
    let total = 3 * SUBJECT_RUN as usize + 300;
    // A commit writes a run when SUBJECT_RUN or more wait: after commits of 1,000, at 5,000
    // and 10,000.
    let (mut runs, mut indexed) = (0, 0);
    for end in (1000..=total).step_by(1000).chain([total]) {
        if (end - indexed) as i64 >= SUBJECT_RUN {
            (runs, indexed) = (runs + 1, end);
        }
    }
    assert_eq!(runs, 2);
    for t in TestStore::all().await {
        // Several group commits, so runs are written at commit boundaries.
        for chunk in (0..total).collect::<Vec<_>>().chunks(1000) {
            let ops = chunk
                .iter()
                .map(|&i| {
                    let mid = format!("d{i}");
                    let outcome = if i % 7 == 0 {
                        "refused: x"
                    } else {
                        "disclosed"
                    };
                    new_disclosure(&mid, outcome, LogLink::None)
                        .op_for(format!("subject-{}", i % 3))
                })
                .collect();
            t.store.write(ops).await.unwrap();
        }
        if t.store.kind == StoreKind::Sqlite {
            let (runs, waiting): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM disclosure_subject_runs), (SELECT COUNT(*) FROM disclosures WHERE id > (SELECT MAX(upto) FROM disclosure_subject_runs))",
            )
            .fetch_one(&t.store.pool)
            .await
            .unwrap();
            assert_eq!((runs, waiting), (2, (total - indexed) as i64));
        }
        for subject in 0..3 {
            let key = format!("subject-{subject}");
            let all = DisclosureFilter {
                limit: total as i64,
                subject_key: Some(key.clone()),
                ..Default::default()
            };
            let (found, scanned) = found_and_scanned(&t, &all).await;
            assert_eq!(found.len(), (0..total).filter(|i| i % 3 == subject).count());
            assert!(found == scanned, "the report and a scan differ");
            assert_eq!(
                found[0],
                format!("d{}", (0..total).rfind(|i| i % 3 == subject).unwrap())
            );
            let refused = DisclosureFilter {
                limit: 50,
                subject_key: Some(key),
                outcome_prefix: Some("refused".into()),
                ..Default::default()
            };
            let (found, scanned) = found_and_scanned(&t, &refused).await;
            assert_eq!(found.len(), 50);
            assert!(found == scanned, "the report and a scan differ");
        }
        t.done().await;
    }
}

/// Disclosures a store held before schema v10 make its first run: the report still finds
/// them after the upgrade, and beside them the ones recorded after.
#[tokio::test(flavor = "multi_thread")]
async fn disclosures_from_before_the_subject_runs_are_found_after_the_upgrade() {
    use crate::store::disclosures::DisclosureFilter;
    use sqlx::Connection;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("node.db").display());
    Store::create_schema_at(&url, 9).await.unwrap();
    {
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for i in 0..10 {
            sqlx::query("INSERT INTO disclosures (at_ms, direction, peer, acting_person, purpose, legal_basis, outcome, message_id, subject_masked, subject_key, log_index, commit_index) VALUES ($1, 'sent', $2, 'p', 'identity_confirmation', 'l', 'disclosed', $3, 's', $4, NULL, NULL)")
                .bind(i as i64)
                .bind(PEER)
                .bind(format!("old{i}"))
                .bind(format!("subject-{}", i % 2))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    }
    let store = Store::open(&url, LogState::new()).await.unwrap();
    let ops = (0..3)
        .map(|i| {
            new_disclosure(&format!("new{i}"), "disclosed", LogLink::None)
                .op_for("subject-0".into())
        })
        .collect();
    store.write(ops).await.unwrap();
    let found: Vec<String> = store
        .disclosures_where(&DisclosureFilter {
            limit: 100,
            subject_key: Some("subject-0".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.message_id)
        .collect();
    assert_eq!(
        found,
        [
            "new2", "new1", "new0", "old8", "old6", "old4", "old2", "old0"
        ]
    );
    store.close().await;
}
