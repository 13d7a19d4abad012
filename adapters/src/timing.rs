//! The deadline every call to a database core system runs under, written once.

use crate::{AdapterError, CheckItem};
use std::future::Future;
use std::time::Duration;

/// Run one adapter call under `limit`; past it the call is [`AdapterError::Unavailable`]
/// ("<kind> core: <what> did not finish within N ms").
pub(crate) async fn timed<T>(
    kind: &str,
    what: &str,
    limit: Duration,
    f: impl Future<Output = Result<T, AdapterError>>,
) -> Result<T, AdapterError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(AdapterError::unavailable(format!(
            "{kind} core: {what} did not finish within {} ms",
            limit.as_millis()
        ))),
    }
}

/// Run the operator self-test under `limit`; past it, one failed connectivity item.
pub(crate) async fn timed_check(
    limit: Duration,
    f: impl Future<Output = Vec<CheckItem>>,
) -> Vec<CheckItem> {
    match tokio::time::timeout(limit, f).await {
        Ok(items) => items,
        Err(_) => vec![CheckItem {
            name: "connectivity".into(),
            ok: false,
            detail: format!("self-test did not finish within {} ms", limit.as_millis()),
        }],
    }
}
