//! Outgoing mail built from templates (spec flow step 5, "Templates"). Pure: data in, bytes
//! out. Handlebars runs in strict mode so a misspelt variable is an error at `check-config`
//! time, not a blank in a customer's mail; text templates are rendered without HTML escaping
//! and HTML templates with it. Header values come only from cleaned data, never from template
//! output.

use std::path::Path;
use std::time::SystemTime;

use handlebars::Handlebars;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LettreMailbox, MultiPart, SinglePart};
use serde::Serialize;

use crate::domain::{EmailAddress, MailKind, OutgoingMail, TicketId};
use crate::mail::parse::{LOOP_HEADER, Mailbox};
use crate::mail::sanitize;
use crate::mail::thread::ticket_tag;

/// A template we ship: its file name and built-in text.
struct Builtin {
    name: &'static str,
    text: &'static str,
    html: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "ack.txt.hbs",
        text: include_str!("../templates/ack.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "ack.html.hbs",
        text: include_str!("../templates/ack.html.hbs"),
        html: true,
    },
    Builtin {
        name: "agent_notify.txt.hbs",
        text: include_str!("../templates/agent_notify.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "relay.txt.hbs",
        text: include_str!("../templates/relay.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "agent_notice.txt.hbs",
        text: include_str!("../templates/agent_notice.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "escalation.txt.hbs",
        text: include_str!("../templates/escalation.txt.hbs"),
        html: false,
    },
];

/// A template that could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// An override file could not be read.
    #[error("template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Handlebars refused the template text.
    #[error("template {name}: {source}")]
    Syntax {
        /// Template file name.
        name: String,
        /// The parser's message with line and column.
        source: Box<handlebars::TemplateError>,
    },
    /// Rendering failed, e.g. a variable that does not exist (strict mode).
    #[error("template {name}: {source}")]
    Render {
        /// Template file name.
        name: String,
        /// The renderer's message.
        source: Box<handlebars::RenderError>,
    },
}

/// The compiled templates: one registry for text (no escaping), one for HTML (escaping).
#[derive(Debug, Clone)]
pub struct Templates {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
}

impl Templates {
    /// Compiles the built-in templates, each replaced by a file of the same name in
    /// `overrides` when that file exists.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for b in BUILTINS {
            let source = match overrides.map(|d| d.join(b.name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => b.text.to_string(),
            };
            let registry = if b.html { &mut html } else { &mut text };
            registry
                .register_template_string(b.name, source)
                .map_err(|e| TemplateError::Syntax {
                    name: b.name.into(),
                    source: Box::new(e),
                })?;
        }
        Ok(Templates { text, html })
    }

    fn render(&self, name: &str, data: &impl Serialize) -> Result<String, TemplateError> {
        let registry = if name.ends_with(".html.hbs") {
            &self.html
        } else {
            &self.text
        };
        registry
            .render(name, data)
            .map_err(|e| TemplateError::Render {
                name: name.into(),
                source: Box::new(e),
            })
    }

    /// Renders every template once with sample data: what `check-config` runs.
    pub fn self_test(&self) -> Result<Vec<String>, TemplateError> {
        let ack = AckContext::sample();
        let notify = NotifyContext::sample();
        let relay = RelayContext::sample();
        let notice = NoticeContext::sample();
        let mut names = Vec::new();
        for b in BUILTINS {
            match b.name {
                "agent_notify.txt.hbs" => self.render(b.name, &notify)?,
                "relay.txt.hbs" => self.render(b.name, &relay)?,
                "agent_notice.txt.hbs" => self.render(b.name, &notice)?,
                "escalation.txt.hbs" => {
                    self.render(b.name, &crate::sla::EscalationContext::sample())?
                }
                _ => self.render(b.name, &ack)?,
            };
            names.push(b.name.to_string());
        }
        Ok(names)
    }
}

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
    /// Whether the agent is at work now, and when they are back if not.
    pub availability: AvailabilityVars,
}

/// What the acknowledgement may honestly promise.
#[derive(Debug, Clone, Serialize)]
pub struct AvailabilityVars {
    /// At work with capacity now.
    pub available: bool,
    /// "Monday at 09:00 CET", or empty when not known (away without a date).
    pub back_at: String,
}

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonVars {
    /// Full name, or a fallback made from the address; never empty.
    pub name: String,
    /// The first word of the name.
    pub first_name: String,
    /// The address.
    pub address: String,
}

/// A ticket as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketVars {
    /// The number, e.g. 1042.
    pub number: u64,
    /// The tag, e.g. `[Acme Support #1042]`.
    pub tag: String,
}

/// The service as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceVars {
    /// Display name.
    pub name: String,
    /// Support address.
    pub address: String,
}

impl AckContext {
    fn sample() -> AckContext {
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
                back_at: "Monday at 09:00 CET".into(),
            },
        }
    }
}

fn person(name: &str, address: &str) -> PersonVars {
    PersonVars {
        name: name.into(),
        first_name: name.split_whitespace().next().unwrap_or(name).into(),
        address: address.into(),
    }
}

/// The name to greet someone by: their display name, or one made from a name-like local
/// part (`jane.doe` → "Jane Doe"), or "there" ("Hello there,") — never an empty greeting.
pub fn greeting_name(mailbox: &Mailbox) -> String {
    known_name(mailbox).unwrap_or_else(|| "there".into())
}

/// Their name as far as we know it: their display name ("Doe, Jane" turned around), or one
/// made from a name-like local part (`jane.doe` → "Jane Doe"); `None` if neither gives one.
pub fn known_name(mailbox: &Mailbox) -> Option<String> {
    let cleaned = mailbox
        .name
        .as_deref()
        .map(|n| sanitize::header_text(n, 80));
    if let Some(name) = cleaned.as_deref().filter(|n| !n.is_empty()) {
        // "Doe, Jane" is how some directories write names.
        if let Some((last, first)) = name.split_once(", ")
            && !first.contains(',')
        {
            return Some(format!("{first} {last}"));
        }
        return Some(name.to_string());
    }
    let local = mailbox.address.local_part();
    let local = local.split('+').next().unwrap_or(local);
    let parts: Vec<&str> = local
        .split(['.', '_', '-'])
        .filter(|p| !p.is_empty())
        .collect();
    let name_like = !parts.is_empty()
        && parts.len() <= 3
        && parts
            .iter()
            .all(|p| p.len() >= 2 && p.chars().all(|c| c.is_alphabetic()));
    name_like.then(|| {
        parts
            .iter()
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The first line of every notification: guidance for the agent, and the fingerprint that
/// stops a quoted notification from ever being relayed, whatever the templates say.
pub fn notification_marker(ticket: TicketId) -> String {
    format!("--- Reply above this line; the customer sees only your text (ticket #{ticket}) ---")
}

/// Sentences of the shipped notification template (`agent_notify.txt.hbs`) that never occur
/// in an agent's own answer: if one is left after quote stripping, the quote was not
/// recognised. A test keeps them in step with the template.
pub const NOTIFICATION_SENTENCES: [&str; 2] = [
    "Reply to this mail to answer",
    "Lines at the top of your reply",
];

/// Whether an agent's answer (after quote stripping) still holds part of the notification
/// of `ticket`: relaying it would leak the internal header block to the customer.
pub fn leaks_notification(body: &str, ticket: TicketId) -> bool {
    body.contains(&notification_marker(ticket))
        || NOTIFICATION_SENTENCES.iter().any(|s| body.contains(s))
        || body.contains(&format!("Ticket #{ticket} ·"))
}

/// The first `max_lines` lines worth quoting from the customer's text: blank lines, their
/// own quotes (`>`), and everything from a signature or an "On … wrote:" line on are left out.
pub fn quote_lines(text: &str, max_lines: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if out.len() >= max_lines {
            break;
        }
        let trimmed = line.trim();
        if line == "-- " || trimmed == "--" {
            break;
        }
        if trimmed.starts_with("On ") && trimmed.ends_with("wrote:") {
            break;
        }
        if trimmed.starts_with('>') || trimmed.is_empty() {
            continue;
        }
        out.push(sanitize::body_line(line, 200));
    }
    out
}

/// The reply subject: `Re: <original> [Acme Support #N]`, without piling up `Re:` prefixes,
/// and with any other ticket tag of ours removed (a customer who copied someone else's tag
/// must not see it echoed back as if it were theirs).
pub fn reply_subject(original: &str, service_name: &str, ticket: TicketId) -> String {
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
        "Your message".to_string()
    } else {
        base
    };
    format!("Re: {base} {tag}")
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

/// A mail that could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// lettre refused to build the message.
    #[error("building the message: {0}")]
    Build(String),
}

macro_rules! plain_header {
    ($ty:ident, $name:expr) => {
        #[derive(Debug, Clone)]
        struct $ty(String);
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
    /// The Date header.
    pub date: SystemTime,
}

fn lettre_mailbox(
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

/// Composes the acknowledgement of a new ticket: a reply in the customer's thread, with the
/// ticket tag, `Auto-Submitted: auto-replied`, our loop marker and a null envelope sender.
pub fn acknowledgement(
    templates: &Templates,
    input: &AckInput<'_>,
) -> Result<OutgoingMail, ComposeError> {
    let tag = ticket_tag(input.service_name, input.ticket);
    let customer_name = greeting_name(input.customer);
    let ctx = AckContext {
        customer: PersonVars {
            first_name: customer_name
                .split_whitespace()
                .next()
                .unwrap_or("there")
                .to_string(),
            name: customer_name,
            address: input.customer.address.to_string(),
        },
        agent: person(input.agent_name, input.agent_address.as_str()),
        ticket: TicketVars {
            number: input.ticket.get(),
            tag: tag.clone(),
        },
        service: ServiceVars {
            name: input.service_name.into(),
            address: input.service_address.to_string(),
        },
        quote: quote_lines(input.text, input.quote_lines),
        availability: AvailabilityVars {
            available: input.agent_available,
            back_at: input.agent_back.clone().unwrap_or_default(),
        },
    };
    let text = templates.render("ack.txt.hbs", &ctx)?;
    let html = templates.render("ack.html.hbs", &ctx)?;

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
        ))
        .message_id(Some(message_id.clone()))
        .date(input.date)
        .header(AutoSubmitted("auto-replied".into()))
        .header(AutoResponseSuppress("All".into()))
        .header(LoopMarker(input.service_address.to_string()));
    if let Some(parent) = input.parent_message_id {
        // RFC 5322 §3.6.4: References = parent's References (or In-Reply-To) + parent's id.
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
        builder = builder
            .in_reply_to(parent.to_string())
            .references(refs.join(" "));
    }
    let message = builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(OutgoingMail {
        kind: MailKind::Acknowledgement,
        message_id,
        envelope_from: None,
        recipients: vec![input.customer.address.clone()],
        raw: message.formatted(),
    })
}

/// A customer's earlier tickets, for the agent's header block.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryVars {
    /// How many earlier tickets (0: none).
    pub count: usize,
    /// The last one's number.
    pub last_number: u64,
    /// The last one's subject.
    pub last_subject: String,
    /// The last one's agent (name).
    pub last_agent: String,
}

/// Variables of `agent_notify.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyContext {
    /// The customer.
    pub customer: PersonVars,
    /// The agent being notified.
    pub agent: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
    /// The customer's earlier tickets.
    pub history: HistoryVars,
    /// Whether this is a later mail on an existing ticket.
    pub followup: bool,
    /// Who handed the ticket over (`#assign`), or empty.
    pub assigned_by: String,
    /// Their handover note, or empty.
    pub handover: String,
    /// Names of the attached files.
    pub attachments: Vec<String>,
    /// The customer's text.
    pub text: String,
}

impl NotifyContext {
    fn sample() -> NotifyContext {
        let a = AckContext::sample();
        NotifyContext {
            customer: a.customer,
            agent: a.agent,
            ticket: a.ticket,
            service: a.service,
            history: HistoryVars {
                count: 1,
                last_number: 1017,
                last_subject: "Paper jam".into(),
                last_agent: "Jason Miller".into(),
            },
            followup: false,
            assigned_by: "Maria Lopez".into(),
            handover: "Billing question, over to you.".into(),
            attachments: vec!["photo.jpg".into()],
            text: "My printer is on fire.".into(),
        }
    }
}

/// Variables of `relay.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct RelayContext {
    /// The agent's answer, quotes removed.
    pub body: String,
    /// The agent.
    pub agent: PersonVars,
    /// The customer.
    pub customer: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
}

impl RelayContext {
    fn sample() -> RelayContext {
        let a = AckContext::sample();
        RelayContext {
            body: "Please unplug it.".into(),
            agent: a.agent,
            customer: a.customer,
            ticket: a.ticket,
            service: a.service,
        }
    }
}

/// Variables of `agent_notice.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeContext {
    /// The agent.
    pub agent: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
    /// Why nothing was sent.
    pub reason: String,
}

impl NoticeContext {
    fn sample() -> NoticeContext {
        let a = AckContext::sample();
        NoticeContext {
            agent: a.agent,
            ticket: a.ticket,
            service: a.service,
            reason: "#frobnicate is not a command".into(),
        }
    }
}

/// The display form of a person for templates.
pub fn person_vars(name: &str, address: &EmailAddress) -> PersonVars {
    person(name, address.as_str())
}

/// The service for templates.
pub fn service_vars(name: &str, address: &EmailAddress) -> ServiceVars {
    ServiceVars {
        name: name.into(),
        address: address.to_string(),
    }
}

/// The ticket for templates.
pub fn ticket_vars(service_name: &str, ticket: TicketId) -> TicketVars {
    TicketVars {
        number: ticket.get(),
        tag: ticket_tag(service_name, ticket),
    }
}

/// Headers shared by a mail we send: who, threading and markers.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// Display name of the From (the address is always the support address).
    pub from_name: &'a str,
    /// The support address.
    pub service_address: &'a EmailAddress,
    /// Recipient.
    pub to: (Option<&'a str>, &'a EmailAddress),
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

/// What an ops alert reports.
#[derive(Debug, Clone)]
pub enum Alert<'a> {
    /// The inbox has failed this many times in a row, the last time with this error.
    InboxDown {
        /// The inbox's name.
        inbox: &'a str,
        /// Consecutive failed attempts.
        failures: u32,
        /// The last error.
        error: &'a str,
    },
    /// The inbox works again.
    InboxUp {
        /// The inbox's name.
        inbox: &'a str,
    },
}

/// The mail that tells `to` about an [`Alert`], from the support address (with the null
/// sender: nobody should answer it automatically).
pub fn ops_alert(
    service_name: &str,
    from: &EmailAddress,
    to: &EmailAddress,
    alert: &Alert<'_>,
    message_id: String,
    date: SystemTime,
) -> Result<OutgoingMail, ComposeError> {
    let (subject, body) = match alert {
        Alert::InboxDown {
            inbox,
            failures,
            error,
        } => (
            format!("[{service_name}] inbox {inbox} is not being read"),
            format!(
                "Frontdesk cannot read the inbox \"{inbox}\": {failures} attempts in a row failed.\n\
                 Customers writing to it get no acknowledgement and no ticket until this is fixed.\n\n\
                 Last error: {error}\n\n\
                 Frontdesk keeps retrying with backoff and will write again when the inbox works.\n\
                 Check the IMAP server and the credential (an expired OAuth2 token is a common cause).\n"
            ),
        ),
        Alert::InboxUp { inbox } => (
            format!("[{service_name}] inbox {inbox} is read again"),
            format!(
                "Frontdesk reads the inbox \"{inbox}\" again; mail that arrived meanwhile is being handled.\n"
            ),
        ),
    };
    build_mail(
        MailKind::OpsAlert,
        &Envelope {
            from_name: service_name,
            service_address: from,
            to: (None, to),
            reply_to: None,
            subject: &subject,
            message_id,
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: Some("auto-generated"),
            date,
        },
        body,
        &[],
        None,
    )
}

/// Builds a text mail (with attachments) from an [`Envelope`] and a body.
pub fn build_mail(
    kind: MailKind,
    env: &Envelope<'_>,
    body: String,
    attachments: &[crate::mail::parse::Attachment],
    envelope_from: Option<EmailAddress>,
) -> Result<OutgoingMail, ComposeError> {
    let mut builder = lettre::Message::builder()
        .from(lettre_mailbox(Some(env.from_name), env.service_address)?)
        .to(lettre_mailbox(env.to.0, env.to.1)?)
        .subject(sanitize::header_text(env.subject, 250))
        .message_id(Some(env.message_id.clone()))
        .date(env.date)
        .header(LoopMarker(env.service_address.to_string()));
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
    let message = if attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(text);
        for a in attachments {
            let ct = ContentType::parse(&a.content_type).unwrap_or(
                ContentType::parse("application/octet-stream")
                    .map_err(|e| ComposeError::Build(e.to_string()))?,
            );
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(a.name.clone()).body(a.data.clone(), ct),
            );
        }
        builder.multipart(mixed)
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(OutgoingMail {
        kind,
        message_id: env.message_id.clone(),
        envelope_from,
        recipients: vec![env.to.1.clone()],
        raw: message.formatted(),
    })
}

impl Templates {
    /// Renders the agent notification's text.
    pub fn notify_text(&self, ctx: &NotifyContext) -> Result<String, TemplateError> {
        self.render("agent_notify.txt.hbs", ctx)
    }

    /// Renders a relayed answer's text.
    pub fn relay_text(&self, ctx: &RelayContext) -> Result<String, TemplateError> {
        self.render("relay.txt.hbs", ctx)
    }

    /// Renders an escalation to a team lead.
    pub fn escalation_text(
        &self,
        ctx: &crate::sla::EscalationContext,
    ) -> Result<String, TemplateError> {
        self.render("escalation.txt.hbs", ctx)
    }

    /// Renders a notice to an agent.
    pub fn notice_text(&self, ctx: &NoticeContext) -> Result<String, TemplateError> {
        self.render("agent_notice.txt.hbs", ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::parse;

    fn mailbox(name: Option<&str>, addr: &str) -> Mailbox {
        Mailbox {
            name: name.map(String::from),
            address: EmailAddress::parse(addr).expect("valid"),
        }
    }

    fn compose(
        customer: &Mailbox,
        subject: &str,
        text: &str,
    ) -> (OutgoingMail, crate::mail::parse::ParsedMail) {
        let templates = Templates::load(None).expect("builtin templates compile");
        let support = EmailAddress::parse("support@example.test").expect("valid");
        let agent = EmailAddress::parse("jason@example.test").expect("valid");
        let refs = vec!["<m0@customer.test>".to_string()];
        let out = acknowledgement(
            &templates,
            &AckInput {
                service_name: "Acme Support",
                service_address: &support,
                ticket: TicketId::new(1042),
                customer,
                agent_name: "Jason Miller",
                agent_address: &agent,
                subject,
                parent_message_id: Some("<m1@customer.test>"),
                parent_references: &refs,
                parent_in_reply_to: &[],
                text,
                quote_lines: 6,
                message_id: "<ack.1042.x7@example.test>".into(),
                agent_available: true,
                agent_back: None,
                date: SystemTime::UNIX_EPOCH,
            },
        )
        .expect("composes");
        let parsed = parse(&out.raw).expect("our own mail parses");
        (out, parsed)
    }

    #[test]
    fn acknowledgement_is_a_personal_threaded_auto_reply() {
        let alice = mailbox(Some("Alice Doe"), "alice@customer.test");
        let (out, m) = compose(
            &alice,
            "Printer on fire",
            "My printer is on fire.\n\nPlease help!\n-- \nAlice",
        );
        assert_eq!(
            out.envelope_from, None,
            "null envelope sender (RFC 3834 §3.3)"
        );
        assert_eq!(out.message_id, "<ack.1042.x7@example.test>");
        assert_eq!(m.subject, "Re: Printer on fire [Acme Support #1042]");
        assert_eq!(m.in_reply_to, vec!["<m1@customer.test>"]);
        assert_eq!(
            m.references,
            vec!["<m0@customer.test>", "<m1@customer.test>"]
        );
        assert_eq!(m.automation.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(
            m.automation.loop_marker.as_deref(),
            Some("support@example.test")
        );
        let from = m.from.expect("from");
        assert_eq!(from.address.as_str(), "support@example.test");
        assert_eq!(from.name.as_deref(), Some("Acme Support"));
        assert!(m.text.contains("Hello Alice Doe,"), "{}", m.text);
        assert!(m.text.contains("Jason Miller"), "{}", m.text);
        assert!(m.text.contains("> My printer is on fire."), "{}", m.text);
        assert!(m.text.contains("> Please help!"), "{}", m.text);
        assert!(
            !m.text.contains("> Alice"),
            "signature is not quoted: {}",
            m.text
        );
    }

    #[test]
    fn the_promise_is_honest_when_the_agent_is_not_at_work() {
        let templates = Templates::load(None).expect("templates");
        let mut ctx = AckContext::sample();
        ctx.availability = AvailabilityVars {
            available: false,
            back_at: "Monday at 09:00 CET".into(),
        };
        let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
        assert!(
            text.contains("Jason is back Monday at 09:00 CET and will answer you then."),
            "{text}"
        );
        ctx.availability.back_at = String::new();
        let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
        assert!(text.contains("Jason is away at the moment"), "{text}");
        ctx.availability.available = true;
        let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
        assert!(text.contains("answer you personally."), "{text}");
        assert!(
            !text.contains("24") && !text.contains("48 hours"),
            "never a vague promise: {text}"
        );
    }

    #[test]
    fn display_name_with_crlf_cannot_inject_headers() {
        let eve = mailbox(Some("Eve\r\nBcc: victim@x.test"), "eve@customer.test");
        let (out, m) = compose(&eve, "hi\r\nX-Evil: 1", "text");
        let raw = String::from_utf8_lossy(&out.raw);
        let (headers, body) = raw.split_once("\r\n\r\n").expect("header block");
        assert!(!headers.contains("\r\nBcc:"), "{headers}");
        assert!(!headers.contains("\r\nX-Evil:"), "{headers}");
        assert!(
            !body.contains("Eve\r\nBcc"),
            "greeting is cleaned too: {body}"
        );
        assert_eq!(
            m.from.expect("from").address.as_str(),
            "support@example.test"
        );
    }

    #[test]
    fn html_part_escapes_customer_text() {
        let bob = mailbox(Some("Bob"), "bob@customer.test");
        let (out, _) = compose(&bob, "x", "<script>alert(1)</script>");
        let msg = mail_parser::MessageParser::default()
            .parse(&out.raw)
            .expect("parses");
        let html = msg.body_html(0).expect("html part");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        let text = msg.body_text(0).expect("text part");
        assert!(
            text.contains("> <script>alert(1)</script>"),
            "text is not HTML-escaped: {text}"
        );
    }

    #[test]
    fn the_notification_fingerprints_are_in_the_shipped_template() {
        let template = include_str!("../templates/agent_notify.txt.hbs");
        for sentence in NOTIFICATION_SENTENCES {
            assert!(
                template.contains(sentence),
                "{sentence:?} is not in the template"
            );
        }
        assert!(template.starts_with("Ticket #{{ticket.number}} ·"));
    }

    #[test]
    fn greeting_never_empty() {
        assert_eq!(
            greeting_name(&mailbox(None, "jane.doe@customer.test")),
            "Jane Doe"
        );
        assert_eq!(
            greeting_name(&mailbox(None, "jd4711@customer.test")),
            "there"
        );
        assert_eq!(
            greeting_name(&mailbox(Some("  "), "x@customer.test")),
            "there"
        );
        assert_eq!(
            greeting_name(&mailbox(Some("Doe, Jane"), "x@customer.test")),
            "Jane Doe"
        );
        let (_, m) = compose(&mailbox(None, "jd4711@customer.test"), "", "hi");
        assert!(m.text.contains("Hello there,"), "{}", m.text);
        assert_eq!(m.subject, "Re: Your message [Acme Support #1042]");
    }

    #[test]
    fn subject_does_not_pile_up_or_echo_foreign_tags() {
        let s = |subject: &str| reply_subject(subject, "Acme Support", TicketId::new(7));
        assert_eq!(s("RE: Re: hi"), "Re: hi [Acme Support #7]");
        assert_eq!(s("Re: hi [Acme Support #7]"), "Re: hi [Acme Support #7]");
        assert_eq!(
            s("Re: hi [acme support #1001] there"),
            "Re: hi there [Acme Support #7]"
        );
        assert_eq!(
            s("[Acme Support #x] stays"),
            "Re: [Acme Support #x] stays [Acme Support #7]"
        );
        assert_eq!(
            s("İ[Acme Support #é Ω"),
            "Re: İ[Acme Support #é Ω [Acme Support #7]"
        );
        assert_eq!(
            s("[Acme Support #1001]"),
            "Re: Your message [Acme Support #7]"
        );
    }

    #[test]
    fn quote_skips_own_quotes_and_stops_at_attribution() {
        let q = quote_lines("first\n\n> old\nsecond\nOn Mon, Bob wrote:\n> x\nthird", 6);
        assert_eq!(q, vec!["first", "second"]);
        assert_eq!(quote_lines("a\nb\nc", 2), vec!["a", "b"]);
    }

    #[test]
    fn strict_mode_rejects_unknown_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ack.txt.hbs"), "Dear {{customer.nmae}},").expect("write");
        let t = Templates::load(Some(dir.path())).expect("compiles");
        let err = t.self_test().expect_err("strict");
        assert!(err.to_string().contains("ack.txt.hbs"), "{err}");
    }
}
