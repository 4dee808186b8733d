//! Issue 10's end-to-end acceptance: agents' answers, written in real mail clients' shapes,
//! reach the customer exactly as written, through a running daemon and the real Dovecot +
//! Postfix.
//!
//! - `corpus_answers_reach_the_customer_as_written`: [`CASES`] of the replies corpus
//!   (`tests/corpus/replies/`). For each, a customer writes in over SMTP; the daemon opens the
//!   ticket and notifies the agent; the test reads that notification from the agent's mailbox
//!   over IMAP, renders the case's client shape around it (its text, Message-ID, subject and
//!   Reply-To, `tests/replies_support/render.rs`) and sends the answer as the agent over SMTP
//!   to the Reply-To address. The customer's mailbox must then hold the case's expected text
//!   (as words, as `tests/replies.rs` compares) and nothing of the notification's internals.

use std::time::Instant;

use crate::common::*;
use frontdesk::compose::{NOTIFICATION_SENTENCES, notification_marker};
use frontdesk::domain::TicketId;
use replies_support::render::{Notification, Shape};
use replies_support::table::{Case, Expect, cases};

/// The corpus's renderer and table, shared with `tests/replies.rs`.
#[path = "../replies_support"]
mod replies_support {
    pub mod render;
    // `hand_made` is the replies binary's own check.
    #[allow(dead_code)]
    pub mod table;
}

/// The corpus cases sent through the daemon, each with what it stands for.
#[rustfmt::skip]
const CASES: &[(&str, &str)] = &[
    ("crisp-inline-three-answers", "inline answers (Apple Mail)"),
    ("gh-inline-answers", "inline answers, signature (Gmail)"),
    ("crisp-forward-included", "forward included on purpose"),
    ("crisp-outlook-german", "Outlook unprefixed, de header block"),
    ("talon-outlook-french-envoye", "Outlook unprefixed, fr header block"),
    ("crisp-gmail-dutch-wrapped", "Gmail nl, wrapped attribution"),
    ("talon-gmail-polish-wrapped", "Gmail pl, unprefixed"),
    ("talon-android-russian-base64", "Gmail for Android ru, base64"),
    ("talon-gmail-vietnamese", "Gmail vi"),
    ("crisp-finnish", "Gmail fi, unprefixed"),
    ("talon-apple-mail-latin1", "Apple Mail, ISO-8859-1"),
    ("talon-thunderbird-bottom-post", "Thunderbird, flowed, below"),
    ("talon-html-yandex", "HTML only, ru <blockquote>"),
    ("talon-html-thunderbird", "HTML only, Thunderbird"),
    ("talon-html-outlook-2007", "HTML only, Outlook 2007"),
    ("talon-html-hotmail-hr", "HTML only, Hotmail <hr>"),
];

/// The subject every customer writes with (the corpus's).
const SUBJECT: &str = "Charged twice for order 4417";

/// The words of a text, so that re-wrapping and blank lines do not count.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Where two texts part, by words, with a few words of each.
fn word_diff(expected: &str, got: &str) -> String {
    let (e, g) = (words(expected), words(got));
    let at = e.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let show = |w: &[&str]| match w.iter().take(8).copied().collect::<Vec<_>>().join(" ") {
        s if s.is_empty() => "(end)".to_string(),
        s => s,
    };
    format!(
        "word {at}: expected «{}», got «{}»",
        show(&e[at.min(e.len())..]),
        show(&g[at.min(g.len())..])
    )
}

/// The ticket number in a notification's `[Acme Support #N]` subject.
fn ticket_of(subject: &str) -> u64 {
    subject
        .split_once("[Acme Support #")
        .and_then(|(_, rest)| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ticket tag in {subject:?}"))
}

/// The pieces of a notification that must never reach a customer, each with a name.
fn internals(n: &Notification) -> Vec<(&'static str, String)> {
    let ticket = TicketId::new(ticket_of(&n.subject));
    let token_prefix = n
        .reply_to
        .split_once('.')
        .map_or(n.reply_to.clone(), |(p, _)| format!("{p}."));
    let mut out = vec![
        ("marker line", notification_marker(ticket)),
        ("header line", format!("Ticket #{ticket} ·")),
        ("reply address", n.reply_to.clone()),
        ("reply address", token_prefix),
        ("history line", "First ticket from this customer.".into()),
        ("rule line", "-".repeat(72)),
    ];
    out.extend(NOTIFICATION_SENTENCES.map(|s| ("guidance sentence", s.to_string())));
    out
}

/// Which internals of `n` are in a mail that reached the customer: in its decoded text, its
/// decoded HTML, or its raw bytes.
fn leaks(n: &Notification, mail: &Fetched) -> Vec<&'static str> {
    let parsed = mail.parsed();
    let text = parsed.body_text(0).unwrap_or_default();
    let html = parsed.body_html(0).unwrap_or_default();
    let raw = String::from_utf8_lossy(&mail.raw).to_lowercase();
    let mut found: Vec<&'static str> = internals(n)
        .into_iter()
        .filter(|(_, s)| {
            text.contains(s.as_str())
                || html.contains(s.as_str())
                || raw.contains(&s.to_lowercase())
        })
        .map(|(name, _)| name)
        .collect();
    found.dedup();
    found
}

/// The notifications in the agent's mailbox, each found by its customer's address.
async fn notifications_for(stack: &Stack, d: &Daemon, customers: &[String]) -> Vec<Notification> {
    let all = wait_for_mail(stack, &d.agent, customers.len()).await;
    let read: Vec<Notification> = all
        .iter()
        .map(|m| Notification::from_mail(&m.raw).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    customers
        .iter()
        .map(|c| {
            read.iter()
                .find(|n| n.text.contains(&format!("<{c}>")))
                .cloned()
                .unwrap_or_else(|| panic!("no notification names {c}"))
        })
        .collect()
}

/// The mail as the agent's client submits it: the shape's `Return-Path` goes (the receiving
/// server writes its own from the envelope, as for every client).
fn without_return_path(mail: &[u8]) -> Vec<u8> {
    let head_end = mail
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let mut out = Vec::with_capacity(mail.len());
    for line in mail[..head_end + 2].split_inclusive(|b| *b == b'\n') {
        if !line.to_ascii_lowercase().starts_with(b"return-path:") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&mail[head_end + 2..]);
    out
}

/// The answer that reached a customer: the mail in their box that is not the (automatic)
/// acknowledgement.
fn relayed(box_: &[Fetched]) -> Option<&Fetched> {
    box_.iter().find(|m| m.header("Auto-Submitted").is_none())
}

/// A line of the report for a case whose answer did not arrive: what the daemon did with
/// the agent's mails and what it told the agent.
fn what_happened(d: &Daemon, agent_box: &[Fetched], ticket: u64) -> String {
    let events: Vec<String> = d
        .events("mail.processed")
        .iter()
        // This ticket's, and those of no ticket (a quarantined mail names none).
        .filter(|e| {
            e["outcome"] != "new-ticket"
                && e["ticket"].as_str().is_none_or(|t| t.parse() == Ok(ticket))
        })
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            format!(
                "{}: {}{}",
                field("outcome"),
                field("action"),
                field("reason")
            )
        })
        .collect();
    let tag = format!("#{ticket}]");
    let notices: Vec<String> = agent_box
        .iter()
        .filter(|m| {
            m.parsed().subject().is_some_and(|s| s.contains(&tag))
                && !m.text().starts_with("--- Reply above this line")
        })
        .map(|m| m.text().replace("\r\n", "\n").trim().replace('\n', " ⏎ "))
        .collect();
    format!("not relayed; processed: {events:?}; told the agent: {notices:?}")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn corpus_answers_reach_the_customer_as_written() {
    let stack = Stack::get();
    let started = Instant::now();
    let d = Daemon::start(&stack, Options::default()).await;
    let table = cases();
    let chosen: Vec<(&Case, Shape, String)> = CASES
        .iter()
        .map(|(name, _)| {
            let case = table
                .iter()
                .find(|c| c.name == *name)
                .unwrap_or_else(|| panic!("{name} is not in the corpus's README"));
            assert_eq!(
                case.expect,
                Expect::Relay,
                "{name} must be an answer to relay"
            );
            let shape = std::fs::read_to_string(case.shape()).expect("shape");
            let expected = std::fs::read_to_string(case.expected()).expect("expected text");
            (case, Shape::parse(&shape), expected)
        })
        .collect();

    // Every customer writes in: one ticket each, one notification each to the agent.
    let customers: Vec<String> = chosen
        .iter()
        .map(|_| format!("{}@customer.test", unique("casey")))
        .collect();
    for ((_, shape, _), casey) in chosen.iter().zip(&customers) {
        let body = shape.customer_text().replace('\n', "\r\n");
        send_customer_mail(&stack, "Casey Customer", casey, &d.support, SUBJECT, &body).await;
    }
    let notifications = notifications_for(&stack, &d, &customers).await;

    // The agent answers each from their client: the case's shape around the real notification.
    for ((case, shape, _), n) in chosen.iter().zip(&notifications) {
        let mail = shape
            .render(n)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        send_raw(
            &stack,
            Some(&d.agent),
            &n.reply_to,
            &without_return_path(&mail),
        )
        .await;
    }
    d.wait_processed(2 * chosen.len()).await;
    wait_quiet(&stack, &d).await;

    // What each customer got.
    let agent_box = mailbox(&stack, &d.agent).await;
    let mut failures = Vec::new();
    println!("{:<32} {:<38} result", "case", "shape");
    for (((case, _, expected), n), (casey, (_, what))) in chosen
        .iter()
        .zip(&notifications)
        .zip(customers.iter().zip(CASES))
    {
        let got = mailbox(&stack, casey).await;
        let verdict = match relayed(&got) {
            None => Err(what_happened(&d, &agent_box, ticket_of(&n.subject))),
            Some(_) if got.len() != 2 => Err(format!(
                "{} mails, not the acknowledgement and one answer",
                got.len()
            )),
            Some(m) => match leaks(n, m) {
                l if !l.is_empty() => Err(format!("LEAK: {}", l.join(", "))),
                _ if words(&m.text()) == words(expected) => Ok(()),
                _ => Err(format!(
                    "WRONG: {}\n--- got:\n{}",
                    word_diff(expected, &m.text()),
                    m.text()
                )),
            },
        };
        match &verdict {
            Ok(()) => println!("{:<32} {what:<38} PASS", case.name),
            Err(e) => {
                println!("{:<32} {what:<38} FAIL {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    println!(
        "{} answers through the daemon in {:.1} s",
        chosen.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
