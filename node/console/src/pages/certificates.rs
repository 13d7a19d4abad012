//! Deposit-use certificates (缴存使用证明, docs/attestation.md): a clerk asks a deposit centre
//! for a member's certificate and gets it as a printable A4 page with its QR code; follows a
//! certificate's online status and revokes one this centre issued; and verifies one offline
//! (pasted QR text or the file `hfx attest request --out` writes) against the signed zone
//! directories, then asks its issuer online whether it still stands.
//!
//! The local API answers a request with the certificate itself but cannot give it again by
//! id (`CertificateStatus` says only whether it stands), so the certificate page is the
//! answer to the request's POST; `/certificates/{id}` shows the id's status and the revoke
//! form. No personal data is in any URL: the id of a certificate is a random UUID.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{
    centre_short, check_id, csrf_field, id_input, page, page_with, status_box, status_page,
};
use axum::extract::{Form, Multipart, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_model::ids::{mask_id, mask_name};
use hfx_model::model::IdType;
use hfx_proto::v1 as pb;
use hfx_tlog::attest::{self, Certificate, DirectorySnapshot, KeyHistory, VerifyError};
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/certificates", routing::get(form).post(request))
        .route("/certificates/lookup", routing::post(lookup))
        .route(
            "/certificates/verify",
            routing::get(verify_form).post(verify),
        )
        .route("/certificates/{id}", routing::get(status))
        .route("/certificates/{id}/revoke", routing::post(revoke))
}

/// A.1 证件类型: code, Chinese, English.
const ID_TYPES: &[(&str, &str, &str)] = &[
    ("01", "居民身份证", "resident id card"),
    ("02", "军官证", "officer's id"),
    ("03", "护照", "passport"),
    (
        "04",
        "外国人永久居留身份证",
        "foreign permanent resident id",
    ),
    ("99", "其他", "other"),
];

fn id_type_name(ctx: &Ctx, code: &str) -> String {
    match ID_TYPES.iter().find(|(c, _, _)| *c == code) {
        Some((_, zh, en)) => format!("{} ({code})", ctx.t(zh, en)),
        None => code.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

/// What the request form remembers after a refusal (no id number, no name: those are typed
/// again).
#[derive(Default)]
struct Asked {
    centre: String,
    id_type: String,
    valid_days: String,
}

/// `<option>`s of every centre of the directory, this one first.
fn centre_options(ctx: &Ctx, selected: &str) -> Markup {
    let dir = ctx.node().trust.directory();
    let own = &ctx.person.centre;
    let mut codes: Vec<&str> = vec![own.as_str()];
    codes.extend(
        dir.centres
            .iter()
            .map(|e| e.code.as_str())
            .filter(|c| *c != own),
    );
    html! {
        @for code in codes {
            option value=(code) selected[code == selected] {
                (centre_short(ctx, code))
                @if code == own { (ctx.t("（本中心）", " (this centre)")) }
            }
        }
    }
}

fn request_form(ctx: &Ctx, asked: &Asked, error: Option<Markup>) -> Markup {
    let id_type = if asked.id_type.is_empty() {
        "01"
    } else {
        &asked.id_type
    };
    let centre = if asked.centre.is_empty() {
        ctx.person.centre.as_str()
    } else {
        &asked.centre
    };
    html! {
        section.no-print {
            h2 { (ctx.t("开具缴存使用证明", "Request a certificate")) }
            p.muted {
                (ctx.t(
                    "向缴存地中心申请职工住房公积金缴存使用证明（用途：异地贷款）。证明由缴存地中心签名，可离线核验。",
                    "Ask the member's deposit centre for a deposit-use certificate (purpose: loan application). The deposit centre signs it; anyone can verify it offline.",
                ))
            }
            @if let Some(e) = error { (e) }
            form #request method="post" action="/certificates" {
                (csrf_field(ctx))
                label for="centre" { (ctx.t("缴存地中心", "Deposit centre")) }
                select #centre name="centre" required { (centre_options(ctx, centre)) }
                label for="id_type" { (ctx.t("证件类型", "Id type")) }
                select #id_type name="id_type" {
                    @for (code, zh, en) in ID_TYPES {
                        option value=(code) selected[*code == id_type] { (ctx.t(zh, en)) " (" (code) ")" }
                    }
                }
                (id_input(ctx, "id_number", ctx.t("证件号码", "Id number")))
                p.field-error #id_number-error aria-live="polite" {}
                label for="name" { (ctx.t("姓名", "Name")) }
                input #name name="name" type="text" required autocomplete="off" maxlength="40";
                label for="valid_days" { (ctx.t("有效期（天，1–90）", "Valid for (days, 1–90)")) }
                input #valid_days name="valid_days" type="number" min="1" max="90"
                    value=(if asked.valid_days.is_empty() { "30" } else { &asked.valid_days });
                p { button type="submit" { (ctx.t("申请证明", "Request the certificate")) } }
            }
        }
    }
}

fn side_forms(ctx: &Ctx) -> Markup {
    html! {
        section.no-print {
            h2 { (ctx.t("核验与查询", "Verify and look up")) }
            p { a #verify-link href="/certificates/verify" { (ctx.t("核验证明（粘贴二维码文本或上传文件）", "Verify a certificate (paste its QR text or upload its file)")) } }
            form #lookup method="post" action="/certificates/lookup" {
                (csrf_field(ctx))
                label for="certificate_id" { (ctx.t("证明编号（查询在线状态）", "Certificate id (online status)")) }
                input #certificate_id name="certificate_id" type="text" required autocomplete="off"
                    spellcheck="false" pattern="[0-9a-fA-F-]{36}" placeholder="019b8c3a-5000-7000-8000-000000000001";
                p { button.secondary type="submit" { (ctx.t("查询状态", "Look up")) } }
            }
        }
    }
}

async fn form(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let body = html! { (request_form(&ctx, &Asked::default(), None)) (side_forms(&ctx)) };
    page(&ctx, ctx.t("缴存证明", "Certificates"), body)
}

#[derive(serde::Deserialize)]
struct RequestForm {
    centre: String,
    id_type: String,
    id_number: String,
    name: String,
    #[serde(default)]
    valid_days: String,
}

async fn request(ctx: Ctx, Form(f): Form<RequestForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let asked = Asked {
        centre: f.centre.trim().to_string(),
        id_type: f.id_type.trim().to_string(),
        valid_days: f.valid_days.trim().to_string(),
    };
    let refuse = |ctx: &Ctx, msg: String| {
        let e = html! { p.error role="alert" { (msg) } };
        let body = html! { (request_form(ctx, &asked, Some(e))) (side_forms(ctx)) };
        page_with(
            ctx,
            StatusCode::BAD_REQUEST,
            ctx.t("缴存证明", "Certificates"),
            body,
        )
    };
    let Some(id_type) = IdType::from_code(&asked.id_type) else {
        return refuse(
            &ctx,
            format!(
                "{}: {}",
                ctx.t("证件类型", "Id type"),
                ctx.t("不是 01、02、03、04 或 99", "not 01, 02, 03, 04 or 99")
            ),
        );
    };
    let id_label = ctx.t("证件号码", "Id number");
    let id_number = if id_type == IdType::ResidentId {
        match check_id(&ctx, id_label, &f.id_number) {
            Ok(id) => id,
            Err(e) => return refuse(&ctx, e),
        }
    } else {
        match hfx_model::ids::validate_person_id(id_label, id_type, &f.id_number) {
            Ok(id) => id,
            Err(e) => return refuse(&ctx, format!("{id_label}: {}", e.reason())),
        }
    };
    let name_label = ctx.t("姓名", "Name");
    let name = match hfx_model::ids::validate_name(name_label, &f.name) {
        Ok(n) => n,
        Err(e) => return refuse(&ctx, format!("{name_label}: {}", e.reason())),
    };
    let valid_days = match asked.valid_days.as_str() {
        "" => 0,
        v => match v.parse::<u32>() {
            Ok(d) if (1..=90).contains(&d) => d,
            _ => {
                return refuse(
                    &ctx,
                    format!(
                        "{}: {}",
                        ctx.t("有效期", "Validity"),
                        ctx.t("应为 1 至 90 天", "1 to 90 days")
                    ),
                );
            }
        },
    };
    let reply = ctx
        .clerk()
        .request_certificate(ctx.request(pb::LocalCertificateRequest {
            centre: asked.centre.clone(),
            person: Some(pb::PersonKey {
                id_type: hfx_node::member::id_type_to_pb(id_type) as i32,
                id_number,
                name,
            }),
            message_id: String::new(),
            valid_days,
        }))
        .await;
    let reply = match reply {
        Ok(r) => r.into_inner(),
        Err(s) => {
            let body = html! { (request_form(&ctx, &asked, Some(status_box(&ctx, &s)))) (side_forms(&ctx)) };
            return page_with(
                &ctx,
                StatusCode::BAD_REQUEST,
                ctx.t("缴存证明", "Certificates"),
                body,
            );
        }
    };
    let cose = reply
        .certificate
        .as_ref()
        .map(|c| c.cose.clone())
        .unwrap_or_default();
    let cert = match attest::parse(&cose) {
        Ok((cert, _)) => cert,
        Err(e) => {
            return crate::page::error(
                &ctx,
                StatusCode::BAD_GATEWAY,
                ctx.t("证明无法读取", "Unreadable certificate"),
                &e.to_string(),
            );
        }
    };
    let online = ask_status(&ctx, &cert).await;
    let body = html! {
        p.no-print.ok role="status" #issued {
            (ctx.t("已收到并核验缴存地中心签发的证明。请打印或保存二维码文本；", "The deposit centre's certificate was received and verified. Print it or keep its QR text; "))
            a href=(format!("/certificates/{}", cert.id)) { (ctx.t("此后可按编号查询其状态", "its status can be looked up by id later")) }
            "。"
        }
        (certificate_sheet(&ctx, &cert, &reply.compact))
        (status_section(&ctx, &cert.id.to_string(), online.as_ref()))
    };
    page(&ctx, ctx.t("缴存使用证明", "Deposit-use certificate"), body)
}

/// The issuer's online answer for `cert`.
async fn ask_status(
    ctx: &Ctx,
    cert: &Certificate,
) -> Result<pb::CertificateStatusReply, tonic::Status> {
    ctx.clerk()
        .certificate_status(ctx.request(pb::LocalCertificateStatusRequest {
            centre: cert.issuer.clone(),
            certificate_id: cert.id.to_string(),
        }))
        .await
        .map(|r| r.into_inner())
}

/// The QR code of `text` as inline SVG (no XML declaration; size by the stylesheet).
fn qr_svg(ctx: &Ctx, text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    let svg = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg.as_str(),
    };
    let label = ctx.t("证明的二维码", "The certificate's QR code");
    Some(svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    ))
}

/// Masked for the screen: an account number keeps its first 6 and last 4 characters.
fn mask_account(s: &str) -> String {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

fn month_or_none(ctx: &Ctx, m: u32) -> String {
    if m == 0 {
        ctx.t("无", "none").to_string()
    } else {
        ctx.cat().month_yyyymm(m)
    }
}

/// The facts of a certificate, the person masked.
fn facts(ctx: &Ctx, cert: &Certificate) -> Markup {
    let cat = ctx.cat();
    let f = &cert.fields;
    let continuous = if f.continuous_start_month == 0 {
        ctx.t("无", "none").to_string()
    } else {
        cat.range(
            &month_or_none(ctx, f.continuous_start_month),
            &month_or_none(ctx, f.continuous_end_month),
        )
    };
    html! {
        dl.facts #facts {
            dt { (ctx.t("证明编号", "Certificate id")) } dd #cert-id { code { (cert.id) } }
            dt { (ctx.t("用途", "Purpose")) } dd { (cat.purpose(&f.purpose)) }
            dt { (ctx.t("姓名", "Name")) } dd #cert-name { (mask_name(&f.name)) }
            dt { (ctx.t("证件类型", "Id type")) } dd { (id_type_name(ctx, &f.id_type)) }
            dt { (ctx.t("证件号码", "Id number")) } dd #cert-id-number { (mask_id(&f.id_number)) }
            dt { (ctx.t("个人账号", "Account no.")) } dd { (mask_account(&f.account_no)) }
            dt { (ctx.t("开户日期", "Opened")) } dd { (cat.date_yyyymmdd(f.opened_date)) }
            dt { (ctx.t("账户状态", "Account status")) } dd #cert-status { (cat.account_status(&f.status)) }
            dt { (ctx.t("缴存基数", "Deposit base")) } dd { (cat.money(f.deposit_base_fen)) }
            dt { (ctx.t("单位缴存比例", "Employer rate")) } dd { (hfx_i18n::percent_bp(f.employer_rate_bp)) }
            dt { (ctx.t("个人缴存比例", "Member rate")) } dd { (hfx_i18n::percent_bp(f.member_rate_bp)) }
            dt { (ctx.t("月缴存额", "Monthly amount")) } dd #cert-monthly { (cat.money(f.monthly_amount_fen)) }
            dt { (ctx.t("账户余额", "Balance")) } dd #cert-balance { (cat.money(f.balance_fen)) }
            dt { (ctx.t("连续缴存", "Continuous deposits")) } dd { (continuous) }
            dt { (ctx.t("是否有贷款", "Has a loan")) } dd { (cat.yes_no(f.has_loan)) }
            dt { (ctx.t("贷款笔数", "Loans")) } dd { (f.loan_count) }
            dt { (ctx.t("累计贷款金额", "Total borrowed")) } dd { (cat.money(f.total_borrowed_fen)) }
            dt { (ctx.t("贷款余额", "Outstanding")) } dd { (cat.money(f.outstanding_fen)) }
            dt { (ctx.t("出具中心", "Issuing centre")) } dd #cert-issuer { (f.issuer_name) " · " (centre_short(ctx, &cert.issuer)) }
            dt { (ctx.t("申请中心", "Requested by")) } dd { (centre_short(ctx, &cert.audience)) }
            dt { (ctx.t("出具时间", "Issued")) } dd #cert-issued { (cat.date_time_unix(cert.issued_at_unix)) }
            dt { (ctx.t("有效期至", "Valid until")) } dd #cert-until { (cat.date_time_unix(cert.expires_at_unix)) }
            dt { (ctx.t("联系方式", "Contact")) } dd { (f.contact) }
        }
    }
}

/// The certificate on A4: facts, QR code; below it (not printed) the QR text and the print
/// button.
fn certificate_sheet(ctx: &Ctx, cert: &Certificate, compact: &str) -> Markup {
    html! {
        div.a4 #certificate {
            h2 { (ctx.t("异地贷款职工住房公积金缴存使用证明", "Deposit-use certificate for a loan in another city")) }
            (facts(ctx, cert))
            div.qr {
                @match qr_svg(ctx, compact) {
                    Some(svg) => (crate::page::raw(svg)),
                    None => p.error { (ctx.t("二维码无法生成", "The QR code could not be drawn")) },
                }
            }
            p.muted {
                (ctx.t(
                    "本证明由出具中心以区域目录登记的密钥签名（COSE_Sign1，Ed25519）。扫描二维码即可离线核验；是否仍然有效请向出具中心在线查询。",
                    "Signed by the issuing centre with the key the zone directory lists for it (COSE_Sign1, Ed25519). Scan the QR code to verify it offline; ask the issuer online whether it still stands.",
                ))
            }
        }
        section.no-print {
            label for="qr-text" { (ctx.t("二维码文本（可复制）", "QR text (to copy)")) }
            textarea #qr-text readonly spellcheck="false" rows="9" { (compact) }
            p { button type="button" data-print { (ctx.t("打印证明", "Print")) } }
        }
    }
}

fn state_of(s: &pb::CertificateStatusReply) -> pb::CertificateState {
    pb::CertificateState::try_from(s.state).unwrap_or(pb::CertificateState::Unspecified)
}

fn state_words(ctx: &Ctx, s: &pb::CertificateStatusReply) -> (&'static str, String) {
    let cat = ctx.cat();
    let (class, name) = match state_of(s) {
        pb::CertificateState::Valid => ("ok", "valid"),
        pb::CertificateState::Revoked => ("bad", "revoked"),
        pb::CertificateState::Expired => ("bad", "expired"),
        pb::CertificateState::Unknown => ("warn", "unknown"),
        pb::CertificateState::Unspecified => ("warn", "unspecified"),
    };
    (class, cat.msg_or(&format!("attest-state-{name}"), name))
}

/// The reason of a revocation in words.
fn revoke_reason(ctx: &Ctx, reason: &str) -> String {
    let words = match reason {
        hfx_node::attest::REVOKED_ACCOUNT_CLOSED => ctx.t("账户已销户", "the account closed"),
        hfx_node::attest::REVOKED_ACCOUNT_FROZEN => ctx.t("账户已冻结", "the account froze"),
        hfx_node::attest::REVOKED_TRANSFERRED_OUT => {
            ctx.t("账户已转出", "the account transferred out")
        }
        hfx_node::attest::REVOKED_BY_ISSUER => ctx.t("出具中心撤销", "revoked by the issuer"),
        _ => "",
    };
    if words.is_empty() {
        reason.to_string()
    } else {
        format!("{words} ({reason})")
    }
}

/// The online status as facts.
fn status_facts(ctx: &Ctx, s: &pb::CertificateStatusReply) -> Markup {
    let (class, words) = state_words(ctx, s);
    let cat = ctx.cat();
    html! {
        dl.facts {
            dt { (ctx.t("在线状态", "Online status")) }
            dd #state data-state=(s.state) { span class=(class) { (words) } }
            @if state_of(s) == pb::CertificateState::Revoked {
                dt { (ctx.t("撤销原因", "Reason")) } dd #revoked-reason { (revoke_reason(ctx, &s.reason)) }
                dt { (ctx.t("撤销时间", "Revoked at")) } dd { (cat.date_time_unix(s.revoked_at_unix)) }
            }
            @if !s.detail.is_empty() {
                dt { (ctx.t("说明", "Detail")) } dd { (s.detail) }
            }
            @if s.expires_at_unix > 0 {
                dt { (ctx.t("有效期至", "Valid until")) } dd { (cat.date_time_unix(s.expires_at_unix)) }
            }
        }
    }
}

/// Status and the revoke form (only a clerk of the issuing centre may revoke).
fn status_section(
    ctx: &Ctx,
    id: &str,
    online: Result<&pb::CertificateStatusReply, &tonic::Status>,
) -> Markup {
    html! {
        section.no-print #status {
            h2 { (ctx.t("证明状态", "Status")) }
            @match online {
                Ok(s) => (status_facts(ctx, s)),
                Err(e) => {
                    p.warn { (ctx.t("无法向出具中心查询在线状态：", "The issuer's online status could not be asked: ")) }
                    (status_box(ctx, e))
                }
            }
            @let open = online.is_ok_and(|s| state_of(s) == pb::CertificateState::Valid);
            @if open {
                form #revoke method="post" action=(format!("/certificates/{id}/revoke")) {
                    (csrf_field(ctx))
                    label for="reason" { (ctx.t("撤销原因（仅出具中心可撤销）", "Reason to revoke (the issuing centre only)")) }
                    input #reason name="reason" type="text" required maxlength="200" autocomplete="off";
                    p { button.danger type="submit" { (ctx.t("撤销证明", "Revoke")) } }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Status by id, revoke
// ---------------------------------------------------------------------------------------------

fn parse_id(id: &str) -> Option<String> {
    uuid::Uuid::parse_str(id.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

fn not_a_certificate_id(ctx: &Ctx) -> Response {
    crate::page::error(
        ctx,
        StatusCode::NOT_FOUND,
        ctx.t("未找到", "Not found"),
        ctx.t(
            "这不是证明编号（UUID）。",
            "This is not a certificate id (a UUID).",
        ),
    )
}

#[derive(serde::Deserialize)]
struct Lookup {
    certificate_id: String,
}

async fn lookup(ctx: Ctx, Form(f): Form<Lookup>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    match parse_id(&f.certificate_id) {
        Some(id) => Redirect::to(&format!("/certificates/{id}")).into_response(),
        None => not_a_certificate_id(&ctx),
    }
}

async fn status(ctx: Ctx, Path(id): Path<String>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(id) = parse_id(&id) else {
        return not_a_certificate_id(&ctx);
    };
    let online = ctx
        .clerk()
        .certificate_status(ctx.request(pb::LocalCertificateStatusRequest {
            centre: String::new(),
            certificate_id: id.clone(),
        }))
        .await;
    let online = match online {
        Ok(r) => r.into_inner(),
        Err(s) => return status_page(&ctx, &s),
    };
    let body = html! {
        dl.facts {
            dt { (ctx.t("证明编号", "Certificate id")) } dd #cert-id { code { (id) } }
        }
        (status_section(&ctx, &id, Ok(&online)))
        p.no-print {
            a href="/certificates" { (ctx.t("返回缴存证明", "Back to certificates")) } " · "
            a href="/certificates/verify" { (ctx.t("核验证明", "Verify a certificate")) }
        }
    };
    page(&ctx, ctx.t("证明状态", "Certificate status"), body)
}

#[derive(serde::Deserialize)]
struct RevokeForm {
    reason: String,
}

async fn revoke(ctx: Ctx, Path(id): Path<String>, Form(f): Form<RevokeForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(id) = parse_id(&id) else {
        return not_a_certificate_id(&ctx);
    };
    match ctx
        .clerk()
        .revoke_certificate(ctx.request(pb::RevokeCertificateRequest {
            certificate_id: id.clone(),
            reason: f.reason.trim().to_string(),
        }))
        .await
    {
        Ok(_) => Redirect::to(&format!("/certificates/{id}")).into_response(),
        Err(s) => status_page(&ctx, &s),
    }
}

// ---------------------------------------------------------------------------------------------
// Verify
// ---------------------------------------------------------------------------------------------

fn verify_body(ctx: &Ctx, result: Option<Markup>) -> Markup {
    html! {
        @if let Some(r) = result { (r) }
        section {
            h2 { (ctx.t("核验证明", "Verify a certificate")) }
            p.muted {
                (ctx.t(
                    "粘贴二维码文本（HFX1: 开头），或上传 hfx attest request --out 写出的文件。先离线核验出具中心的签名（按签发时有效的区域目录）与有效期，再向出具中心在线查询是否已撤销。",
                    "Paste the QR text (starting HFX1:) or upload the file hfx attest request --out writes. It is checked offline first (the issuer's signature by the zone directory in force at issue, expiry), then the issuer is asked online whether it was revoked.",
                ))
            }
            form #verify method="post" action="/certificates/verify" enctype="multipart/form-data" {
                (csrf_field(ctx))
                label for="compact" { (ctx.t("二维码文本", "QR text")) }
                textarea #compact name="compact" rows="6" spellcheck="false" autocomplete="off" placeholder="HFX1:…" {}
                label for="file" { (ctx.t("或上传证明文件", "or upload the certificate file")) }
                input #file name="file" type="file";
                p { button type="submit" { (ctx.t("核验", "Verify")) } }
            }
            p { a href="/certificates" { (ctx.t("返回缴存证明", "Back to certificates")) } }
        }
    }
}

async fn verify_form(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    page(
        &ctx,
        ctx.t("核验证明", "Verify a certificate"),
        verify_body(&ctx, None),
    )
}

/// The key history to verify against: every signed directory the node can read (the zone's
/// `trust/directories/` folder beside the directory file, when there is one), each checked
/// with the zone root's key, and the directory in force.
fn key_history(ctx: &Ctx) -> Result<KeyHistory, String> {
    let node = ctx.node();
    let current = hfx_node::attest::history_in_force(node).map_err(|e| e.to_string())?;
    let mut snaps: Vec<DirectorySnapshot> = Vec::new();
    let root = std::fs::read_to_string(node.cfg.tls_files().root)
        .ok()
        .and_then(|pem| hfx_certs::pki::root_public_key(&pem).ok());
    let dir_file = node.cfg.resolve(&node.cfg.directory.path);
    if let (Some(root), Some(folder)) = (root, dir_file.parent().map(|p| p.join("directories")))
        && let Ok(entries) = std::fs::read_dir(&folder)
    {
        for p in entries.flatten().map(|e| e.path()) {
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            match DirectorySnapshot::from_signed_json(&p.display().to_string(), &text, &root) {
                Ok(s) => snaps.push(s),
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "directory left out of the verify history")
                }
            }
        }
    }
    if snaps.is_empty() {
        return Ok(current);
    }
    for s in current.snapshots() {
        if !snaps.iter().any(|x| x.version == s.version) {
            snaps.push(s.clone());
        }
    }
    Ok(KeyHistory::new(snaps).unwrap_or(current))
}

/// Why a check refused, in the person's words.
fn check_words(ctx: &Ctx, e: &VerifyError) -> &'static str {
    match e.check() {
        "format" => ctx.t(
            "格式不符：不是缴存使用证明（二维码文本或文件有误）",
            "Format: not a deposit-use certificate (bad QR text or file)",
        ),
        "algorithm" => ctx.t("签名算法不是 EdDSA", "The signature algorithm is not EdDSA"),
        "issuer" => ctx.t(
            "出具中心不在区域目录中",
            "The issuing centre is in no zone directory",
        ),
        "key" => ctx.t(
            "区域目录中没有该出具中心的此签名密钥",
            "No zone directory lists this key for the issuer",
        ),
        "signature" => ctx.t(
            "签名无效：证明内容已被改动",
            "Bad signature: the certificate was altered",
        ),
        "key_in_force" => ctx.t(
            "签发时该密钥不是出具中心有效的密钥",
            "The key was not the issuer's key in force at issue",
        ),
        "issue_time" => ctx.t("出具时间晚于当前时间", "Issued in the future"),
        "expiry" => ctx.t("证明已过期", "The certificate has expired"),
        _ => ctx.t("核验未通过", "Refused"),
    }
}

fn refused_box(ctx: &Ctx, check: &str, words: &str, detail: &str) -> Markup {
    html! {
        div.error #result role="alert" data-valid="false" data-check=(check) {
            p { strong.bad { "✗ " (ctx.t("核验未通过", "Refused")) } "：" (words) }
            p.detail { code { (check) } " " (detail) }
        }
    }
}

/// What the form sent: the uploaded file's bytes if any, else the pasted text.
async fn read_upload(mut mp: Multipart) -> Result<Vec<u8>, String> {
    let (mut text, mut file) = (Vec::new(), Vec::new());
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|e| e.to_string())?;
        match name.as_str() {
            "compact" => text = bytes.to_vec(),
            "file" => file = bytes.to_vec(),
            _ => {}
        }
    }
    let chosen = if file.iter().any(|b| !b.is_ascii_whitespace()) {
        file
    } else {
        text
    };
    Ok(chosen)
}

async fn verify(ctx: Ctx, mp: Multipart) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let title = ctx.t("核验证明", "Verify a certificate");
    let input = match read_upload(mp).await {
        Ok(b) => b,
        Err(e) => {
            let r = refused_box(
                &ctx,
                "format",
                ctx.t("表单无法读取", "The form could not be read"),
                &e,
            );
            return page_with(
                &ctx,
                StatusCode::BAD_REQUEST,
                title,
                verify_body(&ctx, Some(r)),
            );
        }
    };
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        let r = html! { p.error #result role="alert" { (ctx.t("请粘贴二维码文本或选择文件。", "Paste the QR text or choose a file.")) } };
        return page_with(
            &ctx,
            StatusCode::BAD_REQUEST,
            title,
            verify_body(&ctx, Some(r)),
        );
    }
    let history = match key_history(&ctx) {
        Ok(h) => h,
        Err(e) => return crate::page::error(&ctx, StatusCode::INTERNAL_SERVER_ERROR, title, &e),
    };
    let now = chrono::Utc::now().timestamp();
    let checked = attest::read_any(&input).and_then(|cose| attest::verify(&cose, &history, now));
    let v = match checked {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(check = e.check(), caller = %ctx.label(), "console: certificate refused offline");
            let r = refused_box(&ctx, e.check(), check_words(&ctx, &e), &e.to_string());
            return page(&ctx, title, verify_body(&ctx, Some(r)));
        }
    };
    let online = ask_status(&ctx, &v.certificate).await;
    let standing = match &online {
        Ok(s) => state_of(s) == pb::CertificateState::Valid,
        Err(_) => true,
    };
    let offline = html! {
        p {
            "✓ " (ctx.t("离线核验通过：", "Valid offline: "))
            (ctx.t("签名属于出具中心 ", "signed by the issuing centre "))
            (centre_short(&ctx, &v.certificate.issuer))
            (ctx.t("（密钥 ", " (key "))
            code { (hex::encode(v.key_id)) }
            (ctx.t("，区域目录第 ", ", zone directory version "))
            (v.directory_version)
            (ctx.t(" 版），未过期。", "), not expired."))
        }
    };
    let result = if standing {
        html! {
            section #result data-valid="true" role="status" {
                h2.ok { "✓ " (ctx.t("证明有效", "Valid")) }
                (offline)
                @match &online {
                    Ok(s) => (status_facts(&ctx, s)),
                    Err(e) => {
                        p.warn { (ctx.t("未能向出具中心查询在线状态（仅离线核验）：", "The issuer could not be asked online (checked offline only): ")) }
                        (status_box(&ctx, e))
                    }
                }
                (facts(&ctx, &v.certificate))
            }
        }
    } else {
        let s = online.as_ref().ok();
        let (_, words) = s
            .map(|s| state_words(&ctx, s))
            .unwrap_or(("bad", String::new()));
        html! {
            div.error #result role="alert" data-valid="false" data-check="online" {
                p { strong.bad { "✗ " (ctx.t("核验未通过", "Refused")) } "：" (ctx.t("出具中心在线答复：", "the issuer answers online: ")) (words) }
                @if let Some(s) = s { (status_facts(&ctx, s)) }
                (offline)
            }
            section { h2 { (ctx.t("证明内容（未被出具中心确认）", "What it says (not confirmed by the issuer)")) } (facts(&ctx, &v.certificate)) }
        }
    };
    page(&ctx, title, verify_body(&ctx, Some(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_number_keeps_only_its_ends() {
        assert_eq!(mask_account("32030010000012345"), "320300*******2345");
        assert_eq!(mask_account("12345"), "*****");
    }

    #[test]
    fn a_certificate_id_is_a_uuid() {
        assert_eq!(
            parse_id(" 019B8C3A-5000-7000-8000-000000000001 ").as_deref(),
            Some("019b8c3a-5000-7000-8000-000000000001")
        );
        assert_eq!(parse_id("11010519491231002X"), None);
    }
}
