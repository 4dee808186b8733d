//! A ticket and its history: the conversation with one customer, owned by one agent.

use serde::{Deserialize, Serialize};

use super::{AgentEmail, EmailAddress, MailKind, OutgoingMail, SuppressReason, TicketId, UnixTime};

/// The address a forgotten ticket shows instead of the customer's.
pub const FORGOTTEN: &str = "forgotten@invalid";

/// A ticket's life state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketState {
    /// Waiting for or in conversation with an agent.
    Open,
    /// Done.
    Closed,
}

/// The direction of a message on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// From the customer (or an automated reply of theirs).
    Inbound,
    /// Our acknowledgement.
    Acknowledgement,
    /// An agent's own mail to the support address (kept out of the customer's thread).
    FromAgent,
    /// The customer's mail handed to the agent.
    AgentNotification,
    /// An agent's answer relayed to the customer.
    AgentReply,
    /// An agent's internal note (nothing sent).
    Note,
    /// A notice back to an agent.
    AgentNotice,
    /// An escalation to the team lead.
    Escalation,
    /// A note to ops (never part of a ticket).
    OpsAlert,
}

impl Direction {
    /// The history entry for a mail we send of this kind.
    pub fn of(kind: MailKind) -> Direction {
        match kind {
            MailKind::Acknowledgement => Direction::Acknowledgement,
            MailKind::AgentNotification => Direction::AgentNotification,
            MailKind::AgentReply => Direction::AgentReply,
            MailKind::AgentNotice => Direction::AgentNotice,
            MailKind::Escalation => Direction::Escalation,
            MailKind::OpsAlert => Direction::OpsAlert,
        }
    }
}

/// One message in a ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    /// When it was recorded.
    pub at: UnixTime,
    /// Which way it went.
    pub direction: Direction,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Its sender.
    pub from: Option<EmailAddress>,
    /// Its subject.
    pub subject: String,
    /// The inbound store sequence (raw bytes), for inbound mail.
    pub inbound_seq: Option<u64>,
    /// The outbox id, for mail we sent.
    pub outbox_id: Option<u64>,
    /// Set for inbound mail that was recorded without an acknowledgement.
    pub suppressed: Option<SuppressReason>,
    /// The text of an internal note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Its number.
    pub id: TicketId,
    /// The customer's address.
    pub customer: EmailAddress,
    /// The customer's display name, cleaned.
    pub customer_name: Option<String>,
    /// The subject of the first mail.
    pub subject: String,
    /// Open or closed.
    pub state: TicketState,
    /// The agent who owns it.
    pub agent: AgentEmail,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
    /// Its messages in order.
    pub messages: Vec<TicketMessage>,
    /// When an agent's answer first went out (time to first response).
    #[serde(default)]
    pub first_response_at: Option<UnixTime>,
    /// Message-ID of the first notification to the agent: later ones thread under it.
    #[serde(default)]
    pub notify_root: Option<String>,
    /// When it was closed (for the reopen window).
    #[serde(default)]
    pub closed_at: Option<UnixTime>,
    /// The closed ticket this one follows up on.
    #[serde(default)]
    pub linked_from: Option<TicketId>,
    /// When its missed first-response target was escalated (at most once).
    #[serde(default)]
    pub escalated_at: Option<UnixTime>,
    /// The routing pool it was assigned from (`team:billing`, `all` …), for reassignment.
    #[serde(default)]
    pub pool: Option<String>,
    /// The inbox address it came in at (our mail about it comes from there); `None`: the
    /// main support address (and tickets from before several inboxes existed).
    #[serde(default)]
    pub inbox: Option<EmailAddress>,
    /// When the customer's data was erased (`customer forget`): the ticket is a tombstone
    /// that keeps only its number, agent, state and timestamps.
    #[serde(default)]
    pub forgotten_at: Option<UnixTime>,
}

impl Ticket {
    /// The Message-ID of the customer's most recent mail, to thread answers on.
    pub fn last_customer_message_id(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .filter(|m| {
                m.direction == Direction::Inbound
                    && m.from.as_ref() == Some(&self.customer)
                    && m.suppressed.is_none_or(|r| !r.is_automated())
            })
            .find_map(|m| m.message_id.as_deref())
    }

    /// Every Message-ID of the conversation with the customer, oldest first.
    pub fn thread_ids(&self) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|m| {
                matches!(
                    m.direction,
                    Direction::Inbound | Direction::Acknowledgement | Direction::AgentReply
                )
            })
            .filter_map(|m| m.message_id.as_deref())
            .collect()
    }
}

/// A row of `tickets list`.
#[derive(Debug, Clone, Serialize)]
pub struct TicketSummary {
    /// Number.
    pub id: TicketId,
    /// State.
    pub state: TicketState,
    /// Customer address.
    pub customer: EmailAddress,
    /// Agent address.
    pub agent: AgentEmail,
    /// Subject.
    pub subject: String,
    /// Messages on it.
    pub messages: usize,
    /// Last change.
    pub updated_at: UnixTime,
}

/// An operator's (or the SLA loop's) change to a ticket, for [`Store::record_ops`].
#[derive(Debug, Clone)]
pub struct TicketChange<'a> {
    /// New state, if any.
    pub state: Option<TicketState>,
    /// New owner, if any.
    pub reassign: Option<AgentEmail>,
    /// Mail to queue (the new owner's notification).
    pub outgoing: &'a [OutgoingMail],
    /// The history note.
    pub note: &'a str,
    /// Apply only if the ticket is still open and unanswered.
    pub only_if_unanswered: bool,
}
