//! The durable state, and the only module that touches sled. It offers typed operations
//! (`store_fetched`, `record_outcome`, `claim_due`, …), never raw trees. Integers in keys are
//! big-endian so that range scans come out in numeric order. Everything that must change
//! together changes in one transaction, and every durability point ends with an explicit flush
//! (sled otherwise keeps recent writes in memory until its periodic flush, every second here).
//! The tree layout is in ARCHITECTURE.md.

use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use crate::domain::{
    AgentEmail, Cursor, DeadLetter, Direction, EmailAddress, FORGOTTEN, Fetched, FlagJob, Inbound,
    MailKind, OutboxEntry, Outcome, OutgoingMail, Plan, Ticket, TicketChange, TicketId,
    TicketMessage, TicketState, TicketSummary, UnixTime,
};
use crate::mail::thread::ThreadLookup;

/// The layout version written by this build; [`Store::open`] migrates older ones.
const SCHEMA_VERSION: u64 = 1;

/// Every tree of the store, in backup order.
const TREES: [&str; 16] = [
    "meta",
    "cursors",
    "inbound",
    "raw",
    "by_uid",
    "pending",
    "digests",
    "imap_flags",
    "tickets",
    "msgids",
    "customers",
    "outbox",
    "outbox_raw",
    "dead",
    "sent",
    "agents",
];

/// One key and value of a tree, as a backup carries it.
type Record = (Vec<u8>, Vec<u8>);

/// The first bytes of a backup file (format version 1).
const BACKUP_MAGIC: &[u8] = b"FRONTDESK-BACKUP 1\n";

/// What `customer forget` erased.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ForgetStats {
    /// Tickets turned into tombstones.
    pub tickets: usize,
    /// Stored mails whose bytes were deleted.
    pub mails: usize,
    /// Queued or dead mails to them that were dropped.
    pub queued_dropped: usize,
}

/// What a backup or restore copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupStats {
    /// Records in all trees.
    pub records: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Tickets among them.
    pub tickets: usize,
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state directory is locked by another process (usually the running daemon).
    #[error(
        "the store in {dir} is held by another process (is the daemon running?); stop it first, or run this on a copy of the state directory"
    )]
    Locked {
        /// The state directory.
        dir: String,
    },
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A record could not be decoded; the store was written by something else.
    #[error("store record in {tree} is corrupt: {detail}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// The store was written by a newer Frontdesk.
    #[error(
        "store schema {found} is newer than this build understands ({SCHEMA_VERSION}); upgrade frontdesk"
    )]
    TooNew {
        /// The version found.
        found: u64,
    },
    /// A ticket that must exist does not.
    #[error("no ticket #{0}")]
    NoTicket(TicketId),
    /// Another writer changed the ticket counter between planning and committing.
    #[error("ticket numbering changed concurrently; retry")]
    Conflict,
    /// A backup file could not be written or read back.
    #[error("backup: {0}")]
    Backup(String),
    /// `quarantine release` on a mail that is not quarantined.
    #[error("stored mail {0} is not quarantined")]
    NotQuarantined(u64),
}

type Result<T> = std::result::Result<T, StoreError>;

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn from_be(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(b)
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain structs to JSON cannot fail (no maps with non-string keys).
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Customer {
    tickets: Vec<TicketId>,
    /// Times of acknowledgements sent to this address (only the last day's are kept).
    acks: Vec<UnixTime>,
}

/// What [`Store::record_outcome`] committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The mail's outcome (the earlier one, if it had been processed already).
    pub outcome: Outcome,
    /// Set when this commit recorded the ticket's first answer: the time since it opened.
    pub first_response_after: Option<std::time::Duration>,
}

/// The sled store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Held shared by every write, exclusively by a backup: a backup sees no write half done.
    gate: Arc<RwLock<()>>,
    meta: Tree,
    cursors: Tree,
    inbound: Tree,
    raw: Tree,
    by_uid: Tree,
    pending: Tree,
    digests: Tree,
    imap_flags: Tree,
    tickets: Tree,
    msgids: Tree,
    customers: Tree,
    outbox: Tree,
    outbox_raw: Tree,
    dead: Tree,
    sent: Tree,
    agents: Tree,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    name: &'static str,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        None => Ok(None),
        Some(v) => decode(name, &v)
            .map(Some)
            .map_err(ConflictableTransactionError::Abort),
    }
}

fn unwrap_tx<T>(r: std::result::Result<T, TransactionError<StoreError>>) -> Result<T> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    })
}

fn open_key(agent: &AgentEmail) -> Vec<u8> {
    format!("open:{agent}").into_bytes()
}

/// Adds `delta` to an agent's open-ticket counter inside a transaction.
fn bump_open(meta: &TransactionalTree, agent: &AgentEmail, delta: i64) -> TxResult<()> {
    let key = open_key(agent);
    let n = meta.get(&key)?.map_or(0, |v| from_be(&v)) as i64;
    meta.insert(key, &be((n + delta).max(0) as u64))?;
    Ok(())
}

/// The outbox trees a queued mail is written to, inside a transaction.
struct OutboxTx<'a> {
    outbox: &'a TransactionalTree,
    outbox_raw: &'a TransactionalTree,
    msgids: &'a TransactionalTree,
}

impl OutboxTx<'_> {
    /// Queues `mail` for `ticket`: the outbox entry, its bytes, its Message-ID in the
    /// threading index, and a history entry on the ticket (the first notification becomes
    /// the agent's thread root).
    fn queue(
        &self,
        ticket: &mut Ticket,
        mail: &OutgoingMail,
        now: UnixTime,
        cause: Option<UnixTime>,
    ) -> TxResult<u64> {
        let id = self.outbox.generate_id()?;
        let entry = OutboxEntry {
            id,
            kind: mail.kind,
            ticket: Some(ticket.id),
            message_id: mail.message_id.clone(),
            envelope_from: mail.envelope_from.clone(),
            recipients: mail.recipients.clone(),
            created_at: now,
            cause_stored_at: cause,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        };
        self.outbox.insert(&be(id), encode(&entry))?;
        self.outbox_raw.insert(&be(id), mail.raw.as_slice())?;
        self.msgids
            .insert(mail.message_id.as_bytes(), &be(ticket.id.get()))?;
        if mail.kind == MailKind::AgentNotification && ticket.notify_root.is_none() {
            ticket.notify_root = Some(mail.message_id.clone());
        }
        ticket.messages.push(TicketMessage {
            at: now,
            direction: Direction::of(mail.kind),
            message_id: Some(mail.message_id.clone()),
            from: None,
            subject: String::new(),
            inbound_seq: None,
            outbox_id: Some(id),
            suppressed: None,
            note: None,
        });
        Ok(id)
    }
}

/// Applies a state and owner change to `t` inside a transaction, keeping the open-ticket
/// counters and `closed_at` right; the new owner's notification starts their own thread.
fn change_ticket(
    meta: &TransactionalTree,
    t: &mut Ticket,
    state: Option<TicketState>,
    reassign: Option<&AgentEmail>,
    now: UnixTime,
) -> TxResult<()> {
    let (was_open, old_agent) = (t.state == TicketState::Open, t.agent.clone());
    if let Some(state) = state {
        t.state = state;
    }
    if let Some(agent) = reassign {
        t.agent = agent.clone();
        t.notify_root = None;
    }
    if was_open {
        bump_open(meta, &old_agent, -1)?;
    }
    if t.state == TicketState::Open {
        bump_open(meta, &t.agent, 1)?;
    }
    t.closed_at = match (was_open, t.state) {
        (true, TicketState::Closed) => Some(now),
        (_, TicketState::Open) => None,
        (false, TicketState::Closed) => t.closed_at,
    };
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AgentRecord {
    away: bool,
}

/// Prefix of the `meta` keys of tickets owed a flood summary.
const FLOOD_PREFIX: &[u8] = b"flood:";

fn flood_key(ticket: TicketId) -> Vec<u8> {
    let mut k = FLOOD_PREFIX.to_vec();
    k.extend_from_slice(&be(ticket.get()));
    k
}

/// The `meta` key counting acknowledgements in the clock hour of `at`.
fn hour_key(at: UnixTime) -> Vec<u8> {
    let mut k = b"acks:".to_vec();
    k.extend_from_slice(&be(at.div_euclid(3600) as u64));
    k
}

fn digest(raw: &[u8]) -> [u8; 16] {
    use sha2::Digest;
    let full = sha2::Sha256::digest(raw);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn uid_key(mailbox: &str, uid_validity: u32, uid: u32) -> Vec<u8> {
    let mut k = mailbox.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&uid_validity.to_be_bytes());
    k.extend_from_slice(&uid.to_be_bytes());
    k
}

/// The value of an `imap_flags` entry for mail that only gets the handled keyword.
const KEYWORD_ONLY: &[u8] = b"k";

impl Store {
    /// Opens (or creates) the store in `dir`, with a small cache: sled's default of 1 GiB
    /// would make the daemon look like a memory hog. Only one process can hold it; within a
    /// process, the lock is released shortly after the last handle is dropped (when sled's
    /// flusher thread ends), not at the drop itself.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(16 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    StoreError::Locked {
                        dir: dir.display().to_string(),
                    }
                }
                other => StoreError::Sled(other),
            })?;
        let t = |name: &str| db.open_tree(name);
        let store = Store {
            gate: Arc::new(RwLock::new(())),
            meta: t("meta")?,
            cursors: t("cursors")?,
            inbound: t("inbound")?,
            raw: t("raw")?,
            by_uid: t("by_uid")?,
            pending: t("pending")?,
            digests: t("digests")?,
            imap_flags: t("imap_flags")?,
            tickets: t("tickets")?,
            msgids: t("msgids")?,
            customers: t("customers")?,
            outbox: t("outbox")?,
            outbox_raw: t("outbox_raw")?,
            dead: t("dead")?,
            sent: t("sent")?,
            agents: t("agents")?,
            db,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<()> {
        match self.meta.get("schema")?.map(|v| from_be(&v)) {
            None => {
                self.meta.insert("schema", &be(SCHEMA_VERSION))?;
                self.meta
                    .insert("next_ticket", &be(TicketId::FIRST.get()))?;
                self.db.flush()?;
                Ok(())
            }
            Some(SCHEMA_VERSION) => Ok(()),
            // Future migrations go here, one arm per version, each ending in a flush.
            Some(found) => Err(StoreError::TooNew { found }),
        }
    }

    /// Taken by every write: a running backup waits for the writes in progress and holds off
    /// new ones, so it copies a state with no transaction half applied.
    fn write_gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a consistent copy of every tree to `out` (writes wait meanwhile) in the format
    /// [`Store::restore`] reads: a header, each tree's records, and a SHA-256 of it all.
    pub fn backup(&self, out: &mut impl std::io::Write) -> Result<BackupStats> {
        use sha2::Digest;
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let mut hasher = sha2::Sha256::new();
        let mut stats = BackupStats::default();
        let mut put = |bytes: &[u8]| -> Result<()> {
            hasher.update(bytes);
            out.write_all(bytes)
                .map_err(|e| StoreError::Backup(e.to_string()))
        };
        put(BACKUP_MAGIC)?;
        for name in TREES {
            let tree = self.db.open_tree(name)?;
            put(&[1])?;
            put(&(name.len() as u32).to_be_bytes())?;
            put(name.as_bytes())?;
            put(&(tree.len() as u64).to_be_bytes())?;
            for kv in tree.iter() {
                let (k, v) = kv?;
                put(&(k.len() as u32).to_be_bytes())?;
                put(&k)?;
                put(&(v.len() as u32).to_be_bytes())?;
                put(&v)?;
                stats.records += 1;
                stats.bytes += (k.len() + v.len()) as u64;
            }
        }
        put(&[0])?;
        let digest = hasher.finalize();
        out.write_all(&digest)
            .map_err(|e| StoreError::Backup(e.to_string()))?;
        stats.tickets = self.tickets.len();
        Ok(stats)
    }

    /// Creates the store in `dir` from a backup made by [`Store::backup`], after checking the
    /// whole file, and returns it open. Refuses a directory that already holds a store.
    pub fn restore(dir: &Path, input: &mut impl std::io::Read) -> Result<(Store, BackupStats)> {
        use sha2::Digest;
        if dir.join("db").exists() {
            return Err(StoreError::Backup(format!(
                "{} already holds a store; move it aside first (restore never overwrites one)",
                dir.display()
            )));
        }
        let mut data = Vec::new();
        input
            .read_to_end(&mut data)
            .map_err(|e| StoreError::Backup(e.to_string()))?;
        let bad = |why: &str| StoreError::Backup(format!("not a usable Frontdesk backup: {why}"));
        if data.len() < BACKUP_MAGIC.len() + 33 || !data.starts_with(BACKUP_MAGIC) {
            return Err(bad("wrong header"));
        }
        let (body, digest) = data.split_at(data.len() - 32);
        if sha2::Sha256::digest(body).as_slice() != digest {
            return Err(bad("checksum mismatch (truncated or damaged)"));
        }
        let mut trees: Vec<(String, Vec<Record>)> = Vec::new();
        let mut r = &body[BACKUP_MAGIC.len()..];
        let mut take = |n: usize| -> Result<&[u8]> {
            if r.len() < n {
                return Err(bad("truncated record"));
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Ok(head)
        };
        let u32_of = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or([0; 4])) as usize;
        loop {
            match take(1)?[0] {
                0 => break,
                1 => {}
                _ => return Err(bad("unknown record")),
            }
            let n = u32_of(take(4)?);
            let name = String::from_utf8(take(n)?.to_vec()).map_err(|_| bad("tree name"))?;
            if !TREES.contains(&name.as_str()) {
                return Err(bad(&format!("unknown tree {name}")));
            }
            let count = from_be(take(8)?);
            let mut records = Vec::new();
            for _ in 0..count {
                let kl = u32_of(take(4)?);
                let k = take(kl)?.to_vec();
                let vl = u32_of(take(4)?);
                let v = take(vl)?.to_vec();
                records.push((k, v));
            }
            trees.push((name, records));
        }
        let store = Store::open(dir)?;
        let mut stats = BackupStats::default();
        for (name, records) in trees {
            let tree = store.db.open_tree(&name)?;
            tree.clear()?;
            let mut batch = sled::Batch::default();
            for (k, v) in records {
                stats.records += 1;
                stats.bytes += (k.len() + v.len()) as u64;
                batch.insert(k, v);
            }
            tree.apply_batch(batch)?;
        }
        // sled's id counter lives outside the trees: a fresh database starts it at 0, and new
        // mail or outbox entries would overwrite restored records. Move it past every id used.
        let mut used = 0u64;
        for tree in [&store.inbound, &store.outbox, &store.dead, &store.sent] {
            if let Some((k, _)) = tree.last()? {
                used = used.max(from_be(&k));
            }
        }
        while store.db.generate_id()? <= used {}
        store.db.flush()?;
        stats.tickets = store.tickets.len();
        Ok((store, stats))
    }

    /// [`Store::flush`] for code outside the async runtime's tasks (the CLI).
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Makes everything written so far durable. Called at every durability point.
    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    // ---- ingest -----------------------------------------------------------------------

    /// The recorded progress of a mailbox, if any.
    pub fn cursor(&self, mailbox: &str) -> Result<Option<Cursor>> {
        self.cursors
            .get(mailbox)?
            .map(|v| decode("cursors", &v))
            .transpose()
    }

    /// Records progress without storing mail (first start without backfill, or a resync).
    pub fn set_cursor(&self, mailbox: &str, cursor: Cursor) -> Result<()> {
        let _gate = self.write_gate();
        self.cursors.insert(mailbox, encode(&cursor))?;
        Ok(())
    }

    /// Whether this UID was stored already (a retry after a crash between store and cursor).
    pub fn has_uid(&self, mailbox: &str, uid_validity: u32, uid: u32) -> Result<bool> {
        Ok(self
            .by_uid
            .contains_key(uid_key(mailbox, uid_validity, uid))?)
    }

    /// Stores fetched mail and advances the cursor in one transaction; returns the sequence
    /// numbers of the newly stored mails (already-stored UIDs are skipped). Call
    /// [`Store::flush`] before acting on them.
    pub fn store_fetched(
        &self,
        mailbox: &str,
        uid_validity: u32,
        batch: &[Fetched],
        now: UnixTime,
    ) -> Result<Vec<u64>> {
        let _gate = self.write_gate();
        let seqs: Vec<u64> = batch
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<std::result::Result<_, _>>()?;
        let digests: Vec<[u8; 16]> = batch.iter().map(|f| digest(&f.raw)).collect();
        let res = (
            &self.inbound,
            &self.raw,
            &self.by_uid,
            &self.pending,
            &self.cursors,
            &self.digests,
        )
            .transaction(|(inbound, raw, by_uid, pending, cursors, digest_tree)| {
                let mut stored = Vec::new();
                let mut cursor: Cursor =
                    tx_get(cursors, "cursors", mailbox.as_bytes())?.unwrap_or(Cursor {
                        uid_validity,
                        last_uid: 0,
                        last_stored_at: now,
                    });
                for ((f, &seq), d) in batch.iter().zip(&seqs).zip(&digests) {
                    let key = uid_key(mailbox, uid_validity, f.uid);
                    if by_uid.get(&key)?.is_some() {
                        // Stored already (a retry after a crash before the cursor moved).
                    } else if let Some(existing) = digest_tree.get(d)? {
                        // The very same bytes under a new UID (moved back from the processed
                        // mailbox, re-uploaded by a syncing client): the same mail, not a new one.
                        by_uid.insert(key, existing)?;
                    } else {
                        let record = Inbound {
                            seq,
                            mailbox: mailbox.to_string(),
                            uid_validity,
                            uid: f.uid,
                            stored_at: now,
                            size: f.raw.len(),
                            outcome: None,
                            message_id: None,
                        };
                        inbound.insert(&be(seq), encode(&record))?;
                        raw.insert(&be(seq), f.raw.as_slice())?;
                        by_uid.insert(key, &be(seq))?;
                        pending.insert(&be(seq), &[])?;
                        digest_tree.insert(d, &be(seq))?;
                        stored.push(seq);
                    }
                    if cursor.uid_validity == uid_validity {
                        cursor.last_uid = cursor.last_uid.max(f.uid);
                    } else {
                        cursor = Cursor {
                            uid_validity,
                            last_uid: f.uid,
                            last_stored_at: now,
                        };
                    }
                    cursor.last_stored_at = now;
                }
                cursors.insert(mailbox.as_bytes(), encode(&cursor))?;
                Ok(stored)
            });
        unwrap_tx(res)
    }

    /// Whether mail with exactly these bytes was stored before (re-synchronisation after a
    /// UIDVALIDITY change compares content, since UIDs no longer mean anything).
    pub fn has_digest(&self, raw: &[u8]) -> Result<bool> {
        Ok(self.digests.contains_key(digest(raw))?)
    }

    /// Stored mail not yet processed, oldest first (after a crash, these are redone).
    pub fn pending(&self) -> Result<Vec<u64>> {
        self.pending
            .iter()
            .keys()
            .map(|k| k.map(|k| from_be(&k)).map_err(StoreError::from))
            .collect()
    }

    /// The raw bytes of a stored mail.
    pub fn raw(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.raw.get(be(seq))?.map(|v| v.to_vec()))
    }

    /// The record of a stored mail.
    pub fn inbound(&self, seq: u64) -> Result<Option<Inbound>> {
        self.inbound
            .get(be(seq))?
            .map(|v| decode("inbound", &v))
            .transpose()
    }

    /// Every stored mail's record, oldest first.
    pub fn inbound_all(&self) -> Result<Vec<Inbound>> {
        self.inbound
            .iter()
            .values()
            .map(|v| decode("inbound", &v?))
            .collect()
    }

    /// UIDs of `mailbox` whose flags (or move) are still to be applied on the server.
    pub fn flag_jobs(&self, mailbox: &str) -> Result<Vec<FlagJob>> {
        let mut prefix = mailbox.as_bytes().to_vec();
        prefix.push(0);
        self.imap_flags
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let tail = &k[prefix.len()..];
                Ok(FlagJob {
                    uid_validity: from_be(&tail[..4]) as u32,
                    uid: from_be(&tail[4..8]) as u32,
                    ticket: &*v != KEYWORD_ONLY,
                })
            })
            .collect()
    }

    /// Marks flag jobs done.
    pub fn flag_jobs_done(&self, mailbox: &str, jobs: &[FlagJob]) -> Result<()> {
        let _gate = self.write_gate();
        let mut batch = sled::Batch::default();
        for j in jobs {
            batch.remove(uid_key(mailbox, j.uid_validity, j.uid));
        }
        self.imap_flags.apply_batch(batch)?;
        Ok(())
    }

    // ---- processing -------------------------------------------------------------------

    /// The number the next new ticket will get. Processing is single-threaded, and
    /// [`Store::record_outcome`] refuses the plan if the number moved in between.
    pub fn peek_next_ticket(&self) -> Result<TicketId> {
        Ok(TicketId::new(
            self.meta
                .get("next_ticket")?
                .map_or(TicketId::FIRST.get(), |v| from_be(&v)),
        ))
    }

    /// How many tickets a round-robin pool has had.
    pub fn pool_counter(&self, pool_key: &str) -> Result<u64> {
        Ok(self
            .meta
            .get(format!("rr:{pool_key}"))?
            .map_or(0, |v| from_be(&v)))
    }

    /// How many acknowledgements `customer` got since `since`.
    pub fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize> {
        let c: Option<Customer> = self
            .customers
            .get(customer.without_detail().as_str())?
            .map(|v| decode("customers", &v))
            .transpose()?;
        Ok(c.map_or(0, |c| c.acks.iter().filter(|&&t| t >= since).count()))
    }

    /// Applies a processing plan for stored mail `seq` in one transaction: the ticket, its
    /// message index, the customer record, the outbox entries, the mail's outcome, the IMAP
    /// flag job, and the removal from the pending queue. Call [`Store::flush`] afterwards.
    /// `message_id` is recorded with the mail; it is added to the threading index only when
    /// `index` is true (the caller refuses ids that claim to be ours).
    pub fn record_outcome(
        &self,
        seq: u64,
        message_id: Option<&str>,
        index: bool,
        plan: &Plan,
        now: UnixTime,
    ) -> Result<Committed> {
        let _gate = self.write_gate();
        let index_id = message_id.filter(|_| index);
        let res = (
            &self.inbound,
            &self.pending,
            &self.imap_flags,
            &self.tickets,
            &self.msgids,
            &self.customers,
            &self.outbox,
            &self.outbox_raw,
            &self.meta,
        )
            .transaction(
                |(
                    inbound,
                    pending,
                    flags,
                    tickets,
                    msgids,
                    customers,
                    outbox,
                    outbox_raw,
                    meta,
                )| {
                    let Some(mut record): Option<Inbound> = tx_get(inbound, "inbound", &be(seq))?
                    else {
                        return Ok(None);
                    };
                    if let Some(outcome) = record.outcome {
                        // Already processed (a retry after a crash between commit and ack).
                        return Ok(Some(Committed {
                            outcome,
                            first_response_after: None,
                        }));
                    }
                    let mut first_response_after = None;
                    let out = OutboxTx {
                        outbox,
                        outbox_raw,
                        msgids,
                    };
                    let queue = |ticket: &mut Ticket, mail: &OutgoingMail| -> TxResult<()> {
                        out.queue(ticket, mail, now, Some(record.stored_at))
                            .map(|_| ())
                    };
                    let load = |id: TicketId| -> TxResult<Ticket> {
                        tx_get(tickets, "tickets", &be(id.get()))?.ok_or(
                            ConflictableTransactionError::Abort(StoreError::NoTicket(id)),
                        )
                    };
                    let outcome = match plan {
                        Plan::NewTicket {
                            ticket,
                            pool_key,
                            not_acknowledged,
                            outgoing,
                        } => {
                            let next = meta
                                .get("next_ticket")?
                                .map_or(TicketId::FIRST.get(), |v| from_be(&v));
                            if next != ticket.id.get() {
                                return Err(ConflictableTransactionError::Abort(
                                    StoreError::Conflict,
                                ));
                            }
                            meta.insert("next_ticket", &be(next + 1))?;
                            let rr_key = format!("rr:{pool_key}");
                            let rr = meta.get(rr_key.as_bytes())?.map_or(0, |v| from_be(&v));
                            meta.insert(rr_key.as_bytes(), &be(rr + 1))?;

                            let mut ticket = ticket.clone();
                            // One record per person: `alice+shop@` and `alice@` share history and caps.
                            let customer_key = ticket.customer.without_detail();
                            let mut customer: Customer =
                                tx_get(customers, "customers", customer_key.as_str().as_bytes())?
                                    .unwrap_or_default();
                            customer.tickets.push(ticket.id);
                            customer.acks.retain(|&t| t > now.saturating_sub(86_400));
                            // An incoming id never takes over an existing entry: two mails
                            // that share an id cannot pull each other into a stranger's ticket.
                            if let Some(id) = index_id
                                && msgids.get(id.as_bytes())?.is_none()
                            {
                                msgids.insert(id.as_bytes(), &be(ticket.id.get()))?;
                            }
                            for mail in outgoing {
                                queue(&mut ticket, mail)?;
                                if mail.kind == MailKind::Acknowledgement {
                                    customer.acks.push(now);
                                    let hour = hour_key(now);
                                    let n = meta.get(&hour)?.map_or(0, |v| from_be(&v));
                                    meta.insert(hour.as_slice(), &be(n + 1))?;
                                }
                            }
                            customers
                                .insert(customer_key.as_str().as_bytes(), encode(&customer))?;
                            bump_open(meta, &ticket.agent, 1)?;
                            tickets.insert(&be(ticket.id.get()), encode(&ticket))?;
                            Outcome::NewTicket {
                                ticket: ticket.id,
                                not_acknowledged: *not_acknowledged,
                            }
                        }
                        Plan::Join {
                            ticket,
                            via,
                            message,
                            reason,
                            outgoing,
                            reopen,
                        } => {
                            let mut t = load(*ticket)?;
                            t.messages.push(message.clone());
                            t.updated_at = now;
                            if *reopen && t.state == TicketState::Closed {
                                t.state = TicketState::Open;
                                t.closed_at = None;
                                bump_open(meta, &t.agent, 1)?;
                            }
                            for mail in outgoing {
                                queue(&mut t, mail)?;
                            }
                            if *reason == crate::domain::SuppressReason::Flood {
                                // Owed a summary: the SLA loop finds it without a full scan.
                                meta.insert(flood_key(*ticket), &[])?;
                            }
                            tickets.insert(&be(ticket.get()), encode(&t))?;
                            if let Some(id) = index_id
                                && msgids.get(id.as_bytes())?.is_none()
                            {
                                msgids.insert(id.as_bytes(), &be(ticket.get()))?;
                            }
                            Outcome::Joined {
                                ticket: *ticket,
                                via: *via,
                                reason: *reason,
                            }
                        }
                        Plan::Agent {
                            ticket,
                            message,
                            outgoing,
                            state,
                            reassign,
                            action,
                        } => {
                            let mut t = load(*ticket)?;
                            t.messages.push(message.clone());
                            t.updated_at = now;
                            change_ticket(meta, &mut t, *state, reassign.as_ref(), now)?;
                            for mail in outgoing {
                                queue(&mut t, mail)?;
                                if mail.kind == MailKind::AgentReply
                                    && t.first_response_at.is_none()
                                {
                                    t.first_response_at = Some(now);
                                    first_response_after = Some(std::time::Duration::from_secs(
                                        (now - t.created_at).max(0) as u64,
                                    ));
                                }
                            }
                            tickets.insert(&be(ticket.get()), encode(&t))?;
                            Outcome::Agent {
                                ticket: *ticket,
                                action: action.clone(),
                            }
                        }
                        Plan::Suppress(reason) => Outcome::Suppressed { reason: *reason },
                        Plan::Quarantine(reason) => Outcome::Quarantined {
                            reason: reason.clone(),
                        },
                    };
                    record.outcome = Some(outcome.clone());
                    record.message_id = message_id.map(str::to_string);
                    inbound.insert(&be(seq), encode(&record))?;
                    pending.remove(&be(seq))?;
                    // Quarantined and suppressed mail stays unread on the server, where a
                    // person sees it: a false positive must never make a customer invisible.
                    // Suppressed mail is still marked handled (the keyword), so that a store
                    // rebuilt from the server does not decide it again; quarantined mail is not.
                    let key = uid_key(&record.mailbox, record.uid_validity, record.uid);
                    match outcome {
                        Outcome::Quarantined { .. } => {}
                        Outcome::Suppressed { .. } => {
                            flags.insert(key, KEYWORD_ONLY)?;
                        }
                        _ => {
                            flags.insert(key, &[])?;
                        }
                    }
                    Ok(Some(Committed {
                        outcome,
                        first_response_after,
                    }))
                },
            );
        unwrap_tx(res)?.ok_or(StoreError::Corrupt {
            tree: "inbound",
            detail: format!("no record for stored mail {seq}"),
        })
    }

    /// Tickets that recorded follow-ups during a flood and may owe their agent a summary.
    pub fn open_tickets_with_flood(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for k in self.meta.scan_prefix(FLOOD_PREFIX).keys() {
            let k = k?;
            if let Some(t) = self.ticket(TicketId::new(from_be(&k[FLOOD_PREFIX.len()..])))? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The ticket's flood is summarised (or over): it leaves the summary list.
    pub fn flood_done(&self, ticket: TicketId) -> Result<()> {
        let _gate = self.write_gate();
        self.meta.remove(flood_key(ticket))?;
        Ok(())
    }

    /// Acknowledgements queued in the clock hour that contains `at` (all senders).
    pub fn acks_in_hour(&self, at: UnixTime) -> Result<usize> {
        Ok(self.meta.get(hour_key(at))?.map_or(0, |v| from_be(&v)) as usize)
    }

    /// An agent's open tickets and away flag.
    pub fn agent_load(&self, agent: &AgentEmail) -> Result<crate::domain::AgentLoad> {
        let open = self.meta.get(open_key(agent))?.map_or(0, |v| from_be(&v)) as usize;
        let record: AgentRecord = self
            .agents
            .get(agent.to_string())?
            .map(|v| decode("agents", &v))
            .transpose()?
            .unwrap_or_default();
        Ok(crate::domain::AgentLoad {
            open,
            away: record.away,
        })
    }

    /// Marks an agent away (new tickets skip them) or back.
    pub fn set_away(&self, agent: &AgentEmail, away: bool) -> Result<()> {
        let _gate = self.write_gate();
        self.agents
            .insert(agent.to_string(), encode(&AgentRecord { away }))?;
        self.db.flush()?;
        Ok(())
    }

    /// The tickets a customer opened before, oldest first.
    pub fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>> {
        let c: Option<Customer> = self
            .customers
            .get(customer.without_detail().as_str())?
            .map(|v| decode("customers", &v))
            .transpose()?;
        Ok(c.map(|c| c.tickets).unwrap_or_default())
    }

    /// Puts a quarantined mail back into the pending queue (its outcome cleared), so that the
    /// pipeline runs on it again. Flushed. Errors if the mail is not quarantined.
    pub fn release(&self, seq: u64) -> Result<Inbound> {
        let _gate = self.write_gate();
        let res = (&self.inbound, &self.pending).transaction(|(inbound, pending)| {
            let Some(mut record): Option<Inbound> = tx_get(inbound, "inbound", &be(seq))? else {
                return Err(ConflictableTransactionError::Abort(StoreError::Corrupt {
                    tree: "inbound",
                    detail: format!("no stored mail {seq}"),
                }));
            };
            if !matches!(record.outcome, Some(Outcome::Quarantined { .. })) {
                return Err(ConflictableTransactionError::Abort(
                    StoreError::NotQuarantined(seq),
                ));
            }
            record.outcome = None;
            inbound.insert(&be(seq), encode(&record))?;
            pending.insert(&be(seq), &[])?;
            Ok(record)
        });
        let record = unwrap_tx(res)?;
        self.db.flush()?;
        Ok(record)
    }

    // ---- tickets ----------------------------------------------------------------------

    /// One ticket.
    pub fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        self.tickets
            .get(be(id.get()))?
            .map(|v| decode("tickets", &v))
            .transpose()
    }

    /// A fresh unique id (for operations that have no incoming mail).
    pub fn new_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// An operator's change to a ticket (CLI): state, owner, the new owner's notification and
    /// a history note, in one transaction, with the open counters kept right. Flushed.
    /// With `only_if_unanswered`, nothing happens (and `false` is returned) when the ticket was
    /// answered or closed meanwhile, checked inside the transaction.
    pub fn record_ops(
        &self,
        ticket: TicketId,
        change: &TicketChange<'_>,
        now: UnixTime,
    ) -> Result<bool> {
        let _gate = self.write_gate();
        let TicketChange {
            state,
            reassign,
            outgoing,
            note,
            only_if_unanswered,
        } = change;
        let (state, only_if_unanswered) = (*state, *only_if_unanswered);
        let res = (
            &self.tickets,
            &self.outbox,
            &self.outbox_raw,
            &self.msgids,
            &self.meta,
        )
            .transaction(|(tickets, outbox, outbox_raw, msgids, meta)| {
                let Some(mut t): Option<Ticket> = tx_get(tickets, "tickets", &be(ticket.get()))?
                else {
                    return Err(ConflictableTransactionError::Abort(StoreError::NoTicket(
                        ticket,
                    )));
                };
                if only_if_unanswered
                    && (t.state != TicketState::Open || t.first_response_at.is_some())
                {
                    return Ok(false);
                }
                change_ticket(meta, &mut t, state, reassign.as_ref(), now)?;
                t.messages.push(TicketMessage {
                    at: now,
                    direction: Direction::Note,
                    message_id: None,
                    from: None,
                    subject: String::new(),
                    inbound_seq: None,
                    outbox_id: None,
                    suppressed: None,
                    note: Some(note.to_string()),
                });
                let out = OutboxTx {
                    outbox,
                    outbox_raw,
                    msgids,
                };
                for mail in outgoing.iter() {
                    out.queue(&mut t, mail, now, None)?;
                }
                t.updated_at = now;
                tickets.insert(&be(ticket.get()), encode(&t))?;
                Ok(true)
            });
        let done = unwrap_tx(res)?;
        self.db.flush()?;
        Ok(done)
    }

    /// Open tickets that no agent has answered and that were not escalated yet.
    pub fn unanswered_open_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for v in self.tickets.iter().values() {
            let t: Ticket = decode("tickets", &v?)?;
            if t.state == TicketState::Open
                && t.first_response_at.is_none()
                && t.escalated_at.is_none()
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Records an escalation and queues its mail in one transaction; `false` if the ticket
    /// was answered, closed or escalated meanwhile (nothing is queued then).
    pub fn record_escalation(
        &self,
        ticket: TicketId,
        mail: &OutgoingMail,
        now: UnixTime,
    ) -> Result<bool> {
        let _gate = self.write_gate();
        let res = (&self.tickets, &self.outbox, &self.outbox_raw, &self.msgids).transaction(
            |(tickets, outbox, outbox_raw, msgids)| {
                let Some(mut t): Option<Ticket> = tx_get(tickets, "tickets", &be(ticket.get()))?
                else {
                    return Ok(false);
                };
                if t.state != TicketState::Open
                    || t.first_response_at.is_some()
                    || t.escalated_at.is_some()
                {
                    return Ok(false);
                }
                t.escalated_at = Some(now);
                OutboxTx {
                    outbox,
                    outbox_raw,
                    msgids,
                }
                .queue(&mut t, mail, now, None)?;
                tickets.insert(&be(ticket.get()), encode(&t))?;
                Ok(true)
            },
        );
        unwrap_tx(res)
    }

    /// Queues a mail that belongs to no ticket (an ops alert). Flushed.
    pub fn queue_standalone(&self, mail: &OutgoingMail, now: UnixTime) -> Result<()> {
        let _gate = self.write_gate();
        let id = self.db.generate_id()?;
        let entry = OutboxEntry {
            id,
            kind: mail.kind,
            ticket: None,
            message_id: mail.message_id.clone(),
            envelope_from: mail.envelope_from.clone(),
            recipients: mail.recipients.clone(),
            created_at: now,
            cause_stored_at: None,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
        };
        let res: sled::transaction::TransactionResult<(), StoreError> =
            (&self.outbox, &self.outbox_raw).transaction(|(outbox, outbox_raw)| {
                outbox.insert(&be(id), encode(&entry))?;
                outbox_raw.insert(&be(id), mail.raw.as_slice())?;
                Ok(())
            });
        unwrap_tx(res)?;
        self.db.flush()?;
        Ok(())
    }

    /// The tickets of a customer and the times of their acknowledgements in the last day.
    pub fn customer_record(
        &self,
        customer: &EmailAddress,
    ) -> Result<(Vec<TicketId>, Vec<UnixTime>)> {
        let c: Option<Customer> = self
            .customers
            .get(customer.without_detail().as_str())?
            .map(|v| decode("customers", &v))
            .transpose()?;
        Ok(c.map(|c| (c.tickets, c.acks)).unwrap_or_default())
    }

    /// Erases a customer (`customer forget`): their tickets become tombstones (closed, no
    /// address, name, subjects, Message-IDs or notes), the raw bytes of `seqs` (their mail) go,
    /// mail still queued to them is dropped, and the customer record with it. One transaction,
    /// flushed. Returns what was erased.
    pub fn forget_customer(
        &self,
        customer: &EmailAddress,
        seqs: &[u64],
        now: UnixTime,
    ) -> Result<ForgetStats> {
        let _gate = self.write_gate();
        let (tickets, _) = self.customer_record(customer)?;
        // Outbox entries and index keys to drop are found outside the transaction (it
        // cannot scan); the gate keeps writers out meanwhile.
        let ours = |e: &OutboxEntry| {
            e.ticket.is_some_and(|t| tickets.contains(&t))
                || e.recipients
                    .iter()
                    .any(|r| r.without_detail() == customer.without_detail())
        };
        let mut outbox_ids = Vec::new();
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            if ours(&e) {
                outbox_ids.push(e.id);
            }
        }
        let mut dead_ids = Vec::new();
        for v in self.dead.iter().values() {
            let d: DeadLetter = decode("dead", &v?)?;
            if ours(&d.entry) {
                dead_ids.push(d.entry.id);
            }
        }
        let mut msgid_keys = Vec::new();
        for kv in self.msgids.iter() {
            let (k, v) = kv?;
            if tickets.contains(&TicketId::new(from_be(&v))) {
                msgid_keys.push(k.to_vec());
            }
        }
        let stats = ForgetStats {
            tickets: tickets.len(),
            mails: seqs.len(),
            queued_dropped: outbox_ids.len() + dead_ids.len(),
        };
        let res = (
            &self.tickets,
            &self.meta,
            &self.customers,
            &self.msgids,
            &self.raw,
            &self.outbox,
            &self.outbox_raw,
            &self.dead,
        )
            .transaction(
                |(t_tree, meta, customers, msgids, raw, outbox, outbox_raw, dead)| {
                    for id in &tickets {
                        let Some(mut t): Option<Ticket> = tx_get(t_tree, "tickets", &be(id.get()))?
                        else {
                            continue;
                        };
                        change_ticket(meta, &mut t, Some(TicketState::Closed), None, now)?;
                        t.customer = EmailAddress::parse(FORGOTTEN).unwrap_or(t.customer);
                        t.customer_name = None;
                        t.subject = String::new();
                        for m in &mut t.messages {
                            m.message_id = None;
                            m.subject = String::new();
                            m.note = None;
                            m.inbound_seq = None;
                            if m.direction == Direction::Inbound {
                                m.from = None;
                            }
                        }
                        t.forgotten_at = Some(now);
                        t_tree.insert(&be(id.get()), encode(&t))?;
                        meta.remove(flood_key(*id))?;
                    }
                    customers.remove(customer.without_detail().as_str())?;
                    for k in &msgid_keys {
                        msgids.remove(k.as_slice())?;
                    }
                    for seq in seqs {
                        raw.remove(&be(*seq))?;
                    }
                    for id in outbox_ids.iter().chain(&dead_ids) {
                        outbox.remove(&be(*id))?;
                        outbox_raw.remove(&be(*id))?;
                        dead.remove(&be(*id))?;
                    }
                    Ok(())
                },
            );
        unwrap_tx(res)?;
        self.db.flush()?;
        Ok(stats)
    }

    /// Deletes the raw bytes of mail stored before `cutoff` (retention); the records, their
    /// outcomes and the tickets stay. Returns how many were purged.
    pub fn purge_raw_before(&self, cutoff: UnixTime) -> Result<usize> {
        let _gate = self.write_gate();
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for v in self.inbound.iter().values() {
            let record: Inbound = decode("inbound", &v?)?;
            if record.stored_at < cutoff
                && record.outcome.is_some()
                && self.raw.contains_key(be(record.seq))?
            {
                batch.remove(&be(record.seq));
                n += 1;
            }
        }
        self.raw.apply_batch(batch)?;
        self.db.flush()?;
        Ok(n)
    }

    /// Every ticket with its history (for statistics), oldest first.
    pub fn tickets_full(&self) -> Result<Vec<Ticket>> {
        self.tickets
            .iter()
            .values()
            .map(|v| decode("tickets", &v?))
            .collect()
    }

    /// All tickets, oldest first.
    pub fn tickets(&self) -> Result<Vec<TicketSummary>> {
        self.tickets
            .iter()
            .values()
            .map(|v| {
                let t: Ticket = decode("tickets", &v?)?;
                Ok(TicketSummary {
                    id: t.id,
                    state: t.state,
                    customer: t.customer,
                    agent: t.agent,
                    subject: t.subject,
                    messages: t.messages.len(),
                    updated_at: t.updated_at,
                })
            })
            .collect()
    }

    // ---- outbox -----------------------------------------------------------------------

    /// Outbox entries due at `now` (oldest first, at most `limit`), and the earliest time a
    /// not-yet-due entry becomes due.
    pub fn due(&self, now: UnixTime, limit: usize) -> Result<(Vec<OutboxEntry>, Option<UnixTime>)> {
        let mut due = Vec::new();
        let mut next: Option<UnixTime> = None;
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            if e.next_attempt_at <= now {
                if due.len() < limit {
                    due.push(e);
                }
            } else {
                next = Some(next.map_or(e.next_attempt_at, |n| n.min(e.next_attempt_at)));
            }
        }
        Ok((due, next))
    }

    /// How many mails wait in the outbox, and how many in the dead letters.
    pub fn outbox_counts(&self) -> Result<(usize, usize)> {
        Ok((self.outbox.len(), self.dead.len()))
    }

    /// When the oldest mail still in the outbox was queued (for the health check).
    pub fn oldest_queued(&self) -> Result<Option<UnixTime>> {
        let mut oldest: Option<UnixTime> = None;
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode("outbox", &v?)?;
            oldest = Some(oldest.map_or(e.created_at, |o| o.min(e.created_at)));
        }
        Ok(oldest)
    }

    /// The bytes of an outbox entry.
    pub fn outbox_raw(&self, id: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.outbox_raw.get(be(id))?.map(|v| v.to_vec()))
    }

    /// Every pending outbox entry.
    pub fn outbox_entries(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox
            .iter()
            .values()
            .map(|v| decode("outbox", &v?))
            .collect()
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.dead
            .iter()
            .values()
            .map(|v| decode("dead", &v?))
            .collect()
    }

    /// Counts the attempt before it is made, so `outbox list` shows attempts that ended in a
    /// crash too (the count is durable at the outbox's next flush).
    pub fn begin_attempt(&self, entry: &OutboxEntry) -> Result<OutboxEntry> {
        let _gate = self.write_gate();
        let mut e = entry.clone();
        e.attempts += 1;
        self.outbox.insert(be(e.id), encode(&e))?;
        Ok(e)
    }

    /// The server accepted the mail: it leaves the outbox, and a small record stays.
    pub fn mark_sent(&self, entry: &OutboxEntry, response: &str, now: UnixTime) -> Result<()> {
        let _gate = self.write_gate();
        #[derive(Serialize)]
        struct Sent<'a> {
            message_id: &'a str,
            ticket: Option<TicketId>,
            at: UnixTime,
            response: &'a str,
        }
        let sent = encode(&Sent {
            message_id: &entry.message_id,
            ticket: entry.ticket,
            at: now,
            response,
        });
        let res =
            (&self.outbox, &self.outbox_raw, &self.sent).transaction(|(outbox, raw, sent_tree)| {
                outbox.remove(&be(entry.id))?;
                raw.remove(&be(entry.id))?;
                sent_tree.insert(&be(entry.id), sent.as_slice())?;
                Ok(())
            });
        unwrap_tx(res)
    }

    /// Moves dead letters (all, or one) back into the outbox to be sent at once, with a fresh
    /// give-up window; returns how many. Flushed.
    pub fn retry_dead(&self, only: Option<u64>, now: UnixTime) -> Result<usize> {
        let _gate = self.write_gate();
        let dead = self.dead_letters()?;
        let mut n = 0;
        for d in dead
            .into_iter()
            .filter(|d| only.is_none_or(|id| d.entry.id == id))
        {
            let mut e = d.entry.clone();
            e.next_attempt_at = 0;
            e.created_at = now;
            e.last_error = Some(format!("retried after: {}", d.error));
            let entry = encode(&e);
            let res = (&self.outbox, &self.dead).transaction(|(outbox, dead_tree)| {
                outbox.insert(&be(e.id), entry.as_slice())?;
                dead_tree.remove(&be(e.id))?;
                Ok(())
            });
            unwrap_tx(res)?;
            n += 1;
        }
        self.db.flush()?;
        Ok(n)
    }

    /// A temporary failure: try again at `next_at`.
    pub fn mark_retry(&self, entry: &OutboxEntry, next_at: UnixTime, error: &str) -> Result<()> {
        let _gate = self.write_gate();
        let mut e = entry.clone();
        e.next_attempt_at = next_at;
        e.last_error = Some(error.to_string());
        self.outbox.insert(be(e.id), encode(&e))?;
        Ok(())
    }

    /// A permanent failure: the entry moves to the dead letters (its bytes stay for a retry).
    pub fn mark_dead(&self, entry: &OutboxEntry, error: &str, now: UnixTime) -> Result<()> {
        let _gate = self.write_gate();
        let dead = encode(&DeadLetter {
            entry: entry.clone(),
            error: error.to_string(),
            at: now,
        });
        let res = (&self.outbox, &self.dead).transaction(|(outbox, dead_tree)| {
            outbox.remove(&be(entry.id))?;
            dead_tree.insert(&be(entry.id), dead.as_slice())?;
            Ok(())
        });
        unwrap_tx(res)
    }
}

impl ThreadLookup for Store {
    fn ticket_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>> {
        Ok(self
            .msgids
            .get(message_id.as_bytes())?
            .map(|v| TicketId::new(from_be(&v))))
    }

    fn ticket_customer(&self, ticket: TicketId) -> Result<Option<EmailAddress>> {
        Ok(self.ticket(ticket)?.map(|t| t.customer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SuppressReason;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("valid")
    }

    fn new_ticket(store: &Store, customer: &str) -> Plan {
        let id = store.peek_next_ticket().expect("peek");
        Plan::NewTicket {
            ticket: Ticket {
                id,
                customer: addr(customer),
                customer_name: None,
                subject: "s".into(),
                state: TicketState::Open,
                agent: AgentEmail::new(addr("jason@example.test")),
                created_at: 0,
                updated_at: 0,
                messages: vec![],
                first_response_at: None,
                notify_root: None,
                closed_at: None,
                linked_from: None,
                escalated_at: None,
                pool: None,
                inbox: None,
                forgotten_at: None,
            },
            pool_key: "all".into(),
            not_acknowledged: Some(SuppressReason::RateLimited),
            outgoing: vec![],
        }
    }

    #[tokio::test]
    async fn stored_mail_survives_reopen_and_is_not_stored_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            let batch = vec![Fetched {
                uid: 5,
                raw: b"Subject: a\r\n\r\nx".to_vec(),
            }];
            let seqs = store.store_fetched("INBOX", 7, &batch, 100).expect("store");
            assert_eq!(seqs.len(), 1);
            let again = store.store_fetched("INBOX", 7, &batch, 100).expect("store");
            assert!(again.is_empty(), "a UID is stored once");
            store.flush().await.expect("flush");
        }
        // sled's flusher thread releases the directory lock shortly after the last handle
        // is dropped: within one process, wait for it (with a deadline).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let store = loop {
            match Store::open(dir.path()) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                other => break other.expect("reopen"),
            }
        };
        assert_eq!(store.pending().expect("pending").len(), 1);
        let c = store.cursor("INBOX").expect("cursor").expect("some");
        assert_eq!((c.uid_validity, c.last_uid), (7, 5));
    }

    #[test]
    fn identical_bytes_under_a_new_uid_are_not_a_new_mail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let raw = b"From: a@customer.test\r\n\r\nsame".to_vec();
        let first = store
            .store_fetched(
                "INBOX",
                1,
                &[Fetched {
                    uid: 1,
                    raw: raw.clone(),
                }],
                0,
            )
            .expect("store");
        let again = store
            .store_fetched("INBOX", 1, &[Fetched { uid: 9, raw }], 0)
            .expect("store");
        assert_eq!(first.len(), 1);
        assert!(
            again.is_empty(),
            "moved back or re-uploaded: not processed twice"
        );
        assert_eq!(
            store
                .cursor("INBOX")
                .expect("cursor")
                .expect("some")
                .last_uid,
            9
        );
    }

    #[test]
    fn an_incoming_message_id_never_takes_over_an_indexed_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let seqs = store
            .store_fetched(
                "INBOX",
                1,
                &[
                    Fetched {
                        uid: 1,
                        raw: b"a".to_vec(),
                    },
                    Fetched {
                        uid: 2,
                        raw: b"b".to_vec(),
                    },
                ],
                0,
            )
            .expect("store");
        let first = new_ticket(&store, "hal@customer.test");
        store
            .record_outcome(seqs[0], Some("<same@x>"), true, &first, 0)
            .expect("record");
        let second = new_ticket(&store, "ida@customer.test");
        store
            .record_outcome(seqs[1], Some("<same@x>"), true, &second, 0)
            .expect("record");
        assert_eq!(
            store.ticket_by_message_id("<same@x>").expect("lookup"),
            Some(TicketId::FIRST),
            "the second mail with the same id does not redirect the first one's replies"
        );
    }

    #[test]
    fn detail_addresses_share_one_customer_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let seqs = store
            .store_fetched(
                "INBOX",
                1,
                &[Fetched {
                    uid: 1,
                    raw: b"a".to_vec(),
                }],
                0,
            )
            .expect("store");
        let plan = new_ticket(&store, "alice+shop@customer.test");
        store
            .record_outcome(seqs[0], None, true, &plan, 0)
            .expect("record");
        assert_eq!(
            store
                .customer_tickets(&addr("alice@customer.test"))
                .expect("lookup"),
            vec![TicketId::FIRST]
        );
        assert_eq!(
            store
                .customer_tickets(&addr("alice+other@customer.test"))
                .expect("lookup"),
            vec![TicketId::FIRST]
        );
    }

    #[test]
    fn open_counters_follow_the_ticket_state_and_owner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let batch: Vec<Fetched> = (1..=5)
            .map(|uid| Fetched {
                uid,
                raw: vec![uid as u8],
            })
            .collect();
        let seqs = store.store_fetched("INBOX", 1, &batch, 0).expect("store");
        let jason = AgentEmail::new(addr("jason@example.test"));
        let maria = AgentEmail::new(addr("maria@example.test"));
        let open = |a: &AgentEmail| store.agent_load(a).expect("load").open;
        store
            .record_outcome(
                seqs[0],
                None,
                true,
                &new_ticket(&store, "a@customer.test"),
                0,
            )
            .expect("new");
        assert_eq!(open(&jason), 1);
        let agent_plan = |state, reassign| Plan::Agent {
            ticket: TicketId::FIRST,
            message: TicketMessage {
                at: 0,
                direction: Direction::Note,
                message_id: None,
                from: None,
                subject: String::new(),
                inbound_seq: None,
                outbox_id: None,
                suppressed: None,
                note: None,
            },
            outgoing: vec![],
            state,
            reassign,
            action: "test".into(),
        };
        store
            .record_outcome(
                seqs[1],
                None,
                false,
                &agent_plan(Some(TicketState::Closed), None),
                0,
            )
            .expect("close");
        assert_eq!(open(&jason), 0, "closing releases capacity");
        store
            .record_outcome(
                seqs[2],
                None,
                false,
                &agent_plan(Some(TicketState::Open), None),
                0,
            )
            .expect("reopen");
        assert_eq!(open(&jason), 1);
        store
            .record_outcome(
                seqs[3],
                None,
                false,
                &agent_plan(None, Some(maria.clone())),
                0,
            )
            .expect("assign");
        assert_eq!(
            (open(&jason), open(&maria)),
            (0, 1),
            "assigning moves the ticket"
        );
    }

    #[test]
    fn second_open_reports_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = Store::open(dir.path()).expect("open");
        match Store::open(dir.path()) {
            Err(StoreError::Locked { .. }) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("a second open must fail"),
        }
    }

    #[test]
    fn ticket_numbers_count_up_and_outcome_is_recorded_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let seqs = store
            .store_fetched(
                "INBOX",
                1,
                &[
                    Fetched {
                        uid: 1,
                        raw: b"a".to_vec(),
                    },
                    Fetched {
                        uid: 2,
                        raw: b"b".to_vec(),
                    },
                ],
                0,
            )
            .expect("store");
        let plan = new_ticket(&store, "alice@customer.test");
        let o1 = store
            .record_outcome(seqs[0], Some("<m1@x>"), true, &plan, 0)
            .expect("record");
        assert!(
            matches!(o1.outcome, Outcome::NewTicket { ticket, .. } if ticket == TicketId::FIRST)
        );
        // Replaying the same plan for the same mail changes nothing.
        let again = store
            .record_outcome(seqs[0], Some("<m1@x>"), true, &plan, 0)
            .expect("replay");
        assert_eq!(again, o1);
        assert_eq!(store.peek_next_ticket().expect("peek"), TicketId::new(1002));
        // A stale plan (reserved number already taken) is refused.
        let stale = store.record_outcome(seqs[1], None, true, &plan, 0);
        assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
        assert_eq!(
            store.ticket_by_message_id("<m1@x>").expect("lookup"),
            Some(TicketId::FIRST)
        );
        assert_eq!(store.pending().expect("pending"), vec![seqs[1]]);
        assert_eq!(
            store.flag_jobs("INBOX").expect("jobs"),
            vec![FlagJob {
                uid_validity: 1,
                uid: 1,
                ticket: true,
            }]
        );
        // Suppressed mail gets only the handled keyword (it stays unread).
        let suppressed = store
            .record_outcome(
                seqs[1],
                None,
                false,
                &Plan::Suppress(crate::domain::SuppressReason::AutoSubmitted),
                0,
            )
            .expect("suppress");
        assert!(matches!(suppressed.outcome, Outcome::Suppressed { .. }));
        let jobs = store.flag_jobs("INBOX").expect("jobs");
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        assert!(jobs.iter().any(|j| j.uid == 2 && !j.ticket), "{jobs:?}");
    }
}
