//! `hfx audit`: the auditor's tools (export, verify, prove, check-receipt, replay, reconcile,
//! synth, purge, disclosures).

use super::{Conn, init_cli_logging, progress_bar, status_error};
use anyhow::Context;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod money;

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
            let store = hfx_node::store::Store::open_offline(&cfg.store_url())
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
            let header = hfx_tlog::audit::ExportHeader {
                centre: cfg.centre.clone(),
                origin: signer.name().to_string(),
                vkey: signer.verifier_key(),
            };
            let bar = progress_bar(0, "exporting");
            let b = bar.clone();
            let n = store
                .export(&header, !no_payloads, &mut file, &move |d, t| {
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
    let export = hfx_tlog::audit::parse(
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

fn load_export(path: &Path) -> anyhow::Result<hfx_tlog::audit::Export> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(len, "reading");
    let mut r = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(f));
    let e = hfx_tlog::audit::parse(&mut r, &|_, _| {})
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

/// How to give the verifier a key it can trust (printed when none is given).
const TRUST_HINT: &str = "give the zone's signed directory and its root: --directory <zone>/trust/directory.json --root <zone>/trust/root.crt.pem (or, to check only that an export is consistent with itself, --trust-export-key)";

/// One file's verification: the report, or why the file could not be read at all.
fn verify_file(
    f: &Path,
    directory: Option<&Path>,
    root: Option<&Path>,
) -> anyhow::Result<hfx_tlog::audit::VerifyReport> {
    let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(len, "reading");
    let mut r = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let read = hfx_tlog::audit::read_for_verify(&mut r, &|_, _| {})?;
    bar.finish_and_clear();
    let (vkey, quorum) = trusted(directory, root, &read.export.centre)?;
    let bar = progress_bar(read.export.entries.len() as u64, "verifying");
    let b = bar.clone();
    let rep = hfx_tlog::audit::verify_read(&read, vkey.as_deref(), quorum, &move |d, _| {
        b.set_position(d)
    });
    bar.finish_and_clear();
    Ok(rep)
}

pub fn audit_verify(
    files: &[PathBuf],
    directory: Option<PathBuf>,
    root: Option<PathBuf>,
    trust_export_key: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !files.is_empty(),
        "no export files given: nothing verified (hfx audit verify FILE... ; write one with hfx audit export)"
    );
    anyhow::ensure!(
        directory.is_some() || trust_export_key,
        "no trusted key: without the zone's directory the checkpoint key would come from the export itself, and a forged export would verify; {TRUST_HINT}"
    );
    if directory.is_none() {
        eprintln!(
            "WARNING: --trust-export-key: each export's checkpoints are checked against the key in its own header. \
             The result proves only that the export is consistent with itself, NOT that it is the centre's log: \
             a forged export re-signed with another key passes. To check it against the centre's key, {TRUST_HINT}."
        );
    }
    let mut all_ok = true;
    for f in files {
        let t = std::time::Instant::now();
        let rep = match verify_file(f, directory.as_deref(), root.as_deref()) {
            Ok(rep) => rep,
            Err(err) => {
                all_ok = false;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"file": f, "report": null, "error": format!("{err:#}"), "seconds": t.elapsed().as_secs_f64()})
                    );
                } else {
                    println!("{}: unreadable: {err:#}\n  FAILED", f.display());
                }
                continue;
            }
        };
        let secs = t.elapsed().as_secs_f64();
        let ok = rep.problems.is_empty();
        all_ok &= ok;
        if json {
            println!(
                "{}",
                serde_json::json!({"file": f, "report": rep, "seconds": secs, "ok": ok, "key_trusted": rep.key_trusted})
            );
        } else {
            println!(
                "{}: centre {}, {} entries, root {}; {} checkpoints and {} cosignatures verified; witnessed up to {}; {} payloads present, {} purged; {} disclosures committed by the log{} ({:.2} s: entries {:.2} s = {:.0}/s, payloads {:.2} s)",
                f.display(),
                rep.centre,
                rep.entries,
                rep.root,
                rep.checkpoints_verified,
                rep.cosignatures_verified,
                rep.witnessed_size,
                rep.payloads_present,
                rep.payloads_purged,
                rep.disclosures_committed,
                if rep.disclosures_uncommitted > 0 {
                    format!(
                        " ({} written before schema 3, not committed)",
                        rep.disclosures_uncommitted
                    )
                } else {
                    String::new()
                },
                secs,
                rep.entries_seconds,
                rep.entries as f64 / rep.entries_seconds.max(1e-9),
                rep.payloads_seconds
            );
            for p in &rep.problems {
                println!(
                    "  {}{}: {}",
                    p.kind,
                    p.at.map(|a| format!(" at {a}")).unwrap_or_default(),
                    p.detail
                );
            }
            println!(
                "  {}",
                match (ok, rep.key_trusted) {
                    (true, true) => "OK",
                    (true, false) =>
                        "OK (internally consistent only: checked against the export's own key, not the directory's)",
                    (false, _) => "FAILED",
                }
            );
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
    let receipt = hfx_tlog::audit::prove(&e, index)?;
    hfx_tlog::audit::check_receipt(&receipt, None)?;
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
    let r: hfx_tlog::audit::InclusionReceipt =
        serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let (vkey, _) = trusted(directory.as_deref(), root.as_deref(), &r.centre)?;
    let cp = hfx_tlog::audit::check_receipt(&r, vkey.as_deref())?;
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

/// `hfx audit replay`: disclosures and transfer cases rebuilt from the log alone, compared
/// with what the export carries of the store (its disclosure records) and, with `--config`,
/// with the node's store (its transfer cases) and core system (the accounts), read only.
pub async fn audit_replay(
    file: &Path,
    config: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let e = load_export(file)?;
    let rep = hfx_tlog::audit::replay(&e);
    let cases = hfx_tlog::audit::case_logs(&e);
    let now = hfx_node::now_ms();
    let mut findings = Vec::new();
    let found = match config {
        Some(cfg) => {
            init_cli_logging();
            let f = money::read(cfg, &cases).await?;
            anyhow::ensure!(
                f.centre == e.centre,
                "{} is the configuration of centre {}, the export is centre {}'s",
                cfg.display(),
                f.centre,
                e.centre
            );
            findings.extend(hfx_tlog::audit::check_store(&cases, &f.store, now));
            findings.extend(hfx_tlog::audit::check_core(&cases, &f.store, &f.core, now));
            findings.extend(f.unreadable.iter().cloned());
            Some(f)
        }
        None => None,
    };
    let ok = rep.differences.is_empty() && findings.is_empty();
    let case_views: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::json!({
                "case_id": c.case_id, "role": c.role, "peer": c.peer, "state": c.state(),
                "letter_no": c.letter_no,
                "held_fen": c.held.as_ref().map(|x| x.amount_fen),
                "paid_fen": c.paid.as_ref().map(|x| x.amount_fen),
                // The origin closes the account as it sends the paid notice.
                "closed": c.paid.is_some(),
                "released": c.released.is_some(),
                "credited_fen": c.credited.as_ref().map(|x| x.amount_fen),
                "unreadable": c.unreadable,
                "age_seconds": (now - c.last_ms).max(0) / 1000,
            })
        })
        .collect();
    if json {
        let mut v = serde_json::to_value(&rep)?;
        v["money"] = serde_json::json!({
            "cases": case_views,
            "store_cases": found.as_ref().map(|f| f.store.len()),
            "compared_with_store_and_core": found.is_some(),
            "findings": findings,
        });
        v["ok"] = ok.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{}: {} disclosures rebuilt from the log, {} in the store, {} with purged payloads",
            rep.centre, rep.rebuilt, rep.store_records, rep.undecodable
        );
        println!(
            "  {} records compared field by field with their commitment, {} by hash only (payload purged), {} written before schema 3",
            rep.compared, rep.commitments_purged, rep.uncommitted_before_schema
        );
        for d in &rep.differences {
            println!("  {}: {}", d.kind, d.detail);
        }
        print_cases(&cases, now);
        match &found {
            Some(f) => println!(
                "  transfer cases compared with the store ({} rows) and the core system ({}): {} finding(s)",
                f.store.len(),
                config.map(|c| c.display().to_string()).unwrap_or_default(),
                findings.len()
            ),
            None => println!(
                "  transfer cases not compared with a store or core system: give --config <node.toml>"
            ),
        }
        for f in &findings {
            println!(
                "  {} case {} ({}) {}: expected {}, found {} (age {} s)",
                f.kind, f.case_id, f.role, f.field, f.expected, f.found, f.age_seconds
            );
        }
        println!(
            "  {}",
            if ok {
                "log and store agree"
            } else {
                "DIFFERENCES"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The rebuilt cases, one line each (a summary by state past 100).
fn print_cases(cases: &[hfx_tlog::audit::CaseLog], now: i64) {
    let fen = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    println!("  {} transfer case(s) rebuilt from the log", cases.len());
    if cases.len() > 100 {
        let mut by: std::collections::BTreeMap<String, u64> = Default::default();
        for c in cases {
            *by.entry(format!("{} {}", c.role, c.state())).or_default() += 1;
        }
        for (k, n) in by {
            println!("    {n:>8} {k}");
        }
        return;
    }
    for c in cases {
        println!(
            "    {} {:<11} {:<15} held {} paid {} credited {}{}{} (last step {} s ago)",
            c.case_id,
            c.role,
            c.state(),
            fen(c.held.as_ref().map(|x| x.amount_fen)),
            fen(c.paid.as_ref().map(|x| x.amount_fen)),
            fen(c.credited.as_ref().map(|x| x.amount_fen)),
            if c.released.is_some() {
                ", released"
            } else {
                ""
            },
            if c.unreadable > 0 {
                format!(", {} entries unreadable (purged)", c.unreadable)
            } else {
                String::new()
            },
            (now - c.last_ms).max(0) / 1000
        );
    }
}

/// `hfx audit reconcile`: both sides of every exchange, and the money of every case across
/// the centres' exports (breaks with their age, the zone's money in flight).
pub fn audit_reconcile(
    files: &[PathBuf],
    hold_deadline_secs: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        files.len() >= 2,
        "reconcile needs the exports of two or more centres"
    );
    // Streamed: only messages still waiting for their other side, and transfer entries with
    // their payloads, are held in memory.
    let centres: Vec<String> = files
        .iter()
        .map(|f| hfx_tlog::audit::export_centre(f))
        .collect::<Result<_, _>>()?;
    let now = hfx_node::now_ms();
    let mut rec = hfx_tlog::audit::Reconciler::new(centres, now);
    let mut money = hfx_tlog::audit::MoneyCollector::new();
    let bar = progress_bar(files.len() as u64, "reconciling");
    for f in files {
        hfx_tlog::audit::stream_money(f, &mut |c, l| rec.add(c, l), &mut money)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let rep = rec.finish();
    let cases = money.finish();
    let mrep = hfx_tlog::audit::reconcile_money(&cases, now, hold_deadline_secs);
    let ok = rep.breaks.is_empty() && mrep.breaks.is_empty();
    if json {
        let mut v = serde_json::to_value(&rep)?;
        v["money"] = serde_json::to_value(&mrep)?;
        v["ok"] = ok.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "centres {}: {} messages matched on both sides, {} with centres not in this set",
            rep.centres.join(", "),
            rep.matched,
            rep.not_exported
        );
        if rep.repeated > 0 {
            println!(
                "  {} entries repeat a message already logged on the same side (retries), not breaks",
                rep.repeated
            );
        }
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
        println!("  {} message break(s)", rep.breaks.len());
        print_money(&mrep);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_money(m: &hfx_tlog::audit::MoneyReport) {
    let f = &m.in_flight;
    println!(
        "transfer cases: {} ({} settled on both sides, {} with one side not exported)",
        m.cases, m.settled, m.one_sided
    );
    println!(
        "  money in flight, as the logs show it: {} fen",
        f.total_fen
    );
    println!(
        "    held at origins        {:>14} fen in {:>4} case(s)  (transfer-out record sent, no payment notice yet)",
        f.held_at_origins_fen, f.held_cases
    );
    println!(
        "    in transit at the bank {:>14} fen in {:>4} case(s)  (paid out and closed at the origin, not yet credited)",
        f.in_transit_fen, f.in_transit_cases
    );
    println!(
        "    credited, not closed   {:>14} fen in {:>4} case(s)  (credited at the destination, the origin not closed: a break)",
        f.credited_not_closed_fen, f.credited_not_closed_cases
    );
    for b in &m.breaks {
        println!(
            "  {} case {} {} → {} {} fen age {} s: {}",
            b.kind, b.case_id, b.origin, b.destination, b.amount_fen, b.age_seconds, b.detail
        );
    }
    println!(
        "  {} money break(s) (a hold older than {} s is one)",
        m.breaks.len(),
        m.hold_deadline_secs
    );
}

pub async fn audit_purge(config: &Path, older_than_days: u32) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    let cfg = hfx_node::config::NodeConfig::load(config)?;
    let store = hfx_node::store::Store::open_offline(&cfg.store_url()).await?;
    let before = hfx_node::now_ms() - older_than_days as i64 * 86_400_000;
    let n = store.purge(before).await?;
    println!(
        "purged {n} payloads older than {older_than_days} days; the log's hashes are kept, so it still verifies"
    );
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
        hfx_tlog::audit::synthesize(out, &zone.zone, &codes, exchanges, 100_000, &move |d, _| {
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
