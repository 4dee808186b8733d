//! Reply tokens, agents' commands and quote stripping (text and HTML), with real clients'
//! replies.
use super::token::TOKEN_CHARS;
use super::*;
use crate::domain::{AgentEmail, EmailAddress, MessageIdKind, TicketId, TicketStamp};

/// An agent's message read as the relay reads an answer about ticket #1001.
fn read(text: &str) -> AgentMessage {
    let anchors = [crate::compose::notification_marker(TicketId::new(1001))];
    read_agent_message(
        text,
        &OurQuote {
            anchors: &anchors,
            header: "Ticket #1001 ·",
            sender: ["Acme Support", "support@example.test"],
        },
    )
}

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

/// Ticket #1042 as opened at `opened`.
fn stamp(opened: i64) -> TicketStamp {
    TicketStamp {
        id: TicketId::new(1042),
        opened,
    }
}

#[test]
fn message_ids_are_stable_but_unguessable() {
    let key = b"0123456789abcdef0123456789abcdef";
    let id =
        |key: &[u8], ticket, seq| message_id(key, MessageIdKind::Ack, ticket, seq, "example.test");
    let a = id(key, stamp(1_000), 7);
    assert_eq!(a, id(key, stamp(1_000), 7), "a re-send carries the same id");
    assert!(
        a.starts_with("<ack.1042.") && a.ends_with("@example.test>"),
        "{a}"
    );
    assert_ne!(a, id(key, stamp(1_000), 8));
    assert_ne!(a, id(b"other key of sufficient length!", stamp(1_000), 7));
    assert!(
        !a.contains(".7@"),
        "the sequence number is not visible: {a}"
    );
}

#[test]
fn a_ticket_number_handed_out_again_never_repeats_an_id() {
    // After a lost store, ticket #1042 and mail sequence 7 come round again for someone
    // else: only the opening time tells the two tickets apart, and it must.
    let key = b"0123456789abcdef0123456789abcdef";
    for kind in [
        MessageIdKind::Ack,
        MessageIdKind::Notify,
        MessageIdKind::Notice,
        MessageIdKind::Reply,
        MessageIdKind::Escalation,
    ] {
        let before = message_id(key, kind, stamp(1_795_600_000), 7, "example.test");
        let again = message_id(key, kind, stamp(1_795_700_000), 7, "example.test");
        assert_ne!(before, again, "{kind:?}");
        assert_eq!(MessageIdKind::of(&again), Some(kind));
    }
}

/// Every id we mint names its ticket for the store to resolve it from (schema 3 indexes
/// none of ours); anything not of our shape names none.
#[test]
fn our_message_ids_name_their_ticket() {
    let key = b"0123456789abcdef0123456789abcdef";
    for kind in MessageIdKind::ALL {
        let id = message_id(key, kind, stamp(1_795_600_000), 7, "example.test");
        assert_eq!(
            MessageIdKind::ticket_of(&id),
            Some(TicketId::new(1042)),
            "{id}"
        );
    }
    for other in [
        "<alice.1042.x@customer.test>",
        "<ack.10x2.code@example.test>",
        "<ack..code@example.test>",
        "<ack.1042.code>",
        "<ack.99999999999999999999.code@example.test>",
        "<ack.+1042.code@example.test>",
        "",
    ] {
        assert_eq!(MessageIdKind::ticket_of(other), None, "{other}");
    }
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
        let m = read(text);
        assert_eq!(m.commands, vec![Command::Note], "{text:?}");
        assert_eq!(m.body, "she is rude", "{text:?}");
    }
    // Bottom-posted after the quote (mutt style): still a command, the quote goes first.
    let m = read("On Wed, 25 Nov 2026, Acme wrote:\n> hi\n\n#note called her");
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
        let text =
            crate::mail::parse::reply_text(&crate::mail::parse::Mime::new(raw)).expect("text");
        let m = read(&text);
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
    let m = read("#note called her, waiting for photos\n\nOn Mon, X wrote:\n> hi");
    assert_eq!(m.commands, vec![Command::Note]);
    assert_eq!(m.body, "called her, waiting for photos");

    let m = read("#close\n\nThanks, all done!\n");
    assert_eq!(m.commands, vec![Command::Close]);
    assert_eq!(m.body, "Thanks, all done!");

    let m = read("#assign Maria Lopez\n#frobnicate\nText");
    assert_eq!(
        m.commands,
        vec![
            Command::Assign("Maria Lopez".into()),
            Command::Unknown("frobnicate".into())
        ]
    );
    assert_eq!(m.body, "Text");

    let m = read("Hello\n#close\n");
    assert!(m.commands.is_empty(), "commands only count at the top");
    assert_eq!(m.body, "Hello\n#close");

    let m = read("#1 is the answer");
    assert!(m.commands.is_empty());
}

#[test]
fn reply_names_a_canned_answer_and_keeps_the_agents_text() {
    let m =
        read("#reply password-reset\n\nAnd the new card is on its way.\n\nOn Mon, X wrote:\n> hi");
    assert_eq!(m.commands, vec![Command::Reply("password-reset".into())]);
    assert_eq!(m.body, "And the new card is on its way.");

    // With #close, in either order, and nothing of the agent's own.
    let m = read("#close\n#Reply: refund_received\n");
    assert_eq!(
        m.commands,
        vec![Command::Close, Command::Reply("refund_received".into())]
    );
    assert_eq!(m.body, "");

    // The name is kept as written: whether it names a canned answer is decided later.
    let m = read("#reply Bad Name!\nText");
    assert_eq!(m.commands, vec![Command::Reply("Bad Name!".into())]);
    let m = read("#reply\nText");
    assert_eq!(m.commands, vec![Command::Reply(String::new())]);

    // Below the text it is a misplaced command, never a reply.
    assert!(has_command_line("Thanks\n#reply refund-received"));
    let m = read("Thanks\n#reply refund-received");
    assert!(m.commands.is_empty());
}

/// The notification as agents' clients quote it: the marker line first, the header block,
/// the template's rule, then the customer's words.
fn notification_lines() -> Vec<String> {
    vec![
        crate::compose::notification_marker(TicketId::new(1001)),
        String::new(),
        "Ticket #1001 · Casey Customer <casey@customer.test>".into(),
        "First ticket from this customer.".into(),
        String::new(),
        "Reply to this mail to answer Casey; your answer goes out from support@example.test as \"Jason Miller, Acme Support\".".into(),
        "Lines at the top of your reply: #note (internal, nothing is sent), #close, #reopen, #assign NAME.".into(),
        "------------------------------------------------------------------------".into(),
        String::new(),
        "Is the printer covered by the warranty?".into(),
        "And can you send a technician on Monday?".into(),
    ]
}

fn prefixed(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cut(text: &str) -> Option<String> {
    let anchors = [crate::compose::notification_marker(TicketId::new(1001))];
    cut_our_quote(
        text,
        &OurQuote {
            anchors: &anchors,
            header: "Ticket #1001 ·",
            sender: ["Acme Support", "support@example.test"],
        },
    )
}

#[test]
fn the_quote_is_cut_at_our_notification_whatever_the_attribution_language() {
    let answer = "Yes, it is covered. A technician comes Monday at nine.\n\nJason";
    let quote = prefixed(&notification_lines());
    let attributions = [
        "Am Do., 3. Dez. 2026 um 14:09 Uhr schrieb Casey Customer via Acme Support <\nsupport@example.test>:",
        "Op do 3 dec. 2026 om 14:09 schreef Casey Customer via Acme Support <support@example.test>:",
        "W dniu 3.12.2026 o 14:09, Casey Customer via Acme Support pisze:",
        "чт, 3 дек. 2026 г. в 14:09, Casey Customer via Acme Support <support@example.test>:",
        "Em qui., 3 de dez. de 2026 às 14:09, Casey Customer via Acme Support <\nsupport@example.test> escreveu:",
        "to 3. jouluk. 2026 klo 14.09 Casey Customer via Acme Support (support@example.test) kirjoitti:",
        "Vào Th 5, 3 thg 12, 2026 vào lúc 14:09 Casey Customer via Acme Support <\nsupport@example.test> đã viết:",
        "On 12/3/2026 2:09 PM, Casey Customer via Acme Support wrote:",
        "---- On Thu, 03 Dec 2026 14:09:00 +0100 Casey Customer via Acme Support <support@example.test> wrote ----",
    ];
    for attribution in attributions {
        let text = format!("{answer}\n\n{attribution}\n\n{quote}\n");
        assert_eq!(cut(&text).as_deref(), Some(answer), "{attribution}");
    }
}

#[test]
fn an_unprefixed_quote_after_a_header_block_in_any_language_runs_to_the_end() {
    let answer = "Yes, it is covered.\n\nSent from my iPhone";
    let body = notification_lines().join("\n");
    let blocks = [
        "________________________________\nFrom: Casey Customer via Acme Support <support@example.test>\nSent: Thursday, December 3, 2026 2:09 PM\nTo: Jason Miller <jason@example.test>\nSubject: [Acme Support #1001] Warranty",
        "От: Casey Customer via Acme Support <support@example.test>\nОтправлено: 3 декабря 2026 г. 14:09\nКому: Jason Miller\nТема: [Acme Support #1001] Warranty",
        "-----Ursprüngliche Nachricht-----\nVon: Casey Customer via Acme Support <support@example.test>\nGesendet: Donnerstag, 3. Dezember 2026 14:09\nAn: Jason Miller\nBetreff: [Acme Support #1001] Warranty",
        "On Dec 3, 2026, at 14:09, Casey Customer via Acme Support <support@example.test> wrote:",
    ];
    for block in blocks {
        let text = format!("{answer}\n\n{block}\n\n{body}\n");
        assert_eq!(cut(&text).as_deref(), Some(answer), "{block}");
    }
}

#[test]
fn a_marker_the_client_rewrapped_is_still_found() {
    let lines = notification_lines();
    let marker = &lines[0];
    let (a, b) = marker.split_at(40);
    let mut wrapped = vec![a.trim_end().to_string(), b.trim_start().to_string()];
    wrapped.extend(lines[1..].iter().cloned());
    let text = format!(
        "Covered.\n\nOn Thu, Dec 3, 2026 at 2:09 PM Casey via Acme Support wrote:\n{}",
        prefixed(&wrapped)
    );
    assert_eq!(cut(&text).as_deref(), Some("Covered."));
}

#[test]
fn an_inline_answer_keeps_the_questions_it_answers_and_never_the_header_block() {
    let lines = notification_lines();
    let text = format!(
        "On Thu, Dec 3, 2026 at 2:09 PM Casey Customer via Acme Support <support@example.test> wrote:\n{}\n> {}\n\nYes, for two years.\n\n> {}\n\nMonday at nine works.\n\nJason",
        prefixed(&lines[..9]),
        lines[9],
        lines[10]
    );
    let got = cut(&text).expect("our quote is there");
    assert_eq!(
        got,
        "> Is the printer covered by the warranty?\n\nYes, for two years.\n\n> And can you send a technician on Monday?\n\nMonday at nine works.\n\nJason"
    );
}

#[test]
fn an_answer_without_our_quote_is_left_to_the_known_formats() {
    assert_eq!(cut("Just the answer.\n\nJason"), None);
    assert_eq!(
        cut("Answer.\n\nOn Mon, X <x@y.test> wrote:\n> something else"),
        None
    );
}

/// An HTML answer about ticket #1001 cut as the relay cuts it; inline images named `imgN`.
fn cut_html(html: &str) -> Option<HtmlAnswer> {
    let anchors = [crate::compose::notification_marker(TicketId::new(1001))];
    let ours = OurQuote {
        anchors: &anchors,
        header: "Ticket #1001 ·",
        sender: ["Acme Support", "support@example.test"],
    };
    read_html_answer(html, &ours, &|cid: &str| Some(format!("img.{cid}")))
}

/// The HTML body of a corpus case.
fn corpus_html(raw: &[u8]) -> String {
    crate::mail::parse::reply_html(&crate::mail::parse::Mime::new(raw))
        .expect("an HTML body")
        .html
}

/// What no cut HTML may hold: the notification's lines and the quote's attribution.
fn assert_no_quote(client: &str, a: &HtmlAnswer) {
    for part in [&a.html, &a.text] {
        for leak in [
            "Reply above this line",
            "Ticket #1001",
            "Reply to this mail",
            "Lines at the top",
            "charged twice",
            "via Acme Support",
            "blockquote",
        ] {
            assert!(!part.contains(leak), "{client}: {leak:?} in {part:?}");
        }
    }
}

#[test]
fn html_answers_of_real_clients_lose_the_quote_and_its_container() {
    let hi = "Hi. I am fine.\n\nThanks,\nAlex";
    let fixtures: [(&str, &[u8], &str); 7] = [
        (
            "Gmail (gmail_quote)",
            include_bytes!("../../../tests/corpus/replies/talon-html-gmail.eml"),
            hi,
        ),
        (
            "Thunderbird (moz-cite-prefix, blockquote type=cite)",
            include_bytes!("../../../tests/corpus/replies/talon-html-thunderbird.eml"),
            hi,
        ),
        (
            "Outlook for Mac (OLK_SRC_BODY_SECTION)",
            include_bytes!("../../../tests/corpus/replies/talon-html-outlook-mac-olk.eml"),
            "Reply",
        ),
        (
            "Hotmail (<hr> and a header block)",
            include_bytes!("../../../tests/corpus/replies/talon-html-hotmail-hr.eml"),
            hi,
        ),
        (
            "Yandex (a plain blockquote)",
            include_bytes!("../../../tests/corpus/replies/talon-html-yandex.eml"),
            hi,
        ),
        (
            "Outlook 2007 (a border-top div with a bold header block)",
            include_bytes!("../../../tests/corpus/replies/talon-html-outlook-2007.eml"),
            // Its blank paragraph holds a plain space: a browser shows no line.
            "Hi. I am fine.\nThanks,\nAlex",
        ),
        (
            "Outlook on the web (appendonsend, <hr>, divRplyFwdMsg)",
            include_bytes!("../../../tests/corpus/replies/outlook-web.eml"),
            "Hi Alice, please unplug it and wait ten minutes.\nJason",
        ),
    ];
    for (client, raw, text) in fixtures {
        // The hand-made Outlook on the web file declares ISO-8859-1 but carries the header
        // line's `·` in UTF-8.
        let html = corpus_html(raw).replace("Â·", "·");
        let a = cut_html(&html).unwrap_or_else(|| panic!("{client}: not cut"));
        assert_eq!(a.text, text, "{client}");
        assert!(a.message.commands.is_empty(), "{client}");
        assert_no_quote(client, &a);
        assert!(!a.html.contains("<hr"), "{client}: {}", a.html);
    }
}

#[test]
fn an_html_answer_keeps_the_signature_under_the_quote_and_a_forward_above_it() {
    let raw = include_bytes!("../../../tests/corpus/replies/disc-gmail-signature-after-quote.eml");
    let a = cut_html(&corpus_html(raw)).expect("cut");
    assert_eq!(
        a.text,
        "This is the reply.\n\nThanks,\nSome One\n\n--\nSome One\nCommunity Manager\nfoo@bar.com\n(123) 456-7890"
    );
    assert_no_quote("Gmail, signature below", &a);
    let raw = include_bytes!("../../../tests/corpus/replies/disc-gmail-forward-included.eml");
    let a = cut_html(&corpus_html(raw)).expect("cut");
    assert!(
        a.text.contains(
            "---------- Forwarded message ---------\nFrom: Foo Discourse <foo@discourse.org>"
        ),
        "{}",
        a.text
    );
    assert!(a.text.ends_with("gravida convallis."), "{}", a.text);
    assert_no_quote("Gmail, forward included", &a);
}

#[test]
fn an_inline_html_answer_keeps_the_customers_questions_as_blockquotes() {
    let raw = include_bytes!("../../../tests/corpus/replies/gh-inline-answers.eml");
    let a = cut_html(&corpus_html(raw)).expect("cut");
    assert!(
        a.text
            .starts_with("> okay.  Well, here's some stuff I can write."),
        "{}",
        a.text
    );
    assert!(
        a.text.contains("I will reply under this one\n\n>\n> okay?"),
        "{}",
        a.text
    );
    assert!(
        a.text.ends_with("Hey there, this is my signature"),
        "{}",
        a.text
    );
    assert_eq!(a.html.matches("<blockquote").count(), 2, "{}", a.html);
    for leak in [
        "Reply above this line",
        "Ticket #1001",
        "Reply to this mail",
        "wrote:",
    ] {
        assert!(!a.html.contains(leak), "{leak} in {}", a.html);
    }
}

#[test]
fn commands_at_the_top_of_an_html_answer_are_read_and_leave_it() {
    let a = cut_html(
        "<div>#close</div><div><br></div><div>Refunded, see <b>you</b>.</div>\
         <div class=\"gmail_quote\">On Thu, Casey via Acme Support wrote:<blockquote>Ticket #1001 · Casey</blockquote></div>",
    )
    .expect("cut");
    assert_eq!(a.message.commands, [Command::Close]);
    assert_eq!(a.message.body, "Refunded, see you.");
    assert_eq!(a.html, "<div>Refunded, see <b>you</b>.</div>");
    assert_eq!(a.text, "Refunded, see you.");
}

#[test]
fn an_html_answer_without_our_quote_goes_whole_or_as_text() {
    // Nothing quoted at all: the whole answer, sanitized.
    let a = cut_html("<p>Just the answer.</p><p>Jason</p><script>x()</script>").expect("whole");
    assert_eq!(a.html, "<p>Just the answer.</p><p>Jason</p>");
    assert_eq!(a.text, "Just the answer.\nJason");
    // Something else quoted (not our notification): not cut here, the text cut decides.
    assert_eq!(
        cut_html(
            "<p>Answer.</p><div>On Mon, X &lt;x@y.test&gt; wrote:<blockquote>other</blockquote></div>"
        ),
        None
    );
}

#[test]
fn an_html_answer_shows_the_inline_images_it_carries() {
    let a = cut_html(
        "<div>See the screenshot:</div><div><img src=\"cid:ii_m1\" alt=\"shot\"></div>\
         <img src=\"https://tracker.test/o.gif\" width=\"1\" height=\"1\">\
         <div class=\"gmail_quote\">On Thu, Casey via Acme Support wrote:<blockquote>Ticket #1001 · Casey<img src=\"cid:quoted\"></blockquote></div>",
    )
    .expect("cut");
    assert_eq!(a.images, ["ii_m1"]);
    assert_eq!(
        a.html,
        "<div>See the screenshot:</div><div><img alt=\"shot\" src=\"cid:img.ii_m1\"></div>"
    );
}

#[test]
fn cc_commands_keep_their_arguments_for_the_ticket_to_judge() {
    let m = read("#cc add carol@customer.test\n# CC: drop Dave <dave@customer.test>\n\nHello all");
    assert_eq!(
        m.commands,
        vec![
            Command::Cc("add carol@customer.test".into()),
            Command::Cc("drop Dave <dave@customer.test>".into()),
        ]
    );
    assert_eq!(m.body, "Hello all");
    // Below the text it is a misplaced command: the answer is refused, nobody is copied.
    assert!(has_command_line("Thanks\n#cc add carol@customer.test"));
}
