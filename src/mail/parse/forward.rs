//! An agent's forward of a customer's mail: the forwarded sender, subject and text, found
//! in an attached message or a client's inline forward block.

use super::{Mailbox, Mime, first_mailbox};
use crate::domain::EmailAddress;
use crate::mail::sanitize;

/// A customer's mail found inside a forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The original sender.
    pub from: Mailbox,
    /// The original subject.
    pub subject: String,
    /// The original text.
    pub text: String,
    /// The original Message-ID, when the forward kept it (attached message).
    pub message_id: Option<String>,
}

const FORWARD_MARKERS: &[&str] = &[
    "---------- forwarded message",
    "-------- forwarded message",
    "begin forwarded message:",
];

/// Whether a subject says "forwarded" the way mail clients write it (Fwd:, FW:, WG:, TR:, RV:,
/// Enc:, VS:, Doorst:).
pub fn is_forward_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_ascii_lowercase();
    [
        "fwd:", "fw:", "wg:", "tr:", "rv:", "enc:", "vs:", "doorst:", "[fwd:",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// The address (and name) in a quoted header line such as `From: *Alice Doe* <alice@x.test>`.
fn quoted_from(value: &str) -> Option<Mailbox> {
    let value = value.trim();
    let (name, addr) = match (value.rfind('<'), value.rfind('>')) {
        (Some(l), Some(r)) if l < r => (&value[..l], &value[l + 1..r]),
        _ => (
            "",
            value
                .split_whitespace()
                .find(|w| w.contains('@'))
                .unwrap_or_default(),
        ),
    };
    let address = EmailAddress::parse(
        addr.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace()),
    )?;
    let name = sanitize::header_text(
        name.trim()
            .trim_matches(|c| c == '"' || c == '*' || c == '\''),
        80,
    );
    Some(Mailbox {
        name: (!name.is_empty()).then_some(name),
        address,
    })
}

/// Finds the customer's mail inside a forward: an attached `message/rfc822` first, else the
/// quoted header block that Gmail, Thunderbird, Apple Mail and Outlook put above the text.
pub fn forwarded(mime: &Mime<'_>) -> Option<Forwarded> {
    let msg = mime.message()?;
    for part in msg.attachments() {
        if let Some(inner) = part.message() {
            let (from, _) = first_mailbox(inner.from());
            if let Some(from) = from {
                return Some(Forwarded {
                    from,
                    subject: sanitize::header_text(inner.subject().unwrap_or_default(), 250),
                    text: inner
                        .body_text(0)
                        .map(|t| t.into_owned())
                        .unwrap_or_default(),
                    message_id: inner
                        .message_id()
                        .map(|id| sanitize::header_text(id, 250))
                        .filter(|id| !id.is_empty() && !id.contains(' '))
                        .map(|id| format!("<{}>", id.trim_matches(['<', '>']))),
                });
            }
        }
    }
    let text = msg.body_text(0)?.into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let l = l.trim().to_lowercase();
        FORWARD_MARKERS.iter().any(|m| l.starts_with(m))
    })?;
    let mut from = None;
    let mut subject = String::new();
    let mut body_start = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1).take(12) {
        let t = line.trim();
        if t.is_empty() && from.is_some() {
            body_start = Some(i + 1);
            break;
        }
        let lower = t.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("from:").map(|_| &t[5..]) {
            from = quoted_from(v);
        } else if lower.starts_with("subject:") {
            subject = sanitize::header_text(&t[8..], 250);
        }
    }
    let from = from?;
    let body = body_start
        .map(|b| lines[b..].join("\n"))
        .unwrap_or_default();
    Some(Forwarded {
        from,
        subject,
        text: body.trim().to_string(),
        message_id: None,
    })
}
