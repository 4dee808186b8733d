//! The automatic mails around a ticket's end, and a customer's rating by reply. The closing
//! mail (when a ticket closes: `#close`, `tickets close`, the auto-close) and the reminder
//! obey what the acknowledgement obeys: never to an address that is ours or an agent's,
//! never to a sender whose opening mail looked automated or forged, at most
//! `per_sender_per_day` automatic mails per customer in 24 hours, and the hourly limit. A
//! reply to the closing mail that rates is recorded on the ticket, which stays closed, and
//! reaches the agent as a note.

use std::fmt;

use super::notify::Composer;
use super::{Ctx, Decision, State};
use crate::compose::{
    ComposeError, FollowUpInput, RatingContext, customer_follow_up, customer_vars, person_vars,
    service_vars, ticket_vars,
};
use crate::config::Agent;
use crate::domain::{
    Direction, JoinedVia, MailKind, MessageIdKind, OutgoingMail, Plan, Rating, SuppressReason,
    Ticket, TicketState, UnixTime,
};
use crate::mail::parse::{Mailbox, ParsedMail};
use crate::mail::rating::ReadRating;
use crate::mail::thread::ticket_tag;

/// Why a customer gets no closing mail or reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    /// `closing_mail = false` for the ticket's inbox.
    Off,
    /// A rule the acknowledgement obeys too (the reason's stable name).
    Suppressed(SuppressReason),
    /// The template failed.
    Compose(String),
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Withheld::Off => f.write_str("closing mail is off for this inbox"),
            Withheld::Suppressed(r) => write!(f, "{r}"),
            Withheld::Compose(e) => write!(f, "could not be composed: {e}"),
        }
    }
}

/// Whether an automatic mail may go to `ticket`'s customer at `now`: the acknowledgement's
/// loop rules and rate limits. `None`: it may.
pub fn automatic_withheld<S: State>(
    state: &S,
    composer: &Composer<'_>,
    ticket: &Ticket,
    now: UnixTime,
) -> Result<Option<SuppressReason>, S::Error> {
    let cfg = composer.cfg;
    let customer = ticket.customer.without_detail();
    let ours = cfg.own_addresses().contains(&customer)
        || cfg
            .agents
            .iter()
            .any(|a| a.email.address().without_detail() == customer);
    if ours || ticket.forgotten_at.is_some() {
        return Ok(Some(SuppressReason::OwnAddress));
    }
    // The mail that opened the ticket was a machine's, or asked not to be auto-answered,
    // or its sender may be forged: nothing automatic goes there, as no acknowledgement did.
    let opening = ticket
        .messages
        .iter()
        .find(|m| m.direction == Direction::Inbound)
        .and_then(|m| m.suppressed)
        .filter(|r| {
            r.is_automated()
                || matches!(
                    r,
                    SuppressReason::AutoResponseSuppress
                        | SuppressReason::UnverifiedSender
                        | SuppressReason::AutoReplySubject
                )
        });
    if let Some(reason) = opening {
        return Ok(Some(reason));
    }
    let ack = &cfg.ack;
    let since = now.saturating_sub(86_400);
    let mut sent = state.acks_since(&customer, since)?;
    for id in state.customer_tickets(&customer)? {
        if let Some(t) = state.ticket(id)? {
            sent += t
                .messages
                .iter()
                .filter(|m| {
                    matches!(
                        m.direction,
                        Direction::Closing | Direction::Reminder | Direction::Handover
                    ) && m.at >= since
                })
                .count();
        }
    }
    if sent >= ack.per_sender_per_day as usize {
        return Ok(Some(SuppressReason::RateLimited));
    }
    if ack.max_per_hour > 0 && state.acks_in_hour(now)? >= ack.max_per_hour as usize {
        return Ok(Some(SuppressReason::GlobalRateLimited));
    }
    Ok(None)
}

/// The closing mail for `ticket` as it closes, in the name of `agent` (its owner then), or
/// why there is none.
pub fn closing_mail<S: State>(
    state: &S,
    composer: &Composer<'_>,
    ticket: &Ticket,
    agent: Option<&Agent>,
    now: UnixTime,
) -> Result<Result<OutgoingMail, Withheld>, S::Error> {
    if !composer.cfg.sends_closing_mail() {
        return Ok(Err(Withheld::Off));
    }
    follow_up(state, composer, ticket, agent, MailKind::Closing, now)
}

/// The one reminder to `ticket`'s customer, or why there is none.
pub fn reminder_mail<S: State>(
    state: &S,
    composer: &Composer<'_>,
    ticket: &Ticket,
    agent: Option<&Agent>,
    now: UnixTime,
) -> Result<Result<OutgoingMail, Withheld>, S::Error> {
    follow_up(state, composer, ticket, agent, MailKind::Reminder, now)
}

/// The closing mail or the reminder (`kind`), unless a rule withholds it.
fn follow_up<S: State>(
    state: &S,
    composer: &Composer<'_>,
    ticket: &Ticket,
    agent: Option<&Agent>,
    kind: MailKind,
    now: UnixTime,
) -> Result<Result<OutgoingMail, Withheld>, S::Error> {
    if let Some(reason) = automatic_withheld(state, composer, ticket, now)? {
        return Ok(Err(Withheld::Suppressed(reason)));
    }
    let cfg = composer.cfg;
    let id_kind = match kind {
        MailKind::Reminder => MessageIdKind::Reminder,
        _ => MessageIdKind::Closing,
    };
    let input = FollowUpInput {
        kind,
        service_name: &cfg.service.name,
        service_address: &cfg.service.address,
        ticket,
        agent_name: agent.map_or(cfg.service.name.as_str(), |a| a.name.as_str()),
        agent_address: ticket.agent.address(),
        autoclose_days: cfg
            .closing
            .autoclose_after
            .map_or(0, |d| d.as_secs().div_ceil(86_400)),
        message_id: composer.message_id(id_kind, ticket.stamp()),
        date: composer.date,
    };
    Ok(
        customer_follow_up(composer.templates, &input)
            .map_err(|e| Withheld::Compose(e.to_string())),
    )
}

impl Composer<'_> {
    /// The short note that tells `agent` of the customer's rating of `ticket`. Answering it
    /// works like answering a notice.
    pub fn rating_note(
        &self,
        ticket: &Ticket,
        agent: &Agent,
        rating: &ReadRating,
    ) -> Result<OutgoingMail, ComposeError> {
        let service = &self.cfg.service;
        let customer = Mailbox::customer_of(ticket);
        let text = self.templates.rating_text(&RatingContext {
            agent: person_vars(&agent.name, agent.email.address()),
            customer: customer_vars(&customer, "", "the customer"),
            ticket: ticket_vars(&service.name, ticket.id),
            service: service_vars(&service.name, &service.address),
            subject: ticket.subject.clone(),
            score: rating.score,
            comment: rating.comment.clone(),
        })?;
        let tag = ticket_tag(&service.name, ticket.id);
        let subject = format!("Rated {}/5: {tag} {}", rating.score, ticket.subject);
        self.note_to_agent(ticket, agent, &subject, text, "auto-generated")
    }
}

/// A reply of the customer to a closed ticket that had a closing mail, rating it on the
/// first line: recorded on the ticket (which stays closed), the agent told. `None`: the
/// ticket is not such a ticket, or the reply does not rate; it is handled as any reply.
pub(super) fn rated<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    ticket: &Ticket,
    via: JoinedVia,
) -> Option<Decision> {
    let closing_sent = ticket
        .messages
        .iter()
        .any(|m| m.direction == Direction::Closing);
    // Only the customer rates: a colleague on Cc replying to the closing mail is a reply.
    let by_customer = mail
        .from
        .as_ref()
        .is_some_and(|f| f.address.without_detail() == ticket.customer.without_detail());
    if ticket.state != TicketState::Closed || !closing_sent || !by_customer {
        return None;
    }
    let read = crate::mail::rating::read_rating(&mail.text)?;
    let reason = SuppressReason::Rating;
    let mut message = ctx.message(mail, Some(reason));
    message.note = Some(match read.comment.as_str() {
        "" => format!("rating {}/5", read.score),
        comment => format!("rating {}/5: {comment}", read.score),
    });
    // A note the agent cannot be sent (no longer configured, a template that fails) never
    // costs the customer's rating.
    let outgoing = ctx
        .cfg
        .agent(&ticket.agent)
        .and_then(|agent| ctx.composer().rating_note(ticket, agent, &read).ok())
        .into_iter()
        .collect();
    Some(Decision {
        message_id: mail.message_id.clone(),
        plan: Plan::Join {
            ticket: ticket.id,
            via,
            message,
            reason,
            outgoing,
            reopen: false,
            participants: Vec::new(),
            rating: Some(Rating {
                score: read.score,
                comment: read.comment,
                at: ctx.now,
                agent: ticket.agent.clone(),
            }),
        },
    })
}
