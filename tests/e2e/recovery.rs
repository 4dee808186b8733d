//! Losing the store, end to end against the real Dovecot + Postfix of `scripts/mailstack`: the
//! mailbox itself marks what was handled (`$Frontdesk`), so a fresh store answers nothing twice
//! and skips nothing that arrived meanwhile; a ticket number handed out again never lets an
//! old customer into a stranger's ticket; backups restore a store.
//! `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

use crate::common::*;

/// UIDs in `user`'s INBOX that match an IMAP SEARCH `query`.
async fn search(stack: &Stack, user: &str, query: &str) -> Vec<u32> {
    let mut s = imap(stack, user).await;
    let mut uids: Vec<u32> = s
        .uid_search(query)
        .await
        .expect("search")
        .into_iter()
        .collect();
    let _ = s.logout().await;
    uids.sort_unstable();
    uids
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn deleting_the_state_directory_answers_nothing_twice() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let alice = format!("{}@customer.test", unique("alice"));
    send_customer_mail(&stack, "Alice", &alice, &d.support, "Before", "Hello.").await;
    let robot = format!(
        "From: <robot@customer.test>\r\nTo: {to}\r\nSubject: Report\r\nMessage-ID: <{id}@customer.test>\r\n\
Auto-Submitted: auto-generated\r\n\r\nnightly report\r\n",
        to = d.support,
        id = unique("r")
    );
    send_raw(&stack, Some("robot@customer.test"), &d.support, &robot).await;
    wait_for_mail(&stack, &alice, 1).await;
    wait_quiet(&stack, &d).await;
    // Both decisions are marked on the server; only the ticket's mail is read.
    eventually(
        std::time::Duration::from_secs(10),
        "both mails marked handled",
        async || (search(&stack, &d.support, "KEYWORD $Frontdesk").await.len() == 2).then_some(()),
    )
    .await;
    assert_eq!(
        search(&stack, &d.support, "UNSEEN").await.len(),
        1,
        "the report stays unread"
    );
    d.stop().await;

    // The store is lost; a customer writes while the daemon is down.
    std::fs::remove_dir_all(d.dir.path().join("state")).expect("remove the state directory");
    let bob = format!("{}@customer.test", unique("bob"));
    send_customer_mail(&stack, "Bob", &bob, &d.support, "During", "Hello.").await;
    eventually(
        std::time::Duration::from_secs(10),
        "Bob's mail delivered",
        async || (mailbox(&stack, &d.support).await.len() == 3).then_some(()),
    )
    .await;
    d.launch().await;

    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &alice).await.len(),
        1,
        "Alice is not answered twice"
    );
    assert_eq!(
        mailbox(&stack, &bob).await.len(),
        1,
        "Bob, who wrote meanwhile, is answered"
    );
    assert_eq!(d.events("imap.recovered").len(), 1, "{}", d.log_text());
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_eq!(
        tickets.as_array().expect("tickets").len(),
        1,
        "only Bob's: {tickets}"
    );
    d.stop().await;
}

/// The number in a subject's `[Acme Support #N]`.
fn ticket_in(subject: &str) -> Option<u64> {
    let (_, rest) = subject.split_once("[Acme Support #")?;
    rest.split(']').next()?.parse().ok()
}

/// The Message-ID and ticket number of the acknowledgement in `customer`'s mailbox.
async fn acknowledgement(stack: &Stack, customer: &str) -> (String, u64) {
    let acks = wait_for_mail(stack, customer, 1).await;
    let id = acks[0].header("Message-ID").expect("a Message-ID");
    let subject = acks[0].parsed().subject().unwrap_or_default().to_string();
    (id, ticket_in(&subject).expect("a ticket tag"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn after_a_lost_store_an_old_customers_reply_opens_her_own_ticket() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let alice = format!("{}@customer.test", unique("alice"));
    send_customer_mail(&stack, "Alice", &alice, &d.support, "My order", "Hello.").await;
    let (alice_ack, alice_ticket) = acknowledgement(&stack, &alice).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;

    // The store is lost: ticket numbers and mail sequences start again, and a stranger's
    // mail is the first the new store keeps, as Alice's was in the old one.
    std::fs::remove_dir_all(d.dir.path().join("state")).expect("remove the state directory");
    d.launch().await;
    let bob = format!("{}@customer.test", unique("bob"));
    send_customer_mail(&stack, "Bob", &bob, &d.support, "Invoice", "Where is it?").await;
    let (bob_ack, bob_ticket) = acknowledgement(&stack, &bob).await;
    assert_eq!(bob_ticket, alice_ticket, "the number is handed out again");
    assert_ne!(bob_ack, alice_ack, "but not the id Alice holds");

    // Alice answers her acknowledgement, with her card in it.
    let reply = format!(
        "From: Alice <{alice}>\r\nTo: {support}\r\nSubject: Re: [Acme Support #{alice_ticket}] My order\r\n\
Message-ID: <{id}@customer.test>\r\nIn-Reply-To: {alice_ack}\r\nReferences: {alice_ack}\r\n\r\n\
My card is 4111 1111 1111 1111.\r\n",
        support = d.support,
        id = unique("a2")
    );
    send_raw(&stack, Some(&alice), &d.support, &reply).await;
    let mails = wait_for_mail(&stack, &alice, 2).await;
    wait_quiet(&stack, &d).await;
    let subject = mails[1].parsed().subject().unwrap_or_default().to_string();
    let hers = ticket_in(&subject).expect("a ticket tag");
    assert_ne!(
        hers, bob_ticket,
        "a ticket of her own, acknowledged: {subject}"
    );
    d.stop().await;
    let bobs = d.cli_json(&["tickets", "show", &bob_ticket.to_string()]);
    assert_eq!(bobs["customer"], bob);
    let inbound: Vec<&serde_json::Value> = bobs["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .collect();
    assert_eq!(inbound.len(), 1, "Bob's ticket holds only his mail: {bobs}");
    let herst = d.cli_json(&["tickets", "show", &hers.to_string()]);
    assert_eq!(herst["customer"], alice);
}

/// A backup of the running daemon's store (the CLI asks the daemon); its path.
fn backup(d: &Daemon) -> std::path::PathBuf {
    let said = d.cli(&["backup"]);
    let path = said
        .strip_prefix("backup written: ")
        .and_then(|rest| rest.split(" (").next())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("unexpected answer: {said}"));
    assert!(path.is_file(), "{said}");
    path
}

/// Points the daemon's `[smtp]` from port `from` to port `to`, retrying every second or two
/// (not 10 s and doubling) so that a retry comes soon after the server is back.
fn smtp_port(d: &Daemon, from: u16, to: u16) {
    let text = std::fs::read_to_string(&d.config).expect("config");
    let (head, tail) = text.split_once("[smtp]\n").expect("an [smtp] section");
    let tail = tail.replacen(&format!("port = {from}\n"), &format!("port = {to}\n"), 1);
    let retry = if tail.contains("retry_initial_seconds") {
        ""
    } else {
        "retry_initial_seconds = 1\nretry_max_seconds = 2\n"
    };
    std::fs::write(&d.config, format!("{head}[smtp]\n{retry}{tail}")).expect("write config");
}

/// Issue 17, point 7: a restore sends nothing twice. Dave's acknowledgement and his agent's
/// notification are queued when a backup is taken beside the running daemon (the SMTP server
/// cannot be reached), and sent after it; then the store is lost and the backup restored.
/// The restore holds both as dead letters instead of sending them again, and says so; mail
/// handled after the backup (Bob's) is not answered again; new mail (Carol's) is answered.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_backup_taken_beside_the_daemon_restores_without_answering_twice() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customer = |name: &str| format!("{}@customer.test", unique(name));
    let (alice, bob, carol, dave) = (
        customer("alice"),
        customer("bob"),
        customer("carol"),
        customer("dave"),
    );
    send_customer_mail(
        &stack,
        "Alice",
        &alice,
        &d.support,
        "Before the backup",
        "Hi.",
    )
    .await;
    wait_for_mail(&stack, &alice, 1).await;
    wait_quiet(&stack, &d).await;

    // The SMTP server cannot be reached: Dave's mail is decided, its two mails wait queued.
    d.stop().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    smtp_port(&d, stack.smtp_port, closed);
    d.launch().await;
    send_customer_mail(
        &stack,
        "Dave",
        &dave,
        &d.support,
        "While SMTP is down",
        "Hi.",
    )
    .await;
    d.wait_processed(2).await;
    eventually(
        std::time::Duration::from_secs(30),
        "Dave's mails queued",
        async || {
            let outbox = d.cli_json(&["outbox", "list"]);
            (outbox["pending"].as_array().map_or(0, Vec::len) == 2).then_some(())
        },
    )
    .await;

    // A backup while the daemon runs (it holds the store; the CLI asks it).
    let path = backup(&d);
    // Restoring under a running daemon is refused.
    let refused = d.cli_output(&["restore", path.to_str().expect("path")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("daemon is running"),
        "{refused:?}"
    );

    // SMTP is back: Dave's mails go out after the backup; Bob writes and is answered.
    d.stop().await;
    smtp_port(&d, closed, stack.smtp_port);
    d.launch().await;
    let dave_mail = wait_for_mail(&stack, &dave, 1).await;
    send_customer_mail(&stack, "Bob", &bob, &d.support, "After the backup", "Hi.").await;
    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;

    // The store breaks; the backup comes back, holding what it had queued.
    std::fs::remove_dir_all(d.dir.path().join("state").join("db")).expect("remove the store");
    let restored = d.cli(&["restore", path.to_str().expect("path")]);
    assert!(restored.contains("restored 2 tickets"), "{restored}");
    assert!(
        restored.contains("held 2 queued mail(s) as dead letters"),
        "{restored}"
    );
    let ack_id = dave_mail[0].header("Message-ID").expect("Message-ID");
    assert!(restored.contains(ack_id.trim()), "{ack_id} in {restored}");
    d.launch().await;
    send_customer_mail(
        &stack,
        "Carol",
        &carol,
        &d.support,
        "After the restore",
        "Hi.",
    )
    .await;
    wait_for_mail(&stack, &carol, 1).await;
    wait_quiet(&stack, &d).await;
    for (who, addr) in [
        ("Alice", &alice),
        ("Bob", &bob),
        ("Carol", &carol),
        ("Dave", &dave),
    ] {
        assert_eq!(mailbox(&stack, addr).await.len(), 1, "{who} answered once");
    }
    // The agent got each notification once. They are told apart by subject, not by
    // Message-ID: ticket numbers opened after the backup (Bob's) are lost with the store and
    // given again after the restore (Carol's), and with them, today, the Message-IDs.
    let notes = mailbox(&stack, &d.agent).await;
    let mut subjects: Vec<String> = notes
        .iter()
        .map(|n| {
            let subject = n.header("Subject").unwrap_or_default();
            [
                "Before the backup",
                "While SMTP is down",
                "After the backup",
                "After the restore",
            ]
            .into_iter()
            .find(|s| subject.contains(s))
            .unwrap_or_else(|| panic!("a notification about {subject}"))
            .to_string()
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!((notes.len(), subjects.len()), (4, 4), "{subjects:?}");
    // Dave's two wait as dead letters, saying why and how to send them.
    let outbox = d.cli_json(&["outbox", "list"]);
    let dead = outbox["dead"].as_array().expect("dead letters");
    assert_eq!(dead.len(), 2, "{outbox}");
    for letter in dead {
        let error = letter.to_string();
        assert!(error.contains("held at restore"), "{letter}");
        assert!(error.contains("frontdesk outbox retry"), "{letter}");
    }
    let tickets = d.cli_json(&["tickets", "list"]);
    let customers: Vec<&str> = tickets
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["customer"].as_str())
        .collect();
    assert_eq!(
        customers.len(),
        3,
        "Alice's and Dave's from the backup, and Carol's: {tickets}"
    );
    for c in [&alice, &dave, &carol] {
        assert!(customers.contains(&c.as_str()), "{c}: {tickets}");
    }
    d.stop().await;
}

/// Issue 17: a store restored from a backup meets a mailbox whose UIDs were reset (restored
/// or migrated too). The re-sync reads the mail since the backup again, by content; what was
/// handled after the backup is not among the restored store's digests, but it carries
/// `$Frontdesk`, so nobody is answered twice.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_restored_store_meeting_reset_uids_answers_nothing_twice() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customer = |name: &str| format!("{}@customer.test", unique(name));
    let (alice, bob, carol) = (customer("alice"), customer("bob"), customer("carol"));
    send_customer_mail(&stack, "Alice", &alice, &d.support, "Before", "Hi.").await;
    wait_for_mail(&stack, &alice, 1).await;
    wait_quiet(&stack, &d).await;
    let path = backup(&d);
    send_customer_mail(&stack, "Bob", &bob, &d.support, "After the backup", "Hi.").await;
    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    eventually(
        std::time::Duration::from_secs(10),
        "both mails marked handled",
        async || (search(&stack, &d.support, "KEYWORD $Frontdesk").await.len() == 2).then_some(()),
    )
    .await;
    d.stop().await;

    std::fs::remove_dir_all(d.dir.path().join("state").join("db")).expect("remove the store");
    let restored = d.cli(&["restore", path.to_str().expect("path")]);
    assert!(restored.contains("restored 1 tickets"), "{restored}");
    stack.script(&["uidvalidity", &d.support]);
    d.launch().await;
    send_customer_mail(&stack, "Carol", &carol, &d.support, "After it all", "Hi.").await;
    wait_for_mail(&stack, &carol, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        d.events("imap.uidvalidity-changed").len(),
        1,
        "{}",
        d.log_text()
    );
    for (who, addr) in [("Alice", &alice), ("Bob", &bob), ("Carol", &carol)] {
        assert_eq!(mailbox(&stack, addr).await.len(), 1, "{who} answered once");
    }
    d.stop().await;
}

/// Issue 17: with `processed_mailbox`, handled mail leaves INBOX, taking its `$Frontdesk`
/// keyword along (it is set before the move). A lost store is still recognised by the mail
/// in the processed mailbox: what arrived meanwhile is answered, once, and nothing twice.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_lost_store_is_recognised_when_handled_mail_was_moved() {
    let stack = Stack::get();
    let mut d = Daemon::start(
        &stack,
        Options {
            imap_extra: "processed_mailbox = \"Processed\"".into(),
            ..Options::default()
        },
    )
    .await;
    let customer = |name: &str| format!("{}@customer.test", unique(name));
    let (alice, bob) = (customer("alice"), customer("bob"));
    send_customer_mail(&stack, "Alice", &alice, &d.support, "Before", "Hello.").await;
    wait_for_mail(&stack, &alice, 1).await;
    eventually(
        std::time::Duration::from_secs(20),
        "Alice's mail moved to Processed",
        async || {
            let moved = folder(&stack, &d.support, "Processed").await;
            (moved.len() == 1 && mailbox(&stack, &d.support).await.is_empty()).then_some(())
        },
    )
    .await;
    wait_quiet(&stack, &d).await;
    d.stop().await;

    // The store is lost; Bob writes while the daemon is down.
    std::fs::remove_dir_all(d.dir.path().join("state")).expect("remove the state directory");
    send_customer_mail(&stack, "Bob", &bob, &d.support, "During", "Hello.").await;
    wait_for_mail(&stack, &d.support, 1).await;
    d.launch().await;

    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &alice).await.len(),
        1,
        "Alice answered once"
    );
    assert_eq!(mailbox(&stack, &bob).await.len(), 1, "Bob answered once");
    assert_eq!(d.events("imap.recovered").len(), 1, "{}", d.log_text());
    let tickets = d.cli_json(&["tickets", "list"]);
    assert_eq!(
        tickets.as_array().expect("tickets").len(),
        1,
        "only Bob's: {tickets}"
    );
    d.stop().await;
}

/// When handled mail went where the daemon does not look (a person archived it), the
/// mailbox still knows the keyword but no mail carries it: a lost store that cannot be
/// told from history. The start is a first start's, logged as an error that says so.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_lost_store_that_cannot_be_recovered_is_logged_loudly() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customer = |name: &str| format!("{}@customer.test", unique(name));
    let (alice, bob) = (customer("alice"), customer("bob"));
    send_customer_mail(&stack, "Alice", &alice, &d.support, "Before", "Hello.").await;
    wait_for_mail(&stack, &alice, 1).await;
    wait_quiet(&stack, &d).await;
    eventually(
        std::time::Duration::from_secs(10),
        "Alice's mail marked handled",
        async || (search(&stack, &d.support, "KEYWORD $Frontdesk").await.len() == 1).then_some(()),
    )
    .await;
    d.stop().await;
    // A person archives the handled mail.
    {
        let mut s = imap(&stack, &d.support).await;
        let _ = s.create("Archive").await;
        s.uid_mv("1:*", "Archive").await.expect("move");
        let _ = s.logout().await;
    }

    std::fs::remove_dir_all(d.dir.path().join("state")).expect("remove the state directory");
    send_customer_mail(&stack, "Bob", &bob, &d.support, "During", "Hello.").await;
    wait_for_mail(&stack, &d.support, 1).await;
    d.skipped = 1;
    d.launch().await;
    wait_quiet(&stack, &d).await;
    let lost = d.events("imap.store-lost");
    assert_eq!(lost.len(), 1, "{}", d.log_text());
    assert_eq!(lost[0]["level"], "ERROR", "{lost:?}");
    assert!(d.events("imap.recovered").is_empty());
    assert!(
        mailbox(&stack, &bob).await.is_empty(),
        "what cannot be told from history is left alone"
    );
    d.stop().await;
}
