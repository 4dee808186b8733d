//! Incoming mail: the IMAP cursors, the raw bytes stored before anything else happens
//! (flush #1), the UID and digest indexes that keep a mail from being stored twice, the
//! pending queue, the IMAP flag jobs, and quarantine release.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::commit::KEYWORD_ONLY;
use super::files::{IN_FILE_THRESHOLD, Kind};
use super::{
    QUARANTINE_PREFIX, Result, Store, StoreError, be, decode, digest, encode, from_be,
    quarantine_key, tx_get, uid_key, unwrap_tx,
};
use crate::domain::{Cursor, FetchedMail, FlagJob, Inbound, Outcome, ServerMark, UnixTime};

impl Store {
    /// The recorded progress of a mailbox, if any.
    pub fn cursor(&self, mailbox: &str) -> Result<Option<Cursor>> {
        self.cursors
            .get(mailbox)?
            .map(|v| decode("cursors", &v))
            .transpose()
    }

    /// Records progress without storing mail (first start without backfill, or a resync).
    pub fn set_cursor(&self, mailbox: &str, cursor: Cursor) -> Result<()> {
        let _gate = self.write_gate();
        self.cursors.insert(mailbox, encode(&cursor))?;
        Ok(())
    }

    /// Whether this UID was stored already (a retry after a crash between store and cursor).
    pub fn has_uid(&self, mailbox: &str, uid_validity: u32, uid: u32) -> Result<bool> {
        Ok(self
            .by_uid
            .contains_key(uid_key(mailbox, uid_validity, uid))?)
    }

    /// Stores fetched mail and advances the cursor in one transaction; returns the sequence
    /// numbers of the newly stored mails (already-stored UIDs are skipped). Call
    /// [`Store::flush`] before acting on them.
    pub fn store_fetched(
        &self,
        mailbox: &str,
        uid_validity: u32,
        batch: &[impl FetchedMail + Sync],
        now: UnixTime,
    ) -> Result<Vec<u64>> {
        let seqs: Vec<u64> = batch
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<std::result::Result<_, _>>()?;
        let digests: Vec<[u8; 16]> = batch.iter().map(|f| digest(f.raw())).collect();
        // A big mail's bytes go to its file, durably, before any record names it. Only mails
        // that look new (the transaction decides; a file it does not use is removed below).
        let mut fresh = Vec::new();
        for ((f, &seq), d) in batch.iter().zip(&seqs).zip(&digests) {
            if f.raw().len() >= IN_FILE_THRESHOLD
                && !self
                    .by_uid
                    .contains_key(uid_key(mailbox, uid_validity, f.uid()))?
                && !self.digests.contains_key(d)?
            {
                fresh.push((seq, f.raw()));
            }
        }
        // Files first, outside the write gate: a backup's cut waits for the writes that hold
        // it, and must not wait for a 25 MB fsync. (A file before its record is safe either
        // way: the backup copies files after its cut.)
        self.files
            .write_durably(Kind::In, &fresh)
            .map_err(|e| self.file_error(e))?;
        let _gate = self.write_gate();
        let res = (
            &self.inbound,
            &self.raw,
            &self.by_uid,
            &self.pending,
            &self.cursors,
            &self.digests,
        )
            .transaction(|(inbound, raw, by_uid, pending, cursors, digest_tree)| {
                let mut stored = Vec::new();
                let mut cursor: Cursor =
                    tx_get(cursors, "cursors", mailbox.as_bytes())?.unwrap_or(Cursor {
                        uid_validity,
                        last_uid: 0,
                        last_stored_at: now,
                    });
                for ((f, &seq), d) in batch.iter().zip(&seqs).zip(&digests) {
                    let key = uid_key(mailbox, uid_validity, f.uid());
                    if by_uid.get(&key)?.is_some() {
                        // Stored already (a retry after a crash before the cursor moved).
                    } else if let Some(existing) = digest_tree.get(d)? {
                        // The very same bytes under a new UID (moved back from the processed
                        // mailbox, re-uploaded by a syncing client): the same mail, not a new one.
                        by_uid.insert(key, existing)?;
                    } else {
                        let record = Inbound {
                            seq,
                            mailbox: mailbox.to_string(),
                            uid_validity,
                            uid: f.uid(),
                            stored_at: now,
                            size: f.raw().len(),
                            outcome: None,
                            message_id: None,
                        };
                        inbound.insert(&be(seq), encode(&record))?;
                        if f.raw().len() < IN_FILE_THRESHOLD {
                            raw.insert(&be(seq), f.raw())?;
                        }
                        by_uid.insert(key, &be(seq))?;
                        pending.insert(&be(seq), &[])?;
                        digest_tree.insert(d, &be(seq))?;
                        stored.push(seq);
                    }
                    if cursor.uid_validity == uid_validity {
                        cursor.last_uid = cursor.last_uid.max(f.uid());
                    } else {
                        cursor = Cursor {
                            uid_validity,
                            last_uid: f.uid(),
                            last_stored_at: now,
                        };
                    }
                    cursor.last_stored_at = now;
                }
                cursors.insert(mailbox.as_bytes(), encode(&cursor))?;
                Ok(stored)
            });
        let stored = unwrap_tx(res);
        // Files written for mails the transaction found stored already (or whose transaction
        // failed) are named by no record.
        let unused: Vec<u64> = fresh
            .iter()
            .map(|(seq, _)| *seq)
            .filter(|seq| match &stored {
                Ok(stored) => !stored.contains(seq),
                Err(_) => true,
            })
            .collect();
        if let Err(e) = self.files.remove(Kind::In, &unused) {
            tracing::warn!(error = %e, "an unused mail file could not be removed");
        }
        stored
    }

    /// Whether mail with exactly these bytes was stored before (re-synchronisation after a
    /// UIDVALIDITY change compares content, since UIDs no longer mean anything).
    pub fn has_digest(&self, raw: &[u8]) -> Result<bool> {
        Ok(self.digests.contains_key(digest(raw))?)
    }

    /// Stored mail not yet processed, oldest first (after a crash, these are redone).
    pub fn pending(&self) -> Result<Vec<u64>> {
        self.pending
            .iter()
            .keys()
            .map(|k| k.map(|k| from_be(&k)).map_err(StoreError::from))
            .collect()
    }

    /// The raw bytes of a stored mail.
    pub fn raw(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.raw.get(be(seq))? {
            return Ok(Some(v.to_vec()));
        }
        self.files
            .read(Kind::In, seq)
            .map_err(|e| self.file_error(e))
    }

    /// The record of a stored mail.
    pub fn inbound(&self, seq: u64) -> Result<Option<Inbound>> {
        self.inbound
            .get(be(seq))?
            .map(|v| decode("inbound", &v))
            .transpose()
    }

    /// How many stored mails are quarantined now (read from their index, not the records).
    pub fn quarantined_count(&self) -> Result<usize> {
        let mut n = 0;
        for k in self.meta.scan_prefix(QUARANTINE_PREFIX).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// Builds the index of quarantined mail (`meta` keys `quarantine:` + seq) afresh from
    /// the stored mails' outcomes.
    pub(super) fn index_quarantine(&self) -> Result<()> {
        for k in self.meta.scan_prefix(QUARANTINE_PREFIX).keys() {
            self.meta.remove(k?)?;
        }
        for v in self.inbound.iter().values() {
            let r: Inbound = decode("inbound", &v?)?;
            if matches!(r.outcome, Some(Outcome::Quarantined { .. })) {
                self.meta.insert(quarantine_key(r.seq), &[])?;
            }
        }
        Ok(())
    }

    /// Every stored mail's record, oldest first.
    pub fn inbound_all(&self) -> Result<Vec<Inbound>> {
        self.inbound
            .iter()
            .values()
            .map(|v| decode("inbound", &v?))
            .collect()
    }

    /// UIDs of `mailbox` whose flags (or move) are still to be applied on the server.
    pub fn flag_jobs(&self, mailbox: &str) -> Result<Vec<FlagJob>> {
        let mut prefix = mailbox.as_bytes().to_vec();
        prefix.push(0);
        self.imap_flags
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let tail = &k[prefix.len()..];
                Ok(FlagJob {
                    uid_validity: from_be(&tail[..4]) as u32,
                    uid: from_be(&tail[4..8]) as u32,
                    mark: if &*v == KEYWORD_ONLY {
                        ServerMark::KeywordOnly
                    } else {
                        ServerMark::Handled
                    },
                })
            })
            .collect()
    }

    /// Marks flag jobs done.
    pub fn flag_jobs_done(&self, mailbox: &str, jobs: &[FlagJob]) -> Result<()> {
        let _gate = self.write_gate();
        let mut batch = sled::Batch::default();
        for j in jobs {
            batch.remove(uid_key(mailbox, j.uid_validity, j.uid));
        }
        self.imap_flags.apply_batch(batch)?;
        Ok(())
    }

    /// Puts a quarantined mail back into the pending queue (its outcome cleared), so that the
    /// pipeline runs on it again. Flushed. Errors if the mail is not quarantined.
    pub fn release(&self, seq: u64) -> Result<Inbound> {
        let _gate = self.write_gate();
        let res =
            (&self.inbound, &self.pending, &self.meta).transaction(|(inbound, pending, meta)| {
                let Some(mut record): Option<Inbound> = tx_get(inbound, "inbound", &be(seq))?
                else {
                    return Err(ConflictableTransactionError::Abort(StoreError::Corrupt {
                        tree: "inbound",
                        detail: format!("no stored mail {seq}"),
                    }));
                };
                if !matches!(record.outcome, Some(Outcome::Quarantined { .. })) {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::NotQuarantined(seq),
                    ));
                }
                record.outcome = None;
                inbound.insert(&be(seq), encode(&record))?;
                pending.insert(&be(seq), &[])?;
                meta.remove(quarantine_key(seq))?;
                Ok(record)
            });
        let record = unwrap_tx(res)?;
        self.db.flush()?;
        Ok(record)
    }
}
