//! Synthetic, mutually consistent exports (`hfx audit synth`), for measuring verify,
//! replay and reconcile at scale.

use super::export::{COMMIT_DIR, DISCLOSURE_RECORD};
use super::export::{write_checkpoint, write_count, write_disclosure, write_end, write_header};
use super::{B64, DisclosureRecord, ExportHeader};
use crate::merkle::{self, Tree};
use crate::note::Checkpoint;
use base64::Engine;
use std::collections::HashMap;
use std::io::Write;

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
    use crate::note::NoteSigner;
    use crate::{Envelope, RECV, SENT};
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
        // Request, reply and the disclosure's commitment, on each side.
        counts[a] += 3;
        counts[b] += 3;
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
            &crate::origin(zone, c),
            &NoteSigner::generate_pkcs8().map_err(|e| anyhow::anyhow!("{e}"))?,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut entries = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        let header = ExportHeader {
            centre: c.clone(),
            origin: signer.name().to_string(),
            vkey: signer.verifier_key(),
        };
        write_header(&mut entries, &header, crate::now_ms(), counts[i])?;
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
        let request_at_b = outs[b].tree.size();
        append(&mut outs[b], a, RECV, &mid, req_ty, &req, at)?;
        append(&mut outs[b], a, SENT, &mid, rep_ty, &reply, at)?;
        append(&mut outs[a], b, SENT, &mid, req_ty, &req, at)?;
        append(&mut outs[a], b, RECV, &mid, rep_ty, &reply, at)?;
        let pname = hfx_model::purpose::purpose_name(purpose).to_string();
        for (side, dir, outcome, peer, log_index) in [
            (b, "sent", "disclosed", a, Some(request_at_b)),
            (a, "received", "received", b, None),
        ] {
            let mut d = DisclosureRecord {
                direction: dir.into(),
                peer: centres[peer].clone(),
                purpose: pname.clone(),
                message_id: mid.clone(),
                outcome: outcome.into(),
                at_ms: at,
                id: Some(outs[side].ndisclosures as i64 + 1),
                acting_person: format!("{}/clerk/c{}", centres[a], k % 50),
                legal_basis: hfx_model::purpose::legal_basis(purpose).into(),
                subject_masked: format!("张* {:06}****{:04}", 0, k % 10_000),
                subject_key: String::new(),
                log_index,
                commit_index: Some(outs[side].tree.size()),
            };
            let bytes = d.canonical_bytes();
            append(
                &mut outs[side],
                peer,
                COMMIT_DIR,
                &mid,
                DISCLOSURE_RECORD,
                &bytes,
                at,
            )?;
            d.commit_index = Some(outs[side].tree.size() - 1);
            write_disclosure(&mut outs[side].disclosures, &d)?;
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
        write_count(&mut o.entries, "checkpoints", o.checkpoints.len() as u64)?;
        for c in &o.checkpoints {
            write_checkpoint(&mut o.entries, c)?;
        }
        write_count(&mut o.entries, "cosignatures", 0)?;
        write_count(&mut o.entries, "disclosures", o.ndisclosures)?;
        o.entries.write_all(&o.disclosures)?;
        o.side.flush()?;
        drop(o.side);
        write_count(&mut o.entries, "payloads", o.tree.size())?;
        std::io::copy(&mut std::fs::File::open(&o.side_path)?, &mut o.entries)?;
        write_end(&mut o.entries)?;
        std::fs::remove_file(&o.side_path)?;
        paths.push(o.path);
    }
    Ok(paths)
}
