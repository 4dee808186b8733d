//! Issue 15, points 3 to 5: the end of a ticket. An agent's `#close` sends the customer a
//! personal closing mail, threaded into the ticket and marked automatic; the customer's
//! "4, thanks" by reply is recorded as a rating (in `tickets show` and `agents list`), the
//! ticket stays closed and the agent gets a note. A ticket waiting on its customer gets one
//! reminder and then closes with the closing mail, on the daemon's test clock
//! (`store::CLOCK_OFFSET_ENV`) rather than days of waiting.

use std::time::Duration;

use crate::common::*;

const DAY: i64 = 86_400;

/// The one mail in `mails` whose Message-ID is of our `kind` (`closing`, `reminder` …).
fn of_kind<'a>(mails: &'a [Fetched], kind: &str) -> Vec<&'a Fetched> {
    mails
        .iter()
        .filter(|m| {
            m.header("Message-ID")
                .is_some_and(|id| id.starts_with(&format!("<{kind}.")))
        })
        .collect()
}

/// Checks that `mail` is an automatic mail of ours in the customer's thread.
fn assert_automatic_in_thread(mail: &Fetched, customer_id: &str, support: &str) {
    assert_eq!(
        mail.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        mail.header("In-Reply-To").as_deref(),
        Some(customer_id),
        "threaded on the customer's mail"
    );
    let references = mail.header("References").unwrap_or_default();
    assert!(references.contains(customer_id), "{references}");
    let parsed = mail.parsed();
    let from = parsed.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.name(), Some("Jason Miller, Acme Support"));
    assert_eq!(from.address(), Some(support));
    assert!(
        parsed
            .subject()
            .is_some_and(|s| s.contains("[Acme Support #1001]")),
        "{:?}",
        parsed.subject()
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn close_then_the_customers_rating_by_reply_is_recorded_and_shown() {
    let stack = Stack::get();
    let d = Daemon::start(&stack, Options::default()).await;
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Printer offline",
        "The printer on floor 2 says offline.",
    )
    .await;
    let acked = wait_for_mail(&stack, &kim, 1).await;
    let kim_id = acked[0]
        .header("In-Reply-To")
        .expect("the ack answers her mail");
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    answer_notification(
        &stack,
        &d,
        &notes[0],
        "#close\r\n\r\nI restarted its network card; it is online again.\r\n\r\nJason",
    )
    .await;

    // The answer, then the closing mail.
    let kim_box = wait_for_mail(&stack, &kim, 3).await;
    let closing = of_kind(&kim_box, "closing");
    let [closing] = closing.as_slice() else {
        panic!("one closing mail: {kim_box:?}");
    };
    assert_automatic_in_thread(closing, &kim_id, &d.support);
    let text = closing.text().replace("\r\n", "\n");
    assert!(text.starts_with("Hello Kim,"), "{text}");
    assert!(text.contains("from 1 (poor) to 5 (excellent)"), "{text}");
    assert_eq!(of_kind(&kim_box, "reply").len(), 1, "the answer went too");
    let shown = d.cli(&["tickets", "show", "1001"]);
    assert!(
        shown.contains("(Closed)") && shown.contains(" closing "),
        "{shown}"
    );

    // Kim rates by reply, above the quote of the closing mail.
    let closing_id = closing.header("Message-ID").expect("id");
    let quoted: String = text.lines().map(|l| format!("> {l}\r\n")).collect();
    let rating = format!(
        "From: Kim Kerr <{kim}>\r\nTo: Acme Support <{support}>\r\nSubject: Re: Printer offline [Acme Support #1001]\r\n\
Message-ID: <{}@customer.test>\r\nIn-Reply-To: {closing_id}\r\nReferences: {kim_id} {closing_id}\r\n\r\n\
4, thanks\r\n\r\nOn Fri, 4 Dec 2026, Jason Miller, Acme Support wrote:\r\n{quoted}",
        unique("rating"),
        support = d.support
    );
    send_raw(&stack, Some(&kim), &d.support, &rating).await;

    // The agent gets a short note of it.
    let agent_box = wait_for_mail(&stack, &d.agent, 2).await;
    let note = &agent_box[1];
    let subject = note.parsed().subject().expect("subject").to_string();
    assert!(
        subject.starts_with("Rated 4/5: [Acme Support #1001]"),
        "{subject}"
    );
    let note_text = note.text();
    assert!(
        note_text.contains("4 of 5") && note_text.contains("Their comment: thanks"),
        "{note_text}"
    );

    // Recorded on the ticket, which stays closed.
    let json = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(json["state"], "closed", "{json}");
    assert_eq!(json["rating"]["score"], 4, "{json}");
    assert_eq!(json["rating"]["comment"], "thanks", "{json}");
    let shown = d.cli(&["tickets", "show", "1001"]);
    assert!(
        shown.contains("rating    4/5 by the customer") && shown.contains(": thanks"),
        "{shown}"
    );
    assert!(shown.contains("note: rating 4/5: thanks"), "{shown}");
    let agents = d.cli(&["agents", "list"]);
    assert!(agents.contains("4 of 5 (1 rated)"), "{agents}");
    let listed = d.cli_json(&["agents", "list"]);
    assert_eq!(listed[0]["ratings_30d"], 1, "{listed}");

    // Nothing more to the customer: a rating is not answered, nor the ticket reopened.
    wait_quiet(&stack, &d).await;
    assert_eq!(mailbox(&stack, &kim).await.len(), 3);
    assert_eq!(mailbox(&stack, &d.agent).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_ticket_waiting_on_its_customer_is_reminded_once_then_closed() {
    let stack = Stack::get();
    let mut d = Daemon::configure(
        &stack,
        Options {
            extra: "\n[tickets]\nremind_after_days = 3\nautoclose_after_days = 4\n\n[sla]\ncheck_interval_seconds = 1\n"
                .into(),
            ..Options::default()
        },
    );
    let clock = d.dir.path().join("clock-offset");
    std::fs::write(&clock, "0").expect("clock");
    d.env = vec![(
        frontdesk::store::CLOCK_OFFSET_ENV.into(),
        clock.display().to_string(),
    )];
    d.launch().await;
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Invoice missing",
        "I cannot find my November invoice.",
    )
    .await;
    let acked = wait_for_mail(&stack, &kim, 1).await;
    let kim_id = acked[0]
        .header("In-Reply-To")
        .expect("the ack answers her mail");
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    answer_notification(
        &stack,
        &d,
        &notes[0],
        "It is in your account under Documents; does that help?\r\n\r\nJason",
    )
    .await;
    wait_for_mail(&stack, &kim, 2).await;

    // Two days later nothing happens; three days later, one reminder.
    std::fs::write(&clock, (2 * DAY).to_string()).expect("clock");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mailbox(&stack, &kim).await.len(), 2, "not yet");
    std::fs::write(&clock, (3 * DAY + 60).to_string()).expect("clock");
    let kim_box = wait_for_mail(&stack, &kim, 3).await;
    let reminder = of_kind(&kim_box, "reminder");
    let [reminder] = reminder.as_slice() else {
        panic!("one reminder: {kim_box:?}");
    };
    assert_automatic_in_thread(reminder, &kim_id, &d.support);
    let text = reminder.text().replace("\r\n", "\n");
    assert!(text.contains("within 4 days"), "{text}");
    // Only one, however many rounds pass.
    std::fs::write(&clock, (5 * DAY).to_string()).expect("clock");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(mailbox(&stack, &kim).await.len(), 3, "one reminder");
    assert_eq!(d.cli_json(&["tickets", "show", "1001"])["state"], "open");

    // Four days after the reminder, the ticket closes with the closing mail.
    std::fs::write(&clock, (7 * DAY + 120).to_string()).expect("clock");
    let kim_box = wait_for_mail(&stack, &kim, 4).await;
    let closing = of_kind(&kim_box, "closing");
    let [closing] = closing.as_slice() else {
        panic!("one closing mail: {kim_box:?}");
    };
    assert_automatic_in_thread(closing, &kim_id, &d.support);
    let json = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(json["state"], "closed", "{json}");
    let shown = d.cli(&["tickets", "show", "1001"]);
    for line in [
        " reminder ",
        " closing ",
        "note: reminder sent",
        "note: closed: the customer did not answer; closing mail sent",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    wait_quiet(&stack, &d).await;
    assert_eq!(mailbox(&stack, &kim).await.len(), 4, "nothing more");
}
