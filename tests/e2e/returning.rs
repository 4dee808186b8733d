//! Issue 14, point 4: a returning customer is remembered. Kim writes, Jason answers her from
//! his mail client, and when she writes again about something else, the new acknowledgement
//! says that Jason, who helped her last time with that (and its ticket number), takes this one.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_returning_customer_is_greeted_as_such() {
    let stack = Stack::get();
    let d = Daemon::start(&stack, Options::default()).await;
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Printer offline",
        "My printer says it is offline since this morning.",
    )
    .await;
    let first_ack = &wait_for_mail(&stack, &kim, 1).await[0];
    assert!(
        !first_ack.text().contains("last time"),
        "a first-time customer is not remembered: {}",
        first_ack.text()
    );
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    answer_notification(
        &stack,
        &d,
        &notes[0],
        "Switch it off and on again, please.\r\n\r\nJason",
    )
    .await;
    wait_for_mail(&stack, &kim, 2).await;

    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Invoice address",
        "Please send invoices to our new address from now on.",
    )
    .await;
    let kim_box = wait_for_mail(&stack, &kim, 3).await;
    let ack = kim_box[2].text().replace("\r\n", "\n");
    let subject = kim_box[2].header("Subject").unwrap_or_default();
    assert!(subject.contains("#1002"), "a new ticket: {subject}");
    let joined = ack.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("thank you for writing to Acme Support again."),
        "{joined}"
    );
    assert!(
        joined.contains(
            "Jason Miller, who helped you last time with \u{201c}Printer offline\u{201d} (ticket #1001), will take care of it"
        ),
        "{joined}"
    );
    let shown = d.cli(&["tickets", "show", "1001"]);
    assert!(
        shown.contains("min of working time)"),
        "the first response is recorded in working time: {shown}"
    );
}
