//! `hfx adapter check`.

use super::init_cli_logging;
use std::path::Path;
use std::process::ExitCode;

/// `hfx adapter check`: an operator's self-test of the adapter against the live core system.
pub async fn adapter_check(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    let t0 = std::time::Instant::now();
    let (items, opened) = match hfx_node::node::open_core(&cfg).await {
        Ok(core) => (core.check().await, true),
        Err(e) => (
            vec![hfx_adapters::CheckItem {
                name: "connectivity".into(),
                ok: false,
                detail: format!("{e:#}"),
            }],
            false,
        ),
    };
    let ok = opened && items.iter().all(|i| i.ok);
    if json {
        let list: Vec<_> = items
            .iter()
            .map(|i| serde_json::json!({"check": i.name, "ok": i.ok, "detail": i.detail}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"centre": cfg.centre, "kind": cfg.adapter.kind, "ok": ok, "checks": list, "seconds": t0.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "adapter {} of centre {} ({})",
            cfg.adapter.kind,
            cfg.centre,
            config.display()
        );
        for i in &items {
            println!(
                "  {} {:<14} {}",
                if i.ok { "ok  " } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        println!(
            "{}",
            if ok {
                "all checks passed"
            } else {
                "some checks FAILED"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
