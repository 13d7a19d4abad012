//! `deploy/zone.toml`: the zone's centres, from which the directory is built.

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ZoneConfigError {
    #[error("zone config: {0}")]
    Parse(String),
    #[error("zone config: key `{key}`: {detail}")]
    Key { key: String, detail: String },
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZoneCentre {
    pub code: String,
    pub name: String,
    pub city: String,
    pub province: String,
    /// Peer endpoint host:port.
    pub endpoint: String,
    /// Further peer endpoints of the centre (standby processes, docs/failover.md).
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub core_system: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub zone: String,
    #[serde(default = "default_validity")]
    pub directory_validity_days: i64,
    #[serde(default = "default_quorum")]
    pub witness_quorum: u32,
    #[serde(rename = "centre")]
    pub centres: Vec<ZoneCentre>,
}

fn default_validity() -> i64 {
    30
}
fn default_quorum() -> u32 {
    1
}

pub const CORE_SYSTEMS: [&str; 5] = ["postgres", "mariadb", "sqlite", "batchfile", "vendorapi"];

impl ZoneConfig {
    pub fn parse(text: &str) -> Result<Self, ZoneConfigError> {
        let cfg: ZoneConfig =
            toml::from_str(text).map_err(|e| ZoneConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ZoneConfigError> {
        let key = |k: String, d: String| ZoneConfigError::Key { key: k, detail: d };
        if self.zone.trim().is_empty() {
            return Err(key("zone".into(), "must not be empty".into()));
        }
        if !(1..=3650).contains(&self.directory_validity_days) {
            return Err(key(
                "directory_validity_days".into(),
                "must be 1..=3650".into(),
            ));
        }
        if self.centres.is_empty() {
            return Err(key(
                "centre".into(),
                "at least one [[centre]] is required".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.centres.iter().enumerate() {
            let k = |f: &str| format!("centre[{i}].{f}");
            if c.code.len() != 15 || !c.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(key(
                    k("code"),
                    format!("{:?} is not a 15-digit centre code", c.code),
                ));
            }
            if !seen.insert(c.code.clone()) {
                return Err(key(k("code"), format!("{} appears twice", c.code)));
            }
            for (f, v) in [
                ("name", &c.name),
                ("city", &c.city),
                ("province", &c.province),
            ] {
                if v.trim().is_empty() {
                    return Err(key(k(f), "must not be empty".into()));
                }
            }
            for (f, e) in std::iter::once(("endpoint", &c.endpoint))
                .chain(c.endpoints.iter().map(|e| ("endpoints", e)))
            {
                match e.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                    _ => {
                        return Err(key(k(f), format!("{e:?} is not host:port")));
                    }
                }
            }
            if !CORE_SYSTEMS.contains(&c.core_system.as_str()) {
                return Err(key(
                    k("core_system"),
                    format!("{:?} is not one of {CORE_SYSTEMS:?}", c.core_system),
                ));
            }
        }
        if self.witness_quorum as usize >= self.centres.len() && self.centres.len() > 1 {
            return Err(key(
                "witness_quorum".into(),
                "must be less than the number of centres".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_zone_parses() {
        let text = include_str!("../../deploy/zone.toml");
        let z = ZoneConfig::parse(text).unwrap();
        assert_eq!(z.centres.len(), 10);
        for sys in CORE_SYSTEMS {
            assert!(
                z.centres.iter().any(|c| c.core_system == sys),
                "{sys} unused"
            );
        }
    }

    #[test]
    fn errors_name_the_key() {
        let bad = "zone = \"z\"\n[[centre]]\ncode = \"123\"\nname = \"a\"\ncity = \"b\"\nprovince = \"c\"\nendpoint = \"h:1\"\ncore_system = \"sqlite\"\n";
        let e = ZoneConfig::parse(bad).unwrap_err().to_string();
        assert!(e.contains("centre[0].code"), "{e}");
        let bad = bad
            .replace("\"123\"", "\"320300000000000\"")
            .replace("h:1", "nohost");
        let e = ZoneConfig::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("centre[0].endpoint"), "{e}");
    }
}
