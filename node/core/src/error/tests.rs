use super::*;
use hfx_adapters::AdapterError;
use sqlx::Connection;
use std::sync::{Arc, Mutex};

/// A real database failure: a query against a table that is not there.
async fn sqlx_failure() -> sqlx::Error {
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::query("SELECT grzh FROM grxx_secret_table")
        .fetch_all(&mut conn)
        .await
        .unwrap_err()
}

/// Log lines written while `f` runs.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let lines = Lines::default();
    let w = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&lines.0.lock().unwrap_or_else(|p| p.into_inner())).into();
    (out, text)
}

/// Everything of a Status a peer receives, as text.
fn seen_by_peer(s: &Status) -> String {
    let mut out = format!("{:?} {} {:?}", s.code(), s.message(), s.details());
    for kv in s.metadata().iter() {
        if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
            out.push_str(&format!(" {k}={}", v.to_str().unwrap_or_default()));
        }
    }
    out
}

#[tokio::test]
async fn a_database_failure_in_the_core_system_reaches_the_peer_as_a_stable_reason_only() {
    let db = sqlx_failure().await;
    let db_text = db.to_string();
    assert!(db_text.contains("no such table"), "{db_text}");
    let adapter = AdapterError::from(db);
    // the database's text is there, kept as the source
    assert!(
        adapter.detail().contains("grxx_secret_table"),
        "{}",
        adapter.detail()
    );
    let (status, log) = logged(|| Status::from(HfxError::from(adapter)));
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(reason_of(&status).as_deref(), Some("CORE_SYSTEM_ERROR"));
    assert_eq!(status.message(), "CORE_SYSTEM_ERROR: core system error");
    let peer = seen_by_peer(&status);
    for secret in ["no such table", "grxx_secret_table", "database", &db_text] {
        assert!(
            !peer.contains(secret),
            "{secret:?} crossed to the peer: {peer}"
        );
    }
    // logged once, where it is handled, with the whole chain
    assert_eq!(log.matches("request failed").count(), 1, "{log}");
    assert!(
        log.contains("CORE_SYSTEM_ERROR")
            && log.contains("core system error: database: error returned from database")
            && log.contains("no such table: grxx_secret_table"),
        "{log}"
    );
}

#[test]
fn an_unreachable_core_system_reaches_the_peer_as_a_stable_reason_only() {
    let adapter = AdapterError::from(sqlx::Error::PoolTimedOut);
    let (status, log) = logged(|| Status::from(HfxError::from(adapter)));
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        reason_of(&status).as_deref(),
        Some("CORE_SYSTEM_UNAVAILABLE")
    );
    let peer = seen_by_peer(&status);
    assert!(!peer.contains("pool timed out"), "{peer}");
    assert!(!peer.contains("database"), "{peer}");
    assert_eq!(log.matches("request failed").count(), 1, "{log}");
    assert!(
        log.contains("core system unreachable: database connection: pool timed out"),
        "{log}"
    );
}

#[test]
fn a_closed_account_is_refused_with_its_own_reason_not_the_generic_precondition() {
    let s = Status::from(HfxError::account_closed("05"));
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&s).as_deref(), Some(REASON_ACCOUNT_CLOSED));
    assert!(
        s.message()
            .starts_with("ACCOUNT_CLOSED: account is closed (status 05)"),
        "{}",
        s.message()
    );
    // The generic precondition keeps its reason for everything else.
    let other = Status::from(HfxError::FailedPrecondition("x".into()));
    assert_eq!(reason_of(&other).as_deref(), Some("FAILED_PRECONDITION"));
}
