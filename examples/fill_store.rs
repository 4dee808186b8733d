//! Fills a Frontdesk state directory with many realistic tickets, for the benchmark
//! (`scripts/bench`): start-up time, memory and ticket look-up with 10,000 to 1,000,000
//! tickets stored, and the size of the state directory. Run it only while the daemon is
//! stopped (it needs the store's lock).
//!
//! Two paths write the same records:
//!
//! * **exact** (the first `--exact` tickets, default 2,000): each customer mail goes through
//!   the daemon's own calls. [`Store::store_fetched`] stores it, [`decide`] parses,
//!   classifies, threads, routes and composes it with the real templates,
//!   [`Store::record_outcome`] commits the ticket, the customer's Message-ID, the customer
//!   record and the outbox entries, and [`Store::mark_sent`] records both mails as sent, as the
//!   outbox does after the server's 2xx. That costs about 1 ms per ticket on a 2-core
//!   machine (one sled transaction per mail and per sent mail), too slow for a million.
//! * **bulk** (the rest): the same records, built from the library's own types
//!   ([`Ticket`] through the test kit's [`TicketBuilder`], [`Inbound`], [`route::assign`],
//!   [`relay::message_id`]) and written with one sled batch per tree per `--batch` mails,
//!   flushed once at the end. Only what the exact path writes and then deletes again is
//!   left out: the outbox entries and their bytes (sent at once) and the IMAP flag jobs. A
//!   check at the end reads bulk tickets back through [`Store`] (ticket, Message-ID index,
//!   customer history and caps, counters, UID and digest indexes) and fails loudly if the
//!   layout no longer matches the store's.
//!
//! Differences from a live daemon, on purpose: the mails are stored under a mailbox key of
//! their own (`fill/INBOX`), so the daemon's cursor for its real mailbox stays untouched (its
//! first start still leaves existing mail alone), their IMAP flag jobs are dropped (there is
//! no server copy to flag), and their timestamps are spread over the past `--spread-days`
//! so that per-sender acknowledgement caps and sticky routing behave as in a real history.
//! Every ticket stays open.
//!
//! ```sh
//! cargo run --release --example fill_store -- --config frontdesk.toml --count 100000
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::decide;
use frontdesk::domain::{
    AgentEmail, AgentLoad, Cursor, CustomerRecord, Direction, EmailAddress, Fetched, Inbound,
    MailKind, MessageIdKind, Outcome, SuppressReason, Ticket, TicketId, TicketMessage, UnixTime,
};
use frontdesk::mail::thread::ThreadLookup;
use frontdesk::route::{self, MailFacts};
use frontdesk::store::Store;
use frontdesk::testing::TicketBuilder;
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The mailbox key the generated mails are stored under (not the daemon's own).
const FILL_MAILBOX: &str = "fill/INBOX";
/// The UIDVALIDITY they are stored with.
const FILL_UID_VALIDITY: u32 = 1;
/// What the "server" answered to each sent mail.
const SENT_RESPONSE: &str = "250 2.0.0 Ok: queued as FILL";

/// The store's `meta` key of the highest outbox id sent (schema 3).
const SENT_HIGH: &str = "sent_high";

/// Subjects customers write, picked pseudo-randomly.
const SUBJECTS: &[&str] = &[
    "Invoice for March is missing",
    "Cannot log in since yesterday",
    "Refund for order",
    "Printer shows error E-42",
    "Question about my subscription",
    "Delivery has not arrived",
    "Password reset link does not work",
    "Wrong item in my parcel",
    "How do I change my address?",
    "App crashes on start",
];

/// Words for the customers' text.
const WORDS: &[&str] = &[
    "hello",
    "my",
    "order",
    "invoice",
    "the",
    "page",
    "is",
    "blank",
    "since",
    "yesterday",
    "please",
    "help",
    "me",
    "with",
    "account",
    "thank",
    "you",
    "it",
    "does",
    "not",
    "work",
    "again",
    "after",
    "update",
    "error",
    "message",
    "shows",
    "when",
    "I",
    "try",
    "to",
    "pay",
    "printer",
    "delivery",
    "address",
    "refund",
    "could",
    "check",
    "what",
    "happened",
];

/// Command line of the generator.
#[derive(Parser)]
#[command(about = "Fill a Frontdesk state directory with realistic tickets (daemon stopped)")]
struct Args {
    /// The daemon's configuration: the state directory, agents, routes and templates come
    /// from it.
    #[arg(long)]
    config: PathBuf,
    /// How many tickets to add.
    #[arg(long)]
    count: u64,
    /// How many of them go through the daemon's exact path (decide + record_outcome +
    /// mark_sent, ~1 ms each); the rest are written in bulk.
    #[arg(long, default_value_t = 2000)]
    exact: u64,
    /// Average tickets per customer (customers = count / this).
    #[arg(long, default_value_t = 3)]
    tickets_per_customer: u64,
    /// Mails per batch (one `store_fetched` transaction, or one sled batch per tree).
    #[arg(long, default_value_t = 5000)]
    batch: u64,
    /// The tickets' creation times are spread evenly over this many past days.
    #[arg(long, default_value_t = 365)]
    spread_days: u64,
    /// Leaves the outgoing mail of the last N exact-path tickets queued, unsent, as a daemon
    /// stopped before its outbox caught up leaves it (the migration test's store has some).
    #[arg(long, default_value_t = 0)]
    unsent: u64,
    /// Seed of the pseudo-random customers, subjects and texts.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// A small, fast, deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One generated customer mail and the facts the pipeline would parse out of it.
struct Mail {
    /// Which customer (`customerN@customer.test`).
    customer: u64,
    /// The customer's address.
    from: EmailAddress,
    /// The subject, as parsed.
    subject: String,
    /// The text, as parsed.
    text: String,
    /// Its Message-ID.
    message_id: String,
    /// The whole mail as Dovecot's LMTP stores it (with the Return-Path it adds).
    raw: Vec<u8>,
}

/// Writes customer mails to `service` (the support address).
struct MailMaker {
    rng: Rng,
    customers: u64,
    service: EmailAddress,
}

impl MailMaker {
    /// Mail number `n`, sent at `at`.
    fn mail(&mut self, n: u64, at: UnixTime) -> Mail {
        let rng = &mut self.rng;
        let c = rng.below(self.customers);
        let from_text = format!("customer{c}@customer.test");
        let subject = format!(
            "{} ({n})",
            SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize]
        );
        let date = jiff::Timestamp::from_second(at)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .strftime("%a, %d %b %Y %H:%M:%S +0000")
            .to_string();
        let mut text = String::with_capacity(800);
        text.push_str("Hello,\n\n");
        for _ in 0..(3 + rng.below(8)) {
            let mut line = String::new();
            for _ in 0..(6 + rng.below(8)) {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            }
            text.push_str(&line);
            text.push_str(".\n");
        }
        text.push_str(&format!("\nCustomer {c}\n"));
        let message_id = format!("<fill.{n}.{c}@customer.test>");
        let service = &self.service;
        let raw = format!(
            "Return-Path: <{from_text}>\r\nDelivered-To: {service}\r\n\
Received: from mail.customer.test (localhost [127.0.0.1])\r\n\tby mail.example.test (Postfix) with ESMTP id F{n:X}\r\n\tfor <{service}>; {date}\r\n\
From: \"Customer {c}\" <{from_text}>\r\nTo: Acme Support <{service}>\r\nSubject: {subject}\r\n\
Message-ID: {message_id}\r\nDate: {date}\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            text.replace('\n', "\r\n")
        )
        .into_bytes();
        Mail {
            customer: c,
            from: EmailAddress::parse(&from_text).unwrap_or_else(|| service.clone()),
            subject,
            text,
            message_id,
            raw,
        }
    }
}

/// What both paths report.
#[derive(Default, Serialize)]
struct Counts {
    tickets: u64,
    acknowledgements: u64,
    notifications: u64,
    seconds: f64,
}

/// The exact path: the daemon's own calls, one mail at a time.
fn fill_exact(
    cfg: &Config,
    templates: &Templates,
    store: &Store,
    maker: &mut MailMaker,
    range: std::ops::Range<u64>,
    (batch, unsent): (u64, u64),
    at: &dyn Fn(u64) -> UnixTime,
) -> anyhow::Result<Counts> {
    let started = Instant::now();
    let mut counts = Counts::default();
    // The tickets whose mail stays queued (`--unsent`).
    let mut queued = std::collections::HashSet::<TicketId>::new();
    let mut uid = store.cursor(FILL_MAILBOX)?.map_or(0, |c| c.last_uid);
    let mut n = range.start;
    while n < range.end {
        let end = (n + batch).min(range.end);
        let fetched: Vec<Fetched> = (n..end)
            .map(|i| {
                uid += 1;
                Fetched {
                    uid,
                    raw: maker.mail(i, at(i)).raw,
                }
            })
            .collect();
        let seqs = store.store_fetched(FILL_MAILBOX, FILL_UID_VALIDITY, &fetched, at(n))?;
        ensure!(
            seqs.len() == fetched.len(),
            "some generated mails were not stored"
        );
        for (i, (seq, mail)) in (n..end).zip(seqs.iter().zip(&fetched)) {
            let t = at(i);
            let date = UNIX_EPOCH + Duration::from_secs(t as u64);
            let decision = decide(&mail.raw, *seq, cfg, templates, store, t, date)?;
            let outcome = store
                .record_outcome(
                    *seq,
                    decision.message_id.as_deref(),
                    true,
                    &decision.plan,
                    t,
                )?
                .outcome;
            let Outcome::NewTicket { ticket, .. } = outcome else {
                bail!("generated mail {i} did not open a ticket: {outcome:?}");
            };
            if i + unsent >= range.end {
                queued.insert(ticket);
            }
            counts.tickets += 1;
        }
        // The outbox sends everything: 2xx, the entry leaves, only the highest id sent is kept.
        let (due, _) = store.due(i64::MAX, usize::MAX)?;
        for entry in due
            .iter()
            .filter(|e| !e.ticket.is_some_and(|t| queued.contains(&t)))
        {
            match entry.kind {
                MailKind::Acknowledgement => counts.acknowledgements += 1,
                MailKind::AgentNotification => counts.notifications += 1,
                _ => {}
            }
            store.mark_sent(entry, SENT_RESPONSE, entry.created_at + 1)?;
        }
        let jobs = store.flag_jobs(FILL_MAILBOX)?;
        store.flag_jobs_done(FILL_MAILBOX, &jobs)?;
        n = end;
    }
    store.flush_blocking()?;
    counts.seconds = started.elapsed().as_secs_f64();
    Ok(counts)
}

/// A customer as the bulk path tracks them in memory.
struct CustomerState {
    record: CustomerRecord,
    /// The agent of their last ticket and when it was last touched (sticky routing).
    last: Option<(AgentEmail, UnixTime)>,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn from_be(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_be_bytes(b)
}

fn uid_key(mailbox: &str, uid_validity: u32, uid: u32) -> Vec<u8> {
    let mut k = mailbox.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&uid_validity.to_be_bytes());
    k.extend_from_slice(&uid.to_be_bytes());
    k
}

fn json<T: Serialize>(v: &T) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

/// Opens the store's sled database directly, for bulk writes: no periodic flush (one flush
/// at the end), and a larger cache while writing. Retries while the store just closed.
fn open_sled(state_dir: &Path) -> anyhow::Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new()
            .path(state_dir.join("db"))
            .cache_capacity(256 * 1024 * 1024)
            .flush_every_ms(None)
            .open()
        {
            Ok(db) => return Ok(db),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e).context("opening the store's sled database"),
        }
    }
}

/// Trees the bulk path writes.
struct Trees {
    meta: sled::Tree,
    cursors: sled::Tree,
    inbound: sled::Tree,
    raw: sled::Tree,
    by_uid: sled::Tree,
    digests: sled::Tree,
    tickets: sled::Tree,
    msgids: sled::Tree,
    customers: sled::Tree,
    agents: sled::Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> anyhow::Result<Trees> {
        let t = |name: &str| db.open_tree(name);
        Ok(Trees {
            meta: t("meta")?,
            cursors: t("cursors")?,
            inbound: t("inbound")?,
            raw: t("raw")?,
            by_uid: t("by_uid")?,
            digests: t("digests")?,
            tickets: t("tickets")?,
            msgids: t("msgids")?,
            customers: t("customers")?,
            agents: t("agents")?,
        })
    }
}

/// One sled batch per tree, applied together.
#[derive(Default)]
struct Batches {
    inbound: sled::Batch,
    raw: sled::Batch,
    by_uid: sled::Batch,
    digests: sled::Batch,
    tickets: sled::Batch,
    msgids: sled::Batch,
}

impl Batches {
    /// Applies the batches, the trees in two groups of about equal cost side by side.
    fn apply(self, t: &Trees) -> anyhow::Result<()> {
        let Batches {
            inbound,
            raw,
            by_uid,
            digests,
            tickets,
            msgids,
        } = self;
        std::thread::scope(|s| {
            let other = s.spawn(|| -> sled::Result<()> {
                t.msgids.apply_batch(msgids)?;
                t.by_uid.apply_batch(by_uid)?;
                t.inbound.apply_batch(inbound)
            });
            t.raw.apply_batch(raw)?;
            t.tickets.apply_batch(tickets)?;
            t.digests.apply_batch(digests)?;
            match other.join() {
                Ok(r) => Ok(r?),
                Err(_) => bail!("a writer thread panicked"),
            }
        })
    }
}

/// The bulk path: the records of [`fill_exact`], without its per-mail transactions.
fn fill_bulk(
    cfg: &Config,
    db: &sled::Db,
    maker: &mut MailMaker,
    range: std::ops::Range<u64>,
    batch: u64,
    at: &dyn Fn(u64) -> UnixTime,
) -> anyhow::Result<Counts> {
    let started = Instant::now();
    let mut counts = Counts::default();
    let trees = Trees::open(db)?;
    let meta_u64 = |key: &str| -> anyhow::Result<Option<u64>> {
        Ok(trees.meta.get(key)?.map(|v| from_be(&v)))
    };
    let mut next_ticket = meta_u64("next_ticket")?.unwrap_or(TicketId::FIRST.get());
    let mut sent_high = 0u64;
    let mut uid = match trees.cursors.get(FILL_MAILBOX)? {
        Some(v) => serde_json::from_slice::<Cursor>(&v)?.last_uid,
        None => 0,
    };
    // Round-robin counters and open-ticket counts, read once, written at the end.
    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut open: HashMap<AgentEmail, u64> = HashMap::new();
    let mut away: HashMap<AgentEmail, bool> = HashMap::new();
    for agent in &cfg.agents {
        let key = format!("open:{}", agent.email);
        open.insert(agent.email.clone(), meta_u64(&key)?.unwrap_or(0));
        #[derive(Deserialize)]
        struct AgentRecord {
            away: bool,
        }
        let is_away = match trees.agents.get(agent.email.to_string())? {
            Some(v) => serde_json::from_slice::<AgentRecord>(&v)?.away,
            None => false,
        };
        away.insert(agent.email.clone(), is_away);
    }
    let mut customers: HashMap<u64, CustomerState> = HashMap::new();
    let secret = cfg.token_key().to_vec();
    let domain = cfg.service.address.domain().to_string();
    let recipients = vec![cfg.service.address.clone()];

    // Building a batch (mails, routing, JSON) overlaps with writing the previous one.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batches>(1);
    let writer_trees = Trees::open(db)?;
    let writer = std::thread::spawn(move || -> anyhow::Result<()> {
        for b in rx {
            b.apply(&writer_trees)?;
        }
        Ok(())
    });
    let mut n = range.start;
    while n < range.end {
        let end = (n + batch).min(range.end);
        let mut b = Batches::default();
        for i in n..end {
            let t = at(i);
            let mail = maker.mail(i, t);
            let seq = db.generate_id()?;
            uid += 1;
            let id = TicketId::new(next_ticket);
            next_ticket += 1;

            // The customer as the store knows them (records of the exact path included).
            let cust = match customers.entry(mail.customer) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let record: CustomerRecord =
                        match trees.customers.get(mail.from.without_detail().as_str())? {
                            Some(v) => serde_json::from_slice(&v)?,
                            None => CustomerRecord::default(),
                        };
                    let last = match record.tickets.last() {
                        Some(t) => trees
                            .tickets
                            .get(be(t.get()))?
                            .map(|v| serde_json::from_slice::<Ticket>(&v))
                            .transpose()?
                            .map(|t| (t.agent, t.updated_at)),
                        None => None,
                    };
                    e.insert(CustomerState { record, last })
                }
            };

            // Routing exactly as `decide` does it, over the counters kept here.
            let now_ts = jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let facts = MailFacts {
                recipients: &recipients,
                sender: Some(&mail.from),
                subject: &mail.subject,
                body: &mail.text,
            };
            let load = |e: &AgentEmail| AgentLoad {
                open: open.get(e).copied().unwrap_or(0) as usize,
                away: away.get(e).copied().unwrap_or(false),
            };
            let counter = |k: &str| counters.get(k).copied().unwrap_or(0);
            let Some(assignment) = route::assign(
                cfg,
                &facts,
                cust.last.as_ref().map(|(a, t)| (a, *t)),
                now_ts,
                &load,
                &counter,
            ) else {
                bail!("no agent is configured to take the ticket");
            };
            let not_acknowledged = if !cfg.ack.enabled {
                Some(SuppressReason::AcknowledgementsDisabled)
            } else if cust
                .record
                .acks
                .iter()
                .filter(|&&a| a >= t.saturating_sub(86_400))
                .count()
                >= cfg.ack.per_sender_per_day as usize
            {
                Some(SuppressReason::RateLimited)
            } else {
                None
            };

            let mut ticket = TicketBuilder::new(id, mail.from.clone())
                .customer_name(format!("Customer {}", mail.customer))
                .subject(mail.subject.clone())
                .agent(assignment.agent.clone())
                .created_at(t)
                .messages(vec![TicketMessage {
                    at: t,
                    direction: Direction::Inbound,
                    message_id: Some(mail.message_id.clone()),
                    from: Some(mail.from.clone()),
                    subject: mail.subject.clone(),
                    inbound_seq: Some(seq),
                    outbox_id: None,
                    suppressed: not_acknowledged,
                    note: None,
                }])
                .pool(assignment.pool_key.clone())
                .build();
            cust.record.tickets.push(id);
            cust.record.acks.retain(|&a| a > t.saturating_sub(86_400));
            let stamp = frontdesk::domain::TicketStamp { id, opened: t };
            let mut outgoing = Vec::with_capacity(2);
            if not_acknowledged.is_none() {
                outgoing.push((
                    MailKind::Acknowledgement,
                    frontdesk::mail::relay::message_id(
                        &secret,
                        frontdesk::domain::MessageIdKind::Ack,
                        stamp,
                        seq,
                        &domain,
                    ),
                ));
                cust.record.acks.push(t);
                counts.acknowledgements += 1;
            }
            outgoing.push((
                MailKind::AgentNotification,
                frontdesk::mail::relay::message_id(
                    &secret,
                    frontdesk::domain::MessageIdKind::Notify,
                    stamp,
                    seq,
                    &domain,
                ),
            ));
            counts.notifications += 1;
            b.msgids.insert(mail.message_id.as_bytes(), &be(id.get()));
            // Our own ids are not indexed (the store resolves them from the ticket's
            // history), and a sent mail leaves only the highest id sent.
            for (kind, message_id) in outgoing {
                let oid = db.generate_id()?;
                sent_high = sent_high.max(oid);
                if kind == MailKind::AgentNotification && ticket.notify_root.is_none() {
                    ticket.notify_root = Some(message_id.clone());
                }
                ticket.messages.push(TicketMessage {
                    at: t,
                    direction: Direction::of(kind),
                    message_id: Some(message_id),
                    from: None,
                    subject: String::new(),
                    inbound_seq: None,
                    outbox_id: Some(oid),
                    suppressed: None,
                    note: None,
                });
            }
            *counters.entry(assignment.pool_key.clone()).or_insert(0) += 1;
            *open.entry(assignment.agent.clone()).or_insert(0) += 1;
            cust.last = Some((assignment.agent.clone(), t));

            let record = Inbound {
                seq,
                mailbox: FILL_MAILBOX.to_string(),
                uid_validity: FILL_UID_VALIDITY,
                uid: uid as u32,
                stored_at: t,
                size: mail.raw.len(),
                outcome: Some(Outcome::NewTicket {
                    ticket: id,
                    not_acknowledged,
                }),
                message_id: Some(mail.message_id.clone()),
            };
            let digest = sha2::Sha256::digest(&mail.raw);
            b.inbound.insert(&be(seq), json(&record)?);
            b.by_uid.insert(
                uid_key(FILL_MAILBOX, FILL_UID_VALIDITY, uid as u32),
                &be(seq),
            );
            b.digests.insert(&digest[..16], &be(seq));
            b.raw.insert(&be(seq), mail.raw);
            b.tickets.insert(&be(id.get()), json(&ticket)?);
            counts.tickets += 1;
        }
        if tx.send(b).is_err() {
            break; // the writer failed; its error is returned below
        }
        n = end;
    }
    drop(tx);
    match writer.join() {
        Ok(r) => r?,
        Err(_) => bail!("the writer thread panicked"),
    }
    // The per-customer records, counters and the cursor, once.
    let mut cb = sled::Batch::default();
    for (c, state) in &customers {
        let addr = format!("customer{c}@customer.test");
        cb.insert(addr.as_bytes(), json(&state.record)?);
    }
    trees.customers.apply_batch(cb)?;
    let mut mb = sled::Batch::default();
    mb.insert("next_ticket", &be(next_ticket));
    for (pool, n) in &counters {
        mb.insert(format!("rr:{pool}").as_bytes(), &be(*n));
    }
    for (agent, n) in &open {
        mb.insert(format!("open:{agent}").as_bytes(), &be(*n));
    }
    if sent_high > 0 {
        let old = meta_u64(SENT_HIGH)?.unwrap_or(0);
        mb.insert(SENT_HIGH, &be(sent_high.max(old)));
    }
    trees.meta.apply_batch(mb)?;
    trees.cursors.insert(
        FILL_MAILBOX,
        json(&Cursor {
            uid_validity: FILL_UID_VALIDITY,
            last_uid: uid as u32,
            last_stored_at: at(range.end.saturating_sub(1)),
        })?,
    )?;
    db.flush()?;
    counts.seconds = started.elapsed().as_secs_f64();
    Ok(counts)
}

/// Reads tickets of both paths back through [`Store`], as the daemon and the CLI do; fails
/// if the bulk records do not match the store's layout.
fn verify(
    store: &Store,
    (first, exact_end, end): (TicketId, TicketId, TicketId),
    unsent: u64,
) -> anyhow::Result<()> {
    let mut samples = vec![first, TicketId::new(end.get() - 1)];
    if exact_end > first {
        samples.push(TicketId::new(exact_end.get() - 1));
    }
    if end > exact_end {
        samples.push(exact_end);
        samples.push(TicketId::new((exact_end.get() + end.get()) / 2));
    }
    ensure!(
        store.peek_next_ticket()? == end,
        "next_ticket is {} instead of {end}",
        store.peek_next_ticket()?
    );
    for id in samples.into_iter().filter(|id| *id >= first && *id < end) {
        let ticket = store
            .ticket(id)?
            .with_context(|| format!("ticket {id} is missing"))?;
        ensure!(ticket.id == id, "ticket {id} has the id {}", ticket.id);
        for m in &ticket.messages {
            let mid = m.message_id.as_deref().context("message without id")?;
            ensure!(
                store.ticket_by_message_id(mid)? == Some(id),
                "{mid} does not lead to ticket {id}"
            );
            // Ours resolve from the history only: the same id with another code does not.
            if let Some((head, tail)) = mid.rsplit_once('@')
                && MessageIdKind::ticket_of(mid) == Some(id)
            {
                let other = if head.ends_with('x') { 'y' } else { 'x' };
                let forged = format!("{}{other}@{tail}", &head[..head.len() - 1]);
                ensure!(
                    store.ticket_by_message_id(&forged)?.is_none(),
                    "the made-up {forged} leads to a ticket"
                );
            }
        }
        ensure!(
            store.customer_tickets(&ticket.customer)?.contains(&id),
            "ticket {id} is not in its customer's history"
        );
        let _ = store.acks_since(&ticket.customer, 0)?;
        let seq = ticket.messages[0]
            .inbound_seq
            .context("no inbound mail on the ticket")?;
        let inbound = store.inbound(seq)?.context("inbound record missing")?;
        ensure!(
            matches!(inbound.outcome, Some(Outcome::NewTicket { ticket, .. }) if ticket == id),
            "stored mail {seq} has the wrong outcome"
        );
        let raw = store.raw(seq)?.context("raw mail missing")?;
        ensure!(store.has_digest(&raw)?, "digest of mail {seq} missing");
        ensure!(
            store.has_uid(FILL_MAILBOX, inbound.uid_validity, inbound.uid)?,
            "UID index of mail {seq} missing"
        );
        let load = store.agent_load(&ticket.agent)?;
        ensure!(load.open > 0, "agent {} has no open tickets", ticket.agent);
    }
    ensure!(store.pending()?.is_empty(), "mail left pending");
    // An acknowledgement and a notification for each ticket left unsent.
    ensure!(
        store.outbox_entries()?.len() as u64 == 2 * unsent,
        "mail left in the outbox"
    );
    ensure!(store.flag_jobs(FILL_MAILBOX)?.is_empty(), "flag jobs left");
    // Schema 3: the Message-ID index holds the customers' ids only (at most one per
    // ticket here: each opened with one mail), and sent mail leaves no record.
    let records: HashMap<&str, usize> = store.record_counts()?.into_iter().collect();
    let tickets = end.get() - TicketId::FIRST.get();
    ensure!(
        records["msgids"] as u64 <= tickets,
        "{} Message-IDs indexed for {tickets} tickets",
        records["msgids"]
    );
    ensure!(records["sent"] == 0, "sent records written");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg =
        Config::load(&args.config).with_context(|| format!("loading {}", args.config.display()))?;
    let templates = Templates::load(cfg.service.templates_dir.as_deref())?;
    let started = Instant::now();
    let state_dir = cfg.service.state_dir.clone();
    let store = Store::open(&state_dir)
        .with_context(|| format!("opening the store in {}", state_dir.display()))?;
    let now = frontdesk::domain::now();
    let spread = (args.spread_days * 86_400) as i64;
    let count = args.count;
    // Creation times rise with the ticket number, like a real history.
    let at = move |i: u64| now - spread + (spread * i as i64) / count.max(1) as i64;
    let mut maker = MailMaker {
        rng: Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        customers: (args.count / args.tickets_per_customer.max(1)).max(1),
        service: cfg.service.address.clone(),
    };
    let first = store.peek_next_ticket()?;
    let exact_n = args.exact.min(args.count);
    let exact = fill_exact(
        &cfg,
        &templates,
        &store,
        &mut maker,
        0..exact_n,
        (args.batch, args.unsent),
        &at,
    )?;
    let exact_end = store.peek_next_ticket()?;
    let bulk = if exact_n < args.count {
        drop(store);
        let db = open_sled(&state_dir)?;
        let counts = fill_bulk(&cfg, &db, &mut maker, exact_n..args.count, args.batch, &at)?;
        drop(db);
        counts
    } else {
        drop(store);
        Counts::default()
    };
    // Read back through the store, as the daemon would (waiting for sled's lock). The first
    // open after a bulk write is slow: sled replays the whole log written since its last
    // snapshot and writes a new one; the daemon's next start is fast again.
    let reopen_started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = loop {
        match Store::open(&state_dir) {
            Ok(s) => break s,
            Err(frontdesk::store::StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let reopen_seconds = reopen_started.elapsed().as_secs_f64();
    let end = store.peek_next_ticket()?;
    let verify_started = Instant::now();
    verify(&store, (first, exact_end, end), args.unsent.min(exact_n))?;
    let verify_seconds = verify_started.elapsed().as_secs_f64();
    let records: serde_json::Map<String, serde_json::Value> = store
        .record_counts()?
        .into_iter()
        .map(|(tree, n)| (tree.to_string(), n.into()))
        .collect();
    drop(store);
    let secs = started.elapsed().as_secs_f64();
    // One line of JSON for the benchmark script.
    println!(
        "{}",
        serde_json::json!({
            "added": args.count,
            "first_ticket": first.get(),
            "last_ticket": end.get().saturating_sub(1),
            "customers": maker.customers,
            "exact": exact,
            "bulk": bulk,
            "reopen_seconds": reopen_seconds,
            "verify_seconds": verify_seconds,
            "records": records,
            "seconds": secs,
            "per_second": args.count as f64 / secs,
        })
    );
    Ok(())
}
