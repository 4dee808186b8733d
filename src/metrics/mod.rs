//! What the daemon knows about itself, for ops: counters, gauges and histograms in the
//! OpenMetrics text format at `/metrics`, and a health summary at `/healthz`, served on a
//! loopback address (`[metrics] listen`). Recording is cheap (atomics and one short lock), so
//! the pipeline records unconditionally; the listener is optional. Label values are
//! snake_case (`new_ticket`, `auto_submitted`), as Prometheus's conventions have them.

mod health;
mod http;
#[cfg(test)]
mod tests;

pub use health::{Health, InboxHealth};
pub use http::{CONTENT_TYPE, serve};

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
use tracing::warn;

use crate::domain::{MailKind, Outcome, TicketId};
use crate::liveness::Stall;
use crate::store::Store;

/// One label: `name="value"`.
type Label = [(&'static str, String); 1];

fn label(name: &'static str, value: impl Into<String>) -> Label {
    [(name, value.into())]
}

/// A label with a fixed value: `version="0.1.0"`.
type StaticLabel = [(&'static str, &'static str); 1];

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
    first_response: Family<Label, Histogram, fn() -> Histogram>,
    ratings: Family<Label, Histogram, fn() -> Histogram>,
    imap_connected: Family<Label, Gauge>,
    imap_failures: Family<Label, Counter>,
    outbox_depth: Gauge,
    dead_letters: Gauge,
    outbox_oldest_age: Gauge,
    open_tickets: Family<Label, Gauge>,
    last_send: Gauge<f64, AtomicU64>,
    reloads: Family<Label, Counter>,
    build_info: Family<StaticLabel, Gauge>,
    reload_ok: Gauge,
    reload_ok_time: Gauge<f64, AtomicU64>,
    backup_time: Gauge<f64, AtomicU64>,
    backup_interval: Gauge,
    quarantined: Gauge,
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
    /// The agents whose `open_tickets` series the last scrape showed.
    agents_shown: Vec<String>,
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
            first_response: Family::new_with_constructor(first_response_histogram),
            ratings: Family::new_with_constructor(rating_histogram),
            imap_connected: Family::default(),
            imap_failures: Family::default(),
            outbox_depth: Gauge::default(),
            dead_letters: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            open_tickets: Family::default(),
            last_send: Gauge::default(),
            reloads: Family::default(),
            build_info: Family::default(),
            reload_ok: Gauge::default(),
            reload_ok_time: Gauge::default(),
            backup_time: Gauge::default(),
            backup_interval: Gauge::default(),
            quarantined: Gauge::default(),
            state: Mutex::new(State::default()),
            registry: Registry::default(),
        };
        m.register_mail_flow(&mut registry);
        m.register_health(&mut registry);
        m.register_operations(&mut registry);
        m.build_info
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        // The daemon runs on a configuration it loaded and checked: the first load counts as
        // the last successful one until a reload says otherwise.
        m.reload_ok.set(1);
        m.reload_ok_time.set(unix_now());
        Metrics { registry, ..m }
    }

    /// What ops watch beyond the mail: the build, reloads, backups, the quarantine.
    fn register_operations(&self, registry: &mut Registry) {
        let m = self;
        registry.register(
            "build_info",
            "The running build: always 1, the version in a label",
            m.build_info.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 if the last configuration reload (or the start) succeeded, 0 if it was refused",
            m.reload_ok.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last configuration load or reload that succeeded",
            m.reload_ok_time.clone(),
        );
        registry.register(
            "backup_last_success_timestamp_seconds",
            "Unix time of the newest backup written (0: none yet)",
            m.backup_time.clone(),
        );
        registry.register(
            "backup_interval_seconds",
            "The configured interval of periodic backups (0: off)",
            m.backup_interval.clone(),
        );
        registry.register(
            "quarantined_mails",
            "Stored mails now in quarantine, waiting for a person",
            m.quarantined.clone(),
        );
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
            "Stored mails by outcome (new_ticket, joined, agent, suppressed, quarantined)",
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
            "From a ticket's opening to its first answer, by the agent who answered",
            m.first_response.clone(),
        );
        registry.register(
            "rating",
            "Customers' ratings (1 to 5) of closed tickets, by the agent rated (configured agents only)",
            m.ratings.clone(),
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
            "outbox_oldest_age_seconds",
            "How long the oldest mail in the outbox has waited (0: empty)",
            m.outbox_oldest_age.clone(),
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
            Outcome::NewTicket { .. } => "new_ticket",
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
                    .get_or_create(&label("reason", snake_case(reason.as_str())))
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
        self.last_send.set(unix_secs(now));
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

    /// A ticket got its first answer, from `agent`, `after` its opening.
    pub fn first_response(&self, agent: &str, after: Duration) {
        self.first_response
            .get_or_create(&label("agent", agent))
            .observe(after.as_secs_f64());
    }

    /// A customer rated a ticket of `agent` (a configured agent: the label's values stay
    /// the configured agents) with `score`, 1 to 5.
    pub fn rating(&self, agent: &str, score: u8) {
        self.ratings
            .get_or_create(&label("agent", agent))
            .observe(f64::from(score));
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
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_ok_time.set(unix_now());
        }
    }

    /// A backup was written; `at` is when it was completed (for one found on disk at start,
    /// its file's time).
    pub fn backup_written(&self, at: SystemTime) {
        let t = unix_secs(at);
        // A backup found on disk never moves the time back behind one written since.
        if t > self.backup_time.get() {
            self.backup_time.set(t);
        }
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]), with the gauges read from the
    /// store and the live configuration now. `agents` are the configured agents: an agent
    /// removed from the configuration loses its `open_tickets` series.
    pub fn render(
        &self,
        store: &Store,
        agents: &[crate::domain::AgentEmail],
        backup_interval: Option<Duration>,
    ) -> String {
        match store.outbox_counts() {
            Ok((depth, dead)) => {
                self.outbox_depth.set(depth as i64);
                self.dead_letters.set(dead as i64);
            }
            Err(e) => warn!(error = %e, "metrics: cannot count the outbox"),
        }
        match store.oldest_queued() {
            Ok(oldest) => {
                let age = oldest.map_or(0, |t| (crate::domain::now() - t).max(0));
                self.outbox_oldest_age.set(age);
            }
            Err(e) => warn!(error = %e, "metrics: cannot read the outbox's oldest mail"),
        }
        match store.quarantined_count() {
            Ok(held) => {
                self.quarantined.set(held as i64);
            }
            Err(e) => warn!(error = %e, "metrics: cannot count the quarantine"),
        }
        self.backup_interval
            .set(backup_interval.map_or(0, |d| d.as_secs() as i64));
        self.open_tickets(store, agents);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Sets each configured agent's open tickets, and drops the series of agents no longer
    /// configured (removed by a reload), so dashboards and sums do not keep a stale value.
    fn open_tickets(&self, store: &Store, agents: &[crate::domain::AgentEmail]) {
        let now: Vec<String> = agents.iter().map(ToString::to_string).collect();
        let mut s = self.state();
        for gone in s.agents_shown.iter().filter(|a| !now.contains(a)) {
            self.open_tickets.remove(&label("agent", gone.as_str()));
        }
        for (agent, name) in agents.iter().zip(&now) {
            if let Ok(load) = store.agent_load(agent) {
                self.open_tickets
                    .get_or_create(&label("agent", name.as_str()))
                    .set(load.open as i64);
            }
        }
        s.agents_shown = now;
    }
}

/// The buckets of the time to a first answer: 1 minute … ~6 days.
/// One bucket per score.
fn rating_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 4.0, 5.0])
}

fn first_response_histogram() -> Histogram {
    Histogram::new(exponential_buckets(60.0, 2.0, 14))
}

/// A stable name as a label value: `auto-submitted` → `auto_submitted`.
fn snake_case(name: &str) -> String {
    name.replace('-', "_")
}

/// Seconds since the Unix epoch, with fractions.
fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn unix_now() -> f64 {
    unix_secs(SystemTime::now())
}

/// The metric label of a mail kind.
pub fn kind_name(kind: MailKind) -> &'static str {
    match kind {
        MailKind::Acknowledgement => "acknowledgement",
        MailKind::AgentNotification => "agent_notification",
        MailKind::AgentReply => "agent_reply",
        MailKind::AgentNotice => "agent_notice",
        MailKind::Escalation => "escalation",
        MailKind::OpsAlert => "ops_alert",
        MailKind::Handover => "handover",
        MailKind::Closing => "closing",
        MailKind::Reminder => "reminder",
    }
}
