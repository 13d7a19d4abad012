//! (being written)

use crate::app::Console;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
}
