//! The signed zone directory (certs directory.rs, node/core directory.rs): the file's JSON,
//! the root's signature and expiry, the node's loading with its last-good fallback and reload,
//! and the lookups peers and witnessing make in it (`lookup`, `checkpoint_verifier`). So that
//! mutated payloads get past the signature, the input is also taken as a payload and signed
//! with the fuzz zone root before verifying.
#![no_main]

use base64::Engine;
use hfx_certs::{Directory, SignedDirectory};
use hfx_fuzz::{DIRECTORY_CONTEXT, root};
use hfx_node::directory::{DirectoryInForce, checkpoint_verifier, lookup};
use libfuzzer_sys::fuzz_target;
use ring::signature::KeyPair;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn signed(payload: &str) -> SignedDirectory {
    let mut msg = DIRECTORY_CONTEXT.to_vec();
    msg.extend_from_slice(payload.as_bytes());
    SignedDirectory {
        payload: payload.to_string(),
        signature: B64.encode(root().sign(&msg)),
    }
}

/// A valid directory, version 1: the last good one the node falls back on.
fn good() -> Directory {
    Directory {
        zone: hfx_fuzz::ZONE.into(),
        version: 1,
        issued_at_unix: 0,
        expires_at_unix: i64::MAX,
        witness_quorum: 1,
        centres: vec![],
    }
}

fn exercise(dir: &Directory) {
    let _ = good().check_successor(dir);
    let _ = dir.check_successor(&good());
    for code in dir
        .centres
        .iter()
        .map(|c| c.code.as_str())
        .chain([hfx_fuzz::CENTRE, ""])
    {
        let _ = lookup(dir, code);
        let _ = checkpoint_verifier(dir, code);
    }
}

fuzz_target!(|data: &[u8]| {
    let pk = root().public_key().as_ref().to_vec();
    let now = hfx_certs::zonedir::now_unix();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = SignedDirectory::from_json(text) {
        if let Ok(d) = s.verify(&pk, now) {
            exercise(&d);
        }
        if let Ok(d) = signed(&s.payload).verify(&pk, now) {
            exercise(&d);
        }
    }
    if let Ok(d) = signed(text).verify(&pk, now) {
        exercise(&d);
    }
    // The node's loader: the input as the directory file, a valid version 1 as the last good.
    let dir = hfx_fuzz::scratch();
    let (path, last_good) = (dir.join("directory.json"), dir.join("last-good.json"));
    let Ok(g) = good().sign(|m| Ok(root().sign(m).as_ref().to_vec())) else {
        return;
    };
    if std::fs::write(&last_good, g.to_json()).is_err() || std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(in_force) = DirectoryInForce::load(path, last_good, &pk) {
        exercise(&in_force.current());
        let _ = in_force.reload(&pk);
    }
});
