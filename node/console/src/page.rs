//! The page shell every console page is drawn in, and the pieces pages share: the navigation
//! by role, the language switch, the form token, error pages (a refused API call shown with
//! its reason in the person's language), centre names and pickers.

use crate::ctx::Ctx;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hfx_certs::Role;
use hfx_i18n::{CentreName, Lang};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// One entry of the navigation: path, Chinese, English, who sees it.
struct Link {
    path: &'static str,
    zh: &'static str,
    en: &'static str,
    roles: &'static [Role],
}

const NAV: &[Link] = &[
    Link {
        path: "/member",
        zh: "会员查询",
        en: "Member search",
        roles: &[Role::Clerk],
    },
    Link {
        path: "/transfers",
        zh: "转移接续",
        en: "Transfers",
        roles: &[Role::Clerk],
    },
    Link {
        path: "/certificates",
        zh: "缴存证明",
        en: "Certificates",
        roles: &[Role::Clerk],
    },
    Link {
        path: "/loan-check",
        zh: "贷款核查",
        en: "Loan check",
        roles: &[Role::Clerk],
    },
    Link {
        path: "/live-check",
        zh: "开户查重",
        en: "Live-account check",
        roles: &[Role::Clerk],
    },
    Link {
        path: "/audit",
        zh: "交换日志",
        en: "Exchange log",
        roles: &[Role::Auditor],
    },
    Link {
        path: "/audit/evidence",
        zh: "见证证据",
        en: "Witness evidence",
        roles: &[Role::Auditor],
    },
    Link {
        path: "/audit/disclosures",
        zh: "披露记录",
        en: "Disclosures",
        roles: &[Role::Auditor],
    },
    Link {
        path: "/audit/reconcile",
        zh: "对账",
        en: "Reconcile",
        roles: &[Role::Auditor],
    },
    Link {
        path: "/audit/charts",
        zh: "图表",
        en: "Charts",
        roles: &[Role::Auditor],
    },
    Link {
        path: "/ops",
        zh: "节点运维",
        en: "Node",
        roles: &[Role::Operator],
    },
];

/// The hidden form field every form carries ([`crate::csrf`]).
pub fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name=(crate::csrf::FIELD) value=(ctx.csrf); }
}

fn role_name(ctx: &Ctx) -> &'static str {
    match (ctx.person.role, ctx.lang) {
        (Role::Clerk, Lang::ZhCn) => "经办人员",
        (Role::Auditor, Lang::ZhCn) => "审计人员",
        (Role::Operator, Lang::ZhCn) => "运维人员",
        (Role::Clerk, Lang::En) => "clerk",
        (Role::Auditor, Lang::En) => "auditor",
        (Role::Operator, Lang::En) => "operator",
    }
}

/// A whole page: `title` and `body` in the shell (header with the centre and the person,
/// navigation for the person's role, language switch).
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    page_with(ctx, StatusCode::OK, title, body)
}

pub fn page_with(ctx: &Ctx, status: StatusCode, title: &str, body: Markup) -> Response {
    let own = centre_short(ctx, &ctx.person.centre);
    let other = match ctx.lang {
        Lang::ZhCn => ("en", "English"),
        Lang::En => ("zh-CN", "中文"),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(ctx.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hfx" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (ctx.t("跳到正文", "Skip to content")) }
                header.top {
                    a.brand href="/" { "hfx " span { (ctx.t("淮海公积金交换", "Huaihai fund exchange")) } }
                    span.who {
                        (own) " · " (role_name(ctx)) " " code { (ctx.person.person_id) }
                    }
                    form.lang method="post" action="/lang" {
                        (csrf_field(ctx))
                        input type="hidden" name="lang" value=(other.0);
                        input type="hidden" name="back" value=(ctx.path);
                        button type="submit" lang=(other.0) { (other.1) }
                    }
                }
                nav.main aria-label=(ctx.t("导航", "Navigation")) {
                    ul {
                        @for l in NAV.iter().filter(|l| l.roles.contains(&ctx.person.role)) {
                            li {
                                a href=(l.path) aria-current=[(ctx.path == l.path).then_some("page")] {
                                    (ctx.t(l.zh, l.en))
                                }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    html_response(status, markup)
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// An error page in the shell.
pub fn error(ctx: &Ctx, status: StatusCode, title: &str, text: &str) -> Response {
    page_with(
        ctx,
        status,
        title,
        html! { p.error role="alert" { (text) } p { a href="/" { (ctx.t("返回首页", "Back to the start")) } } },
    )
}

/// A page without a person (the request was refused before one was known): both languages.
pub fn bare(code: &str, text: &str, reason: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (code) " · hfx" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body { main #main { h1 { (code) } p.error role="alert" { (text) } p { code { (reason) } } } }
        }
    }
    .into_string()
}

/// A refused or failed local-API call as the person reads it: the reason's advice in their
/// language, then the reason code and the node's text. The HTTP status follows the gRPC code.
pub fn status_page(ctx: &Ctx, s: &tonic::Status) -> Response {
    let (status, title) = match s.code() {
        tonic::Code::PermissionDenied => (StatusCode::FORBIDDEN, ctx.t("无权操作", "Not allowed")),
        tonic::Code::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            ctx.t("身份未被接受", "Not accepted"),
        ),
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => (
            StatusCode::BAD_REQUEST,
            ctx.t("请检查输入", "Please check the input"),
        ),
        tonic::Code::NotFound => (StatusCode::NOT_FOUND, ctx.t("未找到", "Not found")),
        tonic::Code::ResourceExhausted => (
            StatusCode::TOO_MANY_REQUESTS,
            ctx.t("请求过多", "Too many requests"),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            ctx.t("暂时无法完成", "Could not be done now"),
        ),
    };
    page_with(ctx, status, title, status_box(ctx, s))
}

/// The box a page shows for a refused call (inside a page that goes on, e.g. beside the form).
pub fn status_box(ctx: &Ctx, s: &tonic::Status) -> Markup {
    let reason = hfx_node::error::reason_of(s).unwrap_or_else(|| format!("{:?}", s.code()));
    let advice = ctx.cat().reason_advice(&reason).unwrap_or_else(|| {
        ctx.t("节点拒绝了请求。", "The node refused the request.")
            .to_string()
    });
    html! {
        div.error role="alert" data-reason=(reason) {
            p { (advice) }
            p.detail { code { (reason) } " " (s.message()) }
        }
    }
}

/// A centre of the directory in force, as the person's language names it.
pub fn centre_name<'a>(dir: &'a hfx_certs::Directory, code: &str) -> Option<CentreName<'a>> {
    dir.centres
        .iter()
        .find(|e| e.code == code)
        .map(|e| CentreName {
            code: &e.code,
            city: &e.city,
            name: &e.name,
            pinyin: hfx_node::directory::city_pinyin(&e.city),
        })
}

/// "徐州 (320300…)" style short name of centre `code`, the code itself when unknown.
pub fn centre_short(ctx: &Ctx, code: &str) -> String {
    let dir = ctx.node().trust.directory();
    match centre_name(&dir, code) {
        Some(c) => ctx.cat().centre_short(&c),
        None => code.to_string(),
    }
}

/// `<option>`s of every centre in the directory but this one (`selected` preselected).
pub fn peer_options(ctx: &Ctx, selected: &str) -> Markup {
    let dir = ctx.node().trust.directory();
    html! {
        @for e in dir.centres.iter().filter(|e| e.code != ctx.person.centre) {
            @let n = centre_name(&dir, &e.code);
            option value=(e.code) selected[e.code == selected] {
                (n.map(|c| ctx.cat().centre_short(&c)).unwrap_or_else(|| e.code.clone()))
            }
        }
    }
}

/// An id-number input checked in the browser (GB 11643 check digit, [`crate::assets`]'s
/// script, when the form's `id_type` is 01 or absent) and again on the server ([`check_id`]).
pub fn id_input(ctx: &Ctx, name: &str, label: &str) -> Markup {
    html! {
        label for=(name) { (label) }
        input #(name) name=(name) type="text" required autocomplete="off" spellcheck="false"
            inputmode="text" maxlength="32" data-check="gb11643"
            data-field=(label)
            data-msg=(ctx.t("身份证号码不正确：长度、出生日期或校验位有误", "Not a valid id number: check its length, birth date and check digit"));
    }
}

/// The server's check of an id number field: GB 11643 for a resident id card, with an error
/// that names the field.
pub fn check_id(ctx: &Ctx, label: &str, id: &str) -> Result<String, String> {
    hfx_model::ids::validate_resident_id(label, id).map_err(|e| {
        format!(
            "{label}: {} ({})",
            ctx.t("身份证号码不正确", "not a valid id number"),
            e.reason()
        )
    })
}

/// Inline SVG is allowed by the CSP (it is markup, not script).
pub fn raw(svg: String) -> Markup {
    PreEscaped(svg)
}
