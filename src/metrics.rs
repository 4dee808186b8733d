//! What the daemon knows about itself, for ops: counters, gauges and histograms in the
//! Prometheus text format at `/metrics`, and a health summary at `/healthz`, served on a
//! loopback address (`[metrics] listen`). Recording is cheap (atomics and one short lock), so
//! the pipeline records unconditionally; the listener is optional.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tracing::{info, warn};

use crate::domain::{MailKind, Outcome, TicketId};
use crate::liveness::Stall;
use crate::store::Store;

/// One label: `name="value"`.
type Label = [(&'static str, String); 1];

fn label(name: &'static str, value: impl Into<String>) -> Label {
    [(name, value.into())]
}

/// The labels of an agent's mail: `action="refused",reason="not_in_thread"`.
type AgentLabels = [(&'static str, &'static str); 2];

/// An acknowledgement clock older than this is forgotten (its ticket got no acknowledgement).
const CLOCK_LIMIT: Duration = Duration::from_secs(600);

/// The outbox is called stuck (health degraded) when its oldest mail waited this long.
pub const OUTBOX_STUCK_AFTER: Duration = Duration::from_secs(300);

/// The daemon's metrics and the state `/healthz` reports.
pub struct Metrics {
    registry: Registry,
    ingested: Counter,
    processed: Family<Label, Counter>,
    suppressed: Family<Label, Counter>,
    agent_mails: Family<AgentLabels, Counter>,
    sent: Family<Label, Counter>,
    send_retries: Counter,
    dead_lettered: Counter,
    ack_latency: Histogram,
    first_response: Histogram,
    imap_connected: Family<Label, Gauge>,
    imap_failures: Family<Label, Counter>,
    outbox_depth: Gauge,
    dead_letters: Gauge,
    open_tickets: Family<Label, Gauge>,
    last_send: Gauge<f64, AtomicU64>,
    reloads: Family<Label, Counter>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    inboxes: HashMap<String, InboxState>,
    last_send: Option<SystemTime>,
    /// When the daemon learned of the mail that opened or joined a ticket, until its
    /// acknowledgement is accepted by SMTP.
    ack_clocks: HashMap<TicketId, Instant>,
    /// The workers the supervisor last found stalled.
    stalls: Vec<Stall>,
}

#[derive(Default, Clone)]
struct InboxState {
    connected_since: Option<(Instant, SystemTime)>,
    last_error: Option<String>,
    failures: u32,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontdesk");
        let m = Metrics {
            ingested: Counter::default(),
            processed: Family::default(),
            suppressed: Family::default(),
            agent_mails: Family::default(),
            sent: Family::default(),
            send_retries: Counter::default(),
            dead_lettered: Counter::default(),
            // 1 ms … ~65 s
            ack_latency: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            // 1 minute … ~6 days
            first_response: Histogram::new(exponential_buckets(60.0, 2.0, 14)),
            imap_connected: Family::default(),
            imap_failures: Family::default(),
            outbox_depth: Gauge::default(),
            dead_letters: Gauge::default(),
            open_tickets: Family::default(),
            last_send: Gauge::default(),
            reloads: Family::default(),
            state: Mutex::new(State::default()),
            registry: Registry::default(),
        };
        m.register_mail_flow(&mut registry);
        m.register_health(&mut registry);
        Metrics { registry, ..m }
    }

    /// The mail flow: in, decided, out, and how long it took.
    fn register_mail_flow(&self, registry: &mut Registry) {
        let m = self;
        registry.register(
            "mails_ingested",
            "Mails fetched from IMAP and stored",
            m.ingested.clone(),
        );
        registry.register(
            "mails_processed",
            "Stored mails by outcome (new-ticket, joined, agent, suppressed, quarantined)",
            m.processed.clone(),
        );
        registry.register(
            "mails_suppressed",
            "Automated mails not answered, by reason",
            m.suppressed.clone(),
        );
        registry.register(
            "agent_mails",
            "Agents' mails about tickets by action (relayed, command, ignored, duplicate, refused) and detail (the command, or why it was refused or ignored)",
            m.agent_mails.clone(),
        );
        registry.register(
            "mails_sent",
            "Mails accepted by the SMTP server, by kind",
            m.sent.clone(),
        );
        registry.register(
            "send_retries",
            "Send attempts that failed and will be retried",
            m.send_retries.clone(),
        );
        registry.register(
            "send_dead",
            "Mails moved to the dead letters",
            m.dead_lettered.clone(),
        );
        registry.register(
            "ack_latency_seconds",
            "From the daemon learning of a customer mail (IDLE notification) to SMTP accepting its acknowledgement",
            m.ack_latency.clone(),
        );
        registry.register(
            "first_response_seconds",
            "From a ticket's opening to its agent's first answer",
            m.first_response.clone(),
        );
    }

    /// The daemon's health: inboxes, outbox, tickets, reloads.
    fn register_health(&self, registry: &mut Registry) {
        let m = self;
        registry.register(
            "imap_connected",
            "1 while the inbox's IMAP session is up",
            m.imap_connected.clone(),
        );
        registry.register(
            "imap_failures",
            "Failed IMAP sessions or connection attempts, by inbox",
            m.imap_failures.clone(),
        );
        registry.register(
            "outbox_depth",
            "Mails waiting to be sent",
            m.outbox_depth.clone(),
        );
        registry.register(
            "dead_letters",
            "Mails that could not be sent and wait for a person",
            m.dead_letters.clone(),
        );
        registry.register(
            "open_tickets",
            "Open tickets per agent",
            m.open_tickets.clone(),
        );
        registry.register(
            "last_send_timestamp_seconds",
            "Unix time of the last mail accepted by SMTP",
            m.last_send.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result (ok, refused)",
            m.reloads.clone(),
        );
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` mails were fetched and stored.
    pub fn ingested(&self, n: usize) {
        self.ingested.inc_by(n as u64);
    }

    /// A stored mail got its outcome.
    pub fn processed(&self, outcome: &Outcome) {
        let name = match outcome {
            Outcome::NewTicket { .. } => "new-ticket",
            Outcome::Joined { .. } => "joined",
            Outcome::Agent { action, .. } => {
                let (kind, detail) = action.labels();
                self.agent_mails
                    .get_or_create(&[("action", kind), ("reason", detail)])
                    .inc();
                "agent"
            }
            Outcome::Suppressed { reason } => {
                self.suppressed
                    .get_or_create(&label("reason", reason.as_str()))
                    .inc();
                "suppressed"
            }
            Outcome::Quarantined { .. } => "quarantined",
        };
        self.processed.get_or_create(&label("outcome", name)).inc();
    }

    /// The daemon learned of the mail behind `ticket` at `noticed`; its acknowledgement's
    /// latency is measured from there.
    pub fn ack_started(&self, ticket: TicketId, noticed: Instant) {
        let mut s = self.state();
        if s.ack_clocks.len() >= 1024 {
            s.ack_clocks.retain(|_, t| t.elapsed() < CLOCK_LIMIT);
        }
        s.ack_clocks.entry(ticket).or_insert(noticed);
    }

    /// SMTP accepted a mail. For an acknowledgement whose clock runs, returns the daemon's
    /// own time from noticing the customer's mail to this moment (also recorded).
    pub fn sent(&self, kind: MailKind, ticket: Option<TicketId>) -> Option<Duration> {
        self.sent
            .get_or_create(&label("kind", kind_name(kind)))
            .inc();
        let now = SystemTime::now();
        self.last_send.set(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
        let mut s = self.state();
        s.last_send = Some(now);
        if kind != MailKind::Acknowledgement {
            return None;
        }
        let took = s.ack_clocks.remove(&ticket?)?.elapsed();
        drop(s);
        self.ack_latency.observe(took.as_secs_f64());
        Some(took)
    }

    /// A send attempt failed and will be retried.
    pub fn send_retry(&self) {
        self.send_retries.inc();
    }

    /// A mail went to the dead letters.
    pub fn send_dead(&self) {
        self.dead_lettered.inc();
    }

    /// A ticket got its agent's first answer `after` its opening.
    pub fn first_response(&self, after: Duration) {
        self.first_response.observe(after.as_secs_f64());
    }

    /// The inbox's IMAP session is up.
    pub fn imap_up(&self, inbox: &str) {
        self.imap_connected
            .get_or_create(&label("inbox", inbox))
            .set(1);
        let mut s = self.state();
        let st = s.inboxes.entry(inbox.to_string()).or_default();
        st.connected_since = Some((Instant::now(), SystemTime::now()));
        st.failures = 0;
    }

    /// The inbox's IMAP session failed (or never came up) with `error`.
    pub fn imap_down(&self, inbox: &str, error: &str) {
        self.imap_connected
            .get_or_create(&label("inbox", inbox))
            .set(0);
        self.imap_failures
            .get_or_create(&label("inbox", inbox))
            .inc();
        let mut s = self.state();
        let st = s.inboxes.entry(inbox.to_string()).or_default();
        st.connected_since = None;
        st.last_error = Some(error.to_string());
        st.failures += 1;
    }

    /// An inbox the daemon serves, before its first session: reported as down until it is up.
    pub fn imap_expected(&self, inbox: &str) {
        self.imap_connected
            .get_or_create(&label("inbox", inbox))
            .set(0);
        self.state().inboxes.entry(inbox.to_string()).or_default();
    }

    /// The workers the supervisor found stalled (none: the pipeline makes progress).
    pub fn stalls(&self, stalls: &[Stall]) {
        self.state().stalls = stalls.to_vec();
    }

    /// A configuration reload was applied (`ok`) or refused.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&label("result", if ok { "ok" } else { "refused" }))
            .inc();
    }

    /// The Prometheus text exposition, with the gauges read from the store now.
    pub fn render(&self, store: &Store, agents: &[crate::domain::AgentEmail]) -> String {
        match store.outbox_counts() {
            Ok((depth, dead)) => {
                self.outbox_depth.set(depth as i64);
                self.dead_letters.set(dead as i64);
            }
            Err(e) => warn!(error = %e, "metrics: cannot count the outbox"),
        }
        for agent in agents {
            if let Ok(load) = store.agent_load(agent) {
                self.open_tickets
                    .get_or_create(&label("agent", agent.to_string()))
                    .set(load.open as i64);
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The health summary: degraded when a worker is stalled, an inbox is down or the
    /// outbox is stuck.
    pub fn health(&self, store: &Store) -> Health {
        let s = self.state();
        let mut inboxes: Vec<InboxHealth> = s
            .inboxes
            .iter()
            .map(|(name, st)| InboxHealth {
                inbox: name.clone(),
                connected: st.connected_since.is_some(),
                session_age_s: st.connected_since.map(|(i, _)| i.elapsed().as_secs()),
                connected_since: st.connected_since.map(|(_, t)| unix(t)),
                failures: st.failures,
                last_error: st.last_error.clone(),
            })
            .collect();
        inboxes.sort_by(|a, b| a.inbox.cmp(&b.inbox));
        let last_send = s.last_send.map(unix);
        let stalls = s.stalls.clone();
        drop(s);
        let (depth, dead) = store.outbox_counts().unwrap_or((0, 0));
        let oldest = store.oldest_queued().ok().flatten();
        let now = crate::domain::now();
        let oldest_queued_age_s = oldest.map(|t| (now - t).max(0) as u64);
        let mut problems: Vec<String> = stalls
            .iter()
            .map(|st| {
                format!(
                    "{} has made no progress for {} s: stuck in the daemon's own work or the store",
                    st.worker,
                    st.silent_for.as_secs()
                )
            })
            .collect();
        for i in inboxes.iter().filter(|i| !i.connected) {
            problems.push(format!(
                "inbox {} is not connected{}",
                i.inbox,
                i.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if oldest_queued_age_s.is_some_and(|a| a >= OUTBOX_STUCK_AFTER.as_secs()) {
            problems.push(format!(
                "the outbox's oldest mail has waited {} s",
                oldest_queued_age_s.unwrap_or_default()
            ));
        }
        Health {
            status: if problems.is_empty() {
                "ok"
            } else {
                "degraded"
            },
            problems,
            inboxes,
            outbox_depth: depth,
            dead_letters: dead,
            oldest_queued_age_s,
            last_send,
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The metric label of a mail kind.
pub fn kind_name(kind: MailKind) -> &'static str {
    match kind {
        MailKind::Acknowledgement => "acknowledgement",
        MailKind::AgentNotification => "agent-notification",
        MailKind::AgentReply => "agent-reply",
        MailKind::AgentNotice => "agent-notice",
        MailKind::Escalation => "escalation",
        MailKind::OpsAlert => "ops-alert",
    }
}

/// `/healthz`'s answer.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// What makes it degraded, in words.
    pub problems: Vec<String>,
    /// Each inbox's IMAP session.
    pub inboxes: Vec<InboxHealth>,
    /// Mails waiting to be sent.
    pub outbox_depth: usize,
    /// Mails in the dead letters.
    pub dead_letters: usize,
    /// How long the oldest mail in the outbox has waited.
    pub oldest_queued_age_s: Option<u64>,
    /// Unix time of the last mail SMTP accepted.
    pub last_send: Option<i64>,
}

/// One inbox in `/healthz`.
#[derive(Debug, Serialize)]
pub struct InboxHealth {
    /// The inbox's name.
    pub inbox: String,
    /// Whether its IMAP session is up.
    pub connected: bool,
    /// Seconds since the session came up.
    pub session_age_s: Option<u64>,
    /// Unix time the session came up.
    pub connected_since: Option<i64>,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<Metrics>,
    store: Store,
    live: std::sync::Arc<crate::reload::Live>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Response, StatusCode};

    if let Ok(addr) = listener.local_addr() {
        info!(event = "metrics.listening", %addr, "serving /metrics and /healthz");
    }
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = stop.changed() => return Ok(()),
        };
        let (metrics, store, live) = (metrics.clone(), store.clone(), live.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (metrics, store, live) = (metrics.clone(), store.clone(), live.clone());
                async move {
                    let path = req.uri().path().to_string();
                    // Store reads are quick but blocking: keep them off the runtime's threads.
                    let answer =
                        tokio::task::spawn_blocking(move || answer(&path, &metrics, &store, &live))
                            .await
                            .unwrap_or((
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "text/plain",
                                "internal error\n".to_string(),
                            ));
                    let (code, ctype, body) = answer;
                    Response::builder()
                        .status(code)
                        .header("content-type", ctype)
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

/// The answer to a GET of `path`: status, content type, body.
fn answer(
    path: &str,
    metrics: &Metrics,
    store: &Store,
    live: &crate::reload::Live,
) -> (hyper::StatusCode, &'static str, String) {
    use hyper::StatusCode;
    match path {
        "/metrics" => {
            let agents: Vec<_> = live
                .snapshot()
                .cfg
                .agents
                .iter()
                .map(|a| a.email.clone())
                .collect();
            (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(store, &agents),
            )
        }
        "/healthz" => {
            let h = metrics.health(store);
            let code = if h.problems.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::to_string_pretty(&h).unwrap_or_default();
            (code, "application/json", body + "\n")
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(n: u64) -> TicketId {
        TicketId::new(n)
    }

    #[test]
    fn acknowledgement_latency_runs_from_notice_to_acceptance() {
        let m = Metrics::new();
        let t = ticket(1042);
        m.ack_started(t, Instant::now() - Duration::from_millis(30));
        let took = m
            .sent(MailKind::Acknowledgement, Some(t))
            .expect("clock ran");
        assert!(took >= Duration::from_millis(30), "{took:?}");
        // The clock is used once; other kinds never measure.
        assert_eq!(m.sent(MailKind::Acknowledgement, Some(t)), None);
        m.ack_started(ticket(7), Instant::now());
        assert_eq!(m.sent(MailKind::AgentNotification, Some(ticket(7))), None);
    }

    #[test]
    fn the_exposition_names_every_family_the_docs_promise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let m = Metrics::new();
        m.ingested(3);
        m.processed(&Outcome::Suppressed {
            reason: crate::domain::SuppressReason::AutoSubmitted,
        });
        m.processed(&Outcome::Agent {
            ticket: TicketId::new(1042),
            action: crate::domain::AgentAction::Refused(crate::domain::Refusal::new(
                crate::domain::RefusalKind::NotInThread,
                "not a reply",
            )),
        });
        m.processed(&Outcome::Agent {
            ticket: TicketId::new(1042),
            action: crate::domain::AgentAction::Relayed { then: None },
        });
        m.imap_up("support");
        let text = m.render(
            &store,
            &[crate::domain::AgentEmail::new(
                crate::domain::EmailAddress::parse("jason@example.test").expect("address"),
            )],
        );
        for needle in [
            "frontdesk_mails_ingested_total 3",
            "frontdesk_mails_processed_total{outcome=\"suppressed\"} 1",
            "frontdesk_mails_suppressed_total{reason=\"auto-submitted\"} 1",
            "frontdesk_mails_processed_total{outcome=\"agent\"} 2",
            "frontdesk_agent_mails_total{action=\"refused\",reason=\"not_in_thread\"} 1",
            "frontdesk_agent_mails_total{action=\"relayed\",reason=\"\"} 1",
            "frontdesk_imap_connected{inbox=\"support\"} 1",
            "frontdesk_outbox_depth 0",
            "frontdesk_dead_letters 0",
            "frontdesk_open_tickets{agent=\"jason@example.test\"} 0",
            "# TYPE frontdesk_ack_latency_seconds histogram",
            "# TYPE frontdesk_first_response_seconds histogram",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn health_degrades_while_a_worker_is_stalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let m = Metrics::new();
        m.stalls(&[Stall {
            worker: "ingest support".into(),
            silent_for: Duration::from_secs(75),
        }]);
        let h = m.health(&store);
        assert_eq!(h.status, "degraded");
        assert_eq!(
            h.problems,
            [
                "ingest support has made no progress for 75 s: stuck in the daemon's own work or the store"
            ]
        );
        m.stalls(&[]);
        assert_eq!(m.health(&store).status, "ok");
    }

    #[test]
    fn health_degrades_while_an_inbox_is_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let m = Metrics::new();
        m.imap_expected("support");
        let h = m.health(&store);
        assert_eq!(h.status, "degraded");
        m.imap_up("support");
        let h = m.health(&store);
        assert_eq!(h.status, "ok", "{:?}", h.problems);
        m.imap_down("support", "connection refused");
        let h = m.health(&store);
        assert_eq!(h.status, "degraded");
        assert!(
            h.problems[0].contains("connection refused"),
            "{:?}",
            h.problems
        );
    }
}
