//! The acknowledgement of a new ticket: a personal reply in the customer's thread (text and
//! HTML alternatives), quoting the first lines of their mail.

use std::time::SystemTime;

use lettre::message::header::ContentType;
use lettre::message::{MultiPart, SinglePart};
use serde::Serialize;

use super::build::{AutoResponseSuppress, AutoSubmitted, LoopMarker, lettre_mailbox};
use super::{
    AvailabilityVars, ClosureVars, ComposeError, DeskClosure, PersonVars, PreviousVars,
    ServiceVars, Templates, TicketVars, customer_vars, person, quote_lines, reply_subject,
};
use crate::domain::{EmailAddress, MailKind, OutgoingMail, TicketId};
use crate::mail::parse::Mailbox;
use crate::mail::thread::ticket_tag;

/// Variables of the acknowledgement templates.
#[derive(Debug, Clone, Serialize)]
pub struct AckContext {
    /// The customer.
    pub customer: PersonVars,
    /// The agent who owns the ticket.
    pub agent: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
    /// The first lines of the customer's own text, one entry per line.
    pub quote: Vec<String>,
    /// Whether the agent is at work now, when they are back if not, and how long their
    /// answers usually take.
    pub availability: AvailabilityVars,
    /// The customer's earlier ticket the same agent helped with, if they are remembered.
    pub previous: PreviousVars,
    /// The closure of the whole desk today, if there is one.
    pub closure: ClosureVars,
}

impl AckContext {
    pub(super) fn sample() -> AckContext {
        AckContext::sample_in(crate::lang::ENGLISH)
    }

    /// Sample data with the agent's return described in `lang`, for the self-test.
    pub(super) fn sample_in(lang: &str) -> AckContext {
        let back = jiff::civil::date(2026, 12, 7)
            .at(9, 0, 0, 0)
            .in_tz("Europe/Berlin")
            .ok();
        let now = jiff::Timestamp::from_second(1_796_400_000).unwrap_or_default();
        let back_at = back.map_or_else(
            || "Monday at 09:00 CET".into(),
            |b| crate::lang::describe_return(&b, now, lang, None),
        );
        AckContext {
            customer: person("Alice Doe", "alice@customer.example"),
            agent: person("Jason Miller", "jason@example.com"),
            ticket: TicketVars {
                number: 1042,
                tag: "[Acme Support #1042]".into(),
            },
            service: ServiceVars {
                name: "Acme Support".into(),
                address: "support@example.com".into(),
            },
            quote: vec!["My printer is on fire.".into()],
            availability: AvailabilityVars {
                available: false,
                back_at,
                usually_within: crate::lang::describe_wait(
                    std::time::Duration::from_secs(2 * 3600),
                    lang,
                ),
            },
            previous: PreviousVars {
                number: 1017,
                subject: "Printer offline".into(),
            },
            closure: ClosureVars {
                name: "Christmas".into(),
                reopens: crate::lang::describe_day(jiff::civil::date(2026, 12, 28), lang),
            },
        }
    }
}

/// At most this many characters of an earlier ticket's subject are repeated to its customer.
const PREVIOUS_SUBJECT_CHARS: usize = 80;

/// `text` cut to `max` characters at a word boundary where there is one, with "…" when cut.
fn shortened(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = cut.rfind(' ').filter(|&i| i > max / 2).unwrap_or(cut.len());
    format!("{}\u{2026}", cut[..at_word].trim_end())
}

/// Everything the acknowledgement needs.
#[derive(Debug, Clone)]
pub struct AckInput<'a> {
    /// Service display name.
    pub service_name: &'a str,
    /// Support address.
    pub service_address: &'a EmailAddress,
    /// The new ticket.
    pub ticket: TicketId,
    /// The customer as they wrote.
    pub customer: &'a Mailbox,
    /// Who is copied (the customer's colleagues among the ticket's participants).
    pub cc: &'a [EmailAddress],
    /// The agent's display name.
    pub agent_name: &'a str,
    /// The agent's address.
    pub agent_address: &'a EmailAddress,
    /// The customer's subject.
    pub subject: &'a str,
    /// The customer's Message-ID, if any.
    pub parent_message_id: Option<&'a str>,
    /// The customer's References.
    pub parent_references: &'a [String],
    /// The customer's In-Reply-To.
    pub parent_in_reply_to: &'a [String],
    /// The customer's text.
    pub text: &'a str,
    /// How many lines to quote.
    pub quote_lines: usize,
    /// Our Message-ID for it (see [`crate::mail::relay::message_id`]).
    pub message_id: String,
    /// Whether the agent is at work now.
    pub agent_available: bool,
    /// When they are back, described for the customer.
    pub agent_back: Option<String>,
    /// How long the agent's first answers usually take in working time, if known.
    pub usually_within: Option<std::time::Duration>,
    /// The customer's earlier ticket the same agent helped with: its number and subject.
    pub previous: Option<(TicketId, &'a str)>,
    /// The closure of the whole desk today, if there is one.
    pub closure: Option<DeskClosure>,
    /// The Date header.
    pub date: SystemTime,
    /// The ticket's language: the template set it is written in (English without one).
    pub language: &'a str,
}

/// Composes the acknowledgement of a new ticket: a reply in the customer's thread, with the
/// ticket tag, `Auto-Submitted: auto-replied`, our loop marker and a null envelope sender.
pub fn acknowledgement(
    templates: &Templates,
    input: &AckInput<'_>,
) -> Result<OutgoingMail, ComposeError> {
    let ctx = AckContext::of(input);
    let text = templates.render_in(input.language, "ack.txt.hbs", &ctx)?;
    let html = templates.render_in(input.language, "ack.html.hbs", &ctx)?;
    let message_id = input.message_id.clone();
    let mut builder = lettre::Message::builder()
        .from(lettre_mailbox(
            Some(input.service_name),
            input.service_address,
        )?)
        .to(lettre_mailbox(
            input.customer.name.as_deref(),
            &input.customer.address,
        )?)
        .subject(reply_subject(
            input.subject,
            input.service_name,
            input.ticket,
            input.language,
        ))
        .message_id(Some(message_id.clone()))
        .date(input.date)
        .header(AutoSubmitted("auto-replied".into()))
        .header(AutoResponseSuppress("All".into()))
        .header(LoopMarker(input.service_address.to_string()));
    for copied in input.cc {
        builder = builder.cc(lettre_mailbox(None, copied)?);
    }
    if let Some(parent) = input.parent_message_id {
        builder = builder
            .in_reply_to(parent.to_string())
            .references(references(input, parent).join(" "));
    }
    let alternatives = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html),
        );
    let message = builder
        .multipart(alternatives)
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(OutgoingMail {
        kind: MailKind::Acknowledgement,
        message_id,
        envelope_from: None,
        recipients: std::iter::once(&input.customer.address)
            .chain(input.cc)
            .cloned()
            .collect(),
        inbox: input.service_address.clone(),
        raw: message.formatted(),
        splices: Vec::new(),
    })
}

/// RFC 5322 §3.6.4: References = the parent's References (or its In-Reply-To) + the
/// parent's id, the last ten.
fn references<'a>(input: &AckInput<'a>, parent: &'a str) -> Vec<&'a str> {
    let mut refs: Vec<&str> = if input.parent_references.is_empty() {
        input
            .parent_in_reply_to
            .iter()
            .map(String::as_str)
            .collect()
    } else {
        input.parent_references.iter().map(String::as_str).collect()
    };
    let keep_from = refs.len().saturating_sub(9);
    refs.drain(..keep_from);
    refs.push(parent);
    refs
}

impl AckContext {
    /// The templates' variables for an acknowledgement.
    fn of(input: &AckInput<'_>) -> AckContext {
        AckContext {
            customer: customer_vars(input.customer, input.text, "there"),
            agent: person(input.agent_name, input.agent_address.as_str()),
            ticket: TicketVars {
                number: input.ticket.get(),
                tag: ticket_tag(input.service_name, input.ticket),
            },
            service: ServiceVars {
                name: input.service_name.into(),
                address: input.service_address.to_string(),
            },
            quote: quote_lines(input.text, input.quote_lines),
            availability: AvailabilityVars {
                available: input.agent_available,
                back_at: input.agent_back.clone().unwrap_or_default(),
                usually_within: input
                    .usually_within
                    .map(|w| crate::lang::describe_wait(w, input.language))
                    .unwrap_or_default(),
            },
            previous: input
                .previous
                .map(|(ticket, subject)| PreviousVars {
                    number: ticket.get(),
                    subject: shortened(subject, PREVIOUS_SUBJECT_CHARS),
                })
                .unwrap_or_default(),
            closure: ClosureVars::of(input.closure.as_ref(), input.language),
        }
    }
}
