//! The clerk's live-account check before opening an account (开户查重, docs/duplicates.md):
//! every other centre of the zone asked at once, minimised (live or not, status, open month).
//! The page says plainly "no live account elsewhere", "live account at X", or that some
//! centre did not answer (so "none" is not proven).

use super::member::{Outcome, PersonForm, person_check_page};
use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::centre_short;
use axum::extract::Form;
use axum::response::Response;
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/live-check", routing::get(show).post(check))
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    draw(&ctx, &PersonForm::default(), Outcome::None)
}

async fn check(ctx: Ctx, Form(f): Form<PersonForm>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Clerk]) {
        return r;
    }
    let person = match f.key(&ctx) {
        Ok(p) => p,
        Err(e) => return draw(&ctx, &f, Outcome::Invalid(e)),
    };
    let req = pb::LiveAccountCheck {
        person: Some(person),
        centres: vec![],
    };
    match ctx.duplicates().check_live_account(ctx.request(req)).await {
        Ok(r) => draw(&ctx, &f, Outcome::Answered(Box::new(r.into_inner()))),
        Err(s) => draw(&ctx, &f, Outcome::Refused(s)),
    }
}

/// One centre's answer in words (as `hfx zone live-check` says it).
fn said(ctx: &Ctx, x: &pb::LiveAccountAnswer) -> String {
    let cat = ctx.cat();
    let word = cat.msg_or(&format!("live-outcome-{}", x.outcome), &x.outcome);
    match x.outcome.as_str() {
        "live" | "closed" if x.opened_month > 0 => cat.text(
            "live-opened",
            &[
                ("outcome", word.into()),
                ("month", cat.month_yyyymm(x.opened_month).into()),
            ],
        ),
        "unavailable" | "refused" => cat.text(
            "live-reason",
            &[
                ("outcome", word.into()),
                ("reason", x.reason.as_str().into()),
            ],
        ),
        "name_mismatch" => cat.text("live-name-mismatch", &[("outcome", word.into())]),
        _ => word,
    }
}

fn class_of(outcome: &str) -> &'static str {
    match outcome {
        "live" | "name_mismatch" => "bad",
        "unavailable" | "refused" => "warn",
        _ => "ok",
    }
}

fn result(ctx: &Ctx, f: &PersonForm, r: &pb::LiveAccountReport) -> Markup {
    let cat = ctx.cat();
    let live_at: Vec<String> = r
        .answers
        .iter()
        .filter(|x| x.outcome == "live")
        .map(|x| centre_short(ctx, &x.centre))
        .collect();
    let (class, verdict) = if r.live_elsewhere {
        (
            "bad",
            format!(
                "{}{}{}",
                cat.msg("live-elsewhere"),
                ctx.t("：", ": "),
                live_at.join(ctx.t("、", ", "))
            ),
        )
    } else if r.incomplete {
        ("warn", cat.msg("live-incomplete"))
    } else {
        ("ok", cat.msg("live-none"))
    };
    let masked = f.masked();
    let (name, id) = masked.split_once(' ').unwrap_or((masked.as_str(), ""));
    html! {
        section #result aria-live="polite" {
            h2 { (cat.text("live-head", &[("name", name.into()), ("id", id.into())])) }
            p #verdict class=(class) data-live=(r.live_elsewhere) data-incomplete=(r.incomplete) {
                strong { (verdict) }
            }
            div.scroll {
                table #centres {
                    thead { tr {
                        th { (ctx.t("中心", "Centre")) }
                        th { (ctx.t("答复", "Answer")) }
                        th { (ctx.t("账户状态", "Account status")) }
                    } }
                    tbody {
                        @for x in &r.answers {
                            tr data-centre=(x.centre) data-outcome=(x.outcome) {
                                td { (centre_short(ctx, &x.centre)) }
                                td { span class=(class_of(&x.outcome)) { (said(ctx, x)) } }
                                td {
                                    @if x.status > 0 { (cat.account_status(&format!("{:02}", x.status))) }
                                    @else { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn draw(ctx: &Ctx, f: &PersonForm, outcome: Outcome<pb::LiveAccountReport>) -> Response {
    person_check_page(
        ctx,
        ctx.t("开户查重", "Live-account check"),
        ctx.t(
            "开户前核查此人是否已在区域内其他中心有在用账户。对方只答复是否在用、账户状态和开户年月。",
            "Before opening an account: does the person hold a live account at another centre of the zone? Each centre answers only live or not, status and open month."
        ),
        "/live-check",
        f,
        &outcome,
        |r| result(ctx, f, r),
    )
}

#[cfg(test)]
mod tests {
    use super::class_of;

    #[test]
    fn a_live_account_elsewhere_reads_as_a_problem_and_no_answer_as_a_warning() {
        assert_eq!(class_of("live"), "bad");
        assert_eq!(class_of("unavailable"), "warn");
        assert_eq!(class_of("none"), "ok");
    }
}
