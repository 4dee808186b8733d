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

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_backup_taken_beside_the_daemon_restores_without_answering_twice() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let customer = |name: &str| format!("{}@customer.test", unique(name));
    let (alice, bob, carol) = (customer("alice"), customer("bob"), customer("carol"));
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

    // A backup while the daemon runs (it holds the store; the CLI asks it).
    let said = d.cli(&["backup"]);
    let path = said
        .strip_prefix("backup written: ")
        .and_then(|rest| rest.split(" (").next())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("unexpected answer: {said}"));
    assert!(path.is_file(), "{said}");
    // Restoring under a running daemon is refused.
    let refused = d.cli_output(&["restore", path.to_str().expect("path")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("daemon is running"),
        "{refused:?}"
    );

    send_customer_mail(&stack, "Bob", &bob, &d.support, "After the backup", "Hi.").await;
    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    d.stop().await;

    // The store breaks; the backup comes back.
    std::fs::remove_dir_all(d.dir.path().join("state").join("db")).expect("remove the store");
    let restored = d.cli(&["restore", path.to_str().expect("path")]);
    assert!(restored.contains("restored 1 tickets"), "{restored}");
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
    for (who, addr) in [("Alice", &alice), ("Bob", &bob), ("Carol", &carol)] {
        assert_eq!(mailbox(&stack, addr).await.len(), 1, "{who} answered once");
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
        2,
        "Alice's from the backup and Carol's: {tickets}"
    );
    assert!(customers.contains(&alice.as_str()) && customers.contains(&carol.as_str()));
    d.stop().await;
}
