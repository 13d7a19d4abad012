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
