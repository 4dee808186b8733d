//! The outbox's trees: queued entries and their bytes, the due index, attempts, retries,
//! dead letters and the highest id sent (`meta` `sent_high`). Every change of an entry's next attempt moves
//! its `outbox_due` key in the same transaction.

use sled::Transactional;
use sled::transaction::TransactionalTree;

use super::files::Kind;
use super::{
    Result, SENT_HIGH, Store, StoreError, TxResult, be, decode, due_key, encode, from_be,
    split_due_key, tx_get, unwrap_tx,
};
use crate::domain::{DeadLetter, OutboxEntry, OutgoingMail, UnixTime};

/// A mail the SMTP server accepted, to be recorded as sent ([`Store::mark_sent_all`]).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The outbox entry as attempted.
    pub entry: OutboxEntry,
    /// The server's reply to the data (logged at debug; schema 3 keeps no record of it).
    pub response: String,
    /// When the server accepted it (logged at debug with the reply).
    pub at: UnixTime,
}

impl Store {
    /// Queues a mail that belongs to no ticket (an ops alert). Flushed.
    pub fn queue_standalone(&self, mail: &OutgoingMail, now: UnixTime) -> Result<()> {
        let _gate = self.write_gate();
        let id = self.db.generate_id()?;
        let entry = OutboxEntry::queued(id, mail, None, now, None);
        let res: sled::transaction::TransactionResult<(), StoreError> =
            (&self.outbox, &self.outbox_raw, &self.outbox_due).transaction(
                |(outbox, outbox_raw, outbox_due)| {
                    outbox.insert(&be(id), encode(&entry))?;
                    outbox_raw.insert(&be(id), mail.raw.as_slice())?;
                    outbox_due.insert(&due_key(entry.next_attempt_at, id), &[])?;
                    Ok(())
                },
            );
        unwrap_tx(res)?;
        self.db.flush()?;
        Ok(())
    }

    /// Outbox entries due at `now` (by next attempt, then id; at most `limit`), and when
    /// the earliest entry not yet due becomes due (`None` when `limit` was reached first, or
    /// nothing waits). A range scan of the due index: it reads the entries it returns and
    /// one key more, however long the outbox is.
    pub fn due(&self, now: UnixTime, limit: usize) -> Result<(Vec<OutboxEntry>, Option<UnixTime>)> {
        let mut due = Vec::new();
        for k in self.outbox_due.iter().keys() {
            let k = k?;
            let (at, id) = split_due_key(&k);
            if at > now {
                return Ok((due, Some(at)));
            }
            if due.len() == limit {
                break;
            }
            match self.outbox.get(be(id))? {
                Some(v) => due.push(decode("outbox", &v)?),
                // An entry that left without its key (never by this build): drop the key.
                None => {
                    let _gate = self.write_gate();
                    self.outbox_due.remove(&k)?;
                }
            }
        }
        Ok((due, None))
    }

    /// Builds the due index afresh from the outbox's entries (a store written before it).
    pub(super) fn index_outbox_due(&self) -> Result<()> {
        self.outbox_due.clear()?;
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            self.outbox_due
                .insert(due_key(e.next_attempt_at, e.id), &[])?;
        }
        Ok(())
    }

    /// How many mails wait in the outbox, and how many in the dead letters.
    pub fn outbox_counts(&self) -> Result<(usize, usize)> {
        Ok((self.outbox.len(), self.dead.len()))
    }

    /// When the oldest mail still in the outbox was queued (for the health check).
    pub fn oldest_queued(&self) -> Result<Option<UnixTime>> {
        let mut oldest: Option<UnixTime> = None;
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            oldest = Some(oldest.map_or(e.created_at, |o| o.min(e.created_at)));
        }
        Ok(oldest)
    }

    /// The bytes of an outbox entry.
    pub fn outbox_raw(&self, id: u64) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.outbox_raw.get(be(id))? {
            return Ok(Some(v.to_vec()));
        }
        self.files
            .read(Kind::Out, id)
            .map_err(|e| self.file_error(e))
    }

    /// Every pending outbox entry.
    pub fn outbox_entries(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox
            .iter()
            .values()
            .map(|v| decode("outbox", &v?))
            .collect()
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.dead
            .iter()
            .values()
            .map(|v| decode("dead", &v?))
            .collect()
    }

    /// Counts the attempt before it is made, so `outbox list` shows attempts that ended in a
    /// crash too (the count is durable at the outbox's next flush).
    pub fn begin_attempt(&self, entry: &OutboxEntry) -> Result<OutboxEntry> {
        let _gate = self.write_gate();
        let mut e = entry.clone();
        e.attempts += 1;
        self.outbox.insert(be(e.id), encode(&e))?;
        Ok(e)
    }

    /// The server accepted the mail: it leaves the outbox (see [`Store::mark_sent_all`]).
    /// `true` when its bytes are a file: it stays until the outbox's next flush made this
    /// durable (a crash before it sends the mail again from it), then
    /// [`Store::drop_sent_files`] removes it.
    pub fn mark_sent(&self, entry: &OutboxEntry, response: &str, now: UnixTime) -> Result<bool> {
        let sent = [Accepted {
            entry: entry.clone(),
            response: response.to_string(),
            at: now,
        }];
        Ok(!self.mark_sent_all(&sent)?.is_empty())
    }

    /// Mails the server accepted leave the outbox together, in one transaction: each sled
    /// transaction writes its log buffer twice (sled 0.34 seals the buffer around the batch
    /// manifest), so the outbox records a round of sends at once rather than one by one. A
    /// crash before the round's flush sends them again either way. No record per sent mail
    /// stays (the ticket's history says what was sent): only the highest id ever sent moves
    /// up (`meta` [`SENT_HIGH`]), so a restore starts new ids above it. Returns the ids whose
    /// bytes are files, to remove once this is durable ([`Store::drop_sent_files`]).
    pub fn mark_sent_all(&self, sent: &[Accepted]) -> Result<Vec<u64>> {
        let Some(top) = sent.iter().map(|a| a.entry.id).max() else {
            return Ok(Vec::new());
        };
        let _gate = self.write_gate();
        for a in sent {
            tracing::debug!(
                event = "store.sent",
                id = a.entry.id,
                at = a.at,
                response = a.response,
                "outbox entry sent"
            );
        }
        let res = (&self.outbox, &self.outbox_raw, &self.outbox_due, &self.meta).transaction(
            |(outbox, raw, outbox_due, meta)| {
                let mut files = Vec::new();
                for a in sent {
                    let id = a.entry.id;
                    unqueue(outbox, outbox_due, id)?;
                    if raw.remove(&be(id))?.is_none() {
                        files.push(id);
                    }
                }
                let high = meta.get(SENT_HIGH)?.map_or(0, |v| from_be(&v));
                if top > high {
                    meta.insert(SENT_HIGH, &be(top))?;
                }
                Ok(files)
            },
        );
        unwrap_tx(res)
    }

    /// Moves dead letters (all, or one) back into the outbox to be sent at once, with a fresh
    /// give-up window; returns how many. Flushed.
    pub fn retry_dead(&self, only: Option<u64>, now: UnixTime) -> Result<usize> {
        let _gate = self.write_gate();
        let dead = self.dead_letters()?;
        let mut n = 0;
        for d in dead
            .into_iter()
            .filter(|d| only.is_none_or(|id| d.entry.id == id))
        {
            let mut e = d.entry.clone();
            e.next_attempt_at = 0;
            e.created_at = now;
            e.last_error = Some(format!("retried after: {}", d.error));
            let entry = encode(&e);
            let res = (&self.outbox, &self.outbox_due, &self.dead).transaction(
                |(outbox, outbox_due, dead_tree)| {
                    unqueue(outbox, outbox_due, e.id)?;
                    outbox.insert(&be(e.id), entry.as_slice())?;
                    outbox_due.insert(&due_key(e.next_attempt_at, e.id), &[])?;
                    dead_tree.remove(&be(e.id))?;
                    Ok(())
                },
            );
            unwrap_tx(res)?;
            n += 1;
        }
        self.db.flush()?;
        Ok(n)
    }

    /// A temporary failure: try again at `next_at`.
    pub fn mark_retry(&self, entry: &OutboxEntry, next_at: UnixTime, error: &str) -> Result<()> {
        let _gate = self.write_gate();
        let mut e = entry.clone();
        e.next_attempt_at = next_at;
        e.last_error = Some(error.to_string());
        let value = encode(&e);
        let res = (&self.outbox, &self.outbox_due).transaction(|(outbox, outbox_due)| {
            unqueue(outbox, outbox_due, e.id)?;
            outbox.insert(&be(e.id), value.as_slice())?;
            outbox_due.insert(&due_key(e.next_attempt_at, e.id), &[])?;
            Ok(())
        });
        unwrap_tx(res)
    }

    /// A permanent failure: the entry moves to the dead letters (its bytes stay for a retry).
    pub fn mark_dead(&self, entry: &OutboxEntry, error: &str, now: UnixTime) -> Result<()> {
        let _gate = self.write_gate();
        let dead = encode(&DeadLetter {
            entry: entry.clone(),
            error: error.to_string(),
            at: now,
        });
        let res = (&self.outbox, &self.outbox_due, &self.dead).transaction(
            |(outbox, outbox_due, dead_tree)| {
                unqueue(outbox, outbox_due, entry.id)?;
                dead_tree.insert(&be(entry.id), dead.as_slice())?;
                Ok(())
            },
        );
        unwrap_tx(res)
    }
}

/// Removes outbox entry `id` and its due key (read from the entry as stored, whatever the
/// caller's copy says), inside a transaction.
pub(super) fn unqueue(
    outbox: &TransactionalTree,
    outbox_due: &TransactionalTree,
    id: u64,
) -> TxResult<()> {
    if let Some(old) = tx_get::<OutboxEntry>(outbox, "outbox", &be(id))? {
        outbox_due.remove(&due_key(old.next_attempt_at, id))?;
    }
    outbox.remove(&be(id))?;
    Ok(())
}
