//! The start-up check: a node asks its witnesses what they cosigned for it and refuses to
//! serve on a store behind it (docs/backup.md, "The start check").

use crate::error::{HfxError, HfxResult};
use crate::node::Node;
use hfx_proto::v1 as pb;
use std::time::Duration;

/// Witness side of `LogExchange/GetWitnessed`: the checkpoint we cosigned for `centre`
/// (the caller when empty); an empty note when we cosigned none.
pub async fn witnessed_for(
    node: &Node,
    caller: &str,
    req: pb::WitnessedRequest,
) -> HfxResult<pb::SignedCheckpoint> {
    let centre = if req.centre.is_empty() {
        caller.to_string()
    } else {
        hfx_adapters::ids::validate_centre_code("centre", &req.centre)?
    };
    let held = node.store.witness_held(&centre).await?;
    Ok(pb::SignedCheckpoint {
        note: held.map(|h| h.note.into_bytes()).unwrap_or_default(),
    })
}

/// How long the start check waits for witnesses: a store that has never logged anything
/// (a new zone's first start, every node starting at once, none serving yet) waits briefly;
/// any other store waits longer, since serving a stale one would fork the log.
const WAIT_PRISTINE: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(10);

/// What one witness said at start.
#[derive(Debug, Clone)]
enum Answer {
    Nothing,
    Holds(u64),
    Ahead(u64),
    Diverged(u64),
    Unreached(String),
}

/// Refuse to serve on a store behind what the witnesses cosigned for us. Every witness
/// (each other centre of the directory) is asked at once what it holds for this centre; a
/// checkpoint larger than our log, or one our log does not contain at its size, is a
/// refusal naming the sizes, the witnesses and what to restore. Witnesses that do not
/// answer within the wait are logged (WARN if none answered on a store that has a log) and
/// the node starts: a zone where nobody answers cannot tell, and must not stay down.
pub async fn check_witnesses(node: &Node) -> anyhow::Result<()> {
    let (size, tree) = {
        let log = node.store.log().lock().await;
        (log.size(), log.tree().clone())
    };
    let pristine = size == 0 && node.store.latest_checkpoint().await?.is_none();
    let wait = if pristine { WAIT_PRISTINE } else { WAIT };
    let dir = node.trust.directory();
    let tree = &tree;
    let asks = dir
        .centres
        .iter()
        .filter(|c| c.code != node.centre)
        .map(|c| {
            let code = c.code.clone();
            async move {
                let answer = match tokio::time::timeout(wait, ask(node, &code)).await {
                    Err(_) => Answer::Unreached(format!("no answer within {wait:?}")),
                    Ok(Err(e)) => Answer::Unreached(e),
                    Ok(Ok(None)) => Answer::Nothing,
                    Ok(Ok(Some(cp))) if cp.size > size => Answer::Ahead(cp.size),
                    Ok(Ok(Some(cp))) => match node.store.root_at_in(tree, cp.size).await {
                        Ok(Some(root)) if root == cp.root => Answer::Holds(cp.size),
                        Ok(_) => Answer::Diverged(cp.size),
                        Err(e) => Answer::Unreached(format!("reading our own log: {e}")),
                    },
                };
                (code, answer)
            }
        });
    let mut answers = futures::future::join_all(asks).await;
    // Another process of the centre may share the store (failover) and have logged, signed
    // and got cosigned more since our tree was loaded: what the store holds now counts.
    let now = node.store.stored_size().await?.max(size);
    for (_, a) in answers.iter_mut() {
        if let Answer::Ahead(s) = *a
            && s <= now
        {
            *a = Answer::Holds(s);
        }
    }
    let ahead: Vec<(String, u64)> = answers
        .iter()
        .filter_map(|(w, a)| match a {
            Answer::Ahead(s) => Some((w.clone(), *s)),
            _ => None,
        })
        .collect();
    let diverged: Vec<(String, u64)> = answers
        .iter()
        .filter_map(|(w, a)| match a {
            Answer::Diverged(s) => Some((w.clone(), *s)),
            _ => None,
        })
        .collect();
    if let Some(known) = ahead.iter().map(|(_, s)| *s).max() {
        let who: Vec<String> = ahead
            .iter()
            .map(|(w, s)| format!("{w} (size {s})"))
            .collect();
        anyhow::bail!(
            "refusing to serve: the store is stale. The zone knows a log of size {known} for {} (cosigned by witness {}), but this store's log has size {now}. Serving it would fork the signed log. Stop the node, restore a newer backup — the newest, holding at least {known} entries — with `hfx store restore --config CONFIG --from FILE --force`, and start again (docs/backup.md)",
            node.centre,
            who.join(", ")
        );
    }
    if !diverged.is_empty() {
        let who: Vec<String> = diverged
            .iter()
            .map(|(w, s)| format!("{w} (size {s})"))
            .collect();
        anyhow::bail!(
            "refusing to serve: this store's log (size {size}) does not contain the checkpoint witness {} cosigned for {}: it is not this centre's history. Restore the newest backup of this centre's own store (docs/backup.md)",
            who.join(", "),
            node.centre
        );
    }
    let unreached: Vec<String> = answers
        .iter()
        .filter_map(|(w, a)| match a {
            Answer::Unreached(e) => Some(format!("{w}: {e}")),
            _ => None,
        })
        .collect();
    let answered = answers.len() - unreached.len();
    let held = answers
        .iter()
        .filter_map(|(_, a)| match a {
            Answer::Holds(s) => Some(*s),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if pristine && !unreached.is_empty() {
        tracing::info!(
            answered,
            unreached = unreached.len(),
            "start check: a new store; witnesses that did not answer are starting too, or down"
        );
    } else if answered == 0 && !answers.is_empty() {
        tracing::warn!(log_size = size, unreached = %unreached.join("; "), "start check: no witness answered; serving on the store as it is");
    } else if !unreached.is_empty() {
        tracing::warn!(log_size = size, witnessed = held, unreached = %unreached.join("; "), "start check: some witnesses did not answer");
    } else {
        tracing::info!(
            log_size = size,
            witnessed = held,
            answered,
            "start check: the store is not behind its witnesses"
        );
    }
    Ok(())
}

/// Ask witness `code` what it cosigned for us: the opened checkpoint, None if nothing.
async fn ask(node: &Node, code: &str) -> Result<Option<crate::log::note::Checkpoint>, String> {
    let channel = node.peers.channel(code).map_err(|e| e.detail())?;
    let mut client = pb::log_exchange_client::LogExchangeClient::new(channel);
    let note = client
        .get_witnessed(pb::WitnessedRequest {
            header: None,
            centre: node.centre.clone(),
        })
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner()
        .note;
    if note.is_empty() {
        return Ok(None);
    }
    let note = String::from_utf8(note).map_err(|_| "its note is not UTF-8".to_string())?;
    crate::witness::open_checkpoint(node, &node.centre, &note)
        .map(Some)
        .map_err(|e: HfxError| format!("its note does not verify: {}", e.detail()))
}
