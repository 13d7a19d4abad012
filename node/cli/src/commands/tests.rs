use super::*;
use rustls::AlertDescription;

fn standing(revoked: bool, not_before: i64, not_after: i64) -> CertStanding {
    CertStanding {
        serial: "4d4e38e82ec28991".into(),
        not_before,
        not_after,
        revoked,
    }
}

/// What tonic hands the CLI when the node ended the connection with `alert`: a transport
/// error whose source chain holds the alert inside an io::Error, as hyper passes it on.
fn transport_failure(alert: Option<AlertDescription>) -> tonic::Status {
    let io = match alert {
        Some(a) => std::io::Error::other(rustls::Error::AlertReceived(a)),
        None => std::io::Error::from(std::io::ErrorKind::ConnectionReset),
    };
    tonic::Status::from_error(Box::new(io))
}

const NOW: i64 = 1_800_000_000;

fn en() -> hfx_i18n::Catalogue {
    hfx_i18n::Catalogue::new(hfx_i18n::Lang::En)
}

fn zh() -> hfx_i18n::Catalogue {
    hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn)
}

#[test]
fn a_revoked_certificate_is_named_with_its_file_serial_and_what_to_do() {
    let cert = Path::new("people/320300000000000/clerk-leaver.crt.pem");
    let s = transport_failure(Some(AlertDescription::CertificateRevoked));
    assert_eq!(s.code(), tonic::Code::Unknown);
    let text =
        refused_cert(&en(), &s, cert, Some(&standing(true, 0, NOW + 10)), NOW).expect("refusal");
    assert!(text.contains("clerk-leaver.crt.pem"), "{text}");
    assert!(text.contains("serial 4d4e38e82ec28991"), "{text}");
    assert!(text.contains("it is revoked"), "{text}");
    assert!(text.contains("ask the zone operator"), "{text}");
    // The alert alone says so even when the local CRL copy does not list it yet, also in
    // the form the TLS stream hands it on (rustls' text in an io::Error).
    let text = refused_cert(&en(), &s, cert, Some(&standing(false, 0, NOW + 10)), NOW).unwrap();
    assert!(text.contains("it is revoked"), "{text}");
    let io = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "received fatal alert: CertificateRevoked",
    );
    let as_text = tonic::Status::from_error(Box::new(io));
    let text = refused_cert(&en(), &as_text, cert, None, NOW).unwrap();
    assert!(text.contains("it is revoked"), "{text}");
    // And the CRL alone, when the error carries no alert.
    let bare = transport_failure(None);
    let text = refused_cert(&en(), &bare, cert, Some(&standing(true, 0, NOW + 10)), NOW).unwrap();
    assert!(text.contains("it is revoked"), "{text}");
}

#[test]
fn a_call_refused_on_an_open_connection_as_revoked_says_so_too() {
    let s: tonic::Status = hfx_node::error::HfxError::refused(
        tonic::Code::Unauthenticated,
        hfx_node::error::REASON_CERTIFICATE_REVOKED,
        "certificate serial 4d4e is revoked by the CRL in force",
    )
    .into();
    let text = refused_cert(&en(), &s, Path::new("c.pem"), None, NOW).expect("refusal");
    assert!(text.contains("c.pem: it is revoked"), "{text}");
}

#[test]
fn an_expired_certificate_is_named_with_its_end_date() {
    let cert = Path::new("clerk.crt.pem");
    let s = transport_failure(Some(AlertDescription::CertificateExpired));
    let text = refused_cert(
        &en(),
        &s,
        cert,
        Some(&standing(false, 0, 1_700_000_000)),
        NOW,
    )
    .unwrap();
    assert!(text.contains("expired on 2023-11-14 22:13 UTC"), "{text}");
    assert!(text.contains("ask the zone operator"), "{text}");
    // Without the alert, the certificate's own validity explains the transport error.
    let bare = transport_failure(None);
    let text = refused_cert(
        &en(),
        &bare,
        cert,
        Some(&standing(false, 0, 1_700_000_000)),
        NOW,
    )
    .unwrap();
    assert!(text.contains("expired on"), "{text}");
    let early = refused_cert(
        &en(),
        &bare,
        cert,
        Some(&standing(false, NOW + 3600, NOW * 2)),
        NOW,
    )
    .unwrap();
    assert!(early.contains("valid only from"), "{early}");
}

#[test]
fn other_failures_are_left_to_their_own_message() {
    let cert = Path::new("clerk.crt.pem");
    let good = standing(false, 0, NOW + 10);
    // A node that is down, with a good certificate: not a certificate problem.
    assert_eq!(
        refused_cert(&en(), &transport_failure(None), cert, Some(&good), NOW),
        None
    );
    // A refusal a handler answered is never blamed on the certificate, even an expired one.
    let s: tonic::Status = hfx_node::error::HfxError::MemberNotFound.into();
    let expired = standing(true, 0, 1);
    assert_eq!(refused_cert(&en(), &s, cert, Some(&expired), NOW), None);
}

#[test]
fn an_error_and_its_causes_print_each_once() {
    // A cause that prints its source and keeps it: the text appears once, not twice.
    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Both {
        path: String,
        #[source]
        source: std::io::Error,
    }
    let e = anyhow::Error::new(Both {
        path: "people/x.crt.pem".into(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
    .context("revoking people/x.crt.pem");
    let line = error_line(&e);
    assert_eq!(
        line.matches("entity not found").count(),
        1,
        "printed twice: {line}"
    );
    assert!(
        line.starts_with("revoking people/x.crt.pem: people/x.crt.pem: "),
        "{line}"
    );
    // Distinct causes all stay, in order.
    let e = anyhow::anyhow!("inner").context("middle").context("outer");
    assert_eq!(error_line(&e), "outer: middle: inner");
}

#[test]
fn a_revoked_or_expired_certificate_reads_in_chinese_too() {
    let cert = Path::new("clerk-leaver.crt.pem");
    let s = transport_failure(Some(AlertDescription::CertificateRevoked));
    let text = refused_cert(&zh(), &s, cert, Some(&standing(true, 0, NOW + 10)), NOW).unwrap();
    assert!(text.contains("证书已被吊销"), "{text}");
    assert!(text.contains("序列号 4d4e38e82ec28991"), "{text}");
    assert!(text.contains("联盟管理员"), "{text}");
    let s = transport_failure(Some(AlertDescription::CertificateExpired));
    let text = refused_cert(
        &zh(),
        &s,
        cert,
        Some(&standing(false, 0, 1_700_000_000)),
        NOW,
    )
    .unwrap();
    // 2023-11-14 22:13:20 UTC is the 15th in Beijing.
    assert!(text.contains("证书已于 2023年11月15日 06:13:20"), "{text}");
}

#[test]
fn a_refusal_says_what_to_do_then_its_code_reason_and_text() {
    let s: tonic::Status = hfx_node::error::HfxError::MemberNotFound.into();
    let zh_line = explain_status(&zh(), &s);
    assert!(
        zh_line.starts_with("该中心没有此证件号码的缴存职工"),
        "{zh_line}"
    );
    assert!(
        zh_line.ends_with("（NotFound: MEMBER_NOT_FOUND: no member matches this id）"),
        "{zh_line}"
    );
    let en_line = explain_status(&en(), &s);
    assert!(
        en_line.starts_with("That centre has no member"),
        "{en_line}"
    );
    assert!(
        en_line.ends_with("(NotFound: MEMBER_NOT_FOUND: no member matches this id)"),
        "{en_line}"
    );
    // A closed account, a purpose refused, a rate limit: each its own sentence.
    let s: tonic::Status = hfx_node::error::HfxError::account_closed("05").into();
    assert!(explain_status(&zh(), &s).contains("已销户"));
    assert!(explain_status(&en(), &s).contains("FailedPrecondition: ACCOUNT_CLOSED: "));
    let s: tonic::Status = hfx_node::error::HfxError::PurposeNotAllowed {
        purpose: "loan_check".into(),
        centre: "320700000000000".into(),
    }
    .into();
    assert!(explain_status(&en(), &s).starts_with("The zone's agreement does not allow"));
    let s: tonic::Status = hfx_node::error::HfxError::refused(
        tonic::Code::ResourceExhausted,
        hfx_node::policy::RATE_LIMITED,
        "slow down",
    )
    .into();
    assert!(explain_status(&zh(), &s).contains("请稍候再试"));
    // A reason only in the text (a relay kept the message, not the key) is still read.
    let s = tonic::Status::new(tonic::Code::Unavailable, "PEER_UNAVAILABLE: peer x is down");
    assert!(explain_status(&en(), &s).starts_with("The other centre could not be reached"));
    // A reason the catalogue does not know: the node's text alone, as before.
    let s = tonic::Status::new(tonic::Code::Aborted, "SOMETHING_NEW: details");
    assert_eq!(explain_status(&zh(), &s), "Aborted: SOMETHING_NEW: details");
    // No handler answered: the node is not reachable.
    let down = transport_failure(None);
    assert!(
        explain_status(&zh(), &down).starts_with("无法连接节点"),
        "{}",
        explain_status(&zh(), &down)
    );
}

#[test]
fn every_stable_reason_has_a_sentence_in_both_languages() {
    use hfx_node::error as e;
    let mut reasons = vec![
        e::REASON_MESSAGE_TOO_LARGE,
        e::REASON_UNDECODABLE_MESSAGE,
        e::REASON_PROTOCOL_ERROR,
        e::REASON_UNIMPLEMENTED,
        e::REASON_ROLE_NOT_ALLOWED,
        e::REASON_CERTIFICATE_REVOKED,
        e::REASON_DEADLINE_PASSED,
        e::REASON_ACCOUNT_CLOSED,
        e::REASON_ACCOUNT_FROZEN,
        e::REASON_ATTESTATION_INVALID,
        e::REASON_NOT_WRITER,
        e::REASON_MAINTENANCE,
        hfx_node::policy::RATE_LIMITED,
        hfx_node::member::ACTING_PERSON_FOREIGN,
        hfx_node::transfer::clerk::TRANSFER_IN_FLIGHT,
        hfx_node::transfer::clerk::TRANSFERS_DISABLED,
        hfx_node::transfer::clerk::MOVE_NOT_ALLOWED,
        hfx_node::transfer::clerk::LETTER_NUMBERS_EXHAUSTED,
        hfx_node::transfer::peer::OUT_OF_ORDER,
        hfx_node::transfer::peer::CASE_UNKNOWN,
        hfx_node::transfer::peer::CASE_NOT_YOURS,
        hfx_node::transfer::peer::WRONG_SIDE,
        hfx_node::dupcheck::responder::DUP_SESSION_UNKNOWN,
        "CASE_BUSY",
    ];
    // Every HfxError variant's own reason.
    let variants = [
        e::HfxError::invalid("f", "r"),
        e::HfxError::MemberNotFound,
        e::HfxError::NameMismatch,
        e::HfxError::NotFound(String::new()),
        e::HfxError::Unauthenticated(String::new()),
        e::HfxError::PermissionDenied(String::new()),
        e::HfxError::PurposeNotAllowed {
            purpose: String::new(),
            centre: String::new(),
        },
        e::HfxError::PeerUnavailable {
            centre: String::new(),
            detail: String::new(),
        },
        e::HfxError::FailedPrecondition(String::new()),
        e::HfxError::Unimplemented(String::new()),
        e::HfxError::internal("x"),
    ];
    reasons.extend(variants.iter().map(|v| v.reason()));
    reasons.extend([
        "PEER_ERROR",
        "CORE_SYSTEM_ERROR",
        "CORE_SYSTEM_UNAVAILABLE",
        "STORE_ERROR",
    ]);
    for cat in [en(), zh()] {
        for r in &reasons {
            assert!(cat.reason_advice(r).is_some(), "{:?}: {r}", cat.lang());
        }
    }
}
