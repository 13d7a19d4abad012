//! One message id, answered once: every duplicate of it — retried, concurrent through the
//! asking node, concurrent straight at the peer API — gets the stored reply byte for byte, the
//! answering log holds the exchange exactly once, and both logs still verify and reconcile.

use crate::audit::{export_of, settle, trusted_key};
use crate::common::{member, peer_channel, query, zone};
use crate::raw::{PEER_QUERY_MEMBER, unary};
use hfx_adapters::model::{AccountStatus, Member};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::audit::{self, Export};
use prost::Message;

/// Concurrent duplicates per message.
const N: usize = 8;

fn peer_query(m: &Member, message_id: &str, purpose: pb::Purpose) -> Vec<u8> {
    let q = query("", m, purpose);
    pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: message_id.to_string(),
            purpose: purpose as i32,
            acting_person: "test".into(),
            ..Default::default()
        }),
        person: q.person,
    }
    .encode_to_vec()
}

/// The entries of `e` for `message_id` as (dir, msg_type, payload bytes).
fn entries_for(e: &Export, message_id: &str) -> Vec<(String, String, Vec<u8>)> {
    e.entries
        .iter()
        .filter_map(|l| audit::entry_fields(l))
        .filter(|f| f.message_id == message_id)
        .map(|f| {
            let hash: [u8; 32] = hex::decode(f.payload_sha256)
                .expect("hex payload hash")
                .try_into()
                .expect("32-byte hash");
            let payload = e
                .payloads
                .get(&hash)
                .cloned()
                .flatten()
                .expect("payload present in the export");
            (f.dir.to_string(), f.msg_type.to_string(), payload)
        })
        .collect()
}

fn count(entries: &[(String, String, Vec<u8>)], dir: &str, suffix: &str) -> usize {
    entries
        .iter()
        .filter(|(d, t, _)| d == dir && t.ends_with(suffix))
        .count()
}

/// The one reply `b` logged for `message_id`, after checking it logged the exchange once.
fn logged_once(b: &Export, message_id: &str) -> Vec<u8> {
    let es = entries_for(b, message_id);
    assert_eq!(
        (count(&es, "recv", "#request"), count(&es, "sent", "#reply")),
        (1, 1),
        "{message_id}: the answering log holds the exchange exactly once: {:?}",
        es.iter().map(|(d, t, _)| (d, t)).collect::<Vec<_>>()
    );
    es.into_iter()
        .find(|(d, t, _)| d == "sent" && t.ends_with("#reply"))
        .map(|(_, _, p)| p)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_of_a_message_get_the_stored_reply_byte_for_byte_and_are_logged_once() {
    let (_tmp, zone) = zone(3).await;
    let [a, b, c] = [0, 1, 2].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let clerk = zone.client(&a, Role::Clerk).unwrap();

    // 1. A clerk's retry through A: the same stored reply, one disclosure.
    let mut q = query(&b, &m, pb::Purpose::TransferCheck);
    let retried = uuid::Uuid::now_v7().to_string();
    q.message_id = retried.clone();
    let r1 = clerk.query_member(q.clone()).await.unwrap();
    let r2 = clerk.query_member(q).await.unwrap();
    assert_eq!(
        r1.peer_receipt, r2.peer_receipt,
        "a duplicate must get the stored reply"
    );
    assert_eq!(r1.member, r2.member);
    let theirs = zone
        .client(&b, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert_eq!(theirs.iter().filter(|d| d.direction == "sent").count(), 1);

    // 2. N concurrent duplicates through A: B sees them race for the first answer.
    let mut q = query(&b, &m, pb::Purpose::LoanApplication);
    let raced = uuid::Uuid::now_v7().to_string();
    q.message_id = raced.clone();
    let calls = (0..N).map(|_| {
        let (clerk, q) = (clerk.clone(), q.clone());
        tokio::spawn(async move { clerk.query_member(q).await })
    });
    let mut via_a = Vec::new();
    for t in calls {
        via_a.push(
            t.await
                .unwrap()
                .expect("every concurrent duplicate is answered"),
        );
    }
    for r in &via_a {
        assert_eq!(r.peer_receipt, via_a[0].peer_receipt, "one stored reply");
        assert_eq!(r.member, via_a[0].member);
    }

    // 3. N concurrent duplicates of one fresh message straight at B's peer API, as C: the
    //    reply bytes exactly as they travel, whichever duplicate won the race.
    let fresh = uuid::Uuid::now_v7().to_string();
    let body = peer_query(&m, &fresh, pb::Purpose::IdentityConfirmation);
    let ch = peer_channel(&zone, &c, &b);
    let calls = (0..N).map(|_| tokio::spawn(unary(ch.clone(), PEER_QUERY_MEMBER, body.clone())));
    let mut raw_fresh = Vec::new();
    for t in calls {
        raw_fresh.push(t.await.unwrap().expect("every raw duplicate is answered"));
    }
    assert!(!raw_fresh[0].is_empty());
    for r in &raw_fresh {
        assert_eq!(r, &raw_fresh[0], "concurrent duplicates get the same bytes");
    }

    // 4. Later duplicates of A's two messages, as A: the stored bytes again, concurrently.
    let ch = peer_channel(&zone, &a, &b);
    let mut raw_later = Vec::new();
    for mid in [&retried, &raced] {
        let body = peer_query(&m, mid, pb::Purpose::IdentityConfirmation);
        let calls =
            (0..N).map(|_| tokio::spawn(unary(ch.clone(), PEER_QUERY_MEMBER, body.clone())));
        let mut got = Vec::new();
        for t in calls {
            got.push(t.await.unwrap().expect("a later duplicate is answered"));
        }
        for r in &got {
            assert_eq!(r, &got[0], "{mid}: later duplicates get the same bytes");
        }
        raw_later.push(got.swap_remove(0));
    }
    // What A's clerk was told is what those bytes say.
    for (bytes, told) in raw_later.iter().zip([&r1, &via_a[0]]) {
        let reply = pb::PeerMemberReply::decode(bytes.as_slice()).unwrap();
        assert_eq!(reply.receipt, told.peer_receipt);
        assert_eq!(reply.member, told.member);
    }

    // B disclosed each message once.
    let theirs = zone
        .client(&b, Role::Auditor)
        .unwrap()
        .disclosures(100)
        .await
        .unwrap();
    for mid in [&retried, &raced, &fresh] {
        let sent = theirs
            .iter()
            .filter(|d| d.direction == "sent" && &d.message_id == mid)
            .count();
        assert_eq!(sent, 1, "{mid}: disclosed once");
    }

    // The logs: B holds each exchange once, its reply the very bytes every duplicate got; A
    // logged what it received byte for byte.
    settle(&zone).await;
    let (bytes_a, ea) = export_of(&zone, &a).await;
    let (bytes_b, eb) = export_of(&zone, &b).await;
    assert_eq!(logged_once(&eb, &fresh), raw_fresh[0]);
    for (mid, bytes, sends) in [(&retried, &raw_later[0], 2), (&raced, &raw_later[1], N)] {
        assert_eq!(&logged_once(&eb, mid), bytes, "{mid}");
        let at_a = entries_for(&ea, mid);
        assert_eq!(count(&at_a, "sent", "#request"), sends, "{mid}: A's sends");
        let replies: Vec<_> = at_a
            .iter()
            .filter(|(d, t, _)| d == "recv" && t.ends_with("#reply"))
            .collect();
        assert_eq!(replies.len(), sends, "{mid}: A's replies");
        for (_, _, p) in replies {
            assert_eq!(p, bytes, "{mid}: A logged the stored reply's bytes");
        }
    }

    // Both logs still verify, and reconcile in either export order (C is not exported: what
    // it sent B counts as not exported, never as a break).
    for (e, code) in [(&ea, &a), (&eb, &b)] {
        let rep = audit::verify(e, Some(&trusted_key(&zone, code)), 1, &|_, _| {});
        assert!(rep.problems.is_empty(), "{code}: {:?}", rep.problems);
        assert!(rep.entries > 0 && rep.checkpoints_verified > 0, "{rep:?}");
    }
    let parse = |b: &[u8]| audit::parse(&mut std::io::Cursor::new(b), &|_, _| {}).unwrap();
    let ab = audit::reconcile(&[ea, eb], hfx_tlog::now_ms());
    let ba = audit::reconcile(&[parse(&bytes_b), parse(&bytes_a)], hfx_tlog::now_ms());
    for rep in [&ab, &ba] {
        assert!(rep.breaks.is_empty(), "{:?}", rep.breaks);
        assert!(rep.matched > 0 && rep.not_exported > 0, "{rep:?}");
    }
    assert_eq!(
        ab.matched, ba.matched,
        "reconcile does not depend on export order"
    );
}
