//! Mail waiting to be sent, and mail the outbox gave up on.

use serde::{Deserialize, Serialize};

use super::{EmailAddress, MailKind, OutgoingMail, TicketId, UnixTime};

/// An outgoing mail waiting in the outbox (its bytes are kept beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Outbox id (the key).
    pub id: u64,
    /// What it is.
    pub kind: MailKind,
    /// The ticket it belongs to.
    pub ticket: Option<TicketId>,
    /// Its Message-ID.
    pub message_id: String,
    /// `MAIL FROM`, `None` for the null sender.
    pub envelope_from: Option<EmailAddress>,
    /// `RCPT TO`.
    pub recipients: Vec<EmailAddress>,
    /// The inbox whose SMTP account sends it (`Config::smtp_for`); `None` for `[smtp]`, as
    /// for every entry an older build queued (they went through `[smtp]`).
    #[serde(default)]
    pub inbox: Option<EmailAddress>,
    /// When it was queued.
    pub created_at: UnixTime,
    /// When the incoming mail it answers was stored (for latency figures).
    pub cause_stored_at: Option<UnixTime>,
    /// Attempts made so far (counted before each attempt).
    pub attempts: u32,
    /// Not before this time.
    pub next_attempt_at: UnixTime,
    /// The last failure, with the server's text.
    pub last_error: Option<String>,
}

impl OutboxEntry {
    /// The entry for `mail`, queued now as outbox id `id`, due at once. `cause` is when the
    /// incoming mail it answers was stored (for latency figures).
    pub fn queued(
        id: u64,
        mail: &OutgoingMail,
        ticket: Option<TicketId>,
        now: UnixTime,
        cause: Option<UnixTime>,
    ) -> OutboxEntry {
        OutboxEntry {
            id,
            kind: mail.kind,
            ticket,
            message_id: mail.message_id.clone(),
            envelope_from: mail.envelope_from.clone(),
            recipients: mail.recipients.clone(),
            inbox: Some(mail.inbox.clone()),
            created_at: now,
            cause_stored_at: cause,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        }
    }
}

/// A mail the outbox gave up on, kept for `outbox list` and `outbox retry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The entry as it was.
    pub entry: OutboxEntry,
    /// Why it died (the server's answer).
    pub error: String,
    /// When.
    pub at: UnixTime,
}
