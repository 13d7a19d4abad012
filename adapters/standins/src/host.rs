//! Host one centre's core system for a zone on loopback (the demo, the zone tests, `hfx bench`):
//! create its database or folder, start its stand-in (the batch run, the vendor API server), and
//! hand back the adapter settings a node reaches it with and the job that seeds it. The caller
//! no longer needs to know what each kind takes.

use crate::batch::{BatchRunner, RunnerTask};
use crate::seed::SeedOptions;
use crate::seeding::Seed;
use crate::vendor::{Faults, StandIn, spawn_standin};
use hfx_adapters::AdapterError;
use hfx_adapters::batchfile::BatchfileCore;
use hfx_adapters::mariadb::MariadbCore;
use hfx_adapters::postgres::PostgresCore;
use hfx_adapters::settings::AdapterSettings;
use hfx_adapters::sqlite::SqliteCore;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a database server may take to create a scratch database before the centre falls
/// back to the sqlite core.
const CREATE_DB_WITHIN: Duration = Duration::from_secs(5);
/// How often the batch core's batch run looks at its inbox.
const BATCH_RUN_EVERY: Duration = Duration::from_millis(200);

/// What core system to host for one centre.
#[derive(Debug, Clone)]
pub struct HostSpec<'a> {
    /// postgres, mariadb, sqlite, batchfile or vendorapi; anything else gets sqlite.
    pub kind: &'a str,
    pub centre: &'a str,
    /// The node's folder: the core's files live in it (sqlite `core.db`, `core-batch/`,
    /// `core-vendor/`).
    pub dir: &'a Path,
    /// Database servers for postgres / mariadb (a scratch database is created on them).
    pub postgres_url: &'a str,
    pub mariadb_url: &'a str,
    /// Members `0..members` of the population seeded with `opts`.
    pub members: u64,
    pub opts: SeedOptions,
}

/// The job that seeds a hosted core (run it, e.g. spawned, before the node serves).
pub type SeedJob = Pin<Box<dyn Future<Output = Result<(), AdapterError>> + Send>>;

/// A hosted core system.
pub struct HostedCore {
    /// The node config's `[adapter]` settings (sqlite: `core.db`, relative to the node's folder).
    pub settings: AdapterSettings,
    pub seeding: SeedJob,
    /// Why the core is sqlite although another kind was asked for, if it is.
    pub fallback: Option<String>,
    /// What keeps the core running.
    pub keep: Keep,
}

/// The running parts of a hosted core: dropping it stops them; [`Keep::cleanup`] also drops the
/// scratch database.
#[derive(Default)]
pub struct Keep {
    runner: Option<RunnerTask>,
    vendor: Option<StandIn>,
    /// (kind, server url, database name)
    database: Option<(String, String, String)>,
}

impl Keep {
    /// Stop the stand-ins and drop the scratch database (a failure is logged: it is a leftover,
    /// not an error of the run).
    pub async fn cleanup(&mut self) {
        if let Some((kind, server, name)) = self.database.take()
            && let Err(e) = crate::db::drop_database(&kind, &server, &name).await
        {
            tracing::warn!(database = %name, error = %e, "could not drop a scratch database");
        }
        self.runner = None;
        self.vendor = None;
    }

    pub fn is_empty(&self) -> bool {
        self.runner.is_none() && self.vendor.is_none() && self.database.is_none()
    }
}

/// What can go wrong hosting a core.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> HostError {
    let what = what.to_string();
    move |source| HostError::Io { what, source }
}

/// A server URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Host the core system `spec` asks for. A postgres / mariadb server that cannot create the
/// scratch database within 5 s leaves the centre on the sqlite core, with the reason in
/// [`HostedCore::fallback`].
pub async fn host(spec: &HostSpec<'_>) -> Result<HostedCore, HostError> {
    let (centre, opts, n) = (spec.centre.to_string(), spec.opts, spec.members);
    match spec.kind {
        kind @ ("postgres" | "mariadb") => {
            let server = if kind == "postgres" {
                spec.postgres_url
            } else {
                spec.mariadb_url
            };
            let name = format!("hfx_{kind}_{}_{}", spec.centre, std::process::id());
            let created = tokio::time::timeout(CREATE_DB_WITHIN, async {
                if kind == "postgres" {
                    crate::db::postgres::create_database(server, &name).await
                } else {
                    crate::db::mariadb::create_database(server, &name).await
                }
            })
            .await;
            let url = match created {
                Ok(Ok(url)) => url,
                Ok(Err(e)) => {
                    return Ok(sqlite(
                        spec,
                        Some(format!("{} not reachable ({})", redact(server), e.detail())),
                    ));
                }
                Err(_) => {
                    return Ok(sqlite(
                        spec,
                        Some(format!("{} did not answer in 5 s", redact(server))),
                    ));
                }
            };
            let is_pg = kind == "postgres";
            let u = url.clone();
            let seeding: SeedJob = Box::pin(async move {
                if is_pg {
                    let core = PostgresCore::open(&u, None).await?;
                    core.seed(&centre, &opts, 0, n, &|_| {}).await
                } else {
                    let core = MariadbCore::open(&u, None).await?;
                    core.seed(&centre, &opts, 0, n, &|_| {}).await
                }
            });
            Ok(HostedCore {
                settings: AdapterSettings {
                    kind: kind.into(),
                    url: Some(url),
                    ..Default::default()
                },
                seeding,
                fallback: None,
                keep: Keep {
                    database: Some((kind.into(), server.into(), name)),
                    ..Default::default()
                },
            })
        }
        "batchfile" => {
            let root = spec.dir.join("core-batch");
            std::fs::create_dir_all(&root).map_err(io(root.display()))?;
            let core = BatchfileCore::open(&root, None).await?;
            let runner = Arc::new(BatchRunner::open(&root).await?);
            let seeding: SeedJob =
                Box::pin(async move { core.seed(&centre, &opts, 0, n, &|_| {}).await });
            Ok(HostedCore {
                settings: AdapterSettings {
                    kind: "batchfile".into(),
                    path: Some(root),
                    ..Default::default()
                },
                seeding,
                fallback: None,
                keep: Keep {
                    runner: Some(runner.spawn(BATCH_RUN_EVERY)),
                    ..Default::default()
                },
            })
        }
        "vendorapi" => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(io("binding the vendor API stand-in"))?;
            let data = spec.dir.join("core-vendor");
            std::fs::create_dir_all(&data).map_err(io(data.display()))?;
            let standin = spawn_standin(listener, &data, Faults::default()).await?;
            let core = standin.core(None)?;
            let seeding: SeedJob =
                Box::pin(async move { core.seed(&centre, &opts, 0, n, &|_| {}).await });
            Ok(HostedCore {
                settings: standin.settings(),
                seeding,
                fallback: None,
                keep: Keep {
                    vendor: Some(standin),
                    ..Default::default()
                },
            })
        }
        _ => Ok(sqlite(spec, None)),
    }
}

/// The sqlite core at `<dir>/core.db`.
fn sqlite(spec: &HostSpec<'_>, fallback: Option<String>) -> HostedCore {
    let path: PathBuf = spec.dir.join("core.db");
    let (centre, opts, n) = (spec.centre.to_string(), spec.opts, spec.members);
    let seeding: SeedJob = Box::pin(async move {
        let core = SqliteCore::open(&path).await?;
        core.seed(&centre, &opts, 0, n, &|_| {}).await
    });
    HostedCore {
        settings: AdapterSettings {
            kind: "sqlite".into(),
            path: Some("core.db".into()),
            ..Default::default()
        },
        seeding,
        fallback,
        keep: Keep::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact("mysql://root@h"), "mysql://root@h");
        assert_eq!(redact("no-url"), "no-url");
    }
}
