//! OpenTelemetry traces across centres (docs/tracing.md): the nodes of a zone export to an
//! OTLP/gRPC receiver in this test process (the collector's own `TraceService`, from
//! `opentelemetry-proto`), and one cross-centre member query must show as one trace with
//! spans from both centres, the asking centre's client span the parent of the answering
//! centre's server span, and not one attribute holding the member's id number or name. A
//! transfer is one trace too, from the clerk's StartTransfer through both centres' relay
//! sends and driver steps (which run from the store and join by the case's traceparent).

use crate::common::{member, query, zone_with};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One exported span, flattened with its resource.
#[derive(Debug, Clone)]
struct Seen {
    /// Resource `hfx.centre`.
    centre: String,
    service: String,
    name: String,
    /// OTLP span kind (server, client, internal).
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent: Vec<u8>,
    /// Span and event attributes, as text.
    attrs: Vec<(String, String)>,
}

impl Seen {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The in-process collector: keeps every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Seen>>>,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

#[async_trait::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut seen = Vec::new();
        for rs in request.into_inner().resource_spans {
            let res = pairs(
                rs.resource
                    .as_ref()
                    .map(|r| &r.attributes[..])
                    .unwrap_or(&[]),
            );
            let find = |k: &str| {
                res.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let mut attrs = pairs(&s.attributes);
                    for e in &s.events {
                        attrs.push(("event".into(), e.name.clone()));
                        attrs.extend(pairs(&e.attributes));
                    }
                    attrs.push((
                        "status.message".into(),
                        s.status.map(|st| st.message).unwrap_or_default(),
                    ));
                    attrs.extend(res.iter().cloned());
                    seen.push(Seen {
                        centre: find("hfx.centre"),
                        service: find("service.name"),
                        name: s.name,
                        kind: s.kind,
                        trace_id: s.trace_id,
                        span_id: s.span_id,
                        parent: s.parent_span_id,
                        attrs,
                    });
                }
            }
        }
        self.got.lock().unwrap().extend(seen);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// The query's spans, once both centres have exported them: (asking centre's local server
/// span, its client span to the peer, the peer's server span), all of one trace.
fn find_query(got: &[Seen], a: &str, b: &str) -> Option<(Seen, Seen, Seen)> {
    let server_b = got.iter().find(|s| {
        s.centre == b
            && s.name == "hfx.v1.MemberExchange/QueryMember"
            && s.kind == SpanKind::Server as i32
            && !s.parent.is_empty()
    })?;
    let same = |s: &&Seen| s.trace_id == server_b.trace_id;
    let client_a = got.iter().filter(same).find(|s| {
        s.centre == a
            && s.kind == SpanKind::Client as i32
            && s.name == "hfx.v1.MemberExchange/QueryMember"
    })?;
    let local_a = got.iter().filter(same).find(|s| {
        s.centre == a && s.kind == SpanKind::Server as i32 && s.name == "hfx.v1.Clerk/QueryMember"
    })?;
    Some((local_a.clone(), client_a.clone(), server_b.clone()))
}

/// Serve a [`Receiver`] on a loopback port: its endpoint URL and what it got.
async fn collector() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    let got = receiver.got.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (format!("http://{addr}"), got)
}

/// Fails when any exported span name or attribute holds one of `secrets`.
fn assert_no_personal_data(all: &[Seen], secrets: &[&str]) {
    for s in all {
        for text in std::iter::once(&s.name).chain(s.attrs.iter().map(|(_, v)| v)) {
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "span {} of {} holds personal data: {text:?}",
                    s.name,
                    s.centre
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_covers_a_member_query_across_two_centres_without_personal_data() {
    let (endpoint, got) = collector().await;

    let (_tmp, zone) = zone_with(2, |s| {
        s.otlp_endpoint = Some(endpoint);
        s.log_level = "info".into();
    })
    .await;
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let clerk = zone.client(&a, Role::Clerk).unwrap();
    let r = clerk
        .query_member(query(&b, &m, pb::Purpose::LoanApplication))
        .await
        .unwrap();
    assert_eq!(r.member.unwrap().centre, b);

    // Spans leave each node in batches (200 ms in a launcher zone): wait generously.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (local_a, client_a, server_b) = loop {
        let snapshot = got.lock().unwrap().clone();
        if let Some(found) = find_query(&snapshot, &a, &b) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no trace with both centres' query spans; got {} spans: {:?}",
            snapshot.len(),
            snapshot
                .iter()
                .map(|s| (&s.centre, &s.name))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // One trace: the clerk's call at A is the root, A's call to B its child, B's handling
    // the child of that, propagated by `traceparent` in the gRPC metadata.
    assert_eq!(local_a.trace_id, server_b.trace_id);
    assert!(
        local_a.parent.is_empty(),
        "the clerk's call starts the trace"
    );
    assert_eq!(client_a.trace_id, server_b.trace_id);
    assert_eq!(
        server_b.parent, client_a.span_id,
        "B's server span has A's client span as parent"
    );
    assert_ne!(a, b);
    assert_eq!(
        (local_a.service.as_str(), server_b.service.as_str()),
        ("hfx-node", "hfx-node")
    );
    assert_eq!(client_a.attr("peer"), Some(b.as_str()));
    assert_eq!(server_b.attr("centre"), Some(b.as_str()));
    assert_eq!(local_a.attr("centre"), Some(a.as_str()));

    // B's adapter call and store commit are in the same trace (they may be exported a batch
    // after the server span: wait for them too).
    let trace = server_b.trace_id.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot = got.lock().unwrap().clone();
        let in_trace = |name: &str| {
            snapshot
                .iter()
                .any(|s| s.trace_id == trace && s.centre == b && s.name == name)
        };
        if in_trace("adapter member_by_id") && in_trace("store.commit") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's adapter and store spans are not in the trace: {:?}",
            snapshot
                .iter()
                .filter(|s| s.trace_id == trace)
                .map(|s| (&s.centre, &s.name))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // No personal data anywhere in what was exported: not in a name, an attribute, an event.
    let all = got.lock().unwrap().clone();
    for s in all.iter().filter(|s| s.trace_id == trace) {
        eprintln!("{} {:?} {} {:?}", s.centre, s.kind, s.name, s.attrs);
    }
    assert!(all.len() >= 5);
    assert_no_personal_data(&all, &[&m.id_number, &m.name]);
}

/// What one transfer case exported.
struct TransferSpans {
    /// The clerk's StartTransfer server span at the destination.
    start: Seen,
    /// Every span carrying the case id, at either centre.
    of_case: Vec<Seen>,
    /// The origin's server spans for the contact letter.
    letters: Vec<Seen>,
    /// The destination's server spans for the origin's messages.
    answers: Vec<Seen>,
}

/// The spans of one transfer case, once both centres' relays and drivers and both centres'
/// peer servers have exported at least one span for it.
fn find_transfer(got: &[Seen], dest: &str, origin: &str, case_id: &str) -> Option<TransferSpans> {
    let start = got.iter().find(|s| {
        s.centre == dest
            && s.kind == SpanKind::Server as i32
            && s.name == "hfx.v1.Clerk/StartTransfer"
    })?;
    let of_case: Vec<Seen> = got
        .iter()
        .filter(|s| s.attr("case_id") == Some(case_id))
        .cloned()
        .collect();
    let has =
        |centre: &str, name: &str| of_case.iter().any(|s| s.centre == centre && s.name == name);
    let letters: Vec<Seen> = got
        .iter()
        .filter(|s| {
            s.centre == origin
                && s.kind == SpanKind::Server as i32
                && s.name == "hfx.v1.TransferExchange/SendContactLetter"
        })
        .cloned()
        .collect();
    let answers: Vec<Seen> = got
        .iter()
        .filter(|s| {
            s.centre == dest
                && s.kind == SpanKind::Server as i32
                && s.name.starts_with("hfx.v1.TransferExchange/")
        })
        .cloned()
        .collect();
    let all = has(dest, "transfer.relay")
        && has(dest, "transfer.step")
        && has(origin, "transfer.relay")
        && has(origin, "transfer.step")
        && !letters.is_empty()
        && !answers.is_empty();
    all.then(|| TransferSpans {
        start: start.clone(),
        of_case,
        letters,
        answers,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_covers_a_transfer_at_both_centres_from_the_clerks_start() {
    let (endpoint, got) = collector().await;
    let (_tmp, zone) = zone_with(2, |s| {
        s.otlp_endpoint = Some(endpoint);
        s.members_per_centre = 1500;
        s.log_level = "info".into();
    })
    .await;
    let dest = zone.centres[1].code.clone();
    let m = crate::transfer::mover(&dest, 0);
    let origin = m.origin_centre.clone();
    assert_eq!(origin, zone.centres[0].code);
    let clerk = zone.client(&dest, Role::Clerk).unwrap();
    let v = clerk
        .start_transfer(crate::transfer::start_request(&m))
        .await
        .unwrap();
    let d = crate::transfer::wait_final(&zone, &dest, &v.case_id, 60).await;
    assert_eq!(d.state, "done");

    // Wait until both centres' relay sends and driver steps for the case are exported
    // (batches leave every 200 ms in a launcher zone: wait generously).
    let deadline = Instant::now() + Duration::from_secs(90);
    let TransferSpans {
        start,
        of_case,
        letters,
        answers,
    } = loop {
        let snapshot = got.lock().unwrap().clone();
        if let Some(found) = find_transfer(&snapshot, &dest, &origin, &v.case_id) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "not all of case {}'s relay and driver spans at both centres arrived; got {:?}",
            v.case_id,
            snapshot
                .iter()
                .map(|s| (&s.centre, &s.name, s.attr("case_id")))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // The clerk's call starts the trace, and every span of the case, at either centre, is
    // in it: the relays' sends and the drivers' steps run from the store, long after the
    // call, and join it by the traceparent stored with the case.
    assert!(start.parent.is_empty(), "the clerk's start is the root");
    let trace = start.trace_id.clone();
    let strays: Vec<_> = of_case
        .iter()
        .filter(|s| s.trace_id != trace)
        .map(|s| (&s.centre, &s.name, &s.attrs))
        .collect();
    assert!(
        strays.is_empty(),
        "spans of case {} outside the clerk's trace: {strays:?}",
        v.case_id
    );
    for centre in [&dest, &origin] {
        assert!(
            of_case.iter().any(|s| &s.centre == centre),
            "no span of the case at {centre}"
        );
    }
    // The destination's relay and driver spans are children of the clerk's StartTransfer.
    for s in of_case
        .iter()
        .filter(|s| s.centre == dest && (s.name == "transfer.relay" || s.name == "transfer.step"))
    {
        assert_eq!(
            s.parent, start.span_id,
            "{} at the destination is a child of StartTransfer",
            s.name
        );
    }
    // The origin's are children of its server span for the contact letter that made its case
    // (which is itself in the clerk's trace, under the destination's relay send).
    assert!(letters.iter().any(|l| l.trace_id == trace));
    for s in of_case
        .iter()
        .filter(|s| s.centre == origin && (s.name == "transfer.relay" || s.name == "transfer.step"))
    {
        assert!(
            letters
                .iter()
                .any(|l| l.trace_id == trace && l.span_id == s.parent),
            "{} at the origin is a child of the contact letter's server span",
            s.name
        );
    }
    // The destination's handling of the origin's messages (its server spans) is in it too.
    assert!(answers.iter().any(|s| s.trace_id == trace));
    let snapshot = got.lock().unwrap().clone();
    assert_no_personal_data(
        &snapshot,
        &[
            &m.dest.id_number,
            &m.dest.name,
            &m.origin.id_number,
            &m.origin.name,
        ],
    );
}
