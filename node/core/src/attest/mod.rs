//! Deposit-use certificates (DOMAIN.md §4.2, docs/attestation.md): the deposit centre builds
//! one from its core system's records at the lending centre's request and signs it with its
//! directory key (`issue`); the lending centre verifies and keeps what it received; the
//! issuer answers status queries and revokes a certificate once the account closed, froze or
//! transferred out after issue, or a clerk revoked it (`status`). The certificate format and
//! the offline verifier are in [`hfx_tlog::attest`]: no node is needed to check one.

pub mod issue;
pub mod status;

use crate::error::{HfxError, HfxResult};
use crate::member::Person;
use crate::node::Node;
use hfx_adapters::model::{AccountStatus, Member, date_to_u32};
use hfx_tlog::attest::{AttestSigner, Certificate, DepositFields, DirectorySnapshot, KeyHistory};

pub use hfx_tlog::attest::{METHOD_ISSUE, METHOD_STATUS};

/// Validity when the request asks for none, and the longest one granted (days).
pub const DEFAULT_VALID_DAYS: u32 = 30;
pub const MAX_VALID_DAYS: u32 = 90;
/// The contact a certificate names: the national housing fund service line (住房公积金
/// 服务热线), the same number in every city.
pub const CONTACT: &str = "12329";

/// Why a certificate was revoked (`CertificateStatusReply.reason`): stable codes.
pub const REVOKED_ACCOUNT_CLOSED: &str = "ACCOUNT_CLOSED";
pub const REVOKED_ACCOUNT_FROZEN: &str = "ACCOUNT_FROZEN";
pub const REVOKED_TRANSFERRED_OUT: &str = "ACCOUNT_TRANSFERRED_OUT";
pub const REVOKED_BY_ISSUER: &str = "REVOKED_BY_ISSUER";

/// The validity asked for, in days.
pub(crate) fn valid_days(field: &str, v: u32) -> HfxResult<u32> {
    match v {
        0 => Ok(DEFAULT_VALID_DAYS),
        1..=MAX_VALID_DAYS => Ok(v),
        _ => Err(HfxError::invalid(
            field,
            format!("{v} days; a certificate is valid for 1 to {MAX_VALID_DAYS} days"),
        )),
    }
}

/// Refuse a certificate for a closed or frozen account, with the stable reason.
pub(crate) fn refuse_status(status: AccountStatus) -> HfxResult<()> {
    if status.is_closed() {
        return Err(HfxError::refused(
            tonic::Code::FailedPrecondition,
            crate::error::REASON_ACCOUNT_CLOSED,
            format!(
                "the account is closed (status {}); a deposit-use certificate is refused for closed accounts",
                status.code()
            ),
        ));
    }
    if status == AccountStatus::Frozen {
        return Err(HfxError::refused(
            tonic::Code::FailedPrecondition,
            crate::error::REASON_ACCOUNT_FROZEN,
            "the account is frozen (status 06); a deposit-use certificate is refused for frozen accounts",
        ));
    }
    Ok(())
}

/// The revocation an account's state now calls for, if any: (reason, detail). `now` is the
/// member's account in the core system (number and status), if the member is still there.
pub(crate) fn revocation_for(
    now: Option<(&str, AccountStatus)>,
    account_no: &str,
) -> Option<(&'static str, String)> {
    let Some((now_account, status)) = now else {
        return Some((
            REVOKED_ACCOUNT_CLOSED,
            "the core system no longer holds the member".into(),
        ));
    };
    if now_account != account_no {
        return Some((
            REVOKED_ACCOUNT_CLOSED,
            "the member's account is not the one certified".into(),
        ));
    }
    match status {
        AccountStatus::ClosedTransferred => Some((
            REVOKED_TRANSFERRED_OUT,
            "the account transferred out (status 04)".into(),
        )),
        s if s.is_closed() => Some((
            REVOKED_ACCOUNT_CLOSED,
            format!("the account closed (status {})", s.code()),
        )),
        AccountStatus::Frozen => Some((
            REVOKED_ACCOUNT_FROZEN,
            "the account froze (status 06)".into(),
        )),
        _ => None,
    }
}

/// The certificate's fields from the core system's records (DOMAIN.md §4.2).
pub(crate) async fn fields_of(
    node: &Node,
    m: &Member,
    person: &Person,
) -> HfxResult<DepositFields> {
    let (start, end, n) = crate::member::continuous_months(node, m).await?;
    let loans = node
        .core
        .loans_of(person.id_type, &person.id_number)
        .await?;
    let dir = node.trust.directory();
    let issuer_name = crate::directory::lookup(&dir, &node.centre)?.name.clone();
    Ok(DepositFields {
        purpose: hfx_model::purpose::purpose_name(hfx_proto::v1::Purpose::LoanApplication).into(),
        name: m.name.clone(),
        id_type: person.id_type.code().into(),
        id_number: person.id_number.clone(),
        account_no: m.account_no.clone(),
        opened_date: date_to_u32(m.opened_on),
        status: m.status.code().into(),
        deposit_base_fen: m.deposit_base_fen,
        employer_rate_bp: m.employer.employer_rate_bp,
        member_rate_bp: m.employer.member_rate_bp,
        monthly_amount_fen: m.member_monthly_fen + m.employer_monthly_fen,
        balance_fen: m.balance_fen,
        continuous_start_month: if n > 0 { start.yyyymm() } else { 0 },
        continuous_end_month: if n > 0 { end.yyyymm() } else { 0 },
        has_loan: loans.iter().any(|l| l.loan.outstanding_fen > 0),
        loan_count: loans.len() as u32,
        total_borrowed_fen: loans.iter().map(|l| l.loan.contract_amount_fen).sum(),
        outstanding_fen: loans.iter().map(|l| l.loan.outstanding_fen).sum(),
        issuer_name,
        contact: CONTACT.into(),
    })
}

/// The node's attestation signer: its signing key (read from `signing.key` each time, so a
/// rotated key is used at once), which must be the key the directory in force lists for it.
pub(crate) fn signer(node: &Node) -> HfxResult<AttestSigner> {
    let path = node.cfg.resolve(&node.cfg.signing.key);
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| HfxError::internal_from(format!("signing.key {}", path.display()), e))?;
    let pair = hfx_certs::SigningKeyPair::from_pem(&pem)
        .map_err(|e| HfxError::internal_from(format!("signing.key {}", path.display()), e))?;
    let signer = AttestSigner::from_pkcs8(pair.pkcs8())
        .map_err(|e| HfxError::internal_from("attestation signer", e))?;
    let listed = crate::directory::checkpoint_verifier(&node.trust.directory(), &node.centre)?;
    if listed.public_key() != signer.public_key() {
        return Err(HfxError::internal(
            "signing.key is not the key the directory in force lists for this centre; refusing to issue certificates no one could verify",
        ));
    }
    Ok(signer)
}

/// Sign a certificate.
pub(crate) fn sign(node: &Node, cert: &Certificate) -> HfxResult<Vec<u8>> {
    signer(node)?
        .sign(cert)
        .map_err(|e| HfxError::internal_from("signing a certificate", e))
}

/// The directory in force as a one-version key history (what a node checks a certificate
/// it receives against).
pub fn history_in_force(node: &Node) -> HfxResult<KeyHistory> {
    snapshot_history(&node.trust.directory())
}

/// A key history of one directory.
pub fn snapshot_history(dir: &hfx_certs::Directory) -> HfxResult<KeyHistory> {
    use base64::Engine;
    let mut keys = Vec::with_capacity(dir.centres.len());
    for c in &dir.centres {
        if let Some(k) = base64::engine::general_purpose::STANDARD
            .decode(&c.signing_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        {
            keys.push((c.code.clone(), k));
        }
    }
    KeyHistory::new(vec![DirectorySnapshot {
        zone: dir.zone.clone(),
        version: dir.version,
        issued_at_unix: dir.issued_at_unix,
        expires_at_unix: dir.expires_at_unix,
        keys,
    }])
    .map_err(|e| HfxError::internal_from("directory as key history", e))
}

pub(crate) fn now_unix() -> i64 {
    crate::now_ms().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_frozen_and_transferred_accounts_revoke_and_are_refused() {
        let acct = |s: AccountStatus| {
            (
                revocation_for(Some(("A1", s)), "A1").map(|r| r.0),
                refuse_status(s).err().map(|e| e.reason()),
            )
        };
        let closed = Some(REVOKED_ACCOUNT_CLOSED);
        assert_eq!(acct(AccountStatus::Normal), (None, None));
        assert_eq!(acct(AccountStatus::Sealed), (None, None));
        assert_eq!(
            acct(AccountStatus::ClosedTransferred),
            (Some(REVOKED_TRANSFERRED_OUT), Some("ACCOUNT_CLOSED"))
        );
        assert_eq!(
            acct(AccountStatus::ClosedWithdrawn),
            (closed, Some("ACCOUNT_CLOSED"))
        );
        assert_eq!(
            acct(AccountStatus::ClosedMerged),
            (closed, Some("ACCOUNT_CLOSED"))
        );
        assert_eq!(
            acct(AccountStatus::Frozen),
            (Some(REVOKED_ACCOUNT_FROZEN), Some("ACCOUNT_FROZEN"))
        );
        assert_eq!(revocation_for(None, "A1").map(|r| r.0), closed);
        let moved = revocation_for(Some(("A2", AccountStatus::Normal)), "A1");
        assert_eq!(moved.map(|r| r.0), closed);
        assert_eq!(valid_days("valid_days", 0).unwrap(), DEFAULT_VALID_DAYS);
        assert_eq!(valid_days("valid_days", 90).unwrap(), 90);
        let e = valid_days("valid_days", 91).unwrap_err();
        assert!(e.to_string().starts_with("valid_days"), "{e}");
    }
}
