//! Mail bytes as files beside sled, inside the store's directory: incoming mail
//! (`mail/in/<seq ÷ 4096>/<seq>`) and outgoing mail (`mail/out/<id>`) of 64 KiB or more.
//! sled 0.34 copies a value through its log and cache and keeps blob pages in memory, so a
//! 25 MB mail inside it was held several times over; as a file it costs nothing until read.
//!
//! A file is written the way Maildir does it: to a temporary name, `fdatasync`, renamed into
//! place, then its directory is fsynced. The store writes a mail's file *before* the sled
//! record that names it, so a record that survived a crash always has its bytes; a file
//! whose record did not survive is an orphan nobody reads (ids are never handed out twice)
//! and is removed by [`MailFiles::orphans`]' caller.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Incoming mail at least this big is kept as a file rather than in sled's `raw` tree.
/// Smaller mail (almost every customer's) stays in sled: a file of its own costs an
/// `fdatasync` and a directory sync per mail and a 4 KiB block for 1 KB, which the burst
/// benchmark showed as 40 % more CPU (mostly kernel time) for the same mail; what sled's
/// page memory saves by it is a few per cent (BENCHMARKS.md).
pub(super) const IN_FILE_THRESHOLD: usize = 64 * 1024;

/// Outgoing mail at least this big is kept as a file rather than in sled's `outbox_raw`.
/// Smaller mail (almost every acknowledgement and notification) stays in sled, where it is
/// written with its outbox entry at no extra fsync, and leaves when sent.
pub(super) const OUT_FILE_THRESHOLD: usize = 64 * 1024;

/// Incoming mails per directory of `mail/in` (sequence numbers grow, so a directory fills and
/// is never written again).
const PER_DIR: u64 = 4096;

/// Which kind of mail file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A stored incoming mail, by its sequence number.
    In,
    /// A queued outgoing mail's bytes, by its outbox id.
    Out,
}

/// The mail files of one store.
#[derive(Debug, Clone)]
pub(super) struct MailFiles {
    root: PathBuf,
}

impl MailFiles {
    /// The mail files under `store_dir/mail` (created if missing).
    pub(super) fn open(store_dir: &Path) -> std::io::Result<MailFiles> {
        let root = store_dir.join("mail");
        for dir in [root.join("in"), root.join("out")] {
            if !dir.exists() {
                std::fs::create_dir_all(&dir)?;
                sync_dir(&root)?;
                sync_dir(store_dir)?;
            }
        }
        Ok(MailFiles { root })
    }

    /// The directory the files are in (`mail` in the store's directory).
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Where the file of `id` lives.
    pub(super) fn path(&self, kind: Kind, id: u64) -> PathBuf {
        match kind {
            Kind::In => self
                .root
                .join("in")
                .join(format!("{:x}", id / PER_DIR))
                .join(format!("{id:016x}")),
            Kind::Out => self.root.join("out").join(format!("{id:016x}")),
        }
    }

    /// Writes every `(id, bytes)` durably before returning: each to a temporary name,
    /// `fdatasync`, renamed into place, and every directory that gained a name fsynced once.
    /// A file that exists already is replaced (a rewrite after a crash writes the same bytes).
    pub(super) fn write_durably(&self, kind: Kind, mails: &[(u64, &[u8])]) -> std::io::Result<()> {
        let dirs = self.write(kind, mails, true)?;
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Writes every `(id, bytes)` without syncing (a restore or a migration, which sync the
    /// whole file system once at the end with [`MailFiles::sync_all`]).
    pub(super) fn write_unsynced(&self, kind: Kind, mails: &[(u64, &[u8])]) -> std::io::Result<()> {
        self.write(kind, mails, false).map(drop)
    }

    /// Writes the files; returns the directories that gained a name (with their parent, for a
    /// directory created here).
    fn write(
        &self,
        kind: Kind,
        mails: &[(u64, &[u8])],
        sync: bool,
    ) -> std::io::Result<BTreeSet<PathBuf>> {
        let mut dirs = BTreeSet::new();
        for (id, bytes) in mails {
            let path = self.path(kind, *id);
            let dir = path.parent().unwrap_or(&self.root).to_path_buf();
            if !dirs.contains(&dir) && !dir.exists() {
                std::fs::create_dir_all(&dir)?;
                if let Some(parent) = dir.parent() {
                    dirs.insert(parent.to_path_buf());
                }
            }
            let tmp = dir.join(format!(".tmp-{id:016x}"));
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            if sync {
                f.sync_data()?;
            }
            drop(f);
            std::fs::rename(&tmp, &path)?;
            dirs.insert(dir);
        }
        Ok(dirs)
    }

    /// Makes everything written so far durable: one `syncfs` of the file system the files
    /// are on (cheaper than a sync per file when thousands were written), then the directories.
    pub(super) fn sync_all(&self) -> std::io::Result<()> {
        let dir = File::open(&self.root)?;
        rustix::fs::syncfs(&dir)?;
        Ok(())
    }

    /// The bytes of a mail file, `None` if it does not exist (purged, forgotten, or never
    /// written).
    pub(super) fn read(&self, kind: Kind, id: u64) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(kind, id)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the files of `ids` (those already gone are fine) and syncs the directories
    /// they were in, so a purge or an erasure is not undone by a crash; returns how many
    /// existed.
    pub(super) fn remove(&self, kind: Kind, ids: &[u64]) -> std::io::Result<usize> {
        let mut n = 0;
        let mut dirs = BTreeSet::new();
        for id in ids {
            let path = self.path(kind, *id);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    n += 1;
                    dirs.extend(path.parent().map(Path::to_path_buf));
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        Ok(n)
    }

    /// Every id that has a file of `kind`, in ascending order (backups, and the start-up
    /// check of `mail/out`). Temporary files of an interrupted write are not listed.
    pub(super) fn ids(&self, kind: Kind) -> std::io::Result<Vec<u64>> {
        let mut ids = match kind {
            Kind::Out => ids_in(&self.root.join("out"))?,
            Kind::In => {
                let mut ids = Vec::new();
                for (_, dir) in self.in_dirs()? {
                    ids.extend(ids_in(&dir)?);
                }
                ids
            }
        };
        ids.sort_unstable();
        Ok(ids)
    }

    /// The directories of `mail/in`, with the number each is named by.
    fn in_dirs(&self) -> std::io::Result<Vec<(u64, PathBuf)>> {
        let mut dirs = Vec::new();
        for e in std::fs::read_dir(self.root.join("in"))? {
            let e = e?;
            if e.file_type()?.is_dir()
                && let Some(n) = hex_name(&e.file_name())
            {
                dirs.push((n, e.path()));
            }
        }
        Ok(dirs)
    }

    /// The newest directory of `mail/in`, the only one a write can have been interrupted in
    /// (sequence numbers grow, so older ones are never written again).
    fn newest_in_dir(&self) -> std::io::Result<Option<PathBuf>> {
        Ok(self.in_dirs()?.into_iter().max().map(|(_, p)| p))
    }

    /// The ids of the incoming mails in the newest directory of `mail/in`: where a crash
    /// between a file and its record leaves the file.
    pub(super) fn newest_in_ids(&self) -> std::io::Result<Vec<u64>> {
        match self.newest_in_dir()? {
            Some(dir) => ids_in(&dir),
            None => Ok(Vec::new()),
        }
    }

    /// Removes what an interrupted write left: temporary files in `mail/out` and in the
    /// newest directory of `mail/in` (older ones are never written again).
    pub(super) fn clear_temporaries(&self) -> std::io::Result<()> {
        let mut dirs = vec![self.root.join("out")];
        dirs.extend(self.newest_in_dir()?);
        for dir in dirs {
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        Ok(())
    }
}

/// The ids of the mail files in one directory (temporaries are not named by a number).
fn ids_in(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir)? {
        ids.extend(hex_name(&e?.file_name()));
    }
    Ok(ids)
}

/// The number a file or directory is named by, in hex; `None` for any other name.
fn hex_name(name: &std::ffi::OsStr) -> Option<u64> {
    u64::from_str_radix(name.to_str()?, 16).ok()
}

/// Makes a directory's entries durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_and_removed_files_are_gone() {
        let dir = tempfile::tempdir().expect("dir");
        let files = MailFiles::open(dir.path()).expect("open");
        files
            .write_durably(Kind::In, &[(1, b"one"), (5000, b"five thousand")])
            .expect("write");
        files
            .write_durably(Kind::Out, &[(7, b"out")])
            .expect("write");
        assert_eq!(
            files.read(Kind::In, 1).expect("read"),
            Some(b"one".to_vec())
        );
        assert_eq!(
            files.read(Kind::In, 5000).expect("read"),
            Some(b"five thousand".to_vec())
        );
        assert_eq!(files.read(Kind::In, 7).expect("read"), None, "kinds apart");
        assert_eq!(files.ids(Kind::In).expect("ids"), vec![1, 5000]);
        assert_eq!(files.ids(Kind::Out).expect("ids"), vec![7]);
        assert_eq!(files.remove(Kind::In, &[1, 2]).expect("remove"), 1);
        assert_eq!(files.read(Kind::In, 1).expect("read"), None);
        assert_eq!(files.ids(Kind::In).expect("ids"), vec![5000]);
    }

    #[test]
    fn an_interrupted_write_leaves_no_file_under_the_mails_name() {
        let dir = tempfile::tempdir().expect("dir");
        let files = MailFiles::open(dir.path()).expect("open");
        files.write_durably(Kind::In, &[(3, b"x")]).expect("write");
        // What a crash between create and rename leaves.
        let tmp = files
            .path(Kind::In, 4)
            .with_file_name(".tmp-0000000000000004");
        std::fs::write(&tmp, b"half").expect("tmp");
        assert_eq!(files.read(Kind::In, 4).expect("read"), None);
        assert_eq!(files.ids(Kind::In).expect("ids"), vec![3]);
        files.clear_temporaries().expect("clear");
        assert!(!tmp.exists());
        assert!(files.read(Kind::In, 3).expect("read").is_some());
    }
}
