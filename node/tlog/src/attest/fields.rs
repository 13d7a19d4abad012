//! What a deposit-use certificate says (DOMAIN.md §4.2) and its CBOR form: the CWT claims
//! (RFC 8392) `iss`, `aud`, `exp`, `iat`, `cti`, and one private claim holding the
//! certificate's fields as a map with text keys (docs/attestation.md lists them).

use ciborium::value::Value;
use uuid::Uuid;

/// CWT claim keys (RFC 8392 §4).
pub const CLAIM_ISS: i64 = 1;
pub const CLAIM_AUD: i64 = 3;
pub const CLAIM_EXP: i64 = 4;
pub const CLAIM_IAT: i64 = 6;
pub const CLAIM_CTI: i64 = 7;
/// The private claim holding the certificate's fields (private use: below -65536).
pub const CLAIM_DEPOSIT_CERTIFICATE: i64 = -65537;
/// The version of the field map (`v`).
pub const FIELDS_VERSION: u64 = 1;

/// The fields of a deposit-use certificate (异地贷款职工住房公积金缴存使用证明). Money is
/// integer fen, dates YYYYMMDD, months YYYYMM; a continuous-deposit month of 0 means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositFields {
    pub purpose: String,
    pub name: String,
    /// A.1 证件类型 code ("01").
    pub id_type: String,
    pub id_number: String,
    pub account_no: String,
    pub opened_date: u32,
    /// A.6 个人账户状态 code ("01").
    pub status: String,
    pub deposit_base_fen: i64,
    pub employer_rate_bp: u32,
    pub member_rate_bp: u32,
    pub monthly_amount_fen: i64,
    pub balance_fen: i64,
    pub continuous_start_month: u32,
    pub continuous_end_month: u32,
    pub has_loan: bool,
    pub loan_count: u32,
    pub total_borrowed_fen: i64,
    pub outstanding_fen: i64,
    pub issuer_name: String,
    pub contact: String,
}

/// A certificate: who issued it, to whom, when, until when, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: Uuid,
    /// The issuing (deposit) centre's 15-digit code (`iss`).
    pub issuer: String,
    /// The requesting (lending) centre's code (`aud`).
    pub audience: String,
    pub issued_at_unix: i64,
    pub expires_at_unix: i64,
    pub fields: DepositFields,
}

/// Each field's map key with its Chinese and English label, in the map's order (the
/// printing order of `hfx attest show`, the table of docs/attestation.md).
pub const FIELD_LABELS: &[(&str, &str, &str)] = &[
    ("purpose", "用途", "purpose"),
    ("name", "姓名", "name"),
    ("id_type", "证件类型", "id type"),
    ("id_number", "证件号码", "id number"),
    ("account_no", "个人账号", "account no."),
    ("opened", "开户日期", "open date"),
    ("status", "账户状态", "account status"),
    ("base_fen", "缴存基数", "deposit base"),
    ("employer_rate_bp", "单位缴存比例", "employer rate"),
    ("member_rate_bp", "个人缴存比例", "member rate"),
    ("monthly_fen", "月缴存额", "monthly amount"),
    ("balance_fen", "账户余额", "balance"),
    ("cont_start", "连续缴存起始月", "continuous deposits from"),
    ("cont_end", "连续缴存截止月", "continuous deposits to"),
    ("has_loan", "是否有贷款", "has a loan"),
    ("loan_count", "贷款笔数", "loan count"),
    ("borrowed_fen", "累计贷款金额", "total borrowed"),
    ("outstanding_fen", "贷款余额", "outstanding balance"),
    ("issuer_name", "出具中心", "issuing centre"),
    ("contact", "联系方式", "contact"),
];

/// Why a payload is not a certificate: the claim or field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {why}")]
pub struct FieldError {
    pub what: String,
    pub why: &'static str,
}

fn bad(what: impl Into<String>, why: &'static str) -> FieldError {
    FieldError {
        what: what.into(),
        why,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}
fn int(v: i64) -> Value {
    Value::Integer(v.into())
}

impl DepositFields {
    fn to_value(&self) -> Value {
        let f = self;
        let entries = vec![
            ("v", Value::Integer(FIELDS_VERSION.into())),
            ("purpose", text(&f.purpose)),
            ("name", text(&f.name)),
            ("id_type", text(&f.id_type)),
            ("id_number", text(&f.id_number)),
            ("account_no", text(&f.account_no)),
            ("opened", int(f.opened_date.into())),
            ("status", text(&f.status)),
            ("base_fen", int(f.deposit_base_fen)),
            ("employer_rate_bp", int(f.employer_rate_bp.into())),
            ("member_rate_bp", int(f.member_rate_bp.into())),
            ("monthly_fen", int(f.monthly_amount_fen)),
            ("balance_fen", int(f.balance_fen)),
            ("cont_start", int(f.continuous_start_month.into())),
            ("cont_end", int(f.continuous_end_month.into())),
            ("has_loan", Value::Bool(f.has_loan)),
            ("loan_count", int(f.loan_count.into())),
            ("borrowed_fen", int(f.total_borrowed_fen)),
            ("outstanding_fen", int(f.outstanding_fen)),
            ("issuer_name", text(&f.issuer_name)),
            ("contact", text(&f.contact)),
        ];
        Value::Map(entries.into_iter().map(|(k, v)| (text(k), v)).collect())
    }

    /// The fields as printable text, keyed like [`FIELD_LABELS`] (money in yuan, rates in %).
    pub fn display_values(&self) -> Vec<(&'static str, String)> {
        let yuan = |fen: i64| {
            let sign = if fen < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:02}",
                fen.unsigned_abs() / 100,
                fen.unsigned_abs() % 100
            )
        };
        let pct = |bp: u32| format!("{}.{:02}%", bp / 100, bp % 100);
        let month = |m: u32| {
            if m == 0 {
                "-".to_string()
            } else {
                m.to_string()
            }
        };
        let f = self;
        vec![
            ("purpose", f.purpose.clone()),
            ("name", f.name.clone()),
            ("id_type", f.id_type.clone()),
            ("id_number", f.id_number.clone()),
            ("account_no", f.account_no.clone()),
            ("opened", f.opened_date.to_string()),
            ("status", f.status.clone()),
            ("base_fen", yuan(f.deposit_base_fen)),
            ("employer_rate_bp", pct(f.employer_rate_bp)),
            ("member_rate_bp", pct(f.member_rate_bp)),
            ("monthly_fen", yuan(f.monthly_amount_fen)),
            ("balance_fen", yuan(f.balance_fen)),
            ("cont_start", month(f.continuous_start_month)),
            ("cont_end", month(f.continuous_end_month)),
            (
                "has_loan",
                if f.has_loan { "是 yes" } else { "否 no" }.into(),
            ),
            ("loan_count", f.loan_count.to_string()),
            ("borrowed_fen", yuan(f.total_borrowed_fen)),
            ("outstanding_fen", yuan(f.outstanding_fen)),
            ("issuer_name", f.issuer_name.clone()),
            ("contact", f.contact.clone()),
        ]
    }

    fn from_value(v: &Value) -> Result<Self, FieldError> {
        let map = v
            .as_map()
            .ok_or_else(|| bad("certificate fields", "not a map"))?;
        let mut seen = std::collections::BTreeMap::new();
        for (k, v) in map {
            let k = k
                .as_text()
                .ok_or_else(|| bad("certificate fields", "a key is not text"))?;
            if seen.insert(k.to_string(), v).is_some() {
                return Err(bad(k, "appears twice"));
            }
        }
        let known: Vec<&str> = std::iter::once("v")
            .chain(FIELD_LABELS.iter().map(|(k, _, _)| *k))
            .collect();
        if let Some(k) = seen.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(k.clone(), "is not a field of this version"));
        }
        let get = |k: &str| seen.get(k).copied().ok_or_else(|| bad(k, "is missing"));
        let s = |k: &str| -> Result<String, FieldError> {
            get(k)?
                .as_text()
                .map(str::to_string)
                .ok_or_else(|| bad(k, "is not text"))
        };
        let i = |k: &str| -> Result<i64, FieldError> {
            get(k)?
                .as_integer()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| bad(k, "is not an integer"))
        };
        let u = |k: &str| -> Result<u32, FieldError> {
            u32::try_from(i(k)?).map_err(|_| bad(k, "is out of range"))
        };
        let version = i("v")?;
        if version != FIELDS_VERSION as i64 {
            return Err(bad("v", "is not a version this verifier reads"));
        }
        Ok(Self {
            purpose: s("purpose")?,
            name: s("name")?,
            id_type: s("id_type")?,
            id_number: s("id_number")?,
            account_no: s("account_no")?,
            opened_date: u("opened")?,
            status: s("status")?,
            deposit_base_fen: i("base_fen")?,
            employer_rate_bp: u("employer_rate_bp")?,
            member_rate_bp: u("member_rate_bp")?,
            monthly_amount_fen: i("monthly_fen")?,
            balance_fen: i("balance_fen")?,
            continuous_start_month: u("cont_start")?,
            continuous_end_month: u("cont_end")?,
            has_loan: get("has_loan")?
                .as_bool()
                .ok_or_else(|| bad("has_loan", "is not a boolean"))?,
            loan_count: u("loan_count")?,
            total_borrowed_fen: i("borrowed_fen")?,
            outstanding_fen: i("outstanding_fen")?,
            issuer_name: s("issuer_name")?,
            contact: s("contact")?,
        })
    }
}

impl Certificate {
    /// The CWT claims set, as the COSE_Sign1 payload carries it (deterministic: the same
    /// certificate always gives the same bytes).
    pub fn to_payload(&self) -> Vec<u8> {
        let claims = Value::Map(vec![
            (int(CLAIM_ISS), text(&self.issuer)),
            (int(CLAIM_AUD), text(&self.audience)),
            (int(CLAIM_EXP), int(self.expires_at_unix)),
            (int(CLAIM_IAT), int(self.issued_at_unix)),
            (int(CLAIM_CTI), Value::Bytes(self.id.as_bytes().to_vec())),
            (int(CLAIM_DEPOSIT_CERTIFICATE), self.fields.to_value()),
        ]);
        let mut out = Vec::new();
        // Writing CBOR into a Vec cannot fail.
        let _ = ciborium::into_writer(&claims, &mut out);
        out
    }

    /// Read a payload back; refuses anything but exactly these claims, well typed.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, FieldError> {
        let v: Value = ciborium::from_reader(bytes).map_err(|_| bad("payload", "is not CBOR"))?;
        let map = v.as_map().ok_or_else(|| bad("payload", "is not a map"))?;
        let mut claims = std::collections::BTreeMap::new();
        for (k, v) in map {
            let k = k
                .as_integer()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| bad("payload", "a claim key is not an integer"))?;
            if claims.insert(k, v).is_some() {
                return Err(bad(format!("claim {k}"), "appears twice"));
            }
        }
        let known = [
            CLAIM_ISS,
            CLAIM_AUD,
            CLAIM_EXP,
            CLAIM_IAT,
            CLAIM_CTI,
            CLAIM_DEPOSIT_CERTIFICATE,
        ];
        if let Some(k) = claims.keys().find(|k| !known.contains(k)) {
            return Err(bad(format!("claim {k}"), "is not a claim of a certificate"));
        }
        let get = |k: i64, name: &str| {
            claims
                .get(&k)
                .copied()
                .ok_or_else(|| bad(name, "is missing"))
        };
        let s = |k: i64, name: &str| -> Result<String, FieldError> {
            get(k, name)?
                .as_text()
                .map(str::to_string)
                .ok_or_else(|| bad(name, "is not text"))
        };
        let t = |k: i64, name: &str| -> Result<i64, FieldError> {
            get(k, name)?
                .as_integer()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| bad(name, "is not an integer"))
        };
        let cti = get(CLAIM_CTI, "cti")?
            .as_bytes()
            .ok_or_else(|| bad("cti", "is not a byte string"))?;
        let id = Uuid::from_slice(cti).map_err(|_| bad("cti", "is not a 16-byte UUID"))?;
        let cert = Self {
            id,
            issuer: s(CLAIM_ISS, "iss")?,
            audience: s(CLAIM_AUD, "aud")?,
            expires_at_unix: t(CLAIM_EXP, "exp")?,
            issued_at_unix: t(CLAIM_IAT, "iat")?,
            fields: DepositFields::from_value(get(CLAIM_DEPOSIT_CERTIFICATE, "certificate")?)?,
        };
        if cert.expires_at_unix <= cert.issued_at_unix {
            return Err(bad("exp", "is not after iat"));
        }
        Ok(cert)
    }
}
