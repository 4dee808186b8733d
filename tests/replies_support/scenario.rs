//! The one ticket every reply case answers, made by the crate itself: Casey's mail decided
//! into ticket #1001 with its real notification to Jason (marker, header block, Reply-To
//! with the token for the test key), and the store as the daemon holds it once that
//! decision is committed (the ticket, its mails' Message-IDs indexed, Casey's mail stored).

use std::time::{Duration, SystemTime};

use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::{Decision, decide};
use frontdesk::domain::{MailKind, OutgoingMail, Plan, Ticket, TicketId, UnixTime};
use frontdesk::testing::MemStore;

/// The ticket every case answers.
pub const TICKET: u64 = 1001;
/// When Casey's mail is decided (and the notification dated): Thu, 3 Dec 2026 14:09 UTC.
pub const NOTIFIED_AT: UnixTime = 1_796_306_940;
/// When the answers are decided, 25 minutes later.
pub const ANSWERED_AT: UnixTime = NOTIFIED_AT + 1500;
/// The stored mail number of Casey's mail (the notification's Message-ID depends on it).
const CUSTOMER_SEQ: u64 = 1;
/// The stored mail number of the agent's answer.
const ANSWER_SEQ: u64 = 2;

pub use super::render::{CUSTOMER_TEXT, Notification};

/// The configuration: two agents, Jason first.
pub fn config() -> Config {
    frontdesk::testing::config(
        r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"

[[agents]]
name = "Maria Lopez"
email = "maria@example.test"
"#,
    )
}

/// The built-in templates.
pub fn templates() -> Templates {
    Templates::load(None).expect("built-in templates")
}

fn date(at: UnixTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(at.unsigned_abs())
}

/// Casey's mail, with `text` as its body.
pub fn customer_mail(text: &str) -> Vec<u8> {
    format!(
        "Return-Path: <casey@customer.test>\r\nFrom: Casey Customer <casey@customer.test>\r\n\
To: Acme Support <support@example.test>\r\nSubject: Charged twice for order 4417\r\n\
Date: Thu, 03 Dec 2026 14:08:12 +0000\r\nMessage-ID: <c4sey-4417@customer.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{}",
        text.replace('\n', "\r\n")
    )
    .into_bytes()
}

/// The ticket as the daemon holds it after Casey's mail, with the mails that decision sent.
pub struct Opened {
    /// The ticket, the sent mails recorded on it.
    pub ticket: Ticket,
    /// The acknowledgement and the notification.
    pub outgoing: Vec<OutgoingMail>,
    /// Casey's mail.
    pub raw: Vec<u8>,
}

/// Decides Casey's mail (body `text`) into ticket #1001, as processing and committing it do.
pub fn open(cfg: &Config, templates: &Templates, text: &str) -> Opened {
    let raw = customer_mail(text);
    let state = MemStore::default().with_next_ticket(TicketId::new(TICKET));
    let Ok(decision) = decide(
        &raw,
        CUSTOMER_SEQ,
        cfg,
        templates,
        &state,
        NOTIFIED_AT,
        date(NOTIFIED_AT),
    );
    let Plan::NewTicket {
        mut ticket,
        outgoing,
        ..
    } = decision.plan
    else {
        panic!("Casey's mail did not open a ticket: {:?}", decision.plan);
    };
    for (i, mail) in outgoing.iter().enumerate() {
        ticket.record_sent(mail, i as u64 + 1, NOTIFIED_AT);
    }
    Opened {
        ticket,
        outgoing,
        raw,
    }
}

impl Opened {
    /// The notification to Jason, read back from the bytes we would send.
    pub fn notification(&self) -> Notification {
        let mail = self
            .outgoing
            .iter()
            .find(|m| m.kind == MailKind::AgentNotification)
            .expect("a notification");
        let n = Notification::from_mail(&mail.raw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            n.agent, "jason@example.test",
            "the notification goes to Jason"
        );
        assert_eq!(
            n.message_id, mail.message_id,
            "the Message-ID it was sent with"
        );
        n
    }

    /// The store the daemon holds once the decision is committed.
    pub fn store(&self) -> MemStore {
        let id = self.ticket.id;
        let mut store = MemStore::default()
            .with_ticket(self.ticket.clone())
            .with_inbound(CUSTOMER_SEQ, &self.raw);
        for m in &self.ticket.messages {
            if let Some(mid) = &m.message_id {
                store = store.with_message_id(mid, id);
            }
        }
        store
    }
}

/// Decides an agent's answer `raw` against `store`, as the daemon would 25 minutes later.
pub fn answer(raw: &[u8], cfg: &Config, templates: &Templates, store: &MemStore) -> Decision {
    let Ok(decision) = decide(
        raw,
        ANSWER_SEQ,
        cfg,
        templates,
        store,
        ANSWERED_AT,
        date(ANSWERED_AT),
    );
    decision
}
