//! The core pipeline, end to end against the real Dovecot + Postfix of `scripts/mailstack`.
//!
//! Index (one test per acceptance item of the core pipeline):
//! - `customer_gets_one_personal_acknowledgement_and_reply_joins_ticket`
//! - `first_start_leaves_old_mail_alone`
//! - `mail_arriving_while_stopped_is_acknowledged_once_even_if_seen`
//! - `vacation_autoresponder_cannot_loop`
//! - `automated_mail_is_suppressed_with_a_visible_reason`
//! - `stranger_copying_a_ticket_tag_gets_a_ticket_of_their_own`
//! - `implicit_tls_with_a_private_ca`, `starttls_with_a_private_ca`
//! - `untrusted_certificate_is_refused_not_bypassed`, `starttls_is_never_downgraded_to_plaintext`
//! - `handled_mail_is_moved_when_configured`, `backfill_window_is_opt_in`
//! - `reconnects_after_the_server_drops_the_session`
//! - `two_mails_sharing_a_message_id_are_both_handled`
//! - `agent_answers_by_mail_and_forgeries_are_refused`
//! - `availability_shapes_the_promise_and_the_agents_cli`
//! - `a_missed_first_response_target_is_escalated_once`
//! - `routes_stickiness_away_and_assign_between_two_agents`
//! - `an_agents_forward_opens_the_customers_ticket`
//! - `systemd_is_told_ready_watchdog_and_stopping`
//! - `ops_commands_work_beside_the_running_daemon`
//! - `xoauth2_logins_acknowledge_and_reuse_the_cached_token`
//! - `xoauth2_refused_or_failing_tokens_are_clear_errors_not_dead_letters`
//! - `xoauth2_refused_token_is_replaced_by_running_the_command_again`

use crate::common::*;

fn tag_number(subject: &str) -> u64 {
    let start = subject
        .find("[Acme Support #")
        .expect("ticket tag in subject")
        + "[Acme Support #".len();
    subject[start..]
        .split(']')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("ticket number")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn customer_gets_one_personal_acknowledgement_and_reply_joins_ticket() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let alice = format!("{}@customer.test", unique("alice"));

    let mid = send_customer_mail(
        &stack,
        "Alice Doe",
        &alice,
        &d.support,
        "Printer on fire",
        "My printer is on fire.\r\nIt started this morning.",
    )
    .await;
    let acks = wait_for_mail(&stack, &alice, 1).await;
    let ack = &acks[0];
    let m = ack.parsed();
    let from = m.from().and_then(|f| f.first()).expect("From");
    assert_eq!(
        from.address(),
        Some(d.support.as_str()),
        "from the support address"
    );
    let subject = m.subject().expect("subject").to_string();
    assert!(
        subject.starts_with("Re: Printer on fire [Acme Support #"),
        "{subject}"
    );
    assert_eq!(ack.header("In-Reply-To").as_deref(), Some(mid.as_str()));
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let text = ack.text();
    assert!(text.contains("Hello Alice,"), "greets by name: {text}");
    assert!(text.contains("Jason Miller"), "names the agent: {text}");
    assert!(
        text.contains("> My printer is on fire."),
        "quotes the first line: {text}"
    );
    let ticket = tag_number(&subject);

    // The support mailbox's copy gets \Seen once handled.
    eventually(
        std::time::Duration::from_secs(20),
        "the handled mail to be flagged \\Seen",
        async || {
            let inbox = mailbox(&stack, &d.support).await;
            (inbox.len() == 1 && inbox[0].seen).then_some(())
        },
    )
    .await;

    // The customer answers the acknowledgement: same ticket, no second acknowledgement.
    let ack_id = ack.header("Message-ID").expect("ack Message-ID");
    let reply = format!(
        "From: \"Alice Doe\" <{alice}>\r\nTo: {support}\r\nSubject: {subject}\r\nMessage-ID: <{}@customer.test>\r\n\
In-Reply-To: {ack_id}\r\nReferences: {mid} {ack_id}\r\n\r\nAlso, the toner smells funny.\r\n",
        unique("reply"),
        support = d.support
    );
    send_raw(&stack, Some(&alice), &d.support, &reply).await;
    let processed = d.wait_processed(2).await;
    assert_eq!(processed[1]["outcome"], "joined", "{:?}", processed[1]);
    assert_eq!(processed[1]["ticket"], ticket.to_string());
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &alice).await.len(),
        1,
        "exactly one acknowledgement"
    );
    assert_eq!(
        d.sent("Acknowledgement"),
        1,
        "exactly one acknowledgement was sent"
    );
    assert_eq!(
        d.sent("AgentNotification"),
        2,
        "the agent got the mail and the follow-up"
    );

    d.stop().await;
    let shown = d.cli_json(&["tickets", "show", &ticket.to_string()]);
    let inbound: Vec<_> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(
        inbound.len(),
        2,
        "both customer mails are on the ticket: {shown}"
    );
    assert_eq!(shown["customer"], alice);
    assert_eq!(shown["agent"], d.agent);
    let text = d.cli(&["tickets", "show", &ticket.to_string()]);
    assert!(text.contains(&format!("Ticket #{ticket}")), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn first_start_leaves_old_mail_alone() {
    let stack = Stack::get();
    let mut d = Daemon::configure(&stack, Options::default());
    let old_customer = format!("{}@customer.test", unique("old"));
    let new_customer = format!("{}@customer.test", unique("new"));
    send_customer_mail(
        &stack,
        "Olga Old",
        &old_customer,
        &d.support,
        "Last year",
        "An old request.",
    )
    .await;
    wait_for_mail(&stack, &d.support, 1).await;
    d.skipped = 1;

    d.launch().await;
    send_customer_mail(
        &stack,
        "Nina New",
        &new_customer,
        &d.support,
        "Today",
        "A new request.",
    )
    .await;
    wait_for_mail(&stack, &new_customer, 1).await;
    wait_quiet(&stack, &d).await;
    assert!(
        mailbox(&stack, &old_customer).await.is_empty(),
        "old mail must not be acknowledged"
    );
    assert_eq!(
        d.events("mail.processed").len(),
        1,
        "only the new mail was processed"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn mail_arriving_while_stopped_is_acknowledged_once_even_if_seen() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    d.stop().await;

    let bob = format!("{}@customer.test", unique("bob"));
    send_customer_mail(
        &stack,
        "Bob Brown",
        &bob,
        &d.support,
        "While you slept",
        "Hello?",
    )
    .await;
    wait_for_mail(&stack, &d.support, 1).await;
    // A person reads it in another client first.
    {
        let mut s = imap(&stack, &d.support).await;
        use futures::TryStreamExt;
        s.uid_store("1:*", "+FLAGS (\\Seen)")
            .await
            .expect("store")
            .try_collect::<Vec<_>>()
            .await
            .expect("store");
        let _ = s.logout().await;
    }
    assert!(mailbox(&stack, &d.support).await[0].seen);

    d.launch().await;
    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;

    // A restart acknowledges nothing twice.
    d.launch().await;
    wait_quiet(&stack, &d).await;
    d.stop().await;
    assert_eq!(
        mailbox(&stack, &bob).await.len(),
        1,
        "one acknowledgement across restarts"
    );
    assert_eq!(
        d.events("mail.processed").len(),
        1,
        "processed once across restarts"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn vacation_autoresponder_cannot_loop() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let carol = format!("{}@customer.test", unique("carol"));
    let sieve = d.dir.path().join("vacation.sieve");
    std::fs::write(
        &sieve,
        "require \"vacation\";\nvacation :days 1 :subject \"Out of office\" \"I am away until Monday.\";\n",
    )
    .expect("sieve");
    stack.script(&["sieve", &carol, sieve.to_str().expect("path")]);

    // Carol writes; her vacation responder must not answer our acknowledgement.
    send_customer_mail(
        &stack,
        "Carol Cole",
        &carol,
        &d.support,
        "Refund",
        "Where is my refund?",
    )
    .await;
    wait_for_mail(&stack, &carol, 1).await;
    wait_quiet(&stack, &d).await;

    // A person at support writes to her directly (as an agent's answer will): her vacation
    // reply comes back to the support inbox, and must not be acknowledged.
    let human = format!(
        "From: {support}\r\nTo: {carol}\r\nSubject: About your refund\r\nMessage-ID: <{}@example.test>\r\n\r\nWe are on it.\r\n",
        unique("human"),
        support = d.support
    );
    send_raw(&stack, Some(&d.support), &carol, &human).await;
    wait_for_mail(&stack, &d.support, 2).await;
    let processed = d.wait_processed(2).await;
    assert_eq!(processed[1]["outcome"], "suppressed", "{:?}", processed[1]);
    // Pigeonhole sends vacation replies with a null envelope sender and Auto-Submitted:
    // either RFC 3834 signal is a correct reason.
    let reason = processed[1]["reason"].as_str().unwrap_or_default();
    assert!(
        ["null-return-path", "auto-submitted"].contains(&reason),
        "{:?}",
        processed[1]
    );
    wait_quiet(&stack, &d).await;

    let carol_box = mailbox(&stack, &carol).await;
    let support_box = mailbox(&stack, &d.support).await;
    assert_eq!(
        carol_box.len(),
        2,
        "the acknowledgement and the human mail, nothing else"
    );
    assert_eq!(
        support_box.len(),
        2,
        "carol's mail and one vacation reply, nothing else"
    );
    assert!(
        support_box[1].header("Auto-Submitted").is_some(),
        "second mail is the vacation reply"
    );
    assert_eq!(d.sent("Acknowledgement"), 1, "one acknowledgement in all");
    assert_eq!(
        d.events("outbox.sent").len(),
        2,
        "the acknowledgement and the agent's notification, nothing else"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn automated_mail_is_suppressed_with_a_visible_reason() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let daemon_addr = format!("{}@customer.test", unique("mailer-daemon"));
    let list = format!("{}@customer.test", unique("list"));
    let noreply = format!("noreply-{}@customer.test", unique("x"));
    let robot = format!("{}@customer.test", unique("robot"));
    let support = d.support.clone();

    let dsn = format!(
        "From: Mail Delivery System <{daemon_addr}>\r\nTo: {support}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <{}@customer.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\n\
Final-Recipient: rfc822; gone@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b1--\r\n",
        unique("dsn")
    );
    send_raw(&stack, None, &support, &dsn).await;
    let list_mail = format!(
        "From: Users List <{list}>\r\nTo: {support}\r\nSubject: [users] weekly digest\r\nList-Id: <users.customer.test>\r\n\
Message-ID: <{}@customer.test>\r\n\r\nDigest.\r\n",
        unique("list")
    );
    send_raw(&stack, Some(&list), &support, &list_mail).await;
    send_customer_mail(
        &stack,
        "Shop",
        &noreply,
        &support,
        "Your order",
        "Order shipped.",
    )
    .await;
    let generated = format!(
        "From: Robot <{robot}>\r\nTo: {support}\r\nSubject: Nightly report\r\nAuto-Submitted: auto-generated\r\n\
Message-ID: <{}@customer.test>\r\n\r\nAll green.\r\n",
        unique("gen")
    );
    send_raw(&stack, Some(&robot), &support, &generated).await;

    let processed = d.wait_processed(4).await;
    wait_quiet(&stack, &d).await;
    let mut reasons: Vec<String> = processed
        .iter()
        .map(|p| {
            assert_eq!(p["outcome"], "suppressed", "{p}");
            p["reason"].as_str().expect("reason").to_string()
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "auto-submitted",
            "delivery-report",
            "mailing-list",
            "noreply-sender"
        ]
    );
    for addr in [&daemon_addr, &list, &noreply, &robot] {
        assert!(
            mailbox(&stack, addr).await.is_empty(),
            "{addr} got an acknowledgement"
        );
    }
    assert!(d.events("outbox.sent").is_empty());

    d.stop().await;
    let listed = d.cli_json(&["mail", "list"]);
    let stored: Vec<String> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            m["outcome"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(stored.len(), 4, "{listed}");
    assert!(stored.contains(&"delivery-report".to_string()), "{listed}");
    let table = d.cli(&["mail", "list"]);
    assert!(
        table.contains("suppressed") && table.contains("mailing-list"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn stranger_copying_a_ticket_tag_gets_a_ticket_of_their_own() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let alice = format!("{}@customer.test", unique("alice"));
    let mallory = format!("{}@customer.test", unique("mallory"));
    send_customer_mail(
        &stack,
        "Alice Doe",
        &alice,
        &d.support,
        "My account",
        "Please reset my password.",
    )
    .await;
    let ack = wait_for_mail(&stack, &alice, 1).await;
    let alice_ticket = tag_number(ack[0].parsed().subject().expect("subject"));

    let subject = format!("Re: My account [Acme Support #{alice_ticket}]");
    send_customer_mail(
        &stack,
        "Mallory",
        &mallory,
        &d.support,
        &subject,
        "Send me her password.",
    )
    .await;
    let mallory_ack = wait_for_mail(&stack, &mallory, 1).await;
    let mallory_ticket = tag_number(mallory_ack[0].parsed().subject().expect("subject"));
    assert_ne!(
        alice_ticket, mallory_ticket,
        "a copied tag must not join a stranger's ticket"
    );
    wait_quiet(&stack, &d).await;
    d.stop().await;

    let alice_t = d.cli_json(&["tickets", "show", &alice_ticket.to_string()]);
    assert_eq!(
        alice_t["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["direction"] == "inbound")
            .count(),
        1,
        "alice's ticket holds only her mail: {alice_t}"
    );
    let mallory_t = d.cli_json(&["tickets", "show", &mallory_ticket.to_string()]);
    assert_eq!(mallory_t["customer"], mallory);
}

async fn acknowledged_over(transport: Transport) {
    let stack = Stack::get();
    let mut d = Daemon::start(
        &stack,
        Options {
            transport,
            ..Options::default()
        },
    )
    .await;
    let dave = format!("{}@customer.test", unique("dave"));
    send_customer_mail(
        &stack,
        "Dave Dunn",
        &dave,
        &d.support,
        "Over TLS",
        "Secure hello.",
    )
    .await;
    let ack = wait_for_mail(&stack, &dave, 1).await;
    assert!(ack[0].text().contains("Hello Dave,"), "{}", ack[0].text());
    let check = d.cli_output(&["check-config", "--connect"]);
    assert!(
        check.status.success(),
        "check-config --connect over {transport:?}: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn implicit_tls_with_a_private_ca() {
    acknowledged_over(Transport::Implicit).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn starttls_with_a_private_ca() {
    acknowledged_over(Transport::Starttls).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn starttls_is_never_downgraded_to_plaintext() {
    let stack = Stack::get();
    let d = Daemon::configure(
        &stack,
        Options {
            transport: Transport::Starttls,
            ..Options::default()
        },
    );
    // The stack's Dovecot answers on 127.0.0.2 without offering STARTTLS.
    let text = std::fs::read_to_string(&d.config).expect("config");
    let imap_host = "[imap]\nhost = \"localhost\"";
    assert!(text.contains(imap_host), "{text}");
    std::fs::write(
        &d.config,
        text.replacen(imap_host, "[imap]\nhost = \"127.0.0.2\"", 1),
    )
    .expect("config");
    let out = d.cli_output(&["check-config", "--connect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse to log in in plaintext");
    assert!(stderr.contains("does not offer STARTTLS"), "{stderr}");
}

/// Without `ca_file`, IMAP trusts the operating system's store exactly as SMTP does: the
/// stack's CA, installed the way rustls-native-certs reads a system store from the
/// environment (`SSL_CERT_FILE`), lets `check-config --connect` log in to both; without it
/// IMAP refuses the same configuration. Compiled-in web roots would ignore the file.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn imap_and_smtp_trust_the_system_store() {
    let stack = Stack::get();
    for transport in [Transport::Implicit, Transport::Starttls] {
        let d = Daemon::configure(
            &stack,
            Options {
                transport,
                ..Options::default()
            },
        );
        let text = std::fs::read_to_string(&d.config).expect("config");
        let without_ca: String = text
            .lines()
            .filter(|l| !l.starts_with("ca_file"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(text, without_ca, "the configuration had no ca_file");
        std::fs::write(&d.config, without_ca).expect("config");
        let check = |ca: Option<&std::path::Path>| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"));
            cmd.arg("--config")
                .arg(&d.config)
                .args(["check-config", "--connect"])
                .env_remove("SSL_CERT_FILE")
                .env_remove("SSL_CERT_DIR");
            if let Some(ca) = ca {
                cmd.env("SSL_CERT_FILE", ca);
            }
            cmd.output().expect("run frontdesk")
        };
        let trusted = check(Some(&stack.ca_file));
        let stdout = String::from_utf8_lossy(&trusted.stdout);
        assert!(
            trusted.status.success(),
            "{transport:?} with the CA in the system store: {}",
            String::from_utf8_lossy(&trusted.stderr)
        );
        assert!(
            stdout.contains("imap login ok") && stdout.contains("smtp login ok"),
            "{stdout}"
        );
        let untrusted = check(None);
        let stderr = String::from_utf8_lossy(&untrusted.stderr);
        assert!(
            !untrusted.status.success(),
            "{transport:?}: the stack's CA is not in the system store, yet it was trusted"
        );
        assert!(
            stderr.contains("IMAP") && stderr.to_lowercase().contains("certificate"),
            "{transport:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn untrusted_certificate_is_refused_not_bypassed() {
    let stack = Stack::get();
    // A CA that did not sign the server's certificate.
    let other = tempfile::tempdir().expect("tempdir");
    let ca = other.path().join("other-ca.pem");
    let key = other.path().join("other-ca.key");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Not The Test CA",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&ca)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    for transport in [Transport::Implicit, Transport::Starttls] {
        let d = Daemon::configure(
            &stack,
            Options {
                transport,
                ca_file: Some(ca.clone()),
                ..Options::default()
            },
        );
        let out = d.cli_output(&["check-config", "--connect"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{transport:?} must refuse an untrusted certificate"
        );
        assert!(
            stderr.to_lowercase().contains("certificate") || stderr.contains("TLS"),
            "{transport:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn handled_mail_is_moved_when_configured() {
    let stack = Stack::get();
    let mut d = Daemon::start(
        &stack,
        Options {
            imap_extra: "processed_mailbox = \"Processed\"".into(),
            ..Options::default()
        },
    )
    .await;
    let erin = format!("{}@customer.test", unique("erin"));
    send_customer_mail(&stack, "Erin Earl", &erin, &d.support, "Move me", "Hello.").await;
    wait_for_mail(&stack, &erin, 1).await;
    eventually(
        std::time::Duration::from_secs(20),
        "the mail to move to Processed",
        async || {
            let moved = folder(&stack, &d.support, "Processed").await;
            (moved.len() == 1 && mailbox(&stack, &d.support).await.is_empty()).then_some(())
        },
    )
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn backfill_window_is_opt_in() {
    let stack = Stack::get();
    let mut d = Daemon::configure(
        &stack,
        Options {
            imap_extra: "backfill_hours = 1".into(),
            ..Options::default()
        },
    );
    let fay = format!("{}@customer.test", unique("fay"));
    send_customer_mail(
        &stack,
        "Fay Fox",
        &fay,
        &d.support,
        "Before you started",
        "Hello?",
    )
    .await;
    wait_for_mail(&stack, &d.support, 1).await;
    d.launch().await;
    wait_for_mail(&stack, &fay, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(mailbox(&stack, &fay).await.len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn reconnects_after_the_server_drops_the_session() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    stack.script(&["kick", &d.support]);
    eventually(
        std::time::Duration::from_secs(20),
        "a logged disconnect",
        async || (!d.events("imap.disconnected").is_empty()).then_some(()),
    )
    .await;
    let gus = format!("{}@customer.test", unique("gus"));
    send_customer_mail(
        &stack,
        "Gus Gray",
        &gus,
        &d.support,
        "After the cut",
        "Still there?",
    )
    .await;
    wait_for_mail(&stack, &gus, 1).await;
    assert!(
        d.events("imap.connected").len() >= 2,
        "a second session was opened"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn two_mails_sharing_a_message_id_are_both_handled() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let shared = format!("<{}@broken-client.test>", unique("same"));
    let hal = format!("{}@customer.test", unique("hal"));
    let ida = format!("{}@customer.test", unique("ida"));
    for (name, from) in [("Hal Hill", &hal), ("Ida Ives", &ida)] {
        let raw = format!(
            "From: {name} <{from}>\r\nTo: {support}\r\nSubject: Same id\r\nMessage-ID: {shared}\r\n\r\nI am {name}.\r\n",
            support = d.support
        );
        send_raw(&stack, Some(from), &d.support, &raw).await;
    }
    wait_for_mail(&stack, &hal, 1).await;
    wait_for_mail(&stack, &ida, 1).await;
    // Hal answers his acknowledgement: it must land in Hal's ticket, not Ida's.
    let ack = &mailbox(&stack, &hal).await[0];
    let ack_id = ack.header("Message-ID").expect("id");
    let reply = format!(
        "From: Hal Hill <{hal}>\r\nTo: {support}\r\nSubject: Re: Same id\r\nMessage-ID: <{}@customer.test>\r\n\
In-Reply-To: {ack_id}\r\nReferences: {shared} {ack_id}\r\n\r\nMore from Hal.\r\n",
        unique("hal2"),
        support = d.support
    );
    send_raw(&stack, Some(&hal), &d.support, &reply).await;
    d.wait_processed(3).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    let tickets = tickets.as_array().expect("array");
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let hal_ticket = tickets
        .iter()
        .find(|t| t["customer"] == hal)
        .expect("hal's ticket");
    let ida_ticket = tickets
        .iter()
        .find(|t| t["customer"] == ida)
        .expect("ida's ticket");
    assert_eq!(
        hal_ticket["messages"], 5,
        "mail, ack, notification, reply, the reply's notification: {hal_ticket}"
    );
    assert_eq!(
        ida_ticket["messages"], 3,
        "mail, ack, notification: {ida_ticket}"
    );
}

/// Issue 17: one mail delivered twice to the support mailbox (To the support address and
/// Cc its plus-address, as the customer's server delivers one copy per recipient, each with
/// its own Delivered-To and Received) is one ticket and one acknowledgement; the second
/// delivery is on the ticket's record and tells the agent nothing new.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn one_mail_delivered_twice_is_one_ticket_and_one_acknowledgement() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let jo = format!("{}@customer.test", unique("jo"));
    let (local, domain) = d.support.split_once('@').expect("an address");
    let billing = format!("{local}+billing@{domain}");
    let raw = format!(
        "From: Jo Jones <{jo}>\r\nTo: {support}\r\nCc: {billing}\r\nSubject: Charged twice?\r\n\
Message-ID: <{}@customer.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nWas I charged twice?\r\n",
        unique("jo"),
        support = d.support
    );
    for rcpt in [&d.support, &billing] {
        send_raw(&stack, Some(&jo), rcpt, &raw).await;
    }
    let processed = d.wait_processed(2).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(processed[0]["outcome"], "new-ticket", "{processed:?}");
    assert_eq!(processed[1]["outcome"], "joined", "{processed:?}");
    assert_eq!(
        processed[1]["reason"], "duplicate-delivery",
        "{processed:?}"
    );
    assert_eq!(mailbox(&stack, &jo).await.len(), 1, "one acknowledgement");
    assert_eq!(d.sent("Acknowledgement"), 1);
    assert_eq!(d.sent("AgentNotification"), 1, "the agent is told once");
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    let tickets = tickets.as_array().expect("tickets");
    assert_eq!(tickets.len(), 1, "one ticket: {tickets:?}");
    let number = tickets[0]["id"]
        .as_u64()
        .expect("ticket number")
        .to_string();
    let shown = d.cli_json(&["tickets", "show", &number]);
    let inbound: Vec<_> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 2, "both deliveries on record: {shown}");
    assert_eq!(inbound[1]["suppressed"], "duplicate-delivery", "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn agent_answers_by_mail_and_forgeries_are_refused() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let kim = format!("{}@customer.test", unique("kim"));
    let mid = send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Invoice missing",
        "Where is my March invoice?",
    )
    .await;
    wait_for_mail(&stack, &kim, 1).await;

    // The agent's notification: the customer's words, the ticket tag, a token Reply-To.
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    let n = &notes[0];
    let reply_to = n.header("Reply-To").expect("Reply-To");
    let token_addr = reply_to
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address");
    let (local, _) = d.support.split_once('@').expect("support address");
    assert!(
        token_addr.starts_with(&format!("{local}+1001.")),
        "{token_addr}"
    );
    let subject = n.parsed().subject().expect("subject").to_string();
    assert!(
        subject.starts_with("[Acme Support #1001] Invoice missing"),
        "{subject}"
    );
    assert!(
        n.text().contains("Where is my March invoice?"),
        "{}",
        n.text()
    );
    let notify_id = n.header("Message-ID").expect("id");

    // The agent presses Reply in an ordinary client (top-posting, quote below).
    let answer = format!(
        "From: Jason Miller <{agent}>\r\nTo: Acme Support <{token_addr}>\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@example.test>\r\nIn-Reply-To: {notify_id}\r\n\r\n\
Hi Kim,\r\n\r\nI have sent it again just now.\r\n\r\nJason\r\n\r\n\
On Wed, 25 Nov 2026 at 10:00, Kim Kerr via Acme Support <{support}> wrote:\r\n> Where is my March invoice?\r\n",
        unique("answer"),
        agent = d.agent,
        support = d.support
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &answer).await;
    let kim_box = wait_for_mail(&stack, &kim, 2).await;
    let relayed = &kim_box[1];
    let m = relayed.parsed();
    let from = m.from().and_then(|f| f.first()).expect("from");
    assert_eq!(
        from.address(),
        Some(d.support.as_str()),
        "answers come from the support address"
    );
    assert_eq!(from.name(), Some("Jason Miller, Acme Support"));
    assert_eq!(
        relayed.header("In-Reply-To").as_deref(),
        Some(mid.as_str()),
        "threaded on the customer's mail"
    );
    assert!(
        m.subject()
            .expect("subject")
            .contains("[Acme Support #1001]")
    );
    let text = relayed.text();
    assert!(text.contains("I have sent it again just now."), "{text}");
    assert!(
        !text.contains("> Where is my March invoice?") && !text.contains("wrote:"),
        "quote stripped: {text}"
    );
    assert!(
        relayed.header("Auto-Submitted").is_none(),
        "a person's answer is not auto-submitted"
    );
    let raw_relayed = String::from_utf8_lossy(&relayed.raw);
    assert!(
        !raw_relayed.contains(&token_addr) && !raw_relayed.contains(&d.agent),
        "no token or agent address leaks"
    );
    assert!(
        !text.contains("Reply to this mail to answer"),
        "no internal header block leaks: {text}"
    );

    // Forgeries: a stranger using the token address, and the agent with a tampered token.
    let mallory = format!("{}@customer.test", unique("mallory"));
    let forged = format!(
        "From: Jason Miller <{mallory}>\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\nMessage-ID: <{}@customer.test>\r\n\r\nPay to IBAN XX00 1234.\r\n",
        unique("forged")
    );
    send_raw(&stack, Some(&mallory), &token_addr, &forged).await;
    // A second ticket, so "the token of another ticket" is a real, existing ticket.
    let other = format!("{}@customer.test", unique("olga"));
    send_customer_mail(
        &stack,
        "Olga Olsen",
        &other,
        &d.support,
        "Other",
        "Another question.",
    )
    .await;
    wait_for_mail(&stack, &other, 1).await;
    let token = token_addr
        .split_once('.')
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(t, _)| t.to_string())
        .expect("token");
    let mut one_off = token.clone();
    let last = one_off.pop().expect("char");
    one_off.push(if last == 'a' { 'b' } else { 'a' });
    for (n, addr) in [
        (1, format!("{local}+1002.{token}@example.test")),
        (2, format!("{local}+1001.{one_off}@example.test")),
    ] {
        let tampered = format!(
            "From: {agent}\r\nTo: {addr}\r\nSubject: Re: {subject}\r\nMessage-ID: <{}@example.test>\r\nIn-Reply-To: {notify_id}\r\n\r\nPay to IBAN XX00 1234.\r\n",
            unique(&format!("tampered{n}")),
            agent = d.agent
        );
        send_raw(&stack, Some(&d.agent), &addr, &tampered).await;
    }
    // The agent's exact address in From, with someone else's envelope.
    let exact = format!(
        "From: Jason Miller <{agent}>\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\nMessage-ID: <{}@evil.test>\r\n\r\nPay to IBAN XX00 1234.\r\n",
        unique("exact"),
        agent = d.agent
    );
    send_raw(&stack, Some(&mallory), &token_addr, &exact).await;

    // An internal note, and the agent's out-of-office answering the notification.
    let note = format!(
        "From: {agent}\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\nMessage-ID: <{}@example.test>\r\n\r\n#note customer called, invoice resent\r\n",
        unique("note"),
        agent = d.agent
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &note).await;
    let ooo = format!(
        "From: {agent}\r\nTo: {token_addr}\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <{}@example.test>\r\n\r\nI am away.\r\n",
        unique("ooo"),
        agent = d.agent
    );
    send_raw(&stack, None, &token_addr, &ooo).await;
    let close = format!(
        "From: {agent}\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\nMessage-ID: <{}@example.test>\r\n\r\n#close\r\n",
        unique("close"),
        agent = d.agent
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &close).await;

    let processed = d.wait_processed(10).await;
    wait_quiet(&stack, &d).await;
    let outcomes: Vec<String> = processed[2..]
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["outcome"].as_str().unwrap_or(""),
                p["action"].as_str().or(p["reason"].as_str()).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("quarantined:"))
            .count(),
        4,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"agent:note".to_string()), "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("agent:ignored automated mail")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&"agent:closed".to_string()),
        "{outcomes:?}"
    );
    let kim_box = mailbox(&stack, &kim).await;
    assert_eq!(
        kim_box.len(),
        3,
        "only the acknowledgement, the real answer and, after #close, the closing mail reached the customer"
    );
    assert!(
        kim_box[2]
            .header("Message-ID")
            .is_some_and(|id| id.starts_with("<closing.")),
        "the closing mail comes last"
    );
    assert_eq!(d.sent("AgentReply"), 1);
    assert_eq!(d.sent("Closing"), 1);

    d.stop().await;
    let t = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(t["state"], "closed", "{t}");
    assert!(
        t["first_response_at"].is_number(),
        "time to first response recorded: {t}"
    );
    assert!(
        t["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["note"] == "customer called, invoice resent"),
        "{t}"
    );
    let quarantined = d.cli_json(&["quarantine", "list"]);
    assert_eq!(
        quarantined.as_array().expect("array").len(),
        4,
        "{quarantined}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn availability_shapes_the_promise_and_the_agents_cli() {
    let stack = Stack::get();
    // The agent works only on the day three days from now: never today or tomorrow, even if
    // the test runs across midnight, so the promise names that weekday.
    let day = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::ToSpan::days(3))
        .expect("date");
    let short = day.strftime("%a").to_string();
    let long = day.strftime("%A").to_string();
    let mut d = Daemon::configure(
        &stack,
        Options {
            agent_extra: format!("working_hours = \"{short} 09:00-17:00\"\ntimezone = \"UTC\""),
            ..Options::default()
        },
    );
    d.launch().await;
    let lia = format!("{}@customer.test", unique("lia"));
    send_customer_mail(
        &stack,
        "Lia Lund",
        &lia,
        &d.support,
        "Weekend question",
        "Are you there?",
    )
    .await;
    let ack = wait_for_mail(&stack, &lia, 1).await;
    let text = ack[0].text().replace("\r\n", " ").replace('\n', " ");
    assert!(
        text.contains(&format!(
            "Jason is back {long} at 09:00 UTC and will answer you then."
        )),
        "{text}"
    );
    wait_quiet(&stack, &d).await;
    d.stop().await;

    let agents = d.cli_json(&["agents", "list"]);
    let row = &agents[0];
    assert_eq!(row["email"], d.agent);
    assert_eq!(row["open"], 1, "{agents}");
    assert_eq!(row["available"], false, "{agents}");
    d.cli(&["agents", "away", &d.agent]);
    assert_eq!(d.cli_json(&["agents", "list"])[0]["away"], true);
    d.cli(&["agents", "back", "Jason Miller"]);
    assert_eq!(d.cli_json(&["agents", "list"])[0]["away"], false);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_missed_first_response_target_is_escalated_once() {
    let stack = Stack::get();
    let lead = format!("{}@example.test", unique("lead"));
    let maria = format!("{}@example.test", unique("maria"));
    let mut d = Daemon::start(
        &stack,
        Options {
            extra: format!(
                "\n[sla]\nfirst_response_minutes = 0\nlead = \"{lead}\"\ncheck_interval_seconds = 1\nreassign = true\n\
\n[[agents]]\nname = \"Maria Lopez\"\nemail = \"{maria}\"\n"
            ),
            ..Options::default()
        },
    )
    .await;
    let max = format!("{}@customer.test", unique("max"));
    send_customer_mail(
        &stack,
        "Max Mohr",
        &max,
        &d.support,
        "Nobody answers",
        "Hello?",
    )
    .await;
    let escalations = wait_for_mail(&stack, &lead, 1).await;
    let subject = escalations[0]
        .parsed()
        .subject()
        .expect("subject")
        .to_string();
    assert!(
        subject.starts_with("Escalation: [Acme Support #1001] Nobody answers"),
        "{subject}"
    );
    assert!(
        escalations[0].text().contains("Max Mohr"),
        "{}",
        escalations[0].text()
    );
    // Asserting an absence needs time: let at least three more checks (1 s apart) run.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &lead).await.len(),
        1,
        "escalated once, not every check"
    );
    d.stop().await;
    let t = d.cli_json(&["tickets", "show", "1001"]);
    assert!(t["escalated_at"].is_number(), "{t}");
    // With reassign = true the ticket went to the other, available agent, who was told.
    assert_eq!(t["agent"], maria, "{t}");
    assert!(
        mailbox(&stack, &maria)
            .await
            .iter()
            .any(|m| m.text().contains("assigned to you by escalation")),
        "the new owner is told"
    );
}

/// The header lines of a notification's Reply-To, as an address.
fn reply_address_of(mail: &Fetched) -> String {
    let reply_to = mail.header("Reply-To").expect("Reply-To");
    reply_to
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn routes_stickiness_away_and_assign_between_two_agents() {
    let stack = Stack::get();
    let maria = format!("{}@example.test", unique("maria"));
    let mut d = Daemon::configure(
        &stack,
        Options {
            extra: format!("\n[[agents]]\nname = \"Maria Lopez\"\nemail = \"{maria}\"\n"),
            ..Options::default()
        },
    );
    d.launch().await;

    // billing@ shares the support mailbox (an alias): the To header routes it to billing,
    // whose only member is Jason.
    let ann = format!("{}@customer.test", unique("ann"));
    let mid = format!("<{}@customer.test>", unique("bill"));
    let raw = format!(
        "From: Ann Acker <{ann}>\r\nTo: billing@example.test\r\nSubject: Invoice\r\nMessage-ID: {mid}\r\n\r\nWrong amount.\r\n"
    );
    send_raw(&stack, Some(&ann), &d.support, &raw).await;
    let jason_box = wait_for_mail(&stack, &d.agent, 1).await;
    assert!(jason_box[0].text().contains("Wrong amount."));
    assert!(
        mailbox(&stack, &maria).await.is_empty(),
        "billing mail goes to the billing team only"
    );

    // Ben writes twice (two new mails): round robin would alternate, stickiness keeps the agent.
    let ben = format!("{}@customer.test", unique("ben"));
    send_customer_mail(&stack, "Ben Berg", &ben, &d.support, "First", "One.").await;
    d.wait_processed(2).await;
    send_customer_mail(&stack, "Ben Berg", &ben, &d.support, "Second", "Two.").await;
    d.wait_processed(3).await;
    wait_quiet(&stack, &d).await;
    let owner_of = |t: &serde_json::Value, n: u64| {
        t.as_array()
            .expect("tickets")
            .iter()
            .find(|x| x["id"] == n)
            .map(|x| x["agent"].as_str().unwrap_or_default().to_string())
            .expect("ticket")
    };
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_eq!(
        owner_of(&tickets, 1002),
        owner_of(&tickets, 1003),
        "sticky: {tickets}"
    );
    let ben_agent = owner_of(&tickets, 1002);

    // That agent goes away: Ben's next ticket goes to the other one.
    d.cli(&["agents", "away", &ben_agent]);
    d.launch().await;
    send_customer_mail(&stack, "Ben Berg", &ben, &d.support, "Third", "Three.").await;
    d.wait_processed(4).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_ne!(
        owner_of(&tickets, 1004),
        ben_agent,
        "away agents are skipped: {tickets}"
    );
    d.cli(&["agents", "back", &ben_agent]);

    // Jason hands Ann's ticket to Maria with #assign; an unknown name gets a notice back.
    d.launch().await;
    let notify = &mailbox(&stack, &d.agent).await[0];
    let token_addr = reply_address_of(notify);
    let notify_id = notify.header("Message-ID").expect("id");
    for (n, body) in [
        (1, "#assign Nobody Atall\r\n"),
        (
            2,
            "#assign Maria Lopez\r\nShe knows the billing system.\r\n",
        ),
    ] {
        let cmd = format!(
            "From: Jason Miller <{agent}>\r\nTo: {token_addr}\r\nSubject: Re: [Acme Support #1001] Invoice\r\n\
Message-ID: <{}@example.test>\r\nIn-Reply-To: {notify_id}\r\n\r\n{body}",
            unique(&format!("cmd{n}")),
            agent = d.agent
        );
        send_raw(&stack, Some(&d.agent), &token_addr, &cmd).await;
    }
    let handed = eventually(
        std::time::Duration::from_secs(20),
        "Maria to receive the ticket",
        async || {
            mailbox(&stack, &maria)
                .await
                .into_iter()
                .find(|m| m.text().contains("assigned to you by Jason Miller"))
        },
    )
    .await;
    assert!(
        handed.text().contains("Wrong amount."),
        "with the customer's mail: {}",
        handed.text()
    );
    assert!(handed.text().contains("She knows the billing system."));
    let notices: Vec<Fetched> = eventually(
        std::time::Duration::from_secs(20),
        "a notice to Jason",
        async || {
            let n: Vec<Fetched> = mailbox(&stack, &d.agent)
                .await
                .into_iter()
                .filter(|m| {
                    m.parsed()
                        .subject()
                        .is_some_and(|s| s.starts_with("Not sent:"))
                })
                .collect();
            (!n.is_empty()).then_some(n)
        },
    )
    .await;
    assert!(
        notices[0].text().contains("no agent is called"),
        "{}",
        notices[0].text()
    );
    wait_quiet(&stack, &d).await;
    d.stop().await;
    let t = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(t["agent"], maria, "{t}");

    // Operators do the same from the command line: close one ticket, hand another over.
    assert!(d.cli(&["tickets", "close", "1003"]).contains("closed"));
    assert_eq!(d.cli_json(&["tickets", "show", "1003"])["state"], "closed");
    let owner = d.cli_json(&["tickets", "show", "1002"])["agent"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target = if owner == maria {
        d.agent.clone()
    } else {
        maria.clone()
    };
    d.cli(&["tickets", "assign", "1002", &target]);
    assert_eq!(d.cli_json(&["tickets", "show", "1002"])["agent"], target);
    d.launch().await;
    eventually(
        std::time::Duration::from_secs(20),
        "the new owner to receive ticket 1002",
        async || {
            mailbox(&stack, &target).await.into_iter().find(|m| {
                m.text().contains("assigned to you by the support team")
                    && m.text().contains("Ticket #1002")
            })
        },
    )
    .await;
    d.stop().await;
    // Ann got her acknowledgement and, from #assign, Maria's short note; the agents' own
    // handover text stayed between them.
    let ann_box = mailbox(&stack, &ann).await;
    assert_eq!(
        ann_box.len(),
        2,
        "the acknowledgement and the handover note"
    );
    let note = ann_box[1].text();
    assert!(note.contains("I have taken over your request"), "{note}");
    assert!(!note.contains("She knows the billing system."), "{note}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn an_agents_forward_opens_the_customers_ticket() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let dora = format!("{}@customer.test", unique("dora"));
    let emil = format!("{}@customer.test", unique("emil"));
    // Inline, the way Gmail forwards.
    let inline = format!(
        "From: Jason Miller <{agent}>\r\nTo: {support}\r\nSubject: Fwd: Login broken\r\nMessage-ID: <{}@example.test>\r\n\r\n\
For the queue, please.\r\n\r\n---------- Forwarded message ---------\r\nFrom: Dora Dahl <{dora}>\r\n\
Date: Wed, 25 Nov 2026 at 09:00\r\nSubject: Login broken\r\nTo: Jason Miller <{agent}>\r\n\r\nI cannot log in since today.\r\n",
        unique("fwd1"),
        agent = d.agent,
        support = d.support
    );
    send_raw(&stack, Some(&d.agent), &d.support, &inline).await;
    // As an attachment, the way Outlook and Thunderbird can forward.
    let attached = format!(
        "From: Jason Miller <{agent}>\r\nTo: {support}\r\nSubject: Fwd: Refund\r\nMessage-ID: <{}@example.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fw\"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\n\
See the attached mail.\r\n--fw\r\nContent-Type: message/rfc822\r\n\r\nFrom: Emil Eck <{emil}>\r\nTo: {agent}\r\n\
Subject: Refund\r\nMessage-ID: <{}@customer.test>\r\n\r\nWhere is my refund?\r\n--fw--\r\n",
        unique("fwd2"),
        unique("orig"),
        agent = d.agent,
        support = d.support
    );
    send_raw(&stack, Some(&d.agent), &d.support, &attached).await;
    for (who, quote) in [
        (&dora, "> I cannot log in since today."),
        (&emil, "> Where is my refund?"),
    ] {
        let ack = wait_for_mail(&stack, who, 1).await;
        assert!(ack[0].text().contains(quote), "{}", ack[0].text());
    }
    wait_quiet(&stack, &d).await;
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    let customers: Vec<&str> = tickets
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["customer"].as_str())
        .collect();
    assert!(
        customers.contains(&dora.as_str()) && customers.contains(&emil.as_str()),
        "{tickets}"
    );
    assert!(
        !customers.contains(&d.agent.as_str()),
        "the agent is not the customer: {tickets}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn systemd_is_told_ready_watchdog_and_stopping() {
    let stack = Stack::get();
    let mut d = Daemon::configure(&stack, Options::default());
    let socket_path = d.dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    d.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        ("WATCHDOG_USEC".into(), "1000000".into()),
    ];
    d.launch().await;
    let mut seen: Vec<String> = Vec::new();
    let next = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Both READY=1 and at least one WATCHDOG=1 ping arrive (in any order).
    while !(seen.iter().any(|m| m.contains("READY=1"))
        && seen.iter().any(|m| m.contains("WATCHDOG=1")))
    {
        seen.push(next());
    }
    d.stop().await;
    let mut after = Vec::new();
    while !after.iter().any(|m: &String| m.contains("STOPPING=1")) {
        after.push(next());
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn ops_commands_work_beside_the_running_daemon() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let nora = format!("{}@customer.test", unique("nora"));
    send_customer_mail(
        &stack,
        "Nora Nagel",
        &nora,
        &d.support,
        "While you run",
        "Hello.",
    )
    .await;
    wait_for_mail(&stack, &nora, 1).await;
    wait_quiet(&stack, &d).await;
    // The daemon holds the store; the CLI asks it over the control socket.
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_eq!(tickets.as_array().expect("tickets").len(), 1, "{tickets}");
    assert!(d.cli(&["tickets", "show", "1001"]).contains("Ticket #1001"));
    d.cli(&["agents", "away", &d.agent]);
    assert_eq!(d.cli_json(&["agents", "list"])[0]["away"], true);
    assert!(d.cli(&["outbox", "list"]).contains("0 queued, 0 dead"));
    d.stop().await;
    // And directly on the store once it is free again.
    assert_eq!(d.cli_json(&["agents", "list"])[0]["away"], true);
}

/// Token helpers for `oauth2_token_command`, as an operator's OAuth2 script would be: run N
/// of helper NAME prints its N-th output (the last one again after that) and counts its runs.
struct TokenHelper {
    dir: tempfile::TempDir,
}

impl TokenHelper {
    fn new() -> TokenHelper {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("token-helper.sh"),
            r#"dir=$(dirname "$0")
n=$(( $(cat "$dir/$1.runs" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/$1.runs"
out="$dir/$1.out.$n"
[ -f "$out" ] || out="$dir/$1.out.last"
cat "$out"
"#,
        )
        .expect("helper script");
        TokenHelper { dir }
    }

    /// The configuration line for helper `name` printing `outputs`, one per run.
    fn command(&self, name: &str, outputs: &[&str]) -> String {
        for (i, out) in outputs.iter().enumerate() {
            let file = self.dir.path().join(format!("{name}.out.{}", i + 1));
            std::fs::write(file, format!("{out}\n")).expect("helper output");
        }
        let last = outputs.last().expect("at least one output");
        std::fs::write(
            self.dir.path().join(format!("{name}.out.last")),
            format!("{last}\n"),
        )
        .expect("helper output");
        format!(
            "oauth2_token_command = \"sh {} {name}\"",
            self.dir.path().join("token-helper.sh").display()
        )
    }

    /// How often helper `name` ran.
    fn runs(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.runs")))
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn oauth_token(stack: &Stack) -> String {
    assert!(
        !stack.oauth_token.is_empty(),
        "stack.env has no STACK_OAUTH_TOKEN: restart the stack with this scripts/mailstack"
    );
    stack.oauth_token.clone()
}

fn json_token(token: &str) -> String {
    format!(r#"{{"access_token": "{token}", "expires_in": 3599, "token_type": "Bearer"}}"#)
}

/// Postfix recorded a submission by `user` that logged in with XOAUTH2.
async fn smtp_xoauth2_login_seen(stack: &Stack, user: &str) {
    let line = format!("sasl_method=XOAUTH2, sasl_username={user}");
    eventually(
        std::time::Duration::from_secs(10),
        "Postfix to log an XOAUTH2 submission",
        async || stack.maillog().contains(&line).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn xoauth2_logins_acknowledge_and_reuse_the_cached_token() {
    let stack = Stack::get();
    let token = oauth_token(&stack);
    let helper = TokenHelper::new();
    // Over implicit TLS, as with Gmail (993/465); a bare token for IMAP, JSON for SMTP.
    let mut d = Daemon::start(
        &stack,
        Options {
            transport: Transport::Implicit,
            imap_login: Some(helper.command("imap", &[&token])),
            smtp_login: Some(helper.command("smtp", &[&json_token(&token)])),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(helper.runs("imap"), 1, "the IMAP login ran the command");

    let ivy = format!("{}@customer.test", unique("ivy"));
    send_customer_mail(&stack, "Ivy Ince", &ivy, &d.support, "OAuth", "Hello.").await;
    let ack = wait_for_mail(&stack, &ivy, 1).await;
    assert!(ack[0].text().contains("Hello Ivy,"), "{}", ack[0].text());
    // The stack also takes unauthenticated mail from loopback: prove the login happened.
    smtp_xoauth2_login_seen(&stack, &d.support).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        helper.runs("smtp"),
        1,
        "one token for the ack and the notification"
    );

    // A reconnect (and more mail) reuses the cached tokens.
    stack.script(&["kick", &d.support]);
    eventually(
        std::time::Duration::from_secs(20),
        "a second IMAP session",
        async || (d.events("imap.connected").len() >= 2).then_some(()),
    )
    .await;
    let jon = format!("{}@customer.test", unique("jon"));
    send_customer_mail(&stack, "Jon Jay", &jon, &d.support, "Again", "Hi.").await;
    wait_for_mail(&stack, &jon, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        helper.runs("imap"),
        1,
        "the reconnect used the cached token"
    );
    assert_eq!(helper.runs("smtp"), 1, "the SMTP pool kept its token");
    assert!(d.events("oauth2.rejected").is_empty());

    // check-config --connect logs in the same way (its own process: one run each).
    let check = d.cli_output(&["check-config", "--connect"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "check-config --connect: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        stdout.contains("imap login ok") && stdout.contains("smtp login ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("user={} (XOAUTH2)", d.support)),
        "{stdout}"
    );
    assert_eq!((helper.runs("imap"), helper.runs("smtp")), (2, 2));

    d.stop().await;
    assert!(!d.log_text().contains(&token), "the token is never logged");
    assert!(!stdout.contains(&token));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn xoauth2_refused_or_failing_tokens_are_clear_errors_not_dead_letters() {
    let stack = Stack::get();
    let token = oauth_token(&stack);
    let helper = TokenHelper::new();
    let wrong = "wrong-token-4711";

    // A token the server refuses: the command runs once more, then a clear error.
    let d = Daemon::configure(
        &stack,
        Options {
            imap_login: Some(helper.command("wrong", &[wrong])),
            ..Options::default()
        },
    );
    let out = d.cli_output(&["check-config", "--connect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused token must fail");
    assert!(
        stderr.contains(&format!("login as {} refused", d.support)),
        "{stderr}"
    );
    assert!(
        stderr.contains("AUTHENTICATE XOAUTH2") && stderr.contains("imap.oauth2_token_command"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(wrong),
        "the token stays out of errors: {stderr}"
    );
    assert_eq!(helper.runs("wrong"), 2, "refused, run again once, given up");

    // The stack's password is no token: XOAUTH2 really checks the token.
    let d = Daemon::configure(
        &stack,
        Options {
            imap_login: Some(helper.command("password", &[&stack.password])),
            ..Options::default()
        },
    );
    let out = d.cli_output(&["check-config", "--connect"]);
    assert!(!out.status.success(), "the password is not a bearer token");

    // A failing command: the key and the first line of its stderr, nothing of its stdout.
    let d = Daemon::configure(
        &stack,
        Options {
            imap_login: Some(
                "oauth2_token_command = \"echo half-a-token; echo 'invalid_grant: refresh token revoked' >&2; echo more >&2; exit 3\"".into(),
            ),
            ..Options::default()
        },
    );
    let out = d.cli_output(&["check-config", "--connect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "imap.oauth2_token_command failed (exit status: 3): invalid_grant: refresh token revoked"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("more") && !stderr.contains("half-a-token"),
        "{stderr}"
    );

    // SMTP: a refused token keeps the mail queued for a retry; it is no dead letter.
    let mut d = Daemon::start(
        &stack,
        Options {
            imap_login: Some(helper.command("imap", &[&token])),
            smtp_login: Some(helper.command("smtp-wrong", &[&json_token(wrong)])),
            ..Options::default()
        },
    )
    .await;
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(&stack, "Kim Kerr", &kim, &d.support, "Refused", "Hello?").await;
    eventually(
        std::time::Duration::from_secs(30),
        "the outbox's first attempt",
        async || {
            (!d.events("outbox.retry").is_empty() || !d.events("outbox.dead").is_empty())
                .then_some(())
        },
    )
    .await;
    assert!(d.events("outbox.dead").is_empty(), "no dead letters");
    let retry = &d.events("outbox.retry")[0];
    let error = retry["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains(&format!("SMTP login as {} refused", d.support))
            && error.contains("smtp.oauth2_token_command"),
        "{error}"
    );
    assert!(
        helper.runs("smtp-wrong") >= 2,
        "the command ran again after the refusal"
    );
    assert!(
        !stack
            .maillog()
            .contains(&format!("sasl_username={}", d.support)),
        "nothing was submitted with the refused token"
    );
    d.stop().await;
    let log = d.log_text();
    assert!(
        !log.contains(wrong) && !log.contains(&token),
        "tokens are never logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn xoauth2_refused_token_is_replaced_by_running_the_command_again() {
    let stack = Stack::get();
    let token = oauth_token(&stack);
    let stale = "stale-token-0815";
    let helper = TokenHelper::new();
    // Both helpers print a token the server no longer takes first (with an hour to live, so
    // it is cached), then the good one.
    let mut d = Daemon::start(
        &stack,
        Options {
            imap_login: Some(helper.command("imap", &[stale, &token])),
            smtp_login: Some(helper.command("smtp", &[&json_token(stale), &json_token(&token)])),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(helper.runs("imap"), 2, "refused, run again, logged in");
    assert!(
        d.events("imap.disconnected").is_empty(),
        "the first connection logged in, without a reconnect and its backoff"
    );
    let rejected = d.events("oauth2.rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], "imap.oauth2_token_command");

    let lou = format!("{}@customer.test", unique("lou"));
    send_customer_mail(&stack, "Lou Lark", &lou, &d.support, "Stale", "Hello.").await;
    wait_for_mail(&stack, &lou, 1).await;
    smtp_xoauth2_login_seen(&stack, &d.support).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(helper.runs("smtp"), 2, "refused, run again, sent");
    assert!(
        d.events("outbox.retry").is_empty(),
        "the refused token was replaced within the attempt: {:?}",
        d.events("outbox.retry")
    );
    assert_eq!(d.sent("Acknowledgement"), 1);
    assert!(d.events("outbox.dead").is_empty());
    assert!(
        d.events("oauth2.rejected")
            .iter()
            .any(|e| e["key"] == "smtp.oauth2_token_command")
    );
    d.stop().await;
    let log = d.log_text();
    assert!(
        !log.contains(stale) && !log.contains(&token),
        "tokens are never logged"
    );
}

/// Issue 13: `check-config --connect` logs in to every inbox, not only `[imap]`, and names
/// each one that fails in one run.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn check_config_connect_logs_in_to_every_inbox() {
    let stack = Stack::get();
    let inbox = |name: &str, address: &str, password: &str| {
        format!(
            "\n[[inboxes]]\nname = \"{name}\"\naddress = \"{address}\"\n[inboxes.imap]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\npassword = \"{password}\"\n",
            stack.imap_port
        )
    };
    let billing = format!("{}@example.test", unique("billing"));
    let good = Daemon::configure(
        &stack,
        Options {
            extra: inbox("billing", &billing, &stack.password),
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
    assert!(stdout.contains("imap login ok: inbox billing"), "{stdout}");
    let primary = good.support.split('@').next().unwrap_or_default();
    assert!(
        stdout.contains(&format!("imap login ok: inbox {primary}")),
        "{stdout}"
    );

    let bad = Daemon::configure(
        &stack,
        Options {
            extra: inbox("billing", &billing, &stack.password)
                + &inbox("broken", "help@elsewhere.test", "wrong"),
            ..Options::default()
        },
    );
    let out = bad.cli_output(&["check-config", "--connect"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("imap login FAILED: inbox broken"),
        "{stderr}"
    );
    assert!(
        stderr.contains("IMAP login failed for inbox broken"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imap login ok: inbox billing"));
}
