//! The ops commands (`tickets`, `mail`, `outbox`, `quarantine`, `agents`), shared by the CLI
//! and the running daemon: the CLI runs them on the store directly when no daemon holds it,
//! and otherwise asks the daemon over a Unix socket in the state directory (mode 0600), which
//! runs the very same code on its open store.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::compose::Templates;
use crate::config::Config;
use crate::domain::{Outcome, TicketId};
use crate::store::{Store, StoreError};

/// The socket's file name in the state directory.
pub const SOCKET: &str = "control.sock";

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
    /// `agents away|back AGENT`
    AgentsAway { agent: String, away: bool },
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
        Request::OutboxRetry { id } => {
            let n = ctx.store.retry_dead(*id, crate::domain::now())?;
            outln!(
                o,
                "{n} dead letter(s) queued again; they go out when the daemon runs"
            );
        }
        Request::AgentsList { json } => agents_list(o, ctx.cfg()?, ctx.store, *json)?,
        Request::AgentsAway { agent, away } => set_away(o, ctx.cfg()?, ctx.store, agent, *away)?,
        Request::CustomerExport { email } => {
            let who = customer_address(email)?;
            print_json(o, &crate::privacy::export(ctx.store, &who)?)?;
        }
        Request::CustomerForget { email } => {
            let who = customer_address(email)?;
            let done = crate::privacy::forget(ctx.store, &who)?;
            outln!(
                o,
                "{who} forgotten: {} ticket(s) kept as tombstones, {} stored mail(s) erased, {} queued mail(s) dropped",
                done.tickets,
                done.mails,
                done.queued_dropped
            );
            outln!(
                o,
                "their mail is still in the IMAP mailbox and in older backups: delete it there too"
            );
        }
        Request::Backup { dir } => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => ctx.cfg()?.backup.dir.clone(),
            };
            let (path, stats) = crate::backup::write(ctx.store, &dir)?;
            outln!(
                o,
                "backup written: {} ({} tickets, {} records, {} bytes)",
                path.display(),
                stats.tickets,
                stats.records,
                stats.bytes
            );
        }
    }
    Ok(out)
}

fn customer_address(email: &str) -> Result<crate::domain::EmailAddress, OpsError> {
    crate::domain::EmailAddress::parse(email)
        .ok_or_else(|| OpsError(format!("{email:?} is not an e-mail address")))
}

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Response {
    ok: bool,
    output: String,
}

/// Asks the running daemon to run `req` (the CLI's path while the daemon holds the store).
pub fn ask(state_dir: &Path, req: &Request) -> Result<String, OpsError> {
    let path = state_dir.join(SOCKET);
    let mut conn = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        OpsError(format!(
            "the daemon holds the store, and its control socket {} does not answer ({e})",
            path.display()
        ))
    })?;
    let timeout = Some(std::time::Duration::from_secs(60));
    let _ = conn.set_read_timeout(timeout);
    let _ = conn.set_write_timeout(timeout);
    let line = serde_json::to_string(req).map_err(|e| OpsError(e.to_string()))?;
    conn.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| OpsError(format!("talking to the daemon: {e}")))?;
    let mut text = String::new();
    BufReader::new(&mut conn)
        .read_line(&mut text)
        .map_err(|e| OpsError(format!("talking to the daemon: {e}")))?;
    let resp: Response =
        serde_json::from_str(&text).map_err(|e| OpsError(format!("the daemon's answer: {e}")))?;
    if resp.ok {
        Ok(resp.output)
    } else {
        Err(OpsError(resp.output))
    }
}

/// Serves ops commands on `state_dir/control.sock` until `shutdown`: the same code as the
/// CLI, on the daemon's open store. Write commands wake the outbox.
pub async fn serve(
    state_dir: PathBuf,
    store: Store,
    live: Arc<crate::reload::Live>,
    metrics: Arc<crate::metrics::Metrics>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let path = state_dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "no control socket: ops commands need the daemon stopped");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    info!(path = %path.display(), "control socket ready");
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => break,
        };
        let Ok((conn, _)) = conn else { continue };
        let (store, live, metrics, wake) =
            (store.clone(), live.clone(), metrics.clone(), wake.clone());
        tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            let mut line = String::new();
            let mut reader =
                tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, 64 * 1024));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let resp = match serde_json::from_str::<Request>(&line) {
                Err(e) => Response {
                    ok: false,
                    output: format!("not a request: {e}"),
                },
                Ok(req) => {
                    let snap = live.snapshot();
                    let ctx = Context {
                        store: &store,
                        cfg: Some(&snap.cfg),
                        templates: Some(&snap.templates),
                        metrics: Some(metrics),
                    };
                    let result = run(&req, &ctx);
                    if req.writes() {
                        wake.notify_one();
                    }
                    match result {
                        Ok(output) => Response { ok: true, output },
                        Err(e) => Response {
                            ok: false,
                            output: e.0,
                        },
                    }
                }
            };
            if let Ok(text) = serde_json::to_string(&resp) {
                let _ = write.write_all(format!("{text}\n").as_bytes()).await;
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}

fn print_json(out: &mut String, v: &impl Serialize) -> Result<(), OpsError> {
    outln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| OpsError(e.to_string()))?
    );
    Ok(())
}

fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    } else {
        s.to_string()
    }
}

fn tickets_list(out: &mut String, store: &Store, json: bool) -> Result<(), OpsError> {
    let tickets = store.tickets()?;
    if json {
        return print_json(out, &tickets);
    }
    outln!(
        out,
        "{:<7} {:<7} {:<30} {:<26} {:>4}  {:<16} SUBJECT",
        "TICKET",
        "STATE",
        "CUSTOMER",
        "AGENT",
        "MSGS",
        "UPDATED"
    );
    for t in &tickets {
        outln!(
            out,
            "{:<7} {:<7} {:<30} {:<26} {:>4}  {:<16} {}",
            t.id.to_string(),
            format!("{:?}", t.state).to_lowercase(),
            clip(t.customer.as_str(), 30),
            clip(t.agent.address().as_str(), 26),
            t.messages,
            fmt_time(t.updated_at),
            clip(&t.subject, 50)
        );
    }
    outln!(out, "{} ticket(s)", tickets.len());
    Ok(())
}

fn ticket_show(
    out: &mut String,
    store: &Store,
    number: TicketId,
    json: bool,
) -> Result<(), OpsError> {
    let Some(t) = store.ticket(number)? else {
        fail!("no ticket #{number}");
    };
    if json {
        return print_json(out, &t);
    }
    outln!(out, "Ticket #{}  ({:?})", t.id, t.state);
    outln!(
        out,
        "  customer  {}{}",
        t.customer_name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default(),
        t.customer
    );
    outln!(out, "  agent     {}", t.agent);
    outln!(out, "  subject   {}", t.subject);
    outln!(out, "  opened    {}", fmt_time(t.created_at));
    if let Some(prev) = t.linked_from {
        outln!(out, "  follows   closed ticket #{prev}");
    }
    if let Some(first) = t.first_response_at {
        outln!(
            out,
            "  first response after {} min",
            (first - t.created_at).max(0) / 60
        );
    }
    outln!(out, "  messages  {}", t.messages.len());
    for (i, m) in t.messages.iter().enumerate() {
        outln!(
            out,
            "  {:>3}. {}  {:<18} {}  {}{}{}",
            i + 1,
            fmt_time(m.at),
            format!("{:?}", m.direction).to_lowercase(),
            m.from.as_ref().map_or("-".to_string(), |f| f.to_string()),
            m.message_id.as_deref().unwrap_or("-"),
            m.suppressed
                .map(|r| format!("  (no ack: {r})"))
                .unwrap_or_default(),
            m.note
                .as_deref()
                .map(|n| format!("\n         note: {n}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn outcome_text(o: &Option<Outcome>) -> (String, String) {
    match o {
        None => ("pending".into(), String::new()),
        Some(Outcome::NewTicket {
            ticket,
            not_acknowledged,
        }) => (
            "new-ticket".into(),
            format!(
                "#{ticket}{}",
                not_acknowledged
                    .map(|r| format!(" (not acknowledged: {r})"))
                    .unwrap_or_default()
            ),
        ),
        Some(Outcome::Joined { ticket, reason, .. }) => {
            ("joined".into(), format!("#{ticket} ({reason})"))
        }
        Some(Outcome::Agent { ticket, action }) => ("agent".into(), format!("#{ticket} {action}")),
        Some(Outcome::Suppressed { reason }) => ("suppressed".into(), reason.to_string()),
        Some(Outcome::Quarantined { reason }) => ("quarantined".into(), reason.clone()),
    }
}

fn mail_list(
    out: &mut String,
    store: &Store,
    json: bool,
    only_quarantined: bool,
) -> Result<(), OpsError> {
    let mut all = store.inbound_all()?;
    if only_quarantined {
        all.retain(|m| matches!(m.outcome, Some(Outcome::Quarantined { .. })));
    }
    if json {
        return print_json(out, &all);
    }
    outln!(
        out,
        "{:<20} {:>6} {:>9}  {:<16} {:<12} DETAIL",
        "ID",
        "UID",
        "BYTES",
        "STORED",
        "OUTCOME"
    );
    for m in &all {
        let (outcome, detail) = outcome_text(&m.outcome);
        outln!(
            out,
            "{:<20} {:>6} {:>9}  {:<16} {:<12} {}",
            m.seq,
            m.uid,
            m.size,
            fmt_time(m.stored_at),
            outcome,
            clip(&detail, 80)
        );
    }
    outln!(out, "{} mail(s)", all.len());
    Ok(())
}

fn quarantine_show(out: &mut String, store: &Store, id: u64) -> Result<(), OpsError> {
    out.push_str(&String::from_utf8_lossy(&quarantined_raw(store, id)?));
    Ok(())
}

/// The raw bytes of a quarantined mail (an error for any other mail).
pub fn quarantined_raw(store: &Store, id: u64) -> Result<Vec<u8>, OpsError> {
    let Some(record) = store.inbound(id)? else {
        fail!("no stored mail {id}");
    };
    if !matches!(record.outcome, Some(Outcome::Quarantined { .. })) {
        let (outcome, detail) = outcome_text(&record.outcome);
        fail!("mail {id} is not quarantined ({outcome} {detail})");
    }
    Ok(store.raw(id)?.unwrap_or_default())
}

/// `tickets assign|close`: composing the new owner's notification needs the token key.
fn change_ticket(
    out: &mut String,
    ctx: &Context<'_>,
    number: TicketId,
    assign_to: Option<&str>,
    close: bool,
) -> Result<(), OpsError> {
    let (cfg, templates) = ctx.full()?;
    let done = crate::actions::ops_change(
        cfg,
        templates,
        ctx.store,
        number,
        &crate::actions::OpsChange {
            assign_to,
            close,
            by: "the support team",
            only_if_unanswered: false,
        },
    )
    .map_err(|e| OpsError(e.to_string()))?;
    outln!(out, "{done}");
    Ok(())
}

/// `quarantine release ID`: clear the outcome and run the pipeline on the mail now.
fn release(out: &mut String, ctx: &Context<'_>, id: u64) -> Result<(), OpsError> {
    let (cfg, templates) = ctx.full()?;
    ctx.store.release(id)?;
    let live =
        crate::reload::Live::new(crate::reload::Snapshot::new(cfg.clone(), templates.clone()));
    let processor = crate::processor::Processor::new(
        ctx.store.clone(),
        Arc::new(live),
        ctx.metrics.clone().unwrap_or_default(),
    );
    let outcome = processor.process(id)?;
    ctx.store.flush_blocking()?;
    let (what, detail) = outcome_text(&outcome);
    outln!(out, "mail {id} released: {what} {detail}");
    Ok(())
}

fn set_away(
    out: &mut String,
    cfg: &Config,
    store: &Store,
    who: &str,
    away: bool,
) -> Result<(), OpsError> {
    let agent = cfg.find_agent(who).map_err(OpsError)?;
    store.set_away(&agent.email, away)?;
    outln!(
        out,
        "{} <{}> is {}",
        agent.name,
        agent.email,
        if away {
            "away: new tickets skip them"
        } else {
            "back"
        }
    );
    Ok(())
}

fn agents_list(out: &mut String, cfg: &Config, store: &Store, json: bool) -> Result<(), OpsError> {
    #[derive(Serialize)]
    struct Row {
        name: String,
        email: String,
        teams: Vec<String>,
        open: usize,
        away: bool,
        available: bool,
        back: String,
        first_response_median_minutes: Option<i64>,
    }
    let now = jiff::Timestamp::now();
    let tickets = store.tickets_full()?;
    let mut rows = Vec::new();
    for a in &cfg.agents {
        let load = store.agent_load(&a.email)?;
        let mut waits: Vec<i64> = tickets
            .iter()
            .filter(|t| t.agent == a.email)
            .filter_map(|t| t.first_response_at.map(|f| (f - t.created_at).max(0) / 60))
            .collect();
        waits.sort_unstable();
        let available = crate::route::available(a, load, now);
        rows.push(Row {
            name: a.name.clone(),
            email: a.email.to_string(),
            teams: a.teams.clone(),
            open: load.open,
            away: a.away || load.away,
            available,
            back: if available || a.away || load.away || a.hours.is_open(now) {
                String::new()
            } else {
                a.hours
                    .next_open(now)
                    .map(|z| crate::hours::describe_return(&z, now))
                    .unwrap_or_default()
            },
            first_response_median_minutes: waits.get(waits.len() / 2).copied(),
        });
    }
    if json {
        return print_json(out, &rows);
    }
    outln!(
        out,
        "{:<22} {:<28} {:>5}  {:<10} {:<26} FIRST RESPONSE (MEDIAN)",
        "AGENT",
        "EMAIL",
        "OPEN",
        "STATUS",
        "BACK"
    );
    for r in &rows {
        let status = if r.away {
            "away"
        } else if r.available {
            "available"
        } else if r.back.is_empty() {
            "full"
        } else {
            "off hours"
        };
        outln!(
            out,
            "{:<22} {:<28} {:>5}  {:<10} {:<26} {}",
            clip(&r.name, 22),
            clip(&r.email, 28),
            r.open,
            status,
            r.back,
            r.first_response_median_minutes
                .map_or("-".into(), |m| format!("{m} min"))
        );
    }
    Ok(())
}

fn outbox_list(out: &mut String, store: &Store, json: bool) -> Result<(), OpsError> {
    let pending = store.outbox_entries()?;
    let dead = store.dead_letters()?;
    if json {
        #[derive(Serialize)]
        struct Both<'a> {
            pending: &'a [crate::domain::OutboxEntry],
            dead: &'a [crate::domain::DeadLetter],
        }
        return print_json(
            out,
            &Both {
                pending: &pending,
                dead: &dead,
            },
        );
    }
    outln!(
        out,
        "{:<20} {:<7} {:<8} {:>8}  {:<16} LAST ERROR",
        "ID",
        "TICKET",
        "STATE",
        "ATTEMPTS",
        "NEXT"
    );
    for e in &pending {
        outln!(
            out,
            "{:<20} {:<7} {:<8} {:>8}  {:<16} {}",
            e.id,
            e.ticket.map(|t| t.to_string()).unwrap_or_default(),
            "queued",
            e.attempts,
            fmt_time(e.next_attempt_at),
            clip(e.last_error.as_deref().unwrap_or(""), 80)
        );
    }
    for d in &dead {
        outln!(
            out,
            "{:<20} {:<7} {:<8} {:>8}  {:<16} {}",
            d.entry.id,
            d.entry.ticket.map(|t| t.to_string()).unwrap_or_default(),
            "dead",
            d.entry.attempts,
            fmt_time(d.at),
            clip(&d.error, 80)
        );
    }
    outln!(out, "{} queued, {} dead", pending.len(), dead.len());
    Ok(())
}
