//! Fill a (stopped) node's store with N synthetic log entries and sign a checkpoint over
//! them, to measure `hfx store backup` and `hfx store restore` on a big log (docs/backup.md,
//! "Cost"). Entries go through the store's own batch append (1,000 per commit), as the
//! bench's `log` scenario writes them.
//!
//! `cargo run --release -p hfx-node --example fill_store -- NODE.toml [N]` (default 1,000,000).

use hfx_node::log::note::{Checkpoint, NoteSigner};
use hfx_node::log::{Envelope, LogState, SENT};
use hfx_node::store::{Store, WriteOp};
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hfx_node::tls::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let config = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: fill_store NODE.toml [N]"))?;
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let cfg = hfx_node::config::NodeConfig::load(std::path::Path::new(&config))?;
    // The store and the signing key only: the core system is not needed to fill a log.
    let trust = hfx_node::trust::Trust::load(&cfg)?;
    let dir = trust.directory();
    let sk = hfx_certs::SigningKeyPair::from_pem(&std::fs::read_to_string(
        cfg.resolve(&cfg.signing.key),
    )?)?;
    let signer =
        NoteSigner::from_pkcs8(&hfx_node::log::origin(&dir.zone, &cfg.centre), sk.pkcs8())?;
    let store = Store::open(&cfg.store_url(), LogState::new()).await?;
    let peers: Vec<String> = dir
        .centres
        .iter()
        .map(|c| c.code.clone())
        .filter(|c| *c != cfg.centre)
        .collect();
    let t = Instant::now();
    let batch = 1_000u64;
    let mut done = 0u64;
    while done < n {
        let k = batch.min(n - done);
        let ops = (0..k)
            .map(|i| {
                let j = done + i;
                let mut payload = vec![0x33u8; 200];
                payload[..8].copy_from_slice(&j.to_le_bytes());
                let id = uuid::Uuid::now_v7().hyphenated().to_string();
                let envelope = Envelope::draft(
                    SENT,
                    &peers[(j as usize) % peers.len()],
                    &id,
                    "",
                    "MemberExchange/QueryMember#request",
                    &payload,
                );
                WriteOp::LogAppend { envelope, payload }
            })
            .collect();
        store.write(ops).await?;
        done += k;
        if done.is_multiple_of(100_000) {
            eprintln!("{done} entries, {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    let (size, root) = {
        let log = store.log().lock().await;
        (log.size(), log.root())
    };
    let note = Checkpoint::new(signer.name(), size, root).sign(&[&signer])?;
    store.add_checkpoint(size, &root, &note).await?;
    println!(
        "appended {n} entries in {:.1} s; log size {size}, checkpoint signed",
        t.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}
