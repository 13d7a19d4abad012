//! Money conversion at the edge of core systems: they keep decimal(18,2) yuan, hfx keeps
//! integer fen. Never through floating point.

/// Parse "1234.56", "-0.5", "12" (yuan) into fen. At most two decimals.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty()
        || frac.len() > 2
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut fen: i64 = int.parse::<i64>().ok()?.checked_mul(100)?;
    let frac_fen: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    fen = fen.checked_add(frac_fen)?;
    Some(if neg { -fen } else { fen })
}

/// Format fen as yuan with two decimals: 123456 -> "1234.56".
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let a = fen.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_round_trips_without_floats() {
        assert_eq!(parse_yuan("1234.56"), Some(123_456));
        assert_eq!(parse_yuan("0.5"), Some(50));
        assert_eq!(parse_yuan("-3"), Some(-300));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("abc"), None);
        assert_eq!(parse_yuan(""), None);
        assert_eq!(format_yuan(123_456), "1234.56");
        assert_eq!(format_yuan(-5), "-0.05");
        for v in [0, 1, 99, 100, 123_456_789, -42] {
            assert_eq!(parse_yuan(&format_yuan(v)), Some(v));
        }
    }
}
