//! Verify an export: every leaf and root, checkpoint signatures, cosignatures and the
//! witness quorum, per-peer sequence numbers, payload hashes.

use super::export::{entry_fields, seq_fields};
use super::{B64, Export, Problem};
use crate::merkle::{self, Hash, Tree};
use crate::note::{Checkpoint, NoteVerifier, verify_cosignature};
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

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
    pub problems: Vec<Problem>,
}

/// Verify an export: recompute every leaf and root, check the checkpoints' signatures and
/// roots (a checkpoint re-signed with another root is caught here), cosignatures, per-peer
/// per-direction sequence numbers (a dropped, reordered or inserted entry shows as a gap or
/// a repeat) and payload hashes. `trusted_vkey`: the centre's key from the directory (if
/// `None`, the export's own header key is used and the report says so).
pub fn verify(
    e: &Export,
    trusted_vkey: Option<&str>,
    quorum: u32,
    progress: &dyn Fn(u64, u64),
) -> VerifyReport {
    let mut problems = Vec::new();
    let n = e.entries.len() as u64;
    let mut tree = Tree::new();
    // (peer, direction) -> last sequence number; few distinct keys, so a linear scan beats
    // hashing, and only the three fields the check needs are located.
    let mut seqs: Vec<((&str, &str), u64)> = Vec::new();
    let t_entries = std::time::Instant::now();
    for (i, line) in e.entries.iter().enumerate() {
        let i = i as u64;
        tree.push(merkle::leaf_hash(line));
        match seq_fields(line) {
            None => problems.push(Problem {
                kind: "malformed_entry".into(),
                at: Some(i),
                detail: "entry is not an hfx envelope".into(),
            }),
            Some(f) => {
                let slot = match seqs.iter().position(|(k, _)| *k == (f.peer, f.dir)) {
                    Some(p) => p,
                    None => {
                        seqs.push(((f.peer, f.dir), 0));
                        seqs.len() - 1
                    }
                };
                let last = &mut seqs[slot].1;
                if f.seq != *last + 1 {
                    let kind = if f.seq <= *last {
                        "sequence_repeat"
                    } else {
                        "sequence_gap"
                    };
                    problems.push(Problem {
                        kind: kind.into(),
                        at: Some(i),
                        detail: format!(
                            "{} {} seq {} after {} (message {})",
                            f.dir,
                            f.peer,
                            f.seq,
                            last,
                            entry_fields(line).map(|x| x.message_id).unwrap_or("?")
                        ),
                    });
                }
                *last = (*last).max(f.seq);
            }
        }
        if i.is_multiple_of(262_144) {
            progress(i, n);
        }
    }
    progress(n, n);
    let entries_seconds = t_entries.elapsed().as_secs_f64();
    let vkey = trusted_vkey.unwrap_or(&e.vkey);
    if trusted_vkey.is_none() {
        problems.push(Problem {
            kind: "untrusted_key".into(),
            at: None,
            detail: "no directory given: checkpoint key taken from the export itself".into(),
        });
    } else if trusted_vkey != Some(e.vkey.as_str()) {
        problems.push(Problem {
            kind: "key_mismatch".into(),
            at: None,
            detail: "the export's key is not the directory's key for this centre".into(),
        });
    }
    let mut checkpoints_verified = 0;
    let mut cp_texts: BTreeMap<u64, String> = BTreeMap::new();
    match NoteVerifier::parse(vkey) {
        Err(err) => problems.push(Problem {
            kind: "bad_key".into(),
            at: None,
            detail: err.to_string(),
        }),
        Ok(v) => {
            let mut last_size = 0;
            for note in &e.checkpoints {
                match Checkpoint::open(note, std::slice::from_ref(&v)) {
                    Err(err) => problems.push(Problem {
                        kind: "checkpoint_signature".into(),
                        at: None,
                        detail: err.to_string(),
                    }),
                    Ok((cp, _)) => {
                        if cp.origin != e.origin {
                            problems.push(Problem {
                                kind: "checkpoint_origin".into(),
                                at: Some(cp.size),
                                detail: format!("origin {:?}", cp.origin),
                            });
                        }
                        if cp.size < last_size {
                            problems.push(Problem {
                                kind: "checkpoint_order".into(),
                                at: Some(cp.size),
                                detail: format!("after {last_size}"),
                            });
                        }
                        last_size = cp.size;
                        match tree.root_at(cp.size) {
                            None => problems.push(Problem {
                                kind: "checkpoint_beyond_entries".into(),
                                at: Some(cp.size),
                                detail: format!("only {n} entries exported"),
                            }),
                            Some(r) if r != cp.root => problems.push(Problem {
                                kind: "checkpoint_root".into(),
                                at: Some(cp.size),
                                detail: format!(
                                    "signed root {} is not the root of the exported entries {}",
                                    hex::encode(cp.root),
                                    hex::encode(r)
                                ),
                            }),
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
    let mut cosignatures_verified = 0;
    let mut witnesses_at: BTreeMap<u64, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (size, witness, key, line) in &e.cosignatures {
        let Some(text) = cp_texts.get(size) else {
            problems.push(Problem {
                kind: "cosignature_orphan".into(),
                at: Some(*size),
                detail: format!("{witness}: no verified checkpoint of that size"),
            });
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
            Some(Err(err)) => problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("{witness}: {err}"),
            }),
            None => problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("{witness}: bad key"),
            }),
        }
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
    let (mut present, mut purged) = (0, 0);
    let t_payloads = std::time::Instant::now();
    for (hash, data) in &e.payloads {
        match data {
            None => purged += 1,
            Some(d) => {
                let h: Hash = Sha256::digest(d).into();
                if &h != hash {
                    problems.push(Problem {
                        kind: "payload_hash".into(),
                        at: None,
                        detail: format!("payload {} does not hash to its name", hex::encode(hash)),
                    });
                } else {
                    present += 1;
                }
            }
        }
    }
    let payloads_seconds = t_payloads.elapsed().as_secs_f64();
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
