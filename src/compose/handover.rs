//! The new agent's short mail to a customer whose ticket changed hands (`#assign`,
//! `tickets assign`, the SLA loop's reassignment): who has it now, from whom, and that
//! nothing is needed of them.

use std::time::SystemTime;

use serde::Serialize;

use super::{
    ComposeError, Envelope, PersonVars, ServiceVars, Templates, TicketVars, build_mail,
    customer_vars, person, person_vars, reply_subject, service_vars, ticket_vars,
};
use crate::config::{Agent, Service};
use crate::domain::{MailKind, OutgoingMail, Ticket};
use crate::mail::parse::Mailbox;

/// Variables of `handover.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct HandoverContext {
    /// The customer.
    pub customer: PersonVars,
    /// The agent who has the ticket now (the mail is from them).
    pub agent: PersonVars,
    /// The agent who had it.
    pub previous: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
}

impl HandoverContext {
    /// Sample data for `check-config`.
    pub fn sample() -> HandoverContext {
        HandoverContext {
            customer: person("Alice Doe", "alice@customer.example"),
            agent: person("Maria Lopez", "maria@example.com"),
            previous: person("Jason Miller", "jason@example.com"),
            ticket: TicketVars {
                number: 1042,
                tag: "[Acme Support #1042]".into(),
            },
            service: ServiceVars {
                name: "Acme Support".into(),
                address: "support@example.com".into(),
            },
        }
    }
}

/// What a handover mail is about.
pub struct Handover<'a> {
    /// The ticket, before it changes hands.
    pub ticket: &'a Ticket,
    /// Who had it (their name, as configured; the address if they are no longer an agent).
    pub previous: &'a str,
    /// Who has it now.
    pub target: &'a Agent,
    /// Our Message-ID for it.
    pub message_id: String,
    /// The Date header.
    pub date: SystemTime,
}

/// The mail to the customer of `h.ticket`: from the new agent's name at the support address,
/// in the ticket's thread, `Auto-Submitted: auto-generated` (RFC 3834 §5: no person wrote
/// it), bounces to the support address where they are matched to the ticket.
pub fn handover(
    templates: &Templates,
    service: &Service,
    h: &Handover<'_>,
) -> Result<OutgoingMail, ComposeError> {
    let ticket = h.ticket;
    let customer = Mailbox::customer_of(ticket);
    let text = templates.render_in(
        ticket.language(),
        "handover.txt.hbs",
        &HandoverContext {
            customer: customer_vars(&customer, "", "there"),
            agent: person_vars(&h.target.name, h.target.email.address()),
            previous: person(h.previous, ""),
            ticket: ticket_vars(&service.name, ticket.id),
            service: service_vars(&service.name, &service.address),
        },
    )?;
    build_mail(
        MailKind::Handover,
        &Envelope {
            from_name: &format!("{}, {}", h.target.name, service.name),
            service_address: &service.address,
            to: (ticket.customer_name.as_deref(), &ticket.customer),
            cc: &[],
            reply_to: None,
            subject: &reply_subject(&ticket.subject, &service.name, ticket.id, ticket.language()),
            message_id: h.message_id.clone(),
            in_reply_to: ticket.last_customer_message_id(),
            references: ticket.thread_ids(),
            auto_submitted: Some("auto-generated"),
            date: h.date,
        },
        text,
        &[],
        Some(service.address.clone()),
    )
}
