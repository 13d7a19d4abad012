//! One person, one account (DOMAIN.md §4.2, issue 11 item 4): an ECDH private set
//! intersection over Ristretto255, so a centre learns which of its members also hold a live
//! account at a peer without either side handing over its population. docs/duplicates.md
//! has the protocol, its messages and the privacy argument.
//!
//! This module is the pure protocol: the canonical form of an id, hashing it to the group,
//! blinding with a secret scalar and intersecting. The peer side (the responder's sessions)
//! is [`responder`], the requester's sweep and the clerk's check are [`sweep`], and the gRPC
//! faces are [`service`].
//!
//! With `H` the hash to the group, requester secret `a` and responder secret `b`:
//! requester sends `a·H(x)` for its ids `x`; the responder answers `b·(a·H(x))` in the same
//! order and its own `b·H(y)` for its live ids `y`; the requester computes `a·(b·H(y))` and
//! compares: `ab·H(x) = ba·H(y)` exactly when `x = y`.

pub mod responder;
pub mod service;
pub mod sweep;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use hfx_adapters::model::IdType;
use sha2::{Digest, Sha512};
use std::collections::HashSet;

/// The domain separation prefix of the hash to the group: a point of this protocol is never
/// the point of any other use of the same id.
pub const HASH_DOMAIN: &[u8] = b"hfx-dupcheck/v1/hash-to-ristretto255\0";

/// The largest batch of points one message may carry.
pub const MAX_BATCH: usize = 4096;

/// Bytes of one compressed point on the wire.
pub const POINT_LEN: usize = 32;

/// One blinded point on the wire: a compressed Ristretto255 encoding.
pub type Wire = [u8; POINT_LEN];

/// The canonical element of the set for a person: `id_type|id_number`, with the id number
/// already validated and normalised (upper-case; 18 characters for resident ids).
pub fn canonical_id(id_type: IdType, id_number: &str) -> String {
    format!("{}|{}", id_type.code(), id_number)
}

/// The bytes hashed to the group for `canonical` ([`canonical_id`]): the domain prefix, then
/// the canonical id.
pub fn hash_input(canonical: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(HASH_DOMAIN.len() + canonical.len());
    v.extend_from_slice(HASH_DOMAIN);
    v.extend_from_slice(canonical.as_bytes());
    v
}

/// Hash a canonical id to Ristretto255: SHA-512 of [`hash_input`], mapped by
/// `RistrettoPoint::from_uniform_bytes` (the hash-to-group of RFC 9496 §4.3.4).
pub fn hash_to_point(canonical: &str) -> RistrettoPoint {
    let digest: [u8; 64] = Sha512::digest(hash_input(canonical)).into();
    RistrettoPoint::from_uniform_bytes(&digest)
}

/// A point from the wire that is not one this protocol sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPoint {
    #[error("point {index} is {len} bytes, not 32")]
    Length { index: usize, len: usize },
    #[error("point {index} is not a canonical Ristretto255 encoding")]
    NotCanonical { index: usize },
    #[error("point {index} is the identity")]
    Identity { index: usize },
}

/// Decode point `index` of a message: 32 bytes, canonical, not the identity (a blinded hash
/// is never the identity; accepting it would let a peer learn nothing but waste a check).
pub fn decode_point(index: usize, bytes: &[u8]) -> Result<RistrettoPoint, BadPoint> {
    let c = CompressedRistretto::from_slice(bytes).map_err(|_| BadPoint::Length {
        index,
        len: bytes.len(),
    })?;
    let p = c.decompress().ok_or(BadPoint::NotCanonical { index })?;
    if p.is_identity() {
        return Err(BadPoint::Identity { index });
    }
    Ok(p)
}

/// A party's secret scalar for one session. Never logged, never stored: a session's points
/// cannot be linked to another session's without it. Dropped, it is zeroed (dalek's
/// `zeroize` feature).
pub struct Secret(Scalar);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh secret from the operating system's random source (64 bytes reduced mod ℓ, so
    /// the scalar is uniform).
    pub fn random() -> Result<Secret, ring::error::Unspecified> {
        use ring::rand::SecureRandom;
        let mut wide = [0u8; 64];
        ring::rand::SystemRandom::new().fill(&mut wide)?;
        Ok(Secret::from_wide(&wide))
    }

    /// A secret from 64 uniform bytes (tests use fixed ones for test vectors).
    pub fn from_wide(wide: &[u8; 64]) -> Secret {
        let s = Scalar::from_bytes_mod_order_wide(wide);
        // Zero has probability 2^-252; a zero secret would map every point to the identity.
        if s == Scalar::ZERO {
            return Secret(Scalar::ONE);
        }
        Secret(s)
    }

    /// Blind an own id: `secret · H(id)`, compressed.
    pub fn blind_id(&self, canonical: &str) -> Wire {
        (self.0 * hash_to_point(canonical)).compress().to_bytes()
    }

    /// Blind a point already decoded.
    pub fn blind(&self, p: &RistrettoPoint) -> Wire {
        (self.0 * p).compress().to_bytes()
    }

    /// Re-blind a message's points with this secret, in order; the first bad point refuses
    /// the whole message.
    pub fn reblind_all<B: AsRef<[u8]>>(&self, points: &[B]) -> Result<Vec<Wire>, BadPoint> {
        points
            .iter()
            .enumerate()
            .map(|(i, b)| decode_point(i, b.as_ref()).map(|p| self.blind(&p)))
            .collect()
    }
}

/// Run `f` over `items` on every core, in chunks, keeping the order (a batch of 4096 points is
/// about 0.2 s of one core's work).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(cores);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

impl Secret {
    /// [`Secret::blind_id`] of each id, on every core, in order.
    pub fn blind_ids(&self, canonical: &[String]) -> Vec<Wire> {
        par_map(canonical, |c| self.blind_id(c))
    }

    /// [`Secret::reblind_all`] on every core, in order.
    pub fn reblind_all_par<B: AsRef<[u8]> + Sync>(
        &self,
        points: &[B],
    ) -> Result<Vec<Wire>, BadPoint> {
        let out = par_map(points, |b| {
            CompressedRistretto::from_slice(b.as_ref())
                .ok()
                .and_then(|c| c.decompress())
                .filter(|p| !p.is_identity())
                .map(|p| self.blind(&p))
        });
        match out.iter().position(Option::is_none) {
            // Say exactly what was wrong with the first bad point.
            Some(i) => Err(decode_point(i, points[i].as_ref())
                .err()
                .unwrap_or(BadPoint::NotCanonical { index: i })),
            None => Ok(out.into_iter().flatten().collect()),
        }
    }
}

/// The positions of `own_double` (the requester's ids, blinded by both secrets, in the
/// requester's order) that are in `theirs_double` (the responder's ids, blinded by both).
pub fn matches(own_double: &[Wire], theirs_double: &HashSet<Wire>) -> Vec<usize> {
    own_double
        .iter()
        .enumerate()
        .filter(|(_, p)| theirs_double.contains(*p))
        .map(|(i, _)| i)
        .collect()
}

/// The order a responder sends its population in: by a keyed hash of each id under a fresh
/// per-session key, so the position of a point says nothing about the id (sorted ids would
/// tell the requester how many of the peer's members fall between two ids it knows).
pub fn session_order(key: &[u8; 32], canonical: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"hfx-dupcheck/v1/order\0");
    h.update(key);
    h.update(canonical.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests;
