use super::*;

fn secret(byte: u8) -> Secret {
    Secret::from_wide(&[byte; 64])
}

const ID: &str = "01|11010519491231002X";

#[test]
fn the_canonical_id_is_type_bar_number() {
    assert_eq!(canonical_id(IdType::ResidentId, "11010519491231002X"), ID);
    assert_eq!(canonical_id(IdType::Passport, "E12345678"), "03|E12345678");
}

/// Fixed-seed test vector: another implementation (any language with ristretto255 and
/// SHA-512) must reproduce these bytes from docs/duplicates.md's description.
#[test]
fn fixed_seed_test_vector() {
    let h = hash_to_point(ID).compress().to_bytes();
    assert_eq!(hex::encode(h), VECTOR_H);
    let a = secret(1);
    let b = secret(2);
    let a_h = a.blind_id(ID);
    assert_eq!(hex::encode(a_h), VECTOR_AH);
    let ba_h = b.reblind_all(&[a_h]).expect("valid point")[0];
    assert_eq!(hex::encode(ba_h), VECTOR_BAH);
    // Commutative: the responder's own blinding, re-blinded by the requester, is the same.
    let b_h = b.blind_id(ID);
    let ab_h = a.reblind_all(&[b_h]).expect("valid point")[0];
    assert_eq!(ab_h, ba_h);
}

// Computed independently with libsodium (crypto_core_ristretto255_from_hash,
// crypto_core_ristretto255_scalar_reduce of 64 bytes 0x01 / 0x02, crypto_scalarmult_ristretto255):
// docs/duplicates.md gives the script.
const VECTOR_H: &str = "da2147c177e46f939e0e28f7f336c5d1dc15011e0259e21cd408b37a98be5758";
const VECTOR_AH: &str = "84449ccb8c04b5baf3cd47d73bf6eb4353ee38629ac1e06f129236664ca5b844";
const VECTOR_BAH: &str = "8ea3ddc01c93a8058edda64353750edc3f8930a4b7dae3badad68f38f842ef70";

#[test]
fn the_intersection_is_found_and_nothing_else() {
    let a = secret(7);
    let b = secret(9);
    let own: Vec<String> = (0..50).map(|i| format!("01|A{i:04}")).collect();
    let theirs: Vec<String> = (40..90).map(|i| format!("01|A{i:04}")).collect();
    // Requester -> responder: a·H(x). Responder -> requester: b·a·H(x) and b·H(y).
    let sent: Vec<Wire> = own.iter().map(|x| a.blind_id(x)).collect();
    let back = b.reblind_all(&sent).expect("valid");
    let their_blinded: Vec<Wire> = theirs.iter().map(|y| b.blind_id(y)).collect();
    let theirs_double: HashSet<Wire> = a
        .reblind_all(&their_blinded)
        .expect("valid")
        .into_iter()
        .collect();
    let found = matches(&back, &theirs_double);
    assert_eq!(found, (40..50).collect::<Vec<_>>());
}

#[test]
fn a_fresh_secret_gives_unlinkable_points() {
    let a1 = Secret::random().expect("rng");
    let a2 = Secret::random().expect("rng");
    assert_ne!(a1.blind_id(ID), a2.blind_id(ID));
    // And a blinded point is not the plain hash.
    assert_ne!(a1.blind_id(ID), hash_to_point(ID).compress().to_bytes());
}

#[test]
fn bad_points_are_refused_naming_the_position() {
    let a = secret(3);
    let good = a.blind_id(ID);
    assert_eq!(
        a.reblind_all(&[&good[..], &good[..5]]).unwrap_err(),
        BadPoint::Length { index: 1, len: 5 }
    );
    assert_eq!(
        a.reblind_all(&[[0u8; 32]]).unwrap_err(),
        BadPoint::Identity { index: 0 }
    );
    // 0xff.. is not a canonical field element encoding.
    assert_eq!(
        a.reblind_all(&[[0xffu8; 32]]).unwrap_err(),
        BadPoint::NotCanonical { index: 0 }
    );
}

#[test]
fn the_session_order_depends_on_the_key() {
    let k1 = [1u8; 32];
    let k2 = [2u8; 32];
    assert_ne!(session_order(&k1, ID), session_order(&k2, ID));
    assert_eq!(session_order(&k1, ID), session_order(&k1, ID));
}

#[test]
fn the_parallel_forms_give_the_same_points_in_order() {
    let a = secret(5);
    let ids: Vec<String> = (0..300).map(|i| format!("01|B{i:05}")).collect();
    let one: Vec<Wire> = ids.iter().map(|c| a.blind_id(c)).collect();
    assert_eq!(a.blind_ids(&ids), one);
    let b = secret(6);
    assert_eq!(
        b.reblind_all_par(&one).expect("valid"),
        b.reblind_all(&one).expect("valid")
    );
    let mut bad = one.clone();
    bad[250] = [0xff; 32];
    assert_eq!(
        b.reblind_all_par(&bad).unwrap_err(),
        BadPoint::NotCanonical { index: 250 }
    );
}
