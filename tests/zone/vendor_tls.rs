//! `hfx adapter check` against the vendor API stand-in says which transport the vendor adapter
//! uses: https verified against `adapter.ca_file` with a client certificate, or plain http only
//! with `adapter.allow_plain_http = true`.

use hfx_adapters::open::AdapterSettings;
use hfx_standins::seeding::Seed;
use hfx_standins::vendor::{Faults, StandIn, Transport, spawn_standin_with};
use std::path::{Path, PathBuf};

const CENTRE: &str = "320500000000000";

/// A node configuration whose `[adapter]` is `adapter` ([`crate::common::adapter_only_config`]).
fn node_toml(dir: &Path, adapter: &AdapterSettings) -> PathBuf {
    #[derive(serde::Serialize)]
    struct Table<'a> {
        adapter: &'a AdapterSettings,
    }
    let table = toml::to_string(&Table { adapter }).unwrap();
    crate::common::adapter_only_config(dir, CENTRE, &table)
}

async fn check(cfg: &Path) -> (Option<i32>, String) {
    let mut cmd = crate::common::hfx();
    cmd.args(["adapter", "check", "--config"]).arg(cfg);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("running hfx");
    crate::common::code_and_text(&out)
}

async fn seeded(dir: &Path, transport: Transport) -> StandIn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = spawn_standin_with(listener, &dir.join("vendor"), Faults::default(), transport)
        .await
        .unwrap();
    let opts = hfx_standins::seed::SeedOptions {
        seed: 7,
        history_months: 6,
        employers: 5,
    };
    s.core(None)
        .unwrap()
        .seed(CENTRE, &opts, 0, 3, &|_| {})
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn adapter_check_says_the_vendor_transport() {
    // https with the stand-in's generated vendor CA and a client certificate
    let tmp = tempfile::tempdir().unwrap();
    let s = seeded(tmp.path(), Transport::Generated).await;
    let settings = s.settings();
    let files = s.client_files().unwrap();
    let (code, out) = check(&node_toml(tmp.path(), &settings)).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "https, server certificate verified against {}, client certificate {}",
            files.ca_file.display(),
            files.client_cert_file.as_ref().unwrap().display()
        )),
        "{out}"
    );
    // trusting another CA: the check fails, naming adapter.ca_file
    let other = hfx_standins::vendor::VendorCa::generate("another CA").unwrap();
    let other_ca = tmp.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert_pem()).unwrap();
    let (code, out) = check(&node_toml(
        tmp.path(),
        &AdapterSettings {
            ca_file: Some(other_ca),
            ..settings
        },
    ))
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAILED") && out.contains("adapter.ca_file") && out.contains("UnknownIssuer"),
        "{out}"
    );

    // plain http: refused without the setting, named; with it, said to be in clear
    let tmp = tempfile::tempdir().unwrap();
    let s = seeded(tmp.path(), Transport::Plain).await;
    let plain = s.settings();
    assert!(plain.allow_plain_http);
    let (code, out) = check(&node_toml(
        tmp.path(),
        &AdapterSettings {
            allow_plain_http: false,
            ..plain.clone()
        },
    ))
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("adapter.allow_plain_http"), "{out}");
    let (code, out) = check(&node_toml(tmp.path(), &plain)).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "plain http (allow_plain_http = true): personal data crosses the network in clear"
        ),
        "{out}"
    );
}
