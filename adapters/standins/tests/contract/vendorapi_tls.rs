//! The vendor adapter's transport: https verified against `adapter.ca_file` (the host named by
//! `adapter.url` must be in the server certificate), an optional client certificate, and plain
//! http only when `adapter.allow_plain_http` says so.

use hfx_adapters::open::AdapterSettings;
use hfx_adapters::vendorapi::VendorApiCore;
use hfx_adapters::{AdapterError, CheckItem, CoreSystem};
use hfx_standins::seeding::Seed;
use hfx_standins::vendor::{Faults, ServerTls, StandIn, Transport, VendorCa, spawn_standin_with};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CENTRE: &str = "320500000000000";

async fn standin(dir: &Path, transport: Transport) -> StandIn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn_standin_with(listener, &dir.join("vendor"), Faults::default(), transport)
        .await
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A stand-in serving https with a certificate for `names` issued by `ca`.
async fn https_standin(dir: &Path, ca: &VendorCa, names: &[&str]) -> StandIn {
    let (cert_pem, key_pem) = ca.server_cert(names).unwrap();
    standin(
        dir,
        Transport::Tls(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: None,
        }),
    )
    .await
}

/// The stand-in's settings, trusting the CA in `ca_file`.
fn trusting(s: &StandIn, ca_file: &Path) -> AdapterSettings {
    AdapterSettings {
        ca_file: Some(ca_file.to_path_buf()),
        allow_plain_http: false,
        timeout_ms: Some(10_000),
        ..s.settings()
    }
}

fn item<'a>(checks: &'a [CheckItem], name: &str) -> &'a CheckItem {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check in {checks:?}"))
}

/// A refused certificate fails the call at once: no request reached the API, no retries.
async fn refused(s: &StandIn, core: &VendorApiCore) -> String {
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 1).member;
    let t0 = Instant::now();
    let e = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "refused after {:?}: retried? {e}",
        t0.elapsed()
    );
    assert_eq!(s.server.stats().requests, 0, "a request got through: {e}");
    match &e {
        AdapterError::Other { .. } => e.detail(),
        other => panic!("want Other (not retried as Unavailable), got {other:?}"),
    }
}

#[tokio::test]
async fn vendorapi_https_round_trip_with_the_vendors_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = VendorCa::generate("vendor CA").unwrap();
    let ca_file = write(dir.path(), "ca.pem", ca.cert_pem());
    let s = https_standin(dir.path(), &ca, &["127.0.0.1"]).await;
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let core = VendorApiCore::open(&trusting(&s, &ca_file)).unwrap();
    core.seed(CENTRE, &crate::opts(), 0, 5, &|_| {})
        .await
        .unwrap();
    let want = hfx_standins::seed::generate(CENTRE, &crate::opts(), 3).member;
    assert_eq!(
        core.member_by_id(want.id_type, &want.id_number)
            .await
            .unwrap(),
        Some(want)
    );
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert_eq!(
        item(&checks, "transport").detail,
        format!(
            "https, server certificate verified against {}, no client certificate",
            ca_file.display()
        )
    );
}

#[tokio::test]
async fn vendorapi_refuses_a_server_certificate_from_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ours = VendorCa::generate("the vendor's CA").unwrap();
    let other = VendorCa::generate("some other CA").unwrap();
    let ca_file = write(dir.path(), "ca.pem", ours.cert_pem());
    // the right name, the wrong issuer
    let s = https_standin(dir.path(), &other, &["127.0.0.1", "localhost"]).await;
    let core = VendorApiCore::open(&trusting(&s, &ca_file)).unwrap();
    let e = refused(&s, &core).await;
    assert!(
        e.contains("adapter.ca_file") && e.contains("UnknownIssuer"),
        "{e}"
    );
    let checks = core.check().await;
    let conn = item(&checks, "connectivity");
    assert!(
        !conn.ok && conn.detail.contains("adapter.ca_file"),
        "{checks:?}"
    );
    // the same server, trusted through its own CA: it answers
    let right = write(dir.path(), "other.pem", other.cert_pem());
    let trusted = VendorApiCore::open(&trusting(&s, &right)).unwrap();
    let checks = trusted.check().await;
    assert!(item(&checks, "connectivity").ok, "{checks:?}");
}

#[tokio::test]
async fn vendorapi_refuses_a_certificate_for_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let ca = VendorCa::generate("vendor CA").unwrap();
    let ca_file = write(dir.path(), "ca.pem", ca.cert_pem());
    // the right CA, issued for another name than the URL's host (127.0.0.1)
    let s = https_standin(dir.path(), &ca, &["api.other-vendor.example"]).await;
    let core = VendorApiCore::open(&trusting(&s, &ca_file)).unwrap();
    let e = refused(&s, &core).await;
    assert!(
        e.contains("not valid for the host of adapter.url")
            && e.contains("api.other-vendor.example"),
        "{e}"
    );
    // and a certificate for 127.0.0.1 does not serve the name localhost
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = https_standin(dir2.path(), &ca, &["127.0.0.1"]).await;
    let port = s2.url.rsplit(':').next().unwrap();
    let by_name = VendorApiCore::open(&AdapterSettings {
        url: Some(format!("https://localhost:{port}")),
        ..trusting(&s2, &ca_file)
    })
    .unwrap();
    let e = refused(&s2, &by_name).await;
    assert!(e.contains("not valid for the host of adapter.url"), "{e}");
}

#[tokio::test]
async fn vendorapi_client_certificate_is_presented_and_required() {
    let dir = tempfile::tempdir().unwrap();
    // the stand-in's own generated CA: server certificate, and a client certificate required
    let s = standin(dir.path(), Transport::Generated).await;
    let files = s.client_files().cloned().unwrap();
    let settings = s.settings();
    assert_eq!(settings.ca_file.as_ref(), Some(&files.ca_file));
    assert!(!settings.allow_plain_http);
    let core = s.core(Some(Duration::from_secs(10))).unwrap();
    core.seed(CENTRE, &crate::opts(), 0, 3, &|_| {})
        .await
        .unwrap();
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert_eq!(
        item(&checks, "transport").detail,
        format!(
            "https, server certificate verified against {}, client certificate {}",
            files.ca_file.display(),
            files.client_cert_file.as_ref().unwrap().display()
        )
    );
    // without one: the server refuses the connection, and the error names the setting
    let bare = VendorApiCore::open(&AdapterSettings {
        client_cert_file: None,
        client_key_file: None,
        timeout_ms: Some(10_000),
        ..settings.clone()
    })
    .unwrap();
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 1).member;
    let e = bare
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(
        matches!(e, AdapterError::Other { .. }) && e.detail().contains("adapter.client_cert_file"),
        "{e:?}"
    );
    // one from another CA is refused too
    let stranger = VendorCa::generate("not the vendor").unwrap();
    let (c, k) = stranger.client_cert("intruder").unwrap();
    let wrong = VendorApiCore::open(&AdapterSettings {
        client_cert_file: Some(write(dir.path(), "c.pem", &c)),
        client_key_file: Some(write(dir.path(), "k.pem", &k)),
        timeout_ms: Some(10_000),
        ..settings
    })
    .unwrap();
    let e = wrong
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(e.detail().contains("adapter.client_cert_file"), "{e:?}");
}

#[tokio::test]
async fn vendorapi_plain_http_needs_the_explicit_setting() {
    let dir = tempfile::tempdir().unwrap();
    let s = standin(dir.path(), Transport::Plain).await;
    assert!(s.url.starts_with("http://"), "{}", s.url);
    let settings = s.settings();
    assert!(settings.allow_plain_http);
    // without the flag: refused before anything is sent, naming the setting
    let e = hfx_adapters::open::open(&AdapterSettings {
        allow_plain_http: false,
        ..settings.clone()
    })
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("adapter.allow_plain_http") && e.contains("plain http"),
        "{e}"
    );
    assert_eq!(s.server.stats().requests, 0);
    // with it: works, and the check says what it is
    let core = hfx_adapters::open::open(&settings).await.unwrap();
    let checks = core.check().await;
    assert_eq!(
        item(&checks, "transport").detail,
        "plain http (allow_plain_http = true): personal data crosses the network in clear"
    );
    assert!(item(&checks, "connectivity").ok, "{checks:?}");
    // a CA file with a plain URL is a mistake, not a silent downgrade
    let e = VendorApiCore::open(&AdapterSettings {
        ca_file: Some(dir.path().join("ca.pem")),
        ..settings
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("adapter.ca_file") && e.contains("https://"),
        "{e}"
    );
}

#[tokio::test]
async fn vendorapi_https_settings_are_checked_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let base = AdapterSettings {
        kind: "vendorapi".into(),
        url: Some("https://127.0.0.1:1".into()),
        client_id: Some("x".into()),
        client_secret: Some("y".into()),
        ..Default::default()
    };
    let not_pem = write(dir.path(), "not.pem", "hello");
    let ca = VendorCa::generate("vendor CA").unwrap();
    let ca_file = write(dir.path(), "ca.pem", ca.cert_pem());
    for (s, want) in [
        (base.clone(), "adapter.ca_file is required"),
        (
            AdapterSettings {
                ca_file: Some(dir.path().join("missing.pem")),
                ..base.clone()
            },
            "adapter.ca_file",
        ),
        (
            AdapterSettings {
                ca_file: Some(not_pem.clone()),
                ..base.clone()
            },
            "adapter.ca_file",
        ),
        (
            AdapterSettings {
                ca_file: Some(ca_file.clone()),
                client_cert_file: Some(ca_file.clone()),
                ..base.clone()
            },
            "adapter.client_key_file",
        ),
        (
            AdapterSettings {
                ca_file: Some(ca_file.clone()),
                client_cert_file: Some(ca_file.clone()),
                client_key_file: Some(not_pem),
                ..base.clone()
            },
            "adapter.client_key_file",
        ),
        (
            AdapterSettings {
                url: Some("ftp://127.0.0.1:1".into()),
                ..base.clone()
            },
            "must start with https://",
        ),
    ] {
        let e = hfx_adapters::open::open(&s)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[tokio::test]
async fn vendorapi_https_to_a_plain_server_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = VendorCa::generate("vendor CA").unwrap();
    let ca_file = write(dir.path(), "ca.pem", ca.cert_pem());
    let s = standin(dir.path(), Transport::Plain).await;
    let core = VendorApiCore::open(&AdapterSettings {
        url: Some(s.url.replacen("http://", "https://", 1)),
        ..trusting(&s, &ca_file)
    })
    .unwrap();
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 1).member;
    let e = core
        .member_by_id(m.id_type, &m.id_number)
        .await
        .unwrap_err();
    assert!(
        matches!(e, AdapterError::Other { .. }) && e.detail().contains("speak https"),
        "{e:?}"
    );
}
