//! Configuration in two stages: [`RawConfig`] holds exactly what the operator wrote (TOML file
//! plus `FRONTDESK__SECTION__KEY` environment overrides, unknown keys refused), and
//! [`Config`] is the validated form the daemon runs on. Every problem is collected with its
//! key and a fix, and all are reported at once.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::{AgentEmail, EmailAddress};

/// Where `--config` points when the operator gives none.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/frontdesk/frontdesk.toml";

/// A secret (password) that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret so that it stays out of logs.
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself, for the one place that needs it: the login.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How we log in to a mail server.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// `LOGIN` (IMAP) or `AUTH PLAIN`/`LOGIN` (SMTP) with a password.
    Password(Secret),
    /// `AUTHENTICATE XOAUTH2` / `AUTH XOAUTH2` with an access token from
    /// `oauth2_token_command`. Only the command: whoever logs in makes the live token cache
    /// (`oauth2::TokenSource`) from it.
    OAuth2(TokenCommand),
}

impl Auth {
    /// The SASL mechanism this login uses, for messages.
    pub fn mechanism(&self) -> &'static str {
        match self {
            Auth::Password(_) => "password",
            Auth::OAuth2(_) => "XOAUTH2",
        }
    }
}

/// The configured way to get an XOAUTH2 access token: the command and its limits.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenCommand {
    /// The configuration section it belongs to (`imap`, `smtp`), for messages.
    pub section: String,
    /// The shell command line.
    pub command: String,
    /// How long a token is reused when the command does not say (`0`: run it for every login).
    pub lifetime: Duration,
    /// How long the command may run.
    pub timeout: Duration,
}

impl TokenCommand {
    /// How long a token printed without `expires_in` is reused: Google's and Microsoft's
    /// access tokens live an hour, and ten minutes of that are left as a margin.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(50 * 60);

    /// How long the command may take before it is stopped and the login fails (below the
    /// SMTP default `timeout_seconds` of 30, which bounds a whole send including getting a
    /// token).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

    /// The configuration key that names the command, e.g. `imap.oauth2_token_command`.
    pub fn key(&self) -> String {
        format!("{}.oauth2_token_command", self.section)
    }
}

impl fmt::Debug for TokenCommand {
    // The command line may carry a client secret: it stays out of Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCommand")
            .field("key", &self.key())
            .field("command", &"[redacted]")
            .field("lifetime", &self.lifetime)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Implicit,
    /// A plaintext greeting upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// No encryption at all: allowed only towards a loopback address.
    None,
}

// ---------------------------------------------------------------------------------------
// Stage one: what the operator wrote.
// ---------------------------------------------------------------------------------------

/// The configuration file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    service: RawService,
    imap: RawImap,
    smtp: RawSmtp,
    #[serde(default)]
    acknowledgement: RawAck,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    tickets: RawTickets,
    #[serde(default)]
    sla: RawSla,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    inboxes: Vec<RawInbox>,
    alerts: Option<RawAlerts>,
    #[serde(default)]
    backup: RawBackup,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    teams: Vec<RawTeam>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInbox {
    name: Option<String>,
    address: String,
    imap: RawImap,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    #[serde(default)]
    body_days: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    dir: Option<PathBuf>,
    #[serde(default = "default_backup_hours")]
    interval_hours: u64,
    #[serde(default = "default_backup_keep")]
    keep: usize,
}

impl Default for RawBackup {
    fn default() -> Self {
        RawBackup {
            dir: None,
            interval_hours: default_backup_hours(),
            keep: default_backup_keep(),
        }
    }
}

fn default_backup_hours() -> u64 {
    24
}
fn default_backup_keep() -> usize {
    7
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    to: String,
    #[serde(default = "default_alert_failures")]
    after_failures: u32,
}

fn default_alert_failures() -> u32 {
    5
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    first_response_minutes: Option<u64>,
    lead: Option<String>,
    check_interval_seconds: Option<u64>,
    #[serde(default)]
    reassign: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTickets {
    #[serde(default = "default_reopen_days")]
    reopen_days: u64,
}

impl Default for RawTickets {
    fn default() -> Self {
        RawTickets {
            reopen_days: default_reopen_days(),
        }
    }
}

fn default_reopen_days() -> u64 {
    14
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default = "default_sticky_days")]
    sticky_days: u64,
    #[serde(default = "default_timezone")]
    timezone: String,
}

impl Default for RawRouting {
    fn default() -> Self {
        RawRouting {
            sticky_days: default_sticky_days(),
            timezone: default_timezone(),
        }
    }
}

fn default_sticky_days() -> u64 {
    30
}
fn default_timezone() -> String {
    "UTC".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: String,
    #[serde(default)]
    strategy: Strategy,
    fallback: Option<String>,
    first_response_minutes: Option<u64>,
    lead: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    address: String,
    #[serde(default = "default_state_dir")]
    state_dir: PathBuf,
    token_secret_file: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    #[serde(default)]
    reply_tokens: ReplyTokens,
    trusted_authserv_id: Option<String>,
}

/// Where an agent's reply token travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyTokens {
    /// In the Reply-To address: `support+1042.k7q2m9d4xa@…` (needs plus addressing).
    #[default]
    Plus,
    /// In the subject: `{ref:1042.k7q2m9d4xa}`, with the plain support address as Reply-To.
    Subject,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/frontdesk")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    tls: TlsMode,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    oauth2_token_command: Option<String>,
    #[serde(default = "default_token_lifetime")]
    oauth2_token_lifetime_minutes: u64,
    #[serde(default = "default_token_timeout")]
    oauth2_token_timeout_seconds: u64,
    #[serde(default = "default_mailbox")]
    mailbox: String,
    /// Move handled mail here instead of only flagging it `\Seen`.
    processed_mailbox: Option<String>,
    #[serde(default = "default_idle_renew")]
    idle_renew_minutes: u64,
    #[serde(default = "default_poll")]
    poll_interval_seconds: u64,
    #[serde(default)]
    backfill_hours: u64,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_seconds: u64,
    #[serde(default = "default_command_timeout")]
    command_timeout_seconds: u64,
    #[serde(default = "default_fetch_batch")]
    fetch_batch: usize,
}

fn default_imap_tls() -> TlsMode {
    TlsMode::Implicit
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_idle_renew() -> u64 {
    20
}
fn default_poll() -> u64 {
    30
}
fn default_connect_timeout() -> u64 {
    15
}
fn default_command_timeout() -> u64 {
    60
}
fn default_fetch_batch() -> usize {
    50
}
fn default_token_lifetime() -> u64 {
    TokenCommand::DEFAULT_LIFETIME.as_secs() / 60
}
fn default_token_timeout() -> u64 {
    TokenCommand::DEFAULT_TIMEOUT.as_secs()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    #[serde(default = "default_smtp_tls")]
    tls: TlsMode,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    oauth2_token_command: Option<String>,
    #[serde(default = "default_token_lifetime")]
    oauth2_token_lifetime_minutes: u64,
    #[serde(default = "default_token_timeout")]
    oauth2_token_timeout_seconds: u64,
    #[serde(default = "default_pool")]
    pool_size: u32,
    #[serde(default = "default_smtp_timeout")]
    timeout_seconds: u64,
    #[serde(default = "default_retry_initial")]
    retry_initial_seconds: u64,
    #[serde(default = "default_retry_max")]
    retry_max_seconds: u64,
    #[serde(default = "default_give_up")]
    give_up_hours: u64,
}

fn default_smtp_tls() -> TlsMode {
    TlsMode::Starttls
}
fn default_pool() -> u32 {
    4
}
fn default_smtp_timeout() -> u64 {
    30
}
fn default_retry_initial() -> u64 {
    10
}
fn default_retry_max() -> u64 {
    1800
}
fn default_give_up() -> u64 {
    72
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAck {
    #[serde(default = "default_true")]
    enabled: bool,
    #[serde(default = "default_per_day")]
    per_sender_per_day: u32,
    #[serde(default = "default_quote_lines")]
    quote_lines: usize,
    #[serde(default = "default_true")]
    require_aligned_sender: bool,
    #[serde(default = "default_per_hour")]
    max_per_hour: u32,
}

fn default_per_hour() -> u32 {
    5000
}

impl Default for RawAck {
    fn default() -> Self {
        RawAck {
            enabled: true,
            per_sender_per_day: default_per_day(),
            max_per_hour: default_per_hour(),
            quote_lines: default_quote_lines(),
            require_aligned_sender: true,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_per_day() -> u32 {
    3
}
fn default_quote_lines() -> usize {
    6
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_max_bytes")]
    max_message_bytes: u64,
    #[serde(default = "default_flood_tickets")]
    flood_tickets: usize,
    #[serde(default = "default_flood_window")]
    flood_window_minutes: u64,
    #[serde(default = "default_flood_notifications")]
    flood_notifications: usize,
}

fn default_flood_tickets() -> usize {
    3
}
fn default_flood_window() -> u64 {
    10
}
fn default_flood_notifications() -> usize {
    3
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_message_bytes: default_max_bytes(),
            flood_tickets: default_flood_tickets(),
            flood_window_minutes: default_flood_window(),
            flood_notifications: default_flood_notifications(),
        }
    }
}

fn default_max_bytes() -> u64 {
    50 * 1024 * 1024
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    email: String,
    #[serde(default)]
    teams: Vec<String>,
    working_hours: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    away: bool,
    #[serde(default)]
    max_open: usize,
}

/// How a team shares its tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Take turns.
    #[default]
    RoundRobin,
    /// The available member with the fewest open tickets.
    LeastOpen,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    to: Option<String>,
    from_domain: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    team: Option<String>,
    agent: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Stage two: the validated configuration.
// ---------------------------------------------------------------------------------------

/// The validated configuration the daemon and the CLI run on.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    /// Who we are.
    pub service: Service,
    /// The support mailbox.
    pub imap: Imap,
    /// The outgoing server.
    pub smtp: Smtp,
    /// Acknowledgement policy.
    pub ack: AckPolicy,
    /// Size limits for incoming mail.
    pub limits: Limits,
    /// Stickiness and defaults for routing.
    pub routing: Routing,
    /// The agents, in configuration order (round robin follows this order).
    pub agents: Vec<Agent>,
    /// Teams with their strategy and fallback (teams only named by agents get defaults).
    pub teams: Vec<Team>,
    /// Routing rules, matched in order.
    pub routes: Vec<Route>,
    /// First-response targets and escalation.
    pub sla: Sla,
    /// Where `/metrics` and `/healthz` are served (a loopback address); `None`: nowhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Further inboxes (`[[inboxes]]`) beside the main one (`[service] address` + `[imap]`).
    pub inboxes: Vec<Inbox>,
    /// Where an inbox that keeps failing is reported by mail; `None`: only logs and metrics.
    pub alerts: Option<Alerts>,
    /// Periodic online backups of the store.
    pub backup: Backup,
    /// How long message bodies are kept.
    pub retention: Retention,
}

/// The `[retention]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Message bodies (raw mail) older than this are deleted, their records and tickets kept;
    /// `None`: kept for ever.
    pub body: Option<Duration>,
}

/// The `[backup]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// Where backups are written (default: `backups/` in the state directory).
    pub dir: PathBuf,
    /// How often; `None`: never on its own (`frontdesk backup` still works).
    pub interval: Option<Duration>,
    /// How many to keep; older ones are deleted.
    pub keep: usize,
}

/// One watched mailbox with its public address.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbox {
    /// Its name in logs, metrics and `/healthz`.
    pub name: String,
    /// The public address customers write to; our mail about its tickets comes from it.
    pub address: EmailAddress,
    /// Its IMAP account.
    pub imap: Imap,
}

/// The `[alerts]` section: mail to ops when an inbox stays unreachable.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// Who is told.
    pub to: EmailAddress,
    /// Consecutive failed attempts before the alert (one per outage, and one when it ends).
    pub after_failures: u32,
}

impl Imap {
    /// The store key of this mailbox's cursor: account and mailbox, not how we reach it
    /// (moving from port 143 to 993 must not look like a first start, which skips mail).
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.username, self.mailbox)
    }
}

/// The `[service]` section.
#[derive(Debug, Clone)]
pub struct Service {
    /// Shown in mails and in the ticket tag `[NAME #N]`.
    pub name: String,
    /// The public support address: sender of everything we send.
    pub address: EmailAddress,
    /// Where the sled store lives.
    pub state_dir: PathBuf,
    /// The HMAC key for reply tokens (always set in a validated configuration).
    pub token_secret: Option<Secret>,
    /// Overrides for the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// Where agents' reply tokens travel.
    pub reply_tokens: ReplyTokens,
    /// Our MTA's Authentication-Results id: when set, agent mail (answers, forwards) must be
    /// authenticated by it, not only carry an aligned envelope.
    pub trusted_authserv_id: Option<String>,
}

/// The `[imap]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Imap {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// A private CA bundle that replaces the public roots.
    pub ca_file: Option<PathBuf>,
    /// Login name.
    pub username: String,
    /// Password or XOAUTH2 token command.
    pub auth: Auth,
    /// The mailbox to watch.
    pub mailbox: String,
    /// Where handled mail is moved; `None` flags it `\Seen` in place.
    pub processed_mailbox: Option<String>,
    /// How often IDLE is re-issued (RFC 2177 asks for less than 29 minutes).
    pub idle_renew: Duration,
    /// Poll interval for servers without IDLE.
    pub poll_interval: Duration,
    /// On the very first start, how far back existing mail is processed.
    pub backfill: Duration,
    /// Bound on TCP+TLS connect and greeting.
    pub connect_timeout: Duration,
    /// Bound on every IMAP command.
    pub command_timeout: Duration,
    /// UIDs fetched per FETCH command.
    pub fetch_batch: usize,
}

/// The `[smtp]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// A private CA bundle that replaces the public roots.
    pub ca_file: Option<PathBuf>,
    /// Login name and how to log in, if the server wants a login.
    pub credentials: Option<(String, Auth)>,
    /// Pooled connections.
    pub pool_size: u32,
    /// Bound on one whole SMTP transaction.
    pub timeout: Duration,
    /// The retry schedule for temporary failures.
    pub retry: RetryPolicy,
}

/// Exponential backoff for the outbox, capped, with a deadline after which a mail is dead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Longest delay between two attempts.
    pub max: Duration,
    /// Age after which a mail that still fails is moved to the dead letters.
    pub give_up_after: Duration,
}

/// The `[acknowledgement]` section.
#[derive(Debug, Clone, Copy)]
pub struct AckPolicy {
    /// Send acknowledgements at all.
    pub enabled: bool,
    /// At most this many acknowledgements per sender address in 24 hours.
    pub per_sender_per_day: u32,
    /// Lines of the customer's text quoted back.
    pub quote_lines: usize,
    /// Acknowledge only when the Return-Path domain matches the From domain.
    pub require_aligned_sender: bool,
    /// At most this many acknowledgements in one clock hour, all senders together (0: no
    /// limit): a storm of forged senders cannot make us a spam cannon.
    pub max_per_hour: u32,
}

/// The `[limits]` section.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger mail is quarantined rather than processed.
    pub max_message_bytes: u64,
    /// A sender who opened this many tickets within `flood_window` is flooding: their further
    /// mail joins their newest open ticket.
    pub flood_tickets: usize,
    /// The window for `flood_tickets`, and for `flood_notifications`.
    pub flood_window: Duration,
    /// At most this many notifications about one ticket reach its agent within
    /// `flood_window`; later follow-ups are recorded on the ticket and summarised once.
    pub flood_notifications: usize,
}

/// The `[routing]` section.
#[derive(Debug, Clone, Copy)]
pub struct Routing {
    /// A customer who writes again within this time goes to the agent who helped them last.
    pub sticky: Duration,
    /// A customer's reply to a ticket closed less than this long ago reopens it; after that
    /// it opens a new ticket linked to the old one.
    pub reopen_window: Duration,
}

/// One `[[agents]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Display name, used in mails ("Jason Miller").
    pub name: String,
    /// Where notifications go and whom tokens bind.
    pub email: AgentEmail,
    /// Teams this agent belongs to.
    pub teams: Vec<String>,
    /// When they work, in their time zone.
    pub hours: crate::hours::WorkingHours,
    /// Away by configuration (the CLI can also mark an agent away).
    pub away: bool,
    /// At most this many open tickets (0: no limit).
    pub max_open: usize,
}

/// One team: how it shares work and where tickets go when nobody in it is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// The name agents list in `teams`.
    pub name: String,
    /// Round robin or fewest open tickets.
    pub strategy: Strategy,
    /// Where tickets go when no member is available.
    pub fallback: Option<RouteTarget>,
    /// The team's first-response target, overriding `[sla]`.
    pub first_response: Option<Duration>,
    /// Who is told when the team misses it, overriding `[sla] lead`.
    pub lead: Option<EmailAddress>,
}

/// The `[sla]` section: first-response targets counted in the agent's working hours.
#[derive(Debug, Clone)]
pub struct Sla {
    /// The global target; `None` switches escalation off (teams may still set their own).
    pub first_response: Option<Duration>,
    /// Who gets escalations when the team names no lead.
    pub lead: Option<EmailAddress>,
    /// How often open tickets are checked.
    pub check_interval: Duration,
    /// Also hand an escalated ticket to another available agent.
    pub reassign: bool,
}

/// One `[[routes]]` rule.
#[derive(Debug, Clone)]
pub struct Route {
    /// Matches when the mail was sent to this address (To, Cc or Delivered-To).
    pub to: Option<EmailAddress>,
    /// Matches when the sender's domain is this one or below it (`example.com` also matches
    /// `mail.example.com`).
    pub from_domain: Option<String>,
    /// Matches when the subject matches this pattern (case-insensitive regular expression).
    pub subject: Option<regex::Regex>,
    /// Matches when the text matches this pattern (case-insensitive regular expression).
    pub body: Option<regex::Regex>,
    /// Where the ticket goes.
    pub target: RouteTarget,
}

/// Where a matching route sends a new ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Round robin among the team's agents.
    Team(String),
    /// One named agent.
    Agent(AgentEmail),
}

/// One thing wrong in a configuration: the key, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `imap.tls`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// A configuration that could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed (syntax, types, unknown keys).
    #[error("configuration {file}: {message}")]
    Load {
        /// The configuration file.
        file: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// The file parsed but its values are not usable.
    #[error("{}", format_problems(file, problems))]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn format_problems(file: &Path, problems: &[Problem]) -> String {
    let mut s = format!(
        "configuration {} has {} problem{}:",
        file.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str(&format!(
            "\n  {}: {}\n      fix: {}",
            p.key, p.message, p.fix
        ));
    }
    s
}

impl Config {
    /// Reads `path` plus `FRONTDESK__SECTION__KEY` environment overrides and validates it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Everything but the secrets (they stay empty): for ops commands that need the agent
    /// table but run where the service's credentials are not readable.
    pub fn load_without_secrets(path: &Path) -> Result<Config, ConfigError> {
        Self::load_inner(path, std::env::vars(), false)
    }

    /// [`Config::load`] with an explicit environment, so tests need not touch the process's.
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::load_inner(path, env, true)
    }

    fn load_inner(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        secrets: bool,
    ) -> Result<Config, ConfigError> {
        let load_err = |message: String| ConfigError::Load {
            file: path.to_path_buf(),
            message,
        };
        if !path.exists() {
            return Err(load_err(format!(
                "file not found; fix: create it from config/frontdesk.example.toml or pass --config FILE (default {DEFAULT_CONFIG_PATH})"
            )));
        }
        let overrides: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("FRONTDESK__"))
            .collect();
        let raw: RawConfig = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("FRONTDESK")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(overrides)),
            )
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| load_err(e.to_string()))?;
        raw.validate(
            path,
            std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            secrets,
        )
    }

    /// Only `service.state_dir` (file plus environment), for the ops commands: they read the
    /// store and must work without the service's secrets.
    pub fn state_dir(path: &Path) -> Result<PathBuf, ConfigError> {
        let load_err = |message: String| ConfigError::Load {
            file: path.to_path_buf(),
            message,
        };
        if !path.exists() {
            return Err(load_err(format!(
                "file not found; fix: pass --config FILE (default {DEFAULT_CONFIG_PATH})"
            )));
        }
        let overrides: config::Map<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("FRONTDESK__"))
            .collect();
        let c = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("FRONTDESK")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(overrides)),
            )
            .build()
            .map_err(|e| load_err(e.to_string()))?;
        match c.get_string("service.state_dir") {
            Ok(dir) => Ok(PathBuf::from(dir)),
            Err(config::ConfigError::NotFound(_)) => Ok(default_state_dir()),
            Err(e) => Err(load_err(e.to_string())),
        }
    }

    /// Every address that is ours (every inbox's address and login): mail from any of them
    /// is never acknowledged, so two inboxes cannot answer each other.
    pub fn own_addresses(&self) -> Vec<EmailAddress> {
        let mut v: Vec<EmailAddress> = Vec::new();
        for inbox in self.all_inboxes() {
            for a in [
                Some(inbox.address),
                EmailAddress::parse(&inbox.imap.username),
            ]
            .into_iter()
            .flatten()
            {
                if !v.contains(&a) {
                    v.push(a);
                }
            }
        }
        v
    }

    /// The main inbox (named after the support address's local part) and then every
    /// `[[inboxes]]` entry.
    pub fn all_inboxes(&self) -> Vec<Inbox> {
        let main = Inbox {
            name: self.service.address.local_part().to_string(),
            address: self.service.address.clone(),
            imap: self.imap.clone(),
        };
        std::iter::once(main)
            .chain(self.inboxes.iter().cloned())
            .collect()
    }

    /// This configuration as the inbox `ticket` came in at sees it (borrowed for the main
    /// inbox, which is the common case).
    pub fn for_ticket(&self, ticket: &crate::domain::Ticket) -> std::borrow::Cow<'_, Config> {
        match ticket.inbox.as_ref().and_then(|a| {
            (a != &self.service.address)
                .then(|| self.inboxes.iter().find(|i| &i.address == a))
                .flatten()
        }) {
            Some(inbox) => std::borrow::Cow::Owned(self.for_inbox(inbox)),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// This configuration as seen from `inbox`: its address is the one we answer from.
    pub fn for_inbox(&self, inbox: &Inbox) -> Config {
        let mut c = self.clone();
        // The others stay listed, so the view still knows every address that is ours.
        c.inboxes = self
            .all_inboxes()
            .into_iter()
            .filter(|i| i.address != inbox.address)
            .collect();
        c.service.address = inbox.address.clone();
        c.imap = inbox.imap.clone();
        c
    }

    /// The agent with this address, if configured.
    pub fn agent(&self, email: &AgentEmail) -> Option<&Agent> {
        self.agents.iter().find(|a| &a.email == email)
    }

    /// The configured agent `who` names: an address, a full name or a unique first name.
    pub fn find_agent(&self, who: &str) -> Result<&Agent, String> {
        let who = who.trim();
        // "Maria Lopez <maria@example.com>": the address decides.
        let who = match (who.rfind('<'), who.rfind('>')) {
            (Some(l), Some(r)) if l < r => &who[l + 1..r],
            _ => who,
        };
        if who.is_empty() {
            return Err("name an agent, e.g. #assign Maria Lopez".into());
        }
        if let Some(a) = EmailAddress::parse(who)
            .and_then(|e| self.agents.iter().find(|a| a.email.address() == &e))
        {
            return Ok(a);
        }
        let by_name: Vec<&Agent> = self
            .agents
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(who))
            .collect();
        if let [one] = by_name.as_slice() {
            return Ok(one);
        }
        let by_first: Vec<&Agent> = self
            .agents
            .iter()
            .filter(|a| {
                a.name
                    .split_whitespace()
                    .next()
                    .is_some_and(|f| f.eq_ignore_ascii_case(who))
            })
            .collect();
        match by_first.as_slice() {
            [one] => Ok(one),
            [] => Err(format!("no agent is called {who:?}")),
            _ => Err(format!(
                "{who:?} matches several agents; use the full name or the address"
            )),
        }
    }

    /// The HMAC key for reply tokens and Message-IDs (empty only in a configuration loaded
    /// without secrets, which never composes mail).
    pub fn token_key(&self) -> &[u8] {
        self.service
            .token_secret
            .as_ref()
            .map(|s| s.expose().as_bytes())
            .unwrap_or_default()
    }

    /// The team's settings (defaults for a team only named by agents).
    pub fn team(&self, name: &str) -> Team {
        self.teams
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .unwrap_or(Team {
                name: name.to_string(),
                strategy: Strategy::RoundRobin,
                fallback: None,
                first_response: None,
                lead: None,
            })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

struct Collector(Vec<Problem>);

impl Collector {
    fn add(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }
}

fn read_secret_file(path: &Path, credentials_dir: Option<&Path>) -> Result<String, String> {
    let resolved = match credentials_dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    };
    std::fs::read_to_string(&resolved)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", resolved.display()))
}

fn secret(
    c: &mut Collector,
    section: &str,
    password: Option<String>,
    password_file: Option<PathBuf>,
    credentials_dir: Option<&Path>,
) -> Option<Secret> {
    match (password, password_file) {
        (Some(_), Some(_)) => {
            c.add(
                &format!("{section}.password"),
                "both password and password_file are set",
                format!("keep only {section}.password_file (or only {section}.password)"),
            );
            None
        }
        (Some(p), None) => Some(Secret(p)),
        (None, Some(f)) => match read_secret_file(&f, credentials_dir) {
            Ok(s) if s.is_empty() => {
                c.add(
                    &format!("{section}.password_file"),
                    format!("{} is empty", f.display()),
                    "write the password into the file (one line)",
                );
                None
            }
            Ok(s) => Some(Secret(s)),
            Err(e) => {
                c.add(
                    &format!("{section}.password_file"),
                    e,
                    "point it at a readable file, or under systemd use LoadCredential= and a relative name",
                );
                None
            }
        },
        (None, None) => None,
    }
}

/// The raw login keys of `[imap]` or `[smtp]`.
struct RawLogin {
    password: Option<String>,
    password_file: Option<PathBuf>,
    oauth2_token_command: Option<String>,
    oauth2_token_lifetime_minutes: u64,
    oauth2_token_timeout_seconds: u64,
}

/// A password (see [`secret`]) or an XOAUTH2 token command: at most one of them.
fn credential(
    c: &mut Collector,
    section: &str,
    raw: RawLogin,
    credentials_dir: Option<&Path>,
) -> Option<Auth> {
    let key = format!("{section}.oauth2_token_command");
    let Some(command) = raw.oauth2_token_command else {
        return secret(c, section, raw.password, raw.password_file, credentials_dir)
            .map(Auth::Password);
    };
    let password_key = match (&raw.password, &raw.password_file) {
        (Some(_), _) => Some("password"),
        (None, Some(_)) => Some("password_file"),
        (None, None) => None,
    };
    if let Some(other) = password_key {
        c.add(
            &key,
            format!("both oauth2_token_command and {other} are set; a login uses one of them"),
            format!(
                "keep only {key} (XOAUTH2, e.g. for Gmail or Microsoft 365) or only {section}.{other}"
            ),
        );
        return None;
    }
    if command.trim().is_empty() {
        c.add(
            &key,
            "is empty",
            "set it to a command that prints an access token, e.g. oauth2_token_command = \"/usr/local/bin/oauth2-token support@example.com\"",
        );
        return None;
    }
    if raw.oauth2_token_timeout_seconds == 0 {
        c.add(
            &format!("{section}.oauth2_token_timeout_seconds"),
            "must be at least 1",
            "use the default (20)",
        );
        return None;
    }
    Some(Auth::OAuth2(TokenCommand {
        section: section.to_string(),
        command,
        lifetime: secs(raw.oauth2_token_lifetime_minutes.saturating_mul(60)),
        timeout: secs(raw.oauth2_token_timeout_seconds),
    }))
}

fn check_tls(c: &mut Collector, section: &str, host: &str, tls: TlsMode) {
    if tls == TlsMode::None && !is_loopback(host) {
        c.add(
            &format!("{section}.tls"),
            format!(
                "\"none\" would send the password in clear text to {host}, which is not a loopback address"
            ),
            format!(
                "use {section}.tls = \"implicit\" or \"starttls\"; \"none\" is only for 127.0.0.1/localhost"
            ),
        );
    }
}

fn check_ca(c: &mut Collector, key: &str, ca: &Option<PathBuf>) {
    if let Some(p) = ca
        && !p.is_file()
    {
        c.add(
            key,
            format!("{} does not exist", p.display()),
            "point it at a PEM file holding the CA certificate(s), or remove the key to use the public roots",
        );
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Checks one IMAP section (`imap`, `inboxes[N].imap`) and builds it; `None` when it has
/// problems (all of them are in `c`). The login defaults to `default_username`.
fn imap_section(
    c: &mut Collector,
    section: &str,
    imap: &RawImap,
    cred_dir: Option<&Path>,
    default_username: String,
) -> Option<Imap> {
    check_tls(c, section, &imap.host, imap.tls);
    check_ca(c, &format!("{section}.ca_file"), &imap.ca_file);
    let auth = credential(
        c,
        section,
        RawLogin {
            password: imap.password.clone(),
            password_file: imap.password_file.clone(),
            oauth2_token_command: imap.oauth2_token_command.clone(),
            oauth2_token_lifetime_minutes: imap.oauth2_token_lifetime_minutes,
            oauth2_token_timeout_seconds: imap.oauth2_token_timeout_seconds,
        },
        cred_dir,
    );
    if auth.is_none()
        && imap.password.is_none()
        && imap.password_file.is_none()
        && imap.oauth2_token_command.is_none()
    {
        c.add(
            &format!("{section}.password"),
            "no IMAP credential is configured",
            format!("set {section}.password_file (with systemd LoadCredential=), {section}.password, FRONTDESK__IMAP__PASSWORD, or {section}.oauth2_token_command (XOAUTH2)"),
        );
    }
    if !(1..=28).contains(&imap.idle_renew_minutes) {
        c.add(
            &format!("{section}.idle_renew_minutes"),
            format!("{} is outside 1..=28", imap.idle_renew_minutes),
            "RFC 2177 servers drop IDLE after 29 minutes: use 20",
        );
    }
    if imap.poll_interval_seconds == 0 || imap.fetch_batch == 0 {
        c.add(
            &format!("{section}.poll_interval_seconds"),
            "poll_interval_seconds and fetch_batch must be at least 1",
            "use the defaults (30 and 50)",
        );
    }
    if imap.mailbox.trim().is_empty() {
        c.add(
            &format!("{section}.mailbox"),
            "is empty",
            "use mailbox = \"INBOX\"",
        );
    }
    let port = imap.port.unwrap_or(match imap.tls {
        TlsMode::Implicit => 993,
        _ => 143,
    });
    Some(Imap {
        host: imap.host.clone(),
        port,
        tls: imap.tls,
        ca_file: imap.ca_file.clone(),
        username: imap.username.clone().unwrap_or(default_username),
        auth: auth?,
        mailbox: imap.mailbox.clone(),
        processed_mailbox: imap.processed_mailbox.clone(),
        idle_renew: secs(imap.idle_renew_minutes * 60),
        poll_interval: secs(imap.poll_interval_seconds),
        backfill: secs(imap.backfill_hours * 3600),
        connect_timeout: secs(imap.connect_timeout_seconds.max(1)),
        command_timeout: secs(imap.command_timeout_seconds.max(1)),
        fetch_batch: imap.fetch_batch,
    })
}

impl RawConfig {
    fn validate(
        mut self,
        file: &Path,
        credentials_dir: Option<PathBuf>,
        secrets: bool,
    ) -> Result<Config, ConfigError> {
        if !secrets {
            // Validate everything else; secrets become empty placeholders.
            for (pw, pf) in [
                (&mut self.imap.password, &mut self.imap.password_file),
                (&mut self.smtp.password, &mut self.smtp.password_file),
            ] {
                if pw.is_some() || pf.is_some() {
                    *pw = Some(String::new());
                    *pf = None;
                }
            }
            for imap in
                std::iter::once(&mut self.imap).chain(self.inboxes.iter_mut().map(|i| &mut i.imap))
            {
                if imap.password.is_some() || imap.password_file.is_some() {
                    imap.password = Some(String::new());
                    imap.password_file = None;
                }
                if imap.password.is_none() && imap.oauth2_token_command.is_none() {
                    imap.password = Some(String::new());
                }
            }
        }
        let mut c = Collector(Vec::new());
        let cred_dir = credentials_dir.as_deref();

        // [service]
        let name = crate::mail::sanitize::header_text(&self.service.name, 80);
        if name.is_empty() || name.contains(['[', ']', '#']) {
            c.add(
                "service.name",
                "must be a non-empty name without [ ] or # (it forms the ticket tag)",
                "e.g. name = \"Acme Support\"",
            );
        }
        let address = EmailAddress::parse(&self.service.address);
        if address.is_none() {
            c.add(
                "service.address",
                format!("{:?} is not an e-mail address", self.service.address),
                "e.g. address = \"support@example.com\"",
            );
        }
        let token_secret = match &self.service.token_secret_file {
            _ if !secrets => None,
            None => {
                c.add(
                    "service.token_secret_file",
                    "is required: it keys the tokens that let agents answer customers by mail",
                    "generate a key: head -c 32 /dev/urandom | base64 > /etc/frontdesk/credentials/token.key, and set token_secret_file to it (under systemd: /run/credentials/frontdesk.service/token.key)",
                );
                None
            }
            Some(f) => match read_secret_file(f, cred_dir) {
                Ok(s) if s.len() >= 16 => Some(Secret(s)),
                Ok(_) => {
                    c.add(
                        "service.token_secret_file",
                        format!("{} holds fewer than 16 bytes", f.display()),
                        format!(
                            "generate a key: head -c 32 /dev/urandom | base64 > {}",
                            f.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    c.add(
                        "service.token_secret_file",
                        e,
                        format!(
                            "generate a key: head -c 32 /dev/urandom | base64 > {}",
                            f.display()
                        ),
                    );
                    None
                }
            },
        };
        if let Some(d) = &self.service.templates_dir
            && !d.is_dir()
        {
            c.add(
                "service.templates_dir",
                format!("{} is not a directory", d.display()),
                "point it at a directory of *.hbs overrides, or remove the key to use the built-in templates",
            );
        }

        // [imap] and [[inboxes]]
        let main_imap = imap_section(
            &mut c,
            "imap",
            &self.imap,
            cred_dir,
            address.as_ref().map(|a| a.to_string()).unwrap_or_default(),
        );
        let mut inboxes = Vec::new();
        for (n, raw) in self.inboxes.iter().enumerate() {
            let key = format!("inboxes[{n}]");
            let Some(inbox_address) = EmailAddress::parse(&raw.address) else {
                c.add(
                    &format!("{key}.address"),
                    format!("{:?} is not an e-mail address", raw.address),
                    "e.g. address = \"billing@example.com\"",
                );
                continue;
            };
            let name = raw
                .name
                .clone()
                .unwrap_or_else(|| inbox_address.local_part().to_string());
            let taken = address.as_ref() == Some(&inbox_address)
                || inboxes
                    .iter()
                    .any(|i: &Inbox| i.address == inbox_address || i.name == name);
            if taken {
                c.add(
                    &key,
                    format!("inbox {name} <{inbox_address}> is configured twice"),
                    "give every inbox its own address and name (the main inbox is [service] address with [imap])",
                );
            }
            let imap = imap_section(
                &mut c,
                &format!("{key}.imap"),
                &raw.imap,
                cred_dir,
                inbox_address.to_string(),
            );
            if let Some(imap) = imap {
                inboxes.push(Inbox {
                    name,
                    address: inbox_address,
                    imap,
                });
            }
        }
        let mut store_keys: Vec<String> = inboxes.iter().map(|i| i.imap.store_key()).collect();
        if let Some(m) = &main_imap {
            store_keys.push(m.store_key());
        }
        store_keys.sort();
        if store_keys.windows(2).any(|w| w[0] == w[1]) {
            c.add(
                "inboxes",
                "two inboxes watch the same mailbox of the same account",
                "each inbox needs its own account or mailbox",
            );
        }

        // [alerts]
        let alerts = self.alerts.as_ref().and_then(|a| {
            let Some(to) = EmailAddress::parse(&a.to) else {
                c.add(
                    "alerts.to",
                    format!("{:?} is not an e-mail address", a.to),
                    "e.g. to = \"ops@example.com\"",
                );
                return None;
            };
            Some(Alerts {
                to,
                after_failures: a.after_failures.max(1),
            })
        });

        // [smtp]
        let smtp = &self.smtp;
        check_tls(&mut c, "smtp", &smtp.host, smtp.tls);
        check_ca(&mut c, "smtp.ca_file", &smtp.ca_file);
        let smtp_auth = credential(
            &mut c,
            "smtp",
            RawLogin {
                password: smtp.password.clone(),
                password_file: smtp.password_file.clone(),
                oauth2_token_command: smtp.oauth2_token_command.clone(),
                oauth2_token_lifetime_minutes: smtp.oauth2_token_lifetime_minutes,
                oauth2_token_timeout_seconds: smtp.oauth2_token_timeout_seconds,
            },
            cred_dir,
        );
        let smtp_credentials = match (smtp.username.clone(), smtp_auth) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, Some(p)) => address.as_ref().map(|a| (a.to_string(), p)),
            (Some(_), None) => {
                if smtp.password.is_none()
                    && smtp.password_file.is_none()
                    && smtp.oauth2_token_command.is_none()
                {
                    c.add(
                        "smtp.password",
                        "smtp.username is set but no password",
                        "set smtp.password_file, smtp.password, FRONTDESK__SMTP__PASSWORD or smtp.oauth2_token_command (XOAUTH2), or remove smtp.username for an unauthenticated relay",
                    );
                }
                None
            }
            (None, None) => None,
        };
        if smtp.pool_size == 0 || smtp.timeout_seconds == 0 || smtp.retry_initial_seconds == 0 {
            c.add(
                "smtp.pool_size",
                "pool_size, timeout_seconds and retry_initial_seconds must be at least 1",
                "use the defaults (4, 30, 10)",
            );
        }

        // [acknowledgement]
        if self.acknowledgement.quote_lines > 50 {
            c.add(
                "acknowledgement.quote_lines",
                "quoting more than 50 lines turns an acknowledgement into a copy (RFC 3834 asks for a brief excerpt)",
                "use 6",
            );
        }

        // [[agents]]
        let mut agents: Vec<Agent> = Vec::new();
        if self.agents.is_empty() {
            c.add(
                "agents",
                "no [[agents]] are configured; every ticket needs a named agent",
                "add [[agents]] with name = \"Jason Miller\" and email = \"jason@example.com\"",
            );
        }
        for (i, a) in self.agents.iter().enumerate() {
            let key = format!("agents[{i}]");
            let name = crate::mail::sanitize::header_text(&a.name, 80);
            if name.is_empty() {
                c.add(
                    &format!("{key}.name"),
                    "is empty",
                    "give the agent's full name",
                );
            }
            match EmailAddress::parse(&a.email) {
                None => c.add(
                    &format!("{key}.email"),
                    format!("{:?} is not an e-mail address", a.email),
                    "e.g. email = \"jason@example.com\"",
                ),
                Some(e) => {
                    let email = AgentEmail::new(e);
                    if agents.iter().any(|x| x.email == email) {
                        c.add(
                            &format!("{key}.email"),
                            format!("{email} is configured twice"),
                            "keep one [[agents]] entry per address",
                        );
                    } else if Some(email.address()) == address.as_ref() {
                        c.add(
                            &format!("{key}.email"),
                            "an agent cannot use the support address itself",
                            "use the agent's personal address",
                        );
                    } else {
                        let tz = a.timezone.as_deref().unwrap_or(&self.routing.timezone);
                        let hours = match &a.working_hours {
                            None => crate::hours::WorkingHours::parse("", tz),
                            Some(spec) => crate::hours::WorkingHours::parse(spec, tz),
                        };
                        let hours = match hours {
                            Ok(h) => h,
                            Err(e) => {
                                c.add(
                                    &format!("{key}.working_hours"),
                                    e,
                                    "e.g. working_hours = \"Mon-Fri 09:00-17:00\" with timezone = \"Europe/Berlin\"",
                                );
                                crate::hours::WorkingHours::always()
                            }
                        };
                        agents.push(Agent {
                            name,
                            email,
                            teams: a.teams.clone(),
                            hours,
                            away: a.away,
                            max_open: a.max_open,
                        });
                    }
                }
            }
        }

        // [[teams]]
        let resolve_target = |c: &mut Collector, key: &str, target: &str| -> Option<RouteTarget> {
            if let Some(agent) = EmailAddress::parse(target)
                .map(AgentEmail::new)
                .filter(|e| agents.iter().any(|a| &a.email == e))
            {
                return Some(RouteTarget::Agent(agent));
            }
            if agents.iter().any(|a| a.teams.iter().any(|t| t == target)) {
                return Some(RouteTarget::Team(target.to_string()));
            }
            c.add(
                key,
                format!("{target:?} is neither a configured agent's email nor a team with members"),
                "name a team that some [[agents]] list in teams, or an agent's email",
            );
            None
        };
        let mut teams = Vec::new();
        for (i, t) in self.teams.iter().enumerate() {
            let key = format!("teams[{i}]");
            if !agents.iter().any(|a| a.teams.contains(&t.name)) {
                c.add(
                    &format!("{key}.name"),
                    format!("no agent is in team {:?}", t.name),
                    format!(
                        "add teams = [\"{}\"] to at least one [[agents]] entry",
                        t.name
                    ),
                );
            }
            let fallback = t
                .fallback
                .as_deref()
                .and_then(|f| resolve_target(&mut c, &format!("{key}.fallback"), f));
            let lead = t.lead.as_deref().and_then(|l| {
                let parsed = EmailAddress::parse(l);
                if parsed.is_none() {
                    c.add(
                        &format!("{key}.lead"),
                        format!("{l:?} is not an e-mail address"),
                        "e.g. lead = \"lead@example.com\"",
                    );
                }
                parsed
            });
            teams.push(Team {
                name: t.name.clone(),
                strategy: t.strategy,
                fallback,
                first_response: t.first_response_minutes.map(|m| secs(m.saturating_mul(60))),
                lead,
            });
        }

        // [sla]
        let sla_lead = self.sla.lead.as_deref().and_then(|l| {
            let parsed = EmailAddress::parse(l);
            if parsed.is_none() {
                c.add(
                    "sla.lead",
                    format!("{l:?} is not an e-mail address"),
                    "e.g. lead = \"lead@example.com\"",
                );
            }
            parsed
        });
        if self.sla.first_response_minutes.is_some() && self.sla.lead.is_none() {
            c.add(
                "sla.lead",
                "first_response_minutes is set but nobody would be told when it is missed",
                "set [sla] lead = \"lead@example.com\" (or lead in each [[teams]] entry)",
            );
        }
        for (i, t) in self.teams.iter().enumerate() {
            if t.first_response_minutes.is_some() && t.lead.is_none() && self.sla.lead.is_none() {
                c.add(
                    &format!("teams[{i}].lead"),
                    "the team has a first-response target but no lead to tell",
                    "set lead in the team or [sla] lead",
                );
            }
        }

        // [metrics]
        let metrics_listen = self.metrics.listen.as_deref().and_then(|l| {
            match l.parse::<std::net::SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => Some(a),
                Ok(a) => {
                    c.add(
                        "metrics.listen",
                        format!("{a} is not a loopback address; metrics and health stay on this host"),
                        "use listen = \"127.0.0.1:9187\" and let a local agent or an SSH tunnel scrape it",
                    );
                    None
                }
                Err(_) => {
                    c.add(
                        "metrics.listen",
                        format!("{l:?} is not an address with a port"),
                        "e.g. listen = \"127.0.0.1:9187\"",
                    );
                    None
                }
            }
        });

        // [[routes]]
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            let to = match &r.to {
                None => None,
                Some(t) => {
                    let parsed = EmailAddress::parse(t);
                    if parsed.is_none() {
                        c.add(
                            &format!("{key}.to"),
                            format!("{t:?} is not an e-mail address"),
                            "e.g. to = \"billing@example.com\"",
                        );
                    }
                    parsed
                }
            };
            let target = match (&r.team, &r.agent) {
                (Some(team), None) => {
                    if !agents.iter().any(|a| a.teams.contains(team)) {
                        c.add(
                            &format!("{key}.team"),
                            format!("no agent is in team {team:?}"),
                            format!("add teams = [\"{team}\"] to at least one [[agents]] entry"),
                        );
                    }
                    Some(RouteTarget::Team(team.clone()))
                }
                (None, Some(agent)) => {
                    let found = EmailAddress::parse(agent)
                        .map(AgentEmail::new)
                        .filter(|e| agents.iter().any(|a| &a.email == e));
                    if found.is_none() {
                        c.add(
                            &format!("{key}.agent"),
                            format!("{agent:?} is not a configured agent's email"),
                            "use the email of one of the [[agents]]",
                        );
                    }
                    found.map(RouteTarget::Agent)
                }
                _ => {
                    c.add(
                        &key,
                        "a route needs exactly one of team or agent",
                        "e.g. to = \"billing@example.com\" with team = \"billing\"",
                    );
                    None
                }
            };
            let pattern =
                |c: &mut Collector, field: &str, text: &Option<String>| -> Option<regex::Regex> {
                    let text = text.as_deref()?;
                    match regex::RegexBuilder::new(text)
                        .case_insensitive(true)
                        .size_limit(1 << 20)
                        .build()
                    {
                        Ok(re) => Some(re),
                        Err(e) => {
                            c.add(
                                &format!("{key}.{field}"),
                                format!("{text:?} is not a valid pattern: {e}"),
                                format!("a regular expression, e.g. {field} = \"refund|invoice\""),
                            );
                            None
                        }
                    }
                };
            let subject = pattern(&mut c, "subject", &r.subject);
            let body = pattern(&mut c, "body", &r.body);
            let from_domain = r
                .from_domain
                .as_deref()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase());
            if let Some(target) = target {
                routes.push(Route {
                    to: to.clone(),
                    from_domain,
                    subject,
                    body,
                    target,
                });
            }
        }

        let state_dir = self.service.state_dir.clone();
        let (Some(address), Some(main_imap), true) = (address, main_imap, c.0.is_empty()) else {
            return Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems: c.0,
            });
        };

        let smtp_port = smtp.port.unwrap_or(match smtp.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        Ok(Config {
            source: file.to_path_buf(),
            service: Service {
                name,
                address: address.clone(),
                state_dir: state_dir.clone(),
                token_secret,
                templates_dir: self.service.templates_dir,
                reply_tokens: self.service.reply_tokens,
                trusted_authserv_id: self.service.trusted_authserv_id.clone(),
            },
            imap: main_imap,
            smtp: Smtp {
                host: smtp.host.clone(),
                port: smtp_port,
                tls: smtp.tls,
                ca_file: smtp.ca_file.clone(),
                credentials: smtp_credentials,
                pool_size: smtp.pool_size,
                timeout: secs(smtp.timeout_seconds),
                retry: RetryPolicy {
                    initial: secs(smtp.retry_initial_seconds),
                    max: secs(smtp.retry_max_seconds.max(smtp.retry_initial_seconds)),
                    give_up_after: secs(smtp.give_up_hours * 3600),
                },
            },
            ack: AckPolicy {
                enabled: self.acknowledgement.enabled,
                per_sender_per_day: self.acknowledgement.per_sender_per_day,
                quote_lines: self.acknowledgement.quote_lines,
                require_aligned_sender: self.acknowledgement.require_aligned_sender,
                max_per_hour: self.acknowledgement.max_per_hour,
            },
            limits: Limits {
                max_message_bytes: self.limits.max_message_bytes,
                flood_tickets: self.limits.flood_tickets.max(1),
                flood_window: secs(self.limits.flood_window_minutes.saturating_mul(60)),
                flood_notifications: self.limits.flood_notifications.max(1),
            },
            routing: Routing {
                sticky: secs(self.routing.sticky_days.saturating_mul(86_400)),
                reopen_window: secs(self.tickets.reopen_days.saturating_mul(86_400)),
            },
            agents,
            teams,
            routes,
            sla: Sla {
                first_response: self
                    .sla
                    .first_response_minutes
                    .map(|m| secs(m.saturating_mul(60))),
                lead: sla_lead,
                check_interval: secs(self.sla.check_interval_seconds.unwrap_or(60).max(1)),
                reassign: self.sla.reassign,
            },
            metrics_listen,
            inboxes,
            alerts,
            backup: Backup {
                dir: self.backup.dir.unwrap_or_else(|| state_dir.join("backups")),
                interval: (self.backup.interval_hours > 0)
                    .then(|| secs(self.backup.interval_hours.saturating_mul(3600))),
                keep: self.backup.keep.max(1),
            },
            retention: Retention {
                body: (self.retention.body_days > 0)
                    .then(|| secs(self.retention.body_days.saturating_mul(86_400))),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"
[service]
name = "Acme Support"
address = "support@example.test"
state_dir = "/tmp/frontdesk-test-state"

[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "support@example.test"
password = "from-file"
mailbox = "INBOX"

[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
username = "support@example.test"
password = "smtp-secret"

[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["billing"]

[[routes]]
to = "billing@example.test"
team = "billing"
"#;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let key = dir.path().join("token.key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").expect("write key");
        let text = text.replace(
            "state_dir = ",
            &format!(
                "token_secret_file = {:?}\nstate_dir = ",
                key.display().to_string()
            ),
        );
        let p = dir.path().join("frontdesk.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn password(auth: &Auth) -> &str {
        match auth {
            Auth::Password(p) => p.expose(),
            Auth::OAuth2(s) => panic!("expected a password, got {s:?}"),
        }
    }

    #[test]
    fn spec_example_keys_are_enough() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
        assert_eq!(cfg.service.name, "Acme Support");
        assert_eq!(cfg.imap.idle_renew, Duration::from_secs(1200));
        assert_eq!(cfg.imap.backfill, Duration::ZERO);
        assert_eq!(cfg.ack.per_sender_per_day, 3);
        assert_eq!(cfg.routes.len(), 1);
        assert_eq!(cfg.agents[0].name, "Jason Miller");
    }

    #[test]
    fn environment_overrides_the_file_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = vec![
            (
                "FRONTDESK__IMAP__PASSWORD".to_string(),
                "from-env".to_string(),
            ),
            ("FRONTDESK__IMAP__PORT".to_string(), "2143".to_string()),
        ];
        let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), env).expect("valid");
        assert_eq!(password(&cfg.imap.auth), "from-env");
        assert_eq!(cfg.imap.port, 2143);
    }

    #[test]
    fn password_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("imap.pw");
        std::fs::write(&pw, "s3cret\n").expect("write");
        let text = SPEC_EXAMPLE.replace(
            "password = \"from-file\"",
            &format!("password_file = {:?}", pw.display().to_string()),
        );
        let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
        assert_eq!(password(&cfg.imap.auth), "s3cret");
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "secrets must not appear in Debug"
        );
    }

    #[test]
    fn plaintext_to_a_remote_host_is_refused_with_key_and_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replacen("host = \"127.0.0.1\"", "host = \"imap.example.com\"", 1);
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("imap.tls"), "{msg}");
        assert!(msg.contains("fix:"), "{msg}");
        assert!(msg.contains("frontdesk.toml"), "{msg}");
    }

    #[test]
    fn further_inboxes_are_checked_like_the_main_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let two = format!(
            "{SPEC_EXAMPLE}\n[[inboxes]]\nname = \"billing\"\naddress = \"billing@example.test\"\n\
             [inboxes.imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\npassword = \"b\"\n\
             [alerts]\nto = \"ops@example.test\"\n"
        );
        let cfg = Config::load_with_env(&write(&dir, &two), no_env()).expect("valid");
        let all = cfg.all_inboxes();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name, "billing");
        assert_eq!(
            all[1].imap.username, "billing@example.test",
            "login defaults to the address"
        );
        assert_eq!(cfg.alerts.as_ref().map(|a| a.after_failures), Some(5));
        // Mail from either inbox is ours: the two can never answer each other.
        let own = cfg.own_addresses();
        assert!(
            own.iter().any(|a| a.as_str() == "billing@example.test"),
            "{own:?}"
        );
        // The billing view answers from billing@ and still knows support@ is ours.
        let view = cfg.for_inbox(&all[1]);
        assert_eq!(view.service.address.as_str(), "billing@example.test");
        assert!(
            view.own_addresses()
                .iter()
                .any(|a| a.as_str() == "support@example.test")
        );

        let broken = two
            .replace("password = \"b\"\n", "")
            .replace("billing@example.test", "support@example.test");
        let msg = Config::load_with_env(&write(&dir, &broken), no_env())
            .expect_err("refused")
            .to_string();
        assert!(msg.contains("inboxes[0].imap.password"), "{msg}");
        assert!(msg.contains("configured twice"), "{msg}");
    }

    #[test]
    fn metrics_listen_must_stay_on_loopback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
        assert_eq!(cfg.metrics_listen, None, "off by default");
        let on = format!("{SPEC_EXAMPLE}\n[metrics]\nlisten = \"127.0.0.1:9187\"\n");
        let cfg = Config::load_with_env(&write(&dir, &on), no_env()).expect("valid");
        assert_eq!(
            cfg.metrics_listen,
            Some("127.0.0.1:9187".parse().expect("addr"))
        );
        let open = on.replace("127.0.0.1:9187", "0.0.0.0:9187");
        let msg = Config::load_with_env(&write(&dir, &open), no_env())
            .expect_err("refused")
            .to_string();
        assert!(
            msg.contains("metrics.listen") && msg.contains("fix:"),
            "{msg}"
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE
            .replace(
                "address = \"support@example.test\"",
                "address = \"not an address\"",
            )
            .replace("email = \"jason@example.test\"", "email = \"jason\"");
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected validation problems, got {err}");
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"service.address"), "{keys:?}");
        assert!(keys.contains(&"agents[0].email"), "{keys:?}");
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replace("mailbox = \"INBOX\"", "mailbxo = \"INBOX\"");
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        assert!(err.to_string().contains("mailbxo"), "{err}");
    }

    #[test]
    fn missing_imap_credential_names_the_environment_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replace("password = \"from-file\"\n", "");
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        assert!(
            err.to_string().contains("FRONTDESK__IMAP__PASSWORD"),
            "{err}"
        );
    }

    const IMAP_TOKEN_COMMAND: &str =
        "oauth2_token_command = \"oauth2-helper --client-secret not-for-logs support\"";

    #[test]
    fn an_oauth2_token_command_replaces_the_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replacen("password = \"from-file\"", IMAP_TOKEN_COMMAND, 1);
        let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
        let Auth::OAuth2(command) = &cfg.imap.auth else {
            panic!("expected XOAUTH2, got {:?}", cfg.imap.auth);
        };
        assert_eq!(command.key(), "imap.oauth2_token_command");
        assert_eq!(cfg.imap.auth.mechanism(), "XOAUTH2");
        assert!(
            !format!("{cfg:?}").contains("not-for-logs"),
            "the command line stays out of Debug"
        );
        // The SMTP side still uses its password.
        let Some((_, Auth::Password(_))) = &cfg.smtp.credentials else {
            panic!("smtp: {:?}", cfg.smtp.credentials);
        };
        // Without secrets (the ops commands) the command is kept and never run.
        let path = write(&dir, &text);
        let cfg = Config::load_without_secrets(&path).expect("valid");
        assert_eq!(cfg.imap.auth.mechanism(), "XOAUTH2");
    }

    #[test]
    fn token_command_lifetime_timeout_and_environment_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replacen(
            "password = \"smtp-secret\"",
            "oauth2_token_command = \"cat /run/token\"\noauth2_token_lifetime_minutes = 0\noauth2_token_timeout_seconds = 5",
            1,
        );
        let env = vec![(
            "FRONTDESK__SMTP__OAUTH2_TOKEN_COMMAND".to_string(),
            "from-env-helper".to_string(),
        )];
        let cfg = Config::load_with_env(&write(&dir, &text), env).expect("valid");
        let Some((user, Auth::OAuth2(command))) = &cfg.smtp.credentials else {
            panic!("smtp: {:?}", cfg.smtp.credentials);
        };
        assert_eq!(user, "support@example.test");
        let shown = format!("{command:?}");
        assert!(shown.contains("smtp.oauth2_token_command"), "{shown}");
        assert!(
            shown.contains("lifetime: 0ns") && shown.contains("timeout: 5s"),
            "{shown}"
        );
        // The environment variable reached the command (the oauth2 tests run commands).
        assert_eq!(command.command, "from-env-helper");
    }

    #[test]
    fn a_token_command_with_a_password_is_refused_with_key_and_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replacen(
            "password = \"from-file\"",
            &format!("password = \"from-file\"\n{IMAP_TOKEN_COMMAND}"),
            1,
        );
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("imap.oauth2_token_command: both"), "{msg}");
        assert!(
            msg.contains("fix: keep only imap.oauth2_token_command"),
            "{msg}"
        );

        let text = SPEC_EXAMPLE.replacen(
            "password = \"smtp-secret\"",
            "password_file = \"/run/smtp\"\noauth2_token_command = \" \"",
            1,
        );
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        let msg = err.to_string();
        assert!(
            msg.contains("smtp.oauth2_token_command: both oauth2_token_command and password_file"),
            "{msg}"
        );

        let text = SPEC_EXAMPLE.replacen(
            "password = \"from-file\"",
            "oauth2_token_command = \"  \"",
            1,
        );
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("imap.oauth2_token_command: is empty"),
            "{err}"
        );
    }

    #[test]
    fn missing_credential_mentions_the_token_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = SPEC_EXAMPLE.replace("password = \"from-file\"\n", "");
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("imap.oauth2_token_command (XOAUTH2)"),
            "{err}"
        );
        let text = SPEC_EXAMPLE.replace("password = \"smtp-secret\"\n", "");
        let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("smtp.oauth2_token_command (XOAUTH2)"),
            "{err}"
        );
    }

    #[test]
    fn token_key_is_required() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("frontdesk.toml");
        std::fs::write(&p, SPEC_EXAMPLE).expect("write");
        let err = Config::load_with_env(&p, no_env()).expect_err("refused");
        assert!(
            err.to_string().contains("service.token_secret_file"),
            "{err}"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.8.9.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("localhost.example.com"));
    }
}
