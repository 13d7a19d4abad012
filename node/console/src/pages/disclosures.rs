//! The auditor's disclosure records (`/audit/disclosures`): who disclosed what to whom, for
//! which purpose, on which legal basis, filtered by what [`pb::DisclosureQuery`] supports
//! (member, peer, purpose, direction, time), and the filtered rows as CSV. The member's id
//! number travels only in the POST body; the table shows the masked subject only.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{centre_short, csrf_field, page, peer_options, status_box};
use axum::extract::Form;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/audit/disclosures", routing::get(show).post(search))
        .route("/audit/disclosures/csv", routing::post(csv))
}

/// How many rows a page or a CSV holds at most (the node's own cap is 10,000).
const LIMIT: u32 = 10_000;
/// Rows the table shows (the CSV has all of them).
const SHOWN: usize = 500;

const PURPOSES: &[pb::Purpose] = &[
    pb::Purpose::IdentityConfirmation,
    pb::Purpose::DuplicateAccountCheck,
    pb::Purpose::TransferCheck,
    pb::Purpose::LoanApplication,
    pb::Purpose::LoanCheck,
];

/// The filter form as posted. Dates are `YYYY-MM-DD` (China Standard Time, `to` inclusive).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub peer: String,
    #[serde(default)]
    pub purpose: String,
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// Midnight of `date` (YYYY-MM-DD) in China Standard Time, as unix ms; `days` added.
fn cst_midnight_ms(date: &str, days: i64) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let d = d.checked_add_signed(chrono::Duration::days(days))?;
    let t = d.and_hms_opt(0, 0, 0)?;
    Some(
        t.and_local_timezone(hfx_i18n::cst())
            .single()?
            .timestamp_millis(),
    )
}

/// The query a filter asks for, or the field it names wrongly.
fn query(ctx: &Ctx, f: &Filter) -> Result<pb::DisclosureQuery, String> {
    let mut q = pb::DisclosureQuery {
        limit: LIMIT,
        ..Default::default()
    };
    let id = f.id_number.trim();
    if !id.is_empty() {
        let label = ctx.t("会员身份证号码", "Member's id number");
        q.member_id_number = crate::page::check_id(ctx, label, id)?;
        q.member_id_type = pb::IdType::ResidentId as i32;
    }
    q.peer_centre = f.peer.trim().to_string();
    if !f.purpose.is_empty() {
        let p = PURPOSES
            .iter()
            .find(|p| hfx_node::member::purpose_name(**p) == f.purpose)
            .ok_or_else(|| format!("{}: {}", ctx.t("用途", "Purpose"), f.purpose))?;
        q.purpose = *p as i32;
    }
    if !f.direction.is_empty() {
        if !matches!(f.direction.as_str(), "sent" | "received" | "refused") {
            return Err(format!("{}: {}", ctx.t("方向", "Direction"), f.direction));
        }
        q.direction = f.direction.clone();
    }
    let bad_date = |label: &str| {
        format!(
            "{label}: {}",
            ctx.t("日期格式应为 年-月-日", "a date is YYYY-MM-DD")
        )
    };
    if !f.from.trim().is_empty() {
        q.since_unix_ms =
            cst_midnight_ms(&f.from, 0).ok_or_else(|| bad_date(ctx.t("起始日期", "From")))?;
    }
    if !f.to.trim().is_empty() {
        q.until_unix_ms =
            cst_midnight_ms(&f.to, 1).ok_or_else(|| bad_date(ctx.t("截止日期", "To")))?;
    }
    Ok(q)
}

fn purpose_name(v: i32) -> &'static str {
    pb::Purpose::try_from(v)
        .map(hfx_node::member::purpose_name)
        .unwrap_or("unspecified")
}

fn form(ctx: &Ctx, f: &Filter, member_given: bool) -> Markup {
    let purpose_label = |p: &pb::Purpose| ctx.cat().purpose(hfx_node::member::purpose_name(*p));
    html! {
        form.grid #filter method="post" action="/audit/disclosures" {
            (csrf_field(ctx))
            div {
                label for="id_number" { (ctx.t("会员身份证号码（可选）", "Member's id number (optional)")) }
                // Never echoed back: the full id stays out of every page.
                input #id_number name="id_number" type="text" autocomplete="off" spellcheck="false"
                    maxlength="18" pattern="[0-9]{15}|[0-9]{17}[0-9Xx]"
                    placeholder=(if member_given { ctx.t("（已按会员筛选，请重新输入）", "(filtered by a member: type it again)") } else { "" });
            }
            div {
                label for="peer" { (ctx.t("对端中心", "Peer centre")) }
                select #peer name="peer" {
                    option value="" { (ctx.t("全部", "All")) }
                    (peer_options(ctx, &f.peer))
                }
            }
            div {
                label for="purpose" { (ctx.t("用途", "Purpose")) }
                select #purpose name="purpose" {
                    option value="" { (ctx.t("全部", "All")) }
                    @for p in PURPOSES {
                        @let name = hfx_node::member::purpose_name(*p);
                        option value=(name) selected[f.purpose == name] { (purpose_label(p)) }
                    }
                }
            }
            div {
                label for="direction" { (ctx.t("方向", "Direction")) }
                select #direction name="direction" {
                    option value="" { (ctx.t("全部", "All")) }
                    option value="sent" selected[f.direction == "sent"] { (ctx.t("本中心披露", "We disclosed")) }
                    option value="received" selected[f.direction == "received"] { (ctx.t("本中心查询", "We asked")) }
                    option value="refused" selected[f.direction == "refused"] { (ctx.t("本中心拒绝", "We refused")) }
                }
            }
            div {
                label for="from" { (ctx.t("起始日期", "From")) }
                input #from name="from" type="date" value=(f.from);
            }
            div {
                label for="to" { (ctx.t("截止日期（含）", "To (inclusive)")) }
                input #to name="to" type="date" value=(f.to);
            }
            div {
                button type="submit" #search { (ctx.t("查询", "Search")) }
                " "
                button.secondary type="submit" #csv formaction="/audit/disclosures/csv" {
                    (ctx.t("导出 CSV", "Export CSV"))
                }
            }
        }
    }
}

fn table(ctx: &Ctx, rows: &[pb::Disclosure]) -> Markup {
    let cat = ctx.cat();
    html! {
        p #count {
            (ctx.t("共 ", "")) strong { (rows.len()) } (ctx.t(" 条记录", " records"))
            @if rows.len() > SHOWN {
                " " span.muted { (ctx.t("（下表显示最新 500 条，CSV 含全部）", "(the newest 500 below; the CSV has all)")) }
            }
        }
        @if rows.is_empty() {
            p.muted #no-rows { (ctx.t("没有符合条件的披露记录。", "No disclosure record matches.")) }
        } @else {
            div.scroll {
                table #disclosures {
                    thead { tr {
                        th { (ctx.t("时间", "When")) }
                        th { (ctx.t("方向", "Direction")) }
                        th { (ctx.t("对端中心", "Peer centre")) }
                        th { (ctx.t("经办人", "Acting person")) }
                        th { (ctx.t("用途", "Purpose")) }
                        th { (ctx.t("法律依据", "Legal basis")) }
                        th { (ctx.t("结果", "Outcome")) }
                        th { (ctx.t("信息主体", "Subject")) }
                        th { (ctx.t("报文编号", "Message id")) }
                    } }
                    tbody {
                        @for d in rows.iter().take(SHOWN) {
                            tr data-peer=(d.peer_centre) {
                                td { (cat.date_time_ms(d.at_unix_ms)) }
                                td { (cat.direction(&d.direction, &d.outcome)) }
                                td { (centre_short(ctx, &d.peer_centre)) }
                                td { code { (d.acting_person) } }
                                td { (cat.purpose(purpose_name(d.purpose))) }
                                td { (d.legal_basis) }
                                td { (cat.outcome(&d.outcome)) }
                                td.subject { (d.subject_masked) }
                                td { code.muted title=(d.message_id) { (d.message_id.chars().take(8).collect::<String>()) "…" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn list(ctx: &Ctx, q: pb::DisclosureQuery) -> Result<Vec<pb::Disclosure>, tonic::Status> {
    let mut rows = ctx
        .audit()
        .list_disclosures(ctx.request(q))
        .await?
        .into_inner()
        .disclosures;
    rows.sort_by_key(|d| std::cmp::Reverse(d.at_unix_ms));
    Ok(rows)
}

fn render(ctx: &Ctx, f: &Filter, result: Markup) -> Response {
    let body = html! {
        section {
            (form(ctx, f, !f.id_number.trim().is_empty()))
        }
        section { (result) }
    };
    page(ctx, ctx.t("披露记录", "Disclosures"), body)
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let f = Filter::default();
    let result = match list(&ctx, query(&ctx, &f).unwrap_or_default()).await {
        Ok(rows) => table(&ctx, &rows),
        Err(s) => status_box(&ctx, &s),
    };
    render(&ctx, &f, result)
}

async fn search(ctx: Ctx, Form(f): Form<Filter>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let q = match query(&ctx, &f) {
        Ok(q) => q,
        Err(e) => {
            let mut r = render(
                &ctx,
                &f,
                html! { p.field-error role="alert" #filter-error { (e) } },
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let result = match list(&ctx, q).await {
        Ok(rows) => table(&ctx, &rows),
        Err(s) => status_box(&ctx, &s),
    };
    render(&ctx, &f, result)
}

/// One CSV field (RFC 4180), with a leading `=`, `+`, `-` or `@` defused so that a
/// spreadsheet does not take the cell for a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The CSV's header: stable machine names (the same in every language), as the JSON of
/// `hfx audit disclosures --json`.
pub const CSV_HEADER: &str =
    "at,at_unix_ms,direction,peer,acting_person,purpose,legal_basis,outcome,message_id,subject";

pub fn csv_text(rows: &[pb::Disclosure]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for d in rows {
        let at = chrono::DateTime::from_timestamp_millis(d.at_unix_ms)
            .map(|t| t.with_timezone(&hfx_i18n::cst()).to_rfc3339())
            .unwrap_or_default();
        let fields = [
            at,
            d.at_unix_ms.to_string(),
            d.direction.clone(),
            d.peer_centre.clone(),
            d.acting_person.clone(),
            purpose_name(d.purpose).to_string(),
            d.legal_basis.clone(),
            d.outcome.clone(),
            d.message_id.clone(),
            d.subject_masked.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

async fn csv(ctx: Ctx, Form(f): Form<Filter>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let q = match query(&ctx, &f) {
        Ok(q) => q,
        Err(e) => {
            let mut r = render(
                &ctx,
                &f,
                html! { p.field-error role="alert" #filter-error { (e) } },
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let rows = match list(&ctx, q).await {
        Ok(rows) => rows,
        Err(s) => return render(&ctx, &f, status_box(&ctx, &s)),
    };
    let at = chrono::Utc::now()
        .with_timezone(&hfx_i18n::cst())
        .format("%Y%m%d-%H%M%S");
    let code: String = ctx
        .person
        .centre
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let name = format!("hfx-disclosures-{code}-{at}.csv");
    // A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    let body = format!("\u{feff}{}", csv_text(&rows));
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("张*"), "张*");
    }

    #[test]
    fn a_csv_has_its_header_and_a_line_per_row() {
        let d = pb::Disclosure {
            at_unix_ms: 1_700_000_000_000,
            direction: "sent".into(),
            peer_centre: "320700000000000".into(),
            acting_person: "clerk1".into(),
            purpose: pb::Purpose::LoanApplication as i32,
            legal_basis: "住房公积金管理条例, 第三条".into(),
            outcome: "disclosed".into(),
            message_id: "m1".into(),
            subject_masked: "张*".into(),
        };
        let text = csv_text(&[d]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("2023-11-15T06:13:20+08:00,1700000000000,sent,320700000000000,clerk1,loan_application,\"住房公积金管理条例, 第三条\",disclosed,m1,张*"), "{}", lines[1]);
    }

    #[test]
    fn dates_are_china_standard_time_midnights() {
        assert_eq!(cst_midnight_ms("2023-11-15", 0), Some(1_699_977_600_000));
        assert_eq!(cst_midnight_ms("2023-11-15", 1), Some(1_700_064_000_000));
        assert_eq!(cst_midnight_ms("15/11/2023", 0), None);
    }
}
