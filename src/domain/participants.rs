//! The people besides the customer who are on a ticket: colleagues the customer copied, or
//! whom an agent added with `#cc add`. They are copied on what goes to the customer, and
//! their replies join the ticket.

use serde::{Deserialize, Serialize};

use super::{Direction, EmailAddress, Ticket, TicketMessage, UnixTime};

/// The most participants a ticket holds: a mail copied to hundreds of people must not turn
/// every answer into a mass mailing.
pub const MAX_PARTICIPANTS: usize = 10;

/// The history note of a participant the customer copied (an agent's change names the agent).
pub const COPIED_BY_CUSTOMER: &str = "copied on the customer's mail";

/// One change to a ticket's participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParticipantChange {
    /// Copy them on the conversation from now on.
    Add(EmailAddress),
    /// Stop copying them.
    Drop(EmailAddress),
}

impl Ticket {
    /// Whether `address` is one of the ticket's participants (a `+detail` on either side is
    /// the same mailbox, RFC 5233).
    pub fn is_participant(&self, address: &EmailAddress) -> bool {
        let address = address.without_detail();
        self.participants
            .iter()
            .any(|p| p.without_detail() == address)
    }

    /// The participants as `changes` would leave them (see [`Ticket::change_participants`]),
    /// without changing the ticket: whom the answer that makes them is copied to.
    pub fn participants_after(&self, changes: &[ParticipantChange]) -> Vec<EmailAddress> {
        let mut list = self.participants.clone();
        for change in changes {
            apply(&mut list, change);
        }
        list
    }

    /// Applies `changes` in order, each with a history event whose note says `why` (who
    /// made it). An address already there is not added twice, one not there is not
    /// dropped, and nothing is added beyond [`MAX_PARTICIPANTS`]; only what changed is
    /// recorded.
    pub fn change_participants(&mut self, changes: &[ParticipantChange], why: &str, now: UnixTime) {
        for change in changes {
            if !apply(&mut self.participants, change) {
                continue;
            }
            let (direction, address) = match change {
                ParticipantChange::Add(a) => (Direction::ParticipantAdded, a),
                ParticipantChange::Drop(a) => (Direction::ParticipantDropped, a),
            };
            let mut event = TicketMessage::note(now, why);
            event.direction = direction;
            event.from = Some(address.clone());
            self.append(event, now);
        }
    }
}

/// Applies one change to a list of participants; whether it changed anything.
fn apply(list: &mut Vec<EmailAddress>, change: &ParticipantChange) -> bool {
    match change {
        ParticipantChange::Add(a) => {
            let base = a.without_detail();
            let on = list.iter().any(|p| p.without_detail() == base);
            if on || list.len() >= MAX_PARTICIPANTS {
                return false;
            }
            list.push(a.clone());
            true
        }
        ParticipantChange::Drop(a) => {
            let base = a.without_detail();
            let before = list.len();
            list.retain(|p| p.without_detail() != base);
            list.len() != before
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{addr, ticket};

    #[test]
    fn changes_are_recorded_once_each_and_bounded() {
        let mut t = ticket(1042, "alice@customer.test").build();
        let carol = addr("carol@customer.test");
        let changes = [
            ParticipantChange::Add(carol.clone()),
            ParticipantChange::Add(addr("Carol+x@customer.test")),
            ParticipantChange::Drop(addr("dave@customer.test")),
        ];
        t.change_participants(&changes, "by jason@example.test", 5);
        assert_eq!(t.participants, vec![carol.clone()]);
        assert_eq!(t.messages.len(), 1, "only the real change is an event");
        assert_eq!(t.messages[0].direction, Direction::ParticipantAdded);
        assert_eq!(t.messages[0].from.as_ref(), Some(&carol));
        assert!(t.is_participant(&addr("carol+shop@customer.test")));

        let drop = [ParticipantChange::Drop(carol.clone())];
        assert!(t.participants_after(&drop).is_empty());
        assert_eq!(t.participants, vec![carol.clone()], "only a preview");
        t.change_participants(&drop, "by jason", 6);
        assert!(t.participants.is_empty());
        assert_eq!(t.messages[1].direction, Direction::ParticipantDropped);

        let many: Vec<ParticipantChange> = (0..MAX_PARTICIPANTS + 5)
            .map(|i| ParticipantChange::Add(addr(&format!("p{i}@customer.test"))))
            .collect();
        t.change_participants(&many, "copied", 7);
        assert_eq!(t.participants.len(), MAX_PARTICIPANTS);
    }
}
