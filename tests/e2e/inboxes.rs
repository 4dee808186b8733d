//! Issue 13's last point: an inbox with an SMTP account of its own (`[inboxes.smtp]`), as on
//! hosted mail where every address is its own login. Postfix's log names the SASL user of
//! every submission (`sasl_username=`), so each test reads which account carried a mail.
//! `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

use std::time::Duration;

use crate::common::*;

/// The login Postfix recorded for the submission of the mail with `message_id`: the queue
/// id of its `message-id=` line, then that queue id's `client=` line.
fn submitted_by(maillog: &str, message_id: &str) -> Option<String> {
    let queue_id = maillog.lines().find_map(|l| {
        let (head, _) = l.split_once(&format!(": message-id={message_id}"))?;
        head.rsplit(' ').next().map(str::to_string)
    })?;
    maillog.lines().find_map(|l| {
        let rest = l.split_once(&format!(" {queue_id}: client="))?.1;
        Some(
            rest.split_once("sasl_username=")
                .map_or("(no login)", |(_, user)| user.trim())
                .to_string(),
        )
    })
}

/// Waits until Postfix has logged who submitted `mail`, and returns that login.
async fn login_of(stack: &Stack, mail: &Fetched) -> String {
    let id = mail.header("Message-ID").expect("Message-ID");
    eventually(
        Duration::from_secs(10),
        &format!("Postfix to log the submission of {id}"),
        async || submitted_by(&stack.maillog(), &id),
    )
    .await
}

fn from(mail: &Fetched) -> String {
    mail.parsed()
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(str::to_string)
        .unwrap_or_default()
}

/// The `[[inboxes]]` entry of billing@, with `smtp` as its `[inboxes.smtp]` (none if empty).
fn billing_inbox(stack: &Stack, billing: &str, smtp: &str) -> String {
    let table = if smtp.is_empty() {
        String::new()
    } else {
        format!("[inboxes.smtp]\n{smtp}\n")
    };
    format!(
        "\n[[inboxes]]\nname = \"billing\"\naddress = \"{billing}\"\n[inboxes.imap]\nhost = \"127.0.0.1\"\n\
         port = {}\ntls = \"none\"\npassword = \"{}\"\n{table}",
        stack.imap_port, stack.password
    )
}

/// (a) A mail to billing@ is acknowledged through billing's own login, support@'s through
/// `[smtp]`'s; (b) a follow-up to billing's ticket written to support@ reaches the agent from
/// billing@ through billing's login, and the agent's answer reaches the customer the same
/// way; (c) a reload that takes billing's own login away sends its next mail through
/// `[smtp]` at once.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn an_inbox_with_its_own_smtp_login_sends_everything_about_its_tickets() {
    let stack = Stack::get();
    let billing = format!("{}@example.test", unique("billing"));
    let own_login = format!("password = \"{}\"", stack.password);
    let mut d = Daemon::start(
        &stack,
        Options {
            extra: billing_inbox(&stack, &billing, &own_login),
            ..Options::default()
        },
    )
    .await;

    // (a) Each customer is acknowledged from the address they wrote to, through its login.
    let (finn, eva) = (
        format!("{}@customer.test", unique("finn")),
        format!("{}@customer.test", unique("eva")),
    );
    send_customer_mail(&stack, "Finn", &finn, &billing, "Invoice", "Where is it?").await;
    let ack = wait_for_mail(&stack, &finn, 1).await.remove(0);
    assert_eq!(from(&ack), billing);
    assert_eq!(login_of(&stack, &ack).await, billing, "billing's own login");
    send_customer_mail(&stack, "Eva", &eva, &d.support, "Question", "Hello.").await;
    let ack_eva = wait_for_mail(&stack, &eva, 1).await.remove(0);
    assert_eq!(from(&ack_eva), d.support);
    assert_eq!(
        login_of(&stack, &ack_eva).await,
        d.support,
        "[smtp]'s login"
    );
    let notes = wait_for_mail(&stack, &d.agent, 2).await;
    let finns = notes
        .iter()
        .find(|n| n.text().contains("Where is it?"))
        .expect("Finn's notification");
    assert_eq!(login_of(&stack, finns).await, billing);

    // (b) Finn's follow-up goes to support@ (a reply to the acknowledgement, readdressed).
    let ack_id = ack.header("Message-ID").expect("ack id");
    let follow_up = format!(
        "From: Finn <{finn}>\r\nTo: {support}\r\nSubject: Re: Invoice\r\nMessage-ID: <{}@customer.test>\r\n\
In-Reply-To: {ack_id}\r\nReferences: {ack_id}\r\nDate: Wed, 25 Nov 2026 10:05:00 +0000\r\n\r\nStill nothing.\r\n",
        unique("f"),
        support = d.support,
    );
    send_raw(&stack, Some(&finn), &d.support, &follow_up).await;
    let notes = wait_for_mail(&stack, &d.agent, 3).await;
    let note = notes
        .iter()
        .find(|n| n.text().contains("Still nothing."))
        .expect("the follow-up's notification");
    assert_eq!(from(note), billing, "from the ticket's inbox");
    assert_eq!(login_of(&stack, note).await, billing, "through its login");
    let reply_to = note.header("Reply-To").expect("Reply-To");
    let token_addr = reply_to
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address");
    let billing_local = billing.split('@').next().unwrap_or_default();
    assert!(
        token_addr.starts_with(&format!("{billing_local}+")),
        "{token_addr}"
    );
    // The agent answers it; the answer reaches Finn from billing@ through billing's login.
    let subject = note.parsed().subject().expect("subject").to_string();
    let answer = format!(
        "From: Jason Miller <{agent}>\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@example.test>\r\nIn-Reply-To: {}\r\n\r\nSent again just now.\r\n",
        unique("answer"),
        note.header("Message-ID").expect("id"),
        agent = d.agent,
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &answer).await;
    let finn_box = wait_for_mail(&stack, &finn, 2).await;
    let relayed = finn_box
        .iter()
        .find(|m| m.text().contains("Sent again just now."))
        .expect("the relayed answer");
    assert_eq!(from(relayed), billing);
    assert_eq!(login_of(&stack, relayed).await, billing);
    wait_quiet(&stack, &d).await;
    assert!(d.events("outbox.dead").is_empty(), "no dead letters");

    // (c) A reload without billing's own login: its next mail goes through [smtp] at once.
    let text = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(
        &d.config,
        text.replace(&format!("[inboxes.smtp]\n{own_login}\n"), ""),
    )
    .expect("config");
    let reloads = d.events("config.reloaded").len();
    d.signal("HUP");
    eventually(Duration::from_secs(10), "the reload", async || {
        (d.events("config.reloaded").len() > reloads).then_some(())
    })
    .await;
    let gus = format!("{}@customer.test", unique("gus"));
    send_customer_mail(&stack, "Gus", &gus, &billing, "Refund", "Please.").await;
    let ack = wait_for_mail(&stack, &gus, 1).await.remove(0);
    assert_eq!(from(&ack), billing, "still from billing's address");
    assert_eq!(
        login_of(&stack, &ack).await,
        d.support,
        "now [smtp]'s login"
    );
    d.stop().await;
}

/// `check-config --connect` logs in to every SMTP account and names the inbox of one whose
/// login fails.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn check_config_connect_logs_in_to_every_smtp_account() {
    let stack = Stack::get();
    let billing = format!("{}@example.test", unique("billing"));
    let own_login = format!("password = \"{}\"", stack.password);
    let good = Daemon::configure(
        &stack,
        Options {
            extra: billing_inbox(&stack, &billing, &own_login),
            ..Options::default()
        },
    );
    let out = good.cli_output(&["check-config", "--connect"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "smtp login ok: inbox billing ({billing} at 127.0.0.1)"
        )),
        "{stdout}"
    );
    let primary = good.support.split('@').next().unwrap_or_default();
    assert!(
        stdout.contains(&format!("smtp login ok: inbox {primary} ({}", good.support)),
        "{stdout}"
    );

    let bad = Daemon::configure(
        &stack,
        Options {
            extra: billing_inbox(&stack, &billing, "password = \"wrong\""),
            ..Options::default()
        },
    );
    let out = bad.cli_output(&["check-config", "--connect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("SMTP: inbox billing ({billing} at 127.0.0.1)"))
            && stderr.contains("refused")
            && stderr.contains("check inboxes[0].smtp.username and inboxes[0].smtp.password"),
        "{stderr}"
    );
}
