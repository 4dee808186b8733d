//! One stored mail → one [`Plan`] → one committed [`Outcome`]. [`decide`] is the whole pure
//! pipeline (parse, classify, thread, route, compose) behind a small [`State`] trait, so unit
//! tests and fuzzers reach it without sled; [`Processor`] is the thin shell that reads the
//! mail from the store and commits the plan in one transaction.

use std::time::SystemTime;

use tracing::info;

use crate::compose::{
    AckInput, Envelope, HistoryVars, NoticeContext, NotifyContext, RelayContext, Templates,
    acknowledgement, build_mail, greeting_name, person_vars, reply_subject, service_vars,
    ticket_vars,
};
use crate::config::{Agent, Config};
use crate::domain::{
    Direction, EmailAddress, MailKind, OutgoingMail, Plan, SuppressReason, Ticket, TicketId,
    TicketMessage, TicketState, UnixTime,
};
use crate::mail::classify::{Classified, Identity, classify};
use crate::mail::parse::{Mailbox, ParsedMail, parse};
use crate::mail::relay::{self, Command, TokenAddress};
use crate::mail::thread::{ThreadLookup, Threading, thread};
use crate::route;
use crate::store::{Store, StoreError};

/// What [`decide`] needs to read from the store.
pub trait State: ThreadLookup {
    /// The number the next new ticket gets.
    fn next_ticket(&self) -> Result<TicketId, StoreError>;
    /// How many tickets a round-robin pool has had.
    fn pool_counter(&self, pool_key: &str) -> Result<u64, StoreError>;
    /// Acknowledgements sent to `customer` since `since`.
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, StoreError>;
    /// Acknowledgements to anyone in the clock hour that contains `at`.
    fn acks_in_hour(&self, at: UnixTime) -> Result<usize, StoreError>;
    /// One ticket.
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError>;
    /// The tickets a customer had, oldest first.
    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>, StoreError>;
    /// The raw bytes of a stored incoming mail.
    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// An agent's open tickets and away flag.
    fn agent_load(
        &self,
        agent: &crate::domain::AgentEmail,
    ) -> Result<crate::domain::AgentLoad, StoreError>;
}

impl State for Store {
    fn next_ticket(&self) -> Result<TicketId, StoreError> {
        self.peek_next_ticket()
    }
    fn pool_counter(&self, pool_key: &str) -> Result<u64, StoreError> {
        Store::pool_counter(self, pool_key)
    }
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, StoreError> {
        Store::acks_since(self, customer, since)
    }
    fn acks_in_hour(&self, at: UnixTime) -> Result<usize, StoreError> {
        Store::acks_in_hour(self, at)
    }
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        Store::ticket(self, id)
    }
    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>, StoreError> {
        Store::customer_tickets(self, customer)
    }
    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.raw(seq)
    }
    fn agent_load(
        &self,
        agent: &crate::domain::AgentEmail,
    ) -> Result<crate::domain::AgentLoad, StoreError> {
        Store::agent_load(self, agent)
    }
}

/// The decision for one mail, with its Message-ID for the index.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The mail's Message-ID, if it had one.
    pub message_id: Option<String>,
    /// What to commit.
    pub plan: Plan,
}

impl Decision {
    /// Whether the mail's Message-ID may enter the threading index: never one that claims
    /// our own domain (only mail we send carries those, and a copy is an attempt to take over
    /// a thread).
    pub fn indexable(&self, own_domain: &str) -> bool {
        self.message_id.as_deref().is_some_and(|id| {
            !id.trim_end_matches('>')
                .rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(own_domain))
        })
    }
}

fn quarantine(message_id: Option<String>, reason: String) -> Decision {
    Decision {
        message_id,
        plan: Plan::Quarantine(reason),
    }
}

fn inbound_message(
    mail: &ParsedMail,
    seq: u64,
    now: UnixTime,
    suppressed: Option<SuppressReason>,
) -> TicketMessage {
    TicketMessage {
        at: now,
        direction: Direction::Inbound,
        message_id: mail.message_id.clone(),
        from: mail.from.as_ref().map(|f| f.address.clone()),
        subject: mail.subject.clone(),
        inbound_seq: Some(seq),
        outbox_id: None,
        suppressed,
        note: None,
    }
}

/// Everything [`decide`] and its helpers share for one mail.
struct Ctx<'a, S: State> {
    raw: &'a [u8],
    seq: u64,
    cfg: &'a Config,
    templates: &'a Templates,
    state: &'a S,
    now: UnixTime,
    date: SystemTime,
}

/// Decides what to do with stored mail `seq` whose bytes are `raw`. Never panics on any
/// input: anything that cannot be handled safely becomes a quarantine with a reason.
pub fn decide(
    raw: &[u8],
    seq: u64,
    cfg: &Config,
    templates: &Templates,
    state: &impl State,
    now: UnixTime,
    date: SystemTime,
) -> Result<Decision, StoreError> {
    let ctx = Ctx {
        raw,
        seq,
        cfg,
        templates,
        state,
        now,
        date,
    };
    if raw.len() as u64 > cfg.limits.max_message_bytes {
        return Ok(quarantine(
            None,
            format!(
                "message of {} bytes exceeds limits.max_message_bytes ({})",
                raw.len(),
                cfg.limits.max_message_bytes
            ),
        ));
    }
    let mail = match parse(raw) {
        Ok(m) => m,
        Err(e) => return Ok(quarantine(None, format!("unparseable: {e}"))),
    };
    let identity = Identity {
        own_addresses: cfg.own_addresses(),
    };
    let class = classify(&mail, &identity);
    if let Some(token) = relay::find_token_address(&mail.recipients, &cfg.service.address)
        .or_else(|| relay::find_subject_token(&mail.subject))
    {
        return agent_mail(&ctx, &mail, &token, class);
    }
    // An agent forwarding a customer's mail that reached them directly: the ticket (and the
    // acknowledgement) are the customer's, and the forwarding agent is preferred as owner.
    // A reply that continues a known thread is never a forward (an agent's Reply-All quotes the
    // customer too).
    let mut in_known_thread = false;
    for id in mail.in_reply_to.iter().chain(&mail.references) {
        if state.ticket_by_message_id(id)?.is_some() {
            in_known_thread = true;
            break;
        }
    }
    if let Some(agent) = sending_agent(cfg, &mail)
        && !in_known_thread
        && crate::mail::parse::is_forward_subject(&mail.subject)
        && agent_verified(cfg, &mail)
        && let Some(fwd) = crate::mail::parse::forwarded(raw)
        && !cfg
            .agents
            .iter()
            .any(|a| a.email.address() == &fwd.from.address)
        && !cfg
            .own_addresses()
            .iter()
            .any(|o| *o == fwd.from.address.without_detail())
    {
        let original = ParsedMail {
            from: Some(fwd.from),
            subject: fwd.subject,
            text: fwd.text,
            message_id: fwd.message_id,
            recipients: mail.recipients.clone(),
            ..ParsedMail::default()
        };
        let class = classify(&original, &identity);
        if !matches!(class, Classified::Suppress(r) if r.is_automated()) {
            info!(event = "mail.forwarded", agent = %agent.email, "an agent forwarded a customer's mail");
            return new_ticket(&ctx, &original, class, None, None, Some(&agent.email));
        }
    }
    let sender = mail.from.as_ref().map(|f| &f.address);
    let threading = thread(
        sender,
        &mail.subject,
        &mail.in_reply_to,
        &mail.references,
        &cfg.service.name,
        state,
    )?;
    let message_id = mail.message_id.clone();

    // A person answering a ticket closed longer ago than the reopen window starts a new
    // ticket that links to the old one; within the window the old ticket reopens.
    let by_person = !matches!(class, Classified::Suppress(r) if r.is_automated());
    // A subject tag is easy to copy and From is easy to forge: a tag-only join needs an
    // envelope that backs the From, or it opens a ticket of its own (without a reply).
    let threading = match threading {
        Threading::Join {
            ticket,
            via: crate::domain::JoinedVia::SubjectTag,
        } if !crate::mail::classify::sender_aligned(&mail) => Threading::New {
            untrusted_tag: Some(ticket),
        },
        other => other,
    };
    // An agent writing to the plain support address about a ticket (replying to a notice
    // without its Reply-To, say) is not a customer: tell them, send nothing.
    if let (Threading::Join { ticket, .. }, Some(agent)) = (&threading, sending_agent(cfg, &mail))
        && by_person
        && let Some(t) = state.ticket(*ticket)?
    {
        let mut message = inbound_message(&mail, seq, now, None);
        message.direction = Direction::FromAgent;
        return refuse(
            &ctx,
            &t,
            agent,
            message,
            mail.message_id.clone(),
            "your mail reached the plain support address, so nothing was sent to the customer; answer with Reply on the ticket's notification (its Reply-To address)",
        );
    }
    let mut linked_from = None;
    let threading = match threading {
        Threading::Join { ticket, .. } if by_person => match state.ticket(ticket)? {
            Some(t)
                if t.state == TicketState::Closed
                    && t.closed_at.is_some_and(|c| {
                        now.saturating_sub(c) > cfg.routing.reopen_window.as_secs() as i64
                    }) =>
            {
                linked_from = Some(ticket);
                Threading::New {
                    untrusted_tag: None,
                }
            }
            _ => threading,
        },
        other => other,
    };

    // A storm from one sender (a script, a broken client, an angry customer) opens a few
    // tickets, then everything joins the newest open one.
    let threading = match (threading, sender) {
        (Threading::New { untrusted_tag }, Some(sender)) if by_person && linked_from.is_none() => {
            match flooding(&ctx, sender)? {
                Some(ticket) => Threading::Join {
                    ticket,
                    via: crate::domain::JoinedVia::Flood,
                },
                None => Threading::New { untrusted_tag },
            }
        }
        (other, _) => other,
    };

    let plan = match (threading, class) {
        (Threading::Join { ticket, via }, class) => {
            let (mut reason, person) = match class {
                Classified::Suppress(r) => (r, !r.is_automated()),
                Classified::Acknowledge => (SuppressReason::FollowUp, true),
            };
            // A person's follow-up reaches the ticket's agent; automated replies do not, and
            // in a flood only the first few do (the rest is summarised once, see `sla`).
            let mut outgoing = Vec::new();
            // Read once: a flood ticket's history is long.
            let joined = state.ticket(ticket)?;
            let throttled = person
                && joined.as_ref().is_some_and(|t| {
                    notifications_within(t, now, cfg.limits.flood_window)
                        >= cfg.limits.flood_notifications
                });
            if throttled {
                reason = SuppressReason::Flood;
            }
            if person
                && !throttled
                && let (Some(t), Some(customer)) = (joined.as_ref(), mail.from.as_ref())
                && let Some(agent) = cfg.agent(&t.agent)
            {
                match notification(&ctx, t, agent, customer, &mail, raw, Notify::FollowUp) {
                    Ok(n) => outgoing.push(n),
                    Err(e) => {
                        return Ok(quarantine(
                            message_id,
                            format!("agent notification could not be composed: {e}"),
                        ));
                    }
                }
            }
            // Only a person reopens a closed ticket; a bounce or an out-of-office never does.
            let reopen = person
                && joined
                    .as_ref()
                    .is_some_and(|t| t.state == TicketState::Closed);
            Plan::Join {
                ticket,
                via,
                message: inbound_message(&mail, seq, now, Some(reason)),
                reason,
                outgoing,
                reopen,
            }
        }
        (Threading::New { .. }, Classified::Suppress(reason)) if reason.is_automated() => {
            match bounced_on_ticket(&ctx, &mail, reason)? {
                Some(plan) => plan,
                None => Plan::Suppress(reason),
            }
        }
        (Threading::New { untrusted_tag }, class) => {
            return new_ticket(&ctx, &mail, class, untrusted_tag, linked_from, None);
        }
    };
    Ok(Decision { message_id, plan })
}

/// The sender's newest open ticket, if they opened `flood_tickets` tickets within the flood
/// window (so this mail joins it rather than opening another).
fn flooding<S: State>(
    ctx: &Ctx<'_, S>,
    sender: &EmailAddress,
) -> Result<Option<TicketId>, StoreError> {
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
    Ok(newest_open.filter(|_| recent >= limits.flood_tickets))
}

/// How many notifications about `t` went to its agent within `window` before `now`.
pub fn notifications_within(t: &Ticket, now: UnixTime, window: std::time::Duration) -> usize {
    let since = now - window.as_secs() as i64;
    t.messages
        .iter()
        .filter(|m| m.direction == Direction::AgentNotification && m.at >= since)
        .count()
}

/// A bounce of one of our mails is recorded on its ticket; when it was an agent's answer,
/// the agent is told that the customer never received it (and why).
fn bounced_on_ticket<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    reason: SuppressReason,
) -> Result<Option<Plan>, StoreError> {
    if !matches!(
        reason,
        SuppressReason::DeliveryReport | SuppressReason::NullReturnPath
    ) {
        return Ok(None);
    }
    let Some(bounce) = crate::mail::parse::bounce(ctx.raw) else {
        return Ok(None);
    };
    let Some(ticket) = ctx.state.ticket_by_message_id(&bounce.message_id)? else {
        return Ok(None);
    };
    let Some(t) = ctx.state.ticket(ticket)? else {
        return Ok(None);
    };
    let mut outgoing = Vec::new();
    if bounce.message_id.starts_with("<reply.")
        && let Some(agent) = ctx.cfg.agent(&t.agent)
    {
        let why = format!(
            "your answer to {} could not be delivered, so the customer has not received it (the server said: {})",
            t.customer,
            if bounce.diagnostic.is_empty() {
                "no reason given"
            } else {
                &bounce.diagnostic
            }
        );
        if let Ok(n) = notice_to_agent(ctx, &t, agent, &why) {
            outgoing.push(n);
        }
    }
    Ok(Some(Plan::Join {
        ticket,
        via: crate::domain::JoinedVia::Header,
        message: inbound_message(mail, ctx.seq, ctx.now, Some(reason)),
        reason,
        outgoing,
        reopen: false,
    }))
}

/// Opens a ticket for `mail` (a customer's own mail, or one an agent forwarded): the agent
/// by [`route::assign`] (preferring `prefer`, e.g. the forwarding agent), the
/// acknowledgement unless withheld, and the agent's notification.
fn new_ticket<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    class: Classified,
    untrusted_tag: Option<TicketId>,
    linked_from: Option<TicketId>,
    prefer: Option<&crate::domain::AgentEmail>,
) -> Result<Decision, StoreError> {
    let (cfg, state, templates, now, seq, raw, date) = (
        ctx.cfg,
        ctx.state,
        ctx.templates,
        ctx.now,
        ctx.seq,
        ctx.raw,
        ctx.date,
    );
    let message_id = mail.message_id.clone();
    // A person who asked not to be auto-answered still gets a ticket, just no reply.
    let withheld = match class {
        Classified::Suppress(reason) => Some(reason),
        Classified::Acknowledge => None,
    };
    let Some(customer) = mail.from.clone() else {
        // The raw From stays in the stored mail; it is not written into logs.
        let what = if mail.from_raw.is_some() {
            "not a valid address"
        } else {
            "missing"
        };
        return Ok(quarantine(
            message_id,
            format!("no valid sender address in From ({what})"),
        ));
    };
    if let Some(tag) = untrusted_tag {
        info!(ticket_tag = %tag, "subject carries another customer's ticket tag: opening a new ticket");
    }
    // The agent of the customer's previous ticket (or the agent who forwarded the mail),
    // for sticky assignment.
    let last = match (prefer, state.customer_tickets(&customer.address)?.last()) {
        (Some(agent), _) => Some((agent.clone(), now)),
        (None, Some(id)) => state.ticket(*id)?.map(|t| (t.agent, t.updated_at)),
        (None, None) => None,
    };
    // A failing read here changes only whom a ticket goes to, never whether it is
    // acknowledged: fall back to "idle" and the first turn.
    let load = |e: &crate::domain::AgentEmail| state.agent_load(e).unwrap_or_default();
    let counter = |k: &str| state.pool_counter(k).unwrap_or(0);
    let now_ts = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let facts = route::MailFacts {
        recipients: &mail.recipients,
        sender: Some(&customer.address),
        subject: &mail.subject,
        body: &mail.text,
    };
    let Some(assignment) = route::assign(
        cfg,
        &facts,
        last.as_ref().map(|(a, t)| (a, *t)),
        now_ts,
        &load,
        &counter,
    ) else {
        return Ok(quarantine(
            message_id,
            "no agent is configured to take the ticket".into(),
        ));
    };
    let Some(agent) = cfg.agent(&assignment.agent) else {
        return Ok(quarantine(
            message_id,
            "no agent is configured to take the ticket".into(),
        ));
    };
    let id = state.next_ticket()?;
    let mut outgoing = Vec::new();
    let not_acknowledged = if let Some(reason) = withheld {
        Some(reason)
    } else if cfg.ack.require_aligned_sender && !crate::mail::classify::sender_aligned(mail) {
        Some(SuppressReason::UnverifiedSender)
    } else if !cfg.ack.enabled {
        Some(SuppressReason::AcknowledgementsDisabled)
    } else if state.acks_since(
        &customer.address.without_detail(),
        now.saturating_sub(86_400),
    )? >= cfg.ack.per_sender_per_day as usize
    {
        Some(SuppressReason::RateLimited)
    } else if cfg.ack.max_per_hour > 0 && state.acks_in_hour(now)? >= cfg.ack.max_per_hour as usize
    {
        Some(SuppressReason::GlobalRateLimited)
    } else {
        let input = AckInput {
            service_name: &cfg.service.name,
            service_address: &cfg.service.address,
            ticket: id,
            customer: &customer,
            agent_name: &agent.name,
            agent_address: agent.email.address(),
            subject: &mail.subject,
            parent_message_id: mail.message_id.as_deref(),
            parent_references: &mail.references,
            parent_in_reply_to: &mail.in_reply_to,
            text: &mail.text,
            quote_lines: cfg.ack.quote_lines,
            message_id: our_message_id(ctx, "ack", id),
            agent_available: assignment.available,
            agent_back: assignment
                .back_at
                .as_ref()
                .map(|b| crate::hours::describe_return(b, now_ts)),
            date,
        };
        match acknowledgement(templates, &input) {
            Ok(out) => outgoing.push(out),
            Err(e) => {
                return Ok(quarantine(
                    message_id,
                    format!("acknowledgement could not be composed: {e}"),
                ));
            }
        }
        None
    };
    let ticket = Ticket {
        id,
        customer: customer.address.clone(),
        customer_name: customer.name.clone(),
        subject: mail.subject.clone(),
        state: TicketState::Open,
        agent: agent.email.clone(),
        created_at: now,
        updated_at: now,
        messages: vec![inbound_message(mail, seq, now, not_acknowledged)],
        first_response_at: None,
        notify_root: None,
        closed_at: None,
        linked_from,
        escalated_at: None,
        pool: Some(assignment.pool_key.clone()),
        inbox: Some(ctx.cfg.service.address.clone()),
        forgotten_at: None,
    };
    match notification(ctx, &ticket, agent, &customer, mail, raw, Notify::New) {
        Ok(n) => outgoing.push(n),
        Err(e) => {
            return Ok(quarantine(
                message_id,
                format!("agent notification could not be composed: {e}"),
            ));
        }
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

/// In subject mode, the subject an agent replies to carries the token marker.
fn with_marker(
    service: &crate::config::Service,
    subject: &str,
    ticket: TicketId,
    token: &str,
) -> String {
    match service.reply_tokens {
        crate::config::ReplyTokens::Plus => subject.to_string(),
        crate::config::ReplyTokens::Subject => {
            format!("{subject} {}", relay::subject_marker(ticket, token))
        }
    }
}

/// The configured agent the mail's From names, if any.
fn sending_agent<'a>(cfg: &'a Config, mail: &ParsedMail) -> Option<&'a Agent> {
    let from = mail.from.as_ref()?;
    cfg.agents
        .iter()
        .find(|a| a.email.address() == &from.address)
}

/// Whether an agent's mail is really the agent's. With `service.trusted_authserv_id`, our own
/// MTA's Authentication-Results must show DKIM, SPF or DMARC passing for the agent's domain.
/// Without it, at least a Return-Path in the From's organizational domain (which an outsider
/// can still set: configure the id in production).
fn agent_verified(cfg: &Config, mail: &ParsedMail) -> bool {
    let Some(from) = mail.from.as_ref() else {
        return false;
    };
    match &cfg.service.trusted_authserv_id {
        Some(id) => crate::mail::classify::authenticated(mail, id, from.address.domain()),
        None => {
            matches!(mail.return_path, crate::mail::parse::ReturnPath::Address(_))
                && crate::mail::classify::sender_aligned(mail)
        }
    }
}

/// The reply token of `agent` for `ticket`, and the Reply-To address that carries it.
fn agent_reply_address(
    cfg: &Config,
    ticket: &Ticket,
    agent: &Agent,
) -> Result<(String, EmailAddress), crate::compose::ComposeError> {
    let key = relay::ticket_key(cfg.token_key(), ticket.created_at);
    let token = relay::mint(&key, ticket.id, &agent.email);
    let ticket = ticket.id;
    let address = EmailAddress::parse(&relay::reply_address(&cfg.service.address, ticket, &token))
        .ok_or_else(|| crate::compose::ComposeError::Build("reply address is not valid".into()))?;
    Ok((token, address))
}

/// Our Message-ID for a mail of `kind` caused by the mail being processed.
fn our_message_id<S: State>(ctx: &Ctx<'_, S>, kind: &str, ticket: TicketId) -> String {
    let secret = ctx.cfg.token_key();
    relay::message_id(
        secret,
        kind,
        ticket,
        ctx.seq,
        ctx.cfg.service.address.domain(),
    )
}

fn agent_name(cfg: &Config, email: &crate::domain::AgentEmail) -> String {
    cfg.agent(email)
        .map_or_else(|| email.to_string(), |a| a.name.clone())
}

/// The customer's mail for the ticket's agent: a header block, the text, the attachments,
/// and a Reply-To that carries the agent's token for this ticket.
/// Why an agent is being notified.
enum Notify<'a> {
    /// A new ticket.
    New,
    /// A later mail of the customer.
    FollowUp,
    /// `#assign` by another agent, with their handover note.
    Assigned { by: &'a str, handover: &'a str },
}

fn notification<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    agent: &Agent,
    customer: &Mailbox,
    mail: &ParsedMail,
    raw: &[u8],
    why: Notify<'_>,
) -> Result<OutgoingMail, crate::compose::ComposeError> {
    let followup = matches!(why, Notify::FollowUp);
    let (assigned_by, handover) = match why {
        Notify::Assigned { by, handover } => (by.to_string(), handover.to_string()),
        _ => (String::new(), String::new()),
    };
    let cfg = ctx.cfg;
    let service = &cfg.service;
    let (token, reply_to) = agent_reply_address(cfg, ticket, agent)?;
    let earlier: Vec<TicketId> = ctx
        .state
        .customer_tickets(&customer.address)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| *t != ticket.id)
        .collect();
    let history = match earlier
        .last()
        .and_then(|t| ctx.state.ticket(*t).ok().flatten())
    {
        Some(last) => HistoryVars {
            count: earlier.len(),
            last_number: last.id.get(),
            last_subject: last.subject.clone(),
            last_agent: agent_name(cfg, &last.agent),
        },
        None => HistoryVars::default(),
    };
    let attachments = crate::mail::parse::attachments(raw);
    let customer_name = greeting_name(customer);
    let mut customer_vars = person_vars(&customer_name, &customer.address);
    if customer_name == "there" {
        customer_vars.name = customer.address.to_string();
        customer_vars.first_name = "the customer".into();
    }
    let text = ctx.templates.notify_text(&NotifyContext {
        customer: customer_vars,
        agent: person_vars(&agent.name, agent.email.address()),
        ticket: ticket_vars(&service.name, ticket.id),
        service: service_vars(&service.name, &service.address),
        history,
        followup,
        assigned_by,
        handover,
        attachments: attachments.iter().map(|a| a.name.clone()).collect(),
        text: mail.text.clone(),
    })?;
    // Written by code, not the template: an override cannot remove the line that lets us
    // recognise a quoted notification in an answer (see `leaks_notification`).
    let text = format!("{}\n\n{text}", notification_marker(ticket.id));
    let tag = crate::mail::thread::ticket_tag(&service.name, ticket.id);
    let subject = if followup {
        format!("Re: {tag} {}", ticket.subject)
    } else if !mail.subject.is_empty() && !ticket.subject.is_empty() && ticket.messages.len() > 1 {
        format!("{tag} {}", ticket.subject)
    } else {
        format!(
            "{tag} {}",
            if mail.subject.is_empty() {
                "(no subject)"
            } else {
                &mail.subject
            }
        )
    };
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
            reply_to: match service.reply_tokens {
                crate::config::ReplyTokens::Plus => Some((Some(&service.name), &reply_to)),
                crate::config::ReplyTokens::Subject => None,
            },
            subject: &with_marker(service, &subject, ticket.id, &token),
            message_id: our_message_id(ctx, "notify", ticket.id),
            in_reply_to: if followup {
                ticket.notify_root.as_deref()
            } else {
                None
            },
            references: ticket.notify_root.iter().map(String::as_str).collect(),
            auto_submitted: Some("auto-generated"),
            date: ctx.date,
        },
        text,
        &attachments,
        Some(service.address.clone()),
    )
}

fn notice_to_agent<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    agent: &Agent,
    reason: &str,
) -> Result<OutgoingMail, crate::compose::ComposeError> {
    let service = &ctx.cfg.service;
    let text = ctx.templates.notice_text(&NoticeContext {
        agent: person_vars(&agent.name, agent.email.address()),
        ticket: ticket_vars(&service.name, ticket.id),
        service: service_vars(&service.name, &service.address),
        reason: reason.to_string(),
    })?;
    let tag = crate::mail::thread::ticket_tag(&service.name, ticket.id);
    // Answering a notice (to correct a command) must work like answering a notification.
    let (token, reply_to) = agent_reply_address(ctx.cfg, ticket, agent)?;
    build_mail(
        MailKind::AgentNotice,
        &Envelope {
            from_name: &service.name,
            service_address: &service.address,
            to: (Some(&agent.name), agent.email.address()),
            reply_to: match service.reply_tokens {
                crate::config::ReplyTokens::Plus => Some((Some(&service.name), &reply_to)),
                crate::config::ReplyTokens::Subject => None,
            },
            subject: &with_marker(
                service,
                &format!("Not sent: {tag} {}", ticket.subject),
                ticket.id,
                &token,
            ),
            message_id: our_message_id(ctx, "notice", ticket.id),
            in_reply_to: ticket.notify_root.as_deref(),
            references: ticket.notify_root.iter().map(String::as_str).collect(),
            auto_submitted: Some("auto-replied"),
            date: ctx.date,
        },
        text,
        &[],
        None,
    )
}

/// The notification that hands `ticket` to `target`: the customer's latest mail (a person's,
/// not an automated reply) with its attachments, and who handed it over with their note.
fn handover<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    target: &Agent,
    by: &str,
    note: &str,
) -> Result<Result<OutgoingMail, crate::compose::ComposeError>, StoreError> {
    let latest = ticket
        .messages
        .iter()
        .rev()
        .filter(|m| {
            m.direction == Direction::Inbound && m.suppressed.is_none_or(|r| !r.is_automated())
        })
        .find_map(|m| m.inbound_seq);
    let latest_raw = match latest {
        Some(seq) => ctx.state.inbound_raw(seq)?.unwrap_or_default(),
        None => Vec::new(),
    };
    let latest_mail = parse(&latest_raw).unwrap_or_else(|_| ParsedMail {
        subject: ticket.subject.clone(),
        ..ParsedMail::default()
    });
    let customer = Mailbox {
        name: ticket.customer_name.clone(),
        address: ticket.customer.clone(),
    };
    let mut handed = ticket.clone();
    handed.agent = target.email.clone();
    handed.notify_root = None;
    Ok(notification(
        ctx,
        &handed,
        target,
        &customer,
        &latest_mail,
        &latest_raw,
        Notify::Assigned { by, handover: note },
    ))
}

/// What an operator (or the SLA loop) changes on a ticket.
#[derive(Debug, Clone, Copy)]
pub struct OpsChange<'a> {
    /// Hand the ticket to this agent (address or name).
    pub assign_to: Option<&'a str>,
    /// Close it.
    pub close: bool,
    /// Who did it, for the history and the new owner's notification.
    pub by: &'a str,
    /// Apply only if the ticket is still open and unanswered (the SLA loop).
    pub only_if_unanswered: bool,
}

/// `frontdesk tickets assign N AGENT` and `tickets close N`: an operator's change, applied
/// like an agent's command (same counters, same notification for the new owner).
pub fn ops_change(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    ticket: TicketId,
    change: &OpsChange<'_>,
) -> Result<String, String> {
    let OpsChange {
        assign_to,
        close,
        by,
        only_if_unanswered,
    } = *change;
    let t = store
        .ticket(ticket)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no ticket #{ticket}"))?;
    let seq = store.new_id().map_err(|e| e.to_string())?;
    let now = crate::domain::now();
    // Mail about the ticket comes from the inbox it came in at.
    let cfg = &*cfg.for_ticket(&t);
    let ctx = Ctx {
        raw: &[],
        seq,
        cfg,
        templates,
        state: store,
        now,
        date: SystemTime::now(),
    };
    let mut outgoing = Vec::new();
    let mut reassign = None;
    let mut done = Vec::new();
    if let Some(who) = assign_to {
        let target = cfg.find_agent(who)?;
        if target.email == t.agent {
            return Err(format!(
                "ticket #{ticket} is already assigned to {}",
                target.name
            ));
        }
        let mail = handover(&ctx, &t, target, by, "")
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        outgoing.push(mail);
        reassign = Some(target.email.clone());
        done.push(format!("assigned to {} <{}>", target.name, target.email));
    }
    let state = close.then_some(TicketState::Closed);
    if close {
        if t.state == TicketState::Closed {
            return Err(format!("ticket #{ticket} is already closed"));
        }
        done.push("closed".into());
    }
    let applied = store
        .record_ops(
            ticket,
            &crate::domain::TicketChange {
                state,
                reassign,
                outgoing: &outgoing,
                note: &format!("by {by}: {}", done.join(", ")),
                only_if_unanswered,
            },
            now,
        )
        .map_err(|e| e.to_string())?;
    if !applied {
        return Err(format!(
            "ticket #{ticket} was answered or closed meanwhile; left as it is"
        ));
    }
    Ok(format!("ticket #{ticket} {}", done.join(" and ")))
}

/// The follow-ups recorded without a notification during a flood and not yet summarised to
/// the agent: those after the ticket's last notification or notice. Summarised once the
/// sender has been quiet for `quiet`.
pub fn unsummarised_flood(
    t: &Ticket,
    now: UnixTime,
    quiet: std::time::Duration,
) -> Vec<&TicketMessage> {
    let last_told = t
        .messages
        .iter()
        .rposition(|m| {
            matches!(
                m.direction,
                Direction::AgentNotification | Direction::AgentNotice
            )
        })
        .map_or(0, |i| i + 1);
    let pending: Vec<&TicketMessage> = t.messages[last_told..]
        .iter()
        .filter(|m| m.suppressed == Some(SuppressReason::Flood))
        .collect();
    match pending.last() {
        Some(newest) if now - newest.at >= quiet.as_secs() as i64 => pending,
        _ => Vec::new(),
    }
}

/// Tells a ticket's agent, in one notice, about the follow-ups a flood recorded without a
/// notification each. `Ok(None)`: nothing to tell (yet).
pub fn flood_summary(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    t: &Ticket,
    now: UnixTime,
) -> Result<Option<usize>, String> {
    // A closed or forgotten ticket is owed nothing.
    if t.state != TicketState::Open || t.forgotten_at.is_some() {
        store.flood_done(t.id).map_err(|e| e.to_string())?;
        return Ok(None);
    }
    let quiet = std::time::Duration::from_secs(60);
    let pending = unsummarised_flood(t, now, quiet);
    if pending.is_empty() {
        // Summarised already, or the ticket is closed: nothing more is owed.
        let owed = t.state == TicketState::Open
            && t.messages
                .last()
                .is_some_and(|m| m.suppressed == Some(SuppressReason::Flood));
        if !owed {
            store.flood_done(t.id).map_err(|e| e.to_string())?;
        }
        return Ok(None);
    }
    let cfg = &*cfg.for_ticket(t);
    let Some(agent) = cfg.agent(&t.agent) else {
        return Ok(None);
    };
    let mut subjects: Vec<&str> = pending.iter().map(|m| m.subject.as_str()).collect();
    subjects.dedup();
    let shown: Vec<String> = subjects
        .iter()
        .take(10)
        .map(|s| format!("  - {s}"))
        .collect();
    let reason = format!(
        "{n} more mail(s) from {who} arrived on this ticket in a burst and were recorded on it \
         without a notification each. See them with: frontdesk tickets show {id}\nSubjects:\n{list}{more}",
        n = pending.len(),
        who = t.customer,
        id = t.id,
        list = shown.join("\n"),
        more = if subjects.len() > shown.len() {
            "\n  …"
        } else {
            ""
        },
    );
    let seq = store.new_id().map_err(|e| e.to_string())?;
    let ctx = Ctx {
        raw: &[],
        seq,
        cfg,
        templates,
        state: store,
        now,
        date: SystemTime::now(),
    };
    let mail = notice_to_agent(&ctx, t, agent, &reason).map_err(|e| e.to_string())?;
    store
        .record_ops(
            t.id,
            &crate::domain::TicketChange {
                state: None,
                reassign: None,
                outgoing: std::slice::from_ref(&mail),
                note: "flood summary sent to the agent",
                only_if_unanswered: false,
            },
            now,
        )
        .map_err(|e| e.to_string())?;
    store.flood_done(t.id).map_err(|e| e.to_string())?;
    Ok(Some(pending.len()))
}

/// Why an agent's mail to a reply address is refused: told to the agent, nothing is sent.
fn refuse<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    agent: &Agent,
    message: TicketMessage,
    message_id: Option<String>,
    reason: &str,
) -> Result<Decision, StoreError> {
    match notice_to_agent(ctx, ticket, agent, reason) {
        Ok(n) => Ok(Decision {
            message_id,
            plan: Plan::Agent {
                ticket: ticket.id,
                message,
                outgoing: vec![n],
                state: None,
                reassign: None,
                action: format!("refused: {reason}"),
            },
        }),
        Err(e) => Ok(quarantine(
            message_id,
            format!("notice could not be composed: {e}"),
        )),
    }
}

/// Lines of our own notification that must never reach a customer: if stripping left any of
/// them in, the quote was not recognised and relaying would leak the internal header block.
fn leaks_notification(body: &str, ticket: TicketId) -> bool {
    body.contains(&notification_marker(ticket))
        || body.contains("Reply to this mail to answer")
        || body.contains("Lines at the top of your reply")
        || body.contains(&format!("Ticket #{ticket} ·"))
}

/// The first line of every notification: guidance for the agent, and the fingerprint that
/// stops a quoted notification from ever being relayed, whatever the templates say.
fn notification_marker(ticket: TicketId) -> String {
    format!("--- Reply above this line; the customer sees only your text (ticket #{ticket}) ---")
}

/// Mail sent to a ticket's reply address. Only a configured agent whose envelope backs the
/// From, holding a token that verifies, answering that ticket's thread, gets text relayed to
/// the customer; everything doubtful is refused with a notice or quarantined, never sent.
fn agent_mail<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    token: &TokenAddress,
    class: Classified,
) -> Result<Decision, StoreError> {
    let cfg = ctx.cfg;
    let message_id = mail.message_id.clone();
    let Some(secret) = cfg.service.token_secret.as_ref() else {
        return Ok(quarantine(
            message_id,
            "mail to a reply address, but no token key is configured".into(),
        ));
    };
    let secret = secret.expose().as_bytes();
    let Some(ticket) = ctx.state.ticket(token.ticket)? else {
        return Ok(quarantine(
            message_id,
            format!(
                "mail to the reply address of ticket #{}, which does not exist; not relayed",
                token.ticket
            ),
        ));
    };
    let Some(agent) = sending_agent(cfg, mail) else {
        // Not an agent: a customer who replied-all to a leaked token address, or a forgery.
        // Neither may speak for us; quarantine with the reason (nothing is sent).
        return Ok(quarantine(
            message_id,
            format!(
                "mail to the reply address of ticket #{} is not from a configured agent; not relayed",
                ticket.id
            ),
        ));
    };
    // The token must be the sender's own, or (for the ticket's current agent) a previous
    // owner's: an answer to an old notification after a reassignment.
    let key = relay::ticket_key(secret, ticket.created_at);
    let token_ok = relay::verify(&key, ticket.id, &agent.email, &token.token)
        || (agent.email == ticket.agent
            && cfg
                .agents
                .iter()
                .any(|a| relay::verify(&key, ticket.id, &a.email, &token.token)));
    if !token_ok {
        return Ok(quarantine(
            message_id,
            format!(
                "reply token for ticket #{} does not verify for its sender; not relayed",
                ticket.id
            ),
        ));
    }
    let mut message = inbound_message(mail, ctx.seq, ctx.now, None);
    message.direction = Direction::FromAgent;
    let plan = |message: TicketMessage,
                outgoing: Vec<OutgoingMail>,
                state: Option<TicketState>,
                reassign: Option<crate::domain::AgentEmail>,
                action: String| Decision {
        message_id: message_id.clone(),
        plan: Plan::Agent {
            ticket: ticket.id,
            message,
            outgoing,
            state,
            reassign,
            action,
        },
    };
    // An agent's out-of-office answering the notification must never reach the customer.
    if let Classified::Suppress(reason) = class
        && (reason.is_automated() || reason == SuppressReason::AutoReplySubject)
    {
        message.suppressed = Some(reason);
        return Ok(plan(
            message,
            Vec::new(),
            None,
            None,
            format!("ignored automated mail ({reason})"),
        ));
    }
    // From is forgeable: the envelope must back it before we speak for the agent.
    if !agent_verified(cfg, mail) {
        return Ok(quarantine(
            message_id,
            format!(
                "agent mail for ticket #{} is not backed by its envelope (Return-Path missing or in another domain); not relayed",
                ticket.id
            ),
        ));
    }
    // The same mail twice (reply-all to two of our addresses, a client's re-send).
    if let Some(id) = mail.message_id.as_deref()
        && ticket.messages.iter().any(|m| {
            matches!(m.direction, Direction::FromAgent | Direction::Note)
                && m.message_id.as_deref() == Some(id)
        })
    {
        return Ok(plan(
            message,
            Vec::new(),
            None,
            None,
            "duplicate, already handled".into(),
        ));
    }
    let mut tokens = relay::find_token_addresses(&mail.recipients, &cfg.service.address);
    tokens.extend(relay::find_subject_token(&mail.subject));
    if tokens.iter().any(|t| t.ticket != ticket.id) {
        return refuse(
            ctx,
            &ticket,
            agent,
            message,
            message_id.clone(),
            "the mail was addressed to the reply addresses of several tickets; send one answer per ticket",
        );
    }
    // The answer must belong to this ticket's thread: a reply to its notification or a
    // subject with its tag. A fresh mail to a remembered reply address is not an answer.
    let mut in_thread = crate::mail::thread::ticket_tags(&mail.subject, &cfg.service.name)
        .iter()
        .any(|(_, t)| *t == ticket.id);
    for id in mail.in_reply_to.iter().chain(&mail.references) {
        if ctx.state.ticket_by_message_id(id)? == Some(ticket.id) {
            in_thread = true;
        }
    }
    if !in_thread {
        return refuse(
            ctx,
            &ticket,
            agent,
            message,
            message_id.clone(),
            &format!(
                "this mail is not a reply to ticket #{}; press Reply on its notification to answer the customer",
                ticket.id
            ),
        );
    }

    let read = relay::read_agent_message(
        &crate::mail::parse::reply_text(ctx.raw).unwrap_or_else(|| mail.text.clone()),
    );
    let mut refused: Vec<String> = Vec::new();
    for c in &read.commands {
        match c {
            Command::Assign(who) => match cfg.find_agent(who) {
                Err(reason) => refused.push(format!("#assign {who}: {reason}")),
                Ok(target) if target.email == ticket.agent => refused.push(format!(
                    "#assign {who}: the ticket is already assigned to {}",
                    target.name
                )),
                Ok(_) => {}
            },
            Command::Unknown(word) => refused.push(format!(
                "#{word} is not a command (known: #note, #close, #reopen, #assign)"
            )),
            _ => {}
        }
    }
    if read.commands.contains(&Command::Close) && read.commands.contains(&Command::Reopen) {
        refused.push("#close and #reopen contradict each other".into());
    }
    if relay::has_command_line(&read.body) {
        refused
            .push("a #command line was found below the text; commands go at the very top".into());
    }
    if leaks_notification(&read.body, ticket.id) {
        refused.push("the quoted notification could not be separated from your answer (please reply above the quote)".into());
    }
    if !refused.is_empty() {
        let reason = format!("{}; nothing was changed or sent", refused.join("; "));
        return refuse(ctx, &ticket, agent, message, message_id.clone(), &reason);
    }
    let state = if read.commands.contains(&Command::Close) {
        Some(TicketState::Closed)
    } else if read.commands.contains(&Command::Reopen) {
        Some(TicketState::Open)
    } else {
        None
    };
    let state_word = match state {
        Some(TicketState::Closed) => ", closed",
        Some(TicketState::Open) => ", reopened",
        None => "",
    };

    if let Some(target) = read.commands.iter().find_map(|c| match c {
        Command::Assign(who) => cfg.find_agent(who).ok(),
        _ => None,
    }) {
        // The handover text stays internal; the new agent gets the customer's latest mail.
        return match handover(ctx, &ticket, target, &agent.name, &read.body)? {
            Ok(n) => {
                message.note = Some(read.body.clone()).filter(|b| !b.is_empty());
                message.direction = Direction::Note;
                Ok(plan(
                    message,
                    vec![n],
                    state,
                    Some(target.email.clone()),
                    format!("assigned to {}{state_word}", target.email),
                ))
            }
            Err(e) => Ok(quarantine(
                message_id,
                format!("notification could not be composed: {e}"),
            )),
        };
    }
    if read.commands.contains(&Command::Note) {
        message.note = Some(read.body.clone());
        message.direction = Direction::Note;
        return Ok(plan(
            message,
            Vec::new(),
            state,
            None,
            format!("note{state_word}"),
        ));
    }
    let attachments = crate::mail::parse::relay_attachments(ctx.raw);
    let fingerprint = format!("{}+{}.", cfg.service.address.local_part(), ticket.id);
    if attachments.iter().any(|a| {
        a.data
            .windows(fingerprint.len())
            .any(|w| w.eq_ignore_ascii_case(fingerprint.as_bytes()))
    }) {
        return refuse(
            ctx,
            &ticket,
            agent,
            message,
            message_id.clone(),
            "an attachment contains this ticket's reply address (a copy of the notification?); nothing was sent",
        );
    }
    if read.body.trim().is_empty() && attachments.is_empty() {
        if state.is_some() {
            return Ok(plan(
                message,
                Vec::new(),
                state,
                None,
                state_word.trim_start_matches(", ").to_string(),
            ));
        }
        return refuse(
            ctx,
            &ticket,
            agent,
            message,
            message_id.clone(),
            "the answer was empty once the quoted notification was removed",
        );
    }
    // Replies to a ticket closed longer than the reopen window need an explicit #reopen.
    if ticket.state == TicketState::Closed
        && state.is_none()
        && ticket
            .closed_at
            .is_some_and(|c| ctx.now.saturating_sub(c) > cfg.routing.reopen_window.as_secs() as i64)
    {
        return refuse(
            ctx,
            &ticket,
            agent,
            message,
            message_id.clone(),
            "the ticket was closed long ago; put #reopen at the top to answer it",
        );
    }
    let service = &cfg.service;
    let customer = Mailbox {
        name: ticket.customer_name.clone(),
        address: ticket.customer.clone(),
    };
    let relay_result = ctx
        .templates
        .relay_text(&RelayContext {
            body: read.body.clone(),
            agent: person_vars(&agent.name, agent.email.address()),
            customer: person_vars(&greeting_name(&customer), &customer.address),
            ticket: ticket_vars(&service.name, ticket.id),
            service: service_vars(&service.name, &service.address),
        })
        .map_err(crate::compose::ComposeError::from)
        .and_then(|text| {
            build_mail(
                MailKind::AgentReply,
                &Envelope {
                    from_name: &format!("{}, {}", agent.name, service.name),
                    service_address: &service.address,
                    to: (ticket.customer_name.as_deref(), &ticket.customer),
                    reply_to: None,
                    subject: &reply_subject(&ticket.subject, &service.name, ticket.id),
                    message_id: our_message_id(ctx, "reply", ticket.id),
                    in_reply_to: ticket.last_customer_message_id(),
                    references: ticket.thread_ids(),
                    auto_submitted: None,
                    date: ctx.date,
                },
                text,
                &attachments,
                Some(service.address.clone()),
            )
        });
    match relay_result {
        Ok(out) => Ok(plan(
            message,
            vec![out],
            state,
            None,
            format!("relayed{state_word}"),
        )),
        Err(e) => Ok(quarantine(
            message_id,
            format!("relayed answer could not be composed: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The store as a map, so the whole pipeline runs without sled.
    #[derive(Default)]
    struct Mem {
        ids: HashMap<String, TicketId>,
        customers: HashMap<TicketId, EmailAddress>,
        tickets: HashMap<TicketId, Ticket>,
        acks: usize,
        acks_this_hour: usize,
        by_customer: Vec<TicketId>,
    }

    impl ThreadLookup for Mem {
        fn ticket_by_message_id(&self, id: &str) -> Result<Option<TicketId>, StoreError> {
            Ok(self.ids.get(id).copied())
        }
        fn ticket_customer(&self, t: TicketId) -> Result<Option<EmailAddress>, StoreError> {
            Ok(self.customers.get(&t).cloned())
        }
    }

    impl State for Mem {
        fn next_ticket(&self) -> Result<TicketId, StoreError> {
            Ok(TicketId::new(1042))
        }
        fn pool_counter(&self, _: &str) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn acks_since(&self, _: &EmailAddress, _: UnixTime) -> Result<usize, StoreError> {
            Ok(self.acks)
        }
        fn acks_in_hour(&self, _: UnixTime) -> Result<usize, StoreError> {
            Ok(self.acks_this_hour)
        }
        fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
            Ok(self.tickets.get(&id).cloned())
        }
        fn customer_tickets(&self, _: &EmailAddress) -> Result<Vec<TicketId>, StoreError> {
            Ok(self.by_customer.clone())
        }
        fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
            Ok((seq == 1).then(|| ALICE.to_vec()))
        }
        fn agent_load(
            &self,
            _: &crate::domain::AgentEmail,
        ) -> Result<crate::domain::AgentLoad, StoreError> {
            Ok(crate::domain::AgentLoad::default())
        }
    }

    fn config() -> Config {
        crate::testutil::config(
            r#"
[limits]
max_message_bytes = 100000
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
[[agents]]
name = "Maria Schmidt"
email = "mschmidt@example.test"
"#,
        )
    }

    fn run(raw: &[u8], state: &Mem) -> Plan {
        let cfg = config();
        let templates = Templates::load(None).expect("templates");
        decide(
            raw,
            7,
            &cfg,
            &templates,
            state,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan
    }

    fn of_kind(outgoing: &[OutgoingMail], kind: MailKind) -> Option<&OutgoingMail> {
        outgoing.iter().find(|m| m.kind == kind)
    }

    const ALICE: &[u8] = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Help\r\nMessage-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n";

    #[test]
    fn new_customer_mail_opens_a_ticket_with_an_acknowledgement() {
        let Plan::NewTicket {
            ticket,
            outgoing,
            pool_key,
            not_acknowledged,
        } = run(ALICE, &Mem::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(not_acknowledged, None);
        assert_eq!(ticket.id, TicketId::new(1042));
        assert_eq!(ticket.customer.as_str(), "alice@customer.test");
        assert_eq!(ticket.agent.to_string(), "jason@example.test");
        assert_eq!(pool_key, "all");
        let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
        assert_eq!(ack.recipients[0].as_str(), "alice@customer.test");
        assert_eq!(ack.envelope_from, None);
    }

    fn ack_text(raw: &[u8]) -> String {
        let Plan::NewTicket { outgoing, .. } = run(raw, &Mem::default()) else {
            panic!("expected a new ticket");
        };
        let mail = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
        let parsed = crate::mail::parse::parse(&mail.raw).expect("our mail parses");
        parsed.text
    }

    #[test]
    fn html_only_mail_is_quoted_as_text() {
        let raw = b"From: Bob <bob@customer.test>\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>The <b>login</b> page is blank.</p><img src=\"https://tracker.test/x.png\"></body></html>\r\n";
        let text = ack_text(raw);
        assert!(text.contains("> The login page is blank."), "{text}");
        assert!(
            !text.contains("<b>") && !text.contains("tracker.test"),
            "{text}"
        );
    }

    #[test]
    fn latin1_mail_is_quoted_decoded() {
        let raw = b"From: =?iso-8859-1?q?Ren=E9_M=FCller?= <rene@customer.test>\r\nSubject: Rechnung\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDie Rechnung f\xfcr M\xe4rz fehlt.\r\n";
        let text = ack_text(raw);
        assert!(text.contains("Hello Ren\u{e9} M\u{fc}ller,"), "{text}");
        assert!(
            text.contains("> Die Rechnung f\u{fc}r M\u{e4}rz fehlt."),
            "{text}"
        );
    }

    #[test]
    fn follow_up_joins_without_acknowledgement() {
        let mut mem = Mem::default();
        mem.ids
            .insert("<ack.1001.3@example.test>".into(), TicketId::new(1001));
        let raw = b"From: alice@customer.test\r\nSubject: Re: Help\r\nIn-Reply-To: <ack.1001.3@example.test>\r\n\r\nmore\r\n";
        match run(raw, &mem) {
            Plan::Join { ticket, reason, .. } => {
                assert_eq!(ticket, TicketId::new(1001));
                assert_eq!(reason, SuppressReason::FollowUp);
            }
            other => panic!("expected a join, got {other:?}"),
        }
    }

    #[test]
    fn a_person_asking_for_no_auto_reply_gets_a_ticket_without_one() {
        let raw = b"From: Olive <olive@customer.test>\r\nX-Auto-Response-Suppress: All\r\nSubject: Quote\r\n\r\nPlease send a quote.\r\n";
        let Plan::NewTicket {
            not_acknowledged,
            outgoing,
            ..
        } = run(raw, &Mem::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(not_acknowledged, Some(SuppressReason::AutoResponseSuppress));
        assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
        assert!(of_kind(&outgoing, MailKind::AgentNotification).is_some());
    }

    #[test]
    fn spoofed_sender_gets_a_ticket_but_no_acknowledgement() {
        let raw = b"Return-Path: <spammer@evil.test>\r\nFrom: Victim <victim@customer.test>\r\nSubject: Buy now\r\n\r\nSpam text.\r\n";
        let Plan::NewTicket {
            not_acknowledged,
            outgoing,
            ..
        } = run(raw, &Mem::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(not_acknowledged, Some(SuppressReason::UnverifiedSender));
        assert!(
            of_kind(&outgoing, MailKind::Acknowledgement).is_none(),
            "nothing goes to the impersonated address"
        );
    }

    #[test]
    fn sender_over_the_daily_cap_gets_a_ticket_but_no_acknowledgement() {
        let mem = Mem {
            acks: 3,
            ..Mem::default()
        };
        let Plan::NewTicket {
            not_acknowledged,
            outgoing,
            ..
        } = run(ALICE, &mem)
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(not_acknowledged, Some(SuppressReason::RateLimited));
        assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
        assert!(
            of_kind(&outgoing, MailKind::AgentNotification).is_some(),
            "the agent still gets the ticket"
        );
    }

    #[test]
    fn a_global_storm_withholds_acknowledgements_but_not_tickets() {
        let mem = Mem {
            acks_this_hour: 5000,
            ..Mem::default()
        };
        let Plan::NewTicket {
            not_acknowledged,
            outgoing,
            ..
        } = run(ALICE, &mem)
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(not_acknowledged, Some(SuppressReason::GlobalRateLimited));
        assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
        assert!(of_kind(&outgoing, MailKind::AgentNotification).is_some());
    }

    #[test]
    fn a_flood_from_one_sender_joins_their_ticket_and_spares_the_agent() {
        // Alice opened three tickets within the window (the clock in `run` is 1,000,000).
        let mut mem = with_ticket();
        let template = mem.tickets[&TicketId::new(1001)].clone();
        for n in 1001..=1003 {
            let mut t = template.clone();
            t.id = TicketId::new(n);
            t.created_at = 1_000_000 - 60;
            mem.tickets.insert(t.id, t);
            mem.by_customer.push(TicketId::new(n));
        }
        let storm = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Again\r\nMessage-ID: <storm@customer.test>\r\n\r\nStill broken.\r\n";
        let Plan::Join {
            ticket,
            via,
            outgoing,
            ..
        } = run(storm, &mem)
        else {
            panic!("a fourth ticket in ten minutes must join the newest");
        };
        assert_eq!(ticket, TicketId::new(1003));
        assert_eq!(via, crate::domain::JoinedVia::Flood);
        assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
        assert!(
            of_kind(&outgoing, MailKind::AgentNotification).is_some(),
            "first follow-ups still reach the agent"
        );

        // Once the ticket had three notifications in the window, follow-ups are only recorded.
        let t = mem.tickets.get_mut(&TicketId::new(1003)).expect("ticket");
        for _ in 0..3 {
            t.messages.push(TicketMessage {
                at: 1_000_000 - 30,
                direction: Direction::AgentNotification,
                message_id: None,
                from: None,
                subject: "Again".into(),
                inbound_seq: None,
                outbox_id: Some(1),
                suppressed: None,
                note: None,
            });
        }
        let Plan::Join {
            reason,
            outgoing,
            message,
            ..
        } = run(storm, &mem)
        else {
            panic!("joins");
        };
        assert_eq!(reason, SuppressReason::Flood);
        assert!(
            outgoing.is_empty(),
            "the agent is not flooded: {outgoing:?}"
        );
        assert_eq!(message.suppressed, Some(SuppressReason::Flood));

        // After a quiet minute the flood is owed one summary.
        let t = mem.tickets.get_mut(&TicketId::new(1003)).expect("ticket");
        t.messages.push(message);
        let quiet = std::time::Duration::from_secs(60);
        assert!(
            unsummarised_flood(t, 1_000_030, quiet).is_empty(),
            "not while it goes on"
        );
        assert_eq!(unsummarised_flood(t, 1_000_060, quiet).len(), 1);
    }

    fn with_ticket() -> Mem {
        let mut mem = Mem::default();
        let jason = crate::domain::AgentEmail::new(
            EmailAddress::parse("jason@example.test").expect("valid"),
        );
        let alice = EmailAddress::parse("alice@customer.test").expect("valid");
        mem.tickets.insert(
            TicketId::new(1001),
            Ticket {
                id: TicketId::new(1001),
                customer: alice.clone(),
                customer_name: Some("Alice Doe".into()),
                subject: "Help".into(),
                state: TicketState::Open,
                agent: jason,
                created_at: 0,
                updated_at: 0,
                messages: vec![TicketMessage {
                    at: 0,
                    direction: Direction::Inbound,
                    message_id: Some("<a1@customer.test>".into()),
                    from: Some(alice),
                    subject: "Help".into(),
                    inbound_seq: Some(1),
                    outbox_id: None,
                    suppressed: None,
                    note: None,
                }],
                first_response_at: None,
                notify_root: Some("<notify.1001.1@example.test>".into()),
                closed_at: None,
                linked_from: None,
                escalated_at: None,
                pool: None,
                inbox: None,
                forgotten_at: None,
            },
        );
        mem
    }

    fn agent_mail_to(token_ticket: u64, from: &str, body: &str, extra: &str) -> Vec<u8> {
        let jason = crate::domain::AgentEmail::new(
            EmailAddress::parse("jason@example.test").expect("valid"),
        );
        let token = relay::mint(crate::testutil::TEST_KEY, TicketId::new(1001), &jason);
        let envelope = from
            .rsplit('<')
            .next()
            .unwrap_or(from)
            .trim_end_matches('>');
        format!(
            "Return-Path: <{envelope}>\r\nFrom: {from}\r\nTo: support+{token_ticket}.{token}@example.test\r\nSubject: Re: [Acme Support #1001] Help\r\n{extra}\
Message-ID: <j1@example.test>\r\n\r\n{body}"
        )
        .into_bytes()
    }

    #[test]
    fn a_reply_to_a_long_closed_ticket_opens_a_linked_one() {
        let reply = b"From: Alice Doe <alice@customer.test>\r\nSubject: Re: Help\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nIt broke again.\r\n";
        let mut mem = with_ticket();
        mem.ids
            .insert("<a1@customer.test>".into(), TicketId::new(1001));
        let closed = |mem: &mut Mem, at: UnixTime| {
            let t = mem.tickets.get_mut(&TicketId::new(1001)).expect("ticket");
            t.state = TicketState::Closed;
            t.closed_at = Some(at);
        };
        // Closed yesterday (now = 1_000_000): the old ticket reopens.
        closed(&mut mem, 1_000_000 - 86_400);
        match run(reply, &mem) {
            Plan::Join { reopen, ticket, .. } => assert!(reopen && ticket == TicketId::new(1001)),
            other => panic!("expected a reopening join, got {other:?}"),
        }
        // Closed a month ago: a new ticket, linked, acknowledged.
        closed(&mut mem, 1_000_000 - 30 * 86_400);
        match run(reply, &mem) {
            Plan::NewTicket {
                ticket, outgoing, ..
            } => {
                assert_eq!(ticket.linked_from, Some(TicketId::new(1001)));
                assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_some());
            }
            other => panic!("expected a new linked ticket, got {other:?}"),
        }
    }

    #[test]
    fn an_agents_forward_opens_the_customers_ticket() {
        let raw = b"Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\nTo: support@example.test\r\n\
Subject: Fwd: Broken\r\n\r\nFor the queue.\r\n\r\n---------- Forwarded message ---------\r\n\
From: Alice Doe <alice@customer.test>\r\nSubject: Broken\r\n\r\nMy printer broke.\r\n";
        let Plan::NewTicket {
            ticket, outgoing, ..
        } = run(raw, &Mem::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(ticket.customer.as_str(), "alice@customer.test");
        assert_eq!(ticket.agent.to_string(), "jason@example.test");
        let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
        assert_eq!(
            ack.recipients[0].as_str(),
            "alice@customer.test",
            "the customer, not the agent"
        );
        assert!(String::from_utf8_lossy(&ack.raw).contains("My printer broke."));

        // A forged "agent" forward (foreign envelope) does not make us write to a stranger.
        let forged = String::from_utf8_lossy(raw).replace(
            "Return-Path: <jason@example.test>",
            "Return-Path: <x@evil.test>",
        );
        let plan = run(forged.as_bytes(), &Mem::default());
        assert!(
            !matches!(&plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "alice@customer.test"),
            "{plan:?}"
        );
    }

    #[test]
    fn a_reply_all_quoting_the_customer_is_not_a_forward() {
        let mut mem = with_ticket();
        mem.ids
            .insert("<a1@customer.test>".into(), TicketId::new(1001));
        let raw = b"Return-Path: <jason@example.test>\r\nFrom: jason@example.test\r\nTo: alice@customer.test\r\n\
Cc: support@example.test\r\nSubject: RE: Help\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nOn it.\r\n\r\n\
-----Original Message-----\r\nFrom: Alice Doe <alice@customer.test>\r\nSent: today\r\n\r\nHelp\r\n";
        let plan = run(raw, &mem);
        assert!(
            !matches!(plan, Plan::NewTicket { .. }),
            "no duplicate ticket, no second acknowledgement: {plan:?}"
        );
    }

    #[test]
    fn with_a_trusted_authserv_id_a_forward_must_be_authenticated() {
        let mut cfg = config();
        cfg.service.trusted_authserv_id = Some("mx.example.test".into());
        let templates = Templates::load(None).expect("templates");
        let forward = |auth: &str| {
            format!(
                "Return-Path: <jason@example.test>\r\n{auth}From: jason@example.test\r\nTo: support@example.test\r\n\
Subject: Fwd: Broken\r\n\r\n---------- Forwarded message ---------\r\nFrom: Victim <victim@elsewhere.test>\r\n\
Subject: Broken\r\n\r\nBuy cheap watches.\r\n"
            )
        };
        let forged = decide(
            forward("").as_bytes(),
            7,
            &cfg,
            &templates,
            &Mem::default(),
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides");
        assert!(
            !matches!(&forged.plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "victim@elsewhere.test"),
            "an unauthenticated 'forward' must not make us write to a third party"
        );
        let real =
            forward("Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n");
        let d = decide(
            real.as_bytes(),
            7,
            &cfg,
            &templates,
            &Mem::default(),
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides");
        assert!(
            matches!(&d.plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "victim@elsewhere.test")
        );
    }

    #[test]
    fn verified_agent_answer_is_relayed_to_the_customer() {
        let raw = agent_mail_to(
            1001,
            "Jason Miller <jason@example.test>",
            "Unplug it.\r\n\r\nOn Mon, X wrote:\r\n> Help\r\n",
            "",
        );
        let Plan::Agent {
            outgoing, action, ..
        } = run(&raw, &with_ticket())
        else {
            panic!("expected an agent plan");
        };
        assert_eq!(action, "relayed");
        let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
        assert_eq!(reply.recipients[0].as_str(), "alice@customer.test");
        let parsed = crate::mail::parse::parse(&reply.raw).expect("parses");
        assert_eq!(parsed.text.trim(), "Unplug it.");
        assert_eq!(parsed.in_reply_to, vec!["<a1@customer.test>"]);
        assert_eq!(
            parsed.from.expect("from").name.as_deref(),
            Some("Jason Miller, Acme Support")
        );
    }

    #[test]
    fn forged_or_misused_tokens_are_never_relayed() {
        let mem = with_ticket();
        for (name, raw) in [
            (
                "stranger with a valid token",
                agent_mail_to(1001, "mallory@evil.test", "Pay me.", ""),
            ),
            (
                "agent name spoofed",
                agent_mail_to(1001, "Jason Miller <jason@evil.test>", "Pay me.", ""),
            ),
            (
                "token of another ticket",
                agent_mail_to(1002, "jason@example.test", "Pay me.", ""),
            ),
        ] {
            match run(&raw, &mem) {
                Plan::Quarantine(reason) => {
                    assert!(reason.contains("not relayed"), "{name}: {reason}")
                }
                other => panic!("{name}: expected quarantine, got {other:?}"),
            }
        }
    }

    #[test]
    fn subject_mode_carries_the_token_in_the_subject() {
        let mut cfg = config();
        cfg.service.reply_tokens = crate::config::ReplyTokens::Subject;
        let templates = Templates::load(None).expect("templates");
        let d = decide(
            ALICE,
            7,
            &cfg,
            &templates,
            &Mem::default(),
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides");
        let Plan::NewTicket { outgoing, .. } = d.plan else {
            panic!("expected a new ticket");
        };
        let n = crate::mail::parse::parse(
            &of_kind(&outgoing, MailKind::AgentNotification)
                .expect("notified")
                .raw,
        )
        .expect("parses");
        assert!(
            n.reply_to.is_none(),
            "replies go to the plain support address"
        );
        assert_eq!(
            relay::find_subject_token(&n.subject)
                .expect("marker")
                .ticket,
            TicketId::new(1042)
        );

        let jason = crate::domain::AgentEmail::new(
            EmailAddress::parse("jason@example.test").expect("valid"),
        );
        let token = relay::mint(crate::testutil::TEST_KEY, TicketId::new(1001), &jason);
        let raw = format!(
            "Return-Path: <jason@example.test>\r\nFrom: jason@example.test\r\nTo: support@example.test\r\n\
Subject: Re: [Acme Support #1001] Help {{ref:1001.{token}}}\r\nMessage-ID: <s1@example.test>\r\n\r\nUnplug it.\r\n"
        );
        let d = decide(
            raw.as_bytes(),
            8,
            &cfg,
            &templates,
            &with_ticket(),
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides");
        let Plan::Agent {
            outgoing, action, ..
        } = d.plan
        else {
            panic!("expected a relay");
        };
        assert_eq!(action, "relayed");
        let reply = crate::mail::parse::parse(&outgoing[0].raw).expect("parses");
        assert!(
            !reply.subject.contains("{ref:"),
            "the token never reaches the customer: {}",
            reply.subject
        );
    }

    #[test]
    fn a_bounced_answer_is_recorded_and_the_agent_told() {
        let mut mem = with_ticket();
        mem.ids
            .insert("<reply.1001.abc@example.test>".into(), TicketId::new(1001));
        let raw = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.test\r\n\r\n\
Final-Recipient: rfc822; alice@customer.test\r\nAction: failed\r\nStatus: 5.2.2\r\n\
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <reply.1001.abc@example.test>\r\n\r\n--B--\r\n";
        let Plan::Join {
            ticket,
            outgoing,
            reason,
            ..
        } = run(raw, &mem)
        else {
            panic!("expected the bounce on its ticket");
        };
        assert_eq!(ticket, TicketId::new(1001));
        assert_eq!(reason, SuppressReason::DeliveryReport);
        assert_eq!(outgoing.len(), 1);
        assert_eq!(outgoing[0].kind, MailKind::AgentNotice);
        let text = crate::mail::parse::parse(&outgoing[0].raw)
            .expect("parses")
            .text;
        assert!(text.contains("552 5.2.2 Mailbox full"), "{text}");
    }

    #[test]
    fn a_quote_the_stripper_missed_is_caught_by_the_notification_marker() {
        // A client whose quote header is in no language we know: the marker line still shows.
        let body = format!(
            "Done.\r\n\r\nUnknown quote header:\r\n{}\r\nInternal details.\r\n",
            notification_marker(TicketId::new(1001))
        );
        let raw = agent_mail_to(1001, "jason@example.test", &body, "");
        let Plan::Agent {
            action, outgoing, ..
        } = run(&raw, &with_ticket())
        else {
            panic!("expected a refusal");
        };
        assert!(action.starts_with("refused"), "{action}");
        assert!(outgoing.iter().all(|m| m.kind == MailKind::AgentNotice));
        // And every notification carries the marker.
        let Plan::NewTicket { outgoing, .. } = run(ALICE, &Mem::default()) else {
            panic!("expected a new ticket");
        };
        let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
        let text = crate::mail::parse::parse(&n.raw).expect("parses").text;
        assert!(
            text.starts_with(&notification_marker(TicketId::new(1042))),
            "{text}"
        );
    }

    #[test]
    fn relay_attacks_from_the_review_are_refused() {
        let mem = with_ticket();
        // The agent's exact address in From, but the envelope is someone else's.
        let forged = String::from_utf8_lossy(&agent_mail_to(
            1001,
            "jason@example.test",
            "Pay to IBAN X.",
            "",
        ))
        .replace(
            "Return-Path: <jason@example.test>",
            "Return-Path: <mallory@evil.test>",
        );
        assert!(
            matches!(run(forged.as_bytes(), &mem), Plan::Quarantine(r) if r.contains("envelope")),
            "an exact-address forgery must not be relayed"
        );
        // Two tickets' reply addresses in one mail: which customer? Neither.
        let two = String::from_utf8_lossy(&agent_mail_to(
            1001,
            "jason@example.test",
            "Answer.",
            "Cc: support+1002.abcdefghij@example.test\r\n",
        ))
        .into_owned();
        let Plan::Agent {
            outgoing, action, ..
        } = run(two.as_bytes(), &mem)
        else {
            panic!("expected a refusal");
        };
        assert!(action.starts_with("refused"), "{action}");
        assert!(outgoing.iter().all(|m| m.kind == MailKind::AgentNotice));
        // A fresh mail to a remembered reply address: not an answer to the ticket.
        let fresh =
            String::from_utf8_lossy(&agent_mail_to(1001, "jason@example.test", "Unrelated.", ""))
                .replace("Subject: Re: [Acme Support #1001] Help", "Subject: Lunch?");
        let Plan::Agent {
            outgoing, action, ..
        } = run(fresh.as_bytes(), &mem)
        else {
            panic!("expected a refusal");
        };
        assert!(
            action.starts_with("refused")
                && outgoing.iter().all(|m| m.kind == MailKind::AgentNotice),
            "{action}"
        );
        // A #note placed under the quote is still a note, never relayed.
        let note = agent_mail_to(
            1001,
            "jason@example.test",
            "On Wed, 25 Nov 2026, Acme wrote:\r\n> Help\r\n\r\n#note she is rude\r\n",
            "",
        );
        let Plan::Agent {
            outgoing, action, ..
        } = run(&note, &mem)
        else {
            panic!("expected a note");
        };
        assert_eq!(action, "note");
        assert!(outgoing.is_empty());
    }

    #[test]
    fn agent_out_of_office_and_unknown_commands_do_not_reach_the_customer() {
        let mem = with_ticket();
        let ooo = agent_mail_to(
            1001,
            "jason@example.test",
            "Away.",
            "Auto-Submitted: auto-replied\r\n",
        );
        let Plan::Agent {
            outgoing, action, ..
        } = run(&ooo, &mem)
        else {
            panic!("expected an agent plan");
        };
        assert!(
            outgoing.is_empty() && action.starts_with("ignored automated mail"),
            "{action}"
        );

        let assign = agent_mail_to(
            1001,
            "jason@example.test",
            "#assign Maria\r\nPlease take this.",
            "",
        );
        let Plan::Agent {
            outgoing, action, ..
        } = run(&assign, &mem)
        else {
            panic!("expected an agent plan");
        };
        assert!(action.starts_with("refused"), "{action}");
        assert_eq!(outgoing.len(), 1);
        assert_eq!(outgoing[0].kind, MailKind::AgentNotice);
        assert_eq!(
            outgoing[0].recipients[0].as_str(),
            "jason@example.test",
            "the notice goes to the agent"
        );
    }

    #[test]
    fn assign_hands_the_ticket_and_the_customer_mail_to_the_new_agent() {
        let raw = agent_mail_to(
            1001,
            "jason@example.test",
            "#assign Maria Lopez\r\nBilling question, over to you.",
            "",
        );
        let Plan::Agent {
            outgoing,
            reassign,
            action,
            message,
            ..
        } = run(&raw, &with_ticket())
        else {
            panic!("expected an agent plan");
        };
        assert_eq!(
            reassign.map(|a| a.to_string()).as_deref(),
            Some("maria@example.test"),
            "{action}"
        );
        assert_eq!(
            message.note.as_deref(),
            Some("Billing question, over to you.")
        );
        assert_eq!(outgoing.len(), 1);
        let n = &outgoing[0];
        assert_eq!(
            (n.kind, n.recipients[0].as_str()),
            (MailKind::AgentNotification, "maria@example.test")
        );
        let text = crate::mail::parse::parse(&n.raw).expect("parses").text;
        assert!(text.contains("assigned to you by Jason Miller"), "{text}");
        assert!(
            text.contains("My printer is on fire."),
            "the customer's mail goes along: {text}"
        );
        let reply_to = crate::mail::parse::parse(&n.raw)
            .expect("parses")
            .reply_to
            .expect("reply-to");
        let maria = crate::domain::AgentEmail::new(
            EmailAddress::parse("maria@example.test").expect("valid"),
        );
        let token = relay::find_token_address(
            &[reply_to.address],
            &EmailAddress::parse("support@example.test").expect("valid"),
        )
        .expect("token address");
        assert!(relay::verify(
            crate::testutil::TEST_KEY,
            TicketId::new(1001),
            &maria,
            &token.token
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any bytes at all: a defined outcome, never a panic.
        #[test]
        fn decide_never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let _ = run(&raw, &Mem::default());
        }

        /// Hostile text in the fields that reach our headers (delivered as encoded words, the
        /// way an attacker would): never a panic, never a header the customer controls.
        #[test]
        fn hostile_fields_never_reach_our_headers(
            name in "\\PC{0,40}",
            subject in "\\PC{0,80}",
            header in "[A-Za-z\u{e9}\u{130}-]{1,12}",
            body in "\\PC{0,200}",
        ) {
            let b64 = |s: String| data_encoding::BASE64.encode(s.as_bytes());
            let raw = format!(
                "From: =?utf-8?b?{}?= <p@customer.test>\r\nX-{header}: v\r\nSubject: =?utf-8?b?{}?=\r\n\r\n{body}",
                b64(format!("{name}\r\nBcc: x@evil.test")),
                b64(format!("{subject}\r\nBcc-Me: 1")),
            );
            let Plan::NewTicket { outgoing, .. } = run(raw.as_bytes(), &Mem::default()) else {
                return Err(proptest::test_runner::TestCaseError::fail("a valid sender must open a ticket"));
            };
            proptest::prop_assert_eq!(outgoing.len(), 2, "acknowledgement and notification");
            for mail in outgoing {
                let text = String::from_utf8_lossy(&mail.raw);
                let headers = text.split("\r\n\r\n").next().unwrap_or_default();
                proptest::prop_assert!(!headers.contains("\r\nBcc:"), "{}", headers);
                proptest::prop_assert!(!headers.contains("\r\nBcc-Me:"), "{}", headers);
            }
        }
    }

    /// Broken and hostile input: each gets a defined outcome, none panics.
    #[test]
    fn hostile_input_table() {
        let huge_subject = format!(
            "From: a@customer.test\r\nSubject: {}\r\n\r\nx",
            "s".repeat(90_000)
        );
        let too_big = format!("From: a@customer.test\r\n\r\n{}", "x".repeat(200_000));
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", b"".to_vec(), "quarantine:unparseable"),
            ("binary garbage", vec![0, 159, 146, 150, 255, 0, 13, 10], "any"),
            ("no From", b"Subject: hi\r\n\r\nbody".to_vec(), "quarantine:no valid sender"),
            ("broken From", b"From: <<@@@\r\nSubject: hi\r\n\r\nbody".to_vec(), "quarantine:no valid sender"),
            ("too big", too_big.into_bytes(), "quarantine:message of 200025 bytes exceeds limits.max_message_bytes (100000)"),
            ("1 MB-ish subject", huge_subject.into_bytes(), "new-ticket"),
            (
                "CRLF in display name",
                b"From: =?utf-8?q?Eve=0D=0ABcc=3A_v=40x.test?= <eve@customer.test>\r\nSubject: x\r\n\r\nhi".to_vec(),
                "new-ticket",
            ),
            (
                "truncated MIME",
                b"From: a@customer.test\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/pl".to_vec(),
                "new-ticket",
            ),
            (
                "unknown charset",
                b"From: a@customer.test\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla'".to_vec(),
                "new-ticket",
            ),
        ];
        for (name, raw, expected) in cases {
            let plan = run(&raw, &Mem::default());
            let got = match &plan {
                Plan::Quarantine(r) => format!("quarantine:{r}"),
                Plan::NewTicket { outgoing, .. } => {
                    for mail in outgoing {
                        let text = String::from_utf8_lossy(&mail.raw);
                        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
                        assert!(
                            !headers.contains("\r\nBcc:"),
                            "{name}: injected header in {headers}"
                        );
                    }
                    "new-ticket".into()
                }
                Plan::Join { .. } => "join".into(),
                Plan::Agent { .. } => "agent".into(),
                Plan::Suppress(r) => format!("suppress:{r}"),
            };
            assert!(
                expected == "any" || got.starts_with(expected),
                "{name}: expected {expected}, got {got}"
            );
        }
    }
}
