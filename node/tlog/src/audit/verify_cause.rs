//! Finding the root cause when a checkpoint's signed root no longer matches the entries:
//! the entries before the last checkpoint that still verifies are proven unchanged, so the
//! change is among the entries from there up to the first checkpoint that fails; within that
//! range each entry is checked on its own (its form, its direction, its sequence number, its
//! payload hash against the exported payloads, its message id against its payload's) to name
//! the exact index.

use super::verify_read::Lines;
use super::{Export, Problem};
use crate::merkle;
use crate::{Envelope, RECV, SENT};
use std::collections::BTreeMap;

/// At most this many entries are named one by one; the rest are counted.
const MAX_NAMED: usize = 20;

/// What in entry `line` itself shows it was changed (`None`: nothing; the change may still
/// be there, e.g. a changed letter in a field nothing else repeats).
pub(super) fn entry_evidence(e: &Export, line: &[u8]) -> Option<String> {
    if let Err(err) = std::str::from_utf8(line) {
        return Some(format!("not UTF-8 (byte {})", err.valid_up_to()));
    }
    let env: Envelope = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(err) => return Some(format!("not an hfx envelope ({err})")),
    };
    let again = env.entry_bytes();
    if again != line {
        let at = again
            .iter()
            .zip(line)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(line.len()));
        return Some(format!(
            "not in the form the node writes (differs at byte {at})"
        ));
    }
    if env.dir != SENT && env.dir != RECV && env.dir != super::COMMIT_DIR {
        return Some(format!("direction {:?}", env.dir));
    }
    if !["#request", "#reply", "#record"]
        .iter()
        .any(|p| env.msg_type.ends_with(p))
    {
        return Some(format!("msg_type {:?}", env.msg_type));
    }
    let hash = hex::decode(&env.payload_sha256)
        .ok()
        .and_then(|h| merkle::hash_from_slice(&h).ok())
        .filter(|_| env.payload_sha256.bytes().all(|b| !b.is_ascii_uppercase()));
    let Some(hash) = hash else {
        return Some(format!(
            "payload_sha256 {:?} is not a SHA-256",
            env.payload_sha256
        ));
    };
    if e.payloads.is_empty() {
        return None;
    }
    let Some(payload) = e.payloads.get(&hash) else {
        return Some(format!(
            "its payload_sha256 {} names no payload in the export",
            env.payload_sha256
        ));
    };
    let payload_mid = payload.as_deref().and_then(|p| payload_message_id(&env, p));
    match payload_mid {
        Some(m) if m != env.message_id => Some(format!(
            "message_id {:?} is not its payload's ({m:?})",
            env.message_id
        )),
        _ => None,
    }
}

/// The message id inside a member query's request or reply payload.
fn payload_message_id(env: &Envelope, payload: &[u8]) -> Option<String> {
    use prost::Message;
    let method = crate::methods::METHOD_QUERY;
    let (m, part) = env.msg_type.split_once('#')?;
    if m != method {
        return None;
    }
    match part {
        "request" => hfx_proto::v1::PeerMemberQuery::decode(payload)
            .ok()?
            .header
            .map(|h| h.message_id),
        "reply" => hfx_proto::v1::PeerMemberReply::decode(payload)
            .ok()?
            .receipt
            .map(|r| r.message_id),
        _ => None,
    }
}

/// The findings that name the changed entries in `good..bad` (`good`: size of the last
/// checkpoint that verifies, or 0; `bad`: size of the first checkpoint after it whose root
/// differs, on line `bad_line`). `entry_problems`: what the entry pass found, by index.
pub(super) fn explain(
    e: &Export,
    lines: &Lines,
    good: u64,
    bad: u64,
    bad_line: u64,
    entry_problems: &BTreeMap<u64, String>,
) -> Vec<Problem> {
    let why = format!(
        "the root over entries 0..{bad} is not the root signed in the checkpoint at size {bad} (line {bad_line}){}",
        if good > 0 {
            format!(", while the checkpoint at size {good} still verifies")
        } else {
            String::new()
        }
    );
    let mut named = Vec::new();
    let mut more = 0u64;
    for i in good..bad.min(e.entries.len() as u64) {
        let evidence = entry_problems
            .get(&i)
            .cloned()
            .or_else(|| entry_evidence(e, &e.entries[i as usize]));
        if let Some(ev) = evidence {
            if named.len() < MAX_NAMED {
                named.push((i, ev));
            } else {
                more += 1;
            }
        }
    }
    if named.is_empty() {
        return vec![Problem {
            kind: "entries_changed".into(),
            at: Some(good),
            detail: format!(
                "entries {good}..{} (lines {}–{}): one of them was changed, removed or inserted: {why}; no entry shows it on its own",
                bad - 1,
                lines.entry(good),
                lines.entry(bad.max(1) - 1)
            ),
        }];
    }
    let mut out: Vec<Problem> = named
        .into_iter()
        .enumerate()
        .map(|(k, (i, ev))| Problem {
            kind: "entry_changed".into(),
            at: Some(i),
            detail: if k == 0 {
                format!("entry {i} (line {}): {ev}; {why}", lines.entry(i))
            } else {
                format!("entry {i} (line {}): {ev}", lines.entry(i))
            },
        })
        .collect();
    if more > 0 {
        out.push(Problem {
            kind: "entry_changed".into(),
            at: None,
            detail: format!("{more} more entries in {good}..{bad} show changes"),
        });
    }
    out
}

/// `a, b, c` for up to `max` items, then `… (N in all)`.
pub(super) fn list<T: std::fmt::Display>(items: &[T], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(", … ({} in all)", items.len()));
    }
    s
}
