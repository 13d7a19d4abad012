//! `hfx audit verify` as an auditor runs it (the built binary): it never says OK about
//! nothing or against an untrusted key, names a changed entry by index before its
//! consequences, and reports an unreadable line with its location and goes on.
//!
//! `HFX_VERIFY_CLI_BIN` runs these against another `hfx` binary (e.g. an older build, to
//! see them fail there).

use crate::audit::{export_of, settle};
use crate::common::{member, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::audit;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn hfx() -> Command {
    Command::new(
        std::env::var("HFX_VERIFY_CLI_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hfx").into()),
    )
}

fn run(args: &[&str]) -> Output {
    let out = hfx().args(args).output().expect("running hfx");
    eprintln!(
        "hfx {}: {:?}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A synthetic export of one centre (two centres, 400 entries in all).
fn synth(dir: &Path) -> PathBuf {
    let out = run(&[
        "audit",
        "synth",
        "--out",
        dir.to_str().unwrap(),
        "--entries",
        "400",
        "--centres",
        "2",
    ]);
    assert!(out.status.success());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hfxlog"))
        .collect();
    files.sort();
    files.remove(0)
}

/// The file with line `line` (1-based) changed by `f`.
fn edit_line(path: &Path, line: usize, f: impl FnOnce(&mut Vec<u8>)) {
    let bytes = std::fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    f(&mut lines[line - 1]);
    std::fs::write(path, lines.join(&b'\n')).unwrap();
}

/// Entry `i` is on line 7 + i: change one byte of its message id (a digit of the UUID).
fn change_message_id(path: &Path, i: u64) {
    edit_line(path, 7 + i as usize, |l| {
        let s = String::from_utf8(l.clone()).unwrap();
        let at = s.find("\"message_id\":\"").unwrap() + "\"message_id\":\"".len();
        let b = &mut l[at + 1];
        *b = if *b == b'1' { b'2' } else { b'1' };
    });
}

/// The findings of the text output (the indented lines before OK/FAILED).
fn findings(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("  ") && !l.trim().starts_with("OK") && l.trim() != "FAILED")
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn verify_without_files_or_without_a_trusted_key_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let file = synth(tmp.path());
    let f = file.to_str().unwrap();
    // No files at all: an error, not silence and exit 0.
    let out = run(&["audit", "verify"]);
    assert!(!out.status.success(), "no files must fail");
    assert!(stderr(&out).contains("no export files"), "{}", stderr(&out));
    // No directory: refused, saying how to give one.
    let out = run(&["audit", "verify", f]);
    assert!(!out.status.success(), "no trusted key must fail");
    assert!(
        stderr(&out).contains("--directory") && !stdout(&out).contains("OK"),
        "{}",
        stderr(&out)
    );
    // Said explicitly: verified, with a warning that only consistency is proven.
    let out = run(&["audit", "verify", "--trust-export-key", f]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("WARNING"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("internally consistent only"),
        "{}",
        stdout(&out)
    );
    // JSON: one well-formed object per file, saying the key was not trusted.
    let out = run(&["audit", "verify", "--trust-export-key", "--json", f]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["key_trusted"], false);
    assert!(v["file"].is_string() && v["seconds"].is_number());
}

#[test]
fn verify_names_a_changed_entry_by_index_first() {
    let tmp = tempfile::tempdir().unwrap();
    let file = synth(tmp.path());
    let f = file.to_str().unwrap();
    change_message_id(&file, 57);
    let out = run(&["audit", "verify", "--trust-export-key", f]);
    assert!(!out.status.success());
    let found = findings(&stdout(&out));
    assert!(
        found
            .first()
            .is_some_and(|l| l.starts_with("entry_changed at 57: entry 57 (line 64)")),
        "{found:?}"
    );
    let out = run(&["audit", "verify", "--trust-export-key", "--json", f]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["problems"][0]["at"], 57, "{v}");
}

#[test]
fn verify_reports_invalid_utf8_in_a_checkpoint_with_its_line_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let file = synth(tmp.path());
    let f = file.to_str().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cp = lines
        .iter()
        .position(|l| l.starts_with("checkpoints "))
        .unwrap()
        + 2;
    let payload = lines
        .iter()
        .position(|l| l.starts_with("payloads "))
        .unwrap()
        + 2;
    // A byte that is not UTF-8 in the (only) checkpoint, and a payload changed.
    edit_line(&file, cp, |l| l[5] = 0xff);
    edit_line(&file, payload, |l| {
        let n = l.len();
        l[n - 5] = if l[n - 5] == b'A' { b'B' } else { b'A' };
    });
    let out = run(&["audit", "verify", "--trust-export-key", f]);
    assert!(!out.status.success());
    let found = findings(&stdout(&out));
    assert!(
        found[0].starts_with(&format!(
            "checkpoint_unreadable: checkpoints[0] (line {cp}): "
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|l| l.starts_with("payload_hash") && l.contains(&format!("(line {payload})"))),
        "verify went on to the payloads: {found:?}"
    );
}

/// Cross-centre queries; returns how many.
async fn traffic(zone: &hfx_zone::launcher::Zone, rounds: usize) -> usize {
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    let mut n = 0;
    for r in 0..rounds {
        for (i, from) in codes.iter().enumerate() {
            let to = &codes[(i + 1 + r) % codes.len()];
            if to == from {
                continue;
            }
            let m = member(to, AccountStatus::Normal);
            zone.client(from, Role::Clerk)
                .unwrap()
                .query_member(query(to, &m, pb::Purpose::IdentityConfirmation))
                .await
                .unwrap();
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_of_a_real_zones_export_against_its_directory() {
    let (tmp, zone) = zone(3).await;
    // Three rounds, each settled, so the log has several checkpoints, each cosigned.
    for _ in 0..3 {
        traffic(&zone, 2).await;
        settle(&zone).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let code = zone.centres[0].code.clone();
    let mut cosigned = 0;
    for _ in 0..100 {
        let (_, e) = export_of(&zone, &code).await;
        cosigned = e.cosignatures.len();
        if cosigned >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (bytes, e) = export_of(&zone, &code).await;
    let file = tmp.path().join("export.hfxlog");
    std::fs::write(&file, &bytes).unwrap();
    let zd = zone.zone_dir();
    let (dir, root) = (zd.directory_path(), zd.root_cert_path());
    let args = |f: &Path| -> Vec<String> {
        [
            "audit",
            "verify",
            "--directory",
            dir.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            f.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let argv = args(&file);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = run(&argv);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).trim_end().ends_with("OK"), "{}", stdout(&out));
    // One changed byte in a member query request's message id, after the first checkpoint
    // (so the entries before it are proven unchanged) and before the last.
    let sizes: Vec<u64> = e
        .checkpoints
        .iter()
        .filter_map(|c| c.split('\n').nth(1)?.parse().ok())
        .collect();
    let (first, last) = (sizes[0], *sizes.last().unwrap());
    let requests: Vec<u64> = (0..e.entries.len() as u64)
        .filter(|&i| {
            audit::entry_fields(&e.entries[i as usize])
                .is_some_and(|f| f.msg_type.ends_with("QueryMember#request"))
        })
        .collect();
    let i = requests
        .iter()
        .copied()
        .find(|&i| i >= first && i < last)
        .unwrap_or(requests[0]);
    change_message_id(&file, i);
    let out = run(&argv);
    assert!(!out.status.success());
    let found = findings(&stdout(&out));
    assert!(
        found[0].starts_with(&format!("entry_changed at {i}: entry {i} (line {})", 7 + i)),
        "{found:?} ({cosigned} cosignatures)"
    );
    if i >= first {
        assert!(found[0].contains(" still verifies"), "{found:?}");
    }
    assert!(
        !found.iter().any(|l| l.starts_with("cosignature_orphan")),
        "consequences are summarised: {found:?}"
    );
    assert!(
        found.len() <= 6,
        "the cause, the checkpoint, the later ones, the cosignatures: {found:?}"
    );
}
