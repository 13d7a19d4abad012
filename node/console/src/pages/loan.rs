//! The clerk's zone-wide loan check (贷款核查, docs/loan_check.md): every centre of the zone
//! asked at once under one deadline for the person's loans as borrower or co-borrower. Each
//! centre gets a row: answered (with each loan) or not answered and why. A centre that did not
//! answer is never "no loans".

use super::member::{Outcome, PersonForm, person_check_page};
use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::centre_short;
use axum::extract::Form;
use axum::response::Response;
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_node::loan_check::outcome_name;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/loan-check", routing::get(show).post(check))
}

/// The deadline of the whole check, milliseconds (the CLI's default).
const DEADLINE_MS: u32 = 3000;

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
    let req = pb::LocalLoanCheck {
        person: Some(person),
        centres: vec![],
        deadline_ms: DEADLINE_MS,
        message_id: String::new(),
        hedge: false,
    };
    match ctx.clerk().loan_check(ctx.request(req)).await {
        Ok(r) => draw(&ctx, &f, Outcome::Answered(Box::new(r.into_inner()))),
        Err(s) => draw(&ctx, &f, Outcome::Refused(s)),
    }
}

fn loans_table(ctx: &Ctx, loans: &[pb::Loan]) -> Markup {
    let cat = ctx.cat();
    html! {
        table.loans {
            thead { tr {
                th { (ctx.t("合同编号", "Contract no.")) }
                th { (ctx.t("角色", "Role")) }
                th { (ctx.t("发放日期", "Issued")) }
                th.num { (ctx.t("合同金额", "Amount")) }
                th.num { (ctx.t("贷款余额", "Outstanding")) }
                th.num { (ctx.t("逾期", "Overdue")) }
                th { (ctx.t("状态", "Status")) }
            } }
            tbody {
                @for l in loans {
                    tr.loan {
                        td { code { (l.contract_no) } }
                        td { (cat.loan_role(hfx_i18n::views::loan_role(l))) }
                        td { (cat.date_yyyymmdd(l.issued_date)) }
                        td.num { (cat.money(l.contract_amount_fen)) }
                        td.num { (cat.money(l.outstanding_fen)) }
                        td.num {
                            (l.overdue_periods) (ctx.t(" 期 ", " periods, ")) (cat.money(l.overdue_principal_fen))
                        }
                        td {
                            span class=(if l.status() == pb::LoanStatus::Overdue { "bad" } else { "" }) {
                                (cat.loan_status(hfx_i18n::views::loan_status(l)))
                            }
                            @if let Some(d) = l.settled_date {
                                ", " (cat.text("loan-check-settled", &[("date", cat.date_yyyymmdd(d).into())]))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn result(ctx: &Ctx, f: &PersonForm, r: &pb::LocalLoanCheckReply) -> Markup {
    let cat = ctx.cat();
    let answered = r
        .centres
        .iter()
        .filter(|c| c.outcome() == pb::LoanCheckOutcome::Answered)
        .count();
    let name = hfx_model::ids::mask_name(&f.name);
    let id = hfx_model::ids::mask_id(&f.id_number.trim().to_uppercase());
    html! {
        section #result aria-live="polite" {
            h2 {
                (cat.text("loan-check-head", &[
                    ("name", name.into()),
                    ("id", id.into()),
                    ("answered", answered.into()),
                    ("total", r.centres.len().into()),
                    ("elapsed", r.elapsed_ms.to_string().into()),
                    ("deadline", r.deadline_ms.to_string().into()),
                ]))
            }
            @if r.complete {
                p.ok #complete { (ctx.t("全部中心均已答复：以下为此人在全区的全部贷款。", "Every centre answered: these are all of the person's loans in the zone.")) }
            } @else {
                div.error role="alert" #incomplete { p { (cat.msg("loan-check-incomplete")) } }
            }
            div.scroll {
                table #centres {
                    thead { tr {
                        th { (ctx.t("中心", "Centre")) }
                        th { (ctx.t("结果", "Result")) }
                        th.num { (ctx.t("用时", "Time")) }
                        th { (ctx.t("回执", "Receipt")) }
                    } }
                    tbody {
                        @for c in &r.centres {
                            @let ok = c.outcome() == pb::LoanCheckOutcome::Answered;
                            tr.centre data-centre=(c.centre) data-outcome=(outcome_name(c.outcome())) {
                                td {
                                    (centre_short(ctx, &c.centre))
                                    @if c.own { " " span.badge { (cat.msg("loan-check-own")) } }
                                }
                                td {
                                    @if ok {
                                        span.ok { (cat.text("loan-check-answered", &[("count", c.loans.len().into())])) }
                                    } @else {
                                        span.bad { (cat.loan_outcome(outcome_name(c.outcome()))) }
                                        @if !c.detail.is_empty() { ": " (c.detail) }
                                        @if !c.reason.is_empty() { " " code { (c.reason) } }
                                        " — " span.muted { (ctx.t("贷款情况未知", "loans unknown")) }
                                    }
                                }
                                td.num {
                                    (c.elapsed_ms) " ms"
                                    @if c.hedged { br; span.muted { (cat.msg("loan-check-hedged")) } }
                                }
                                td {
                                    @if let Some(x) = &c.peer_receipt {
                                        (cat.text("query-receipt", &[("index", x.log_index.to_string().into())]))
                                    } @else { "—" }
                                }
                            }
                            @if ok && !c.loans.is_empty() {
                                tr.loans data-loans-of=(c.centre) {
                                    td colspan="4" { (loans_table(ctx, &c.loans)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn draw(ctx: &Ctx, f: &PersonForm, outcome: Outcome<pb::LocalLoanCheckReply>) -> Response {
    person_check_page(
        ctx,
        ctx.t("贷款核查", "Loan check"),
        ctx.t(
            "同时向全区各中心（含本中心）核查此人作为借款人或共同借款人的贷款。未答复的中心，其贷款情况未知，不等于没有贷款。",
            "Ask every centre of the zone (this one included) at once for the person's loans as borrower or co-borrower. A centre that did not answer has unknown loans, not none."
        ),
        "/loan-check",
        f,
        &outcome,
        |r| result(ctx, f, r),
    )
}
