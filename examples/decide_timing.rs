//! How long [`decide`] takes for a large mail, to compare changes to the decision's parsing
//! (issue 12: one MIME parse per mail). Two mails, each decided `--runs` times on an
//! in-memory store with the default templates:
//!
//! * **customer**: a new customer mail with a 5 MB PDF (a new ticket: acknowledgement and
//!   the agent's notification, which carries the attachment);
//! * **answer**: an agent's verified answer to that ticket with a 5 MB PDF and a small
//!   image attached (relayed to the customer with both).
//!
//! Prints the minimum and the median per mail.
//!
//! ```sh
//! cargo run --release --example decide_timing -- --runs 20
//! ```

use std::time::{Duration, Instant, SystemTime};

use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::decide;
use frontdesk::domain::{AgentAction, Plan, TicketId};
use frontdesk::mail::relay;
use frontdesk::testing::{MemStore, TEST_KEY, agent, config, ticket};

/// The attachment's decoded size.
const ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

/// Decides `raw` once under `cfg` on `state` and returns how long it took, checking that the
/// plan is of the expected kind (`what`) so that a refusal does not pass for a fast relay.
fn time_once(
    raw: &[u8],
    cfg: &Config,
    templates: &Templates,
    state: &MemStore,
    what: &str,
) -> Duration {
    let start = Instant::now();
    let decision = decide(
        raw,
        7,
        cfg,
        templates,
        state,
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let took = start.elapsed();
    let ok = match (&decision.plan, what) {
        (Plan::NewTicket { .. }, "customer") => true,
        (Plan::Agent { action, .. }, "answer") => matches!(action, AgentAction::Relayed { .. }),
        _ => false,
    };
    assert!(ok, "{what}: unexpected plan {:?}", decision.plan);
    took
}

/// A 5 MB attachment's bytes in base64 lines, not compressible to nothing.
fn pdf_base64() -> String {
    let mut data = Vec::with_capacity(ATTACHMENT_BYTES);
    let mut x: u32 = 0x1234_5678;
    data.extend_from_slice(b"%PDF-1.7\n");
    while data.len() < ATTACHMENT_BYTES {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push((x & 0xff) as u8);
    }
    let b64 = data_encoding::BASE64.encode(&data);
    let mut out = String::with_capacity(b64.len() + b64.len() / 38);
    for line in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push_str("\r\n");
    }
    out
}

fn customer_mail(pdf: &str) -> Vec<u8> {
    format!(
        "Return-Path: <alice@customer.test>\r\nFrom: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Invoice\r\nMessage-ID: <a1@customer.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Please see the attached invoice.\r\n\r\nAlice\r\n--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}--b--\r\n"
    )
    .into_bytes()
}

fn agent_answer(pdf: &str) -> Vec<u8> {
    let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
    format!(
        "Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\n\
To: support+1001.{token}@example.test\r\nSubject: Re: [Acme Support #1001] Invoice\r\n\
In-Reply-To: <notify.1001.1@example.test>\r\nMessage-ID: <j1@example.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Here is the corrected invoice and a screenshot.\r\n\r\nJason\r\n--b\r\nContent-Type: application/pdf; name=\"corrected.pdf\"\r\n\
Content-Disposition: attachment; filename=\"corrected.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\
--b\r\nContent-Type: image/png; name=\"screen.png\"\r\nContent-Disposition: attachment; filename=\"screen.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n--b--\r\n"
    )
    .into_bytes()
}

fn summary(name: &str, bytes: usize, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<9} {:>5.1} MB as sent  min {:>7.1} ms  median {:>7.1} ms  ({} runs)",
        bytes as f64 / 1e6,
        ms(times[0]),
        ms(times[times.len() / 2]),
        times.len()
    );
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map(|n| n.parse().expect("--runs N"))
        .unwrap_or(20);
    let cfg = config(
        r#"
[limits]
max_message_bytes = 50000000
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
"#,
    );
    let templates = Templates::load(None).expect("templates");
    let pdf = pdf_base64();
    let customer = customer_mail(&pdf);
    let answer = agent_answer(&pdf);
    let empty = MemStore::default();
    let with_ticket = MemStore::default()
        .with_inbound(1, &customer)
        .with_ticket(
            ticket(1001, "alice@customer.test")
                .customer_name("Alice Doe")
                .subject("Invoice")
                .agent(agent("jason@example.test"))
                .inbound(0, "<a1@customer.test>", 1)
                .notify_root("<notify.1001.1@example.test>")
                .build(),
        )
        .with_message_id("<notify.1001.1@example.test>", TicketId::new(1001));
    // One untimed run each, so that the first timed one pays no first-use costs.
    time_once(&customer, &cfg, &templates, &empty, "customer");
    time_once(&answer, &cfg, &templates, &with_ticket, "answer");
    let c: Vec<Duration> = (0..runs)
        .map(|_| time_once(&customer, &cfg, &templates, &empty, "customer"))
        .collect();
    let a: Vec<Duration> = (0..runs)
        .map(|_| time_once(&answer, &cfg, &templates, &with_ticket, "answer"))
        .collect();
    summary("customer", customer.len(), c);
    summary("answer", answer.len(), a);
}
