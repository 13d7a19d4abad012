//! The legacy batch core: a core fund system that only exchanges files.
//!
//! # Folder layout (under `adapter.path`)
//! ```text
//! export/   members.dat postings.dat loans.dat control.txt   nightly export, written by the core
//!           delta-<seq>/ members.dat postings.dat loans.dat   delta exports of batch runs (core)
//! index/    export.idx                                        the adapter's index of the export
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
//! # Delta exports
//! A batch run need not re-export the whole centre: it writes `export/delta-<seq>/` with the same
//! three files (same layouts) holding only what changed, fsyncs them, then rewrites `control.txt`
//! (atomically; the base files are not touched) with `SEQ|<seq>` and, after the base's `FILE|`
//! lines, one line per delta file, oldest delta first:
//! ```text
//! DELTA|<seq>|members.dat|<records>|<bytes>|<sha256>
//! ```
//! A delta's `members.dat` holds the whole new record of every account it changes (it replaces
//! the base's, or an earlier delta's, record of that GRZH; a new GRZH is a new member; members are
//! never deleted: a closed account is exported with its status). For every account named in the
//! delta's members.dat or postings.dat, its `postings.dat` holds that account's **complete**
//! posting list (possibly none), replacing the earlier one. Its `loans.dat` holds the records of
//! changed contracts, replacing them by JKHTBH. A full export (control.txt removed first, as
//! above) lists no deltas and removes the `delta-*` folders after writing control.txt; the stand-in
//! core makes one instead of a delta once 32 deltas or 20,000 delta member records pile up
//! (`hfx_standins::batch::MAX_DELTAS`), so the deltas stay small.
//!
//! The adapter verifies a new delta by reading only the delta's files against their `DELTA|`
//! lines; one that disagrees (or is missing) refuses the export as a whole and the last good state
//! (base plus the deltas before it) is served. Deltas are applied in memory on top of the base.
//!
//! # The index
//! The adapter does not hold the export in memory. Per base export it writes `index/export.idx`:
//! a 512-byte header (magic `HFXBIDX1`, version, the base seq, each base file's record count,
//! size, SHA-256 from control.txt and its size and modification time, the section table, and a
//! SHA-256 of the whole file) followed by sections of 24-byte entries `(key: u64, offset: u64,
//! len: u32, line: u32)`, little-endian, sorted by key then line: members by person (FNV-1a of
//! the id type code and id number) and by account, runs of consecutive postings of one account,
//! loans by borrower / co-borrower (the high bit of `len` marks the co-borrower) and by contract,
//! and the places of the bad records. A lookup binary-searches a section with `pread` and reads
//! the records at the offsets found (checking their key: a hash may collide).
//!
//! The index is built in one pass that also verifies the base files against control.txt (an
//! export that disagrees is refused and no index written; progress is logged at info every few
//! seconds), then written to a temporary name, fsynced and renamed. At start (and for each new
//! export) an index whose header matches control.txt's entries for the base and the files'
//! current sizes and times, and whose checksum is right, is reused without reading the export
//! again; any other is logged as stale or corrupt and rebuilt. [`BatchfileCore::index_note`]
//! and the self-test's `index` item say which.
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
mod index;

pub use adapter::BatchfileCore;
pub use format::{
    BadExportRecord, CONTROL_FILE, LOAN_LAYOUT, LOANS_FILE, Layout, MEMBER_LAYOUT, MEMBERS_FILE,
    POSTING_LAYOUT, POSTINGS_FILE, field_range, record_width,
};
