//! `hfx zone doctor` on a zone of four with four things wrong: one peer down (stopped), one
//! peer's clock ten minutes ahead (a REAL skew: its process runs under libfaketime, so its
//! tokio, rustls and SystemTime all see the shifted clock), one node certificate expiring
//! within 14 days (rotated with a 7-day validity before the zone starts), and a policy
//! mismatch (that centre's `[policy]` refuses us `loan_check`, which ours allows it). Each is
//! reported, in `--json` and in text, with its advice line; the exit code says problems.

use crate::common::{in_ci, init};
use hfx_certs::{Role, Validity, ZoneDir};
use hfx_proto::v1 as pb;
use hfx_zone::launcher::{SHIPPED_ZONE, Zone, ZoneSpec, prepare};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Where Debian's `faketime` package puts the preload library (.ci/run installs it).
const FAKETIME_LIBS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
];

fn shipped_codes() -> Vec<String> {
    hfx_certs::ZoneConfig::parse(SHIPPED_ZONE)
        .expect("shipped zone")
        .centres
        .iter()
        .map(|c| c.code.clone())
        .collect()
}

/// `hfx zone doctor` at `code`'s node: (exit code, stdout).
fn doctor(dir: &Path, code: &str, extra: &[&str]) -> (i32, String) {
    let out = crate::common::hfx()
        .args(["zone", "doctor", "--dir"])
        .arg(dir)
        .args(["--node", code])
        .args(extra)
        .output()
        .expect("running hfx zone doctor");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('…'),
        "progress shown on a pipe: {stderr}"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn doctor_json(dir: &Path, code: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let (rc, out) = doctor(dir, code, &args);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("doctor --json: {e}: {out}"));
    (rc, v)
}

/// The findings about `centre` of check `check`.
fn findings<'a>(report: &'a Value, centre: &str, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["centre"] == centre && f["check"] == check)
        .collect()
}

fn advice(f: &Value) -> &str {
    f["advice"].as_str().expect("advice")
}

/// The number just before `suffix` in `text` ("… is 600 s ahead" → 600).
fn number_before(text: &str, suffix: &str) -> i64 {
    let head = text
        .split(suffix)
        .next()
        .unwrap_or_else(|| panic!("{suffix:?} not in {text:?}"));
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before {suffix:?} in {text:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_reports_a_down_peer_a_skewed_clock_an_expiring_certificate_and_a_policy_mismatch()
 {
    init();
    let Some(faketime) = FAKETIME_LIBS.iter().find(|p| Path::new(p).exists()) else {
        assert!(
            !in_ci(),
            "libfaketime is missing (apt-get install faketime; .ci/run installs it)"
        );
        eprintln!("skipped: libfaketime not installed (apt-get install faketime)");
        return;
    };
    let codes = shipped_codes();
    let (a, down, skewed, expiring) = (&codes[0], &codes[1], &codes[2], &codes[3]);

    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-")
        .tempdir()
        .expect("tempdir");
    let mut spec = ZoneSpec::new(tmp.path(), 4);
    spec.members_per_centre = 20;
    spec.log_level = "warn".into();
    // Hello and health end at the peer timeout: generous, for a loaded machine.
    spec.peer_timeout_ms = 10_000;
    // The expiring centre refuses `a` loan checks; `a` lets it ask every purpose.
    let all_but_loan_check: Vec<String> = hfx_node::config::PURPOSES
        .iter()
        .filter(|p| **p != "loan_check")
        .map(|p| p.to_string())
        .collect();
    spec.policies
        .insert(expiring.clone(), [(a.clone(), all_but_loan_check)].into());
    let prepared = prepare(&spec, &|_| {}).await.expect("prepare zone");
    // A node certificate valid for 7 days (the directory is re-published with its pin).
    ZoneDir::open(tmp.path())
        .rotate_node_valid(expiring, Validity::days(7))
        .expect("short node certificate");
    let mut zone = Zone::from_prepared(
        tmp.path().to_path_buf(),
        prepared,
        env!("CARGO_BIN_EXE_hfx").into(),
    );
    // Ten minutes ahead on the wall clock; the monotonic clock is left alone (tokio's
    // timers and the launcher's deadlines do not care about the wall clock).
    zone.set_env(skewed, "LD_PRELOAD", faketime);
    zone.set_env(skewed, "FAKETIME", "+600s");
    zone.set_env(skewed, "FAKETIME_DONT_FAKE_MONOTONIC", "1");
    zone.start_all().await.expect("start zone");

    // While every node runs: the peer with nothing wrong gets no finding.
    let (rc, healthy) = doctor_json(tmp.path(), a, &["--peer", down]);
    assert_eq!(rc, 0, "a healthy peer: {healthy:#}");
    assert_eq!(healthy["findings"], serde_json::json!([]), "{healthy:#}");
    let peer = &healthy["peers"][0];
    assert_eq!(peer["hello_ok"], true, "{peer}");
    assert!(
        peer["clock_skew_ms"].as_i64().expect("skew").abs() < 5_000,
        "{peer}"
    );

    zone.stop(down, Duration::from_secs(10)).expect("stop");

    let (rc, r) = doctor_json(tmp.path(), a, &[]);
    assert_eq!(rc, 2, "problems exit 2: {r:#}");
    assert_eq!(r["ok"], false);

    // The down peer: refused TCP, and nothing else said about it.
    let f = findings(&r, down, "tcp");
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        advice(f[0]).starts_with(&format!(
            "peer {down} is down: nothing listens on 127.0.0.1:"
        )),
        "{}",
        advice(f[0])
    );
    assert!(advice(f[0]).contains("start its node"), "{}", advice(f[0]));
    let about_down = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["centre"] == down.as_str())
        .count();
    assert_eq!(about_down, 1, "{r:#}");

    // The skewed peer: ten minutes ahead, measured from its reply.
    let f = findings(&r, skewed, "clock");
    assert_eq!(f.len(), 1, "{r:#}");
    assert_eq!(f[0]["severity"], "problem");
    let secs = number_before(advice(f[0]), " s ahead");
    assert!((590..=610).contains(&secs), "{}", advice(f[0]));
    assert_eq!(
        advice(f[0]),
        format!(
            "peer {skewed} is {secs} s ahead: fix its NTP (chrony) — TLS and checkpoints need clocks within 60 s"
        )
    );
    let p = r["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["centre"] == skewed.as_str())
        .expect("skewed peer");
    assert!(
        (590_000..=610_000).contains(&p["clock_skew_ms"].as_i64().expect("skew")),
        "{p}"
    );

    // The expiring certificate, read from the TLS handshake.
    let f = findings(&r, expiring, "certificate");
    assert_eq!(f.len(), 1, "{r:#}");
    let days = number_before(advice(f[0]), " days");
    assert!((6..=7).contains(&days), "{}", advice(f[0]));
    assert!(
        advice(f[0]).starts_with(&format!(
            "peer {expiring}'s node certificate expires in {days} days: ask {expiring}'s operator to rotate it"
        )),
        "{}",
        advice(f[0])
    );

    // The policy mismatch: it refuses our loan checks, we allow its.
    let f = findings(&r, expiring, "policy");
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        advice(f[0]).starts_with(&format!(
            "peer {expiring} refuses our loan_check requests while our [policy] lets it ask them of us"
        )),
        "{}",
        advice(f[0])
    );
    let p = r["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["centre"] == expiring.as_str())
        .expect("expiring peer");
    assert_eq!(p["they_refuse"], serde_json::json!(["loan_check"]), "{p}");
    assert_eq!(p["we_refuse"], serde_json::json!([]), "{p}");

    // Nothing else: no false alarm on directory, witness, health or our own certificate.
    let total = r["findings"].as_array().expect("findings").len();
    assert_eq!(total, 4, "{r:#}");

    // The same four advice lines in the text report.
    let (rc, text) = doctor(tmp.path(), a, &[]);
    eprintln!("{text}");
    assert_eq!(rc, 2, "{text}");
    for f in r["findings"].as_array().expect("findings") {
        if f["check"] == "clock" {
            // Each run measures the skew anew: 600 s in one may read 599 s in the next.
            let a = advice(f);
            let (head, tail) = a.split_once(" is ").expect("clock advice");
            let tail = tail
                .split_once(" s ")
                .map(|(_, t)| t)
                .expect("clock advice");
            assert!(
                text.contains(head) && text.contains(tail),
                "{text}\nlacks {a}"
            );
            continue;
        }
        assert!(text.contains(advice(f)), "{text}\nlacks {}", advice(f));
    }
    assert!(text.contains("4 problem(s), 0 warning(s)"), "{text}");

    // Seen from the skewed node, every peer that answers is behind it: its own clock is
    // the odd one, one finding about itself.
    let (rc, r) = doctor_json(tmp.path(), skewed, &[]);
    assert_eq!(rc, 2, "{r:#}");
    let f = findings(&r, skewed, "clock");
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        advice(f[0]).starts_with("this node's clock is about "),
        "{}",
        advice(f[0])
    );
    assert!(
        advice(f[0]).contains(" s ahead of the zone (2 of 2 peers agree): fix this host's NTP")
    );
    assert!(findings(&r, a, "clock").is_empty(), "{r:#}");

    // Seen from the centre with the short certificate: its own certificate, and the
    // mismatch the other way round.
    let (rc, r) = doctor_json(tmp.path(), expiring, &["--peer", a]);
    assert_eq!(rc, 2, "{r:#}");
    let f = findings(&r, expiring, "certificate");
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        advice(f[0]).starts_with(&format!(
            "our node certificate ({expiring}) expires in {days} days: rotate it before then"
        )),
        "{}",
        advice(f[0])
    );
    let f = findings(&r, a, "policy");
    assert_eq!(f.len(), 1, "{r:#}");
    assert!(
        advice(f[0]).starts_with(&format!(
            "peer {a} lets us ask loan_check but our [policy] refuses it those"
        )),
        "{}",
        advice(f[0])
    );

    // Maintenance mode at a peer (`hfx node maintenance on`) is seen, as a warning.
    let op = zone
        .client(expiring, Role::Operator)
        .expect("operator client");
    pb::operator_client::OperatorClient::new(op.channel())
        .set_maintenance(pb::MaintenanceRequest { on: true })
        .await
        .expect("maintenance on");
    let (_, r) = doctor_json(tmp.path(), a, &["--peer", expiring]);
    let f = findings(&r, expiring, "health");
    assert_eq!(f.len(), 1, "{r:#}");
    assert_eq!(f[0]["severity"], "warning");
    assert!(
        advice(f[0]).starts_with(&format!(
            "peer {expiring} is in maintenance mode: its calls get UNAVAILABLE (MAINTENANCE)"
        )),
        "{}",
        advice(f[0])
    );

    zone.shutdown().await;
}
