//! A node speaks only for its own people (issue 9, item 3): a peer request whose
//! `acting_person` names a person of another centre than the calling node's is refused and the
//! refusal is recorded.

use crate::common::{member, peer_channel, query, zone};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_node::member::ACTING_PERSON_FOREIGN;
use hfx_proto::v1 as pb;

fn peer_query(m: &hfx_adapters::model::Member, acting: &str) -> (String, pb::PeerMemberQuery) {
    let q = query("", m, pb::Purpose::IdentityConfirmation);
    let id = uuid::Uuid::now_v7().to_string();
    let req = pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: id.clone(),
            purpose: q.purpose,
            acting_person: acting.to_string(),
            ..Default::default()
        }),
        person: q.person,
    };
    (id, req)
}

#[tokio::test(flavor = "multi_thread")]
async fn acting_person_of_another_centre_is_refused_and_recorded() {
    let (_tmp, zone) = zone(3).await;
    let [a, b, c] = [0, 1, 2].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let masked = format!(
        "{} {}",
        hfx_adapters::ids::mask_name(&m.name),
        hfx_adapters::ids::mask_id(&m.id_number)
    );
    // A's node certificate talking to B's peer API, as A's node does.
    let mut to_b =
        pb::member_exchange_client::MemberExchangeClient::new(peer_channel(&zone, &a, &b));

    // Control: A acting for its own clerk is answered.
    let (ok_id, req) = peer_query(&m, &format!("{a}/clerk/c1"));
    to_b.query_member(req)
        .await
        .expect("A acting for its own clerk");

    // A naming a clerk of B (the receiver), then of C (a third centre).
    let mut refused = Vec::new();
    for foreign in [&b, &c] {
        let acting = format!("{foreign}/clerk/c1");
        let (id, req) = peer_query(&m, &acting);
        let e = to_b
            .query_member(req)
            .await
            .expect_err("foreign acting person");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains(ACTING_PERSON_FOREIGN), "{e:?}");
        assert_eq!(crate::common::reason(&e), ACTING_PERSON_FOREIGN, "{e:?}");
        assert!(e.message().contains("header.acting_person"), "{e:?}");
        refused.push((id, acting));
    }

    let records = zone
        .client(&b, Role::Auditor)
        .unwrap()
        .disclosures(200)
        .await
        .unwrap();
    assert!(
        records
            .iter()
            .any(|d| d.message_id == ok_id && d.direction == "sent" && d.outcome == "disclosed"),
        "{records:?}"
    );
    for (id, acting) in &refused {
        let mine: Vec<_> = records.iter().filter(|d| &d.message_id == id).collect();
        assert_eq!(mine.len(), 1, "{id}: one record: {mine:?}");
        let d = mine[0];
        assert_eq!(
            (
                d.direction.as_str(),
                d.peer_centre.as_str(),
                d.acting_person.as_str(),
                d.subject_masked.as_str()
            ),
            // The refusal names whom the request asked about (masked), so the member's own
            // report shows who asked.
            ("refused", a.as_str(), acting.as_str(), masked.as_str()),
            "{d:?}"
        );
        assert_eq!(
            d.outcome,
            format!("refused: {ACTING_PERSON_FOREIGN}"),
            "{d:?}"
        );
    }
}
