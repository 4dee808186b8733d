//! The last guard before an agent's answer is relayed: no part of what would go to the
//! customer (the text, the HTML, every attachment and inline image) may carry a copy of our
//! notification, in whatever encoding (`relay::Fingerprints`), and an attached message that is
//! one of our notifications is refused, not silently left out, so the agent learns why.

use super::{Ctx, State};
use crate::compose::NotificationPrint;
use crate::domain::{Direction, Refusal, RefusalKind, Ticket};
use crate::mail::parse::{self, Attachment};
use crate::mail::relay::{self, FingerprintError, Fingerprints, Notifications};

/// The fingerprints of `ticket`'s notifications: their anchor lines (`print`), its reply address, the reply token of every
/// configured agent (whoever had it, their copy is as internal), the Message-IDs of the mails
/// its agents got, and our domains.
pub(super) fn fingerprints<S: State>(
    ctx: &Ctx<'_, S>,
    ticket: &Ticket,
    print: &NotificationPrint,
) -> Result<Fingerprints, FingerprintError> {
    let cfg = ctx.cfg;
    let key = relay::ticket_key(cfg.token_key(), ticket.created_at);
    let tokens = cfg
        .agents
        .iter()
        .map(|a| relay::mint(&key, ticket.id, &a.email))
        .collect();
    let internal = ticket.messages.iter().filter(|m| {
        matches!(
            m.direction,
            Direction::AgentNotification | Direction::AgentNotice | Direction::Escalation
        )
    });
    let message_ids = internal
        .filter_map(|m| m.message_id.clone())
        .chain(ticket.notify_root.clone())
        .collect();
    let mut domains: Vec<String> = Vec::new();
    for a in cfg.own_addresses() {
        if !domains.iter().any(|d| d == a.domain()) {
            domains.push(a.domain().to_string());
        }
    }
    Fingerprints::new(&Notifications {
        ticket: ticket.id,
        anchors: print.anchors().to_vec(),
        local_part: cfg.service.address.local_part(),
        tokens,
        message_ids,
        domains,
    })
}

/// Why the answer may not go, if a copy of the notification is in it: in the text that
/// would go (`body`), in a part that would go along (`relayed`: attachments and inline
/// images), or in a message attached to the answer (never relayed, but the agent meant it
/// to go and must hear why it does not).
pub(super) fn leaked<S: State>(
    ctx: &Ctx<'_, S>,
    fingerprints: &Fingerprints,
    body: &str,
    relayed: &[&[Attachment<'_>]],
) -> Option<Refusal> {
    if let Some(trace) = fingerprints.in_bytes(body.as_bytes()) {
        return Some(Refusal::new(
            RefusalKind::QuoteNotSeparated,
            format!(
                "the quoted notification could not be separated from your answer ({trace}); nothing was sent: reply above the quote and leave the notification out"
            ),
        ));
    }
    let attached = parse::attached_messages(ctx.mime);
    let relayed = relayed.iter().flat_map(|r| r.iter().cloned());
    relayed.chain(attached).find_map(|a| {
        let trace = fingerprints.in_part(&a.data)?;
        Some(Refusal::new(
            RefusalKind::NotificationAttached,
            format!(
                "the attachment \"{}\" is a copy of the notification ({trace}); nothing was sent: send your answer again without it",
                a.name
            ),
        ))
    })
}
