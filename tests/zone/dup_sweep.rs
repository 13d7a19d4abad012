//! One person, one account (docs/duplicates.md) on a real three-centre zone: a person seeded
//! with live accounts in two centres (a mover: the old account stays live until a transfer
//! closes it) is found by the clerk's live-account check and by the operator's sweep; the
//! sweep finds exactly the own members that also hold a live account at a peer (computed here
//! from the seed); nothing the responder received or logged carries an id in a form it could
//! reverse; and a sweep broken off, with the requesting node or a responder restarted in
//! between, resumes to the same result. A second test: the responder's policy (purpose, rate)
//! refuses batches, and the sweep backs off a peer over its rate.

use crate::audit::export_of;
use crate::common::{MEMBERS, node_log, zone_with};
use hfx_adapters::model::IdType;
use hfx_certs::Role;
use hfx_node::dupcheck::{canonical_id, hash_input, hash_to_point};
use hfx_proto::v1 as pb;
use hfx_standins::seed::{SeedOptions, generate, mover_index, mover_origin};
use sha2::{Digest, Sha256, Sha512};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

fn opts() -> SeedOptions {
    SeedOptions {
        seed: 1,
        ..Default::default()
    }
}

/// The live (not closed) people of a centre's seeded population: canonical id -> (id, name).
fn live(centre: &str) -> BTreeMap<String, (IdType, String, String)> {
    (0..MEMBERS)
        .map(|i| generate(centre, &opts(), i).member)
        .filter(|m| !m.status.is_closed())
        .map(|m| {
            (
                canonical_id(m.id_type, &m.id_number),
                (m.id_type, m.id_number, m.name),
            )
        })
        .collect()
}

/// A mover seeded at `dest` whose old account at a centre of `zone` is live, inside the
/// seeded population: (origin, id number, name).
fn dual_account_person(dest: &str, zone: &[String]) -> Option<(String, String, String)> {
    (0..MEMBERS / 50 + 1).find_map(|k| {
        let idx = mover_index(dest, &opts(), k)?;
        let (origin, at) = mover_origin(dest, &opts(), idx)?;
        if idx >= MEMBERS || at >= MEMBERS || !zone.contains(&origin) {
            return None;
        }
        let old = generate(&origin, &opts(), at).member;
        let new = generate(dest, &opts(), idx).member;
        assert_eq!(old.id_number, new.id_number, "a mover keeps their id");
        (!old.status.is_closed() && !new.status.is_closed()).then_some((
            origin,
            new.id_number,
            new.name,
        ))
    })
}

fn hfx(args: &[&str]) -> (i32, String) {
    let out = crate::common::hfx()
        .args(args)
        .output()
        .expect("running hfx");
    eprintln!(
        "hfx {}: {:?}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The sweep's JSON result: per own member found, the centres that also hold them.
fn found_of(stdout: &str) -> BTreeMap<String, BTreeSet<String>> {
    let v: serde_json::Value = serde_json::from_str(stdout).expect("JSON result");
    assert_eq!(v["done"], true, "{v}");
    v["found"]
        .as_array()
        .expect("found list")
        .iter()
        .map(|f| {
            let t = IdType::from_code(f["id_type"].as_str().unwrap()).unwrap();
            (
                canonical_id(t, f["id_number"].as_str().unwrap()),
                f["centres"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every form of a person's id a peer could reverse by trying the (small) id space: the id
/// number, the canonical id, their SHA-256 and SHA-512, the same of the hash-to-point input,
/// and the unblinded point itself; raw and as hex.
fn reversible_forms(id_type: IdType, id_number: &str) -> Vec<(String, Vec<u8>)> {
    let canonical = canonical_id(id_type, id_number);
    let input = hash_input(&canonical);
    let mut forms: Vec<(String, Vec<u8>)> = vec![
        ("id number".into(), id_number.as_bytes().to_vec()),
        ("canonical id".into(), canonical.as_bytes().to_vec()),
        (
            "unblinded point".into(),
            hash_to_point(&canonical).compress().to_bytes().to_vec(),
        ),
    ];
    for (what, bytes) in [
        ("id number", id_number.as_bytes().to_vec()),
        ("canonical id", canonical.as_bytes().to_vec()),
        ("hash-to-point input", input),
    ] {
        forms.push((format!("sha256({what})"), Sha256::digest(&bytes).to_vec()));
        forms.push((format!("sha512({what})"), Sha512::digest(&bytes).to_vec()));
    }
    let hexed: Vec<(String, Vec<u8>)> = forms
        .iter()
        .map(|(w, b)| (format!("hex {w}"), hex::encode(b).into_bytes()))
        .collect();
    forms.extend(hexed);
    forms
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_with_two_live_accounts_is_found_by_the_clerk_check_and_the_sweep_privately() {
    let (tmp, mut zone) = zone_with(3, |s| s.log_level = "info".into()).await;
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    // The requester: a centre with a mover whose old account is at another centre here.
    let (b, (origin, id_number, name)) = codes
        .iter()
        .find_map(|c| dual_account_person(c, &codes).map(|p| (c.clone(), p)))
        .expect("a mover with a live old account inside the zone's seeded population");
    let third = codes
        .iter()
        .find(|c| **c != b && **c != origin)
        .unwrap()
        .clone();

    // The clerk's check, from the third centre (where the person would open an account):
    // live at both.
    let clerk = zone.client(&third, Role::Clerk).unwrap();
    let mut dup = pb::duplicates_client::DuplicatesClient::new(clerk.channel());
    let report = dup
        .check_live_account(pb::LiveAccountCheck {
            person: Some(pb::PersonKey {
                id_type: pb::IdType::ResidentId as i32,
                id_number: id_number.clone(),
                name: name.clone(),
            }),
            centres: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let outcome: BTreeMap<String, String> = report
        .answers
        .iter()
        .map(|a| (a.centre.clone(), a.outcome.clone()))
        .collect();
    assert_eq!(
        outcome.get(&b).map(String::as_str),
        Some("live"),
        "{report:?}"
    );
    assert_eq!(
        outcome.get(&origin).map(String::as_str),
        Some("live"),
        "{report:?}"
    );
    assert!(report.live_elsewhere && !report.incomplete, "{report:?}");
    // A person with no account elsewhere: none at both peers, and no live_elsewhere.
    let own_only = live(&third)
        .into_iter()
        .find(|(c, (t, _, _))| {
            *t == IdType::ResidentId && !live(&b).contains_key(c) && !live(&origin).contains_key(c)
        })
        .map(|(_, v)| v)
        .expect("a member of the third centre only");
    let r = dup
        .check_live_account(pb::LiveAccountCheck {
            person: Some(pb::PersonKey {
                id_type: pb::IdType::ResidentId as i32,
                id_number: own_only.1.clone(),
                name: own_only.2.clone(),
            }),
            centres: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.live_elsewhere, "{r:?}");
    assert!(r.answers.iter().all(|a| a.outcome == "none"), "{r:?}");

    // What the sweep must find: own live members of b that are live at each peer, from the seed.
    let own = live(&b);
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for peer in codes.iter().filter(|c| **c != b) {
        let theirs = live(peer);
        for c in own.keys().filter(|c| theirs.contains_key(*c)) {
            expected.entry(c.clone()).or_default().insert(peer.clone());
        }
    }
    let person = canonical_id(IdType::ResidentId, &id_number);
    assert!(
        expected.get(&person).is_some_and(|s| s.contains(&origin)),
        "the mover is one of them"
    );

    let dir = tmp.path().to_str().unwrap().to_string();
    let state = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let whole = state("whole.json");
    let args = |st: &str| -> Vec<String> {
        [
            "zone",
            "duplicates",
            "--dir",
            &dir,
            "--node",
            &b,
            "--batch",
            "16",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--state".to_string(), st.to_string(), "--json".to_string()])
        .collect()
    };
    let run = |extra: &[&str], st: &str| {
        let mut a = args(st);
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        hfx(&a)
    };
    let (code, out) = run(&[], &whole);
    assert_eq!(code, 0, "{out}");
    let found = found_of(&out);
    assert_eq!(
        found, expected,
        "the sweep finds exactly the seeded duplicates"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for p in v["peers"].as_array().unwrap() {
        let centre = p["centre"].as_str().unwrap();
        let n = expected.values().filter(|s| s.contains(centre)).count();
        assert_eq!(p["found"].as_u64(), Some(n as u64), "{p}");
        assert_eq!(p["compared"].as_u64(), Some(own.len() as u64), "{p}");
        assert_eq!(
            p["peer_population"].as_u64(),
            Some(live(centre).len() as u64),
            "{p}"
        );
    }

    // Broken off after a few batches, the requesting node restarted (its sessions are gone:
    // fresh secrets on both sides), then resumed: the same result.
    let parts = state("parts.json");
    let (code, out) = run(&["--max-batches", "7"], &parts);
    assert_eq!(code, 3, "stopped by --max-batches: {out}");
    zone.stop(&b, Duration::from_secs(5)).unwrap();
    zone.spawn(&b).unwrap();
    zone.wait_ready(&b, Duration::from_secs(30)).await.unwrap();
    let (code, out) = run(&["--resume"], &parts);
    assert_eq!(code, 0, "{out}");
    assert_eq!(found_of(&out), expected, "resumed, the same result");
    // Resuming a finished sweep sends nothing more and says the same.
    let (code, again) = run(&["--resume"], &parts);
    assert_eq!((code, found_of(&again)), (0, expected.clone()));
    // Broken off again, this time the responder restarted (the requester still holds its
    // side of the session, the peer does not): the sweep opens a new session and goes on.
    let first_peer = codes.iter().find(|c| **c != b).unwrap().clone();
    let parts2 = state("parts2.json");
    let (code, out) = run(&["--max-batches", "4"], &parts2);
    assert_eq!(code, 3, "{out}");
    zone.stop(&first_peer, Duration::from_secs(5)).unwrap();
    zone.spawn(&first_peer).unwrap();
    zone.wait_ready(&first_peer, Duration::from_secs(30))
        .await
        .unwrap();
    let (code, out) = run(&["--resume"], &parts2);
    assert_eq!(code, 0, "{out}");
    assert_eq!(found_of(&out), expected, "resumed after the peer restarted");
    assert!(
        node_log(&zone, &b).contains("the peer ended the session; opening a new one"),
        "the resumed sweep met the peer's forgotten session"
    );

    // What crossed the wire to the responders: no reversible form of any id b swept.
    for peer in codes.iter().filter(|c| **c != b) {
        let (_, export) = export_of(&zone, peer).await;
        let mut received: Vec<Vec<u8>> = Vec::new();
        for line in &export.entries {
            let f = hfx_tlog::audit::entry_fields(line).expect("entry");
            if f.peer == b && f.msg_type.starts_with("DuplicateExchange/") {
                let h: [u8; 32] = hex::decode(f.payload_sha256).unwrap().try_into().unwrap();
                received.push(export.payloads.get(&h).cloned().flatten().expect("payload"));
            }
        }
        assert!(
            received.len() >= 4,
            "{peer}: the sweep's messages are in its log ({})",
            received.len()
        );
        let log = node_log(&zone, peer);
        for (t, n, _) in own.values() {
            for (what, form) in reversible_forms(*t, n) {
                for (i, p) in received.iter().enumerate() {
                    assert!(
                        !contains(p, &form),
                        "{peer}: message {i} carries the {what}"
                    );
                }
                assert!(
                    !contains(log.as_bytes(), &form),
                    "{peer}: its log carries the {what}"
                );
            }
        }
        // The responder's records say what was asked and how many, about nobody.
        let auditor = zone.client(peer, Role::Auditor).unwrap();
        let ds = auditor.disclosures(1000).await.unwrap();
        let batches: Vec<_> = ds
            .iter()
            .filter(|d| {
                d.peer_centre == b && d.purpose == pb::Purpose::DuplicateAccountCheck as i32
            })
            .filter(|d| d.outcome.starts_with("re-blinded"))
            .collect();
        assert!(!batches.is_empty(), "{peer}: batches recorded");
        for d in batches {
            assert!(
                d.subject_masked.starts_with("duplicate sweep: batch of"),
                "{d:?}"
            );
        }
    }
    let _ = Path::new(&dir);
    // Every batch record is rebuilt from the logs, on both sides.
    let codes: Vec<String> = zone.centres.iter().map(|c| c.code.clone()).collect();
    crate::audit::assert_replay_clean(&zone, &codes).await;
    zone.stop_all();
}

fn shipped_codes() -> Vec<String> {
    hfx_certs::ZoneConfig::parse(hfx_zone::launcher::SHIPPED_ZONE)
        .unwrap()
        .centres
        .iter()
        .map(|c| c.code.clone())
        .collect()
}

/// The responder's policy governs every batch: a peer not allowed the purpose is refused
/// (PURPOSE_NOT_ALLOWED) and one over its rate is answered RESOURCE_EXHAUSTED, which the
/// sweep backs off from and tries again with the same message, until it gives up; each
/// refusal is recorded at the responder, and the sweep's state file is kept for --resume.
#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_is_refused_by_purpose_and_backs_off_a_peer_over_its_rate() {
    let codes = shipped_codes();
    let (a, b, c) = (codes[0].clone(), codes[1].clone(), codes[2].clone());
    let (tmp, mut zone) = zone_with(3, |spec| {
        // b does not let a ask for duplicate checks; c lets it, at one batch a minute.
        spec.policies.insert(
            b.clone(),
            [(a.clone(), vec!["identity_confirmation".into()])].into(),
        );
        spec.rates.insert(
            c.clone(),
            [("duplicate_account_check".to_string(), 1)].into(),
        );
    })
    .await;
    let dir = tmp.path().to_str().unwrap().to_string();
    let st = tmp.path().join("st.json").to_str().unwrap().to_string();
    let sweep = |peer: &str| {
        let out = crate::common::hfx()
            .args([
                "zone",
                "duplicates",
                "--dir",
                &dir,
                "--node",
                &a,
                "--peer",
                peer,
            ])
            .args(["--batch", "16", "--state", &st, "--json"])
            .output()
            .expect("running hfx");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = sweep(&b);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("PURPOSE_NOT_ALLOWED"), "{err}");
    let (code, err) = sweep(&c);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("RATE_LIMITED"), "{err}");
    assert!(err.contains("--resume"), "the place is kept: {err}");
    let refusals = |peer: &str, reason: &str| {
        let peer = peer.to_string();
        let reason = format!("refused: {reason}");
        let zone = &zone;
        let a = a.clone();
        async move {
            zone.client(&peer, Role::Auditor)
                .unwrap()
                .disclosures(1000)
                .await
                .unwrap()
                .into_iter()
                .filter(|d| {
                    d.peer_centre == a
                        && d.direction == "refused"
                        && d.purpose == pb::Purpose::DuplicateAccountCheck as i32
                        && d.outcome == reason
                })
                .count()
        }
    };
    assert_eq!(refusals(&b, "PURPOSE_NOT_ALLOWED").await, 1);
    // The first batch (the session) was admitted; the next was refused on every try.
    assert!(
        refusals(&c, "RATE_LIMITED").await >= 8,
        "the sweep tried again after backing off"
    );
    zone.stop_all();
}
