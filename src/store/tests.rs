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

/// Set in the child process that [`many_concurrent_flushes_all_finish`] runs the storm in.
const FLUSH_STORM: &str = "FRONTDESK_TEST_FLUSH_STORM";

/// sled 0.34.7's `flush_async` runs the flush on sled's own pool of seven threads and
/// queues the log write that flush waits for on the same pool: seven flushes at once wait
/// for ever (sled issue #1308), and writes block behind them. One inbox loop each, the
/// outbox and the SLA loop can line up that many. The storm runs in a child process (this
/// test binary, filtered to [`flush_storm`]): a deadlocked pool cannot be recovered inside
/// a process, it would hang every later test here, and it blocks the runtime's own threads,
/// so only a deadline outside the process turns the hang into a failure.
#[test]
fn many_concurrent_flushes_all_finish() {
    let deadline = std::time::Duration::from_secs(60);
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "store::tests::flush_storm", "--nocapture"])
        .env(FLUSH_STORM, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the flush storm");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the flush storm") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("concurrent flushes still waiting after {deadline:?}: deadlocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("the storm's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        status.success() && stdout.contains("test store::tests::flush_storm ... ok"),
        "the flush storm failed ({status}):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The storm itself: every round writes from twelve tasks at once, each flushing after its
/// own write, and every flush must finish. Does nothing unless [`FLUSH_STORM`] is set (a
/// plain `cargo test` runs it through [`many_concurrent_flushes_all_finish`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_storm() {
    const FLUSHERS: u32 = 12;
    const ROUNDS: u32 = 20;
    if std::env::var_os(FLUSH_STORM).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    for round in 0..ROUNDS {
        let flushes = (0..FLUSHERS).map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let raw = format!("Subject: round {round} task {task}\r\n\r\nx").into_bytes();
                let batch = [Fetched {
                    uid: round + 1,
                    raw,
                }];
                store.store_fetched(&format!("INBOX{task}"), 1, &batch, 100)?;
                store.flush().await
            })
        });
        for flushed in futures::future::join_all(flushes).await {
            flushed.expect("the task ran").expect("flush");
        }
    }
    assert_eq!(
        store.pending().expect("pending").len(),
        (FLUSHERS * ROUNDS) as usize
    );
}

/// A queued mail to ops numbered `n`: the smallest outbox entry, for backup and restore tests.
pub(super) fn alert(n: u64) -> crate::domain::OutgoingMail {
    use crate::domain::{EmailAddress, MailKind, OutgoingMail};
    OutgoingMail {
        kind: MailKind::OpsAlert,
        message_id: format!("<alert.{n}@example.test>"),
        envelope_from: None,
        recipients: vec![EmailAddress::parse("ops@example.test").expect("address")],
        inbox: EmailAddress::parse("support@example.test").expect("address"),
        raw: format!("Subject: alert {n}\r\n\r\nbody").into_bytes(),
    }
}

/// The quarantine is counted from its index, kept with every change of a mail's quarantine;
/// a store written before the index builds it once when opened.
#[test]
fn the_quarantine_index_follows_quarantine_and_release_and_is_built_for_older_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let fetched: Vec<_> = (1..=3)
        .map(|uid| Fetched {
            uid,
            raw: format!("From: a@customer.test\r\n\r\nmail {uid}").into_bytes(),
        })
        .collect();
    let seqs = store
        .store_fetched("support@example.test/INBOX", 7, &fetched, 0)
        .expect("stored");
    for &seq in &seqs[..2] {
        store
            .record_outcome(seq, None, false, &Plan::Quarantine("forged".into()), 0)
            .expect("quarantined");
    }
    assert_eq!(store.quarantined_count().expect("count"), 2);
    store.release(seqs[0]).expect("released");
    assert_eq!(store.quarantined_count().expect("count"), 1);

    // As an older store: no index, no marker.
    for k in store.meta.scan_prefix(QUARANTINE_PREFIX).keys() {
        store.meta.remove(k.expect("key")).expect("remove");
    }
    store.meta.remove(QUARANTINE_INDEXED).expect("marker");
    store.flush_blocking().expect("flush");
    assert_eq!(store.quarantined_count().expect("count"), 0);
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.quarantined_count().expect("count"), 1);
}
