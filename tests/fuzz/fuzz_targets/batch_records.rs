//! The batch core's nightly export files (adapters batchfile/format.rs): fixed-width GB18030
//! records, split into lines and decoded with each of the three layouts exactly as the adapter
//! loads members.dat, postings.dat and loans.dat.
#![no_main]

use hfx_adapters::batchfile::format::{
    LOAN_LAYOUT, LOANS_FILE, MEMBER_LAYOUT, MEMBERS_FILE, POSTING_LAYOUT, POSTINGS_FILE,
    count_records, entry_of, lines, parse_loan, parse_member, parse_posting, person_key, shaped,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = count_records(data);
    let _ = entry_of(data);
    for (line, bytes) in lines(data) {
        match shaped(MEMBERS_FILE, line, bytes, MEMBER_LAYOUT, "GRZH") {
            Ok(r) => {
                if let (Ok(t), Ok(id)) = (r.ascii("ZJLX"), r.ascii("ZJHM")) {
                    let _ = person_key(t, id);
                }
                let _ = parse_member(&r);
            }
            Err(bad) => {
                let _ = bad.to_error().to_string();
            }
        }
        match shaped(POSTINGS_FILE, line, bytes, POSTING_LAYOUT, "GRZH") {
            Ok(r) => {
                let _ = parse_posting(&r);
            }
            Err(bad) => {
                let _ = bad.record();
            }
        }
        match shaped(LOANS_FILE, line, bytes, LOAN_LAYOUT, "JKHTBH") {
            Ok(r) => {
                let _ = parse_loan(&r);
            }
            Err(bad) => {
                let _ = bad.to_string();
            }
        }
    }
});
