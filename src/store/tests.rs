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
        participants: vec![],
        action: crate::domain::AgentAction::Noted { then: state },
        wait: None,
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
        splices: Vec::new(),
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
    let store = reopen(dir.path());
    assert_eq!(store.quarantined_count().expect("count"), 1);
}

/// Issue 12: a mail's bytes are a file, not a sled record; an outgoing mail too big for
/// sled's log is a file until it is sent; what a crash leaves is tidied when the store opens.
#[test]
fn mail_bytes_live_in_files_and_big_outgoing_mail_leaves_with_its_sending() {
    use crate::domain::MailKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // A 1 KB mail stays in sled; a 100 KB one (an attachment) is a file.
    let small = b"From: a@customer.test\r\nSubject: s\r\n\r\nbody".to_vec();
    let mut big = b"From: b@customer.test\r\nSubject: s\r\n\r\n".to_vec();
    big.resize(100_000, b'x');
    let mails = [
        Fetched {
            uid: 1,
            raw: small.clone(),
        },
        Fetched {
            uid: 2,
            raw: big.clone(),
        },
    ];
    let seqs = store.store_fetched("INBOX", 1, &mails, 0).expect("store");
    assert_eq!(store.raw(seqs[0]).expect("raw"), Some(small.clone()));
    assert_eq!(store.raw(seqs[1]).expect("raw"), Some(big.clone()));
    assert_eq!(
        store.files.ids(files::Kind::In).expect("ids"),
        vec![seqs[1]]
    );
    assert!(store.raw.contains_key(be(seqs[0])).expect("get"));
    assert!(
        !store.raw.contains_key(be(seqs[1])).expect("get"),
        "no copy in sled"
    );
    let raw = small;

    // A 200 KB notification (an attachment) is a file; a small acknowledgement is not.
    let plan = new_ticket(&store, "a@customer.test");
    let Plan::NewTicket {
        ticket, pool_key, ..
    } = plan
    else {
        unreachable!()
    };
    let mut big = alert(1);
    big.kind = MailKind::AgentNotification;
    big.raw.resize(200_000, b'x');
    let small = alert(2);
    let plan = Plan::NewTicket {
        ticket,
        pool_key,
        not_acknowledged: None,
        outgoing: vec![small.clone(), big.clone()],
    };
    store
        .record_outcome(seqs[0], None, true, &plan, 1)
        .expect("commit");
    let queued = store.outbox_entries().expect("outbox");
    assert_eq!(queued.len(), 2);
    let files = store.files.ids(files::Kind::Out).expect("ids");
    assert_eq!(files.len(), 1, "only the big one is a file");
    for e in &queued {
        let want = if e.message_id == big.message_id {
            &big.raw
        } else {
            &small.raw
        };
        assert_eq!(store.outbox_raw(e.id).expect("bytes").as_ref(), Some(want));
    }
    // Both were accepted in one round: they leave together, and only the big one's bytes
    // are a file to remove.
    let accepted: Vec<Accepted> = queued
        .iter()
        .map(|e| Accepted {
            entry: e.clone(),
            response: "250 ok".into(),
            at: 2,
        })
        .collect();
    assert_eq!(store.mark_sent_all(&accepted).expect("sent"), files);
    assert_eq!(store.outbox_counts().expect("counts"), (0, 0), "both left");
    assert_eq!(store.outbox_due.len(), 0, "with their due keys");
    for e in &queued {
        assert!(
            !store.sent.contains_key(be(e.id)).expect("get"),
            "no sent record"
        );
        assert!(!store.outbox_raw.contains_key(be(e.id)).expect("get"));
    }
    let high = queued.iter().map(|e| e.id).max();
    assert_eq!(
        store.meta.get(SENT_HIGH).expect("get").map(|v| from_be(&v)),
        high,
        "the highest id sent is kept"
    );
    // Until the outbox's flush made the round durable, the bytes stay (a crash
    // before it sends the mail again from them); then they go.
    assert_eq!(store.files.ids(files::Kind::Out).expect("ids"), files);
    store.drop_sent_files(&files).expect("drop");
    assert!(
        store.files.ids(files::Kind::Out).expect("ids").is_empty(),
        "gone once sent"
    );

    // A file no entry names (its transaction never committed), an incoming mail's file
    // whose record never committed, and a half-written one are gone when the store opens
    // again.
    store
        .files
        .write_durably(files::Kind::Out, &[(999_999, b"orphan")])
        .expect("write");
    let unrecorded = seqs[1] + 1;
    store
        .files
        .write_durably(files::Kind::In, &[(unrecorded, b"never recorded")])
        .expect("write");
    let tmp = store
        .files
        .path(files::Kind::Out, 5)
        .with_file_name(".tmp-0000000000000005");
    std::fs::write(&tmp, b"half").expect("tmp");
    drop(store);
    let store = reopen(dir.path());
    assert!(store.files.ids(files::Kind::Out).expect("ids").is_empty());
    assert_eq!(
        store.files.ids(files::Kind::In).expect("ids"),
        vec![seqs[1]],
        "the recorded big mail stays, the orphan goes"
    );
    assert!(!tmp.exists());
    assert_eq!(store.raw(seqs[0]).expect("raw"), Some(raw));
}

/// Retention deletes old bodies, and each run starts where the last stopped.
#[test]
fn retention_purges_from_where_it_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut seqs = Vec::new();
    for (uid, at) in [(1, 10), (2, 20), (3, 30)] {
        let raw = format!("Subject: {uid}\r\n\r\nx").into_bytes();
        let s = store
            .store_fetched("INBOX", 1, &[Fetched { uid, raw }], at)
            .expect("store");
        let plan = Plan::Suppress(SuppressReason::RateLimited);
        store
            .record_outcome(s[0], None, false, &plan, at)
            .expect("commit");
        seqs.extend(s);
    }
    assert_eq!(store.purge_raw_before(25).expect("purge"), 2);
    assert_eq!(store.raw(seqs[0]).expect("raw"), None);
    assert!(store.raw(seqs[2]).expect("raw").is_some());
    // A body the first run already purged is not looked at again: put one back by hand, and
    // the next run leaves it (it starts after the mails it did).
    store
        .files
        .write_durably(files::Kind::In, &[(seqs[0], b"back")])
        .expect("write");
    assert_eq!(store.purge_raw_before(35).expect("purge"), 1);
    assert!(store.raw(seqs[0]).expect("raw").is_some());
    assert_eq!(store.raw(seqs[2]).expect("raw"), None);
}

/// Opens the store again once the previous handle's lock is gone.
fn reopen(dir: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.expect("reopen"),
        }
    }
}

/// Schema 1 kept every body in sled's `raw` tree: opened by this build, a store with big
/// mails there is backed up, they become files and leave the tree, small ones stay; a crash
/// before the schema was raised redoes the rest without a second backup.
#[test]
fn a_store_with_big_bodies_in_sled_moves_them_to_files_after_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mails: Vec<Fetched> = (1..=3)
        .map(|uid| {
            let mut raw = format!("Subject: {uid}\r\n\r\nbody {uid}").into_bytes();
            if uid > 1 {
                raw.resize(70_000 * uid as usize, b'x');
            }
            Fetched { uid, raw }
        })
        .collect();
    let seqs = store.store_fetched("INBOX", 1, &mails, 0).expect("store");
    // As schema 1 had it: every body in the tree.
    let as_schema_1 = |store: &Store| {
        for (seq, m) in seqs.iter().zip(&mails) {
            store
                .raw
                .insert(be(*seq), m.raw.as_slice())
                .expect("insert");
        }
        store.files.remove(files::Kind::In, &seqs).expect("remove");
        store.meta.insert("schema", &be(1)).expect("schema");
        store.db.flush().expect("flush");
    };
    as_schema_1(&store);
    drop(store);

    let store = reopen(dir.path());
    for (seq, m) in seqs.iter().zip(&mails) {
        assert_eq!(store.raw(*seq).expect("raw").as_ref(), Some(&m.raw));
    }
    assert_eq!(store.files.ids(files::Kind::In).expect("ids"), seqs[1..]);
    assert_eq!(store.raw.len(), 1, "the small one stays in sled");
    assert_eq!(
        store.meta.get("schema").expect("get").map(|v| from_be(&v)),
        Some(3)
    );
    let backups = |dir: &Path| {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter(|e| {
                let name = e.as_ref().expect("entry").file_name();
                name.to_string_lossy().starts_with("store-schema-1-")
            })
            .count()
    };
    assert_eq!(backups(dir.path()), 1);

    // Interrupted before the schema was raised: done again, no second backup.
    as_schema_1(&store);
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.files.ids(files::Kind::In).expect("ids"), seqs[1..]);
    assert_eq!(store.raw.len(), 1);
    assert_eq!(backups(dir.path()), 1, "no second backup");
}

/// The outbox's due index: `due` reads entries in the order of their next attempt, a retry
/// moves an entry back in that order, a sent or dead entry leaves it, and a store written
/// before the index builds it when opened.
#[test]
fn the_due_index_orders_the_outbox_by_next_attempt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    for n in 1..=4 {
        store.queue_standalone(&alert(n), 100).expect("queued");
    }
    let ids = |v: &[crate::domain::OutboxEntry]| v.iter().map(|e| e.id).collect::<Vec<_>>();
    let (all, next) = store.due(100, 10).expect("due");
    assert_eq!(all.len(), 4);
    assert_eq!(next, None, "nothing waits");
    let (two, _) = store.due(100, 2).expect("due");
    assert_eq!(ids(&two), ids(&all[..2]), "oldest first, at most the limit");

    // The first two fail for now: retried at 300 and 200.
    store.mark_retry(&all[0], 300, "421 busy").expect("retry");
    store.mark_retry(&all[1], 200, "421 busy").expect("retry");
    let (now_due, next) = store.due(150, 10).expect("due");
    assert_eq!(ids(&now_due), ids(&all[2..]));
    assert_eq!(next, Some(200), "the earliest retry");
    store.mark_sent(&all[2], "250 ok", 150).expect("sent");
    store.mark_dead(&all[3], "550 no", 150).expect("dead");
    let (later, _) = store.due(1000, 10).expect("due");
    assert_eq!(ids(&later), vec![all[1].id, all[0].id], "by next attempt");
    assert_eq!(store.outbox_due.len(), 2, "one key per queued entry");

    // A store from before the index: the key set is rebuilt when it opens.
    store.outbox_due.clear().expect("clear");
    store.meta.remove(OUTBOX_DUE_INDEXED).expect("marker");
    store.db.flush().expect("flush");
    drop(store);
    let store = reopen(dir.path());
    let (later, _) = store.due(1000, 10).expect("due");
    assert_eq!(ids(&later), vec![all[1].id, all[0].id]);
    // A retried dead letter is due again at once.
    assert_eq!(store.retry_dead(None, 1000).expect("retry"), 1);
    let (again, _) = store.due(1000, 10).expect("due");
    assert_eq!(again.first().map(|e| e.id), Some(all[3].id));
}

/// Issue 14: the first answer records the customer's wait in working time on the ticket and
/// among its agent's recent samples, in the same commit; later answers add nothing.
#[test]
fn the_first_answer_is_recorded_as_a_first_response_sample_once() {
    use crate::domain::{AnswerWait, MailKind};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let batch: Vec<Fetched> = (1..=3)
        .map(|uid| Fetched {
            uid,
            raw: vec![uid as u8],
        })
        .collect();
    let seqs = store.store_fetched("INBOX", 1, &batch, 0).expect("store");
    store
        .record_outcome(
            seqs[0],
            None,
            true,
            &new_ticket(&store, "a@customer.test"),
            0,
        )
        .expect("new");
    let jason = AgentEmail::new(addr("jason@example.test"));
    let answer = |n: u64, waited: u64| Plan::Agent {
        ticket: TicketId::FIRST,
        message: TicketMessage {
            at: 0,
            direction: Direction::FromAgent,
            message_id: None,
            from: None,
            subject: String::new(),
            inbound_seq: None,
            outbox_id: None,
            suppressed: None,
            note: None,
        },
        outgoing: vec![ours(
            MailKind::AgentReply,
            &format!("<reply.{n}@example.test>"),
            "a@customer.test",
        )],
        state: None,
        reassign: None,
        participants: vec![],
        action: crate::domain::AgentAction::Relayed { then: None },
        wait: Some(AnswerWait {
            agent: jason.clone(),
            working_seconds: waited,
        }),
    };
    store
        .record_outcome(seqs[1], None, false, &answer(1, 5400), 7200)
        .expect("first answer");
    store
        .record_outcome(seqs[2], None, false, &answer(2, 9000), 9000)
        .expect("second answer");
    let t = store
        .ticket(TicketId::FIRST)
        .expect("read")
        .expect("ticket");
    assert_eq!(t.first_response_at, Some(7200));
    assert_eq!(t.first_response_working, Some(5400));
    let samples = store.first_responses(&jason).expect("read");
    assert_eq!(
        samples,
        vec![crate::domain::FirstResponse {
            at: 7200,
            working_seconds: 5400
        }]
    );
}

/// Automatic mail to customers (a reminder, a closing mail, a handover note) counts against
/// the hourly limit the acknowledgement obeys; a note to the agent does not.
#[test]
fn automatic_mail_to_customers_counts_against_the_hourly_limit() {
    use crate::domain::{MailKind, TicketChange};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let batch = vec![Fetched {
        uid: 1,
        raw: b"x".to_vec(),
    }];
    let seqs = store.store_fetched("INBOX", 1, &batch, 0).expect("store");
    store
        .record_outcome(
            seqs[0],
            None,
            true,
            &new_ticket(&store, "a@customer.test"),
            0,
        )
        .expect("new");
    let mail =
        |kind: MailKind, n: u64| ours(kind, &format!("<m.{n}@example.test>"), "a@customer.test");
    let now = 7_200;
    let before = store.acks_in_hour(now).expect("read");
    let outgoing = [
        mail(MailKind::Reminder, 1),
        mail(MailKind::Handover, 2),
        mail(MailKind::AgentNotice, 3),
    ];
    let change = TicketChange {
        state: None,
        reassign: None,
        outgoing: &outgoing,
        note: "test",
        only_if_unanswered: false,
        only_if_updated_at: None,
        reminded: false,
    };
    assert!(
        store
            .record_ops(TicketId::FIRST, &change, now)
            .expect("ops")
    );
    assert_eq!(store.acks_in_hour(now).expect("read"), before + 2);
}

/// A mail of `kind` about a ticket, with Message-ID `message_id`, to `to`.
fn ours(kind: crate::domain::MailKind, message_id: &str, to: &str) -> crate::domain::OutgoingMail {
    use crate::domain::{EmailAddress, OutgoingMail};
    OutgoingMail {
        kind,
        message_id: message_id.to_string(),
        envelope_from: None,
        recipients: vec![EmailAddress::parse(to).expect("address")],
        inbox: EmailAddress::parse("support@example.test").expect("address"),
        raw: b"Subject: x\r\n\r\nbody".to_vec(),
        splices: Vec::new(),
    }
}

/// Two tickets, each opened by a customer's mail with its own id and acknowledged with one
/// of ours: `(ticket, our id)` of each.
fn two_acknowledged_tickets(store: &Store) -> [(TicketId, String); 2] {
    use crate::domain::MailKind;
    let batch: Vec<Fetched> = (1..=2)
        .map(|uid| Fetched {
            uid,
            raw: format!("Subject: {uid}\r\n\r\nx").into_bytes(),
        })
        .collect();
    let seqs = store.store_fetched("INBOX", 1, &batch, 0).expect("store");
    let mut out = Vec::new();
    for (seq, who) in seqs.iter().zip(["hal", "ida"]) {
        let customer = format!("{who}@customer.test");
        let Plan::NewTicket {
            ticket, pool_key, ..
        } = new_ticket(store, &customer)
        else {
            unreachable!("new_ticket makes a new ticket")
        };
        let ack = format!("<ack.{}.c0de{who}@example.test>", ticket.id);
        let plan = Plan::NewTicket {
            ticket: ticket.clone(),
            pool_key,
            not_acknowledged: None,
            outgoing: vec![ours(MailKind::Acknowledgement, &ack, &customer)],
        };
        let theirs = format!("<{who}@customer.test>");
        store
            .record_outcome(*seq, Some(&theirs), true, &plan, 0)
            .expect("record");
        out.push((ticket.id, ack));
    }
    [out[0].clone(), out[1].clone()]
}

/// Schema 3: our own Message-IDs are not indexed; they resolve from the ticket they name,
/// and only if its history holds them, so a made-up code, another ticket's number, a ticket
/// that does not exist or a forgotten customer's ticket resolve to nothing. Customers' own
/// ids stay in the index.
#[test]
fn our_message_ids_resolve_from_the_ticket_history_without_an_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let [(first, ack1), (second, ack2)] = two_acknowledged_tickets(&store);
    assert_eq!(store.msgids.len(), 2, "only the customers' ids are indexed");
    let lookup = |id: &str| store.ticket_by_message_id(id).expect("lookup");
    assert_eq!(lookup(&ack1), Some(first));
    assert_eq!(lookup(&ack2), Some(second));
    assert_eq!(lookup("<hal@customer.test>"), Some(first));
    for made_up in [
        format!("<ack.{first}.c0deida@example.test>"),
        format!("<ack.{second}.c0dehal@example.test>"),
        format!("<notify.{first}.c0dehal@example.test>"),
        "<ack.9999.c0dehal@example.test>".to_string(),
        format!("<ack.{first}.@example.test>"),
        format!("ack.{first}"),
    ] {
        assert_eq!(lookup(&made_up), None, "{made_up}");
    }
    let hal = crate::domain::EmailAddress::parse("hal@customer.test").expect("address");
    store.forget_customer(&hal, &[], 10).expect("forget");
    assert_eq!(lookup(&ack1), None, "a forgotten ticket's ids lead nowhere");
    assert_eq!(lookup("<hal@customer.test>"), None);
    assert_eq!(lookup(&ack2), Some(second));
}

/// Schema 2 → 3: our ids leave the Message-ID index and the `sent` records go, the highest
/// sent id kept for a restore's counter, after a backup; the customers' ids, the tickets and
/// the threading they give stay. Opened again, nothing more happens.
#[test]
fn a_schema_2_store_drops_our_ids_and_sent_records_after_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let [(first, ack1), (second, ack2)] = two_acknowledged_tickets(&store);
    let (due, _) = store.due(i64::MAX, 10).expect("due");
    assert_eq!(due.len(), 2);
    store.mark_sent(&due[0], "250 ok", 1).expect("sent");
    // As schema 2 wrote it: our ids indexed, a record per sent mail, no high-water mark.
    store
        .msgids
        .insert(ack1.as_bytes(), &be(first.get()))
        .expect("index");
    store
        .msgids
        .insert(ack2.as_bytes(), &be(second.get()))
        .expect("index");
    // An id shaped like ours that no history holds (as an older build might have indexed).
    store
        .msgids
        .insert("<ack.1001.other@example.test>", &be(second.get()))
        .expect("index");
    store
        .sent
        .insert(be(due[0].id), b"{}".as_slice())
        .expect("sent");
    store.sent.insert(be(3), b"{}".as_slice()).expect("sent");
    store.meta.remove(SENT_HIGH).expect("meta");
    store.meta.insert("schema", &be(2)).expect("schema");
    store.db.flush().expect("flush");
    drop(store);

    let backups = |dir: &Path| {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter(|e| {
                let name = e.as_ref().expect("entry").file_name();
                name.to_string_lossy().starts_with("store-schema-2-")
            })
            .count()
    };
    let store = reopen(dir.path());
    assert_eq!(backups(dir.path()), 1, "backed up first");
    assert_eq!(
        store.meta.get("schema").expect("get").map(|v| from_be(&v)),
        Some(3)
    );
    assert_eq!(store.sent.len(), 0);
    assert_eq!(
        store.meta.get(SENT_HIGH).expect("get").map(|v| from_be(&v)),
        Some(due[0].id.max(3))
    );
    let mut kept: Vec<String> = store
        .msgids
        .iter()
        .keys()
        .map(|k| String::from_utf8(k.expect("key").to_vec()).expect("utf-8"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "<ack.1001.other@example.test>",
            "<hal@customer.test>",
            "<ida@customer.test>"
        ],
        "only ours that resolve from their ticket go"
    );
    assert_eq!(
        store.ticket_by_message_id(&ack1).expect("lookup"),
        Some(first)
    );
    assert_eq!(
        store.ticket_by_message_id(&ack2).expect("lookup"),
        Some(second)
    );
    assert_eq!(
        store.outbox_entries().expect("outbox").len(),
        1,
        "the queued one stays"
    );
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.msgids.len(), 3);
    assert_eq!(backups(dir.path()), 1, "no second backup");
}

/// A restore moves sled's id counter past the highest id sent (schema 3 keeps no record per
/// sent mail): no new outbox entry takes the id, or the file name, of a mail already sent.
#[test]
fn a_restore_hands_out_no_id_of_a_sent_mail_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("a")).expect("open");
    for n in 1..=3 {
        store.queue_standalone(&alert(n), 0).expect("queued");
    }
    let (due, _) = store.due(i64::MAX, 10).expect("due");
    let last = due.last().expect("entries").clone();
    store.mark_sent(&last, "250 ok", 1).expect("sent");
    for e in &due[..2] {
        store.mark_sent(e, "250 ok", 1).expect("sent");
    }
    assert_eq!(store.outbox_entries().expect("outbox").len(), 0);
    // Nothing but the high-water mark remembers the sent ids.
    assert!(store.inbound.is_empty() && store.dead.is_empty() && store.sent.is_empty());
    let mut out = Vec::new();
    store
        .backup(&mut out, tempfile::tempfile().expect("scratch"))
        .expect("backup");
    drop(store);
    let (r, _) = Store::restore(&dir.path().join("b"), &mut &out[..]).expect("restore");
    assert!(r.new_id().expect("id") > last.id);
}
