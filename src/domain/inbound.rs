//! Incoming mail as the store keeps it: the IMAP cursor, a fetched message, its record.

use serde::{Deserialize, Serialize};

use super::{Outcome, ServerMark, UnixTime};

/// Where an IMAP mailbox's progress is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY when the cursor was written.
    pub uid_validity: u32,
    /// Every UID up to this one has been stored (or deliberately skipped at first start).
    pub last_uid: u32,
    /// When the last stored mail arrived (for re-synchronising after a UIDVALIDITY change).
    pub last_stored_at: UnixTime,
}

/// One mail fetched from IMAP, ready to be stored.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// UID in the mailbox.
    pub uid: u32,
    /// The complete raw message.
    pub raw: Vec<u8>,
}

/// A fetched mail as the store reads it: its UID and its bytes, wherever they are kept. The
/// ingest stores a mail straight from the IMAP response that carried it (no copy of a 25 MB
/// mail into a `Vec` of its own); tests and tools store a [`Fetched`].
pub trait FetchedMail {
    /// UID in the mailbox.
    fn uid(&self) -> u32;
    /// The complete raw message.
    fn raw(&self) -> &[u8];
}

impl FetchedMail for Fetched {
    fn uid(&self) -> u32 {
        self.uid
    }

    fn raw(&self) -> &[u8] {
        &self.raw
    }
}

/// The record of one incoming mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inbound {
    /// Store sequence number (the key).
    pub seq: u64,
    /// The mailbox it came from.
    pub mailbox: String,
    /// UIDVALIDITY at fetch time.
    pub uid_validity: u32,
    /// UID at fetch time.
    pub uid: u32,
    /// When we stored it.
    pub stored_at: UnixTime,
    /// Size of the raw message.
    pub size: usize,
    /// Filled in by processing.
    pub outcome: Option<Outcome>,
    /// The mail's Message-ID, once parsed.
    pub message_id: Option<String>,
}

/// A mail whose IMAP flags still have to be set (or that still has to be moved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagJob {
    /// UIDVALIDITY it belongs to.
    pub uid_validity: u32,
    /// The UID.
    pub uid: u32,
    /// What the server is told: read (or moved) for ticket mail, only the handled keyword
    /// for suppressed mail, which stays unread where a person sees it.
    pub mark: ServerMark,
}
