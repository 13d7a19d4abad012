//! Money from the log: every transfer case one centre's log shows, rebuilt from the transfer
//! messages it sent and received (DESIGN §4, §5) and their payloads.
//!
//! A transition that sends a message commits with the message's SENT entry, and a received
//! message's effect commits with its RECV entry, so the log holds the money steps of a case:
//!
//! | log entry (this centre's)                         | what it proves                         |
//! |---------------------------------------------------|----------------------------------------|
//! | origin sent `TransferOut` (amount)                | the origin sealed the account, held it |
//! | origin sent `PaymentNotice` paid (amount, ref)    | the bank paid; the account is closed   |
//! | origin sent `PaymentNotice` not paid              | the hold is released, account reopened |
//! | origin sent `Refusal`                             | refused (any hold released first)      |
//! | destination sent `Completion` credited (amount)   | the member was credited (08)           |
//! | destination sent `Completion` not credited        | a negotiation is open                  |
//! | the peer's side of each, received                 | what the peer says it did              |
//! | replies (`TransferAck`, `CaseState`)              | the replier's state at that moment     |
//!
//! Steps that send nothing (origin: accepted, paid before the close-out is recorded,
//! releasing; destination: a clerk settling a negotiation) are not in the log: the store
//! holds them, and replay allows them (see `money_check`).
//!
//! [`MoneyCollector`] streams: it keeps only transfer entries, and of payloads only those
//! they name, so reconciling big exports needs no whole file in memory.

use super::export::str_field;
use super::{Export, entry_fields};
use crate::methods as m;
use prost::Message;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One money step seen in the log: the amount and the first time it was logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub amount_fen: i64,
    pub at_ms: i64,
    /// The bank's reference (a paid notice), or empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reference: String,
}

/// A state one side reported in a reply, with when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reported {
    pub state: String,
    pub at_ms: i64,
}

/// One transfer case as one centre's log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseLog {
    pub case_id: String,
    /// Whose log this is.
    pub centre: String,
    pub peer: String,
    /// "origin" or "destination", from the direction of its messages.
    pub role: String,
    pub letter_no: String,
    /// The letter's deadline (Unix ms), when the letter's payload is in the log.
    pub letter_deadline_ms: Option<i64>,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The transfer-out record: origin sent it (the hold), destination received it.
    pub held: Option<Evidence>,
    /// A paid payment notice: origin sent it (paid and closed), destination received it.
    pub paid: Option<Evidence>,
    /// A payment notice saying the payout failed (the hold released).
    pub released: Option<Evidence>,
    /// A completion saying the member was credited: destination sent it, origin received it.
    pub credited: Option<Evidence>,
    /// The credit settled a negotiation (national 20).
    pub negotiated: bool,
    /// A completion opening a negotiation.
    pub negotiating: Option<i64>,
    pub refused: Option<i64>,
    pub cancel_sent: Option<i64>,
    /// The latest state this centre reported in its own replies.
    pub own_state: Option<Reported>,
    /// The latest state the peer reported in its replies to this centre.
    pub peer_state: Option<Reported>,
    /// Transfer entries whose payload is purged or does not decode: their amounts are unknown.
    pub unreadable: u64,
    /// The log shows the case exists on this side: any transfer message, or a status query
    /// this side asked or answered knowing the case (an origin asked about a case it never
    /// saw, before its deadline, keeps none: only the query is logged).
    pub exists: bool,
}

impl CaseLog {
    fn new(case_id: &str, centre: &str, peer: &str, role: &str, at_ms: i64) -> Self {
        Self {
            case_id: case_id.into(),
            centre: centre.into(),
            peer: peer.into(),
            role: role.into(),
            letter_no: String::new(),
            letter_deadline_ms: None,
            first_ms: at_ms,
            last_ms: at_ms,
            held: None,
            paid: None,
            released: None,
            credited: None,
            negotiated: false,
            negotiating: None,
            refused: None,
            cancel_sent: None,
            own_state: None,
            peer_state: None,
            unreadable: 0,
            exists: false,
        }
    }

    pub fn is_origin(&self) -> bool {
        self.role == "origin"
    }

    /// The furthest state the log proves for this centre's side of the case (hfx's words,
    /// as `hfx_case::Status::as_str`). Silent steps after it are possible (see the module).
    pub fn state(&self) -> &str {
        let reported = |allowed: &[&str], r: &Option<Reported>| -> Option<String> {
            r.as_ref()
                .filter(|r| allowed.contains(&r.state.as_str()))
                .map(|r| r.state.clone())
        };
        let done = if self.negotiated {
            "negotiated_done"
        } else {
            "done"
        };
        if self.is_origin() {
            if self.credited.is_some() {
                return done;
            }
            if self.negotiating.is_some() {
                return "negotiating";
            }
            if self.released.is_some() {
                return "failed";
            }
            if self.paid.is_some() {
                return "closed";
            }
            if self.refused.is_some() {
                return "refused";
            }
            if self.held.is_some() {
                return "held";
            }
            match reported(&["cancelled", "expired"], &self.own_state).as_deref() {
                Some("cancelled") => "cancelled",
                Some("expired") => "expired",
                _ => "letter_received",
            }
        } else {
            if self.credited.is_some() {
                return done;
            }
            if self.negotiating.is_some() {
                return "negotiating";
            }
            if self.released.is_some() {
                return "failed";
            }
            if self.paid.is_some() {
                return "crediting";
            }
            if self.refused.is_some() {
                return "refused";
            }
            if self.held.is_some() {
                return "out_received";
            }
            match reported(
                &["letter_received", "accepted", "cancelled", "expired"],
                &self.peer_state,
            )
            .as_deref()
            {
                Some("cancelled") => "cancelled",
                Some("expired") => "expired",
                Some("accepted") => "accepted",
                Some("letter_received") => "letter_received",
                _ => "letter_sent",
            }
        }
    }
}

/// The transfer message an entry type names, and whether it is the request.
fn method_of(msg_type: &str) -> Option<(&'static str, bool)> {
    let (method, part) = msg_type.split_once('#')?;
    let request = match part {
        "request" => true,
        "reply" => false,
        _ => return None,
    };
    [
        m::METHOD_LETTER,
        m::METHOD_CANCEL,
        m::METHOD_COMPLETION,
        m::METHOD_TRANSFER_OUT,
        m::METHOD_REFUSAL,
        m::METHOD_PAYMENT,
        m::METHOD_QUERY_CASE,
    ]
    .into_iter()
    .find(|x| *x == method)
    .map(|x| (x, request))
}

/// Whether the destination sends this method's requests (else the origin does).
fn sent_by_destination(method: &str) -> bool {
    matches!(
        method,
        m::METHOD_LETTER | m::METHOD_CANCEL | m::METHOD_COMPLETION | m::METHOD_QUERY_CASE
    )
}

/// An entry waiting for its payload.
#[derive(Debug, Clone)]
struct Pending {
    case: usize,
    method: &'static str,
    request: bool,
    sent: bool,
    at_ms: i64,
}

/// Rebuilds [`CaseLog`]s from entries and payloads streamed in any order.
#[derive(Default)]
pub struct MoneyCollector {
    index: HashMap<(String, String), usize>,
    cases: Vec<CaseLog>,
    /// payload SHA-256 (hex) -> the entries that carry it
    pending: HashMap<String, Vec<Pending>>,
}

impl MoneyCollector {
    pub fn new() -> Self {
        Self::default()
    }

    /// One entry of `centre`'s log (anything but a transfer entry is skipped).
    pub fn add_entry(&mut self, centre: &str, line: &[u8]) {
        // Most entries of a big log are queries: rejected before the full parse.
        let transfer = std::str::from_utf8(line)
            .ok()
            .and_then(|s| str_field(s, "\"msg_type\":\""))
            .is_some_and(|t| t.starts_with("TransferExchange/"));
        if !transfer {
            return;
        }
        let Some(f) = entry_fields(line) else { return };
        let Some((method, request)) = method_of(f.msg_type) else {
            return;
        };
        let case_id = std::str::from_utf8(line)
            .ok()
            .and_then(|s| str_field(s, "\"case_id\":\""))
            .unwrap_or("");
        if case_id.is_empty() {
            return;
        }
        let sent = f.dir == crate::SENT;
        // Who sent this entry's message: the request's sender, or for a reply the other side.
        let sender_is_destination = sent_by_destination(method) == request;
        let role = if sent == sender_is_destination {
            "destination"
        } else {
            "origin"
        };
        let key = (centre.to_string(), case_id.to_string());
        let k = *self.index.entry(key).or_insert_with(|| {
            self.cases
                .push(CaseLog::new(case_id, centre, f.peer, role, f.at_ms));
            self.cases.len() - 1
        });
        let c = &mut self.cases[k];
        c.first_ms = c.first_ms.min(f.at_ms);
        c.last_ms = c.last_ms.max(f.at_ms);
        // A status query proves the case only when the destination asks it, or (below,
        // from the payload) when the origin's answer knows the case.
        if method != m::METHOD_QUERY_CASE || (role == "destination" && request && sent) {
            c.exists = true;
        }
        if method == m::METHOD_CANCEL && request && sent {
            c.cancel_sent = Some(c.cancel_sent.map_or(f.at_ms, |t| t.min(f.at_ms)));
        }
        self.pending
            .entry(f.payload_sha256.to_string())
            .or_default()
            .push(Pending {
                case: k,
                method,
                request,
                sent,
                at_ms: f.at_ms,
            });
    }

    /// Whether a payload (by its SHA-256, hex) is one an entry added so far carries.
    pub fn wants(&self, sha256_hex: &str) -> bool {
        self.pending.contains_key(sha256_hex)
    }

    /// A payload: applied to every entry that carries it. `None`: purged.
    pub fn add_payload(&mut self, sha256_hex: &str, payload: Option<&[u8]>) {
        let Some(list) = self.pending.remove(sha256_hex) else {
            return;
        };
        for p in list {
            let c = &mut self.cases[p.case];
            let ok = payload.is_some_and(|b| apply(c, &p, b));
            if !ok {
                c.unreadable += 1;
            }
        }
    }

    /// The cases, ordered by centre and case id. Entries whose payload never came are
    /// counted as unreadable.
    pub fn finish(mut self) -> Vec<CaseLog> {
        for (_, list) in std::mem::take(&mut self.pending) {
            for p in list {
                self.cases[p.case].unreadable += 1;
            }
        }
        let mut cases = self.cases;
        cases.sort_by(|a, b| (&a.centre, &a.case_id).cmp(&(&b.centre, &b.case_id)));
        cases
    }
}

fn earliest(slot: &mut Option<Evidence>, ev: Evidence) {
    match slot {
        Some(e) if e.at_ms <= ev.at_ms => {}
        _ => *slot = Some(ev),
    }
}

fn latest(slot: &mut Option<Reported>, state: String, at_ms: i64) {
    match slot {
        Some(r) if r.at_ms > at_ms => {}
        _ => *slot = Some(Reported { state, at_ms }),
    }
}

fn evidence(amount_fen: i64, at_ms: i64, reference: String) -> Evidence {
    Evidence {
        amount_fen,
        at_ms,
        reference,
    }
}

/// Apply one decoded message to its case; false when the payload does not decode.
fn apply(c: &mut CaseLog, p: &Pending, b: &[u8]) -> bool {
    use hfx_proto::v1 as pb;
    let at = p.at_ms;
    if !p.request {
        // A reply: the replier's state (own when this centre sent it).
        let state = if p.method == m::METHOD_QUERY_CASE {
            pb::CaseState::decode(b).ok().map(|s| s.state)
        } else {
            pb::TransferAck::decode(b).ok().map(|a| a.state)
        };
        let Some(state) = state else { return false };
        if !state.is_empty() && p.sent {
            c.exists = true;
        }
        if !state.is_empty() {
            let slot = if p.sent {
                &mut c.own_state
            } else {
                &mut c.peer_state
            };
            latest(slot, state, at);
        }
        return true;
    }
    match p.method {
        m::METHOD_LETTER => {
            let Ok(l) = pb::ContactLetter::decode(b) else {
                return false;
            };
            c.letter_no = l.letter_no;
            c.letter_deadline_ms = Some(l.deadline_unix_ms);
        }
        m::METHOD_TRANSFER_OUT => {
            let Ok(r) = pb::TransferOut::decode(b) else {
                return false;
            };
            earliest(&mut c.held, evidence(r.amount_fen, at, String::new()));
        }
        m::METHOD_PAYMENT => {
            let Ok(n) = pb::PaymentNotice::decode(b) else {
                return false;
            };
            if n.paid {
                earliest(&mut c.paid, evidence(n.amount_fen, at, n.bank_reference));
            } else {
                earliest(&mut c.released, evidence(0, at, n.reason));
            }
        }
        m::METHOD_COMPLETION => {
            let Ok(x) = pb::Completion::decode(b) else {
                return false;
            };
            if x.credited {
                earliest(&mut c.credited, evidence(x.credited_fen, at, String::new()));
                c.negotiated |= x.negotiated;
            } else if c.negotiating.is_none_or(|t| at < t) {
                c.negotiating = Some(at);
            }
        }
        m::METHOD_REFUSAL => {
            if pb::Refusal::decode(b).is_err() {
                return false;
            }
            c.refused = Some(c.refused.map_or(at, |t| t.min(at)));
        }
        // A cancel and a status query move no money; their replies say what happened.
        _ => {}
    }
    true
}

/// Every transfer case in one export.
pub fn case_logs(e: &Export) -> Vec<CaseLog> {
    let mut c = MoneyCollector::new();
    for line in &e.entries {
        c.add_entry(&e.centre, line);
    }
    let wanted: Vec<String> = c.pending.keys().cloned().collect();
    for h in wanted {
        let payload = hex::decode(&h)
            .ok()
            .and_then(|h| crate::merkle::hash_from_slice(&h).ok())
            .and_then(|h| e.payloads.get(&h).cloned().flatten());
        c.add_payload(&h, payload.as_deref());
    }
    c.finish()
}

/// Stream an export file once: its entries into `on_entry(centre, line)`, then the payloads
/// the collector wants into it. Returns the centre.
pub fn stream_money(
    path: &std::path::Path,
    on_entry: &mut dyn FnMut(&str, &[u8]),
    money: &mut MoneyCollector,
) -> anyhow::Result<String> {
    use anyhow::Context;
    use base64::Engine;
    use std::io::BufRead;
    let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut buf = Vec::with_capacity(512);
    let next =
        |r: &mut std::io::BufReader<std::fs::File>, buf: &mut Vec<u8>| -> anyhow::Result<Vec<u8>> {
            buf.clear();
            anyhow::ensure!(
                r.read_until(b'\n', buf)? > 0,
                "{}: export ends early",
                path.display()
            );
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Ok(std::mem::take(buf))
        };
    let count = |line: &[u8], key: &str| -> anyhow::Result<u64> {
        let s = std::str::from_utf8(line)?;
        s.strip_prefix(key)
            .and_then(|r| r.strip_prefix(' '))
            .with_context(|| format!("{}: expected `{key} N`, found {s:?}", path.display()))?
            .parse()
            .with_context(|| format!("{}: `{key}` count", path.display()))
    };
    let magic = next(&mut r, &mut buf)?;
    anyhow::ensure!(
        magic == super::MAGIC.as_bytes(),
        "{}: not an hfx log export",
        path.display()
    );
    let centre_line = String::from_utf8(next(&mut r, &mut buf)?)?;
    let centre = centre_line
        .strip_prefix("centre ")
        .with_context(|| format!("{}: no centre line", path.display()))?
        .to_string();
    for _ in 0..3 {
        next(&mut r, &mut buf)?;
    }
    let n = count(&next(&mut r, &mut buf)?, "entries")?;
    for _ in 0..n {
        let l = next(&mut r, &mut buf)?;
        on_entry(&centre, &l);
        money.add_entry(&centre, &l);
    }
    if money.pending.is_empty() {
        // No transfer entry: the payloads are not needed (as for messages alone, the rest of
        // the file is not read).
        return Ok(centre);
    }
    for section in ["checkpoints", "cosignatures", "disclosures"] {
        let k = count(&next(&mut r, &mut buf)?, section)?;
        for _ in 0..k {
            next(&mut r, &mut buf)?;
        }
    }
    let p = count(&next(&mut r, &mut buf)?, "payloads")?;
    for _ in 0..p {
        let l = next(&mut r, &mut buf)?;
        let s = std::str::from_utf8(&l)?;
        let (h, data) = s
            .split_once(' ')
            .with_context(|| format!("{}: payload line", path.display()))?;
        if !money.wants(h) {
            continue;
        }
        let bytes = if data == "-" {
            None
        } else {
            Some(
                super::B64
                    .decode(data)
                    .with_context(|| format!("{}: payload {h}: base64", path.display()))?,
            )
        };
        money.add_payload(h, bytes.as_deref());
    }
    let end = next(&mut r, &mut buf)?;
    anyhow::ensure!(
        end == b"end",
        "{}: export does not end with `end`: truncated",
        path.display()
    );
    Ok(centre)
}

/// Cases by id (those the logs show to exist), for joining one side with the other.
pub fn by_case(cases: &[CaseLog]) -> BTreeMap<&str, Vec<&CaseLog>> {
    let mut m: BTreeMap<&str, Vec<&CaseLog>> = BTreeMap::new();
    for c in cases.iter().filter(|c| c.exists) {
        m.entry(c.case_id.as_str()).or_default().push(c);
    }
    m
}
