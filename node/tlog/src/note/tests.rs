use super::super::merkle::{Tree, leaf_hash};
use super::*;
use proptest::prelude::*;
use std::path::PathBuf;

/// The reference vectors, kept in the repository (`node/tlog/testdata`, copied from
/// C2SP and transparency-dev with their licence). Missing vectors fail the test.
fn testdata_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"));
    assert!(dir.is_dir(), "test vectors not found at {}", dir.display());
    dir
}

fn example() -> (NoteVerifier, String, String) {
    let dir = testdata_dir().join("signed-note");
    let vkey = std::fs::read_to_string(dir.join("example.vkey")).unwrap();
    let note = std::fs::read_to_string(dir.join("example.note")).unwrap();
    let vkey = vkey.trim_end().to_owned();
    (NoteVerifier::parse(&vkey).unwrap(), vkey, note)
}

fn new_signer(name: &str) -> NoteSigner {
    NoteSigner::from_pkcs8(name, &NoteSigner::generate_pkcs8().unwrap()).unwrap()
}

/// Replaces the base64 of the (only) signature line with `f(decoded bytes)`.
fn rewrite_sig(note: &str, f: impl Fn(&mut Vec<u8>)) -> String {
    let split = note.rfind("\n\n").unwrap() + 2;
    let line = note[split..].trim_end_matches('\n');
    let (head, b64) = line.rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(b64).unwrap();
    f(&mut raw);
    format!("{}{head} {}\n", &note[..split], STANDARD.encode(raw))
}

#[test]
fn example_note_verifies() {
    let (v, vkey, note) = example();
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(hex::encode(v.key_id()), "530d903a");
    assert_eq!(v.verifier_key(), vkey);
    assert_eq!(NoteVerifier::new(v.name(), v.public_key()).unwrap(), v);

    let opened = open_note(&note, std::slice::from_ref(&v)).unwrap();
    assert_eq!(opened.text, "This is an example message.\n");
    assert!(opened.is_signed_by(&v));
    assert_eq!(opened.verified().count(), 1);
    assert_eq!(opened.signatures[0].verifier, Some(0));
    assert_eq!(opened.signatures[0].key_id, v.key_id());
    assert_eq!(opened.to_note(), note);
    assert!(v.verify(opened.text.as_bytes(), &opened.signatures[0].signature));
}

#[test]
fn example_note_tampering_is_refused() {
    let (v, _, note) = example();
    let vs = std::slice::from_ref(&v);
    let invalid = |r: Result<OpenedNote, NoteError>| {
        assert!(
            matches!(r, Err(NoteError::InvalidSignature { .. })),
            "{r:?}"
        )
    };
    invalid(open_note(&note.replacen("example", "exemple", 1), vs));
    invalid(open_note(&note.replacen("message.", "message!", 1), vs));
    invalid(open_note(&format!("Extra line.\n{note}"), vs));
    invalid(open_note(&rewrite_sig(&note, |s| s[10] ^= 1), vs));
    invalid(open_note(&rewrite_sig(&note, |s| s[67] ^= 0x80), vs));
    invalid(open_note(&rewrite_sig(&note, |s| s.truncate(67)), vs));
    invalid(open_note(&rewrite_sig(&note, |s| s.push(0)), vs));
    // A changed key id makes the signature unknown: then no known key signed the note.
    assert_eq!(
        open_note(&rewrite_sig(&note, |s| s[0] ^= 1), vs),
        Err(NoteError::NoKnownSignature)
    );
    // Known name and id of another key: the signature is not trusted.
    let other = new_signer("example.com/foo").verifier();
    assert_eq!(open_note(&note, &[other]), Err(NoteError::NoKnownSignature));
    assert_eq!(open_note(&note, &[]), Err(NoteError::NoKnownSignature));
}

#[test]
fn verifier_keys() {
    let (_, vkey, _) = example();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    assert!(matches!(
        NoteVerifier::parse(&format!("{name}+530d903b+{key}")),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    assert!(matches!(
        NoteVerifier::parse(&format!("example.com/bar+{id}+{key}")),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    // Upper-case hex is fine, as in Go.
    assert!(NoteVerifier::parse(&format!("{name}+530D903A+{key}")).is_ok());
    for bad in [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
        "example.com/foo+530d903a+!!!",
        "example.com/foo+530d903a+",
        "rekor.sigstore.dev+12345678+AwEB",
        "exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ] {
        assert!(NoteVerifier::parse(bad).is_err(), "{bad:?}");
    }
    // Independently produced keys (transparency-dev/formats tests): a type 0x01 key with '+'
    // in its base64, and a type 0x04 witness key, whose key id uses the cosignature type.
    let v =
        NoteVerifier::parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6").unwrap();
    assert_eq!(v.name(), "TEST");
    let (name, key) =
        parse_cosigner_key("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2")
            .unwrap();
    assert_eq!(name, "remora.n621.de");
    assert_eq!(hex::encode(cosigner_key_id(&name, &key)), "da77ade7");
    assert_eq!(
        NoteVerifier::parse("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"),
        Err(NoteError::UnsupportedKeyType(0x04))
    );
}

#[test]
fn signer_keys() {
    let s = new_signer("hfx.example/node-a");
    let v = NoteVerifier::parse(&s.verifier_key()).unwrap();
    assert_eq!(v, s.verifier());
    assert_eq!(v.public_key(), s.public_key());
    assert_eq!(s.key_id(), key_id(s.name(), 0x01, &s.public_key()));
    let (name, key) = parse_cosigner_key(&s.cosigner_key()).unwrap();
    assert_eq!((name.as_str(), key), (s.name(), s.public_key()));
    assert_ne!(cosigner_key_id(s.name(), &s.public_key()), s.key_id());
    assert!(!format!("{s:?}").contains(&hex::encode(s.public_key())));

    let der = NoteSigner::generate_pkcs8().unwrap();
    for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb", "a\u{1}b"] {
        assert!(NoteSigner::from_pkcs8(bad, &der).is_err(), "{bad:?}");
        assert!(NoteVerifier::new(bad, [0; 32]).is_err(), "{bad:?}");
    }
    assert_eq!(
        NoteSigner::from_pkcs8("x", &der[..der.len() - 1]).unwrap_err(),
        NoteError::InvalidPrivateKey
    );
    assert_eq!(
        NoteSigner::from_pkcs8("x", b"").unwrap_err(),
        NoteError::InvalidPrivateKey
    );
}

#[test]
fn sign_and_open_round_trip() {
    let a = new_signer("hfx.example/a");
    let b = new_signer("hfx.example/b");
    let text = "first line\n\nafter a blank line — with an em dash\n";
    let note = sign_note(text, &[&a, &b]).unwrap();
    assert!(note.starts_with(&format!("{text}\n\u{2014} hfx.example/a ")));

    let opened = open_note(&note, &[b.verifier()]).unwrap();
    assert_eq!(opened.text, text);
    assert!(opened.is_signed_by(&b.verifier()));
    assert!(!opened.is_signed_by(&a.verifier()));
    assert_eq!(
        opened
            .unverified()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["hfx.example/a"]
    );
    assert_eq!(opened.to_note(), note);

    let both = open_note(&note, &[a.verifier(), b.verifier()]).unwrap();
    assert_eq!(both.verified().count(), 2);
    assert_eq!(both.signatures[0].verifier, Some(0));
    assert_eq!(both.signatures[1].verifier, Some(1));

    // Exact duplicate lines are dropped.
    let line = &opened.signatures[0].line;
    let dup = format!("{note}{line}\n");
    assert_eq!(
        open_note(&dup, &[a.verifier()]).unwrap().signatures.len(),
        2
    );

    for bad in ["", "no newline", "tab\there\n", "nul\0\n"] {
        assert!(
            matches!(sign_note(bad, &[&a]), Err(NoteError::InvalidText(_))),
            "{bad:?}"
        );
    }
    assert_eq!(sign_note("x\n", &[]), Err(NoteError::SignerCount));
}

#[test]
fn malformed_notes_are_refused() {
    let (v, _, note) = example();
    let vs = std::slice::from_ref(&v);
    let (text, sigs) = note.split_once("\n\n").unwrap();
    let line = sigs.trim_end_matches('\n');
    let b64 = line.rsplit_once(' ').unwrap().1;
    let cases = [
        format!("{text}\n{sigs}"),                             // missing blank line
        format!("{text}\n\n{line}"),                           // missing final newline
        format!("{text}\n\n"),                                 // no signature lines
        format!("{text}\n\n\n"),                               // empty signature line
        format!("{text}\n\n{sigs}\n"),                         // trailing blank line
        format!("{text}\n\n-- example.com/foo {b64}\n"),       // ASCII dashes
        format!("{text}\n\n\u{2013} example.com/foo {b64}\n"), // en dash
        format!("{text}\n\n\u{2014}example.com/foo {b64}\n"),  // no space after dash
        format!("{text}\n\n\u{2014}  example.com/foo {b64}\n"), // empty name
        format!("{text}\n\n\u{2014} example.com/foo\n"),       // no signature
        format!("{text}\n\n\u{2014} example.com/foo \n"),      // empty signature
        format!("{text}\n\n\u{2014} example.com/foo {b64} x\n"), // trailing field
        format!("{text}\n\n\u{2014} example.com/foo !{}\n", &b64[1..]), // bad base64
        format!("{text}\n\n\u{2014} example.com/foo {}\n", &b64[1..]), // bad base64 length
        format!("{text}\n\n\u{2014} example.com/foo AAAAAA==\n"), // too short
        format!("{text}\n\n\u{2014} example+com {b64}\n"),     // '+' in name
        format!("{text}\r\n\n{sigs}"),                         // control character
        format!("{text}\n\n{line}\n{line}x\n"),                // one bad line among good
        "".to_owned(),
        "\n".to_owned(),
        "\n\n".to_owned(),
    ];
    for case in &cases {
        let r = open_note(case, vs);
        assert!(
            matches!(
                r,
                Err(NoteError::MalformedNote(_) | NoteError::MalformedSignatureLine(_))
            ),
            "{case:?}: {r:?}"
        );
    }
    // Too many signatures.
    let many = format!(
        "{text}\n\n{}",
        format!("{line}\n").repeat(MAX_SIGNATURES + 1)
    );
    assert_eq!(
        open_note(&many, vs),
        Err(NoteError::MalformedNote("too many signatures"))
    );
    // Every strict prefix of a valid note is refused.
    for (i, _) in note.char_indices().skip(1) {
        assert!(open_note(&note[..i], vs).is_err(), "prefix {i}");
    }
}

/// A signer and a note it signed, made once (the proptests below need no shared vectors, so
/// a missing vector directory never leaves proptest regression files behind).
fn signed_sample() -> &'static (NoteVerifier, String) {
    static SAMPLE: std::sync::OnceLock<(NoteVerifier, String)> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let s = new_signer("hfx.example/sample");
        let note = sign_note("hfx.example/log\n7\nAAAA\n\u{2014} text\n", &[&s]).unwrap();
        (s.verifier(), note)
    })
}

proptest! {
    #[test]
    fn open_note_never_panics(s in "(\\PC|\n|\u{2014} ){0,200}") {
        let (v, _) = signed_sample();
        let _ = open_note(&s, std::slice::from_ref(v));
        let _ = Checkpoint::parse(&s);
    }

    #[test]
    fn damaged_notes_never_open(pos in 0usize..1000, byte in any::<u8>()) {
        let (v, note) = signed_sample();
        prop_assert!(open_note(note, std::slice::from_ref(v)).is_ok());
        let mut bytes = note.clone().into_bytes();
        let i = pos % bytes.len();
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(s) = String::from_utf8(bytes) {
            // Either malformed, or the signature no longer verifies.
            prop_assert!(open_note(&s, std::slice::from_ref(v)).is_err());
        }
    }
}

fn checkpoint(size: u64) -> Checkpoint {
    let tree = Tree::from_leaves((0..size).map(|i| leaf_hash(&i.to_be_bytes())));
    Checkpoint::new("hfx.example/centre-a", size, tree.root())
}

#[test]
fn checkpoint_text_round_trip() {
    let spec =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse(spec).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), spec);

    let mut cp = checkpoint(5);
    assert_eq!(
        cp.to_text(),
        format!("hfx.example/centre-a\n5\n{}\n", STANDARD.encode(cp.root))
    );
    cp.extensions = vec!["ext one".into(), "— two".into()];
    assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
    let empty = Checkpoint::new("o", 0, super::super::merkle::empty_root());
    assert_eq!(Checkpoint::parse(&empty.to_text()).unwrap(), empty);
    let max = format!("o\n{}\n{}\n", u64::MAX, STANDARD.encode([7u8; 32]));
    assert_eq!(Checkpoint::parse(&max).unwrap().size, u64::MAX);
}

#[test]
fn checkpoint_parse_is_strict() {
    let root = STANDARD.encode([7u8; 32]);
    let bad = [
        format!("o\n5\n{root}"),                           // no final newline
        format!("\n5\n{root}\n"),                          // empty origin
        format!("o\n05\n{root}\n"),                        // leading zero
        format!("o\n00\n{root}\n"),                        // leading zero
        format!("o\n+5\n{root}\n"),                        // sign
        format!("o\n-1\n{root}\n"),                        // negative
        format!("o\n 5\n{root}\n"),                        // space
        format!("o\n5 \n{root}\n"),                        // space
        format!("o\n\n{root}\n"),                          // empty size
        format!("o\n0x5\n{root}\n"),                       // hex
        format!("o\n18446744073709551616\n{root}\n"),      // overflow
        format!("o\n5\n{}\n", STANDARD.encode([7u8; 31])), // short root
        format!("o\n5\n{}\n", STANDARD.encode([7u8; 33])), // long root
        format!("o\n5\n{}\n", &root[..root.len() - 1]),    // unpadded
        format!("o\n5\n{}\n", hex::encode([7u8; 32])),     // hex root
        "o\n5\n\n".to_owned(),                             // empty root
        format!("o\n5\n{root}\n\n"),                       // empty extension
        format!("o\n5\n{root}\next\n\n"),                  // empty extension
        format!("o\n5\n{root}\nex\tt\n"),                  // control character
        "o\n5\n".to_owned(),
        "o\n".to_owned(),
        "\n".to_owned(),
        "".to_owned(),
    ];
    for text in &bad {
        assert!(
            matches!(
                Checkpoint::parse(text),
                Err(NoteError::MalformedCheckpoint(_))
            ),
            "{text:?}"
        );
    }
    // Non-canonical base64 (non-zero padding bits) for the root is refused too.
    let mut odd = root.clone().into_bytes();
    let n = odd.len();
    assert_eq!(&odd[n - 2..], b"c=");
    odd[n - 2] = b'd';
    let odd = String::from_utf8(odd).unwrap();
    assert!(Checkpoint::parse(&format!("o\n5\n{odd}\n")).is_err());
}

#[test]
fn checkpoint_signing() {
    let log = new_signer("hfx.example/centre-a");
    let other = new_signer("hfx.example/centre-b");
    let cp = checkpoint(10);
    let note = cp.sign(&[&log]).unwrap();
    let (parsed, opened) = Checkpoint::open(&note, &[log.verifier()]).unwrap();
    assert_eq!(parsed, cp);
    assert!(opened.is_signed_by(&log.verifier()));

    // Re-signed by another key: refused by the log's verifier.
    let resigned = cp.sign(&[&other]).unwrap();
    assert_eq!(
        Checkpoint::open(&resigned, &[log.verifier()]).unwrap_err(),
        NoteError::NoKnownSignature
    );
    // Another key's signature passed off under the log's name and key id: refused.
    let forged = rewrite_sig(&resigned, |s| s[..4].copy_from_slice(&log.key_id())).replacen(
        "centre-b ",
        "centre-a ",
        1,
    );
    assert!(matches!(
        Checkpoint::open(&forged, &[log.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A modified checkpoint under the original signature: refused.
    let moved = note.replacen("\n10\n", "\n11\n", 1);
    assert!(matches!(
        Checkpoint::open(&moved, &[log.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A valid note whose text is not a checkpoint.
    let not_cp = sign_note("hello\n", &[&log]).unwrap();
    assert!(matches!(
        Checkpoint::open(&not_cp, &[log.verifier()]),
        Err(NoteError::MalformedCheckpoint(_))
    ));
    // Fields that would not survive a round trip are not signed.
    let mut sneaky = cp.clone();
    sneaky.origin = "a\n1".into();
    assert!(sneaky.sign(&[&log]).is_err());
    let mut sneaky = cp.clone();
    sneaky.extensions = vec!["x\ny".into()];
    assert!(sneaky.sign(&[&log]).is_err());
}

#[test]
fn cosignatures() {
    let log = new_signer("hfx.example/centre-a");
    let witness = new_signer("hfx.example/centre-b");
    let (wname, wkey) = (witness.name(), witness.public_key());
    let cp1 = checkpoint(5).to_text();
    let cp2 = checkpoint(6).to_text();
    let t = 1_679_315_147;

    let line = cosign(&witness, &cp1, t).unwrap();
    assert!(line.starts_with("\u{2014} hfx.example/centre-b ") && line.ends_with('\n'));
    assert_eq!(verify_cosignature(wname, &wkey, &cp1, &line), Ok(t));
    assert_eq!(
        verify_cosignature(wname, &wkey, &cp1, line.trim_end()),
        Ok(t)
    );

    // Wire format: key id (type 0x04) ‖ timestamp (u64 BE) ‖ Ed25519 over the spec message.
    let raw = STANDARD
        .decode(line.trim_end().rsplit_once(' ').unwrap().1)
        .unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(raw[..4], key_id(wname, 0x04, &wkey));
    assert_ne!(raw[..4], witness.key_id());
    assert_eq!(raw[4..12], t.to_be_bytes());
    let msg = format!("cosignature/v1\ntime 1679315147\n{cp1}");
    assert!(ed25519_verify(&wkey, msg.as_bytes(), &raw[12..]));

    // Over a different checkpoint, or checked against the wrong key or name: refused.
    assert_eq!(
        verify_cosignature(wname, &wkey, &cp2, &line),
        Err(NoteError::InvalidCosignature(wname.to_owned()))
    );
    assert!(matches!(
        verify_cosignature(wname, &log.public_key(), &cp1, &line),
        Err(NoteError::CosignatureKeyMismatch(_))
    ));
    assert!(matches!(
        verify_cosignature("hfx.example/centre-c", &wkey, &cp1, &line),
        Err(NoteError::CosignatureKeyMismatch(_))
    ));
    // Tampered timestamp or signature: refused.
    let retimed = rewrite_sig(&format!("x\n\n{line}"), |s| s[11] ^= 1);
    let retimed = retimed.split_once("\n\n").unwrap().1;
    assert!(matches!(
        verify_cosignature(wname, &wkey, &cp1, retimed),
        Err(NoteError::InvalidCosignature(_))
    ));
    let resig = rewrite_sig(&format!("x\n\n{line}"), |s| s[40] ^= 1);
    let resig = resig.split_once("\n\n").unwrap().1;
    assert!(verify_cosignature(wname, &wkey, &cp1, resig).is_err());
    // A plain note signature by the witness is not a cosignature.
    let plain = sign_note(&cp1, &[&witness]).unwrap();
    let plain_line = plain.split_once("\n\n").unwrap().1;
    assert!(verify_cosignature(wname, &wkey, &cp1, plain_line).is_err());
    // Malformed input.
    for bad in [
        "",
        "\u{2014} x",
        "garbage\n",
        format!("{line}{line}").as_str(),
    ] {
        assert!(
            verify_cosignature(wname, &wkey, &cp1, bad).is_err(),
            "{bad:?}"
        );
    }
    assert!(cosign(&witness, "not a checkpoint\n", t).is_err());
    assert!(cosign(&witness, &cp1, 1 << 63).is_err());
    assert!(cosign(&witness, &cp1, (1 << 63) - 1).is_ok());

    // Appended to the log's signed checkpoint: the note still opens, the cosignature is
    // kept as an unverified line, and verifies from there.
    let signed = checkpoint(5).sign(&[&log]).unwrap();
    let opened = open_note(&signed, &[log.verifier()]).unwrap();
    let cosigned = opened
        .with_signature_lines(&[line.as_str(), line.as_str()])
        .unwrap();
    assert_eq!(cosigned, format!("{signed}{line}"));
    let reopened = open_note(&cosigned, &[log.verifier()]).unwrap();
    let unverified: Vec<_> = reopened.unverified().collect();
    assert_eq!(unverified.len(), 1);
    assert_eq!(
        verify_cosignature(wname, &wkey, &reopened.text, &unverified[0].line),
        Ok(t)
    );
    // The witness's note key does not mistake its cosignature for a note signature.
    assert_eq!(
        open_note(&cosigned, &[witness.verifier()]),
        Err(NoteError::NoKnownSignature)
    );
    assert!(opened.with_signature_lines(&["not a signature"]).is_err());
    assert!(
        opened
            .with_signature_lines(&[format!("{line}{line}").as_str()])
            .is_err()
    );
}
