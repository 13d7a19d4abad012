//! Verifying an export as it is read, in memory bounded by what verification needs: the
//! Merkle tree (every level, for the historical checkpoint roots), the sequence number of
//! each (peer, direction), the leaf index and payload hash of each disclosure commitment
//! entry, 8 bytes per payload name (to count distinct payloads), the checkpoints and
//! cosignatures. No entry, payload or disclosure is kept once it has been checked.
//!
//! The result is exactly [`super::verify_read`]'s over [`super::read_for_verify`]: a clean
//! export is verified in this one pass; at the first sign of trouble (any finding, a line
//! that cannot be read, a payload name that may repeat, a broken structure) the pass stops
//! and the file is read again in full by the in-memory verifier, which names the root
//! causes (that needs the entries, the payloads and the disclosures side by side) and gives
//! the same findings and errors as it always has.

use super::Export;
use super::export::{COMMIT_DIR, DISCLOSURE_RECORD, DisclosureLine, MAGIC, entry_fields};
use super::verify::{EntryPass, VerifyReport, verify_read, verify_rest};
use super::verify_read::{Lines, Reader, checkpoint_note, cosignature, read_for_verify};
use crate::merkle::Hash;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, Seek, SeekFrom};

/// The key to check the checkpoints against, for the centre an export's header names:
/// `(trusted key, witness quorum)`; `None`: use the export's own key (see [`super::verify`]).
pub type TrustFor<'a> = dyn FnMut(&str) -> anyhow::Result<(Option<String>, u32)> + 'a;

/// Verify an export from `r` (read from its current position) as [`super::verify_read`]
/// does after [`super::read_for_verify`], streaming: see the module docs. `trusted` is
/// asked once for the key of the centre the header names (twice if the file is read
/// again). `progress(entries_done, total)`.
pub fn verify_stream<R: BufRead + Seek>(
    r: &mut R,
    trusted: &mut TrustFor<'_>,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<VerifyReport> {
    let start = r.stream_position()?;
    if let Ok(Some(s)) = stream::<R, true>(r, progress)
        && let Some(rep) = s.finish(trusted)?
    {
        return Ok(rep);
    }
    r.seek(SeekFrom::Start(start))?;
    let read = read_for_verify(r, &|_, _| {})?;
    let (vkey, quorum) = trusted(&read.export.centre)?;
    Ok(verify_read(&read, vkey.as_deref(), quorum, progress))
}

/// [`verify_stream`]'s reading and parsing alone, without a hash or a signature (to measure
/// the parse rate): every line read and its fields found as the verifier does. Returns the
/// number of entries, or `None` where the verifier would read the file again in full.
#[doc(hidden)]
pub fn parse_stream_only(r: &mut impl BufRead) -> anyhow::Result<Option<u64>> {
    Ok(stream::<_, false>(r, &|_, _| {})?.map(|s| s.n))
}

/// What one clean pass gathered.
struct Streamed {
    header: Export,
    n: u64,
    pass: EntryPass,
    lines: Lines,
    entries_seconds: f64,
    payloads_seconds: f64,
    present: u64,
    purged: u64,
    committed: u64,
    legacy: u64,
}

impl Streamed {
    /// Checkpoints and cosignatures against the tree; `None` if anything is found.
    fn finish(self, trusted: &mut TrustFor<'_>) -> anyhow::Result<Option<VerifyReport>> {
        let (vkey, quorum) = trusted(&self.header.centre)?;
        let mut rep = verify_rest(
            &self.header,
            self.pass,
            self.n,
            self.entries_seconds,
            &self.lines,
            &[],
            vkey.as_deref(),
            quorum,
        );
        if !rep.problems.is_empty() {
            return Ok(None);
        }
        rep.payloads_present = self.present;
        rep.payloads_purged = self.purged;
        rep.payloads_seconds = self.payloads_seconds;
        rep.disclosures_committed = self.committed;
        rep.disclosures_uncommitted = self.legacy;
        Ok(Some(rep))
    }
}

/// Each byte's value as a hex digit (either case), or 0xff.
const HEX: [u8; 256] = {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// 64 hex digits (either case) as a SHA-256: what `hex::decode` and
/// `merkle::hash_from_slice` accept together.
fn hex_hash(s: &[u8]) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut h: Hash = [0; 32];
    let mut bad = 0u8;
    for (o, pair) in h.iter_mut().zip(s.chunks_exact(2)) {
        let (a, b) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        bad |= a | b;
        *o = (a << 4) | (b & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(h)
}

/// The 64 lowercase hex digits of a SHA-256, as bytes (what `hex::encode` of the hash gives
/// back exactly); `None` for anything else.
fn lower_hex_hash(s: &str) -> Option<Hash> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex_hash(s.as_bytes())
}

/// A payload line as the in-memory reader reads it, found without its error messages: the
/// name and whether the payload is present (decoded into `out`). The line need not be
/// checked for UTF-8 first: a byte above 0x7f is neither a hex digit, nor `-`, nor base64,
/// so such a line fails here as it fails there.
fn payload_line(l: &[u8], out: &mut Vec<u8>) -> Option<(Hash, bool)> {
    use base64::Engine;
    let sp = l.iter().position(|&b| b == b' ')?;
    let hash = hex_hash(&l[..sp])?;
    let data = &l[sp + 1..];
    if data == b"-" {
        return Some((hash, false));
    }
    out.clear();
    super::B64.decode_vec(data, out).ok()?;
    Some((hash, true))
}

/// One pass over the file; `HASH`: compute leaf, payload and commitment hashes (off only to
/// measure parsing). `None`: the file needs the full reader (a finding, or something that
/// might be one).
fn stream<R: BufRead, const HASH: bool>(
    r: &mut R,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<Option<Streamed>> {
    let mut rd = Reader {
        r,
        buf: Vec::with_capacity(4096),
        line: 0,
    };
    if rd.text("the first line")? != MAGIC {
        return Ok(None);
    }
    let centre = rd.value("centre")?;
    let origin = rd.value("origin")?;
    let vkey = rd.value("vkey")?;
    rd.text("`exported_at_ms`")?;
    let n = rd.count("entries")?;
    let mut lines = Lines {
        first_entry: rd.line + 1,
        ..Lines::default()
    };

    let t_entries = std::time::Instant::now();
    let mut pass = EntryPass::default();
    // (leaf index, payload hash) of each disclosure commitment, ascending.
    let mut commits: Vec<(u64, Hash)> = Vec::new();
    for i in 0..n {
        let line = rd.bytes("an entry")?;
        let f = if HASH {
            pass.push(i, line, &lines)
        } else {
            pass.check(i, line, &lines)
        };
        let Some(f) = f else { return Ok(None) };
        if !pass.problems.is_empty() {
            return Ok(None);
        }
        // A commitment is an entry of direction `local` and type `Disclosure#record`; one
        // whose payload hash is not lowercase hex cannot match its record (a finding).
        if f.dir == COMMIT_DIR
            && let Some(ef) = entry_fields(line)
            && ef.msg_type == DISCLOSURE_RECORD
        {
            let Some(h) = lower_hex_hash(ef.payload_sha256) else {
                return Ok(None);
            };
            commits.push((i, h));
        }
        if i.is_multiple_of(262_144) {
            progress(i, n);
        }
    }
    progress(n, n);
    let entries_seconds = t_entries.elapsed().as_secs_f64();

    let k = rd.count("checkpoints")?;
    let mut checkpoints = Vec::new();
    for _ in 0..k {
        let Ok(note) = checkpoint_note(rd.bytes("a checkpoint")?) else {
            return Ok(None);
        };
        checkpoints.push(note);
        lines.checkpoints.push(rd.line);
    }
    let c = rd.count("cosignatures")?;
    let mut cosignatures = Vec::new();
    for _ in 0..c {
        let Ok(cs) = cosignature(rd.bytes("a cosignature")?) else {
            return Ok(None);
        };
        cosignatures.push(cs);
        lines.cosignatures.push(rd.line);
    }

    // Disclosures, as `check_disclosures` checks them: records without a commitment only
    // ahead of the first with one, each commitment claimed once, by a record hashing to it.
    let d = rd.count("disclosures")?;
    let mut claimed = vec![false; commits.len()];
    let mut canonical = Vec::with_capacity(1024);
    let mut next = 0;
    let (mut committed, mut legacy, mut seen_committed) = (0u64, 0u64, false);
    for _ in 0..d {
        let Ok(rec) = serde_json::from_slice::<DisclosureLine<'_>>(rd.bytes("a disclosure")?)
        else {
            return Ok(None);
        };
        let Some(ci) = rec.commit_index else {
            if seen_committed {
                return Ok(None);
            }
            legacy += 1;
            continue;
        };
        seen_committed = true;
        // Records come in the order of their commitments: try the next one first.
        let slot = if commits.get(next).is_some_and(|c| c.0 == ci) {
            next
        } else {
            let Ok(slot) = commits.binary_search_by_key(&ci, |c| c.0) else {
                return Ok(None);
            };
            slot
        };
        next = slot + 1;
        if std::mem::replace(&mut claimed[slot], true) {
            return Ok(None);
        }
        if HASH && rec.commitment(&mut canonical) != commits[slot].1 {
            return Ok(None);
        }
        committed += 1;
    }
    if claimed.iter().any(|c| !c) {
        return Ok(None);
    }

    // Payloads: each hashed as it is read; the first 8 bytes of each name kept, so that a
    // name given twice (which the in-memory reader counts once) sends the file there.
    let t_payloads = std::time::Instant::now();
    let p = rd.count("payloads")?;
    let mut data = Vec::with_capacity(4096);
    let mut names: Vec<u64> = Vec::with_capacity(p.min(1 << 24) as usize);
    let (mut present, mut purged) = (0u64, 0u64);
    for _ in 0..p {
        let Some((hash, here)) = payload_line(rd.bytes("a payload")?, &mut data) else {
            return Ok(None);
        };
        if here {
            if HASH && <Hash>::from(Sha256::digest(&data)) != hash {
                return Ok(None);
            }
            present += 1;
        } else {
            purged += 1;
        }
        names.push(u64::from_le_bytes([
            hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7],
        ]));
    }
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Ok(None);
    }
    drop(names);
    if rd.text("`end`")? != "end" {
        return Ok(None);
    }
    let payloads_seconds = t_payloads.elapsed().as_secs_f64();
    Ok(Some(Streamed {
        header: Export {
            centre,
            origin,
            vkey,
            entries: Vec::new(),
            checkpoints,
            cosignatures,
            disclosures: Vec::new(),
            payloads: HashMap::new(),
        },
        n,
        pass,
        lines,
        entries_seconds,
        payloads_seconds,
        present,
        purged,
        committed,
        legacy,
    }))
}

/// What [`bench_file`] measured.
#[derive(Debug, Clone)]
pub struct FileBench {
    pub entries: u64,
    pub bytes: u64,
    /// [`parse_stream_only`] over the file.
    pub parse: std::time::Duration,
    /// [`verify_stream`] over the file (against the export's own key).
    pub verify: std::time::Duration,
}

/// Write a synthetic export of `n` entries (two centres' worth, with [`super::synthesize`])
/// into a fresh temporary folder, then time, on this thread, reading it without hashing and
/// verifying it with [`verify_stream`]; the folder is removed afterwards.
pub fn bench_file(n: u64) -> anyhow::Result<FileBench> {
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = Gone(std::env::temp_dir().join(format!(
        "hfx-bench-file-{}-{}",
        std::process::id(),
        crate::now_ms()
    )));
    let centres = ["320300000000000".to_string(), "320700000000000".to_string()];
    // Each exchange puts three entries in each centre's file.
    let paths = super::synthesize(&dir.0, "bench", &centres, n.div_ceil(3), 65_536, &|_, _| {})?;
    let path = paths
        .first()
        .ok_or_else(|| anyhow::anyhow!("no export written"))?;
    let bytes = std::fs::metadata(path)?.len();
    let open = || -> anyhow::Result<std::io::BufReader<std::fs::File>> {
        Ok(std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path)?,
        ))
    };
    let t = std::time::Instant::now();
    let entries = parse_stream_only(&mut open()?)?
        .ok_or_else(|| anyhow::anyhow!("the synthetic export did not read cleanly"))?;
    let parse = t.elapsed();
    let t = std::time::Instant::now();
    let rep = verify_stream(&mut open()?, &mut |_| Ok((None, 1)), &|_, _| {})?;
    let verify = t.elapsed();
    anyhow::ensure!(
        rep.problems.is_empty() && rep.entries == entries,
        "the synthetic export did not verify: {:?}",
        rep.problems
    );
    Ok(FileBench {
        entries,
        bytes,
        parse,
        verify,
    })
}
