//! Verify an export: every leaf and root, checkpoint signatures, cosignatures and the
//! witness quorum, per-peer sequence numbers, payload hashes.

use super::export::{SeqFields, entry_fields, seq_fields};
use super::verify_cause;
use super::verify_read::{Lines, ReadExport};
use super::{B64, Export, Problem};
use crate::merkle::{self, Hash, Tree};
use crate::note::{Checkpoint, NoteVerifier, verify_cosignature};
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub centre: String,
    pub entries: u64,
    pub root: String,
    pub checkpoints_verified: u64,
    pub cosignatures_verified: u64,
    pub witnessed_size: u64,
    pub payloads_present: u64,
    pub payloads_purged: u64,
    /// Time spent on the entries (leaf hashes, tree, sequence numbers) and on payload hashes.
    pub entries_seconds: f64,
    pub payloads_seconds: f64,
    /// Whether the checkpoint key came from the caller (the directory); `false`: it was taken
    /// from the export itself, so the result proves only the export's internal consistency.
    pub key_trusted: bool,
    /// Disclosure records matching their commitment entries, and records written before
    /// the commitment began (schema 3; accepted, reported).
    pub disclosures_committed: u64,
    pub disclosures_uncommitted: u64,
    pub problems: Vec<Problem>,
}

/// Verify an export: recompute every leaf and root, check the checkpoints' signatures and
/// roots (a checkpoint re-signed with another root is caught here), cosignatures, per-peer
/// per-direction sequence numbers (a dropped, reordered or inserted entry shows as a gap or
/// a repeat) and payload hashes. `trusted_vkey`: the centre's key from the directory (if
/// `None`, the export's own header key is used and `key_trusted` is false: the result then
/// proves only that the export is consistent with itself).
pub fn verify(
    e: &Export,
    trusted_vkey: Option<&str>,
    quorum: u32,
    progress: &dyn Fn(u64, u64),
) -> VerifyReport {
    verify_at(e, &Lines::of(e), &[], trusted_vkey, quorum, progress)
}

/// [`verify`] an export read with [`super::read_for_verify`]: its unreadable lines are
/// findings too, and every finding names its file line.
pub fn verify_read(
    r: &ReadExport,
    trusted_vkey: Option<&str>,
    quorum: u32,
    progress: &dyn Fn(u64, u64),
) -> VerifyReport {
    verify_at(
        &r.export,
        &r.lines,
        &r.findings,
        trusted_vkey,
        quorum,
        progress,
    )
}

/// The size a checkpoint note claims (its second line), read without checking anything.
fn claimed_size(note: &str) -> Option<u64> {
    note.split('\n').nth(1)?.parse().ok()
}

/// Findings come out in this order: what could not be read, the key, the root causes in the
/// entries, the entries' own findings, the checkpoints, the cosignatures (consequences
/// summarised), the payloads, the disclosures.
fn verify_at(
    e: &Export,
    lines: &Lines,
    read_findings: &[Problem],
    trusted_vkey: Option<&str>,
    quorum: u32,
    progress: &dyn Fn(u64, u64),
) -> VerifyReport {
    let n = e.entries.len() as u64;
    let t_entries = std::time::Instant::now();
    let mut pass = EntryPass::default();
    for (i, line) in e.entries.iter().enumerate() {
        let i = i as u64;
        pass.push(i, line, lines);
        if i.is_multiple_of(262_144) {
            progress(i, n);
        }
    }
    progress(n, n);
    let entries_seconds = t_entries.elapsed().as_secs_f64();
    verify_rest(
        e,
        pass,
        n,
        entries_seconds,
        lines,
        read_findings,
        trusted_vkey,
        quorum,
    )
}

/// The entry pass: every leaf into the tree, and the per-peer, per-direction sequence
/// numbers checked as the entries go by.
#[derive(Default)]
pub(super) struct EntryPass {
    pub(super) tree: Tree,
    /// (peer, direction, last sequence number); few distinct keys, so a linear scan beats
    /// hashing, and only the three fields the check needs are located.
    seqs: Vec<(String, String, u64)>,
    pub(super) problems: Vec<Problem>,
}

impl EntryPass {
    /// Entry `i`: its leaf into the tree, then [`Self::check`].
    pub(super) fn push<'l>(
        &mut self,
        i: u64,
        line: &'l [u8],
        lines: &Lines,
    ) -> Option<SeqFields<'l>> {
        self.tree.push(merkle::leaf_hash(line));
        self.check(i, line, lines)
    }

    /// Entry `i`'s sequence number against the last of its peer and direction; its fields
    /// (`None`: not an hfx envelope, a finding).
    pub(super) fn check<'l>(
        &mut self,
        i: u64,
        line: &'l [u8],
        lines: &Lines,
    ) -> Option<SeqFields<'l>> {
        let Some(f) = seq_fields(line) else {
            self.problems.push(Problem {
                kind: "malformed_entry".into(),
                at: Some(i),
                detail: format!("entry {i} (line {}): not an hfx envelope", lines.entry(i)),
            });
            return None;
        };
        let slot = match self
            .seqs
            .iter()
            .position(|(p, d, _)| p == f.peer && d == f.dir)
        {
            Some(p) => p,
            None => {
                self.seqs.push((f.peer.to_string(), f.dir.to_string(), 0));
                self.seqs.len() - 1
            }
        };
        let last = &mut self.seqs[slot].2;
        // (After u64::MAX nothing follows: a repeat, not an overflow.)
        if last.checked_add(1) != Some(f.seq) {
            let kind = if f.seq <= *last {
                "sequence_repeat"
            } else {
                "sequence_gap"
            };
            self.problems.push(Problem {
                kind: kind.into(),
                at: Some(i),
                detail: format!(
                    "{} {} seq {} after {} (message {}), entry {i} (line {})",
                    f.dir,
                    f.peer,
                    f.seq,
                    last,
                    entry_fields(line).map(|x| x.message_id).unwrap_or("?"),
                    lines.entry(i)
                ),
            });
        }
        *last = (*last).max(f.seq);
        Some(f)
    }
}

/// Everything after the entry pass (`n` entries, `entries_seconds` spent on them):
/// checkpoints, cosignatures, root causes, payloads, disclosures.
#[allow(clippy::too_many_arguments)]
pub(super) fn verify_rest(
    e: &Export,
    pass: EntryPass,
    n: u64,
    entries_seconds: f64,
    lines: &Lines,
    read_findings: &[Problem],
    trusted_vkey: Option<&str>,
    quorum: u32,
) -> VerifyReport {
    let EntryPass {
        tree,
        problems: entry_problems,
        ..
    } = pass;
    let key_trusted = trusted_vkey.is_some();
    let vkey = trusted_vkey.unwrap_or(&e.vkey);
    let mut key_problems = Vec::new();
    if trusted_vkey.is_some_and(|k| k != e.vkey) {
        key_problems.push(Problem {
            kind: "key_mismatch".into(),
            at: None,
            detail:
                "header line 4 (vkey): the export's key is not the directory's key for this centre"
                    .into(),
        });
    }
    let cp_line = |j: usize| lines.checkpoints.get(j).copied().unwrap_or(0);
    let mut checkpoints_verified = 0;
    let mut cp_texts: BTreeMap<u64, String> = BTreeMap::new();
    // Checkpoints that failed, by (claimed) size: what the cosignatures over them depend on.
    let mut failed_sizes: BTreeSet<u64> = BTreeSet::new();
    let mut cp_problems = Vec::new();
    // (index, size, line, the problem) of each checkpoint whose signed root differs.
    let mut bad_roots: Vec<(u64, Problem)> = Vec::new();
    // (line, claimed size, error) of each checkpoint whose signature does not verify.
    let mut bad_sigs: Vec<(u64, Option<u64>, String)> = Vec::new();
    match NoteVerifier::parse(vkey) {
        Err(err) => {
            key_problems.push(Problem {
                kind: "bad_key".into(),
                at: None,
                detail: format!(
                    "{}: {err}; none of the {} checkpoints could be checked",
                    if key_trusted {
                        "the directory's key"
                    } else {
                        "header line 4 (vkey)"
                    },
                    e.checkpoints.len()
                ),
            });
            failed_sizes.extend(e.checkpoints.iter().filter_map(|c| claimed_size(c)));
        }
        Ok(v) => {
            let mut last_size = 0;
            for (j, note) in e.checkpoints.iter().enumerate() {
                let line = cp_line(j);
                match Checkpoint::open(note, std::slice::from_ref(&v)) {
                    Err(err) => {
                        let size = claimed_size(note);
                        failed_sizes.extend(size);
                        bad_sigs.push((line, size, err.to_string()));
                    }
                    Ok((cp, _)) => {
                        let at = format!("checkpoint at size {} (line {line})", cp.size);
                        if cp.origin != e.origin {
                            cp_problems.push(Problem {
                                kind: "checkpoint_origin".into(),
                                at: Some(cp.size),
                                detail: format!("{at}: origin {:?}", cp.origin),
                            });
                        }
                        if cp.size < last_size {
                            cp_problems.push(Problem {
                                kind: "checkpoint_order".into(),
                                at: Some(cp.size),
                                detail: format!("{at}: after {last_size}"),
                            });
                        }
                        last_size = cp.size;
                        match tree.root_at(cp.size) {
                            None => {
                                failed_sizes.insert(cp.size);
                                cp_problems.push(Problem {
                                    kind: "checkpoint_beyond_entries".into(),
                                    at: Some(cp.size),
                                    detail: format!("{at}: only {n} entries exported"),
                                })
                            }
                            Some(r) if r != cp.root => {
                                failed_sizes.insert(cp.size);
                                bad_roots.push((
                                    line,
                                    Problem {
                                        kind: "checkpoint_root".into(),
                                        at: Some(cp.size),
                                        detail: format!(
                                            "{at}: signed root {} is not the root of the exported entries {}",
                                            hex::encode(cp.root),
                                            hex::encode(r)
                                        ),
                                    },
                                ))
                            }
                            Some(_) => {
                                checkpoints_verified += 1;
                                cp_texts.insert(cp.size, cp.to_text());
                            }
                        }
                    }
                }
            }
        }
    }
    // Bad signatures: under a wrong key every one fails, so that is one finding.
    if !key_problems.is_empty() && bad_sigs.len() > 1 {
        let ls: Vec<u64> = bad_sigs.iter().map(|b| b.0).collect();
        cp_problems.push(Problem {
            kind: "checkpoint_signature".into(),
            at: bad_sigs.iter().find_map(|b| b.1),
            detail: format!(
                "{} checkpoints (lines {}) do not verify under the key given: see above",
                bad_sigs.len(),
                verify_cause::list(&ls, 8)
            ),
        });
    } else {
        for (line, size, err) in &bad_sigs {
            cp_problems.push(Problem {
                kind: "checkpoint_signature".into(),
                at: *size,
                detail: format!(
                    "checkpoint on line {line}{}: {err}",
                    size.map(|s| format!(" (claims size {s})"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    // Root causes: the entries between the last checkpoint that verifies and the first one
    // after it whose root differs; the checkpoints after that fail as a consequence.
    let good = cp_texts.keys().next_back().copied().unwrap_or(0);
    let mut causes = Vec::new();
    let mut root_problems = Vec::new();
    let mut later: Vec<(u64, u64)> = Vec::new();
    let mut first_after: Option<(u64, u64)> = None;
    for (line, p) in bad_roots {
        let size = p.at.unwrap_or(0);
        if size <= good {
            let mut p = p;
            p.detail.push_str(&format!(
                "; the checkpoint at size {good} verifies, so the entries are the log's and this checkpoint was signed over another log"
            ));
            root_problems.push(p);
        } else if first_after.is_none() {
            first_after = Some((size, line));
            root_problems.push(p);
        } else {
            later.push((size, line));
        }
    }
    if let Some((bad, bad_line)) = first_after {
        let by_index: BTreeMap<u64, String> = entry_problems
            .iter()
            .filter_map(|p| p.at.map(|i| (i, format!("{}: {}", p.kind, p.detail))))
            .collect();
        causes = verify_cause::explain(e, lines, good, bad, bad_line, &by_index);
        if !later.is_empty() {
            let sizes: Vec<u64> = later.iter().map(|l| l.0).collect();
            let ls: Vec<u64> = later.iter().map(|l| l.1).collect();
            root_problems.push(Problem {
                kind: "checkpoint_root".into(),
                at: Some(later[0].0),
                detail: format!(
                    "{} later checkpoints (sizes {}; lines {}) fail for the same reason: they cover the changed entries above",
                    later.len(),
                    verify_cause::list(&sizes, 8),
                    verify_cause::list(&ls, 8)
                ),
            });
        }
    }
    let mut cosignatures_verified = 0;
    let mut witnesses_at: BTreeMap<u64, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut cs_problems = Vec::new();
    // Cosignatures over checkpoints that failed above: (size, line), summarised.
    let mut over_failed: Vec<(u64, u64)> = Vec::new();
    // Cosignatures naming a size with no checkpoint at all, by size: (witness, line).
    let mut orphans: BTreeMap<u64, Vec<(String, u64)>> = BTreeMap::new();
    for (j, (size, witness, key, line)) in e.cosignatures.iter().enumerate() {
        let at_line = lines.cosignatures.get(j).copied().unwrap_or(0);
        let Some(text) = cp_texts.get(size) else {
            if failed_sizes.contains(size) {
                over_failed.push((*size, at_line));
            } else {
                orphans
                    .entry(*size)
                    .or_default()
                    .push((witness.clone(), at_line));
            }
            continue;
        };
        let pk = B64
            .decode(key)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok());
        match pk.map(|pk| verify_cosignature(witness, &pk, text, line)) {
            Some(Ok(_)) => {
                cosignatures_verified += 1;
                witnesses_at
                    .entry(*size)
                    .or_default()
                    .insert(witness.clone());
            }
            Some(Err(err)) => cs_problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("cosignature on line {at_line} at size {size}, {witness}: {err}"),
            }),
            None => cs_problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("cosignature on line {at_line} at size {size}, {witness}: bad key"),
            }),
        }
    }
    if !over_failed.is_empty() {
        let sizes: BTreeSet<u64> = over_failed.iter().map(|c| c.0).collect();
        let sizes: Vec<u64> = sizes.into_iter().collect();
        cs_problems.insert(
            0,
            Problem {
                kind: "cosignatures_unverified".into(),
                at: sizes.first().copied(),
                detail: format!(
                    "{} cosignatures (lines {}–{}) over the {} checkpoints that failed above (sizes {}) no longer verify",
                    over_failed.len(),
                    over_failed[0].1,
                    over_failed[over_failed.len() - 1].1,
                    sizes.len(),
                    verify_cause::list(&sizes, 8)
                ),
            },
        );
    }
    let unreadable_cps = read_findings
        .iter()
        .filter(|p| p.kind == "checkpoint_unreadable")
        .count();
    for (size, ws) in &orphans {
        let names: Vec<&str> = ws.iter().map(|w| w.0.as_str()).collect();
        let ls: Vec<u64> = ws.iter().map(|w| w.1).collect();
        cs_problems.push(Problem {
            kind: "cosignature_orphan".into(),
            at: Some(*size),
            detail: format!(
                "{} cosignature(s) at size {size} (lines {}; {}): no checkpoint of that size in the export{}",
                ws.len(),
                verify_cause::list(&ls, 8),
                verify_cause::list(&names, 4),
                if unreadable_cps > 0 {
                    " (perhaps the unreadable checkpoint above)"
                } else {
                    ""
                }
            ),
        });
    }
    let mut witnessed_size = 0;
    for size in witnesses_at.keys() {
        let distinct: std::collections::BTreeSet<&String> = witnesses_at
            .range(size..)
            .flat_map(|(_, w)| w.iter())
            .collect();
        if distinct.len() as u32 >= quorum.max(1) {
            witnessed_size = *size;
        }
    }
    let mut problems: Vec<Problem> = read_findings.to_vec();
    problems.extend(key_problems);
    problems.extend(causes);
    problems.extend(entry_problems);
    problems.extend(root_problems);
    problems.extend(cp_problems);
    problems.extend(cs_problems);
    let (mut present, mut purged) = (0, 0);
    let t_payloads = std::time::Instant::now();
    let mut bad_payloads: Vec<&Hash> = Vec::new();
    for (hash, data) in &e.payloads {
        match data {
            None => purged += 1,
            Some(d) => {
                let h: Hash = Sha256::digest(d).into();
                if &h != hash {
                    bad_payloads.push(hash);
                } else {
                    present += 1;
                }
            }
        }
    }
    if !bad_payloads.is_empty() {
        // Name each by the first entry that refers to it (one pass over the entries).
        bad_payloads.sort();
        let names: BTreeMap<String, &Hash> =
            bad_payloads.iter().map(|h| (hex::encode(h), *h)).collect();
        let mut user: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, l) in e.entries.iter().enumerate() {
            if let Some(f) = entry_fields(l)
                && let Some((name, _)) = names.get_key_value(f.payload_sha256)
            {
                user.entry(name.as_str()).or_insert(i as u64);
            }
        }
        for (name, hash) in &names {
            let by = user.get(name.as_str()).copied();
            problems.push(Problem {
                kind: "payload_hash".into(),
                at: by,
                detail: format!(
                    "payload {name}{}{} does not hash to its name",
                    lines
                        .payloads
                        .get(*hash)
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default(),
                    by.map(|i| format!(", the payload of entry {i}"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    let payloads_seconds = t_payloads.elapsed().as_secs_f64();
    let disclosures = super::disclosures::check_disclosures(e);
    problems.extend(disclosures.problems);
    VerifyReport {
        centre: e.centre.clone(),
        entries: n,
        root: hex::encode(tree.root()),
        checkpoints_verified,
        cosignatures_verified,
        witnessed_size,
        payloads_present: present,
        payloads_purged: purged,
        entries_seconds,
        payloads_seconds,
        key_trusted,
        disclosures_committed: disclosures.committed,
        disclosures_uncommitted: disclosures.uncommitted_before_schema,
        problems,
    }
}

/// Build an in-memory export of `n` entries (four peers, both directions, one signed
/// checkpoint) and run the full verifier over it; returns the entries verified and the time
/// spent on them (leaf hashes, the tree with every level, sequence checks; no payloads).
pub fn bench_verify(n: u64) -> anyhow::Result<(u64, std::time::Duration)> {
    use crate::note::NoteSigner;
    use crate::{Envelope, RECV, SENT};
    let signer = NoteSigner::from_pkcs8(
        "bench.hfx/320300000000000",
        &NoteSigner::generate_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let peers = [
        "320700000000000",
        "321300000000000",
        "340600000000000",
        "341300000000000",
    ];
    let mut seqs: HashMap<(usize, bool), u64> = HashMap::new();
    let mut tree = Tree::new();
    let mut entries = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (p, sent) = ((i % 4) as usize, (i / 4) % 2 == 0);
        let mut e = Envelope::draft(
            if sent { SENT } else { RECV },
            peers[p],
            &uuid::Uuid::from_u128(i as u128).hyphenated().to_string(),
            "",
            "MemberExchange/QueryMember#request",
            &i.to_le_bytes(),
        );
        let s = seqs.entry((p, sent)).or_insert(0);
        *s += 1;
        e.seq = *s;
        let b = e.entry_bytes();
        tree.push(merkle::leaf_hash(&b));
        entries.push(b);
    }
    let note = Checkpoint::new(signer.name(), n, tree.root())
        .sign(&[&signer])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(tree);
    let e = Export {
        centre: "320300000000000".into(),
        origin: signer.name().into(),
        vkey: signer.verifier_key(),
        entries,
        checkpoints: vec![note],
        cosignatures: vec![],
        disclosures: vec![],
        payloads: HashMap::new(),
    };
    let rep = verify(&e, Some(&signer.verifier_key()), 1, &|_, _| {});
    anyhow::ensure!(
        rep.problems.is_empty() && rep.checkpoints_verified == 1,
        "bench export did not verify: {:?}",
        rep.problems
    );
    Ok((
        rep.entries,
        std::time::Duration::from_secs_f64(rep.entries_seconds),
    ))
}
