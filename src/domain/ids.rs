//! Identities and time: ticket numbers, addresses, agents' addresses, timestamps.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The human ticket number a customer sees in `[Acme Support #1042]`. Numbers start at
/// [`TicketId::FIRST`] and are never reused, even after a ticket is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(u64);

impl TicketId {
    /// The first number handed out in a fresh store: four digits look like a real queue.
    pub const FIRST: TicketId = TicketId(1001);

    /// Wraps a number read from the store or typed by an operator.
    pub fn new(n: u64) -> Self {
        TicketId(n)
    }

    /// The plain number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The number after this one.
    pub fn next(self) -> Self {
        TicketId(self.0 + 1)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TicketId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().trim_start_matches('#').parse().map(TicketId)
    }
}

/// A ticket as the ids we generate for it name it: its number and the moment it opened.
/// The number alone repeats after a lost store or a restore from an older backup (numbers
/// restart from what the store remembers); with the opening time, a ticket that gets an old
/// number again never gets the ids of the ticket that had it before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketStamp {
    /// The ticket's number.
    pub id: TicketId,
    /// When it was opened (`Ticket::created_at`).
    pub opened: UnixTime,
}

/// An e-mail address normalised for comparison and lookup: trimmed, the domain lowercased
/// (RFC 5321 §2.4 makes local parts case-sensitive in theory; in practice every provider
/// folds them, so we fold the whole address to recognise a customer who writes "Alice@").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Validates `raw` with lettre's address parser (which refuses control characters,
    /// spaces and other header-breaking input) and normalises it.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim().trim_start_matches('<').trim_end_matches('>');
        let addr: lettre::Address = trimmed.parse().ok()?;
        Some(EmailAddress(addr.to_string().to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or(self.0.as_str(), |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    /// The address without a `+detail` (RFC 5233), so `support+x@d` compares as `support@d`.
    pub fn without_detail(&self) -> EmailAddress {
        let local = self.local_part();
        let base = local.split_once('+').map_or(local, |(b, _)| b);
        EmailAddress(format!("{base}@{}", self.domain()))
    }

    /// The lettre form for building an envelope or a header. The address was validated by
    /// lettre in [`EmailAddress::parse`], so this cannot fail for values built that way.
    pub fn to_lettre(&self) -> Option<lettre::Address> {
        self.0.parse().ok()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The configured address of an agent: the key of their queue and the binding of their tokens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentEmail(EmailAddress);

impl AgentEmail {
    /// Wraps a validated address.
    pub fn new(address: EmailAddress) -> Self {
        AgentEmail(address)
    }

    /// The address.
    pub fn address(&self) -> &EmailAddress {
        &self.0
    }
}

impl fmt::Display for AgentEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A short, stable, non-reversible tag for a Message-ID, for log lines: it lets ops follow
/// one mail through the logs without writing customer data into the journal.
pub fn message_id_hash(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Seconds since the Unix epoch; the store keeps every timestamp in this form.
pub type UnixTime = i64;

/// The current wall-clock time as [`UnixTime`]. Pure code takes `now` as a parameter instead.
pub fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_address_normalises_and_rejects_header_injection() {
        let a = EmailAddress::parse(" <Alice@Customer.TEST> ").expect("valid");
        assert_eq!(a.as_str(), "alice@customer.test");
        assert_eq!(a.local_part(), "alice");
        assert_eq!(a.domain(), "customer.test");
        assert!(EmailAddress::parse("alice@customer.test\r\nBcc: x@y.z").is_none());
        assert!(EmailAddress::parse("<<@@@").is_none());
        assert!(EmailAddress::parse("").is_none());
    }

    #[test]
    fn detail_is_removed_for_comparison() {
        let a = EmailAddress::parse("support+1042.k7q2@example.test").expect("valid");
        assert_eq!(a.without_detail().as_str(), "support@example.test");
    }

    #[test]
    fn ticket_id_parses_with_hash_and_displays_plain() {
        assert_eq!(
            "#1042".parse::<TicketId>().expect("parse"),
            TicketId::new(1042)
        );
        assert_eq!(TicketId::FIRST.next().to_string(), "1002");
    }

    #[test]
    fn message_id_hash_is_short_and_stable() {
        let h = message_id_hash("<abc@customer.test>");
        assert_eq!(h.len(), 12);
        assert_eq!(h, message_id_hash("<abc@customer.test>"));
        assert_ne!(h, message_id_hash("<abd@customer.test>"));
    }
}
