//! Every mail to an agent: the notification of a ticket (new, a follow-up, or handed over by
//! `#assign`), and the short notice that explains why nothing was sent. Used by the
//! decision and by operators' and the SLA loop's actions (`actions`), so nothing
//! here depends on an incoming mail being processed.

use std::time::SystemTime;

use super::State;
use crate::compose::{
    AnchorContext, ComposeError, Envelope, HistoryVars, NoticeContext, NotificationPrint,
    NotifyContext, PersonVars, Templates, build_mail, customer_vars, known_name, person_vars,
    service_vars, ticket_vars,
};
use crate::config::{Agent, Config, ReplyTokens, Service};
use crate::domain::{
    AgentEmail, Direction, EmailAddress, MailKind, MessageIdKind, OutgoingMail, Ticket, TicketId,
    TicketStamp,
};
use crate::mail::parse::{self, Attachment, Mailbox, Mime, ParsedMail};
use crate::mail::relay;
use crate::mail::thread::ticket_tag;

/// What composing a mail about a ticket needs: the configuration as the ticket's inbox sees
/// it, the templates, the store id of what caused the mail (it makes the Message-ID
/// deterministic, so a re-send after a crash is the same mail), and the Date.
#[derive(Clone, Copy)]
pub struct Composer<'a> {
    /// The configuration, as the inbox the mail is about sees it.
    pub cfg: &'a Config,
    /// The templates.
    pub templates: &'a Templates,
    /// The store id of the cause: the incoming mail, or a fresh id for an operator's action.
    pub cause: u64,
    /// The Date header.
    pub date: SystemTime,
}

/// Why an agent is being notified.
#[derive(Debug, Clone, Copy)]
pub enum Notify<'a> {
    /// A new ticket.
    New,
    /// A later mail of the customer.
    FollowUp,
    /// Handed over by another agent or an operator, with their note.
    Assigned {
        /// Who handed it over.
        by: &'a str,
        /// Their handover note (may be empty).
        handover: &'a str,
    },
}

/// The customer's mail a notification carries: parsed, with its attachments.
pub struct CustomerMail<'a> {
    /// The customer as they wrote.
    pub customer: &'a Mailbox,
    /// The mail.
    pub mail: &'a ParsedMail,
    /// Its attachments with their bytes (read from the same parse as `mail`).
    pub attachments: &'a [Attachment<'a>],
}

impl Composer<'_> {
    /// Our Message-ID for a mail of `kind` about `ticket`.
    pub fn message_id(&self, kind: MessageIdKind, ticket: TicketStamp) -> String {
        relay::message_id(
            self.cfg.token_key(),
            kind,
            ticket,
            self.cause,
            self.cfg.service.address.domain(),
        )
    }

    /// How `ticket`'s notification is recognised when an agent's answer quotes it.
    pub fn notification_print(&self, ticket: TicketId) -> NotificationPrint {
        let service = &self.cfg.service;
        self.templates
            .notification_print(&service.name, &service.address, ticket)
    }

    /// The reply token of `agent` for `ticket`, and the Reply-To address that carries it.
    pub fn reply_address(
        &self,
        ticket: &Ticket,
        agent: &Agent,
    ) -> Result<(String, EmailAddress), ComposeError> {
        let key = relay::ticket_key(self.cfg.token_key(), ticket.created_at);
        let token = relay::mint(&key, ticket.id, &agent.email);
        let address = relay::reply_address(&self.cfg.service.address, ticket.id, &token);
        let address = EmailAddress::parse(&address)
            .ok_or_else(|| ComposeError::Build("reply address is not valid".into()))?;
        Ok((token, address))
    }

    /// The customer's mail for the ticket's agent: a header block, the text, the attachments,
    /// and a Reply-To that carries the agent's token for this ticket.
    pub fn notification(
        &self,
        ticket: &Ticket,
        agent: &Agent,
        mail: &CustomerMail<'_>,
        history: HistoryVars,
        why: Notify<'_>,
    ) -> Result<OutgoingMail, ComposeError> {
        let service = &self.cfg.service;
        let followup = matches!(why, Notify::FollowUp);
        let (assigned_by, handover) = match why {
            Notify::Assigned { by, handover } => (by.to_string(), handover.to_string()),
            Notify::New | Notify::FollowUp => (String::new(), String::new()),
        };
        let (token, reply_to) = self.reply_address(ticket, agent)?;
        let attachments = mail.attachments;
        let customer = mail.customer;
        // The name is the one the customer's mail shows; the greeting name, the one the
        // acknowledgement greets them by.
        let greeting = customer_vars(customer, &mail.mail.text, "the customer");
        let customer_vars = PersonVars {
            name: known_name(customer).unwrap_or_else(|| customer.address.to_string()),
            ..greeting
        };
        let text = self.templates.notify_text(&NotifyContext {
            customer: customer_vars,
            agent: person_vars(&agent.name, agent.email.address()),
            ticket: ticket_vars(&service.name, ticket.id),
            service: service_vars(&service.name, &service.address),
            history,
            followup,
            assigned_by,
            handover,
            attachments: attachments.iter().map(|a| a.name.clone()).collect(),
            text: mail.mail.text.clone(),
        })?;
        // Its own template, checked to render one line that names the ticket: an override of
        // the notification cannot drop the line that lets us cut a quoted notification out of
        // an answer (`NotificationPrint`).
        let anchor = self.templates.anchor(&AnchorContext::new(
            &service.name,
            &service.address,
            ticket.id,
        ))?;
        let text = format!("{anchor}\n\n{text}");
        let subject = notification_subject(service, ticket, mail.mail, followup);
        let from_name = format!(
            "{} via {}",
            customer
                .name
                .as_deref()
                .unwrap_or(customer.address.as_str()),
            service.name
        );
        build_mail(
            MailKind::AgentNotification,
            &Envelope {
                from_name: &from_name,
                service_address: &service.address,
                to: (Some(&agent.name), agent.email.address()),
                cc: &[],
                reply_to: reply_to_header(service, &reply_to),
                subject: &with_marker(service, &subject, ticket.id, &token),
                message_id: self.message_id(MessageIdKind::Notify, ticket.stamp()),
                in_reply_to: ticket.notify_root.as_deref().filter(|_| followup),
                references: ticket.notify_root.iter().map(String::as_str).collect(),
                auto_submitted: Some("auto-generated"),
                date: self.date,
            },
            text,
            attachments,
            Some(service.address.clone()),
        )
    }

    /// A short notice to `agent` about `ticket`: why nothing was sent (or what happened
    /// meanwhile). Answering it works like answering a notification.
    pub fn notice(
        &self,
        ticket: &Ticket,
        agent: &Agent,
        reason: &str,
    ) -> Result<OutgoingMail, ComposeError> {
        let service = &self.cfg.service;
        let text = self.templates.notice_text(&NoticeContext {
            agent: person_vars(&agent.name, agent.email.address()),
            ticket: ticket_vars(&service.name, ticket.id),
            service: service_vars(&service.name, &service.address),
            reason: reason.to_string(),
        })?;
        let tag = ticket_tag(&service.name, ticket.id);
        let subject = format!("Not sent: {tag} {}", ticket.subject);
        self.note_to_agent(ticket, agent, &subject, text, "auto-replied")
    }

    /// A short mail to `agent` in `ticket`'s agent thread (under its first notification),
    /// from the support address, with the Reply-To and subject marker that carry the agent's
    /// token: answering it works like answering a notification. `auto_submitted` says how
    /// it came about (RFC 3834).
    pub fn note_to_agent(
        &self,
        ticket: &Ticket,
        agent: &Agent,
        subject: &str,
        text: String,
        auto_submitted: &str,
    ) -> Result<OutgoingMail, ComposeError> {
        let service = &self.cfg.service;
        let (token, reply_to) = self.reply_address(ticket, agent)?;
        build_mail(
            MailKind::AgentNotice,
            &Envelope {
                from_name: &service.name,
                service_address: &service.address,
                to: (Some(&agent.name), agent.email.address()),
                cc: &[],
                reply_to: reply_to_header(service, &reply_to),
                subject: &with_marker(service, subject, ticket.id, &token),
                message_id: self.message_id(MessageIdKind::Notice, ticket.stamp()),
                in_reply_to: ticket.notify_root.as_deref(),
                references: ticket.notify_root.iter().map(String::as_str).collect(),
                auto_submitted: Some(auto_submitted),
                date: self.date,
            },
            text,
            &[],
            None,
        )
    }

    /// The notification that hands `ticket` to `target`: the customer's latest mail (a
    /// person's, not an automated reply) with its attachments, who handed it over and their
    /// note.
    pub fn handover(
        &self,
        ticket: &Ticket,
        target: &Agent,
        latest: &LatestMail,
        by: &str,
        note: &str,
    ) -> Result<OutgoingMail, ComposeError> {
        let customer = Mailbox::customer_of(ticket);
        let mut handed = ticket.clone();
        handed.agent = target.email.clone();
        handed.notify_root = None;
        self.notification(
            &handed,
            target,
            &CustomerMail {
                customer: &customer,
                mail: &latest.mail,
                attachments: &latest.attachments,
            },
            latest.history.clone(),
            Notify::Assigned { by, handover: note },
        )
    }
}

/// The customer's latest mail on a ticket and their history, as a handover shows them.
pub struct LatestMail {
    /// The mail, parsed (only the subject, if there is none or it no longer parses).
    pub mail: ParsedMail,
    /// Its attachments with their bytes (none if there is no mail).
    pub attachments: Vec<Attachment<'static>>,
    /// The customer's earlier tickets.
    pub history: HistoryVars,
}

impl LatestMail {
    /// Reads the customer's latest mail (a person's, not an automated reply) on `ticket`.
    pub fn read<S: State>(
        state: &S,
        cfg: &Config,
        ticket: &Ticket,
    ) -> Result<LatestMail, S::Error> {
        let latest = ticket
            .messages
            .iter()
            .rev()
            .filter(|m| {
                m.direction == Direction::Inbound && m.suppressed.is_none_or(|r| !r.is_automated())
            })
            .find_map(|m| m.inbound_seq);
        let raw = match latest {
            Some(seq) => state.inbound_raw(seq)?.unwrap_or_default(),
            None => Vec::new(),
        };
        let mime = Mime::new(&raw);
        let mail = parse::parse(&mime).unwrap_or_else(|_| ParsedMail {
            subject: ticket.subject.clone(),
            ..ParsedMail::default()
        });
        let attachments = parse::attachments(&mime)
            .into_iter()
            .map(Attachment::into_owned)
            .collect();
        let history = history(state, cfg, &ticket.customer, ticket.id);
        Ok(LatestMail {
            mail,
            attachments,
            history,
        })
    }
}

/// The customer's tickets before `ticket`, for the notification's header block. A failing
/// read only leaves the block short.
pub fn history<S: State>(
    state: &S,
    cfg: &Config,
    customer: &EmailAddress,
    ticket: TicketId,
) -> HistoryVars {
    let earlier: Vec<TicketId> = state
        .customer_tickets(customer)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t != ticket)
        .collect();
    match earlier.last().and_then(|t| state.ticket(*t).ok().flatten()) {
        Some(last) => HistoryVars {
            count: earlier.len(),
            last_number: last.id.get(),
            last_subject: last.subject.clone(),
            last_agent: agent_name(cfg, &last.agent),
        },
        None => HistoryVars::default(),
    }
}

/// An agent's display name, or their address if they are no longer configured.
fn agent_name(cfg: &Config, email: &AgentEmail) -> String {
    cfg.agent(email)
        .map_or_else(|| email.to_string(), |a| a.name.clone())
}

/// The notification's subject: the tag and the ticket's subject (a follow-up as `Re:`).
fn notification_subject(
    service: &Service,
    ticket: &Ticket,
    mail: &ParsedMail,
    followup: bool,
) -> String {
    let tag = ticket_tag(&service.name, ticket.id);
    if followup {
        format!("Re: {tag} {}", ticket.subject)
    } else if !mail.subject.is_empty() && !ticket.subject.is_empty() && ticket.messages.len() > 1 {
        format!("{tag} {}", ticket.subject)
    } else if mail.subject.is_empty() {
        format!("{tag} (no subject)")
    } else {
        format!("{tag} {}", mail.subject)
    }
}

/// The Reply-To that carries the token (in plus mode; subject mode carries it in the
/// subject instead).
fn reply_to_header<'a>(
    service: &'a Service,
    reply_to: &'a EmailAddress,
) -> Option<(Option<&'a str>, &'a EmailAddress)> {
    match service.reply_tokens {
        ReplyTokens::Plus => Some((Some(&service.name), reply_to)),
        ReplyTokens::Subject => None,
    }
}

/// In subject mode, the subject an agent replies to carries the token marker.
fn with_marker(service: &Service, subject: &str, ticket: TicketId, token: &str) -> String {
    match service.reply_tokens {
        ReplyTokens::Plus => subject.to_string(),
        ReplyTokens::Subject => format!("{subject} {}", relay::subject_marker(ticket, token)),
    }
}
