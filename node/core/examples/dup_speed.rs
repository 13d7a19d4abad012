//! Micro-measure of the duplicate check's arithmetic (docs/duplicates.md, "Cost"): one core,
//! blinding own ids (SHA-512, hash to Ristretto255, scalar multiplication, compression) and
//! re-blinding a peer's points (decompression, multiplication, compression); then the same on
//! every core, as the node does it.
//!
//! `cargo run -p hfx-node --example dup_speed [N]`. The dev profile builds dependencies (the
//! curve arithmetic) at opt-level 2, so its figures are close to a release build's.

use hfx_adapters::model::IdType;
use hfx_node::dupcheck::{Secret, canonical_id};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let ids: Vec<String> = (0..n)
        .map(|i| canonical_id(IdType::ResidentId, &format!("32030219900101{i:04}")))
        .collect();
    let a = Secret::random().expect("random");
    let b = Secret::random().expect("random");
    let t = Instant::now();
    let blinded: Vec<[u8; 32]> = ids.iter().map(|c| a.blind_id(c)).collect();
    let blind_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let back = b.reblind_all(&blinded).expect("valid points");
    let reblind_s = t.elapsed().as_secs_f64();
    assert_eq!(back.len(), n);
    let t = Instant::now();
    let par = a.blind_ids(&ids);
    let blind_all_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let back_par = b.reblind_all_par(&par).expect("valid points");
    let reblind_all_s = t.elapsed().as_secs_f64();
    assert_eq!(back_par, back);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "{{\"n\": {n}, \"one_core\": {{\"blind_per_s\": {:.0}, \"reblind_per_s\": {:.0}}}, \
         \"all_{cores}_cores\": {{\"blind_per_s\": {:.0}, \"reblind_per_s\": {:.0}}}}}",
        n as f64 / blind_s,
        n as f64 / reblind_s,
        n as f64 / blind_all_s,
        n as f64 / reblind_all_s
    );
}
