//! deploy/k8s: the objects kustomization.yaml applies have their fields, select their pods,
//! are locked down, and the ConfigMap's node.toml agrees with the pod (ports, mounts, probes).

use super::{arr, deploy, load_as_node, read, repo, s, yaml_docs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// The Kubernetes objects kustomization.yaml applies.
fn k8s_objects() -> Vec<Value> {
    let kust = &yaml_docs(&deploy("k8s/kustomization.yaml"))[0];
    let listed: BTreeSet<String> = arr(kust, "/resources")
        .iter()
        .map(|r| r.as_str().expect("resource").to_string())
        .collect();
    // Nothing in the folder is forgotten: listed, the kustomization, or an example.
    for entry in std::fs::read_dir(deploy("k8s")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            listed.contains(&name)
                || name == "kustomization.yaml"
                || name.ends_with(".example.yaml"),
            "deploy/k8s/{name} is neither in kustomization.yaml nor an example"
        );
    }
    listed
        .iter()
        .flat_map(|f| yaml_docs(&deploy(&format!("k8s/{f}"))))
        .collect()
}

#[test]
fn kubernetes_manifests_are_complete_and_locked_down() {
    let objs = k8s_objects();
    let mut examples = yaml_docs(&deploy("k8s/secret.example.yaml"));
    for o in objs.iter().chain(&examples) {
        for f in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(!s(o, f).is_empty(), "{f} empty in {o}");
        }
        if s(o, "/kind") != "Namespace" {
            assert_eq!(
                s(o, "/metadata/namespace"),
                "hfx",
                "{}",
                s(o, "/metadata/name")
            );
        }
    }
    let kinds: BTreeSet<&str> = objs.iter().map(|o| s(o, "/kind")).collect();
    for k in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(k), "no {k} among {kinds:?}");
    }
    let find =
        |kind: &str| -> Vec<&Value> { objs.iter().filter(|o| s(o, "/kind") == kind).collect() };
    let sts = find("StatefulSet")[0];
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap();
    assert!(replicas >= 2, "failover needs two replicas, has {replicas}");
    let pod_labels = labels(sts.pointer("/spec/template/metadata/labels"));
    assert!(selects(
        &labels(sts.pointer("/spec/selector/matchLabels")),
        &pod_labels
    ));
    let pod = sts.pointer("/spec/template/spec").unwrap();

    // The pod and every container: non-root, read-only, no capabilities, no token.
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(
        s(pod, "/securityContext/seccompProfile/type"),
        "RuntimeDefault"
    );
    let c = &arr(pod, "/containers")[0];
    assert_eq!(arr(pod, "/containers").len(), 1, "one container: the node");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"].get("add").is_none());
    for r in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(c["resources"][r][what].is_string(), "resources.{r}.{what}");
        }
    }
    let ports: BTreeMap<&str, u64> = arr(c, "/ports")
        .iter()
        .map(|p| (s(p, "/name"), p["containerPort"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports.get("peer"), Some(&7443));
    assert_eq!(ports.get("local"), Some(&7444));
    assert_eq!(ports.get("ops"), Some(&9464));

    // Probes on the operator port, at paths the node serves.
    let routes = ops_routes();
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let p = &c[probe];
        let (kind, port) = if let Some(h) = p.get("httpGet") {
            let path = s(h, "/path");
            assert!(
                routes.contains(path),
                "{probe} GET {path}: the operator port serves {routes:?} (node/core/src/ops)"
            );
            ("httpGet", &h["port"])
        } else if let Some(t) = p.get("tcpSocket") {
            ("tcpSocket", &t["port"])
        } else {
            panic!("{probe}: httpGet or tcpSocket on the operator port, got {p}")
        };
        assert_eq!(port, "ops", "{probe} {kind} port");
    }

    // Volumes: every mount has its volume; every ConfigMap and Secret named exists.
    let volumes: BTreeMap<&str, &Value> = arr(pod, "/volumes")
        .iter()
        .map(|v| (s(v, "/name"), v))
        .collect();
    let claims: BTreeSet<&str> = arr(sts, "/spec/volumeClaimTemplates")
        .iter()
        .map(|v| s(v, "/metadata/name"))
        .collect();
    let mounts = arr(c, "/volumeMounts");
    for m in mounts {
        let n = s(m, "/name");
        assert!(
            volumes.contains_key(n) || claims.contains(n),
            "mount {n} has no volume"
        );
        if s(m, "/mountPath").starts_with("/etc/") {
            assert_eq!(m["readOnly"], true, "{n} must be read-only");
        }
    }
    examples.extend(objs.iter().cloned());
    let named = |kind: &str, name: &str| {
        examples
            .iter()
            .find(|o| s(o, "/kind") == kind && s(o, "/metadata/name") == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
            .clone()
    };
    let keys = named("Secret", "hfx-node-keys");
    for v in volumes.values() {
        if let Some(n) = v.pointer("/configMap/name").and_then(Value::as_str) {
            named("ConfigMap", n);
        }
        if let Some(n) = v.pointer("/secret/secretName").and_then(Value::as_str) {
            named("Secret", n);
        }
    }

    // The node's config: the node's parser, and agreement with the pod.
    let cm = named("ConfigMap", "hfx-node");
    let toml_text = s(&cm, "/data/node.toml");
    load_as_node(toml_text, "ConfigMap node.toml");
    let cfg: hfx_node::config::NodeConfig = toml::from_str(toml_text).unwrap();
    assert!(cfg.failover.enabled, "two replicas need [failover] enabled");
    assert!(
        cfg.store.url.starts_with("postgres://"),
        "failover needs PostgreSQL"
    );
    for url in [Some(&cfg.store.url), cfg.adapter.url.as_ref()]
        .into_iter()
        .flatten()
    {
        let userinfo = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map_or("", |(u, _)| u);
        assert!(
            !userinfo.contains(':'),
            "a password in the ConfigMap: {url} (PGPASSFILE has it)"
        );
    }
    let port_of = |addr: &str| addr.rsplit(':').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(port_of(&cfg.listen.peer), ports["peer"]);
    assert_eq!(port_of(&cfg.listen.local), ports["local"]);
    let ops = cfg
        .ops
        .listen
        .as_deref()
        .expect("[ops] listen: the probes need it");
    assert!(
        ops.starts_with("0.0.0.0:"),
        "kubelet probes the pod IP, not loopback: {ops}"
    );
    assert_eq!(port_of(ops), ports["ops"]);
    let args: Vec<&str> = arr(c, "/args").iter().filter_map(Value::as_str).collect();
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == config_path && m["subPath"] == "node.toml"),
        "--config {config_path} is not the ConfigMap's node.toml"
    );
    let under_mount = |p: &Path, what: &str| {
        let m = mounts
            .iter()
            .find(|m| p.starts_with(s(m, "/mountPath")))
            .unwrap_or_else(|| panic!("{what} {} is under no mount", p.display()));
        if s(m, "/name") == "keys" {
            let file = p.file_name().unwrap().to_string_lossy();
            assert!(
                keys["stringData"].get(file.as_ref()).is_some(),
                "Secret hfx-node-keys has no {file}"
            );
        }
    };
    under_mount(&cfg.tls.root, "tls.root");
    under_mount(&cfg.tls.crl, "tls.crl");
    under_mount(&cfg.tls.cert, "tls.cert");
    under_mount(&cfg.tls.key, "tls.key");
    under_mount(&cfg.signing.key, "signing.key");
    under_mount(&cfg.directory.path, "directory.path");

    // Services select the pods; per-replica ones name pods that exist.
    for svc in find("Service") {
        let sel = labels(svc.pointer("/spec/selector"));
        if let Some(name) = sel.get("statefulset.kubernetes.io/pod-name") {
            let i: u64 = name
                .strip_prefix(&format!("{}-", s(sts, "/metadata/name")))
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(|| panic!("{name} is no pod of the StatefulSet"));
            assert!(i < replicas, "{name}: only {replicas} replicas");
        } else {
            assert!(
                selects(&sel, &pod_labels),
                "{} selects no pod",
                s(svc, "/metadata/name")
            );
        }
        for p in arr(svc, "/spec/ports") {
            let t = &p["targetPort"];
            assert!(
                t.as_str().is_some_and(|n| ports.contains_key(n)),
                "targetPort {t}"
            );
        }
    }
    let pdb = find("PodDisruptionBudget")[0];
    assert!(selects(
        &labels(pdb.pointer("/spec/selector/matchLabels")),
        &pod_labels
    ));
    let min = pdb
        .pointer("/spec/minAvailable")
        .and_then(Value::as_u64)
        .unwrap();
    assert!(
        min >= 1 && min < replicas,
        "minAvailable {min} of {replicas}"
    );
    let np = find("NetworkPolicy")[0];
    assert!(selects(
        &labels(np.pointer("/spec/podSelector/matchLabels")),
        &pod_labels
    ));
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let ingress: BTreeSet<u64> = arr(np, "/spec/ingress")
        .iter()
        .flat_map(|r| arr(r, "/ports").iter().map(|p| p["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(ingress, BTreeSet::from([7443, 7444, 9464]));
}

/// The paths the node's operator port serves (its router in node/core/src/ops).
fn ops_routes() -> BTreeSet<String> {
    let dir = repo().join("node/core/src/ops");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = read(&entry.unwrap().path());
        for piece in text.split(".route(\"").skip(1) {
            if let Some(path) = piece.split('"').next() {
                out.insert(path.to_string());
            }
        }
    }
    assert!(!out.is_empty(), "no .route(\"...\") in {}", dir.display());
    out
}
