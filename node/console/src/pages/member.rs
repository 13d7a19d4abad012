//! The clerk's member search (会员查询): ask another centre about a member for one purpose.
//! The answer shows exactly the fields the purpose returns, masked as the node returns them,
//! with both sides' receipts. The person's key (id type, id number, name) is POSTed, checked on
//! the server (GB 11643 for a resident id) before anything is sent, and never echoed back in
//! full. The person form's pieces are shared with the loan and live-account checks.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{
    centre_name, centre_short, check_id, csrf_field, id_input, page_with, peer_options, status_box,
};
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Router, routing};
use hfx_certs::Role;

use hfx_model::ids::{mask_id, mask_name, validate_name, validate_person_id};
use hfx_model::model::IdType;
use hfx_model::purpose::{PURPOSES, Purpose};
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/member", routing::get(show).post(search))
}

/// The id types of A.1, in the order a clerk picks them.
const ID_TYPES: [(&str, &str, &str); 5] = [
    ("01", "居民身份证", "Resident identity card"),
    ("02", "军官证", "Officer's card"),
    ("03", "护照", "Passport"),
    (
        "04",
        "外国人永久居留身份证",
        "Foreign permanent resident id card",
    ),
    ("99", "其他证件", "Other"),
];

/// The person's key as a form sends it (member search, loan check, live-account check).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct PersonForm {
    #[serde(default)]
    pub id_type: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub name: String,
}

/// A field the server refused: which input, and why (the text names the field).
pub(crate) struct FieldError {
    pub field: &'static str,
    pub text: String,
}

pub(crate) fn id_label(ctx: &Ctx) -> &'static str {
    ctx.t("证件号码", "Id number")
}

fn name_label(ctx: &Ctx) -> &'static str {
    ctx.t("姓名", "Name")
}

impl PersonForm {
    /// The key checked as the node will check it (a resident id by GB 11643), before anything
    /// is sent; an error names the field.
    pub(crate) fn key(&self, ctx: &Ctx) -> Result<pb::PersonKey, FieldError> {
        let t = IdType::from_code(self.id_type.trim()).ok_or_else(|| FieldError {
            field: "id_type",
            text: format!(
                "{}: {}",
                ctx.t("证件类型", "Id type"),
                ctx.t("请选择证件类型", "choose an id type")
            ),
        })?;
        let label = id_label(ctx);
        let id = if t == IdType::ResidentId {
            check_id(ctx, label, &self.id_number)
        } else {
            validate_person_id(label, t, &self.id_number).map_err(|e| {
                format!(
                    "{label}: {} ({})",
                    ctx.t("证件号码不正确", "not a valid id number"),
                    e.reason()
                )
            })
        }
        .map_err(|text| FieldError {
            field: "id_number",
            text,
        })?;
        let name = validate_name(name_label(ctx), &self.name).map_err(|e| FieldError {
            field: "name",
            text: format!(
                "{}: {} ({})",
                name_label(ctx),
                ctx.t("请填写证件上的姓名", "write the name as on the id"),
                e.reason()
            ),
        })?;
        Ok(pb::PersonKey {
            id_type: hfx_node::member::id_type_to_pb(t) as i32,
            id_number: id.to_uppercase(),
            name,
        })
    }

    /// "张* 320302********1234": who was asked about, masked.
    pub(crate) fn masked(&self) -> String {
        format!(
            "{} {}",
            mask_name(&self.name),
            mask_id(&self.id_number.trim().to_uppercase())
        )
    }
}

/// The id type, id number and name inputs. After a POST the id type is kept; the id number
/// and the name are never written back (personal data stays out of the page).
pub(crate) fn person_fields(ctx: &Ctx, f: &PersonForm) -> Markup {
    let selected = if f.id_type.is_empty() {
        "01"
    } else {
        f.id_type.as_str()
    };
    html! {
        div {
            label for="id_type" { (ctx.t("证件类型", "Id type")) }
            select #id_type name="id_type" {
                @for (code, zh, en) in ID_TYPES {
                    option value=(code) selected[code == selected] { (code) " " (ctx.t(zh, en)) }
                }
            }
        }
        div { (id_input(ctx, "id_number", id_label(ctx))) }
        div {
            label for="name" { (name_label(ctx)) }
            input #name name="name" type="text" required autocomplete="off" maxlength="64";
        }
    }
}

/// The errors of a form, right under it (outside its grid, so the fields line up): the id
/// number's line the browser's check writes into (`#id_number-error`), and the server's
/// refusal of a field, naming it.
pub(crate) fn form_errors(err: Option<&FieldError>) -> Markup {
    let id = err.filter(|e| e.field == "id_number");
    let other = err.filter(|e| e.field != "id_number");
    html! {
        p.field-error #id_number-error aria-live="polite" role=[id.map(|_| "alert")] data-field=[id.map(|e| e.field)] {
            @if let Some(e) = id { (e.text) }
        }
        @if let Some(e) = other {
            p.field-error role="alert" data-field=(e.field) { (e.text) }
        }
    }
}

/// The HTTP status of a refused local-API call (as [`crate::page::status_page`] maps them).
pub(crate) fn http_status(s: &tonic::Status) -> StatusCode {
    match s.code() {
        tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
        tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// A centre in full (`连云港 连云港市住房公积金管理中心 (320700000000000)`).
pub(crate) fn centre_full(ctx: &Ctx, code: &str) -> String {
    let dir = ctx.node().trust.directory();
    match centre_name(&dir, code) {
        Some(c) => ctx.cat().centre_full(&c),
        None => code.to_string(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct SearchForm {
    #[serde(default)]
    centre: String,
    #[serde(default)]
    purpose: String,
    #[serde(flatten)]
    person: PersonForm,
}

/// What a clerk's form page shows beside the form: nothing yet, the form's own error, the
/// node's refusal, or the answer.
pub(crate) enum Outcome<T> {
    None,
    Invalid(FieldError),
    Refused(tonic::Status),
    Answered(Box<T>),
}

impl<T> Outcome<T> {
    /// The form's error, shown under it.
    pub(crate) fn error(&self) -> Option<&FieldError> {
        match self {
            Outcome::Invalid(e) => Some(e),
            _ => None,
        }
    }

    /// The page's HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Outcome::None | Outcome::Answered(_) => StatusCode::OK,
            Outcome::Invalid(_) => StatusCode::BAD_REQUEST,
            Outcome::Refused(s) => http_status(s),
        }
    }
}

/// A page that asks about one person (loan check, live-account check): `intro`, the person
/// form posting to `action`, its error, then the node's refusal or the answer as `result`
/// draws it.
pub(crate) fn person_check_page<T>(
    ctx: &Ctx,
    title: &str,
    intro: &str,
    action: &str,
    f: &PersonForm,
    outcome: &Outcome<T>,
    result: impl FnOnce(&T) -> Markup,
) -> Response {
    let body = html! {
        section {
            p.muted { (intro) }
            form.grid #check method="post" action=(action) {
                (csrf_field(ctx))
                (person_fields(ctx, f))
                div { button type="submit" { (ctx.t("核查", "Check")) } }
            }
            (form_errors(outcome.error()))
        }
        @match outcome {
            Outcome::None | Outcome::Invalid(_) => {}
            Outcome::Refused(s) => { (status_box(ctx, s)) }
            Outcome::Answered(r) => { (result(r)) }
        }
    };
    page_with(ctx, outcome.status(), title, body)
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    draw(&ctx, &SearchForm::default(), Outcome::None)
}

async fn search(ctx: Ctx, Form(f): Form<SearchForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let Some(purpose) = Purpose::from_name(&f.purpose) else {
        let e = FieldError {
            field: "purpose",
            text: format!(
                "{}: {}",
                ctx.t("查询用途", "Purpose"),
                ctx.t("请选择查询用途", "choose a purpose")
            ),
        };
        return draw(&ctx, &f, Outcome::Invalid(e));
    };
    let dir = ctx.node().trust.directory();
    if f.centre == ctx.person.centre || !dir.centres.iter().any(|c| c.code == f.centre) {
        let e = FieldError {
            field: "centre",
            text: format!(
                "{}: {}",
                ctx.t("被查询中心", "Centre asked"),
                ctx.t(
                    "请选择区域内的其他中心",
                    "choose another centre of the zone"
                )
            ),
        };
        return draw(&ctx, &f, Outcome::Invalid(e));
    }
    let person = match f.person.key(&ctx) {
        Ok(p) => p,
        Err(e) => return draw(&ctx, &f, Outcome::Invalid(e)),
    };
    let q = pb::LocalMemberQuery {
        centre: f.centre.clone(),
        person: Some(person),
        purpose: purpose.wire as i32,
        message_id: String::new(),
    };
    match ctx.clerk().query_member(ctx.request(q)).await {
        Ok(r) => draw(&ctx, &f, Outcome::Answered(Box::new(r.into_inner()))),
        Err(s) => draw(&ctx, &f, Outcome::Refused(s)),
    }
}

fn answer(ctx: &Ctx, purpose: &str, r: &pb::LocalMemberReply) -> Markup {
    let cat = ctx.cat();
    let m = r.member.clone().unwrap_or_default();
    let rows = hfx_i18n::views::member_rows(cat, &m);
    html! {
        section #answer aria-live="polite" {
            h2 {
                (cat.text("query-answered", &[
                    ("centre", centre_full(ctx, &m.centre).into()),
                    ("purpose", cat.purpose_coded(purpose).into()),
                ]))
            }
            dl.facts #fields {
                @for (id, v) in &rows {
                    dt { (cat.msg(id)) }
                    dd data-field=(id.trim_start_matches("query-")) { (v) }
                }
            }
            h2 { (ctx.t("回执", "Receipts")) }
            dl.facts #receipts {
                @if let Some(x) = &r.local_receipt {
                    dt { (cat.msg("query-our-receipt")) }
                    dd data-field="our-receipt" {
                        (cat.text("query-receipt", &[("index", x.log_index.to_string().into())]))
                    }
                }
                @if let Some(x) = &r.peer_receipt {
                    dt { (cat.msg("query-their-receipt")) }
                    dd data-field="their-receipt" {
                        (cat.text("query-receipt-at", &[
                            ("index", x.log_index.to_string().into()),
                            ("centre", centre_short(ctx, &x.centre).into()),
                        ]))
                    }
                }
            }
        }
    }
}

fn draw(ctx: &Ctx, f: &SearchForm, outcome: Outcome<pb::LocalMemberReply>) -> Response {
    let cat = ctx.cat();
    let purpose = if f.purpose.is_empty() {
        "identity_confirmation"
    } else {
        f.purpose.as_str()
    };
    let err = outcome.error();
    let status = outcome.status();
    let body = html! {
        section {
            p.muted {
                (ctx.t(
                    "向区域内其他中心查询缴存职工信息。对方只答复所选用途允许的字段，姓名和证件号码均已脱敏。",
                    "Ask another centre of the zone about a member. It answers only the fields the purpose allows; name and id number come masked."
                ))
            }
            form.grid #search method="post" action="/member" {
                (csrf_field(ctx))
                div {
                    label for="centre" { (ctx.t("被查询中心", "Centre asked")) }
                    select #centre name="centre" required { (peer_options(ctx, &f.centre)) }
                }
                (person_fields(ctx, &f.person))
                div {
                    label for="purpose" { (ctx.t("查询用途", "Purpose")) }
                    select #purpose name="purpose" required {
                        @for p in PURPOSES.iter() {
                            option value=(p.name) selected[p.name == purpose] { (cat.purpose(p.name)) }
                        }
                    }
                }
                div { button type="submit" { (ctx.t("查询", "Search")) } }
            }
            (form_errors(err))
            details #purpose-fields {
                summary { (ctx.t("各用途答复哪些字段", "What each purpose answers")) }
                dl.facts {
                    @for p in PURPOSES.iter() {
                        dt { (cat.purpose(p.name)) }
                        dd { (cat.purpose_fields(p.name)) }
                    }
                }
            }
        }
        @match &outcome {
            Outcome::None => {}
            Outcome::Invalid(_) => {}
            Outcome::Refused(s) => {
                p.muted { (ctx.t("查询对象：", "Asked about: ")) (f.person.masked()) " · " (centre_short(ctx, &f.centre)) }
                (status_box(ctx, s))
            }
            Outcome::Answered(r) => {
                p.muted { (ctx.t("查询对象：", "Asked about: ")) (f.person.masked()) }
                (answer(ctx, purpose, r))
            }
        }
    };
    page_with(ctx, status, ctx.t("会员查询", "Member search"), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hfx_i18n::{Catalogue, Lang};

    #[test]
    fn an_answer_shows_only_the_fields_it_carries() {
        let cat = Catalogue::new(Lang::ZhCn);
        let m = pb::MemberView {
            centre: "320700000000000".into(),
            name_masked: Some("张*".into()),
            live_account: Some(true),
            ..Default::default()
        };
        let rows = hfx_i18n::views::member_rows(&cat, &m);
        let ids: Vec<_> = rows.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ["query-name", "query-live-account"]);
        let m = pb::MemberView {
            balance_fen: Some(12_345_678),
            status: Some(pb::AccountStatus::Normal as i32),
            ..Default::default()
        };
        let rows = hfx_i18n::views::member_rows(&cat, &m);
        assert!(
            rows.contains(&("query-balance", "¥123,456.78".to_string())),
            "{rows:?}"
        );
        assert!(
            rows.contains(&("query-status", "正常 (01)".to_string())),
            "{rows:?}"
        );
    }

    #[test]
    fn the_person_is_shown_masked() {
        let f = PersonForm {
            id_type: "01".into(),
            id_number: "11010519491231002x".into(),
            name: "张三丰".into(),
        };
        assert_eq!(f.masked(), "张** 110105********002X");
    }
}
