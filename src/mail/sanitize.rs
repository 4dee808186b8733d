//! Cleaning of customer-controlled text before it goes anywhere near a header of a mail we
//! send. lettre panics on CR/LF in a display name, and bidi controls let a sender disguise a
//! name, so every value derived from an incoming mail passes through here first.

/// Bidirectional formatting characters (Unicode TR9) that can reorder what a reader sees.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Zero-width characters that carry no meaning in a name or subject.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Turns arbitrary text into one safe header-friendly line: control characters (CR, LF, TAB,
/// NUL, DEL, C1), bidi controls and zero-width characters become spaces or vanish, runs of
/// whitespace collapse, and the result is cut to `max_chars` characters.
pub fn header_text(input: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max_chars * 4));
    let mut pending_space = false;
    let mut count = 0;
    for c in input.chars() {
        if is_bidi_control(c) || is_invisible(c) {
            continue;
        }
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if count + 1 >= max_chars {
                break;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= max_chars {
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Cleans one line of body text for quoting: removes control and bidi characters but keeps
/// inner spacing, and cuts the line to `max_chars` characters with an ellipsis.
pub fn body_line(input: &str, max_chars: usize) -> String {
    let cleaned: String = input
        .chars()
        .filter(|&c| !is_bidi_control(c) && !is_invisible(c))
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let trimmed = cleaned.trim_end();
    if trimmed.chars().count() > max_chars {
        let mut cut: String = trimmed.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_removes_line_breaks_and_bidi() {
        assert_eq!(
            header_text("Eve\r\nBcc: victim@x.test", 100),
            "Eve Bcc: victim@x.test"
        );
        assert_eq!(header_text("  Alice \t Doe  ", 100), "Alice Doe");
        assert_eq!(header_text("\u{202E}gnp.exe\u{202C}", 100), "gnp.exe");
        assert_eq!(header_text("a\u{0}b\u{7f}c\u{85}d", 100), "a b c d");
    }

    #[test]
    fn header_text_is_cut_to_length() {
        let long = "x".repeat(5000);
        assert_eq!(header_text(&long, 200).chars().count(), 200);
        assert_eq!(header_text("ab cd", 3), "ab");
    }

    #[test]
    fn body_line_keeps_spacing_and_cuts_with_ellipsis() {
        assert_eq!(body_line("  indented\ttext\r", 100), "  indented text");
        assert_eq!(body_line("abcdef", 4), "abc…");
    }
}
