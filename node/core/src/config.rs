//! Node configuration: one TOML file per node, validated at start with errors that name the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod console;
pub use console::ConsoleCfg;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{path}: key `{key}`: {detail}")]
    Key {
        path: PathBuf,
        key: String,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// 15-digit centre code this node serves.
    pub centre: String,
    pub listen: Listen,
    pub tls: Tls,
    pub directory: DirectoryCfg,
    pub signing: Signing,
    pub store: StoreCfg,
    pub adapter: AdapterCfg,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub logging: Logging,
    #[serde(default)]
    pub transfer: TransferCfg,
    #[serde(default)]
    pub duplicates: DuplicatesCfg,
    /// `[ops]`: the operator port (Prometheus metrics, docs/metrics.md).
    #[serde(default)]
    pub ops: OpsCfg,
    /// `[console]`: the web console (HTTPS, person certificates; docs/console.md); off by default.
    #[serde(default)]
    pub console: ConsoleCfg,
    /// `[telemetry]`: OpenTelemetry trace export (docs/tracing.md); off by default.
    #[serde(default)]
    pub telemetry: TelemetryCfg,
    /// `[failover]`: several processes of one centre on one PostgreSQL store (docs/failover.md).
    #[serde(default)]
    pub failover: FailoverCfg,
    /// Where relative paths resolve from (the config file's folder); not a key.
    #[serde(skip)]
    pub base: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// Peer API address (other centres' nodes).
    pub peer: String,
    /// Local API address (own clerks, auditors, operators).
    pub local: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub root: PathBuf,
    pub crl: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryCfg {
    /// The signed zone directory (JSON) distributed by the zone.
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// Ed25519 PKCS#8 PEM key for checkpoints, cosignatures and attestations.
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreCfg {
    /// `sqlite://PATH` (default kind) or `postgres://...`.
    pub url: String,
}

/// The `[adapter]` table: which core system, and where (see `hfx_adapters::open`).
pub type AdapterCfg = hfx_adapters::open::AdapterSettings;

/// Which peers may ask which purposes, and how often. `default` applies to every centre of
/// the directory not listed in `peers`. Rates are requests per minute per peer and purpose
/// (`rates` for every peer, `peer_rates.<centre>` overriding it for one); a purpose with no
/// rate is not limited. See [`crate::policy`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "all_purposes")]
    pub default: Vec<String>,
    #[serde(default)]
    pub peers: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rates: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_rates: BTreeMap<String, BTreeMap<String, u32>>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default: all_purposes(),
            peers: BTreeMap::new(),
            rates: BTreeMap::new(),
            peer_rates: BTreeMap::new(),
        }
    }
}

/// The purpose names a policy may list: those of [`hfx_model::purpose::PURPOSES`] (where
/// purposes are defined, once), in wire order.
pub const PURPOSES: [&str; hfx_model::purpose::PURPOSES.len()] = {
    let all = &hfx_model::purpose::PURPOSES;
    let mut names = [""; hfx_model::purpose::PURPOSES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = all[i].name;
        i += 1;
    }
    names
};

fn all_purposes() -> Vec<String> {
    PURPOSES.iter().map(|s| s.to_string()).collect()
}

impl Policy {
    pub fn allows(&self, peer: &str, purpose: &str) -> bool {
        let list = self.peers.get(peer).unwrap_or(&self.default);
        list.iter().any(|p| p == purpose)
    }

    /// The limit on `peer`'s requests for `purpose`, per minute (None: not limited).
    pub fn rate_per_minute(&self, peer: &str, purpose: &str) -> Option<u32> {
        self.peer_rates
            .get(peer)
            .and_then(|r| r.get(purpose))
            .or_else(|| self.rates.get(purpose))
            .copied()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Deadline of one call to a peer, milliseconds.
    #[serde(default = "d_peer_timeout")]
    pub peer_timeout_ms: u64,
    /// How often to look for changed certificate, CRL and directory files, seconds (0: only SIGHUP).
    #[serde(default = "d_reload")]
    pub reload_poll_secs: u64,
    /// How often to sign a checkpoint when the log grew, milliseconds.
    #[serde(default = "d_checkpoint")]
    pub checkpoint_interval_ms: u64,
    /// Least time between two cosigning requests to one witness, milliseconds.
    #[serde(default = "d_witness")]
    pub witness_interval_ms: u64,
}

fn d_witness() -> u64 {
    2_000
}

fn d_peer_timeout() -> u64 {
    5_000
}
fn d_reload() -> u64 {
    2
}
fn d_checkpoint() -> u64 {
    1_000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            peer_timeout_ms: d_peer_timeout(),
            reload_poll_secs: d_reload(),
            checkpoint_interval_ms: d_checkpoint(),
            witness_interval_ms: d_witness(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// "auto" (default: JSON lines, or text when stdout is a terminal), "json" or "text".
    #[serde(default = "d_format")]
    pub format: String,
    /// tracing filter, e.g. "info" or "hfx_node=debug,info".
    #[serde(default = "d_level")]
    pub level: String,
}

fn d_format() -> String {
    "auto".into()
}
fn d_level() -> String {
    "info".into()
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            format: d_format(),
            level: d_level(),
        }
    }
}

/// `[ops]`: the operator port: Prometheus/OpenMetrics metrics on plain HTTP (loopback by
/// default). See docs/metrics.md.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsCfg {
    /// host:port of the operator port; none: no operator port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// A file the node writes the bound `host:port` to once it listens (useful with port 0:
    /// the zone launcher reads it). Relative to the config's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_file: Option<PathBuf>,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/gRPC. See docs/tracing.md.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryCfg {
    /// OTLP/gRPC collector endpoint, e.g. "http://127.0.0.1:4317"; none: traces off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// The OTel `service.name` of this node's spans (the centre is the `hfx.centre`
    /// resource attribute). Default "hfx-node".
    #[serde(default = "d_service_name")]
    pub service_name: String,
    /// Share of traces that start at this node to keep, 0..=1 (default 1). A call that
    /// arrives sampled is always kept, so a trace is never cut at a centre boundary.
    #[serde(default = "d_sample_ratio")]
    pub sample_ratio: f64,
    /// Longest a finished span waits in the batch before export, ms (default 5000).
    #[serde(default = "d_batch_delay")]
    pub batch_delay_ms: u64,
}

impl Default for TelemetryCfg {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: d_service_name(),
            sample_ratio: d_sample_ratio(),
            batch_delay_ms: d_batch_delay(),
        }
    }
}

fn d_service_name() -> String {
    "hfx-node".into()
}
fn d_sample_ratio() -> f64 {
    1.0
}
fn d_batch_delay() -> u64 {
    5000
}

impl TelemetryCfg {
    fn validate(&self, key: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        if let Some(url) = &self.otlp_endpoint {
            // Plain gRPC only: the exporter is built without TLS (docs/tracing.md: a collector
            // beside the node forwards over TLS).
            let rest = url.strip_prefix("http://").unwrap_or_default();
            if rest.is_empty() || rest.starts_with('/') || url.parse::<http::Uri>().is_err() {
                return Err(key(
                    "telemetry.otlp_endpoint",
                    format!("{url:?} must be a URL like http://127.0.0.1:4317"),
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(key("telemetry.service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(key("telemetry.sample_ratio", "must be in 0..=1".into()));
        }
        if self.batch_delay_ms == 0 || self.batch_delay_ms > 600_000 {
            return Err(key("telemetry.batch_delay_ms", "must be 1..=600000".into()));
        }
        Ok(())
    }
}

/// `[failover]`: the writer lease among processes of one centre sharing a PostgreSQL store.
/// See docs/failover.md.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverCfg {
    /// Take part in the writer lease (PostgreSQL stores only; a SQLite store is always its
    /// one process's). Off: this process serves as if it were the centre's only one.
    #[serde(default)]
    pub enabled: bool,
    /// How often a standby tries the lease and the holder checks it still has it (ms).
    #[serde(default = "d_lease_poll")]
    pub lease_poll_ms: u64,
}

impl Default for FailoverCfg {
    fn default() -> Self {
        Self {
            enabled: false,
            lease_poll_ms: d_lease_poll(),
        }
    }
}

fn d_lease_poll() -> u64 {
    500
}

/// `[duplicates]`: this node's side of a duplicate sweep (docs/duplicates.md): how fast it
/// sends batches to each peer. The peer's own limit is its `[policy]` rate for
/// `duplicate_account_check`; past it the peer answers RESOURCE_EXHAUSTED and the sweep
/// backs off.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesCfg {
    /// Batches per second sent to each peer (default 5).
    #[serde(default = "d_dup_rate")]
    pub batches_per_second: f64,
    /// Per peer (15-digit centre code), overriding `batches_per_second`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peer_batches_per_second: BTreeMap<String, f64>,
}

impl Default for DuplicatesCfg {
    fn default() -> Self {
        Self {
            batches_per_second: d_dup_rate(),
            peer_batches_per_second: BTreeMap::new(),
        }
    }
}

impl DuplicatesCfg {
    /// Batches per second to `peer`.
    pub fn rate_for(&self, peer: &str) -> f64 {
        self.peer_batches_per_second
            .get(peer)
            .copied()
            .unwrap_or(self.batches_per_second)
    }
}

fn d_dup_rate() -> f64 {
    5.0
}

/// `[transfer]`: account transfers (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransferCfg {
    /// The settlement bank's base URL; absent, this node takes no transfers
    /// (TRANSFERS_DISABLED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_url: Option<String>,
    /// Deadline of one call to the bank, milliseconds (past it, the payout is in doubt and is
    /// asked again with the same case id).
    #[serde(default = "d_bank_timeout")]
    pub bank_timeout_ms: u64,
    /// How long the origin has to receive a letter, seconds (default 3 days). Past it, an
    /// origin that never saw the case writes an expiry tombstone when asked.
    #[serde(default = "d_letter_deadline")]
    pub letter_deadline_secs: u64,
    /// A case that has not moved for this long is parked for a clerk, seconds.
    #[serde(default = "d_step_deadline")]
    pub step_deadline_secs: u64,
    /// Backoff of a message or step without an answer: first wait, milliseconds.
    #[serde(default = "d_backoff_min")]
    pub relay_backoff_min_ms: u64,
    /// Longest wait between two tries, milliseconds.
    #[serde(default = "d_backoff_max")]
    pub relay_backoff_max_ms: u64,
    /// Test hook: abort the process at this crash point (`HFX_CRASH_AT` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_at: Option<String>,
}

fn d_bank_timeout() -> u64 {
    3_000
}
fn d_letter_deadline() -> u64 {
    259_200
}
fn d_step_deadline() -> u64 {
    600
}
fn d_backoff_min() -> u64 {
    50
}
fn d_backoff_max() -> u64 {
    30_000
}

impl Default for TransferCfg {
    fn default() -> Self {
        Self {
            bank_url: None,
            bank_timeout_ms: d_bank_timeout(),
            letter_deadline_secs: d_letter_deadline(),
            step_deadline_secs: d_step_deadline(),
            relay_backoff_min_ms: d_backoff_min(),
            relay_backoff_max_ms: d_backoff_max(),
            crash_at: None,
        }
    }
}

/// The environment variable that overrides `transfer.crash_at`.
pub const CRASH_AT_ENV: &str = "HFX_CRASH_AT";

impl TransferCfg {
    /// The crash point in force: env `HFX_CRASH_AT` (when set and not empty), else `crash_at`.
    pub fn crash_point(&self) -> Option<String> {
        Self::crash_point_with(std::env::var(CRASH_AT_ENV).ok(), self.crash_at.as_deref())
    }

    fn crash_point_with(env: Option<String>, cfg: Option<&str>) -> Option<String> {
        env.filter(|v| !v.trim().is_empty())
            .or_else(|| cfg.map(str::to_string))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn bank_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.bank_timeout_ms)
    }

    fn validate(&self, key: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        if let Some(url) = &self.bank_url {
            let rest = url.strip_prefix("http://").unwrap_or_default();
            if rest.is_empty() || rest.starts_with('/') {
                return Err(key(
                    "transfer.bank_url",
                    format!("{url:?} must be an address like http://127.0.0.1:8600"),
                ));
            }
        }
        if self.bank_timeout_ms == 0 || self.bank_timeout_ms > 120_000 {
            return Err(key("transfer.bank_timeout_ms", "must be 1..=120000".into()));
        }
        if self.letter_deadline_secs == 0 {
            return Err(key(
                "transfer.letter_deadline_secs",
                "must be at least 1".into(),
            ));
        }
        if self.step_deadline_secs == 0 {
            return Err(key(
                "transfer.step_deadline_secs",
                "must be at least 1".into(),
            ));
        }
        if self.relay_backoff_min_ms == 0 {
            return Err(key(
                "transfer.relay_backoff_min_ms",
                "must be at least 1".into(),
            ));
        }
        if self.relay_backoff_max_ms < self.relay_backoff_min_ms {
            return Err(key(
                "transfer.relay_backoff_max_ms",
                format!(
                    "must be at least transfer.relay_backoff_min_ms ({})",
                    self.relay_backoff_min_ms
                ),
            ));
        }
        if self
            .crash_at
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(key("transfer.crash_at", "must not be empty".into()));
        }
        Ok(())
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut cfg: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        cfg.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// A path from the config, resolved against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let key = |k: &str, d: String| ConfigError::Key {
            path: path.to_path_buf(),
            key: k.to_string(),
            detail: d,
        };
        if self.centre.len() != 15 || !self.centre.bytes().all(|b| b.is_ascii_digit()) {
            return Err(key(
                "centre",
                format!("{:?} is not a 15-digit centre code", self.centre),
            ));
        }
        for (k, v) in [
            ("listen.peer", &self.listen.peer),
            ("listen.local", &self.listen.local),
        ] {
            if v.parse::<SocketAddr>().is_err() {
                return Err(key(k, format!("{v:?} is not an address like 0.0.0.0:7443")));
            }
        }
        if self.listen.peer == self.listen.local && !self.listen.peer.ends_with(":0") {
            return Err(key("listen.local", "must differ from listen.peer".into()));
        }
        for (k, p) in [
            ("tls.root", &self.tls.root),
            ("tls.crl", &self.tls.crl),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("directory.path", &self.directory.path),
            ("signing.key", &self.signing.key),
        ] {
            let full = self.resolve(p);
            if !full.exists() {
                return Err(key(k, format!("{} does not exist", full.display())));
            }
        }
        if !(self.store.url.starts_with("sqlite:") || self.store.url.starts_with("postgres")) {
            return Err(key(
                "store.url",
                format!(
                    "{:?} must start with sqlite:// or postgres://",
                    self.store.url
                ),
            ));
        }
        let needs: &[&str] = match self.adapter.kind.as_str() {
            "sqlite" | "batchfile" => &["path"],
            "postgres" | "mariadb" => &["url"],
            "vendorapi" => &["url", "client_id", "client_secret"],
            other => {
                return Err(key(
                    "adapter.kind",
                    format!("{other:?} is not one of {:?}", hfx_adapters::open::KINDS),
                ));
            }
        };
        for k in needs {
            let present = match *k {
                "path" => self.adapter.path.is_some(),
                "url" => self.adapter.url.is_some(),
                "client_id" => self.adapter.client_id.is_some(),
                _ => self.adapter.client_secret.is_some(),
            };
            if !present {
                return Err(key(
                    &format!("adapter.{k}"),
                    format!("required for adapter kind {}", self.adapter.kind),
                ));
            }
        }
        for (peer, list) in std::iter::once((&"default".to_string(), &self.policy.default))
            .chain(self.policy.peers.iter())
        {
            for p in list {
                if !PURPOSES.contains(&p.as_str()) {
                    return Err(key(
                        &format!("policy.{peer}"),
                        format!("unknown purpose {p:?} (known: {PURPOSES:?})"),
                    ));
                }
            }
        }
        let rate_tables = std::iter::once(("policy.rates".to_string(), &self.policy.rates)).chain(
            self.policy
                .peer_rates
                .iter()
                .map(|(peer, r)| (format!("policy.peer_rates.{peer}"), r)),
        );
        for (table, rates) in rate_tables {
            for (p, n) in rates {
                if !PURPOSES.contains(&p.as_str()) {
                    return Err(key(
                        &table,
                        format!("unknown purpose {p:?} (known: {PURPOSES:?})"),
                    ));
                }
                if *n == 0 {
                    return Err(key(
                        &format!("{table}.{p}"),
                        "must be at least 1 request per minute (to refuse a purpose, leave \
                         it out of the peer's list)"
                            .into(),
                    ));
                }
            }
        }
        let dup_rates = std::iter::once((
            "duplicates.batches_per_second".to_string(),
            self.duplicates.batches_per_second,
        ))
        .chain(
            self.duplicates
                .peer_batches_per_second
                .iter()
                .map(|(p, r)| (format!("duplicates.peer_batches_per_second.{p}"), *r)),
        );
        for (k, r) in dup_rates {
            if !(r.is_finite() && r > 0.0 && r <= 10_000.0) {
                return Err(key(
                    &k,
                    "must be a number of batches per second in (0, 10000]".into(),
                ));
            }
        }
        if self.limits.peer_timeout_ms == 0 || self.limits.peer_timeout_ms > 120_000 {
            return Err(key("limits.peer_timeout_ms", "must be 1..=120000".into()));
        }
        if !matches!(self.logging.format.as_str(), "json" | "text" | "auto") {
            return Err(key(
                "logging.format",
                "must be \"json\", \"text\" or \"auto\"".into(),
            ));
        }
        if let Some(ops) = &self.ops.listen {
            if ops.parse::<SocketAddr>().is_err() {
                return Err(key(
                    "ops.listen",
                    format!("{ops:?} is not an address like 127.0.0.1:9464"),
                ));
            }
            if !ops.ends_with(":0") && (*ops == self.listen.peer || *ops == self.listen.local) {
                return Err(key(
                    "ops.listen",
                    "must differ from listen.peer and listen.local".into(),
                ));
            }
        }
        let ops = self.ops.listen.as_deref().unwrap_or_default();
        self.console
            .validate(&[&self.listen.peer, &self.listen.local, ops], &key)?;
        self.telemetry.validate(&key)?;
        self.transfer.validate(&key)?;
        Ok(())
    }

    pub fn tls_files(&self) -> crate::tls::TlsFiles {
        crate::tls::TlsFiles {
            root: self.resolve(&self.tls.root),
            crl: self.resolve(&self.tls.crl),
            cert: self.resolve(&self.tls.cert),
            key: self.resolve(&self.tls.key),
        }
    }

    /// Store URL with a relative sqlite path resolved against the config folder.
    pub fn store_url(&self) -> String {
        if let Some(rest) = self.store.url.strip_prefix("sqlite://") {
            let p = Path::new(rest.split('?').next().unwrap_or(rest));
            if p.is_relative() {
                return format!("sqlite://{}", self.base.join(p).display());
            }
        }
        self.store.url.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_parses() {
        // Parsed, not loaded: its paths are a real node's (/etc/hfx/...). Unknown keys fail.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/node.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg: NodeConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.duplicates.batches_per_second, 5.0);
        assert!(
            cfg.policy.rates.is_empty(),
            "the example's rates are comments"
        );
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        for f in [
            "root.pem", "crl.pem", "cert.pem", "key.pem", "dir.json", "sk.pem",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let p = dir.join("node.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
centre = "320300000000000"
[listen]
peer = "127.0.0.1:7443"
local = "127.0.0.1:7444"
[tls]
root = "root.pem"
crl = "crl.pem"
cert = "cert.pem"
key = "key.pem"
[directory]
path = "dir.json"
[signing]
key = "sk.pem"
[store]
url = "sqlite://node.db"
[adapter]
kind = "sqlite"
path = "core.db"
"#;

    fn err(text: &str) -> String {
        let tmp = tempfile::tempdir().unwrap();
        NodeConfig::load(&write(tmp.path(), text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_config_loads_with_defaults_and_relative_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::load(&write(tmp.path(), GOOD)).unwrap();
        assert_eq!(cfg.limits.peer_timeout_ms, 5_000);
        assert!(cfg.policy.allows("371700000000000", "loan_check"));
        assert_eq!(
            cfg.store_url(),
            format!("sqlite://{}", tmp.path().join("node.db").display())
        );
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err(&GOOD.replace("127.0.0.1:7443", "nowhere")).contains("`listen.peer`"));
        assert!(err(&GOOD.replace("\"320300000000000\"", "\"3203\"")).contains("`centre`"));
        assert!(err(&GOOD.replace("root.pem", "missing.pem")).contains("`tls.root`"));
        assert!(err(&GOOD.replace("sqlite://node.db", "mysql://x")).contains("`store.url`"));
        assert!(
            err(&GOOD.replace("kind = \"sqlite\"", "kind = \"oracle\"")).contains("`adapter.kind`")
        );
        assert!(
            err(&GOOD.replace(
                "kind = \"sqlite\"\npath = \"core.db\"",
                "kind = \"postgres\""
            ))
            .contains("`adapter.url`")
        );
        assert!(
            err(&format!("{GOOD}[policy]\ndefault = [\"gossip\"]\n")).contains("`policy.default`")
        );
        let e = err(&GOOD.replace("[listen]", "[listen]\nport = 1"));
        assert!(e.contains("unknown field") && e.contains("port"), "{e}");
    }

    #[test]
    fn telemetry_is_off_by_default_and_one_key_turns_it_on() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::load(&write(tmp.path(), GOOD)).unwrap();
        assert_eq!(cfg.telemetry, TelemetryCfg::default());
        assert_eq!(cfg.telemetry.otlp_endpoint, None);
        assert_eq!(cfg.logging.format, "auto");
        let on = format!("{GOOD}[telemetry]\notlp_endpoint = \"http://127.0.0.1:4317\"\n");
        let cfg = NodeConfig::load(&write(tmp.path(), &on)).unwrap();
        assert_eq!(
            cfg.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        for bad in ["127.0.0.1:4317", "http://", "https://collector:4317"] {
            let text = format!("{GOOD}[telemetry]\notlp_endpoint = \"{bad}\"\n");
            assert!(err(&text).contains("`telemetry.otlp_endpoint`"), "{bad}");
        }
        let text = format!("{GOOD}[telemetry]\nsample_ratio = 1.5\n");
        assert!(err(&text).contains("`telemetry.sample_ratio`"));
    }

    #[test]
    fn the_transfer_table_is_optional_with_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::load(&write(tmp.path(), GOOD)).unwrap();
        assert_eq!(cfg.transfer, TransferCfg::default());
        assert_eq!(cfg.transfer.bank_url, None);
        assert_eq!(cfg.transfer.bank_timeout_ms, 3_000);
        assert_eq!(cfg.transfer.letter_deadline_secs, 259_200);
        assert_eq!(cfg.transfer.step_deadline_secs, 600);
        assert_eq!(
            (
                cfg.transfer.relay_backoff_min_ms,
                cfg.transfer.relay_backoff_max_ms
            ),
            (50, 30_000)
        );
        assert_eq!(cfg.transfer.crash_at, None);

        let text = format!(
            "{GOOD}[transfer]\nbank_url = \"http://127.0.0.1:8600\"\nbank_timeout_ms = 500\ncrash_at = \"after_payout\"\n"
        );
        let cfg = NodeConfig::load(&write(tmp.path(), &text)).unwrap();
        assert_eq!(
            cfg.transfer.bank_url.as_deref(),
            Some("http://127.0.0.1:8600")
        );
        assert_eq!(
            cfg.transfer.bank_timeout(),
            std::time::Duration::from_millis(500)
        );
        assert_eq!(cfg.transfer.crash_at.as_deref(), Some("after_payout"));
        assert_eq!(
            cfg.transfer.step_deadline_secs, 600,
            "the others keep their defaults"
        );
        // written and read again, it is the same
        let again = toml::to_string(&cfg).unwrap();
        let back = NodeConfig::load(&write(tmp.path(), &again)).unwrap();
        assert_eq!(back, cfg);
        let plain = toml::to_string(&NodeConfig::load(&write(tmp.path(), GOOD)).unwrap()).unwrap();
        assert!(
            !plain.contains("bank_url") && !plain.contains("crash_at"),
            "{plain}"
        );
    }

    #[test]
    fn transfer_errors_name_the_key() {
        let t = |body: &str| err(&format!("{GOOD}[transfer]\n{body}\n"));
        let e = t("bank = \"x\"");
        assert!(e.contains("unknown field") && e.contains("bank"), "{e}");
        assert!(t("bank_url = \"https://bank\"").contains("`transfer.bank_url`"));
        assert!(t("bank_url = \"http://\"").contains("`transfer.bank_url`"));
        assert!(t("bank_timeout_ms = 0").contains("`transfer.bank_timeout_ms`"));
        assert!(t("step_deadline_secs = 0").contains("`transfer.step_deadline_secs`"));
        assert!(t("letter_deadline_secs = 0").contains("`transfer.letter_deadline_secs`"));
        assert!(t("relay_backoff_min_ms = 0").contains("`transfer.relay_backoff_min_ms`"));
        assert!(
            t("relay_backoff_min_ms = 100\nrelay_backoff_max_ms = 99")
                .contains("`transfer.relay_backoff_max_ms`")
        );
        assert!(t("crash_at = \" \"").contains("`transfer.crash_at`"));
    }

    #[test]
    fn the_duplicates_table_defaults_overrides_and_names_a_bad_rate() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = NodeConfig::load(&write(tmp.path(), GOOD)).unwrap();
        assert_eq!(cfg.duplicates.rate_for("320700000000000"), 5.0);
        let text = format!(
            "{GOOD}[duplicates]\nbatches_per_second = 2.5\n\
             [duplicates.peer_batches_per_second]\n\"320700000000000\" = 20\n"
        );
        let cfg = NodeConfig::load(&write(tmp.path(), &text)).unwrap();
        assert_eq!(cfg.duplicates.rate_for("320700000000000"), 20.0);
        assert_eq!(cfg.duplicates.rate_for("321300000000000"), 2.5);
        let d = |body: &str| err(&format!("{GOOD}[duplicates]\n{body}\n"));
        assert!(d("batches_per_second = 0").contains("`duplicates.batches_per_second`"));
        assert!(
            d("[duplicates.peer_batches_per_second]\n\"320700000000000\" = -1")
                .contains("`duplicates.peer_batches_per_second.320700000000000`")
        );
    }

    #[test]
    fn the_environment_overrides_the_crash_point() {
        let f = TransferCfg::crash_point_with;
        assert_eq!(f(None, None), None);
        assert_eq!(f(None, Some("a")).as_deref(), Some("a"));
        assert_eq!(f(Some("b".into()), Some("a")).as_deref(), Some("b"));
        assert_eq!(f(Some(" ".into()), Some("a")).as_deref(), Some("a"));
        assert_eq!(f(Some("b".into()), None).as_deref(), Some("b"));
    }
}
