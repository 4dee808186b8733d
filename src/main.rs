//! The `frontdesk` binary: command-line parsing, logging set-up and the human-facing output
//! of the ops commands. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};
use frontdesk::config::{Config, DEFAULT_CONFIG_PATH};
use frontdesk::domain::TicketId;
use frontdesk::store::Store;
use logs::LogFormat;

#[path = "main/config_page.rs"]
mod config_page;
#[path = "main/logs.rs"]
mod logs;
#[path = "main/manual.rs"]
mod manual;
#[path = "main/replies.rs"]
mod replies;

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
    /// Log format: human on a terminal, the journal under systemd, plain lines otherwise, or JSON.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
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
    /// Print the effective configuration: defaults filled in, secrets redacted.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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
    /// The canned answers agents send with `#reply NAME` (from service.templates_dir).
    Replies {
        #[command(subcommand)]
        command: RepliesCommand,
    },
    /// A customer's data: export it as JSON, or erase it.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Write a consistent backup of the store now (beside the running daemon too).
    Backup {
        /// Directory for the backup file (default: [backup] dir, `backups/` in the state directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Recreate the store from a backup file (the daemon must be stopped, the store gone).
    Restore {
        /// A file written by `frontdesk backup` or the daemon's periodic backups.
        file: PathBuf,
    },
    /// Print a shell completion script to stdout (packages install them; or source it).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff) to stdout: `frontdesk man | man -l -`.
    Man {
        /// Which page: frontdesk(1), or frontdesk.toml(5) with every configuration key.
        #[arg(value_enum, default_value_t = ManPage::Frontdesk)]
        page: ManPage,
    },
}

/// The manual pages `frontdesk man` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ManPage {
    /// frontdesk(1): the commands.
    #[value(name = "frontdesk")]
    Frontdesk,
    /// frontdesk.toml(5): the configuration file.
    #[value(name = "frontdesk.toml")]
    Toml,
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
        /// Also hand their open tickets to colleagues available now (as the SLA's
        /// reassignment picks them); each customer gets the new agent's short note.
        #[arg(long)]
        hand_over: bool,
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
enum RepliesCommand {
    /// Every canned answer in the templates directory's replies/, with its first line.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Print everything stored about this address as JSON (tickets, mails, queued mail).
    Export {
        /// The customer's address.
        email: String,
    },
    /// Erase this address's data: mail bodies, names, subjects; tickets keep a tombstone.
    Forget {
        /// The customer's address.
        email: String,
    },
}

#[derive(Subcommand)]
enum ListCommand {
    /// Every stored mail and its outcome (ticket, or suppression reason).
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Every key with the value the daemon would use (like `postconf -n`), as TOML.
    Show {
        /// Only the keys whose value differs from the default.
        #[arg(long)]
        changed: bool,
        /// Print JSON instead of TOML (keys that are not set are null).
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logs::init(cli.log_format);
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
            ExitCode::from(exit_status(&e))
        }
    }
}

/// sysexits(3)'s EX_CONFIG: the configuration, a secret file it names or a template is
/// broken. Trying again cannot help, so the unit's `RestartPreventExitStatus=78` stops
/// systemd from restarting into the same error every few seconds.
const EXIT_CONFIG: u8 = 78;

/// The exit status for `e`: [`EXIT_CONFIG`] when a configuration or template error is
/// anywhere in its chain, 1 for everything else (store, network, a refused login).
fn exit_status(e: &anyhow::Error) -> u8 {
    use frontdesk::compose::TemplateError;
    use frontdesk::config::ConfigError;
    use frontdesk::reload::LoadError;
    let broken_config = e.chain().any(|cause| {
        cause.is::<ConfigError>() || cause.is::<LoadError>() || cause.is::<TemplateError>()
    });
    if broken_config { EXIT_CONFIG } else { 1 }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    use frontdesk::ops::Request;
    let req = match &cli.command {
        Command::Run => {
            let shutdown = shutdown_signal();
            return frontdesk::daemon::run(Config::load(&cli.config)?, shutdown).await;
        }
        Command::CheckConfig { connect } => {
            return check_config(Config::load(&cli.config)?, *connect).await;
        }
        Command::Config {
            command: ConfigCommand::Show { changed, json },
        } => {
            use frontdesk::config::show;
            let tree = show::effective(&cli.config, std::env::vars(), *changed)?;
            let text = if *json {
                format!("{}\n", serde_json::to_string_pretty(&tree)?)
            } else {
                show::to_toml(&tree)
            };
            return write_stdout(text.as_bytes());
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
            AgentsCommand::Away { agent, hand_over } => Request::AgentsAway {
                agent: agent.clone(),
                away: true,
                hand_over: *hand_over,
            },
            AgentsCommand::Back { agent } => Request::AgentsAway {
                agent: agent.clone(),
                away: false,
                hand_over: false,
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
        // Absolute, because a running daemon writes it (its working directory is not ours).
        Command::Customer { command } => match command {
            CustomerCommand::Export { email } => Request::CustomerExport {
                email: email.clone(),
            },
            CustomerCommand::Forget { email } => Request::CustomerForget {
                email: email.clone(),
            },
        },
        Command::Backup { dir } => Request::Backup {
            dir: dir.as_deref().map(std::path::absolute).transpose()?,
        },
        Command::Restore { file } => return restore(&cli.config, file),
        Command::Replies {
            command: RepliesCommand::List { json },
        } => return replies::list(&cli.config, *json),
        Command::Completions { shell } => return write_stdout(&completions(*shell)),
        Command::Man {
            page: ManPage::Frontdesk,
        } => return write_stdout(&manual::man_page()?),
        Command::Man {
            page: ManPage::Toml,
        } => return write_stdout(&config_page::man_page()),
    };
    run_ops(&cli.config, &req)
}

/// The completion script for `shell`, generated from the same clap definition that parses
/// the command line, so it never falls behind a new subcommand or flag.
fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "frontdesk", &mut out);
    out
}

/// Writes generated text to stdout, reporting a closed pipe as an error instead of panicking.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

/// `frontdesk restore FILE`: only into a state directory nobody holds and that has no store.
fn restore(config: &std::path::Path, file: &std::path::Path) -> anyhow::Result<()> {
    let state_dir = Config::state_dir(config)?;
    let probe = frontdesk::ops::Request::TicketsList { json: true };
    if frontdesk::ops::ask(&state_dir, &probe).is_ok() {
        bail!(
            "the daemon is running on {}; stop it first (systemctl stop frontdesk)",
            state_dir.display()
        );
    }
    let mut input = std::fs::File::open(file)
        .with_context(|| format!("cannot open the backup {}", file.display()))?;
    let (store, restored) = Store::restore(&state_dir, &mut input)?;
    drop(store);
    let stats = restored.stats;
    println!(
        "restored {} tickets ({} records, {} bytes) into {}",
        stats.tickets,
        stats.records,
        stats.bytes,
        state_dir.display()
    );
    if !restored.held_outbox.is_empty() {
        println!(
            "held {} queued mail(s) as dead letters: each may have been sent after the backup \
             was taken. Look for its Message-ID in the mail server's log, and send the ones \
             that are not there with `frontdesk outbox retry ID`:",
            restored.held_outbox.len()
        );
        for held in &restored.held_outbox {
            println!("  {}  {}", held.id, held.message_id);
        }
    }
    if !restored.held_mail.is_empty() {
        println!(
            "held {} stored mail(s) not yet decided in quarantine: each may have been answered \
             after the backup was taken. If the IMAP server shows it marked $Frontdesk it was; \
             otherwise `frontdesk quarantine release ID`: {}",
            restored.held_mail.len(),
            restored
                .held_mail
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!(
        "start the daemon: mail handled after the backup was taken is marked $Frontdesk on the \
         server and is not answered again (its tickets are not in the restored store)"
    );
    Ok(())
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
                    metrics: None,
                },
            )?;
            print!("{out}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// SIGTERM or SIGINT: drain and stop. (SIGHUP, the reload, is the daemon's own.) The
/// handlers are installed here, before anything else runs, so a SIGTERM during start-up
/// drains like any other instead of killing the process by the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let installed = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = installed else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
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
    for (names, account) in cfg.smtp_accounts() {
        println!(
            "  smtp       {}:{} tls={:?} auth={} for inbox {}",
            account.host,
            account.port,
            account.tls,
            account
                .credentials
                .as_ref()
                .map_or("none".to_string(), |(u, a)| format!(
                    "{u} ({})",
                    a.mechanism()
                )),
            names.join(", ")
        );
    }
    println!("  agents     {}", cfg.agents.len());
    println!(
        "  templates  {} rendered with sample data",
        rendered.join(", ")
    );
    if connect {
        // Every inbox, each with its own account; all are tried, so one run names every
        // login that fails.
        let mut failed = Vec::new();
        for inbox in cfg.all_inboxes() {
            let login = frontdesk::oauth2::Login::new(&inbox.imap.auth);
            match frontdesk::ingest::connect(&inbox.imap, &login).await {
                Ok(mut session) => {
                    let _ = session.logout().await;
                    println!(
                        "  imap login ok: inbox {} ({}@{})",
                        inbox.name, inbox.imap.username, inbox.imap.host
                    );
                }
                Err(e) => {
                    eprintln!("  imap login FAILED: inbox {}: {e}", inbox.name);
                    failed.push(inbox.name);
                }
            }
        }
        if !failed.is_empty() {
            bail!("IMAP login failed for inbox {}", failed.join(", "));
        }
        // Every SMTP account: [smtp], and each inbox's own [inboxes.smtp].
        for (names, account) in cfg.smtp_accounts() {
            let who = format!(
                "inbox {} ({} at {})",
                names.join(", "),
                account
                    .credentials
                    .as_ref()
                    .map_or("no login", |(u, _)| u.as_str()),
                account.host
            );
            let transport = frontdesk::outbox::build_transport(&account)?;
            match tokio::time::timeout(account.timeout, transport.test_connection()).await {
                Ok(Ok(true)) => println!("  smtp login ok: {who}"),
                Ok(Ok(false)) => bail!("SMTP server did not accept the connection test: {who}"),
                Ok(Err(e)) => bail!("SMTP: {who}: {e}"),
                Err(_) => bail!("SMTP: {who}: timed out"),
            }
        }
    }
    Ok(())
}
