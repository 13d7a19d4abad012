//! Issuing a deposit-use certificate: the deposit centre's answer to a lending centre
//! (`VerificationExchange/IssueDepositCertificate`) and the lending centre's clerk asking for
//! one (`Clerk/RequestCertificate`). Logged, disclosed and kept like a member query
//! ([`crate::member::Answered`], [`crate::member::asked_ops`]): the request, the reply, the
//! disclosure and the issue record commit together; a retry gets the same certificate.

use super::{METHOD_ISSUE, fields_of, refuse_status, sign, valid_days};
use crate::auth::Caller;
use crate::error::{HfxError, HfxResult};
use crate::member::{
    Answered, Person, Received, Subject, admit_request, asked_ops, check_message_id, check_purpose,
    id_type_to_pb, peer_status_to_error, receive, validate_person,
};
use crate::node::Node;
use crate::store::attest::{issued_op, received_op};
use hfx_adapters::ids::validate_centre_code;
use hfx_adapters::{MemberMatch, find_member};
use hfx_proto::v1 as pb;
use hfx_tlog::attest::Certificate;
use prost::Message;

/// Peer side: a lending centre asks us for a certificate about one of our members.
pub async fn answer(
    node: &Node,
    peer: &str,
    req: pb::CertificateRequest,
) -> HfxResult<pb::DepositCertificate> {
    let (header, message_id) = match receive(node, peer, req.header.as_ref()).await? {
        Received::New { header, message_id } => (header, message_id),
        Received::Retry(reply) => return Ok(reply),
    };
    let purpose = loan_application(header.purpose)?;
    let request_bytes = req.encode_to_vec();
    let request = Answered {
        peer,
        method: METHOD_ISSUE,
        message_id: &message_id,
        header: &header,
        purpose,
        request_bytes: &request_bytes,
    };
    let (person, cert, cose) = match decide(node, peer, &req).await {
        Ok(x) => x,
        Err((outcome, err)) => {
            let subject = Subject::of_request(node, req.person.as_ref());
            request.record_refusal(node, &outcome, &subject).await;
            return Err(err);
        }
    };
    let template = pb::DepositCertificate {
        receipt: None,
        cose: cose.clone(),
        certificate_id: cert.id.hyphenated().to_string(),
        issued_at_unix: cert.issued_at_unix,
        expires_at_unix: cert.expires_at_unix,
    };
    let issued = issued_op(
        &template.certificate_id,
        peer,
        &message_id,
        person.id_type.code(),
        &person.id_number,
        &cert.fields.account_no,
        cert.issued_at_unix,
        cert.expires_at_unix,
        &cose,
    );
    // Request and reply logged, the `sent` disclosure, the reply kept for retries and the
    // certificate recorded as issued, in one commit or none.
    let bytes = request
        .commit_with(node, &person.subject(node), vec![issued], move |receipt| {
            let mut r = template.clone();
            r.receipt = Some(receipt);
            r.encode_to_vec()
        })
        .await?;
    let reply = pb::DepositCertificate::decode(bytes.as_slice())
        .map_err(|e| HfxError::internal_from("reply", e))?;
    tracing::info!(peer, subject = %person.masked(), certificate = %reply.certificate_id, "deposit certificate issued");
    Ok(reply)
}

/// The purpose a certificate request must name.
pub(crate) fn loan_application(v: i32) -> HfxResult<pb::Purpose> {
    match check_purpose(v)? {
        pb::Purpose::LoanApplication => Ok(pb::Purpose::LoanApplication),
        other => Err(HfxError::invalid(
            "header.purpose",
            format!(
                "{} is not the purpose of a deposit-use certificate (loan_application)",
                hfx_model::purpose::purpose_name(other)
            ),
        )),
    }
}

/// Policy, validation, lookup, refusal of closed and frozen accounts, and signing; an error
/// carries the outcome to record.
async fn decide(
    node: &Node,
    peer: &str,
    req: &pb::CertificateRequest,
) -> Result<(Person, Certificate, Vec<u8>), (String, HfxError)> {
    let refused = |e: HfxError| (format!("refused: {}", e.reason()), e);
    let acting = req.header.as_ref().map(|h| h.acting_person.as_str());
    admit_request(node, peer, pb::Purpose::LoanApplication, acting)?;
    let person = validate_person(req.person.as_ref()).map_err(refused)?;
    let days = valid_days("valid_days", req.valid_days).map_err(refused)?;
    let found = find_member(
        node.core.as_ref(),
        person.id_type,
        &person.id_number,
        &person.name,
    )
    .await
    .map_err(|e| {
        let e = HfxError::from(e);
        (format!("failed: {}", e.reason()), e)
    })?;
    let member = match found {
        MemberMatch::Found(m) => m,
        MemberMatch::NotFound => return Err(("not found".into(), HfxError::MemberNotFound)),
        MemberMatch::NameMismatch => {
            return Err(("refused: name mismatch".into(), HfxError::NameMismatch));
        }
    };
    refuse_status(member.status).map_err(refused)?;
    let failed = |e: HfxError| (format!("failed: {}", e.reason()), e);
    let fields = fields_of(node, &member, &person).await.map_err(failed)?;
    let now = super::now_unix();
    let cert = Certificate {
        id: uuid::Uuid::now_v7(),
        issuer: node.centre.clone(),
        audience: peer.to_string(),
        issued_at_unix: now,
        expires_at_unix: now + i64::from(days) * 86_400,
        fields,
    };
    let cose = sign(node, &cert).map_err(failed)?;
    Ok((person, cert, cose))
}

/// Local side: a clerk of ours (the lending centre) asks a deposit centre for a certificate.
/// What comes back is verified against the directory in force before it is kept.
pub async fn request(
    node: &Node,
    caller: &Caller,
    req: pb::LocalCertificateRequest,
) -> HfxResult<pb::LocalCertificateReply> {
    let centre = validate_centre_code("centre", &req.centre)?;
    let person = validate_person(req.person.as_ref())?;
    let days = valid_days("valid_days", req.valid_days)?;
    let message_id = if req.message_id.is_empty() {
        uuid::Uuid::now_v7().hyphenated().to_string()
    } else {
        check_message_id("message_id", &req.message_id)?
    };
    crate::directory::lookup(&node.trust.directory(), &centre)?;
    let acting = caller.label();
    let purpose = pb::Purpose::LoanApplication;
    let peer_req = pb::CertificateRequest {
        header: Some(pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: String::new(),
            purpose: purpose as i32,
            acting_person: acting.clone(),
            sender_checkpoint_size: node.store.log().lock().await.size(),
            sent_at_unix_ms: crate::now_ms(),
        }),
        person: Some(pb::PersonKey {
            id_type: id_type_to_pb(person.id_type) as i32,
            id_number: person.id_number.clone(),
            name: person.name.clone(),
        }),
        valid_days: days,
    };
    let request_bytes = peer_req.encode_to_vec();
    let channel = node.peers.channel(&centre)?;
    let mut client = pb::verification_exchange_client::VerificationExchangeClient::new(channel);
    let mut outcome = client.issue_deposit_certificate(peer_req.clone()).await;
    if let Err(s) = &outcome
        && (s.code() == tonic::Code::Unavailable || crate::member::is_transport_failure(s))
    {
        // One retry with the same message id: the issuer answers a duplicate from its inbox.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        outcome = client.issue_deposit_certificate(peer_req).await;
    }
    let subject = person.subject(node);
    let reply = match outcome {
        Ok(resp) => resp.into_inner(),
        Err(status) => {
            let reason =
                crate::error::reason_of(&status).unwrap_or_else(|| format!("{:?}", status.code()));
            let ops = asked_ops(
                &centre,
                METHOD_ISSUE,
                &message_id,
                &request_bytes,
                None,
                &acting,
                purpose,
                &format!("failed: {reason}"),
                &subject,
            );
            if let Err(e) = node.store.write(ops).await {
                tracing::error!(error = %e, "could not record a failed certificate request");
            }
            tracing::info!(peer = %centre, reason = %reason, "certificate request failed");
            return Err(peer_status_to_error(&centre, status));
        }
    };
    let checked = check_received(node, &centre, &person, &reply);
    let outcome = match &checked {
        Ok(_) => "received".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    let mut ops = asked_ops(
        &centre,
        METHOD_ISSUE,
        &message_id,
        &request_bytes,
        Some(reply.encode_to_vec()),
        &acting,
        purpose,
        &outcome,
        &subject,
    );
    if let Ok(cert) = &checked {
        ops.push(received_op(
            &reply.certificate_id,
            &centre,
            &message_id,
            &subject.key,
            &subject.masked,
            cert.issued_at_unix,
            cert.expires_at_unix,
            &reply.cose,
        ));
    }
    let appended = node.store.write(ops).await?;
    checked?;
    tracing::info!(peer = %centre, subject = %person.masked(), certificate = %reply.certificate_id, "deposit certificate received");
    Ok(pb::LocalCertificateReply {
        compact: hfx_tlog::attest::to_compact(&reply.cose),
        local_receipt: appended.get(1).map(|a| pb::Receipt {
            centre: node.centre.clone(),
            log_index: a.index,
            sequence: a.seq,
            message_id: message_id.clone(),
        }),
        certificate: Some(reply),
    })
}

/// Verify a certificate just received: signature and key against the directory in force,
/// issued by the centre asked, to us, about the person asked, with the reply's id and times.
fn check_received(
    node: &Node,
    centre: &str,
    person: &Person,
    reply: &pb::DepositCertificate,
) -> HfxResult<Certificate> {
    let bad = |why: String| {
        HfxError::refused(
            tonic::Code::FailedPrecondition,
            crate::error::REASON_ATTESTATION_INVALID,
            format!("the certificate centre {centre} sent does not verify: {why}"),
        )
    };
    // Just received: the directory in force now is the one to check against, whenever it
    // was published.
    let mut dir = (*node.trust.directory()).clone();
    dir.issued_at_unix = i64::MIN;
    let history = super::snapshot_history(&dir)?;
    let v = hfx_tlog::attest::verify(&reply.cose, &history, super::now_unix())
        .map_err(|e| bad(e.to_string()))?;
    let c = v.certificate;
    let f = &c.fields;
    if c.issuer != centre || c.audience != node.centre {
        return Err(bad(format!("issued by {} to {}", c.issuer, c.audience)));
    }
    if f.id_type != person.id_type.code() || f.id_number != person.id_number {
        return Err(bad("it names another person".into()));
    }
    if c.id.hyphenated().to_string() != reply.certificate_id
        || c.issued_at_unix != reply.issued_at_unix
        || c.expires_at_unix != reply.expires_at_unix
    {
        return Err(bad(
            "the reply's id or times differ from the certificate's".into()
        ));
    }
    Ok(c)
}
