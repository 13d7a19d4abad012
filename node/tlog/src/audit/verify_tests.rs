//! `verify` says where: unreadable lines are findings with their line, a bad checkpoint
//! signature names its checkpoint, a changed entry is named by index before its
//! consequences (which are summarised), and every finding is reported.

use super::*;
use crate::merkle::{self, Tree};
use crate::note::{Checkpoint, NoteSigner, cosign};
use crate::{Envelope, RECV, SENT};
use base64::Engine;
use prost::Message;
use sha2::Digest;
use std::collections::HashMap;

pub(super) fn signer(name: &str) -> NoteSigner {
    NoteSigner::from_pkcs8(name, &NoteSigner::generate_pkcs8().unwrap()).unwrap()
}

fn mid(i: u64) -> String {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | i as u128)
        .hyphenated()
        .to_string()
}

/// An export of `n` member-query entries (payloads carry the message id), checkpoints at
/// 3, 7, 10 and n, each cosigned by three witnesses.
pub(super) fn export(n: u64, s: &NoteSigner) -> Export {
    let mut entries = Vec::new();
    let mut payloads = HashMap::new();
    let mut seq: HashMap<(String, String), u64> = HashMap::new();
    for i in 0..n {
        let peer = if i % 3 == 0 {
            "320700000000000"
        } else {
            "321300000000000"
        };
        let dir = if i % 2 == 0 { SENT } else { RECV };
        let payload = hfx_proto::v1::PeerMemberQuery {
            header: Some(hfx_proto::v1::RequestHeader {
                message_id: mid(i),
                ..Default::default()
            }),
            person: None,
        }
        .encode_to_vec();
        let mut e = Envelope::draft(
            dir,
            peer,
            &mid(i),
            "",
            "MemberExchange/QueryMember#request",
            &payload,
        );
        let k = seq.entry((peer.into(), dir.into())).or_insert(0);
        *k += 1;
        e.seq = *k;
        payloads.insert(sha2::Sha256::digest(&payload).into(), Some(payload));
        entries.push(e.entry_bytes());
    }
    let mut t = Tree::new();
    for e in &entries {
        t.push(merkle::leaf_hash(e));
    }
    let witnesses: Vec<NoteSigner> = (0..3).map(|w| signer(&format!("w{w}.hfx"))).collect();
    let mut checkpoints = Vec::new();
    let mut cosignatures = Vec::new();
    for size in [3, 7, 10, n] {
        let cp = Checkpoint::new(s.name(), size, t.root_at(size).unwrap());
        checkpoints.push(cp.sign(&[s]).unwrap());
        for w in &witnesses {
            cosignatures.push((
                size,
                w.name().to_string(),
                B64.encode(w.public_key()),
                cosign(w, &cp.to_text(), 1_700_000_000).unwrap(),
            ));
        }
    }
    Export {
        centre: "320300000000000".into(),
        origin: s.name().into(),
        vkey: s.verifier_key(),
        entries,
        checkpoints,
        cosignatures,
        disclosures: vec![],
        payloads,
    }
}

/// The export as a file.
pub(super) fn bytes(e: &Export) -> Vec<u8> {
    let mut out = Vec::new();
    let h = ExportHeader {
        centre: e.centre.clone(),
        origin: e.origin.clone(),
        vkey: e.vkey.clone(),
    };
    write_header(&mut out, &h, 0, e.entries.len() as u64).unwrap();
    for l in &e.entries {
        write_entry(&mut out, l).unwrap();
    }
    write_count(&mut out, "checkpoints", e.checkpoints.len() as u64).unwrap();
    for c in &e.checkpoints {
        write_checkpoint(&mut out, c).unwrap();
    }
    write_count(&mut out, "cosignatures", e.cosignatures.len() as u64).unwrap();
    for (size, w, k, l) in &e.cosignatures {
        write_cosignature(&mut out, *size as i64, w, k, l).unwrap();
    }
    write_count(&mut out, "disclosures", 0).unwrap();
    write_count(&mut out, "payloads", e.payloads.len() as u64).unwrap();
    let mut ps: Vec<_> = e.payloads.iter().collect();
    ps.sort();
    for (h, d) in ps {
        write_payload(&mut out, h, d.as_deref()).unwrap();
    }
    write_end(&mut out).unwrap();
    out
}

/// Replace file line `line` (1-based).
fn set_line(file: &[u8], line: usize, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = file.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    f(&mut lines[line - 1]);
    lines.join(&b'\n')
}

fn read(file: &[u8]) -> ReadExport {
    read_for_verify(&mut std::io::Cursor::new(file), &|_, _| {}).unwrap()
}

fn kinds(r: &VerifyReport) -> Vec<(String, Option<u64>)> {
    r.problems.iter().map(|p| (p.kind.clone(), p.at)).collect()
}

/// Every finding says where: an index or size, or a line.
fn all_located(r: &VerifyReport) {
    for p in &r.problems {
        assert!(
            p.at.is_some() || p.detail.contains("line "),
            "finding without a location: {p:?}"
        );
    }
}

/// Entry `i` of `e` with `from` replaced by `to` (same length: one changed byte).
fn change(e: &mut Export, i: usize, from: &str, to: &str) {
    let s = String::from_utf8(e.entries[i].clone()).unwrap();
    assert!(s.contains(from), "{s}");
    e.entries[i] = s.replacen(from, to, 1).into_bytes();
}

#[test]
fn a_clean_export_reads_and_verifies_the_same_as_parse() {
    let s = signer("huaihai.hfx/320300000000000");
    let e = export(12, &s);
    let file = bytes(&e);
    let r = read(&file);
    assert!(r.findings.is_empty());
    let strict = parse(&mut std::io::Cursor::new(&file), &|_, _| {}).unwrap();
    assert_eq!(r.export.entries, strict.entries);
    assert_eq!(r.export.checkpoints, strict.checkpoints);
    assert_eq!(r.export.cosignatures, strict.cosignatures);
    assert_eq!(r.export.payloads, strict.payloads);
    // The standard layout computed from an export in memory is the file's.
    let l = Lines::of(&strict);
    assert_eq!(
        (l.first_entry, &l.checkpoints, &l.cosignatures),
        (
            r.lines.first_entry,
            &r.lines.checkpoints,
            &r.lines.cosignatures
        )
    );
    let rep = verify_read(&r, Some(&s.verifier_key()), 3, &|_, _| {});
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(rep.key_trusted);
    assert_eq!(
        (rep.checkpoints_verified, rep.cosignatures_verified),
        (4, 12)
    );
    assert_eq!(rep.witnessed_size, 12);
}

#[test]
fn without_a_trusted_key_the_report_says_so() {
    let s = signer("huaihai.hfx/320300000000000");
    let e = export(12, &s);
    let rep = verify(&e, None, 1, &|_, _| {});
    assert!(!rep.key_trusted);
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert!(verify(&e, Some(&s.verifier_key()), 1, &|_, _| {}).key_trusted);
}

#[test]
fn invalid_utf8_in_a_checkpoint_or_cosignature_is_a_finding_with_its_line() {
    let s = signer("huaihai.hfx/320300000000000");
    let e = export(12, &s);
    let lines = Lines::of(&e);
    let file = bytes(&e);
    // A raw byte that is not UTF-8 in the base64 text of checkpoint 1 (size 7).
    let cp1 = lines.checkpoints[1] as usize;
    let bad = set_line(&file, cp1, |l| l[10] = 0xff);
    // The strict parser stops with a bare decoding error (the old behaviour of verify).
    assert!(parse(&mut std::io::Cursor::new(&bad), &|_, _| {}).is_err());
    // And a note whose decoded text is not UTF-8, in checkpoint 2 (size 10).
    let cp2 = lines.checkpoints[2] as usize;
    let mut note = e.checkpoints[2].clone().into_bytes();
    note[2] = 0xc3;
    note[3] = 0x28;
    let bad = set_line(&bad, cp2, |l| *l = B64.encode(&note).into_bytes());
    // And a cosignature line with a byte that is not UTF-8.
    let cs0 = lines.cosignatures[0] as usize;
    let bad = set_line(&bad, cs0, |l| l[0] = 0xfe);
    let r = read(&bad);
    let rep = verify_read(&r, Some(&s.verifier_key()), 1, &|_, _| {});
    let k = kinds(&rep);
    assert_eq!(rep.problems[0].kind, "checkpoint_unreadable", "{k:?}");
    assert!(
        rep.problems[0]
            .detail
            .starts_with(&format!("checkpoints[1] (line {cp1}): ")),
        "{:?}",
        rep.problems[0]
    );
    assert!(
        rep.problems[1].detail.starts_with(&format!(
            "checkpoints[2] (line {cp2}): the signed note is not UTF-8"
        )),
        "{:?}",
        rep.problems[1]
    );
    assert_eq!(rep.problems[2].kind, "cosignature_unreadable");
    assert!(
        rep.problems[2]
            .detail
            .starts_with(&format!("cosignatures[0] (line {cs0}): not UTF-8")),
        "{:?}",
        rep.problems[2]
    );
    // Verification went on: the other checkpoints and their cosignatures verify, and the
    // cosignatures over the unreadable checkpoints are one finding per size.
    assert_eq!(rep.checkpoints_verified, 2);
    assert_eq!(rep.cosignatures_verified, 2 + 3);
    assert!(k.contains(&("cosignature_orphan".into(), Some(7))), "{k:?}");
    assert!(
        k.contains(&("cosignature_orphan".into(), Some(10))),
        "{k:?}"
    );
    assert_eq!(k.len(), 5, "{k:?}");
    all_located(&rep);
}

#[test]
fn a_bad_checkpoint_signature_names_the_checkpoint() {
    let s = signer("huaihai.hfx/320300000000000");
    let mut e = export(12, &s);
    let other = signer(s.name());
    e.checkpoints[1] = Checkpoint::new(s.name(), 7, [0u8; 32])
        .sign(&[&other])
        .unwrap();
    let line = Lines::of(&e).checkpoints[1];
    let rep = verify(&e, Some(&s.verifier_key()), 1, &|_, _| {});
    let p = &rep.problems[0];
    assert_eq!((p.kind.as_str(), p.at), ("checkpoint_signature", Some(7)));
    assert!(
        p.detail
            .starts_with(&format!("checkpoint on line {line} (claims size 7): ")),
        "{p:?}"
    );
    // Its three cosignatures: one line, not three.
    assert_eq!(
        kinds(&rep),
        vec![
            ("checkpoint_signature".into(), Some(7)),
            ("cosignatures_unverified".into(), Some(7))
        ]
    );
    all_located(&rep);
}

#[test]
fn a_changed_byte_in_an_entry_is_named_first_by_index_and_its_consequences_summarised() {
    let s = signer("huaihai.hfx/320300000000000");
    let key = s.verifier_key();
    let base = export(12, &s);
    let entry_line = |i: u64| Lines::of(&base).entry(i);
    // A changed digit of the message id: the payload still names the old one.
    let mut e = base.clone_for_test();
    change(&mut e, 5, "-7000-8000-", "-7000-8001-");
    let rep = verify(&e, Some(&key), 1, &|_, _| {});
    let p = &rep.problems[0];
    assert_eq!(
        (p.kind.as_str(), p.at),
        ("entry_changed", Some(5)),
        "{rep:?}"
    );
    assert!(
        p.detail
            .starts_with(&format!("entry 5 (line {}): message_id", entry_line(5))),
        "{p:?}"
    );
    assert!(
        p.detail.contains("checkpoint at size 3 still verifies"),
        "{p:?}"
    );
    // Then the checkpoint that shows it, the later ones as one line, and the 9 cosignatures
    // over the three failed checkpoints as one line (not 9 orphans).
    assert_eq!(
        kinds(&rep),
        vec![
            ("entry_changed".into(), Some(5)),
            ("checkpoint_root".into(), Some(7)),
            ("checkpoint_root".into(), Some(10)),
            ("cosignatures_unverified".into(), Some(7)),
        ]
    );
    assert!(
        rep.problems[2]
            .detail
            .starts_with("2 later checkpoints (sizes 10, 12;")
    );
    assert!(
        rep.problems[3].detail.starts_with("9 cosignatures"),
        "{:?}",
        rep.problems[3]
    );
    all_located(&rep);

    // A changed digit of the payload hash: it names no payload.
    let mut e = base.clone_for_test();
    let s5 = String::from_utf8(e.entries[8].clone()).unwrap();
    let h = entry_fields(s5.as_bytes())
        .unwrap()
        .payload_sha256
        .to_string();
    let flipped = format!("{}{}", if h.starts_with('0') { '1' } else { '0' }, &h[1..]);
    change(&mut e, 8, &h, &flipped);
    let rep = verify(&e, Some(&key), 1, &|_, _| {});
    assert_eq!(kinds(&rep)[0], ("entry_changed".into(), Some(8)), "{rep:?}");
    assert!(rep.problems[0].detail.contains("names no payload"));

    // A changed sequence number, a changed direction, broken JSON.
    for (i, from, to) in [
        (4, "\"seq\":2", "\"seq\":5"),
        (9, "\"dir\":\"recv\"", "\"dir\":\"revc\""),
        (6, "\"peer\":", "\"peer\"."),
    ] {
        let mut e = base.clone_for_test();
        change(&mut e, i, from, to);
        let rep = verify(&e, Some(&key), 1, &|_, _| {});
        assert_eq!(
            kinds(&rep)[0],
            ("entry_changed".into(), Some(i as u64)),
            "{rep:?}"
        );
        all_located(&rep);
    }

    // Nothing in the entry itself shows it (no payloads exported): the range is named.
    let mut e = base.clone_for_test();
    e.payloads.clear();
    change(&mut e, 5, "-7000-8000-", "-7000-8001-");
    let rep = verify(&e, Some(&key), 1, &|_, _| {});
    let p = &rep.problems[0];
    assert_eq!(
        (p.kind.as_str(), p.at),
        ("entries_changed", Some(3)),
        "{rep:?}"
    );
    assert!(p.detail.starts_with("entries 3..6 (lines"), "{p:?}");
}

#[test]
fn every_finding_is_reported_not_just_the_first() {
    let s = signer("huaihai.hfx/320300000000000");
    let mut e = export(12, &s);
    change(&mut e, 9, "-7000-8000-", "-7000-8001-");
    // A payload (entry 0's) that no longer hashes to its name.
    let h0 = entry_fields(&e.entries[0])
        .unwrap()
        .payload_sha256
        .to_string();
    let h = merkle::hash_from_slice(&hex::decode(h0).unwrap()).unwrap();
    e.payloads.insert(h, Some(b"changed".to_vec()));
    // A cosignature (over the checkpoint at size 7) by a key that did not sign it.
    e.cosignatures[4].2 = B64.encode([7u8; 32]);
    let file = set_line(&bytes(&e), Lines::of(&e).checkpoints[0] as usize, |l| {
        l[0] = 0xff
    });
    let rep = verify_read(&read(&file), Some(&s.verifier_key()), 1, &|_, _| {});
    let k: Vec<String> = rep.problems.iter().map(|p| p.kind.clone()).collect();
    for want in [
        "checkpoint_unreadable",
        "entry_changed",
        "checkpoint_root",
        "cosignature",
        "cosignature_orphan",
        "cosignatures_unverified",
        "payload_hash",
    ] {
        assert!(k.iter().any(|x| x == want), "{want} missing from {k:?}");
    }
    // The entry is the first finding after what could not be read.
    assert_eq!(rep.problems[1].at, Some(9), "{:?}", rep.problems);
    all_located(&rep);
}

impl Export {
    fn clone_for_test(&self) -> Export {
        Export {
            centre: self.centre.clone(),
            origin: self.origin.clone(),
            vkey: self.vkey.clone(),
            entries: self.entries.clone(),
            checkpoints: self.checkpoints.clone(),
            cosignatures: self.cosignatures.clone(),
            disclosures: self.disclosures.clone(),
            payloads: self.payloads.clone(),
        }
    }
}
