//! `hfx demo`, the README's first command, run as a user runs it: the built binary, in a
//! folder of its own, to its end.

use crate::common::db_url;

#[test]
fn hfx_demo_runs_its_scripted_session_with_refusals_and_disclosures_on_both_sides() {
    let tmp = tempfile::Builder::new()
        .prefix("hfx-test-demo-")
        .tempdir()
        .expect("tempdir");
    let mut cmd = crate::common::hfx();
    // The README's command with its defaults (ten centres, 2,000 members each): a few seconds.
    cmd.args(["demo", "--dir"])
        .arg(tmp.path().join("zone"))
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null());
    // The demo's database-backed core systems use the test servers; without them (outside
    // CI) the demo falls back to sqlite and says so. Port 1: nothing listens, a fast fallback.
    let pg = db_url("HFX_TEST_POSTGRES_URL", "demo on PostgreSQL");
    let my = db_url("HFX_TEST_MARIADB_URL", "demo on MariaDB");
    cmd.env(
        "HFX_POSTGRES_URL",
        pg.unwrap_or_else(|| "postgres://postgres@127.0.0.1:1/postgres".into()),
    )
    .env(
        "HFX_MARIADB_URL",
        my.unwrap_or_else(|| "mysql://root@127.0.0.1:1".into()),
    );
    let out = cmd.output().expect("run hfx demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "hfx demo exited {}: {all}",
        out.status
    );
    eprintln!("{stdout}");

    let has = |s: &str| stdout.lines().any(|l| l.contains(s));
    assert!(has("hfx demo: a 10-centre zone on loopback"), "{all}");
    assert!(has("10 nodes up"), "{all}");
    let steps: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" → ") && (l.contains('✓') || l.contains('✗')))
        .collect();
    assert_eq!(steps.len(), 11, "{all}");
    assert!(steps.iter().all(|l| l.contains('✓')), "{all}");
    assert!(has("11 of 11 steps behaved as expected"), "{all}");
    // The refusals, each with its stable reason.
    for refusal in [
        "InvalidArgument",
        "NAME_MISMATCH",
        "MEMBER_NOT_FOUND",
        "PURPOSE_NOT_ALLOWED",
        "Unavailable",
    ] {
        assert!(has(refusal), "refusal {refusal} not printed: {all}");
    }
    // Disclosures from both sides: the answering centre's "sent", the asking one's "received".
    let records = stdout
        .split_once("Disclosure records")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no disclosure records printed: {all}"));
    let keeps: Vec<&str> = records.lines().filter(|l| l.contains(" keeps ")).collect();
    assert_eq!(keeps.len(), 2, "{all}");
    assert!(keeps.iter().all(|l| !l.contains("keeps 0 record")), "{all}");
    assert!(
        records.lines().any(|l| l.trim_start().starts_with("sent ")),
        "{all}"
    );
    assert!(
        records
            .lines()
            .any(|l| l.trim_start().starts_with("received ")),
        "{all}"
    );
    // The transfer section: each scripted case ended as planned, and the zone's money
    // (Σ the script's accounts + bank transit) is the same after as before.
    assert!(
        has("transfers: 8 of 8 scripted cases ended as expected"),
        "{all}"
    );
    for end in [
        "ended done (00)",
        "ended refused (13), refusal ORIGIN_ACCOUNT_FROZEN",
        "ended negotiated_done (20)",
        "ended failed (40)",
    ] {
        assert!(has(end), "transfer ending {end:?} not printed: {all}");
    }
    let after = stdout
        .lines()
        .find(|l| l.contains("zone money after:"))
        .unwrap_or_else(|| panic!("no money after printed: {all}"));
    assert!(after.ends_with(": conserved"), "{all}");
}
