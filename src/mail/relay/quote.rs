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
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < cut {
        let line = lines[i];
        if line.trim_start().starts_with('>') {
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

/// What marks our own notification when an agent's client quotes it back: the line every
/// notification starts with (written by code, whatever the templates say), and the names
/// the client's attribution or header block gives its sender (our service name and address).
#[derive(Debug, Clone, Copy)]
pub struct OurQuote<'a> {
    /// The notification's first line (`compose::notification_marker`).
    pub marker: &'a str,
    /// The first words of the notification's header block, e.g. `Ticket #1001 ·`, for a
    /// client that dropped the marker line.
    pub header: &'a str,
    /// Our service name and support address, as attributions name the notification's
    /// sender ("… via Acme Support <support@example.com>").
    pub sender: [&'a str; 2],
}

/// A line as a reader sees it inside a quote: how many `>` marks, and the text after them.
fn unquote(line: &str) -> (usize, &str) {
    let mut depth = 0;
    let mut rest = line.trim_start();
    while let Some(r) = rest.strip_prefix('>') {
        depth += 1;
        rest = r.trim_start();
    }
    (depth, rest.trim_end())
}

/// Collapses runs of whitespace, for comparing text a client re-wrapped.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The line where the quoted notification begins: its marker line (found even when the client
/// re-wrapped it over up to three lines), else its header block's first line.
fn find_notification(lines: &[&str], ours: &OurQuote<'_>) -> Option<usize> {
    let marker = squash(ours.marker);
    let head: String = marker.chars().take(24).collect();
    let at_marker = (0..lines.len()).find(|&i| {
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
    });
    at_marker.or_else(|| {
        lines
            .iter()
            .position(|l| unquote(l).1.starts_with(ours.header))
    })
}

/// Whether a block of lines directly above the quote introduces it: it names our service or
/// address, is a header block (`From: …` / `Sent: …` in any language: two or more
/// `Label: value` lines), or ends in a colon ("… wrote:", "… schrieb …:", "… napisał:").
fn introduces_quote(block: &[&str], ours: &OurQuote<'_>) -> bool {
    let text = block.join(" ").to_lowercase();
    let names_us = ours
        .sender
        .iter()
        .any(|s| !s.is_empty() && text.contains(&s.to_lowercase()));
    let header_lines = block
        .iter()
        .filter(|l| {
            let t = unquote(l).1.trim_start_matches('*');
            t.split_once(':').is_some_and(|(label, _)| {
                let label = label.trim_end_matches('*').trim();
                !label.is_empty()
                    && label.split_whitespace().count() <= 2
                    && label
                        .chars()
                        .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
            })
        })
        .count();
    let ends_in_colon = block.last().is_some_and(|l| {
        let t = unquote(l).1.trim_end_matches(['-', ' ']);
        t.ends_with(':')
    });
    names_us || header_lines >= 2 || ends_in_colon
}

/// A rule or banner a client puts above a quote: `____`, `-----Original Message-----`,
/// `---- On … wrote ----`, `<hr>` turned into dashes.
fn is_rule(line: &str) -> bool {
    let t = unquote(line).1;
    (t.len() >= 10
        && t.chars()
            .all(|c| c == '_' || c == '-' || c == '=' || c == '—'))
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
    let mut first = top;
    while first > 0 && !blank(lines[first - 1]) && top - first < 8 {
        first -= 1;
    }
    if first < top && introduces_quote(&lines[first..top], ours) {
        top = first;
        // A rule above the block, directly or after one blank line.
        let mut up = top;
        while up > 0 && blank(lines[up - 1]) && top - up < 1 {
            up -= 1;
        }
        if up > 0 && is_rule(lines[up - 1]) {
            top = up - 1;
        }
    } else if first < top && lines[first..top].iter().all(|l| is_rule(l)) {
        top = first;
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
    let anchor = find_notification(&lines, ours)?;
    let top = quote_start(&lines, anchor, ours);
    let mut kept: Vec<&str> = lines[..top].to_vec();
    if unquote(lines[anchor]).0 > 0 {
        let below = &lines[notification_body(&lines, anchor)..];
        let last_own = below.iter().rposition(|l| {
            let (depth, t) = unquote(l);
            depth == 0 && !t.is_empty()
        });
        if let Some(last) = last_own {
            kept.push("");
            kept.extend(
                below[..=last]
                    .iter()
                    .skip_while(|l| unquote(l).1.is_empty()),
            );
        }
    }
    Some(tidy(&kept))
}

/// Trims blank and empty-quote lines at both ends and collapses runs of blank lines.
fn tidy(lines: &[&str]) -> String {
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
