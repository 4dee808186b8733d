//! The decision whether a mail may be answered automatically (RFC 3834, RFC 5230 §4.5,
//! Microsoft's X-Auto-Response-Suppress). Pure: a [`ParsedMail`] and who we are in, a
//! [`Classified`] out. Every "no" carries a named [`SuppressReason`] that is stored and logged.

use serde::{Deserialize, Serialize};

use crate::domain::{EmailAddress, SuppressReason};
use crate::mail::parse::{ParsedMail, ReturnPath};
use crate::mail::{auth_results, envelope, signals};

/// The outcome of classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classified {
    /// A person wrote: they may get an acknowledgement.
    Acknowledge,
    /// Automated or our own mail: record it, never answer it.
    Suppress(SuppressReason),
}

/// Who we are, for recognising our own mail.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The support address and any other address we send from or log in as.
    pub own_addresses: Vec<EmailAddress>,
}

/// Whether our own MTA (`authserv_id`, RFC 8601) vouched for mail from `domain`: one of the
/// Authentication-Results fields that carry exactly that authserv-id (all of them: OpenDKIM
/// and OpenDMARC each add their own) shows, for a domain in `domain`'s organizational
/// domain, `dkim=pass` with that signing domain (`header.d`, or `header.i` when no
/// `header.d` is given), `spf=pass` with that envelope domain (`smtp.mailfrom`), or
/// `dmarc=pass` with that `header.from`. Fields with any other id, or with none (Microsoft
/// 365 writes none), are ignored: anyone can write them. That the MTA strips incoming fields
/// with its own id (RFC 8601 §5) is its part of the bargain.
pub fn authenticated(mail: &ParsedMail, authserv_id: &str, domain: &str) -> bool {
    let want = organizational_domain(domain);
    let aligned = |value: Option<&str>| {
        value
            .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>'))
            .map(|v| v.rsplit('@').next().unwrap_or_default())
            .is_some_and(|d| !d.is_empty() && organizational_domain(d) == want)
    };
    mail.auth_results
        .iter()
        .map(|value| auth_results::parse(value))
        .filter(|field| field.added_by(authserv_id))
        .flat_map(|field| field.results)
        .any(|r| {
            r.result == "pass"
                && match r.method.as_str() {
                    "dkim" => aligned(
                        r.property("header", "d")
                            .or_else(|| r.property("header", "i")),
                    ),
                    "spf" => aligned(r.property("smtp", "mailfrom")),
                    "dmarc" => aligned(r.property("header", "from")),
                    _ => false,
                }
        })
}

/// The token of a structured header value before any `;` parameters, lowercased, with
/// RFC 5322 comments (`no (sent by a person)`) removed.
fn token(value: &str) -> String {
    let first = value.split(';').next().unwrap_or_default();
    let mut out = String::new();
    let mut depth = 0usize;
    for c in first.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_ascii_lowercase()
}

/// The organizational domain (RFC 7489 §3.2) of `domain`: its registrable domain by the
/// public suffix list (ICANN and private sections, so `alice.me.uk`, `bob.github.io` and
/// `x.s3.amazonaws.com` are each their own), in one form for comparison: lowercase A-labels
/// (UTS 46), so `bücher.example` and `xn--bcher-kva.example` are the same. A name that is
/// itself a public suffix, or that IDNA refuses, stands for itself (lowercased).
pub fn organizational_domain(domain: &str) -> String {
    let name = domain.trim().trim_end_matches('.');
    let ascii = idna::domain_to_ascii(name).unwrap_or_else(|_| name.to_ascii_lowercase());
    psl::domain_str(&ascii).unwrap_or(&ascii).to_string()
}

/// The envelope sender as the address it stands for (SRS and BATV undone), if the mail has
/// a valid one.
fn envelope_sender(mail: &ParsedMail) -> Option<EmailAddress> {
    match &mail.return_path {
        ReturnPath::Address(rp) => EmailAddress::parse(rp).map(|a| envelope::original(&a)),
        _ => None,
    }
}

/// Whether the envelope sender (Return-Path, with a forwarder's SRS or a relay's BATV
/// rewriting undone) backs the From address: the same organizational domain, or no
/// Return-Path to compare with.
pub fn sender_aligned(mail: &ParsedMail) -> bool {
    let (Some(from), ReturnPath::Address(_)) = (mail.from.as_ref(), &mail.return_path) else {
        return true;
    };
    let Some(rp) = envelope_sender(mail) else {
        return false;
    };
    organizational_domain(from.address.domain()) == organizational_domain(rp.domain())
}

/// Classifies one mail. Checks run from the most certain signal to the least, so the stored
/// reason is the strongest one that applies.
pub fn classify(mail: &ParsedMail, me: &Identity) -> Classified {
    use SuppressReason::*;
    let a = &mail.automation;
    let reason = if a.loop_marker.is_some() {
        Some(LoopMarker)
    } else if mail.from.as_ref().is_some_and(|f| {
        me.own_addresses
            .iter()
            .any(|own| own == &f.address || own == &f.address.without_detail())
    }) {
        Some(OwnAddress)
    } else if a.report_type.is_some() {
        Some(DeliveryReport)
    } else if mail.return_path == ReturnPath::Null {
        Some(NullReturnPath)
    } else if a
        .auto_submitted
        .as_deref()
        .is_some_and(|v| token(v) != "no")
    {
        Some(AutoSubmitted)
    } else if !a.autoreply_markers.is_empty() {
        Some(AutoReplyHeader)
    } else if a.auto_response_suppress.as_deref().is_some_and(|v| {
        v.split([',', ' ', ';'])
            .map(|t| t.trim().to_ascii_lowercase())
            .any(|t| t == "all" || t == "autoreply" || t == "oof")
    }) {
        Some(AutoResponseSuppress)
    } else if a.list_header.is_some() {
        Some(MailingList)
    } else if a
        .precedence
        .as_deref()
        .is_some_and(|v| matches!(token(v).as_str(), "bulk" | "list" | "junk" | "auto_reply"))
    {
        Some(BulkPrecedence)
    } else {
        let sender = mail.from.as_ref().map(|f| &f.address);
        let return_local = envelope_sender(mail).map(|a| a.local_part().to_string());
        let locals = sender
            .map(|s| s.local_part().to_string())
            .into_iter()
            .chain(return_local);
        let mut found = None;
        for local in locals {
            if signals::system_local_part(&local) {
                found = Some(SystemSender);
                break;
            }
            if signals::noreply_local_part(&local) {
                found = Some(NoReplySender);
                break;
            }
        }
        // The weakest signal last: a subject is free text that a person may write.
        found.or_else(|| signals::auto_reply_subject(&mail.subject).then_some(AutoReplySubject))
    };
    match reason {
        Some(r) => Classified::Suppress(r),
        None => Classified::Acknowledge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::parse_bytes;

    fn me() -> Identity {
        Identity {
            own_addresses: vec![EmailAddress::parse("support@example.test").expect("valid")],
        }
    }

    fn class(headers: &str) -> Classified {
        let raw = format!("{headers}\r\nSubject: hello\r\n\r\nbody\r\n");
        classify(&parse_bytes(raw.as_bytes()).expect("parses"), &me())
    }

    /// One row per RFC rule: headers of the incoming mail → expected outcome.
    #[test]
    fn classification_table() {
        use Classified::Acknowledge as Ack;
        use SuppressReason::*;
        let s = Classified::Suppress;
        let cases: &[(&str, Classified)] = &[
            ("From: Alice <alice@customer.test>", Ack),
            ("From: alice@customer.test\r\nAuto-Submitted: no", Ack),
            (
                "From: alice@customer.test\r\nAuto-Submitted: no (a person wrote this)",
                Ack,
            ),
            (
                "From: alice@customer.test\r\nReturn-Path: <alice@customer.test>",
                Ack,
            ),
            ("From: alice@customer.test\r\nPrecedence: first-class", Ack),
            (
                "From: alice@customer.test\r\nX-Auto-Response-Suppress: DR, RN",
                Ack,
            ),
            (
                "From: alice@customer.test\r\nAuto-Submitted: auto-replied",
                s(AutoSubmitted),
            ),
            (
                "From: alice@customer.test\r\nAuto-Submitted: Auto-Generated; owner-email=x@y",
                s(AutoSubmitted),
            ),
            (
                "From: alice@customer.test\r\nAuto-Submitted: auto-notified",
                s(AutoSubmitted),
            ),
            (
                "From: alice@customer.test\r\nReturn-Path: <>",
                s(NullReturnPath),
            ),
            (
                "From: alice@customer.test\r\nX-Autoreply: yes",
                s(AutoReplyHeader),
            ),
            (
                "From: alice@customer.test\r\nX-Autorespond: on vacation",
                s(AutoReplyHeader),
            ),
            (
                "From: alice@customer.test\r\nX-MS-Exchange-Inbox-Rules-Loop: alice@customer.test",
                s(AutoReplyHeader),
            ),
            (
                "From: alice@customer.test\r\nX-Auto-Response-Suppress: All",
                s(AutoResponseSuppress),
            ),
            (
                "From: alice@customer.test\r\nX-Auto-Response-Suppress: OOF",
                s(AutoResponseSuppress),
            ),
            (
                "From: alice@customer.test\r\nList-Id: <users.lists.test>",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nList-Unsubscribe: <mailto:u@lists.test>",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nMailing-List: contact users-help@lists.test; run by ezmlm",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nX-Mailing-List: <users@lists.test> archive/latest/7",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nX-Google-Group-Id: 859317214201",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nX-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nDelivered-To: mailing list users@lists.test",
                s(MailingList),
            ),
            (
                "From: alice@customer.test\r\nDelivered-To: support@example.test",
                Ack,
            ),
            (
                "From: alice@customer.test\r\nX-Apple-Action: VACATION",
                s(AutoReplyHeader),
            ),
            ("From: alice@customer.test\r\nX-Apple-Action: FORWARD", Ack),
            (
                "From: alice@customer.test\r\nX-Bluebottle-Request: <1234>",
                s(AutoReplyHeader),
            ),
            (
                "From: alice@customer.test\r\nPrecedence: bulk",
                s(BulkPrecedence),
            ),
            (
                "From: alice@customer.test\r\nPrecedence: JUNK",
                s(BulkPrecedence),
            ),
            (
                "From: alice@customer.test\r\nPrecedence: list",
                s(BulkPrecedence),
            ),
            ("From: noreply@shop.test", s(NoReplySender)),
            ("From: No-Reply <no-reply@shop.test>", s(NoReplySender)),
            ("From: do_not_reply@bank.test", s(NoReplySender)),
            (
                "From: Google Alerts <newsalerts-noreply@google.test>",
                s(NoReplySender),
            ),
            ("From: DoNotReply@bank.test", s(NoReplySender)),
            ("From: arno.reply@customer.test", Ack),
            ("From: post_master@vtext.test", s(SystemSender)),
            ("From: mailer_daemon@mx.test", s(SystemSender)),
            ("From: Nobody <nobody@registry.test>", s(SystemSender)),
            ("From: owner@shop.test", Ack),
            (
                "From: alice@customer.test\r\nReturn-Path: <bounce-rcringely-0000000@mailcontrol.test>",
                s(SystemSender),
            ),
            ("From: MAILER-DAEMON@mx.test", s(SystemSender)),
            ("From: postmaster@customer.test", s(SystemSender)),
            ("From: owner-users@lists.test", s(SystemSender)),
            ("From: users-request@lists.test", s(SystemSender)),
            (
                "From: alice@customer.test\r\nReturn-Path: <bounces+123@esp.test>",
                s(SystemSender),
            ),
            ("From: support@example.test", s(OwnAddress)),
            ("From: Support+1042.abc@Example.test", s(OwnAddress)),
            (
                "From: alice@customer.test\r\nX-Frontdesk-Loop: support@example.test",
                s(LoopMarker),
            ),
            (
                "From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
                s(DeliveryReport),
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(&class(headers), expected, "headers: {headers:?}");
        }
    }

    /// Issue 17: the subject is the weakest signal, checked last, and only where an
    /// auto-reply tool puts it. A person writing about being out of office is answered.
    #[test]
    fn subjects_are_the_weakest_signal() {
        let subject = |from: &str, subject: &str| {
            let raw = format!("From: {from}\r\nSubject: {subject}\r\n\r\nbody\r\n");
            classify(&parse_bytes(raw.as_bytes()).expect("parses"), &me())
        };
        let weak = Classified::Suppress(SuppressReason::AutoReplySubject);
        for s in [
            "Automatic reply: Order 4417",
            "Auto reply: Nyaan",
            "AUTO: Smith, John is out of the office. (returning 05/01/2010)",
            "Réponse automatique : Commande 4417",
            "自动回复：订单",
            "complaint about message from 192.0.2.222",
        ] {
            assert_eq!(subject("alice@customer.test", s), weak, "{s}");
        }
        for s in [
            "I was out of office last week, where is my order?",
            "Out of office hours support",
            "Auto: Termin für die Reparatur",
        ] {
            assert_eq!(
                subject("alice@customer.test", s),
                Classified::Acknowledge,
                "{s}"
            );
        }
        // A stronger signal names the reason.
        assert_eq!(
            subject("mailer_daemon@mx.test", "Automatic reply: x"),
            Classified::Suppress(SuppressReason::SystemSender)
        );
    }

    #[test]
    fn sender_alignment() {
        let aligned = |h: &str| {
            sender_aligned(&parse_bytes(format!("{h}\r\n\r\nx").as_bytes()).expect("parses"))
        };
        assert!(
            aligned("From: a@customer.test"),
            "no Return-Path to compare"
        );
        assert!(aligned(
            "Return-Path: <a@customer.test>\r\nFrom: a@customer.test"
        ));
        assert!(aligned(
            "Return-Path: <bounce-1@em.customer.test>\r\nFrom: a@customer.test"
        ));
        assert!(aligned(
            "Return-Path: <x@mail.shop.co.uk>\r\nFrom: a@shop.co.uk"
        ));
        assert!(!aligned(
            "Return-Path: <spammer@evil.test>\r\nFrom: victim@customer.test"
        ));
        assert!(!aligned(
            "Return-Path: <x@other.co.uk>\r\nFrom: a@shop.co.uk"
        ));
    }

    /// Issue 16: two registrants under one public suffix are two organizations. The
    /// heuristic took the last two labels, so `alice.me.uk` and `bob.me.uk` were both
    /// "me.uk" and a forged From was acknowledged (backscatter to an innocent third party).
    #[test]
    fn registrants_under_a_shared_suffix_are_not_aligned() {
        let aligned = |rp: &str, from: &str| {
            sender_aligned(
                &parse_bytes(format!("Return-Path: <{rp}>\r\nFrom: {from}\r\n\r\nx").as_bytes())
                    .expect("parses"),
            )
        };
        for (rp, from) in [
            ("mallory@bob.me.uk", "victim@alice.me.uk"),
            ("mallory@bob.github.io", "victim@alice.github.io"),
            ("x@evil.s3.amazonaws.com", "a@shop.s3.amazonaws.com"),
            ("x@tax.gob.mx", "a@health.gob.mx"),
            ("x@evil.ltd.uk", "a@shop.ltd.uk"),
            ("x@evil.blogspot.com", "a@diary.blogspot.com"),
        ] {
            assert!(!aligned(rp, from), "{rp} must not back {from}");
        }
        for (rp, from) in [
            ("bounce@example.com", "a@mail.example.com"),
            ("bounce-7@em.shop.me.uk", "a@shop.me.uk"),
            ("x@deep.sub.alice.github.io", "a@alice.github.io"),
            ("x@mail.health.gob.mx", "a@health.gob.mx"),
            ("x@XN--BCHER-KVA.example", "a@bücher.example"),
        ] {
            assert!(aligned(rp, from), "{rp} backs {from}");
        }
    }

    /// The organizational domain by the public suffix list, in one (A-label) form.
    #[test]
    fn organizational_domains() {
        for (domain, org) in [
            ("mail.example.com", "example.com"),
            ("Example.COM.", "example.com"),
            ("a.b.shop.co.uk", "shop.co.uk"),
            ("alice.me.uk", "alice.me.uk"),
            ("x.alice.github.io", "alice.github.io"),
            ("bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com"),
            ("www.health.gob.mx", "health.gob.mx"),
            ("shop.ltd.uk", "shop.ltd.uk"),
            ("mail.bücher.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("em.customer.test", "customer.test"),
            ("github.io", "github.io"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(organizational_domain(domain), org, "{domain}");
        }
    }

    #[test]
    fn only_our_own_authentication_results_count() {
        let mail = |h: &str| {
            parse_bytes(format!("From: jason@example.test\r\n{h}\r\n\r\nx").as_bytes())
                .expect("parses")
        };
        let ours = mail(
            "Authentication-Results: mx.example.test; dkim=pass header.d=example.test; spf=pass smtp.mailfrom=jason@example.test",
        );
        assert!(authenticated(&ours, "mx.example.test", "example.test"));
        let fake = mail("Authentication-Results: evil.test; dkim=pass header.d=example.test");
        assert!(
            !authenticated(&fake, "mx.example.test", "example.test"),
            "another authserv-id"
        );
        let failed = mail(
            "Authentication-Results: mx.example.test; dkim=fail header.d=example.test; spf=softfail smtp.mailfrom=jason@example.test",
        );
        assert!(!authenticated(&failed, "mx.example.test", "example.test"));
        let foreign = mail("Authentication-Results: mx.example.test; dkim=pass header.d=evil.test");
        assert!(
            !authenticated(&foreign, "mx.example.test", "example.test"),
            "signed by someone else"
        );
        assert!(!authenticated(
            &mail("Subject: none"),
            "mx.example.test",
            "example.test"
        ));
    }

    fn mail_with(headers: &str) -> ParsedMail {
        parse_bytes(format!("{headers}\r\nSubject: answer\r\n\r\nx").as_bytes()).expect("parses")
    }

    /// Issue 16: OpenDKIM's usual field has a comment holding `;`, and OpenDMARC adds a field
    /// of its own with the same authserv-id (above OpenDKIM's). Both must be read, comments
    /// skipped. A real list mail's two fields and its From line, verbatim:
    /// linux-mailinglist-archives/osmocom-net-gprs.lists.osmocom.org.0, m at
    /// 92ff96c0de0adf6a1d2c1c0fdfc1cc570f0fe2f8 (lines 10–12, and the From further down).
    /// The other two mails are shaped on them for an agent's domain.
    #[test]
    fn opendkim_and_opendmarc_fields_are_believed() {
        let real = mail_with(
            "Authentication-Results: lists.osmocom.org; dmarc=pass (p=none dis=none) header.from=gmail.com\nAuthentication-Results: lists.osmocom.org;\n\tdkim=pass (2048-bit key; unprotected) header.d=gmail.com header.i=@gmail.com header.b=uAJR7L9S\nFrom: Mirko Kovacevic <northmirko@gmail.com>",
        );
        assert!(authenticated(&real, "lists.osmocom.org", "gmail.com"));
        assert!(!authenticated(&real, "mx.example.test", "gmail.com"));
        assert!(!authenticated(&real, "lists.osmocom.org", "example.test"));
        // The same agent's domain without a DMARC policy: OpenDMARC's field (on top) says
        // none, OpenDKIM's (below) vouches. The old reader stopped at the first field.
        let no_policy = mail_with(
            "Authentication-Results: mx.example.test; dmarc=none (p=none dis=none) header.from=example.test\r\nAuthentication-Results: mx.example.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.test header.i=@example.test header.b=\"AbC/dEf+\"\r\nFrom: jason@example.test",
        );
        assert!(authenticated(&no_policy, "mx.example.test", "example.test"));
        // OpenDKIM alone: the `;` in its comment split the old reader's result in two.
        let dkim_only = mail_with(
            "Authentication-Results: mx.example.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.test header.i=@example.test header.b=\"AbC/dEf+\"\r\nFrom: jason@example.test",
        );
        assert!(authenticated(&dkim_only, "mx.example.test", "example.test"));
    }

    /// What counts: a pass for the From's organizational domain by the method's own
    /// identity, from our authserv-id only.
    #[test]
    fn what_vouches_for_a_domain() {
        let ok = |h: &str| authenticated(&mail_with(h), "mx.example.test", "example.test");
        let ar = |results: &str| format!("Authentication-Results: mx.example.test; {results}");
        assert!(ok(&ar("spf=pass smtp.mailfrom=bounce@em.example.test")));
        assert!(ok(&ar("dkim=pass header.i=@mail.example.test")));
        assert!(ok(&ar("dmarc=pass header.from=example.test")));
        assert!(ok(&ar(
            "dkim=fail header.d=example.test; dkim=pass header.d=example.test"
        )));
        assert!(ok(
            "Authentication-Results: MX.Example.Test (our mx) 1; dkim = pass (ok) header . d = example.test"
        ));
        assert!(!ok(&ar("dkim=pass header.d=example.test.evil.test")));
        assert!(!ok(&ar(
            "dkim=pass header.d=evil.test header.i=@example.test"
        )));
        assert!(!ok(&ar("spf=softfail smtp.mailfrom=example.test")));
        assert!(!ok(&ar("dmarc=bestguesspass header.from=example.test")));
        assert!(!ok(&ar(
            "iprev=pass policy.iprev=192.0.2.1 smtp.mailfrom=example.test"
        )));
        assert!(!ok(&ar(
            "spf=pass smtp.mailfrom=\"x;dkim=pass header.d=example.test\"@evil.test"
        )));
        assert!(!ok(&ar(
            "dkim=fail (x; dkim=pass header.d=example.test) header.d=evil.test"
        )));
        // Microsoft 365's field names no authserv-id: nothing to trust it by.
        assert!(!ok(
            "Authentication-Results: spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.test; dkim=pass (signature was verified) header.d=example.test;dmarc=pass action=none header.from=example.test;compauth=pass reason=100"
        ));
        // Someone else's id, even beside ours.
        assert!(!ok(
            "Authentication-Results: evil.test; dkim=pass header.d=example.test\r\nAuthentication-Results: mx.example.test; dkim=none"
        ));
    }

    /// A field was cut at 2000 characters: padding chosen so the cut fell right after
    /// `header.d=example.test` of a signature by `example.test.evil.test` made it vouch for
    /// the wrong domain. Fields are now kept whole (or dropped when absurdly long).
    #[test]
    fn a_long_field_is_not_cut_into_another_domain() {
        let head = "Authentication-Results: mx.example.test; dkim=pass (";
        let tail = ") header.d=example.test";
        let pad = "x".repeat(2000 - (head.len() - "Authentication-Results: ".len()) - tail.len());
        let mail = mail_with(&format!(
            "{head}{pad}{tail}.evil.test\r\nFrom: a@example.test"
        ));
        assert!(!authenticated(&mail, "mx.example.test", "example.test"));
    }

    /// Issue 16: a customer whose mail passed a forwarder is compared by the address the SRS
    /// (or BATV) envelope stands for.
    #[test]
    fn forwarded_and_signed_envelopes_are_compared_by_their_original() {
        let aligned = |rp: &str, from: &str| {
            sender_aligned(
                &parse_bytes(format!("Return-Path: <{rp}>\r\nFrom: {from}\r\n\r\nx").as_bytes())
                    .expect("parses"),
            )
        };
        assert!(aligned(
            "SRS0=hash=tt=kreata.ee=andris@srs1.zonevs.eu",
            "Andris <andris@kreata.ee>"
        ));
        assert!(aligned(
            "SRS1=JIBX=fwd.example==ab12=XY=customer.test=alice@example.org",
            "alice@customer.test"
        ));
        assert!(aligned(
            "prvs=16481e4b5d=yun.zhou@windriver.com",
            "Yun Zhou <yun.zhou@windriver.com>"
        ));
        assert!(!aligned(
            "SRS0=hash=tt=evil.test=mallory@srs1.zonevs.eu",
            "andris@kreata.ee"
        ));
        // A forwarded bounce address is still a bounce address.
        assert_eq!(
            class(
                "From: alice@customer.test\r\nReturn-Path: <SRS0=ab12=XY=esp.test=bounces@fwd.test>"
            ),
            Classified::Suppress(SuppressReason::SystemSender)
        );
    }

    #[test]
    fn reason_names_are_stable() {
        assert_eq!(SuppressReason::AutoSubmitted.as_str(), "auto-submitted");
        assert_eq!(SuppressReason::NoReplySender.to_string(), "noreply-sender");
        assert!(SuppressReason::MailingList.is_automated());
        assert!(!SuppressReason::RateLimited.is_automated());
    }
}
