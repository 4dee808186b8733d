//! Online backups that never hold writes for the copy: every tree is copied while the daemon
//! keeps writing, and every write made meanwhile is captured from sled's own change feed
//! (`feed.rs`) and appended after the copy. Replayed in order, the file gives the store as it
//! was at one instant, the cut, when no write was in flight: no transaction half applied.
//!
//! Why not something simpler. sled 0.34.7 has no snapshot: `Db::export` is a plain iterator
//! per tree (each reads whatever is there when it gets to it, and panics on an I/O error),
//! and `Tree::checksum`, its only consistent scan, locks every tree for the whole scan, as
//! the old backup's exclusive write gate did. So the backup is a fuzzy copy plus a redo log:
//! 1. Under the write gate, held exclusively for a moment (every write holds it shared, so no
//!    write is in flight), a subscriber is registered on every tree and its drainer started.
//!    From then on every change to a tree is delivered to its subscriber, one key's changes
//!    in the order they took effect, and written to a scratch file.
//! 2. The trees are copied with ordinary iterators while writes go on.
//! 3. The cut: the gate again, exclusively and briefly; the feed ends after the last write
//!    before it (`Feed::cut`), the gate opens. The captured writes follow the copy in the
//!    file, then the cut's record and the SHA-256 of it all.
//!
//! Replaying the copy and then the captured writes in order gives, for every key, its value
//! at the cut: a key no write touched after step 1 has one value throughout, and the copy
//! read it; a key written after step 1 ends with its last captured write, which the replay
//! applies after any copied value. Writers wait only for the two moments of steps 1 and 3
//! (and, in step 2, whenever a tree has 1024 changes its drainer has not taken yet).

use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::feed::Feed;
use super::files::Kind;
use super::{RAW, Result, Store, StoreError, TREES, be};
use crate::domain::UnixTime;

/// The first bytes of a version-1 backup: each tree with its record count, then its records.
pub(super) const MAGIC_V1: &[u8] = b"FRONTDESK-BACKUP 1\n";
/// The first bytes of a version-2 backup: a stream of puts and removals, applied in order,
/// then the cut.
pub(super) const MAGIC_V2: &[u8] = b"FRONTDESK-BACKUP 2\n";
/// Both versions have magic strings of this length.
pub(super) const MAGIC_LEN: usize = MAGIC_V2.len();

/// A version-2 record's first byte: the end of the records (the SHA-256 follows).
pub(super) const END: u8 = 0;
/// A key and its value: `tree`, key, value.
pub(super) const PUT: u8 = 1;
/// A key that was removed: `tree`, key.
pub(super) const REMOVE: u8 = 2;
/// The cut, last before [`END`]: a JSON [`Cut`].
pub(super) const CUT: u8 = 3;

/// What a version-2 backup says about the moment it stands for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Cut {
    /// When the cut was made: the store in the file is the store at that instant.
    pub(super) taken_at: UnixTime,
}

impl Store {
    /// Writes a consistent copy of the store to `out` without holding writes for the copy
    /// (see the module's documentation): version 2 of the format [`Store::restore`] reads.
    /// Blocking, and long for a large store: call it on a blocking thread. `scratch` keeps
    /// the writes made during the copy until the copy ends; pass a fresh, empty file (an
    /// unlinked one is best: nothing is left behind if the process dies).
    pub fn backup(&self, out: &mut impl Write, scratch: std::fs::File) -> Result<BackupStats> {
        self.backup_observed(out, scratch, &mut |_| {})
    }

    /// [`Store::backup`], calling `copied` with the number of records copied so far after
    /// each one (tests write to the store there, at a known point of the copy).
    pub(super) fn backup_observed(
        &self,
        out: &mut impl Write,
        scratch: std::fs::File,
        copied: &mut dyn FnMut(u64),
    ) -> Result<BackupStats> {
        use sha2::Digest;
        let mut sink = Hashing {
            out,
            hasher: sha2::Sha256::new(),
        };
        sink.write_all(MAGIC_V2).map_err(backup_io)?;
        let trees = TREES
            .iter()
            .map(|name| self.db.open_tree(name).map(|t| (*name, t)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let feed = Feed::start(self, &trees, scratch)?;
        let copy = copy_trees(&trees, &mut sink, feed.failed(), copied);
        // The cut comes whether the copy worked or not: it ends the feed.
        let captured = feed.cut()?;
        let cut = Cut {
            taken_at: crate::domain::now(),
        };
        let mut stats = copy?;
        // Counted after the cut (a count under the gate would hold writes for a scan), so a
        // ticket opened since may be in the figure, never in the file.
        stats.tickets = self.tickets.len();
        let mut scratch = captured
            .scratch
            .into_inner()
            .map_err(|e| backup_io(e.into_error()))?;
        scratch.rewind().map_err(backup_io)?;
        std::io::copy(&mut scratch, &mut sink).map_err(backup_io)?;
        stats.records += captured.stats.records;
        stats.bytes += captured.stats.bytes;
        self.copy_files(&mut sink, &mut stats)?;
        let cut = serde_json::to_vec(&cut).map_err(|e| StoreError::Backup(e.to_string()))?;
        sink.write_all(&[CUT]).map_err(backup_io)?;
        sink.write_all(&len32(cut.len()).map_err(backup_io)?)
            .map_err(backup_io)?;
        sink.write_all(&cut).map_err(backup_io)?;
        sink.write_all(&[END]).map_err(backup_io)?;
        let digest = sink.hasher.finalize();
        sink.out.write_all(&digest).map_err(backup_io)?;
        sink.out.flush().map_err(backup_io)?;
        Ok(stats)
    }
}

impl Store {
    /// After the captured writes: the mail files, as puts into [`RAW`] (incoming) and
    /// `outbox_raw` (big outgoing mail), the trees they lived in before they were files. A
    /// file is written before the record that names it, so every record up to the cut has
    /// its file here; files of records after the cut are in the backup too, and the restore
    /// drops them (no record names them). A body purged or forgotten between the cut and
    /// this copy is left out, and restores as purged.
    fn copy_files(&self, sink: &mut impl Write, stats: &mut BackupStats) -> Result<()> {
        for (kind, tree) in [(Kind::In, RAW), (Kind::Out, "outbox_raw")] {
            let ids = self.files.ids(kind).map_err(|e| self.file_error(e))?;
            for id in ids {
                let Some(bytes) = self.files.read(kind, id).map_err(|e| self.file_error(e))? else {
                    continue;
                };
                write_put(sink, tree, &be(id), &bytes)?;
                stats.records += 1;
                stats.bytes += (8 + bytes.len()) as u64;
            }
        }
        Ok(())
    }
}

/// Step 2: every record of every tree as it is when the iterator gets to it. Stops early when
/// the feed failed (the backup fails anyway).
fn copy_trees(
    trees: &[(&'static str, sled::Tree)],
    sink: &mut impl Write,
    failed: &AtomicBool,
    copied: &mut dyn FnMut(u64),
) -> Result<BackupStats> {
    let mut stats = BackupStats::default();
    for (name, tree) in trees {
        for kv in tree.iter() {
            if failed.load(Ordering::Relaxed) {
                return Err(StoreError::Backup(
                    "the writes made during the backup could not be kept".into(),
                ));
            }
            let (k, v) = kv?;
            write_put(sink, name, &k, &v)?;
            stats.records += 1;
            stats.bytes += (k.len() + v.len()) as u64;
            copied(stats.records);
        }
    }
    Ok(stats)
}

/// What a backup or restore copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupStats {
    /// Records written or read: the copied ones and, in a version-2 file, the writes made
    /// during the copy (puts and removals).
    pub records: u64,
    /// Bytes of their keys and values.
    pub bytes: u64,
    /// Tickets: for a backup, in the store just after the cut; for a restore, restored.
    pub tickets: usize,
}

/// Writes one put record.
pub(super) fn write_put(w: &mut impl Write, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
    (|| -> std::io::Result<()> {
        w.write_all(&[PUT, tree.len() as u8])?;
        w.write_all(tree.as_bytes())?;
        w.write_all(&len32(key.len())?)?;
        w.write_all(key)?;
        w.write_all(&len32(value.len())?)?;
        w.write_all(value)
    })()
    .map_err(backup_io)
}

/// Writes one removal record.
pub(super) fn write_remove(w: &mut impl Write, tree: &str, key: &[u8]) -> Result<()> {
    (|| -> std::io::Result<()> {
        w.write_all(&[REMOVE, tree.len() as u8])?;
        w.write_all(tree.as_bytes())?;
        w.write_all(&len32(key.len())?)?;
        w.write_all(key)
    })()
    .map_err(backup_io)
}

/// A length as the format's big-endian `u32`.
fn len32(n: usize) -> std::io::Result<[u8; 4]> {
    u32::try_from(n).map(u32::to_be_bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a record of 4 GiB or more",
        )
    })
}

fn backup_io(e: std::io::Error) -> StoreError {
    StoreError::Backup(e.to_string())
}

/// A writer that hashes what it writes.
struct Hashing<'a, W: Write> {
    out: &'a mut W,
    hasher: sha2::Sha256,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// What is needed to read a backup as a stream: the reader's remaining bytes, hashed as they
/// are read, except the last 32 (the SHA-256 the writer appended).
pub(super) struct DigestTail<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Bytes `buf[pos..len]` are read from `inner` and not yet given out.
    pos: usize,
    len: usize,
    eof: bool,
    hasher: sha2::Sha256,
}

/// The SHA-256 at the end of a backup.
const DIGEST_LEN: usize = 32;

impl<R: Read> DigestTail<R> {
    /// Reads `inner` through a buffer of 1 MiB.
    pub(super) fn new(inner: R) -> Self {
        use sha2::Digest;
        DigestTail {
            inner,
            buf: vec![0; (1 << 20) + DIGEST_LEN].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            hasher: sha2::Sha256::new(),
        }
    }

    /// Reads until more than the digest's length is buffered, or the input ends.
    fn fill(&mut self) -> std::io::Result<()> {
        while !self.eof && self.len - self.pos <= DIGEST_LEN {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            match self.inner.read(&mut self.buf[self.len..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// After the last record: whether exactly the digest is left, and it matches what was
    /// read.
    pub(super) fn verify(mut self) -> std::io::Result<bool> {
        use sha2::Digest;
        self.fill()?;
        let rest = &self.buf[self.pos..self.len];
        Ok(self.eof && rest == self.hasher.finalize().as_slice())
    }
}

impl<R: Read> Read for DigestTail<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        self.fill()?;
        let n = (self.len - self.pos)
            .saturating_sub(DIGEST_LEN)
            .min(out.len());
        let given = &self.buf[self.pos..self.pos + n];
        out[..n].copy_from_slice(given);
        self.hasher.update(given);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;
    use crate::domain::{AgentEmail, Cursor, EmailAddress, Fetched};
    use crate::store::tests::alert;
    use crate::store::{SENT_HIGH, from_be};

    /// Every record of a store: (tree, key) → value.
    type Records = BTreeMap<(String, Vec<u8>), Vec<u8>>;

    /// Mail `uid`: unique bytes of a size that varies.
    fn fetched(uid: u32) -> Fetched {
        let mut raw = format!("From: c{uid}@customer.test\r\nSubject: {uid}\r\n\r\n").into_bytes();
        raw.resize(raw.len() + 512 * (uid as usize % 16), b'x');
        Fetched { uid, raw }
    }

    /// Every record of every tree, and every mail file as a record of the tree it has in a
    /// backup.
    fn dump(store: &Store) -> Records {
        let mut all = Records::new();
        for name in TREES {
            for kv in store.db.open_tree(name).expect("tree").iter() {
                let (k, v) = kv.expect("record");
                all.insert((name.to_string(), k.to_vec()), v.to_vec());
            }
        }
        for (kind, tree) in [(Kind::In, RAW), (Kind::Out, "outbox_raw")] {
            for id in store.files.ids(kind).expect("ids") {
                let bytes = store.files.read(kind, id).expect("read").expect("file");
                all.insert((tree.to_string(), be(id).to_vec()), bytes);
            }
        }
        all
    }

    /// What a version-2 file says the store was: its records applied in order.
    fn replay(file: &[u8]) -> Records {
        fn take<'a>(r: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (head, rest) = r.split_at(n);
            *r = rest;
            head
        }
        fn value(r: &mut &[u8]) -> Vec<u8> {
            let n = u32::from_be_bytes(take(r, 4).try_into().expect("length")) as usize;
            take(r, n).to_vec()
        }
        assert!(file.starts_with(MAGIC_V2));
        let mut r = &file[MAGIC_LEN..file.len() - DIGEST_LEN];
        let mut all = Records::new();
        loop {
            let tag = take(&mut r, 1)[0];
            if tag == END {
                break;
            }
            if tag == CUT {
                value(&mut r);
                continue;
            }
            let n = take(&mut r, 1)[0] as usize;
            let tree = String::from_utf8(take(&mut r, n).to_vec()).expect("tree name");
            let key = value(&mut r);
            match tag {
                PUT => all.insert((tree, key), value(&mut r)),
                REMOVE => all.remove(&(tree, key)),
                other => panic!("record type {other}"),
            };
        }
        assert!(r.is_empty(), "{} bytes after the end", r.len());
        all
    }

    /// Writes at three points of the copy (at its start, in the middle of the stored mail,
    /// at its end), each touching keys the copy has passed and keys it has yet to reach:
    /// transactions over several trees, a batch, single writes, removals. The file holds
    /// every key at its value at the cut, which is the live store's, as nothing was written
    /// after it.
    #[test]
    fn every_key_is_at_its_value_at_the_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let old: Vec<Fetched> = (1..=40).map(fetched).collect();
        store
            .store_fetched("a/INBOX", 1, &old, 100)
            .expect("old mail");
        for n in 1..=4 {
            store.queue_standalone(&alert(n), 100).expect("queued");
        }
        let agent = AgentEmail::new(EmailAddress::parse("jason@example.test").expect("agent"));
        store.set_away(&agent, false).expect("agent");
        // The records the copy goes through (sled's; the mail files follow the cut).
        let records: u64 = TREES
            .iter()
            .map(|n| store.db.open_tree(n).expect("tree").len() as u64)
            .sum();
        let (mut uid, mut alerts, mut points) = (100, 10, Vec::new());
        let mut out = Vec::new();
        store
            .backup_observed(&mut out, tempfile::tempfile().expect("scratch"), &mut |n| {
                if n != 1 && n != records / 2 && n != records - 1 {
                    return;
                }
                points.push(n);
                uid += 1;
                store
                    .store_fetched("a/INBOX", 1, &[fetched(uid)], 200)
                    .expect("stored meanwhile");
                let queued = store.outbox_entries().expect("entries");
                store.mark_sent(&queued[0], "250 ok", 200).expect("sent");
                alerts += 1;
                store.queue_standalone(&alert(alerts), 200).expect("queued");
                store.set_away(&agent, n == records / 2).expect("away");
                let cursor = Cursor {
                    uid_validity: 2,
                    last_uid: n as u32,
                    last_stored_at: 0,
                };
                store.set_cursor("b/INBOX", cursor).expect("cursor");
                if n == records / 2 {
                    // As retention does: one batch removing every other mail's bytes, some
                    // copied already, some not yet.
                    let _gate = store.write_gate();
                    let seqs: Vec<u64> = store
                        .pending()
                        .expect("pending")
                        .into_iter()
                        .step_by(2)
                        .collect();
                    store.files.remove(Kind::In, &seqs).expect("purged");
                }
            })
            .expect("backup");
        assert_eq!(
            points,
            [1, records / 2, records - 1],
            "writes at each point"
        );
        let live = dump(&store);
        let restored = replay(&out);
        assert_eq!(restored.len(), live.len());
        for (k, v) in &live {
            assert_eq!(restored.get(k), Some(v), "{k:?}");
        }
        assert_eq!(restored, live);
    }

    /// A backup taken while two writers run transactions over several trees restores to
    /// one instant: every invariant those transactions keep holds in the restored store,
    /// and writes made during the copy are in it.
    #[test]
    fn transactions_across_trees_are_whole_or_absent_in_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let old: Vec<Fetched> = (1..=100)
            .map(|uid| Fetched {
                uid,
                raw: format!("Subject: {uid}\r\n\r\n{}", "y".repeat(16 * 1024)).into_bytes(),
            })
            .collect();
        store
            .store_fetched("old/INBOX", 1, &old, 0)
            .expect("old mail");
        let stop = AtomicBool::new(false);
        let (uids, sends) = (AtomicU32::new(0), AtomicU32::new(0));
        let mut out = Vec::new();
        std::thread::scope(|s| {
            // Writer 1: mail with the cursor in one transaction (uids 1, 2, 3, … in order).
            s.spawn(|| {
                let mut uid = 0;
                while !stop.load(Ordering::Relaxed) {
                    uid += 1;
                    store
                        .store_fetched("w/INBOX", 9, &[fetched(uid)], 0)
                        .expect("stored");
                    uids.store(uid, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            });
            // Writer 2: queues a mail, then marks the previous one sent (entry and bytes
            // out, the highest id sent up, one transaction).
            s.spawn(|| {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    store.queue_standalone(&alert(n), 0).expect("queued");
                    let queued = store.outbox_entries().expect("entries");
                    for e in queued
                        .iter()
                        .filter(|e| e.message_id != alert(n).message_id)
                    {
                        store.mark_sent(e, "250 ok", 0).expect("sent");
                    }
                    sends.store(n as u32, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            });
            // Both writers go on through the copy: it waits at its first record until each
            // has written 20 more times.
            let (u, n) = (uids.load(Ordering::Relaxed), sends.load(Ordering::Relaxed));
            store
                .backup_observed(
                    &mut out,
                    tempfile::tempfile().expect("scratch"),
                    &mut |copied| {
                        while copied == 1
                            && (uids.load(Ordering::Relaxed) < u + 20
                                || sends.load(Ordering::Relaxed) < n + 20)
                        {
                            std::thread::yield_now();
                        }
                    },
                )
                .expect("backup");
            stop.store(true, Ordering::Relaxed);
        });
        drop(store);

        let (r, restored) =
            Store::restore(&dir.path().join("restored"), &mut &out[..]).expect("restore");
        // Mail and cursor moved together: the cursor is the highest stored UID, and every
        // UID up to it is stored with its bytes and index entries.
        let records = r.inbound_all().expect("inbound");
        let ours: Vec<_> = records.iter().filter(|m| m.mailbox == "w/INBOX").collect();
        let cursor = r.cursor("w/INBOX").expect("cursor").expect("some");
        assert_eq!(
            ours.len() as u32,
            cursor.last_uid,
            "no mail without its cursor"
        );
        assert!(cursor.last_uid >= 20);
        for (i, m) in ours.iter().enumerate() {
            assert_eq!(m.uid, i as u32 + 1);
            assert_eq!(
                r.raw(m.seq).expect("raw"),
                Some(fetched(m.uid).raw),
                "the bytes of uid {}",
                m.uid
            );
            assert!(r.has_uid("w/INBOX", 9, m.uid).expect("by_uid"));
        }
        assert_eq!(records.len() - ours.len(), 100, "the old mail is all there");
        // Sending moved entries: the newest one or two (between queueing one and marking
        // the previous one sent) were still queued and are now held; every earlier one was
        // sent, and no id is both.
        let number = |e: &crate::domain::OutboxEntry| {
            e.message_id
                .trim_start_matches("<alert.")
                .split('@')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .expect("n")
        };
        let dead = r.dead_letters().expect("dead");
        let mut held: Vec<usize> = dead.iter().map(|d| number(&d.entry)).collect();
        held.sort_unstable();
        assert!(
            held == [held[0]] || held == [held[0], held[0] + 1],
            "{dead:?}"
        );
        assert!(held[0] > 20, "sends during the copy are in it: {held:?}");
        assert_eq!(restored.held_outbox.len(), held.len());
        // Entries are sent oldest first, and the highest id sent moves in the transaction
        // that takes the entry out: every held one is above it, with its bytes.
        let high = r
            .meta
            .get(SENT_HIGH)
            .expect("meta")
            .map_or(0, |v| from_be(&v));
        assert!(high > 0, "mails sent before the cut");
        for d in &dead {
            assert!(r.outbox_raw(d.entry.id).expect("bytes").is_some());
            assert!(d.entry.id > high, "{} was sent and is held", d.entry.id);
        }
        assert!(r.outbox_raw(high).expect("bytes").is_none());
    }

    /// Bursts of thousands of changes to one tree in one batch (as retention's purge makes)
    /// while a backup runs: more than sled buffers for a subscriber, so writers wait for the
    /// feed, holding sled's global lock. The backup finishes (a feed drained through sled's
    /// `Future` deadlocked here), and every batch is whole in it.
    #[test]
    fn batches_larger_than_the_feed_buffer_neither_stall_nor_tear() {
        const KEYS: u32 = 1100;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("store");
        let old: Vec<Fetched> = (1..=20).map(fetched).collect();
        store
            .store_fetched("old/INBOX", 1, &old, 0)
            .expect("old mail");
        let stop = AtomicBool::new(false);
        let rounds = AtomicU32::new(0);
        let burst = |round: u32| {
            let _gate = store.write_gate();
            let mut b = sled::Batch::default();
            for k in 0..KEYS {
                b.insert(format!("burst:{k:05}").as_bytes(), &round.to_be_bytes());
            }
            store.meta.apply_batch(b).expect("batch");
        };
        let mut out = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    burst(rounds.fetch_add(1, Ordering::Relaxed) + 1);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            });
            for _ in 0..2 {
                let before = rounds.load(Ordering::Relaxed);
                out.clear();
                store
                    .backup_observed(
                        &mut out,
                        tempfile::tempfile().expect("scratch"),
                        &mut |copied| {
                            while copied == 1 && rounds.load(Ordering::Relaxed) < before + 2 {
                                std::thread::yield_now();
                            }
                        },
                    )
                    .expect("backup");
            }
            stop.store(true, Ordering::Relaxed);
        });
        let restored = replay(&out);
        let values: std::collections::BTreeSet<&Vec<u8>> = restored
            .iter()
            .filter(|((tree, key), _)| tree == "meta" && key.starts_with(b"burst:"))
            .map(|(_, v)| v)
            .collect();
        let keys = restored
            .keys()
            .filter(|(tree, key)| tree == "meta" && key.starts_with(b"burst:"))
            .count();
        assert_eq!(keys, KEYS as usize);
        assert_eq!(values.len(), 1, "one batch's values throughout: {values:?}");
    }
}
