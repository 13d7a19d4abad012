//! The auditor's tools (DESIGN.md §5): export a node's log, verify an export (roots,
//! signatures, cosignatures, sequence gaps, payload hashes; from a file with
//! [`verify_stream`], in memory bounded by the tree), prove one entry's inclusion,
//! replay disclosures from the log alone and compare them with the store, and reconcile the
//! exports of several centres. Transfer cases are rebuilt from the log too, money and all
//! (`money`): replay compares them with the node's store and core system (`money_check`),
//! reconcile joins both sides of each and places the zone's money in flight
//! (`money_reconcile`).
//!
//! Export format (`hfx-log-export 1`, line oriented so an auditor can read it with any tool):
//! ```text
//! hfx-log-export 1
//! centre <code>
//! origin <checkpoint origin>
//! vkey <the centre's note verifier key>
//! exported_at_ms <ms>
//! entries <N>
//! <entry JSON>            × N   (line i is leaf i; the leaf hash is SHA-256(0x00 ‖ line))
//! checkpoints <K>
//! <base64 signed note>    × K   (ascending size)
//! cosignatures <C>
//! <size> <witness origin> <witness key base64> <base64 signature line>   × C
//! disclosures <D>
//! <disclosure JSON>       × D   (what the store says happened; each record written since
//!                               schema 3 is committed to by a `local` `Disclosure#record`
//!                               entry whose payload is its canonical bytes)
//! payloads <P>
//! <sha256 hex> <base64 payload | ->   × P   ("-": purged under the retention rules)
//! end
//! ```
//!
//! Nothing here touches a database: the node's store reads its tables and writes them out
//! with the `write_*` functions here, so this format is defined in one place.

mod disclosures;
mod export;
mod money;
mod money_check;
mod money_reconcile;
mod prove;
mod reconcile;
mod replay;
mod synth;
mod verify;
mod verify_cause;
mod verify_read;
mod verify_stream;

#[cfg(test)]
mod money_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod verify_stream_tests;
#[cfg(test)]
mod verify_tests;

pub use disclosures::{DisclosureCheck, check_disclosures};
pub use export::{
    COMMIT_DIR, DISCLOSURE_COMMIT_SCHEMA, DISCLOSURE_RECORD, DisclosureRecord, EntryFields, Export,
    ExportHeader, MAGIC, entry_fields, export_centre, parse, stream_entries, write_checkpoint,
    write_cosignature, write_count, write_disclosure, write_end, write_entry, write_header,
    write_payload,
};
pub use money::{CaseLog, Evidence, MoneyCollector, Reported, case_logs, stream_money};
pub use money_check::{CoreAccount, CoreFacts, MoneyFinding, StoreCase, check_core, check_store};
pub use money_reconcile::{InFlight, MoneyBreak, MoneyReport, reconcile_money};
pub use prove::{InclusionReceipt, check_receipt, prove};
pub use reconcile::{Break, ReconcileReport, Reconciler, reconcile};
pub use replay::{ReplayReport, replay};
pub use synth::synthesize;
pub use verify::{VerifyReport, bench_verify, verify, verify_read};
pub use verify_read::{Lines, ReadExport, read_for_verify};
pub use verify_stream::{FileBench, TrustFor, bench_file, parse_stream_only, verify_stream};

use serde::Serialize;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One problem found, with what and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub kind: String,
    /// Entry index or checkpoint size the problem is at.
    pub at: Option<u64>,
    pub detail: String,
}
