//! The console's pages, one module per room. Each module's `routes()` adds its paths; every
//! handler takes a [`crate::ctx::Ctx`] (who asks), checks the page's roles with
//! [`crate::ctx::Ctx::forbid_unless`], calls the local API in-process ([`crate::rpc`]) and draws the
//! answer with [`crate::page::page`]. Forms that carry an id number are POSTed, never put in a
//! URL.

use crate::app::Console;
use axum::Router;
use std::sync::Arc;

pub mod home;
pub mod ops;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().merge(home::routes()).merge(ops::routes())
}
