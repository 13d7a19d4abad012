//! Each refusal is asserted on the first call: under TLS 1.3 a refused client's connect
//! succeeds and its first call fails.

use crate::common::{member, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::{Role, Validity, ZoneDir, ZoneRoot};
use hfx_proto::v1 as pb;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use std::time::Duration;

fn roots(zd: &ZoneDir) -> Arc<RootCertStore> {
    let mut r = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(zd.root_cert_path()).unwrap() {
        r.add(c.unwrap()).unwrap();
    }
    Arc::new(r)
}

fn crls(zd: &ZoneDir) -> Vec<CertificateRevocationListDer<'static>> {
    CertificateRevocationListDer::pem_file_iter(zd.crl_path())
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
}

fn config(
    zd: &ZoneDir,
    cert_pem: &str,
    key_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> ClientConfig {
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    hfx_node::tls::client_config_from(roots(zd), crls(zd), chain, key, versions).unwrap()
}

fn channel(cfg: ClientConfig, addr: &str, centre: &str) -> tonic::transport::Channel {
    hfx_node::tls::channel(
        Arc::new(cfg),
        addr.to_string(),
        hfx_certs::node_dns_name(centre),
        None,
        Duration::from_secs(5),
    )
    .unwrap()
}

async fn peer_call(
    ch: tonic::transport::Channel,
    target: &str,
) -> Result<pb::PeerMemberReply, tonic::Status> {
    let m = member(target, AccountStatus::Normal);
    let q = query(target, &m, pb::Purpose::IdentityConfirmation);
    let req = pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: uuid::Uuid::now_v7().to_string(),
            purpose: q.purpose,
            acting_person: "test".into(),
            ..Default::default()
        }),
        person: q.person,
    };
    pb::member_exchange_client::MemberExchangeClient::new(ch)
        .query_member(req)
        .await
        .map(|r| r.into_inner())
}

/// Refused in the TLS handshake: the call fails at the transport, never reaching a handler.
/// (Which code a refused handshake surfaces as depends on when the alert arrives.)
fn assert_tls_refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, what: &str) {
    let e = r.expect_err(what);
    assert!(
        matches!(
            e.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
        ),
        "{what}: expected a transport-level refusal, got {e:?}"
    );
    assert!(
        hfx_node::error::reason_of(&e).is_none(),
        "{what}: a handler answered: {e:?}"
    );
}

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_fails_the_first_call() {
    let (_tmp, zone) = zone(3).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let b_addr = zone.plan(&b).unwrap().peer_addr.clone();
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

    // Control: A's own node certificate is admitted by B's peer API.
    let good = config(
        &zd,
        &read(zd.node_cert_path(&a)),
        &read(zd.node_key_path(&a)),
        tls13,
    );
    peer_call(channel(good, &b_addr, &b), &b)
        .await
        .expect("a valid peer is admitted");

    // No client certificate.
    let mut no_cert = ClientConfig::builder_with_protocol_versions(tls13)
        .with_root_certificates(roots(&zd))
        .with_no_client_auth();
    no_cert.alpn_protocols = vec![b"h2".to_vec()];
    assert_tls_refused(
        peer_call(channel(no_cert, &b_addr, &b), &b).await,
        "no client certificate",
    );

    // A certificate from another root, naming a real centre.
    let evil = ZoneRoot::generate("evil", 30)
        .unwrap()
        .issue_node(&a, Validity::days(10))
        .unwrap();
    assert_tls_refused(
        peer_call(
            channel(
                config(&zd, &evil.cert_pem, &evil.key_pem, tls13),
                &b_addr,
                &b,
            ),
            &b,
        )
        .await,
        "another root",
    );

    // An expired certificate from the right root.
    let root = zd.root().unwrap();
    let old = root.issue_node(&a, Validity::expired()).unwrap();
    assert_tls_refused(
        peer_call(
            channel(config(&zd, &old.cert_pem, &old.key_pem, tls13), &b_addr, &b),
            &b,
        )
        .await,
        "expired certificate",
    );

    // TLS 1.2 offered: the nodes speak TLS 1.3 only.
    let tls12 = config(
        &zd,
        &read(zd.node_cert_path(&a)),
        &read(zd.node_key_path(&a)),
        &[&rustls::version::TLS12],
    );
    assert_tls_refused(peer_call(channel(tls12, &b_addr, &b), &b).await, "TLS 1.2");

    // Centre X's certificate presenting as centre Y: a valid, zone-signed node certificate for
    // A that is not the one the directory pins for A is refused.
    let twin = root.issue_node(&a, Validity::days(10)).unwrap();
    let e = peer_call(
        channel(
            config(&zd, &twin.cert_pem, &twin.key_pem, tls13),
            &b_addr,
            &b,
        ),
        &b,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("not the one directory"),
        "{}",
        e.message()
    );

    // A person certificate on the peer API.
    let (crt, key) = zd.person_paths(&a, Role::Clerk, hfx_zone::launcher::CLERK);
    let e = peer_call(
        channel(config(&zd, &read(crt), &read(key), tls13), &b_addr, &b),
        &b,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("person certificate"),
        "{}",
        e.message()
    );

    // A node certificate on the local API.
    let local = zone.plan(&b).unwrap().local_addr.clone();
    let node_cfg = config(
        &zd,
        &read(zd.node_cert_path(&a)),
        &read(zd.node_key_path(&a)),
        tls13,
    );
    let e = pb::operator_client::OperatorClient::new(channel(node_cfg, &local, &b))
        .status(pb::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");

    // Another centre's person on this centre's local API.
    let (crt, key) = zd.person_paths(&a, Role::Operator, hfx_zone::launcher::OPERATOR);
    let other = config(&zd, &read(crt), &read(key), tls13);
    let e = pb::operator_client::OperatorClient::new(channel(other, &local, &b))
        .status(pb::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");

    // The server side: a node answering at B's address with A's certificate is refused by
    // the dialling client (the name and the pinned fingerprint are B's).
    let a_addr = zone.plan(&a).unwrap().peer_addr.clone();
    let dial_b_reach_a = config(
        &zd,
        &read(zd.node_cert_path(&b)),
        &read(zd.node_key_path(&b)),
        tls13,
    );
    assert_tls_refused(
        peer_call(channel(dial_b_reach_a, &a_addr, &b), &a).await,
        "server with the wrong centre's certificate",
    );

    // The control still works: refusals did not disturb the node.
    let good = config(
        &zd,
        &read(zd.node_cert_path(&a)),
        &read(zd.node_key_path(&a)),
        tls13,
    );
    peer_call(channel(good, &b_addr, &b), &b)
        .await
        .expect("still serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_certificate_is_refused_after_a_live_crl_reload() {
    let (_tmp, zone) = zone(3).await;
    let zd = zone.zone_dir();
    let a = zone.centres[0].code.clone();
    let local = zone.plan(&a).unwrap().local_addr.clone();
    let (crt, key, _) = zd
        .issue_person(&a, Role::Operator, "leaver", Validity::days(10))
        .unwrap();
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let cfg = config(&zd, &read(crt.clone()), &read(key.clone()), tls13);
    pb::operator_client::OperatorClient::new(channel(cfg, &local, &a))
        .status(pb::StatusRequest {})
        .await
        .expect("valid before revocation");

    zd.revoke_cert_file(&crt, "left the centre").unwrap();
    // Live reload, no restart: the operator asks the node to reload now.
    let r = zone
        .client(&a, Role::Operator)
        .unwrap()
        .reload()
        .await
        .unwrap();
    assert!(r.tls_ok, "{r:?}");
    let cfg = config(&zd, &read(crt), &read(key), tls13);
    let r = pb::operator_client::OperatorClient::new(channel(cfg, &local, &a))
        .status(pb::StatusRequest {})
        .await;
    assert_tls_refused(r, "revoked certificate");
    // Others are unaffected.
    zone.client(&a, Role::Operator)
        .unwrap()
        .status()
        .await
        .unwrap();
}
