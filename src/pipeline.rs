//! One stored mail → one [`Plan`] → one committed [`Outcome`]. [`decide`] is the whole pure
//! pipeline (parse, classify, thread, route, compose) behind a small [`State`] trait, so unit
//! tests and fuzzers reach it without sled; [`Processor`] is the thin shell that reads the
//! mail from the store and commits the plan in one transaction.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::{info, warn};

use crate::classify::{Classified, Identity, SuppressReason, classify};
use crate::compose::{AckInput, Templates, acknowledgement};
use crate::config::Config;
use crate::parse::{ParsedMail, parse};
use crate::route;
use crate::store::{
    Direction, Outcome, Plan, Store, StoreError, Ticket, TicketMessage, TicketState,
};
use crate::thread::{ThreadLookup, Threading, thread};
use crate::types::{EmailAddress, TicketId, UnixTime, message_id_hash};

/// What [`decide`] needs to read from the store.
pub trait State: ThreadLookup {
    /// The number the next new ticket gets.
    fn next_ticket(&self) -> Result<TicketId, StoreError>;
    /// How many tickets a round-robin pool has had.
    fn pool_counter(&self, pool_key: &str) -> Result<u64, StoreError>;
    /// Acknowledgements sent to `customer` since `since`.
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, StoreError>;
}

impl State for Store {
    fn next_ticket(&self) -> Result<TicketId, StoreError> {
        self.peek_next_ticket()
    }
    fn pool_counter(&self, pool_key: &str) -> Result<u64, StoreError> {
        Store::pool_counter(self, pool_key)
    }
    fn acks_since(&self, customer: &EmailAddress, since: UnixTime) -> Result<usize, StoreError> {
        Store::acks_since(self, customer, since)
    }
}

/// The decision for one mail, with its Message-ID for the index.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The mail's Message-ID, if it had one.
    pub message_id: Option<String>,
    /// What to commit.
    pub plan: Plan,
}

fn quarantine(message_id: Option<String>, reason: String) -> Decision {
    Decision {
        message_id,
        plan: Plan::Quarantine(reason),
    }
}

fn inbound_message(
    mail: &ParsedMail,
    seq: u64,
    now: UnixTime,
    suppressed: Option<SuppressReason>,
) -> TicketMessage {
    TicketMessage {
        at: now,
        direction: Direction::Inbound,
        message_id: mail.message_id.clone(),
        from: mail.from.as_ref().map(|f| f.address.clone()),
        subject: mail.subject.clone(),
        inbound_seq: Some(seq),
        outbox_id: None,
        suppressed,
    }
}

/// Decides what to do with stored mail `seq` whose bytes are `raw`. Never panics on any
/// input: anything that cannot be handled safely becomes a quarantine with a reason.
pub fn decide(
    raw: &[u8],
    seq: u64,
    cfg: &Config,
    templates: &Templates,
    state: &impl State,
    now: UnixTime,
    date: SystemTime,
) -> Result<Decision, StoreError> {
    if raw.len() as u64 > cfg.limits.max_message_bytes {
        return Ok(quarantine(
            None,
            format!(
                "message of {} bytes exceeds limits.max_message_bytes ({})",
                raw.len(),
                cfg.limits.max_message_bytes
            ),
        ));
    }
    let mail = match parse(raw) {
        Ok(m) => m,
        Err(e) => return Ok(quarantine(None, format!("unparseable: {e}"))),
    };
    let identity = Identity {
        own_addresses: cfg.own_addresses(),
    };
    let class = classify(&mail, &identity);
    let sender = mail.from.as_ref().map(|f| &f.address);
    let threading = thread(
        sender,
        &mail.subject,
        &mail.in_reply_to,
        &mail.references,
        &cfg.service.name,
        state,
    );
    let message_id = mail.message_id.clone();

    let plan = match (threading, class) {
        (Threading::Join { ticket, via }, class) => {
            let reason = match class {
                Classified::Suppress(r) => r,
                Classified::Acknowledge => SuppressReason::FollowUp,
            };
            Plan::Join {
                ticket,
                via,
                message: inbound_message(&mail, seq, now, Some(reason)),
                reason,
            }
        }
        (Threading::New { .. }, Classified::Suppress(reason)) => Plan::Suppress(reason),
        (Threading::New { untrusted_tag }, Classified::Acknowledge) => {
            let Some(customer) = mail.from.clone() else {
                return Ok(quarantine(
                    message_id,
                    format!(
                        "no valid sender address in From ({})",
                        mail.from_raw.as_deref().unwrap_or("missing")
                    ),
                ));
            };
            if let Some(tag) = untrusted_tag {
                info!(ticket_tag = %tag, "subject carries another customer's ticket tag: opening a new ticket");
            }
            let pool = route::plan(&cfg.routes, &cfg.agents, &mail.recipients);
            let counter = state.pool_counter(&pool.key)?;
            let Some(agent) = pool.pick(counter).and_then(|e| cfg.agent(e)) else {
                return Ok(quarantine(
                    message_id,
                    "no agent is configured to take the ticket".into(),
                ));
            };
            let id = state.next_ticket()?;
            let ack = if !cfg.ack.enabled {
                Err(SuppressReason::AcknowledgementsDisabled)
            } else if state.acks_since(&customer.address, now - 86_400)?
                >= cfg.ack.per_sender_per_day as usize
            {
                Err(SuppressReason::RateLimited)
            } else {
                let input = AckInput {
                    service_name: &cfg.service.name,
                    service_address: &cfg.service.address,
                    ticket: id,
                    customer: &customer,
                    agent_name: &agent.name,
                    agent_address: agent.email.address(),
                    subject: &mail.subject,
                    parent_message_id: mail.message_id.as_deref(),
                    parent_references: &mail.references,
                    parent_in_reply_to: &mail.in_reply_to,
                    text: &mail.text,
                    quote_lines: cfg.ack.quote_lines,
                    inbound_seq: seq,
                    date,
                };
                match acknowledgement(templates, &input) {
                    Ok(out) => Ok(out),
                    Err(e) => {
                        return Ok(quarantine(
                            message_id,
                            format!("acknowledgement could not be composed: {e}"),
                        ));
                    }
                }
            };
            let first = inbound_message(&mail, seq, now, ack.as_ref().err().copied());
            Plan::NewTicket {
                ticket: Ticket {
                    id,
                    customer: customer.address.clone(),
                    customer_name: customer.name.clone(),
                    subject: mail.subject.clone(),
                    state: TicketState::Open,
                    agent: agent.email.clone(),
                    created_at: now,
                    updated_at: now,
                    messages: vec![first],
                },
                pool_key: pool.key,
                ack,
            }
        }
    };
    Ok(Decision { message_id, plan })
}

/// Processes stored mail: reads it, decides, commits. Shared by every inbox loop.
pub struct Processor {
    store: Store,
    cfg: Arc<Config>,
    templates: Arc<Templates>,
}

impl Processor {
    /// A processor over `store` with this configuration and these templates.
    pub fn new(store: Store, cfg: Arc<Config>, templates: Arc<Templates>) -> Self {
        Processor {
            store,
            cfg,
            templates,
        }
    }

    /// Processes stored mail `seq` and commits its outcome (not yet flushed: the caller
    /// flushes once per batch). Idempotent: a mail already processed keeps its outcome.
    pub fn process(&self, seq: u64) -> Result<Option<Outcome>, StoreError> {
        for _ in 0..3 {
            let Some(record) = self.store.inbound(seq)? else {
                return Ok(None);
            };
            if let Some(outcome) = record.outcome {
                return Ok(Some(outcome));
            }
            let raw = self.store.raw(seq)?.unwrap_or_default();
            let now = crate::types::now();
            let decision = decide(
                &raw,
                seq,
                &self.cfg,
                &self.templates,
                &self.store,
                now,
                SystemTime::now(),
            )?;
            match self.store.record_outcome(
                seq,
                decision.message_id.as_deref(),
                &decision.plan,
                now,
            ) {
                Err(StoreError::Conflict) => continue,
                // The disk failed: leave the mail pending and let the caller retry later.
                Err(e @ (StoreError::Sled(_) | StoreError::Locked { .. })) => return Err(e),
                // The mail's plan cannot be applied (a record it needs is missing or
                // unreadable): never retry it forever; keep it for a person.
                Err(e) => {
                    let plan = Plan::Quarantine(format!("could not be recorded: {e}"));
                    let outcome = self.store.record_outcome(
                        seq,
                        decision.message_id.as_deref(),
                        &plan,
                        now,
                    )?;
                    log_outcome(
                        &record.mailbox,
                        record.uid,
                        decision.message_id.as_deref(),
                        &outcome,
                    );
                    return Ok(Some(outcome));
                }
                Ok(outcome) => {
                    log_outcome(
                        &record.mailbox,
                        record.uid,
                        decision.message_id.as_deref(),
                        &outcome,
                    );
                    return Ok(Some(outcome));
                }
            }
        }
        Err(StoreError::Conflict)
    }
}

fn log_outcome(mailbox: &str, uid: u32, message_id: Option<&str>, outcome: &Outcome) {
    let mid = message_id.map(message_id_hash).unwrap_or_default();
    match outcome {
        Outcome::NewTicket {
            ticket,
            not_acknowledged,
        } => info!(
            event = "mail.processed",
            outcome = "new-ticket",
            %ticket,
            mid,
            mailbox,
            uid,
            reason = not_acknowledged.map(|r| r.as_str()).unwrap_or(""),
            "new ticket"
        ),
        Outcome::Joined {
            ticket,
            via,
            reason,
        } => info!(
            event = "mail.processed",
            outcome = "joined",
            %ticket,
            mid,
            mailbox,
            uid,
            via = ?via,
            reason = reason.as_str(),
            "mail joined its ticket"
        ),
        Outcome::Suppressed { reason } => info!(
            event = "mail.processed",
            outcome = "suppressed",
            mid,
            mailbox,
            uid,
            reason = reason.as_str(),
            "automated mail suppressed"
        ),
        Outcome::Quarantined { reason } => warn!(
            event = "mail.processed",
            outcome = "quarantined",
            mid,
            mailbox,
            uid,
            reason = reason.as_str(),
            "mail quarantined"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The store as a map, so the whole pipeline runs without sled.
    #[derive(Default)]
    struct Mem {
        ids: HashMap<String, TicketId>,
        customers: HashMap<TicketId, EmailAddress>,
        acks: usize,
    }

    impl ThreadLookup for Mem {
        fn ticket_by_message_id(&self, id: &str) -> Option<TicketId> {
            self.ids.get(id).copied()
        }
        fn ticket_customer(&self, t: TicketId) -> Option<EmailAddress> {
            self.customers.get(&t).cloned()
        }
    }

    impl State for Mem {
        fn next_ticket(&self) -> Result<TicketId, StoreError> {
            Ok(TicketId::new(1042))
        }
        fn pool_counter(&self, _: &str) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn acks_since(&self, _: &EmailAddress, _: UnixTime) -> Result<usize, StoreError> {
            Ok(self.acks)
        }
    }

    fn config() -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.toml");
        std::fs::write(
            &path,
            r#"
[service]
name = "Acme Support"
address = "support@example.test"
[imap]
host = "127.0.0.1"
tls = "none"
password = "x"
[smtp]
host = "127.0.0.1"
tls = "none"
[limits]
max_message_bytes = 100000
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
"#,
        )
        .expect("write");
        Config::load_with_env(&path, Vec::new()).expect("valid")
    }

    fn run(raw: &[u8], state: &Mem) -> Plan {
        let cfg = config();
        let templates = Templates::load(None).expect("templates");
        decide(
            raw,
            7,
            &cfg,
            &templates,
            state,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan
    }

    const ALICE: &[u8] = b"From: Alice Doe <alice@customer.test>\r\nTo: support@example.test\r\n\
Subject: Help\r\nMessage-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n";

    #[test]
    fn new_customer_mail_opens_a_ticket_with_an_acknowledgement() {
        let Plan::NewTicket {
            ticket,
            ack,
            pool_key,
        } = run(ALICE, &Mem::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(ticket.id, TicketId::new(1042));
        assert_eq!(ticket.customer.as_str(), "alice@customer.test");
        assert_eq!(ticket.agent.to_string(), "jason@example.test");
        assert_eq!(pool_key, "all");
        let ack = ack.expect("acknowledged");
        assert_eq!(ack.recipients[0].as_str(), "alice@customer.test");
        assert_eq!(ack.envelope_from, None);
    }

    fn ack_text(raw: &[u8]) -> String {
        let Plan::NewTicket { ack: Ok(mail), .. } = run(raw, &Mem::default()) else {
            panic!("expected an acknowledged new ticket");
        };
        let parsed = crate::parse::parse(&mail.raw).expect("our mail parses");
        parsed.text
    }

    #[test]
    fn html_only_mail_is_quoted_as_text() {
        let raw = b"From: Bob <bob@customer.test>\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>The <b>login</b> page is blank.</p><img src=\"https://tracker.test/x.png\"></body></html>\r\n";
        let text = ack_text(raw);
        assert!(text.contains("> The login page is blank."), "{text}");
        assert!(
            !text.contains("<b>") && !text.contains("tracker.test"),
            "{text}"
        );
    }

    #[test]
    fn latin1_mail_is_quoted_decoded() {
        let raw = b"From: =?iso-8859-1?q?Ren=E9_M=FCller?= <rene@customer.test>\r\nSubject: Rechnung\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDie Rechnung f\xfcr M\xe4rz fehlt.\r\n";
        let text = ack_text(raw);
        assert!(text.contains("Hello Ren\u{e9} M\u{fc}ller,"), "{text}");
        assert!(
            text.contains("> Die Rechnung f\u{fc}r M\u{e4}rz fehlt."),
            "{text}"
        );
    }

    #[test]
    fn follow_up_joins_without_acknowledgement() {
        let mut mem = Mem::default();
        mem.ids
            .insert("<ack.1001.3@example.test>".into(), TicketId::new(1001));
        let raw = b"From: alice@customer.test\r\nSubject: Re: Help\r\nIn-Reply-To: <ack.1001.3@example.test>\r\n\r\nmore\r\n";
        match run(raw, &mem) {
            Plan::Join { ticket, reason, .. } => {
                assert_eq!(ticket, TicketId::new(1001));
                assert_eq!(reason, SuppressReason::FollowUp);
            }
            other => panic!("expected a join, got {other:?}"),
        }
    }

    #[test]
    fn sender_over_the_daily_cap_gets_a_ticket_but_no_acknowledgement() {
        let mem = Mem {
            acks: 3,
            ..Mem::default()
        };
        let Plan::NewTicket { ack, .. } = run(ALICE, &mem) else {
            panic!("expected a new ticket");
        };
        assert_eq!(ack.err(), Some(SuppressReason::RateLimited));
    }

    /// Broken and hostile input: each gets a defined outcome, none panics.
    #[test]
    fn hostile_input_table() {
        let huge_subject = format!(
            "From: a@customer.test\r\nSubject: {}\r\n\r\nx",
            "s".repeat(90_000)
        );
        let too_big = format!("From: a@customer.test\r\n\r\n{}", "x".repeat(200_000));
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", b"".to_vec(), "quarantine:unparseable"),
            ("binary garbage", vec![0, 159, 146, 150, 255, 0, 13, 10], "any"),
            ("no From", b"Subject: hi\r\n\r\nbody".to_vec(), "quarantine:no valid sender"),
            ("broken From", b"From: <<@@@\r\nSubject: hi\r\n\r\nbody".to_vec(), "quarantine:no valid sender"),
            ("too big", too_big.into_bytes(), "quarantine:message of 200025 bytes exceeds limits.max_message_bytes (100000)"),
            ("1 MB-ish subject", huge_subject.into_bytes(), "new-ticket"),
            (
                "CRLF in display name",
                b"From: =?utf-8?q?Eve=0D=0ABcc=3A_v=40x.test?= <eve@customer.test>\r\nSubject: x\r\n\r\nhi".to_vec(),
                "new-ticket",
            ),
            (
                "truncated MIME",
                b"From: a@customer.test\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/pl".to_vec(),
                "new-ticket",
            ),
            (
                "unknown charset",
                b"From: a@customer.test\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla'".to_vec(),
                "new-ticket",
            ),
        ];
        for (name, raw, expected) in cases {
            let plan = run(&raw, &Mem::default());
            let got = match &plan {
                Plan::Quarantine(r) => format!("quarantine:{r}"),
                Plan::NewTicket { ack, .. } => {
                    if let Ok(mail) = ack {
                        let text = String::from_utf8_lossy(&mail.raw);
                        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
                        assert!(
                            !headers.contains("\r\nBcc:"),
                            "{name}: injected header in {headers}"
                        );
                    }
                    "new-ticket".into()
                }
                Plan::Join { .. } => "join".into(),
                Plan::Suppress(r) => format!("suppress:{r}"),
            };
            assert!(
                expected == "any" || got.starts_with(expected),
                "{name}: expected {expected}, got {got}"
            );
        }
    }
}
