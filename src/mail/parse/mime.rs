//! One guarded MIME parse per mail: [`Mime`] holds what mail-parser made of the bytes, and
//! every reader of the mail (its header facts, text, attachments, a bounce, a forward, an
//! answer's text and HTML) reads that instead of parsing the bytes again. A 25 MB mail was
//! parsed and decoded up to six times on its way through `decide`.

use mail_parser::{Message, MessageParser};

use super::ParseError;

/// What one run of mail-parser made of some bytes: `None` when it found no message at all.
type Parsed<'a> = Result<Option<Message<'a>>, ParseError>;

/// A mail's MIME structure, parsed once (a panic of mail-parser contained, see
/// [`parse_message`]). Build one per mail with [`Mime::new`] and hand it to the readers of
/// this module (`parse`, `attachments`, `reply_text` …), which used to parse the bytes each
/// on its own.
pub struct Mime<'a> {
    /// The parse from the first line that is not blank: where the header is read
    /// ([`after_blank_lines`]).
    header: Parsed<'a>,
    /// The parse of the bytes from the very top, only when they begin with blank lines (else
    /// it is `header`). The parts have always been read from there, so a mail behind blank
    /// lines keeps the parts it had; this second parse costs only such mails.
    top: Option<Parsed<'a>>,
    /// The bytes parsed: where an attachment's encoded text is found again by its offsets
    /// ([`Mime::offset_of`]).
    raw: &'a [u8],
}

impl<'a> Mime<'a> {
    /// Parses `raw` (once; twice only if it begins with blank lines, see the `top` field).
    pub fn new(raw: &'a [u8]) -> Mime<'a> {
        let rest = after_blank_lines(raw);
        Mime {
            header: parse_message(rest),
            top: (rest.len() != raw.len()).then(|| parse_message(raw)),
            raw,
        }
    }

    /// The parse the header is read from; an error if mail-parser panicked.
    pub(super) fn header(&self) -> &Parsed<'a> {
        &self.header
    }

    /// Where `inner`, a slice mail-parser borrowed from the parsed bytes, lies in them; `None`
    /// for bytes that are not part of them (a part mail-parser decoded into its own buffer).
    pub(super) fn offset_of(&self, inner: &[u8]) -> Option<std::ops::Range<usize>> {
        let start = (inner.as_ptr() as usize).checked_sub(self.raw.as_ptr() as usize)?;
        let end = start.checked_add(inner.len())?;
        (end <= self.raw.len()).then_some(start..end)
    }

    /// The message the parts are read from, if mail-parser made one of the bytes.
    pub(super) fn message(&self) -> Option<&Message<'a>> {
        self.top
            .as_ref()
            .unwrap_or(&self.header)
            .as_ref()
            .ok()?
            .as_ref()
    }
}

impl std::fmt::Debug for Mime<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mime")
            .field("parsed", &self.message().is_some())
            .field("behind_blank_lines", &self.top.is_some())
            .finish()
    }
}

/// mail-parser on untrusted bytes, with a panic of its own contained. Crafted input reaches
/// its internal assertions (fuzzing found a `debug_assert!` in its MIME state machine that a
/// damaged `message/rfc822` part trips), and not only `decide` parses stored mail: the CLI
/// and the SLA loop do too, outside the pipeline's guard. Such a mail is unparseable.
pub(super) fn parse_message(raw: &[u8]) -> Result<Option<Message<'_>>, ParseError> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| ParseError::ParserFailed)
}

#[cfg(test)]
thread_local! {
    /// How many times this thread ran mail-parser through [`parse_message`].
    static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many times this thread has run mail-parser (through [`parse_message`]): a test
/// compares it before and after a call to see how often that call parsed.
#[cfg(test)]
pub(crate) fn parses() -> usize {
    PARSES.with(|n| n.get())
}

/// `raw` from its first line that is not blank. Some relays and exports put empty lines, or
/// lines of spaces, above the header (Exchange reports saved from Gmail start with `\n`,
/// 100 spaces, `\n`); read from the top, the first of them ends an empty header and the
/// real one becomes the body. A header field never starts with a blank, so skipping them
/// loses nothing.
pub(super) fn after_blank_lines(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        if !rest[..end]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            break;
        }
        rest = &rest[end + 1..];
    }
    rest
}
