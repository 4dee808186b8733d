//! What the store keeps about a person, and how it goes away: `customer export` (everything
//! about one address, as JSON), `customer forget` (erase it; tickets keep a tombstone) and the
//! retention loop that deletes message bodies older than `[retention] body_days`.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{error, info};

use crate::domain::{DeadLetter, Direction, EmailAddress, Inbound, OutboxEntry, Ticket, UnixTime};
use crate::reload::Live;
use crate::store::{ForgetStats, Store, StoreError};

/// Everything stored about one customer.
#[derive(Debug, Serialize)]
pub struct CustomerExport {
    /// The address asked about.
    pub address: String,
    /// When the export was made.
    pub exported_at: UnixTime,
    /// Their tickets with the whole history.
    pub tickets: Vec<Ticket>,
    /// Every stored mail from them, with its bytes while retention keeps them.
    pub mails: Vec<ExportedMail>,
    /// Mail to them still waiting to be sent.
    pub outbox: Vec<OutboxEntry>,
    /// Mail to them that could not be sent.
    pub dead_letters: Vec<DeadLetter>,
    /// Times of acknowledgements sent to them in the last day (for the rate limit).
    pub recent_acknowledgements: Vec<UnixTime>,
}

/// One stored incoming mail in an export.
#[derive(Debug, Serialize)]
pub struct ExportedMail {
    /// The record: mailbox, UID, arrival, outcome.
    pub record: Inbound,
    /// The raw message as text (invalid UTF-8 replaced), if not yet purged by retention.
    pub raw: Option<String>,
}

/// The stored mails that came from `customer`: those in their tickets, and any other stored
/// mail whose From is theirs (suppressed or quarantined mail opens no ticket).
pub fn customer_mails(store: &Store, customer: &EmailAddress) -> Result<Vec<u64>, StoreError> {
    let tickets = store.customer_record(customer)?.tickets;
    let mut seqs = Vec::new();
    for id in tickets {
        if let Some(t) = store.ticket(id)? {
            seqs.extend(t.messages.iter().filter_map(|m| {
                (m.direction == Direction::Inbound && m.from.as_ref() == Some(&t.customer))
                    .then_some(m.inbound_seq)
                    .flatten()
            }));
        }
    }
    let me = customer.without_detail();
    for record in store.inbound_all()? {
        if seqs.contains(&record.seq) {
            continue;
        }
        let Some(raw) = store.raw(record.seq)? else {
            continue;
        };
        let from = mail_parser::MessageParser::default()
            .parse_headers(&raw)
            .and_then(|m| {
                m.from()
                    .and_then(|f| f.first())
                    .and_then(|a| a.address())
                    .and_then(EmailAddress::parse)
            });
        if from.is_some_and(|f| f.without_detail() == me) {
            seqs.push(record.seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// `customer export EMAIL`.
pub fn export(store: &Store, customer: &EmailAddress) -> Result<CustomerExport, StoreError> {
    let crate::domain::CustomerRecord { tickets: ids, acks } = store.customer_record(customer)?;
    let mut tickets = Vec::new();
    for id in &ids {
        tickets.extend(store.ticket(*id)?);
    }
    let mut mails = Vec::new();
    for seq in customer_mails(store, customer)? {
        if let Some(record) = store.inbound(seq)? {
            let raw = store
                .raw(seq)?
                .map(|r| String::from_utf8_lossy(&r).into_owned());
            mails.push(ExportedMail { record, raw });
        }
    }
    let me = customer.without_detail();
    let theirs = |e: &OutboxEntry| {
        e.ticket.is_some_and(|t| ids.contains(&t))
            || e.recipients.iter().any(|r| r.without_detail() == me)
    };
    Ok(CustomerExport {
        address: customer.to_string(),
        exported_at: crate::domain::now(),
        tickets,
        mails,
        outbox: store
            .outbox_entries()?
            .into_iter()
            .filter(|e| theirs(e))
            .collect(),
        dead_letters: store
            .dead_letters()?
            .into_iter()
            .filter(|d| theirs(&d.entry))
            .collect(),
        recent_acknowledgements: acks,
    })
}

/// `customer forget EMAIL`: erases the customer's data (tickets become tombstones).
pub fn forget(store: &Store, customer: &EmailAddress) -> Result<ForgetStats, StoreError> {
    let seqs = customer_mails(store, customer)?;
    store.forget_customer(customer, &seqs, crate::domain::now())
}

/// Deletes message bodies older than `[retention] body_days`, hourly, until `shutdown`.
pub async fn run_retention(store: Store, live: Arc<Live>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Some(keep) = live.snapshot().cfg.retention.body {
            let cutoff = crate::domain::now() - keep.as_secs() as i64;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.purge_raw_before(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(
                    event = "retention.purged",
                    mails = n,
                    "message bodies past the retention period deleted"
                ),
                Ok(Err(e)) => error!(error = %e, "retention purge failed; will retry"),
                Err(e) => error!(error = %e, "retention purge failed; will retry"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fetched;

    /// Alice's first mail: it opens her ticket.
    const ALICE_FIRST: &str = "From: Alice <alice@customer.test>\r\nTo: support@example.test\r\nSubject: Secret plans\r\nMessage-ID: <a1@customer.test>\r\n\r\nMy account number is 12345.\r\n";

    /// A store with one ticket from Alice (raw mail stored) and one suppressed mail of hers.
    fn store_with_alice() -> (tempfile::TempDir, Store, EmailAddress) {
        store_with(&[
            ALICE_FIRST,
            "From: alice@customer.test\r\nTo: support@example.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n",
        ])
    }

    /// A store that fetched and processed `raws` from the support INBOX, in order.
    fn store_with(raws: &[&str]) -> (tempfile::TempDir, Store, EmailAddress) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let cfg = crate::testing::config(
            "[[agents]]\nname = \"Jason\"\nemail = \"jason@example.test\"\n",
        );
        let templates = crate::compose::Templates::load(None).expect("templates");
        let fetched: Vec<Fetched> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| Fetched {
                uid: i as u32 + 1,
                raw: r.as_bytes().to_vec(),
            })
            .collect();
        let seqs = store
            .store_fetched("support@example.test/INBOX", 1, &fetched, 100)
            .expect("stored");
        let live = Arc::new(Live::new(crate::reload::Snapshot::new(cfg, templates)));
        let processor = crate::processor::Processor::new(store.clone(), live, Default::default());
        for seq in seqs {
            processor.process(seq).expect("processed");
        }
        let alice = EmailAddress::parse("alice@customer.test").expect("address");
        (dir, store, alice)
    }

    #[test]
    fn export_holds_everything_and_forget_leaves_a_tombstone() {
        let (_dir, store, alice) = store_with_alice();
        let export = export(&store, &alice).expect("export");
        assert_eq!(export.tickets.len(), 1);
        assert_eq!(export.tickets[0].language.as_deref(), Some("en"));
        assert_eq!(
            export.mails.len(),
            2,
            "the ticket's mail and the suppressed one"
        );
        let json = serde_json::to_string(&export).expect("json");
        assert!(json.contains("My account number is 12345"), "{json}");
        assert!(
            !export.outbox.is_empty(),
            "the acknowledgement still queued"
        );

        let stats = forget(&store, &alice).expect("forget");
        assert_eq!(stats.tickets, 1);
        assert_eq!(stats.mails, 2);
        let t = store
            .ticket(export.tickets[0].id)
            .expect("read")
            .expect("tombstone");
        assert!(t.forgotten_at.is_some());
        assert_eq!(t.customer.as_str(), crate::domain::FORGOTTEN);
        assert_eq!(t.state, crate::domain::TicketState::Closed);
        assert_eq!(t.language, None, "the language was hers too");
        let tomb = serde_json::to_string(&t).expect("json");
        for secret in ["alice", "Alice", "Secret plans", "a1@customer.test"] {
            assert!(!tomb.contains(secret), "{secret} left in {tomb}");
        }
        let after = super::export(&store, &alice).expect("export");
        assert!(after.tickets.is_empty() && after.mails.is_empty() && after.outbox.is_empty());
        for m in &export.mails {
            assert_eq!(store.raw(m.record.seq).expect("raw"), None, "bytes erased");
        }
    }

    /// Whether any tree of `store` holds `text` (in a key or a value).
    fn stored_anywhere(store: &Store, text: &str) -> bool {
        let mut all = Vec::new();
        let scratch = tempfile::tempfile().expect("scratch file");
        store.backup(&mut all, scratch).expect("every tree");
        all.windows(text.len()).any(|w| w == text.as_bytes())
    }

    /// Issue 17: forget leaves none of the customer's Message-IDs in any tree: not in the
    /// records of her mails (her first mail, another delivery of it, a suppressed one), not
    /// in the threading index, not on the tombstone; also once retention has purged the
    /// bodies that showed whose mail it was.
    #[test]
    fn forget_leaves_no_message_id_in_any_tree() {
        let raws = [
            ALICE_FIRST.to_string(),
            format!("Delivered-To: support+billing@example.test\r\n{ALICE_FIRST}"),
            "From: alice@customer.test\r\nTo: support@example.test\r\nSubject: Away\r\n\
Message-ID: <ooo1@customer.test>\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n"
                .to_string(),
        ];
        let raws: Vec<&str> = raws.iter().map(String::as_str).collect();
        for purged_first in [false, true] {
            let (_dir, store, alice) = store_with(&raws);
            let ids: &[&str] = if purged_first {
                // Without the bodies, only her tickets show which mails were hers.
                assert_eq!(store.purge_raw_before(101).expect("purge"), 3);
                &["<a1@customer.test>"]
            } else {
                &["<a1@customer.test>", "<ooo1@customer.test>"]
            };
            for id in ids {
                assert!(stored_anywhere(&store, id), "{id} stored before");
            }
            forget(&store, &alice).expect("forget");
            for id in ids {
                assert!(
                    !stored_anywhere(&store, id),
                    "{id} left after forget (purged first: {purged_first})"
                );
            }
        }
    }

    #[test]
    fn retention_purges_old_bodies_and_keeps_the_records() {
        let (_dir, store, alice) = store_with_alice();
        assert_eq!(
            store.purge_raw_before(50).expect("purge"),
            0,
            "nothing that old"
        );
        assert_eq!(store.purge_raw_before(101).expect("purge"), 2);
        let export = export(&store, &alice).expect("export");
        assert_eq!(export.tickets.len(), 1, "metadata kept");
        assert!(export.mails.iter().all(|m| m.raw.is_none()));
    }
}
