//! Identifier checks and masking.
//!
//! Every identifier that enters the exchange from a person or from another system passes through
//! one of the `validate_*` functions here (MLPS 2.0: input is validated). They trim, normalise case
//! and return the canonical form, or an [`IdError`] that names the field and says exactly what is
//! wrong, so an operator can fix the row without guessing.
//!
//! - Resident ids follow GB 11643-1999: 6-digit address code (never rejected: old codes stay valid
//!   on old cards), 8-digit birth date, 3-digit sequence (odd = male) and an ISO 7064 MOD 11-2 check
//!   character. Legacy 15-digit ids are upgraded, not dropped.
//! - Unified social credit codes follow GB 32100-2015 (MOD 31 check over a 31-character alphabet).
//! - The `mask_*` functions are for logs and screens (PIPL de-identification): they never reveal
//!   more than the domain brief allows, and reveal nothing at all for strings too short to mask.

use chrono::NaiveDate;

use crate::model::{IdType, Sex};

/// A rejected identifier. The message is `"{field}: {reason}"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl IdError {
    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            IdError::Invalid { field, .. } => field,
        }
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &str {
        match self {
            IdError::Invalid { reason, .. } => reason,
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> IdError {
    IdError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Resident id (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RESIDENT_CHECK: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character of the first 17 digits of a resident id, or `None` when
/// `first17` is not exactly 17 ASCII digits.
pub fn resident_id_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (b, w) in bytes.iter().zip(RESIDENT_WEIGHTS) {
        if !b.is_ascii_digit() {
            return None;
        }
        sum += u32::from(b - b'0') * w;
    }
    Some(char::from(RESIDENT_CHECK[(sum % 11) as usize]))
}

/// Upgrade a legacy 15-digit resident id to 18 characters: insert "19" before the 6-digit birth
/// date YYMMDD and append the check character. `None` unless `s` (trimmed) is exactly 15 ASCII
/// digits. The birth date is not checked here; [`validate_resident_id`] does that.
pub fn upgrade_15_to_18(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() != 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = String::with_capacity(18);
    out.push_str(&s[..6]);
    out.push_str("19");
    out.push_str(&s[6..]);
    let check = resident_id_check_char(&out)?;
    out.push(check);
    Some(out)
}

/// Validate a resident id and return its canonical form: 18 characters, check character upper
/// case. Accepts surrounding whitespace, a lower-case `x`, and legacy 15-digit ids (upgraded).
/// The birth date must be a real date between 1900-01-01 and today; the address code is not
/// checked (old codes stay valid).
pub fn validate_resident_id(field: &str, s: &str) -> Result<String, IdError> {
    validate_resident_id_on(field, s, chrono::Local::now().date_naive())
}

fn validate_resident_id_on(field: &str, s: &str, today: NaiveDate) -> Result<String, IdError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    let n = t.chars().count();
    if n == 15 {
        if let Some((pos, c)) = t.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(invalid(
                field,
                format!(
                    "legacy 15-digit id must be all digits, got '{c}' at position {}",
                    pos + 1
                ),
            ));
        }
        let Some(upgraded) = upgrade_15_to_18(t) else {
            return Err(invalid(field, "legacy 15-digit id could not be upgraded"));
        };
        return check_resident_18(field, &upgraded, today);
    }
    if n != 18 {
        return Err(invalid(
            field,
            format!("must be 18 characters (or a legacy 15-digit id), got {n}"),
        ));
    }
    let upper = t.to_ascii_uppercase();
    check_resident_18(field, &upper, today)
}

/// `id` has 18 chars, upper-cased.
fn check_resident_18(field: &str, id: &str, today: NaiveDate) -> Result<String, IdError> {
    for (pos, c) in id.chars().enumerate() {
        if pos < 17 && !c.is_ascii_digit() {
            return Err(invalid(
                field,
                format!("character {} must be a digit, got '{c}'", pos + 1),
            ));
        }
        if pos == 17 && !(c.is_ascii_digit() || c == 'X') {
            return Err(invalid(
                field,
                format!("check character must be a digit or X, got '{c}'"),
            ));
        }
    }
    // All 18 chars are ASCII from here on, so byte slicing is safe.
    let date_str = &id[6..14];
    let date = parse_yyyymmdd(date_str)
        .ok_or_else(|| invalid(field, format!("birth date {date_str} is not a real date")))?;
    if date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err(invalid(
            field,
            format!("birth date {date_str} is before 1900"),
        ));
    }
    if date > today {
        return Err(invalid(
            field,
            format!("birth date {date_str} is in the future"),
        ));
    }
    let expected = resident_id_check_char(&id[..17])
        .ok_or_else(|| invalid(field, "first 17 characters must be digits"))?;
    let got = id[17..].chars().next().unwrap_or(' ');
    if got != expected {
        return Err(invalid(
            field,
            format!("check character is {got}, expected {expected}"),
        ));
    }
    Ok(id.to_string())
}

fn parse_yyyymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[..4].parse().ok()?;
    let m: u32 = s[4..6].parse().ok()?;
    let d: u32 = s[6..].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The birth date encoded in an 18-character resident id (characters 7–14), if it is a real date.
/// The check character is not verified.
pub fn birth_date_of(id18: &str) -> Option<NaiveDate> {
    let id = id18.trim();
    if id.len() != 18 || !id.is_ascii() {
        return None;
    }
    parse_yyyymmdd(&id[6..14])
}

/// The sex encoded in an 18-character resident id: the 17th character odd = male, even = female.
pub fn sex_of(id18: &str) -> Option<Sex> {
    let id = id18.trim();
    if id.len() != 18 || !id.is_ascii() {
        return None;
    }
    let d = id.as_bytes()[16];
    if !d.is_ascii_digit() {
        return None;
    }
    Some(if (d - b'0') % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    })
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015)
// ---------------------------------------------------------------------------------------------

/// The 31 characters a unified social credit code may use (no I, O, S, V, Z).
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: char) -> Option<u32> {
    let c = c.to_ascii_uppercase();
    USCC_ALPHABET.find(c).map(|i| i as u32)
}

/// The GB 32100-2015 check character of the first 17 characters of a unified social credit code,
/// or `None` if `first17` is not 17 characters of the alphabet (lower case accepted).
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let mut sum = 0u32;
    let mut n = 0usize;
    for c in first17.chars() {
        if n >= 17 {
            return None;
        }
        sum += uscc_value(c)? * USCC_WEIGHTS[n];
        n += 1;
    }
    if n != 17 {
        return None;
    }
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET.chars().nth(check as usize)
}

/// Validate a unified social credit code and return it upper-cased and trimmed.
pub fn validate_uscc(field: &str, s: &str) -> Result<String, IdError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    let n = t.chars().count();
    if n != 18 {
        return Err(invalid(field, format!("must be 18 characters, got {n}")));
    }
    let upper = t.to_ascii_uppercase();
    for (pos, c) in upper.chars().enumerate() {
        if uscc_value(c).is_none() {
            return Err(invalid(
                field,
                format!(
                    "character {} '{c}' is not in the GB 32100 alphabet {USCC_ALPHABET}",
                    pos + 1
                ),
            ));
        }
    }
    // All ASCII from here on.
    let expected = uscc_check_char(&upper[..17]).ok_or_else(|| {
        invalid(
            field,
            "first 17 characters are not in the GB 32100 alphabet",
        )
    })?;
    let got = upper[17..].chars().next().unwrap_or(' ');
    if got != expected {
        return Err(invalid(
            field,
            format!("check character is {got}, expected {expected}"),
        ));
    }
    Ok(upper)
}

// ---------------------------------------------------------------------------------------------
// Other identifiers
// ---------------------------------------------------------------------------------------------

/// Validate a person's id number for its id type. Resident ids go through
/// [`validate_resident_id`]; other types (passport etc.) must be 1..=32 ASCII letters, digits or
/// '-', after trimming (case is kept).
pub fn validate_person_id(field: &str, id_type: IdType, s: &str) -> Result<String, IdError> {
    if id_type == IdType::ResidentId {
        return validate_resident_id(field, s);
    }
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    let n = t.chars().count();
    if n > 32 {
        return Err(invalid(
            field,
            format!("must be at most 32 characters, got {n}"),
        ));
    }
    if let Some((pos, c)) = t
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(invalid(
            field,
            format!(
                "character {} '{c}' is not allowed (ASCII letters, digits and '-' only)",
                pos + 1
            ),
        ));
    }
    Ok(t.to_string())
}

/// Validate a fund centre code: exactly 15 ASCII digits (after trimming).
pub fn validate_centre_code(field: &str, s: &str) -> Result<String, IdError> {
    let t = s.trim();
    if let Some((pos, c)) = t.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(invalid(
            field,
            format!("must be digits only, got '{c}' at position {}", pos + 1),
        ));
    }
    let n = t.len();
    if n != 15 {
        return Err(invalid(field, format!("must be 15 digits, got {n}")));
    }
    Ok(t.to_string())
}

/// Validate a person's name: trimmed, 1..=30 characters, no control characters.
pub fn validate_name(field: &str, s: &str) -> Result<String, IdError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    let n = t.chars().count();
    if n > 30 {
        return Err(invalid(
            field,
            format!("must be at most 30 characters, got {n}"),
        ));
    }
    if let Some((pos, c)) = t.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(invalid(
            field,
            format!(
                "contains a control character U+{:04X} at position {}",
                c as u32,
                pos + 1
            ),
        ));
    }
    Ok(t.to_string())
}

// ---------------------------------------------------------------------------------------------
// Masking
// ---------------------------------------------------------------------------------------------

/// Mask a name for logs and screens: the first character, then one `*` per remaining character
/// (张三丰 → 张**, 张三 → 张*). A one-character name is fully starred.
pub fn mask_name(s: &str) -> String {
    let t = s.trim();
    let n = t.chars().count();
    match t.chars().next() {
        None => String::new(),
        Some(_) if n == 1 => "*".to_string(),
        Some(first) => {
            let mut out = String::with_capacity(first.len_utf8() + n - 1);
            out.push(first);
            out.extend(std::iter::repeat_n('*', n - 1));
            out
        }
    }
}

/// Mask an id number: first 6 + `********` + last 4. Strings shorter than 15 characters (where
/// that would hide fewer than 5 characters) are fully starred, one `*` per character.
pub fn mask_id(s: &str) -> String {
    keep_ends(s.trim(), 6, 4, 8, 15)
}

/// Mask a phone number: first 3 + `****` + last 4. Strings shorter than 11 characters are fully
/// starred, one `*` per character.
pub fn mask_phone(s: &str) -> String {
    keep_ends(s.trim(), 3, 4, 4, 11)
}

fn keep_ends(t: &str, head: usize, tail: usize, stars: usize, min_len: usize) -> String {
    let chars: Vec<char> = t.chars().collect();
    let n = chars.len();
    if n < min_len {
        return "*".repeat(n);
    }
    let mut out = String::with_capacity(head + stars + tail);
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', stars));
    out.extend(&chars[n - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
    }

    fn reason(r: Result<String, IdError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got Ok({v})"),
            Err(e) => e.reason().to_string(),
        }
    }

    #[test]
    fn resident_id_vectors() {
        for id in [
            "11010519491231002X",
            "360426199101010071",
            "120103198806018241",
        ] {
            assert_eq!(validate_resident_id("zjhm", id).unwrap(), id);
        }
        assert_eq!(
            validate_resident_id("zjhm", " 11010519491231002x ").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(resident_id_check_char("11010519491231002"), Some('X'));
        assert_eq!(resident_id_check_char("36042619910101007"), Some('1'));
        assert_eq!(resident_id_check_char("1101051949123100"), None);
        assert_eq!(resident_id_check_char("1101051949123100A"), None);
    }

    #[test]
    fn resident_id_rejections_name_the_field_and_the_problem() {
        let e = validate_resident_id("zjhm", "360426199101010072").unwrap_err();
        assert_eq!(e.field(), "zjhm");
        assert_eq!(e.reason(), "check character is 2, expected 1");
        assert_eq!(e.to_string(), "zjhm: check character is 2, expected 1");

        // Impossible birth date, even with a correctly computed check character.
        let body = "36042619910231007";
        let id = format!("{body}{}", resident_id_check_char(body).unwrap());
        assert_eq!(
            reason(validate_resident_id("zjhm", &id)),
            "birth date 19910231 is not a real date"
        );

        let body = "36042618991231007";
        let id = format!("{body}{}", resident_id_check_char(body).unwrap());
        assert_eq!(
            reason(validate_resident_id("zjhm", &id)),
            "birth date 18991231 is before 1900"
        );

        let body = "36042620991231007";
        let id = format!("{body}{}", resident_id_check_char(body).unwrap());
        assert_eq!(
            reason(validate_resident_id_on("zjhm", &id, today())),
            "birth date 20991231 is in the future"
        );

        assert_eq!(
            reason(validate_resident_id("zjhm", "360426199101")),
            "must be 18 characters (or a legacy 15-digit id), got 12"
        );
        assert_eq!(reason(validate_resident_id("zjhm", "   ")), "is empty");
        assert_eq!(
            reason(validate_resident_id("zjhm", "3604261991010100A1")),
            "character 17 must be a digit, got 'A'"
        );
        assert_eq!(
            reason(validate_resident_id("zjhm", "36042619910101007Y")),
            "check character must be a digit or X, got 'Y'"
        );
        assert_eq!(
            reason(validate_resident_id("zjhm", "36042691010100A")),
            "legacy 15-digit id must be all digits, got 'A' at position 15"
        );
        // Multi-byte input of the right length must not panic.
        assert!(validate_resident_id("zjhm", "三六〇四二六一九九一〇一〇一〇〇七一").is_err());
    }

    #[test]
    fn legacy_15_digit_ids_are_upgraded() {
        // 360426 910101 007 -> 360426 19910101 007 + check
        assert_eq!(
            upgrade_15_to_18("360426910101007").as_deref(),
            Some("360426199101010071")
        );
        assert_eq!(
            validate_resident_id("zjhm", "360426910101007").unwrap(),
            "360426199101010071"
        );
        assert_eq!(upgrade_15_to_18("36042691010100"), None);
        assert_eq!(upgrade_15_to_18("36042691010100X"), None);
        assert_eq!(
            reason(validate_resident_id("zjhm", "360426910231007")),
            "birth date 19910231 is not a real date"
        );
    }

    #[test]
    fn birth_date_and_sex() {
        assert_eq!(
            birth_date_of("11010519491231002X"),
            NaiveDate::from_ymd_opt(1949, 12, 31)
        );
        assert_eq!(sex_of("11010519491231002X"), Some(Sex::Female));
        assert_eq!(sex_of("360426199101010071"), Some(Sex::Male));
        assert_eq!(sex_of("120103198806018241"), Some(Sex::Female));
        assert_eq!(birth_date_of("1201031988060182"), None);
        assert_eq!(sex_of("short"), None);
    }

    #[test]
    fn uscc_vectors() {
        for code in [
            "91110000101623741K",
            "911101066976941872",
            "91110108551385082Q",
        ] {
            assert_eq!(validate_uscc("tyshxydm", code).unwrap(), code);
            assert_eq!(uscc_check_char(&code[..17]), code.chars().last());
        }
        assert_eq!(
            validate_uscc("tyshxydm", " 91110000101623741k ").unwrap(),
            "91110000101623741K"
        );
        assert_eq!(
            reason(validate_uscc("tyshxydm", "91110000101623741L")),
            "check character is L, expected K"
        );
        assert_eq!(
            reason(validate_uscc("tyshxydm", "91110000101623751K")),
            "check character is K, expected L"
        );
        assert_eq!(
            reason(validate_uscc("tyshxydm", "9111000010162374")),
            "must be 18 characters, got 16"
        );
        let r = reason(validate_uscc("tyshxydm", "9111000010162374IK"));
        assert!(
            r.starts_with("character 17 'I' is not in the GB 32100 alphabet"),
            "{r}"
        );
        assert_eq!(uscc_check_char("9111000010162374"), None);
        assert_eq!(uscc_check_char("911100001016237411"), None);
    }

    #[test]
    fn other_identifiers() {
        assert_eq!(
            validate_person_id("zjhm", IdType::Passport, " E12345678 ").unwrap(),
            "E12345678"
        );
        assert_eq!(
            validate_person_id("zjhm", IdType::ResidentId, "11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert!(validate_person_id("zjhm", IdType::ResidentId, "E12345678").is_err());
        assert_eq!(
            reason(validate_person_id("zjhm", IdType::Other, "")),
            "is empty"
        );
        assert_eq!(
            reason(validate_person_id("zjhm", IdType::Passport, "E1234 5678")),
            "character 6 ' ' is not allowed (ASCII letters, digits and '-' only)"
        );
        assert_eq!(
            reason(validate_person_id(
                "zjhm",
                IdType::OfficerId,
                &"1".repeat(33)
            )),
            "must be at most 32 characters, got 33"
        );

        assert_eq!(
            validate_centre_code("centre", "320300000000000").unwrap(),
            "320300000000000"
        );
        assert_eq!(
            reason(validate_centre_code("centre", "3203000000000")),
            "must be 15 digits, got 13"
        );
        assert_eq!(
            reason(validate_centre_code("centre", "32030000000000A")),
            "must be digits only, got 'A' at position 15"
        );

        assert_eq!(validate_name("xingming", " 张三 ").unwrap(), "张三");
        assert_eq!(
            validate_name("xingming", "阿卜杜·热合曼").unwrap(),
            "阿卜杜·热合曼"
        );
        assert_eq!(reason(validate_name("xingming", " ")), "is empty");
        assert_eq!(
            reason(validate_name("xingming", &"张".repeat(31))),
            "must be at most 30 characters, got 31"
        );
        assert_eq!(
            reason(validate_name("xingming", "张\u{0}三")),
            "contains a control character U+0000 at position 2"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_id("360426910101007"), "360426********1007");
        assert_eq!(mask_id("E12345678"), "*********");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
    }

    fn valid_date() -> impl Strategy<Value = NaiveDate> {
        let lo = NaiveDate::from_ymd_opt(1900, 1, 1)
            .unwrap()
            .num_days_from_ce();
        let hi = today().num_days_from_ce();
        (lo..=hi).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap())
    }

    fn valid_resident_id() -> impl Strategy<Value = String> {
        ("[0-9]{6}", valid_date(), "[0-9]{3}").prop_map(|(region, date, seq)| {
            let body = format!("{region}{}{seq}", date.format("%Y%m%d"));
            let check = resident_id_check_char(&body).unwrap();
            format!("{body}{check}")
        })
    }

    fn valid_uscc() -> impl Strategy<Value = String> {
        "[0-9A-HJ-NP-RTUWXY]{17}".prop_map(|body| {
            let check = uscc_check_char(&body).unwrap();
            format!("{body}{check}")
        })
    }

    proptest! {
        #[test]
        fn computed_resident_ids_validate(id in valid_resident_id()) {
            prop_assert_eq!(validate_resident_id_on("zjhm", &id, today()), Ok(id.clone()));
            prop_assert_eq!(validate_resident_id_on("zjhm", &id.to_ascii_lowercase(), today()), Ok(id));
        }

        #[test]
        fn any_single_change_breaks_a_resident_id(
            id in valid_resident_id(),
            pos in 0usize..18,
            repl in prop::sample::select("0123456789X".chars().collect::<Vec<_>>()),
        ) {
            let mut chars: Vec<char> = id.chars().collect();
            prop_assume!(chars[pos] != repl);
            chars[pos] = repl;
            let changed: String = chars.into_iter().collect();
            prop_assert!(validate_resident_id_on("zjhm", &changed, today()).is_err(), "{} accepted", changed);
        }

        #[test]
        fn computed_usccs_validate(code in valid_uscc()) {
            prop_assert_eq!(validate_uscc("tyshxydm", &code), Ok(code.clone()));
            prop_assert_eq!(validate_uscc("tyshxydm", &code.to_ascii_lowercase()), Ok(code));
        }

        #[test]
        fn any_single_change_breaks_a_uscc(
            code in valid_uscc(),
            pos in 0usize..18,
            repl in prop::sample::select(USCC_ALPHABET.chars().collect::<Vec<_>>()),
        ) {
            let mut chars: Vec<char> = code.chars().collect();
            prop_assume!(chars[pos] != repl);
            chars[pos] = repl;
            let changed: String = chars.into_iter().collect();
            prop_assert!(validate_uscc("tyshxydm", &changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn upgrade_15_to_18_yields_valid_ids(
            region in "[0-9]{6}",
            days in 0i64..36_524,
            seq in "[0-9]{3}",
        ) {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            let legacy = format!("{region}{}{seq}", &date.format("%Y%m%d").to_string()[2..]);
            let upgraded = upgrade_15_to_18(&legacy).unwrap();
            prop_assert_eq!(validate_resident_id_on("zjhm", &upgraded, today()), Ok(upgraded.clone()));
            prop_assert_eq!(validate_resident_id_on("zjhm", &legacy, today()), Ok(upgraded.clone()));
            prop_assert_eq!(birth_date_of(&upgraded), Some(date));
        }
    }
}
