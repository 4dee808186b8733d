//! The store's own tests: transactions, indexes, counters, locking.
use super::*;
use crate::domain::{
    Direction, Fetched, FlagJob, Outcome, Plan, ServerMark, SuppressReason, TicketMessage,
    TicketState,
};
use crate::testing::{TicketBuilder, addr};

fn new_ticket(store: &Store, customer: &str) -> Plan {
    let id = store.peek_next_ticket().expect("peek");
    Plan::NewTicket {
        ticket: TicketBuilder::new(id, addr(customer)).subject("s").build(),
        pool_key: "all".into(),
        not_acknowledged: Some(SuppressReason::RateLimited),
        outgoing: vec![],
    }
}

#[tokio::test]
async fn stored_mail_survives_reopen_and_is_not_stored_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        let batch = vec![Fetched {
            uid: 5,
            raw: b"Subject: a\r\n\r\nx".to_vec(),
        }];
        let seqs = store.store_fetched("INBOX", 7, &batch, 100).expect("store");
        assert_eq!(seqs.len(), 1);
        let again = store.store_fetched("INBOX", 7, &batch, 100).expect("store");
        assert!(again.is_empty(), "a UID is stored once");
        store.flush().await.expect("flush");
    }
    // sled's flusher thread releases the directory lock shortly after the last handle
    // is dropped: within one process, wait for it (with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let store = loop {
        match Store::open(dir.path()) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => break other.expect("reopen"),
        }
    };
    assert_eq!(store.pending().expect("pending").len(), 1);
    let c = store.cursor("INBOX").expect("cursor").expect("some");
    assert_eq!((c.uid_validity, c.last_uid), (7, 5));
}

#[test]
fn identical_bytes_under_a_new_uid_are_not_a_new_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let raw = b"From: a@customer.test\r\n\r\nsame".to_vec();
    let first = store
        .store_fetched(
            "INBOX",
            1,
            &[Fetched {
                uid: 1,
                raw: raw.clone(),
            }],
            0,
        )
        .expect("store");
    let again = store
        .store_fetched("INBOX", 1, &[Fetched { uid: 9, raw }], 0)
        .expect("store");
    assert_eq!(first.len(), 1);
    assert!(
        again.is_empty(),
        "moved back or re-uploaded: not processed twice"
    );
    assert_eq!(
        store
            .cursor("INBOX")
            .expect("cursor")
            .expect("some")
            .last_uid,
        9
    );
}

#[test]
fn an_incoming_message_id_never_takes_over_an_indexed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let seqs = store
        .store_fetched(
            "INBOX",
            1,
            &[
                Fetched {
                    uid: 1,
                    raw: b"a".to_vec(),
                },
                Fetched {
                    uid: 2,
                    raw: b"b".to_vec(),
                },
            ],
            0,
        )
        .expect("store");
    let first = new_ticket(&store, "hal@customer.test");
    store
        .record_outcome(seqs[0], Some("<same@x>"), true, &first, 0)
        .expect("record");
    let second = new_ticket(&store, "ida@customer.test");
    store
        .record_outcome(seqs[1], Some("<same@x>"), true, &second, 0)
        .expect("record");
    assert_eq!(
        store.ticket_by_message_id("<same@x>").expect("lookup"),
        Some(TicketId::FIRST),
        "the second mail with the same id does not redirect the first one's replies"
    );
}

#[test]
fn detail_addresses_share_one_customer_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let seqs = store
        .store_fetched(
            "INBOX",
            1,
            &[Fetched {
                uid: 1,
                raw: b"a".to_vec(),
            }],
            0,
        )
        .expect("store");
    let plan = new_ticket(&store, "alice+shop@customer.test");
    store
        .record_outcome(seqs[0], None, true, &plan, 0)
        .expect("record");
    assert_eq!(
        store
            .customer_tickets(&addr("alice@customer.test"))
            .expect("lookup"),
        vec![TicketId::FIRST]
    );
    assert_eq!(
        store
            .customer_tickets(&addr("alice+other@customer.test"))
            .expect("lookup"),
        vec![TicketId::FIRST]
    );
}

#[test]
fn open_counters_follow_the_ticket_state_and_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let batch: Vec<Fetched> = (1..=5)
        .map(|uid| Fetched {
            uid,
            raw: vec![uid as u8],
        })
        .collect();
    let seqs = store.store_fetched("INBOX", 1, &batch, 0).expect("store");
    let jason = AgentEmail::new(addr("jason@example.test"));
    let maria = AgentEmail::new(addr("maria@example.test"));
    let open = |a: &AgentEmail| store.agent_load(a).expect("load").open;
    store
        .record_outcome(
            seqs[0],
            None,
            true,
            &new_ticket(&store, "a@customer.test"),
            0,
        )
        .expect("new");
    assert_eq!(open(&jason), 1);
    let agent_plan = |state, reassign| Plan::Agent {
        ticket: TicketId::FIRST,
        message: TicketMessage {
            at: 0,
            direction: Direction::Note,
            message_id: None,
            from: None,
            subject: String::new(),
            inbound_seq: None,
            outbox_id: None,
            suppressed: None,
            note: None,
        },
        outgoing: vec![],
        state,
        reassign,
        action: crate::domain::AgentAction::Noted { then: state },
    };
    store
        .record_outcome(
            seqs[1],
            None,
            false,
            &agent_plan(Some(TicketState::Closed), None),
            0,
        )
        .expect("close");
    assert_eq!(open(&jason), 0, "closing releases capacity");
    store
        .record_outcome(
            seqs[2],
            None,
            false,
            &agent_plan(Some(TicketState::Open), None),
            0,
        )
        .expect("reopen");
    assert_eq!(open(&jason), 1);
    store
        .record_outcome(
            seqs[3],
            None,
            false,
            &agent_plan(None, Some(maria.clone())),
            0,
        )
        .expect("assign");
    assert_eq!(
        (open(&jason), open(&maria)),
        (0, 1),
        "assigning moves the ticket"
    );
}

#[test]
fn second_open_reports_the_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Store::open(dir.path()).expect("open");
    match Store::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second open must fail"),
    }
}

#[test]
fn ticket_numbers_count_up_and_outcome_is_recorded_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let seqs = store
        .store_fetched(
            "INBOX",
            1,
            &[
                Fetched {
                    uid: 1,
                    raw: b"a".to_vec(),
                },
                Fetched {
                    uid: 2,
                    raw: b"b".to_vec(),
                },
            ],
            0,
        )
        .expect("store");
    let plan = new_ticket(&store, "alice@customer.test");
    let o1 = store
        .record_outcome(seqs[0], Some("<m1@x>"), true, &plan, 0)
        .expect("record");
    assert!(matches!(o1.outcome, Outcome::NewTicket { ticket, .. } if ticket == TicketId::FIRST));
    // Replaying the same plan for the same mail changes nothing.
    let again = store
        .record_outcome(seqs[0], Some("<m1@x>"), true, &plan, 0)
        .expect("replay");
    assert_eq!(again, o1);
    assert_eq!(store.peek_next_ticket().expect("peek"), TicketId::new(1002));
    // A stale plan (reserved number already taken) is refused.
    let stale = store.record_outcome(seqs[1], None, true, &plan, 0);
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert_eq!(
        store.ticket_by_message_id("<m1@x>").expect("lookup"),
        Some(TicketId::FIRST)
    );
    assert_eq!(store.pending().expect("pending"), vec![seqs[1]]);
    assert_eq!(
        store.flag_jobs("INBOX").expect("jobs"),
        vec![FlagJob {
            uid_validity: 1,
            uid: 1,
            mark: ServerMark::Handled,
        }]
    );
    // Suppressed mail gets only the handled keyword (it stays unread).
    let suppressed = store
        .record_outcome(
            seqs[1],
            None,
            false,
            &Plan::Suppress(crate::domain::SuppressReason::AutoSubmitted),
            0,
        )
        .expect("suppress");
    assert!(matches!(suppressed.outcome, Outcome::Suppressed { .. }));
    let jobs = store.flag_jobs("INBOX").expect("jobs");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        jobs.iter()
            .any(|j| j.uid == 2 && j.mark == ServerMark::KeywordOnly),
        "{jobs:?}"
    );
}
