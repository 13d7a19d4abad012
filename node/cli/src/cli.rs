//! What each `hfx` subcommand does (the binary only parses arguments).

use anyhow::Context;
use hfx_certs::{Role, Validity, ZoneDir};
use hfx_node::client::LocalClient;
use hfx_node::tls::TlsFiles;
use hfx_proto::v1 as pb;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How the CLI reaches its own node's local API.
#[derive(clap::Args, Debug, Clone)]
pub struct Conn {
    /// Zone folder as `hfx demo --dir` or `hfx certs init` left it.
    #[arg(long, env = "HFX_DIR")]
    pub dir: Option<PathBuf>,
    /// Own centre (15 digits): whose node to talk to.
    #[arg(long = "node", env = "HFX_NODE")]
    pub node: Option<String>,
    /// Person id of the certificate to use (default: clerk1 / auditor1 / operator1 by role).
    #[arg(long, env = "HFX_PERSON")]
    pub person: Option<String>,
    /// Explicit local endpoint host:port (instead of --dir).
    #[arg(long, env = "HFX_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Explicit person certificate / key / zone root / CRL files (instead of --dir).
    #[arg(long, env = "HFX_CERT")]
    pub cert: Option<PathBuf>,
    #[arg(long, env = "HFX_KEY")]
    pub key: Option<PathBuf>,
    #[arg(long, env = "HFX_ROOT")]
    pub root: Option<PathBuf>,
    #[arg(long, env = "HFX_CRL")]
    pub crl: Option<PathBuf>,
}

impl Conn {
    pub fn client(&self, role: Role) -> anyhow::Result<LocalClient> {
        let node = self
            .node
            .clone()
            .context("which node? give --node CENTRE or set HFX_NODE")?;
        if let Some(endpoint) = &self.endpoint {
            let files = TlsFiles {
                root: self
                    .root
                    .clone()
                    .context("--root is required with --endpoint")?,
                crl: self
                    .crl
                    .clone()
                    .context("--crl is required with --endpoint")?,
                cert: self
                    .cert
                    .clone()
                    .context("--cert is required with --endpoint")?,
                key: self
                    .key
                    .clone()
                    .context("--key is required with --endpoint")?,
            };
            return LocalClient::connect(&files, &node, endpoint, Duration::from_secs(30));
        }
        let dir = self
            .dir
            .clone()
            .context("give --dir ZONE_DIR (or HFX_DIR), or --endpoint with certificate files")?;
        let person = self.person.clone().unwrap_or_else(|| {
            match role {
                Role::Clerk => hfx_zone::launcher::CLERK,
                Role::Auditor => hfx_zone::launcher::AUDITOR,
                Role::Operator => hfx_zone::launcher::OPERATOR,
            }
            .to_string()
        });
        LocalClient::for_zone(&dir, &node, role, &person)
    }
}

fn init_cli_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HFX_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

fn status_error(s: tonic::Status) -> anyhow::Error {
    // The message already starts with the stable reason.
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

pub async fn node_run(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cfg.logging.level).context("logging.level")?;
    if cfg.logging.format == "json" {
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(false)
            .try_init();
    } else {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let shutdown = async {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        tracing::info!("shutdown requested: finishing in-flight calls");
    };
    hfx_node::node::run(cfg, shutdown, |_| {})
        .await
        .map_err(|e| {
            tracing::error!(error = %format!("{e:#}"), "node failed");
            e
        })?;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(
    dir: Option<PathBuf>,
    keep_running: bool,
    members: u64,
    centres: usize,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let binary = std::env::current_exe().context("locating the hfx binary")?;
    let ok = hfx_zone::demo::run(
        hfx_zone::demo::DemoOptions {
            dir,
            keep_running,
            members,
            centres,
        },
        binary,
    )
    .await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn certs_init(zone: &Path, dir: &Path, root_days: i64) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(zone).with_context(|| format!("reading {}", zone.display()))?;
    let zd = ZoneDir::open(dir);
    zd.init(&text, root_days)?;
    let cfg = zd.zone_config()?;
    println!("zone {} created in {}", cfg.zone, dir.display());
    println!(
        "  root:       {}  (keep root/root.key.pem offline)",
        zd.root_cert_path().display()
    );
    println!(
        "  directory:  {} (version 1, {} centres)",
        zd.directory_path().display(),
        cfg.centres.len()
    );
    println!("  crl:        {}", zd.crl_path().display());
    for c in cfg.centres {
        println!(
            "  node {} {}: {}",
            c.code,
            c.city,
            zd.centre_dir(&c.code).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn certs_person(
    dir: &Path,
    centre: &str,
    role: &str,
    id: &str,
    days: i64,
) -> anyhow::Result<ExitCode> {
    let role: Role = role
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let (crt, key, serial) =
        ZoneDir::open(dir).issue_person(centre, role, id, Validity::days(days))?;
    println!(
        "{role} {id} of {centre}: {} (key {}), serial {serial}",
        crt.display(),
        key.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn certs_revoke(
    dir: &Path,
    serial: Option<String>,
    cert: Option<PathBuf>,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let serial = match (serial, cert) {
        (Some(s), _) => {
            zd.revoke(&s, reason)?;
            s
        }
        (None, Some(c)) => zd.revoke_cert_file(&c, reason)?,
        (None, None) => anyhow::bail!("give --serial or --cert"),
    };
    println!(
        "revoked {serial}; new CRL at {} (nodes pick it up within seconds, or on SIGHUP)",
        zd.crl_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn certs_rotate(dir: &Path, centre: &str) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let serial = zd.rotate_node(centre)?;
    println!("node {centre}: new certificate {serial}; old one revoked; directory re-published");
    Ok(ExitCode::SUCCESS)
}

pub fn certs_publish(dir: &Path, zone: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let zd = ZoneDir::open(dir);
    let d = match zone {
        Some(z) => zd.update_zone(
            &std::fs::read_to_string(&z).with_context(|| format!("reading {}", z.display()))?,
        )?,
        None => zd.publish_directory()?,
    };
    println!(
        "directory version {} published ({} centres), expires at unix {}",
        d.version,
        d.centres.len(),
        d.expires_at_unix
    );
    Ok(ExitCode::SUCCESS)
}

/// What `hfx seed` fills: a sqlite file, or the core system a node configuration names.
pub struct SeedTarget {
    pub core: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub centre: Option<String>,
}

pub async fn seed(
    t: SeedTarget,
    members: u64,
    start: u64,
    seed: u64,
    history_months: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let (settings, centre, label) = match (&t.core, &t.config) {
        (Some(core), _) => {
            let centre = t
                .centre
                .clone()
                .context("--centre is required with --core")?;
            let s = hfx_adapters::open::AdapterSettings {
                kind: "sqlite".into(),
                path: Some(core.clone()),
                ..Default::default()
            };
            (s, centre, core.display().to_string())
        }
        (None, Some(cfg_path)) => {
            let cfg = hfx_node::config::NodeConfig::load(cfg_path)?;
            let mut s = cfg.adapter.clone();
            s.path = s.path.map(|p| cfg.resolve(&p));
            let centre = t.centre.clone().unwrap_or(cfg.centre.clone());
            (
                s,
                centre,
                format!(
                    "the {} core system of {}",
                    cfg.adapter.kind,
                    cfg_path.display()
                ),
            )
        }
        (None, None) => anyhow::bail!("give --core FILE (sqlite) or --config NODE.toml"),
    };
    let centre = hfx_adapters::ids::validate_centre_code("--centre", &centre)?;
    let opts = hfx_adapters::seed::SeedOptions {
        seed,
        history_months,
        ..Default::default()
    };
    let bar = progress_bar(members, "seeding");
    let t0 = std::time::Instant::now();
    let b = bar.clone();
    hfx_adapters::open::seed(&settings, &centre, &opts, start, members, &move |done| {
        b.set_position(done)
    })
    .await?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let rate = members as f64 / secs.max(1e-9);
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": centre, "kind": settings.kind, "seeded": members, "start": start, "seconds": secs, "members_per_second": rate})
        );
    } else {
        println!(
            "seeded members {start}..{} of centre {centre} into {label} in {secs:.1} s ({rate:.0}/s)",
            start + members
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `hfx adapter check`: an operator's self-test of the adapter against the live core system.
pub async fn adapter_check(config: &Path, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    let t0 = std::time::Instant::now();
    let (items, opened) = match hfx_node::node::open_core(&cfg).await {
        Ok(core) => (core.check().await, true),
        Err(e) => (
            vec![hfx_adapters::CheckItem {
                name: "connectivity".into(),
                ok: false,
                detail: format!("{e:#}"),
            }],
            false,
        ),
    };
    let ok = opened && items.iter().all(|i| i.ok);
    if json {
        let list: Vec<_> = items
            .iter()
            .map(|i| serde_json::json!({"check": i.name, "ok": i.ok, "detail": i.detail}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"centre": cfg.centre, "kind": cfg.adapter.kind, "ok": ok, "checks": list, "seconds": t0.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "adapter {} of centre {} ({})",
            cfg.adapter.kind,
            cfg.centre,
            config.display()
        );
        for i in &items {
            println!(
                "  {} {:<14} {}",
                if i.ok { "ok  " } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        println!(
            "{}",
            if ok {
                "all checks passed"
            } else {
                "some checks FAILED"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[allow(clippy::too_many_arguments)]
pub async fn member_query(
    conn: &Conn,
    centre: &str,
    id_type: &str,
    id_number: &str,
    name: &str,
    purpose: &str,
    message_id: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let t = hfx_adapters::model::IdType::from_code(id_type)
        .with_context(|| format!("--id-type: {id_type:?} is not 01, 02, 03, 04 or 99"))?;
    let p = hfx_node::member::purpose_from_name(purpose).with_context(|| {
        format!(
            "--purpose: {purpose:?} is not one of {:?}",
            hfx_node::config::PURPOSES
        )
    })?;
    let client = conn.client(Role::Clerk)?;
    let q = pb::LocalMemberQuery {
        centre: centre.to_string(),
        person: Some(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: id_number.to_string(),
            name: name.to_string(),
        }),
        purpose: p as i32,
        message_id: message_id.unwrap_or_default(),
    };
    let r = client.query_member(q).await.map_err(status_error)?;
    let m = r.member.unwrap_or_default();
    if json {
        let v = serde_json::json!({
            "centre": m.centre, "purpose": purpose,
            "name_masked": m.name_masked, "id_number_masked": m.id_number_masked, "account_no": m.account_no,
            "live_account": m.live_account, "status": m.status, "opened_date": m.opened_date, "opened_month": m.opened_month,
            "paid_up_to_month": m.paid_up_to_month, "deposit_base_fen": m.deposit_base_fen, "employer_rate_bp": m.employer_rate_bp,
            "member_rate_bp": m.member_rate_bp, "monthly_amount_fen": m.monthly_amount_fen, "balance_fen": m.balance_fen,
            "continuous_start_month": m.continuous_start_month, "continuous_end_month": m.continuous_end_month,
            "has_loan": m.has_loan, "loan_count": m.loan_count, "total_borrowed_fen": m.total_borrowed_fen,
            "outstanding_fen": m.outstanding_fen, "employer_name": m.employer_name, "frozen": m.frozen,
            "six_consecutive_months": m.six_consecutive_months,
            "local_receipt": r.local_receipt.map(|x| serde_json::json!({"centre": x.centre, "log_index": x.log_index, "sequence": x.sequence})),
            "peer_receipt": r.peer_receipt.map(|x| serde_json::json!({"centre": x.centre, "log_index": x.log_index, "sequence": x.sequence})),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("centre {} answered for purpose {purpose}:", m.centre);
        let yuan = hfx_adapters::money::format_yuan;
        let line = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                println!("  {k:<24} {v}");
            }
        };
        line("name", m.name_masked.clone());
        line("id number", m.id_number_masked.clone());
        line(
            "live account",
            m.live_account
                .map(|b| if b { "yes".into() } else { "no".into() }),
        );
        line("account status", m.status.map(|s| format!("{s:02}")));
        line("account no.", m.account_no.clone());
        line(
            "opened",
            m.opened_date
                .map(|d| d.to_string())
                .or(m.opened_month.map(|d| d.to_string())),
        );
        line("paid up to", m.paid_up_to_month.map(|d| d.to_string()));
        line(
            "deposit base",
            m.deposit_base_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line(
            "rates (employer/member)",
            m.employer_rate_bp
                .zip(m.member_rate_bp)
                .map(|(a, b)| format!("{:.2}% / {:.2}%", a as f64 / 100.0, b as f64 / 100.0)),
        );
        line(
            "monthly amount",
            m.monthly_amount_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line("balance", m.balance_fen.map(|f| format!("¥{}", yuan(f))));
        line(
            "continuous deposits",
            m.continuous_start_month
                .zip(m.continuous_end_month)
                .map(|(a, b)| format!("{a}–{b}")),
        );
        line(
            "6 consecutive months",
            m.six_consecutive_months
                .map(|b| if b { "yes".into() } else { "no".into() }),
        );
        line("loans", m.loan_count.map(|n| n.to_string()));
        line(
            "total borrowed",
            m.total_borrowed_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line(
            "outstanding",
            m.outstanding_fen.map(|f| format!("¥{}", yuan(f))),
        );
        line("employer", m.employer_name.clone());
        line(
            "our receipt",
            r.local_receipt
                .map(|x| format!("log index {}", x.log_index)),
        );
        line(
            "their receipt",
            r.peer_receipt
                .map(|x| format!("log index {} at {}", x.log_index, x.centre)),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let s = client.status().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"centre": s.centre, "name": s.name, "directory_version": s.directory_version, "directory_expires_unix": s.directory_expires_unix, "log_size": s.log_size, "adapter": s.adapter, "store": s.store, "uptime_seconds": s.uptime_seconds, "version": s.version, "checkpoint_size": s.checkpoint_size, "witnessed_size": s.witnessed_size, "witness_evidence": s.witness_evidence})
        );
    } else {
        println!("{} {} (hfx {})", s.centre, s.name, s.version);
        println!(
            "  directory version {} (expires at unix {})",
            s.directory_version, s.directory_expires_unix
        );
        println!(
            "  exchange log {} entries; store {}; core system {}; up {} s",
            s.log_size, s.store, s.adapter, s.uptime_seconds
        );
        println!(
            "  last checkpoint {}; witnessed (quorum) up to {}; witness evidence kept: {}",
            s.checkpoint_size, s.witnessed_size, s.witness_evidence
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn reload(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Operator)?;
    let r = client.reload().await.map_err(status_error)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"directory_ok": r.directory_ok, "tls_ok": r.tls_ok, "directory_version": r.directory_version, "detail": r.detail})
        );
    } else {
        println!(
            "directory: {} (version {} in force)",
            if r.directory_ok { "ok" } else { "refused" },
            r.directory_version
        );
        println!("tls: {}", if r.tls_ok { "ok" } else { "refused" });
        if !r.detail.is_empty() {
            println!("{}", r.detail);
        }
    }
    Ok(if r.directory_ok && r.tls_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn disclosures(conn: &Conn, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Auditor)?;
    let list = client.disclosures(limit).await.map_err(status_error)?;
    for d in &list {
        let purpose = pb::Purpose::try_from(d.purpose)
            .map(hfx_node::member::purpose_name)
            .unwrap_or("?");
        if json {
            println!(
                "{}",
                serde_json::json!({"at_unix_ms": d.at_unix_ms, "direction": d.direction, "peer": d.peer_centre, "acting_person": d.acting_person, "purpose": purpose, "legal_basis": d.legal_basis, "outcome": d.outcome, "message_id": d.message_id, "subject": d.subject_masked})
            );
        } else {
            let at = chrono::DateTime::from_timestamp_millis(d.at_unix_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default();
            println!(
                "{at} {:<8} {} {:<24} {:<28} {} [{}]",
                d.direction, d.peer_centre, purpose, d.acting_person, d.outcome, d.subject_masked
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Export via the own node's local API (auditor certificate) or offline from a node's files.
pub async fn audit_export(
    conn: &Conn,
    config: Option<PathBuf>,
    out: &Path,
    no_payloads: bool,
) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let tmp = out.with_extension("partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let n = match config {
        Some(cfg_path) => {
            let cfg = hfx_node::config::NodeConfig::load(&cfg_path)?;
            sqlx::any::install_default_drivers();
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(2)
                .connect(&cfg.store_url())
                .await
                .context("opening the store")?;
            let sk_pem = std::fs::read_to_string(cfg.resolve(&cfg.signing.key))?;
            let sk = hfx_certs::SigningKeyPair::from_pem(&sk_pem)?;
            let zone = {
                let text = std::fs::read_to_string(cfg.resolve(&cfg.directory.path))?;
                let signed = hfx_certs::SignedDirectory::from_json(&text)?;
                let d: hfx_certs::Directory = serde_json::from_str(&signed.payload)?;
                d.zone
            };
            let signer = hfx_node::log::note::NoteSigner::from_pkcs8(
                &hfx_node::log::origin(&zone, &cfg.centre),
                sk.pkcs8(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let header = hfx_node::audit::ExportHeader {
                centre: cfg.centre.clone(),
                origin: signer.name().to_string(),
                vkey: signer.verifier_key(),
            };
            let bar = progress_bar(0, "exporting");
            let b = bar.clone();
            let n =
                hfx_node::audit::export(&pool, &header, !no_payloads, &mut file, &move |d, t| {
                    b.set_length(t);
                    b.set_position(d);
                })
                .await?;
            bar.finish_and_clear();
            n
        }
        None => {
            let client = conn.client(Role::Auditor)?;
            let mut c = pb::audit_client::AuditClient::new(client.channel());
            let mut stream = c
                .export_log(pb::ExportRequest { from_index: 0 })
                .await
                .map_err(status_error)?
                .into_inner();
            let mut bytes = 0u64;
            let bar = indicatif::ProgressBar::new_spinner();
            use std::io::Write;
            while let Some(chunk) = stream.message().await.map_err(status_error)? {
                bytes += chunk.jsonl.len() as u64;
                file.write_all(&chunk.jsonl)?;
                bar.set_message(format!("{bytes} bytes"));
            }
            bar.finish_and_clear();
            0
        }
    };
    use std::io::Write;
    file.flush()?;
    file.get_ref().sync_all()?;
    drop(file);
    std::fs::rename(&tmp, out)?;
    // Read back to count and to refuse a truncated download.
    let export = hfx_node::audit::parse(
        &mut std::io::BufReader::new(std::fs::File::open(out)?),
        &|_, _| {},
    )
    .with_context(|| format!("{} is not a complete export", out.display()))?;
    let _ = n;
    println!(
        "exported {} entries, {} checkpoints, {} cosignatures of {} to {}",
        export.entries.len(),
        export.checkpoints.len(),
        export.cosignatures.len(),
        export.centre,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn load_export(path: &Path) -> anyhow::Result<hfx_node::audit::Export> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(len, "reading");
    let mut r = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(f));
    let e = hfx_node::audit::parse(&mut r, &|_, _| {})
        .with_context(|| format!("{}", path.display()))?;
    bar.finish_and_clear();
    Ok(e)
}

/// The directory's key for a centre (as a note verifier key) and the witness quorum.
fn trusted(
    directory: Option<&Path>,
    root: Option<&Path>,
    centre: &str,
) -> anyhow::Result<(Option<String>, u32)> {
    let (Some(dpath), Some(rpath)) = (directory, root) else {
        return Ok((None, 1));
    };
    let root_pem =
        std::fs::read_to_string(rpath).with_context(|| format!("reading {}", rpath.display()))?;
    let pk = hfx_certs::pki::root_public_key(&root_pem)?;
    let signed = hfx_certs::SignedDirectory::from_json(&std::fs::read_to_string(dpath)?)?;
    // An audit may look at old logs: the signature must hold, the expiry need not.
    let dir = signed.verify(&pk, 0)?;
    let entry = dir
        .centre(centre)
        .with_context(|| format!("centre {centre} is not in the directory"))?;
    use base64::Engine;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&entry.signing_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("directory signing key is not 32 bytes"))?;
    let v = hfx_node::log::note::NoteVerifier::new(&hfx_node::log::origin(&dir.zone, centre), key)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((Some(v.verifier_key()), dir.witness_quorum))
}

pub fn audit_verify(
    files: &[PathBuf],
    directory: Option<PathBuf>,
    root: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut all_ok = true;
    for f in files {
        let e = load_export(f)?;
        let (vkey, quorum) = trusted(directory.as_deref(), root.as_deref(), &e.centre)?;
        let bar = progress_bar(e.entries.len() as u64, "verifying");
        let t = std::time::Instant::now();
        let b = bar.clone();
        let rep =
            hfx_node::audit::verify(&e, vkey.as_deref(), quorum, &move |d, _| b.set_position(d));
        bar.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        let serious: Vec<_> = rep
            .problems
            .iter()
            .filter(|p| p.kind != "untrusted_key")
            .collect();
        all_ok &= serious.is_empty();
        if json {
            println!(
                "{}",
                serde_json::json!({"file": f, "report": rep, "seconds": secs})
            );
        } else {
            println!(
                "{}: centre {}, {} entries, root {}; {} checkpoints and {} cosignatures verified; witnessed up to {}; {} payloads present, {} purged ({:.2} s: entries {:.2} s = {:.0}/s, payloads {:.2} s)",
                f.display(),
                rep.centre,
                rep.entries,
                rep.root,
                rep.checkpoints_verified,
                rep.cosignatures_verified,
                rep.witnessed_size,
                rep.payloads_present,
                rep.payloads_purged,
                secs,
                rep.entries_seconds,
                rep.entries as f64 / rep.entries_seconds.max(1e-9),
                rep.payloads_seconds
            );
            for p in &rep.problems {
                println!(
                    "  {} {}: {}",
                    p.kind,
                    p.at.map(|a| format!("at {a}")).unwrap_or_default(),
                    p.detail
                );
            }
            println!("  {}", if serious.is_empty() { "OK" } else { "FAILED" });
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn audit_prove(file: &Path, index: u64, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let e = load_export(file)?;
    let receipt = hfx_node::audit::prove(&e, index)?;
    hfx_node::audit::check_receipt(&receipt, None)?;
    let text = serde_json::to_string_pretty(&receipt)?;
    match out {
        Some(p) => {
            hfx_certs::zonedir::write_atomic(&p, text.as_bytes())?;
            println!(
                "receipt for entry {index} against checkpoint {} written to {}",
                receipt.tree_size,
                p.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit_check_receipt(
    file: &Path,
    directory: Option<PathBuf>,
    root: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let r: hfx_node::audit::InclusionReceipt =
        serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let (vkey, _) = trusted(directory.as_deref(), root.as_deref(), &r.centre)?;
    let cp = hfx_node::audit::check_receipt(&r, vkey.as_deref())?;
    println!(
        "entry {} is in {}'s log at size {} (root {}){}",
        r.index,
        r.centre,
        cp.size,
        hex::encode(cp.root),
        if vkey.is_none() {
            "; key taken from the receipt (give --directory and --root to check it)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn audit_replay(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let e = load_export(file)?;
    let rep = hfx_node::audit::replay(&e);
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!(
            "{}: {} disclosures rebuilt from the log, {} in the store, {} with purged payloads",
            rep.centre, rep.rebuilt, rep.store_records, rep.undecodable
        );
        for d in &rep.differences {
            println!("  {}: {}", d.kind, d.detail);
        }
        println!(
            "  {}",
            if rep.differences.is_empty() {
                "log and store agree"
            } else {
                "DIFFERENCES"
            }
        );
    }
    Ok(if rep.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn audit_reconcile(files: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        files.len() >= 2,
        "reconcile needs the exports of two or more centres"
    );
    // Streamed: only messages still waiting for their other side are held in memory.
    let centres: Vec<String> = files
        .iter()
        .map(|f| hfx_node::audit::export_centre(f))
        .collect::<Result<_, _>>()?;
    let mut rec = hfx_node::audit::Reconciler::new(centres, hfx_node::now_ms());
    let bar = progress_bar(files.len() as u64, "reconciling");
    for f in files {
        hfx_node::audit::stream_entries(f, &mut |c, l| rec.add(c, l))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rep = rec.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        println!(
            "centres {}: {} messages matched on both sides, {} with centres not in this set",
            rep.centres.join(", "),
            rep.matched,
            rep.not_exported
        );
        for b in &rep.breaks {
            println!(
                "  {} {} → {} message {} ({}){} age {} s",
                b.kind,
                b.from,
                b.to,
                b.message_id,
                b.msg_type,
                if b.case_id.is_empty() {
                    String::new()
                } else {
                    format!(" case {}", b.case_id)
                },
                b.age_seconds
            );
        }
        println!("  {} break(s)", rep.breaks.len());
    }
    Ok(if rep.breaks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn audit_purge(config: &Path, older_than_days: u32) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&cfg.store_url())
        .await?;
    let before = hfx_node::now_ms() - older_than_days as i64 * 86_400_000;
    let n = hfx_node::audit::purge(&pool, before).await?;
    println!(
        "purged {n} payloads older than {older_than_days} days; the log's hashes are kept, so it still verifies"
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn witness_evidence(conn: &Conn, json: bool) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let client = conn.client(Role::Auditor)?;
    let mut c = pb::audit_client::AuditClient::new(client.channel());
    let list = c
        .list_evidence(pb::EvidenceQuery { limit: 100 })
        .await
        .map_err(status_error)?
        .into_inner()
        .evidence;
    if list.is_empty() && !json {
        println!("no evidence of misbehaviour kept");
    }
    for e in &list {
        if json {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD;
            println!(
                "{}",
                serde_json::json!({"at_unix_ms": e.at_unix_ms, "centre": e.centre, "kind": e.kind, "detail": e.detail, "reported_by": e.reported_by, "old_note": b.encode(&e.old_note), "new_note": b.encode(&e.new_note), "proof": e.proof.iter().map(hex::encode).collect::<Vec<_>>()})
            );
        } else {
            println!(
                "{} {} {}: {} (shown by {})",
                e.at_unix_ms, e.kind, e.centre, e.detail, e.reported_by
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit_synth(out: &Path, entries: u64, centres: usize) -> anyhow::Result<ExitCode> {
    let zone = hfx_certs::ZoneConfig::parse(hfx_zone::launcher::SHIPPED_ZONE)?;
    let codes: Vec<String> = zone
        .centres
        .iter()
        .take(centres)
        .map(|c| c.code.clone())
        .collect();
    let exchanges = entries / 4;
    let bar = progress_bar(exchanges, "synthesizing");
    let t = std::time::Instant::now();
    let b = bar.clone();
    let files =
        hfx_node::audit::synthesize(out, &zone.zone, &codes, exchanges, 100_000, &move |d, _| {
            b.set_position(d)
        })?;
    bar.finish_and_clear();
    println!(
        "{} exchanges ({} entries) across {} centres written to {} in {:.1} s:",
        exchanges,
        exchanges * 4,
        codes.len(),
        out.display(),
        t.elapsed().as_secs_f64()
    );
    for f in files {
        println!("  {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
