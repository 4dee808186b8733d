//! A ticket that waits on its customer: when it is owed its one reminder, when it closes on
//! its own ([`follow_up_due`], pure: the periodic loop asks it about every open ticket), and
//! the rating a customer gives by answering the closing mail.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AgentEmail, Direction, Ticket, TicketState, UnixTime};

/// A customer's rating of a closed ticket, read from their answer to the closing mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// 1 (poor) to 5 (excellent).
    pub score: u8,
    /// The rest of their first lines (cleaned, may be empty).
    pub comment: String,
    /// When it arrived.
    pub at: UnixTime,
    /// The agent who owned the ticket then: whose rating it is.
    pub agent: AgentEmail,
}

/// What a ticket waiting on its customer is owed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// One reminder to the customer.
    Remind,
    /// Closing (with the closing mail): it waited long enough after the reminder.
    Close,
}

/// `[tickets] remind_after_days` and `autoclose_after_days`; `None` switches either off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUpPolicy {
    /// The wait after the agent's answer before the reminder.
    pub remind_after: Option<Duration>,
    /// The wait after the reminder (or, without reminders, after the answer) before the
    /// ticket closes on its own.
    pub autoclose_after: Option<Duration>,
}

impl Ticket {
    /// Since when the ticket waits on its customer: the time of the agent's last answer,
    /// if no person wrote after it (an automatic reply, such as an out-of-office, does not
    /// count as the customer's answer). `None`: nobody answered yet, or the customer did.
    pub fn waiting_since(&self) -> Option<UnixTime> {
        let last = self.messages.iter().rev().find(|m| match m.direction {
            Direction::AgentReply => true,
            Direction::Inbound => m.suppressed.is_none_or(|r| !r.is_automated()),
            _ => false,
        })?;
        (last.direction == Direction::AgentReply).then_some(last.at)
    }
}

/// What `ticket` is owed at `now`: an open ticket whose last word is the agent's gets one
/// reminder `remind_after` later, and closes `autoclose_after` after that reminder. A
/// customer's reply ends the wait; a later answer of the agent starts a new one (with a
/// reminder of its own).
pub fn follow_up_due(ticket: &Ticket, policy: &FollowUpPolicy, now: UnixTime) -> Option<FollowUp> {
    if ticket.state != TicketState::Open || ticket.forgotten_at.is_some() {
        return None;
    }
    let since = ticket.waiting_since()?;
    let waited = |from: UnixTime, d: Duration| now.saturating_sub(from) >= d.as_secs() as i64;
    let reminded = ticket.reminded_at.filter(|r| *r >= since);
    match (reminded, policy.remind_after) {
        (None, Some(remind)) => waited(since, remind).then_some(FollowUp::Remind),
        (Some(at), _) => policy
            .autoclose_after
            .filter(|d| waited(at, *d))
            .map(|_| FollowUp::Close),
        (None, None) => policy
            .autoclose_after
            .filter(|d| waited(since, *d))
            .map(|_| FollowUp::Close),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SuppressReason, TicketMessage};

    const DAY: i64 = 86_400;

    /// `customer forget` keeps a rating's score (a number, the agent's statistics) and drops
    /// the customer's own words.
    #[test]
    fn forgetting_the_customer_erases_their_rating_comment() {
        let mut t = crate::testing::ticket(1001, "alice@customer.test").build();
        t.rating = Some(Rating {
            score: 2,
            comment: "the refund for account 12345 never came".into(),
            at: 10,
            agent: crate::testing::agent("jason@example.test"),
        });
        t.forget(20);
        let rating = t.rating.expect("the score stays");
        assert_eq!((rating.score, rating.comment.as_str()), (2, ""));
    }

    fn policy(remind: u64, close: u64) -> FollowUpPolicy {
        let days = |d: u64| (d > 0).then(|| Duration::from_secs(d * 86_400));
        FollowUpPolicy {
            remind_after: days(remind),
            autoclose_after: days(close),
        }
    }

    fn message(
        at: UnixTime,
        direction: Direction,
        suppressed: Option<SuppressReason>,
    ) -> TicketMessage {
        TicketMessage {
            suppressed,
            direction,
            ..TicketMessage::note(at, "")
        }
    }

    /// A ticket the customer opened at 0 and the agent answered at day 1.
    fn answered() -> Ticket {
        let mut t = crate::testing::ticket(1001, "alice@customer.test").build();
        t.messages = vec![
            message(0, Direction::Inbound, Some(SuppressReason::FollowUp)),
            message(DAY, Direction::AgentReply, None),
        ];
        t
    }

    #[test]
    fn a_ticket_waiting_on_its_customer_is_reminded_once_then_closed() {
        let p = policy(3, 4);
        let mut t = answered();
        assert_eq!(
            follow_up_due(&t, &p, 3 * DAY),
            None,
            "two days after the answer"
        );
        assert_eq!(follow_up_due(&t, &p, 4 * DAY), Some(FollowUp::Remind));
        t.reminded_at = Some(4 * DAY);
        assert_eq!(
            follow_up_due(&t, &p, 5 * DAY),
            None,
            "one reminder per wait"
        );
        assert_eq!(follow_up_due(&t, &p, 8 * DAY - 1), None);
        assert_eq!(follow_up_due(&t, &p, 8 * DAY), Some(FollowUp::Close));
    }

    #[test]
    fn a_customers_reply_ends_the_wait_and_an_automatic_one_does_not() {
        let p = policy(3, 4);
        let mut t = answered();
        t.messages.push(message(
            2 * DAY,
            Direction::Inbound,
            Some(SuppressReason::AutoSubmitted),
        ));
        assert_eq!(
            follow_up_due(&t, &p, 4 * DAY),
            Some(FollowUp::Remind),
            "an out-of-office"
        );
        t.reminded_at = Some(4 * DAY);
        t.messages.push(message(
            5 * DAY,
            Direction::Inbound,
            Some(SuppressReason::FollowUp),
        ));
        assert_eq!(
            follow_up_due(&t, &p, 30 * DAY),
            None,
            "the customer answered"
        );
        // The agent answers again: a new wait, with a reminder of its own.
        t.messages
            .push(message(6 * DAY, Direction::AgentReply, None));
        assert_eq!(follow_up_due(&t, &p, 8 * DAY), None);
        assert_eq!(follow_up_due(&t, &p, 9 * DAY), Some(FollowUp::Remind));
    }

    #[test]
    fn unanswered_closed_or_forgotten_tickets_and_switched_off_policies_owe_nothing() {
        let late = 100 * DAY;
        let mut t = answered();
        t.messages.truncate(1);
        assert_eq!(
            follow_up_due(&t, &policy(3, 4), late),
            None,
            "no answer yet"
        );
        let mut t = answered();
        t.state = TicketState::Closed;
        assert_eq!(follow_up_due(&t, &policy(3, 4), late), None, "closed");
        let mut t = answered();
        t.forgotten_at = Some(DAY);
        assert_eq!(follow_up_due(&t, &policy(3, 4), late), None, "forgotten");
        assert_eq!(follow_up_due(&answered(), &policy(0, 0), late), None, "off");
        // Notes and notices are not the customer's answer, nor the agent's.
        let mut t = answered();
        t.messages.push(message(2 * DAY, Direction::Note, None));
        t.messages
            .push(message(2 * DAY, Direction::AgentNotice, None));
        assert_eq!(
            follow_up_due(&t, &policy(3, 0), 4 * DAY),
            Some(FollowUp::Remind)
        );
    }

    #[test]
    fn without_reminders_the_ticket_closes_counted_from_the_answer_and_without_autoclose_never() {
        let t = answered();
        assert_eq!(follow_up_due(&t, &policy(0, 5), 5 * DAY), None);
        assert_eq!(
            follow_up_due(&t, &policy(0, 5), 6 * DAY),
            Some(FollowUp::Close)
        );
        let mut t = answered();
        t.reminded_at = Some(4 * DAY);
        assert_eq!(follow_up_due(&t, &policy(3, 0), 100 * DAY), None);
    }
}
