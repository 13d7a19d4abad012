//! Who a certificate names: a centre's node, or a person of a centre with a role.
//!
//! Node certificates carry the URI SAN `hfx://node/<15-digit centre code>` and the DNS SAN
//! `<code>.node.hfx` (the name peers dial); person certificates carry
//! `hfx://person/<centre>/<role>/<person id>`.

use sha2::{Digest, Sha256};
use std::fmt;
use x509_parser::extensions::GeneralName;

pub const NODE_URI_PREFIX: &str = "hfx://node/";
pub const PERSON_URI_PREFIX: &str = "hfx://person/";

/// The DNS name a node certificate carries and peers verify when they dial it.
pub fn node_dns_name(centre: &str) -> String {
    format!("{centre}.node.hfx")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Clerk,
    Auditor,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "clerk" => Ok(Role::Clerk),
            "auditor" => Ok(Role::Auditor),
            "operator" => Ok(Role::Operator),
            other => Err(format!(
                "unknown role {other:?} (expected clerk, auditor or operator)"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity a certificate asserts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Node {
        centre: String,
    },
    Person {
        centre: String,
        role: Role,
        person_id: String,
    },
}

impl Identity {
    pub fn centre(&self) -> &str {
        match self {
            Identity::Node { centre } | Identity::Person { centre, .. } => centre,
        }
    }
    pub fn uri(&self) -> String {
        match self {
            Identity::Node { centre } => format!("{NODE_URI_PREFIX}{centre}"),
            Identity::Person {
                centre,
                role,
                person_id,
            } => {
                format!("{PERSON_URI_PREFIX}{centre}/{role}/{person_id}")
            }
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Node { centre } => write!(f, "node {centre}"),
            Identity::Person {
                centre,
                role,
                person_id,
            } => write!(f, "{role} {person_id} of {centre}"),
        }
    }
}

fn is_centre_code(s: &str) -> bool {
    s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_person_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parse an hfx identity URI.
pub fn parse_identity_uri(uri: &str) -> Option<Identity> {
    if let Some(code) = uri.strip_prefix(NODE_URI_PREFIX) {
        return is_centre_code(code).then(|| Identity::Node {
            centre: code.to_string(),
        });
    }
    let rest = uri.strip_prefix(PERSON_URI_PREFIX)?;
    let mut parts = rest.split('/');
    let centre = parts.next()?;
    let role: Role = parts.next()?.parse().ok()?;
    let person_id = parts.next()?;
    if parts.next().is_some() || !is_centre_code(centre) || !is_person_id(person_id) {
        return None;
    }
    Some(Identity::Person {
        centre: centre.to_string(),
        role,
        person_id: person_id.to_string(),
    })
}

/// Read the identity from a DER certificate's URI SAN. Exactly one hfx URI must be present.
pub fn parse_identity(der: &[u8]) -> Result<Identity, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?
        .ok_or_else(|| "certificate has no subjectAltName".to_string())?;
    let mut found = None;
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && uri.starts_with("hfx://")
        {
            if found.is_some() {
                return Err("certificate names more than one hfx identity".into());
            }
            found = Some(
                parse_identity_uri(uri).ok_or_else(|| format!("malformed hfx identity {uri:?}"))?,
            );
        }
    }
    found.ok_or_else(|| "certificate names no hfx identity".to_string())
}

/// SHA-256 of the DER certificate, lower-case hex: what the directory pins.
pub fn cert_fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_uris_round_trip() {
        let node = Identity::Node {
            centre: "320300000000000".into(),
        };
        assert_eq!(parse_identity_uri(&node.uri()), Some(node));
        let p = Identity::Person {
            centre: "371300000000000".into(),
            role: Role::Auditor,
            person_id: "A-001".into(),
        };
        assert_eq!(parse_identity_uri(&p.uri()), Some(p));
        assert_eq!(parse_identity_uri("hfx://node/32030000000000"), None);
        assert_eq!(
            parse_identity_uri("hfx://person/320300000000000/boss/x"),
            None
        );
        assert_eq!(
            parse_identity_uri("hfx://person/320300000000000/clerk/a/b"),
            None
        );
    }
}
