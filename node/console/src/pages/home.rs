//! The start page (who you are, what you may open), the language switch, and 404.

use crate::app::Console;
use crate::ctx::{Ctx, LANG_COOKIE};
use crate::page::{error, page};
use axum::extract::Form;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_i18n::Lang;
use maud::html;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/", routing::get(start))
        .route("/lang", routing::post(set_lang))
}

async fn start(ctx: Ctx) -> Response {
    let rooms: &[(&str, &str, &str, &str, &str)] = match ctx.person.role {
        Role::Clerk => &[
            (
                "/member",
                "会员查询",
                "Member search",
                "按用途查询其他中心的缴存人信息。",
                "Ask another centre about a member, for a purpose.",
            ),
            (
                "/transfers",
                "转移接续",
                "Transfers",
                "发起、跟踪、撤销账户转移。",
                "Start, follow and cancel account transfers.",
            ),
            (
                "/certificates",
                "缴存证明",
                "Certificates",
                "开具与核验缴存使用证明。",
                "Issue and verify deposit-use certificates.",
            ),
            (
                "/loan-check",
                "贷款核查",
                "Loan check",
                "在全区各中心核查贷款。",
                "Check loans at every centre of the zone.",
            ),
            (
                "/live-check",
                "开户查重",
                "Live-account check",
                "开户前核查全区是否已有在缴账户。",
                "Before opening an account: is one live anywhere?",
            ),
        ],
        Role::Auditor => &[
            (
                "/audit",
                "交换日志",
                "Exchange log",
                "日志规模、检查点与见证。",
                "Log size, checkpoints and witnesses.",
            ),
            (
                "/audit/disclosures",
                "披露记录",
                "Disclosures",
                "筛选并导出披露记录。",
                "Filter and export disclosure records.",
            ),
            (
                "/audit/reconcile",
                "对账",
                "Reconcile",
                "上传各中心导出的日志进行对账。",
                "Upload centres' exports and reconcile them.",
            ),
            (
                "/audit/charts",
                "图表",
                "Charts",
                "交换量、案件状态、在途资金。",
                "Exchanges, cases by state, money in flight.",
            ),
        ],
        Role::Operator => &[(
            "/ops",
            "节点运维",
            "Node",
            "节点状态、各对端健康、证书与目录有效期、维护模式。",
            "Node status, peers' health, certificate and directory expiry, maintenance mode.",
        )],
    };
    let centre = crate::page::centre_short(&ctx, &ctx.person.centre);
    page(
        &ctx,
        ctx.t("工作台", "Start"),
        html! {
            p { (ctx.t("本中心：", "This centre: ")) strong { (centre) } }
            ul.cards {
                @for (path, zh, en, dzh, den) in rooms {
                    li { a href=(path) { strong { (ctx.t(zh, en)) } span { (ctx.t(dzh, den)) } } }
                }
            }
        },
    )
}

#[derive(serde::Deserialize)]
struct LangForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// Remember the language (a cookie of the console only) and go back to the page.
async fn set_lang(Form(f): Form<LangForm>) -> Response {
    let lang = Lang::from_flag(&f.lang).unwrap_or(Lang::ZhCn);
    let back = back_path(&f.back);
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Strict",
        lang.tag()
    );
    let mut res = Redirect::to(back).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// Where the language switch returns to: only a path of this console, never another site
/// (`//host`, `https://…`, `/\\host`) and never a URL with a query.
fn back_path(asked: &str) -> &str {
    let ok = asked.starts_with('/')
        && !asked.starts_with("//")
        && !asked.contains(['?', '\\', '#'])
        && !asked.chars().any(|c| c.is_control());
    if ok { asked } else { "/" }
}

pub async fn not_found(ctx: Ctx) -> Response {
    error(
        &ctx,
        StatusCode::NOT_FOUND,
        ctx.t("没有这个页面", "No such page"),
        ctx.t("请从导航中选择。", "Choose from the navigation."),
    )
}

#[cfg(test)]
mod tests {
    use super::back_path;

    #[test]
    fn the_switch_returns_only_to_a_page_of_the_console() {
        assert_eq!(back_path("/member"), "/member");
        assert_eq!(back_path("/transfers/0192-ab"), "/transfers/0192-ab");
        for bad in [
            "",
            "member",
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "/x?id=1",
            "/x#y",
            "/x\r\nSet-Cookie: a=b",
        ] {
            assert_eq!(back_path(bad), "/", "{bad:?}");
        }
    }
}
