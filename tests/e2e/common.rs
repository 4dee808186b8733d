//! Shared harness for the end-to-end tests: the real Dovecot + Postfix started by
//! `scripts/mailstack up`, a `frontdesk run` process per test with its own state directory
//! and its own addresses, SMTP injection with lettre, mailbox reads with async-imap, and the
//! daemon's JSON log as the observable record of what it decided. Waits poll with deadlines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};

/// End-to-end tests share one Postfix queue and one Dovecot: they run one at a time, so
/// "the system is quiet" means exactly that. One lock for the whole `e2e` binary: the test
/// harness runs the tests of every module on several threads of this one process, and each
/// test takes it (`Stack::get`) before it touches a server and holds it to its end.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The running mail stack, read from `stack.env`. Holding it holds the test lock.
#[derive(Debug)]
pub struct Stack {
    _serial: std::sync::MutexGuard<'static, ()>,
    pub dir: PathBuf,
    pub smtp_port: u16,
    pub smtps_port: u16,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub ca_file: PathBuf,
    pub password: String,
    /// The bearer token every test user logs in with over XOAUTH2 (empty for a stack
    /// started by an older `scripts/mailstack`).
    pub oauth_token: String,
}

impl Stack {
    /// Reads `$FRONTDESK_STACK_DIR/stack.env` (default `/tmp/frontdesk-stack`). Panics with
    /// the command to run when the stack is not up: these tests need the real servers.
    pub fn get() -> Stack {
        // A failed test poisons the lock; the next test still runs.
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = PathBuf::from(
            std::env::var("FRONTDESK_STACK_DIR").unwrap_or_else(|_| "/tmp/frontdesk-stack".into()),
        );
        let env_file = dir.join("stack.env");
        let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| {
            panic!(
                "{}: {e}. Start the mail stack first: scripts/mailstack up (or run scripts/test)",
                env_file.display()
            )
        });
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches('"').trim_matches('\'').to_string(),
                )
            })
            .collect();
        let port = |k: &str| {
            vars.get(k)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} missing in stack.env"))
        };
        Stack {
            _serial: serial,
            dir: dir.clone(),
            smtp_port: port("STACK_SMTP_PORT"),
            smtps_port: port("STACK_SMTPS_PORT"),
            imap_port: port("STACK_IMAP_PORT"),
            imaps_port: port("STACK_IMAPS_PORT"),
            ca_file: vars
                .get("STACK_CA_FILE")
                .map(PathBuf::from)
                .expect("STACK_CA_FILE"),
            password: vars.get("STACK_PASSWORD").cloned().expect("STACK_PASSWORD"),
            oauth_token: vars.get("STACK_OAUTH_TOKEN").cloned().unwrap_or_default(),
        }
    }

    /// Runs `scripts/mailstack ARGS… DIR`.
    pub fn script(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack");
        let status = Command::new(script)
            .args(args)
            .arg(&self.dir)
            .status()
            .expect("run scripts/mailstack");
        assert!(status.success(), "scripts/mailstack {args:?} failed");
    }

    /// Postfix's log so far (it records each client's SASL method and user).
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.join("postfix/maillog")).unwrap_or_default()
    }

    /// Whether Postfix has nothing queued (everything was delivered or bounced).
    pub fn postfix_queue_empty(&self) -> bool {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(self.dir.join("postfix"))
            .arg("-p")
            .output()
            .expect("postqueue");
        String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty")
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A name no other test (or earlier run against the same stack) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

/// Polls `f` until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T>(
    limit: Duration,
    what: &str,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Injects a raw mail over SMTP, the way a customer's provider would deliver it.
pub async fn send_raw(stack: &Stack, envelope_from: Option<&str>, to: &str, raw: impl AsRef<[u8]>) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack.smtp_port)
        .build();
    let envelope = Envelope::new(
        envelope_from.map(|f| f.parse().expect("envelope from")),
        vec![to.parse().expect("rcpt")],
    )
    .expect("envelope");
    transport
        .send_raw(&envelope, raw.as_ref())
        .await
        .unwrap_or_else(|e| panic!("SMTP injection to {to} failed: {e}"));
}

/// A customer mail with the usual headers. Returns its Message-ID.
pub async fn send_customer_mail(
    stack: &Stack,
    from_name: &str,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> String {
    let mid = format!("<{}@customer.test>", unique("m"));
    let raw = format!(
        "From: \"{from_name}\" <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    );
    send_raw(stack, Some(from), to, &raw).await;
    mid
}

/// The mail the daemon's agent sends by pressing Reply on `notification` in their mail
/// client: `text` on top (their signature, if any, part of it) and the whole notification
/// quoted below, an attribution line between; with the token address (its Reply-To) it goes
/// to.
pub fn agent_answer(d: &Daemon, notification: &Fetched, text: &str) -> (String, String) {
    let reply_to = notification.header("Reply-To").expect("Reply-To");
    let token_addr = reply_to
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address");
    let subject = notification
        .parsed()
        .subject()
        .expect("subject")
        .to_string();
    let notify_id = notification.header("Message-ID").expect("id");
    let quoted: String = notification
        .text()
        .lines()
        .map(|l| format!("> {l}\r\n"))
        .collect();
    let raw = format!(
        "From: Jason Miller <{agent}>\r\nTo: Acme Support <{token_addr}>\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@example.test>\r\nIn-Reply-To: {notify_id}\r\n\r\n{text}\r\n\r\n\
On Wed, 25 Nov 2026 at 10:00, Acme Support <{support}> wrote:\r\n{quoted}",
        unique("answer"),
        agent = d.agent,
        support = d.support
    );
    (token_addr, raw)
}

/// Sends [`agent_answer`] with an envelope that backs the From.
pub async fn answer_notification(stack: &Stack, d: &Daemon, notification: &Fetched, text: &str) {
    let (token_addr, raw) = agent_answer(d, notification, text);
    send_raw(stack, Some(&d.agent), &token_addr, &raw).await;
}

pub type TestSession = async_imap::Session<tokio::net::TcpStream>;

/// Logs in to `user`'s mailbox on the plaintext IMAP port and selects INBOX.
pub async fn imap(stack: &Stack, user: &str) -> TestSession {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", stack.imap_port))
        .await
        .expect("imap connect");
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("greeting");
    let mut session = client
        .login(user, &stack.password)
        .await
        .map_err(|(e, _)| e)
        .expect("imap login");
    session.select("INBOX").await.expect("select");
    session
}

/// One message as a test sees it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub raw: Vec<u8>,
    pub seen: bool,
}

impl Fetched {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("parses")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed().header_raw(name).map(|v| v.trim().to_string())
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }
}

/// Every message in `user`'s INBOX.
pub async fn mailbox(stack: &Stack, user: &str) -> Vec<Fetched> {
    folder(stack, user, "INBOX").await
}

/// Every message in one of `user`'s mailboxes (empty if it does not exist).
pub async fn folder(stack: &Stack, user: &str, name: &str) -> Vec<Fetched> {
    let mut s = imap(stack, user).await;
    if name != "INBOX" && s.select(name).await.is_err() {
        let _ = s.logout().await;
        return Vec::new();
    }
    let out: Vec<Fetched> = match s.uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])").await {
        Ok(stream) => stream
            .try_collect::<Vec<_>>()
            .await
            .expect("fetch")
            .iter()
            // The answers to this UID FETCH, each with its UID (no unsolicited FETCH).
            .filter(|f| f.uid.is_some())
            .filter_map(|f| {
                Some(Fetched {
                    raw: f.body()?.to_vec(),
                    seen: f.flags().any(|fl| fl == async_imap::types::Flag::Seen),
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let _ = s.logout().await;
    out
}

/// Waits until `user` has exactly `n` messages or more, returning them.
pub async fn wait_for_mail(stack: &Stack, user: &str, n: usize) -> Vec<Fetched> {
    eventually(
        Duration::from_secs(30),
        &format!("{n} message(s) in {user}"),
        async || {
            let m = mailbox(stack, user).await;
            (m.len() >= n).then_some(m)
        },
    )
    .await
}

/// Waits until Postfix's queue is empty, the daemon has processed every mail in the support
/// INBOX and has nothing left to send: the system is quiet and counts can be compared.
pub async fn wait_quiet(stack: &Stack, daemon: &Daemon) {
    eventually(Duration::from_secs(60), "a quiet system", async || {
        if !stack.postfix_queue_empty() {
            return None;
        }
        let inbox = mailbox(stack, &daemon.support).await.len();
        let processed = daemon.events("mail.processed").len();
        let queued: u64 = daemon
            .events("mail.processed")
            .iter()
            .map(|e| e["queued"].as_u64().unwrap_or(0))
            .sum();
        let sent = (daemon.events("outbox.sent").len() + daemon.events("outbox.dead").len()) as u64;
        (processed + daemon.skipped >= inbox && sent >= queued).then_some(())
    })
    .await;
    // A final check after a short settle: nothing new may have arrived meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        stack.postfix_queue_empty(),
        "Postfix queue not empty after quiet"
    );
}

/// How the test daemon talks to the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `tls = "none"` on loopback (the spec example's test setting).
    Plain,
    /// IMAPS and SMTPS with the stack's private CA as `ca_file`.
    Implicit,
    /// STARTTLS on both with the stack's private CA as `ca_file`.
    Starttls,
}

/// Options for a test daemon's configuration.
#[derive(Debug, Clone)]
pub struct Options {
    pub per_sender_per_day: u32,
    pub transport: Transport,
    /// Overrides the CA file (to test a server certificate that must be refused).
    pub ca_file: Option<PathBuf>,
    /// Extra lines for the `[imap]` section.
    pub imap_extra: String,
    /// Replaces the `[imap]` section's `password_file` line (e.g. an `oauth2_token_command`).
    pub imap_login: Option<String>,
    /// Replaces the `[smtp]` section's `password_file` line.
    pub smtp_login: Option<String>,
    /// Extra lines for the agent's `[[agents]]` entry.
    pub agent_extra: String,
    /// Extra lines for the `[service]` section (e.g. `trusted_authserv_id`).
    pub service_extra: String,
    pub extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            per_sender_per_day: 3,
            transport: Transport::Plain,
            ca_file: None,
            imap_extra: String::new(),
            imap_login: None,
            smtp_login: None,
            agent_extra: String::new(),
            service_extra: String::new(),
            extra: String::new(),
        }
    }
}

/// A `frontdesk run` process with its own state directory and support address.
pub struct Daemon {
    /// Extra environment for the process (e.g. systemd's NOTIFY_SOCKET).
    pub env: Vec<(String, String)>,
    pub support: String,
    /// The one agent of this daemon (a mailbox of its own, so tests do not mix).
    pub agent: String,
    /// Mails in the support INBOX that the daemon is expected to leave alone (first start).
    pub skipped: usize,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Writes a configuration with only the spec's example keys (loopback, `tls = "none"`)
    /// for a fresh support address; does not start it.
    pub fn configure(stack: &Stack, opts: Options) -> Daemon {
        let support = format!("{}@example.test", unique("support"));
        let agent = format!("{}@example.test", unique("jason"));
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("token.key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").expect("token key");
        let pw = dir.path().join("imap.pw");
        std::fs::write(&pw, format!("{}\n", stack.password)).expect("password file");
        let config = dir.path().join("frontdesk.toml");
        let ca = opts
            .ca_file
            .clone()
            .unwrap_or_else(|| stack.ca_file.clone());
        let (host, imap_port, smtp_port, tls, ca_line) = match opts.transport {
            Transport::Plain => (
                "127.0.0.1",
                stack.imap_port,
                stack.smtp_port,
                "none",
                String::new(),
            ),
            Transport::Implicit => (
                "localhost",
                stack.imaps_port,
                stack.smtps_port,
                "implicit",
                format!("ca_file = \"{}\"\n", ca.display()),
            ),
            Transport::Starttls => (
                "localhost",
                stack.imap_port,
                stack.smtp_port,
                "starttls",
                format!("ca_file = \"{}\"\n", ca.display()),
            ),
        };
        let text = format!(
            r#"[service]
name = "Acme Support"
address = "{support}"
state_dir = "{state}"
token_secret_file = "{key}"
{service_extra}

[imap]
host = "{host}"
port = {imap}
tls = "{tls}"
{ca_line}username = "{support}"
{imap_login}
mailbox = "INBOX"
{imap_extra}

[smtp]
host = "{host}"
port = {smtp}
tls = "{tls}"
{ca_line}username = "{support}"
{smtp_login}

{ack_section}[[agents]]
name = "Jason Miller"
email = "{agent}"
teams = ["billing"]
{agent_extra}

[[routes]]
to = "billing@example.test"
team = "billing"
{extra}
"#,
            state = dir.path().join("state").display(),
            key = key.display(),
            imap_login = opts
                .imap_login
                .unwrap_or_else(|| format!("password_file = \"{}\"", pw.display())),
            smtp_login = opts
                .smtp_login
                .unwrap_or_else(|| format!("password_file = \"{}\"", pw.display())),
            imap = imap_port,
            smtp = smtp_port,
            // Only the spec example's keys unless a test asks for more.
            ack_section = if opts.per_sender_per_day == 3 {
                String::new()
            } else {
                format!(
                    "[acknowledgement]\nper_sender_per_day = {}\n\n",
                    opts.per_sender_per_day
                )
            },
            imap_extra = opts.imap_extra,
            agent_extra = opts.agent_extra,
            service_extra = opts.service_extra,
            extra = opts.extra,
        );
        std::fs::write(&config, text).expect("config");
        Daemon {
            env: Vec::new(),
            support,
            agent,
            skipped: 0,
            log: dir.path().join("daemon.log"),
            config,
            dir,
            child: None,
        }
    }

    /// Configures and starts a daemon, waiting until it watches the mailbox.
    pub async fn start(stack: &Stack, opts: Options) -> Daemon {
        let mut d = Daemon::configure(stack, opts);
        d.launch().await;
        d
    }

    /// Starts (or restarts) the process and waits for `ingest.ready` of this run.
    pub async fn launch(&mut self) {
        let before = self.events("ingest.ready").len();
        self.spawn();
        eventually(
            Duration::from_secs(30),
            "the daemon to be ready",
            async || {
                if let Some(status) = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten())
                {
                    panic!("daemon exited early with {status}:\n{}", self.log_text());
                }
                (self.events("ingest.ready").len() > before).then_some(())
            },
        )
        .await;
    }

    /// Starts (or restarts) the process without waiting for it to be ready (a crash test
    /// kills it during start-up too).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,frontdesk=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn frontdesk");
        self.child = Some(child);
    }

    /// Kills the daemon with SIGKILL (no drain, no flush: a crash) and reaps it. Panics if
    /// it had already exited on its own, which would be a crash the test did not cause.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("daemon running");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "daemon exited on its own with {status}:\n{}",
                self.log_text()
            );
        }
        child.kill().expect("SIGKILL the daemon");
        child.wait().expect("reap the daemon");
    }

    /// Stops the daemon with SIGTERM and waits for a clean exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let status = eventually(Duration::from_secs(30), "the daemon to exit", async || {
            child.try_wait().ok().flatten()
        })
        .await;
        assert!(
            status.success(),
            "daemon exited with {status} after SIGTERM:\n{}",
            self.log_text()
        );
    }

    /// Sends `signal` (e.g. "HUP") to the running daemon.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("daemon running");
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log records whose `event` field is `name`, in order.
    pub fn events(&self, name: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == name)
            .collect()
    }

    /// How many mails of `kind` (e.g. "Acknowledgement") the daemon has sent.
    pub fn sent(&self, kind: &str) -> usize {
        self.events("outbox.sent")
            .iter()
            .filter(|e| e["kind"] == kind)
            .count()
    }

    /// Waits until at least `n` mails were processed; returns their records.
    pub async fn wait_processed(&self, n: usize) -> Vec<serde_json::Value> {
        eventually(
            Duration::from_secs(30),
            &format!("{n} processed mail(s)"),
            async || {
                let e = self.events("mail.processed");
                (e.len() >= n).then_some(e)
            },
        )
        .await
    }

    /// Runs a CLI subcommand and returns its whole output, successful or not.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run frontdesk")
    }

    /// Runs a CLI subcommand against this daemon's configuration; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run frontdesk");
        assert!(
            out.status.success(),
            "frontdesk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cli` with `--json`, parsed.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.cli(&a)).expect("json output")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A mail with an attachment of about `size` bytes (base64).
pub fn large_mail(from: &str, to: &str, size: usize) -> String {
    let line: String = (0..76)
        .map(|i| {
            char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64])
        })
        .collect();
    let body: String = std::iter::repeat_n(format!("{line}\r\n"), size / 78 + 1).collect();
    format!(
        "From: \"Big Sender\" <{from}>\r\nTo: {to}\r\nSubject: The logs you asked for\r\n\
Message-ID: <{}@customer.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Here are the logs.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"logs.bin\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"logs.bin\"\r\n\r\n{body}--b1--\r\n",
        unique("big")
    )
}
