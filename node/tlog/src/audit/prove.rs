//! Offline inclusion receipts: one entry, its proof, and the signed checkpoint it is
//! proven against.

use super::Export;
use crate::merkle::{self, Hash, Tree};
use crate::note::{Checkpoint, NoteVerifier};
use anyhow::Context;
use serde::{Deserialize, Serialize};

/// An offline receipt: one entry, its inclusion proof, and the signed checkpoint it is proven
/// against. Anyone with the centre's key can check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusionReceipt {
    pub centre: String,
    pub index: u64,
    pub tree_size: u64,
    /// The entry line, exactly as hashed.
    pub entry: String,
    pub proof: Vec<String>,
    pub checkpoint: String,
    pub vkey: String,
}

pub fn prove(e: &Export, index: u64) -> anyhow::Result<InclusionReceipt> {
    let mut tree = Tree::new();
    for line in &e.entries {
        tree.push(merkle::leaf_hash(line));
    }
    let v = NoteVerifier::parse(&e.vkey).map_err(|err| anyhow::anyhow!("{err}"))?;
    // The smallest signed checkpoint that covers the entry.
    let mut chosen = None;
    for note in &e.checkpoints {
        if let Ok((cp, _)) = Checkpoint::open(note, std::slice::from_ref(&v))
            && cp.size > index
            && tree.root_at(cp.size) == Some(cp.root)
        {
            chosen = Some((cp.size, note.clone()));
            break;
        }
    }
    let (size, note) =
        chosen.with_context(|| format!("no verified checkpoint covers entry {index} yet"))?;
    let proof = tree
        .inclusion_proof(index, size)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let entry = e
        .entries
        .get(index as usize)
        .context("index out of range")?;
    Ok(InclusionReceipt {
        centre: e.centre.clone(),
        index,
        tree_size: size,
        entry: String::from_utf8(entry.clone())?,
        proof: proof.iter().map(hex::encode).collect(),
        checkpoint: note,
        vkey: e.vkey.clone(),
    })
}

/// Check an offline receipt; returns the verified checkpoint.
pub fn check_receipt(
    r: &InclusionReceipt,
    trusted_vkey: Option<&str>,
) -> anyhow::Result<Checkpoint> {
    let v =
        NoteVerifier::parse(trusted_vkey.unwrap_or(&r.vkey)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (cp, _) =
        Checkpoint::open(&r.checkpoint, &[v]).map_err(|e| anyhow::anyhow!("checkpoint: {e}"))?;
    anyhow::ensure!(
        cp.size == r.tree_size,
        "receipt size {} is not the checkpoint's {}",
        r.tree_size,
        cp.size
    );
    let proof: Vec<Hash> = r
        .proof
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| merkle::hash_from_slice(&b).ok())
                .context("proof hash")
        })
        .collect::<Result<_, _>>()?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(r.entry.as_bytes()),
        r.index,
        r.tree_size,
        &proof,
        &cp.root,
    )
    .map_err(|e| anyhow::anyhow!("inclusion proof: {e}"))?;
    Ok(cp)
}
