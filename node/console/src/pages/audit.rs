//! The auditor's view of this node's exchange log (`/audit`): its size, the newest signed
//! checkpoint (size, time, the note itself), how far each witness has cosigned, the size a
//! quorum of witnesses vouches for; the download of the whole export (`/audit/export`, the
//! same bytes as `hfx audit export`); and the witness evidence this node keeps against peers'
//! logs (`/audit/evidence`).

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{centre_short, page, status_page};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing};
use futures::StreamExt;
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/audit", routing::get(show))
        .route("/audit/export", routing::get(export))
        .route("/audit/evidence", routing::get(evidence))
}

/// The download's file name: the centre's code and the time (China Standard Time). Only the
/// centre code, never anything of a person (the URL itself carries nothing at all).
pub fn export_filename(centre: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let at = now.with_timezone(&hfx_i18n::cst()).format("%Y%m%d-%H%M%S");
    let code: String = centre.chars().filter(|c| c.is_ascii_digit()).collect();
    format!("hfx-log-{code}-{at}.export")
}

/// Which centre a witness's note name (its log origin) belongs to, by the directory in force.
fn witness_centre(ctx: &Ctx, origin: &str) -> Option<String> {
    let dir = ctx.node().trust.directory();
    dir.centres
        .iter()
        .find(|c| hfx_node::log::origin(&dir.zone, &c.code) == origin)
        .map(|c| c.code.clone())
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
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
    // The checkpoint note and the cosigned sizes are the log's own public material (signed
    // notes, witness names, sizes): nothing of a person. Read from the store as the node's
    // metrics read them ([`hfx_node::ops`]), since the local API offers them only inside the
    // whole export.
    let store = &ctx.node().store;
    let note = ctx.node().latest_checkpoint().await.ok().flatten();
    let signed_at = store.newest_checkpoint_time().await.ok().flatten();
    let cosigned = store.cosigned_sizes().await.unwrap_or_default();
    let dir = ctx.node().trust.directory();
    let cat = ctx.cat();
    let mut witnesses: Vec<(String, Option<String>, u64)> = cosigned
        .iter()
        .map(|(w, size)| (w.clone(), witness_centre(&ctx, w), *size))
        .collect();
    // Peers of the directory that have cosigned nothing yet are listed too (size 0).
    for c in dir.centres.iter().filter(|c| c.code != ctx.person.centre) {
        let origin = hfx_node::log::origin(&dir.zone, &c.code);
        if !witnesses.iter().any(|(w, _, _)| *w == origin) {
            witnesses.push((origin, Some(c.code.clone()), 0));
        }
    }
    witnesses.sort_by(|a, b| a.0.cmp(&b.0));
    let lag = |size: u64| status.log_size.saturating_sub(size);
    let body = html! {
        section {
            h2 { (ctx.t("本中心交换日志", "This centre's exchange log")) }
            dl.facts #log-facts {
                dt { (ctx.t("中心", "Centre")) } dd { (centre_short(&ctx, &status.centre)) }
                dt { (ctx.t("日志条目", "Log entries")) } dd #log-size { (status.log_size) }
                dt { (ctx.t("最新检查点", "Latest checkpoint")) } dd #checkpoint-size { (status.checkpoint_size) }
                dt { (ctx.t("检查点签署时间", "Checkpoint signed at")) }
                dd { @match signed_at { Some((_, at)) => (cat.date_time_ms(at)), None => "—" } }
                dt { (ctx.t("已见证（达到法定见证数）", "Witnessed (by a quorum)")) } dd #witnessed-size { (status.witnessed_size) }
                dt { (ctx.t("法定见证数", "Witness quorum")) } dd { (dir.witness_quorum) }
                dt { (ctx.t("见证证据", "Witness evidence")) } dd { a href="/audit/evidence" { (status.witness_evidence) } }
            }
            p {
                a.button #export-download href="/audit/export" download {
                    (ctx.t("下载本中心日志导出", "Download this centre's log export"))
                }
            }
            p.muted {
                (ctx.t(
                    "导出文件与 hfx audit export 相同：条目、载荷、检查点、见证签名和披露记录。请按本中心数据管理规定保管。",
                    "The export is the same as hfx audit export: entries, payloads, checkpoints, cosignatures and disclosure records. Keep it as your centre's data rules require."
                ))
            }
        }
        section {
            h2 { (ctx.t("见证签名", "Cosignatures by witness")) }
            div.scroll {
                table #cosignatures {
                    thead { tr {
                        th { (ctx.t("见证中心", "Witness centre")) }
                        th { (ctx.t("见证名称", "Witness name")) }
                        th.num { (ctx.t("已见证至", "Cosigned up to")) }
                        th.num { (ctx.t("滞后条目", "Entries behind")) }
                    } }
                    tbody {
                        @for (origin, centre, size) in &witnesses {
                            tr data-size=(size) {
                                td { @match centre { Some(c) => (centre_short(&ctx, c)), None => "—" } }
                                td { code { (origin) } }
                                td.num { (size) }
                                td class=(if lag(*size) == 0 { "num ok" } else { "num" }) { (lag(*size)) }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (ctx.t("最新检查点原文（签名的检查点）", "Latest checkpoint (the signed note)")) }
            @match &note {
                Some((_, text)) => { pre #checkpoint-note.scroll { (text) } }
                None => { p.muted { (ctx.t("尚未签署检查点。", "No checkpoint signed yet.")) } }
            }
        }
    };
    page(&ctx, ctx.t("交换日志", "Exchange log"), body)
}

/// `GET /audit/export`: the local API's ExportLog stream as a file download.
async fn export(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let mut stream = match ctx
        .audit()
        .export_log(ctx.request(pb::ExportRequest { from_index: 0 }))
        .await
    {
        Ok(s) => s.into_inner(),
        Err(s) => return status_page(&ctx, &s),
    };
    // The first chunk before the headers: a refusal at the start is shown as a page.
    let first = match stream.message().await {
        Ok(first) => first,
        Err(s) => return status_page(&ctx, &s),
    };
    let head =
        futures::stream::iter(first.map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from(c.jsonl))));
    let rest = stream.map(|m| {
        m.map(|c| bytes::Bytes::from(c.jsonl))
            // A failure mid-way ends the download short; the reader refuses a truncated
            // export (it has no `end` line).
            .map_err(|s| std::io::Error::other(s.message().to_string()))
    });
    let name = export_filename(&ctx.person.centre, chrono::Utc::now());
    let mut res = (StatusCode::OK, Body::from_stream(head.chain(rest))).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

fn note_block(label: &str, note: &[u8]) -> Markup {
    html! {
        @if !note.is_empty() {
            details {
                summary { (label) }
                pre.scroll { (String::from_utf8_lossy(note)) }
            }
        }
        @else { span.muted { (label) ": —" } }
    }
}

async fn evidence(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let list = match ctx
        .audit()
        .list_evidence(ctx.request(pb::EvidenceQuery { limit: 1000 }))
        .await
    {
        Ok(l) => l.into_inner().evidence,
        Err(s) => return status_page(&ctx, &s),
    };
    let cat = ctx.cat();
    let kind = |k: &str| -> String {
        match k {
            "fork" => ctx.t("分叉", "fork").to_string(),
            "inconsistent" => ctx.t("不一致", "inconsistent").to_string(),
            "rollback" => ctx.t("回滚", "rollback").to_string(),
            other => other.to_string(),
        }
    };
    let body = html! {
        section {
            p.muted {
                (ctx.t(
                    "本节点作为见证人时发现的对端日志异常：签过的检查点与后来见到的检查点相互矛盾。",
                    "Misbehaviour of peers' logs this node found as a witness: a checkpoint it cosigned contradicted by one seen later."
                ))
            }
            @if list.is_empty() {
                p.ok #no-evidence { (ctx.t("没有见证证据：各对端日志均一致。", "No witness evidence: every peer's log has been consistent.")) }
            } @else {
                div.scroll {
                    table #evidence {
                        thead { tr {
                            th { (ctx.t("时间", "When")) }
                            th { (ctx.t("中心", "Centre")) }
                            th { (ctx.t("类型", "Kind")) }
                            th { (ctx.t("说明", "Detail")) }
                            th { (ctx.t("报告方", "Reported by")) }
                            th { (ctx.t("检查点", "Checkpoints")) }
                            th.num { (ctx.t("证明哈希数", "Proof hashes")) }
                        } }
                        tbody {
                            @for e in &list {
                                tr {
                                    td { (cat.date_time_ms(e.at_unix_ms)) }
                                    td { (centre_short(&ctx, &e.centre)) }
                                    td.bad { (kind(&e.kind)) " " code { (e.kind) } }
                                    td { (e.detail) }
                                    td { @if e.reported_by.is_empty() { "—" } @else { (centre_short(&ctx, &e.reported_by)) } }
                                    td {
                                        (note_block(ctx.t("已签", "Cosigned"), &e.old_note))
                                        (note_block(ctx.t("矛盾", "Contradicting"), &e.new_note))
                                    }
                                    td.num { (e.proof.len()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, ctx.t("见证证据", "Witness evidence"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_carries_the_centre_code_and_the_time_only() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            export_filename("320300000000000", at),
            "hfx-log-320300000000000-20231115-061320.export"
        );
        assert_eq!(
            export_filename("32\"03", at),
            "hfx-log-3203-20231115-061320.export"
        );
    }
}
