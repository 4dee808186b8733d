//! What processing decides for one mail ([`Plan`]) and what it recorded ([`Outcome`]), with
//! the named reasons a mail gets no acknowledgement and the ways a mail finds its ticket.

use serde::{Deserialize, Serialize};

use super::{
    AgentAction, AgentEmail, AnswerWait, OutgoingMail, ParticipantChange, Rating, SuppressReason,
    Ticket, TicketId, TicketMessage, TicketState,
};

/// What happened to one incoming mail. Every stored mail ends in exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// It opened a new ticket.
    NewTicket {
        /// The ticket.
        ticket: TicketId,
        /// Why it was not acknowledged, if it was not.
        not_acknowledged: Option<SuppressReason>,
    },
    /// It joined an existing ticket.
    Joined {
        /// The ticket.
        ticket: TicketId,
        /// How it was matched.
        via: JoinedVia,
        /// Why it got no acknowledgement (follow-up, or an automated reply).
        reason: SuppressReason,
    },
    /// An agent's mail about a ticket (an answer, a note, a command).
    Agent {
        /// The ticket.
        ticket: TicketId,
        /// What was done.
        action: AgentAction,
    },
    /// It is automated mail with no ticket to join: recorded, not answered.
    Suppressed {
        /// Why.
        reason: SuppressReason,
    },
    /// It could not be handled safely and waits for a person.
    Quarantined {
        /// Why, in words for the operator.
        reason: String,
    },
}

/// What processing decided for one stored mail; the store commits it in one transaction.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Open a ticket (its number is the store's next one, confirmed when committed).
    NewTicket {
        /// The ticket as it starts.
        ticket: Ticket,
        /// Round-robin pool whose counter advances.
        pool_key: String,
        /// Why there is no acknowledgement, if there is none.
        not_acknowledged: Option<SuppressReason>,
        /// Mail to send: the acknowledgement and the agent's notification.
        outgoing: Vec<OutgoingMail>,
    },
    /// Add the mail to an existing ticket.
    Join {
        /// The ticket.
        ticket: TicketId,
        /// How it was matched.
        via: JoinedVia,
        /// The message to append.
        message: TicketMessage,
        /// Why there is no acknowledgement.
        reason: SuppressReason,
        /// Mail to send (the agent's notification of a follow-up).
        outgoing: Vec<OutgoingMail>,
        /// A person wrote on a closed ticket: open it again.
        reopen: bool,
        /// People the customer copied on this follow-up who are not on the ticket yet.
        participants: Vec<ParticipantChange>,
        /// The customer rated the (closed) ticket by answering its closing mail.
        rating: Option<Rating>,
    },
    /// An agent's verified mail about a ticket.
    Agent {
        /// The ticket.
        ticket: TicketId,
        /// The history entry (note text, or the agent's inbound mail).
        message: TicketMessage,
        /// Mail to send (the relayed answer, or a notice back to the agent).
        outgoing: Vec<OutgoingMail>,
        /// A state change (`#close`, `#reopen`).
        state: Option<TicketState>,
        /// A new owner (`#assign`).
        reassign: Option<AgentEmail>,
        /// Participants added or dropped (`#cc add`, `#cc drop`), before anything is sent.
        participants: Vec<ParticipantChange>,
        /// What was done, for the outcome.
        action: AgentAction,
        /// The customer's wait the relayed answer ends, if it relays one: recorded as the
        /// first response when it is the ticket's first answer.
        wait: Option<AnswerWait>,
    },
    /// Record the suppression only.
    Suppress(SuppressReason),
    /// Keep the mail for a person.
    Quarantine(String),
}

impl Plan {
    /// The mails this plan puts into the outbox.
    pub fn outgoing(&self) -> &[OutgoingMail] {
        match self {
            Plan::NewTicket { outgoing, .. }
            | Plan::Join { outgoing, .. }
            | Plan::Agent { outgoing, .. } => outgoing,
            Plan::Suppress(_) | Plan::Quarantine(_) => &[],
        }
    }

    /// The mails this plan puts into the outbox, to finish them
    /// ([`OutgoingMail::splice`]).
    pub fn outgoing_mut(&mut self) -> &mut [OutgoingMail] {
        match self {
            Plan::NewTicket { outgoing, .. }
            | Plan::Join { outgoing, .. }
            | Plan::Agent { outgoing, .. } => outgoing,
            Plan::Suppress(_) | Plan::Quarantine(_) => &mut [],
        }
    }

    /// How many mails this plan puts into the outbox.
    pub fn queued(&self) -> usize {
        self.outgoing().len()
    }

    /// The outcome recorded with the mail when this plan is committed.
    pub fn outcome(&self) -> Outcome {
        match self {
            Plan::NewTicket {
                ticket,
                not_acknowledged,
                ..
            } => Outcome::NewTicket {
                ticket: ticket.id,
                not_acknowledged: *not_acknowledged,
            },
            Plan::Join {
                ticket,
                via,
                reason,
                ..
            } => Outcome::Joined {
                ticket: *ticket,
                via: *via,
                reason: *reason,
            },
            Plan::Agent { ticket, action, .. } => Outcome::Agent {
                ticket: *ticket,
                action: action.clone(),
            },
            Plan::Suppress(reason) => Outcome::Suppressed { reason: *reason },
            Plan::Quarantine(reason) => Outcome::Quarantined {
                reason: reason.clone(),
            },
        }
    }

    /// Whether committing this plan leaves its ticket owing the agent a flood summary (a
    /// follow-up recorded without a notification of its own).
    pub fn owes_flood_summary(&self) -> bool {
        matches!(
            self,
            Plan::Join {
                reason: SuppressReason::Flood,
                ..
            }
        )
    }
}

/// What the IMAP server is told about a handled mail. Cosmetic (progress is the cursor), but
/// it is what a person looking at the mailbox sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMark {
    /// Part of a ticket: marked read (or moved) and given the handled keyword.
    Handled,
    /// Suppressed: only the handled keyword, so a store rebuilt from the server does not
    /// decide it again; it stays unread where a person sees it (a false positive must never
    /// make a customer invisible).
    KeywordOnly,
}

impl Outcome {
    /// The ticket the mail became part of, if any.
    pub fn ticket(&self) -> Option<TicketId> {
        match self {
            Outcome::NewTicket { ticket, .. }
            | Outcome::Joined { ticket, .. }
            | Outcome::Agent { ticket, .. } => Some(*ticket),
            Outcome::Suppressed { .. } | Outcome::Quarantined { .. } => None,
        }
    }

    /// What the server is told; `None` for quarantined mail, which stays untouched for a
    /// person.
    pub fn server_mark(&self) -> Option<ServerMark> {
        match self {
            Outcome::Quarantined { .. } => None,
            Outcome::Suppressed { .. } => Some(ServerMark::KeywordOnly),
            Outcome::NewTicket { .. } | Outcome::Joined { .. } | Outcome::Agent { .. } => {
                Some(ServerMark::Handled)
            }
        }
    }
}

/// How a mail was matched to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinedVia {
    /// A Message-ID header named a message of the ticket: In-Reply-To or References, or
    /// the mail's own Message-ID when it is another delivery of a mail the ticket holds
    /// (then with reason `duplicate-delivery`).
    Header,
    /// The subject carried the ticket's tag and the sender is the ticket's customer.
    SubjectTag,
    /// The sender opened `flood_tickets` tickets within the flood window: further mail joins
    /// their newest open ticket instead of opening more.
    Flood,
}
