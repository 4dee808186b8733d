//! Marking decided mail on the server, after its decision is durable (flush #2): the
//! [`HANDLED`] keyword on everything decided, and `\Seen` (or a move to
//! `processed_mailbox`) on ticket mail. This is bookkeeping for people and for a store
//! rebuilt from scratch, not progress: a failure is retried next round and blocks nothing.

use futures::TryStreamExt;
use tracing::warn;

use super::{ImapSession, Ingest, IngestError, uid_set};
use crate::domain::{FlagJob, ServerMark};

/// The IMAP keyword on every mail Frontdesk has decided (a ticket, or a suppression): what a
/// store rebuilt from scratch recognises, so that a lost store never answers a mail twice.
pub const HANDLED: &str = "$Frontdesk";

impl Ingest {
    /// Flags processed mail `\Seen`, or moves it. Progress never depends on this: a failure
    /// is logged and retried on the next round.
    pub(super) async fn apply_flags(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        has_move: bool,
        keywords: bool,
    ) -> Result<(), IngestError> {
        let jobs = self.store.flag_jobs(&self.key)?;
        if jobs.is_empty() {
            return Ok(());
        }
        let (current, stale): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .partition(|j| j.uid_validity == uid_validity);
        self.store.flag_jobs_done(&self.key, &stale)?;
        // Suppressed mail only gets the handled keyword; ticket mail is also read or moved.
        let (tickets, others): (Vec<FlagJob>, Vec<FlagJob>) = current
            .into_iter()
            .partition(|j| j.mark == ServerMark::Handled);
        for group in [others, tickets] {
            let is_ticket = group.first().is_some_and(|j| j.mark == ServerMark::Handled);
            let mut uids: Vec<u32> = group.iter().map(|j| j.uid).collect();
            uids.sort_unstable();
            for chunk in uids.chunks(500) {
                let set = uid_set(chunk);
                let result = if is_ticket {
                    self.retire(session, &set, has_move, keywords).await
                } else {
                    self.mark_handled(session, &set, keywords).await
                };
                match result {
                    Ok(()) => {}
                    Err(IngestError::Imap(what, async_imap::error::Error::No(text))) => {
                        warn!(event = "imap.flag-failed", command = what, server = %text, "could not flag processed mail; will retry");
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                let done: Vec<FlagJob> = group
                    .iter()
                    .filter(|j| chunk.contains(&j.uid))
                    .cloned()
                    .collect();
                self.store.flag_jobs_done(&self.key, &done)?;
            }
        }
        Ok(())
    }

    /// Ticket mail: the handled keyword and `\Seen`, or the keyword and a move to
    /// `processed_mailbox` (the keyword first, so that it travels with the mail).
    async fn retire(
        &self,
        session: &mut ImapSession,
        set: &str,
        has_move: bool,
        keywords: bool,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        let Some(target) = &self.cfg.processed_mailbox else {
            let flags = if keywords {
                format!("+FLAGS.SILENT (\\Seen {HANDLED})")
            } else {
                "+FLAGS.SILENT (\\Seen)".to_string()
            };
            return self.store_flags(session, set, &flags).await;
        };
        self.mark_handled(session, set, keywords).await?;
        if has_move {
            return self
                .bounded(t, "UID MOVE", session.uid_mv(set, target))
                .await;
        }
        self.bounded(t, "UID COPY", session.uid_copy(set, target))
            .await?;
        self.store_flags(session, set, "+FLAGS.SILENT (\\Seen \\Deleted)")
            .await
    }

    /// Sets the handled keyword on `set` (when the server keeps keywords).
    async fn mark_handled(
        &self,
        session: &mut ImapSession,
        set: &str,
        keywords: bool,
    ) -> Result<(), IngestError> {
        if !keywords {
            return Ok(());
        }
        self.store_flags(session, set, &format!("+FLAGS.SILENT ({HANDLED})"))
            .await
    }

    /// `UID STORE set flags`, bounded.
    async fn store_flags(
        &self,
        session: &mut ImapSession,
        set: &str,
        flags: &str,
    ) -> Result<(), IngestError> {
        self.bounded(self.cfg.command_timeout, "UID STORE", async {
            session
                .uid_store(set, flags)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map(|_| ())
    }
}
