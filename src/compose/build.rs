//! The envelope and headers every mail we send shares, and the message bytes (lettre).
//! Header values come only from cleaned data, never from template output.

use std::time::SystemTime;

use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox as LettreMailbox, MultiPart, SinglePart};

use super::ComposeError;
use crate::domain::{EmailAddress, MailKind, OutgoingMail, Splice, TicketId};
use crate::mail::parse::{Attachment, LOOP_HEADER};
use crate::mail::relay::text_before_quote;
use crate::mail::sanitize;
use crate::mail::thread::ticket_tag;

macro_rules! plain_header {
    ($ty:ident, $name:expr) => {
        #[derive(Debug, Clone)]
        pub(super) struct $ty(pub(super) String);
        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

plain_header!(AutoSubmitted, "Auto-Submitted");
plain_header!(AutoResponseSuppress, "X-Auto-Response-Suppress");
plain_header!(LoopMarker, LOOP_HEADER);

/// Headers shared by a mail we send: who, threading and markers.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// Display name of the From (the address is always the support address).
    pub from_name: &'a str,
    /// The support address.
    pub service_address: &'a EmailAddress,
    /// Recipient.
    pub to: (Option<&'a str>, &'a EmailAddress),
    /// Copied recipients (a ticket's participants), in the Cc header and the envelope.
    pub cc: &'a [EmailAddress],
    /// Reply-To, if not the From.
    pub reply_to: Option<(Option<&'a str>, &'a EmailAddress)>,
    /// Subject (cleaned here again).
    pub subject: &'a str,
    /// Our Message-ID for it.
    pub message_id: String,
    /// The message it answers.
    pub in_reply_to: Option<&'a str>,
    /// The thread's ids, oldest first (capped to the last ten).
    pub references: Vec<&'a str>,
    /// `Auto-Submitted` value, for automatic mail.
    pub auto_submitted: Option<&'a str>,
    /// The Date header.
    pub date: SystemTime,
}

/// An HTML alternative to a mail's text, and the inline images it shows.
#[derive(Debug, Clone, Copy)]
pub struct HtmlBody<'a> {
    /// The whole HTML document (a rendered HTML template).
    pub html: &'a str,
    /// The images it shows as `cid:…`: each part with its `content_id` set (the one the
    /// HTML names); they go in a `multipart/related` with the HTML.
    pub images: &'a [Attachment<'a>],
}

/// Builds a text mail (with attachments) from an [`Envelope`] and a body.
pub fn build_mail(
    kind: MailKind,
    env: &Envelope<'_>,
    body: String,
    attachments: &[Attachment<'_>],
    envelope_from: Option<EmailAddress>,
) -> Result<OutgoingMail, ComposeError> {
    build_mail_with_html(kind, env, body, None, attachments, envelope_from)
}

/// Builds a mail from an [`Envelope`], a text body and, if given, an HTML alternative with
/// its inline images: `multipart/alternative` (text, then the HTML or a `multipart/related`
/// of the HTML and its images), in a `multipart/mixed` with the attachments if there are
/// any. Without HTML it is exactly [`build_mail`]'s text mail.
pub fn build_mail_with_html(
    kind: MailKind,
    env: &Envelope<'_>,
    body: String,
    html: Option<HtmlBody<'_>>,
    attachments: &[Attachment<'_>],
    envelope_from: Option<EmailAddress>,
) -> Result<OutgoingMail, ComposeError> {
    let mut builder = lettre::Message::builder()
        .from(lettre_mailbox(Some(env.from_name), env.service_address)?)
        .to(lettre_mailbox(env.to.0, env.to.1)?)
        .subject(sanitize::header_text(env.subject, 250))
        .message_id(Some(env.message_id.clone()))
        .date(env.date)
        .header(LoopMarker(env.service_address.to_string()));
    for copied in env.cc {
        builder = builder.cc(lettre_mailbox(None, copied)?);
    }
    if let Some((name, addr)) = env.reply_to {
        builder = builder.reply_to(lettre_mailbox(name, addr)?);
    }
    if let Some(v) = env.auto_submitted {
        builder = builder
            .header(AutoSubmitted(v.into()))
            .header(AutoResponseSuppress("All".into()));
    }
    if let Some(parent) = env.in_reply_to {
        let keep_from = env.references.len().saturating_sub(10);
        builder = builder
            .in_reply_to(parent.to_string())
            .references(env.references[keep_from..].join(" "));
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(body);
    let mut splices = Vec::new();
    let message = match (html, attachments.is_empty()) {
        (None, true) => builder.singlepart(text),
        (None, false) => builder.multipart(with_attachments(
            MultiPart::mixed().singlepart(text),
            attachments,
            &mut splices,
        )?),
        (Some(html), true) => builder.multipart(alternative(text, html, &mut splices)?),
        (Some(html), false) => builder.multipart(with_attachments(
            MultiPart::mixed().multipart(alternative(text, html, &mut splices)?),
            attachments,
            &mut splices,
        )?),
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(OutgoingMail {
        kind,
        message_id: env.message_id.clone(),
        envelope_from,
        recipients: std::iter::once(env.to.1).chain(env.cc).cloned().collect(),
        inbox: env.service_address.clone(),
        raw: message.formatted(),
        splices,
    })
}

/// An attachment's body: its bytes encoded by lettre, or, for a big one whose base64 text
/// is in the raw mail, a placeholder for that text, spliced in once the parse is gone
/// ([`OutgoingMail::splice`]).
fn attachment_body(a: &Attachment<'_>, splices: &mut Vec<Splice>) -> Body {
    match &a.base64_in_raw {
        Some(source) => {
            let token = format!(
                "frontdesk-splice-{:016x}{:016x}-{}",
                fastrand::u64(..),
                fastrand::u64(..),
                splices.len()
            );
            splices.push(Splice {
                token: token.clone(),
                source: source.clone(),
            });
            Body::dangerous_pre_encoded(token.into_bytes(), ContentTransferEncoding::Base64)
        }
        None => Body::new(a.data.to_vec()),
    }
}

/// An attachment's content type, `application/octet-stream` when it does not parse.
fn content_type(a: &Attachment<'_>) -> Result<ContentType, ComposeError> {
    match ContentType::parse(&a.content_type) {
        Ok(ct) => Ok(ct),
        Err(_) => ContentType::parse("application/octet-stream")
            .map_err(|e| ComposeError::Build(e.to_string())),
    }
}

/// `mixed` with every attachment added.
fn with_attachments(
    mut mixed: MultiPart,
    attachments: &[Attachment<'_>],
    splices: &mut Vec<Splice>,
) -> Result<MultiPart, ComposeError> {
    for a in attachments {
        mixed = mixed.singlepart(
            lettre::message::Attachment::new(a.name.clone())
                .body(attachment_body(a, splices), content_type(a)?),
        );
    }
    Ok(mixed)
}

/// The text and its HTML alternative; the HTML with its inline images when it has some.
fn alternative(
    text: SinglePart,
    html: HtmlBody<'_>,
    splices: &mut Vec<Splice>,
) -> Result<MultiPart, ComposeError> {
    let html_part = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(html.html.to_string());
    let alternative = MultiPart::alternative().singlepart(text);
    if html.images.is_empty() {
        return Ok(alternative.singlepart(html_part));
    }
    let mut related = MultiPart::related().singlepart(html_part);
    for image in html.images {
        let id = image.content_id.clone().unwrap_or_default();
        related = related.singlepart(
            lettre::message::Attachment::new_inline_with_name(id, image.name.clone())
                .body(attachment_body(image, splices), content_type(image)?),
        );
    }
    Ok(alternative.multipart(related))
}

pub(super) fn lettre_mailbox(
    name: Option<&str>,
    address: &EmailAddress,
) -> Result<LettreMailbox, ComposeError> {
    let addr = address
        .to_lettre()
        .ok_or_else(|| ComposeError::Build(format!("invalid address {address}")))?;
    let name = name
        .map(|n| sanitize::header_text(n, 80))
        .filter(|n| !n.is_empty());
    Ok(LettreMailbox::new(name, addr))
}

/// The reply subject: `Re: <original> [Acme Support #N]`, without piling up `Re:` prefixes,
/// and with any other ticket tag of ours removed (a customer who copied someone else's tag
/// must not see it echoed back as if it were theirs). A mail without a subject is answered
/// as "Your message" in the ticket's language `lang`.
pub fn reply_subject(original: &str, service_name: &str, ticket: TicketId, lang: &str) -> String {
    let tag = ticket_tag(service_name, ticket);
    let without_tags = strip_ticket_tags(original, service_name);
    let mut base = without_tags.trim();
    loop {
        let lower = base.to_ascii_lowercase();
        let stripped = ["re:", "aw:", "sv:", "fwd:", "fw:"]
            .iter()
            .find(|p| lower.starts_with(**p))
            .map(|p| base[p.len()..].trim_start());
        match stripped {
            Some(rest) => base = rest,
            None => break,
        }
    }
    let base = sanitize::header_text(base, 200);
    let base = if base.is_empty() {
        untitled(lang).to_string()
    } else {
        base
    };
    format!("Re: {base} {tag}")
}

/// The subject of a reply to a mail without one, in the ticket's language.
fn untitled(lang: &str) -> &'static str {
    match lang {
        "de" => "Ihre Nachricht",
        "fr" => "Votre message",
        "es" => "Su mensaje",
        _ => "Your message",
    }
}

/// Removes every `[<service name> #digits]` from a subject, case-insensitively.
fn strip_ticket_tags(subject: &str, service_name: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut last = 0;
    for (range, _) in crate::mail::thread::ticket_tags(subject, service_name) {
        out.push_str(&subject[last..range.start]);
        last = range.end;
    }
    out.push_str(&subject[last..]);
    sanitize::header_text(&out, 250)
}

/// The first `max_lines` lines worth quoting from the customer's text: their own words above
/// any quote (the relay's quote recognition, [`text_before_quote`]), without blank lines and
/// without their signature (`-- `).
pub fn quote_lines(text: &str, max_lines: usize) -> Vec<String> {
    text_before_quote(text)
        .lines()
        .take_while(|line| *line != "-- " && line.trim() != "--")
        .filter(|line| !line.trim().is_empty())
        .take(max_lines)
        .map(|line| sanitize::body_line(line, 200))
        .collect()
}
