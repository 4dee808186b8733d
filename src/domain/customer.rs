//! What we remember about a customer across tickets: their tickets, and the
//! acknowledgements of the last day (the per-sender cap of RFC 3834 §2's "don't loop").

use serde::{Deserialize, Serialize};

use super::{TicketId, UnixTime};

/// How long an acknowledgement counts against a sender's daily cap.
pub const ACK_MEMORY_SECONDS: i64 = 86_400;

/// One customer, keyed by their address without `+detail`: `alice+shop@` and `alice@`
/// share history and caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// Their tickets, oldest first.
    pub tickets: Vec<TicketId>,
    /// Times of acknowledgements sent to them (only the last day's are kept).
    pub acks: Vec<UnixTime>,
}

impl CustomerRecord {
    /// A new ticket of theirs, acknowledged or not; acknowledgements older than a day are
    /// forgotten.
    pub fn opened(&mut self, ticket: TicketId, acknowledged: bool, now: UnixTime) {
        self.tickets.push(ticket);
        self.acks
            .retain(|&t| t > now.saturating_sub(ACK_MEMORY_SECONDS));
        if acknowledged {
            self.acks.push(now);
        }
    }

    /// How many acknowledgements they got since `since`.
    pub fn acks_since(&self, since: UnixTime) -> usize {
        self.acks.iter().filter(|&&t| t >= since).count()
    }
}
