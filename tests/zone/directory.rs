//! The directory: tampered, expired and older versions are refused and the node keeps serving
//! on the last good one; a newer good one is taken without a restart.

use crate::common::{member, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::zonedir::write_atomic;
use hfx_certs::{Role, SignedDirectory};
use hfx_proto::v1 as pb;

#[tokio::test(flavor = "multi_thread")]
async fn bad_directories_are_refused_and_the_last_good_one_kept() {
    let (_tmp, mut zone) = zone(3).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let op = zone.client(&a, Role::Operator).unwrap();
    let clerk = zone.client(&a, Role::Clerk).unwrap();
    let m = member(&b, AccountStatus::Normal);
    assert_eq!(op.status().await.unwrap().directory_version, 1);

    // A newer good directory is taken live, by the file watch alone (no signal, no call).
    let v2 = zd.publish_directory().unwrap();
    let v2_text = std::fs::read_to_string(zd.directory_path()).unwrap();
    let mut seen = 0;
    for _ in 0..100 {
        seen = op.status().await.unwrap().directory_version;
        if seen == v2.version {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, v2.version,
        "the file watch picked up the new directory"
    );

    // Tampered: B's endpoint changed without the root's signature.
    let mut signed = SignedDirectory::from_json(&v2_text).unwrap();
    signed.payload = signed
        .payload
        .replacen(&zone.plan(&b).unwrap().peer_addr, "127.0.0.1:9", 1);
    write_atomic(&zd.directory_path(), signed.to_json().as_bytes()).unwrap();
    let r = op.reload().await.unwrap();
    assert!(!r.directory_ok && r.detail.contains("signature"), "{r:?}");
    assert_eq!(r.directory_version, 2);
    clerk
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("still serving on v2");

    // Expired: properly signed by the root, but past its expiry.
    let root = zd.root().unwrap();
    let mut expired: hfx_certs::Directory =
        serde_json::from_str(&SignedDirectory::from_json(&v2_text).unwrap().payload).unwrap();
    expired.version = 10;
    expired.expires_at_unix = hfx_certs::zonedir::now_unix() - 60;
    write_atomic(
        &zd.directory_path(),
        expired.sign(|m| root.sign(m)).unwrap().to_json().as_bytes(),
    )
    .unwrap();
    let r = op.reload().await.unwrap();
    assert!(!r.directory_ok && r.detail.contains("expired"), "{r:?}");
    assert_eq!(r.directory_version, 2);

    // Older version: v1-style rollback, signed and unexpired, but not newer than v2.
    let mut older: hfx_certs::Directory =
        serde_json::from_str(&SignedDirectory::from_json(&v2_text).unwrap().payload).unwrap();
    older.version = 1;
    write_atomic(
        &zd.directory_path(),
        older.sign(|m| root.sign(m)).unwrap().to_json().as_bytes(),
    )
    .unwrap();
    let r = op.reload().await.unwrap();
    assert!(!r.directory_ok && r.detail.contains("not newer"), "{r:?}");
    assert_eq!(r.directory_version, 2);
    clerk
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("still serving on v2");

    // A restart with a bad directory file on disk comes back on the last good one.
    zone.stop(&a, std::time::Duration::from_secs(5)).unwrap();
    zone.spawn(&a).unwrap();
    zone.wait_ready(&a, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let op = zone.client(&a, Role::Operator).unwrap();
    assert_eq!(op.status().await.unwrap().directory_version, 2);
    let log =
        std::fs::read_to_string(zone.plan(&a).unwrap().config.with_file_name("node.log")).unwrap();
    assert!(
        log.contains("serving on the last good one"),
        "the refusal is visible to the operator"
    );
}

/// Restart `code` with whatever directory file is on disk; returns what its log said since.
async fn restart(zone: &mut hfx_zone::launcher::Zone, code: &str) -> String {
    let path = zone.plan(code).unwrap().config.with_file_name("node.log");
    let before = std::fs::metadata(&path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    zone.stop(code, std::time::Duration::from_secs(5)).unwrap();
    zone.spawn(code).unwrap();
    zone.wait_ready(code, std::time::Duration::from_secs(30))
        .await
        .expect("the node restarts on its last good directory");
    let log = std::fs::read_to_string(&path).expect("the node's log file");
    log.get(before..).unwrap_or(&log).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_a_tampered_or_expired_directory_on_disk_serves_on_the_last_good_one() {
    let (_tmp, mut zone) = zone(3).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    // The last good directory: v2, taken by A.
    let v2 = zd.publish_directory().unwrap();
    let v2_text = std::fs::read_to_string(zd.directory_path()).unwrap();
    let op = zone.client(&a, Role::Operator).unwrap();
    let r = op.reload().await.unwrap();
    assert!(r.directory_ok && r.directory_version == v2.version, "{r:?}");
    let b_addr = zone.plan(&b).unwrap().peer_addr.clone();
    let good: hfx_certs::Directory =
        serde_json::from_str(&SignedDirectory::from_json(&v2_text).unwrap().payload).unwrap();
    let root = zd.root().unwrap();

    // Tampered: newer and unexpired, B's endpoint moved, the old signature kept.
    let mut tampered = good.clone();
    tampered.version = v2.version + 1;
    for c in &mut tampered.centres {
        c.endpoint = c.endpoint.replace(&b_addr, "127.0.0.1:9");
    }
    let mut signed = tampered.sign(|m| root.sign(m)).unwrap();
    signed.signature = SignedDirectory::from_json(&v2_text).unwrap().signature;
    write_atomic(&zd.directory_path(), signed.to_json().as_bytes()).unwrap();
    let said = restart(&mut zone, &a).await;
    let op = zone.client(&a, Role::Operator).unwrap();
    assert_eq!(op.status().await.unwrap().directory_version, v2.version);
    assert!(
        said.lines()
            .any(|l| l.contains("serving on the last good one") && l.contains("signature")),
        "the refusal and its reason are visible to the operator:\n{said}"
    );
    zone.client(&a, Role::Clerk)
        .unwrap()
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("serving on v2: B at its real endpoint");

    // Expired: newer and properly signed by the root, but past its expiry.
    let mut expired = good.clone();
    expired.version = v2.version + 2;
    expired.expires_at_unix = hfx_certs::zonedir::now_unix() - 60;
    write_atomic(
        &zd.directory_path(),
        expired.sign(|m| root.sign(m)).unwrap().to_json().as_bytes(),
    )
    .unwrap();
    let said = restart(&mut zone, &a).await;
    let op = zone.client(&a, Role::Operator).unwrap();
    assert_eq!(op.status().await.unwrap().directory_version, v2.version);
    assert!(
        said.lines()
            .any(|l| l.contains("serving on the last good one") && l.contains("expired")),
        "the refusal and its reason are visible to the operator:\n{said}"
    );
    zone.client(&a, Role::Clerk)
        .unwrap()
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("still serving on v2");
}
