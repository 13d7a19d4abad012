//! The node processes of a zone: started on listeners the launcher bound, stopped, killed.

use super::plan::{CentrePlan, Listeners, Prepared};
use super::{AUDITOR, CLERK, CoreHosts, OPERATOR};
use anyhow::Context;
use hfx_certs::{Role, ZoneDir};
use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or prepared) zone.
pub struct Zone {
    pub dir: PathBuf,
    pub centres: Vec<CentrePlan>,
    procs: BTreeMap<String, Child>,
    binary: PathBuf,
    /// Listeners bound by `prepare`, per centre, until its node is first started.
    listeners: BTreeMap<String, Listeners>,
    /// Core systems the launcher hosts for this zone (kept alive as long as the zone).
    pub hosts: CoreHosts,
    /// Second processes of a centre ([`Zone::spawn_twin`]), by centre code.
    twins: BTreeMap<String, Twin>,
    /// Extra environment for a centre's processes ([`Zone::set_env`]), by centre code.
    env: BTreeMap<String, Vec<(String, String)>>,
    /// (peer, local) addresses of second processes that were stopped or killed: one started
    /// again binds them, so it is found where the directory lists it (docs/failover.md).
    old_twins: BTreeMap<String, (String, String)>,
}

/// A second node process of a centre: the same config, store, identity and certificates as
/// the centre's own process, on listeners of its own that the directory does not name (its
/// peers keep calling the first process; the twin relays, drives and serves its local API).
struct Twin {
    child: Child,
    peer_addr: String,
    local_addr: String,
}

impl Zone {
    pub fn new(dir: PathBuf, centres: Vec<CentrePlan>, binary: PathBuf) -> Self {
        Self {
            dir,
            centres,
            procs: BTreeMap::new(),
            binary,
            listeners: BTreeMap::new(),
            hosts: CoreHosts::default(),
            twins: BTreeMap::new(),
            env: BTreeMap::new(),
            old_twins: BTreeMap::new(),
        }
    }

    /// Set `key=value` in the environment of centre `code`'s processes started from now on
    /// (e.g. libfaketime's LD_PRELOAD and FAKETIME, to run one node on a skewed clock).
    pub fn set_env(&mut self, code: &str, key: &str, value: &str) {
        self.env
            .entry(code.to_string())
            .or_default()
            .push((key.to_string(), value.to_string()));
    }

    /// A zone from `prepare`'s result, keeping the core systems it hosts and the listeners
    /// its nodes will serve on.
    pub fn from_prepared(dir: PathBuf, prepared: Prepared, binary: PathBuf) -> Self {
        let mut z = Self::new(dir, prepared.plans, binary);
        z.hosts = prepared.hosts;
        z.listeners = prepared.listeners;
        z
    }

    /// Stop every node and drop the databases created for the zone.
    pub async fn shutdown(&mut self) {
        self.stop_all();
        self.hosts.cleanup().await;
    }

    /// The zone's settlement bank stand-in (faults, ledger), hosted for the life of the zone.
    pub fn bank(&self) -> Option<&hfx_standins::bank::BankHandle> {
        self.hosts.bank()
    }

    pub fn zone_dir(&self) -> ZoneDir {
        ZoneDir::open(&self.dir)
    }

    pub fn plan(&self, code: &str) -> Option<&CentrePlan> {
        self.centres.iter().find(|c| c.code == code)
    }

    /// Start one centre's node process (stdout/stderr to `nodes/CODE/node.log`).
    ///
    /// The node serves on listeners it inherits (LISTEN_FDS=2, LISTEN_FDNAMES=peer:local, fds
    /// 3 and 4): on its first start the ones `prepare` bound, later the same addresses bound
    /// again. The launcher keeps no copy once the node has them, so a node that is stopped or
    /// killed refuses connections, as a down node does, instead of leaving its peers waiting
    /// in a backlog nobody accepts from.
    pub fn spawn(&mut self, code: &str) -> anyhow::Result<()> {
        let plan = self
            .plan(code)
            .with_context(|| format!("no centre {code} in this zone"))?
            .clone();
        let listeners = match self.listeners.remove(code) {
            Some(l) => l,
            None => Listeners::bind_again(&plan).with_context(|| {
                format!(
                    "binding {} and {} for node {code}",
                    plan.peer_addr, plan.local_addr
                )
            })?,
        };
        let log_path = plan.config.with_file_name("node.log");
        let env = self.env.get(code).cloned().unwrap_or_default();
        let child = start_node(&self.binary, &plan.config, &log_path, listeners, &env)?;
        self.procs.insert(code.to_string(), child);
        Ok(())
    }

    /// Start a second process of centre `code` beside its first: the same configuration file
    /// (so the same store, identity and certificates), on two fresh loopback listeners of its
    /// own (port 0), logging to `nodes/CODE/node.twin.log`. The directory keeps naming the
    /// first process, so peers call that one; the twin runs its own relay, driver and local
    /// API against the shared store. Only a store two processes can share (PostgreSQL) makes
    /// sense here. Returns the twin's (peer, local) addresses.
    pub fn spawn_twin(&mut self, code: &str) -> anyhow::Result<(String, String)> {
        anyhow::ensure!(
            !self.twins.contains_key(code),
            "centre {code} already has a second process"
        );
        let plan = self
            .plan(code)
            .with_context(|| format!("no centre {code} in this zone"))?
            .clone();
        let listeners = match self.old_twins.get(code) {
            Some((peer, local)) => std::net::TcpListener::bind(peer).and_then(|peer| {
                Ok(Listeners {
                    peer,
                    local: std::net::TcpListener::bind(local)?,
                })
            }),
            None => Listeners::bind_loopback(),
        }
        .with_context(|| format!("binding the second process's listeners for {code}"))?;
        let peer_addr = listeners.peer.local_addr()?.to_string();
        let local_addr = listeners.local.local_addr()?.to_string();
        let log_path = plan.config.with_file_name("node.twin.log");
        let env = self.env.get(code).cloned().unwrap_or_default();
        let child = start_node(&self.binary, &plan.config, &log_path, listeners, &env)?;
        self.twins.insert(
            code.to_string(),
            Twin {
                child,
                peer_addr: peer_addr.clone(),
                local_addr: local_addr.clone(),
            },
        );
        Ok((peer_addr, local_addr))
    }

    /// Poll the second process's Operator.Status until it answers.
    pub async fn wait_twin_ready(&mut self, code: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let twin = self
                .twins
                .get_mut(code)
                .with_context(|| format!("centre {code} has no second process"))?;
            if let Some(status) = twin.child.try_wait()? {
                anyhow::bail!("the second process of {code} exited with {status} during start");
            }
            if let Ok(client) = self.twin_client(code, Role::Operator)
                && client.status().await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the second process of {code} not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client of the second process's local API, as `role`.
    pub fn twin_client(
        &self,
        code: &str,
        role: Role,
    ) -> anyhow::Result<hfx_node::client::LocalClient> {
        let twin = self
            .twins
            .get(code)
            .with_context(|| format!("centre {code} has no second process"))?;
        let zd = self.zone_dir();
        let (cert, key) = zd.person_paths(code, role, person_of(role));
        let files = hfx_node::tls::TlsFiles {
            root: zd.root_cert_path(),
            crl: zd.crl_path(),
            cert,
            key,
        };
        hfx_node::client::LocalClient::connect(
            &files,
            code,
            &twin.local_addr,
            Duration::from_secs(30),
        )
    }

    /// The second process's (peer, local) addresses.
    pub fn twin_addrs(&self, code: &str) -> Option<(String, String)> {
        self.twins
            .get(code)
            .map(|t| (t.peer_addr.clone(), t.local_addr.clone()))
    }

    pub fn twin_pid(&self, code: &str) -> Option<u32> {
        self.twins.get(code).map(|t| t.child.id())
    }

    /// Stop the second process gracefully (SIGTERM), killing it after `grace`.
    pub fn stop_twin(&mut self, code: &str, grace: Duration) {
        if let Some(mut twin) = self.twins.remove(code) {
            terminate(&mut twin.child, grace);
            self.old_twins
                .insert(code.to_string(), (twin.peer_addr, twin.local_addr));
        }
    }

    /// Kill the second process at once (SIGKILL).
    pub fn kill_twin(&mut self, code: &str) {
        if let Some(mut twin) = self.twins.remove(code) {
            let _ = twin.child.kill();
            let _ = twin.child.wait();
            self.old_twins
                .insert(code.to_string(), (twin.peer_addr, twin.local_addr));
        }
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

    /// Wait for node `code`'s process to end by itself (e.g. a refused start): its exit
    /// status, or None if it still runs after `timeout`.
    pub async fn wait_exit(
        &mut self,
        code: &str,
        timeout: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self
                .procs
                .get_mut(code)
                .with_context(|| format!("node {code} was not started"))?;
            if let Some(status) = child.try_wait()? {
                self.procs.remove(code);
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self, code: &str) -> Option<u32> {
        self.procs.get(code).map(|c| c.id())
    }

    /// The operator port (`host:port`, docs/metrics.md) of centre `code`'s node, as it wrote
    /// it to `nodes/CODE/ops.addr` (`[ops] addr_file`) once bound: nodes bind port 0, so the
    /// address changes with every start. Call after [`Zone::wait_ready`] (the node writes it
    /// before it serves). A second process of the centre ([`Zone::spawn_twin`]) shares the
    /// config, so the file names the one started last.
    pub fn ops_addr(&self, code: &str) -> anyhow::Result<String> {
        let plan = self
            .plan(code)
            .with_context(|| format!("no centre {code} in this zone"))?;
        let file = plan.config.with_file_name("ops.addr");
        match std::fs::read_to_string(&file) {
            Ok(addr) => Ok(addr.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "the node of {code} runs without an operator port (no {})",
                    file.display()
                )
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
        }
    }

    /// The web console (`https://host:port`, docs/console.md) of centre `code`'s node: its
    /// address as the node wrote it to `nodes/CODE/console.addr` once bound (see
    /// [`Zone::ops_addr`]).
    pub fn console_addr(&self, code: &str) -> anyhow::Result<String> {
        let plan = self
            .plan(code)
            .with_context(|| format!("no centre {code} in this zone"))?;
        let file = plan.config.with_file_name("console.addr");
        match std::fs::read_to_string(&file) {
            Ok(addr) => Ok(addr.trim().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "the node of {code} runs without a console (no {})",
                    file.display()
                )
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
        }
    }

    pub fn running(&self) -> Vec<String> {
        self.procs.keys().cloned().collect()
    }

    /// Stop every node (second processes too).
    pub fn stop_all(&mut self) {
        for twin in self.twins.values() {
            signal(&twin.child, libc::SIGTERM);
        }
        for (_, mut twin) in std::mem::take(&mut self.twins) {
            terminate(&mut twin.child, Duration::from_secs(10));
        }
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
        hfx_node::client::LocalClient::for_zone(&self.dir, code, role, person_of(role))
    }
}

/// The person the launcher issued a certificate of `role` to, at every centre.
fn person_of(role: Role) -> &'static str {
    match role {
        Role::Clerk => CLERK,
        Role::Auditor => AUDITOR,
        Role::Operator => OPERATOR,
    }
}

/// Start `hfx node run --config CONFIG` on `listeners` (handed over as fds 3 and 4), its
/// stdout and stderr appended to `log_path`. The launcher keeps no copy of the listeners.
fn start_node(
    binary: &Path,
    config: &Path,
    log_path: &Path,
    listeners: Listeners,
    env: &[(String, String)],
) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut cmd = Command::new(binary);
    cmd.args(["node", "run", "--config"])
        .arg(config)
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "peer:local")
        .env_remove("LISTEN_PID")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    hand_over(
        &mut cmd,
        listeners.peer.as_raw_fd(),
        listeners.local.as_raw_fd(),
    );
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    // The child has its own descriptors now.
    drop(listeners);
    Ok(child)
}

/// The first descriptor of the systemd protocol; the peer listener goes there, the local one
/// in the next.
const LISTEN_FDS_START: RawFd = 3;

/// Have the child find `peer` at fd 3 and `local` at fd 4, open across exec.
#[allow(unsafe_code)]
fn hand_over(cmd: &mut Command, peer: RawFd, local: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it calls fcntl and dup2 only, allocates nothing
    // and touches no lock. `peer` and `local` are open in the parent until `spawn` returns,
    // so they are open in the child. Both are first copied to fds >= 5 (close-on-exec), so
    // that moving one to 3 or 4 cannot overwrite the other; dup2 leaves 3 and 4 without
    // close-on-exec, so exactly those two cross the exec.
    unsafe {
        cmd.pre_exec(move || {
            let high = LISTEN_FDS_START + 2;
            let p = libc::fcntl(peer, libc::F_DUPFD_CLOEXEC, high);
            if p < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let l = libc::fcntl(local, libc::F_DUPFD_CLOEXEC, high);
            if l < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::dup2(p, LISTEN_FDS_START) < 0 || libc::dup2(l, LISTEN_FDS_START + 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn signal(child: &Child, sig: i32) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    // Signals go through kill(1): the launcher's one unsafe block is the descriptor hand-over.
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
        for (_, mut twin) in std::mem::take(&mut self.twins) {
            let _ = twin.child.kill();
            let _ = twin.child.wait();
        }
    }
}
