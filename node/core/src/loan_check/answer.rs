//! A peer asks us for a person's loans (`MemberExchange/LoanCheck`).
//!
//! The same admission, validation, exchange log and disclosure record as a member query
//! ([`crate::member`]): refused requests are logged and recorded `refused`, answers are
//! logged with their reply and recorded `sent`, a retry or a hedged copy (same message id)
//! gets the stored reply. The lookup runs under the asker's deadline ([`super::deadline`]).

use super::deadline::Budget;
use super::{METHOD_LOAN_CHECK, loan_to_pb};
use crate::error::{HfxError, HfxResult, REASON_DEADLINE_PASSED};
use crate::member::{
    Answered, Person, Received, Subject, admit_request, check_purpose, receive, validate_person,
};
use crate::node::Node;
use hfx_adapters::{MemberMatch, find_member};
use hfx_proto::v1 as pb;
use prost::Message;
use std::time::Duration;
use tokio::time::Instant;

/// Answer a peer's loan check. `header_timeout` is the request's `grpc-timeout`, if any.
pub async fn answer(
    node: &Node,
    peer: &str,
    header_timeout: Option<Duration>,
    req: pb::PeerLoanCheck,
) -> HfxResult<pb::PeerLoanCheckReply> {
    let budget = Budget::new(Instant::now(), header_timeout, req.remaining_ms);
    let (header, message_id) = match receive(node, peer, req.header.as_ref()).await? {
        Received::New { header, message_id } => (header, message_id),
        Received::Retry(reply) => return Ok(reply),
    };
    let purpose = check_purpose(header.purpose)?;
    if purpose != pb::Purpose::LoanCheck {
        return Err(HfxError::invalid(
            "header.purpose",
            "a loan check is asked for purpose loan_check",
        ));
    }
    let request_bytes = req.encode_to_vec();
    let request = Answered {
        peer,
        method: METHOD_LOAN_CHECK,
        message_id: &message_id,
        header: &header,
        purpose,
        request_bytes: &request_bytes,
    };
    let decided = match budget.give_up_at() {
        Some(at) => match tokio::time::timeout_at(at, decide(node, peer, purpose, &req)).await {
            Ok(d) => d,
            Err(_) => Err(gave_up(budget)),
        },
        None => decide(node, peer, purpose, &req).await,
    };
    let (person, loans) = match decided {
        Ok(x) => x,
        Err((outcome, err)) => {
            let subject = Subject::of_request(node, req.person.as_ref());
            request.record_refusal(node, &outcome, &subject).await;
            return Err(err);
        }
    };
    let count = loans.len();
    let template = pb::PeerLoanCheckReply {
        receipt: None,
        loans,
    };
    let bytes = request
        .commit(node, &person.subject(node), move |receipt| {
            let mut r = template.clone();
            r.receipt = Some(receipt);
            r.encode_to_vec()
        })
        .await?;
    let reply = pb::PeerLoanCheckReply::decode(bytes.as_slice())
        .map_err(|e| HfxError::internal_from("reply", e))?;
    tracing::info!(peer, loans = count, subject = %person.masked(), "loans disclosed");
    Ok(reply)
}

/// The refusal of a check whose deadline passed while we looked, and the outcome recorded.
fn gave_up(budget: Budget) -> (String, HfxError) {
    let ms = budget.left().map(|d| d.as_millis()).unwrap_or(0);
    (
        format!("failed: {REASON_DEADLINE_PASSED}"),
        HfxError::refused(
            tonic::Code::DeadlineExceeded,
            REASON_DEADLINE_PASSED,
            format!("the asker's deadline ({ms} ms) passed before the core system answered"),
        ),
    )
}

/// Admission, validation, the name check and the loans; an error carries the outcome to
/// record. A person who holds no account here may still be a co-borrower here: the loans are
/// looked up by id; the name is checked where an account names the person.
async fn decide(
    node: &Node,
    peer: &str,
    purpose: pb::Purpose,
    req: &pb::PeerLoanCheck,
) -> Result<(Person, Vec<pb::Loan>), (String, HfxError)> {
    let acting = req.header.as_ref().map(|h| h.acting_person.as_str());
    admit_request(node, peer, purpose, acting)?;
    let person = validate_person(req.person.as_ref())
        .map_err(|e| (format!("refused: {}", e.reason()), e))?;
    let core = node.core.as_ref();
    let (found, loans) = tokio::join!(
        find_member(core, person.id_type, &person.id_number, &person.name),
        core.loans_of(person.id_type, &person.id_number),
    );
    let failed = |e: hfx_adapters::AdapterError| {
        let e = HfxError::from(e);
        (format!("failed: {}", e.reason()), e)
    };
    if let MemberMatch::NameMismatch = found.map_err(failed)? {
        return Err(("refused: name mismatch".into(), HfxError::NameMismatch));
    }
    let loans = loans
        .map_err(failed)?
        .iter()
        .map(|l| loan_to_pb(&node.centre, l))
        .collect();
    Ok((person, loans))
}
