//! The metrics' and health summary's unit tests.

use super::*;

fn ticket(n: u64) -> TicketId {
    TicketId::new(n)
}

fn agent(address: &str) -> crate::domain::AgentEmail {
    crate::domain::AgentEmail::new(crate::domain::EmailAddress::parse(address).expect("address"))
}

/// The value of the sample `series` (name and labels) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn acknowledgement_latency_runs_from_notice_to_acceptance() {
    let m = Metrics::new();
    let t = ticket(1042);
    m.ack_started(t, Instant::now() - Duration::from_millis(30));
    let took = m
        .sent(MailKind::Acknowledgement, Some(t))
        .expect("clock ran");
    assert!(took >= Duration::from_millis(30), "{took:?}");
    // The clock is used once; other kinds never measure.
    assert_eq!(m.sent(MailKind::Acknowledgement, Some(t)), None);
    m.ack_started(ticket(7), Instant::now());
    assert_eq!(m.sent(MailKind::AgentNotification, Some(ticket(7))), None);
}

#[test]
fn the_exposition_names_every_family_the_docs_promise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    m.ingested(3);
    m.processed(&Outcome::Suppressed {
        reason: crate::domain::SuppressReason::AutoSubmitted,
    });
    m.processed(&Outcome::Agent {
        ticket: TicketId::new(1042),
        action: crate::domain::AgentAction::Refused(crate::domain::Refusal::new(
            crate::domain::RefusalKind::NotInThread,
            "not a reply",
        )),
    });
    m.processed(&Outcome::Agent {
        ticket: TicketId::new(1042),
        action: crate::domain::AgentAction::Relayed { then: None },
    });
    m.imap_up("support");
    m.first_response("jason@example.test", Duration::from_secs(120));
    m.rating("jason@example.test", 4);
    let text = m.render(&store, &[agent("jason@example.test")], None);
    for needle in [
        "frontdesk_mails_ingested_total 3",
        "frontdesk_mails_processed_total{outcome=\"suppressed\"} 1",
        "frontdesk_mails_suppressed_total{reason=\"auto_submitted\"} 1",
        "frontdesk_mails_processed_total{outcome=\"agent\"} 2",
        "frontdesk_agent_mails_total{action=\"refused\",reason=\"not_in_thread\"} 1",
        "frontdesk_agent_mails_total{action=\"relayed\",reason=\"\"} 1",
        "frontdesk_imap_connected{inbox=\"support\"} 1",
        "frontdesk_outbox_depth 0",
        "frontdesk_dead_letters 0",
        "frontdesk_outbox_oldest_age_seconds 0",
        "frontdesk_open_tickets{agent=\"jason@example.test\"} 0",
        "# TYPE frontdesk_ack_latency_seconds histogram",
        "# TYPE frontdesk_first_response_seconds histogram",
        "frontdesk_first_response_seconds_count{agent=\"jason@example.test\"} 1",
        "# TYPE frontdesk_rating histogram",
        "frontdesk_rating_bucket{le=\"3.0\",agent=\"jason@example.test\"} 0",
        "frontdesk_rating_bucket{le=\"4.0\",agent=\"jason@example.test\"} 1",
        "frontdesk_rating_sum{agent=\"jason@example.test\"} 4.0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn health_degrades_while_a_worker_is_stalled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    m.stalls(&[Stall {
        worker: "ingest support".into(),
        silent_for: Duration::from_secs(75),
    }]);
    let h = m.health(&store);
    assert_eq!(h.status, "degraded");
    assert_eq!(
        h.problems,
        [
            "ingest support has made no progress for 75 s: stuck in the daemon's own work or the store"
        ]
    );
    m.stalls(&[]);
    assert_eq!(m.health(&store).status, "ok");
}

#[test]
fn health_degrades_while_an_inbox_is_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    m.imap_expected("support");
    let h = m.health(&store);
    assert_eq!(h.status, "degraded");
    m.imap_up("support");
    let h = m.health(&store);
    assert_eq!(h.status, "ok", "{:?}", h.problems);
    m.imap_down("support", "connection refused");
    let h = m.health(&store);
    assert_eq!(h.status, "degraded");
    assert!(
        h.problems[0].contains("connection refused"),
        "{:?}",
        h.problems
    );
}

#[test]
fn label_values_are_snake_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    m.processed(&Outcome::NewTicket {
        ticket: ticket(1),
        not_acknowledged: None,
    });
    for reason in crate::domain::SuppressReason::ALL {
        m.processed(&Outcome::Suppressed { reason });
    }
    for kind in [
        MailKind::Acknowledgement,
        MailKind::AgentNotification,
        MailKind::AgentReply,
        MailKind::AgentNotice,
        MailKind::Escalation,
        MailKind::OpsAlert,
        MailKind::Closing,
        MailKind::Reminder,
    ] {
        m.sent(kind, None);
    }
    let text = m.render(&store, &[], None);
    assert!(text.contains("outcome=\"new_ticket\""), "{text}");
    assert!(text.contains("kind=\"agent_notification\""), "{text}");
    assert!(text.contains("reason=\"auto_submitted\""), "{text}");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        let labels = labels.split('}').next().unwrap_or_default();
        for value in labels.split(',').filter_map(|kv| kv.split_once('=')) {
            assert!(!value.1.contains('-'), "{line}");
        }
    }
}

#[test]
fn build_reload_and_backup_state_are_exposed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    let before = super::unix_now();
    let text = m.render(&store, &[], Some(Duration::from_secs(86_400)));
    let series = format!(
        "frontdesk_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &series), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "frontdesk_config_last_reload_successful"),
        Some(1.0)
    );
    let loaded = sample(
        &text,
        "frontdesk_config_last_reload_success_timestamp_seconds",
    )
    .expect("reload time");
    assert!(loaded > 0.0 && loaded <= before + 1.0, "{loaded}");
    assert_eq!(
        sample(&text, "frontdesk_backup_last_success_timestamp_seconds"),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "frontdesk_backup_interval_seconds"),
        Some(86_400.0)
    );

    // A refused reload: 0, and the time of the last good one stays.
    m.reload(false);
    let text = m.render(&store, &[], None);
    assert_eq!(
        sample(&text, "frontdesk_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "frontdesk_config_last_reload_success_timestamp_seconds"
        ),
        Some(loaded)
    );
    assert_eq!(
        sample(&text, "frontdesk_backup_interval_seconds"),
        Some(0.0)
    );
    m.reload(true);
    let text = m.render(&store, &[], None);
    assert_eq!(
        sample(&text, "frontdesk_config_last_reload_successful"),
        Some(1.0)
    );

    // Backups: the newest time wins, whatever the order they are reported in.
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    m.backup_written(t);
    m.backup_written(t - Duration::from_secs(3600));
    let text = m.render(&store, &[], None);
    assert_eq!(
        sample(&text, "frontdesk_backup_last_success_timestamp_seconds"),
        Some(1_800_000_000.0)
    );
}

#[test]
fn the_quarantine_gauge_counts_the_mail_held_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let fetched: Vec<_> = (1..=3)
        .map(|uid| crate::domain::Fetched {
            uid,
            raw: format!("From: a@customer.test\r\n\r\nmail {uid}").into_bytes(),
        })
        .collect();
    let seqs = store
        .store_fetched("support@example.test/INBOX", 7, &fetched, 0)
        .expect("stored");
    let m = Metrics::new();
    let gauge = |m: &Metrics| sample(&m.render(&store, &[], None), "frontdesk_quarantined_mails");
    assert_eq!(gauge(&m), Some(0.0));
    for &seq in &seqs[..2] {
        store
            .record_outcome(
                seq,
                None,
                false,
                &crate::domain::Plan::Quarantine("forged".into()),
                0,
            )
            .expect("quarantined");
    }
    assert_eq!(gauge(&m), Some(2.0));
    store.release(seqs[0]).expect("released");
    assert_eq!(gauge(&m), Some(1.0));
}

#[test]
fn an_agent_removed_from_the_configuration_loses_its_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    let (a, b) = (agent("a@example.test"), agent("b@example.test"));
    let text = m.render(&store, &[a.clone(), b], None);
    assert!(
        text.contains("frontdesk_open_tickets{agent=\"b@example.test\"} 0"),
        "{text}"
    );
    let text = m.render(&store, &[a], None);
    assert!(
        text.contains("frontdesk_open_tickets{agent=\"a@example.test\"} 0"),
        "{text}"
    );
    assert!(!text.contains("b@example.test"), "{text}");
}
