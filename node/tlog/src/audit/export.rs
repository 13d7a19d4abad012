//! The export file (`hfx-log-export 1`, see the module above): writing it section by
//! section, parsing it back, and streaming its entries.

use super::B64;
use crate::merkle::{self, Hash};
use anyhow::{Context, bail};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, Write};

pub const MAGIC: &str = "hfx-log-export 1";

/// Who the export belongs to.
pub struct ExportHeader {
    pub centre: String,
    pub origin: String,
    pub vkey: String,
}

/// The direction of a log entry that commits to a disclosure record (not an exchange with
/// the peer: the reconciler skips it, and it has its own per-peer sequence numbers).
pub const COMMIT_DIR: &str = "local";
/// The `msg_type` of a disclosure's commitment entry; its payload is the record's
/// [`DisclosureRecord::canonical_bytes`].
pub const DISCLOSURE_RECORD: &str = "Disclosure#record";
/// The store schema version from which every disclosure is committed to the log; rows
/// written before it carry no `commit_index`.
pub const DISCLOSURE_COMMIT_SCHEMA: u32 = 3;

/// A disclosure row as exported: every column of the store's record. The fields after
/// `at_ms` were added with the log commitment (schema 3); an older export lacks them and
/// reads them as empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct DisclosureRecord {
    pub direction: String,
    pub peer: String,
    pub purpose: String,
    pub message_id: String,
    pub outcome: String,
    pub at_ms: i64,
    /// The store's row id (names the record in findings; not committed: it is assigned by
    /// the database after the commitment is built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default)]
    pub acting_person: String,
    #[serde(default)]
    pub legal_basis: String,
    #[serde(default)]
    pub subject_masked: String,
    /// A keyed hash of the subject's id (schema 5), so the member's own report finds the
    /// record; empty for records without one. Not reversible without the store's key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_key: String,
    /// The exchange's request entry, when the record points at one.
    #[serde(default)]
    pub log_index: Option<u64>,
    /// The leaf index of the entry committing to this record (`None`: written before
    /// schema [`DISCLOSURE_COMMIT_SCHEMA`]).
    #[serde(default)]
    pub commit_index: Option<u64>,
}

/// The committed form of a record: every column but the row id and the commitment's own
/// index, in a fixed order, as compact JSON (serde_json writes struct fields in declaration
/// order and escapes strings one way, so equal records give equal bytes).
#[derive(Serialize, Deserialize)]
struct Canonical<'a> {
    v: u32,
    at_ms: i64,
    #[serde(borrow)]
    direction: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    peer: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    acting_person: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    purpose: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    legal_basis: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    outcome: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    message_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    subject_masked: std::borrow::Cow<'a, str>,
    log_index: Option<u64>,
    /// Last, and left out when empty: a record without a subject key has the bytes it had
    /// before the field existed.
    #[serde(borrow, default, skip_serializing_if = "cow_is_empty")]
    subject_key: std::borrow::Cow<'a, str>,
}

#[allow(clippy::ptr_arg)] // serde passes the field itself: a &Cow
fn cow_is_empty(s: &std::borrow::Cow<'_, str>) -> bool {
    s.is_empty()
}

/// A disclosure line read as [`DisclosureRecord`] reads it (the same fields, defaults and
/// errors), its strings borrowed from the line where they need no unescaping: what the
/// streaming verifier checks a record with, without copying it.
#[derive(Deserialize)]
pub(super) struct DisclosureLine<'a> {
    #[serde(borrow)]
    direction: Cow<'a, str>,
    #[serde(borrow)]
    peer: Cow<'a, str>,
    #[serde(borrow)]
    purpose: Cow<'a, str>,
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    at_ms: i64,
    /// Read (so that a malformed one fails as it does in [`DisclosureRecord`]), not used.
    #[serde(default, rename = "id")]
    _id: Option<i64>,
    #[serde(borrow, default)]
    acting_person: Cow<'a, str>,
    #[serde(borrow, default)]
    legal_basis: Cow<'a, str>,
    #[serde(borrow, default)]
    subject_masked: Cow<'a, str>,
    #[serde(borrow, default)]
    subject_key: Cow<'a, str>,
    #[serde(default)]
    log_index: Option<u64>,
    #[serde(default)]
    pub(super) commit_index: Option<u64>,
}

/// The canonical form of a disclosure record or of its borrowed export line (both have the
/// same fields): one definition, so the bytes hashed on both sides cannot drift apart.
macro_rules! canonical {
    ($r:expr) => {{
        use std::borrow::Cow::Borrowed as B;
        Canonical {
            v: 1,
            at_ms: $r.at_ms,
            direction: B(&$r.direction),
            peer: B(&$r.peer),
            acting_person: B(&$r.acting_person),
            purpose: B(&$r.purpose),
            legal_basis: B(&$r.legal_basis),
            outcome: B(&$r.outcome),
            message_id: B(&$r.message_id),
            subject_masked: B(&$r.subject_masked),
            log_index: $r.log_index,
            subject_key: B(&$r.subject_key),
        }
    }};
}

impl DisclosureLine<'_> {
    /// SHA-256 of the record's [`DisclosureRecord::canonical_bytes`], written into `buf`
    /// (cleared first) on the way.
    pub(super) fn commitment(&self, buf: &mut Vec<u8>) -> Hash {
        use sha2::Digest;
        let c = canonical!(self);
        buf.clear();
        // Writing a struct of strings and numbers into a Vec cannot fail; were it to, the
        // bytes would differ and so would the hash: a finding, never a silent pass.
        let _ = serde_json::to_writer(&mut *buf, &c);
        sha2::Sha256::digest(&buf[..]).into()
    }
}

impl DisclosureRecord {
    /// The bytes its commitment entry's payload holds (and hashes).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let c = canonical!(self);
        serde_json::to_vec(&c).unwrap_or_default()
    }

    /// SHA-256 (hex) of [`Self::canonical_bytes`]: what the commitment entry's
    /// `payload_sha256` must be.
    pub fn commitment_sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.canonical_bytes()))
    }

    /// The record a commitment payload holds (no row id or commitment index), or `None` if
    /// the bytes are not a canonical record.
    pub fn from_canonical(bytes: &[u8]) -> Option<Self> {
        let c: Canonical<'_> = serde_json::from_slice(bytes).ok()?;
        (c.v == 1).then(|| DisclosureRecord {
            direction: c.direction.into_owned(),
            peer: c.peer.into_owned(),
            purpose: c.purpose.into_owned(),
            message_id: c.message_id.into_owned(),
            outcome: c.outcome.into_owned(),
            at_ms: c.at_ms,
            id: None,
            acting_person: c.acting_person.into_owned(),
            legal_basis: c.legal_basis.into_owned(),
            subject_masked: c.subject_masked.into_owned(),
            subject_key: c.subject_key.into_owned(),
            log_index: c.log_index,
            commit_index: None,
        })
    }

    /// How findings name it: its row id (or its position in the export) and message.
    pub fn name(&self, position: usize) -> String {
        match self.id {
            Some(id) => format!("disclosure #{id} (message {})", self.message_id),
            None => format!(
                "disclosure at position {position} (message {})",
                self.message_id
            ),
        }
    }

    /// Every committed field: (name, value as text), in canonical order.
    pub fn fields(&self) -> [(&'static str, String); 11] {
        [
            ("at_ms", self.at_ms.to_string()),
            ("direction", self.direction.clone()),
            ("peer", self.peer.clone()),
            ("acting_person", self.acting_person.clone()),
            ("purpose", self.purpose.clone()),
            ("legal_basis", self.legal_basis.clone()),
            ("outcome", self.outcome.clone()),
            ("message_id", self.message_id.clone()),
            ("subject_masked", self.subject_masked.clone()),
            (
                "log_index",
                self.log_index
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "none".into()),
            ),
            ("subject_key", self.subject_key.clone()),
        ]
    }
}

/// The header up to and including the `entries <N>` line.
pub fn write_header(
    out: &mut (impl Write + ?Sized),
    header: &ExportHeader,
    exported_at_ms: i64,
    entries: u64,
) -> std::io::Result<()> {
    writeln!(out, "{MAGIC}")?;
    writeln!(out, "centre {}", header.centre)?;
    writeln!(out, "origin {}", header.origin)?;
    writeln!(out, "vkey {}", header.vkey)?;
    writeln!(out, "exported_at_ms {exported_at_ms}")?;
    writeln!(out, "entries {entries}")
}

/// One entry line, exactly as hashed.
pub fn write_entry(out: &mut (impl Write + ?Sized), entry: &[u8]) -> std::io::Result<()> {
    out.write_all(entry)?;
    out.write_all(b"\n")
}

/// A section's count line: `checkpoints`, `cosignatures`, `disclosures` or `payloads`.
pub fn write_count(out: &mut (impl Write + ?Sized), section: &str, n: u64) -> std::io::Result<()> {
    writeln!(out, "{section} {n}")
}

/// One signed checkpoint note.
pub fn write_checkpoint(out: &mut (impl Write + ?Sized), note: &str) -> std::io::Result<()> {
    writeln!(out, "{}", B64.encode(note))
}

/// One cosignature: the checkpoint size, the witness's origin and key (base64), and its
/// signature line.
pub fn write_cosignature(
    out: &mut (impl Write + ?Sized),
    size: i64,
    witness: &str,
    witness_key: &str,
    line: &str,
) -> std::io::Result<()> {
    writeln!(out, "{size} {witness} {witness_key} {}", B64.encode(line))
}

/// One disclosure record as JSON.
pub fn write_disclosure(
    out: &mut (impl Write + ?Sized),
    d: &DisclosureRecord,
) -> std::io::Result<()> {
    let json = serde_json::to_string(d).map_err(std::io::Error::other)?;
    writeln!(out, "{json}")
}

/// One payload by its SHA-256; `None`: purged under the retention rules.
pub fn write_payload(
    out: &mut (impl Write + ?Sized),
    hash: &[u8],
    data: Option<&[u8]>,
) -> std::io::Result<()> {
    match data {
        Some(d) => writeln!(out, "{} {}", hex::encode(hash), B64.encode(d)),
        None => writeln!(out, "{} -", hex::encode(hash)),
    }
}

/// The closing line (a reader refuses an export without it as truncated), then flush.
pub fn write_end(out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    writeln!(out, "end")?;
    out.flush()
}

/// A parsed export.
pub struct Export {
    pub centre: String,
    pub origin: String,
    pub vkey: String,
    /// Entry lines, exactly as hashed.
    pub entries: Vec<Vec<u8>>,
    pub checkpoints: Vec<String>,
    /// (size, witness origin, witness key base64, signature line)
    pub cosignatures: Vec<(u64, String, String, String)>,
    pub disclosures: Vec<DisclosureRecord>,
    /// sha256 -> payload (None: purged)
    pub payloads: HashMap<Hash, Option<Vec<u8>>>,
}

fn header_value<'a>(line: &'a str, key: &str) -> anyhow::Result<&'a str> {
    line.strip_prefix(key)
        .and_then(|r| r.strip_prefix(' '))
        .with_context(|| format!("expected `{key} ...`, found {line:?}"))
}

fn count_line(r: &mut impl BufRead, key: &str, buf: &mut Vec<u8>) -> anyhow::Result<u64> {
    let line = read_line(r, buf)?.with_context(|| format!("export ends before `{key}`"))?;
    let s = std::str::from_utf8(line).context("header is not UTF-8")?;
    header_value(s, key)?
        .parse()
        .with_context(|| format!("`{key}` count"))
}

fn read_line<'a>(r: &mut impl BufRead, buf: &'a mut Vec<u8>) -> anyhow::Result<Option<&'a [u8]>> {
    buf.clear();
    if r.read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(Some(buf.as_slice()))
}

/// Parse an export, calling `progress(entries_read, total)`.
pub fn parse(r: &mut impl BufRead, progress: &dyn Fn(u64, u64)) -> anyhow::Result<Export> {
    let mut buf = Vec::with_capacity(512);
    let text = |r: &mut dyn BufRead, buf: &mut Vec<u8>| -> anyhow::Result<String> {
        let mut rr = r;
        let l = read_line(&mut rr, buf)?.context("export ends early")?;
        String::from_utf8(l.to_vec()).context("not UTF-8")
    };
    let magic = text(r, &mut buf)?;
    if magic != MAGIC {
        bail!("not an hfx log export (first line {magic:?})");
    }
    let centre = header_value(&text(r, &mut buf)?, "centre")?.to_string();
    let origin = header_value(&text(r, &mut buf)?, "origin")?.to_string();
    let vkey = header_value(&text(r, &mut buf)?, "vkey")?.to_string();
    let _at = text(r, &mut buf)?;
    let n = count_line(r, "entries", &mut buf)?;
    // The count is the file's word, not a promise: reserve for at most 65,536 entries up
    // front (a forged count must fail at the missing entry, not exhaust memory).
    let mut entries = Vec::with_capacity(n.min(1 << 16) as usize);
    for i in 0..n {
        let l =
            read_line(r, &mut buf)?.with_context(|| format!("export ends at entry {i} of {n}"))?;
        entries.push(l.to_vec());
        if i.is_multiple_of(100_000) {
            progress(i, n);
        }
    }
    progress(n, n);
    let k = count_line(r, "checkpoints", &mut buf)?;
    let mut checkpoints = Vec::new();
    for _ in 0..k {
        let l = text(r, &mut buf)?;
        checkpoints.push(
            String::from_utf8(B64.decode(l.trim()).context("checkpoint base64")?)
                .context("checkpoint UTF-8")?,
        );
    }
    let c = count_line(r, "cosignatures", &mut buf)?;
    let mut cosignatures = Vec::new();
    for _ in 0..c {
        let l = text(r, &mut buf)?;
        let parts: Vec<&str> = l.split(' ').collect();
        if parts.len() < 3 {
            bail!("malformed cosignature line {l:?}");
        }
        let line = String::from_utf8(
            B64.decode(parts[parts.len() - 1])
                .context("cosignature base64")?,
        )?;
        let key = if parts.len() == 4 {
            parts[2].to_string()
        } else {
            String::new()
        };
        cosignatures.push((
            parts[0].parse().context("cosignature size")?,
            parts[1].to_string(),
            key,
            line,
        ));
    }
    let d = count_line(r, "disclosures", &mut buf)?;
    let mut disclosures = Vec::new();
    for _ in 0..d {
        disclosures.push(serde_json::from_str(&text(r, &mut buf)?).context("disclosure line")?);
    }
    let p = count_line(r, "payloads", &mut buf)?;
    let mut payloads = HashMap::new();
    for _ in 0..p {
        let l = text(r, &mut buf)?;
        let (h, data) = l.split_once(' ').context("payload line")?;
        let hash = merkle::hash_from_slice(&hex::decode(h).context("payload hash")?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let data = if data == "-" {
            None
        } else {
            Some(B64.decode(data).context("payload base64")?)
        };
        payloads.insert(hash, data);
    }
    let end = text(r, &mut buf)?;
    if end != "end" {
        bail!("export does not end with `end` (found {end:?}): truncated or has trailing data");
    }
    Ok(Export {
        centre,
        origin,
        vkey,
        entries,
        checkpoints,
        cosignatures,
        disclosures,
        payloads,
    })
}

/// The fields of an entry line the verifier needs, found without a full JSON parse (the
/// node writes entries with a fixed field order; anything else fails here and is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFields<'a> {
    pub dir: &'a str,
    pub peer: &'a str,
    pub seq: u64,
    pub message_id: &'a str,
    pub msg_type: &'a str,
    pub at_ms: i64,
    pub payload_sha256: &'a str,
}

/// The string value after `pat` (e.g. `"dir":"`), up to the closing quote.
pub(super) fn str_field<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    let start = s.find(pat)? + pat.len();
    let end = s[start..].find('"')? + start;
    Some(&s[start..end])
}

/// The number after `pat` (e.g. `"seq":`).
fn num_field(s: &str, pat: &str) -> Option<i64> {
    let start = s.find(pat)? + pat.len();
    let end = s[start..].find([',', '}'])? + start;
    s[start..end].parse().ok()
}

pub(super) struct SeqFields<'a> {
    pub(super) dir: &'a str,
    pub(super) peer: &'a str,
    pub(super) seq: u64,
}

/// Direction, peer and sequence number: the fields are written in that order, so each search
/// starts where the last one ended.
pub(super) fn seq_fields(line: &[u8]) -> Option<SeqFields<'_>> {
    let s = std::str::from_utf8(line).ok()?;
    const DIR: &str = "{\"dir\":\"";
    let rest = s.strip_prefix(DIR)?;
    let dir_end = rest.find('"')?;
    let dir = &rest[..dir_end];
    let rest = rest[dir_end..].strip_prefix("\",\"peer\":\"")?;
    let peer_end = rest.find('"')?;
    let peer = &rest[..peer_end];
    let rest = rest[peer_end..].strip_prefix("\",\"seq\":")?;
    let seq_end = rest.find(',')?;
    let seq = rest[..seq_end].parse().ok()?;
    Some(SeqFields { dir, peer, seq })
}

/// Every field [`EntryFields`] names, each value found at the first occurrence of its key
/// anywhere in the line. In the layout the node writes this is one forward scan; any other
/// line is searched key by key, with the same result.
pub fn entry_fields(line: &[u8]) -> Option<EntryFields<'_>> {
    let s = std::str::from_utf8(line).ok()?;
    written_fields(s).or_else(|| searched_fields(s))
}

/// The string up to the first `"` (no quote in it), and what follows that quote.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let end = s.find('"')?;
    Some((&s[..end], &s[end + 1..]))
}

/// The number up to the first `,` or `}` (as [`num_field`] reads it), and the rest from there.
fn number(s: &str) -> Option<(i64, &str)> {
    let end = s.find([',', '}'])?;
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// The fields of a line in exactly the node's layout
/// `{"dir":"…","peer":"…","seq":N,"message_id":"…","case_id":"…","msg_type":"…","at_ms":N,"payload_sha256":"…"}`
/// with no `"` inside a value (`None` for any other line). Every `"` of such a line is a
/// key's or a value's own, so each key's first occurrence is the key itself: the result is
/// [`searched_fields`]'s.
pub(super) fn written_fields(s: &str) -> Option<EntryFields<'_>> {
    let r = s.strip_prefix("{\"dir\":\"")?;
    let (dir, r) = quoted(r)?;
    let r = r.strip_prefix(",\"peer\":\"")?;
    let (peer, r) = quoted(r)?;
    let r = r.strip_prefix(",\"seq\":")?;
    let (seq, r) = number(r)?;
    let r = r.strip_prefix(",\"message_id\":\"")?;
    let (message_id, r) = quoted(r)?;
    let r = r.strip_prefix(",\"case_id\":\"")?;
    let (_, r) = quoted(r)?;
    let r = r.strip_prefix(",\"msg_type\":\"")?;
    let (msg_type, r) = quoted(r)?;
    let r = r.strip_prefix(",\"at_ms\":")?;
    let (at_ms, r) = number(r)?;
    let r = r.strip_prefix(",\"payload_sha256\":\"")?;
    let (payload_sha256, r) = quoted(r)?;
    (r == "}").then_some(EntryFields {
        dir,
        peer,
        seq: seq as u64,
        message_id,
        msg_type,
        at_ms,
        payload_sha256,
    })
}

/// Each field at the first occurrence of its key, searched from the start of the line.
pub(super) fn searched_fields(s: &str) -> Option<EntryFields<'_>> {
    Some(EntryFields {
        dir: str_field(s, "\"dir\":\"")?,
        peer: str_field(s, "\"peer\":\"")?,
        seq: num_field(s, "\"seq\":")? as u64,
        message_id: str_field(s, "\"message_id\":\"")?,
        msg_type: str_field(s, "\"msg_type\":\"")?,
        at_ms: num_field(s, "\"at_ms\":")?,
        payload_sha256: str_field(s, "\"payload_sha256\":\"")?,
    })
}

/// The centre an export file belongs to (from its header).
pub fn export_centre(path: &std::path::Path) -> anyhow::Result<String> {
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut buf = Vec::new();
    let magic = read_line(&mut r, &mut buf)?
        .map(|l| l.to_vec())
        .unwrap_or_default();
    anyhow::ensure!(
        magic == MAGIC.as_bytes(),
        "{}: not an hfx log export",
        path.display()
    );
    let line = read_line(&mut r, &mut buf)?.context("export ends early")?;
    Ok(header_value(std::str::from_utf8(line)?, "centre")?.to_string())
}

/// Stream the entries of an export file into `f(line)`; returns the centre.
pub fn stream_entries(
    path: &std::path::Path,
    f: &mut dyn FnMut(&str, &[u8]),
) -> anyhow::Result<String> {
    let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut buf = Vec::with_capacity(512);
    let mut header = Vec::new();
    for _ in 0..5 {
        header.push(String::from_utf8(
            read_line(&mut r, &mut buf)?
                .context("export ends early")?
                .to_vec(),
        )?);
    }
    anyhow::ensure!(
        header[0] == MAGIC,
        "{}: not an hfx log export",
        path.display()
    );
    let centre = header_value(&header[1], "centre")?.to_string();
    let n = count_line(&mut r, "entries", &mut buf)?;
    for i in 0..n {
        let l = read_line(&mut r, &mut buf)?
            .with_context(|| format!("{}: ends at entry {i} of {n}", path.display()))?;
        f(&centre, l);
    }
    Ok(centre)
}
