//! Stripping the quoted notification from an agent's answer: Outlook header blocks (in
//! several languages), "On … wrote:" attributions, separator banners, `>` lines.

fn is_attribution_start(line: &str) -> bool {
    let t = line.trim();
    // Real attributions carry a date or an address: "On Wed, 25 Nov 2026 at 10:00, X <x@y>".
    ["On ", "Am ", "Le ", "El ", "Il ", "Op ", "Den "]
        .iter()
        .any(|p| t.starts_with(p))
        && t.len() > 10
        && (t.chars().any(|c| c.is_ascii_digit()) || t.contains('@') || t.contains(','))
}

fn is_attribution_end(line: &str) -> bool {
    let t = line.trim_end();
    [
        "wrote:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "ha scritto:",
        "schreef:",
        "skrev:",
    ]
    .iter()
    .any(|e| t.ends_with(e))
}

/// `From:` and its translations, bold or not, as Outlook writes its quoted header block.
fn is_header_from(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('*');
    [
        "From:", "Von:", "De:", "De :", "Da:", "Van:", "Från:", "Od:", "Fra:",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// `Sent:`/`Date:` and translations, the second line that confirms a header block.
fn is_header_sent(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('*');
    [
        "Sent:",
        "Date:",
        "Gesendet:",
        "Datum:",
        "Envoyé",
        "Enviado:",
        "Inviato:",
        "Verzonden:",
        "Skickat:",
        "Wysłano:",
        "Sendt:",
        "Data:",
        "Fecha:",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// A separator such as `-----Original Message-----` or `-----Ursprüngliche Nachricht-----`.
fn is_separator_banner(line: &str) -> bool {
    let t = line.trim();
    t.len() > 12
        && t.starts_with("-----")
        && t.ends_with("-----")
        && t.trim_matches('-').trim().chars().any(char::is_alphabetic)
}

/// Where a quoted message starts that runs to the end: a separator banner, or an Outlook
/// header block (`From: … Sent: …`, with a `____` rule before it or not).
fn quoted_message_start(lines: &[&str]) -> usize {
    let outlook_header = |j: usize| {
        lines.get(j).is_some_and(|l| is_header_from(l))
            && lines[j + 1..lines.len().min(j + 5)]
                .iter()
                .any(|l| is_header_sent(l))
    };
    lines
        .iter()
        .enumerate()
        .position(|(i, line)| {
            let t = line.trim();
            is_separator_banner(t)
                || (t.chars().all(|c| c == '_') && t.len() >= 10 && outlook_header(i + 1))
                || outlook_header(i)
        })
        .unwrap_or(lines.len())
}

/// What someone wrote above the first quote in their mail (the customer's own words, for the
/// acknowledgement's quote): everything before an "On … wrote:" attribution (in the
/// languages above), an Outlook header block or a separator banner, without `>` lines.
pub fn text_before_quote(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let hard = quoted_message_start(&lines);
    let attribution = (0..hard).find(|&i| {
        is_attribution_start(lines[i]) && (i..hard.min(i + 3)).any(|j| is_attribution_end(lines[j]))
    });
    lines[..attribution.unwrap_or(hard)]
        .iter()
        .filter(|l| !l.trim_start().starts_with('>'))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes the quoted part of a reply: everything from an Outlook header block
/// (`From: … Sent: …`, `-----Original Message-----`, a `____` rule before `From:`) on, the
/// "On … wrote:" attribution and every `>` line (top- and bottom-posting alike); trims the
/// blank lines left behind.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = quoted_message_start(&lines);
    // Quoted lines the agent answers between (an inline answer, no attribution above them)
    // stay as quotes; a quote after an attribution, or at the end, goes.
    let attribution = (0..cut).find(|&i| {
        is_attribution_start(lines[i]) && (i..cut.min(i + 3)).any(|j| is_attribution_end(lines[j]))
    });
    let last_own = lines[..attribution.unwrap_or(cut)]
        .iter()
        .rposition(|l| !l.trim().is_empty() && !l.trim_start().starts_with('>'));
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < cut {
        let line = lines[i];
        if line.trim_start().starts_with('>') {
            if attribution.is_none_or(|a| i < a) && last_own.is_some_and(|own| i < own) {
                kept.push(line);
            }
            i += 1;
            continue;
        }
        if is_attribution_start(line) {
            // The attribution may be wrapped over up to three lines.
            if let Some(end) = (i..cut.min(i + 3)).find(|&j| is_attribution_end(lines[j])) {
                i = end + 1;
                continue;
            }
        }
        kept.push(line);
        i += 1;
    }
    let joined = kept.join("\n");
    let mut out: Vec<&str> = Vec::new();
    for line in joined.trim_matches('\n').lines() {
        // Collapse runs of blank lines left where quotes were.
        if line.trim().is_empty() && out.last().is_some_and(|l: &&str| l.trim().is_empty()) {
            continue;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

/// What marks our own notification when an agent's client quotes it back: the anchor line
/// every notification starts with, and the names the client's attribution or header block
/// gives its sender (our service name and address).
#[derive(Debug, Clone, Copy)]
pub struct OurQuote<'a> {
    /// The anchor lines the notification may start with (`compose::NotificationPrint`): the
    /// configured one and the built-in one.
    pub anchors: &'a [String],
    /// The first words of the notification's header block, e.g. `Ticket #1001 ·`, for a
    /// client that dropped the marker line.
    pub header: &'a str,
    /// Our service name and support address (in this order), as attributions name the
    /// notification's sender ("… via Acme Support <support@example.com>").
    pub sender: [&'a str; 2],
}

/// A line as a reader sees it inside a quote: how many quote marks, and the text after them.
/// Marks are `>` and `|`, and supercite's `Name>` (a short word before `>`).
pub(super) fn unquote(line: &str) -> (usize, &str) {
    let mut depth = 0;
    let mut rest = line.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix(['>', '|']) {
            rest = r.trim_start();
        } else if let Some((name, r)) = rest.split_once('>')
            && depth == 0
            && (1..=12).contains(&name.len())
            && name.chars().all(char::is_alphabetic)
        {
            rest = r.trim_start();
        } else {
            break;
        }
        depth += 1;
    }
    (depth, rest.trim_end())
}

/// Collapses runs of whitespace, for comparing text a client re-wrapped.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line where the quoted notification begins: the first of its anchor lines, else its
/// header block's first line.
fn find_notification(lines: &[&str], ours: &OurQuote<'_>) -> Option<usize> {
    ours.anchors
        .iter()
        .filter_map(|anchor| find_anchor(lines, anchor))
        .min()
        .or_else(|| {
            lines
                .iter()
                .position(|l| unquote(l).1.starts_with(ours.header))
        })
}

/// The line where `anchor` begins, found even when the client re-wrapped it over up to three
/// lines.
fn find_anchor(lines: &[&str], anchor: &str) -> Option<usize> {
    let marker = squash(anchor);
    if marker.is_empty() {
        return None;
    }
    let head: String = marker.chars().take(24).collect();
    (0..lines.len()).find(|&i| {
        let first = squash(unquote(lines[i]).1);
        if first.is_empty() || !(first.contains(&head) || marker.starts_with(&first)) {
            return false;
        }
        let joined = squash(
            &lines[i..lines.len().min(i + 3)]
                .iter()
                .map(|l| unquote(l).1)
                .collect::<Vec<_>>()
                .join(" "),
        );
        joined.contains(&marker)
    })
}

/// Whether a line names our service or address, as attributions name the notification's
/// sender.
fn names_us(line: &str, ours: &OurQuote<'_>) -> bool {
    let line = line.to_lowercase();
    ours.sender
        .iter()
        .any(|s| !s.is_empty() && line.contains(&s.to_lowercase()))
}

/// Whether a line names the notification's sender as clients write it: our address, or
/// "… via Acme Support" (the notification's From name). An agent's sign-off naming just the
/// service does not.
fn names_sender(line: &str, ours: &OurQuote<'_>) -> bool {
    let line = line.to_lowercase();
    let [service, address] = ours.sender;
    (!address.is_empty() && line.contains(&address.to_lowercase()))
        || (!service.is_empty() && line.contains(&format!("via {}", service.to_lowercase())))
}

/// Whether a line carries a time (`14:09`, `14.09`) or a date (`2026`, `3.12.`, `12/3`):
/// every attribution dates the quoted mail.
fn has_date_or_time(line: &str) -> bool {
    let b = line.as_bytes();
    (0..b.len()).any(|i| {
        let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
        // 14:09, 2:09, 14.09
        (digit(i) && matches!(b.get(i + 1), Some(b':' | b'.')) && digit(i + 2) && digit(i + 3))
            // 2026 (a year between 1990 and 2099)
            || (digit(i) && digit(i + 1) && digit(i + 2) && digit(i + 3)
                && (b[i] == b'2' && b[i + 1] == b'0' || b[i] == b'1' && b[i + 1] == b'9'))
            // 3/12 or 12-03
            || (digit(i) && matches!(b.get(i + 1), Some(b'/' | b'-')) && digit(i + 2))
    })
}

/// A `Label: value` line of a quoted header block, in any language (`From:`, `Von:`,
/// `От:`, `De :`, bold `*Sent:*` …): a short alphabetic label before the colon; the value
/// may be empty (`Cc:`).
fn is_header_line(line: &str) -> bool {
    let t = unquote(line).1.trim_start_matches('*');
    t.split_once(':').is_some_and(|(label, _)| {
        let label = label.trim_end_matches('*').trim();
        !label.is_empty()
            && label.split_whitespace().count() <= 2
            && label
                .chars()
                .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
    })
}

/// How many lines directly above `top` are the attribution of our quote, in any language:
/// up to four lines (a client may wrap it) that name our service or address or date the
/// mail, the last of them possibly only ending in a colon ("… wrote:", "… schrieb:"). A
/// wrapped attribution starts by dating the mail and its lines end mid-sentence, so an
/// agent's sign-off naming the service just above it stays with the answer.
fn attribution_lines(lines: &[&str], top: usize, ours: &OurQuote<'_>) -> usize {
    let text = |n: usize| unquote(lines[top - n - 1]).1;
    let part = |n: usize| {
        let t = text(n);
        !t.is_empty()
            && (names_us(t, ours)
                || has_date_or_time(t)
                || (n == 0 && t.trim_end_matches(['-', ' ']).ends_with(':')))
    };
    let valid = |n: usize| {
        (0..n).all(part)
            && (0..n).map(|k| text(k).len()).sum::<usize>() <= 320
            && (n == 1
                || ((has_date_or_time(text(n - 1)) || names_sender(text(n - 1), ours))
                    && (1..n).all(|k| !ends_sentence(text(k)))))
    };
    (1..=top.min(4)).rev().find(|&n| valid(n)).unwrap_or(0)
}

/// Whether a line ends a sentence (`.`, `!`, `?`), which a line a client wrapped mid-way
/// does not; `3.` (a German day) is a date, not a sentence's end.
fn ends_sentence(line: &str) -> bool {
    let mut rev = line.chars().rev();
    match rev.next() {
        Some('!' | '?') => true,
        Some('.') => !rev.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// How many lines directly above `top` are a quoted header block: two or more `Label:
/// value` lines, with the lines a client wrapped a long value onto.
fn header_block_lines(lines: &[&str], top: usize) -> usize {
    let (mut n, mut headers) = (0, 0);
    while n < 10 && n < top {
        let k = top - n - 1;
        let t = unquote(lines[k]).1;
        if t.is_empty() {
            break;
        }
        if is_header_line(lines[k]) {
            headers += 1;
        } else if !(k > 0 && is_header_line(lines[k - 1])) {
            break;
        }
        n += 1;
    }
    if headers >= 2 { n } else { 0 }
}

/// A rule or banner a client puts above a quote: `____`, `====`, `-----Original
/// Message-----`, `---- On … wrote ----`, `<hr>` turned into dashes, bold or not.
fn is_rule(line: &str) -> bool {
    let t = unquote(line).1.trim_matches('*').trim();
    (t.len() >= 4 && t.chars().all(|c| matches!(c, '_' | '-' | '=' | '—')))
        || is_separator_banner(t)
        || (t.starts_with("----") && t.ends_with("----"))
}

/// Where the quote of our notification begins, counting the client's attribution or header
/// block (any language) and a rule directly above it.
fn quote_start(lines: &[&str], anchor: usize, ours: &OurQuote<'_>) -> usize {
    let blank = |l: &str| unquote(l).1.is_empty();
    let mut top = anchor;
    while top > 0 && blank(lines[top - 1]) {
        top -= 1;
    }
    let block = match header_block_lines(lines, top) {
        0 => attribution_lines(lines, top, ours),
        n => n,
    };
    top -= block;
    // A rule above the block (or alone above the quote), directly or after one blank line.
    let mut up = top;
    if block > 0 && up > 0 && blank(lines[up - 1]) {
        up -= 1;
    }
    while up > 0 && is_rule(lines[up - 1]) {
        up -= 1;
        top = up;
    }
    top
}

/// Where the notification's own header part ends inside a `>` quote: after its dashed rule
/// (the template's line of dashes above the customer's text), or just after the anchor.
fn notification_body(lines: &[&str], anchor: usize) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(anchor)
        .take(20)
        .find(|(_, l)| {
            let t = unquote(l).1;
            t.len() >= 20 && t.chars().all(|c| c == '-')
        })
        .map_or(anchor + 1, |(i, _)| i + 1)
}

/// Removes the quote of our notification from an agent's answer, found by its own content
/// rather than by a client's or a language's attribution format. `None` when the answer holds
/// no quote of it (the client did not quote, or quoted something else).
///
/// Above the quote is the answer. Inside a `>` quote, the notification's header part never
/// stays; if the agent wrote between or below the quoted lines of the customer's mail (an
/// inline answer), those lines stay as quotes up to the agent's last line, so the customer
/// sees the questions the answers belong to. An unprefixed quote (Outlook) runs to the end.
pub fn cut_our_quote(text: &str, ours: &OurQuote<'_>) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let cut = plan_cut(&lines, ours)?;
    let mut kept: Vec<&str> = lines[..cut.top].to_vec();
    if let Some(below) = cut.below {
        kept.push("");
        kept.extend(&lines[below]);
    }
    Some(tidy(&kept))
}

/// Which lines of an answer stay once the quote of our notification is cut: the lines above
/// `top`, and the lines of `below` (an inline answer's, or text under a `>` quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cut {
    /// The first line of the quote (its attribution or header block, or a rule above it).
    pub(super) top: usize,
    /// What the agent wrote below the quoted notification's header part, with the customer's
    /// quoted lines between (`None` for an unprefixed quote, which runs to the end).
    pub(super) below: Option<std::ops::Range<usize>>,
}

/// Where the quote of our notification is in an answer's lines (`>`-prefixed for quotes), by
/// the rules of [`cut_our_quote`]; `None` when it holds no quote of it. The HTML cut reads a
/// document as such lines, so both follow the same rules.
pub(super) fn plan_cut(lines: &[&str], ours: &OurQuote<'_>) -> Option<Cut> {
    let anchor = find_notification(lines, ours)?;
    let top = quote_start(lines, anchor, ours);
    let below = (unquote(lines[anchor]).0 > 0).then(|| {
        let from = notification_body(lines, anchor);
        written_below(&lines[from..]).map_or(from..from, |r| from + r.start..from + r.end)
    });
    Some(Cut { top, below })
}

/// What the agent wrote below the quoted notification's header part, as a range of `below`.
/// Written between the customer's quoted lines (an inline answer), it keeps those lines as
/// quotes up to the agent's last line, so the customer sees the questions the answers belong
/// to; written only after the quote (bottom-posting, a signature under the quote), it is just
/// the agent's lines.
fn written_below(below: &[&str]) -> Option<std::ops::Range<usize>> {
    let own = |l: &&str| {
        let (depth, t) = unquote(l);
        depth == 0 && !t.is_empty()
    };
    let quoted = |l: &&str| {
        let (depth, t) = unquote(l);
        depth > 0 && !t.is_empty()
    };
    let (first, last) = (below.iter().position(own)?, below.iter().rposition(own)?);
    let inline = below[first..].iter().any(quoted);
    let start = if inline {
        below
            .iter()
            .position(|l| !unquote(l).1.is_empty())
            .unwrap_or(first)
    } else {
        first
    };
    Some(start..last + 1)
}

/// Trims blank and empty-quote lines at both ends and collapses runs of blank lines.
pub(super) fn tidy(lines: &[&str]) -> String {
    let empty = |l: &&str| unquote(l).1.is_empty();
    let start = lines.iter().position(|l| !empty(l)).unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !empty(l))
        .map_or(start, |e| e + 1);
    let mut out: Vec<&str> = Vec::new();
    for line in &lines[start..end] {
        if line.trim().is_empty() && out.last().is_some_and(|l| l.trim().is_empty()) {
            continue;
        }
        out.push(line.trim_end());
    }
    out.join("\n")
}

/// An agent's answer without the quote: cut at our notification when it is quoted (any
/// client, any language), else by the known attribution and header formats.
pub fn strip_answer(text: &str, ours: &OurQuote<'_>) -> String {
    cut_our_quote(text, ours).unwrap_or_else(|| strip_quoted(text))
}
