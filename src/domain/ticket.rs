//! A ticket and its history: the conversation with one customer, owned by one agent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AgentEmail, EmailAddress, MailKind, OutgoingMail, Rating, SuppressReason, TicketId,
    TicketStamp, UnixTime,
};

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
    /// A participant was added (`from` is who; `note` says by whom).
    ParticipantAdded,
    /// A participant was dropped (`from` is who; `note` says by whom).
    ParticipantDropped,
    /// The new agent's note to the customer that the ticket changed hands.
    Handover,
    /// The customer's closing mail.
    Closing,
    /// The one reminder to a customer the ticket waited on.
    Reminder,
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
            MailKind::Handover => Direction::Handover,
            MailKind::Closing => Direction::Closing,
            MailKind::Reminder => Direction::Reminder,
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
    /// The customer's wait for that first answer in the answering agent's working time, in
    /// seconds (`None` for tickets answered before it was recorded).
    #[serde(default)]
    pub first_response_working: Option<u64>,
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
    /// Besides the customer, the people copied on the conversation (their own replies join
    /// it); at most [`super::MAX_PARTICIPANTS`], none of our or the agents' addresses.
    #[serde(default)]
    pub participants: Vec<EmailAddress>,
    /// When the customer was reminded (or the reminder withheld) while the ticket waited on
    /// them: one reminder per wait, then the auto-close counts from here.
    #[serde(default)]
    pub reminded_at: Option<UnixTime>,
    /// The customer's rating, by reply to the closing mail (the latest one counts).
    #[serde(default)]
    pub rating: Option<Rating>,
    /// The language its mail to the customer is written in (`de`: the `templates/de/` set),
    /// chosen when it opened (`lang::choose_language`); `None` for tickets from before
    /// languages existed, which read English.
    #[serde(default)]
    pub language: Option<String>,
}

impl Ticket {
    /// Its number and opening time, which every id we generate for it is bound to.
    pub fn stamp(&self) -> TicketStamp {
        TicketStamp {
            id: self.id,
            opened: self.created_at,
        }
    }

    /// The language its mail to the customer is written in: the one chosen when it opened,
    /// English for tickets from before languages were chosen.
    pub fn language(&self) -> &str {
        self.language.as_deref().unwrap_or("en")
    }

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

    /// Whether the ticket holds a mail with this Message-ID from `sender` (`+detail` aside on
    /// both sides): a mail with that id and sender is another delivery of it. The sender
    /// must match because anyone can copy a Message-ID.
    pub fn holds(&self, message_id: &str, sender: &EmailAddress) -> bool {
        let sender = sender.without_detail();
        self.messages.iter().any(|m| {
            m.direction == Direction::Inbound
                && m.message_id.as_deref() == Some(message_id)
                && m.from
                    .as_ref()
                    .is_some_and(|f| f.without_detail() == sender)
        })
    }

    /// Every Message-ID of the conversation with the customer, oldest first.
    pub fn thread_ids(&self) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|m| {
                matches!(
                    m.direction,
                    Direction::Inbound
                        | Direction::Acknowledgement
                        | Direction::AgentReply
                        | Direction::Closing
                        | Direction::Reminder
                        | Direction::Handover
                )
            })
            .filter_map(|m| m.message_id.as_deref())
            .collect()
    }

    /// How many notifications about this ticket went to its agent within `window` before
    /// `now` (a flood stops notifying after a few).
    pub fn notifications_within(&self, now: UnixTime, window: Duration) -> usize {
        let since = now - window.as_secs() as i64;
        self.messages
            .iter()
            .filter(|m| m.direction == Direction::AgentNotification && m.at >= since)
            .count()
    }

    /// The follow-ups recorded without a notification during a flood and not yet summarised
    /// to the agent: those after the last notification or notice. Summarised once the
    /// sender has been quiet for `quiet`; empty until then.
    pub fn unsummarised_flood(&self, now: UnixTime, quiet: Duration) -> Vec<&TicketMessage> {
        let last_told = self
            .messages
            .iter()
            .rposition(|m| {
                matches!(
                    m.direction,
                    Direction::AgentNotification | Direction::AgentNotice
                )
            })
            .map_or(0, |i| i + 1);
        let pending: Vec<&TicketMessage> = self.messages[last_told..]
            .iter()
            .filter(|m| m.suppressed == Some(SuppressReason::Flood))
            .collect();
        match pending.last() {
            Some(newest) if now - newest.at >= quiet.as_secs() as i64 => pending,
            _ => Vec::new(),
        }
    }

    /// Whether the last thing on the ticket is a follow-up a flood recorded without a
    /// notification (so a summary may still be owed once the sender is quiet).
    pub fn ends_in_flood(&self) -> bool {
        self.messages
            .last()
            .is_some_and(|m| m.suppressed == Some(SuppressReason::Flood))
    }

    /// Whether no agent has answered yet and the ticket is still open: the SLA clock runs.
    pub fn unanswered(&self) -> bool {
        self.state == TicketState::Open && self.first_response_at.is_none()
    }

    /// Whether a returning customer's new acknowledgement may remind them of this ticket:
    /// `agent`, who takes the new one, answered on it, it was not forgotten, and it changed
    /// within `window` of `now`.
    pub fn remembered_by(&self, agent: &AgentEmail, now: UnixTime, window: Duration) -> bool {
        let recent = now.saturating_sub(self.updated_at) <= window.as_secs() as i64;
        !window.is_zero()
            && recent
            && &self.agent == agent
            && self.first_response_at.is_some()
            && self.forgotten_at.is_none()
    }

    /// Whether a missed first-response target may still be escalated (at most once).
    pub fn may_escalate(&self) -> bool {
        self.unanswered() && self.escalated_at.is_none()
    }

    /// Appends a message to the history.
    pub fn append(&mut self, message: TicketMessage, now: UnixTime) {
        self.messages.push(message);
        self.updated_at = now;
    }

    /// Changes state and owner, keeping `closed_at` right; a new owner's notification starts
    /// their own thread. Returns the open-ticket counters the change moves.
    pub fn change(
        &mut self,
        state: Option<TicketState>,
        reassign: Option<&AgentEmail>,
        now: UnixTime,
    ) -> OpenCounts {
        let (was_open, old_agent) = (self.state == TicketState::Open, self.agent.clone());
        if let Some(state) = state {
            self.state = state;
        }
        if let Some(agent) = reassign {
            self.agent = agent.clone();
            self.notify_root = None;
        }
        self.closed_at = match (was_open, self.state) {
            (true, TicketState::Closed) => Some(now),
            (_, TicketState::Open) => None,
            (false, TicketState::Closed) => self.closed_at,
        };
        OpenCounts {
            down: was_open.then_some(old_agent),
            up: (self.state == TicketState::Open).then(|| self.agent.clone()),
        }
    }

    /// Erases the customer from the ticket (`customer forget`): it becomes a closed
    /// tombstone that keeps only its number, agent, state and timestamps. Returns the
    /// open-ticket counters the closing moves.
    pub fn forget(&mut self, now: UnixTime) -> OpenCounts {
        let counts = self.change(Some(TicketState::Closed), None, now);
        self.customer = EmailAddress::parse(FORGOTTEN).unwrap_or(self.customer.clone());
        self.customer_name = None;
        self.subject = String::new();
        self.language = None;
        self.participants.clear();
        // The customer's own words in a rating's comment go too; the score stays a number.
        if let Some(rating) = &mut self.rating {
            rating.comment = String::new();
        }
        for m in &mut self.messages {
            m.message_id = None;
            m.subject = String::new();
            m.note = None;
            m.inbound_seq = None;
            if matches!(
                m.direction,
                Direction::Inbound | Direction::ParticipantAdded | Direction::ParticipantDropped
            ) {
                m.from = None;
            }
        }
        self.forgotten_at = Some(now);
        counts
    }

    /// Records a mail we queued about this ticket as outbox entry `outbox_id`: a history
    /// entry; the first notification becomes the agent's thread root. Returns `true` when it
    /// is the agent's first answer (time to first response starts and ends here).
    pub fn record_sent(&mut self, mail: &OutgoingMail, outbox_id: u64, now: UnixTime) -> bool {
        if mail.kind == MailKind::AgentNotification && self.notify_root.is_none() {
            self.notify_root = Some(mail.message_id.clone());
        }
        self.messages.push(TicketMessage {
            at: now,
            direction: Direction::of(mail.kind),
            message_id: Some(mail.message_id.clone()),
            from: None,
            subject: String::new(),
            inbound_seq: None,
            outbox_id: Some(outbox_id),
            suppressed: None,
            note: None,
        });
        let first = mail.kind == MailKind::AgentReply && self.first_response_at.is_none();
        if first {
            self.first_response_at = Some(now);
        }
        first
    }
}

/// The open-ticket counters one change moves: one down for the agent who had the ticket
/// open, one up for the agent who has it open now (the same agent cancels out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenCounts {
    /// Had it open before.
    pub down: Option<AgentEmail>,
    /// Has it open now.
    pub up: Option<AgentEmail>,
}

impl TicketMessage {
    /// A history note (an operator's change, a flood summary sent), with nothing sent.
    pub fn note(at: UnixTime, text: &str) -> TicketMessage {
        TicketMessage {
            at,
            direction: Direction::Note,
            message_id: None,
            from: None,
            subject: String::new(),
            inbound_seq: None,
            outbox_id: None,
            suppressed: None,
            note: Some(text.to_string()),
        }
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

/// An operator's (or the SLA loop's) change to a ticket, committed as one.
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
    /// Apply only if the ticket was last changed at this time (nothing arrived since it
    /// was read): the reminder loop's guard against a customer's reply meanwhile.
    pub only_if_updated_at: Option<UnixTime>,
    /// Record the reminder of the customer (sent or withheld) at the change's time.
    pub reminded: bool,
}

/// A ticket that has missed its first-response target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// Who is told.
    pub lead: EmailAddress,
    /// The target it missed.
    pub target: Duration,
    /// Working time it has waited.
    pub waited: Duration,
}
