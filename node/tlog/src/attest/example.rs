//! The worked example of docs/attestation.md: a fixed key, time and id, so the document's
//! bytes can be regenerated and compared (node/tlog attest tests), and so tools and
//! benchmarks have a certificate to work on without a zone. Never a key to issue with.

use super::{AttestSigner, Certificate, DepositFields};

pub const ISSUER: &str = "320300000000000";
pub const LENDER: &str = "370800000000000";
/// 2026-01-05T00:00:00Z, the worked example's issue time.
pub const T0: i64 = 1_767_571_200;

pub fn example_certificate() -> Certificate {
    Certificate {
        id: uuid::Uuid::from_u128(0x019b8c3a_5000_7000_8000_000000000001),
        issuer: ISSUER.into(),
        audience: LENDER.into(),
        issued_at_unix: T0,
        expires_at_unix: T0 + 30 * 86_400,
        fields: DepositFields {
            purpose: "loan_application".into(),
            name: "张三".into(),
            id_type: "01".into(),
            id_number: "11010519491231002X".into(),
            account_no: "3203001000012345".into(),
            opened_date: 20150301,
            status: "01".into(),
            deposit_base_fen: 812_300,
            employer_rate_bp: 1200,
            member_rate_bp: 1200,
            monthly_amount_fen: 194_952,
            balance_fen: 8_653_217,
            continuous_start_month: 202001,
            continuous_end_month: 202512,
            has_loan: false,
            loan_count: 0,
            total_borrowed_fen: 0,
            outstanding_fen: 0,
            issuer_name: "徐州市住房公积金管理中心".into(),
            contact: "0516-12329".into(),
        },
    }
}

/// The worked example's key: seed bytes 0x01..=0x20.
pub fn example_signer() -> AttestSigner {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
    AttestSigner::from_seed(&seed).expect("a 32-byte seed is an Ed25519 key")
}
