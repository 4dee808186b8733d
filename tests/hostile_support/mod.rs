//! What the hostile-input test (`tests/hostile.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/pipeline.rs`, which includes this file by path) share: an in-memory
//! [`State`] with one open ticket, a test configuration, and [`check`], the invariants every
//! decision must keep whatever the input was. Only the library's public API is used, so the
//! fuzzer sees exactly what the daemon runs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::SystemTime;

use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::{Decision, State, decide};
use frontdesk::domain::{
    AgentEmail, AgentLoad, Direction, EmailAddress, MailKind, OutgoingMail, Plan, Ticket, TicketId,
    TicketMessage, TicketState, UnixTime,
};
use frontdesk::mail::thread::ThreadLookup;
use frontdesk::store::StoreError;

/// The support address of the test configuration.
pub const SUPPORT: &str = "support@example.test";
/// The customer of the one existing ticket (#1001).
pub const ALICE: &str = "alice@customer.test";
/// Message-IDs that belong to ticket #1001: a follow-up naming one of them joins it.
pub const TICKET_IDS: [&str; 2] = ["<a1@customer.test>", "<ack.1001.abc@example.test>"];
/// "Now" for every decision: a fixed Wednesday, so working hours do not make runs differ.
pub const NOW: UnixTime = 1_795_000_000;

/// The store as maps, holding one open ticket (#1001, Alice's, Jason's) so that follow-ups,
/// subject tags and reply tokens reach the paths that need an existing ticket.
pub struct MemState {
    ids: HashMap<String, TicketId>,
    tickets: HashMap<TicketId, Ticket>,
    raw: Vec<u8>,
}

impl Default for MemState {
    fn default() -> Self {
        let alice = EmailAddress::parse(ALICE).expect("valid");
        let jason = AgentEmail::new(EmailAddress::parse("jason@example.test").expect("valid"));
        let id = TicketId::new(1001);
        let ticket = Ticket {
            id,
            customer: alice.clone(),
            customer_name: Some("Alice Doe".into()),
            subject: "Help".into(),
            state: TicketState::Open,
            agent: jason,
            created_at: NOW - 3600,
            updated_at: NOW - 3600,
            messages: vec![TicketMessage {
                at: NOW - 3600,
                direction: Direction::Inbound,
                message_id: Some(TICKET_IDS[0].into()),
                from: Some(alice),
                subject: "Help".into(),
                inbound_seq: Some(1),
                outbox_id: None,
                suppressed: None,
                note: None,
            }],
            first_response_at: None,
            notify_root: Some("<notify.1001.abc@example.test>".into()),
            closed_at: None,
            linked_from: None,
            escalated_at: None,
            pool: Some("all".into()),
            inbox: None,
            forgotten_at: None,
        };
        MemState {
            ids: TICKET_IDS.iter().map(|m| (m.to_string(), id)).collect(),
            tickets: HashMap::from([(id, ticket)]),
            raw: b"From: Alice Doe <alice@customer.test>\r\nSubject: Help\r\n\
Message-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n"
                .to_vec(),
        }
    }
}

impl ThreadLookup for MemState {
    type Error = StoreError;
    fn ticket_by_message_id(&self, id: &str) -> Result<Option<TicketId>, StoreError> {
        Ok(self.ids.get(id).copied())
    }
    fn ticket_customer(&self, t: TicketId) -> Result<Option<EmailAddress>, StoreError> {
        Ok(self.tickets.get(&t).map(|t| t.customer.clone()))
    }
}

impl State for MemState {
    fn next_ticket(&self) -> Result<TicketId, StoreError> {
        Ok(TicketId::new(1042))
    }
    fn pool_counter(&self, _: &str) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn acks_since(&self, _: &EmailAddress, _: UnixTime) -> Result<usize, StoreError> {
        Ok(0)
    }
    fn acks_in_hour(&self, _: UnixTime) -> Result<usize, StoreError> {
        Ok(0)
    }
    fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        Ok(self.tickets.get(&id).cloned())
    }
    fn customer_tickets(&self, customer: &EmailAddress) -> Result<Vec<TicketId>, StoreError> {
        Ok(self
            .tickets
            .values()
            .filter(|t| &t.customer == customer)
            .map(|t| t.id)
            .collect())
    }
    fn inbound_raw(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok((seq == 1).then(|| self.raw.clone()))
    }
    fn agent_load(&self, _: &AgentEmail) -> Result<AgentLoad, StoreError> {
        Ok(AgentLoad::default())
    }
}

/// A validated configuration like a real one: two agents in a team reached by a body
/// pattern, a route by address, and `max_message_bytes` as given. The token key file lives
/// in a temporary directory only while the configuration loads.
pub fn config(max_message_bytes: u64) -> Config {
    let dir = std::env::temp_dir().join(format!(
        "frontdesk-hostile-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let key = dir.join("token.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").expect("token key");
    let path = dir.join("frontdesk.toml");
    std::fs::write(
        &path,
        format!(
            r#"[service]
name = "Acme Support"
address = "{SUPPORT}"
token_secret_file = "{key}"

[imap]
host = "127.0.0.1"
tls = "none"
password = "x"

[smtp]
host = "127.0.0.1"
tls = "none"

[limits]
max_message_bytes = {max_message_bytes}

[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["billing"]

[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
teams = ["billing"]

[[routes]]
to = "billing@example.test"
team = "billing"

[[routes]]
body = "invoice|refund"
team = "billing"
"#,
            key = key.display()
        ),
    )
    .expect("write configuration");
    let cfg = Config::load_with_env(&path, Vec::new()).expect("valid test configuration");
    let _ = std::fs::remove_dir_all(&dir);
    cfg
}

/// The built-in templates.
pub fn templates() -> Templates {
    Templates::load(None).expect("built-in templates")
}

/// Runs the pure pipeline on `raw` as stored mail number 7, at [`NOW`].
pub fn run(
    raw: &[u8],
    cfg: &Config,
    templates: &Templates,
    state: &MemState,
) -> Result<Decision, StoreError> {
    decide(
        raw,
        7,
        cfg,
        templates,
        state,
        NOW,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(NOW as u64),
    )
}

/// The outgoing mails of a plan.
pub fn outgoing(plan: &Plan) -> &[OutgoingMail] {
    match plan {
        Plan::NewTicket { outgoing, .. }
        | Plan::Join { outgoing, .. }
        | Plan::Agent { outgoing, .. } => outgoing,
        Plan::Suppress(_) | Plan::Quarantine(_) => &[],
    }
}

/// The only header fields a mail of ours may carry: anything else in our header section
/// came from a customer.
const OUR_HEADERS: &[&str] = &[
    "from",
    "to",
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

/// Tag names the acknowledgement's HTML template writes itself; any other tag in the HTML
/// part would be the customer's, unescaped.
const OUR_TAGS: &[&str] = &[
    "!doctype",
    "html",
    "body",
    "p",
    "strong",
    "blockquote",
    "br",
];

/// The tag names in an HTML text, lowercased (`<p>`, `</p>` and `<br>` → `p`, `p`, `br`).
pub fn html_tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|t| {
            t.trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect()
}

/// The invariants of every decision, whatever the input:
/// - every outgoing mail's header section is well formed ([`header_fields`]) and has only
///   our fields, so a customer cannot add one (no `Bcc:`, no second `To:`);
/// - it goes to one recipient: the acknowledgement to the mail's own sender (never a
///   Reply-To, never a Cc), an agent's mail to a configured agent, a relayed answer to a
///   ticket's customer; the `To:` header names exactly that address;
/// - the acknowledgement goes out with the null sender, is small, carries no attachment,
///   and its HTML part holds no tag but the template's own;
/// - a quarantine or suppression sends nothing.
pub fn check(
    raw: &[u8],
    decision: &Decision,
    cfg: &Config,
    state: &MemState,
) -> Result<(), String> {
    let sender = frontdesk::mail::parse::parse(raw)
        .ok()
        .and_then(|m| m.from)
        .map(|f| f.address);
    let agents: Vec<&EmailAddress> = cfg.agents.iter().map(|a| a.email.address()).collect();
    for mail in outgoing(&decision.plan) {
        let kind = mail.kind;
        let fail = |why: String| Err(format!("{kind:?} {}: {why}", mail.message_id));
        if let Err(e) = header_fields(&mail.raw) {
            return fail(e);
        }
        let [to] = mail.recipients.as_slice() else {
            return fail(format!("{} recipients", mail.recipients.len()));
        };
        let allowed = match kind {
            MailKind::Acknowledgement => sender.as_ref() == Some(to),
            MailKind::AgentNotification | MailKind::AgentNotice => agents.contains(&to),
            MailKind::AgentReply => state.tickets.values().any(|t| &t.customer == to),
            MailKind::Escalation | MailKind::OpsAlert => false,
        };
        if !allowed {
            return fail(format!("sent to {to}, who may not get it"));
        }
        // Only our header section: an agent's notification carries the customer's mail as
        // it came, and what a parser makes of that is not what this checks.
        let head_len = mail
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(mail.raw.len(), |p| p + 4);
        let Some(parsed) = mail_parser::MessageParser::default().parse(&mail.raw[..head_len])
        else {
            return fail("our own header section does not parse".into());
        };
        let to_header: Vec<String> = parsed
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(|a| a.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        if to_header != [to.as_str()] {
            return fail(format!("To: names {to_header:?}, not {to}"));
        }
        let from = parsed
            .from()
            .and_then(|f| f.first())
            .and_then(|f| f.address())
            .map(str::to_ascii_lowercase);
        if from.as_deref() != Some(cfg.service.address.as_str()) {
            return fail(format!("From: is {from:?}"));
        }
        if kind == MailKind::Acknowledgement {
            if mail.envelope_from.is_some() {
                return fail("acknowledgement with a non-null envelope sender".into());
            }
            if mail.raw.len() > 64 * 1024 {
                return fail(format!("acknowledgement of {} bytes", mail.raw.len()));
            }
            // The acknowledgement is all ours: template text and sanitized quote lines.
            let Some(parsed) = mail_parser::MessageParser::default().parse(&mail.raw) else {
                return fail("our acknowledgement does not parse".into());
            };
            if parsed.attachment_count() > 0 {
                return fail("acknowledgement carries attachments".into());
            }
            let html = parsed.body_html(0).unwrap_or_default();
            if let Some(tag) = html_tags(&html)
                .into_iter()
                .find(|t| !OUR_TAGS.contains(&t.as_str()))
            {
                return fail(format!("unescaped <{tag}> in the HTML part"));
            }
        }
    }
    Ok(())
}

/// `[limits] max_message_bytes` in the hostile tests: the 25 MB attachment (about 34.6 MB
/// once base64-encoded) fits, the `too-big` case is one byte over.
pub const LIMIT: u64 = 36_000_000;

/// Deterministic filler bytes (xorshift), so big cases are the same on every run.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Base64 with CRLF every 76 characters (RFC 2045).
fn base64_lines(data: &[u8]) -> String {
    let text = data_encoding::BASE64.encode(data);
    let mut out = String::with_capacity(text.len() + text.len() / 38);
    for chunk in text.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn headers(local: &str, subject: &str) -> String {
    format!(
        "From: Big Case <{local}@customer.test>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n\
Message-ID: <{local}@customer.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    )
}

/// The cases too big to commit, by the name the README's table gives them.
pub fn generated(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "attachment-25mb" => {
            let mut m = headers("attachment-25mb", "A 25 MB attachment");
            m.push_str("Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\n");
            m.push_str(
                "Content-Type: text/plain; charset=utf-8\r\n\r\nThe log file is attached.\r\n",
            );
            m.push_str("--big\r\nContent-Type: application/octet-stream; name=\"huge.log\"\r\n");
            m.push_str("Content-Disposition: attachment; filename=\"huge.log\"\r\n");
            m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&base64_lines(&noise(25 * 1024 * 1024)));
            m.push_str("--big--\r\n");
            m.into_bytes()
        }
        "recipients-5000" => {
            let mut m =
                format!("From: Many Recipients <recipients-5000@customer.test>\r\nTo: {SUPPORT}");
            for i in 0..5000 {
                m.push_str(&format!(",\r\n r{i} <r{i}@customer.test>"));
            }
            m.push_str("\r\nCc: ");
            m.push_str(
                &(0..5000)
                    .map(|i| format!("c{i}@customer.test"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            m.push_str("\r\nSubject: To everyone\r\nMessage-ID: <recipients-5000@customer.test>\r\n\r\nHello all.\r\n");
            m.into_bytes()
        }
        "subject-1mb" => {
            let subject = "Help! ".repeat(1024 * 1024 / 6);
            let mut m = headers("subject-1mb", &subject);
            m.push_str("\r\nA very long subject on one line.\r\n");
            m.into_bytes()
        }
        "rfc822-nested-20" => {
            let mut inner = "From: Innermost <innermost@customer.test>\r\nSubject: level 20\r\n\
Content-Type: text/plain\r\n\r\nThe innermost text.\r\n"
                .to_string();
            for level in (1..20).rev() {
                inner = format!(
                    "From: Level {level} <level{level}@customer.test>\r\nSubject: level {level}\r\n\
Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\nContent-Type: text/plain\r\n\r\n\
Level {level} text.\r\n--n{level}\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--n{level}--\r\n"
                );
            }
            let mut m = headers("rfc822-nested-20", "Twenty levels");
            m.push_str("Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n--n0\r\nContent-Type: text/plain\r\n\r\n");
            m.push_str(
                "Twenty nested messages attached.\r\n--n0\r\nContent-Type: message/rfc822\r\n\r\n",
            );
            m.push_str(&inner);
            m.push_str("\r\n--n0--\r\n");
            m.into_bytes()
        }
        "multipart-nested-300" => {
            let mut m = headers("multipart-nested-300", "Three hundred levels");
            for level in 0..300 {
                m.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"m{level}\"\r\n\r\n--m{level}\r\n"
                ));
            }
            m.push_str("Content-Type: text/plain\r\n\r\nDeep down.\r\n");
            for level in (0..300).rev() {
                m.push_str(&format!("--m{level}--\r\n"));
            }
            m.into_bytes()
        }
        "from-1000-addresses" => {
            let from = (0..1000)
                .map(|i| format!("Author {i} <from{i}@customer.test>"))
                .collect::<Vec<_>>()
                .join(",\r\n ");
            format!(
                "From: {from}\r\nTo: {SUPPORT}\r\nSubject: A thousand authors\r\n\
Message-ID: <from-1000@customer.test>\r\n\r\nWe all wrote this.\r\n"
            )
            .into_bytes()
        }
        "overlong-lines" => {
            let mut m = headers("overlong-lines", "Long lines");
            m.push_str(&format!("X-Long: {}\r\n", "x".repeat(200_000)));
            m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
            m.push_str(&"word ".repeat(400_000));
            m.push_str("\r\n");
            m.into_bytes()
        }
        "headers-10000" => {
            let mut m = headers("headers-10000", "Ten thousand headers");
            for i in 0..10_000 {
                m.push_str(&format!("X-Filler-{i}: {i}\r\n"));
            }
            m.push_str("\r\nMany headers above.\r\n");
            m.into_bytes()
        }
        "attachments-1000" => {
            let mut m = headers("attachments-1000", "A thousand attachments");
            m.push_str("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n");
            m.push_str("Content-Type: text/plain\r\n\r\nMany files.\r\n");
            for i in 0..1000 {
                m.push_str(&format!(
                    "--p\r\nContent-Type: text/plain; name=\"f{i}.txt\"\r\n\
Content-Disposition: attachment; filename=\"f{i}.txt\"\r\n\r\nfile {i}\r\n"
                ));
            }
            m.push_str("--p--\r\n");
            m.into_bytes()
        }
        "too-big" => {
            let mut m = headers("too-big", "Over the limit").into_bytes();
            m.extend_from_slice(b"\r\n");
            let fill = LIMIT as usize + 1 - m.len();
            m.extend(std::iter::repeat_n(b'a', fill));
            m
        }
        _ => return None,
    })
}

/// One row of `tests/corpus/hostile/README.md`'s table.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name (`*.eml`) or the name of a generated case.
    pub name: String,
    /// The expected outcome of the pure pipeline (see the README for the words).
    pub expect: String,
    /// The expected outcome end to end, where it differs (a fresh store has no ticket #1001).
    pub expect_e2e: String,
}

impl Case {
    /// The case's bytes: the file, or generated.
    pub fn bytes(&self) -> Vec<u8> {
        if self.name.ends_with(".eml") {
            std::fs::read(corpus_dir().join(&self.name))
                .unwrap_or_else(|e| panic!("{}: {e}", self.name))
        } else {
            generated(&self.name).unwrap_or_else(|| panic!("no generator for {}", self.name))
        }
    }
}

/// `tests/corpus/hostile`.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/hostile")
}

/// The table of cases in `tests/corpus/hostile/README.md`: rows whose first cell is a
/// back-quoted name.
pub fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            let name = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            let expect = for_this_build(cells.get(1)?);
            let e2e = cells.get(2).map(|c| for_this_build(c)).unwrap_or_default();
            Some(Case {
                name: name.to_string(),
                expect_e2e: if e2e.is_empty() { expect.clone() } else { e2e },
                expect,
            })
        })
        .collect()
}

/// An outcome cell for this build: `X (release: Y)` is X where debug assertions are on (in
/// mail-parser too: they are reachable from input) and Y where they are off.
fn for_this_build(cell: &str) -> String {
    let cell = cell.trim_matches('`');
    match cell.split_once(" (release: ") {
        Some((_, release)) if !cfg!(debug_assertions) => release.trim_end_matches(')').to_string(),
        Some((debug, _)) => debug.to_string(),
        None => cell.to_string(),
    }
}

/// A decision in the README's words: `ack`, `ticket-no-ack:REASON`, `joined:REASON`,
/// `agent:ACTION`, `suppressed:REASON` or `quarantined:REASON`.
pub fn describe(plan: &Plan) -> String {
    match plan {
        Plan::NewTicket {
            not_acknowledged: None,
            ..
        } => "ack".into(),
        Plan::NewTicket {
            not_acknowledged: Some(r),
            ..
        } => format!("ticket-no-ack:{r}"),
        Plan::Join { reason, .. } => format!("joined:{reason}"),
        Plan::Agent { action, .. } => format!("agent:{action}"),
        Plan::Suppress(r) => format!("suppressed:{r}"),
        Plan::Quarantine(r) => format!("quarantined:{r}"),
    }
}

/// Whether an outcome matches the expectation: equal, or for quarantines, the expected
/// text is part of the reason.
pub fn matches(expect: &str, got: &str) -> bool {
    match (
        expect.strip_prefix("quarantined:"),
        got.strip_prefix("quarantined:"),
    ) {
        (Some(want), Some(reason)) => reason.contains(want),
        _ => expect == got,
    }
}
