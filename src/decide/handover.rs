//! The customer's side of a handover: when a ticket changes hands, its customer gets a short
//! note from the new agent (`[tickets] handover_mail`), unless automatic mail may not go to
//! them ([`Ticket::may_mail_customer_automatically`]).

use super::notify::Composer;
use crate::compose::{ComposeError, Handover, handover};
use crate::config::Agent;
use crate::domain::{MessageIdKind, OutgoingMail, Ticket};

impl Composer<'_> {
    /// The note to `ticket`'s customer that it goes from its agent to `target`; `None` when
    /// handover mail is off or may not be sent to this customer.
    pub fn customer_handover(
        &self,
        ticket: &Ticket,
        target: &Agent,
    ) -> Result<Option<OutgoingMail>, ComposeError> {
        if !self.cfg.routing.handover_mail || !ticket.may_mail_customer_automatically() {
            return Ok(None);
        }
        let previous = self
            .cfg
            .agent(&ticket.agent)
            .map_or_else(|| ticket.agent.to_string(), |a| a.name.clone());
        handover(
            self.templates,
            &self.cfg.service,
            &Handover {
                ticket,
                previous: &previous,
                target,
                message_id: self.message_id(MessageIdKind::Handover, ticket.stamp()),
                date: self.date,
            },
        )
        .map(Some)
    }
}
