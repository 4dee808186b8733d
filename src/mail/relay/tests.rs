//! Reply tokens, agents' commands and quote stripping, with real clients' replies.
use super::token::TOKEN_CHARS;
use super::*;
use crate::domain::{AgentEmail, EmailAddress, MessageIdKind, TicketId};

fn agent(s: &str) -> AgentEmail {
    AgentEmail::new(EmailAddress::parse(s).expect("valid"))
}

#[test]
fn a_reissued_ticket_number_never_accepts_the_old_tickets_token() {
    let key = b"0123456789abcdef0123456789abcdef";
    let jason = agent("jason@example.test");
    let opened = TOKENS_BOUND_SINCE + 3600;
    let old = mint(&ticket_key(key, opened), TicketId::new(1001), &jason);
    assert!(verify(
        &ticket_key(key, opened),
        TicketId::new(1001),
        &jason,
        &old
    ));
    // The same number, opened again later (a lost or restored store): a different key.
    let again = ticket_key(key, opened + 86_400);
    assert!(!verify(&again, TicketId::new(1001), &jason, &old));
    // Tickets opened before the change keep the tokens their agents hold.
    let before = TOKENS_BOUND_SINCE - 1;
    assert_eq!(ticket_key(key, before), key.to_vec());
}

#[test]
fn tokens_bind_ticket_and_agent() {
    let key = b"0123456789abcdef0123456789abcdef";
    let jason = agent("jason@example.test");
    let t = mint(key, TicketId::new(1042), &jason);
    assert_eq!(t.len(), TOKEN_CHARS);
    assert!(
        t.chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
    );
    assert!(verify(key, TicketId::new(1042), &jason, &t));
    assert!(
        verify(key, TicketId::new(1042), &jason, &t.to_ascii_uppercase()),
        "case-insensitive"
    );
    assert!(
        !verify(key, TicketId::new(1043), &jason, &t),
        "other ticket"
    );
    assert!(
        !verify(key, TicketId::new(1042), &agent("maria@example.test"), &t),
        "other agent"
    );
    assert!(
        !verify(
            b"another key of enough length!!",
            TicketId::new(1042),
            &jason,
            &t
        ),
        "other key"
    );
    assert!(
        !verify(key, TicketId::new(1042), &jason, &t[..9]),
        "truncated"
    );
    assert!(!verify(key, TicketId::new(1042), &jason, ""), "empty");
}

#[test]
fn message_ids_are_stable_but_unguessable() {
    let key = b"0123456789abcdef0123456789abcdef";
    let a = message_id(
        key,
        MessageIdKind::Ack,
        TicketId::new(1042),
        7,
        "example.test",
    );
    assert_eq!(
        a,
        message_id(
            key,
            MessageIdKind::Ack,
            TicketId::new(1042),
            7,
            "example.test"
        )
    );
    assert!(
        a.starts_with("<ack.1042.") && a.ends_with("@example.test>"),
        "{a}"
    );
    assert_ne!(
        a,
        message_id(
            key,
            MessageIdKind::Ack,
            TicketId::new(1042),
            8,
            "example.test"
        )
    );
    assert_ne!(
        a,
        message_id(
            b"other key of sufficient length!",
            MessageIdKind::Ack,
            TicketId::new(1042),
            7,
            "example.test"
        )
    );
    assert!(
        !a.contains(".7@"),
        "the sequence number is not visible: {a}"
    );
}

#[test]
fn token_addresses_are_found_only_for_our_mailbox() {
    let support = EmailAddress::parse("support@example.test").expect("valid");
    let r = |s: &str| EmailAddress::parse(s).expect("valid");
    let found = find_token_address(
        &[r("x@y.test"), r("support+1042.abcdefghij@example.test")],
        &support,
    );
    assert_eq!(
        found,
        Some(TokenAddress {
            ticket: TicketId::new(1042),
            token: "abcdefghij".into()
        })
    );
    assert_eq!(
        reply_address(&support, TicketId::new(7), "k7q2"),
        "support+7.k7q2@example.test"
    );
    assert_eq!(
        find_token_address(&[r("support+1042.abc@other.test")], &support),
        None
    );
    assert_eq!(
        find_token_address(&[r("sales+1042.abc@example.test")], &support),
        None
    );
    assert_eq!(
        find_token_address(&[r("support+billing@example.test")], &support),
        None
    );
    assert_eq!(
        find_token_address(&[r("support+x1.abc@example.test")], &support),
        None
    );
}

#[test]
fn subject_markers_carry_the_token_without_plus_addressing() {
    let m = subject_marker(TicketId::new(1042), "k7q2m9d4xa");
    assert_eq!(m, "{ref:1042.k7q2m9d4xa}");
    let found =
        find_subject_token(&format!("Re: [Acme Support #1042] Printer {m}")).expect("found");
    assert_eq!(
        (found.ticket, found.token.as_str()),
        (TicketId::new(1042), "k7q2m9d4xa")
    );
    assert_eq!(find_subject_token("Re: {ref:abc.x}"), None);
    assert_eq!(find_subject_token("Re: {ref:12.}"), None);
    assert_eq!(find_subject_token("Re: {ref:12.a b}"), None);
    assert_eq!(find_subject_token("no marker"), None);
}

#[test]
fn quote_stripping_table() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "gmail/thunderbird top-posting",
            "Hi Alice,\n\nplease restart it.\n\nJason\n\nOn Wed, 25 Nov 2026 at 10:00, Acme Support <support@example.test> wrote:\n> Ticket #1042\n> My printer is on fire.\n",
            "Hi Alice,\n\nplease restart it.\n\nJason",
        ),
        (
            "attribution wrapped over two lines",
            "Done.\n\nOn Wed, 25 Nov 2026 at 10:00, Acme Support\n<support@example.test> wrote:\n> old\n",
            "Done.",
        ),
        (
            "bottom-posting",
            "On Wed, 25 Nov 2026, Acme Support wrote:\n> My printer is on fire.\n\nPlease unplug it first.\n",
            "Please unplug it first.",
        ),
        (
            "outlook header block",
            "Fixed it.\n\nFrom: Acme Support <support@example.test>\nSent: Wednesday, November 25, 2026 10:00 AM\nTo: Jason\nSubject: [Acme Support #1042] Printer\n\nMy printer is on fire.\n",
            "Fixed it.",
        ),
        (
            "outlook rule",
            "Fixed.\n________________________________\nFrom: Acme Support\nSent: today\n\nold text\n",
            "Fixed.",
        ),
        (
            "original message",
            "Yes.\n\n-----Original Message-----\nFrom: x\nold\n",
            "Yes.",
        ),
        (
            "nothing quoted",
            "Just an answer.\nTwo lines.",
            "Just an answer.\nTwo lines.",
        ),
        (
            "a From: line in the answer without a header block is kept",
            "From: what I see, it is fine.\nBye",
            "From: what I see, it is fine.\nBye",
        ),
    ];
    for (name, input, expected) in cases {
        assert_eq!(strip_quoted(input), *expected, "{name}");
    }
}

#[test]
fn localized_and_bold_header_blocks_are_cut() {
    let cases: &[(&str, &str)] = &[
        (
            "Erledigt.\n\nVon: Acme Support <support@example.test>\nGesendet: Mittwoch, 25. November 2026 10:00\nAn: Jason\n\nTicket #1001 · Alice",
            "Erledigt.",
        ),
        ("Fait.\n\nDe : Acme\nEnvoyé : mercredi\n\nold", "Fait."),
        (
            "Done.\n\n*From:* Acme Support\n*Sent:* Wednesday\n\nold",
            "Done.",
        ),
        (
            "Ja.\n\n-----Ursprüngliche Nachricht-----\nVon: x\nold",
            "Ja.",
        ),
        (
            "On Monday the technician comes. Bob wrote:\nstill mine",
            "On Monday the technician comes. Bob wrote:\nstill mine",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(strip_quoted(input), *expected, "{input:?}");
    }
}

#[test]
fn note_variants_never_fail_open() {
    for text in [
        "#note: she is rude",
        "# note she is rude",
        "#note, she is rude",
        "\u{200b}#note she is rude",
        "#NOTE she is rude",
    ] {
        let m = read_agent_message(text);
        assert_eq!(m.commands, vec![Command::Note], "{text:?}");
        assert_eq!(m.body, "she is rude", "{text:?}");
    }
    // Bottom-posted after the quote (mutt style): still a command, the quote goes first.
    let m = read_agent_message("On Wed, 25 Nov 2026, Acme wrote:\n> hi\n\n#note called her");
    assert_eq!(m.commands, vec![Command::Note]);
    // A #note in the middle is caught by the safety net.
    assert!(has_command_line("Hello Alice,\n#note she is rude\nBye"));
    assert!(!has_command_line("Hello Alice,\n#1 priority for us.\nBye"));
}

/// Real reply shapes of six clients (tests/corpus/replies): the answer survives, nothing
/// of the notification does.
#[test]
fn real_client_replies_are_stripped_to_the_answer() {
    let fixtures: &[(&str, &[u8])] = &[
        (
            "gmail",
            include_bytes!("../../../tests/corpus/replies/gmail.eml"),
        ),
        (
            "outlook desktop",
            include_bytes!("../../../tests/corpus/replies/outlook-desktop.eml"),
        ),
        (
            "outlook on the web (HTML only)",
            include_bytes!("../../../tests/corpus/replies/outlook-web.eml"),
        ),
        (
            "apple mail",
            include_bytes!("../../../tests/corpus/replies/apple-mail.eml"),
        ),
        (
            "thunderbird",
            include_bytes!("../../../tests/corpus/replies/thunderbird.eml"),
        ),
        (
            "outlook, German",
            include_bytes!("../../../tests/corpus/replies/outlook-german.eml"),
        ),
    ];
    for (client, raw) in fixtures {
        let text = crate::mail::parse::reply_text(raw).expect("text");
        let m = read_agent_message(&text);
        assert!(m.commands.is_empty(), "{client}");
        assert!(
            m.body
                .starts_with("Hi Alice, please unplug it and wait ten minutes."),
            "{client}: {:?}",
            m.body
        );
        assert!(
            m.body.trim_end().ends_with("Jason"),
            "{client}: {:?}",
            m.body
        );
        for leak in [
            "Ticket #1001",
            "Reply to this mail",
            "My printer is on fire",
            "wrote:",
        ] {
            assert!(
                !m.body.contains(leak),
                "{client} leaks {leak:?}: {:?}",
                m.body
            );
        }
    }
}

#[test]
fn commands_at_the_top_are_read() {
    let m = read_agent_message("#note called her, waiting for photos\n\nOn Mon, X wrote:\n> hi");
    assert_eq!(m.commands, vec![Command::Note]);
    assert_eq!(m.body, "called her, waiting for photos");

    let m = read_agent_message("#close\n\nThanks, all done!\n");
    assert_eq!(m.commands, vec![Command::Close]);
    assert_eq!(m.body, "Thanks, all done!");

    let m = read_agent_message("#assign Maria Lopez\n#frobnicate\nText");
    assert_eq!(
        m.commands,
        vec![
            Command::Assign("Maria Lopez".into()),
            Command::Unknown("frobnicate".into())
        ]
    );
    assert_eq!(m.body, "Text");

    let m = read_agent_message("Hello\n#close\n");
    assert!(m.commands.is_empty(), "commands only count at the top");
    assert_eq!(m.body, "Hello\n#close");

    let m = read_agent_message("#1 is the answer");
    assert!(m.commands.is_empty());
}
