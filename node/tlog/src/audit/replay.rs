//! Replay: rebuild the disclosures from the log alone and compare them with the store's.

use super::{Export, Problem, entry_fields};
use crate::merkle;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub centre: String,
    pub rebuilt: u64,
    pub store_records: u64,
    pub undecodable: u64,
    pub differences: Vec<Problem>,
}

/// Rebuild every disclosure from the log alone (request/reply pairs and their payloads) and
/// compare with what the store says happened.
pub fn replay(e: &Export) -> ReplayReport {
    use prost::Message;
    let method = crate::methods::METHOD_QUERY;
    // message id -> (dir of request, peer, request payload hash, has reply)
    let mut requests: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut replies: std::collections::BTreeSet<(String, String)> =
        std::collections::BTreeSet::new();
    for line in &e.entries {
        let Some(f) = entry_fields(line) else {
            continue;
        };
        if f.msg_type == format!("{method}#request") {
            requests.insert(
                (f.peer.to_string(), f.message_id.to_string()),
                (f.dir.to_string(), f.payload_sha256.to_string()),
            );
        } else if f.msg_type == format!("{method}#reply") {
            replies.insert((f.peer.to_string(), f.message_id.to_string()));
        }
    }
    let mut rebuilt: BTreeMap<(String, String, String), String> = BTreeMap::new();
    let mut undecodable = 0;
    for ((peer, mid), (dir, phash)) in &requests {
        let answered = replies.contains(&(peer.clone(), mid.clone()));
        let direction = match (dir.as_str(), answered) {
            ("recv", true) => "sent",
            ("recv", false) => "refused",
            _ => "received",
        };
        let purpose = hex::decode(phash)
            .ok()
            .and_then(|h| merkle::hash_from_slice(&h).ok())
            .and_then(|h| e.payloads.get(&h).cloned().flatten())
            .and_then(|p| hfx_proto::v1::PeerMemberQuery::decode(p.as_slice()).ok())
            .and_then(|q| q.header)
            .and_then(|h| hfx_proto::v1::Purpose::try_from(h.purpose).ok())
            .map(|p| hfx_model::purpose::purpose_name(p).to_string());
        let purpose = purpose.unwrap_or_else(|| {
            undecodable += 1;
            String::from("?")
        });
        rebuilt.insert((direction.to_string(), peer.clone(), mid.clone()), purpose);
    }
    let mut claimed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for d in &e.disclosures {
        claimed.insert(
            (d.direction.clone(), d.peer.clone(), d.message_id.clone()),
            d.purpose.clone(),
        );
    }
    let mut differences = Vec::new();
    for (k, purpose) in &rebuilt {
        match claimed.get(k) {
            None => differences.push(Problem {
                kind: "missing_in_store".into(),
                at: None,
                detail: format!(
                    "log shows {} {} message {} ({purpose}) but the store has no disclosure record",
                    k.0, k.1, k.2
                ),
            }),
            Some(p) if purpose != "?" && p != purpose => differences.push(Problem {
                kind: "purpose_differs".into(),
                at: None,
                detail: format!("message {}: log says {purpose}, store says {p}", k.2),
            }),
            Some(_) => {}
        }
    }
    for k in claimed.keys() {
        if !rebuilt.contains_key(k) {
            differences.push(Problem {
                kind: "missing_in_log".into(),
                at: None,
                detail: format!(
                    "store records {} {} message {} but the log does not show the exchange",
                    k.0, k.1, k.2
                ),
            });
        }
    }
    ReplayReport {
        centre: e.centre.clone(),
        rebuilt: rebuilt.len() as u64,
        store_records: claimed.len() as u64,
        undecodable,
        differences,
    }
}
