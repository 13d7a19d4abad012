//! Admission of a peer's request by the centre's `[policy]`: which peers may ask which
//! purposes (PERMISSION_DENIED, `PURPOSE_NOT_ALLOWED`) and how often (RESOURCE_EXHAUSTED,
//! `RATE_LIMITED`), per peer and per purpose.
//!
//! Rates are token buckets: a limit of `n` requests per minute lets a peer ask `n` at once
//! and then one every `60/n` seconds. The buckets live in the node's memory, so a restart
//! (or a second process sharing the store) starts them full: a limit is a brake on a peer
//! that asks too much, not an accounting of disclosures (that is the disclosure record).
//!
//! Every refusal here is recorded by the caller as a disclosure with outcome
//! `refused: <reason>`, like any other refusal of a request.
//!
//! Transfer case messages are not rate-limited: the relay re-sends them until they land, so
//! a limit would only delay money in flight; the letter is admitted by purpose alone.

use crate::config::Policy;
use crate::error::HfxError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The stable reason of a request over its peer's rate for its purpose.
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// One peer's bucket for one purpose.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The node's admission state: the policy and the buckets it has filled.
#[derive(Debug, Default)]
pub struct Admission {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl Admission {
    /// Admit one request of `peer` for `purpose` (a policy purpose name) now, or say why not.
    pub fn admit(&self, policy: &Policy, peer: &str, purpose: &str) -> Result<(), HfxError> {
        self.admit_at(policy, peer, purpose, Instant::now())
    }

    fn admit_at(
        &self,
        policy: &Policy,
        peer: &str,
        purpose: &str,
        now: Instant,
    ) -> Result<(), HfxError> {
        if !policy.allows(peer, purpose) {
            return Err(HfxError::PurposeNotAllowed {
                purpose: purpose.into(),
                centre: peer.into(),
            });
        }
        let Some(per_minute) = policy.rate_per_minute(peer, purpose) else {
            return Ok(());
        };
        let capacity = f64::from(per_minute.max(1));
        let refill_per_sec = capacity / 60.0;
        // A poisoned lock only means another request panicked mid-update; the map is still
        // a valid set of buckets.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = buckets
            .entry((peer.to_string(), purpose.to_string()))
            .or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * refill_per_sec).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait_ms = ((1.0 - b.tokens) / refill_per_sec * 1000.0).ceil() as u64;
        Err(HfxError::refused(
            tonic::Code::ResourceExhausted,
            RATE_LIMITED,
            format!(
                "centre {peer} is over its limit of {per_minute} requests per minute for \
                 purpose {purpose}; retry in {wait_ms} ms"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: &str = "320300000000000";
    const B: &str = "320700000000000";

    fn policy(toml_text: &str) -> Policy {
        toml::from_str(toml_text).expect("policy")
    }

    #[test]
    fn a_purpose_the_policy_does_not_list_is_refused() {
        let p = policy("default = [\"loan_check\"]\n");
        let a = Admission::default();
        assert!(a.admit(&p, A, "loan_check").is_ok());
        let e = a.admit(&p, A, "transfer_check").unwrap_err();
        assert_eq!(e.reason(), "PURPOSE_NOT_ALLOWED");
    }

    #[test]
    fn without_a_rate_there_is_no_limit() {
        let p = Policy::default();
        let a = Admission::default();
        for _ in 0..10_000 {
            a.admit(&p, A, "loan_check").expect("no limit");
        }
    }

    #[test]
    fn a_bucket_empties_refills_and_is_per_peer_and_purpose() {
        let p =
            policy("[rates]\nloan_check = 3\n[peer_rates.\"320700000000000\"]\nloan_check = 1\n");
        let a = Admission::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            a.admit_at(&p, A, "loan_check", t0)
                .expect("within the burst");
        }
        let e = a.admit_at(&p, A, "loan_check", t0).unwrap_err();
        assert_eq!(e.reason(), RATE_LIMITED);
        assert_eq!(
            tonic::Status::from(e).code(),
            tonic::Code::ResourceExhausted
        );
        // Another purpose of the same peer has no limit; another peer has its own bucket.
        a.admit_at(&p, A, "transfer_check", t0)
            .expect("unlimited purpose");
        a.admit_at(&p, B, "loan_check", t0).expect("B's own bucket");
        assert!(
            a.admit_at(&p, B, "loan_check", t0).is_err(),
            "B's limit is 1"
        );
        // 3 per minute: one token back after 20 s, not before.
        let later = t0 + Duration::from_secs(19);
        assert!(a.admit_at(&p, A, "loan_check", later).is_err());
        let later = t0 + Duration::from_secs(21);
        a.admit_at(&p, A, "loan_check", later).expect("refilled");
        assert!(a.admit_at(&p, A, "loan_check", later).is_err());
    }
}
