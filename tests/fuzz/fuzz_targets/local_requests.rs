//! Requests of the local API (local.proto), as a clerk, auditor or operator sends them: the
//! role table's gate on the method path (`server::local::grant`), each request type decoded
//! with prost, and the validation the handlers run first: the target centre code and person
//! key of a member query (`validate_centre_code`, `member::validate_person`), its purpose, and
//! the inclusion proof an auditor asks for, cut to the latest checkpoint as the handler does.
//! The handlers need a running node (store, directory, person certificate), so this fuzzes the
//! decode + validate layer only.
#![no_main]

use hfx_node::member;
use hfx_node::server::local::{OPEN, ROLES, grant};
use hfx_proto::v1 as pb;
use hfx_tlog::merkle::{self, Tree};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::sync::OnceLock;

fn tree() -> &'static Tree {
    static T: OnceLock<Tree> = OnceLock::new();
    T.get_or_init(|| Tree::from_leaves((0u8..37).map(|i| merkle::leaf_hash(&[i]))))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = std::str::from_utf8(data) {
        if let Some(g) = grant(path) {
            assert!(ROLES.iter().any(|(m, _)| *m == g.method));
        }
        let _ = OPEN.contains(&path);
    }
    if let Ok(r) = pb::LocalMemberQuery::decode(data) {
        let _ = hfx_model::ids::validate_centre_code("centre", &r.centre);
        if let Ok(p) = member::validate_person(r.person.as_ref()) {
            let _ = p.masked();
        }
        let _ = hfx_model::purpose::Purpose::from_i32(r.purpose);
    }
    if let Ok(r) = pb::LocalLoanCheck::decode(data) {
        let _ = member::validate_person(r.person.as_ref());
        for c in &r.centres {
            let _ = hfx_model::ids::validate_centre_code("centres", c);
        }
    }
    if let Ok(r) = pb::StartTransferRequest::decode(data) {
        let _ = hfx_model::ids::validate_centre_code("origin_centre", &r.origin_centre);
        let _ = member::validate_person(r.person.as_ref());
    }
    if let Ok(r) = pb::LocalCertificateRequest::decode(data) {
        let _ = r.encoded_len();
    }
    if let Ok(r) = pb::GetTransferRequest::decode(data) {
        let _ = r.case_id.len();
    }
    if let Ok(r) = pb::InclusionRequest::decode(data) {
        // Audit/ProveInclusion: a tree size of 0 means the latest checkpoint's.
        let size = tree().size();
        let size = if r.tree_size == 0 {
            size
        } else {
            r.tree_size.min(size)
        };
        if let Ok(proof) = tree().inclusion_proof(r.index, size) {
            if let (Some(leaf), Some(root)) = (tree().leaf(r.index), tree().root_at(size)) {
                assert!(merkle::verify_inclusion(&leaf, r.index, size, &proof, &root).is_ok());
            }
        }
    }
    if let Ok(r) = pb::EvidenceQuery::decode(data) {
        let _ = r.limit.clamp(1, 1000);
    }
    if let Ok(r) = pb::DisclosureQuery::decode(data) {
        let _ = r.limit.clamp(1, 10_000);
    }
    let _ = pb::ExportRequest::decode(data);
    let _ = pb::StatusRequest::decode(data);
    let _ = pb::ReloadRequest::decode(data);
});
