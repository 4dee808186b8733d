//! What every program that runs the hostile corpus shares (`tests/hostile.rs`, the end-to-end
//! `tests/e2e/hostile.rs`, the fuzz target `fuzz/fuzz_targets/pipeline.rs`): the size limit
//! they configure, and the check that a header section is all ours and well formed.

/// `[limits] max_message_bytes` in the hostile tests: the 25 MB attachment (about 34.6 MB
/// once base64-encoded) fits, the `too-big` case is one byte over.
pub const LIMIT: u64 = 36_000_000;

/// The only header fields a mail of ours may carry: anything else in our header section
/// came from a customer.
const OUR_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-frontdesk-loop",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Fields that must appear exactly once.
const ONCE: &[&str] = &["from", "to", "subject", "message-id", "date"];

/// RFC 5322 §2.1.1: no line longer than 998 characters.
const MAX_LINE: usize = 998;

/// Checks that a header section (everything before the first empty line) is well formed:
/// CRLF line ends only, no bare CR or LF, no NUL, lines of at most 998 octets, each line a
/// `Name: value` field of ours or a continuation (starting with a space or tab). Returns the
/// field names in order, lowercased.
pub fn header_fields(raw: &[u8]) -> Result<Vec<String>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no CRLF CRLF after the header section")?;
    let section = &raw[..end + 2];
    let mut names = Vec::new();
    let mut rest = section;
    while !rest.is_empty() {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("header line without CRLF")?;
        let line = &rest[..eol];
        rest = &rest[eol + 2..];
        if line.len() > MAX_LINE {
            return Err(format!("header line of {} octets", line.len()));
        }
        if let Some(b) = line.iter().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!(
                "control byte {b:#04x} inside header line {:?}",
                String::from_utf8_lossy(line)
            ));
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if names.is_empty() {
                return Err("continuation before the first field".into());
            }
            continue;
        }
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(|| format!("not a field: {:?}", String::from_utf8_lossy(line)))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
            return Err(format!(
                "bad field name {:?}",
                String::from_utf8_lossy(name)
            ));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if !OUR_HEADERS.contains(&name.as_str()) {
            return Err(format!("field {name:?} is not one of ours"));
        }
        names.push(name);
    }
    for once in ONCE {
        let n = names.iter().filter(|n| n == once).count();
        if n != 1 {
            return Err(format!("{n} {once} fields"));
        }
    }
    Ok(names)
}
