//! The IMAP side (spec flow step 1): one long-lived loop per mailbox. It connects, selects
//! the mailbox, fetches every UID above the stored cursor with `BODY.PEEK[]` (so `\Seen` is
//! never the measure of progress), stores the raw bytes durably, hands them to the
//! [`Processor`], flags them, and waits in IDLE (re-issued well before RFC 2177's 29
//! minutes), or polls when the server has no IDLE. Any failure drops the connection and
//! reconnects with exponential backoff and jitter.
//!
//! async-imap has no timeouts of its own: every command here is bounded by
//! `imap.command_timeout`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use futures::TryStreamExt;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tracing::{debug, info, warn};

use crate::compose::{Alert, ops_alert};
use crate::config::{Imap, TlsMode};
use crate::domain::{Cursor, Fetched, FlagJob, Outcome, now};
use crate::metrics::Metrics;
use crate::oauth2::{AccessToken, ImapXOAuth2, Login, TokenError, TokenSource};
use crate::processor::Processor;
use crate::reload::Live;
use crate::store::{Store, StoreError};

/// A byte stream async-imap can run on: plain TCP or TLS over it.
pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapStream for T {}

/// A logged-in IMAP session over either kind of stream.
pub type ImapSession = Session<Box<dyn ImapStream>>;

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

async fn bounded<T, E>(
    d: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, IngestError>
where
    E: Into<async_imap::error::Error>,
{
    match tokio::time::timeout(d, fut).await {
        Err(_) => Err(IngestError::Timeout(what)),
        Ok(Err(e)) => Err(IngestError::Imap(what, e.into())),
        Ok(Ok(v)) => Ok(v),
    }
}

/// The rustls client configuration: the public web roots, or only the CAs in `ca_file`.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("reading {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("certificate in {}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn tls_wrap<S: AsyncRead + AsyncWrite + Unpin + Send + Debug + 'static>(
    cfg: &Imap,
    stream: S,
) -> Result<Box<dyn ImapStream>, IngestError> {
    let err = |detail: String| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        detail,
    };
    let tls = tls_config(cfg.ca_file.as_deref()).map_err(err)?;
    let name = ServerName::try_from(cfg.host.clone()).map_err(|e| err(e.to_string()))?;
    let stream = tokio::time::timeout(
        cfg.connect_timeout,
        TlsConnector::from(tls).connect(name, stream),
    )
    .await
    .map_err(|_| IngestError::Timeout("TLS handshake"))?
    .map_err(|e| err(format!("TLS: {e}")))?;
    Ok(Box::new(stream))
}

async fn read_greeting(
    cfg: &Imap,
    client: &mut Client<Box<dyn ImapStream>>,
) -> Result<(), IngestError> {
    match tokio::time::timeout(cfg.connect_timeout, client.read_response()).await {
        Err(_) => Err(IngestError::Timeout("greeting")),
        Ok(Err(e)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            detail: e.to_string(),
        }),
        Ok(Ok(None)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            detail: "connection closed before the greeting".into(),
        }),
        Ok(Ok(Some(_))) => Ok(()),
    }
}

/// Connects, secures and logs in as configured, with `creds` made from `cfg.auth`.
pub async fn connect(cfg: &Imap, creds: &Login) -> Result<ImapSession, IngestError> {
    let tcp = tokio::time::timeout(
        cfg.connect_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| IngestError::Timeout("connect"))?
    .map_err(|e| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        detail: e.to_string(),
    })?;
    let _ = tcp.set_nodelay(true);
    let mut client = match cfg.tls {
        TlsMode::Implicit => Client::new(tls_wrap(cfg, tcp).await?),
        TlsMode::None => Client::new(Box::new(tcp) as Box<dyn ImapStream>),
        TlsMode::Starttls => {
            let mut plain = Client::new(Box::new(tcp) as Box<dyn ImapStream>);
            read_greeting(cfg, &mut plain).await?;
            // A server without STARTTLS answers BAD or NO: we stop there, never in plaintext.
            match tokio::time::timeout(
                cfg.command_timeout,
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            {
                Err(_) => return Err(IngestError::Timeout("STARTTLS")),
                Ok(Err(async_imap::error::Error::Bad(_) | async_imap::error::Error::No(_))) => {
                    return Err(IngestError::NoStarttls);
                }
                Ok(Err(e)) => return Err(IngestError::Imap("STARTTLS", e)),
                Ok(Ok(())) => {}
            }
            let secured = tls_wrap(cfg, plain.into_inner()).await?;
            // After STARTTLS there is no second greeting (RFC 3501 §6.2.1).
            let client = Client::new(secured);
            return login(cfg, creds, client).await;
        }
    };
    read_greeting(cfg, &mut client).await?;
    login(cfg, creds, client).await
}

async fn login(
    cfg: &Imap,
    creds: &Login,
    client: Client<Box<dyn ImapStream>>,
) -> Result<ImapSession, IngestError> {
    let password = match creds {
        Login::Password(password) => password,
        Login::OAuth2(source) => return xoauth2_login(cfg, source, client).await,
    };
    match tokio::time::timeout(
        cfg.command_timeout,
        client.login(&cfg.username, password.expose()),
    )
    .await
    {
        Err(_) => Err(IngestError::Timeout("LOGIN")),
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            detail: e.to_string(),
        }),
        Ok(Ok(session)) => Ok(session),
    }
}

/// `AUTHENTICATE XOAUTH2` with a token from the command. A refused token (it may have been
/// revoked, or the command printed one that had expired) is dropped and the command run
/// again, once per connection attempt; a second refusal is the caller's to back off from.
async fn xoauth2_login(
    cfg: &Imap,
    source: &TokenSource,
    client: Client<Box<dyn ImapStream>>,
) -> Result<ImapSession, IngestError> {
    let token = source.token().await?;
    let client = match authenticate(cfg, client, &token).await? {
        Authenticated::Yes(session) => return Ok(session),
        Authenticated::Refused(_, client) => client,
    };
    source.reject(&token).await;
    let token = source.token().await?;
    match authenticate(cfg, client, &token).await? {
        Authenticated::Yes(session) => Ok(session),
        Authenticated::Refused(detail, _) => {
            source.reject(&token).await;
            Err(IngestError::Login {
                user: cfg.username.clone(),
                detail: format!(
                    "AUTHENTICATE XOAUTH2 answered NO ({detail}), also with the token of a fresh run of {}",
                    source.key()
                ),
            })
        }
    }
}

/// How one `AUTHENTICATE XOAUTH2` ended, short of a connection failure.
enum Authenticated {
    Yes(ImapSession),
    /// The server answered NO (with this text): the token was not accepted.
    Refused(String, Client<Box<dyn ImapStream>>),
}

async fn authenticate(
    cfg: &Imap,
    client: Client<Box<dyn ImapStream>>,
    token: &AccessToken,
) -> Result<Authenticated, IngestError> {
    let auth = ImapXOAuth2::new(&cfg.username, token);
    // A server that sends an untagged line before its `+` leaves async-imap waiting for a
    // continuation forever: only this timeout ends that.
    match tokio::time::timeout(cfg.command_timeout, client.authenticate("XOAUTH2", auth)).await {
        Err(_) => Err(IngestError::Timeout("AUTHENTICATE XOAUTH2")),
        Ok(Ok(session)) => Ok(Authenticated::Yes(session)),
        Ok(Err((async_imap::error::Error::No(text), client))) => {
            Ok(Authenticated::Refused(text, client))
        }
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            detail: format!("AUTHENTICATE XOAUTH2: {e}"),
        }),
    }
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
    body_failures: std::sync::Mutex<HashMap<u32, u32>>,
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
        } = shared;
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
            body_failures: std::sync::Mutex::new(HashMap::new()),
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
                    let delay = reconnect_delay(failures, 0.75 + rand::random::<f64>() * 0.5);
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
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    async fn session(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        failures: &mut u32,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        let mut session = connect(&self.cfg, &self.creds).await?;
        let caps = bounded(t, "CAPABILITY", session.capabilities()).await?;
        let has_idle = caps.has_str("IDLE");
        let has_move = caps.has_str("MOVE");
        if let Some(target) = &self.cfg.processed_mailbox {
            // Create the target once; "already exists" is the usual answer and is fine.
            match tokio::time::timeout(t, session.create(target)).await {
                Ok(Ok(())) => info!(mailbox = %target, "created the processed mailbox"),
                Ok(Err(async_imap::error::Error::No(_))) => {}
                Ok(Err(e)) => return Err(IngestError::Imap("CREATE", e)),
                Err(_) => return Err(IngestError::Timeout("CREATE")),
            }
        }
        let mailbox = bounded(t, "SELECT", session.select(&self.cfg.mailbox)).await?;
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
                let all = bounded(t, "UID SEARCH", session.uid_search("ALL")).await?;
                all.into_iter().max().unwrap_or(0).saturating_add(1)
            }
        };
        self.reconcile_cursor(&mut session, uid_validity, uid_next, keywords)
            .await?;
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
            idle = has_idle,
            "IMAP session up"
        );
        loop {
            self.fetch_new(&mut session, uid_validity, keywords, shutdown)
                .await?;
            self.apply_flags(&mut session, uid_validity, has_move, keywords)
                .await?;

            // New mail announced while we fetched (EXISTS in a command's response) is not
            // announced again in IDLE: look once more before waiting. A full channel (async-imap
            // drops beyond 100) certainly held such news too.
            let (mut news, mut drained) = (false, 0);
            while let Ok(r) = session.unsolicited_responses.try_recv() {
                news |= matches!(
                    r,
                    async_imap::types::UnsolicitedResponse::Exists(_)
                        | async_imap::types::UnsolicitedResponse::Recent(_)
                );
                drained += 1;
            }
            news |= drained >= 100;
            if news && !*shutdown.borrow() {
                self.notice();
                continue;
            }
            if *shutdown.borrow() {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Ok(());
            }
            if has_idle {
                let mut idle = session.idle();
                bounded(t, "IDLE", idle.init()).await?;
                let woke = {
                    let (wait, _stop) =
                        idle.wait_with_timeout(self.cfg.idle_renew.min(Duration::from_secs(300)));
                    tokio::pin!(wait);
                    tokio::select! {
                        r = &mut wait => Some(r),
                        _ = shutdown.changed() => None,
                        // async-imap's own timeout restarts at every server keepalive, so it
                        // never fires on a healthy link: renew IDLE ourselves (RFC 2177).
                        _ = tokio::time::sleep(self.cfg.idle_renew) => None,
                    }
                };
                if let Some(Err(e)) = woke {
                    return Err(IngestError::Imap("IDLE", e));
                }
                self.notice();
                debug!(?woke, "IDLE ended");
                session = bounded(t, "DONE", idle.done()).await?;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
                self.notice();
                bounded(t, "NOOP", session.noop()).await?;
            }
        }
    }

    /// Makes the stored cursor fit the mailbox: first start, UIDVALIDITY change, or nothing.
    async fn reconcile_cursor(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        uid_next: u32,
        keywords: bool,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        let cursor = self.store.cursor(&self.key)?;
        let handled = match cursor {
            None if keywords => self.handled_on_server(session).await?,
            _ => None,
        };
        match cursor {
            // UIDs only grow: a cursor at or beyond UIDNEXT means the mailbox was restored or
            // rebuilt with the same UIDVALIDITY, so UIDs cannot be trusted: re-sync by content.
            Some(c) if c.uid_validity == uid_validity && c.last_uid < uid_next => Ok(()),
            None if handled.is_some() => {
                // No cursor, but the server shows mail we handled: the store was lost (or
                // replaced by an old backup). Continue after the last handled mail, so that
                // nothing is answered twice and what arrived since is not skipped.
                let last_uid = handled.unwrap_or(0);
                warn!(
                    event = "imap.recovered",
                    inbox = %self.inbox,
                    mailbox = %self.cfg.mailbox,
                    after_uid = last_uid,
                    "no stored cursor, but the mailbox marks handled mail ({HANDLED}): continuing after the last one"
                );
                self.start_cursor(uid_validity, last_uid).await
            }
            None => {
                // First start: old mail is history, not a queue (unless a backfill is asked).
                let mut last_uid = uid_next.saturating_sub(1);
                if !self.cfg.backfill.is_zero() {
                    let since = time::OffsetDateTime::now_utc() - self.cfg.backfill;
                    let query = format!("SINCE {}", imap_date(since));
                    let mut uids: Vec<u32> = bounded(t, "UID SEARCH", session.uid_search(query))
                        .await?
                        .into_iter()
                        .collect();
                    uids.sort_unstable();
                    // SEARCH SINCE has day granularity: the exact window is INTERNALDATE's.
                    let cutoff = now() - self.cfg.backfill.as_secs() as i64;
                    let dates: Vec<_> = if uids.is_empty() {
                        Vec::new()
                    } else {
                        bounded(t, "UID FETCH", async {
                            session
                                .uid_fetch(uid_set(&uids), "(UID INTERNALDATE)")
                                .await?
                                .try_collect::<Vec<_>>()
                                .await
                        })
                        .await?
                    };
                    let first_in_window = dates
                        .iter()
                        .filter(|f| f.internal_date().is_some_and(|d| d.timestamp() >= cutoff))
                        .filter_map(|f| f.uid)
                        .min();
                    if let Some(min) = first_in_window {
                        last_uid = last_uid.min(min.saturating_sub(1));
                    }
                }
                info!(
                    event = "imap.first-start",
                    mailbox = %self.cfg.mailbox,
                    skipped_through_uid = last_uid,
                    "first start: existing mail up to this UID is left alone"
                );
                self.start_cursor(uid_validity, last_uid).await
            }
            Some(old) => {
                // The mailbox was rebuilt: UIDs restarted. Re-read what arrived since shortly
                // before our last stored mail; `store_fetched` keeps only content it has not
                // stored before (by digest) and moves the cursor in the same transaction.
                warn!(
                    event = "imap.uidvalidity-changed",
                    mailbox = %self.cfg.mailbox,
                    old = old.uid_validity,
                    new = uid_validity,
                    "mailbox UIDs were reset; re-synchronising by content"
                );
                let since = time::OffsetDateTime::from_unix_timestamp(old.last_stored_at - 86_400)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                let mut uids: Vec<u32> = bounded(
                    t,
                    "UID SEARCH",
                    session.uid_search(format!("SINCE {}", imap_date(since))),
                )
                .await?
                .into_iter()
                .collect();
                uids.sort_unstable();
                for chunk in uids.chunks(self.cfg.fetch_batch) {
                    let batch = self.fetch_bodies(session, chunk).await?;
                    let seqs = self
                        .store
                        .store_fetched(&self.key, uid_validity, &batch, now())?;
                    self.store.flush().await?;
                    self.process(&seqs).await?;
                }
                // Anything below UIDNEXT that was not in the window is history.
                let mut c = self.store.cursor(&self.key)?.unwrap_or(Cursor {
                    uid_validity,
                    last_uid: 0,
                    last_stored_at: now(),
                });
                if c.uid_validity != uid_validity || c.last_uid < uid_next.saturating_sub(1) {
                    c.uid_validity = uid_validity;
                    c.last_uid = c.last_uid.max(uid_next.saturating_sub(1));
                    self.store.set_cursor(&self.key, c)?;
                    self.store.flush().await?;
                }
                Ok(())
            }
        }
    }

    async fn fetch_bodies(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<Fetched>, IngestError> {
        let mut out = Vec::new();
        for batch in self.size_batches(session, uids).await? {
            out.extend(self.fetch_batch(session, &batch.uids, batch.bytes).await?);
        }
        Ok(out)
    }

    /// Splits UIDs into FETCH batches of about 16 MiB by RFC822.SIZE, so that one slow or
    /// huge batch cannot exceed its timeout on every attempt. A single UID (the common
    /// case, a new mail) costs no extra round trip.
    async fn size_batches(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<SizeBatch>, IngestError> {
        const BATCH_BYTES: u64 = 16 * 1024 * 1024;
        if uids.len() <= 1 {
            return Ok(vec![SizeBatch {
                uids: uids.to_vec(),
                bytes: 0,
            }]);
        }
        let sizes: HashMap<u32, u64> = bounded(self.cfg.command_timeout, "UID FETCH", async {
            session
                .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .iter()
        .filter_map(|f| Some((f.uid?, u64::from(f.size?))))
        .collect();
        let mut batches: Vec<SizeBatch> = Vec::new();
        for &uid in uids {
            let size = sizes.get(&uid).copied().unwrap_or(0);
            match batches.last_mut() {
                Some(b) if b.bytes + size <= BATCH_BYTES => {
                    b.uids.push(uid);
                    b.bytes += size;
                }
                _ => batches.push(SizeBatch {
                    uids: vec![uid],
                    bytes: size,
                }),
            }
        }
        Ok(batches)
    }

    async fn fetch_batch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
        bytes: u64,
    ) -> Result<Vec<Fetched>, IngestError> {
        let set = uid_set(uids);
        // Allow for slow links: the command timeout, plus a second per MiB.
        let t = self.cfg.command_timeout + Duration::from_secs(bytes / (1024 * 1024));
        let fetches: Vec<_> = bounded(t, "UID FETCH", async {
            session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let mut by_uid: HashMap<u32, Vec<u8>> = HashMap::new();
        for f in &fetches {
            if let (Some(uid), Some(body)) = (f.uid, f.body()) {
                by_uid.insert(uid, body.to_vec());
            }
        }
        Ok(uids
            .iter()
            .filter_map(|uid| by_uid.remove(uid).map(|raw| Fetched { uid: *uid, raw }))
            .collect())
    }

    /// Fetches, stores (durably) and processes every UID above the cursor.
    /// Stops between batches once `shutdown` turns true: what is stored is processed, the
    /// rest waits on the server for the next run.
    async fn fetch_new(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        keywords: bool,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        // Mail stored earlier whose processing failed (e.g. a store error): retry it first.
        let leftovers = self.store.pending()?;
        self.process(&leftovers).await?;
        let last = self.store.cursor(&self.key)?.map_or(0, |c| c.last_uid);
        // `UID n:*` always matches the highest UID even below n (RFC 3501 §6.4.8): filter.
        // Mail already marked handled is skipped: after a restore from an older backup the
        // cursor is behind, but nobody is answered twice.
        let unhandled = if keywords {
            format!(" UNKEYWORD {HANDLED}")
        } else {
            String::new()
        };
        let mut uids: Vec<u32> = bounded(
            t,
            "UID SEARCH",
            session.uid_search(format!("UID {}:*{unhandled}", last.saturating_add(1))),
        )
        .await?
        .into_iter()
        .filter(|&u| u > last)
        .collect();
        uids.sort_unstable();
        for chunk in uids.chunks(self.cfg.fetch_batch) {
            let mut batch = self.fetch_bodies(session, chunk).await?;
            let missing: Vec<u32> = chunk
                .iter()
                .copied()
                .filter(|u| !batch.iter().any(|f| f.uid == *u))
                .collect();
            // A UID without a body is skipped only if it is really gone (expunged between
            // SEARCH and FETCH); otherwise the cursor stops before it and we try again.
            let blocked = self.blocking_uid(session, &missing).await?;
            if let Some(b) = blocked {
                batch.retain(|f| f.uid < b);
            }
            let seqs = self
                .store
                .store_fetched(&self.key, uid_validity, &batch, now())?;
            self.metrics.ingested(seqs.len());
            let reached = match blocked {
                Some(b) => b.saturating_sub(1),
                None => chunk.last().copied().unwrap_or(last),
            };
            let mut c = self.store.cursor(&self.key)?.unwrap_or(Cursor {
                uid_validity,
                last_uid: 0,
                last_stored_at: now(),
            });
            if c.last_uid < reached {
                c.last_uid = reached;
                self.store.set_cursor(&self.key, c)?;
            }
            // The raw mail is durable before anything else happens to it.
            self.store.flush().await?;
            self.process(&seqs).await?;
            if blocked.is_some() || *shutdown.borrow() {
                break;
            }
        }
        Ok(())
    }

    /// Of UIDs the server sent no body for, the first one that still exists, unless it has
    /// failed so often that holding the whole mailbox back for it would do more harm.
    async fn blocking_uid(
        &self,
        session: &mut ImapSession,
        missing: &[u32],
    ) -> Result<Option<u32>, IngestError> {
        if missing.is_empty() {
            return Ok(None);
        }
        let t = self.cfg.command_timeout;
        let still: Vec<u32> = bounded(
            t,
            "UID SEARCH",
            session.uid_search(format!("UID {}", uid_set(missing))),
        )
        .await?
        .into_iter()
        .filter(|u| missing.contains(u))
        .collect();
        let mut failures = self.body_failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut blocked = None;
        for uid in missing.iter().copied().filter(|u| still.contains(u)) {
            let n = failures.entry(uid).or_insert(0);
            *n += 1;
            if *n >= 5 {
                tracing::error!(
                    event = "imap.no-body",
                    uid,
                    "the server returns no body for this message; skipping it (it stays unread on the server)"
                );
                continue;
            }
            warn!(
                event = "imap.no-body",
                uid,
                attempt = *n,
                "the server returned no body; will retry"
            );
            blocked = Some(blocked.map_or(uid, |b: u32| b.min(uid)));
        }
        Ok(blocked)
    }

    async fn process(&self, seqs: &[u64]) -> Result<(), IngestError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let noticed = *self.noticed.lock().unwrap_or_else(|p| p.into_inner());
        for &seq in seqs {
            if let Some(Outcome::NewTicket { ticket, .. } | Outcome::Joined { ticket, .. }) =
                self.processor.process(seq)?
            {
                self.metrics.ack_started(ticket, noticed);
            }
        }
        self.store.flush().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// After `[alerts] after_failures` failures in a row, tells ops by mail (once an outage).
    fn alert_down(&self, failures: u32, error: &str) {
        let snap = self.live.snapshot();
        let Some(alerts) = &snap.cfg.alerts else {
            return;
        };
        if failures < alerts.after_failures
            || self.alerted.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        self.queue_alert(&Alert::InboxDown {
            inbox: &self.inbox,
            failures,
            error,
        });
    }

    /// The end of a reported outage, reported too.
    fn alert_up(&self) {
        if self
            .alerted
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.queue_alert(&Alert::InboxUp { inbox: &self.inbox });
        }
    }

    fn queue_alert(&self, alert: &Alert<'_>) {
        let snap = self.live.snapshot();
        let (cfg, Some(alerts)) = (&snap.cfg, &snap.cfg.alerts) else {
            return;
        };
        let message_id = format!(
            "<alert.{:016x}@{}>",
            rand::random::<u64>(),
            cfg.service.address.domain()
        );
        let queued = ops_alert(
            &cfg.service.name,
            &cfg.service.address,
            &alerts.to,
            alert,
            message_id,
            std::time::SystemTime::now(),
        )
        .map_err(|e| e.to_string())
        .and_then(|mail| {
            self.store
                .queue_standalone(&mail, now())
                .map_err(|e| e.to_string())
        });
        match queued {
            Ok(()) => {
                info!(event = "alert.queued", inbox = %self.inbox, to = %alerts.to, "ops alert queued");
                self.outbox_wake.notify_one();
            }
            Err(e) => {
                tracing::error!(inbox = %self.inbox, error = e, "ops alert could not be queued")
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

    /// Flags processed mail `\Seen`, or moves it. Progress never depends on this: a failure
    /// is logged and retried on the next round.
    async fn apply_flags(
        &self,
        session: &mut ImapSession,
        uid_validity: u32,
        has_move: bool,
        keywords: bool,
    ) -> Result<(), IngestError> {
        let jobs = self.store.flag_jobs(&self.key)?;
        if jobs.is_empty() {
            return Ok(());
        }
        let (current, stale): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .partition(|j| j.uid_validity == uid_validity);
        self.store.flag_jobs_done(&self.key, &stale)?;
        // Suppressed mail only gets the handled keyword; ticket mail is also read or moved.
        let (tickets, others): (Vec<FlagJob>, Vec<FlagJob>) =
            current.into_iter().partition(|j| j.ticket);
        for group in [others, tickets] {
            let is_ticket = group.first().is_some_and(|j| j.ticket);
            let mut uids: Vec<u32> = group.iter().map(|j| j.uid).collect();
            uids.sort_unstable();
            for chunk in uids.chunks(500) {
                let set = uid_set(chunk);
                let result = if is_ticket {
                    self.retire(session, &set, has_move, keywords).await
                } else {
                    self.mark_handled(session, &set, keywords).await
                };
                match result {
                    Ok(()) => {}
                    Err(IngestError::Imap(what, async_imap::error::Error::No(text))) => {
                        warn!(event = "imap.flag-failed", command = what, server = %text, "could not flag processed mail; will retry");
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                let done: Vec<FlagJob> = group
                    .iter()
                    .filter(|j| chunk.contains(&j.uid))
                    .cloned()
                    .collect();
                self.store.flag_jobs_done(&self.key, &done)?;
            }
        }
        Ok(())
    }

    /// Ticket mail: the handled keyword and `\Seen`, or the keyword and a move to
    /// `processed_mailbox` (the keyword first, so that it travels with the mail).
    async fn retire(
        &self,
        session: &mut ImapSession,
        set: &str,
        has_move: bool,
        keywords: bool,
    ) -> Result<(), IngestError> {
        let t = self.cfg.command_timeout;
        let Some(target) = &self.cfg.processed_mailbox else {
            let flags = if keywords {
                format!("+FLAGS.SILENT (\\Seen {HANDLED})")
            } else {
                "+FLAGS.SILENT (\\Seen)".to_string()
            };
            return self.store_flags(session, set, &flags).await;
        };
        self.mark_handled(session, set, keywords).await?;
        if has_move {
            return bounded(t, "UID MOVE", session.uid_mv(set, target)).await;
        }
        bounded(t, "UID COPY", session.uid_copy(set, target)).await?;
        self.store_flags(session, set, "+FLAGS.SILENT (\\Seen \\Deleted)")
            .await
    }

    /// Sets the handled keyword on `set` (when the server keeps keywords).
    async fn mark_handled(
        &self,
        session: &mut ImapSession,
        set: &str,
        keywords: bool,
    ) -> Result<(), IngestError> {
        if !keywords {
            return Ok(());
        }
        self.store_flags(session, set, &format!("+FLAGS.SILENT ({HANDLED})"))
            .await
    }

    /// `UID STORE set flags`, bounded.
    async fn store_flags(
        &self,
        session: &mut ImapSession,
        set: &str,
        flags: &str,
    ) -> Result<(), IngestError> {
        bounded(self.cfg.command_timeout, "UID STORE", async {
            session
                .uid_store(set, flags)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map(|_| ())
    }

    /// The highest UID the server marks as handled by us, if any.
    async fn handled_on_server(
        &self,
        session: &mut ImapSession,
    ) -> Result<Option<u32>, IngestError> {
        let uids = bounded(
            self.cfg.command_timeout,
            "UID SEARCH",
            session.uid_search(format!("KEYWORD {HANDLED}")),
        )
        .await?;
        Ok(uids.into_iter().max())
    }
}

/// The IMAP keyword on every mail Frontdesk has decided (a ticket, or a suppression): what a
/// store rebuilt from scratch recognises, so that a lost store never answers a mail twice.
pub const HANDLED: &str = "$Frontdesk";

/// UIDs fetched together, and their total size.
struct SizeBatch {
    uids: Vec<u32>,
    bytes: u64,
}

/// RFC 3501 date for SEARCH SINCE: `25-Nov-2026`.
fn imap_date(t: time::OffsetDateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}-{}-{}",
        t.day(),
        MONTHS[(u8::from(t.month()) - 1) as usize],
        t.year()
    )
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

    #[test]
    fn imap_dates_are_rfc3501() {
        let t = time::macros::datetime!(2026-11-05 10:00 UTC);
        assert_eq!(imap_date(t), "5-Nov-2026");
    }
}
