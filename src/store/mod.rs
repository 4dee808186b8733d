//! The durable state, and the only module that touches sled. It offers typed operations
//! (`store_fetched`, `record_outcome`, `claim_due`, …), never raw trees. Integers in keys are
//! big-endian so that range scans come out in numeric order. Everything that must change
//! together changes in one transaction, and every durability point ends with an explicit flush
//! (sled otherwise keeps recent writes in memory until its periodic flush, every second here).
//! The tree layout is in ARCHITECTURE.md.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Tree;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::decide::State;
use crate::domain::{
    AgentEmail, AgentLoad, EmailAddress, FirstResponse, MessageIdKind, Ticket, TicketId, UnixTime,
};
use crate::mail::thread::{Members, ThreadLookup};

mod backup;
mod commit;
mod feed;
mod files;
mod inbound;
mod migrate;
mod outbox;
mod privacy;
mod restore;
mod tickets;

pub use backup::BackupStats;
pub use commit::Committed;
pub use outbox::Accepted;
pub use privacy::ForgetStats;
pub use restore::{HeldOutbox, Restored};

/// The layout version written by this build; [`Store::open`] migrates older ones.
const SCHEMA_VERSION: u64 = 3;

/// Every sled tree of the store, in the order a backup copies them (the mail files follow
/// them in a backup as records of [`RAW`] and `outbox_raw`).
const TREES: [&str; 17] = [
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
    "outbox_due",
    "dead",
    "sent",
    "agents",
];

/// The tree of small incoming mails' bytes; a backup also writes the files of big ones
/// (`files.rs`) as records of it.
const RAW: &str = "raw";

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
    /// A mail file could not be written, read or removed.
    #[error("store: mail file in {dir}: {source}")]
    Files {
        /// The store's mail directory.
        dir: String,
        /// What the file system said.
        source: std::io::Error,
    },
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
    /// A blocking thread doing store work ended without finishing it (a panic, or the
    /// runtime shutting down); the work is redone from what is durable.
    #[error("the store's worker thread did not finish: {0}")]
    WorkerFailed(String),
    /// The thread running a flush ended without finishing it (the runtime is shutting
    /// down); nothing written since the last finished flush is known to be durable.
    #[error("the store's flush did not finish: {0}")]
    FlushAborted(String),
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

/// The sled store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// Held shared by every write; exclusively by a backup for two moments (when it starts
    /// watching the writes, and at its cut), so it sees no write half done.
    gate: Arc<RwLock<()>>,
    /// Shares one flush among the callers that ask for one meanwhile.
    flusher: Arc<GroupFlush>,
    meta: Tree,
    cursors: Tree,
    /// The mail bodies, as files beside sled.
    files: files::MailFiles,
    inbound: Tree,
    /// Incoming mails under [`files::IN_FILE_THRESHOLD`], by sequence number.
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
    /// The outbox's due order: `(next attempt, id)` → empty ([`due_key`]).
    outbox_due: Tree,
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

/// The `meta` key of an agent's recent first responses.
fn first_key(agent: &AgentEmail) -> Vec<u8> {
    format!("first:{agent}").into_bytes()
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

/// Prefix of the `meta` keys of the stored mails now quarantined (`quarantine:` + seq), kept
/// in the transaction that sets or clears a mail's quarantine, so that counting the quarantine
/// (a metric, scraped every few seconds) never reads every stored mail.
const QUARANTINE_PREFIX: &[u8] = b"quarantine:";

/// The `meta` key present once the quarantine index has been built (stores written before
/// it existed build it once when opened).
const QUARANTINE_INDEXED: &[u8] = b"quarantine_indexed";

fn quarantine_key(seq: u64) -> Vec<u8> {
    let mut k = QUARANTINE_PREFIX.to_vec();
    k.extend_from_slice(&be(seq));
    k
}

/// The `meta` key holding the highest outbox id ever sent (schema 3; before it, each sent
/// mail left a record in the `sent` tree): a restore moves sled's id counter past it, so no
/// new entry takes the id (and the file name) of a mail a ticket's history says was sent.
const SENT_HIGH: &[u8] = b"sent_high";

/// The `meta` key present once the outbox's due index has been built (stores written before
/// it build it once when opened).
const OUTBOX_DUE_INDEXED: &[u8] = b"outbox_due_indexed";

/// The `outbox_due` key of an entry next tried at `at`: the time, then the id, so a range
/// scan from the start gives the due entries oldest first and stops at the first not due.
fn due_key(at: UnixTime, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&be(at.max(0) as u64));
    k[8..].copy_from_slice(&be(id));
    k
}

/// The time and id of an `outbox_due` key.
fn split_due_key(k: &[u8]) -> (UnixTime, u64) {
    let at = from_be(&k[..8.min(k.len())]) as UnixTime;
    let id = if k.len() >= 16 { from_be(&k[8..16]) } else { 0 };
    (at, id)
}

/// The `meta` key counting acknowledgements in the clock hour of `at`.
fn hour_key(at: UnixTime) -> Vec<u8> {
    let mut k = b"acks:".to_vec();
    k.extend_from_slice(&be(at.div_euclid(3600) as u64));
    k
}

/// A mail file error, naming the store's mail directory.
fn files_error(store_dir: &Path, source: std::io::Error) -> StoreError {
    StoreError::Files {
        dir: store_dir.join("mail").display().to_string(),
        source,
    }
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

impl Store {
    /// Opens (or creates) the store in `dir`, with a small cache: sled's default of 1 GiB
    /// would make the daemon look like a memory hog. Only one process can hold it; within a
    /// process, the lock is released shortly after the last handle is dropped (when sled's
    /// flusher thread ends), not at the drop itself.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(sled::Error::Io(e)))?;
        Store::open_at(dir, &dir.join("db"), Some(1000))
    }

    /// [`Store::open`] of the sled directory `path` (`dir` names the state directory in
    /// errors), flushed in the background every `flush_every_ms`, or only when asked.
    fn open_at(dir: &Path, path: &Path, flush_every_ms: Option<u64>) -> Result<Store> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(16 * 1024 * 1024)
            .flush_every_ms(flush_every_ms)
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
        let files = files::MailFiles::open(path).map_err(|e| files_error(path, e))?;
        let store = Store {
            files,
            gate: Arc::new(RwLock::new(())),
            flusher: Arc::default(),
            meta: t("meta")?,
            cursors: t("cursors")?,
            inbound: t("inbound")?,
            raw: t(RAW)?,
            by_uid: t("by_uid")?,
            pending: t("pending")?,
            digests: t("digests")?,
            imap_flags: t("imap_flags")?,
            tickets: t("tickets")?,
            msgids: t("msgids")?,
            customers: t("customers")?,
            outbox: t("outbox")?,
            outbox_raw: t("outbox_raw")?,
            outbox_due: t("outbox_due")?,
            dead: t("dead")?,
            sent: t("sent")?,
            agents: t("agents")?,
            db,
        };
        store.migrate(dir, flush_every_ms.is_some())?;
        store.tidy_files()?;
        Ok(store)
    }

    /// A mail file error, naming the mail directory.
    fn file_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Files {
            dir: self.files.root().display().to_string(),
            source,
        }
    }

    /// Taken by every write: a backup, at its start and at its cut, waits for the writes in
    /// progress and holds off new ones for a moment, so it sees no transaction half applied.
    fn write_gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Store::flush`] for code outside the async runtime's tasks (the CLI).
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Makes everything written so far durable: returns once a flush that began after this
    /// call has finished. Called at every durability point.
    ///
    /// Callers that ask while a flush runs share the next one (group commit): a single
    /// flush is in flight at a time, and it covers every request made before it began. It
    /// is sled's blocking flush on a blocking thread, never `flush_async`: that one runs on
    /// sled's own pool of seven threads and waits there for a log write queued on the same
    /// pool, so seven at once deadlock for good (sled 0.34.7, sled issue #1308).
    pub async fn flush(&self) -> Result<()> {
        let f = &self.flusher;
        // Our writes happened before this: a flush that starts after it covers them.
        let ticket = f.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut covered = f.covered.lock().await;
        if *covered >= ticket {
            return Ok(());
        }
        let upto = f.requested.load(Ordering::SeqCst);
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            #[cfg(any(test, feature = "testing"))]
            hold_flush_for_tests();
            db.flush()
        })
        .await
        .map_err(|e| StoreError::FlushAborted(e.to_string()))??;
        *covered = upto;
        Ok(())
    }

    /// How many records each sled tree holds, in backup order: what sled's memory and
    /// start-up grow with (the benchmark's generator reports it, and checks the layout).
    pub fn record_counts(&self) -> Result<Vec<(&'static str, usize)>> {
        TREES
            .iter()
            .map(|name| Ok((*name, self.db.open_tree(name)?.len())))
            .collect()
    }

    /// A fresh unique id (for operations that have no incoming mail).
    pub fn new_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }
}

/// The state of [`Store::flush`]'s group commit.
#[derive(Default)]
struct GroupFlush {
    /// Flush requests so far: each caller takes the next number.
    requested: AtomicU64,
    /// The highest request covered by a finished flush. Held while a flush runs, so the
    /// callers that arrive meanwhile queue here and the first of them flushes for all.
    covered: tokio::sync::Mutex<u64>,
}

/// The environment variable naming a file: while that file exists, [`Store::flush`] waits
/// (before flushing, on its blocking thread), as a store that hangs would. End-to-end tests
/// stall the daemon's store with it; only builds with the test kit have it.
#[cfg(any(test, feature = "testing"))]
pub const HOLD_FLUSH_ENV: &str = "FRONTDESK_TEST_HOLD_FLUSH";

/// Waits while the file named by [`HOLD_FLUSH_ENV`] exists.
#[cfg(any(test, feature = "testing"))]
fn hold_flush_for_tests() {
    let Some(file) = std::env::var_os(HOLD_FLUSH_ENV) else {
        return;
    };
    while Path::new(&file).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The environment variable naming a file that holds a number of seconds (it may be
/// negative; a missing or unreadable file counts as 0): the follow-up loop (reminders and
/// the auto-close, `sla::run`) adds it to its clock, read afresh every round, so an
/// end-to-end test moves days ahead without waiting. Only builds with the test kit have it.
#[cfg(any(test, feature = "testing"))]
pub const CLOCK_OFFSET_ENV: &str = "FRONTDESK_TEST_CLOCK_OFFSET";

/// The seconds the file named by [`CLOCK_OFFSET_ENV`] holds (0 without one).
#[cfg(any(test, feature = "testing"))]
pub fn test_clock_offset() -> i64 {
    std::env::var_os(CLOCK_OFFSET_ENV)
        .and_then(|file| std::fs::read_to_string(file).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Plain builds have no test clock.
#[cfg(not(any(test, feature = "testing")))]
pub fn test_clock_offset() -> i64 {
    0
}

impl Store {
    /// The ticket one of our own Message-IDs belongs to: the ticket it names, if that
    /// ticket's history records sending it ([`MessageIdKind::ticket_of`]).
    fn own_message_id(&self, message_id: &str) -> Result<Option<TicketId>> {
        let Some(id) = MessageIdKind::ticket_of(message_id) else {
            return Ok(None);
        };
        let Some(ticket) = self.ticket(id)? else {
            return Ok(None);
        };
        let sent = ticket
            .messages
            .iter()
            .any(|m| m.message_id.as_deref() == Some(message_id));
        Ok(sent.then_some(id))
    }
}

impl ThreadLookup for Store {
    type Error = StoreError;

    /// Customers' ids are in `msgids`; ours name their ticket and are not indexed (one
    /// record less per mail sent): one resolves only if that ticket's history holds exactly
    /// that id, so a made-up id, another ticket's, or one of a forgotten ticket does not.
    fn ticket_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>> {
        if let Some(v) = self.msgids.get(message_id.as_bytes())? {
            return Ok(Some(TicketId::new(from_be(&v))));
        }
        self.own_message_id(message_id)
    }

    fn ticket_members(&self, ticket: TicketId) -> Result<Option<Members>> {
        Ok(self.ticket(ticket)?.map(|t| Members {
            customer: t.customer,
            participants: t.participants,
        }))
    }
}

/// The read-only view [`decide`](crate::decide::decide) works on.
impl State for Store {
    fn next_ticket(&self) -> Result<TicketId> {
        self.peek_next_ticket()
    }
    fn pool_counter(&self, pool_key: &str) -> Result<u64> {
        Store::pool_counter(self, pool_key)
    }
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize> {
        Store::acks_since(self, customer, since)
    }
    fn acks_in_hour(&self, at: UnixTime) -> Result<usize> {
        Store::acks_in_hour(self, at)
    }
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        Store::ticket(self, id)
    }
    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>> {
        Store::customer_tickets(self, customer)
    }
    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.raw(seq)
    }
    fn agent_load(&self, agent: &AgentEmail) -> Result<AgentLoad> {
        Store::agent_load(self, agent)
    }
    fn first_responses(&self, agent: &AgentEmail) -> Result<Vec<FirstResponse>> {
        Store::first_responses(self, agent)
    }
}

#[cfg(test)]
mod tests;
