//! `hfx store backup`, `hfx store restore` and `hfx store check` (docs/backup.md). The work is in
//! `hfx_node::backup`; here are the arguments, progress on a terminal and the report.

use super::init_cli_logging;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum StoreCmd {
    /// Back up the node's store while it runs: SQLite with VACUUM INTO (one consistent
    /// snapshot), PostgreSQL with pg_dump (custom format; needs the PostgreSQL client tools).
    ///
    /// With a folder for --out, the file is named hfx-CENTRE-UTCSTAMP-sizeN.EXT, N being the
    /// log size it holds, so the newest backup and what it covers can be told from the name.
    /// An existing file is never overwritten.
    Backup {
        /// The node's TOML configuration (its [store] is backed up).
        #[arg(long, env = "HFX_CONFIG")]
        config: PathBuf,
        /// The backup file to write, or a folder to write a named file in.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup in place of the node's store. The node must be stopped.
    ///
    /// The backup is checked first: it opens, its log rebuilds (no gap, every leaf hash
    /// matches) and extends its newest checkpoint, which must be signed by this centre. An
    /// existing store is replaced only with --force (SQLite: it is moved aside to
    /// FILE.before-restore-UTCSTAMP, never deleted). At its next start the node asks its
    /// witnesses what they cosigned and refuses to serve if the restored store is behind it:
    /// then restore a newer backup.
    Restore {
        /// The node's TOML configuration (its [store] is replaced).
        #[arg(long, env = "HFX_CONFIG")]
        config: PathBuf,
        /// The backup file (from `hfx store backup`).
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing store.
        #[arg(long)]
        force: bool,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole exchange log of the node's store: every entry in index order with no
    /// gap, every stored leaf hash matching its entry, every stored tile of the Merkle tree
    /// matching the entries, and the tree extending the newest signed checkpoint.
    ///
    /// A node does not repeat this pass at each start (it restores the tree from its tiles and
    /// checks the newest checkpoint against them); run it after moving a store, or on a
    /// schedule. Read-only, safe beside a running node. Exits 1 if the log fails a check.
    Check {
        /// The node's TOML configuration (its [store] is checked).
        #[arg(long, env = "HFX_CONFIG")]
        config: PathBuf,
        /// Print JSON (stable field names, the same in every language) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: StoreCmd) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let spinner = std::io::stderr().is_terminal().then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(100));
        s
    });
    let step = |what: &str| {
        if let Some(s) = &spinner {
            s.set_message(what.to_string());
        }
    };
    let out = match cmd {
        StoreCmd::Check { config, json } => {
            if let Some(s) = &spinner {
                s.finish_and_clear();
            }
            let cfg = hfx_node::config::NodeConfig::load(&config)?;
            let store = hfx_node::store::Store::open_offline(&cfg.store_url()).await?;
            let bar = std::io::stderr().is_terminal().then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "checking the log {bar:30} {pos}/{len} entries ({per_sec}, {eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            let started = std::time::Instant::now();
            let progress = |done: u64, total: u64| {
                if let Some(b) = &bar {
                    b.set_length(total);
                    b.set_position(done);
                }
            };
            let checked = store.check_log(&progress).await;
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let checkpoint = store.last_checkpoint_root().await?.map(|(s, _)| s);
            store.close().await;
            let seconds = started.elapsed().as_secs_f64();
            match checked {
                Ok(size) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&serde_json::json!({
                                "ok": true,
                                "log_size": size,
                                "checkpoint_size": checkpoint,
                                "seconds": seconds,
                            }))?
                        );
                    } else {
                        println!(
                            "log of {size} entries checked in {seconds:.1} s: no gap, every leaf hash and tile matches, extends the newest checkpoint ({})",
                            checkpoint
                                .map(|s| format!("size {s}"))
                                .unwrap_or_else(|| "none signed".into())
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&serde_json::json!({
                                "ok": false,
                                "error": e.to_string(),
                                "seconds": seconds,
                            }))?
                        );
                    } else {
                        eprintln!("the log fails its check: {e}");
                    }
                    ExitCode::from(1)
                }
            }
        }
        StoreCmd::Backup { config, out, json } => {
            let cfg = hfx_node::config::NodeConfig::load(&config)?;
            let r = hfx_node::backup::backup(&cfg, &out, &step).await;
            if let Some(s) = &spinner {
                s.finish_and_clear();
            }
            let r = r?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "backed up {} log entries (newest checkpoint {}) to {}: {} bytes in {:.1} s",
                    r.log_size,
                    r.checkpoint_size
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "none".into()),
                    r.file.display(),
                    r.bytes,
                    r.seconds
                );
            }
            ExitCode::SUCCESS
        }
        StoreCmd::Restore {
            config,
            from,
            force,
            json,
        } => {
            let cfg = hfx_node::config::NodeConfig::load(&config)?;
            let r = hfx_node::backup::restore(&cfg, &from, force, &step).await;
            if let Some(s) = &spinner {
                s.finish_and_clear();
            }
            let r = r?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "restored {} ({} log entries, newest checkpoint {}) into {} in {:.1} s{}",
                    r.from.display(),
                    r.log_size,
                    r.checkpoint_size
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "none".into()),
                    r.store,
                    r.seconds,
                    r.kept_aside
                        .as_ref()
                        .map(|p| format!("; the replaced store is kept at {}", p.display()))
                        .unwrap_or_default()
                );
                println!(
                    "start the node: it checks the store against what its witnesses cosigned and refuses to serve if it is behind"
                );
            }
            ExitCode::SUCCESS
        }
    };
    Ok(out)
}
