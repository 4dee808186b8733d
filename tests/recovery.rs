//! Losing the store, end to end against the real Dovecot + Postfix of `scripts/mailstack`: the
//! mailbox itself marks what was handled (`$Frontdesk`), so a fresh store answers nothing twice
//! and skips nothing that arrived meanwhile; backups restore a store.
//! `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

mod common;

use common::*;

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
