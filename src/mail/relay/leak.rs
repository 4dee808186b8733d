//! Copies of a notification in what an agent's answer would relay. An agent forwards the
//! notification as an attachment, drags it into Outlook (a `.msg`, whose text is UTF-16LE),
//! or attaches a forward whose parts are base64 or quoted-printable: the reply address in
//! ASCII is not in any of those, so the guard looks for the notification by what survives
//! every encoding. Its fingerprints are looked for in every part as sent, as UTF-16 (little-
//! and big-endian) in one pass, and, in a part that is a message, in every decoded part and
//! id inside it:
//! - the ticket's reply address (`support+N.`) and every reply token of the ticket, as the
//!   Reply-To or a subject marker (`{ref:N.token}`) carries them;
//! - the notification's first line (code writes it, so no template removes it) and the first
//!   line of its header block (`Ticket #N ·`);
//! - the Message-IDs of the mails only agents get (notifications, notices, escalations):
//!   the ones the ticket sent, and any id of that shape at our domains.

use std::fmt;

use aho_corasick::AhoCorasick;

use crate::domain::{MessageIdKind, TicketId};
use crate::mail::parse::{Inside, search_embedded};

/// What gave a copy of a notification away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// The ticket's reply address.
    ReplyAddress,
    /// A reply token of the ticket (in a reply address or a subject marker).
    ReplyToken,
    /// The notification's first line, or its header block's.
    Marker,
    /// The Message-ID of a mail of ours that only agents get.
    MessageId,
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trace::ReplyAddress => "it contains this ticket's reply address",
            Trace::ReplyToken => "it contains this ticket's reply token",
            Trace::Marker => "it contains the notification's marker line or header block",
            Trace::MessageId => "it is, or holds, one of our notifications by its Message-ID",
        })
    }
}

/// What identifies the notifications of one ticket.
#[derive(Debug, Clone)]
pub struct Notifications<'a> {
    /// The ticket.
    pub ticket: TicketId,
    /// The anchor lines its notifications start with, as the templates render them (a
    /// translated one too); the built-in words are searched whatever this holds.
    pub anchors: Vec<String>,
    /// The local part of the support address (`support` in `support+N.token@…`).
    pub local_part: &'a str,
    /// Every reply token of the ticket (one per agent it may have gone to).
    pub tokens: Vec<String>,
    /// The Message-IDs the ticket's notifications and notices went out with.
    pub message_ids: Vec<String>,
    /// Our domains: an id of an agents-only kind there is ours whatever its ticket.
    pub domains: Vec<String>,
}

/// The fingerprints of one ticket's notifications, ready to search parts for: every one in
/// the three forms it is looked for in (as written, UTF-16LE, UTF-16BE), all found in one
/// pass over a part, ASCII case-insensitively (Aho-Corasick).
#[derive(Debug, Clone)]
pub struct Fingerprints {
    searcher: AhoCorasick,
    traces: Vec<Trace>,
    domains: Vec<String>,
}

/// The fingerprints could not be prepared (the automaton grew beyond its limits); an answer
/// that cannot be checked is not relayed.
#[derive(Debug, thiserror::Error)]
#[error("the notification's fingerprints could not be prepared: {0}")]
pub struct FingerprintError(#[from] aho_corasick::BuildError);

impl Fingerprints {
    /// The fingerprints of `ours`.
    pub fn new(ours: &Notifications<'_>) -> Result<Fingerprints, FingerprintError> {
        let n = ours.ticket;
        let mut texts = vec![
            (Trace::ReplyAddress, format!("{}+{n}.", ours.local_part)),
            (Trace::ReplyToken, format!("{{ref:{n}.")),
            (Trace::Marker, MARKER_WORDS.to_string()),
            (Trace::Marker, format!("Ticket #{n} ·")),
        ];
        texts.extend(
            ours.anchors
                .iter()
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .map(|a| (Trace::Marker, a.to_string())),
        );
        texts.extend(
            ours.tokens
                .iter()
                .filter(|t| !t.is_empty())
                .map(|t| (Trace::ReplyToken, format!("{n}.{t}"))),
        );
        texts.extend(
            ours.message_ids
                .iter()
                .map(|id| id.trim_matches(['<', '>']))
                .filter(|id| !id.is_empty())
                .map(|id| (Trace::MessageId, id.to_string())),
        );
        let mut patterns: Vec<Vec<u8>> = Vec::with_capacity(texts.len() * 3);
        let mut traces = Vec::with_capacity(texts.len() * 3);
        for (trace, text) in texts {
            patterns.push(text.encode_utf16().flat_map(u16::to_le_bytes).collect());
            patterns.push(text.encode_utf16().flat_map(u16::to_be_bytes).collect());
            patterns.push(text.into_bytes());
            traces.extend([trace; 3]);
        }
        let searcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)?;
        Ok(Fingerprints {
            searcher,
            traces,
            domains: ours.domains.clone(),
        })
    }

    /// A fingerprint in `data` as it is (ASCII or UTF-8) or as UTF-16, case-insensitively.
    pub fn in_bytes(&self, data: &[u8]) -> Option<Trace> {
        let found = self.searcher.find(data)?;
        self.traces.get(found.pattern().as_usize()).copied()
    }

    /// A fingerprint in a part an answer would carry: in its bytes, or, if it is a message,
    /// in any id, subject or decoded part inside it.
    pub fn in_part(&self, data: &[u8]) -> Option<Trace> {
        self.in_bytes(data).or_else(|| {
            search_embedded(data, &mut |inside| match inside {
                Inside::Id(id) => is_agents_only_id(id, &self.domains).then_some(Trace::MessageId),
                Inside::Content(c) => self.in_bytes(c),
            })
        })
    }
}

/// The words of the built-in anchor up to the ticket number (`compose::notification_marker`),
/// in every notification sent before a desk translated its anchor.
const MARKER_WORDS: &str = "Reply above this line; the customer sees only your text (ticket #";

/// Whether `id` has the shape of a Message-ID of ours that only agents get
/// (`<notify.N.code@domain>`, a notice's or an escalation's) at one of `domains`. Ours of
/// every version: the shape has not changed.
pub fn is_agents_only_id(id: &str, domains: &[String]) -> bool {
    let id = id.trim().trim_matches(['<', '>']);
    let Some((local, domain)) = id.rsplit_once('@') else {
        return false;
    };
    let mut words = local.split('.');
    let (Some(kind), Some(number), Some(code), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    let agents_only = [
        MessageIdKind::Notify,
        MessageIdKind::Notice,
        MessageIdKind::Escalation,
    ]
    .iter()
    .any(|k| k.as_str() == kind);
    agents_only
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_alphanumeric())
        && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprints() -> Fingerprints {
        let f = Fingerprints::new(&Notifications {
            ticket: TicketId::new(1001),
            anchors: vec!["--- Bitte oberhalb dieser Zeile antworten (Ticket #1001) ---".into()],
            local_part: "support",
            tokens: vec!["k7q2m9d4xa".into()],
            message_ids: vec!["<notify.1001.abcdefgh@example.test>".into()],
            domains: vec!["example.test".into()],
        });
        f.expect("a few short fingerprints always build")
    }

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn utf16be(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    #[test]
    fn fingerprints_are_found_in_every_encoding_and_case() {
        let f = fingerprints();
        let cases: [(&str, Vec<u8>, Option<Trace>); 11] = [
            (
                "translated anchor in UTF-16LE",
                utf16le("--- Bitte oberhalb dieser Zeile antworten (Ticket #1001) ---"),
                Some(Trace::Marker),
            ),
            (
                "reply address",
                b"Reply-To: <SUPPORT+1001.x@example.test>".to_vec(),
                Some(Trace::ReplyAddress),
            ),
            (
                "subject marker",
                b"Subject: Help {ref:1001.k7q2m9d4xa}".to_vec(),
                Some(Trace::ReplyToken),
            ),
            (
                "token alone",
                b"...1001.K7Q2M9D4XA...".to_vec(),
                Some(Trace::ReplyToken),
            ),
            (
                "marker in UTF-16LE",
                utf16le(
                    "--- Reply above this line; the customer sees only your text (ticket #7) ---",
                ),
                Some(Trace::Marker),
            ),
            (
                "header line in UTF-16BE",
                utf16be("Ticket #1001 · Alice"),
                Some(Trace::Marker),
            ),
            (
                "header line in UTF-16LE at an odd offset",
                [b"\x00".to_vec(), utf16le("Ticket #1001 · Alice")].concat(),
                Some(Trace::Marker),
            ),
            (
                "our notification's id",
                b"<notify.1001.abcdefgh@example.test>".to_vec(),
                Some(Trace::MessageId),
            ),
            (
                "another ticket's header line",
                b"Ticket #1002 \xc2\xb7 Bob".to_vec(),
                None,
            ),
            (
                "an invoice",
                b"%PDF-1.7 Invoice 1001 for support".to_vec(),
                None,
            ),
            ("empty", Vec::new(), None),
        ];
        for (name, data, expected) in cases {
            assert_eq!(f.in_bytes(&data), expected, "{name}");
        }
    }

    #[test]
    fn a_fingerprint_deep_in_a_large_part_is_found() {
        let f = fingerprints();
        for at in [0, 1, 65_535, 3 << 20] {
            let mut data = vec![b'x'; at];
            data.extend_from_slice(&utf16le("Ticket #1001 · Alice"));
            data.extend(vec![b'y'; 100]);
            assert_eq!(f.in_bytes(&data), Some(Trace::Marker), "at {at}");
        }
    }

    #[test]
    fn a_message_inside_a_part_is_read_by_its_ids_and_decoded_parts() {
        let f = fingerprints();
        let other_ticket = b"Message-ID: <notify.2002.zzzz@EXAMPLE.test>\r\n\r\nhello\r\n";
        assert_eq!(f.in_part(other_ticket), Some(Trace::MessageId));
        let answered = b"Message-ID: <j9@example.test>\r\nIn-Reply-To: <notice.1001.q@example.test>\r\n\r\nok\r\n";
        assert_eq!(f.in_part(answered), Some(Trace::MessageId));
        let qp =
            b"Message-ID: <j9@example.test>\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
--- Reply above this line; the customer sees =\r\nonly your text (ticket #1001) ---\r\n";
        assert_eq!(f.in_bytes(qp), None, "split by a soft line break");
        assert_eq!(f.in_part(qp), Some(Trace::Marker));
        let customers = b"Message-ID: <ack.1001.abc@example.test>\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nThanks\r\n";
        assert_eq!(
            f.in_part(customers),
            None,
            "what the customer got is not internal"
        );
    }

    #[test]
    fn agents_only_ids_are_ours_by_shape_and_domain() {
        let ours = vec!["example.test".to_string()];
        for (id, expected) in [
            ("<notify.1001.abcdefgh@example.test>", true),
            ("notice.7.x1@Example.Test", true),
            ("<escalation.1001.abc@example.test>", true),
            ("<ack.1001.abcdefgh@example.test>", false),
            ("<reply.1001.abcdefgh@example.test>", false),
            ("<notify.1001.abcdefgh@evil.test>", false),
            ("<notify.x.abc@example.test>", false),
            ("<notify.1001.abc.def@example.test>", false),
            ("<j1@example.test>", false),
            ("", false),
        ] {
            assert_eq!(is_agents_only_id(id, &ours), expected, "{id}");
        }
    }
}
