//! The clerk's transfer pages (转移接续, docs/transfers.md): the list of cases with their
//! national status codes, the form that starts one (the member's id and name only in the POST
//! body), and a case drawn as a timeline with the moves the rules allow (cancel before the
//! origin accepts, settle a negotiation, retry the waiting step). Case ids (UUIDs) are the only
//! thing in a URL.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{
    centre_short, check_id, csrf_field, id_input, page, page_with, peer_options, status_box,
    status_page,
};
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_i18n::Catalogue;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/transfers", routing::get(list))
        .route("/transfers/new", routing::get(new_form).post(start))
        .route("/transfers/{case_id}", routing::get(show))
        .route("/transfers/{case_id}/cancel", routing::post(cancel))
        .route("/transfers/{case_id}/resolve", routing::post(resolve))
}

// ---------------------------------------------------------------------------------------------
// Words

/// A note in the person's language: the catalogue's notes, and the two the catalogue lacks
/// (the letter's first step on each side) in the console's own words.
fn note_text(ctx: &Ctx, note: &str) -> String {
    match note {
        "contact letter issued" => ctx.t("联系函已发出", "contact letter issued").to_string(),
        "contact letter received" => ctx.t("已收到联系函", "contact letter received").to_string(),
        _ => hfx_i18n::templates::transfer_note(ctx.cat(), note),
    }
}

/// What a case waits for in words: the catalogue's steps, and the node's three free phrases.
fn wait_text(ctx: &Ctx, waiting_for: &str) -> String {
    match waiting_for {
        "the origin's answer to the cancel" => ctx
            .t(
                "转出地对撤销申请的答复",
                "the origin's answer to the cancel",
            )
            .to_string(),
        "a clerk: resolve accept" => ctx
            .t("经办人员处理协商", "a clerk to settle the negotiation")
            .to_string(),
        "the other centre" => ctx.t("对方中心", "the other centre").to_string(),
        w => ctx.cat().transfer_wait(w),
    }
}

/// Who acted in a step, as its note tells: this centre's clerk, this centre's node, the
/// other centre, or the settlement bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Clerk,
    Here,
    Peer,
    Bank,
}

fn actor_of(note: &str) -> Actor {
    const CLERK: &[&str] = &[
        "contact letter issued",
        "cancel requested",
        "negotiation settled by the destination's clerk",
    ];
    const PEER: &[&str] = &[
        "contact letter received",
        "the origin has the letter",
        "the origin accepted the letter",
        "transfer-out record received",
        "payment of ",
        "origin refused",
        "the origin confirmed the cancel",
        "cancel refused",
        "the origin holds an expiry tombstone",
        "destination negotiates",
        "destination credited",
        "negotiation settled; destination credited",
        "cancelled by the destination",
    ];
    const BANK: &[&str] = &["bank paid", "bank declined"];
    let any = |l: &[&str]| l.iter().any(|p| note.starts_with(p));
    if any(CLERK) {
        Actor::Clerk
    } else if any(PEER) {
        Actor::Peer
    } else if any(BANK) {
        Actor::Bank
    } else {
        Actor::Here
    }
}

/// A state in words with its national code: `余额已冻结 (02)`.
fn state_code(cat: &Catalogue, state: &str, code: &str) -> String {
    cat.text(
        "transfer-state-code",
        &[
            ("state", cat.transfer_state(state).into()),
            ("code", if code.is_empty() { "--" } else { code }.into()),
        ],
    )
}

/// The class of a state: `ok` (done), `bad` (ended without the move), `` (moving).
fn state_class(state: &str) -> &'static str {
    match state {
        "done" | "negotiated_done" => "ok",
        "refused" | "cancelled" | "failed" | "expired" => "bad",
        _ => "",
    }
}

/// The class of a timeline step: its state's, or `bad` for a step that says something failed.
fn step_class(s: &pb::TransferStep) -> &'static str {
    let bad_note = [
        "cancel refused",
        "bank declined",
        "payout failed",
        "hold refused",
        "origin refused",
        "refused:",
        "transfer-out record received (the origin had accepted before the cancel)",
    ]
    .iter()
    .any(|p| s.note.starts_with(p));
    if bad_note {
        "bad"
    } else {
        state_class(&s.status)
    }
}

/// The amount: `¥…（本金 ¥…，利息 ¥…）`, or not known before the transfer-out record.
fn amount_text(cat: &Catalogue, v: &pb::TransferView) -> String {
    if v.amount_fen == 0 && v.principal_fen == 0 && v.interest_fen == 0 {
        return cat.msg("transfer-amount-unknown");
    }
    if v.principal_fen != 0 || v.interest_fen != 0 {
        return cat.text(
            "transfer-amount-parts",
            &[
                ("amount", cat.money(v.amount_fen).into()),
                ("principal", cat.money(v.principal_fen).into()),
                ("interest", cat.money(v.interest_fen).into()),
            ],
        );
    }
    cat.money(v.amount_fen)
}

/// A case id as the node takes it: a UUID, hyphenated. None: not one (the page is not found).
fn case_id_of(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// Whether the destination may still ask to cancel (before the origin accepts, and not asked).
fn may_cancel(v: &pb::TransferView) -> bool {
    v.role == "destination"
        && matches!(v.state.as_str(), "letter_sent" | "letter_received")
        && !cancel_pending(v)
}

/// A cancel was asked and the origin has not answered it yet.
fn cancel_pending(v: &pb::TransferView) -> bool {
    let mut pending = false;
    for s in &v.steps {
        if s.note.starts_with("cancel requested") {
            pending = true;
        } else if s.note.starts_with("cancel refused")
            || s.note == "the origin confirmed the cancel"
            || s.note.starts_with("transfer-out record received")
        {
            pending = false;
        }
    }
    (pending || v.waiting_for == "the origin's answer to the cancel") && !v.is_final
}

// ---------------------------------------------------------------------------------------------
// The list

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    stuck: Option<String>,
}

async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let stuck = q.stuck.is_some_and(|s| s == "1");
    let l = match ctx
        .clerk()
        .list_transfers(ctx.request(pb::ListTransfersRequest {
            stuck_only: stuck,
            include_final: true,
            limit: 200,
        }))
        .await
    {
        Ok(l) => l.into_inner(),
        Err(s) => return status_page(&ctx, &s),
    };
    let cat = ctx.cat();
    let body = html! {
        form method="get" action="/transfers/new" {
            button #new-transfer type="submit" { (ctx.t("发起转移", "Start a transfer")) }
        }
        p {
            @if stuck {
                a href="/transfers" { (ctx.t("显示全部业务", "Show every case")) }
            } @else {
                a href="/transfers?stuck=1" { (ctx.t("只看待人工处理的业务", "Only cases parked for a clerk")) }
            }
        }
        section {
            h2 { (ctx.t("转移业务", "Transfer cases")) " " span.badge { (l.cases.len()) } }
            @if l.cases.is_empty() {
                p.muted #no-cases {
                    @if stuck { (cat.msg("transfer-none-stuck")) } @else { (cat.msg("transfer-none-all")) }
                }
            } @else {
                div.scroll {
                    table #cases {
                        thead { tr {
                            th { (cat.msg("transfer-col-case")) }
                            th { (cat.msg("transfer-col-role")) }
                            th { (cat.msg("transfer-route")) }
                            th { (cat.msg("transfer-person")) }
                            th { (cat.msg("transfer-col-state")) }
                            th { (cat.msg("transfer-col-national")) }
                            th.num { (cat.msg("transfer-col-amount")) }
                            th { (ctx.t("发起时间（北京时间）", "Started (CST)")) }
                            th { (cat.msg("transfer-col-stuck")) }
                        } }
                        tbody {
                            @for v in &l.cases {
                                tr data-case=(v.case_id) data-national=(v.national_code) data-state=(v.state) {
                                    td {
                                        a href={ "/transfers/" (v.case_id) } { code { (v.case_id) } }
                                        @if !v.letter_no.is_empty() { br; span.muted { (v.letter_no) } }
                                    }
                                    td { (cat.transfer_role(&v.role)) }
                                    td { (centre_short(&ctx, &v.origin_centre)) " → " (centre_short(&ctx, &v.destination_centre)) }
                                    td { (v.person_masked) }
                                    td class=(state_class(&v.state)) {
                                        (cat.transfer_state(&v.state))
                                        @if !v.waiting_for.is_empty() && !v.is_final {
                                            br; span.muted { (cat.text("transfer-brief-waiting", &[("what", wait_text(&ctx, &v.waiting_for).into())])) }
                                        }
                                    }
                                    td.national { (cat.national_status(&v.national_code)) }
                                    td.num { @if v.amount_fen == 0 { "—" } @else { (cat.money(v.amount_fen)) } }
                                    td { (cat.date_time_bare_ms(v.created_unix_ms)) }
                                    td { @if v.stuck_reason.is_empty() { "—" } @else { span.warn { (v.stuck_reason) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, ctx.t("转移接续", "Transfers"), body)
}

// ---------------------------------------------------------------------------------------------
// Start a case

/// Id types of the data standard (A.3), code and words.
const ID_TYPES: &[(&str, &str, &str, pb::IdType)] = &[
    ("01", "身份证", "Resident id card", pb::IdType::ResidentId),
    ("02", "军官证", "Officer's id", pb::IdType::OfficerId),
    ("03", "护照", "Passport", pb::IdType::Passport),
    (
        "04",
        "外国人永久居留证",
        "Foreign permanent residence permit",
        pb::IdType::ForeignPermanent,
    ),
    ("99", "其他", "Other", pb::IdType::Other),
];

#[derive(serde::Deserialize, Default)]
struct StartForm {
    #[serde(default)]
    origin: String,
    #[serde(default)]
    id_type: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    account_no: String,
}

/// The form; after a refused POST the origin, id type and account come back, never the id
/// number or the name (personal data stays out of the page).
fn start_page(ctx: &Ctx, status: StatusCode, f: &StartForm, error: Option<Markup>) -> Response {
    let id_type = if f.id_type.is_empty() {
        "01"
    } else {
        f.id_type.as_str()
    };
    let body = html! {
        p { a href="/transfers" { "← " (ctx.t("返回转移业务列表", "Back to the cases")) } }
        section {
            p.muted {
                (ctx.t(
                    "本中心为转入地：向职工原缴存地（转出地）发出联系函，转出地审核后划转余额与缴存明细。",
                    "This centre is the destination: a contact letter goes to the member's old centre (the origin), which checks it and moves the balance and the deposit history.",
                ))
            }
            @if let Some(e) = error { (e) }
            form.stack #start-form method="post" action="/transfers/new" {
                (csrf_field(ctx))
                div {
                    label for="origin" { (ctx.t("转出地中心", "Origin centre")) }
                    select #origin name="origin" required {
                        (peer_options(ctx, &f.origin))
                    }
                }
                div {
                    label for="id_type" { (ctx.t("证件类型", "Id type")) }
                    select #id_type name="id_type" {
                        @for (code, zh, en, _) in ID_TYPES {
                            option value=(code) selected[*code == id_type] { (code) " " (ctx.t(zh, en)) }
                        }
                    }
                }
                div { (id_input(ctx, "id_number", ctx.t("证件号码", "Id number"))) }
                div {
                    label for="name" { (ctx.t("姓名", "Name")) }
                    input #name name="name" type="text" required autocomplete="off" maxlength="60";
                }
                div {
                    label for="account_no" { (ctx.t("本中心个人账号（转入账户）", "Account number at this centre (receiving account)")) }
                    input #account_no name="account_no" type="text" required autocomplete="off"
                        maxlength="40" value=(f.account_no.trim());
                }
                div { button type="submit" #start { (ctx.t("发出联系函", "Send the contact letter")) } }
            }
        }
    };
    page_with(ctx, status, ctx.t("发起转移", "Start a transfer"), body)
}

async fn new_form(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    start_page(&ctx, StatusCode::OK, &StartForm::default(), None)
}

fn field_error(text: &str) -> Markup {
    html! { div.error role="alert" { p.field-error { (text) } } }
}

async fn start(ctx: Ctx, Form(f): Form<StartForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(&(code, _, _, id_type)) = ID_TYPES.iter().find(|t| t.0 == f.id_type.trim()) else {
        let e = field_error(&format!(
            "{}: {}",
            ctx.t("证件类型", "Id type"),
            ctx.t("请选择证件类型", "choose an id type")
        ));
        return start_page(&ctx, StatusCode::BAD_REQUEST, &f, Some(e));
    };
    let id_label = ctx.t("证件号码", "Id number");
    let id_number = f.id_number.trim().to_uppercase();
    if code == "01" {
        if let Err(e) = check_id(&ctx, id_label, &id_number) {
            return start_page(&ctx, StatusCode::BAD_REQUEST, &f, Some(field_error(&e)));
        }
    } else if id_number.is_empty() {
        let e = field_error(&format!("{id_label}: {}", ctx.t("必填", "required")));
        return start_page(&ctx, StatusCode::BAD_REQUEST, &f, Some(e));
    }
    let name = f.name.trim();
    if name.is_empty() {
        let e = field_error(&format!(
            "{}: {}",
            ctx.t("姓名", "Name"),
            ctx.t("必填", "required")
        ));
        return start_page(&ctx, StatusCode::BAD_REQUEST, &f, Some(e));
    }
    if f.origin.trim().is_empty() {
        let e = field_error(&format!(
            "{}: {}",
            ctx.t("转出地中心", "Origin centre"),
            ctx.t("请选择中心", "choose a centre")
        ));
        return start_page(&ctx, StatusCode::BAD_REQUEST, &f, Some(e));
    }
    let req = pb::StartTransferRequest {
        origin_centre: f.origin.trim().to_string(),
        person: Some(pb::PersonKey {
            id_type: id_type as i32,
            id_number,
            name: name.to_string(),
        }),
        destination_account_no: f.account_no.trim().to_string(),
        case_id: String::new(),
    };
    match ctx.clerk().start_transfer(ctx.request(req)).await {
        Ok(v) => Redirect::to(&format!("/transfers/{}", v.into_inner().case_id)).into_response(),
        Err(s) => start_page(&ctx, http_status(&s), &f, Some(status_box(&ctx, &s))),
    }
}

/// The HTTP status of a page that shows a refused call beside its form.
fn http_status(s: &tonic::Status) -> StatusCode {
    match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        tonic::Code::AlreadyExists | tonic::Code::Aborted => StatusCode::CONFLICT,
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_GATEWAY,
    }
}

// ---------------------------------------------------------------------------------------------
// A case

fn not_found(ctx: &Ctx) -> Response {
    crate::page::error(
        ctx,
        StatusCode::NOT_FOUND,
        ctx.t("未找到", "Not found"),
        ctx.t("没有这个业务编号。", "There is no such case id."),
    )
}

fn timeline(ctx: &Ctx, v: &pb::TransferView) -> Markup {
    let cat = ctx.cat();
    let here = &ctx.person.centre;
    let peer = if *here == v.origin_centre {
        v.destination_centre.as_str()
    } else {
        v.origin_centre.as_str()
    };
    html! {
        @if v.steps.is_empty() {
            p.muted { "—" }
        } @else {
            ol.timeline #timeline {
                @for s in &v.steps {
                    @let actor = actor_of(&s.note);
                    @let centre = match actor {
                        Actor::Clerk | Actor::Here => s.centre.as_str(),
                        Actor::Peer => peer,
                        Actor::Bank => v.origin_centre.as_str(),
                    };
                    @let side = if centre == v.destination_centre { "destination" } else { "origin" };
                    li class=(step_class(s)) data-status=(s.status) data-national=(s.national_code) data-centre=(centre) {
                        span.when { time { (cat.date_time_ms(s.at_unix_ms)) } }
                        " · "
                        span.centre { (centre_short(ctx, centre)) }
                        " "
                        span.badge.actor {
                            @match actor {
                                Actor::Clerk => {
                                    (cat.transfer_role(side)) (ctx.t("经办人员", " clerk"))
                                    @if let Some(who) = s.acting_person.rsplit('/').next().filter(|w| !w.is_empty()) {
                                        " " code.acting { (who) }
                                    }
                                }
                                Actor::Here | Actor::Peer => { (cat.transfer_role(side)) (ctx.t("系统", " node")) }
                                Actor::Bank => { (ctx.t("结算银行", "settlement bank")) }
                            }
                        }
                        br;
                        strong.step { (state_code(cat, &s.status, &s.national_code)) }
                        @if !s.note.is_empty() {
                            br;
                            span.note { (note_text(ctx, &s.note)) }
                        }
                    }
                }
            }
        }
    }
}

fn actions(ctx: &Ctx, v: &pb::TransferView) -> Markup {
    let base = format!("/transfers/{}", v.case_id);
    let accept = v.role == "destination" && v.state == "negotiating";
    html! {
        section #actions {
            h2 { (ctx.t("可办理的操作", "What can be done")) }
            @if may_cancel(v) {
                form.stack #cancel-form method="post" action={ (base) "/cancel" } {
                    (csrf_field(ctx))
                    p.muted { (ctx.t(
                        "撤销只在转出地受理联系函之前有效；转出地已受理的，业务将继续办理。",
                        "A cancel takes effect only before the origin accepts the letter; after that the case goes on.",
                    )) }
                    div {
                        label for="reason" { (ctx.t("撤销原因", "Reason for the cancel")) }
                        input #reason name="reason" type="text" maxlength="200" autocomplete="off"
                            placeholder=(ctx.t("例如：职工申请撤销", "e.g. the member withdrew the request"));
                    }
                    div { button.danger type="submit" #cancel { (ctx.t("撤销转移", "Cancel the transfer")) } }
                }
            }
            @if cancel_pending(v) {
                p.warn #cancel-pending { (ctx.t("已申请撤销，等待转出地答复。", "A cancel was asked; waiting for the origin's answer.")) }
            }
            @if accept {
                form.stack #accept-form method="post" action={ (base) "/resolve" } {
                    (csrf_field(ctx))
                    input type="hidden" name="action" value="accept";
                    p { (cat_negotiation(ctx, v)) }
                    div { button type="submit" #resolve-accept { (ctx.t("接受协商：按实际划款金额入账", "Settle: credit the amount paid")) } }
                }
            }
            @if !v.is_final {
                form #retry-form method="post" action={ (base) "/resolve" } {
                    (csrf_field(ctx))
                    input type="hidden" name="action" value="retry";
                    button.secondary type="submit" #resolve-retry { (ctx.t("立即重试等待中的步骤", "Try the waiting step now")) }
                }
            }
            @if v.is_final {
                p.muted #no-actions { (ctx.t("业务已终结，没有可办理的操作。", "The case is final: nothing more to do.")) }
            }
        }
    }
}

fn cat_negotiation(ctx: &Ctx, v: &pb::TransferView) -> String {
    let cat = ctx.cat();
    if v.negotiation.is_empty() {
        cat.msg("transfer-parked-negotiation")
    } else {
        format!("{}：{}", cat.msg("transfer-negotiation"), v.negotiation)
    }
}

fn case_page(
    ctx: &Ctx,
    status: StatusCode,
    v: &pb::TransferView,
    refusal: Option<Markup>,
) -> Response {
    let cat = ctx.cat();
    let mut state = cat.transfer_state(&v.state);
    if v.is_final {
        state = cat.text("transfer-state-final", &[("state", state.into())]);
    }
    let body = html! {
        p {
            a href="/transfers" { "← " (ctx.t("返回转移业务列表", "Back to the cases")) }
            " · "
            a #reload href={ "/transfers/" (v.case_id) } { (ctx.t("刷新", "Refresh")) }
        }
        @if let Some(r) = refusal { (r) }
        section #case data-case=(v.case_id) data-state=(v.state) data-national=(v.national_code) data-final=(v.is_final) {
            dl.facts {
                dt { (cat.msg("transfer-case")) } dd { code #case-id { (v.case_id) } }
                dt { (cat.msg("transfer-letter-no")) } dd { (if v.letter_no.is_empty() { "—" } else { &v.letter_no }) }
                dt { (cat.msg("transfer-role")) } dd { (cat.transfer_role(&v.role)) }
                dt { (cat.msg("transfer-route")) } dd #route { (centre_short(ctx, &v.origin_centre)) " → " (centre_short(ctx, &v.destination_centre)) }
                dt { (cat.msg("transfer-person")) } dd #person { (v.person_masked) }
                dt { (cat.msg("transfer-state")) } dd #state class=(state_class(&v.state)) { (state) }
                dt { (cat.msg("transfer-national")) } dd #national class=(state_class(&v.state)) { (cat.national_status(&v.national_code)) }
                dt { (cat.msg("transfer-amount")) } dd #amount { (amount_text(cat, v)) }
                @if v.history_months > 0 {
                    dt { (cat.msg("transfer-history")) } dd { (cat.text("transfer-history-months", &[("months", v.history_months.into())])) }
                }
                @if !v.destination_account_no.is_empty() {
                    dt { (cat.msg("transfer-account-here")) } dd { (v.destination_account_no) }
                }
                @if !v.bank_reference.is_empty() {
                    dt { (cat.msg("transfer-bank-ref")) } dd { code { (v.bank_reference) } }
                }
                @if !v.refusal_code.is_empty() {
                    dt { (cat.msg("transfer-refusal-code")) } dd #refusal-code.bad {
                        code { (v.refusal_code) }
                        @if let Some(a) = cat.reason_advice(&v.refusal_code) { " " span.advice { (a) } }
                    }
                }
                @if !v.status_detail.is_empty() {
                    dt { (ctx.t("说明", "detail")) } dd #detail { (note_text(ctx, &v.status_detail)) }
                }
                @if !v.negotiation.is_empty() {
                    dt { (cat.msg("transfer-negotiation")) } dd { (v.negotiation) }
                }
                @if !v.stuck_reason.is_empty() {
                    dt { (cat.msg("transfer-stuck")) } dd.warn #stuck { (v.stuck_reason) }
                }
                @if !v.waiting_for.is_empty() && !v.is_final {
                    dt { (cat.msg("transfer-waiting-for")) } dd #waiting { (wait_text(ctx, &v.waiting_for)) }
                }
                dt { (cat.msg("transfer-created")) } dd { (cat.date_time_ms(v.created_unix_ms)) }
                dt { (cat.msg("transfer-updated")) } dd { (cat.date_time_ms(v.updated_unix_ms)) }
            }
        }
        section {
            h2 { (ctx.t("时间线（北京时间）", "Timeline (China Standard Time)")) }
            (timeline(ctx, v))
        }
        (actions(ctx, v))
    };
    page_with(ctx, status, ctx.t("转移业务", "Transfer case"), body)
}

async fn get_view(ctx: &Ctx, case_id: &str) -> Result<pb::TransferView, tonic::Status> {
    ctx.clerk()
        .get_transfer(ctx.request(pb::GetTransferRequest {
            case_id: case_id.to_string(),
        }))
        .await
        .map(|r| r.into_inner())
}

async fn show(ctx: Ctx, Path(case_id): Path<String>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(id) = case_id_of(&case_id) else {
        return not_found(&ctx);
    };
    match get_view(&ctx, &id).await {
        Ok(v) => case_page(&ctx, StatusCode::OK, &v, None),
        Err(s) => status_page(&ctx, &s),
    }
}

/// A move's answer: back to the case page (303), or the case page with the refusal on top.
async fn after_move(
    ctx: &Ctx,
    id: &str,
    r: Result<tonic::Response<pb::TransferView>, tonic::Status>,
) -> Response {
    match r {
        Ok(v) => Redirect::to(&format!("/transfers/{}", v.into_inner().case_id)).into_response(),
        Err(s) => match get_view(ctx, id).await {
            Ok(v) => case_page(ctx, http_status(&s), &v, Some(status_box(ctx, &s))),
            Err(_) => status_page(ctx, &s),
        },
    }
}

#[derive(serde::Deserialize)]
struct CancelForm {
    #[serde(default)]
    reason: String,
}

async fn cancel(ctx: Ctx, Path(case_id): Path<String>, Form(f): Form<CancelForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(id) = case_id_of(&case_id) else {
        return not_found(&ctx);
    };
    let r = ctx
        .clerk()
        .cancel_transfer(ctx.request(pb::CancelTransferRequest {
            case_id: id.clone(),
            reason: f.reason.trim().chars().take(200).collect(),
        }))
        .await;
    after_move(&ctx, &id, r).await
}

#[derive(serde::Deserialize)]
struct ResolveForm {
    #[serde(default)]
    action: String,
}

async fn resolve(ctx: Ctx, Path(case_id): Path<String>, Form(f): Form<ResolveForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(id) = case_id_of(&case_id) else {
        return not_found(&ctx);
    };
    let r = ctx
        .clerk()
        .resolve_transfer(ctx.request(pb::ResolveTransferRequest {
            case_id: id.clone(),
            action: f.action.trim().to_string(),
        }))
        .await;
    after_move(&ctx, &id, r).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_uuids() {
        assert!(case_id_of("0190a8e2-7c3b-7def-8a12-3456789abcde").is_some());
        assert!(case_id_of("320302199001011234").is_none());
    }
}
