//! The templates' variables of every mail to an agent (notification, notice) and of a
//! relayed answer, and what marks a notification so it is never relayed back.

use serde::Serialize;

use super::{
    AckContext, HistoryVars, PersonVars, ServiceVars, TemplateError, Templates, TicketVars,
    service_vars, ticket_vars,
};
use crate::domain::{EmailAddress, TicketId};

/// The longest anchor line a template may render: clients wrap longer lines, and the anchor
/// is guidance to be read at a glance.
const MAX_ANCHOR_CHARS: usize = 200;

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

/// Variables of `agent_anchor.txt.hbs`, the first line of every notification.
#[derive(Debug, Clone, Serialize)]
pub struct AnchorContext {
    /// The ticket: the anchor names its number, so one ticket's notification is told apart.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
}

impl AnchorContext {
    /// The anchor's variables for `ticket` of the service called `service_name` at `address`.
    pub fn new(service_name: &str, address: &EmailAddress, ticket: TicketId) -> AnchorContext {
        AnchorContext {
            ticket: ticket_vars(service_name, ticket),
            service: service_vars(service_name, address),
        }
    }

    pub(super) fn sample() -> AnchorContext {
        let a = AckContext::sample();
        AnchorContext {
            ticket: a.ticket,
            service: a.service,
        }
    }
}

/// The built-in anchor (`templates/agent_anchor.txt.hbs` as shipped): guidance for the agent
/// and the fingerprint that stops a quoted notification from being relayed. Always
/// recognised beside the configured one, so answers to notifications sent before a template
/// override or a reload still cut.
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

/// How a notification of one ticket is recognised when it comes back quoted in an answer:
/// its anchor lines (the configured one and the built-in one) and its header block's first
/// words (`Ticket #1001 ·`). The cutter finds the quote by them, and the leak guard refuses
/// an answer in which any of them is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPrint {
    anchors: Vec<String>,
    header: String,
}

impl NotificationPrint {
    /// The print of `ticket`'s notification whose first line was `anchor` (as the templates
    /// render it now); the built-in anchor is recognised as well.
    pub fn new(anchor: String, ticket: TicketId) -> NotificationPrint {
        let builtin = notification_marker(ticket);
        let mut anchors = vec![anchor];
        if anchors[0] != builtin {
            anchors.push(builtin);
        }
        anchors.retain(|a| !a.trim().is_empty());
        NotificationPrint {
            anchors,
            header: format!("Ticket #{ticket} ·"),
        }
    }

    /// The anchor lines, the configured one first.
    pub fn anchors(&self) -> &[String] {
        &self.anchors
    }

    /// The first words of the notification's header block, for a client that dropped the
    /// anchor line.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Every fingerprint: the anchors, the header's first words, the shipped sentences.
    fn fingerprints(&self) -> impl Iterator<Item = &str> {
        self.anchors
            .iter()
            .map(String::as_str)
            .chain([self.header.as_str()])
            .chain(NOTIFICATION_SENTENCES)
    }

    /// The lines of an agent's answer (after quote stripping) that hold part of the
    /// notification: relaying them would leak the internal header block to the customer.
    /// Empty when there are none.
    pub fn lines<'b>(&self, body: &'b str) -> Vec<&'b str> {
        body.lines()
            .filter(|line| self.fingerprints().any(|f| line.contains(f)))
            .collect()
    }

    /// What of the notification a relayed answer's HTML part holds: the lines of its text
    /// (as a reader sees it) that [`NotificationPrint::lines`] finds, and those of its markup
    /// (an attribute or a comment shows no text but goes along all the same). Empty when
    /// there are none.
    pub fn html_lines(&self, html: &str) -> Vec<String> {
        let text = crate::mail::relay::html_text(html);
        let mut found: Vec<String> = self
            .lines(&text)
            .into_iter()
            .map(|l| l.trim().to_string())
            .collect();
        for f in self.fingerprints() {
            if html.contains(f) && !found.iter().any(|l| l.contains(f)) {
                found.push(f.to_string());
            }
        }
        found
    }
}

impl Templates {
    /// Renders the anchor, the first line of every notification: one line that names the
    /// ticket, or [`TemplateError::Anchor`] saying what to fix in an override.
    pub fn anchor(&self, ctx: &AnchorContext) -> Result<String, TemplateError> {
        let anchor = self.render("agent_anchor.txt.hbs", ctx)?.trim().to_string();
        let number = ctx.ticket.number.to_string();
        let reason = if anchor.is_empty() {
            Some("it renders empty".to_string())
        } else if anchor.lines().count() > 1 {
            Some("it renders more than one line".to_string())
        } else if anchor.chars().count() > MAX_ANCHOR_CHARS {
            Some(format!(
                "it renders longer than {MAX_ANCHOR_CHARS} characters"
            ))
        } else if !anchor.contains(&number) {
            Some("it does not name the ticket".to_string())
        } else {
            None
        };
        match reason {
            None => Ok(anchor),
            Some(r) => Err(TemplateError::Anchor {
                reason: format!(
                    "{r}; write one short line that names the ticket with {{{{ticket.number}}}}, \
                     e.g. \"--- Antworten Sie oberhalb dieser Zeile (Ticket #{{{{ticket.number}}}}) ---\""
                ),
            }),
        }
    }

    /// How `ticket`'s notification is recognised in an answer: its anchor as the templates
    /// render it now (the built-in one if that fails), the built-in one, its header block.
    pub fn notification_print(
        &self,
        service_name: &str,
        address: &EmailAddress,
        ticket: TicketId,
    ) -> NotificationPrint {
        let anchor = self
            .anchor(&AnchorContext::new(service_name, address, ticket))
            .unwrap_or_else(|_| notification_marker(ticket));
        NotificationPrint::new(anchor, ticket)
    }

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
