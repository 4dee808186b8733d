//! Bringing a store written by an older Frontdesk to this build's layout, once, when it is
//! opened. Each step ends in a flush, and a step a crash interrupts is simply done again.

use std::path::Path;

use super::files::Kind;
use super::{
    OUTBOX_DUE_INDEXED, QUARANTINE_INDEXED, RAW, Result, SCHEMA_VERSION, Store, StoreError, be,
    from_be,
};
use crate::domain::TicketId;

impl Store {
    /// Creates the layout in a fresh store, or migrates an older one in place (see
    /// [`Store::raw_to_files`]); refuses a store written by a newer build. `dir` is the state
    /// directory, where a migration leaves its backup.
    pub(super) fn migrate(&self, dir: &Path) -> Result<()> {
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
        // Written before the outbox's due index (or restored from a backup without it).
        if !self.meta.contains_key(OUTBOX_DUE_INDEXED)? {
            self.index_outbox_due()?;
            self.meta.insert(OUTBOX_DUE_INDEXED, &[])?;
            self.db.flush()?;
        }
        if found < 2 || self.has_raw_tree() {
            self.raw_to_files(dir)?;
        }
        Ok(())
    }

    /// Removes what a crash may have left among the mail files: half-written temporaries,
    /// and the files of outgoing mail no outbox entry or dead letter names (queued by a
    /// transaction that never committed). Incoming mails' orphans (a crash between file and
    /// record) are left: finding them means listing every file, and they are never read.
    pub(super) fn tidy_files(&self) -> Result<()> {
        self.files
            .clear_temporaries()
            .map_err(|e| self.file_error(e))?;
        let mut unnamed = Vec::new();
        for id in self.files.ids(Kind::Out).map_err(|e| self.file_error(e))? {
            if !self.outbox.contains_key(be(id))? && !self.dead.contains_key(be(id))? {
                unnamed.push(id);
            }
        }
        self.files
            .remove(Kind::Out, &unnamed)
            .map_err(|e| self.file_error(e))?;
        Ok(())
    }

    /// Whether sled still has the `raw` tree of schema 1.
    pub(super) fn has_raw_tree(&self) -> bool {
        self.db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == RAW.as_bytes())
    }

    /// Schema 1 → 2: incoming mails' bytes move from sled's `raw` tree to files. First a
    /// backup of the whole store (`store-schema-1-<time>.backup` in the state directory; it
    /// restores with this build or the one before), then every mail is written to its file,
    /// the files are synced, the schema is raised and the tree dropped. A crash before the
    /// schema is raised redoes the copy (the files are rewritten with the same bytes); one
    /// after it only drops the tree.
    fn raw_to_files(&self, dir: &Path) -> Result<()> {
        let schema = self.meta.get("schema")?.map(|v| from_be(&v));
        if schema < Some(2) {
            let raw = self.db.open_tree(RAW)?;
            if !raw.is_empty() {
                self.backup_before_migration(dir)?;
            }
            let mut batch: Vec<(u64, Vec<u8>)> = Vec::new();
            let write = |batch: &mut Vec<(u64, Vec<u8>)>| {
                let mails: Vec<(u64, &[u8])> =
                    batch.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                let res = self.files.write_unsynced(Kind::In, &mails);
                batch.clear();
                res.map_err(|e| self.file_error(e))
            };
            for kv in raw.iter() {
                let (k, v) = kv?;
                batch.push((from_be(&k), v.to_vec()));
                if batch.len() == 256 {
                    write(&mut batch)?;
                }
            }
            write(&mut batch)?;
            self.files.sync_all().map_err(|e| self.file_error(e))?;
            self.meta.insert("schema", &be(SCHEMA_VERSION))?;
            self.db.flush()?;
            tracing::info!(
                event = "store.migrated",
                schema = SCHEMA_VERSION,
                mails = raw.len(),
                "store migrated: mail bodies moved from the database to files"
            );
        }
        self.db.drop_tree(RAW)?;
        self.db.flush()?;
        Ok(())
    }

    /// The backup a migration takes before it changes anything, in the state directory.
    fn backup_before_migration(&self, dir: &Path) -> Result<()> {
        let io = |e: std::io::Error| StoreError::Backup(format!("{}: {e}", dir.display()));
        let name = dir.join(format!(
            "store-schema-1-{}.backup",
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
