//! The case's messages on the wire (`hfx.v1.TransferExchange`): encoding what a transition
//! sends, and validating what a peer sent before the case sees it. Errors name the field.

use crate::error::{HfxError, HfxResult};
use hfx_adapters::model::IdType;
use hfx_case::{Letter, Msg, MsgKind, Payment, Person, Posting, Refusal, Status, TransferRecord};
use hfx_proto::v1 as pb;
use hfx_tlog::methods as m;
use prost::Message;

/// The RPC a message kind travels by.
pub fn method(kind: MsgKind) -> &'static str {
    match kind {
        MsgKind::Letter => m::METHOD_LETTER,
        MsgKind::Cancel => m::METHOD_CANCEL,
        MsgKind::TransferOut => m::METHOD_TRANSFER_OUT,
        MsgKind::Refusal => m::METHOD_REFUSAL,
        MsgKind::Payment => m::METHOD_PAYMENT,
        MsgKind::Completion => m::METHOD_COMPLETION,
    }
}

/// The national code on the wire.
pub fn status_to_pb(s: Status) -> pb::CaseStatus {
    use pb::CaseStatus as P;
    match s {
        Status::LetterSent => P::Unspecified,
        Status::LetterReceived => P::LetterReceived,
        Status::Accepted => P::LetterChecked,
        Status::Held
        | Status::Paid
        | Status::Closed
        | Status::Releasing
        | Status::OutReceived
        | Status::Crediting => P::AccountChecked,
        Status::Negotiating => P::Negotiating,
        Status::Done => P::Done,
        Status::NegotiatedDone => P::NegotiatedDone,
        Status::Refused => P::OriginRefused,
        Status::Cancelled => P::Cancelled,
        Status::Failed => P::Failed,
        Status::Expired => P::Expired,
    }
}

/// A peer's status from its answer: its own words when given, else the national code.
pub fn status_from_answer(state: &str, code: i32) -> Option<Status> {
    if let Some(s) = Status::parse(state) {
        return Some(s);
    }
    use pb::CaseStatus as P;
    Some(match P::try_from(code).ok()? {
        P::LetterReceived => Status::LetterReceived,
        P::LetterChecked => Status::Accepted,
        P::AccountChecked => Status::Held,
        P::Negotiating => Status::Negotiating,
        P::Done => Status::Done,
        P::NegotiatedDone => Status::NegotiatedDone,
        P::OriginRefused => Status::Refused,
        P::Cancelled => Status::Cancelled,
        P::Failed => Status::Failed,
        P::Expired => Status::Expired,
        P::Unspecified => return None,
    })
}

fn id_type_pb(code: &str) -> i32 {
    IdType::from_code(code)
        .map(|t| crate::member::id_type_to_pb(t) as i32)
        .unwrap_or(0)
}

/// Encode a message a transition sends, with its header.
pub fn encode(msg: &Msg, header: pb::RequestHeader) -> Vec<u8> {
    let header = Some(header);
    match msg {
        Msg::Letter(l) => pb::ContactLetter {
            header,
            letter_no: l.letter_no.clone(),
            person: Some(pb::PersonKey {
                id_type: id_type_pb(&l.person.id_type),
                id_number: l.person.id_number.clone(),
                name: l.person.name.clone(),
            }),
            destination_account_no: l.destination_account_no.clone(),
            destination_centre: l.destination_centre.clone(),
            origin_centre: l.origin_centre.clone(),
            applied_date: l.applied_date,
            deadline_unix_ms: l.deadline_ms,
        }
        .encode_to_vec(),
        Msg::Cancel { reason } => pb::CaseMessage {
            header,
            reason: reason.clone(),
            deadline_unix_ms: 0,
        }
        .encode_to_vec(),
        Msg::TransferOut(r) => pb::TransferOut {
            header,
            amount_fen: r.amount_fen,
            principal_fen: r.principal_fen,
            interest_fen: r.interest_fen,
            opened_month: r.opened_month,
            paid_up_to_month: r.paid_up_to_month,
            six_consecutive_months: r.six_consecutive_months,
            loans_used: r.loans_used,
            unsettled_loan: r.unsettled_loan,
            fraud_flag: r.fraud_flag,
            history: r
                .history
                .iter()
                .map(|p| pb::DepositPosting {
                    date: p.date,
                    business_type: p.business_type.clone(),
                    amount_fen: p.amount_fen,
                    interest_fen: p.interest_fen,
                    for_month: p.for_month,
                })
                .collect(),
        }
        .encode_to_vec(),
        Msg::Refusal(r) => pb::Refusal {
            header,
            reason_code: r.code.clone(),
            reason: r.reason.clone(),
        }
        .encode_to_vec(),
        Msg::Payment(p) => pb::PaymentNotice {
            header,
            paid: p.paid,
            bank_reference: p.bank_ref.clone(),
            amount_fen: p.amount_fen,
            reason: p.reason.clone(),
        }
        .encode_to_vec(),
        Msg::Completion {
            credited,
            negotiated,
            negotiation_reason,
            credited_fen,
        } => pb::Completion {
            header,
            credited: *credited,
            negotiation_reason: negotiation_reason.clone(),
            credited_fen: *credited_fen,
            negotiated: *negotiated,
        }
        .encode_to_vec(),
    }
}

fn month(field: &str, v: u32) -> HfxResult<u32> {
    hfx_adapters::model::YearMonth::from_yyyymm(v)
        .map(|_| v)
        .ok_or_else(|| HfxError::invalid(field, format!("{v} is not a month (YYYYMM)")))
}

fn fen(field: &str, v: i64) -> HfxResult<i64> {
    if v < 0 {
        return Err(HfxError::invalid(field, format!("{v} fen is negative")));
    }
    Ok(v)
}

fn text(field: &str, v: &str, max: usize) -> HfxResult<String> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(HfxError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(t.to_string())
}

/// A letter as received; `own` is the receiving centre, `peer` the sender.
pub fn letter_from(r: &pb::ContactLetter, own: &str, peer: &str) -> HfxResult<Letter> {
    let p = crate::member::validate_person(r.person.as_ref())?;
    if r.origin_centre != own {
        return Err(HfxError::invalid(
            "origin_centre",
            format!(
                "the letter is addressed to {:?}, this is {own}",
                r.origin_centre
            ),
        ));
    }
    if r.destination_centre != peer {
        return Err(HfxError::invalid(
            "destination_centre",
            format!(
                "the letter names {:?} as destination but comes from {peer}",
                r.destination_centre
            ),
        ));
    }
    let prefix = peer.get(..6).unwrap_or(peer);
    if r.letter_no.len() != 16
        || !r.letter_no.starts_with(prefix)
        || !r.letter_no.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(HfxError::invalid(
            "letter_no",
            format!(
                "{:?} is not the sender's 6-digit prefix + YYMMDD + 4 digits",
                r.letter_no
            ),
        ));
    }
    hfx_adapters::model::date_from_u32(r.applied_date).ok_or_else(|| {
        HfxError::invalid(
            "applied_date",
            format!("{} is not a date (YYYYMMDD)", r.applied_date),
        )
    })?;
    Ok(Letter {
        letter_no: r.letter_no.clone(),
        person: Person {
            id_type: p.id_type.code().to_string(),
            id_number: p.id_number,
            name: p.name,
        },
        destination_account_no: text("destination_account_no", &r.destination_account_no, 20)?,
        destination_centre: r.destination_centre.clone(),
        origin_centre: r.origin_centre.clone(),
        applied_date: r.applied_date,
        deadline_ms: r.deadline_unix_ms,
    })
}

pub fn record_from(r: &pb::TransferOut) -> HfxResult<TransferRecord> {
    let mut history = Vec::with_capacity(r.history.len());
    for (i, h) in r.history.iter().enumerate() {
        hfx_adapters::model::date_from_u32(h.date).ok_or_else(|| {
            HfxError::invalid(
                format!("history[{i}].date"),
                format!("{} is not a date", h.date),
            )
        })?;
        if !hfx_adapters::model::business_type::ALL.contains(&h.business_type.as_str()) {
            return Err(HfxError::invalid(
                format!("history[{i}].business_type"),
                format!("{:?} is not a business type", h.business_type),
            ));
        }
        history.push(Posting {
            date: h.date,
            business_type: h.business_type.clone(),
            amount_fen: h.amount_fen,
            interest_fen: h.interest_fen,
            for_month: month(&format!("history[{i}].for_month"), h.for_month)?,
        });
    }
    Ok(TransferRecord {
        amount_fen: fen("amount_fen", r.amount_fen)?,
        principal_fen: fen("principal_fen", r.principal_fen)?,
        interest_fen: fen("interest_fen", r.interest_fen)?,
        opened_month: month("opened_month", r.opened_month)?,
        paid_up_to_month: month("paid_up_to_month", r.paid_up_to_month)?,
        six_consecutive_months: r.six_consecutive_months,
        loans_used: r.loans_used,
        unsettled_loan: r.unsettled_loan,
        fraud_flag: r.fraud_flag,
        history,
    })
}

pub fn refusal_from(r: &pb::Refusal) -> HfxResult<Refusal> {
    Ok(Refusal {
        code: text("reason_code", &r.reason_code, 64)?,
        reason: r.reason.chars().take(500).collect(),
    })
}

pub fn payment_from(r: &pb::PaymentNotice) -> HfxResult<Payment> {
    if r.paid && r.bank_reference.trim().is_empty() {
        return Err(HfxError::invalid(
            "bank_reference",
            "a paid notice names the bank's reference",
        ));
    }
    Ok(Payment {
        paid: r.paid,
        bank_ref: r.bank_reference.chars().take(64).collect(),
        amount_fen: fen("amount_fen", r.amount_fen)?,
        reason: r.reason.chars().take(500).collect(),
    })
}

pub fn completion_from(r: &pb::Completion) -> HfxResult<Msg> {
    Ok(Msg::Completion {
        credited: r.credited,
        negotiated: r.negotiated,
        negotiation_reason: r.negotiation_reason.chars().take(500).collect(),
        credited_fen: fen("credited_fen", r.credited_fen)?,
    })
}
