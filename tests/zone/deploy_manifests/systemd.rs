//! deploy/systemd: the unit's hardening, the socket units matching the node's listeners, and
//! `systemd-analyze verify` / `security` where this machine can run them.

use super::{deploy, read};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// section → key → values (a key may repeat, e.g. SystemCallFilter).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(text: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        assert!(!section.is_empty(), "{line} is outside any section");
        unit.entry(section.clone())
            .or_default()
            .entry(k.trim().to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    unit
}

fn one<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    unit.get(section)
        .and_then(|s| s.get(key))
        .and_then(|v| v.last())
        .unwrap_or_else(|| panic!("[{section}] {key}= is missing"))
}

#[test]
fn the_unit_is_hardened_and_the_sockets_match_the_node() {
    let unit = parse_unit(&read(&deploy("systemd/hfx-node.service")));
    let must = [
        ("Type", "exec"),
        ("User", "hfx"),
        ("Group", "hfx"),
        ("StateDirectory", "hfx"),
        ("ConfigurationDirectory", "hfx"),
        ("NoNewPrivileges", "true"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("Restart", "on-failure"),
        ("LimitNOFILE", "65536"),
        ("KillSignal", "SIGTERM"),
    ];
    for (k, v) in must {
        assert_eq!(one(&unit, "Service", k), v, "[Service] {k}=");
    }
    let filters = &unit["Service"]["SystemCallFilter"];
    assert!(
        filters.iter().any(|f| f == "@system-service"),
        "SystemCallFilter={filters:?}"
    );
    assert!(one(&unit, "Service", "ExecReload").contains("kill -HUP $MAINPID"));
    // The node is started on a link in its state folder (so it may write its last good
    // directory beside the config), created just before.
    let exec = one(&unit, "Service", "ExecStart");
    assert!(
        exec.starts_with("/usr/local/bin/hfx node run --config /var/lib/hfx/"),
        "{exec}"
    );
    let pre = one(&unit, "Service", "ExecStartPre");
    assert!(
        pre.ends_with("/etc/hfx/node.toml /var/lib/hfx/node.toml"),
        "{pre}"
    );

    // Sockets: one per listener, named as `hfx node run` expects, on the example's addresses.
    let example: hfx_node::config::NodeConfig =
        toml::from_str(&read(&deploy("node.example.toml"))).expect("node.example.toml");
    for (file, name, addr) in [
        ("hfx-node-peer.socket", "peer", &example.listen.peer),
        ("hfx-node-local.socket", "local", &example.listen.local),
    ] {
        let s = parse_unit(&read(&deploy(&format!("systemd/{file}"))));
        assert_eq!(one(&s, "Socket", "FileDescriptorName"), name, "{file}");
        assert_eq!(one(&s, "Socket", "Service"), "hfx-node.service", "{file}");
        assert_eq!(one(&s, "Socket", "ListenStream"), addr.as_str(), "{file}");
    }
    let users = read(&deploy("systemd/hfx.sysusers.conf"));
    assert!(
        users.lines().any(|l| l.starts_with("u hfx ")),
        "hfx.sysusers.conf creates no hfx user"
    );
}

/// Run `systemd-analyze` with `args`; None when it cannot run here at all.
fn analyze(args: &[&str], dir: &Path) -> Option<std::process::Output> {
    Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
}

#[test]
fn systemd_analyze_verifies_the_units() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A unit systemd must accept: if even this fails, the environment cannot verify units.
    std::fs::write(
        dir.join("hfx-control.service"),
        "[Unit]\nDescription=control\n[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let Some(control) = analyze(&["verify", "./hfx-control.service"], dir) else {
        eprintln!("SKIPPED (systemd-analyze verify): systemd-analyze is not installed here");
        return;
    };
    if !control.status.success() {
        eprintln!(
            "SKIPPED (systemd-analyze verify): it cannot verify even a trivial unit here: {}",
            String::from_utf8_lossy(&control.stderr).trim()
        );
        return;
    }
    // verify checks that ExecStart's binary exists: point the copies at the one just built.
    let bin = env!("CARGO_BIN_EXE_hfx");
    let units = [
        "hfx-node.service",
        "hfx-node-peer.socket",
        "hfx-node-local.socket",
    ];
    for u in units {
        let text = read(&deploy(&format!("systemd/{u}"))).replace("/usr/local/bin/hfx", bin);
        std::fs::write(dir.join(u), text).unwrap();
    }
    let args: Vec<String> = std::iter::once("verify".to_string())
        .chain(units.iter().map(|u| format!("./{u}")))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = analyze(&args, dir).expect("systemd-analyze ran a moment ago");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys and bad values are only warnings (exit 0): any line about our units fails.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| units.iter().any(|u| l.contains(u)))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );

    // The sandbox's score (0 best, 10 worst); `--offline` needs systemd 250 or newer.
    match analyze(&["security", "--offline=true", "./hfx-node.service"], dir) {
        Some(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let score: f64 = text
                .lines()
                .find_map(|l| {
                    l.split("Overall exposure level for hfx-node.service:")
                        .nth(1)
                })
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
            assert!(
                score <= 2.0,
                "exposure {score} (was 1.2): the sandbox got weaker"
            );
        }
        _ => eprintln!("SKIPPED (systemd-analyze security --offline): not supported here"),
    }
}
