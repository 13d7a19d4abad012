//! The role matrix of docs/roles.md, every cell, on a real node. The cells come from the
//! document; a first test holds the document to the code's table
//! (`hfx_node::server::local::ROLES`) and to the `.proto` files, so none of the three can
//! drift from the others. (A person certificate on the peer API is also refused in
//! `tls_refusals::every_refusal_fails_the_first_call`; here it is tried on every peer method.)

use crate::common::{peer_channel, reason, zone};
use hfx_certs::Role;
use hfx_zone::launcher::Zone;
use std::collections::BTreeSet;
use std::path::PathBuf;
use tonic::Code;
use tonic::transport::Channel;

const PERSONS: [Role; 3] = [Role::Clerk, Role::Auditor, Role::Operator];

/// The hfx-reason of a role refusal.
/// The reason of a refusal by the role table (a role it does not name, or a method it does
/// not list).
const REFUSED: &str = "ROLE_NOT_ALLOWED";
/// The reason of a refusal of the wrong kind of certificate for the API.
const WRONG_CERTIFICATE: &str = "PERMISSION_DENIED";

/// One row of the matrix in docs/roles.md.
#[derive(Debug)]
struct Cell {
    api: String,
    method: String,
    /// The roles of the yes cells, in `PERSONS` order.
    persons: Vec<Role>,
    node: bool,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let p = workspace().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The rows of the matrix table in docs/roles.md.
fn matrix() -> Vec<Cell> {
    let text = read("docs/roles.md");
    let mut header = false;
    let mut rows = Vec::new();
    for line in text.lines() {
        let Some(inner) = line
            .trim()
            .strip_prefix('|')
            .and_then(|l| l.strip_suffix('|'))
        else {
            continue;
        };
        let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
        if cells[0] == "API" {
            assert_eq!(
                cells,
                [
                    "API",
                    "Method",
                    "clerk",
                    "auditor",
                    "operator",
                    "node certificate"
                ],
                "docs/roles.md: the matrix's columns"
            );
            header = true;
            continue;
        }
        if !["local", "peer", "console"].contains(&cells[0]) {
            continue;
        }
        assert_eq!(cells.len(), 6, "docs/roles.md: {line}");
        let yes = |c: &str| match c {
            "yes" => true,
            "no" => false,
            other => panic!("docs/roles.md: cell {other:?} is neither yes nor no: {line}"),
        };
        rows.push(Cell {
            api: cells[0].to_string(),
            method: cells[1].trim_matches('`').to_string(),
            persons: PERSONS
                .iter()
                .zip(&cells[2..5])
                .filter(|(_, c)| yes(c))
                .map(|(r, _)| *r)
                .collect(),
            node: yes(cells[5]),
        });
    }
    assert!(header, "docs/roles.md: no matrix table");
    rows
}

fn rows<'a>(m: &'a [Cell], api: &str) -> Vec<&'a Cell> {
    m.iter().filter(|c| c.api == api).collect()
}

/// Every method of a .proto file by its full gRPC path.
fn proto_methods(rel: &str) -> BTreeSet<String> {
    let text = read(rel);
    let mut package = None;
    let mut service = None;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(p) = l.strip_prefix("package ") {
            package = Some(p.trim_end_matches(';').trim().to_string());
        } else if let Some(s) = l.strip_prefix("service ") {
            service = s.split_whitespace().next().map(str::to_string);
        } else if let Some(r) = l.strip_prefix("rpc ") {
            let name = r.split('(').next().unwrap_or_default().trim();
            let (Some(p), Some(s)) = (&package, &service) else {
                panic!("{rel}: rpc {name} outside a service");
            };
            out.insert(format!("/{p}.{s}/{name}"));
        }
    }
    assert!(!out.is_empty(), "{rel}: no rpc found");
    out
}

#[test]
fn roles_doc_equals_the_code_table_and_the_protos() {
    let m = matrix();
    let local = rows(&m, "local");
    let peer = rows(&m, "peer");

    // Every RPC of each API has exactly one row, and no row names a method that is not one.
    let doc_local: Vec<&str> = local.iter().map(|c| c.method.as_str()).collect();
    let doc_peer: Vec<&str> = peer.iter().map(|c| c.method.as_str()).collect();
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(set(&doc_local).len(), doc_local.len(), "a local row twice");
    assert_eq!(set(&doc_peer).len(), doc_peer.len(), "a peer row twice");
    assert_eq!(
        set(&doc_local),
        proto_methods("proto/proto/hfx/v1/local.proto"),
        "docs/roles.md local rows vs local.proto"
    );
    assert_eq!(
        set(&doc_peer),
        proto_methods("proto/proto/hfx/v1/peer.proto"),
        "docs/roles.md peer rows vs peer.proto"
    );

    // The local rows are the code's table, cell by cell; a node certificate gets none.
    let code = hfx_node::server::local::ROLES;
    assert_eq!(
        code.iter()
            .map(|(m, _)| m.to_string())
            .collect::<BTreeSet<_>>(),
        set(&doc_local),
        "methods of ROLES vs docs/roles.md"
    );
    assert_eq!(code.len(), doc_local.len(), "a method twice in ROLES");
    for c in &local {
        let (_, granted) = code
            .iter()
            .find(|(m, _)| *m == c.method)
            .expect("checked above");
        for r in PERSONS {
            assert_eq!(
                granted.contains(&r),
                c.persons.contains(&r),
                "{} for {r}: ROLES and docs/roles.md disagree",
                c.method
            );
        }
        assert!(
            !c.node,
            "{}: the local API admits no node certificate",
            c.method
        );
    }

    // The peer API admits node certificates only (auth::authenticate_peer), every method.
    for c in &peer {
        assert!(
            c.persons.is_empty() && c.node,
            "{c:?}: the peer API is for nodes only"
        );
    }

    // The console's routes: the document's rows are the console's table, no node anywhere.
    let console = rows(&m, "console");
    let doc: BTreeSet<(String, Vec<&str>)> = console
        .iter()
        .map(|c| {
            assert!(!c.node, "{c:?}: a node certificate is not a person");
            (
                c.method.clone(),
                c.persons.iter().map(|r| r.as_str()).collect(),
            )
        })
        .collect();
    let code: BTreeSet<(String, Vec<&str>)> = hfx_console::pages::ROLES
        .iter()
        .map(|(path, roles)| {
            let in_order = PERSONS
                .iter()
                .filter(|r| roles.contains(r))
                .map(|r| r.as_str())
                .collect();
            (path.to_string(), in_order)
        })
        .collect();
    assert_eq!(
        doc.len(),
        console.len(),
        "docs/roles.md: a console route twice"
    );
    assert_eq!(
        doc, code,
        "docs/roles.md's console rows and hfx_console::pages::ROLES differ"
    );

    // What the README says, the issue found broken: disclosures are the auditor's.
    let ld = local
        .iter()
        .find(|c| c.method == "/hfx.v1.Audit/ListDisclosures")
        .expect("ListDisclosures row");
    assert_eq!(ld.persons, [Role::Auditor], "{ld:?}");
}

/// Call `method` with the empty (all-default) request and read its first answer. Server
/// streaming covers both kinds: a unary answer is a stream of one.
async fn call(ch: Channel, method: &str) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::try_from(method).expect("a gRPC path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let mut stream = grpc
        .server_streaming(tonic::Request::new(()), path, codec)
        .await?
        .into_inner();
    stream.message().await?;
    Ok(())
}

fn channel_with(zone: &Zone, cert: PathBuf, key: PathBuf, addr: &str, server: &str) -> Channel {
    let zd = zone.zone_dir();
    let files = hfx_node::tls::TlsFiles {
        root: zd.root_cert_path(),
        crl: zd.crl_path(),
        cert,
        key,
    };
    let cfg = std::sync::Arc::new(hfx_node::tls::client_config(&files).expect("client config"));
    hfx_node::tls::channel(
        cfg,
        addr.to_string(),
        hfx_certs::node_dns_name(server),
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("channel")
}

fn person(role: Role) -> &'static str {
    match role {
        Role::Clerk => hfx_zone::launcher::CLERK,
        Role::Auditor => hfx_zone::launcher::AUDITOR,
        Role::Operator => hfx_zone::launcher::OPERATOR,
    }
}

fn assert_admitted(r: Result<(), tonic::Status>, who: &str, method: &str) {
    if let Err(e) = r {
        assert_ne!(
            e.code(),
            Code::PermissionDenied,
            "{who} on {method}: the matrix says yes, got {e:?}"
        );
    }
}

fn assert_refused(
    r: Result<(), tonic::Status>,
    who: &str,
    method: &str,
    says: &str,
    want_reason: &str,
) {
    let e = r.expect_err(&format!(
        "{who} on {method}: the matrix says no, it was answered"
    ));
    assert_eq!(
        e.code(),
        Code::PermissionDenied,
        "{who} on {method}: the matrix says no, got {e:?}"
    );
    assert_eq!(reason(&e), want_reason, "{who} on {method}: {e:?}");
    assert!(
        e.message().contains(says),
        "{who} on {method}: {:?} does not say {says:?}",
        e.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cell_of_the_role_matrix_on_a_real_node() {
    let m = matrix();
    let (_tmp, mut zone) = zone(2).await;
    let zd = zone.zone_dir();
    let [a, b] = [0, 1].map(|i| zone.centres[i].code.clone());
    let a_local = zone.plan(&a).unwrap().local_addr.clone();
    let b_peer = zone.plan(&b).unwrap().peer_addr.clone();
    let mut refused = Vec::new();

    for role in PERSONS {
        let ch = zone.client(&a, role).unwrap().channel();
        for c in rows(&m, "local") {
            let r = call(ch.clone(), &c.method).await;
            if c.persons.contains(&role) {
                assert_admitted(r, role.as_str(), &c.method);
            } else {
                assert_refused(r, role.as_str(), &c.method, "may not call", REFUSED);
                refused.push((role, c.method.clone()));
            }
        }
        // Methods the table does not name are refused to everyone, known service or not.
        for unknown in [
            "/hfx.v1.Clerk/DeleteMember",
            "/hfx.v1.Console/Anything",
            "/grpc.health.v1.Health/Nope",
        ] {
            assert_refused(
                call(ch.clone(), unknown).await,
                role.as_str(),
                unknown,
                "not a method",
                REFUSED,
            );
        }
        // Health stays open (outside the matrix, docs/roles.md).
        assert_admitted(
            call(ch.clone(), "/grpc.health.v1.Health/Check").await,
            role.as_str(),
            "health",
        );

        // A person certificate of any role on the peer API: refused on every method.
        let (crt, key) = zd.person_paths(&a, role, person(role));
        let on_peer = channel_with(&zone, crt, key, &b_peer, &b);
        for c in rows(&m, "peer") {
            assert!(!c.persons.contains(&role), "{c:?}");
            let r = call(on_peer.clone(), &c.method).await;
            assert_refused(
                r,
                role.as_str(),
                &c.method,
                "person certificate",
                WRONG_CERTIFICATE,
            );
        }
    }

    // A node certificate: refused on every local method, admitted on every peer method.
    let node_on_local = channel_with(
        &zone,
        zd.node_cert_path(&a),
        zd.node_key_path(&a),
        &a_local,
        &a,
    );
    for c in rows(&m, "local") {
        assert!(!c.node, "{c:?}");
        let r = call(node_on_local.clone(), &c.method).await;
        assert_refused(
            r,
            "node certificate",
            &c.method,
            "node certificate",
            WRONG_CERTIFICATE,
        );
    }
    let node_on_peer = peer_channel(&zone, &a, &b);
    for c in rows(&m, "peer") {
        assert!(c.node, "{c:?}");
        assert_admitted(
            call(node_on_peer.clone(), &c.method).await,
            "node certificate",
            &c.method,
        );
    }
    assert!(!refused.is_empty());

    // Each refusal by role is recorded: one WARN line naming the person's role and the method.
    zone.stop_all();
    let log = crate::common::node_log(&zone, &a);
    for (role, method) in &refused {
        let lines = log
            .lines()
            .filter(|l| {
                l.contains("WARN")
                    && l.contains("local call refused")
                    && l.contains(&format!("/{role}/"))
                    && l.contains(&format!("\"method\":\"{method}\""))
            })
            .count();
        assert_eq!(
            lines, 1,
            "{role} on {method}: {lines} WARN lines in {a}'s log"
        );
    }
}
