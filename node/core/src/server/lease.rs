//! The writer lease among the processes of one centre on one PostgreSQL store
//! (docs/failover.md), and what follows from [`crate::serving::Serving`]: gRPC health, and the
//! refusal of peer and clerk calls by a standby or a node in maintenance.
//!
//! The lease is a session-level advisory lock held on a connection of its own: PostgreSQL
//! drops it the moment that session ends, so a holder that dies (kill -9, a lost host) frees
//! it without any timeout of ours, and a standby polling every `lease_poll_ms` takes over.
//! The lease decides who *serves*; the log's safety does not rest on it: every append
//! already takes the store's transaction lock and first absorbs what others appended
//! (crate::store), so even two processes briefly both serving cannot fork the log.

use crate::node::Node;
use crate::store::StoreKind;
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::{Request, Status};

/// The advisory lock key of `centre`'s writer lease: a hash, so it cannot meet the log's
/// append lock (crate::store::writer) or a key of another program on the same server.
pub fn lease_key(centre: &str) -> i64 {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("hfx-writer-lease\n{centre}").as_bytes(),
    );
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    i64::from_be_bytes(b)
}

/// Whether this process takes part in a lease: `[failover] enabled` on a PostgreSQL store.
pub fn failover_on(node: &Node) -> bool {
    node.cfg.failover.enabled && node.store.kind() == StoreKind::Postgres
}

/// This process's part in the lease, for `hfx status`: "only" without failover, else
/// "writer" or "standby".
pub fn role(node: &Node) -> &'static str {
    match (failover_on(node), node.serving.is_writer()) {
        (false, _) => "only",
        (true, true) => "writer",
        (true, false) => "standby",
    }
}

/// Start the background work only the writer does (the transfer relay and driver) now, or,
/// with failover, once this process holds the lease: it starts as a standby (NOT_SERVING)
/// and the lease loop promotes it.
pub fn start(node: Arc<Node>, stop: watch::Receiver<bool>) {
    if !failover_on(&node) {
        if node.cfg.failover.enabled {
            tracing::warn!(
                store = node.store.kind().as_str(),
                "failover.enabled needs a PostgreSQL store; serving as the centre's only process"
            );
        }
        crate::transfer::spawn(node);
        return;
    }
    node.serving.set_writer(false);
    tokio::spawn(lease_loop(node, stop));
}

/// What one poll of the lease found.
enum Poll {
    /// We hold it (just taken or still).
    Held,
    /// Another process holds it.
    Taken,
}

async fn lease_loop(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let key = lease_key(&node.centre);
    let url = node.cfg.store_url();
    let poll = Duration::from_millis(node.cfg.failover.lease_poll_ms.max(50));
    // A check that does not answer in this time counts as a lost connection.
    let patience = (poll * 4).max(Duration::from_secs(2));
    let mut conn: Option<sqlx::PgConnection> = None;
    let mut held = false;
    let mut started = false;
    let mut warned = false;
    tracing::info!(
        centre = %node.centre,
        poll_ms = poll.as_millis() as u64,
        "standby: waiting for the writer lease"
    );
    loop {
        if conn.is_none() {
            match tokio::time::timeout(patience, sqlx::PgConnection::connect(&url)).await {
                Ok(Ok(c)) => {
                    conn = Some(c);
                    warned = false;
                }
                Ok(Err(e)) if !warned => {
                    tracing::warn!(error = %e, "writer lease: cannot reach the store; retrying");
                    warned = true;
                }
                _ => {}
            }
        }
        if let Some(c) = conn.as_mut() {
            match tokio::time::timeout(patience, check(c, key, held)).await {
                Ok(Ok(Poll::Held)) if !held => {
                    held = true;
                    take_over(&node, &mut started).await;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    lost(&node, &mut held, &format!("{e}"));
                    conn = None;
                }
                Err(_) => {
                    lost(&node, &mut held, "the lease connection did not answer");
                    conn = None;
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(poll) => {}
        }
    }
    // Shutting down: refuse new peer calls first (callers go to the next endpoint), then
    // give the lease up so a standby takes over while our in-flight calls finish.
    node.serving.set_writer(false);
    if let Some(mut c) = conn {
        if held {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut c)
                .await;
            tracing::info!(centre = %node.centre, "writer lease released");
        }
        let _ = c.close().await;
    }
}

/// Take the lease if free; when held, check the session that holds it is still alive.
async fn check(c: &mut sqlx::PgConnection, key: i64, held: bool) -> Result<Poll, sqlx::Error> {
    use sqlx::Row;
    if held {
        sqlx::query("SELECT 1").execute(&mut *c).await?;
        return Ok(Poll::Held);
    }
    let row = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
        .bind(key)
        .fetch_one(&mut *c)
        .await?;
    Ok(if row.try_get::<bool, _>("got")? {
        Poll::Held
    } else {
        Poll::Taken
    })
}

/// Now the writer: take in what the last holder appended, then serve and resume its work.
async fn take_over(node: &Arc<Node>, started: &mut bool) {
    let before = node.store.log().lock().await.size();
    // An empty write: the writer takes the store's append lock and absorbs every entry
    // appended since this process last looked, so the log state is the store's.
    if let Err(e) = node.store.write(Vec::new()).await {
        tracing::warn!(error = %e, "taking over: the log could not be read; the first write will");
    }
    let size = node.store.log().lock().await.size();
    node.serving.set_writer(true);
    if !*started {
        crate::transfer::spawn(node.clone());
        *started = true;
    }
    tracing::info!(
        centre = %node.centre,
        log_size = size,
        absorbed = size.saturating_sub(before),
        "writer lease acquired: serving"
    );
}

fn lost(node: &Node, held: &mut bool, why: &str) {
    if *held {
        tracing::error!(centre = %node.centre, error = why, "writer lease lost: not serving");
        node.serving.set_writer(false);
        *held = false;
    } else {
        tracing::debug!(error = why, "writer lease connection failed");
    }
}

/// gRPC health follows [`crate::serving::Serving`]: SERVING for the whole server ("") and
/// every hfx service while this process serves, NOT_SERVING otherwise.
pub fn drive_health(node: Arc<Node>, reporter: tonic_health::server::HealthReporter) {
    use tonic_health::ServingStatus;
    tokio::spawn(async move {
        let mut rx = node.serving.subscribe();
        loop {
            let status = if node.serving.serves() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for svc in HEALTH_NAMES {
                reporter.set_service_status(svc, status).await;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The names health reports on: the server as a whole and each hfx service.
const HEALTH_NAMES: [&str; 10] = [
    "",
    "hfx.v1.MemberExchange",
    "hfx.v1.TransferExchange",
    "hfx.v1.VerificationExchange",
    "hfx.v1.DuplicateExchange",
    "hfx.v1.LogExchange",
    "hfx.v1.Clerk",
    "hfx.v1.Audit",
    "hfx.v1.Operator",
    "hfx.v1.Duplicates",
];

/// The peer API's interceptor behind `inner` (authentication): an authenticated peer's call
/// to a standby or a node in maintenance is refused UNAVAILABLE with its reason.
pub fn peer_gate(
    node: Arc<Node>,
    mut inner: impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let req = inner(req)?;
        match node.serving.refusal() {
            Some(e) => Err(Status::from(e)),
            None => Ok(req),
        }
    }
}

/// The local API's interceptor behind `inner` (authentication and role check): clerks'
/// calls (they reach peers and write the log) are refused by a standby or in maintenance;
/// auditors' and operators' calls (status, maintenance, export) are always answered.
pub fn local_gate(
    node: Arc<Node>,
    mut inner: impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        let req = inner(req)?;
        let method = req
            .extensions()
            .get::<crate::auth::Grant>()
            .map(|g| g.method)
            .unwrap_or("");
        let clerks = method.starts_with("/hfx.v1.Clerk/")
            || method.starts_with("/hfx.v1.Duplicates/CheckLiveAccount");
        match node.serving.refusal() {
            Some(e) if clerks => Err(Status::from(e)),
            _ => Ok(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lease_key;

    #[test]
    fn lease_keys_differ_by_centre_and_from_the_log_lock() {
        let a = lease_key("320300000000000");
        assert_eq!(a, lease_key("320300000000000"));
        assert_ne!(a, lease_key("320700000000000"));
        assert_ne!(a, 0x6866_786c_6f67);
    }
}
