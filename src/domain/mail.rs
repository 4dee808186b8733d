//! Mail we send: its kind and its composed bytes.

use serde::{Deserialize, Serialize};

use super::EmailAddress;

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
    /// The complete RFC 5322 message.
    pub raw: Vec<u8>,
}
