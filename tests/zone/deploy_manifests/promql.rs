//! Just enough PromQL reading for the alert rules and the dashboard: brackets balanced, and
//! which metric names an expression reads. Not a parser: it only has to find series names,
//! so it skips label matchers (`{...}`), ranges (`[...]`), strings, numbers, Grafana
//! variables, grouping label lists and the language's own words.

use std::collections::BTreeSet;

/// Words of the language that look like names but are not series.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "Inf",
    "NaN",
];

/// Keywords followed by a parenthesised list of label names (not expressions).
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators, which may put their grouping before the parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Brackets and quotes close in order; the first problem, if any.
pub fn balanced(expr: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == '\\' && c != '`' {
                        chars.next();
                    } else if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(format!("unclosed {c} string"));
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match stack.pop() {
                    Some(open) if open == want => {}
                    other => return Err(format!("{c} closes {other:?}")),
                }
            }
            _ => {}
        }
    }
    match stack.last() {
        None => Ok(()),
        Some(open) => Err(format!("{open} never closed")),
    }
}

/// The series names `expr` reads.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let is_start = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b':';
    let is_part = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    while i < b.len() {
        let c = b[i];
        if c == b'{' || c == b'[' {
            i = skip_block(b, i);
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i);
        } else if c == b'$' || c.is_ascii_digit() || c == b'.' {
            // A Grafana variable, a number or a duration: its whole word.
            i += 1;
            while i < b.len() && (is_part(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if is_start(c) {
            let start = i;
            while i < b.len() && is_part(b[i]) {
                i += 1;
            }
            let word = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let next_word = |w: &str| {
                expr[j..].starts_with(w)
                    && !expr[j + w.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            };
            let grouped = AGGREGATIONS.contains(&word) && (next_word("by") || next_word("without"));
            let call = (j < b.len() && b[j] == b'(') || grouped;
            if LABEL_LISTS.contains(&word) && call {
                i = skip_block(b, j);
            } else if KEYWORDS.contains(&word) || call {
                // A keyword, or a function / aggregation name.
            } else {
                out.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Index just past the bracket block opening at `at`.
fn skip_block(b: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// Index just past the string opening at `at`.
fn skip_string(b: &[u8], at: usize) -> usize {
    let q = b[at];
    let mut i = at + 1;
    while i < b.len() {
        if b[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

#[test]
fn promql_reading_finds_series_and_nothing_else() {
    let e = r#"histogram_quantile(0.99, sum by (le, grpc_method) (rate(grpc_server_handling_seconds_bucket{centre=~"$centre",peer!="local"}[$__rate_interval])))"#;
    assert_eq!(
        metric_names(e),
        BTreeSet::from(["grpc_server_handling_seconds_bucket".to_string()])
    );
    let e = "(hfx_checkpoint_age_seconds > 60) and on (instance) (hfx_node_writer == 1) or sum(up) by (job) < 14 * 86400";
    assert_eq!(
        metric_names(e),
        BTreeSet::from([
            "hfx_checkpoint_age_seconds".to_string(),
            "hfx_node_writer".to_string(),
            "up".to_string()
        ])
    );
    assert!(balanced(e).is_ok());
    assert!(balanced("sum(rate(x[5m])").is_err());
    assert!(balanced("x{a=\"}\"} )").is_err());
    assert!(balanced("x{a=\"(\"}").is_ok());
}
