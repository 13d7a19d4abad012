//! The exchange log (DESIGN.md §5): every message a node sends or receives is appended, in
//! the same transaction as its business effect, to an append-only RFC 6962 Merkle log.
//!
//! An entry is the JSON [`Envelope`] (direction, peer, per-peer-per-direction sequence
//! number, message id, case id, type, time, SHA-256 of the exact wire bytes). Payloads are
//! stored beside the tree by hash, so personal data can be purged without breaking it.
//! Checkpoints are C2SP signed notes; only committed sizes are ever signed, and a new
//! checkpoint is signed only after checking it extends the last one, so a node cannot sign
//! two inconsistent checkpoints, even across a crash.

pub use hfx_tlog::envelope::{Envelope, RECV, SENT, origin};
pub use hfx_tlog::{merkle, note};

use merkle::{Hash, Tree};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use std::collections::HashMap;

/// One appended row, as the writer stores it.
pub struct StagedRow {
    pub envelope: Envelope,
    pub entry_bytes: Vec<u8>,
    pub leaf_hash: Hash,
    pub payload_hash: Hash,
}

/// The in-memory tree and sequence counters.
pub struct LogState {
    tree: Tree,
    seqs: HashMap<(String, String), u64>,
}

/// Appends of one group commit, applied to [`LogState`] only once the commit succeeded.
pub struct Staged {
    base: u64,
    leaves: Vec<Hash>,
    seqs: HashMap<(String, String), u64>,
    undo: Vec<((String, String), Option<u64>)>,
}

/// A point a failed job rolls back to.
pub struct Mark {
    leaves: usize,
    undo: usize,
}

impl Staged {
    pub fn mark(&self) -> Mark {
        Mark {
            leaves: self.leaves.len(),
            undo: self.undo.len(),
        }
    }

    pub fn rollback(&mut self, m: Mark) {
        self.leaves.truncate(m.leaves);
        while self.undo.len() > m.undo {
            if let Some((k, prev)) = self.undo.pop() {
                match prev {
                    Some(v) => self.seqs.insert(k, v),
                    None => self.seqs.remove(&k),
                };
            }
        }
    }

    /// Assign index and sequence number; returns what to store.
    pub fn append(
        &mut self,
        mut envelope: Envelope,
        payload: &[u8],
        base_seqs: &HashMap<(String, String), u64>,
    ) -> (crate::store::Appended, StagedRow) {
        let key = (envelope.peer.clone(), envelope.dir.clone());
        let prev_staged = self.seqs.get(&key).copied();
        let last = prev_staged
            .or_else(|| base_seqs.get(&key).copied())
            .unwrap_or(0);
        let seq = last + 1;
        self.undo.push((key.clone(), prev_staged));
        self.seqs.insert(key, seq);
        envelope.seq = seq;
        let entry_bytes = envelope.entry_bytes();
        let leaf_hash = merkle::leaf_hash(&entry_bytes);
        let index = self.base + self.leaves.len() as u64;
        self.leaves.push(leaf_hash);
        let payload_hash: Hash = Sha256::digest(payload).into();
        (
            crate::store::Appended { index, seq },
            StagedRow {
                envelope,
                entry_bytes,
                leaf_hash,
                payload_hash,
            },
        )
    }
}

impl Default for LogState {
    fn default() -> Self {
        Self::new()
    }
}

impl LogState {
    pub fn new() -> Self {
        Self {
            tree: Tree::new(),
            seqs: HashMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    pub fn tree(&self) -> &Tree {
        &self.tree
    }
    pub fn seqs(&self) -> &HashMap<(String, String), u64> {
        &self.seqs
    }

    pub fn stage(&self) -> Staged {
        Staged {
            base: self.tree.size(),
            leaves: Vec::new(),
            seqs: HashMap::new(),
            undo: Vec::new(),
        }
    }

    pub fn commit_staged(&mut self, s: Staged) {
        debug_assert_eq!(s.base, self.tree.size());
        for l in s.leaves {
            self.tree.push(l);
        }
        for (k, v) in s.seqs {
            self.seqs.insert(k, v);
        }
    }

    /// Rebuild the tree from the stored entries; refuses a gap in indexes or a leaf hash that
    /// does not match its entry.
    pub async fn load(&mut self, pool: &AnyPool) -> Result<(), String> {
        let rows = sqlx::query(
            "SELECT idx, peer, dir, seq, leaf_hash, entry FROM log_entries ORDER BY idx",
        )
        .fetch_all(pool)
        .await
        .map_err(|e| e.to_string())?;
        let mut tree = Tree::new();
        let mut seqs: HashMap<(String, String), u64> = HashMap::new();
        for row in rows {
            let idx: i64 = row.try_get("idx").map_err(|e| e.to_string())?;
            if idx as u64 != tree.size() {
                return Err(format!(
                    "exchange log has a gap: expected index {}, found {idx}",
                    tree.size()
                ));
            }
            let entry: Vec<u8> = row.try_get("entry").map_err(|e| e.to_string())?;
            let stored: Vec<u8> = row.try_get("leaf_hash").map_err(|e| e.to_string())?;
            let leaf = merkle::leaf_hash(&entry);
            if stored.as_slice() != leaf.as_slice() {
                return Err(format!(
                    "exchange log entry {idx}: stored leaf hash does not match the entry"
                ));
            }
            tree.push(leaf);
            let peer: String = row.try_get("peer").map_err(|e| e.to_string())?;
            let dir: String = row.try_get("dir").map_err(|e| e.to_string())?;
            let seq: i64 = row.try_get("seq").map_err(|e| e.to_string())?;
            let e = seqs.entry((peer, dir)).or_insert(0);
            *e = (*e).max(seq as u64);
        }
        // The newest signed checkpoint must be a prefix of what we hold.
        if let Some(row) =
            sqlx::query("SELECT size, root FROM log_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(pool)
                .await
                .map_err(|e| e.to_string())?
        {
            let size: i64 = row.try_get("size").map_err(|e| e.to_string())?;
            let root: Vec<u8> = row.try_get("root").map_err(|e| e.to_string())?;
            match tree.root_at(size as u64) {
                Some(r) if r.as_slice() == root.as_slice() => {}
                _ => {
                    return Err(format!(
                        "stored log does not extend the last signed checkpoint (size {size}): refusing to run"
                    ));
                }
            }
        }
        self.tree = tree;
        self.seqs = seqs;
        Ok(())
    }
}
