//! Log rows: entries, payloads (stored by hash), signed checkpoints and the cosignatures
//! witnesses returned for them. Entries and payloads are inserted by the writer's batch
//! flush (`writer.rs`); here are the reads, the tree load, and checkpoint and cosignature
//! writes (through the writer).

use super::{Store, StoreError, Val, WriteOp};
use crate::log::{LogState, StoredEntry};
use sqlx::{AnyPool, Row};

/// Read every entry back and rebuild the tree (see [`LogState::rebuild`]).
pub(super) async fn load_tree(pool: &AnyPool) -> Result<LogState, StoreError> {
    let rows =
        sqlx::query("SELECT idx, peer, dir, seq, leaf_hash, entry FROM log_entries ORDER BY idx")
            .fetch_all(pool)
            .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push(StoredEntry {
            index: row.try_get::<i64, _>("idx")? as u64,
            peer: row.try_get("peer")?,
            dir: row.try_get("dir")?,
            seq: row.try_get::<i64, _>("seq")? as u64,
            leaf_hash: row.try_get("leaf_hash")?,
            entry: row.try_get("entry")?,
        });
    }
    let last = last_checkpoint_root(pool).await?;
    Ok(LogState::rebuild(entries, last)?)
}

async fn last_checkpoint_root(pool: &AnyPool) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let row = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT size, root FROM log_checkpoints ORDER BY size DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(s, r)| (s as u64, r)))
}

impl Store {
    /// Size and root of the newest signed checkpoint, if any.
    pub async fn last_checkpoint_root(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        last_checkpoint_root(&self.pool).await
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

    /// The stored entry bytes at `index`, if any.
    pub async fn entry_at(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT entry FROM log_entries WHERE idx = $1")
                .bind(index as i64)
                .fetch_optional(&self.pool)
                .await?,
        )
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
