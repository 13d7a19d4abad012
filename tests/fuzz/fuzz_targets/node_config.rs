//! The node configuration (node/core config.rs): `NodeConfig::load` on a file holding the
//! input (TOML parse and the key-by-key validation, against a folder in which the files the
//! seed configs name exist), then what the node derives from it; and the zone file
//! (`hfx certs init --zone`, certs zone.rs) that the directory is built from.
#![no_main]

use hfx_node::config::NodeConfig;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The files the seed configs name, relative to the config's folder.
const FILES: [&str; 6] = [
    "trust/root.crt.pem",
    "trust/crl.pem",
    "trust/directory.json",
    "node.crt.pem",
    "node.key.pem",
    "signing.key.pem",
];

fn config_path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = hfx_fuzz::scratch().join("config");
        for f in FILES {
            let p = dir.join(f);
            if let Some(parent) = p.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(&p, b"placeholder\n");
        }
        dir.join("node.toml")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = config_path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    if let Ok(cfg) = NodeConfig::load(path) {
        let _ = cfg.tls_files();
        let _ = cfg.store_url();
        let _ = cfg.adapter.timeout();
        for purpose in hfx_node::config::PURPOSES {
            let _ = cfg.policy.allows(hfx_fuzz::PEER, purpose);
        }
        let _ = cfg.resolve(&cfg.directory.path);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = toml::from_str::<NodeConfig>(text);
        if let Ok(z) = hfx_certs::zone::ZoneConfig::parse(text) {
            let _ = z.validate();
        }
    }
});
