//! The acknowledgement of a new ticket: whether it goes (or why it is withheld), the
//! language the ticket is written in, what it can honestly say beyond availability (the
//! typical wait, a returning customer's earlier ticket, a closure of the desk, colleagues
//! copied), and the mail itself.

use tracing::debug;

use super::customer::timestamp;
use super::{Ctx, State};
use crate::compose::{AckInput, DeskClosure, acknowledgement};
use crate::config::Agent;
use crate::domain::{
    EmailAddress, MessageIdKind, OutgoingMail, SuppressReason, Ticket, TicketStamp, UnixTime,
    typical_wait,
};
use crate::lang;
use crate::mail::classify::{self, Classified};
use crate::mail::parse::{Mailbox, ParsedMail};
use crate::route::Assignment;

/// The language of a new ticket ([`lang::choose_language`]): that of the customer's newest
/// earlier ticket, the mail's `Content-Language`, the language of their words, the inbox's
/// default, each only if there is a template set in it.
pub(super) fn language<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    earlier: Option<&Ticket>,
) -> String {
    let clues = lang::LanguageClues {
        earlier: earlier.and_then(|t| t.language.as_deref()),
        content_language: mail.content_language.as_deref(),
        text: &mail.text,
        inbox_default: &ctx.cfg.service.language,
    };
    let (language, source) = lang::choose_language(&clues, |l| ctx.templates.has_language(l));
    debug!(language = %language, source = ?source, "ticket language chosen");
    language
}

/// Why the customer gets no acknowledgement, if they get none: they asked for none (or look
/// automated), the From may be forged, acknowledgements are off, or a rate limit holds.
pub(super) fn withheld<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    customer: &Mailbox,
    class: &Classified,
) -> Result<Option<SuppressReason>, S::Error> {
    let (ack, now) = (&ctx.cfg.ack, ctx.now);
    Ok(if let Classified::Suppress(reason) = *class {
        // A person who asked not to be auto-answered still gets a ticket, just no reply.
        Some(reason)
    } else if ack.require_aligned_sender && !classify::sender_aligned(mail) {
        Some(SuppressReason::UnverifiedSender)
    } else if !ack.enabled {
        Some(SuppressReason::AcknowledgementsDisabled)
    } else if ctx.state.acks_since(
        &customer.address.without_detail(),
        now.saturating_sub(86_400),
    )? >= ack.per_sender_per_day as usize
    {
        Some(SuppressReason::RateLimited)
    } else if ack.max_per_hour > 0 && ctx.state.acks_in_hour(now)? >= ack.max_per_hour as usize {
        Some(SuppressReason::GlobalRateLimited)
    } else {
        None
    })
}

/// What the acknowledgement can tell a customer about their agent beyond availability.
pub(super) struct AckFacts {
    /// How long the agent's (else their teams') first answers usually take.
    usually_within: Option<std::time::Duration>,
    /// The customer's earlier ticket the same agent helped with.
    previous: Option<Ticket>,
    /// The ticket's language, which all of it is written in.
    language: String,
    /// Whom it copies (the customer's colleagues among the participants, see
    /// `participants::acknowledgement_copies`).
    copies: Vec<EmailAddress>,
}

/// Reads what [`AckFacts`] says: the agent's recent first responses (else those of everyone
/// in a team with them), and the customer's newest earlier ticket `earlier` if the agent may
/// remind them of it ([`Ticket::remembered_by`]); `language` and `copies` are decided
/// before.
pub(super) fn ack_facts<S: State>(
    ctx: &Ctx<'_, S>,
    agent: &Agent,
    language: &str,
    copies: Vec<EmailAddress>,
    earlier: Option<&Ticket>,
) -> Result<AckFacts, S::Error> {
    let ack = &ctx.cfg.ack;
    let since = ctx
        .now
        .saturating_sub(ack.typical_window.as_secs() as UnixTime);
    let mut usually_within = None;
    if ack.typical_min_sample > 0 {
        let own = ctx.state.first_responses(&agent.email)?;
        usually_within = typical_wait(&own, since, ack.typical_min_sample);
        if usually_within.is_none() && !agent.teams.is_empty() {
            let mut team = Vec::new();
            for other in ctx
                .cfg
                .agents
                .iter()
                .filter(|o| o.teams.iter().any(|t| agent.teams.contains(t)))
            {
                team.extend(ctx.state.first_responses(&other.email)?);
            }
            usually_within = typical_wait(&team, since, ack.typical_min_sample);
        }
    }
    let previous = earlier
        .filter(|t| t.remembered_by(&agent.email, ctx.now, ack.remember))
        .cloned();
    Ok(AckFacts {
        language: language.to_string(),
        usually_within,
        previous,
        copies,
    })
}

/// The first day on or after `day` that `agent` works (a closure ending on a Friday reopens
/// on Monday for a desk that works Monday to Friday); `day` itself if that cannot be told.
fn first_working_day(agent: &Agent, day: jiff::civil::Date) -> jiff::civil::Date {
    day.to_zoned(agent.hours.tz().clone())
        .ok()
        .and_then(|start| agent.hours.next_open(start.timestamp()))
        .map_or(day, |open| open.date())
}

/// The acknowledgement of ticket `id`, or the quarantine reason if it cannot be composed.
pub(super) fn acknowledge<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    customer: &Mailbox,
    ticket: TicketStamp,
    agent: &Agent,
    assignment: &Assignment,
    facts: &AckFacts,
) -> Result<OutgoingMail, String> {
    let cfg = ctx.cfg;
    let language = facts.language.as_str();
    let input = AckInput {
        service_name: &cfg.service.name,
        service_address: &cfg.service.address,
        ticket: ticket.id,
        customer,
        cc: &facts.copies,
        agent_name: &agent.name,
        agent_address: agent.email.address(),
        subject: &mail.subject,
        parent_message_id: mail.message_id.as_deref(),
        parent_references: &mail.references,
        parent_in_reply_to: &mail.in_reply_to,
        text: &mail.text,
        quote_lines: cfg.ack.quote_lines,
        message_id: ctx.composer().message_id(MessageIdKind::Ack, ticket),
        agent_available: assignment.available,
        agent_back: assignment
            .back_at
            .as_ref()
            .map(|b| lang::describe_return(b, timestamp(ctx), language, mail.date_offset)),
        usually_within: facts.usually_within,
        previous: facts.previous.as_ref().map(|t| (t.id, t.subject.as_str())),
        closure: cfg
            .desk_closure(timestamp(ctx).to_zoned(agent.hours.tz().clone()).date())
            .map(|(name, reopens)| DeskClosure {
                name: name.map(str::to_string),
                reopens: first_working_day(agent, reopens),
            }),
        date: ctx.date,
        language,
    };
    acknowledgement(ctx.templates, &input)
        .map_err(|e| format!("acknowledgement could not be composed: {e}"))
}
