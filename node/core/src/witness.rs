//! Every node is a witness for its peers (DESIGN.md §5). A peer pushes each new checkpoint
//! with a consistency proof from the last one we cosigned for it; we check, store atomically
//! (compare-and-swap on what we hold) and cosign (C2SP tlog-cosignature). A checkpoint that
//! contradicts what we cosigned is refused and kept, with the proof, as self-contained evidence.
//!
//! A witness also gossips each checkpoint it cosigned to the other centres, so a log that
//! shows one history to one witness and another to a second is caught: two checkpoints of
//! one size with different roots, both signed by the centre, prove the fork by themselves.

use crate::error::{HfxError, HfxResult};
use crate::log::merkle::{self, Hash};
use crate::log::note::{Checkpoint, NoteVerifier, cosign as cosign_note, verify_cosignature};
use crate::node::Node;
use crate::store::StoreError;
use crate::store::witness::Evidence;
use base64::Engine;
use hfx_proto::v1 as pb;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The checkpoint-signing key the directory lists for `centre`.
pub fn verifier_for(node: &Node, centre: &str) -> HfxResult<NoteVerifier> {
    crate::directory::checkpoint_verifier(&node.trust.directory(), centre)
}

fn note_body(note: &str) -> &str {
    match note.find("\n\n") {
        Some(i) => &note[..i + 1],
        None => note,
    }
}

/// Open a checkpoint note signed by `centre`.
pub fn open_checkpoint(node: &Node, centre: &str, note: &str) -> HfxResult<Checkpoint> {
    let v = verifier_for(node, centre)?;
    let (cp, _) = Checkpoint::open(note, std::slice::from_ref(&v)).map_err(|e| {
        HfxError::invalid("note", format!("not a checkpoint signed by {centre}: {e}"))
    })?;
    if cp.origin != v.name() {
        return Err(HfxError::invalid(
            "note",
            format!("origin {:?} is not {centre}'s {:?}", cp.origin, v.name()),
        ));
    }
    Ok(cp)
}

/// Keep evidence against `centre`'s log. Logged here; a store failure is logged too, and
/// does not change the answer (the refusal stands).
#[allow(clippy::too_many_arguments)]
async fn record_evidence(
    node: &Node,
    centre: &str,
    kind: &str,
    detail: &str,
    old_note: &str,
    new_note: &str,
    proof: &[Vec<u8>],
    reported_by: &str,
) {
    tracing::error!(%centre, kind, detail, reported_by, "witness: misbehaving log, evidence kept");
    let evidence = Evidence {
        at_ms: crate::now_ms(),
        centre: centre.to_string(),
        kind: kind.to_string(),
        detail: detail.to_string(),
        old_note: old_note.to_string(),
        new_note: new_note.to_string(),
        proof: proof.concat(),
        reported_by: reported_by.to_string(),
    };
    if let Err(e) = node.store.add_evidence(&evidence).await {
        tracing::error!(error = %HfxError::from(e).detail(), "could not store witness evidence");
    }
}

/// Witness side of `LogExchange/Cosign`.
pub async fn cosign(node: &Node, peer: &str, req: pb::CosignRequest) -> HfxResult<pb::Cosignature> {
    let note =
        String::from_utf8(req.note).map_err(|_| HfxError::invalid("note", "is not UTF-8"))?;
    let cp = open_checkpoint(node, peer, &note)?;
    let proof: Vec<Hash> = req
        .proof
        .iter()
        .map(|h| merkle::hash_from_slice(h))
        .collect::<Result<_, _>>()
        .map_err(|e| HfxError::invalid("proof", e.to_string()))?;
    let _guard = node.witness_lock.lock().await;
    let prior = node.store.witness_held(peer).await?;
    match &prior {
        None => {}
        Some(h) if cp.size < h.size => {
            return Err(HfxError::FailedPrecondition(format!(
                "checkpoint size {} is older than the {} we cosigned",
                cp.size, h.size
            )));
        }
        Some(h) if cp.size == h.size && cp.root != h.root => {
            let detail = format!("two checkpoints of size {} with different roots", cp.size);
            record_evidence(node, peer, "fork", &detail, &h.note, &note, &[], peer).await;
            gossip_out(node, peer, &note);
            return Err(HfxError::FailedPrecondition(format!(
                "fork: {detail}; evidence kept"
            )));
        }
        Some(h) if cp.size == h.size => {}
        Some(h) => {
            if req.old_size != h.size {
                return Err(HfxError::FailedPrecondition(format!(
                    "send a consistency proof from size {}",
                    h.size
                )));
            }
            if let Err(e) = merkle::verify_consistency(h.size, cp.size, &h.root, &cp.root, &proof) {
                let detail = format!(
                    "checkpoint {} is not consistent with the {} we cosigned: {e}",
                    cp.size, h.size
                );
                record_evidence(
                    node,
                    peer,
                    "inconsistent",
                    &detail,
                    &h.note,
                    &note,
                    &req.proof,
                    peer,
                )
                .await;
                return Err(HfxError::FailedPrecondition(format!(
                    "{detail}; evidence kept"
                )));
            }
        }
    }
    // A checkpoint of the same size that another witness showed us, with another root, proves
    // a fork by itself: refuse, and keep both notes.
    let seen = node.store.witness_seen(peer, cp.size).await?;
    for crate::store::witness::Seen {
        root,
        note: seen_note,
        reporter,
    } in seen
    {
        if root.as_slice() != cp.root.as_slice() {
            let detail = format!(
                "fork: {peer} signed two checkpoints of size {} with different roots (one shown to us, one to {reporter})",
                cp.size
            );
            record_evidence(
                node,
                peer,
                "fork",
                &detail,
                &seen_note,
                &note,
                &[],
                &reporter,
            )
            .await;
            // Let the other witnesses see the contradicting checkpoint too.
            gossip_out(node, peer, &note);
            return Err(HfxError::FailedPrecondition(format!(
                "{detail}; evidence kept"
            )));
        }
    }
    // Check and store atomically: only replace exactly what we checked against.
    let stored = match &prior {
        Some(h) if h.size == cp.size => Ok(()),
        _ => {
            node.store
                .witness_swap(
                    peer,
                    prior.as_ref().map(|h| (h.size, &h.root)),
                    cp.size,
                    &cp.root,
                    &note,
                )
                .await
        }
    };
    match stored {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(HfxError::FailedPrecondition(
                "a concurrent checkpoint was cosigned first; retry".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let now = crate::now_ms();
    let line = cosign_note(&node.signer, note_body(&note), (now / 1000) as u64)
        .map_err(|e| HfxError::internal_from("cosigning", e))?;
    if prior.as_ref().map(|h| h.size) != Some(cp.size) {
        gossip_out(node, peer, &note);
    }
    Ok(pb::Cosignature {
        signature_line: line.into_bytes(),
    })
}

/// Receiver side of `LogExchange/Gossip`: compare a third centre's checkpoint, as another
/// witness saw it, with what we cosigned for that centre.
pub async fn gossip_in(
    node: &Node,
    reporter: &str,
    req: pb::GossipRequest,
) -> HfxResult<pb::GossipReply> {
    let origin = hfx_adapters::ids::validate_centre_code("origin_centre", &req.origin_centre)?;
    let note =
        String::from_utf8(req.note).map_err(|_| HfxError::invalid("note", "is not UTF-8"))?;
    let cp = open_checkpoint(node, &origin, &note)?;
    let _guard = node.witness_lock.lock().await;
    // Remember what others were shown, so a later contradicting checkpoint offered to us for
    // cosigning is caught even if it arrives after the gossip.
    node.store
        .witness_remember_seen(&origin, cp.size, &cp.root, &note, reporter)
        .await?;
    let Some(h) = node.store.witness_held(&origin).await? else {
        return Ok(pb::GossipReply {
            consistent: true,
            detail: "no checkpoint of that centre cosigned here".into(),
        });
    };
    if cp.size == h.size {
        if cp.root == h.root {
            return Ok(pb::GossipReply {
                consistent: true,
                detail: "same checkpoint".into(),
            });
        }
        let detail = format!(
            "fork: {origin} signed two checkpoints of size {} with different roots (one shown to us, one to {reporter})",
            cp.size
        );
        record_evidence(
            node,
            &origin,
            "fork",
            &detail,
            &h.note,
            &note,
            &[],
            reporter,
        )
        .await;
        return Ok(pb::GossipReply {
            consistent: false,
            detail,
        });
    }
    // Different sizes: ask the origin to prove the smaller is a prefix of the larger.
    let (small, large) = if cp.size < h.size {
        ((cp.size, cp.root), (h.size, h.root))
    } else {
        ((h.size, h.root), (cp.size, cp.root))
    };
    let channel = node.peers.channel(&origin)?;
    let mut client = pb::log_exchange_client::LogExchangeClient::new(channel);
    let proof = match client
        .get_consistency_proof(pb::ConsistencyRequest {
            header: None,
            old_size: small.0,
            new_size: large.0,
        })
        .await
    {
        Ok(p) => p.into_inner().hashes,
        Err(s) => {
            return Ok(pb::GossipReply {
                consistent: true,
                detail: format!("could not ask {origin} for a proof: {}", s.message()),
            });
        }
    };
    let hashes: Vec<Hash> = proof
        .iter()
        .filter_map(|h| merkle::hash_from_slice(h).ok())
        .collect();
    match merkle::verify_consistency(small.0, large.0, &small.1, &large.1, &hashes) {
        Ok(()) => Ok(pb::GossipReply {
            consistent: true,
            detail: "consistent".into(),
        }),
        Err(e) => {
            let detail = format!(
                "fork: {origin}'s checkpoints {} and {} are not consistent ({e}); one shown to us, one to {reporter}",
                small.0, large.0
            );
            record_evidence(
                node, &origin, "fork", &detail, &h.note, &note, &proof, reporter,
            )
            .await;
            Ok(pb::GossipReply {
                consistent: false,
                detail,
            })
        }
    }
}

/// Share a checkpoint we just cosigned for `origin` with every other centre.
fn gossip_out(node: &Node, origin: &str, note: &str) {
    let dir = node.trust.directory();
    for c in &dir.centres {
        if c.code == node.centre || c.code == origin {
            continue;
        }
        let Ok(channel) = node.peers.channel(&c.code) else {
            continue;
        };
        let req = pb::GossipRequest {
            header: None,
            origin_centre: origin.to_string(),
            note: note.as_bytes().to_vec(),
        };
        let to = c.code.clone();
        tokio::spawn(async move {
            let mut client = pb::log_exchange_client::LogExchangeClient::new(channel);
            match client.gossip(req).await {
                Ok(r) if !r.get_ref().consistent => {
                    tracing::error!(peer = %to, detail = %r.get_ref().detail, "gossip found a fork")
                }
                Ok(_) => {}
                Err(s) => tracing::debug!(peer = %to, error = %s.message(), "gossip not delivered"),
            }
        });
    }
}

/// Log side: push our newest checkpoint to each peer for cosigning (throttled per peer).
pub struct Collector {
    last_try: Mutex<HashMap<String, Instant>>,
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            last_try: Mutex::new(HashMap::new()),
        }
    }
}

impl Collector {
    pub async fn collect(&self, node: &Node, min_interval: Duration) -> HfxResult<()> {
        let Some((size, note)) = node.latest_checkpoint().await? else {
            return Ok(());
        };
        let dir = node.trust.directory();
        for c in &dir.centres {
            if c.code == node.centre {
                continue;
            }
            let have = node
                .store
                .cosigned_size(&crate::log::origin(&dir.zone, &c.code))
                .await?;
            if have >= size {
                continue;
            }
            {
                let mut g = self.last_try.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                if g.get(&c.code)
                    .is_some_and(|t| now.duration_since(*t) < min_interval)
                {
                    continue;
                }
                g.insert(c.code.clone(), now);
            }
            let proof = if have == 0 {
                Vec::new()
            } else {
                node.store
                    .consistency_proof(have, size)
                    .await
                    .map_err(HfxError::from)?
                    .map_err(|e| HfxError::internal_from("consistency proof", e))?
            };
            let req = pb::CosignRequest {
                header: None,
                note: note.as_bytes().to_vec(),
                old_size: have,
                proof: proof.iter().map(|h| h.to_vec()).collect(),
            };
            let channel = node.peers.channel(&c.code)?;
            let witness = crate::log::origin(&dir.zone, &c.code);
            let wv = verifier_for(node, &c.code)?;
            let mut client = pb::log_exchange_client::LogExchangeClient::new(channel);
            match client.cosign(req).await {
                Ok(r) => {
                    let line = String::from_utf8_lossy(&r.get_ref().signature_line).to_string();
                    if let Err(e) =
                        verify_cosignature(&witness, &wv.public_key(), note_body(&note), &line)
                    {
                        tracing::warn!(witness = %c.code, error = %e, "cosignature does not verify; ignored");
                        continue;
                    }
                    node.store
                        .add_cosignature(size, &witness, &B64.encode(wv.public_key()), &line)
                        .await?;
                }
                Err(s) => {
                    tracing::debug!(witness = %c.code, error = %s.message(), "checkpoint not cosigned")
                }
            }
        }
        Ok(())
    }
}
