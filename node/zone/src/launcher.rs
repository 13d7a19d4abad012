//! The zone launcher: builds a zone on loopback (PKI, directory, node configs, seeded core
//! systems) and runs real `hfx node run` processes. `hfx demo`, the integration tests and
//! `hfx bench` all start zones through it.
//!
//! - `plan`: what zone to build (`ZoneSpec`) and what was built (`CentrePlan`, `Prepared`);
//! - `prepare`: the zone on disk, with node configs serialised from `NodeConfig`;
//! - `process`: the node processes, started on listeners the launcher bound and hands over
//!   (the systemd socket-activation protocol), so no port is released between reserving it
//!   and serving on it;
//! - here: the core systems and the settlement bank the launcher hosts for a zone.

mod plan;
mod prepare;
mod process;
#[cfg(test)]
mod tests;

pub use plan::{CentrePlan, Listeners, Prepared, ZoneSpec};
pub use prepare::{node_config, prepare, write_node_config};
pub use process::Zone;

use anyhow::Context;
use std::path::Path;

/// The zone file shipped with hfx (the ten centres of the Huaihai zone).
pub const SHIPPED_ZONE: &str = include_str!("../../../deploy/zone.toml");

/// Person ids the launcher issues for every centre.
pub const CLERK: &str = "clerk1";
pub const AUDITOR: &str = "auditor1";
pub const OPERATOR: &str = "operator1";

/// Core systems the launcher runs for a zone (the stand-ins for the batch and vendor-API
/// systems, and the databases it created), and the zone's settlement bank stand-in. They live
/// as long as this value.
#[derive(Default)]
pub struct CoreHosts {
    cores: Vec<hfx_standins::host::Keep>,
    /// The zone's settlement bank (every node's `transfer.bank_url`), ledger in `DIR/bank/`.
    bank: Option<hfx_standins::bank::BankHandle>,
    /// One line per centre whose core system differs from deploy/zone.toml's, and why.
    pub notes: Vec<String>,
}

impl CoreHosts {
    /// Stop the stand-ins (the bank too) and drop the databases created for the zone.
    pub async fn cleanup(&mut self) {
        for mut keep in std::mem::take(&mut self.cores) {
            keep.cleanup().await;
        }
        if let Some(bank) = self.bank.take() {
            bank.shutdown().await;
        }
    }

    /// No core-system stand-in or database is hosted (the bank does not count).
    pub fn is_empty(&self) -> bool {
        self.cores.iter().all(hfx_standins::host::Keep::is_empty)
    }

    /// The zone's settlement bank stand-in: faults (`set_fault`) and the ledger (`ledger`).
    pub fn bank(&self) -> Option<&hfx_standins::bank::BankHandle> {
        self.bank.as_ref()
    }

    /// The bank's URL, as every node's config has it.
    pub fn bank_url(&self) -> Option<&str> {
        self.bank.as_ref().map(hfx_standins::bank::BankHandle::url)
    }
}

/// Host the zone's settlement bank stand-in, its ledger in `DIR/bank/ledger.db`; returns its URL.
async fn host_bank(spec: &ZoneSpec, hosts: &mut CoreHosts) -> anyhow::Result<String> {
    let dir = spec.dir.join("bank");
    let bank = hfx_standins::bank::host_bank(&dir)
        .await
        .with_context(|| format!("hosting the settlement bank stand-in in {}", dir.display()))?;
    let url = bank.url().to_string();
    hosts.bank = Some(bank);
    Ok(url)
}

type SeedJob = hfx_standins::host::SeedJob;

/// Set up one centre's core system through the stand-ins' host; returns its `[adapter]` table
/// and the seeding job.
async fn host_core(
    spec: &ZoneSpec,
    p: &CentrePlan,
    node_dir: &Path,
    opts: &hfx_standins::seed::SeedOptions,
    hosts: &mut CoreHosts,
) -> anyhow::Result<(String, SeedJob)> {
    let kind = if spec.zone_core_systems {
        p.core_system.as_str()
    } else {
        "sqlite"
    };
    let hosted = hfx_standins::host(&hfx_standins::HostSpec {
        kind,
        centre: &p.code,
        dir: node_dir,
        postgres_url: &spec.postgres_url,
        mariadb_url: &spec.mariadb_url,
        members: spec.members_per_centre,
        opts: *opts,
    })
    .await?;
    if let Some(why) = &hosted.fallback {
        hosts.notes.push(format!(
            "{} ({kind}): {why}; running it on the sqlite core system",
            p.city
        ));
    }
    hosts.cores.push(hosted.keep);
    Ok((adapter_block(&hosted.settings)?, hosted.seeding))
}

/// The node config's `[adapter]` table for `settings`.
fn adapter_block(settings: &hfx_adapters::settings::AdapterSettings) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Table<'a> {
        adapter: &'a hfx_adapters::settings::AdapterSettings,
    }
    Ok(toml::to_string(&Table { adapter: settings })?)
}
