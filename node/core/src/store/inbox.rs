//! The inbox: the reply stored for each (peer, message id) answered, so a retry gets the
//! same bytes. Rows are written by the writer inside the exchange's own commit.

use super::{Store, StoreError, Val, WriteOp};
use sqlx::Row;

/// The insert of a reply, run by the writer in the exchange's commit.
pub(super) fn insert_op(peer: &str, message_id: &str, method: &str, reply: &[u8]) -> WriteOp {
    WriteOp::Sql {
        sql: "INSERT INTO inbox (peer, message_id, method, reply, created_ms) VALUES ($1, $2, $3, $4, $5)",
        args: vec![
            peer.into(),
            message_id.into(),
            method.into(),
            Val::Bytes(reply.to_vec()),
            Val::I64(crate::now_ms()),
        ],
    }
}

impl Store {
    /// A stored reply to (peer, message id), if this message was answered before:
    /// `(method, reply bytes)`.
    pub async fn inbox_get(
        &self,
        peer: &str,
        message_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
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
