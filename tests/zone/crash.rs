//! kill -9 under load: every exchange acknowledged before a kill is in both logs after the
//! restart, the only errors the kills cause are "peer unavailable", and the signed history
//! stays consistent.

use crate::audit::{export_of, settle, trusted_key};
use crate::common::{member, query, reason, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::audit::{self, Export};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Entry `index` of `e` is (`dir`, `…suffix`) for `message_id` with `peer`.
fn assert_entry(e: &Export, index: u64, dir: &str, suffix: &str, message_id: &str, peer: &str) {
    let line = e
        .entries
        .get(index as usize)
        .unwrap_or_else(|| panic!("{}: no entry {index}: acknowledged, then lost", e.centre));
    let f = audit::entry_fields(line).expect("entry fields");
    assert_eq!(
        (f.dir, f.message_id, f.peer, f.msg_type.ends_with(suffix)),
        (dir, message_id, peer, true),
        "{}: entry {index} is not the acknowledged {dir} {suffix} of {message_id} ({})",
        e.centre,
        f.msg_type
    );
}

fn has(e: &Export, dir: &str, suffix: &str, message_id: &str) -> bool {
    e.entries
        .iter()
        .filter_map(|l| audit::entry_fields(l))
        .any(|f| f.dir == dir && f.message_id == message_id && f.msg_type.ends_with(suffix))
}

/// What a kill -9 of the peer may do to a call in flight: make the peer unavailable (refused
/// connections, or the call's own connection broken under it; A's retry included). Anything
/// else (an internal error, a store failure, a refusal) is a bug the crash exposed.
fn expected_kill_error(e: &tonic::Status) -> bool {
    matches!(
        (e.code(), reason(e).as_str()),
        (tonic::Code::Unavailable, "PEER_UNAVAILABLE")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_keeps_every_acknowledged_exchange_and_a_consistent_signed_history() {
    let (_tmp, mut zone) = zone(3).await;
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let mut acknowledged: Vec<pb::LocalMemberReply> = Vec::new();
    for round in 0..3 {
        // Load on B from A while B is killed (SIGKILL) mid-stream: appends and checkpoint
        // signing (every 500 ms) are in flight.
        let clerk = zone.client(&a, Role::Clerk).unwrap();
        let q = query(&b, &m, pb::Purpose::IdentityConfirmation);
        let killed = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let load = tokio::spawn({
            let killed = killed.clone();
            let answered = answered.clone();
            async move {
                // Until the peer dies under it; every answer is an acknowledged exchange.
                let mut acked = Vec::new();
                loop {
                    match clerk.query_member(q.clone()).await {
                        Ok(r) => {
                            acked.push(r);
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => return (acked, e, killed.load(Ordering::SeqCst)),
                    }
                }
            }
        });
        // Kill only once the load is flowing (a loaded machine may take a while to answer
        // the first queries), then at a different moment each round.
        let flowing = tokio::time::Instant::now() + Duration::from_secs(60);
        while answered.load(Ordering::SeqCst) < 5 && !load.is_finished() {
            assert!(
                tokio::time::Instant::now() < flowing,
                "round {round}: no load flowed within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100 + 200 * round)).await;
        killed.store(true, Ordering::SeqCst);
        zone.kill(&b);
        let (acked, err, after_kill) = load.await.unwrap();
        assert!(
            after_kill,
            "round {round}: the load failed before the kill: {err:?}"
        );
        assert!(
            expected_kill_error(&err),
            "round {round}: the kill may only make the peer unavailable or break the call's \
             connection: {err:?}"
        );
        assert!(!acked.is_empty(), "load ran before the crash");
        acknowledged.extend(acked);
        zone.spawn(&b).unwrap();
        zone.wait_ready(&b, Duration::from_secs(30))
            .await
            .expect("B restarts: its log extends its last signed checkpoint");
    }
    settle(&zone).await;
    let (_, e) = export_of(&zone, &b).await;
    let rep = audit::verify(&e, Some(&trusted_key(&zone, &b)), 1, &|_, _| {});
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.checkpoints_verified >= 2, "{rep:?}");
    // Every acknowledged exchange is in both logs, where its receipts say.
    let (_, ea) = export_of(&zone, &a).await;
    for r in &acknowledged {
        let theirs = r.peer_receipt.as_ref().expect("peer receipt");
        let ours = r.local_receipt.as_ref().expect("local receipt");
        assert_eq!(theirs.message_id, ours.message_id);
        let mid = theirs.message_id.as_str();
        assert_entry(&e, theirs.log_index, "recv", "#request", mid, &a);
        assert!(
            has(&e, "sent", "#reply", mid),
            "{b} lost its reply to {mid}"
        );
        assert_entry(&ea, ours.log_index, "recv", "#reply", mid, &b);
        assert!(
            has(&ea, "sent", "#request", mid),
            "{a} lost its request {mid}"
        );
    }
    // Witnesses never saw an inconsistent checkpoint from B.
    for c in [&a, &zone.centres[2].code.clone()] {
        let st = zone
            .client(c, Role::Operator)
            .unwrap()
            .status()
            .await
            .unwrap();
        assert_eq!(
            st.witness_evidence, 0,
            "{c} kept evidence against a crash-recovered log"
        );
    }
}
