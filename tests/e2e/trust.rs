//! Whom Frontdesk believes, end to end (issue 16): alignment by the public suffix list, an
//! SRS-forwarded customer, and `trusted_authserv_id` with the fields OpenDKIM and OpenDMARC
//! add. The stack's Postfix neither signs nor verifies, so the tests put the
//! Authentication-Results fields into the raw mail, where the MTA would have added them.
//! Foreign domains (`.me.uk`, a forwarder's) appear only as senders: the stack delivers
//! nothing outside example.test and customer.test and refuses such recipients.
//!
//! - `a_forged_from_under_a_shared_suffix_gets_a_ticket_and_no_acknowledgement`
//! - `a_customer_forwarded_with_srs_is_acknowledged`
//! - `opendkim_and_opendmarc_fields_of_our_mta_vouch_for_an_agent`
//! - `a_notification_attached_in_subject_mode_never_reaches_the_customer`

use crate::common::*;

/// `outcome:reason` (or `outcome:action`) of each processed mail, in order.
fn outcomes(processed: &[serde_json::Value]) -> Vec<String> {
    processed
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["outcome"].as_str().unwrap_or(""),
                p["action"].as_str().or(p["reason"].as_str()).unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_forged_from_under_a_shared_suffix_gets_a_ticket_and_no_acknowledgement() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let victim = format!("{}@alice.me.uk", unique("victim"));
    let mallory = format!("{}@bob.me.uk", unique("mallory"));
    let raw = format!(
        "From: Victim <{victim}>\r\nTo: {support}\r\nSubject: Cancel my order\r\nMessage-ID: <{}@bob.me.uk>\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nPlease cancel everything.\r\n",
        unique("forged"),
        support = d.support
    );
    send_raw(&stack, Some(&mallory), &d.support, &raw).await;

    let processed = d.wait_processed(1).await;
    assert_eq!(
        outcomes(&processed),
        ["new-ticket:unverified-sender"],
        "a ticket, and the reason there is no acknowledgement"
    );
    // The agent still hears of it.
    wait_for_mail(&stack, &d.agent, 1).await;
    wait_quiet(&stack, &d).await;
    assert_eq!(
        d.sent("Acknowledgement"),
        0,
        "nothing to the impersonated address"
    );
    assert!(
        d.events("outbox.dead").is_empty(),
        "no acknowledgement was even attempted"
    );
    d.stop().await;
    let t = d.cli_json(&["tickets", "show", "1001"]);
    assert_eq!(t["customer"], victim, "{t}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_customer_forwarded_with_srs_is_acknowledged() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let local = unique("andris");
    let andris = format!("{local}@customer.test");
    // The forwarder's rewritten envelope, in the form of issue 16's report.
    let srs = format!("SRS0=hash=tt=customer.test={local}@srs1.zonevs.eu");
    let raw = format!(
        "From: Andris <{andris}>\r\nTo: {support}\r\nSubject: Login fails\r\nMessage-ID: <{}@customer.test>\r\n\
Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nI cannot log in since Monday.\r\n",
        unique("fwd"),
        support = d.support
    );
    send_raw(&stack, Some(&srs), &d.support, &raw).await;

    let ack = wait_for_mail(&stack, &andris, 1).await;
    let subject = ack[0].parsed().subject().expect("subject").to_string();
    assert!(subject.contains("[Acme Support #1001]"), "{subject}");
    let processed = d.wait_processed(1).await;
    assert_eq!(outcomes(&processed), ["new-ticket:"]);
    wait_quiet(&stack, &d).await;
    assert_eq!(d.sent("Acknowledgement"), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn opendkim_and_opendmarc_fields_of_our_mta_vouch_for_an_agent() {
    let stack = Stack::get();
    let mut d = Daemon::start(
        &stack,
        Options {
            service_extra: "trusted_authserv_id = \"mx.example.test\"".into(),
            ..Options::default()
        },
    )
    .await;
    let kim = format!("{}@customer.test", unique("kim"));
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Invoice missing",
        "Where is my March invoice?",
    )
    .await;
    wait_for_mail(&stack, &kim, 1).await;
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    let n = &notes[0];
    let token_addr = n
        .header("Reply-To")
        .expect("Reply-To")
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address");
    let subject = n.parsed().subject().expect("subject").to_string();
    let notify_id = n.header("Message-ID").expect("id");

    // What our MTA adds for the agent's domain, which publishes no DMARC policy: OpenDMARC's
    // field (added last, so on top) says none, OpenDKIM's (its usual form, a `;` in the
    // comment) vouches.
    let answer = format!(
        "Authentication-Results: mx.example.test; dmarc=none (p=none dis=none) header.from=example.test\r\n\
Authentication-Results: mx.example.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.test header.i=@example.test header.b=\"Xy/12+ab\"\r\n\
From: Jason Miller <{agent}>\r\nTo: Acme Support <{token_addr}>\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@example.test>\r\nIn-Reply-To: {notify_id}\r\n\r\nHi Kim,\r\n\r\nI have sent it again.\r\n\r\nJason\r\n",
        unique("answer"),
        agent = d.agent
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &answer).await;
    let kim_box = wait_for_mail(&stack, &kim, 2).await;
    assert!(
        kim_box[1].text().contains("I have sent it again."),
        "{}",
        kim_box[1].text()
    );

    // Forgeries with the agent's From: a pass under someone else's authserv-id, and our
    // MTA's pass for the forger's own signature.
    let mallory = format!("{}@customer.test", unique("mallory"));
    for (n, fields) in [
        "Authentication-Results: mx.evil.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test\r\n",
        "Authentication-Results: mx.example.test; dmarc=fail (p=none dis=none) header.from=example.test\r\n\
Authentication-Results: mx.example.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=customer.test header.i=@customer.test header.b=\"Zz9/x+Qw\"\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        let forged = format!(
            "{fields}From: Jason Miller <{agent}>\r\nTo: {token_addr}\r\nSubject: Re: {subject}\r\n\
Message-ID: <{}@customer.test>\r\nIn-Reply-To: {notify_id}\r\n\r\nPay to IBAN XX00 1234.\r\n",
            unique(&format!("forged{n}")),
            agent = d.agent
        );
        send_raw(&stack, Some(&mallory), &token_addr, &forged).await;
    }

    let processed = d.wait_processed(4).await;
    wait_quiet(&stack, &d).await;
    let got = outcomes(&processed[1..]);
    assert_eq!(got[0], "agent:relayed", "{got:?}");
    assert!(
        got[1..].iter().all(|o| o.starts_with("quarantined:")),
        "{got:?}"
    );
    assert_eq!(
        mailbox(&stack, &kim).await.len(),
        2,
        "only the acknowledgement and the real answer reached the customer"
    );
    assert_eq!(d.sent("AgentReply"), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_notification_attached_in_subject_mode_never_reaches_the_customer() {
    let stack = Stack::get();
    let mut d = Daemon::start(
        &stack,
        Options {
            service_extra: "reply_tokens = \"subject\"".into(),
            ..Options::default()
        },
    )
    .await;
    let lee = format!("{}@customer.test", unique("lee"));
    send_customer_mail(
        &stack,
        "Lee Lane",
        &lee,
        &d.support,
        "Refund",
        "Order 4417, please.",
    )
    .await;
    wait_for_mail(&stack, &lee, 1).await;
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    let n = &notes[0];
    let subject = n.parsed().subject().expect("subject").to_string();
    assert!(subject.contains("{ref:"), "{subject}");
    let notify_id = n.header("Message-ID").expect("id");

    // The agent answers with the notification, exactly as delivered, attached as a file.
    let answer = format!(
        "From: Jason Miller <{agent}>\r\nTo: {support}\r\nSubject: Re: {subject}\r\n\
Message-ID: <{id}@example.test>\r\nIn-Reply-To: {notify_id}\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
The refund is on its way; details attached.\r\n--b\r\n\
Content-Type: application/octet-stream; name=\"Refund.eml\"\r\n\
Content-Disposition: attachment; filename=\"Refund.eml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{eml}\r\n--b--\r\n",
        agent = d.agent,
        support = d.support,
        id = unique("answer"),
        eml = data_encoding::BASE64_MIME.encode(&n.raw)
    );
    send_raw(&stack, Some(&d.agent), &d.support, &answer).await;
    let agent_box = wait_for_mail(&stack, &d.agent, 2).await;
    wait_quiet(&stack, &d).await;
    let notice = &agent_box[1];
    assert!(
        notice
            .parsed()
            .subject()
            .is_some_and(|s| s.starts_with("Not sent:")),
        "the agent is told"
    );
    assert!(
        notice
            .text()
            .contains("\"Refund.eml\" is a copy of the notification"),
        "{}",
        notice.text()
    );
    assert_eq!(
        mailbox(&stack, &lee).await.len(),
        1,
        "only the acknowledgement reached the customer"
    );
    assert_eq!(d.sent("AgentReply"), 0);
    d.stop().await;
}
