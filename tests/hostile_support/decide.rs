//! The pure pipeline as `tests/hostile.rs` and the fuzz target (`fuzz/fuzz_targets/pipeline.rs`)
//! run it: a configuration like a real one, a store holding one open ticket, and [`check`],
//! the invariants every decision must keep whatever the input was. Only the library's
//! public API (and its test kit) is used, so the fuzzer sees exactly what the daemon runs.

use std::time::SystemTime;

use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::{Decision, decide};
use frontdesk::domain::{EmailAddress, MailKind, TicketId, UnixTime};
use frontdesk::testing::{MemStore, ticket};

use super::shared::header_fields;

/// The customer of the one existing ticket (#1001).
const ALICE: &str = "alice@customer.test";
/// Message-IDs that belong to ticket #1001: a follow-up naming one of them joins it.
const TICKET_IDS: [&str; 2] = ["<a1@customer.test>", "<ack.1001.abc@example.test>"];
/// "Now" for every decision: a fixed Wednesday, so working hours do not make runs differ.
const NOW: UnixTime = 1_795_000_000;

/// A validated configuration like a real one: two agents in a team reached by a body
/// pattern, a route by address, and `max_message_bytes` as given.
pub fn config(max_message_bytes: u64) -> Config {
    frontdesk::testing::config(&format!(
        r#"
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
"#
    ))
}

/// The built-in templates.
pub fn templates() -> Templates {
    Templates::load(None).expect("built-in templates")
}

/// The store holding one open ticket (#1001, Alice's, Jason's, with her first mail stored)
/// so that follow-ups, subject tags and reply tokens reach the paths that need an existing
/// ticket.
pub fn store() -> MemStore {
    let id = TicketId::new(1001);
    let first = ticket(id.get(), ALICE)
        .customer_name("Alice Doe")
        .created_at(NOW - 3600)
        .inbound(NOW - 3600, TICKET_IDS[0], 1)
        .notify_root("<notify.1001.abc@example.test>")
        .pool("all")
        .build();
    MemStore::default()
        .with_ticket(first)
        .with_message_id(TICKET_IDS[0], id)
        .with_message_id(TICKET_IDS[1], id)
        .with_inbound(
            1,
            b"From: Alice Doe <alice@customer.test>\r\nSubject: Help\r\n\
Message-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n",
        )
}

/// Runs the pure pipeline on `raw` as stored mail number 7, at a fixed time.
pub fn run(raw: &[u8], cfg: &Config, templates: &Templates, state: &MemStore) -> Decision {
    let Ok(decision) = decide(
        raw,
        7,
        cfg,
        templates,
        state,
        NOW,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(NOW as u64),
    );
    decision
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

/// What an agent's answer relayed as HTML must never carry: elements that run, load, frame or
/// submit; an event handler; an image not relayed with it (`cid:`); a style that loads.
pub fn unsafe_html(html: &str) -> Option<String> {
    const FORBIDDEN: &[&str] = &[
        "script", "style", "iframe", "frame", "object", "embed", "form", "input", "button",
        "textarea", "select", "link", "base", "svg", "math", "applet",
    ];
    // The crate's own parse (html5ever, as a client parses it): the fuzz target shares this
    // file and depends on nothing more than the crate and mail-parser.
    let doc = frontdesk::mail::html::document(html);
    for node in doc.tree.root().descendants() {
        let Some(el) = node.value().as_element() else {
            continue;
        };
        if FORBIDDEN.contains(&el.name()) {
            return Some(format!("<{}>", el.name()));
        }
        for (name, value) in el.attrs() {
            let lower = value.to_ascii_lowercase();
            if name.starts_with("on")
                || (name == "src" && !lower.starts_with("cid:"))
                || (name == "href" && lower.trim_start().starts_with("javascript:"))
                || (name == "style" && lower.contains("url("))
            {
                return Some(format!("<{} {name}=\"{value}\">", el.name()));
            }
        }
    }
    None
}

/// The invariants of every decision, whatever the input:
/// - every outgoing mail's header section is well formed ([`header_fields`]) and has only
///   our fields, so a customer cannot add one (no `Bcc:`, no second `To:`);
/// - it goes to one recipient: the acknowledgement to the mail's own sender (never a
///   Reply-To), an agent's mail to a configured agent, a relayed answer to a ticket's
///   customer; the `To:` header names exactly that address;
/// - only the acknowledgement and a relayed answer copy anyone, and only people the mail
///   named (in its To or Cc, or an agent's `#cc add`) or a ticket's participants, never an
///   agent or one of our addresses; the `Cc:` header names exactly them;
/// - the acknowledgement goes out with the null sender, is small, carries no attachment,
///   and its HTML part holds no tag but the template's own;
/// - a relayed answer's HTML part is sanitized ([`unsafe_html`]);
/// - a quarantine or suppression sends nothing.
pub fn check(
    raw: &[u8],
    decision: &Decision,
    cfg: &Config,
    state: &MemStore,
) -> Result<(), String> {
    let sender = frontdesk::mail::parse::parse_bytes(raw)
        .ok()
        .and_then(|m| m.from)
        .map(|f| f.address);
    let agents: Vec<&EmailAddress> = cfg.agents.iter().map(|a| a.email.address()).collect();
    for mail in decision.plan.outgoing() {
        let kind = mail.kind;
        let fail = |why: String| Err(format!("{kind:?} {}: {why}", mail.message_id));
        if let Err(e) = header_fields(&mail.raw) {
            return fail(e);
        }
        let Some((to, copied)) = mail.recipients.split_first() else {
            return fail("no recipients".into());
        };
        if let Err(why) = may_be_copied(raw, kind, copied, cfg, state) {
            return fail(why);
        }
        let allowed = match kind {
            MailKind::Acknowledgement => sender.as_ref() == Some(to),
            MailKind::AgentNotification | MailKind::AgentNotice => agents.contains(&to),
            MailKind::AgentReply | MailKind::Handover | MailKind::Closing | MailKind::Reminder => {
                state.tickets().any(|t| &t.customer == to)
            }
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
        let cc_header: Vec<String> = parsed
            .cc()
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(|a| a.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        let copied: Vec<&str> = copied.iter().map(EmailAddress::as_str).collect();
        if cc_header != copied {
            return fail(format!("Cc: names {cc_header:?}, not {copied:?}"));
        }
        let from = parsed
            .from()
            .and_then(|f| f.first())
            .and_then(|f| f.address())
            .map(str::to_ascii_lowercase);
        if from.as_deref() != Some(cfg.service.address.as_str()) {
            return fail(format!("From: is {from:?}"));
        }
        if kind == MailKind::AgentReply {
            let Some(parsed) = mail_parser::MessageParser::default().parse(&mail.raw) else {
                return fail("the relayed answer does not parse".into());
            };
            let html = parsed
                .html_part(0)
                .filter(|p| p.is_text_html())
                .and_then(|_| parsed.body_html(0));
            if let Some(what) = html.and_then(|h| unsafe_html(&h)) {
                return fail(format!("the relayed HTML carries {what}"));
            }
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

/// Whether the people a mail copies may get it: only an acknowledgement or a relayed answer
/// copies anyone, at most ten, never an agent or one of our addresses, and only someone the
/// incoming mail named (its To or Cc, an agent's `#cc add`) or a ticket's participant.
fn may_be_copied(
    raw: &[u8],
    kind: MailKind,
    copied: &[EmailAddress],
    cfg: &Config,
    state: &MemStore,
) -> Result<(), String> {
    if copied.is_empty() {
        return Ok(());
    }
    if !matches!(kind, MailKind::Acknowledgement | MailKind::AgentReply) || copied.len() > 10 {
        return Err(format!("{} copied", copied.len()));
    }
    let named = frontdesk::mail::parse::parse_bytes(raw)
        .map(|m| m.copied)
        .unwrap_or_default();
    let text = String::from_utf8_lossy(raw).to_lowercase();
    let ours = cfg.own_addresses();
    for c in copied {
        let base = c.without_detail();
        let forbidden = cfg
            .agents
            .iter()
            .any(|a| a.email.address().without_detail() == base)
            || ours.iter().any(|o| o.without_detail() == base);
        let known = named.contains(c)
            || state.tickets().any(|t| t.participants.contains(c))
            || (kind == MailKind::AgentReply && text.contains(c.as_str()));
        if forbidden || !known {
            return Err(format!("copied to {c}, who may not get it"));
        }
    }
    Ok(())
}
