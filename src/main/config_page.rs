//! The manual page frontdesk.toml(5), generated from the shipped example configuration,
//! which lists every key with its default and what it does: one source, so the page cannot
//! fall behind the file operators copy. `tests/cli.rs` checks that every key the daemon
//! reads is on the page.

/// The example configuration, as shipped in /usr/share/doc/frontdesk/examples.
const EXAMPLE: &str = include_str!("../../config/frontdesk.example.toml");

/// One key of a section: its name, the example's value and its description.
struct Key {
    name: String,
    value: String,
    text: Vec<String>,
}

/// A section (`[imap]`, `[[agents]]`, `[inboxes.imap]`) with its description and keys.
struct Section {
    header: String,
    text: Vec<String>,
    keys: Vec<Key>,
}

/// The example read back into sections and keys. Commented-out keys (`# lead = …`) are
/// keys without a default; a comment at column 0 before a section describes that section; a
/// comment lined up after a key continues that key's description.
fn sections() -> (Vec<String>, Vec<Section>) {
    let mut intro = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut prose: Vec<String> = Vec::new();
    for line in EXAMPLE.lines() {
        let trimmed = line.trim_start();
        let uncommented = trimmed.trim_start_matches('#').trim();
        if uncommented.starts_with('[') && uncommented.ends_with(']') {
            let header = uncommented.to_string();
            if let Some(known) = sections.iter().position(|s| s.header == header) {
                // A second example of the same table (another route): same keys.
                let s = sections.remove(known);
                sections.push(s);
            } else {
                sections.push(Section {
                    header,
                    text: std::mem::take(&mut prose),
                    keys: Vec::new(),
                });
            }
            prose.clear();
            continue;
        }
        if let Some(key) = key_line(uncommented) {
            if let Some(section) = sections.last_mut()
                && !section.keys.iter().any(|k| k.name == key.name)
            {
                section.keys.push(key);
            }
            continue;
        }
        let comment = trimmed.strip_prefix('#').map(str::trim);
        match (comment, continues_key(line)) {
            (Some(text), _) if sections.is_empty() => intro.push(text.to_string()),
            (Some(text), true) => {
                let text = text.trim_start_matches('#').trim();
                if let Some(key) = sections.last_mut().and_then(|s| s.keys.last_mut()) {
                    key.text.push(text.to_string());
                }
            }
            (Some(text), false) => prose.push(text.to_string()),
            (None, _) => {
                if !prose.is_empty() && line.trim().is_empty() {
                    prose.push(String::new());
                }
            }
        }
    }
    (intro, sections)
}

/// Whether `line` is a comment lined up in the description column after a key (its `#` far
/// to the right, also behind a commented-out key's own `#`), not prose at the left margin.
fn continues_key(line: &str) -> bool {
    let rest = line.strip_prefix('#').unwrap_or(line);
    let indent = rest.len() - rest.trim_start().len();
    indent >= 20 && rest.trim_start().starts_with('#')
}

/// `key = value   # description` (already without a leading `#`).
fn key_line(line: &str) -> Option<Key> {
    let (name, rest) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let (value, text) = match rest.find("  #") {
        Some(at) => (
            &rest[..at],
            rest[at..].trim().trim_start_matches('#').trim(),
        ),
        None => (rest, ""),
    };
    Some(Key {
        name: name.to_string(),
        value: value.trim().to_string(),
        text: (!text.is_empty())
            .then(|| text.to_string())
            .into_iter()
            .collect(),
    })
}

/// The page in roff.
pub(crate) fn man_page() -> Vec<u8> {
    use clap_mangen::roff::{Roff, bold, italic, roman};
    let (intro, sections) = sections();
    let mut roff = Roff::new();
    roff.control(
        "TH",
        [
            "FRONTDESK.TOML",
            "5",
            "",
            env!("CARGO_PKG_VERSION"),
            "File Formats",
        ],
    );
    roff.control("SH", ["NAME"]);
    roff.text([roman(
        "frontdesk.toml - configuration of the frontdesk support daemon",
    )]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([roman("/etc/frontdesk/frontdesk.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(intro.join(" "))]);
    roff.control("PP", []);
    roff.text([roman(
        "A file with mistakes is refused with every problem at once, each with its key and a \
         fix. frontdesk config show prints the configuration the daemon reads, defaults filled \
         in and secrets redacted; with --changed only what differs from the defaults.",
    )]);
    for section in &sections {
        roff.control("SH", [section.header.as_str()]);
        let text = section
            .text
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        if !text.trim().is_empty() {
            roff.text([roman(text.trim())]);
        }
        for key in &section.keys {
            roff.control("TP", []);
            roff.text([
                bold(key.name.as_str()),
                roman(" = "),
                italic(key.value.as_str()),
            ]);
            roff.text([roman(key.text.join(" "))]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("frontdesk(1), systemd.exec(5) (LoadCredential=)")]);
    roff.render().into_bytes()
}
