//! Revocation takes effect on every call, not only on new handshakes (issue 9, item 1): a
//! connection opened before its certificate was revoked is refused on its very next call once
//! the CRL is reloaded, on the local API (a clerk) and on the peer API (a node), and nothing is
//! disclosed for it afterwards.

use crate::common::{member, query, reason, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_certs::pki::Validity;
use hfx_node::auth::REASON_CERTIFICATE_REVOKED;
use hfx_proto::v1 as pb;

/// A call on a connection whose certificate was revoked: refused by the per-call check
/// (UNAUTHENTICATED, CERTIFICATE_REVOKED) or, once the reload has closed the connection, by
/// the handshake of the reconnect (a transport-level failure that no handler answered).
fn assert_revoked<T: std::fmt::Debug>(r: Result<T, tonic::Status>, what: &str) {
    let e = r.expect_err(what);
    match reason(&e).as_str() {
        REASON_CERTIFICATE_REVOKED => {
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{what}: {e:?}")
        }
        "" => assert!(
            matches!(
                e.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ),
            "{what}: expected a revocation refusal, got {e:?}"
        ),
        other => panic!("{what}: refused for {other}, not for revocation: {e:?}"),
    }
}

fn with_message_id(mut q: pb::LocalMemberQuery) -> (String, pb::LocalMemberQuery) {
    let id = uuid::Uuid::now_v7().to_string();
    q.message_id = id.clone();
    (id, q)
}

async fn disclosed(zone: &hfx_zone::launcher::Zone, centre: &str, message_id: &str) -> usize {
    zone.client(centre, Role::Auditor)
        .unwrap()
        .disclosures(500)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.message_id == message_id)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_refuses_a_clerks_open_connection_on_its_next_call() {
    let (_tmp, zone) = zone(3).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let (crt, _, _) = zd
        .issue_person(&a, Role::Clerk, "leaver", Validity::days(10))
        .unwrap();
    // One client, one channel, one HTTP/2 connection: opened and used before the revocation.
    let leaver =
        hfx_node::client::LocalClient::for_zone(&zone.dir, &a, Role::Clerk, "leaver").unwrap();
    let (first, q) = with_message_id(query(&b, &m, pb::Purpose::IdentityConfirmation));
    leaver
        .query_member(q)
        .await
        .expect("valid before revocation");
    assert_eq!(disclosed(&zone, &a, &first).await, 1);

    zd.revoke_cert_file(&crt, "left the centre").unwrap();
    let r = zone
        .client(&a, Role::Operator)
        .unwrap()
        .reload()
        .await
        .unwrap();
    assert!(r.tls_ok, "{r:?}");

    for round in 0..2 {
        let (id, q) = with_message_id(query(&b, &m, pb::Purpose::IdentityConfirmation));
        assert_revoked(
            leaver.query_member(q).await,
            &format!("call {round} on the revoked clerk's open connection"),
        );
        assert_eq!(disclosed(&zone, &a, &id).await, 0, "{a} recorded {id}");
        assert_eq!(disclosed(&zone, &b, &id).await, 0, "{b} disclosed {id}");
    }
    // Others are unaffected.
    let (_, q) = with_message_id(query(&b, &m, pb::Purpose::IdentityConfirmation));
    zone.client(&a, Role::Clerk)
        .unwrap()
        .query_member(q)
        .await
        .unwrap();
}

fn peer_query(m: &hfx_adapters::model::Member, acting: &str) -> (String, pb::PeerMemberQuery) {
    let q = query("", m, pb::Purpose::IdentityConfirmation);
    let id = uuid::Uuid::now_v7().to_string();
    let req = pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: id.clone(),
            purpose: q.purpose,
            acting_person: acting.to_string(),
            ..Default::default()
        }),
        person: q.person,
    };
    (id, req)
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_refuses_a_nodes_open_peer_connection_on_its_next_call() {
    let (_tmp, zone) = zone(3).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let acting = format!("{a}/clerk/c1");
    // A's node certificate, one channel to B's peer API, used once.
    let mut to_b = pb::member_exchange_client::MemberExchangeClient::new(
        crate::common::peer_channel(&zone, &a, &b),
    );
    let (first, req) = peer_query(&m, &acting);
    to_b.query_member(req)
        .await
        .expect("A is admitted before revocation");
    assert_eq!(disclosed(&zone, &b, &first).await, 1);

    zd.revoke_cert_file(&zd.node_cert_path(&a), "key compromise")
        .unwrap();
    let r = zone
        .client(&b, Role::Operator)
        .unwrap()
        .reload()
        .await
        .unwrap();
    assert!(r.tls_ok, "{r:?}");

    for round in 0..2 {
        let (id, req) = peer_query(&m, &acting);
        assert_revoked(
            to_b.query_member(req).await,
            &format!("call {round} on A's open channel to B"),
        );
        assert_eq!(disclosed(&zone, &b, &id).await, 0, "{b} disclosed {id}");
    }
    // C is unaffected.
    let c = zone.centres[2].code.clone();
    let mut from_c = pb::member_exchange_client::MemberExchangeClient::new(
        crate::common::peer_channel(&zone, &c, &b),
    );
    from_c
        .query_member(peer_query(&m, &format!("{c}/clerk/c1")).1)
        .await
        .unwrap();
}
