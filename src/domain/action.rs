//! What was done with an agent's mail about a ticket. Stored (and logged) as the short text
//! it displays as, e.g. `relayed, closed` or `refused: …`: the format the store has always
//! held, read back by [`AgentAction::parse`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{AgentEmail, EmailAddress, SuppressReason, TicketState};

/// What was done with an agent's mail about a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAction {
    /// The answer went to the customer (and the ticket was closed or reopened if asked).
    Relayed {
        /// `#close` or `#reopen` with it.
        then: Option<TicketState>,
    },
    /// An internal note was recorded (`#note`); nothing was sent.
    Noted {
        /// `#close` or `#reopen` with it.
        then: Option<TicketState>,
    },
    /// The ticket was handed to another agent (`#assign`).
    Assigned {
        /// The new owner.
        to: AgentEmail,
        /// `#close` or `#reopen` with it.
        then: Option<TicketState>,
    },
    /// Only `#close` or `#reopen`, with no text.
    StateChanged(TicketState),
    /// Only `#cc add` or `#cc drop`, with no text: the participants changed, nothing was sent.
    ParticipantsChanged,
    /// The agent's automatic reply (an out-of-office): recorded, never relayed.
    IgnoredAutomated(SuppressReason),
    /// The same mail again (a reply-all to two of our addresses, a client's re-send).
    Duplicate,
    /// Nothing was sent or changed; the agent was told why.
    Refused(Refusal),
}

/// Why an agent's mail was refused, with the words the agent was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The kind, for metrics and tests.
    pub kind: RefusalKind,
    /// The explanation sent to the agent.
    pub detail: String,
}

/// The kinds of refusal, each a different mistake an agent (or a forger) can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// An agent wrote to the plain support address about a ticket.
    PlainAddress,
    /// The mail named the reply addresses of several tickets.
    SeveralTickets,
    /// Not a reply in the ticket's thread (a fresh mail to a remembered reply address).
    NotInThread,
    /// A `#command` could not be honoured (unknown, contradictory, misplaced, unknown agent).
    Command,
    /// The quoted notification could not be separated from the answer.
    QuoteNotSeparated,
    /// An attachment is a copy of the notification (by its fingerprints or Message-ID).
    NotificationAttached,
    /// Nothing was left once the quote was removed.
    Empty,
    /// The ticket was closed longer ago than the reopen window; `#reopen` is needed.
    ClosedLongAgo,
    /// A refusal recorded by another version, whose words this build does not know.
    Other,
}

impl RefusalKind {
    /// The stable name used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::PlainAddress => "plain_address",
            RefusalKind::SeveralTickets => "several_tickets",
            RefusalKind::NotInThread => "not_in_thread",
            RefusalKind::Command => "command",
            RefusalKind::QuoteNotSeparated => "quote_not_separated",
            RefusalKind::NotificationAttached => "notification_attached",
            RefusalKind::Empty => "empty",
            RefusalKind::ClosedLongAgo => "closed_long_ago",
            RefusalKind::Other => "other",
        }
    }

    /// The kind of a stored refusal, recognised by its words.
    fn of_detail(detail: &str) -> RefusalKind {
        const KNOWN: [(&str, RefusalKind); 8] = [
            (
                "reached the plain support address",
                RefusalKind::PlainAddress,
            ),
            (
                "reply addresses of several tickets",
                RefusalKind::SeveralTickets,
            ),
            ("is not a reply to ticket", RefusalKind::NotInThread),
            (
                "the quoted notification could not be separated",
                RefusalKind::QuoteNotSeparated,
            ),
            (
                "an attachment contains this ticket's reply address",
                RefusalKind::NotificationAttached,
            ),
            (
                "is a copy of the notification",
                RefusalKind::NotificationAttached,
            ),
            ("the answer was empty", RefusalKind::Empty),
            ("the ticket was closed long ago", RefusalKind::ClosedLongAgo),
        ];
        if detail.starts_with('#') || detail.starts_with("a #command") {
            return RefusalKind::Command;
        }
        KNOWN
            .iter()
            .find(|(words, _)| detail.contains(words))
            .map_or(RefusalKind::Other, |(_, kind)| *kind)
    }
}

impl Refusal {
    /// A refusal of `kind`, explained to the agent in `detail`.
    pub fn new(kind: RefusalKind, detail: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            detail: detail.into(),
        }
    }
}

impl AgentAction {
    /// The metric labels: what kind of action (`relayed`, `command`, `ignored`, `duplicate`,
    /// `refused`) and its detail (the command, the suppression or the refusal reason).
    pub fn labels(&self) -> (&'static str, &'static str) {
        let command = |then: &Option<TicketState>| match then {
            Some(TicketState::Closed) => "close",
            Some(TicketState::Open) => "reopen",
            None => "",
        };
        match self {
            AgentAction::Relayed { then } => ("relayed", command(then)),
            AgentAction::Noted { .. } => ("command", "note"),
            AgentAction::Assigned { .. } => ("command", "assign"),
            AgentAction::StateChanged(state) => ("command", command(&Some(*state))),
            AgentAction::ParticipantsChanged => ("command", "cc"),
            AgentAction::IgnoredAutomated(reason) => ("ignored", reason.as_str()),
            AgentAction::Duplicate => ("duplicate", ""),
            AgentAction::Refused(r) => ("refused", r.kind.as_str()),
        }
    }

    /// Reads the stored text back; `None` if it is not one this build or an earlier one
    /// wrote.
    pub fn parse(text: &str) -> Option<AgentAction> {
        if let Some(detail) = text.strip_prefix("refused: ") {
            return Some(AgentAction::Refused(Refusal::new(
                RefusalKind::of_detail(detail),
                detail,
            )));
        }
        if let Some(reason) = text
            .strip_prefix("ignored automated mail (")
            .and_then(|r| r.strip_suffix(')'))
        {
            return SuppressReason::from_name(reason).map(AgentAction::IgnoredAutomated);
        }
        match text {
            "duplicate, already handled" => return Some(AgentAction::Duplicate),
            "participants changed" => return Some(AgentAction::ParticipantsChanged),
            "closed" => return Some(AgentAction::StateChanged(TicketState::Closed)),
            "reopened" => return Some(AgentAction::StateChanged(TicketState::Open)),
            _ => {}
        }
        let (what, then) = match text.rsplit_once(", ") {
            Some((what, "closed")) => (what, Some(TicketState::Closed)),
            Some((what, "reopened")) => (what, Some(TicketState::Open)),
            _ => (text, None),
        };
        match what {
            "relayed" => Some(AgentAction::Relayed { then }),
            "note" => Some(AgentAction::Noted { then }),
            _ => {
                let to = EmailAddress::parse(what.strip_prefix("assigned to ")?)?;
                Some(AgentAction::Assigned {
                    to: AgentEmail::new(to),
                    then,
                })
            }
        }
    }
}

impl fmt::Display for AgentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let then = |then: &Option<TicketState>| match then {
            Some(TicketState::Closed) => ", closed",
            Some(TicketState::Open) => ", reopened",
            None => "",
        };
        match self {
            AgentAction::Relayed { then: t } => write!(f, "relayed{}", then(t)),
            AgentAction::Noted { then: t } => write!(f, "note{}", then(t)),
            AgentAction::Assigned { to, then: t } => write!(f, "assigned to {to}{}", then(t)),
            AgentAction::StateChanged(TicketState::Closed) => f.write_str("closed"),
            AgentAction::StateChanged(TicketState::Open) => f.write_str("reopened"),
            AgentAction::IgnoredAutomated(reason) => {
                write!(f, "ignored automated mail ({reason})")
            }
            AgentAction::Duplicate => f.write_str("duplicate, already handled"),
            AgentAction::ParticipantsChanged => f.write_str("participants changed"),
            AgentAction::Refused(r) => write!(f, "refused: {}", r.detail),
        }
    }
}

impl Serialize for AgentAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AgentAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AgentAction::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown agent action {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jason() -> AgentEmail {
        AgentEmail::new(EmailAddress::parse("jason@example.test").expect("valid"))
    }

    #[test]
    fn every_action_reads_back_from_the_text_the_store_holds() {
        let actions = [
            AgentAction::Relayed { then: None },
            AgentAction::Relayed {
                then: Some(TicketState::Closed),
            },
            AgentAction::Noted {
                then: Some(TicketState::Open),
            },
            AgentAction::Assigned {
                to: jason(),
                then: Some(TicketState::Closed),
            },
            AgentAction::Assigned {
                to: jason(),
                then: None,
            },
            AgentAction::StateChanged(TicketState::Closed),
            AgentAction::StateChanged(TicketState::Open),
            AgentAction::IgnoredAutomated(SuppressReason::AutoReplySubject),
            AgentAction::IgnoredAutomated(SuppressReason::NoReplySender),
            AgentAction::Duplicate,
            AgentAction::ParticipantsChanged,
            AgentAction::Refused(Refusal::new(
                RefusalKind::NotInThread,
                "this mail is not a reply to ticket #1042; press Reply on its notification to answer the customer",
            )),
            AgentAction::Refused(Refusal::new(
                RefusalKind::Command,
                "#assign bob: no agent is called bob; nothing was changed or sent",
            )),
            AgentAction::Refused(Refusal::new(
                RefusalKind::Command,
                "a #command line was found below the text; commands go at the very top; nothing was changed or sent",
            )),
            AgentAction::Refused(Refusal::new(
                RefusalKind::QuoteNotSeparated,
                "the quoted notification could not be separated from your answer (please reply above the quote); nothing was changed or sent",
            )),
        ];
        for action in actions {
            let json = serde_json::to_string(&action).expect("serialises");
            let back: AgentAction = serde_json::from_str(&json).expect("reads back");
            assert_eq!(back, action, "{json}");
        }
    }

    #[test]
    fn the_stored_text_is_the_one_earlier_versions_wrote() {
        let closed = AgentAction::Assigned {
            to: jason(),
            then: Some(TicketState::Closed),
        };
        assert_eq!(closed.to_string(), "assigned to jason@example.test, closed");
        assert_eq!(
            serde_json::to_string(&AgentAction::Relayed { then: None }).expect("json"),
            "\"relayed\""
        );
        assert_eq!(
            AgentAction::parse("refused: something a future version says"),
            Some(AgentAction::Refused(Refusal::new(
                RefusalKind::Other,
                "something a future version says"
            )))
        );
        assert_eq!(AgentAction::parse("exploded"), None);
    }
}
