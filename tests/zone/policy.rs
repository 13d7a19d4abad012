//! A centre's `[policy]` on real nodes: a purpose it does not allow a peer is refused and
//! recorded, a peer over its rate for a purpose gets RESOURCE_EXHAUSTED / `RATE_LIMITED` and
//! that is recorded too; and `hfx disclosures` lists the records by member (the member's
//! own report), peer, purpose, direction, outcome and time.

use crate::common::{member, query, reason, zone_with};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;

fn shipped_codes() -> Vec<String> {
    hfx_certs::ZoneConfig::parse(hfx_zone::launcher::SHIPPED_ZONE)
        .unwrap()
        .centres
        .iter()
        .map(|c| c.code.clone())
        .collect()
}

/// `hfx disclosures ARGS --json` at `code`'s node, as an auditor: the records.
fn cli_disclosures(dir: &std::path::Path, code: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = crate::common::hfx()
        .args(["disclosures", "--dir"])
        .arg(dir)
        .args(["--node", code, "--json"])
        .args(args)
        .output()
        .expect("running hfx disclosures");
    assert!(
        out.status.success(),
        "hfx disclosures {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["disclosures"].as_array().expect("disclosures").clone()
}

fn outcomes(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_by_purpose_and_by_rate_are_recorded_and_the_member_report_finds_them() {
    let codes = shipped_codes();
    let (a, b) = (codes[0].clone(), codes[1].clone());
    let (tmp, mut zone) = zone_with(3, |spec| {
        // b lets a ask only two purposes, and identity confirmations at 2 a minute.
        spec.policies.insert(
            b.clone(),
            [(
                a.clone(),
                vec!["identity_confirmation".into(), "transfer_check".into()],
            )]
            .into(),
        );
        spec.rates
            .insert(b.clone(), [("identity_confirmation".to_string(), 2)].into());
    })
    .await;
    let c = zone.centres[2].code.clone();
    let m = member(&b, AccountStatus::Normal);
    // A second normal member of b's, with the same seed as common::member.
    let opts = hfx_standins::seed::SeedOptions {
        seed: 1,
        ..Default::default()
    };
    let other = (0..crate::common::MEMBERS)
        .map(|i| hfx_standins::seed::generate(&b, &opts, i).member)
        .filter(|x| x.status == AccountStatus::Normal && x.id_type == m.id_type)
        .nth(1)
        .expect("a second normal member");
    assert_ne!(m.id_number, other.id_number);
    let clerk = zone.client(&a, Role::Clerk).unwrap();

    // Within the rate, then over it.
    for _ in 0..2 {
        clerk
            .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
            .await
            .expect("within the rate");
    }
    let e = clerk
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::ResourceExhausted, "RATE_LIMITED"),
        "{e:?}"
    );
    // Another purpose of the same peer is not limited; another peer has its own bucket.
    clerk
        .query_member(query(&b, &other, pb::Purpose::TransferCheck))
        .await
        .expect("transfer_check has no rate");
    let clerk_c = zone.client(&c, Role::Clerk).unwrap();
    clerk_c
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("c's own bucket is full");
    // A purpose b does not allow a: refused, and recorded.
    let e = clerk
        .query_member(query(&b, &m, pb::Purpose::LoanApplication))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::PermissionDenied, "PURPOSE_NOT_ALLOWED")
    );

    let dir = tmp.path();
    // b's records of a's requests: 2 disclosed, 1 over the rate, 1 not allowed, plus the
    // transfer check about the other member.
    let from_a = cli_disclosures(dir, &b, &["--peer", &a]);
    let mut got = outcomes(&from_a);
    got.sort();
    assert_eq!(
        got,
        [
            "disclosed",
            "disclosed",
            "disclosed",
            "refused: RATE_LIMITED",
            "refused: purpose not allowed"
        ],
        "{from_a:?}"
    );
    let refused = cli_disclosures(dir, &b, &["--direction", "refused"]);
    assert_eq!(refused.len(), 2, "{refused:?}");
    let limited = cli_disclosures(dir, &b, &["--outcome", "refused: RATE"]);
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0]["purpose"], "identity_confirmation");

    // The member's report at b: every record about m (from a and from c), none about the
    // other member, found by the id, not by the masked text.
    let report = cli_disclosures(dir, &b, &["--member", &m.id_number]);
    assert_eq!(report.len(), 5, "{report:?}");
    assert!(
        report
            .iter()
            .all(|r| r["purpose"] != "transfer_check" && r["fields"].as_str().is_some()),
        "{report:?}"
    );
    let peers: std::collections::BTreeSet<_> = report
        .iter()
        .map(|r| r["peer"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(peers, [a.clone(), c.clone()].into());
    let report_other = cli_disclosures(dir, &b, &["--member", &other.id_number]);
    assert_eq!(outcomes(&report_other), ["disclosed"], "{report_other:?}");
    assert_eq!(report_other[0]["purpose"], "transfer_check");
    // The asking side keeps its own records of what it was told, found the same way.
    let at_a = cli_disclosures(
        dir,
        &a,
        &[
            "--member",
            &m.id_number,
            "--purpose",
            "identity_confirmation",
        ],
    );
    assert_eq!(at_a.len(), 3, "{at_a:?}");
    assert!(
        at_a.iter().all(|r| r["direction"] == "received"),
        "{at_a:?}"
    );
    // A time range in the future holds nothing; the human report says so.
    assert!(cli_disclosures(dir, &b, &["--since", "2999-01-01"]).is_empty());
    let out = crate::common::hfx()
        .args(["disclosures", "--dir"])
        .arg(dir)
        .args(["--node", &b, "--member", &m.id_number])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("5 records, newest first"), "{text}");
    assert!(
        !text.contains(&m.id_number),
        "the report masks the id: {text}"
    );
    // Bad input names the field.
    let out = crate::common::hfx()
        .args(["disclosures", "--dir"])
        .arg(dir)
        .args(["--node", &b, "--member", "123"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("member_id_number"), "{err}");
    zone.shutdown().await;
}
