use super::advice::{self, Severity};
use super::*;

const A: &str = "320300000000000";
const B: &str = "320700000000000";
const C: &str = "321100000000000";

#[test]
fn clock_thresholds_split_problem_warning_and_fine() {
    let f = advice::peer_clock(B, 612_000, 3).expect("612 s is a problem");
    assert_eq!(f.severity, Severity::Problem);
    assert_eq!(
        f.advice,
        format!(
            "peer {B} is 612 s ahead: fix its NTP (chrony) — TLS and checkpoints need clocks within 60 s"
        )
    );
    let f = advice::peer_clock(B, -7_000, 3).expect("7 s is a warning");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.advice.contains("7 s behind"), "{}", f.advice);
    assert!(advice::peer_clock(B, CLOCK_SKEW_WARNING_MS, 3).is_none());
}

#[test]
fn when_most_peers_disagree_the_odd_clock_is_ours() {
    let skews = vec![(B.to_string(), -600_000, 2), (C.to_string(), -601_000, 2)];
    let f = advice::clock(A, &skews);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].centre, A);
    assert!(
        f[0].advice
            .contains("this node's clock is about 600 s ahead"),
        "{}",
        f[0].advice
    );
    // One peer off among two: that peer is blamed.
    let skews = vec![(B.to_string(), 600_000, 2), (C.to_string(), 10, 2)];
    let f = advice::clock(A, &skews);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].centre, B);
}

#[test]
fn certificate_expiry_within_14_days_is_a_problem() {
    let now = 1_800_000_000;
    let f = advice::cert_expiry(B, false, now + 7 * 86_400 + 60, now).expect("7 days");
    assert_eq!(f.severity, Severity::Problem);
    assert!(
        f.advice
            .starts_with(&format!("peer {B}'s node certificate expires in 7 days")),
        "{}",
        f.advice
    );
    assert!(advice::cert_expiry(B, false, now + CERT_EXPIRY_PROBLEM_SECS + 1, now).is_none());
    let f = advice::cert_expiry(A, true, now - 86_400, now).expect("expired");
    assert!(f.advice.contains("has expired"), "{}", f.advice);
}

#[test]
fn policy_mismatch_both_ways_and_directory_versions() {
    let f = advice::policy(A, B, &["loan_check".into()], &[]);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].advice
            .starts_with(&format!("peer {B} refuses our loan_check requests")),
        "{}",
        f[0].advice
    );
    let f = advice::policy(A, B, &[], &["transfer_check".into()]);
    assert!(
        f[0].advice.contains("lets us ask transfer_check"),
        "{}",
        f[0].advice
    );
    assert!(advice::directory(B, 3, 3).is_none());
    assert!(
        advice::directory(B, 2, 3)
            .expect("older")
            .advice
            .contains("its operator must install")
    );
}

#[test]
fn witness_lag_thresholds() {
    assert!(advice::witness_lag(B, true, WITNESS_LAG_WARNING_ENTRIES, 0, 5_000).is_none());
    let f = advice::witness_lag(B, true, WITNESS_LAG_PROBLEM_ENTRIES + 1, 0, 20_000).expect("lag");
    assert_eq!(f.severity, Severity::Problem);
    let f = advice::witness_lag(B, false, WITNESS_LAG_WARNING_ENTRIES + 1, 0, 2_000).expect("lag");
    assert_eq!(f.severity, Severity::Warning);
}
