//! Mail sent to a ticket's reply address. Only a configured agent whose envelope backs the
//! From, holding a token that verifies, answering that ticket's thread, gets an answer
//! relayed to the customer (as text, and as sanitized HTML when the agent wrote HTML and its
//! quote could be cut in the document); everything doubtful is refused with a notice to the
//! agent or quarantined, never sent. The checks run in a fixed order, cheapest and most
//! certain first.

use super::closing;
use super::images::{image_id, image_part, inline_images};
use super::leaks;
use super::participants;
use super::{Ctx, Decision, State, agent_verified, closed_long_ago, sending_agent};
use crate::compose::{
    ComposeError, Envelope, HtmlBody, NotificationPrint, RelayContext, ReplyContext, Templates,
    build_mail_with_html, customer_vars, is_reply_name, person_vars, reply_subject, service_vars,
    ticket_vars,
};
use crate::config::Agent;
use crate::domain::{
    AgentAction, AgentEmail, AnswerWait, Direction, EmailAddress, MailKind, MessageIdKind,
    OutgoingMail, ParticipantChange, Plan, Refusal, RefusalKind, SuppressReason, Ticket,
    TicketMessage, TicketStamp, TicketState, UnixTime,
};
use crate::mail::classify::Classified;
use crate::mail::parse::{self, Attachment, Mailbox, ParsedMail};
use crate::mail::relay::{
    self, AgentMessage, Command, Fingerprints, HtmlAnswer, OurQuote, TokenAddress,
};
use crate::mail::thread;

/// An agent's mail about a ticket, verified: whose, which ticket, the history entry.
pub(super) struct Answer<'m> {
    pub(super) ticket: Ticket,
    pub(super) agent: &'m Agent,
    pub(super) message: TicketMessage,
    pub(super) message_id: Option<String>,
    /// Seconds of the agent's working time since the ticket opened.
    pub(super) waited: u64,
    /// `#cc add`/`#cc drop`, applied with the plan (and before the relay is addressed).
    pub(super) participants: Vec<ParticipantChange>,
}

impl Answer<'_> {
    /// The plan that records `action` with `outgoing`, a state change and a new owner.
    pub(super) fn plan(
        self,
        outgoing: Vec<OutgoingMail>,
        state: Option<TicketState>,
        reassign: Option<AgentEmail>,
        action: AgentAction,
    ) -> Decision {
        Decision {
            message_id: self.message_id,
            plan: Plan::Agent {
                ticket: self.ticket.id,
                wait: outgoing
                    .iter()
                    .any(|m| m.kind == MailKind::AgentReply)
                    .then(|| AnswerWait {
                        agent: self.agent.email.clone(),
                        working_seconds: self.waited,
                    }),
                message: self.message,
                outgoing,
                state,
                reassign,
                participants: self.participants,
                action,
            },
        }
    }
}

/// Seconds of `agent`'s working time from `from` to `now`: how long a customer waited for
/// them, counted the way the SLA counts it.
fn working_seconds_since(agent: &Agent, from: UnixTime, now: UnixTime) -> u64 {
    match (
        jiff::Timestamp::from_second(from),
        jiff::Timestamp::from_second(now),
    ) {
        (Ok(from), Ok(to)) => agent.hours.working_seconds_between(from, to).max(0) as u64,
        _ => 0,
    }
}

/// Decides on mail to the reply address `token` names.
pub(super) fn answer<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    token: &TokenAddress,
    class: Classified,
) -> Result<Decision, S::Error> {
    let message_id = mail.message_id.clone();
    let (ticket, agent) = match verify_token(ctx, mail, token)? {
        Ok(verified) => verified,
        Err(reason) => return Ok(Decision::quarantine(message_id, reason)),
    };
    // Reply addresses are looked for under the address this mail arrived at; everything
    // from here on is about the ticket, and goes out from its inbox.
    let arrived_at = &ctx.cfg.service.address;
    let view = ctx.about(Some(&ticket));
    let ctx = &ctx.with_cfg(&view);
    let mut message = ctx.message(mail, None);
    message.direction = Direction::FromAgent;
    let mut answer = Answer {
        waited: working_seconds_since(agent, ticket.created_at, ctx.now),
        ticket,
        agent,
        message,
        message_id,
        participants: Vec::new(),
    };
    // An agent's out-of-office answering the notification must never reach the customer.
    if let Classified::Suppress(reason) = class
        && (reason.is_automated() || reason == SuppressReason::AutoReplySubject)
    {
        answer.message.suppressed = Some(reason);
        let action = AgentAction::IgnoredAutomated(reason);
        return Ok(answer.plan(Vec::new(), None, None, action));
    }
    // From is forgeable: the envelope must back it before we speak for the agent.
    if !agent_verified(ctx.cfg, mail) {
        let reason = format!(
            "agent mail for ticket #{} is not backed by its envelope (Return-Path missing or in another domain); not relayed",
            answer.ticket.id
        );
        return Ok(Decision::quarantine(answer.message_id, reason));
    }
    // The same mail twice (reply-all to two of our addresses, a client's re-send).
    if is_duplicate(&answer.ticket, mail) {
        return Ok(answer.plan(Vec::new(), None, None, AgentAction::Duplicate));
    }
    if let Some(refusal) = misaddressed(ctx, mail, &answer.ticket, arrived_at)? {
        return Ok(refuse(ctx, answer, refusal));
    }
    let print = ctx.composer().notification_print(answer.ticket.id);
    let service = &ctx.cfg.service;
    let ours = OurQuote {
        anchors: print.anchors(),
        header: print.header(),
        sender: [&service.name, service.address.as_str()],
    };
    let html = read_html(ctx, &ours, answer.ticket.stamp());
    // An HTML-only answer is read from its cut document; one with a text body, from that
    // text, as a text-only answer is (its HTML goes along if it passes the same guard).
    let read = match &html {
        Some(h) if !h.with_text => h.answer.message.clone(),
        _ => {
            let text = parse::reply_text(ctx.mime).unwrap_or_else(|| mail.text.clone());
            relay::read_agent_message(&text, &ours)
        }
    };
    if let Some(refusal) = command_problems(ctx, &answer.ticket, &read, &print) {
        return Ok(refuse(ctx, answer, refusal));
    }
    let before = answer.ticket.clone();
    let decision = act(ctx, answer, read, html, &print)?;
    with_closing_mail(ctx, &before, decision)
}

/// A decision that closes an open ticket (`#close`) also sends the customer the closing
/// mail, in the name of the agent who has the ticket then, unless it is withheld.
fn with_closing_mail<S: State>(
    ctx: &Ctx<'_, S>,
    before: &Ticket,
    mut decision: Decision,
) -> Result<Decision, S::Error> {
    let Plan::Agent {
        state: Some(TicketState::Closed),
        reassign,
        outgoing,
        ..
    } = &mut decision.plan
    else {
        return Ok(decision);
    };
    if before.state != TicketState::Open {
        return Ok(decision);
    }
    let mut ticket = before.clone();
    if let Some(new) = reassign {
        ticket.agent = new.clone();
    }
    let agent = ctx.cfg.agent(&ticket.agent);
    match closing::closing_mail(ctx.state, &ctx.composer(), &ticket, agent, ctx.now)? {
        Ok(mail) => outgoing.push(mail),
        Err(why) => {
            tracing::info!(ticket = %ticket.id, reason = %why, "closing mail not sent");
        }
    }
    Ok(decision)
}

/// An agent's HTML answer with the quote of our notification cut out of its document, and
/// whether the mail has a text body beside it.
struct Html {
    answer: HtmlAnswer,
    with_text: bool,
}

/// The answer's HTML body cut and sanitized (`relay::read_html_answer`), if it has one and
/// the cut could be made; its inline images are named after the relay's Message-ID.
fn read_html<S: State>(ctx: &Ctx<'_, S>, ours: &OurQuote<'_>, ticket: TicketStamp) -> Option<Html> {
    let reply = parse::reply_html(ctx.mime)?;
    let parts = parse::attachments(ctx.mime);
    let relay_id = ctx.composer().message_id(MessageIdKind::Reply, ticket);
    let name = |cid: &str| image_part(&parts, cid).map(|k| image_id(k, &relay_id));
    let answer = relay::read_html_answer(&reply.html, ours, &name)?;
    Some(Html {
        answer,
        with_text: reply.with_text,
    })
}

/// Whether a cut HTML answer may go to the customer: the leak guard finds nothing of the
/// notification in its text or markup, no command line is left in it, none of the ticket's
/// notification fingerprints is in it (`leaks`), and (beside a text body) it says what the
/// cut text says. When it may not, the answer goes as text.
fn html_passes(
    fingerprints: &Fingerprints,
    html: &Html,
    read: &AgentMessage,
    print: &NotificationPrint,
) -> bool {
    print.html_lines(&html.answer.html).is_empty()
        && !relay::has_command_line(&html.answer.text)
        && fingerprints.in_bytes(html.answer.html.as_bytes()).is_none()
        && (!html.with_text || relay::html_agrees_with_text(&read.body, &html.answer.text))
}

/// The ticket the token names and the configured agent who sent it, if the token is theirs;
/// otherwise the quarantine reason (a forgery, a leaked address, a stale ticket).
fn verify_token<'c, S: State>(
    ctx: &Ctx<'c, S>,
    mail: &ParsedMail,
    token: &TokenAddress,
) -> Result<Result<(Ticket, &'c Agent), String>, S::Error> {
    let cfg = ctx.cfg;
    let Some(secret) = cfg.service.token_secret.as_ref() else {
        return Ok(Err(
            "mail to a reply address, but no token key is configured".into(),
        ));
    };
    let Some(ticket) = ctx.state.ticket(token.ticket)? else {
        return Ok(Err(format!(
            "mail to the reply address of ticket #{}, which does not exist; not relayed",
            token.ticket
        )));
    };
    let Some(agent) = sending_agent(cfg, mail) else {
        // Not an agent: a customer who replied-all to a leaked token address, or a forgery.
        // Neither may speak for us (nothing is sent).
        return Ok(Err(format!(
            "mail to the reply address of ticket #{} is not from a configured agent; not relayed",
            ticket.id
        )));
    };
    // The token must be the sender's own, or (for the ticket's current agent) a previous
    // owner's: an answer to an old notification after a reassignment.
    let key = relay::ticket_key(secret.expose().as_bytes(), ticket.created_at);
    let token_ok = relay::verify(&key, ticket.id, &agent.email, &token.token)
        || (agent.email == ticket.agent
            && cfg
                .agents
                .iter()
                .any(|a| relay::verify(&key, ticket.id, &a.email, &token.token)));
    if !token_ok {
        return Ok(Err(format!(
            "reply token for ticket #{} does not verify for its sender; not relayed",
            ticket.id
        )));
    }
    Ok(Ok((ticket, agent)))
}

/// Whether the ticket already holds this agent mail (by its Message-ID).
fn is_duplicate(ticket: &Ticket, mail: &ParsedMail) -> bool {
    mail.message_id.as_deref().is_some_and(|id| {
        ticket.messages.iter().any(|m| {
            matches!(m.direction, Direction::FromAgent | Direction::Note)
                && m.message_id.as_deref() == Some(id)
        })
    })
}

/// Refuses mail that names other tickets' reply addresses too, or is not an answer in this
/// ticket's thread (a reply to its notification, or a subject with its tag): a fresh mail to
/// a remembered reply address is not an answer.
fn misaddressed<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    ticket: &Ticket,
    arrived_at: &EmailAddress,
) -> Result<Option<Refusal>, S::Error> {
    let cfg = ctx.cfg;
    let mut tokens = relay::find_token_addresses(&mail.recipients, arrived_at);
    tokens.extend(relay::find_subject_token(&mail.subject));
    if tokens.iter().any(|t| t.ticket != ticket.id) {
        return Ok(Some(Refusal::new(
            RefusalKind::SeveralTickets,
            "the mail was addressed to the reply addresses of several tickets; send one answer per ticket",
        )));
    }
    let mut in_thread = thread::ticket_tags(&mail.subject, &cfg.service.name)
        .iter()
        .any(|(_, t)| *t == ticket.id);
    for id in mail.in_reply_to.iter().chain(&mail.references) {
        if ctx.state.ticket_by_message_id(id)? == Some(ticket.id) {
            in_thread = true;
        }
    }
    if in_thread {
        return Ok(None);
    }
    Ok(Some(Refusal::new(
        RefusalKind::NotInThread,
        format!(
            "this mail is not a reply to ticket #{}; press Reply on its notification to answer the customer",
            ticket.id
        ),
    )))
}

/// Everything wrong with the commands (an unknown or already-owning agent, an unknown word or
/// canned answer, `#close` with `#reopen`, `#reply` with `#note` or `#assign`, a command below
/// the text) and a quote that was not removed.
fn command_problems<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    read: &AgentMessage,
    print: &NotificationPrint,
) -> Option<Refusal> {
    let mut problems: Vec<String> = Vec::new();
    for c in &read.commands {
        match c {
            Command::Assign(who) => match ctx.cfg.find_agent(who) {
                Err(reason) => problems.push(format!("#assign {who}: {reason}")),
                Ok(target) if target.email == ticket.agent => problems.push(format!(
                    "#assign {who}: the ticket is already assigned to {}",
                    target.name
                )),
                Ok(_) => {}
            },
            Command::Reply(name) => problems.extend(unknown_reply(ctx.templates, name)),
            Command::Unknown(word) => problems.push(format!(
                "#{word} is not a command (known: #note, #close, #reopen, #assign, #reply, #cc)"
            )),
            Command::Note | Command::Close | Command::Reopen | Command::Cc(_) => {}
        }
    }
    problems.extend(participants::cc_changes(ctx.cfg, ticket, &read.commands).1);
    if read.commands.contains(&Command::Close) && read.commands.contains(&Command::Reopen) {
        problems.push("#close and #reopen contradict each other".into());
    }
    let replies = read
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Reply(_)))
        .count();
    if replies > 1 {
        problems.push("#reply may name one canned answer per mail".into());
    }
    if replies > 0 && read.commands.contains(&Command::Note) {
        problems.push("#reply and #note contradict each other (a note is never sent)".into());
    }
    if replies > 0
        && read
            .commands
            .iter()
            .any(|c| matches!(c, Command::Assign(_)))
    {
        problems.push(
            "#reply and #assign contradict each other (a handover sends nothing to the customer)"
                .into(),
        );
    }
    if relay::has_command_line(&read.body) {
        problems
            .push("a #command line was found below the text; commands go at the very top".into());
    }
    let kind = if problems.is_empty() {
        RefusalKind::QuoteNotSeparated
    } else {
        RefusalKind::Command
    };
    let leaked = print.lines(&read.body);
    if !leaked.is_empty() {
        let lines: Vec<String> = leaked.iter().map(|l| format!("\"{}\"", l.trim())).collect();
        problems.push(format!(
            "the quoted notification could not be separated from your answer (please reply above the quote); these lines are the notification's: {}",
            lines.join(", ")
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let detail = format!("{}; nothing was changed or sent", problems.join("; "));
    Some(Refusal::new(kind, detail))
}

/// Why `#reply NAME` names no canned answer (no name, a name no file can have, or none by
/// that name), with the names there are; `None` when it names one.
fn unknown_reply(templates: &Templates, name: &str) -> Option<String> {
    let names = templates.reply_names();
    if is_reply_name(name) && names.iter().any(|n| n == name) {
        return None;
    }
    let what = if name.is_empty() {
        "#reply needs the name of a canned answer".to_string()
    } else if !is_reply_name(name) {
        format!(
            "#reply {name}: a canned answer's name holds only lowercase letters, digits, '-' and '_'"
        )
    } else {
        format!("#reply {name}: there is no canned answer by that name")
    };
    let known = if names.is_empty() {
        "no canned answers are set up: they are replies/NAME.txt.hbs in the templates directory"
            .to_string()
    } else {
        format!("available: {}", names.join(", "))
    };
    Some(format!("{what} ({known})"))
}

/// Carries out a verified answer: hand over (`#assign`), record a note, change the state,
/// or relay the text with its attachments, unless what is left is empty, carries the
/// notification, or answers a ticket closed long ago. With `#reply NAME` the customer gets
/// the canned answer, then a blank line and what the agent wrote (if anything), as text: an
/// HTML answer's own HTML does not go along, its text does.
fn act<S: State>(
    ctx: &Ctx<'_, S>,
    mut answer: Answer<'_>,
    read: AgentMessage,
    html: Option<Html>,
    print: &NotificationPrint,
) -> Result<Decision, S::Error> {
    let state = if read.commands.contains(&Command::Close) {
        Some(TicketState::Closed)
    } else if read.commands.contains(&Command::Reopen) {
        Some(TicketState::Open)
    } else {
        None
    };
    answer.participants = participants::cc_changes(ctx.cfg, &answer.ticket, &read.commands).0;
    let target = read.commands.iter().find_map(|c| match c {
        Command::Assign(who) => ctx.cfg.find_agent(who).ok(),
        _ => None,
    });
    if let Some(target) = target {
        return super::handover::hand_over(ctx, answer, target, read.body, state);
    }
    if read.commands.contains(&Command::Note) {
        answer.message.note = Some(read.body);
        answer.message.direction = Direction::Note;
        return Ok(answer.plan(Vec::new(), state, None, AgentAction::Noted { then: state }));
    }
    let mut attachments = parse::relay_attachments(ctx.mime);
    let fingerprints = match leaks::fingerprints(ctx, &answer.ticket, print) {
        Ok(f) => f,
        Err(e) => {
            return Ok(Decision::quarantine(
                answer.message_id,
                format!("{e}; not relayed"),
            ));
        }
    };
    let canned = read.commands.iter().find_map(|c| match c {
        Command::Reply(name) => Some(name.as_str()),
        _ => None,
    });
    let html = html
        .filter(|_| canned.is_none())
        .filter(|h| html_passes(&fingerprints, h, &read, print));
    let images = match &html {
        Some(h) => inline_images(ctx, answer.ticket.stamp(), &h.answer),
        None => Vec::new(),
    };
    // An image the HTML shows goes with the HTML, not as an attachment too.
    attachments.retain(|a| {
        a.content_id
            .as_ref()
            .is_none_or(|c| !html.as_ref().is_some_and(|h| h.answer.images.contains(c)))
    });
    // The text part is the answer's own text body, cut; for an HTML-only answer, the text
    // of the HTML that goes along. The guard has read both.
    let mut body = match &html {
        Some(h) if !h.with_text => h.answer.text.clone(),
        _ => read.body.clone(),
    };
    if let Some(name) = canned {
        let vars = reply_vars(ctx, &answer.ticket, answer.agent);
        let lang = answer.ticket.language();
        match ctx.templates.canned_reply(lang, name, &vars) {
            Ok(text) => body = with_canned(&text, &body),
            Err(e) => {
                return Ok(Decision::quarantine(
                    answer.message_id,
                    format!("canned answer {name} could not be rendered: {e}; not relayed"),
                ));
            }
        }
    }
    let body = body.as_str();
    if let Some(refusal) = leaks::leaked(ctx, &fingerprints, body, &[&attachments, &images]) {
        return Ok(refuse(ctx, answer, refusal));
    }
    if canned.is_none() && read.body.trim().is_empty() && attachments.is_empty() {
        if let Some(state) = state {
            return Ok(answer.plan(
                Vec::new(),
                Some(state),
                None,
                AgentAction::StateChanged(state),
            ));
        }
        if !answer.participants.is_empty() {
            let action = AgentAction::ParticipantsChanged;
            return Ok(answer.plan(Vec::new(), None, None, action));
        }
        let refusal = Refusal::new(
            RefusalKind::Empty,
            "the answer was empty once the quoted notification was removed",
        );
        return Ok(refuse(ctx, answer, refusal));
    }
    // Replies to a ticket closed longer than the reopen window need an explicit #reopen.
    let ticket = &answer.ticket;
    if ticket.state == TicketState::Closed
        && state.is_none()
        && closed_long_ago(ctx.cfg, ticket.closed_at, ctx.now)
    {
        let refusal = Refusal::new(
            RefusalKind::ClosedLongAgo,
            "the ticket was closed long ago; put #reopen at the top to answer it",
        );
        return Ok(refuse(ctx, answer, refusal));
    }
    let html = html.as_ref().map(|h| (h.answer.html.as_str(), &images[..]));
    // Copied: the participants as this answer leaves them (one it adds gets it already).
    let cc = ticket.participants_after(&answer.participants);
    Ok(
        match relay(ctx, ticket, answer.agent, body, html, &attachments, &cc) {
            Ok(out) => answer.plan(vec![out], state, None, AgentAction::Relayed { then: state }),
            Err(e) => Decision::quarantine(
                answer.message_id,
                format!("relayed answer could not be composed: {e}"),
            ),
        },
    )
}

/// A canned answer followed by what the agent wrote below the commands: a blank line between
/// them, nothing after the canned answer when the agent wrote nothing.
fn with_canned(canned: &str, own: &str) -> String {
    match own.trim() {
        "" => canned.to_string(),
        _ => format!("{canned}\n\n{own}"),
    }
}

/// The people, ticket and service as a relayed answer's templates see them.
fn reply_vars<S: State>(ctx: &Ctx<'_, S>, ticket: &Ticket, agent: &Agent) -> ReplyContext {
    let service = &ctx.cfg.service;
    let customer = Mailbox::customer_of(ticket);
    ReplyContext {
        agent: person_vars(&agent.name, agent.email.address()),
        // The customer's own words are not at hand here: greeted by their display name.
        customer: customer_vars(&customer, "", "there"),
        ticket: ticket_vars(&service.name, ticket.id),
        service: service_vars(&service.name, &service.address),
    }
}

/// The agent's answer as the customer receives it: from the support address in the agent's
/// name, threaded on the customer's latest mail, with the attachments, `cc` (the
/// participants) copied; with `html` (the sanitized HTML and its inline images) as
/// `multipart/alternative`.
fn relay<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    agent: &Agent,
    body: &str,
    html: Option<(&str, &[Attachment<'_>])>,
    attachments: &[Attachment<'_>],
    cc: &[EmailAddress],
) -> Result<OutgoingMail, ComposeError> {
    let service = &ctx.cfg.service;
    let people = reply_vars(ctx, ticket, agent);
    let vars = RelayContext {
        body: body.to_string(),
        body_html: html.map(|(h, _)| h.to_string()).unwrap_or_default(),
        agent: people.agent,
        customer: people.customer,
        ticket: people.ticket,
        service: people.service,
    };
    let text = ctx.templates.relay_text(&vars)?;
    let html_doc = match html {
        Some(_) => Some(ctx.templates.relay_html(&vars)?),
        None => None,
    };
    let html = html_doc
        .as_deref()
        .zip(html)
        .map(|(doc, (_, images))| HtmlBody { html: doc, images });
    build_mail_with_html(
        MailKind::AgentReply,
        &Envelope {
            from_name: &format!("{}, {}", agent.name, service.name),
            service_address: &service.address,
            to: (ticket.customer_name.as_deref(), &ticket.customer),
            cc,
            reply_to: None,
            subject: &reply_subject(&ticket.subject, &service.name, ticket.id, ticket.language()),
            message_id: ctx
                .composer()
                .message_id(MessageIdKind::Reply, ticket.stamp()),
            in_reply_to: ticket.last_customer_message_id(),
            references: ticket.thread_ids(),
            auto_submitted: None,
            date: ctx.date,
        },
        text,
        html,
        attachments,
        Some(service.address.clone()),
    )
}

/// Refuses an agent's mail: the agent gets a notice saying why, nothing else is sent.
fn refuse<S: State>(ctx: &Ctx<'_, S>, mut answer: Answer<'_>, refusal: Refusal) -> Decision {
    answer.participants.clear();
    match ctx
        .composer()
        .notice(&answer.ticket, answer.agent, &refusal.detail)
    {
        Ok(n) => answer.plan(vec![n], None, None, AgentAction::Refused(refusal)),
        Err(e) => Decision::quarantine(
            answer.message_id,
            format!("notice could not be composed: {e}"),
        ),
    }
}

/// An agent wrote to the plain support address about a ticket (replying to a notice without
/// its Reply-To, say): they are not a customer. Tell them, send nothing.
pub(super) fn refuse_plain_address<S: State>(
    ctx: &Ctx<'_, S>,
    mail: &ParsedMail,
    ticket: &Ticket,
    agent: &Agent,
) -> Decision {
    let mut message = ctx.message(mail, None);
    message.direction = Direction::FromAgent;
    let answer = Answer {
        waited: working_seconds_since(agent, ticket.created_at, ctx.now),
        ticket: ticket.clone(),
        agent,
        message,
        message_id: mail.message_id.clone(),
        participants: Vec::new(),
    };
    let refusal = Refusal::new(
        RefusalKind::PlainAddress,
        "your mail reached the plain support address, so nothing was sent to the customer; answer with Reply on the ticket's notification (its Reply-To address)",
    );
    refuse(ctx, answer, refusal)
}
