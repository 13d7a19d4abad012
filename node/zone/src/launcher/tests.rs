use super::*;
use hfx_node::config::NodeConfig;
use std::collections::BTreeMap;

fn spec_with_policy(dir: &std::path::Path) -> ZoneSpec {
    let mut spec = ZoneSpec::new(dir, 2);
    spec.members_per_centre = 20;
    spec.peer_timeout_ms = 2_500;
    spec.log_level = "hfx_node=debug,info".into();
    let codes: Vec<String> = hfx_certs::ZoneConfig::parse(SHIPPED_ZONE)
        .unwrap()
        .centres
        .iter()
        .map(|c| c.code.clone())
        .collect();
    spec.policies.insert(
        codes[0].clone(),
        BTreeMap::from([(codes[1].clone(), vec!["identity_confirmation".to_string()])]),
    );
    spec
}

#[tokio::test]
async fn a_config_the_launcher_writes_loads_back_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_with_policy(tmp.path());
    let prepared = prepare(&spec, &|_| {}).await.unwrap();
    let zd = hfx_certs::ZoneDir::open(tmp.path());
    for (i, p) in prepared.plans.iter().enumerate() {
        let loaded = NodeConfig::load(&p.config).unwrap();
        // What the launcher would build for this centre, with the adapter it hosts.
        let store = format!("sqlite://{}", p.config.with_file_name("node.db").display());
        let mut expected = node_config(&spec, &zd, p, store, loaded.adapter.clone());
        expected.transfer.bank_url = prepared.hosts.bank_url().map(str::to_string);
        assert_eq!(loaded, expected, "centre {}", p.code);
        assert_eq!(loaded.listen.peer, p.peer_addr);
        assert_eq!(
            loaded.policy.peers.is_empty(),
            i != 0,
            "the spec's policy reaches the first centre only"
        );
        // And written again, it is the same file.
        let again = tmp.path().join(format!("again-{i}.toml"));
        write_node_config(&again, &loaded).unwrap();
        assert_eq!(
            std::fs::read_to_string(&again).unwrap(),
            std::fs::read_to_string(&p.config).unwrap()
        );
    }
}

#[tokio::test]
async fn the_ports_in_the_configs_are_the_held_listeners_own() {
    let tmp = tempfile::tempdir().unwrap();
    let prepared = prepare(&ZoneSpec::new(tmp.path(), 2), &|_| {})
        .await
        .unwrap();
    for p in &prepared.plans {
        let l = &prepared.listeners[&p.code];
        assert_eq!(l.peer.local_addr().unwrap().to_string(), p.peer_addr);
        assert_eq!(l.local.local_addr().unwrap().to_string(), p.local_addr);
        // Still held: nobody else can bind them.
        assert!(std::net::TcpListener::bind(&p.peer_addr).is_err());
    }
    let dir =
        std::fs::read_to_string(hfx_certs::ZoneDir::open(tmp.path()).directory_path()).unwrap();
    for p in &prepared.plans {
        assert!(
            dir.contains(&p.peer_addr),
            "the directory names {}",
            p.peer_addr
        );
    }
}

#[tokio::test]
async fn every_node_pays_out_through_the_zone_bank() {
    use hfx_adapters::bank::{Payout, PayoutOutcome, SettlementBank};
    let tmp = tempfile::tempdir().unwrap();
    let mut prepared = prepare(&ZoneSpec::new(tmp.path(), 2), &|_| {})
        .await
        .unwrap();
    let bank = prepared.hosts.bank().expect("the zone hosts a bank");
    let url = bank.url().to_string();
    assert_eq!(prepared.hosts.bank_url(), Some(url.as_str()));
    for p in &prepared.plans {
        let cfg = NodeConfig::load(&p.config).unwrap();
        assert_eq!(
            cfg.transfer.bank_url.as_deref(),
            Some(url.as_str()),
            "{}",
            p.code
        );
        assert_eq!(
            cfg.transfer.bank_timeout_ms, 3_000,
            "the other settings are the defaults"
        );
    }
    // The URL in the configs reaches the bank the launcher hosts, and its ledger is the zone's.
    let cfg = NodeConfig::load(&prepared.plans[0].config).unwrap();
    let client = hfx_adapters::bank::HttpBank::new(&url, cfg.transfer.bank_timeout()).unwrap();
    let out = client
        .payout(&Payout {
            case_id: "TC-launcher".into(),
            from_centre: prepared.plans[0].code.clone(),
            to_centre: prepared.plans[1].code.clone(),
            amount_fen: 100,
        })
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            PayoutOutcome::Paid {
                amount_fen: 100,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(bank.ledger().await.transit_fen, 100);
    assert!(tmp.path().join("bank").join("ledger.db").exists());
    // Cleaning up stops it.
    prepared.hosts.cleanup().await;
    assert!(prepared.hosts.bank().is_none());
    assert!(
        client
            .status("TC-launcher")
            .await
            .unwrap_err()
            .is_unavailable()
    );
}
