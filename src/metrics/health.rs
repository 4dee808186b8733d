//! `/healthz`: what the daemon knows about its inboxes, outbox and workers, as JSON with a
//! verdict (`ok` or `degraded`) and the problems in words.

use std::time::SystemTime;

use serde::Serialize;

use super::{Metrics, OUTBOX_STUCK_AFTER};
use crate::store::Store;

impl Metrics {
    /// The health summary: degraded when a worker is stalled, an inbox is down or the
    /// outbox is stuck.
    pub fn health(&self, store: &Store) -> Health {
        let s = self.state();
        let mut inboxes: Vec<InboxHealth> = s
            .inboxes
            .iter()
            .map(|(name, st)| InboxHealth {
                inbox: name.clone(),
                connected: st.connected_since.is_some(),
                session_age_s: st.connected_since.map(|(i, _)| i.elapsed().as_secs()),
                connected_since: st.connected_since.map(|(_, t)| unix(t)),
                failures: st.failures,
                last_error: st.last_error.clone(),
            })
            .collect();
        inboxes.sort_by(|a, b| a.inbox.cmp(&b.inbox));
        let last_send = s.last_send.map(unix);
        let stalls = s.stalls.clone();
        drop(s);
        let (depth, dead) = store.outbox_counts().unwrap_or((0, 0));
        let oldest = store.oldest_queued().ok().flatten();
        let now = crate::domain::now();
        let oldest_queued_age_s = oldest.map(|t| (now - t).max(0) as u64);
        let mut problems: Vec<String> = stalls
            .iter()
            .map(|st| {
                format!(
                    "{} has made no progress for {} s: stuck in the daemon's own work or the store",
                    st.worker,
                    st.silent_for.as_secs()
                )
            })
            .collect();
        for i in inboxes.iter().filter(|i| !i.connected) {
            problems.push(format!(
                "inbox {} is not connected{}",
                i.inbox,
                i.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        if oldest_queued_age_s.is_some_and(|a| a >= OUTBOX_STUCK_AFTER.as_secs()) {
            problems.push(format!(
                "the outbox's oldest mail has waited {} s",
                oldest_queued_age_s.unwrap_or_default()
            ));
        }
        Health {
            status: if problems.is_empty() {
                "ok"
            } else {
                "degraded"
            },
            problems,
            inboxes,
            outbox_depth: depth,
            dead_letters: dead,
            oldest_queued_age_s,
            last_send,
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `/healthz`'s answer.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// What makes it degraded, in words.
    pub problems: Vec<String>,
    /// Each inbox's IMAP session.
    pub inboxes: Vec<InboxHealth>,
    /// Mails waiting to be sent.
    pub outbox_depth: usize,
    /// Mails in the dead letters.
    pub dead_letters: usize,
    /// How long the oldest mail in the outbox has waited.
    pub oldest_queued_age_s: Option<u64>,
    /// Unix time of the last mail SMTP accepted.
    pub last_send: Option<i64>,
}

/// One inbox in `/healthz`.
#[derive(Debug, Serialize)]
pub struct InboxHealth {
    /// The inbox's name.
    pub inbox: String,
    /// Whether its IMAP session is up.
    pub connected: bool,
    /// Seconds since the session came up.
    pub session_age_s: Option<u64>,
    /// Unix time the session came up.
    pub connected_since: Option<i64>,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
}
