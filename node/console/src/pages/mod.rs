//! The console's pages, one module per room. Each module's `routes()` adds its paths; every
//! handler takes a [`crate::ctx::Ctx`] (who asks), checks the page's roles with
//! [`crate::ctx::Ctx::forbid_unless`], calls the local API in-process ([`crate::rpc`]) and
//! draws the answer with [`crate::page::page`]. Forms that carry an id number are POSTed,
//! never put in a URL.

use crate::app::Console;
use axum::Router;
use std::sync::Arc;

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
