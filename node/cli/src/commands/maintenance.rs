//! `hfx node maintenance on|off`: the operator takes the own node out of the exchange and
//! back (docs/failover.md). While on, health says NOT_SERVING and peers' calls get UNAVAILABLE
//! with reason MAINTENANCE at once (not a timeout); the local API still answers status.

use super::{Conn, init_cli_logging, status_error};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::process::ExitCode;

pub async fn maintenance(conn: &Conn, on: bool, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let mut op = pb::operator_client::OperatorClient::new(client.channel());
    let s = op
        .set_maintenance(pb::MaintenanceRequest { on })
        .await
        .map_err(status_error)?
        .into_inner();
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": s.centre, "maintenance": s.maintenance, "lease": s.lease})
        );
    } else {
        let centres = super::lang::Centres::load(conn);
        println!("{}", maintenance_text(super::lang::cat(), &centres, &s));
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line `hfx node maintenance on|off` prints: the centre by name, what now happens.
pub(crate) fn maintenance_text(
    cat: &hfx_i18n::Catalogue,
    centres: &super::lang::Centres,
    s: &pb::NodeStatus,
) -> String {
    let centre = centres.short(cat, &s.centre);
    if s.maintenance {
        cat.text("maintenance-on", &[("centre", centre.into())])
    } else {
        cat.text(
            "maintenance-off",
            &[
                ("centre", centre.into()),
                ("lease", s.lease.as_str().into()),
            ],
        )
    }
}
