//! Taking mail off the server: the UIDs above the cursor, fetched with `BODY.PEEK[]` in
//! batches sized by RFC822.SIZE, stored with the cursor in one transaction and flushed
//! (flush #1, before anything else happens to a mail), then handed to the [`Processor`].
//! Also the searches the cursor rules ask for (the highest UID marked handled, a backfill
//! window's dates) and the re-sync after the UIDs were reset.
//!
//! [`Processor`]: crate::processor::Processor

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use jiff::Timestamp;
use tokio::sync::watch;
use tracing::warn;

use super::cursor::{self, HeldBack, NoBody, Selected};
use super::{HANDLED, ImapSession, Ingest, IngestError, uid_set};
use crate::domain::{FetchedMail, Outcome, UnixTime, now};
use crate::store::StoreError;

/// How many of the highest handled UIDs in `processed_mailbox` are read for their dates:
/// the most recently moved, among which is the newest arrival.
const MOVED_SAMPLE: usize = 100;

/// A fetched mail, its bytes still in the IMAP response that carried them: stored from
/// there, so a 25 MB mail is not copied into a `Vec` of its own first (the response and the
/// copy were both alive until the batch was stored).
struct ImapMail {
    uid: u32,
    /// Holds a body (`fetch_batch` keeps no other).
    fetch: async_imap::types::Fetch,
}

impl FetchedMail for ImapMail {
    fn uid(&self) -> u32 {
        self.uid
    }

    fn raw(&self) -> &[u8] {
        self.fetch.body().unwrap_or_default()
    }
}

/// UIDs fetched together, and their total size.
struct SizeBatch {
    uids: Vec<u32>,
    bytes: u64,
}

impl Ingest {
    /// Fetches, stores (durably) and processes every UID above the cursor.
    /// Stops between batches once `shutdown` turns true: what is stored is processed, the
    /// rest waits on the server for the next run.
    pub(super) async fn fetch_new(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        keywords: bool,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        // Mail stored earlier whose processing failed (e.g. a store error): retry it first.
        let leftovers = self.store.pending()?;
        self.process(&leftovers).await?;
        let last = self.store.cursor(&self.key)?.map_or(0, |c| c.last_uid);
        let query = cursor::new_mail_query(last, keywords);
        let found = self
            .bounded(t, "UID SEARCH", session.uid_search(query))
            .await?;
        for chunk in cursor::new_mail(last, found).chunks(self.cfg.fetch_batch) {
            let held_back = self.store_chunk(session, uid_validity, chunk, last).await?;
            if held_back.is_some() || *shutdown.borrow() {
                break;
            }
        }
        Ok(())
    }

    /// Fetches one chunk of new mail, stores what may be stored with the cursor moved past
    /// it (flush #1), then processes it. Returns the UID held back, if one is.
    async fn store_chunk(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        chunk: &[u32],
        last: u32,
    ) -> Result<Option<u32>, IngestError> {
        let mut batch = self.fetch_bodies(session, chunk).await?;
        let missing: Vec<u32> = chunk
            .iter()
            .copied()
            .filter(|u| !batch.iter().any(|f| f.uid == *u))
            .collect();
        // A UID without a body is skipped only if it is really gone (expunged between
        // SEARCH and FETCH); otherwise the cursor stops before it and we try again.
        let held = self.held_back(session, &missing).await?;
        batch.retain(|f| held.keeps(f.uid));
        let seqs = self.store_batch(uid_validity, batch).await?;
        self.metrics.ingested(seqs.len());
        let reached = cursor::reached(chunk, held.first, last);
        let stored = self.store.cursor(&self.key)?;
        if let Some(c) = cursor::advance(stored, uid_validity, reached, now()) {
            self.store.set_cursor(&self.key, c)?;
        }
        // The raw mail is durable before anything else happens to it.
        self.store.flush().await?;
        self.process(&seqs).await?;
        Ok(held.first)
    }

    /// Of UIDs the server sent no body for, which hold the cursor back: those that still
    /// exist, unless one has failed so often that holding the whole mailbox back for it
    /// would do more harm ([`BodyFailures::judge`]).
    ///
    /// [`BodyFailures::judge`]: cursor::BodyFailures::judge
    async fn held_back(
        &self,
        session: &mut ImapSession,
        missing: &[u32],
    ) -> Result<HeldBack, IngestError> {
        if missing.is_empty() {
            return Ok(HeldBack::default());
        }
        let t = self.cfg.command_timeout;
        let still: Vec<u32> = self
            .bounded(
                t,
                "UID SEARCH",
                session.uid_search(format!("UID {}", uid_set(missing))),
            )
            .await?
            .into_iter()
            .collect();
        let held = self
            .body_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .judge(missing, &still);
        for &(uid, verdict) in &held.verdicts {
            match verdict {
                NoBody::Skip => tracing::error!(
                    event = "imap.no-body",
                    uid,
                    "the server returns no body for this message; skipping it (it stays unread on the server)"
                ),
                NoBody::Retry { attempt } => warn!(
                    event = "imap.no-body",
                    uid, attempt, "the server returned no body; will retry"
                ),
            }
        }
        Ok(held)
    }

    /// Fetches the bodies of `uids` with `BODY.PEEK[]`, in batches by size. A UID the
    /// server sends no body for is missing from the result.
    async fn fetch_bodies(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<ImapMail>, IngestError> {
        let mut out = Vec::new();
        for batch in self.size_batches(session, uids).await? {
            out.extend(self.fetch_batch(session, &batch.uids, batch.bytes).await?);
        }
        Ok(out)
    }

    /// Splits UIDs into FETCH batches of about 16 MiB by RFC822.SIZE, so that one slow or
    /// huge batch cannot exceed its timeout on every attempt. A single UID (the common
    /// case, a new mail) costs no extra round trip.
    async fn size_batches(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<SizeBatch>, IngestError> {
        const BATCH_BYTES: u64 = 16 * 1024 * 1024;
        if uids.len() <= 1 {
            return Ok(vec![SizeBatch {
                uids: uids.to_vec(),
                bytes: 0,
            }]);
        }
        let sizes: HashMap<u32, u64> = self
            .bounded(self.cfg.command_timeout, "UID FETCH", async {
                session
                    .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?
            .iter()
            .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
            .collect();
        let mut batches: Vec<SizeBatch> = Vec::new();
        for &uid in uids {
            let size = sizes.get(&uid).copied().unwrap_or(0);
            match batches.last_mut() {
                Some(b) if b.bytes + size <= BATCH_BYTES => {
                    b.uids.push(uid);
                    b.bytes += size;
                }
                _ => batches.push(SizeBatch {
                    uids: vec![uid],
                    bytes: size,
                }),
            }
        }
        Ok(batches)
    }

    /// One `UID FETCH (UID BODY.PEEK[])` of about `bytes` in all.
    async fn fetch_batch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        bytes: u64,
    ) -> Result<Vec<ImapMail>, IngestError> {
        let set = uid_set(uids);
        // Allow for slow links: the command timeout, plus a second per MiB.
        let t = self.cfg.command_timeout + Duration::from_secs(bytes / (1024 * 1024));
        let fetches: Vec<_> = self
            .bounded(t, "UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        let mut by_uid: HashMap<u32, async_imap::types::Fetch> = HashMap::new();
        for f in fetches {
            if let Some(uid) = f.uid
                && f.body().is_some()
            {
                by_uid.insert(uid, f);
            }
        }
        Ok(uids
            .iter()
            .filter_map(|uid| {
                by_uid
                    .remove(uid)
                    .map(|fetch| ImapMail { uid: *uid, fetch })
            })
            .collect())
    }

    /// Stores a fetched batch (its files written and synced, then its records) on a blocking
    /// thread: file system waits never hold an async worker, which the other inboxes and the
    /// outbox share. The batch's bytes are freed there once stored.
    async fn store_batch(
        &self,
        uid_validity: u32,
        batch: Vec<ImapMail>,
    ) -> Result<Vec<u64>, IngestError> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let seqs = tokio::task::spawn_blocking(move || {
            store.store_fetched(&key, uid_validity, &batch, now())
        })
        .await
        .map_err(|e| StoreError::WorkerFailed(e.to_string()))??;
        Ok(seqs)
    }

    /// Hands stored mail to the processor, flushes its decisions (flush #2) and wakes the
    /// outbox; the acknowledgement latency of new tickets starts at the last notice. The
    /// batch is decided and committed on one blocking thread (parsing a big mail and sled's
    /// transactions are CPU and disk work, not for an async worker); one hand-off per
    /// batch, not per mail. The first failure ends the batch, as it always did.
    pub(super) async fn process(&self, seqs: &[u64]) -> Result<(), IngestError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let noticed = *self.noticed.lock().unwrap_or_else(|p| p.into_inner());
        let (processor, owned, beat) = (self.processor.clone(), seqs.to_vec(), self.beat.clone());
        let results = tokio::task::spawn_blocking(move || {
            let mut results = Vec::with_capacity(owned.len());
            for seq in owned {
                let r = processor.process(seq);
                // Each mail is progress: a batch of big mails must not look like a stall.
                beat.progress();
                let failed = r.is_err();
                results.push(r);
                if failed {
                    break;
                }
            }
            results
        })
        .await
        .map_err(|e| StoreError::WorkerFailed(e.to_string()))?;
        for r in results {
            if let Some(Outcome::NewTicket { ticket, .. } | Outcome::Joined { ticket, .. }) = r? {
                self.metrics.ack_started(ticket, noticed);
            }
        }
        self.store.flush().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// The highest UID the server marks as handled by us, if any.
    pub(super) async fn handled_on_server(
        &self,
        session: &mut ImapSession,
    ) -> Result<Option<u32>, IngestError> {
        let uids = self
            .bounded(
                self.cfg.command_timeout,
                "UID SEARCH",
                session.uid_search(format!("KEYWORD {HANDLED}")),
            )
            .await?;
        Ok(uids.into_iter().max())
    }

    /// When the newest mail marked handled in `processed` arrived (its INTERNALDATE, which
    /// a move keeps, like the keyword set before the move), if any is. `processed` is
    /// EXAMINEd (read-only): the caller selects its own mailbox afterwards. Only the
    /// [`MOVED_SAMPLE`] highest UIDs are read: the most recently moved.
    pub(super) async fn newest_moved(
        &self,
        session: &mut ImapSession,
        processed: &str,
    ) -> Result<Option<UnixTime>, IngestError> {
        let t = self.cfg.command_timeout;
        match self.bounded(t, "EXAMINE", session.examine(processed)).await {
            Ok(_) => {}
            // Not there (a person removed it): nothing moved there can be seen.
            Err(IngestError::Imap(_, async_imap::error::Error::No(_))) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut uids: Vec<u32> = self
            .bounded(
                t,
                "UID SEARCH",
                session.uid_search(format!("KEYWORD {HANDLED}")),
            )
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        let newest = &uids[uids.len().saturating_sub(MOVED_SAMPLE)..];
        if newest.is_empty() {
            return Ok(None);
        }
        let dates = self.internal_dates(session, newest).await?;
        Ok(dates.into_iter().filter_map(|(_, d)| d).max())
    }

    /// Each of `uids` with its INTERNALDATE (`UID FETCH (UID INTERNALDATE)`).
    async fn internal_dates(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<(u32, Option<UnixTime>)>, IngestError> {
        let fetched = self
            .bounded(self.cfg.command_timeout, "UID FETCH", async {
                session
                    .uid_fetch(uid_set(uids), "(UID INTERNALDATE)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        Ok(fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.internal_date().map(|d| d.timestamp()))))
            .collect())
    }

    /// The UIDs a window of arrival times may hold (SEARCH SINCE its day), each with its
    /// INTERNALDATE: a first start's backfill ([`cursor::backfill_start`]), or the mail
    /// since the newest moved handled one ([`cursor::recovered`]).
    pub(super) async fn backfill_dates(
        &self,
        session: &mut ImapSession,
        since: Timestamp,
    ) -> Result<Vec<(u32, Option<UnixTime>)>, IngestError> {
        let uids = self.search_since(session, since, false).await?;
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        self.internal_dates(session, &uids).await
    }

    /// Re-reads the mail SEARCH SINCE `since` finds after the UIDs were reset, chunk by
    /// chunk, leaving out mail marked handled when the server keeps `keywords`:
    /// `store_fetched` keeps only content it has not stored before (by digest) and moves
    /// the cursor in the same transaction. Then [`cursor::after_resync`] settles it.
    pub(super) async fn resync(
        &self,
        session: &mut ImapSession,
        selected: Selected,
        since: Timestamp,
        keywords: bool,
    ) -> Result<(), IngestError> {
        for chunk in self
            .search_since(session, since, keywords)
            .await?
            .chunks(self.cfg.fetch_batch)
        {
            let batch = self.fetch_bodies(session, chunk).await?;
            let seqs = self.store_batch(selected.uid_validity, batch).await?;
            self.store.flush().await?;
            self.process(&seqs).await?;
        }
        // Anything below UIDNEXT that was not in the window is history.
        let stored = self.store.cursor(&self.key)?;
        if let Some(c) = cursor::after_resync(stored, selected, now()) {
            self.store.set_cursor(&self.key, c)?;
            self.store.flush().await?;
        }
        Ok(())
    }

    /// `UID SEARCH SINCE` the day of `since` (without mail marked handled, with
    /// `unhandled`), ascending.
    async fn search_since(
        &self,
        session: &mut ImapSession,
        since: Timestamp,
        unhandled: bool,
    ) -> Result<Vec<u32>, IngestError> {
        let query = cursor::since_query(since, unhandled);
        let mut uids: Vec<u32> = self
            .bounded(
                self.cfg.command_timeout,
                "UID SEARCH",
                session.uid_search(query),
            )
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }
}
