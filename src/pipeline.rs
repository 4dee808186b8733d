//! One stored mail → one [`Plan`] → one committed [`Outcome`]. [`decide`] is the whole pure
//! pipeline (parse, classify, thread, route, compose) behind a small [`State`] trait, so unit
//! tests and fuzzers reach it without sled; [`Processor`] is the thin shell that reads the
//! mail from the store and commits the plan in one transaction.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{info, warn};

use crate::classify::{Classified, Identity, SuppressReason, classify};
use crate::compose::{AckInput, Templates, acknowledgement};
use crate::config::Config;
use crate::parse::{ParsedMail, parse};
use crate::route;
use crate::store::{
    Direction, Outcome, Plan, Store, StoreError, Ticket, TicketMessage, TicketState,
};
use crate::thread::{ThreadLookup, Threading, thread};
use crate::types::{EmailAddress, TicketId, UnixTime, message_id_hash};

/// What [`decide`] needs to read from the store.
pub trait State: ThreadLookup {
    /// The number the next new ticket gets.
    fn next_ticket(&self) -> Result<TicketId, StoreError>;
    /// How many tickets a round-robin pool has had.
    fn pool_counter(&self, pool_key: &str) -> Result<u64, StoreError>;
    /// Acknowledgements sent to `customer` since `since`.
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, StoreError>;
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
}

/// The decision for one mail, with its Message-ID for the index.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The mail's Message-ID, if it had one.
    pub message_id: Option<String>,
    /// What to commit.
    pub plan: Plan,
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
    }
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
    let sender = mail.from.as_ref().map(|f| &f.address);
    let threading = thread(
        sender,
        &mail.subject,
        &mail.in_reply_to,
        &mail.references,
        &cfg.service.name,
        state,
    );
    let message_id = mail.message_id.clone();

    let plan = match (threading, class) {
        (Threading::Join { ticket, via }, class) => {
            let reason = match class {
                Classified::Suppress(r) => r,
                Classified::Acknowledge => SuppressReason::FollowUp,
            };
            Plan::Join {
                ticket,
                via,
                message: inbound_message(&mail, seq, now, Some(reason)),
                reason,
            }
        }
        (Threading::New { .. }, Classified::Suppress(reason)) => Plan::Suppress(reason),
        (Threading::New { untrusted_tag }, Classified::Acknowledge) => {
            let Some(customer) = mail.from.clone() else {
                return Ok(quarantine(
                    message_id,
                    format!(
                        "no valid sender address in From ({})",
                        mail.from_raw.as_deref().unwrap_or("missing")
                    ),
                ));
            };
            if let Some(tag) = untrusted_tag {
                info!(ticket_tag = %tag, "subject carries another customer's ticket tag: opening a new ticket");
            }
            let pool = route::plan(&cfg.routes, &cfg.agents, &mail.recipients);
            let counter = state.pool_counter(&pool.key)?;
            let Some(agent) = pool.pick(counter).and_then(|e| cfg.agent(e)) else {
                return Ok(quarantine(
                    message_id,
                    "no agent is configured to take the ticket".into(),
                ));
            };
            let id = state.next_ticket()?;
            let ack = if !cfg.ack.enabled {
                Err(SuppressReason::AcknowledgementsDisabled)
            } else if state.acks_since(&customer.address, now - 86_400)?
                >= cfg.ack.per_sender_per_day as usize
            {
                Err(SuppressReason::RateLimited)
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
                    inbound_seq: seq,
                    date,
                };
                match acknowledgement(templates, &input) {
                    Ok(out) => Ok(out),
                    Err(e) => {
                        return Ok(quarantine(
                            message_id,
                            format!("acknowledgement could not be composed: {e}"),
                        ));
                    }
                }
            };
            let first = inbound_message(&mail, seq, now, ack.as_ref().err().copied());
            Plan::NewTicket {
                ticket: Ticket {
                    id,
                    customer: customer.address.clone(),
                    customer_name: customer.name.clone(),
                    subject: mail.subject.clone(),
                    state: TicketState::Open,
                    agent: agent.email.clone(),
                    created_at: now,
                    updated_at: now,
                    messages: vec![first],
                },
                pool_key: pool.key,
                ack,
            }
        }
    };
    Ok(Decision { message_id, plan })
}

/// Processes stored mail: reads it, decides, commits. Shared by every inbox loop.
pub struct Processor {
    store: Store,
    cfg: Arc<Config>,
    templates: Arc<Templates>,
}

impl Processor {
    /// A processor over `store` with this configuration and these templates.
    pub fn new(store: Store, cfg: Arc<Config>, templates: Arc<Templates>) -> Self {
        Processor {
            store,
            cfg,
            templates,
        }
    }

    /// Processes stored mail `seq` and commits its outcome (not yet flushed: the caller
    /// flushes once per batch). Idempotent: a mail already processed keeps its outcome.
    pub fn process(&self, seq: u64) -> Result<Option<Outcome>, StoreError> {
        for _ in 0..3 {
            let Some(record) = self.store.inbound(seq)? else {
                return Ok(None);
            };
            if let Some(outcome) = record.outcome {
                return Ok(Some(outcome));
            }
            let raw = self.store.raw(seq)?.unwrap_or_default();
            let now = crate::types::now();
            let decision = decide(
                &raw,
                seq,
                &self.cfg,
                &self.templates,
                &self.store,
                now,
                SystemTime::now(),
            )?;
            match self.store.record_outcome(
                seq,
                decision.message_id.as_deref(),
                &decision.plan,
                now,
            ) {
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
                Ok(outcome) => {
                    log_outcome(
                        &record.mailbox,
                        record.uid,
                        decision.message_id.as_deref(),
                        &outcome,
                    );
                    return Ok(Some(outcome));
                }
            }
        }
        Err(StoreError::Conflict)
    }
}

fn log_outcome(mailbox: &str, uid: u32, message_id: Option<&str>, outcome: &Outcome) {
    let mid = message_id.map(message_id_hash).unwrap_or_default();
    match outcome {
        Outcome::NewTicket {
            ticket,
            not_acknowledged,
        } => info!(
            event = "mail.processed",
            outcome = "new-ticket",
            %ticket,
            mid,
            mailbox,
            uid,
            reason = not_acknowledged.map(|r| r.as_str()).unwrap_or(""),
            "new ticket"
        ),
        Outcome::Joined {
            ticket,
            via,
            reason,
        } => info!(
            event = "mail.processed",
            outcome = "joined",
            %ticket,
            mid,
            mailbox,
            uid,
            via = ?via,
            reason = reason.as_str(),
            "mail joined its ticket"
        ),
        Outcome::Suppressed { reason } => info!(
            event = "mail.processed",
            outcome = "suppressed",
            mid,
            mailbox,
            uid,
            reason = reason.as_str(),
            "automated mail suppressed"
        ),
        Outcome::Quarantined { reason } => warn!(
            event = "mail.processed",
            outcome = "quarantined",
            mid,
            mailbox,
            uid,
            reason = reason.as_str(),
            "mail quarantined"
        ),
    }
}
