//! The schema: append-only migrations, one SQLite and one PostgreSQL text per version.
//!
//! `log_entries.entry` holds an entry's exact bytes, or nothing (a zero-length blob) when
//! they are the canonical encoding of the row's other columns, rebuilt on read
//! (`log_rows::entry_of`); rows appended before that hold the bytes in full.

use super::{StoreError, StoreKind};
use sqlx::{AnyPool, Executor};

/// Migrations: (version, SQLite text, PostgreSQL text). Append only; never edit a shipped one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        r#"
CREATE TABLE disclosures (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms BIGINT NOT NULL, direction TEXT NOT NULL,
  peer TEXT NOT NULL, acting_person TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
  outcome TEXT NOT NULL, message_id TEXT NOT NULL, subject_masked TEXT NOT NULL, log_index BIGINT);
CREATE TABLE inbox (
  peer TEXT NOT NULL, message_id TEXT NOT NULL, method TEXT NOT NULL, reply BLOB NOT NULL,
  created_ms BIGINT NOT NULL, PRIMARY KEY (peer, message_id));
CREATE TABLE log_entries (
  idx BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL, peer TEXT NOT NULL, seq BIGINT NOT NULL,
  message_id TEXT NOT NULL, case_id TEXT NOT NULL, msg_type TEXT NOT NULL, leaf_hash BLOB NOT NULL,
  entry BLOB NOT NULL, payload_hash BLOB NOT NULL);
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (hash BLOB PRIMARY KEY, data BLOB, purged_at_ms BIGINT);
CREATE TABLE log_checkpoints (size BIGINT PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
"#,
        r#"
CREATE TABLE disclosures (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, direction TEXT NOT NULL,
  peer TEXT NOT NULL, acting_person TEXT NOT NULL, purpose TEXT NOT NULL, legal_basis TEXT NOT NULL,
  outcome TEXT NOT NULL, message_id TEXT NOT NULL, subject_masked TEXT NOT NULL, log_index BIGINT);
CREATE TABLE inbox (
  peer TEXT NOT NULL, message_id TEXT NOT NULL, method TEXT NOT NULL, reply BYTEA NOT NULL,
  created_ms BIGINT NOT NULL, PRIMARY KEY (peer, message_id));
CREATE TABLE log_entries (
  idx BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL, peer TEXT NOT NULL, seq BIGINT NOT NULL,
  message_id TEXT NOT NULL, case_id TEXT NOT NULL, msg_type TEXT NOT NULL, leaf_hash BYTEA NOT NULL,
  entry BYTEA NOT NULL, payload_hash BYTEA NOT NULL);
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (hash BYTEA PRIMARY KEY, data BYTEA, purged_at_ms BIGINT);
CREATE TABLE log_checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE FUNCTION hfx_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql;
CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
    (
        2,
        r#"
CREATE TABLE log_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, witness_key TEXT NOT NULL, line TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (size, witness));
CREATE TABLE witness_state (centre TEXT PRIMARY KEY, size BIGINT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE witness_seen (centre TEXT NOT NULL, size BIGINT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, reporter TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (centre, size, root));
CREATE TABLE witness_evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms BIGINT NOT NULL, centre TEXT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL, old_note TEXT NOT NULL, new_note TEXT NOT NULL, proof BLOB NOT NULL, reported_by TEXT NOT NULL);
CREATE TRIGGER witness_evidence_no_update BEFORE UPDATE ON witness_evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
CREATE TRIGGER witness_evidence_no_delete BEFORE DELETE ON witness_evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;
"#,
        r#"
CREATE TABLE log_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, witness_key TEXT NOT NULL, line TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (size, witness));
CREATE TABLE witness_state (centre TEXT PRIMARY KEY, size BIGINT NOT NULL, root BYTEA NOT NULL, note TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE witness_seen (centre TEXT NOT NULL, size BIGINT NOT NULL, root BYTEA NOT NULL, note TEXT NOT NULL, reporter TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (centre, size, root));
CREATE TABLE witness_evidence (
  id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, centre TEXT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL, old_note TEXT NOT NULL, new_note TEXT NOT NULL, proof BYTEA NOT NULL, reported_by TEXT NOT NULL);
CREATE TRIGGER witness_evidence_append_only BEFORE UPDATE OR DELETE ON witness_evidence FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
    (
        // Every disclosure from here on is committed to the log (`commit_index`: the leaf
        // committing to it); older rows keep NULL and are reported as written before this
        // version. Disclosures become append-only.
        3,
        r#"
ALTER TABLE disclosures ADD COLUMN commit_index BIGINT;
CREATE TRIGGER disclosures_no_update BEFORE UPDATE ON disclosures BEGIN SELECT RAISE(ABORT, 'disclosure records are append-only'); END;
CREATE TRIGGER disclosures_no_delete BEFORE DELETE ON disclosures BEGIN SELECT RAISE(ABORT, 'disclosure records are append-only'); END;
"#,
        r#"
ALTER TABLE disclosures ADD COLUMN commit_index BIGINT;
CREATE TRIGGER disclosures_append_only BEFORE UPDATE OR DELETE ON disclosures FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
    (
        // Transfer cases (state as JSON, CAS by version, one in-flight case per person and
        // role by a partial unique index), their outbox, and the daily letter sequence.
        4,
        r#"
CREATE TABLE transfer_case (
  case_id TEXT PRIMARY KEY, role TEXT NOT NULL, peer TEXT NOT NULL, letter_no TEXT, status TEXT NOT NULL,
  person_hash TEXT, in_flight BIGINT NOT NULL, is_final BIGINT NOT NULL, version BIGINT NOT NULL,
  state TEXT NOT NULL, stuck_reason TEXT, tombstone TEXT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE UNIQUE INDEX transfer_case_person ON transfer_case (role, person_hash) WHERE in_flight = 1;
CREATE UNIQUE INDEX transfer_case_letter ON transfer_case (letter_no) WHERE role = 'destination';
CREATE INDEX transfer_case_open ON transfer_case (is_final, created_ms);
CREATE TABLE transfer_letter_seq (prefix TEXT NOT NULL, day BIGINT NOT NULL, last BIGINT NOT NULL, PRIMARY KEY (prefix, day));
CREATE TABLE transfer_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, case_id TEXT NOT NULL, peer TEXT NOT NULL, kind TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE, body BLOB NOT NULL, created_ms BIGINT NOT NULL, attempts BIGINT NOT NULL,
  next_attempt_ms BIGINT NOT NULL, claimed_by TEXT NOT NULL, claimed_until_ms BIGINT NOT NULL, done BIGINT NOT NULL, last_error TEXT);
CREATE INDEX transfer_outbox_due ON transfer_outbox (done, case_id, id);
"#,
        r#"
CREATE TABLE transfer_case (
  case_id TEXT PRIMARY KEY, role TEXT NOT NULL, peer TEXT NOT NULL, letter_no TEXT, status TEXT NOT NULL,
  person_hash TEXT, in_flight BIGINT NOT NULL, is_final BIGINT NOT NULL, version BIGINT NOT NULL,
  state TEXT NOT NULL, stuck_reason TEXT, tombstone TEXT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE UNIQUE INDEX transfer_case_person ON transfer_case (role, person_hash) WHERE in_flight = 1;
CREATE UNIQUE INDEX transfer_case_letter ON transfer_case (letter_no) WHERE role = 'destination';
CREATE INDEX transfer_case_open ON transfer_case (is_final, created_ms);
CREATE TABLE transfer_letter_seq (prefix TEXT NOT NULL, day BIGINT NOT NULL, last BIGINT NOT NULL, PRIMARY KEY (prefix, day));
CREATE TABLE transfer_outbox (
  id BIGSERIAL PRIMARY KEY, case_id TEXT NOT NULL, peer TEXT NOT NULL, kind TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE, body BYTEA NOT NULL, created_ms BIGINT NOT NULL, attempts BIGINT NOT NULL,
  next_attempt_ms BIGINT NOT NULL, claimed_by TEXT NOT NULL, claimed_until_ms BIGINT NOT NULL, done BIGINT NOT NULL, last_error TEXT);
CREATE INDEX transfer_outbox_due ON transfer_outbox (done, case_id, id);
"#,
    ),
    (
        // Disclosures name their subject by a keyed hash (so a member's report can find
        // them without the store holding the id), and the store keeps that key.
        5,
        r#"
ALTER TABLE disclosures ADD COLUMN subject_key TEXT NOT NULL DEFAULT '';
CREATE INDEX disclosures_subject ON disclosures (subject_key);
CREATE TABLE node_secret (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"#,
        r#"
ALTER TABLE disclosures ADD COLUMN subject_key TEXT NOT NULL DEFAULT '';
CREATE INDEX disclosures_subject ON disclosures (subject_key);
CREATE TABLE node_secret (name TEXT PRIMARY KEY, value BYTEA NOT NULL);
"#,
    ),
    (
        // Deposit-use certificates (docs/attestation.md): those this centre issued (for their
        // online status and revocation) and those it received as the lending centre.
        6,
        r#"
CREATE TABLE attest_issued (
  cert_id TEXT PRIMARY KEY, peer TEXT NOT NULL, message_id TEXT NOT NULL, id_type TEXT NOT NULL,
  id_number TEXT NOT NULL, account_no TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  cose BLOB NOT NULL, revoked_at BIGINT, revoked_reason TEXT, revoked_detail TEXT);
CREATE TABLE attest_received (
  cert_id TEXT PRIMARY KEY, issuer TEXT NOT NULL, message_id TEXT NOT NULL, subject_key TEXT NOT NULL,
  subject_masked TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, cose BLOB NOT NULL,
  received_ms BIGINT NOT NULL);
CREATE INDEX attest_received_subject ON attest_received (subject_key);
"#,
        r#"
CREATE TABLE attest_issued (
  cert_id TEXT PRIMARY KEY, peer TEXT NOT NULL, message_id TEXT NOT NULL, id_type TEXT NOT NULL,
  id_number TEXT NOT NULL, account_no TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  cose BYTEA NOT NULL, revoked_at BIGINT, revoked_reason TEXT, revoked_detail TEXT);
CREATE TABLE attest_received (
  cert_id TEXT PRIMARY KEY, issuer TEXT NOT NULL, message_id TEXT NOT NULL, subject_key TEXT NOT NULL,
  subject_masked TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, cose BYTEA NOT NULL,
  received_ms BIGINT NOT NULL);
CREATE INDEX attest_received_subject ON attest_received (subject_key);
"#,
    ),
    (
        // The W3C traceparent of the call that made a case (docs/tracing.md), so the relay's
        // sends and the driver's steps join that call's trace. Only trace and span ids; NULL
        // when traces are off and for cases made before this version.
        7,
        r#"
ALTER TABLE transfer_case ADD COLUMN trace_parent TEXT;
"#,
        r#"
ALTER TABLE transfer_case ADD COLUMN trace_parent TEXT;
"#,
    ),
    (
        // The log's write path (issue 14). SQLite: entries keyed by index as the table's rowid
        // (`INTEGER PRIMARY KEY`, so no second B-tree on `idx`), and payloads keyed by the
        // index of their entry instead of by their (random) hash, so an append only touches
        // the right-hand edge of its B-trees. Both stores: full tiles of the Merkle tree
        // (C2SP tlog-tiles, height 8), so a node serves proofs from disk and keeps only the
        // tree's right edge in memory. PostgreSQL keeps its tables (its heap is append-only
        // already, and an upgrade runs as the runtime role, which may not rebuild the owner's
        // tables); only the tiles are new there.
        8,
        r#"
CREATE TABLE log_entries_v8 (
  idx INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL, peer TEXT NOT NULL, seq BIGINT NOT NULL,
  message_id TEXT NOT NULL, case_id TEXT NOT NULL, msg_type TEXT NOT NULL, leaf_hash BLOB NOT NULL,
  entry BLOB NOT NULL, payload_hash BLOB NOT NULL);
INSERT INTO log_entries_v8 (idx, at_ms, dir, peer, seq, message_id, case_id, msg_type, leaf_hash, entry, payload_hash)
  SELECT idx, at_ms, dir, peer, seq, message_id, case_id, msg_type, leaf_hash, entry, payload_hash FROM log_entries ORDER BY idx;
CREATE TABLE log_payloads_v8 (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL, data BLOB, purged_at_ms BIGINT);
INSERT INTO log_payloads_v8 (idx, hash, data, purged_at_ms)
  SELECT e.idx, e.payload_hash, p.data, p.purged_at_ms FROM log_entries e JOIN log_payloads p ON p.hash = e.payload_hash ORDER BY e.idx;
DROP TRIGGER log_entries_no_update;
DROP TRIGGER log_entries_no_delete;
DROP TABLE log_entries;
DROP TABLE log_payloads;
ALTER TABLE log_entries_v8 RENAME TO log_entries;
ALTER TABLE log_payloads_v8 RENAME TO log_payloads;
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries BEGIN SELECT RAISE(ABORT, 'exchange log entries are append-only'); END;
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (level, idx));
CREATE TRIGGER log_tiles_no_update BEFORE UPDATE ON log_tiles BEGIN SELECT RAISE(ABORT, 'log tiles are append-only'); END;
CREATE TRIGGER log_tiles_no_delete BEFORE DELETE ON log_tiles BEGIN SELECT RAISE(ABORT, 'log tiles are append-only'); END;
"#,
        r#"
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BYTEA NOT NULL, PRIMARY KEY (level, idx));
CREATE TRIGGER log_tiles_append_only BEFORE UPDATE OR DELETE ON log_tiles FOR EACH ROW EXECUTE FUNCTION hfx_append_only();
"#,
    ),
    (
        // SQLite: the newest sequence number of each (peer, direction) in a table of its own,
        // which the writer advances in each group commit after checking it is where the
        // batch began (so no number is given twice), instead of the unique index on
        // `(peer, dir, seq)`. That index has a right edge per peer and direction, and each
        // commit rewrote the partly filled leaf page of every one it touched: with ten
        // peers, twenty pages per commit, the largest share of the bytes an append wrote.
        // PostgreSQL keeps its index (its processes may share a store and take turns).
        9,
        r#"
CREATE TABLE log_seqs (peer TEXT NOT NULL, dir TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (peer, dir)) WITHOUT ROWID;
INSERT INTO log_seqs (peer, dir, seq) SELECT peer, dir, MAX(seq) FROM log_entries GROUP BY peer, dir;
DROP INDEX log_entries_seq;
"#,
        r#"
SELECT 1;
"#,
    ),
    (
        // SQLite: the member's report finds a subject's disclosures through runs of the
        // subject index, each the disclosures up to an id sorted by subject key and written
        // once, instead of an index on the (random) key that every disclosure wrote a page
        // of at its commit. The writer writes a run when 4,096 disclosures wait
        // (writer.rs); the report reads the runs and scans the few waiting rows. The rows
        // there already make the first run. PostgreSQL keeps its index.
        10,
        r#"
CREATE TABLE disclosure_subjects (run INTEGER NOT NULL, subject_key TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (run, subject_key, id)) WITHOUT ROWID;
CREATE TABLE disclosure_subject_runs (upto INTEGER PRIMARY KEY);
INSERT INTO disclosure_subjects (run, subject_key, id) SELECT (SELECT MAX(id) FROM disclosures), subject_key, id FROM disclosures ORDER BY subject_key, id;
INSERT INTO disclosure_subject_runs (upto) SELECT MAX(id) FROM disclosures HAVING MAX(id) IS NOT NULL;
DROP INDEX disclosures_subject;
"#,
        r#"
SELECT 1;
"#,
    ),
];

pub(super) async fn migrate(pool: &AnyPool, kind: StoreKind) -> Result<(), StoreError> {
    migrate_to(pool, kind, i64::MAX).await
}

/// Apply the migrations up to and including `upto` (an upgrade test builds an old store so).
pub(super) async fn migrate_to(
    pool: &AnyPool,
    kind: StoreKind,
    upto: i64,
) -> Result<(), StoreError> {
    pool.execute("CREATE TABLE IF NOT EXISTS hfx_schema (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)")
        .await?;
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM hfx_schema")
        .fetch_all(pool)
        .await?;
    refuse_newer(done.iter().copied().max())?;
    for (version, lite, pg) in MIGRATIONS {
        if done.contains(version) || *version > upto {
            continue;
        }
        let mut tx = pool.begin().await?;
        let text = if kind == StoreKind::Sqlite { lite } else { pg };
        sqlx::raw_sql(sqlx::AssertSqlSafe(*text))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO hfx_schema (version, applied_ms) VALUES ($1, $2)")
            .bind(*version)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, store = kind.as_str(), "store migrated");
    }
    Ok(())
}

/// The newest schema version this release knows.
pub(super) fn newest_known() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// A store a newer release has migrated past what this one knows is refused, naming both
/// versions: its rows may be in a form this release would misread (or, at best, refuse as
/// a damaged log).
fn refuse_newer(newest_applied: Option<i64>) -> Result<(), StoreError> {
    match newest_applied {
        Some(found) if found > newest_known() => Err(StoreError::NewerSchema {
            found,
            known: newest_known(),
        }),
        _ => Ok(()),
    }
}

/// [`refuse_newer`] for a store opened without migrating (offline tools); a store with no
/// schema table yet is not newer.
pub(super) async fn check_not_newer(pool: &AnyPool) -> Result<(), StoreError> {
    let newest = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM hfx_schema")
        .fetch_one(pool)
        .await;
    match newest {
        Ok(v) => refuse_newer(v),
        // No schema table: nothing was migrated here (what the caller reads will say what is
        // missing). Anything else is the store's own error.
        Err(sqlx::Error::Database(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
