//! Taking mail off the server: the UIDs above the cursor, fetched with `BODY.PEEK[]` in
//! batches sized by RFC822.SIZE, stored with the cursor in one transaction and flushed
//! (flush #1, before anything else happens to a mail), then handed to the [`Processor`].
//!
//! [`Processor`]: crate::processor::Processor

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::warn;

use super::{HANDLED, ImapSession, Ingest, IngestError, bounded, uid_set};
use crate::domain::{Cursor, Fetched, Outcome, now};

/// UIDs fetched together, and their total size.
struct SizeBatch {
    uids: Vec<u32>,
    bytes: u64,
}

impl Ingest {
    pub(super) async fn fetch_bodies(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Fetched>, IngestError> {
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
        let sizes: HashMap<u32, u64> = bounded(self.cfg.command_timeout, "UID FETCH", async {
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

    async fn fetch_batch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        bytes: u64,
    ) -> Result<Vec<Fetched>, IngestError> {
        let set = uid_set(uids);
        // Allow for slow links: the command timeout, plus a second per MiB.
        let t = self.cfg.command_timeout + Duration::from_secs(bytes / (1024 * 1024));
        let fetches: Vec<_> = bounded(t, "UID FETCH", async {
            session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let mut by_uid: HashMap<u32, Vec<u8>> = HashMap::new();
        for f in &fetches {
            if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                by_uid.insert(uid, body.to_vec());
            }
        }
        Ok(uids
            .iter()
            .filter_map(|uid| by_uid.remove(uid).map(|raw| Fetched { uid: *uid, raw }))
            .collect())
    }

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
        // `UID n:*` always matches the highest UID even below n (RFC 3501 §6.4.8): filter.
        // Mail already marked handled is skipped: after a restore from an older backup the
        // cursor is behind, but nobody is answered twice.
        let unhandled = if keywords {
            format!(" UNKEYWORD {HANDLED}")
        } else {
            String::new()
        };
        let mut uids: Vec<u32> = bounded(
            t,
            "UID SEARCH",
            session.uid_search(format!("UID {}:*{unhandled}", last.saturating_add(1))),
        )
        .await?
        .into_iter()
        .filter(|&u| u > last)
        .collect();
        uids.sort_unstable();
        for chunk in uids.chunks(self.cfg.fetch_batch) {
            let mut batch = self.fetch_bodies(session, chunk).await?;
            let missing: Vec<u32> = chunk
                .iter()
                .copied()
                .filter(|u| !batch.iter().any(|f| f.uid == *u))
                .collect();
            // A UID without a body is skipped only if it is really gone (expunged between
            // SEARCH and FETCH); otherwise the cursor stops before it and we try again.
            let blocked = self.blocking_uid(session, &missing).await?;
            if let Some(b) = blocked {
                batch.retain(|f| f.uid < b);
            }
            let seqs = self
                .store
                .store_fetched(&self.key, uid_validity, &batch, now())?;
            self.metrics.ingested(seqs.len());
            let reached = match blocked {
                Some(b) => b.saturating_sub(1),
                None => chunk.last().copied().unwrap_or(last),
            };
            let mut c = self.store.cursor(&self.key)?.unwrap_or(Cursor {
                uid_validity,
                last_uid: 0,
                last_stored_at: now(),
            });
            if c.last_uid < reached {
                c.last_uid = reached;
                self.store.set_cursor(&self.key, c)?;
            }
            // The raw mail is durable before anything else happens to it.
            self.store.flush().await?;
            self.process(&seqs).await?;
            if blocked.is_some() || *shutdown.borrow() {
                break;
            }
        }
        Ok(())
    }

    /// Of UIDs the server sent no body for, the first one that still exists, unless it has
    /// failed so often that holding the whole mailbox back for it would do more harm.
    async fn blocking_uid(
        &self,
        session: &mut ImapSession,
        missing: &[u32],
    ) -> Result<Option<u32>, IngestError> {
        if missing.is_empty() {
            return Ok(None);
        }
        let t = self.cfg.command_timeout;
        let still: Vec<u32> = bounded(
            t,
            "UID SEARCH",
            session.uid_search(format!("UID {}", uid_set(missing))),
        )
        .await?
        .into_iter()
        .filter(|u| missing.contains(u))
        .collect();
        let mut failures = self.body_failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut blocked = None;
        for uid in missing.iter().copied().filter(|u| still.contains(u)) {
            let n = failures.entry(uid).or_insert(0);
            *n += 1;
            if *n >= 5 {
                tracing::error!(
                    event = "imap.no-body",
                    uid,
                    "the server returns no body for this message; skipping it (it stays unread on the server)"
                );
                continue;
            }
            warn!(
                event = "imap.no-body",
                uid,
                attempt = *n,
                "the server returned no body; will retry"
            );
            blocked = Some(blocked.map_or(uid, |b: u32| b.min(uid)));
        }
        Ok(blocked)
    }

    pub(super) async fn process(&self, seqs: &[u64]) -> Result<(), IngestError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let noticed = *self.noticed.lock().unwrap_or_else(|p| p.into_inner());
        for &seq in seqs {
            if let Some(Outcome::NewTicket { ticket, .. } | Outcome::Joined { ticket, .. }) =
                self.processor.process(seq)?
            {
                self.metrics.ack_started(ticket, noticed);
            }
        }
        self.store.flush().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}
