//! The parts a notification or a relayed answer carries along: attachments (and which of
//! them an answer may pass on) and an answer's own text.

use std::borrow::Cow;
use std::ops::Range;

use mail_parser::{Encoding, MessagePart, MimeHeaders, PartType};

use super::Mime;
use crate::mail::sanitize;

/// An attachment with its decoded bytes, to pass along to an agent or a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment<'a> {
    /// File name, cleaned; a generic name when the sender gave none.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// Decoded bytes, borrowed from the mail's parse ([`Mime`]) they were read from (a 25 MB
    /// attachment is not copied to be passed on).
    pub data: Cow<'a, [u8]>,
    /// Its Content-ID without angle brackets, cleaned, if it has one (an inline image's,
    /// which an HTML body shows as `cid:…`).
    pub content_id: Option<String>,
    /// Where the attachment's base64 text stands in the raw mail it was parsed from, for a
    /// big binary one ([`SPLICE_MIN_BYTES`]) whose text is clean base64 of `data`'s length
    /// (the text mail-parser decoded `data` from, and clean base64 has one decoding; the
    /// bytes themselves are not compared, which would mean a second decoded copy): the copy we send is written from there once the parse is gone
    /// (`OutgoingMail::splice`), so a 25 MB attachment is not held decoded and encoded at
    /// once. `None` for one to encode from `data`.
    pub base64_in_raw: Option<Range<usize>>,
}

/// Attachments at least this big (decoded) are spliced into the mail we send from their
/// base64 text in the raw mail ([`Attachment::base64_in_raw`]); smaller ones are encoded
/// from their bytes as before.
pub const SPLICE_MIN_BYTES: usize = 64 * 1024;

impl Attachment<'_> {
    /// The attachment with bytes of its own, to outlive the parse it was read from.
    pub fn into_owned(self) -> Attachment<'static> {
        Attachment {
            name: self.name,
            content_type: self.content_type,
            data: Cow::Owned(self.data.into_owned()),
            content_id: self.content_id,
            // Owned bytes outlive the raw mail: nothing to splice from.
            base64_in_raw: None,
        }
    }
}

/// The attachments of a mail with their bytes (nested messages included as `.eml`).
pub fn attachments<'m>(mime: &'m Mime<'_>) -> Vec<Attachment<'m>> {
    attachments_where(mime, |_| true)
}

/// The attachments that are messages (`message/*`, as [`attachments`] gives their type),
/// without copying the bytes of any other: the leak guard reads these.
pub fn attached_messages<'m>(mime: &'m Mime<'_>) -> Vec<Attachment<'m>> {
    attachments_where(mime, |part| content_type(part).starts_with("message/"))
}

/// The attachments whose part `keep` accepts, numbered among all of the mail's.
fn attachments_where<'m>(
    mime: &'m Mime<'_>,
    keep: impl Fn(&MessagePart<'_>) -> bool,
) -> Vec<Attachment<'m>> {
    let Some(msg) = mime.message() else {
        return Vec::new();
    };
    msg.attachments()
        .enumerate()
        .filter(|(_, part)| keep(part))
        .map(|(i, part)| attachment(mime, msg, i, part))
        .collect()
}

/// An attachment's MIME type, cleaned and lower case; `application/octet-stream` if it has
/// none that is whole.
fn content_type(part: &MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .map(|s| sanitize::header_text(&s, 100).to_ascii_lowercase())
        .filter(|s| s.contains('/') && !s.contains([' ', ';', '"']))
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// Part `part` of `msg`, the mail's attachment number `i` (from 0), with its bytes.
fn attachment<'m>(
    mime: &Mime<'_>,
    msg: &mail_parser::Message<'_>,
    i: usize,
    part: &'m MessagePart<'_>,
) -> Attachment<'m> {
    let content_type = content_type(part);
    let name = part
        .attachment_name()
        .map(|n| sanitize::header_text(n, 200).replace(['/', '\\', '"'], "_"))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("attachment-{}", i + 1));
    let data = match part.message() {
        Some(inner) => inner.raw_message(),
        None => part.contents(),
    };
    let content_id = part
        .content_id()
        .map(|c| {
            sanitize::header_text(c, 250)
                .trim_matches(['<', '>'])
                .to_string()
        })
        .filter(|c| !c.is_empty());
    // Binary parts only: a text part's contents are converted to UTF-8 from its charset, so
    // its base64 text is not what the agent would have got.
    let base64_in_raw = (matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_))
        && part.encoding == Encoding::Base64
        && data.len() >= SPLICE_MIN_BYTES)
        .then(|| {
            msg.raw_message
                .get(part.offset_body as usize..part.offset_end as usize)
        })
        .flatten()
        .filter(|text| clean_base64_len(text) == Some(data.len()))
        .and_then(|text| mime.offset_of(text));
    Attachment {
        name,
        content_type,
        data: Cow::Borrowed(data),
        content_id,
        base64_in_raw,
    }
}

/// How many bytes `text` decodes to, if it is clean base64: the alphabet and white space
/// only, at most two `=` at the very end, whole groups of four. Such text decodes the same
/// with every decoder, so it can stand for the bytes mail-parser decoded from it.
pub fn clean_base64_len(text: &[u8]) -> Option<usize> {
    let (mut chars, mut pads) = (0usize, 0usize);
    for &b in text {
        match b {
            b'\r' | b'\n' | b' ' | b'\t' => {}
            b'=' => pads += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if pads == 0 => chars += 1,
            _ => return None,
        }
    }
    ((chars + pads) % 4 == 0 && pads <= 2).then(|| (chars + pads) / 4 * 3 - pads)
}

/// The attachments an agent's answer may pass on to a customer: not attached messages
/// (they carry our notification and its reply token), not Outlook's `winmail.dat`, not
/// inline images of a signature.
pub fn relay_attachments<'m>(mime: &'m Mime<'_>) -> Vec<Attachment<'m>> {
    attachments_where(mime, relayable)
}

/// Whether an answer's attachment `part` may go to the customer (see [`relay_attachments`]).
fn relayable(part: &MessagePart<'_>) -> bool {
    let ct = part
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
        .unwrap_or_default();
    let inline = part
        .content_disposition()
        .is_none_or(|d| d.ctype().eq_ignore_ascii_case("inline"));
    part.message().is_none()
        && !ct.starts_with("message/")
        && ct != "text/rfc822-headers"
        && ct != "application/ms-tnef"
        && !(inline && part.content_id().is_some())
}

/// An answer's HTML body, and whether a text body goes beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHtml {
    /// The HTML, decoded.
    pub html: String,
    /// Whether the answer has a `text/plain` body too (`multipart/alternative`).
    pub with_text: bool,
}

/// The HTML body of an answer, if it has one (not the HTML that mail-parser makes of a text
/// body).
pub fn reply_html(mime: &Mime<'_>) -> Option<ReplyHtml> {
    let msg = mime.message()?;
    if !msg.html_part(0)?.is_text_html() {
        return None;
    }
    Some(ReplyHtml {
        html: msg.body_html(0)?.into_owned(),
        with_text: msg.text_part(0).is_some_and(|p| !p.is_text_html()),
    })
}

/// The text of a reply with as much of the quote removed as the HTML allows: for HTML-only
/// mail (Gmail, Outlook on the web), the HTML is cut at the client's quote container before
/// it is turned into text, since converted quotes carry no `>` marks.
pub fn reply_text(mime: &Mime<'_>) -> Option<String> {
    let msg = mime.message()?;
    if msg.text_part(0).is_some_and(|p| !p.is_text_html()) {
        return msg.body_text(0).map(|t| t.into_owned());
    }
    let html = msg.body_html(0)?.into_owned();
    let lower = html.to_ascii_lowercase();
    let cut = [
        "class=\"gmail_quote",
        "class=\"gmail_attr",
        "<blockquote type=\"cite",
        "id=\"divrplyfwdmsg",
        "id=\"x_divrplyfwdmsg",
        "id=\"appendonsend",
        "class=\"moz-cite-prefix",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min()
    .map(|pos| lower[..pos].rfind('<').unwrap_or(pos))
    .unwrap_or(html.len());
    Some(mail_parser::decoders::html::html_to_text(&line_per_block(
        &html[..cut],
    )))
}

/// Closing tags of the block elements clients write one line each in (Gmail's `<div>`s),
/// which the HTML-to-text step would otherwise run together ("Thanks,Alex").
const BLOCK_ENDS: [&str; 6] = [
    "</div>",
    "</li>",
    "</tr>",
    "</blockquote>",
    "</table>",
    "</h",
];

/// `html` with a line break after every block element's end, so its text keeps the lines.
fn line_per_block(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut from = 0;
    while let Some((at, tag)) = BLOCK_ENDS
        .iter()
        .filter_map(|t| lower[from..].find(t).map(|i| (from + i, *t)))
        .min()
    {
        let end = lower[at + tag.len()..]
            .find('>')
            .map_or(lower.len(), |i| at + tag.len() + i + 1);
        out.push_str(&html[from..end]);
        out.push_str("<br>");
        from = end;
    }
    out.push_str(&html[from..]);
    // A rule (Hotmail and Zimbra put one above the quoted header block) starts a new line.
    out.replace("<hr", "<br><hr").replace("<HR", "<br><HR")
}
