//! Online backups of the store: a consistent copy written to a file beside the running daemon
//! (periodically, and on `frontdesk backup`), old ones pruned, and the way back with
//! `frontdesk restore`. The mail itself stays on the IMAP server; what a backup keeps is the
//! tickets, their history and the outbox. The copy runs on a blocking thread and holds the
//! store's writes only for two moments (`Store::backup`), so the daemon works on meanwhile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tracing::{error, info};

use crate::metrics::Metrics;
use crate::reload::Live;
use crate::store::{BackupStats, Store, StoreError};

/// File names of our backups start with this (and end with [`SUFFIX`]); nothing else in the
/// directory is ever pruned.
const PREFIX: &str = "frontdesk-";
/// See [`PREFIX`].
const SUFFIX: &str = ".backup";

/// Writes a backup of `store` into `dir` (created if needed) under a name with the UTC time,
/// atomically: a partly written file never carries the final name.
pub fn write(store: &Store, dir: &Path) -> Result<(PathBuf, BackupStats), StoreError> {
    let io = |e: std::io::Error| StoreError::Backup(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let path = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let tmp = dir.join(format!(".{PREFIX}{stamp}{SUFFIX}.part"));
    // The writes made during the copy wait here; unlinked at once, so nothing is left behind.
    let scratch_path = dir.join(format!(".{PREFIX}{stamp}{SUFFIX}.writes"));
    let scratch = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&scratch_path)
        .map_err(io)?;
    std::fs::remove_file(&scratch_path).map_err(io)?;
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let stats = match store.backup(&mut out, scratch) {
        Ok(stats) => stats,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok((path, stats))
}

/// Deletes all but the newest `keep` backups in `dir`; returns how many went.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let mut ours: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    // The names sort by time.
    ours.sort();
    let extra = ours.len().saturating_sub(keep);
    for old in &ours[..extra] {
        std::fs::remove_file(old)?;
    }
    Ok(extra)
}

/// When the newest of our backups in `dir` was written (its file's time); `None` if there is
/// none (or `dir` cannot be read).
pub fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
}

/// Takes a backup every `[backup] interval_hours` (as the live configuration says) until
/// `shutdown`, keeping the newest `keep`. Each one's time goes to `metrics`, starting with
/// the newest already on disk, so a restart does not forget when the last backup was made.
pub async fn run(
    store: Store,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let dir = live.snapshot().cfg.backup.dir.clone();
    if let Ok(Some(at)) = tokio::task::spawn_blocking(move || newest(&dir)).await {
        metrics.backup_written(at);
    }
    loop {
        let backup = live.snapshot().cfg.backup.clone();
        let Some(every) = backup.interval else {
            // Off: look again after a reload might have switched it on.
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => continue,
                _ = shutdown.changed() => return,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if take(&store, &backup.dir, backup.keep).await.is_some() {
            metrics.backup_written(std::time::SystemTime::now());
        }
    }
}

/// One periodic backup: [`write()`] on a blocking thread (the async workers go on meanwhile),
/// logged, then all but the newest `keep` pruned. Returns where it went, or `None` if it
/// failed (logged).
pub async fn take(store: &Store, dir: &Path, keep: usize) -> Option<(PathBuf, BackupStats)> {
    let (s, d) = (store.clone(), dir.to_path_buf());
    match tokio::task::spawn_blocking(move || write(&s, &d)).await {
        Ok(Ok((path, stats))) => {
            info!(
                event = "backup.written",
                path = %path.display(),
                tickets = stats.tickets,
                bytes = stats.bytes,
                "store backed up"
            );
            if let Err(e) = prune(dir, keep) {
                error!(dir = %dir.display(), error = %e, "old backups could not be pruned");
            }
            Some((path, stats))
        }
        Ok(Err(e)) => {
            error!(event = "backup.failed", error = %e, "store backup failed");
            None
        }
        Err(e) => {
            error!(event = "backup.failed", error = %e, "store backup failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_into_an_equal_store_and_damage_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let seqs = store
            .store_fetched(
                "support@example.test/INBOX",
                7,
                &[crate::domain::Fetched {
                    uid: 1,
                    raw: b"From: a@customer.test\r\n\r\nhello".to_vec(),
                }],
                0,
            )
            .expect("stored");
        let (path, stats) = write(&store, &dir.path().join("backups")).expect("backup");
        assert!(stats.records > 0);
        drop(store);

        let target = dir.path().join("restored");
        let (again, restored) =
            Store::restore(&target, &mut std::fs::File::open(&path).expect("open"))
                .expect("restore");
        assert_eq!(restored.stats.records, stats.records);
        // New mail after the restore gets a fresh sequence, never a restored one's.
        let next = again
            .store_fetched(
                "support@example.test/INBOX",
                7,
                &[crate::domain::Fetched {
                    uid: 2,
                    raw: b"From: b@customer.test\r\n\r\nlater".to_vec(),
                }],
                0,
            )
            .expect("stored after restore");
        assert!(next[0] > seqs[0], "{next:?} after {seqs:?}");
        // The stored mail is back; it was not decided yet, so it waits for a person.
        assert_eq!(restored.held_mail, seqs);
        assert_eq!(again.pending().expect("pending"), next);
        assert!(matches!(
            again
                .inbound(seqs[0])
                .expect("inbound")
                .and_then(|r| r.outcome),
            Some(crate::domain::Outcome::Quarantined { .. })
        ));
        assert_eq!(
            again.raw(seqs[0]).expect("raw").as_deref(),
            Some(&b"From: a@customer.test\r\n\r\nhello"[..])
        );
        // Never over an existing store.
        let err = Store::restore(&target, &mut std::fs::File::open(&path).expect("open"))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("already holds a store"), "{err}");
        drop(again);
        // A damaged file is refused before anything is written.
        let mut bytes = std::fs::read(&path).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        let fresh = dir.path().join("fresh");
        let err = Store::restore(&fresh, &mut &bytes[..])
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("checksum") || err.to_string().contains("damaged"),
            "{err}"
        );
        assert!(
            !fresh.join("db").exists() && !fresh.join("db.restoring").exists(),
            "nothing left of a damaged backup"
        );
    }

    #[test]
    fn pruning_keeps_the_newest_and_touches_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in ["20261101T000000Z", "20261102T000000Z", "20261103T000000Z"] {
            std::fs::write(dir.path().join(format!("{PREFIX}{n}{SUFFIX}")), b"x").expect("w");
        }
        std::fs::write(dir.path().join("notes.txt"), b"mine").expect("w");
        // The newest is what /metrics reports at start; other files do not count.
        let newest_backup = dir.path().join(format!("{PREFIX}20261103T000000Z{SUFFIX}"));
        assert_eq!(
            newest(dir.path()),
            Some(
                std::fs::metadata(&newest_backup)
                    .expect("meta")
                    .modified()
                    .expect("mtime")
            )
        );
        assert_eq!(newest(&dir.path().join("missing")), None);
        assert_eq!(prune(dir.path(), 2).expect("prune"), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                "frontdesk-20261102T000000Z.backup",
                "frontdesk-20261103T000000Z.backup",
                "notes.txt"
            ]
        );
    }
}
