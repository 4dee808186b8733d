//! Erasing a customer (`customer forget`) and purging old message bodies (retention).

use std::collections::HashSet;

use serde::Serialize;
use sled::Transactional;

use super::commit::count_open;
use super::files::Kind;
use super::outbox::unqueue;
use super::{Result, Store, be, decode, encode, flood_key, from_be, tx_get, unwrap_tx};
use crate::domain::{
    DeadLetter, EmailAddress, Inbound, OutboxEntry, Outcome, Ticket, TicketId, UnixTime,
};

impl Store {
    /// Erases a customer (`customer forget`): their tickets become tombstones (closed, no
    /// address, name, subjects, Message-IDs or notes), the raw bytes of `seqs` (their mail) go,
    /// mail still queued to them is dropped, and the customer record with it. No Message-ID
    /// of theirs stays: not in the records of `seqs` and of the mails on their tickets, not
    /// in the threading index (whichever ticket an id points to). One transaction, flushed.
    /// Returns what was erased.
    pub fn forget_customer(
        &self,
        customer: &EmailAddress,
        seqs: &[u64],
        now: UnixTime,
    ) -> Result<ForgetStats> {
        let _gate = self.write_gate();
        let tickets = self.customer_record(customer)?.tickets;
        // Outbox entries and index keys to drop are found outside the transaction (it
        // cannot scan); the gate keeps writers out meanwhile.
        let ours = |e: &OutboxEntry| {
            e.ticket.is_some_and(|t| tickets.contains(&t))
                || e.recipients
                    .iter()
                    .any(|r| r.without_detail() == customer.without_detail())
        };
        let mut outbox_ids = Vec::new();
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            if ours(&e) {
                outbox_ids.push(e.id);
            }
        }
        let mut dead_ids = Vec::new();
        for v in self.dead.iter().values() {
            let d: DeadLetter = decode("dead", &v?)?;
            if ours(&d.entry) {
                dead_ids.push(d.entry.id);
            }
        }
        // Their Message-IDs: those on their tickets (read before they become tombstones), and
        // those of their stored mails.
        let mut ids: HashSet<String> = HashSet::new();
        for id in &tickets {
            if let Some(t) = self.ticket(*id)? {
                ids.extend(t.messages.into_iter().filter_map(|m| m.message_id));
            }
        }
        // Stored mails with an id: its sequence, the id, and the ticket it is part of.
        let mut with_id = Vec::new();
        for v in self.inbound.iter().values() {
            let r: Inbound = decode("inbound", &v?)?;
            if let Some(id) = r.message_id {
                if seqs.contains(&r.seq) {
                    ids.insert(id.clone());
                }
                with_id.push((r.seq, id, r.outcome.as_ref().and_then(Outcome::ticket)));
            }
        }
        // Every stored mail of theirs, part of their tickets, or carrying one of their ids.
        let records: Vec<u64> = with_id
            .into_iter()
            .filter(|(seq, id, ticket)| {
                seqs.contains(seq)
                    || ids.contains(id)
                    || ticket.is_some_and(|t| tickets.contains(&t))
            })
            .map(|(seq, ..)| seq)
            .collect();
        let mut msgid_keys = Vec::new();
        for kv in self.msgids.iter() {
            let (k, v) = kv?;
            if tickets.contains(&TicketId::new(from_be(&v)))
                || std::str::from_utf8(&k).is_ok_and(|id| ids.contains(id))
            {
                msgid_keys.push(k.to_vec());
            }
        }
        let stats = ForgetStats {
            tickets: tickets.len(),
            mails: seqs.len(),
            queued_dropped: outbox_ids.len() + dead_ids.len(),
        };
        // Their big mails' files go first (synced): an erasure a crash interrupts after
        // this is done again by running it again, never undone.
        self.files
            .remove(Kind::In, seqs)
            .map_err(|e| self.file_error(e))?;
        let queued: Vec<u64> = outbox_ids.iter().chain(&dead_ids).copied().collect();
        self.files
            .remove(Kind::Out, &queued)
            .map_err(|e| self.file_error(e))?;
        let res = (
            &self.tickets,
            &self.meta,
            &self.customers,
            &self.msgids,
            &self.inbound,
            &self.raw,
            &self.outbox,
            &self.outbox_raw,
            &self.outbox_due,
            &self.dead,
        )
            .transaction(
                |(
                    t_tree,
                    meta,
                    customers,
                    msgids,
                    inbound,
                    raw,
                    outbox,
                    outbox_raw,
                    outbox_due,
                    dead,
                )| {
                    for id in &tickets {
                        let Some(mut t): Option<Ticket> = tx_get(t_tree, "tickets", &be(id.get()))?
                        else {
                            continue;
                        };
                        count_open(meta, &t.forget(now))?;
                        t_tree.insert(&be(id.get()), encode(&t))?;
                        meta.remove(flood_key(*id))?;
                    }
                    customers.remove(customer.without_detail().as_str())?;
                    for k in &msgid_keys {
                        msgids.remove(k.as_slice())?;
                    }
                    for seq in &records {
                        if let Some(mut r) = tx_get::<Inbound>(inbound, "inbound", &be(*seq))? {
                            r.message_id = None;
                            inbound.insert(&be(*seq), encode(&r))?;
                        }
                    }
                    for seq in seqs {
                        raw.remove(&be(*seq))?;
                    }
                    for id in outbox_ids.iter().chain(&dead_ids) {
                        unqueue(outbox, outbox_due, *id)?;
                        outbox_raw.remove(&be(*id))?;
                        dead.remove(&be(*id))?;
                    }
                    Ok(())
                },
            );
        unwrap_tx(res)?;
        self.db.flush()?;
        Ok(stats)
    }

    /// Deletes the raw bytes of mail stored before `cutoff` (retention); the records, their
    /// outcomes and the tickets stay. Returns how many were purged.
    ///
    /// Sequence numbers grow with time, so each run starts where the last one stopped (the
    /// `meta` key `purged_below`) and stops at the first mail still within the window or not
    /// yet decided: an hourly purge reads the mails of the last hour, not the whole store.
    pub fn purge_raw_before(&self, cutoff: UnixTime) -> Result<usize> {
        let _gate = self.write_gate();
        let from = self.meta.get(PURGED_BELOW)?.map_or(0, |v| from_be(&v));
        let mut seqs = Vec::new();
        let mut below = from;
        for kv in self.inbound.range(be(from)..) {
            let (k, v) = kv?;
            let record: Inbound = decode("inbound", &v)?;
            if record.stored_at >= cutoff || record.outcome.is_none() {
                break;
            }
            seqs.push(record.seq);
            below = from_be(&k) + 1;
        }
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for seq in &seqs {
            if self.raw.contains_key(be(*seq))? {
                batch.remove(&be(*seq));
                n += 1;
            }
        }
        self.raw.apply_batch(batch)?;
        n += self
            .files
            .remove(Kind::In, &seqs)
            .map_err(|e| self.file_error(e))?;
        if below != from {
            self.meta.insert(PURGED_BELOW, &be(below))?;
        }
        Ok(n)
    }
}

/// The `meta` key below which every mail's bytes were purged by retention.
const PURGED_BELOW: &[u8] = b"purged_below";

/// What `customer forget` erased.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ForgetStats {
    /// Tickets turned into tombstones.
    pub tickets: usize,
    /// Stored mails whose bytes were deleted.
    pub mails: usize,
    /// Queued or dead mails to them that were dropped.
    pub queued_dropped: usize,
}
