//! The inbox: the reply stored for each (peer, message id) answered, so a retry gets the
//! same bytes. Rows are written by the writer inside the exchange's own commit.

use super::{Store, StoreError, Val};
use sqlx::Row;

/// A stored reply, as the writer keeps it in the exchange's commit: inserted with the batch's
/// other rows ([`INSERT_HEAD`], [`INSERT_ROW`]), after [`EXISTS`] found no earlier answer.
pub(super) struct InboxRow {
    pub(super) peer: String,
    pub(super) message_id: String,
    method: String,
    reply: Vec<u8>,
    created_ms: i64,
}

impl InboxRow {
    pub(super) const COLUMNS: usize = 5;

    pub(super) fn new(peer: &str, message_id: &str, method: &str, reply: &[u8]) -> Self {
        InboxRow {
            peer: peer.to_string(),
            message_id: message_id.to_string(),
            method: method.to_string(),
            reply: reply.to_vec(),
            created_ms: crate::now_ms(),
        }
    }

    /// The row's values, in [`INSERT_ROW`]'s order.
    pub(super) fn values(self) -> [Val; Self::COLUMNS] {
        [
            self.peer.into(),
            self.message_id.into(),
            self.method.into(),
            Val::Bytes(self.reply),
            Val::I64(self.created_ms),
        ]
    }
}

/// The multi-row insert's head and one row's placeholders (the writer numbers them for
/// PostgreSQL).
pub(super) const INSERT_HEAD: &str =
    "INSERT INTO inbox (peer, message_id, method, reply, created_ms) VALUES ";
pub(super) const INSERT_ROW: &str = "(?, ?, ?, ?, ?)";

/// Whether (peer, message id) was answered: the writer's check before it answers again.
pub(super) const EXISTS: &str = "SELECT 1 FROM inbox WHERE peer = $1 AND message_id = $2";

impl Store {
    /// A stored reply to (peer, message id), if this message was answered before:
    /// `(method, reply bytes)`.
    pub async fn inbox_get(
        &self,
        peer: &str,
        message_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        // Every received request asks this before anything else, and almost always finds
        // nothing: on SQLite it is a key lookup run inline ([`super::reader`]).
        if let Some(readers) = &self.readers {
            let found = readers.try_read(|c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached(
                    "SELECT method, reply FROM inbox WHERE peer = ?1 AND message_id = ?2",
                )?
                .query_row([peer, message_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
            });
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let row =
            sqlx::query("SELECT method, reply FROM inbox WHERE peer = $1 AND message_id = $2")
                .bind(peer)
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => Ok(Some((r.try_get("method")?, r.try_get("reply")?))),
            None => Ok(None),
        }
    }
}
