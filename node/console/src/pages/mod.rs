//! The console's pages, one module per room. Each module's `routes()` adds its paths; who may
//! open each route is [`ROLES`], one table, enforced by [`gate`] before any handler (a route
//! not in it is refused to everyone). Every handler takes a [`crate::ctx::Ctx`] (who asks),
//! checks its roles again with [`crate::ctx::Ctx::forbid_unless`], calls the local API
//! in-process ([`crate::rpc`]) and draws the answer with [`crate::page::page`]. Forms that
//! carry an id number are POSTed, never put in a URL.

use crate::app::Console;
use crate::ctx::Ctx;
use axum::Router;
use axum::extract::{FromRequestParts as _, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hfx_certs::Role;
use std::sync::Arc;

use Role::{Auditor, Clerk, Operator};

/// Every route of the console (axum's path pattern) and the roles that may open it. docs/
/// roles.md lists the same rows; tests/zone/roles.rs holds the two together, and
/// tests/zone/console.rs tries every cell on a real node.
pub const ROLES: &[(&str, &[Role])] = &[
    ("/", &[Clerk, Auditor, Operator]),
    ("/lang", &[Clerk, Auditor, Operator]),
    ("/member", &[Clerk]),
    ("/loan-check", &[Clerk]),
    ("/live-check", &[Clerk]),
    ("/transfers", &[Clerk]),
    ("/transfers/new", &[Clerk]),
    ("/transfers/{case_id}", &[Clerk]),
    ("/transfers/{case_id}/cancel", &[Clerk]),
    ("/transfers/{case_id}/resolve", &[Clerk]),
    ("/certificates", &[Clerk]),
    ("/certificates/lookup", &[Clerk]),
    ("/certificates/verify", &[Clerk]),
    ("/certificates/{id}", &[Clerk]),
    ("/certificates/{id}/revoke", &[Clerk]),
    ("/audit", &[Auditor]),
    ("/audit/export", &[Auditor]),
    ("/audit/evidence", &[Auditor]),
    ("/audit/disclosures", &[Auditor]),
    ("/audit/disclosures/csv", &[Auditor]),
    ("/audit/reconcile", &[Auditor]),
    ("/audit/charts", &[Auditor]),
    ("/ops", &[Operator]),
    ("/ops/maintenance", &[Operator]),
];

/// The roles [`ROLES`] gives the route `pattern`; none for a route it does not name.
pub fn roles_of(pattern: &str) -> &'static [Role] {
    ROLES
        .iter()
        .find(|(p, _)| *p == pattern)
        .map_or(&[], |(_, r)| *r)
}

/// Before any handler: the person of the request (from the certificate, [`Ctx`]) must have a
/// role [`ROLES`] gives the matched route; anyone else gets 403, recorded in the node's log.
pub async fn gate(State(console): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let (mut parts, body) = req.into_parts();
    let ctx = match Ctx::from_request_parts(&mut parts, &console).await {
        Ok(ctx) => ctx,
        Err(refused) => return refused,
    };
    if let Some(refused) = ctx.forbid_unless(roles_of(&pattern)) {
        return refused;
    }
    next.run(Request::from_parts(parts, body)).await
}

pub mod audit;
pub mod certificates;
pub mod charts;
pub mod disclosures;
pub mod home;
pub mod live;
pub mod loan;
pub mod member;
pub mod ops;
pub mod reconcile;
pub mod transfers;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .merge(home::routes())
        .merge(member::routes())
        .merge(loan::routes())
        .merge(live::routes())
        .merge(transfers::routes())
        .merge(certificates::routes())
        .merge(audit::routes())
        .merge(disclosures::routes())
        .merge(reconcile::routes())
        .merge(charts::routes())
        .merge(ops::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_table_names_each_route_once_and_grants_someone() {
        let mut seen = std::collections::BTreeSet::new();
        for (path, roles) in ROLES {
            assert!(seen.insert(*path), "{path} twice");
            assert!(path.starts_with('/'), "{path}");
            assert!(!roles.is_empty(), "{path}: nobody may open it");
        }
        assert_eq!(roles_of("/audit/reconcile"), [Auditor]);
        assert!(roles_of("/nope").is_empty());
    }
}
