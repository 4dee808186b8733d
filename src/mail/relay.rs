//! The agent's side of a ticket (spec flow step 7), as pure functions: reply tokens that bind
//! a ticket to an agent, recognising a token address among a mail's recipients, stripping the
//! quoted notification from an agent's answer, and the `#commands` at its top.
//!
//! A token is an HMAC-SHA256 over the ticket number and the agent's address, keyed with
//! `service.token_secret_file`, truncated to 50 bits and written in lowercase base32:
//! `support+1042.k7q2m9d4xa@example.com`. It cannot be forged without the key, and it only
//! verifies for the agent it was issued to, compared in constant time.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{AgentEmail, EmailAddress, MessageIdKind, TicketId, UnixTime};

/// Characters of base32 in a token (10 × 5 = 50 bits).
const TOKEN_CHARS: usize = 10;

fn mac(secret: &[u8], ticket: TicketId, agent: &AgentEmail) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-reply-token-v1\n");
    m.update(ticket.to_string().as_bytes());
    m.update(b"\n");
    m.update(agent.address().as_str().as_bytes());
    m
}

/// Tickets opened from this moment (2026-11-25T00:00:00Z) on have reply tokens bound to their
/// opening time too, so a ticket number handed out again (after a lost store, or a restore
/// from an older backup) never accepts the tokens of the ticket that had it before.
/// Tickets opened earlier keep the tokens agents already hold.
pub const TOKENS_BOUND_SINCE: UnixTime = 1_795_564_800;

/// The key that mints and checks the reply tokens of a ticket opened at `opened`.
pub fn ticket_key(secret: &[u8], opened: UnixTime) -> Vec<u8> {
    if opened < TOKENS_BOUND_SINCE {
        return secret.to_vec();
    }
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-ticket-key-v1\n");
    m.update(opened.to_string().as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The token for `agent` on `ticket`.
pub fn mint(secret: &[u8], ticket: TicketId, agent: &AgentEmail) -> String {
    let tag = mac(secret, ticket, agent).finalize().into_bytes();
    let mut text = BASE32_NOPAD.encode(&tag[..8]).to_ascii_lowercase();
    text.truncate(TOKEN_CHARS);
    text
}

/// Whether `token` is the one issued to `agent` for `ticket` (constant-time comparison).
pub fn verify(secret: &[u8], ticket: TicketId, agent: &AgentEmail, token: &str) -> bool {
    let expected = mint(secret, ticket, agent);
    if token.len() != expected.len() {
        return false;
    }
    // Compare every byte regardless of where the first difference is.
    expected
        .bytes()
        .zip(token.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
        == 0
}

/// An unguessable but deterministic Message-ID for a mail we send: `kind`, ticket and the
/// store sequence of the mail that caused it, authenticated with the token key. Deterministic,
/// so a re-send after a crash carries the same id; unguessable, so nobody can claim a seat in
/// a thread by naming a neighbouring id in References.
pub fn message_id(
    secret: &[u8],
    kind: MessageIdKind,
    ticket: TicketId,
    seq: u64,
    domain: &str,
) -> String {
    let kind = kind.as_str();
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(b"frontdesk-message-id-v1\n");
    m.update(format!("{kind}\n{ticket}\n{seq}").as_bytes());
    let tag = m.finalize().into_bytes();
    let mut code = BASE32_NOPAD.encode(&tag[..10]).to_ascii_lowercase();
    code.truncate(16);
    format!("<{kind}.{ticket}.{code}@{domain}>")
}

/// The Reply-To address that routes an agent's answer back to us: `local+N.token@domain`.
pub fn reply_address(service: &EmailAddress, ticket: TicketId, token: &str) -> String {
    format!(
        "{}+{}.{}@{}",
        service.local_part(),
        ticket,
        token,
        service.domain()
    )
}

/// A ticket number and token found in one of our plus-addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAddress {
    /// The ticket the token names.
    pub ticket: TicketId,
    /// The token text as found (not yet verified).
    pub token: String,
}

/// Finds the first recipient of the form `<service local>+N.token@<service domain>`.
pub fn find_token_address(
    recipients: &[EmailAddress],
    service: &EmailAddress,
) -> Option<TokenAddress> {
    recipients.iter().find_map(|r| {
        if r.domain() != service.domain() {
            return None;
        }
        let (base, detail) = r.local_part().split_once('+')?;
        if base != service.local_part() {
            return None;
        }
        let (n, token) = detail.split_once('.')?;
        let ticket = n.parse::<u64>().ok()?;
        (!token.is_empty() && token.len() <= 64).then(|| TokenAddress {
            ticket: TicketId::new(ticket),
            token: token.to_string(),
        })
    })
}

/// The token as it travels in a subject, for servers without plus addressing:
/// `{ref:1042.k7q2m9d4xa}`.
pub fn subject_marker(ticket: TicketId, token: &str) -> String {
    format!("{{ref:{ticket}.{token}}}")
}

/// The first `{ref:N.token}` marker in a subject.
pub fn find_subject_token(subject: &str) -> Option<TokenAddress> {
    let start = subject.find("{ref:")? + 5;
    let rest = subject.get(start..)?;
    let inner = &rest[..rest.find('}')?];
    let (n, token) = inner.split_once('.')?;
    let ticket = n.parse::<u64>().ok()?;
    (!token.is_empty() && token.len() <= 64 && token.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| TokenAddress {
            ticket: TicketId::new(ticket),
            token: token.to_string(),
        })
}

/// Every distinct ticket among our token addresses in the recipients.
pub fn find_token_addresses(
    recipients: &[EmailAddress],
    service: &EmailAddress,
) -> Vec<TokenAddress> {
    let mut found: Vec<TokenAddress> = Vec::new();
    for r in recipients {
        if let Some(t) = find_token_address(std::slice::from_ref(r), service)
            && !found.iter().any(|f| f.ticket == t.ticket)
        {
            found.push(t);
        }
    }
    found
}

/// Whether any line looks like one of our commands (`#note`, `# close:` …): below the text
/// such a line means the agent misplaced it, and relaying would leak an internal note.
pub fn has_command_line(body: &str) -> bool {
    body.lines()
        .any(|l| parse_command(l).is_some_and(|c| !matches!(c, Command::Unknown(_))))
}

fn trim_invisible(s: &str) -> &str {
    s.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            )
    })
}

/// A command line: `#`, optional spaces, a word, optional `:`/`,`/`-`, the rest.
fn parse_command(line: &str) -> Option<Command> {
    let t = trim_invisible(line);
    let rest = t.strip_prefix('#')?.trim_start();
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    if word.is_empty() {
        return None;
    }
    let after = rest[word.len()..]
        .trim_start_matches([':', ',', '-'])
        .trim();
    Some(match word.to_ascii_lowercase().as_str() {
        "note" => Command::Note,
        "close" => Command::Close,
        "reopen" => Command::Reopen,
        "assign" => Command::Assign(after.to_string()),
        other => Command::Unknown(other.to_string()),
    })
}

/// What an agent's mail asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#note`: the text is internal, nothing goes to the customer.
    Note,
    /// `#close`: close the ticket.
    Close,
    /// `#reopen`: reopen the ticket.
    Reopen,
    /// `#assign WHO`: hand the ticket to another agent.
    Assign(String),
    /// Anything else that looks like a command: refused with an explanation.
    Unknown(String),
}

/// An agent's answer, split into commands and the text for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMessage {
    /// Commands from the lines at the top, in order.
    pub commands: Vec<Command>,
    /// The answer without the commands and without the quoted notification.
    pub body: String,
}

/// Strips the quoted notification first (so a bottom-posted command is never missed), then
/// reads the `#command` lines at the top of what is left (blank lines between them allowed).
pub fn read_agent_message(text: &str) -> AgentMessage {
    let stripped = strip_quoted(text);
    let mut commands = Vec::new();
    let mut lines = stripped.lines().peekable();
    while let Some(line) = lines.peek() {
        if trim_invisible(line).is_empty() {
            lines.next();
            continue;
        }
        let Some(cmd) = parse_command(line) else {
            break;
        };
        // `#note` may carry its text on the same line.
        let inline_note = match &cmd {
            Command::Note => {
                let t = trim_invisible(line).trim_start_matches('#').trim_start();
                let after = t
                    .get(4..)
                    .unwrap_or_default()
                    .trim_start_matches([':', ',', '-'])
                    .trim();
                (!after.is_empty()).then(|| after.to_string())
            }
            _ => None,
        };
        commands.push(cmd);
        lines.next();
        if let Some(first) = inline_note {
            let remaining: Vec<String> = std::iter::once(first)
                .chain(lines.map(str::to_string))
                .collect();
            return AgentMessage {
                commands,
                body: remaining.join("\n").trim().to_string(),
            };
        }
    }
    let remaining: Vec<&str> = lines.collect();
    AgentMessage {
        commands,
        body: remaining.join("\n").trim().to_string(),
    }
}

fn is_attribution_start(line: &str) -> bool {
    let t = line.trim();
    // Real attributions carry a date or an address: "On Wed, 25 Nov 2026 at 10:00, X <x@y>".
    ["On ", "Am ", "Le ", "El ", "Il ", "Op ", "Den "]
        .iter()
        .any(|p| t.starts_with(p))
        && t.len() > 10
        && (t.chars().any(|c| c.is_ascii_digit()) || t.contains('@') || t.contains(','))
}

fn is_attribution_end(line: &str) -> bool {
    let t = line.trim_end();
    [
        "wrote:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "ha scritto:",
        "schreef:",
        "skrev:",
    ]
    .iter()
    .any(|e| t.ends_with(e))
}

/// `From:` and its translations, bold or not, as Outlook writes its quoted header block.
fn is_header_from(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('*');
    [
        "From:", "Von:", "De:", "De :", "Da:", "Van:", "Från:", "Od:", "Fra:",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// `Sent:`/`Date:` and translations, the second line that confirms a header block.
fn is_header_sent(line: &str) -> bool {
    let t = line.trim_start().trim_start_matches('*');
    [
        "Sent:",
        "Date:",
        "Gesendet:",
        "Datum:",
        "Envoyé",
        "Enviado:",
        "Inviato:",
        "Verzonden:",
        "Skickat:",
        "Wysłano:",
        "Sendt:",
        "Data:",
        "Fecha:",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// A separator such as `-----Original Message-----` or `-----Ursprüngliche Nachricht-----`.
fn is_separator_banner(line: &str) -> bool {
    let t = line.trim();
    t.len() > 12
        && t.starts_with("-----")
        && t.ends_with("-----")
        && t.trim_matches('-').trim().chars().any(char::is_alphabetic)
}

/// Removes the quoted part of a reply: everything from an Outlook header block
/// (`From: … Sent: …`, `-----Original Message-----`, a `____` rule before `From:`) on, the
/// "On … wrote:" attribution and every `>` line (top- and bottom-posting alike); trims the
/// blank lines left behind.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if is_separator_banner(t) {
            cut = i;
            break;
        }
        let outlook_header = |j: usize| {
            lines.get(j).is_some_and(|l| is_header_from(l))
                && lines[j + 1..lines.len().min(j + 5)]
                    .iter()
                    .any(|l| is_header_sent(l))
        };
        if t.chars().all(|c| c == '_') && t.len() >= 10 && outlook_header(i + 1) {
            cut = i;
            break;
        }
        if outlook_header(i) {
            cut = i;
            break;
        }
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < cut {
        let line = lines[i];
        if line.trim_start().starts_with('>') {
            i += 1;
            continue;
        }
        if is_attribution_start(line) {
            // The attribution may be wrapped over up to three lines.
            if let Some(end) = (i..cut.min(i + 3)).find(|&j| is_attribution_end(lines[j])) {
                i = end + 1;
                continue;
            }
        }
        kept.push(line);
        i += 1;
    }
    let joined = kept.join("\n");
    let mut out: Vec<&str> = Vec::new();
    for line in joined.trim_matches('\n').lines() {
        // Collapse runs of blank lines left where quotes were.
        if line.trim().is_empty() && out.last().is_some_and(|l: &&str| l.trim().is_empty()) {
            continue;
        }
        out.push(line);
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
                include_bytes!("../../tests/corpus/replies/gmail.eml"),
            ),
            (
                "outlook desktop",
                include_bytes!("../../tests/corpus/replies/outlook-desktop.eml"),
            ),
            (
                "outlook on the web (HTML only)",
                include_bytes!("../../tests/corpus/replies/outlook-web.eml"),
            ),
            (
                "apple mail",
                include_bytes!("../../tests/corpus/replies/apple-mail.eml"),
            ),
            (
                "thunderbird",
                include_bytes!("../../tests/corpus/replies/thunderbird.eml"),
            ),
            (
                "outlook, German",
                include_bytes!("../../tests/corpus/replies/outlook-german.eml"),
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
        let m =
            read_agent_message("#note called her, waiting for photos\n\nOn Mon, X wrote:\n> hi");
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
}
