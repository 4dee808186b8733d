//! The ops commands (`tickets`, `mail`, `outbox`, `quarantine`, `agents`), shared by the CLI
//! and the running daemon: the CLI runs them on the store directly when no daemon holds it,
//! and otherwise asks the daemon over a Unix socket in the state directory (mode 0600), which
//! runs the very same code on its open store.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::compose::Templates;
use crate::config::Config;
use crate::domain::TicketId;
use crate::store::{Store, StoreError};

/// An ops command that failed, with a message for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpsError(pub String);

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        OpsError(e.to_string())
    }
}

macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(OpsError(format!($($arg)*)))
    };
}

mod change;
mod show;
mod socket;

use change::{backup, change_ticket, customer_export, customer_forget, release, retry, set_away};
pub use show::quarantined_raw;
use show::{agents_list, mail_list, outbox_list, quarantine_show, ticket_show, tickets_list};
pub use socket::{SOCKET, ask, serve};

/// One ops command, as the CLI parsed it; the daemon receives it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// `tickets list`
    TicketsList { json: bool },
    /// `tickets show N`
    TicketsShow { number: TicketId, json: bool },
    /// `tickets assign N AGENT`
    TicketsAssign { number: TicketId, agent: String },
    /// `tickets close N`
    TicketsClose { number: TicketId },
    /// `mail list` / `quarantine list`
    MailList { json: bool, quarantined: bool },
    /// `quarantine show ID`
    QuarantineShow { id: u64 },
    /// `quarantine release ID`
    QuarantineRelease { id: u64 },
    /// `outbox list`
    OutboxList { json: bool },
    /// `outbox retry [ID]`
    OutboxRetry { id: Option<u64> },
    /// `agents list`
    AgentsList { json: bool },
    /// `agents away [--hand-over]|back AGENT`
    AgentsAway {
        agent: String,
        away: bool,
        /// Hand the agent's open tickets to colleagues available now.
        #[serde(default)]
        hand_over: bool,
    },
    /// `backup [--dir DIR]`
    Backup { dir: Option<PathBuf> },
    /// `customer export EMAIL`
    CustomerExport { email: String },
    /// `customer forget EMAIL`
    CustomerForget { email: String },
}

impl Request {
    /// Whether it composes mail (and so needs the token key and the templates).
    pub fn needs_secrets(&self) -> bool {
        matches!(
            self,
            Request::TicketsAssign { .. }
                | Request::TicketsClose { .. }
                | Request::QuarantineRelease { .. }
                | Request::AgentsAway {
                    hand_over: true,
                    ..
                }
        )
    }

    /// Whether it needs the configuration (the agent table) at all.
    pub fn needs_config(&self) -> bool {
        self.needs_secrets()
            || matches!(
                self,
                Request::AgentsList { .. } | Request::AgentsAway { .. } | Request::Backup { .. }
            )
    }

    /// Whether it changes something the daemon should act on (queued mail).
    fn writes(&self) -> bool {
        matches!(
            self,
            Request::TicketsAssign { .. }
                | Request::TicketsClose { .. }
                | Request::QuarantineRelease { .. }
                | Request::OutboxRetry { .. }
                | Request::AgentsAway { .. }
        )
    }
}

/// What a command runs against.
pub struct Context<'a> {
    /// The open store.
    pub store: &'a Store,
    /// The configuration, when the command needs it.
    pub cfg: Option<&'a Config>,
    /// The templates, when the command composes mail.
    pub templates: Option<&'a Templates>,
    /// The running daemon's metrics (mail released from quarantine counts there); `None`
    /// when the CLI works on the store alone.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Context<'_> {
    fn cfg(&self) -> Result<&Config, OpsError> {
        self.cfg
            .ok_or_else(|| OpsError("this command needs the configuration".into()))
    }

    fn full(&self) -> Result<(&Config, &Templates), OpsError> {
        match (self.cfg, self.templates) {
            (Some(c), Some(t)) => Ok((c, t)),
            _ => Err(OpsError(
                "this command needs the configuration and templates".into(),
            )),
        }
    }
}

/// Runs one command and returns what it prints.
pub fn run(req: &Request, ctx: &Context<'_>) -> Result<String, OpsError> {
    let mut out = String::new();
    let o = &mut out;
    match req {
        Request::TicketsList { json } => tickets_list(o, ctx.store, *json)?,
        Request::TicketsShow { number, json } => ticket_show(o, ctx.store, *number, *json)?,
        Request::TicketsAssign { number, agent } => {
            change_ticket(o, ctx, *number, Some(agent), false)?
        }
        Request::TicketsClose { number } => change_ticket(o, ctx, *number, None, true)?,
        Request::MailList { json, quarantined } => mail_list(o, ctx.store, *json, *quarantined)?,
        Request::QuarantineShow { id } => quarantine_show(o, ctx.store, *id)?,
        Request::QuarantineRelease { id } => release(o, ctx, *id)?,
        Request::OutboxList { json } => outbox_list(o, ctx.store, *json)?,
        Request::OutboxRetry { id } => retry(o, ctx.store, *id)?,
        Request::AgentsList { json } => agents_list(o, ctx.cfg()?, ctx.store, *json)?,
        Request::AgentsAway {
            agent,
            away,
            hand_over,
        } => set_away(o, ctx, agent, *away, *hand_over)?,
        Request::CustomerExport { email } => customer_export(o, ctx.store, email)?,
        Request::CustomerForget { email } => customer_forget(o, ctx.store, email)?,
        Request::Backup { dir } => backup(o, ctx, dir.as_deref())?,
    }
    Ok(out)
}
