//! The `frontdesk` binary: command-line parsing, logging set-up and the human-facing output
//! of the ops commands. Everything else lives in the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use frontdesk::config::{Config, DEFAULT_CONFIG_PATH};
use frontdesk::store::Store;
use frontdesk::types::TicketId;

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
    use frontdesk::ops::Request;
    let req = match &cli.command {
        Command::Run => {
            return frontdesk::daemon::run(Config::load(&cli.config)?, shutdown_signal()).await;
        }
        Command::CheckConfig { connect } => {
            return check_config(Config::load(&cli.config)?, *connect).await;
        }
        Command::Tickets { command } => match command {
            TicketsCommand::List { json } => Request::TicketsList { json: *json },
            TicketsCommand::Show { number, json } => Request::TicketsShow {
                number: *number,
                json: *json,
            },
            TicketsCommand::Assign { number, agent } => Request::TicketsAssign {
                number: *number,
                agent: agent.clone(),
            },
            TicketsCommand::Close { number } => Request::TicketsClose { number: *number },
        },
        Command::Mail {
            command: ListCommand::List { json },
        } => Request::MailList {
            json: *json,
            quarantined: false,
        },
        Command::Outbox { command } => match command {
            OutboxCommand::List { json } => Request::OutboxList { json: *json },
            OutboxCommand::Retry { id } => Request::OutboxRetry { id: *id },
        },
        Command::Agents { command } => match command {
            AgentsCommand::List { json } => Request::AgentsList { json: *json },
            AgentsCommand::Away { agent } => Request::AgentsAway {
                agent: agent.clone(),
                away: true,
            },
            AgentsCommand::Back { agent } => Request::AgentsAway {
                agent: agent.clone(),
                away: false,
            },
        },
        Command::Quarantine { command } => match command {
            QuarantineCommand::List { json } => Request::MailList {
                json: *json,
                quarantined: true,
            },
            QuarantineCommand::Show { id } => Request::QuarantineShow { id: *id },
            QuarantineCommand::Release { id } => Request::QuarantineRelease { id: *id },
        },
    };
    run_ops(&cli.config, &req)
}

/// Runs an ops command on the store when it is free, or asks the running daemon (which holds
/// the store) over its control socket.
fn run_ops(config: &std::path::Path, req: &frontdesk::ops::Request) -> anyhow::Result<()> {
    use frontdesk::ops::{Context, Request};
    // Only what the command needs: reading tickets must not require the service's secrets.
    let state_dir = Config::state_dir(config)?;
    // A daemon that just stopped (or a process that just closed the store) releases the lock
    // a moment later: when nobody answers on the control socket, retry briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let opened = loop {
        match Store::open(&state_dir) {
            Err(frontdesk::store::StoreError::Locked { .. }) => {
                match frontdesk::ops::ask(&state_dir, req) {
                    Ok(out) => {
                        print!("{out}");
                        return Ok(());
                    }
                    Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
            other => break other,
        }
    };
    match opened {
        Ok(store) => {
            if let Request::QuarantineShow { id } = req {
                // Locally the raw bytes go out unchanged (the socket carries text).
                use std::io::Write;
                std::io::stdout().write_all(&frontdesk::ops::quarantined_raw(&store, *id)?)?;
                return Ok(());
            }
            let cfg = if req.needs_secrets() {
                Some(Config::load(config)?)
            } else if req.needs_config() {
                Some(Config::load_without_secrets(config)?)
            } else {
                None
            };
            let templates = match (&cfg, req.needs_secrets()) {
                (Some(c), true) => Some(frontdesk::compose::Templates::load(
                    c.service.templates_dir.as_deref(),
                )?),
                _ => None,
            };
            let out = frontdesk::ops::run(
                req,
                &Context {
                    store: &store,
                    cfg: cfg.as_ref(),
                    templates: templates.as_ref(),
                },
            )?;
            print!("{out}");
            Ok(())
        }
        Err(e) => Err(e.into()),
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
        "  imap       {}:{} tls={:?} user={} ({}) mailbox={}",
        cfg.imap.host,
        cfg.imap.port,
        cfg.imap.tls,
        cfg.imap.username,
        cfg.imap.auth.mechanism(),
        cfg.imap.mailbox
    );
    println!(
        "  smtp       {}:{} tls={:?} auth={}",
        cfg.smtp.host,
        cfg.smtp.port,
        cfg.smtp.tls,
        cfg.smtp
            .credentials
            .as_ref()
            .map_or("none".to_string(), |(u, a)| format!(
                "{u} ({})",
                a.mechanism()
            ))
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
