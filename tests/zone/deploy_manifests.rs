//! deploy/ as shipped: every manifest parses; the configs pass the node's own checks; the
//! Containerfile builds only the binary and runs it as non-root; the alert rules and the
//! dashboard read only series the node exposes (docs/metrics.md, checked against the node's
//! registry). The Kubernetes objects: k8s.rs; the systemd units: systemd.rs; setup.sql's
//! roles on a real PostgreSQL: postgres.rs. Why: a manifest nobody runs rots silently.

mod k8s;
mod postgres;
mod promql;
mod systemd;

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(rel: &str) -> PathBuf {
    repo().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a YAML file, as JSON values (the manifests use string keys only).
fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{ptr} is not a string in {v}"))
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a Vec<Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{ptr} is not a list"))
}

/// `NodeConfig::load` (every check a node makes at start) on a config written for a real
/// host: its /etc/hfx/ files are made, empty, under a temporary root and the paths moved there.
fn load_as_node(text: &str, what: &str) -> hfx_node::config::NodeConfig {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_string_lossy().to_string();
    let cfg: hfx_node::config::NodeConfig =
        toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    for p in [
        &cfg.tls.root,
        &cfg.tls.crl,
        &cfg.tls.cert,
        &cfg.tls.key,
        &cfg.directory.path,
        &cfg.signing.key,
    ] {
        assert!(
            p.starts_with("/etc/hfx/"),
            "{what}: {} is not under /etc/hfx/",
            p.display()
        );
        let at = tmp.path().join(p.strip_prefix("/").unwrap());
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(&at, "").unwrap();
    }
    let moved = text.replace("\"/etc/hfx/", &format!("\"{root}/etc/hfx/"));
    let path = tmp.path().join("node.toml");
    std::fs::write(&path, moved).unwrap();
    hfx_node::config::NodeConfig::load(&path).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn the_example_config_parses_with_its_commented_sections() {
    // The shipped example parses (also a unit test of hfx-node); its commented [ops],
    // [console], [telemetry] and [failover] examples parse too once uncommented.
    let text = read(&deploy("node.example.toml"));
    load_as_node(&text, "node.example.toml");
    let mut on = String::new();
    for line in text.lines() {
        let l = line.trim_start();
        if [
            "# [ops]",
            "# [console]",
            "# [telemetry]",
            "# [failover]",
            "# listen",
            "# otlp_endpoint",
            "# enabled",
            "# lease_poll_ms",
        ]
        .iter()
        .any(|p| l.starts_with(p))
        {
            on.push_str(&l[2..]);
        } else {
            on.push_str(line);
        }
        on.push('\n');
    }
    let cfg = load_as_node(
        &on,
        "node.example.toml, [ops] [console] [telemetry] [failover] uncommented",
    );
    assert_eq!(cfg.ops.listen.as_deref(), Some("127.0.0.1:9464"));
    assert_eq!(cfg.console.listen.as_deref(), Some("0.0.0.0:8443"));
    assert!(cfg.telemetry.otlp_endpoint.is_some());
    assert!(cfg.failover.enabled);
}

#[test]
fn the_containerfile_builds_only_the_binary_and_runs_it_unprivileged() {
    let text = read(&deploy("container/Containerfile")).replace("\\\n", " ");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "multi-stage: a builder and a runtime");
    let (build, run) = lines.split_at(*stages.last().unwrap());
    let runtime_from = run[0];
    assert!(
        runtime_from.contains("distroless") || runtime_from.contains("-slim"),
        "{runtime_from}"
    );
    // The build copies what the workspace is built from, and every member is inside.
    let copied: Vec<&str> = build
        .iter()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len() - 1].to_vec()
        })
        .collect();
    for src in &copied {
        assert!(
            repo().join(src).exists(),
            "COPY {src}: not in the repository"
        );
    }
    let ws: toml::Value = toml::from_str(&read(&repo().join("Cargo.toml"))).unwrap();
    for m in ws["workspace"]["members"].as_array().unwrap() {
        let m = m.as_str().unwrap();
        assert!(
            copied
                .iter()
                .any(|c| m.starts_with(c.trim_end_matches('/'))),
            "workspace member {m} is not copied into the build"
        );
    }
    assert!(
        build
            .iter()
            .any(|l| l.contains("cargo build --release --locked -p hfx"))
    );
    // The runtime: the binary only, a non-root user, the three ports, the node as command.
    for l in run.iter().filter(|l| l.starts_with("COPY")) {
        assert!(
            l.contains("--from=build"),
            "runtime COPY from the build stage only: {l}"
        );
    }
    let user = run
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the runtime stage");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "USER {user}");
    let exposed: BTreeSet<&str> = run
        .iter()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(
        exposed,
        BTreeSet::from(["7443/tcp", "7444/tcp", "9464/tcp"])
    );
    assert!(
        run.iter().any(|l| l.starts_with("HEALTHCHECK")),
        "say what health is"
    );
    assert!(
        run.contains(&r#"ENTRYPOINT ["/usr/local/bin/hfx"]"#),
        "ENTRYPOINT is the binary"
    );
    for ignore in ["containerignore", "Containerfile.dockerignore"] {
        let t = read(&deploy(&format!("container/{ignore}")));
        assert!(
            t.lines().any(|l| l.trim() == "target/"),
            "{ignore} must leave target/ out"
        );
    }
}

/// The series the node exposes: the tables of docs/metrics.md, checked against the node's own
/// registry. A family appears in a scrape only once it has a series (labelled families start
/// empty), so the registry alone cannot list them all; what it does show must be in the doc
/// with the same type, so the doc cannot drift from the code unnoticed.
fn exposed_series() -> BTreeSet<String> {
    let doc_path = repo().join("docs/metrics.md");
    let doc = read(&doc_path);
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Some(name), kind) = (
            cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
            cells[2],
        ) else {
            continue;
        };
        if ["counter", "gauge", "histogram"].contains(&kind) {
            families.insert(name.to_string(), kind.to_string());
        }
    }
    assert!(
        families.len() >= 20,
        "docs/metrics.md lists only {families:?}"
    );
    let scrape = hfx_node::ops::Metrics::default().encode();
    for line in scrape.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        let doc_name = match kind {
            "counter" => format!("{name}_total"),
            _ => name.to_string(),
        };
        assert_eq!(
            families.get(&doc_name).map(String::as_str),
            Some(kind),
            "the node exposes {doc_name} ({kind}); docs/metrics.md lists it as {:?}",
            families.get(&doc_name)
        );
    }
    let mut out = BTreeSet::new();
    for (name, kind) in families {
        if kind == "histogram" {
            for suffix in ["bucket", "sum", "count"] {
                out.insert(format!("{name}_{suffix}"));
            }
        } else {
            out.insert(name);
        }
    }
    out
}

/// Series Prometheus makes itself, not the node.
const PROMETHEUS_OWN: &[&str] = &["up"];

fn check_expr(where_: &str, expr: &str, exposed: &BTreeSet<String>, used: &mut BTreeSet<String>) {
    if let Err(e) = promql::balanced(expr) {
        panic!("{where_}: {e}: {expr}");
    }
    let names = promql::metric_names(expr);
    assert!(!names.is_empty(), "{where_}: reads no series: {expr}");
    for n in names {
        assert!(
            exposed.contains(&n) || PROMETHEUS_OWN.contains(&n.as_str()),
            "{where_}: {n} is not a series the node exposes ({expr})"
        );
        used.insert(n);
    }
}

#[test]
fn alert_rules_and_dashboard_read_only_series_the_node_exposes() {
    let exposed = exposed_series();
    let mut used = BTreeSet::new();
    let rules = &yaml_docs(&deploy("monitoring/hfx-alerts.yaml"))[0];
    let mut alerts = BTreeMap::new();
    for g in arr(rules, "/groups") {
        for r in arr(g, "/rules") {
            let name = s(r, "/alert").to_string();
            let expr = s(r, "/expr").to_string();
            check_expr(&name, &expr, &exposed, &mut used);
            assert!(
                ["critical", "warning", "info"].contains(&s(r, "/labels/severity")),
                "{name}: severity"
            );
            assert!(!s(r, "/annotations/summary").is_empty(), "{name}: summary");
            if let Some(f) = r.get("for") {
                let f = f.as_str().unwrap();
                let (n, unit) = f.split_at(f.len() - 1);
                assert!(
                    n.parse::<u32>().is_ok() && "smhdwy".contains(unit),
                    "{name}: for {f}"
                );
            }
            assert!(alerts.insert(name.clone(), expr).is_none(), "{name} twice");
        }
    }
    // The issue's alerts, at its thresholds.
    for (alert, reads, threshold) in [
        ("HfxWitnessEvidence", "hfx_witness_evidence", "> 0"),
        ("HfxCheckpointStale", "hfx_checkpoint_age_seconds", "> 60"),
        (
            "HfxCertificateExpiring",
            "hfx_certificate_expiry_seconds",
            "< 14 * 86400",
        ),
        ("HfxOutboxStuck", "hfx_outbox_oldest_age_seconds", "> 300"),
        ("HfxPeerUnreachable", "hfx_peer_up", "== 0"),
        ("HfxCasesStuck", "hfx_cases_stuck", "> 0"),
        ("HfxNoWriter", "hfx_node_writer", "< 1"),
    ] {
        let e = alerts
            .get(alert)
            .unwrap_or_else(|| panic!("no alert {alert}"));
        assert!(e.contains(reads) && e.contains(threshold), "{alert}: {e}");
    }

    let dash: Value = serde_json::from_str(&read(&deploy("monitoring/hfx-dashboard.json")))
        .expect("dashboard JSON");
    assert!(!s(&dash, "/uid").is_empty() && !s(&dash, "/title").is_empty());
    let panels = arr(&dash, "/panels");
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(u64, u64, u64, u64, &str)> = Vec::new();
    for p in panels {
        let title = s(p, "/title");
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel id twice: {title}"
        );
        let g = &p["gridPos"];
        let b = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap());
        assert!(b[0] + b[2] <= 24, "{title} is wider than the grid");
        for o in &boxes {
            let apart =
                b[0] >= o.0 + o.2 || o.0 >= b[0] + b[2] || b[1] >= o.1 + o.3 || o.1 >= b[1] + b[3];
            assert!(apart, "{title} overlaps {}", o.4);
        }
        boxes.push((b[0], b[1], b[2], b[3], title));
        if s(p, "/type") == "row" {
            continue;
        }
        let targets = arr(p, "/targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            check_expr(title, s(t, "/expr"), &exposed, &mut used);
        }
    }
    for v in arr(&dash, "/templating/list") {
        if let Some(q) = v.pointer("/query/query").and_then(Value::as_str) {
            // Grafana's label_values(SERIES, LABEL): the series part is PromQL.
            let series = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map_or(q, |(series, _)| series);
            check_expr(s(v, "/name"), series, &exposed, &mut used);
        }
    }
    // The other way round only informs: a family nobody watches yet.
    let unused: Vec<&String> = exposed
        .iter()
        .filter(|n| !n.ends_with("_sum") && !n.ends_with("_count"))
        .filter(|n| !used.iter().any(|u| base(u) == base(n)))
        .collect();
    if !unused.is_empty() {
        eprintln!("NOTE: exposed but on no panel or alert: {unused:?}");
    }

    let prom = &yaml_docs(&deploy("monitoring/prometheus.example.yaml"))[0];
    assert!(
        arr(prom, "/rule_files")
            .iter()
            .any(|f| f == "hfx-alerts.yaml")
    );
    let jobs = arr(prom, "/scrape_configs");
    let hfx = jobs
        .iter()
        .find(|j| j["job_name"] == "hfx")
        .expect("job hfx");
    for sc in arr(hfx, "/static_configs") {
        assert!(
            sc.pointer("/labels/centre").is_some(),
            "every target needs its centre"
        );
    }
}

/// A histogram's series all count as its family.
fn base(name: &str) -> &str {
    name.strip_suffix("_bucket").unwrap_or(name)
}
