//! Reconcile (`/audit/reconcile`): the auditor uploads two or more centres' log exports (as
//! `/audit/export` or `hfx audit export` wrote them) and gets what `hfx audit verify` and
//! `hfx audit reconcile` say of them: each file verified against the keys of the directory in
//! force, both sides of every exchange matched, the money of every transfer case placed, and
//! the breaks listed (or, clearly, none).

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{centre_short, csrf_field, page_with};
use axum::extract::{DefaultBodyLimit, Multipart};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_tlog::audit::{MoneyReport, ReconcileReport, VerifyReport};
use maud::{Markup, html};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route(
        "/audit/reconcile",
        routing::get(show)
            .post(run)
            // Exports are large: as much as the form check lets through (its own limit).
            .layer(DefaultBodyLimit::max(crate::csrf::BODY_LIMIT)),
    )
}

fn form(ctx: &Ctx) -> Markup {
    html! {
        form.stack #reconcile-form method="post" action="/audit/reconcile" enctype="multipart/form-data" {
            (csrf_field(ctx))
            div {
                label for="exports" { (ctx.t("各中心的日志导出文件（两个或更多）", "Log exports of two or more centres")) }
                input #exports name="exports" type="file" multiple required;
            }
            p.muted {
                (ctx.t(
                    "可在各中心的“交换日志”页下载导出，或用 hfx audit export 导出。",
                    "Download each centre's export on its Exchange log page, or write it with hfx audit export."
                ))
            }
            div { button type="submit" #reconcile { (ctx.t("对账", "Reconcile")) } }
        }
    }
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let body = html! { section { (form(&ctx)) } };
    page_with(&ctx, StatusCode::OK, ctx.t("对账", "Reconcile"), body)
}

/// One uploaded file: the name the browser gave (shown only) and where it was written.
struct Upload {
    name: String,
    path: PathBuf,
}

/// A folder of this request's uploads, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the files say: each one's verification (or why it could not be read), then the
/// reconcile of all of them.
struct Outcome {
    files: Vec<(String, Result<VerifyReport, String>)>,
    reconcile: Result<(ReconcileReport, MoneyReport), String>,
}

/// The directory's key of `centre` (as a note verifier key) and the witness quorum, as
/// `hfx audit verify --directory` takes them; a centre not in the directory in force: the
/// export's own key (the report then says the key was not trusted).
fn trusted(dir: &hfx_certs::Directory, centre: &str) -> anyhow::Result<(Option<String>, u32)> {
    let Some(entry) = dir.centre(centre) else {
        return Ok((None, dir.witness_quorum));
    };
    use base64::Engine;
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&entry.signing_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("directory signing key is not 32 bytes"))?;
    let v = hfx_node::log::note::NoteVerifier::new(&hfx_node::log::origin(&dir.zone, centre), key)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((Some(v.verifier_key()), dir.witness_quorum))
}

/// `hfx audit verify` and `hfx audit reconcile` over the uploaded files (blocking: run on a
/// blocking thread).
fn reconcile(
    uploads: &[Upload],
    dir: &hfx_certs::Directory,
    hold_deadline_secs: u64,
    now_ms: i64,
) -> Outcome {
    let files = uploads
        .iter()
        .map(|u| {
            let rep = std::fs::File::open(&u.path)
                .map_err(anyhow::Error::from)
                .and_then(|f| {
                    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
                    hfx_tlog::audit::verify_stream(&mut r, &mut |c| trusted(dir, c), &|_, _| {})
                })
                .map_err(|e| format!("{e:#}"));
            (u.name.clone(), rep)
        })
        .collect();
    let reconcile = (|| -> anyhow::Result<(ReconcileReport, MoneyReport)> {
        let centres: Vec<String> = uploads
            .iter()
            .map(|u| hfx_tlog::audit::export_centre(&u.path))
            .collect::<Result<_, _>>()?;
        let mut seen = std::collections::BTreeSet::new();
        for c in &centres {
            anyhow::ensure!(seen.insert(c.clone()), "centre {c}: more than one export");
        }
        let mut rec = hfx_tlog::audit::Reconciler::new(centres, now_ms);
        let mut money = hfx_tlog::audit::MoneyCollector::new();
        for u in uploads {
            hfx_tlog::audit::stream_money(&u.path, &mut |c, l| rec.add(c, l), &mut money)?;
        }
        let rep = rec.finish();
        let cases = money.finish();
        let mrep = hfx_tlog::audit::reconcile_money(&cases, now_ms, hold_deadline_secs);
        Ok((rep, mrep))
    })()
    .map_err(|e| format!("{e:#}"));
    Outcome { files, reconcile }
}

/// The file name a browser gave, for display only: its last part, at most 120 characters.
fn shown_name(name: Option<&str>, i: usize) -> String {
    let n = name
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.chars().take(120).collect::<String>());
    n.unwrap_or_else(|| format!("#{}", i + 1))
}

async fn save(mut mp: Multipart, scratch: &Path) -> Result<Vec<Upload>, String> {
    let mut uploads = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        if field.name() != Some("exports") {
            continue;
        }
        let name = shown_name(field.file_name(), uploads.len());
        let path = scratch.join(format!("{}.export", uploads.len()));
        let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let mut field = field;
        let mut size = 0u64;
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    size += c.len() as u64;
                    file.write_all(&c).map_err(|e| e.to_string())?;
                }
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        file.flush().map_err(|e| e.to_string())?;
        // A file input with nothing chosen still sends an empty part.
        if size == 0 && name.starts_with('#') {
            continue;
        }
        uploads.push(Upload { name, path });
    }
    Ok(uploads)
}

async fn run(ctx: Ctx, mp: Multipart) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let scratch = Scratch(
        std::env::temp_dir().join(format!("hfx-console-reconcile-{}", uuid::Uuid::now_v7())),
    );
    if let Err(e) = std::fs::create_dir_all(&scratch.0) {
        tracing::warn!(error = %e, "console reconcile: no scratch folder");
        return failed(
            &ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.t(
                "无法保存上传的文件。",
                "The uploaded files could not be kept.",
            ),
        );
    }
    let uploads = match save(mp, &scratch.0).await {
        Ok(u) => u,
        Err(e) => {
            return failed(
                &ctx,
                StatusCode::BAD_REQUEST,
                &format!(
                    "{}: {e}",
                    ctx.t("上传未完成", "The upload did not complete")
                ),
            );
        }
    };
    if uploads.len() < 2 {
        return failed(
            &ctx,
            StatusCode::BAD_REQUEST,
            ctx.t(
                "对账需要两个或更多中心的导出文件。",
                "Reconcile needs the exports of two or more centres.",
            ),
        );
    }
    let dir = ctx.node().trust.directory();
    let deadline = ctx.node().cfg.transfer.step_deadline_secs;
    let now = hfx_node::now_ms();
    let outcome = match tokio::task::spawn_blocking(move || {
        let out = reconcile(&uploads, &dir, deadline, now);
        drop(scratch);
        out
    })
    .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "console reconcile failed");
            return failed(
                &ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                ctx.t("对账未能完成。", "Reconcile could not finish."),
            );
        }
    };
    let ok = outcome
        .files
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(|r| r.problems.is_empty()))
        && outcome
            .reconcile
            .as_ref()
            .is_ok_and(|(r, m)| r.breaks.is_empty() && m.breaks.is_empty());
    let body = html! {
        div #reconcile-result data-ok=(ok) { (result(&ctx, &outcome)) }
        section { h2 { (ctx.t("再次对账", "Reconcile again")) } (form(&ctx)) }
    };
    page_with(
        &ctx,
        StatusCode::OK,
        ctx.t("对账结果", "Reconcile result"),
        body,
    )
}

fn failed(ctx: &Ctx, status: StatusCode, text: &str) -> Response {
    let body = html! {
        p.error role="alert" #reconcile-error { (text) }
        section { (form(ctx)) }
    };
    page_with(ctx, status, ctx.t("对账", "Reconcile"), body)
}

fn break_kind(ctx: &Ctx, kind: &str) -> String {
    let words = match kind {
        "sent_not_received" => ctx.t("已发送未接收", "sent, not received"),
        "received_never_sent" => ctx.t("已接收但对方未发送", "received, never sent"),
        "payload_differs" => ctx.t("载荷不一致", "payload differs"),
        "credited_not_closed" => ctx.t("已入账但转出方未销户", "credited, not closed"),
        "closed_not_credited" => ctx.t("已销户未入账", "closed, not credited"),
        "held_past_deadline" => ctx.t("冻结超期", "held past the deadline"),
        "amount_differs" => ctx.t("金额不一致", "amount differs"),
        _ => kind,
    };
    format!("{words} ({kind})")
}

fn result(ctx: &Ctx, o: &Outcome) -> Markup {
    let cat = ctx.cat();
    html! {
        section #verify {
            h2 { (ctx.t("逐个文件校验", "Each file verified")) }
            div.scroll {
                table #files {
                    thead { tr {
                        th { (ctx.t("文件", "File")) }
                        th { (ctx.t("中心", "Centre")) }
                        th.num { (ctx.t("条目", "Entries")) }
                        th.num { (ctx.t("已验检查点", "Checkpoints verified")) }
                        th.num { (ctx.t("已验见证签名", "Cosignatures verified")) }
                        th.num { (ctx.t("已见证", "Witnessed")) }
                        th.num { (ctx.t("披露记录", "Disclosures")) }
                        th { (ctx.t("结论", "Verdict")) }
                    } }
                    tbody {
                        @for (name, rep) in &o.files {
                            @match rep {
                                Ok(r) => {
                                    tr.file data-ok=(r.problems.is_empty()) {
                                        td { (name) }
                                        td { (centre_short(ctx, &r.centre)) }
                                        td.num { (r.entries) }
                                        td.num { (r.checkpoints_verified) }
                                        td.num { (r.cosignatures_verified) }
                                        td.num { (r.witnessed_size) }
                                        td.num { (r.disclosures_committed) }
                                        td {
                                            @if r.problems.is_empty() && r.key_trusted {
                                                span.ok { "✓ " (ctx.t("校验通过（使用区域目录中的密钥）", "verified (with the zone directory's key)")) }
                                            } @else if r.problems.is_empty() {
                                                span.warn { (ctx.t("自身一致，但该中心不在当前目录中，密钥取自导出文件", "consistent with itself; the centre is not in the directory in force, so the key came from the export")) }
                                            } @else {
                                                span.bad { "✗ " (ctx.t("校验失败", "verification failed")) }
                                                ul {
                                                    @for p in &r.problems {
                                                        li { code { (p.kind) } @if let Some(at) = p.at { " @" (at) } ": " (p.detail) }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                                Err(e) => {
                                    tr.file data-ok="false" {
                                        td { (name) }
                                        td colspan="6" { "—" }
                                        td { span.bad { "✗ " (ctx.t("无法读取", "unreadable")) } " " span.muted { (e) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @match &o.reconcile {
            Err(e) => {
                section { p.error role="alert" #reconcile-error { (ctx.t("无法对账：", "Could not reconcile: ")) (e) } }
            }
            Ok((rep, money)) => {
                @let total = rep.breaks.len() + money.breaks.len();
                section #summary {
                    h2 { (ctx.t("对账结论", "Verdict")) }
                    @if total == 0 {
                        p.ok #zero-breaks data-breaks="0" {
                            strong { "✓ " (ctx.t("没有差异：0 处不符。", "No breaks: 0 differences.")) }
                            " " (ctx.t("各中心的每笔交换双方记录一致，资金去向清楚。", "Both sides of every exchange agree, and every case's money is placed."))
                        }
                    } @else {
                        p.bad #breaks-found data-breaks=(total) {
                            strong { "✗ " (ctx.t("发现不符：", "Breaks found: ")) (total) }
                        }
                    }
                    dl.facts {
                        dt { (ctx.t("参与中心", "Centres")) }
                        dd { @for (i, c) in rep.centres.iter().enumerate() { @if i > 0 { "、" } (centre_short(ctx, c)) } }
                        dt { (ctx.t("双方一致的报文", "Messages matched")) } dd #matched { (rep.matched) }
                        dt { (ctx.t("对端未导出的报文", "Messages with a centre not exported")) } dd { (rep.not_exported) }
                        dt { (ctx.t("重复记录（重试）", "Repeated entries (retries)")) } dd { (rep.repeated) }
                        dt { (ctx.t("报文差异", "Message breaks")) } dd #message-breaks { (rep.breaks.len()) }
                        dt { (ctx.t("转移案件", "Transfer cases")) } dd { (money.cases) " (" (ctx.t("已办结 ", "settled ")) (money.settled) ", " (ctx.t("单方 ", "one-sided ")) (money.one_sided) ")" }
                        dt { (ctx.t("在途资金", "Money in flight")) } dd #in-flight { (cat.money(money.in_flight.total_fen)) }
                        dt { (ctx.t("　冻结于转出中心", "　held at origins")) } dd { (cat.money(money.in_flight.held_at_origins_fen)) " · " (money.in_flight.held_cases) }
                        dt { (ctx.t("　在银行途中", "　in transit")) } dd { (cat.money(money.in_flight.in_transit_fen)) " · " (money.in_flight.in_transit_cases) }
                        dt { (ctx.t("　已入账未销户", "　credited, not closed")) } dd { (cat.money(money.in_flight.credited_not_closed_fen)) " · " (money.in_flight.credited_not_closed_cases) }
                        dt { (ctx.t("资金差异", "Money breaks")) } dd #money-breaks { (money.breaks.len()) }
                    }
                }
                @if !rep.breaks.is_empty() {
                    section {
                        h2 { (ctx.t("报文差异", "Message breaks")) }
                        div.scroll { table #message-break-list {
                            thead { tr {
                                th { (ctx.t("类型", "Kind")) } th { (ctx.t("发送方", "From")) } th { (ctx.t("接收方", "To")) }
                                th { (ctx.t("报文", "Message")) } th { (ctx.t("案件", "Case")) } th.num { (ctx.t("已过秒数", "Age (s)")) }
                            } }
                            tbody { @for b in &rep.breaks { tr {
                                td.bad { (break_kind(ctx, &b.kind)) }
                                td { (centre_short(ctx, &b.from)) } td { (centre_short(ctx, &b.to)) }
                                td { code { (b.message_id) } " " span.muted { (b.msg_type) } }
                                td { code { (b.case_id) } }
                                td.num { (b.age_seconds) }
                            } } }
                        } }
                    }
                }
                @if !money.breaks.is_empty() {
                    section {
                        h2 { (ctx.t("资金差异", "Money breaks")) }
                        p.muted { (ctx.t("冻结超过 ", "Held longer than ")) (money.hold_deadline_secs) (ctx.t(" 秒即为差异。", " s is a break.")) }
                        div.scroll { table #money-break-list {
                            thead { tr {
                                th { (ctx.t("类型", "Kind")) } th { (ctx.t("案件", "Case")) } th { (ctx.t("转出中心", "Origin")) }
                                th { (ctx.t("转入中心", "Destination")) } th.num { (ctx.t("金额", "Amount")) }
                                th.num { (ctx.t("已过秒数", "Age (s)")) } th { (ctx.t("说明", "Detail")) }
                            } }
                            tbody { @for b in &money.breaks { tr {
                                td.bad { (break_kind(ctx, &b.kind)) }
                                td { code { (b.case_id) } }
                                td { (centre_short(ctx, &b.origin)) } td { (centre_short(ctx, &b.destination)) }
                                td.num { (cat.money(b.amount_fen)) } td.num { (b.age_seconds) } td { (b.detail) }
                            } } }
                        } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_name_is_the_last_part_only() {
        assert_eq!(shown_name(Some("C:\\x\\a.export"), 0), "a.export");
        assert_eq!(shown_name(Some("../../etc/passwd"), 0), "passwd");
        assert_eq!(shown_name(None, 1), "#2");
        assert_eq!(shown_name(Some(""), 2), "#3");
    }
}
