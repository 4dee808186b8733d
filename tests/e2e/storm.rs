//! Floods, end to end against the real Dovecot + Postfix of `scripts/mailstack`: a thousand
//! mails from one address in under a minute cost a few tickets and acknowledgements, not a
//! thousand, and the agent gets a handful of notifications. `#[ignore]`d like the other
//! end-to-end tests; `scripts/test` runs them.

use std::time::Duration;

use crate::common::*;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_thousand_mails_from_one_sender_yield_one_tickets_worth() {
    const STORM: usize = 1000;
    let stack = Stack::get();
    let d = Daemon::start(&stack, Options::default()).await;
    let sender = format!("{}@customer.test", unique("storm"));
    let started = std::time::Instant::now();
    futures::stream::iter(0..STORM)
        .for_each_concurrent(16, |n| {
            let (stack, sender, to) = (&stack, &sender, &d.support);
            async move {
                let subject = format!("Storm {n}");
                send_customer_mail(stack, "Stormy", sender, to, &subject, "Again.").await;
            }
        })
        .await;
    println!("{STORM} mails injected in {:?}", started.elapsed());
    eventually(
        Duration::from_secs(240),
        "every storm mail processed",
        async || (d.events("mail.processed").len() >= STORM).then_some(()),
    )
    .await;
    println!("processed after {:?}", started.elapsed());
    wait_quiet(&stack, &d).await;

    let acks = mailbox(&stack, &sender).await.len();
    assert!((1..=3).contains(&acks), "{acks} acknowledgements");
    let tickets = d.cli_json(&["tickets", "list"]);
    let tickets = tickets.as_array().expect("tickets");
    assert!(tickets.len() <= 3, "{} tickets", tickets.len());
    let notes = mailbox(&stack, &d.agent).await.len();
    assert!(notes <= 12, "the agent got {notes} notifications");
    // Nothing is lost: every mail is recorded on a ticket.
    let recorded: usize = tickets
        .iter()
        .map(|t| {
            let n = t["number"]
                .as_u64()
                .or_else(|| t["id"].as_u64())
                .expect("number");
            d.cli_json(&["tickets", "show", &n.to_string()])["messages"]
                .as_array()
                .map_or(0, |m| {
                    m.iter().filter(|m| m["direction"] == "inbound").count()
                })
        })
        .sum();
    assert_eq!(recorded, STORM, "every storm mail is on a ticket");
}
