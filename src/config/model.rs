//! Stage two: the validated configuration the daemon runs on, its parts, the lookups the
//! pipeline needs (agents, teams, our own addresses, the token key) and the per-inbox views.
//! Built only by `validate`; nothing here reads files.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::AgentLookupError;
use super::secrets::Secret;
use crate::domain::{AgentEmail, EmailAddress, Ticket};

/// The validated configuration the daemon and the CLI run on.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub source: PathBuf,
    /// Who we are.
    pub service: Service,
    /// The main inbox's address (`[service] address`), the same in every per-inbox view: a
    /// ticket that recorded no inbox came in there.
    pub main_address: EmailAddress,
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
    /// The closing mail, the reminder and closing tickets that wait on the customer.
    pub closing: Closing,
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
    /// Days off (`[[closures]]`), already part of the agents' working hours; kept here for
    /// what the acknowledgement says during a closure for everyone.
    pub closures: Vec<Closure>,
}

/// Who a closure applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosureScope {
    /// The whole desk: the acknowledgement says so while it lasts.
    Everyone,
    /// The members of one team.
    Team(String),
    /// One agent (leave).
    Agent(AgentEmail),
}

/// Days the desk, a team or an agent does not work: holidays, closures, leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// What the customer may be told it is ("Christmas"); from `name`, or an event's SUMMARY.
    pub name: Option<String>,
    /// The days, as dates in each agent's own time zone.
    pub days: crate::hours::ClosedDays,
    /// Whom it applies to.
    pub scope: ClosureScope,
}

impl Closure {
    /// Whether this closure takes `agent` off work.
    pub fn applies_to(&self, agent: &Agent) -> bool {
        match &self.scope {
            ClosureScope::Everyone => true,
            ClosureScope::Team(team) => agent.teams.contains(team),
            ClosureScope::Agent(email) => &agent.email == email,
        }
    }
}

impl Config {
    /// The closure of the whole desk that `date` falls in: its name and the first day the
    /// desk is open again (after any closures for everyone that join on to it).
    pub fn desk_closure(
        &self,
        date: jiff::civil::Date,
    ) -> Option<(Option<&str>, jiff::civil::Date)> {
        let everyone: Vec<crate::hours::ClosedDays> = self
            .closures
            .iter()
            .filter(|c| c.scope == ClosureScope::Everyone)
            .map(|c| c.days)
            .collect();
        let now = self
            .closures
            .iter()
            .find(|c| c.scope == ClosureScope::Everyone && c.days.contains(date))?;
        Some((
            now.name.as_deref(),
            crate::hours::open_again(&everyone, date),
        ))
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
            smtp: self.smtp.clone(),
        };
        std::iter::once(main)
            .chain(self.inboxes.iter().cloned())
            .collect()
    }

    /// This configuration as seen from `inbox`: its address is the one we answer from. Every
    /// per-inbox view is built here (the live snapshot's, and [`Config::for_ticket`]'s).
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
        c.smtp = inbox.smtp.clone();
        c
    }

    /// The SMTP account that sends mail from the inbox at `address`: that inbox's own
    /// (`[inboxes.smtp]`, or `[smtp]` for an inbox without one), and `[smtp]` for `None`
    /// or an address that is no inbox (any more): outbox entries queued by older builds,
    /// or for an inbox removed from the configuration since.
    pub fn smtp_for(&self, address: Option<&EmailAddress>) -> &Smtp {
        address
            .filter(|a| *a != &self.service.address)
            .and_then(|a| self.inboxes.iter().find(|i| &i.address == a))
            .map_or(&self.smtp, |i| &i.smtp)
    }

    /// Every distinct SMTP account, each with the names of the inboxes that send through
    /// it, the main inbox's (`[smtp]`) first.
    pub fn smtp_accounts(&self) -> Vec<(Vec<String>, Smtp)> {
        let mut accounts: Vec<(Vec<String>, Smtp)> = Vec::new();
        for inbox in self.all_inboxes() {
            match accounts.iter_mut().find(|(_, s)| *s == inbox.smtp) {
                Some((names, _)) => names.push(inbox.name),
                None => accounts.push((vec![inbox.name], inbox.smtp)),
            }
        }
        accounts
    }

    /// This configuration as the inbox `ticket` came in at sees it (the main inbox for a
    /// ticket that recorded none): borrowed when that is this view's own inbox (the common
    /// case) or no inbox any more, else [`Config::for_inbox`]. Mail about the ticket is
    /// composed under it, so it goes out from that inbox's address and SMTP account.
    pub fn for_ticket(&self, ticket: &Ticket) -> Cow<'_, Config> {
        let came_in_at = ticket.inbox.as_ref().unwrap_or(&self.main_address);
        match self.other_inbox(came_in_at) {
            Some(inbox) => Cow::Owned(self.for_inbox(inbox)),
            None => Cow::Borrowed(self),
        }
    }

    /// The further inbox at `address`; `None` for this view's own address or a stranger's.
    fn other_inbox(&self, address: &EmailAddress) -> Option<&Inbox> {
        if address == &self.service.address {
            return None;
        }
        self.inboxes.iter().find(|i| &i.address == address)
    }

    /// Whether customers of this view's inbox get the closing mail (`[tickets] closing_mail`,
    /// or the inbox's own `closing_mail`).
    pub fn sends_closing_mail(&self) -> bool {
        self.closing.mail_at.contains(&self.service.address)
    }

    /// The agent with this address, if configured.
    pub fn agent(&self, email: &AgentEmail) -> Option<&Agent> {
        self.agents.iter().find(|a| &a.email == email)
    }

    /// The configured agent `who` names: an address, a full name or a unique first name.
    pub fn find_agent(&self, who: &str) -> Result<&Agent, AgentLookupError> {
        let who = who.trim();
        // "Maria Lopez <maria@example.com>": the address decides.
        let who = match (who.rfind('<'), who.rfind('>')) {
            (Some(l), Some(r)) if l < r => &who[l + 1..r],
            _ => who,
        };
        if who.is_empty() {
            return Err(AgentLookupError::Unnamed);
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
            [] => Err(AgentLookupError::Unknown(who.to_string())),
            _ => Err(AgentLookupError::Ambiguous(who.to_string())),
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

/// Where an agent's reply token travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyTokens {
    /// In the Reply-To address: `support+1042.k7q2m9d4xa@…` (needs plus addressing).
    #[default]
    Plus,
    /// In the subject: `{ref:1042.k7q2m9d4xa}`, with the plain support address as Reply-To.
    Subject,
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
    /// The SMTP account its mail goes out through: its own `[inboxes.smtp]` (the keys it
    /// leaves out taken from `[smtp]`), or `[smtp]` itself.
    pub smtp: Smtp,
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
    /// A private CA bundle that replaces the system's trust store.
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
    /// How often IDLE is also ended to look for mail the server did not announce, for
    /// servers whose IDLE does not push (`None`: only at `idle_renew`).
    pub idle_check: Option<Duration>,
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

impl Imap {
    /// The store key of this mailbox's cursor: account and mailbox, not how we reach it
    /// (moving from port 143 to 993 must not look like a first start, which skips mail).
    pub fn store_key(&self) -> String {
        format!("{}/{}", self.username, self.mailbox)
    }
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
    /// A private CA bundle that replaces the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Login name and how to log in, if the server wants a login.
    pub credentials: Option<(String, Auth)>,
    /// The section the login is configured in (`smtp`, or `inboxes[N].smtp` for an inbox's
    /// own), for messages about a refused login.
    pub login_section: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Implicit,
    /// A plaintext greeting upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// No encryption at all: allowed only towards a loopback address.
    None,
}

/// The `[alerts]` section: mail to ops when an inbox stays unreachable.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// Who is told.
    pub to: EmailAddress,
    /// Consecutive failed attempts before the alert (one per outage, and one when it ends).
    pub after_failures: u32,
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
    /// The "usually answers within" figure needs at least this many first responses of the
    /// agent (else of their teams) in `typical_window` (0: never say it).
    pub typical_min_sample: usize,
    /// How far back the first responses it is taken from go.
    pub typical_window: Duration,
    /// A returning customer is remembered when their previous ticket changed this recently
    /// (zero: never).
    pub remember: Duration,
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
    /// When a ticket changes hands (`#assign`, `tickets assign`, the SLA loop), the customer
    /// gets a short mail from the new agent (`[tickets] handover_mail`).
    pub handover_mail: bool,
}

/// `[tickets]`' closing keys: the closing mail per inbox, the reminder, the auto-close.
#[derive(Debug, Clone, Default)]
pub struct Closing {
    /// The inbox addresses whose customers get the closing mail (every inbox's own setting
    /// resolved, so each per-inbox view reads the same list).
    pub mail_at: Vec<EmailAddress>,
    /// A ticket waiting this long on the customer since the agent's answer gets one
    /// reminder; `None`: no reminders.
    pub remind_after: Option<Duration>,
    /// This long after the reminder (or the answer, without reminders), the ticket closes;
    /// `None`: never on its own.
    pub autoclose_after: Option<Duration>,
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

/// How a team shares its tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Take turns.
    #[default]
    RoundRobin,
    /// The available member with the fewest open tickets.
    LeastOpen,
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

/// The `[retention]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Message bodies (raw mail) older than this are deleted, their records and tickets kept;
    /// `None`: kept for ever.
    pub body: Option<Duration>,
}
