//! The clerk's faces of a transfer: start (at the destination), status, list, cancel and
//! resolve. Bad input is refused before anything is written, with the field or the
//! conflicting case named.

use super::{Applied, apply_stored, case_of, commit, is_conflict, person_hash, view};
use crate::auth::Caller;
use crate::error::{HfxError, HfxResult};
use crate::member::{check_message_id, validate_person};
use crate::node::Node;
use crate::store::cases::CaseFilter;
use hfx_adapters::model::AccountStatus;
use hfx_adapters::{MemberMatch, find_member};
use hfx_case::{Case, CaseError, Event, Letter, Person, Role};
use hfx_proto::v1 as pb;
use tonic::Code;

/// A second case for a person who already has one in flight here.
pub const TRANSFER_IN_FLIGHT: &str = "TRANSFER_IN_FLIGHT";
/// Past 9,999 letters in one day.
pub const LETTER_NUMBERS_EXHAUSTED: &str = "LETTER_NUMBERS_EXHAUSTED";
/// No settlement bank is configured: this node takes no transfers.
pub const TRANSFERS_DISABLED: &str = "TRANSFERS_DISABLED";
/// A clerk's move the rules do not allow now.
pub const MOVE_NOT_ALLOWED: &str = "MOVE_NOT_ALLOWED";

/// China Standard Time (UTC+8): the centres' calendar day numbers the letters.
fn local_today() -> chrono::NaiveDate {
    let offset = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    chrono::Utc::now().with_timezone(&offset).date_naive()
}

fn in_flight(other: &str) -> HfxError {
    HfxError::refused(
        Code::AlreadyExists,
        TRANSFER_IN_FLIGHT,
        format!("person: a transfer for this person is already in flight here: case {other}"),
    )
}

/// D: a clerk starts a transfer of a member's account from `origin_centre` to us.
pub async fn start(
    node: &Node,
    caller: &Caller,
    req: pb::StartTransferRequest,
) -> HfxResult<pb::TransferView> {
    if node.bank.is_none() {
        return Err(HfxError::refused(
            Code::FailedPrecondition,
            TRANSFERS_DISABLED,
            "this node has no settlement bank configured ([transfer] bank_url): it takes no transfers",
        ));
    }
    let origin = crate::directory::resolve_centre(
        &node.trust.directory(),
        "origin_centre",
        &req.origin_centre,
    )?;
    if origin == node.centre {
        return Err(HfxError::invalid(
            "origin_centre",
            "is this centre: a move within one centre is an internal transfer (06), not an exchange",
        ));
    }
    let person = validate_person(req.person.as_ref())?;
    let case_id = if req.case_id.is_empty() {
        uuid::Uuid::now_v7().hyphenated().to_string()
    } else {
        let id = check_message_id("case_id", &req.case_id)?;
        if let Some(row) = node.store.case_get(&id).await? {
            // A retried start answers the case it started.
            return Ok(view(&case_of(&row)?, Some(&row)));
        }
        id
    };
    let m = match find_member(
        node.core.as_ref(),
        person.id_type,
        &person.id_number,
        &person.name,
    )
    .await?
    {
        MemberMatch::Found(m) => m,
        MemberMatch::NotFound => {
            return Err(HfxError::invalid(
                "person",
                "has no account at this centre: a transfer comes into an open account, open one first",
            ));
        }
        MemberMatch::NameMismatch => {
            return Err(HfxError::invalid(
                "person.name",
                "does not match this centre's account for the id",
            ));
        }
    };
    if !req.destination_account_no.is_empty() && req.destination_account_no.trim() != m.account_no {
        return Err(HfxError::invalid(
            "destination_account_no",
            "is not this member's account here",
        ));
    }
    if m.status != AccountStatus::Normal {
        return Err(HfxError::invalid(
            "destination_account_no",
            format!(
                "the account here is not open and depositing (status {})",
                m.status.code()
            ),
        ));
    }
    let hash = person_hash(person.id_type.code(), &person.id_number);
    if let Some(other) = node
        .store
        .case_in_flight(Role::Destination.as_str(), &hash)
        .await?
    {
        return Err(in_flight(&other));
    }
    let today = local_today();
    let yymmdd: u32 = today.format("%y%m%d").to_string().parse().unwrap_or(0);
    let prefix = node.centre.get(..6).unwrap_or(&node.centre).to_string();
    let seq = node.store.letter_next(&prefix, yymmdd as i64).await?;
    let letter_no = u32::try_from(seq)
        .ok()
        .and_then(|s| hfx_case::letter_no(&node.centre, yymmdd, s))
        .ok_or_else(|| {
            HfxError::refused(
                Code::ResourceExhausted,
                LETTER_NUMBERS_EXHAUSTED,
                format!("centre {} has issued 9,999 contact letters today ({yymmdd}); the next can be issued tomorrow", node.centre),
            )
        })?;
    let now = crate::now_ms();
    let letter = Letter {
        letter_no,
        person: Person {
            id_type: person.id_type.code().to_string(),
            id_number: person.id_number.clone(),
            name: person.name.clone(),
        },
        destination_account_no: m.account_no.clone(),
        destination_centre: node.centre.clone(),
        origin_centre: origin,
        applied_date: hfx_adapters::model::date_to_u32(today),
        deadline_ms: now + node.cfg.transfer.letter_deadline_secs as i64 * 1000,
    };
    let mut t = Case::start(&case_id, letter, now);
    t.case.mark_acting(0, &caller.label());
    match commit(node, None, &t, &caller.label(), vec![]).await {
        Ok(()) => {}
        Err(e) if is_conflict(&e) => {
            if let Some(row) = node.store.case_get(&case_id).await? {
                return Ok(view(&case_of(&row)?, Some(&row)));
            }
            return match node
                .store
                .case_in_flight(Role::Destination.as_str(), &hash)
                .await?
            {
                Some(other) => Err(in_flight(&other)),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    }
    let row = node.store.case_get(&case_id).await?;
    Ok(view(&t.case, row.as_ref()))
}

async fn load(node: &Node, case_id: &str) -> HfxResult<(crate::store::cases::CaseRow, Case)> {
    let id = check_message_id("case_id", case_id)?;
    let row = node
        .store
        .case_get(&id)
        .await?
        .ok_or_else(|| HfxError::NotFound(format!("no transfer case {id} at this centre")))?;
    let c = case_of(&row)?;
    Ok((row, c))
}

pub async fn get(node: &Node, req: pb::GetTransferRequest) -> HfxResult<pb::TransferView> {
    let (row, c) = load(node, &req.case_id).await?;
    Ok(view(&c, Some(&row)))
}

pub async fn list(node: &Node, req: pb::ListTransfersRequest) -> HfxResult<pb::TransferList> {
    let rows = node
        .store
        .cases(CaseFilter {
            include_final: req.include_final,
            stuck_only: req.stuck_only,
            limit: if req.limit == 0 {
                200
            } else {
                req.limit.min(10_000) as i64
            },
        })
        .await?;
    let mut cases = Vec::with_capacity(rows.len());
    for r in &rows {
        cases.push(view(&case_of(r)?, Some(r)));
    }
    Ok(pb::TransferList { cases })
}

fn not_allowed(e: CaseError) -> HfxError {
    HfxError::refused(Code::FailedPrecondition, MOVE_NOT_ALLOWED, e.to_string())
}

/// A clerk's move on a case: applied under the case's lock, committed, answered.
async fn clerk_move(
    node: &Node,
    caller: &Caller,
    case_id: &str,
    ev: Event,
) -> HfxResult<pb::TransferView> {
    let (_, c) = load(node, case_id).await?;
    match apply_stored(node, &c.case_id, Some(ev), &caller.label(), vec![]).await? {
        Applied::NotTaken(e) => Err(not_allowed(e)),
        Applied::NoCase => Err(HfxError::NotFound(format!(
            "no transfer case {case_id} at this centre"
        ))),
        Applied::Moved | Applied::Unchanged => {
            let (row, c) = load(node, &c.case_id).await?;
            Ok(view(&c, Some(&row)))
        }
    }
}

pub async fn cancel(
    node: &Node,
    caller: &Caller,
    req: pb::CancelTransferRequest,
) -> HfxResult<pb::TransferView> {
    let reason = req.reason.trim();
    let reason = if reason.is_empty() {
        "cancelled by the destination's clerk"
    } else {
        reason
    };
    clerk_move(
        node,
        caller,
        &req.case_id,
        Event::ClerkCancel {
            reason: reason.chars().take(200).collect(),
        },
    )
    .await
}

pub async fn resolve(
    node: &Node,
    caller: &Caller,
    req: pb::ResolveTransferRequest,
) -> HfxResult<pb::TransferView> {
    match req.action.trim() {
        "accept" => clerk_move(node, caller, &req.case_id, Event::ClerkAccept).await,
        "retry" => {
            let (row, c) = load(node, &req.case_id).await?;
            if c.is_final() {
                return Err(HfxError::refused(
                    Code::FailedPrecondition,
                    MOVE_NOT_ALLOWED,
                    format!(
                        "case {} is final ({}): nothing to retry",
                        c.case_id, c.status
                    ),
                ));
            }
            node.store
                .outbox_due_now(&c.case_id, crate::now_ms())
                .await?;
            node.store.case_set_stuck(&c.case_id, None).await?;
            node.transfers.relay_wake.notify_one();
            node.transfers.kick(&c.case_id);
            tracing::info!(case = %c.case_id, clerk = %caller.label(), "transfer step retried by a clerk");
            let row = node.store.case_get(&c.case_id).await?.unwrap_or(row);
            Ok(view(&c, Some(&row)))
        }
        other => Err(HfxError::invalid(
            "action",
            format!(
                "{other:?} is not a move: accept (settle a negotiation) or retry (try the waiting step now)"
            ),
        )),
    }
}
