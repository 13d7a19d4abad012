//! What the exchange log records about one message (DESIGN.md §5).
//!
//! An entry is the JSON [`Envelope`] (direction, peer, per-peer-per-direction sequence
//! number, message id, case id, type, time, SHA-256 of the exact wire bytes). Payloads are
//! stored beside the tree by hash, so personal data can be purged without breaking it.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What the log records about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// "sent" or "recv".
    pub dir: String,
    /// The other centre.
    pub peer: String,
    /// Per-peer, per-direction sequence number (assigned at append; 0 in drafts).
    pub seq: u64,
    pub message_id: String,
    pub case_id: String,
    /// gRPC method and part, e.g. `MemberExchange/QueryMember#request`.
    pub msg_type: String,
    pub at_ms: i64,
    /// SHA-256 (hex) of the exact wire bytes.
    pub payload_sha256: String,
}

pub const SENT: &str = "sent";
pub const RECV: &str = "recv";

impl Envelope {
    /// An envelope to append, stamped now; the log assigns its sequence number.
    pub fn draft(
        dir: &str,
        peer: &str,
        message_id: &str,
        case_id: &str,
        msg_type: &str,
        payload: &[u8],
    ) -> Self {
        Self {
            dir: dir.to_string(),
            peer: peer.to_string(),
            seq: 0,
            message_id: message_id.to_string(),
            case_id: case_id.to_string(),
            msg_type: msg_type.to_string(),
            at_ms: now_ms(),
            payload_sha256: hex::encode(Sha256::digest(payload)),
        }
    }

    /// The exact bytes hashed into the tree.
    pub fn entry_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The checkpoint origin line for a centre.
pub fn origin(zone: &str, centre: &str) -> String {
    format!("{zone}.hfx/{centre}")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
