//! Texts the node writes in fixed English words (a transfer case's notes, the doctor's
//! findings), read back into the person's language: each template names its message, its
//! `{placeholders}` become the message's arguments. The CLI and the web console share them.

use crate::Catalogue;

/// The notes of a transfer case's timeline (node/case), with `{fen}` an amount in fen, `{ref}`
/// a bank reference and `{text}` free text kept as it came; each with its message.
pub const TRANSFER_NOTES: &[(&str, &str)] = &[
    ("letter checked and accepted", "note-letter-accepted"),
    (
        "account closed (04, balance 0, reason 07); payment notice sent",
        "note-closed-out",
    ),
    ("hold released, account reopened", "note-hold-released"),
    (
        "the origin never received the letter by its deadline (tombstone)",
        "note-expired-never-received",
    ),
    (
        "negotiation settled by the destination's clerk: crediting the amount paid",
        "note-negotiation-settled-here",
    ),
    (
        "cancel refused: the origin had already accepted",
        "note-cancel-refused",
    ),
    ("the origin confirmed the cancel", "note-cancel-confirmed"),
    (
        "the origin holds an expiry tombstone for the case",
        "note-expired-tombstone",
    ),
    ("transfer-out record received", "note-out-received"),
    (
        "transfer-out record received (the origin had accepted before the cancel)",
        "note-out-received-after-cancel",
    ),
    ("the origin has the letter", "note-origin-has-letter"),
    ("the origin accepted the letter", "note-origin-accepted"),
    (
        "destination credited {fen} fen",
        "note-destination-credited",
    ),
    (
        "negotiation settled; destination credited {fen} fen",
        "note-negotiated-credited",
    ),
    ("bank paid {fen} fen (ref {ref})", "note-bank-paid"),
    (
        "account sealed, {fen} fen held; transfer-out record sent",
        "note-sealed-held",
    ),
    (
        "payment of {fen} fen received (ref {ref})",
        "note-payment-received",
    ),
    (
        "member credited {fen} fen (business type 08, with history)",
        "note-member-credited",
    ),
    (
        "cancelled by the destination: {text}",
        "note-cancelled-by-destination",
    ),
    (
        "destination negotiates: {text}",
        "note-destination-negotiates",
    ),
    ("bank declined the payout: {text}", "note-bank-declined"),
    ("payout failed at the origin: {text}", "note-payout-failed"),
    ("cancel requested: {text}", "note-cancel-requested"),
    (
        "payment received; negotiation opened: {text}",
        "note-negotiation-opened",
    ),
    ("origin refused: {text}", "note-origin-refused"),
    (
        "hold refused: {text}; releasing any hold of the case",
        "note-hold-refused",
    ),
    ("refused: {text}", "note-refused"),
];

/// The placeholders of `template` matched against `text`: `(name, value)` in order, or
/// `None` when the text is not of this template. A placeholder (`{name}`) takes the text up
/// to the template's next fixed words (the last one up to the end) and is never empty.
pub fn match_template<'t, 'a>(template: &'t str, text: &'a str) -> Option<Vec<(&'t str, &'a str)>> {
    let mut out = Vec::new();
    let mut t = template;
    let mut n = text;
    loop {
        let Some(open) = t.find('{') else {
            return (t == n).then_some(out);
        };
        let (lit, rest) = t.split_at(open);
        n = n.strip_prefix(lit)?;
        let close = rest.find('}')?;
        let name = &rest[1..close];
        t = &rest[close + 1..];
        let end = match t.find('{') {
            Some(i) => n.find(&t[..i])?,
            None => n
                .len()
                .checked_sub(t.len())
                .filter(|&i| n.is_char_boundary(i))?,
        };
        let value = &n[..end];
        if value.is_empty() {
            return None;
        }
        out.push((name, value));
        n = &n[end..];
    }
}

/// A text the node writes in fixed words (one of `table`'s templates, each with its message
/// id) in the chosen language, each placeholder's value passed through `arg` (`None`: the
/// value does not fit, the template does not apply); any other text as it came.
pub fn from_template(
    cat: &Catalogue,
    table: &[(&'static str, &'static str)],
    text: &str,
    arg: impl Fn(&'static str, &str) -> Option<(&'static str, String)>,
) -> String {
    for &(template, id) in table {
        let Some(parts) = match_template(template, text) else {
            continue;
        };
        let args: Option<Vec<crate::Arg<'static>>> = parts
            .into_iter()
            .map(|(k, v)| arg(k, v).map(|(k, v)| (k, v.into())))
            .collect();
        if let Some(args) = args {
            return cat.text(id, &args);
        }
    }
    text.to_string()
}

/// A timeline note of a transfer case in `cat`'s language when the node wrote it in fixed
/// words (amounts as yuan); free text as it came.
pub fn transfer_note(cat: &Catalogue, note: &str) -> String {
    // "cancel refused: the origin had already accepted (held)": the origin's state in words.
    if let Some(state) = note
        .strip_prefix("cancel refused: the origin had already accepted (")
        .and_then(|r| r.strip_suffix(')'))
    {
        return format!(
            "{} ({})",
            cat.msg("note-cancel-refused"),
            cat.transfer_state(state)
        );
    }
    from_template(cat, TRANSFER_NOTES, note, |name, value| match name {
        "fen" => value
            .parse::<i64>()
            .ok()
            .map(|fen| ("amount", crate::money(fen))),
        other => Some((other, value.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn templates_match_whole_texts_only() {
        assert_eq!(
            match_template("bank paid {fen} fen (ref {ref})", "bank paid 5 fen (ref x)"),
            Some(vec![("fen", "5"), ("ref", "x")])
        );
        assert_eq!(match_template("refused: {text}", "refused: "), None);
        assert_eq!(match_template("a {x} b", "a 1 c"), None);
        assert_eq!(match_template("a {x} b", "a 1 b c"), None);
    }

    #[test]
    fn a_note_reads_in_either_language_and_free_text_stays() {
        let zh = Catalogue::new(Lang::ZhCn);
        let en = Catalogue::new(Lang::En);
        assert_eq!(
            transfer_note(&zh, "bank paid 123456 fen (ref B-1)"),
            "银行已划款 ¥1,234.56（流水号 B-1）"
        );
        assert_eq!(
            transfer_note(&zh, "origin refused: account frozen"),
            "转出地拒绝：account frozen"
        );
        assert!(!transfer_note(&en, "the origin has the letter").contains("note-"));
        assert_eq!(transfer_note(&zh, "something else"), "something else");
        assert!(
            transfer_note(
                &zh,
                "cancel refused: the origin had already accepted (held)"
            )
            .starts_with("撤销未成功")
        );
        for (_, id) in TRANSFER_NOTES {
            assert!(zh.has(id) && en.has(id), "{id}");
        }
    }
}
