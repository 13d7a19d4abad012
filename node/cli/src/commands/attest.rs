//! `hfx attest request | show | verify | status | revoke`: deposit-use certificates
//! (docs/attestation.md). `request`, `status` and `revoke` go through the own node; `show`
//! and `verify` need no node: `verify` checks offline against a directory history.

use super::{Conn, init_cli_logging, status_error};
use anyhow::{Context, bail};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use hfx_tlog::attest::{self, FIELD_LABELS, KeyHistory};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status when a certificate is refused (offline) or revoked (online).
const REFUSED: u8 = 2;

#[derive(clap::Subcommand, Debug)]
pub enum AttestCmd {
    /// Ask a deposit centre for a member's deposit-use certificate (缴存使用证明), clerk of the
    /// lending centre. The node verifies and keeps what it received; prints the compact form.
    Request(RequestArgs),
    /// Print a certificate readably (Chinese labels, English beside) and its QR code. Checks
    /// nothing: use `verify`.
    Show(ShowArgs),
    /// Verify a certificate offline: signature, issuer key in the directory in force at issue
    /// time, expiry. Names the failed check; exit status 2 when refused. `--online` also asks
    /// the issuer (through the own node) whether it was revoked.
    Verify(VerifyArgs),
    /// Ask a certificate's issuer (through the own node) whether it stands.
    Status(StatusArgs),
    /// Revoke a certificate this centre issued (clerk of the deposit centre).
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The deposit centre that issues it (15 digits).
    #[arg(long)]
    pub centre: String,
    /// The member's id number.
    #[arg(long = "id", value_name = "ID")]
    pub id_number: String,
    /// The member's name, as on the id.
    #[arg(long)]
    pub name: String,
    /// 01 身份证, 02 军官证, 03 护照, 04 外国人永久居留证, 99 其他.
    #[arg(long, default_value = "01")]
    pub id_type: String,
    /// Days valid, 1 to 90 (default: the issuer's, 30).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=90))]
    pub valid_days: Option<u32>,
    /// Reuse a message id (UUIDv7) when retrying: the issuer answers with the same certificate.
    #[arg(long)]
    pub message_id: Option<String>,
    /// Write the compact form (`HFX1:...`) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A file holding the certificate (compact text or COSE bytes), the compact text itself,
    /// or `-` for standard input.
    pub input: String,
    /// Also write the QR code to this file: `.svg` or `.png`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not draw the QR code on the terminal.
    #[arg(long)]
    pub no_qr: bool,
    /// Print the certificate as JSON (amounts in fen).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The certificate: a file, the compact text, or `-` for standard input.
    pub input: String,
    /// The directory history: a signed directory file, or a folder of them (one per version).
    #[arg(long)]
    pub directory: PathBuf,
    /// The zone root certificate that signs the directories (default: ZONE_DIR/trust/root.crt.pem
    /// with --dir).
    #[arg(long, env = "HFX_ROOT")]
    pub root: Option<PathBuf>,
    /// Zone folder (for the root certificate, and the node with --online).
    #[arg(long, env = "HFX_DIR")]
    pub dir: Option<PathBuf>,
    /// Verify as at this time (unix seconds) instead of now.
    #[arg(long)]
    pub at: Option<i64>,
    /// Also ask the issuer whether it was revoked, through the own node (--node).
    #[arg(long)]
    pub online: bool,
    /// Own centre, for --online.
    #[arg(long = "node", env = "HFX_NODE")]
    pub node: Option<String>,
    /// Print JSON (stable field names, the same in every language) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The certificate id (UUID).
    pub certificate_id: String,
    /// The issuing centre (default: the issuer of the certificate received with that id).
    #[arg(long)]
    pub centre: Option<String>,
    /// Print JSON (stable field names, the same in every language) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The certificate id (UUID).
    pub certificate_id: String,
    /// Why (recorded with the revocation).
    #[arg(long)]
    pub reason: String,
    /// Print JSON (stable field names, the same in every language) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cmd: AttestCmd) -> anyhow::Result<ExitCode> {
    init_cli_logging();
    match cmd {
        AttestCmd::Request(a) => request(a).await,
        AttestCmd::Show(a) => show(a),
        AttestCmd::Verify(a) => verify(a).await,
        AttestCmd::Status(a) => {
            let reply = ask_status(&a.conn, &a.certificate_id, a.centre.as_deref()).await?;
            print_status(&reply, a.json)
        }
        AttestCmd::Revoke(a) => {
            let mut client =
                pb::clerk_client::ClerkClient::new(a.conn.client(Role::Clerk)?.channel());
            let reply = client
                .revoke_certificate(pb::RevokeCertificateRequest {
                    certificate_id: a.certificate_id,
                    reason: a.reason,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            print_status(&reply, a.json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn request(a: RequestArgs) -> anyhow::Result<ExitCode> {
    let t = hfx_adapters::model::IdType::from_code(&a.id_type)
        .with_context(|| format!("--id-type: {:?} is not 01, 02, 03, 04 or 99", a.id_type))?;
    let mut client = pb::clerk_client::ClerkClient::new(a.conn.client(Role::Clerk)?.channel());
    let r = client
        .request_certificate(pb::LocalCertificateRequest {
            centre: a.centre.clone(),
            person: Some(pb::PersonKey {
                id_type: hfx_node::member::id_type_to_pb(t) as i32,
                id_number: a.id_number,
                name: a.name,
            }),
            message_id: a.message_id.unwrap_or_default(),
            valid_days: a.valid_days.unwrap_or(0),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let cert = r.certificate.unwrap_or_default();
    if let Some(out) = &a.out {
        std::fs::write(out, format!("{}\n", r.compact))
            .with_context(|| format!("--out {}", out.display()))?;
    }
    if a.json {
        let v = serde_json::json!({
            "certificate_id": cert.certificate_id, "issuer": a.centre,
            "issued_at_unix": cert.issued_at_unix, "expires_at_unix": cert.expires_at_unix,
            "compact": r.compact, "bytes": r.compact.len(),
            "local_receipt": r.local_receipt.map(|x| x.log_index),
            "peer_receipt": cert.receipt.map(|x| x.log_index),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let cat = super::lang::cat();
        let centres = super::lang::Centres::load(&a.conn);
        println!(
            "{}",
            cat.text(
                "attest-issued",
                &[
                    ("id", cert.certificate_id.as_str().into()),
                    ("centre", centres.short(cat, &a.centre).into()),
                    ("until", cat.date_time_unix(cert.expires_at_unix).into()),
                    ("bytes", r.compact.len().into()),
                ],
            )
        );
        println!("{}", r.compact);
    }
    Ok(ExitCode::SUCCESS)
}

/// The certificate's COSE bytes from a file, the compact text, or standard input.
pub fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    let raw = if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        buf
    } else if input.trim_start().starts_with(attest::COMPACT_PREFIX) {
        input.as_bytes().to_vec()
    } else {
        std::fs::read(input).with_context(|| format!("reading {input}"))?
    };
    attest::read_any(&raw).map_err(|e| anyhow::anyhow!("{e}"))
}

fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let cose = read_input(&a.input)?;
    let (cert, kid) = attest::parse(&cose).map_err(|e| anyhow::anyhow!("{e}"))?;
    let compact = attest::to_compact(&cose);
    if let Some(out) = &a.out {
        write_qr(&compact, out)?;
    }
    if a.json {
        let f = &cert.fields;
        let v = serde_json::json!({
            "id": cert.id.to_string(), "issuer": cert.issuer, "audience": cert.audience,
            "issued_at_unix": cert.issued_at_unix, "expires_at_unix": cert.expires_at_unix,
            "key_id": hex::encode(&kid), "purpose": f.purpose, "name": f.name,
            "id_type": f.id_type, "id_number": f.id_number, "account_no": f.account_no,
            "opened_date": f.opened_date, "status": f.status, "deposit_base_fen": f.deposit_base_fen,
            "employer_rate_bp": f.employer_rate_bp, "member_rate_bp": f.member_rate_bp,
            "monthly_amount_fen": f.monthly_amount_fen, "balance_fen": f.balance_fen,
            "continuous_start_month": f.continuous_start_month,
            "continuous_end_month": f.continuous_end_month, "has_loan": f.has_loan,
            "loan_count": f.loan_count, "total_borrowed_fen": f.total_borrowed_fen,
            "outstanding_fen": f.outstanding_fen, "issuer_name": f.issuer_name,
            "contact": f.contact, "compact_bytes": compact.len(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "住房公积金缴存使用证明 deposit-use certificate (not verified: use `hfx attest verify`)"
    );
    let head = [
        ("证明编号", "certificate id", cert.id.to_string()),
        ("出具中心代码", "issuer", cert.issuer.clone()),
        ("申请中心", "requested by", cert.audience.clone()),
        ("出具时间", "issued", utc(cert.issued_at_unix)),
        ("有效期至", "expires", utc(cert.expires_at_unix)),
        ("密钥标识", "key id", hex::encode(&kid)),
    ];
    for (zh, en, v) in head {
        println!(
            "  {:<width$} {v}",
            format!("{zh} {en}"),
            width = label_width(zh, en)
        );
    }
    for (key, value) in cert.fields.display_values() {
        if let Some((_, zh, en)) = FIELD_LABELS.iter().find(|(k, _, _)| *k == key) {
            println!(
                "  {:<width$} {value}",
                format!("{zh} {en}"),
                width = label_width(zh, en)
            );
        }
    }
    println!("  ({} bytes in the QR code)", compact.len());
    if !a.no_qr {
        let code = qrcode::QrCode::new(compact.as_bytes()).context("QR code")?;
        let text = code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build();
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Pad labels to one column: CJK characters take two cells.
fn label_width(zh: &str, en: &str) -> usize {
    let cells = zh.chars().count() * 2 + 1 + en.len();
    40usize.saturating_sub(cells) + zh.chars().count() + 1 + en.len()
}

/// Write the QR code of `compact` as SVG or PNG (by the file's extension).
pub fn write_qr(compact: &str, out: &Path) -> anyhow::Result<()> {
    let code = qrcode::QrCode::new(compact.as_bytes()).context("QR code")?;
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(400, 400)
                .build();
            std::fs::write(out, svg).with_context(|| format!("--out {}", out.display()))?;
        }
        Some("png") => {
            let (w, scale, quiet) = (code.width(), 8usize, 4usize);
            let side = (w + 2 * quiet) * scale;
            let colors = code.to_colors();
            let mut pixels = vec![255u8; side * side];
            for (i, c) in colors.iter().enumerate() {
                if *c == qrcode::Color::Dark {
                    let (x, y) = (i % w + quiet, i / w + quiet);
                    for dy in 0..scale {
                        let row = (y * scale + dy) * side;
                        pixels[row + x * scale..row + (x + 1) * scale].fill(0);
                    }
                }
            }
            let file =
                std::fs::File::create(out).with_context(|| format!("--out {}", out.display()))?;
            let mut enc =
                png::Encoder::new(std::io::BufWriter::new(file), side as u32, side as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().context("PNG header")?;
            writer.write_image_data(&pixels).context("PNG data")?;
        }
        _ => bail!(
            "--out {}: the QR code is written as .svg or .png",
            out.display()
        ),
    }
    Ok(())
}

/// The zone root's public key, from --root or ZONE_DIR/trust/root.crt.pem.
fn root_key(root: Option<&Path>, dir: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let path = match (root, dir) {
        (Some(r), _) => r.to_path_buf(),
        (None, Some(d)) => hfx_certs::ZoneDir::open(d).root_cert_path(),
        (None, None) => bail!("give --root ROOT_CERT (or --dir ZONE_DIR) to check the directories"),
    };
    let pem =
        std::fs::read_to_string(&path).with_context(|| format!("--root {}", path.display()))?;
    hfx_certs::pki::root_public_key(&pem).with_context(|| format!("--root {}", path.display()))
}

/// The directory history: one signed directory file, or every `.json` file of a folder.
pub fn load_history(path: &Path, root_key: &[u8]) -> anyhow::Result<KeyHistory> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in
            std::fs::read_dir(path).with_context(|| format!("--directory {}", path.display()))?
        {
            let p = e?.path();
            if p.extension().and_then(|x| x.to_str()) == Some("json") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut snapshots = Vec::with_capacity(files.len());
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let name = f.display().to_string();
        snapshots.push(attest::DirectorySnapshot::from_signed_json(
            &name, &text, root_key,
        )?);
    }
    Ok(KeyHistory::new(snapshots)?)
}

async fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let cose = read_input(&a.input)?;
    let key = root_key(a.root.as_deref(), a.dir.as_deref())?;
    let history = load_history(&a.directory, &key)?;
    let now = a.at.unwrap_or_else(hfx_certs::zonedir::now_unix);
    let result = attest::verify(&cose, &history, now);
    let online = match (&result, a.online) {
        (Ok(v), true) => {
            let conn = Conn {
                dir: a.dir.clone(),
                node: a.node.clone(),
                person: None,
                endpoint: None,
                cert: None,
                key: None,
                root: a.root.clone(),
                crl: None,
            };
            let id = v.certificate.id.to_string();
            Some(ask_status(&conn, &id, Some(&v.certificate.issuer)).await?)
        }
        _ => None,
    };
    let revoked = online
        .as_ref()
        .is_some_and(|s| s.state != pb::CertificateState::Valid as i32);
    if a.json {
        let v = match &result {
            Ok(v) => serde_json::json!({
                "valid": !revoked, "check": null, "certificate_id": v.certificate.id.to_string(),
                "issuer": v.certificate.issuer, "key_id": hex::encode(v.key_id),
                "directory_version": v.directory_version,
                "expires_at_unix": v.certificate.expires_at_unix,
                "online": online.as_ref().map(status_json),
            }),
            Err(e) => {
                serde_json::json!({"valid": false, "check": e.check(), "error": e.to_string()})
            }
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &result {
            Ok(v) => {
                println!(
                    "valid offline: certificate {} of centre {}, key {} in directory version {}, expires {}",
                    v.certificate.id,
                    v.certificate.issuer,
                    hex::encode(v.key_id),
                    v.directory_version,
                    utc(v.certificate.expires_at_unix)
                );
                if let Some(s) = &online {
                    print_status(s, false)?;
                }
            }
            Err(e) => println!("refused by the {} check: {e}", e.check()),
        }
    }
    Ok(if result.is_err() || revoked {
        ExitCode::from(REFUSED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn ask_status(
    conn: &Conn,
    id: &str,
    centre: Option<&str>,
) -> anyhow::Result<pb::CertificateStatusReply> {
    let role = Role::Clerk;
    let mut client = pb::clerk_client::ClerkClient::new(conn.client(role)?.channel());
    Ok(client
        .certificate_status(pb::LocalCertificateStatusRequest {
            centre: centre.unwrap_or_default().to_string(),
            certificate_id: id.to_string(),
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

fn state_name(s: i32) -> &'static str {
    match pb::CertificateState::try_from(s) {
        Ok(pb::CertificateState::Valid) => "valid",
        Ok(pb::CertificateState::Revoked) => "revoked",
        Ok(pb::CertificateState::Expired) => "expired",
        Ok(pb::CertificateState::Unknown) => "unknown",
        _ => "unspecified",
    }
}

/// The online status of a certificate in words: revoked with its reason code, when (China
/// Standard Time) and the issuer's detail; or its state.
fn status_line(cat: &hfx_i18n::Catalogue, s: &pb::CertificateStatusReply) -> String {
    if s.state == pb::CertificateState::Revoked as i32 {
        cat.text(
            "attest-online-revoked",
            &[
                ("reason", s.reason.as_str().into()),
                ("at", cat.date_time_unix(s.revoked_at_unix).into()),
                ("detail", s.detail.as_str().into()),
            ],
        )
    } else {
        let name = state_name(s.state);
        let state = cat.msg_or(&format!("attest-state-{name}"), name);
        cat.text("attest-online", &[("state", state.into())])
    }
}

fn status_json(s: &pb::CertificateStatusReply) -> serde_json::Value {
    serde_json::json!({
        "state": state_name(s.state), "reason": s.reason, "detail": s.detail,
        "revoked_at_unix": s.revoked_at_unix, "expires_at_unix": s.expires_at_unix,
    })
}

fn print_status(s: &pb::CertificateStatusReply, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&status_json(s))?);
    } else {
        println!("{}", status_line(super::lang::cat(), s));
    }
    Ok(if s.state == pb::CertificateState::Valid as i32 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REFUSED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_tlog::attest::example::{T0, example_certificate, example_signer};

    /// Read a QR code back from the PNG `write_qr` made.
    fn scan_png(path: &Path) -> String {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the image");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_online_status_reads_in_both_languages() {
        let zh = hfx_i18n::Catalogue::new(hfx_i18n::Lang::ZhCn);
        let en = hfx_i18n::Catalogue::new(hfx_i18n::Lang::En);
        let valid = pb::CertificateStatusReply {
            state: pb::CertificateState::Valid as i32,
            ..Default::default()
        };
        assert_eq!(status_line(&en, &valid), "online: valid");
        assert_eq!(status_line(&zh, &valid), "在线核验：有效");
        let revoked = pb::CertificateStatusReply {
            state: pb::CertificateState::Revoked as i32,
            reason: "ACCOUNT_CLOSED".into(),
            detail: "issued in error".into(),
            revoked_at_unix: 1_796_140_800,
            ..Default::default()
        };
        assert_eq!(
            status_line(&en, &revoked),
            "online: revoked (ACCOUNT_CLOSED) at 2 Dec 2026 00:00:00 (UTC+8): issued in error"
        );
        assert_eq!(
            status_line(&zh, &revoked),
            "在线核验：已撤销（ACCOUNT_CLOSED），撤销时间 2026年12月2日 00:00:00（北京时间）：issued in error"
        );
    }

    #[test]
    fn the_qr_code_round_trips_through_a_scanner_and_still_verifies() {
        let s = example_signer();
        let cose = s.sign(&example_certificate()).unwrap();
        let compact = attest::to_compact(&cose);
        let tmp = tempfile::tempdir().unwrap();
        let png = tmp.path().join("qr.png");
        write_qr(&compact, &png).unwrap();
        let scanned = scan_png(&png);
        assert_eq!(scanned, compact);
        let history = KeyHistory::new(vec![attest::DirectorySnapshot {
            zone: "huaihai".into(),
            version: 1,
            issued_at_unix: T0 - 1,
            expires_at_unix: T0 + 86_400,
            keys: vec![(example_certificate().issuer, s.public_key())],
        }])
        .unwrap();
        let read = read_input(&scanned).unwrap();
        let v = attest::verify(&read, &history, T0 + 60).unwrap();
        assert_eq!(v.certificate, example_certificate());
        // The SVG form holds a drawing, and an unknown extension is refused by name.
        let svg = tmp.path().join("qr.svg");
        write_qr(&compact, &svg).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        let e = write_qr(&compact, &tmp.path().join("qr.gif")).unwrap_err();
        assert!(e.to_string().contains(".svg or .png"), "{e}");
    }
}
