//! `hfx adapter check`.

use super::init_cli_logging;
use std::path::Path;
use std::process::ExitCode;

/// What the check's report names first: the adapter kind, the centre, the config file.
struct Head<'a> {
    kind: &'a str,
    centre: &'a str,
    config: &'a Path,
}

/// The check's report as a person reads it: one line per check (its name and the adapter's
/// detail as they came), then all passed or which failed.
fn check_text(
    cat: &hfx_i18n::Catalogue,
    head: &Head<'_>,
    items: &[hfx_adapters::CheckItem],
    ok: bool,
) -> String {
    let mut out = cat.text(
        "adapter-head",
        &[
            ("kind", head.kind.into()),
            ("centre", head.centre.into()),
            ("config", head.config.display().to_string().into()),
        ],
    );
    out.push('\n');
    let (pass, fail) = (cat.msg("adapter-ok"), cat.msg("adapter-fail"));
    let w = hfx_i18n::display_width(&pass).max(hfx_i18n::display_width(&fail));
    for i in items {
        let mark = hfx_i18n::pad(if i.ok { &pass } else { &fail }, w);
        out.push_str(&format!("  {mark} {:<14} {}\n", i.name, i.detail));
    }
    let failed: Vec<&str> = items
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.name.as_str())
        .collect();
    if ok {
        out.push_str(&cat.msg("adapter-all-passed"));
    } else {
        out.push_str(&cat.text("adapter-failed", &[("checks", failed.join(", ").into())]));
    }
    out.push('\n');
    out
}

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
        let head = Head {
            kind: &cfg.adapter.kind,
            centre: &cfg.centre,
            config,
        };
        print!("{}", check_text(super::lang::cat(), &head, &items, ok));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_in_both_languages_with_the_checks_as_named() {
        let items = vec![
            hfx_adapters::CheckItem {
                name: "connectivity".into(),
                ok: true,
                detail: "sqlite core.db".into(),
            },
            hfx_adapters::CheckItem {
                name: "sample read".into(),
                ok: false,
                detail: "no members".into(),
            },
        ];
        let head = Head {
            kind: "sqlite",
            centre: "320300000000000",
            config: Path::new("node.toml"),
        };
        let en = hfx_i18n::Catalogue::new(hfx_i18n::Lang::En);
        let t = check_text(&en, &head, &items, false);
        assert_eq!(
            t,
            "adapter sqlite of centre 320300000000000 (node.toml)\n  \
             ok   connectivity   sqlite core.db\n  \
             FAIL sample read    no members\n\
             FAILED: sample read\n"
        );
        assert!(check_text(&en, &head, &items[..1], true).ends_with("all checks passed\n"));
        let zh = hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn);
        let t = check_text(&zh, &head, &items, false);
        assert!(
            t.starts_with("中心 320300000000000 的核心系统适配器 sqlite"),
            "{t}"
        );
        assert!(t.contains("  失败 sample read    no members\n"), "{t}");
        assert!(t.ends_with("未通过：sample read\n"), "{t}");
        assert!(check_text(&zh, &head, &items[..1], true).ends_with("全部检查通过\n"));
    }
}
