//! The templates' variables of every mail to an agent (notification, notice) and of a
//! relayed answer, and what marks a notification so it is never relayed back.

use serde::Serialize;

use super::{
    AckContext, HistoryVars, PersonVars, ServiceVars, TemplateError, Templates, TicketVars,
};
use crate::domain::TicketId;

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
    pub(super) fn sample() -> NotifyContext {
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

/// Variables of `relay.txt.hbs` and `relay.html.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct RelayContext {
    /// The agent's answer, quotes removed.
    pub body: String,
    /// The agent's answer as sanitized HTML (quote and commands removed, then
    /// `mail::html::clean`); empty for an answer relayed as text. `relay.html.hbs` inserts it
    /// unescaped, the one value an HTML template may insert so ([`super::RAW_HTML`]).
    pub body_html: String,
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
    pub(super) fn sample() -> RelayContext {
        let a = AckContext::sample();
        RelayContext {
            body: "Please unplug it.".into(),
            body_html: "<p>Please <b>unplug</b> it.</p>".into(),
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
    pub(super) fn sample() -> NoticeContext {
        let a = AckContext::sample();
        NoticeContext {
            agent: a.agent,
            ticket: a.ticket,
            service: a.service,
            reason: "#frobnicate is not a command".into(),
        }
    }
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

/// The lines of an agent's answer (after quote stripping) that hold part of the notification
/// of `ticket`: relaying them would leak the internal header block to the customer. Empty
/// when there are none.
pub fn notification_lines(body: &str, ticket: TicketId) -> Vec<&str> {
    let marker = notification_marker(ticket);
    let header = format!("Ticket #{ticket} ·");
    body.lines()
        .filter(|line| {
            line.contains(&marker)
                || line.contains(&header)
                || NOTIFICATION_SENTENCES.iter().any(|s| line.contains(s))
        })
        .collect()
}

/// What of the notification of `ticket` a relayed answer's HTML part holds: the lines of its
/// text (as a reader sees it) that [`notification_lines`] finds, and those of its markup (an
/// attribute or a comment shows no text but goes along all the same). Empty when there are
/// none.
pub fn html_notification_lines(html: &str, ticket: TicketId) -> Vec<String> {
    let text = crate::mail::relay::html_text(html);
    let mut found: Vec<String> = notification_lines(&text, ticket)
        .into_iter()
        .map(|l| l.trim().to_string())
        .collect();
    let marker = notification_marker(ticket);
    let header = format!("Ticket #{ticket} ·");
    let fingerprints = [marker.as_str(), header.as_str()]
        .into_iter()
        .chain(NOTIFICATION_SENTENCES);
    for f in fingerprints {
        if html.contains(f) && !found.iter().any(|l| l.contains(f)) {
            found.push(f.to_string());
        }
    }
    found
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

    /// Renders a relayed answer's HTML part (variables escaped, but for `body_html`).
    pub fn relay_html(&self, ctx: &RelayContext) -> Result<String, TemplateError> {
        self.render("relay.html.hbs", ctx)
    }

    /// Renders a notice to an agent.
    pub fn notice_text(&self, ctx: &NoticeContext) -> Result<String, TemplateError> {
        self.render("agent_notice.txt.hbs", ctx)
    }
}
