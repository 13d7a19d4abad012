//! `hfx store backup` / `hfx store restore`, and the start-up check against what the
//! witnesses cosigned (docs/backup.md).
//!
//! A node's log is signed and cosigned: once a witness holds a checkpoint of size S, every
//! future checkpoint must extend it. A store put back from an old backup holds fewer
//! entries; if the node served on it, it would append different entries at the same
//! indexes and sign a fork. So a backup is only a copy of the store, but a restore is
//! checked twice: the backup must open and its log rebuild before it replaces the store,
//! and at start the node asks its witnesses what they hold for it ([`check_witnesses`]) and
//! refuses to serve on a store that is behind.

mod start_check;
pub use start_check::{check_witnesses, witnessed_for};

use crate::config::NodeConfig;
use crate::store::backup::{Inspected, inspect};
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL client tool is not installed.
    #[error(
        "{tool} is not on PATH: install the PostgreSQL client tools of the server's major version (Debian/Ubuntu: apt install postgresql-client; RHEL: dnf install postgresql), or take a base backup (docs/backup.md)"
    )]
    MissingTool { tool: &'static str },
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    /// The operation is refused as asked; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    #[error("the backup does not verify: {0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// What `hfx store backup` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub kind: &'static str,
    pub file: PathBuf,
    pub bytes: u64,
    /// Log entries in the copy (PostgreSQL: at least this many, counted before the dump).
    pub log_size: u64,
    pub checkpoint_size: Option<u64>,
    pub seconds: f64,
}

/// What `hfx store restore` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub kind: &'static str,
    pub from: PathBuf,
    pub store: String,
    pub log_size: u64,
    pub checkpoint_size: Option<u64>,
    /// Where the replaced SQLite store was moved (never deleted).
    pub kept_aside: Option<PathBuf>,
    pub seconds: f64,
}

/// The SQLite file of a `sqlite://` URL, or None for PostgreSQL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn utc_stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// A program on PATH, if any.
fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

async fn run_tool(tool: &'static str, args: &[&std::ffi::OsStr]) -> Result<String, BackupError> {
    let bin = on_path(tool).ok_or(BackupError::MissingTool { tool })?;
    let out = tokio::process::Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(io(format!("running {tool}")))?;
    if !out.status.success() {
        return Err(BackupError::Tool {
            tool,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Back the node's store up to `out` (a file that must not exist, or a folder to put a
/// named file in), online: the node may keep running. SQLite: `VACUUM INTO` (one consistent
/// snapshot), PostgreSQL: `pg_dump --format=custom`. Written to `NAME.partial` and renamed
/// when complete, so a file with the final name is always a whole backup.
pub async fn backup(
    cfg: &NodeConfig,
    out: &Path,
    step: &dyn Fn(&str),
) -> Result<BackupReport, BackupError> {
    let t = Instant::now();
    let url = cfg.store_url();
    let db = sqlite_path(&url);
    if let Some(db) = &db
        && !db.is_file()
    {
        return Err(BackupError::Refused(format!(
            "no store at {} (store.url): nothing to back up",
            db.display()
        )));
    }
    let store = Store::open_offline(&url).await?;
    let log_size = store.entry_count().await?;
    let checkpoint_size = store.latest_checkpoint().await?.map(|(s, _)| s);
    let ext = if db.is_some() { "sqlite" } else { "pgdump" };
    let file = if out.is_dir() {
        out.join(format!(
            "hfx-{}-{}-size{log_size}.{ext}",
            cfg.centre,
            utc_stamp()
        ))
    } else {
        out.to_path_buf()
    };
    if file.exists() {
        store.close().await;
        return Err(BackupError::Refused(format!(
            "{} exists: a backup never overwrites a file; name a new one",
            file.display()
        )));
    }
    let partial = with_suffix(&file, ".partial");
    let _ = std::fs::remove_file(&partial);
    step(&format!(
        "copying {log_size} log entries to {}",
        file.display()
    ));
    let copied = match &db {
        Some(_) => store
            .vacuum_into(&partial.display().to_string())
            .await
            .map_err(BackupError::from),
        None => run_tool(
            "pg_dump",
            &[
                "--format=custom".as_ref(),
                "--no-owner".as_ref(),
                "--file".as_ref(),
                partial.as_os_str(),
                url.as_ref(),
            ],
        )
        .await
        .map(|_| ()),
    };
    store.close().await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    // VACUUM INTO does not sync the copy; a backup must be on disk before it is named.
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", partial.display())))?;
    std::fs::rename(&partial, &file).map_err(io(format!("naming {}", file.display())))?;
    let bytes = std::fs::metadata(&file)
        .map_err(io(format!("reading {}", file.display())))?
        .len();
    Ok(BackupReport {
        kind: ext,
        file,
        bytes,
        log_size,
        checkpoint_size,
        seconds: t.elapsed().as_secs_f64(),
    })
}

/// Whether a node seems to use this store: a process holding the SQLite file open
/// (Linux, /proc), or something listening on the configuration's addresses.
fn in_use(cfg: &NodeConfig, db: Option<&Path>) -> Option<String> {
    if let Some(db) = db {
        let names: Vec<PathBuf> = ["", "-wal"]
            .iter()
            .map(|s| with_suffix(db, s))
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        let me = std::process::id().to_string();
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for p in procs.flatten() {
                let pid = p.file_name().to_string_lossy().to_string();
                if pid == me || !pid.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                    continue;
                };
                for fd in fds.flatten() {
                    if let Ok(target) = std::fs::read_link(fd.path())
                        && names.contains(&target)
                    {
                        return Some(format!("process {pid} has {} open", target.display()));
                    }
                }
            }
        }
    }
    for (key, addr) in [
        ("listen.peer", &cfg.listen.peer),
        ("listen.local", &cfg.listen.local),
    ] {
        let Ok(sa) = addr.parse::<std::net::SocketAddr>() else {
            continue;
        };
        if sa.port() != 0
            && std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(300)).is_ok()
        {
            return Some(format!("something listens on {addr} ({key})"));
        }
    }
    None
}

/// Check that the newest checkpoint of a backup is signed by this centre's key.
fn verify_checkpoint(cfg: &NodeConfig, got: &Inspected) -> Result<(), BackupError> {
    let Some((size, note)) = &got.checkpoint else {
        return Ok(());
    };
    let trust = crate::trust::Trust::load(cfg).map_err(|e| {
        BackupError::Refused(format!(
            "cannot load the directory to check the backup's checkpoint: {e}"
        ))
    })?;
    let v = crate::directory::checkpoint_verifier(&trust.directory(), &cfg.centre)
        .map_err(|e| BackupError::Invalid(e.detail()))?;
    let (cp, _) =
        crate::log::note::Checkpoint::open(note, std::slice::from_ref(&v)).map_err(|e| {
            BackupError::Invalid(format!(
                "its checkpoint of size {size} is not signed by {}: {e}",
                cfg.centre
            ))
        })?;
    if cp.size != *size {
        return Err(BackupError::Invalid(format!(
            "its checkpoint note says size {}, the row {size}",
            cp.size
        )));
    }
    Ok(())
}

/// Put the backup `from` in place of the node's store. The node must be stopped; an
/// existing store is replaced only with `force` (a SQLite one is moved aside, never
/// deleted). The backup is checked before it replaces anything: it opens, its log rebuilds
/// (no gap, every leaf hash matches, the tree extends its newest checkpoint) and that
/// checkpoint is signed by this centre. PostgreSQL: `pg_restore --list` reads the archive
/// first, the restore is one transaction, and the log is checked after it.
pub async fn restore(
    cfg: &NodeConfig,
    from: &Path,
    force: bool,
    step: &dyn Fn(&str),
) -> Result<RestoreReport, BackupError> {
    let t = Instant::now();
    if !from.is_file() {
        return Err(BackupError::Refused(format!(
            "{}: no such backup file",
            from.display()
        )));
    }
    let url = cfg.store_url();
    let db = sqlite_path(&url);
    if let Some(why) = in_use(cfg, db.as_deref()) {
        return Err(BackupError::Refused(format!(
            "the store is in use ({why}): stop the node first, then restore"
        )));
    }
    match db {
        Some(db) => restore_sqlite(cfg, from, &db, force, step, t).await,
        None => restore_postgres(cfg, from, &url, force, step, t).await,
    }
}

async fn restore_sqlite(
    cfg: &NodeConfig,
    from: &Path,
    db: &Path,
    force: bool,
    step: &dyn Fn(&str),
    t: Instant,
) -> Result<RestoreReport, BackupError> {
    if db.exists() && !force {
        return Err(BackupError::Refused(format!(
            "{} exists: give --force to replace it (it is moved aside, not deleted)",
            db.display()
        )));
    }
    let staged = with_suffix(db, ".restoring");
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&staged, s));
    }
    step(&format!("copying {}", from.display()));
    std::fs::copy(from, &staged).map_err(io(format!(
        "copying {} to {}",
        from.display(),
        staged.display()
    )))?;
    step("verifying the backup's log");
    let checked = match inspect(&format!("sqlite://{}", staged.display())).await {
        Ok(got) => verify_checkpoint(cfg, &got).map(|()| got),
        Err(e) => Err(BackupError::Invalid(e.to_string())),
    };
    let got = match checked {
        Ok(got) => got,
        Err(e) => {
            for s in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(with_suffix(&staged, s));
            }
            return Err(e);
        }
    };
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("syncing {}", staged.display())))?;
    step("swapping it in");
    let mut kept_aside = None;
    if db.exists() {
        let aside = with_suffix(db, &format!(".before-restore-{}", utc_stamp()));
        // The old store's WAL belongs to it: it goes along, never onto the restored file.
        for s in ["-wal", "-shm", ""] {
            let p = with_suffix(db, s);
            if p.exists() {
                std::fs::rename(&p, with_suffix(&aside, s))
                    .map_err(io(format!("moving {} aside", p.display())))?;
            }
        }
        kept_aside = Some(aside);
    }
    for s in ["-wal", ""] {
        let p = with_suffix(&staged, s);
        if p.exists() {
            std::fs::rename(&p, with_suffix(db, s))
                .map_err(io(format!("moving {} into place", p.display())))?;
        }
    }
    let _ = std::fs::remove_file(with_suffix(&staged, "-shm"));
    if let Some(dir) = db.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(RestoreReport {
        kind: "sqlite",
        from: from.to_path_buf(),
        store: db.display().to_string(),
        log_size: got.log_size,
        checkpoint_size: got.checkpoint.map(|(s, _)| s),
        kept_aside,
        seconds: t.elapsed().as_secs_f64(),
    })
}

async fn restore_postgres(
    cfg: &NodeConfig,
    from: &Path,
    url: &str,
    force: bool,
    step: &dyn Fn(&str),
    t: Instant,
) -> Result<RestoreReport, BackupError> {
    step("reading the archive");
    run_tool("pg_restore", &["--list".as_ref(), from.as_os_str()]).await?;
    let store = Store::open_offline(url).await?;
    let others = store.other_sessions().await?.unwrap_or(0);
    let existing = store.entry_count().await.unwrap_or(0);
    store.close().await;
    if others > 0 {
        return Err(BackupError::Refused(format!(
            "the store is in use ({others} other sessions on the database): stop the node (every process of the centre) first, then restore"
        )));
    }
    if existing > 0 && !force {
        return Err(BackupError::Refused(format!(
            "the database holds a log of {existing} entries: give --force to replace it"
        )));
    }
    step("restoring (one transaction)");
    run_tool(
        "pg_restore",
        &[
            "--clean".as_ref(),
            "--if-exists".as_ref(),
            "--no-owner".as_ref(),
            "--single-transaction".as_ref(),
            "--exit-on-error".as_ref(),
            "--dbname".as_ref(),
            url.as_ref(),
            from.as_os_str(),
        ],
    )
    .await?;
    step("verifying the restored log");
    let got = inspect(url)
        .await
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    verify_checkpoint(cfg, &got)?;
    Ok(RestoreReport {
        kind: "postgres",
        from: from.to_path_buf(),
        store: "the store.url database".into(),
        log_size: got.log_size,
        checkpoint_size: got.checkpoint.map(|(s, _)| s),
        kept_aside: None,
        seconds: t.elapsed().as_secs_f64(),
    })
}
