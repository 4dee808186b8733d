//! The crate's test kit: one in-memory store ([`MemStore`]), one configuration builder
//! ([`config`]), one ticket builder ([`ticket`]), and the words the hostile-input tables use
//! for an outcome ([`describe`]).
//!
//! Unit tests reach it as `crate::testing`. `tests/`, `examples/` and the fuzz crate enable
//! the `testing` feature: the crate's dev-dependency on itself does that for the first two,
//! `fuzz/Cargo.toml` names the feature. `cargo build` of the library and the daemon leaves
//! the module out (the release binary has none of it); a build that includes tests or
//! examples compiles it into the library, where the daemon never calls it. It needs
//! nothing beyond the crate's own dependencies (no `tempfile`, which is a dev-dependency):
//! outside `cfg(test)` those are all it can use.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{Config, ConfigError};
use crate::decide::State;
use crate::domain::{
    AgentEmail, AgentLoad, CustomerRecord, Direction, EmailAddress, FirstResponse, Outcome, Plan,
    Ticket, TicketId, TicketMessage, TicketState, UnixTime,
};
use crate::mail::thread::{Members, ThreadLookup};

// ---- addresses ------------------------------------------------------------------------

/// The support address of every test configuration.
pub const SUPPORT: &str = "support@example.test";

/// An address a test writes as text; panics if it is not one (the test is wrong).
pub fn addr(address: &str) -> EmailAddress {
    EmailAddress::parse(address).unwrap_or_else(|| panic!("{address:?} is not an address"))
}

/// An agent's address a test writes as text; panics if it is not one.
pub fn agent(address: &str) -> AgentEmail {
    AgentEmail::new(addr(address))
}

// ---- configuration --------------------------------------------------------------------

/// The token key every test configuration reads (`service.token_secret_file`), so that a
/// test can mint and verify reply tokens and Message-ID codes itself.
pub const TEST_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A validated configuration: service "Acme Support" at [`SUPPORT`], IMAP and SMTP on
/// loopback without TLS, the [`TEST_KEY`], and `extra` (agents, teams, routes, whole
/// sections) appended. Panics if the result is not valid: the test's fixture is wrong.
pub fn config(extra: &str) -> Config {
    try_config(extra).expect("valid test configuration")
}

/// What the loader says about [`config`]'s base with `extra` appended: for tests of the
/// validation itself. The only place the kit loads a configuration, through the same
/// loader as `frontdesk run` (with an empty environment). The files live in a directory of
/// their own under the system's temporary directory only while it loads.
pub fn try_config(extra: &str) -> Result<Config, ConfigError> {
    let dir = ScratchDir::new();
    let key = dir.write("token.key", TEST_KEY);
    let toml = format!(
        r#"
[service]
name = "Acme Support"
address = "{SUPPORT}"
token_secret_file = {key:?}
[imap]
host = "127.0.0.1"
tls = "none"
password = "x"
[smtp]
host = "127.0.0.1"
tls = "none"
{extra}
"#,
        key = key.display().to_string(),
    );
    let path = dir.write("frontdesk.toml", toml.as_bytes());
    Config::load_with_env(&path, Vec::new())
}

/// A directory of its own under `std::env::temp_dir()`, removed when dropped (also when a
/// test panics). Unique per process and call, so parallel tests never share one.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("frontdesk-testing-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        ScratchDir(path)
    }

    /// Writes `name` in the directory; returns its path.
    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- tickets --------------------------------------------------------------------------

/// A ticket for a test: number `id`, customer `customer`, otherwise as
/// [`TicketBuilder::new`] starts it.
pub fn ticket(id: u64, customer: &str) -> TicketBuilder {
    TicketBuilder::new(TicketId::new(id), addr(customer))
}

/// Builds a [`Ticket`] from the few fields a test cares about, so that a new field of
/// `Ticket` is added here once rather than to every test's literal.
#[derive(Debug, Clone)]
#[must_use]
pub struct TicketBuilder {
    ticket: Ticket,
}

impl TicketBuilder {
    /// An open ticket of `customer`'s, subject "Help", owned by jason@example.test (the
    /// first agent of most test configurations), created and updated at 0, with no
    /// messages and nothing else set.
    pub fn new(id: TicketId, customer: EmailAddress) -> TicketBuilder {
        TicketBuilder {
            ticket: Ticket {
                id,
                customer,
                customer_name: None,
                subject: "Help".into(),
                state: TicketState::Open,
                agent: agent("jason@example.test"),
                created_at: 0,
                updated_at: 0,
                messages: Vec::new(),
                first_response_at: None,
                first_response_working: None,
                notify_root: None,
                closed_at: None,
                linked_from: None,
                escalated_at: None,
                pool: None,
                inbox: None,
                forgotten_at: None,
                participants: Vec::new(),
                reminded_at: None,
                rating: None,
                language: None,
            },
        }
    }

    /// The language its mail to the customer is written in.
    pub fn language(mut self, lang: impl Into<String>) -> Self {
        self.ticket.language = Some(lang.into());
        self
    }

    /// The people copied on the conversation besides the customer.
    pub fn participants(mut self, participants: &[&str]) -> Self {
        self.ticket.participants = participants.iter().map(|p| addr(p)).collect();
        self
    }

    /// The customer's display name.
    pub fn customer_name(mut self, name: impl Into<String>) -> Self {
        self.ticket.customer_name = Some(name.into());
        self
    }

    /// The subject of the first mail.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.ticket.subject = subject.into();
        self
    }

    /// Open or closed (`closed_at` is set on its own, with [`TicketBuilder::closed_at`]).
    pub fn state(mut self, state: TicketState) -> Self {
        self.ticket.state = state;
        self
    }

    /// The agent who owns it.
    pub fn agent(mut self, agent: AgentEmail) -> Self {
        self.ticket.agent = agent;
        self
    }

    /// Creation time, and the last change too.
    pub fn created_at(mut self, at: UnixTime) -> Self {
        self.ticket.created_at = at;
        self.ticket.updated_at = at;
        self
    }

    /// The last change alone.
    pub fn updated_at(mut self, at: UnixTime) -> Self {
        self.ticket.updated_at = at;
        self
    }

    /// Its messages, in order (replacing any set before).
    pub fn messages(mut self, messages: Vec<TicketMessage>) -> Self {
        self.ticket.messages = messages;
        self
    }

    /// Appends the customer's mail as processing records it: inbound, from the customer,
    /// under the subject set so far, Message-ID `message_id`, raw bytes stored as `seq`.
    pub fn inbound(mut self, at: UnixTime, message_id: &str, seq: u64) -> Self {
        self.ticket.messages.push(TicketMessage {
            at,
            direction: Direction::Inbound,
            message_id: Some(message_id.into()),
            from: Some(self.ticket.customer.clone()),
            subject: self.ticket.subject.clone(),
            inbound_seq: Some(seq),
            outbox_id: None,
            suppressed: None,
            note: None,
        });
        self
    }

    /// When an agent's answer first went out.
    pub fn first_response_at(mut self, at: UnixTime) -> Self {
        self.ticket.first_response_at = Some(at);
        self
    }

    /// The Message-ID of the agent's first notification (later ones thread under it).
    pub fn notify_root(mut self, message_id: impl Into<String>) -> Self {
        self.ticket.notify_root = Some(message_id.into());
        self
    }

    /// When it was closed.
    pub fn closed_at(mut self, at: UnixTime) -> Self {
        self.ticket.closed_at = Some(at);
        self
    }

    /// The closed ticket it follows up on.
    pub fn linked_from(mut self, ticket: TicketId) -> Self {
        self.ticket.linked_from = Some(ticket);
        self
    }

    /// When its missed first-response target was escalated.
    pub fn escalated_at(mut self, at: UnixTime) -> Self {
        self.ticket.escalated_at = Some(at);
        self
    }

    /// The routing pool it was assigned from (`all`, `team:billing` …).
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.ticket.pool = Some(pool.into());
        self
    }

    /// The inbox address it came in at (unset: the main support address).
    pub fn inbox(mut self, inbox: EmailAddress) -> Self {
        self.ticket.inbox = Some(inbox);
        self
    }

    /// When the customer's data was erased.
    pub fn forgotten_at(mut self, at: UnixTime) -> Self {
        self.ticket.forgotten_at = Some(at);
        self
    }

    /// The ticket.
    pub fn build(self) -> Ticket {
        self.ticket
    }
}

// ---- the store ------------------------------------------------------------------------

/// The store as maps: the read-only view [`decide`](crate::decide::decide) works on
/// ([`State`], [`ThreadLookup`]), so that a decision runs without sled. It cannot fail. Its
/// records have the store's shapes and keys (customers without `+detail`, acknowledgements
/// by clock hour); it starts empty, with 1042 as the next ticket number.
#[derive(Debug, Clone)]
pub struct MemStore {
    tickets: BTreeMap<TicketId, Ticket>,
    message_ids: HashMap<String, TicketId>,
    customers: HashMap<EmailAddress, CustomerRecord>,
    acks_by_hour: HashMap<i64, usize>,
    raw: HashMap<u64, Vec<u8>>,
    next_ticket: TicketId,
    pool_counters: HashMap<String, u64>,
    agent_loads: HashMap<AgentEmail, AgentLoad>,
    first_responses: HashMap<AgentEmail, Vec<FirstResponse>>,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore {
            tickets: BTreeMap::new(),
            message_ids: HashMap::new(),
            customers: HashMap::new(),
            acks_by_hour: HashMap::new(),
            raw: HashMap::new(),
            next_ticket: TicketId::new(1042),
            pool_counters: HashMap::new(),
            agent_loads: HashMap::new(),
            first_responses: HashMap::new(),
        }
    }
}

impl MemStore {
    /// Holds `agent`'s recent first responses, oldest first.
    pub fn with_first_responses(mut self, agent: &AgentEmail, samples: Vec<FirstResponse>) -> Self {
        self.first_responses.insert(agent.clone(), samples);
        self
    }

    /// Holds `ticket` (replacing one with its number) and lists it among its customer's
    /// tickets, as recording a new ticket does. Its Message-IDs are not indexed: see
    /// [`MemStore::with_message_id`].
    pub fn with_ticket(mut self, ticket: Ticket) -> Self {
        let record = self
            .customers
            .entry(ticket.customer.without_detail())
            .or_default();
        if !record.tickets.contains(&ticket.id) {
            record.tickets.push(ticket.id);
        }
        self.tickets.insert(ticket.id, ticket);
        self
    }

    /// Indexes `message_id` (with its `<>`) as belonging to `ticket`, so threading finds it.
    pub fn with_message_id(mut self, message_id: &str, ticket: TicketId) -> Self {
        self.message_ids.insert(message_id.to_string(), ticket);
        self
    }

    /// Acknowledgements sent to `customer` at the times `at` (for the per-sender cap).
    pub fn with_acks(mut self, customer: &EmailAddress, at: &[UnixTime]) -> Self {
        self.customers
            .entry(customer.without_detail())
            .or_default()
            .acks
            .extend_from_slice(at);
        self
    }

    /// `n` acknowledgements to anyone in the clock hour that contains `at` (the global cap).
    pub fn with_acks_in_hour(mut self, at: UnixTime, n: usize) -> Self {
        self.acks_by_hour.insert(at.div_euclid(3600), n);
        self
    }

    /// The raw bytes of stored incoming mail `seq` (what a notification quotes).
    pub fn with_inbound(mut self, seq: u64, raw: &[u8]) -> Self {
        self.raw.insert(seq, raw.to_vec());
        self
    }

    /// The number the next new ticket gets.
    pub fn with_next_ticket(mut self, id: TicketId) -> Self {
        self.next_ticket = id;
        self
    }

    /// How many tickets the round-robin pool `pool_key` has had.
    pub fn with_pool_counter(mut self, pool_key: &str, n: u64) -> Self {
        self.pool_counters.insert(pool_key.to_string(), n);
        self
    }

    /// An agent's open tickets and away flag.
    pub fn with_agent_load(mut self, agent: AgentEmail, load: AgentLoad) -> Self {
        self.agent_loads.insert(agent, load);
        self
    }

    /// A held ticket, to change between decisions; panics if there is none with that number.
    pub fn ticket_mut(&mut self, id: TicketId) -> &mut Ticket {
        self.tickets
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no ticket #{id} in the test store"))
    }

    /// Every held ticket, by number.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.values()
    }
}

impl ThreadLookup for MemStore {
    type Error = Infallible;

    fn ticket_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, Infallible> {
        Ok(self.message_ids.get(message_id).copied())
    }

    fn ticket_members(&self, ticket: TicketId) -> Result<Option<Members>, Infallible> {
        Ok(self.tickets.get(&ticket).map(|t| Members {
            customer: t.customer.clone(),
            participants: t.participants.clone(),
        }))
    }
}

impl State for MemStore {
    fn next_ticket(&self) -> Result<TicketId, Infallible> {
        Ok(self.next_ticket)
    }

    fn pool_counter(&self, pool_key: &str) -> Result<u64, Infallible> {
        Ok(self.pool_counters.get(pool_key).copied().unwrap_or(0))
    }

    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, Infallible> {
        Ok(self
            .customers
            .get(&customer.without_detail())
            .map_or(0, |r| r.acks_since(since)))
    }

    fn acks_in_hour(&self, at: UnixTime) -> Result<usize, Infallible> {
        Ok(self
            .acks_by_hour
            .get(&at.div_euclid(3600))
            .copied()
            .unwrap_or(0))
    }

    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, Infallible> {
        Ok(self.tickets.get(&id).cloned())
    }

    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>, Infallible> {
        Ok(self
            .customers
            .get(&customer.without_detail())
            .map(|r| r.tickets.clone())
            .unwrap_or_default())
    }

    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.raw.get(&seq).cloned())
    }

    fn agent_load(&self, agent: &AgentEmail) -> Result<AgentLoad, Infallible> {
        Ok(self.agent_loads.get(agent).copied().unwrap_or_default())
    }

    fn first_responses(&self, agent: &AgentEmail) -> Result<Vec<FirstResponse>, Infallible> {
        Ok(self.first_responses.get(agent).cloned().unwrap_or_default())
    }
}

// ---- outcomes in words ----------------------------------------------------------------

/// An outcome in the words of the hostile tables (`tests/corpus/hostile/README.md`, the
/// unit tests' own): `ack`, `ticket-no-ack:REASON`, `joined:REASON`, `agent:ACTION`,
/// `suppressed:REASON` or `quarantined:REASON`. The one notation for a decision
/// ([`describe_plan`]) and for what a daemon recorded ([`describe_listed`]), so one table
/// of expectations serves both.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::NewTicket {
            not_acknowledged: None,
            ..
        } => "ack".into(),
        Outcome::NewTicket {
            not_acknowledged: Some(r),
            ..
        } => format!("ticket-no-ack:{r}"),
        Outcome::Joined { reason, .. } => format!("joined:{reason}"),
        Outcome::Agent { action, .. } => format!("agent:{action}"),
        Outcome::Suppressed { reason } => format!("suppressed:{reason}"),
        Outcome::Quarantined { reason } => format!("quarantined:{reason}"),
    }
}

/// A decision in [`describe`]'s words: the outcome committing it records.
pub fn describe_plan(plan: &Plan) -> String {
    describe(&plan.outcome())
}

/// A stored mail as `frontdesk mail list --json` shows it, its outcome in [`describe`]'s
/// words; `None` while it has none (not processed yet). An outcome this build cannot read
/// comes back as `unknown:` and the JSON, so a table check shows it.
pub fn describe_listed(entry: &serde_json::Value) -> Option<String> {
    let outcome = entry.get("outcome").filter(|o| !o.is_null())?;
    Some(match serde_json::from_value::<Outcome>(outcome.clone()) {
        Ok(o) => describe(&o),
        Err(e) => format!("unknown:{outcome} ({e})"),
    })
}

/// Whether an outcome in [`describe`]'s words is the expected one: equal, or for a
/// quarantine, the expected text is part of the reason.
pub fn matches(expect: &str, got: &str) -> bool {
    match (
        expect.strip_prefix("quarantined:"),
        got.strip_prefix("quarantined:"),
    ) {
        (Some(want), Some(reason)) => reason.contains(want),
        _ => expect == got,
    }
}
