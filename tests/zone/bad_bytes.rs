//! Bytes a standard gRPC client can send that are not a request: an oversize message, garbage,
//! invalid UTF-8 in a string field, a message cut short. On both APIs of a real node each is
//! refused with the gRPC spec's code and a stable `hfx-reason` (never OUT_OF_RANGE or
//! INTERNAL without one), and the node answers normally afterwards, on the same connection.

use crate::common::{member, peer_channel, query, reason, zone};
use crate::raw;
use hfx_adapters::model::{AccountStatus, Member};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;

const LOCAL_QUERY_MEMBER: &str = "/hfx.v1.Clerk/QueryMember";

/// Stands in the name of an encoded request, to be replaced by invalid UTF-8 of its length.
const MARK: &[u8] = b"@@MARK@@";

/// `encoded` with [`MARK`] replaced by bytes that are not UTF-8 (the framing stays valid).
fn with_invalid_utf8(mut encoded: Vec<u8>) -> Vec<u8> {
    let at = encoded
        .windows(MARK.len())
        .position(|w| w == MARK)
        .expect("marker in the encoded request");
    encoded[at..at + MARK.len()].copy_from_slice(&[0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xff]);
    encoded
}

/// A member query from `caller`'s node (for its clerk) to `target`'s.
fn peer_request(caller: &str, target: &str, m: &Member) -> pb::PeerMemberQuery {
    let q = query(target, m, pb::Purpose::IdentityConfirmation);
    pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: uuid::Uuid::now_v7().to_string(),
            purpose: q.purpose,
            acting_person: format!("{caller}/clerk/{}", hfx_zone::launcher::CLERK),
            ..Default::default()
        }),
        person: q.person,
    }
}

/// Every kind of bad bytes on `path`, each refused as it should be; `invalid_utf8` is a valid
/// request of the method's type whose person name is not UTF-8.
async fn refuse_bad_bytes(api: &str, ch: &Channel, path: &'static str, invalid_utf8: Vec<u8>) {
    let expect = |what: &str, r: Result<Vec<u8>, tonic::Status>, code: Code, why: &str| {
        let e = r.expect_err(what);
        assert_eq!(
            (e.code(), reason(&e).as_str()),
            (code, why),
            "{api}, {what}: {e:?}"
        );
        assert!(
            e.message().starts_with(&format!("{why}: ")),
            "{api}, {what}: the message starts with the reason: {e:?}"
        );
        e
    };

    let e = expect(
        "20 MB message",
        raw::unary(ch.clone(), path, vec![0u8; 20 << 20]).await,
        Code::ResourceExhausted,
        "MESSAGE_TOO_LARGE",
    );
    assert!(
        e.message().contains("the limit is"),
        "{api}: the refusal says the limit: {e:?}"
    );

    let e = expect(
        "invalid UTF-8 in a string",
        raw::unary(ch.clone(), path, invalid_utf8).await,
        Code::InvalidArgument,
        "UNDECODABLE_MESSAGE",
    );
    assert!(
        e.message().contains("PersonKey.name") && e.message().contains("UTF-8"),
        "{api}: the refusal names the field: {e:?}"
    );

    let garbage: [(&str, Vec<u8>); 4] = [
        ("0xff bytes", vec![0xff; 64]),
        ("wire type 7", vec![0x0f, 0x00]),
        ("field 0", vec![0x00, 0x01]),
        ("a length past the end", vec![0x12, 0x40, b'x']),
    ];
    for (what, bytes) in garbage {
        expect(
            what,
            raw::unary(ch.clone(), path, bytes).await,
            Code::InvalidArgument,
            "UNDECODABLE_MESSAGE",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bytes_are_refused_with_reasons_on_both_apis_and_the_node_stays_healthy() {
    let (_tmp, zone) = zone(2).await;
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);

    // Peer API, as centre A's node.
    let peer = peer_channel(&zone, &a, &b);
    let mut req = peer_request(&a, &b, &m);
    req.person.as_mut().unwrap().name = String::from_utf8(MARK.to_vec()).unwrap();
    refuse_bad_bytes(
        "peer",
        &peer,
        raw::PEER_QUERY_MEMBER,
        with_invalid_utf8(req.encode_to_vec()),
    )
    .await;
    // A method the peer API does not have: refused with a reason too.
    let e = raw::unary(peer.clone(), "/hfx.v1.MemberExchange/NoSuchMethod", vec![])
        .await
        .expect_err("no such method");
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (Code::Unimplemented, "UNIMPLEMENTED"),
        "{e:?}"
    );
    // Healthy: a real query on the same connection, and on a new one.
    for ch in [peer, peer_channel(&zone, &a, &b)] {
        pb::member_exchange_client::MemberExchangeClient::new(ch)
            .query_member(peer_request(&a, &b, &m))
            .await
            .expect("peer query after the bad bytes");
    }

    // Local API, as a clerk of centre A.
    let clerk = zone.client(&a, Role::Clerk).unwrap();
    let mut q = query(&b, &m, pb::Purpose::IdentityConfirmation);
    q.person.as_mut().unwrap().name = String::from_utf8(MARK.to_vec()).unwrap();
    refuse_bad_bytes(
        "local",
        &clerk.channel(),
        LOCAL_QUERY_MEMBER,
        with_invalid_utf8(q.encode_to_vec()),
    )
    .await;
    // Healthy: a real query on the same connection, and on a new one.
    clerk
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("local query after the bad bytes");
    zone.client(&a, Role::Clerk)
        .unwrap()
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("local query on a new connection");
    zone.client(&b, Role::Operator)
        .unwrap()
        .status()
        .await
        .expect("both nodes still answer");
}
