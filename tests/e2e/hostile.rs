//! The hostile corpus end to end: every case of `tests/corpus/hostile/README.md` (the big
//! generated ones too) is delivered to a running `frontdesk run` against the real Dovecot +
//! Postfix of `scripts/mailstack`, and each gets the outcome its row names in
//! `frontdesk mail list --json`; the daemon stays up; every acknowledgement that reaches a
//! customer's mailbox has only our own, well-formed header fields, is addressed to that
//! customer alone and carries no attachment; nobody else named in a hostile mail gets one;
//! the agent's notifications have well-formed headers of ours too, and the 25 MB file.
//! `#[ignore]`d like the other end-to-end tests: `scripts/test` starts the stack and runs it.
//!
//! The mails go in over LMTP, straight into the support mailbox, byte for byte: Postfix
//! treats a loopback client as local and repairs what it gets (adds a missing From,
//! Message-ID, Date), which would hide several cases. Acknowledgements and notifications
//! go out through Postfix as always.

/// The corpus and the header check, shared with `tests/hostile.rs` (and, the check, with the
/// fuzz target), so they stay beside that binary; the pure pipeline's part is not needed here.
#[path = "../hostile_support"]
mod hostile_support {
    pub mod corpus;
    pub mod shared;
}

use std::time::{Duration, Instant};

use crate::common::*;
use frontdesk::testing::{describe_listed, matches};
use hostile_support::corpus::{Case, cases};
use hostile_support::shared::{LIMIT, header_fields};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The LMTP port of the running stack (`STACK_LMTP_PORT` in its `stack.env`).
fn lmtp_port(stack: &Stack) -> u16 {
    let env = std::fs::read_to_string(stack.dir.join("stack.env")).expect("stack.env");
    env.lines()
        .find_map(|l| l.strip_prefix("STACK_LMTP_PORT="))
        .and_then(|p| p.trim().trim_matches('"').parse().ok())
        .expect("STACK_LMTP_PORT in stack.env")
}

/// A minimal LMTP client (RFC 2033) that delivers `raw` unchanged but for dot-stuffing and
/// a final CRLF (the protocol needs both). `None` as `from` is the null sender.
async fn lmtp_deliver(port: u16, from: Option<&str>, to: &str, raw: &[u8]) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("LMTP connect");
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    // Reads one (possibly multi-line) reply and checks its code class.
    async fn reply(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, want: char, what: &str) {
        loop {
            let mut line = String::new();
            read.read_line(&mut line).await.expect("LMTP reply");
            assert!(
                line.starts_with(want),
                "LMTP {what}: expected {want}xx, got {line:?}"
            );
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }
    reply(&mut read, '2', "greeting").await;
    let from = from.unwrap_or("");
    for (cmd, want) in [
        ("LHLO localhost".to_string(), '2'),
        (format!("MAIL FROM:<{from}>"), '2'),
        (format!("RCPT TO:<{to}>"), '2'),
        ("DATA".to_string(), '3'),
    ] {
        write
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .expect("LMTP write");
        reply(&mut read, want, &cmd).await;
    }
    let mut data = Vec::with_capacity(raw.len() + raw.len() / 50 + 8);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            data.push(b'.');
        }
        data.push(b);
        at_line_start = b == b'\n';
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    write.write_all(&data).await.expect("LMTP data");
    reply(&mut read, '2', "end of data").await;
    write.write_all(b"QUIT\r\n").await.expect("LMTP quit");
}

/// `haystack` with every `from` replaced by `to`.
fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// A case addressed to the test daemon: `support@example.test` (and reply addresses
/// `support+…`) in the header section become the daemon's own address.
fn for_daemon(raw: &[u8], support: &str, local: &str) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = replace_all(&raw[..end], b"support@example.test", support.as_bytes());
    let mut out = replace_all(&head, b"support+", format!("{local}+").as_bytes());
    out.extend_from_slice(&raw[end..]);
    out
}

/// The header section of a delivered mail without the fields the delivery path put on top
/// (Dovecot's Return-Path and Delivered-To, Postfix's Received): what our daemon wrote.
fn as_sent(raw: &[u8]) -> Vec<u8> {
    let added = [
        "return-path:",
        "delivered-to:",
        "received:",
        "x-original-to:",
    ];
    let mut rest = raw;
    let mut skipping = false;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..eol];
        let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
        if added.iter().any(|a| lower.starts_with(a)) {
            skipping = true;
        } else if !(skipping && line.first().is_some_and(|b| *b == b' ' || *b == b'\t')) {
            break;
        }
        rest = &rest[eol + 2..];
    }
    rest.to_vec()
}

/// The sender a case's acknowledgement would go to, if a mailbox of the stack can hold it.
fn deliverable_sender(raw: &[u8]) -> Option<String> {
    let from = frontdesk::mail::parse::parse_bytes(raw).ok()?.from?.address;
    (from.domain() == "customer.test" && from.as_str().is_ascii()).then(|| from.to_string())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn hostile_mail_gets_its_outcome_and_the_daemon_stays_up() {
    let stack = Stack::get();
    let port = lmtp_port(&stack);
    let mut d = Daemon::start(
        &stack,
        Options {
            extra: format!("[limits]\nmax_message_bytes = {LIMIT}\n"),
            ..Options::default()
        },
    )
    .await;
    let local = d.support.split('@').next().expect("local part").to_string();
    let started = Instant::now();

    // Deliver every case in the table's order; UIDs follow that order.
    let cases: Vec<Case> = cases("e2e");
    let mut sent: Vec<(Case, Vec<u8>)> = Vec::new();
    for case in cases {
        let raw = for_daemon(&case.bytes(), &d.support, &local);
        let null_sender = ["return-path-null.eml", "fake-bounce.eml"].contains(&case.name.as_str());
        let from = (!null_sender).then_some("envelope@customer.test");
        lmtp_deliver(port, from, &d.support, &raw).await;
        sent.push((case, raw));
    }

    // Every mail gets an outcome.
    let n = sent.len();
    let deadline = Instant::now() + Duration::from_secs(90);
    let list = loop {
        let list = d.cli_json(&["mail", "list"]);
        let all = list.as_array().cloned().unwrap_or_default();
        if all.len() >= n && all.iter().all(|e| describe_listed(e).is_some()) {
            break all;
        }
        if Instant::now() > deadline {
            let log = d.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "{} of {n} mails stored, {} with an outcome, after 90 s; the daemon's log ends:\n{}",
                all.len(),
                all.iter().filter(|e| describe_listed(e).is_some()).count(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(list.len(), n, "one stored mail per delivered case");
    let mut by_uid = list.clone();
    by_uid.sort_by_key(|e| e["uid"].as_u64());
    let mut failures = Vec::new();
    for ((case, _), entry) in sent.iter().zip(&by_uid) {
        let got = describe_listed(entry).unwrap_or_default();
        if !matches(&case.expect, &got) {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case.name, case.expect
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));

    // Everything queued went out (or, for the UTF-8 address, into the dead letters).
    eventually(Duration::from_secs(60), "the outbox to drain", async || {
        let queued: u64 = d
            .events("mail.processed")
            .iter()
            .map(|e| e["queued"].as_u64().unwrap_or(0))
            .sum();
        let done = (d.events("outbox.sent").len() + d.events("outbox.dead").len()) as u64;
        (done >= queued && stack.postfix_queue_empty()).then_some(())
    })
    .await;

    // The daemon is up, started once, and never hit the pipeline's panic guard.
    assert!(d.running(), "the daemon stopped:\n{}", d.log_text());
    assert_eq!(d.events("ingest.ready").len(), 1, "the daemon restarted");
    assert!(
        !d.log_text().contains("BUG: processing panicked"),
        "the pipeline panicked:\n{}",
        d.log_text()
    );

    // Each acknowledged customer has exactly one acknowledgement from this daemon, clean.
    let ours = |m: &Fetched| {
        m.header("X-Frontdesk-Loop").as_deref() == Some(d.support.as_str())
            || m.header("From").is_some_and(|f| f.contains(&d.support))
    };
    let mut acked = 0;
    for (case, raw) in &sent {
        if case.expect != "ack" {
            continue;
        }
        let Some(customer) = deliverable_sender(raw) else {
            continue;
        };
        let mine: Vec<Fetched> = mailbox(&stack, &customer)
            .await
            .into_iter()
            .filter(|m| ours(m))
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "{}: acknowledgements to {customer}",
            case.name
        );
        let ack = &mine[0];
        let head = as_sent(&ack.raw);
        if let Err(e) = header_fields(&head) {
            panic!("{}: {e}\n{}", case.name, String::from_utf8_lossy(&head));
        }
        let parsed = ack.parsed();
        let to: Vec<String> = parsed
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(to, vec![customer.clone()], "{}", case.name);
        assert_eq!(parsed.attachment_count(), 0, "{}: attachments", case.name);
        assert_eq!(
            ack.header("Auto-Submitted").as_deref(),
            Some("auto-replied"),
            "{}",
            case.name
        );
        acked += 1;
    }
    assert!(acked >= 40, "only {acked} acknowledgements checked");

    // Nobody else a hostile mail named (Cc, Reply-To, other authors, 5,000 recipients) got
    // anything from us.
    for bystander in [
        "victim@customer.test",
        "victim2@customer.test",
        "everyone@customer.test",
        "duplicate-headers@customer.test",
        "group-b@customer.test",
        "from1@customer.test",
        "from999@customer.test",
        "r0@customer.test",
        "r4999@customer.test",
        "c0@customer.test",
        "inner@customer.test",
        "envelope@customer.test",
    ] {
        let got = mailbox(&stack, bystander)
            .await
            .iter()
            .filter(|m| ours(m))
            .count();
        assert_eq!(got, 0, "{bystander} got mail from us");
    }

    // The agent got the 25 MB file; the customer's acknowledgement (checked above) did not.
    let agent_mail = mailbox(&stack, &d.agent).await;
    assert!(
        agent_mail.len() >= acked,
        "{} notifications",
        agent_mail.len()
    );
    for m in &agent_mail {
        if let Err(e) = header_fields(&as_sent(&m.raw)) {
            panic!("a notification to the agent: {e}");
        }
    }
    let big = agent_mail
        .iter()
        .find(|m| m.raw.len() > 25 * 1024 * 1024)
        .expect("the agent's notification with the 25 MB attachment");
    let sizes: Vec<usize> = big.parsed().attachments().map(|a| a.len()).collect();
    assert_eq!(sizes, vec![25 * 1024 * 1024]);

    d.stop().await;
    eprintln!(
        "hostile corpus end to end: {n} mails in {:?}",
        started.elapsed()
    );
}
