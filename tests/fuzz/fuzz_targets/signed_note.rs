//! C2SP signed notes, checkpoints and cosignatures (hfx-tlog `note`): verifier keys, `open_note`
//! and `Checkpoint::open` against known keys (the C2SP test vector's and the fuzz centre's),
//! `Checkpoint::parse`, and `verify_cosignature` of a line over a checkpoint text. The input is
//! `<note or key>` alone, or `<checkpoint text>\x00<cosignature line>`.
#![no_main]

use hfx_fuzz::{CENTRE_LABEL, WITNESS_LABEL, WITNESS_NAME, key, public_key};
use hfx_tlog::note::{Checkpoint, NoteVerifier, open_note, parse_cosigner_key, verify_cosignature};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// node/tlog/testdata/signed-note/example.vkey
const EXAMPLE_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

fn verifiers() -> &'static [NoteVerifier] {
    static V: OnceLock<Vec<NoteVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        let mut v = Vec::new();
        if let Ok(x) = NoteVerifier::parse(EXAMPLE_VKEY) {
            v.push(x);
        }
        let origin = hfx_tlog::origin(hfx_fuzz::ZONE, hfx_fuzz::CENTRE);
        if let Ok(x) = NoteVerifier::new(&origin, public_key(&key(CENTRE_LABEL))) {
            v.push(x);
        }
        assert_eq!(v.len(), 2, "the fixed verifiers must parse");
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let witness = public_key(&key(WITNESS_LABEL));
    let (a, b) = hfx_fuzz::split2(data, 0);
    let Ok(a) = std::str::from_utf8(a) else {
        return;
    };
    let _ = NoteVerifier::parse(a);
    let _ = parse_cosigner_key(a);
    let _ = Checkpoint::parse(a);
    if let Ok(opened) = open_note(a, verifiers()) {
        let _ = opened.to_note();
        let _ = opened.verified().count();
        let lines: Vec<&str> = opened.unverified().map(|s| s.line.as_str()).collect();
        let _ = opened.with_signature_lines(&lines);
    }
    if let Ok((cp, _)) = Checkpoint::open(a, verifiers()) {
        let _ = Checkpoint::parse(&cp.to_text());
    }
    if let Ok(line) = std::str::from_utf8(b) {
        let _ = verify_cosignature(WITNESS_NAME, &witness, a, line);
    }
});
