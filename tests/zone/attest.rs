//! Deposit-use certificates across a real zone (docs/attestation.md): the lending centre's
//! clerk asks, the deposit centre issues from its core system, both record the disclosure,
//! the lending centre keeps it; `hfx attest verify` checks it offline against the directory
//! and `show` prints and draws it; the issuer's online status turns to revoked once the
//! account closes, or when its clerk revokes it; closed and frozen accounts are refused.

use crate::common::{member, reason, zone};
use hfx_adapters::model::{AccountStatus, Member};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use std::path::{Path, PathBuf};

fn ask(centre: &str, m: &Member) -> pb::LocalCertificateRequest {
    pb::LocalCertificateRequest {
        centre: centre.to_string(),
        person: Some(pb::PersonKey {
            id_type: pb::IdType::ResidentId as i32,
            id_number: m.id_number.clone(),
            name: m.name.clone(),
        }),
        message_id: String::new(),
        valid_days: 10,
    }
}

fn hfx(args: &[&str]) -> (i32, String) {
    let out = crate::common::hfx()
        .args(args)
        .output()
        .expect("running hfx");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// The core system's database of a centre (the sqlite kind the test zone runs).
fn core_db(zone: &hfx_zone::launcher::Zone, code: &str) -> PathBuf {
    let cfg_path = zone.plan(code).unwrap().config.clone();
    let cfg: toml::Table = toml::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let adapter = cfg["adapter"].as_table().unwrap();
    assert_eq!(adapter["kind"].as_str(), Some("sqlite"), "{adapter:?}");
    let p = PathBuf::from(adapter["path"].as_str().unwrap());
    if p.is_absolute() {
        p
    } else {
        cfg_path.parent().unwrap().join(p)
    }
}

/// Change an account's status in the core system, as the centre's own staff would.
async fn set_status(db: &Path, account_no: &str, code: &str) {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    let done = sqlx::query("UPDATE grxx SET grzhzt = ?1 WHERE grzh = ?2")
        .bind(code)
        .bind(account_no)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

fn state(r: &pb::CertificateStatusReply) -> pb::CertificateState {
    pb::CertificateState::try_from(r.state).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_is_issued_verified_offline_kept_and_revoked_when_the_account_closes() {
    let (tmp, zone) = zone(2).await;
    let [lender, deposit] = [0, 1].map(|i| zone.centres[i].code.clone());
    let m = member(&deposit, AccountStatus::Normal);
    let clerk = zone.client(&lender, Role::Clerk).unwrap();
    let mut lending = pb::clerk_client::ClerkClient::new(clerk.channel());

    let r = lending
        .request_certificate(ask(&deposit, &m))
        .await
        .unwrap()
        .into_inner();
    let cert = r.certificate.clone().unwrap();
    assert!(
        r.compact.starts_with("HFX1:") && r.compact.len() <= 1000,
        "{}",
        r.compact.len()
    );
    assert!(cert.receipt.is_some() && r.local_receipt.is_some());
    assert_eq!(cert.expires_at_unix - cert.issued_at_unix, 10 * 86_400);

    // Offline: the CLI checks it against the zone's signed directory, with no node.
    let file = tmp.path().join("cert.txt");
    std::fs::write(&file, &r.compact).unwrap();
    let zd = zone.zone_dir();
    let dir_arg = zd.dir.display().to_string();
    let directory = zd.directory_path().display().to_string();
    let f = file.display().to_string();
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &directory,
        "--dir",
        &dir_arg,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true, "{out}");
    assert_eq!(v["certificate_id"], cert.certificate_id.as_str());
    assert_eq!(v["issuer"], deposit.as_str());
    // The history `hfx certs` keeps (trust/directories) verifies it just the same.
    let kept = zd.directory_history_path().display().to_string();
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &kept,
        "--dir",
        &dir_arg,
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");

    // A history folder: the directory in force, then one the root published later that
    // rotated the issuer's key before this certificate's issue time (backdated here), or
    // dropped the issuer: the certificate claims a key no longer in force.
    let root = zd.root().unwrap();
    let current = hfx_certs::SignedDirectory::from_json(
        &std::fs::read_to_string(zd.directory_path()).unwrap(),
    )
    .unwrap()
    .verify(&root.public_key(), cert.issued_at_unix)
    .unwrap();
    let history = |name: &str, next: &dyn Fn(&mut hfx_certs::Directory)| {
        let folder = tmp.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(zd.directory_path(), folder.join("v1.json")).unwrap();
        let mut d = current.clone();
        d.version += 1;
        d.issued_at_unix = cert.issued_at_unix - 1;
        next(&mut d);
        let signed = d.sign(|m| root.sign(m)).unwrap();
        std::fs::write(folder.join("v2.json"), signed.to_json()).unwrap();
        folder.display().to_string()
    };
    let dep = deposit.clone();
    let rotated = history("rotated", &|d| {
        let e = d.centres.iter_mut().find(|c| c.code == dep).unwrap();
        e.signing_key =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    });
    let dep = deposit.clone();
    let dropped = history("dropped", &|d| d.centres.retain(|c| c.code != dep));
    for (folder, check) in [(&rotated, "key_in_force"), (&dropped, "key_in_force")] {
        let (code, out) = hfx(&[
            "attest",
            "verify",
            &f,
            "--directory",
            folder,
            "--dir",
            &dir_arg,
            "--json",
        ]);
        assert_eq!(code, 2, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["check"], check, "{out}");
    }
    // A history whose directories hold no entry of the issuer at all.
    let dep = deposit.clone();
    let absent = tmp.path().join("absent");
    std::fs::create_dir_all(&absent).unwrap();
    let mut d = current.clone();
    d.centres.retain(|c| c.code != dep);
    std::fs::write(
        absent.join("v1.json"),
        d.sign(|m| root.sign(m)).unwrap().to_json(),
    )
    .unwrap();
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &absent.display().to_string(),
        "--dir",
        &dir_arg,
        "--json",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("\"check\": \"issuer\""), "{out}");
    // A directory the zone root did not sign is refused before anything is believed.
    let forged = tmp.path().join("forged.json");
    let text = std::fs::read_to_string(zd.directory_path()).unwrap();
    std::fs::write(
        &forged,
        text.replacen("\\\"version\\\": ", "\\\"version\\\": 9", 1),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(&forged).unwrap(), text);
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &forged.display().to_string(),
        "--dir",
        &dir_arg,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("zone root key"), "{out}");

    // Tampered (one Base45 character of the payload changed): refused, naming the check.
    let mut chars: Vec<char> = r.compact.chars().collect();
    let at = chars.len() / 2;
    chars[at] = if chars[at] == '0' { '1' } else { '0' };
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, chars.iter().collect::<String>()).unwrap();
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &bad.display().to_string(),
        "--directory",
        &directory,
        "--dir",
        &dir_arg,
        "--json",
    ]);
    assert_eq!(code, 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert!(
        ["signature", "format"].contains(&v["check"].as_str().unwrap()),
        "{out}"
    );

    // Expired, as at a time after its expiry.
    let late = (cert.expires_at_unix + 1).to_string();
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &directory,
        "--dir",
        &dir_arg,
        "--at",
        &late,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refused by the expiry check"), "{out}");

    // Shown readably, with Chinese and English labels, and drawn as SVG and PNG.
    let svg = tmp.path().join("qr.svg");
    let (code, out) = hfx(&["attest", "show", &f, "--out", &svg.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("姓名 name") && out.contains(&m.name), "{out}");
    assert!(
        out.contains("账户余额 balance") && out.contains("▀") || out.contains("█"),
        "{out}"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let png = tmp.path().join("qr.png");
    let (code, out) = hfx(&[
        "attest",
        "show",
        &f,
        "--no-qr",
        "--out",
        &png.display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let (_, out) = hfx(&["attest", "show", &f, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["account_no"], m.account_no.as_str());
    assert_eq!(v["balance_fen"], m.balance_fen);
    assert_eq!(v["audience"], lender.as_str());

    // Both sides recorded the disclosure.
    let sent = zone
        .client(&deposit, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert!(
        sent.iter().any(|d| d.direction == "sent"
            && d.peer_centre == lender
            && d.purpose == pb::Purpose::LoanApplication as i32),
        "{sent:?}"
    );
    let received = zone
        .client(&lender, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert!(
        received.iter().any(|d| d.direction == "received"
            && d.peer_centre == deposit
            && d.outcome == "received"),
        "{received:?}"
    );

    // Online: valid, from the issuer the kept certificate names.
    let status = |id: &str| pb::LocalCertificateStatusRequest {
        centre: String::new(),
        certificate_id: id.to_string(),
    };
    let s = lending
        .certificate_status(status(&cert.certificate_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&s), pb::CertificateState::Valid, "{s:?}");
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &directory,
        "--dir",
        &dir_arg,
        "--online",
        "--node",
        &lender,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("online: valid"), "{out}");

    // The account closes after issue: revoked, with the reason; a new request is refused.
    set_status(&core_db(&zone, &deposit), &m.account_no, "05").await;
    let s = lending
        .certificate_status(status(&cert.certificate_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&s), pb::CertificateState::Revoked, "{s:?}");
    assert_eq!(s.reason, "ACCOUNT_CLOSED");
    let (code, out) = hfx(&[
        "attest",
        "verify",
        &f,
        "--directory",
        &directory,
        "--dir",
        &dir_arg,
        "--online",
        "--node",
        &lender,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("revoked (ACCOUNT_CLOSED)"), "{out}");
    // Reopened, it stays revoked: a revocation is never undone.
    set_status(&core_db(&zone, &deposit), &m.account_no, "01").await;
    let s = lending
        .certificate_status(status(&cert.certificate_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (state(&s), s.reason.as_str()),
        (pb::CertificateState::Revoked, "ACCOUNT_CLOSED")
    );
    set_status(&core_db(&zone, &deposit), &m.account_no, "05").await;
    let e = lending
        .request_certificate(ask(&deposit, &m))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::FailedPrecondition, "ACCOUNT_CLOSED")
    );

    // Frozen: refused with its reason, and recorded as refused at the deposit centre.
    let f2 = member(&deposit, AccountStatus::Normal);
    let others: Vec<Member> = {
        let opts = hfx_standins::seed::SeedOptions {
            seed: 1,
            ..Default::default()
        };
        (0..crate::common::MEMBERS)
            .map(|i| hfx_standins::seed::generate(&deposit, &opts, i).member)
            .filter(|x| {
                x.status == AccountStatus::Normal
                    && x.id_type == hfx_adapters::model::IdType::ResidentId
                    && x.id_number != f2.id_number
            })
            .take(2)
            .collect()
    };
    let (frozen, revoked_by_clerk) = (&others[0], &others[1]);
    set_status(&core_db(&zone, &deposit), &frozen.account_no, "06").await;
    let e = lending
        .request_certificate(ask(&deposit, frozen))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), reason(&e).as_str()),
        (tonic::Code::FailedPrecondition, "ACCOUNT_FROZEN")
    );
    let sent = zone
        .client(&deposit, Role::Auditor)
        .unwrap()
        .disclosures(50)
        .await
        .unwrap();
    assert!(
        sent.iter()
            .any(|d| d.direction == "refused" && d.outcome.contains("ACCOUNT_FROZEN")),
        "{sent:?}"
    );

    // A retry with the same message id gets the same certificate, byte for byte.
    let mut again = ask(&deposit, revoked_by_clerk);
    again.message_id = uuid::Uuid::now_v7().to_string();
    let first = lending
        .request_certificate(again.clone())
        .await
        .unwrap()
        .into_inner();
    let second = lending
        .request_certificate(again)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.certificate, second.certificate);
    assert_eq!(first.compact, second.compact);

    // Revoked by the issuer's clerk, with a reason.
    let c2 = lending
        .request_certificate(ask(&deposit, revoked_by_clerk))
        .await
        .unwrap()
        .into_inner();
    let id2 = c2.certificate.unwrap().certificate_id;
    let issuer = zone.client(&deposit, Role::Clerk).unwrap();
    let mut issuing = pb::clerk_client::ClerkClient::new(issuer.channel());
    let s = issuing
        .revoke_certificate(pb::RevokeCertificateRequest {
            certificate_id: id2.clone(),
            reason: "issued in error".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (state(&s), s.reason.as_str()),
        (pb::CertificateState::Revoked, "REVOKED_BY_ISSUER")
    );
    let s = lending
        .certificate_status(status(&id2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (state(&s), s.reason.as_str()),
        (pb::CertificateState::Revoked, "REVOKED_BY_ISSUER")
    );
    assert!(s.detail.contains("issued in error"), "{s:?}");
    // A certificate the issuer never issued is unknown, not valid.
    let unknown = pb::LocalCertificateStatusRequest {
        centre: deposit.clone(),
        certificate_id: uuid::Uuid::now_v7().to_string(),
    };
    let s = lending
        .certificate_status(unknown)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&s), pb::CertificateState::Unknown);
    // Every certificate disclosure (issued, refused, status) is rebuilt from both logs.
    crate::audit::assert_replay_clean(&zone, &[deposit.clone(), lender.clone()]).await;
}
