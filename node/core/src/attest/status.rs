//! A certificate's online status, as its issuer answers it: valid, expired, unknown, or
//! revoked with the reason. A certificate is revoked once the account it certifies closed,
//! froze or transferred out after issue (checked against the core system whenever its status
//! is asked, and kept: a revocation is never undone) or when a clerk of the issuer revokes it.

use super::{METHOD_STATUS, REVOKED_BY_ISSUER, now_unix, revocation_for};
use crate::auth::Caller;
use crate::error::{HfxError, HfxResult};
use crate::member::{
    Answered, Received, Subject, admit_request, asked_ops, peer_status_to_error, receive,
};
use crate::node::Node;
use hfx_adapters::ids::{mask_id, validate_centre_code};
use hfx_adapters::model::IdType;
use hfx_proto::v1 as pb;
use prost::Message;

fn check_id(field: &str, s: &str) -> HfxResult<String> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| HfxError::invalid(field, format!("{s:?} is not a certificate id (UUID)")))
}

fn id_type_of(code: &str) -> Option<IdType> {
    [
        IdType::ResidentId,
        IdType::OfficerId,
        IdType::Passport,
        IdType::ForeignPermanent,
        IdType::Other,
    ]
    .into_iter()
    .find(|t| t.code() == code)
}

/// The status of a certificate this centre issued (no receipt), and whom it is about.
pub async fn status_of(
    node: &Node,
    cert_id: &str,
) -> HfxResult<(pb::CertificateStatusReply, Subject)> {
    let Some(row) = node.store.issued(cert_id).await? else {
        return Ok((
            pb::CertificateStatusReply {
                state: pb::CertificateState::Unknown as i32,
                detail: format!("centre {} issued no certificate {cert_id}", node.centre),
                ..Default::default()
            },
            Subject {
                masked: "-".into(),
                key: String::new(),
            },
        ));
    };
    let subject = Subject {
        masked: mask_id(&row.id_number),
        key: node.store.subject_key(&row.id_type, &row.id_number),
    };
    let mut revoked = row.revoked.clone();
    if revoked.is_none() && now_unix() < row.expires_at {
        let id_type = id_type_of(&row.id_type).ok_or_else(|| {
            HfxError::internal(format!("attest_issued: id type {:?}", row.id_type))
        })?;
        let member = node.core.member_by_id(id_type, &row.id_number).await?;
        if let Some((reason, detail)) = revocation_for(
            member.as_ref().map(|m| (m.account_no.as_str(), m.status)),
            &row.account_no,
        ) {
            let at = now_unix();
            node.store
                .revoke_issued(cert_id, at, reason, &detail)
                .await?;
            tracing::info!(certificate = cert_id, reason, "deposit certificate revoked");
            // Whoever recorded first, that revocation stands.
            revoked = node
                .store
                .issued(cert_id)
                .await?
                .and_then(|r| r.revoked)
                .or(Some((at, reason.to_string(), detail)));
        }
    }
    let mut reply = pb::CertificateStatusReply {
        expires_at_unix: row.expires_at,
        ..Default::default()
    };
    match revoked {
        Some((at, reason, detail)) => {
            reply.state = pb::CertificateState::Revoked as i32;
            reply.reason = reason;
            reply.revoked_at_unix = at;
            reply.detail = detail;
        }
        None if now_unix() >= row.expires_at => {
            reply.state = pb::CertificateState::Expired as i32;
        }
        None => reply.state = pb::CertificateState::Valid as i32,
    }
    Ok((reply, subject))
}

/// Peer side: a centre asks the status of a certificate we issued. Logged and disclosed
/// like a query (whether a certificate stands says something of the account).
pub async fn answer(
    node: &Node,
    peer: &str,
    req: pb::CertificateStatusRequest,
) -> HfxResult<pb::CertificateStatusReply> {
    let (header, message_id) = match receive(node, peer, req.header.as_ref()).await? {
        Received::New { header, message_id } => (header, message_id),
        Received::Retry(reply) => return Ok(reply),
    };
    let purpose = super::issue::loan_application(header.purpose)?;
    let request_bytes = req.encode_to_vec();
    let request = Answered {
        peer,
        method: METHOD_STATUS,
        message_id: &message_id,
        header: &header,
        purpose,
        request_bytes: &request_bytes,
    };
    let none = Subject {
        masked: "-".into(),
        key: String::new(),
    };
    let decided = async {
        admit_request(node, peer, purpose, Some(header.acting_person.as_str()))?;
        let id = check_id("certificate_id", &req.certificate_id)
            .map_err(|e| (format!("refused: {}", e.reason()), e))?;
        status_of(node, &id)
            .await
            .map_err(|e| (format!("failed: {}", e.reason()), e))
    };
    let (template, subject) = match decided.await {
        Ok(x) => x,
        Err((outcome, err)) => {
            request.record_refusal(node, &outcome, &none).await;
            return Err(err);
        }
    };
    let bytes = request
        .commit(node, &subject, move |receipt| {
            let mut r = template.clone();
            r.receipt = Some(receipt);
            r.encode_to_vec()
        })
        .await?;
    pb::CertificateStatusReply::decode(bytes.as_slice())
        .map_err(|e| HfxError::internal_from("reply", e))
}

/// Local side: the status of a certificate, from its issuer (our own answer when we issued
/// it). `centre` empty: the issuer of the certificate we received with that id.
pub async fn ask(
    node: &Node,
    caller: &Caller,
    req: pb::LocalCertificateStatusRequest,
) -> HfxResult<pb::CertificateStatusReply> {
    let id = check_id("certificate_id", &req.certificate_id)?;
    let received = node.store.received(&id).await?;
    let centre = if req.centre.is_empty() {
        match &received {
            Some(r) => r.issuer.clone(),
            None => {
                return Err(HfxError::invalid(
                    "centre",
                    "is required: no certificate with that id was received here",
                ));
            }
        }
    } else {
        validate_centre_code("centre", &req.centre)?
    };
    if centre == node.centre {
        return Ok(status_of(node, &id).await?.0);
    }
    crate::directory::lookup(&node.trust.directory(), &centre)?;
    let acting = caller.label();
    let message_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let purpose = pb::Purpose::LoanApplication;
    let peer_req = pb::CertificateStatusRequest {
        header: Some(pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: String::new(),
            purpose: purpose as i32,
            acting_person: acting.clone(),
            sender_checkpoint_size: node.store.log().lock().await.size(),
            sent_at_unix_ms: crate::now_ms(),
        }),
        certificate_id: id.clone(),
    };
    let request_bytes = peer_req.encode_to_vec();
    let subject = received
        .as_ref()
        .map(|r| Subject {
            masked: r.subject_masked.clone(),
            key: r.subject_key.clone(),
        })
        .unwrap_or(Subject {
            masked: "-".into(),
            key: String::new(),
        });
    let channel = node.peers.channel(&centre)?;
    let mut client = pb::verification_exchange_client::VerificationExchangeClient::new(channel);
    let outcome = client.certificate_status(peer_req).await;
    let (reply_bytes, outcome_text) = match &outcome {
        Ok(r) => (Some(r.get_ref().encode_to_vec()), "received".to_string()),
        Err(s) => (
            None,
            format!(
                "failed: {}",
                crate::error::reason_of(s).unwrap_or_else(|| format!("{:?}", s.code()))
            ),
        ),
    };
    let ops = asked_ops(
        &centre,
        METHOD_STATUS,
        &message_id,
        &request_bytes,
        reply_bytes,
        &acting,
        purpose,
        &outcome_text,
        &subject,
    );
    node.store.write(ops).await?;
    outcome
        .map(tonic::Response::into_inner)
        .map_err(|s| peer_status_to_error(&centre, s))
}

/// Local side: a clerk of the issuer revokes a certificate this centre issued.
pub async fn revoke(
    node: &Node,
    caller: &Caller,
    req: pb::RevokeCertificateRequest,
) -> HfxResult<pb::CertificateStatusReply> {
    let id = check_id("certificate_id", &req.certificate_id)?;
    let reason: String = req.reason.trim().chars().take(200).collect();
    if reason.is_empty() {
        return Err(HfxError::invalid("reason", "is required"));
    }
    if node.store.issued(&id).await?.is_none() {
        return Err(HfxError::NotFound(format!(
            "centre {} issued no certificate {id}",
            node.centre
        )));
    }
    let detail = format!("{reason} ({})", caller.label());
    node.store
        .revoke_issued(&id, now_unix(), REVOKED_BY_ISSUER, &detail)
        .await?;
    tracing::info!(certificate = %id, by = %caller.label(), "deposit certificate revoked by the issuer");
    Ok(status_of(node, &id).await?.0)
}
