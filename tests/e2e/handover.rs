//! Issue 14, point 5: when a ticket changes hands, its customer hears it from the new agent.
//! Jason goes away with `frontdesk agents away --hand-over` while the daemon runs; his open
//! ticket goes to Maria, who gets the notification, and the customer gets one short mail in
//! Maria's name, in the ticket's thread, marked as automatic.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn an_agent_going_away_hands_over_and_the_customer_is_told_by_the_new_agent() {
    let stack = Stack::get();
    let maria = format!("{}@example.test", unique("maria"));
    let d = Daemon::start(
        &stack,
        Options {
            extra: format!("\n[[agents]]\nname = \"Maria Lopez\"\nemail = \"{maria}\"\n"),
            ..Options::default()
        },
    )
    .await;
    let kim = format!("{}@customer.test", unique("kim"));
    let asked = send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Login fails",
        "I cannot log in since yesterday.",
    )
    .await;
    let ack = wait_for_mail(&stack, &kim, 1).await.remove(0);
    let owner = d.cli_json(&["tickets", "show", "1001"])["agent"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(owner, d.agent, "the first agent has it");

    let said = d.cli(&["agents", "away", &d.agent, "--hand-over"]);
    assert!(
        said.contains("ticket #1001 assigned to Maria Lopez"),
        "{said}"
    );
    let kim_box = wait_for_mail(&stack, &kim, 2).await;
    let note = &kim_box[1];
    let m = note.parsed();
    let from = m.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.name(), Some("Maria Lopez, Acme Support"));
    assert_eq!(from.address(), Some(d.support.as_str()));
    assert_eq!(
        note.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert!(
        note.header("In-Reply-To").is_some_and(|r| r == asked),
        "in the customer's thread"
    );
    let refs = note.header("References").unwrap_or_default();
    let ack_id = ack.header("Message-ID").expect("ack id");
    assert!(refs.contains(&ack_id), "after our acknowledgement: {refs}");
    let text = note.text().replace("\r\n", "\n");
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.starts_with(
            "Hello Kim, this is Maria Lopez from Acme Support. I have taken over your request [Acme Support #1001] from Jason and will answer you personally."
        ),
        "{joined}"
    );
    let raw = String::from_utf8_lossy(&note.raw);
    for internal in [d.agent.as_str(), maria.as_str(), "support+1001."] {
        assert!(
            !raw.contains(internal),
            "{internal:?} reached the customer: {raw}"
        );
    }
    // Maria has the ticket, with its notification.
    let handed = wait_for_mail(&stack, &maria, 1).await;
    assert!(
        handed[0]
            .text()
            .contains("I cannot log in since yesterday."),
        "{}",
        handed[0].text()
    );
    let shown = d.cli(&["tickets", "show", "1001"]);
    assert!(shown.contains("handover"), "{shown}");
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &kim).await.len(),
        2,
        "one note, nothing more"
    );
}
