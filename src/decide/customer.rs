//! A customer's mail: which ticket it belongs to (a follow-up joins, a stranger's copied tag
//! and a reply long after closing open a ticket of their own, a burst from one sender joins
//! their newest ticket, another delivery of a mail joins the ticket that holds it), and for
//! a new ticket its agent, its acknowledgement (unless withheld, with the reason) and the
//! agent's notification. Bounces of our own mail are recorded on their ticket; an agent's
//! forward opens the customer's ticket.

use tracing::info;

use super::ack::{ack_facts, acknowledge, language, withheld};
use super::notify::{CustomerMail, Notify, history};
use super::participants;
use super::{Ctx, Decision, State, agent_verified, closed_long_ago, sending_agent};
use crate::config::Agent;
use crate::domain::{
    AgentEmail, COPIED_BY_CUSTOMER, EmailAddress, JoinedVia, MessageIdKind, OutgoingMail,
    ParticipantChange, Plan, SuppressReason, Ticket, TicketId, TicketStamp, TicketState,
};
use crate::mail::classify::{self, Classified, Identity, classify};
use crate::mail::parse::{self, Mailbox, ParsedMail};
use crate::mail::thread::{Sender, Threading, thread};
use crate::route::{self, Assignment};

/// An agent forwarding a customer's mail that reached them directly: the ticket (and the
/// acknowledgement) are the customer's, and the forwarding agent is preferred as owner. A
/// reply that continues a known thread is never a forward (an agent's Reply-All quotes the
/// customer too). `None`: not such a forward.
pub(super) fn forwarded<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    identity: &Identity,
) -> Result<Option<Decision>, S::Error> {
    let cfg = ctx.cfg;
    let mut in_known_thread = false;
    for id in mail.in_reply_to.iter().chain(&mail.references) {
        if ctx.state.ticket_by_message_id(id)?.is_some() {
            in_known_thread = true;
            break;
        }
    }
    let Some(agent) = sending_agent(cfg, mail) else {
        return Ok(None);
    };
    if in_known_thread || !parse::is_forward_subject(&mail.subject) || !agent_verified(cfg, mail) {
        return Ok(None);
    }
    let Some(fwd) = parse::forwarded(ctx.mime) else {
        return Ok(None);
    };
    let ours = |address: &EmailAddress| {
        cfg.agents.iter().any(|a| a.email.address() == address)
            || cfg
                .own_addresses()
                .iter()
                .any(|o| *o == address.without_detail())
    };
    if ours(&fwd.from.address) {
        return Ok(None);
    }
    let original = ParsedMail {
        from: Some(fwd.from),
        subject: fwd.subject,
        text: fwd.text,
        message_id: fwd.message_id,
        recipients: mail.recipients.clone(),
        ..ParsedMail::default()
    };
    if let Some(copy) = redelivered(ctx, &original)? {
        return Ok(Some(copy));
    }
    let class = classify(&original, identity);
    if matches!(class, Classified::Suppress(r) if r.is_automated()) {
        return Ok(None);
    }
    info!(event = "mail.forwarded", agent = %agent.email, "an agent forwarded a customer's mail");
    let opening = Opening {
        class,
        untrusted_tag: None,
        linked_from: None,
        prefer: Some(&agent.email),
    };
    new_ticket(ctx, &original, &opening).map(Some)
}

/// A customer's (or an automated sender's) mail that is not an agent's answer.
pub(super) fn customer_mail<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    class: Classified,
) -> Result<Decision, S::Error> {
    if let Some(copy) = redelivered(ctx, mail)? {
        return Ok(copy);
    }
    // A person, not a bounce or an out-of-office: only a person reopens, links or floods.
    let by_person = !matches!(class, Classified::Suppress(r) if r.is_automated());
    let threading = trusted_threading(ctx, mail)?;
    // An agent writing to the plain support address about a ticket (replying to a notice
    // without its Reply-To, say) is not a customer: tell them, send nothing. Their headers
    // name a ticket that is not theirs as customer, which threading passes over.
    let about = match &threading {
        Threading::Join { ticket, .. } => Some(*ticket),
        Threading::New {
            untrusted_header, ..
        } => *untrusted_header,
    };
    if let (Some(ticket), Some(agent)) = (about, sending_agent(ctx.cfg, mail))
        && by_person
        && let Some(t) = ctx.state.ticket(ticket)?
    {
        let view = ctx.about(Some(&t));
        let ctx = &ctx.with_cfg(&view);
        return Ok(super::agent::refuse_plain_address(ctx, mail, &t, agent));
    }
    // A reply to a closing mail that rates the ticket is recorded there and reopens nothing.
    if let Threading::Join { ticket, via } = threading
        && by_person
        && let Some(t) = ctx.state.ticket(ticket)?
    {
        let view = ctx.about(Some(&t));
        if let Some(rated) = super::closing::rated(&ctx.with_cfg(&view), mail, &t, via) {
            return Ok(rated);
        }
    }
    let (threading, linked) = match threading {
        Threading::Join { ticket, .. } if by_person => match ctx.state.ticket(ticket)? {
            // A person answering a ticket closed longer ago than the reopen window starts a
            // new ticket that links to the old one; within the window the old one reopens.
            Some(t)
                if t.state == TicketState::Closed
                    && closed_long_ago(ctx.cfg, t.closed_at, ctx.now) =>
            {
                (Threading::new_ticket(), Some(t))
            }
            _ => (threading, None),
        },
        other => (other, None),
    };
    let linked_from = linked.as_ref().map(|t| t.id);
    let threading = match (&threading, mail.from.as_ref()) {
        (Threading::New { .. }, Some(sender)) if by_person && linked_from.is_none() => {
            flood_join(ctx, &sender.address)?.unwrap_or(threading)
        }
        _ => threading,
    };
    match (threading, class) {
        (Threading::Join { ticket, via }, class) => join(ctx, mail, ticket, via, class),
        (Threading::New { .. }, Classified::Suppress(reason)) if reason.is_automated() => {
            let plan = bounced_on_ticket(ctx, mail, reason)?.unwrap_or(Plan::Suppress(reason));
            Ok(Decision {
                message_id: mail.message_id.clone(),
                plan,
            })
        }
        (
            Threading::New {
                untrusted_tag,
                untrusted_header,
            },
            class,
        ) => {
            if let Some(other) = untrusted_header {
                info!(ticket = %other, "threading headers name another customer's ticket: opening a new ticket");
            }
            let opening = Opening {
                class,
                untrusted_tag,
                linked_from,
                prefer: None,
            };
            // The linked ticket continues the old one's conversation: from its inbox.
            let view = ctx.about(linked.as_ref());
            new_ticket(&ctx.with_cfg(&view), mail, &opening)
        }
    }
}

/// Another delivery of a mail a ticket holds already: its bytes differ (Delivered-To,
/// Received: To support@ and Cc billing@, a plus-addressed copy, a client that sent it
/// again), so the digest did not catch it, but its Message-ID is on the ticket from the same
/// sender. Recorded there with reason `duplicate-delivery`; nothing is sent, nothing
/// reopens. `None`: not such a copy (a stranger with a copied id is not one).
fn redelivered<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
) -> Result<Option<Decision>, S::Error> {
    let (Some(id), Some(sender)) = (mail.message_id.as_deref(), mail.from.as_ref()) else {
        return Ok(None);
    };
    let Some(ticket) = ctx.state.ticket_by_message_id(id)? else {
        return Ok(None);
    };
    if !ctx
        .state
        .ticket(ticket)?
        .is_some_and(|t| t.holds(id, &sender.address))
    {
        return Ok(None);
    }
    let reason = SuppressReason::DuplicateDelivery;
    Ok(Some(Decision {
        message_id: mail.message_id.clone(),
        plan: Plan::Join {
            ticket,
            via: JoinedVia::Header,
            message: ctx.message(mail, Some(reason)),
            reason,
            outgoing: Vec::new(),
            reopen: false,
            participants: Vec::new(),
            rating: None,
        },
    }))
}

/// The mail's ticket by its headers or subject tag. A subject tag is easy to copy and From is
/// easy to forge: a tag-only join needs an envelope that backs the From, or it opens a ticket
/// of its own (without a reply).
fn trusted_threading<S: State>(ctx: &Ctx<'_, S>, mail: &ParsedMail) -> Result<Threading, S::Error> {
    let address = mail.from.as_ref().map(|f| &f.address);
    // Our own and the agents' addresses are never the customer's colleagues.
    let sender = Sender {
        address,
        colleagues: address.is_some_and(|a| !participants::ours_or_agent(ctx.cfg, a)),
    };
    let threading = thread(
        sender,
        &mail.subject,
        &mail.in_reply_to,
        &mail.references,
        &ctx.cfg.service.name,
        ctx.state,
    )?;
    Ok(match threading {
        Threading::Join {
            ticket,
            via: JoinedVia::SubjectTag,
        } if !classify::sender_aligned(mail) => Threading::New {
            untrusted_tag: Some(ticket),
            untrusted_header: None,
        },
        other => other,
    })
}

/// A storm from one sender (a script, a broken client, an angry customer) opens a few
/// tickets, then everything joins the newest open one: that join, if this mail is part of
/// one (the sender opened `flood_tickets` tickets within the flood window).
fn flood_join<S: State>(
    ctx: &Ctx<'_, S>,
    sender: &EmailAddress,
) -> Result<Option<Threading>, S::Error> {
    let limits = &ctx.cfg.limits;
    let since = ctx.now - limits.flood_window.as_secs() as i64;
    let ids = ctx.state.customer_tickets(&sender.without_detail())?;
    let mut recent = 0;
    let mut newest_open = None;
    for id in ids.iter().rev().take(limits.flood_tickets) {
        let Some(t) = ctx.state.ticket(*id)? else {
            continue;
        };
        if t.created_at >= since {
            recent += 1;
        }
        if newest_open.is_none() && t.state == TicketState::Open {
            newest_open = Some(t.id);
        }
    }
    Ok(newest_open
        .filter(|_| recent >= limits.flood_tickets)
        .map(|ticket| Threading::Join {
            ticket,
            via: JoinedVia::Flood,
        }))
}

/// A mail that joins `ticket`. A person's follow-up reaches the ticket's agent; automated
/// replies do not, and in a flood only the first few do (the rest is summarised once, see
/// `actions::flood_summary`). Only a person reopens a closed ticket.
fn join<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    ticket: TicketId,
    via: JoinedVia,
    class: Classified,
) -> Result<Decision, S::Error> {
    let message_id = mail.message_id.clone();
    let (mut reason, person) = match class {
        Classified::Suppress(r) => (r, !r.is_automated()),
        Classified::Acknowledge => (SuppressReason::FollowUp, true),
    };
    // Read once: a flood ticket's history is long.
    let joined = ctx.state.ticket(ticket)?;
    let view = ctx.about(joined.as_ref());
    let ctx = &ctx.with_cfg(&view);
    let limits = &ctx.cfg.limits;
    let throttled = person
        && joined.as_ref().is_some_and(|t| {
            t.notifications_within(ctx.now, limits.flood_window) >= limits.flood_notifications
        });
    if throttled {
        reason = SuppressReason::Flood;
    }
    let mut outgoing = Vec::new();
    if person
        && !throttled
        && let (Some(t), Some(customer)) = (joined.as_ref(), mail.from.as_ref())
        && let Some(agent) = ctx.cfg.agent(&t.agent)
    {
        match notify_agent(ctx, t, agent, customer, mail, Notify::FollowUp) {
            Ok(n) => outgoing.push(n),
            Err(e) => return Ok(Decision::quarantine(message_id, e)),
        }
    }
    let reopen = person
        && joined
            .as_ref()
            .is_some_and(|t| t.state == TicketState::Closed);
    let participants = match (joined.as_ref(), person) {
        (Some(t), true) => participants::newly_copied(ctx.cfg, mail, t),
        _ => Vec::new(),
    };
    Ok(Decision {
        message_id,
        plan: Plan::Join {
            ticket,
            via,
            message: ctx.message(mail, Some(reason)),
            reason,
            outgoing,
            reopen,
            participants,
            rating: None,
        },
    })
}

/// The notification of the customer's mail for `agent`, or the quarantine reason if it
/// cannot be composed.
fn notify_agent<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    agent: &Agent,
    customer: &Mailbox,
    mail: &ParsedMail,
    why: Notify<'_>,
) -> Result<OutgoingMail, String> {
    let history = history(ctx.state, ctx.cfg, &customer.address, ticket.id);
    let attachments = parse::attachments(ctx.mime);
    let customer_mail = CustomerMail {
        customer,
        mail,
        attachments: &attachments,
    };
    ctx.composer()
        .notification(ticket, agent, &customer_mail, history, why)
        .map_err(|e| format!("agent notification could not be composed: {e}"))
}

/// A bounce of one of our mails is recorded on its ticket; when it was an agent's answer,
/// the agent is told that the customer never received it (and why).
fn bounced_on_ticket<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    reason: SuppressReason,
) -> Result<Option<Plan>, S::Error> {
    if !matches!(
        reason,
        SuppressReason::DeliveryReport | SuppressReason::NullReturnPath
    ) {
        return Ok(None);
    }
    let Some(bounce) = parse::bounce(ctx.mime) else {
        return Ok(None);
    };
    let Some(ticket) = ctx.state.ticket_by_message_id(&bounce.message_id)? else {
        return Ok(None);
    };
    let Some(t) = ctx.state.ticket(ticket)? else {
        return Ok(None);
    };
    let view = ctx.about(Some(&t));
    let ctx = &ctx.with_cfg(&view);
    let mut outgoing = Vec::new();
    if MessageIdKind::of(&bounce.message_id) == Some(MessageIdKind::Reply)
        && let Some(agent) = ctx.cfg.agent(&t.agent)
    {
        let said = if bounce.diagnostic.is_empty() {
            "no reason given"
        } else {
            &bounce.diagnostic
        };
        // A copied participant's server may be the one refusing: the DSN names whom.
        let why = match t.participants.is_empty() {
            true => format!(
                "your answer to {} could not be delivered, so the customer has not received it (the server said: {said})",
                t.customer
            ),
            false => format!(
                "your answer to {} could not be delivered to the customer or one of the people copied on it (the server said: {said})",
                t.customer
            ),
        };
        if let Ok(n) = ctx.composer().notice(&t, agent, &why) {
            outgoing.push(n);
        }
    }
    Ok(Some(Plan::Join {
        ticket,
        via: JoinedVia::Header,
        message: ctx.message(mail, Some(reason)),
        reason,
        outgoing,
        reopen: false,
        participants: Vec::new(),
        rating: None,
    }))
}

/// How a new ticket comes about.
struct Opening<'a> {
    /// The mail's classification: a suppression withholds the acknowledgement.
    class: Classified,
    /// A stranger's copied tag in the subject, for the log.
    untrusted_tag: Option<TicketId>,
    /// The closed ticket this one follows up on.
    linked_from: Option<TicketId>,
    /// The agent to prefer (the one who forwarded the mail).
    prefer: Option<&'a AgentEmail>,
}

/// Opens a ticket for `mail` (a customer's own mail, or one an agent forwarded): the agent
/// by [`route::assign`], the acknowledgement unless withheld, and the agent's notification.
fn new_ticket<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    opening: &Opening<'_>,
) -> Result<Decision, S::Error> {
    let message_id = mail.message_id.clone();
    let Some(customer) = mail.from.clone() else {
        // The raw From stays in the stored mail; it is not written into logs.
        let what = if mail.from_raw.is_some() {
            "not a valid address"
        } else {
            "missing"
        };
        let reason = format!("no valid sender address in From ({what})");
        return Ok(Decision::quarantine(message_id, reason));
    };
    if let Some(tag) = opening.untrusted_tag {
        info!(ticket_tag = %tag, "subject carries another customer's ticket tag: opening a new ticket");
    }
    // The customer's newest earlier ticket, read once: routing's stickiness, the ticket's
    // language and the acknowledgement's "who helped you last time" all start from it.
    let earlier = match ctx.state.customer_tickets(&customer.address)?.last() {
        Some(id) => ctx.state.ticket(*id)?,
        None => None,
    };
    let assigned = assign(ctx, mail, &customer, opening.prefer, earlier.as_ref());
    let Some((assignment, agent)) = assigned else {
        let reason = "no agent is configured to take the ticket";
        return Ok(Decision::quarantine(message_id, reason));
    };
    let id = ctx.state.next_ticket()?;
    let stamp = TicketStamp {
        id,
        opened: ctx.now,
    };
    let language = language(ctx, mail, earlier.as_ref());
    let copied = participants::copied(ctx.cfg, mail, &customer.address);
    let cc = participants::acknowledgement_copies(ctx.cfg, mail, &customer.address, &copied);
    let mut outgoing = Vec::new();
    let not_acknowledged = match withheld(ctx, mail, &customer, &opening.class)? {
        Some(reason) => Some(reason),
        None => match acknowledge(
            ctx,
            mail,
            &customer,
            stamp,
            agent,
            &assignment,
            &ack_facts(ctx, agent, &language, cc, earlier.as_ref())?,
        ) {
            Ok(ack) => {
                outgoing.push(ack);
                None
            }
            Err(e) => return Ok(Decision::quarantine(message_id, e)),
        },
    };
    let mut ticket = Ticket {
        id,
        customer: customer.address.clone(),
        customer_name: customer.name.clone(),
        subject: mail.subject.clone(),
        state: TicketState::Open,
        agent: agent.email.clone(),
        created_at: stamp.opened,
        updated_at: ctx.now,
        messages: vec![ctx.message(mail, not_acknowledged)],
        first_response_at: None,
        first_response_working: None,
        notify_root: None,
        closed_at: None,
        linked_from: opening.linked_from,
        escalated_at: None,
        pool: Some(assignment.pool_key.clone()),
        inbox: Some(ctx.cfg.service.address.clone()),
        forgotten_at: None,
        participants: Vec::new(),
        reminded_at: None,
        rating: None,
        language: Some(language),
    };
    let added: Vec<ParticipantChange> = copied.into_iter().map(ParticipantChange::Add).collect();
    ticket.change_participants(&added, COPIED_BY_CUSTOMER, ctx.now);
    match notify_agent(ctx, &ticket, agent, &customer, mail, Notify::New) {
        Ok(n) => outgoing.push(n),
        Err(e) => return Ok(Decision::quarantine(message_id, e)),
    }
    Ok(Decision {
        message_id,
        plan: Plan::NewTicket {
            ticket,
            pool_key: assignment.pool_key,
            not_acknowledged,
            outgoing,
        },
    })
}

/// The agent for a new ticket: routing rules, then the agent of the customer's previous
/// ticket `earlier` (or `prefer`, the agent who forwarded it) if they are available. A
/// failing read here changes only whom a ticket goes to, never whether it is acknowledged:
/// it falls back to "idle" and the first turn.
fn assign<'c, S: State>(
    ctx: &Ctx<'c, S>,
    mail: &ParsedMail,
    customer: &Mailbox,
    prefer: Option<&AgentEmail>,
    earlier: Option<&Ticket>,
) -> Option<(Assignment, &'c Agent)> {
    let state = ctx.state;
    let last = match (prefer, earlier) {
        (Some(agent), _) => Some((agent.clone(), ctx.now)),
        (None, Some(t)) => Some((t.agent.clone(), t.updated_at)),
        (None, None) => None,
    };
    let load = |e: &AgentEmail| state.agent_load(e).unwrap_or_default();
    let counter = |k: &str| state.pool_counter(k).unwrap_or(0);
    let facts = route::MailFacts {
        recipients: &mail.recipients,
        sender: Some(&customer.address),
        subject: &mail.subject,
        body: &mail.text,
    };
    let last = last.as_ref().map(|(a, t)| (a, *t));
    let assignment = route::assign(ctx.cfg, &facts, last, timestamp(ctx), &load, &counter)?;
    ctx.cfg
        .agent(&assignment.agent)
        .map(|agent| (assignment, agent))
}

/// The decision's `now` as a timestamp for routing and working hours.
pub(super) fn timestamp<S: State>(ctx: &Ctx<'_, S>) -> jiff::Timestamp {
    jiff::Timestamp::from_second(ctx.now).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}
