//! The composed mails, checked as a customer's or agent's client will read them.
use std::time::SystemTime;

use super::*;
use crate::domain::{EmailAddress, OutgoingMail, TicketId};
use crate::mail::parse::{Mailbox, parse_bytes};

fn mailbox(name: Option<&str>, addr: &str) -> Mailbox {
    Mailbox {
        name: name.map(String::from),
        address: EmailAddress::parse(addr).expect("valid"),
    }
}

fn compose(
    customer: &Mailbox,
    subject: &str,
    text: &str,
) -> (OutgoingMail, crate::mail::parse::ParsedMail) {
    compose_with("en", None, customer, subject, text, None)
}

/// The acknowledgement of a returning customer whose earlier ticket #1001 had `subject`.
fn compose_previous(subject: &str) -> (OutgoingMail, crate::mail::parse::ParsedMail) {
    let bob = mailbox(Some("Bob"), "bob@customer.test");
    compose_with(
        "en",
        None,
        &bob,
        "again",
        "text",
        Some((TicketId::new(1001), subject)),
    )
}

fn compose_in(
    language: &str,
    agent_back: Option<&str>,
    customer: &Mailbox,
    subject: &str,
    text: &str,
) -> (OutgoingMail, crate::mail::parse::ParsedMail) {
    compose_with(language, agent_back, customer, subject, text, None)
}

fn compose_with(
    language: &str,
    agent_back: Option<&str>,
    customer: &Mailbox,
    subject: &str,
    text: &str,
    previous: Option<(TicketId, &str)>,
) -> (OutgoingMail, crate::mail::parse::ParsedMail) {
    let templates = Templates::load(None).expect("builtin templates compile");
    let support = EmailAddress::parse("support@example.test").expect("valid");
    let agent = EmailAddress::parse("jason@example.test").expect("valid");
    let refs = vec!["<m0@customer.test>".to_string()];
    let out = acknowledgement(
        &templates,
        &AckInput {
            service_name: "Acme Support",
            service_address: &support,
            ticket: TicketId::new(1042),
            customer,
            cc: &[],
            agent_name: "Jason Miller",
            agent_address: &agent,
            subject,
            parent_message_id: Some("<m1@customer.test>"),
            parent_references: &refs,
            parent_in_reply_to: &[],
            text,
            quote_lines: 6,
            message_id: "<ack.1042.x7@example.test>".into(),
            agent_available: agent_back.is_none(),
            agent_back: agent_back.map(String::from),
            usually_within: None,
            previous,
            closure: None,
            date: SystemTime::UNIX_EPOCH,
            language,
        },
    )
    .expect("composes");
    let parsed = parse_bytes(&out.raw).expect("our own mail parses");
    (out, parsed)
}

#[test]
fn acknowledgement_is_a_personal_threaded_auto_reply() {
    let alice = mailbox(Some("Alice Doe"), "alice@customer.test");
    let (out, m) = compose(
        &alice,
        "Printer on fire",
        "My printer is on fire.\n\nPlease help!\n-- \nAlice",
    );
    assert_eq!(
        out.envelope_from, None,
        "null envelope sender (RFC 3834 §3.3)"
    );
    assert_eq!(out.message_id, "<ack.1042.x7@example.test>");
    assert_eq!(m.subject, "Re: Printer on fire [Acme Support #1042]");
    assert_eq!(m.in_reply_to, vec!["<m1@customer.test>"]);
    assert_eq!(
        m.references,
        vec!["<m0@customer.test>", "<m1@customer.test>"]
    );
    assert_eq!(m.automation.auto_submitted.as_deref(), Some("auto-replied"));
    assert_eq!(
        m.automation.loop_marker.as_deref(),
        Some("support@example.test")
    );
    let from = m.from.expect("from");
    assert_eq!(from.address.as_str(), "support@example.test");
    assert_eq!(from.name.as_deref(), Some("Acme Support"));
    assert!(m.text.contains("Hello Alice,"), "{}", m.text);
    assert!(m.text.contains("Jason Miller"), "{}", m.text);
    assert!(m.text.contains("> My printer is on fire."), "{}", m.text);
    assert!(m.text.contains("> Please help!"), "{}", m.text);
    assert!(
        !m.text.contains("> Alice"),
        "signature is not quoted: {}",
        m.text
    );
}

#[test]
fn the_promise_is_honest_when_the_agent_is_not_at_work() {
    let templates = Templates::load(None).expect("templates");
    let mut ctx = AckContext::sample();
    ctx.availability = AvailabilityVars {
        available: false,
        back_at: "Monday at 09:00 CET".into(),
        usually_within: String::new(),
    };
    let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
    assert!(
        text.contains("Jason is back Monday at 09:00 CET and will answer you then."),
        "{text}"
    );
    ctx.availability.back_at = String::new();
    let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
    assert!(text.contains("Jason is away at the moment"), "{text}");
    ctx.availability.available = true;
    let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
    assert!(text.contains("answer you personally."), "{text}");
    assert!(
        !text.contains("24") && !text.contains("48 hours"),
        "never a vague promise: {text}"
    );
}

#[test]
fn display_name_with_crlf_cannot_inject_headers() {
    let eve = mailbox(Some("Eve\r\nBcc: victim@x.test"), "eve@customer.test");
    let (out, m) = compose(&eve, "hi\r\nX-Evil: 1", "text");
    let raw = String::from_utf8_lossy(&out.raw);
    let (headers, body) = raw.split_once("\r\n\r\n").expect("header block");
    assert!(!headers.contains("\r\nBcc:"), "{headers}");
    assert!(!headers.contains("\r\nX-Evil:"), "{headers}");
    assert!(
        !body.contains("Eve\r\nBcc"),
        "greeting is cleaned too: {body}"
    );
    assert_eq!(
        m.from.expect("from").address.as_str(),
        "support@example.test"
    );
}

#[test]
fn html_part_escapes_customer_text() {
    let bob = mailbox(Some("Bob"), "bob@customer.test");
    let (out, _) = compose(&bob, "x", "<script>alert(1)</script>");
    let msg = mail_parser::MessageParser::default()
        .parse(&out.raw)
        .expect("parses");
    let html = msg.body_html(0).expect("html part");
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    let text = msg.body_text(0).expect("text part");
    assert!(
        text.contains("> <script>alert(1)</script>"),
        "text is not HTML-escaped: {text}"
    );
}

#[test]
fn the_notification_fingerprints_are_in_the_shipped_template() {
    let template = include_str!("../../templates/agent_notify.txt.hbs");
    for sentence in NOTIFICATION_SENTENCES {
        assert!(
            template.contains(sentence),
            "{sentence:?} is not in the template"
        );
    }
    assert!(template.starts_with("Ticket #{{ticket.number}} ·"));
}

#[test]
fn customer_name_is_never_empty() {
    assert_eq!(
        customer_name(&mailbox(None, "jane.doe@customer.test")),
        "Jane Doe"
    );
    assert_eq!(
        customer_name(&mailbox(None, "jd4711@customer.test")),
        "there"
    );
    assert_eq!(
        customer_name(&mailbox(Some("  "), "x@customer.test")),
        "there"
    );
    assert_eq!(
        customer_name(&mailbox(Some("Doe, Jane"), "x@customer.test")),
        "Jane Doe"
    );
}

#[test]
fn the_acknowledgement_greets_by_given_name_or_neutrally() {
    let (_, m) = compose(&mailbox(Some("Doe, Alice"), "alice@x.test"), "Help", "hi");
    assert_eq!(m.text.lines().next(), Some("Hello Alice,"), "{}", m.text);
    // A bare address, no sign-off: "Hello,", never "Hello there," or a handle.
    let (out, m) = compose(&mailbox(None, "jd4711@customer.test"), "", "hi");
    assert_eq!(m.text.lines().next(), Some("Hello,"), "{}", m.text);
    assert_eq!(m.subject, "Re: Your message [Acme Support #1042]");
    let html = mail_parser::MessageParser::default()
        .parse(&out.raw)
        .and_then(|msg| msg.body_html(0).map(|h| h.into_owned()))
        .expect("html part");
    assert!(html.contains("<p>Hello,</p>"), "{html}");
    let (_, m) = compose(&mailbox(None, "alice.doe@customer.test"), "", "hi");
    assert_eq!(m.text.lines().next(), Some("Hello,"), "{}", m.text);
    // No name in the From: the name the customer signed with.
    let (out, m) = compose(
        &mailbox(Some("info"), "info@customer.test"),
        "Invoice",
        "Where is my invoice?\n\nViele Grüße\nJörg Müller\n",
    );
    assert_eq!(m.text.lines().next(), Some("Hello Jörg,"), "{}", m.text);
    let html = mail_parser::MessageParser::default()
        .parse(&out.raw)
        .and_then(|msg| msg.body_html(0).map(|h| h.into_owned()))
        .expect("html part");
    assert!(html.contains("<p>Hello Jörg,</p>"), "{html}");
}

#[test]
fn templates_written_for_first_name_keep_working() {
    let templates = Templates::load(None).expect("templates");
    let mut ctx = AckContext::sample();
    assert_eq!(ctx.customer.greeting_name, "Alice");
    assert_eq!(ctx.customer.first_name, "Alice");
    assert_eq!(ctx.customer.name, "Alice Doe");
    ctx.customer.greeting_name = String::new();
    let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
    assert_eq!(text.lines().next(), Some("Hello,"), "{text}");
}

#[test]
fn subject_does_not_pile_up_or_echo_foreign_tags() {
    let s = |subject: &str| reply_subject(subject, "Acme Support", TicketId::new(7), "en");
    assert_eq!(s("RE: Re: hi"), "Re: hi [Acme Support #7]");
    assert_eq!(s("Re: hi [Acme Support #7]"), "Re: hi [Acme Support #7]");
    assert_eq!(
        s("Re: hi [acme support #1001] there"),
        "Re: hi there [Acme Support #7]"
    );
    assert_eq!(
        s("[Acme Support #x] stays"),
        "Re: [Acme Support #x] stays [Acme Support #7]"
    );
    assert_eq!(
        s("İ[Acme Support #é Ω"),
        "Re: İ[Acme Support #é Ω [Acme Support #7]"
    );
    assert_eq!(
        s("[Acme Support #1001]"),
        "Re: Your message [Acme Support #7]"
    );
}

#[test]
fn quote_skips_own_quotes_and_stops_at_attribution() {
    let q = quote_lines("first\n\n> old\nsecond\nOn Mon, Bob wrote:\n> x\nthird", 6);
    assert_eq!(q, vec!["first", "second"]);
    assert_eq!(quote_lines("a\nb\nc", 2), vec!["a", "b"]);
}

#[test]
fn strict_mode_rejects_unknown_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ack.txt.hbs"), "Dear {{customer.nmae}},").expect("write");
    let t = Templates::load(Some(dir.path())).expect("compiles");
    let err = t.self_test().expect_err("strict");
    assert!(err.to_string().contains("ack.txt.hbs"), "{err}");
}

#[test]
fn the_shipped_anchor_is_the_built_in_one() {
    // Answers to notifications sent before an override are cut at the built-in anchor, so
    // the shipped template must render exactly it.
    let t = Templates::load(None).expect("templates");
    let ticket = TicketId::new(1042);
    let ctx = AnchorContext::new(
        "Acme Support",
        &EmailAddress::parse("support@example.test").expect("valid"),
        ticket,
    );
    assert_eq!(
        t.anchor(&ctx).expect("renders"),
        notification_marker(ticket)
    );
}

#[test]
fn an_anchor_that_cannot_mark_the_quote_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (anchor, why) in [
        ("{{#if false}}x{{/if}}\n", "renders empty"),
        (
            "--- Reply above ---\n(ticket #{{ticket.number}})\n",
            "more than one line",
        ),
        (
            "--- Reply above this line ---\n",
            "does not name the ticket",
        ),
    ] {
        std::fs::write(dir.path().join("agent_anchor.txt.hbs"), anchor).expect("write");
        let t = Templates::load(Some(dir.path())).expect("compiles");
        let err = t.self_test().expect_err(anchor).to_string();
        assert!(err.contains("agent_anchor.txt.hbs"), "{err}");
        assert!(err.contains(why), "{anchor:?}: {err}");
        assert!(err.contains("{{ticket.number}}"), "the fix is named: {err}");
    }
}

#[test]
fn an_html_template_inserts_nothing_unescaped_but_the_relayed_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ack.html.hbs"),
        "<p>Hello {{{customer.name}}}</p>",
    )
    .expect("write");
    let err = Templates::load(Some(dir.path())).expect_err("unescaped");
    assert!(err.to_string().contains("ack.html.hbs"), "{err}");
    std::fs::remove_file(dir.path().join("ack.html.hbs")).expect("remove");
    for relay in [
        "<body>{{body}}</body>",
        "<body>{{{body_html}}}{{{body_html}}}</body>",
        "<body>{{{body_html}}} {{&customer.name}}</body>",
    ] {
        std::fs::write(dir.path().join("relay.html.hbs"), relay).expect("write");
        let err = Templates::load(Some(dir.path())).expect_err(relay);
        assert!(err.to_string().contains("relay.html.hbs"), "{err}");
    }
    std::fs::write(
        dir.path().join("relay.html.hbs"),
        "<p>For {{customer.name}}:</p>{{{body_html}}}",
    )
    .expect("write");
    let t = Templates::load(Some(dir.path())).expect("the one raw insertion");
    t.self_test().expect("renders");
}

#[test]
fn the_relay_html_escapes_every_variable_but_the_sanitized_answer() {
    let templates = Templates::load(None).expect("builtin templates compile");
    let mut vars = RelayContext::sample();
    vars.customer.name = "<b>Eve</b>".into();
    vars.body_html = "<p>Please <b>unplug</b> it.</p>".into();
    let html = templates.relay_html(&vars).expect("renders");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<p>Please <b>unplug</b> it.</p>"), "{html}");
    assert!(!html.contains("<b>Eve</b>"), "{html}");
}

fn relay_envelope<'a>(support: &'a EmailAddress, customer: &'a EmailAddress) -> Envelope<'a> {
    Envelope {
        from_name: "Jason Miller, Acme Support",
        service_address: support,
        to: (Some("Casey"), customer),
        cc: &[],
        reply_to: None,
        subject: "Re: Refund [Acme Support #1001]",
        message_id: "<reply.1001.x@example.test>".into(),
        in_reply_to: None,
        references: Vec::new(),
        auto_submitted: None,
        date: SystemTime::UNIX_EPOCH,
    }
}

fn part(
    name: &str,
    content_type: &str,
    content_id: Option<&str>,
) -> crate::mail::parse::Attachment<'static> {
    crate::mail::parse::Attachment {
        name: name.into(),
        content_type: content_type.into(),
        data: b"GIF89a"[..].into(),
        content_id: content_id.map(String::from),
        base64_in_raw: None,
    }
}

#[test]
fn an_html_relay_is_an_alternative_with_its_images_related_and_attachments_mixed() {
    let support = EmailAddress::parse("support@example.test").expect("valid");
    let customer = EmailAddress::parse("casey@customer.test").expect("valid");
    let env = relay_envelope(&support, &customer);
    let images = [part(
        "shot.png",
        "image/png",
        Some("image1.reply.1001.x@example.test"),
    )];
    let files = [part("invoice.pdf", "application/pdf", None)];
    let html = HtmlBody {
        html: "<p>See <img src=\"cid:image1.reply.1001.x@example.test\"></p>",
        images: &images,
    };
    let kind = crate::domain::MailKind::AgentReply;
    let out = build_mail_with_html(kind, &env, "See [image]".into(), Some(html), &files, None)
        .expect("builds");
    let raw = String::from_utf8_lossy(&out.raw).to_string();
    let order = [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "Content-ID: <image1.reply.1001.x@example.test>",
        "application/pdf",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|p| {
            raw.find(p)
                .unwrap_or_else(|| panic!("{p} missing in {raw}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{raw}");
    let parsed = mail_parser::MessageParser::default()
        .parse(&out.raw)
        .expect("parses");
    assert_eq!(parsed.body_text(0).as_deref(), Some("See [image]"));
    assert!(
        parsed
            .body_html(0)
            .is_some_and(|h| h.contains("cid:image1"))
    );
    // Without HTML, the mail is the text mail it always was.
    let text = build_mail(kind, &env, "Hi".into(), &[], None).expect("builds");
    let none = build_mail_with_html(kind, &env, "Hi".into(), None, &[], None).expect("builds");
    assert_eq!(text.raw, none.raw);
    assert!(!String::from_utf8_lossy(&text.raw).contains("multipart"));
}

#[test]
fn the_leak_guard_reads_an_html_parts_text_and_markup() {
    let ticket = TicketId::new(1001);
    let marker = notification_marker(ticket);
    let print = NotificationPrint::new(marker.clone(), ticket);
    assert!(print.html_lines("<p>Refunded.</p>").is_empty());
    assert_eq!(
        print.html_lines(
            "<p>Refunded.</p><blockquote><div>Ticket #1001 &middot; Casey</div></blockquote>"
        ),
        ["> Ticket #1001 · Casey"]
    );
    assert_eq!(
        print.html_lines(&format!("<p title=\"{marker}\">Refunded.</p>")),
        [marker.as_str()]
    );
}

/// A templates directory holding the canned answers `files` (name, text) under `replies/`.
fn with_replies(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(REPLIES_DIR)).expect("mkdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(REPLIES_DIR).join(name), text).expect("write");
    }
    dir
}

#[test]
fn the_shipped_canned_answers_load_render_and_preview() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let t = Templates::load(Some(&dir)).expect("the shipped templates compile");
    assert_eq!(t.reply_names(), ["password-reset", "refund-received"]);
    let rendered = t.self_test().expect("renders with sample data");
    assert!(rendered.contains(&"replies/password-reset.txt.hbs".to_string()));
    for name in t.reply_names() {
        let text = t
            .canned_reply("en", name, &ReplyContext::sample())
            .expect("renders");
        assert!(text.starts_with("Hello Alice,\n"), "{name}: {text:?}");
        assert!(text.contains("[Acme Support #1042]"), "{name}: {text}");
        assert!(
            !text.contains("{{") && !text.ends_with('\n'),
            "{name}: {text:?}"
        );
    }
    let listed = canned_replies(&dir).expect("lists");
    assert_eq!(
        listed[0].preview(),
        "Password reset: how to set a new password yourself; the link is valid for one hour."
    );
    assert!(
        Templates::load(None)
            .expect("built in")
            .reply_names()
            .is_empty()
    );
}

#[test]
fn a_canned_answer_renders_the_tickets_variables() {
    let dir = with_replies(&[
        (
            "thanks.txt.hbs",
            "\n\nDear {{customer.name}}, ticket #{{ticket.number}} is done.\n{{agent.name}} at {{service.name}} <{{service.address}}>\n\n",
        ),
        ("README", "not a canned answer"),
        ("thanks.txt.hbs~", "an editor's backup"),
    ]);
    let t = Templates::load(Some(dir.path())).expect("compiles");
    assert_eq!(t.reply_names(), ["thanks"]);
    let text = t
        .canned_reply("en", "thanks", &ReplyContext::sample())
        .expect("renders");
    assert_eq!(
        text,
        "Dear Alice Doe, ticket #1042 is done.\nJason Miller at Acme Support <support@example.com>"
    );
    // Text, not HTML: nothing is escaped.
    let dir = with_replies(&[("q.txt.hbs", "\"{{service.name}}\" & <you>")]);
    let t = Templates::load(Some(dir.path())).expect("compiles");
    let mut ctx = ReplyContext::sample();
    ctx.service.name = "R&D <Team>".into();
    assert_eq!(
        t.canned_reply("en", "q", &ctx).expect("renders"),
        "\"R&D <Team>\" & <you>"
    );
}

#[test]
fn a_broken_canned_answer_is_refused_naming_its_file() {
    // A misspelt variable: compiles, but the self-test (check-config, reload) refuses it.
    let dir = with_replies(&[("refund.txt.hbs", "Hello {{customer.nmae}}")]);
    let t = Templates::load(Some(dir.path())).expect("compiles");
    let err = t.self_test().expect_err("strict mode").to_string();
    assert!(err.contains("replies/refund.txt.hbs"), "{err}");

    let dir = with_replies(&[("refund.txt.hbs", "Hello {{#if x}}")]);
    let err = Templates::load(Some(dir.path()))
        .expect_err("syntax")
        .to_string();
    assert!(err.contains("replies/refund.txt.hbs"), "{err}");

    let dir = with_replies(&[("Refund Now.txt.hbs", "Hello")]);
    let err = Templates::load(Some(dir.path()))
        .expect_err("a name no agent can write")
        .to_string();
    assert!(
        err.contains("Refund Now.txt.hbs") && err.contains("rename"),
        "{err}"
    );
}

#[test]
fn reply_names_are_lowercase_letters_digits_dashes_and_underscores() {
    for good in ["refund", "password-reset", "refund_2", "7"] {
        assert!(is_reply_name(good), "{good}");
    }
    for bad in [
        "",
        "Refund",
        "refund now",
        "../ack",
        "a.b",
        "réponse",
        "x/y",
    ] {
        assert!(!is_reply_name(bad), "{bad}");
    }
}

#[test]
fn the_preview_is_the_first_line_or_its_comment() {
    let reply = |source: &str| CannedReply {
        name: "x".into(),
        path: "x.txt.hbs".into(),
        source: source.into(),
    };
    assert_eq!(
        reply("\n  Hello {{customer.name}},\nmore").preview(),
        "Hello {{customer.name}},"
    );
    assert_eq!(reply("{{!-- Refunds --~}}\nHello").preview(), "Refunds");
    assert_eq!(reply("{{! short }}\nHello").preview(), "short");
    assert_eq!(reply("").preview(), "");
}

#[test]
fn the_shipped_sets_acknowledge_in_the_customers_language() {
    let t = Templates::load(None).expect("builtin templates compile");
    assert_eq!(t.languages(), ["en", "de", "es", "fr"]);
    let names = t.self_test().expect("every set renders");
    for lang in ["de", "es", "fr"] {
        for file in LOCALIZED {
            assert!(names.contains(&format!("{lang}/{file}")), "{names:?}");
        }
    }
    let anna = mailbox(Some("Anna Schmidt"), "anna@customer.test");
    let (out, m) = compose_in(
        "de",
        Some("am Montag um 09:00 Uhr CET"),
        &anna,
        "",
        "Mein Drucker brennt.",
    );
    let text = m.text.clone();
    assert!(text.starts_with("Hallo Anna,"), "{text}");
    assert!(
        text.contains("Jason ist am Montag um 09:00 Uhr CET wieder für Sie da"),
        "{text}"
    );
    assert!(text.contains("> Mein Drucker brennt."), "{text}");
    assert!(!text.contains("thank you"), "{text}");
    assert_eq!(m.subject, "Re: Ihre Nachricht [Acme Support #1042]");
    let raw = String::from_utf8_lossy(&out.raw).to_string();
    assert!(
        raw.contains("lang=3D\"de\"") || raw.contains("lang=\"de\""),
        "{raw}"
    );
    for (lang, back) in [("fr", "sera de retour X"), ("es", "estará de vuelta X")] {
        let (_, m) = compose_in(lang, Some("X"), &anna, "s", "t");
        assert!(m.text.contains(back), "{lang}: {}", m.text);
    }
    // A language without a set is written in English.
    let (_, m) = compose_in("pt", None, &anna, "s", "t");
    assert!(m.text.contains("thank you for writing"), "{}", m.text);
}

#[test]
fn a_language_set_in_templates_dir_must_be_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("it")).expect("mkdir");
    std::fs::write(dir.path().join("it/ack.txt.hbs"), "Buongiorno\n").expect("write");
    let err = Templates::load(Some(dir.path()))
        .expect_err("it/ lacks ack.html.hbs")
        .to_string();
    assert!(
        err.contains("service.templates_dir")
            && err.contains("the it templates lack ack.html.hbs")
            && err.contains("fix: add ")
            && err.contains("it/ack.html.hbs"),
        "{err}"
    );
    std::fs::write(dir.path().join("it/ack.html.hbs"), "<p>Buongiorno</p>\n").expect("write");
    let err = Templates::load(Some(dir.path()))
        .expect_err("it/ lacks handover.txt.hbs")
        .to_string();
    assert!(
        err.contains("the it templates lack handover.txt.hbs"),
        "{err}"
    );
    for file in ["handover.txt.hbs", "closing.txt.hbs", "reminder.txt.hbs"] {
        std::fs::write(
            dir.path().join("it").join(file),
            "Buongiorno, {{agent.name}}.\n",
        )
        .expect("write");
    }
    let t = Templates::load(Some(dir.path())).expect("complete");
    assert!(t.has_language("it"));
    t.self_test().expect("renders");
    // An HTML template of a set is held to the escaping rule like any other.
    std::fs::write(
        dir.path().join("it/ack.html.hbs"),
        "<p>{{{customer.name}}}</p>\n",
    )
    .expect("write");
    let err = Templates::load(Some(dir.path())).expect_err("unescaped");
    assert!(err.to_string().contains("it/ack.html.hbs"), "{err}");
}

#[test]
fn a_built_in_set_takes_single_overrides_and_refuses_agent_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("de")).expect("mkdir");
    std::fs::write(
        dir.path().join("de/ack.txt.hbs"),
        "Moin {{customer.name}}, Ticket #{{ticket.number}}.\n",
    )
    .expect("write");
    let t = Templates::load(Some(dir.path())).expect("the built-in HTML fills in");
    let ctx = AckContext::sample_in("de");
    assert_eq!(
        t.render_in("de", "ack.txt.hbs", &ctx).expect("renders"),
        "Moin Alice Doe, Ticket #1042.\n"
    );
    assert!(
        t.render_in("de", "ack.html.hbs", &ctx)
            .expect("renders")
            .contains("am Montag um 09:00 Uhr CET wieder für Sie da")
    );
    std::fs::write(dir.path().join("de/agent_notify.txt.hbs"), "x").expect("write");
    let err = Templates::load(Some(dir.path()))
        .expect_err("agent-facing")
        .to_string();
    assert!(
        err.contains("agent_notify.txt.hbs has no language sets"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("en")).expect("mkdir");
    let err = Templates::load(Some(dir.path()))
        .expect_err("en/")
        .to_string();
    assert!(err.contains("top of templates_dir"), "{err}");
}

/// The acknowledgement README.md shows for `lang`: the shipped templates, the agent away
/// until Monday 09:00 in Berlin, asked on a Friday afternoon by a customer in Berlin.
fn readme_acknowledgement(lang: &str, customer: &Mailbox, subject: &str, text: &str) -> String {
    let back = jiff::civil::date(2026, 12, 7)
        .at(9, 0, 0, 0)
        .in_tz("Europe/Berlin")
        .expect("zone");
    let now: jiff::Timestamp = "2026-12-04T16:30:00Z".parse().expect("timestamp");
    let when = crate::lang::describe_return(&back, now, lang, Some(3600));
    let (out, m) = compose_in(lang, Some(&when), customer, subject, text);
    let raw = String::from_utf8_lossy(&out.raw).to_string();
    let to = raw
        .lines()
        .find(|l| l.starts_with("To: "))
        .expect("To")
        .to_string();
    format!(
        "{to}\nSubject: {}\n\n{}",
        m.subject,
        m.text.replace("\r\n", "\n").trim_end()
    )
}

#[test]
fn the_readme_shows_the_shipped_acknowledgements_as_rendered() {
    let readme = include_str!("../../README.md");
    let en = readme_acknowledgement(
        "en",
        &mailbox(Some("Alice Doe"), "alice@customer.example"),
        "Printer on fire",
        "My printer is on fire. Can you help?",
    );
    let de = readme_acknowledgement(
        "de",
        &mailbox(Some("Anna Schmidt"), "anna@kunde.example"),
        "Drucker druckt nicht",
        "Mein Drucker druckt seit gestern nur noch leere Seiten. Was kann ich tun?",
    );
    let blocks = [en, de].map(|ack| format!("```text\n{ack}\n```"));
    let missing: Vec<&String> = blocks.iter().filter(|b| !readme.contains(*b)).collect();
    assert!(
        missing.is_empty(),
        "README.md, section \"Languages\", should show:\n{}",
        blocks.join("\n\n")
    );
}

#[test]
fn a_canned_answer_goes_out_in_the_tickets_language_when_translated() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("replies")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("de/replies")).expect("mkdir");
    std::fs::write(
        dir.path().join("replies/thanks.txt.hbs"),
        "Thank you, {{customer.greeting_name}}.\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("de/replies/thanks.txt.hbs"),
        "Vielen Dank, {{customer.greeting_name}}.\n",
    )
    .expect("write");
    let t = Templates::load(Some(dir.path())).expect("compiles");
    let names = t.self_test().expect("renders");
    assert!(
        names.contains(&"de/replies/thanks.txt.hbs".to_string()),
        "{names:?}"
    );
    assert_eq!(t.reply_names(), ["thanks"]);
    let ctx = ReplyContext::sample();
    assert_eq!(
        t.canned_reply("de", "thanks", &ctx).expect("de"),
        "Vielen Dank, Alice."
    );
    // No French translation: the English one.
    assert_eq!(
        t.canned_reply("fr", "thanks", &ctx).expect("fr"),
        "Thank you, Alice."
    );
    // A translation of nothing an agent can name is refused.
    std::fs::write(dir.path().join("de/replies/other.txt.hbs"), "Anders.\n").expect("write");
    let err = Templates::load(Some(dir.path()))
        .expect_err("no original")
        .to_string();
    assert!(err.contains("other has no English original"), "{err}");
}

#[test]
fn a_wait_is_described_rounded_up_so_the_promise_holds() {
    let d = |s: u64| describe_wait(std::time::Duration::from_secs(s));
    assert_eq!(d(0), "5 minutes");
    assert_eq!(d(61), "5 minutes");
    assert_eq!(d(301), "10 minutes");
    assert_eq!(d(50 * 60), "50 minutes");
    assert_eq!(d(50 * 60 + 1), "1 hour");
    assert_eq!(d(3600), "1 hour");
    assert_eq!(d(3601), "2 hours");
    assert_eq!(d(30 * 3600), "30 hours");
}

#[test]
fn the_shipped_acknowledgement_words_what_it_remembers_and_promises() {
    let templates = Templates::load(None).expect("templates");
    let ctx = AckContext::sample();
    for name in ["ack.txt.hbs", "ack.html.hbs"] {
        let text = templates.render(name, &ctx).expect("renders");
        assert!(text.contains("writing to Acme Support again."), "{text}");
        assert!(
            text.contains(
                "who helped you last time with \u{201c}Printer offline\u{201d} (ticket #1017)"
            ),
            "{text}"
        );
        assert!(
            text.contains("Jason usually answers within 2 hours of working time."),
            "{text}"
        );
        assert!(
            text.contains(
                "We are closed for Christmas and open again on Monday 28 December. Your request"
            ),
            "{text}"
        );
    }
    // A long subject is shortened at a word; an empty one is not quoted.
    let long = "word ".repeat(40);
    let mut input_ctx = AckContext::sample();
    input_ctx.previous.subject = String::new();
    let text = templates
        .render("ack.txt.hbs", &input_ctx)
        .expect("renders");
    assert!(
        text.contains("who helped you last time (ticket #1017)"),
        "{text}"
    );
    let (out, _) = compose_previous(&long);
    let body = String::from_utf8_lossy(&out.raw).into_owned();
    let parsed = parse_bytes(&out.raw).expect("parses");
    assert!(
        parsed
            .text
            .contains("word word\u{2026}\u{201d} (ticket #1001)"),
        "{body}"
    );
    // Without them, the sentences are not there at all.
    let mut ctx = AckContext::sample();
    ctx.previous = PreviousVars::default();
    ctx.availability.usually_within = String::new();
    ctx.closure = ClosureVars::default();
    let text = templates.render("ack.txt.hbs", &ctx).expect("renders");
    assert!(
        !text.contains("again") && !text.contains("usually"),
        "{text}"
    );
    assert!(
        text.contains("writing to Acme Support. Your request"),
        "{text}"
    );
}
