//! `hfx seed`: fill a core system with the synthetic population.

use super::{init_cli_logging, progress_bar};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `hfx seed` fills: a sqlite file, or the core system a node configuration names.
pub struct SeedTarget {
    pub core: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub centre: Option<String>,
}

pub async fn seed(
    t: SeedTarget,
    members: u64,
    start: u64,
    seed: u64,
    history_months: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let (settings, centre, label) = match (&t.core, &t.config) {
        (Some(core), _) => {
            let centre = t
                .centre
                .clone()
                .context("--centre is required with --core")?;
            let s = hfx_adapters::open::AdapterSettings {
                kind: "sqlite".into(),
                path: Some(core.clone()),
                ..Default::default()
            };
            (s, centre, core.display().to_string())
        }
        (None, Some(cfg_path)) => {
            let cfg = hfx_node::config::NodeConfig::load(cfg_path)?;
            let s = hfx_node::node::adapter_settings(&cfg);
            let centre = t.centre.clone().unwrap_or(cfg.centre.clone());
            (
                s,
                centre,
                format!(
                    "the {} core system of {}",
                    cfg.adapter.kind,
                    cfg_path.display()
                ),
            )
        }
        (None, None) => anyhow::bail!("give --core FILE (sqlite) or --config NODE.toml"),
    };
    let centre = hfx_adapters::ids::validate_centre_code("--centre", &centre)?;
    // A sqlite core is created by seeding (a node opens only an existing one): its folder too.
    if settings.kind == "sqlite"
        && let Some(parent) = settings.path.as_deref().and_then(std::path::Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {} for the core database", parent.display()))?;
    }
    let opts = hfx_standins::seed::SeedOptions {
        seed,
        history_months,
        ..Default::default()
    };
    let bar = progress_bar(members, "seeding");
    let t0 = std::time::Instant::now();
    let b = bar.clone();
    hfx_standins::seeding::seed(&settings, &centre, &opts, start, members, &move |done| {
        b.set_position(done)
    })
    .await?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let rate = members as f64 / secs.max(1e-9);
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": centre, "kind": settings.kind, "seeded": members, "start": start, "seconds": secs, "members_per_second": rate})
        );
    } else {
        println!(
            "seeded members {start}..{} of centre {centre} into {label} in {secs:.1} s ({rate:.0}/s)",
            start + members
        );
    }
    Ok(ExitCode::SUCCESS)
}
