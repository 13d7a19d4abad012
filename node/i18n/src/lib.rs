//! The one message catalogue of hfx (Project Fluent), in Simplified Chinese and English.
//!
//! The CLI's human output speaks from it now, and a web console can share it later: a
//! [`Catalogue`] is `Send + Sync`, so one per language can serve every request. What a person
//! reads is built here: money from integer fen (`¥1,234.56`), dates (`2026年12月2日` /
//! `2 Dec 2026`), times in China Standard Time, and the data standard's codes shown by name
//! with the code beside (`正常 (01)` / `normal (01)`). Machine output (`--json`) never comes
//! from here: it stays language-neutral.
//!
//! The messages are `locales/zh-CN/hfx.ftl` and `locales/en/hfx.ftl`, compiled in; a unit
//! test checks that both files parse and hold the same message ids.

pub mod templates;
pub mod views;

use chrono::{Datelike as _, Offset as _};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::borrow::Cow;

/// The Simplified Chinese messages.
pub const ZH_CN_FTL: &str = include_str!("../locales/zh-CN/hfx.ftl");
/// The English messages.
pub const EN_FTL: &str = include_str!("../locales/en/hfx.ftl");

/// A language hfx speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Simplified Chinese (简体中文).
    ZhCn,
    /// English: also for an unset, `C` or `POSIX` locale.
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag: `zh-CN`, `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The catalogue's source text.
    pub fn source(self) -> &'static str {
        match self {
            Lang::ZhCn => ZH_CN_FTL,
            Lang::En => EN_FTL,
        }
    }

    /// The language a `--lang` value names: `zh-CN` or `en` (any case, `_` for `-`; `zh`
    /// and `en-US`/`en-GB` too). `Err` says what is accepted.
    pub fn from_flag(s: &str) -> Result<Lang, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "zh-cn" | "zh" | "zh-hans" | "zh-hans-cn" => Ok(Lang::ZhCn),
            "en" | "en-us" | "en-gb" => Ok(Lang::En),
            _ => Err(format!("{s:?} is not a language of hfx: zh-CN or en")),
        }
    }

    /// The language of a POSIX locale value (`zh_CN.UTF-8`, `en_US.UTF-8`, `C`): any `zh…`
    /// is Simplified Chinese, anything else English.
    pub fn from_locale(value: &str) -> Lang {
        if value.trim().to_ascii_lowercase().starts_with("zh") {
            Lang::ZhCn
        } else {
            Lang::En
        }
    }

    /// The language of the environment's locale variables, in POSIX order: the first set
    /// and non-empty of `LC_ALL`, `LC_MESSAGES`, `LANG` decides; none set is English.
    pub fn from_locale_vars(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map_or(Lang::En, Lang::from_locale)
    }

    /// [`Lang::from_locale_vars`] of this process's environment.
    pub fn from_env() -> Lang {
        let var = |k: &str| std::env::var(k).ok();
        Lang::from_locale_vars(
            var("LC_ALL").as_deref(),
            var("LC_MESSAGES").as_deref(),
            var("LANG").as_deref(),
        )
    }

    /// The language to speak: the one asked for (`--lang`), else the environment's.
    pub fn choose(asked: Option<Lang>) -> Lang {
        asked.unwrap_or_else(Lang::from_env)
    }

    fn langid(self) -> unic_langid::LanguageIdentifier {
        match self {
            Lang::ZhCn => unic_langid::langid!("zh-CN"),
            Lang::En => unic_langid::langid!("en"),
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Lang::from_flag(s)
    }
}

/// A centre as a person is told of it: the directory's code, city and name, and the city's
/// pinyin where known (English names the city by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CentreName<'a> {
    pub code: &'a str,
    pub city: &'a str,
    pub name: &'a str,
    pub pinyin: Option<&'a str>,
}

/// An argument of a message.
pub type Arg<'a> = (&'a str, FluentValue<'a>);

/// The messages of one language, and the formatting helpers that speak it.
pub struct Catalogue {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("lang", &self.lang)
            .finish()
    }
}

/// China Standard Time (UTC+8), where the centres are.
pub fn cst() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// Integer fen as yuan with thousands separators: `¥1,234.56`, `-¥0.05`, `¥0.00`. Never
/// through floating point. The same in every language.
pub fn money(fen: i64) -> String {
    let abs = fen.unsigned_abs();
    let (yuan, cents) = (abs / 100, abs % 100);
    let digits = yuan.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}¥{grouped}.{cents:02}")
}

/// Basis points as a percentage, without floating point: 1200 → `12%`, 1250 → `12.5%`,
/// 5 → `0.05%`.
pub fn percent_bp(bp: u32) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

/// How many terminal columns `s` takes: CJK and full-width characters take two.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = matches!(u,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// `s` padded with spaces to `width` terminal columns (not cut when wider).
pub fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    out
}

/// Rows as a table: each column as wide as its widest cell (in terminal columns), two
/// spaces between columns, no trailing blanks; one line per row.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| display_width(c))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

impl Catalogue {
    /// The catalogue of `lang`. The messages are compiled in and checked by the tests, so
    /// this cannot fail; a message missing at run time shows its id.
    pub fn new(lang: Lang) -> Self {
        let resource = FluentResource::try_new(lang.source().to_string())
            .unwrap_or_else(|(partial, _errors)| partial);
        let mut bundle = FluentBundle::new_concurrent(vec![lang.langid()]);
        // Terminals show Unicode isolation marks as junk; the CLI's lines are one direction.
        bundle.set_use_isolating(false);
        // A duplicate id would be an error here; the tests check there is none.
        let _ = bundle.add_resource(resource);
        Catalogue { lang, bundle }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Whether the catalogue has message `id`.
    pub fn has(&self, id: &str) -> bool {
        self.bundle.has_message(id)
    }

    /// Message `id` with `args`; the id itself when the catalogue lacks it.
    pub fn text(&self, id: &str, args: &[Arg<'_>]) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_string();
        };
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, v.clone());
        }
        let mut errors = Vec::new();
        let out: Cow<'_, str> =
            self.bundle
                .format_pattern(pattern, (!args.is_empty()).then_some(&fa), &mut errors);
        out.into_owned()
    }

    /// Message `id` without arguments.
    pub fn msg(&self, id: &str) -> String {
        self.text(id, &[])
    }

    /// `id` when the catalogue has it, else `fallback` (a word of the wire kept as it is).
    pub fn msg_or(&self, id: &str, fallback: &str) -> String {
        if self.has(id) {
            self.msg(id)
        } else {
            fallback.to_string()
        }
    }

    /// `name (code)`.
    pub fn coded(&self, name: &str, code: &str) -> String {
        self.text("coded", &[("name", name.into()), ("code", code.into())])
    }

    /// `是` / `yes`, `否` / `no`.
    pub fn yes_no(&self, b: bool) -> String {
        self.msg(if b { "yes" } else { "no" })
    }

    /// Integer fen as yuan: see [`money`].
    pub fn money(&self, fen: i64) -> String {
        money(fen)
    }

    /// A calendar date: `2026年12月2日` / `2 Dec 2026`.
    pub fn date(&self, d: chrono::NaiveDate) -> String {
        self.text(
            "date",
            &[
                ("year", d.year().into()),
                ("month", d.month().into()),
                ("day", d.day().into()),
            ],
        )
    }

    /// A date given as YYYYMMDD (the standard's form); shown as it is when no real date.
    pub fn date_yyyymmdd(&self, v: u32) -> String {
        chrono::NaiveDate::from_ymd_opt((v / 10_000) as i32, (v / 100) % 100, v % 100)
            .map_or_else(|| v.to_string(), |d| self.date(d))
    }

    /// A month given as YYYYMM: `2026年11月` / `Nov 2026`; as it is when no real month.
    pub fn month_yyyymm(&self, v: u32) -> String {
        let (year, month) = (v / 100, v % 100);
        if !(1..=12).contains(&month) || year == 0 {
            return v.to_string();
        }
        self.text("month", &[("year", year.into()), ("month", month.into())])
    }

    /// `a – b` / `a 至 b`.
    pub fn range(&self, from: &str, to: &str) -> String {
        self.text("range", &[("from", from.into()), ("to", to.into())])
    }

    /// A moment in China Standard Time: `2026年12月2日 08:00:00（北京时间）` /
    /// `2 Dec 2026 08:00:00 (UTC+8)`; `--` for 0 or a moment out of range.
    pub fn date_time_ms(&self, unix_ms: i64) -> String {
        if unix_ms <= 0 {
            return self.msg("none");
        }
        let Some(t) = chrono::DateTime::from_timestamp_millis(unix_ms) else {
            return self.msg("none");
        };
        let t = t.with_timezone(&cst());
        self.text(
            "date-time",
            &[
                ("date", self.date(t.date_naive()).into()),
                ("time", t.format("%H:%M:%S").to_string().into()),
            ],
        )
    }

    /// [`Catalogue::date_time_ms`] without the time zone, for tables whose heading names it.
    pub fn date_time_bare_ms(&self, unix_ms: i64) -> String {
        let Some(t) = chrono::DateTime::from_timestamp_millis(unix_ms).filter(|_| unix_ms > 0)
        else {
            return self.msg("none");
        };
        let t = t.with_timezone(&cst());
        self.text(
            "date-time-bare",
            &[
                ("date", self.date(t.date_naive()).into()),
                ("time", t.format("%H:%M:%S").to_string().into()),
            ],
        )
    }

    /// [`Catalogue::date_time_ms`] of unix seconds.
    pub fn date_time_unix(&self, unix_s: i64) -> String {
        self.date_time_ms(unix_s.saturating_mul(1000))
    }

    /// A duration: `1 d 2 h 3 min 4 s` / `1天2小时3分4秒` (leading zero units left out).
    pub fn duration(&self, secs: u64) -> String {
        let parts = [
            ("duration-days", secs / 86_400),
            ("duration-hours", secs / 3600 % 24),
            ("duration-minutes", secs / 60 % 60),
            ("duration-seconds", secs % 60),
        ];
        let first = parts.iter().position(|(_, n)| *n > 0).unwrap_or(3);
        parts[first..]
            .iter()
            .map(|(id, n)| self.text(id, &[("n", (*n).into())]))
            .collect::<Vec<_>>()
            .join(&self.msg("duration-separator"))
    }

    /// An account status code (A.6) by name with the code: `正常 (01)` / `normal (01)`.
    pub fn account_status(&self, code: &str) -> String {
        let id = format!("account-status-{code}");
        let name = if self.has(&id) {
            self.msg(&id)
        } else {
            self.msg("account-status-unknown")
        };
        self.coded(&name, code)
    }

    /// A purpose's name in words: `身份核验` / `identity confirmation`.
    pub fn purpose(&self, name: &str) -> String {
        let id = format!("purpose-{}", name.trim().replace('-', "_"));
        if self.has(&id) {
            self.msg(&id)
        } else {
            self.coded(&self.msg("purpose-unknown"), name)
        }
    }

    /// A purpose in words with its machine name: `身份核验 (identity_confirmation)`.
    pub fn purpose_coded(&self, name: &str) -> String {
        let id = format!("purpose-{}", name.trim().replace('-', "_"));
        if self.has(&id) {
            self.coded(&self.msg(&id), name)
        } else {
            self.coded(&self.msg("purpose-unknown"), name)
        }
    }

    /// What an answer for a purpose may carry, in words.
    pub fn purpose_fields(&self, name: &str) -> String {
        self.msg_or(
            &format!("purpose-fields-{name}"),
            &self.msg("purpose-fields-unknown"),
        )
    }

    /// A business type code (归集和提取业务类型) by name with the code: `汇缴 (01)`.
    pub fn business_type(&self, code: &str) -> String {
        let id = format!("business-type-{code}");
        let name = if self.has(&id) {
            self.msg(&id)
        } else {
            self.msg("business-type-unknown")
        };
        self.coded(&name, code)
    }

    /// An exchange's outcome as a disclosure record keeps it (`disclosed`, `received`,
    /// `not found`, `refused: REASON`, `failed: REASON`), in words with the reason kept as the
    /// node wrote it; any other text is shown as it is.
    pub fn outcome(&self, outcome: &str) -> String {
        let (word, reason) = match outcome.split_once(':') {
            Some((w, r)) => (w.trim(), Some(r.trim())),
            None => (outcome.trim(), None),
        };
        let id = match word {
            "disclosed" => "outcome-disclosed",
            "received" => "outcome-received",
            "refused" => "outcome-refused",
            "failed" => "outcome-failed",
            "not found" => "outcome-not-found",
            _ => return outcome.to_string(),
        };
        match reason {
            Some(r) if !r.is_empty() => self.text(
                "outcome-with-reason",
                &[("outcome", self.msg(id).into()), ("reason", r.into())],
            ),
            _ => self.msg(id),
        }
    }

    /// Whether a disclosure record is one where this centre asked and was told nothing: the
    /// asking side keeps direction `received` for every request it sent, answered or not.
    pub fn asked_unanswered(direction: &str, outcome: &str) -> bool {
        direction == "received" && outcome.trim() != "received"
    }

    /// A disclosure record's direction in words: sent (we disclosed), received (we asked and
    /// were told), asked without an answer (the asking side's record of a failed or refused
    /// request, which is no `received`), refused (a peer asked; we told nothing).
    pub fn direction(&self, direction: &str, outcome: &str) -> String {
        match direction {
            "sent" => self.msg("direction-sent"),
            "received" if Self::asked_unanswered(direction, outcome) => self.msg("direction-asked"),
            "received" => self.msg("direction-received"),
            "refused" => self.msg("direction-refused"),
            other => other.to_string(),
        }
    }

    /// The city as this language names it: the pinyin, capitalised, in English (where
    /// known), the Chinese city otherwise.
    pub fn city(&self, c: &CentreName<'_>) -> String {
        match (self.lang, c.pinyin) {
            (Lang::En, Some(p)) if !p.is_empty() => {
                let mut chars = p.chars();
                chars
                    .next()
                    .map(|f| f.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
            _ => c.city.to_string(),
        }
    }

    /// A centre for tables: `连云港 (320700000000000)` / `Lianyungang (320700000000000)`.
    pub fn centre_short(&self, c: &CentreName<'_>) -> String {
        self.text(
            "centre-short",
            &[("city", self.city(c).into()), ("code", c.code.into())],
        )
    }

    /// A centre in full: `连云港 连云港市住房公积金管理中心 (320700000000000)` /
    /// `Lianyungang, 连云港市住房公积金管理中心 (320700000000000)`.
    pub fn centre_full(&self, c: &CentreName<'_>) -> String {
        if c.name.is_empty() {
            return self.centre_short(c);
        }
        self.text(
            "centre-full",
            &[
                ("city", self.city(c).into()),
                ("name", c.name.into()),
                ("code", c.code.into()),
            ],
        )
    }

    /// A transfer case's state (hfx's word, e.g. `held`) in words; an unknown word as it is.
    pub fn transfer_state(&self, state: &str) -> String {
        if state.is_empty() {
            return self.msg("none");
        }
        self.msg_or(&format!("transfer-state-{state}"), state)
    }

    /// A national platform status code by name with the code: `账户信息已核对 (08)`; none
    /// yet (before the origin has the letter) says so.
    pub fn national_status(&self, code: &str) -> String {
        if code.is_empty() {
            return self.msg("national-none");
        }
        let id = format!("national-{code}");
        let name = if self.has(&id) {
            self.msg(&id)
        } else {
            self.msg("national-unknown")
        };
        self.coded(&name, code)
    }

    /// This node's side of a case (`destination`, `origin`) in words.
    pub fn transfer_role(&self, role: &str) -> String {
        self.msg_or(&format!("transfer-role-{role}"), role)
    }

    /// The step a case waits for (`payout`, …) in words; other text as the node wrote it.
    pub fn transfer_wait(&self, waiting_for: &str) -> String {
        self.msg_or(&format!("transfer-wait-{waiting_for}"), waiting_for)
    }

    /// What a stable reason of a refusal (`MEMBER_NOT_FOUND`, …) means and what to do, one
    /// sentence; `None` for a reason the catalogue does not know (the caller shows the
    /// node's text alone).
    pub fn reason_advice(&self, reason: &str) -> Option<String> {
        let id = format!("reason-{}", reason.trim());
        self.has(&id).then(|| self.msg(&id))
    }

    /// An error as a person reads it: the advice first, then the reason code and the node's
    /// text as they came (`… (NotFound: MEMBER_NOT_FOUND: no member matches this id)`).
    pub fn explained(&self, advice: &str, status: &str) -> String {
        self.text(
            "error-explained",
            &[("advice", advice.into()), ("status", status.into())],
        )
    }

    /// A loan check outcome (`answered`, `down`, `slow`, …) in words.
    pub fn loan_outcome(&self, outcome: &str) -> String {
        self.msg_or(&format!("loan-outcome-{outcome}"), outcome)
    }

    /// A loan role (`borrower`, `co_borrower`) in words.
    pub fn loan_role(&self, role: &str) -> String {
        self.msg_or(&format!("loan-role-{role}"), role)
    }

    /// A loan status (`normal`, `overdue`, `settled`, `written_off`) in words.
    pub fn loan_status(&self, status: &str) -> String {
        self.msg_or(&format!("loan-status-{status}"), status)
    }
}

#[cfg(test)]
mod tests;
