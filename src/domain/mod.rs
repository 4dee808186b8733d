//! The domain model: the types every stage hands to the next, and nothing else (no I/O, no
//! sled, no templates). A ticket number, an agent's address or a suppression reason is a type
//! here, so that it can never be confused with an arbitrary string or integer.

mod action;
mod agent;
mod customer;
mod followup;
mod ids;
mod inbound;
mod mail;
mod outbox;
mod outcome;
mod participants;
mod suppress;
mod ticket;

pub use action::{AgentAction, Refusal, RefusalKind};
pub use agent::{
    AgentLoad, AnswerWait, FIRST_RESPONSES_KEPT, FirstResponse, remember_first_response,
    typical_wait,
};
pub use customer::{ACK_MEMORY_SECONDS, CustomerRecord};
pub use followup::{FollowUp, FollowUpPolicy, Rating, follow_up_due};
pub use ids::{AgentEmail, EmailAddress, TicketId, TicketStamp, UnixTime, message_id_hash, now};
pub use inbound::{Cursor, Fetched, FetchedMail, FlagJob, Inbound};
pub use mail::{MailKind, MessageIdKind, OutgoingMail, Splice, SpliceError};
pub use outbox::{DeadLetter, OutboxEntry};
pub use outcome::{JoinedVia, Outcome, Plan, ServerMark};
pub use participants::{COPIED_BY_CUSTOMER, MAX_PARTICIPANTS, ParticipantChange};
pub use suppress::SuppressReason;
pub use ticket::{
    Direction, Escalation, FORGOTTEN, OpenCounts, Ticket, TicketChange, TicketMessage, TicketState,
    TicketSummary,
};
