//! The log library stands alone: an auditor's tool or an attestation verifier that links
//! hfx-tlog pulls in no async runtime, no database driver, no gRPC stack and none of the node.
//! (The RFC 6962 and signed-note vector tests run in this crate's unit tests, from
//! `node/tlog/testdata` inside the repository.)

use std::process::Command;

/// Crates that must not be among hfx-tlog's normal dependencies (`cargo tree --prefix none`
/// prints `name vX.Y.Z ...`, so a trailing space pins the whole name).
const FORBIDDEN: &[&str] = &["tokio ", "sqlx", "hfx-node", "tonic ", "hfx-adapters"];

#[test]
fn hfx_tlog_depends_on_no_runtime_database_grpc_or_node() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", "hfx-tlog", "-e", "normal", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("hfx-tlog ")),
        "cargo tree did not list hfx-tlog itself:\n{stdout}"
    );
    let bad: Vec<&str> = stdout
        .lines()
        .filter(|l| FORBIDDEN.iter().any(|f| l.starts_with(f)))
        .collect();
    assert!(bad.is_empty(), "hfx-tlog pulls in {bad:?}");
}

/// A forged entry count fails at the missing entry; it never reserves memory for the count
/// (found by the fuzz corpus: `tests/fuzz/corpus/audit_export/crash-parse-entries-capacity-overflow`).
#[test]
fn a_forged_entry_count_is_an_error_not_a_crash() {
    for n in ["18446744073709551615", "100000000"] {
        let text = format!(
            "hfx-log-export 1\ncentre 1\norigin o\nvkey k\nexported_at_ms 0\nentries {n}\n"
        );
        let r = hfx_tlog::audit::parse(&mut std::io::Cursor::new(text.as_bytes()), &|_, _| {});
        let e = r.err().expect("an export without its entries is refused");
        assert!(e.to_string().contains("entry 0"), "{e:#}");
    }
}
