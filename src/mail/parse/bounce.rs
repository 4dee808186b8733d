//! Delivery status notifications (RFC 3464): which of our mails bounced, and why.

use mail_parser::MimeHeaders;

use super::{Mime, parse_message};
use crate::mail::sanitize;

/// What a delivery status notification (RFC 3464) says about one of our mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the mail that could not be delivered.
    pub message_id: String,
    /// The server's diagnostic (or the status code), cleaned for display.
    pub diagnostic: String,
}

/// Reads a DSN: the returned message (or its headers) names the Message-ID, the
/// delivery-status part the reason. (A `text/rfc822-headers` part is parsed on its own.)
pub fn bounce(mime: &Mime<'_>) -> Option<Bounce> {
    let msg = mime.message()?;
    let mut message_id = None;
    let mut diagnostic = String::new();
    for part in &msg.parts {
        let ct = part
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(inner) = part.message() {
            message_id = message_id.or_else(|| inner.message_id().map(str::to_string));
        } else if ct == "text/rfc822-headers" {
            let headers = parse_message(part.contents()).ok().flatten();
            message_id =
                message_id.or_else(|| headers.and_then(|h| h.message_id().map(str::to_string)));
        } else if ct == "message/delivery-status" {
            let text = String::from_utf8_lossy(part.contents());
            let field = |name: &str| {
                text.lines()
                    .find(|l| {
                        l.len() > name.len()
                            && l.as_bytes()[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                    })
                    .map(|l| l[name.len()..].trim().to_string())
            };
            diagnostic = field("Diagnostic-Code:")
                .map(|d| {
                    d.split_once(';')
                        .map_or(d.clone(), |(_, v)| v.trim().to_string())
                })
                .or_else(|| field("Status:"))
                .unwrap_or_default();
        }
    }
    let message_id = sanitize::header_text(&message_id?, 250);
    Some(Bounce {
        message_id: format!("<{}>", message_id.trim_matches(['<', '>'])),
        diagnostic: sanitize::header_text(&diagnostic, 300),
    })
}
