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

/// Revoke the certificate in `crt` in the zone's CRL and have `reloader`'s node load it now.
async fn revoke_and_reload(
    zone: &hfx_zone::launcher::Zone,
    crt: &std::path::Path,
    why: &str,
    reloader: &str,
) {
    zone.zone_dir().revoke_cert_file(crt, why).unwrap();
    let r = zone
        .client(reloader, Role::Operator)
        .unwrap()
        .reload()
        .await
        .unwrap();
    assert!(r.tls_ok, "{r:?}");
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

    revoke_and_reload(&zone, &crt, "left the centre", &a).await;

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

    revoke_and_reload(&zone, &zd.node_cert_path(&a), "key compromise", &b).await;

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

/// `hfx member query` as `person` of centre `a`, the real binary, from outside the zone.
async fn cli_query(
    zone: &hfx_zone::launcher::Zone,
    a: &str,
    b: &str,
    person: &str,
    m: &hfx_adapters::model::Member,
) -> std::process::Output {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    tokio::process::Command::from(crate::common::hfx())
        .args(["member", "query", "--person", person, "--centre", b])
        .args(["--id-number", &m.id_number, "--name", &m.name])
        .args(["--purpose", "identity_confirmation"])
        .arg("--dir")
        .arg(&zone.dir)
        .args(["--node", a])
        .current_dir(elsewhere.path())
        .env("LC_ALL", "C.UTF-8")
        .env_remove("HFX_DIR")
        .env_remove("HFX_NODE")
        .env_remove("HFX_PERSON")
        .output()
        .await
        .expect("run hfx")
}

/// The node's log lines that name `serial`, waited for (the node writes its log as it goes).
async fn log_lines_naming(zone: &hfx_zone::launcher::Zone, code: &str, serial: &str) -> String {
    for _ in 0..50 {
        let lines: Vec<String> = crate::common::node_log(zone, code)
            .lines()
            .filter(|l| l.contains(serial))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() {
            return lines.join("\n");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{code}'s log never names serial {serial}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_or_expired_clerk_is_told_so_and_the_node_logs_the_serial() {
    let (_tmp, zone) = zone(2).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);

    // Revoked: issued, working, revoked, reloaded; the next CLI call is a new process (a new
    // handshake), which the node refuses with the TLS alert.
    let (crt, _, serial) = zd
        .issue_person(&a, Role::Clerk, "leaver", Validity::days(10))
        .unwrap();
    let ok = cli_query(&zone, &a, &b, "leaver", &m).await;
    assert!(ok.status.success(), "{ok:?}");
    revoke_and_reload(&zone, &crt, "left the centre", &a).await;
    let out = cli_query(&zone, &a, &b, "leaver", &m).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a revoked clerk's query passed: {out:?}"
    );
    assert!(err.contains("it is revoked"), "{err}");
    assert!(err.contains(&format!("serial {serial}")), "{err}");
    assert!(err.contains("clerk-leaver.crt.pem"), "{err}");
    assert!(err.contains("ask the zone operator"), "{err}");
    assert!(!err.contains("error: Unknown: transport error"), "{err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "printed more than once: {err}"
    );
    let logged = log_lines_naming(&zone, &a, &serial).await;
    assert!(logged.contains("CERTIFICATE_REVOKED"), "{logged}");
    assert!(logged.contains("WARN"), "{logged}");
    assert!(
        !logged.contains("leaver"),
        "the log names the person: {logged}"
    );

    // Expired: a certificate whose window has ended is named as expired, with its end.
    let (_, _, old) = zd
        .issue_person(&a, Role::Clerk, "expired1", Validity::expired())
        .unwrap();
    let out = cli_query(&zone, &a, &b, "expired1", &m).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an expired clerk's query passed: {out:?}"
    );
    assert!(err.contains("it expired on"), "{err}");
    assert!(err.contains(&format!("serial {old}")), "{err}");
    let logged = log_lines_naming(&zone, &a, &old).await;
    assert!(logged.contains("CERTIFICATE_EXPIRED"), "{logged}");

    // Others are unaffected.
    let out = cli_query(&zone, &a, &b, "clerk1", &m).await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_prints_once_also_for_a_relative_path_outside_the_zone() {
    let (_tmp, zone) = zone(2).await;
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::from(crate::common::hfx())
        .args(["certs", "revoke", "--cert", "people/nobody/clerk-x.crt.pem"])
        .arg("--dir")
        .arg(&zone.dir)
        .current_dir(elsewhere.path())
        .output()
        .await
        .expect("run hfx");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(err.contains("clerk-x.crt.pem"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        assert_eq!(
            err.matches(line.trim()).count(),
            1,
            "{line:?} twice in {err}"
        );
    }
    let cause = "No such file or directory";
    assert!(err.matches(cause).count() <= 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_log_written_to_a_file_has_the_refusal_and_no_colour_codes() {
    crate::common::init();
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-")
        .tempdir()
        .expect("tempdir");
    let mut spec = hfx_zone::launcher::ZoneSpec::new(tmp.path(), 2);
    spec.members_per_centre = crate::common::MEMBERS;
    spec.log_level = "info".into();
    let prepared = hfx_zone::launcher::prepare(&spec, &|_| {})
        .await
        .expect("prepare zone");
    let mut zone = hfx_zone::launcher::Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    // A's node logs text (`format = "text"`) into its log file, which is no terminal.
    let config = zone.plan(&a).expect("centre").config.clone();
    let toml = std::fs::read_to_string(&config).unwrap();
    assert!(toml.contains("format = \"json\""), "{toml}");
    std::fs::write(
        &config,
        toml.replace("format = \"json\"", "format = \"text\""),
    )
    .unwrap();
    zone.start_all().await.expect("start zone");

    let zd = zone.zone_dir();
    let m = member(&b, AccountStatus::Normal);
    let (crt, _, serial) = zd
        .issue_person(&a, Role::Clerk, "leaver", Validity::days(10))
        .unwrap();
    revoke_and_reload(&zone, &crt, "left the centre", &a).await;
    let out = cli_query(&zone, &a, &b, "leaver", &m).await;
    assert!(!out.status.success(), "{out:?}");
    let line = log_lines_naming(&zone, &a, &serial).await;
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("CERTIFICATE_REVOKED"), "{line}");
    assert!(
        !line.trim_start().starts_with('{'),
        "not a text line: {line}"
    );
    let log = crate::common::node_log(&zone, &a);
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
}
