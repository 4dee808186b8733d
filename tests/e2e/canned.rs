//! Issue 15, point 2: canned answers. An agent answers a real notification with
//! `#reply NAME` and a line of their own; the customer receives the canned answer (the shipped
//! `templates/replies/refund-received.txt.hbs`, rendered with the ticket's variables)
//! followed by that line, and nothing internal.

use std::path::Path;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_canned_answer_with_the_agents_extra_text() {
    let stack = Stack::get();
    // The desk's templates directory: the shipped example canned answers in replies/.
    let templates = tempfile::tempdir().expect("tempdir");
    let replies = templates.path().join("replies");
    std::fs::create_dir(&replies).expect("mkdir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/replies");
    for name in ["refund-received.txt.hbs", "password-reset.txt.hbs"] {
        std::fs::copy(shipped.join(name), replies.join(name)).expect("copy");
    }
    let d = Daemon::start(
        &stack,
        Options {
            service_extra: format!("templates_dir = \"{}\"", templates.path().display()),
            ..Options::default()
        },
    )
    .await;
    let listed = d.cli(&["replies", "list"]);
    assert!(
        listed.contains("refund-received") && listed.contains("password-reset"),
        "{listed}"
    );

    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Refund for order 4417",
        "You charged me twice for order 4417. Please refund one of them.",
    )
    .await;
    wait_for_mail(&stack, &kim, 1).await;
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    // The agent presses Reply: the command, a line of their own, their signature, and the
    // whole notification quoted below.
    let (token_addr, answer) = agent_answer(
        &d,
        &notes[0],
        "#reply refund-received\r\n\r\nIt was the double charge from May 3; sorry about that.\r\n\r\nJason",
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &answer).await;

    let kim_box = wait_for_mail(&stack, &kim, 2).await;
    let relayed = &kim_box[1];
    let text = relayed.text().replace("\r\n", "\n");
    let text = text.trim_end();
    assert!(
        text.starts_with("Hello Kim,\n\nyour refund has been approved and is on its way"),
        "the canned answer comes first, greeting the customer: {text}"
    );
    assert!(
        text.contains("(keep\n[Acme Support #1001] in the subject) and Jason will look into it"),
        "rendered with the ticket's and the agent's variables: {text}"
    );
    assert!(
        text.ends_with(
            "payment provider.\n\nIt was the double charge from May 3; sorry about that.\n\nJason"
        ),
        "the agent's own text follows after a blank line: {text}"
    );
    let raw = String::from_utf8_lossy(&relayed.raw);
    for internal in [
        "#reply",
        "{{",
        "Ticket #1001 ·",
        "Reply above this line",
        "You charged me twice",
        token_addr.as_str(),
        d.agent.as_str(),
    ] {
        assert!(
            !raw.contains(internal),
            "{internal:?} reached the customer: {raw}"
        );
    }
    assert!(
        !raw.contains("text/html"),
        "a canned answer goes as text: {raw}"
    );
    let m = relayed.parsed();
    let from = m.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.name(), Some("Jason Miller, Acme Support"));
    assert_eq!(from.address(), Some(d.support.as_str()));
    // Nothing else went to the agent: no notice of a refusal.
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &d.agent).await.len(),
        1,
        "only the notification"
    );
}
