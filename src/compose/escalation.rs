//! The mail to a team lead about a ticket that missed its first-response target.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{
    ComposeError, Envelope, PersonVars, ServiceVars, Templates, TicketVars, build_mail,
    person_vars, service_vars, ticket_vars,
};
use crate::config::Config;
use crate::domain::{EmailAddress, Escalation, MailKind, MessageIdKind, OutgoingMail, Ticket};
use crate::mail::relay;
use crate::mail::thread::ticket_tag;

/// Variables of `escalation.txt.hbs`.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationContext {
    /// The ticket.
    pub ticket: TicketVars,
    /// The customer.
    pub customer: PersonVars,
    /// The agent who has not answered.
    pub agent: PersonVars,
    /// Us.
    pub service: ServiceVars,
    /// The ticket's subject.
    pub subject: String,
    /// Working time waited, e.g. "4 h 10 min".
    pub waited: String,
    /// The target, e.g. "4 h".
    pub target: String,
}

impl EscalationContext {
    /// Sample data for `check-config`.
    pub fn sample() -> EscalationContext {
        let support = EmailAddress::parse("support@example.com")
            .unwrap_or_else(|| unreachable!("valid literal"));
        EscalationContext {
            ticket: ticket_vars("Acme Support", crate::domain::TicketId::new(1042)),
            customer: super::person("Alice Doe", "alice@customer.example"),
            agent: super::person("Jason Miller", "jason@example.com"),
            service: service_vars("Acme Support", &support),
            subject: "Printer on fire".into(),
            waited: "4 h 10 min".into(),
            target: "4 h".into(),
        }
    }
}

/// "3 h 12 min", "45 min".
pub fn describe(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The escalation mail for `ticket`: to the lead, from the support address, with the
/// ticket's tag, how long it waited and the target it missed.
pub fn escalation(
    cfg: &Config,
    templates: &Templates,
    ticket: &Ticket,
    esc: &Escalation,
    date: SystemTime,
) -> Result<OutgoingMail, ComposeError> {
    let service = &cfg.service;
    let agent_name = cfg
        .agent(&ticket.agent)
        .map_or_else(|| ticket.agent.to_string(), |a| a.name.clone());
    let text = templates.render(
        "escalation.txt.hbs",
        &EscalationContext {
            ticket: ticket_vars(&service.name, ticket.id),
            customer: person_vars(
                ticket
                    .customer_name
                    .as_deref()
                    .unwrap_or(ticket.customer.as_str()),
                &ticket.customer,
            ),
            agent: person_vars(&agent_name, ticket.agent.address()),
            service: service_vars(&service.name, &service.address),
            subject: ticket.subject.clone(),
            waited: describe(esc.waited),
            target: describe(esc.target),
        },
    )?;
    let secret = cfg.token_key();
    let tag = ticket_tag(&service.name, ticket.id);
    build_mail(
        MailKind::Escalation,
        &Envelope {
            from_name: &service.name,
            service_address: &service.address,
            to: (None, &esc.lead),
            cc: &[],
            reply_to: None,
            subject: &format!(
                "Escalation: {tag} {} (no first answer after {})",
                ticket.subject,
                describe(esc.target)
            ),
            message_id: relay::message_id(
                secret,
                MessageIdKind::Escalation,
                ticket.stamp(),
                0,
                service.address.domain(),
            ),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: Some("auto-generated"),
            date,
        },
        text,
        &[],
        Some(service.address.clone()),
    )
}
