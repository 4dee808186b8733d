//! Mail we send: its kind and its composed bytes.

use serde::{Deserialize, Serialize};

use super::{EmailAddress, TicketId};

/// What kind of mail an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailKind {
    /// The automatic acknowledgement of a new ticket.
    Acknowledgement,
    /// A customer's mail handed to the ticket's agent.
    AgentNotification,
    /// An agent's answer relayed to the customer.
    AgentReply,
    /// A short explanation back to an agent (a command that could not be honoured).
    AgentNotice,
    /// A missed first-response target, to the team lead.
    Escalation,
    /// A note to ops about the daemon itself (an inbox that keeps failing, or recovered).
    OpsAlert,
    /// The new agent's short note to the customer that their ticket changed hands.
    Handover,
    /// The customer's personal closing mail, which invites a rating (automatic).
    Closing,
    /// The one reminder to a customer a ticket waits on (automatic).
    Reminder,
}

/// A composed mail ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// What it is.
    pub kind: MailKind,
    /// Its Message-ID, with angle brackets; deterministic so a re-send after a crash is
    /// recognisable as the same mail.
    pub message_id: String,
    /// `MAIL FROM`; `None` sends the null sender `<>` (RFC 3834 §3.3 for automatic replies).
    pub envelope_from: Option<EmailAddress>,
    /// `RCPT TO`.
    pub recipients: Vec<EmailAddress>,
    /// The inbox it is sent from (its From address): that inbox's SMTP account carries it.
    pub inbox: EmailAddress,
    /// The complete RFC 5322 message; while `splices` is not empty, the message with a
    /// placeholder line for each big attachment's base64 text.
    pub raw: Vec<u8>,
    /// Big attachments still to be written into `raw` from the raw mail they came from
    /// ([`OutgoingMail::splice`]); empty for every mail that reaches the store.
    pub splices: Vec<Splice>,
}

/// A big attachment's place in a composed mail: the placeholder line `token` stands where
/// its base64 text goes, which is `source` in the raw incoming mail. A 25 MB attachment is
/// then copied once, into the final bytes, after the parse that decoded it is gone, instead
/// of being held decoded, encoded and formatted at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// The placeholder, random, found exactly once in the composed bytes.
    pub token: String,
    /// Where the attachment's clean base64 text is in the raw mail.
    pub source: std::ops::Range<usize>,
}

/// A splice could not be made: the mail's bytes would be wrong, so it is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// The placeholder is not in the composed bytes exactly once.
    #[error("an attachment's placeholder is not in the composed mail exactly once")]
    Placeholder,
    /// The source range is not inside the raw mail.
    #[error("an attachment's text is not where the parse found it")]
    Source,
}

/// Base64 line length in the bytes we write (RFC 2045 §6.8: at most 76).
const BASE64_LINE: usize = 76;

impl OutgoingMail {
    /// Writes every big attachment's base64 text from `raw` (the incoming mail the
    /// attachments were parsed from) in place of its placeholder, re-wrapped in lines of 76
    /// characters; `splices` is empty afterwards. The text was checked to be clean base64
    /// when it was found, so only white space is dropped.
    pub fn splice(&mut self, raw: &[u8]) -> Result<(), SpliceError> {
        if self.splices.is_empty() {
            return Ok(());
        }
        let mut at = Vec::with_capacity(self.splices.len());
        let mut size = self.raw.len();
        for s in &self.splices {
            let token = s.token.as_bytes();
            let mut found = find_all(&self.raw, token);
            let (Some(pos), None) = (found.next(), found.next()) else {
                return Err(SpliceError::Placeholder);
            };
            let text = raw.get(s.source.clone()).ok_or(SpliceError::Source)?;
            size += text.len() + text.len() / BASE64_LINE * 2;
            at.push((pos, token.len(), text));
        }
        at.sort_by_key(|(pos, ..)| *pos);
        let mut out = Vec::with_capacity(size);
        let mut last = 0;
        for (pos, len, text) in at {
            out.extend_from_slice(&self.raw[last..pos]);
            let mut column = 0;
            for &b in text {
                if b.is_ascii_whitespace() {
                    continue;
                }
                if column == BASE64_LINE {
                    out.extend_from_slice(b"\r\n");
                    column = 0;
                }
                out.push(b);
                column += 1;
            }
            last = pos + len;
        }
        out.extend_from_slice(&self.raw[last..]);
        self.raw = out;
        self.splices.clear();
        Ok(())
    }
}

/// Every position of `needle` in `hay` (non-empty needle).
fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len().max(1))
        .enumerate()
        .filter(move |(_, w)| !needle.is_empty() && *w == needle)
        .map(|(i, _)| i)
}

/// The kinds of Message-ID we mint, `<KIND.TICKET.CODE@domain>`: the kind is part of the
/// authenticated id, and tells a returned id's origin (a bounce of an agent's answer …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageIdKind {
    /// An acknowledgement.
    Ack,
    /// A notification to an agent.
    Notify,
    /// A notice back to an agent.
    Notice,
    /// An agent's answer relayed to the customer.
    Reply,
    /// An escalation to a team lead.
    Escalation,
    /// The customer's note that their ticket changed hands.
    Handover,
    /// The customer's closing mail.
    Closing,
    /// The reminder to a customer.
    Reminder,
}

impl MessageIdKind {
    /// The kind's word in the id (and in the HMAC that authenticates it).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageIdKind::Ack => "ack",
            MessageIdKind::Notify => "notify",
            MessageIdKind::Notice => "notice",
            MessageIdKind::Reply => "reply",
            MessageIdKind::Escalation => "escalation",
            MessageIdKind::Handover => "handover",
            MessageIdKind::Closing => "closing",
            MessageIdKind::Reminder => "reminder",
        }
    }

    /// The ticket a Message-ID of ours names (`<KIND.TICKET.CODE@domain>`), whether or not
    /// it is authentic: the store resolves our ids from it instead of indexing them, and
    /// accepts one only if that ticket's history holds it.
    pub fn ticket_of(message_id: &str) -> Option<TicketId> {
        MessageIdKind::of(message_id)?;
        let rest = message_id.trim_start_matches('<').split_once('.')?.1;
        let (number, code) = rest.split_once('.')?;
        if number.is_empty() || number.len() > 19 || !code.contains('@') {
            return None;
        }
        if !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        number.parse().ok().map(TicketId::new)
    }

    /// Every kind we mint.
    pub const ALL: [MessageIdKind; 8] = [
        MessageIdKind::Ack,
        MessageIdKind::Notify,
        MessageIdKind::Notice,
        MessageIdKind::Reply,
        MessageIdKind::Escalation,
        MessageIdKind::Handover,
        MessageIdKind::Closing,
        MessageIdKind::Reminder,
    ];

    /// The kind a Message-ID of ours names (whether it is authentic is not checked here).
    pub fn of(message_id: &str) -> Option<MessageIdKind> {
        let (kind, _) = message_id.trim_start_matches('<').split_once('.')?;
        MessageIdKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(raw: &str, splices: Vec<Splice>) -> OutgoingMail {
        OutgoingMail {
            kind: MailKind::AgentNotification,
            message_id: "<n@example.test>".into(),
            envelope_from: None,
            recipients: Vec::new(),
            inbox: EmailAddress::parse("support@example.test").expect("valid"),
            raw: raw.as_bytes().to_vec(),
            splices,
        }
    }

    #[test]
    fn a_splice_puts_the_text_in_place_of_its_placeholder_in_lines_of_76() {
        let source = format!("head\r\n{}\r\n{}\r\ntail", "A".repeat(60), "B".repeat(60));
        let start = 6;
        let end = source.len() - 6;
        let mut m = mail(
            "X-H: 1\r\n\r\n--b\r\nTOKEN-1\r\n--b--\r\n",
            vec![Splice {
                token: "TOKEN-1".into(),
                source: start..end,
            }],
        );
        m.splice(source.as_bytes()).expect("spliced");
        let want = format!(
            "X-H: 1\r\n\r\n--b\r\n{}{}\r\n{}\r\n--b--\r\n",
            "A".repeat(60),
            "B".repeat(16),
            "B".repeat(44)
        );
        assert_eq!(String::from_utf8_lossy(&m.raw), want);
        assert!(m.splices.is_empty());
    }

    #[test]
    fn a_splice_that_cannot_be_made_is_an_error_not_a_wrong_mail() {
        let one = |token: &str, source| Splice {
            token: token.into(),
            source,
        };
        let mut missing = mail("no placeholder", vec![one("TOKEN-1", 0..1)]);
        assert_eq!(missing.splice(b"AAAA"), Err(SpliceError::Placeholder));
        let mut twice = mail("TOKEN-1 TOKEN-1", vec![one("TOKEN-1", 0..1)]);
        assert_eq!(twice.splice(b"AAAA"), Err(SpliceError::Placeholder));
        let mut outside = mail("TOKEN-1", vec![one("TOKEN-1", 2..9)]);
        assert_eq!(outside.splice(b"AAAA"), Err(SpliceError::Source));
        assert_eq!(outside.raw, b"TOKEN-1", "the bytes are left alone");
    }
}
