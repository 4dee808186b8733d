//! Bringing a store written by an older Frontdesk to this build's layout, once, when it is
//! opened. Each step ends in a flush, and a step a crash interrupts is simply done again.

use std::path::Path;

use super::files::{IN_FILE_THRESHOLD, Kind};
use super::{
    OUTBOX_DUE_INDEXED, QUARANTINE_INDEXED, Result, SCHEMA_VERSION, SENT_HIGH, Store, StoreError,
    be, from_be,
};
use crate::domain::{MessageIdKind, TicketId};

impl Store {
    /// Creates the layout in a fresh store, or migrates an older one in place (see
    /// [`Store::big_bodies_to_files`]); refuses a store written by a newer build. `dir` is the state
    /// directory, where a migration leaves its backup.
    ///
    /// `layout` is false for the store a restore is building: its records arrive in pieces
    /// (it is reopened every 32 MiB), so the schema 2 → 3 step waits for the open of the
    /// finished store.
    pub(super) fn migrate(&self, dir: &Path, layout: bool) -> Result<()> {
        let found = self.meta.get("schema")?.map(|v| from_be(&v));
        let Some(found) = found else {
            self.meta.insert("schema", &be(SCHEMA_VERSION))?;
            self.meta
                .insert("next_ticket", &be(TicketId::FIRST.get()))?;
            self.meta.insert(QUARANTINE_INDEXED, &[])?;
            self.meta.insert(OUTBOX_DUE_INDEXED, &[])?;
            self.db.flush()?;
            return Ok(());
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found });
        }
        // Written before the quarantine index: built once, from the outcomes.
        if !self.meta.contains_key(QUARANTINE_INDEXED)? {
            self.index_quarantine()?;
            self.meta.insert(QUARANTINE_INDEXED, &[])?;
            self.db.flush()?;
        }
        if found < 2 {
            // The backup, if one is taken, comes before anything of schema 2 is written,
            // so the version before restores it. The due index is built from the entries
            // whatever the flag says (a store of schema 1 may carry one restored from a
            // backup of schema 2, with entries queued since that have no key), and the
            // schema is raised last: a crash anywhere redoes the whole step.
            self.big_bodies_to_files(dir, found)?;
            self.index_outbox_due()?;
            self.meta.insert(OUTBOX_DUE_INDEXED, &[])?;
            self.meta.insert("schema", &be(2))?;
            self.db.flush()?;
        } else if !self.meta.contains_key(OUTBOX_DUE_INDEXED)? {
            // Restored from a backup without the index.
            self.index_outbox_due()?;
            self.meta.insert(OUTBOX_DUE_INDEXED, &[])?;
            self.db.flush()?;
        }
        if found < 3 && layout {
            self.fewer_records(dir, found)?;
            self.meta.insert("schema", &be(SCHEMA_VERSION))?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Schema 2 → 3: fewer sled records per ticket (sled 0.34's memory and start-up follow
    /// its page count). Our own Message-IDs leave `msgids` (each is resolved from the id
    /// itself and the ticket's history, [`Store::own_message_id`]: only entries that
    /// resolve so, to the same ticket, go), and the `sent` records go, the highest of their
    /// ids kept in `meta` [`SENT_HIGH`] for a restore's id counter. A backup of the whole
    /// store comes first if anything is to go (`store-schema-<found>-<time>.backup`, one per
    /// migration). A crash before the schema is raised redoes what is left.
    fn fewer_records(&self, dir: &Path, found: u64) -> Result<()> {
        let mut ours = Vec::new();
        for kv in self.msgids.iter() {
            let (k, v) = kv?;
            let Ok(id) = std::str::from_utf8(&k) else {
                continue;
            };
            let ticket = TicketId::new(from_be(&v));
            if MessageIdKind::ticket_of(id) == Some(ticket)
                && self.own_message_id(id)? == Some(ticket)
            {
                ours.push(k);
            }
        }
        let sent_high = self.sent.last()?.map(|(k, _)| from_be(&k));
        if ours.is_empty() && sent_high.is_none() {
            return Ok(());
        }
        if !has_migration_backup(dir, found) {
            self.backup_before_migration(dir, found)?;
        }
        if let Some(high) = sent_high {
            let old = self.meta.get(SENT_HIGH)?.map_or(0, |v| from_be(&v));
            self.meta.insert(SENT_HIGH, &be(high.max(old)))?;
            // Durable before the records it stands for go.
            self.db.flush()?;
        }
        let mut batch = sled::Batch::default();
        for k in &ours {
            batch.remove(k);
        }
        self.msgids.apply_batch(batch)?;
        let sent = self.sent.len();
        self.sent.clear()?;
        self.db.flush()?;
        tracing::info!(
            event = "store.migrated",
            schema = SCHEMA_VERSION,
            message_ids = ours.len(),
            sent,
            "store migrated: our own Message-IDs are resolved from their tickets, sent mails leave no record"
        );
        Ok(())
    }

    /// Removes what a crash may have left among the mail files: half-written temporaries,
    /// incoming mails whose record never committed (a crash between the file and its
    /// record; they can only be in the newest directory), and outgoing mail no outbox entry
    /// or dead letter names ([`Store::drop_sent_files`]).
    pub(super) fn tidy_files(&self) -> Result<()> {
        self.files
            .clear_temporaries()
            .map_err(|e| self.file_error(e))?;
        let mut orphans = Vec::new();
        for seq in self.files.newest_in_ids().map_err(|e| self.file_error(e))? {
            if !self.inbound.contains_key(be(seq))? {
                orphans.push(seq);
            }
        }
        self.files
            .remove(Kind::In, &orphans)
            .map_err(|e| self.file_error(e))?;
        let ids = self.files.ids(Kind::Out).map_err(|e| self.file_error(e))?;
        self.drop_sent_files(&ids)
    }

    /// Removes the files of the outgoing mails `ids` that no outbox entry or dead letter
    /// names any more: sent ones (the outbox calls this after the flush that made their
    /// `mark_sent` durable, never before, so a crash still sends them again from their
    /// file), and at open those of a transaction that never committed.
    pub fn drop_sent_files(&self, ids: &[u64]) -> Result<()> {
        let mut unnamed = Vec::new();
        for id in ids {
            if !self.outbox.contains_key(be(*id))? && !self.dead.contains_key(be(*id))? {
                unnamed.push(*id);
            }
        }
        self.files
            .remove(Kind::Out, &unnamed)
            .map_err(|e| self.file_error(e))?;
        Ok(())
    }

    /// Schema 1 → 2: incoming mails of [`IN_FILE_THRESHOLD`] or more move from sled's `raw`
    /// tree to files (smaller ones stay where they are). If there are any, a backup of the
    /// whole store comes first (`store-schema-1-<time>.backup` in the state directory; it
    /// restores with this build or the one before); then their files are written and synced
    /// once and their records removed ([`Store::migrate`] then raises the schema). A crash
    /// before the schema is raised redoes what is left (files are rewritten with the same
    /// bytes, no second backup).
    fn big_bodies_to_files(&self, dir: &Path, found: u64) -> Result<()> {
        let mut big = Vec::new();
        for kv in self.raw.iter() {
            let (k, v) = kv?;
            if v.len() >= IN_FILE_THRESHOLD {
                big.push(from_be(&k));
            }
        }
        if !big.is_empty() {
            if !has_migration_backup(dir, found) {
                self.backup_before_migration(dir, found)?;
            }
            for seq in &big {
                if let Some(v) = self.raw.get(be(*seq))? {
                    self.files
                        .write_unsynced(Kind::In, &[(*seq, &v)])
                        .map_err(|e| self.file_error(e))?;
                }
            }
            self.files.sync_all().map_err(|e| self.file_error(e))?;
            let mut batch = sled::Batch::default();
            for seq in &big {
                batch.remove(&be(*seq));
            }
            self.raw.apply_batch(batch)?;
            self.db.flush()?;
        }
        tracing::info!(
            event = "store.migrated",
            schema = SCHEMA_VERSION,
            mails = big.len(),
            "store migrated: mails of 64 KiB or more moved from the database to files"
        );
        Ok(())
    }

    /// The backup a migration takes before it changes anything, in the state directory.
    fn backup_before_migration(&self, dir: &Path, found: u64) -> Result<()> {
        let io = |e: std::io::Error| StoreError::Backup(format!("{}: {e}", dir.display()));
        let name = dir.join(format!(
            "store-schema-{found}-{}.backup",
            crate::domain::now().max(0)
        ));
        let scratch_path = dir.join(".migration-scratch");
        let scratch = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&scratch_path)
            .map_err(io)?;
        // Unlinked at once: nothing is left behind if the process dies.
        std::fs::remove_file(&scratch_path).map_err(io)?;
        let tmp = name.with_extension("backup.partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        self.backup(&mut out, scratch)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &name).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        tracing::info!(
            event = "store.migration-backup",
            path = %name.display(),
            "store backed up before migrating; remove the file once the new version runs well"
        );
        Ok(())
    }
}

/// Whether an earlier step, or an interrupted run, of the migration from schema `found` left
/// its backup already.
fn has_migration_backup(dir: &Path, found: u64) -> bool {
    let prefix = format!("store-schema-{found}-");
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".backup")
        })
    })
}
