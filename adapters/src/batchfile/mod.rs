//! The legacy batch core: a core fund system that only exchanges files.
//!
//! # Folder layout (under `adapter.path`)
//! ```text
//! export/   members.dat postings.dat loans.dat control.txt   nightly export, written by the core
//! inbox/    <case>.<op>.req                                   transfer instructions, written by hfx
//! outbox/   <case>.<op>.res                                   results, written by the core's batch run
//! core/     master.db                                         the stand-in core's own data (private)
//! ```
//!
//! # Export files
//! Fixed-width records in GB18030, one record a line (`\n`, a trailing `\r` is tolerated). Widths
//! are **bytes** (a Chinese character takes 2 bytes in GB18030): see [`MEMBER_LAYOUT`],
//! [`POSTING_LAYOUT`], [`LOAN_LAYOUT`]. Text is left-aligned and padded with spaces; integers are
//! zero-padded; money is signed decimal yuan `+000000001234.56` (16 bytes, never floating point);
//! dates are `YYYYMMDD`, months `YYYYMM`, blank when absent. Codes are the standard's (证件类型,
//! 账户状态, 业务类型), sex `1`/`2`, loan status the core's own `1` 正常 `2` 逾期 `3` 结清 `4` 核销.
//!
//! `control.txt` is written last and names every data file with its record count, byte size and
//! SHA-256; while the core exports it removes `control.txt` first. The adapter refuses an export
//! whose counts, sizes or checksums disagree with the control file (and keeps serving the last
//! good export); a single record that does not decode is remembered as a bad record (file + line)
//! and answered as a typed error for that record only, while the others are served.
//!
//! # Instructions and results
//! A write (reserve / release / close-out / credit-in) becomes `inbox/<case>.<op>.req` (written to
//! a temporary name, fsynced and renamed, so the core never sees half a file). The core's batch run
//! ([`BatchRunner`]) applies it to its master data, re-exports, and then writes
//! `outbox/<case>.<op>.res`. The adapter waits (bounded by `adapter.timeout_ms`) for the result;
//! a result already in the outbox is returned again, so every write is idempotent by case id.
//! Request and result files are `KEY|value` lines in GB18030, framed by a header and `END`.

mod adapter;
pub mod format;

pub use adapter::BatchfileCore;
pub use format::{
    BadExportRecord, CONTROL_FILE, LOAN_LAYOUT, LOANS_FILE, Layout, MEMBER_LAYOUT, MEMBERS_FILE,
    POSTING_LAYOUT, POSTINGS_FILE, field_range, record_width,
};
