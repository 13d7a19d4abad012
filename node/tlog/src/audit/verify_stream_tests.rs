//! The streaming verifier gives exactly what the in-memory one gives (reports and errors),
//! on clean and on damaged files, and takes its one pass only on files that are clean; the
//! fast entry-field scan gives exactly what the key-by-key search gives.

use super::export::{searched_fields, written_fields};
use super::verify_tests::{bytes, export, signer};
use super::*;
use crate::Envelope;
use proptest::prelude::*;
use std::io::{BufRead, Cursor, Read, Seek, SeekFrom};
use std::sync::OnceLock;

/// A reader that counts how often it is sent back to a position (the streaming verifier's
/// second, full reading).
struct Rewinds {
    c: Cursor<Vec<u8>>,
    rewinds: usize,
}

impl Read for Rewinds {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.c.read(buf)
    }
}

impl BufRead for Rewinds {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.c.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.c.consume(n)
    }
}

impl Seek for Rewinds {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        if matches!(to, SeekFrom::Start(_)) {
            self.rewinds += 1;
        }
        self.c.seek(to)
    }
}

/// A report without its timings, comparable; or the error as text.
fn outcome(r: anyhow::Result<VerifyReport>) -> Result<serde_json::Value, String> {
    r.map(|rep| {
        let mut v = serde_json::to_value(rep).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("entries_seconds");
        o.remove("payloads_seconds");
        v
    })
    .map_err(|e| format!("{e:#}"))
}

fn in_memory(file: &[u8], key: Option<&str>, quorum: u32) -> anyhow::Result<VerifyReport> {
    let read = read_for_verify(&mut Cursor::new(file), &|_, _| {})?;
    Ok(verify_read(&read, key, quorum, &|_, _| {}))
}

/// [`verify_stream`] over `file`: its outcome, how often it read the file again, and the
/// centres it asked the key of.
fn streamed(
    file: &[u8],
    key: Option<&str>,
    quorum: u32,
) -> (Result<serde_json::Value, String>, usize, Vec<String>) {
    let mut r = Rewinds {
        c: Cursor::new(file.to_vec()),
        rewinds: 0,
    };
    let mut asked = Vec::new();
    let rep = verify_stream(
        &mut r,
        &mut |c| {
            asked.push(c.to_string());
            Ok((key.map(str::to_string), quorum))
        },
        &|_, _| {},
    );
    (outcome(rep), r.rewinds, asked)
}

/// Test files: a synthetic export with disclosures and their commitments (no
/// cosignatures), and one with cosignatures by three witnesses (no disclosures); each with
/// the key it verifies under and its quorum.
fn fixtures() -> &'static Vec<(Vec<u8>, String, u32)> {
    static F: OnceLock<Vec<(Vec<u8>, String, u32)>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hfx-tlog-stream-{}", std::process::id()));
        let centres = ["320300000000000".to_string(), "320700000000000".to_string()];
        let paths = synthesize(&dir, "t", &centres, 12, 10, &|_, _| {}).unwrap();
        let synth = std::fs::read(&paths[0]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let vkey = read_for_verify(&mut Cursor::new(&synth), &|_, _| {})
            .unwrap()
            .export
            .vkey;
        let s = signer("huaihai.hfx/320300000000000");
        vec![
            (synth, vkey, 1),
            (bytes(&export(12, &s)), s.verifier_key(), 3),
        ]
    })
}

#[test]
fn a_clean_export_is_verified_in_one_pass_as_in_memory() {
    for (file, vkey, quorum) in fixtures() {
        let mem = outcome(in_memory(file, Some(vkey), *quorum));
        let rep = mem.as_ref().unwrap();
        assert_eq!(rep["problems"], serde_json::json!([]), "{rep}");
        assert!(rep["checkpoints_verified"].as_u64().unwrap() > 1);
        let (st, rewinds, asked) = streamed(file, Some(vkey), *quorum);
        assert_eq!(st, mem);
        assert_eq!(rewinds, 0, "a clean file is read once");
        assert_eq!(asked, vec!["320300000000000".to_string()]);
        assert_eq!(
            parse_stream_only(&mut Cursor::new(file)).unwrap(),
            rep["entries"].as_u64()
        );
        // Against the export's own key too.
        assert_eq!(streamed(file, None, 1).0, outcome(in_memory(file, None, 1)));
    }
    // The synthetic file's disclosures are committed, and counted.
    let rep = outcome(in_memory(&fixtures()[0].0, None, 1)).unwrap();
    assert_eq!(rep["disclosures_committed"], 12);
    assert_eq!(rep["payloads_present"], 36);
}

#[test]
fn a_malformed_entry_is_reported_with_its_line_after_a_second_reading() {
    let (file, vkey, quorum) = &fixtures()[1];
    // Entry 5 is file line 12.
    let mut lines: Vec<&[u8]> = file.split(|b| *b == b'\n').collect();
    lines[11] = b"{\"dir\":\"sent\" not an envelope";
    let bad = lines.join(&b'\n');
    let (st, rewinds, _) = streamed(&bad, Some(vkey), *quorum);
    assert_eq!(rewinds, 1);
    assert_eq!(st, outcome(in_memory(&bad, Some(vkey), *quorum)));
    let problems = st.unwrap()["problems"].as_array().unwrap().clone();
    assert!(
        problems.iter().any(|p| p["kind"] == "malformed_entry"
            && p["at"] == 5
            && p["detail"].as_str().unwrap().contains("(line 12)")),
        "{problems:?}"
    );
    assert_eq!(parse_stream_only(&mut Cursor::new(&bad)).unwrap(), None);
}

#[test]
fn a_truncated_export_fails_with_the_in_memory_error() {
    let (file, vkey, quorum) = &fixtures()[0];
    let cut = &file[..file.len() / 2];
    let (st, rewinds, _) = streamed(cut, Some(vkey), *quorum);
    assert_eq!(rewinds, 1);
    let err = st.unwrap_err();
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(Err(err), outcome(in_memory(cut, Some(vkey), *quorum)));
}

#[test]
fn every_line_changed_deleted_or_doubled_gets_the_in_memory_report() {
    for (file, vkey, quorum) in fixtures() {
        let n = file.split(|b| *b == b'\n').count() - 1;
        for line in 0..n {
            for d in [
                Damage::Byte {
                    line,
                    at: 0,
                    to: b'x',
                },
                Damage::Byte {
                    line,
                    at: usize::MAX / 2,
                    to: b'0',
                },
                Damage::Byte {
                    line,
                    at: usize::MAX,
                    to: b'"',
                },
                Damage::Delete { line },
                Damage::Duplicate { line },
            ] {
                let bad = apply(file, &d);
                let mem = outcome(in_memory(&bad, Some(vkey), *quorum));
                let (st, rewinds, _) = streamed(&bad, Some(vkey), *quorum);
                assert_eq!(st, mem, "{d:?}");
                if mem.is_err()
                    || mem
                        .as_ref()
                        .is_ok_and(|r| r["problems"] != serde_json::json!([]))
                {
                    assert_eq!(rewinds, 1, "{d:?}");
                }
            }
        }
    }
}

/// One change to a file: to its lines (`line` taken modulo their number).
#[derive(Debug, Clone)]
enum Damage {
    Byte { line: usize, at: usize, to: u8 },
    Insert { line: usize, at: usize, b: u8 },
    Delete { line: usize },
    Duplicate { line: usize },
    Swap { line: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    // Bytes that matter to the scanners, and any byte.
    let byte = prop_oneof![
        prop::sample::select(b"\"\\,:}{ -0123456789abcdefABCDEF=+/\n".to_vec()),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), any::<usize>(), byte.clone()).prop_map(|(line, at, to)| Damage::Byte {
            line,
            at,
            to
        }),
        (any::<usize>(), any::<usize>(), byte).prop_map(|(line, at, b)| Damage::Insert {
            line,
            at,
            b
        }),
        any::<usize>().prop_map(|line| Damage::Delete { line }),
        any::<usize>().prop_map(|line| Damage::Duplicate { line }),
        any::<usize>().prop_map(|line| Damage::Swap { line }),
    ]
}

fn apply(file: &[u8], d: &Damage) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = file.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    // The last piece is the empty one after the final newline.
    let n = lines.len() - 1;
    match *d {
        Damage::Byte { line, at, to } => {
            let l = &mut lines[line % n];
            if !l.is_empty() {
                let at = at % l.len();
                l[at] = to;
            }
        }
        Damage::Insert { line, at, b } => {
            let l = &mut lines[line % n];
            let at = at % (l.len() + 1);
            l.insert(at, b);
        }
        Damage::Delete { line } => {
            lines.remove(line % n);
        }
        Damage::Duplicate { line } => {
            let l = lines[line % n].clone();
            lines.insert(line % n, l);
        }
        Damage::Swap { line } => lines.swap(line % n, (line + 1) % n),
    }
    lines.join(&b'\n')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the damage, streaming gives the in-memory verifier's report or error, and
    /// reads the file a second time whenever that report has findings.
    #[test]
    fn a_damaged_export_gets_the_in_memory_report(which in 0usize..2, d in damage()) {
        let (file, vkey, quorum) = &fixtures()[which];
        let bad = apply(file, &d);
        let mem = outcome(in_memory(&bad, Some(vkey), *quorum));
        let (st, rewinds, _) = streamed(&bad, Some(vkey), *quorum);
        prop_assert_eq!(&st, &mem);
        let clean = mem.as_ref().is_ok_and(|r| r["problems"] == serde_json::json!([]));
        if !clean {
            prop_assert_eq!(rewinds, 1);
        }
    }
}

/// An entry line in the node's layout, with these field values.
fn line_of(dir: &str, peer: &str, seq: u64, mid: &str, ty: &str, hash: &str) -> Vec<u8> {
    let mut e = Envelope::draft(dir, peer, mid, "", ty, b"p");
    e.seq = seq;
    e.at_ms = 1_796_284_190_774;
    if !hash.is_empty() {
        e.payload_sha256 = hash.into();
    }
    e.entry_bytes()
}

fn same_fields(line: &[u8]) -> Result<(), TestCaseError> {
    let fast = entry_fields(line);
    let searched = std::str::from_utf8(line).ok().and_then(searched_fields);
    prop_assert_eq!(fast, searched, "{}", String::from_utf8_lossy(line));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Lines as the node writes them (values with quotes, backslashes, commas and key names
    /// in them are escaped by serde) and the same lines damaged: the one-scan reading of
    /// the written layout finds what searching key by key finds.
    #[test]
    fn entry_fields_are_the_searched_fields(
        dir in "(sent|recv|local|[a-z\",:}\\\\]{0,6})",
        peer in "[0-9]{15}|[a-z\"\\\\,:{}]{0,8}|\"seq\":|\"peer\":\"",
        seq in any::<u64>(),
        mid in "[0-9a-f-]{36}|[ -~]{0,12}|\",\"msg_type\":\"x",
        ty in "MemberExchange/QueryMember#(request|reply)|Disclosure#record|[ -~]{0,10}",
        hash in "|[0-9a-f]{64}|[ -~]{0,8}",
        damage in prop::option::of((any::<usize>(), prop::sample::select(b"\"\\,:}{x0-".to_vec()))),
    ) {
        let mut line = line_of(&dir, &peer, seq, &mid, &ty, &hash);
        // The plain lines take the one-scan path (so the comparison covers it); a sequence
        // number beyond i64 is no number to either reading.
        if seq <= i64::MAX as u64 && !(dir.contains(['"', '\\']) || peer.contains(['"', '\\']) || mid.contains(['"', '\\'])
            || ty.contains(['"', '\\']) || hash.contains(['"', '\\']))
        {
            let s = std::str::from_utf8(&line).unwrap();
            prop_assert!(written_fields(s).is_some(), "{}", s);
        }
        if let Some((at, b)) = damage {
            let at = at % line.len();
            line[at] = b;
        }
        same_fields(&line)?;
    }
}

#[test]
fn entry_fields_read_numbers_as_the_search_does() {
    // A sign, a negative sequence number (read as i64, then cast), a `}` inside a number,
    // a field missing, non-UTF-8: the same answer either way.
    let l = String::from_utf8(line_of("sent", "p", 7, "m", "T#request", "")).unwrap();
    for v in [
        l.clone(),
        l.replace("\"seq\":7", "\"seq\":+7"),
        l.replace("\"seq\":7", "\"seq\":-7"),
        l.replace("\"seq\":7", "\"seq\":9223372036854775808"),
        l.replace("\"seq\":7", "\"seq\":7}"),
        l.replace("\"seq\":7,", "\"seq\":7},"),
        l.replace(",\"case_id\":\"\"", ""),
        l.replace("\"at_ms\":", "\"at_ms\":\"x\","),
        l.replace('}', " }"),
    ] {
        same_fields(v.as_bytes()).unwrap();
    }
    let negative = l.replace("\"seq\":7", "\"seq\":-7");
    let f = entry_fields(negative.as_bytes()).unwrap();
    assert_eq!(f.seq, (-7i64) as u64);
    let mut raw = l.into_bytes();
    raw[10] = 0xff;
    assert_eq!(entry_fields(&raw), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A disclosure line read without copying hashes to the commitment the full record
    /// gives, whatever its strings hold (quotes, backslashes, control characters, 张).
    #[test]
    fn a_borrowed_disclosure_line_has_the_records_commitment(
        strings in prop::collection::vec("[ -~\\\\\"\u{1}\n张]{0,12}", 9),
        at_ms in any::<i64>(),
        id in prop::option::of(any::<i64>()),
        log_index in prop::option::of(any::<u64>()),
        commit_index in prop::option::of(any::<u64>()),
    ) {
        let d = DisclosureRecord {
            direction: strings[0].clone(),
            peer: strings[1].clone(),
            purpose: strings[2].clone(),
            message_id: strings[3].clone(),
            outcome: strings[4].clone(),
            at_ms,
            id,
            acting_person: strings[5].clone(),
            legal_basis: strings[6].clone(),
            subject_masked: strings[7].clone(),
            subject_key: strings[8].clone(),
            log_index,
            commit_index,
        };
        let mut line = Vec::new();
        write_disclosure(&mut line, &d).unwrap();
        line.pop();
        let l: super::export::DisclosureLine<'_> = serde_json::from_slice(&line).unwrap();
        prop_assert_eq!(l.commit_index, d.commit_index);
        let mut buf = Vec::new();
        prop_assert_eq!(hex::encode(l.commitment(&mut buf)), d.commitment_sha256());
        prop_assert_eq!(buf, d.canonical_bytes());
    }
}

#[test]
fn nothing_follows_the_largest_sequence_number() {
    let entries: Vec<Vec<u8>> = [1, u64::MAX, 0]
        .iter()
        .map(|&seq| line_of("sent", "320700000000000", seq, "m", "T#request", ""))
        .collect();
    let e = Export {
        centre: "320300000000000".into(),
        origin: "o".into(),
        vkey: "k".into(),
        entries,
        checkpoints: vec![],
        cosignatures: vec![],
        disclosures: vec![],
        payloads: Default::default(),
    };
    let rep = verify(&e, None, 1, &|_, _| {});
    let seq: Vec<(&str, Option<u64>)> = rep
        .problems
        .iter()
        .filter(|p| p.kind.starts_with("sequence"))
        .map(|p| (p.kind.as_str(), p.at))
        .collect();
    assert_eq!(
        seq,
        vec![("sequence_gap", Some(1)), ("sequence_repeat", Some(2))]
    );
}

#[test]
fn the_file_bench_reads_and_verifies_what_it_wrote() {
    let b = bench_file(300).unwrap();
    assert_eq!(b.entries, 300);
    assert!(b.bytes > 300 * 200, "{b:?}");
}
