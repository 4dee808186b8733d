//! Reply tokens: an HMAC-SHA256 over the ticket number and the agent's address, keyed with
//! `service.token_secret_file`, truncated to 50 bits and written in lowercase base32
//! (`support+1042.k7q2m9d4xa@example.com`); recognising them among a mail's recipients or in
//! its subject; and our authenticated Message-IDs.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{AgentEmail, EmailAddress, MessageIdKind, TicketId, TicketStamp, UnixTime};

/// Characters of base32 in a token (10 × 5 = 50 bits).
pub(super) const TOKEN_CHARS: usize = 10;

fn mac(secret: &[u8], ticket: TicketId, agent: &AgentEmail) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-reply-token-v1\n");
    m.update(ticket.to_string().as_bytes());
    m.update(b"\n");
    m.update(agent.address().as_str().as_bytes());
    m
}

/// Tickets opened from this moment (2026-11-25T00:00:00Z) on have reply tokens bound to their
/// opening time too, so a ticket number handed out again (after a lost store, or a restore
/// from an older backup) never accepts the tokens of the ticket that had it before.
/// Tickets opened earlier keep the tokens agents already hold.
pub const TOKENS_BOUND_SINCE: UnixTime = 1_795_564_800;

/// The key that mints and checks the reply tokens of a ticket opened at `opened`.
pub fn ticket_key(secret: &[u8], opened: UnixTime) -> Vec<u8> {
    if opened < TOKENS_BOUND_SINCE {
        return secret.to_vec();
    }
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-ticket-key-v1\n");
    m.update(opened.to_string().as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The token for `agent` on `ticket`.
pub fn mint(secret: &[u8], ticket: TicketId, agent: &AgentEmail) -> String {
    let tag = mac(secret, ticket, agent).finalize().into_bytes();
    let mut text = BASE32_NOPAD.encode(&tag[..8]).to_ascii_lowercase();
    text.truncate(TOKEN_CHARS);
    text
}

/// Whether `token` is the one issued to `agent` for `ticket` (constant-time comparison).
pub fn verify(secret: &[u8], ticket: TicketId, agent: &AgentEmail, token: &str) -> bool {
    let expected = mint(secret, ticket, agent);
    if token.len() != expected.len() {
        return false;
    }
    // Compare every byte regardless of where the first difference is.
    expected
        .bytes()
        .zip(token.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
        == 0
}

/// An unguessable but deterministic Message-ID for a mail we send: `kind`, the ticket (its
/// number and opening time) and the store sequence of the mail that caused it, authenticated
/// with the token key. Deterministic, so a re-send after a crash carries the same id;
/// unguessable, so nobody can claim a seat in a thread by naming a neighbouring id in
/// References; bound to the opening time, so a ticket number handed out again after a lost
/// store or an older restore (with the sequence restarting too) never repeats an id that the
/// ticket which had the number before sent to its customer (`v1` ids, made of number and
/// sequence alone, did).
pub fn message_id(
    secret: &[u8],
    kind: MessageIdKind,
    ticket: TicketStamp,
    seq: u64,
    domain: &str,
) -> String {
    let kind = kind.as_str();
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-message-id-v2\n");
    m.update(format!("{kind}\n{}\n{}\n{seq}", ticket.id, ticket.opened).as_bytes());
    let ticket = ticket.id;
    let tag = m.finalize().into_bytes();
    let mut code = BASE32_NOPAD.encode(&tag[..10]).to_ascii_lowercase();
    code.truncate(16);
    format!("<{kind}.{ticket}.{code}@{domain}>")
}

/// The Reply-To address that routes an agent's answer back to us: `local+N.token@domain`.
pub fn reply_address(service: &EmailAddress, ticket: TicketId, token: &str) -> String {
    format!(
        "{}+{}.{}@{}",
        service.local_part(),
        ticket,
        token,
        service.domain()
    )
}

/// A ticket number and token found in one of our plus-addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAddress {
    /// The ticket the token names.
    pub ticket: TicketId,
    /// The token text as found (not yet verified).
    pub token: String,
}

/// Finds the first recipient of the form `<service local>+N.token@<service domain>`.
pub fn find_token_address(
    recipients: &[EmailAddress],
    service: &EmailAddress,
) -> Option<TokenAddress> {
    recipients.iter().find_map(|r| {
        if r.domain() != service.domain() {
            return None;
        }
        let (base, detail) = r.local_part().split_once('+')?;
        if base != service.local_part() {
            return None;
        }
        let (n, token) = detail.split_once('.')?;
        let ticket = n.parse::<u64>().ok()?;
        (!token.is_empty() && token.len() <= 64).then(|| TokenAddress {
            ticket: TicketId::new(ticket),
            token: token.to_string(),
        })
    })
}

/// The token as it travels in a subject, for servers without plus addressing:
/// `{ref:1042.k7q2m9d4xa}`.
pub fn subject_marker(ticket: TicketId, token: &str) -> String {
    format!("{{ref:{ticket}.{token}}}")
}

/// The first `{ref:N.token}` marker in a subject.
pub fn find_subject_token(subject: &str) -> Option<TokenAddress> {
    let start = subject.find("{ref:")? + 5;
    let rest = subject.get(start..)?;
    let inner = &rest[..rest.find('}')?];
    let (n, token) = inner.split_once('.')?;
    let ticket = n.parse::<u64>().ok()?;
    (!token.is_empty() && token.len() <= 64 && token.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| TokenAddress {
            ticket: TicketId::new(ticket),
            token: token.to_string(),
        })
}

/// Every distinct ticket among our token addresses in the recipients.
pub fn find_token_addresses(
    recipients: &[EmailAddress],
    service: &EmailAddress,
) -> Vec<TokenAddress> {
    let mut found: Vec<TokenAddress> = Vec::new();
    for r in recipients {
        if let Some(t) = find_token_address(std::slice::from_ref(r), service)
            && !found.iter().any(|f| f.ticket == t.ticket)
        {
            found.push(t);
        }
    }
    found
}
