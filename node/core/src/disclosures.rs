//! Listing disclosure records (`Audit/ListDisclosures`): the filters of `hfx disclosures`,
//! validated at the edge, including the member's own report (PIPL art. 45: which centres saw
//! which of a member's data, when, why and on what basis).
//!
//! A member is found by the store's keyed hash of the id ([`crate::store::Store::subject_key`]),
//! never by the masked text (`320102****0011` is shared by many people). Records written
//! before store schema 5 carry no key and are not found by member.

use crate::error::{HfxError, HfxResult};
use crate::member::{id_type_from_pb, purpose_name};
use crate::node::Node;
use crate::store::disclosures::DisclosureFilter;
use hfx_adapters::ids::{validate_centre_code, validate_person_id};
use hfx_proto::v1 as pb;

/// The most records one call lists.
pub const MAX_LIMIT: u32 = 10_000;

/// The store filter a query asks for, or the field that is wrong.
pub fn filter(node: &Node, q: pb::DisclosureQuery) -> HfxResult<DisclosureFilter> {
    let mut f = DisclosureFilter {
        limit: i64::from(q.limit.clamp(1, MAX_LIMIT)),
        ..Default::default()
    };
    if !q.member_id_number.is_empty() || q.member_id_type != 0 {
        let id_type = id_type_from_pb(q.member_id_type).ok_or_else(|| {
            HfxError::invalid(
                "member_id_type",
                format!(
                    "{} is not an id type (01, 02, 03, 04, 99)",
                    q.member_id_type
                ),
            )
        })?;
        let id = validate_person_id("member_id_number", id_type, &q.member_id_number)?;
        f.subject_key = Some(node.store.subject_key(id_type.code(), &id));
    }
    if !q.peer_centre.is_empty() {
        // A code is taken as it is: an auditor filters by a centre that has left the zone too.
        let code = q.peer_centre.trim();
        f.peer = Some(if code.chars().all(|c| c.is_ascii_digit()) {
            validate_centre_code("peer_centre", code)?
        } else {
            crate::directory::resolve_centre(&node.trust.directory(), "peer_centre", code)?
        });
    }
    if q.purpose != 0 {
        let p = pb::Purpose::try_from(q.purpose)
            .ok()
            .and_then(|p| hfx_model::purpose::Purpose::from_wire(p))
            .ok_or_else(|| {
                HfxError::invalid("purpose", format!("{} is not a purpose", q.purpose))
            })?;
        f.purpose = Some(purpose_name(p.wire).to_string());
    }
    if !q.direction.is_empty() {
        if !matches!(q.direction.as_str(), "sent" | "received" | "refused") {
            return Err(HfxError::invalid(
                "direction",
                format!("{:?} is not sent, received or refused", q.direction),
            ));
        }
        f.direction = Some(q.direction);
    }
    if !q.outcome_prefix.is_empty() {
        if q.outcome_prefix.chars().count() > 64 {
            return Err(HfxError::invalid(
                "outcome_prefix",
                "is longer than 64 characters",
            ));
        }
        f.outcome_prefix = Some(q.outcome_prefix);
    }
    if q.since_unix_ms < 0 || q.until_unix_ms < 0 {
        return Err(HfxError::invalid("since_unix_ms", "times are not negative"));
    }
    if q.since_unix_ms > 0 && q.until_unix_ms > 0 && q.until_unix_ms <= q.since_unix_ms {
        return Err(HfxError::invalid(
            "until_unix_ms",
            "is not after since_unix_ms",
        ));
    }
    f.since_ms = (q.since_unix_ms > 0).then_some(q.since_unix_ms);
    f.until_ms = (q.until_unix_ms > 0).then_some(q.until_unix_ms);
    Ok(f)
}
