//! The decision, end to end without a store: customer mail, agents' answers, hostile input.
use super::*;

use crate::domain::{AgentAction, MailKind, OutgoingMail, RefusalKind, TicketState};
use crate::testing::{MemStore, TEST_KEY, addr, agent, describe_plan, matches, ticket};

/// The store as the decisions here see it: empty, but for Alice's first mail stored as
/// mail 1 (what a notification or handover about her ticket quotes).
fn mem() -> MemStore {
    MemStore::default().with_inbound(1, ALICE)
}

fn config() -> Config {
    crate::testing::config(
        r#"
[limits]
max_message_bytes = 100000
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
[[agents]]
name = "Maria Schmidt"
email = "mschmidt@example.test"
"#,
    )
}

fn run(raw: &[u8], state: &MemStore) -> Plan {
    run_with(raw, state, &Templates::load(None).expect("templates"))
}

/// [`run`] with the templates an operator configured.
fn run_with(raw: &[u8], state: &MemStore, templates: &Templates) -> Plan {
    let cfg = config();
    decide(
        raw,
        7,
        &cfg,
        templates,
        state,
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides")
    .plan
}

/// Whether `action` is a refusal of `kind`.
fn refused(action: &AgentAction, kind: RefusalKind) -> bool {
    matches!(action, AgentAction::Refused(r) if r.kind == kind)
}

fn of_kind(outgoing: &[OutgoingMail], kind: MailKind) -> Option<&OutgoingMail> {
    outgoing.iter().find(|m| m.kind == kind)
}

const ALICE: &[u8] = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Help\r\nMessage-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n";

#[test]
fn new_customer_mail_opens_a_ticket_with_an_acknowledgement() {
    let Plan::NewTicket {
        ticket,
        outgoing,
        pool_key,
        not_acknowledged,
    } = run(ALICE, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, None);
    assert_eq!(ticket.id, TicketId::new(1042));
    assert_eq!(ticket.customer.as_str(), "alice@customer.test");
    assert_eq!(ticket.agent.to_string(), "jason@example.test");
    assert_eq!(pool_key, "all");
    let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    assert_eq!(ack.recipients[0].as_str(), "alice@customer.test");
    assert_eq!(ack.envelope_from, None);
}

fn ack_text(raw: &[u8]) -> String {
    let Plan::NewTicket { outgoing, .. } = run(raw, &mem()) else {
        panic!("expected a new ticket");
    };
    let mail = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    let parsed = crate::mail::parse::parse_bytes(&mail.raw).expect("our mail parses");
    parsed.text
}

#[test]
fn html_only_mail_is_quoted_as_text() {
    let raw = b"From: Bob <bob@customer.test>\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>The <b>login</b> page is blank.</p><img src=\"https://tracker.test/x.png\"></body></html>\r\n";
    let text = ack_text(raw);
    assert!(text.contains("> The login page is blank."), "{text}");
    assert!(
        !text.contains("<b>") && !text.contains("tracker.test"),
        "{text}"
    );
}

#[test]
fn latin1_mail_is_quoted_decoded() {
    let raw = b"From: =?iso-8859-1?q?Ren=E9_M=FCller?= <rene@customer.test>\r\nSubject: Rechnung\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDie Rechnung f\xfcr M\xe4rz fehlt.\r\n";
    let text = ack_text(raw);
    assert!(text.contains("Hello Ren\u{e9},"), "{text}");
    assert!(
        text.contains("> Die Rechnung f\u{fc}r M\u{e4}rz fehlt."),
        "{text}"
    );
}

#[test]
fn the_acknowledgement_greets_by_given_name_sign_off_or_neutrally() {
    let greeting = |raw: &[u8]| ack_text(raw).lines().next().unwrap_or_default().to_string();
    let doe =
        b"From: \"Doe, Alice\" <alice@x.test>\r\nSubject: Help\r\n\r\nMy printer is on fire.\r\n";
    assert_eq!(greeting(doe), "Hello Alice,");
    let bare = b"From: jd4711@customer.test\r\nSubject: Help\r\n\r\nMy printer is on fire.\r\n";
    assert_eq!(greeting(bare), "Hello,");
    let signed = b"From: info@customer.test\r\nSubject: Help\r\n\r\nMy printer is on fire.\r\n\r\n\
Cordialement,\r\nMARTIN \xc3\x89lodie\r\n";
    assert_eq!(greeting(signed), "Hello \u{c9}lodie,");
}

#[test]
fn follow_up_joins_without_acknowledgement() {
    let mem = with_ticket().with_message_id("<ack.1001.3@example.test>", TicketId::new(1001));
    let raw = b"From: alice@customer.test\r\nSubject: Re: Help\r\nIn-Reply-To: <ack.1001.3@example.test>\r\n\r\nmore\r\n";
    match run(raw, &mem) {
        Plan::Join { ticket, reason, .. } => {
            assert_eq!(ticket, TicketId::new(1001));
            assert_eq!(reason, SuppressReason::FollowUp);
        }
        other => panic!("expected a join, got {other:?}"),
    }
}

#[test]
fn a_person_asking_for_no_auto_reply_gets_a_ticket_without_one() {
    let raw = b"From: Olive <olive@customer.test>\r\nX-Auto-Response-Suppress: All\r\nSubject: Quote\r\n\r\nPlease send a quote.\r\n";
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(raw, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, Some(SuppressReason::AutoResponseSuppress));
    assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
    assert!(of_kind(&outgoing, MailKind::AgentNotification).is_some());
}

#[test]
fn spoofed_sender_gets_a_ticket_but_no_acknowledgement() {
    let raw = b"Return-Path: <spammer@evil.test>\r\nFrom: Victim <victim@customer.test>\r\nSubject: Buy now\r\n\r\nSpam text.\r\n";
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(raw, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, Some(SuppressReason::UnverifiedSender));
    assert!(
        of_kind(&outgoing, MailKind::Acknowledgement).is_none(),
        "nothing goes to the impersonated address"
    );
}

/// Issue 16: registrants under one public suffix (`.me.uk`) are not one organization, so
/// Mallory's envelope does not back a From of Alice's: a ticket, no acknowledgement.
#[test]
fn a_forgery_under_a_shared_public_suffix_is_not_acknowledged() {
    let raw = b"Return-Path: <mallory@bob.me.uk>\r\nFrom: Victim <victim@alice.me.uk>\r\nSubject: Order\r\n\r\nSend it.\r\n";
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(raw, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, Some(SuppressReason::UnverifiedSender));
    assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
}

/// Issue 16: a customer whose mail passed a forwarder (SRS) is compared by the original
/// envelope and acknowledged.
#[test]
fn a_customer_forwarded_with_srs_is_acknowledged() {
    let raw = b"Return-Path: <SRS0=hash=tt=kreata.ee=andris@srs1.zonevs.eu>\r\nFrom: Andris <andris@kreata.ee>\r\nSubject: Help\r\n\r\nIt broke.\r\n";
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(raw, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, None);
    let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    assert_eq!(ack.recipients[0].as_str(), "andris@kreata.ee");
}

#[test]
fn sender_over_the_daily_cap_gets_a_ticket_but_no_acknowledgement() {
    // Alice's three acknowledgements of the last day (the clock in `run` is 1,000,000).
    let mem = mem().with_acks(&addr("alice@customer.test"), &[1_000_000 - 60; 3]);
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(ALICE, &mem)
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, Some(SuppressReason::RateLimited));
    assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
    assert!(
        of_kind(&outgoing, MailKind::AgentNotification).is_some(),
        "the agent still gets the ticket"
    );
}

#[test]
fn a_global_storm_withholds_acknowledgements_but_not_tickets() {
    let mem = mem().with_acks_in_hour(1_000_000, 5000);
    let Plan::NewTicket {
        not_acknowledged,
        outgoing,
        ..
    } = run(ALICE, &mem)
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(not_acknowledged, Some(SuppressReason::GlobalRateLimited));
    assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
    assert!(of_kind(&outgoing, MailKind::AgentNotification).is_some());
}

#[test]
fn a_flood_from_one_sender_joins_their_ticket_and_spares_the_agent() {
    // Alice opened three tickets within the window (the clock in `run` is 1,000,000).
    let mut mem = with_ticket();
    for n in 1001..=1003 {
        mem = mem.with_ticket(alices_ticket(n).created_at(1_000_000 - 60).build());
    }
    let storm = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Again\r\nMessage-ID: <storm@customer.test>\r\n\r\nStill broken.\r\n";
    let Plan::Join {
        ticket,
        via,
        outgoing,
        ..
    } = run(storm, &mem)
    else {
        panic!("a fourth ticket in ten minutes must join the newest");
    };
    assert_eq!(ticket, TicketId::new(1003));
    assert_eq!(via, crate::domain::JoinedVia::Flood);
    assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_none());
    assert!(
        of_kind(&outgoing, MailKind::AgentNotification).is_some(),
        "first follow-ups still reach the agent"
    );

    // Once the ticket had three notifications in the window, follow-ups are only recorded.
    let t = mem.ticket_mut(TicketId::new(1003));
    for _ in 0..3 {
        t.messages.push(TicketMessage {
            at: 1_000_000 - 30,
            direction: Direction::AgentNotification,
            message_id: None,
            from: None,
            subject: "Again".into(),
            inbound_seq: None,
            outbox_id: Some(1),
            suppressed: None,
            note: None,
        });
    }
    let Plan::Join {
        reason,
        outgoing,
        message,
        ..
    } = run(storm, &mem)
    else {
        panic!("joins");
    };
    assert_eq!(reason, SuppressReason::Flood);
    assert!(
        outgoing.is_empty(),
        "the agent is not flooded: {outgoing:?}"
    );
    assert_eq!(message.suppressed, Some(SuppressReason::Flood));

    // After a quiet minute the flood is owed one summary.
    let t = mem.ticket_mut(TicketId::new(1003));
    t.messages.push(message);
    let quiet = std::time::Duration::from_secs(60);
    assert!(
        t.unsummarised_flood(1_000_030, quiet).is_empty(),
        "not while it goes on"
    );
    assert_eq!(t.unsummarised_flood(1_000_060, quiet).len(), 1);
}

/// Alice's ticket `n` as her first mail (stored as mail 1) opened it: Jason's, notified.
fn alices_ticket(n: u64) -> crate::testing::TicketBuilder {
    ticket(n, "alice@customer.test")
        .customer_name("Alice Doe")
        .inbound(0, "<a1@customer.test>", 1)
        .notify_root("<notify.1001.1@example.test>")
}

/// The store with Alice's open ticket #1001.
fn with_ticket() -> MemStore {
    mem().with_ticket(alices_ticket(1001).build())
}

/// Issue 17: one mail delivered twice (To support@ and Cc billing@, a plus-addressed Cc, a
/// client that sends again) differs in Delivered-To or Received, so its bytes are new; its
/// Message-ID from the same sender (`+detail` aside) is on the ticket already. The copy is
/// recorded there, and nobody is acknowledged or notified again.
#[test]
fn a_mail_delivered_twice_joins_its_ticket_without_a_second_acknowledgement() {
    let mem = with_ticket().with_message_id("<a1@customer.test>", TicketId::new(1001));
    let to_billing = [b"Delivered-To: billing@example.test\r\n".as_slice(), ALICE].concat();
    let from_detail = String::from_utf8_lossy(ALICE)
        .replace("<alice@customer.test>", "<alice+shop@customer.test>")
        .into_bytes();
    for copy in [to_billing, from_detail] {
        let Plan::Join {
            ticket,
            reason,
            message,
            outgoing,
            reopen,
            ..
        } = run(&copy, &mem)
        else {
            panic!("another delivery must join the ticket that holds its Message-ID");
        };
        assert_eq!(ticket, TicketId::new(1001));
        assert_eq!(reason, SuppressReason::DuplicateDelivery);
        assert_eq!(reason.as_str(), "duplicate-delivery");
        assert!(outgoing.is_empty(), "nothing sent: {outgoing:?}");
        assert!(!reopen);
        assert_eq!(message.suppressed, Some(SuppressReason::DuplicateDelivery));
        assert_eq!(
            message.inbound_seq,
            Some(7),
            "the extra delivery is on record"
        );
    }
}

/// An agent who forwards a mail the desk has already (the customer wrote to both) adds
/// another delivery of it to its ticket, not a second ticket.
#[test]
fn an_agents_forward_of_a_mail_the_desk_has_joins_its_ticket() {
    let mem = with_ticket().with_message_id("<a1@customer.test>", TicketId::new(1001));
    let raw = b"Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\n\
To: support@example.test\r\nSubject: Fwd: Help\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"fw\"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\n\
For the queue.\r\n--fw\r\nContent-Type: message/rfc822\r\n\r\n\
From: Alice Doe <alice@customer.test>\r\nSubject: Help\r\nMessage-ID: <a1@customer.test>\r\n\r\n\
My printer is on fire.\r\n--fw--\r\n";
    let Plan::Join {
        ticket,
        reason,
        outgoing,
        ..
    } = run(raw, &mem)
    else {
        panic!("the forwarded mail is on ticket #1001 already");
    };
    assert_eq!(ticket, TicketId::new(1001));
    assert_eq!(reason, SuppressReason::DuplicateDelivery);
    assert!(outgoing.is_empty(), "{outgoing:?}");
}

/// The Message-ID index is first come, first served, and anyone can copy an id: only the
/// sender of the mail the ticket holds makes another delivery of it. A stranger with
/// Alice's Message-ID, or Alice with one of our own ids, opens a ticket as before.
#[test]
fn a_copied_message_id_is_no_second_delivery() {
    let mem = with_ticket()
        .with_message_id("<a1@customer.test>", TicketId::new(1001))
        .with_message_id("<ack.1001.3@example.test>", TicketId::new(1001));
    let stranger = String::from_utf8_lossy(ALICE)
        .replace(
            "Alice Doe <alice@customer.test>",
            "Mallory <mallory@evil.test>",
        )
        .into_bytes();
    let ours = String::from_utf8_lossy(ALICE)
        .replace("<a1@customer.test>", "<ack.1001.3@example.test>")
        .into_bytes();
    for (raw, customer) in [
        (stranger, "mallory@evil.test"),
        (ours, "alice@customer.test"),
    ] {
        let Plan::NewTicket { ticket, .. } = run(&raw, &mem) else {
            panic!("expected a ticket of {customer}'s own");
        };
        assert_eq!(ticket.customer.as_str(), customer);
    }
}

fn agent_mail_to(token_ticket: u64, from: &str, body: &str, extra: &str) -> Vec<u8> {
    let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
    let envelope = from
        .rsplit('<')
        .next()
        .unwrap_or(from)
        .trim_end_matches('>');
    format!(
        "Return-Path: <{envelope}>\r\nFrom: {from}\r\nTo: support+{token_ticket}.{token}@example.test\r\nSubject: Re: [Acme Support #1001] Help\r\n{extra}\
Message-ID: <j1@example.test>\r\n\r\n{body}"
    )
    .into_bytes()
}

#[test]
fn a_reply_to_a_long_closed_ticket_opens_a_linked_one() {
    let reply = b"From: Alice Doe <alice@customer.test>\r\nSubject: Re: Help\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nIt broke again.\r\n";
    let mut mem = with_ticket().with_message_id("<a1@customer.test>", TicketId::new(1001));
    let closed = |mem: &mut MemStore, at: UnixTime| {
        let t = mem.ticket_mut(TicketId::new(1001));
        t.state = TicketState::Closed;
        t.closed_at = Some(at);
    };
    // Closed yesterday (now = 1_000_000): the old ticket reopens.
    closed(&mut mem, 1_000_000 - 86_400);
    match run(reply, &mem) {
        Plan::Join { reopen, ticket, .. } => assert!(reopen && ticket == TicketId::new(1001)),
        other => panic!("expected a reopening join, got {other:?}"),
    }
    // Closed a month ago: a new ticket, linked, acknowledged.
    closed(&mut mem, 1_000_000 - 30 * 86_400);
    match run(reply, &mem) {
        Plan::NewTicket {
            ticket, outgoing, ..
        } => {
            assert_eq!(ticket.linked_from, Some(TicketId::new(1001)));
            assert!(of_kind(&outgoing, MailKind::Acknowledgement).is_some());
        }
        other => panic!("expected a new linked ticket, got {other:?}"),
    }
}

#[test]
fn an_agents_forward_opens_the_customers_ticket() {
    let raw = b"Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\nTo: support@example.test\r\n\
Subject: Fwd: Broken\r\n\r\nFor the queue.\r\n\r\n---------- Forwarded message ---------\r\n\
From: Alice Doe <alice@customer.test>\r\nSubject: Broken\r\n\r\nMy printer broke.\r\n";
    let Plan::NewTicket {
        ticket, outgoing, ..
    } = run(raw, &mem())
    else {
        panic!("expected a new ticket");
    };
    assert_eq!(ticket.customer.as_str(), "alice@customer.test");
    assert_eq!(ticket.agent.to_string(), "jason@example.test");
    let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    assert_eq!(
        ack.recipients[0].as_str(),
        "alice@customer.test",
        "the customer, not the agent"
    );
    assert!(String::from_utf8_lossy(&ack.raw).contains("My printer broke."));

    // A forged "agent" forward (foreign envelope) does not make us write to a stranger.
    let forged = String::from_utf8_lossy(raw).replace(
        "Return-Path: <jason@example.test>",
        "Return-Path: <x@evil.test>",
    );
    let plan = run(forged.as_bytes(), &mem());
    assert!(
        !matches!(&plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "alice@customer.test"),
        "{plan:?}"
    );
}

#[test]
fn a_reply_all_quoting_the_customer_is_not_a_forward() {
    let mem = with_ticket().with_message_id("<a1@customer.test>", TicketId::new(1001));
    let raw = b"Return-Path: <jason@example.test>\r\nFrom: jason@example.test\r\nTo: alice@customer.test\r\n\
Cc: support@example.test\r\nSubject: RE: Help\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nOn it.\r\n\r\n\
-----Original Message-----\r\nFrom: Alice Doe <alice@customer.test>\r\nSent: today\r\n\r\nHelp\r\n";
    let plan = run(raw, &mem);
    assert!(
        !matches!(plan, Plan::NewTicket { .. }),
        "no duplicate ticket, no second acknowledgement: {plan:?}"
    );
}

#[test]
fn with_a_trusted_authserv_id_a_forward_must_be_authenticated() {
    let mut cfg = config();
    cfg.service.trusted_authserv_id = Some("mx.example.test".into());
    let templates = Templates::load(None).expect("templates");
    let forward = |auth: &str| {
        format!(
            "Return-Path: <jason@example.test>\r\n{auth}From: jason@example.test\r\nTo: support@example.test\r\n\
Subject: Fwd: Broken\r\n\r\n---------- Forwarded message ---------\r\nFrom: Victim <victim@elsewhere.test>\r\n\
Subject: Broken\r\n\r\nBuy cheap watches.\r\n"
        )
    };
    let forged = decide(
        forward("").as_bytes(),
        7,
        &cfg,
        &templates,
        &mem(),
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    assert!(
        !matches!(&forged.plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "victim@elsewhere.test"),
        "an unauthenticated 'forward' must not make us write to a third party"
    );
    let real =
        forward("Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n");
    let d = decide(
        real.as_bytes(),
        7,
        &cfg,
        &templates,
        &mem(),
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    assert!(
        matches!(&d.plan, Plan::NewTicket { ticket, .. } if ticket.customer.as_str() == "victim@elsewhere.test")
    );
}

/// Issue 16: with `trusted_authserv_id`, an agent's answer carrying OpenDKIM's usual field
/// (a comment holding `;`) below OpenDMARC's (no DMARC policy published: `dmarc=none`) is
/// the agent's; the same fields under another id, or a pass for another domain, are not.
#[test]
fn with_a_trusted_authserv_id_opendkim_and_opendmarc_fields_verify_an_agent() {
    let mut cfg = config();
    cfg.service.trusted_authserv_id = Some("mx.example.test".into());
    let templates = Templates::load(None).expect("templates");
    let answer = |id: &str, signer: &str| {
        let fields = format!(
            "Authentication-Results: {id}; dmarc=none (p=none dis=none) header.from=example.test\r\n\
Authentication-Results: {id};\r\n\tdkim=pass (2048-bit key; unprotected) header.d={signer} header.i=@{signer} header.b=\"AbC/dEf+\"\r\n"
        );
        // An envelope that backs nothing: with the id set, only the fields count.
        let raw = agent_mail_to(
            1001,
            "Jason Miller <jason@example.test>",
            "Unplug it.\r\n",
            &fields,
        );
        let raw = String::from_utf8(raw).expect("utf-8").replace(
            "Return-Path: <jason@example.test>",
            "Return-Path: <jason.miller@elsewhere.test>",
        );
        decide(
            raw.as_bytes(),
            7,
            &cfg,
            &templates,
            &with_ticket(),
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan
    };
    assert!(
        matches!(
            answer("mx.example.test", "example.test"),
            Plan::Agent {
                action: AgentAction::Relayed { .. },
                ..
            }
        ),
        "our MTA vouched for the agent's domain"
    );
    for (id, signer) in [
        ("mx.evil.test", "example.test"),
        ("mx.example.test", "evil.test"),
    ] {
        assert!(
            matches!(answer(id, signer), Plan::Quarantine(ref r) if r.contains("not relayed")),
            "{id} / {signer}"
        );
    }
}

#[test]
fn verified_agent_answer_is_relayed_to_the_customer() {
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "Unplug it.\r\n\r\nOn Mon, X wrote:\r\n> Help\r\n",
        "",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = run(&raw, &with_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    assert_eq!(reply.recipients[0].as_str(), "alice@customer.test");
    let parsed = crate::mail::parse::parse_bytes(&reply.raw).expect("parses");
    assert_eq!(parsed.text.trim(), "Unplug it.");
    assert_eq!(parsed.in_reply_to, vec!["<a1@customer.test>"]);
    assert_eq!(
        parsed.from.expect("from").name.as_deref(),
        Some("Jason Miller, Acme Support")
    );
}

/// The relayed mail of an answer that must be relayed, parsed.
fn relayed(raw: &[u8]) -> (Vec<u8>, mail_parser::Message<'static>) {
    let Plan::Agent {
        outgoing, action, ..
    } = run(raw, &with_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert!(matches!(action, AgentAction::Relayed { .. }), "{action:?}");
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    let parsed = mail_parser::MessageParser::default()
        .parse(&reply.raw)
        .expect("parses")
        .into_owned();
    (reply.raw.clone(), parsed)
}

/// An HTML-only answer with Gmail's quote of the notification and a pasted inline image.
const GMAIL_HTML_ANSWER: &str = "MIME-Version: 1.0\r\n\
Content-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div>#close</div><div>Unplug it, <b>then</b> wait:</div><div><img src=\"cid:ii_1\" alt=\"the switch\"></div>\
<img src=\"https://track.test/o.gif\" width=\"1\" height=\"1\"><script>x()</script>\
<div class=\"gmail_quote\">On Mon, Alice Doe via Acme Support &lt;support@example.test&gt; wrote:<br>\
<blockquote class=\"gmail_quote\">Ticket #1001 &middot; Alice Doe<br>Reply to this mail to answer Alice</blockquote></div>\r\n\
--r\r\nContent-Type: image/png; name=\"switch.png\"\r\nContent-ID: <ii_1>\r\n\
Content-Disposition: inline; filename=\"switch.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=\r\n--r--\r\n";

#[test]
fn an_html_answer_is_relayed_as_html_with_its_pasted_image() {
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "",
        GMAIL_HTML_ANSWER,
    );
    let (bytes, parsed) = relayed(&raw);
    assert_eq!(
        parsed.body_text(0).map(|t| t.trim().replace("\r\n", "\n")),
        Some("Unplug it, then wait:\n[image: the switch]".to_string())
    );
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(
        html.contains("<div>Unplug it, <b>then</b> wait:</div>"),
        "{html}"
    );
    for gone in [
        "#close",
        "script",
        "track.test",
        "Ticket #1001",
        "Reply to this mail",
    ] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("multipart/related"), "{raw}");
    let cid = html
        .split("cid:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the image is shown");
    assert!(raw.contains(&format!("Content-ID: <{cid}>")), "{raw}");
    assert!(cid.starts_with("image1.reply.1001."), "{cid}");
    assert_eq!(
        parsed.attachment_count(),
        1,
        "the image, inline; no attachment"
    );
}

#[test]
fn an_html_part_that_says_other_than_the_text_goes_as_text() {
    let body = "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nUnplug it.\r\n\r\nJason\r\n\
--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Something else entirely.</div>\r\n--a--\r\n";
    let (bytes, parsed) = relayed(&agent_mail_to(1001, "jason@example.test", "", body));
    assert_eq!(
        parsed.body_text(0).map(|t| t.trim().replace("\r\n", "\n")),
        Some("Unplug it.\n\nJason".to_string())
    );
    assert!(!String::from_utf8_lossy(&bytes).contains("text/html"));
}

#[test]
fn forged_or_misused_tokens_are_never_relayed() {
    let mem = with_ticket();
    for (name, raw) in [
        (
            "stranger with a valid token",
            agent_mail_to(1001, "mallory@evil.test", "Pay me.", ""),
        ),
        (
            "agent name spoofed",
            agent_mail_to(1001, "Jason Miller <jason@evil.test>", "Pay me.", ""),
        ),
        (
            "token of another ticket",
            agent_mail_to(1002, "jason@example.test", "Pay me.", ""),
        ),
    ] {
        match run(&raw, &mem) {
            Plan::Quarantine(reason) => {
                assert!(reason.contains("not relayed"), "{name}: {reason}")
            }
            other => panic!("{name}: expected quarantine, got {other:?}"),
        }
    }
}

#[test]
fn subject_mode_carries_the_token_in_the_subject() {
    let mut cfg = config();
    cfg.service.reply_tokens = crate::config::ReplyTokens::Subject;
    let templates = Templates::load(None).expect("templates");
    let d = decide(
        ALICE,
        7,
        &cfg,
        &templates,
        &mem(),
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let Plan::NewTicket { outgoing, .. } = d.plan else {
        panic!("expected a new ticket");
    };
    let n = crate::mail::parse::parse_bytes(
        &of_kind(&outgoing, MailKind::AgentNotification)
            .expect("notified")
            .raw,
    )
    .expect("parses");
    assert!(
        n.reply_to.is_none(),
        "replies go to the plain support address"
    );
    assert_eq!(
        relay::find_subject_token(&n.subject)
            .expect("marker")
            .ticket,
        TicketId::new(1042)
    );

    let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
    let raw = format!(
        "Return-Path: <jason@example.test>\r\nFrom: jason@example.test\r\nTo: support@example.test\r\n\
Subject: Re: [Acme Support #1001] Help {{ref:1001.{token}}}\r\nMessage-ID: <s1@example.test>\r\n\r\nUnplug it.\r\n"
    );
    let d = decide(
        raw.as_bytes(),
        8,
        &cfg,
        &templates,
        &with_ticket(),
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let Plan::Agent {
        outgoing, action, ..
    } = d.plan
    else {
        panic!("expected a relay");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
    assert!(
        !reply.subject.contains("{ref:"),
        "the token never reaches the customer: {}",
        reply.subject
    );
}

#[test]
fn a_bounced_answer_is_recorded_and_the_agent_told() {
    let mem = with_ticket().with_message_id("<reply.1001.abc@example.test>", TicketId::new(1001));
    let raw = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.test\r\n\r\n\
Final-Recipient: rfc822; alice@customer.test\r\nAction: failed\r\nStatus: 5.2.2\r\n\
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <reply.1001.abc@example.test>\r\n\r\n--B--\r\n";
    let Plan::Join {
        ticket,
        outgoing,
        reason,
        ..
    } = run(raw, &mem)
    else {
        panic!("expected the bounce on its ticket");
    };
    assert_eq!(ticket, TicketId::new(1001));
    assert_eq!(reason, SuppressReason::DeliveryReport);
    assert_eq!(outgoing.len(), 1);
    assert_eq!(outgoing[0].kind, MailKind::AgentNotice);
    let text = crate::mail::parse::parse_bytes(&outgoing[0].raw)
        .expect("parses")
        .text;
    assert!(text.contains("552 5.2.2 Mailbox full"), "{text}");
}

#[test]
fn a_quote_in_no_known_format_is_cut_at_the_marker_and_pasted_internals_are_refused() {
    // A client whose quote header is in no language we know: the marker line shows where our
    // notification starts, and nothing from there on reaches the customer.
    let body = format!(
        "Done.\r\n\r\nUnknown quote header:\r\n{}\r\nInternal details.\r\n",
        crate::compose::notification_marker(TicketId::new(1001))
    );
    let raw = agent_mail_to(1001, "jason@example.test", &body, "");
    let Plan::Agent {
        action, outgoing, ..
    } = run(&raw, &with_ticket())
    else {
        panic!("expected a relay");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
    assert!(reply.text.contains("Done."), "{}", reply.text);
    for leak in [
        "Unknown quote header",
        "Reply above this line",
        "Internal details",
    ] {
        assert!(
            !reply.text.contains(leak),
            "{leak:?} leaked: {}",
            reply.text
        );
    }
    // A line of the notification's guidance pasted into the answer (no marker, no header
    // block to cut at): the last guard refuses it.
    let pasted = agent_mail_to(
        1001,
        "jason@example.test",
        "Done.\r\n\r\nReply to this mail to answer Alice; your answer goes out from support@example.test\r\n",
        "",
    );
    let Plan::Agent {
        action, outgoing, ..
    } = run(&pasted, &with_ticket())
    else {
        panic!("expected a refusal");
    };
    assert!(refused(&action, RefusalKind::QuoteNotSeparated), "{action}");
    assert!(outgoing.iter().all(|m| m.kind == MailKind::AgentNotice));
    // The notice quotes the line that blocked it, so the agent can fix it and send again.
    let notice = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
    assert!(
        notice
            .text
            .contains("\"Reply to this mail to answer Alice;"),
        "{}",
        notice.text
    );
    // And every notification carries the marker.
    let Plan::NewTicket { outgoing, .. } = run(ALICE, &mem()) else {
        panic!("expected a new ticket");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    let text = crate::mail::parse::parse_bytes(&n.raw)
        .expect("parses")
        .text;
    assert!(
        text.starts_with(&crate::compose::notification_marker(TicketId::new(1042))),
        "{text}"
    );
}

#[test]
fn a_translated_anchor_starts_the_notification_and_cuts_the_answer_at_it() {
    // The anchor is the operator's text: a German desk writes it in German. Its notifications
    // start with it, and an answer quoting one is cut there, though the client's attribution
    // is in no shape we know and the header block did not survive.
    let dir = tempfile::tempdir().expect("tempdir");
    let german = "--- Bitte oberhalb dieser Zeile antworten (Ticket #{{ticket.number}}) ---\n";
    std::fs::write(dir.path().join("agent_anchor.txt.hbs"), german).expect("write");
    let templates = Templates::load(Some(dir.path())).expect("templates");
    templates.self_test().expect("the anchor names the ticket");
    let Plan::NewTicket { outgoing, .. } = run_with(ALICE, &mem(), &templates) else {
        panic!("expected a new ticket");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    let text = crate::mail::parse::parse_bytes(&n.raw)
        .expect("parses")
        .text;
    let anchor = "--- Bitte oberhalb dieser Zeile antworten (Ticket #1042) ---";
    assert!(text.starts_with(anchor), "{text}");
    assert!(!text.contains("Reply above this line"), "{text}");

    let body = "Erledigt, die Gutschrift ist unterwegs.\r\n\r\nIrgendein Zitatkopf:\r\n\
                > --- Bitte oberhalb dieser Zeile antworten\r\n\
                > (Ticket #1001) ---\r\n> Interne Details.\r\n";
    let raw = agent_mail_to(1001, "jason@example.test", body, "");
    let Plan::Agent {
        action, outgoing, ..
    } = run_with(&raw, &with_ticket(), &templates)
    else {
        panic!("expected a relay");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
    assert_eq!(reply.text.trim(), "Erledigt, die Gutschrift ist unterwegs.");

    // Notifications sent before the override carry the built-in English anchor: answers to
    // them are cut there as well, and neither anchor reaches the customer.
    for anchor in [
        "--- Bitte oberhalb dieser Zeile antworten (Ticket #1001) ---",
        "--- Reply above this line; the customer sees only your text (ticket #1001) ---",
    ] {
        let raw = agent_mail_to(
            1001,
            "jason@example.test",
            &format!("Erledigt.\r\n\r\n{anchor}\r\nInterne Details.\r\n"),
            "",
        );
        let Plan::Agent {
            action, outgoing, ..
        } = run_with(&raw, &with_ticket(), &templates)
        else {
            panic!("expected a relay");
        };
        assert_eq!(action, AgentAction::Relayed { then: None });
        let reply = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
        assert_eq!(reply.text.trim(), "Erledigt.", "{anchor}");
    }
}

#[test]
fn relay_attacks_from_the_review_are_refused() {
    let mem = with_ticket();
    // The agent's exact address in From, but the envelope is someone else's.
    let forged = String::from_utf8_lossy(&agent_mail_to(
        1001,
        "jason@example.test",
        "Pay to IBAN X.",
        "",
    ))
    .replace(
        "Return-Path: <jason@example.test>",
        "Return-Path: <mallory@evil.test>",
    );
    assert!(
        matches!(run(forged.as_bytes(), &mem), Plan::Quarantine(r) if r.contains("envelope")),
        "an exact-address forgery must not be relayed"
    );
    // Two tickets' reply addresses in one mail: which customer? Neither.
    let two = String::from_utf8_lossy(&agent_mail_to(
        1001,
        "jason@example.test",
        "Answer.",
        "Cc: support+1002.abcdefghij@example.test\r\n",
    ))
    .into_owned();
    let Plan::Agent {
        outgoing, action, ..
    } = run(two.as_bytes(), &mem)
    else {
        panic!("expected a refusal");
    };
    assert!(refused(&action, RefusalKind::SeveralTickets), "{action}");
    assert!(outgoing.iter().all(|m| m.kind == MailKind::AgentNotice));
    // A fresh mail to a remembered reply address: not an answer to the ticket.
    let fresh =
        String::from_utf8_lossy(&agent_mail_to(1001, "jason@example.test", "Unrelated.", ""))
            .replace("Subject: Re: [Acme Support #1001] Help", "Subject: Lunch?");
    let Plan::Agent {
        outgoing, action, ..
    } = run(fresh.as_bytes(), &mem)
    else {
        panic!("expected a refusal");
    };
    assert!(
        refused(&action, RefusalKind::NotInThread)
            && outgoing.iter().all(|m| m.kind == MailKind::AgentNotice),
        "{action}"
    );
    // A #note placed under the quote is still a note, never relayed.
    let note = agent_mail_to(
        1001,
        "jason@example.test",
        "On Wed, 25 Nov 2026, Acme wrote:\r\n> Help\r\n\r\n#note she is rude\r\n",
        "",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = run(&note, &mem)
    else {
        panic!("expected a note");
    };
    assert_eq!(action, AgentAction::Noted { then: None });
    assert!(outgoing.is_empty());
}

#[test]
fn agent_out_of_office_and_unknown_commands_do_not_reach_the_customer() {
    let mem = with_ticket();
    let ooo = agent_mail_to(
        1001,
        "jason@example.test",
        "Away.",
        "Auto-Submitted: auto-replied\r\n",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = run(&ooo, &mem)
    else {
        panic!("expected an agent plan");
    };
    assert!(
        outgoing.is_empty() && matches!(action, AgentAction::IgnoredAutomated(_)),
        "{action}"
    );

    let assign = agent_mail_to(
        1001,
        "jason@example.test",
        "#assign Maria\r\nPlease take this.",
        "",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = run(&assign, &mem)
    else {
        panic!("expected an agent plan");
    };
    assert!(refused(&action, RefusalKind::Command), "{action}");
    assert_eq!(outgoing.len(), 1);
    assert_eq!(outgoing[0].kind, MailKind::AgentNotice);
    assert_eq!(
        outgoing[0].recipients[0].as_str(),
        "jason@example.test",
        "the notice goes to the agent"
    );
}

#[test]
fn assign_hands_the_ticket_and_the_customer_mail_to_the_new_agent() {
    let raw = agent_mail_to(
        1001,
        "jason@example.test",
        "#assign Maria Lopez\r\nBilling question, over to you.",
        "",
    );
    let Plan::Agent {
        outgoing,
        reassign,
        action,
        message,
        ..
    } = run(&raw, &with_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert_eq!(
        reassign.map(|a| a.to_string()).as_deref(),
        Some("maria@example.test"),
        "{action}"
    );
    assert_eq!(
        message.note.as_deref(),
        Some("Billing question, over to you.")
    );
    assert_eq!(
        outgoing.len(),
        2,
        "the new agent's notification, the customer's note"
    );
    let n = &outgoing[0];
    assert_eq!(
        (n.kind, n.recipients[0].as_str()),
        (MailKind::AgentNotification, "maria@example.test")
    );
    let text = crate::mail::parse::parse_bytes(&n.raw)
        .expect("parses")
        .text;
    assert!(text.contains("assigned to you by Jason Miller"), "{text}");
    assert!(
        text.contains("My printer is on fire."),
        "the customer's mail goes along: {text}"
    );
    let reply_to = crate::mail::parse::parse_bytes(&n.raw)
        .expect("parses")
        .reply_to
        .expect("reply-to");
    let maria = agent("maria@example.test");
    let token = relay::find_token_address(&[reply_to.address], &addr(crate::testing::SUPPORT))
        .expect("token address");
    assert!(relay::verify(
        TEST_KEY,
        TicketId::new(1001),
        &maria,
        &token.token
    ));
}

/// Issue 14, point 5: the customer hears from the new agent, briefly, in their thread; the
/// agents' handover note never goes with it.
#[test]
fn the_customer_is_told_when_their_ticket_changes_hands() {
    let raw = agent_mail_to(
        1001,
        "jason@example.test",
        "#assign Maria Lopez\r\nBilling question, over to you.",
        "",
    );
    let Plan::Agent { outgoing, .. } = run(&raw, &with_ticket()) else {
        panic!("expected an agent plan");
    };
    let note = of_kind(&outgoing, MailKind::Handover).expect("the customer's note");
    assert_eq!(note.recipients[0].as_str(), "alice@customer.test");
    let m = crate::mail::parse::parse_bytes(&note.raw).expect("parses");
    let from = m.from.expect("from");
    assert_eq!(from.name.as_deref(), Some("Maria Lopez, Acme Support"));
    assert_eq!(from.address.as_str(), crate::testing::SUPPORT);
    assert_eq!(m.in_reply_to, vec!["<a1@customer.test>"]);
    assert!(m.subject.contains("[Acme Support #1001]"), "{}", m.subject);
    let raw_text = String::from_utf8_lossy(&note.raw);
    assert!(
        raw_text.contains("Auto-Submitted: auto-generated"),
        "{raw_text}"
    );
    assert!(
        m.text.replace("\r\n", "\n").starts_with("Hello Alice,\n\nthis is Maria Lopez from Acme Support. I have taken over your request [Acme Support #1001] from Jason and will answer you personally."),
        "{}",
        m.text
    );
    assert!(
        !raw_text.contains("Billing question") && !raw_text.contains("support+1001."),
        "nothing internal: {raw_text}"
    );
}

/// The handover note is written in the ticket's language, like its acknowledgement.
#[test]
fn the_handover_note_is_in_the_tickets_language() {
    let raw = agent_mail_to(1001, "jason@example.test", "#assign Maria Lopez\r\n", "");
    let state = mem().with_ticket(alices_ticket(1001).language("de").build());
    let Plan::Agent { outgoing, .. } = run(&raw, &state) else {
        panic!("expected an agent plan");
    };
    let note = of_kind(&outgoing, MailKind::Handover).expect("the customer's note");
    let text = text_of(note);
    assert!(
        text.starts_with("Hallo Alice,\n\nhier schreibt Maria Lopez von Acme Support. Ich habe Ihre Anfrage [Acme Support #1001] von Jason übernommen"),
        "{text}"
    );
}

#[test]
fn no_handover_note_when_closing_when_switched_off_or_when_nobody_may_be_written_to() {
    let handover = |body: &str, state: &MemStore, cfg: &Config| {
        let raw = agent_mail_to(1001, "jason@example.test", body, "");
        let plan = decide(
            &raw,
            7,
            cfg,
            &Templates::load(None).expect("templates"),
            state,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan;
        let Plan::Agent {
            outgoing, reassign, ..
        } = plan
        else {
            panic!("expected an agent plan");
        };
        assert!(reassign.is_some(), "handed over all the same");
        of_kind(&outgoing, MailKind::Handover).is_some()
    };
    let cfg = config();
    assert!(handover("#assign Maria Lopez\r\n", &with_ticket(), &cfg));
    assert!(
        !handover("#assign Maria Lopez\r\n#close\r\n", &with_ticket(), &cfg),
        "a closed ticket needs no new owner's note"
    );
    // The ticket was opened by an auto-responder: nothing automatic goes back to it.
    let mut automated = alices_ticket(1001).build();
    automated.messages[0].suppressed = Some(SuppressReason::AutoSubmitted);
    assert!(!handover(
        "#assign Maria Lopez\r\n",
        &mem().with_ticket(automated),
        &cfg
    ));
    let off = crate::testing::config(
        r#"
[tickets]
handover_mail = false
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
"#,
    );
    assert!(!handover("#assign Maria Lopez\r\n", &with_ticket(), &off));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Any bytes at all: a defined outcome, never a panic.
    #[test]
    fn decide_never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let _ = run(&raw, &mem());
    }

    /// Hostile text in the fields that reach our headers (delivered as encoded words, the
    /// way an attacker would): never a panic, never a header the customer controls.
    #[test]
    fn hostile_fields_never_reach_our_headers(
        name in "\\PC{0,40}",
        subject in "\\PC{0,80}",
        header in "[A-Za-z\u{e9}\u{130}-]{1,12}",
        body in "\\PC{0,200}",
    ) {
        let b64 = |s: String| data_encoding::BASE64.encode(s.as_bytes());
        let raw = format!(
            "From: =?utf-8?b?{}?= <p@customer.test>\r\nX-{header}: v\r\nSubject: =?utf-8?b?{}?=\r\n\r\n{body}",
            b64(format!("{name}\r\nBcc: x@evil.test")),
            b64(format!("{subject}\r\nBcc-Me: 1")),
        );
        let Plan::NewTicket { outgoing, .. } = run(raw.as_bytes(), &mem()) else {
            return Err(proptest::test_runner::TestCaseError::fail("a valid sender must open a ticket"));
        };
        proptest::prop_assert_eq!(outgoing.len(), 2, "acknowledgement and notification");
        for mail in outgoing {
            let text = String::from_utf8_lossy(&mail.raw);
            let headers = text.split("\r\n\r\n").next().unwrap_or_default();
            proptest::prop_assert!(!headers.contains("\r\nBcc:"), "{}", headers);
            proptest::prop_assert!(!headers.contains("\r\nBcc-Me:"), "{}", headers);
        }
    }
}

/// Broken and hostile input: each gets a defined outcome, none panics. Outcomes in the words
/// of the hostile corpus's table (`crate::testing::describe`); `any`: whatever, but no panic.
#[test]
fn hostile_input_table() {
    let huge_subject = format!(
        "From: a@customer.test\r\nSubject: {}\r\n\r\nx",
        "s".repeat(90_000)
    );
    let too_big = format!("From: a@customer.test\r\n\r\n{}", "x".repeat(200_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "quarantined:unparseable"),
        ("binary garbage", vec![0, 159, 146, 150, 255, 0, 13, 10], "any"),
        ("no From", b"Subject: hi\r\n\r\nbody".to_vec(), "quarantined:no valid sender"),
        ("broken From", b"From: <<@@@\r\nSubject: hi\r\n\r\nbody".to_vec(), "quarantined:no valid sender"),
        ("too big", too_big.into_bytes(), "quarantined:message of 200025 bytes exceeds limits.max_message_bytes (100000)"),
        ("1 MB-ish subject", huge_subject.into_bytes(), "ack"),
        (
            "CRLF in display name",
            b"From: =?utf-8?q?Eve=0D=0ABcc=3A_v=40x.test?= <eve@customer.test>\r\nSubject: x\r\n\r\nhi".to_vec(),
            "ack",
        ),
        (
            "truncated MIME",
            b"From: a@customer.test\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/pl".to_vec(),
            "ack",
        ),
        (
            "unknown charset",
            b"From: a@customer.test\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla'".to_vec(),
            "ack",
        ),
    ];
    for (name, raw, expected) in cases {
        let plan = run(&raw, &mem());
        if let Plan::NewTicket { outgoing, .. } = &plan {
            for mail in outgoing {
                let text = String::from_utf8_lossy(&mail.raw);
                let headers = text.split("\r\n\r\n").next().unwrap_or_default();
                assert!(
                    !headers.contains("\r\nBcc:"),
                    "{name}: injected header in {headers}"
                );
            }
        }
        let got = describe_plan(&plan);
        assert!(
            expected == "any" || matches(expected, &got),
            "{name}: expected {expected}, got {got}"
        );
    }
}

/// Opens a ticket for `raw` (stored as mail 7, as every first mail after a lost store may
/// be) at `now` in `state`; returns the ticket and the acknowledgement's Message-ID, and
/// `state` holding the ticket with every id it sent, as committing it would leave it.
fn open_at(raw: &[u8], state: MemStore, now: UnixTime) -> (MemStore, TicketId, String) {
    let cfg = config();
    let templates = Templates::load(None).expect("templates");
    let d = decide(
        raw,
        7,
        &cfg,
        &templates,
        &state,
        now,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let Plan::NewTicket {
        ticket, outgoing, ..
    } = d.plan
    else {
        panic!("expected a new ticket, got {:?}", d.plan);
    };
    let ack = of_kind(&outgoing, MailKind::Acknowledgement)
        .expect("acknowledged")
        .message_id
        .clone();
    let id = ticket.id;
    let mut state = state.with_ticket(ticket);
    for mail in &outgoing {
        state = state.with_message_id(&mail.message_id, id);
    }
    (state, id, ack)
}

#[test]
fn after_a_lost_store_an_old_customers_reply_never_joins_a_strangers_ticket() {
    // Before the loss: Alice's mail opens ticket #1001 on 2026-11-27.
    let fresh = || mem().with_next_ticket(TicketId::new(1001));
    let (_, old, old_ack) = open_at(ALICE, fresh(), 1_796_169_600);
    assert_eq!(old, TicketId::new(1001));
    // The store is lost and rebuilt a week later: numbers and mail sequences restart, and
    // a stranger's mail opens #1001 again.
    let bob = b"From: Bob <bob@other.test>\r\nTo: support@example.test\r\nSubject: Invoice\r\n\
Message-ID: <b1@other.test>\r\n\r\nWhere is my invoice?\r\n";
    let (rebuilt, new, new_ack) = open_at(bob, fresh(), 1_796_774_400);
    assert_eq!(new, old, "the number is handed out again");
    assert_ne!(new_ack, old_ack, "but never the id the old customer holds");
    // Alice answers the acknowledgement she still has, with her card's number in it.
    let reply = format!(
        "From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Re: [Acme Support #1001] Help\r\nMessage-ID: <a2@customer.test>\r\n\
In-Reply-To: {old_ack}\r\nReferences: <a1@customer.test> {old_ack}\r\n\r\nMy card is 4111 1111 1111 1111.\r\n"
    );
    let cfg = config();
    let templates = Templates::load(None).expect("templates");
    let d = decide(
        reply.as_bytes(),
        8,
        &cfg,
        &templates,
        &rebuilt,
        1_796_780_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    match d.plan {
        Plan::NewTicket { ticket, .. } => {
            assert_eq!(ticket.customer.as_str(), "alice@customer.test");
        }
        other => panic!("Alice's mail must open a ticket of her own, got {other:?}"),
    }
    // Even naming the stranger's own acknowledgement (forwarded to her, say) gets her no
    // seat in his ticket; he himself still joins it.
    let named = reply.replace(&old_ack, &new_ack);
    let d = decide(
        named.as_bytes(),
        9,
        &cfg,
        &templates,
        &rebuilt,
        1_796_780_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    assert!(matches!(d.plan, Plan::NewTicket { .. }), "{:?}", d.plan);
    let his = format!(
        "From: Bob <bob@other.test>\r\nTo: support@example.test\r\nSubject: Re: Invoice\r\n\
In-Reply-To: {new_ack}\r\n\r\nAny news?\r\n"
    );
    let d = decide(
        his.as_bytes(),
        10,
        &cfg,
        &templates,
        &rebuilt,
        1_796_780_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    assert!(
        matches!(d.plan, Plan::Join { ticket, .. } if ticket == new),
        "{:?}",
        d.plan
    );
}

#[test]
fn an_agent_replying_to_a_notification_at_the_plain_address_is_told_not_made_a_customer() {
    // Jason is no customer of #1001, so threading passes the header over; he still gets
    // the notice that nothing was sent, and no ticket opens in his name.
    let mem = with_ticket().with_message_id("<notify.1001.1@example.test>", TicketId::new(1001));
    let raw = b"Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\n\
To: support@example.test\r\nSubject: Re: Help\r\nIn-Reply-To: <notify.1001.1@example.test>\r\n\r\nUnplug it.\r\n";
    let Plan::Agent { ticket, action, .. } = run(raw, &mem) else {
        panic!("expected a refusal");
    };
    assert_eq!(ticket, TicketId::new(1001));
    assert!(refused(&action, RefusalKind::PlainAddress), "{action}");
}

/// The notification of Alice's ticket #1001, as our code renders it under `cfg`.
fn notification_1001(cfg: &Config) -> OutgoingMail {
    let templates = Templates::load(None).expect("templates");
    let store = mem().with_next_ticket(TicketId::new(1001));
    let d = decide(
        ALICE,
        1,
        cfg,
        &templates,
        &store,
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let Plan::NewTicket { outgoing, .. } = d.plan else {
        panic!("expected a new ticket");
    };
    of_kind(&outgoing, MailKind::AgentNotification)
        .expect("notified")
        .clone()
}

/// Jason's answer to #1001, "See the attached.", with one more MIME part (`part`: its
/// headers, a blank line, its body); its token in the subject for subject mode, else in To.
fn answer_with_part(subject_mode: bool, part: &str) -> Vec<u8> {
    let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
    let (to, marker) = if subject_mode {
        (
            "support@example.test".to_string(),
            format!(" {{ref:1001.{token}}}"),
        )
    } else {
        (format!("support+1001.{token}@example.test"), String::new())
    };
    format!(
        "Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\nTo: {to}\r\n\
Subject: Re: [Acme Support #1001] Help{marker}\r\nMessage-ID: <j7@example.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
See the attached.\r\n\r\nJason\r\n--b\r\n{part}\r\n--b--\r\n"
    )
    .into_bytes()
}

/// Decides `raw` on Alice's ticket #1001 under `cfg`: the action and the mails it sends.
fn decide_answer(cfg: &Config, raw: &[u8]) -> (AgentAction, Vec<OutgoingMail>) {
    let templates = Templates::load(None).expect("templates");
    let d = decide(
        raw,
        8,
        cfg,
        &templates,
        &with_ticket(),
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides");
    let Plan::Agent {
        action, outgoing, ..
    } = d.plan
    else {
        panic!("expected an agent plan, got {:?}", d.plan);
    };
    (action, outgoing)
}

/// Asserts the answer was refused as a copy of the notification, nothing went to the
/// customer, and the notice tells the agent which attachment and why.
fn assert_refused_as_copy(cfg: &Config, raw: &[u8], name: &str, why: &str) {
    let (action, outgoing) = decide_answer(cfg, raw);
    assert!(
        refused(&action, RefusalKind::NotificationAttached),
        "{name}: {action:?}"
    );
    assert!(
        outgoing.iter().all(|m| m.kind == MailKind::AgentNotice),
        "{name}: nothing may reach the customer"
    );
    let notice = crate::mail::parse::parse_bytes(&outgoing[0].raw).expect("parses");
    assert!(
        notice
            .text
            .contains(&format!("\"{name}\" is a copy of the notification")),
        "{}",
        notice.text
    );
    assert!(notice.text.contains(why), "{why}: {}", notice.text);
}

#[test]
fn subject_mode_a_notification_forwarded_as_an_attachment_is_refused() {
    // No Reply-To in subject mode, and the attached copy is base64 with a quoted-printable
    // body inside: the old guard, looking for "support+1001." in the bytes, relayed it.
    let mut cfg = config();
    cfg.service.reply_tokens = crate::config::ReplyTokens::Subject;
    let n = notification_1001(&cfg);
    assert!(!String::from_utf8_lossy(&n.raw).contains("support+1001."));
    let b64 = data_encoding::BASE64_MIME.encode(&n.raw);
    let eml = format!(
        "Content-Type: application/octet-stream; name=\"Help.eml\"\r\n\
Content-Disposition: attachment; filename=\"Help.eml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}"
    );
    assert_refused_as_copy(
        &cfg,
        &answer_with_part(true, &eml),
        "Help.eml",
        "reply token",
    );
    // As message/rfc822 (Thunderbird's and Gmail's forward as attachment) it was left out
    // without a word; now the agent is told.
    let rfc822 = format!(
        "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"Help.eml\"\r\n\r\n{}",
        String::from_utf8_lossy(&n.raw)
    );
    assert_refused_as_copy(
        &cfg,
        &answer_with_part(true, &rfc822),
        "Help.eml",
        "reply token",
    );
}

#[test]
fn an_outlook_msg_attachment_carrying_the_notification_in_utf16_is_refused() {
    // Outlook stores a dragged-out mail as a compound file whose strings are UTF-16LE
    // property streams (`__substg1.0_0037001F` the subject, `__substg1.0_1000001F` the
    // body), as bbottema/outlook-message-parser's test message "simple reply with CC.msg"
    // shows; this one carries the notification our code renders, so no ASCII of it is left.
    let cfg = config();
    let n = notification_1001(&cfg);
    let parsed = crate::mail::parse::parse_bytes(&n.raw).expect("parses");
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut msg = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".to_vec();
    msg.resize(512, 0);
    for (stream, value) in [
        ("__substg1.0_0037001F", parsed.subject.as_str()),
        ("__substg1.0_1000001F", parsed.text.as_str()),
    ] {
        msg.extend(utf16(stream));
        msg.resize(msg.len().next_multiple_of(64), 0);
        msg.extend(utf16(value));
        msg.resize(msg.len().next_multiple_of(512), 0);
    }
    assert!(!msg.windows(13).any(|w| w == b"support+1001."));
    let part = format!(
        "Content-Type: application/vnd.ms-outlook; name=\"Help.msg\"\r\n\
Content-Disposition: attachment; filename=\"Help.msg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        data_encoding::BASE64_MIME.encode(&msg)
    );
    assert_refused_as_copy(
        &cfg,
        &answer_with_part(false, &part),
        "Help.msg",
        "marker line",
    );
}

#[test]
fn an_attached_message_that_is_our_notification_by_its_message_id_is_refused() {
    // Nothing in it but the Message-ID says what it is (the agent's client re-encoded the
    // rest): its id is one only a notification has. The old code left it out silently.
    let cfg = config();
    let n = notification_1001(&cfg);
    let bare = |header: &str| {
        format!(
            "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n\
{header}\r\nFrom: Alice Doe <alice@customer.test>\r\nSubject: Help\r\n\
Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            data_encoding::BASE64_MIME.encode(
                &"\u{feff}My printer is on fire."
                    .encode_utf16()
                    .flat_map(u16::to_be_bytes)
                    .collect::<Vec<u8>>()
            )
        )
    };
    let ours = format!("Message-ID: {}", n.message_id);
    assert_refused_as_copy(
        &cfg,
        &answer_with_part(false, &bare(&ours)),
        "original.eml",
        "Message-ID",
    );
    // An earlier answer of the agent's to a notification quotes it: its In-Reply-To says so.
    let answered = format!(
        "Message-ID: <j1@example.test>\r\nIn-Reply-To: {}",
        n.message_id
    );
    assert_refused_as_copy(
        &cfg,
        &answer_with_part(false, &bare(&answered)),
        "original.eml",
        "Message-ID",
    );
    // The customer's own mail attached is no notification: left out as before, the answer goes.
    let customers = bare("Message-ID: <a1@customer.test>");
    let (action, outgoing) = decide_answer(&cfg, &answer_with_part(false, &customers));
    assert_eq!(action, AgentAction::Relayed { then: None });
    assert_eq!(outgoing[0].kind, MailKind::AgentReply);
}

#[test]
fn a_reply_token_pasted_into_the_text_is_refused() {
    let mut cfg = config();
    cfg.service.reply_tokens = crate::config::ReplyTokens::Subject;
    let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
    let raw = format!(
        "Return-Path: <jason@example.test>\r\nFrom: jason@example.test\r\nTo: support@example.test\r\n\
Subject: Re: [Acme Support #1001] Help {{ref:1001.{token}}}\r\nMessage-ID: <s1@example.test>\r\n\r\n\
Unplug it. (Internal: [Acme Support #1001] Help {{ref:1001.{token}}})\r\n"
    );
    let (action, outgoing) = decide_answer(&cfg, raw.as_bytes());
    assert!(
        refused(&action, RefusalKind::QuoteNotSeparated),
        "{action:?}"
    );
    assert!(outgoing.iter().all(|m| m.kind == MailKind::AgentNotice));
}

/// [`config`] with a second inbox, billing@, that sends through an SMTP account of its own.
fn two_inboxes() -> Config {
    crate::testing::config(
        r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
[[inboxes]]
name = "billing"
address = "billing@example.test"
[inboxes.imap]
host = "127.0.0.1"
tls = "none"
password = "b"
[inboxes.smtp]
password = "billing-secret"
"#,
    )
}

/// Decides `raw` as the inbox at `arrived_at` sees it (the view its mailbox gets).
fn decide_at(cfg: &Config, arrived_at: &str, raw: &[u8], mem: &MemStore) -> Plan {
    let inbox = cfg
        .all_inboxes()
        .into_iter()
        .find(|i| i.address.as_str() == arrived_at)
        .expect("an inbox");
    let view = cfg.for_inbox(&inbox);
    let templates = Templates::load(None).expect("templates");
    decide(
        raw,
        9,
        &view,
        &templates,
        mem,
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides")
    .plan
}

/// The From address of a composed mail.
fn from_address(mail: &OutgoingMail) -> String {
    crate::mail::parse::parse_bytes(&mail.raw)
        .expect("parses")
        .from
        .expect("from")
        .address
        .to_string()
}

/// Alice's ticket #1001 as it came in at billing@.
fn billing_ticket() -> MemStore {
    mem()
        .with_ticket(
            alices_ticket(1001)
                .inbox(addr("billing@example.test"))
                .build(),
        )
        .with_message_id("<ack.1001.3@example.test>", TicketId::new(1001))
}

/// Issue 13: a follow-up to billing's ticket that the customer wrote to support@ reaches the
/// agent from billing@ (with billing's reply address), through billing's SMTP account.
#[test]
fn a_follow_up_at_another_inbox_is_handled_from_the_tickets_inbox() {
    let cfg = two_inboxes();
    let raw = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\nSubject: Re: Help\r\n\
In-Reply-To: <ack.1001.3@example.test>\r\nMessage-ID: <a2@customer.test>\r\n\r\nStill broken.\r\n";
    let Plan::Join {
        ticket, outgoing, ..
    } = decide_at(&cfg, "support@example.test", raw, &billing_ticket())
    else {
        panic!("expected a join");
    };
    assert_eq!(ticket, TicketId::new(1001));
    let note = of_kind(&outgoing, MailKind::AgentNotification).expect("the agent is told");
    assert_eq!(note.inbox.as_str(), "billing@example.test");
    assert_eq!(from_address(note), "billing@example.test");
    let parsed = crate::mail::parse::parse_bytes(&note.raw).expect("parses");
    let reply_to = parsed.reply_to.map(|r| r.address.to_string());
    assert!(
        reply_to
            .as_deref()
            .is_some_and(|r| r.starts_with("billing+1001.")),
        "{reply_to:?}"
    );
    // The outbox entry goes through billing's account.
    let entry = crate::domain::OutboxEntry::queued(1, note, Some(ticket), 0, None);
    assert_eq!(cfg.smtp_for(entry.inbox.as_ref()), &cfg.inboxes[0].smtp);

    // A ticket that recorded no inbox is the main inbox's, wherever its follow-up arrives.
    let old = mem()
        .with_ticket(alices_ticket(1001).build())
        .with_message_id("<ack.1001.3@example.test>", TicketId::new(1001));
    let raw = String::from_utf8_lossy(raw).replace("To: support@", "To: billing@");
    let Plan::Join { outgoing, .. } = decide_at(&cfg, "billing@example.test", raw.as_bytes(), &old)
    else {
        panic!("expected a join");
    };
    let note = of_kind(&outgoing, MailKind::AgentNotification).expect("the agent is told");
    assert_eq!(note.inbox.as_str(), "support@example.test");
    assert_eq!(cfg.smtp_for(Some(&note.inbox)), &cfg.smtp);
}

/// An agent's answer to billing's ticket that reached support@ (an older notification's
/// reply address) still goes to the customer from billing@.
#[test]
fn an_answer_at_another_inbox_is_relayed_from_the_tickets_inbox() {
    let cfg = two_inboxes();
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "Unplug it.\r\n",
        "",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = decide_at(&cfg, "support@example.test", &raw, &billing_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    assert_eq!(reply.inbox.as_str(), "billing@example.test");
    assert_eq!(from_address(reply), "billing@example.test");
}

/// A reply to billing's long-closed ticket written to support@ opens the linked ticket at
/// billing@, acknowledged from there.
#[test]
fn a_linked_ticket_stays_at_the_old_tickets_inbox() {
    let cfg = two_inboxes();
    let mut mem = billing_ticket();
    let t = mem.ticket_mut(TicketId::new(1001));
    t.state = TicketState::Closed;
    t.closed_at = Some(1_000_000 - 30 * 86_400);
    let raw = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\nSubject: Re: Help\r\n\
In-Reply-To: <ack.1001.3@example.test>\r\nMessage-ID: <a3@customer.test>\r\n\r\nIt broke again.\r\n";
    let Plan::NewTicket {
        ticket, outgoing, ..
    } = decide_at(&cfg, "support@example.test", raw, &mem)
    else {
        panic!("expected a linked ticket");
    };
    assert_eq!(ticket.linked_from, Some(TicketId::new(1001)));
    assert_eq!(ticket.inbox, Some(addr("billing@example.test")));
    let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    assert_eq!(ack.inbox.as_str(), "billing@example.test");
    assert_eq!(from_address(ack), "billing@example.test");
    // A new mail to support@ is support's, through [smtp].
    let raw = String::from_utf8_lossy(ALICE).into_owned();
    let Plan::NewTicket {
        ticket, outgoing, ..
    } = decide_at(
        &cfg,
        "support@example.test",
        raw.as_bytes(),
        &MemStore::default(),
    )
    else {
        panic!("expected a ticket");
    };
    assert_eq!(ticket.inbox, Some(addr("support@example.test")));
    assert!(
        outgoing
            .iter()
            .all(|m| m.inbox.as_str() == "support@example.test")
    );
}

/// How many times deciding `raw` on Alice's ticket #1001 ran mail-parser, and the plan.
fn parses_deciding(raw: &[u8], state: &MemStore) -> (usize, Plan) {
    let before = crate::mail::parse::parses();
    let plan = run(raw, state);
    (crate::mail::parse::parses() - before, plan)
}

/// Issue 12: the decision parses a mail once and hands the parse along. An agent's answer
/// with an attachment was parsed six times (its header, the text, the HTML, the attachments
/// to relay, twice, and the leak guard's), a 25 MB mail each time.
#[test]
fn an_answer_with_an_attachment_is_parsed_once() {
    let pdf = "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjcKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==";
    let (parses, plan) = parses_deciding(&answer_with_part(false, pdf), &with_ticket());
    let Plan::Agent {
        action, outgoing, ..
    } = plan
    else {
        panic!("expected an agent plan");
    };
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    assert!(
        String::from_utf8_lossy(&reply.raw).contains("invoice.pdf"),
        "the attachment goes along"
    );
    assert_eq!(parses, 1, "the answer is parsed once");
    // An HTML answer with its pasted image: the HTML, the image it shows and the text all
    // come from the same parse.
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "",
        GMAIL_HTML_ANSWER,
    );
    let (parses, plan) = parses_deciding(&raw, &with_ticket());
    assert!(
        matches!(
            plan,
            Plan::Agent {
                action: AgentAction::Relayed { .. },
                ..
            }
        ),
        "{plan:?}"
    );
    assert_eq!(parses, 1, "the HTML answer is parsed once");
}

/// The customer's side: a new mail with an attachment is parsed once for its header, its
/// classification and the notification that carries the attachment to the agent.
#[test]
fn a_customer_mail_with_an_attachment_is_parsed_once() {
    let raw = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Invoice\r\nMessage-ID: <a9@customer.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
See the invoice.\r\n--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
JVBERi0xLjcK\r\n--b--\r\n";
    let (parses, plan) = parses_deciding(raw, &mem());
    let Plan::NewTicket { outgoing, .. } = plan else {
        panic!("expected a new ticket, got {plan:?}");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    assert!(String::from_utf8_lossy(&n.raw).contains("invoice.pdf"));
    assert_eq!(parses, 1, "the mail is parsed once");
}

/// Templates with the canned answer `refund-received` (and `password-reset`), as a desk
/// configures them in `templates_dir/replies/`.
fn canned_templates() -> (tempfile::TempDir, Templates) {
    let dir = tempfile::tempdir().expect("tempdir");
    let replies = dir.path().join("replies");
    std::fs::create_dir(&replies).expect("mkdir");
    std::fs::write(
        replies.join("refund-received.txt.hbs"),
        "{{!-- Refund confirmed --~}}\nHello {{customer.greeting_name}},\n\nthe refund for ticket #{{ticket.number}} ({{ticket.tag}}) is on its way.\n{{agent.name}}, {{service.name}}\n",
    )
    .expect("write");
    std::fs::write(replies.join("password-reset.txt.hbs"), "Reset it.\n").expect("write");
    let templates = Templates::load(Some(dir.path())).expect("templates");
    templates.self_test().expect("renders");
    (dir, templates)
}

const REFUND: &str = "Hello Alice,\n\nthe refund for ticket #1001 ([Acme Support #1001]) is on its way.\nJason Miller, Acme Support";

/// What the customer gets for an agent's answer with `body` (after the header fields
/// `extra`), with [`canned_templates`]: the action and the relayed text, if any.
fn canned_answer(body: &str, extra: &str) -> (AgentAction, Vec<OutgoingMail>) {
    let (_dir, templates) = canned_templates();
    let raw = agent_mail_to(1001, "Jason Miller <jason@example.test>", body, extra);
    let Plan::Agent {
        outgoing, action, ..
    } = run_with(&raw, &with_ticket(), &templates)
    else {
        panic!("expected an agent plan");
    };
    (action, outgoing)
}

fn text_of(mail: &OutgoingMail) -> String {
    crate::mail::parse::parse_bytes(&mail.raw)
        .expect("parses")
        .text
        .replace("\r\n", "\n")
}

#[test]
fn a_canned_answer_goes_first_and_the_agents_own_text_after_it() {
    let (action, outgoing) = canned_answer(
        "#reply refund-received\r\n\r\nIt was the double charge from May 3.\r\n\r\nJason\r\n\r\n\
         On Mon, Alice wrote:\r\n> Help\r\n",
        "",
    );
    assert_eq!(action, AgentAction::Relayed { then: None });
    assert_eq!(outgoing.len(), 1);
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    assert_eq!(reply.recipients[0].as_str(), "alice@customer.test");
    assert_eq!(
        text_of(reply).trim_end(),
        format!("{REFUND}\n\nIt was the double charge from May 3.\n\nJason")
    );
}

#[test]
fn a_canned_answer_alone_goes_alone_and_combines_with_close() {
    let (action, outgoing) = canned_answer("#close\r\n#reply refund-received\r\n", "");
    assert_eq!(
        action,
        AgentAction::Relayed {
            then: Some(TicketState::Closed)
        }
    );
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    assert_eq!(text_of(reply).trim_end(), REFUND);
}

#[test]
fn an_unknown_canned_answer_is_refused_with_the_list() {
    for (body, said) in [
        (
            "#reply refund\r\n\r\nSee above.\r\n",
            "#reply refund: there is no canned answer",
        ),
        (
            "#reply Refund Received!\r\n",
            "#reply Refund Received!: a canned answer's name",
        ),
        ("#reply\r\nSee above.\r\n", "#reply needs the name"),
        (
            "#reply refund-received\r\n#reply password-reset\r\n",
            "one canned answer per mail",
        ),
        (
            "#reply refund-received\r\n#note\r\nshe was upset\r\n",
            "#reply and #note",
        ),
        (
            "#reply refund-received\r\n#assign Maria Lopez\r\n",
            "#reply and #assign",
        ),
    ] {
        let (action, outgoing) = canned_answer(body, "");
        assert!(refused(&action, RefusalKind::Command), "{body}: {action}");
        assert_eq!(outgoing.len(), 1, "{body}: only the notice");
        let notice = &outgoing[0];
        assert_eq!(notice.kind, MailKind::AgentNotice, "{body}");
        assert_eq!(notice.recipients[0].as_str(), "jason@example.test");
        let text = text_of(notice);
        assert!(text.contains(said), "{body}: {text}");
        if !said.contains("#note") && !said.contains("#assign") && !said.contains("one canned") {
            assert!(
                text.contains("available: password-reset, refund-received"),
                "{body}: {text}"
            );
        }
    }
    // A desk without canned answers: the notice says where they go.
    let raw = agent_mail_to(
        1001,
        "jason@example.test",
        "#reply refund-received\r\nHi\r\n",
        "",
    );
    let Plan::Agent {
        outgoing, action, ..
    } = run(&raw, &with_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert!(refused(&action, RefusalKind::Command), "{action}");
    let text = text_of(&outgoing[0]);
    assert!(text.contains("no canned answers are set up"), "{text}");
    assert!(text.contains("replies/NAME.txt.hbs"), "{text}");
}

#[test]
fn a_canned_answer_to_an_html_answer_goes_as_text_with_the_htmls_words() {
    let html = GMAIL_HTML_ANSWER.replace("<div>#close</div>", "<div>#reply refund-received</div>");
    let (action, outgoing) = canned_answer("", &html);
    assert_eq!(action, AgentAction::Relayed { then: None });
    let reply = of_kind(&outgoing, MailKind::AgentReply).expect("relayed");
    let raw = String::from_utf8_lossy(&reply.raw);
    assert!(!raw.contains("text/html"), "{raw}");
    let text = text_of(reply);
    assert!(
        text.starts_with(&format!("{REFUND}\n\nUnplug it, then wait:")),
        "{text}"
    );
    for gone in ["#reply", "Ticket #1001", "Reply to this mail", "track.test"] {
        assert!(!text.contains(gone), "{gone} in {text}");
    }
}

/// A new mail from Anna, in German, with `headers` added.
fn anna(headers: &str) -> Vec<u8> {
    format!(
        "From: Anna Schmidt <anna@customer.test>\r\nTo: support@example.test\r\n\
         Subject: Drucker\r\nMessage-ID: <a1@customer.test>\r\n\
         Return-Path: <anna@customer.test>\r\n{headers}\r\n\
         Hallo, mein Drucker druckt seit gestern nur noch leere Seiten. \
         Können Sie mir bitte sagen, was ich tun soll?\r\n\r\nViele Grüße\r\nAnna\r\n"
    )
    .into_bytes()
}

/// The new ticket's language and its acknowledgement's text.
fn acknowledged_in(plan: Plan) -> (Option<String>, String) {
    let Plan::NewTicket {
        ticket, outgoing, ..
    } = plan
    else {
        panic!("expected a new ticket: {plan:?}");
    };
    let ack = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    (ticket.language, text_of(ack))
}

#[test]
fn a_german_mail_is_acknowledged_in_german_and_the_ticket_remembers_it() {
    let (language, text) = acknowledged_in(run(&anna(""), &mem()));
    assert_eq!(language.as_deref(), Some("de"));
    assert!(text.starts_with("Hallo Anna,"), "{text}");
    assert!(text.contains("vielen Dank für Ihre Nachricht"), "{text}");
}

#[test]
fn the_earlier_tickets_language_wins_over_the_mail() {
    // Anna wrote in French before: her new German mail is answered in French.
    let state = mem().with_ticket(
        ticket(900, "anna@customer.test")
            .language("fr")
            .state(TicketState::Closed)
            .build(),
    );
    let (language, text) = acknowledged_in(run(&anna("Content-Language: es\r\n"), &state));
    assert_eq!(language.as_deref(), Some("fr"));
    assert!(text.starts_with("Bonjour Anna,"), "{text}");
    // An earlier ticket from before languages were recorded tells nothing.
    let state = mem().with_ticket(ticket(900, "anna@customer.test").build());
    let (language, _) = acknowledged_in(run(&anna("Content-Language: es\r\n"), &state));
    assert_eq!(language.as_deref(), Some("es"));
}

#[test]
fn content_language_wins_over_the_words() {
    let (language, text) = acknowledged_in(run(&anna("Content-Language: es-ES\r\n"), &mem()));
    assert_eq!(language.as_deref(), Some("es"));
    assert!(text.starts_with("Hola, Anna:"), "{text}");
}

#[test]
fn an_english_mail_is_acknowledged_in_english() {
    let (language, text) = acknowledged_in(run(ALICE, &mem()));
    assert_eq!(language.as_deref(), Some("en"));
    assert!(text.contains("thank you for writing"), "{text}");
}

// ---- what the acknowledgement remembers and promises (issue 14, points 3 and 4) ----

/// The acknowledgement's text for ALICE's new mail under `state`.
fn ack_text_with(state: &MemStore) -> String {
    ack_text_under(&config(), state)
}

/// The acknowledgement's text for ALICE's new mail under `cfg` and `state`, decided at the
/// usual now (Monday 12 January 1970, 13:46:40 UTC).
fn ack_text_under(cfg: &Config, state: &MemStore) -> String {
    let plan = decide(
        ALICE,
        7,
        cfg,
        &Templates::load(None).expect("templates"),
        state,
        1_000_000,
        SystemTime::UNIX_EPOCH,
    )
    .expect("decides")
    .plan;
    let Plan::NewTicket { outgoing, .. } = plan else {
        panic!("expected a new ticket");
    };
    let mail = of_kind(&outgoing, MailKind::Acknowledgement).expect("acknowledged");
    crate::mail::parse::parse_bytes(&mail.raw)
        .expect("our mail parses")
        .text
}

/// Alice's earlier ticket 1001, answered by Jason, last changed a day before the run's now.
fn earlier() -> crate::testing::TicketBuilder {
    ticket(1001, "alice@customer.test")
        .subject("Printer offline")
        .created_at(1_000_000 - 90_000)
        .first_response_at(1_000_000 - 88_000)
        .updated_at(1_000_000 - 86_400)
        .state(TicketState::Closed)
}

#[test]
fn a_returning_customer_is_reminded_who_helped_them_and_with_what() {
    let text = ack_text_with(&mem().with_ticket(earlier().build()));
    assert!(text.contains("thank you for writing to"), "{text}");
    assert!(
        text.contains(
            "Jason Miller, who helped you last time with \u{201c}Printer offline\u{201d} (ticket #1001), will take care of it"
        ),
        "{text}"
    );
    assert!(text.contains("writing to Acme Support again."), "{text}");
}

#[test]
fn a_returning_customer_is_not_reminded_when_it_would_be_wrong() {
    let remembered = |t: Ticket| ack_text_with(&mem().with_ticket(t)).contains("last time");
    assert!(remembered(earlier().build()), "the baseline remembers");
    // Forgotten (`customer forget`): nothing of it may come back.
    assert!(!remembered(
        earlier().forgotten_at(1_000_000 - 3600).build()
    ));
    // Older than the window (365 days by default).
    assert!(!remembered(
        earlier().updated_at(1_000_000 - 366 * 86_400).build()
    ));
    // Nobody answered it: nobody helped.
    let mut unanswered = earlier().build();
    unanswered.first_response_at = None;
    assert!(!remembered(unanswered));
    // Maria had it, and Maria is away now: Jason takes the new one, and says nothing of hers.
    let state = mem()
        .with_ticket(earlier().agent(agent("maria@example.test")).build())
        .with_agent_load(
            agent("maria@example.test"),
            crate::domain::AgentLoad {
                open: 0,
                away: true,
            },
        );
    let text = ack_text_with(&state);
    assert!(text.contains("Jason Miller will take care of it"), "{text}");
    assert!(!text.contains("last time"), "{text}");
}

/// `n` first responses of `wait` seconds each, the newest a minute before the run's now.
fn samples(n: usize, wait: u64) -> Vec<crate::domain::FirstResponse> {
    (0..n)
        .map(|i| crate::domain::FirstResponse {
            at: 1_000_000 - 60 - i as i64,
            working_seconds: wait,
        })
        .collect()
}

#[test]
fn the_acknowledgement_says_how_long_answers_usually_take_once_there_is_enough_to_say() {
    let jason = agent("jason@example.test");
    let text = ack_text_with(&mem().with_first_responses(&jason, samples(10, 5400)));
    assert!(
        text.contains("Jason usually answers within 2 hours of working time."),
        "{text}"
    );
    // Nine answers are too few (the default minimum is ten): nothing is promised.
    let text = ack_text_with(&mem().with_first_responses(&jason, samples(9, 5400)));
    assert!(!text.contains("usually"), "{text}");
    // Answers older than the window (90 days) do not count.
    let old: Vec<_> = samples(10, 5400)
        .into_iter()
        .map(|mut s| {
            s.at -= 91 * 86_400;
            s
        })
        .collect();
    let text = ack_text_with(&mem().with_first_responses(&jason, old));
    assert!(!text.contains("usually"), "{text}");
}

#[test]
fn a_new_agent_is_promised_what_their_team_usually_manages() {
    let cfg = crate::testing::config(
        r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["billing"]
[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
teams = ["billing"]
[[agents]]
name = "Olaf Berg"
email = "olaf@example.test"
teams = ["sales"]
[[teams]]
name = "billing"
[[teams]]
name = "sales"
"#,
    );
    let ack = |state: &MemStore| ack_text_under(&cfg, state);
    // Jason has no answers yet; Maria, in his team, has ten of at most 20 minutes.
    let maria = mem().with_first_responses(&agent("maria@example.test"), samples(10, 1200));
    let text = ack(&maria);
    assert!(text.contains("Jason Miller will take care of it"), "{text}");
    assert!(
        text.contains("Jason usually answers within 20 minutes of working time."),
        "{text}"
    );
    // Olaf is in another team: his answers say nothing about Jason's.
    let olaf = mem().with_first_responses(&agent("olaf@example.test"), samples(10, 1200));
    assert!(!ack(&olaf).contains("usually"));
}

#[test]
fn an_agents_first_answer_carries_the_wait_in_their_working_time() {
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "Unplug it.\r\n",
        "",
    );
    let Plan::Agent { wait, outgoing, .. } = run(&raw, &with_ticket()) else {
        panic!("expected an agent plan");
    };
    assert!(of_kind(&outgoing, MailKind::AgentReply).is_some());
    let wait = wait.expect("a relayed answer measures the wait");
    assert_eq!(wait.agent.to_string(), "jason@example.test");
    // The ticket opened at 0 and the agent works around the clock: all of it counts.
    assert_eq!(wait.working_seconds, 1_000_000);
}

/// The first-response sample counts the agent's working time only, and a closure is none.
#[test]
fn the_wait_an_answer_ends_counts_working_hours_and_skips_closures() {
    // Opened Friday 9 January 1970 at 16:00 UTC; answered at the run's now, Monday 12
    // January 13:46:40 UTC. Jason works Mon-Fri 09:00-17:00 UTC.
    let opened = 8 * 86_400 + 16 * 3600;
    let wait = |extra: &str| {
        let cfg = crate::testing::config(&format!(
            "[[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n\
             working_hours = \"Mon-Fri 09:00-17:00\"\ntimezone = \"UTC\"\n{extra}"
        ));
        let state = mem().with_ticket(alices_ticket(1001).created_at(opened).build());
        let raw = agent_mail_to(
            1001,
            "Jason Miller <jason@example.test>",
            "Unplug it.\r\n",
            "",
        );
        let plan = decide(
            &raw,
            7,
            &cfg,
            &Templates::load(None).expect("templates"),
            &state,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan;
        let Plan::Agent { wait, .. } = plan else {
            panic!("expected an agent plan");
        };
        wait.expect("measured").working_seconds
    };
    // Friday 16:00-17:00 and Monday 09:00-13:46:40; not the weekend.
    assert_eq!(wait(""), 3600 + 4 * 3600 + 46 * 60 + 40);
    // Monday is a holiday: only Friday's hour.
    assert_eq!(wait("[[closures]]\nfrom = \"1970-01-12\"\n"), 3600);
}

#[test]
fn during_a_closure_of_the_desk_the_acknowledgement_says_so_and_when_it_reopens() {
    // The run's now, 1,000,000 s, is Monday 12 January 1970, 13:46 UTC.
    let cfg = crate::testing::config(
        r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
working_hours = "Mon-Fri 09:00-17:00"
[[closures]]
name = "inventory"
from = "1970-01-12"
to = "1970-01-13"
"#,
    );
    let text = ack_text_under(&cfg, &mem());
    assert!(
        text.contains(
            "We are closed for inventory and open again on Wednesday 14 January. Your request is ticket #1042"
        ),
        "{text}"
    );
    assert!(
        text.contains("Jason is back Wednesday at 09:00 UTC and will answer you then."),
        "the agent's return is after the closure: {text}"
    );
}

/// A closure that ends on a Friday reopens on Monday for a desk that works weekdays.
#[test]
fn the_desk_reopens_on_its_next_working_day_not_the_day_after_the_closure() {
    let cfg = crate::testing::config(
        r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
working_hours = "Mon-Fri 09:00-17:00"
[[closures]]
from = "1970-01-12"
to = "1970-01-16"
"#,
    );
    let text = ack_text_under(&cfg, &mem());
    assert!(
        text.contains("We are closed and open again on Monday 19 January."),
        "{text}"
    );
}

/// Issue 15, point 3: `#close` with a last word sends the answer and then the customer's
/// closing mail, in the agent's name, automatic, threaded on the customer's mail.
#[test]
fn closing_a_ticket_sends_the_customer_a_closing_mail_after_the_answer() {
    let raw = agent_mail_to(
        1001,
        "Jason Miller <jason@example.test>",
        "#close\r\n\r\nGlad it works again.\r\n",
        "",
    );
    let Plan::Agent {
        outgoing, state, ..
    } = run(&raw, &with_ticket())
    else {
        panic!("expected an agent plan");
    };
    assert_eq!(state, Some(TicketState::Closed));
    let kinds: Vec<MailKind> = outgoing.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MailKind::AgentReply, MailKind::Closing]);
    let closing = &outgoing[1];
    assert_eq!(closing.recipients[0].as_str(), "alice@customer.test");
    assert_eq!(
        closing.envelope_from, None,
        "a null envelope sender, as RFC 3834 asks"
    );
    assert!(
        closing.message_id.starts_with("<closing.1001."),
        "{}",
        closing.message_id
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&closing.raw)
        .expect("parses");
    let header = |name: &'static str| parsed.header_raw(name).map(str::trim);
    assert_eq!(header("Auto-Submitted"), Some("auto-generated"));
    assert_eq!(header("In-Reply-To"), Some("<a1@customer.test>"));
    let from = parsed.from().and_then(|f| f.first()).expect("from");
    assert_eq!(from.name(), Some("Jason Miller, Acme Support"));
    assert_eq!(from.address(), Some("support@example.test"));
    assert!(
        parsed
            .subject()
            .is_some_and(|s| s.contains("[Acme Support #1001]"))
    );
    let text = parsed.body_text(0).expect("text").replace("\r\n", "\n");
    assert!(text.starts_with("Hello Alice,"), "{text}");
    assert!(text.contains("from 1 (poor) to 5 (excellent)"), "{text}");
    // `#close` alone closes with the closing mail only.
    let raw = agent_mail_to(1001, "Jason Miller <jason@example.test>", "#close\r\n", "");
    let Plan::Agent { outgoing, .. } = run(&raw, &with_ticket()) else {
        panic!("expected an agent plan");
    };
    let kinds: Vec<MailKind> = outgoing.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MailKind::Closing]);
}

/// The closing mail is written in the ticket's language, its rating words among them.
#[test]
fn the_closing_mail_is_in_the_tickets_language() {
    let raw = agent_mail_to(1001, "Jason Miller <jason@example.test>", "#close\r\n", "");
    let state = mem().with_ticket(alices_ticket(1001).language("fr").build());
    let Plan::Agent { outgoing, .. } = run(&raw, &state) else {
        panic!("expected an agent plan");
    };
    let closing = of_kind(&outgoing, MailKind::Closing).expect("closing mail");
    let text = text_of(closing);
    assert!(text.starts_with("Bonjour Alice,"), "{text}");
    assert!(
        text.contains("une note de 1 (mauvais) à 5 (excellent), ou « bien » ou « mauvais »"),
        "{text}"
    );
    // The words the shipped closing mails suggest are words the rating reader knows.
    for word in ["bien", "mauvais", "gut", "schlecht", "mal"] {
        assert!(
            crate::mail::rating::read_rating(word).is_some(),
            "{word} must rate"
        );
    }
}

/// The closing mail obeys what the acknowledgement obeys, and an inbox may switch it off.
#[test]
fn no_closing_mail_where_it_is_off_or_the_acknowledgement_would_be_withheld() {
    let close = agent_mail_to(1001, "Jason Miller <jason@example.test>", "#close\r\n", "");
    let closing_of = |cfg: &Config, mem: &MemStore| -> Option<OutgoingMail> {
        let templates = Templates::load(None).expect("templates");
        let plan = decide(
            &close,
            7,
            cfg,
            &templates,
            mem,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan;
        let Plan::Agent {
            outgoing, state, ..
        } = plan
        else {
            panic!("expected an agent plan, got {plan:?}");
        };
        assert_eq!(
            state,
            Some(TicketState::Closed),
            "the ticket closes all the same"
        );
        outgoing.into_iter().find(|m| m.kind == MailKind::Closing)
    };
    let base = "[[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n";
    assert!(closing_of(&crate::testing::config(base), &with_ticket()).is_some());
    let off = crate::testing::config(&format!("[tickets]\nclosing_mail = false\n{base}"));
    assert!(closing_of(&off, &with_ticket()).is_none(), "off");
    // Her opening mail came from a no-reply sender: nothing automatic goes there.
    let mut mem = with_ticket();
    mem.ticket_mut(TicketId::new(1001)).messages[0].suppressed =
        Some(SuppressReason::NoReplySender);
    assert!(closing_of(&config(), &mem).is_none(), "automated opener");
    // Three automatic mails to her today already (per_sender_per_day = 3).
    let mem = with_ticket().with_acks(&addr("alice@customer.test"), &[999_000, 999_500, 999_900]);
    assert!(closing_of(&config(), &mem).is_none(), "over the daily cap");
}

/// Alice's ticket #1001, answered and closed yesterday with a closing mail whose id is
/// indexed; `closing` false: closed without one.
fn closed_with_closing_mail(closing: bool) -> MemStore {
    let mut mem = with_ticket()
        .with_message_id("<a1@customer.test>", TicketId::new(1001))
        .with_message_id("<closing.1001.abc@example.test>", TicketId::new(1001));
    let t = mem.ticket_mut(TicketId::new(1001));
    t.state = TicketState::Closed;
    t.closed_at = Some(1_000_000 - 86_400);
    if closing {
        t.messages.push(TicketMessage {
            direction: Direction::Closing,
            message_id: Some("<closing.1001.abc@example.test>".into()),
            outbox_id: Some(5),
            ..TicketMessage::note(1_000_000 - 86_400, "")
        });
    }
    mem
}

/// Issue 15, point 4: "4, thanks" above the quote of the closing mail is a rating: recorded
/// on the ticket, which stays closed, and the agent gets a short note. Any other reply
/// reopens the ticket as before.
#[test]
fn a_rating_by_reply_is_recorded_and_reopens_nothing() {
    let reply = |body: &str| {
        format!(
            "From: Alice Doe <alice@customer.test>\r\nSubject: Re: Help [Acme Support #1001]\r\n\
In-Reply-To: <closing.1001.abc@example.test>\r\nMessage-ID: <r1@customer.test>\r\n\r\n{body}"
        )
        .into_bytes()
    };
    let rating =
        reply("4, thanks\r\n\r\nOn Fri, Jason Miller wrote:\r\n> How did we do? Reply 1 to 5\r\n");
    let Plan::Join {
        reopen,
        reason,
        rating: Some(r),
        outgoing,
        message,
        ..
    } = run(&rating, &closed_with_closing_mail(true))
    else {
        panic!("expected a rating");
    };
    assert!(!reopen, "a rating never reopens");
    assert_eq!(reason, SuppressReason::Rating);
    assert_eq!((r.score, r.comment.as_str()), (4, "thanks"));
    assert_eq!(r.agent.to_string(), "jason@example.test");
    assert_eq!(message.note.as_deref(), Some("rating 4/5: thanks"));
    let [note] = outgoing.as_slice() else {
        panic!("one note to the agent: {outgoing:?}");
    };
    assert_eq!(note.kind, MailKind::AgentNotice);
    assert_eq!(note.recipients[0].as_str(), "jason@example.test");
    let parsed = mail_parser::MessageParser::default()
        .parse(&note.raw)
        .expect("parses");
    assert!(
        parsed
            .subject()
            .is_some_and(|s| s.starts_with("Rated 4/5: [Acme Support #1001]")),
        "{:?}",
        parsed.subject()
    );
    let text = parsed.body_text(0).expect("text");
    assert!(
        text.contains("4 of 5") && text.contains("Their comment: thanks"),
        "{text}"
    );
    // Answering the note reaches the ticket, as answering a notice does.
    let reply_to = parsed.header_raw("Reply-To").unwrap_or_default();
    assert!(reply_to.contains("support+1001."), "{reply_to}");

    // Not a rating: the ticket reopens, as a reply within the reopen window always did.
    let again = reply("It broke again this morning.\r\n");
    assert!(matches!(
        run(&again, &closed_with_closing_mail(true)),
        Plan::Join {
            reopen: true,
            rating: None,
            ..
        }
    ));
    // A ticket closed without a closing mail invited no rating: "4" is just a reply.
    assert!(matches!(
        run(&reply("4\r\n"), &closed_with_closing_mail(false)),
        Plan::Join {
            reopen: true,
            rating: None,
            ..
        }
    ));
}

/// A customer's mail with `attachment` (its base64 text as written after the part's header).
fn mail_with_base64_attachment(text: &str) -> Vec<u8> {
    format!(
        "From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Logs\r\nMessage-ID: <big1@customer.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
The logs are attached.\r\n--b\r\nContent-Type: application/octet-stream; name=\"logs.bin\"\r\n\
Content-Disposition: attachment; filename=\"logs.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{text}\r\n--b--\r\n"
    )
    .into_bytes()
}

/// The bytes of attachment `name` in a mail we send, as the agent's client decodes them.
fn attachment_in(mail: &OutgoingMail, name: &str) -> Vec<u8> {
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default()
        .parse(&mail.raw)
        .expect("parses");
    let part = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .expect("the attachment is there");
    part.contents().to_vec()
}

/// Bytes that are not text, `n` of them.
fn binary(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7919 % 251) as u8).collect()
}

/// Issue 12: a big attachment reaches the agent byte for byte although its base64 text is
/// written into the notification from the raw mail after the parse is gone (in lines of 76,
/// whatever the customer's lines were), and no placeholder is left behind.
#[test]
fn a_big_attachment_is_spliced_into_the_notification_byte_for_byte() {
    let data = binary(70_000);
    let text = data_encoding::BASE64
        .encode(&data)
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("ascii"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let raw = mail_with_base64_attachment(&text);
    let mime = crate::mail::parse::Mime::new(&raw);
    let found = crate::mail::parse::attachments(&mime)[0]
        .base64_in_raw
        .clone();
    assert_eq!(
        found.map(|r| &raw[r]),
        Some(text.as_bytes()),
        "the text is found in the raw mail, to be spliced"
    );
    let plan = run(&raw, &mem());
    let Plan::NewTicket { outgoing, .. } = plan else {
        panic!("expected a new ticket, got {plan:?}");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    assert!(n.splices.is_empty(), "every splice is made");
    let raw = String::from_utf8_lossy(&n.raw);
    assert!(!raw.contains("frontdesk-splice"), "no placeholder is left");
    assert!(
        raw.lines().all(|l| l.len() <= 998),
        "no line is longer than RFC 5322 allows"
    );
    assert_eq!(attachment_in(n, "logs.bin"), data);
    // The customer's lines of 64 are re-wrapped to 76.
    let first = &data_encoding::BASE64.encode(&data)[..76];
    assert!(raw.contains(&format!("\r\n{first}\r\n")), "lines of 76");
}

/// Base64 text that is not clean (a character outside the alphabet, which decoders treat
/// differently) is not copied: the attachment is encoded from what the parse decoded, as
/// before, and the agent gets exactly that.
#[test]
fn an_attachment_whose_base64_is_not_clean_is_encoded_from_its_bytes() {
    let data = binary(70_000);
    let mut text = data_encoding::BASE64.encode(&data);
    text.insert(4000, '*');
    let raw = mail_with_base64_attachment(&text);
    let decoded = {
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parses");
        let part = parsed.attachments().next().expect("attachment");
        part.contents().to_vec()
    };
    let mime = crate::mail::parse::Mime::new(&raw);
    assert_eq!(
        crate::mail::parse::attachments(&mime)[0].base64_in_raw,
        None
    );
    let Plan::NewTicket { outgoing, .. } = run(&raw, &mem()) else {
        panic!("expected a new ticket");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    assert_eq!(attachment_in(n, "logs.bin"), decoded);
}

/// A text attachment's contents are converted from its charset, so its base64 text is not
/// what the agent gets: it is never spliced, and the agent gets the converted text as before.
#[test]
fn a_big_text_attachment_is_encoded_from_its_converted_text() {
    let latin1: Vec<u8> = (0..70_000)
        .map(|i| if i % 10 == 0 { 0xe9 } else { b'a' })
        .collect();
    let text = data_encoding::BASE64.encode(&latin1);
    let raw = String::from_utf8(mail_with_base64_attachment(&text))
        .expect("ascii")
        .replace(
            "Content-Type: application/octet-stream; name=\"logs.bin\"",
            "Content-Type: text/plain; charset=iso-8859-1; name=\"logs.bin\"",
        )
        .into_bytes();
    let mime = crate::mail::parse::Mime::new(&raw);
    assert_eq!(
        crate::mail::parse::attachments(&mime)[0].base64_in_raw,
        None
    );
    let Plan::NewTicket { outgoing, .. } = run(&raw, &mem()) else {
        panic!("expected a new ticket");
    };
    let n = of_kind(&outgoing, MailKind::AgentNotification).expect("notified");
    let want: String = latin1.iter().map(|&b| char::from(b)).collect();
    assert_eq!(attachment_in(n, "logs.bin"), want.into_bytes());
}
