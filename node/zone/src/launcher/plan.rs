//! What zone to build, and what was built.

use super::CoreHosts;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;

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
    /// Rate limits per centre: centre -> (purpose -> requests per minute, for every peer).
    pub rates: BTreeMap<String, BTreeMap<String, u32>>,
    /// Store URL per centre; default `sqlite://DIR/nodes/CODE/node.db`.
    pub store_urls: BTreeMap<String, String>,
    /// The peer endpoint the directory lists per centre, when it is not the node's own peer
    /// listener (a test's fault proxy in front of it); the node still serves on its own.
    pub peer_endpoints: BTreeMap<String, String>,
    pub peer_timeout_ms: u64,
    pub log_level: String,
    /// Run each centre on the core system deploy/zone.toml names for it (PostgreSQL and
    /// MariaDB when reachable, stand-ins for the batch and vendor-API systems); otherwise
    /// every centre runs the sqlite core system.
    pub zone_core_systems: bool,
    /// Server URLs for the database-backed core systems.
    pub postgres_url: String,
    pub mariadb_url: String,
    /// `[telemetry] otlp_endpoint` of every node (docs/tracing.md), with a short batch delay
    /// so a test sees spans soon; none: traces off.
    pub otlp_endpoint: Option<String>,
    /// Centres whose processes take part in the writer lease (`[failover] enabled`,
    /// docs/failover.md); their store must be PostgreSQL ([`ZoneSpec::store_urls`]).
    pub failover: std::collections::BTreeSet<String>,
    /// Give every node an operator port (`[ops] listen = "127.0.0.1:0"`; the node writes the
    /// bound address to `nodes/CODE/ops.addr`, [`crate::launcher::Zone::ops_addr`]). On
    /// unless `HFX_ZONE_OPS=off` (how the metrics' overhead on `hfx bench` is measured).
    pub ops: bool,
    /// Give every node a web console (`[console] listen = "127.0.0.1:0"`; the node writes the
    /// bound address to `nodes/CODE/console.addr`, [`crate::launcher::Zone::console_addr`]).
    /// On unless `HFX_ZONE_CONSOLE=off`.
    pub console: bool,
}

impl ZoneSpec {
    pub fn new(dir: impl Into<PathBuf>, centres: usize) -> Self {
        Self {
            dir: dir.into(),
            centres,
            members_per_centre: 200,
            seed: 1,
            policies: BTreeMap::new(),
            rates: BTreeMap::new(),
            store_urls: BTreeMap::new(),
            peer_endpoints: BTreeMap::new(),
            zone_core_systems: false,
            postgres_url: std::env::var("HFX_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            mariadb_url: std::env::var("HFX_MARIADB_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
            peer_timeout_ms: 3_000,
            log_level: "info".into(),
            otlp_endpoint: None,
            failover: Default::default(),
            ops: std::env::var("HFX_ZONE_OPS").map_or(true, |v| v != "off"),
            console: std::env::var("HFX_ZONE_CONSOLE").map_or(true, |v| v != "off"),
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

/// A node's peer and local listeners, bound by the launcher (127.0.0.1, port 0) and kept
/// until the node's process inherits them: the ports in the directory and the configs are
/// these sockets' own, never reserved, released and bound again.
#[derive(Debug)]
pub struct Listeners {
    pub peer: TcpListener,
    pub local: TcpListener,
}

impl Listeners {
    /// Two fresh loopback listeners on ports the kernel picks.
    pub fn bind_loopback() -> std::io::Result<Self> {
        Ok(Self {
            peer: TcpListener::bind("127.0.0.1:0")?,
            local: TcpListener::bind("127.0.0.1:0")?,
        })
    }

    /// Listeners on a known node's addresses again (a node started after it was stopped:
    /// its peers must find it where the directory says).
    pub fn bind_again(plan: &CentrePlan) -> std::io::Result<Self> {
        Ok(Self {
            peer: TcpListener::bind(&plan.peer_addr)?,
            local: TcpListener::bind(&plan.local_addr)?,
        })
    }
}

/// A prepared zone: its centres, the listeners its nodes will serve on, and the core systems
/// the launcher hosts for it.
pub struct Prepared {
    pub plans: Vec<CentrePlan>,
    pub hosts: CoreHosts,
    /// Per centre, until its node is first started.
    pub listeners: BTreeMap<String, Listeners>,
}
