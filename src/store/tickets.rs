//! Reading tickets, customers and agents, and the counters routing and rate limits read.

use super::{
    AgentRecord, FLOOD_PREFIX, Result, Store, be, decode, encode, first_key, flood_key, from_be,
    hour_key, open_key,
};
use crate::domain::{
    AgentEmail, AgentLoad, CustomerRecord, EmailAddress, FirstResponse, Ticket, TicketId,
    TicketState, TicketSummary, UnixTime,
};

impl Store {
    /// The number the next new ticket will get. Processing is single-threaded, and
    /// [`Store::record_outcome`] refuses the plan if the number moved in between.
    pub fn peek_next_ticket(&self) -> Result<TicketId> {
        Ok(TicketId::new(
            self.meta
                .get("next_ticket")?
                .map_or(TicketId::FIRST.get(), |v| from_be(&v)),
        ))
    }

    /// How many tickets a round-robin pool has had.
    pub fn pool_counter(&self, pool_key: &str) -> Result<u64> {
        Ok(self
            .meta
            .get(format!("rr:{pool_key}"))?
            .map_or(0, |v| from_be(&v)))
    }

    /// How many acknowledgements `customer` got since `since`.
    pub fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize> {
        Ok(self.customer_record(customer)?.acks_since(since))
    }

    /// Acknowledgements queued in the clock hour that contains `at` (all senders).
    pub fn acks_in_hour(&self, at: UnixTime) -> Result<usize> {
        Ok(self.meta.get(hour_key(at))?.map_or(0, |v| from_be(&v)) as usize)
    }

    /// An agent's open tickets and away flag.
    pub fn agent_load(&self, agent: &AgentEmail) -> Result<AgentLoad> {
        let open = self.meta.get(open_key(agent))?.map_or(0, |v| from_be(&v)) as usize;
        let record: AgentRecord = self
            .agents
            .get(agent.to_string())?
            .map(|v| decode("agents", &v))
            .transpose()?
            .unwrap_or_default();
        Ok(AgentLoad {
            open,
            away: record.away,
        })
    }

    /// An agent's most recent first responses, oldest first (see
    /// [`typical_wait`](crate::domain::typical_wait)).
    pub fn first_responses(&self, agent: &AgentEmail) -> Result<Vec<FirstResponse>> {
        self.meta
            .get(first_key(agent))?
            .map(|v| decode("meta", &v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Marks an agent away (new tickets skip them) or back.
    pub fn set_away(&self, agent: &AgentEmail, away: bool) -> Result<()> {
        let _gate = self.write_gate();
        self.agents
            .insert(agent.to_string(), encode(&AgentRecord { away }))?;
        self.db.flush()?;
        Ok(())
    }

    /// The tickets a customer opened before, oldest first.
    pub fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>> {
        Ok(self.customer_record(customer)?.tickets)
    }

    /// What we remember of a customer (any `+detail` of their address): their tickets and
    /// the times of their acknowledgements in the last day.
    pub fn customer_record(&self, customer: &EmailAddress) -> Result<CustomerRecord> {
        Ok(self
            .customers
            .get(customer.without_detail().as_str())?
            .map(|v| decode("customers", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// One ticket.
    pub fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        self.tickets
            .get(be(id.get()))?
            .map(|v| decode("tickets", &v))
            .transpose()
    }

    /// All tickets, oldest first.
    pub fn tickets(&self) -> Result<Vec<TicketSummary>> {
        self.tickets
            .iter()
            .values()
            .map(|v| {
                let t: Ticket = decode("tickets", &v?)?;
                Ok(TicketSummary {
                    id: t.id,
                    state: t.state,
                    customer: t.customer,
                    agent: t.agent,
                    subject: t.subject,
                    messages: t.messages.len(),
                    updated_at: t.updated_at,
                })
            })
            .collect()
    }

    /// Every ticket with its history (for statistics), oldest first.
    pub fn tickets_full(&self) -> Result<Vec<Ticket>> {
        self.tickets
            .iter()
            .values()
            .map(|v| decode("tickets", &v?))
            .collect()
    }

    /// The open tickets of `agent`, oldest first.
    pub fn open_tickets_of(&self, agent: &AgentEmail) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for v in self.tickets.iter().values() {
            let t: Ticket = decode("tickets", &v?)?;
            if t.state == TicketState::Open && &t.agent == agent {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Open tickets that no agent has answered and that were not escalated yet.
    pub fn unanswered_open_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for v in self.tickets.iter().values() {
            let t: Ticket = decode("tickets", &v?)?;
            if t.state == TicketState::Open
                && t.first_response_at.is_none()
                && t.escalated_at.is_none()
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Open tickets an agent has answered: those that may wait on their customer.
    pub fn answered_open_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for v in self.tickets.iter().values() {
            let t: Ticket = decode("tickets", &v?)?;
            if t.state == TicketState::Open && t.first_response_at.is_some() {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Tickets that recorded follow-ups during a flood and may owe their agent a summary.
    pub fn open_tickets_with_flood(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for k in self.meta.scan_prefix(FLOOD_PREFIX).keys() {
            let k = k?;
            if let Some(t) = self.ticket(TicketId::new(from_be(&k[FLOOD_PREFIX.len()..])))? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The ticket's flood is summarised (or over): it leaves the summary list.
    pub fn flood_done(&self, ticket: TicketId) -> Result<()> {
        let _gate = self.write_gate();
        self.meta.remove(flood_key(ticket))?;
        Ok(())
    }
}
