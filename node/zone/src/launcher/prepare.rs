//! The zone on disk: PKI, directory, person certificates, seeded core systems, node configs.

use super::plan::{CentrePlan, Listeners, Prepared, ZoneSpec};
use super::{AUDITOR, CLERK, CoreHosts, OPERATOR, SHIPPED_ZONE, host_bank, host_core};
use anyhow::Context;
use hfx_certs::zone::ZoneConfig;
use hfx_certs::{Role, Validity, ZoneDir};
use hfx_node::config::{
    AdapterCfg, DirectoryCfg, Limits, Listen, Logging, NodeConfig, PURPOSES, Policy, Signing,
    StoreCfg, Tls, TransferCfg,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Build the zone on disk: PKI, node configs, seeded core systems. `progress` is told about
/// each step (for the demo's account). The nodes' listeners are bound here and kept in the
/// result, so the directory names ports nobody else can take.
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
    let mut listeners = BTreeMap::new();
    for c in shipped.centres.iter().take(spec.centres) {
        let bound = Listeners::bind_loopback().context("binding a node's loopback listeners")?;
        let peer_addr = bound.peer.local_addr()?.to_string();
        let local_addr = bound.local.local_addr()?.to_string();
        listeners.insert(c.code.clone(), bound);
        let endpoint = spec.peer_endpoints.get(&c.code).unwrap_or(&peer_addr);
        zone_toml.push_str(&format!(
            "\n[[centre]]\ncode = \"{}\"\nname = \"{}\"\ncity = \"{}\"\nprovince = \"{}\"\nendpoint = \"{}\"\ncore_system = \"{}\"\n",
            c.code, c.name, c.city, c.province, endpoint, c.core_system
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
    let mut adapters: BTreeMap<String, AdapterCfg> = BTreeMap::new();
    let mut seeding = Vec::new();
    let opts = hfx_standins::seed::SeedOptions {
        seed: spec.seed,
        ..Default::default()
    };
    for p in &plans {
        let node_dir = p.config.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&node_dir)?;
        let (table, job) = host_core(spec, p, &node_dir, &opts, &mut hosts).await?;
        let adapter = table
            .into_adapter()
            .with_context(|| format!("the [adapter] table of centre {}", p.code))?;
        adapters.insert(p.code.clone(), adapter);
        seeding.push(tokio::spawn(job));
    }
    for note in &hosts.notes {
        progress(note);
    }
    let bank_url = host_bank(spec, &mut hosts).await?;
    progress(&format!(
        "settlement bank stand-in at {bank_url} (ledger in bank/ledger.db)"
    ));
    for p in &plans {
        let node_dir = p.config.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&node_dir)?;
        let store = spec
            .store_urls
            .get(&p.code)
            .cloned()
            .unwrap_or_else(|| format!("sqlite://{}", node_dir.join("node.db").display()));
        let adapter = adapters
            .remove(&p.code)
            .with_context(|| format!("no core system hosted for centre {}", p.code))?;
        let mut cfg = node_config(spec, &zd, p, store, adapter);
        cfg.transfer.bank_url = Some(bank_url.clone());
        write_node_config(&p.config, &cfg)?;
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
    Ok(Prepared {
        plans,
        hosts,
        listeners,
    })
}

/// What the core-system host says about the `[adapter]` table: the settings themselves, or
/// the table as TOML text.
trait IntoAdapter {
    fn into_adapter(self) -> anyhow::Result<AdapterCfg>;
}

impl IntoAdapter for AdapterCfg {
    fn into_adapter(self) -> anyhow::Result<AdapterCfg> {
        Ok(self)
    }
}

impl IntoAdapter for String {
    fn into_adapter(self) -> anyhow::Result<AdapterCfg> {
        #[derive(serde::Deserialize)]
        struct Table {
            adapter: AdapterCfg,
        }
        Ok(toml::from_str::<Table>(&self)?.adapter)
    }
}

/// The configuration of one centre's node in a launcher-built zone: every purpose allowed by
/// default (plus the spec's per-peer policy), short reload, checkpoint and witness intervals,
/// JSON logs, default `[transfer]` settings (`prepare` adds the zone bank's URL). `base` is the
/// node's folder, where the config file goes.
pub fn node_config(
    spec: &ZoneSpec,
    zd: &ZoneDir,
    plan: &CentrePlan,
    store_url: String,
    adapter: AdapterCfg,
) -> NodeConfig {
    let centre_dir = zd.centre_dir(&plan.code);
    NodeConfig {
        centre: plan.code.clone(),
        listen: Listen {
            peer: plan.peer_addr.clone(),
            local: plan.local_addr.clone(),
        },
        tls: Tls {
            root: zd.root_cert_path(),
            crl: zd.crl_path(),
            cert: centre_dir.join("node.crt.pem"),
            key: centre_dir.join("node.key.pem"),
        },
        directory: DirectoryCfg {
            path: zd.directory_path(),
        },
        signing: Signing {
            key: centre_dir.join("signing.key.pem"),
        },
        store: StoreCfg { url: store_url },
        adapter,
        policy: Policy {
            default: PURPOSES.iter().map(|p| p.to_string()).collect(),
            peers: spec.policies.get(&plan.code).cloned().unwrap_or_default(),
            rates: spec.rates.get(&plan.code).cloned().unwrap_or_default(),
            peer_rates: Default::default(),
        },
        limits: Limits {
            peer_timeout_ms: spec.peer_timeout_ms,
            reload_poll_secs: 1,
            checkpoint_interval_ms: 500,
            witness_interval_ms: 300,
        },
        logging: Logging {
            format: "json".into(),
            level: spec.log_level.clone(),
        },
        transfer: TransferCfg::default(),
        duplicates: Default::default(),
        ops: hfx_node::config::OpsCfg {
            listen: spec.ops.then(|| "127.0.0.1:0".to_string()),
            addr_file: spec.ops.then(|| plan.config.with_file_name("ops.addr")),
        },
        console: hfx_node::config::ConsoleCfg {
            listen: spec.console.then(|| "127.0.0.1:0".to_string()),
            addr_file: spec
                .console
                .then(|| plan.config.with_file_name("console.addr")),
        },
        telemetry: hfx_node::config::TelemetryCfg {
            otlp_endpoint: spec.otlp_endpoint.clone(),
            batch_delay_ms: 200,
            ..Default::default()
        },
        failover: hfx_node::config::FailoverCfg {
            enabled: spec.failover.contains(&plan.code),
            ..Default::default()
        },
        base: plan
            .config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    }
}

/// Serialise a node configuration to `path` (atomically), the file `NodeConfig::load` reads.
pub fn write_node_config(path: &Path, cfg: &NodeConfig) -> anyhow::Result<()> {
    let text = toml::to_string(cfg).context("serialising the node configuration")?;
    let text = format!("# generated by the hfx zone launcher\n{text}");
    hfx_certs::zonedir::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
