//! The operator's page: node status, each peer's health as the zone doctor sees it, the
//! expiry of the node certificate, the CRL and the directory, and the maintenance switch.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{centre_short, csrf_field, page, status_page};
use axum::extract::Form;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/ops", routing::get(show))
        .route("/ops/maintenance", routing::post(maintenance))
}

/// "in 12 days" / "expired 3 days ago", beside the date.
fn expiry(ctx: &Ctx, unix: i64) -> Markup {
    if unix <= 0 {
        return html! { "—" };
    }
    let now = chrono::Utc::now().timestamp();
    let days = (unix - now).div_euclid(86_400);
    let class = if unix <= now {
        "bad"
    } else if days < 30 {
        "warn"
    } else {
        "ok"
    };
    let when = if unix <= now {
        format!("{}{}", ctx.t("已过期 ", "expired "), -days)
    } else {
        format!("{}{}", ctx.t("剩余天数 ", "days left "), days)
    };
    html! { (ctx.cat().date_time_unix(unix)) " " span class=(class) { "(" (when) ")" } }
}

fn mark(ok: bool) -> Markup {
    html! { @if ok { span.ok { "✓" } } @else { span.bad { "✗" } } }
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Operator]) {
        return r;
    }
    let status = match ctx
        .operator()
        .status(ctx.request(pb::StatusRequest {}))
        .await
    {
        Ok(s) => s.into_inner(),
        Err(s) => return status_page(&ctx, &s),
    };
    let report = match ctx
        .operator()
        .diagnose(ctx.request(pb::DiagnoseRequest { centres: vec![] }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return status_page(&ctx, &s),
    };
    let cat = ctx.cat();
    let body = html! {
        section {
            h2 { (ctx.t("节点状态", "Status")) }
            dl.facts {
                dt { (ctx.t("中心", "Centre")) } dd { (centre_short(&ctx, &status.centre)) }
                dt { (ctx.t("版本", "Version")) } dd { (status.version) }
                dt { (ctx.t("运行时间", "Uptime")) } dd { (cat.duration(status.uptime_seconds)) }
                dt { (ctx.t("核心系统适配器", "Core system adapter")) } dd { (status.adapter) }
                dt { (ctx.t("存储", "Store")) } dd { (status.store) }
                dt { (ctx.t("日志条目", "Log entries")) } dd { (status.log_size) }
                dt { (ctx.t("最新检查点", "Latest checkpoint")) } dd { (status.checkpoint_size) }
                dt { (ctx.t("已见证", "Witnessed")) } dd { (status.witnessed_size) }
                dt { (ctx.t("写入租约", "Writer lease")) } dd { (status.lease) }
                dt { (ctx.t("维护模式", "Maintenance mode")) } dd #maintenance-state { (cat.yes_no(status.maintenance)) }
            }
            form method="post" action="/ops/maintenance" {
                (csrf_field(&ctx))
                input type="hidden" name="on" value=(if status.maintenance { "false" } else { "true" });
                button type="submit" #maintenance-switch {
                    @if status.maintenance { (ctx.t("退出维护模式", "Leave maintenance mode")) }
                    @else { (ctx.t("进入维护模式", "Enter maintenance mode")) }
                }
            }
        }
        section {
            h2 { (ctx.t("有效期", "Expiry")) }
            dl.facts {
                dt { (ctx.t("节点证书", "Node certificate")) } dd { (expiry(&ctx, report.cert_not_after_unix)) }
                dt { (ctx.t("吊销列表下次更新", "CRL next update")) } dd { (expiry(&ctx, report.crl_next_update_unix)) }
                dt { (ctx.t("区域目录", "Zone directory")) " v" (report.directory_version) } dd { (expiry(&ctx, report.directory_expires_unix)) }
            }
        }
        section {
            h2 { (ctx.t("对端健康", "Peers' health")) }
            div.scroll {
                table #peers {
                    thead { tr {
                        th { (ctx.t("中心", "Centre")) } th { "TCP" } th { "TLS" } th { "Hello" }
                        th { (ctx.t("健康", "Health")) } th { (ctx.t("往返", "Round trip")) }
                        th { (ctx.t("时钟偏差", "Clock skew")) } th { (ctx.t("证书到期", "Certificate expiry")) }
                        th { (ctx.t("见证滞后", "Witness lag")) }
                    } }
                    tbody {
                        @for p in &report.peers {
                            tr {
                                td { (centre_short(&ctx, &p.centre)) }
                                td { (mark(p.tcp_ok)) } td { (mark(p.tls_ok)) } td { (mark(p.hello_ok)) }
                                td { (if p.health.is_empty() { "—" } else { &p.health }) }
                                td { (p.rtt_ms) " ms" }
                                td { (p.clock_skew_ms) " ms" }
                                td { (expiry(&ctx, p.cert_not_after_unix)) }
                                td { (p.witness_lag_of_ours) " / " (p.witness_lag_of_theirs) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t("发现的问题", "Findings")) }
            @if report.findings.is_empty() {
                p.ok { (ctx.t("没有发现问题。", "Nothing found wrong.")) }
            } @else {
                ul.findings {
                    @for f in &report.findings {
                        li class=(f.severity) {
                            strong { (centre_short(&ctx, &f.centre)) " · " (f.check) } ": " (f.detail)
                            br; span.advice { (f.advice) }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, ctx.t("节点运维", "Node"), body)
}

#[derive(serde::Deserialize)]
struct Switch {
    on: bool,
}

async fn maintenance(ctx: Ctx, Form(f): Form<Switch>) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Operator]) {
        return r;
    }
    match ctx
        .operator()
        .set_maintenance(ctx.request(pb::MaintenanceRequest { on: f.on }))
        .await
    {
        Ok(_) => Redirect::to("/ops").into_response(),
        Err(s) => status_page(&ctx, &s),
    }
}
