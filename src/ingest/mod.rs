//! The IMAP side (flow step 1): one long-lived loop per mailbox. [`Ingest::run`] opens a
//! session ([`connect`], then SELECT) and makes the stored cursor fit the mailbox; then it
//! goes round: fetch every UID above the cursor with `BODY.PEEK[]` (so `\Seen` is never the
//! measure of progress), store the raw bytes durably, hand them to the [`Processor`], flag
//! what was decided, and wait in IDLE (re-issued well before RFC 2177's 29 minutes), or
//! poll when the server has no IDLE. Any failure drops the session and reconnects with
//! exponential backoff and jitter; a run of failures is reported to ops by mail.
//!
//! The files continue that one loop:
//! - `connect.rs`: TCP, TLS (rustls; implicit or STARTTLS; a private CA), the greeting,
//!   LOGIN or XOAUTH2;
//! - `cursor.rs`: the cursor rules as pure, unit-tested functions (first start, a lost
//!   store, the UIDVALIDITY re-sync, UIDs the server returns no body for);
//! - `fetch.rs`: new UIDs, size batches, bodies, storing (flush #1) and processing; the
//!   re-sync's fetching;
//! - `flags.rs`: `\Seen`, the [`HANDLED`] keyword and moves, once a decision is durable;
//! - `alerts.rs`: the ops mail when an inbox stops being read, and when it is back.
//!
//! async-imap has no timeouts of its own: every command here is bounded by
//! `imap.command_timeout` (connecting and the greeting by `imap.connect_timeout`).

mod alerts;
mod connect;
mod cursor;
mod fetch;
mod flags;

pub use connect::{ImapSession, ImapStream, connect, tls_config};
pub use flags::HANDLED;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::config::{Auth, Imap};
use crate::domain::{Cursor, UnixTime, now};
use crate::liveness::{Heartbeat, Liveness};
use crate::metrics::Metrics;
use crate::oauth2::{Login, TokenError};
use crate::processor::Processor;
use crate::reload::Live;
use crate::store::{Store, StoreError};
use cursor::{BodyFailures, Plan, Selected, Traces};

/// Why the IMAP loop lost its session.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// TCP connect or TLS failed.
    #[error("connecting to {host}:{port}: {detail}")]
    Connect {
        /// Server.
        host: String,
        /// Port.
        port: u16,
        /// What went wrong.
        detail: String,
    },
    /// The server refused the login.
    #[error("login as {user} refused: {detail}")]
    Login {
        /// The user name.
        user: String,
        /// The server's answer.
        detail: String,
    },
    /// `tls = "starttls"` but the server does not offer it; we never continue in plaintext.
    #[error("the server does not offer STARTTLS; refusing to continue in plaintext")]
    NoStarttls,
    /// A command did not complete in time.
    #[error("IMAP {0} timed out")]
    Timeout(&'static str),
    /// The server or the connection failed a command.
    #[error("IMAP {0}: {1}")]
    Imap(&'static str, async_imap::error::Error),
    /// `imap.oauth2_token_command` gave no token.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The mailbox has no UIDVALIDITY: nothing can be tracked safely.
    #[error("mailbox {0} reports no UIDVALIDITY")]
    NoUidValidity(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest one connection attempt can take: TCP, TLS and the greeting under
/// `connect_timeout`; STARTTLS and up to two logins under `command_timeout`; up to two runs
/// of the token command.
fn connect_bound(cfg: &Imap) -> Duration {
    let token = match &cfg.auth {
        Auth::OAuth2(command) => command.timeout,
        Auth::Password(_) => Duration::ZERO,
    };
    cfg.connect_timeout * 3 + cfg.command_timeout * 3 + token * 2
}

/// Exponential reconnect delay: 2 s, 4 s, 8 s … capped at 256 s, scaled by the jitter
/// factor (callers pass 0.75..1.25).
pub fn reconnect_delay(failures: u32, jitter: f64) -> Duration {
    let base = Duration::from_secs(1u64 << failures.min(8)).min(Duration::from_secs(300));
    base.mul_f64(jitter.clamp(0.5, 1.5))
}

/// Compresses sorted UIDs into an IMAP sequence set (`1:3,7,9:10`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && Some(uids[i + 1]) == end.checked_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// What every inbox's loop shares with the rest of the daemon.
#[derive(Clone)]
pub struct Shared {
    /// The store.
    pub store: Store,
    /// The pipeline.
    pub processor: Arc<Processor>,
    /// Woken when mail is queued.
    pub outbox_wake: Arc<Notify>,
    /// Turns true once any inbox's first session is up and caught up.
    pub ready: watch::Sender<bool>,
    /// Where the loop records what it does.
    pub metrics: Arc<Metrics>,
    /// For the `[alerts]` settings in force (they follow a reload).
    pub live: Arc<Live>,
    /// Where each loop registers its heartbeat for the watchdog.
    pub liveness: Liveness,
}

/// The loop for one mailbox.
pub struct Ingest {
    cfg: Imap,
    /// How the loop logs in: its token cache outlives every reconnect.
    creds: Login,
    /// Store key of this mailbox's cursor: changing server, user or mailbox starts afresh.
    key: String,
    store: Store,
    processor: Arc<Processor>,
    outbox_wake: Arc<Notify>,
    ready: watch::Sender<bool>,
    metrics: Arc<Metrics>,
    live: Arc<Live>,
    /// An outage was reported by mail and its end is not yet.
    alerted: std::sync::atomic::AtomicBool,
    /// The inbox's name in logs, metrics and `/healthz`.
    inbox: String,
    /// When the daemon last learned of new mail (the IDLE notification): the start of the
    /// acknowledgement latency of what the next fetch finds.
    noticed: std::sync::Mutex<std::time::Instant>,
    /// How often the server returned no body for a UID that still exists.
    body_failures: std::sync::Mutex<BodyFailures>,
    /// What the loop is doing, for the watchdog: idle in IDLE or a reconnect backoff,
    /// waiting on the server under a command's timeout, or working.
    beat: Heartbeat,
}

impl Ingest {
    /// A loop over the mailbox configured in `cfg`, called `inbox` in logs and metrics.
    pub fn new(inbox: String, cfg: Imap, shared: Shared) -> Self {
        let key = cfg.store_key();
        shared.metrics.imap_expected(&inbox);
        let Shared {
            store,
            processor,
            outbox_wake,
            ready,
            metrics,
            live,
            liveness,
        } = shared;
        let beat = liveness.register(format!("ingest {inbox}"));
        Ingest {
            creds: Login::new(&cfg.auth),
            cfg,
            key,
            store,
            processor,
            outbox_wake,
            ready,
            metrics,
            live,
            alerted: std::sync::atomic::AtomicBool::new(false),
            inbox,
            noticed: std::sync::Mutex::new(std::time::Instant::now()),
            body_failures: std::sync::Mutex::new(BodyFailures::default()),
            beat,
        }
    }

    /// Runs one IMAP command under the timeout `d` (a wait on the server, for the
    /// watchdog); `what` names the command in the error.
    async fn bounded<T, E>(
        &self,
        d: Duration,
        what: &'static str,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, IngestError>
    where
        E: Into<async_imap::error::Error>,
    {
        let _wait = self.beat.server_wait(d);
        match tokio::time::timeout(d, fut).await {
            Err(_) => Err(IngestError::Timeout(what)),
            Ok(Err(e)) => Err(IngestError::Imap(what, e.into())),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// Runs until `shutdown` turns true, reconnecting after every failure.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.session(&mut shutdown, &mut failures).await {
                Ok(()) => return,
                Err(e) => {
                    failures += 1;
                    let error = e.to_string();
                    self.metrics.imap_down(&self.inbox, &error);
                    let delay = reconnect_delay(failures, 0.75 + fastrand::f64() * 0.5);
                    // One failure is weather (a restart, a kick); a run of them is an outage,
                    // and an inbox that is silently not read is the worst failure we have.
                    if failures >= 3 {
                        tracing::error!(
                            event = "imap.disconnected",
                            inbox = %self.inbox,
                            mailbox = %self.cfg.mailbox,
                            error,
                            failures,
                            retry_in_ms = delay.as_millis() as u64,
                            "IMAP keeps failing; this inbox is not being read"
                        );
                    } else {
                        warn!(
                            event = "imap.disconnected",
                            inbox = %self.inbox,
                            mailbox = %self.cfg.mailbox,
                            error,
                            failures,
                            retry_in_ms = delay.as_millis() as u64,
                            "IMAP session failed; reconnecting"
                        );
                    }
                    self.alert_down(failures, &error);
                    // A server that is down is loud above, not a stall of ours.
                    let _idle = self.beat.idle();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    /// One session: open it and settle the cursor, then fetch, flag and wait, round after
    /// round, until shutdown (`Ok`) or the first failure.
    async fn session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Result<(), IngestError> {
        let (mut session, opened) = self.open().await?;
        let uid_validity = opened.selected.uid_validity;
        self.settle_cursor(&mut session, &opened).await?;
        // The store is open and the session up, with the cursor settled: ready (systemd's
        // READY=1). Catching up on a large backlog happens after this, not before.
        if !*self.ready.borrow() {
            self.ready.send_replace(true);
            info!(event = "ingest.ready", mailbox = %self.cfg.mailbox, "watching the mailbox");
        }
        *failures = 0;
        self.metrics.imap_up(&self.inbox);
        self.alert_up();
        self.notice();
        info!(
            event = "imap.connected",
            mailbox = %self.cfg.mailbox,
            uid_validity,
            idle = opened.has_idle,
            "IMAP session up"
        );
        // How long the IDLE that just ended by our own timer had been silent.
        let mut silent: Option<Duration> = None;
        loop {
            // Only after an IDLE that our own timer ended: did mail come unannounced?
            let before = match silent {
                Some(_) => self.store.cursor(&self.key)?.map(|c| c.last_uid),
                None => None,
            };
            self.fetch_new(&mut session, uid_validity, opened.keywords, shutdown)
                .await?;
            if let Some(silent) = silent.take()
                && self.store.cursor(&self.key)?.map(|c| c.last_uid) > before
            {
                warn!(
                    event = "imap.idle-silent",
                    inbox = %self.inbox,
                    mailbox = %self.cfg.mailbox,
                    silent_s = silent.as_secs(),
                    "mail arrived while IDLE stayed silent: the server did not announce it (once can be mail arriving just then; if this repeats, set idle_check_seconds)"
                );
            }
            self.apply_flags(&mut session, uid_validity, opened.has_move, opened.keywords)
                .await?;
            // New mail announced while we fetched (EXISTS in a command's response) is not
            // announced again in IDLE: look once more before waiting.
            if drain_news(&mut session) && !*shutdown.borrow() {
                self.notice();
                continue;
            }
            if *shutdown.borrow() {
                let bye = Duration::from_secs(5);
                let _wait = self.beat.server_wait(bye);
                let _ = tokio::time::timeout(bye, session.logout()).await;
                return Ok(());
            }
            session = if opened.has_idle {
                let (session, ended) = self.idle(session, shutdown).await?;
                silent = ended;
                session
            } else {
                self.poll(session, shutdown).await?
            };
        }
    }

    /// Connects, creates `processed_mailbox` (if one is configured; without a cursor, also
    /// reads when the newest handled mail moved there arrived) and selects the mailbox.
    async fn open(&self) -> Result<(ImapSession, Opened), IngestError> {
        let t = self.cfg.command_timeout;
        let mut session = {
            let _wait = self.beat.server_wait(connect_bound(&self.cfg));
            connect(&self.cfg, &self.creds).await?
        };
        let caps = self
            .bounded(t, "CAPABILITY", session.capabilities())
            .await?;
        if let Some(target) = &self.cfg.processed_mailbox {
            // Create the target once; "already exists" is the usual answer and is fine.
            match self.bounded(t, "CREATE", session.create(target)).await {
                Ok(()) => info!(mailbox = %target, "created the processed mailbox"),
                Err(IngestError::Imap(_, async_imap::error::Error::No(_))) => {}
                Err(e) => return Err(e),
            }
        }
        // With no cursor, handled mail moved away shows where a lost store stopped. Read
        // before SELECT, so that the mailbox is selected once.
        let newest_moved = match &self.cfg.processed_mailbox {
            Some(target) if self.store.cursor(&self.key)?.is_none() => {
                self.newest_moved(&mut session, target).await?
            }
            _ => None,
        };
        let mailbox = self
            .bounded(t, "SELECT", session.select(&self.cfg.mailbox))
            .await?;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| IngestError::NoUidValidity(self.cfg.mailbox.clone()))?;
        // `\*` in PERMANENTFLAGS: the server keeps keywords we invent (RFC 3501 §7.1).
        let keywords = mailbox
            .permanent_flags
            .iter()
            .any(|f| matches!(f, async_imap::types::Flag::MayCreate));
        if !keywords {
            warn!(
                event = "imap.no-keywords",
                inbox = %self.inbox,
                "the server does not keep custom keywords: handled mail cannot be marked {HANDLED}, so a lost store would start afresh"
            );
        }
        let uid_next = match mailbox.uid_next {
            Some(n) => n,
            None => {
                let all = self
                    .bounded(t, "UID SEARCH", session.uid_search("ALL"))
                    .await?;
                all.into_iter().max().unwrap_or(0).saturating_add(1)
            }
        };
        let keyword_known = mailbox.flags.iter().any(
            |f| matches!(f, async_imap::types::Flag::Custom(k) if k.eq_ignore_ascii_case(HANDLED)),
        );
        let opened = Opened {
            selected: Selected {
                uid_validity,
                uid_next,
            },
            keywords,
            keyword_known,
            newest_moved,
            has_idle: caps.has_str("IDLE"),
            has_move: caps.has_str("MOVE"),
        };
        Ok((session, opened))
    }

    /// Waits in IDLE until the server reports something, `shutdown` changes or
    /// `idle_renew` (or the safety check, `idle_check`) passes, then ends it with DONE and
    /// gives the session back, with how long IDLE was silent when our own timer ended it.
    async fn idle(
        &self,
        session: ImapSession,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(ImapSession, Option<Duration>), IngestError> {
        let t = self.cfg.command_timeout;
        let mut idle = session.idle();
        self.bounded(t, "IDLE", idle.init()).await?;
        let started = std::time::Instant::now();
        let until = self
            .cfg
            .idle_check
            .map_or(self.cfg.idle_renew, |c| c.min(self.cfg.idle_renew));
        let mut timer = false;
        let woke = {
            // Waiting for mail, however long: idle, not stalled.
            let _idle = self.beat.idle();
            let (wait, _stop) =
                idle.wait_with_timeout(self.cfg.idle_renew.min(Duration::from_secs(300)));
            tokio::pin!(wait);
            tokio::select! {
                r = &mut wait => {
                    // async-imap's own timer: nothing at all from the server for a while.
                    timer = matches!(r, Ok(async_imap::extensions::idle::IdleResponse::Timeout));
                    Some(r)
                }
                _ = shutdown.changed() => None,
                // async-imap's own timeout restarts at every server keepalive, so it
                // never fires on a healthy link: renew IDLE ourselves (RFC 2177), or end it
                // sooner to look for mail a server that does not push left unannounced.
                _ = tokio::time::sleep(until) => {
                    timer = true;
                    None
                }
            }
        };
        if let Some(Err(e)) = woke {
            return Err(IngestError::Imap("IDLE", e));
        }
        self.notice();
        debug!(?woke, "IDLE ended");
        let session = self.bounded(t, "DONE", idle.done()).await?;
        Ok((session, timer.then(|| started.elapsed())))
    }

    /// For servers without IDLE: waits `poll_interval` (or for `shutdown`), then NOOP.
    async fn poll(
        &self,
        mut session: ImapSession,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<ImapSession, IngestError> {
        {
            let _idle = self.beat.idle();
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.notice();
        self.bounded(self.cfg.command_timeout, "NOOP", session.noop())
            .await?;
        Ok(session)
    }

    /// Makes the stored cursor fit the mailbox: gathers the facts [`cursor::plan`] needs and
    /// carries out its plan (nothing, a recovery, a first start, or a re-sync).
    async fn settle_cursor(
        &self,
        session: &mut ImapSession,
        opened: &Opened,
    ) -> Result<(), IngestError> {
        let (selected, keywords) = (opened.selected, opened.keywords);
        let stored = self.store.cursor(&self.key)?;
        let traces = Traces {
            highest_handled: if cursor::needs_handled(stored.as_ref(), keywords) {
                self.handled_on_server(session).await?
            } else {
                None
            },
            newest_moved: opened.newest_moved,
            keyword_known: opened.keyword_known,
        };
        let now = jiff::Timestamp::now();
        match cursor::plan(stored, selected, traces, self.cfg.backfill, now) {
            Plan::Continue => Ok(()),
            Plan::Recover { after_uid, moved } => {
                let last_uid = match moved {
                    Some(window) => {
                        let dates = self.backfill_dates(session, window.since).await?;
                        let top = selected.uid_next.saturating_sub(1);
                        cursor::recovered(after_uid, top, window.cutoff, &dates)
                    }
                    None => after_uid,
                };
                warn!(
                    event = "imap.recovered",
                    inbox = %self.inbox,
                    mailbox = %self.cfg.mailbox,
                    after_uid = last_uid,
                    moved = moved.is_some(),
                    "no stored cursor, but the server marks handled mail ({HANDLED}): continuing after the last one"
                );
                self.start_cursor(selected.uid_validity, last_uid).await
            }
            Plan::FirstStart {
                last_uid,
                backfill,
                store_lost,
            } => {
                let last_uid = match backfill {
                    Some(window) => {
                        let dates = self.backfill_dates(session, window.since).await?;
                        cursor::backfill_start(last_uid, window.cutoff, &dates)
                    }
                    None => last_uid,
                };
                if store_lost {
                    tracing::error!(
                        event = "imap.store-lost",
                        inbox = %self.inbox,
                        mailbox = %self.cfg.mailbox,
                        skipped_through_uid = last_uid,
                        "no stored cursor, and mail here was marked {HANDLED} once but none is now (moved where frontdesk does not look): the store was lost and where it stopped cannot be told; mail up to this UID is left alone, so check what arrived meanwhile by hand (or set processed_mailbox to where handled mail goes)"
                    );
                }
                info!(
                    event = "imap.first-start",
                    mailbox = %self.cfg.mailbox,
                    skipped_through_uid = last_uid,
                    "first start: existing mail up to this UID is left alone"
                );
                self.start_cursor(selected.uid_validity, last_uid).await
            }
            Plan::Resync { old, since } => {
                warn!(
                    event = "imap.uidvalidity-changed",
                    mailbox = %self.cfg.mailbox,
                    old = old.uid_validity,
                    new = selected.uid_validity,
                    "mailbox UIDs were reset; re-synchronising by content"
                );
                self.resync(session, selected, since, keywords).await
            }
        }
    }

    /// Stores a fresh cursor (first start, or a lost store) durably.
    async fn start_cursor(&self, uid_validity: u32, last_uid: u32) -> Result<(), IngestError> {
        self.store.set_cursor(
            &self.key,
            Cursor {
                uid_validity,
                last_uid,
                last_stored_at: now(),
            },
        )?;
        self.store.flush().await?;
        Ok(())
    }

    /// Marks now as the moment the daemon learned of new mail.
    fn notice(&self) {
        *self.noticed.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
    }
}

/// What the server told a new session about itself and the selected mailbox.
struct Opened {
    /// UIDVALIDITY and UIDNEXT, for the cursor rules.
    selected: Selected,
    /// `\*` in PERMANENTFLAGS: the server keeps the [`HANDLED`] keyword.
    keywords: bool,
    /// The mailbox's FLAGS name [`HANDLED`]: mail here was marked once.
    keyword_known: bool,
    /// Read only with no cursor: when the newest mail marked [`HANDLED`] in
    /// `processed_mailbox` arrived.
    newest_moved: Option<UnixTime>,
    /// IDLE (RFC 2177); without it we poll.
    has_idle: bool,
    /// UID MOVE (RFC 6851); without it a move is COPY and `\Deleted`.
    has_move: bool,
}

/// Drains the responses the server sent unasked, and tells whether they announced new
/// mail (EXISTS or RECENT). A full channel (async-imap drops beyond 100) certainly held
/// such news too.
fn drain_news(session: &mut ImapSession) -> bool {
    let (mut news, mut drained) = (false, 0);
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        news |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
        drained += 1;
    }
    news || drained >= 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compressed() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn reconnect_backoff_grows_and_caps() {
        assert_eq!(reconnect_delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(reconnect_delay(3, 1.0), Duration::from_secs(8));
        assert_eq!(reconnect_delay(30, 1.0), Duration::from_secs(256));
        assert!(reconnect_delay(30, 1.25) <= Duration::from_secs(320));
    }
}
