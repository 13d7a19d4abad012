//! `[console]`: the clerks', auditors' and operators' web console (hfx-console), served by the
//! node over HTTPS with the person's client certificate required (docs/console.md).

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleCfg {
    /// host:port the console listens on (HTTPS, client certificate required); none: no console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// A file the node writes the bound `host:port` to once it listens (useful with port 0:
    /// the zone launcher reads it). Relative to the config's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_file: Option<PathBuf>,
}

impl ConsoleCfg {
    pub(super) fn validate(
        &self,
        taken: &[&str],
        key: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let Some(addr) = &self.listen else {
            return Ok(());
        };
        if addr.parse::<SocketAddr>().is_err() {
            return Err(key(
                "console.listen",
                format!("{addr:?} is not an address like 127.0.0.1:8443"),
            ));
        }
        if !addr.ends_with(":0") && taken.contains(&addr.as_str()) {
            return Err(key(
                "console.listen",
                "must differ from listen.peer, listen.local and ops.listen".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str, d: String) -> ConfigError {
        ConfigError::Key {
            path: PathBuf::from("node.toml"),
            key: k.to_string(),
            detail: d,
        }
    }

    #[test]
    fn a_console_address_is_checked_and_must_not_reuse_a_port() {
        let none = ConsoleCfg::default();
        assert!(none.validate(&[], &key).is_ok());
        let bad = ConsoleCfg {
            listen: Some("localhost".into()),
            addr_file: None,
        };
        let e = bad.validate(&[], &key).unwrap_err().to_string();
        assert!(e.contains("console.listen"), "{e}");
        let clash = ConsoleCfg {
            listen: Some("127.0.0.1:7001".into()),
            addr_file: None,
        };
        assert!(clash.validate(&["127.0.0.1:7001"], &key).is_err());
        assert!(clash.validate(&["127.0.0.1:7002"], &key).is_ok());
        let any = ConsoleCfg {
            listen: Some("127.0.0.1:0".into()),
            addr_file: None,
        };
        assert!(any.validate(&["127.0.0.1:0"], &key).is_ok());
    }
}
