//! The scenarios of `hfx bench`, one file each, and what they share: the seeded members to
//! ask about, queries, status calls.

pub(crate) mod baseline;
pub(crate) mod duplicates;
pub(crate) mod loan;
pub(crate) mod log;
pub(crate) mod metrics;
pub(crate) mod query;
pub(crate) mod soak;
pub(crate) mod start;
pub(crate) mod transfer;
pub(crate) mod verify;

use crate::launcher::Zone;
use hfx_adapters::model::{AccountStatus, IdType, Member};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate};

pub(crate) fn live_members(centre: &str, spec_seed: u64, members: u64) -> Vec<Member> {
    let opts = SeedOptions {
        seed: spec_seed,
        ..Default::default()
    };
    (0..members)
        .map(|i| generate(centre, &opts, i).member)
        .filter(|m| m.status == AccountStatus::Normal && m.id_type == IdType::ResidentId)
        .collect()
}

pub(crate) fn member_query(target: &str, m: &Member, purpose: pb::Purpose) -> pb::LocalMemberQuery {
    pb::LocalMemberQuery {
        centre: target.to_string(),
        person: Some(pb::PersonKey {
            id_type: pb::IdType::ResidentId as i32,
            id_number: m.id_number.clone(),
            name: m.name.clone(),
        }),
        purpose: purpose as i32,
        message_id: String::new(),
    }
}

pub(crate) fn status_err(s: tonic::Status) -> String {
    let reason = hfx_node::error::reason_of(&s)
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    format!("{:?}{reason}: {}", s.code(), s.message())
}

pub(crate) async fn log_size(zone: &Zone, code: &str) -> anyhow::Result<u64> {
    Ok(zone
        .client(code, Role::Operator)?
        .status()
        .await
        .map_err(|s| anyhow::anyhow!("status of {code}: {}", status_err(s)))?
        .log_size)
}

pub(crate) const QUERY_PURPOSE: pb::Purpose = pb::Purpose::IdentityConfirmation;

pub(crate) const LOG_PEERS: [&str; 3] = ["320700000000000", "321300000000000", "340600000000000"];

pub(crate) const PURPOSES: [pb::Purpose; 5] = [
    pb::Purpose::IdentityConfirmation,
    pb::Purpose::DuplicateAccountCheck,
    pb::Purpose::TransferCheck,
    pb::Purpose::LoanApplication,
    pb::Purpose::LoanCheck,
];
