//! Raw RFC 5322 bytes → [`Mime`] (mail-parser run once) → [`ParsedMail`], the one typed view
//! of an incoming mail that every later stage uses, and the rest a stage may need of the same
//! [`Mime`]: attachments, an answer's text and HTML, a bounce, a forward. Pure: no I/O. mail-parser never panics and decodes charsets and
//! encoded words; this module re-validates what it returns (addresses, header text) because a
//! hostile mail can decode into anything.

use mail_parser::{Address, HeaderValue, Message, MessagePart, MimeHeaders};
use serde::{Deserialize, Serialize};

use crate::domain::{EmailAddress, Ticket};
use crate::mail::{sanitize, signals};

mod bounce;
mod embedded;
mod forward;
mod mime;
mod parts;

pub use bounce::{Bounce, bounce};
pub use embedded::{Inside, search_embedded};
pub use forward::{Forwarded, forwarded, is_forward_subject};
pub use mime::Mime;
use mime::parse_message;
#[cfg(test)]
pub(crate) use mime::parses;
pub use parts::{
    Attachment, ReplyHtml, SPLICE_MIN_BYTES, attached_messages, attachments, clean_base64_len,
    relay_attachments, reply_html, reply_text,
};

/// A sender or recipient with a display name that is already safe for a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Display name with control and bidi characters removed, if one was given.
    pub name: Option<String>,
    /// The validated address.
    pub address: EmailAddress,
}

impl Mailbox {
    /// The customer of `ticket` as our mail to them names them.
    pub fn customer_of(ticket: &Ticket) -> Mailbox {
        Mailbox {
            name: ticket.customer_name.clone(),
            address: ticket.customer.clone(),
        }
    }
}

/// What the Return-Path header said, which RFC 3834 §2 needs to tell bounces apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnPath {
    /// No Return-Path header (mail not yet delivered, or a server that does not add one).
    #[default]
    Absent,
    /// `Return-Path: <>`: a bounce or other mail that must never be answered.
    Null,
    /// A real envelope sender.
    Address(String),
}

/// Header facts the classifier needs, extracted once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationHeaders {
    /// `Auto-Submitted` (RFC 3834), raw value.
    pub auto_submitted: Option<String>,
    /// The vendors' auto-reply fields that are set (`X-Autoreply`, `X-Autorespond`,
    /// Exchange's inbox-rule loop, iCloud's `X-Apple-Action: VACATION` …; see
    /// [`signals::autoreply_header`]), each name once.
    pub autoreply_markers: Vec<String>,
    /// `X-Auto-Response-Suppress` (Microsoft), raw value.
    pub auto_response_suppress: Option<String>,
    /// `Precedence`, raw value.
    pub precedence: Option<String>,
    /// The first list manager's field present (`List-*` of RFC 2369/2919, `Mailing-List`,
    /// `X-Mailing-List` …; see [`signals::list_header`]), by name, if any.
    pub list_header: Option<String>,
    /// `Content-Type: multipart/report` with its report-type (RFC 3464/6522), if so.
    pub report_type: Option<String>,
    /// Our own loop marker header, if present, with its value.
    pub loop_marker: Option<String>,
}

/// Name of the header we put on everything we send, and recognise when it comes back.
pub const LOOP_HEADER: &str = "X-Frontdesk-Loop";

/// An attachment's metadata; the bytes stay in the stored raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// File name, cleaned, if the sender gave one.
    pub name: Option<String>,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// The typed view of one incoming mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMail {
    /// The author (`From`), if it holds a valid address.
    pub from: Option<Mailbox>,
    /// The raw `From` text when it did not hold a valid address (for the quarantine reason).
    pub from_raw: Option<String>,
    /// `Reply-To`, if valid.
    pub reply_to: Option<Mailbox>,
    /// Every valid address in To, Cc, Delivered-To and X-Original-To (RFC 5233 routing).
    pub recipients: Vec<EmailAddress>,
    /// The addresses in To and Cc as the sender wrote them (in order, the valid ones only):
    /// the people the customer copied, who may become a ticket's participants.
    #[serde(default)]
    pub copied: Vec<EmailAddress>,
    /// Subject on one line, cleaned, possibly empty.
    pub subject: String,
    /// `Message-ID` with angle brackets, e.g. `<abc@customer.test>`.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids with angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids with angle brackets, oldest first.
    pub references: Vec<String>,
    /// Envelope sender as recorded at delivery.
    pub return_path: ReturnPath,
    /// What the headers say about automation.
    pub automation: AutomationHeaders,
    /// The plain text body (HTML-only mail converted to text).
    pub text: String,
    /// Attachments.
    pub attachments: Vec<AttachmentInfo>,
    /// `Authentication-Results` header values (RFC 8601), topmost first, each whole (one
    /// longer than 16 KiB is left out rather than cut).
    pub auth_results: Vec<String>,
    /// The `Content-Language` header as written (cleaned), for the ticket's language.
    #[serde(default)]
    pub content_language: Option<String>,
    /// The UTC offset of the `Date` header in seconds (`+0100` → 3600): the sender's time
    /// zone as far as the mail tells; `None` without a date or for `-0000` (RFC 5322: "no
    /// information about the local time zone").
    #[serde(default)]
    pub date_offset: Option<i32>,
}

/// The longest `Authentication-Results` field kept, in bytes (a verifier's field with a dozen
/// signatures and their comments stays far below it); longer ones are dropped, not cut.
const MAX_AUTH_RESULTS: usize = 16 * 1024;

/// Why a mail could not be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not even one header line was found.
    #[error("no RFC 5322 header found")]
    NoHeaders,
    /// mail-parser itself failed (panicked) on the bytes.
    #[error("the MIME parser failed on this mail")]
    ParserFailed,
}

fn first_mailbox(addr: Option<&Address<'_>>) -> (Option<Mailbox>, Option<String>) {
    let Some(first) = addr.and_then(|a| a.first()) else {
        return (None, None);
    };
    let raw = first.address().unwrap_or_default();
    match EmailAddress::parse(raw) {
        Some(address) => (
            Some(Mailbox {
                name: first
                    .name()
                    .map(|n| sanitize::header_text(n, 80))
                    .filter(|n| !n.is_empty()),
                address,
            }),
            None,
        ),
        None => (None, Some(sanitize::header_text(raw, 200))),
    }
}

fn all_addresses<'a>(addr: Option<&'a Address<'a>>) -> impl Iterator<Item = EmailAddress> + 'a {
    addr.into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address().and_then(EmailAddress::parse))
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    ids.into_iter()
        .map(|id| sanitize::header_text(&id, 250))
        .filter(|id| !id.is_empty() && !id.contains(' '))
        .map(|id| format!("<{}>", id.trim_matches(['<', '>'])))
        .collect()
}

// "Original Message" banners are left out on purpose: Outlook puts them above every quoted
// reply, and a Reply-All with Cc support@ is not a forward.
/// Reads a parsed mail. Fails only when no header at all is found; every other oddity yields
/// a `ParsedMail` with the missing parts empty, for the classifier to judge.
pub fn parse(mime: &Mime<'_>) -> Result<ParsedMail, ParseError> {
    let msg = match mime.header() {
        Ok(Some(msg)) => msg,
        Ok(None) => return Err(ParseError::NoHeaders),
        Err(e) => return Err(e.clone()),
    };
    if msg.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let (from, from_raw) = first_mailbox(msg.from());
    let (reply_to, _) = first_mailbox(msg.reply_to());
    Ok(ParsedMail {
        from,
        from_raw,
        reply_to,
        recipients: recipients(msg),
        copied: all_addresses(msg.to())
            .chain(all_addresses(msg.cc()))
            .collect(),
        subject: sanitize::header_text(msg.subject().unwrap_or_default(), 250),
        message_id: msg
            .message_id()
            .map(|id| sanitize::header_text(id, 250))
            .filter(|id| !id.is_empty() && !id.contains(' '))
            .map(|id| format!("<{}>", id.trim_matches(['<', '>']))),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        return_path: return_path(msg),
        automation: automation(msg),
        text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        attachments: msg.attachments().map(attachment_info).collect(),
        auth_results: msg
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Authentication-Results"))
            // Whole or not at all: a cut field can end inside a value, and
            // `header.d=example.com.evil.test` cut after `example.com` would vouch for the
            // wrong domain.
            .filter(|(_, v)| v.len() <= MAX_AUTH_RESULTS)
            .map(|(_, v)| sanitize::header_text(v, MAX_AUTH_RESULTS))
            .collect(),
        content_language: msg
            .header_raw("Content-Language")
            .map(|v| sanitize::header_text(v, 100))
            .filter(|v| !v.is_empty()),
        date_offset: date_offset(msg),
    })
}

/// The Date header's UTC offset in seconds, if it states one (not `-0000`) within ±14 h.
fn date_offset(msg: &Message<'_>) -> Option<i32> {
    let date = msg.date()?;
    let secs = i32::from(date.tz_hour) * 3600 + i32::from(date.tz_minute) * 60;
    if secs == 0 && date.tz_before_gmt || secs > 14 * 3600 || date.tz_minute >= 60 {
        return None;
    }
    Some(if date.tz_before_gmt { -secs } else { secs })
}

/// [`parse`] of bytes that are not parsed yet: for a caller that reads nothing else of the
/// mail (the CLI, tests). One that does builds a [`Mime`] and hands it to every reader.
pub fn parse_bytes(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    parse(&Mime::new(raw))
}

/// Every recipient: To, Cc, and the envelope recipients the delivering server recorded
/// (`Delivered-To`, `X-Original-To`; RFC 5233 details survive only there), sorted, once each.
fn recipients(msg: &Message<'_>) -> Vec<EmailAddress> {
    let mut recipients: Vec<EmailAddress> = all_addresses(msg.to())
        .chain(all_addresses(msg.cc()))
        .collect();
    for name in ["Delivered-To", "X-Original-To"] {
        for (_, value) in msg
            .headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            if let Some(a) = EmailAddress::parse(value) {
                recipients.push(a);
            }
        }
    }
    recipients.sort();
    recipients.dedup();
    recipients
}

/// The first header `name`, cleaned for logs and comparison.
fn raw_header(msg: &Message<'_>, name: &str) -> Option<String> {
    msg.headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| sanitize::header_text(v, 500))
}

/// The envelope sender as the delivering server recorded it; `<>` is the null sender.
fn return_path(msg: &Message<'_>) -> ReturnPath {
    match msg
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case("Return-Path"))
    {
        None => ReturnPath::Absent,
        Some((_, v)) => {
            let v = v
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            if v.is_empty() {
                ReturnPath::Null
            } else {
                ReturnPath::Address(sanitize::header_text(v, 250))
            }
        }
    }
}

/// The headers that say whether a mail was sent by a machine, for the classifier.
fn automation(msg: &Message<'_>) -> AutomationHeaders {
    let mut autoreply_markers: Vec<String> = Vec::new();
    let mut list_header = None;
    for (name, value) in msg.headers_raw() {
        if signals::autoreply_header(name, value)
            && !autoreply_markers
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name))
        {
            autoreply_markers.push(name.to_string());
        }
        if list_header.is_none() && signals::list_header(name, value) {
            list_header = Some(name.to_string());
        }
    }
    let report_type = msg.root_part().content_type().and_then(|ct| {
        (ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report")))
        .then(|| {
            ct.attribute("report-type")
                .unwrap_or("")
                .to_ascii_lowercase()
        })
    });
    AutomationHeaders {
        auto_submitted: raw_header(msg, "Auto-Submitted"),
        autoreply_markers,
        auto_response_suppress: raw_header(msg, "X-Auto-Response-Suppress"),
        precedence: raw_header(msg, "Precedence"),
        list_header,
        report_type,
        loop_marker: raw_header(msg, LOOP_HEADER),
    }
}

/// What the classifier needs to know of an attachment: name, type, size.
fn attachment_info(part: &MessagePart<'_>) -> AttachmentInfo {
    AttachmentInfo {
        name: part
            .attachment_name()
            .map(|n| sanitize::header_text(n, 200)),
        content_type: part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .map(|s| sanitize::header_text(&s, 100).to_ascii_lowercase())
            .unwrap_or_else(|| "application/octet-stream".into()),
        size: part.len(),
    }
}

#[cfg(test)]
mod tests;
