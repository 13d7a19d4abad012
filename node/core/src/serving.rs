//! Whether this process serves: the writer lease among processes of one centre (failover)
//! and maintenance mode. Health and the peer/local faces read it; the lease loop
//! (crate::server::lease) and the operator's SetMaintenance change it (docs/failover.md).

use crate::error::{HfxError, REASON_MAINTENANCE, REASON_NOT_WRITER};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

#[derive(Debug)]
pub struct Serving {
    maintenance: AtomicBool,
    writer: AtomicBool,
    /// Bumped on every change, so health follows without polling.
    changed: watch::Sender<u64>,
}

impl Default for Serving {
    fn default() -> Self {
        Self {
            maintenance: AtomicBool::new(false),
            // A node without failover configured is its centre's only writer.
            writer: AtomicBool::new(true),
            changed: watch::Sender::new(0),
        }
    }
}

impl Serving {
    /// Maintenance mode is on: peers get UNAVAILABLE with reason MAINTENANCE.
    pub fn maintenance(&self) -> bool {
        self.maintenance.load(Ordering::SeqCst)
    }
    pub fn set_maintenance(&self, on: bool) {
        if self.maintenance.swap(on, Ordering::SeqCst) != on {
            self.changed.send_modify(|g| *g += 1);
        }
    }
    /// This process holds the writer lease (always, without failover).
    pub fn is_writer(&self) -> bool {
        self.writer.load(Ordering::SeqCst)
    }
    pub fn set_writer(&self, on: bool) {
        if self.writer.swap(on, Ordering::SeqCst) != on {
            self.changed.send_modify(|g| *g += 1);
        }
    }
    /// Peers and clerks are served: the writer, not in maintenance.
    pub fn serves(&self) -> bool {
        self.is_writer() && !self.maintenance()
    }
    /// Why this process refuses peer calls (and clerks' calls) now, if it does: UNAVAILABLE
    /// with a stable reason, so a caller tries the centre's next endpoint at once instead of
    /// waiting for a timeout. Maintenance first: the operator's word is the more useful one.
    pub fn refusal(&self) -> Option<HfxError> {
        if self.maintenance() {
            Some(HfxError::refused(
                tonic::Code::Unavailable,
                REASON_MAINTENANCE,
                "this node is in maintenance mode",
            ))
        } else if !self.is_writer() {
            Some(HfxError::refused(
                tonic::Code::Unavailable,
                REASON_NOT_WRITER,
                "this node is a standby: another process of the centre holds the writer lease",
            ))
        } else {
            None
        }
    }
    /// A receiver that sees every change (for health).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_reason_and_changes_are_seen() {
        let s = Serving::default();
        let mut rx = s.subscribe();
        assert!(s.serves() && s.refusal().is_none());
        s.set_writer(false);
        assert!(rx.has_changed().unwrap_or(false));
        rx.mark_unchanged();
        assert_eq!(s.refusal().map(|e| e.reason()), Some(REASON_NOT_WRITER));
        s.set_maintenance(true);
        assert_eq!(s.refusal().map(|e| e.reason()), Some(REASON_MAINTENANCE));
        s.set_writer(true);
        assert!(!s.serves());
        s.set_maintenance(false);
        assert!(s.serves());
        let code = s
            .refusal()
            .map(|e| e.code())
            .unwrap_or(tonic::Code::Unavailable);
        assert_eq!(code, tonic::Code::Unavailable);
    }
}
