//! The batch core's control file (`HFXCTL|1`) and its instruction / result files (`HFXREQ|1`,
//! `HFXRES|1`: `KEY|value` lines in GB18030 and fixed-width `MX|` posting records), as the
//! adapter reads them (adapters batchfile/format.rs).
#![no_main]

use hfx_adapters::batchfile::format::{
    POSTING_LAYOUT, POSTINGS_FILE, REQ_HEADER, RES_HEADER, case_stem, parse_control, parse_kv,
    parse_posting, shaped,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_control(data) {
        let _ = c.files.values().map(|e| e.records).sum::<usize>();
    }
    for header in [REQ_HEADER, RES_HEADER] {
        if let Ok(kv) = parse_kv(header, data) {
            for k in ["JG", "XX", "AJBH", "CZ", "GRZH", "YLAJBH", "ZT"] {
                let _ = kv.get(k);
            }
            for k in ["BJ", "LX", "JE"] {
                if let Ok(v) = kv.get(k) {
                    let _ = hfx_model::money::parse_yuan(v);
                }
            }
            let _ = kv.get("DCSEQ").map(|s| s.parse::<u64>());
            if let Ok(case) = kv.get("AJBH") {
                let _ = case_stem(case);
            }
            for (i, r) in kv.records.iter().enumerate() {
                if let Ok(rec) = shaped(POSTINGS_FILE, i + 1, r, POSTING_LAYOUT, "GRZH") {
                    let _ = parse_posting(&rec);
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = case_stem(s);
    }
});
