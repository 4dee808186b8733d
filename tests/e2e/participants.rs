//! Issue 15, point 1: colleagues on Cc. A customer writes with two colleagues in Cc (one of
//! her company, one of a partner firm); the agent's answer reaches all three (each mailbox
//! read), the partner's reply joins the ticket and reaches the agent, a stranger's reply
//! with the ticket's tag and ids (from the partner firm too) opens a ticket of her own, and
//! `#cc drop` takes a colleague off the next answer.

use crate::common::*;

/// The addresses of a header field of `mail`, lowercased.
fn addresses(mail: &Fetched, field: &str) -> Vec<String> {
    let parsed = mail.parsed();
    let list = match field {
        "To" => parsed.to(),
        _ => parsed.cc(),
    };
    let mut found: Vec<String> = list
        .map(|a| {
            a.iter()
                .filter_map(|a| a.address())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn colleagues_on_cc_get_the_answers_and_join_strangers_do_not() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let kim = format!("{}@customer.test", unique("kim"));
    let carol = format!("{}@customer.test", unique("carol"));
    // At a partner firm: on the ticket as a participant, not as Kim's colleague.
    let dan = format!("{}@partner.test", unique("dan"));
    let first = format!(
        "From: Kim Kerr <{kim}>\r\nTo: Acme Support <{support}>, Carol <{carol}>\r\nCc: Dan <{dan}>\r\n\
Subject: Printer on fire\r\nMessage-ID: <{}@customer.test>\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nOur office printer is on fire.\r\n",
        unique("m"),
        support = d.support
    );
    send_raw(&stack, Some(&kim), &d.support, &first).await;
    wait_for_mail(&stack, &kim, 1).await;
    let notes = wait_for_mail(&stack, &d.agent, 1).await;

    // The agent answers: the customer and both colleagues get it, the colleagues on Cc.
    let (token_addr, raw) = agent_answer(
        &d,
        &notes[0],
        "Please unplug it and step away.\r\n\r\nJason",
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &raw).await;
    let kim_box = wait_for_mail(&stack, &kim, 2).await;
    let relayed = &kim_box[1];
    assert!(
        relayed.text().contains("Please unplug it and step away."),
        "{}",
        relayed.text()
    );
    assert_eq!(addresses(relayed, "To"), vec![kim.clone()]);
    let mut colleagues = vec![carol.clone(), dan.clone()];
    colleagues.sort();
    assert_eq!(addresses(relayed, "Cc"), colleagues);
    let relayed_id = relayed.header("Message-ID").expect("id");
    for colleague in [&carol, &dan] {
        let got = wait_for_mail(&stack, colleague, 1).await;
        assert_eq!(
            got[0].header("Message-ID").as_deref(),
            Some(relayed_id.as_str()),
            "{colleague} got the answer itself"
        );
    }

    // Dan answers all: his reply joins the ticket and reaches the agent as a follow-up.
    let subject = relayed.parsed().subject().expect("subject").to_string();
    let dan_reply = format!(
        "From: Dan <{dan}>\r\nTo: Acme Support <{support}>\r\nCc: {kim}, {carol}\r\n\
Subject: Re: {subject}\r\nMessage-ID: <{}@partner.test>\r\nIn-Reply-To: {relayed_id}\r\n\
References: {relayed_id}\r\n\r\nIt is out now, thanks.\r\n",
        unique("dan"),
        support = d.support
    );
    send_raw(&stack, Some(&dan), &d.support, &dan_reply).await;
    let notes = wait_for_mail(&stack, &d.agent, 2).await;
    assert!(
        notes[1]
            .parsed()
            .subject()
            .is_some_and(|s| s.contains("#1001")),
        "the follow-up is about ticket #1001: {:?}",
        notes[1].parsed().subject()
    );
    assert!(notes[1].text().contains("It is out now, thanks."));

    // A stranger with the ticket's tag and the answer's id, from Dan's firm (a participant's
    // colleague is nobody's), gets a ticket of her own and its acknowledgement.
    let eve = format!("{}@partner.test", unique("eve"));
    let stranger = format!(
        "From: Eve <{eve}>\r\nTo: {support}\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@partner.test>\r\nIn-Reply-To: {relayed_id}\r\n\r\nLet me in.\r\n",
        unique("eve"),
        support = d.support
    );
    send_raw(&stack, Some(&eve), &d.support, &stranger).await;
    let eve_box = wait_for_mail(&stack, &eve, 1).await;
    assert!(
        eve_box[0]
            .parsed()
            .subject()
            .is_some_and(|s| s.contains("#1002")),
        "{:?}",
        eve_box[0].parsed().subject()
    );
    let notes = wait_for_mail(&stack, &d.agent, 3).await;
    assert!(
        notes[2]
            .parsed()
            .subject()
            .is_some_and(|s| s.contains("#1002")),
        "the stranger opened ticket #1002: {:?}",
        notes[2].parsed().subject()
    );

    // `#cc drop`: Dan is off the next answer, Carol stays on it.
    let (token_addr, raw) = agent_answer(
        &d,
        &notes[0],
        &format!("#cc drop {dan}\r\n\r\nAll done.\r\n\r\nJason"),
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &raw).await;
    let kim_box = wait_for_mail(&stack, &kim, 3).await;
    assert_eq!(addresses(&kim_box[2], "Cc"), vec![carol.clone()]);
    wait_for_mail(&stack, &carol, 2).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        mailbox(&stack, &dan).await.len(),
        1,
        "Dan got the first answer only"
    );
    assert_eq!(
        mailbox(&stack, &kim).await.len(),
        3,
        "Kim: the acknowledgement and two answers, nothing of Dan's or Eve's"
    );
    assert_eq!(
        mailbox(&stack, &eve).await.len(),
        1,
        "Eve: her own acknowledgement"
    );

    d.stop().await;
    let shown = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(shown["participants"], serde_json::json!([carol]), "{shown}");
    let from_dan = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "inbound" && m["from"] == dan.as_str())
        .count();
    assert_eq!(from_dan, 1, "Dan's reply is on the ticket: {shown}");
    let text = d.cli(&["tickets", "show", "1001"]);
    assert!(text.contains(&format!("cc        {carol}")), "{text}");
    assert!(
        text.contains("participantadded") && text.contains("participantdropped"),
        "the changes are in the history: {text}"
    );
    let eve_ticket = d.cli_json(&["tickets", "show", "1002"]);
    assert_eq!(eve_ticket["customer"], eve);
}
