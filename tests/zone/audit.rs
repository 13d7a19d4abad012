//! The exchange log across a real zone: export, verify, replay, reconcile, witnessing, forks
//! shown to two witnesses, and retention (crash recovery: crash.rs).

use crate::common::{member, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::audit::{self, Export};
use hfx_zone::launcher::Zone;
use std::time::Duration;

pub async fn export_of(zone: &Zone, code: &str) -> (Vec<u8>, Export) {
    let client = zone.client(code, Role::Auditor).unwrap();
    let mut c = pb::audit_client::AuditClient::new(client.channel());
    let mut stream = c
        .export_log(pb::ExportRequest { from_index: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend_from_slice(&chunk.jsonl);
    }
    let e = audit::parse(&mut std::io::Cursor::new(&bytes), &|_, _| {}).unwrap();
    (bytes, e)
}

pub fn trusted_key(zone: &Zone, code: &str) -> String {
    let zd = zone.zone_dir();
    let signed = hfx_certs::SignedDirectory::from_json(
        &std::fs::read_to_string(zd.directory_path()).unwrap(),
    )
    .unwrap();
    let dir: hfx_certs::Directory = serde_json::from_str(&signed.payload).unwrap();
    use base64::Engine;
    let pk: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&dir.centre(code).unwrap().signing_key)
        .unwrap()
        .try_into()
        .unwrap();
    hfx_node::log::note::NoteVerifier::new(&hfx_node::log::origin(&dir.zone, code), pk)
        .unwrap()
        .verifier_key()
}

/// Cross-centre queries in rounds; returns how many were answered.
async fn traffic(zone: &Zone, rounds: usize) -> usize {
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    let mut n = 0;
    for r in 0..rounds {
        for (i, from) in codes.iter().enumerate() {
            let to = &codes[(i + 1 + r) % codes.len()];
            if to == from {
                continue;
            }
            let m = member(to, AccountStatus::Normal);
            let purpose = [
                pb::Purpose::IdentityConfirmation,
                pb::Purpose::TransferCheck,
                pb::Purpose::LoanApplication,
            ][r % 3];
            zone.client(from, Role::Clerk)
                .unwrap()
                .query_member(query(to, &m, purpose))
                .await
                .unwrap();
            n += 1;
        }
    }
    n
}

/// Wait until every node has signed a checkpoint covering its whole log.
/// Each of `codes`' logs, replayed, rebuilds exactly its store's disclosure records.
pub async fn assert_replay_clean(zone: &Zone, codes: &[String]) {
    for code in codes {
        let (_, e) = export_of(zone, code).await;
        let r = hfx_tlog::audit::replay(&e);
        assert!(
            r.differences.is_empty(),
            "{code}: replay differs from the store: {:?}",
            r.differences
        );
        assert!(r.rebuilt > 0, "{code}: nothing to replay");
    }
}

pub async fn settle(zone: &Zone) {
    for _ in 0..100 {
        let mut done = true;
        for c in &zone.centres {
            let st = zone
                .client(&c.code, Role::Operator)
                .unwrap()
                .status()
                .await
                .unwrap();
            done &= st.checkpoint_size == st.log_size;
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("checkpoints did not catch up");
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_verify_replay_and_reconcile_across_a_real_zone() {
    let (_tmp, zone) = zone(3).await;
    let queries = traffic(&zone, 6).await;
    settle(&zone).await;
    // Witnessing: each node's checkpoint gets cosigned by its two peers (quorum 2).
    // Every centre's newest checkpoint cosigned by a quorum: each export below must carry
    // cosignatures (waiting on one centre only let a slower one be exported unwitnessed).
    let mut witnessed = false;
    for _ in 0..200 {
        let mut all = true;
        for c in &zone.centres {
            let st = zone
                .client(&c.code, Role::Operator)
                .unwrap()
                .status()
                .await
                .unwrap();
            all &= st.witnessed_size > 0 && st.witnessed_size == st.checkpoint_size;
        }
        if all {
            witnessed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        witnessed,
        "checkpoints were not cosigned by a quorum of witnesses"
    );

    let mut exports = Vec::new();
    for c in &zone.centres {
        let (_, e) = export_of(&zone, &c.code).await;
        let rep = audit::verify(&e, Some(&trusted_key(&zone, &c.code)), 2, &|_, _| {});
        assert!(rep.problems.is_empty(), "{}: {:?}", c.code, rep.problems);
        assert!(
            rep.entries > 0 && rep.checkpoints_verified > 0 && rep.cosignatures_verified > 0,
            "{rep:?}"
        );
        let replay = audit::replay(&e);
        assert!(
            replay.differences.is_empty(),
            "{}: {:?}",
            c.code,
            replay.differences
        );
        assert!(replay.rebuilt > 0 && replay.undecodable == 0);
        exports.push(e);
    }
    let rep = audit::reconcile(&exports, hfx_node::now_ms());
    assert!(rep.breaks.is_empty(), "{:?}", rep.breaks);
    // Each query is a request and a reply, each seen on both sides.
    assert_eq!(rep.matched, 2 * queries as u64);

    // Delete one side's record of one message: exactly that break.
    let victim = exports[1]
        .entries
        .iter()
        .position(|l| {
            audit::entry_fields(l)
                .is_some_and(|f| f.dir == "recv" && f.msg_type.ends_with("#request"))
        })
        .unwrap();
    let f = audit::entry_fields(&exports[1].entries[victim]).unwrap();
    let (mid, from) = (f.message_id.to_string(), f.peer.to_string());
    exports[1].entries.remove(victim);
    let rep = audit::reconcile(&exports, hfx_node::now_ms());
    assert_eq!(rep.breaks.len(), 1, "{:?}", rep.breaks);
    let b = &rep.breaks[0];
    assert_eq!(
        (
            b.kind.as_str(),
            b.message_id.as_str(),
            b.from.as_str(),
            b.to.as_str()
        ),
        (
            "sent_not_received",
            mid.as_str(),
            from.as_str(),
            exports[1].centre.as_str()
        )
    );
    // And that export no longer verifies, saying where.
    let v = audit::verify(
        &exports[1],
        Some(&trusted_key(&zone, &exports[1].centre)),
        2,
        &|_, _| {},
    );
    assert!(
        v.problems.iter().any(|p| p.kind == "sequence_gap"),
        "{:?}",
        v.problems
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_log_shown_to_two_witnesses_is_caught_and_kept_as_evidence() {
    let (_tmp, mut zone) = zone(3).await;
    let [x, w1, w2] = [0, 1, 2].map(|i| zone.centres[i].code.clone());
    // X has signed nothing yet (no traffic). Stop it and play a dishonest X with its keys.
    zone.stop(&x, Duration::from_secs(5)).unwrap();
    let zd = zone.zone_dir();
    let dir: hfx_certs::Directory = serde_json::from_str(
        &hfx_certs::SignedDirectory::from_json(
            &std::fs::read_to_string(zd.directory_path()).unwrap(),
        )
        .unwrap()
        .payload,
    )
    .unwrap();
    let sk = hfx_certs::SigningKeyPair::from_pem(
        &std::fs::read_to_string(zd.signing_key_path(&x)).unwrap(),
    )
    .unwrap();
    let signer = hfx_node::log::note::NoteSigner::from_pkcs8(
        &hfx_node::log::origin(&dir.zone, &x),
        sk.pkcs8(),
    )
    .unwrap();
    let tree = |tag: &str| {
        let mut t = hfx_node::log::merkle::Tree::new();
        for i in 0..5 {
            t.push(hfx_node::log::merkle::leaf_hash(
                format!("{tag}{i}").as_bytes(),
            ));
        }
        t
    };
    let (t1, t2) = (tree("history-one-"), tree("history-two-"));
    let note = |t: &hfx_node::log::merkle::Tree| {
        hfx_node::log::note::Checkpoint::new(signer.name(), 5, t.root())
            .sign(&[&signer])
            .unwrap()
    };
    // X's own node certificate, so the witnesses take the calls as X's.
    let files = hfx_node::tls::TlsFiles {
        root: zd.root_cert_path(),
        crl: zd.crl_path(),
        cert: zd.node_cert_path(&x),
        key: zd.node_key_path(&x),
    };
    let cfg = std::sync::Arc::new(hfx_node::tls::client_config(&files).unwrap());
    for (w, t) in [(&w1, &t1), (&w2, &t2)] {
        let addr = zone.plan(w).unwrap().peer_addr.clone();
        let ch = hfx_node::tls::channel(
            cfg.clone(),
            addr,
            hfx_certs::node_dns_name(w),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        let mut c = pb::log_exchange_client::LogExchangeClient::new(ch);
        let r = c
            .cosign(pb::CosignRequest {
                header: None,
                note: note(t).into_bytes(),
                old_size: 0,
                proof: vec![],
            })
            .await;
        // The first witness cosigns (a consistent first checkpoint). The second either cosigns
        // too (its own view is consistent) or, if the first one's gossip reached it already,
        // refuses the contradicting checkpoint: both are right, and either way both keep evidence.
        match (w == &w1, r) {
            (_, Ok(_)) => {}
            (false, Err(e))
                if e.code() == tonic::Code::FailedPrecondition && e.message().contains("fork") => {}
            (_, Err(e)) => panic!("{w}: {e:?}"),
        }
    }
    // The witnesses gossip what they cosigned; each finds the other history.
    let mut found = Vec::new();
    for _ in 0..100 {
        found.clear();
        for w in [&w1, &w2] {
            let client = zone.client(w, Role::Auditor).unwrap();
            let mut c = pb::audit_client::AuditClient::new(client.channel());
            let ev = c
                .list_evidence(pb::EvidenceQuery { limit: 10 })
                .await
                .unwrap()
                .into_inner()
                .evidence;
            found.push(ev);
        }
        if found.iter().all(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (w, ev) in [&w1, &w2].iter().zip(&found) {
        let log = std::fs::read_to_string(zone.plan(w).unwrap().config.with_file_name("node.log"))
            .unwrap_or_default();
        let e = ev
            .first()
            .unwrap_or_else(|| panic!("{w} kept no evidence; its log:\n{log}"));
        assert_eq!(
            (e.centre.as_str(), e.kind.as_str()),
            (x.as_str(), "fork"),
            "{e:?}"
        );
        assert!(e.detail.contains("size 5"), "{}", e.detail);
        // Self-contained: both notes verify under X's key and disagree.
        let v = signer.verifier();
        let (a, _) = hfx_node::log::note::Checkpoint::open(
            std::str::from_utf8(&e.old_note).unwrap(),
            std::slice::from_ref(&v),
        )
        .unwrap();
        let (b, _) = hfx_node::log::note::Checkpoint::open(
            std::str::from_utf8(&e.new_note).unwrap(),
            std::slice::from_ref(&v),
        )
        .unwrap();
        assert_eq!(a.size, b.size);
        assert_ne!(a.root, b.root);
    }
    // An inconsistent later checkpoint shown to W1 is refused and kept too.
    let mut t3 = tree("history-three-");
    t3.push(hfx_node::log::merkle::leaf_hash(b"more"));
    let n3 = hfx_node::log::note::Checkpoint::new(signer.name(), 6, t3.root())
        .sign(&[&signer])
        .unwrap();
    let addr = zone.plan(&w1).unwrap().peer_addr.clone();
    let ch = hfx_node::tls::channel(
        cfg,
        addr,
        hfx_certs::node_dns_name(&w1),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    let bogus = t3
        .consistency_proof(5, 6)
        .unwrap()
        .iter()
        .map(|h| h.to_vec())
        .collect();
    let e = pb::log_exchange_client::LogExchangeClient::new(ch)
        .cosign(pb::CosignRequest {
            header: None,
            note: n3.into_bytes(),
            old_size: 5,
            proof: bogus,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    let st = zone
        .client(&w1, Role::Operator)
        .unwrap()
        .status()
        .await
        .unwrap();
    assert!(st.witness_evidence >= 2, "{st:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn purged_payloads_leave_the_log_verifiable() {
    let (_tmp, zone) = zone(3).await;
    traffic(&zone, 2).await;
    settle(&zone).await;
    let code = zone.centres[1].code.clone();
    let cfg = hfx_node::config::NodeConfig::load(&zone.plan(&code).unwrap().config).unwrap();
    let store = hfx_node::store::Store::open_offline(&cfg.store_url())
        .await
        .unwrap();
    let n = store.purge(hfx_node::now_ms() + 1000).await.unwrap();
    assert!(n > 0);
    let (_, e) = export_of(&zone, &code).await;
    let rep = audit::verify(&e, Some(&trusted_key(&zone, &code)), 1, &|_, _| {});
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(
        rep.payloads_purged >= n && rep.payloads_present == 0,
        "{rep:?}"
    );
    let replay = audit::replay(&e);
    assert!(replay.differences.is_empty(), "{:?}", replay.differences);
    assert!(
        replay.undecodable > 0,
        "purposes of purged payloads are not guessed"
    );
}
