//! The `frontdesk` binary: command-line parsing, logging set-up and the human-facing output
//! of the ops commands. Everything else lives in the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use frontdesk::config::{Config, DEFAULT_CONFIG_PATH};
use frontdesk::store::{Outcome, Store};
use frontdesk::types::TicketId;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "Support-mailbox daemon: instant personal acknowledgements, durable tickets, one named agent per customer"
)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = DEFAULT_CONFIG_PATH, env = "FRONTDESK_CONFIG")]
    config: PathBuf,
    /// Log format: human on a terminal, journald-friendly otherwise, or JSON.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Auto,
    Human,
    Journald,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Validate the configuration and templates (and with --connect, the logins).
    CheckConfig {
        /// Also log in to the IMAP and SMTP servers.
        #[arg(long)]
        connect: bool,
    },
    /// Look at tickets and change their owner or state.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Every stored incoming mail and what happened to it.
    Mail {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Mail waiting to be sent, and the dead letters.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Mail that could not be handled safely and waits for a person.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The agents: open tickets, availability, away flags.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// Every agent with open tickets, availability and first-response median.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Mark an agent away: new tickets skip them.
    Away {
        /// Address or name of the agent.
        agent: String,
    },
    /// Mark an agent back.
    Back {
        /// Address or name of the agent.
        agent: String,
    },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// All tickets.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its messages.
    Show {
        /// Ticket number.
        number: TicketId,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Hand a ticket to another agent (they get its notification when the daemon runs).
    Assign {
        /// Ticket number.
        number: TicketId,
        /// The agent's address or name.
        agent: String,
    },
    /// Close a ticket.
    Close {
        /// Ticket number.
        number: TicketId,
    },
}

#[derive(Subcommand)]
enum ListCommand {
    /// List them.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Queued mail and dead letters.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters again (all, or the one with this id), at once when the daemon runs.
    Retry {
        /// The outbox id from `outbox list`.
        id: Option<u64>,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// List quarantined mail.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print one quarantined mail's raw bytes (ID from `quarantine list`).
    Show {
        /// The stored mail's id.
        id: u64,
    },
    /// Run a quarantined mail through the pipeline again (after fixing the configuration or
    /// templates); mail it queues is sent when the daemon runs.
    Release {
        /// The stored mail's id.
        id: u64,
    },
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // async_imap at trace level would log the LOGIN line with the password: keep it at warn
    // unless the operator explicitly asks for more.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,async_imap=warn,lettre=warn,sled=warn"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Human => builder.with_ansi(terminal).init(),
        LogFormat::Auto if terminal => builder.init(),
        // journald stamps every line itself and shows no colours.
        LogFormat::Auto | LogFormat::Journald => builder
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("frontdesk: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frontdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    // The ops commands need only the state directory, not the service's secrets.
    let open_store =
        || -> anyhow::Result<Store> { Ok(Store::open(&Config::state_dir(&cli.config)?)?) };
    match &cli.command {
        Command::Run => frontdesk::daemon::run(Config::load(&cli.config)?, shutdown_signal()).await,
        Command::CheckConfig { connect } => {
            check_config(Config::load(&cli.config)?, *connect).await
        }
        Command::Tickets { command } => {
            let store = open_store()?;
            match command {
                TicketsCommand::List { json } => tickets_list(&store, *json),
                TicketsCommand::Show { number, json } => ticket_show(&store, *number, *json),
                TicketsCommand::Assign { number, agent } => {
                    ops(&cli.config, &store, *number, Some(agent), false)
                }
                TicketsCommand::Close { number } => ops(&cli.config, &store, *number, None, true),
            }
        }
        Command::Mail {
            command: ListCommand::List { json },
        } => mail_list(&open_store()?, *json, false),
        Command::Outbox { command } => match command {
            OutboxCommand::List { json } => outbox_list(&open_store()?, *json),
            OutboxCommand::Retry { id } => {
                let n = open_store()?.retry_dead(*id, frontdesk::types::now())?;
                println!("{n} dead letter(s) queued again; they go out when the daemon runs");
                Ok(())
            }
        },
        Command::Agents { command } => {
            // Needs the agent table from the configuration, but no secrets.
            let cfg = Config::load_without_secrets(&cli.config)?;
            let store = open_store()?;
            match command {
                AgentsCommand::List { json } => agents_list(&cfg, &store, *json),
                AgentsCommand::Away { agent } => set_away(&cfg, &store, agent, true),
                AgentsCommand::Back { agent } => set_away(&cfg, &store, agent, false),
            }
        }
        Command::Quarantine { command } => {
            let store = open_store()?;
            match command {
                QuarantineCommand::List { json } => mail_list(&store, *json, true),
                QuarantineCommand::Show { id } => quarantine_show(&store, *id),
                QuarantineCommand::Release { id } => release(&cli.config, store, *id),
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = hup.recv() => {
                tracing::warn!("SIGHUP: live reload is not implemented yet; restart the service to apply changes");
            }
        }
    }
}

async fn check_config(cfg: Config, connect: bool) -> anyhow::Result<()> {
    let templates = frontdesk::compose::Templates::load(cfg.service.templates_dir.as_deref())?;
    let rendered = templates.self_test()?;
    println!("configuration {}: ok", cfg.source.display());
    println!(
        "  service    {} <{}>",
        cfg.service.name, cfg.service.address
    );
    println!("  state_dir  {}", cfg.service.state_dir.display());
    println!(
        "  imap       {}:{} tls={:?} user={} mailbox={}",
        cfg.imap.host, cfg.imap.port, cfg.imap.tls, cfg.imap.username, cfg.imap.mailbox
    );
    println!(
        "  smtp       {}:{} tls={:?} auth={}",
        cfg.smtp.host,
        cfg.smtp.port,
        cfg.smtp.tls,
        cfg.smtp
            .credentials
            .as_ref()
            .map_or("none", |(u, _)| u.as_str())
    );
    println!("  agents     {}", cfg.agents.len());
    println!(
        "  templates  {} rendered with sample data",
        rendered.join(", ")
    );
    if connect {
        let mut session = frontdesk::ingest::connect(&cfg.imap)
            .await
            .context("IMAP login")?;
        let _ = session.logout().await;
        println!("  imap login ok");
        let transport = frontdesk::outbox::build_transport(&cfg.smtp)?;
        match tokio::time::timeout(cfg.smtp.timeout, transport.test_connection()).await {
            Ok(Ok(true)) => println!("  smtp login ok"),
            Ok(Ok(false)) => bail!("SMTP server did not accept the connection test"),
            Ok(Err(e)) => bail!("SMTP: {e}"),
            Err(_) => bail!("SMTP: timed out"),
        }
    }
    Ok(())
}

fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
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

fn tickets_list(store: &Store, json: bool) -> anyhow::Result<()> {
    let tickets = store.tickets()?;
    if json {
        return print_json(&tickets);
    }
    println!(
        "{:<7} {:<7} {:<30} {:<26} {:>4}  {:<16} SUBJECT",
        "TICKET", "STATE", "CUSTOMER", "AGENT", "MSGS", "UPDATED"
    );
    for t in &tickets {
        println!(
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
    println!("{} ticket(s)", tickets.len());
    Ok(())
}

fn ticket_show(store: &Store, number: TicketId, json: bool) -> anyhow::Result<()> {
    let Some(t) = store.ticket(number)? else {
        bail!("no ticket #{number}");
    };
    if json {
        return print_json(&t);
    }
    println!("Ticket #{}  ({:?})", t.id, t.state);
    println!(
        "  customer  {}{}",
        t.customer_name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default(),
        t.customer
    );
    println!("  agent     {}", t.agent);
    println!("  subject   {}", t.subject);
    println!("  opened    {}", fmt_time(t.created_at));
    if let Some(prev) = t.linked_from {
        println!("  follows   closed ticket #{prev}");
    }
    if let Some(first) = t.first_response_at {
        println!(
            "  first response after {} min",
            (first - t.created_at).max(0) / 60
        );
    }
    println!("  messages  {}", t.messages.len());
    for (i, m) in t.messages.iter().enumerate() {
        println!(
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

fn mail_list(store: &Store, json: bool, only_quarantined: bool) -> anyhow::Result<()> {
    let mut all = store.inbound_all()?;
    if only_quarantined {
        all.retain(|m| matches!(m.outcome, Some(Outcome::Quarantined { .. })));
    }
    if json {
        return print_json(&all);
    }
    println!(
        "{:<20} {:>6} {:>9}  {:<16} {:<12} DETAIL",
        "ID", "UID", "BYTES", "STORED", "OUTCOME"
    );
    for m in &all {
        let (outcome, detail) = outcome_text(&m.outcome);
        println!(
            "{:<20} {:>6} {:>9}  {:<16} {:<12} {}",
            m.seq,
            m.uid,
            m.size,
            fmt_time(m.stored_at),
            outcome,
            clip(&detail, 80)
        );
    }
    println!("{} mail(s)", all.len());
    Ok(())
}

fn quarantine_show(store: &Store, id: u64) -> anyhow::Result<()> {
    let Some(record) = store.inbound(id)? else {
        bail!("no stored mail {id}");
    };
    if !matches!(record.outcome, Some(Outcome::Quarantined { .. })) {
        let (outcome, detail) = outcome_text(&record.outcome);
        bail!("mail {id} is not quarantined ({outcome} {detail})");
    }
    let raw = store.raw(id)?.unwrap_or_default();
    use std::io::Write;
    std::io::stdout().write_all(&raw)?;
    Ok(())
}

/// `tickets assign|close`: composing the new owner's notification needs the token key, so
/// this loads the whole configuration.
fn ops(
    config: &std::path::Path,
    store: &Store,
    number: TicketId,
    assign_to: Option<&String>,
    close: bool,
) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let templates = frontdesk::compose::Templates::load(cfg.service.templates_dir.as_deref())?;
    match frontdesk::pipeline::ops_change(
        &cfg,
        &templates,
        store,
        number,
        &frontdesk::pipeline::OpsChange {
            assign_to: assign_to.map(String::as_str),
            close,
            by: "the support team",
            only_if_unanswered: false,
        },
    ) {
        Ok(done) => {
            println!("{done}");
            Ok(())
        }
        Err(e) => bail!(e),
    }
}

/// `quarantine release ID`: clear the outcome and run the pipeline on the mail now.
fn release(config: &std::path::Path, store: Store, id: u64) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let templates = frontdesk::compose::Templates::load(cfg.service.templates_dir.as_deref())?;
    store.release(id)?;
    let processor = frontdesk::pipeline::Processor::new(
        store.clone(),
        std::sync::Arc::new(cfg),
        std::sync::Arc::new(templates),
    );
    let outcome = processor.process(id)?;
    store.flush_blocking()?;
    let (what, detail) = outcome_text(&outcome);
    println!("mail {id} released: {what} {detail}");
    Ok(())
}

fn find_agent<'a>(cfg: &'a Config, who: &str) -> anyhow::Result<&'a frontdesk::config::Agent> {
    let matches: Vec<_> = cfg
        .agents
        .iter()
        .filter(|a| {
            a.email.address().as_str().eq_ignore_ascii_case(who) || a.name.eq_ignore_ascii_case(who)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("no agent {who:?}; `frontdesk agents list` shows them"),
        _ => bail!("{who:?} matches several agents; use the address"),
    }
}

fn set_away(cfg: &Config, store: &Store, who: &str, away: bool) -> anyhow::Result<()> {
    let agent = find_agent(cfg, who)?;
    store.set_away(&agent.email, away)?;
    println!(
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

fn agents_list(cfg: &Config, store: &Store, json: bool) -> anyhow::Result<()> {
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
        let available = frontdesk::route::available(a, load, now);
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
                    .map(|z| frontdesk::hours::describe_return(&z, now))
                    .unwrap_or_default()
            },
            first_response_median_minutes: waits.get(waits.len() / 2).copied(),
        });
    }
    if json {
        return print_json(&rows);
    }
    println!(
        "{:<22} {:<28} {:>5}  {:<10} {:<26} FIRST RESPONSE (MEDIAN)",
        "AGENT", "EMAIL", "OPEN", "STATUS", "BACK"
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
        println!(
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

fn outbox_list(store: &Store, json: bool) -> anyhow::Result<()> {
    let pending = store.outbox_entries()?;
    let dead = store.dead_letters()?;
    if json {
        #[derive(Serialize)]
        struct Both<'a> {
            pending: &'a [frontdesk::store::OutboxEntry],
            dead: &'a [frontdesk::store::DeadLetter],
        }
        return print_json(&Both {
            pending: &pending,
            dead: &dead,
        });
    }
    println!(
        "{:<20} {:<7} {:<8} {:>8}  {:<16} LAST ERROR",
        "ID", "TICKET", "STATE", "ATTEMPTS", "NEXT"
    );
    for e in &pending {
        println!(
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
        println!(
            "{:<20} {:<7} {:<8} {:>8}  {:<16} {}",
            d.entry.id,
            d.entry.ticket.map(|t| t.to_string()).unwrap_or_default(),
            "dead",
            d.entry.attempts,
            fmt_time(d.at),
            clip(&d.error, 80)
        );
    }
    println!("{} queued, {} dead", pending.len(), dead.len());
    Ok(())
}
