use super::load::Load;
use super::parse_seconds;
use super::scenarios::verify::{build_entries, verify_chunks};
use std::time::Duration;

#[test]
fn percentiles_pick_the_nearest_rank() {
    let load = Load {
        ok_total: 1000,
        ok: 1000,
        errors: 0,
        error_samples: Vec::new(),
        lat_us: (1..=1000).collect(),
        elapsed: Duration::from_secs(2),
    };
    assert_eq!(load.percentile(0.5), 500);
    assert_eq!(load.percentile(0.99), 990);
    assert_eq!(load.percentile(0.999), 999);
    assert_eq!(load.throughput(), 500.0);
}

#[test]
fn seconds_parse() {
    assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
    assert!(parse_seconds("0").is_err());
    assert!(parse_seconds("x").is_err());
}

#[test]
fn verify_computes_the_tree_root() {
    let chunks = build_entries(1001);
    let v = verify_chunks(&chunks);
    assert_eq!(v.entries, 1001);
    let mut tree = hfx_node::log::merkle::Tree::new();
    for (buf, ends) in &chunks {
        let mut start = 0;
        for &end in ends {
            tree.push(hfx_node::log::merkle::leaf_hash(&buf[start..end as usize]));
            start = end as usize;
        }
    }
    assert_eq!(tree.size(), 1001);
    assert_eq!(v.root, tree.root());
}

#[test]
fn start_runs_only_when_named() {
    // Filling its 10,000,000 entries takes minutes: never part of the default run.
    assert!(!super::Scenario::ALL.contains(&super::Scenario::Start));
    assert_eq!(super::Scenario::Start.name(), "start");
}
