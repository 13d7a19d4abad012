//! The zone launcher: builds a zone on loopback (PKI, directory, node configs, seeded core
//! systems) and runs real `hfx node run` processes. `hfx demo`, the integration tests and
//! `hfx bench` all start zones through it.

use anyhow::Context;
use hfx_certs::zone::ZoneConfig;
use hfx_certs::{Role, Validity, ZoneDir};
use hfx_node::config::PURPOSES;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zone file shipped with hfx (the ten centres of the Huaihai zone).
pub const SHIPPED_ZONE: &str = include_str!("../../../deploy/zone.toml");

/// Person ids the launcher issues for every centre.
pub const CLERK: &str = "clerk1";
pub const AUDITOR: &str = "auditor1";
pub const OPERATOR: &str = "operator1";

/// What zone to build.
#[derive(Debug, Clone)]
pub struct ZoneSpec {
    pub dir: PathBuf,
    /// How many centres of the shipped zone to run (1..=10), in file order.
    pub centres: usize,
    pub members_per_centre: u64,
    pub seed: u64,
    /// Extra policy per centre: centre -> (peer -> allowed purposes).
    pub policies: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Store URL per centre; default `sqlite://DIR/nodes/CODE/node.db`.
    pub store_urls: BTreeMap<String, String>,
    pub peer_timeout_ms: u64,
    pub log_level: String,
    /// Run each centre on the core system deploy/zone.toml names for it (PostgreSQL and
    /// MariaDB when reachable, stand-ins for the batch and vendor-API systems); otherwise
    /// every centre runs the sqlite core system.
    pub zone_core_systems: bool,
    /// Server URLs for the database-backed core systems.
    pub postgres_url: String,
    pub mariadb_url: String,
}

impl ZoneSpec {
    pub fn new(dir: impl Into<PathBuf>, centres: usize) -> Self {
        Self {
            dir: dir.into(),
            centres,
            members_per_centre: 200,
            seed: 1,
            policies: BTreeMap::new(),
            store_urls: BTreeMap::new(),
            zone_core_systems: false,
            postgres_url: std::env::var("HFX_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            mariadb_url: std::env::var("HFX_MARIADB_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
            peer_timeout_ms: 3_000,
            log_level: "info".into(),
        }
    }
}

/// A centre of a prepared zone.
#[derive(Debug, Clone)]
pub struct CentrePlan {
    pub code: String,
    pub name: String,
    pub city: String,
    pub config: PathBuf,
    pub peer_addr: String,
    pub local_addr: String,
    pub core_system: String,
}

/// A running (or prepared) zone.
pub struct Zone {
    pub dir: PathBuf,
    pub centres: Vec<CentrePlan>,
    procs: BTreeMap<String, Child>,
    binary: PathBuf,
    /// Core systems the launcher hosts for this zone (kept alive as long as the zone).
    pub hosts: CoreHosts,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("reserving a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Build the zone on disk: PKI, node configs, seeded core systems. `progress` is told about
/// each step (for the demo's account).
pub async fn prepare(
    spec: &ZoneSpec,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> anyhow::Result<Prepared> {
    let shipped = ZoneConfig::parse(SHIPPED_ZONE).context("shipped zone.toml")?;
    anyhow::ensure!(
        (1..=shipped.centres.len()).contains(&spec.centres),
        "a zone has 1..={} centres",
        shipped.centres.len()
    );
    std::fs::create_dir_all(&spec.dir)
        .with_context(|| format!("creating {}", spec.dir.display()))?;
    let mut zone_toml = String::new();
    zone_toml.push_str(&format!(
        "zone = \"{}\"\ndirectory_validity_days = 30\nwitness_quorum = {}\n",
        shipped.zone,
        shipped
            .witness_quorum
            .min(spec.centres.saturating_sub(1) as u32)
    ));
    let mut plans = Vec::new();
    for c in shipped.centres.iter().take(spec.centres) {
        let peer_addr = format!("127.0.0.1:{}", free_port()?);
        let local_addr = format!("127.0.0.1:{}", free_port()?);
        zone_toml.push_str(&format!(
            "\n[[centre]]\ncode = \"{}\"\nname = \"{}\"\ncity = \"{}\"\nprovince = \"{}\"\nendpoint = \"{}\"\ncore_system = \"{}\"\n",
            c.code, c.name, c.city, c.province, peer_addr, c.core_system
        ));
        plans.push(CentrePlan {
            code: c.code.clone(),
            name: c.name.clone(),
            city: c.city.clone(),
            config: spec.dir.join("nodes").join(&c.code).join("node.toml"),
            peer_addr,
            local_addr,
            core_system: c.core_system.clone(),
        });
    }
    let zd = ZoneDir::open(&spec.dir);
    zd.init(&zone_toml, 3650).context("creating the zone PKI")?;
    progress(&format!(
        "zone root, {} node certificates, CRL and directory v1 created",
        plans.len()
    ));
    for p in &plans {
        for (role, id) in [
            (Role::Clerk, CLERK),
            (Role::Auditor, AUDITOR),
            (Role::Operator, OPERATOR),
        ] {
            zd.issue_person(&p.code, role, id, Validity::days(365))?;
        }
    }
    progress("person certificates issued: clerk1, auditor1, operator1 for every centre");
    let mut hosts = CoreHosts::default();
    let mut adapters: BTreeMap<String, String> = BTreeMap::new();
    let mut seeding = Vec::new();
    let opts = hfx_adapters::seed::SeedOptions {
        seed: spec.seed,
        ..Default::default()
    };
    for p in &plans {
        let node_dir = p.config.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&node_dir)?;
        let (block, job) = host_core(spec, p, &node_dir, &opts, &mut hosts).await?;
        adapters.insert(p.code.clone(), block);
        seeding.push(tokio::spawn(job));
    }
    for note in &hosts.notes {
        progress(note);
    }
    for p in &plans {
        let node_dir = p.config.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&node_dir)?;
        let store = spec
            .store_urls
            .get(&p.code)
            .cloned()
            .unwrap_or_else(|| format!("sqlite://{}", node_dir.join("node.db").display()));
        let mut policy = String::from("[policy]\ndefault = [");
        policy.push_str(
            &PURPOSES
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
        );
        policy.push_str("]\n");
        if let Some(extra) = spec.policies.get(&p.code) {
            policy.push_str("[policy.peers]\n");
            for (peer, list) in extra {
                policy.push_str(&format!(
                    "\"{peer}\" = [{}]\n",
                    list.iter()
                        .map(|p| format!("\"{p}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let centre_dir = zd.centre_dir(&p.code);
        let cfg = format!(
            "# generated by the hfx zone launcher\ncentre = \"{code}\"\n\n[listen]\npeer = \"{peer}\"\nlocal = \"{local}\"\n\n[tls]\nroot = \"{root}\"\ncrl = \"{crl}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\n[directory]\npath = \"{dir}\"\n\n[signing]\nkey = \"{sk}\"\n\n[store]\nurl = \"{store}\"\n\n{adapter}\n{policy}\n[limits]\npeer_timeout_ms = {timeout}\nreload_poll_secs = 1\ncheckpoint_interval_ms = 500\nwitness_interval_ms = 300\n\n[logging]\nformat = \"json\"\nlevel = \"{level}\"\n",
            code = p.code,
            peer = p.peer_addr,
            local = p.local_addr,
            root = zd.root_cert_path().display(),
            crl = zd.crl_path().display(),
            cert = centre_dir.join("node.crt.pem").display(),
            key = centre_dir.join("node.key.pem").display(),
            dir = zd.directory_path().display(),
            sk = centre_dir.join("signing.key.pem").display(),
            store = store,
            adapter = adapters.get(&p.code).cloned().unwrap_or_default(),
            policy = policy,
            timeout = spec.peer_timeout_ms,
            level = spec.log_level,
        );
        hfx_certs::zonedir::write_atomic(&p.config, cfg.as_bytes())?;
    }
    for t in seeding {
        t.await
            .context("seeding task")?
            .context("seeding a core system")?;
    }
    progress(&format!(
        "{} core systems seeded with {} members each",
        plans.len(),
        spec.members_per_centre
    ));
    Ok(Prepared { plans, hosts })
}

/// A prepared zone: its centres, and the core systems the launcher hosts for it.
pub struct Prepared {
    pub plans: Vec<CentrePlan>,
    pub hosts: CoreHosts,
}

/// Core systems the launcher runs for a zone (the stand-ins for the batch and vendor-API
/// systems, and the databases it created). They live as long as this value.
#[derive(Default)]
pub struct CoreHosts {
    batch_runners: Vec<hfx_adapters::batchfile::RunnerTask>,
    vendors: Vec<hfx_adapters::vendorapi::StandIn>,
    /// (kind, server url, database name)
    databases: Vec<(String, String, String)>,
    /// One line per centre whose core system differs from deploy/zone.toml's, and why.
    pub notes: Vec<String>,
}

impl CoreHosts {
    /// Drop the databases created for the zone.
    pub async fn cleanup(&mut self) {
        for (kind, server, name) in std::mem::take(&mut self.databases) {
            let r = match kind.as_str() {
                "postgres" => hfx_adapters::postgres::drop_database(&server, &name).await,
                _ => hfx_adapters::mariadb::drop_database(&server, &name).await,
            };
            if let Err(e) = r {
                tracing::warn!(database = %name, error = %e, "could not drop a demo database");
            }
        }
        self.batch_runners.clear();
        self.vendors.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.batch_runners.is_empty() && self.vendors.is_empty() && self.databases.is_empty()
    }
}

type SeedJob = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), hfx_adapters::AdapterError>> + Send>,
>;

fn sqlite_core(
    node_dir: &Path,
    code: &str,
    opts: &hfx_adapters::seed::SeedOptions,
    n: u64,
) -> (String, SeedJob) {
    let path = node_dir.join("core.db");
    let (code, opts) = (code.to_string(), *opts);
    let job: SeedJob = Box::pin(async move {
        let core = hfx_adapters::sqlite::SqliteCore::open(&path).await?;
        core.seed(&code, &opts, 0, n, &|_| {}).await
    });
    (
        "[adapter]\nkind = \"sqlite\"\npath = \"core.db\"\n".to_string(),
        job,
    )
}

/// Set up one centre's core system; returns its `[adapter]` table and the seeding job.
async fn host_core(
    spec: &ZoneSpec,
    p: &CentrePlan,
    node_dir: &Path,
    opts: &hfx_adapters::seed::SeedOptions,
    hosts: &mut CoreHosts,
) -> anyhow::Result<(String, SeedJob)> {
    let n = spec.members_per_centre;
    if !spec.zone_core_systems {
        return Ok(sqlite_core(node_dir, &p.code, opts, n));
    }
    let (code, opts) = (p.code.clone(), *opts);
    match p.core_system.as_str() {
        kind @ ("postgres" | "mariadb") => {
            let server = if kind == "postgres" {
                &spec.postgres_url
            } else {
                &spec.mariadb_url
            };
            let name = format!("hfx_{}_{}_{}", kind, p.code, std::process::id());
            let created = tokio::time::timeout(Duration::from_secs(5), async {
                if kind == "postgres" {
                    hfx_adapters::postgres::create_database(server, &name).await
                } else {
                    hfx_adapters::mariadb::create_database(server, &name).await
                }
            })
            .await;
            match created {
                Ok(Ok(url)) => {
                    hosts
                        .databases
                        .push((kind.to_string(), server.clone(), name));
                    let block = format!("[adapter]\nkind = \"{kind}\"\nurl = \"{url}\"\n");
                    let is_pg = kind == "postgres";
                    let job: SeedJob = Box::pin(async move {
                        if is_pg {
                            hfx_adapters::postgres::PostgresCore::open(&url, None)
                                .await?
                                .seed(&code, &opts, 0, n, &|_| {})
                                .await
                        } else {
                            hfx_adapters::mariadb::MariadbCore::open(&url, None)
                                .await?
                                .seed(&code, &opts, 0, n, &|_| {})
                                .await
                        }
                    });
                    Ok((block, job))
                }
                Ok(Err(e)) => {
                    hosts.notes.push(format!(
                        "{} ({kind}): {} not reachable ({e}); running it on the sqlite core system",
                        p.city,
                        redact(server)
                    ));
                    Ok(sqlite_core(node_dir, &p.code, &opts, n))
                }
                Err(_) => {
                    hosts.notes.push(format!("{} ({kind}): {} did not answer in 5 s; running it on the sqlite core system", p.city, redact(server)));
                    Ok(sqlite_core(node_dir, &p.code, &opts, n))
                }
            }
        }
        "batchfile" => {
            let root = node_dir.join("core-batch");
            std::fs::create_dir_all(&root)?;
            let core = hfx_adapters::batchfile::BatchfileCore::open(&root, None).await?;
            let runner =
                std::sync::Arc::new(hfx_adapters::batchfile::BatchRunner::open(&root).await?);
            hosts
                .batch_runners
                .push(runner.spawn(Duration::from_millis(200)));
            let block = format!(
                "[adapter]\nkind = \"batchfile\"\npath = \"{}\"\n",
                root.display()
            );
            let job: SeedJob =
                Box::pin(async move { core.seed(&code, &opts, 0, n, &|_| {}).await });
            Ok((block, job))
        }
        "vendorapi" => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let data = node_dir.join("core-vendor");
            std::fs::create_dir_all(&data)?;
            let standin = hfx_adapters::vendorapi::spawn_standin(
                listener,
                &data,
                hfx_adapters::vendorapi::Faults::default(),
            )
            .await?;
            let core = standin.core(None)?;
            let block = format!(
                "[adapter]\nkind = \"vendorapi\"\nurl = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
                standin.url, standin.client_id, standin.client_secret
            );
            hosts.vendors.push(standin);
            let job: SeedJob =
                Box::pin(async move { core.seed(&code, &opts, 0, n, &|_| {}).await });
            Ok((block, job))
        }
        _ => Ok(sqlite_core(node_dir, &p.code, &opts, n)),
    }
}

/// A server URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Zone {
    pub fn new(dir: PathBuf, centres: Vec<CentrePlan>, binary: PathBuf) -> Self {
        Self {
            dir,
            centres,
            procs: BTreeMap::new(),
            binary,
            hosts: CoreHosts::default(),
        }
    }

    /// A zone from `prepare`'s result, keeping the core systems it hosts.
    pub fn from_prepared(dir: PathBuf, prepared: Prepared, binary: PathBuf) -> Self {
        let mut z = Self::new(dir, prepared.plans, binary);
        z.hosts = prepared.hosts;
        z
    }

    /// Stop every node and drop the databases created for the zone.
    pub async fn shutdown(&mut self) {
        self.stop_all();
        self.hosts.cleanup().await;
    }

    pub fn zone_dir(&self) -> ZoneDir {
        ZoneDir::open(&self.dir)
    }

    pub fn plan(&self, code: &str) -> Option<&CentrePlan> {
        self.centres.iter().find(|c| c.code == code)
    }

    /// Start one centre's node process (stdout/stderr to `nodes/CODE/node.log`).
    pub fn spawn(&mut self, code: &str) -> anyhow::Result<()> {
        let plan = self
            .plan(code)
            .with_context(|| format!("no centre {code} in this zone"))?
            .clone();
        let log_path = plan.config.with_file_name("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(&self.binary)
            .args(["node", "run", "--config"])
            .arg(&plan.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.procs.insert(code.to_string(), child);
        Ok(())
    }

    /// Start every node and wait until each answers on its local API.
    pub async fn start_all(&mut self) -> anyhow::Result<()> {
        let codes: Vec<String> = self.centres.iter().map(|c| c.code.clone()).collect();
        for c in &codes {
            self.spawn(c)?;
        }
        for c in &codes {
            self.wait_ready(c, Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    /// Poll the node's Operator.Status until it answers.
    pub async fn wait_ready(&mut self, code: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.procs.get_mut(code)
                && let Some(status) = child.try_wait()?
            {
                let log = self
                    .plan(code)
                    .map(|p| p.config.with_file_name("node.log"))
                    .unwrap_or_default();
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                anyhow::bail!(
                    "node {code} exited with {status} during start; last log lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let client =
                hfx_node::client::LocalClient::for_zone(&self.dir, code, Role::Operator, OPERATOR);
            if let Ok(client) = client
                && client.status().await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("node {code} not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop one node gracefully (SIGTERM), killing it after `grace`.
    pub fn stop(&mut self, code: &str, grace: Duration) -> anyhow::Result<()> {
        if let Some(mut child) = self.procs.remove(code) {
            terminate(&mut child, grace);
        }
        Ok(())
    }

    /// Kill a node at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, code: &str) {
        if let Some(mut child) = self.procs.remove(code) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self, code: &str) -> Option<u32> {
        self.procs.get(code).map(|c| c.id())
    }

    pub fn running(&self) -> Vec<String> {
        self.procs.keys().cloned().collect()
    }

    /// Stop every node.
    pub fn stop_all(&mut self) {
        let codes: Vec<String> = self.procs.keys().cloned().collect();
        for c in &codes {
            if let Some(child) = self.procs.get_mut(c) {
                signal(child, libc::SIGTERM);
            }
        }
        for c in codes {
            if let Some(mut child) = self.procs.remove(&c) {
                terminate(&mut child, Duration::from_secs(10));
            }
        }
    }

    pub fn client(&self, code: &str, role: Role) -> anyhow::Result<hfx_node::client::LocalClient> {
        let person = match role {
            Role::Clerk => CLERK,
            Role::Auditor => AUDITOR,
            Role::Operator => OPERATOR,
        };
        hfx_node::client::LocalClient::for_zone(&self.dir, code, role, person)
    }
}

fn signal(child: &Child, sig: i32) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    // The crate forbids unsafe code, so signals go through kill(1).
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

// Synchronous on purpose: it also runs from `Drop`, where no runtime may be left.
#[allow(clippy::disallowed_methods)]
fn terminate(child: &mut Child, grace: Duration) {
    signal(child, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Zone {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.procs) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
