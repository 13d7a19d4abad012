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
    if !json {
        // The same table as `hfx disclosures`: centres by name, the legal basis under each.
        let centres = super::lang::Centres::load(conn);
        print!(
            "{}",
            super::disclosures::list_text(super::lang::cat(), &centres, &list)
        );
        return Ok(ExitCode::SUCCESS);
    }
    for d in &list {
        let purpose = pb::Purpose::try_from(d.purpose)
            .map(hfx_node::member::purpose_name)
            .unwrap_or("?");
        println!(
            "{}",
            serde_json::json!({"at_unix_ms": d.at_unix_ms, "direction": d.direction, "peer": d.peer_centre, "acting_person": d.acting_person, "purpose": purpose, "legal_basis": d.legal_basis, "outcome": d.outcome, "message_id": d.message_id, "subject": d.subject_masked})
        );
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
    let bar = progress_bar(len, &super::lang::cat().msg("progress-reading"));
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
    // One streaming pass (memory bounded by the tree, not the file); a file with a finding is
    // read a second time, in memory, for the full report.
    let bar = progress_bar(len, &super::lang::cat().msg("progress-verifying"));
    let mut r = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let rep = hfx_tlog::audit::verify_stream(
        &mut r,
        &mut |centre| trusted(directory, root, centre),
        &|_, _| {},
    )?;
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
    let cat = super::lang::cat();
    if directory.is_none() {
        eprintln!(
            "{}",
            cat.text("verify-warning-own-key", &[("hint", TRUST_HINT.into())])
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
                    let file = f.display().to_string();
                    println!(
                        "{}\n  {}",
                        cat.text(
                            "verify-unreadable",
                            &[("file", file.into()), ("error", format!("{err:#}").into())]
                        ),
                        cat.msg("verify-failed")
                    );
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
            print!("{}", verify_text(cat, f, &rep, secs));
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One export's verification as an auditor reads it: the summary line, each problem in the
/// verifier's own words, then OK or FAILED.
fn verify_text(
    cat: &hfx_i18n::Catalogue,
    f: &Path,
    rep: &hfx_tlog::audit::VerifyReport,
    secs: f64,
) -> String {
    let uncommitted = if rep.disclosures_uncommitted > 0 {
        cat.text(
            "verify-uncommitted",
            &[("count", rep.disclosures_uncommitted.to_string().into())],
        )
    } else {
        String::new()
    };
    let arg = |k: &'static str, v: String| -> hfx_i18n::Arg<'static> { (k, v.into()) };
    let mut out = cat.text(
        "verify-summary",
        &[
            arg("file", f.display().to_string()),
            arg("centre", rep.centre.to_string()),
            arg("entries", rep.entries.to_string()),
            arg("root", rep.root.to_string()),
            arg("checkpoints", rep.checkpoints_verified.to_string()),
            arg("cosignatures", rep.cosignatures_verified.to_string()),
            arg("witnessed", rep.witnessed_size.to_string()),
            arg("present", rep.payloads_present.to_string()),
            arg("purged", rep.payloads_purged.to_string()),
            arg("disclosures", rep.disclosures_committed.to_string()),
            arg("uncommitted", uncommitted),
            arg("secs", format!("{secs:.2}")),
            arg("entries_secs", format!("{:.2}", rep.entries_seconds)),
            arg(
                "rate",
                format!("{:.0}", rep.entries as f64 / rep.entries_seconds.max(1e-9)),
            ),
            arg("payloads_secs", format!("{:.2}", rep.payloads_seconds)),
        ],
    );
    out.push('\n');
    for p in &rep.problems {
        let line = match p.at {
            Some(at) => cat.text(
                "verify-problem-at",
                &[
                    arg("kind", p.kind.to_string()),
                    arg("at", at.to_string()),
                    arg("detail", p.detail.clone()),
                ],
            ),
            None => cat.text(
                "verify-problem",
                &[
                    arg("kind", p.kind.to_string()),
                    arg("detail", p.detail.clone()),
                ],
            ),
        };
        out.push_str(&format!("  {line}\n"));
    }
    let verdict = match (rep.problems.is_empty(), rep.key_trusted) {
        (true, true) => "verify-ok",
        (true, false) => "verify-ok-own-key",
        (false, _) => "verify-failed",
    };
    out.push_str(&format!("  {}\n", cat.msg(verdict)));
    out
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
        let cat = super::lang::cat();
        let arg = |k: &'static str, v: String| -> hfx_i18n::Arg<'static> { (k, v.into()) };
        println!(
            "{}",
            cat.text(
                "replay-rebuilt",
                &[
                    arg("centre", rep.centre.to_string()),
                    arg("rebuilt", rep.rebuilt.to_string()),
                    arg("store", rep.store_records.to_string()),
                    arg("purged", rep.undecodable.to_string()),
                ],
            )
        );
        println!(
            "  {}",
            cat.text(
                "replay-compared",
                &[
                    arg("compared", rep.compared.to_string()),
                    arg("by_hash", rep.commitments_purged.to_string()),
                    arg("before", rep.uncommitted_before_schema.to_string()),
                ],
            )
        );
        for d in &rep.differences {
            println!("  {}: {}", d.kind, d.detail);
        }
        print!("{}", cases_text(cat, &cases, now));
        match &found {
            Some(f) => println!(
                "  {}",
                cat.text(
                    "replay-store-compared",
                    &[
                        arg("rows", f.store.len().to_string()),
                        arg(
                            "config",
                            config.map(|c| c.display().to_string()).unwrap_or_default()
                        ),
                        arg("findings", findings.len().to_string()),
                    ],
                )
            ),
            None => println!("  {}", cat.msg("replay-store-not-compared")),
        }
        for f in &findings {
            println!(
                "  {} case {} ({}) {}: expected {}, found {} (age {} s)",
                f.kind, f.case_id, f.role, f.field, f.expected, f.found, f.age_seconds
            );
        }
        println!(
            "  {}",
            cat.msg(if ok {
                "replay-agree"
            } else {
                "replay-differences"
            })
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The rebuilt cases, one line each (a summary by state past 100); amounts in fen as the
/// log keeps them, the case's role and state as the log names them.
fn cases_text(cat: &hfx_i18n::Catalogue, cases: &[hfx_tlog::audit::CaseLog], now: i64) -> String {
    let fen = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "  {}\n",
        cat.text("replay-cases", &[("count", cases.len().to_string().into())])
    );
    if cases.len() > 100 {
        let mut by: std::collections::BTreeMap<String, u64> = Default::default();
        for c in cases {
            *by.entry(format!("{} {}", c.role, c.state())).or_default() += 1;
        }
        for (k, n) in by {
            out.push_str(&format!("    {n:>8} {k}\n"));
        }
        return out;
    }
    for c in cases {
        let released = if c.released.is_some() {
            cat.msg("replay-case-released")
        } else {
            String::new()
        };
        let unreadable = if c.unreadable > 0 {
            cat.text(
                "replay-case-unreadable",
                &[("count", c.unreadable.to_string().into())],
            )
        } else {
            String::new()
        };
        let line = cat.text(
            "replay-case",
            &[
                ("case", c.case_id.to_string().into()),
                ("role", format!("{:<11}", c.role).into()),
                ("state", format!("{:<15}", c.state()).into()),
                ("held", fen(c.held.as_ref().map(|x| x.amount_fen)).into()),
                ("paid", fen(c.paid.as_ref().map(|x| x.amount_fen)).into()),
                (
                    "credited",
                    fen(c.credited.as_ref().map(|x| x.amount_fen)).into(),
                ),
                ("released", released.into()),
                ("unreadable", unreadable.into()),
                ("age", ((now - c.last_ms).max(0) / 1000).to_string().into()),
            ],
        );
        out.push_str(&format!("    {line}\n"));
    }
    out
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
    let bar = progress_bar(
        files.len() as u64,
        &super::lang::cat().msg("progress-reconciling"),
    );
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
        let cat = super::lang::cat();
        println!(
            "{}",
            cat.text(
                "reconcile-matched",
                &[
                    ("centres", rep.centres.join(", ").into()),
                    ("matched", rep.matched.to_string().into()),
                    ("other", rep.not_exported.to_string().into()),
                ],
            )
        );
        if rep.repeated > 0 {
            println!(
                "  {}",
                cat.text(
                    "reconcile-repeated",
                    &[("count", rep.repeated.to_string().into())]
                )
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
        println!(
            "  {}",
            cat.text(
                "reconcile-breaks",
                &[("count", rep.breaks.len().to_string().into())]
            )
        );
        print!("{}", money_text(cat, &mrep));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The zone's money in the transfer cases of the exports: cases, money in flight by where it
/// is (fen as the logs keep them, the total also in yuan), then each break in its own words.
fn money_text(cat: &hfx_i18n::Catalogue, m: &hfx_tlog::audit::MoneyReport) -> String {
    let f = &m.in_flight;
    let mut out = cat.text(
        "money-cases",
        &[
            ("cases", m.cases.to_string().into()),
            ("settled", m.settled.to_string().into()),
            ("one_sided", m.one_sided.to_string().into()),
        ],
    );
    out.push('\n');
    out.push_str(&format!(
        "  {}\n",
        cat.text(
            "money-in-flight",
            &[
                ("fen", f.total_fen.to_string().into()),
                ("yuan", hfx_i18n::money(f.total_fen).into()),
            ],
        )
    ));
    for (id, fen, cases) in [
        ("money-held", f.held_at_origins_fen, f.held_cases),
        ("money-in-transit", f.in_transit_fen, f.in_transit_cases),
        (
            "money-credited-not-closed",
            f.credited_not_closed_fen,
            f.credited_not_closed_cases,
        ),
    ] {
        out.push_str(&format!(
            "    {}\n",
            cat.text(
                id,
                &[
                    ("fen", format!("{fen:>14}").into()),
                    ("cases", format!("{cases:>4}").into()),
                ],
            )
        ));
    }
    for b in &m.breaks {
        out.push_str(&format!(
            "  {} case {} {} → {} {} fen age {} s: {}\n",
            b.kind, b.case_id, b.origin, b.destination, b.amount_fen, b.age_seconds, b.detail
        ));
    }
    out.push_str(&format!(
        "  {}\n",
        cat.text(
            "money-breaks",
            &[
                ("count", m.breaks.len().to_string().into()),
                ("secs", m.hold_deadline_secs.to_string().into()),
            ],
        )
    ));
    out
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

#[cfg(test)]
mod text_tests {
    use super::*;

    fn en() -> hfx_i18n::Catalogue {
        hfx_i18n::Catalogue::new(hfx_i18n::Lang::En)
    }

    fn zh() -> hfx_i18n::Catalogue {
        hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn)
    }

    fn report(
        problems: Vec<hfx_tlog::audit::Problem>,
        key_trusted: bool,
    ) -> hfx_tlog::audit::VerifyReport {
        hfx_tlog::audit::VerifyReport {
            centre: "320300000000000".into(),
            entries: 64,
            root: "ab12".into(),
            checkpoints_verified: 3,
            cosignatures_verified: 6,
            witnessed_size: 60,
            payloads_present: 30,
            payloads_purged: 2,
            entries_seconds: 0.5,
            payloads_seconds: 0.25,
            key_trusted,
            disclosures_committed: 16,
            disclosures_uncommitted: 1,
            problems,
        }
    }

    #[test]
    fn a_verification_summary_reads_in_both_languages_and_keeps_the_problems_words() {
        let f = Path::new("a.hfxlog");
        let ok = report(vec![], true);
        let t = verify_text(&en(), f, &ok, 1.0);
        assert_eq!(
            t,
            "a.hfxlog: centre 320300000000000, 64 entries, root ab12; 3 checkpoints and 6 cosignatures verified; \
             witnessed up to 60; 30 payloads present, 2 purged; 16 disclosures committed by the log \
             (1 written before schema 3, not committed) (1.00 s: entries 0.50 s = 128/s, payloads 0.25 s)\n  OK\n"
        );
        let t = verify_text(&zh(), f, &ok, 1.0);
        assert!(t.contains("已验证 3 个检查点和 6 个见证签名"), "{t}");
        assert!(t.ends_with("\n  通过\n"), "{t}");
        let bad = report(
            vec![hfx_tlog::audit::Problem {
                kind: "entry_changed".into(),
                at: Some(57),
                detail: "entry 57 (line 64)".into(),
            }],
            false,
        );
        let t = verify_text(&en(), f, &bad, 1.0);
        assert!(
            t.ends_with("\n  entry_changed at 57: entry 57 (line 64)\n  FAILED\n"),
            "{t}"
        );
        let t = verify_text(&zh(), f, &bad, 1.0);
        assert!(
            t.ends_with("\n  entry_changed，位置 57：entry 57 (line 64)\n  未通过\n"),
            "{t}"
        );
        let own_key = report(vec![], false);
        assert!(verify_text(&en(), f, &own_key, 1.0).contains("OK (internally consistent only"));
    }

    #[test]
    fn the_money_in_flight_reads_in_both_languages_with_fen_and_yuan() {
        let m = hfx_tlog::audit::MoneyReport {
            cases: 3,
            one_sided: 1,
            settled: 1,
            in_flight: hfx_tlog::audit::InFlight {
                held_at_origins_fen: 123_456,
                held_cases: 1,
                total_fen: 123_456,
                ..Default::default()
            },
            breaks: vec![],
            hold_deadline_secs: 3600,
        };
        let t = money_text(&en(), &m);
        assert!(
            t.starts_with(
                "transfer cases: 3 (1 settled on both sides, 1 with one side not exported)\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("  money in flight, as the logs show it: 123456 fen (¥1,234.56)\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "    held at origins                123456 fen in    1 case(s)  (transfer-out"
            ),
            "{t}"
        );
        assert!(
            t.ends_with("  0 money break(s) (a hold older than 3600 s is one)\n"),
            "{t}"
        );
        let t = money_text(&zh(), &m);
        assert!(
            t.contains("在途资金（按日志）：¥1,234.56（123456 分）"),
            "{t}"
        );
        assert!(
            t.ends_with("资金断点 0 处（冻结超过 3600 秒即算一处）\n"),
            "{t}"
        );
        let t = cases_text(&zh(), &[], 0);
        assert_eq!(t, "  从日志重建转移业务 0 笔\n");
        assert_eq!(
            cases_text(&en(), &[], 0),
            "  0 transfer case(s) rebuilt from the log\n"
        );
    }
}
