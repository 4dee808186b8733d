//! The change feed of an online backup: every write made to the store while the backup
//! copies it, captured from sled's subscribers into a scratch file, up to the cut.
//!
//! What sled 0.34.7 gives and how it is used (read in its `subscriber.rs`, `tree.rs`,
//! `transaction.rs` and `oneshot.rs`):
//! - Every change to a tree reserves a slot in each of its subscribers' channels before it is
//!   linked into the page and fills the slot after: plain writes, compare-and-swap, every key
//!   of a batch and of a transaction alike. A write that changes nothing (the value it already
//!   has) and a link that lost a race drop their slot; readers skip dropped slots. A writer
//!   reads the page before it reserves and links only if the page is unchanged since, so one
//!   key's events are in the order its writes took effect (sled documents this per key).
//! - A channel holds 1024 slots; a writer blocks on a full one while holding the
//!   subscriber's list for reading (and, in a batch or transaction, sled's global
//!   concurrency lock, so every other sled call in the process waits too). So the feed is
//!   drained all the time, and nothing that drains takes that list for writing while a
//!   writer may be in flight: the `Future` implementation does, after every empty poll, and
//!   would deadlock with a writer blocked on a full channel; `Subscriber::drop` does too.
//!   The blocking iterator takes no lock, so each tree gets a thread that only iterates.
//! - `Subscriber::next_timeout` keeps failing after the first dropped slot; it is not used.
//!
//! Ending the feed: a blocking iterator returns only with an event, so at the cut, with the
//! store's write gate held exclusively (no write in flight, none can start), the feed writes
//! one event into every tree itself: a compare-and-swap of a key that does not exist, from
//! absent to absent. sled links it as a removal of that key and delivers it, though no
//! reader can see it; the key is made unique per backup, so no write of the store can look
//! like it. Every event before it in a channel is a write from before the cut, every write
//! from before the cut is before it. Each thread drops its subscriber on seeing it, still
//! within the gate, so no writer can be waiting on the channel it drops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use super::backup::{BackupStats, write_put, write_remove};
use super::{Result, Store, StoreError};

/// How often the cut tries to write a tree's end marker before giving up on that tree.
const MARKER_ATTEMPTS: usize = 3;

/// The writes captured during the copy.
pub(super) struct Captured {
    /// Their records, each tree's in the order sled delivered them.
    pub(super) scratch: std::io::BufWriter<std::fs::File>,
    /// How many, and their bytes.
    pub(super) stats: BackupStats,
    /// The scratch file failed: the backup fails.
    pub(super) failed: bool,
}

/// One tree's drainer: the thread and the tree it watches.
struct Drainer {
    tree: sled::Tree,
    thread: JoinHandle<()>,
}

/// The change feed: a thread per tree, started with no write in flight, ended at the cut.
pub(super) struct Feed {
    drainers: Vec<Drainer>,
    /// The key of this backup's end markers.
    marker: Arc<[u8]>,
    /// Set when a marker could not be written: the drainers end at their next event.
    abandon: Arc<AtomicBool>,
    captured: Arc<Mutex<Captured>>,
    /// Set by a drainer when the scratch file failed (it drains on, discarding).
    failed: Arc<AtomicBool>,
    gate: Arc<RwLock<()>>,
}

impl Feed {
    /// Subscribes to every tree of `trees` with no write in flight (under the store's write
    /// gate, held exclusively for as long as that takes) and starts the drainers.
    pub(super) fn start(
        store: &Store,
        trees: &[(&'static str, sled::Tree)],
        scratch: std::fs::File,
    ) -> Result<Feed> {
        let mut feed = Feed {
            drainers: Vec::with_capacity(trees.len()),
            marker: marker_key(store)?,
            abandon: Arc::new(AtomicBool::new(false)),
            captured: Arc::new(Mutex::new(Captured {
                scratch: std::io::BufWriter::with_capacity(1 << 20, scratch),
                stats: BackupStats::default(),
                failed: false,
            })),
            failed: Arc::new(AtomicBool::new(false)),
            gate: store.gate.clone(),
        };
        let gate = feed.gate.clone();
        let _exclusive = gate.write().unwrap_or_else(|p| p.into_inner());
        for (name, tree) in trees {
            let subscriber = tree.watch_prefix(Vec::new());
            let drain = Drain {
                tree: name,
                marker: feed.marker.clone(),
                abandon: feed.abandon.clone(),
                captured: feed.captured.clone(),
                failed: feed.failed.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("backup-{name}"))
                .spawn(move || drain.run(subscriber));
            match spawned {
                Ok(thread) => feed.drainers.push(Drainer {
                    tree: tree.clone(),
                    thread,
                }),
                Err(e) => {
                    // The subscriber went with the closure, dropped here with no writer in
                    // flight; the drainers started so far end before the gate opens (an
                    // error ending them says less than this one).
                    let _ = feed.end();
                    return Err(StoreError::Backup(format!(
                        "cannot start the backup's change feed: {e}"
                    )));
                }
            }
        }
        Ok(feed)
    }

    /// Whether a drainer could not keep what it captured (the copy may stop early).
    pub(super) fn failed(&self) -> &AtomicBool {
        &self.failed
    }

    /// The cut: with the write gate held exclusively, ends every drainer after the last
    /// write before it. Returns the captured writes.
    pub(super) fn cut(mut self) -> Result<Captured> {
        let gate = self.gate.clone();
        let exclusive = gate.write().unwrap_or_else(|p| p.into_inner());
        let ended = self.end();
        drop(exclusive);
        ended?;
        let captured = self.captured.clone();
        // Every drainer has ended and dropped its handle; this is the last one but ours.
        drop(self);
        let captured = Arc::try_unwrap(captured)
            .map_err(|_| StoreError::Backup("the backup's change feed is still in use".into()))?
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        if captured.failed {
            return Err(StoreError::Backup(
                "the writes made during the backup could not be kept in the scratch file".into(),
            ));
        }
        Ok(captured)
    }

    /// Writes every drainer's end marker and waits for it to end. Call with the write gate
    /// held exclusively. A tree whose marker cannot be written (sled failed to write its
    /// log) is abandoned: its drainer ends at that tree's next write, outside the gate.
    fn end(&mut self) -> Result<()> {
        let mut lost = None;
        for drainer in std::mem::take(&mut self.drainers) {
            let mut written = Err(sled::Error::Unsupported(String::new()));
            for _ in 0..MARKER_ATTEMPTS {
                written = drainer.tree.compare_and_swap(
                    &*self.marker,
                    None as Option<&[u8]>,
                    None as Option<&[u8]>,
                );
                if written.is_ok() {
                    break;
                }
            }
            match written {
                Ok(_) => {
                    if drainer.thread.join().is_err() {
                        lost = Some(StoreError::Backup(
                            "a thread of the backup's change feed failed".into(),
                        ));
                    }
                }
                Err(e) => {
                    self.abandon.store(true, Ordering::SeqCst);
                    lost = Some(StoreError::Sled(e));
                }
            }
        }
        lost.map_or(Ok(()), Err)
    }
}

impl Drop for Feed {
    /// An early return (an error, a panic) still ends the feed at a cut, so that no writer
    /// is left waiting on a channel nobody drains.
    fn drop(&mut self) {
        if !self.drainers.is_empty() {
            let gate = self.gate.clone();
            let _exclusive = gate.write().unwrap_or_else(|p| p.into_inner());
            let _ = self.end();
        }
    }
}

/// A key no write of the store makes, used once: `0xff` (which UTF-8 text, the store's text
/// keys, never holds), a tag, and a fresh id of this database; 29 bytes, where the store's
/// other keys are numbers (8 bytes), digests (16) or start with text.
fn marker_key(store: &Store) -> Result<Arc<[u8]>> {
    let mut key = vec![0xff];
    key.extend_from_slice(b"frontdesk-backup-cut-");
    key.extend_from_slice(&store.db.generate_id()?.to_be_bytes());
    Ok(key.into())
}

/// What one drainer thread needs.
struct Drain {
    tree: &'static str,
    marker: Arc<[u8]>,
    abandon: Arc<AtomicBool>,
    captured: Arc<Mutex<Captured>>,
    failed: Arc<AtomicBool>,
}

impl Drain {
    /// Writes every event of `subscriber` to the scratch file until this backup's end
    /// marker, then drops the subscriber (the cut holds the gate meanwhile).
    fn run(self, mut subscriber: sled::Subscriber) {
        for event in subscriber.by_ref() {
            if let sled::Event::Remove { key } = &event
                && **key == *self.marker
            {
                break;
            }
            if self.abandon.load(Ordering::SeqCst) {
                break;
            }
            let mut captured = self.captured.lock().unwrap_or_else(|p| p.into_inner());
            if captured.failed {
                continue;
            }
            let c = &mut *captured;
            let written = match &event {
                sled::Event::Insert { key, value } => {
                    c.stats.bytes += (key.len() + value.len()) as u64;
                    write_put(&mut c.scratch, self.tree, key, value)
                }
                sled::Event::Remove { key } => {
                    c.stats.bytes += key.len() as u64;
                    write_remove(&mut c.scratch, self.tree, key)
                }
            };
            c.stats.records += 1;
            if written.is_err() {
                c.failed = true;
                self.failed.store(true, Ordering::SeqCst);
            }
        }
        drop(subscriber);
    }
}
