//! The auditor's tools (DESIGN.md §5): export a node's log, verify an export (roots,
//! signatures, cosignatures, sequence gaps, payload hashes), prove one entry's inclusion,
//! replay disclosures from the log alone and compare them with the store, and reconcile the
//! exports of several centres.
//!
//! Export format (`hfx-log-export 1`, line oriented so an auditor can read it with any tool):
//! ```text
//! hfx-log-export 1
//! centre <code>
//! origin <checkpoint origin>
//! vkey <the centre's note verifier key>
//! exported_at_ms <ms>
//! entries <N>
//! <entry JSON>            × N   (line i is leaf i; the leaf hash is SHA-256(0x00 ‖ line))
//! checkpoints <K>
//! <base64 signed note>    × K   (ascending size)
//! cosignatures <C>
//! <size> <witness origin> <witness key base64> <base64 signature line>   × C
//! disclosures <D>
//! <disclosure JSON>       × D   (what the store says happened)
//! payloads <P>
//! <sha256 hex> <base64 payload | ->   × P   ("-": purged under the retention rules)
//! end
//! ```

use crate::log::merkle::{self, Hash, Tree};
use crate::log::note::{Checkpoint, NoteVerifier, verify_cosignature};
use anyhow::{Context, bail};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
pub const MAGIC: &str = "hfx-log-export 1";

/// Who the export belongs to.
pub struct ExportHeader {
    pub centre: String,
    pub origin: String,
    pub vkey: String,
}

/// A disclosure row as exported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct DisclosureRecord {
    pub direction: String,
    pub peer: String,
    pub purpose: String,
    pub message_id: String,
    pub outcome: String,
    pub at_ms: i64,
}

/// Write the export of the store at `pool` to `out`, calling `progress(done, total)`.
pub async fn export(
    pool: &AnyPool,
    header: &ExportHeader,
    with_payloads: bool,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> anyhow::Result<u64> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_entries")
        .fetch_one(pool)
        .await?;
    writeln!(out, "{MAGIC}")?;
    writeln!(out, "centre {}", header.centre)?;
    writeln!(out, "origin {}", header.origin)?;
    writeln!(out, "vkey {}", header.vkey)?;
    writeln!(out, "exported_at_ms {}", crate::now_ms())?;
    writeln!(out, "entries {total}")?;
    let mut next: i64 = 0;
    const PAGE: i64 = 50_000;
    while next < total {
        let rows = sqlx::query(
            "SELECT idx, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        )
        .bind(next)
        .bind(next + PAGE)
        .fetch_all(pool)
        .await?;
        for r in rows {
            let idx: i64 = r.try_get("idx")?;
            anyhow::ensure!(idx == next, "store has a gap in the log at index {next}");
            let entry: Vec<u8> = r.try_get("entry")?;
            out.write_all(&entry)?;
            out.write_all(b"\n")?;
            next += 1;
        }
        progress(next as u64, total as u64);
    }
    let cps = sqlx::query("SELECT note FROM log_checkpoints WHERE size <= $1 ORDER BY size")
        .bind(total)
        .fetch_all(pool)
        .await?;
    writeln!(out, "checkpoints {}", cps.len())?;
    for r in &cps {
        let note: String = r.try_get("note")?;
        writeln!(out, "{}", B64.encode(note))?;
    }
    let cos = sqlx::query("SELECT size, witness, witness_key, line FROM log_cosignatures WHERE size <= $1 ORDER BY size, witness").bind(total).fetch_all(pool).await?;
    writeln!(out, "cosignatures {}", cos.len())?;
    for r in &cos {
        let size: i64 = r.try_get("size")?;
        let witness: String = r.try_get("witness")?;
        let key: String = r.try_get("witness_key")?;
        let line: String = r.try_get("line")?;
        writeln!(out, "{size} {witness} {key} {}", B64.encode(line))?;
    }
    let dis = sqlx::query(
        "SELECT at_ms, direction, peer, purpose, message_id, outcome FROM disclosures ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    writeln!(out, "disclosures {}", dis.len())?;
    for r in &dis {
        let d = DisclosureRecord {
            direction: r.try_get("direction")?,
            peer: r.try_get("peer")?,
            purpose: r.try_get("purpose")?,
            message_id: r.try_get("message_id")?,
            outcome: r.try_get("outcome")?,
            at_ms: r.try_get("at_ms")?,
        };
        writeln!(out, "{}", serde_json::to_string(&d)?)?;
    }
    if with_payloads {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM log_payloads")
            .fetch_one(pool)
            .await?;
        writeln!(out, "payloads {n}")?;
        let rows = sqlx::query("SELECT hash, data FROM log_payloads ORDER BY hash")
            .fetch_all(pool)
            .await?;
        for r in rows {
            let hash: Vec<u8> = r.try_get("hash")?;
            let data: Option<Vec<u8>> = r.try_get("data")?;
            match data {
                Some(d) => writeln!(out, "{} {}", hex::encode(hash), B64.encode(d))?,
                None => writeln!(out, "{} -", hex::encode(hash))?,
            }
        }
    } else {
        writeln!(out, "payloads 0")?;
    }
    writeln!(out, "end")?;
    out.flush()?;
    Ok(total as u64)
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
    let mut entries = Vec::with_capacity(n as usize);
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
fn str_field<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
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

struct SeqFields<'a> {
    dir: &'a str,
    peer: &'a str,
    seq: u64,
}

/// Direction, peer and sequence number: the fields are written in that order, so each search
/// starts where the last one ended.
fn seq_fields(line: &[u8]) -> Option<SeqFields<'_>> {
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

pub fn entry_fields(line: &[u8]) -> Option<EntryFields<'_>> {
    let s = std::str::from_utf8(line).ok()?;
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

/// One problem found, with what and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub kind: String,
    /// Entry index or checkpoint size the problem is at.
    pub at: Option<u64>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub centre: String,
    pub entries: u64,
    pub root: String,
    pub checkpoints_verified: u64,
    pub cosignatures_verified: u64,
    pub witnessed_size: u64,
    pub payloads_present: u64,
    pub payloads_purged: u64,
    /// Time spent on the entries (leaf hashes, tree, sequence numbers) and on payload hashes.
    pub entries_seconds: f64,
    pub payloads_seconds: f64,
    pub problems: Vec<Problem>,
}

/// Verify an export: recompute every leaf and root, check the checkpoints' signatures and
/// roots (a checkpoint re-signed with another root is caught here), cosignatures, per-peer
/// per-direction sequence numbers (a dropped, reordered or inserted entry shows as a gap or
/// a repeat) and payload hashes. `trusted_vkey`: the centre's key from the directory (if
/// `None`, the export's own header key is used and the report says so).
pub fn verify(
    e: &Export,
    trusted_vkey: Option<&str>,
    quorum: u32,
    progress: &dyn Fn(u64, u64),
) -> VerifyReport {
    let mut problems = Vec::new();
    let n = e.entries.len() as u64;
    let mut tree = Tree::new();
    // (peer, direction) -> last sequence number; few distinct keys, so a linear scan beats
    // hashing, and only the three fields the check needs are located.
    let mut seqs: Vec<((&str, &str), u64)> = Vec::new();
    let t_entries = std::time::Instant::now();
    for (i, line) in e.entries.iter().enumerate() {
        let i = i as u64;
        tree.push(merkle::leaf_hash(line));
        match seq_fields(line) {
            None => problems.push(Problem {
                kind: "malformed_entry".into(),
                at: Some(i),
                detail: "entry is not an hfx envelope".into(),
            }),
            Some(f) => {
                let slot = match seqs.iter().position(|(k, _)| *k == (f.peer, f.dir)) {
                    Some(p) => p,
                    None => {
                        seqs.push(((f.peer, f.dir), 0));
                        seqs.len() - 1
                    }
                };
                let last = &mut seqs[slot].1;
                if f.seq != *last + 1 {
                    let kind = if f.seq <= *last {
                        "sequence_repeat"
                    } else {
                        "sequence_gap"
                    };
                    problems.push(Problem {
                        kind: kind.into(),
                        at: Some(i),
                        detail: format!(
                            "{} {} seq {} after {} (message {})",
                            f.dir,
                            f.peer,
                            f.seq,
                            last,
                            entry_fields(line).map(|x| x.message_id).unwrap_or("?")
                        ),
                    });
                }
                *last = (*last).max(f.seq);
            }
        }
        if i.is_multiple_of(262_144) {
            progress(i, n);
        }
    }
    progress(n, n);
    let entries_seconds = t_entries.elapsed().as_secs_f64();
    let vkey = trusted_vkey.unwrap_or(&e.vkey);
    if trusted_vkey.is_none() {
        problems.push(Problem {
            kind: "untrusted_key".into(),
            at: None,
            detail: "no directory given: checkpoint key taken from the export itself".into(),
        });
    } else if trusted_vkey != Some(e.vkey.as_str()) {
        problems.push(Problem {
            kind: "key_mismatch".into(),
            at: None,
            detail: "the export's key is not the directory's key for this centre".into(),
        });
    }
    let mut checkpoints_verified = 0;
    let mut cp_texts: BTreeMap<u64, String> = BTreeMap::new();
    match NoteVerifier::parse(vkey) {
        Err(err) => problems.push(Problem {
            kind: "bad_key".into(),
            at: None,
            detail: err.to_string(),
        }),
        Ok(v) => {
            let mut last_size = 0;
            for note in &e.checkpoints {
                match Checkpoint::open(note, std::slice::from_ref(&v)) {
                    Err(err) => problems.push(Problem {
                        kind: "checkpoint_signature".into(),
                        at: None,
                        detail: err.to_string(),
                    }),
                    Ok((cp, _)) => {
                        if cp.origin != e.origin {
                            problems.push(Problem {
                                kind: "checkpoint_origin".into(),
                                at: Some(cp.size),
                                detail: format!("origin {:?}", cp.origin),
                            });
                        }
                        if cp.size < last_size {
                            problems.push(Problem {
                                kind: "checkpoint_order".into(),
                                at: Some(cp.size),
                                detail: format!("after {last_size}"),
                            });
                        }
                        last_size = cp.size;
                        match tree.root_at(cp.size) {
                            None => problems.push(Problem {
                                kind: "checkpoint_beyond_entries".into(),
                                at: Some(cp.size),
                                detail: format!("only {n} entries exported"),
                            }),
                            Some(r) if r != cp.root => problems.push(Problem {
                                kind: "checkpoint_root".into(),
                                at: Some(cp.size),
                                detail: format!(
                                    "signed root {} is not the root of the exported entries {}",
                                    hex::encode(cp.root),
                                    hex::encode(r)
                                ),
                            }),
                            Some(_) => {
                                checkpoints_verified += 1;
                                cp_texts.insert(cp.size, cp.to_text());
                            }
                        }
                    }
                }
            }
        }
    }
    let mut cosignatures_verified = 0;
    let mut witnesses_at: BTreeMap<u64, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (size, witness, key, line) in &e.cosignatures {
        let Some(text) = cp_texts.get(size) else {
            problems.push(Problem {
                kind: "cosignature_orphan".into(),
                at: Some(*size),
                detail: format!("{witness}: no verified checkpoint of that size"),
            });
            continue;
        };
        let pk = B64
            .decode(key)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok());
        match pk.map(|pk| verify_cosignature(witness, &pk, text, line)) {
            Some(Ok(_)) => {
                cosignatures_verified += 1;
                witnesses_at
                    .entry(*size)
                    .or_default()
                    .insert(witness.clone());
            }
            Some(Err(err)) => problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("{witness}: {err}"),
            }),
            None => problems.push(Problem {
                kind: "cosignature".into(),
                at: Some(*size),
                detail: format!("{witness}: bad key"),
            }),
        }
    }
    let mut witnessed_size = 0;
    for size in witnesses_at.keys() {
        let distinct: std::collections::BTreeSet<&String> = witnesses_at
            .range(size..)
            .flat_map(|(_, w)| w.iter())
            .collect();
        if distinct.len() as u32 >= quorum.max(1) {
            witnessed_size = *size;
        }
    }
    let (mut present, mut purged) = (0, 0);
    let t_payloads = std::time::Instant::now();
    for (hash, data) in &e.payloads {
        match data {
            None => purged += 1,
            Some(d) => {
                let h: Hash = Sha256::digest(d).into();
                if &h != hash {
                    problems.push(Problem {
                        kind: "payload_hash".into(),
                        at: None,
                        detail: format!("payload {} does not hash to its name", hex::encode(hash)),
                    });
                } else {
                    present += 1;
                }
            }
        }
    }
    let payloads_seconds = t_payloads.elapsed().as_secs_f64();
    VerifyReport {
        centre: e.centre.clone(),
        entries: n,
        root: hex::encode(tree.root()),
        checkpoints_verified,
        cosignatures_verified,
        witnessed_size,
        payloads_present: present,
        payloads_purged: purged,
        entries_seconds,
        payloads_seconds,
        problems,
    }
}

/// An offline receipt: one entry, its inclusion proof, and the signed checkpoint it is proven
/// against. Anyone with the centre's key can check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InclusionReceipt {
    pub centre: String,
    pub index: u64,
    pub tree_size: u64,
    /// The entry line, exactly as hashed.
    pub entry: String,
    pub proof: Vec<String>,
    pub checkpoint: String,
    pub vkey: String,
}

pub fn prove(e: &Export, index: u64) -> anyhow::Result<InclusionReceipt> {
    let mut tree = Tree::new();
    for line in &e.entries {
        tree.push(merkle::leaf_hash(line));
    }
    let v = NoteVerifier::parse(&e.vkey).map_err(|err| anyhow::anyhow!("{err}"))?;
    // The smallest signed checkpoint that covers the entry.
    let mut chosen = None;
    for note in &e.checkpoints {
        if let Ok((cp, _)) = Checkpoint::open(note, std::slice::from_ref(&v))
            && cp.size > index
            && tree.root_at(cp.size) == Some(cp.root)
        {
            chosen = Some((cp.size, note.clone()));
            break;
        }
    }
    let (size, note) =
        chosen.with_context(|| format!("no verified checkpoint covers entry {index} yet"))?;
    let proof = tree
        .inclusion_proof(index, size)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let entry = e
        .entries
        .get(index as usize)
        .context("index out of range")?;
    Ok(InclusionReceipt {
        centre: e.centre.clone(),
        index,
        tree_size: size,
        entry: String::from_utf8(entry.clone())?,
        proof: proof.iter().map(hex::encode).collect(),
        checkpoint: note,
        vkey: e.vkey.clone(),
    })
}

/// Check an offline receipt; returns the verified checkpoint.
pub fn check_receipt(
    r: &InclusionReceipt,
    trusted_vkey: Option<&str>,
) -> anyhow::Result<Checkpoint> {
    let v =
        NoteVerifier::parse(trusted_vkey.unwrap_or(&r.vkey)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (cp, _) =
        Checkpoint::open(&r.checkpoint, &[v]).map_err(|e| anyhow::anyhow!("checkpoint: {e}"))?;
    anyhow::ensure!(
        cp.size == r.tree_size,
        "receipt size {} is not the checkpoint's {}",
        r.tree_size,
        cp.size
    );
    let proof: Vec<Hash> = r
        .proof
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| merkle::hash_from_slice(&b).ok())
                .context("proof hash")
        })
        .collect::<Result<_, _>>()?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(r.entry.as_bytes()),
        r.index,
        r.tree_size,
        &proof,
        &cp.root,
    )
    .map_err(|e| anyhow::anyhow!("inclusion proof: {e}"))?;
    Ok(cp)
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub centre: String,
    pub rebuilt: u64,
    pub store_records: u64,
    pub undecodable: u64,
    pub differences: Vec<Problem>,
}

/// Rebuild every disclosure from the log alone (request/reply pairs and their payloads) and
/// compare with what the store says happened.
pub fn replay(e: &Export) -> ReplayReport {
    use prost::Message;
    let method = crate::member::METHOD_QUERY;
    // message id -> (dir of request, peer, request payload hash, has reply)
    let mut requests: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut replies: std::collections::BTreeSet<(String, String)> =
        std::collections::BTreeSet::new();
    for line in &e.entries {
        let Some(f) = entry_fields(line) else {
            continue;
        };
        if f.msg_type == format!("{method}#request") {
            requests.insert(
                (f.peer.to_string(), f.message_id.to_string()),
                (f.dir.to_string(), f.payload_sha256.to_string()),
            );
        } else if f.msg_type == format!("{method}#reply") {
            replies.insert((f.peer.to_string(), f.message_id.to_string()));
        }
    }
    let mut rebuilt: BTreeMap<(String, String, String), String> = BTreeMap::new();
    let mut undecodable = 0;
    for ((peer, mid), (dir, phash)) in &requests {
        let answered = replies.contains(&(peer.clone(), mid.clone()));
        let direction = match (dir.as_str(), answered) {
            ("recv", true) => "sent",
            ("recv", false) => "refused",
            _ => "received",
        };
        let purpose = hex::decode(phash)
            .ok()
            .and_then(|h| merkle::hash_from_slice(&h).ok())
            .and_then(|h| e.payloads.get(&h).cloned().flatten())
            .and_then(|p| hfx_proto::v1::PeerMemberQuery::decode(p.as_slice()).ok())
            .and_then(|q| q.header)
            .and_then(|h| hfx_proto::v1::Purpose::try_from(h.purpose).ok())
            .map(|p| crate::member::purpose_name(p).to_string());
        let purpose = purpose.unwrap_or_else(|| {
            undecodable += 1;
            String::from("?")
        });
        rebuilt.insert((direction.to_string(), peer.clone(), mid.clone()), purpose);
    }
    let mut claimed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for d in &e.disclosures {
        claimed.insert(
            (d.direction.clone(), d.peer.clone(), d.message_id.clone()),
            d.purpose.clone(),
        );
    }
    let mut differences = Vec::new();
    for (k, purpose) in &rebuilt {
        match claimed.get(k) {
            None => differences.push(Problem {
                kind: "missing_in_store".into(),
                at: None,
                detail: format!(
                    "log shows {} {} message {} ({purpose}) but the store has no disclosure record",
                    k.0, k.1, k.2
                ),
            }),
            Some(p) if purpose != "?" && p != purpose => differences.push(Problem {
                kind: "purpose_differs".into(),
                at: None,
                detail: format!("message {}: log says {purpose}, store says {p}", k.2),
            }),
            Some(_) => {}
        }
    }
    for k in claimed.keys() {
        if !rebuilt.contains_key(k) {
            differences.push(Problem {
                kind: "missing_in_log".into(),
                at: None,
                detail: format!(
                    "store records {} {} message {} but the log does not show the exchange",
                    k.0, k.1, k.2
                ),
            });
        }
    }
    ReplayReport {
        centre: e.centre.clone(),
        rebuilt: rebuilt.len() as u64,
        store_records: claimed.len() as u64,
        undecodable,
        differences,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Break {
    pub kind: String,
    pub from: String,
    pub to: String,
    pub message_id: String,
    pub msg_type: String,
    pub case_id: String,
    pub age_seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconcileReport {
    pub centres: Vec<String>,
    pub matched: u64,
    pub not_exported: u64,
    pub breaks: Vec<Break>,
}

/// A message seen on one side, waiting for its other side.
struct Pending {
    payload: u64,
    at_ms: i64,
    from: Box<str>,
    to: Box<str>,
    message_id: Box<str>,
    msg_type: Box<str>,
    case_id: Box<str>,
}

/// Matches both sides of every exchange as entries stream past, keeping only what is still
/// unmatched (so ten centres' 10,000,000 entries need neither all files in memory nor two
/// passes).
pub struct Reconciler {
    centres: std::collections::BTreeSet<String>,
    sent: HashMap<u128, Pending>,
    recv: HashMap<u128, Pending>,
    matched: u64,
    not_exported: u64,
    breaks: Vec<Break>,
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
            sent: HashMap::new(),
            recv: HashMap::new(),
            matched: 0,
            not_exported: 0,
            breaks: Vec::new(),
            now_ms,
        }
    }

    fn brk(&mut self, kind: &str, p: &Pending) {
        self.breaks.push(Break {
            kind: kind.into(),
            from: p.from.to_string(),
            to: p.to.to_string(),
            message_id: p.message_id.to_string(),
            msg_type: p.msg_type.to_string(),
            case_id: p.case_id.to_string(),
            age_seconds: (self.now_ms - p.at_ms) / 1000,
        });
    }

    /// One entry of `centre`'s log.
    pub fn add(&mut self, centre: &str, line: &[u8]) {
        let Some(f) = entry_fields(line) else { return };
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
        let other = if sent {
            self.recv.remove(&key)
        } else {
            self.sent.remove(&key)
        };
        match other {
            Some(o) if o.payload == payload => self.matched += 1,
            Some(o) => self.brk("payload_differs", &o),
            None => {
                let p = Pending {
                    payload,
                    at_ms: f.at_ms,
                    from: from.into(),
                    to: to.into(),
                    message_id: f.message_id.into(),
                    msg_type: f.msg_type.into(),
                    case_id: case.into(),
                };
                if sent {
                    self.sent.insert(key, p);
                } else {
                    self.recv.insert(key, p);
                }
            }
        }
    }

    pub fn finish(mut self) -> ReconcileReport {
        for p in std::mem::take(&mut self.sent).into_values() {
            self.brk("sent_not_received", &p);
        }
        for p in std::mem::take(&mut self.recv).into_values() {
            self.brk("received_never_sent", &p);
        }
        let mut breaks = self.breaks;
        breaks.sort_by(|a, b| {
            b.age_seconds
                .cmp(&a.age_seconds)
                .then(a.message_id.cmp(&b.message_id))
        });
        ReconcileReport {
            centres: self.centres.into_iter().collect(),
            matched: self.matched,
            not_exported: self.not_exported,
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

/// Purge the payloads of entries older than `before_ms` (retention): the tree keeps their
/// hashes, so verification still passes. Returns how many payloads were purged.
pub async fn purge(pool: &AnyPool, before_ms: i64) -> anyhow::Result<u64> {
    let r = sqlx::query(
        "UPDATE log_payloads SET data = NULL, purged_at_ms = $1 WHERE data IS NOT NULL AND hash IN (SELECT payload_hash FROM log_entries WHERE at_ms < $2)",
    )
    .bind(crate::now_ms())
    .bind(before_ms)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Build an in-memory export of `n` entries (four peers, both directions, one signed
/// checkpoint) and run the full verifier over it; returns the entries verified and the time
/// spent on them (leaf hashes, the tree with every level, sequence checks; no payloads).
pub fn bench_verify(n: u64) -> anyhow::Result<(u64, std::time::Duration)> {
    use crate::log::note::NoteSigner;
    use crate::log::{Envelope, RECV, SENT};
    let signer = NoteSigner::from_pkcs8(
        "bench.hfx/320300000000000",
        &NoteSigner::generate_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let peers = [
        "320700000000000",
        "321300000000000",
        "340600000000000",
        "341300000000000",
    ];
    let mut seqs: HashMap<(usize, bool), u64> = HashMap::new();
    let mut tree = Tree::new();
    let mut entries = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (p, sent) = ((i % 4) as usize, (i / 4) % 2 == 0);
        let mut e = Envelope::draft(
            if sent { SENT } else { RECV },
            peers[p],
            &uuid::Uuid::from_u128(i as u128).hyphenated().to_string(),
            "",
            "MemberExchange/QueryMember#request",
            &i.to_le_bytes(),
        );
        let s = seqs.entry((p, sent)).or_insert(0);
        *s += 1;
        e.seq = *s;
        let b = e.entry_bytes();
        tree.push(merkle::leaf_hash(&b));
        entries.push(b);
    }
    let note = Checkpoint::new(signer.name(), n, tree.root())
        .sign(&[&signer])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(tree);
    let e = Export {
        centre: "320300000000000".into(),
        origin: signer.name().into(),
        vkey: signer.verifier_key(),
        entries,
        checkpoints: vec![note],
        cosignatures: vec![],
        disclosures: vec![],
        payloads: HashMap::new(),
    };
    let rep = verify(&e, Some(&signer.verifier_key()), 1, &|_, _| {});
    anyhow::ensure!(
        rep.problems.is_empty() && rep.checkpoints_verified == 1,
        "bench export did not verify: {:?}",
        rep.problems
    );
    Ok((
        rep.entries,
        std::time::Duration::from_secs_f64(rep.entries_seconds),
    ))
}

/// Write synthetic, mutually consistent exports for `centres` (for measuring verify, replay
/// and reconcile at scale): `exchanges` member queries between pseudo-random pairs, each a
/// request and a reply logged on both sides, with payloads, disclosure records, and a signed
/// checkpoint every `checkpoint_every` entries and at the end. Returns the files written.
pub fn synthesize(
    dir: &std::path::Path,
    zone: &str,
    centres: &[String],
    exchanges: u64,
    checkpoint_every: u64,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use crate::log::note::NoteSigner;
    use crate::log::{Envelope, RECV, SENT};
    use prost::Message;
    anyhow::ensure!(centres.len() >= 2, "need two or more centres");
    std::fs::create_dir_all(dir)?;
    let n = centres.len() as u64;
    let pair = |k: u64| {
        let a = k % n;
        let mut b = (k.wrapping_mul(7).wrapping_add(3) / n) % n;
        if b == a {
            b = (a + 1) % n;
        }
        (a as usize, b as usize)
    };
    // Pass 1: counts.
    let mut counts = vec![0u64; centres.len()];
    for k in 0..exchanges {
        let (a, b) = pair(k);
        counts[a] += 2;
        counts[b] += 2;
    }
    struct Out {
        entries: std::io::BufWriter<std::fs::File>,
        side: std::io::BufWriter<std::fs::File>,
        side_path: std::path::PathBuf,
        path: std::path::PathBuf,
        tree: Tree,
        signer: NoteSigner,
        checkpoints: Vec<String>,
        seqs: HashMap<(usize, &'static str), u64>,
        disclosures: Vec<u8>,
        ndisclosures: u64,
    }
    let mut outs = Vec::new();
    for (i, c) in centres.iter().enumerate() {
        let path = dir.join(format!("{c}.hfxlog"));
        let side_path = dir.join(format!("{c}.payloads.tmp"));
        let signer = NoteSigner::from_pkcs8(
            &crate::log::origin(zone, c),
            &NoteSigner::generate_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut entries = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        writeln!(
            entries,
            "{MAGIC}\ncentre {c}\norigin {}\nvkey {}\nexported_at_ms {}\nentries {}",
            signer.name(),
            signer.verifier_key(),
            crate::now_ms(),
            counts[i]
        )?;
        outs.push(Out {
            entries,
            side: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&side_path)?),
            side_path,
            path,
            tree: Tree::new(),
            signer,
            checkpoints: Vec::new(),
            seqs: HashMap::new(),
            disclosures: Vec::new(),
            ndisclosures: 0,
        });
    }
    let t0 = crate::now_ms() - exchanges as i64;
    let purposes = [
        hfx_proto::v1::Purpose::IdentityConfirmation,
        hfx_proto::v1::Purpose::TransferCheck,
        hfx_proto::v1::Purpose::LoanApplication,
    ];
    let append = |o: &mut Out,
                  peer_i: usize,
                  dir: &'static str,
                  mid: &str,
                  ty: &str,
                  payload: &[u8],
                  at: i64|
     -> anyhow::Result<()> {
        let mut e = Envelope::draft(dir, &centres[peer_i], mid, "", ty, payload);
        e.at_ms = at;
        let s = o.seqs.entry((peer_i, dir)).or_insert(0);
        *s += 1;
        e.seq = *s;
        let bytes = e.entry_bytes();
        o.entries.write_all(&bytes)?;
        o.entries.write_all(b"\n")?;
        o.tree.push(merkle::leaf_hash(&bytes));
        writeln!(o.side, "{} {}", e.payload_sha256, B64.encode(payload))?;
        if o.tree.size().is_multiple_of(checkpoint_every) {
            o.checkpoints.push(
                Checkpoint::new(o.signer.name(), o.tree.size(), o.tree.root())
                    .sign(&[&o.signer])
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        Ok(())
    };
    for k in 0..exchanges {
        let (a, b) = pair(k);
        let mid = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | k as u128)
            .hyphenated()
            .to_string();
        let purpose = purposes[(k % 3) as usize];
        let req = hfx_proto::v1::PeerMemberQuery {
            header: Some(hfx_proto::v1::RequestHeader {
                message_id: mid.clone(),
                purpose: purpose as i32,
                acting_person: format!("{}/clerk/c{}", centres[a], k % 50),
                ..Default::default()
            }),
            person: Some(hfx_proto::v1::PersonKey {
                id_type: 1,
                id_number: format!("{:018}", k),
                name: "张三".into(),
            }),
        }
        .encode_to_vec();
        let reply = hfx_proto::v1::PeerMemberReply {
            receipt: Some(hfx_proto::v1::Receipt {
                centre: centres[b].clone(),
                log_index: outs[b].tree.size(),
                sequence: 0,
                message_id: mid.clone(),
            }),
            member: Some(hfx_proto::v1::MemberView {
                centre: centres[b].clone(),
                live_account: Some(true),
                purpose: purpose as i32,
                ..Default::default()
            }),
        }
        .encode_to_vec();
        let at = t0 + k as i64;
        let (req_ty, rep_ty) = (
            "MemberExchange/QueryMember#request",
            "MemberExchange/QueryMember#reply",
        );
        append(&mut outs[b], a, RECV, &mid, req_ty, &req, at)?;
        append(&mut outs[b], a, SENT, &mid, rep_ty, &reply, at)?;
        append(&mut outs[a], b, SENT, &mid, req_ty, &req, at)?;
        append(&mut outs[a], b, RECV, &mid, rep_ty, &reply, at)?;
        let pname = crate::member::purpose_name(purpose).to_string();
        for (side, dir, peer) in [(b, "sent", a), (a, "received", b)] {
            let d = DisclosureRecord {
                direction: dir.into(),
                peer: centres[peer].clone(),
                purpose: pname.clone(),
                message_id: mid.clone(),
                outcome: "disclosed".into(),
                at_ms: at,
            };
            outs[side]
                .disclosures
                .extend_from_slice(serde_json::to_string(&d)?.as_bytes());
            outs[side].disclosures.push(b'\n');
            outs[side].ndisclosures += 1;
        }
        if k % 65_536 == 0 {
            progress(k, exchanges);
        }
    }
    progress(exchanges, exchanges);
    let mut paths = Vec::new();
    for mut o in outs {
        if o.checkpoints
            .last()
            .map(|c| !c.contains(&format!("\n{}\n", o.tree.size())))
            .unwrap_or(true)
        {
            o.checkpoints.push(
                Checkpoint::new(o.signer.name(), o.tree.size(), o.tree.root())
                    .sign(&[&o.signer])
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
        writeln!(o.entries, "checkpoints {}", o.checkpoints.len())?;
        for c in &o.checkpoints {
            writeln!(o.entries, "{}", B64.encode(c))?;
        }
        writeln!(o.entries, "cosignatures 0\ndisclosures {}", o.ndisclosures)?;
        o.entries.write_all(&o.disclosures)?;
        o.side.flush()?;
        drop(o.side);
        writeln!(o.entries, "payloads {}", o.tree.size())?;
        std::io::copy(&mut std::fs::File::open(&o.side_path)?, &mut o.entries)?;
        writeln!(o.entries, "end")?;
        o.entries.flush()?;
        std::fs::remove_file(&o.side_path)?;
        paths.push(o.path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::note::NoteSigner;
    use crate::log::{Envelope, RECV, SENT};

    fn signer() -> NoteSigner {
        NoteSigner::from_pkcs8(
            "huaihai.hfx/320300000000000",
            &NoteSigner::generate_pkcs8().unwrap(),
        )
        .unwrap()
    }

    /// A well-formed export of `n` entries with checkpoints at 3, 7 and n.
    fn export(n: u64, s: &NoteSigner) -> Export {
        let mut entries = Vec::new();
        let mut seq: HashMap<(String, String), u64> = HashMap::new();
        for i in 0..n {
            let peer = if i % 3 == 0 {
                "320700000000000"
            } else {
                "321300000000000"
            };
            let dir = if i % 2 == 0 { SENT } else { RECV };
            let mut e = Envelope::draft(
                dir,
                peer,
                &format!("m{i}"),
                "",
                "MemberExchange/QueryMember#request",
                format!("p{i}").as_bytes(),
            );
            let k = seq.entry((peer.into(), dir.into())).or_insert(0);
            *k += 1;
            e.seq = *k;
            entries.push(e.entry_bytes());
        }
        let mut t = Tree::new();
        for e in &entries {
            t.push(merkle::leaf_hash(e));
        }
        let checkpoints = [3, 7, n]
            .iter()
            .map(|&size| {
                Checkpoint::new(s.name(), size, t.root_at(size).unwrap())
                    .sign(&[s])
                    .unwrap()
            })
            .collect();
        Export {
            centre: "320300000000000".into(),
            origin: s.name().into(),
            vkey: s.verifier_key(),
            entries,
            checkpoints,
            cosignatures: vec![],
            disclosures: vec![],
            payloads: HashMap::new(),
        }
    }

    fn kinds(r: &VerifyReport) -> Vec<(String, Option<u64>)> {
        r.problems
            .iter()
            .filter(|p| p.kind != "untrusted_key")
            .map(|p| (p.kind.clone(), p.at))
            .collect()
    }

    #[test]
    fn a_clean_export_verifies_and_round_trips_through_the_file_format() {
        let s = signer();
        let e = export(12, &s);
        let rep = verify(&e, Some(&s.verifier_key()), 1, &|_, _| {});
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
        assert_eq!(rep.checkpoints_verified, 3);
        // Through the text format.
        let mut buf = Vec::new();
        writeln!(
            buf,
            "{MAGIC}\ncentre {}\norigin {}\nvkey {}\nexported_at_ms 0\nentries {}",
            e.centre,
            e.origin,
            e.vkey,
            e.entries.len()
        )
        .unwrap();
        for l in &e.entries {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        writeln!(buf, "checkpoints {}", e.checkpoints.len()).unwrap();
        for c in &e.checkpoints {
            writeln!(buf, "{}", B64.encode(c)).unwrap();
        }
        writeln!(buf, "cosignatures 0\ndisclosures 0\npayloads 0\nend").unwrap();
        let back = parse(&mut std::io::Cursor::new(&buf), &|_, _| {}).unwrap();
        assert_eq!(back.entries, e.entries);
        assert!(
            verify(&back, Some(&s.verifier_key()), 1, &|_, _| {})
                .problems
                .is_empty()
        );
        // Truncation is refused.
        let cut = &buf[..buf.len() - 4];
        assert!(parse(&mut std::io::Cursor::new(cut), &|_, _| {}).is_err());
    }

    #[test]
    fn tampering_is_detected_with_what_and_where() {
        let s = signer();
        let key = s.verifier_key();
        // Altered entry: the checkpoints covering it no longer match.
        let mut e = export(12, &s);
        e.entries[5] = String::from_utf8(e.entries[5].clone())
            .unwrap()
            .replace("m5", "mX")
            .into_bytes();
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert!(
            k.contains(&("checkpoint_root".into(), Some(7)))
                && k.contains(&("checkpoint_root".into(), Some(12))),
            "{k:?}"
        );
        assert!(
            !k.contains(&("checkpoint_root".into(), Some(3))),
            "the checkpoint before the change still holds: {k:?}"
        );
        // Dropped entry 4 (the 2nd "sent" to 321300): the next entry of that stream, now at
        // index 7, shows the gap; the roots from there on break.
        let mut e = export(12, &s);
        e.entries.remove(4);
        let rep = verify(&e, Some(&key), 1, &|_, _| {});
        let k = kinds(&rep);
        assert!(k.contains(&("sequence_gap".into(), Some(7))), "{k:?}");
        assert!(
            rep.problems
                .iter()
                .any(|p| p.detail.contains("seq 3 after 1 (message m8)")),
            "{:?}",
            rep.problems
        );
        assert!(k.contains(&("checkpoint_root".into(), Some(7))), "{k:?}");
        // Reordered entries.
        let mut e = export(12, &s);
        e.entries.swap(1, 4);
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert!(
            k.iter()
                .any(|(kind, _)| kind == "sequence_gap" || kind == "sequence_repeat"),
            "{k:?}"
        );
        assert!(k.iter().any(|(kind, _)| kind == "checkpoint_root"), "{k:?}");
        // Inserted entry: a repeated sequence number.
        let mut e = export(12, &s);
        let dup = e.entries[2].clone();
        e.entries.insert(6, dup);
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert!(k.contains(&("sequence_repeat".into(), Some(6))), "{k:?}");
        // A checkpoint re-signed (with the right key) over another root.
        let mut e = export(12, &s);
        e.checkpoints[1] = Checkpoint::new(s.name(), 7, [9u8; 32]).sign(&[&s]).unwrap();
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert_eq!(k, vec![("checkpoint_root".to_string(), Some(7))]);
        // A checkpoint signed by another key.
        let mut e = export(12, &s);
        let other =
            NoteSigner::from_pkcs8(s.name(), &NoteSigner::generate_pkcs8().unwrap()).unwrap();
        e.checkpoints[2] = Checkpoint::new(s.name(), 12, [0u8; 32])
            .sign(&[&other])
            .unwrap();
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert!(
            k.iter().any(|(kind, _)| kind == "checkpoint_signature"),
            "{k:?}"
        );
        // The export's own key replaced by an attacker's: the directory's key catches it.
        let mut e = export(12, &other);
        e.vkey = other.verifier_key();
        let k = kinds(&verify(&e, Some(&key), 1, &|_, _| {}));
        assert!(k.iter().any(|(kind, _)| kind == "key_mismatch"), "{k:?}");
    }

    #[test]
    fn receipts_prove_inclusion_offline() {
        let s = signer();
        let e = export(12, &s);
        let r = prove(&e, 5).unwrap();
        assert_eq!(r.tree_size, 7, "smallest covering checkpoint");
        check_receipt(&r, Some(&s.verifier_key())).unwrap();
        let mut bad = r.clone();
        bad.entry = bad.entry.replace("m5", "m6");
        assert!(check_receipt(&bad, Some(&s.verifier_key())).is_err());
        assert!(prove(&e, 12).is_err());
    }

    #[test]
    fn reconcile_lists_each_break() {
        let now = crate::now_ms();
        let mk = |centre: &str, lines: Vec<Envelope>| Export {
            centre: centre.into(),
            origin: String::new(),
            vkey: String::new(),
            entries: lines.into_iter().map(|e| e.entry_bytes()).collect(),
            checkpoints: vec![],
            cosignatures: vec![],
            disclosures: vec![],
            payloads: HashMap::new(),
        };
        let (a, b) = ("320300000000000", "320700000000000");
        let ea = mk(
            a,
            vec![
                Envelope::draft(SENT, b, "m1", "", "T#request", b"x"),
                Envelope::draft(SENT, b, "m2", "", "T#request", b"y"),
                Envelope::draft(SENT, "999999999999999", "m9", "", "T#request", b"z"),
            ],
        );
        let eb = mk(
            b,
            vec![
                Envelope::draft(RECV, a, "m1", "", "T#request", b"x"),
                Envelope::draft(RECV, a, "m3", "", "T#request", b"w"),
            ],
        );
        let rep = reconcile(&[ea, eb], now);
        assert_eq!(rep.matched, 1);
        assert_eq!(rep.not_exported, 1);
        let mut got: Vec<_> = rep
            .breaks
            .iter()
            .map(|b| (b.kind.as_str(), b.message_id.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![("received_never_sent", "m3"), ("sent_not_received", "m2")]
        );
    }
}
