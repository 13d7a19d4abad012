//! Attestation checks: each refusal names its check; the worked example of
//! docs/attestation.md is regenerated here and compared byte for byte.

use super::*;
use ciborium::value::Value;
use coset::TaggedCborSerializable;

use super::example::{ISSUER, LENDER, T0, example_certificate, example_signer};
const DAY: i64 = 86_400;

fn other_signer(n: u8) -> AttestSigner {
    AttestSigner::from_seed(&[n; 32]).unwrap()
}

fn snapshot(version: u64, issued: i64, keys: &[(&str, [u8; 32])]) -> DirectorySnapshot {
    DirectorySnapshot {
        zone: "huaihai".into(),
        version,
        issued_at_unix: issued,
        expires_at_unix: issued + 365 * DAY,
        keys: keys.iter().map(|(c, k)| (c.to_string(), *k)).collect(),
    }
}

fn history_with(signer: &AttestSigner) -> KeyHistory {
    KeyHistory::new(vec![snapshot(
        1,
        T0 - DAY,
        &[(ISSUER, signer.public_key()), (LENDER, [9; 32])],
    )])
    .unwrap()
}

fn check_of(r: Result<Verified, VerifyError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.check(),
    }
}

#[test]
fn a_certificate_verifies_and_its_compact_form_fits_a_qr_code_and_round_trips() {
    let s = example_signer();
    let cose = s.sign(&example_certificate()).unwrap();
    let v = verify(&cose, &history_with(&s), T0 + DAY).unwrap();
    assert_eq!(v.certificate, example_certificate());
    assert_eq!(v.key_id, s.key_id());
    assert_eq!(v.directory_version, 1);
    let compact = to_compact(&cose);
    assert!(compact.starts_with(COMPACT_PREFIX));
    assert!(
        compact.len() <= COMPACT_MAX_BYTES,
        "{} bytes",
        compact.len()
    );
    assert_eq!(from_compact(&compact).unwrap(), cose);
    assert_eq!(read_any(compact.as_bytes()).unwrap(), cose);
    assert_eq!(read_any(&cose).unwrap(), cose);
    // Through a real QR code's alphanumeric mode: every character is one it carries.
    assert!(
        compact
            .chars()
            .all(|c| "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(c))
    );
}

/// Rewrite one claim (or one certificate field) of a signed certificate, keeping the
/// signature: what a forger who edits the bytes gets.
fn tampered(cose: &[u8], claim: i64, field: Option<&str>) -> Vec<u8> {
    let mut sign1 = coset::CoseSign1::from_tagged_slice(cose).unwrap();
    let mut v: Value = ciborium::from_reader(sign1.payload.as_deref().unwrap()).unwrap();
    let change = |x: &mut Value| {
        *x = match x {
            Value::Text(t) => Value::Text(format!("{t}9")),
            Value::Integer(n) => Value::Integer((i128::from(*n) + 1).try_into().unwrap()),
            Value::Bool(b) => Value::Bool(!*b),
            Value::Bytes(b) => {
                let mut b = b.clone();
                b[15] ^= 1;
                Value::Bytes(b)
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    for (k, x) in v.as_map_mut().unwrap() {
        if k.as_integer() != Some(claim.into()) {
            continue;
        }
        match field {
            None => change(x),
            Some(f) => {
                for (fk, fx) in x.as_map_mut().unwrap() {
                    if fk.as_text() == Some(f) {
                        change(fx);
                    }
                }
            }
        }
    }
    let mut payload = Vec::new();
    ciborium::into_writer(&v, &mut payload).unwrap();
    assert_ne!(
        sign1.payload.as_deref(),
        Some(payload.as_slice()),
        "{claim} {field:?}"
    );
    sign1.payload = Some(payload);
    sign1.to_tagged_vec().unwrap()
}

#[test]
fn each_field_tampered_is_refused_naming_the_check() {
    let s = example_signer();
    let cose = s.sign(&example_certificate()).unwrap();
    let h = history_with(&s);
    let now = T0 + DAY;
    for (key, _, _) in FIELD_LABELS.iter().chain([&("v", "", "")]) {
        let bad = tampered(&cose, fields::CLAIM_DEPOSIT_CERTIFICATE, Some(key));
        let want = if *key == "v" { "format" } else { "signature" };
        assert_eq!(check_of(verify(&bad, &h, now)), want, "field {key}");
    }
    for (claim, name) in [
        (fields::CLAIM_AUD, "aud"),
        (fields::CLAIM_EXP, "exp"),
        (fields::CLAIM_IAT, "iat"),
        (fields::CLAIM_CTI, "cti"),
    ] {
        let bad = tampered(&cose, claim, None);
        assert_eq!(check_of(verify(&bad, &h, now)), "signature", "claim {name}");
    }
    // The issuer rewritten: a centre no directory lists.
    let bad = tampered(&cose, fields::CLAIM_ISS, None);
    assert_eq!(check_of(verify(&bad, &h, now)), "issuer");
    // The issuer rewritten to another listed centre: its key is not the signer's.
    let mut cert = example_certificate();
    cert.issuer = LENDER.into();
    let forged = s.sign(&cert).unwrap();
    assert_eq!(check_of(verify(&forged, &h, now)), "key");
    // The signature's bytes.
    let mut sign1 = coset::CoseSign1::from_tagged_slice(&cose).unwrap();
    sign1.signature[7] ^= 0x40;
    let bad = sign1.to_tagged_vec().unwrap();
    assert_eq!(check_of(verify(&bad, &h, now)), "signature");
    // The protected header: another key id, another algorithm.
    let mut sign1 = coset::CoseSign1::from_tagged_slice(&cose).unwrap();
    sign1.protected.original_data = None;
    sign1.protected.header.key_id[0] ^= 1;
    let bad = sign1.to_tagged_vec().unwrap();
    assert_eq!(check_of(verify(&bad, &h, now)), "key");
    let mut sign1 = coset::CoseSign1::from_tagged_slice(&cose).unwrap();
    sign1.protected.original_data = None;
    sign1.protected.header.alg = Some(coset::Algorithm::Assigned(coset::iana::Algorithm::ES256));
    let bad = sign1.to_tagged_vec().unwrap();
    assert_eq!(check_of(verify(&bad, &h, now)), "algorithm");
    // Bytes that are no certificate at all, and a broken compact form.
    assert_eq!(check_of(verify(b"not cose", &h, now)), "format");
    let compact = to_compact(&cose);
    let cut = &compact[..compact.len() - 1];
    assert!(
        matches!(from_compact(cut), Err(VerifyError::Format(_))) || {
            let b = from_compact(cut).unwrap();
            check_of(verify(&b, &h, now)) == "format"
        }
    );
    assert!(matches!(
        from_compact(&compact.replacen("HFX1:", "HC1:", 1)),
        Err(VerifyError::Format(_))
    ));
}

#[test]
fn signed_by_a_key_the_directory_does_not_list_is_refused() {
    let s = example_signer();
    let h = history_with(&s);
    let wrong = other_signer(7);
    let cose = wrong.sign(&example_certificate()).unwrap();
    assert_eq!(check_of(verify(&cose, &h, T0 + DAY)), "key");
    // The wrong key, with the listed key's id in the header: the signature fails.
    let mut sign1 = coset::CoseSign1::from_tagged_slice(&cose).unwrap();
    let good =
        coset::CoseSign1::from_tagged_slice(&s.sign(&example_certificate()).unwrap()).unwrap();
    sign1.protected = good.protected.clone();
    let forged = sign1.to_tagged_vec().unwrap();
    assert_eq!(check_of(verify(&forged, &h, T0 + DAY)), "signature");
}

#[test]
fn an_issuer_absent_from_the_directory_is_refused() {
    let s = example_signer();
    let cose = s.sign(&example_certificate()).unwrap();
    let h = KeyHistory::new(vec![snapshot(1, T0 - DAY, &[(LENDER, [9; 32])])]).unwrap();
    let e = verify(&cose, &h, T0 + DAY).unwrap_err();
    assert_eq!(e, VerifyError::IssuerUnknown(ISSUER.into()));
    assert_eq!(e.check(), "issuer");
    // Listed once, but not by the directory in force when it was issued.
    let h = KeyHistory::new(vec![
        snapshot(1, T0 - 10 * DAY, &[(ISSUER, s.public_key())]),
        snapshot(2, T0 - DAY, &[(LENDER, [9; 32])]),
    ])
    .unwrap();
    let e = verify(&cose, &h, T0 + DAY).unwrap_err();
    assert!(
        matches!(e, VerifyError::IssuerAbsentAtIssue { version: 2, .. }),
        "{e}"
    );
    // Issued before the oldest directory of the history.
    let h = KeyHistory::new(vec![snapshot(1, T0 + 1, &[(ISSUER, s.public_key())])]).unwrap();
    assert_eq!(
        verify(&cose, &h, T0 + DAY).unwrap_err(),
        VerifyError::NoDirectoryAtIssue(T0)
    );
}

#[test]
fn an_expired_certificate_is_refused_and_one_from_the_future_too() {
    let s = example_signer();
    let cose = s.sign(&example_certificate()).unwrap();
    let h = history_with(&s);
    let exp = T0 + 30 * DAY;
    assert_eq!(check_of(verify(&cose, &h, exp - 1)), "ok");
    assert_eq!(
        verify(&cose, &h, exp).unwrap_err(),
        VerifyError::Expired {
            expires_at: exp,
            now: exp
        }
    );
    assert_eq!(check_of(verify(&cose, &h, T0 - CLOCK_SKEW_SECS)), "ok");
    assert_eq!(
        check_of(verify(&cose, &h, T0 - CLOCK_SKEW_SECS - 1)),
        "issue_time"
    );
}

#[test]
fn issued_after_the_issuers_key_rotation_or_revocation_is_refused() {
    let old = example_signer();
    let new = other_signer(3);
    let rotated_at = T0 + 10 * DAY;
    let h = KeyHistory::new(vec![
        snapshot(1, T0 - DAY, &[(ISSUER, old.public_key())]),
        snapshot(2, rotated_at, &[(ISSUER, new.public_key())]),
    ])
    .unwrap();
    let now = T0 + 20 * DAY;
    // Issued before the rotation with the old key: still good after it.
    let before = old.sign(&example_certificate()).unwrap();
    assert_eq!(check_of(verify(&before, &h, now)), "ok");
    // Issued with the old key after the rotation: refused.
    let mut cert = example_certificate();
    cert.issued_at_unix = rotated_at + 60;
    let after = old.sign(&cert).unwrap();
    let e = verify(&after, &h, now).unwrap_err();
    assert!(
        matches!(e, VerifyError::KeyNotInForce { version: 2, .. }),
        "{e}"
    );
    assert_eq!(e.check(), "key_in_force");
    // The new key after the rotation is good; before it, it was not yet the key.
    assert_eq!(check_of(verify(&new.sign(&cert).unwrap(), &h, now)), "ok");
    let early = new.sign(&example_certificate()).unwrap();
    assert_eq!(check_of(verify(&early, &h, now)), "key_in_force");
}

#[test]
fn the_history_comes_from_directories_signed_by_the_zone_root() {
    use base64::Engine;
    use hfx_certs::{CentreEntry, Directory, ZoneRoot};
    let root = ZoneRoot::generate("huaihai", 10).unwrap();
    let s = example_signer();
    let entry = CentreEntry {
        code: ISSUER.into(),
        name: "徐州".into(),
        city: "徐州".into(),
        province: "江苏".into(),
        endpoint: "127.0.0.1:1".into(),
        endpoints: Vec::new(),
        tls_fingerprint: "00".into(),
        signing_key: base64::engine::general_purpose::STANDARD.encode(s.public_key()),
        core_system: "sqlite".into(),
    };
    let dir = Directory {
        zone: "huaihai".into(),
        version: 4,
        issued_at_unix: T0 - DAY,
        expires_at_unix: T0 + DAY,
        witness_quorum: 1,
        centres: vec![entry],
    };
    let signed = dir.sign(|m| root.sign(m)).unwrap().to_json();
    let snap = DirectorySnapshot::from_signed_json("v4", &signed, &root.public_key()).unwrap();
    assert_eq!(snap.version, 4);
    assert_eq!(snap.key_of(ISSUER), Some(&s.public_key()));
    // Verifies long after the directory itself expired: it says what was in force then.
    let h = KeyHistory::new(vec![snap.clone()]).unwrap();
    let cose = s.sign(&example_certificate()).unwrap();
    assert_eq!(check_of(verify(&cose, &h, T0 + 20 * DAY)), "ok");
    // Issued after that directory expired, with no newer one: no key was in force.
    let mut cert = example_certificate();
    cert.issued_at_unix = T0 + 2 * DAY;
    assert_eq!(
        verify(&s.sign(&cert).unwrap(), &h, T0 + 20 * DAY).unwrap_err(),
        VerifyError::NoDirectoryAtIssue(T0 + 2 * DAY)
    );
    // A directory with a key slipped in, or signed by another root, is refused.
    let forged = signed.replace("\\\"version\\\": 4", "\\\"version\\\": 5");
    assert_ne!(forged, signed);
    assert!(matches!(
        DirectorySnapshot::from_signed_json("v5", &forged, &root.public_key()),
        Err(HistoryError::BadSignature { .. })
    ));
    let other = ZoneRoot::generate("huaihai", 10).unwrap();
    assert!(matches!(
        DirectorySnapshot::from_signed_json("v4", &signed, &other.public_key()),
        Err(HistoryError::BadSignature { .. })
    ));
    let mut changed = snap.clone();
    changed.keys.clear();
    assert_eq!(
        KeyHistory::new(vec![snap, changed]),
        Err(HistoryError::Conflicting(4))
    );
}

/// The worked example's blocks as the code makes them: (marker, text).
fn example_blocks() -> Vec<(&'static str, String)> {
    use base64::Engine;
    let s = example_signer();
    let cert = example_certificate();
    let cose = s.sign(&cert).unwrap();
    let wrap = |h: String| {
        h.as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    vec![
        (
            "public-key",
            base64::engine::general_purpose::STANDARD.encode(s.public_key()),
        ),
        ("kid", hex::encode(s.key_id())),
        ("payload-hex", wrap(hex::encode(cert.to_payload()))),
        ("cose-hex", wrap(hex::encode(&cose))),
        ("compact", to_compact(&cose)),
    ]
}

/// The fenced block after `<!-- example: NAME -->` in the document.
fn doc_block(doc: &str, name: &str) -> Option<String> {
    let marker = format!("<!-- example: {name} -->");
    let after = &doc[doc.find(&marker)? + marker.len()..];
    let body = &after[after.find("```")? + 3..];
    let body = &body[body.find('\n')? + 1..];
    Some(body[..body.find("```")?].trim_end().to_string())
}

/// docs/attestation.md's worked example is what this code makes from the example's key,
/// time and id: the document cannot drift from the code.
#[test]
fn the_worked_example_of_the_document_is_what_the_code_makes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/attestation.md");
    let doc = std::fs::read_to_string(path).expect("docs/attestation.md");
    let mut wrong = Vec::new();
    for (name, want) in example_blocks() {
        if doc_block(&doc, name).as_deref() != Some(want.as_str()) {
            wrong.push(format!("<!-- example: {name} -->\n```\n{want}\n```"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/attestation.md differs from the code; the blocks should read:\n\n{}",
        wrong.join("\n\n")
    );
    // And the document's compact form verifies as the document says, with the length it says.
    let compact = doc_block(&doc, "compact").unwrap();
    let said = format!("{} characters", compact.len());
    assert_eq!(
        doc.matches(&said).count(),
        2,
        "the document should say {said} twice"
    );
    let s = example_signer();
    let v = verify(
        &from_compact(&compact).unwrap(),
        &history_with(&s),
        T0 + DAY,
    )
    .unwrap();
    assert_eq!(v.certificate, example_certificate());
}
