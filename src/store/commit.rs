//! Committing decisions, each in one sled transaction: a processed mail's plan, an
//! operator's change, an escalation. What changes is the domain's rule
//! ([`Ticket::change`], [`Ticket::record_sent`], [`CustomerRecord::opened`],
//! [`Plan::outcome`], [`Outcome::server_mark`]); this file only reads and writes the trees.

use std::collections::HashMap;
use std::time::Duration;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::files::{Kind, OUT_FILE_THRESHOLD};
use super::{
    Result, Store, StoreError, TxResult, be, due_key, encode, first_key, flood_key, from_be,
    hour_key, open_key, quarantine_key, tx_get, uid_key, unwrap_tx,
};
use crate::domain::{
    AnswerWait, COPIED_BY_CUSTOMER, CustomerRecord, FirstResponse, Inbound, MailKind, OpenCounts,
    OutboxEntry, Outcome, OutgoingMail, Plan, ServerMark, Ticket, TicketChange, TicketId,
    TicketMessage, TicketState, UnixTime, remember_first_response,
};

/// The value of an `imap_flags` entry for mail that only gets the handled keyword.
pub(super) const KEYWORD_ONLY: &[u8] = b"k";

/// What [`Store::record_outcome`] committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The mail's outcome (the earlier one, if it had been processed already).
    pub outcome: Outcome,
    /// Set when this commit recorded the ticket's first answer: the time since it opened.
    pub first_response_after: Option<Duration>,
}

/// The trees a change to a ticket writes, inside a transaction.
struct TicketTx<'a> {
    tickets: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    outbox_raw: &'a TransactionalTree,
    outbox_due: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    /// The outbox ids of the mails whose bytes were written to files before the transaction.
    spilled: &'a Spilled,
}

/// Outgoing mails too big for sled, by Message-ID: the outbox id their file was written
/// under ([`Store::spill`]).
pub(super) type Spilled = HashMap<String, u64>;

impl TicketTx<'_> {
    /// The ticket, which must exist.
    fn load(&self, id: TicketId) -> TxResult<Ticket> {
        tx_get(self.tickets, "tickets", &be(id.get()))?.ok_or(ConflictableTransactionError::Abort(
            StoreError::NoTicket(id),
        ))
    }

    fn save(&self, t: &Ticket) -> TxResult<()> {
        self.tickets.insert(&be(t.id.get()), encode(t))?;
        Ok(())
    }

    /// Queues `mail` about `ticket`: the outbox entry, its bytes, and the ticket's history
    /// entry, which is what resolves its Message-ID later (ours are not in `msgids`; the
    /// store reads the ticket the id names, `Store::own_message_id`). `true`: it is the
    /// first answer.
    fn queue(
        &self,
        ticket: &mut Ticket,
        mail: &OutgoingMail,
        now: UnixTime,
        cause: Option<UnixTime>,
    ) -> TxResult<bool> {
        let id = match self.spilled.get(&mail.message_id) {
            Some(id) => *id,
            None => {
                let id = self.outbox.generate_id()?;
                self.outbox_raw.insert(&be(id), mail.raw.as_slice())?;
                id
            }
        };
        let entry = OutboxEntry::queued(id, mail, Some(ticket.id), now, cause);
        self.outbox.insert(&be(id), encode(&entry))?;
        self.outbox_due
            .insert(&due_key(entry.next_attempt_at, id), &[])?;
        // Automatic mail to customers counts against the hourly limit the acknowledgement
        // obeys (which `new_ticket` counts): a reminder run or a mass handover is no storm.
        if matches!(
            mail.kind,
            MailKind::Closing | MailKind::Reminder | MailKind::Handover
        ) {
            self.bump(&hour_key(now), 1)?;
        }
        Ok(ticket.record_sent(mail, id, now))
    }

    /// Adds a first response to its agent's recent samples (`meta` `first:<agent>`), the
    /// newest [`FIRST_RESPONSES_KEPT`](crate::domain::FIRST_RESPONSES_KEPT) of them.
    fn first_response(&self, wait: &AnswerWait, now: UnixTime) -> TxResult<()> {
        let key = first_key(&wait.agent);
        let mut samples: Vec<FirstResponse> = tx_get(self.meta, "meta", &key)?.unwrap_or_default();
        remember_first_response(
            &mut samples,
            FirstResponse {
                at: now,
                working_seconds: wait.working_seconds,
            },
        );
        self.meta.insert(key, encode(&samples))?;
        Ok(())
    }

    /// Adds `delta` to a `meta` counter.
    fn bump(&self, key: &[u8], delta: i64) -> TxResult<()> {
        bump(self.meta, key, delta)
    }

    /// Moves the agents' open-ticket counters as a change requires.
    fn count_open(&self, counts: &OpenCounts) -> TxResult<()> {
        count_open(self.meta, counts)
    }
}

/// Adds `delta` to a `meta` counter inside a transaction.
fn bump(meta: &TransactionalTree, key: &[u8], delta: i64) -> TxResult<()> {
    let n = meta.get(key)?.map_or(0, |v| from_be(&v)) as i64;
    meta.insert(key, &be((n + delta).max(0) as u64))?;
    Ok(())
}

/// Moves the agents' open-ticket counters (in `meta`) as a change requires.
pub(super) fn count_open(meta: &TransactionalTree, counts: &OpenCounts) -> TxResult<()> {
    if let Some(agent) = &counts.down {
        bump(meta, &open_key(agent), -1)?;
    }
    if let Some(agent) = &counts.up {
        bump(meta, &open_key(agent), 1)?;
    }
    Ok(())
}

/// The trees [`Store::record_outcome`] writes besides the ticket's.
struct MailTx<'a> {
    ticket: TicketTx<'a>,
    msgids: &'a TransactionalTree,
    inbound: &'a TransactionalTree,
    pending: &'a TransactionalTree,
    flags: &'a TransactionalTree,
    customers: &'a TransactionalTree,
}

/// One stored mail's plan with what it needs to be committed.
struct PlanCommit<'a> {
    plan: &'a Plan,
    /// The mail's Message-ID, if it may enter the threading index.
    index_id: Option<&'a str>,
    /// When the mail was stored (the cause of the mails it queues, for latency figures).
    stored_at: UnixTime,
    now: UnixTime,
}

impl MailTx<'_> {
    /// Adds an incoming Message-ID to the threading index. First come, first served: two
    /// mails that share an id cannot pull each other into a stranger's ticket.
    fn index(&self, message_id: Option<&str>, ticket: TicketId) -> TxResult<()> {
        if let Some(id) = message_id
            && self.msgids.get(id.as_bytes())?.is_none()
        {
            self.msgids.insert(id.as_bytes(), &be(ticket.get()))?;
        }
        Ok(())
    }

    /// Applies the plan; returns the time to first response if it recorded one.
    fn apply(&self, c: &PlanCommit<'_>) -> TxResult<Option<Duration>> {
        let (tx, now, cause) = (&self.ticket, c.now, Some(c.stored_at));
        match c.plan {
            Plan::NewTicket {
                ticket,
                pool_key,
                outgoing,
                ..
            } => {
                self.new_ticket(ticket, pool_key, outgoing, c)?;
                Ok(None)
            }
            Plan::Join {
                ticket,
                message,
                outgoing,
                reopen,
                participants,
                rating,
                ..
            } => {
                let mut t = tx.load(*ticket)?;
                t.append(message.clone(), now);
                t.change_participants(participants, COPIED_BY_CUSTOMER, now);
                if rating.is_some() {
                    t.rating = rating.clone();
                }
                if *reopen && t.state == TicketState::Closed {
                    tx.count_open(&t.change(Some(TicketState::Open), None, now))?;
                }
                for mail in outgoing {
                    tx.queue(&mut t, mail, now, cause)?;
                }
                if c.plan.owes_flood_summary() {
                    // Owed a summary: the SLA loop finds it without a full scan.
                    tx.meta.insert(flood_key(*ticket), &[])?;
                }
                tx.save(&t)?;
                self.index(c.index_id, *ticket)?;
                Ok(None)
            }
            Plan::Agent {
                ticket,
                message,
                outgoing,
                state,
                reassign,
                participants,
                wait,
                ..
            } => {
                let mut t = tx.load(*ticket)?;
                t.append(message.clone(), now);
                let by = message
                    .from
                    .as_ref()
                    .map_or_else(|| "by an agent".to_string(), |a| format!("by {a}"));
                t.change_participants(participants, &by, now);
                tx.count_open(&t.change(*state, reassign.as_ref(), now))?;
                let mut first = None;
                for mail in outgoing {
                    if tx.queue(&mut t, mail, now, cause)? {
                        first = Some(Duration::from_secs((now - t.created_at).max(0) as u64));
                    }
                }
                if let (Some(_), Some(wait)) = (first, wait) {
                    t.first_response_working = Some(wait.working_seconds);
                    tx.first_response(wait, now)?;
                }
                tx.save(&t)?;
                Ok(first)
            }
            Plan::Suppress(_) | Plan::Quarantine(_) => Ok(None),
        }
    }

    /// Opens the ticket under the number it was planned with (or aborts with
    /// [`StoreError::Conflict`] if another writer took it), advances the routing pool, and
    /// records the customer's ticket and acknowledgement.
    fn new_ticket(
        &self,
        ticket: &Ticket,
        pool_key: &str,
        outgoing: &[OutgoingMail],
        c: &PlanCommit<'_>,
    ) -> TxResult<()> {
        let (tx, now) = (&self.ticket, c.now);
        let next = tx
            .meta
            .get("next_ticket")?
            .map_or(TicketId::FIRST.get(), |v| from_be(&v));
        if next != ticket.id.get() {
            return Err(ConflictableTransactionError::Abort(StoreError::Conflict));
        }
        tx.meta.insert("next_ticket", &be(next + 1))?;
        tx.bump(format!("rr:{pool_key}").as_bytes(), 1)?;
        let mut ticket = ticket.clone();
        self.index(c.index_id, ticket.id)?;
        let mut acknowledged = false;
        for mail in outgoing {
            tx.queue(&mut ticket, mail, now, Some(c.stored_at))?;
            if mail.kind == MailKind::Acknowledgement {
                acknowledged = true;
                tx.bump(&hour_key(now), 1)?;
            }
        }
        let customer_key = ticket.customer.without_detail();
        let mut customer: CustomerRecord = tx_get(
            self.customers,
            "customers",
            customer_key.as_str().as_bytes(),
        )?
        .unwrap_or_default();
        customer.opened(ticket.id, acknowledged, now);
        self.customers
            .insert(customer_key.as_str().as_bytes(), encode(&customer))?;
        tx.count_open(&OpenCounts {
            down: None,
            up: Some(ticket.agent.clone()),
        })?;
        tx.save(&ticket)
    }

    /// Records the outcome with the mail, takes it off the pending list, and queues what the
    /// IMAP server is to be told.
    fn finish(
        &self,
        mut record: Inbound,
        outcome: &Outcome,
        message_id: Option<&str>,
    ) -> TxResult<()> {
        let seq = record.seq;
        record.outcome = Some(outcome.clone());
        record.message_id = message_id.map(str::to_string);
        self.inbound.insert(&be(seq), encode(&record))?;
        self.pending.remove(&be(seq))?;
        if matches!(outcome, Outcome::Quarantined { .. }) {
            self.ticket.meta.insert(quarantine_key(seq), &[])?;
        }
        let key = uid_key(&record.mailbox, record.uid_validity, record.uid);
        match outcome.server_mark() {
            None => {}
            Some(ServerMark::KeywordOnly) => {
                self.flags.insert(key, KEYWORD_ONLY)?;
            }
            Some(ServerMark::Handled) => {
                self.flags.insert(key, &[])?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Applies a processing plan for stored mail `seq` in one transaction: the ticket, its
    /// message index, the customer record, the outbox entries, the mail's outcome, the IMAP
    /// flag job, and the removal from the pending queue. Call [`Store::flush`] afterwards.
    /// `message_id` is recorded with the mail; it is added to the threading index only when
    /// `index` is true (the caller refuses ids that claim to be ours).
    pub fn record_outcome(
        &self,
        seq: u64,
        message_id: Option<&str>,
        index: bool,
        plan: &Plan,
        now: UnixTime,
    ) -> Result<Committed> {
        // Big mails' files first, outside the write gate (see `store_fetched`).
        let spilled = self.spill(plan.outgoing())?;
        let _gate = self.write_gate();
        let trees = (
            &self.inbound,
            &self.pending,
            &self.imap_flags,
            &self.tickets,
            &self.msgids,
            &self.customers,
            &self.outbox,
            &self.outbox_raw,
            &self.outbox_due,
            &self.meta,
        );
        let res = trees.transaction(
            |(
                inbound,
                pending,
                flags,
                tickets,
                msgids,
                customers,
                outbox,
                outbox_raw,
                outbox_due,
                meta,
            )| {
                let tx = MailTx {
                    msgids,
                    ticket: TicketTx {
                        tickets,
                        outbox,
                        outbox_raw,
                        outbox_due,
                        meta,
                        spilled: &spilled,
                    },
                    inbound,
                    pending,
                    flags,
                    customers,
                };
                let Some(record): Option<Inbound> = tx_get(inbound, "inbound", &be(seq))? else {
                    return Ok(None);
                };
                if let Some(outcome) = record.outcome {
                    // Already processed (a retry after a crash between commit and ack).
                    return Ok(Some(Committed {
                        outcome,
                        first_response_after: None,
                    }));
                }
                let first_response_after = tx.apply(&PlanCommit {
                    plan,
                    index_id: message_id.filter(|_| index),
                    stored_at: record.stored_at,
                    now,
                })?;
                let outcome = plan.outcome();
                tx.finish(record, &outcome, message_id)?;
                Ok(Some(Committed {
                    outcome,
                    first_response_after,
                }))
            },
        );
        let res = unwrap_tx(res);
        self.unspill(&spilled);
        res?.ok_or(StoreError::Corrupt {
            tree: "inbound",
            detail: format!("no record for stored mail {seq}"),
        })
    }

    /// Writes the bytes of each mail of `outgoing` too big for sled to its file, under a fresh
    /// outbox id, durably and before the transaction that queues it.
    fn spill(&self, outgoing: &[OutgoingMail]) -> Result<Spilled> {
        let mut spilled = Spilled::new();
        let mut files = Vec::new();
        for mail in outgoing
            .iter()
            .filter(|m| m.raw.len() >= OUT_FILE_THRESHOLD)
        {
            let id = self.db.generate_id()?;
            spilled.insert(mail.message_id.clone(), id);
            files.push((id, mail.raw.as_slice()));
        }
        self.files
            .write_durably(Kind::Out, &files)
            .map_err(|e| self.file_error(e))?;
        Ok(spilled)
    }

    /// Removes the files of spilled mails that no outbox entry or dead letter names (their
    /// transaction failed, or found the work done already). A failure here leaves a file
    /// the next start removes: logged, never the commit's error.
    fn unspill(&self, spilled: &Spilled) {
        let unused: Vec<u64> = spilled.values().copied().collect();
        if let Err(e) = self.drop_sent_files(&unused) {
            tracing::warn!(error = %e, "unused mail files could not be removed; they go at the next start");
        }
    }

    /// An operator's change to a ticket (CLI): state, owner, the new owner's notification and
    /// a history note, in one transaction, with the open counters kept right. Flushed.
    /// With `only_if_unanswered`, nothing happens (and `false` is returned) when the ticket was
    /// answered or closed meanwhile, with `only_if_updated_at` when it changed at all; both
    /// checked inside the transaction.
    pub fn record_ops(
        &self,
        ticket: TicketId,
        change: &TicketChange<'_>,
        now: UnixTime,
    ) -> Result<bool> {
        let done = self.ticket_transaction(change.outgoing, |tx| {
            let mut t = tx.load(ticket)?;
            if change.only_if_unanswered && !t.unanswered() {
                return Ok(false);
            }
            if change
                .only_if_updated_at
                .is_some_and(|at| at != t.updated_at)
            {
                return Ok(false);
            }
            if change.reminded {
                t.reminded_at = Some(now);
            }
            tx.count_open(&t.change(change.state, change.reassign.as_ref(), now))?;
            t.messages.push(TicketMessage::note(now, change.note));
            for mail in change.outgoing {
                tx.queue(&mut t, mail, now, None)?;
            }
            t.updated_at = now;
            tx.save(&t)?;
            Ok(true)
        })?;
        self.db.flush()?;
        Ok(done)
    }

    /// Records an escalation and queues its mail in one transaction; `false` if the ticket
    /// was answered, closed or escalated meanwhile (nothing is queued then).
    pub fn record_escalation(
        &self,
        ticket: TicketId,
        mail: &OutgoingMail,
        now: UnixTime,
    ) -> Result<bool> {
        self.ticket_transaction(std::slice::from_ref(mail), |tx| {
            let Some(mut t): Option<Ticket> = tx_get(tx.tickets, "tickets", &be(ticket.get()))?
            else {
                return Ok(false);
            };
            if !t.may_escalate() {
                return Ok(false);
            }
            t.escalated_at = Some(now);
            tx.queue(&mut t, mail, now, None)?;
            tx.save(&t)?;
            Ok(true)
        })
    }

    /// Runs `change` on a ticket's trees in one transaction, under the write gate; the mails
    /// it may queue are `outgoing` (those too big for sled are written to files first).
    fn ticket_transaction<T>(
        &self,
        outgoing: &[OutgoingMail],
        change: impl Fn(&TicketTx<'_>) -> TxResult<T>,
    ) -> Result<T> {
        let spilled = self.spill(outgoing)?;
        let _gate = self.write_gate();
        let trees = (
            &self.tickets,
            &self.outbox,
            &self.outbox_raw,
            &self.outbox_due,
            &self.meta,
        );
        let res = unwrap_tx(trees.transaction(
            |(tickets, outbox, outbox_raw, outbox_due, meta)| {
                change(&TicketTx {
                    tickets,
                    outbox,
                    outbox_raw,
                    outbox_due,
                    meta,
                    spilled: &spilled,
                })
            },
        ));
        self.unspill(&spilled);
        res
    }
}
