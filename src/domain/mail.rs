//! Mail we send: its kind and its composed bytes.

use serde::{Deserialize, Serialize};

use super::{EmailAddress, TicketId};

/// What kind of mail an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailKind {
    /// The automatic acknowledgement of a new ticket.
    Acknowledgement,
    /// A customer's mail handed to the ticket's agent.
    AgentNotification,
    /// An agent's answer relayed to the customer.
    AgentReply,
    /// A short explanation back to an agent (a command that could not be honoured).
    AgentNotice,
    /// A missed first-response target, to the team lead.
    Escalation,
    /// A note to ops about the daemon itself (an inbox that keeps failing, or recovered).
    OpsAlert,
    /// The new agent's short note to the customer that their ticket changed hands.
    Handover,
    /// The customer's personal closing mail, which invites a rating (automatic).
    Closing,
    /// The one reminder to a customer a ticket waits on (automatic).
    Reminder,
}

/// A composed mail ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// What it is.
    pub kind: MailKind,
    /// Its Message-ID, with angle brackets; deterministic so a re-send after a crash is
    /// recognisable as the same mail.
    pub message_id: String,
    /// `MAIL FROM`; `None` sends the null sender `<>` (RFC 3834 §3.3 for automatic replies).
    pub envelope_from: Option<EmailAddress>,
    /// `RCPT TO`.
    pub recipients: Vec<EmailAddress>,
    /// The inbox it is sent from (its From address): that inbox's SMTP account carries it.
    pub inbox: EmailAddress,
    /// The complete RFC 5322 message.
    pub raw: Vec<u8>,
}

/// The kinds of Message-ID we mint, `<KIND.TICKET.CODE@domain>`: the kind is part of the
/// authenticated id, and tells a returned id's origin (a bounce of an agent's answer …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageIdKind {
    /// An acknowledgement.
    Ack,
    /// A notification to an agent.
    Notify,
    /// A notice back to an agent.
    Notice,
    /// An agent's answer relayed to the customer.
    Reply,
    /// An escalation to a team lead.
    Escalation,
    /// The customer's note that their ticket changed hands.
    Handover,
    /// The customer's closing mail.
    Closing,
    /// The reminder to a customer.
    Reminder,
}

impl MessageIdKind {
    /// The kind's word in the id (and in the HMAC that authenticates it).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageIdKind::Ack => "ack",
            MessageIdKind::Notify => "notify",
            MessageIdKind::Notice => "notice",
            MessageIdKind::Reply => "reply",
            MessageIdKind::Escalation => "escalation",
            MessageIdKind::Handover => "handover",
            MessageIdKind::Closing => "closing",
            MessageIdKind::Reminder => "reminder",
        }
    }

    /// The ticket a Message-ID of ours names (`<KIND.TICKET.CODE@domain>`), whether or not
    /// it is authentic: the store resolves our ids from it instead of indexing them, and
    /// accepts one only if that ticket's history holds it.
    pub fn ticket_of(message_id: &str) -> Option<TicketId> {
        MessageIdKind::of(message_id)?;
        let rest = message_id.trim_start_matches('<').split_once('.')?.1;
        let (number, code) = rest.split_once('.')?;
        if number.is_empty() || number.len() > 19 || !code.contains('@') {
            return None;
        }
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        number.parse().ok().map(TicketId::new)
    }

    /// The kind a Message-ID of ours names (whether it is authentic is not checked here).
    pub fn of(message_id: &str) -> Option<MessageIdKind> {
        let (kind, _) = message_id.trim_start_matches('<').split_once('.')?;
        [
            MessageIdKind::Ack,
            MessageIdKind::Notify,
            MessageIdKind::Notice,
            MessageIdKind::Reply,
            MessageIdKind::Escalation,
            MessageIdKind::Handover,
            MessageIdKind::Closing,
            MessageIdKind::Reminder,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }
}
