//! The operator port (docs/metrics.md): every node of a launcher-built zone serves GET /metrics
//! as OpenMetrics text. Scraped before and after a member query and a transfer, read back with
//! a Prometheus text parser, the counters moved by exactly the calls made (on both sides of
//! each call), the gauges say what the node's state is, and no id number or name of the
//! members used appears anywhere in a scrape.

use crate::common::{member, query};
use crate::transfer::{mover, start_request, transfer_zone, wait_final};
use hfx_adapters::model::AccountStatus;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_zone::launcher::Zone;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every family docs/metrics.md names (as HELP lines name them: counters without `_total`),
/// but `hfx_adapter_errors`: a family without a series is left out of a scrape, and this
/// zone's core systems make no errors.
const FAMILIES: &[&str] = &[
    "grpc_server_handled",
    "grpc_server_handling_seconds",
    "hfx_peer_client_requests",
    "hfx_peer_client_seconds",
    "hfx_peer_up",
    "hfx_store_commit_seconds",
    "hfx_store_commit_batch_size",
    "hfx_log_size",
    "hfx_checkpoint_age_seconds",
    "hfx_witness_lag_entries",
    "hfx_witness_evidence",
    "hfx_outbox_depth",
    "hfx_outbox_oldest_age_seconds",
    "hfx_cases",
    "hfx_cases_stuck",
    "hfx_disclosures",
    "hfx_adapter_seconds",
    "hfx_certificate_expiry_seconds",
    "hfx_crl_expiry_seconds",
    "hfx_directory_expiry_seconds",
    "hfx_node_writer",
    "hfx_node_maintenance",
];

/// One scrape: the raw text and the parsed samples.
struct Scrape {
    text: String,
    parsed: prometheus_parse::Scrape,
}

impl Scrape {
    /// The sum of the samples of `metric` whose labels include `labels` (0 if none).
    fn sum(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        self.parsed
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }

    /// The one sample of `metric` with exactly these `labels`; panics naming it if absent.
    fn one(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let n = self
            .parsed
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .count();
        assert_eq!(n, 1, "{metric}{labels:?}: {n} samples in\n{}", self.text);
        self.sum(metric, labels)
    }
}

/// GET /metrics from `code`'s operator port over plain HTTP/1.1.
async fn scrape(zone: &Zone, code: &str) -> Scrape {
    let addr = zone.ops_addr(code).expect("operator port");
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("{code}: connect {addr}: {e}"));
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("a scrape is UTF-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "a scrape is sent whole: {head}"
    );
    let text = body.to_string();
    assert!(
        text.ends_with("# EOF\n"),
        "an OpenMetrics exposition ends with # EOF"
    );
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("parse the scrape");
    Scrape { text, parsed }
}

/// Wait until `ok` holds for the scrapes of `a` and `b` (metrics of a call's two sides land
/// when each side's response has ended), or 60 s pass; then the last scrapes.
async fn settle(
    zone: &Zone,
    a: &str,
    b: &str,
    ok: impl Fn(&Scrape, &Scrape) -> bool,
) -> (Scrape, Scrape) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (sa, sb) = (scrape(zone, a).await, scrape(zone, b).await);
        if ok(&sa, &sb) || Instant::now() > deadline {
            return (sa, sb);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const HANDLED: &str = "grpc_server_handled_total";
const CLIENT: &str = "hfx_peer_client_requests_total";

fn server_call<'a>(
    service: &'a str,
    method: &'a str,
    code: &'a str,
    peer: &'a str,
) -> [(&'a str, &'a str); 4] {
    [
        ("grpc_service", service),
        ("grpc_method", method),
        ("grpc_code", code),
        ("peer", peer),
    ]
}

/// The peer methods a transfer uses (TransferExchange), each counted on both sides.
const TRANSFER_METHODS: &[&str] = &[
    "SendContactLetter",
    "CancelLetter",
    "SendTransferOut",
    "SendRefusal",
    "SendPayment",
    "SendCompletion",
    "QueryCase",
];

#[tokio::test(flavor = "multi_thread")]
async fn scrapes_count_a_query_and_a_transfer_exactly_and_carry_no_personal_data() {
    let (_tmp, zone) = transfer_zone(2).await;
    let (a, b) = (zone.centres[0].code.clone(), zone.centres[1].code.clone());
    let m = member(&b, AccountStatus::Normal);
    let mv = mover(&b, 0);
    assert_eq!(mv.origin_centre, a);
    let personal = [
        &m.id_number,
        &m.name,
        &mv.dest.id_number,
        &mv.dest.name,
        &mv.origin.id_number,
        &mv.origin.name,
    ];
    let (a0, b0) = (scrape(&zone, &a).await, scrape(&zone, &b).await);

    // A member query from a to b, answered, and one refused (the name does not match).
    let clerk = zone.client(&a, Role::Clerk).unwrap();
    clerk
        .query_member(query(&b, &m, pb::Purpose::IdentityConfirmation))
        .await
        .expect("query answered");
    let mut wrong = query(&b, &m, pb::Purpose::IdentityConfirmation);
    wrong.person.as_mut().unwrap().name = "冒名顶替".into();
    let e = clerk.query_member(wrong).await.expect_err("name mismatch");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);

    let query_moved = |sa: &Scrape, sb: &Scrape| {
        let d = |s: &Scrape, s0: &Scrape, m: &str, l: &[(&str, &str)]| s.sum(m, l) - s0.sum(m, l);
        d(
            sb,
            &b0,
            HANDLED,
            &server_call("hfx.v1.MemberExchange", "QueryMember", "OK", &a),
        ) == 1.0
            && d(
                sb,
                &b0,
                HANDLED,
                &server_call(
                    "hfx.v1.MemberExchange",
                    "QueryMember",
                    "FailedPrecondition",
                    &a,
                ),
            ) == 1.0
            && d(
                sa,
                &a0,
                CLIENT,
                &[("peer", &b), ("method", "QueryMember"), ("code", "OK")],
            ) == 1.0
            && d(
                sa,
                &a0,
                CLIENT,
                &[
                    ("peer", &b),
                    ("method", "QueryMember"),
                    ("code", "FailedPrecondition"),
                ],
            ) == 1.0
    };
    let (a1, b1) = settle(&zone, &a, &b, query_moved).await;
    let d = |s: &Scrape, s0: &Scrape, m: &str, l: &[(&str, &str)]| s.sum(m, l) - s0.sum(m, l);
    // The peer API at b: one OK and one FAILED_PRECONDITION QueryMember, from a.
    assert_eq!(
        d(
            &b1,
            &b0,
            HANDLED,
            &server_call("hfx.v1.MemberExchange", "QueryMember", "OK", &a)
        ),
        1.0
    );
    assert_eq!(
        d(
            &b1,
            &b0,
            HANDLED,
            &server_call(
                "hfx.v1.MemberExchange",
                "QueryMember",
                "FailedPrecondition",
                &a
            )
        ),
        1.0
    );
    assert_eq!(
        d(&b1, &b0, HANDLED, &[("grpc_method", "QueryMember")]),
        2.0,
        "no other QueryMember at b"
    );
    let timed = [
        ("grpc_service", "hfx.v1.MemberExchange"),
        ("grpc_method", "QueryMember"),
        ("grpc_type", "unary"),
        ("peer", a.as_str()),
    ];
    assert_eq!(
        d(&b1, &b0, "grpc_server_handling_seconds_count", &timed),
        2.0
    );
    // The local API at a: the clerk's two calls, as peer "local".
    assert_eq!(
        d(
            &a1,
            &a0,
            HANDLED,
            &server_call("hfx.v1.Clerk", "QueryMember", "OK", "local")
        ),
        1.0
    );
    assert_eq!(
        d(
            &a1,
            &a0,
            HANDLED,
            &server_call("hfx.v1.Clerk", "QueryMember", "FailedPrecondition", "local")
        ),
        1.0
    );
    // a's client side: the same two calls to b, and b is up.
    assert_eq!(
        d(&a1, &a0, CLIENT, &[("peer", &b), ("method", "QueryMember")]),
        2.0
    );
    assert_eq!(
        d(
            &a1,
            &a0,
            "hfx_peer_client_seconds_count",
            &[("peer", &b), ("method", "QueryMember")]
        ),
        2.0
    );
    assert_eq!(a1.one("hfx_peer_up", &[("peer", &b)]), 1.0);
    // Disclosures: b sent one and refused one; a received one.
    assert_eq!(
        d(
            &b1,
            &b0,
            "hfx_disclosures_total",
            &[
                ("purpose", "identity_confirmation"),
                ("direction", "sent"),
                ("outcome", "disclosed")
            ]
        ),
        1.0,
        "{}",
        b1.text
    );
    assert_eq!(
        d(
            &b1,
            &b0,
            "hfx_disclosures_total",
            &[("purpose", "identity_confirmation"), ("outcome", "refused")]
        ),
        1.0,
        "{}",
        b1.text
    );
    assert_eq!(
        d(
            &a1,
            &a0,
            "hfx_disclosures_total",
            &[
                ("purpose", "identity_confirmation"),
                ("direction", "received"),
                ("outcome", "received")
            ]
        ),
        1.0,
        "{}",
        a1.text
    );
    // b's core system was asked for the member twice (found; found, name differs).
    assert_eq!(
        d(
            &b1,
            &b0,
            "hfx_adapter_seconds_count",
            &[("operation", "member_by_id")]
        ),
        2.0
    );
    assert_eq!(b1.sum("hfx_adapter_errors_total", &[]), 0.0);
    // Every commit was timed and sized.
    assert!(
        b1.sum("hfx_store_commit_seconds_count", &[])
            > b0.sum("hfx_store_commit_seconds_count", &[])
    );
    assert!(
        b1.sum("hfx_store_commit_batch_size_sum", &[])
            >= b1.sum("hfx_store_commit_batch_size_count", &[])
    );

    // A transfer of mv's account from a (origin) to b (destination).
    let v = zone
        .client(&b, Role::Clerk)
        .unwrap()
        .start_transfer(start_request(&mv))
        .await
        .expect("transfer started");
    assert_eq!(wait_final(&zone, &b, &v.case_id, 60).await.state, "done");
    assert_eq!(wait_final(&zone, &a, &v.case_id, 60).await.state, "done");
    // Each TransferExchange call counted once by its caller and once by its receiver.
    let both_sides = |sa: &Scrape, sb: &Scrape| {
        TRANSFER_METHODS.iter().all(|m| {
            let a_sent = d(sa, &a1, CLIENT, &[("peer", &b), ("method", m)]);
            let b_got = d(sb, &b1, HANDLED, &[("grpc_method", m), ("peer", &a)]);
            let b_sent = d(sb, &b1, CLIENT, &[("peer", &a), ("method", m)]);
            let a_got = d(sa, &a1, HANDLED, &[("grpc_method", m), ("peer", &b)]);
            a_sent == b_got && b_sent == a_got
        }) && sa.one("hfx_outbox_depth", &[]) == 0.0
            && sb.one("hfx_outbox_depth", &[]) == 0.0
    };
    let (a2, b2) = settle(&zone, &a, &b, both_sides).await;
    for m in TRANSFER_METHODS {
        assert_eq!(
            d(&a2, &a1, CLIENT, &[("peer", &b), ("method", m)]),
            d(&b2, &b1, HANDLED, &[("grpc_method", m), ("peer", &a)]),
            "{m}: a's calls to b and b's count of them"
        );
        assert_eq!(
            d(&b2, &b1, CLIENT, &[("peer", &a), ("method", m)]),
            d(&a2, &a1, HANDLED, &[("grpc_method", m), ("peer", &b)]),
            "{m}: b's calls to a and a's count of them"
        );
    }
    // The letter went from b to a, and at least once the origin's transfer-out came back.
    assert!(
        d(
            &b2,
            &b1,
            CLIENT,
            &[
                ("peer", &a),
                ("method", "SendContactLetter"),
                ("code", "OK")
            ]
        ) >= 1.0
    );
    assert!(
        d(
            &a2,
            &a1,
            CLIENT,
            &[("peer", &b), ("method", "SendTransferOut"), ("code", "OK")]
        ) >= 1.0
    );
    assert_eq!(
        d(
            &b2,
            &b1,
            HANDLED,
            &server_call("hfx.v1.Clerk", "StartTransfer", "OK", "local")
        ),
        1.0
    );
    // The origin held and closed the account once; the destination credited it once.
    assert_eq!(
        d(
            &a2,
            &a1,
            "hfx_adapter_seconds_count",
            &[("operation", "reserve")]
        ),
        1.0
    );
    assert_eq!(
        d(
            &a2,
            &a1,
            "hfx_adapter_seconds_count",
            &[("operation", "close_out")]
        ),
        1.0
    );
    assert_eq!(
        d(
            &b2,
            &b1,
            "hfx_adapter_seconds_count",
            &[("operation", "credit_in")]
        ),
        1.0
    );
    // Case gauges: one more done case each side, none stuck, the outbox empty.
    for (s, s1) in [(&a2, &a1), (&b2, &b1)] {
        assert_eq!(
            s.sum("hfx_cases", &[("state", "done")]) - s1.sum("hfx_cases", &[("state", "done")]),
            1.0,
            "{}",
            s.text
        );
        assert_eq!(s.one("hfx_cases_stuck", &[]), 0.0);
        assert_eq!(s.one("hfx_outbox_oldest_age_seconds", &[]), 0.0);
    }

    // State gauges, against what the node says of itself.
    for (code, s) in [(&a, &a2), (&b, &b2)] {
        for f in FAMILIES {
            assert!(
                s.parsed.docs.contains_key(*f),
                "{code}: no family {f} in\n{}",
                s.text
            );
        }
        let status = zone
            .client(code, Role::Operator)
            .unwrap()
            .status()
            .await
            .unwrap();
        let size = s.one("hfx_log_size", &[]);
        assert!(
            size > 0.0 && size <= status.log_size as f64,
            "{code}: {size} vs {}",
            status.log_size
        );
        assert_eq!(s.one("hfx_witness_evidence", &[]), 0.0);
        assert_eq!(s.one("hfx_node_writer", &[]), 1.0);
        assert_eq!(s.one("hfx_node_maintenance", &[]), 0.0);
        for cert in ["node", "root"] {
            let left = s.one("hfx_certificate_expiry_seconds", &[("certificate", cert)]);
            assert!(
                left > 86_400.0,
                "{code}: {cert} certificate expires in {left} s"
            );
        }
        assert!(s.one("hfx_crl_expiry_seconds", &[]) > 0.0);
        let dir_left = s.one("hfx_directory_expiry_seconds", &[]);
        assert!(
            (dir_left - (status.directory_expires_unix - hfx_node::now_ms() / 1000) as f64).abs()
                < 600.0,
            "{code}: directory expiry {dir_left}"
        );
        let other = if code == &a { &b } else { &a };
        let lag = s.one("hfx_witness_lag_entries", &[("peer", other)]);
        assert!(
            lag >= 0.0 && lag <= size,
            "{code}: witness lag {lag} of {size}"
        );
        assert!(s.one("hfx_checkpoint_age_seconds", &[]) >= 0.0);
    }

    // No personal data anywhere: no full id number or name of the members used (nor any
    // other name: a scrape is ASCII only), in any scrape taken.
    for s in [&a0, &b0, &a1, &b1, &a2, &b2] {
        assert!(s.text.is_ascii(), "non-ASCII text in a scrape:\n{}", s.text);
        for p in personal {
            assert!(!s.text.contains(p.as_str()), "{p} in a scrape");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_port_serves_only_metrics() {
    let (_tmp, zone) = crate::common::zone(1).await;
    let code = zone.centres[0].code.clone();
    let addr = zone.ops_addr(&code).unwrap();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "loopback by default: {addr}"
    );
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /secrets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    // And a zone asked for none has none.
    let (_tmp2, quiet) = crate::common::zone_with(1, |s| s.ops = false).await;
    let e = quiet.ops_addr(&quiet.centres[0].code).unwrap_err();
    assert!(
        format!("{e:#}").contains("without an operator port"),
        "{e:#}"
    );
}
