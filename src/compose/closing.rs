//! The mails around a ticket's end: the customer's personal closing mail (which invites a
//! rating by reply), the one reminder while a ticket waits on them, and the short note that
//! tells the agent of a rating. The customer's two are automatic (RFC 3834
//! `Auto-Submitted: auto-generated`, a null envelope sender) and threaded into the ticket.

use std::time::SystemTime;

use serde::Serialize;

use super::{
    ComposeError, Envelope, PersonVars, ServiceVars, TemplateError, Templates, TicketVars,
    build_mail, customer_vars, person, person_vars, reply_subject, service_vars, ticket_vars,
};
use crate::domain::{EmailAddress, MailKind, OutgoingMail, Ticket, TicketId};
use crate::mail::parse::Mailbox;

/// Variables of `closing.txt.hbs` and `reminder.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUpContext {
    /// The customer.
    pub customer: PersonVars,
    /// The agent who owns the ticket (the mail is in their name).
    pub agent: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
    /// The ticket's subject.
    pub subject: String,
    /// Days until a waiting ticket closes on its own (0: it does not); the reminder says so.
    pub autoclose_days: u64,
}

impl FollowUpContext {
    /// Sample data for `check-config`.
    pub fn sample() -> FollowUpContext {
        FollowUpContext {
            customer: person("Alice Doe", "alice@customer.example"),
            agent: person("Jason Miller", "jason@example.com"),
            ticket: ticket_vars("Acme Support", TicketId::new(1042)),
            service: ServiceVars {
                name: "Acme Support".into(),
                address: "support@example.com".into(),
            },
            subject: "Printer on fire".into(),
            autoclose_days: 4,
        }
    }
}

/// Variables of `agent_rating.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct RatingContext {
    /// The agent rated.
    pub agent: PersonVars,
    /// The customer who rated.
    pub customer: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
    /// The ticket's subject.
    pub subject: String,
    /// 1 to 5.
    pub score: u8,
    /// The customer's comment (may be empty).
    pub comment: String,
}

impl RatingContext {
    /// Sample data for `check-config`.
    pub fn sample() -> RatingContext {
        RatingContext {
            agent: person("Jason Miller", "jason@example.com"),
            customer: person("Alice Doe", "alice@customer.example"),
            ticket: ticket_vars("Acme Support", TicketId::new(1042)),
            service: ServiceVars {
                name: "Acme Support".into(),
                address: "support@example.com".into(),
            },
            subject: "Printer on fire".into(),
            score: 4,
            comment: "thanks".into(),
        }
    }
}

/// What the closing mail and the reminder need besides the templates.
#[derive(Debug, Clone)]
pub struct FollowUpInput<'a> {
    /// [`MailKind::Closing`] or [`MailKind::Reminder`].
    pub kind: MailKind,
    /// Service display name.
    pub service_name: &'a str,
    /// The address it comes from (the ticket's inbox).
    pub service_address: &'a EmailAddress,
    /// The ticket.
    pub ticket: &'a Ticket,
    /// The agent's display name.
    pub agent_name: &'a str,
    /// The agent's address (for templates only: the mail comes from the support address).
    pub agent_address: &'a EmailAddress,
    /// Days until the ticket closes on its own (0: never).
    pub autoclose_days: u64,
    /// Our Message-ID for it.
    pub message_id: String,
    /// The Date header.
    pub date: SystemTime,
}

/// The closing mail or the reminder: to the customer, from the support address in the
/// agent's name, in reply to the customer's latest mail with the ticket's thread as
/// References, automatic (no bounce comes back to the null sender, and auto-responders
/// that honour RFC 3834 stay quiet).
pub fn customer_follow_up(
    templates: &Templates,
    input: &FollowUpInput<'_>,
) -> Result<OutgoingMail, ComposeError> {
    let t = input.ticket;
    let customer = Mailbox::customer_of(t);
    let ctx = FollowUpContext {
        customer: customer_vars(&customer, "", "there"),
        agent: person_vars(input.agent_name, input.agent_address),
        ticket: ticket_vars(input.service_name, t.id),
        service: service_vars(input.service_name, input.service_address),
        subject: t.subject.clone(),
        autoclose_days: input.autoclose_days,
    };
    let text = match input.kind {
        MailKind::Reminder => templates.reminder_text(t.language(), &ctx)?,
        _ => templates.closing_text(t.language(), &ctx)?,
    };
    let thread = t.thread_ids();
    let parent = t
        .last_customer_message_id()
        .or_else(|| thread.last().copied());
    build_mail(
        input.kind,
        &Envelope {
            from_name: &format!("{}, {}", input.agent_name, input.service_name),
            service_address: input.service_address,
            to: (t.customer_name.as_deref(), &t.customer),
            cc: &[],
            reply_to: None,
            subject: &reply_subject(&t.subject, input.service_name, t.id, t.language()),
            message_id: input.message_id.clone(),
            in_reply_to: parent,
            references: thread,
            auto_submitted: Some("auto-generated"),
            date: input.date,
        },
        text,
        &[],
        None,
    )
}

impl Templates {
    /// Renders the customer's closing mail in the ticket's language `lang`.
    pub fn closing_text(&self, lang: &str, ctx: &FollowUpContext) -> Result<String, TemplateError> {
        self.render_in(lang, "closing.txt.hbs", ctx)
    }

    /// Renders the reminder to a customer a ticket waits on, in the ticket's language `lang`.
    pub fn reminder_text(
        &self,
        lang: &str,
        ctx: &FollowUpContext,
    ) -> Result<String, TemplateError> {
        self.render_in(lang, "reminder.txt.hbs", ctx)
    }

    /// Renders the note that tells an agent of a customer's rating.
    pub fn rating_text(&self, ctx: &RatingContext) -> Result<String, TemplateError> {
        self.render("agent_rating.txt.hbs", ctx)
    }
}
