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
use std::collections::HashMap;

/// What a job's log appends were assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub index: u64,
    pub seq: u64,
}

/// One stored entry, as the store reads it back to rebuild the tree.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub index: u64,
    pub peer: String,
    pub dir: String,
    pub seq: u64,
    pub leaf_hash: Vec<u8>,
    pub entry: Vec<u8>,
}

/// Why a stored log cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("exchange log has a gap: expected index {expected}, found {found}")]
    Gap { expected: u64, found: u64 },
    #[error("exchange log entry {0}: stored leaf hash does not match the entry")]
    LeafMismatch(u64),
    #[error("stored log does not extend the last signed checkpoint (size {0}): refusing to run")]
    NotExtendingCheckpoint(u64),
}

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
    ) -> (Appended, StagedRow) {
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
            Appended { index, seq },
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

    /// Take in entries another node process appended to a shared store after ours (in index
    /// order, from our size on), with [`LogState::rebuild`]'s checks.
    pub fn absorb(
        &mut self,
        entries: impl IntoIterator<Item = StoredEntry>,
    ) -> Result<(), LoadError> {
        for row in entries {
            if row.index != self.tree.size() {
                return Err(LoadError::Gap {
                    expected: self.tree.size(),
                    found: row.index,
                });
            }
            let leaf = merkle::leaf_hash(&row.entry);
            if row.leaf_hash.as_slice() != leaf.as_slice() {
                return Err(LoadError::LeafMismatch(row.index));
            }
            self.tree.push(leaf);
            let e = self.seqs.entry((row.peer, row.dir)).or_insert(0);
            *e = (*e).max(row.seq);
        }
        Ok(())
    }

    /// Rebuild the tree from the stored entries (in index order) and check it extends the
    /// newest signed checkpoint `(size, root)`; refuses a gap in indexes or a leaf hash that
    /// does not match its entry.
    pub fn rebuild(
        entries: impl IntoIterator<Item = StoredEntry>,
        last_checkpoint: Option<(u64, Vec<u8>)>,
    ) -> Result<Self, LoadError> {
        let mut tree = Tree::new();
        let mut seqs: HashMap<(String, String), u64> = HashMap::new();
        for row in entries {
            if row.index != tree.size() {
                return Err(LoadError::Gap {
                    expected: tree.size(),
                    found: row.index,
                });
            }
            let leaf = merkle::leaf_hash(&row.entry);
            if row.leaf_hash.as_slice() != leaf.as_slice() {
                return Err(LoadError::LeafMismatch(row.index));
            }
            tree.push(leaf);
            let e = seqs.entry((row.peer, row.dir)).or_insert(0);
            *e = (*e).max(row.seq);
        }
        // The newest signed checkpoint must be a prefix of what we hold.
        if let Some((size, root)) = last_checkpoint {
            match tree.root_at(size) {
                Some(r) if r.as_slice() == root.as_slice() => {}
                _ => return Err(LoadError::NotExtendingCheckpoint(size)),
            }
        }
        Ok(Self { tree, seqs })
    }
}
