//! A message inside a part of another: a forwarded `message/rfc822`, an `.eml` attached under
//! any type at all, a forward inside that. Its parts may be base64 or quoted-printable in any
//! charset, so a search of the bytes as sent misses what they say; this reads them decoded,
//! for the leak guard (`relay::Fingerprints`) to look at.

use mail_parser::{Message, PartType};

use super::{id_list, parse_message};

/// How deep messages inside messages are read (the hostile corpus nests 20).
const MAX_DEPTH: usize = 8;

/// What is inside a message found in a part, one item at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inside<'a> {
    /// A Message-ID, In-Reply-To or References entry (with its `<>`) of it or of a message
    /// inside it.
    Id(&'a str),
    /// A decoded subject, or the decoded contents of a part (text as UTF-8, anything else
    /// as sent).
    Content(&'a [u8]),
}

/// Reads `data` as a message if it begins like one (a header field on its first line) and
/// hands `visit` every id and every decoded content in it, at every depth, until `visit`
/// returns something. `None` when it is no message or nothing was found.
pub fn search_embedded<T>(
    data: &[u8],
    visit: &mut dyn FnMut(Inside<'_>) -> Option<T>,
) -> Option<T> {
    search(data, 0, visit)
}

fn search<T>(
    data: &[u8],
    depth: usize,
    visit: &mut dyn FnMut(Inside<'_>) -> Option<T>,
) -> Option<T> {
    if depth >= MAX_DEPTH || !looks_like_message(data) {
        return None;
    }
    let msg = parse_message(data).ok()??;
    walk(&msg, depth, visit)
}

fn walk<T>(
    msg: &Message<'_>,
    depth: usize,
    visit: &mut dyn FnMut(Inside<'_>) -> Option<T>,
) -> Option<T> {
    let mut ids: Vec<String> = msg
        .message_id()
        .map(|id| format!("<{}>", id.trim_matches(['<', '>'])))
        .into_iter()
        .collect();
    ids.extend(id_list(msg.in_reply_to()));
    ids.extend(id_list(msg.references()));
    for id in &ids {
        if let Some(found) = visit(Inside::Id(id)) {
            return Some(found);
        }
    }
    if let Some(found) = msg
        .subject()
        .and_then(|s| visit(Inside::Content(s.as_bytes())))
    {
        return Some(found);
    }
    for part in &msg.parts {
        let found = match &part.body {
            PartType::Message(inner) if depth + 1 < MAX_DEPTH => walk(inner, depth + 1, visit),
            PartType::Message(_) | PartType::Multipart(_) => None,
            PartType::Text(_)
            | PartType::Html(_)
            | PartType::Binary(_)
            | PartType::InlineBinary(_) => visit(Inside::Content(part.contents()))
                .or_else(|| search(part.contents(), depth + 1, visit)),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Whether `data` begins with an RFC 5322 header field (`Name: value`, the name printable
/// ASCII without a colon), as a message does and a PDF, an image or a `.msg` does not.
fn looks_like_message(data: &[u8]) -> bool {
    let name_len = data
        .iter()
        .take(77)
        .take_while(|b| b.is_ascii_graphic() && **b != b':')
        .count();
    name_len > 0 && data.get(name_len) == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id and content `search_embedded` hands over, as text.
    fn everything(data: &[u8]) -> Vec<String> {
        let mut seen = Vec::new();
        let none: Option<()> = search_embedded(data, &mut |inside| {
            seen.push(match inside {
                Inside::Id(id) => format!("id {id}"),
                Inside::Content(c) => String::from_utf8_lossy(c).trim().to_string(),
            });
            None
        });
        assert!(none.is_none());
        seen
    }

    #[test]
    fn a_forward_inside_an_attached_message_is_read_decoded() {
        // An .eml whose forwarded message is base64 and whose text is quoted-printable in
        // UTF-16: nothing of it is readable in the bytes as sent.
        let inner = "Message-ID: <notify.1001.abc@example.test>\r\nSubject: =?utf-8?b?W0FjbWUgU3VwcG9ydCAjMTAwMV0ge3JlZjoxMDAxLnh5en0=?=\r\n\
Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\nVABpAGMAawBlAHQAIAAjADEAMAAwADEA\r\n";
        let b64 = data_encoding::BASE64_MIME.encode(inner.as_bytes());
        let outer = format!(
            "From: jason@example.test\r\nSubject: Fwd: Help\r\nIn-Reply-To: <x@y>\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n\
--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        );
        let seen = everything(outer.as_bytes());
        for expected in [
            "id <x@y>",
            "FYI",
            "id <notify.1001.abc@example.test>",
            "[Acme Support #1001] {ref:1001.xyz}",
            "Ticket #1001",
        ] {
            assert!(seen.iter().any(|s| s == expected), "{expected}: {seen:?}");
        }
    }

    #[test]
    fn only_what_begins_like_a_message_is_parsed() {
        assert!(looks_like_message(b"Return-Path: <a@b>\r\n"));
        assert!(looks_like_message(b"X-Mozilla-Status: 0001\n"));
        assert!(!looks_like_message(b"%PDF-1.7\n"));
        assert!(!looks_like_message(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"));
        assert!(!looks_like_message(b": no name\r\n"));
        assert!(!looks_like_message(b""));
        assert!(everything(b"%PDF-1.7\nFrom: x\n").is_empty());
    }

    #[test]
    fn nesting_is_read_to_a_bounded_depth() {
        let mut mail = "Subject: deepest\r\n\r\nbottom\r\n".to_string();
        for _ in 0..30 {
            mail = format!("Subject: level\r\nContent-Type: message/rfc822\r\n\r\n{mail}");
        }
        let seen = everything(mail.as_bytes());
        assert!(!seen.iter().any(|s| s == "bottom"), "{seen:?}");
    }
}
