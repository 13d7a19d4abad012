//! The deadline a loan check's peer works under: the shorter of the `grpc-timeout` header
//! and the request's `remaining_ms` (both the time left when the asker sent it), counted from
//! receipt. The peer stops a little before it ([`Budget::give_up_at`]) so that its refusal
//! (DEADLINE_PASSED) still reaches the asker in time and is recorded here; the gRPC server
//! drops the call at the header's deadline in any case.

use std::time::Duration;
use tokio::time::Instant;

/// The header gRPC carries the time left in.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Parse a `grpc-timeout` value: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The `grpc-timeout` of a request, if it carries a valid one.
pub fn from_metadata(m: &tonic::metadata::MetadataMap) -> Option<Duration> {
    m.get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// The time a peer has for one loan check.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    received: Instant,
    left: Option<Duration>,
}

impl Budget {
    /// From the header's timeout and the request's `remaining_ms` (0: not given).
    pub fn new(received: Instant, header: Option<Duration>, remaining_ms: u32) -> Self {
        let field = (remaining_ms > 0).then(|| Duration::from_millis(u64::from(remaining_ms)));
        let left = match (header, field) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Budget { received, left }
    }

    /// The time the asker gave, if any.
    pub fn left(&self) -> Option<Duration> {
        self.left
    }

    /// When to give up: the deadline less a margin for the refusal to travel back (a tenth
    /// of the time, 10..=200 ms). `None`: the asker set no deadline.
    pub fn give_up_at(&self) -> Option<Instant> {
        let left = self.left?;
        let margin = (left / 10).clamp(Duration::from_millis(10), Duration::from_millis(200));
        Some(self.received + left.saturating_sub(margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_bad_ones_do_not() {
        assert_eq!(
            parse_grpc_timeout("1500m"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("250u"), Some(Duration::from_micros(250)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "12", "123456789m", "-1m", "1.5S", "10x", "１m"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_budget_is_the_shorter_of_header_and_field_less_a_margin() {
        let t0 = Instant::now();
        let b = Budget::new(t0, Some(Duration::from_millis(1000)), 2000);
        assert_eq!(b.left(), Some(Duration::from_millis(1000)));
        assert_eq!(b.give_up_at(), Some(t0 + Duration::from_millis(900)));
        let b = Budget::new(t0, Some(Duration::from_millis(5000)), 400);
        assert_eq!(b.give_up_at(), Some(t0 + Duration::from_millis(360)));
        // Large: the margin is capped; tiny: at least 10 ms, never before receipt.
        let b = Budget::new(t0, None, 60_000);
        assert_eq!(b.give_up_at(), Some(t0 + Duration::from_millis(59_800)));
        let b = Budget::new(t0, Some(Duration::from_millis(5)), 0);
        assert_eq!(b.give_up_at(), Some(t0));
        assert!(Budget::new(t0, None, 0).give_up_at().is_none());
    }
}
