//! The zone launcher: builds a zone on loopback (PKI, directory, node configs, seeded core
//! systems) and runs real `hfx node run` processes. `hfx demo`, the integration tests and
//! `hfx bench` all start zones through it.

use crate::config::PURPOSES;
use anyhow::Context;
use hfx_certs::zone::ZoneConfig;
use hfx_certs::{Role, Validity, ZoneDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The zone file shipped with hfx (the ten centres of the Huaihai zone).
pub const SHIPPED_ZONE: &str = include_str!("../../deploy/zone.toml");

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
) -> anyhow::Result<Vec<CentrePlan>> {
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
            "# generated by the hfx zone launcher\ncentre = \"{code}\"\n\n[listen]\npeer = \"{peer}\"\nlocal = \"{local}\"\n\n[tls]\nroot = \"{root}\"\ncrl = \"{crl}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n\n[directory]\npath = \"{dir}\"\n\n[signing]\nkey = \"{sk}\"\n\n[store]\nurl = \"{store}\"\n\n[adapter]\n# deploy/zone.toml names `{sys}` for this centre; this build runs the sqlite core system\nkind = \"sqlite\"\npath = \"core.db\"\n\n{policy}\n[limits]\npeer_timeout_ms = {timeout}\nreload_poll_secs = 1\ncheckpoint_interval_ms = 500\nwitness_interval_ms = 300\n\n[logging]\nformat = \"json\"\nlevel = \"{level}\"\n",
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
            sys = p.core_system,
            policy = policy,
            timeout = spec.peer_timeout_ms,
            level = spec.log_level,
        );
        hfx_certs::zonedir::write_atomic(&p.config, cfg.as_bytes())?;
    }
    // Seed every centre's core system (in parallel: each is its own SQLite file).
    let opts = hfx_adapters::seed::SeedOptions {
        seed: spec.seed,
        ..Default::default()
    };
    let mut tasks = Vec::new();
    for p in &plans {
        let path = p
            .config
            .parent()
            .map(|d| d.join("core.db"))
            .unwrap_or_default();
        let code = p.code.clone();
        let n = spec.members_per_centre;
        tasks.push(tokio::spawn(async move {
            let core = hfx_adapters::sqlite::SqliteCore::open(&path).await?;
            core.seed(&code, &opts, 0, n, &|_| {}).await?;
            Ok::<_, hfx_adapters::AdapterError>(())
        }));
    }
    for t in tasks {
        t.await
            .context("seeding task")?
            .context("seeding a core system")?;
    }
    progress(&format!(
        "{} core systems seeded with {} members each",
        plans.len(),
        spec.members_per_centre
    ));
    Ok(plans)
}

impl Zone {
    pub fn new(dir: PathBuf, centres: Vec<CentrePlan>, binary: PathBuf) -> Self {
        Self {
            dir,
            centres,
            procs: BTreeMap::new(),
            binary,
        }
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
                crate::client::LocalClient::for_zone(&self.dir, code, Role::Operator, OPERATOR);
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

    pub fn client(&self, code: &str, role: Role) -> anyhow::Result<crate::client::LocalClient> {
        let person = match role {
            Role::Clerk => CLERK,
            Role::Auditor => AUDITOR,
            Role::Operator => OPERATOR,
        };
        crate::client::LocalClient::for_zone(&self.dir, code, role, person)
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

/// Read back the plans of a zone prepared earlier (from its node configs and zone.toml).
pub fn prepare_plans_loaded(dir: &Path) -> anyhow::Result<Vec<CentrePlan>> {
    let zd = ZoneDir::open(dir);
    let cfg = zd.zone_config().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    for c in cfg.centres {
        let config = dir.join("nodes").join(&c.code).join("node.toml");
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("reading {}", config.display()))?;
        let v: toml::Value = toml::from_str(&text)?;
        let get = |k: &str| {
            v.get("listen")
                .and_then(|l| l.get(k))
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        out.push(CentrePlan {
            code: c.code,
            name: c.name,
            city: c.city,
            peer_addr: get("peer"),
            local_addr: get("local"),
            config,
            core_system: c.core_system,
        });
    }
    Ok(out)
}
