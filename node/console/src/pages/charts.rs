//! The auditor's charts (`/audit/charts`), drawn on the server as inline SVG (no script, no
//! library; only SVG presentation attributes, which the CSP allows): exchanges per peer per
//! day (from the disclosure records), transfer cases by state, and the money of this
//! centre's transfer cases in flight over time.
//!
//! The disclosure records come through the local API as the auditor. The case counts and the
//! money come from the store, read only: the local API lists transfer cases to clerks alone,
//! and these charts need no case of anyone, only counts and sums. Only those aggregates
//! (a count per state, a sum of fen per day and direction) leave this module; no id, name or
//! case of a person is read into a page.

use crate::app::Console;
use crate::ctx::Ctx;
use crate::page::{centre_short, page, status_box};
use axum::response::Response;
use axum::{Router, routing};
use hfx_certs::Role;
use hfx_proto::v1 as pb;
use maud::{Markup, html};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Console>> {
    Router::new().route("/audit/charts", routing::get(show))
}

/// Days the time charts cover (today included).
const DAYS: i64 = 14;
const DAY_MS: i64 = 86_400_000;
const PALETTE: &[&str] = &[
    "#1f5fa8", "#d9822b", "#2e8b57", "#b03a48", "#6a4c93", "#8c6d1f", "#00838f", "#5d6d7e",
    "#c2185b",
];

/// A round top for an axis at or above `max`, and its step (five steps or so).
pub fn nice_scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

/// The start (unix ms) of the China Standard Time day `now_ms` is in.
fn day_start(now_ms: i64) -> i64 {
    let offset = 8 * 3_600_000;
    (now_ms + offset).div_euclid(DAY_MS) * DAY_MS - offset
}

/// "12-03" style label of the CST day starting at `ms`.
fn day_label(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&hfx_i18n::cst())
                .format("%m-%d")
                .to_string()
        })
        .unwrap_or_default()
}

/// Geometry of every chart.
const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 56.0;

/// The frame of a chart: y grid and tick labels (`tick` formats a value), axis titles.
fn frame(
    top: f64,
    step: f64,
    tick: &dyn Fn(f64) -> String,
    x_title: &str,
    y_title: &str,
) -> Markup {
    let plot_h = H - TOP - BOTTOM;
    let n = (top / step).round() as usize;
    html! {
        @for i in 0..=n {
            @let v = step * i as f64;
            @let y = TOP + plot_h - plot_h * v / top;
            line x1=(LEFT) x2=(W - RIGHT) y1=(y) y2=(y) stroke="#dde3ea" stroke-width="1" {}
            text x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" font-size="11" fill="#4a5565" { (tick(v)) }
        }
        line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_h) stroke="#4a5565" stroke-width="1" {}
        line x1=(LEFT) x2=(W - RIGHT) y1=(TOP + plot_h) y2=(TOP + plot_h) stroke="#4a5565" stroke-width="1" {}
        text x=((LEFT + W - RIGHT) / 2.0) y=(H - 8.0) text-anchor="middle" font-size="12" fill="#1d2733" { (x_title) }
        text x="14" y=(TOP + plot_h / 2.0) text-anchor="middle" font-size="12" fill="#1d2733"
            transform=(format!("rotate(-90 14 {})", TOP + plot_h / 2.0)) { (y_title) }
    }
}

fn svg(id: &str, label: &str, inner: Markup) -> Markup {
    html! {
        div.chart {
            svg #(id) xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H)
                role="img" aria-label=(label) font-family="sans-serif" {
                title { (label) }
                (inner)
            }
        }
    }
}

/// Exchanges per peer per day: bars grouped by day, one colour per peer.
fn exchanges_chart(ctx: &Ctx, rows: &[pb::Disclosure], now_ms: i64) -> Markup {
    let first = day_start(now_ms) - (DAYS - 1) * DAY_MS;
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for d in rows.iter().filter(|d| d.at_unix_ms >= first) {
        let day = ((d.at_unix_ms - first) / DAY_MS) as usize;
        if day < DAYS as usize {
            by.entry(d.peer_centre.clone())
                .or_insert_with(|| vec![0; DAYS as usize])[day] += 1;
        }
    }
    let peers: Vec<&String> = by.keys().collect();
    let max = by.values().flatten().copied().max().unwrap_or(0) as f64;
    // At least five: whole-number ticks.
    let (top, step) = nice_scale(max.max(5.0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / DAYS as f64;
    let bar = (slot * 0.8) / peers.len().max(1) as f64;
    let label = ctx.t("每日各对端交换次数", "Exchanges per peer per day");
    let chart = svg(
        "chart-exchanges",
        label,
        html! {
            (frame(top, step, &|v| format!("{v}"), ctx.t("日期（北京时间）", "Day (China Standard Time)"), ctx.t("交换次数", "Exchanges")))
            @for d in 0..DAYS as usize {
                @let x0 = LEFT + slot * d as f64 + slot * 0.1;
                @for (i, p) in peers.iter().enumerate() {
                    @let n = by[*p][d];
                    @if n > 0 {
                        @let h = plot_h * n as f64 / top;
                        rect.bar x=(x0 + bar * i as f64) y=(TOP + plot_h - h) width=(bar.max(1.0)) height=(h)
                            fill=(PALETTE[i % PALETTE.len()]) data-peer=(p) data-count=(n) {
                            title { (centre_short(ctx, p)) " " (day_label(first + d as i64 * DAY_MS)) ": " (n) }
                        }
                    }
                }
                text x=(LEFT + slot * d as f64 + slot / 2.0) y=(TOP + plot_h + 16.0) text-anchor="middle" font-size="10" fill="#4a5565" {
                    (day_label(first + d as i64 * DAY_MS))
                }
            }
        },
    );
    html! {
        (chart)
        @if peers.is_empty() {
            p.muted { (ctx.t("近 14 天没有交换记录。", "No exchange in the last 14 days.")) }
        } @else {
            ul.legend #legend-exchanges {
                @for (i, p) in peers.iter().enumerate() {
                    li {
                        svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" { rect width="12" height="12" fill=(PALETTE[i % PALETTE.len()]) {} }
                        " " (centre_short(ctx, p)) " · " (by[*p].iter().sum::<u64>())
                    }
                }
            }
        }
    }
}

/// Cases by state: a horizontal bar per state.
fn cases_chart(ctx: &Ctx, counts: &[(String, u64)]) -> Markup {
    let label = ctx.t("各状态的转移案件数", "Transfer cases by state");
    if counts.is_empty() {
        return html! { p.muted #no-cases { (ctx.t("本中心尚无转移案件。", "This centre has no transfer case yet.")) } };
    }
    let row_h = 26.0;
    let h = TOP + row_h * counts.len() as f64 + 44.0;
    let left = 170.0;
    let plot_w = W - left - RIGHT - 40.0;
    let max = counts.iter().map(|c| c.1).max().unwrap_or(1) as f64;
    let (top, step) = nice_scale(max.max(5.0));
    let n = (top / step).round() as usize;
    let base = TOP + row_h * counts.len() as f64;
    html! {
        div.chart {
            svg #chart-cases xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {h}")) width=(W) height=(h)
                role="img" aria-label=(label) font-family="sans-serif" {
                title { (label) }
                @for i in 0..=n {
                    @let x = left + plot_w * (step * i as f64) / top;
                    line x1=(x) x2=(x) y1=(TOP) y2=(base) stroke="#dde3ea" stroke-width="1" {}
                    text x=(x) y=(base + 14.0) text-anchor="middle" font-size="11" fill="#4a5565" { (step * i as f64) }
                }
                @for (i, (state, c)) in counts.iter().enumerate() {
                    @let y = TOP + row_h * i as f64;
                    text x=(left - 6.0) y=(y + row_h / 2.0 + 4.0) text-anchor="end" font-size="12" fill="#1d2733" { (ctx.cat().transfer_state(state)) }
                    rect.bar x=(left) y=(y + 4.0) width=((plot_w * *c as f64 / top).max(1.0)) height=(row_h - 8.0)
                        fill=(PALETTE[i % PALETTE.len()]) data-state=(state) data-count=(c) {}
                    text x=(left + plot_w * *c as f64 / top + 4.0) y=(y + row_h / 2.0 + 4.0) font-size="11" fill="#1d2733" { (c) }
                }
                line x1=(left) x2=(left) y1=(TOP) y2=(base) stroke="#4a5565" stroke-width="1" {}
                text x=(left + plot_w / 2.0) y=(h - 6.0) text-anchor="middle" font-size="12" fill="#1d2733" { (ctx.t("案件数", "Cases")) }
            }
        }
    }
}

/// One case as the money chart counts it: which side this centre is, the amount, when the
/// case began, and when it became final (None: not yet).
pub struct CaseMoney {
    pub outgoing: bool,
    pub amount_fen: i64,
    pub created_ms: i64,
    pub final_ms: Option<i64>,
}

/// One day of the money chart (fen): in flight at the day's end (today: now) and the most in
/// flight at any moment of the day, outgoing (this centre the origin) and incoming (the
/// destination).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayMoney {
    pub start_ms: i64,
    pub out_end: i64,
    pub in_end: i64,
    pub out_peak: i64,
    pub in_peak: i64,
}

/// The last [`DAYS`] days of money in flight: a case's amount counts from the case's start
/// until it is final. One sweep over the starts and ends (in time order; at the same instant
/// an end before a start), so a case begun and finished within a day shows in the day's peak.
pub fn money_series(cases: &[CaseMoney], now_ms: i64) -> Vec<DayMoney> {
    let first = day_start(now_ms) - (DAYS - 1) * DAY_MS;
    // (time, order: 0 end / 1 start, outgoing, signed fen)
    let mut events: Vec<(i64, u8, bool, i64)> = Vec::with_capacity(cases.len() * 2);
    for c in cases.iter().filter(|c| c.amount_fen != 0) {
        events.push((c.created_ms, 1, c.outgoing, c.amount_fen));
        if let Some(f) = c.final_ms {
            events.push((f, 0, c.outgoing, -c.amount_fen));
        }
    }
    events.sort_unstable();
    let mut days: Vec<DayMoney> = (0..DAYS)
        .map(|d| DayMoney {
            start_ms: first + d * DAY_MS,
            ..Default::default()
        })
        .collect();
    let (mut out, mut inc) = (0i64, 0i64);
    let mut next = events.iter().peekable();
    for day in days.iter_mut() {
        let end = (day.start_ms + DAY_MS).min(now_ms);
        // Everything before the day: its opening level.
        while let Some(e) = next.next_if(|e| e.0 < day.start_ms) {
            if e.2 { out += e.3 } else { inc += e.3 }
        }
        day.out_peak = out;
        day.in_peak = inc;
        while let Some(e) = next.next_if(|e| e.0 <= end) {
            if e.2 {
                out += e.3
            } else {
                inc += e.3
            }
            day.out_peak = day.out_peak.max(out);
            day.in_peak = day.in_peak.max(inc);
        }
        day.out_end = out;
        day.in_end = inc;
    }
    days
}

/// A line of the money chart: its name, colour, and which sums of a day it draws (at the
/// end, at the peak).
type Line<'a> = (&'a str, &'static str, fn(&DayMoney) -> (i64, i64));

fn money_chart(ctx: &Ctx, series: &[DayMoney]) -> Markup {
    let label = ctx.t("在途资金", "Money in flight");
    let max = series
        .iter()
        .map(|s| s.out_peak.max(s.in_peak))
        .max()
        .unwrap_or(0) as f64
        / 100.0;
    // At least ¥100: whole-yuan ticks.
    let (top, step) = nice_scale(max.max(100.0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / series.len().max(1) as f64;
    let y_of = |fen: i64| TOP + plot_h - plot_h * (fen as f64 / 100.0) / top;
    let x_of = |i: usize| LEFT + slot * i as f64 + slot / 2.0;
    let lines: [Line<'_>; 2] = [
        (
            ctx.t("转出（本中心为转出方）", "Outgoing (we are the origin)"),
            PALETTE[0],
            |s| (s.out_end, s.out_peak),
        ),
        (
            ctx.t(
                "转入（本中心为转入方）",
                "Incoming (we are the destination)",
            ),
            PALETTE[1],
            |s| (s.in_end, s.in_peak),
        ),
    ];
    let path = |which: fn(&DayMoney) -> (i64, i64)| -> String {
        series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (x, y) = (x_of(i), y_of(which(s).0));
                format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" })
            })
            .collect()
    };
    let yuan = |v: f64| format!("¥{}", group(v.round() as i64));
    let bar = slot * 0.35;
    let chart = svg(
        "chart-money",
        label,
        html! {
            (frame(top, step, &yuan, ctx.t("日期（北京时间）", "Day (China Standard Time)"), ctx.t("金额（元）", "Amount (yuan)")))
            @for (i, s) in series.iter().enumerate() {
                text x=(x_of(i)) y=(TOP + plot_h + 16.0) text-anchor="middle" font-size="10" fill="#4a5565" { (day_label(s.start_ms)) }
            }
            // The day's peak: a pale bar per direction.
            @for (k, (name, colour, which)) in lines.iter().enumerate() {
                @for (i, s) in series.iter().enumerate() {
                    @let peak = which(s).1;
                    @if peak > 0 {
                        rect.peak x=(format!("{:.1}", x_of(i) - bar + bar * k as f64)) y=(format!("{:.1}", y_of(peak)))
                            width=(format!("{bar:.1}")) height=(format!("{:.1}", TOP + plot_h - y_of(peak)))
                            fill=(colour) fill-opacity="0.25" data-fen=(peak) {
                            title { (name) " " (day_label(s.start_ms)) " " (ctx.t("当日最高 ", "peak of the day ")) (ctx.cat().money(peak)) }
                        }
                    }
                }
            }
            // At the day's end: a line per direction.
            @for (name, colour, which) in &lines {
                path d=(path(*which)) fill="none" stroke=(colour) stroke-width="2" { title { (name) } }
                @for (i, s) in series.iter().enumerate() {
                    circle.end cx=(format!("{:.1}", x_of(i))) cy=(format!("{:.1}", y_of(which(s).0))) r="3" fill=(colour) data-fen=(which(s).0) {
                        title { (name) " " (day_label(s.start_ms)) " " (ctx.t("日终 ", "end of day ")) (ctx.cat().money(which(s).0)) }
                    }
                }
            }
        },
    );
    let now = series.last().copied().unwrap_or_default();
    html! {
        (chart)
        ul.legend #legend-money {
            @for (name, colour, which) in &lines {
                li {
                    svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" { rect width="12" height="12" fill=(colour) {} }
                    " " (name) " · " (ctx.t("当前 ", "now ")) (ctx.cat().money(which(&now).0))
                    " · " (ctx.t("今日最高 ", "today's peak ")) (ctx.cat().money(which(&now).1))
                }
            }
        }
        p.muted { (ctx.t("折线：每日终了（今天为当前）时的在途金额；浅色柱：当日任一时刻的最高在途金额。", "Line: in flight at the end of each day (today: now); pale bars: the most in flight at any moment of the day.")) }
    }
}

/// 1234567 → "1,234,567".
fn group(v: i64) -> String {
    let s = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

async fn show(ctx: Ctx) -> Response {
    if let Some(r) = ctx.forbid_unless(&[Role::Auditor]) {
        return r;
    }
    let now = hfx_node::now_ms();
    let since = day_start(now) - (DAYS - 1) * DAY_MS;
    let exchanges = match ctx
        .audit()
        .list_disclosures(ctx.request(pb::DisclosureQuery {
            limit: hfx_node::disclosures::MAX_LIMIT,
            since_unix_ms: since,
            ..Default::default()
        }))
        .await
    {
        Ok(l) => exchanges_chart(&ctx, &l.into_inner().disclosures, now),
        Err(s) => status_box(&ctx, &s),
    };
    // Aggregates only (see the module's docs).
    let store = &ctx.node().store;
    let cases = match store.case_counts(0).await {
        Ok(c) => {
            let mut by = c.by_status;
            by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            cases_chart(&ctx, &by)
        }
        Err(e) => {
            tracing::warn!(error = %e, "console charts: case counts not read");
            html! { p.error { (ctx.t("案件统计暂时无法读取。", "The case counts could not be read now.")) } }
        }
    };
    let money = match store
        .cases(hfx_node::store::cases::CaseFilter {
            include_final: true,
            stuck_only: false,
            limit: 100_000,
        })
        .await
    {
        Ok(rows) => {
            let sums: Vec<CaseMoney> = rows
                .iter()
                .filter_map(|r| {
                    let c = hfx_node::transfer::case_of(r).ok()?;
                    let v = hfx_node::transfer::view(&c, None);
                    Some(CaseMoney {
                        outgoing: v.role == "origin",
                        amount_fen: v.amount_fen,
                        created_ms: r.created_ms,
                        final_ms: r.is_final.then_some(r.updated_ms),
                    })
                })
                .collect();
            money_chart(&ctx, &money_series(&sums, now))
        }
        Err(e) => {
            tracing::warn!(error = %e, "console charts: cases not read");
            html! { p.error { (ctx.t("资金统计暂时无法读取。", "The money in flight could not be read now.")) } }
        }
    };
    let body = html! {
        section {
            h2 { (ctx.t("每日各对端交换次数（近 14 天）", "Exchanges per peer per day (last 14 days)")) }
            p.muted { (ctx.t("按披露记录统计：本中心发出、收到或拒绝的每一次查询。", "From the disclosure records: every query this centre answered, asked or refused.")) }
            (exchanges)
        }
        section {
            h2 { (ctx.t("各状态的转移案件", "Transfer cases by state")) }
            (cases)
        }
        section {
            h2 { (ctx.t("在途资金（近 14 天）", "Money in flight (last 14 days)")) }
            p.muted { (ctx.t("转移案件从开始到办结，其金额计为在途。", "A transfer case's amount is in flight from the case's start until it is final.")) }
            (money)
        }
    };
    page(&ctx, ctx.t("图表", "Charts"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_scale(7.0), (8.0, 2.0));
        assert_eq!(nice_scale(1.0), (1.0, 0.2));
        assert_eq!(nice_scale(100.0), (100.0, 20.0));
        assert_eq!(nice_scale(0.0), (1.0, 0.2));
        assert_eq!(nice_scale(12_345.0), (15_000.0, 5_000.0));
        assert_eq!(nice_scale(5.0), (5.0, 1.0));
    }

    #[test]
    fn days_start_at_midnight_in_china() {
        // 2023-11-14 22:13:20 UTC is 2023-11-15 06:13:20 in China.
        let d = day_start(1_700_000_000_000);
        assert_eq!(d, 1_699_977_600_000);
        assert_eq!(day_label(d), "11-15");
    }

    #[test]
    fn money_in_flight_counts_cases_begun_and_not_final() {
        let now = 1_700_000_000_000;
        let today = day_start(now);
        let case = |outgoing, amount_fen, created_ms, final_ms| CaseMoney {
            outgoing,
            amount_fen,
            created_ms,
            final_ms,
        };
        let cases = [
            case(true, 100, today - 3 * DAY_MS + 1, Some(today - DAY_MS + 1)),
            case(true, 50, today - 2 * DAY_MS + 1, None),
            case(false, 7, now - 10, None),
            // Begun and done within today: in today's peak only.
            case(false, 1000, now - 5, Some(now - 2)),
        ];
        let s = money_series(&cases, now);
        assert_eq!(s.len(), DAYS as usize);
        let ends: Vec<(i64, i64)> = s.iter().map(|d| (d.out_end, d.in_end)).collect();
        let n = s.len();
        assert_eq!(ends[n - 5], (0, 0));
        assert_eq!(ends[n - 4], (100, 0), "three days ago");
        assert_eq!(ends[n - 3], (150, 0), "the day before yesterday");
        assert_eq!(ends[n - 2], (50, 0), "yesterday: the first case ended");
        assert_eq!(ends[n - 1], (50, 7), "now");
        assert_eq!(
            (s[n - 2].out_peak, s[n - 2].in_peak),
            (150, 0),
            "yesterday's peak"
        );
        assert_eq!(
            (s[n - 1].out_peak, s[n - 1].in_peak),
            (50, 1007),
            "today's peak"
        );
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
