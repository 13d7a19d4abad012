//! Base45 (RFC 9285): the QR code's alphanumeric mode carries it at 5.5 bits a character,
//! which beats base64 in a QR code. Two bytes become three characters, a last odd byte two.

use thiserror::Error;

/// The 45 characters, in value order (RFC 9285 §4).
const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Base45Error {
    #[error("base45: {0:?} at position {1} is not a base45 character")]
    BadCharacter(char, usize),
    #[error("base45: a trailing single character at position {0} (length must not be 3k+1)")]
    DanglingCharacter(usize),
    #[error("base45: the group at position {0} is larger than it may be")]
    Overflow(usize),
}

/// Encode bytes as base45 text.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(2) * 3);
    for pair in data.chunks(2) {
        let (n, digits) = match pair {
            [a, b] => (u32::from(*a) * 256 + u32::from(*b), 3),
            [a] => (u32::from(*a), 2),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        let mut n = n;
        for _ in 0..digits {
            out.push(char::from(ALPHABET[(n % 45) as usize]));
            n /= 45;
        }
    }
    out
}

fn value(c: u8, at: usize) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|v| v as u32)
        .ok_or(Base45Error::BadCharacter(char::from(c), at))
}

/// Decode base45 text; refuses characters outside the alphabet (lower case too), a length of
/// 3k+1 and groups that overflow (RFC 9285 §4.2).
pub fn decode(text: &str) -> Result<Vec<u8>, Base45Error> {
    let bytes = text.as_bytes();
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !c.is_ascii()) {
        return Err(Base45Error::BadCharacter(c, at));
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for (i, group) in bytes.chunks(3).enumerate() {
        let at = i * 3;
        match group {
            [c, d, e] => {
                let n = value(*c, at)? + value(*d, at + 1)? * 45 + value(*e, at + 2)? * 2025;
                if n > 0xffff {
                    return Err(Base45Error::Overflow(at));
                }
                out.extend_from_slice(&[(n >> 8) as u8, (n & 0xff) as u8]);
            }
            [c, d] => {
                let n = value(*c, at)? + value(*d, at + 1)? * 45;
                if n > 0xff {
                    return Err(Base45Error::Overflow(at));
                }
                out.push(n as u8);
            }
            _ => return Err(Base45Error::DanglingCharacter(at)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of RFC 9285 §4.3 and §4.4.
    #[test]
    fn rfc_9285_vectors() {
        for (plain, coded) in [
            (&b"AB"[..], "BB8"),
            (b"Hello!!", "%69 VD92EX0"),
            (b"base-45", "UJCLQE7W581"),
            (b"ietf!", "QED8WEX0"),
            (b"", ""),
        ] {
            assert_eq!(encode(plain), coded, "{plain:?}");
            assert_eq!(decode(coded).unwrap(), plain, "{coded:?}");
        }
    }

    #[test]
    fn refuses_what_rfc_9285_calls_invalid() {
        // "GGW" is 65536, one more than two bytes hold (RFC 9285 §4.2).
        assert_eq!(decode("GGW"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode(":5"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode("BB8B"), Err(Base45Error::DanglingCharacter(3)));
        assert_eq!(decode("bb8"), Err(Base45Error::BadCharacter('b', 0)));
        assert!(matches!(
            decode("BB8张"),
            Err(Base45Error::BadCharacter('张', 3))
        ));
    }

    #[test]
    fn every_byte_pair_round_trips() {
        let all: Vec<u8> = (0..=255u8).flat_map(|a| [a, a.wrapping_mul(7)]).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(decode(&encode(&all[..5])).unwrap(), &all[..5]);
    }
}
