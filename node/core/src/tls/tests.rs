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
