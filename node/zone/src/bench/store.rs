//! The node stores a bench run uses (`--store sqlite|postgres`): SQLite files in the run's
//! folder, or a fresh PostgreSQL database per store on the server `--store-url` names, each
//! created for the run and dropped at its end. Durability is what a centre runs with:
//! SQLite WAL with `synchronous=FULL` (the store's own settings), PostgreSQL with
//! `synchronous_commit = on` set on each database the run creates and read back.

use super::procfs::{TICK_US, Usage, usage_of_named, usage_sum_since};
use crate::launcher::ZoneSpec;
use anyhow::Context;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::path::Path;

/// The server `--store-url` defaults to.
pub const DEFAULT_STORE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which store the nodes (and the `log` scenario) write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StoreChoice {
    /// One SQLite file per store, WAL, synchronous=FULL.
    #[default]
    Sqlite,
    /// One fresh database per store on the `--store-url` server, synchronous_commit on.
    Postgres,
}

impl StoreChoice {
    pub fn name(self) -> &'static str {
        match self {
            StoreChoice::Sqlite => "sqlite",
            StoreChoice::Postgres => "postgres",
        }
    }
}

/// The stores of one run: makes them and, for PostgreSQL, drops every database it made.
pub(crate) struct Stores {
    choice: StoreChoice,
    /// The PostgreSQL server (maintenance database URL) new databases are made on.
    server: String,
    /// Unique per run, so runs on one server never meet.
    prefix: String,
    created: Vec<String>,
    /// What the server said about durability (`SHOW synchronous_commit`, `SHOW fsync`).
    durability: Option<Value>,
}

impl Stores {
    pub(crate) fn new(choice: StoreChoice, server: &str) -> Self {
        Self {
            choice,
            server: server.to_string(),
            prefix: format!("hfx_bench_{}", uuid::Uuid::now_v7().simple()),
            created: Vec::new(),
            durability: None,
        }
    }

    pub(crate) fn choice(&self) -> StoreChoice {
        self.choice
    }

    /// A fresh store: the SQLite file `sqlite_file`, or a new database on the server named
    /// after `label` (letters, digits, `_`).
    pub(crate) async fn fresh(
        &mut self,
        sqlite_file: &Path,
        label: &str,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "store label {label:?}: letters, digits and _ only"
        );
        match self.choice {
            StoreChoice::Sqlite => {
                if let Some(dir) = sqlite_file.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                Ok(format!("sqlite://{}", sqlite_file.display()))
            }
            StoreChoice::Postgres => {
                let name = format!("{}_{}", self.prefix, label.to_ascii_lowercase());
                let mut conn = self.connect().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                self.created.push(name.clone());
                // Durable commits whatever the server's default: every commit waits for
                // its WAL flush, as a centre's node does.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE {name} SET synchronous_commit = on"
                )))
                .execute(&mut conn)
                .await
                .with_context(|| format!("setting synchronous_commit on {name}"))?;
                let _ = conn.close().await;
                let url = database_url(&self.server, &name)?;
                if self.durability.is_none() {
                    self.durability = Some(read_durability(&url).await?);
                }
                Ok(url)
            }
        }
    }

    /// What the report says about the stores.
    pub(crate) fn describe(&self) -> Value {
        match self.choice {
            StoreChoice::Sqlite => json!({
                "kind": "sqlite",
                "detail": "one SQLite file per store, WAL, synchronous=FULL",
            }),
            StoreChoice::Postgres => json!({
                "kind": "postgres",
                "detail": "one fresh PostgreSQL database per store, synchronous_commit on, dropped after the run",
                "server": redact(&self.server),
                "durability": self.durability,
                "databases": self.created,
            }),
        }
    }

    /// Drop every database this run made (terminating sessions still on them).
    pub(crate) async fn cleanup(&mut self) -> anyhow::Result<()> {
        if self.created.is_empty() {
            return Ok(());
        }
        let mut conn = self.connect().await?;
        let mut failed = Vec::new();
        for name in std::mem::take(&mut self.created) {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                failed.push(format!("{name}: {e}"));
            }
        }
        let _ = conn.close().await;
        anyhow::ensure!(
            failed.is_empty(),
            "dropping the bench databases: {}",
            failed.join("; ")
        );
        Ok(())
    }

    async fn connect(&self) -> anyhow::Result<sqlx::PgConnection> {
        sqlx::PgConnection::connect(&self.server)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", redact(&self.server)))
    }
}

impl Stores {
    /// Give each of `codes` (the first centres of the shipped zone, as `prepare` takes them)
    /// a fresh store in `spec`: `DIR/nodes/CODE/node.db` (the launcher's own default), or a
    /// new database named after `scenario` and the centre.
    pub(crate) async fn for_zone(
        &mut self,
        spec: &mut ZoneSpec,
        scenario: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        let shipped = hfx_certs::zone::ZoneConfig::parse(crate::launcher::SHIPPED_ZONE)
            .context("shipped zone.toml")?;
        for c in shipped.centres.iter().take(n) {
            let node_dir = spec.dir.join("nodes").join(&c.code);
            let url = self
                .fresh(&node_dir.join("node.db"), &format!("{scenario}_{}", c.code))
                .await?;
            spec.store_urls.insert(c.code.clone(), url);
        }
        Ok(())
    }

    /// Set a scenario's `store` (the kind) and `store_detail` (how it is run, then `rest`).
    pub(crate) fn label(&self, v: &mut Value, what: &str, rest: &str) {
        v["store"] = json!(self.choice.name());
        let how = match self.choice {
            StoreChoice::Sqlite => format!("SQLite WAL, synchronous=FULL, {what}"),
            StoreChoice::Postgres => format!(
                "PostgreSQL ({}), a fresh database each, synchronous_commit on, {what}",
                redact(&self.server)
            ),
        };
        v["store_detail"] = json!(if rest.is_empty() {
            how
        } else {
            format!("{how}; {rest}")
        });
    }
}

/// The PostgreSQL server's processes and WAL position at the start of a measurement.
pub(crate) struct ServerMark {
    usage: BTreeMap<u32, Usage>,
    wal_lsn: Option<String>,
}

/// The PostgreSQL server's own work during a measurement, server-wide (anything else the
/// server did meanwhile counts too).
pub(crate) struct ServerWork {
    pub(crate) usage: Usage,
    pub(crate) wal_bytes: Option<i64>,
}

impl Stores {
    /// Where the server stands (None on SQLite: the nodes do all the work).
    pub(crate) async fn server_mark(&self) -> Option<ServerMark> {
        if self.choice != StoreChoice::Postgres {
            return None;
        }
        let wal_lsn = match self.connect().await {
            Ok(mut c) => {
                let lsn = sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text")
                    .fetch_one(&mut c)
                    .await
                    .ok();
                let _ = c.close().await;
                lsn
            }
            Err(_) => None,
        };
        Some(ServerMark {
            usage: usage_of_named("postgres"),
            wal_lsn,
        })
    }

    /// What the server did since `mark`.
    pub(crate) async fn server_since(&self, mark: &Option<ServerMark>) -> Option<ServerWork> {
        let mark = mark.as_ref()?;
        let usage = usage_sum_since(&usage_of_named("postgres"), &mark.usage);
        let mut wal_bytes = None;
        if let (Some(before), Ok(mut c)) = (&mark.wal_lsn, self.connect().await) {
            wal_bytes = sqlx::query_scalar::<_, i64>(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::bigint",
            )
            .bind(before)
            .fetch_one(&mut c)
            .await
            .ok();
            let _ = c.close().await;
        }
        Some(ServerWork { usage, wal_bytes })
    }
}

/// Add the server's work to a scenario's figures (`postgres_server`): its CPU, context
/// switches and WAL written per operation.
pub(crate) fn server_json(v: &mut Value, work: &Option<ServerWork>, ops: u64) {
    let Some(w) = work else { return };
    let ops = ops.max(1) as f64;
    v["postgres_server"] = json!({
        "cpu_us_per_op": super::report::round((w.usage.cpu_ticks * TICK_US) as f64 / ops, 1),
        "context_switches_per_op": super::report::round(w.usage.ctx_switches as f64 / ops, 2),
        "wal_bytes_per_op": w.wal_bytes.map(|b| super::report::round(b as f64 / ops, 0)),
        "scope": "server-wide: every process named postgres and the whole WAL, so other work on the same server counts too",
    });
}

/// `server` with its database replaced by `name` (query parameters kept).
fn database_url(server: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let rest = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
        .with_context(|| format!("--store-url {}: not a postgres:// URL", redact(server)))?;
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut url = format!("postgres://{authority}/{name}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// The URL without its password, for reports and errors.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split_once(':').map_or(user, |(n, _)| n);
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// The settings a new session on `url` gets that decide durability.
async fn read_durability(url: &str) -> anyhow::Result<Value> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    let mut out = serde_json::Map::new();
    for setting in ["synchronous_commit", "fsync"] {
        let v: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("SHOW {setting}"))?;
        out.insert(setting.into(), json!(v));
    }
    let _ = conn.close().await;
    anyhow::ensure!(
        out["synchronous_commit"] == json!("on"),
        "the bench database runs with synchronous_commit = {}, not on",
        out["synchronous_commit"]
    );
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::{database_url, redact};

    #[test]
    fn a_database_url_keeps_the_server_and_its_parameters() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            database_url("postgresql://u:p@h/db?sslmode=disable", "y").unwrap(),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://h:1", "z").unwrap(),
            "postgres://h:1/z"
        );
        assert!(database_url("sqlite://x.db", "z").is_err());
    }

    #[test]
    fn passwords_are_not_reported() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
