//! Changes to tickets that no incoming mail causes: an operator's `tickets assign|close`,
//! the SLA loop's reassignment of an escalated ticket, and the one summary an agent gets
//! after a flood of follow-ups. Each composes its mails with [`Composer`] (a fresh store id
//! makes their Message-IDs) and commits in one transaction.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::compose::{ComposeError, Templates};
use crate::config::{AgentLookupError, Config};
use crate::decide;
use crate::decide::handover::NoNote;
use crate::decide::notify::{Composer, LatestMail};
use crate::domain::{
    AgentEmail, FollowUp, FollowUpPolicy, Ticket, TicketChange, TicketId, TicketState, UnixTime,
    follow_up_due,
};
use crate::store::{Store, StoreError};

/// How long a flooding sender must have been quiet before their agent gets the summary.
const FLOOD_QUIET: Duration = Duration::from_secs(60);

/// At most this many distinct subjects are listed in a flood summary.
const FLOOD_SUBJECTS_SHOWN: usize = 10;

/// Why an action was not applied. The texts are what operators see.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The ticket does not exist.
    #[error("no ticket #{0}")]
    NoTicket(TicketId),
    /// The agent named cannot be found.
    #[error(transparent)]
    Agent(#[from] AgentLookupError),
    /// The ticket already belongs to that agent.
    #[error("ticket #{ticket} is already assigned to {name}")]
    AlreadyAssigned {
        /// The ticket.
        ticket: TicketId,
        /// The agent's name.
        name: String,
    },
    /// The ticket is closed already.
    #[error("ticket #{0} is already closed")]
    AlreadyClosed(TicketId),
    /// The SLA loop's change lost the race with an answer or a close.
    #[error("ticket #{0} was answered or closed meanwhile; left as it is")]
    Raced(TicketId),
    /// The new owner's notification could not be composed.
    #[error("{0}")]
    Compose(#[from] ComposeError),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What an operator (or the SLA loop) changes on a ticket.
#[derive(Debug, Clone, Copy)]
pub struct OpsChange<'a> {
    /// Hand the ticket to this agent (address or name).
    pub assign_to: Option<&'a str>,
    /// Close it.
    pub close: bool,
    /// Who did it, for the history and the new owner's notification.
    pub by: &'a str,
    /// Apply only if the ticket is still open and unanswered (the SLA loop).
    pub only_if_unanswered: bool,
}

/// What [`ops_change`] did, as the operator reads it: `ticket #1042 assigned to Maria
/// Lopez <maria@example.com> and closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The ticket.
    pub ticket: TicketId,
    /// The new owner's name and address, if it was handed over.
    pub assigned_to: Option<(String, AgentEmail)>,
    /// Whether it was closed.
    pub closed: bool,
}

impl Applied {
    /// The parts done, for the history note and the message.
    fn parts(&self) -> Vec<String> {
        let mut done = Vec::new();
        if let Some((name, email)) = &self.assigned_to {
            done.push(format!("assigned to {name} <{email}>"));
        }
        if self.closed {
            done.push("closed".into());
        }
        done
    }
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ticket #{} {}", self.ticket, self.parts().join(" and "))
    }
}

/// `frontdesk tickets assign N AGENT` and `tickets close N` (and the SLA loop's
/// reassignment): applied like an agent's command, with the same counters and the same
/// notification for the new owner, in one transaction.
pub fn ops_change(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    ticket: TicketId,
    change: &OpsChange<'_>,
) -> Result<Applied, ActionError> {
    let t = store.ticket(ticket)?.ok_or(ActionError::NoTicket(ticket))?;
    // Mail about the ticket comes from the inbox it came in at.
    let cfg = &*cfg.for_ticket(&t);
    let composer = Composer {
        cfg,
        templates,
        cause: store.new_id()?,
        date: SystemTime::now(),
    };
    let mut applied = Applied {
        ticket,
        assigned_to: None,
        closed: false,
    };
    let mut outgoing = Vec::new();
    if let Some(who) = change.assign_to {
        let target = cfg.find_agent(who)?;
        if target.email == t.agent {
            let name = target.name.clone();
            return Err(ActionError::AlreadyAssigned { ticket, name });
        }
        let latest = LatestMail::read(store, cfg, &t)?;
        outgoing.push(composer.handover(&t, target, &latest, change.by, "")?);
        if !change.close {
            match composer.customer_handover(store, &t, target, crate::domain::now()) {
                Ok(note) => outgoing.extend(note),
                Err(NoNote::Store(e)) => return Err(e.into()),
                // A courtesy: the handover itself must not fail for it.
                Err(NoNote::Compose(e)) => {
                    tracing::warn!(ticket = %t.id, error = %e, "the customer's handover note could not be composed")
                }
            }
        }
        applied.assigned_to = Some((target.name.clone(), target.email.clone()));
    }
    let mut withheld = String::new();
    if change.close {
        if t.state == TicketState::Closed {
            return Err(ActionError::AlreadyClosed(ticket));
        }
        applied.closed = true;
        let mut closing = t.clone();
        if let Some((_, email)) = &applied.assigned_to {
            closing.agent = email.clone();
        }
        let agent = cfg.agent(&closing.agent);
        let now = crate::domain::now();
        match decide::closing::closing_mail(store, &composer, &closing, agent, now)? {
            Ok(mail) => outgoing.push(mail),
            Err(why) => withheld = format!("; closing mail not sent: {why}"),
        }
    }
    let committed = store.record_ops(
        ticket,
        &TicketChange {
            state: change.close.then_some(TicketState::Closed),
            reassign: applied.assigned_to.as_ref().map(|(_, email)| email.clone()),
            outgoing: &outgoing,
            note: &format!("by {}: {}{withheld}", change.by, applied.parts().join(", ")),
            only_if_unanswered: change.only_if_unanswered,
            only_if_updated_at: None,
            reminded: false,
        },
        crate::domain::now(),
    )?;
    if !committed {
        return Err(ActionError::Raced(ticket));
    }
    Ok(applied)
}

/// What [`follow_up`] did to a ticket waiting on its customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowedUp {
    /// The customer was reminded (`sent` false: the reminder was withheld, with the
    /// reason in the history; the auto-close counts from now all the same).
    Reminded {
        /// Whether the reminder went out.
        sent: bool,
    },
    /// The ticket was closed on its own (`sent`: with the closing mail).
    Closed {
        /// Whether the closing mail went out.
        sent: bool,
    },
}

/// Reminds the customer of a ticket waiting on them, or closes it with the closing mail,
/// as [`follow_up_due`] says at `now`. Committed only if the ticket did not change since
/// it was read (a customer's reply meanwhile wins). `Ok(None)`: nothing due, or raced.
pub fn follow_up(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    t: &Ticket,
    now: UnixTime,
) -> Result<Option<FollowedUp>, ActionError> {
    let cfg = &*cfg.for_ticket(t);
    let policy = FollowUpPolicy {
        remind_after: cfg.closing.remind_after,
        autoclose_after: cfg.closing.autoclose_after,
    };
    let Some(due) = follow_up_due(t, &policy, now) else {
        return Ok(None);
    };
    let composer = Composer {
        cfg,
        templates,
        cause: store.new_id()?,
        date: SystemTime::now(),
    };
    let agent = cfg.agent(&t.agent);
    let (mail, done, what) = match due {
        FollowUp::Remind => {
            let mail = decide::closing::reminder_mail(store, &composer, t, agent, now)?;
            let sent = mail.is_ok();
            (mail, FollowedUp::Reminded { sent }, "reminder")
        }
        FollowUp::Close => {
            let mail = decide::closing::closing_mail(store, &composer, t, agent, now)?;
            let sent = mail.is_ok();
            (
                mail,
                FollowedUp::Closed { sent },
                "closed: the customer did not answer; closing mail",
            )
        }
    };
    let (outgoing, note) = match mail {
        Ok(m) => (vec![m], format!("{what} sent")),
        Err(why) => (Vec::new(), format!("{what} not sent: {why}")),
    };
    let committed = store.record_ops(
        t.id,
        &TicketChange {
            state: (due == FollowUp::Close).then_some(TicketState::Closed),
            reassign: None,
            outgoing: &outgoing,
            note: &note,
            only_if_unanswered: false,
            only_if_updated_at: Some(t.updated_at),
            reminded: due == FollowUp::Remind,
        },
        now,
    )?;
    Ok(committed.then_some(done))
}

/// Tells a ticket's agent, in one notice, about the follow-ups a flood recorded without a
/// notification each, once the sender has been quiet for a minute. `Ok(None)`: nothing to
/// tell (yet); a ticket owed nothing more leaves the list of flooded tickets.
pub fn flood_summary(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    t: &Ticket,
    now: UnixTime,
) -> Result<Option<usize>, ActionError> {
    // A closed or forgotten ticket is owed nothing.
    if t.state != TicketState::Open || t.forgotten_at.is_some() {
        store.flood_done(t.id)?;
        return Ok(None);
    }
    let pending = t.unsummarised_flood(now, FLOOD_QUIET);
    if pending.is_empty() {
        // Summarised already (nothing flooded since): nothing more is owed.
        if !t.ends_in_flood() {
            store.flood_done(t.id)?;
        }
        return Ok(None);
    }
    let cfg = &*cfg.for_ticket(t);
    let Some(agent) = cfg.agent(&t.agent) else {
        return Ok(None);
    };
    let subjects: Vec<&str> = pending.iter().map(|m| m.subject.as_str()).collect();
    let reason = flood_text(t, &subjects);
    let composer = Composer {
        cfg,
        templates,
        cause: store.new_id()?,
        date: SystemTime::now(),
    };
    let mail = composer.notice(t, agent, &reason)?;
    store.record_ops(
        t.id,
        &TicketChange {
            state: None,
            reassign: None,
            outgoing: std::slice::from_ref(&mail),
            note: "flood summary sent to the agent",
            only_if_unanswered: false,
            only_if_updated_at: None,
            reminded: false,
        },
        now,
    )?;
    store.flood_done(t.id)?;
    Ok(Some(pending.len()))
}

/// The summary's text: how many mails, from whom, where to see them, their subjects.
fn flood_text(t: &Ticket, subjects: &[&str]) -> String {
    let mut distinct = subjects.to_vec();
    distinct.dedup();
    let shown: Vec<String> = distinct
        .iter()
        .take(FLOOD_SUBJECTS_SHOWN)
        .map(|s| format!("  - {s}"))
        .collect();
    format!(
        "{n} more mail(s) from {who} arrived on this ticket in a burst and were recorded on it \
         without a notification each. See them with: frontdesk tickets show {id}\nSubjects:\n{list}{more}",
        n = subjects.len(),
        who = t.customer,
        id = t.id,
        list = shown.join("\n"),
        more = if distinct.len() > shown.len() {
            "\n  …"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Direction, Fetched, MailKind, Plan, SuppressReason, TicketMessage};

    const DAY: i64 = 86_400;

    /// A store holding Alice's ticket #1001, opened at 0 and answered by Jason at day 1.
    fn answered_ticket(dir: &std::path::Path) -> Store {
        let store = Store::open(dir).expect("open");
        let fetched = [Fetched {
            uid: 1,
            raw: b"x".to_vec(),
        }];
        let seqs = store.store_fetched("INBOX", 1, &fetched, 0).expect("store");
        let mut t = crate::testing::ticket(1001, "alice@customer.test")
            .inbound(0, "<a1@customer.test>", seqs[0])
            .first_response_at(DAY)
            .build();
        t.messages.push(TicketMessage {
            direction: Direction::AgentReply,
            message_id: Some("<reply.1001.x@example.test>".into()),
            ..TicketMessage::note(DAY, "")
        });
        t.messages[0].suppressed = Some(SuppressReason::FollowUp);
        let plan = Plan::NewTicket {
            ticket: t,
            pool_key: "all".into(),
            not_acknowledged: None,
            outgoing: Vec::new(),
        };
        store
            .record_outcome(seqs[0], None, true, &plan, DAY)
            .expect("recorded");
        store
    }

    fn queued(store: &Store) -> Vec<MailKind> {
        let entries = store.outbox_entries().expect("outbox");
        entries.into_iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_waiting_ticket_is_reminded_once_then_closed_with_the_closing_mail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = answered_ticket(dir.path());
        let cfg = crate::testing::config(
            "[tickets]\nremind_after_days = 3\nautoclose_after_days = 4\n\
             [[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n",
        );
        let templates = Templates::load(None).expect("templates");
        let read = || {
            store
                .ticket(TicketId::new(1001))
                .expect("read")
                .expect("ticket")
        };
        let follow = |now| follow_up(&cfg, &templates, &store, &read(), now).expect("follows up");

        assert_eq!(follow(3 * DAY), None, "two days after the answer");
        assert_eq!(follow(4 * DAY), Some(FollowedUp::Reminded { sent: true }));
        assert_eq!(queued(&store), [MailKind::Reminder]);
        assert_eq!(read().reminded_at, Some(4 * DAY));
        assert_eq!(follow(5 * DAY), None, "one reminder");

        // A ticket read before a change is not followed up on that stale copy.
        let stale = read();
        store
            .record_ops(
                TicketId::new(1001),
                &TicketChange {
                    state: None,
                    reassign: None,
                    outgoing: &[],
                    note: "meanwhile",
                    only_if_unanswered: false,
                    only_if_updated_at: None,
                    reminded: false,
                },
                6 * DAY,
            )
            .expect("noted");
        let raced = follow_up(&cfg, &templates, &store, &stale, 9 * DAY).expect("runs");
        assert_eq!(raced, None, "the copy it read changed meanwhile");
        assert_eq!(read().state, TicketState::Open);

        assert_eq!(follow(9 * DAY), Some(FollowedUp::Closed { sent: true }));
        assert_eq!(queued(&store), [MailKind::Reminder, MailKind::Closing]);
        let t = read();
        assert_eq!(t.state, TicketState::Closed);
        let agent = AgentEmail::new(crate::testing::addr("jason@example.test"));
        assert_eq!(store.agent_load(&agent).expect("load").open, 0);
        let notes: Vec<&str> = t
            .messages
            .iter()
            .filter_map(|m| m.note.as_deref())
            .collect();
        assert!(notes.contains(&"reminder sent"), "{notes:?}");
        assert_eq!(follow(30 * DAY), None, "closed");
    }

    #[test]
    fn an_operators_close_sends_the_closing_mail_unless_the_inbox_switched_it_off() {
        let agents = "[[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n";
        let templates = Templates::load(None).expect("templates");
        let close = OpsChange {
            assign_to: None,
            close: true,
            by: "operator",
            only_if_unanswered: false,
        };
        for (extra, kinds) in [
            ("", vec![MailKind::Closing]),
            ("[tickets]\nclosing_mail = false\n", vec![]),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = answered_ticket(dir.path());
            let cfg = crate::testing::config(&format!("{extra}{agents}"));
            let done =
                ops_change(&cfg, &templates, &store, TicketId::new(1001), &close).expect("closed");
            assert!(done.closed);
            assert_eq!(queued(&store), kinds, "{extra:?}");
            let t = store.ticket(TicketId::new(1001)).expect("read").expect("t");
            let note = t
                .messages
                .last()
                .and_then(|m| m.note.clone())
                .unwrap_or_default();
            if kinds.is_empty() {
                assert!(
                    note.ends_with("closing mail not sent: closing mail is off for this inbox"),
                    "{note}"
                );
            }
        }
    }
}
