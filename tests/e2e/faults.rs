//! Server faults, end to end against the real Dovecot + Postfix of `scripts/mailstack`: the
//! IMAP server restarts under the daemon, the SMTP server is down for a while, the IMAP
//! connection is cut in the middle of a FETCH, and the SMTP server refuses a recipient for
//! good. After each, every mail is acknowledged (and its agent notified) exactly once.
//!
//! `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.
//!
//! - `dovecot_restart_while_idling_is_reconnected_with_backoff`
//! - `postfix_outage_is_retried_with_backoff_and_every_ack_arrives_once`
//! - `imap_connection_cut_mid_fetch_is_fetched_again_and_acknowledged_once`
//! - `refused_recipient_is_a_dead_letter_until_fixed_and_retried`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How long Postfix stays down in the outage test: a minute, as the issue asks (several
/// retry rounds at the test's 2 s … 8 s backoff).
const POSTFIX_OUTAGE: Duration = Duration::from_secs(60);

/// Runs `scripts/mailstack ARGS… DIR` without blocking the runtime, so mail can be sent
/// while a server restarts.
async fn mailstack(stack: &Stack, args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack");
    let status = tokio::process::Command::new(script)
        .args(args)
        .arg(&stack.dir)
        .status()
        .await
        .expect("run scripts/mailstack");
    assert!(status.success(), "scripts/mailstack {args:?} failed");
}

/// A value from the stack's `stack.env` that [`Stack`] does not carry.
fn stack_env(stack: &Stack, key: &str) -> String {
    std::fs::read_to_string(stack.dir.join("stack.env"))
        .expect("stack.env")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("{key} missing in stack.env"))
}

/// A plain customer mail, as `send_customer_mail` writes it.
fn customer_mail(name: &str, from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: \"{name}\" <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@customer.test>\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        unique("m")
    )
}

/// Injects `raw` over SMTP like `send_raw`, but the way a sending MTA does: a refused or
/// broken attempt is tried again (while Dovecot restarts, the stack's Postfix cannot even
/// start an SMTP session, since its SASL service is Dovecot's).
async fn inject_retrying(stack: &Stack, from: &str, to: &str, raw: &str) {
    use lettre::AsyncTransport;
    let envelope = lettre::address::Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(stack.smtp_port)
                .build();
        match transport.send_raw(&envelope, raw.as_bytes()).await {
            Ok(_) => return,
            Err(e) if Instant::now() < deadline => {
                println!("injection refused, trying again: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("SMTP injection to {to} failed for a minute: {e}"),
        }
    }
}

/// Reads one (possibly multi-line) LMTP reply; panics unless its code starts with `want`.
async fn lmtp_reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, want: char, what: &str) {
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.expect("LMTP reply");
        assert!(
            line.starts_with(want),
            "LMTP {what}: unexpected reply {line:?}"
        );
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    }
}

/// Delivers `raw` into `to`'s mailbox through Dovecot's LMTP listener directly, the way
/// Postfix would: mail still arrives while Postfix (and so SMTP submission) is down.
async fn lmtp_deliver(stack: &Stack, from: &str, to: &str, raw: &str) {
    let port: u16 = stack_env(stack, "STACK_LMTP_PORT")
        .parse()
        .expect("LMTP port");
    let (r, mut w) = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to Dovecot's LMTP")
        .into_split();
    let mut r = BufReader::new(r);
    lmtp_reply(&mut r, '2', "greeting").await;
    for (cmd, want) in [
        ("LHLO faults.test".to_string(), '2'),
        (format!("MAIL FROM:<{from}>"), '2'),
        (format!("RCPT TO:<{to}>"), '2'),
        ("DATA".to_string(), '3'),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .expect("LMTP write");
        lmtp_reply(&mut r, want, &cmd).await;
    }
    let mut data = String::new();
    for line in raw.trim_end_matches("\r\n").split("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    w.write_all(data.as_bytes()).await.expect("LMTP data");
    lmtp_reply(&mut r, '2', "end of data").await;
    w.write_all(b"QUIT\r\n").await.expect("LMTP quit");
}

/// Puts `lines` at the top of the daemon configuration's `[smtp]` section.
fn smtp_settings(d: &Daemon, lines: &str) {
    let text = std::fs::read_to_string(&d.config).expect("config");
    assert!(text.contains("[smtp]\n"), "{text}");
    std::fs::write(
        &d.config,
        text.replacen("[smtp]\n", &format!("[smtp]\n{lines}\n"), 1),
    )
    .expect("write config");
}

/// The `imap.disconnected` events so far, each checked to announce its reconnect delay.
fn disconnects(d: &Daemon) -> Vec<serde_json::Value> {
    let events = d.events("imap.disconnected");
    for e in &events {
        let delay = e["retry_in_ms"].as_u64().unwrap_or(0);
        // 2 s · 2ⁿ with ±25 % jitter: never an immediate retry.
        assert!(delay >= 1000, "a reconnect without backoff: {e}");
    }
    events
}

/// Every customer in `customers` has exactly one acknowledgement, and the agent exactly one
/// notification per ticket (distinct Message-IDs, one copy each).
async fn acknowledged_once(stack: &Stack, d: &Daemon, customers: &[String]) {
    for c in customers {
        let mail = mailbox(stack, c).await;
        assert_eq!(mail.len(), 1, "{c}: exactly one acknowledgement");
        let subject = mail[0].header("Subject").unwrap_or_default();
        assert!(subject.contains("[Acme Support #"), "{c}: {subject}");
    }
    let notes = mailbox(stack, &d.agent).await;
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for n in &notes {
        *copies
            .entry(n.header("Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(
        notes.len(),
        customers.len(),
        "one notification per ticket: {copies:?}"
    );
    assert!(
        copies.values().all(|&n| n == 1),
        "no notification twice: {copies:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn dovecot_restart_while_idling_is_reconnected_with_backoff() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customers: Vec<String> = ["before", "during", "after"]
        .iter()
        .map(|n| format!("{}@customer.test", unique(n)))
        .collect();
    // One mail first: the daemon is in IDLE, with a pooled SMTP connection besides.
    send_customer_mail(&stack, "Before", &customers[0], &d.support, "Before", "Hi.").await;
    wait_for_mail(&stack, &customers[0], 1).await;
    assert!(disconnects(&d).is_empty(), "{}", d.log_text());

    // Dovecot restarts under the IDLE; a mail is sent meanwhile (its provider retries until
    // Postfix takes it, and Postfix until Dovecot's LMTP does) and one after.
    let during = customer_mail("During", &customers[1], &d.support, "During", "Hi.");
    tokio::join!(mailstack(&stack, &["restart-dovecot"]), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        inject_retrying(&stack, &customers[1], &d.support, &during).await;
    });
    send_customer_mail(&stack, "After", &customers[2], &d.support, "After", "Hi.").await;
    for c in &customers[1..] {
        eventually(Duration::from_secs(90), "an acknowledgement", async || {
            (!mailbox(&stack, c).await.is_empty()).then_some(())
        })
        .await;
    }
    wait_quiet(&stack, &d).await;

    let down = disconnects(&d);
    assert!(
        !down.is_empty(),
        "the restart was noticed: {}",
        d.log_text()
    );
    assert!(
        d.events("imap.connected").len() >= 2,
        "a new session after the restart"
    );
    assert!(d.running(), "the daemon rode it out");
    acknowledged_once(&stack, &d, &customers).await;
    assert_eq!(
        d.events("mail.processed").len(),
        3,
        "each mail processed once"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn postfix_outage_is_retried_with_backoff_and_every_ack_arrives_once() {
    let stack = Stack::get();
    let mut d = Daemon::configure(&stack, Options::default());
    smtp_settings(&d, "retry_initial_seconds = 2\nretry_max_seconds = 8");
    d.launch().await;
    let first = format!("{}@customer.test", unique("first"));
    send_customer_mail(&stack, "First", &first, &d.support, "First", "Hi.").await;
    wait_for_mail(&stack, &first, 1).await;
    wait_quiet(&stack, &d).await;

    // Postfix goes down. Mail keeps arriving through Dovecot's LMTP: some at once (the
    // daemon has acknowledgements to send and nowhere to send them), some halfway.
    mailstack(&stack, &["stop-postfix"]).await;
    let down_at = Instant::now();
    let early: Vec<String> = (0..3)
        .map(|_| format!("{}@customer.test", unique("early")))
        .collect();
    let late: Vec<String> = (0..2)
        .map(|_| format!("{}@customer.test", unique("late")))
        .collect();
    for c in &early {
        let raw = customer_mail("Early", c, &d.support, "During the outage", "Hi.");
        lmtp_deliver(&stack, c, &d.support, &raw).await;
    }
    d.wait_processed(1 + early.len()).await;
    tokio::time::sleep(POSTFIX_OUTAGE / 2).await;
    for c in &late {
        let raw = customer_mail("Late", c, &d.support, "Later in the outage", "Hi.");
        lmtp_deliver(&stack, c, &d.support, &raw).await;
    }
    d.wait_processed(1 + early.len() + late.len()).await;
    tokio::time::sleep(POSTFIX_OUTAGE.saturating_sub(down_at.elapsed())).await;
    let retries = d.events("outbox.retry");
    let sent_during = d.events("outbox.sent").len();
    mailstack(&stack, &["start-postfix"]).await;

    let mut customers = vec![first];
    customers.extend(early);
    customers.extend(late);
    for c in &customers {
        eventually(Duration::from_secs(60), "an acknowledgement", async || {
            (!mailbox(&stack, c).await.is_empty()).then_some(())
        })
        .await;
    }
    wait_quiet(&stack, &d).await;

    assert_eq!(sent_during, 2, "nothing but the first mail's two went out");
    // Every mail queued in the outage was retried, each with a growing delay.
    let mut delays: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &retries {
        delays
            .entry(r["mid"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(r["retry_in_s"].as_u64().expect("retry_in_s"));
    }
    assert_eq!(
        delays.len(),
        2 * (customers.len() - 1),
        "an acknowledgement and a notification per mail of the outage were retried: {delays:?}"
    );
    // The third delay is 8 s (2 · 2², ± 20 %, whole seconds: 6..9), at least three times
    // the first (2 s ± 20 %: 1..2); a constant delay never gets there.
    let long: Vec<&Vec<u64>> = delays.values().filter(|d| d.len() >= 3).collect();
    assert!(!long.is_empty(), "several retries per mail: {delays:?}");
    for series in long {
        assert!(
            series[2] >= 3 * series[0].max(1),
            "retries back off: {delays:?}"
        );
    }
    assert!(
        d.events("outbox.dead").is_empty(),
        "an outage is no dead letter"
    );
    acknowledged_once(&stack, &d, &customers).await;
    let outbox = d.cli_json(&["outbox", "list"]);
    assert_eq!(outbox["pending"], serde_json::json!([]), "{outbox}");
    d.stop().await;
}

/// A TCP proxy between the daemon and Dovecot that can cut a connection after a number of
/// bytes from the server: the real server behind it, a broken network in between.
struct Proxy {
    port: u16,
    /// Bytes from the server still let through before the cut; `None`: no cut armed.
    budget: Arc<std::sync::Mutex<Option<u64>>>,
    cuts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let budget = Arc::new(std::sync::Mutex::new(None));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (b, c) = (budget.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, b.clone(), c.clone()));
            }
        });
        Proxy {
            port,
            budget,
            cuts,
            task,
        }
    }

    /// Cuts the connection once `bytes` more have come from the server.
    fn cut_after(&self, bytes: u64) {
        *self.budget.lock().expect("budget") = Some(bytes);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    budget: Arc<std::sync::Mutex<Option<u64>>>,
    cuts: Arc<AtomicUsize>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::io::copy(&mut cr, &mut sw);
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let cut = {
                let mut b = budget.lock().expect("budget");
                match *b {
                    Some(left) if n as u64 >= left => {
                        *b = None;
                        Some(left as usize)
                    }
                    Some(left) => {
                        *b = Some(left - n as u64);
                        None
                    }
                    None => None,
                }
            };
            if let Some(keep) = cut {
                let _ = cw.write_all(&buf[..keep]).await;
                cuts.fetch_add(1, Ordering::SeqCst);
                return;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    // Either direction ending ends both: the halves drop and both connections close.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn imap_connection_cut_mid_fetch_is_fetched_again_and_acknowledged_once() {
    const SIZE: usize = 4 * 1024 * 1024;
    let stack = Stack::get();
    let proxy = Proxy::start(stack.imap_port).await;
    let mut d = Daemon::configure(&stack, Options::default());
    let text = std::fs::read_to_string(&d.config).expect("config");
    let imap_port = format!("port = {}\n", stack.imap_port);
    assert!(text.contains(&imap_port), "{text}");
    std::fs::write(
        &d.config,
        text.replacen(&imap_port, &format!("port = {}\n", proxy.port), 1),
    )
    .expect("write config");
    d.launch().await;

    // The next FETCH is cut a quarter of the way into the mail's literal.
    proxy.cut_after(SIZE as u64 / 4);
    let big = format!("{}@customer.test", unique("big"));
    send_raw(
        &stack,
        Some(&big),
        &d.support,
        &large_mail(&big, &d.support, SIZE),
    )
    .await;
    wait_for_mail(&stack, &big, 1).await;
    wait_quiet(&stack, &d).await;

    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 1, "the cut happened");
    let down = disconnects(&d);
    assert_eq!(down.len(), 1, "one lost session: {down:?}");
    let error = down[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("FETCH"),
        "lost in the middle of the FETCH: {error}"
    );
    assert!(d.events("imap.connected").len() >= 2, "reconnected");
    acknowledged_once(&stack, &d, std::slice::from_ref(&big)).await;
    d.stop().await;
    // Stored once, whole.
    let mails = d.cli_json(&["mail", "list"]);
    let mails = mails.as_array().expect("mail list");
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0]["size"].as_u64().unwrap_or(0) >= SIZE as u64,
        "the whole mail was stored: {}",
        mails[0]
    );
    assert_eq!(mails[0]["outcome"]["outcome"], "new-ticket");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn refused_recipient_is_a_dead_letter_until_fixed_and_retried() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    // Postfix refuses the agent's address for good (550 at RCPT TO).
    mailstack(&stack, &["refuse", &d.agent]).await;
    let cleanup = d.agent.clone();
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(&stack, "Kim Kurz", &kim, &d.support, "Refused", "Hello.").await;
    wait_for_mail(&stack, &kim, 1).await;
    let dead = eventually(Duration::from_secs(30), "a dead letter", async || {
        d.events("outbox.dead").pop()
    })
    .await;
    assert!(
        d.events("outbox.retry").is_empty(),
        "a 5xx is not retried: {:?}",
        d.events("outbox.retry")
    );
    // The CLI shows it, with the server's own words.
    let listed = d.cli(&["outbox", "list"]);
    assert!(listed.contains("0 queued, 1 dead"), "{listed}");
    assert!(listed.contains("dead"), "{listed}");
    let json = d.cli_json(&["outbox", "list"]);
    let error = json["dead"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("550") && error.contains("refused by the test stack"),
        "the server's text: {error}"
    );
    assert_eq!(
        json["dead"][0]["entry"]["kind"], "agent-notification",
        "{json}"
    );
    assert!(mailbox(&stack, &d.agent).await.is_empty());

    // The cause is fixed; `outbox retry` sends it, once.
    mailstack(&stack, &["accept", &cleanup]).await;
    let out = d.cli(&["outbox", "retry"]);
    assert!(out.contains("1 dead letter"), "{out}");
    let note = &wait_for_mail(&stack, &d.agent, 1).await[0];
    assert!(note.text().contains("Hello."), "{}", note.text());
    wait_quiet(&stack, &d).await;
    let resent: Vec<_> = d
        .events("outbox.sent")
        .into_iter()
        .filter(|e| e["mid"] == dead["mid"])
        .collect();
    assert_eq!(resent.len(), 1, "sent once after the retry: {resent:?}");
    assert_eq!(resent[0]["attempts"], 2, "{resent:?}");
    let listed = d.cli(&["outbox", "list"]);
    assert!(listed.contains("0 queued, 0 dead"), "{listed}");
    // A second retry has nothing to do.
    assert!(d.cli(&["outbox", "retry"]).contains("0 dead letter"));
    wait_quiet(&stack, &d).await;
    acknowledged_once(&stack, &d, std::slice::from_ref(&kim)).await;
    d.stop().await;
}

/// A proxy in front of Dovecot that hides what the server announces during IDLE (untagged
/// EXISTS, RECENT, FETCH, EXPUNGE), as a server whose IDLE does not push behaves (Debian's
/// stock Cyrus without `idled`, proxies that drop IDLE silently). Outside IDLE the bytes pass
/// unchanged.
async fn start_mute_idle_proxy(upstream: u16) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
    let port = listener.local_addr().expect("proxy address").port();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            tokio::spawn(mute_pipe(client, server));
        }
    });
    (port, task)
}

async fn mute_pipe(client: TcpStream, server: TcpStream) {
    let idling = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let flag = idling.clone();
    // The client's commands pass; IDLE and DONE switch the filter on and off.
    let up = copy_lines(cr, sw, move |text| {
        let command = text.trim_end().to_ascii_uppercase();
        if command.ends_with(" IDLE") {
            flag.store(true, Ordering::SeqCst);
        } else if command == "DONE" {
            flag.store(false, Ordering::SeqCst);
        }
        true
    });
    // The server's lines pass, but for its announcements while in IDLE.
    let down = copy_lines(sr, cw, move |text| {
        let announcement = text.starts_with("* ")
            && ["EXISTS", "RECENT", "FETCH", "EXPUNGE"]
                .iter()
                .any(|w| text.contains(w))
            && !text.contains('{');
        !(idling.load(Ordering::SeqCst) && announcement)
    });
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Copies `from` to `to` line by line, each line whole and unchanged unless `keep` says to
/// drop it, until either side ends.
async fn copy_lines(
    from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    mut keep: impl FnMut(&str) -> bool,
) {
    let mut lines = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if keep(&String::from_utf8_lossy(&line)) && to.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// Issue 13: with a server whose IDLE does not push, `imap.idle_check_seconds` still finds
/// new mail within the check interval, and the log says that IDLE was silent.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn idle_check_finds_mail_a_silent_idle_did_not_announce() {
    let stack = Stack::get();
    let (port, proxy) = start_mute_idle_proxy(stack.imap_port).await;
    let mut d = Daemon::configure(
        &stack,
        Options {
            imap_extra: "idle_check_seconds = 10".into(),
            ..Options::default()
        },
    );
    let text = std::fs::read_to_string(&d.config).expect("config");
    let imap_port = format!("port = {}\n", stack.imap_port);
    std::fs::write(
        &d.config,
        text.replacen(&imap_port, &format!("port = {port}\n"), 1),
    )
    .expect("write config");
    d.launch().await;

    let ana = format!("{}@customer.test", unique("ana"));
    send_customer_mail(&stack, "Ana", &ana, &d.support, "Unannounced", "Hi.").await;
    // Without the check the mail would wait for the IDLE renewal (20 minutes).
    wait_for_mail(&stack, &ana, 1).await;
    let silent = eventually(
        Duration::from_secs(20),
        "the silent-IDLE line",
        async || d.events("imap.idle-silent").pop(),
    )
    .await;
    assert!(
        silent["silent_s"].as_u64().is_some_and(|s| s >= 1),
        "{silent}"
    );
    assert_eq!(d.events("imap.disconnected").len(), 0, "{}", d.log_text());
    d.stop().await;
    proxy.abort();
}
