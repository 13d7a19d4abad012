use super::*;
use crate::merkle::{self, Tree};
use crate::note::{Checkpoint, NoteSigner};
use crate::{Envelope, RECV, SENT};
use base64::Engine;
use sha2::Digest;
use std::collections::HashMap;
use std::io::Write;

fn signer() -> NoteSigner {
    NoteSigner::from_pkcs8(
        "huaihai.hfx/320300000000000",
        &NoteSigner::generate_pkcs8().unwrap(),
    )
    .unwrap()
}

/// A well-formed export of `n` entries with checkpoints at 3, 7 and n.
fn export(n: u64, s: &NoteSigner) -> Export {
    let mut entries = Vec::new();
    let mut seq: HashMap<(String, String), u64> = HashMap::new();
    for i in 0..n {
        let peer = if i % 3 == 0 {
            "320700000000000"
        } else {
            "321300000000000"
        };
        let dir = if i % 2 == 0 { SENT } else { RECV };
        let mut e = Envelope::draft(
            dir,
            peer,
            &format!("m{i}"),
            "",
            "MemberExchange/QueryMember#request",
            format!("p{i}").as_bytes(),
        );
        let k = seq.entry((peer.into(), dir.into())).or_insert(0);
        *k += 1;
        e.seq = *k;
        entries.push(e.entry_bytes());
    }
    let mut t = Tree::new();
    for e in &entries {
        t.push(merkle::leaf_hash(e));
    }
    let checkpoints = [3, 7, n]
        .iter()
        .map(|&size| {
            Checkpoint::new(s.name(), size, t.root_at(size).unwrap())
                .sign(&[s])
                .unwrap()
        })
        .collect();
    Export {
        centre: "320300000000000".into(),
        origin: s.name().into(),
        vkey: s.verifier_key(),
        entries,
        checkpoints,
        cosignatures: vec![],
        disclosures: vec![],
        payloads: HashMap::new(),
    }
}

fn kinds(r: &VerifyReport) -> Vec<(String, Option<u64>)> {
    r.problems
        .iter()
        .filter(|p| p.kind != "untrusted_key")
        .map(|p| (p.kind.clone(), p.at))
        .collect()
}

#[test]
fn a_clean_export_verifies_and_round_trips_through_the_file_format() {
    let s = signer();
    let e = export(12, &s);
    let rep = verify(&e, Some(&s.verifier_key()), 1, &|_, _| {});
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.checkpoints_verified, 3);
    // Through the text format.
    let mut buf = Vec::new();
    writeln!(
        buf,
        "{MAGIC}\ncentre {}\norigin {}\nvkey {}\nexported_at_ms 0\nentries {}",
        e.centre,
        e.origin,
        e.vkey,
        e.entries.len()
    )
    .unwrap();
    for l in &e.entries {
        buf.extend_from_slice(l);
        buf.push(b'\n');
    }
    writeln!(buf, "checkpoints {}", e.checkpoints.len()).unwrap();
    for c in &e.checkpoints {
        writeln!(buf, "{}", B64.encode(c)).unwrap();
    }
    writeln!(buf, "cosignatures 0\ndisclosures 0\npayloads 0\nend").unwrap();
    let back = parse(&mut std::io::Cursor::new(&buf), &|_, _| {}).unwrap();
    assert_eq!(back.entries, e.entries);
    assert!(
        verify(&back, Some(&s.verifier_key()), 1, &|_, _| {})
            .problems
            .is_empty()
    );
    // Truncation is refused.
    let cut = &buf[..buf.len() - 4];
    assert!(parse(&mut std::io::Cursor::new(cut), &|_, _| {}).is_err());
}

#[test]
fn tampering_is_detected_with_what_and_where() {
    let s = signer();
    let key = s.verifier_key();
    // Altered entry: the checkpoints covering it no longer match.
    let mut e = export(12, &s);
    e.entries[5] = String::from_utf8(e.entries[5].clone())
        .unwrap()
        .replace("m5", "mX")
        .into_bytes();
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert!(
        k.contains(&("checkpoint_root".into(), Some(7)))
            && k.contains(&("checkpoint_root".into(), Some(12))),
        "{k:?}"
    );
    assert!(
        !k.contains(&("checkpoint_root".into(), Some(3))),
        "the checkpoint before the change still holds: {k:?}"
    );
    // Dropped entry 4 (the 2nd "sent" to 321300): the next entry of that stream, now at
    // index 7, shows the gap; the roots from there on break.
    let mut e = export(12, &s);
    e.entries.remove(4);
    let rep = verify(&e, Some(&key), 1, &|_, _| {});
    let k = kinds(&rep);
    assert!(k.contains(&("sequence_gap".into(), Some(7))), "{k:?}");
    assert!(
        rep.problems
            .iter()
            .any(|p| p.detail.contains("seq 3 after 1 (message m8)")),
        "{:?}",
        rep.problems
    );
    assert!(k.contains(&("checkpoint_root".into(), Some(7))), "{k:?}");
    // Reordered entries.
    let mut e = export(12, &s);
    e.entries.swap(1, 4);
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert!(
        k.iter()
            .any(|(kind, _)| kind == "sequence_gap" || kind == "sequence_repeat"),
        "{k:?}"
    );
    assert!(k.iter().any(|(kind, _)| kind == "checkpoint_root"), "{k:?}");
    // Inserted entry: a repeated sequence number.
    let mut e = export(12, &s);
    let dup = e.entries[2].clone();
    e.entries.insert(6, dup);
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert!(k.contains(&("sequence_repeat".into(), Some(6))), "{k:?}");
    // A checkpoint re-signed (with the right key) over another root.
    let mut e = export(12, &s);
    e.checkpoints[1] = Checkpoint::new(s.name(), 7, [9u8; 32]).sign(&[&s]).unwrap();
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert_eq!(k, vec![("checkpoint_root".to_string(), Some(7))]);
    // A checkpoint signed by another key.
    let mut e = export(12, &s);
    let other = NoteSigner::from_pkcs8(s.name(), &NoteSigner::generate_pkcs8().unwrap()).unwrap();
    e.checkpoints[2] = Checkpoint::new(s.name(), 12, [0u8; 32])
        .sign(&[&other])
        .unwrap();
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert!(
        k.iter().any(|(kind, _)| kind == "checkpoint_signature"),
        "{k:?}"
    );
    // The export's own key replaced by an attacker's: the directory's key catches it.
    let mut e = export(12, &other);
    e.vkey = other.verifier_key();
    let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
    assert!(k.iter().any(|(kind, _)| kind == "key_mismatch"), "{k:?}");
}

#[test]
fn receipts_prove_inclusion_offline() {
    let s = signer();
    let e = export(12, &s);
    let r = prove(&e, 5).unwrap();
    assert_eq!(r.tree_size, 7, "smallest covering checkpoint");
    check_receipt(&r, Some(&s.verifier_key())).unwrap();
    let mut bad = r.clone();
    bad.entry = bad.entry.replace("m5", "m6");
    assert!(check_receipt(&bad, Some(&s.verifier_key())).is_err());
    assert!(prove(&e, 12).is_err());
}

#[test]
fn reconcile_lists_each_break() {
    let now = crate::now_ms();
    let mk = |centre: &str, lines: Vec<Envelope>| Export {
        centre: centre.into(),
        origin: String::new(),
        vkey: String::new(),
        entries: lines.into_iter().map(|e| e.entry_bytes()).collect(),
        checkpoints: vec![],
        cosignatures: vec![],
        disclosures: vec![],
        payloads: HashMap::new(),
    };
    let (a, b) = ("320300000000000", "320700000000000");
    let ea = mk(
        a,
        vec![
            Envelope::draft(SENT, b, "m1", "", "T#request", b"x"),
            Envelope::draft(SENT, b, "m2", "", "T#request", b"y"),
            Envelope::draft(SENT, "999999999999999", "m9", "", "T#request", b"z"),
        ],
    );
    let eb = mk(
        b,
        vec![
            Envelope::draft(RECV, a, "m1", "", "T#request", b"x"),
            Envelope::draft(RECV, a, "m3", "", "T#request", b"w"),
        ],
    );
    let rep = reconcile(&[ea, eb], now);
    assert_eq!(rep.matched, 1);
    assert_eq!(rep.not_exported, 1);
    let mut got: Vec<_> = rep
        .breaks
        .iter()
        .map(|b| (b.kind.as_str(), b.message_id.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("received_never_sent", "m3"), ("sent_not_received", "m2")]
    );
}

/// Every order of `items` (Heap's algorithm).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn go<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            go(k - 1, a, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut a = items.to_vec();
    let mut out = Vec::new();
    go(a.len(), &mut a, &mut out);
    out
}

#[test]
fn reconcile_is_the_same_in_every_order_and_counts_repeated_entries() {
    let now = 1_000_000_000;
    let (a, b, c) = ("320300000000000", "320700000000000", "321300000000000");
    let env = |dir: &str, peer: &str, mid: &str, ty: &str, payload: &[u8], at: i64| {
        let mut e = Envelope::draft(dir, peer, mid, "", ty, payload);
        e.at_ms = at;
        e.entry_bytes()
    };
    let mk = |centre: &str, entries: Vec<Vec<u8>>| Export {
        centre: centre.into(),
        origin: String::new(),
        vkey: String::new(),
        entries,
        checkpoints: vec![],
        cosignatures: vec![],
        disclosures: vec![],
        payloads: HashMap::new(),
    };
    let ea = mk(
        a,
        vec![
            // m1 logged twice by its sender (a repeated key), once by its receiver.
            env(SENT, b, "m1", "T#request", b"x", 1_000),
            env(SENT, b, "m1", "T#request", b"x", 2_000),
            env(SENT, c, "m2", "T#request", b"y", 3_000),
            // m4 received twice by a with different payloads, sent once by c.
            env(RECV, c, "m4", "T#reply", b"r1", 4_000),
            env(RECV, c, "m4", "T#reply", b"r2", 5_000),
            // m5 sent twice, never received: one break, not two.
            env(SENT, b, "m5", "T#request", b"v", 8_000),
            env(SENT, b, "m5", "T#request", b"v", 9_000),
            // m6 retried with new bytes (a new send time): b logged the second copy, its
            // reply logged by a once per copy.
            env(SENT, b, "m6", "T#request", b"q1", 10_000),
            env(SENT, b, "m6", "T#request", b"q2", 10_200),
            env(RECV, b, "m6", "T#reply", b"a", 10_300),
            env(RECV, b, "m6", "T#reply", b"a", 10_400),
        ],
    );
    let eb = mk(
        b,
        vec![
            env(RECV, a, "m1", "T#request", b"x", 1_500),
            env(SENT, c, "m3", "T#request", b"z", 6_000),
            env(RECV, a, "m6", "T#request", b"q2", 10_250),
            env(SENT, a, "m6", "T#reply", b"a", 10_250),
        ],
    );
    let ec = mk(
        c,
        vec![
            env(RECV, a, "m2", "T#request", b"y", 3_500),
            env(SENT, a, "m4", "T#reply", b"r1", 3_900),
            env(RECV, b, "m3", "T#request", b"z", 6_500),
            env(RECV, b, "m3", "T#request", b"z", 7_000),
        ],
    );
    let all = [ea, eb, ec];
    let orders = permutations(&[0usize, 1, 2]);
    assert_eq!(orders.len(), 6);
    let reports: Vec<String> = orders
        .iter()
        .map(|order| {
            let exports: Vec<Export> = order
                .iter()
                .map(|&i| mk(&all[i].centre, all[i].entries.clone()))
                .collect();
            serde_json::to_string(&reconcile(&exports, now)).unwrap()
        })
        .collect();
    for (order, rep) in orders.iter().zip(&reports) {
        assert_eq!(
            rep, &reports[0],
            "order {order:?} differs from {:?}",
            orders[0]
        );
    }
    // The streaming reconciler, fed the exports' entries interleaved, agrees too.
    let mut r = Reconciler::new(all.iter().map(|e| e.centre.clone()), now);
    let longest = all.iter().map(|e| e.entries.len()).max().unwrap();
    for i in (0..longest).rev() {
        for e in all.iter().rev() {
            if let Some(l) = e.entries.get(i) {
                r.add(&e.centre, l);
            }
        }
    }
    assert_eq!(serde_json::to_string(&r.finish()).unwrap(), reports[0]);
    let rep = reconcile(&all, now);
    let mut got: Vec<_> = rep
        .breaks
        .iter()
        .map(|b| (b.kind.as_str(), b.message_id.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("payload_differs", "m4"), ("sent_not_received", "m5")]
    );
    assert_eq!(
        rep.matched, 5,
        "m1, m2, m3 and m6 (request and reply) agree"
    );
    assert_eq!(
        rep.repeated, 6,
        "m1, m5 and m6 sent twice, m3, m4 and m6's reply received twice"
    );
}

#[test]
fn the_writers_produce_what_parse_reads() {
    let s = signer();
    let e = export(12, &s);
    let header = ExportHeader {
        centre: e.centre.clone(),
        origin: e.origin.clone(),
        vkey: e.vkey.clone(),
    };
    let d = DisclosureRecord {
        direction: "sent".into(),
        peer: "320700000000000".into(),
        purpose: "identity_confirmation".into(),
        message_id: "m0".into(),
        outcome: "disclosed".into(),
        at_ms: 7,
        ..Default::default()
    };
    let payload = b"payload".to_vec();
    let hash: [u8; 32] = sha2::Sha256::digest(&payload).into();
    let mut buf = Vec::new();
    write_header(&mut buf, &header, 42, e.entries.len() as u64).unwrap();
    for l in &e.entries {
        write_entry(&mut buf, l).unwrap();
    }
    write_count(&mut buf, "checkpoints", e.checkpoints.len() as u64).unwrap();
    for c in &e.checkpoints {
        write_checkpoint(&mut buf, c).unwrap();
    }
    write_count(&mut buf, "cosignatures", 1).unwrap();
    write_cosignature(&mut buf, 3, "w.hfx/1", "a2V5", "— w.hfx/1 sig").unwrap();
    write_count(&mut buf, "disclosures", 1).unwrap();
    write_disclosure(&mut buf, &d).unwrap();
    write_count(&mut buf, "payloads", 2).unwrap();
    write_payload(&mut buf, &hash, Some(&payload)).unwrap();
    write_payload(&mut buf, &[1u8; 32], None).unwrap();
    write_end(&mut buf).unwrap();
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(
        text.starts_with(&format!(
            "{MAGIC}\ncentre {}\norigin {}\nvkey {}\nexported_at_ms 42\nentries 12\n",
            e.centre, e.origin, e.vkey
        )),
        "{text}"
    );
    assert!(text.ends_with("\nend\n"), "{text}");
    let back = parse(&mut std::io::Cursor::new(&buf), &|_, _| {}).unwrap();
    assert_eq!(back.entries, e.entries);
    assert_eq!(back.checkpoints, e.checkpoints);
    assert_eq!(
        back.cosignatures,
        vec![(3, "w.hfx/1".into(), "a2V5".into(), "— w.hfx/1 sig".into())]
    );
    assert_eq!(back.disclosures, vec![d]);
    assert_eq!(back.payloads.get(&hash), Some(&Some(payload)));
    assert_eq!(back.payloads.get(&[1u8; 32]), Some(&None));
}

#[test]
fn synthetic_exports_verify_replay_and_reconcile_clean() {
    let dir = std::env::temp_dir().join(format!("hfx-tlog-synth-{}", std::process::id()));
    let centres: Vec<String> = ["320300000000000", "320700000000000", "321300000000000"]
        .map(String::from)
        .to_vec();
    let files = synthesize(&dir, "test", &centres, 50, 16, &|_, _| {}).unwrap();
    assert_eq!(files.len(), 3);
    let exports: Vec<Export> = files
        .iter()
        .map(|f| {
            let mut r = std::io::BufReader::new(std::fs::File::open(f).unwrap());
            parse(&mut r, &|_, _| {}).unwrap()
        })
        .collect();
    for e in &exports {
        let rep = verify(e, Some(&e.vkey), 1, &|_, _| {});
        assert!(rep.problems.is_empty(), "{}: {:?}", e.centre, rep.problems);
        assert!(rep.checkpoints_verified >= 1);
        let replay = replay(e);
        assert!(replay.differences.is_empty(), "{:?}", replay.differences);
        assert_eq!(replay.undecodable, 0);
    }
    let now = crate::now_ms();
    let rep = reconcile(&exports, now);
    assert!(rep.breaks.is_empty(), "{:?}", rep.breaks);
    assert_eq!(rep.matched, 100, "50 requests and 50 replies");
    // The streaming path the CLI takes agrees.
    let mut r = Reconciler::new(files.iter().map(|f| export_centre(f).unwrap()), now);
    for f in &files {
        stream_entries(f, &mut |c, l| r.add(c, l)).unwrap();
    }
    assert_eq!(r.finish(), rep);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn record(i: i64) -> DisclosureRecord {
    DisclosureRecord {
        direction: "sent".into(),
        peer: "320700000000000".into(),
        purpose: "identity_confirmation".into(),
        message_id: format!("m{i}"),
        outcome: "disclosed".into(),
        at_ms: 1_000 + i,
        id: Some(i + 1),
        acting_person: "320700000000000/clerk/c1".into(),
        legal_basis: "basis".into(),
        subject_masked: "张* 320102****0011".into(),
        subject_key: "5f0c8e2a9b7d41c3a6e0f1d2c3b4a596".into(),
        log_index: Some(i as u64),
        commit_index: None,
    }
}

/// Every committed field changed, one at a time.
type Edit = fn(&mut DisclosureRecord);

fn edits() -> Vec<(&'static str, Edit)> {
    vec![
        ("at_ms", |d| d.at_ms += 1),
        ("direction", |d| d.direction = "refused".into()),
        ("peer", |d| d.peer = "321300000000000".into()),
        ("acting_person", |d| d.acting_person = "someone".into()),
        ("purpose", |d| d.purpose = "loan_application".into()),
        ("legal_basis", |d| d.legal_basis = "other".into()),
        ("outcome", |d| d.outcome = "refused: x".into()),
        ("message_id", |d| d.message_id = "mX".into()),
        ("subject_masked", |d| d.subject_masked = "李*".into()),
        ("subject_key", |d| d.subject_key = "0".repeat(32)),
        ("log_index", |d| d.log_index = None),
    ]
}

#[test]
fn a_record_without_a_subject_key_keeps_the_bytes_it_had_before_the_key_existed() {
    let mut d = record(3);
    d.subject_key.clear();
    let text = String::from_utf8(d.canonical_bytes()).unwrap();
    assert!(text.ends_with(",\"log_index\":3}"), "{text}");
    d.subject_key = "ab".into();
    let text = String::from_utf8(d.canonical_bytes()).unwrap();
    assert!(
        text.ends_with(",\"log_index\":3,\"subject_key\":\"ab\"}"),
        "{text}"
    );
}

#[test]
fn the_canonical_bytes_cover_every_committed_field_and_round_trip() {
    let d = record(3);
    let bytes = d.canonical_bytes();
    assert_eq!(bytes, record(3).canonical_bytes(), "deterministic");
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with("{\"v\":1,\"at_ms\":1003,\"direction\":\"sent\",\"peer\":"),
        "{text}"
    );
    let back = DisclosureRecord::from_canonical(&bytes).unwrap();
    assert_eq!(
        back,
        DisclosureRecord {
            id: None,
            commit_index: None,
            ..d.clone()
        }
    );
    // Neither the row id nor the commitment's own index is committed.
    let mut other = d.clone();
    other.id = Some(99);
    other.commit_index = Some(7);
    assert_eq!(other.canonical_bytes(), bytes);
    for (field, edit) in edits() {
        let mut e = d.clone();
        edit(&mut e);
        assert_ne!(e.canonical_bytes(), bytes, "{field} is committed");
        assert_ne!(e.commitment_sha256(), d.commitment_sha256(), "{field}");
    }
    assert_eq!(DisclosureRecord::from_canonical(b"{\"v\":2}"), None);
    assert_eq!(DisclosureRecord::from_canonical(b"garbage"), None);
    // An export written before the commitment (six fields) still parses, uncommitted.
    let old: DisclosureRecord = serde_json::from_str(
        r#"{"direction":"sent","peer":"p","purpose":"x","message_id":"m","outcome":"o","at_ms":1}"#,
    )
    .unwrap();
    assert_eq!(
        (old.commit_index, old.id, old.log_index),
        (None, None, None)
    );
}

/// An export of `legacy` uncommitted records followed by `n` committed ones, each after
/// its exchange's request entry, as the node writes them.
fn committed_export(legacy: i64, n: i64) -> Export {
    let mut entries = Vec::new();
    let mut payloads = HashMap::new();
    let mut disclosures = Vec::new();
    let mut seq: HashMap<String, u64> = HashMap::new();
    let mut push = |dir: &str, mid: &str, ty: &str, payload: &[u8], entries: &mut Vec<Vec<u8>>| {
        let mut e = Envelope::draft(dir, "320700000000000", mid, "", ty, payload);
        let s = seq.entry(dir.into()).or_insert(0);
        *s += 1;
        e.seq = *s;
        entries.push(e.entry_bytes());
        let h: [u8; 32] = sha2::Sha256::digest(payload).into();
        payloads.insert(h, Some(payload.to_vec()));
    };
    for i in 0..legacy + n {
        let mut d = record(i);
        d.log_index = Some(entries.len() as u64);
        push(RECV, &d.message_id, "T#request", b"q", &mut entries);
        if i >= legacy {
            d.commit_index = Some(entries.len() as u64);
            let bytes = d.canonical_bytes();
            push(
                COMMIT_DIR,
                &d.message_id,
                DISCLOSURE_RECORD,
                &bytes,
                &mut entries,
            );
        }
        disclosures.push(d);
    }
    Export {
        centre: "320300000000000".into(),
        origin: "o".into(),
        vkey: String::new(),
        entries,
        checkpoints: vec![],
        cosignatures: vec![],
        disclosures,
        payloads,
    }
}

fn dkinds(ps: &[Problem]) -> Vec<&str> {
    ps.iter().map(|p| p.kind.as_str()).collect()
}

#[test]
fn every_edit_of_a_committed_disclosure_is_named_by_the_check_and_by_replay() {
    let e = committed_export(0, 4);
    let clean = check_disclosures(&e);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!((clean.committed, clean.uncommitted_before_schema), (4, 0));
    let fields: Vec<_> = replay(&e)
        .differences
        .into_iter()
        .filter(|p| p.kind != "missing_in_store" && p.kind != "missing_in_log")
        .collect();
    assert!(fields.is_empty(), "{fields:?}");
    assert_eq!(replay(&e).compared, 4);
    for (field, edit) in edits() {
        let mut x = committed_export(0, 4);
        edit(&mut x.disclosures[2]);
        let at = x.disclosures[2].commit_index;
        let c = check_disclosures(&x);
        assert_eq!(dkinds(&c.problems), ["disclosure_altered"], "{field}");
        assert_eq!(c.problems[0].at, at, "{field}");
        assert!(
            c.problems[0].detail.contains("disclosure #3"),
            "{field}: {c:?}"
        );
        let r = replay(&x);
        let hit: Vec<_> = r
            .differences
            .iter()
            .filter(|p| p.kind == "field_differs")
            .collect();
        assert_eq!(hit.len(), 1, "{field}: {:?}", r.differences);
        assert!(
            hit[0].detail.starts_with("disclosure #3 (message ")
                && hit[0].detail.contains(&format!(": {field}: ")),
            "{field}: {}",
            hit[0].detail
        );
        assert_eq!(hit[0].at, at);
    }
}

#[test]
fn commitment_index_deletions_and_purges_are_caught_and_old_records_reported() {
    // Old records ahead of the committed ones are accepted and counted.
    let e = committed_export(2, 3);
    let c = check_disclosures(&e);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!((c.committed, c.uncommitted_before_schema), (3, 2));
    assert!(
        c.summary()
            .contains("2 uncommitted (written before schema 3)"),
        "{}",
        c.summary()
    );
    assert_eq!(replay(&e).uncommitted_before_schema, 2);

    // A committed record whose commit_index is removed: uncommitted after the commitment
    // began, and its entry unclaimed.
    let mut x = committed_export(0, 3);
    let ci = x.disclosures[1].commit_index.take();
    let c = check_disclosures(&x);
    assert_eq!(
        dkinds(&c.problems),
        ["disclosure_uncommitted", "disclosure_missing"]
    );
    assert!(
        c.problems[0].detail.contains("disclosure #2"),
        "{:?}",
        c.problems
    );
    assert_eq!(c.problems[1].at, ci);
    let r = replay(&x);
    assert!(
        dkinds(&r.differences).contains(&"uncommitted"),
        "{:?}",
        r.differences
    );

    // Pointed at another record's entry, or at an exchange entry.
    let mut x = committed_export(0, 3);
    x.disclosures[1].commit_index = x.disclosures[0].commit_index;
    let c = check_disclosures(&x);
    assert_eq!(
        dkinds(&c.problems),
        ["disclosure_commitment_shared", "disclosure_missing"]
    );
    let mut x = committed_export(0, 3);
    x.disclosures[1].commit_index = Some(0);
    let c = check_disclosures(&x);
    assert_eq!(
        dkinds(&c.problems),
        ["disclosure_commitment_missing", "disclosure_missing"]
    );
    assert_eq!(c.problems[0].at, Some(0));

    // A deleted record leaves its commitment unclaimed.
    let mut x = committed_export(0, 3);
    let gone = x.disclosures.remove(2);
    let c = check_disclosures(&x);
    assert_eq!(dkinds(&c.problems), ["disclosure_missing"]);
    assert_eq!(c.problems[0].at, gone.commit_index);
    assert!(dkinds(&replay(&x).differences).contains(&"missing_in_store"));

    // Purged commitment payloads: verify needs only the hash; replay says it cannot name
    // the field.
    let mut x = committed_export(0, 3);
    for p in x.payloads.values_mut() {
        *p = None;
    }
    assert!(check_disclosures(&x).problems.is_empty());
    x.disclosures[0].outcome = "not found".into();
    assert_eq!(
        dkinds(&check_disclosures(&x).problems),
        ["disclosure_altered"]
    );
    let r = replay(&x);
    assert_eq!(r.commitments_purged, 3);
    let hit: Vec<_> = r
        .differences
        .iter()
        .filter(|p| p.kind == "record_differs")
        .collect();
    assert_eq!(hit.len(), 1, "{:?}", r.differences);
    assert!(hit[0].detail.contains("disclosure #1") && hit[0].detail.contains("purged"));
}
