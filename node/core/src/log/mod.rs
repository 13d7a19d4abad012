//! The exchange log (DESIGN.md §5): every message a node sends or receives is appended, in
//! the same transaction as its business effect, to an append-only RFC 6962 Merkle log.
//!
//! An entry is the JSON [`Envelope`] (direction, peer, per-peer-per-direction sequence
//! number, message id, case id, type, time, SHA-256 of the exact wire bytes). Payloads are
//! stored beside the tree by hash, so personal data can be purged without breaking it.
//! Checkpoints are C2SP signed notes; only committed sizes are ever signed, and a new
//! checkpoint is signed only after checking it extends the last one, so a node cannot sign
//! two inconsistent checkpoints, even across a crash.
//!
//! The node keeps only the tree's right edge in memory ([`hfx_tlog::tiles::TiledTree`], a few
//! KB whatever the log's size); every full tile of the tree is stored beside the entries, in
//! the same transaction, and proofs and old roots are computed from the tiles on disk
//! (`store::log_rows`).

pub use hfx_tlog::envelope::{Envelope, RECV, SENT, origin};
pub use hfx_tlog::{merkle, note};

pub use hfx_tlog::tiles::{self, TileId, TiledTree};
use merkle::Hash;
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
    #[error("exchange log tiles: {0}")]
    Tiles(#[from] tiles::TileError),
    #[error("exchange log tile {}/{}: stored hashes do not match the entries", .0.level, .0.index)]
    TileMismatch(TileId),
    /// An entry's sequence number is not above the one before it of the same peer and
    /// direction: a number given twice.
    #[error(
        "exchange log entry {index}: sequence number {seq} does not rise above the one before it of its peer and direction"
    )]
    SeqNotRising { index: u64, seq: u64 },
    /// The writer found a (peer, direction)'s counter in the store elsewhere than where its
    /// batch began numbering: it refuses the batch rather than give a number twice.
    #[error(
        "exchange log: the sequence counter of {peer} ({dir}) is not at {from}, where this batch began numbering; refusing to give a number twice"
    )]
    SeqOutOfStep {
        peer: String,
        dir: String,
        from: u64,
    },
    /// The store's counter of a (peer, direction) is not the newest number its entries hold.
    #[error(
        "exchange log: the sequence counter of {peer} ({dir}) says {stored}, its entries {entries}"
    )]
    SeqCounter {
        peer: String,
        dir: String,
        stored: u64,
        entries: u64,
    },
}

/// One appended row, as the writer stores it.
pub struct StagedRow {
    pub envelope: Envelope,
    /// The bytes hashed into the tree (the store keeps them as the row's columns when they
    /// are their canonical encoding: `store::log_rows`).
    pub entry_bytes: Vec<u8>,
    pub leaf_hash: Hash,
    pub payload_hash: Hash,
}

/// The tree's right edge and the sequence counters.
pub struct LogState {
    tree: TiledTree,
    seqs: HashMap<(String, String), u64>,
}

/// Appends of one group commit, applied to [`LogState`] only once the commit succeeded.
pub struct Staged {
    base: u64,
    /// The committed right edge when the batch began; [`Staged::seal`] pushes the batch's
    /// leaves into it.
    tree: TiledTree,
    sealed: bool,
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

    /// Push the batch's surviving leaves into the staged tree and return the full tiles they
    /// completed, to be stored in the batch's transaction. Called once, after the last job and
    /// before the batch's rows are flushed; nothing may be appended after it.
    pub fn seal(&mut self) -> Vec<(TileId, Vec<Hash>)> {
        debug_assert!(!self.sealed, "a batch is sealed once");
        let mut tiles = Vec::new();
        if !self.sealed {
            for leaf in &self.leaves {
                tiles.extend(self.tree.push(*leaf));
            }
            self.sealed = true;
        }
        tiles
    }

    /// The newest sequence number the batch's surviving appends gave each (peer, direction)
    /// they touched.
    pub fn newest_seqs(&self) -> &HashMap<(String, String), u64> {
        &self.seqs
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
            tree: TiledTree::new(),
            seqs: HashMap::new(),
        }
    }

    /// The state a store restored from its tiles and its newest entries.
    pub fn restored(tree: TiledTree, seqs: HashMap<(String, String), u64>) -> Self {
        Self { tree, seqs }
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
    /// The committed right edge: clone it to compute proofs from the store's tiles.
    pub fn tree(&self) -> &TiledTree {
        &self.tree
    }
    pub fn seqs(&self) -> &HashMap<(String, String), u64> {
        &self.seqs
    }

    pub fn stage(&self) -> Staged {
        Staged {
            base: self.tree.size(),
            tree: self.tree.clone(),
            sealed: false,
            leaves: Vec::new(),
            seqs: HashMap::new(),
            undo: Vec::new(),
        }
    }

    /// Apply a committed batch. Its full tiles must have been taken with [`Staged::seal`] and
    /// stored in the batch's transaction.
    pub fn commit_staged(&mut self, mut s: Staged) {
        debug_assert_eq!(s.base, self.tree.size());
        if !s.sealed {
            // Only a batch without appends may skip sealing: it completes no tile.
            let tiles = s.seal();
            debug_assert!(tiles.is_empty(), "a batch's tiles were not stored");
        }
        self.tree = s.tree;
        for (k, v) in s.seqs {
            self.seqs.insert(k, v);
        }
    }

    /// Take in entries another node process appended to a shared store after ours (in index
    /// order, from our size on), checking each leaf hash against its entry. The full tiles
    /// they complete were stored by that process, in its transaction.
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
}
