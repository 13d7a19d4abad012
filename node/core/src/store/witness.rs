//! Witness state: the checkpoint we last cosigned for each peer (replaced only by
//! compare-and-swap), the checkpoints other witnesses were shown (gossip), and the evidence
//! kept against a misbehaving log (append-only).

use super::{Store, StoreError, Val, WriteOp};
use crate::log::merkle::{self, Hash};
use sqlx::Row;

/// The checkpoint we cosigned for a centre.
#[derive(Debug, Clone)]
pub struct Held {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

/// A checkpoint of a centre that another witness (`reporter`) was shown.
#[derive(Debug, Clone)]
pub struct Seen {
    pub root: Vec<u8>,
    pub note: String,
    pub reporter: String,
}

/// Evidence against a log: two notes and, where there is one, the proof that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    pub at_ms: i64,
    pub centre: String,
    pub kind: String,
    pub detail: String,
    pub old_note: String,
    pub new_note: String,
    /// The proof's hashes, concatenated (32 bytes each).
    pub proof: Vec<u8>,
    pub reported_by: String,
}

impl Store {
    /// What we cosigned for `centre`, if anything.
    pub async fn witness_held(&self, centre: &str) -> Result<Option<Held>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM witness_state WHERE centre = $1")
            .bind(centre)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let root: Vec<u8> = row.try_get("root")?;
        Ok(Some(Held {
            size: row.try_get::<i64, _>("size")? as u64,
            root: merkle::hash_from_slice(&root).map_err(|source| StoreError::Malformed {
                what: "witness_state.root",
                source,
            })?,
            note: row.try_get("note")?,
        }))
    }

    /// Replace what we hold for `centre` with (`size`, `root`, `note`), but only if it still
    /// is `prior` (None: we hold nothing yet). [`StoreError::Conflict`] when another
    /// checkpoint was stored first.
    pub async fn witness_swap(
        &self,
        centre: &str,
        prior: Option<(u64, &Hash)>,
        size: u64,
        root: &Hash,
        note: &str,
    ) -> Result<(), StoreError> {
        let now = Val::I64(crate::now_ms());
        let op = match prior {
            None => WriteOp::Cas {
                sql: "INSERT INTO witness_state (centre, size, root, note, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (centre) DO NOTHING",
                args: vec![
                    centre.into(),
                    Val::I64(size as i64),
                    Val::Bytes(root.to_vec()),
                    note.into(),
                    now,
                ],
            },
            Some((old_size, old_root)) => WriteOp::Cas {
                sql: "UPDATE witness_state SET size = $1, root = $2, note = $3, at_ms = $4 WHERE centre = $5 AND size = $6 AND root = $7",
                args: vec![
                    Val::I64(size as i64),
                    Val::Bytes(root.to_vec()),
                    note.into(),
                    now,
                    centre.into(),
                    Val::I64(old_size as i64),
                    Val::Bytes(old_root.to_vec()),
                ],
            },
        };
        self.write(vec![op]).await.map(|_| ())
    }

    /// Checkpoints of `centre` at `size` that other witnesses were shown.
    pub async fn witness_seen(&self, centre: &str, size: u64) -> Result<Vec<Seen>, StoreError> {
        let rows: Vec<(Vec<u8>, String, String)> = sqlx::query_as(
            "SELECT root, note, reporter FROM witness_seen WHERE centre = $1 AND size = $2",
        )
        .bind(centre)
        .bind(size as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(root, note, reporter)| Seen {
                root,
                note,
                reporter,
            })
            .collect())
    }

    /// Remember a checkpoint of `centre` that `reporter` was shown (once per size and root).
    pub async fn witness_remember_seen(
        &self,
        centre: &str,
        size: u64,
        root: &Hash,
        note: &str,
        reporter: &str,
    ) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Sql {
            sql: "INSERT INTO witness_seen (centre, size, root, note, reporter, at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (centre, size, root) DO NOTHING",
            args: vec![
                centre.into(),
                Val::I64(size as i64),
                Val::Bytes(root.to_vec()),
                note.into(),
                reporter.into(),
                Val::I64(crate::now_ms()),
            ],
        }])
        .await
        .map(|_| ())
    }

    /// Keep evidence (append-only); `at_ms` is set to now.
    pub async fn add_evidence(&self, e: &Evidence) -> Result<(), StoreError> {
        self.write(vec![WriteOp::Sql {
            sql: "INSERT INTO witness_evidence (at_ms, centre, kind, detail, old_note, new_note, proof, reported_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args: vec![
                Val::I64(crate::now_ms()),
                e.centre.as_str().into(),
                e.kind.as_str().into(),
                e.detail.as_str().into(),
                e.old_note.as_str().into(),
                e.new_note.as_str().into(),
                Val::Bytes(e.proof.clone()),
                e.reported_by.as_str().into(),
            ],
        }])
        .await
        .map(|_| ())
    }

    /// The newest `limit` pieces of evidence, newest first.
    pub async fn evidence(&self, limit: i64) -> Result<Vec<Evidence>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, centre, kind, detail, old_note, new_note, proof, reported_by FROM witness_evidence ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Evidence {
                at_ms: r.try_get("at_ms")?,
                centre: r.try_get("centre")?,
                kind: r.try_get("kind")?,
                detail: r.try_get("detail")?,
                old_note: r.try_get("old_note")?,
                new_note: r.try_get("new_note")?,
                proof: r.try_get("proof")?,
                reported_by: r.try_get("reported_by")?,
            });
        }
        Ok(out)
    }

    /// How many pieces of evidence are kept.
    pub async fn evidence_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM witness_evidence")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }
}
