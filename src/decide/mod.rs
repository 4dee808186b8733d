//! One stored mail → one [`Decision`]. [`decide`] is the whole decision (parse, classify,
//! thread, route, compose) as a pure function of the raw bytes and a read-only view of the
//! store ([`State`]), so unit tests and fuzzers reach it without sled; the processor commits
//! what it returns.
//!
//! | file | what it decides |
//! |---|---|
//! | `customer.rs` | a customer's mail: a new ticket (routed, acknowledged, its agent notified), a follow-up, a flood, a bounce, an agent's forward |
//! | `agent.rs` | mail to a ticket's reply address: verified, its commands read, relayed or refused |
//! | `images.rs` | the inline images an agent's HTML answer shows, renamed after the relay |
//! | `leaks.rs` | the last guard of a relay: no copy of the notification in any part that would go |
//! | `participants.rs` | who besides the customer is on a ticket: the people a customer copies, `#cc add`/`#cc drop` |
//! | [`closing`] | the closing mail and the reminder (the acknowledgement's loop rules and limits), a customer's rating by reply |
//! | [`notify`] | every mail to an agent: notification, notice, handover (also used by the `actions` module) |

mod ack;
mod agent;
pub mod closing;
mod customer;
pub mod handover;
mod images;
mod leaks;
pub mod notify;
mod participants;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::SystemTime;

use crate::compose::Templates;
use crate::config::{Agent, Config};
use crate::domain::{
    AgentEmail, AgentLoad, Direction, EmailAddress, FirstResponse, Plan, SuppressReason, Ticket,
    TicketId, TicketMessage, UnixTime,
};
use crate::mail::classify::{self, Identity, classify};
use crate::mail::parse::{Mime, ParsedMail, ReturnPath, parse};
use crate::mail::relay;
use crate::mail::thread::ThreadLookup;
use notify::Composer;

/// What [`decide`] needs to read from the store. Its errors are the store's own
/// ([`ThreadLookup::Error`]): a failing read is never taken for "no such record".
pub trait State: ThreadLookup {
    /// The number the next new ticket gets.
    fn next_ticket(&self) -> Result<TicketId, Self::Error>;
    /// How many tickets a round-robin pool has had.
    fn pool_counter(&self, pool_key: &str) -> Result<u64, Self::Error>;
    /// Acknowledgements sent to `customer` since `since`.
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, Self::Error>;
    /// Acknowledgements to anyone in the clock hour that contains `at`.
    fn acks_in_hour(&self, at: UnixTime) -> Result<usize, Self::Error>;
    /// One ticket.
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, Self::Error>;
    /// The tickets a customer had, oldest first.
    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>, Self::Error>;
    /// The raw bytes of a stored incoming mail.
    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, Self::Error>;
    /// An agent's open tickets and away flag.
    fn agent_load(&self, agent: &AgentEmail) -> Result<AgentLoad, Self::Error>;
    /// An agent's most recent first responses, oldest first.
    fn first_responses(&self, agent: &AgentEmail) -> Result<Vec<FirstResponse>, Self::Error>;
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
    /// Keep the mail for a person, with the reason in words for the operator.
    pub fn quarantine(message_id: Option<String>, reason: impl Into<String>) -> Decision {
        Decision {
            message_id,
            plan: Plan::Quarantine(reason.into()),
        }
    }

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

/// Everything the deciding functions share for one mail.
struct Ctx<'a, S: State> {
    /// The mail, parsed once: every reader of it on the way takes this, not the bytes.
    mime: &'a Mime<'a>,
    seq: u64,
    cfg: &'a Config,
    templates: &'a Templates,
    state: &'a S,
    now: UnixTime,
    date: SystemTime,
}

impl<'a, S: State> Ctx<'a, S> {
    /// This context under `cfg`, for [`Ctx::about`]'s view.
    fn with_cfg<'b>(&self, cfg: &'b Config) -> Ctx<'b, S>
    where
        'a: 'b,
    {
        Ctx {
            mime: self.mime,
            seq: self.seq,
            cfg,
            templates: self.templates,
            state: self.state,
            now: self.now,
            date: self.date,
        }
    }

    /// The configuration that mail about `ticket` is composed and sent under: the view of
    /// the inbox the ticket came in at, whichever inbox this mail arrived at (a customer's
    /// follow-up written to another of our addresses, an agent's answer to an older
    /// notification), so it goes out from that inbox's address and through its SMTP
    /// account. `None` (no ticket): the arriving inbox's own view.
    fn about(&self, ticket: Option<&Ticket>) -> Cow<'a, Config> {
        match ticket {
            Some(t) => self.cfg.for_ticket(t),
            None => Cow::Borrowed(self.cfg),
        }
    }

    /// Composes the mails this one causes (their Message-IDs derive from its sequence).
    fn composer(&self) -> Composer<'a> {
        Composer {
            cfg: self.cfg,
            templates: self.templates,
            cause: self.seq,
            date: self.date,
        }
    }

    /// The history entry of this mail on a ticket.
    fn message(&self, mail: &ParsedMail, suppressed: Option<SuppressReason>) -> TicketMessage {
        TicketMessage {
            at: self.now,
            direction: Direction::Inbound,
            message_id: mail.message_id.clone(),
            from: mail.from.as_ref().map(|f| f.address.clone()),
            subject: mail.subject.clone(),
            inbound_seq: Some(self.seq),
            outbox_id: None,
            suppressed,
            note: None,
        }
    }
}

/// Decides what to do with stored mail `seq` whose bytes are `raw`. Never panics on any
/// input: anything that cannot be handled safely becomes a quarantine with a reason. The
/// bytes are parsed once ([`Mime`]); every later reader of the mail reads that parse. Big
/// attachments passed on are written into the outgoing mail from `raw` only after the
/// parse is dropped ([`OutgoingMail::splice`]): a 25 MB attachment is never held decoded
/// and encoded at once.
///
/// [`OutgoingMail::splice`]: crate::domain::OutgoingMail::splice
pub fn decide<S: State>(
    raw: &[u8],
    seq: u64,
    cfg: &Config,
    templates: &Templates,
    state: &S,
    now: UnixTime,
    date: SystemTime,
) -> Result<Decision, S::Error> {
    let mut decision = decide_parsed(raw, seq, cfg, templates, state, now, date)?;
    let spliced = decision
        .plan
        .outgoing_mut()
        .iter_mut()
        .try_for_each(|mail| mail.splice(raw));
    Ok(match spliced {
        Ok(()) => decision,
        Err(e) => Decision::quarantine(
            decision.message_id,
            format!("internal error while composing (please report): {e}"),
        ),
    })
}

/// [`decide`] up to the splices: parses, decides and composes.
fn decide_parsed<S: State>(
    raw: &[u8],
    seq: u64,
    cfg: &Config,
    templates: &Templates,
    state: &S,
    now: UnixTime,
    date: SystemTime,
) -> Result<Decision, S::Error> {
    if raw.len() as u64 > cfg.limits.max_message_bytes {
        return Ok(Decision::quarantine(
            None,
            format!(
                "message of {} bytes exceeds limits.max_message_bytes ({})",
                raw.len(),
                cfg.limits.max_message_bytes
            ),
        ));
    }
    let mime = Mime::new(raw);
    let mail = match parse(&mime) {
        Ok(m) => m,
        Err(e) => return Ok(Decision::quarantine(None, format!("unparseable: {e}"))),
    };
    let ctx = Ctx {
        mime: &mime,
        seq,
        cfg,
        templates,
        state,
        now,
        date,
    };
    let identity = Identity {
        own_addresses: cfg.own_addresses(),
    };
    let class = classify(&mail, &identity);
    if let Some(token) = relay::find_token_address(&mail.recipients, &cfg.service.address)
        .or_else(|| relay::find_subject_token(&mail.subject))
    {
        return agent::answer(&ctx, &mail, &token, class);
    }
    if let Some(decision) = customer::forwarded(&ctx, &mail, &identity)? {
        return Ok(decision);
    }
    customer::customer_mail(&ctx, &mail, class)
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
        Some(id) => classify::authenticated(mail, id, from.address.domain()),
        None => {
            matches!(mail.return_path, ReturnPath::Address(_)) && classify::sender_aligned(mail)
        }
    }
}

/// Whether a ticket closed at `closed_at` was closed longer ago than the reopen window: a
/// customer's reply then opens a linked ticket, an agent's answer needs `#reopen`.
fn closed_long_ago(cfg: &Config, closed_at: Option<UnixTime>, now: UnixTime) -> bool {
    closed_at.is_some_and(|c| now.saturating_sub(c) > cfg.routing.reopen_window.as_secs() as i64)
}
