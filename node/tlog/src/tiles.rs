//! The exchange log's Merkle tree kept as C2SP tlog-tiles: O(log n) in memory, the rest on disk.
//!
//! Same tree, hashes and proofs as [`crate::merkle::Tree`] (byte-identical, accepted by
//! [`crate::merkle::verify_inclusion`] / [`crate::merkle::verify_consistency`]), but the node no
//! longer holds every hash.
//!
//! # Tiles
//!
//! Tiles have height [`TILE_HEIGHT`] = 8: a tile of level `L` holds up to [`TILE_WIDTH`] = 256
//! hashes of perfect subtrees of `256^L` leaves; tile `(L, N)` holds the tree-level-`8L` node
//! hashes `N·256 .. N·256 + 255` (level 0: the leaf hashes). A tile is *full* once all 256 exist.
//! Any perfect subtree hash at tree level `8L + k` (`k < 8`) is the Merkle root of `2^k`
//! consecutive hashes of one tile of level `L` (as in golang.org/x/mod/sumdb/tlog `HashFromTile`).
//!
//! # What is where
//!
//! * **On disk (the caller's store)**: every *full* tile, written once, never changed.
//!   [`TiledTree::push`] hands each newly completed tile to the caller.
//! * **In memory ([`TiledTree`])**: the right edge only: for each tile level the *partial* tile
//!   (`< 256` hashes: the level-`L` hashes after the last level-`L+1` boundary) and the roots of
//!   the perfect subtrees making up the tree (one per set bit of the size, ≤ 64). That is at most
//!   `255 · ⌈log₂₅₆ n⌉ + 64` hashes: ~8 KB per tile level, ~34 KB at 2³² leaves, whatever `n`.
//!   [`TiledTree::root`] needs nothing else.
//!
//! # Proofs and old roots
//!
//! Each query is two steps, so the caller can fetch tiles with its own (async, SQL) I/O:
//! `tiles_for_*` lists the full tiles needed, then the matching method computes the result from a
//! [`TileReader`] holding those tiles plus the in-memory right edge. A query touches at most two
//! tiles per tile level (the one on the path to the leaf / old size, the one on the right border
//! of the tree size), i.e. ≤ `2·⌈log₂₅₆ size⌉` tiles, ≤ 6 below 2²⁴ leaves; tiles still partial in
//! memory are not read. Computing a proof costs at most ~250 node hashes per tile level.
//!
//! Use the same [`TiledTree`] value for both steps (it is cheap to clone: keep a snapshot): if
//! the tree grows in between, a tile that was partial may have become full and be asked for.
//!
//! # Staging
//!
//! [`TiledTree`] is `Clone` and small, so stage appends on a clone, drop it to roll back, and
//! replace the committed value once the full tiles it emitted are durably stored. Serve proofs
//! from the committed value only: a staged one may need tiles not yet in the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::ops::Range;

use crate::merkle::{HASH_SIZE, Hash, ProofError, empty_root, node_hash, root_of_leaves};

/// Tile height: a tile spans 8 levels of the tree.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile: `2^TILE_HEIGHT`.
pub const TILE_WIDTH: usize = 1 << TILE_HEIGHT;

/// A tile: level `level` (tree level `8·level`), index `index` along that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
}

impl TileId {
    /// The C2SP tlog-tiles path of this full tile, e.g. `tile/0/x001/x234/067`.
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut path = format!("tile/{}", self.level);
        for (i, g) in groups.iter().enumerate().rev() {
            let x = if i == 0 { "" } else { "x" };
            path.push_str(&format!("/{x}{g:03}"));
        }
        path
    }
}

/// Errors from the tiled tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// Bad arguments: the same errors as [`crate::merkle::Tree`].
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("tile {}/{} is needed but was not supplied", .id.level, .id.index)]
    MissingTile { id: TileId },
    #[error("tile {}/{} has {len} hashes, a full tile has {want}", .id.level, .id.index)]
    WrongTileLength { id: TileId, len: usize, want: usize },
    #[error("tile data has {len} bytes, want {want}")]
    WrongTileBytes { len: usize, want: usize },
    #[error("restoring size {size}: got {got} partial tile levels, want {want}")]
    WrongPartialLevels { size: u64, got: usize, want: usize },
    #[error("restoring size {size}: partial tile at level {level} has {got} hashes, want {want}")]
    WrongPartialLength {
        size: u64,
        level: usize,
        got: usize,
        want: usize,
    },
}

/// Access to stored full tiles, as fetched by the caller for one query.
pub trait TileReader {
    /// The full tile `id` (all [`TILE_WIDTH`] hashes), if held.
    fn tile(&self, id: TileId) -> Option<&[Hash]>;
}

impl<V: AsRef<[Hash]>, S: BuildHasher> TileReader for HashMap<TileId, V, S> {
    fn tile(&self, id: TileId) -> Option<&[Hash]> {
        self.get(&id).map(AsRef::as_ref)
    }
}

impl<V: AsRef<[Hash]>> TileReader for BTreeMap<TileId, V> {
    fn tile(&self, id: TileId) -> Option<&[Hash]> {
        self.get(&id).map(AsRef::as_ref)
    }
}

/// The tile as stored bytes: the concatenated hashes (the C2SP tile format).
pub fn tile_to_bytes(tile: &[Hash]) -> Vec<u8> {
    tile.concat()
}

/// A full tile from its stored bytes (exactly `TILE_WIDTH · 32` bytes).
pub fn tile_from_bytes(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let want = TILE_WIDTH * HASH_SIZE;
    if bytes.len() != want {
        return Err(TileError::WrongTileBytes {
            len: bytes.len(),
            want,
        });
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .map(|c| {
            let mut h = [0u8; HASH_SIZE];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// Root of a full tile: the hash one tile level up (tile `(L, N)` is entry `N % 256` of tile
/// `(L + 1, N / 256)`).
pub fn tile_root(tile: &[Hash]) -> Hash {
    root_of_leaves(tile)
}

/// What to read from disk to rebuild the right edge at `size` ([`TiledTree::restore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// Leaf hashes to read (the level-0 partial tile): the last `size % 256` leaves.
    pub leaves: Range<u64>,
    /// Full tiles to read, in order: for each level `L ≥ 1`, the level-`L-1` tiles after the last
    /// level-`L` boundary (their roots form the level-`L` partial tile). At most `255` per level.
    pub tiles: Vec<TileId>,
}

/// The tiles and leaves to read to restore a tree of `size` leaves.
pub fn restore_plan(size: u64) -> RestorePlan {
    restore_plan_h(size, TILE_HEIGHT)
}

fn restore_plan_h(size: u64, h: u32) -> RestorePlan {
    let w = 1u64 << h;
    let leaves = (size - size % w)..size;
    let mut tiles = Vec::new();
    for level in 1..bands(size, h) {
        let end = shr(size, h * level as u32);
        let start = end - end % w;
        tiles.extend((start..end).map(|index| TileId {
            level: (level - 1) as u8,
            index,
        }));
    }
    RestorePlan { leaves, tiles }
}

/// The right edge of the log's Merkle tree: partial tiles and border subtree roots (see the
/// module documentation). `Clone` is the staging / rollback mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct TiledTree {
    size: u64,
    /// Tile height (8 except in tests).
    h: u32,
    /// `partials[L]`: the `(size >> 8L) % 256` level-`8L` hashes of the partial tile
    /// `(L, size >> 8(L+1))`; one entry per tile level that has a hash (`size >> 8L > 0`).
    partials: Vec<Vec<Hash>>,
    /// Roots of the perfect subtrees making up the tree, largest (leftmost) first: one per set
    /// bit of `size`.
    border: Vec<Hash>,
}

impl Default for TiledTree {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TiledTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiledTree")
            .field("size", &self.size)
            .field("root", &hex::encode(self.root()))
            .field(
                "partials",
                &self.partials.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TiledTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::with_height(TILE_HEIGHT)
    }

    fn with_height(h: u32) -> Self {
        Self {
            size: 0,
            h,
            partials: Vec::new(),
            border: Vec::new(),
        }
    }

    fn width(&self) -> usize {
        1 << self.h
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Current root, from memory: at most 63 node hashes.
    pub fn root(&self) -> Hash {
        match self.border.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
        }
    }

    /// The partial tiles, by level (`partials()[L]` has `(size >> 8L) % 256` hashes). Enough to
    /// rebuild the tree with [`TiledTree::from_partials`].
    pub fn partials(&self) -> &[Vec<Hash>] {
        &self.partials
    }

    /// Appends a leaf hash (its index is the previous [`size`](Self::size)) and returns the full
    /// tiles it completed, lowest level first: usually none, one every 256 leaves, more at
    /// higher boundaries. The caller must store them before serving proofs from this tree.
    /// Amortised ~1 node hash.
    pub fn push(&mut self, leaf: Hash) -> Vec<(TileId, Vec<Hash>)> {
        let mut done = Vec::new();
        let new_size = self.size + 1;
        self.append(0, leaf, new_size, &mut done);
        let mut h = leaf;
        // Appending leaf `size` completes one perfect subtree per trailing zero of `size + 1`.
        for level in 1..=new_size.trailing_zeros() {
            let Some(left) = self.border.pop() else {
                break; // unreachable: one border root per set bit of the old size
            };
            h = node_hash(&left, &h);
            if level % self.h == 0 {
                self.append((level / self.h) as usize, h, new_size, &mut done);
            }
        }
        self.border.push(h);
        self.size = new_size;
        done
    }

    fn append(
        &mut self,
        level: usize,
        hash: Hash,
        new_size: u64,
        done: &mut Vec<(TileId, Vec<Hash>)>,
    ) {
        let w = self.width();
        if self.partials.len() == level {
            self.partials.push(Vec::with_capacity(w));
        }
        let partial = &mut self.partials[level];
        partial.push(hash);
        if partial.len() == w {
            let full = std::mem::replace(partial, Vec::with_capacity(w));
            let id = TileId {
                level: level as u8,
                index: shr(new_size, self.h * (level as u32 + 1)) - 1,
            };
            done.push((id, full));
        }
    }

    /// Rebuilds the tree of `size` leaves from its partial tiles (as returned by
    /// [`partials`](Self::partials)). Checks the shape only: compare [`root`](Self::root) with
    /// the last signed checkpoint.
    pub fn from_partials(size: u64, partials: Vec<Vec<Hash>>) -> Result<Self, TileError> {
        Self::from_partials_h(size, partials, TILE_HEIGHT)
    }

    fn from_partials_h(size: u64, partials: Vec<Vec<Hash>>, h: u32) -> Result<Self, TileError> {
        let want = bands(size, h);
        if partials.len() != want {
            return Err(TileError::WrongPartialLevels {
                size,
                got: partials.len(),
                want,
            });
        }
        let mask = (1u64 << h) - 1;
        let mut border = Vec::new();
        for (level, p) in partials.iter().enumerate().rev() {
            let count = shr(size, h * level as u32) & mask;
            if p.len() as u64 != count {
                return Err(TileError::WrongPartialLength {
                    size,
                    level,
                    got: p.len(),
                    want: count as usize,
                });
            }
            let mut offset = 0usize;
            for bit in (0..h).rev() {
                if count >> bit & 1 == 1 {
                    let n = 1usize << bit;
                    border.push(root_of_leaves(&p[offset..offset + n]));
                    offset += n;
                }
            }
        }
        Ok(Self {
            size,
            h,
            partials,
            border,
        })
    }

    /// Rebuilds the tree of `size` leaves from disk, reading what [`restore_plan`] lists:
    /// `leaves` are the leaf hashes of `restore_plan(size).leaves`, `tiles` holds its tiles.
    /// Checks the shape only: compare [`root`](Self::root) with the last signed checkpoint.
    pub fn restore(size: u64, leaves: &[Hash], tiles: &impl TileReader) -> Result<Self, TileError> {
        Self::restore_h(size, leaves, tiles, TILE_HEIGHT)
    }

    fn restore_h(
        size: u64,
        leaves: &[Hash],
        tiles: &impl TileReader,
        h: u32,
    ) -> Result<Self, TileError> {
        let plan = restore_plan_h(size, h);
        let w = 1usize << h;
        let mut partials = vec![Vec::new(); bands(size, h)];
        if let Some(p) = partials.first_mut() {
            *p = leaves.to_vec(); // length checked by from_partials_h
        }
        for id in plan.tiles {
            let tile = get_full(tiles, id, w)?;
            partials[id.level as usize + 1].push(root_of_leaves(tile));
        }
        Self::from_partials_h(size, partials, h)
    }

    /// Whether tile `id` is full (and so in the store) at the current size.
    fn is_full(&self, id: TileId) -> bool {
        id.index < shr(self.size, self.h * (id.level as u32 + 1))
    }

    /// The tile holding perfect subtree `(level, index)` and the range of its hashes to fold.
    fn locate(&self, level: u32, index: u64) -> (TileId, Range<usize>) {
        let tl = level / self.h;
        let k = level % self.h;
        let first = index << k; // first level-(h·tl) hash under the subtree
        let w = self.width() as u64;
        let id = TileId {
            level: tl as u8,
            index: first / w,
        };
        let start = (first % w) as usize;
        (id, start..start + (1usize << k))
    }

    /// Hash of the perfect subtree `(level, index)` from the supplied tiles or the right edge.
    fn perfect(&self, tiles: &impl TileReader, level: u32, index: u64) -> Result<Hash, TileError> {
        let (id, range) = self.locate(level, index);
        let data = if self.is_full(id) {
            get_full(tiles, id, self.width())?
        } else {
            // Only the current partial tile can hold hashes of a tree of size <= self.size.
            self.partials
                .get(id.level as usize)
                .filter(|_| id.index == shr(self.size, self.h * (id.level as u32 + 1)))
                .ok_or(TileError::MissingTile { id })?
        };
        let hashes = data.get(range).ok_or(TileError::MissingTile { id })?;
        Ok(root_of_leaves(hashes))
    }

    /// Runs `walk` recording the full tiles it reads.
    fn record<T>(
        &self,
        walk: impl FnOnce(&mut dyn FnMut(u32, u64) -> Result<Hash, ProofError>) -> Result<T, ProofError>,
    ) -> Result<Vec<TileId>, ProofError> {
        let mut ids = BTreeSet::new();
        walk(&mut |level, index| {
            let (id, _) = self.locate(level, index);
            if self.is_full(id) {
                ids.insert(id);
            }
            Ok([0u8; 32])
        })?;
        Ok(ids.into_iter().collect())
    }

    /// Full tiles needed by [`root_at`](Self::root_at)`(size)`: at most one per tile level.
    pub fn tiles_for_root_at(&self, size: u64) -> Result<Vec<TileId>, ProofError> {
        self.record(|f| root_at_walk(self.size, size, f))
    }

    /// Full tiles needed by [`inclusion_proof`](Self::inclusion_proof)`(index, size)`: at most
    /// two per tile level.
    pub fn tiles_for_inclusion(&self, index: u64, size: u64) -> Result<Vec<TileId>, ProofError> {
        self.record(|f| inclusion_walk(self.size, index, size, f))
    }

    /// Full tiles needed by [`consistency_proof`](Self::consistency_proof)`(old_size,
    /// new_size)`: at most two per tile level.
    pub fn tiles_for_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<TileId>, ProofError> {
        self.record(|f| consistency_walk(self.size, old_size, new_size, f))
    }

    /// Root of the tree as it was at `size` leaves; `tiles` holds
    /// [`tiles_for_root_at`](Self::tiles_for_root_at)`(size)`.
    pub fn root_at(&self, tiles: &impl TileReader, size: u64) -> Result<Hash, TileError> {
        root_at_walk(self.size, size, &mut |l, i| self.perfect(tiles, l, i))
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves, as
    /// [`crate::merkle::Tree::inclusion_proof`]; `tiles` holds
    /// [`tiles_for_inclusion`](Self::tiles_for_inclusion)`(index, size)`.
    pub fn inclusion_proof(
        &self,
        tiles: &impl TileReader,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, TileError> {
        inclusion_walk(self.size, index, size, &mut |l, i| {
            self.perfect(tiles, l, i)
        })
    }

    /// Consistency proof between tree sizes `old_size <= new_size`, as
    /// [`crate::merkle::Tree::consistency_proof`]; `tiles` holds
    /// [`tiles_for_consistency`](Self::tiles_for_consistency)`(old_size, new_size)`.
    pub fn consistency_proof(
        &self,
        tiles: &impl TileReader,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, TileError> {
        consistency_walk(self.size, old_size, new_size, &mut |l, i| {
            self.perfect(tiles, l, i)
        })
    }
}

/// A full tile from `tiles`, length-checked.
fn get_full(tiles: &impl TileReader, id: TileId, w: usize) -> Result<&[Hash], TileError> {
    let tile = tiles.tile(id).ok_or(TileError::MissingTile { id })?;
    if tile.len() != w {
        return Err(TileError::WrongTileLength {
            id,
            len: tile.len(),
            want: w,
        });
    }
    Ok(tile)
}

/// Number of tile levels holding at least one hash for a tree of `size` leaves.
fn bands(size: u64, h: u32) -> usize {
    let bits = 64 - size.leading_zeros();
    bits.div_ceil(h) as usize
}

/// `x >> n`, zero when `n >= 64`.
#[inline]
fn shr(x: u64, n: u32) -> u64 {
    if n >= 64 { 0 } else { x >> n }
}

/// Largest power of two strictly less than `n` (`n >= 2`).
#[inline]
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

// The walks below are those of `merkle::Tree`, over a source of perfect subtree hashes
// `perfect(level, index)`, so the results are the same hashes in the same order.

type Perfect<'a, E> = dyn FnMut(u32, u64) -> Result<Hash, E> + 'a;

fn check_size(available: u64, size: u64) -> Result<(), ProofError> {
    if size > available {
        return Err(ProofError::SizeOutOfRange { size, available });
    }
    Ok(())
}

/// Merkle tree hash of leaves `[start, end)` (`start` aligned as in the RFC 6962 recursion).
fn range_hash<E>(start: u64, end: u64, perfect: &mut Perfect<'_, E>) -> Result<Hash, E> {
    let mut acc: Option<Hash> = None;
    let mut cur_end = end;
    while cur_end > start {
        let level = (cur_end - start).trailing_zeros();
        let sub_start = cur_end - (1u64 << level);
        let h = perfect(level, sub_start >> level)?;
        acc = Some(match acc {
            None => h,
            Some(right) => node_hash(&h, &right),
        });
        cur_end = sub_start;
    }
    Ok(acc.unwrap_or_else(empty_root))
}

fn root_at_walk<E: From<ProofError>>(
    available: u64,
    size: u64,
    perfect: &mut Perfect<'_, E>,
) -> Result<Hash, E> {
    check_size(available, size)?;
    range_hash(0, size, perfect)
}

fn inclusion_walk<E: From<ProofError>>(
    available: u64,
    index: u64,
    size: u64,
    perfect: &mut Perfect<'_, E>,
) -> Result<Vec<Hash>, E> {
    check_size(available, size)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut proof = Vec::with_capacity(64 - size.leading_zeros() as usize);
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            proof.push(range_hash(lo + k, hi, perfect)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(lo, lo + k, perfect)?);
            lo += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

fn consistency_walk<E: From<ProofError>>(
    available: u64,
    old_size: u64,
    new_size: u64,
    perfect: &mut Perfect<'_, E>,
) -> Result<Vec<Hash>, E> {
    check_size(available, new_size)?;
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size }.into());
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut proof = Vec::with_capacity(66 - new_size.leading_zeros() as usize);
    let (mut lo, mut hi, mut m, mut complete) = (0u64, new_size, old_size, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                proof.push(range_hash(lo, hi, perfect)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(range_hash(lo + k, hi, perfect)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(lo, lo + k, perfect)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Tree, leaf_hash, verify_consistency, verify_inclusion};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    type Store = HashMap<TileId, Vec<Hash>>;

    const N_MAX: u64 = 300_000;
    const L2: u64 = 1 << 16;

    fn leaf(i: u64) -> Hash {
        leaf_hash(&i.to_le_bytes())
    }

    struct Fixture {
        leaves: Vec<Hash>,
        tree: Tree,
        store: Store,
        /// Clones of the tiled tree at interesting sizes, in increasing size.
        snaps: Vec<TiledTree>,
    }

    /// Tree sizes at and around tile boundaries.
    const FIXED_SIZES: [u64; 31] = [
        0,
        1,
        2,
        3,
        7,
        8,
        255,
        256,
        257,
        511,
        512,
        513,
        256 * 255,
        256 * 255 + 1,
        L2 - 1,
        L2,
        L2 + 1,
        L2 + 255,
        L2 + 256,
        L2 + 257,
        2 * L2 - 1,
        2 * L2,
        2 * L2 + 1,
        3 * L2 - 1,
        3 * L2,
        3 * L2 + 5,
        3 * L2 + 256 * 7 + 5,
        4 * L2 - 1,
        4 * L2,
        4 * L2 + 1,
        N_MAX,
    ];

    fn snap_sizes() -> BTreeSet<u64> {
        let mut sizes: BTreeSet<u64> = FIXED_SIZES.into();
        // Pseudo-random sizes (xorshift, fixed seed).
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sizes.insert(x % (N_MAX + 1));
        }
        sizes
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let sizes = snap_sizes();
            let mut tiled = TiledTree::new();
            let mut tree = Tree::new();
            let mut store = Store::new();
            let mut next_index = [0u64; 8];
            let mut snaps = vec![tiled.clone()];
            let mut leaves = Vec::with_capacity(N_MAX as usize);
            for i in 0..N_MAX {
                let l = leaf(i);
                leaves.push(l);
                tree.push(l);
                let mut last_level = None;
                for (id, hashes) in tiled.push(l) {
                    // Tiles come in order: level by level, lowest first, each level in sequence.
                    assert!(last_level < Some(id.level));
                    last_level = Some(id.level);
                    assert_eq!(id.index, next_index[id.level as usize]);
                    next_index[id.level as usize] += 1;
                    assert_eq!(hashes.len(), TILE_WIDTH);
                    assert!(store.insert(id, hashes).is_none());
                }
                if sizes.contains(&(i + 1)) {
                    snaps.push(tiled.clone());
                }
            }
            assert_eq!(next_index[0], N_MAX / 256);
            assert_eq!(next_index[1], N_MAX / L2);
            assert_eq!(next_index[2], 0);
            Fixture {
                leaves,
                tree,
                store,
                snaps,
            }
        })
    }

    /// Only the tiles asked for, each checked to be full (stored) at `size`.
    fn fetch(store: &Store, ids: &[TileId], size: u64, h: u32) -> Store {
        ids.iter()
            .map(|&id| {
                assert!(
                    id.index < shr(size, h * (id.level as u32 + 1)),
                    "{id:?} is not full at size {size}"
                );
                (id, store[&id].clone())
            })
            .collect()
    }

    /// Checks root_at, inclusion and consistency proofs of `tiled` against `tree`.
    fn check_queries(
        tiled: &TiledTree,
        tree: &Tree,
        store: &Store,
        size: u64,
        index: u64,
        old: u64,
    ) {
        let h = tiled.h;
        let n = tiled.size();
        let bound = 2 * bands(size, h);
        let root = tree.root_at(size).unwrap();

        let ids = tiled.tiles_for_root_at(size).unwrap();
        assert!(
            ids.len() <= bands(size, h),
            "root_at({size}) at {n}: {ids:?}"
        );
        let got = tiled.root_at(&fetch(store, &ids, n, h), size).unwrap();
        assert_eq!(got, root, "root_at({size}) at {n}");

        if index < size {
            let ids = tiled.tiles_for_inclusion(index, size).unwrap();
            assert!(
                ids.len() <= bound,
                "inclusion({index},{size}) at {n}: {ids:?}"
            );
            let got = tiled
                .inclusion_proof(&fetch(store, &ids, n, h), index, size)
                .unwrap();
            assert_eq!(got, tree.inclusion_proof(index, size).unwrap());
            verify_inclusion(&tree.leaf(index).unwrap(), index, size, &got, &root).unwrap();
        }

        let ids = tiled.tiles_for_consistency(old, size).unwrap();
        assert!(
            ids.len() <= bound,
            "consistency({old},{size}) at {n}: {ids:?}"
        );
        let got = tiled
            .consistency_proof(&fetch(store, &ids, n, h), old, size)
            .unwrap();
        assert_eq!(got, tree.consistency_proof(old, size).unwrap());
        if old > 0 {
            let old_root = tree.root_at(old).unwrap();
            verify_consistency(old, size, &old_root, &root, &got).unwrap();
        }
    }

    fn memory_hashes(t: &TiledTree) -> usize {
        t.partials.iter().map(Vec::len).sum::<usize>() + t.border.len()
    }

    #[test]
    fn pushed_tiles_hold_the_right_hashes() {
        let f = fixture();
        for (id, hashes) in &f.store {
            match id.level {
                0 => {
                    let start = id.index as usize * 256;
                    assert_eq!(hashes[..], f.leaves[start..start + 256], "{id:?}");
                }
                1 => {
                    for (j, h) in hashes.iter().enumerate() {
                        let start = (id.index as usize * 256 + j) * 256;
                        assert_eq!(*h, root_of_leaves(&f.leaves[start..start + 256]), "{id:?}");
                    }
                }
                _ => panic!("unexpected tile {id:?}"),
            }
            assert_eq!(tile_from_bytes(&tile_to_bytes(hashes)).unwrap(), *hashes);
        }
        for s in &f.snaps {
            assert_eq!(
                s.root(),
                f.tree.root_at(s.size()).unwrap(),
                "size {}",
                s.size()
            );
            assert!(memory_hashes(s) <= 255 * bands(s.size(), 8) + 64);
        }
    }

    #[test]
    fn root_matches_at_every_size() {
        let mut tiled = TiledTree::new();
        let mut tree = Tree::new();
        assert_eq!(tiled.root(), tree.root());
        for i in 0..(L2 + 600) {
            tiled.push(leaf(i));
            tree.push(leaf(i));
            assert_eq!(tiled.root(), tree.root(), "size {}", i + 1);
            assert_eq!(tiled.size(), tree.size());
        }
    }

    #[test]
    fn proofs_match_at_boundaries() {
        let f = fixture();
        let fixed: BTreeSet<u64> = FIXED_SIZES.into();
        for s in f.snaps.iter().filter(|s| fixed.contains(&s.size())) {
            let n = s.size();
            let mut sizes: BTreeSet<u64> = [n, n.saturating_sub(1), n / 2, 255, 256, 257, L2]
                .into_iter()
                .filter(|&x| x <= n)
                .collect();
            sizes.insert(0);
            for &size in &sizes {
                let specials = [0, 1, 255, 256, 257, L2 - 1, L2, L2 + 1, size / 2];
                for &x in specials.iter().chain(&[size.saturating_sub(1), size]) {
                    let index = x.min(size.saturating_sub(1));
                    check_queries(s, &f.tree, &f.store, size, index, x.min(size));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn proofs_match_merkle_tree(
            snap in any::<prop::sample::Index>(),
            a in any::<u64>(),
            b in any::<u64>(),
            c in any::<u64>(),
        ) {
            let f = fixture();
            let s = snap.get(&f.snaps);
            let size = a % (s.size() + 1);
            let index = if size == 0 { 0 } else { b % size };
            check_queries(s, &f.tree, &f.store, size, index, c % (size + 1));
        }
    }

    #[test]
    fn restore_equals_pushed_state() {
        let f = fixture();
        // Every fixed boundary size, and a few of the random ones (each reads up to 510 tiles).
        let fixed: BTreeSet<u64> = FIXED_SIZES.into();
        for (i, s) in f.snaps.iter().enumerate() {
            let n = s.size();
            if !fixed.contains(&n) && i % 5 != 0 {
                continue;
            }
            let plan = restore_plan(n);
            assert_eq!(plan.leaves.end, n);
            assert!(plan.tiles.len() <= 255 * bands(n, 8));
            let leaves = &f.leaves[plan.leaves.start as usize..n as usize];
            let tiles = fetch(&f.store, &plan.tiles, n, 8);
            let restored = TiledTree::restore(n, leaves, &tiles).unwrap();
            assert_eq!(restored, *s, "size {n}");
            assert_eq!(restored.root(), f.tree.root_at(n).unwrap());
            let again = TiledTree::from_partials(n, s.partials().to_vec()).unwrap();
            assert_eq!(again, *s, "size {n}");
        }
        // Growing a restored tree gives the same tiles and roots as growing the original.
        let s = f.snaps.iter().find(|s| s.size() == L2 - 1).unwrap();
        let mut restored = TiledTree::from_partials(s.size(), s.partials().to_vec()).unwrap();
        let mut orig = s.clone();
        for i in s.size()..s.size() + 300 {
            assert_eq!(restored.push(leaf(i)), orig.push(leaf(i)));
            assert_eq!(restored.root(), f.tree.root_at(i + 1).unwrap());
        }
        assert_eq!(restored, orig);
    }

    #[test]
    fn restore_refuses_wrong_shapes() {
        let f = fixture();
        let n = 3 * L2 + 5;
        let plan = restore_plan(n);
        assert_eq!(plan.leaves, n - 5..n);
        let leaves = &f.leaves[plan.leaves.start as usize..n as usize];
        let mut tiles = fetch(&f.store, &plan.tiles, n, 8);
        assert_eq!(
            TiledTree::restore(n, &leaves[1..], &tiles),
            Err(TileError::WrongPartialLength {
                size: n,
                level: 0,
                got: 4,
                want: 5
            })
        );
        // n = 3·65536 + 5: no level-1 partial hashes, three at level 2: the roots of level-1 tiles.
        let want: Vec<TileId> = (0..3).map(|index| TileId { level: 1, index }).collect();
        assert_eq!(plan.tiles, want);
        let n = 3 * L2 + 256 * 7 + 5;
        let plan = restore_plan(n);
        let want: Vec<TileId> = (768..775)
            .map(|index| TileId { level: 0, index })
            .chain((0..3).map(|index| TileId { level: 1, index }))
            .collect();
        assert_eq!(plan.tiles, want);
        let leaves = &f.leaves[plan.leaves.start as usize..n as usize];
        tiles.extend(fetch(&f.store, &plan.tiles, n, 8));
        tiles.remove(&want[3]);
        assert_eq!(
            TiledTree::restore(n, leaves, &tiles),
            Err(TileError::MissingTile { id: want[3] })
        );
        tiles.insert(want[3], vec![[0; 32]; 255]);
        assert_eq!(
            TiledTree::restore(n, leaves, &tiles),
            Err(TileError::WrongTileLength {
                id: want[3],
                len: 255,
                want: 256
            })
        );
        assert_eq!(
            TiledTree::from_partials(n, vec![vec![]; 2]),
            Err(TileError::WrongPartialLevels {
                size: n,
                got: 2,
                want: 3
            })
        );
        assert_eq!(TiledTree::from_partials(0, vec![]), Ok(TiledTree::new()));
    }

    #[test]
    fn bad_arguments_give_the_tree_errors() {
        let tree = Tree::from_leaves((0..257).map(leaf));
        let mut s = TiledTree::new();
        for i in 0..257 {
            s.push(leaf(i));
        }
        let none = Store::new();
        let cases: [(u64, u64); 5] = [(257, 257), (300, 257), (0, 0), (5, 258), (0, 1000)];
        for (index, size) in cases {
            let want = tree.inclusion_proof(index, size).unwrap_err();
            assert_eq!(s.tiles_for_inclusion(index, size), Err(want.clone()));
            assert_eq!(s.inclusion_proof(&none, index, size), Err(want.into()));
        }
        for (old, new) in [(5, 258), (10, 9), (258, 258)] {
            let want = tree.consistency_proof(old, new).unwrap_err();
            assert_eq!(s.tiles_for_consistency(old, new), Err(want.clone()));
            assert_eq!(s.consistency_proof(&none, old, new), Err(want.into()));
        }
        let want = ProofError::SizeOutOfRange {
            size: 258,
            available: 257,
        };
        assert_eq!(s.tiles_for_root_at(258), Err(want.clone()));
        assert_eq!(s.root_at(&none, 258), Err(want.into()));
        // A needed tile that is not supplied, or is not full.
        let id = TileId { level: 0, index: 0 };
        assert_eq!(s.tiles_for_inclusion(3, 257), Ok(vec![id]));
        assert_eq!(
            s.inclusion_proof(&none, 3, 257),
            Err(TileError::MissingTile { id })
        );
        let short: Store = [(id, vec![[0; 32]; 3])].into();
        assert_eq!(
            s.inclusion_proof(&short, 3, 257),
            Err(TileError::WrongTileLength {
                id,
                len: 3,
                want: 256
            })
        );
    }

    /// Small tile heights make many tile levels with few leaves: every query up to a size.
    #[test]
    fn small_heights_match_everywhere() {
        for h in 1..=3 {
            let limit = 40 + (1u64 << (3 * h));
            let mut tiled = TiledTree::with_height(h);
            let mut tree = Tree::new();
            let mut store = Store::new();
            for i in 0..limit {
                let n = tiled.size();
                let plan = restore_plan_h(n, h);
                let tiles = fetch(&store, &plan.tiles, n, h);
                let leaves: Vec<Hash> = plan.leaves.clone().map(leaf).collect();
                assert_eq!(
                    TiledTree::restore_h(n, &leaves, &tiles, h),
                    Ok(tiled.clone())
                );
                assert_eq!(tiled.root(), tree.root(), "h {h} size {n}");
                for size in [n, n / 2 + 1] {
                    let size = size.min(n);
                    for x in (0..=size).step_by(1 + size as usize / 16).chain([size]) {
                        check_queries(&tiled, &tree, &store, size, x.min(size.max(1) - 1), x);
                    }
                }
                for (id, hashes) in tiled.push(leaf(i)) {
                    assert_eq!(hashes.len(), 1 << h);
                    assert!(store.insert(id, hashes).is_none());
                }
                tree.push(leaf(i));
            }
        }
    }

    #[test]
    fn tile_paths_and_bytes() {
        let path = |level, index| TileId { level, index }.path();
        assert_eq!(path(0, 1_234_067), "tile/0/x001/x234/067");
        assert_eq!(path(1, 0), "tile/1/000");
        assert_eq!(path(2, 1000), "tile/2/x001/000");
        assert_eq!(path(0, 999), "tile/0/999");
        assert_eq!(
            tile_from_bytes(&[0; 31]),
            Err(TileError::WrongTileBytes {
                len: 31,
                want: 8192
            })
        );
        assert_eq!(
            restore_plan(0),
            RestorePlan {
                leaves: 0..0,
                tiles: vec![]
            }
        );
        assert_eq!(bands(0, 8), 0);
        assert_eq!(bands(255, 8), 1);
        assert_eq!(bands(256, 8), 2);
        assert_eq!(bands(u64::MAX, 8), 8);
    }
}
