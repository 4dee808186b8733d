//! Handing a ticket over: `#assign`, and the customer's side of every handover. When a
//! ticket changes hands, its customer gets a short note from the new agent (`[tickets]
//! handover_mail`), under the rules every automatic mail to a customer obeys
//! ([`automatic_withheld`]).

use super::agent::Answer;
use super::closing::automatic_withheld;
use super::notify::Composer;
use super::notify::LatestMail;
use super::{Ctx, Decision, State};
use crate::compose::{ComposeError, Handover, handover};
use crate::config::Agent;
use crate::domain::{
    AgentAction, Direction, MessageIdKind, OutgoingMail, Ticket, TicketState, UnixTime,
};

/// Why there is no handover note, if there is none.
#[derive(Debug)]
pub enum NoNote<E> {
    /// Reading the store failed.
    Store(E),
    /// The note could not be composed.
    Compose(ComposeError),
}

impl Composer<'_> {
    /// The note to `ticket`'s customer that it goes from its agent to `target`; `None` when
    /// handover mail is off, the ticket is closed, or automatic mail may not go to this
    /// customer now (an auto-responder's ticket, a forgotten customer, the rate limits).
    pub fn customer_handover<S: State>(
        &self,
        state: &S,
        ticket: &Ticket,
        target: &Agent,
        now: UnixTime,
    ) -> Result<Option<OutgoingMail>, NoNote<S::Error>> {
        if !self.cfg.routing.handover_mail || ticket.state != TicketState::Open {
            return Ok(None);
        }
        if let Some(reason) = automatic_withheld(state, self, ticket, now).map_err(NoNote::Store)? {
            tracing::info!(ticket = %ticket.id, %reason, "no handover note to the customer");
            return Ok(None);
        }
        // Named by their configured name; an owner no longer configured is known only by an
        // address the customer must not see, so there is no note.
        let Some(previous) = self.cfg.agent(&ticket.agent).map(|a| a.name.clone()) else {
            return Ok(None);
        };
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
        .map_err(NoNote::Compose)
    }
}

/// `#assign`: the new agent gets the customer's latest mail and the handover text, which
/// stays internal.
pub(super) fn hand_over<S: State>(
    ctx: &Ctx<'_, S>,
    mut answer: Answer<'_>,
    target: &Agent,
    note: String,
    state: Option<TicketState>,
) -> Result<Decision, S::Error> {
    let latest = LatestMail::read(ctx.state, ctx.cfg, &answer.ticket)?;
    let composed =
        ctx.composer()
            .handover(&answer.ticket, target, &latest, &answer.agent.name, &note);
    Ok(match composed {
        Ok(n) => {
            answer.message.note = Some(note).filter(|b| !b.is_empty());
            answer.message.direction = Direction::Note;
            let action = AgentAction::Assigned {
                to: target.email.clone(),
                then: state,
            };
            let mut outgoing = vec![n];
            if state.is_none() {
                let composer = ctx.composer();
                match composer.customer_handover(ctx.state, &answer.ticket, target, ctx.now) {
                    Ok(note) => outgoing.extend(note),
                    Err(NoNote::Store(e)) => return Err(e),
                    // A courtesy: the handover itself must not fail for it.
                    Err(NoNote::Compose(e)) => {
                        tracing::warn!(ticket = %answer.ticket.id, error = %e, "the customer's handover note could not be composed")
                    }
                }
            }
            answer.plan(outgoing, state, Some(target.email.clone()), action)
        }
        Err(e) => Decision::quarantine(
            answer.message_id,
            format!("notification could not be composed: {e}"),
        ),
    })
}
