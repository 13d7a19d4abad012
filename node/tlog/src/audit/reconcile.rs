//! Reconcile several centres' exports: both sides of every exchange.

use super::export::str_field;
use super::{Export, entry_fields};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One message whose two sides do not agree: `sent_not_received`, `received_never_sent` or
/// `payload_differs` (a payload received under the message that was never sent under it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub kind: String,
    pub from: String,
    pub to: String,
    pub message_id: String,
    pub msg_type: String,
    pub case_id: String,
    pub age_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub centres: Vec<String>,
    pub matched: u64,
    pub not_exported: u64,
    /// Entries that repeat a message already logged on the same side (a sender logs each
    /// retry of a message id, and each copy of the stored reply it gets; the receiver logs
    /// the first and answers the rest from its inbox). Counted, not breaks: the message is
    /// matched when both sides logged it and every payload received was sent.
    pub repeated: u64,
    pub breaks: Vec<Break>,
}

/// What one side logged under a message's key.
#[derive(Default)]
struct Side {
    /// How many entries (more than one: the key is repeated).
    n: u32,
    /// The distinct payload hash prefixes: the first inline (nearly always the only one),
    /// any others boxed.
    first: u64,
    // Boxed: 8 bytes instead of a Vec's 24 in a record kept for every message.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<u64>>>,
}

impl Side {
    fn add(&mut self, payload: u64) {
        if self.n == 0 {
            self.first = payload;
        } else if !self.has(payload) {
            self.more.get_or_insert_default().push(payload);
        }
        self.n = self.n.saturating_add(1);
    }

    fn has(&self, payload: u64) -> bool {
        self.n > 0
            && (self.first == payload || self.more.as_ref().is_some_and(|m| m.contains(&payload)))
    }

    fn payloads(&self) -> impl Iterator<Item = u64> + '_ {
        (self.n > 0)
            .then_some(self.first)
            .into_iter()
            .chain(self.more.iter().flat_map(|m| m.iter().copied()))
    }
}

/// The names a break is reported with (the same for every entry of a key).
struct Names {
    from: Box<str>,
    to: Box<str>,
    message_id: Box<str>,
    msg_type: Box<str>,
}

/// Everything seen of one message (sender, receiver, message id, type) on both sides. Only
/// counts, the set of payload hashes, the earliest time and the greatest case id are kept,
/// so the outcome is a function of the set of entries, never of the order they came in.
struct Slot {
    sent: Side,
    recv: Side,
    /// The earliest `at_ms` of any of its entries: a break's age.
    at_ms: i64,
    /// The greatest case id logged (the receiver logs the case, the sender may not).
    case_id: Box<str>,
    /// Dropped while the message is matched (see [`Slot::matched`]), which is nearly every
    /// message; kept whenever it may end in a break.
    names: Option<Box<Names>>,
}

impl Slot {
    /// Both sides logged the message, and every payload received was sent (a retry the
    /// receiver answered from its inbox was sent but never logged as received).
    fn matched(&self) -> bool {
        self.sent.n > 0 && self.recv.n > 0 && self.recv.payloads().all(|p| self.sent.has(p))
    }
}

/// Matches both sides of every exchange as entries stream past (so ten centres' 10,000,000
/// entries need neither all files in memory nor two passes). It keeps a small record per
/// message (see [`Slot`]) rather than forgetting a message once matched, so a repeated entry
/// is counted (`repeated`) instead of overwriting its first copy or waiting for a second
/// other side, and the report is the same for any order of the exports and of their entries.
pub struct Reconciler {
    centres: std::collections::BTreeSet<String>,
    slots: HashMap<u128, Slot>,
    not_exported: u64,
    now_ms: i64,
}

fn key_of(from: &str, to: &str, mid: &str, ty: &str) -> u128 {
    let mut h = Sha256::new();
    for part in [from, to, mid, ty] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    u128::from_be_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

impl Reconciler {
    pub fn new(centres: impl IntoIterator<Item = String>, now_ms: i64) -> Self {
        Self {
            centres: centres.into_iter().collect(),
            slots: HashMap::new(),
            not_exported: 0,
            now_ms,
        }
    }

    /// One entry of `centre`'s log.
    pub fn add(&mut self, centre: &str, line: &[u8]) {
        let Some(f) = entry_fields(line) else { return };
        // A disclosure's commitment is the centre's own record, not one side of an exchange.
        if f.dir == super::COMMIT_DIR {
            return;
        }
        if !self.centres.contains(f.peer) {
            self.not_exported += 1;
            return;
        }
        let case = std::str::from_utf8(line)
            .ok()
            .and_then(|s| str_field(s, "\"case_id\":\""))
            .unwrap_or("");
        let sent = f.dir == "sent";
        let (from, to) = if sent {
            (centre, f.peer)
        } else {
            (f.peer, centre)
        };
        let key = key_of(from, to, f.message_id, f.msg_type);
        let payload =
            u64::from_str_radix(f.payload_sha256.get(..16).unwrap_or("0"), 16).unwrap_or(0);
        let slot = self.slots.entry(key).or_insert_with(|| Slot {
            sent: Side::default(),
            recv: Side::default(),
            at_ms: f.at_ms,
            case_id: Box::default(),
            names: None,
        });
        if sent {
            slot.sent.add(payload);
        } else {
            slot.recv.add(payload);
        }
        slot.at_ms = slot.at_ms.min(f.at_ms);
        if *case > *slot.case_id {
            slot.case_id = case.into();
        }
        if slot.matched() {
            slot.names = None;
        } else if slot.names.is_none() {
            slot.names = Some(Box::new(Names {
                from: from.into(),
                to: to.into(),
                message_id: f.message_id.into(),
                msg_type: f.msg_type.into(),
            }));
        }
    }

    pub fn finish(self) -> ReconcileReport {
        let mut matched = 0;
        let mut repeated = 0;
        let mut breaks = Vec::new();
        for slot in self.slots.into_values() {
            repeated += u64::from(slot.sent.n.saturating_sub(1));
            repeated += u64::from(slot.recv.n.saturating_sub(1));
            let Some(names) = slot.names.as_deref() else {
                // Only a match drops its names.
                matched += 1;
                continue;
            };
            let brk = |kind: &str| Break {
                kind: kind.into(),
                from: names.from.to_string(),
                to: names.to.to_string(),
                message_id: names.message_id.to_string(),
                msg_type: names.msg_type.to_string(),
                case_id: slot.case_id.to_string(),
                age_seconds: (self.now_ms - slot.at_ms) / 1000,
            };
            match (slot.sent.n, slot.recv.n) {
                (_, 0) => breaks.push(brk("sent_not_received")),
                (0, _) => breaks.push(brk("received_never_sent")),
                _ if slot.matched() => matched += 1,
                _ => breaks.push(brk("payload_differs")),
            }
        }
        // Oldest first; the rest of the fields make the order total.
        breaks.sort_by(|a, b| {
            b.age_seconds
                .cmp(&a.age_seconds)
                .then_with(|| a.message_id.cmp(&b.message_id))
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.from.cmp(&b.from))
                .then_with(|| a.to.cmp(&b.to))
                .then_with(|| a.msg_type.cmp(&b.msg_type))
                .then_with(|| a.case_id.cmp(&b.case_id))
        });
        ReconcileReport {
            centres: self.centres.into_iter().collect(),
            matched,
            not_exported: self.not_exported,
            repeated,
            breaks,
        }
    }
}

/// Reconcile several centres' exports: every message one sent to another is received there
/// with the same payload hash, and nothing is received that was never sent.
pub fn reconcile(exports: &[Export], now_ms: i64) -> ReconcileReport {
    let mut r = Reconciler::new(exports.iter().map(|e| e.centre.clone()), now_ms);
    for e in exports {
        for line in &e.entries {
            r.add(&e.centre, line);
        }
    }
    r.finish()
}
