//! RFC 6962 / RFC 9162 Merkle hash tree for the exchange log (DESIGN.md §5).
//!
//! Hashing: `leaf = SHA-256(0x00 ‖ entry)`, `node = SHA-256(0x01 ‖ left ‖ right)`, and the root of
//! the empty tree is `SHA-256("")`.
//!
//! [`Tree`] is an append-only in-memory tree that keeps the hash of every complete (perfect)
//! subtree, level by level. Any historical root, inclusion proof or consistency proof is then
//! assembled from O(log n) stored hashes, plus O(log n) hashing along the right border.
//!
//! [`verify_inclusion`] and [`verify_consistency`] follow the RFC 9162 §2.1.3.2 / §2.1.4.2
//! verification algorithms exactly as implemented by the `proof` package of
//! transparency-dev/merkle (the source of the shared test vectors), including its refusal of
//! consistency proofs from the empty tree.
//!
//! Note on sizes: RFC 9162 verification binds a tree size only through the *shape* of the proof,
//! so a proof may also verify for a different size that happens to have the same shape *with the
//! same root* (e.g. a consistency proof 4→8 also "verifies" as 4→7 against the root of size 8).
//! This is inherent and harmless as long as a root is only ever taken together with its size
//! from the same signed checkpoint; never mix a size and a root from different sources.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Size of a [`Hash`] in bytes.
pub const HASH_SIZE: usize = 32;

/// Errors from proof generation and verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {size} is beyond the {available} leaves held")]
    SizeOutOfRange { size: u64, available: u64 },
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    OldSizeGreater { old_size: u64, new_size: u64 },
    #[error("a consistency proof from the empty tree is meaningless")]
    EmptyOldTree,
    #[error("tree sizes are equal ({size}) but the proof has {len} hashes instead of none")]
    NonEmptyProof { size: u64, len: usize },
    #[error("empty consistency proof between different tree sizes {old_size} and {new_size}")]
    EmptyProof { old_size: u64, new_size: u64 },
    #[error("wrong proof size: got {got} hashes, want {want}")]
    WrongProofSize { got: usize, want: usize },
    #[error("hash has {len} bytes, want 32")]
    WrongHashLength { len: usize },
    #[error(
        "old root mismatch: proof gives {}, expected {}",
        hex::encode(.calculated),
        hex::encode(.expected)
    )]
    OldRootMismatch { expected: Hash, calculated: Hash },
    #[error(
        "root mismatch: proof gives {}, expected {}",
        hex::encode(.calculated),
        hex::encode(.expected)
    )]
    RootMismatch { expected: Hash, calculated: Hash },
}

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ l ‖ r)`.
#[inline]
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Converts a byte slice (e.g. decoded from an export) into a [`Hash`].
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::WrongHashLength { len: bytes.len() })
}

/// Merkle tree hash of `leaves` (already leaf-hashed), computed iteratively with a fixed stack
/// of perfect-subtree hashes: `n - 1` node hashes and no allocation.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    // stack[..depth] holds the roots of the perfect subtrees covering the leaves seen so far,
    // largest (leftmost) first: one per set bit of the count, so at most 64.
    let mut stack = [[0u8; 32]; 64];
    let mut depth = 0usize;
    for (i, leaf) in leaves.iter().enumerate() {
        let mut h = *leaf;
        // Appending leaf i completes one perfect subtree per trailing zero of i + 1.
        for _ in 0..(i as u64 + 1).trailing_zeros() {
            depth -= 1;
            h = node_hash(&stack[depth], &h);
        }
        stack[depth] = h;
        depth += 1;
    }
    fold_right(&stack[..depth])
}

/// Folds perfect-subtree roots (largest first) into the tree root: right to left.
fn fold_right(subtrees: &[Hash]) -> Hash {
    match subtrees.split_last() {
        None => empty_root(),
        Some((last, rest)) => rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
    }
}

/// Largest power of two strictly less than `n` (`n >= 2`).
#[inline]
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `x >> n`, zero when `n >= 64` (like Go's shifts).
#[inline]
fn shr(x: u64, n: usize) -> u64 {
    if n >= 64 { 0 } else { x >> n }
}

/// Append-only Merkle tree keeping the hash of every perfect subtree.
///
/// `levels[k][j]` is the hash of the perfect subtree of `2^k` leaves starting at leaf `j·2^k`;
/// `levels[0]` holds the leaf hashes. Memory: about two hashes per leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from leaf hashes.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// Appends a leaf hash and returns its index. Amortised O(1) hashes.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let row = &self.levels[level];
            let h = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Leaf hash at `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.range_hash(0, self.size())
    }

    /// Root of the tree as it was at `size` leaves (`None` if `size` is beyond the tree).
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| self.range_hash(0, size))
    }

    /// Inclusion proof (RFC 6962 §2.1.1 `PATH`) for leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        // Walk from the root down to the leaf, collecting siblings top-down.
        let mut proof = Vec::with_capacity(64 - size.leading_zeros() as usize);
        let (mut lo, mut hi) = (0u64, size);
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index < lo + k {
                proof.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                proof.push(self.range_hash(lo, lo + k));
                lo += k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// Consistency proof (RFC 6962 §2.1.2 `PROOF`) between tree sizes `old_size <= new_size`.
    /// Empty when `old_size == new_size` or `old_size == 0` (nothing to prove).
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(ProofError::OldSizeGreater { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        // SUBPROOF(m, D[lo:hi], b), unrolled; hashes collected top-down.
        let mut proof = Vec::with_capacity(66 - new_size.leading_zeros() as usize);
        let (mut lo, mut hi, mut m, mut complete) = (0u64, new_size, old_size, true);
        loop {
            let n = hi - lo;
            if m == n {
                if !complete {
                    proof.push(self.range_hash(lo, hi));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                proof.push(self.range_hash(lo + k, hi));
                hi = lo + k;
            } else {
                proof.push(self.range_hash(lo, lo + k));
                lo += k;
                m -= k;
                complete = false;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let available = self.size();
        if size > available {
            return Err(ProofError::SizeOutOfRange { size, available });
        }
        Ok(())
    }

    /// Stored hash of the perfect subtree of `2^level` leaves with index `index` on that level.
    #[inline]
    fn perfect(&self, level: u32, index: u64) -> Hash {
        self.levels[level as usize][index as usize]
    }

    /// Merkle tree hash of leaves `[start, end)`, where `start` is a multiple of the smallest
    /// power of two `>= end - start` (true of every range in the RFC 6962 recursion) and
    /// `end <= size`. Combines the perfect subtrees of the range from the right: O(log n).
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let mut acc: Option<Hash> = None;
        let mut cur_end = end;
        while cur_end > start {
            let level = (cur_end - start).trailing_zeros();
            let sub_start = cur_end - (1u64 << level);
            let h = self.perfect(level, sub_start >> level);
            acc = Some(match acc {
                None => h,
                Some(right) => node_hash(&h, &right),
            });
            cur_end = sub_start;
        }
        acc.unwrap_or_else(empty_root)
    }
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let calculated = root_from_inclusion_proof(leaf, index, size, proof)?;
    if calculated != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            calculated,
        });
    }
    Ok(())
}

/// The root implied by an inclusion proof (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decomp_incl_proof(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want: inner + border,
        });
    }
    let (inner_part, border_part) = proof.split_at(inner);
    let h = chain_inner(*leaf, inner_part, index);
    Ok(chain_border_right(h, border_part))
}

/// Verifies that the tree of `new_size` leaves with root `new_root` is an append-only extension
/// of the tree of `old_size` leaves with root `old_root`.
///
/// As in transparency-dev/merkle: `old_size == 0` is refused (a proof from the empty tree is
/// meaningless, whatever the roots); equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let calculated = root_from_consistency_proof(old_size, new_size, old_root, proof)?;
    if calculated != *new_root {
        return Err(ProofError::RootMismatch {
            expected: *new_root,
            calculated,
        });
    }
    Ok(())
}

/// Checks a consistency proof against `old_root` and returns the new root it implies
/// (RFC 9162 §2.1.4.2).
pub fn root_from_consistency_proof(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if new_size < old_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::NonEmptyProof {
                size: old_size,
                len: proof.len(),
            });
        }
        return Ok(*old_root);
    }
    if proof.is_empty() {
        return Err(ProofError::EmptyProof { old_size, new_size });
    }

    let (inner, border) = decomp_incl_proof(old_size - 1, new_size);
    let shift = old_size.trailing_zeros() as usize;
    // shift < inner whenever old_size < new_size.
    let inner = inner.saturating_sub(shift);

    // The proof starts with the root of the subtree of size 2^shift, unless that is old_size
    // itself, whose root is old_root.
    let (seed, start) = if old_size == 1u64 << shift {
        (*old_root, 0)
    } else {
        (proof[0], 1)
    };
    let want = start + inner + border;
    if proof.len() != want {
        return Err(ProofError::WrongProofSize {
            got: proof.len(),
            want,
        });
    }
    let (inner_part, border_part) = proof[start..].split_at(inner);
    let mask = (old_size - 1) >> shift;

    let old = chain_border_right(chain_inner_right(seed, inner_part, mask), border_part);
    if old != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            calculated: old,
        });
    }
    Ok(chain_border_right(
        chain_inner(seed, inner_part, mask),
        border_part,
    ))
}

/// Splits the inclusion proof of `index` in a tree of `size` into the part below the point
/// where the paths to `index` and `size - 1` diverge and the part along the right border.
fn decomp_incl_proof(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = shr(index, inner).count_ones() as usize;
    (inner, border)
}

fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        seed = if shr(index, i) & 1 == 0 {
            node_hash(&seed, h)
        } else {
            node_hash(h, &seed)
        };
    }
    seed
}

fn chain_inner_right(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if shr(index, i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_border_right(mut seed: Hash, proof: &[Hash]) -> Hash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

#[cfg(test)]
mod tests;
