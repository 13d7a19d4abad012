//! Log rows: entries, payloads, the tree's full tiles, signed checkpoints and the cosignatures
//! witnesses returned for them. Entries, payloads and tiles are inserted by the writer's batch
//! flush (`writer.rs`); here are the reads, the tree's restore at start and its full check,
//! proofs from the tiles, and checkpoint and cosignature writes (through the writer).
//!
//! An entry row holds the envelope's fields as columns (`dir`, `peer`, `seq`, `message_id`,
//! `case_id`, `msg_type`, `at_ms`, and `payload_hash`, the envelope's `payload_sha256`
//! unhexed) and the entry's exact bytes in `entry`; an `entry` left empty (every append whose
//! bytes are the canonical encoding of its columns, since issue 14) stands for that encoding,
//! rebuilt on read ([`entry_of`]). Rows written before hold the bytes in full, and are read
//! as they are. Either way the leaf hash is checked on the bytes read back, so a changed
//! column of an empty-`entry` row is a leaf mismatch like a changed `entry`.

use super::{Store, StoreError, StoreKind, Val, WriteOp};
use crate::log::merkle::{self, Hash};
use crate::log::{Envelope, LoadError, LogState, TileId, TiledTree, tiles};
use sqlx::{AnyPool, Row};

/// The columns [`entry_of`] reads: every SELECT of an entry's bytes takes these.
pub(super) const ENTRY_COLUMNS: &str =
    "entry, dir, peer, seq, message_id, case_id, msg_type, at_ms, payload_hash";

/// The bytes of the entry in `row` (selected with [`ENTRY_COLUMNS`]): its `entry` column, or,
/// when that is empty, the canonical encoding of the row's columns ([`row_envelope`]).
pub(super) fn entry_of(row: &sqlx::any::AnyRow) -> Result<Vec<u8>, StoreError> {
    let entry: Vec<u8> = row.try_get("entry")?;
    if !entry.is_empty() {
        return Ok(entry);
    }
    Ok(row_envelope(row)?.entry_bytes())
}

/// The envelope a row's columns describe; its [`Envelope::entry_bytes`] is the canonical
/// encoding an empty `entry` stands for. The writer stores `entry` empty only after building
/// the same envelope from the values it binds and finding its bytes equal to the entry's.
fn row_envelope(row: &sqlx::any::AnyRow) -> Result<Envelope, StoreError> {
    let payload_hash: Vec<u8> = row.try_get("payload_hash")?;
    Ok(Envelope {
        dir: row.try_get("dir")?,
        peer: row.try_get("peer")?,
        seq: row.try_get::<i64, _>("seq")? as u64,
        message_id: row.try_get("message_id")?,
        case_id: row.try_get("case_id")?,
        msg_type: row.try_get("msg_type")?,
        at_ms: row.try_get("at_ms")?,
        payload_sha256: hex::encode(payload_hash),
    })
}

/// What the writer stores in `entry` for an append: nothing when `entry_bytes` are the
/// canonical encoding of `columns` (the envelope whose fields it binds as the row's columns,
/// with `seq` as assigned and `payload_sha256` the hex of the `payload_hash` column), else the
/// bytes in full (a real entry is never empty, so an empty one is unambiguous).
pub(super) fn entry_to_store(columns: &Envelope, entry_bytes: Vec<u8>) -> Vec<u8> {
    if columns.entry_bytes() == entry_bytes {
        Vec::new()
    } else {
        entry_bytes
    }
}

/// Entries read per query by the full pass.
const PAGE: i64 = 20_000;

/// Restore the tree's right edge at start from the stored tiles and the newest entries,
/// without reading the whole log: the largest index gives the size; the last `size % 256`
/// entries are read and their leaf hashes checked; the partial tiles above come from the
/// stored full tiles; the newest signed checkpoint's root is recomputed from the tiles and
/// must match (a node never serves a log that does not extend what it signed). A store
/// whose tiles are missing (one made before schema v8) gets them from one full pass over
/// its entries first ([`check_log`]).
pub(super) async fn load_tree(pool: &AnyPool, kind: StoreKind) -> Result<LogState, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM log_entries")
        .fetch_one(pool)
        .await?;
    let size = last.map(|l| l as u64 + 1).unwrap_or(0);
    if !tiles_complete(&mut *pool.acquire().await?, size).await? {
        tracing::info!(
            entries = size,
            "exchange log: building its tiles (once, after an upgrade)"
        );
        let started = std::time::Instant::now();
        check_log(pool, kind, TileCheck::StoreMissing, &|_, _| {}).await?;
        tracing::info!(
            entries = size,
            ms = started.elapsed().as_millis() as u64,
            "exchange log: tiles built"
        );
    }
    // One snapshot for the size, the entries, the tiles, the checkpoint and the sequence
    // numbers: another process sharing a PostgreSQL store may append meanwhile.
    let mut tx = pool.begin().await?;
    if kind == StoreKind::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM log_entries")
        .fetch_one(&mut *tx)
        .await?;
    let size = last.map(|l| l as u64 + 1).unwrap_or(0);
    let plan = tiles::restore_plan(size);
    let rows = sqlx::query(sqlx::AssertSqlSafe(leaves_sql()))
        .bind(plan.leaves.start as i64)
        .bind(size as i64)
        .fetch_all(&mut *tx)
        .await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for row in rows {
        leaves.push(checked_leaf(&row, plan.leaves.start + leaves.len() as u64)?);
    }
    let held = fetch_tiles(&mut tx, &plan.tiles).await?;
    let tree = TiledTree::restore(size, &leaves, &held).map_err(LoadError::from)?;
    if let Some((cp_size, cp_root)) = last_checkpoint_root(&mut tx).await? {
        let at = root_at_of(&mut tx, &tree, cp_size).await?;
        if at.map(|r| r.to_vec()) != Some(cp_root) {
            return Err(LoadError::NotExtendingCheckpoint(cp_size).into());
        }
    }
    let seqs = load_seqs(&mut tx, kind).await?;
    tx.commit().await?;
    Ok(LogState::restored(tree, seqs))
}

/// Rows `idx, leaf_hash` and the entry's columns, for indexes `$1..$2`.
fn leaves_sql() -> String {
    format!(
        "SELECT idx, leaf_hash, {ENTRY_COLUMNS} FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx"
    )
}

/// The leaf hash of a row ([`leaves_sql`]) that must be entry `expected`: a gap, or a stored
/// hash that does not match the entry's bytes (as stored, or rebuilt from the columns), is
/// refused.
fn checked_leaf(row: &sqlx::any::AnyRow, expected: u64) -> Result<Hash, StoreError> {
    let index = row.try_get::<i64, _>("idx")? as u64;
    if index != expected {
        return Err(LoadError::Gap {
            expected,
            found: index,
        }
        .into());
    }
    let entry = entry_of(row)?;
    let stored: Vec<u8> = row.try_get("leaf_hash")?;
    let leaf = merkle::leaf_hash(&entry);
    if stored.as_slice() != leaf.as_slice() {
        return Err(LoadError::LeafMismatch(index).into());
    }
    Ok(leaf)
}

/// Whether every full tile of a tree of `size` leaves is stored.
async fn tiles_complete(c: &mut sqlx::AnyConnection, size: u64) -> Result<bool, StoreError> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT level, COUNT(*), MAX(idx) FROM log_tiles GROUP BY level ORDER BY level",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut level = 0u32;
    loop {
        let want = size >> (tiles::TILE_HEIGHT * (level + 1));
        if want == 0 {
            return Ok(true);
        }
        let have = rows.iter().find(|r| r.0 == level as i64);
        match have {
            Some(&(_, n, max)) if n as u64 == want && max as u64 == want - 1 => {}
            _ => return Ok(false),
        }
        level += 1;
    }
}

/// The full pass over the log: every entry in index order, no gap, every stored leaf hash
/// matching its entry, every stored full tile matching the tiles the entries make, and the
/// tree extending the newest signed checkpoint. Memory stays bounded (a page of entries and
/// the right edge). `progress(done, total)` is called after each page.
pub(super) async fn check_log(
    pool: &AnyPool,
    kind: StoreKind,
    mode: TileCheck,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<LogState, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM log_entries")
        .fetch_one(pool)
        .await?;
    let total = last.map(|l| l as u64 + 1).unwrap_or(0);
    let checkpoint = last_checkpoint_root(&mut *pool.acquire().await?).await?;
    let mut tree = TiledTree::new();
    let mut checkpoint_ok = checkpoint.is_none();
    let mut missing: Vec<(TileId, Vec<Hash>)> = Vec::new();
    let mut seqs = SeqPass::default();
    let mut next: i64 = 0;
    while (next as u64) < total {
        let rows = sqlx::query(sqlx::AssertSqlSafe(leaves_sql()))
            .bind(next)
            .bind(next + PAGE)
            .fetch_all(pool)
            .await?;
        let mut full = Vec::new();
        for row in rows {
            let leaf = checked_leaf(&row, tree.size())?;
            seqs.see(&row)?;
            full.extend(tree.push(leaf));
            if let Some((cp_size, cp_root)) = &checkpoint
                && tree.size() == *cp_size
            {
                checkpoint_ok = tree.root().as_slice() == cp_root.as_slice();
            }
        }
        if mode != TileCheck::Ignore {
            let ids: Vec<TileId> = full.iter().map(|(id, _)| *id).collect();
            let stored = fetch_tiles(&mut *pool.acquire().await?, &ids).await?;
            for (id, hashes) in full {
                match stored.get(&id) {
                    Some(have) if *have == hashes => {}
                    Some(_) => return Err(LoadError::TileMismatch(id).into()),
                    None if mode == TileCheck::StoreMissing => missing.push((id, hashes)),
                    None => {
                        return Err(LoadError::from(tiles::TileError::MissingTile { id }).into());
                    }
                }
            }
        }
        if missing.len() >= 256 {
            insert_tiles(pool, &std::mem::take(&mut missing)).await?;
        }
        next += PAGE;
        progress(tree.size(), total);
    }
    insert_tiles(pool, &missing).await?;
    if let Some((cp_size, _)) = checkpoint
        && (!checkpoint_ok || cp_size > tree.size())
    {
        return Err(LoadError::NotExtendingCheckpoint(cp_size).into());
    }
    // The counters the store keeps must be the newest numbers its entries hold.
    let stored = load_seqs(&mut *pool.acquire().await?, kind).await?;
    seqs.matches(&stored)?;
    Ok(LogState::restored(tree, stored))
}

/// The full pass's view of sequence numbers: each (peer, direction)'s must rise with the
/// index (so none is given twice), and the newest of each is what the store's counters say.
#[derive(Default)]
struct SeqPass {
    newest: std::collections::HashMap<(String, String), u64>,
}

impl SeqPass {
    fn see(&mut self, row: &sqlx::any::AnyRow) -> Result<(), StoreError> {
        let key: (String, String) = (row.try_get("peer")?, row.try_get("dir")?);
        let seq = row.try_get::<i64, _>("seq")? as u64;
        let index = row.try_get::<i64, _>("idx")? as u64;
        let last = self.newest.entry(key).or_insert(0);
        if seq <= *last {
            return Err(LoadError::SeqNotRising { index, seq }.into());
        }
        *last = seq;
        Ok(())
    }

    fn matches(
        &self,
        stored: &std::collections::HashMap<(String, String), u64>,
    ) -> Result<(), StoreError> {
        let keys: std::collections::BTreeSet<&(String, String)> =
            self.newest.keys().chain(stored.keys()).collect();
        for key in keys {
            let (have, want) = (stored.get(key).copied(), self.newest.get(key).copied());
            if have != want {
                return Err(LoadError::SeqCounter {
                    peer: key.0.clone(),
                    dir: key.1.clone(),
                    stored: have.unwrap_or(0),
                    entries: want.unwrap_or(0),
                }
                .into());
            }
        }
        Ok(())
    }
}

/// What the full pass does with the stored tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TileCheck {
    /// Each must match the entries; a missing one is an error.
    Compare,
    /// As `Compare`, but missing ones are inserted (the upgrade of a store made before
    /// schema v8).
    StoreMissing,
    /// Not read (a store whose schema predates tiles, inspected before its upgrade).
    Ignore,
}

/// Store full tiles a pass computed (ignoring any already there).
async fn insert_tiles(pool: &AnyPool, tiles: &[(TileId, Vec<Hash>)]) -> Result<(), StoreError> {
    if tiles.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for (id, hashes) in tiles {
        sqlx::query(
            "INSERT INTO log_tiles (level, idx, hashes) VALUES ($1, $2, $3) ON CONFLICT (level, idx) DO NOTHING",
        )
        .bind(id.level as i64)
        .bind(id.index as i64)
        .bind(tiles::tile_to_bytes(hashes))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The stored full tiles `ids` (contiguous runs of one level are read with one query).
async fn fetch_tiles(
    c: &mut sqlx::AnyConnection,
    ids: &[TileId],
) -> Result<std::collections::HashMap<TileId, Vec<Hash>>, StoreError> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = std::collections::HashMap::with_capacity(sorted.len());
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut j = i + 1;
        while j < sorted.len()
            && sorted[j].level == first.level
            && sorted[j].index == sorted[j - 1].index + 1
        {
            j += 1;
        }
        let end = sorted[j - 1].index + 1;
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT idx, hashes FROM log_tiles WHERE level = $1 AND idx >= $2 AND idx < $3",
        )
        .bind(first.level as i64)
        .bind(first.index as i64)
        .bind(end as i64)
        .fetch_all(&mut *c)
        .await?;
        for (index, bytes) in rows {
            let id = TileId {
                level: first.level,
                index: index as u64,
            };
            let hashes = tiles::tile_from_bytes(&bytes).map_err(LoadError::from)?;
            out.insert(id, hashes);
        }
        i = j;
    }
    Ok(out)
}

/// The root of the first `size` leaves of `tree` (None if it holds fewer).
async fn root_at_of(
    c: &mut sqlx::AnyConnection,
    tree: &TiledTree,
    size: u64,
) -> Result<Option<Hash>, StoreError> {
    if size > tree.size() {
        return Ok(None);
    }
    let ids = tree.tiles_for_root_at(size).map_err(tile_arg)?;
    let held = fetch_tiles(c, &ids).await?;
    Ok(Some(tree.root_at(&held, size).map_err(LoadError::from)?))
}

fn tile_arg(e: merkle::ProofError) -> StoreError {
    StoreError::Malformed {
        what: "log proof request",
        source: e,
    }
}

/// A proof's outcome: the store failed, or the arguments do not fit the tree.
type Proof = Result<Result<Vec<Hash>, merkle::ProofError>, StoreError>;

fn proof_of(r: Result<Vec<Hash>, tiles::TileError>) -> Proof {
    match r {
        Ok(p) => Ok(Ok(p)),
        Err(tiles::TileError::Proof(e)) => Ok(Err(e)),
        Err(e) => Err(LoadError::from(e).into()),
    }
}

impl Store {
    /// Check the whole log (see [`check_log`]) without changing anything; returns its size.
    pub async fn check_log(
        &self,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        // A store whose schema predates the tiles (v8; not yet opened by a newer node) is
        // checked without them.
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM hfx_schema")
            .fetch_one(&self.pool)
            .await?;
        let mode = if version.unwrap_or(0) >= 8 {
            TileCheck::Compare
        } else {
            TileCheck::Ignore
        };
        Ok(check_log(&self.pool, self.kind, mode, progress)
            .await?
            .size())
    }

    /// The root of the log's first `size` entries, from the stored tiles (None beyond the
    /// committed size).
    pub async fn root_at(&self, size: u64) -> Result<Option<Hash>, StoreError> {
        let tree = self.log.lock().await.tree().clone();
        root_at_of(&mut *self.pool.acquire().await?, &tree, size).await
    }

    /// [`Store::root_at`] on a right edge taken earlier (so a size and a root read together
    /// stay consistent while the log grows).
    pub async fn root_at_in(
        &self,
        tree: &TiledTree,
        size: u64,
    ) -> Result<Option<Hash>, StoreError> {
        root_at_of(&mut *self.pool.acquire().await?, tree, size).await
    }

    /// RFC 6962 inclusion proof of entry `index` in the tree of `size` entries, from the
    /// stored tiles; the inner error is a request that does not fit the tree.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Proof {
        let tree = self.log.lock().await.tree().clone();
        let ids = match tree.tiles_for_inclusion(index, size) {
            Ok(ids) => ids,
            Err(e) => return Ok(Err(e)),
        };
        let held = fetch_tiles(&mut *self.pool.acquire().await?, &ids).await?;
        proof_of(tree.inclusion_proof(&held, index, size))
    }

    /// RFC 6962 consistency proof from `old_size` to `new_size`, from the stored tiles; the
    /// inner error is a request that does not fit the tree.
    pub async fn consistency_proof(&self, old_size: u64, new_size: u64) -> Proof {
        let tree = self.log.lock().await.tree().clone();
        let ids = match tree.tiles_for_consistency(old_size, new_size) {
            Ok(ids) => ids,
            Err(e) => return Ok(Err(e)),
        };
        let held = fetch_tiles(&mut *self.pool.acquire().await?, &ids).await?;
        proof_of(tree.consistency_proof(&held, old_size, new_size))
    }
}

/// The newest sequence number of each (peer, direction): on SQLite since schema v9 the
/// writer's counters (`log_seqs`); otherwise found by seeking the `(peer, dir, seq)` index
/// twice per pair. Either way without reading the log: a node starts in the same time on
/// ten entries as on ten million.
async fn load_seqs(
    c: &mut sqlx::AnyConnection,
    kind: StoreKind,
) -> Result<std::collections::HashMap<(String, String), u64>, StoreError> {
    if kind == StoreKind::Sqlite && has_seqs_table(c).await? {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT peer, dir, seq FROM log_seqs")
                .fetch_all(&mut *c)
                .await?;
        return Ok(rows
            .into_iter()
            .map(|(p, d, s)| ((p, d), s as u64))
            .collect());
    }
    let mut out = std::collections::HashMap::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let next: Option<(String, String)> = match &after {
            None => {
                sqlx::query_as("SELECT peer, dir FROM log_entries ORDER BY peer, dir LIMIT 1")
                    .fetch_optional(&mut *c)
                    .await?
            }
            Some((peer, dir)) => {
                // Two seeks, not a row-value comparison: SQLite walks the whole index for
                // `(peer, dir) > ($1, $2)` (3 s at 10M entries).
                let same_peer: Option<(String, String)> = sqlx::query_as(
                    "SELECT peer, dir FROM log_entries WHERE peer = $1 AND dir > $2 ORDER BY dir LIMIT 1",
                )
                .bind(peer.as_str())
                .bind(dir.as_str())
                .fetch_optional(&mut *c)
                .await?;
                match same_peer {
                    Some(next) => Some(next),
                    None => {
                        sqlx::query_as(
                            "SELECT peer, dir FROM log_entries WHERE peer > $1 ORDER BY peer, dir LIMIT 1",
                        )
                        .bind(peer.as_str())
                        .fetch_optional(&mut *c)
                        .await?
                    }
                }
            }
        };
        let Some((peer, dir)) = next else { break };
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM log_entries WHERE peer = $1 AND dir = $2")
                .bind(peer.as_str())
                .bind(dir.as_str())
                .fetch_one(&mut *c)
                .await?;
        out.insert((peer.clone(), dir.clone()), max.unwrap_or(0) as u64);
        after = Some((peer, dir));
    }
    Ok(out)
}

/// Whether a SQLite store keeps the writer's sequence counters (schema v9; an older store
/// opened offline does not).
async fn has_seqs_table(c: &mut sqlx::AnyConnection) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_seqs'",
    )
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

async fn last_checkpoint_root(
    c: &mut sqlx::AnyConnection,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let row = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT size, root FROM log_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|(s, r)| (s as u64, r)))
}

impl Store {
    /// Size and root of the newest signed checkpoint, if any.
    pub async fn last_checkpoint_root(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        last_checkpoint_root(&mut *self.pool.acquire().await?).await
    }

    /// Size and note of the newest signed checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, StoreError> {
        let row = sqlx::query_as::<_, (i64, String)>(
            "SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(s, n)| (s as u64, n)))
    }

    /// Keep a signed checkpoint (append-only table).
    pub async fn add_checkpoint(
        &self,
        size: u64,
        root: &[u8],
        note: &str,
    ) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Sql {
            sql: "INSERT INTO log_checkpoints (size, root, note, at_ms) VALUES ($1, $2, $3, $4)",
            args: vec![
                Val::I64(size as i64),
                Val::Bytes(root.to_vec()),
                note.into(),
                Val::I64(crate::now_ms()),
            ],
        }])
        .await
        .map(|_| ())
    }

    /// The bytes of the entry at `index` (as stored, or rebuilt from its columns), if any.
    pub async fn entry_at(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM log_entries WHERE idx = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(index as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(entry_of).transpose()
    }

    /// The log's size as stored: its largest index plus one (an index seek, where
    /// [`Store::entry_count`] counts rows; the two agree, the log has no gaps).
    pub async fn stored_size(&self) -> Result<u64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(idx) FROM log_entries")
            .fetch_one(&self.pool)
            .await?;
        Ok(last.map(|l| l as u64 + 1).unwrap_or(0))
    }

    /// How many entries are stored.
    pub async fn entry_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_entries")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// How many stored entries of each direction have a message type starting with
    /// `msg_type_prefix` (e.g. `MemberExchange/QueryMember#`): `(direction, count)`.
    pub async fn entry_counts_by_dir(
        &self,
        msg_type_prefix: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pattern = String::with_capacity(msg_type_prefix.len() + 1);
        for c in msg_type_prefix.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT dir, COUNT(*) FROM log_entries WHERE msg_type LIKE $1 ESCAPE '\\' GROUP BY dir",
        )
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(d, n)| (d, n as u64)).collect())
    }

    /// The sequence numbers stored for `peer` in direction `dir`, in order.
    pub async fn seqs_of(&self, peer: &str, dir: &str) -> Result<Vec<u64>, StoreError> {
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM log_entries WHERE peer = $1 AND dir = $2 ORDER BY seq",
        )
        .bind(peer)
        .bind(dir)
        .fetch_all(&self.pool)
        .await?;
        Ok(seqs.into_iter().map(|s| s as u64).collect())
    }

    /// Keep a witness's cosignature of our checkpoint of `size` (first one per witness wins).
    pub async fn add_cosignature(
        &self,
        size: u64,
        witness: &str,
        witness_key: &str,
        line: &str,
    ) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Sql {
            sql: "INSERT INTO log_cosignatures (size, witness, witness_key, line, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size, witness) DO NOTHING",
            args: vec![
                Val::I64(size as i64),
                witness.into(),
                witness_key.into(),
                line.into(),
                Val::I64(crate::now_ms()),
            ],
        }])
        .await
        .map(|_| ())
    }

    /// The largest checkpoint size `witness` has cosigned (0 if none).
    pub async fn cosigned_size(&self, witness: &str) -> Result<u64, StoreError> {
        let have: Option<i64> =
            sqlx::query_scalar("SELECT MAX(size) FROM log_cosignatures WHERE witness = $1")
                .bind(witness)
                .fetch_one(&self.pool)
                .await?;
        Ok(have.unwrap_or(0) as u64)
    }

    /// Largest checkpoint size with at least `quorum` (at least 1) cosignatures. A
    /// cosignature of size s also vouches for every smaller checkpoint (it was checked
    /// consistent), so witnesses that reached at least s count.
    pub async fn witnessed_size(&self, quorum: u32) -> Result<u64, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT size, COUNT(*) FROM log_cosignatures GROUP BY size ORDER BY size DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut best = 0u64;
        let mut sizes: Vec<u64> = rows.iter().map(|r| r.0 as u64).collect();
        sizes.sort_unstable();
        for s in sizes {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(DISTINCT witness) FROM log_cosignatures WHERE size >= $1",
            )
            .bind(s as i64)
            .fetch_one(&self.pool)
            .await?;
            if n as u32 >= quorum.max(1) {
                best = s;
            }
        }
        Ok(best)
    }
}
