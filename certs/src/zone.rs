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
#[serde(from = "RawZoneConfig")]
pub struct ZoneConfig {
    pub zone: String,
    pub directory_validity_days: i64,
    /// Peer cosignatures a checkpoint needs before it counts as witnessed. Left out of the
    /// file: [`default_witness_quorum`] of the number of centres.
    pub witness_quorum: u32,
    /// Whether the file gave `witness_quorum` (else it is the default).
    pub witness_quorum_given: bool,
    pub centres: Vec<ZoneCentre>,
}

/// The file as written: `witness_quorum` may be left out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoneConfig {
    zone: String,
    #[serde(default = "default_validity")]
    directory_validity_days: i64,
    #[serde(default)]
    witness_quorum: Option<u32>,
    #[serde(rename = "centre")]
    centres: Vec<ZoneCentre>,
}

impl From<RawZoneConfig> for ZoneConfig {
    fn from(r: RawZoneConfig) -> Self {
        Self {
            witness_quorum: r
                .witness_quorum
                .unwrap_or_else(|| default_witness_quorum(r.centres.len())),
            witness_quorum_given: r.witness_quorum.is_some(),
            zone: r.zone,
            directory_validity_days: r.directory_validity_days,
            centres: r.centres,
        }
    }
}

fn default_validity() -> i64 {
    30
}

/// The witness quorum of a zone of `centres` centres when zone.toml leaves it out:
/// min(2, centres − 1). A checkpoint is cosigned by the other centres only (a node does not
/// witness itself), so a quorum can be at most centres − 1; two cosignatures, where the zone
/// has that many peers, mean one dishonest or lost witness cannot decide alone.
pub fn default_witness_quorum(centres: usize) -> u32 {
    centres.saturating_sub(1).min(2) as u32
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
        let most = self.centres.len().saturating_sub(1);
        if self.witness_quorum as usize > most {
            return Err(key(
                "witness_quorum".into(),
                format!(
                    "{} is more than the zone's {} centres can give: a checkpoint is cosigned \
                     by the other centres only, so at most {most}; set witness_quorum = {} or \
                     leave it out (default min(2, centres − 1) = {})",
                    self.witness_quorum,
                    self.centres.len(),
                    default_witness_quorum(self.centres.len()),
                    default_witness_quorum(self.centres.len()),
                ),
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

    fn zone_of(centres: usize, quorum: Option<u32>) -> String {
        let mut text = String::from("zone = \"z\"\n");
        if let Some(q) = quorum {
            text.push_str(&format!("witness_quorum = {q}\n"));
        }
        for i in 0..centres {
            text.push_str(&format!(
                "[[centre]]\ncode = \"3203000000000{i:02}\"\nname = \"n\"\ncity = \"c\"\nprovince = \"p\"\nendpoint = \"h:{}\"\ncore_system = \"sqlite\"\n",
                7443 + i
            ));
        }
        text
    }

    #[test]
    fn the_witness_quorum_defaults_to_what_the_zone_can_give() {
        for (centres, want) in [(1, 0), (2, 1), (3, 2), (10, 2)] {
            let z = ZoneConfig::parse(&zone_of(centres, None)).unwrap();
            assert_eq!(z.witness_quorum, want, "{centres} centres");
            assert!(!z.witness_quorum_given);
        }
        let z = ZoneConfig::parse(&zone_of(4, Some(3))).unwrap();
        assert_eq!((z.witness_quorum, z.witness_quorum_given), (3, true));
        // The shipped file leaves it out: ten centres, two cosignatures.
        let shipped = ZoneConfig::parse(include_str!("../../deploy/zone.toml")).unwrap();
        assert_eq!(shipped.witness_quorum, 2);
    }

    #[test]
    fn a_quorum_the_zone_cannot_give_says_what_to_set() {
        let e = ZoneConfig::parse(&zone_of(2, Some(2)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`witness_quorum`"), "{e}");
        assert!(e.contains("at most 1"), "{e}");
        assert!(e.contains("set witness_quorum = 1 or leave it out"), "{e}");
        let e = ZoneConfig::parse(&zone_of(1, Some(1)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("set witness_quorum = 0"), "{e}");
        assert!(ZoneConfig::parse(&zone_of(2, Some(1))).is_ok());
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
