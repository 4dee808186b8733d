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

/// Removes the quoted part of a reply: everything from an Outlook header block
/// (`From: … Sent: …`, `-----Original Message-----`, a `____` rule before `From:`) on, the
/// "On … wrote:" attribution and every `>` line (top- and bottom-posting alike); trims the
/// blank lines left behind.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if is_separator_banner(t) {
            cut = i;
            break;
        }
        let outlook_header = |j: usize| {
            lines.get(j).is_some_and(|l| is_header_from(l))
                && lines[j + 1..lines.len().min(j + 5)]
                    .iter()
                    .any(|l| is_header_sent(l))
        };
        if t.chars().all(|c| c == '_') && t.len() >= 10 && outlook_header(i + 1) {
            cut = i;
            break;
        }
        if outlook_header(i) {
            cut = i;
            break;
        }
    }
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
