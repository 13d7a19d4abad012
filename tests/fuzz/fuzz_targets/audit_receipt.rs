//! An offline inclusion receipt (`hfx audit check-receipt`): JSON, then the proof and the
//! signed checkpoint inside it.
#![no_main]

use hfx_tlog::audit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<audit::InclusionReceipt>(data) {
        let _ = audit::check_receipt(&r, None);
        let vkey = r.vkey.clone();
        let _ = audit::check_receipt(&r, Some(&vkey));
    }
});
