//! Requests of the peer API (peer.proto), as another centre's node sends them: each message
//! type is decoded from the input with prost (the same bytes tonic hands the handler), then the
//! edge validation the handlers run before touching the store: the person key
//! (`member::validate_person`), the purpose, the transfer messages' bodies (`transfer::wire`),
//! a checkpoint to cosign opened against the directory's key for its centre
//! (`directory::checkpoint_verifier` + `Checkpoint::open`), the proof hashes and consistency
//! proof check, and a consistency proof between the requested sizes of a small tree.
//! The handlers themselves need a running node (store, directory, TLS peer identity), so this
//! fuzzes the decode + validate layer only.
#![no_main]

use hfx_fuzz::{CENTRE, CENTRE_LABEL, PEER, ZONE, key, public_key};
use hfx_node::{directory, member, transfer::wire};
use hfx_proto::v1 as pb;
use hfx_tlog::merkle::{self, Tree};
use hfx_tlog::note::Checkpoint;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::OnceLock;

/// The directory the witness side looks the sender's checkpoint key up in.
fn dir() -> &'static hfx_certs::Directory {
    static D: OnceLock<hfx_certs::Directory> = OnceLock::new();
    D.get_or_init(|| {
        use base64::Engine;
        let pk = public_key(&key(CENTRE_LABEL));
        hfx_certs::Directory {
            zone: ZONE.into(),
            version: 1,
            issued_at_unix: 0,
            expires_at_unix: i64::MAX,
            witness_quorum: 1,
            centres: vec![hfx_certs::CentreEntry {
                code: CENTRE.into(),
                name: "fuzz".into(),
                city: "fuzz".into(),
                province: "fuzz".into(),
                endpoint: "127.0.0.1:1".into(),
                endpoints: Vec::new(),
                tls_fingerprint: String::new(),
                signing_key: base64::engine::general_purpose::STANDARD.encode(pk),
                core_system: "sqlite".into(),
            }],
        }
    })
}

/// A small log: the tree the consistency proofs are asked of.
fn tree() -> &'static Tree {
    static T: OnceLock<Tree> = OnceLock::new();
    T.get_or_init(|| Tree::from_leaves((0u8..37).map(|i| merkle::leaf_hash(&[i]))))
}

fn header(h: Option<&pb::RequestHeader>) {
    if let Some(h) = h {
        if let Some(p) = hfx_model::purpose::Purpose::from_i32(h.purpose) {
            let _ = member::legal_basis(p.wire);
            let _ = member::purpose_name(p.wire);
        }
    }
}

fn checkpoint(note: Vec<u8>) -> Option<Checkpoint> {
    let note = String::from_utf8(note).ok()?;
    let v = directory::checkpoint_verifier(dir(), CENTRE).ok()?;
    let (cp, _) = Checkpoint::open(&note, std::slice::from_ref(&v)).ok()?;
    (cp.origin == v.name()).then_some(cp)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = pb::PeerMemberQuery::decode(data) {
        header(r.header.as_ref());
        if let Ok(p) = member::validate_person(r.person.as_ref()) {
            let _ = p.masked();
        }
        let _ = r.encode_to_vec();
    }
    if let Ok(r) = pb::PeerLoanCheck::decode(data) {
        header(r.header.as_ref());
        let _ = member::validate_person(r.person.as_ref());
    }
    if let Ok(r) = pb::ContactLetter::decode(data) {
        header(r.header.as_ref());
        let _ = wire::letter_from(&r, CENTRE, PEER);
        let _ = wire::letter_from(&r, &r.origin_centre, &r.destination_centre);
    }
    if let Ok(r) = pb::CaseMessage::decode(data) {
        header(r.header.as_ref());
    }
    if let Ok(r) = pb::TransferOut::decode(data) {
        let _ = wire::record_from(&r);
    }
    if let Ok(r) = pb::Refusal::decode(data) {
        let _ = wire::refusal_from(&r);
    }
    if let Ok(r) = pb::PaymentNotice::decode(data) {
        let _ = wire::payment_from(&r);
    }
    if let Ok(r) = pb::Completion::decode(data) {
        let _ = wire::completion_from(&r);
    }
    if let Ok(r) = pb::CertificateRequest::decode(data) {
        header(r.header.as_ref());
        let _ = member::validate_person(r.person.as_ref());
    }
    if let Ok(r) = pb::CheckpointRequest::decode(data) {
        header(r.header.as_ref());
    }
    if let Ok(r) = pb::ConsistencyRequest::decode(data) {
        let _ = tree().consistency_proof(r.old_size, r.new_size);
    }
    if let Ok(r) = pb::CosignRequest::decode(data) {
        let proof: Result<Vec<merkle::Hash>, _> =
            r.proof.iter().map(|h| merkle::hash_from_slice(h)).collect();
        if let (Some(cp), Ok(proof)) = (checkpoint(r.note), proof) {
            let old = tree()
                .root_at(r.old_size.min(tree().size()))
                .unwrap_or(tree().root());
            let _ = merkle::verify_consistency(r.old_size, cp.size, &old, &cp.root, &proof);
        }
    }
    if let Ok(r) = pb::GossipRequest::decode(data) {
        let _ = hfx_model::ids::validate_centre_code("origin_centre", &r.origin_centre);
        let _ = checkpoint(r.note);
    }
});
