//! Restoring a backup: streamed record by record into a fresh store beside the state
//! directory's `db`, checked against the file's SHA-256, and only then moved into place, so
//! a damaged or interrupted restore never leaves a store anyone could open. Then nothing that
//! may already have happened after the backup is done again on its own: mail the backup had
//! queued is held as dead letters, mail it had stored but not decided is held in quarantine,
//! each with a reason that says how to release it.

use std::io::Read;
use std::path::Path;

use super::backup::{CUT, Cut, DigestTail, END, MAGIC_LEN, MAGIC_V1, MAGIC_V2, PUT, REMOVE};
use super::files::{IN_FILE_THRESHOLD, Kind};
use super::{
    BackupStats, RAW, Result, SENT_HIGH, Store, StoreError, TREES, be, decode, due_key, encode,
    from_be,
};
use crate::domain::{DeadLetter, Inbound, OutboxEntry, Outcome, UnixTime};

/// Where a restore builds the store, in the state directory, before moving it to `db`. A
/// leftover from an interrupted restore was never used and is removed by the next one.
const STAGING: &str = "db.restoring";

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Records and bytes read, and the tickets restored.
    pub stats: BackupStats,
    /// When the backup's cut was made (format 2; format 1 did not record it).
    pub taken_at: Option<UnixTime>,
    /// Mail the backup had queued, now dead letters until an operator retries it: it may
    /// have been sent after the backup was taken.
    pub held_outbox: Vec<HeldOutbox>,
    /// Stored mail the backup had not decided yet, now quarantined until an operator
    /// releases it: it may have been answered after the backup was taken.
    pub held_mail: Vec<u64>,
}

/// A mail the backup had queued, held by the restore as a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldOutbox {
    /// Its outbox id: `frontdesk outbox retry ID` sends it.
    pub id: u64,
    /// Its Message-ID, to look for in the mail server's log.
    pub message_id: String,
}

/// What a restore held: queued mail as dead letters, undecided mail in quarantine.
struct Held {
    outbox: Vec<HeldOutbox>,
    mail: Vec<u64>,
}

impl Store {
    /// Creates the store in `dir` from a backup written by [`Store::backup`] (format 2) or by
    /// an older Frontdesk (format 1), and returns it open. Refuses a directory that already
    /// holds a store.
    ///
    /// The file is read once, as a stream: memory holds one record at a time (the largest is
    /// one mail), never the file. The records go into a fresh store in `dir/db.restoring`,
    /// which becomes `dir/db` only after the SHA-256 at the end matched; on any error it is
    /// removed. Queued and undecided mail is held (see [`Restored`]).
    pub fn restore(dir: &Path, input: &mut impl Read) -> Result<(Store, Restored)> {
        let target = dir.join("db");
        if target.exists() {
            return Err(StoreError::Backup(format!(
                "{} already holds a store; move it aside first (restore never overwrites one)",
                dir.display()
            )));
        }
        let io = |e: std::io::Error| StoreError::Backup(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let staging = dir.join(STAGING);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io)?;
        }
        let restored = match restore_into(&staging, input) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        std::fs::rename(&staging, &target).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        let store = open_released(dir)?;
        // The backup's index of quarantined mail may predate it or the held mail: built
        // afresh from the outcomes.
        store.index_quarantine()?;
        store.db.flush()?;
        Ok((store, restored))
    }

    /// After a restore, nothing the backup had pending is done again without an operator:
    /// the daemon cannot know what happened between the backup and the loss of the store.
    /// Queued mail becomes dead letters (`outbox retry` sends it), undecided mail is
    /// quarantined (`quarantine release` decides it), each with the reason.
    fn hold_restored(&self, taken_at: Option<UnixTime>, now: UnixTime) -> Result<Held> {
        let when = taken_at.map_or_else(
            || "the backup".to_string(),
            |t| format!("the backup of {}", utc(t)),
        );
        let mut held_outbox = Vec::new();
        for v in self.outbox.iter().values() {
            let entry: OutboxEntry = decode("outbox", &v?)?;
            let (id, message_id) = (entry.id, entry.message_id.clone());
            let dead = DeadLetter {
                error: format!(
                    "held at restore: queued in {when}, it may have been sent after it; if the \
                     mail server's log has no {message_id}, send it with `frontdesk outbox retry {id}`"
                ),
                entry,
                at: now,
            };
            self.dead.insert(be(id), encode(&dead))?;
            self.outbox.remove(be(id))?;
            self.outbox_due
                .remove(due_key(dead.entry.next_attempt_at, id))?;
            held_outbox.push(HeldOutbox { id, message_id });
        }
        let mut held_mail = Vec::new();
        for k in self.pending.iter().keys() {
            let seq = from_be(&k?);
            if let Some(v) = self.inbound.get(be(seq))? {
                let mut record: Inbound = decode("inbound", &v)?;
                record.outcome = Some(Outcome::Quarantined {
                    reason: format!(
                        "held at restore: stored in {when} but not yet decided, it may have been \
                         answered after it; if the server shows it marked $Frontdesk it was, \
                         otherwise run `frontdesk quarantine release {seq}`"
                    ),
                });
                self.inbound.insert(be(seq), encode(&record))?;
            }
            self.pending.remove(be(seq))?;
            held_mail.push(seq);
        }
        Ok(Held {
            outbox: held_outbox,
            mail: held_mail,
        })
    }
}

impl Store {
    /// Drops the bytes of mail a restored record does not name (a backup copies the mail
    /// files after its cut, so it may hold mail stored or sent after it), then makes the
    /// files written durable.
    fn drop_unnamed_bytes(&self) -> Result<()> {
        let unnamed: Vec<u64> = self
            .files
            .ids(Kind::In)
            .map_err(|e| self.file_error(e))?
            .into_iter()
            .filter(|seq| !self.inbound.contains_key(be(*seq)).unwrap_or(true))
            .collect();
        self.files
            .remove(Kind::In, &unnamed)
            .map_err(|e| self.file_error(e))?;
        for k in self.outbox_raw.iter().keys() {
            let k = k?;
            if !self.outbox.contains_key(&k)? && !self.dead.contains_key(&k)? {
                self.outbox_raw.remove(k)?;
            }
        }
        self.files.sync_all().map_err(|e| self.file_error(e))
    }
}

/// The restore proper, into a fresh store at `staging` (closed again when it returns).
fn restore_into(staging: &Path, input: &mut impl Read) -> Result<Restored> {
    let mut input = DigestTail::new(input);
    let mut magic = [0u8; MAGIC_LEN];
    input
        .read_exact(&mut magic)
        .map_err(|_| bad("wrong header"))?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(bad("wrong header"));
    }
    let mut reader = Records {
        input: &mut input,
        staging,
        store: Some(open_staging(staging)?),
        unflushed: 0,
        stats: BackupStats::default(),
    };
    let cut = if magic == MAGIC_V1 {
        reader.read_v1()?;
        None
    } else {
        Some(reader.read_v2()?)
    };
    let (store, mut stats) = (reader.open()?, reader.stats);
    if !input.verify().map_err(read_error)? {
        return Err(bad("checksum mismatch (truncated or damaged)"));
    }
    let taken_at = cut.map(|c| c.taken_at);
    store.drop_unnamed_bytes()?;
    let held = store.hold_restored(taken_at, crate::domain::now())?;
    // sled's id counter lives outside the trees: a fresh database starts it at 0, and new
    // mail or outbox entries would overwrite restored records. Move it past every id used.
    let mut used = 0u64;
    for tree in [&store.inbound, &store.outbox, &store.dead, &store.sent] {
        if let Some((k, _)) = tree.last()? {
            used = used.max(from_be(&k));
        }
    }
    // Schema 3 keeps no record per sent mail, only the highest id sent.
    if let Some(v) = store.meta.get(SENT_HIGH)? {
        used = used.max(from_be(&v));
    }
    while store.db.generate_id()? <= used {}
    store.db.flush()?;
    stats.tickets = store.tickets.len();
    Ok(Restored {
        stats,
        taken_at,
        held_outbox: held.outbox,
        held_mail: held.mail,
    })
}

/// Opens the store being restored, without a background flusher (nothing then keeps its
/// directory locked once it is dropped).
fn open_staging(staging: &Path) -> Result<Store> {
    retry_locked(|| Store::open_at(staging, staging, None))
}

/// Opens the restored store.
fn open_released(dir: &Path) -> Result<Store> {
    retry_locked(|| Store::open(dir))
}

/// Within a process sled lets go of a store's lock a moment after its last handle is
/// dropped: a lock still held is waited for, briefly.
fn retry_locked(open: impl Fn() -> Result<Store>) -> Result<Store> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Bytes applied before the store being restored is closed and opened again. sled 0.34.7
/// never evicts a page whose value it keeps in a blob file (over about 128 KiB, as many
/// mails are): its cache counts such a page at the size of the blob's pointer. Reopening
/// empties the cache, so the restore holds at most this much of the backup in memory.
const REOPEN_EVERY: usize = 32 << 20;

/// A backup's records, read one at a time and applied to the fresh store.
struct Records<'a, R: Read> {
    input: &'a mut R,
    /// Where the store being restored lives.
    staging: &'a Path,
    /// The store being restored, reopened every [`REOPEN_EVERY`] bytes (`None` only while
    /// that happens).
    store: Option<Store>,
    /// Bytes applied since it was opened.
    unflushed: usize,
    stats: BackupStats,
}

impl<R: Read> Records<'_, R> {
    /// Format 1: each tree's name and record count, then its records; a zero byte ends it.
    fn read_v1(&mut self) -> Result<()> {
        loop {
            match self.byte()? {
                0 => return Ok(()),
                1 => {}
                _ => return Err(bad("unknown record")),
            }
            let n = self.u32()?;
            let tree = self.tree(n)?;
            let count = from_be(&self.exact::<8>()?);
            for _ in 0..count {
                let key = self.value()?;
                let value = self.value()?;
                self.apply(tree, key, Some(value))?;
            }
        }
    }

    /// Format 2: puts and removals in the order they are to be applied, then the cut.
    fn read_v2(&mut self) -> Result<Cut> {
        let mut cut = None;
        loop {
            match self.byte()? {
                END => return cut.ok_or_else(|| bad("no cut record")),
                PUT => {
                    let n = self.byte()?.into();
                    let tree = self.tree(n)?;
                    let key = self.value()?;
                    let value = self.value()?;
                    self.apply(tree, key, Some(value))?;
                }
                REMOVE => {
                    let n = self.byte()?.into();
                    let tree = self.tree(n)?;
                    let key = self.value()?;
                    self.apply(tree, key, None)?;
                }
                CUT => {
                    let n = self.u32()?;
                    if n > 4096 {
                        return Err(bad("cut record too long"));
                    }
                    let json = self.bytes(n)?;
                    cut = Some(
                        serde_json::from_slice(&json).map_err(|_| bad("cut record unreadable"))?,
                    );
                }
                _ => return Err(bad("unknown record")),
            }
        }
    }

    /// Puts `key` into `tree` (or removes it), and counts it; when enough has gathered,
    /// writes it all to disk and opens the store again (see [`REOPEN_EVERY`]).
    fn apply(&mut self, tree: &str, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<()> {
        let bytes = key.len() + value.as_ref().map_or(0, Vec::len);
        {
            let Some(store) = &self.store else {
                return Err(StoreError::Backup(
                    "the store being restored is closed".into(),
                ));
            };
            self.stats.records += 1;
            self.stats.bytes += bytes as u64;
            if tree == RAW && value.as_ref().is_none_or(|v| v.len() >= IN_FILE_THRESHOLD) {
                // A big incoming mail's bytes are a file (the file system, not sled, holds
                // them); a removal may be of either kind.
                let seq = from_be(&key);
                let done = match &value {
                    Some(value) => store.files.write_unsynced(Kind::In, &[(seq, value)]),
                    None => store.files.remove(Kind::In, &[seq]).map(drop),
                };
                done.map_err(|e| store.file_error(e))?;
                if value.is_some() {
                    return Ok(());
                }
            }
            let tree = store.db.open_tree(tree)?;
            match value {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
        }
        self.unflushed += bytes;
        if self.unflushed >= REOPEN_EVERY {
            let store = self.open()?;
            store.db.flush()?;
            drop(store);
            self.store = Some(open_staging(self.staging)?);
            self.unflushed = 0;
        }
        Ok(())
    }

    /// The store being restored (an error only if reopening it failed before).
    fn open(&mut self) -> Result<Store> {
        self.store
            .take()
            .ok_or_else(|| StoreError::Backup("the store being restored is closed".into()))
    }

    /// A tree's name of `n` bytes: one of ours, or the file is refused.
    fn tree(&mut self, n: usize) -> Result<&'static str> {
        if n > 64 {
            return Err(bad("tree name"));
        }
        let name = self.bytes(n)?;
        TREES
            .iter()
            .find(|t| t.as_bytes() == name.as_slice())
            .copied()
            .ok_or_else(|| bad(&format!("unknown tree {}", String::from_utf8_lossy(&name))))
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.exact::<1>()?[0])
    }

    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_be_bytes(self.exact::<4>()?) as usize)
    }

    fn exact<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.input.read_exact(&mut b).map_err(read_error)?;
        Ok(b)
    }

    /// A length-prefixed key or value.
    fn value(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()?;
        self.bytes(n)
    }

    /// `n` bytes. Memory grows with what is actually read, so a damaged length costs no more
    /// than the bytes that are there.
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(n.min(1 << 20));
        (&mut self.input)
            .take(n as u64)
            .read_to_end(&mut v)
            .map_err(read_error)?;
        if v.len() < n {
            return Err(bad("truncated or damaged"));
        }
        Ok(v)
    }
}

fn bad(why: &str) -> StoreError {
    StoreError::Backup(format!("not a usable Frontdesk backup: {why}"))
}

fn read_error(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        bad("truncated or damaged")
    } else {
        StoreError::Backup(format!("reading the backup: {e}"))
    }
}

/// A time for the operator: `2026-11-25 02:00:00 UTC`.
fn utc(t: UnixTime) -> String {
    jiff::Timestamp::from_second(t)
        .map(|d| d.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fetched;
    use crate::store::tests::alert;

    /// A store with processed and unprocessed mail, a sent mail and a queued one.
    fn sample(dir: &Path) -> Store {
        let store = Store::open(dir).expect("store");
        let mails: Vec<Fetched> = (1..=5)
            .map(|uid| Fetched {
                uid,
                raw: format!(
                    "From: c{uid}@customer.test\r\n\r\n{}",
                    "z".repeat(3000 * uid as usize)
                )
                .into_bytes(),
            })
            .collect();
        store
            .store_fetched("a/INBOX", 3, &mails, 100)
            .expect("stored");
        store.queue_standalone(&alert(1), 100).expect("queued");
        let first = store.outbox_entries().expect("entries").remove(0);
        store.mark_sent(&first, "250 ok", 101).expect("sent");
        store.queue_standalone(&alert(2), 102).expect("queued");
        store
    }

    fn backup_of(store: &Store) -> Vec<u8> {
        let mut out = Vec::new();
        store
            .backup(&mut out, tempfile::tempfile().expect("scratch"))
            .expect("backup");
        out
    }

    /// Every record of the trees a restore does not change (it holds the outbox and the
    /// pending mail).
    fn untouched(store: &Store) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        let held = ["outbox", "outbox_due", "dead", "pending", "inbound"];
        TREES
            .iter()
            .filter(|t| !held.contains(t))
            .flat_map(|name| {
                let tree = store.db.open_tree(name).expect("tree");
                tree.iter()
                    .map(|kv| {
                        let (k, v) = kv.expect("record");
                        (*name, k.to_vec(), v.to_vec())
                    })
                    // The quarantine index of the mail a restore holds.
                    .filter(|(name, k, _)| {
                        !(*name == "meta" && k.starts_with(super::super::QUARANTINE_PREFIX))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The old format, as Frontdesk wrote it before format 2.
    fn backup_v1(store: &Store) -> Vec<u8> {
        use sha2::Digest;
        let mut out = MAGIC_V1.to_vec();
        for name in TREES {
            let tree = store.db.open_tree(name).expect("tree");
            out.push(1);
            out.extend((name.len() as u32).to_be_bytes());
            out.extend(name.as_bytes());
            out.extend((tree.len() as u64).to_be_bytes());
            for kv in tree.iter() {
                let (k, v) = kv.expect("record");
                out.extend((k.len() as u32).to_be_bytes());
                out.extend(&*k);
                out.extend((v.len() as u32).to_be_bytes());
                out.extend(&*v);
            }
        }
        // The bodies were the `raw` tree then.
        let seqs = store.files.ids(Kind::In).expect("ids");
        out.push(1);
        out.extend((RAW.len() as u32).to_be_bytes());
        out.extend(RAW.as_bytes());
        out.extend((seqs.len() as u64).to_be_bytes());
        for seq in seqs {
            let v = store
                .files
                .read(Kind::In, seq)
                .expect("read")
                .expect("file");
            out.extend(8u32.to_be_bytes());
            out.extend(be(seq));
            out.extend((v.len() as u32).to_be_bytes());
            out.extend(&v);
        }
        out.push(0);
        let digest = sha2::Sha256::digest(&out);
        out.extend(digest);
        out
    }

    /// Restore sends nothing twice: a mail the backup had queued and that was sent after it
    /// is not in the restored outbox; it waits as a dead letter, with the reason, until an
    /// operator retries it. Mail the backup had not decided waits in quarantine.
    #[test]
    fn restore_holds_what_may_have_happened_after_the_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sample(&dir.path().join("live"));
        let file = backup_of(&store);
        let queued = store.outbox_entries().expect("entries");
        assert_eq!(queued.len(), 1);
        let pending = store.pending().expect("pending");
        assert_eq!(pending.len(), 5);
        // After the backup the mail goes out, then the store is lost.
        store.mark_sent(&queued[0], "250 ok", 200).expect("sent");
        drop(store);

        let (r, restored) =
            Store::restore(&dir.path().join("back"), &mut &file[..]).expect("restore");
        assert!(restored.taken_at.is_some());
        let (due, next) = r.due(i64::MAX, 100).expect("due");
        assert!(due.is_empty() && next.is_none(), "nothing to send: {due:?}");
        assert_eq!(
            restored.held_outbox,
            vec![HeldOutbox {
                id: queued[0].id,
                message_id: queued[0].message_id.clone()
            }]
        );
        let dead = r.dead_letters().expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].entry, queued[0]);
        assert!(
            dead[0].error.starts_with("held at restore"),
            "{}",
            dead[0].error
        );
        assert!(
            dead[0].error.contains(&queued[0].message_id),
            "{}",
            dead[0].error
        );
        assert_eq!(
            r.outbox_raw(queued[0].id).expect("bytes"),
            Some(alert(2).raw),
            "its bytes stay for a retry"
        );
        // Undecided mail is not decided again on its own.
        assert!(r.pending().expect("pending").is_empty());
        assert_eq!(restored.held_mail, pending);
        assert_eq!(r.quarantined_count().expect("count"), pending.len());
        for seq in &pending {
            match r.inbound(*seq).expect("inbound").and_then(|m| m.outcome) {
                Some(Outcome::Quarantined { reason }) => {
                    assert!(reason.starts_with("held at restore"), "{reason}");
                    assert!(
                        reason.contains(&format!("quarantine release {seq}")),
                        "{reason}"
                    );
                }
                other => panic!("mail {seq}: {other:?}"),
            }
        }
        // The operator's retry sends it.
        assert_eq!(r.retry_dead(Some(queued[0].id), 300).expect("retry"), 1);
        let (due, _) = r.due(300, 100).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].id, queued[0].id);
    }

    /// Both formats restore every record; format 1 files written before format 2 existed
    /// still restore.
    #[test]
    fn both_formats_restore_every_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sample(&dir.path().join("live"));
        let (v1, v2) = (backup_v1(&store), backup_of(&store));
        assert!(v2.starts_with(MAGIC_V2));
        let expected = untouched(&store);
        let raws: Vec<_> = store.inbound_all().expect("inbound");
        for (name, file) in [("v1", &v1), ("v2", &v2)] {
            let (r, restored) =
                Store::restore(&dir.path().join(name), &mut &file[..]).expect("restore");
            assert_eq!(untouched(&r), expected, "{name}");
            assert_eq!(restored.held_outbox.len(), 1, "{name}");
            assert_eq!(restored.held_mail.len(), 5, "{name}");
            assert_eq!(restored.taken_at.is_some(), name == "v2");
            for m in &raws {
                assert_eq!(r.raw(m.seq).expect("raw"), store.raw(m.seq).expect("raw"));
            }
        }
    }

    /// A damaged, truncated or lengthened file is refused, and leaves neither a store nor
    /// the one being built; a restore interrupted before replaces its leftover.
    #[test]
    fn damaged_backups_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sample(&dir.path().join("live"));
        let file = backup_of(&store);
        let mut flipped_value = file.clone();
        flipped_value[file.len() / 2] ^= 0x01;
        let mut flipped_digest = file.clone();
        *flipped_digest.last_mut().expect("byte") ^= 0x01;
        let mut longer = file.clone();
        longer.push(0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a byte in the middle", flipped_value),
            ("a byte of the digest", flipped_digest),
            ("the last byte missing", file[..file.len() - 1].to_vec()),
            ("half of it", file[..file.len() / 2].to_vec()),
            ("the header only", MAGIC_V2.to_vec()),
            ("a byte too many", longer),
            ("not a backup", b"hello".to_vec()),
        ];
        for (i, (what, bytes)) in cases.into_iter().enumerate() {
            let target = dir.path().join(format!("t{i}"));
            let err = Store::restore(&target, &mut &bytes[..])
                .err()
                .unwrap_or_else(|| panic!("{what}: restored"));
            assert!(
                err.to_string()
                    .starts_with("backup: not a usable Frontdesk backup"),
                "{what}: {err}"
            );
            assert!(!target.join("db").exists(), "{what}");
            assert!(!target.join(STAGING).exists(), "{what}");
        }
        let target = dir.path().join("again");
        std::fs::create_dir_all(target.join(STAGING)).expect("leftover");
        std::fs::write(target.join(STAGING).join("junk"), b"x").expect("junk");
        let (r, _) = Store::restore(&target, &mut &file[..]).expect("restore");
        assert_eq!(untouched(&r), untouched(&store));
        assert!(!target.join(STAGING).exists());
    }
}
