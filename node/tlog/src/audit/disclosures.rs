//! Disclosure records against the log: every record written since schema
//! [`DISCLOSURE_COMMIT_SCHEMA`] has a commitment entry (dir [`COMMIT_DIR`], type
//! [`DISCLOSURE_RECORD`]) whose payload is the record's canonical bytes, so changing any
//! field of a stored record changes the hash it must match, and deleting a record leaves
//! its commitment entry unclaimed. Used by verify (hashes only: works on purged payloads
//! too) and replay (field by field, from the committed payloads).

use super::export::{COMMIT_DIR, DISCLOSURE_COMMIT_SCHEMA, DISCLOSURE_RECORD};
use super::{DisclosureRecord, Export, Problem, entry_fields};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the disclosure check found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DisclosureCheck {
    /// Records whose commitment entry matches them.
    pub committed: u64,
    /// Records written before schema [`DISCLOSURE_COMMIT_SCHEMA`] (no commitment; accepted
    /// only ahead of every committed record).
    pub uncommitted_before_schema: u64,
    pub problems: Vec<Problem>,
}

impl DisclosureCheck {
    /// The line a report prints about disclosures.
    pub fn summary(&self) -> String {
        let mut s = format!("{} disclosure records committed to the log", self.committed);
        if self.uncommitted_before_schema > 0 {
            s.push_str(&format!(
                ", {} uncommitted (written before schema {DISCLOSURE_COMMIT_SCHEMA})",
                self.uncommitted_before_schema
            ));
        }
        s
    }
}

fn problem(kind: &str, at: Option<u64>, detail: String) -> Problem {
    Problem {
        kind: kind.into(),
        at,
        detail,
    }
}

/// The commitment entries of an export: leaf index -> (peer, message id, payload hash hex).
pub(super) fn commitment_entries(e: &Export) -> BTreeMap<u64, (&str, &str, &str)> {
    e.entries
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let f = entry_fields(l)?;
            (f.dir == COMMIT_DIR && f.msg_type == DISCLOSURE_RECORD)
                .then_some((i as u64, (f.peer, f.message_id, f.payload_sha256)))
        })
        .collect()
}

/// Which records may lack a commitment: those ahead of the first committed one (the
/// export lists records in the store's insertion order). Returns how many are accepted as
/// written before the schema, and the positions of the uncommitted ones that are not.
pub(super) fn late_uncommitted(ds: &[DisclosureRecord]) -> (u64, Vec<usize>) {
    let first = ds
        .iter()
        .position(|d| d.commit_index.is_some())
        .unwrap_or(ds.len());
    let late = ds
        .iter()
        .enumerate()
        .skip(first)
        .filter(|(_, d)| d.commit_index.is_none())
        .map(|(k, _)| k)
        .collect();
    (first as u64, late)
}

/// Check every disclosure record against the log: each committed record hashes to its
/// commitment entry's payload hash, no two records claim one entry, every commitment entry
/// is claimed, and no record written after the commitment began lacks one. Every finding
/// names the record (row id, message) and the entry index.
pub fn check_disclosures(e: &Export) -> DisclosureCheck {
    let mut out = DisclosureCheck::default();
    let commits = commitment_entries(e);
    let (legacy, late) = late_uncommitted(&e.disclosures);
    out.uncommitted_before_schema = legacy;
    for k in late {
        let d = &e.disclosures[k];
        out.problems.push(problem(
            "disclosure_uncommitted",
            None,
            format!(
                "{} has no commitment in the log, though records before it have: it was added or its commit_index removed after it was written",
                d.name(k)
            ),
        ));
    }
    let mut claimed: BTreeMap<u64, usize> = BTreeMap::new();
    for (k, d) in e.disclosures.iter().enumerate() {
        let Some(ci) = d.commit_index else { continue };
        if let Some(prev) = claimed.insert(ci, k) {
            out.problems.push(problem(
                "disclosure_commitment_shared",
                Some(ci),
                format!(
                    "{} and {} both claim the commitment entry at index {ci}",
                    e.disclosures[prev].name(prev),
                    d.name(k)
                ),
            ));
            continue;
        }
        match commits.get(&ci) {
            None => out.problems.push(problem(
                "disclosure_commitment_missing",
                Some(ci),
                format!(
                    "{}: entry {ci} is not a disclosure commitment (or is not in the export)",
                    d.name(k)
                ),
            )),
            Some((_, _, hash)) if *hash != d.commitment_sha256() => {
                out.problems.push(problem(
                    "disclosure_altered",
                    Some(ci),
                    format!(
                        "{} does not match the log entry {ci} committing to it: a field was changed after it was written",
                        d.name(k)
                    ),
                ))
            }
            Some(_) => out.committed += 1,
        }
    }
    for (ci, (peer, mid, _)) in &commits {
        if !claimed.contains_key(ci) {
            out.problems.push(problem(
                "disclosure_missing",
                Some(*ci),
                format!(
                    "entry {ci} commits to a disclosure record (peer {peer}, message {mid}) that the store no longer has"
                ),
            ));
        }
    }
    out
}
