//! Revocation on live connections without a network: the CRL index matches the certificates
//! it revokes, and the local and peer interceptors refuse a revoked certificate on the call.

use super::*;
use hfx_certs::{RevokedEntry, Role, Validity, ZoneRoot};

const CENTRE: &str = "110000000000001";

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("certificate pem")
}

fn crl(root: &ZoneRoot, serials: &[&str]) -> Vec<CertificateRevocationListDer<'static>> {
    let revoked: Vec<_> = serials
        .iter()
        .map(|s| RevokedEntry {
            serial: s.to_string(),
            revoked_at_unix: 1_700_000_000,
            reason: "test".into(),
        })
        .collect();
    let pem = root.issue_crl(1, &revoked, 10).expect("crl");
    CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("crl pem")
}

fn info(cert: &CertificateDer<'static>, revocation: &Revocation) -> TlsConnectInfo {
    TlsConnectInfo {
        remote_addr: None,
        cert: ConnCert::of(cert).map(Arc::new),
        peer_certs: Arc::new(vec![cert.clone()]),
        revocation: revocation.clone(),
    }
}

#[test]
fn the_crl_index_names_exactly_the_revoked_certificates() {
    let root = ZoneRoot::generate("test", 10).unwrap();
    let gone = root
        .issue_person(CENTRE, Role::Clerk, "gone", Validity::days(10))
        .unwrap();
    let kept = root
        .issue_person(CENTRE, Role::Clerk, "kept", Validity::days(10))
        .unwrap();
    let other_root = ZoneRoot::generate("other", 10).unwrap();
    let set = RevokedSerials::from_crls(&crl(&root, &[&gone.serial])).unwrap();
    assert_eq!(set.len(), 1);
    let (g, k) = (der(&gone.cert_pem), der(&kept.cert_pem));
    let gc = ConnCert::of(&g).unwrap();
    assert_eq!(gc.serial_hex(), gone.serial.trim_start_matches("00"));
    assert!(set.contains(&gc));
    assert!(!set.contains(&ConnCert::of(&k).unwrap()));
    // The same serial from another issuer is not revoked by this CRL.
    let foreign = RevokedSerials::from_crls(&crl(&other_root, &[&gone.serial])).unwrap();
    assert!(!foreign.contains(&gc));
}

#[test]
fn a_live_connection_is_refused_once_its_certificate_is_revoked_or_unpinned() {
    let root = ZoneRoot::generate("test", 10).unwrap();
    let clerk = root
        .issue_person(CENTRE, Role::Clerk, "c1", Validity::days(10))
        .unwrap();
    let cert = der(&clerk.cert_pem);
    let revocation = Revocation::default();
    let info = info(&cert, &revocation);
    let cc = info.cert.clone().unwrap();
    assert!(info.revoked_cert().is_none());
    assert_eq!(revocation.refuses(&cc), None);
    revocation.set_admitted(Some(HashSet::from([cc.fingerprint.clone()])));
    assert_eq!(revocation.refuses(&cc), None);
    revocation.set_admitted(Some(HashSet::new()));
    assert!(revocation.refuses(&cc).is_some(), "no longer pinned");
    revocation.set_admitted(None);
    revocation.set_revoked(RevokedSerials::from_crls(&crl(&root, &[&clerk.serial])).unwrap());
    assert_eq!(
        info.revoked_cert().map(|c| c.serial.clone()),
        Some(cc.serial.clone())
    );
    assert!(revocation.refuses(&cc).is_some());
}

#[test]
fn the_interceptors_refuse_a_revoked_certificate_on_the_call() {
    let root = ZoneRoot::generate("test", 10).unwrap();
    let clerk = root
        .issue_person(CENTRE, Role::Clerk, "c1", Validity::days(10))
        .unwrap();
    let cert = der(&clerk.cert_pem);
    let revocation = Revocation::default();
    let call = || {
        let mut req = tonic::Request::new(());
        req.extensions_mut().insert(info(&cert, &revocation));
        crate::auth::local_interceptor(CENTRE.to_string())(req)
    };
    call().expect("admitted before revocation");
    revocation.set_revoked(RevokedSerials::from_crls(&crl(&root, &[&clerk.serial])).unwrap());
    let e = call().expect_err("refused after revocation");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        crate::error::reason_of(&e).as_deref(),
        Some(crate::auth::REASON_CERTIFICATE_REVOKED)
    );
}

/// Write `pem` to `dir/name`.
fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).expect("write pem");
    p
}

/// A real handshake over loopback with a person certificate the server's CRL revokes, and
/// one whose validity has ended: the refused client's call fails, and the TLS alert the
/// server sent is found in the call's error chain (what the CLI tells its user from).
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_client_certificate_reaches_the_caller_as_the_servers_alert() {
    install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let root = ZoneRoot::generate("test", 10).unwrap();
    let node = root.issue_node(CENTRE, Validity::days(10)).unwrap();
    let gone = root
        .issue_person(CENTRE, Role::Clerk, "gone", Validity::days(10))
        .unwrap();
    let old = root
        .issue_person(CENTRE, Role::Clerk, "old", Validity::expired())
        .unwrap();
    let crl_pem = root
        .issue_crl(
            1,
            &[RevokedEntry {
                serial: gone.serial.clone(),
                revoked_at_unix: 1_700_000_000,
                reason: "test".into(),
            }],
            10,
        )
        .unwrap();
    let root_path = write(d, "root.pem", root.cert_pem());
    let crl_path = write(d, "crl.pem", &crl_pem);
    let server_files = TlsFiles {
        root: root_path.clone(),
        crl: crl_path.clone(),
        cert: write(d, "node.pem", &node.cert_pem),
        key: write(d, "node.key", &node.key_pem),
    };
    let tls = ServerTls::new(server_config_for(&server_files, "local").unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming(listener, tls, "local")),
    );
    let call = |who: &hfx_certs::IssuedCert, name: &str| {
        let files = TlsFiles {
            root: root_path.clone(),
            crl: crl_path.clone(),
            cert: write(d, &format!("{name}.pem"), &who.cert_pem),
            key: write(d, &format!("{name}.key"), &who.key_pem),
        };
        let cfg = Arc::new(client_config(&files).unwrap());
        let ch = channel(
            cfg,
            addr.clone(),
            hfx_certs::node_dns_name(CENTRE),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        async move {
            tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
        }
    };
    for (who, name, want) in [
        (&gone, "gone", rustls::AlertDescription::CertificateRevoked),
        (&old, "old", rustls::AlertDescription::CertificateExpired),
    ] {
        // The client may see the connection close before it reads the alert (then the call
        // fails Cancelled or Unavailable with no alert, and the CLI falls back on the
        // certificate's own standing): some of a few fresh connections carry it.
        let mut seen = None;
        for _ in 0..40 {
            let e = call(who, name).await.expect_err("a refused certificate");
            let source = std::error::Error::source(&e).expect("a transport error has a source");
            match alert_in(source) {
                Some(a) => {
                    seen = Some(a);
                    break;
                }
                None => assert!(
                    matches!(
                        e.code(),
                        tonic::Code::Cancelled | tonic::Code::Unavailable | tonic::Code::Unknown
                    ),
                    "{name}: {e:?}"
                ),
            }
        }
        assert_eq!(
            seen,
            Some(want),
            "{name}: the alert never reached the caller"
        );
        // Its own standing says the same from the files alone.
        let standing = CertStanding::read(&d.join(format!("{name}.pem")), &crl_path).unwrap();
        assert_eq!(standing.serial, who.serial);
        let now = time_now_unix();
        assert_eq!(standing.revoked, name == "gone");
        assert_eq!(standing.expired_at(now), name == "old");
    }
    server.abort();
}

fn time_now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
