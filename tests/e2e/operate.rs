//! Operating the daemon, end to end against the real Dovecot + Postfix of `scripts/mailstack`:
//! reload on SIGHUP, a drain on SIGTERM that loses nothing, and `/metrics` + `/healthz`.
//! `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` over HTTP/1.0: the status code and the body.
async fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the metrics listener");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, body.to_string())
}

/// The value of one sample line (`name{labels} value`) in a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn sighup_applies_a_good_configuration_and_refuses_a_broken_one() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let original = std::fs::read_to_string(&d.config).expect("config");

    // A good configuration: the agent's name changes, and the next acknowledgement says so.
    std::fs::write(
        &d.config,
        original.replace("name = \"Jason Miller\"", "name = \"Jason Reloaded\""),
    )
    .expect("write config");
    d.signal("HUP");
    eventually(Duration::from_secs(10), "the reload", async || {
        (!d.events("config.reloaded").is_empty()).then_some(())
    })
    .await;
    let bea = format!("{}@customer.test", unique("bea"));
    send_customer_mail(&stack, "Bea", &bea, &d.support, "After reload", "Hi.").await;
    let ack = &wait_for_mail(&stack, &bea, 1).await[0];
    assert!(ack.text().contains("Jason Reloaded"), "{}", ack.text());

    // A broken one is refused with the key named, and the previous one keeps running.
    std::fs::write(
        &d.config,
        original.replace(
            &format!("email = \"{}\"", d.agent),
            "email = \"not an address\"",
        ),
    )
    .expect("write config");
    d.signal("HUP");
    let refused = eventually(Duration::from_secs(10), "the refusal", async || {
        d.events("config.reload-refused").pop()
    })
    .await;
    let why = refused["error"].as_str().unwrap_or_default();
    assert!(why.contains("agents") && why.contains("fix:"), "{why}");
    assert!(d.running(), "a broken reload must not stop the daemon");
    let cem = format!("{}@customer.test", unique("cem"));
    send_customer_mail(&stack, "Cem", &cem, &d.support, "After refusal", "Hi.").await;
    let ack = &wait_for_mail(&stack, &cem, 1).await[0];
    assert!(ack.text().contains("Jason Reloaded"), "{}", ack.text());
    // Reloading kept the IMAP session: one connection for the whole test.
    assert_eq!(d.events("imap.connected").len(), 1, "{}", d.log_text());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn sigterm_during_a_burst_exits_cleanly_and_loses_nothing() {
    const BURST: usize = 120;
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customers: Vec<String> = (0..BURST)
        .map(|_| format!("{}@customer.test", unique("burst")))
        .collect();
    let support = d.support.clone();
    let sends = futures::future::join_all(
        customers
            .iter()
            .map(|c| send_customer_mail(&stack, "Burst Customer", c, &support, "Burst", "Hello.")),
    );
    // Stop while the burst is being handled: some mails done, the rest still arriving.
    let stop = async {
        d.wait_processed(1).await;
        d.stop().await; // asserts exit status 0 within its bound
        (d.events("mail.processed").len(), d.sent("Acknowledgement"))
    };
    let (_, (processed_before, acked_before)) = tokio::join!(sends, stop);
    d.launch().await;
    wait_quiet(&stack, &d).await;
    assert_eq!(d.events("mail.processed").len(), BURST, "each mail once");
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_eq!(tickets.as_array().expect("tickets").len(), BURST);
    for c in &customers {
        assert_eq!(
            mailbox(&stack, c).await.len(),
            1,
            "one acknowledgement for {c}"
        );
    }
    assert!(
        processed_before < BURST || acked_before < BURST,
        "the stop came mid-burst ({processed_before} processed, {acked_before} acknowledged of {BURST})"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn metrics_and_health_follow_the_mail() {
    let stack = Stack::get();
    let port = free_port();
    let d = Daemon::start(
        &stack,
        Options {
            extra: format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
            ..Options::default()
        },
    )
    .await;
    let (code, health) = http_get(port, "/healthz").await;
    assert_eq!(code, 200, "{health}");
    let h: serde_json::Value = serde_json::from_str(&health).expect("health JSON");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["inboxes"][0]["connected"], true);

    let dora = format!("{}@customer.test", unique("dora"));
    send_customer_mail(&stack, "Dora", &dora, &d.support, "Counted", "Hi.").await;
    let robot = format!(
        "From: <robot@customer.test>\r\nTo: {to}\r\nSubject: Report\r\nMessage-ID: <{id}@customer.test>\r\n\
Auto-Submitted: auto-generated\r\n\r\nnightly report\r\n",
        to = d.support,
        id = unique("r")
    );
    send_raw(&stack, Some("robot@customer.test"), &d.support, &robot).await;
    wait_for_mail(&stack, &dora, 1).await;
    wait_quiet(&stack, &d).await;

    let (code, text) = http_get(port, "/metrics").await;
    assert_eq!(code, 200);
    let agent = format!("frontdesk_open_tickets{{agent=\"{}\"}}", d.agent);
    for (series, want) in [
        ("frontdesk_mails_ingested_total", 2.0),
        (
            "frontdesk_mails_processed_total{outcome=\"new_ticket\"}",
            1.0,
        ),
        (
            "frontdesk_mails_processed_total{outcome=\"suppressed\"}",
            1.0,
        ),
        (
            "frontdesk_mails_suppressed_total{reason=\"auto_submitted\"}",
            1.0,
        ),
        ("frontdesk_mails_sent_total{kind=\"acknowledgement\"}", 1.0),
        ("frontdesk_ack_latency_seconds_count", 1.0),
        ("frontdesk_outbox_depth", 0.0),
        ("frontdesk_dead_letters", 0.0),
        (agent.as_str(), 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in:\n{text}");
    }
    let own = sample(&text, "frontdesk_ack_latency_seconds_sum").expect("latency sum");
    assert!(own > 0.0 && own < 30.0, "latency {own}");
    let (code, _) = http_get(port, "/nowhere").await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn two_inboxes_share_one_daemon_and_a_failing_third_is_loud() {
    let stack = Stack::get();
    let port = free_port();
    let billing = format!("{}@example.test", unique("billing"));
    let ops = format!("{}@example.test", unique("ops"));
    // The third inbox's account is refused by Dovecot (not one of the test domains).
    let extra = format!(
        r#"
[[inboxes]]
name = "billing"
address = "{billing}"
[inboxes.imap]
host = "127.0.0.1"
port = {imap}
tls = "none"
password = "{pw}"

[[inboxes]]
name = "broken"
address = "help@elsewhere.test"
[inboxes.imap]
host = "127.0.0.1"
port = {imap}
tls = "none"
password = "wrong"

[alerts]
to = "{ops}"
after_failures = 1

[metrics]
listen = "127.0.0.1:{port}"
"#,
        imap = stack.imap_port,
        pw = stack.password,
    );
    let d = Daemon::start(
        &stack,
        Options {
            extra,
            ..Options::default()
        },
    )
    .await;

    let (eva, finn) = (
        format!("{}@customer.test", unique("eva")),
        format!("{}@customer.test", unique("finn")),
    );
    send_customer_mail(&stack, "Eva", &eva, &d.support, "Support question", "Hi.").await;
    send_customer_mail(&stack, "Finn", &finn, &billing, "Invoice question", "Hi.").await;
    // Each customer is answered from the address they wrote to, despite the broken inbox.
    let from = |m: &Fetched| {
        m.parsed()
            .from()
            .and_then(|f| f.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    let ack = &wait_for_mail(&stack, &eva, 1).await[0];
    assert_eq!(from(ack).as_deref(), Some(d.support.as_str()));
    let ack = &wait_for_mail(&stack, &finn, 1).await[0];
    assert_eq!(from(ack).as_deref(), Some(billing.as_str()));
    // The agent answers billing's ticket through billing's address.
    let notes = wait_for_mail(&stack, &d.agent, 2).await;
    let billing_local = billing.split('@').next().unwrap_or_default();
    assert!(
        notes.iter().any(|n| n
            .header("Reply-To")
            .is_some_and(|r| r.contains(&format!("{billing_local}+")))),
        "a notification with billing's reply address"
    );

    // Loud: an alert mail to ops, /healthz degraded naming the inbox, a failure counter.
    let alert = &wait_for_mail(&stack, &ops, 1).await[0];
    let subject = alert.parsed().subject().unwrap_or_default().to_string();
    assert!(
        subject.contains("inbox broken is not being read"),
        "{subject}"
    );
    let (code, health) = http_get(port, "/healthz").await;
    assert_eq!(code, 503, "{health}");
    assert!(health.contains("inbox broken is not connected"), "{health}");
    let (_, text) = http_get(port, "/metrics").await;
    assert_eq!(
        sample(&text, "frontdesk_imap_connected{inbox=\"billing\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "frontdesk_imap_connected{inbox=\"broken\"}"),
        Some(0.0)
    );
    assert!(
        sample(&text, "frontdesk_imap_failures_total{inbox=\"broken\"}").is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

/// The notifications (`READY=1`, `WATCHDOG=1` …) that reach `socket` within `window`.
async fn notifications(socket: &tokio::net::UnixDatagram, window: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    let end = tokio::time::Instant::now() + window;
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, socket.recv(&mut buf)).await {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// How many of `notes` are watchdog pings.
fn pings(notes: &[String]) -> usize {
    notes.iter().filter(|n| n.contains("WATCHDOG=1")).count()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_stalled_store_stops_the_watchdog_pings_until_it_moves_again() {
    let stack = Stack::get();
    let port = free_port();
    let mut d = Daemon::configure(
        &stack,
        Options {
            extra: format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
            ..Options::default()
        },
    );
    let socket_path = d.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    // The test kit's hook: while this file exists, every flush of the store waits.
    let hold = d.dir.path().join("hold-flush");
    d.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        ("WATCHDOG_USEC".into(), "2000000".into()),
        (
            frontdesk::store::HOLD_FLUSH_ENV.into(),
            hold.display().to_string(),
        ),
    ];
    d.launch().await;
    let before = notifications(&socket, Duration::from_secs(3)).await;
    assert!(pings(&before) >= 2, "pinged every second: {before:?}");

    // The store hangs in the flush after the new mail is stored (flush #1).
    std::fs::write(&hold, "").expect("hold the store's flushes");
    let gus = format!("{}@customer.test", unique("gus"));
    send_customer_mail(&stack, "Gus", &gus, &d.support, "Stalled", "Hello?").await;
    let stalled = eventually(
        Duration::from_secs(30),
        "the stall to be noticed",
        async || d.events("daemon.stalled").pop(),
    )
    .await;
    let workers = stalled["workers"].as_str().unwrap_or_default();
    assert_eq!(
        workers,
        format!("ingest {}", d.support.split('@').next().unwrap_or_default())
    );
    // Earlier pings are queued on the socket: take them, then none may come.
    notifications(&socket, Duration::from_millis(200)).await;
    let during = notifications(&socket, Duration::from_secs(5)).await;
    assert_eq!(pings(&during), 0, "no ping while stalled: {during:?}");
    let (code, health) = http_get(port, "/healthz").await;
    assert_eq!(code, 503, "{health}");
    assert!(health.contains("has made no progress"), "{health}");
    assert!(d.running(), "only systemd's watchdog ends a stalled daemon");
    assert!(
        mailbox(&stack, &gus).await.is_empty(),
        "nothing sent while stalled"
    );

    // Unstuck, it carries on: the pings come back, the mail is answered once.
    std::fs::remove_file(&hold).expect("release the store");
    let after = notifications(&socket, Duration::from_secs(4)).await;
    assert!(pings(&after) >= 1, "pinged again: {after:?}");
    assert_eq!(d.events("daemon.progressing").len(), 1, "{}", d.log_text());
    wait_for_mail(&stack, &gus, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(mailbox(&stack, &gus).await.len(), 1, "one acknowledgement");
    let (code, health) = http_get(port, "/healthz").await;
    assert_eq!(code, 200, "{health}");
    d.stop().await;
}
