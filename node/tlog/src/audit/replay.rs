//! Replay: rebuild the disclosures from the log alone and compare them with the store's:
//! from the exchanges (direction, peer, message, purpose) and, for every record committed
//! to the log, field by field from its commitment entry.

use super::disclosures::{commitment_entries, late_uncommitted};
use super::export::DISCLOSURE_COMMIT_SCHEMA;
use super::{DisclosureRecord, Export, Problem, entry_fields};
use crate::merkle;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The header of any request of [`crate::methods::DISCLOSING_EXCHANGES`] (field 1 of each;
/// the rest of the message is skipped).
#[derive(Clone, PartialEq, prost::Message)]
struct HeaderOnly {
    #[prost(message, optional, tag = "1")]
    header: Option<hfx_proto::v1::RequestHeader>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub centre: String,
    pub rebuilt: u64,
    pub store_records: u64,
    pub undecodable: u64,
    /// Store records compared field by field with their commitment entry's payload.
    pub compared: u64,
    /// Committed records whose commitment payload is purged: only its hash was compared.
    pub commitments_purged: u64,
    /// Store records written before schema 3, which the log does not commit to.
    pub uncommitted_before_schema: u64,
    pub differences: Vec<Problem>,
}

/// Rebuild every disclosure from the log alone (request/reply pairs and their payloads) and
/// compare with what the store says happened.
pub fn replay(e: &Export) -> ReplayReport {
    use prost::Message;
    // (peer, message id) -> (dir of request, request payload hash); and which have a reply.
    let mut requests: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut replies: std::collections::BTreeSet<(String, String)> =
        std::collections::BTreeSet::new();
    for line in &e.entries {
        let Some(f) = entry_fields(line) else {
            continue;
        };
        let Some((method, part)) = f.msg_type.rsplit_once('#') else {
            continue;
        };
        if !crate::methods::DISCLOSING_EXCHANGES.contains(&method) {
            continue;
        }
        if part == "request" {
            requests.insert(
                (f.peer.to_string(), f.message_id.to_string()),
                (f.dir.to_string(), f.payload_sha256.to_string()),
            );
        } else if part == "reply" {
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
            .and_then(|p| HeaderOnly::decode(p.as_slice()).ok())
            .and_then(|q| q.header)
            .and_then(|h| hfx_proto::v1::Purpose::try_from(h.purpose).ok())
            .map(|p| hfx_model::purpose::purpose_name(p).to_string());
        let purpose = purpose.unwrap_or_else(|| {
            undecodable += 1;
            String::from("?")
        });
        rebuilt.insert((direction.to_string(), peer.clone(), mid.clone()), purpose);
    }
    // Transfer messages that carry personal data (the contact letter, the transfer-out
    // record with its history): a disclosure on each side, sent by the side that logged the
    // request as sent, received by the other.
    for line in &e.entries {
        let Some(f) = entry_fields(line) else {
            continue;
        };
        let letter = f.msg_type == format!("{}#request", crate::methods::METHOD_LETTER);
        let record = f.msg_type == format!("{}#request", crate::methods::METHOD_TRANSFER_OUT);
        if !letter && !record {
            continue;
        }
        let direction = if f.dir == "sent" { "sent" } else { "received" };
        let header = hex::decode(f.payload_sha256)
            .ok()
            .and_then(|h| merkle::hash_from_slice(&h).ok())
            .and_then(|h| e.payloads.get(&h).cloned().flatten())
            .and_then(|p| {
                if letter {
                    hfx_proto::v1::ContactLetter::decode(p.as_slice())
                        .ok()?
                        .header
                } else {
                    hfx_proto::v1::TransferOut::decode(p.as_slice())
                        .ok()?
                        .header
                }
            });
        let purpose = header
            .and_then(|h| hfx_proto::v1::Purpose::try_from(h.purpose).ok())
            .map(|p| hfx_model::purpose::purpose_name(p).to_string())
            .unwrap_or_else(|| {
                undecodable += 1;
                String::from("?")
            });
        rebuilt.insert(
            (
                direction.to_string(),
                f.peer.to_string(),
                f.message_id.to_string(),
            ),
            purpose,
        );
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
    let fields = compare_fields(e, &mut differences);
    ReplayReport {
        centre: e.centre.clone(),
        rebuilt: rebuilt.len() as u64,
        store_records: claimed.len() as u64,
        undecodable,
        compared: fields.compared,
        commitments_purged: fields.purged,
        uncommitted_before_schema: fields.legacy,
        differences,
    }
}

struct FieldCounts {
    compared: u64,
    purged: u64,
    legacy: u64,
}

fn differs(kind: &str, at: Option<u64>, detail: String) -> Problem {
    Problem {
        kind: kind.into(),
        at,
        detail,
    }
}

/// Every store record against the record its commitment entry holds, field by field
/// (by hash alone when the commitment's payload is purged); every commitment entry
/// against a store record.
fn compare_fields(e: &Export, differences: &mut Vec<Problem>) -> FieldCounts {
    let commits = commitment_entries(e);
    let (legacy, late) = late_uncommitted(&e.disclosures);
    let mut counts = FieldCounts {
        compared: 0,
        purged: 0,
        legacy,
    };
    for k in late {
        differences.push(differs(
            "uncommitted",
            None,
            format!(
                "{}: the log holds no commitment to it, though it was written after schema {DISCLOSURE_COMMIT_SCHEMA}",
                e.disclosures[k].name(k)
            ),
        ));
    }
    let mut claimed = BTreeSet::new();
    for (k, d) in e.disclosures.iter().enumerate() {
        let Some(ci) = d.commit_index else { continue };
        claimed.insert(ci);
        let Some((_, _, hash)) = commits.get(&ci) else {
            differences.push(differs(
                "commitment_missing",
                Some(ci),
                format!(
                    "{}: the log has no disclosure commitment at index {ci}",
                    d.name(k)
                ),
            ));
            continue;
        };
        let payload = hex::decode(hash)
            .ok()
            .and_then(|h| merkle::hash_from_slice(&h).ok())
            .and_then(|h| {
                let p = e.payloads.get(&h).cloned().flatten()?;
                (<[u8; 32]>::from(Sha256::digest(&p)) == h).then_some(p)
            });
        match payload.as_deref().map(DisclosureRecord::from_canonical) {
            Some(Some(logged)) => {
                counts.compared += 1;
                for ((name, in_log), (_, in_store)) in logged.fields().iter().zip(d.fields()) {
                    if *in_log != in_store {
                        differences.push(differs(
                            "field_differs",
                            Some(ci),
                            format!(
                                "{}: {name}: log entry {ci} says {in_log:?}, store says {in_store:?}",
                                d.name(k)
                            ),
                        ));
                    }
                }
            }
            found => {
                if found.is_none() {
                    counts.purged += 1;
                }
                if *hash != d.commitment_sha256() {
                    differences.push(differs(
                        "record_differs",
                        Some(ci),
                        format!(
                            "{}: does not hash to log entry {ci} (its payload is {}, so the field cannot be named)",
                            d.name(k),
                            if found.is_none() { "purged" } else { "not a canonical record" }
                        ),
                    ));
                }
            }
        }
    }
    for (ci, (peer, mid, _)) in &commits {
        if !claimed.contains(ci) {
            differences.push(differs(
                "missing_in_store",
                Some(*ci),
                format!(
                    "log entry {ci} commits to a disclosure (peer {peer}, message {mid}) the store has no record of"
                ),
            ));
        }
    }
    counts
}
