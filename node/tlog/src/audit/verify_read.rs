//! Reading an export for verification. Like [`super::parse`], but a line that cannot be
//! read (a checkpoint or cosignature that is not base64 or not UTF-8, a malformed
//! cosignature, disclosure or payload line) becomes a finding naming its section and file
//! line, and reading goes on, so the verifier reports everything wrong with the file rather
//! than stopping at the first bad byte. Only a broken structure (the first line, the header,
//! a count line, truncation) stops it, and the error names the line it stopped at.

use super::export::MAGIC;
use super::{B64, Export, Problem};
use crate::merkle::Hash;
use anyhow::{Context, bail};
use base64::Engine;
use std::collections::HashMap;
use std::io::BufRead;

/// Where each item of an export sits in its file (1-based line numbers), so that every
/// finding can name its line.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// Line of entry 0 (entry `i` is on line `first_entry + i`).
    pub first_entry: u64,
    /// Line of each of `Export::checkpoints`, in order.
    pub checkpoints: Vec<u64>,
    /// Line of each of `Export::cosignatures`, in order.
    pub cosignatures: Vec<u64>,
    /// Line of each of `Export::disclosures`, in order.
    pub disclosures: Vec<u64>,
    /// Line of each payload, by hash (empty when not known).
    pub payloads: HashMap<Hash, u64>,
}

impl Lines {
    /// The lines of an export written in the standard layout with nothing left out (what
    /// [`super::parse`] accepts): six header lines, then each section after its count line.
    pub fn of(e: &Export) -> Self {
        let first_entry = 7;
        let cp0 = first_entry + e.entries.len() as u64 + 1;
        let cs0 = cp0 + e.checkpoints.len() as u64 + 1;
        let d0 = cs0 + e.cosignatures.len() as u64 + 1;
        Self {
            first_entry,
            checkpoints: (0..e.checkpoints.len() as u64).map(|j| cp0 + j).collect(),
            cosignatures: (0..e.cosignatures.len() as u64).map(|j| cs0 + j).collect(),
            disclosures: (0..e.disclosures.len() as u64).map(|j| d0 + j).collect(),
            payloads: HashMap::new(),
        }
    }

    /// File line of entry `i`.
    pub fn entry(&self, i: u64) -> u64 {
        self.first_entry + i
    }
}

/// An export as read for verification: what could be read, where it was, and the lines that
/// could not be read.
pub struct ReadExport {
    pub export: Export,
    pub lines: Lines,
    /// One per unreadable line, in file order (kinds `checkpoint_unreadable`,
    /// `cosignature_unreadable`, `disclosure_unreadable`, `payload_unreadable`).
    pub findings: Vec<Problem>,
}

impl ReadExport {
    /// An export already in memory (nothing unreadable, standard layout).
    pub fn from_export(export: Export) -> Self {
        let lines = Lines::of(&export);
        Self {
            export,
            lines,
            findings: Vec::new(),
        }
    }
}

pub(super) struct Reader<'r, R> {
    pub(super) r: &'r mut R,
    pub(super) buf: Vec<u8>,
    /// Line number of the line last read.
    pub(super) line: u64,
}

impl<R: BufRead> Reader<'_, R> {
    pub(super) fn raw(&mut self) -> anyhow::Result<Option<&[u8]>> {
        self.buf.clear();
        if self.r.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(Some(self.buf.as_slice()))
    }

    /// A line that must be there (else the export is truncated).
    pub(super) fn bytes(&mut self, what: &str) -> anyhow::Result<&[u8]> {
        let next = self.line + 1;
        self.raw()?
            .with_context(|| format!("line {next}: export ends before {what} (truncated)"))
    }

    /// A structural line, which must be UTF-8.
    pub(super) fn text(&mut self, what: &str) -> anyhow::Result<String> {
        let line = self.line + 1;
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).with_context(|| format!("line {line} ({what}): not UTF-8"))
    }

    pub(super) fn value(&mut self, key: &str) -> anyhow::Result<String> {
        let l = self.text(&format!("`{key}`"))?;
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(' '))
            .map(str::to_string)
            .with_context(|| format!("line {}: expected `{key} ...`, found {l:?}", self.line))
    }

    pub(super) fn count(&mut self, key: &str) -> anyhow::Result<u64> {
        let v = self.value(key)?;
        v.parse()
            .with_context(|| format!("line {}: `{key}` count {v:?}", self.line))
    }
}

fn unreadable(kind: &str, section: &str, index: u64, line: u64, why: String) -> Problem {
    Problem {
        kind: kind.into(),
        at: None,
        detail: format!("{section}[{index}] (line {line}): {why}"),
    }
}

/// Read an export for [`super::verify_read`], calling `progress(entries_read, total)`.
pub fn read_for_verify(
    r: &mut impl BufRead,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<ReadExport> {
    let mut rd = Reader {
        r,
        buf: Vec::with_capacity(512),
        line: 0,
    };
    let magic = rd.text("the first line")?;
    if magic != MAGIC {
        bail!("line 1: not an hfx log export (first line {magic:?})");
    }
    let centre = rd.value("centre")?;
    let origin = rd.value("origin")?;
    let vkey = rd.value("vkey")?;
    let _at = rd.text("`exported_at_ms`")?;
    let n = rd.count("entries")?;
    let mut lines = Lines {
        first_entry: rd.line + 1,
        ..Lines::default()
    };
    let mut findings = Vec::new();
    let mut entries = Vec::with_capacity(n.min(1 << 24) as usize);
    for i in 0..n {
        entries.push(rd.bytes(&format!("entry {i} of {n}"))?.to_vec());
        if i.is_multiple_of(100_000) {
            progress(i, n);
        }
    }
    progress(n, n);
    let k = rd.count("checkpoints")?;
    let mut checkpoints = Vec::new();
    for j in 0..k {
        let note = checkpoint_note(rd.bytes(&format!("checkpoint {j} of {k}"))?);
        let line = rd.line;
        match note {
            Ok(note) => {
                checkpoints.push(note);
                lines.checkpoints.push(line);
            }
            Err(why) => findings.push(unreadable(
                "checkpoint_unreadable",
                "checkpoints",
                j,
                line,
                why,
            )),
        }
    }
    let c = rd.count("cosignatures")?;
    let mut cosignatures = Vec::new();
    for j in 0..c {
        let cs = cosignature(rd.bytes(&format!("cosignature {j} of {c}"))?);
        let line = rd.line;
        match cs {
            Ok(cs) => {
                cosignatures.push(cs);
                lines.cosignatures.push(line);
            }
            Err(why) => findings.push(unreadable(
                "cosignature_unreadable",
                "cosignatures",
                j,
                line,
                why,
            )),
        }
    }
    let d = rd.count("disclosures")?;
    let mut disclosures = Vec::new();
    for j in 0..d {
        let rec = serde_json::from_slice(rd.bytes(&format!("disclosure {j} of {d}"))?);
        let line = rd.line;
        match rec {
            Ok(rec) => {
                disclosures.push(rec);
                lines.disclosures.push(line);
            }
            Err(e) => findings.push(unreadable(
                "disclosure_unreadable",
                "disclosures",
                j,
                line,
                format!("not a disclosure record: {e}"),
            )),
        }
    }
    let p = rd.count("payloads")?;
    let mut payloads = HashMap::new();
    for j in 0..p {
        let pl = payload(rd.bytes(&format!("payload {j} of {p}"))?);
        let line = rd.line;
        match pl {
            Ok((hash, data)) => {
                payloads.insert(hash, data);
                lines.payloads.insert(hash, line);
            }
            Err(why) => findings.push(unreadable("payload_unreadable", "payloads", j, line, why)),
        }
    }
    let end = rd.text("`end`")?;
    if end != "end" {
        bail!(
            "line {}: export does not end with `end` (found {end:?}): truncated or has trailing data",
            rd.line
        );
    }
    Ok(ReadExport {
        export: Export {
            centre,
            origin,
            vkey,
            entries,
            checkpoints,
            cosignatures,
            disclosures,
            payloads,
        },
        lines,
        findings,
    })
}

/// A checkpoint line: the base64 of a signed note.
pub(super) fn checkpoint_note(l: &[u8]) -> Result<String, String> {
    std::str::from_utf8(l)
        .map_err(|e| format!("not base64 (byte {} is not UTF-8)", e.valid_up_to()))
        .and_then(|s| B64.decode(s.trim()).map_err(|e| format!("not base64: {e}")))
        .and_then(|b| {
            String::from_utf8(b).map_err(|e| {
                format!(
                    "the signed note is not UTF-8 (byte {} of the note)",
                    e.utf8_error().valid_up_to()
                )
            })
        })
}

/// `<size> <witness origin> <witness key base64> <base64 signature line>` (the key may be
/// missing in old exports).
pub(super) fn cosignature(l: &[u8]) -> Result<(u64, String, String, String), String> {
    let s = std::str::from_utf8(l)
        .map_err(|e| format!("not UTF-8 (byte {} of the line)", e.valid_up_to()))?;
    let parts: Vec<&str> = s.split(' ').collect();
    if parts.len() < 3 {
        return Err(format!("malformed cosignature line {s:?}"));
    }
    let size = parts[0]
        .parse()
        .map_err(|_| format!("size {:?} is not a number", parts[0]))?;
    let sig = B64
        .decode(parts[parts.len() - 1])
        .map_err(|e| format!("signature line is not base64: {e}"))?;
    let sig = String::from_utf8(sig).map_err(|e| {
        format!(
            "the signature line is not UTF-8 (byte {} of it)",
            e.utf8_error().valid_up_to()
        )
    })?;
    let key = if parts.len() == 4 {
        parts[2].to_string()
    } else {
        String::new()
    };
    Ok((size, parts[1].to_string(), key, sig))
}

/// `<sha256 hex> <base64 payload | ->`.
fn payload(l: &[u8]) -> Result<(Hash, Option<Vec<u8>>), String> {
    let mut data = Vec::new();
    let (hash, present) = payload_into(l, &mut data)?;
    Ok((hash, present.then_some(data)))
}

/// [`payload`] decoding into `out` (cleared first; untouched for a purged payload): the
/// name, and whether the payload is present.
fn payload_into(l: &[u8], out: &mut Vec<u8>) -> Result<(Hash, bool), String> {
    let s = std::str::from_utf8(l)
        .map_err(|e| format!("not UTF-8 (byte {} of the line)", e.valid_up_to()))?;
    let (h, data) = s
        .split_once(' ')
        .ok_or_else(|| "malformed payload line".to_string())?;
    let mut hash: Hash = [0; 32];
    hex::decode_to_slice(h, &mut hash)
        .map_err(|_| format!("payload name {h:?} is not a SHA-256"))?;
    if data == "-" {
        return Ok((hash, false));
    }
    out.clear();
    B64.decode_vec(data, out)
        .map_err(|e| format!("payload {h} is not base64: {e}"))?;
    Ok((hash, true))
}
