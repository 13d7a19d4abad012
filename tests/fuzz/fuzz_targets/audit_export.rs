//! The auditor's export file (`hfx-log-export 1`): both readers (`parse`, `read_for_verify`)
//! and everything an auditor runs on what they return (verify, replay, disclosures, prove,
//! check_receipt, reconcile), with the export's own key and without.
#![no_main]

use hfx_fuzz::quiet;
use hfx_tlog::audit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = audit::parse(&mut &data[..], &quiet) {
        let _ = audit::verify(&e, None, 1, &quiet);
        let _ = audit::replay(&e);
        let _ = audit::check_disclosures(&e);
        for d in &e.disclosures {
            let _ = audit::DisclosureRecord::from_canonical(&d.canonical_bytes());
        }
        let n = e.entries.len() as u64;
        for index in [0, n / 2, n.saturating_sub(1), n] {
            if let Ok(r) = audit::prove(&e, index) {
                let _ = audit::check_receipt(&r, None);
            }
        }
        let _ = audit::reconcile(std::slice::from_ref(&e), 0);
    }
    if let Ok(r) = audit::read_for_verify(&mut &data[..], &quiet) {
        let _ = audit::verify_read(&r, None, 2, &quiet);
        let vkey = r.export.vkey.clone();
        let _ = audit::verify_read(&r, Some(&vkey), 1, &quiet);
        let mut rec = audit::Reconciler::new([r.export.centre.clone(), String::new()], 0);
        for line in &r.export.entries {
            let _ = audit::entry_fields(line);
            rec.add(&r.export.centre, line);
        }
        let _ = rec.finish();
    }
});
