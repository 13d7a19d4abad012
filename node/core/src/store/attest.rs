//! Deposit-use certificates: those this centre issued (`attest_issued`: who asked, whose
//! account, the COSE bytes, a revocation once one is known) and those it received as the
//! lending centre (`attest_received`). Issue rows are written in the exchange's own commit.

use super::{Store, StoreError, Val, WriteOp};
use sqlx::Row;

/// A certificate this centre issued.
#[derive(Debug, Clone)]
pub struct IssuedRow {
    pub cert_id: String,
    pub peer: String,
    pub id_type: String,
    pub id_number: String,
    pub account_no: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub cose: Vec<u8>,
    /// (unix seconds, reason code, detail) once revoked.
    pub revoked: Option<(i64, String, String)>,
}

/// A certificate this centre received.
#[derive(Debug, Clone)]
pub struct ReceivedRow {
    pub cert_id: String,
    pub issuer: String,
    /// The subject's keyed hash, as disclosure records name it.
    pub subject_key: String,
    pub subject_masked: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub cose: Vec<u8>,
    pub received_ms: i64,
}

/// The record of an issue, for the exchange's commit.
#[allow(clippy::too_many_arguments)]
pub fn issued_op(
    cert_id: &str,
    peer: &str,
    message_id: &str,
    id_type: &str,
    id_number: &str,
    account_no: &str,
    issued_at: i64,
    expires_at: i64,
    cose: &[u8],
) -> WriteOp {
    WriteOp::Sql {
        sql: "INSERT INTO attest_issued (cert_id, peer, message_id, id_type, id_number, account_no, issued_at, expires_at, cose) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args: vec![
            cert_id.into(),
            peer.into(),
            message_id.into(),
            id_type.into(),
            id_number.into(),
            account_no.into(),
            Val::I64(issued_at),
            Val::I64(expires_at),
            Val::Bytes(cose.to_vec()),
        ],
    }
}

/// The record of a certificate received, beside the exchange's log entries. A retry that
/// received the same certificate again leaves the first row.
#[allow(clippy::too_many_arguments)]
pub fn received_op(
    cert_id: &str,
    issuer: &str,
    message_id: &str,
    subject_key: &str,
    subject_masked: &str,
    issued_at: i64,
    expires_at: i64,
    cose: &[u8],
) -> WriteOp {
    WriteOp::Sql {
        sql: "INSERT INTO attest_received (cert_id, issuer, message_id, subject_key, subject_masked, issued_at, expires_at, cose, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (cert_id) DO NOTHING",
        args: vec![
            cert_id.into(),
            issuer.into(),
            message_id.into(),
            subject_key.into(),
            subject_masked.into(),
            Val::I64(issued_at),
            Val::I64(expires_at),
            Val::Bytes(cose.to_vec()),
            Val::I64(crate::now_ms()),
        ],
    }
}

impl Store {
    /// Record a revocation; the first one stands (a later call changes nothing). Returns
    /// whether this call revoked it.
    pub async fn revoke_issued(
        &self,
        cert_id: &str,
        at: i64,
        reason: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let before = self.issued(cert_id).await?;
        if before.as_ref().is_none_or(|r| r.revoked.is_some()) {
            return Ok(false);
        }
        self.write(vec![WriteOp::Sql {
            sql: "UPDATE attest_issued SET revoked_at = $1, revoked_reason = $2, revoked_detail = $3 WHERE cert_id = $4 AND revoked_at IS NULL",
            args: vec![Val::I64(at), reason.into(), detail.into(), cert_id.into()],
        }])
        .await?;
        Ok(true)
    }

    /// A certificate this centre issued, by id.
    pub async fn issued(&self, cert_id: &str) -> Result<Option<IssuedRow>, StoreError> {
        let row = sqlx::query(
            "SELECT cert_id, peer, id_type, id_number, account_no, issued_at, expires_at, cose, revoked_at, revoked_reason, revoked_detail FROM attest_issued WHERE cert_id = $1",
        )
        .bind(cert_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let revoked_at: Option<i64> = r.try_get("revoked_at")?;
        let revoked = match revoked_at {
            Some(at) => Some((
                at,
                r.try_get::<Option<String>, _>("revoked_reason")?
                    .unwrap_or_default(),
                r.try_get::<Option<String>, _>("revoked_detail")?
                    .unwrap_or_default(),
            )),
            None => None,
        };
        Ok(Some(IssuedRow {
            cert_id: r.try_get("cert_id")?,
            peer: r.try_get("peer")?,
            id_type: r.try_get("id_type")?,
            id_number: r.try_get("id_number")?,
            account_no: r.try_get("account_no")?,
            issued_at: r.try_get("issued_at")?,
            expires_at: r.try_get("expires_at")?,
            cose: r.try_get("cose")?,
            revoked,
        }))
    }

    /// A certificate this centre received, by id.
    pub async fn received(&self, cert_id: &str) -> Result<Option<ReceivedRow>, StoreError> {
        let row = sqlx::query(
            "SELECT cert_id, issuer, subject_key, subject_masked, issued_at, expires_at, cose, received_ms FROM attest_received WHERE cert_id = $1",
        )
        .bind(cert_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ReceivedRow {
            cert_id: r.try_get("cert_id")?,
            issuer: r.try_get("issuer")?,
            subject_key: r.try_get("subject_key")?,
            subject_masked: r.try_get("subject_masked")?,
            issued_at: r.try_get("issued_at")?,
            expires_at: r.try_get("expires_at")?,
            cose: r.try_get("cose")?,
            received_ms: r.try_get("received_ms")?,
        }))
    }
}
