//! Parsing real and hostile mail: addresses, headers, text, bounces, forwards.
use super::*;

#[test]
fn plain_mail_yields_sender_subject_and_threading() {
    let raw = b"Return-Path: <alice@customer.test>\r\n\
From: \"Alice Doe\" <Alice@Customer.test>\r\n\
To: support@example.test\r\n\
Delivered-To: support+1042.abc@example.test\r\n\
Subject: Printer on fire\r\n\
Message-ID: <m1@customer.test>\r\n\
In-Reply-To: <ack.1001@example.test>\r\n\
References: <m0@customer.test> <ack.1001@example.test>\r\n\
\r\n\
Hello,\r\nmy printer is on fire.\r\n";
    let m = parse_bytes(raw).expect("parses");
    let from = m.from.expect("from");
    assert_eq!(from.name.as_deref(), Some("Alice Doe"));
    assert_eq!(from.address.as_str(), "alice@customer.test");
    assert_eq!(m.subject, "Printer on fire");
    assert_eq!(m.message_id.as_deref(), Some("<m1@customer.test>"));
    assert_eq!(m.in_reply_to, vec!["<ack.1001@example.test>"]);
    assert_eq!(
        m.references,
        vec!["<m0@customer.test>", "<ack.1001@example.test>"]
    );
    assert_eq!(
        m.return_path,
        ReturnPath::Address("alice@customer.test".into())
    );
    assert!(
        m.recipients
            .iter()
            .any(|r| r.as_str() == "support+1042.abc@example.test")
    );
    assert!(m.text.starts_with("Hello,"));
}

#[test]
fn encoded_crlf_in_display_name_is_neutralised() {
    let raw = b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40x.test?= <eve@customer.test>\r\n\
Subject: =?utf-8?q?hi=0D=0AX-Evil=3A_1?=\r\n\r\nbody\r\n";
    let m = parse_bytes(raw).expect("parses");
    let name = m.from.expect("from").name.expect("name");
    assert!(!name.contains(['\r', '\n']), "{name:?}");
    assert!(!m.subject.contains(['\r', '\n']), "{:?}", m.subject);
}

#[test]
fn html_only_mail_is_converted_to_text() {
    let raw = b"From: bob@customer.test\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Hello <b>team</b></p><script>alert(1)</script></body></html>\r\n";
    let m = parse_bytes(raw).expect("parses");
    assert!(m.text.contains("Hello"), "{:?}", m.text);
    assert!(m.text.contains("team"), "{:?}", m.text);
    assert!(!m.text.contains("<b>"), "{:?}", m.text);
}

#[test]
fn latin1_body_and_subject_are_decoded() {
    let raw = b"From: =?iso-8859-1?q?Ren=E9_M=FCller?= <rene@customer.test>\r\n\
Subject: =?iso-8859-1?q?Caf=E9?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n";
    let m = parse_bytes(raw).expect("parses");
    assert_eq!(m.from.expect("from").name.as_deref(), Some("René Müller"));
    assert_eq!(m.subject, "Café");
    assert!(m.text.starts_with("Grüße"), "{:?}", m.text);
}

#[test]
fn broken_from_is_kept_raw_not_trusted() {
    let m = parse_bytes(b"From: <<@@@\r\nSubject: x\r\n\r\nbody").expect("parses");
    assert!(m.from.is_none());
    assert!(m.from_raw.is_some());
}

#[test]
fn null_return_path_and_report_are_seen() {
    let raw = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@example.test\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n";
    let m = parse_bytes(raw).expect("parses");
    assert_eq!(m.return_path, ReturnPath::Null);
    assert_eq!(m.automation.report_type.as_deref(), Some("delivery-status"));
}

#[test]
fn non_ascii_header_names_do_not_panic() {
    let m =
        parse_bytes("Liéé-X: y\r\nFrom: a@customer.test\r\n\r\nbody".as_bytes()).expect("parses");
    assert!(m.automation.list_header.is_none());
}

#[test]
fn forwards_reveal_the_original_sender() {
    let gmail = b"From: Jason <jason@example.test>\r\nSubject: Fwd: Broken\r\n\r\n\
Please handle.\r\n\r\n---------- Forwarded message ---------\r\nFrom: *Alice Doe* <alice@customer.test>\r\n\
Date: Wed, 25 Nov 2026 at 10:00\r\nSubject: Broken\r\nTo: Jason <jason@example.test>\r\n\r\nMy printer broke.\r\n";
    let f = forwarded(&Mime::new(gmail)).expect("forward");
    assert_eq!(f.from.address.as_str(), "alice@customer.test");
    assert_eq!(f.from.name.as_deref(), Some("Alice Doe"));
    assert_eq!(f.subject, "Broken");
    assert_eq!(f.text, "My printer broke.");

    let apple =
        b"From: jason@example.test\r\nSubject: Fwd: x\r\n\r\nBegin forwarded message:\r\n\r\n\
From: Bob <bob@customer.test>\r\nSubject: Refund\r\n\r\nWhere is it?\r\n";
    assert_eq!(
        forwarded(&Mime::new(apple))
            .expect("forward")
            .from
            .address
            .as_str(),
        "bob@customer.test"
    );

    let attached = b"From: jason@example.test\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
From: Carol <carol@customer.test>\r\nSubject: Help\r\nMessage-ID: <c1@customer.test>\r\n\r\nHelp me.\r\n--b--\r\n";
    let f = forwarded(&Mime::new(attached)).expect("forward");
    assert_eq!(f.from.address.as_str(), "carol@customer.test");
    assert_eq!(f.message_id.as_deref(), Some("<c1@customer.test>"));

    assert!(forwarded(&Mime::new(b"From: a@customer.test\r\n\r\nJust a mail.\r\n")).is_none());
}

#[test]
fn html_only_replies_lose_their_quote() {
    let raw = b"From: jason@example.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<div>Please restart it.</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Wed, Acme wrote:</div>\
<blockquote>Ticket #1001 \xc2\xb7 Alice</blockquote></div>\r\n";
    let text = reply_text(&Mime::new(raw)).expect("text");
    assert!(text.contains("Please restart it."), "{text}");
    assert!(
        !text.contains("Ticket #1001") && !text.contains("wrote"),
        "{text}"
    );
}

#[test]
fn relayed_attachments_leave_out_messages_tnef_and_inline_images() {
    let raw = b"From: jason@example.test\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n%PDF\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: support@example.test\r\nReply-To: support+1001.abc@example.test\r\n\r\nold\r\n\
--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment\r\n\r\nxx\r\n\
--b\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@sig>\r\nContent-Disposition: inline\r\n\r\npng\r\n--b--\r\n";
    let names: Vec<String> = relay_attachments(&Mime::new(raw))
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, vec!["invoice.pdf"]);
}

#[test]
fn a_dsn_names_the_bounced_mail_and_the_reason() {
    let raw =
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mail.example.test (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.test\r\n\r\n\
Final-Recipient: rfc822; gone@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <gone@customer.test>: Recipient address rejected\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Acme Support <support@example.test>\r\n\
Message-ID: <reply.1001.abc@example.test>\r\nSubject: Re: Help\r\n\r\n--B--\r\n";
    let b = bounce(&Mime::new(raw)).expect("bounce");
    assert_eq!(b.message_id, "<reply.1001.abc@example.test>");
    assert_eq!(
        b.diagnostic,
        "550 5.1.1 <gone@customer.test>: Recipient address rejected"
    );
    assert!(bounce(&Mime::new(b"From: a@customer.test\r\n\r\nhi")).is_none());
}

#[test]
fn a_parser_panic_is_an_unparseable_mail_not_a_crash() {
    // Found by the fuzzer (tests/corpus/hostile/mime-parser-assertion.eml): an empty
    // message/rfc822 inside a message/rfc822 part trips a debug_assert! in mail-parser.
    let raw = include_bytes!("../../../tests/corpus/hostile/mime-parser-assertion.eml");
    let parsed = parse_bytes(raw);
    if cfg!(debug_assertions) {
        assert_eq!(parsed, Err(ParseError::ParserFailed));
    } else {
        assert!(parsed.is_ok(), "{parsed:?}");
    }
    // The helpers that parse stored mail outside the pipeline fail soft as well.
    let mime = Mime::new(raw);
    let _ = (
        attachments(&mime),
        relay_attachments(&mime),
        reply_text(&mime),
    );
    let _ = (bounce(&mime), forwarded(&mime), attached_messages(&mime));
}

#[test]
fn bytes_without_headers_are_an_error() {
    assert_eq!(parse_bytes(b""), Err(ParseError::NoHeaders));
    assert_eq!(parse_bytes(b"\n   \r\n\t\n"), Err(ParseError::NoHeaders));
}

/// Issue 17: a header that follows blank lines, or a line of spaces, is still the header.
/// Exchange reports saved from Gmail (PHP-Bounce-Handler's `eml/exchange1.eml`) begin with
/// `\n`, 100 spaces, `\n`; mail-parser took the first blank line for the end of an empty
/// header and the mail was quarantined as having none.
#[test]
fn a_header_after_blank_lines_is_still_the_header() {
    let spaces = " ".repeat(100);
    for prefix in [
        "\n",
        "\r\n",
        "\n\n",
        &format!("\n{spaces}\n"),
        "\r\n \t \r\n",
    ] {
        let raw = format!(
            "{prefix}Return-Path: <>\r\nFrom: postmaster@example.net\r\nSubject: Delivery Status Notification (Failure)\r\n\r\nbody\r\n"
        );
        let m = parse_bytes(raw.as_bytes()).unwrap_or_else(|e| panic!("{prefix:?}: {e}"));
        assert_eq!(
            m.from.map(|f| f.address.to_string()).as_deref(),
            Some("postmaster@example.net"),
            "{prefix:?}"
        );
        assert_eq!(m.subject, "Delivery Status Notification (Failure)");
        assert_eq!(m.return_path, ReturnPath::Null);
        assert_eq!(m.text.trim(), "body");
    }
    // A line with text is where the header starts, whatever it holds.
    let m = parse_bytes(b"\nnot a header\r\nFrom: a@customer.test\r\n\r\nbody").expect("parses");
    assert!(m.text.contains("body"));
}

#[test]
fn attachments_are_listed() {
    let raw = b"From: a@customer.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
    let m = parse_bytes(raw).expect("parses");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].name.as_deref(), Some("invoice.pdf"));
    assert_eq!(m.attachments[0].content_type, "application/pdf");
    assert_eq!(m.text.trim(), "see attached");
}

#[test]
fn content_language_and_date_offset_are_read() {
    let mail = |headers: &str| {
        parse_bytes(format!("From: a@customer.test\r\n{headers}Subject: s\r\n\r\nbody").as_bytes())
            .expect("parses")
    };
    let m = mail("Content-Language: de-DE\r\nDate: Fri, 4 Dec 2026 10:00:00 +0100\r\n");
    assert_eq!(m.content_language.as_deref(), Some("de-DE"));
    assert_eq!(m.date_offset, Some(3600));
    assert_eq!(
        mail("Date: Fri, 4 Dec 2026 10:00:00 -0530\r\n").date_offset,
        Some(-(5 * 3600 + 1800))
    );
    assert_eq!(
        mail("Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n").date_offset,
        Some(0)
    );
    // -0000: the sender's zone is unknown (RFC 5322 §3.3).
    assert_eq!(
        mail("Date: Fri, 4 Dec 2026 10:00:00 -0000\r\n").date_offset,
        None
    );
    let m = mail("");
    assert_eq!((m.content_language, m.date_offset), (None, None));
    assert_eq!(mail("Date: yesterday\r\n").date_offset, None);
}

/// Only base64 text every decoder reads alike counts as clean (issue 12: it is copied into
/// the mail we send instead of being encoded again), and its decoded length is exact.
#[test]
fn clean_base64_is_the_alphabet_white_space_and_final_padding() {
    use super::clean_base64_len;
    assert_eq!(clean_base64_len(b"TWFu"), Some(3));
    assert_eq!(clean_base64_len(b"TW\r\nFu\r\nTQ==\r\n"), Some(4));
    assert_eq!(clean_base64_len(b"TWE="), Some(2));
    assert_eq!(clean_base64_len(b""), Some(0));
    assert_eq!(clean_base64_len(b"TWF"), None, "not whole groups");
    assert_eq!(clean_base64_len(b"TQ==TWFu"), None, "padding inside");
    assert_eq!(clean_base64_len(b"T==="), None, "three pads");
    assert_eq!(clean_base64_len(b"TW*u"), None, "outside the alphabet");
    assert_eq!(
        clean_base64_len(b"TW-_"),
        None,
        "the URL alphabet is not MIME's"
    );
}
